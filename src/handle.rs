//! One allocation, one owner, closed exactly once: the machinery every handle type uses.
//!
//! ```text
//! Timer (Rust value) ──► HandleBox<uv_timer_t, TimerState>  (loop's pool, never moves)
//!                          ├─ raw: uv_timer_t      (raw.data ──► hdr)
//!                          ├─ state: TimerState    (callback or waker)
//!                          └─ hdr: Header          (loop, flags, close callback)
//! ```
//!
//! Two parties hold the box: the Rust owner (flag `OWNED`) and libuv (from `uv_*_init` until
//! the close callback, flag `CLOSED` once that has run). Whichever lets go last frees it, so
//! the memory is never freed before libuv's close callback. The handle's state (callbacks,
//! wakers) is dropped in the close callback, which breaks any cycle through a callback.
//!
//! The public part is [`Closed`], the future every handle's `closed()` returns, and the
//! methods every handle type shares (`close`, `close_with`, `closed`, `is_active`, `unref`,
//! ...):
//!
//! ```
//! use std::time::Duration;
//!
//! let lp = uvio::Loop::new()?;
//! let t = uvio::Timer::new(&lp)?;
//! t.start(Duration::from_secs(3600), Duration::ZERO, |_| {})?;
//! assert!(t.is_active());
//! let closed: uvio::handle::Closed = t.closed(); // starts closing
//! lp.block_on(closed)?;
//! assert!(t.is_closing() && !t.is_active());
//! # Ok::<(), uvio::Error>(())
//! ```

use std::alloc::Layout;
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result, check};
use crate::event_loop::{LoopHandle, LoopInner};
use crate::ffi;

const OWNED: u8 = 1;
const CLOSING: u8 = 2;
const CLOSED: u8 = 4;
/// A function waits in the loop's `on_closed` table for this handle's close callback.
const ON_CLOSED: u8 = 8;

/// The part of every handle box that does not depend on the handle's type.
///
/// Kept small: a program may hold a million handles, and every byte here is a byte per
/// handle (the `close_with`/`closed()` continuation, which few handles ever have, lives in
/// the loop's `on_closed` table instead, flagged by `ON_CLOSED`).
///
/// The loop finds its handles by walking its pool of boxes (`event_loop/pool.rs`), so the
/// header needs no list links.
pub(crate) struct Header {
    pub(crate) lp: Rc<LoopInner>,
    flags: Cell<u8>,
    close_cb: unsafe extern "C" fn(*mut ffi::uv_handle_t),
}

impl Header {
    /// The header of a uvio handle.
    ///
    /// # Safety
    ///
    /// `h` is a live handle created by [`HandleRef::new`] (its `data` points at its header).
    #[inline]
    pub(crate) unsafe fn of<'a>(h: *mut ffi::uv_handle_t) -> &'a Header {
        // SAFETY: per the contract, `data` points at the Header inside the same live box.
        unsafe { &*((*h).data as *const Header) }
    }

    /// Starts closing `h` unless it is closing already. Returns whether it started.
    ///
    /// # Safety
    ///
    /// `h` is a live uvio handle.
    pub(crate) unsafe fn begin_close(h: *mut ffi::uv_handle_t) -> bool {
        // SAFETY: the caller guarantees a live uvio handle.
        let hdr = unsafe { Header::of(h) };
        let f = hdr.flags.get();
        if f & CLOSING != 0 {
            return false;
        }
        hdr.flags.set(f | CLOSING);
        // SAFETY: `h` is initialised and not closing; the close callback is the box's own,
        // which frees it (or leaves that to the owner) once libuv is done.
        unsafe { ffi::uv_close(h, Some(hdr.close_cb)) };
        true
    }
}

/// A handle allocation: the libuv struct first (so a `*mut H` is a `*mut HandleBox`), then
/// the type's state, then the header starting with the loop pointer: what a callback reads
/// besides the libuv struct (the listener, the loop) sits in one cache line right after it.
#[repr(C)]
pub(crate) struct HandleBox<H, S> {
    raw: UnsafeCell<H>,
    state: ManuallyDrop<S>,
    hdr: Header,
}

/// The owner of a handle box (exactly one per box), or, wrapped in `ManuallyDrop`, a borrowed
/// view handed to a callback.
pub(crate) struct HandleRef<H, S> {
    ptr: NonNull<HandleBox<H, S>>,
    _not_send: PhantomData<*mut ()>,
}

