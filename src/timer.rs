//! Timers (`uv_timer_t`): call back after a timeout, optionally repeating.

use std::cell::Cell;
use std::fmt;
use std::task::Waker;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, handle_methods};

/// What happens when a handle fires: a user callback, or a future's waker plus a count of
/// firings not yet observed. Shared by the handle types that have one kind of event.
///
/// 24 bytes on 64-bit targets: `pending` is a `u32` (saturating) so the tag fits beside it.
#[derive(Default)]
pub(crate) enum Listener<F: ?Sized> {
    #[default]
    None,
    Callback(Box<F>),
    Waiter {
        pending: u32,
        waker: Option<Waker>,
    },
}

impl<F: ?Sized> Listener<F> {
    /// Runs one firing: calls the callback (taking it out of `slot` so it may replace or drop
    /// itself re-entrantly, and putting it back unless it was replaced), or records the
    /// firing and wakes the waiter.
    #[inline]
    pub(crate) fn fire(slot: &Cell<Listener<F>>, call: impl FnOnce(&mut F)) {
        /// Puts the callback back when the call returns, and also when it panics: a panic
        /// must not silently uninstall the callback of a handle that stays active.
        struct PutBack<'a, F: ?Sized> {
            slot: &'a Cell<Listener<F>>,
            cb: Option<Box<F>>,
        }
        impl<F: ?Sized> Drop for PutBack<'_, F> {
            fn drop(&mut self) {
                let Some(cb) = self.cb.take() else { return };
                match self.slot.take() {
                    Listener::None => self.slot.set(Listener::Callback(cb)),
                    replaced => {
                        self.slot.set(replaced);
                        drop(cb);
                    }
                }
            }
        }
        match slot.take() {
            Listener::None => {}
            Listener::Callback(cb) => {
                let mut put_back = PutBack { slot, cb: Some(cb) };
                if let Some(cb) = put_back.cb.as_mut() {
                    call(cb);
                }
            }
            Listener::Waiter { pending, waker } => {
                slot.set(Listener::Waiter {
                    pending: pending.saturating_add(1),
                    waker: None,
                });
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
    }

    /// For futures: consumes one pending firing, or stores the waker.
    pub(crate) fn poll_fired(slot: &Cell<Listener<F>>, waker: &Waker) -> bool {
        match slot.take() {
            Listener::Waiter { pending, .. } if pending > 0 => {
                slot.set(Listener::Waiter {
                    pending: pending - 1,
                    waker: None,
                });
                true
            }
            _ => {
                slot.set(Listener::Waiter {
                    pending: 0,
                    waker: Some(waker.clone()),
                });
                false
            }
        }
    }
}

/// A timer's callback, as stored in its listener.
pub(crate) type TimerCallback = dyn FnMut(&Timer);

pub(crate) struct TimerState {
    pub(crate) listener: Cell<Listener<TimerCallback>>,
}

/// A libuv timer: runs a callback once after a timeout, then every `repeat` if non-zero.
///
/// Timers have millisecond resolution; a `Duration` with a sub-millisecond part is rounded
/// up. The callback gets a borrow of the timer, so it can stop, restart, or close it.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use uvio::{Loop, RunMode, Timer};
///
/// let lp = Loop::new()?;
/// let ticks = Rc::new(Cell::new(0));
/// let t = Timer::new(&lp)?;
/// let seen = ticks.clone();
/// t.start(Duration::from_millis(1), Duration::from_millis(1), move |t| {
///     seen.set(seen.get() + 1);
///     if seen.get() == 3 {
///         t.stop().unwrap();
///     }
/// })?;
/// lp.run(RunMode::Default)?;
/// assert_eq!(ticks.get(), 3);
/// # Ok::<(), uvio::Error>(())
/// ```
///
/// A `Timer` stays on its loop's thread:
///
/// ```compile_fail
/// let lp = uvio::Loop::new().unwrap();
/// let t = uvio::Timer::new(&lp).unwrap();
/// std::thread::spawn(move || drop(t));
/// ```
pub struct Timer {
    pub(crate) h: HandleRef<ffi::uv_timer_t, TimerState>,
}

handle_methods!(Timer, h);

