//! Streams (`uv_stream_t`): the reading, writing and shutdown machinery that TCP, pipes and
//! TTYs share.
//!
//! A stream type (`TcpStream`, later `PipeStream`, `Tty`) is a thin shell around a
//! `HandleRef<H, StreamState<Self>>` where `H` is its libuv struct (`uv_tcp_t`, ...), which
//! starts with `uv_stream_t`'s fields. It implements [`StreamKind`] and gets its public stream
//! API from the [`stream_methods!`] macro, which delegates to the generic functions here.
//!
//! Reading: the alloc callback hands libuv a 64 KiB buffer from a per-thread pool (sized
//! from demand: as many spare buffers as were in use at once lately, bounded). In
//! callback mode the read callback borrows the bytes and the buffer goes back to the pool at
//! once, so idle connections hold no buffer. In future mode ([`futures_io::AsyncRead`]) the
//! buffer stays with the stream while it holds bytes not yet read by the caller: libuv reads
//! into its free tail, `poll_read` copies from its head (and returns the buffer to the pool
//! once drained), and reading stops while it is (nearly) full. No allocation per read.
//!
//! Writing: see [`write`]. Connect and shutdown requests: see [`oneshot`].

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};
use crate::event_loop::LoopInner;
use crate::ffi;
use crate::handle::HandleRef;

pub(crate) mod io;
pub(crate) mod listen;
pub(crate) mod oneshot;
pub(crate) mod write;

pub use io::{ReadHalf, WriteHalf};
pub use oneshot::Shutdown;
pub use write::{Write, WriteBuf};

/// Size of a stream's pooled read buffer.
pub(crate) const READ_BUF: usize = 64 * 1024;
/// Future mode stops reading when less than this much room is left in the buffer.
const MIN_ROOM: usize = 4 * 1024;

/// A libuv stream handle type and the public shell around it.
pub(crate) trait StreamKind: Sized + 'static {
    /// The libuv struct (`uv_tcp_t`, `uv_pipe_t`, `uv_tty_t`).
    type Raw: 'static;
    /// Wraps an owner (or, inside `ManuallyDrop`, a borrowed view).
    fn from_handle(h: Handle<Self>) -> Self;
    /// The handle inside.
    fn handle(&self) -> &Handle<Self>;
}

/// The handle box type of stream type `T`.
pub(crate) type Handle<T> = HandleRef<<T as StreamKind>::Raw, StreamState<T>>;

/// The owner of a stream's handle, as its public type holds it.
///
/// Dropped while writes are still queued, it does not close the stream: as the kernel does
/// for a closed socket, the bytes already accepted are delivered first. Reading stops, the
/// owner parks itself in the stream's own state, and the last write's completion drops it,
/// which closes the stream (a write that fails, the peer gone, completes too). A stream
/// closed explicitly (`close`, `close_reset`) or by the loop's shutdown cancels its queued
/// writes instead.
pub(crate) struct StreamOwner<T: StreamKind>(ManuallyDrop<Handle<T>>);

impl<T: StreamKind> StreamOwner<T> {
    pub(crate) fn new(h: Handle<T>) -> Self {
        StreamOwner(ManuallyDrop::new(h))
    }
}

impl<T: StreamKind> std::ops::Deref for StreamOwner<T> {
    type Target = Handle<T>;
    #[inline]
    fn deref(&self) -> &Handle<T> {
        &self.0
    }
}

impl<T: StreamKind> Drop for StreamOwner<T> {
    fn drop(&mut self) {
        // SAFETY: taken once, here; the field is not used again.
        let h = unsafe { ManuallyDrop::take(&mut self.0) };
        // SAFETY: `h` owns the box, which stays allocated while the view is used: the owner
        // moves into the box's own state below, not away.
        let view = unsafe { HandleRef::<T::Raw, StreamState<T>>::borrowed(h.raw()) };
        let Ok(st) = view.state() else { return };
        if st.w.in_flight.get() == 0 {
            return;
        }
        stop_reading(&h);
        st.reader.set(Reader::Idle);
        st.w.linger.set(Some(Box::new(h)));
    }
}

/// The `uv_stream_t` of a stream handle.
#[inline]
pub(crate) fn raw_stream<T: StreamKind>(h: &Handle<T>) -> *mut ffi::uv_stream_t {
    h.raw().cast()
}

