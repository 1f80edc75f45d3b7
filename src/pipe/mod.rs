//! Pipes (`uv_pipe_t`): Unix domain sockets, pipes and FIFOs as streams. [`PipeListener`]
//! accepts connections on a path (or a Linux abstract name), [`PipeStream`] is a
//! connection; in IPC mode a pipe also carries TCP and pipe handles to its peer.

mod addr;
mod ipc;
mod listener;

pub use addr::PipeAddr;
pub use ipc::PendingHandle;
pub use listener::PipeListener;

use addr::{NAME_BUF, PipeName, pipe_addr};

use std::fmt;
use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, fd_methods, handle_methods};
use crate::stream::oneshot::{Connecting, ReqFuture, on_done};
use crate::stream::{
    self, Handle, RawCb, StreamKind, StreamOwner, StreamState, stream_methods, wrap_cb,
};

/// `uv_pipe_init` of a new handle box.
fn pipe_init<S>(lp: &LoopHandle, state: S, ipc: bool) -> Result<HandleRef<ffi::uv_pipe_t, S>> {
    // SAFETY: uv_pipe_init initialises a uv_pipe_t on the loop.
    unsafe { HandleRef::new(lp, state, |l, p| ffi::uv_pipe_init(l, p, ipc as i32)) }
}

/// `uv_pipe_open` of `fd` on a fresh handle; on success libuv owns `fd`.
fn pipe_open<S>(h: &HandleRef<ffi::uv_pipe_t, S>, fd: OwnedFd) -> Result<()> {
    let raw = fd.as_raw_fd();
    h.call(|p| {
        // SAFETY: the handle is open; `raw` is a descriptor we own.
        unsafe { ffi::uv_pipe_open(p, raw) }
    })
    .map_err(|e| e.with_operation("open"))?;
    // libuv owns (and will close) it now.
    let _ = fd.into_raw_fd();
    Ok(())
}

/// `uv_pipe_bind` (a path) or `uv_pipe_bind2` (an abstract name, libuv 1.46+).
fn pipe_bind<S>(h: &HandleRef<ffi::uv_pipe_t, S>, name: &PipeName) -> Result<()> {
    let ptr = name.bytes.as_ptr().cast::<ffi::c_char>();
    let r = if name.is_abstract {
        h.with_raw(|p| {
            // SAFETY: the handle is open; `ptr` has `len` bytes (NUL + name), which libuv
            // copies during the call.
            unsafe { ffi::late::uv_pipe_bind2(p, ptr, name.bytes.len(), 0) }
        })?
        .ok_or_else(|| Error::unsupported("uv_pipe_bind2"))?
    } else {
        // SAFETY: the handle is open; `ptr` is a NUL-terminated path, copied by libuv.
        h.with_raw(|p| unsafe { ffi::uv_pipe_bind(p, ptr) })?
    };
    check(r).map(drop)
}

// ----- PipeStream -----

/// A pipe connection: a Unix domain socket (from [`connect`](Self::connect),
/// [`PipeListener::accept`], [`pair`](Self::pair)), one end of an OS pipe
/// ([`pipe`](Self::pipe)) or any stream descriptor ([`open`](Self::open)). It has the same
/// stream API as [`TcpStream`](crate::TcpStream): callbacks, futures, `AsyncRead`/`AsyncWrite`.
///
/// An IPC pipe ([`pair_ipc`](Self::pair_ipc), [`open_ipc`](Self::open_ipc)) also passes
/// handles: [`write2`](Self::write2) sends a TCP or pipe stream with some bytes, and the
/// receiver takes it with [`accept_pending`](Self::accept_pending) after reading them.
///
/// # Examples
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use uvio::{Loop, PipeListener, PipeStream};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("echo.sock");
/// let lp = Loop::new()?;
/// let listener = PipeListener::bind(&lp, &path)?;
/// let got = lp.block_on(async move {
///     let server = uvio::spawn_local(async move {
///         let s = listener.accept().await?;
///         let (rd, mut wr) = s.split();
///         futures::io::copy(rd, &mut wr).await?; // echo until the client shuts down
///         wr.close().await
///     });
///     let mut c = PipeStream::connect(&path).await?;
///     c.write_all(b"hello").await?;
///     AsyncWriteExt::close(&mut c).await?; // shut down the write side
///     let mut back = Vec::new();
///     c.read_to_end(&mut back).await?;
///     server.await.unwrap()?;
///     Ok::<_, std::io::Error>(back)
/// })??;
/// assert_eq!(got, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PipeStream {
    pub(crate) h: StreamOwner<PipeStream>,
}

