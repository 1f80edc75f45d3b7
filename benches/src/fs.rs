//! `fs_stat` (libuv's `benchmark-fs-stat.c`): stats of one small file, synchronously (no
//! loop: `uv_fs_stat(NULL, ..., NULL)`) and with 32 requests in flight (32 chains, each
//! starting its next stat from the previous one's completion).

use std::cell::Cell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use uvio::{Loop, LoopHandle, RunMode};

use crate::clock::{Mark, loop_iterations};
use crate::{Done, Job, Pin, Server, Workload, c, err, node, v};

pub(crate) const FS_STAT_SYNC: Workload = Workload {
    name: "fs_stat_sync",
    about: "{n} synchronous stats of one small file",
    unit: "stat",
    n: [1_000_000, 50_000, 50_000],
    arg: 1,
    server: Server::None,
    pin: Pin::Any,
    fixture: true,
    timed: false,
    variants: &[
        v("c", c::fs_stat_sync),
        v("sync", stat_sync),
        v("std", stat_std),
        v("node", node::run),
    ],
};

pub(crate) const FS_STAT_32: Workload = Workload {
    name: "fs_stat_32",
    about: "{n} stats of one small file, 32 in flight on libuv's thread pool",
    unit: "stat",
    n: [500_000, 20_000, 20_000],
    arg: 32,
    server: Server::None,
    pin: Pin::Any,
    fixture: true,
    timed: false,
    variants: &[
        v("c", c::fs_stat),
        v("callbacks", stat_callbacks),
        v("futures", stat_futures),
        v("tokio", stat_tokio),
        v("node", node::run),
    ],
};

/// uvio: `uvio::fs::sync::metadata` in a loop (libuv's synchronous form, on this thread).
fn stat_sync(job: &Job) -> Result<Done, String> {
    let m0 = Mark::now();
    for _ in 0..job.n {
        uvio::fs::sync::metadata(job.path).map_err(err)?;
    }
    Ok(Mark::now().done_since(m0, job.n, 0))
}

/// Rust's `std::fs::metadata` in a loop (`statx`), for scale.
fn stat_std(job: &Job) -> Result<Done, String> {
    let m0 = Mark::now();
    for _ in 0..job.n {
        std::fs::metadata(job.path).map_err(err)?;
    }
    Ok(Mark::now().done_since(m0, job.n, 0))
}

/// The number of operations chain `i` of `k` does, out of `n`.
fn share(n: u64, k: u64, i: u64) -> u64 {
    n / k + u64::from(i < n % k)
}

/// One chain of `count` operations, in sequence.
async fn chain<F, T, E>(count: u64, op: impl Fn() -> F) -> Result<u64, String>
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    for _ in 0..count {
        op().await.map_err(err)?;
    }
    Ok(count)
}

/// uvio futures: `job.arg` tasks, each awaiting `uvio::fs::metadata` in a loop.
fn stat_futures(job: &Job) -> Result<Done, String> {
    let lp = Loop::new().map_err(err)?;
    let path: Rc<Path> = job.path.into();
    let (n, k) = (job.n, job.arg);
    let i0 = loop_iterations(&lp);
    let m0 = Mark::now();
    let done = lp
        .block_on(async move {
            let tasks: Vec<_> = (0..k)
                .map(|i| {
                    let path = Rc::clone(&path);
                    uvio::spawn_local(chain(share(n, k, i), move || {
                        uvio::fs::metadata(Rc::clone(&path))
                    }))
                })
                .collect();
            let mut done = 0;
            for t in tasks {
                done += t.await.map_err(err)??;
            }
            Ok::<u64, String>(done)
        })
        .map_err(err)??;
    Ok(Mark::now().done_since(m0, done, loop_iterations(&lp) - i0))
}

/// tokio on a current-thread runtime: `job.arg` tasks, each awaiting `tokio::fs::metadata`
/// (`spawn_blocking` underneath) in a loop.
fn stat_tokio(job: &Job) -> Result<Done, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(err)?;
    let path = PathBuf::from(job.path);
    let (n, k) = (job.n, job.arg);
    let m0 = Mark::now();
    let done = rt.block_on(async move {
        let tasks: Vec<_> = (0..k)
            .map(|i| {
                let path = path.clone();
                tokio::spawn(chain(share(n, k, i), move || {
                    tokio::fs::metadata(path.clone())
                }))
            })
            .collect();
        let mut done = 0;
        for t in tasks {
            done += t.await.map_err(err)??;
        }
        Ok::<u64, String>(done)
    })?;
    Ok(Mark::now().done_since(m0, done, 0))
}

/// What the callback chains share.
struct Chains {
    lp: LoopHandle,
    path: Rc<Path>,
    /// Requests still to start.
    left: Cell<u64>,
    done: Cell<u64>,
    failed: Cell<Option<uvio::Error>>,
}

/// Starts the next stat of a callback chain, if any is left.
fn stat_next(c: Rc<Chains>) {
    if c.left.get() == 0 {
        return;
    }
    c.left.set(c.left.get() - 1);
    let lp = c.lp.clone();
    let path = Rc::clone(&c.path);
    uvio::fs::cb::metadata(&lp, path, move |r| match r {
        Ok(_) => {
            c.done.set(c.done.get() + 1);
            stat_next(c);
        }
        Err(e) => c.failed.set(Some(e)),
    });
}

/// uvio callbacks: `job.arg` chains of `uvio::fs::cb::metadata`, each restarted from its
/// callback.
fn stat_callbacks(job: &Job) -> Result<Done, String> {
    let lp = Loop::new().map_err(err)?;
    let c = Rc::new(Chains {
        lp: lp.handle(),
        path: job.path.into(),
        left: Cell::new(job.n),
        done: Cell::new(0),
        failed: Cell::new(None),
    });
    let i0 = loop_iterations(&lp);
    let m0 = Mark::now();
    for _ in 0..job.arg {
        stat_next(Rc::clone(&c));
    }
    lp.run(RunMode::Default).map_err(err)?;
    let d = Mark::now().done_since(m0, c.done.get(), loop_iterations(&lp) - i0);
    match c.failed.take() {
        Some(e) => Err(err(e)),
        None => Ok(d),
    }
}
