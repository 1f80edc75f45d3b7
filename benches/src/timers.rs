//! `million_timers` with uvio: callbacks (`Timer::start`) and futures (`time::sleep` tasks).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Poll, Waker};
use std::time::Duration;

use uvio::{Loop, RunMode, Timer};

use crate::c::Phases;
use crate::clock::{Mark, phases};

/// The size of one uvio timer allocation, `size_of::<HandleBox<uv_timer_t, TimerState>>()`
/// (uv_timer_t, the handle header, the listener), for the C variant that mimics uvio's
/// memory layout (one `malloc` per timer; uvio carves its boxes from a per-loop pool, without
/// malloc's 8-byte header). Check it when `src/handle.rs` changes: the peak RSS of the two
/// variants should then be within 8 MiB of each other.
pub const BOX_BYTES: u64 = 200;

/// Timer `i` fires after `i / 1000 + 1` ms (as in the C variant).
fn timeout(i: u64) -> Duration {
    Duration::from_millis(i / 1000 + 1)
}

/// The callbacks' counter: a static, like the C variant's, so the closures capture nothing
/// (a zero-sized closure needs no allocation of its own).
static FIRED: AtomicU64 = AtomicU64::new(0);

/// Callbacks: `Timer::new` + `Timer::start` per timer; run; drop them all and run until
/// closed; drop the loop.
pub fn callbacks(n: u64) -> Result<Phases, String> {
    let err = |e: uvio::Error| e.to_string();
    FIRED.store(0, Relaxed);
    let lp = Loop::new().map_err(err)?;
    let mut timers = Vec::with_capacity(n as usize);
    let m0 = Mark::now();
    for i in 0..n {
        let t = Timer::new(&lp).map_err(err)?;
        t.start(timeout(i), Duration::ZERO, |_t: &Timer| {
            FIRED.store(FIRED.load(Relaxed) + 1, Relaxed)
        })
        .map_err(err)?;
        timers.push(t);
    }
    let m1 = Mark::now();
    lp.run(RunMode::Default).map_err(err)?;
    let m2 = Mark::now();
    drop(timers);
    lp.run(RunMode::Default).map_err(err)?;
    let handle = lp.handle();
    drop(lp);
    let m3 = Mark::now();
    Ok(phases(
        [m0, m1, m2, m3],
        FIRED.load(Relaxed),
        n.saturating_sub(handle.handle_count() as u64),
    ))
}

/// What the tasks of the async variant report to the `block_on` future.
struct Progress {
    n: u64,
    fired: Cell<u64>,
    /// When every task had started its timer.
    started: Cell<Option<Mark>>,
    done: Cell<Option<Waker>>,
}

/// Futures: one task per timer, each awaiting `uvio::time::sleep` (which share one libuv
/// timer per loop); `block_on` until all have fired; then drop the loop.
///
/// `init` ends when every task has started its sleep; sleeps due meanwhile already fire
/// (the executor polls 1024 tasks per loop iteration), so init and dispatch overlap, and the
/// last sleep is due `init + 1 s` after the start, not `1 s`: compare CPU times.
pub fn futures(n: u64) -> Result<Phases, String> {
    let err = |e: uvio::Error| e.to_string();
    let lp = Loop::new().map_err(err)?;
    let progress = Rc::new(Progress {
        n,
        fired: Cell::new(0),
        started: Cell::new(None),
        done: Cell::new(None),
    });
    let m0 = Mark::now();
    let p = Rc::clone(&progress);
    lp.block_on(async move {
        for i in 0..n {
            let sleep = uvio::time::sleep(timeout(i));
            let p = Rc::clone(&p);
            // Dropping the JoinHandle detaches the task.
            drop(uvio::spawn_local(async move {
                sleep.await;
                p.fired.set(p.fired.get() + 1);
                if p.fired.get() == p.n {
                    if let Some(w) = p.done.take() {
                        w.wake();
                    }
                }
            }));
        }
        // Tasks are first polled in spawn order: this one runs right after the last timer
        // task has started its timer.
        let marker = Rc::clone(&p);
        drop(uvio::spawn_local(async move {
            marker.started.set(Some(Mark::now()));
        }));
        std::future::poll_fn(|cx| {
            if p.fired.get() == p.n {
                Poll::Ready(())
            } else {
                p.done.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
    })
    .map_err(err)?;
    let m2 = Mark::now();
    let handle = lp.handle();
    drop(lp);
    let m3 = Mark::now();
    let m1 = progress
        .started
        .get()
        .ok_or("the last task never started")?;
    Ok(phases(
        [m0, m1, m2, m3],
        progress.fired.get(),
        n.saturating_sub(handle.handle_count() as u64),
    ))
}
