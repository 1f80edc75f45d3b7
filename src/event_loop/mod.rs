//! The event loop: [`Loop`] owns a `uv_loop_t` (or borrows a host's), [`LoopHandle`] is a cheap
//! reference that handles, requests and tasks keep.
//!
//! Ownership: `Loop` is the single owner and is not `Clone`. Dropping it shuts the loop down:
//! every task is dropped, every handle uvio opened is closed, the loop runs until the close
//! callbacks and in-flight requests are done, then `uv_loop_close` runs. A `LoopHandle` keeps
//! the *memory* alive, never the loop open: a handle that outlives its loop reports `EBADF`.
//! That split is what lets a task hold a handle to its own loop without an `Rc` cycle.

use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Error, Result, check};
use crate::ffi;
use crate::runtime::Executor;

mod inner;
mod pool;
pub(crate) use inner::LoopInner;
use inner::Phase;
pub(crate) use pool::{BoxPool, MAX_ALIGN, MAX_POOLED};

/// How [`Loop::run`] runs the loop (libuv's `uv_run_mode`).
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// // Nothing to do: every mode returns at once, with no work left.
/// assert!(!lp.run(uvio::RunMode::NoWait)?);
/// assert!(!lp.run(uvio::RunMode::Once)?);
/// assert_eq!(uvio::RunMode::default(), uvio::RunMode::Default);
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RunMode {
    /// Run until there are no more active and referenced handles or requests.
    #[default]
    Default,
    /// Poll for I/O once; block if there are no pending callbacks.
    Once,
    /// Poll for I/O once, never block.
    NoWait,
}

impl RunMode {
    fn raw(self) -> ffi::uv_run_mode {
        match self {
            RunMode::Default => ffi::UV_RUN_DEFAULT,
            RunMode::Once => ffi::UV_RUN_ONCE,
            RunMode::NoWait => ffi::UV_RUN_NOWAIT,
        }
    }
}

/// Loop-wide counters from libuv's metrics API.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let t = uvio::Timer::new(&lp)?;
/// t.start(std::time::Duration::from_millis(1), std::time::Duration::ZERO, |_| {})?;
/// lp.run(uvio::RunMode::Default)?;
/// match lp.metrics() {
///     Ok(m) => assert!(m.loop_count >= 1),
///     Err(e) if e.is_unsupported() => {} // libuv older than 1.45
///     Err(e) => return Err(e),
/// }
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Loop iterations so far.
    pub loop_count: u64,
    /// Events processed by the event provider.
    pub events: u64,
    /// Events waiting to be processed when the provider was called.
    pub events_waiting: u64,
}

/// A cheap, clonable reference to a loop, kept by handles, requests and tasks.
///
/// It keeps the loop's memory alive but not the loop open: after the owning [`Loop`] is
/// dropped, operations through a `LoopHandle` fail with `EBADF`. Not `Send`: a loop and its
/// handles live on one thread (see [`crate::AsyncHandle`] and [`crate::spawn_blocking`] for
/// crossing threads).
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let handle: uvio::LoopHandle = lp.handle();
/// let t = uvio::Timer::new(&handle)?;
/// assert!(!t.is_active());
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone)]
pub struct LoopHandle {
    pub(crate) inner: Rc<LoopInner>,
}

/// An event loop: owns (or, from [`Loop::from_raw`], borrows) a `uv_loop_t`.
///
/// `Loop` dereferences to [`LoopHandle`], so every handle constructor accepts `&lp`.
/// Dropping an owned `Loop` closes everything still open on it, runs until the close
/// callbacks have run, and closes the loop: no leak, no `EBUSY`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uvio::{Loop, RunMode, Timer};
///
/// let lp = Loop::new()?;
/// let t = Timer::new(&lp)?;
/// t.start(Duration::from_millis(5), Duration::ZERO, |_t| println!("fired"))?;
/// lp.run(RunMode::Default)?;
/// # Ok::<(), uvio::Error>(())
/// ```
///
/// A `Loop` cannot move to another thread:
///
/// ```compile_fail
/// let lp = uvio::Loop::new().unwrap();
/// std::thread::spawn(move || drop(lp));
/// ```
pub struct Loop {
    handle: LoopHandle,
}

