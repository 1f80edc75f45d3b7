//! [`TcpListener`]: bind, listen, accept (callback, future, stream).

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use super::{DEFAULT_BACKLOG, TcpStream, tcp_addr, tcp_init, tcp_open};
use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{fd_methods, handle_methods};
use crate::net_addr::to_sockaddr;
use crate::stream;
use crate::stream::listen::{
    ListenerHandle, ListenerKind, ListenerState, accept_into, listen, listener_methods,
};

pub use crate::stream::listen::{Accept, Incoming};

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
    h: ListenerHandle<TcpListener>,
}

handle_methods!(TcpListener, h);
fd_methods!(TcpListener, h);
listener_methods!(TcpListener, TcpStream);

impl ListenerKind for TcpListener {
    type Raw = ffi::uv_tcp_t;
    type Stream = TcpStream;
    fn from_handle(h: ListenerHandle<Self>) -> Self {
        TcpListener { h }
    }
    fn handle(&self) -> &ListenerHandle<Self> {
        &self.h
    }
    fn accept_now(&self) -> Result<TcpStream> {
        let s = TcpStream::init(&self.loop_handle())?;
        accept_into(&self.h, stream::raw_stream(&s.h))?;
        Ok(s)
    }
}

impl TcpListener {
    /// Binds to `addr` and starts listening with backlog [`DEFAULT_BACKLOG`]. Port 0 picks
    /// a free port ([`local_addr`](Self::local_addr) tells which).
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` when the port is taken, `EADDRNOTAVAIL` for an address that is not
    /// local, `EACCES` for a privileged port, `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let addr = listener.local_addr()?;
    /// assert_ne!(addr.port(), 0);
    /// // The port is taken now.
    /// let e = uvio::TcpListener::bind(&lp, addr).unwrap_err();
    /// assert_eq!(e.name(), "EADDRINUSE");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn bind(lp: &LoopHandle, addr: SocketAddr) -> Result<TcpListener> {
        TcpListener::bind_with(lp, addr, TcpBindOptions::default())
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
    /// let lp = uvio::Loop::new()?;
    /// let addr = "127.0.0.1:0".parse().unwrap();
    /// let listener = uvio::TcpListener::bind_with_backlog(&lp, addr, 16)?;
    /// assert!(listener.local_addr()?.ip().is_loopback());
    /// # Ok::<(), uvio::Error>(())
    /// ```
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
    /// As [`bind`](Self::bind). With `reuse_port`: `UNSUPPORTED` on libuv before 1.49,
    /// `ENOTSUP`/`EINVAL` where the platform lacks `SO_REUSEPORT`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::{TcpBindOptions, TcpListener};
    /// let lp = uvio::Loop::new()?;
    /// let opts = TcpBindOptions { ipv6_only: true, ..TcpBindOptions::default() };
    /// let listener = TcpListener::bind_with(&lp, "[::1]:0".parse().unwrap(), opts)?;
    /// assert!(listener.local_addr()?.is_ipv6());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn bind_with(
        lp: &LoopHandle,
        addr: SocketAddr,
        opts: TcpBindOptions,
    ) -> Result<TcpListener> {
        let mut flags = 0;
        if opts.ipv6_only {
            flags |= ffi::UV_TCP_IPV6ONLY;
        }
        if opts.reuse_port {
            // An older libuv ignores the flag it does not know: the second bind would then
            // fail with a misleading EADDRINUSE.
            if crate::version() < (1, 49, 0) {
                return Err(Error::unsupported("UV_TCP_REUSEPORT"));
            }
            flags |= ffi::UV_TCP_REUSEPORT;
        }
        let l = TcpListener::init(lp)?;
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
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = std_listener.local_addr()?;
    /// let listener = uvio::TcpListener::from_std(&lp, std_listener)?;
    /// assert_eq!(listener.local_addr()?, addr);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn from_std(lp: &LoopHandle, l: std::net::TcpListener) -> Result<TcpListener> {
        let me = TcpListener::init(lp)?;
        tcp_open(&me.h, OwnedFd::from(l))?;
        me.listen(DEFAULT_BACKLOG)?;
        Ok(me)
    }

    fn init(lp: &LoopHandle) -> Result<TcpListener> {
        Ok(TcpListener {
            h: tcp_init(lp, ListenerState::new())?,
        })
    }

    fn listen(&self, backlog: u32) -> Result<()> {
        listen(&self.h, backlog)
    }

    /// The bound address (`uv_tcp_getsockname`).
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
    /// assert_eq!(listener.local_addr()?.ip(), std::net::Ipv4Addr::LOCALHOST);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr> {
        tcp_addr(&self.h, false)
    }

    /// `uv_tcp_simultaneous_accepts`: whether to accept several connections at once
    /// (Windows only; a no-op elsewhere).
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
    /// listener.set_simultaneous_accepts(true)?; // a no-op outside Windows
    /// # Ok::<(), uvio::Error>(())
    /// ```
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
