//! uvio::fs reads' inline fast path (`preadv2(RWF_NOWAIT)`) against the threadpool path:
//! the same bytes cached and evicted, partial cache, EOF, a racing truncate, files that
//! refuse the flag (FIFO, pipe, /proc), O_DIRECT, the switches, drops in flight, and the
//! access hints.
//!
//! Which path a read took is observed without timing: with every threadpool thread held
//! at a barrier, a read the page cache served is ready on its first poll, and one that
//! needs the threadpool is not.

#![cfg(target_os = "linux")]

mod common;

use std::cell::RefCell;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Barrier};

use futures::AsyncReadExt;
use uvio::fs::{self, Advice, File, OpenOptions};
use uvio::{Loop, RunMode};

/// The switch is process-wide and the threadpool is shared: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    fs::set_read_nowait(true);
    g
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A directory on a disk file system (the target dir), where eviction means something
/// (on tmpfs pages are always resident).
fn tmp() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// A file of `len` pattern bytes, flushed to disk (so its pages are clean and can be
/// evicted).
fn pattern_file(dir: &Path, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
    let p = dir.join(name);
    let data = common::pattern(7, len);
    std::fs::write(&p, &data).unwrap();
    std::fs::File::open(&p).unwrap().sync_all().unwrap();
    (p, data)
}

/// Drops the file's clean pages from the page cache, with uvio's own hint.
fn evict(p: &Path) {
    let f = fs::sync::open(p, OpenOptions::new().read(true)).unwrap();
    fs::sync::advise(&f, Advice::DontNeed, 0, 0).unwrap();
}

/// Resident pages of `p` and its page count (`mincore` over a mapping).
fn resident(p: &Path) -> (usize, usize) {
    let f = std::fs::File::open(p).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    let page = 4096;
    let pages = len.div_ceil(page);
    if len == 0 {
        return (0, 0);
    }
    use std::os::fd::AsRawFd;
    // SAFETY: a private read-only mapping of an open file; unmapped below, never read.
    let m = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(m, libc::MAP_FAILED);
    let mut v = vec![0u8; pages];
    // SAFETY: `m` maps `len` bytes; `v` has one byte per page.
    let r = unsafe { libc::mincore(m, len, v.as_mut_ptr()) };
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(m, len) };
    assert_eq!(r, 0);
    (v.iter().filter(|b| *b & 1 == 1).count(), pages)
}

fn pool_size() -> usize {
    std::env::var("UV_THREADPOOL_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// Holds every threadpool thread at a barrier until released.
struct PoolGate {
    gate: Arc<Barrier>,
    jobs: Vec<uvio::SpawnBlocking<()>>,
}

impl PoolGate {
    fn close() -> PoolGate {
        let n = pool_size();
        let gate = Arc::new(Barrier::new(n + 1));
        let jobs = (0..n)
            .map(|_| {
                let g = gate.clone();
                uvio::spawn_blocking(move || {
                    g.wait();
                })
            })
            .collect();
        PoolGate { gate, jobs }
    }

    async fn open(self) {
        self.gate.wait();
        for j in self.jobs {
            j.await.unwrap();
        }
    }
}

/// Polls `fut` once: its output if ready.
async fn first_poll<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    futures::future::poll_immediate(fut).await
}

/// Reads all of `f` in `chunk`-byte `read_at`s.
async fn read_all(f: &File, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let (r, buf) = f.read_at(Vec::with_capacity(chunk), out.len() as u64).await;
        if r.unwrap() == 0 {
            return out;
        }
        out.extend_from_slice(&buf);
    }
}

