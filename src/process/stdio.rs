//! [`Stdio`]: what a child's descriptor is connected to, and its `uv_stdio_container_t`.

use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::error::Result;
use crate::ffi;
use crate::stream::{StreamKind, raw_stream};
use crate::{PipeStream, TcpStream, Tty};

#[cfg(doc)]
use super::Command;

/// What a child's descriptor is connected to: passed to [`Command::stdin`],
/// [`Command::stdout`], [`Command::stderr`] and [`Command::fd`].
///
/// * [`Stdio::inherit`]: the child shares this process's descriptor of the same number
///   (`UV_INHERIT_FD`). The default for [`Command::spawn`] and [`Command::status`].
/// * [`Stdio::null`]: `/dev/null` for descriptors 0-2, nothing (closed) above
///   (`UV_IGNORE`).
/// * [`Stdio::piped`]: a new [`PipeStream`] connected to the child (`UV_CREATE_PIPE`),
///   handed out as [`Child::stdin`](crate::process::Child::stdin) and so on.
/// * `From<OwnedFd>`, `From<File>`: the child gets a duplicate of that descriptor
///   (`UV_INHERIT_FD`); the `Command` keeps it open until dropped.
/// * `From<PipeStream>`, `From<TcpStream>`, `From<Tty>`: the child gets a duplicate of the
///   stream's descriptor (`UV_INHERIT_STREAM`); the `Command` keeps the stream open until
///   dropped.
///
/// # Examples
///
/// ```
/// use uvio::process::{Command, Stdio};
///
/// let file = tempfile::NamedTempFile::new()?;
/// let lp = uvio::Loop::new()?;
/// let status = lp.block_on(
///     Command::new("/bin/sh")
///         .args(["-c", "echo to the file"])
///         .stdin(Stdio::null())
///         .stdout(file.reopen()?)
///         .status(),
/// )??;
/// assert!(status.success());
/// assert_eq!(std::fs::read_to_string(file.path())?, "to the file\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Stdio(Kind);

enum Kind {
    Inherit,
    Null,
    Piped,
    Fd(OwnedFd),
    Stream(Box<dyn InheritStream>),
}

/// A uvio stream a child can inherit, erased over its type.
trait InheritStream: fmt::Debug {
    /// The stream, checked to be open and to have a descriptor (libuv would otherwise fail
    /// on a path that needs extra care afterwards, see `process::spawn`).
    fn checked(&self) -> Result<*mut ffi::uv_stream_t>;
}

impl<T: StreamKind + fmt::Debug> InheritStream for T {
    fn checked(&self) -> Result<*mut ffi::uv_stream_t> {
        let mut fd: ffi::uv_os_fd_t = -1;
        self.handle().call(|h| {
            // SAFETY: the handle is open; libuv writes its descriptor into `fd`.
            unsafe { ffi::uv_fileno(h.cast(), &mut fd) }
        })?;
        Ok(raw_stream(self.handle()))
    }
}

impl Stdio {
    /// The child shares this process's descriptor of the same number.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = uvio::process::Stdio::inherit();
    /// assert_eq!(format!("{s:?}"), "Stdio::inherit");
    /// ```
    pub fn inherit() -> Stdio {
        Stdio(Kind::Inherit)
    }

    /// `/dev/null` for descriptors 0-2 (reads see end of file, writes are discarded); no
    /// descriptor at all above 2.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = uvio::process::Stdio::null();
    /// assert_eq!(format!("{s:?}"), "Stdio::null");
    /// ```
    pub fn null() -> Stdio {
        Stdio(Kind::Null)
    }

    /// A new pipe between this process and the child: this end is a [`PipeStream`] found
    /// in the [`Child`](crate::process::Child) (writable for stdin, readable for stdout and
    /// stderr, both for descriptors above 2).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = uvio::process::Stdio::piped();
    /// assert_eq!(format!("{s:?}"), "Stdio::piped");
    /// ```
    pub fn piped() -> Stdio {
        Stdio(Kind::Piped)
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(Kind::Fd(fd))
    }
}

impl From<std::fs::File> for Stdio {
    fn from(f: std::fs::File) -> Stdio {
        Stdio(Kind::Fd(f.into()))
    }
}

macro_rules! stdio_from_stream {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Stdio {
            fn from(s: $ty) -> Stdio {
                Stdio(Kind::Stream(Box::new(s)))
            }
        }
    )*};
}
stdio_from_stream!(PipeStream, TcpStream, Tty);

impl fmt::Debug for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Inherit => f.write_str("Stdio::inherit"),
            Kind::Null => f.write_str("Stdio::null"),
            Kind::Piped => f.write_str("Stdio::piped"),
            Kind::Fd(fd) => write!(f, "Stdio::fd({})", fd.as_raw_fd()),
            Kind::Stream(s) => write!(f, "Stdio::stream({s:?})"),
        }
    }
}

/// One descriptor for `uv_spawn`: the container, and the pipe created for it if piped.
pub(super) fn container(
    lp: &crate::LoopHandle,
    fd: usize,
    cfg: &Stdio,
) -> Result<(ffi::uv_stdio_container_t, Option<PipeStream>)> {
    let with_fd = |flags, fd: i32| ffi::uv_stdio_container_t {
        flags,
        data: ffi::uv_stdio_container_s__bindgen_ty_1 { fd },
    };
    let with_stream = |flags, stream| ffi::uv_stdio_container_t {
        flags,
        data: ffi::uv_stdio_container_s__bindgen_ty_1 { stream },
    };
    Ok(match &cfg.0 {
        Kind::Inherit => (with_fd(ffi::UV_INHERIT_FD, fd as i32), None),
        Kind::Null => (with_fd(ffi::UV_IGNORE, -1), None),
        Kind::Fd(owned) => (with_fd(ffi::UV_INHERIT_FD, owned.as_raw_fd()), None),
        Kind::Stream(s) => (with_stream(ffi::UV_INHERIT_STREAM, s.checked()?), None),
        Kind::Piped => {
            // Directions are the child's: it reads its stdin, writes stdout and stderr.
            let dir = match fd {
                0 => ffi::UV_READABLE_PIPE,
                1 | 2 => ffi::UV_WRITABLE_PIPE,
                _ => ffi::UV_READABLE_PIPE | ffi::UV_WRITABLE_PIPE,
            };
            let pipe = PipeStream::init(lp, false)?;
            let raw = raw_stream(&pipe.h);
            (with_stream(ffi::UV_CREATE_PIPE | dir, raw), Some(pipe))
        }
    })
}
