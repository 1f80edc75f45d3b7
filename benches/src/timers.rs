//! `million_timers` with uvio: callbacks (`Timer::start`) and futures (`time::sleep` tasks).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use uvio::{Loop, RunMode, Timer};

use crate::c::Phases;
use crate::clock::{cpu_ns, elapsed_ns};

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
    let t0 = Instant::now();
    for i in 0..n {
        let t = Timer::new(&lp).map_err(err)?;
        t.start(timeout(i), Duration::ZERO, |_t: &Timer| {
            FIRED.store(FIRED.load(Relaxed) + 1, Relaxed)
        })
        .map_err(err)?;
        timers.push(t);
    }
    let t1 = Instant::now();
    let c1 = cpu_ns();
    lp.run(RunMode::Default).map_err(err)?;
    let t2 = Instant::now();
    let c2 = cpu_ns();
    drop(timers);
    lp.run(RunMode::Default).map_err(err)?;
    let handle = lp.handle();
    drop(lp);
    let t3 = Instant::now();
    Ok(Phases {
        init_ns: elapsed_ns(t0, t1),
        dispatch_ns: elapsed_ns(t1, t2),
        dispatch_cpu_ns: c2 - c1,
        cleanup_ns: elapsed_ns(t2, t3),
        fired: FIRED.load(Relaxed),
        closed: n.saturating_sub(handle.handle_count() as u64),
    })
}

/// What the tasks of the async variant report to the `block_on` future.
struct Progress {
    n: u64,
    fired: Cell<u64>,
    /// When the last task's timer was started (every earlier task's had been: FIFO queue).
    started: Cell<Option<(Instant, u64)>>,
    done: Cell<Option<Waker>>,
}

/// Futures: one task per timer, each awaiting `uvio::time::sleep`; `block_on` until all
/// have fired. Timers close as their tasks finish; what is left closes when the loop drops.
///
/// `init` ends when the last task has started its timer; timers due meanwhile already fire
/// (the executor polls 1024 tasks per loop iteration), so init and dispatch overlap a little.
pub fn futures(n: u64) -> Result<Phases, String> {
    let err = |e: uvio::Error| e.to_string();
    let lp = Loop::new().map_err(err)?;
    let progress = Rc::new(Progress {
        n,
        fired: Cell::new(0),
        started: Cell::new(None),
        done: Cell::new(None),
    });
    let t0 = Instant::now();
    let p = Rc::clone(&progress);
    lp.block_on(async move {
        for i in 0..n {
            let p = Rc::clone(&p);
            // Dropping the JoinHandle detaches the task.
            drop(uvio::spawn_local(async move {
                let mut sleep = uvio::time::sleep(timeout(i));
                if i + 1 == p.n {
                    // The first poll creates and starts the timer.
                    let first =
                        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut sleep).poll(cx)));
                    let ready = first.await.is_ready();
                    p.started.set(Some((Instant::now(), cpu_ns())));
                    if !ready {
                        sleep.await;
                    }
                } else {
                    sleep.await;
                }
                p.fired.set(p.fired.get() + 1);
                if p.fired.get() == p.n {
                    if let Some(w) = p.done.take() {
                        w.wake();
                    }
                }
            }));
        }
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
    let t2 = Instant::now();
    let c2 = cpu_ns();
    let handle = lp.handle();
    drop(lp);
    let t3 = Instant::now();
    let (t1, c1) = progress
        .started
        .get()
        .ok_or("the last task never started")?;
    Ok(Phases {
        init_ns: elapsed_ns(t0, t1),
        dispatch_ns: elapsed_ns(t1, t2),
        dispatch_cpu_ns: c2 - c1,
        cleanup_ns: elapsed_ns(t2, t3),
        fired: progress.fired.get(),
        closed: n.saturating_sub(handle.handle_count() as u64),
    })
}