impl StreamKind for PipeStream {
    type Raw = ffi::uv_pipe_t;
    fn from_handle(h: Handle<Self>) -> Self {
        PipeStream {
            h: StreamOwner::new(h),
        }
    }
    fn handle(&self) -> &Handle<Self> {
        &self.h
    }
}

handle_methods!(PipeStream, h);
fd_methods!(PipeStream, h);
stream_methods!(PipeStream);

impl PipeStream {
    /// A pipe handle with no descriptor yet (`uv_pipe_init`).
    pub(crate) fn init(lp: &LoopHandle, ipc: bool) -> Result<PipeStream> {
        Ok(PipeStream {
            h: StreamOwner::new(pipe_init(lp, StreamState::new(), ipc)?),
        })
    }

    fn start_connect(
        &self,
        name: &PipeName,
        cb: Option<RawCb>,
    ) -> Result<Option<ReqFuture<ffi::uv_connect_t>>> {
        self.h.state()?;
        let pipe = self.h.raw();
        let ptr = name.bytes.as_ptr().cast::<ffi::c_char>();
        let len = name.bytes.len();
        let is_abstract = name.is_abstract;
        let mut missing = false;
        // SAFETY: the handle is open; the name is copied by libuv during the call; on_done
        // matches uv_connect_t; `cb` comes from wrap_cb::<PipeStream>.
        let r = unsafe {
            stream::oneshot::start::<ffi::uv_connect_t>(&self.loop_handle(), "connect", cb, |r| {
                let cb: ffi::uv_connect_cb = Some(on_done::<ffi::uv_connect_t>);
                if is_abstract {
                    ffi::late::uv_pipe_connect2(r, pipe, ptr, len, 0, cb).unwrap_or_else(|| {
                        missing = true;
                        Error::ENOSYS.code()
                    })
                } else {
                    // Errors (ENOENT, ECONNREFUSED) come through the callback.
                    ffi::uv_pipe_connect(r, pipe, ptr, cb);
                    0
                }
            })
        };
        if missing {
            return Err(Error::unsupported("uv_pipe_connect2"));
        }
        r.map_err(|e| e.with_context("connect", name.show()))
    }

    fn connect_cb_name(
        lp: &LoopHandle,
        name: Result<PipeName>,
        callback: impl FnOnce(&PipeStream, Result<()>) + 'static,
    ) -> Result<PipeStream> {
        let name = name?;
        let s = PipeStream::init(lp, false)?;
        let shown = name.show();
        let cb = wrap_cb(move |s: &PipeStream, r: Result<()>| {
            callback(s, r.map_err(|e| e.with_context("connect", &shown)))
        });
        s.start_connect(&name, Some(cb))?;
        Ok(s)
    }

