//! Requests: the operation owns its memory until libuv is done with it.
//!
//! A `ReqBox<R, S>` holds the libuv request `R` (first, so `*mut R` is `*mut ReqBox`), the
//! loop, a waker slot and the operation's state `S` (its buffers, its callback or its result).
//! Two parties may hold it: libuv, from a successful submit until the completion callback,
//! and a Rust future ([`ReqOwner`]). Whoever lets go last frees it. A future dropped early
//! asks libuv to cancel where libuv can (`uv_cancel`: fs, work, DNS) and leaves the box to
//! the completion callback: dropping a future never frees memory libuv still uses.
//!
//! Use:
//! 1. [`ReqBox::alloc`] the box with its state (buffers moved in);
//! 2. [`ReqBox::submit`] with the `uv_*` call; a synchronous error frees the box;
//! 3. in the `extern "C"` completion callback, wrap the work in [`crate::panic::guard`], read
//!    the result into the state (or call the user's callback), then [`ReqBox::complete`].
//! 4. for futures, keep a [`ReqOwner`] and poll it with [`ReqOwner::poll_done`].

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};
use crate::event_loop::{LoopHandle, LoopInner};
use crate::ffi;

const OWNED: u8 = 1;
const SUBMITTED: u8 = 2;
const DONE: u8 = 4;

/// A libuv request type.
pub(crate) trait RawReq {
    /// Whether `uv_cancel` applies (fs, work, getaddrinfo, getnameinfo, random).
    const CANCELLABLE: bool = false;

    /// Releases what libuv allocated inside the request (`uv_fs_req_cleanup` for fs).
    ///
    /// # Safety
    ///
    /// `_raw` is a request whose operation has completed (or never started).
    unsafe fn cleanup(_raw: *mut Self) {}
}

impl RawReq for ffi::uv_work_t {
    const CANCELLABLE: bool = true;
}
impl RawReq for ffi::uv_fs_t {
    const CANCELLABLE: bool = true;
    unsafe fn cleanup(raw: *mut Self) {
        // SAFETY: the request completed (or never started, when libuv left it zeroed).
        unsafe { ffi::uv_fs_req_cleanup(raw) };
    }
}
impl RawReq for ffi::uv_getaddrinfo_t {
    const CANCELLABLE: bool = true;
}
impl RawReq for ffi::uv_getnameinfo_t {
    const CANCELLABLE: bool = true;
}
impl RawReq for ffi::uv_write_t {}
impl RawReq for ffi::uv_connect_t {}
impl RawReq for ffi::uv_shutdown_t {}
impl RawReq for ffi::uv_udp_send_t {}
impl RawReq for ffi::uv_random_t {
    const CANCELLABLE: bool = true;
}

/// One request allocation.
#[repr(C)]
pub(crate) struct ReqBox<R: RawReq, S> {
    raw: UnsafeCell<R>,
    lp: Rc<LoopInner>,
    flags: Cell<u8>,
    waker: Cell<Option<Waker>>,
    /// The operation's state: buffers, callback, result slot.
    pub(crate) state: S,
}

impl<R: RawReq, S> ReqBox<R, S> {
    /// Allocates a request on `lp` with `state`. Not yet submitted.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed.
    pub(crate) fn alloc(lp: &LoopHandle, state: S) -> Result<NonNull<ReqBox<R, S>>> {
        lp.inner.ensure_open()?;
        let b = Box::new(ReqBox {
            // SAFETY: libuv request structs are plain C data; all-zero is a valid value.
            raw: UnsafeCell::new(unsafe { MaybeUninit::<R>::zeroed().assume_init() }),
            lp: Rc::clone(&lp.inner),
            flags: Cell::new(0),
            waker: Cell::new(None),
            state,
        });
        lp.inner.req_started();
        let ptr = Box::into_raw(b);
        // SAFETY: `ptr` is a fresh box; point the request's `data` at it.
        unsafe { (*(*ptr).raw.get().cast::<ffi::uv_req_t>()).data = ptr.cast() };
        // SAFETY: Box::into_raw never returns null.
        Ok(unsafe { NonNull::new_unchecked(ptr) })
    }

