//! Tasks and their `Send + Sync` wakers.

use std::cell::UnsafeCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::event_loop::LoopInner;
use crate::ffi;
// No `std::thread::current()`: it registers a thread-exit destructor (see `thread_id`).
use crate::thread_id::{ThreadId, this_thread};

const NOTIFIED: u8 = 1;
const DONE: u8 = 2;
const RUNNING: u8 = 4;
const ABORT: u8 = 8;
const MAIN: u8 = 16;

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The cross-thread state of one executor.
pub(crate) struct Shared {
    owner: ThreadId,
    /// The loop; dereferenced only on the owner thread while `alive`.
    local: *const LoopInner,
    alive: AtomicBool,
    main_woken: AtomicBool,
    remote: Mutex<Remote>,
}

struct Remote {
    queue: Vec<Arc<Task>>,
    /// The executor's async handle; null once the loop is gone.
    wake: *mut ffi::uv_async_t,
}

// SAFETY: `local` is only dereferenced on the owner thread (checked against `owner`), and
// `wake` is only used under the mutex, for uv_async_send (thread-safe), and nulled under the
// same mutex before the handle is closed.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    pub(crate) fn new(local: *const LoopInner, wake: *mut ffi::uv_async_t) -> Shared {
        Shared {
            owner: this_thread(),
            local,
            alive: AtomicBool::new(true),
            main_woken: AtomicBool::new(false),
            remote: Mutex::new(Remote {
                queue: Vec::new(),
                wake,
            }),
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// The loop is gone: wakes do nothing from now on.
    pub(crate) fn kill(&self) {
        self.alive.store(false, Ordering::Release);
        let mut r = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        r.wake = std::ptr::null_mut();
        let q = std::mem::take(&mut r.queue);
        drop(r);
        drop(q);
    }

    pub(crate) fn take_remote(&self) -> Vec<Arc<Task>> {
        let mut r = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut r.queue)
    }

    pub(crate) fn main_woken(&self) -> bool {
        self.main_woken.load(Ordering::Acquire)
    }

    pub(crate) fn take_main_woken(&self) -> bool {
        self.main_woken.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn set_main_woken(&self, v: bool) {
        self.main_woken.store(v, Ordering::Release);
    }

    /// Sends a remote wake to the loop thread.
    fn send_remote(&self, task: Option<Arc<Task>>) {
        let mut r = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        if r.wake.is_null() {
            return;
        }
        if let Some(t) = task {
            r.queue.push(t);
        }
        // SAFETY: the async handle is open while `wake` is non-null (it is nulled under this
        // mutex before closing), and uv_async_send is safe from any thread.
        unsafe { ffi::uv_async_send(r.wake) };
    }
}

/// One spawned future (or, with `MAIN`, the future of `block_on`, which is polled in place).
pub(crate) struct Task {
    shared: Arc<Shared>,
    state: AtomicU8,
    index: UnsafeCell<usize>,
    future: UnsafeCell<Option<BoxFuture>>,
}

// SAFETY: `future` and `index` are only touched on the owner thread (`Shared::owner`):
// `poll`, `take_future`, `set_index` and `index` are `unsafe` or crate-internal and called
// only from the executor on that thread. `Drop` checks the thread before dropping a future.
unsafe impl Send for Task {}
// SAFETY: as above; `state` is atomic.
unsafe impl Sync for Task {}

impl Task {
    pub(crate) fn new(shared: Arc<Shared>, fut: BoxFuture) -> Task {
        Task {
            shared,
            state: AtomicU8::new(0),
            index: UnsafeCell::new(usize::MAX),
            future: UnsafeCell::new(Some(fut)),
        }
    }

    pub(crate) fn main(shared: Arc<Shared>) -> Task {
        Task {
            shared,
            state: AtomicU8::new(MAIN),
            index: UnsafeCell::new(usize::MAX),
            future: UnsafeCell::new(None),
        }
    }

    pub(crate) fn set_index(&self, i: usize) {
        debug_assert_eq!(self.shared.owner, this_thread());
        // SAFETY: owner thread only (called from `Executor::spawn`).
        unsafe { *self.index.get() = i };
    }

    pub(crate) fn index(&self) -> Option<usize> {
        debug_assert_eq!(self.shared.owner, this_thread());
        // SAFETY: owner thread only (called from the executor).
        let i = unsafe { *self.index.get() };
        (i != usize::MAX).then_some(i)
    }

    pub(crate) fn mark_notified(&self) {
        self.state.fetch_or(NOTIFIED, Ordering::AcqRel);
    }

    pub(crate) fn mark_done(&self) {
        self.state.fetch_or(DONE, Ordering::AcqRel);
    }

    /// For shutdown: takes the future out (to drop it), unless the task is being polled right
    /// now (shutdown reached from inside that poll, through `Loop::close_all`). Then it is
    /// only marked aborted, and the executor drops it once the poll has returned.
    ///
    /// # Safety
    ///
    /// On the owner thread.
    pub(crate) unsafe fn take_future_unless_running(&self) -> Option<BoxFuture> {
        let prev = self.state.fetch_or(ABORT, Ordering::AcqRel);
        if prev & RUNNING != 0 {
            return None;
        }
        // SAFETY: owner thread (contract), and the future is not being polled.
        unsafe { self.take_future() }
    }