/// The close callback of every handle box of type `HandleBox<H, S>`.
unsafe extern "C" fn close_cb<H, S>(h: *mut ffi::uv_handle_t) {
    let b = h.cast::<HandleBox<H, S>>();
    // SAFETY: `h` is the first field of a live `HandleBox<H, S>` (this callback is only ever
    // registered for such boxes); libuv is done with it from now on.
    unsafe {
        let hdr = &(*b).hdr;
        // The box (and with it the header's `Rc`, so the loop) stays allocated until the
        // end of this function: nothing below frees it before `CLOSED` is set.
        let lp: &LoopInner = &hdr.lp;
        // Its own reference to the loop: the checkpoint runs after the box is freed.
        let _scope = crate::panic::scope(&hdr.lp);
        lp.handle_closed();
        // Three steps, each guarded on its own so that a panic in one (a callback's Drop, a
        // `close_with` closure) does not skip the others. `CLOSED` is set only after them:
        // user code run here may drop the last owner (a callback that owns its handle), and
        // that owner must then leave the free to us instead of freeing the box under our feet.
        // Drop the state (callbacks, wakers) now: nothing can call them any more.
        crate::panic::guard(lp, || ManuallyDrop::drop(&mut (*b).state));
        // Close continuations, including those registered by the ones that run here.
        while hdr.flags.get() & ON_CLOSED != 0 {
            hdr.flags.set(hdr.flags.get() & !ON_CLOSED);
            if let Some(f) = lp.take_on_closed(h) {
                crate::panic::guard(lp, f);
            }
        }
        if lp.all_closed() {
            crate::panic::guard(lp, || lp.maybe_all_closed());
        }
        let flags = hdr.flags.get() | CLOSED;
        hdr.flags.set(flags);
        if flags & OWNED == 0 {
            free_box(b);
        }
    }
}

/// Returns a box's memory to its loop's pool. The state must have been dropped already;
/// the header's loop reference is the one field left to drop, and it goes last (it may be
/// the loop's last reference, and the pool lives in the loop).
///
/// # Safety
///
/// `b` came from [`HandleRef::new`], its state is dropped, and nothing uses it afterwards.
unsafe fn free_box<H, S>(b: *mut HandleBox<H, S>) {
    // SAFETY: per the contract; the `Rc` is moved out once and the rest of the box (plain
    // data, the dropped `ManuallyDrop` state, `Cell`s of pointers) needs no drop.
    unsafe {
        let lp: Rc<LoopInner> = std::ptr::read(&raw const (*b).hdr.lp);
        lp.pool.free(
            NonNull::new_unchecked(b).cast(),
            Layout::new::<HandleBox<H, S>>(),
        );
        drop(lp);
    }
}

impl<H, S> HandleRef<H, S> {
    /// Allocates a box on `lp` and initialises the handle with `init(loop, raw)`.
    ///
    /// # Safety
    ///
    /// `init` must be the `uv_*_init` call for handle type `H` (a struct that starts with
    /// `uv_handle_t`'s fields): on success the handle is initialised on `loop`; on failure it
    /// is not (libuv's rule), and it is then freed without `uv_close`.
    pub(crate) unsafe fn new(
        lp: &LoopHandle,
        state: S,
        init: impl FnOnce(*mut ffi::uv_loop_t, *mut H) -> i32,
    ) -> Result<Self> {
        const {
            assert!(size_of::<HandleBox<H, S>>() <= crate::event_loop::MAX_POOLED);
            assert!(align_of::<HandleBox<H, S>>() <= crate::event_loop::MAX_ALIGN);
        }
        lp.inner.ensure_open()?;
        // Built in place in memory from the loop's pool.
        let p = lp
            .inner
            .pool
            .alloc(Layout::new::<HandleBox<H, S>>())
            .cast::<HandleBox<H, S>>()
            .as_ptr();
        // SAFETY: `p` points at memory for a `HandleBox<H, S>`; each field is written once
        // through a raw pointer (`UnsafeCell<H>` has `H`'s layout, and libuv handle structs
        // are plain C data for which all-zero is a valid value).
        unsafe {
            (&raw mut (*p).raw).cast::<H>().write_bytes(0, 1);
            (&raw mut (*p).state).write(ManuallyDrop::new(state));
            (&raw mut (*p).hdr).write(Header {
                lp: Rc::clone(&lp.inner),
                flags: Cell::new(OWNED),
                close_cb: close_cb::<H, S>,
            });
        }
        let ptr = p;
        // SAFETY: `ptr` is a fresh, initialised box; `raw` is its first field.
        let raw = unsafe { (*ptr).raw.get() };
        let ret = init(lp.inner.raw(), raw);
        if ret < 0 {
            // SAFETY: init failed, so libuv never saw the handle: drop the state, free the box.
            unsafe {
                ManuallyDrop::drop(&mut (*ptr).state);
                free_box(ptr);
            }
            return Err(Error::from_code(ret));
        }
        // SAFETY: the handle is initialised; point `data` at the header (which also marks
        // the block as a live handle for `LoopInner::close_every_handle`).
        unsafe {
            let h = raw.cast::<ffi::uv_handle_t>();
            (*h).data = (&raw const (*ptr).hdr) as *mut ffi::c_void;
        }
        lp.inner.handle_opened();
        Ok(HandleRef {
            // SAFETY: pool memory is never null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _not_send: PhantomData,
        })
    }

