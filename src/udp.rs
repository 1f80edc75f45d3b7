//! UDP sockets (`uv_udp_t`): datagrams over IPv4 and IPv6, with callbacks or futures.
//!
//! Receiving uses one buffer per socket, allocated on the first read and reused for every
//! datagram (64 KiB, or 16 × 64 KiB with [`BindOptions::recvmmsg`]). Callbacks see each
//! datagram as a borrowed `&[u8]` inside it. The futures ([`UdpSocket::recv_from`],
//! [`UdpSocket::incoming`]) read into a bounded queue of recycled buffers; when it holds
//! [`QUEUE_MAX`] datagrams the socket stops reading until a consumer catches up, and the
//! kernel buffers (or drops) what arrives meanwhile.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::ffi::CString;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, fd_methods, handle_methods};
use crate::net_addr::{from_sockaddr, to_sockaddr};
use crate::req::{ReqBox, ReqOwner};
use crate::timer::Listener;

/// The largest datagram libuv reads at once (`UV__UDP_DGRAM_MAXSIZE`).
const DGRAM_MAX: usize = 64 * 1024;
/// Datagrams read per `recvmmsg` call (libuv uses at most 20).
const MMSG_CHUNKS: usize = 16;
/// How many received datagrams the futures' queue holds before the socket stops reading.
pub const QUEUE_MAX: usize = 64;

/// Flags that come with a received datagram.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RecvFlags(u32);

impl RecvFlags {
    /// The datagram was larger than the receive buffer and was cut short (`UV_UDP_PARTIAL`).
    pub fn is_partial(self) -> bool {
        self.0 & ffi::UV_UDP_PARTIAL != 0
    }

    /// The raw `UV_UDP_*` bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for RecvFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFlags")
            .field("partial", &self.is_partial())
            .finish()
    }
}

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
    pub fn new() -> BindOptions {
        BindOptions::default()
    }

    /// Disables dual-stack mode on an IPv6 socket (`UV_UDP_IPV6ONLY`).
    pub fn ipv6_only(mut self, on: bool) -> BindOptions {
        self.ipv6_only = on;
        self
    }

    /// Sets `SO_REUSEADDR` (`UV_UDP_REUSEADDR`): several sockets may bind the same address;
    /// on Linux the last one bound receives the traffic.
    pub fn reuse_addr(mut self, on: bool) -> BindOptions {
        self.reuse_addr = on;
        self
    }

    /// Sets `SO_REUSEPORT` (`UV_UDP_REUSEPORT`, libuv 1.49+): sockets bound to the same
    /// address share the incoming datagrams.
    pub fn reuse_port(mut self, on: bool) -> BindOptions {
        self.reuse_port = on;
        self
    }

    /// Reads several datagrams per system call with `recvmmsg(2)` where the platform has it
    /// (`UV_UDP_RECVMMSG`).
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

/// A received datagram, as the receive callback sees it: the bytes (borrowed from the
/// socket's receive buffer, valid during the callback), the sender, and flags.
pub type Datagram<'a> = (&'a [u8], SocketAddr, RecvFlags);

type RecvCallback = dyn FnMut(&UdpSocket, Result<Datagram<'_>>);
type SendDone = Box<dyn FnOnce(Result<usize>)>;

/// A datagram waiting in the futures' queue.
struct Packet {
    data: Vec<u8>,
    addr: SocketAddr,
}

/// The socket's receive buffer: allocated once, freed with the handle's state.
struct RecvBuf {
    ptr: NonNull<u8>,
    len: usize,
}

impl RecvBuf {
    fn new(len: usize) -> RecvBuf {
        let b: Box<[u8]> = vec![0u8; len].into_boxed_slice();
        let len = b.len();
        let ptr = NonNull::from(Box::leak(b)).cast::<u8>();
        RecvBuf { ptr, len }
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from a leaked `Box<[u8]>` of exactly this length, and
        // libuv no longer reads into it (the state is dropped in the close callback).
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            )))
        };
    }
}

pub(crate) struct UdpState {
    /// `Callback`: recv_start's callback. `Waiter`: the futures' queue mode (its waker is
    /// the consumer's). `None`: never started.
    listener: Cell<Listener<RecvCallback>>,
    reading: Cell<bool>,
    /// Queue mode with recvmmsg: stop reading at the end of the current batch.
    stop_after_batch: Cell<bool>,
    /// Receive futures and streams currently waiting (queue mode reads only while > 0).
    consumers: Cell<usize>,
    buf: OnceCell<RecvBuf>,
    queue: RefCell<VecDeque<Result<Packet>>>,
    spare: RefCell<Vec<Vec<u8>>>,
}

