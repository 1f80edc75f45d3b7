//! TCP (`uv_tcp_t`): [`TcpListener`] accepts connections, [`TcpStream`] is a connection (a
//! stream: see the stream methods on it), both with callbacks and futures.

mod listener;

pub use listener::{Accept, Incoming, TcpBindOptions, TcpListener};

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, fd_methods, handle_methods};
use crate::net_addr::{read_sockaddr, to_sockaddr};
use crate::stream::oneshot::{Connecting, ReqFuture, on_done};
use crate::stream::{
    self, Handle, RawCb, StreamKind, StreamOwner, StreamState, stream_methods, wrap_cb,
};

/// The listen backlog of [`TcpListener::bind`] (Node's default).
///
/// # Examples
///
/// ```
/// assert_eq!(uvio::DEFAULT_BACKLOG, 511);
/// # Ok::<(), uvio::Error>(())
/// ```
pub const DEFAULT_BACKLOG: u32 = 511;

// ----- shared by TcpStream and TcpListener -----

fn tcp_addr<S>(h: &HandleRef<ffi::uv_tcp_t, S>, peer: bool) -> Result<SocketAddr> {
    read_sockaddr(|sa, len| {
        // SAFETY: the handle is open; `sa`/`len` describe a sockaddr_storage.
        h.call(|t| unsafe {
            if peer {
                ffi::uv_tcp_getpeername(t, sa, len)
            } else {
                ffi::uv_tcp_getsockname(t, sa, len)
            }
        })
    })
    .map_err(|e| e.with_operation(if peer { "peer_addr" } else { "local_addr" }))
}

/// `uv_tcp_open` of `fd` on a freshly initialised handle; on success libuv owns `fd`.
fn tcp_open<S>(h: &HandleRef<ffi::uv_tcp_t, S>, fd: OwnedFd) -> Result<()> {
    let raw = fd.as_raw_fd();
    h.call(|t| {
        // SAFETY: the handle is open; `raw` is a descriptor we own.
        unsafe { ffi::uv_tcp_open(t, raw) }
    })
    .map_err(|e| e.with_operation("open"))?;
    // libuv owns (and will close) it now.
    let _ = fd.into_raw_fd();
    Ok(())
}

fn tcp_init<S>(lp: &LoopHandle, state: S) -> Result<HandleRef<ffi::uv_tcp_t, S>> {
    // SAFETY: uv_tcp_init initialises a uv_tcp_t on the loop.
    unsafe { HandleRef::new(lp, state, |l, t| ffi::uv_tcp_init(l, t)) }
}

// ----- TcpStream -----

/// A TCP connection: read with a callback ([`read_start`](Self::read_start)) or
/// [`AsyncRead`](https://docs.rs/futures/0.3/futures/io/trait.AsyncRead.html); write owned
/// buffers ([`write_cb`](Self::write_cb), [`write`](Self::write)) or borrowed ones through
/// [`AsyncWrite`](https://docs.rs/futures/0.3/futures/io/trait.AsyncWrite.html).
///
/// Dropping it closes the connection once the writes still queued are done (as closing a
/// socket lets the kernel deliver what it accepted); a write that cannot be delivered, the
/// peer gone, fails and the stream closes then. [`close_reset`](Self::close_reset), the
/// inherent [`close`](Self::close) and the loop's shutdown close at once: queued writes
/// then complete with `ECANCELED`. To end the write side and let
/// the peer read end-of-stream, use [`shutdown`](Self::shutdown) (or
/// `AsyncWriteExt::close(&mut stream)`, which flushes first).
///
/// `AsyncRead` and `AsyncWrite` are implemented for `TcpStream` and `&TcpStream`; one task
/// may read while another writes (or use [`split`](Self::split)), but two tasks reading (or
/// two writing) at once would each replace the other's waker.
///
/// Writing to a peer that has reset the connection fails with `EPIPE`/`ECONNRESET`. The
/// kernel also raises `SIGPIPE` then, which Rust programs ignore (the standard runtime sets
/// it to `SIG_IGN` before `main`), as does Node; a C host embedding uvio must ignore it
/// too.
///
/// # Examples
///
/// Callbacks (an echo server and a client on one loop):
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use uvio::{Loop, RunMode, TcpListener, TcpStream};
///
/// let lp = Loop::new()?;
/// let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let conns = Rc::new(RefCell::new(Vec::new()));
/// let keep = conns.clone();
/// listener.on_connection(move |l, conn| {
///     let conn = conn.unwrap();
///     conn.read_start(|s, r| match r {
///         Ok(bytes) => s.write_cb(bytes.to_vec(), |_, r| r.unwrap()).unwrap(),
///         Err(_eof) => s.close().unwrap(),
///     })
///     .unwrap();
///     keep.borrow_mut().push(conn);
///     l.close().unwrap(); // one connection is enough here
/// })?;
/// let got = Rc::new(RefCell::new(Vec::new()));
/// let g = got.clone();
/// let _client = TcpStream::connect_cb(&lp, listener.local_addr()?, move |s, r| {
///     r.unwrap();
///     s.write_cb(b"hello", |_, r| r.unwrap()).unwrap();
///     s.read_start(move |s, r| {
///         g.borrow_mut().extend_from_slice(r.unwrap());
///         if g.borrow().len() == 5 {
///             s.close().unwrap();
///         }
///     })
///     .unwrap();
/// })?;
/// lp.run(RunMode::Default)?;
/// assert_eq!(&got.borrow()[..], b"hello");
/// # Ok::<(), uvio::Error>(())
/// ```
///
/// Futures:
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use uvio::{Loop, TcpListener, TcpStream};
///
/// let lp = Loop::new()?;
/// let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// let got = lp.block_on(async move {
///     let server = uvio::spawn_local(async move {
///         let mut s = listener.accept().await?;
///         let mut buf = Vec::new();
///         s.read_to_end(&mut buf).await?;
///         Ok::<_, std::io::Error>(buf)
///     });
///     let mut c = TcpStream::connect(addr).await?;
///     c.write_all(b"hello").await?;
///     // `AsyncWriteExt::close` flushes and shuts the write side down (the inherent
///     // `close` closes the handle).
///     AsyncWriteExt::close(&mut c).await?;
///     server.await.unwrap()
/// })??;
/// assert_eq!(got, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TcpStream {
    pub(crate) h: StreamOwner<TcpStream>,
}

