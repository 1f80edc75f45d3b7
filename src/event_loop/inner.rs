//! `LoopInner`: the state one loop shares with every handle, request and task on it
//! (the handle list, the request count, panics, next ticks, the executor), and owned-loop
//! shutdown.

use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::{HashMap, VecDeque};
use std::mem::MaybeUninit;
use std::rc::{Rc, Weak};

use crate::error::{Error, Result};
use crate::ffi;
use crate::handle::Header;
use crate::runtime::Executor;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Phase {
    Open,
    ShuttingDown,
    Closed,
}

/// What runs after a handle's close callback (`close_with`, `closed()`).
type Continuation = Box<dyn FnOnce()>;

/// The shared state of one loop. Reached through `Rc` from `Loop`, `LoopHandle` and every
/// handle and request box; all access is on the loop's thread.
pub(crate) struct LoopInner {
    pub(super) raw: *mut ffi::uv_loop_t,
    /// The loop's memory when uvio owns it; `None` for a borrowed (host) loop.
    pub(super) storage: Option<Box<UnsafeCell<MaybeUninit<ffi::uv_loop_t>>>>,
    pub(super) phase: Cell<Phase>,
    pub(super) leak_storage: Cell<bool>,
    pub(super) running: Cell<bool>,
    pub(crate) in_callback: Cell<bool>,
    pub(super) panic: Cell<Option<Box<dyn Any + Send>>>,
    /// uvio handles on this loop not yet through their close callback (they are found in
    /// `pool`).
    pub(super) handle_count: Cell<usize>,
    /// Requests in flight (allocated and not yet completed).
    pub(super) live_reqs: Cell<usize>,
    /// The loop's time when it was closed: what `now()` reports afterwards.
    pub(super) closed_now: Cell<u64>,
    /// Called when `close_all` has finished (no handle and no request left).
    pub(super) on_all_closed: Cell<Option<Box<dyn FnOnce()>>>,
    pub(super) next_ticks: RefCell<VecDeque<Box<dyn FnOnce()>>>,
    /// False when `next_ticks` is certainly empty: lets every callback's guard skip the
    /// queue with one load.
    pub(super) ticks_queued: Cell<bool>,
    /// What to call once a handle's close callback has run (`close_with`, `closed()`), by
    /// handle. Kept here rather than in every handle's header: few handles have one.
    pub(super) on_closed: RefCell<HashMap<*mut ffi::uv_handle_t, Continuation>>,
    /// The shared timer of every `time::sleep` (created on first use, dropped at shutdown).
    pub(crate) sleeps: RefCell<Option<Rc<crate::sleeps::Sleeps>>>,
    /// `node::set_immediate`'s queue (owned by its check handle's callback; created on first
    /// use).
    pub(crate) immediates: RefCell<Weak<crate::node::Immediates>>,
    /// Idle 64 KiB read buffers of this loop's streams (`stream/mod.rs`). Per loop, not per
    /// thread: a thread-local would need a thread-exit destructor (see `thread_id`).
    pub(crate) read_bufs: RefCell<crate::stream::Pool>,
    /// What the embedder set on a borrowed loop: panic handler, queued panics, callback hook.
    pub(crate) host: crate::host::HostState,
    pub(crate) executor: Executor,
    /// The memory of this loop's handle boxes (`handle.rs`). Every box holds an
    /// `Rc<LoopInner>`, so the pool outlives every box carved from it.
    pub(crate) pool: super::BoxPool,
}

impl LoopInner {
    pub(crate) fn raw(&self) -> *mut ffi::uv_loop_t {
        self.raw
    }

    pub(crate) fn is_owned(&self) -> bool {
        self.storage.is_some()
    }

    /// Errors with `EBADF` once the loop is shutting down or closed.
    pub(crate) fn ensure_open(&self) -> Result<()> {
        if self.phase.get() == Phase::Open {
            Ok(())
        } else {
            Err(Error::EBADF.with_operation("loop is closed"))
        }
    }