/// A borrowed view of the stream libuv passed to a callback; never closes or frees.
///
/// # Safety
///
/// `raw` is a live stream handle created as a `Handle<T>`, whose close callback has not run.
#[inline]
pub(crate) unsafe fn view<T: StreamKind>(raw: *mut ffi::uv_stream_t) -> ManuallyDrop<T> {
    // SAFETY: per the contract; the view is ManuallyDrop so it neither closes nor frees.
    let h = unsafe { HandleRef::borrowed(raw.cast::<T::Raw>()) };
    ManuallyDrop::new(T::from_handle(ManuallyDrop::into_inner(h)))
}

type ReadCb<T> = Box<dyn FnMut(&T, Result<&[u8]>)>;

/// A completion callback of a stream request, erased over the stream type: it gets the
/// request's `handle` field. Made by [`wrap_cb`].
pub(crate) type RawCb = Box<dyn FnOnce(*mut ffi::uv_stream_t, Result<()>)>;

/// Erases `cb` over the stream type. The result must only be called by a completion
/// callback of a request on a `Handle<T>` stream, with the request's `handle`, before the
/// stream's close callback (libuv runs write, connect and shutdown callbacks, cancelled ones
/// included, before it).
pub(crate) fn wrap_cb<T: StreamKind>(cb: impl FnOnce(&T, Result<()>) + 'static) -> RawCb {
    Box::new(move |raw, r| {
        // SAFETY: per wrap_cb's rule, `raw` is a live Handle<T> stream whose close callback
        // has not run.
        let s = unsafe { view::<T>(raw) };
        cb(&s, r)
    })
}

/// Who consumes the bytes read.
#[derive(Default)]
enum Reader<T> {
    /// Nobody yet: bytes read stay queued.
    #[default]
    Idle,
    /// `read_start`'s callback.
    Callback(ReadCb<T>),
    /// `AsyncRead`: bytes are queued; the waker of a pending `poll_read`.
    Async(Option<Waker>),
}

/// The loop's idle read buffers (in `LoopInner::read_bufs`), sized from demand: a stream
/// holds a buffer only while libuv reads into it or while it has bytes queued for
/// `AsyncRead`, so idle connections cost none; the pool keeps as many spare buffers as were
/// in use at once lately (at most [`POOL_MAX`]), so a steady load of N busy connections
/// reuses N buffers instead of freeing and reallocating 64 KiB each time one is drained.
/// Per loop rather than per thread: a thread-local would register a thread-exit
/// destructor, which must not outlive a host's unload of the library.
#[derive(Default)]
pub(crate) struct Pool {
    free: Vec<Vec<u8>>,
    /// Buffers handed out and not yet returned.
    out: usize,
    /// The most in use at once during this window and the previous one: the spare
    /// buffers kept are at most their maximum, so the pool shrinks again two windows after
    /// the load fell.
    peak: usize,
    prev_peak: usize,
    /// Buffers handed out in this window (a window is [`POOL_WINDOW`] of them).
    taken: usize,
}

/// The most idle read buffers kept per loop (16 MiB).
const POOL_MAX: usize = 256;
/// Buffers handed out per window of the demand estimate.
const POOL_WINDOW: usize = 1 << 14;

impl Pool {
    /// How many spare buffers to keep.
    fn keep(&self) -> usize {
        self.peak.max(self.prev_peak).min(POOL_MAX)
    }

    fn take(&mut self) -> Vec<u8> {
        self.out += 1;
        self.peak = self.peak.max(self.out);
        self.taken += 1;
        if self.taken == POOL_WINDOW {
            self.taken = 0;
            self.prev_peak = self.peak;
            self.peak = self.out;
            let keep = self.keep();
            self.free.truncate(keep);
        }
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(READ_BUF))
    }

    fn give(&mut self, mut v: Vec<u8>) {
        // Only a buffer `take` handed out (an empty `Vec` holds none).
        if v.capacity() < READ_BUF {
            return;
        }
        self.out = self.out.saturating_sub(1);
        v.clear();
        if self.free.len() < self.keep() {
            self.free.push(v);
        }
    }
}

