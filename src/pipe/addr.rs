//! Pipe names: checking and encoding them for libuv, and reading them back
//! (`uv_pipe_getsockname`/`uv_pipe_getpeername`) as a [`PipeAddr`].

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ffi;
use crate::handle::HandleRef;

/// The size of `sockaddr_un.sun_path` (108 on Linux).
fn sun_path_len() -> usize {
    // SAFETY: sockaddr_un is plain C data; all-zero is a valid value.
    let sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_path.len()
}

/// A pipe name checked and encoded for libuv.
pub(super) struct PipeName {
    /// A path with a terminating NUL, or a NUL followed by an abstract name (no terminator).
    pub(super) bytes: Vec<u8>,
    pub(super) is_abstract: bool,
}

impl PipeName {
    /// A filesystem path: not empty, no NUL byte, and shorter than `sun_path` so it keeps
    /// its terminating NUL (libuv would silently truncate a longer one).
    pub(super) fn path(path: &Path) -> Result<PipeName> {
        let b = path.as_os_str().as_bytes();
        let bad = |e: Error| Err(e.with_context("pipe name", path.display()));
        if b.is_empty() || b.contains(&0) {
            return bad(Error::EINVAL);
        }
        if b.len() >= sun_path_len() {
            return bad(Error::ENAMETOOLONG);
        }
        let mut bytes = Vec::with_capacity(b.len() + 1);
        bytes.extend_from_slice(b);
        bytes.push(0);
        Ok(PipeName {
            bytes,
            is_abstract: false,
        })
    }

    /// A Linux abstract-namespace name (any bytes, NULs included), at most
    /// `sun_path - 1` bytes long.
    pub(super) fn abstract_name(name: &[u8]) -> Result<PipeName> {
        if name.len() >= sun_path_len() {
            return Err(Error::ENAMETOOLONG.with_context("pipe name", show_abstract(name)));
        }
        let mut bytes = Vec::with_capacity(name.len() + 1);
        bytes.push(0);
        bytes.extend_from_slice(name);
        Ok(PipeName {
            bytes,
            is_abstract: true,
        })
    }

    pub(super) fn show(&self) -> String {
        if self.is_abstract {
            show_abstract(&self.bytes[1..])
        } else {
            let p = &self.bytes[..self.bytes.len() - 1];
            Path::new(std::ffi::OsStr::from_bytes(p))
                .display()
                .to_string()
        }
    }
}

/// An abstract name as Linux tools show it: `@name`, other bytes escaped.
fn show_abstract(name: &[u8]) -> String {
    format!("@{}", name.escape_ascii())
}

/// The address of a pipe's end: what [`PipeStream::local_addr`](crate::PipeStream::local_addr),
/// [`PipeStream::peer_addr`](crate::PipeStream::peer_addr)
/// and [`PipeListener::local_addr`](crate::PipeListener::local_addr) return.
///
/// # Examples
///
/// ```
/// use uvio::{Loop, PipeAddr, PipeListener};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("sock");
/// let lp = Loop::new()?;
/// let l = PipeListener::bind(&lp, &path)?;
/// assert_eq!(l.local_addr()?, PipeAddr::Path(path.clone()));
/// assert_eq!(l.local_addr()?.as_pathname(), Some(path.as_path()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PipeAddr {
    /// A socket bound to a filesystem path.
    Path(PathBuf),
    /// A socket in Linux's abstract namespace: the name, without the leading NUL byte.
    Abstract(Vec<u8>),
    /// A socket with no name (one end of a socketpair, the client end of a connection).
    Unnamed,
}

