//! `loop_count` with uvio: how many callbacks (or task polls) one loop runs in a fixed time.
//!
//! * idle: an active `Idle` handle ticks once per loop iteration, with a callback and with
//!   `Idle::tick().await` in a task (compared with C's idle ticks: libuv's own workload).
//! * callbacks: a zero-timeout `Timer` that re-arms itself from its callback fires once per
//!   loop iteration (compared with the same in C).
//! * futures: a task that wakes itself on every poll. The executor polls up to 1024 queued
//!   tasks per loop iteration, so this measures polls, not iterations (compared with C's
//!   idle ticks: both are "the cheapest repeated callback" of their API).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::Poll;
use std::time::Duration;

use uvio::{Idle, Loop, LoopHandle, RunMode, Timer};

use crate::c::Ticks;
use crate::clock::Mark;

static TICKS: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// The zero-timeout timer's callback: count, then re-arm (a fn item: no allocation).
fn on_zero_timer(t: &Timer) {
    TICKS.store(TICKS.load(Relaxed) + 1, Relaxed);
    if !STOP.load(Relaxed) {
        t.start(Duration::ZERO, Duration::ZERO, on_zero_timer)
            .expect("re-arm an open timer");
    }
}

fn iterations(lp: &LoopHandle) -> Result<u64, String> {
    lp.metrics()
        .map(|m| m.loop_count)
        .map_err(|e| e.to_string())
}

/// Runs a loop on which `start` put the counting handle (it must keep it alive), stopped by
/// a timer after `ms` milliseconds; the callbacks count in `TICKS` and stop on `STOP`.
fn count_callbacks<H>(
    ms: u64,
    start: impl FnOnce(&Loop) -> uvio::Result<H>,
) -> Result<Ticks, String> {
    let err = |e: uvio::Error| e.to_string();
    TICKS.store(0, Relaxed);
    STOP.store(false, Relaxed);
    let lp = Loop::new().map_err(err)?;
    let _counting = start(&lp).map_err(err)?;
    let stop = Timer::new(&lp).map_err(err)?;
    stop.start(Duration::from_millis(ms), Duration::ZERO, |_t: &Timer| {
        STOP.store(true, Relaxed)
    })
    .map_err(err)?;
    let iters0 = iterations(&lp)?;
    let m0 = Mark::now();
    lp.run(RunMode::Default).map_err(err)?;
    Ok(Mark::now().ticks_since(m0, TICKS.load(Relaxed), iterations(&lp)? - iters0))
}

/// Callbacks: firings of a re-armed zero-timeout timer in `ms` milliseconds.
pub fn callbacks(ms: u64) -> Result<Ticks, String> {
    count_callbacks(ms, |lp| {
        let zero = Timer::new(lp)?;
        zero.start(Duration::ZERO, Duration::ZERO, on_zero_timer)?;
        Ok(zero)
    })
}

/// Futures: polls of a self-waking task in `ms` milliseconds, stopped by `time::sleep`.
pub fn futures(ms: u64) -> Result<Ticks, String> {
    let err = |e: uvio::Error| e.to_string();
    let lp = Loop::new().map_err(err)?;
    let polls = Rc::new(Cell::new(0u64));
    let stop = Rc::new(Cell::new(false));
    let iters0 = iterations(&lp)?;
    let m0 = Mark::now();
    let (p, s) = (Rc::clone(&polls), Rc::clone(&stop));
    lp.block_on(async move {
        let spinner = uvio::spawn_local(std::future::poll_fn(move |cx| {
            if s.get() {
                return Poll::Ready(());
            }
            p.set(p.get() + 1);
            cx.waker().wake_by_ref();
            Poll::Pending
        }));
        uvio::time::sleep(Duration::from_millis(ms)).await;
        stop.set(true);
        spinner.await.expect("the spinner task finishes");
    })
    .map_err(err)?;
    Ok(Mark::now().ticks_since(m0, polls.get(), iterations(&lp)? - iters0))
}

/// The idle callback: count, and stop once the stop timer has fired (a fn item).
fn on_idle(i: &Idle) {
    TICKS.store(TICKS.load(Relaxed) + 1, Relaxed);
    if STOP.load(Relaxed) {
        i.stop().expect("stop an open idle handle");
    }
}

/// Callbacks: ticks of an active idle handle in `ms` milliseconds.
pub fn idle_callbacks(ms: u64) -> Result<Ticks, String> {
    count_callbacks(ms, |lp| {
        let idle = Idle::new(lp)?;
        idle.start(on_idle)?;
        Ok(idle)
    })
}

/// Futures: `Idle::tick().await` in a loop for `ms` milliseconds.
pub fn idle_async(ms: u64) -> Result<Ticks, String> {
    let err = |e: uvio::Error| e.to_string();
    let lp = Loop::new().map_err(err)?;
    let idle = Idle::new(&lp).map_err(err)?;
    let stop = Rc::new(Cell::new(false));
    let s = Rc::clone(&stop);
    let timer = Timer::new(&lp).map_err(err)?;
    timer
        .start(
            Duration::from_millis(ms),
            Duration::ZERO,
            move |_t: &Timer| s.set(true),
        )
        .map_err(err)?;
    let iters0 = iterations(&lp)?;
    let m0 = Mark::now();
    let ticks = lp
        .block_on(async {
            let mut n = 0u64;
            while !stop.get() {
                idle.tick().await?;
                n += 1;
            }
            Ok::<u64, uvio::Error>(n)
        })
        .map_err(err)?
        .map_err(err)?;
    Ok(Mark::now().ticks_since(m0, ticks, iterations(&lp)? - iters0))
}
