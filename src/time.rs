//! Futures over timers: [`sleep`], [`sleep_until`], [`interval`], [`timeout`].
//!
//! Each starts on the loop running on this thread when first polled. Sleeps (and so
//! timeouts) share one libuv timer per loop (`src/sleeps.rs`); an interval has its own.

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
    Sleep {
        state: State::For(duration),
    }
}

/// Waits until `deadline`.
///
/// # Panics
///
/// When first polled outside a uvio loop.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        state: State::Until(deadline),
    }
}

/// The future of [`sleep`] and [`sleep_until`]. Dropping it cancels the wait.
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    state: State,
}

/// One enum, 24 bytes: a task holding a million sleeps holds a million of these.
enum State {
    /// Not polled yet: wait this long from the first poll.
    For(Duration),
    /// Not polled yet: wait until then.
    Until(Instant),
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
                self.state = State::Done;
                Poll::Ready(())
            }
            &State::For(wait) => self.start(wait, cx),
            &State::Until(deadline) => {
                self.start(deadline.saturating_duration_since(Instant::now()), cx)
            }
        }
    }
}

impl Sleep {
    fn start(&mut self, wait: Duration, cx: &mut Context<'_>) -> Poll<()> {
        let lp = current_loop();
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
        match &self.state {
            State::For(wait) => d.field("wait", wait),
            State::Until(deadline) => d.field("until", deadline),
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
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct Interval {
    timer: Option<Timer>,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick.
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
                .and_then(|_| t.start_raw(period, period))
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
