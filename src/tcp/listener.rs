//! [`TcpListener`]: bind, listen, accept (callback, future, stream).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::{DEFAULT_BACKLOG, TcpStream, tcp_addr, tcp_init, tcp_open};
use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, fd_methods, handle_methods};
use crate::net_addr::to_sockaddr;
use crate::stream;

/// How [`TcpListener::bind_with`] binds.
///
/// # Examples
///
/// ```
/// use uvio::{Loop, TcpBindOptions, TcpListener};
///
/// let lp = Loop::new()?;
/// let opts = TcpBindOptions { backlog: 64, ..TcpBindOptions::default() };
/// let l = TcpListener::bind_with(&lp, "127.0.0.1:0".parse().unwrap(), opts)?;
/// assert!(l.local_addr()?.port() != 0);
/// # Ok::<(), uvio::Error>(())
/// ```
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

impl Drop for ListenerState {
    /// The listener has closed: wake a task waiting in `accept`, so it sees `EBADF`.
    fn drop(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
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

    /// Calls `callback` with each new connection (or an accept error). Replaces an earlier
    /// callback; a connection that was already waiting is delivered at once. Futures
    /// ([`accept`](Self::accept)) cannot be used while a callback is set.
    ///
    /// Out of descriptors (`EMFILE`), libuv sheds load instead of reporting an error: it
    /// frees a spare descriptor it keeps, accepts every pending connection and closes it
    /// at once (those clients see the connection closed), takes the spare again and keeps
    /// listening; the listener serves again once descriptors are free. libuv before 1.45
    /// may also report `EMFILE`/`ENFILE` here when it has no spare descriptor.
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
    /// Accept errors (rare: out of descriptors, libuv closes pending connections rather
    /// than report `EMFILE`; see [`on_connection`](Self::on_connection)), `EBADF` when the
    /// listener is closed, `EBUSY` while an [`on_connection`](Self::on_connection)
    /// callback is set.
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
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// lp.block_on(async move {
///     let (c, s) = futures::join!(uvio::TcpStream::connect(addr), listener.accept());
///     assert_eq!(c?.local_addr()?, s?.peer_addr()?);
///     Ok::<(), uvio::Error>(())
/// })??;
/// # Ok::<(), uvio::Error>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let lp = uvio::Loop::new()?;
/// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// lp.block_on(async move {
///     let _c = uvio::TcpStream::connect(addr).await?;
///     let first = listener.incoming().next().await.expect("open listener")?;
///     assert_eq!(first.local_addr()?, addr);
///     Ok::<(), uvio::Error>(())
/// })??;
/// # Ok::<(), uvio::Error>(())
/// ```
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
