//! Writes: a `uv_write_t` request owns its buffers until its completion callback, and
//! finished requests go back to a small per-stream free list, so steady-state writing
//! allocates no requests (and, for `AsyncWrite`'s copies, no buffers either).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::{Handle, RawCb, StreamKind, StreamState, raw_stream, wrap_cb};
use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::req::{ReqBox, ReqOwner};

/// The most bytes one write may carry (libuv's `UV__IO_MAX_BYTES`).
pub(crate) const MAX_WRITE: usize = 0x7fff_f000;
/// Idle write requests kept per stream.
const FREE_MAX: usize = 8;
/// Copy buffers (of `AsyncWrite`) larger than this are not kept for reuse.
const SPARE_MAX: usize = 1 << 20;

/// An owned buffer for a stream write: made from `Vec<u8>`, `Box<[u8]>`, `String`,
/// `&'static [u8]` or `&'static str` with `into()`. The write request keeps it until the
/// write is done, then drops it.
///
/// # Examples
///
/// ```
/// use uvio::WriteBuf;
///
/// let a: WriteBuf = b"static bytes".into();
/// let b: WriteBuf = vec![1u8, 2, 3].into();
/// let c: WriteBuf = String::from("text").into();
/// assert_eq!(a.len() + b.len() + c.len(), 12 + 3 + 4);
/// ```
pub struct WriteBuf(Inner);

enum Inner {
    Vec(Vec<u8>),
    Boxed(Box<[u8]>),
    Static(&'static [u8]),
    /// `AsyncWrite`'s copy of a borrowed slice; its capacity is reused.
    Copy(Vec<u8>),
}

impl WriteBuf {
    /// The bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let buf = uvio::WriteBuf::from(vec![1u8, 2, 3]);
    /// assert_eq!(buf.as_slice(), &[1, 2, 3]);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Inner::Vec(v) | Inner::Copy(v) => v,
            Inner::Boxed(b) => b,
            Inner::Static(s) => s,
        }
    }

    /// Number of bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let buf = uvio::WriteBuf::from("four");
    /// assert_eq!(buf.len(), 4);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when there are no bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(uvio::WriteBuf::from(Vec::new()).is_empty());
    /// assert!(!uvio::WriteBuf::from("x").is_empty());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Vec<u8>> for WriteBuf {
    fn from(v: Vec<u8>) -> Self {
        WriteBuf(Inner::Vec(v))
    }
}
impl From<Box<[u8]>> for WriteBuf {
    fn from(v: Box<[u8]>) -> Self {
        WriteBuf(Inner::Boxed(v))
    }
}
impl From<String> for WriteBuf {
    fn from(v: String) -> Self {
        WriteBuf(Inner::Vec(v.into_bytes()))
    }
}
impl From<&'static [u8]> for WriteBuf {
    fn from(v: &'static [u8]) -> Self {
        WriteBuf(Inner::Static(v))
    }
}
impl<const N: usize> From<&'static [u8; N]> for WriteBuf {
    fn from(v: &'static [u8; N]) -> Self {
        WriteBuf(Inner::Static(v))
    }
}
impl From<&'static str> for WriteBuf {
    fn from(v: &'static str) -> Self {
        WriteBuf(Inner::Static(v.as_bytes()))
    }
}

impl fmt::Debug for WriteBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteBuf")
            .field("len", &self.len())
            .finish()
    }
}

/// The state of one write request.
pub(crate) struct WriteState {
    bufs: Cell<Vec<WriteBuf>>,
    iov: Cell<Vec<ffi::uv_buf_t>>,
    /// A cleared copy buffer, kept for the next `AsyncWrite` copy.
    spare: Cell<Vec<u8>>,
    cb: Cell<Option<RawCb>>,
    /// The stream's write side; valid until the stream's close callback, which libuv runs
    /// after every write callback.
    side: Cell<*const WriteSide>,
    status: Cell<i32>,
    /// Whether a `Write` future holds the request.
    future: Cell<bool>,
    /// The handle sent with `uv_write2`, kept open until the write is done.
    sent: Cell<Option<Sent>>,
}

/// A handle to send with a write (`uv_write2` on an IPC pipe): its stream, and its owner,
/// which the request keeps (so the handle stays open and allocated) until the write is
/// done, then drops.
pub(crate) struct Sent {
    pub(crate) raw: *mut ffi::uv_stream_t,
    pub(crate) _owner: Box<dyn std::any::Any>,
}

