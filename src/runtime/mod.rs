//! The executor: futures run on the libuv loop itself.
//!
//! A task woken while a libuv callback runs is polled before that callback returns to libuv:
//! the callback's [`crate::panic::Scope`] ends with the loop's checkpoint, which runs the
//! `next_tick` queue and then the run queue (tasks woken by those tasks too), at most
//! [`BUDGET`] polls per checkpoint. So a readiness event costs one poll of the task it wakes
//! and no extra loop iteration. One `uv_idle_t` remains, active only while something is left
//! for the next iteration: tasks woken outside any callback (before `run`, by a host's own
//! code on a borrowed loop), tasks that woke themselves while being polled (a yield: they run
//! in the next iteration, after I/O), and what a spent budget left behind.
//!
//! Wakers are `Send + Sync`: a wake on the loop thread pushes to the queue; a wake from
//! another thread pushes to a locked queue and calls `uv_async_send`, the one thread-safe
//! libuv call, whose callback moves the tasks over and polls them at its checkpoint. A waker
//! that outlives its loop does nothing.
//!
//! A task is an `Arc<Task>` (so wakers can cross threads) whose future is touched only on the
//! loop's thread: polled by the queue, dropped when it completes, is aborted, or the loop
//! shuts down.

mod join;
mod task;

pub use join::{JoinError, JoinHandle};

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::LoopHandle;
use crate::event_loop::LoopInner;
use crate::ffi;
use crate::handle::{HandleRef, Header};
use task::{Shared, Task};

/// How many task polls one checkpoint makes before leaving the rest to the next loop
/// iteration, so that tasks waking each other in a circle cannot starve I/O.
pub(crate) const BUDGET: usize = 1024;

pub(crate) struct Executor {
    queue: RefCell<VecDeque<Arc<Task>>>,
    /// Tasks that woke themselves while being polled: polled again in the next iteration.
    deferred: RefCell<Vec<Arc<Task>>>,
    /// Every live task, so shutdown can drop their futures on this thread.
    tasks: RefCell<Slab>,
    idle: RefCell<Option<HandleRef<ffi::uv_idle_t, ()>>>,
    idle_active: Cell<bool>,
    wake: RefCell<Option<HandleRef<ffi::uv_async_t, ()>>>,
    shared: RefCell<Option<Arc<Shared>>>,
    shut: Cell<bool>,
    /// A `block_on` is running: only then does a wake of its main future count.
    blocking: Cell<bool>,
    /// That `block_on` is inside `uv_run`: a wake of its main future stops the loop so the
    /// future is polled as soon as the current iteration ends.
    in_run: Cell<bool>,
    /// That `block_on` is polling its main future: tasks it wakes are polled at the
    /// checkpoint right after the poll.
    polling_main: Cell<bool>,
    /// While that `block_on` is inside `uv_run`: how a checkpoint polls its main future.
    main_poll: Cell<Option<MainPoll>>,
    /// The main future was woken inside `uv_run`: the next checkpoint polls it.
    main_ready: Cell<bool>,
}

/// A type-erased poll of `block_on`'s future, on `block_on`'s stack: `poll(data)` polls it
/// once and returns whether it finished (its output is then in the slot behind `data`).
#[derive(Clone, Copy)]
struct MainPoll {
    data: *mut (),
    poll: unsafe fn(*mut ()) -> bool,
}

/// `block_on`'s future, its context and, once it finished, its output.
struct MainSlot<'a, F: Future> {
    fut: Pin<&'a mut F>,
    cx: Context<'a>,
    out: Option<F::Output>,
}

/// [`MainPoll::poll`] for a `MainSlot<F>`.
///
/// # Safety
///
/// `data` points to a live `MainSlot<'_, F>` that nothing else accesses during the call.
unsafe fn poll_slot<F: Future>(data: *mut ()) -> bool {
    // SAFETY: per the contract.
    let slot = unsafe { &mut *data.cast::<MainSlot<'_, F>>() };
    match slot.fut.as_mut().poll(&mut slot.cx) {
        Poll::Ready(v) => {
            slot.out = Some(v);
            true
        }
        Poll::Pending => false,
    }
}

#[derive(Default)]
struct Slab {
    slots: Vec<Option<Arc<Task>>>,
    free: Vec<usize>,
}

impl Slab {
    fn insert(&mut self, t: Arc<Task>) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(t);
                i
            }
            None => {
                self.slots.push(Some(t));
                self.slots.len() - 1
            }
        }
    }
    fn remove(&mut self, i: usize) -> Option<Arc<Task>> {
        let t = self.slots.get_mut(i)?.take();
        if t.is_some() {
            self.free.push(i);
        }
        t
    }
}