fn pool_take(lp: &LoopInner) -> Vec<u8> {
    lp.read_bufs.borrow_mut().take()
}

fn pool_give(lp: &LoopInner, v: Vec<u8>) {
    lp.read_bufs.borrow_mut().give(v);
}

/// The state of every stream handle.
pub(crate) struct StreamState<T> {
    reader: Cell<Reader<T>>,
    /// Whether `uv_read_start` is in effect.
    reading: Cell<bool>,
    /// The pooled read buffer; in future mode bytes `rpos..len` are queued for the reader.
    rbuf: Cell<Vec<u8>>,
    rpos: Cell<usize>,
    /// Future mode: the end of the stream (`EOF`) or a read error, reported after the queue.
    read_end: Cell<Option<Error>>,
    /// Writes and shutdown.
    pub(crate) w: write::WriteSide,
}

impl<T> StreamState<T> {
    pub(crate) fn new() -> Self {
        StreamState {
            reader: Cell::new(Reader::Idle),
            reading: Cell::new(false),
            rbuf: Cell::new(Vec::new()),
            rpos: Cell::new(0),
            read_end: Cell::new(None),
            w: write::WriteSide::default(),
        }
    }

    fn is_callback(&self) -> bool {
        let r = self.reader.take();
        let yes = matches!(r, Reader::Callback(_));
        self.reader.set(r);
        yes
    }

    /// Stores the read buffer back, or gives it to the pool when nothing is queued in it.
    fn put_back(&self, lp: &LoopInner, v: Vec<u8>) {
        if v.len() == self.rpos.get() {
            self.rpos.set(0);
            pool_give(lp, v);
        } else {
            self.rbuf.set(v);
        }
    }

    fn queued(&self) -> usize {
        let v = self.rbuf.take();
        let n = v.len() - self.rpos.get();
        self.rbuf.set(v);
        n
    }
}

impl<T> Drop for StreamState<T> {
    /// The stream has closed: wake a task waiting to read or flush, so it sees `EBADF`
    /// instead of waiting forever.
    fn drop(&mut self) {
        if let Reader::Async(Some(w)) = self.reader.take() {
            w.wake();
        }
        if let Some(w) = self.w.flush.take() {
            w.wake();
        }
        // Freed, not pooled (no loop at hand here); a closing stream rarely holds one.
        drop(self.rbuf.take());
    }
}

// ----- reading -----

/// Starts reading with `cb` (or replaces the callback of a stream already reading).
pub(crate) fn read_start<T: StreamKind>(h: &Handle<T>, cb: ReadCb<T>) -> Result<()> {
    let st = h.state()?;
    if let Reader::Async(Some(w)) = st.reader.replace(Reader::Callback(cb)) {
        w.wake();
    }
    st.read_end.set(None);
    ensure_reading(h).map_err(|e| {
        // Not reading: do not keep the callback (and what it captured).
        st.reader.set(Reader::Idle);
        e.with_operation("read_start")
    })
}

fn ensure_reading<T: StreamKind>(h: &Handle<T>) -> Result<()> {
    let st = h.state()?;
    if st.reading.get() {
        return Ok(());
    }
    // SAFETY: the stream is open; the callbacks match this handle's type.
    h.call(|s| unsafe { ffi::uv_read_start(s.cast(), Some(on_alloc::<T>), Some(on_read::<T>)) })?;
    st.reading.set(true);
    Ok(())
}

/// Stops reading (`uv_read_stop`); drops the read callback.
pub(crate) fn read_stop<T: StreamKind>(h: &Handle<T>) -> Result<()> {
    let st = h.state()?;
    stop_reading(h);
    match st.reader.take() {
        Reader::Async(w) => {
            st.reader.set(Reader::Async(None));
            if let Some(w) = w {
                w.wake();
            }
        }
        _ => st.reader.set(Reader::Idle),
    }
    Ok(())
}

fn stop_reading<T: StreamKind>(h: &Handle<T>) {
    // SAFETY: the stream is initialised; uv_read_stop is harmless when not reading.
    let _ = h.with_raw(|s| unsafe { ffi::uv_read_stop(s.cast()) });
    // SAFETY: called on an open stream or from a callback (before the close callback).
    unsafe { h.state_unchecked() }.reading.set(false);
}