impl WriteState {
    fn new() -> Self {
        WriteState {
            bufs: Cell::new(Vec::new()),
            iov: Cell::new(Vec::new()),
            spare: Cell::new(Vec::new()),
            cb: Cell::new(None),
            side: Cell::new(std::ptr::null()),
            status: Cell::new(0),
            future: Cell::new(false),
            sent: Cell::new(None),
        }
    }
}

type Owner = ReqOwner<ffi::uv_write_t, WriteState>;

/// The write side of a stream's state.
#[derive(Default)]
pub(crate) struct WriteSide {
    free: Cell<Vec<Owner>>,
    pub(crate) in_flight: Cell<usize>,
    /// Woken when a write completes (`poll_flush`, `poll_write` under backpressure).
    pub(crate) flush: Cell<Option<Waker>>,
    /// A failed `AsyncWrite` write, reported by the next `poll_write`/`poll_flush`.
    pub(crate) error: Cell<Option<Error>>,
    /// `poll_close`'s shutdown, once started.
    pub(crate) close: Cell<Option<super::oneshot::ReqFuture<ffi::uv_shutdown_t>>>,
    pub(crate) closing: Cell<bool>,
    /// The stream's dropped owner while its queued writes finish (see `StreamOwner`).
    pub(crate) linger: Cell<Option<Box<dyn std::any::Any>>>,
}

impl WriteSide {
    fn take_free(&self) -> Option<Owner> {
        let mut f = self.free.take();
        let o = f.pop();
        self.free.set(f);
        o
    }

    fn recycle(&self, o: Owner) {
        let mut f = self.free.take();
        if f.len() < FREE_MAX {
            f.push(o);
        } else {
            drop(o);
        }
        self.free.set(f);
    }
}

unsafe extern "C" fn on_write(req: *mut ffi::uv_write_t, status: i32) {
    // SAFETY: libuv calls this once per submitted write, all of which are ReqBoxes of
    // WriteState; the box is alive until we complete or reclaim it below.
    let b = unsafe { ReqBox::<ffi::uv_write_t, WriteState>::from_raw(req) };
    let _scope = crate::panic::scope(b.loop_inner());
    let ws = &b.state;
    // SAFETY: write callbacks run before the stream's close callback, which drops the state
    // that holds the side; see `WriteState::side`.
    let side = unsafe { &*ws.side.get() };
    // SAFETY: libuv set `handle` when the write was submitted.
    let stream = unsafe { (*req).handle };
    crate::panic::guard(b.loop_inner(), || {
        side.in_flight.set(side.in_flight.get() - 1);
        ws.status.set(status);
        let mut bufs = ws.bufs.take();
        for wb in bufs.drain(..) {
            if let Inner::Copy(mut v) = wb.0 {
                if v.capacity() <= SPARE_MAX {
                    v.clear();
                    ws.spare.set(v);
                }
            }
        }
        ws.bufs.set(bufs);
        // The sent handle's descriptor is in the kernel's message now: close our copy.
        drop(ws.sent.take());
        let res = check(status)
            .map(drop)
            .map_err(|e| e.with_operation("write"));
        match ws.cb.take() {
            Some(cb) => cb(stream, res),
            None if !ws.future.get() => {
                if let Err(e) = res {
                    if e.code() != Error::ECANCELED.code() {
                        side.error.set(Some(e));
                    }
                }
            }
            None => {}
        }
        if let Some(w) = side.flush.take() {
            w.wake();
        }
    });
    if ws.future.get() {
        // SAFETY: the completion callback of `req`; the future's owner keeps the box.
        unsafe { ReqBox::<ffi::uv_write_t, WriteState>::complete(req) };
    } else {
        // SAFETY: submitted without an owner (`keep == false`); this is its completion.
        let o = unsafe { ReqBox::<ffi::uv_write_t, WriteState>::reclaim(req) };
        side.recycle(o);
    }
    if side.in_flight.get() == 0 {
        // A dropped stream whose last write is done: close it now.
        drop(side.linger.take());
    }
}

/// Fills a write's copy buffer with borrowed bytes.
type Fill<'a> = &'a dyn Fn(&mut Vec<u8>);

