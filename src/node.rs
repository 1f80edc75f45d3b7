//! Node's scheduling vocabulary with Node's ordering: [`set_timeout`], [`set_interval`],
//! [`set_immediate`] and [`next_tick`].
//!
//! Within one loop iteration libuv runs timers, then pending callbacks, idle and prepare
//! watchers, polls for I/O, then check watchers and close callbacks. So, as in Node:
//!
//! * a [`next_tick`] callback runs as soon as the current callback returns, before anything
//!   else (ticks queued by ticks included);
//! * [`set_immediate`] callbacks run in the check phase, right after the poll. Every loop
//!   has one shared `uv_check_t` that drains the queue of immediates in order; immediates
//!   queued while it drains run on the next iteration. Queued ticks run after each one;
//! * [`set_timeout`] callbacks run in the timers phase of an iteration once their delay has
//!   passed. Scheduled from inside a timer callback, an immediate therefore always runs
//!   before a zero-delay timeout.
//!
//! Delays below one millisecond are one millisecond, as in Node.
//!
//! The plain functions use the loop running the current callback and panic outside one;
//! the `_in` variants take a loop and work anywhere. Dropping a returned [`Timeout`] or
//! [`Immediate`] does **not** cancel it (Node's semantics: it runs unless cleared). Nothing
//! leaks either way: a one-shot timeout closes its timer when it fires or is cleared, and
//! the loop's shutdown closes what is left.
//!
//! ```
//! use std::{cell::RefCell, rc::Rc, time::Duration};
//! use uvio::{Loop, RunMode, node};
//!
//! let lp = Loop::new()?;
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let l = log.clone();
//! node::set_timeout_in(&lp, Duration::ZERO, move || {
//!     let (a, b, c) = (l.clone(), l.clone(), l.clone());
//!     node::set_timeout(Duration::ZERO, move || a.borrow_mut().push("timeout"));
//!     node::set_immediate(move || b.borrow_mut().push("immediate"));
//!     node::next_tick(move || c.borrow_mut().push("tick"));
//! })?;
//! lp.run(RunMode::Default)?;
//! assert_eq!(*log.borrow(), ["tick", "immediate", "timeout"]);
//! # Ok::<(), uvio::Error>(())
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::error::Result;
use crate::event_loop::LoopHandle;
use crate::timer::Timer;
use crate::watcher::{Check, Idle};

fn current(what: &str) -> LoopHandle {
    LoopHandle::current()
        .unwrap_or_else(|| panic!("uvio::node::{what} called outside a uvio loop; use {what}_in"))
}

// ----- next_tick -----

/// Runs `f` as soon as the current callback returns, before the loop moves on (Node's
/// `process.nextTick`). Ticks queued by ticks run before the loop moves on too.
///
/// # Panics
///
/// Outside a callback of a uvio loop (use [`next_tick_in`]).
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use uvio::node;
///
/// let lp = uvio::Loop::new()?;
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// node::set_immediate_in(&lp, move || {
///     let l2 = l.clone();
///     node::next_tick(move || l2.borrow_mut().push("tick"));
///     l.borrow_mut().push("immediate");
/// })?;
/// lp.run(uvio::RunMode::Default)?;
/// assert_eq!(*log.borrow(), ["immediate", "tick"]);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn next_tick(f: impl FnOnce() + 'static) {
    current("next_tick").next_tick(f);
}

/// [`next_tick`] on a given loop ([`LoopHandle::next_tick`]). Called outside a callback, `f`
/// runs when the next callback of the loop returns.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
///
/// let lp = uvio::Loop::new()?;
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// uvio::node::next_tick_in(&lp, move || r.set(true));
/// // Runs when the next callback (here, an immediate's) returns.
/// uvio::node::set_immediate_in(&lp, || {})?;
/// lp.run(uvio::RunMode::Default)?;
/// assert!(ran.get());
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn next_tick_in(lp: &LoopHandle, f: impl FnOnce() + 'static) {
    lp.next_tick(f);
}

// ----- timeouts and intervals -----

struct TimeoutInner {
    /// The timer's owner while the timeout is pending; `None` once a one-shot timeout has
    /// fired, or it was cleared. The timer's callback holds this `Rc`, so the timer lives
    /// on when the user drops the [`Timeout`]; that cycle ends when the timer closes.
    timer: RefCell<Option<Timer>>,
    interval: bool,
}

