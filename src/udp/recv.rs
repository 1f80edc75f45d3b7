//! Receiving: the pooled buffer, the callback, and the futures' queue.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::{UdpSocket, view};
use crate::error::{Error, Result};
use crate::ffi;
use crate::net_addr::from_sockaddr;
use crate::timer::Listener;

/// The largest datagram libuv reads at once (`UV__UDP_DGRAM_MAXSIZE`).
const DGRAM_MAX: usize = 64 * 1024;
/// Datagrams read per `recvmmsg` call (libuv uses at most 20).
const MMSG_CHUNKS: usize = 16;
/// How many received datagrams the futures' queue holds before the socket stops reading.
///
/// # Examples
///
/// ```
/// // Datagrams beyond this many, unread by the futures, wait in the kernel instead.
/// assert!(uvio::udp::QUEUE_MAX > 0);
/// # Ok::<(), uvio::Error>(())
/// ```
pub const QUEUE_MAX: usize = 64;

/// Flags that come with a received datagram.
///
/// # Examples
///
/// ```
/// let flags = uvio::udp::RecvFlags::default();
/// assert!(!flags.is_partial());
/// assert_eq!(flags.bits(), 0);
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RecvFlags(u32);

impl RecvFlags {
    /// The datagram was larger than the receive buffer and was cut short (`UV_UDP_PARTIAL`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let partial = Rc::new(Cell::new(None));
    /// let p = partial.clone();
    /// rx.recv_start(move |s, r| {
    ///     p.set(Some(r.unwrap().2.is_partial()));
    ///     s.close().unwrap();
    /// })?;
    /// rx.try_send_to(b"small", rx.local_addr()?)?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(partial.get(), Some(false));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_partial(self) -> bool {
        self.0 & ffi::UV_UDP_PARTIAL != 0
    }

    /// The raw `UV_UDP_*` bits.
    ///
    /// # Examples
    ///
    /// ```
    /// let flags = uvio::udp::RecvFlags::default();
    /// assert_eq!(flags.bits(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
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

/// A received datagram, as the receive callback sees it: the bytes (borrowed from the
/// socket's receive buffer, valid during the callback), the sender, and flags.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let lp = uvio::Loop::new()?;
/// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let got = Rc::new(RefCell::new(Vec::new()));
/// let g = got.clone();
/// rx.recv_start(move |s, r: uvio::Result<uvio::udp::Datagram<'_>>| {
///     let (bytes, _from, _flags) = r.unwrap();
///     g.borrow_mut().extend_from_slice(bytes);
///     s.close().unwrap();
/// })?;
/// rx.try_send_to(b"dgram", rx.local_addr()?)?;
/// lp.run(uvio::RunMode::Default)?;
/// assert_eq!(*got.borrow(), b"dgram");
/// # Ok::<(), uvio::Error>(())
/// ```
pub type Datagram<'a> = (&'a [u8], SocketAddr, RecvFlags);

type RecvCallback = dyn FnMut(&UdpSocket, Result<Datagram<'_>>);

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
    idle_check: std::rc::Rc<IdleCheck>,
    buf: OnceCell<RecvBuf>,
    queue: RefCell<VecDeque<Result<Packet>>>,
    spare: RefCell<Vec<Vec<u8>>>,
}

/// A deferred "stop reading if nobody is waiting", shared with a `next_tick` closure.
struct IdleCheck {
    /// The socket's handle; null once its state is dropped (in the close callback).
    raw: Cell<*mut ffi::uv_udp_t>,
    scheduled: Cell<bool>,
}

impl Drop for UdpState {
    fn drop(&mut self) {
        // From now on a pending idle check must not touch the handle.
        self.idle_check.raw.set(std::ptr::null_mut());
        // The handle closed: a waiting future must poll again to see EBADF.
        if let Listener::Waiter { waker: Some(w), .. } = self.listener.take() {
            w.wake();
        }
    }
}

impl UdpState {
    pub(super) fn new() -> UdpState {
        UdpState {
            listener: Cell::new(Listener::None),
            reading: Cell::new(false),
            stop_after_batch: Cell::new(false),
            consumers: Cell::new(0),
            idle_check: std::rc::Rc::new(IdleCheck {
                raw: Cell::new(std::ptr::null_mut()),
                scheduled: Cell::new(false),
            }),
            buf: OnceCell::new(),
            queue: RefCell::new(VecDeque::new()),
            spare: RefCell::new(Vec::new()),
        }
    }