impl Executor {
    pub(crate) fn new() -> Executor {
        Executor {
            queue: RefCell::new(VecDeque::new()),
            deferred: RefCell::new(Vec::new()),
            tasks: RefCell::new(Slab::default()),
            idle: RefCell::new(None),
            idle_active: Cell::new(false),
            wake: RefCell::new(None),
            shared: RefCell::new(None),
            shut: Cell::new(false),
            blocking: Cell::new(false),
            in_run: Cell::new(false),
            polling_main: Cell::new(false),
            main_poll: Cell::new(None),
            main_ready: Cell::new(false),
        }
    }

    /// True once [`Executor::shutdown`] ran (the loop closed, or `close_all`).
    pub(crate) fn is_shut(&self) -> bool {
        self.shut.get()
    }

    /// The cross-thread part, created with the executor's handles on first use (never after
    /// shutdown: nothing would close those handles or retire their wakers).
    fn shared(&self, lp: &Rc<LoopInner>) -> crate::Result<Arc<Shared>> {
        if let Some(s) = &*self.shared.borrow() {
            return Ok(Arc::clone(s));
        }
        lp.ensure_open()?;
        if self.shut.get() {
            return Err(crate::Error::EBADF.with_operation("executor is shut down"));
        }
        let handle = LoopHandle {
            inner: Rc::clone(lp),
        };
        // SAFETY: uv_idle_init initialises an idle handle on the loop.
        let idle = unsafe {
            HandleRef::<ffi::uv_idle_t, ()>::new(&handle, (), |l, h| ffi::uv_idle_init(l, h))?
        };
        // SAFETY: uv_async_init initialises an async handle with our callback.
        let wake = unsafe {
            HandleRef::<ffi::uv_async_t, ()>::new(&handle, (), |l, h| {
                ffi::uv_async_init(l, h, Some(on_remote_wake))
            })?
        };
        // Housekeeping handles never keep the loop alive by themselves.
        // SAFETY: both handles are initialised and open.
        unsafe { ffi::uv_unref(wake.raw_handle()) };
        let shared = Arc::new(Shared::new(Rc::as_ptr(lp), wake.raw()));
        *self.idle.borrow_mut() = Some(idle);
        *self.wake.borrow_mut() = Some(wake);
        *self.shared.borrow_mut() = Some(Arc::clone(&shared));
        Ok(shared)
    }

    pub(crate) fn spawn<F>(&self, lp: &Rc<LoopInner>, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (spawned, join) = join::wrap(fut);
        let shared = match self.shut.get() {
            true => None,
            false => self.shared(lp).ok(),
        };
        let Some(shared) = shared else {
            // The loop is closed: the future is dropped unpolled, the handle says cancelled.
            drop(spawned);
            return join;
        };
        let task = Arc::new(Task::new(shared, Box::pin(spawned)));
        let idx = self.tasks.borrow_mut().insert(Arc::clone(&task));
        task.set_index(idx);
        join.set_task(Arc::clone(&task));
        task.mark_notified();
        self.push_local(lp, task);
        join
    }

    /// Queues a task on the loop thread. Inside a callback the callback's checkpoint polls
    /// it; outside one the idle handle will.
    pub(crate) fn push_local(&self, lp: &LoopInner, task: Arc<Task>) {
        if self.shut.get() {
            return;
        }
        self.queue.borrow_mut().push_back(task);
        if !lp.in_callback.get() && !self.polling_main.get() {
            self.ensure_idle();
        }
    }

    /// Queues a task that woke itself while being polled, for the next loop iteration.
    pub(crate) fn push_deferred(&self, task: Arc<Task>) {
        if self.shut.get() {
            return;
        }
        self.deferred.borrow_mut().push(task);
        self.ensure_idle();
    }

