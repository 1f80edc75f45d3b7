//! UDP sockets (`uv_udp_t`): datagrams over IPv4 and IPv6, with callbacks or futures.
//!
//! Receiving uses one buffer per socket, allocated on the first read and reused for every
//! datagram (64 KiB, or 16 × 64 KiB with [`BindOptions::recvmmsg`]). Callbacks see each
//! datagram as a borrowed `&[u8]` inside it. The futures ([`UdpSocket::recv_from`],
//! [`UdpSocket::incoming`]) read into a bounded queue of recycled buffers; when it holds
//! [`QUEUE_MAX`] datagrams the socket stops reading until a consumer catches up, and the
//! kernel buffers (or drops) what arrives meanwhile. In that mode the socket reads only while
//! a receive future or stream is waiting, so an idle socket does not keep the loop alive.
//!
//! libuv's receive-callback quirks are handled here, not passed on: "nothing more to read"
//! (`nread == 0` with no address) is not a datagram, while an empty datagram (`nread == 0`
//! with an address) is; with `recvmmsg` the per-datagram `UV_UDP_MMSG_CHUNK` calls point into
//! the pooled buffer and the final `UV_UDP_MMSG_FREE` call frees nothing (the buffer belongs to
//! the socket and is freed with it).

mod recv;
mod send;

use std::ffi::CString;
use std::fmt;
use std::mem::ManuallyDrop;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, fd_methods, handle_methods};
use crate::net_addr::{from_sockaddr, to_sockaddr};

use recv::UdpState;
pub use recv::{Datagram, Incoming, QUEUE_MAX, RecvFlags};
pub use send::SendTo;

/// How [`UdpSocket::bind_with`] creates and binds a socket.
///
/// # Examples
///
/// ```
/// use uvio::{Loop, udp::BindOptions, UdpSocket};
///
/// let lp = Loop::new()?;
/// let opts = BindOptions::new().reuse_addr(true).recvmmsg(true);
/// let s = UdpSocket::bind_with(&lp, "127.0.0.1:0".parse().unwrap(), opts)?;
/// assert_ne!(s.local_addr()?.port(), 0);
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindOptions {
    ipv6_only: bool,
    reuse_addr: bool,
    reuse_port: bool,
    recvmmsg: bool,
}

impl BindOptions {
    /// No flags: what [`UdpSocket::bind`] uses.
    ///
    /// # Examples
    ///
    /// ```
    /// let opts = uvio::udp::BindOptions::new();
    /// assert_eq!(opts, uvio::udp::BindOptions::default());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new() -> BindOptions {
        BindOptions::default()
    }

    /// Disables dual-stack mode on an IPv6 socket (`UV_UDP_IPV6ONLY`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let opts = uvio::udp::BindOptions::new().ipv6_only(true);
    /// let s = uvio::UdpSocket::bind_with(&lp, "[::1]:0".parse().unwrap(), opts)?;
    /// assert!(s.local_addr()?.is_ipv6());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn ipv6_only(mut self, on: bool) -> BindOptions {
        self.ipv6_only = on;
        self
    }

    /// Sets `SO_REUSEADDR` (`UV_UDP_REUSEADDR`): several sockets may bind the same address;
    /// on Linux the last one bound receives the traffic.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let opts = uvio::udp::BindOptions::new().reuse_addr(true);
    /// let a = uvio::UdpSocket::bind_with(&lp, "127.0.0.1:0".parse().unwrap(), opts)?;
    /// // A second socket may bind the same address.
    /// let b = uvio::UdpSocket::bind_with(&lp, a.local_addr()?, opts)?;
    /// assert_eq!(a.local_addr()?, b.local_addr()?);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn reuse_addr(mut self, on: bool) -> BindOptions {
        self.reuse_addr = on;
        self
    }

    /// Sets `SO_REUSEPORT` (`UV_UDP_REUSEPORT`, libuv 1.49+): sockets bound to the same
    /// address share the incoming datagrams.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let opts = uvio::udp::BindOptions::new().reuse_port(true);
    /// match uvio::UdpSocket::bind_with(&lp, "127.0.0.1:0".parse().unwrap(), opts) {
    ///     Ok(s) => assert_ne!(s.local_addr()?.port(), 0),
    ///     // libuv older than 1.49, or a platform without SO_REUSEPORT.
    ///     Err(e) => assert!(e.is_unsupported() || e.name() == "ENOTSUP"),
    /// }
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn reuse_port(mut self, on: bool) -> BindOptions {
        self.reuse_port = on;
        self
    }

    /// Reads several datagrams per system call with `recvmmsg(2)` where the platform has it
    /// (`UV_UDP_RECVMMSG`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let opts = uvio::udp::BindOptions::new().recvmmsg(true);
    /// let s = uvio::UdpSocket::bind_with(&lp, "127.0.0.1:0".parse().unwrap(), opts)?;
    /// assert_ne!(s.local_addr()?.port(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn recvmmsg(mut self, on: bool) -> BindOptions {
        self.recvmmsg = on;
        self
    }

    fn bind_flags(&self) -> Result<u32> {
        let mut f = 0;
        if self.ipv6_only {
            f |= ffi::UV_UDP_IPV6ONLY;
        }
        if self.reuse_addr {
            f |= ffi::UV_UDP_REUSEADDR;
        }
        if self.reuse_port {
            if crate::version() < (1, 49, 0) {
                return Err(Error::unsupported("UV_UDP_REUSEPORT"));
            }
            f |= ffi::UV_UDP_REUSEPORT;
        }
        Ok(f)
    }
}