    /// Connects to the Unix domain socket at `path` and calls `callback` with the result.
    /// The stream is returned at once (writes made before the connection is up are
    /// queued); on failure the callback gets the error (`ENOENT` for a missing path,
    /// `ECONNREFUSED` when nothing listens there) and the stream stays a valid, closable
    /// value.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an empty path or one with a NUL byte, `ENAMETOOLONG` for a path of
    /// 108 bytes or more (libuv itself would silently truncate it), `EBADF` when the loop
    /// is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::{Loop, PipeStream, RunMode};
    ///
    /// let lp = Loop::new()?;
    /// // Kept (not dropped, which would cancel the connect) until the loop has run.
    /// let _s = PipeStream::connect_cb(&lp, "/nonexistent/sock", |s, r| {
    ///     assert_eq!(r.unwrap_err().name(), "ENOENT");
    ///     s.close().unwrap();
    /// })?;
    /// lp.run(RunMode::Default)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn connect_cb(
        lp: &LoopHandle,
        path: impl AsRef<Path>,
        callback: impl FnOnce(&PipeStream, Result<()>) + 'static,
    ) -> Result<PipeStream> {
        PipeStream::connect_cb_name(lp, PipeName::path(path.as_ref()), callback)
    }

    /// [`connect_cb`](Self::connect_cb) to a name in Linux's abstract namespace
    /// (`uv_pipe_connect2`, libuv 1.46+); `name` is without the leading NUL byte.
    ///
    /// # Errors
    ///
    /// `ENAMETOOLONG` for a name of 108 bytes or more, [`Error::UNSUPPORTED`] with an
    /// older libuv, `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = uvio::Loop::new()?;
    /// let name = format!("uvio-doc-{}-connect-abstract-cb", std::process::id());
    /// let l = match uvio::PipeListener::bind_abstract(&lp, name.as_bytes()) {
    ///     Err(e) if e.is_unsupported() => return Ok(()), // libuv before 1.46
    ///     r => r?,
    /// };
    /// let ok = Rc::new(Cell::new(false));
    /// let o = ok.clone();
    /// let _c = uvio::PipeStream::connect_abstract_cb(&lp, name.as_bytes(), move |s, r| {
    ///     o.set(r.is_ok());
    ///     s.close().unwrap();
    /// })?;
    /// l.on_connection(|l, _| l.close().unwrap())?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(ok.get());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn connect_abstract_cb(
        lp: &LoopHandle,
        name: &[u8],
        callback: impl FnOnce(&PipeStream, Result<()>) + 'static,
    ) -> Result<PipeStream> {
        PipeStream::connect_cb_name(lp, PipeName::abstract_name(name), callback)
    }

    /// Connects to the Unix domain socket at `path` on the loop running on this thread;
    /// resolves to the connected stream. Dropping the future before it resolves closes
    /// the half-open stream.
    ///
    /// # Errors
    ///
    /// As [`connect_cb`](Self::connect_cb), through the future.
    ///
    /// # Panics
    ///
    /// When first polled outside a uvio loop (use [`PipeStream::connect_on`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("uvio-doc-{}-pipe-connect.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let l = uvio::PipeListener::bind(&lp, &path)?;
    /// let p = path.clone();
    /// let s = lp.block_on(async move { uvio::PipeStream::connect(p).await })??;
    /// assert_eq!(s.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// # drop((s, l));
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn connect(path: impl AsRef<Path>) -> PipeConnect {
        PipeConnect {
            name: PipeName::path(path.as_ref()),
            conn: Connecting::new(None),
        }
    }

    /// [`PipeStream::connect`] on a given loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("uvio-doc-{}-pipe-connect-on.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let l = uvio::PipeListener::bind(&lp, &path)?;
    /// let s = lp.block_on(uvio::PipeStream::connect_on(&lp, &path))??;
    /// assert_eq!(s.peer_addr()?, l.local_addr()?);
    /// # drop((s, l));
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn connect_on(lp: &LoopHandle, path: impl AsRef<Path>) -> PipeConnect {
        PipeConnect {
            name: PipeName::path(path.as_ref()),
            conn: Connecting::new(Some(lp.clone())),
        }
    }

    /// [`PipeStream::connect`] to a name in Linux's abstract namespace (without the
    /// leading NUL byte; libuv 1.46+).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let name = format!("uvio-doc-{}-connect-abstract", std::process::id());
    /// let l = match uvio::PipeListener::bind_abstract(&lp, name.as_bytes()) {
    ///     Err(e) if e.is_unsupported() => return Ok(()), // libuv before 1.46
    ///     r => r?,
    /// };
    /// let s = lp.block_on(uvio::PipeStream::connect_abstract(name.as_bytes()))??;
    /// assert_eq!(s.peer_addr()?.as_abstract_name(), Some(name.as_bytes()));
    /// # drop(l);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn connect_abstract(name: &[u8]) -> PipeConnect {
        PipeConnect {
            name: PipeName::abstract_name(name),
            conn: Connecting::new(None),
        }
    }

    /// Takes over a stream descriptor (`uv_pipe_open`): a Unix socket, a pipe end or a
    /// FIFO. libuv closes it with the stream. The descriptor is put in non-blocking mode.
    ///
    /// # Errors
    ///
    /// `EEXIST` when the loop already watches that descriptor, `EBADF` when the loop is
    /// closed (the descriptor is closed then).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let lp = uvio::Loop::new()?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let s = uvio::PipeStream::open(&lp, OwnedFd::from(a))?;
    /// assert!(!s.is_ipc());
    /// assert_eq!(s.try_write(b"hi")?, 2);
    /// # drop(b);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn open(lp: &LoopHandle, fd: OwnedFd) -> Result<PipeStream> {
        let s = PipeStream::init(lp, false)?;
        pipe_open(&s.h, fd)?;
        Ok(s)
    }

    /// [`open`](Self::open) in IPC mode: the descriptor must be a Unix socket; the pipe can
    /// then send and receive handles ([`write2`](Self::write2),
    /// [`accept_pending`](Self::accept_pending)).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let s = uvio::PipeStream::open_ipc(&lp, OwnedFd::from(a))?;
    /// assert!(s.is_ipc());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn open_ipc(lp: &LoopHandle, fd: OwnedFd) -> Result<PipeStream> {
        let s = PipeStream::init(lp, true)?;
        pipe_open(&s.h, fd)?;
        Ok(s)
    }

    /// Takes over a connected `std::os::unix::net::UnixStream`.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// let lp = uvio::Loop::new()?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// let s = uvio::PipeStream::from_std(&lp, a)?;
    /// lp.block_on(s.write("from uvio"))??;
    /// let mut buf = [0u8; 9];
    /// b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"from uvio");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn from_std(lp: &LoopHandle, s: std::os::unix::net::UnixStream) -> Result<PipeStream> {
        PipeStream::open(lp, OwnedFd::from(s))
    }

    fn socketpair(lp: &LoopHandle, ipc: bool) -> Result<(PipeStream, PipeStream)> {
        let mut fds: [ffi::uv_os_sock_t; 2] = [-1, -1];
        // SAFETY: `fds` has room for two descriptors.
        check(unsafe { ffi::uv_socketpair(libc::SOCK_STREAM, 0, fds.as_mut_ptr(), 0, 0) })
            .map_err(|e| e.with_operation("socketpair"))?;
        // SAFETY: uv_socketpair succeeded: both are fresh descriptors that we own.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let open = if ipc {
            PipeStream::open_ipc
        } else {
            PipeStream::open
        };
        Ok((open(lp, a)?, open(lp, b)?))
    }

    /// A connected pair of Unix sockets (`uv_socketpair`), both directions.
    ///
    /// # Errors
    ///
    /// `EMFILE` when out of descriptors; `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncReadExt;
    /// let lp = uvio::Loop::new()?;
    /// let (a, mut b) = uvio::PipeStream::pair(&lp)?;
    /// let mut buf = [0u8; 4];
    /// lp.block_on(async {
    ///     a.write("pong").await?;
    ///     b.read_exact(&mut buf).await?;
    ///     Ok::<_, uvio::Error>(())
    /// })??;
    /// assert_eq!(&buf, b"pong");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn pair(lp: &LoopHandle) -> Result<(PipeStream, PipeStream)> {
        PipeStream::socketpair(lp, false)
    }

    /// A connected pair of Unix sockets in IPC mode: each end can send handles to the
    /// other with [`write2`](Self::write2).
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::{Loop, PendingHandle, PipeStream};
    ///
    /// let lp = Loop::new()?;
    /// let (a, b) = PipeStream::pair_ipc(&lp)?;
    /// let (x, y) = PipeStream::pair(&lp)?;
    /// lp.block_on(async {
    ///     a.write2(b"take this", x).await?; // `x` moves to the other end
    ///     let mut buf = [0u8; 9];
    ///     futures::AsyncReadExt::read_exact(&mut &b, &mut buf).await?;
    ///     assert_eq!(b.pending_count(), 1);
    ///     let PendingHandle::Pipe(x2) = b.accept_pending()? else { panic!() };
    ///     x2.write(b"via the passed handle").await?;
    ///     let mut got = [0u8; 21];
    ///     futures::AsyncReadExt::read_exact(&mut &y, &mut got).await?;
    ///     assert_eq!(&got, b"via the passed handle");
    ///     Ok::<(), std::io::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`pair`](Self::pair).
    pub fn pair_ipc(lp: &LoopHandle) -> Result<(PipeStream, PipeStream)> {
        PipeStream::socketpair(lp, true)
    }

    /// An OS pipe (`uv_pipe`, then `uv_pipe_open` on both ends): `(reader, writer)`; what
    /// is written to `writer` is read from `reader`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncReadExt;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let (rd, wr) = uvio::PipeStream::pipe(&lp)?;
    /// assert!(rd.is_readable() && !rd.is_writable());
    /// let got = lp.block_on(async move {
    ///     wr.write(b"one way").await?;
    ///     drop(wr); // end of stream for the reader
    ///     let mut all = Vec::new();
    ///     (&rd).read_to_end(&mut all).await?;
    ///     Ok::<_, std::io::Error>(all)
    /// })??;
    /// assert_eq!(got, b"one way");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `EMFILE` when out of descriptors; `EBADF` when the loop is closed.
    pub fn pipe(lp: &LoopHandle) -> Result<(PipeStream, PipeStream)> {
        let mut fds: [ffi::uv_file; 2] = [-1, -1];
        let nb = ffi::UV_NONBLOCK_PIPE as i32;
        // SAFETY: `fds` has room for two descriptors.
        check(unsafe { ffi::uv_pipe(fds.as_mut_ptr(), nb, nb) })
            .map_err(|e| e.with_operation("pipe"))?;
        // SAFETY: uv_pipe succeeded: both are fresh descriptors that we own.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((PipeStream::open(lp, r)?, PipeStream::open(lp, w)?))
    }

    /// Whether the pipe was made for handle passing (the `ipc` flag of `uv_pipe_init`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (plain, _) = uvio::PipeStream::pair(&lp)?;
    /// let (ipc, _) = uvio::PipeStream::pair_ipc(&lp)?;
    /// assert!(!plain.is_ipc());
    /// assert!(ipc.is_ipc());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_ipc(&self) -> bool {
        // SAFETY: the handle is open; `ipc` is a plain field.
        self.h
            .with_raw(|p| unsafe { (*p).ipc } != 0)
            .unwrap_or(false)
    }

    /// The name of this end (`uv_pipe_getsockname`): the path for the server end of a
    /// connection, [`PipeAddr::Unnamed`] for a client end or a socketpair.
    ///
    /// # Errors
    ///
    /// `EBADF` when closed (or not yet connected), `ENOTSOCK` for an OS pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("uvio-doc-{}-pipe-local-addr.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let l = uvio::PipeListener::bind(&lp, &path)?;
    /// let (client, server) = lp.block_on(async {
    ///     let c = uvio::PipeStream::connect(&path).await?;
    ///     Ok::<_, uvio::Error>((c, l.accept().await?))
    /// })??;
    /// assert_eq!(client.local_addr()?, uvio::PipeAddr::Unnamed);
    /// assert_eq!(server.local_addr()?.as_pathname(), Some(path.as_path()));
    /// # drop((client, server, l));
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn local_addr(&self) -> Result<PipeAddr> {
        pipe_addr(&self.h, false, NAME_BUF)
    }

    /// The name of the peer (`uv_pipe_getpeername`): the listener's path for a client.
    ///
    /// # Errors
    ///
    /// `ENOTCONN` when not connected, `EBADF` when closed, `ENOTSOCK` for an OS pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("uvio-doc-{}-pipe-peer-addr.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let l = uvio::PipeListener::bind(&lp, &path)?;
    /// let c = lp.block_on(uvio::PipeStream::connect_on(&lp, &path))??;
    /// assert_eq!(c.peer_addr()?, uvio::PipeAddr::Path(path.clone()));
    /// let (a, _b) = uvio::PipeStream::pair(&lp)?;
    /// assert_eq!(a.peer_addr()?, uvio::PipeAddr::Unnamed);
    /// # drop((c, l));
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn peer_addr(&self) -> Result<PipeAddr> {
        pipe_addr(&self.h, true, NAME_BUF)
    }

    /// `uv_pipe_chmod`: makes the socket file readable and/or writable by everyone.
    ///
    /// # Errors
    ///
    /// `EINVAL` when both are false, `EBADF` when closed; `ENOENT`/`EPERM` from `chmod`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// let name = format!("uvio-doc-{}-pipe-chmod.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let lp = uvio::Loop::new()?;
    /// let l = uvio::PipeListener::bind(&lp, &path)?;
    /// let server_end = lp.block_on(async {
    ///     let _c = uvio::PipeStream::connect(&path).await?;
    ///     l.accept().await
    /// })??;
    /// server_end.chmod(true, true)?; // changes the socket file at `path`
    /// assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o666, 0o666);
    /// assert_eq!(server_end.chmod(false, false).unwrap_err().name(), "EINVAL");
    /// # drop((server_end, l));
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn chmod(&self, readable: bool, writable: bool) -> Result<()> {
        pipe_chmod(&self.h, readable, writable)
    }
}