impl Loop {
    /// Creates and initialises a new loop (`uv_loop_init`).
    ///
    /// # Errors
    ///
    /// Whatever `uv_loop_init` reports (`EMFILE` when out of descriptors, `ENOMEM`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// assert!(!lp.is_closed());
    /// assert_eq!(lp.handle_count(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new() -> Result<Loop> {
        let storage: Box<UnsafeCell<MaybeUninit<ffi::uv_loop_t>>> =
            Box::new(UnsafeCell::new(MaybeUninit::zeroed()));
        let raw = storage.get().cast::<ffi::uv_loop_t>();
        // SAFETY: `raw` points at zeroed, writable memory the size of uv_loop_t, which stays
        // put (boxed) for as long as the LoopInner lives.
        check(unsafe { ffi::uv_loop_init(raw) })?;
        Ok(Loop {
            handle: LoopHandle {
                inner: Rc::new(LoopInner::new(raw, Some(storage))),
            },
        })
    }

    /// Borrows a loop that someone else owns and runs (a Node.js addon's, a C host's).
    ///
    /// uvio never runs, stops, closes or configures a borrowed loop and never touches its
    /// `data` field. Handles created on it work as usual; [`Loop::close_all`] closes what
    /// uvio opened so the owner can close its loop afterwards. Dropping the `Loop` closes
    /// uvio's handles (their close callbacks run when the host next runs its loop).
    ///
    /// # Errors
    ///
    /// `EINVAL` for a null pointer. [`Error::UNSUPPORTED`], with the reason in the message,
    /// when the libuv in the process is older than 1.44, when `uv_loop_size` or the
    /// `uv_handle_size`/`uv_req_size` of any type differs from uvio's bindings, or when uvio's
    /// `uv_*` calls go to a second libuv (one linked into this library, for example a
    /// `vendored` build inside a Node.js addon) rather than the one the process exports.
    ///
    /// The executor works on a borrowed loop: tasks are polled from libuv callbacks while
    /// the host runs its loop ([`Loop::run`] and [`Loop::block_on`] return `EPERM`). Its
    /// housekeeping handles never keep the host's loop alive by themselves: the idle handle
    /// is active only while tasks are ready to poll, the cross-thread wake-up handle is
    /// unreferenced. uvio's other handles keep the usual `ref`/`unref` semantics.
    ///
    /// # Examples
    ///
    /// ```
    /// // SAFETY: a null pointer is refused before anything is dereferenced.
    /// let e = unsafe { uvio::Loop::from_raw(std::ptr::null_mut()) }.unwrap_err();
    /// assert_eq!(e.name(), "EINVAL");
    /// ```
    ///
    /// # Safety
    ///
    /// `raw` must point to an initialised `uv_loop_t` that stays valid, and is only run on this
    /// thread, until every uvio handle and request on it has finished closing (see
    /// [`Loop::close_all`]).
    pub unsafe fn from_raw(raw: *mut ffi::uv_loop_t) -> Result<Loop> {
        if raw.is_null() {
            return Err(Error::EINVAL.with_operation("Loop::from_raw(null)"));
        }
        crate::compat::check_host_libuv()?;
        Ok(Loop {
            handle: LoopHandle {
                inner: Rc::new(LoopInner::new(raw, None)),
            },
        })
    }

    /// A [`LoopHandle`] to this loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let h = lp.handle();
    /// drop(lp);
    /// assert!(h.is_closed());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn handle(&self) -> LoopHandle {
        self.handle.clone()
    }

    /// Runs the loop (`uv_run`). Returns `true` when there is still work (some handle or
    /// request active and referenced).
    ///
    /// A panic in any callback stops the loop and is resumed here, after `uv_run` returns.
    ///
    /// # Errors
    ///
    /// `EBUSY` when called from inside a callback of this loop (a nested run), `EPERM` on a
    /// borrowed loop (its owner runs it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// t.start(Duration::from_millis(1), Duration::ZERO, |_| {})?;
    /// assert!(!lp.run(uvio::RunMode::Default)?); // the timer fired: no work left
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn run(&self, mode: RunMode) -> Result<bool> {
        let inner = &self.handle.inner;
        inner.ensure_open()?;
        if !inner.is_owned() {
            return Err(Error::EPERM.with_operation("run a borrowed loop"));
        }
        if inner.running.get() {
            return Err(Error::EBUSY.with_operation("nested Loop::run"));
        }
        inner.running.set(true);
        let r = {
            let _enter = crate::panic::enter(inner);
            // SAFETY: the loop is initialised, open, owned, and not already running.
            unsafe { ffi::uv_run(inner.raw, mode.raw()) }
        };
        inner.running.set(false);
        inner.resume_panic();
        Ok(r != 0)
    }

    /// Runs `fut` to completion on this loop, driving every other task and handle meanwhile.
    ///
    /// # Errors
    ///
    /// `EBUSY` when nested inside `run`/`block_on` of this loop; `EPERM` on a borrowed loop;
    /// `EBADF` when the loop is closed or its tasks were shut down by [`Loop::close_all`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let v = lp.block_on(async {
    ///     let task = uvio::spawn_local(async { 6 * 7 });
    ///     task.await.unwrap()
    /// })?;
    /// assert_eq!(v, 42);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> Result<F::Output> {
        let inner = &self.handle.inner;
        inner.ensure_open()?;
        if !inner.is_owned() {
            return Err(Error::EPERM.with_operation("block_on a borrowed loop"));
        }
        if inner.running.get() {
            return Err(Error::EBUSY.with_operation("nested Loop::block_on"));
        }
        if inner.executor.is_shut() {
            return Err(Error::EBADF.with_operation("block_on after close_all"));
        }
        inner.running.set(true);
        struct Reset<'a>(&'a LoopInner);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.running.set(false);
            }
        }
        let _reset = Reset(inner);
        let out = inner.executor.block_on(inner, fut);
        Ok(out)
    }

    /// Closes every handle uvio opened on this loop and calls `done` once their close
    /// callbacks, and every request still in flight, have finished. For a borrowed loop,
    /// the host then runs its loop to completion and can `uv_loop_close` it. `done` always
    /// runs from the loop, never inside this call, even when nothing was open.
    ///
    /// Handles stay valid Rust values; their operations return `EBADF` afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// let done = Rc::new(Cell::new(false));
    /// let d = done.clone();
    /// lp.close_all(move || d.set(true));
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(done.get() && t.is_closing());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn close_all(&self, done: impl FnOnce() + 'static) {
        let inner = &self.handle.inner;
        inner.stop_futures();
        // A second close_all before the first finished: both callbacks run, in order.
        let done: Box<dyn FnOnce()> = match inner.on_all_closed.take() {
            None => Box::new(done),
            Some(first) => Box::new(move || {
                first();
                done();
            }),
        };
        inner.on_all_closed.set(Some(done));
        inner.close_every_handle();
        if inner.all_closed() {
            // Nothing to wait for, yet `done` must not run inside this call (the callback
            // rule, ARCHITECTURE.md): a handle closed at once makes it run from the loop,
            // when that handle's close callback finds everything closed. (An idle handle
            // cannot fail to initialise on an open loop; if it did, `done` would wait for
            // the next close instead.)
            drop(crate::Idle::new(&self.handle));
        }
    }

    /// Takes the payload of a panic caught in a callback on a borrowed loop, which has no
    /// `run` to resume it: the oldest one not yet taken (every panic is kept, in order),
    /// unless a handler set with [`Loop::set_panic_handler`] took them.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// // An owned loop resumes panics from `run`, so none is ever left here.
    /// assert!(lp.take_panic().is_none());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        self.handle.inner.take_panic()
    }

    /// `uv_loop_configure(UV_LOOP_BLOCK_SIGNAL, signum)`: block a signal while polling.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an unsupported signal; `EPERM` on a borrowed loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// lp.block_signal(libc::SIGPROF)?;
    /// lp.run(uvio::RunMode::NoWait)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn block_signal(&self, signum: i32) -> Result<()> {
        self.configure_check()?;
        // SAFETY: the loop is initialised and owned; the variadic argument is an int.
        check(unsafe {
            ffi::uv_loop_configure(
                self.handle.inner.raw,
                ffi::UV_LOOP_BLOCK_SIGNAL,
                signum as ffi::c_int,
            )
        })?;
        Ok(())
    }

    /// `uv_loop_configure(UV_METRICS_IDLE_TIME)`: start measuring time spent idle in the
    /// kernel's poll, read with [`LoopHandle::idle_time`].
    ///
    /// # Errors
    ///
    /// `EPERM` on a borrowed loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// lp.measure_idle_time()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// // Wait for timers until a poll has really waited (one is enough, unless the machine
    /// // is so slow that the timer was due before the loop could poll).
    /// for _ in 0..100 {
    ///     t.start(Duration::from_millis(2), Duration::ZERO, |_| {})?;
    ///     lp.run(uvio::RunMode::Default)?;
    ///     if lp.idle_time() > Duration::ZERO {
    ///         break;
    ///     }
    /// }
    /// assert!(lp.idle_time() > Duration::ZERO); // it waited in the poll for a timer
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn measure_idle_time(&self) -> Result<()> {
        self.configure_check()?;
        // SAFETY: the loop is initialised and owned.
        check(unsafe { ffi::uv_loop_configure(self.handle.inner.raw, ffi::UV_METRICS_IDLE_TIME) })?;
        Ok(())
    }

    fn configure_check(&self) -> Result<()> {
        self.handle.inner.ensure_open()?;
        if self.handle.inner.is_owned() {
            Ok(())
        } else {
            Err(Error::EPERM.with_operation("configure a borrowed loop"))
        }
    }
}

