//! `loop_count` (libuv's `benchmark-loop-count.c`): `n` ticks of an idle handle, one per
//! loop iteration, then stop. Each row reports loop iterations per tick, so a variant that
//! counted something else (task polls) would show it.
//!
//! * uvio callbacks: an `Idle` whose callback (a fn item) counts and stops at `n`.
//! * uvio futures: a task awaiting `Idle::tick()` `n` times.
//! * tokio: a task awaiting `tokio::task::yield_now()` `n` times: on a current-thread
//!   runtime each yield is woken after the next turn of the I/O driver (one poll of the
//!   driver per tick, tokio's loop iteration).
//! * Node.js: a chain of `setImmediate` (each runs in the next iteration's check phase).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use uvio::{Idle, Loop, LoopHandle, RunMode};

use crate::clock::Mark;
use crate::{Done, Job, Pin, Server, Workload, c, err, node, v};

pub(crate) const LOOP_COUNT: Workload = Workload {
    name: "loop_count",
    about: "{n} ticks of an idle handle, one per loop iteration",
    unit: "tick",
    n: [5_000_000, 500_000, 200_000],
    arg: 0,
    server: Server::None,
    pin: Pin::Any,
    fixture: false,
    timed: false,
    variants: &[
        v("c", c::loop_count),
        v("callbacks", callbacks),
        v("futures", futures),
        v("tokio", tokio_yields),
        v("node", node::run),
    ],
};

static TICKS: AtomicU64 = AtomicU64::new(0);
static TARGET: AtomicU64 = AtomicU64::new(0);

fn iterations(lp: &LoopHandle) -> Result<u64, String> {
    lp.metrics().map(|m| m.loop_count).map_err(err)
}

/// The idle callback: count, and stop at the target (a fn item: no allocation).
fn on_idle(i: &Idle) {
    let t = TICKS.load(Relaxed) + 1;
    TICKS.store(t, Relaxed);
    if t == TARGET.load(Relaxed) {
        i.stop().expect("stop an open idle handle");
    }
}

/// uvio callbacks: an active `Idle` counting to `n`.
fn callbacks(job: &Job) -> Result<Done, String> {
    TICKS.store(0, Relaxed);
    TARGET.store(job.n, Relaxed);
    let lp = Loop::new().map_err(err)?;
    let idle = Idle::new(&lp).map_err(err)?;
    idle.start(on_idle).map_err(err)?;
    let i0 = iterations(&lp.handle())?;
    let m0 = Mark::now();
    lp.run(RunMode::Default).map_err(err)?;
    let m1 = Mark::now();
    let iters = iterations(&lp.handle())? - i0;
    Ok(m1.done_since(m0, TICKS.load(Relaxed), iters))
}

/// uvio futures: `Idle::tick().await` `n` times in `block_on`.
fn futures(job: &Job) -> Result<Done, String> {
    let lp = Loop::new().map_err(err)?;
    let idle = Idle::new(&lp).map_err(err)?;
    let i0 = iterations(&lp.handle())?;
    let m0 = Mark::now();
    let n = job.n;
    let ticks = lp
        .block_on(async {
            for _ in 0..n {
                idle.tick().await?;
            }
            Ok::<u64, uvio::Error>(n)
        })
        .map_err(err)?
        .map_err(err)?;
    let m1 = Mark::now();
    let iters = iterations(&lp.handle())? - i0;
    Ok(m1.done_since(m0, ticks, iters))
}

/// tokio: `yield_now().await` `n` times on a current-thread runtime with its I/O driver.
fn tokio_yields(job: &Job) -> Result<Done, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    let m0 = Mark::now();
    let n = job.n;
    rt.block_on(async {
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    });
    Ok(Mark::now().done_since(m0, n, 0))
}