/// A UDP socket (`uv_udp_t`).
///
/// Receive with a callback ([`recv_start`](UdpSocket::recv_start)) or with futures
/// ([`recv_from`](UdpSocket::recv_from), [`incoming`](UdpSocket::incoming)); send with
/// owned buffers ([`send_to`](UdpSocket::send_to), [`send_to_cb`](UdpSocket::send_to_cb))
/// or at once from a borrowed slice ([`try_send_to`](UdpSocket::try_send_to)).
///
/// # Examples
///
/// Futures:
///
/// ```
/// use uvio::{Loop, UdpSocket};
///
/// let lp = Loop::new()?;
/// let a = UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let b = UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let b_addr = b.local_addr()?;
/// let (n, from, data) = lp.block_on(async {
///     a.send_to(b"hello".to_vec(), b_addr).await?;
///     let mut buf = [0u8; 64];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     Ok::<_, uvio::Error>((n, from, buf))
/// })??;
/// assert_eq!(&data[..n], b"hello");
/// assert_eq!(from, a.local_addr()?);
/// # Ok::<(), uvio::Error>(())
/// ```
///
/// Callbacks:
///
/// ```
/// use uvio::{Loop, RunMode, UdpSocket};
///
/// let lp = Loop::new()?;
/// let server = UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = server.local_addr()?;
/// server.recv_start(|s, res| {
///     let (data, from, _flags) = res.unwrap();
///     // Echo it back, then stop.
///     s.try_send_to(data, from).unwrap();
///     s.close().unwrap();
/// })?;
/// let client = UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// client.send_to_cb(b"ping".to_vec(), addr, |r| assert_eq!(r.unwrap(), 4))?;
/// client.recv_start(|c, res| {
///     assert_eq!(res.unwrap().0, b"ping");
///     c.close().unwrap();
/// })?;
/// lp.run(RunMode::Default)?;
/// # Ok::<(), uvio::Error>(())
/// ```
///
/// A `UdpSocket` stays on its loop's thread:
///
/// ```compile_fail
/// let lp = uvio::Loop::new().unwrap();
/// let s = uvio::UdpSocket::new(&lp).unwrap();
/// std::thread::spawn(move || drop(s));
/// ```
pub struct UdpSocket {
    h: HandleRef<ffi::uv_udp_t, UdpState>,
}

handle_methods!(UdpSocket, h);
fd_methods!(UdpSocket, h);

fn ip_cstring(ip: IpAddr) -> Result<CString> {
    CString::new(ip.to_string()).map_err(|_| Error::EINVAL)
}