fn pipe_chmod<S>(h: &HandleRef<ffi::uv_pipe_t, S>, readable: bool, writable: bool) -> Result<()> {
    let mut mode = 0;
    if readable {
        mode |= ffi::UV_READABLE as i32;
    }
    if writable {
        mode |= ffi::UV_WRITABLE as i32;
    }
    if mode == 0 {
        return Err(Error::EINVAL.with_operation("chmod"));
    }
    h.call(|p| {
        // SAFETY: the handle is open.
        unsafe { ffi::uv_pipe_chmod(p, mode) }
    })
    .map(drop)
    .map_err(|e| e.with_operation("chmod"))
}

impl fmt::Debug for PipeStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PipeStream");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        if self.is_ipc() {
            d.field("ipc", &true);
        }
        stream::debug_fields(&self.h, &mut d);
        d.finish()
    }
}

// ----- connect future -----

/// The future of [`PipeStream::connect`]: resolves to the connected stream.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("s");
/// let lp = uvio::Loop::new()?;
/// let _listener = uvio::PipeListener::bind(&lp, &path)?;
/// let s = lp.block_on(uvio::PipeStream::connect(&path))??;
/// assert_eq!(s.peer_addr()?.as_pathname(), Some(path.as_path()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct PipeConnect {
    name: Result<PipeName>,
    conn: Connecting<PipeStream>,
}