#[test]
fn cached_and_evicted_reads_return_the_same_bytes() {
    let _g = serial();
    let d = tmp();
    let (p, data) = pattern_file(d.path(), "f", 1 << 20);
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let f = File::open(&p).await.unwrap();
        // Cached (just written): every chunk size, vectored too, bytes identical.
        for chunk in [4096, 65536, 1 << 20, 3 << 20] {
            assert_eq!(read_all(&f, chunk).await, data, "cached, chunk {chunk}");
        }
        for (off, byte) in data.iter().enumerate().take(common::scale(2000)) {
            let (n, buf) = f.read_at(Vec::with_capacity(1), off as u64).await;
            assert_eq!((n.unwrap(), buf[0]), (1, *byte));
        }
        let bufs = vec![Vec::with_capacity(100), Vec::with_capacity(5000)];
        let (n, bufs) = fs::read_vectored_at(&f, bufs, 10).await;
        assert_eq!(n.unwrap(), 5100);
        assert_eq!(bufs.concat(), &data[10..5110]);
        // With the threadpool held, a cached read is ready on its first poll.
        let gate = PoolGate::close();
        let mut fut = f.read_at(Vec::with_capacity(4096), 8192);
        let (n, buf) = first_poll(&mut fut)
            .await
            .expect("a cached read is served inline");
        assert_eq!(n.unwrap(), 4096);
        assert_eq!(buf, &data[8192..12288]);
        // Evicted: the read needs the threadpool (when the pages really left).
        evict(&p);
        let gone = resident(&p).0 == 0;
        let mut fut = f.read_at(Vec::with_capacity(65536), 0);
        let early = first_poll(&mut fut).await;
        if gone {
            assert!(early.is_none(), "an evicted read waits for the threadpool");
        }
        gate.open().await;
        let (n, buf) = match early {
            Some(r) => r,
            None => fut.await,
        };
        assert_eq!(n.unwrap(), 65536);
        assert_eq!(buf, &data[..65536]);
        // The whole file again, evicted first, in 64 KiB chunks and by AsyncRead.
        evict(&p);
        assert_eq!(read_all(&f, 65536).await, data, "evicted");
        evict(&p);
        let mut all = Vec::new();
        File::open(&p)
            .await
            .unwrap()
            .read_to_end(&mut all)
            .await
            .unwrap();
        assert_eq!(all, data, "evicted, AsyncRead");
    })
    .unwrap();
}

#[test]
fn partly_cached_reads_serve_the_prefix_and_queue_the_rest() {
    let _g = serial();
    let d = tmp();
    let (p, data) = pattern_file(d.path(), "f", 4 << 20);
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let f = File::open(&p).await.unwrap();
        // No readahead, so reading the first half caches about that half.
        f.advise(Advice::Random, 0, 0).await.unwrap();
        evict(&p);
        let half = 2 << 20;
        let (n, _) = f.read_at(Vec::with_capacity(half), 0).await;
        assert_eq!(n.unwrap(), half);
        let (cached, pages) = resident(&p);
        let gate = PoolGate::close();
        let mut fut = f.read_at(Vec::with_capacity(4 << 20), 0);
        let early = first_poll(&mut fut).await;
        if cached < pages {
            assert!(
                early.is_none(),
                "the uncached half waits for the threadpool"
            );
        }
        gate.open().await;
        let (n, buf) = match early {
            Some(r) => r,
            None => fut.await,
        };
        assert_eq!(n.unwrap(), 4 << 20);
        assert_eq!(buf, data);
        // Vectored over the same boundary.
        evict(&p);
        let (n, _) = f.read_at(Vec::with_capacity(half), 0).await;
        assert_eq!(n.unwrap(), half);
        let bufs = vec![Vec::with_capacity(half - 10), Vec::with_capacity(half + 10)];
        let (n, bufs) = fs::read_vectored_at(&f, bufs, 0).await;
        assert_eq!(n.unwrap(), 4 << 20);
        assert_eq!(bufs.concat(), data);
    })
    .unwrap();
}

#[test]
fn end_of_file_and_empty_buffers() {
    let _g = serial();
    let d = tmp();
    let (p, data) = pattern_file(d.path(), "f", 10_000);
    let lp = Loop::new().unwrap();
    for fast in [true, false] {
        lp.block_on(async {
            let f = OpenOptions::new()
                .read(true)
                .read_nowait(fast)
                .open(&p)
                .await
                .unwrap();
            let gate = fast.then(PoolGate::close);
            for (off, cap, want) in [
                (9_990, 4096, 10),
                (10_000, 4096, 0),
                (50_000, 10, 0),
                (0, 0, 0),
            ] {
                let mut fut = f.read_at(Vec::with_capacity(cap), off);
                let early = first_poll(&mut fut).await;
                if fast {
                    assert!(early.is_some(), "cached read at {off} served inline");
                }
                let (n, buf) = match early {
                    Some(r) => r,
                    None => fut.await,
                };
                assert_eq!(n.unwrap(), want, "at {off}, fast path {fast}");
                assert_eq!(buf, &data[(off as usize).min(10_000)..][..want]);
            }
            if let Some(g) = gate {
                g.open().await;
            }
            // Past i64::MAX: refused the same way on both paths.
            let (r, _) = f.read_at(Vec::with_capacity(4), u64::MAX).await;
            assert_eq!(r.unwrap_err().name(), "EINVAL");
        })
        .unwrap();
    }
}