impl StreamKind for TcpStream {
    type Raw = ffi::uv_tcp_t;
    fn from_handle(h: Handle<Self>) -> Self {
        TcpStream {
            h: StreamOwner::new(h),
        }
    }
    fn handle(&self) -> &Handle<Self> {
        &self.h
    }
}

handle_methods!(TcpStream, h);
fd_methods!(TcpStream, h);
stream_methods!(TcpStream);

impl TcpStream {
    /// A TCP handle with no socket yet (`uv_tcp_init`).
    pub(crate) fn init(lp: &LoopHandle) -> Result<TcpStream> {
        Ok(TcpStream {
            h: StreamOwner::new(tcp_init(lp, StreamState::new())?),
        })
    }

    fn start_connect(
        &self,
        addr: SocketAddr,
        cb: Option<RawCb>,
    ) -> Result<Option<ReqFuture<ffi::uv_connect_t>>> {
        self.h.state()?;
        let (ss, _) = to_sockaddr(&addr);
        let tcp = self.h.raw();
        // SAFETY: the handle is open; `ss` outlives the call (libuv copies the address);
        // on_done matches uv_connect_t; `cb` comes from wrap_cb::<TcpStream>.
        unsafe {
            stream::oneshot::start::<ffi::uv_connect_t>(&self.loop_handle(), "connect", cb, |r| {
                ffi::uv_tcp_connect(
                    r,
                    tcp,
                    (&raw const ss).cast(),
                    Some(on_done::<ffi::uv_connect_t>),
                )
            })
        }
        .map_err(|e| e.with_context("connect", addr))
    }