impl Drop for UdpState {
    fn drop(&mut self) {
        // The handle closed: a waiting future must poll again to see EBADF.
        if let Listener::Waiter { waker: Some(w), .. } = self.listener.take() {
            w.wake();
        }
    }
}

impl UdpState {
    fn push(&self, res: Result<Datagram<'_>>) {
        let item = res.map(|(data, addr, _)| {
            let mut v = self.spare.borrow_mut().pop().unwrap_or_default();
            v.clear();
            v.extend_from_slice(data);
            Packet { data: v, addr }
        });
        self.queue.borrow_mut().push_back(item);
    }

    fn recycle(&self, v: Vec<u8>) {
        let mut spare = self.spare.borrow_mut();
        if spare.len() < QUEUE_MAX {
            spare.push(v);
        }
    }

    fn clear_queue(&self) {
        let drained: Vec<_> = self.queue.borrow_mut().drain(..).collect();
        for p in drained.into_iter().flatten() {
            self.recycle(p.data);
        }
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
        let state = UdpState {
            listener: Cell::new(Listener::None),
            reading: Cell::new(false),
            stop_after_batch: Cell::new(false),
            consumers: Cell::new(0),
            buf: OnceCell::new(),
            queue: RefCell::new(VecDeque::new()),
            spare: RefCell::new(Vec::new()),
        };
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
    pub fn new(lp: &LoopHandle) -> Result<UdpSocket> {
        UdpSocket::init(lp, None)
    }

    /// Creates a socket bound to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// `EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`, with the address in the message.
    pub fn bind(lp: &LoopHandle, addr: SocketAddr) -> Result<UdpSocket> {
        UdpSocket::bind_with(lp, addr, BindOptions::new())
    }

    /// Creates a socket bound to `addr` with `opts` (`uv_udp_init_ex` + `uv_udp_bind`).
    ///
    /// # Errors
    ///
    /// As [`UdpSocket::bind`]; [`Error::UNSUPPORTED`] for `reuse_port` on a libuv older than
    /// 1.49; `ENOTSUP` where the platform lacks it.
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
    pub fn from_std(lp: &LoopHandle, sock: std::net::UdpSocket) -> Result<UdpSocket> {
        UdpSocket::open(lp, sock.into())
    }

    /// Sends every datagram to `addr` and receives only from it (`uv_udp_connect`).
    ///
    /// # Errors
    ///
    /// `EISCONN` when already connected.
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
        from_sockaddr((&raw const ss).cast()).ok_or_else(|| Error::EAFNOSUPPORT.with_operation(op))
    }

