//! Cross-thread wake-ups and the thread pool (libuv's `benchmark-million-async.c`,
//! `benchmark-async.c` with one thread, `benchmark-queue-work.c`).
//!
//! * million_async: `arg` async handles; a thread sends `n` wake-ups to handles picked at
//!   random (libuv's generator), then one to a last handle that ends the run. libuv
//!   coalesces sends to a handle that is already pending, so the rows report the callbacks
//!   run (events) and the handles seen at least once beside the cost per send.
//! * async1: `n` round trips between the loop thread and a worker thread with its own
//!   loop, each side's async callback waking the other side.
//! * queue_work: `n` thread-pool jobs, one at a time, each queued from the previous one's
//!   completion.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;

use futures_util::StreamExt;
use uvio::{AsyncHandle, AsyncSender, Idle, Loop, LoopHandle, RunMode};

use crate::clock::{Mark, loop_iterations};
use crate::{Done, Job, Pin, Server, Workload, c, err, v};

pub(crate) const MILLION_ASYNC: Workload = Workload {
    name: "million_async",
    about: "{n} sends from a thread to 1,048,576 async handles picked at random",
    unit: "send",
    n: [1_000_000, 200_000, 100_000],
    arg: 1 << 20,
    server: Server::None,
    pin: Pin::Any,
    fixture: false,
    timed: false,
    variants: &[
        v("c", c::million_async),
        v("callbacks", million_callbacks),
        v("futures", million_futures),
    ],
};

pub(crate) const ASYNC1: Workload = Workload {
    name: "async1",
    about: "{n} round trips of uv_async_send between the loop thread and a worker thread",
    unit: "round trip",
    n: [200_000, 20_000, 10_000],
    arg: 0,
    server: Server::None,
    pin: Pin::Any,
    fixture: false,
    timed: false,
    variants: &[
        v("c", c::async1),
        v("callbacks", async1_callbacks),
        v("futures", async1_futures),
    ],
};

pub(crate) const QUEUE_WORK: Workload = Workload {
    name: "queue_work",
    about: "{n} thread-pool jobs, one at a time, each queued from the last one's completion",
    unit: "job",
    n: [200_000, 20_000, 10_000],
    arg: 0,
    server: Server::None,
    pin: Pin::Any,
    fixture: false,
    timed: false,
    variants: &[
        v("c", c::queue_work),
        v("callbacks", work_callbacks),
        v("futures", work_futures),
        v("tokio", work_tokio),
    ],
};

/// libuv's benchmarks' generator (a linear congruential one), per thread.
struct FastRand(u32);

impl FastRand {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(214_013).wrapping_add(2_531_011);
        self.0
    }
}

/// The sender thread: `n` sends to random handles, then the last one.
fn send_all(senders: Vec<AsyncSender>, last: AsyncSender, n: u64) {
    let mut rng = FastRand(0);
    for _ in 0..n {
        let _ = senders[rng.next() as usize % senders.len()].send();
    }
    let _ = last.send();
}

static EVENTS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static SEEN: RefCell<Vec<bool>> = const { RefCell::new(Vec::new()) };
}

fn seen() -> u64 {
    SEEN.with_borrow(|s| s.iter().filter(|&&b| b).count() as u64)
}

/// uvio callbacks: `AsyncHandle::new` per handle (its closure counts and marks the handle
/// seen); the last handle's callback stops the loop (the iteration's other callbacks still
/// run), then everything is dropped (closed).
fn million_callbacks(job: &Job) -> Result<Done, String> {
    EVENTS.store(0, Relaxed);
    SEEN.set(vec![false; job.arg as usize]);
    let lp = Loop::new().map_err(err)?;
    let handles = (0..job.arg as usize)
        .map(|i| {
            AsyncHandle::new(&lp, move |_| {
                EVENTS.store(EVENTS.load(Relaxed) + 1, Relaxed);
                SEEN.with_borrow_mut(|s| s[i] = true);
            })
        })
        .collect::<uvio::Result<Vec<_>>>()
        .map_err(err)?;
    let stopper = lp.handle();
    let last = AsyncHandle::new(&lp, move |_| stopper.stop()).map_err(err)?;
    let senders: Vec<_> = handles.iter().map(AsyncHandle::sender).collect();
    let (last_sender, n) = (last.sender(), job.n);
    let i0 = loop_iterations(&lp);
    let m0 = Mark::now();
    let thread = std::thread::spawn(move || send_all(senders, last_sender, n));
    lp.run(RunMode::Default).map_err(err)?;
    thread.join().map_err(|_| "the sender thread panicked")?;
    drop(handles);
    drop(last);
    lp.run(RunMode::Default).map_err(err)?;
    let mut d = Mark::now().done_since(m0, job.n, loop_iterations(&lp) - i0);
    d.events = EVENTS.load(Relaxed);
    d.seen = seen();
    Ok(d)
}