unsafe extern "C" fn on_alloc<T: StreamKind>(
    raw: *mut ffi::uv_handle_t,
    _suggested: usize,
    buf: *mut ffi::uv_buf_t,
) {
    // SAFETY: libuv passes a writable uv_buf_t; an empty one makes it report ENOBUFS.
    unsafe {
        (*buf).base = std::ptr::null_mut();
        (*buf).len = 0;
    }
    // SAFETY: libuv calls this only for live streams created as Handle<T>.
    let s = unsafe { view::<T>(raw.cast()) };
    crate::panic::guard_alloc(s.handle().loop_inner(), || {
        // SAFETY: a read callback of a live handle: its state is alive.
        let st = unsafe { s.handle().state_unchecked() };
        let mut v = st.rbuf.take();
        if v.capacity() == 0 {
            v = pool_take(s.handle().loop_inner());
        }
        let rpos = st.rpos.get();
        if rpos == v.len() {
            v.clear();
            st.rpos.set(0);
        } else if rpos > 0 && v.capacity() - v.len() < MIN_ROOM {
            v.copy_within(rpos.., 0);
            v.truncate(v.len() - rpos);
            st.rpos.set(0);
        }
        let room = v.capacity() - v.len();
        // SAFETY: `buf` is writable; the region handed out is the vector's spare capacity,
        // which nothing touches until libuv's read callback (no user code runs in between)
        // and which stays put because the vector is not resized meanwhile.
        unsafe {
            (*buf).base = v.as_mut_ptr().add(v.len()).cast();
            (*buf).len = room;
        }
        st.rbuf.set(v);
    });
}