    /// A borrowed view of the handle whose raw pointer libuv passed to a callback.
    ///
    /// # Safety
    ///
    /// `raw` is a live handle created by [`HandleRef::new`] with the same `H` and `S`.
    #[inline]
    pub(crate) unsafe fn borrowed(raw: *mut H) -> ManuallyDrop<Self> {
        ManuallyDrop::new(HandleRef {
            // SAFETY: non-null per the contract.
            ptr: unsafe { NonNull::new_unchecked(raw.cast()) },
            _not_send: PhantomData,
        })
    }

    #[inline]
    fn hdr(&self) -> &Header {
        // SAFETY: the box lives at least as long as any HandleRef to it (the owner frees it
        // only when dropped; a borrowed view only exists during a callback of a live handle).
        unsafe { &(*self.ptr.as_ptr()).hdr }
    }

    /// The raw libuv handle.
    #[inline]
    pub(crate) fn raw(&self) -> *mut H {
        // SAFETY: see `hdr`.
        unsafe { (*self.ptr.as_ptr()).raw.get() }
    }

    /// The raw handle as a `uv_handle_t`.
    #[inline]
    pub(crate) fn raw_handle(&self) -> *mut ffi::uv_handle_t {
        self.raw().cast()
    }

    /// The loop this handle is on.
    pub(crate) fn loop_inner(&self) -> &Rc<LoopInner> {
        &self.hdr().lp
    }

    /// True once closing has started (by `close`, by drop, or by the loop shutting down).
    #[inline]
    pub(crate) fn is_closing(&self) -> bool {
        self.hdr().flags.get() & (CLOSING | CLOSED) != 0
    }

    /// The handle's state while it is open; `EBADF` once closing has started.
    #[inline]
    pub(crate) fn state(&self) -> Result<&S> {
        if self.is_closing() {
            return Err(closed_error());
        }
        // SAFETY: the state is dropped only in the close callback, which runs after CLOSING
        // is set; until then it is alive and only reached through shared references.
        Ok(unsafe { &(*self.ptr.as_ptr()).state })
    }

    /// The state, for trampolines: libuv only calls a handle's callbacks before its close
    /// callback, so the state is alive.
    ///
    /// # Safety
    ///
    /// The close callback has not run yet.
    #[inline]
    pub(crate) unsafe fn state_unchecked(&self) -> &S {
        // SAFETY: per the contract.
        unsafe { &(*self.ptr.as_ptr()).state }
    }

    /// Runs `f` with the raw handle if the handle is still open.
    #[inline]
    pub(crate) fn with_raw<R>(&self, f: impl FnOnce(*mut H) -> R) -> Result<R> {
        if self.is_closing() {
            return Err(closed_error());
        }
        Ok(f(self.raw()))
    }

    /// `f(raw)` through [`check`], for libuv calls returning an error code.
    #[inline]
    pub(crate) fn call(&self, f: impl FnOnce(*mut H) -> i32) -> Result<i32> {
        check(self.with_raw(f)?)
    }