/// Submits a write of `bufs` (plus, from `copy`, a copy of borrowed bytes).
fn submit<T: StreamKind>(
    h: &Handle<T>,
    bufs: impl IntoIterator<Item = WriteBuf>,
    copy: Option<Fill<'_>>,
    cb: Option<RawCb>,
    future: bool,
    send: Option<Sent>,
) -> Result<Option<Owner>> {
    let st: &StreamState<T> = h.state()?;
    let side = &st.w;
    let req = match side.take_free() {
        Some(o) => o,
        None => Owner::idle(
            &LoopHandle {
                inner: h.loop_inner().clone(),
            },
            WriteState::new(),
        )?,
    };
    let ws = &req.get().state;
    let mut v = ws.bufs.take();
    v.extend(bufs);
    if let Some(fill) = copy {
        let mut c = ws.spare.take();
        fill(&mut c);
        v.push(WriteBuf(Inner::Copy(c)));
    }
    let total = v.iter().fold(0usize, |n, b| n.saturating_add(b.len()));
    if total > MAX_WRITE {
        v.clear();
        ws.bufs.set(v);
        side.recycle(req);
        return Err(Error::EINVAL.with_context("write", format_args!("{total} bytes")));
    }
    if v.is_empty() {
        v.push(WriteBuf(Inner::Static(&[])));
    }
    let mut iov = ws.iov.take();
    iov.clear();
    iov.extend(v.iter().map(|b| ffi::uv_buf_t {
        base: b.as_slice().as_ptr() as *mut ffi::c_char,
        len: b.len(),
    }));
    // Moving the vectors into the cells does not move the bytes the iovecs point at.
    ws.bufs.set(v);
    let (iov_ptr, n) = (iov.as_ptr(), iov.len() as u32);
    ws.iov.set(iov);
    ws.cb.set(cb);
    ws.side.set(side);
    ws.status.set(0);
    ws.future.set(future);
    let stream = raw_stream(h);
    let send_raw = send.as_ref().map_or(std::ptr::null_mut(), |s| s.raw);
    ws.sent.set(send);
    // SAFETY: the stream is open (checked by `state`); the iovecs point into buffers the
    // request owns until on_write, which ends with complete/reclaim as resubmit requires;
    // a sent handle is owned by the request until then too (null: a plain write).
    let r = unsafe {
        req.resubmit(future, |w| {
            ffi::uv_write2(w, stream, iov_ptr, n, send_raw, Some(on_write))
        })
    }
    .map_err(|e| {
        e.with_operation(if send_raw.is_null() {
            "write"
        } else {
            "write2"
        })
    })?;
    side.in_flight.set(side.in_flight.get() + 1);
    Ok(r)
}

/// A write with a completion callback.
pub(crate) fn write_cb<T: StreamKind>(
    h: &Handle<T>,
    bufs: impl IntoIterator<Item = WriteBuf>,
    cb: impl FnOnce(&T, Result<()>) + 'static,
) -> Result<()> {
    submit(h, bufs, None, Some(wrap_cb(cb)), false, None).map(drop)
}

/// A write that also sends a handle (`uv_write2`), with a completion callback.
pub(crate) fn write2_cb<T: StreamKind>(
    h: &Handle<T>,
    buf: WriteBuf,
    send: Sent,
    cb: impl FnOnce(&T, Result<()>) + 'static,
) -> Result<()> {
    submit(h, [buf], None, Some(wrap_cb(cb)), false, Some(send)).map(drop)
}

/// A write that also sends a handle (`uv_write2`), as a future.
pub(crate) fn write2_fut<T: StreamKind>(h: &Handle<T>, buf: WriteBuf, send: Sent) -> Write<'_> {
    future_of(h, submit(h, [buf], None, None, true, Some(send)))
}

/// A write whose completion nobody waits for, of the `len` bytes `fill` appends.
pub(crate) fn write_copy_with<T: StreamKind>(
    h: &Handle<T>,
    len: usize,
    fill: Fill<'_>,
) -> Result<()> {
    debug_assert!(len <= MAX_WRITE);
    submit(h, std::iter::empty(), Some(fill), None, false, None).map(drop)
}

/// A write as a future.
pub(crate) fn write_fut<'a, T: StreamKind>(
    h: &'a Handle<T>,
    bufs: impl IntoIterator<Item = WriteBuf>,
) -> Write<'a> {
    future_of(h, submit(h, bufs, None, None, true, None))
}

/// A write future that fails with `e` (a check before submitting failed).
pub(crate) fn write_failed<T: StreamKind>(h: &Handle<T>, e: Error) -> Write<'_> {
    future_of(h, Err(e))
}

fn future_of<T: StreamKind>(h: &Handle<T>, r: Result<Option<Owner>>) -> Write<'_> {
    let state = match r {
        Ok(Some(o)) => Ok(o),
        Ok(None) => Err(Some(Error::EINVAL)),
        Err(e) => Err(Some(e)),
    };
    Write { state, host: h }
}