    /// The raw request.
    #[inline]
    pub(crate) fn raw(&self) -> *mut R {
        self.raw.get()
    }

    /// The loop the request runs on.
    pub(crate) fn loop_inner(&self) -> &Rc<LoopInner> {
        &self.lp
    }

    /// Submits the request with `start(raw)` (the `uv_*` call). On a synchronous error the
    /// request never started: the box is freed and the error returned.
    ///
    /// When `owned` is true the caller keeps a [`ReqOwner`] (made with [`ReqOwner::new`]).
    ///
    /// # Safety
    ///
    /// `p` comes from [`ReqBox::alloc`] and was not submitted before; `start` passes a
    /// completion callback that ends with [`ReqBox::complete`] for this `R` and `S`.
    pub(crate) unsafe fn submit(
        p: NonNull<ReqBox<R, S>>,
        owned: bool,
        start: impl FnOnce(*mut R) -> i32,
    ) -> Result<()> {
        // SAFETY: `p` is a live, unsubmitted box (contract).
        let b = unsafe { p.as_ref() };
        let ret = start(b.raw());
        if ret < 0 {
            // SAFETY: libuv did not take the request: free it now.
            unsafe { Self::free(p.as_ptr()) };
            return Err(Error::from_code(ret));
        }
        b.flags.set(SUBMITTED | if owned { OWNED } else { 0 });
        Ok(())
    }

    /// The box of a request libuv passed to a completion callback.
    ///
    /// # Safety
    ///
    /// `raw` is a submitted request of a `ReqBox<R, S>` that has not completed yet.
    #[inline]
    pub(crate) unsafe fn from_raw<'a>(raw: *mut R) -> &'a ReqBox<R, S> {
        // SAFETY: `raw` is the first field of a live ReqBox<R, S> (contract).
        unsafe { &*raw.cast::<ReqBox<R, S>>() }
    }

    /// Marks the request done: wakes the future, or frees the box if no future holds it.
    ///
    /// # Safety
    ///
    /// Called once, at the end of the completion callback of `raw` (after which libuv no
    /// longer touches it). `raw` must not be used afterwards.
    pub(crate) unsafe fn complete(raw: *mut R) {
        // SAFETY: contract: a live box whose operation just completed.
        let b = unsafe { Self::from_raw(raw) };
        let f = b.flags.get() | DONE;
        b.flags.set(f);
        if f & OWNED == 0 {
            // SAFETY: nobody else holds the box.
            unsafe { Self::free(raw.cast()) };
        } else if let Some(w) = b.waker.take() {
            w.wake();
        }
    }

    /// Frees the box (cleanup, state drop, request count).
    ///
    /// # Safety
    ///
    /// libuv is done with the request and no Rust owner remains.
    unsafe fn free(p: *mut ReqBox<R, S>) {
        // SAFETY: per the contract the box is ours alone.
        unsafe {
            R::cleanup((*p).raw.get());
            let b = Box::from_raw(p);
            let lp = Rc::clone(&b.lp);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(b)));
            if let Err(payload) = r {
                lp.store_panic(payload);
            }
            lp.req_finished();
        }
    }
}

/// The future side's hold on a request box.
pub(crate) struct ReqOwner<R: RawReq, S> {
    ptr: NonNull<ReqBox<R, S>>,
    _not_send: PhantomData<*mut ()>,
}

impl<R: RawReq, S> ReqOwner<R, S> {
    /// Takes the future's hold on a box submitted with `owned = true`.
    ///
    /// # Safety
    ///
    /// `p` was submitted with `owned = true`, and this is its only `ReqOwner`.
    pub(crate) unsafe fn new(p: NonNull<ReqBox<R, S>>) -> Self {
        ReqOwner {
            ptr: p,
            _not_send: PhantomData,
        }
    }

    /// The box (alive as long as this owner).
    #[inline]
    pub(crate) fn get(&self) -> &ReqBox<R, S> {
        // SAFETY: the box is freed only after the owner lets go (OWNED flag).
        unsafe { self.ptr.as_ref() }
    }

    /// True once the completion callback has run.
    pub(crate) fn is_done(&self) -> bool {
        self.get().flags.get() & DONE != 0
    }