    /// The address the socket is bound to (`uv_udp_getsockname`).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed or not yet bound.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.sockname("local_addr", ffi::uv_udp_getsockname)
    }

    /// The address the socket is connected to (`uv_udp_getpeername`).
    ///
    /// # Errors
    ///
    /// `ENOTCONN` when not connected.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.sockname("peer_addr", ffi::uv_udp_getpeername)
    }

    fn submit_send(
        &self,
        data: Vec<u8>,
        to: Option<SocketAddr>,
        done: Option<SendDone>,
    ) -> Result<Option<ReqOwner<ffi::uv_udp_send_t, SendState>>> {
        let handle = self.h.with_raw(|h| h)?;
        let owned = done.is_none();
        let p = ReqBox::alloc(
            &self.loop_handle(),
            SendState {
                data,
                to,
                done: Cell::new(done),
                result: Cell::new(None),
            },
        )?;
        // SAFETY: `p` is a fresh box; the buffer lives in it until the completion callback.
        let st = unsafe { &p.as_ref().state };
        let buf = ffi::uv_buf_t {
            base: st.data.as_ptr().cast_mut().cast(),
            len: st.data.len(),
        };
        let sa = to.map(|a| to_sockaddr(&a).0);
        let sa_ptr = sa
            .as_ref()
            .map_or(std::ptr::null(), |s| std::ptr::from_ref(s).cast());
        // SAFETY: a fresh box; on_sent matches its types and ends with `complete`; libuv
        // copies the buffer list and the address; the bytes stay in the box until then.
        unsafe {
            ReqBox::submit(p, owned, |r| {
                ffi::uv_udp_send(r, handle, &buf, 1, sa_ptr, Some(on_sent))
            })
            .map_err(|e| send_context(e, to))?;
            Ok(owned.then(|| ReqOwner::new(p)))
        }
    }

    fn send_future(&self, data: Vec<u8>, to: Option<SocketAddr>) -> SendTo {
        match self.submit_send(data, to, None) {
            Ok(Some(o)) => SendTo(Ok(o)),
            Ok(None) => SendTo(Err(Some(Error::EINVAL))),
            Err(e) => SendTo(Err(Some(e))),
        }
    }

    /// Sends one datagram to `addr` (`uv_udp_send`); the future resolves to the number of
    /// bytes sent once libuv is done with the buffer.
    ///
    /// The send starts at once, before the future is polled; dropping the future does not
    /// stop it. The buffer is owned by the request until it completes.
    ///
    /// # Errors
    ///
    /// `EMSGSIZE` for a datagram larger than the protocol allows (65,507 bytes over IPv4),
    /// `EISCONN` on a connected socket, `EBADF` when closed, `ECANCELED` when the socket
    /// closes before the datagram went out.
    pub fn send_to(&self, data: impl Into<Vec<u8>>, addr: SocketAddr) -> SendTo {
        self.send_future(data.into(), Some(addr))
    }

    /// Sends one datagram on a connected socket; see [`send_to`](UdpSocket::send_to).
    ///
    /// # Errors
    ///
    /// `EDESTADDRREQ` when not connected; otherwise as `send_to`.
    pub fn send(&self, data: impl Into<Vec<u8>>) -> SendTo {
        self.send_future(data.into(), None)
    }

    /// Sends one datagram to `addr`; `done` gets the number of bytes sent (or the error) on
    /// the loop thread.
    ///
    /// # Errors
    ///
    /// Errors found before the send starts (`EBADF`, `EISCONN`, `EINVAL`) are returned here
    /// and `done` is not called; later ones go to `done`.
    pub fn send_to_cb(
        &self,
        data: impl Into<Vec<u8>>,
        addr: SocketAddr,
        done: impl FnOnce(Result<usize>) + 'static,
    ) -> Result<()> {
        self.submit_send(data.into(), Some(addr), Some(Box::new(done)))?;
        Ok(())
    }

    /// Sends one datagram on a connected socket; see [`send_to_cb`](UdpSocket::send_to_cb).
    ///
    /// # Errors
    ///
    /// As `send_to_cb`; `EDESTADDRREQ` when not connected.
    pub fn send_cb(
        &self,
        data: impl Into<Vec<u8>>,
        done: impl FnOnce(Result<usize>) + 'static,
    ) -> Result<()> {
        self.submit_send(data.into(), None, Some(Box::new(done)))?;
        Ok(())
    }

    fn try_send_raw(&self, data: &[u8], to: Option<SocketAddr>) -> Result<usize> {
        let buf = ffi::uv_buf_t {
            base: data.as_ptr().cast_mut().cast(),
            len: data.len(),
        };
        let sa = to.map(|a| to_sockaddr(&a).0);
        let sa_ptr = sa
            .as_ref()
            .map_or(std::ptr::null(), |s| std::ptr::from_ref(s).cast());
        // SAFETY: the handle is open; libuv reads `data` synchronously and never writes it.
        let n = self
            .h
            .call(|h| unsafe { ffi::uv_udp_try_send(h, &buf, 1, sa_ptr) })
            .map_err(|e| send_context(e, to))?;
        Ok(n as usize)
    }

    /// Sends one datagram to `addr` now if it can go out without waiting
    /// (`uv_udp_try_send`); returns the number of bytes sent.
    ///
    /// # Errors
    ///
    /// `EAGAIN` when it would have to wait (queued sends pending, or the kernel buffer is
    /// full); `EMSGSIZE` for an oversized datagram; as [`send_to`](UdpSocket::send_to).
    pub fn try_send_to(&self, data: &[u8], addr: SocketAddr) -> Result<usize> {
        self.try_send_raw(data, Some(addr))
    }

    /// [`try_send_to`](UdpSocket::try_send_to) on a connected socket.
    ///
    /// # Errors
    ///
    /// `EDESTADDRREQ` when not connected; otherwise as `try_send_to`.
    pub fn try_send(&self, data: &[u8]) -> Result<usize> {
        self.try_send_raw(data, None)
    }

    /// Bytes queued for sending (`uv_udp_get_send_queue_size`); 0 when closed.
    pub fn send_queue_size(&self) -> usize {
        // SAFETY: the handle is open.
        self.h
            .with_raw(|h| unsafe { ffi::uv_udp_get_send_queue_size(h) })
            .unwrap_or(0)
    }

    /// Send requests queued (`uv_udp_get_send_queue_count`); 0 when closed.
    pub fn send_queue_count(&self) -> usize {
        // SAFETY: the handle is open.
        self.h
            .with_raw(|h| unsafe { ffi::uv_udp_get_send_queue_count(h) })
            .unwrap_or(0)
    }

    fn start_reading(&self) -> Result<()> {
        let st = self.h.state()?;
        if st.reading.get() {
            return Ok(());
        }
        self.h
            // SAFETY: the handle is open; the callbacks match this handle's type.
            .call(|h| unsafe { ffi::uv_udp_recv_start(h, Some(on_alloc), Some(on_recv)) })
            .map_err(|e| e.with_operation("recv_start"))?;
        st.reading.set(true);
        Ok(())
    }

    fn stop_reading(&self, st: &UdpState) {
        // SAFETY: the handle is open (callers hold its state); stopping cannot fail.
        let _ = self.h.call(|h| unsafe { ffi::uv_udp_recv_stop(h) });
        st.reading.set(false);
        st.stop_after_batch.set(false);
    }

    /// Starts receiving: `callback` gets every datagram as `(bytes, sender, flags)`, or an
    /// error. The bytes are borrowed from the socket's receive buffer for the duration of
    /// the call. Replaces a previous callback; datagrams queued for the futures are dropped
    /// and a pending [`recv_from`](UdpSocket::recv_from) fails with `EBUSY`.
    ///
    /// An unbound socket is bound to `0.0.0.0` and a random port. Reading keeps the loop
    /// alive until [`recv_stop`](UdpSocket::recv_stop) or close.
    ///
    /// # Errors
    ///
    /// `EBADF` when closed.
    pub fn recv_start(
        &self,
        callback: impl FnMut(&UdpSocket, Result<Datagram<'_>>) + 'static,
    ) -> Result<()> {
        let st = self.h.state()?;
        let old = st.listener.replace(Listener::Callback(Box::new(callback)));
        if let Listener::Waiter { waker: Some(w), .. } = old {
            w.wake();
        }
        st.clear_queue();
        st.stop_after_batch.set(false);
        self.start_reading()
    }

    /// Stops receiving (`uv_udp_recv_stop`) and drops the receive callback. A pending
    /// future restarts reading when it is next polled.
    ///
    /// # Errors
    ///
    /// `EBADF` when closed.
    pub fn recv_stop(&self) -> Result<()> {
        let st = self.h.state()?;
        self.stop_reading(st);
        let old = st.listener.replace(Listener::Waiter {
            pending: 0,
            waker: None,
        });
        if let Listener::Waiter { waker: Some(w), .. } = old {
            w.wake();
        }
        Ok(())
    }

    /// True while the socket is reading (after `recv_start` or a receive future, until
    /// `recv_stop`, close, or a full queue).
    pub fn is_reading(&self) -> bool {
        self.h.state().is_ok_and(|st| st.reading.get())
    }

    /// True when the socket reads with `recvmmsg(2)` (`uv_udp_using_recvmmsg`).
    pub fn using_recvmmsg(&self) -> bool {
        // SAFETY: the handle is open.
        self.h
            .with_raw(|h| unsafe { ffi::uv_udp_using_recvmmsg(h) } != 0)
            .unwrap_or(false)
    }

    /// The next queued datagram, or registers the waker and makes sure the socket reads.
    fn poll_packet(&self, c: &mut Consumer, cx: &mut Context<'_>) -> Poll<Result<Packet>> {
        let st = match self.h.state() {
            Ok(st) => st,
            Err(e) => return Poll::Ready(Err(e)),
        };
        match st.listener.take() {
            cb @ Listener::Callback(_) => {
                st.listener.set(cb);
                return Poll::Ready(Err(
                    Error::EBUSY.with_operation("recv_from while recv_start is active")
                ));
            }
            _ => st.listener.set(Listener::Waiter {
                pending: 0,
                waker: Some(cx.waker().clone()),
            }),
        }
        if !c.counted {
            c.counted = true;
            st.consumers.set(st.consumers.get() + 1);
        }
        let next = st.queue.borrow_mut().pop_front();
        if let Some(p) = next {
            st.listener.set(Listener::Waiter {
                pending: 0,
                waker: None,
            });
            return Poll::Ready(p);
        }
        if let Err(e) = self.start_reading() {
            return Poll::Ready(Err(e));
        }
        Poll::Pending
    }

    /// A consumer (a receive future or stream) is done: with none left, stop reading so an
    /// idle socket does not keep the loop alive.
    fn release(&self, c: &mut Consumer) {
        if !std::mem::take(&mut c.counted) {
            return;
        }
        let Ok(st) = self.h.state() else { return };
        let n = st.consumers.get() - 1;
        st.consumers.set(n);
        if n == 0 && st.reading.get() {
            let l = st.listener.take();
            let queue_mode = matches!(l, Listener::Waiter { .. });
            st.listener.set(l);
            if queue_mode {
                self.stop_reading(st);
            }
        }
    }

    /// Receives one datagram into `buf` (cut short if `buf` is smaller, as with std) and
    /// returns its length and sender.
    ///
    /// The socket reads (and keeps the loop alive) while a receive future or an
    /// [`incoming`](UdpSocket::incoming) stream is waiting; datagrams that arrive meanwhile
    /// wait in a bounded queue. One task should receive from a socket at a time (only the
    /// latest waker is kept).
    ///
    /// # Errors
    ///
    /// `EBADF` when the socket is closed (also while waiting), `EBUSY` while a
    /// [`recv_start`](UdpSocket::recv_start) callback is installed, and receive errors
    /// such as `ECONNREFUSED` on a connected socket.
    pub async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        let mut c = ConsumerGuard {
            sock: self,
            c: Consumer::default(),
        };
        let p = std::future::poll_fn(|cx| self.poll_packet(&mut c.c, cx)).await?;
        let n = p.data.len().min(buf.len());
        buf[..n].copy_from_slice(&p.data[..n]);
        if let Ok(st) = self.h.state() {
            st.recycle(p.data);
        }
        Ok((n, p.addr))
    }

    /// [`recv_from`](UdpSocket::recv_from) without the sender, for connected sockets.
    ///
    /// # Errors
    ///
    /// As `recv_from`.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    /// A stream of received datagrams as owned `(bytes, sender)` pairs. It ends when the
    /// socket is closed. Shares the receive queue with `recv_from`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use uvio::{Loop, UdpSocket};
    ///
    /// let lp = Loop::new()?;
    /// let rx = UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let to = rx.local_addr()?;
    /// let got = lp.block_on(async {
    ///     for i in 0..3u8 {
    ///         tx.send_to(vec![i; 4], to).await.unwrap();
    ///     }
    ///     rx.incoming().take(3).map(|d| d.unwrap().0).collect::<Vec<_>>().await
    /// })?;
    /// assert_eq!(got, vec![vec![0; 4], vec![1; 4], vec![2; 4]]);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            g: ConsumerGuard {
                sock: self,
                c: Consumer::default(),
            },
        }
    }

    /// Turns sending broadcast datagrams on or off (`SO_BROADCAST`).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed or before the socket exists (bind first).
    pub fn set_broadcast(&self, on: bool) -> Result<()> {
        self.h
            // SAFETY: the handle is open.
            .call(|h| unsafe { ffi::uv_udp_set_broadcast(h, i32::from(on)) })
            .map_err(|e| e.with_operation("set_broadcast"))?;
        Ok(())
    }

    /// Sets the time to live of outgoing datagrams (`IP_TTL`/`IPV6_UNICAST_HOPS`), 1–255.
    ///
    /// # Errors
    ///
    /// `EINVAL` out of range; `EBADF` when closed or not yet bound.
    pub fn set_ttl(&self, ttl: u32) -> Result<()> {
        let ttl = ttl_arg(ttl)?;
        self.h
            // SAFETY: the handle is open.
            .call(|h| unsafe { ffi::uv_udp_set_ttl(h, ttl) })
            .map_err(|e| e.with_operation("set_ttl"))?;
        Ok(())
    }

    /// Sets the time to live of outgoing multicast datagrams, 0–255.
    ///
    /// # Errors
    ///
    /// `EINVAL` out of range; `EBADF` when closed or not yet bound.
    pub fn set_multicast_ttl(&self, ttl: u32) -> Result<()> {
        let ttl = ttl_arg(ttl)?;
        self.h
            // SAFETY: the handle is open.
            .call(|h| unsafe { ffi::uv_udp_set_multicast_ttl(h, ttl) })
            .map_err(|e| e.with_operation("set_multicast_ttl"))?;
        Ok(())
    }

    /// Whether multicast datagrams sent from this socket loop back to local sockets.
    ///
    /// # Errors
    ///
    /// `EBADF` when closed or not yet bound.
    pub fn set_multicast_loop(&self, on: bool) -> Result<()> {
        self.h
            // SAFETY: the handle is open.
            .call(|h| unsafe { ffi::uv_udp_set_multicast_loop(h, i32::from(on)) })
            .map_err(|e| e.with_operation("set_multicast_loop"))?;
        Ok(())
    }

    /// The interface (by address) multicast datagrams go out on; `None` for the default.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an address of the other family; `EADDRNOTAVAIL` when no interface has it.
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
    pub fn join_multicast(&self, group: IpAddr, interface: Option<IpAddr>) -> Result<()> {
        self.membership("join_multicast", group, interface, None, ffi::UV_JOIN_GROUP)
    }

    /// Leaves a multicast group joined with [`join_multicast`](UdpSocket::join_multicast).
    ///
    /// # Errors
    ///
    /// `EADDRNOTAVAIL` when not a member.
    pub fn leave_multicast(&self, group: IpAddr, interface: Option<IpAddr>) -> Result<()> {
        self.membership("leave_multicast", group, interface, None, ffi::UV_LEAVE_GROUP)
    }

    /// Joins the source-specific multicast group (`group`, `source`)
    /// (`uv_udp_set_source_membership`).
    ///
    /// # Errors
    ///
    /// As [`join_multicast`](UdpSocket::join_multicast); `ENOSYS` where unsupported.
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