fn opt_ip_cstring(ip: Option<IpAddr>) -> Result<Option<CString>> {
    ip.map(ip_cstring).transpose()
}

fn opt_ptr(s: &Option<CString>) -> *const ffi::c_char {
    s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

fn ttl_arg(ttl: u32) -> Result<i32> {
    i32::try_from(ttl).map_err(|_| Error::EINVAL)
}

impl UdpSocket {
    fn init(lp: &LoopHandle, flags: Option<u32>) -> Result<UdpSocket> {
        let state = UdpState::new();
        // SAFETY: uv_udp_init/uv_udp_init_ex initialise a uv_udp_t on the loop.
        let h = unsafe {
            HandleRef::new(lp, state, |l, h| match flags {
                None => ffi::uv_udp_init(l, h),
                Some(f) => ffi::uv_udp_init_ex(l, h, f),
            })?
        };
        Ok(UdpSocket { h })
    }

    /// Creates an unbound socket (`uv_udp_init`). The OS socket is created on `bind`,
    /// `connect`, or the first send/receive (which binds it to `0.0.0.0` and a random port).
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::new(&lp)?;
    /// // No OS socket yet, so no address.
    /// assert!(s.local_addr().is_err());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new(lp: &LoopHandle) -> Result<UdpSocket> {
        UdpSocket::init(lp, None)
    }

    /// Creates a socket bound to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// `EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`, with the address in the message.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// assert!(s.local_addr()?.ip().is_loopback());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn bind(lp: &LoopHandle, addr: SocketAddr) -> Result<UdpSocket> {
        UdpSocket::bind_with(lp, addr, BindOptions::new())
    }

    /// Creates a socket bound to `addr` with `opts` (`uv_udp_init_ex` + `uv_udp_bind`).
    ///
    /// # Errors
    ///
    /// As [`UdpSocket::bind`]; [`Error::UNSUPPORTED`] for `reuse_port` on a libuv older than
    /// 1.49; `ENOTSUP` where the platform lacks it.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let opts = uvio::udp::BindOptions::new().reuse_addr(true);
    /// let s = uvio::UdpSocket::bind_with(&lp, "127.0.0.1:0".parse().unwrap(), opts)?;
    /// assert_ne!(s.local_addr()?.port(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn bind_with(lp: &LoopHandle, addr: SocketAddr, opts: BindOptions) -> Result<UdpSocket> {
        let flags = opts.bind_flags()?;
        let domain = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        } as u32;
        let mmsg = if opts.recvmmsg {
            ffi::UV_UDP_RECVMMSG
        } else {
            0
        };
        let s = UdpSocket::init(lp, Some(domain | mmsg))?;
        let (sa, _) = to_sockaddr(&addr);
        // SAFETY: the handle is open; `sa` is a valid socket address for the call.
        s.h.call(|h| unsafe { ffi::uv_udp_bind(h, (&raw const sa).cast(), flags) })
            .map_err(|e| e.with_context("bind", addr))?;
        Ok(s)
    }

    /// Wraps an existing datagram socket (`uv_udp_open`), which is made non-blocking and
    /// gets `SO_REUSEADDR`. The socket then belongs to the handle and is closed with it.
    ///
    /// # Errors
    ///
    /// `EEXIST` when the descriptor is already watched by this loop; the descriptor is
    /// closed on any error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let lp = uvio::Loop::new()?;
    /// let std_sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = std_sock.local_addr()?;
    /// let s = uvio::UdpSocket::open(&lp, OwnedFd::from(std_sock))?;
    /// assert_eq!(s.local_addr()?, addr);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn open(lp: &LoopHandle, sock: OwnedFd) -> Result<UdpSocket> {
        let s = UdpSocket::new(lp)?;
        let fd = sock.as_raw_fd();
        // SAFETY: the handle is open; `fd` is an open descriptor we own.
        s.h.call(|h| unsafe { ffi::uv_udp_open(h, fd) })
            .map_err(|e| e.with_operation("uv_udp_open"))?;
        // libuv closes the descriptor when the handle closes.
        std::mem::forget(sock);
        Ok(s)
    }

    /// Wraps a `std::net::UdpSocket` (see [`UdpSocket::open`]).
    ///
    /// # Errors
    ///
    /// As [`UdpSocket::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let std_sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = std_sock.local_addr()?;
    /// let s = uvio::UdpSocket::from_std(&lp, std_sock)?;
    /// assert_eq!(s.local_addr()?, addr);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn from_std(lp: &LoopHandle, sock: std::net::UdpSocket) -> Result<UdpSocket> {
        UdpSocket::open(lp, sock.into())
    }

    /// Sends every datagram to `addr` and receives only from it (`uv_udp_connect`).
    ///
    /// # Errors
    ///
    /// `EISCONN` when already connected.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let server = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let client = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// client.connect(server.local_addr()?)?;
    /// assert_eq!(client.peer_addr()?, server.local_addr()?);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn connect(&self, addr: SocketAddr) -> Result<()> {
        let (sa, _) = to_sockaddr(&addr);
        self.h
            // SAFETY: the handle is open; `sa` is a valid socket address for the call.
            .call(|h| unsafe { ffi::uv_udp_connect(h, (&raw const sa).cast()) })
            .map_err(|e| e.with_context("connect", addr))?;
        Ok(())
    }

    /// Undoes [`connect`](UdpSocket::connect).
    ///
    /// # Errors
    ///
    /// `ENOTCONN` when not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let server = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let client = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// client.connect(server.local_addr()?)?;
    /// client.disconnect()?;
    /// assert_eq!(client.peer_addr().unwrap_err().name(), "ENOTCONN");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn disconnect(&self) -> Result<()> {
        self.h
            // SAFETY: the handle is open; a null address disconnects.
            .call(|h| unsafe { ffi::uv_udp_connect(h, std::ptr::null()) })
            .map_err(|e| e.with_operation("disconnect"))?;
        Ok(())
    }

    fn sockname(
        &self,
        op: &'static str,
        f: unsafe extern "C" fn(*const ffi::uv_udp_t, *mut ffi::sockaddr, *mut i32) -> i32,
    ) -> Result<SocketAddr> {
        // SAFETY: sockaddr_storage is plain C data; all-zero is valid.
        let mut ss: ffi::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<ffi::sockaddr_storage>() as i32;
        self.h
            // SAFETY: the handle is open; libuv writes at most `len` bytes into `ss`.
            .call(|h| unsafe { f(h, (&raw mut ss).cast(), &mut len) })
            .map_err(|e| e.with_operation(op))?;
        // SAFETY: `ss` is a zeroed or libuv-filled sockaddr_storage.
        unsafe { from_sockaddr((&raw const ss).cast()) }
            .ok_or_else(|| Error::EAFNOSUPPORT.with_operation(op))
    }

    /// The address the socket is bound to (`uv_udp_getsockname`).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed or not yet bound.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let addr = s.local_addr()?;
    /// assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
    /// assert_ne!(addr.port(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.sockname("local_addr", ffi::uv_udp_getsockname)
    }

    /// The address the socket is connected to (`uv_udp_getpeername`).
    ///
    /// # Errors
    ///
    /// `ENOTCONN` when not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// assert_eq!(s.peer_addr().unwrap_err().name(), "ENOTCONN");
    /// s.connect("127.0.0.1:9".parse().unwrap())?;
    /// assert_eq!(s.peer_addr()?, "127.0.0.1:9".parse().unwrap());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.sockname("peer_addr", ffi::uv_udp_getpeername)
    }
}