#[test]
fn reads_racing_a_truncate_see_only_file_bytes() {
    let _g = serial();
    let d = tmp();
    let len = 1 << 20;
    let (p, data) = pattern_file(d.path(), "f", len);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (p, data, stop) = (p.clone(), data.clone(), stop.clone());
        std::thread::spawn(move || {
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let cut = (i * 7919) % len;
                f.set_len(cut as u64).unwrap();
                f.write_all_at(&data[cut..], cut as u64).unwrap();
                i += 1;
            }
        })
    };
    let lp = Loop::new().unwrap();
    let rounds = common::scale(300);
    lp.block_on(async {
        let f = File::open(&p).await.unwrap();
        for i in 0..rounds {
            let off = (i * 4099) % len;
            let (n, buf) = f.read_at(Vec::with_capacity(65536), off as u64).await;
            let n = n.unwrap();
            assert!(n <= 65536);
            assert_eq!(buf.len(), n);
            // The file's bytes at the time of the read: the pattern, or zeros where the
            // rewrite has extended the file but not yet copied its data (Linux lets a read
            // racing an extending write see those, with either read path: the test fails
            // the same way with UVIO_FS_NOWAIT=0 if zeros are refused). Never bytes of
            // another offset.
            if let Some(i) = (0..n).find(|&i| buf[i] != data[off + i] && buf[i] != 0) {
                panic!(
                    "read at {off}: byte {i} is {}, the file has {} there",
                    buf[i],
                    data[off + i]
                );
            }
        }
    })
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

/// Reads `p` with and without the fast path: the same outcome.
fn both_ways(lp: &Loop, p: &Path, write: bool) -> [(Result<usize, String>, Vec<u8>); 2] {
    [true, false].map(|fast| {
        lp.block_on(async {
            let f = OpenOptions::new()
                .read(true)
                .write(write)
                .read_nowait(fast)
                .open(p)
                .await
                .unwrap();
            let (r, buf) = f.read_at(Vec::with_capacity(4096), 0).await;
            let again = f.read_at(Vec::with_capacity(4096), 0).await;
            assert_eq!(again.0.is_ok(), r.is_ok());
            (r.map_err(|e| e.name().to_string()), buf)
        })
        .unwrap()
    })
}

#[test]
fn files_that_refuse_the_flag_read_as_before() {
    let _g = serial();
    let d = tmp();
    let lp = Loop::new().unwrap();
    // A FIFO (opened read-write so the open does not wait for a writer): ESPIPE both ways.
    let fifo = d.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let [a, b] = both_ways(&lp, &fifo, true);
    assert_eq!(a.0, Err("ESPIPE".to_string()));
    assert_eq!(a, b);
    // A pipe, reopened through /proc: the same.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let via = PathBuf::from(format!("/proc/self/fd/{}", fds[0]));
    let [a, b] = both_ways(&lp, &via, false);
    assert_eq!(a.0, Err("ESPIPE".to_string()));
    assert_eq!(a, b);
    for fd in fds {
        // SAFETY: the two pipe descriptors made above.
        unsafe { libc::close(fd) };
    }
    // /proc files (no RWF_NOWAIT support): the same bytes both ways.
    let [a, b] = both_ways(&lp, Path::new("/proc/version"), false);
    assert!(a.0.clone().unwrap() > 0);
    assert_eq!(a, b);
    let [a, _] = both_ways(&lp, Path::new("/proc/self/cmdline"), false);
    assert!(a.0.unwrap() > 0);
    // A directory: EISDIR both ways.
    let [a, b] = both_ways(&lp, d.path(), false);
    assert_eq!(a.0, Err("EISDIR".to_string()));
    assert_eq!(a, b);
    // A write-only file: EBADF both ways.
    let (p, _) = pattern_file(d.path(), "w", 100);
    let res = [true, false].map(|fast| {
        lp.block_on(async {
            let f = OpenOptions::new()
                .write(true)
                .read_nowait(fast)
                .open(&p)
                .await
                .unwrap();
            f.read_at(Vec::with_capacity(10), 0)
                .await
                .0
                .unwrap_err()
                .name()
        })
        .unwrap()
    });
    assert_eq!(res, ["EBADF", "EBADF"]);
}

