//! [`PipeListener`]: bind, listen, accept (callback, future, stream).

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::Path;

use super::{
    PipeAddr, PipeName, PipeStream, pipe_addr, pipe_bind, pipe_chmod, pipe_init, pipe_open,
};
use crate::error::Result;
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{fd_methods, handle_methods};
use crate::stream;
use crate::stream::listen::{
    ListenerHandle, ListenerKind, ListenerState, accept_into, listen, listener_methods,
};
use crate::tcp::DEFAULT_BACKLOG;

/// A listening Unix domain socket: bound and listening from [`PipeListener::bind`] (a
/// path) or [`PipeListener::bind_abstract`] (a Linux abstract name), handing out
/// connections through a callback ([`on_connection`](Self::on_connection)), a future
/// ([`accept`](Self::accept)) or a stream of them ([`incoming`](Self::incoming)).
///
/// libuv removes the socket file when a listener it bound closes.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use uvio::{Loop, PipeListener, PipeStream};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("l.sock");
/// let lp = Loop::new()?;
/// let listener = PipeListener::bind(&lp, &path)?;
/// lp.block_on(async {
///     let _c1 = PipeStream::connect(&path).await?;
///     let _c2 = PipeStream::connect(&path).await?;
///     let mut incoming = listener.incoming();
///     for _ in 0..2 {
///         let s = incoming.next().await.unwrap()?;
///         assert_eq!(s.local_addr()?.as_pathname(), Some(path.as_path()));
///     }
///     Ok::<(), uvio::Error>(())
/// })??;
/// drop(listener);
/// lp.run(uvio::RunMode::Default)?;
/// assert!(!path.exists()); // removed on close
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PipeListener {
    pub(super) h: ListenerHandle<PipeListener>,
}

handle_methods!(PipeListener, h);
fd_methods!(PipeListener, h);
listener_methods!(PipeListener, PipeStream);

impl ListenerKind for PipeListener {
    type Raw = ffi::uv_pipe_t;
    type Stream = PipeStream;
    fn from_handle(h: ListenerHandle<Self>) -> Self {
        PipeListener { h }
    }
    fn handle(&self) -> &ListenerHandle<Self> {
        &self.h
    }
    fn accept_now(&self) -> Result<PipeStream> {
        let s = PipeStream::init(&self.loop_handle(), false)?;
        accept_into(&self.h, stream::raw_stream(&s.h))?;
        Ok(s)
    }
}

impl PipeListener {
    fn init(lp: &LoopHandle) -> Result<PipeListener> {
        Ok(PipeListener {
            h: pipe_init(lp, ListenerState::new(), false)?,
        })
    }

    fn bind_name(lp: &LoopHandle, name: Result<PipeName>, backlog: u32) -> Result<PipeListener> {
        let name = name?;
        let l = PipeListener::init(lp)?;
        // Listen at once, so every error shows here.
        pipe_bind(&l.h, &name)
            .and_then(|()| listen(&l.h, backlog))
            .map_err(|e| e.with_context("bind", name.show()))?;
        Ok(l)
    }