/// A pending [`set_timeout`] or [`set_interval`] (Node's `Timeout`).
///
/// Dropping it does **not** cancel the callback: call [`Timeout::clear`] for that.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use uvio::node;
///
/// let lp = uvio::Loop::new()?;
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// let t = node::set_timeout_in(&lp, Duration::from_millis(1), move || r.set(true))?;
/// t.clear();
/// lp.run(uvio::RunMode::Default)?;
/// assert!(!ran.get());
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct Timeout {
    inner: Rc<TimeoutInner>,
}

/// Creates the timer of a timeout or interval; `cb` runs on each firing.
fn arm(
    lp: &LoopHandle,
    delay: Duration,
    interval: bool,
    mut cb: impl FnMut(&Timeout) + 'static,
) -> Result<Timeout> {
    let delay = delay.max(Duration::from_millis(1));
    let timer = Timer::new(lp)?;
    let inner = Rc::new(TimeoutInner {
        timer: RefCell::new(None),
        interval,
    });
    let me = Rc::clone(&inner);
    let repeat = if interval { delay } else { Duration::ZERO };
    timer.start(delay, repeat, move |_| {
        let view = Timeout {
            inner: Rc::clone(&me),
        };
        if !interval {
            // A one-shot timeout is done: close its timer (memory is freed after the close
            // callback, which also drops this closure and so ends the cycle).
            view.clear();
        }
        cb(&view);
    })?;
    *inner.timer.borrow_mut() = Some(timer);
    Ok(Timeout { inner })
}

/// Runs `f` once after `delay` (at least 1 ms), in the timers phase (Node's `setTimeout`).
///
/// On a loop that is shutting down `f` is dropped unrun and the returned timeout is inert.
///
/// # Panics
///
/// Outside a callback of a uvio loop (use [`set_timeout_in`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let lp = uvio::Loop::new()?;
/// lp.block_on(async {
///     uvio::node::set_timeout(Duration::from_millis(2), || println!("later"));
/// })?;
/// lp.run(uvio::RunMode::Default)?; // runs the timeout
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn set_timeout(delay: Duration, f: impl FnOnce() + 'static) -> Timeout {
    set_timeout_in(&current("set_timeout"), delay, f).unwrap_or_else(|_| Timeout::inert())
}

/// [`set_timeout`] on a given loop.
///
/// # Errors
///
/// `EBADF` when the loop is closed.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let lp = uvio::Loop::new()?;
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// let t = uvio::node::set_timeout_in(&lp, Duration::from_millis(1), move || r.set(true))?;
/// assert!(t.is_pending());
/// lp.run(uvio::RunMode::Default)?;
/// assert!(ran.get() && !t.is_pending());
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn set_timeout_in(
    lp: &LoopHandle,
    delay: Duration,
    f: impl FnOnce() + 'static,
) -> Result<Timeout> {
    let mut f = Some(f);
    arm(lp, delay, false, move |_| {
        if let Some(f) = f.take() {
            f();
        }
    })
}

/// Runs `f` every `period` (at least 1 ms) until cleared (Node's `setInterval`). `f` gets
/// the interval's [`Timeout`], so it can clear it.
///
/// # Panics
///
/// Outside a callback of a uvio loop (use [`set_interval_in`]).
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let lp = uvio::Loop::new()?;
/// let n = Rc::new(Cell::new(0));
/// let seen = n.clone();
/// uvio::node::set_interval_in(&lp, Duration::from_millis(1), move |t| {
///     seen.set(seen.get() + 1);
///     if seen.get() == 3 {
///         t.clear();
///     }
/// })?;
/// lp.run(uvio::RunMode::Default)?;
/// assert_eq!(n.get(), 3);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn set_interval(period: Duration, f: impl FnMut(&Timeout) + 'static) -> Timeout {
    set_interval_in(&current("set_interval"), period, f).unwrap_or_else(|_| Timeout::inert())
}