#[test]
fn switches_and_o_direct_send_reads_to_the_threadpool() {
    let _g = serial();
    let d = tmp();
    let (p, data) = pattern_file(d.path(), "f", 65536);
    let lp = Loop::new().unwrap();
    // Each way of turning it off: the cached read waits for the held threadpool.
    for way in ["options", "file", "process", "O_DIRECT"] {
        lp.block_on(async {
            let mut o = OpenOptions::new();
            o.read(true);
            match way {
                "options" => {
                    o.read_nowait(false);
                }
                "O_DIRECT" => {
                    o.custom_flags(libc::O_DIRECT);
                }
                _ => {}
            }
            let Ok(f) = o.open(&p).await else {
                assert_eq!(way, "O_DIRECT", "only O_DIRECT may be refused by the fs");
                return;
            };
            match way {
                "file" => f.set_read_nowait(false),
                "process" => fs::set_read_nowait(false),
                _ => {}
            }
            // Warm the cache through the threadpool path first.
            let _ = f.read_at(Vec::with_capacity(4096), 0).await;
            let gate = PoolGate::close();
            let mut fut = f.read_at(Vec::with_capacity(4096), 0);
            assert!(
                first_poll(&mut fut).await.is_none(),
                "{way}: not served inline"
            );
            gate.open().await;
            let (r, buf) = fut.await;
            if way != "O_DIRECT" {
                assert_eq!(r.unwrap(), 4096);
                assert_eq!(buf, &data[..4096]);
            }
            fs::set_read_nowait(true);
            // Back on (not for O_DIRECT, whose flags are checked).
            f.set_read_nowait(true);
            let gate = PoolGate::close();
            let mut fut = f.read_at(Vec::with_capacity(4096), 0);
            let early = first_poll(&mut fut).await;
            assert_eq!(early.is_some(), way != "O_DIRECT", "{way}: back on");
            gate.open().await;
            if early.is_none() {
                let _ = fut.await;
            }
        })
        .unwrap();
    }
}

#[test]
fn a_read_never_overtakes_a_write_in_flight() {
    let _g = serial();
    let d = tmp();
    let (p, _) = pattern_file(d.path(), "f", 4096);
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .await
            .unwrap();
        let gate = PoolGate::close();
        let mut w = f.write_at(b"new!".to_vec(), 0);
        assert!(first_poll(&mut w).await.is_none());
        // The read waits behind the queued write instead of reading the old bytes inline.
        let mut r = f.read_at(Vec::with_capacity(4), 0);
        assert!(first_poll(&mut r).await.is_none());
        gate.open().await;
        w.await.0.unwrap();
        let (n, buf) = r.await;
        assert_eq!(n.unwrap(), 4);
        // libuv's threadpool runs the two in parallel: either order is what it gives.
        assert!(
            buf == b"new!" || buf[..] == common::pattern(7, 4)[..],
            "{buf:?}"
        );
        // Once the write completed, reads are inline again and see it.
        let gate = PoolGate::close();
        let mut r = f.read_at(Vec::with_capacity(4), 0);
        let (n, buf) = first_poll(&mut r).await.expect("inline again");
        assert_eq!((n.unwrap(), &buf[..]), (4, &b"new!"[..]));
        gate.open().await;
    })
    .unwrap();
}

