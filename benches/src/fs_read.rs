//! `fs_read_nowait`: file reads with and without uvio's inline `preadv2(RWF_NOWAIT)` fast
//! path, against C libuv (threadpool) and tokio's `File`, on a page-cached and an evicted
//! file, 4 KiB and 64 KiB reads, 1 and 32 in flight.
//!
//! ```text
//! cargo run --release -p uvio-bench -- fs_read_nowait [--quick] [--runs N] [--dir DIR]
//! ```
//!
//! Every variant reads the whole file with `k` chains, chain `i` reading the `i`-th slice
//! front to back (one request in flight per chain, restarted when it completes, one buffer
//! per chain). "Evicted" drops the file's pages (`POSIX_FADV_DONTNEED`) before each run, so
//! the first read of each readahead window goes to the device. The variants run in this one
//! process, one after the other, run by run interleaved; CPU is the process's (loop thread,
//! threadpool and runtime threads together).

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;

use crate::clock::Mark;
use crate::{Done, err};

unsafe extern "C" {
    fn uvb_fs_read_par(
        path: *const c_char,
        size: u64,
        chunk: u64,
        inflight: u64,
        out: *mut Done,
    ) -> c_int;
}

/// One measured read of the whole file.
struct Case {
    size: u64,
    chunk: u64,
    k: u64,
}

impl Case {
    /// Chain `i`'s slice.
    fn slice(&self, i: u64) -> (u64, u64) {
        let s = self.size / self.k;
        (
            i * s,
            if i + 1 == self.k {
                self.size
            } else {
                (i + 1) * s
            },
        )
    }
}

type RunFn = fn(&Path, &Case) -> Result<Done, String>;

const VARIANTS: &[(&str, RunFn)] = &[
    ("C libuv (threadpool)", c_libuv),
    ("uvio, fast path", |p, c| uvio_futures(p, c, true)),
    ("uvio, no fast path", |p, c| uvio_futures(p, c, false)),
    ("uvio callbacks, fast path", uvio_callbacks),
    ("tokio File", tokio_file),
];

fn c_libuv(path: &Path, c: &Case) -> Result<Done, String> {
    let p = CString::new(path.as_os_str().as_bytes()).map_err(err)?;
    let mut out = Done::default();
    // SAFETY: `p` is a NUL-terminated string that outlives the call; `out` is writable.
    let ret = unsafe { uvb_fs_read_par(p.as_ptr(), c.size, c.chunk, c.k, &mut out) };
    if ret != 0 {
        return Err(format!("C fs_read_par: libuv error {ret}"));
    }
    Ok(out)
}

fn uvio_futures(path: &Path, c: &Case, fast: bool) -> Result<Done, String> {
    let lp = uvio::Loop::new().map_err(err)?;
    let file = uvio::fs::sync::open(
        path,
        uvio::fs::OpenOptions::new().read(true).read_nowait(fast),
    )
    .map_err(err)?;
    let file = Rc::new(file);
    let chunk = c.chunk as usize;
    let m0 = Mark::now();
    let total = lp
        .block_on(async {
            let tasks: Vec<_> = (0..c.k)
                .map(|i| {
                    let (mut off, end) = c.slice(i);
                    let file = Rc::clone(&file);
                    uvio::spawn_local(async move {
                        let mut buf = Vec::with_capacity(chunk);
                        let mut n = 0u64;
                        while off < end {
                            buf.clear();
                            let (r, b) = file.read_at(buf, off).await;
                            buf = b;
                            match r? {
                                0 => break,
                                k => {
                                    off += k as u64;
                                    n += k as u64;
                                }
                            }
                        }
                        Ok::<u64, uvio::Error>(n)
                    })
                })
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.map_err(err)?.map_err(err)?;
            }
            Ok::<u64, String>(total)
        })
        .map_err(err)??;
    Ok(Mark::now().done_since(m0, total, 0))
}

/// One callback chain: reads its slice, restarting from its callback.
fn cb_next(
    lp: uvio::LoopHandle,
    file: Rc<uvio::fs::File>,
    mut buf: Vec<u8>,
    off: u64,
    end: u64,
    done: Rc<Cell<u64>>,
) {
    buf.clear();
    let l2 = lp.clone();
    uvio::fs::cb::read_at(&lp, &Rc::clone(&file), buf, off, move |(r, buf)| {
        if let Ok(n @ 1..) = r {
            done.set(done.get() + n as u64);
            let off = off + n as u64;
            if off < end {
                cb_next(l2, file, buf, off, end, done);
            }
        }
    });
}

fn uvio_callbacks(path: &Path, c: &Case) -> Result<Done, String> {
    let lp = uvio::Loop::new().map_err(err)?;
    let file =
        Rc::new(uvio::fs::sync::open(path, uvio::fs::OpenOptions::new().read(true)).map_err(err)?);
    let done = Rc::new(Cell::new(0));
    let m0 = Mark::now();
    for i in 0..c.k {
        let (off, end) = c.slice(i);
        cb_next(
            lp.handle(),
            Rc::clone(&file),
            Vec::with_capacity(c.chunk as usize),
            off,
            end,
            Rc::clone(&done),
        );
    }
    lp.run(uvio::RunMode::Default).map_err(err)?;
    Ok(Mark::now().done_since(m0, done.get(), 0))
}