unsafe extern "C" fn on_read<T: StreamKind>(
    raw: *mut ffi::uv_stream_t,
    nread: isize,
    buf: *const ffi::uv_buf_t,
) {
    // SAFETY: libuv calls this only for live streams created as Handle<T>.
    let s = unsafe { view::<T>(raw) };
    let h = s.handle();
    let _scope = crate::panic::scope(h.loop_inner());
    crate::panic::guard(h.loop_inner(), || {
        // SAFETY: a read callback of a live handle: its state is alive.
        let st = unsafe { h.state_unchecked() };
        let mut v = st.rbuf.take();
        if nread > 0 {
            let n = nread as usize;
            let tail = v.as_ptr().wrapping_add(v.len());
            // SAFETY: `buf` is the buffer our alloc callback filled in.
            let (base, len) = unsafe { ((*buf).base as *const u8, (*buf).len) };
            if base != tail || n > len || n > v.capacity() - v.len() {
                debug_assert!(false, "read into a buffer that is not the stream's");
                st.put_back(h.loop_inner(), v);
                return;
            }
            // SAFETY: libuv (the kernel) initialised `n` bytes of the spare capacity.
            unsafe { v.set_len(v.len() + n) };
        }
        let result = match nread {
            0 => None,
            n if n > 0 => Some(Ok(())),
            n => Some(Err(Error::from_code(n as i32))),
        };
        match st.reader.take() {
            Reader::Callback(mut cb) => {
                let rpos = st.rpos.replace(0);
                let has_data = v.len() > rpos;
                // A buffer left full by AsyncRead (then switched to a callback) makes libuv
                // report ENOBUFS: deliver what is queued instead.
                let result = match result {
                    Some(Err(e)) if e.code() == Error::ENOBUFS.code() && has_data => None,
                    r => r,
                };
                if has_data {
                    cb(&s, Ok(&v[rpos..]));
                }
                v.clear();
                st.put_back(h.loop_inner(), v);
                if let Some(Err(e)) = result {
                    // Unless the data callback stopped reading; one it installed gets the
                    // error instead.
                    if st.reading.get() {
                        if let Reader::Callback(new) = st.reader.take() {
                            cb = new;
                        }
                        stop_reading(h);
                        cb(&s, Err(e.with_operation("read")));
                    }
                }
                // Put the callback back unless it stopped reading or installed another.
                match st.reader.take() {
                    Reader::Idle if st.reading.get() => st.reader.set(Reader::Callback(cb)),
                    other => st.reader.set(other),
                }
            }
            other => {
                let waker = match other {
                    Reader::Async(w) => w,
                    _ => None,
                };
                let queued = v.len() - st.rpos.get();
                st.put_back(h.loop_inner(), v);
                match result {
                    Some(Err(e)) if e.code() == Error::ENOBUFS.code() => stop_reading(h),
                    Some(Err(e)) => {
                        stop_reading(h);
                        st.read_end.set(Some(e.with_operation("read")));
                    }
                    _ if queued + MIN_ROOM > READ_BUF => stop_reading(h),
                    _ => {}
                }
                if let Reader::Idle = st.reader.take() {
                    st.reader.set(Reader::Async(None));
                }
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
    });
}

/// `AsyncRead::poll_read`: copies queued bytes into `out`, or starts reading and waits.
pub(crate) fn poll_read<T: StreamKind>(
    h: &Handle<T>,
    cx: &mut Context<'_>,
    out: &mut [u8],
) -> Poll<Result<usize>> {
    let st = match h.state() {
        Ok(st) => st,
        Err(e) => return Poll::Ready(Err(e)),
    };
    let v = st.rbuf.take();
    let rpos = st.rpos.get();
    if rpos < v.len() && !out.is_empty() {
        let n = out.len().min(v.len() - rpos);
        out[..n].copy_from_slice(&v[rpos..rpos + n]);
        st.rpos.set(rpos + n);
        st.put_back(h.loop_inner(), v);
        // Resume reading if it had stopped because the queue was full.
        if !st.reading.get() && st.read_end_is_none() && !st.is_callback() {
            if let Err(e) = ensure_reading(h) {
                st.read_end.set(Some(e));
            }
        }
        return Poll::Ready(Ok(n));
    }
    st.put_back(h.loop_inner(), v);
    if let Some(e) = st.read_end.take() {
        let r = if e.code() == Error::EOF.code() {
            Ok(0)
        } else {
            Err(e.clone())
        };
        st.read_end.set(Some(e));
        return Poll::Ready(r);
    }
    if out.is_empty() {
        return Poll::Ready(Ok(0));
    }
    if st.is_callback() {
        return Poll::Ready(Err(
            Error::EBUSY.with_operation("poll_read on a stream read with a callback")
        ));
    }
    st.reader.set(Reader::Async(Some(cx.waker().clone())));
    if let Err(e) = ensure_reading(h) {
        st.reader.set(Reader::Async(None));
        return Poll::Ready(Err(e.with_operation("read")));
    }
    Poll::Pending
}

impl<T> StreamState<T> {
    fn read_end_is_none(&self) -> bool {
        let e = self.read_end.take();
        let none = e.is_none();
        self.read_end.set(e);
        none
    }
}

/// Whether the stream is readable / writable (`uv_is_readable`/`uv_is_writable`).
pub(crate) fn is_readable<T: StreamKind>(h: &Handle<T>) -> bool {
    // SAFETY: the stream is initialised and open.
    h.with_raw(|s| unsafe { ffi::uv_is_readable(s.cast()) } != 0)
        .unwrap_or(false)
}

pub(crate) fn is_writable<T: StreamKind>(h: &Handle<T>) -> bool {
    // SAFETY: the stream is initialised and open.
    h.with_raw(|s| unsafe { ffi::uv_is_writable(s.cast()) } != 0)
        .unwrap_or(false)
}

/// Debug fields common to streams.
pub(crate) fn debug_fields<T: StreamKind>(h: &Handle<T>, d: &mut std::fmt::DebugStruct<'_, '_>) {
    match h.state() {
        Err(_) => {
            d.field("closed", &true);
        }
        Ok(st) => {
            d.field("reading", &st.reading.get())
                .field("readable", &is_readable(h))
                .field("writable", &is_writable(h))
                .field("queued_read_bytes", &st.queued())
                .field("write_queue_size", &write::write_queue_size(h));
        }
    }
}

/// The public stream API of a stream type `$ty` (which implements `StreamKind`), generated
/// once for TCP, pipes and TTYs.
macro_rules! stream_methods {
    ($ty:ident) => {
        impl $ty {
            /// Starts reading: `callback` gets each chunk read as `Ok(bytes)` (borrowed from
            /// the stream's pooled buffer, valid during the call), then once `Err(e)` at the
            /// end: [`Error::EOF`](crate::Error::EOF) when the peer finished sending
            /// (`e.code() == Error::EOF.code()`), any other error when reading failed.
            /// Reading stops after that `Err`. Calling it again while reading replaces the
            /// callback.
            ///
            /// # Errors
            ///
            /// `ENOTCONN` when the stream is not connected, `EBADF` when closed.
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// use std::{cell::RefCell, rc::Rc};
            /// let lp = uvio::Loop::new()?;
            /// let (a, b) = uvio::TcpStream::pair(&lp)?;
            /// let got = Rc::new(RefCell::new(Vec::new()));
            /// let g = got.clone();
            /// b.read_start(move |s, r| match r {
            ///     Ok(bytes) => g.borrow_mut().extend_from_slice(bytes),
            ///     Err(_) => s.close().unwrap(), // EOF
            /// })?;
            /// a.write_cb("hi", |a, r| {
            ///     r.unwrap();
            ///     a.shutdown_cb(|a, _| a.close().unwrap()).unwrap();
            /// })?;
            /// lp.run(uvio::RunMode::Default)?;
            /// assert_eq!(*got.borrow(), b"hi");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn read_start(
                &self,
                callback: impl FnMut(&$ty, $crate::Result<&[u8]>) + 'static,
            ) -> $crate::Result<()> {
                $crate::stream::read_start(&self.h, Box::new(callback))
            }

            /// Stops reading (`uv_read_stop`) and drops the read callback.
            ///
            /// # Errors
            ///
            /// `EBADF` when closed.
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let (_a, b) = uvio::TcpStream::pair(&lp)?;
            /// b.read_start(|_, _| {})?;
            /// b.read_stop()?;
            /// // Nothing keeps the loop alive now: it returns at once.
            /// lp.run(uvio::RunMode::Default)?;
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn read_stop(&self) -> $crate::Result<()> {
                $crate::stream::read_stop(&self.h)
            }

            /// Whether the stream can be read from (`uv_is_readable`).
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
            /// assert!(a.is_readable());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn is_readable(&self) -> bool {
                $crate::stream::is_readable(&self.h)
            }

            /// Whether the stream can be written to (`uv_is_writable`); false after
            /// [`shutdown`](Self::shutdown).
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
            /// assert!(a.is_writable());
            /// lp.block_on(a.shutdown())??;
            /// assert!(!a.is_writable());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn is_writable(&self) -> bool {
                $crate::stream::is_writable(&self.h)
            }

            /// Writes `buf` (owned: `Vec<u8>`, `Box<[u8]>`, `String`, `&'static [u8]`)
            /// and calls `callback` once it is written (or failed: `ECANCELED` when the
            /// stream is closed with [`close`](Self::close) or by the loop's shutdown
            /// first). Dropping the stream does not cancel it: a dropped stream stays open
            /// until its queued writes are done. The buffer is freed after the callback.
            ///
            /// # Errors
            ///
            /// `EPIPE` after shutdown, `EBADF` when closed, `EINVAL` for more than
            /// `0x7fff_f000` bytes. The callback is not called then.
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// use std::{cell::Cell, rc::Rc};
            /// let lp = uvio::Loop::new()?;
            /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
            /// let done = Rc::new(Cell::new(false));
            /// let d = done.clone();
            /// a.write_cb(b"hello".to_vec(), move |_, r| d.set(r.is_ok()))?;
            /// lp.run(uvio::RunMode::Default)?;
            /// assert!(done.get());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn write_cb(
                &self,
                buf: impl Into<$crate::WriteBuf>,
                callback: impl FnOnce(&$ty, $crate::Result<()>) + 'static,
            ) -> $crate::Result<()> {
                $crate::stream::write::write_cb(&self.h, ::std::iter::once(buf.into()), callback)
            }

            /// Writes all of `bufs` in order with one request (`writev`), then calls
            /// `callback`.
            ///
            /// # Errors
            ///
            /// As [`write_cb`](Self::write_cb); `EINVAL` when the total is above
            /// `0x7fff_f000` bytes (checked before anything is submitted).
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// use std::{cell::Cell, rc::Rc};
            /// let lp = uvio::Loop::new()?;
            /// let (a, b) = uvio::TcpStream::pair(&lp)?;
            /// let done = Rc::new(Cell::new(false));
            /// let d = done.clone();
            /// a.write_vectored_cb(vec!["head ", "body"], move |_, r| d.set(r.is_ok()))?;
            /// lp.run(uvio::RunMode::Default)?;
            /// assert!(done.get());
            /// # let mut buf = [0u8; 9];
            /// # std::io::Read::read_exact(&mut b.into_std()?, &mut buf).unwrap();
            /// # assert_eq!(&buf, b"head body");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn write_vectored_cb<B: Into<$crate::WriteBuf>>(
                &self,
                bufs: Vec<B>,
                callback: impl FnOnce(&$ty, $crate::Result<()>) + 'static,
            ) -> $crate::Result<()> {
                $crate::stream::write::write_cb(&self.h, bufs.into_iter().map(Into::into), callback)
            }

            /// Writes `buf`; the future resolves once it is written. The write is queued
            /// when this is called (in order with other writes): dropping the future does
            /// not cancel it.
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// use futures::AsyncReadExt;
            /// let lp = uvio::Loop::new()?;
            /// let (a, mut b) = uvio::TcpStream::pair(&lp)?;
            /// let mut buf = [0u8; 5];
            /// lp.block_on(async {
            ///     a.write("hello").await?;
            ///     b.read_exact(&mut buf).await?;
            ///     Ok::<_, uvio::Error>(())
            /// })??;
            /// assert_eq!(&buf, b"hello");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn write(&self, buf: impl Into<$crate::WriteBuf>) -> $crate::Write<'_> {
                $crate::stream::write::write_fut(&self.h, ::std::iter::once(buf.into()))
            }

            /// Writes all of `bufs` in order with one request; see [`write`](Self::write).
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// use futures::AsyncReadExt;
            /// let lp = uvio::Loop::new()?;
            /// let (a, mut b) = uvio::TcpStream::pair(&lp)?;
            /// let mut buf = [0u8; 6];
            /// lp.block_on(async {
            ///     a.write_vectored(vec![b"abc".to_vec(), b"def".to_vec()]).await?;
            ///     b.read_exact(&mut buf).await?;
            ///     Ok::<_, uvio::Error>(())
            /// })??;
            /// assert_eq!(&buf, b"abcdef");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn write_vectored<B: Into<$crate::WriteBuf>>(
                &self,
                bufs: Vec<B>,
            ) -> $crate::Write<'_> {
                $crate::stream::write::write_fut(&self.h, bufs.into_iter().map(Into::into))
            }

            /// Writes as much of `buf` as the kernel takes now, without queueing
            /// (`uv_try_write`). Returns the number of bytes written.
            ///
            /// # Errors
            ///
            /// `EAGAIN` when nothing can be written now (or writes are queued), `EPIPE`
            /// after shutdown, `EBADF` when closed.
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
            /// let n = a.try_write(b"ping")?;
            /// assert_eq!(n, 4);
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn try_write(&self, buf: &[u8]) -> $crate::Result<usize> {
                $crate::stream::write::try_write(&self.h, buf)
            }

            /// Bytes queued in write requests, not yet written
            /// (`uv_stream_get_write_queue_size`).
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
            /// assert_eq!(a.write_queue_size(), 0);
            /// let w = a.write("queued");
            /// lp.block_on(w)??;
            /// assert_eq!(a.write_queue_size(), 0);
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn write_queue_size(&self) -> usize {
                $crate::stream::write::write_queue_size(&self.h)
            }

            /// Shuts the write side down once queued writes are done (`uv_shutdown`); the
            /// peer reads end-of-stream. `callback` gets the result.
            ///
            /// # Errors
            ///
            /// `ENOTCONN` when already shut down (or not connected), `EBADF` when closed.
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// use std::{cell::Cell, rc::Rc};
            /// let lp = uvio::Loop::new()?;
            /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
            /// let ok = Rc::new(Cell::new(false));
            /// let o = ok.clone();
            /// a.shutdown_cb(move |_, r| o.set(r.is_ok()))?;
            /// lp.run(uvio::RunMode::Default)?;
            /// assert!(ok.get());
            /// assert!(!a.is_writable());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn shutdown_cb(
                &self,
                callback: impl FnOnce(&$ty, $crate::Result<()>) + 'static,
            ) -> $crate::Result<()> {
                $crate::stream::oneshot::shutdown_cb(&self.h, callback)
            }

            /// Shuts the write side down once queued writes are done; see
            /// [`shutdown_cb`](Self::shutdown_cb). Started when called.
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// use futures::AsyncReadExt;
            /// let lp = uvio::Loop::new()?;
            /// let (a, mut b) = uvio::TcpStream::pair(&lp)?;
            /// let mut rest = Vec::new();
            /// lp.block_on(async {
            ///     a.write("last words").await?;
            ///     a.shutdown().await?;
            ///     b.read_to_end(&mut rest).await?; // ends: the peer shut down
            ///     Ok::<_, uvio::Error>(())
            /// })??;
            /// assert_eq!(rest, b"last words");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn shutdown(&self) -> $crate::Shutdown {
                $crate::stream::oneshot::shutdown_fut(&self.h)
            }

            /// Splits into a read half and a write half, usable from two tasks on this
            /// thread (they share the stream through an `Rc`).
            ///
            /// # Examples
            ///
            /// Shown with a `TcpStream` pair; the same for every stream type.
            ///
            /// ```
            /// use futures::{AsyncReadExt, AsyncWriteExt};
            /// let lp = uvio::Loop::new()?;
            /// let (a, b) = uvio::TcpStream::pair(&lp)?;
            /// let (mut rd, mut wr) = a.split();
            /// let mut buf = [0u8; 4];
            /// lp.block_on(async {
            ///     wr.write_all(b"echo").await?;
            ///     let (mut br, mut bw) = b.split();
            ///     let mut tmp = [0u8; 4];
            ///     br.read_exact(&mut tmp).await?;
            ///     bw.write_all(&tmp).await?;
            ///     rd.read_exact(&mut buf).await?;
            ///     Ok::<_, std::io::Error>(())
            /// })?.unwrap();
            /// assert_eq!(&buf, b"echo");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn split(self) -> ($crate::ReadHalf<$ty>, $crate::WriteHalf<$ty>) {
                $crate::stream::io::split(self)
            }
        }

        impl futures_io::AsyncRead for &$ty {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut [u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                $crate::stream::poll_read(&self.h, cx, buf).map_err(Into::into)
            }
        }

        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut [u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut &*self).poll_read(cx, buf)
            }
        }

        impl futures_io::AsyncWrite for &$ty {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                $crate::stream::io::poll_write(&self.h, cx, buf).map_err(Into::into)
            }
            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                $crate::stream::io::poll_write_vectored(&self.h, cx, bufs).map_err(Into::into)
            }
            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                $crate::stream::io::poll_flush(&self.h, cx).map_err(Into::into)
            }
            fn poll_close(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                $crate::stream::io::poll_close(&self.h, cx).map_err(Into::into)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut &*self).poll_write(cx, buf)
            }
            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
            }
            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut &*self).poll_flush(cx)
            }
            fn poll_close(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut &*self).poll_close(cx)
            }
        }
    };
}
pub(crate) use stream_methods;

#[cfg(test)]
mod pool_tests {
    use super::*;

    #[test]
    fn pool_keeps_what_was_used_at_once_and_no_more_than_its_bound() {
        let mut p = Pool::default();
        let held: Vec<_> = (0..40).map(|_| p.take()).collect();
        held.into_iter().for_each(|v| p.give(v));
        assert_eq!(p.free.len(), 40);
        // Taking 40 again reuses them all.
        let held: Vec<_> = (0..40).map(|_| p.take()).collect();
        assert_eq!(p.free.len(), 0);
        held.into_iter().for_each(|v| p.give(v));
        // A burst above the bound keeps only the bound.
        let held: Vec<_> = (0..POOL_MAX + 10).map(|_| p.take()).collect();
        held.into_iter().for_each(|v| p.give(v));
        assert_eq!(p.free.len(), POOL_MAX);
        // Two windows of light use later the pool has shrunk to that use.
        for _ in 0..2 * POOL_WINDOW {
            let v = p.take();
            p.give(v);
        }
        assert!(p.free.len() <= 2, "{}", p.free.len());
    }
}