    /// Connects to `addr` and calls `callback` with the result. The stream is returned at
    /// once (writes made before the connection is up are queued); on failure the callback
    /// gets the error (`ECONNREFUSED`, ...) and the stream stays a valid, closable value.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed; synchronous `uv_tcp_connect` errors
    /// (`EAFNOSUPPORT`, `EINVAL`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::{Loop, RunMode, TcpListener, TcpStream};
    ///
    /// let lp = Loop::new()?;
    /// let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// // Kept (not dropped, which would cancel the connect) until the loop has run.
    /// let _s = TcpStream::connect_cb(&lp, listener.local_addr()?, |s, r| {
    ///     r.unwrap();
    ///     println!("connected to {}", s.peer_addr().unwrap());
    ///     s.close().unwrap();
    /// })?;
    /// listener.on_connection(|l, _conn| l.close().unwrap())?;
    /// lp.run(RunMode::Default)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn connect_cb(
        lp: &LoopHandle,
        addr: SocketAddr,
        callback: impl FnOnce(&TcpStream, Result<()>) + 'static,
    ) -> Result<TcpStream> {
        let s = TcpStream::init(lp)?;
        s.start_connect(addr, Some(wrap_cb(callback)))?;
        Ok(s)
    }

    /// Connects to `addr` on the loop running on this thread; resolves to the connected
    /// stream. Dropping the future before it resolves closes the half-open stream.
    ///
    /// # Panics
    ///
    /// When first polled outside a uvio loop (use [`TcpStream::connect_on`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let addr = listener.local_addr()?;
    /// let s = lp.block_on(async move { uvio::TcpStream::connect(addr).await })??;
    /// assert_eq!(s.peer_addr()?, addr);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn connect(addr: SocketAddr) -> Connect {
        Connect {
            addr,
            conn: Connecting::new(None),
        }
    }

    /// [`TcpStream::connect`] on a given loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let fut = uvio::TcpStream::connect_on(&lp, listener.local_addr()?);
    /// let s = lp.block_on(fut)??;
    /// assert_eq!(s.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn connect_on(lp: &LoopHandle, addr: SocketAddr) -> Connect {
        Connect {
            addr,
            conn: Connecting::new(Some(lp.clone())),
        }
    }

    /// Takes over a connected `std::net::TcpStream` (`uv_tcp_open`).
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed; `uv_tcp_open` errors.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let std_stream = std::net::TcpStream::connect(std_listener.local_addr()?)?;
    /// let s = uvio::TcpStream::from_std(&lp, std_stream)?;
    /// assert_eq!(s.peer_addr()?, std_listener.local_addr()?);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn from_std(lp: &LoopHandle, s: std::net::TcpStream) -> Result<TcpStream> {
        TcpStream::open(lp, OwnedFd::from(s))
    }

    /// Takes over a socket descriptor (`uv_tcp_open`); libuv closes it with the stream.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed; `uv_tcp_open` errors (the descriptor is closed
    /// then).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let lp = uvio::Loop::new()?;
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let fd = OwnedFd::from(std::net::TcpStream::connect(std_listener.local_addr()?)?);
    /// let s = uvio::TcpStream::open(&lp, fd)?;
    /// assert_eq!(s.peer_addr()?, std_listener.local_addr()?);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn open(lp: &LoopHandle, fd: OwnedFd) -> Result<TcpStream> {
        let s = TcpStream::init(lp)?;
        tcp_open(&s.h, fd)?;
        Ok(s)
    }

    /// A connected pair of sockets (`uv_socketpair`, `AF_UNIX` on Unix) driven as streams:
    /// handy for tests. Addresses and TCP options do not apply to them.
    ///
    /// # Errors
    ///
    /// `EMFILE` when out of descriptors; `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (a, b) = uvio::TcpStream::pair(&lp)?;
    /// assert_eq!(a.try_write(b"x")?, 1);
    /// assert!(b.is_readable());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn pair(lp: &LoopHandle) -> Result<(TcpStream, TcpStream)> {
        let mut fds: [ffi::uv_os_sock_t; 2] = [-1, -1];
        // SAFETY: `fds` has room for two descriptors.
        check(unsafe { ffi::uv_socketpair(libc::SOCK_STREAM, 0, fds.as_mut_ptr(), 0, 0) })
            .map_err(|e| e.with_operation("socketpair"))?;
        // SAFETY: uv_socketpair succeeded: both are fresh descriptors that we own.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((TcpStream::open(lp, a)?, TcpStream::open(lp, b)?))
    }

    /// Gives the connection back as a blocking `std::net::TcpStream` (a duplicate of the
    /// descriptor; this handle is closed). Bytes libuv had read but not delivered, and
    /// queued writes, are lost.
    ///
    /// # Errors
    ///
    /// `EBADF` when closed; `EMFILE` when out of descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// let lp = uvio::Loop::new()?;
    /// let (a, b) = uvio::TcpStream::pair(&lp)?;
    /// lp.block_on(a.write("bye"))??;
    /// let mut std_b = b.into_std()?; // blocking from here on
    /// let mut buf = [0u8; 3];
    /// std_b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"bye");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn into_std(self) -> Result<std::net::TcpStream> {
        let fd = self.fileno()?;
        // SAFETY: `fd` is open (owned by the handle); F_DUPFD_CLOEXEC makes a new one.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        // SAFETY: `dup` is a fresh descriptor we own.
        let s = std::net::TcpStream::from(unsafe { OwnedFd::from_raw_fd(dup) });
        drop(self);
        s.set_nonblocking(false)?;
        Ok(s)
    }

    /// The local address (`uv_tcp_getsockname`).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed; `EAFNOSUPPORT` for a socket that is not IPv4/IPv6.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let s = lp.block_on(uvio::TcpStream::connect(listener.local_addr()?))??;
    /// assert!(s.local_addr()?.ip().is_loopback());
    /// assert_ne!(s.local_addr()?, listener.local_addr()?);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr> {
        tcp_addr(&self.h, false)
    }

    /// The peer's address (`uv_tcp_getpeername`).
    ///
    /// # Errors
    ///
    /// `ENOTCONN` when not connected; `EBADF` when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let s = lp.block_on(uvio::TcpStream::connect(listener.local_addr()?))??;
    /// assert_eq!(s.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        tcp_addr(&self.h, true)
    }

    /// Turns Nagle's algorithm off (`true`) or on (`uv_tcp_nodelay`).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let s = lp.block_on(uvio::TcpStream::connect(listener.local_addr()?))??;
    /// s.set_nodelay(true)?;
    /// s.close()?;
    /// assert!(s.set_nodelay(false).is_err());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> Result<()> {
        self.h.call(|t| {
            // SAFETY: the handle is open.
            unsafe { ffi::uv_tcp_nodelay(t, nodelay as i32) }
        })?;
        Ok(())
    }

    /// Turns TCP keep-alive on with the given idle time before the first probe (whole
    /// seconds, at least 1), or off with `None` (`uv_tcp_keepalive`).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = uvio::Loop::new()?;
    /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let s = lp.block_on(uvio::TcpStream::connect(listener.local_addr()?))??;
    /// s.set_keepalive(Some(Duration::from_secs(60)))?;
    /// s.set_keepalive(None)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_keepalive(&self, idle: Option<Duration>) -> Result<()> {
        let (on, secs) = match idle {
            Some(d) => (1, keepalive_secs(d)),
            None => (0, 0),
        };
        self.h.call(|t| {
            // SAFETY: the handle is open.
            unsafe { ffi::uv_tcp_keepalive(t, on, secs) }
        })?;
        Ok(())
    }

    /// Turns keep-alive on with idle time, probe interval and probe count
    /// (`uv_tcp_keepalive_ex`, libuv 1.45+).
    ///
    /// # Errors
    ///
    /// [`Error::UNSUPPORTED`] with an older libuv; `EINVAL` for a zero interval or count;
    /// `EBADF` when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = uvio::Loop::new()?;
    /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let s = lp.block_on(uvio::TcpStream::connect(listener.local_addr()?))??;
    /// match s.set_keepalive_params(Duration::from_secs(60), Duration::from_secs(10), 3) {
    ///     Err(e) if e.is_unsupported() => {} // libuv before 1.45
    ///     r => r?,
    /// }
    /// let zero = s.set_keepalive_params(Duration::from_secs(60), Duration::ZERO, 3);
    /// assert!(zero.is_err());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_keepalive_params(
        &self,
        idle: Duration,
        interval: Duration,
        count: u32,
    ) -> Result<()> {
        self.h.state()?;
        let (i, v) = (keepalive_secs(idle), keepalive_secs(interval));
        if interval.is_zero() || count == 0 {
            return Err(Error::EINVAL.with_operation("set_keepalive_params"));
        }
        // SAFETY: the handle is open.
        let r = unsafe { ffi::late::uv_tcp_keepalive_ex(self.h.raw(), 1, i, v, count) }
            .ok_or_else(|| Error::unsupported("uv_tcp_keepalive_ex"))?;
        check(r)?;
        Ok(())
    }

    /// Closes the connection with a TCP RST instead of a FIN (`uv_tcp_close_reset`): the
    /// peer's next read fails with `ECONNRESET`.
    ///
    /// # Errors
    ///
    /// `EBADF` when already closing; `EINVAL` while a shutdown is in progress.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncReadExt;
    /// let lp = uvio::Loop::new()?;
    /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let err = lp.block_on(async {
    ///     let mut client = uvio::TcpStream::connect(listener.local_addr()?).await?;
    ///     let server_side = listener.accept().await?;
    ///     server_side.close_reset()?;
    ///     let mut buf = [0u8; 1];
    ///     Ok::<_, uvio::Error>(client.read(&mut buf).await.unwrap_err())
    /// })??;
    /// assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn close_reset(&self) -> Result<()> {
        // SAFETY: uv_tcp_close_reset calls uv_close with the given callback exactly when it
        // returns 0.
        unsafe {
            self.h
                .close_by(|t, cb| ffi::uv_tcp_close_reset(t, Some(cb)))
        }
        .map_err(|e| e.with_operation("close_reset"))
    }
}

fn keepalive_secs(d: Duration) -> u32 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    u32::try_from(s.max(1)).unwrap_or(u32::MAX)
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        stream::debug_fields(&self.h, &mut d);
        d.finish()
    }
}

/// The future of [`TcpStream::connect`]: resolves to the connected stream.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// let s = lp.block_on(uvio::TcpStream::connect(addr))??;
/// assert_eq!(s.peer_addr()?, addr);
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Connect {
    addr: SocketAddr,
    conn: Connecting<TcpStream>,
}

impl Future for Connect {
    type Output = Result<TcpStream>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<TcpStream>> {
        let addr = self.addr;
        self.conn
            .poll(cx, |lp| {
                let s = TcpStream::init(lp)?;
                let f = s.start_connect(addr, None)?;
                Ok((s, f))
            })
            .map_err(|e| e.with_context("connect", addr))
    }
}

impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect")
            .field("addr", &self.addr)
            .field("started", &self.conn.started())
            .finish()
    }
}
