//! TCP (`uv_tcp_t`): [`TcpListener`] accepts connections, [`TcpStream`] is a connection (a
//! stream: see the stream methods on it), both with callbacks and futures.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;

use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, fd_methods, handle_methods};
use crate::net_addr::{read_sockaddr, to_sockaddr};
use crate::stream::oneshot::{ReqFuture, on_done};
use crate::stream::{self, Handle, RawCb, StreamKind, StreamState, stream_methods, wrap_cb};

/// The listen backlog of [`TcpListener::bind`] (Node's default).
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
/// [`futures_io::AsyncRead`]; write owned buffers ([`write_cb`](Self::write_cb),
/// [`write`](Self::write)) or borrowed ones through [`futures_io::AsyncWrite`].
///
/// Dropping it closes the connection; writes still queued then complete with `ECANCELED`.
/// The inherent [`close`](Self::close) closes the handle; to end the write side and let
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
    pub(crate) h: Handle<TcpStream>,
}

impl StreamKind for TcpStream {
    type Raw = ffi::uv_tcp_t;
    fn from_handle(h: Handle<Self>) -> Self {
        TcpStream { h }
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
    fn init(lp: &LoopHandle) -> Result<TcpStream> {
        Ok(TcpStream {
            h: tcp_init(lp, StreamState::new())?,
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
    /// let s = TcpStream::connect_cb(&lp, listener.local_addr()?, |s, r| {
    ///     r.unwrap();
    ///     println!("connected to {}", s.peer_addr().unwrap());
    ///     s.close().unwrap();
    /// })?;
    /// listener.on_connection(|l, _conn| l.close().unwrap());
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
    pub fn connect(addr: SocketAddr) -> Connect {
        Connect {
            addr,
            lp: None,
            state: None,
        }
    }

    /// [`TcpStream::connect`] on a given loop.
    pub fn connect_on(lp: &LoopHandle, addr: SocketAddr) -> Connect {
        Connect {
            addr,
            lp: Some(lp.clone()),
            state: None,
        }
    }

    /// Takes over a connected `std::net::TcpStream` (`uv_tcp_open`).
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed; `uv_tcp_open` errors.
    pub fn from_std(lp: &LoopHandle, s: std::net::TcpStream) -> Result<TcpStream> {
        TcpStream::open(lp, OwnedFd::from(s))
    }

    /// Takes over a socket descriptor (`uv_tcp_open`); libuv closes it with the stream.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed; `uv_tcp_open` errors (the descriptor is closed
    /// then).
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
    pub fn local_addr(&self) -> Result<SocketAddr> {
        tcp_addr(&self.h, false)
    }

    /// The peer's address (`uv_tcp_getpeername`).
    ///
    /// # Errors
    ///
    /// `ENOTCONN` when not connected; `EBADF` when closed.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        tcp_addr(&self.h, true)
    }

    /// Turns Nagle's algorithm off (`true`) or on (`uv_tcp_nodelay`).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed.
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
#[must_use = "futures do nothing unless polled"]
pub struct Connect {
    addr: SocketAddr,
    lp: Option<LoopHandle>,
    state: Option<(TcpStream, ReqFuture<ffi::uv_connect_t>)>,
}

impl Future for Connect {
    type Output = Result<TcpStream>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<TcpStream>> {
        let addr = self.addr;
        if self.state.is_none() {
            let lp = match self.lp.take() {
                Some(lp) => lp,
                None => LoopHandle::current()
                    .expect("uvio::TcpStream::connect polled outside a uvio loop"),
            };
            let started = TcpStream::init(&lp).and_then(|s| {
                let f = s.start_connect(addr, None)?;
                Ok((s, f.unwrap_or_else(|| ReqFuture::failed(Error::EINVAL))))
            });
            match started {
                Ok(st) => self.state = Some(st),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let (_, f) = self.state.as_mut().expect("set above");
        match Pin::new(f).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                let (s, _) = self.state.take().expect("set above");
                Poll::Ready(r.map(|()| s).map_err(|e| e.with_context("connect", addr)))
            }
        }
    }
}

impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect")
            .field("addr", &self.addr)
            .field("started", &self.state.is_some())
            .finish()
    }
}

// ----- TcpListener -----

/// How [`TcpListener::bind_with`] binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpBindOptions {
    /// The listen backlog (default [`DEFAULT_BACKLOG`]).
    pub backlog: u32,
    /// For an IPv6 address: accept IPv6 only, not IPv4-mapped (`UV_TCP_IPV6ONLY`).
    pub ipv6_only: bool,
    /// `SO_REUSEPORT` (`UV_TCP_REUSEPORT`, libuv 1.49+): several listeners, in this
    /// process or others, on one port, the kernel spreading connections.
    pub reuse_port: bool,
}

impl Default for TcpBindOptions {
    fn default() -> Self {
        TcpBindOptions {
            backlog: DEFAULT_BACKLOG,
            ipv6_only: false,
            reuse_port: false,
        }
    }
}

type ConnectionCb = Box<dyn FnMut(&TcpListener, Result<TcpStream>)>;

pub(crate) struct ListenerState {
    cb: Cell<Option<ConnectionCb>>,
    /// libuv holds an accepted connection for us (it stops accepting until we take it).
    pending: Cell<bool>,
    error: Cell<Option<Error>>,
    waker: Cell<Option<Waker>>,
}

/// A listening TCP socket: bound and listening from [`TcpListener::bind`], handing out
/// connections through a callback ([`on_connection`](Self::on_connection)), a future
/// ([`accept`](Self::accept)) or a stream of them ([`incoming`](Self::incoming)).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use uvio::{Loop, TcpListener, TcpStream};
///
/// let lp = Loop::new()?;
/// let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// lp.block_on(async move {
///     let _c1 = TcpStream::connect(addr).await?;
///     let _c2 = TcpStream::connect(addr).await?;
///     let mut incoming = listener.incoming();
///     for _ in 0..2 {
///         let s = incoming.next().await.unwrap()?;
///         assert_eq!(s.local_addr()?, addr);
///     }
///     Ok::<(), uvio::Error>(())
/// })??;
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct TcpListener {
    h: HandleRef<ffi::uv_tcp_t, ListenerState>,
}

handle_methods!(TcpListener, h);
fd_methods!(TcpListener, h);

unsafe extern "C" fn on_connection(server: *mut ffi::uv_stream_t, status: i32) {
    // SAFETY: libuv calls this only for listeners made by TcpListener::listen; the view is
    // never dropped, so it neither closes nor frees.
    let h = unsafe { HandleRef::borrowed(server.cast()) };
    let l = std::mem::ManuallyDrop::new(TcpListener {
        h: std::mem::ManuallyDrop::into_inner(h),
    });
    crate::panic::guard(l.h.loop_inner(), || {
        // SAFETY: a callback of a live handle: its state is alive.
        let st = unsafe { l.h.state_unchecked() };
        let result = check(status).map_err(|e| e.with_operation("accept"));
        match (st.cb.take(), result) {
            (Some(cb), r) => l.call_back(cb, r.and_then(|_| l.accept_now())),
            (None, Err(e)) => st.error.set(Some(e)),
            (None, Ok(_)) => st.pending.set(true),
        }
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    });
}

impl TcpListener {
    /// Binds to `addr` and starts listening with backlog [`DEFAULT_BACKLOG`]. Port 0 picks
    /// a free port ([`local_addr`](Self::local_addr) tells which).
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` when the port is taken, `EADDRNOTAVAIL` for an address that is not
    /// local, `EACCES` for a privileged port, `EBADF` when the loop is closed.
    pub fn bind(lp: &LoopHandle, addr: SocketAddr) -> Result<TcpListener> {
        TcpListener::bind_with(lp, addr, TcpBindOptions::default())
    }

    /// [`bind`](Self::bind) with a given backlog.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn bind_with_backlog(
        lp: &LoopHandle,
        addr: SocketAddr,
        backlog: u32,
    ) -> Result<TcpListener> {
        TcpListener::bind_with(
            lp,
            addr,
            TcpBindOptions {
                backlog,
                ..TcpBindOptions::default()
            },
        )
    }

    /// [`bind`](Self::bind) with options (backlog, IPv6-only, `SO_REUSEPORT`).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind); `ENOTSUP`/`EINVAL` when `reuse_port` is not supported.
    pub fn bind_with(
        lp: &LoopHandle,
        addr: SocketAddr,
        opts: TcpBindOptions,
    ) -> Result<TcpListener> {
        let l = TcpListener::init(lp)?;
        let mut flags = 0;
        if opts.ipv6_only {
            flags |= ffi::UV_TCP_IPV6ONLY;
        }
        if opts.reuse_port {
            flags |= ffi::UV_TCP_REUSEPORT;
        }
        let (ss, _) = to_sockaddr(&addr);
        l.h.call(|t| {
            // SAFETY: the handle is open; `ss` is a valid address for the call.
            unsafe { ffi::uv_tcp_bind(t, (&raw const ss).cast(), flags) }
        })
        .map_err(|e| e.with_context("bind", addr))?;
        // libuv reports some bind errors (EADDRINUSE) only at listen: listen now, so the
        // caller sees them here.
        l.listen(opts.backlog)
            .map_err(|e| e.with_context("bind", addr))?;
        Ok(l)
    }

    /// Takes over a bound (or listening) `std::net::TcpListener` and listens on it.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed; `uv_tcp_open`/`uv_listen` errors.
    pub fn from_std(lp: &LoopHandle, l: std::net::TcpListener) -> Result<TcpListener> {
        let me = TcpListener::init(lp)?;
        tcp_open(&me.h, OwnedFd::from(l))?;
        me.listen(DEFAULT_BACKLOG)?;
        Ok(me)
    }

    fn init(lp: &LoopHandle) -> Result<TcpListener> {
        let st = ListenerState {
            cb: Cell::new(None),
            pending: Cell::new(false),
            error: Cell::new(None),
            waker: Cell::new(None),
        };
        Ok(TcpListener {
            h: tcp_init(lp, st)?,
        })
    }

    fn listen(&self, backlog: u32) -> Result<()> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self.h.call(|t| {
            // SAFETY: the handle is open; on_connection matches this handle's type.
            unsafe { ffi::uv_listen(t.cast(), backlog, Some(on_connection)) }
        })?;
        Ok(())
    }

    /// Accepts the connection libuv is holding for us.
    fn accept_now(&self) -> Result<TcpStream> {
        let s = TcpStream::init(&self.loop_handle())?;
        let client = stream::raw_stream(&s.h);
        self.h
            .call(|t| {
                // SAFETY: both handles are open and on the same loop.
                unsafe { ffi::uv_accept(t.cast(), client) }
            })
            .map_err(|e| e.with_operation("accept"))?;
        Ok(s)
    }

    /// Calls the connection callback (taken out of its slot) and puts it back unless it
    /// installed another one meanwhile.
    fn call_back(&self, mut cb: ConnectionCb, r: Result<TcpStream>) {
        cb(self, r);
        if let Ok(st) = self.h.state() {
            match st.cb.take() {
                None => st.cb.set(Some(cb)),
                other => st.cb.set(other),
            }
        }
    }

    /// Calls `callback` with each new connection (or an accept error, like `EMFILE`).
    /// Replaces an earlier callback; a connection that was already waiting is delivered
    /// at once. Futures ([`accept`](Self::accept)) cannot be used while a callback is set.
    ///
    /// # Errors
    ///
    /// `EBADF` when the listener is closed.
    pub fn on_connection(
        &self,
        callback: impl FnMut(&TcpListener, Result<TcpStream>) + 'static,
    ) -> Result<()> {
        let st = self.h.state()?;
        let cb: ConnectionCb = Box::new(callback);
        if st.pending.replace(false) {
            self.call_back(cb, self.accept_now());
        } else if let Some(e) = st.error.take() {
            self.call_back(cb, Err(e));
        } else {
            st.cb.set(Some(cb));
        }
        Ok(())
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Result<TcpStream>> {
        let st = match self.h.state() {
            Ok(st) => st,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Some(e) = st.error.take() {
            return Poll::Ready(Err(e));
        }
        if st.pending.replace(false) {
            return Poll::Ready(self.accept_now());
        }
        let cb = st.cb.take();
        if cb.is_some() {
            st.cb.set(cb);
            return Poll::Ready(Err(
                Error::EBUSY.with_operation("accept on a listener with a callback")
            ));
        }
        st.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// Accept errors (`EMFILE`), `EBADF` when the listener is closed, `EBUSY` while an
    /// [`on_connection`](Self::on_connection) callback is set.
    pub fn accept(&self) -> Accept<'_> {
        Accept { l: self }
    }

    /// The connections, as a `Stream` that ends when the listener is closed.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { l: self }
    }

    /// The bound address (`uv_tcp_getsockname`).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        tcp_addr(&self.h, false)
    }

    /// `uv_tcp_simultaneous_accepts`: whether to accept several connections at once
    /// (Windows only; a no-op elsewhere).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed.
    pub fn set_simultaneous_accepts(&self, enable: bool) -> Result<()> {
        self.h.call(|t| {
            // SAFETY: the handle is open.
            unsafe { ffi::uv_tcp_simultaneous_accepts(t, enable as i32) }
        })?;
        Ok(())
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        match self.local_addr() {
            Ok(a) => d.field("local", &a),
            Err(_) => d.field("closed", &self.is_closing()),
        };
        d.finish()
    }
}

/// The future of [`TcpListener::accept`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Accept<'a> {
    l: &'a TcpListener,
}

impl Future for Accept<'_> {
    type Output = Result<TcpStream>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<TcpStream>> {
        self.l.poll_accept(cx)
    }
}

/// The stream of [`TcpListener::incoming`].
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct Incoming<'a> {
    l: &'a TcpListener,
}

impl Stream for Incoming<'_> {
    type Item = Result<TcpStream>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<TcpStream>>> {
        if self.l.is_closing() {
            return Poll::Ready(None);
        }
        self.l.poll_accept(cx).map(Some)
    }
}