    pub(crate) fn store_panic(&self, payload: Box<dyn Any + Send>) {
        if !self.is_owned() {
            // To the embedder's handler, or queued for take_panic (`host.rs`).
            return crate::host::panicked(self, payload);
        }
        match self.panic.take() {
            None => self.panic.set(Some(payload)),
            Some(first) => {
                // Keep the first panic; drop the later one safely.
                self.panic.set(Some(first));
                crate::panic::drop_payload(payload);
            }
        }
        if self.is_owned() && self.phase.get() == Phase::Open {
            // SAFETY: the loop is initialised and open; uv_stop only sets a flag.
            unsafe { ffi::uv_stop(self.raw) };
        }
    }

    pub(crate) fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        if !self.is_owned() {
            return crate::host::take_panic(self);
        }
        self.panic.take()
    }

    pub(crate) fn resume_panic(&self) {
        if let Some(p) = self.panic.take() {
            std::panic::resume_unwind(p);
        }
    }

    /// Registers `f` to run after `h`'s close callback (replacing any earlier one: the
    /// caller chains them).
    pub(crate) fn set_on_closed(&self, h: *mut ffi::uv_handle_t, f: Continuation) {
        self.on_closed.borrow_mut().insert(h, f);
    }

    /// Takes what was registered for `h` with [`LoopInner::set_on_closed`].
    pub(crate) fn take_on_closed(&self, h: *mut ffi::uv_handle_t) -> Option<Continuation> {
        self.on_closed.borrow_mut().remove(&h)
    }

    pub(crate) fn push_next_tick(&self, f: Box<dyn FnOnce()>) {
        self.next_ticks.borrow_mut().push_back(f);
        self.ticks_queued.set(true);
    }

    /// Runs queued `next_tick` callbacks, including those they queue, each under a panic
    /// guard of its own.
    #[inline]
    pub(crate) fn run_next_ticks(&self) {
        if self.ticks_queued.get() {
            self.drain_next_ticks();
        }
    }

    /// The end of every outermost callback (and of each poll of `block_on`'s future): runs
    /// the `next_tick` queue, then the tasks woken meanwhile, then the ticks those queued, and
    /// so on until both are empty or the executor's budget is spent (the idle handle then
    /// takes the rest in the next iteration).
    #[inline]
    pub(crate) fn checkpoint(&self) {
        if self.ticks_queued.get() || self.executor.has_ready() || self.executor.main_ready() {
            self.checkpoint_slow();
        }
    }

    #[inline(never)]
    fn checkpoint_slow(&self) {
        let mut budget = crate::runtime::BUDGET;
        loop {
            self.run_next_ticks();
            if self.executor.main_ready() {
                // `block_on`'s future, woken inside uv_run: polled here like a task.
                if !self.executor.poll_main(self, &mut budget) {
                    break;
                }
                continue;
            }
            if !self.executor.has_ready() || !self.executor.run_ready(self, &mut budget) {
                break;
            }
        }
    }

    fn drain_next_ticks(&self) {
        loop {
            let next = self.next_ticks.borrow_mut().pop_front();
            let Some(f) = next else {
                self.ticks_queued.set(false);
                break;
            };
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                self.store_panic(p);
            }
        }
    }

    /// Counts a handle in (once initialised).
    pub(crate) fn handle_opened(&self) {
        self.handle_count.set(self.handle_count.get() + 1);
    }

    /// Counts a handle out (in its close callback).
    pub(crate) fn handle_closed(&self) {
        self.handle_count.set(self.handle_count.get() - 1);
    }

    pub(crate) fn req_started(&self) {
        self.live_reqs.set(self.live_reqs.get() + 1);
    }

    pub(crate) fn req_finished(&self) {
        self.live_reqs.set(self.live_reqs.get() - 1);
        self.maybe_all_closed();
    }

    pub(crate) fn maybe_all_closed(&self) {
        if self.all_closed() {
            if let Some(f) = self.on_all_closed.take() {
                f();
            }
        }
    }

    /// No handle and no request left on the loop.
    #[inline]
    pub(crate) fn all_closed(&self) -> bool {
        self.handle_count.get() == 0 && self.live_reqs.get() == 0
    }

    /// Drops every task, then the sleeps' shared timer (which the loop holds until now, so
    /// dropping it here breaks that reference cycle).
    pub(super) fn stop_futures(&self) {
        self.executor.shutdown();
        let sleeps = self.sleeps.borrow_mut().take();
        drop(sleeps);
    }

    /// Starts closing every uvio handle on this loop that is not closing already.
    ///
    /// The handles are the pool's blocks whose first word (`uv_handle_t::data`) points
    /// inside the block itself, at its header; a free block's first word links to another
    /// block or is null.
    pub(super) fn close_every_handle(&self) {
        self.pool.for_each_block(|block, size| {
            let h = block.as_ptr().cast::<ffi::uv_handle_t>();
            // SAFETY: every carved block starts with an initialised word: a free-list link,
            // or the `data` field of a handle box (whose `uv_handle_t` is its first field;
            // `data` is zero until `uv_*_init` succeeded, then points at the header).
            let data = unsafe { (*h).data }.addr();
            if data > block.as_ptr().addr() && data < block.as_ptr().addr() + size {
                // SAFETY: a live uvio handle box with an initialised handle; `begin_close`
                // only calls `uv_close` (no callback runs, nothing is allocated or freed).
                unsafe { Header::begin_close(h) };
            }
        });
    }

    /// Keeps the loop's time for `now()` after the loop is closed (when its memory is no
    /// longer a valid loop: libuv scribbles over it, a host may free it).
    pub(super) fn record_now(&self) {
        // SAFETY: called while the loop is still initialised.
        self.closed_now.set(unsafe { ffi::uv_now(self.raw) });
    }

    /// Owned-loop shutdown: drop tasks, close handles, drain, `uv_loop_close`.
    pub(super) fn shutdown(&self) {
        if self.phase.get() != Phase::Open {
            return;
        }
        self.phase.set(Phase::ShuttingDown);
        let _enter = crate::panic::enter(self);
        self.stop_futures();
        self.run_next_ticks();
        self.next_ticks.borrow_mut().clear();
        self.ticks_queued.set(false);
        for _ in 0..64 {
            self.close_every_handle();
            // Something outside uvio's list may be open too (a handle created through `ffi`):
            // close it as well, or an active one would keep uv_run below blocked forever. Its
            // memory is never touched after the close.
            // SAFETY: walking an initialised loop; `close_foreign` only calls uv_close on
            // handles not already closing.
            unsafe { ffi::uv_walk(self.raw, Some(close_foreign), std::ptr::null_mut()) };
            // SAFETY: the loop is initialised and not running (shutdown is only reached from
            // Loop::drop, which cannot happen inside `run`).
            unsafe { ffi::uv_run(self.raw, ffi::UV_RUN_DEFAULT) };
            self.record_now();
            // SAFETY: as above.
            if unsafe { ffi::uv_loop_close(self.raw) } == 0 {
                self.phase.set(Phase::Closed);
                break;
            }
        }
        if let Some(p) = self.panic.take() {
            crate::panic::drop_payload(p);
        }
        if self.phase.get() != Phase::Closed {
            // The loop could not be closed: LoopInner::drop will leak its memory rather than
            // free memory libuv may still use.
            self.leak_storage.set(true);
            self.phase.set(Phase::Closed);
        }
    }
}

unsafe extern "C" fn close_foreign(h: *mut ffi::uv_handle_t, _arg: *mut ffi::c_void) {
    // SAFETY: libuv passes a live handle of the loop being walked.
    unsafe {
        if ffi::uv_is_closing(h) == 0 {
            ffi::uv_close(h, None);
        }
    }
}

impl Drop for LoopInner {
    fn drop(&mut self) {
        if let Some(storage) = self.storage.take() {
            if self.leak_storage.get() || self.phase.get() != Phase::Closed {
                // Never free memory libuv may still reference.
                std::mem::forget(storage);
            }
        }
    }
}