    /// Binds a Unix domain socket to `path` and listens with backlog [`DEFAULT_BACKLOG`].
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` when `path` exists (a live socket or a stale file), `EACCES` when the
    /// directory is missing or not writable, `EINVAL` for an empty path or one with a NUL
    /// byte, `ENAMETOOLONG` for a path of 108 bytes or more (checked here: libuv itself
    /// would silently truncate it), `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("uvio-doc-{}-pipe-bind.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let l = uvio::PipeListener::bind(&lp, &path)?;
    /// assert!(path.exists());
    /// // The path is taken now.
    /// assert_eq!(uvio::PipeListener::bind(&lp, &path).unwrap_err().name(), "EADDRINUSE");
    /// # drop(l);
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn bind(lp: &LoopHandle, path: impl AsRef<Path>) -> Result<PipeListener> {
        PipeListener::bind_with_backlog(lp, path, DEFAULT_BACKLOG)
    }

    /// [`bind`](Self::bind) with a given backlog.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("uvio-doc-{}-pipe-backlog.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let l = uvio::PipeListener::bind_with_backlog(&lp, &path, 8)?;
    /// assert_eq!(l.local_addr()?.as_pathname(), Some(path.as_path()));
    /// # drop(l);
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn bind_with_backlog(
        lp: &LoopHandle,
        path: impl AsRef<Path>,
        backlog: u32,
    ) -> Result<PipeListener> {
        PipeListener::bind_name(lp, PipeName::path(path.as_ref()), backlog)
    }

    /// Binds to `name` in Linux's abstract socket namespace (no file; the name goes away
    /// with the socket) and listens (`uv_pipe_bind2`, libuv 1.46+). `name` is without the
    /// leading NUL byte and may hold any bytes.
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` when the name is taken, `ENAMETOOLONG` for 108 bytes or more,
    /// [`Error::UNSUPPORTED`](crate::Error::UNSUPPORTED) with an older libuv; on other
    /// systems than Linux, what `bind` reports.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let name = format!("uvio-doc-{}", std::process::id());
    /// let l = match uvio::PipeListener::bind_abstract(&lp, name.as_bytes()) {
    ///     // uv_pipe_bind2 is libuv 1.46's: absent from an older system or host libuv.
    ///     Err(e) if e.is_unsupported() => return Ok(()),
    ///     r => r?,
    /// };
    /// assert_eq!(l.local_addr()?.as_abstract_name(), Some(name.as_bytes()));
    /// let c = lp.block_on(uvio::PipeStream::connect_abstract(name.as_bytes()))??;
    /// assert_eq!(c.peer_addr()?, l.local_addr()?);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn bind_abstract(lp: &LoopHandle, name: &[u8]) -> Result<PipeListener> {
        PipeListener::bind_name(lp, PipeName::abstract_name(name), DEFAULT_BACKLOG)
    }

    /// Takes over a bound `std::os::unix::net::UnixListener` and listens on it. libuv does
    /// not remove its socket file on close (it did not bind it).
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed; `uv_pipe_open`/`uv_listen` errors.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("uvio-doc-{}-pipe-from-std.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let std_l = std::os::unix::net::UnixListener::bind(&path)?;
    /// let l = uvio::PipeListener::from_std(&lp, std_l)?;
    /// assert_eq!(l.local_addr()?.as_pathname(), Some(path.as_path()));
    /// # drop(l);
    /// std::fs::remove_file(&path)?; // libuv did not bind it: it leaves the file
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn from_std(lp: &LoopHandle, l: std::os::unix::net::UnixListener) -> Result<PipeListener> {
        PipeListener::open(lp, OwnedFd::from(l))
    }

    /// Takes over a bound (or listening) Unix socket descriptor (`uv_pipe_open`) and
    /// listens on it; libuv closes it with the listener.
    ///
    /// # Errors
    ///
    /// As [`from_std`](Self::from_std); `EINVAL` when it is not a bound socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let name = format!("uvio-doc-{}-pipe-open.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let fd = OwnedFd::from(std::os::unix::net::UnixListener::bind(&path)?);
    /// let l = uvio::PipeListener::open(&lp, fd)?;
    /// assert_eq!(l.local_addr()?, uvio::PipeAddr::Path(path.clone()));
    /// # drop(l);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn open(lp: &LoopHandle, fd: OwnedFd) -> Result<PipeListener> {
        let l = PipeListener::init(lp)?;
        pipe_open(&l.h, fd)?;
        listen(&l.h, DEFAULT_BACKLOG).map_err(|e| e.with_operation("listen"))?;
        Ok(l)
    }

    /// The bound name (`uv_pipe_getsockname`): exactly the path (or abstract name) bound.
    ///
    /// # Errors
    ///
    /// `EBADF` when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("uvio-doc-{}-pipe-listener-addr.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let l = uvio::PipeListener::bind(&lp, &path)?;
    /// assert_eq!(l.local_addr()?.as_pathname(), Some(path.as_path()));
    /// # drop(l);
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn local_addr(&self) -> Result<PipeAddr> {
        pipe_addr(&self.h, false, super::NAME_BUF)
    }

    /// Makes the socket file readable and/or writable by every user (`uv_pipe_chmod`), so
    /// processes of other users can connect. libuv 1.53 sets the mode to exactly those
    /// bits for owner, group and others (`r--r--r--`, `-w--w--w-` or `rw-rw-rw-`); older
    /// versions add them to the current mode.
    ///
    /// # Errors
    ///
    /// `EINVAL` when both are false, `EBADF` when closed, `EPERM` when not the file's
    /// owner; an error (`ENOENT` with libuv 1.53) for an abstract name, which has no file.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("shared.sock");
    /// let lp = uvio::Loop::new()?;
    /// let l = uvio::PipeListener::bind(&lp, &path)?;
    /// l.chmod(true, true)?;
    /// let mode = std::fs::metadata(&path)?.permissions().mode();
    /// assert_eq!(mode & 0o666, 0o666);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn chmod(&self, readable: bool, writable: bool) -> Result<()> {
        pipe_chmod(&self.h, readable, writable)
    }

    /// `uv_pipe_pending_instances` (Windows only; a no-op elsewhere).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("uvio-doc-{}-pipe-instances.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let l = uvio::PipeListener::bind(&lp, &path)?;
    /// l.set_pending_instances(4); // a no-op outside Windows
    /// assert!(l.local_addr().is_ok());
    /// # drop(l);
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_pending_instances(&self, count: u32) {
        let n = i32::try_from(count).unwrap_or(i32::MAX);
        let _ = self.h.with_raw(|p| {
            // SAFETY: the handle is open.
            unsafe { ffi::uv_pipe_pending_instances(p, n) }
        });
    }
}

impl fmt::Debug for PipeListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PipeListener");
        match self.local_addr() {
            Ok(a) => d.field("local", &a),
            Err(_) => d.field("closed", &self.is_closing()),
        };
        d.finish()
    }
}