/// [`set_interval`] on a given loop.
///
/// # Errors
///
/// `EBADF` when the loop is closed.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let lp = uvio::Loop::new()?;
/// let n = Rc::new(Cell::new(0));
/// let seen = n.clone();
/// let t = uvio::node::set_interval_in(&lp, Duration::from_millis(1), move |t| {
///     seen.set(seen.get() + 1);
///     if seen.get() == 2 {
///         t.clear();
///     }
/// })?;
/// assert!(t.is_interval());
/// lp.run(uvio::RunMode::Default)?;
/// assert_eq!(n.get(), 2);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn set_interval_in(
    lp: &LoopHandle,
    period: Duration,
    f: impl FnMut(&Timeout) + 'static,
) -> Result<Timeout> {
    arm(lp, period, true, f)
}

/// Cancels a timeout (Node's `clearTimeout`); same as [`Timeout::clear`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let lp = uvio::Loop::new()?;
/// let t = uvio::node::set_timeout_in(&lp, Duration::from_millis(1), || unreachable!())?;
/// uvio::node::clear_timeout(&t);
/// assert!(!t.is_pending());
/// lp.run(uvio::RunMode::Default)?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn clear_timeout(t: &Timeout) {
    t.clear();
}

/// Cancels an interval (Node's `clearInterval`); same as [`Timeout::clear`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let lp = uvio::Loop::new()?;
/// let t = uvio::node::set_interval_in(&lp, Duration::from_millis(1), |_| unreachable!())?;
/// uvio::node::clear_interval(&t);
/// assert!(!t.is_pending());
/// lp.run(uvio::RunMode::Default)?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn clear_interval(t: &Timeout) {
    t.clear();
}

impl Timeout {
    fn inert() -> Timeout {
        Timeout {
            inner: Rc::new(TimeoutInner {
                timer: RefCell::new(None),
                interval: false,
            }),
        }
    }

    fn with_timer<R>(&self, f: impl FnOnce(&Timer) -> R) -> Option<R> {
        self.inner.timer.borrow().as_ref().map(f)
    }

    /// Cancels it: the callback will not run again. Clearing twice, or after a one-shot
    /// timeout has fired, does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::node::set_timeout_in(&lp, Duration::from_millis(1), || unreachable!())?;
    /// t.clear();
    /// t.clear(); // a second clear does nothing
    /// assert!(!t.is_pending());
    /// lp.run(uvio::RunMode::Default)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn clear(&self) {
        let timer = self.inner.timer.borrow_mut().take();
        // Dropping the owner closes the timer (outside the borrow: nothing re-enters here).
        drop(timer);
    }

    /// True while the callback is still due to run (not fired for a one-shot, not cleared).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::node::set_timeout_in(&lp, Duration::from_millis(1), || {})?;
    /// assert!(t.is_pending());
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(!t.is_pending());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_pending(&self) -> bool {
        self.with_timer(Timer::is_active).unwrap_or(false)
    }

    /// True for a [`set_interval`] timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let once = uvio::node::set_timeout_in(&lp, Duration::from_millis(1), || {})?;
    /// let every = uvio::node::set_interval_in(&lp, Duration::from_millis(1), |t| t.clear())?;
    /// assert!(!once.is_interval());
    /// assert!(every.is_interval());
    /// lp.run(uvio::RunMode::Default)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_interval(&self) -> bool {
        self.inner.interval
    }

    /// Lets the loop exit while only this timeout is pending (Node's `timeout.unref()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::node::set_timeout_in(&lp, Duration::from_secs(3600), || unreachable!())?;
    /// t.unref();
    /// assert!(!t.has_ref());
    /// // Only an unreferenced timeout is pending: the loop does not wait for it.
    /// assert!(!lp.run(uvio::RunMode::Default)?);
    /// assert!(t.is_pending());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn unref(&self) -> &Timeout {
        self.with_timer(Timer::unref);
        self
    }

    /// Keeps the loop alive while this timeout is pending (the default; Node's `ref()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::node::set_timeout_in(&lp, Duration::from_millis(1), || {})?;
    /// t.unref().ref_();
    /// assert!(t.has_ref());
    /// lp.run(uvio::RunMode::Default)?; // waits for the timeout again
    /// assert!(!t.is_pending());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn ref_(&self) -> &Timeout {
        self.with_timer(Timer::ref_);
        self
    }

    /// Whether the timeout keeps the loop alive (`false` once fired or cleared).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::node::set_timeout_in(&lp, Duration::from_millis(1), || {})?;
    /// assert!(t.has_ref());
    /// t.clear();
    /// assert!(!t.has_ref());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn has_ref(&self) -> bool {
        self.with_timer(Timer::has_ref).unwrap_or(false)
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("interval", &self.inner.interval)
            .field("pending", &self.is_pending())
            .field("ref", &self.has_ref())
            .finish()
    }
}