/// Milliseconds for libuv, rounding a sub-millisecond remainder up.
pub(crate) fn millis(d: Duration) -> u64 {
    let sub = d.subsec_nanos().div_ceil(1_000_000);
    d.as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(sub))
}

unsafe extern "C" fn on_timer(raw: *mut ffi::uv_timer_t) {
    // SAFETY: libuv calls this only for live timers created by `Timer::new`; the view is
    // never dropped (ManuallyDrop), so it does not close or free anything.
    let view = unsafe { HandleRef::borrowed(raw) };
    let timer = std::mem::ManuallyDrop::new(Timer {
        h: std::mem::ManuallyDrop::into_inner(view),
    });
    let _scope = crate::panic::scope(timer.h.loop_inner());
    crate::panic::guard(timer.h.loop_inner(), || {
        // SAFETY: libuv calls timer callbacks only before the close callback.
        let st = unsafe { timer.h.state_unchecked() };
        Listener::fire(&st.listener, |cb| cb(&timer));
    });
}

impl Timer {
    /// Creates a timer on `lp` (`uv_timer_init`). It does nothing until started.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// assert!(!t.is_active());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new(lp: &LoopHandle) -> Result<Timer> {
        let state = TimerState {
            listener: Cell::new(Listener::None),
        };
        // SAFETY: uv_timer_init initialises a uv_timer_t on the loop.
        let h = unsafe { HandleRef::new(lp, state, |l, h| ffi::uv_timer_init(l, h))? };
        Ok(Timer { h })
    }

    /// Starts the timer: `callback` runs after `timeout`, then every `repeat` if non-zero.
    /// Starting an active timer replaces its schedule and callback.
    ///
    /// On a loop uvio owns, `timeout` counts from the loop's cached time (`uv_now`, set at
    /// the start of the iteration), as in libuv: after blocking outside the loop, call
    /// [`LoopHandle::update_time`] first. On a borrowed loop (`Loop::from_raw`) it counts
    /// from the call: the host's own code may have run since the cached time was set, so
    /// uvio refreshes it and the timer never fires before `timeout` has passed by
    /// [`std::time::Instant`]. [`Timer::again`] does the same with the repeat.
    ///
    /// # Errors
    ///
    /// `EBADF` when the timer is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let lp = uvio::Loop::new()?;
    /// let fired = Rc::new(Cell::new(0));
    /// let f2 = fired.clone();
    /// let t = uvio::Timer::new(&lp)?;
    /// // Fires after 1 ms, then every 1 ms until it stops itself on the third run.
    /// t.start(Duration::from_millis(1), Duration::from_millis(1), move |t| {
    ///     f2.set(f2.get() + 1);
    ///     if f2.get() == 3 {
    ///         t.stop().unwrap();
    ///     }
    /// })?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(fired.get(), 3);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn start(
        &self,
        timeout: Duration,
        repeat: Duration,
        callback: impl FnMut(&Timer) + 'static,
    ) -> Result<()> {
        let st = self.h.state()?;
        st.listener.set(Listener::Callback(Box::new(callback)));
        self.start_raw(crate::host::from_now(self.h.loop_inner(), timeout), repeat)
    }

    /// Starts (or restarts) with whatever listener is installed.
    pub(crate) fn start_raw(&self, timeout: Duration, repeat: Duration) -> Result<()> {
        // SAFETY: the timer is initialised and open; on_timer matches this handle's type.
        self.h.call(|h| unsafe {
            ffi::uv_timer_start(h, Some(on_timer), millis(timeout), millis(repeat))
        })?;
        Ok(())
    }

    /// Stops the timer; its callback stays installed for [`Timer::again`].
    ///
    /// # Errors
    ///
    /// `EBADF` when the timer is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// t.start(Duration::from_secs(60), Duration::ZERO, |_| panic!("stopped timers do not fire"))?;
    /// t.stop()?;
    /// assert!(!t.is_active());
    /// lp.run(uvio::RunMode::Default)?; // returns at once: nothing is active
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stop(&self) -> Result<()> {
        // SAFETY: the timer is initialised and open.
        self.h.call(|h| unsafe { ffi::uv_timer_stop(h) })?;
        Ok(())
    }

    /// Restarts a repeating timer with its repeat as the timeout (`uv_timer_again`).
    ///
    /// # Errors
    ///
    /// `EINVAL` when the timer was never started; `EBADF` when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// assert_eq!(t.again().unwrap_err().name(), "EINVAL"); // never started
    /// t.start(Duration::from_secs(60), Duration::from_millis(5), |t| t.stop().unwrap())?;
    /// t.again()?; // now due in the repeat, 5 ms
    /// assert!(t.due_in() <= Duration::from_millis(5));
    /// lp.run(uvio::RunMode::Default)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn again(&self) -> Result<()> {
        self.h
            .call(|h| {
                // SAFETY: the timer is initialised and open.
                unsafe { ffi::uv_timer_again(h) }
            })
            .map_err(|e| e.with_operation("Timer::again"))?;
        // On a borrowed loop the repeat counts from now, as `start`'s timeout does.
        let repeat = self.repeat();
        if !self.h.loop_inner().is_owned() && !repeat.is_zero() {
            self.start_raw(crate::host::from_now(self.h.loop_inner(), repeat), repeat)?;
        }
        Ok(())
    }

    /// Sets the repeat interval; takes effect at the next firing (or `again`).
    ///
    /// # Errors
    ///
    /// `EBADF` when the timer is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// t.set_repeat(Duration::from_millis(250))?;
    /// assert_eq!(t.repeat(), Duration::from_millis(250));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_repeat(&self, repeat: Duration) -> Result<()> {
        // SAFETY: the timer is initialised and open.
        self.h
            .with_raw(|h| unsafe { ffi::uv_timer_set_repeat(h, millis(repeat)) })
    }

    /// The repeat interval (zero for a one-shot timer, or a closed one).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// assert_eq!(t.repeat(), Duration::ZERO);
    /// t.start(Duration::from_secs(1), Duration::from_millis(20), |_| {})?;
    /// assert_eq!(t.repeat(), Duration::from_millis(20));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn repeat(&self) -> Duration {
        // SAFETY: the timer is initialised and open.
        let ms = self
            .h
            .with_raw(|h| unsafe { ffi::uv_timer_get_repeat(h) })
            .unwrap_or(0);
        Duration::from_millis(ms)
    }

    /// Time until the timer fires; zero when it is overdue, stopped, or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = uvio::Loop::new()?;
    /// let t = uvio::Timer::new(&lp)?;
    /// t.start(Duration::from_secs(60), Duration::ZERO, |_| {})?;
    /// let due = t.due_in();
    /// assert!(due > Duration::ZERO && due <= Duration::from_secs(60));
    /// t.stop()?;
    /// assert_eq!(t.due_in(), Duration::ZERO);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn due_in(&self) -> Duration {
        // libuv computes it from the last schedule even for a stopped timer.
        if !self.is_active() {
            return Duration::ZERO;
        }
        // SAFETY: the timer is initialised and open.
        let ms = self
            .h
            .with_raw(|h| unsafe { ffi::uv_timer_get_due_in(h) })
            .unwrap_or(0);
        Duration::from_millis(ms)
    }

    /// Installs a waiter listener (for futures) unless one is there.
    pub(crate) fn listen_for_waker(&self) -> Result<()> {
        let st = self.h.state()?;
        match st.listener.take() {
            w @ Listener::Waiter { .. } => st.listener.set(w),
            _ => st.listener.set(Listener::Waiter {
                pending: 0,
                waker: None,
            }),
        }
        Ok(())
    }

    /// For futures: true if the timer fired since the last call; stores the waker otherwise.
    pub(crate) fn poll_fired(&self, waker: &Waker) -> Result<bool> {
        let st = self.h.state()?;
        Ok(Listener::poll_fired(&st.listener, waker))
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_closing() {
            return f.debug_struct("Timer").field("closed", &true).finish();
        }
        f.debug_struct("Timer")
            .field("active", &self.is_active())
            .field("repeat", &self.repeat())
            .field("due_in", &self.due_in())
            .finish()
    }
}

impl Error {
    /// `ETIMEDOUT`, as returned by [`crate::time::timeout`].
    pub(crate) fn timed_out() -> Error {
        Error::ETIMEDOUT.with_operation("timeout")
    }
}