/// uvio futures: `AsyncHandle::stream` per handle and one task per stream counting its
/// items; `block_on` awaits the last handle's stream, lets two more loop iterations run
/// the tasks woken meanwhile, and the loop is dropped (closing everything).
fn million_futures(job: &Job) -> Result<Done, String> {
    EVENTS.store(0, Relaxed);
    SEEN.set(vec![false; job.arg as usize]);
    let lp = Loop::new().map_err(err)?;
    let (k, n) = (job.arg as usize, job.n);
    let idle = Idle::new(&lp).map_err(err)?;
    let i0 = loop_iterations(&lp);
    let m0 = Mark::now();
    lp.block_on(async {
        let mut senders = Vec::with_capacity(k);
        for i in 0..k {
            let (mut stream, sender) = AsyncHandle::stream(&lp)?;
            senders.push(sender);
            drop(uvio::spawn_local(async move {
                while stream.next().await.is_some() {
                    EVENTS.store(EVENTS.load(Relaxed) + 1, Relaxed);
                    SEEN.with_borrow_mut(|s| s[i] = true);
                }
            }));
        }
        let (mut last, last_sender) = AsyncHandle::stream(&lp)?;
        let thread = std::thread::spawn(move || send_all(senders, last_sender, n));
        last.next().await;
        idle.tick().await?;
        idle.tick().await?;
        thread
            .join()
            .map_err(|_| uvio::Error::from_code(libc::EPIPE.wrapping_neg()))?;
        Ok::<(), uvio::Error>(())
    })
    .map_err(err)?
    .map_err(err)?;
    drop(idle);
    let iterations = loop_iterations(&lp) - i0;
    drop(lp);
    let mut d = Mark::now().done_since(m0, n, iterations);
    d.events = EVENTS.load(Relaxed);
    d.seen = seen();
    Ok(d)
}

/// uvio callbacks: an `AsyncHandle` on each side (the worker's on its own `Loop`), each
/// callback sending to the other side's handle.
fn async1_callbacks(job: &Job) -> Result<Done, String> {
    let n = job.n;
    let lp = Loop::new().map_err(err)?;
    let to_worker: Rc<RefCell<Option<AsyncSender>>> = Rc::default();
    let (count, tw) = (Rc::new(Cell::new(0u64)), Rc::clone(&to_worker));
    let c = Rc::clone(&count);
    let main = AsyncHandle::new(&lp, move |h| {
        c.set(c.get() + 1);
        if c.get() == n {
            let _ = h.close();
        } else if let Some(s) = &*tw.borrow() {
            let _ = s.send();
        }
    })
    .map_err(err)?;
    let to_main = main.sender();
    let (tx, rx) = mpsc::channel();
    let i0 = loop_iterations(&lp);
    let m0 = Mark::now();
    let worker = std::thread::spawn(move || -> Result<(), String> {
        let lp = Loop::new().map_err(err)?;
        let mut seen = 0u64;
        let h = AsyncHandle::new(&lp, move |h| {
            let _ = to_main.send();
            seen += 1;
            if seen == n {
                let _ = h.close();
            }
        })
        .map_err(err)?;
        tx.send(h.sender()).map_err(err)?;
        lp.run(RunMode::Default).map(drop).map_err(err)
    });
    let s = rx.recv().map_err(err)?;
    s.send().map_err(err)?;
    *to_worker.borrow_mut() = Some(s);
    lp.run(RunMode::Default).map_err(err)?;
    worker.join().map_err(|_| "the worker panicked")??;
    drop(main);
    let d = Mark::now().done_since(m0, count.get(), loop_iterations(&lp) - i0);
    Ok(d)
}