fn send_context(e: Error, to: Option<SocketAddr>) -> Error {
    match to {
        Some(a) => e.with_context("send", a),
        None => e.with_operation("send"),
    }
}

/// The state of a send request: the bytes (owned until completion) and where the result goes.
pub(crate) struct SendState {
    data: Vec<u8>,
    to: Option<SocketAddr>,
    done: Cell<Option<SendDone>>,
    result: Cell<Option<Result<usize>>>,
}

/// The future of [`UdpSocket::send_to`] and [`UdpSocket::send`]: the number of bytes sent.
#[must_use = "the datagram is sent either way; await the future to learn the outcome"]
pub struct SendTo(std::result::Result<ReqOwner<ffi::uv_udp_send_t, SendState>, Option<Error>>);

impl Future for SendTo {
    type Output = Result<usize>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<usize>> {
        match &mut self.0 {
            Ok(o) => o.poll_done(cx, |b| {
                b.state
                    .result
                    .take()
                    .unwrap_or(Err(Error::ECANCELED.with_operation("send")))
            }),
            Err(e) => Poll::Ready(Err(e.take().unwrap_or(Error::EBADF))),
        }
    }
}

impl fmt::Debug for SendTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendTo")
            .field("done", &self.0.as_ref().map(|o| o.is_done()).unwrap_or(true))
            .finish()
    }
}