// ----- immediates -----

/// One loop's immediates: one check handle (always running, unref'd) drains the queue; an
/// idle handle is active while some referenced immediate is pending, so the loop neither
/// blocks in its poll nor exits meanwhile (what Node does too).
pub(crate) struct Immediates {
    lp: LoopHandle,
    /// Owned here, while the check's callback owns this struct: the cycle ends when the loop
    /// closes the check handle.
    check: RefCell<Option<Check>>,
    idle: Idle,
    queue: RefCell<VecDeque<Rc<ImmediateInner>>>,
    /// Pending immediates that are referenced.
    refs: Cell<usize>,
}

struct ImmediateInner {
    f: Cell<Option<Box<dyn FnOnce()>>>,
    refed: Cell<bool>,
    owner: Weak<Immediates>,
}

impl Immediates {
    /// This loop's immediates, created on first use.
    fn of(lp: &LoopHandle) -> Result<Rc<Immediates>> {
        lp.inner.ensure_open()?;
        // Found through the loop, not a thread-local (which would need a thread-exit
        // destructor, see `thread_id`). One whose check handle is closing (after
        // `Loop::close_all`) is on its way out.
        let found = lp
            .inner
            .immediates
            .borrow()
            .upgrade()
            .filter(|i| i.check.borrow().as_ref().is_some_and(|c| !c.is_closing()));
        if let Some(i) = found {
            return Ok(i);
        }
        let check = Check::new(lp)?;
        let idle = Idle::new(lp)?;
        idle.start(|_| {})?;
        idle.stop()?;
        check.unref();
        let imm = Rc::new(Immediates {
            lp: lp.clone(),
            check: RefCell::new(None),
            idle,
            queue: RefCell::new(VecDeque::new()),
            refs: Cell::new(0),
        });
        let me = Rc::clone(&imm);
        check.start(move |_| me.drain())?;
        *imm.check.borrow_mut() = Some(check);
        *lp.inner.immediates.borrow_mut() = Rc::downgrade(&imm);
        Ok(imm)
    }

    fn push(self: &Rc<Self>, f: Box<dyn FnOnce()>) -> Rc<ImmediateInner> {
        let e = Rc::new(ImmediateInner {
            f: Cell::new(Some(f)),
            refed: Cell::new(true),
            owner: Rc::downgrade(self),
        });
        self.queue.borrow_mut().push_back(Rc::clone(&e));
        self.add_refs(1);
        e
    }

    fn add_refs(&self, delta: isize) {
        let n = self.refs.get().saturating_add_signed(delta);
        self.refs.set(n);
        // Errors mean the loop is closing: nothing left to keep alive then.
        let _ = if n > 0 {
            self.idle.resume()
        } else {
            self.idle.stop()
        };
    }

    /// The check callback: runs the immediates queued before it started, in order, with the
    /// queued ticks after each.
    fn drain(&self) {
        let n = self.queue.borrow().len();
        for _ in 0..n {
            let next = self.queue.borrow_mut().pop_front();
            let Some(e) = next else { break };
            let Some(f) = e.f.take() else { continue };
            if e.refed.get() {
                self.add_refs(-1);
            }
            let inner = &self.lp.inner;
            if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
                // Stop here (the loop stops too); the rest stay queued for the next run.
                inner.store_panic(p);
                return;
            }
            inner.run_next_ticks();
        }
    }
}

impl Drop for Immediates {
    /// The loop closed the check handle: drop the callbacks that will never run now, not
    /// whenever the last [`Immediate`] handle goes.
    fn drop(&mut self) {
        for e in self.queue.get_mut().drain(..) {
            drop(e.f.take());
        }
    }
}

/// A pending [`set_immediate`] (Node's `Immediate`).
///
/// Dropping it does **not** cancel the callback: call [`Immediate::clear`] for that.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
///
/// let lp = uvio::Loop::new()?;
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// let im = uvio::node::set_immediate_in(&lp, move || r.set(true))?;
/// assert!(im.has_ref());
/// lp.run(uvio::RunMode::Default)?;
/// assert!(ran.get());
/// assert!(!im.is_pending());
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct Immediate {
    inner: Rc<ImmediateInner>,
}