    /// Takes the future out (to drop it), marking the task done.
    ///
    /// # Safety
    ///
    /// On the owner thread, and not while the future is being polled.
    pub(crate) unsafe fn take_future(&self) -> Option<BoxFuture> {
        self.state.fetch_or(DONE, Ordering::AcqRel);
        // SAFETY: per the contract, nobody else is touching `future`.
        unsafe { (*self.future.get()).take() }
    }

    /// Polls the task once. `Ready` means finished (completed, or aborted while polling).
    ///
    /// # Safety
    ///
    /// On the owner thread; not re-entrant for the same task (the executor never polls a task
    /// from inside its own poll: nested `run`/`block_on` are refused).
    pub(crate) unsafe fn poll(self: &Arc<Self>, lp: &LoopInner) -> Poll<()> {
        let prev = self.state.fetch_and(!NOTIFIED, Ordering::AcqRel);
        if prev & DONE != 0 {
            return Poll::Ready(());
        }
        // SAFETY: owner thread, not re-entrant (contract).
        let Some(fut) = (unsafe { &mut *self.future.get() }).as_mut() else {
            return Poll::Ready(());
        };
        self.state.fetch_or(RUNNING, Ordering::AcqRel);
        let waker = waker_ref(self);
        let mut cx = Context::from_waker(&waker);
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
        let prev = self.state.fetch_and(!RUNNING, Ordering::AcqRel);
        match r {
            Ok(Poll::Ready(())) => Poll::Ready(()),
            Ok(Poll::Pending) if prev & ABORT != 0 => Poll::Ready(()),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => {
                lp.store_panic(p);
                Poll::Ready(())
            }
        }
    }

    /// Cancels the task: drops its future now, or right after its current poll.
    pub(crate) fn abort(self: &Arc<Self>) {
        let prev = self.state.fetch_or(ABORT, Ordering::AcqRel);
        if prev & (DONE | RUNNING) != 0 {
            return;
        }
        if self.shared.owner != this_thread() || !self.shared.is_alive() {
            return;
        }
        // SAFETY: on the owner thread with the loop alive, `local` is valid.
        let lp = unsafe { &*self.shared.local };
        lp.executor.finish(lp, self);
    }

    fn schedule(self: Arc<Self>) {
        let prev = self.state.fetch_or(NOTIFIED, Ordering::AcqRel);
        if prev & MAIN != 0 {
            if prev & DONE != 0 {
                // Its block_on has returned.
                return;
            }
            self.shared.set_main_woken(true);
            if self.shared.owner == this_thread() {
                if self.shared.is_alive() {
                    // SAFETY: owner thread, loop alive: `local` is valid.
                    let lp = unsafe { &*self.shared.local };
                    lp.executor.wake_main(lp);
                }
            } else {
                self.shared.send_remote(None);
            }
            return;
        }
        if prev & (NOTIFIED | DONE) != 0 {
            return;
        }
        if self.shared.owner == this_thread() {
            if self.shared.is_alive() {
                // SAFETY: owner thread, loop alive: `local` is valid.
                let lp = unsafe { &*self.shared.local };
                if prev & RUNNING != 0 {
                    // Woken by its own poll: a yield, polled again after the loop's I/O.
                    lp.executor.push_deferred(self);
                } else {
                    lp.executor.push_local(lp, self);
                }
            }
        } else {
            let shared = Arc::clone(&self.shared);
            shared.send_remote(Some(self));
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let fut = self.future.get_mut().take();
        if let Some(fut) = fut {
            if self.shared.owner == this_thread() {
                drop(fut);
            } else {
                // A `!Send` future must not be dropped on another thread: leak it instead.
                std::mem::forget(fut);
            }
        }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

unsafe fn clone_raw(p: *const ()) -> RawWaker {
    // SAFETY: `p` came from `Arc::into_raw` of an `Arc<Task>` that is still alive.
    unsafe { Arc::increment_strong_count(p.cast::<Task>()) };
    RawWaker::new(p, &VTABLE)
}

unsafe fn wake_raw(p: *const ()) {
    // SAFETY: `p` owns one strong count (from `Arc::into_raw`), consumed here.
    let t = unsafe { Arc::from_raw(p.cast::<Task>()) };
    t.schedule();
}

unsafe fn wake_by_ref_raw(p: *const ()) {
    // SAFETY: `p` is a live `Arc<Task>`; take a new count for `schedule`.
    let t = unsafe {
        Arc::increment_strong_count(p.cast::<Task>());
        Arc::from_raw(p.cast::<Task>())
    };
    t.schedule();
}

unsafe fn drop_raw(p: *const ()) {
    // SAFETY: `p` owns one strong count, released here.
    drop(unsafe { Arc::from_raw(p.cast::<Task>()) });
}

/// A waker owning one count of `task`.
pub(crate) fn waker(task: Arc<Task>) -> Waker {
    let raw = RawWaker::new(Arc::into_raw(task).cast(), &VTABLE);
    // SAFETY: the vtable's functions uphold the RawWaker contract for an `Arc<Task>`, and
    // `Task` is Send + Sync, so the waker may be used from any thread.
    unsafe { Waker::from_raw(raw) }
}

/// A waker borrowing `task` for one poll (cloned into an owning one when stored).
fn waker_ref(task: &Arc<Task>) -> std::mem::ManuallyDrop<Waker> {
    let raw = RawWaker::new(Arc::as_ptr(task).cast(), &VTABLE);
    // SAFETY: as in `waker`; wrapped in ManuallyDrop so the borrowed count is never released.
    std::mem::ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}