impl Deref for Loop {
    type Target = LoopHandle;
    fn deref(&self) -> &LoopHandle {
        &self.handle
    }
}

impl AsRef<LoopHandle> for Loop {
    fn as_ref(&self) -> &LoopHandle {
        &self.handle
    }
}

impl AsRef<LoopHandle> for LoopHandle {
    fn as_ref(&self) -> &LoopHandle {
        self
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let inner = &self.handle.inner;
        if inner.is_owned() {
            inner.shutdown();
        } else {
            // A borrowed loop: close what uvio opened; the host's next run finishes it.
            inner.stop_futures();
            inner.close_every_handle();
            inner.record_now();
            inner.phase.set(Phase::Closed);
        }
    }
}

impl LoopInner {
    fn new(
        raw: *mut ffi::uv_loop_t,
        storage: Option<Box<UnsafeCell<MaybeUninit<ffi::uv_loop_t>>>>,
    ) -> LoopInner {
        LoopInner {
            raw,
            storage,
            phase: Cell::new(Phase::Open),
            leak_storage: Cell::new(false),
            running: Cell::new(false),
            in_callback: Cell::new(false),
            panic: Cell::new(None),
            handle_count: Cell::new(0),
            live_reqs: Cell::new(0),
            closed_now: Cell::new(0),
            on_all_closed: Cell::new(None),
            next_ticks: RefCell::new(VecDeque::new()),
            ticks_queued: Cell::new(false),
            on_closed: RefCell::new(HashMap::new()),
            sleeps: RefCell::new(None),
            immediates: RefCell::new(std::rc::Weak::new()),
            read_bufs: RefCell::default(),
            host: crate::host::HostState::default(),
            executor: Executor::new(),
            pool: BoxPool::new(),
        }
    }
}

