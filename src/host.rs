//! What is different on a borrowed loop (`Loop::from_raw`): the host runs the loop and its
//! own code between uvio's callbacks.
//!
//! **Timers count from now.** libuv caches the loop's time (`uv_now`) at the start of each
//! iteration and after each poll, and `uv_timer_start` counts from that cached time. On a
//! loop uvio owns, nothing but uvio's callbacks runs between updates, and libuv's rule is
//! kept as it is (C semantics; no clock read per timer start). On a borrowed loop the host
//! may have run JavaScript or Lua for any length of time since the last update, in this
//! iteration too (node's own timers run in the same timers phase as uvio's), so a timeout
//! counted from the cached time would fire early. [`from_now`] gives the timeout to pass
//! instead: it refreshes the cached time (`uv_update_time`, so the host's next poll timeout
//! is right too) and adds what the millisecond loop clock is behind the monotonic clock
//! (`uv_hrtime`, the clock of `Instant`; libuv's loop clock truncates to milliseconds and may
//! read the coarse clock, up to a millisecond behind). A timer due at
//! `uv_now() + timeout` then fires no sooner than the delay after the call by `Instant`.
//! The cost is two vDSO clock reads per timer start, on borrowed loops only.

use std::time::Duration;

use crate::event_loop::LoopInner;
use crate::ffi;

/// The timeout to give `uv_timer_start` so that the timer fires no sooner than `delay` after
/// now by the monotonic clock: `delay` itself on an owned loop (libuv's rule), and on a
/// borrowed loop `delay` plus how far the refreshed loop clock is behind the monotonic clock
/// (see the module docs). A zero delay stays zero (due in the next timers phase).
pub(crate) fn from_now(lp: &LoopInner, delay: Duration) -> Duration {
    if lp.is_owned() || delay.is_zero() || lp.ensure_open().is_err() {
        return delay;
    }
    // SAFETY: the loop is initialised and open; both calls only read clocks and update the
    // loop's cached time.
    let (loop_ms, now_ns) = unsafe {
        ffi::uv_update_time(lp.raw());
        (ffi::uv_now(lp.raw()), ffi::uv_hrtime())
    };
    let behind = now_ns.div_ceil(1_000_000).saturating_sub(loop_ms);
    delay.saturating_add(Duration::from_millis(behind))
}
