//! `fs_stat` and `fs_read` with uvio (callbacks and futures) and with tokio.
//!
//! Every variant runs `job.arg` chains of requests: a chain starts its next request when
//! the previous one completed (a callback restarting it, or a task awaiting in a loop).
//! `fs_stat` shares `job.param` stats among its chains; `fs_read` is one chain reading the
//! file front to back in `job.arg`-byte chunks into one reused buffer.

use std::cell::Cell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;

use uvio::{Loop, LoopHandle, RunMode};

use crate::c::Ticks;
use crate::clock::Mark;
use crate::{Job, err};

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

/// Awaits every task (a join handle of a chain) and adds up what they counted.
async fn total<J, E>(tasks: Vec<J>) -> Result<u64, String>
where
    J: Future<Output = Result<Result<u64, String>, E>>,
    E: std::fmt::Display,
{
    let mut done = 0;
    for t in tasks {
        done += t.await.map_err(err)??;
    }
    Ok(done)
}

/// Runs `job.arg` chains, chain `i` made by `make(i, its share)`, and counts what they did.
fn chains<F: Future<Output = Result<u64, String>>>(
    job: &Job,
    run: impl FnOnce(Vec<F>) -> Result<u64, String>,
    make: impl Fn(u64) -> F,
) -> Result<Ticks, String> {
    let futs = (0..job.arg)
        .map(|i| make(share(job.param, job.arg, i)))
        .collect();
    let m0 = Mark::now();
    let done = run(futs)?;
    Ok(Mark::now().ticks_since(m0, done, 0))
}

/// uvio futures: `job.arg` tasks, each awaiting `uvio::fs::metadata` in a loop.
pub fn stat_async(job: &Job) -> Result<Ticks, String> {
    let lp = Loop::new().map_err(err)?;
    let path: Rc<Path> = job.path.into();
    chains(
        job,
        |futs| {
            lp.block_on(async { total(futs.into_iter().map(uvio::spawn_local).collect()).await })
                .map_err(err)?
        },
        |count| {
            let path = Rc::clone(&path);
            chain(count, move || uvio::fs::metadata(&*path))
        },
    )
}

/// tokio on a current-thread runtime: `job.arg` tasks, each awaiting `tokio::fs::metadata`
/// in a loop.
pub fn stat_tokio(job: &Job) -> Result<Ticks, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(err)?;
    let path = PathBuf::from(job.path);
    chains(
        job,
        |futs| rt.block_on(async { total(futs.into_iter().map(tokio::spawn).collect()).await }),
        |count| {
            let path = path.clone();
            chain(count, move || tokio::fs::metadata(path.clone()))
        },
    )
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

/// Runs `k` callback chains: `start` starts one chain's first request.
fn cb_chains(job: &Job, k: u64, start: impl Fn(Rc<Chains>)) -> Result<Ticks, String> {
    let lp = Loop::new().map_err(err)?;
    let c = Rc::new(Chains {
        lp: lp.handle(),
        path: job.path.into(),
        left: Cell::new(job.param),
        done: Cell::new(0),
        failed: Cell::new(None),
    });
    let m0 = Mark::now();
    for _ in 0..k {
        start(Rc::clone(&c));
    }
    lp.run(RunMode::Default).map_err(err)?;
    let t = Mark::now().ticks_since(m0, c.done.get(), 0);
    match c.failed.take() {
        Some(e) => Err(err(e)),
        None => Ok(t),
    }
}

/// uvio callbacks: `job.arg` stats in flight, each restarted from its callback.
pub fn stat_callbacks(job: &Job) -> Result<Ticks, String> {
    cb_chains(job, job.arg, stat_next)
}

/// Reads the next chunk of a callback chain at `offset` into `buf`.
fn read_next(c: Rc<Chains>, file: Rc<uvio::fs::File>, mut buf: Vec<u8>, offset: u64) {
    buf.clear();
    let lp = c.lp.clone();
    uvio::fs::cb::read_at(
        &lp,
        &Rc::clone(&file),
        buf,
        offset,
        move |(r, buf)| match r {
            Ok(0) => {}
            Ok(n) => {
                c.done.set(c.done.get() + n as u64);
                read_next(c, file, buf, offset + n as u64);
            }
            Err(e) => c.failed.set(Some(e)),
        },
    );
}

fn open(path: &Path) -> Result<uvio::fs::File, String> {
    uvio::fs::sync::open(path, uvio::fs::OpenOptions::new().read(true)).map_err(err)
}

/// uvio callbacks: `uvio::fs::cb::read_at` restarted from its callback, one buffer.
pub fn read_callbacks(job: &Job) -> Result<Ticks, String> {
    let file = Rc::new(open(job.path)?);
    let chunk = job.arg as usize;
    cb_chains(job, 1, |c| {
        read_next(c, Rc::clone(&file), Vec::with_capacity(chunk), 0)
    })
}

/// uvio futures: `File::read_at` awaited in a loop, the owned buffer handed back and reused.
pub fn read_async(job: &Job) -> Result<Ticks, String> {
    let lp = Loop::new().map_err(err)?;
    let file = open(job.path)?;
    let m0 = Mark::now();
    let total = lp
        .block_on(async {
            let (mut buf, mut offset) = (Vec::with_capacity(job.arg as usize), 0u64);
            loop {
                buf.clear();
                let (r, b) = file.read_at(buf, offset).await;
                buf = b;
                match r? {
                    0 => return Ok::<u64, uvio::Error>(offset),
                    n => offset += n as u64,
                }
            }
        })
        .map_err(err)?
        .map_err(err)?;
    Ok(Mark::now().ticks_since(m0, total, 0))
}

/// tokio: `tokio::fs::File` read in a loop into one buffer (`AsyncRead::poll_read`; the
/// `io-util` helpers are not needed for that).
pub fn read_tokio(job: &Job) -> Result<Ticks, String> {
    use tokio::io::{AsyncRead, ReadBuf};
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(err)?;
    let m0 = Mark::now();
    let total = rt
        .block_on(async {
            let mut file = tokio::fs::File::open(job.path).await?;
            let mut buf = vec![0u8; job.arg as usize];
            let mut total = 0u64;
            loop {
                let mut rb = ReadBuf::new(&mut buf);
                std::future::poll_fn(|cx| Pin::new(&mut file).poll_read(cx, &mut rb)).await?;
                match rb.filled().len() {
                    0 => return Ok::<u64, std::io::Error>(total),
                    n => total += n as u64,
                }
            }
        })
        .map_err(err)?;
    Ok(Mark::now().ticks_since(m0, total, 0))
}
