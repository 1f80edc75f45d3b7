//! Futures over timers: [`sleep`], [`sleep_until`], [`interval`], [`timeout`].
//!
//! Each starts on the loop running on this thread when first polled. Sleeps (and so
//! timeouts) share one libuv timer per loop, armed for the earliest deadline of a heap of
//! them, so a million pending sleeps cost a million small heap entries, not a million
//! timer handles; an interval has a timer of its own.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;

use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::sleeps::{Key, Sleeps};
use crate::timer::{Timer, millis};

fn current_loop() -> LoopHandle {
    LoopHandle::current().expect("uvio timer future polled outside a uvio loop")
}

/// Waits until `duration` has elapsed (a one-shot timer, millisecond resolution).
///
/// # Panics
///
/// When first polled outside a uvio loop.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let lp = uvio::Loop::new()?;
/// let start = Instant::now();
/// lp.block_on(uvio::time::sleep(Duration::from_millis(10)))?;
/// assert!(start.elapsed() >= Duration::from_millis(9));
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    // Counted from the call, as tokio does; `None` (an overflowing deadline) never elapses.
    Sleep {
        deadline: Instant::now().checked_add(duration),
        state: State::Idle,
    }
}

/// Waits until `deadline`.
///
/// # Panics
///
/// When first polled outside a uvio loop.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let lp = uvio::Loop::new()?;
/// let deadline = Instant::now() + Duration::from_millis(2);
/// lp.block_on(uvio::time::sleep_until(deadline))?;
/// assert!(Instant::now() >= deadline); // never early
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: Some(deadline),
        state: State::Idle,
    }
}

/// The future of [`sleep`] and [`sleep_until`]. Dropping it cancels the wait.
///
/// It never completes before its deadline by the monotonic clock (`Instant`): libuv's
/// millisecond loop clock can run a little behind, so a wait that the loop's timer ends
/// early is registered again for the rest.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let lp = uvio::Loop::new()?;
/// let start = Instant::now();
/// let s: uvio::time::Sleep = uvio::time::sleep(Duration::from_millis(2));
/// lp.block_on(s)?;
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    deadline: Option<Instant>,
    state: State,
}

enum State {
    /// Not registered yet.
    Idle,
    /// Registered on the loop's shared timer.
    Waiting(Rc<Sleeps>, Key),
    Done,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &self.state {
            State::Done => Poll::Ready(()),
            State::Waiting(sleeps, key) => {
                if !sleeps.poll_fired(*key, cx.waker()) {
                    return Poll::Pending;
                }
                sleeps.release(*key);
                self.state = State::Idle;
                let left = self.remaining();
                if left.is_zero() {
                    self.state = State::Done;
                    return Poll::Ready(());
                }
                self.start(left, cx)
            }
            State::Idle => {
                let left = self.remaining();
                self.start(left, cx)
            }
        }
    }
}

impl Sleep {
    /// Time left until the deadline (`Duration::MAX` for one that never comes).
    fn remaining(&self) -> Duration {
        match self.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::MAX,
        }
    }

    fn start(&mut self, wait: Duration, cx: &mut Context<'_>) -> Poll<()> {
        let lp = current_loop();
        // The loop's cached time may be stale (nothing ran for a while): a deadline computed
        // from it would come early.
        lp.update_time();
        // A closed loop never fires anything: treat the wait as elapsed.
        let started = Sleeps::of(&lp.inner)
            .and_then(|s| s.register(millis(wait), cx.waker()).map(|k| (s, k)));
        match started {
            Ok((sleeps, key)) => {
                self.state = State::Waiting(sleeps, key);
                Poll::Pending
            }
            Err(_) => {
                self.state = State::Done;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let State::Waiting(sleeps, key) = &self.state {
            sleeps.release(*key);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Sleep");
        d.field("remaining", &self.remaining());
        match &self.state {
            State::Idle => d.field("state", &"not started"),
            State::Waiting(..) => d.field("state", &"waiting"),
            State::Done => d.field("state", &"elapsed"),
        };
        d.finish()
    }
}

/// A stream that yields every `period`, first after one `period`.
///
/// # Panics
///
/// When first polled outside a uvio loop.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::time::Duration;
///
/// let lp = uvio::Loop::new()?;
/// lp.block_on(async {
///     let mut ticks = uvio::time::interval(Duration::from_millis(2));
///     for _ in 0..3 {
///         ticks.next().await;
///     }
/// })?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn interval(period: Duration) -> Interval {
    Interval {
        timer: None,
        period: period.max(Duration::from_millis(1)),
    }
}

/// The stream of [`interval`]. Each item is the `Instant` it was observed.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::time::Duration;
/// let lp = uvio::Loop::new()?;
/// let ticks: Vec<_> = lp.block_on(uvio::time::interval(Duration::from_millis(1)).take(3).collect())?;
/// assert_eq!(ticks.len(), 3);
/// assert!(ticks.windows(2).all(|w| w[0] <= w[1]));
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct Interval {
    timer: Option<Timer>,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let mut every = uvio::time::interval(Duration::from_millis(1));
    ///     let first = every.tick().await;
    ///     let second = every.tick().await;
    ///     assert!(second >= first);
    /// })?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .unwrap_or_else(Instant::now)
    }
}

impl Stream for Interval {
    type Item = Instant;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        if self.timer.is_none() {
            let t = match Timer::new(&current_loop()) {
                Ok(t) => t,
                Err(_) => return Poll::Ready(None),
            };
            let period = self.period;
            if t.listen_for_waker()
                .and_then(|_| {
                    t.start_raw(
                        crate::host::from_now(&t.loop_handle().inner, period),
                        period,
                    )
                })
                .is_err()
            {
                return Poll::Ready(None);
            }
            self.timer = Some(t);
        }
        let t = self.timer.as_ref().expect("timer set above");
        match t.poll_fired(cx.waker()) {
            Ok(true) => Poll::Ready(Some(Instant::now())),
            Ok(false) => Poll::Pending,
            Err(_) => Poll::Ready(None),
        }
    }
}

/// Runs `fut`, giving up with `ETIMEDOUT` if it has not finished after `duration`.
///
/// # Errors
///
/// [`Error::ETIMEDOUT`] when the time runs out first (the inner future is dropped).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uvio::time::{sleep, timeout};
///
/// let lp = uvio::Loop::new()?;
/// let r = lp.block_on(timeout(Duration::from_millis(5), sleep(Duration::from_secs(60))))?;
/// assert_eq!(r.unwrap_err().name(), "ETIMEDOUT");
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn timeout<F: Future>(duration: Duration, fut: F) -> Timeout<F> {
    Timeout {
        fut,
        sleep: sleep(duration),
    }
}

/// The future of [`timeout`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let lp = uvio::Loop::new()?;
/// // A future that finishes in time gives its output.
/// let r = lp.block_on(uvio::time::timeout(Duration::from_secs(60), async { 7 }))?;
/// assert_eq!(r?, 7);
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Timeout<F> {
    fut: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `fut` is structurally pinned (never moved out of the pinned `Timeout`);
        // `sleep` is Unpin and not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        if let Poll::Ready(v) = fut.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}