/// tokio: one `tokio::fs::File` per chain (a tokio `File` has one operation in flight),
/// seeked to its slice once, then read in `chunk`-byte `poll_read`s.
fn tokio_file(path: &Path, c: &Case) -> Result<Done, String> {
    use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(err)?;
    let chunk = c.chunk as usize;
    let m0 = Mark::now();
    let total = rt
        .block_on(async {
            let mut tasks = Vec::new();
            for i in 0..c.k {
                let (off, end) = c.slice(i);
                let mut file = tokio::fs::File::open(path).await?;
                file.set_max_buf_size(chunk);
                tasks.push(tokio::spawn(async move {
                    Pin::new(&mut file).start_seek(std::io::SeekFrom::Start(off))?;
                    std::future::poll_fn(|cx| Pin::new(&mut file).poll_complete(cx)).await?;
                    let mut buf = vec![0u8; chunk];
                    let (mut at, mut n) = (off, 0u64);
                    while at < end {
                        let mut rb = ReadBuf::new(&mut buf);
                        std::future::poll_fn(|cx| Pin::new(&mut file).poll_read(cx, &mut rb))
                            .await?;
                        match rb.filled().len() {
                            0 => break,
                            k => {
                                at += k as u64;
                                n += k as u64;
                            }
                        }
                    }
                    Ok::<u64, std::io::Error>(n)
                }));
            }
            let mut total = 0;
            for t in tasks {
                total += t.await??;
            }
            Ok::<u64, std::io::Error>(total)
        })
        .map_err(err)?;
    Ok(Mark::now().done_since(m0, total, 0))
}

fn evict(path: &Path) -> Result<(), String> {
    let f = std::fs::File::open(path).map_err(err)?;
    // SAFETY: an open descriptor; no memory is passed.
    match unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) } {
        0 => Ok(()),
        e => Err(format!("posix_fadvise: errno {e}")),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the `fs_read_nowait` table; `args` are what followed the workload's name.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut runs = 0;
    let mut dir = std::env::temp_dir();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--runs" => runs = it.next().and_then(|n| n.parse().ok()).ok_or("bad --runs")?,
            "--dir" => dir = it.next().ok_or("bad --dir")?.into(),
            _ => return Err(format!("fs_read_nowait: unknown argument {a:?}")),
        }
    }
    if runs == 0 {
        runs = if quick { 1 } else { 3 };
    }
    let size: u64 = if quick { 8 << 20 } else { 64 << 20 };
    let tmp = tempfile::tempdir_in(&dir).map_err(err)?;
    let path = tmp.path().join("fs_read_nowait");
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).map_err(err)?;
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(err)?;
    println!(
        "fs_read_nowait: a {} MiB file in {}, median of {runs} run(s); fast path {}",
        size >> 20,
        dir.display(),
        if uvio::fs::read_nowait() {
            "available"
        } else {
            "off"
        }
    );
    for evicted in [false, true] {
        for chunk in [4096u64, 65536] {
            for k in [1u64, 32] {
                let case = Case { size, chunk, k };
                let mut figs: Vec<Vec<(f64, f64)>> = vec![Vec::new(); VARIANTS.len()];
                for _ in 0..runs {
                    for (i, (_, f)) in VARIANTS.iter().enumerate() {
                        if evicted {
                            evict(&path)?;
                        } else {
                            // Warm: every page cached.
                            std::fs::read(&path).map_err(err)?;
                        }
                        let t = f(&path, &case)?;
                        if t.ops != size {
                            return Err(format!("{}: read {} of {size}", VARIANTS[i].0, t.ops));
                        }
                        figs[i].push((t.wall_ns as f64 / 1e9, t.cpu_ns as f64 / 1e9));
                    }
                }
                println!(
                    "\n{} file, {} KiB reads, {k} in flight",
                    if evicted { "evicted" } else { "cached" },
                    chunk >> 10
                );
                println!(
                    "| variant | reads/s | MB/s | CPU ms per MB | vs C: reads/s | vs C: CPU per MB |\n|---|---|---|---|---|---|"
                );
                let mb = size as f64 / 1e6;
                let reads = size as f64 / chunk as f64;
                let (mut base, mut base_cpu) = (0.0, 0.0);
                for (i, (label, _)) in VARIANTS.iter().enumerate() {
                    let wall = median(&mut figs[i].iter().map(|f| f.0).collect::<Vec<_>>());
                    let cpu = median(&mut figs[i].iter().map(|f| f.1).collect::<Vec<_>>());
                    let rate = reads / wall;
                    if i == 0 {
                        (base, base_cpu) = (rate, cpu);
                    }
                    // Ratios: higher is better for both (C's CPU over this variant's).
                    println!(
                        "| {label} | {:.0} | {:.0} | {:.2} | {:.2}x | {:.2}x |",
                        rate,
                        mb / wall,
                        cpu * 1e3 / mb,
                        rate / base,
                        base_cpu / cpu
                    );
                }
            }
        }
    }
    Ok(())
}