/// Whether a receive future or stream counts as waiting on its socket.
#[derive(Default)]
struct Consumer {
    counted: bool,
}

/// Releases its consumer's count when dropped (completed or cancelled).
struct ConsumerGuard<'a> {
    sock: &'a UdpSocket,
    c: Consumer,
}

impl Drop for ConsumerGuard<'_> {
    fn drop(&mut self) {
        self.sock.release(&mut self.c);
    }
}

/// The stream of [`UdpSocket::incoming`]. The socket reads while it exists (once polled).
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    g: ConsumerGuard<'a>,
}

impl Stream for Incoming<'_> {
    type Item = Result<(Vec<u8>, SocketAddr)>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let sock = self.g.sock;
        if sock.is_closing() {
            return Poll::Ready(None);
        }
        match sock.poll_packet(&mut self.g.c, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(p)) => Poll::Ready(Some(Ok((p.data, p.addr)))),
            Poll::Ready(Err(_)) if sock.is_closing() => Poll::Ready(None),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
        }
    }
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming").field("socket", self.g.sock).finish()
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

unsafe extern "C" fn on_alloc(h: *mut ffi::uv_handle_t, _size: usize, buf: *mut ffi::uv_buf_t) {
    // SAFETY: libuv calls this only for live UDP handles created by UdpSocket::init.
    let sock = unsafe { view(h.cast()) };
    let got = crate::panic::guard(sock.h.loop_inner(), || {
        // SAFETY: libuv calls handle callbacks only before the close callback.
        let st = unsafe { sock.h.state_unchecked() };
        let b = st.buf.get_or_init(|| {
            // SAFETY: the handle is live.
            let mmsg = unsafe { ffi::uv_udp_using_recvmmsg(sock.h.raw()) } != 0;
            RecvBuf::new(if mmsg { MMSG_CHUNKS * DGRAM_MAX } else { DGRAM_MAX })
        });
        (b.ptr.as_ptr(), b.len)
    });
    let (base, len) = got.unwrap_or((std::ptr::null_mut(), 0));
    // SAFETY: `buf` is the out-parameter libuv passed; the buffer stays allocated until the
    // state drops in the close callback, and libuv writes into it only inside its read.
    unsafe {
        (*buf).base = base.cast();
        (*buf).len = len;
    }
}