    /// Whether the run queue holds a task.
    #[inline]
    pub(crate) fn has_ready(&self) -> bool {
        !self.queue.borrow().is_empty()
    }

    fn has_deferred(&self) -> bool {
        !self.deferred.borrow().is_empty()
    }

    fn ensure_idle(&self) {
        if self.idle_active.get() {
            return;
        }
        if let Some(idle) = &*self.idle.borrow() {
            // SAFETY: the idle handle is initialised and open (the executor is not shut).
            unsafe { ffi::uv_idle_start(idle.raw(), Some(on_idle)) };
            self.idle_active.set(true);
        }
    }

    fn stop_idle(&self) {
        if !self.idle_active.get() {
            return;
        }
        if let Some(idle) = &*self.idle.borrow() {
            // SAFETY: the idle handle is initialised and open.
            unsafe { ffi::uv_idle_stop(idle.raw()) };
        }
        self.idle_active.set(false);
    }

    /// Whether a checkpoint has `block_on`'s future to poll.
    #[inline]
    pub(crate) fn main_ready(&self) -> bool {
        self.main_ready.get()
    }

    /// Polls `block_on`'s future at a checkpoint (see [`Executor::wake_main`]). When it
    /// finishes, the loop is stopped so `block_on` returns its output after this iteration.
    /// Returns `false` when `budget` is spent: the poll is left to the idle handle's
    /// checkpoint in the next iteration.
    pub(crate) fn poll_main(&self, lp: &LoopInner, budget: &mut usize) -> bool {
        if *budget == 0 {
            self.ensure_idle();
            return false;
        }
        self.main_ready.set(false);
        // Taken while it runs: never polled re-entrantly, and not again after a panic.
        let Some(main) = self.main_poll.take() else {
            return true;
        };
        *budget -= 1;
        if let Some(s) = &*self.shared.borrow() {
            s.take_main_woken();
        }
        // SAFETY: `main_poll` is set only by `block_on`, around `uv_run`, to its slot on its
        // stack frame, which lives (and is not touched by `block_on`) until uv_run returns;
        // taking it out of the cell makes this the only access.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
            (main.poll)(main.data)
        }));
        match r {
            Ok(true) => {
                // SAFETY: `block_on` runs only on owned loops; uv_stop only sets a flag.
                unsafe { ffi::uv_stop(lp.raw()) };
            }
            Ok(false) => self.main_poll.set(Some(main)),
            // Resumed by `block_on` once uv_run returns (store_panic stops the loop).
            Err(p) => lp.store_panic(p),
        }
        true
    }

    /// Polls queued tasks until the queue is empty (`true`) or `budget` is spent (`false`;
    /// the idle handle then takes the rest in the next iteration).
    pub(crate) fn run_ready(&self, lp: &LoopInner, budget: &mut usize) -> bool {
        while *budget > 0 {
            let next = self.queue.borrow_mut().pop_front();
            let Some(task) = next else { return true };
            *budget -= 1;
            self.run_task(lp, task);
        }
        if self.has_ready() {
            self.ensure_idle();
            return false;
        }
        true
    }

    /// The idle callback: tasks that yielded (or were woken outside a callback, or left by a
    /// spent budget) are polled, then the idle handle stops unless more is left.
    fn tick(&self, lp: &LoopInner) {
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        self.queue.borrow_mut().extend(deferred);
        lp.checkpoint();
        if !self.has_ready() && !self.has_deferred() {
            self.stop_idle();
        }
    }

    fn run_task(&self, lp: &LoopInner, task: Arc<Task>) {
        // SAFETY: we are on the loop thread, the only place task futures are touched.
        let r = unsafe { task.poll(lp) };
        if r.is_ready() {
            self.finish(lp, &task);
        }
    }

    /// Drops a task's future (if still there) and forgets the task.
    pub(crate) fn finish(&self, lp: &LoopInner, task: &Arc<Task>) {
        // SAFETY: on the loop thread; the future is not being polled (callers check).
        let fut = unsafe { task.take_future() };
        if let Some(i) = task.index() {
            task.set_index(usize::MAX);
            self.tasks.borrow_mut().remove(i);
        }
        if let Some(fut) = fut {
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(fut))) {
                lp.store_panic(p);
            }
        }
    }

    /// The `block_on` future was woken on the loop thread. Inside `uv_run`, stop the loop
    /// (a flag: the current iteration finishes without blocking) so `block_on` polls the
    /// future next; outside, `block_on` sees the wake itself.
    pub(crate) fn wake_main(&self, lp: &LoopInner) {
        if self.blocking.get() && self.in_run.get() && self.main_poll.get().is_some() {
            // Inside uv_run every wake on this thread comes from a callback or a task, and
            // the checkpoint that ends it polls the main future (in this iteration, so what
            // it submits is in this iteration's I/O).
            self.main_ready.set(true);
            return;
        }
        if self.blocking.get() && self.in_run.get() {
            // SAFETY: `block_on` runs only on owned loops, and this one is inside uv_run;
            // uv_stop only sets a flag.
            unsafe { ffi::uv_stop(lp.raw()) };
        }
    }

    /// A running `block_on` has been woken and not polled yet. (A stale wake of a finished
    /// `block_on` must not keep the idle handle spinning.)
    fn main_pending(&self) -> bool {
        self.blocking.get()
            && self
                .shared
                .borrow()
                .as_ref()
                .is_some_and(|s| s.main_woken())
    }

    /// Moves tasks woken from other threads into the local queue.
    fn drain_remote(&self, lp: &LoopInner) {
        let Some(shared) = self.shared.borrow().clone() else {
            return;
        };
        for t in shared.take_remote() {
            self.push_local(lp, t);
        }
        if self.main_pending() {
            self.wake_main(lp);
        }
    }

    /// Runs `fut` to completion, running the loop meanwhile.
    pub(crate) fn block_on<F: Future>(&self, lp: &Rc<LoopInner>, fut: F) -> F::Output {
        let _enter = crate::panic::enter(lp);
        let shared = match self.shared(lp) {
            Ok(s) => s,
            Err(_) => unreachable_closed(),
        };
        let main = Arc::new(Task::main(Arc::clone(&shared)));
        let waker = task::waker(Arc::clone(&main));
        let mut slot = MainSlot {
            fut: pin!(fut),
            cx: Context::from_waker(&waker),
            out: None,
        };
        // Every access to the slot from here on goes through this pointer: the checkpoints
        // inside uv_run use it too.
        let slot_ptr: *mut MainSlot<'_, F> = &mut slot;
        // While block_on waits, a wake from another thread must be able to end the poll.
        let wake_raw = self.wake.borrow().as_ref().map(|w| w.raw_handle());
        if let Some(w) = wake_raw {
            // SAFETY: the async handle is initialised and open.
            unsafe { ffi::uv_ref(w) };
        }
        /// Undoes what `block_on` set up, however it exits (a panic included).
        struct Exit<'a> {
            exec: &'a Executor,
            wake: Option<*mut ffi::uv_handle_t>,
            shared: Arc<Shared>,
            main: Arc<Task>,
        }
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                self.main.mark_done();
                self.exec.blocking.set(false);
                self.shared.set_main_woken(false);
                if let (Some(w), true) = (self.wake, self.shared.is_alive()) {
                    // SAFETY: the executor is alive, so its async handle is open.
                    unsafe { ffi::uv_unref(w) };
                }
                self.exec.in_run.set(false);
                self.exec.main_poll.set(None);
                self.exec.main_ready.set(false);
                // Tasks the main future woke in its last poll run in the next iteration.
                if self.exec.has_ready() || self.exec.has_deferred() {
                    self.exec.ensure_idle();
                }
            }
        }
        let _exit = Exit {
            exec: self,
            wake: wake_raw,
            shared: Arc::clone(&shared),
            main: Arc::clone(&main),
        };
        self.blocking.set(true);
        shared.set_main_woken(true);
        /// Marks the main future's poll, so the tasks it wakes are queued for the
        /// checkpoint that follows (not for the idle handle).
        struct InPoll<'a>(&'a Executor);
        impl Drop for InPoll<'_> {
            fn drop(&mut self) {
                self.0.polling_main.set(false);
            }
        }
        loop {
            if shared.take_main_woken() {
                self.polling_main.set(true);
                let in_poll = InPoll(self);
                // SAFETY: the slot is alive on this frame and not registered anywhere now.
                let done = unsafe { poll_slot::<F>(slot_ptr.cast()) };
                drop(in_poll);
                if !done {
                    // The checkpoint, as at the end of a callback.
                    drop(crate::panic::scope(lp));
                }
            }
            // SAFETY: as above.
            if let Some(v) = unsafe { (*slot_ptr).out.take() } {
                // A panic caught while the future ran (a task it aborted panicked in
                // Drop) belongs to this call, not to the next run.
                lp.resume_panic();
                return v;
            }
            lp.resume_panic();
            let mode = if shared.main_woken() {
                ffi::UV_RUN_NOWAIT
            } else {
                ffi::UV_RUN_ONCE
            };
            self.in_run.set(true);
            // While uv_run runs, a wake of the main future inside it has it polled by the
            // checkpoint that ends the waking callback (see `wake_main`).
            self.main_poll.set(Some(MainPoll {
                data: slot_ptr.cast(),
                poll: poll_slot::<F>,
            }));
            // SAFETY: the loop is owned, open and not running (checked by Loop::block_on).
            unsafe { ffi::uv_run(lp.raw(), mode) };
            self.main_poll.set(None);
            self.main_ready.set(false);
            self.in_run.set(false);
            lp.resume_panic();
        }
    }

    /// Drops every task and closes the executor's handles. Later spawns are cancelled.
    pub(crate) fn shutdown(&self) {
        if self.shut.replace(true) {
            return;
        }
        self.stop_idle();
        let slots = std::mem::take(&mut self.tasks.borrow_mut().slots);
        for t in slots.into_iter().flatten() {
            // SAFETY: on the loop thread.
            let fut = unsafe { t.take_future_unless_running() };
            if let Some(fut) = fut {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(fut)));
                if let Err(p) = r {
                    crate::panic::drop_payload(p);
                }
            }
        }
        self.queue.borrow_mut().clear();
        self.deferred.borrow_mut().clear();
        if let Some(s) = self.shared.borrow_mut().take() {
            s.kill();
        }
        self.idle.borrow_mut().take();
        self.wake.borrow_mut().take();
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        if let Some(s) = self.shared.get_mut().take() {
            s.kill();
        }
    }
}