    /// Starts closing; `EBADF` if closing had already started.
    pub(crate) fn close(&self) -> Result<()> {
        // SAFETY: the box is alive (see `hdr`) and the handle initialised.
        if unsafe { Header::begin_close(self.raw_handle()) } {
            Ok(())
        } else {
            Err(closed_error())
        }
    }

    /// Starts closing with `f(raw, close_cb)` instead of `uv_close` (for
    /// `uv_tcp_close_reset`), unless closing has already started (`EBADF`).
    ///
    /// # Safety
    ///
    /// When `f` returns 0 it must have called `uv_close` on `raw` with `close_cb`; when it
    /// returns an error it must not have.
    pub(crate) unsafe fn close_by(
        &self,
        f: impl FnOnce(*mut H, unsafe extern "C" fn(*mut ffi::uv_handle_t)) -> i32,
    ) -> Result<()> {
        if self.is_closing() {
            return Err(closed_error());
        }
        let hdr = self.hdr();
        check(f(self.raw(), hdr.close_cb))?;
        hdr.flags.set(hdr.flags.get() | CLOSING);
        Ok(())
    }

    /// Starts closing (if not already) and calls `f` once the close callback has run. If it
    /// already has, `f` still never runs on the caller's stack: it runs from the loop, as a
    /// task (or at once when the loop itself is gone).
    pub(crate) fn close_then(&self, f: Box<dyn FnOnce()>) {
        let hdr = self.hdr();
        if hdr.flags.get() & CLOSED != 0 {
            defer(&hdr.lp, f);
            return;
        }
        let prev = match hdr.flags.get() & ON_CLOSED {
            0 => None,
            _ => hdr.lp.take_on_closed(self.raw_handle()),
        };
        hdr.lp.set_on_closed(
            self.raw_handle(),
            match prev {
                None => f,
                Some(p) => Box::new(move || {
                    p();
                    f();
                }),
            },
        );
        hdr.flags.set(hdr.flags.get() | ON_CLOSED);
        // SAFETY: the box is alive and the handle initialised.
        unsafe { Header::begin_close(self.raw_handle()) };
    }

    /// A future that starts closing and resolves once the close callback has run.
    pub(crate) fn closed(&self) -> Closed {
        let shared = Rc::new(ClosedShared {
            done: Cell::new(self.hdr().flags.get() & CLOSED != 0),
            waker: Cell::new(None),
        });
        if shared.done.get() {
            return Closed { shared };
        }
        let s2 = Rc::clone(&shared);
        self.close_then(Box::new(move || {
            s2.done.set(true);
            if let Some(w) = s2.waker.take() {
                w.wake();
            }
        }));
        Closed { shared }
    }
}

impl<H, S> Drop for HandleRef<H, S> {
    fn drop(&mut self) {
        let raw = self.raw_handle();
        let hdr = self.hdr();
        // SAFETY: the owner is being dropped: start closing (once), give up ownership, and
        // free the box if libuv is already done with it.
        unsafe {
            Header::begin_close(raw);
            let f = hdr.flags.get() & !OWNED;
            hdr.flags.set(f);
            if f & CLOSED != 0 {
                free_box(self.ptr.as_ptr());
            }
        }
    }
}

/// Runs `f` from `lp`'s executor (a detached task); if the task is dropped instead (the loop
/// shuts down first), `f` runs then. On a loop that is shut down already `f` is dropped
/// uncalled: running it here would run it on the caller's stack.
fn defer(lp: &Rc<LoopInner>, f: Box<dyn FnOnce()>) {
    if lp.executor.is_shut() || lp.ensure_open().is_err() {
        drop(f);
        return;
    }
    struct RunOnDrop(Option<Box<dyn FnOnce()>>);
    impl Drop for RunOnDrop {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    let f = RunOnDrop(Some(f));
    drop(lp.executor.spawn(lp, async move { drop(f) }));
}

pub(crate) fn closed_error() -> Error {
    Error::EBADF.with_operation("handle is closed")
}

struct ClosedShared {
    done: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

/// Resolves once a handle's close callback has run. Returned by each handle's `closed()`.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let t = uvio::Timer::new(&lp)?;
/// let closed: uvio::handle::Closed = t.closed();
/// lp.block_on(closed)?; // resolves after the close callback
/// assert!(t.is_closing());
/// assert_eq!(t.close().unwrap_err().name(), "EBADF");
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Closed {
    shared: Rc<ClosedShared>,
}

impl std::future::Future for Closed {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.done.get() {
            Poll::Ready(())
        } else {
            self.shared.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    }
}

impl std::fmt::Debug for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closed")
            .field("done", &self.shared.done.get())
            .finish()
    }
}