/// uvio futures: `AsyncHandle::stream` on each side, each awaiting its wake-up and
/// sending to the other.
fn async1_futures(job: &Job) -> Result<Done, String> {
    let n = job.n;
    let lp = Loop::new().map_err(err)?;
    let (tx, rx) = mpsc::channel();
    let (mut main, to_main) = AsyncHandle::stream(&lp).map_err(err)?;
    let i0 = loop_iterations(&lp);
    let m0 = Mark::now();
    let worker = std::thread::spawn(move || -> Result<(), String> {
        let lp = Loop::new().map_err(err)?;
        let (mut wakeups, to_worker) = AsyncHandle::stream(&lp).map_err(err)?;
        tx.send(to_worker).map_err(err)?;
        lp.block_on(async {
            for _ in 0..n {
                wakeups.next().await;
                to_main.send()?;
            }
            Ok::<(), uvio::Error>(())
        })
        .map_err(err)?
        .map_err(err)
    });
    let to_worker = rx.recv().map_err(err)?;
    let count = lp
        .block_on(async {
            let mut count = 0u64;
            for _ in 0..n {
                to_worker.send()?;
                main.next().await;
                count += 1;
            }
            Ok::<u64, uvio::Error>(count)
        })
        .map_err(err)?
        .map_err(err)?;
    worker.join().map_err(|_| "the worker panicked")??;
    Ok(Mark::now().done_since(m0, count, loop_iterations(&lp) - i0))
}

static RAND: AtomicU32 = AtomicU32::new(0);

/// The job: one step of libuv's generator (what benchmark-queue-work's job does).
fn job_work() -> u32 {
    let r = RAND
        .load(Relaxed)
        .wrapping_mul(214_013)
        .wrapping_add(2_531_011);
    RAND.store(r, Relaxed);
    r
}

static JOBS_LEFT: AtomicU64 = AtomicU64::new(0);
static JOBS_DONE: AtomicU64 = AtomicU64::new(0);

fn queue_next(lp: &LoopHandle) {
    let next = lp.clone();
    let r = uvio::queue_work(lp, job_work, move |r| {
        if r.is_ok() {
            JOBS_DONE.store(JOBS_DONE.load(Relaxed) + 1, Relaxed);
            let left = JOBS_LEFT.load(Relaxed) - 1;
            JOBS_LEFT.store(left, Relaxed);
            if left > 0 {
                queue_next(&next);
            }
        }
    });
    // The request is detached: `done` still runs.
    drop(r);
}

/// uvio callbacks: `uvio::queue_work`, the next one queued from the last one's `done`.
fn work_callbacks(job: &Job) -> Result<Done, String> {
    JOBS_LEFT.store(job.n, Relaxed);
    JOBS_DONE.store(0, Relaxed);
    let lp = Loop::new().map_err(err)?;
    let i0 = loop_iterations(&lp);
    let m0 = Mark::now();
    if job.n > 0 {
        queue_next(&lp.handle());
    }
    lp.run(RunMode::Default).map_err(err)?;
    let iterations = loop_iterations(&lp) - i0;
    Ok(Mark::now().done_since(m0, JOBS_DONE.load(Relaxed), iterations))
}

/// uvio futures: `spawn_blocking(job).await` in a loop.
fn work_futures(job: &Job) -> Result<Done, String> {
    let lp = Loop::new().map_err(err)?;
    let n = job.n;
    let i0 = loop_iterations(&lp);
    let m0 = Mark::now();
    lp.block_on(async {
        for _ in 0..n {
            uvio::spawn_blocking(job_work).await?;
        }
        Ok::<(), uvio::Error>(())
    })
    .map_err(err)?
    .map_err(err)?;
    Ok(Mark::now().done_since(m0, n, loop_iterations(&lp) - i0))
}

/// tokio: `tokio::task::spawn_blocking(job).await` in a loop on a current-thread runtime.
fn work_tokio(job: &Job) -> Result<Done, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(err)?;
    let n = job.n;
    let m0 = Mark::now();
    rt.block_on(async {
        for _ in 0..n {
            tokio::task::spawn_blocking(job_work).await.map_err(err)?;
        }
        Ok::<(), String>(())
    })?;
    Ok(Mark::now().done_since(m0, n, 0))
}