impl Future for PipeConnect {
    type Output = Result<PipeStream>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<PipeStream>> {
        let this = &mut *self;
        let name = match &this.name {
            Ok(n) => n,
            Err(e) => return Poll::Ready(Err(e.clone())),
        };
        this.conn
            .poll(cx, |lp| {
                let s = PipeStream::init(lp, false)?;
                let f = s.start_connect(name, None)?;
                Ok((s, f))
            })
            .map_err(|e| e.with_context("connect", name.show()))
    }
}

impl fmt::Debug for PipeConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeConnect")
            .field("started", &self.conn.started())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_back_exact_from_any_first_buffer_size() {
        // Every first buffer size, from 1 byte (ENOBUFS, then a retry with the size libuv
        // asks for) to more than enough, for a path, an abstract name and no name.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n".repeat(40));
        let lp = crate::Loop::new().unwrap();
        let l = PipeListener::bind(&lp, &path).unwrap();
        let name = format!("uvio-unit-{}", std::process::id()).into_bytes();
        let la = match PipeListener::bind_abstract(&lp, &name) {
            Ok(la) => Some(la),
            Err(e) if e.is_unsupported() => None,
            Err(e) => panic!("{e}"),
        };
        let (a, _b) = PipeStream::pair(&lp).unwrap();
        let plen = path.as_os_str().len();
        for initial in 1..plen + 4 {
            let got = pipe_addr(&l.h, false, initial).unwrap();
            assert_eq!(got, PipeAddr::Path(path.clone()), "first buffer {initial}");
            if let Some(la) = &la {
                let got = pipe_addr(&la.h, false, initial).unwrap();
                assert_eq!(
                    got,
                    PipeAddr::Abstract(name.clone()),
                    "first buffer {initial}"
                );
            }
            assert_eq!(pipe_addr(&a.h, true, initial).unwrap(), PipeAddr::Unnamed);
        }
    }
}