/// The methods every handle has (`uv_handle_t`'s API), generated once for each public handle
/// type `$ty` whose field `$field` is a `HandleRef`.
macro_rules! handle_methods {
    ($ty:ident, $field:ident) => {
        impl $ty {
            /// Starts closing the handle (`uv_close`). Callbacks stop; the memory is freed
            /// after libuv's close callback. Dropping the value closes it too.
            ///
            /// # Errors
            ///
            /// `EBADF` when the handle is already closing or closed (a double close).
            ///
            /// # Examples
            ///
            /// Shown with a [`Timer`](crate::Timer); the same for every handle type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let t = uvio::Timer::new(&lp)?;
            /// t.close()?;
            /// assert!(t.is_closing());
            /// assert_eq!(t.close().unwrap_err().name(), "EBADF");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn close(&self) -> $crate::Result<()> {
                self.$field.close()
            }

            /// Starts closing (if not already) and calls `f` on the loop thread once the close
            /// callback has run. Never on the caller's stack: when the handle is closed
            /// already, `f` runs from the loop's next iteration; when the loop itself is
            /// closed (dropped, or after `close_all`), nothing can run from it any more and
            /// `f` is dropped uncalled.
            ///
            /// # Examples
            ///
            /// Shown with a [`Timer`](crate::Timer); the same for every handle type.
            ///
            /// ```
            /// use std::{cell::Cell, rc::Rc};
            ///
            /// let lp = uvio::Loop::new()?;
            /// let t = uvio::Timer::new(&lp)?;
            /// let done = Rc::new(Cell::new(false));
            /// let d = done.clone();
            /// t.close_with(move || d.set(true));
            /// assert!(!done.get()); // never on the caller's stack
            /// lp.run(uvio::RunMode::Default)?;
            /// assert!(done.get());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn close_with(&self, f: impl FnOnce() + 'static) {
                self.$field.close_then(Box::new(f))
            }

            /// Starts closing (if not already); the future resolves once the close callback
            /// has run.
            ///
            /// # Examples
            ///
            /// Shown with a [`Timer`](crate::Timer); the same for every handle type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let t = uvio::Timer::new(&lp)?;
            /// lp.block_on(t.closed())?; // resolves after the close callback
            /// assert!(t.is_closing());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn closed(&self) -> $crate::handle::Closed {
                self.$field.closed()
            }

            /// True once the handle is closing or closed.
            ///
            /// # Examples
            ///
            /// Shown with a [`Timer`](crate::Timer); the same for every handle type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let t = uvio::Timer::new(&lp)?;
            /// assert!(!t.is_closing());
            /// t.close()?;
            /// assert!(t.is_closing());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn is_closing(&self) -> bool {
                self.$field.is_closing()
            }

            /// True when the handle is active (`uv_is_active`): a started timer, a reading
            /// stream, and so on.
            ///
            /// # Examples
            ///
            /// Shown with a [`Timer`](crate::Timer); the same for every handle type.
            ///
            /// ```
            /// use std::time::Duration;
            ///
            /// let lp = uvio::Loop::new()?;
            /// let t = uvio::Timer::new(&lp)?;
            /// assert!(!t.is_active());
            /// t.start(Duration::from_millis(1), Duration::ZERO, |_| {})?;
            /// assert!(t.is_active());
            /// lp.run(uvio::RunMode::Default)?;
            /// assert!(!t.is_active()); // a one-shot timer stops after firing
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn is_active(&self) -> bool {
                self.$field
                    // SAFETY: the handle is initialised and open.
                    .with_raw(|h| unsafe { $crate::ffi::uv_is_active(h.cast()) } != 0)
                    .unwrap_or(false)
            }

            /// Lets the loop exit while this handle is active (`uv_unref`).
            ///
            /// # Examples
            ///
            /// Shown with a [`Timer`](crate::Timer); the same for every handle type.
            ///
            /// ```
            /// use std::time::Duration;
            ///
            /// let lp = uvio::Loop::new()?;
            /// let t = uvio::Timer::new(&lp)?;
            /// t.start(Duration::from_secs(3600), Duration::ZERO, |_| {})?;
            /// t.unref();
            /// assert!(!t.has_ref());
            /// // The loop does not wait an hour for an unreferenced timer.
            /// assert!(!lp.run(uvio::RunMode::Default)?);
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn unref(&self) {
                let _ = self.$field.with_raw(|h| {
                    // SAFETY: the handle is initialised and open.
                    unsafe { $crate::ffi::uv_unref(h.cast()) }
                });
            }

            /// Keeps the loop alive while this handle is active (`uv_ref`, the default).
            ///
            /// # Examples
            ///
            /// Shown with a [`Timer`](crate::Timer); the same for every handle type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let t = uvio::Timer::new(&lp)?;
            /// t.unref();
            /// t.ref_();
            /// assert!(t.has_ref());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn ref_(&self) {
                let _ = self.$field.with_raw(|h| {
                    // SAFETY: the handle is initialised and open.
                    unsafe { $crate::ffi::uv_ref(h.cast()) }
                });
            }

            /// Whether the handle is referenced (`uv_has_ref`).
            ///
            /// # Examples
            ///
            /// Shown with a [`Timer`](crate::Timer); the same for every handle type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let t = uvio::Timer::new(&lp)?;
            /// assert!(t.has_ref());
            /// t.unref();
            /// assert!(!t.has_ref());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn has_ref(&self) -> bool {
                self.$field
                    // SAFETY: the handle is initialised and open.
                    .with_raw(|h| unsafe { $crate::ffi::uv_has_ref(h.cast()) } != 0)
                    .unwrap_or(false)
            }

            /// The loop this handle is on.
            ///
            /// # Examples
            ///
            /// Shown with a [`Timer`](crate::Timer); the same for every handle type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let t = uvio::Timer::new(&lp)?;
            /// let h = t.loop_handle();
            /// assert_eq!(h.as_raw(), lp.as_raw());
            /// assert_eq!(h.handle_count(), 1);
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn loop_handle(&self) -> $crate::LoopHandle {
                $crate::LoopHandle {
                    inner: ::std::rc::Rc::clone(self.$field.loop_inner()),
                }
            }

            /// The raw libuv handle, for calls into [`crate::ffi`]. Do not close it or change
            /// its `data` field.
            ///
            /// # Examples
            ///
            /// Shown with a [`Timer`](crate::Timer); the same for every handle type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let t = uvio::Timer::new(&lp)?;
            /// // SAFETY: the handle is open; uv_handle_get_loop only reads it.
            /// let raw_loop = unsafe { uvio::ffi::uv_handle_get_loop(t.as_raw_handle()) };
            /// assert_eq!(raw_loop, lp.as_raw());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn as_raw_handle(&self) -> *mut $crate::ffi::uv_handle_t {
                self.$field.raw_handle()
            }
        }
    };
}
pub(crate) use handle_methods;