fn unreachable_closed() -> ! {
    panic!("uvio: block_on on a closed loop")
}

use std::rc::Rc;

unsafe extern "C" fn on_idle(h: *mut ffi::uv_idle_t) {
    // SAFETY: `h` is the executor's idle handle, a live uvio handle.
    let lp = unsafe { &Header::of(h.cast()).lp };
    let _scope = crate::panic::scope(lp);
    crate::panic::guard(lp, || lp.executor.tick(lp));
}

unsafe extern "C" fn on_remote_wake(h: *mut ffi::uv_async_t) {
    // SAFETY: `h` is the executor's async handle, a live uvio handle.
    let lp = unsafe { &Header::of(h.cast()).lp };
    let _scope = crate::panic::scope(lp);
    crate::panic::guard(lp, || lp.executor.drain_remote(lp));
}

/// Spawns a task on the loop that is running on this thread.
///
/// The returned [`JoinHandle`] resolves to the task's output. Dropping the handle *detaches*
/// the task (it keeps running); [`JoinHandle::abort`] cancels it. A panic inside the task is
/// returned through the handle as a [`JoinError`]; if the handle was dropped, the panic is
/// resumed from `Loop::run`/`block_on` instead of being lost.
///
/// # Panics
///
/// When no loop is running a callback on this thread (use [`crate::LoopHandle::spawn_local`]
/// then).
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let out = lp.block_on(async {
///     let a = uvio::spawn_local(async { 1 });
///     let b = uvio::spawn_local(async { 2 });
///     a.await.unwrap() + b.await.unwrap()
/// })?;
/// assert_eq!(out, 3);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn spawn_local<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let lp = LoopHandle::current()
        .expect("uvio::spawn_local called outside a uvio loop; use LoopHandle::spawn_local");
    lp.spawn_local(fut)
}