impl LoopHandle {
    /// The loop whose callback (or `run`/`block_on`) is executing on this thread, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(uvio::LoopHandle::current().is_none());
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async { assert!(uvio::LoopHandle::current().is_some()) })?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn current() -> Option<LoopHandle> {
        Self::current_inner()
    }

    /// The current loop, for a call that finds its loop implicitly (`what` names it): outside
    /// a loop that call panics, which is the crate's one rule (see "Outside a loop" on the
    /// crate's front page).
    #[track_caller]
    pub(crate) fn current_or_panic(what: &str) -> LoopHandle {
        match Self::current_inner() {
            Some(lp) => lp,
            None => panic!(
                "{what} used outside a uvio loop (call it inside Loop::block_on, a spawned \
                 task or a callback, or use the variant that takes a loop)"
            ),
        }
    }

    fn current_inner() -> Option<LoopHandle> {
        let p = crate::panic::current();
        if p.is_null() {
            return None;
        }
        // SAFETY: `current` is only set (by `panic::enter`) to a LoopInner reached through a
        // live `Rc` (the running Loop, or the box of the handle whose callback runs), so the
        // allocation is alive; the pointer came from `Rc::as_ptr`-equivalent references.
        unsafe {
            Rc::increment_strong_count(p);
            Some(LoopHandle {
                inner: Rc::from_raw(p),
            })
        }
    }

    /// The raw `uv_loop_t`, for calls into [`crate::ffi`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// // SAFETY: the loop is open; uv_loop_alive only reads it.
    /// let alive = unsafe { uvio::ffi::uv_loop_alive(lp.as_raw()) };
    /// assert_eq!(alive, 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn as_raw(&self) -> *mut ffi::uv_loop_t {
        self.inner.raw
    }

    /// True once the owning [`Loop`] has been dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let h = lp.handle();
    /// assert!(!h.is_closed());
    /// drop(lp);
    /// assert!(h.is_closed());
    /// assert_eq!(uvio::Timer::new(&h).unwrap_err().name(), "EBADF");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.phase.get() != Phase::Open
    }

    /// Whether there are active, referenced handles or requests (`uv_loop_alive`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// assert!(!lp.alive());
    /// let t = uvio::Timer::new(&lp)?;
    /// t.start(Duration::from_millis(1), Duration::ZERO, |_| {})?;
    /// assert!(lp.alive());
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(!lp.alive());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn alive(&self) -> bool {
        if self.is_closed() {
            return false;
        }
        // SAFETY: the loop is initialised and open.
        unsafe { ffi::uv_loop_alive(self.inner.raw) != 0 }
    }

    /// Asks a running loop to stop after the current iteration (`uv_stop`). Does nothing on
    /// a borrowed loop (its owner decides when it stops).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// t.start(Duration::from_millis(1), Duration::from_millis(1), |t| t.loop_handle().stop())?;
    /// // The repeating timer would keep the loop running forever; `stop` ends the run.
    /// assert!(lp.run(uvio::RunMode::Default)?);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stop(&self) {
        if self.inner.is_owned() && !self.is_closed() {
            // SAFETY: the loop is initialised and open; uv_stop only sets a flag.
            unsafe { ffi::uv_stop(self.inner.raw) };
        }
    }

    /// The loop's cached time in milliseconds (`uv_now`), updated at the start of each
    /// iteration. Once the loop is closed, its time when it closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let before = lp.now();
    /// let t = uvio::Timer::new(&lp)?;
    /// t.start(Duration::from_millis(2), Duration::ZERO, |_| {})?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(lp.now() >= before + 2);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn now(&self) -> u64 {
        if self.inner.phase.get() == Phase::Closed {
            return self.inner.closed_now.get();
        }
        // SAFETY: the loop memory lives as long as `inner`; uv_now reads one field.
        unsafe { ffi::uv_now(self.inner.raw) }
    }

    /// Refreshes the cached time (`uv_update_time`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let before = lp.now();
    /// std::thread::sleep(std::time::Duration::from_millis(2));
    /// lp.update_time();
    /// assert!(lp.now() >= before + 2);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn update_time(&self) {
        if !self.is_closed() {
            // SAFETY: the loop is initialised and open.
            unsafe { ffi::uv_update_time(self.inner.raw) };
        }
    }

    /// The backend file descriptor (epoll on Linux), or `None` once closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let h = lp.handle();
    /// assert!(h.backend_fd().is_some());
    /// drop(lp);
    /// assert_eq!(h.backend_fd(), None);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn backend_fd(&self) -> Option<i32> {
        if self.is_closed() {
            return None;
        }
        // SAFETY: the loop is initialised and open.
        let fd = unsafe { ffi::uv_backend_fd(self.inner.raw) };
        (fd >= 0).then_some(fd)
    }

    /// How long the next poll would block: `None` for "forever", `Some(ZERO)` for not at all.
    ///
    /// As libuv answers it: zero also when nothing is active (the loop would not poll), and
    /// until an iteration has registered new I/O watchers with the backend.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// // Nothing active: the loop would not poll at all.
    /// assert_eq!(lp.backend_timeout(), Some(Duration::ZERO));
    /// let t = uvio::Timer::new(&lp)?;
    /// t.start(Duration::from_secs(3600), Duration::ZERO, |_| {})?;
    /// lp.run(uvio::RunMode::NoWait)?; // one iteration registers the loop's watchers
    /// assert!(lp.backend_timeout().is_some_and(|d| d > Duration::ZERO));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn backend_timeout(&self) -> Option<Duration> {
        if self.is_closed() {
            return Some(Duration::ZERO);
        }
        // SAFETY: the loop is initialised and open.
        let ms = unsafe { ffi::uv_backend_timeout(self.inner.raw) };
        (ms >= 0).then(|| Duration::from_millis(ms as u64))
    }

    /// Time spent idle in the kernel's poll since [`Loop::measure_idle_time`] was turned on
    /// (zero once the loop is closed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// lp.measure_idle_time()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// // Wait for timers until a poll has really waited (one is enough, unless the machine
    /// // is so slow that the timer was due before the loop could poll).
    /// for _ in 0..100 {
    ///     t.start(Duration::from_millis(2), Duration::ZERO, |_| {})?;
    ///     lp.run(uvio::RunMode::Default)?;
    ///     if lp.idle_time() > Duration::ZERO {
    ///         break;
    ///     }
    /// }
    /// assert!(lp.idle_time() > Duration::ZERO);
    /// let h = lp.handle();
    /// drop(lp);
    /// assert_eq!(h.idle_time(), Duration::ZERO);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn idle_time(&self) -> Duration {
        if self.is_closed() {
            // uv_loop_close freed the metrics this would read.
            return Duration::ZERO;
        }
        // SAFETY: the loop memory is alive; the call reads loop fields.
        Duration::from_nanos(unsafe { ffi::uv_metrics_idle_time(self.inner.raw) })
    }

    /// Loop iteration and event counters (`uv_metrics_info`, libuv 1.45+).
    ///
    /// # Errors
    ///
    /// [`Error::UNSUPPORTED`] where the host's libuv is older than 1.45.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// t.start(std::time::Duration::from_millis(1), std::time::Duration::ZERO, |_| {})?;
    /// lp.run(uvio::RunMode::Default)?;
    /// match lp.metrics() {
    ///     Ok(m) => assert!(m.loop_count >= 1),
    ///     Err(e) if e.is_unsupported() => {} // libuv older than 1.45
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn metrics(&self) -> Result<Metrics> {
        self.inner.ensure_open()?;
        let mut m = MaybeUninit::<ffi::uv_metrics_t>::zeroed();
        // SAFETY: the loop is open; `m` is writable memory of the right size.
        let ret = unsafe { ffi::late::uv_metrics_info(self.inner.raw, m.as_mut_ptr()) }
            .ok_or_else(|| Error::unsupported("uv_metrics_info"))?;
        check(ret)?;
        // SAFETY: zeroed is a valid uv_metrics_t, and libuv filled it in.
        let m = unsafe { m.assume_init() };
        Ok(Metrics {
            loop_count: m.loop_count,
            events: m.events,
            events_waiting: m.events_waiting,
        })
    }

    /// How many uvio handles are open (not yet fully closed) on this loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// assert_eq!(lp.handle_count(), 1);
    /// drop(t);
    /// lp.run(uvio::RunMode::Default)?; // runs the close callback
    /// assert_eq!(lp.handle_count(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn handle_count(&self) -> usize {
        self.inner.handle_count.get()
    }

    /// Spawns a task on this loop; see [`crate::spawn_local`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// // Works outside any callback, unlike `uvio::spawn_local`.
    /// let task = lp.spawn_local(async { 6 * 7 });
    /// assert_eq!(lp.block_on(task)?.unwrap(), 42);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn spawn_local<F>(&self, fut: F) -> crate::JoinHandle<F::Output>
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        self.inner.executor.spawn(&self.inner, fut)
    }

    /// Queues `f` to run after the current callback returns, before the loop moves on
    /// (Node's `process.nextTick`). Outside a callback it runs at the next callback's end.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// let lp = uvio::Loop::new()?;
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let l = log.clone();
    /// uvio::node::set_immediate_in(&lp, move || {
    ///     let l2 = l.clone();
    ///     uvio::LoopHandle::current().unwrap().next_tick(move || l2.borrow_mut().push(2));
    ///     l.borrow_mut().push(1);
    /// })?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(*log.borrow(), [1, 2]);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn next_tick(&self, f: impl FnOnce() + 'static) {
        self.inner.push_next_tick(Box::new(f));
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("owned", &self.inner.is_owned())
            .field("closed", &self.is_closed())
            .field("handles", &self.handle_count())
            .finish()
    }
}

impl fmt::Debug for Loop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.handle.inner;
        f.debug_struct("Loop")
            .field("owned", &inner.is_owned())
            .field("closed", &self.is_closed())
            .field("running", &inner.running.get())
            .field("handles", &self.handle_count())
            .field("requests", &inner.live_reqs.get())
            .finish()
    }
}