/// Runs `f` in the check phase of this loop iteration, right after the poll for I/O (Node's
/// `setImmediate`). Immediates run in the order they were set; one set from inside an
/// immediate runs on the next iteration.
///
/// On a loop that is shutting down `f` is dropped unrun and the returned immediate is inert.
///
/// # Panics
///
/// Outside a callback of a uvio loop (use [`set_immediate_in`]).
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// lp.block_on(async {
///     uvio::node::set_immediate(|| println!("soon"));
/// })?;
/// lp.run(uvio::RunMode::Default)?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn set_immediate(f: impl FnOnce() + 'static) -> Immediate {
    set_immediate_in(&current("set_immediate"), f).unwrap_or_else(|_| Immediate {
        inner: Rc::new(ImmediateInner {
            f: Cell::new(None),
            refed: Cell::new(false),
            owner: Weak::new(),
        }),
    })
}

/// [`set_immediate`] on a given loop.
///
/// # Errors
///
/// `EBADF` when the loop is closed.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
///
/// let lp = uvio::Loop::new()?;
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// uvio::node::set_immediate_in(&lp, move || r.set(true))?;
/// lp.run(uvio::RunMode::Default)?;
/// assert!(ran.get());
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn set_immediate_in(lp: &LoopHandle, f: impl FnOnce() + 'static) -> Result<Immediate> {
    let imm = Immediates::of(lp)?;
    Ok(Immediate {
        inner: imm.push(Box::new(f)),
    })
}

/// Cancels an immediate (Node's `clearImmediate`); same as [`Immediate::clear`].
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let im = uvio::node::set_immediate_in(&lp, || unreachable!())?;
/// uvio::node::clear_immediate(&im);
/// assert!(!im.is_pending());
/// lp.run(uvio::RunMode::Default)?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn clear_immediate(im: &Immediate) {
    im.clear();
}

impl Immediate {
    /// Cancels it: the callback will not run. Clearing twice, or after it ran, does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let im = uvio::node::set_immediate_in(&lp, || unreachable!())?;
    /// im.clear();
    /// im.clear(); // a second clear does nothing
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(!im.is_pending());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn clear(&self) {
        let f = self.inner.f.take();
        if f.is_some() && self.inner.refed.get() {
            if let Some(owner) = self.inner.owner.upgrade() {
                owner.add_refs(-1);
            }
        }
        drop(f);
    }

    /// True until it has run or was cleared.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let im = uvio::node::set_immediate_in(&lp, || {})?;
    /// assert!(im.is_pending());
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(!im.is_pending());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_pending(&self) -> bool {
        // Peek: take the callback out and put it back.
        let f = self.inner.f.take();
        let pending = f.is_some();
        self.inner.f.set(f);
        pending && self.inner.owner.strong_count() > 0
    }

    fn set_ref(&self, on: bool) {
        if self.inner.refed.get() == on {
            return;
        }
        self.inner.refed.set(on);
        if self.is_pending() {
            if let Some(owner) = self.inner.owner.upgrade() {
                owner.add_refs(if on { 1 } else { -1 });
            }
        }
    }

    /// Lets the loop exit while only this immediate is pending (Node's `immediate.unref()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let im = uvio::node::set_immediate_in(&lp, || {})?;
    /// im.unref();
    /// assert!(!im.has_ref());
    /// assert!(im.is_pending());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn unref(&self) -> &Immediate {
        self.set_ref(false);
        self
    }

    /// Keeps the loop alive while this immediate is pending (the default).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let im = uvio::node::set_immediate_in(&lp, || {})?;
    /// im.unref().ref_();
    /// assert!(im.has_ref());
    /// lp.run(uvio::RunMode::Default)?; // runs it
    /// assert!(!im.is_pending());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn ref_(&self) -> &Immediate {
        self.set_ref(true);
        self
    }

    /// Whether it keeps the loop alive (`false` once it ran or was cleared).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let im = uvio::node::set_immediate_in(&lp, || {})?;
    /// assert!(im.has_ref());
    /// im.clear();
    /// assert!(!im.has_ref());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn has_ref(&self) -> bool {
        self.inner.refed.get() && self.is_pending()
    }
}

impl fmt::Debug for Immediate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Immediate")
            .field("pending", &self.is_pending())
            .field("ref", &self.has_ref())
            .finish()
    }
}