impl UdpSocket {
    /// A `uv_udp_set_*(handle, int)` socket option.
    fn set_int(
        &self,
        op: &'static str,
        set: unsafe extern "C" fn(*mut ffi::uv_udp_t, i32) -> i32,
        v: i32,
    ) -> Result<()> {
        self.h
            // SAFETY: the handle is open; `set` is one of libuv's int-valued UDP setters.
            .call(|h| unsafe { set(h, v) })
            .map_err(|e| e.with_operation(op))?;
        Ok(())
    }

    /// Turns sending broadcast datagrams on or off (`SO_BROADCAST`).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed or before the socket exists (bind first).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "0.0.0.0:0".parse().unwrap())?;
    /// s.set_broadcast(true)?;
    /// s.set_broadcast(false)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_broadcast(&self, on: bool) -> Result<()> {
        self.set_int("set_broadcast", ffi::uv_udp_set_broadcast, i32::from(on))
    }

    /// Sets the time to live of outgoing datagrams (`IP_TTL`/`IPV6_UNICAST_HOPS`), 1–255.
    ///
    /// # Errors
    ///
    /// `EINVAL` out of range; `EBADF` when closed or not yet bound.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// s.set_ttl(64)?;
    /// assert_eq!(s.set_ttl(0).unwrap_err().name(), "EINVAL");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> Result<()> {
        self.set_int("set_ttl", ffi::uv_udp_set_ttl, ttl_arg(ttl)?)
    }

    /// Sets the time to live of outgoing multicast datagrams, 0–255.
    ///
    /// # Errors
    ///
    /// `EINVAL` out of range; `EBADF` when closed or not yet bound.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "0.0.0.0:0".parse().unwrap())?;
    /// s.set_multicast_ttl(1)?;
    /// assert_eq!(s.set_multicast_ttl(256).unwrap_err().name(), "EINVAL");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_multicast_ttl(&self, ttl: u32) -> Result<()> {
        self.set_int(
            "set_multicast_ttl",
            ffi::uv_udp_set_multicast_ttl,
            ttl_arg(ttl)?,
        )
    }

    /// Whether multicast datagrams sent from this socket loop back to local sockets.
    ///
    /// # Errors
    ///
    /// `EBADF` when closed or not yet bound.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "0.0.0.0:0".parse().unwrap())?;
    /// s.set_multicast_loop(false)?;
    /// s.set_multicast_loop(true)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_multicast_loop(&self, on: bool) -> Result<()> {
        self.set_int(
            "set_multicast_loop",
            ffi::uv_udp_set_multicast_loop,
            i32::from(on),
        )
    }

    /// The interface (by address) multicast datagrams go out on; `None` for the default.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an address of the other family; `EADDRNOTAVAIL` when no interface has it.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "0.0.0.0:0".parse().unwrap())?;
    /// s.set_multicast_interface(None)?;
    /// // An IPv6 address on an IPv4 socket is refused.
    /// assert!(s.set_multicast_interface(Some("::1".parse().unwrap())).is_err());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_multicast_interface(&self, interface: Option<IpAddr>) -> Result<()> {
        let iface = opt_ip_cstring(interface)?;
        self.h
            // SAFETY: the handle is open; the string (or null) is valid for the call.
            .call(|h| unsafe { ffi::uv_udp_set_multicast_interface(h, opt_ptr(&iface)) })
            .map_err(|e| e.with_operation("set_multicast_interface"))?;
        Ok(())
    }

    fn membership(
        &self,
        op: &'static str,
        group: IpAddr,
        interface: Option<IpAddr>,
        source: Option<IpAddr>,
        m: ffi::uv_membership,
    ) -> Result<()> {
        let g = ip_cstring(group)?;
        let iface = opt_ip_cstring(interface)?;
        let src = opt_ip_cstring(source)?;
        self.h
            // SAFETY: the handle is open; every string (or null) is valid for the call.
            .call(|h| unsafe {
                match &src {
                    None => ffi::uv_udp_set_membership(h, g.as_ptr(), opt_ptr(&iface), m),
                    Some(s) => ffi::uv_udp_set_source_membership(
                        h,
                        g.as_ptr(),
                        opt_ptr(&iface),
                        s.as_ptr(),
                        m,
                    ),
                }
            })
            .map_err(|e| e.with_context(op, group))?;
        Ok(())
    }

    /// Joins the multicast group `group` on `interface` (`None`: the system's choice).
    ///
    /// # Errors
    ///
    /// `EINVAL` when `group` is not a multicast address; `ENODEV`/`EADDRNOTAVAIL` when no
    /// interface can join it.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "0.0.0.0:0".parse().unwrap())?;
    /// // Not a multicast address: refused.
    /// let e = s.join_multicast("10.0.0.1".parse().unwrap(), None).unwrap_err();
    /// assert_eq!(e.name(), "EINVAL");
    /// // A real group; a host without a multicast route may refuse it.
    /// let group = "239.255.0.1".parse().unwrap();
    /// if s.join_multicast(group, Some("127.0.0.1".parse().unwrap())).is_ok() {
    ///     s.leave_multicast(group, Some("127.0.0.1".parse().unwrap()))?;
    /// }
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn join_multicast(&self, group: IpAddr, interface: Option<IpAddr>) -> Result<()> {
        self.membership("join_multicast", group, interface, None, ffi::UV_JOIN_GROUP)
    }

    /// Leaves a multicast group joined with [`join_multicast`](UdpSocket::join_multicast).
    ///
    /// # Errors
    ///
    /// `EADDRNOTAVAIL` when not a member.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "0.0.0.0:0".parse().unwrap())?;
    /// // Leaving a group never joined fails.
    /// let group = "239.255.0.2".parse().unwrap();
    /// assert!(s.leave_multicast(group, Some("127.0.0.1".parse().unwrap())).is_err());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn leave_multicast(&self, group: IpAddr, interface: Option<IpAddr>) -> Result<()> {
        self.membership(
            "leave_multicast",
            group,
            interface,
            None,
            ffi::UV_LEAVE_GROUP,
        )
    }

    /// Joins the source-specific multicast group (`group`, `source`)
    /// (`uv_udp_set_source_membership`).
    ///
    /// # Errors
    ///
    /// As [`join_multicast`](UdpSocket::join_multicast); `ENOSYS` where unsupported.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "0.0.0.0:0".parse().unwrap())?;
    /// let (group, lo) = ("232.1.1.1".parse().unwrap(), "127.0.0.1".parse().unwrap());
    /// // Hosts without multicast routing or SSM support refuse it.
    /// if s.join_source_specific(group, Some(lo), lo).is_ok() {
    ///     s.leave_source_specific(group, Some(lo), lo)?;
    /// }
    /// // A non-multicast group is always refused.
    /// assert!(s.join_source_specific(lo, Some(lo), lo).is_err());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn join_source_specific(
        &self,
        group: IpAddr,
        interface: Option<IpAddr>,
        source: IpAddr,
    ) -> Result<()> {
        self.membership(
            "join_source_specific",
            group,
            interface,
            Some(source),
            ffi::UV_JOIN_GROUP,
        )
    }

    /// Leaves a source-specific multicast group.
    ///
    /// # Errors
    ///
    /// `EADDRNOTAVAIL` when not a member.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = uvio::UdpSocket::bind(&lp, "0.0.0.0:0".parse().unwrap())?;
    /// let (group, lo) = ("232.1.1.2".parse().unwrap(), "127.0.0.1".parse().unwrap());
    /// // Leaving a group never joined fails.
    /// assert!(s.leave_source_specific(group, Some(lo), lo).is_err());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn leave_source_specific(
        &self,
        group: IpAddr,
        interface: Option<IpAddr>,
        source: IpAddr,
    ) -> Result<()> {
        self.membership(
            "leave_source_specific",
            group,
            interface,
            Some(source),
            ffi::UV_LEAVE_GROUP,
        )
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_closing() {
            return f.debug_struct("UdpSocket").field("closed", &true).finish();
        }
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .field("reading", &self.is_reading())
            .finish()
    }
}

// ---- trampolines ----

/// A borrowed view of the socket whose raw handle libuv passed to a callback.
///
/// # Safety
///
/// `raw` is a live handle created by [`UdpSocket::init`].
unsafe fn view(raw: *mut ffi::uv_udp_t) -> ManuallyDrop<UdpSocket> {
    ManuallyDrop::new(UdpSocket {
        // SAFETY: per the contract.
        h: ManuallyDrop::into_inner(unsafe { HandleRef::borrowed(raw) }),
    })
}
