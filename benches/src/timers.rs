//! `million_timers` (libuv's `benchmark-million-timers.c`): `n` one-shot timers, timer `i`
//! due after `i / 1000 + 1` ms; run until all have fired, then close them all. One
//! operation is one timer's whole life (create, start, fire, close).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use uvio::{Loop, RunMode, Timer};

use crate::clock::{Mark, loop_iterations};
use crate::{Done, Job, Pin, Server, Workload, c, err, node, v};

pub(crate) const MILLION_TIMERS: Workload = Workload {
    name: "million_timers",
    about: "{n} one-shot timers, timer i due after i/1000+1 ms, then closed",
    unit: "timer",
    n: [1_000_000, 100_000, 100_000],
    arg: 0,
    server: Server::None,
    pin: Pin::Any,
    fixture: false,
    timed: false,
    variants: &[
        v("c", c::million_timers),
        v("callbacks", callbacks),
        v("futures", futures),
        v("tokio", tokio_sleeps),
        v("node", node::run),
    ],
};

/// Timer `i` fires after `i / 1000 + 1` ms (as in the C variant).
fn timeout(i: u64) -> Duration {
    Duration::from_millis(i / 1000 + 1)
}

/// The callbacks' counter: a static, so the closures capture nothing.
static FIRED: AtomicU64 = AtomicU64::new(0);

/// uvio callbacks: `Timer::new` + `Timer::start` per timer, kept in a `Vec`; run; drop
/// them all and run until closed.
fn callbacks(job: &Job) -> Result<Done, String> {
    FIRED.store(0, Relaxed);
    let lp = Loop::new().map_err(err)?;
    let mut timers = Vec::with_capacity(job.n as usize);
    let i0 = loop_iterations(&lp);
    let m0 = Mark::now();
    for i in 0..job.n {
        let t = Timer::new(&lp).map_err(err)?;
        t.start(timeout(i), Duration::ZERO, |_t: &Timer| {
            FIRED.store(FIRED.load(Relaxed) + 1, Relaxed)
        })
        .map_err(err)?;
        timers.push(t);
    }
    lp.run(RunMode::Default).map_err(err)?;
    drop(timers);
    lp.run(RunMode::Default).map_err(err)?;
    let m1 = Mark::now();
    if lp.handle().handle_count() != 0 {
        return Err("timers left open".into());
    }
    let iterations = loop_iterations(&lp) - i0;
    Ok(m1.done_since(m0, FIRED.load(Relaxed), iterations))
}

/// uvio futures: one task per timer, each awaiting `uvio::time::sleep`, all spawned from
/// `block_on`, which then waits for the last one.
fn futures(job: &Job) -> Result<Done, String> {
    let lp = Loop::new().map_err(err)?;
    let fired = Rc::new(Cell::new(0u64));
    let i0 = loop_iterations(&lp);
    let m0 = Mark::now();
    let f = Rc::clone(&fired);
    let n = job.n;
    lp.block_on(async move {
        let mut last = None;
        for i in 0..n {
            let f = Rc::clone(&f);
            let sleep = uvio::time::sleep(timeout(i));
            let task = uvio::spawn_local(async move {
                sleep.await;
                f.set(f.get() + 1);
            });
            // The others are detached by dropping their handles.
            last = Some(task);
        }
        // The last timer is due last (with others due in the same millisecond).
        if let Some(t) = last {
            let _ = t.await;
        }
        while f.get() < n {
            uvio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .map_err(err)?;
    let m1 = Mark::now();
    Ok(m1.done_since(m0, fired.get(), loop_iterations(&lp) - i0))
}

/// tokio: one task per timer, each awaiting `tokio::time::sleep`.
fn tokio_sleeps(job: &Job) -> Result<Done, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(err)?;
    let fired = Rc::new(Cell::new(0u64));
    let m0 = Mark::now();
    let n = job.n;
    let local = tokio::task::LocalSet::new();
    let f = Rc::clone(&fired);
    local.block_on(&rt, async move {
        let mut last = None;
        for i in 0..n {
            let f = Rc::clone(&f);
            last = Some(tokio::task::spawn_local(async move {
                tokio::time::sleep(timeout(i)).await;
                f.set(f.get() + 1);
            }));
        }
        if let Some(t) = last {
            let _ = t.await;
        }
        while f.get() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let m1 = Mark::now();
    Ok(m1.done_since(m0, fired.get(), 0))
}