/// `uv_try_write` of at most [`MAX_WRITE`] bytes of `buf`.
pub(crate) fn try_write<T: StreamKind>(h: &Handle<T>, buf: &[u8]) -> Result<usize> {
    let n = buf.len().min(MAX_WRITE);
    if n == 0 {
        h.state()?;
        return Ok(0);
    }
    let b = ffi::uv_buf_t {
        base: buf.as_ptr() as *mut ffi::c_char,
        len: n,
    };
    // SAFETY: the stream is open; `b` points at `n` readable bytes for the call's duration
    // (uv_try_write does not keep them).
    h.call(|s| unsafe { ffi::uv_try_write(s.cast(), &b, 1) })
        .map(|n| n as usize)
        .map_err(|e| e.with_operation("try_write"))
}

/// `uv_try_write` of `bufs` (one `writev`), at most [`MAX_WRITE`] bytes in all.
pub(crate) fn try_write_vectored<T: StreamKind>(
    h: &Handle<T>,
    bufs: &[std::io::IoSlice<'_>],
) -> Result<usize> {
    // Only the buffers that fit in one write (libuv refuses more than MAX_WRITE in all).
    let (mut n, mut total) = (0, 0usize);
    for b in bufs {
        if total + b.len() > MAX_WRITE {
            break;
        }
        total += b.len();
        n += 1;
    }
    if n == 0 {
        return match bufs.first() {
            Some(b) => try_write(h, b),
            None => h.state().map(|_| 0),
        };
    }
    let nbufs = u32::try_from(n).unwrap_or(u32::MAX);
    // SAFETY: the stream is open; `IoSlice` is ABI-compatible with `struct iovec` on Unix
    // (std's guarantee), and libuv's Unix `uv_buf_t` is declared to be castable to
    // `struct iovec` (same fields, same order), so `bufs` is `n` valid `uv_buf_t`s of
    // readable bytes for the duration of the call (uv_try_write keeps none of them).
    h.call(|s| unsafe { ffi::uv_try_write(s.cast(), bufs.as_ptr().cast::<ffi::uv_buf_t>(), nbufs) })
        .map(|n| n as usize)
        .map_err(|e| e.with_operation("try_write"))
}

/// `uv_stream_get_write_queue_size`; 0 once closed.
pub(crate) fn write_queue_size<T: StreamKind>(h: &Handle<T>) -> usize {
    // SAFETY: the stream is initialised and open.
    h.with_raw(|s| unsafe { ffi::uv_stream_get_write_queue_size(s.cast()) })
        .unwrap_or(0)
}

/// Gives a finished request back to its stream's free list (dropped if the stream closed).
pub(crate) trait Recycle {
    fn recycle(&self, o: Owner);
}

impl<T: StreamKind> Recycle for Handle<T> {
    fn recycle(&self, o: Owner) {
        match self.state() {
            Ok(st) => st.w.recycle(o),
            Err(_) => drop(o),
        }
    }
}

/// The future of a stream's `write`/`write_vectored`: resolves once the bytes are written.
///
/// The write was queued when `write` was called; dropping this future does not cancel it
/// (its buffers are freed when libuv is done).
///
/// # Examples
///
/// ```
/// use futures::AsyncReadExt;
///
/// let lp = uvio::Loop::new()?;
/// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// lp.block_on(async move {
///     let c = uvio::TcpStream::connect(addr).await?;
///     let s = listener.accept().await?;
///     c.write(vec![1u8, 2, 3]).await?; // an owned buffer, moved into the request
///     c.write_vectored(vec![b"ab".to_vec(), b"c".to_vec()]).await?;
///     let mut buf = [0u8; 6];
///     (&s).read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"\x01\x02\x03abc");
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Write<'a> {
    state: std::result::Result<Owner, Option<Error>>,
    host: &'a dyn Recycle,
}

impl Future for Write<'_> {
    type Output = Result<()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let status = match &mut self.state {
            Err(e) => return Poll::Ready(Err(e.take().unwrap_or(crate::handle::closed_error()))),
            Ok(o) => match o.poll_done(cx, |b| b.state.status.get()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(s) => s,
            },
        };
        if let Ok(o) = std::mem::replace(&mut self.state, Err(None)) {
            self.host.recycle(o);
        }
        Poll::Ready(
            check(status)
                .map(drop)
                .map_err(|e| e.with_operation("write")),
        )
    }
}

impl fmt::Debug for Write<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done = match &self.state {
            Ok(o) => o.is_done(),
            Err(_) => true,
        };
        f.debug_struct("Write").field("done", &done).finish()
    }
}