impl PipeAddr {
    /// The path, for [`PipeAddr::Path`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// let a = uvio::PipeAddr::Path("/run/app.sock".into());
    /// assert_eq!(a.as_pathname(), Some(Path::new("/run/app.sock")));
    /// assert_eq!(uvio::PipeAddr::Unnamed.as_pathname(), None);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn as_pathname(&self) -> Option<&Path> {
        match self {
            PipeAddr::Path(p) => Some(p),
            _ => None,
        }
    }

    /// The abstract name (without the leading NUL), for [`PipeAddr::Abstract`].
    ///
    /// # Examples
    ///
    /// ```
    /// let a = uvio::PipeAddr::Abstract(b"my-service".to_vec());
    /// assert_eq!(a.as_abstract_name(), Some(&b"my-service"[..]));
    /// assert_eq!(a.as_pathname(), None);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        match self {
            PipeAddr::Abstract(n) => Some(n),
            _ => None,
        }
    }

    /// The address in the bytes libuv wrote: empty for no name, a leading NUL for an
    /// abstract name, otherwise a path (cut at a NUL, in case a terminator was counted).
    fn from_bytes(mut b: Vec<u8>) -> PipeAddr {
        match b.first() {
            None => PipeAddr::Unnamed,
            Some(0) => PipeAddr::Abstract(b.split_off(1)),
            Some(_) => {
                if let Some(nul) = b.iter().position(|&c| c == 0) {
                    b.truncate(nul);
                }
                PipeAddr::Path(PathBuf::from(OsString::from_vec(b)))
            }
        }
    }
}

/// The initial buffer for a pipe name: room for any `sun_path` and its NUL on Linux.
pub(super) const NAME_BUF: usize = 128;

/// `uv_pipe_getsockname`/`uv_pipe_getpeername`: starts with `initial` bytes and retries
/// with the size libuv asks for when it reports `ENOBUFS`.
pub(super) fn pipe_addr<S>(
    h: &HandleRef<ffi::uv_pipe_t, S>,
    peer: bool,
    initial: usize,
) -> Result<PipeAddr> {
    let op = if peer { "peer_addr" } else { "local_addr" };
    let mut buf = vec![0u8; initial.max(1)];
    for _ in 0..4 {
        let mut size = buf.len();
        let r = h.call(|p| {
            let out = buf.as_mut_ptr().cast::<ffi::c_char>();
            // SAFETY: the handle is open; `out` has `size` writable bytes and libuv
            // writes at most that many (it reports ENOBUFS otherwise).
            unsafe {
                if peer {
                    ffi::uv_pipe_getpeername(p, out, &mut size)
                } else {
                    ffi::uv_pipe_getsockname(p, out, &mut size)
                }
            }
        });
        match r {
            Ok(_) => {
                buf.truncate(size.min(buf.len()));
                return Ok(PipeAddr::from_bytes(buf));
            }
            Err(e) if e.code() == Error::ENOBUFS.code() && size > buf.len() => {
                buf.resize(size, 0);
            }
            Err(e) => return Err(e.with_operation(op)),
        }
    }
    Err(Error::ENOBUFS.with_operation(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_from_bytes() {
        // With or without a counted terminator, the path is the same.
        assert_eq!(
            PipeAddr::from_bytes(b"/tmp/s\0".to_vec()),
            PipeAddr::Path("/tmp/s".into())
        );
        assert_eq!(
            PipeAddr::from_bytes(b"/tmp/s".to_vec()),
            PipeAddr::Path("/tmp/s".into())
        );
        // An abstract name keeps every byte after the leading NUL, NULs included.
        assert_eq!(
            PipeAddr::from_bytes(b"\0a\0b\0".to_vec()),
            PipeAddr::Abstract(b"a\0b\0".to_vec())
        );
        assert_eq!(PipeAddr::from_bytes(Vec::new()), PipeAddr::Unnamed);
    }

    #[test]
    fn name_checks() {
        assert_eq!(
            PipeName::path(Path::new(&"a".repeat(107)))
                .unwrap()
                .bytes
                .len(),
            108
        );
        assert_eq!(
            PipeName::path(Path::new(&"a".repeat(108)))
                .err()
                .unwrap()
                .name(),
            "ENAMETOOLONG"
        );
        assert_eq!(PipeName::abstract_name(&[1; 107]).unwrap().bytes.len(), 108);
        assert!(PipeName::abstract_name(&[1; 108]).is_err());
        assert_eq!(PipeName::abstract_name(b"x\n").unwrap().show(), "@x\\n");
    }
}