unsafe extern "C" fn on_recv(
    raw: *mut ffi::uv_udp_t,
    nread: isize,
    buf: *const ffi::uv_buf_t,
    addr: *const ffi::sockaddr,
    flags: u32,
) {
    // SAFETY: libuv calls this only for live UDP handles created by UdpSocket::init.
    let sock = unsafe { view(raw) };
    crate::panic::guard(sock.h.loop_inner(), || {
        // SAFETY: libuv calls handle callbacks only before the close callback.
        let st = unsafe { sock.h.state_unchecked() };
        if flags & ffi::UV_UDP_MMSG_FREE != 0 || (nread == 0 && addr.is_null()) {
            // The end of a recvmmsg batch, or nothing (more) to read: not a datagram. The
            // pooled buffer is not freed here; it belongs to the socket.
            if st.stop_after_batch.get() {
                sock.stop_reading(st);
            }
            return;
        }
        let res = if nread < 0 {
            let e = Error::from_code(nread as i32);
            Err(match from_sockaddr(addr) {
                Some(a) => e.with_context("recv", a),
                None => e.with_operation("recv"),
            })
        } else {
            let Some(from) = from_sockaddr(addr) else {
                return;
            };
            // SAFETY: libuv received `nread` bytes at `buf.base`, inside the socket's pooled
            // buffer, which nothing writes to while this callback runs.
            let data: &[u8] = unsafe {
                let base = (*buf).base.cast::<u8>();
                if base.is_null() {
                    &[]
                } else {
                    std::slice::from_raw_parts(base, (nread as usize).min((*buf).len))
                }
            };
            Ok((data, from, RecvFlags(flags & ffi::UV_UDP_PARTIAL)))
        };
        match st.listener.take() {
            Listener::Waiter { waker, .. } => {
                st.listener.set(Listener::Waiter {
                    pending: 0,
                    waker: None,
                });
                st.push(res);
                if st.queue.borrow().len() >= QUEUE_MAX {
                    if flags & ffi::UV_UDP_MMSG_CHUNK != 0 {
                        // Stopping now would drop the rest of this batch.
                        st.stop_after_batch.set(true);
                    } else {
                        sock.stop_reading(st);
                    }
                }
                if let Some(w) = waker {
                    w.wake();
                }
            }
            other => {
                st.listener.set(other);
                Listener::fire(&st.listener, |cb| cb(&sock, res));
            }
        }
    });
}

unsafe extern "C" fn on_sent(req: *mut ffi::uv_udp_send_t, status: i32) {
    // SAFETY: libuv calls this once for a live submitted box.
    let b = unsafe { ReqBox::<ffi::uv_udp_send_t, SendState>::from_raw(req) };
    let lp = b.loop_inner().clone();
    crate::panic::guard(&lp, || {
        let st = &b.state;
        let res = if status < 0 {
            Err(send_context(Error::from_code(status), st.to))
        } else {
            Ok(st.data.len())
        };
        match st.done.take() {
            Some(done) => done(res),
            None => st.result.set(Some(res)),
        }
    });
    // SAFETY: the completion callback of `req`, which is not used afterwards.
    unsafe { ReqBox::<ffi::uv_udp_send_t, SendState>::complete(req) };
}