/// Socket-buffer and descriptor methods of handles that have an OS descriptor.
#[allow(unused_macros)]
macro_rules! fd_methods {
    ($ty:ident, $field:ident) => {
        impl $ty {
            /// The size of the kernel's send buffer (`uv_send_buffer_size`).
            ///
            /// # Errors
            ///
            /// `EBADF` when closed, `EINVAL` for handles without a socket.
            ///
            /// # Examples
            ///
            /// Shown with a [`UdpSocket`](crate::UdpSocket); the same for every handle type that has these methods.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let sock = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
            /// assert!(sock.send_buffer_size()? > 0);
            /// sock.close()?;
            /// assert_eq!(sock.send_buffer_size().unwrap_err().name(), "EBADF");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn send_buffer_size(&self) -> $crate::Result<usize> {
                let mut v: i32 = 0;
                self.$field.call(|h| {
                    // SAFETY: the handle is open; `v == 0` asks libuv to read the size into `v`.
                    unsafe { $crate::ffi::uv_send_buffer_size(h.cast(), &mut v) }
                })?;
                Ok(v as usize)
            }

            /// Sets the size of the kernel's send buffer.
            ///
            /// # Errors
            ///
            /// `EBADF` when closed, `EINVAL` for 0.
            ///
            /// # Examples
            ///
            /// Shown with a [`UdpSocket`](crate::UdpSocket); the same for every handle type that has these methods.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let sock = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
            /// sock.set_send_buffer_size(64 * 1024)?;
            /// assert!(sock.send_buffer_size()? >= 64 * 1024); // Linux reports double the value set
            /// assert_eq!(sock.set_send_buffer_size(0).unwrap_err().name(), "EINVAL");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn set_send_buffer_size(&self, size: usize) -> $crate::Result<()> {
                let mut v = i32::try_from(size).map_err(|_| $crate::Error::EINVAL)?;
                if v == 0 {
                    return Err($crate::Error::EINVAL);
                }
                self.$field.call(|h| {
                    // SAFETY: the handle is open; a non-zero `v` sets the size.
                    unsafe { $crate::ffi::uv_send_buffer_size(h.cast(), &mut v) }
                })?;
                Ok(())
            }

            /// The size of the kernel's receive buffer (`uv_recv_buffer_size`).
            ///
            /// # Errors
            ///
            /// `EBADF` when closed, `EINVAL` for handles without a socket.
            ///
            /// # Examples
            ///
            /// Shown with a [`UdpSocket`](crate::UdpSocket); the same for every handle type that has these methods.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let sock = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
            /// assert!(sock.recv_buffer_size()? > 0);
            /// sock.close()?;
            /// assert_eq!(sock.recv_buffer_size().unwrap_err().name(), "EBADF");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn recv_buffer_size(&self) -> $crate::Result<usize> {
                let mut v: i32 = 0;
                self.$field.call(|h| {
                    // SAFETY: the handle is open; `v == 0` asks libuv to read the size into `v`.
                    unsafe { $crate::ffi::uv_recv_buffer_size(h.cast(), &mut v) }
                })?;
                Ok(v as usize)
            }

            /// Sets the size of the kernel's receive buffer.
            ///
            /// # Errors
            ///
            /// `EBADF` when closed, `EINVAL` for 0.
            ///
            /// # Examples
            ///
            /// Shown with a [`UdpSocket`](crate::UdpSocket); the same for every handle type that has these methods.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let sock = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
            /// sock.set_recv_buffer_size(64 * 1024)?;
            /// assert!(sock.recv_buffer_size()? >= 64 * 1024); // Linux reports double the value set
            /// assert_eq!(sock.set_recv_buffer_size(0).unwrap_err().name(), "EINVAL");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn set_recv_buffer_size(&self, size: usize) -> $crate::Result<()> {
                let mut v = i32::try_from(size).map_err(|_| $crate::Error::EINVAL)?;
                if v == 0 {
                    return Err($crate::Error::EINVAL);
                }
                self.$field.call(|h| {
                    // SAFETY: the handle is open; a non-zero `v` sets the size.
                    unsafe { $crate::ffi::uv_recv_buffer_size(h.cast(), &mut v) }
                })?;
                Ok(())
            }

            /// The OS descriptor (`uv_fileno`).
            ///
            /// # Errors
            ///
            /// `EBADF` when closed or not yet bound to a descriptor.
            ///
            /// # Examples
            ///
            /// Shown with a [`UdpSocket`](crate::UdpSocket); the same for every handle type that has these methods.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let sock = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
            /// assert!(sock.fileno()? >= 0);
            /// sock.close()?;
            /// assert_eq!(sock.fileno().unwrap_err().name(), "EBADF");
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn fileno(&self) -> $crate::Result<i32> {
                let mut fd: $crate::ffi::uv_os_fd_t = -1;
                self.$field.call(|h| {
                    // SAFETY: the handle is open; libuv writes the descriptor into `fd`.
                    unsafe { $crate::ffi::uv_fileno(h.cast(), &mut fd) }
                })?;
                Ok(fd)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use fd_methods;

#[cfg(test)]
mod tests {
    use super::*;

    /// A program may hold a million timers: each costs one of these boxes (plus malloc's
    /// 8-byte header), so growth here shows directly in `uvio-bench million_timers`.
    #[test]
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    fn timer_box_stays_small() {
        use crate::timer::{Listener, TimerState};
        assert_eq!(
            std::mem::size_of::<Listener<dyn FnMut(&crate::Timer)>>(),
            24
        );
        assert_eq!(std::mem::size_of::<Header>(), 24);
        assert_eq!(
            std::mem::size_of::<HandleBox<ffi::uv_timer_t, TimerState>>(),
            std::mem::size_of::<ffi::uv_timer_t>() + 24 + 24
        );
    }
}
