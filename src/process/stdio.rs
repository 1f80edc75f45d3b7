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
/// * [`Stdio::piped`]: a new [`PipeStream`] connected to the child (`UV_CREATE_PIPE` for
///   0-2; for higher numbers uvio makes the socket pair itself, working around a libuv
///   bug that aborted the process), handed out as
///   [`Child::stdin`](crate::process::Child::stdin) and so on.
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

/// One descriptor for `uv_spawn`: the container, the pipe created for it if piped, and
/// the child's end of that pipe when uvio made it (for descriptors above 2, see
/// [`own_pipe`]): the caller closes it once `uv_spawn` has returned.
pub(super) struct Slot {
    pub(super) container: ffi::uv_stdio_container_t,
    pub(super) pipe: Option<PipeStream>,
    pub(super) child_end: Option<OwnedFd>,
}

/// One descriptor for `uv_spawn`.
pub(super) fn container(lp: &crate::LoopHandle, fd: usize, cfg: &Stdio) -> Result<Slot> {
    let with_fd = |flags, fd: i32| ffi::uv_stdio_container_t {
        flags,
        data: ffi::uv_stdio_container_s__bindgen_ty_1 { fd },
    };
    let with_stream = |flags, stream| ffi::uv_stdio_container_t {
        flags,
        data: ffi::uv_stdio_container_s__bindgen_ty_1 { stream },
    };
    let plain = |container| Slot {
        container,
        pipe: None,
        child_end: None,
    };
    Ok(match &cfg.0 {
        Kind::Inherit => plain(with_fd(ffi::UV_INHERIT_FD, fd as i32)),
        Kind::Null => plain(with_fd(ffi::UV_IGNORE, -1)),
        Kind::Fd(owned) => plain(with_fd(ffi::UV_INHERIT_FD, owned.as_raw_fd())),
        Kind::Stream(s) => plain(with_stream(ffi::UV_INHERIT_STREAM, s.checked()?)),
        Kind::Piped if fd > 2 => {
            let (pipe, child_end) = own_pipe(lp, fd)?;
            Slot {
                container: with_fd(ffi::UV_INHERIT_FD, child_end.as_raw_fd()),
                pipe: Some(pipe),
                child_end: Some(child_end),
            }
        }
        Kind::Piped => {
            // Directions are the child's: it reads its stdin, writes stdout and stderr.
            let dir = match fd {
                0 => ffi::UV_READABLE_PIPE,
                _ => ffi::UV_WRITABLE_PIPE,
            };
            let pipe = PipeStream::init(lp, false)?;
            let raw = raw_stream(&pipe.h);
            Slot {
                container: with_stream(ffi::UV_CREATE_PIPE | dir, raw),
                pipe: Some(pipe),
                child_end: None,
            }
        }
    })
}

/// A pipe for the child's descriptor `fd` (above 2), made here instead of by libuv
/// (`UV_CREATE_PIPE`), because of a bug in libuv 1.x's `posix_spawn` path
/// (`uv__spawn_set_posix_spawn_file_actions`): when the child's end of a created pipe has
/// a lower number than `fd`, libuv first moves it, *in the child's file actions*, to a
/// higher number, and writes that number into its `pipes` table, which the parent then
/// uses: `uv__process_open_stream` closes `pipes[fd][1]`, a descriptor that exists only in
/// the child. That `close` fails with `EBADF` and libuv calls `abort()`; or, if this
/// process happens to have that number open, it closes an unrelated descriptor of ours
/// (and leaks the pipe's real end). So `fd(14, Stdio::piped())` killed a process whose new
/// socket pair came out below 14.
///
/// Here the child's end is renumbered to at least `fd` before `uv_spawn` and passed as an
/// inherited descriptor (`UV_INHERIT_FD`), which libuv never closes in the parent: its
/// renumbering step is skipped (it only applies to descriptors below their target), and
/// `dup2` (or clearing close-on-exec when the numbers are equal) puts it in place in the
/// child. Our end is an ordinary pipe opened on the loop. The buffer sizes are libuv's
/// (64 KiB), so both paths behave alike.
fn own_pipe(lp: &crate::LoopHandle, fd: usize) -> Result<(PipeStream, OwnedFd)> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    for s in [ours.as_raw_fd(), theirs.as_raw_fd()] {
        for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
            let size: libc::c_int = 64 * 1024;
            // SAFETY: `s` is an open socket; `size` is a c_int of the length given. A
            // failure leaves the kernel's default size, as in libuv.
            unsafe {
                libc::setsockopt(
                    s,
                    libc::SOL_SOCKET,
                    opt,
                    (&raw const size).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
    }
    let theirs = OwnedFd::from(theirs);
    let theirs = if (theirs.as_raw_fd() as usize) < fd {
        let min = libc::c_int::try_from(fd).map_err(|_| crate::Error::EINVAL)?;
        // SAFETY: F_DUPFD_CLOEXEC on an open descriptor returns a new one (or -1) that
        // nothing else owns.
        let n = unsafe { libc::fcntl(theirs.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
        if n < 0 {
            return Err(crate::Error::from(std::io::Error::last_os_error())
                .with_context("spawn: pipe for descriptor", fd));
        }
        // SAFETY: `n` was just created by fcntl and is owned by nobody else.
        unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(n) }
    } else {
        theirs
    };
    let pipe = PipeStream::open(lp, OwnedFd::from(ours))?;
    Ok((pipe, theirs))
}