    /// True in the futures' queue mode (no receive callback installed).
    fn queue_mode(&self) -> bool {
        let l = self.listener.take();
        let q = matches!(l, Listener::Waiter { .. });
        self.listener.set(l);
        q
    }

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

impl UdpSocket {
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
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let from = Rc::new(RefCell::new(None));
    /// let f = from.clone();
    /// rx.recv_start(move |s, r| {
    ///     let (bytes, sender, _) = r.unwrap();
    ///     assert_eq!(bytes, b"ping");
    ///     *f.borrow_mut() = Some(sender);
    ///     s.close().unwrap();
    /// })?;
    /// tx.try_send_to(b"ping", rx.local_addr()?)?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(*from.borrow(), Some(tx.local_addr()?));
    /// # Ok::<(), uvio::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// rx.recv_start(|_, _| {})?;
    /// assert!(rx.is_reading());
    /// rx.recv_stop()?;
    /// assert!(!rx.is_reading());
    /// // Nothing keeps the loop alive now: it returns at once.
    /// lp.run(uvio::RunMode::Default)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// assert!(!rx.is_reading());
    /// rx.recv_start(|_, _| {})?;
    /// assert!(rx.is_reading());
    /// rx.close()?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_reading(&self) -> bool {
        self.h.state().is_ok_and(|st| st.reading.get())
    }

    /// True when the socket reads with `recvmmsg(2)` (`uv_udp_using_recvmmsg`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let plain = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// assert!(!plain.using_recvmmsg());
    /// let opts = uvio::udp::BindOptions::new().recvmmsg(true);
    /// let batched = uvio::UdpSocket::bind_with(&lp, "127.0.0.1:0".parse().unwrap(), opts)?;
    /// println!("recvmmsg in use: {}", batched.using_recvmmsg()); // depends on the platform
    /// # Ok::<(), uvio::Error>(())
    /// ```
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
        if n > 0 || !st.reading.get() || !st.queue_mode() {
            return;
        }
        let lp = self.h.loop_inner();
        if !lp.in_callback.get() {
            self.stop_reading(st);
            return;
        }
        // Inside a callback (a task being polled): a receive loop usually waits again in the
        // same poll, so decide once this callback is over instead of stopping and restarting
        // the watcher for every datagram.
        if st.idle_check.scheduled.replace(true) {
            return;
        }
        st.idle_check.raw.set(self.h.raw());
        let check = std::rc::Rc::clone(&st.idle_check);
        lp.push_next_tick(Box::new(move || stop_if_idle(&check)));
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
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let mut buf = [0u8; 16];
    /// let (n, from) = lp.block_on(async {
    ///     tx.send_to("hello", rx.local_addr()?).await?;
    ///     rx.recv_from(&mut buf).await
    /// })??;
    /// assert_eq!(&buf[..n], b"hello");
    /// assert_eq!(from, tx.local_addr()?);
    /// # Ok::<(), uvio::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let a = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let b = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// a.connect(b.local_addr()?)?;
    /// b.connect(a.local_addr()?)?;
    /// let mut buf = [0u8; 16];
    /// let n = lp.block_on(async {
    ///     a.send("hi").await?;
    ///     b.recv(&mut buf).await
    /// })??;
    /// assert_eq!(&buf[..n], b"hi");
    /// # Ok::<(), uvio::Error>(())
    /// ```
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
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// let lp = uvio::Loop::new()?;
/// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// rx.try_send_to(b"one", rx.local_addr()?)?;
/// let first = lp.block_on(async { rx.incoming().next().await })?;
/// assert_eq!(first.unwrap()?.0, b"one");
/// # Ok::<(), uvio::Error>(())
/// ```
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
        f.debug_struct("Incoming")
            .field("socket", self.g.sock)
            .finish()
    }
}

/// Runs as a `next_tick` after a receive future or stream let go inside a callback.
fn stop_if_idle(check: &IdleCheck) {
    check.scheduled.set(false);
    let raw = check.raw.get();
    if raw.is_null() {
        return;
    }
    // SAFETY: `raw` is non-null only while the socket's state is alive, and the handle box
    // is freed only after its state is dropped; so the box is alive here.
    let sock = unsafe { view(raw) };
    let Ok(st) = sock.h.state() else { return };
    if st.consumers.get() == 0 && st.reading.get() && st.queue_mode() {
        sock.stop_reading(st);
    }
}

unsafe extern "C" fn on_alloc(h: *mut ffi::uv_handle_t, _size: usize, buf: *mut ffi::uv_buf_t) {
    // SAFETY: libuv calls this only for live UDP handles created by UdpSocket::init.
    let sock = unsafe { view(h.cast()) };
    let got = crate::panic::guard_alloc(sock.h.loop_inner(), || {
        // SAFETY: libuv calls handle callbacks only before the close callback.
        let st = unsafe { sock.h.state_unchecked() };
        let b = st.buf.get_or_init(|| {
            // SAFETY: the handle is live.
            let mmsg = unsafe { ffi::uv_udp_using_recvmmsg(sock.h.raw()) } != 0;
            RecvBuf::new(if mmsg {
                MMSG_CHUNKS * DGRAM_MAX
            } else {
                DGRAM_MAX
            })
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
    let _scope = crate::panic::scope(sock.h.loop_inner());
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
            // SAFETY: libuv passes null or a valid sender address.
            Err(match unsafe { from_sockaddr(addr) } {
                Some(a) => e.with_context("recv", a),
                None => e.with_operation("recv"),
            })
        } else {
            // SAFETY: libuv passes null or a valid sender address.
            let Some(from) = (unsafe { from_sockaddr(addr) }) else {
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