    /// `Ready(f(box))` once complete; otherwise stores the waker.
    pub(crate) fn poll_done<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&ReqBox<R, S>) -> T,
    ) -> Poll<T> {
        let b = self.get();
        if self.is_done() {
            Poll::Ready(f(b))
        } else {
            b.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    }
}

impl<R: RawReq, S> ReqBox<R, S> {
    /// Takes the Rust side's hold on a request at the end of its completion callback,
    /// instead of [`ReqBox::complete`]: the box stays allocated, idle, for reuse with
    /// [`ReqOwner::resubmit`] (a stream's free list of write requests). Dropping the owner
    /// frees it.
    ///
    /// # Safety
    ///
    /// As for [`ReqBox::complete`], and the request was submitted without an owner
    /// (`owned == false`), so no [`ReqOwner`] exists for it.
    pub(crate) unsafe fn reclaim(raw: *mut R) -> ReqOwner<R, S> {
        // SAFETY: contract: a live box whose operation just completed, with no owner.
        let b = unsafe { Self::from_raw(raw) };
        b.flags.set(OWNED | DONE);
        ReqOwner {
            ptr: NonNull::from(b),
            _not_send: PhantomData,
        }
    }
}

impl<R: RawReq, S> ReqOwner<R, S> {
    /// Allocates an idle request (not submitted) held by this owner; dropping it frees it.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed.
    pub(crate) fn idle(lp: &LoopHandle, state: S) -> Result<Self> {
        let p = ReqBox::alloc(lp, state)?;
        // SAFETY: a fresh box, not submitted.
        unsafe { p.as_ref() }.flags.set(OWNED | DONE);
        Ok(ReqOwner {
            ptr: p,
            _not_send: PhantomData,
        })
    }

    /// Submits an idle or completed request (again) with `start(raw)`. With `keep` the
    /// owner is returned (a future polls it); without, libuv alone holds the box and the
    /// completion callback must end with [`ReqBox::complete`] or [`ReqBox::reclaim`]. On a
    /// synchronous error the box is freed.
    ///
    /// # Safety
    ///
    /// `start` passes a completion callback for this `R` and `S` that ends as described.
    pub(crate) unsafe fn resubmit(
        self,
        keep: bool,
        start: impl FnOnce(*mut R) -> i32,
    ) -> Result<Option<Self>> {
        debug_assert!(self.is_done());
        let ret = start(self.get().raw());
        if ret < 0 {
            drop(self);
            return Err(Error::from_code(ret));
        }
        let b = self.get();
        if keep {
            b.flags.set(SUBMITTED | OWNED);
            Ok(Some(self))
        } else {
            b.flags.set(SUBMITTED);
            std::mem::forget(self);
            Ok(None)
        }
    }
}

impl<R: RawReq, S> ReqOwner<R, S> {
    /// Lets go without cancelling: the request runs to completion and its callback frees it.
    pub(crate) fn detach(self) {
        let this = std::mem::ManuallyDrop::new(self);
        this.release();
    }

    /// Clears `OWNED`; frees if done. Returns whether the request is still in flight.
    fn release(&self) -> bool {
        let b = self.get();
        let f = b.flags.get() & !OWNED;
        b.flags.set(f);
        if f & DONE != 0 {
            // SAFETY: libuv is done and this was the last holder.
            unsafe { ReqBox::free(self.ptr.as_ptr()) };
            false
        } else {
            true
        }
    }
}

impl<R: RawReq, S> Drop for ReqOwner<R, S> {
    fn drop(&mut self) {
        let b: *const ReqBox<R, S> = self.get();
        if self.release() && R::CANCELLABLE {
            // Abandoned in flight: ask libuv to cancel (it fails harmlessly with EBUSY once
            // running). The completion callback runs either way and frees the box.
            // SAFETY: the request is submitted and not complete, so the box is alive (the
            // completion callback frees it later); uv_cancel accepts this request type.
            unsafe { ffi::uv_cancel((*b).raw().cast()) };
        }
    }
}

impl<R: RawReq, S> std::fmt::Debug for ReqOwner<R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("done", &self.is_done())
            .finish()
    }
}