#[test]
fn dropping_reads_in_flight_on_both_paths_leaks_nothing() {
    let _g = serial();
    let d = tmp();
    let (p, data) = pattern_file(d.path(), "f", 1 << 20);
    let lp = Loop::new().unwrap();
    lp.block_on(fs::metadata(".")).unwrap().unwrap();
    let fds = open_fds();
    let n = common::scale(50);
    lp.block_on(async {
        let f = File::open(&p).await.unwrap();
        for i in 0..n {
            // Cached: ready at once; evicted: in the threadpool; partly: prefix + pool.
            match i % 3 {
                0 => {}
                1 => evict(&p),
                _ => {
                    evict(&p);
                    let _ = f.read_at(Vec::with_capacity(4096), 0).await;
                }
            }
            let mut fut = f.read_at(Vec::with_capacity(1 << 20), 0);
            let _ = first_poll(&mut fut).await;
            drop(fut);
            let mut fut = fs::read_vectored_at(
                &f,
                vec![Vec::with_capacity(1 << 19), Vec::with_capacity(1 << 19)],
                0,
            );
            let _ = first_poll(&mut fut).await;
            drop(fut);
        }
        assert_eq!(read_all(&f, 1 << 16).await, data);
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(open_fds(), fds);
}

#[test]
fn an_inline_read_calls_back_from_the_loop() {
    let _g = serial();
    let d = tmp();
    let (p, data) = pattern_file(d.path(), "f", 8192);
    let lp = Loop::new().unwrap();
    let f = fs::sync::open(&p, OpenOptions::new().read(true)).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let held = got.borrow_mut();
    let g = got.clone();
    let req = fs::cb::read_at(&lp, &f, Vec::with_capacity(8192), 0, move |(r, buf)| {
        assert_eq!(r.unwrap(), 8192);
        g.borrow_mut().push(buf);
    });
    assert!(!req.is_done());
    drop(held);
    assert!(got.borrow().is_empty(), "not on the caller's stack");
    lp.run(RunMode::Default).unwrap();
    assert!(req.is_done());
    assert_eq!(got.borrow()[0], data);
}

#[test]
fn access_hints_in_three_forms() {
    let _g = serial();
    let d = tmp();
    let (p, _) = pattern_file(d.path(), "f", 1 << 20);
    let lp = Loop::new().unwrap();
    let f = fs::sync::open(&p, OpenOptions::new().read(true)).unwrap();
    for a in [
        Advice::Normal,
        Advice::Sequential,
        Advice::Random,
        Advice::WillNeed,
        Advice::DontNeed,
        Advice::NoReuse,
    ] {
        fs::sync::advise(&f, a, 0, 0).unwrap();
        lp.block_on(f.advise(a, 4096, 8192)).unwrap().unwrap();
    }
    // DontNeed really evicts; readahead brings the pages back.
    fs::sync::advise(&f, Advice::DontNeed, 0, 0).unwrap();
    if resident(&p).0 == 0 {
        lp.block_on(f.readahead(0, 1 << 20)).unwrap().unwrap();
        let give_up =
            std::time::Instant::now() + common::patience(std::time::Duration::from_secs(10));
        while resident(&p).0 == 0 && std::time::Instant::now() < give_up {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(resident(&p).0 > 0, "readahead cached pages");
    }
    // Typed errors.
    let e = lp
        .block_on(fs::advise(&f, Advice::Normal, u64::MAX, 0))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.name(), "EINVAL");
    assert!(e.to_string().contains("fadvise"), "{e}");
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let pipe = fs::sync::open(
        format!("/proc/self/fd/{}", fds[0]),
        OpenOptions::new().read(true),
    )
    .unwrap();
    assert_eq!(
        fs::sync::advise(&pipe, Advice::Normal, 0, 0)
            .unwrap_err()
            .name(),
        "ESPIPE"
    );
    assert_eq!(
        fs::sync::readahead(&pipe, 0, 10).unwrap_err().name(),
        "EINVAL"
    );
    for fd in fds {
        // SAFETY: the pipe made above.
        unsafe { libc::close(fd) };
    }
    // Callback forms: from the loop, with the same results.
    let log = Rc::new(RefCell::new(Vec::new()));
    let held = log.borrow_mut();
    let (l1, l2) = (log.clone(), log.clone());
    fs::cb::advise(&lp, &f, Advice::WillNeed, 0, 0, move |r| {
        l1.borrow_mut().push(r.is_ok())
    });
    fs::cb::readahead(&lp, &pipe, 0, 1, move |r| l2.borrow_mut().push(r.is_ok()));
    drop(held);
    assert!(log.borrow().is_empty());
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*log.borrow(), [true, false]);
}
