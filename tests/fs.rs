//! uvio::fs: the three forms, the std-shaped layer, File, bad input, cancellation.

mod common;

use std::cell::{Cell, RefCell};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, StreamExt, TryStreamExt};
use uvio::fs::{self, File, OpenOptions};
use uvio::{Loop, RunMode};

/// Tests that count descriptors run one at a time (descriptors are process-wide).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Creates libuv's process-wide descriptors (threadpool, signal pipe) before counting.
fn warm_up() {
    let lp = Loop::new().unwrap();
    lp.block_on(fs::metadata(".")).unwrap().unwrap();
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn counted() -> (
    std::sync::MutexGuard<'static, ()>,
    tempfile::TempDir,
    Loop,
    usize,
) {
    let g = serial();
    warm_up();
    let d = tmp();
    let lp = Loop::new().unwrap();
    let fds = open_fds();
    (g, d, lp, fds)
}

#[test]
fn three_forms_agree() {
    let _g = serial();
    let d = tmp();
    let p = d.path().join("a.txt");
    std::fs::write(&p, b"12345").unwrap();
    let lp = Loop::new().unwrap();
    let fut = lp.block_on(fs::metadata(&p)).unwrap().unwrap();
    let sync = fs::sync::metadata(&p).unwrap();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    fs::cb::metadata(&lp, &p, move |r| *g.borrow_mut() = Some(r));
    lp.run(RunMode::Default).unwrap();
    let cb = got.borrow_mut().take().unwrap().unwrap();
    assert_eq!(fut, sync);
    assert_eq!(cb, sync);
    assert_eq!(sync.len(), 5);
    assert!(sync.is_file() && !sync.is_dir() && !sync.is_symlink());
    assert_eq!(
        sync.ino(),
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&p).unwrap())
    );
    assert!(sync.nlink() >= 1 && sync.blksize() > 0);
}

#[test]
fn std_layer_round_trip() {
    let _g = serial();
    let d = tmp();
    let lp = Loop::new().unwrap();
    let base = d.path().to_path_buf();
    lp.block_on(async move {
        let a = base.join("a.txt");
        fs::write(&a, "hello").await.unwrap();
        assert_eq!(fs::read(&a).await.unwrap(), b"hello");
        assert_eq!(fs::read_to_string(&a).await.unwrap(), "hello");
        let b = base.join("b.txt");
        assert_eq!(fs::copy(&a, &b).await.unwrap(), 5);
        let c = base.join("c.txt");
        fs::rename(&b, &c).await.unwrap();
        assert!(!fs::try_exists(&b).await.unwrap());
        assert!(fs::try_exists(&c).await.unwrap());
        let deep = base.join("x/y/z");
        fs::create_dir_all(&deep).await.unwrap();
        fs::create_dir_all(&deep).await.unwrap();
        fs::write(deep.join("f"), vec![7u8; 100_000]).await.unwrap();
        assert_eq!(fs::read(deep.join("f")).await.unwrap().len(), 100_000);
        fs::symlink(&a, base.join("link")).await.unwrap();
        assert!(
            fs::symlink_metadata(base.join("link"))
                .await
                .unwrap()
                .is_symlink()
        );
        assert_eq!(fs::read_link(base.join("link")).await.unwrap(), a);
        assert_eq!(
            fs::canonicalize(base.join("link")).await.unwrap(),
            std::fs::canonicalize(&a).unwrap()
        );
        fs::hard_link(&a, base.join("hard")).await.unwrap();
        assert_eq!(fs::metadata(&a).await.unwrap().nlink(), 2);
        fs::set_permissions(&c, fs::Permissions::from_mode(0o600))
            .await
            .unwrap();
        assert_eq!(fs::metadata(&c).await.unwrap().permissions().mode(), 0o600);
        let mut names: Vec<_> = fs::read_dir(&base)
            .map_ok(|e| e.file_name())
            .try_collect()
            .await
            .unwrap();
        names.sort();
        assert_eq!(names, ["a.txt", "c.txt", "hard", "link", "x"]);
        fs::remove_dir_all(base.join("x")).await.unwrap();
        assert!(!fs::try_exists(base.join("x")).await.unwrap());
        fs::remove_file(&c).await.unwrap();
        fs::create_dir(base.join("empty")).await.unwrap();
        fs::remove_dir(base.join("empty")).await.unwrap();
    })
    .unwrap();
}

#[test]
fn read_dir_streams_a_big_directory() {
    let _g = serial();
    let d = tmp();
    let n = common::scale(1000);
    for i in 0..n {
        std::fs::write(d.path().join(format!("f{i}")), b"").unwrap();
    }
    std::fs::create_dir(d.path().join("sub")).unwrap();
    let lp = Loop::new().unwrap();
    let path = d.path().to_path_buf();
    let (files, dirs) = lp
        .block_on(async move {
            let mut s = fs::read_dir(&path);
            let (mut files, mut dirs) = (0, 0);
            while let Some(e) = s.next().await {
                let e = e.unwrap();
                if e.file_type().is_dir() {
                    dirs += 1;
                } else {
                    files += 1;
                }
            }
            (files, dirs)
        })
        .unwrap();
    assert_eq!((files, dirs), (n, 1));
    let all = fs::sync::scandir(d.path()).unwrap();
    assert_eq!(all.len(), n + 1);
}

#[test]
fn file_positioned_and_cursor_io() {
    let _g = serial();
    let d = tmp();
    let p = d.path().join("f");
    let lp = Loop::new().unwrap();
    lp.block_on(async move {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&p)
            .await
            .unwrap();
        let (r, buf) = f.write_at(b"hello world".to_vec(), 0).await;
        assert_eq!(r.unwrap(), 11);
        assert_eq!(buf, b"hello world");
        let (r, buf) = f.read_at(Vec::with_capacity(5), 6).await;
        assert_eq!(r.unwrap(), 5);
        assert_eq!(buf, b"world");
        // At EOF: 0, not an error.
        let (r, buf) = f.read_at(Vec::with_capacity(5), 11).await;
        assert_eq!(r.unwrap(), 0);
        assert!(buf.is_empty());
        // Vectored.
        let (r, bufs) =
            fs::read_vectored_at(&f, vec![Vec::with_capacity(5), Vec::with_capacity(6)], 0).await;
        assert_eq!(r.unwrap(), 11);
        assert_eq!(bufs[0], b"hello");
        assert_eq!(bufs[1], b" world");
        let (r, _) = fs::write_vectored_at(&f, vec![&b"ab"[..], &b"cd"[..]], 11).await;
        assert_eq!(r.unwrap(), 4);
        assert_eq!(f.metadata().await.unwrap().len(), 15);
        f.set_len(5).await.unwrap();
        f.sync_all().await.unwrap();
        f.sync_data().await.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), 5);
        f.close().await.unwrap();

        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .await
            .unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "hello");
        f.write_all(b" there").await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(f.seek(std::io::SeekFrom::End(-5)).await.unwrap(), 6);
        let mut tail = String::new();
        f.read_to_string(&mut tail).await.unwrap();
        assert_eq!(tail, "there");
        f.seek(std::io::SeekFrom::Start(0)).await.unwrap();
        let mut head = [0u8; 5];
        f.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"hello");
        assert_eq!(f.position(), 5);
    })
    .unwrap();
}

#[test]
fn every_op_in_sync_form() {
    let _g = serial();
    let d = tmp();
    let b = d.path();
    let f = fs::sync::open(b.join("s"), OpenOptions::new().write(true).create(true)).unwrap();
    let (r, _) = fs::sync::write_at(&f, "data", 0);
    assert_eq!(r.unwrap(), 4);
    fs::sync::fsync(&f).unwrap();
    fs::sync::fdatasync(&f).unwrap();
    fs::sync::fchmod(&f, 0o640).unwrap();
    assert_eq!(fs::sync::fstat(&f).unwrap().permissions().mode(), 0o640);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    fs::sync::futime(&f, t, t).unwrap();
    assert_eq!(fs::sync::fstat(&f).unwrap().modified(), t);
    let me = fs::sync::fstat(&f).unwrap();
    fs::sync::fchown(&f, me.uid(), me.gid()).unwrap();
    fs::sync::ftruncate(&f, 2).unwrap();
    fs::sync::close(f).unwrap();
    fs::sync::chown(b.join("s"), me.uid(), me.gid()).unwrap();
    fs::sync::chmod(b.join("s"), 0o600).unwrap();
    fs::sync::utime(b.join("s"), t, t).unwrap();
    fs::sync::access(b.join("s"), fs::AccessMode::READ | fs::AccessMode::WRITE).unwrap();
    fs::sync::symlink_with(b.join("s"), b.join("l"), fs::SymlinkFlags::empty()).unwrap();
    fs::sync::lutime(b.join("l"), t, t).unwrap();
    fs::sync::lchown(b.join("l"), me.uid(), me.gid()).unwrap();
    assert_eq!(fs::sync::read_link(b.join("l")).unwrap(), b.join("s"));
    fs::sync::copyfile(b.join("s"), b.join("c"), fs::CopyFlags::FICLONE).unwrap();
    let e = fs::sync::copyfile(b.join("s"), b.join("c"), fs::CopyFlags::EXCL).unwrap_err();
    assert_eq!(e.name(), "EEXIST");
    let tdir = fs::sync::mkdtemp(b.join("dirXXXXXX")).unwrap();
    assert!(tdir.is_dir());
    let (tf, tpath) = fs::sync::mkstemp(b.join("fileXXXXXX")).unwrap();
    assert!(tpath.is_file() && !tpath.ends_with("fileXXXXXX"));
    let src = fs::sync::open(b.join("c"), OpenOptions::new().read(true)).unwrap();
    assert_eq!(fs::sync::sendfile(&tf, &src, 0, 100).unwrap(), 2);
    assert_eq!(std::fs::read(&tpath).unwrap(), b"da");
    let dir = fs::sync::opendir(b).unwrap();
    let mut n = 0;
    loop {
        let batch = fs::sync::readdir(&dir, 2).unwrap();
        if batch.is_empty() {
            break;
        }
        n += batch.len();
    }
    fs::sync::closedir(dir).unwrap();
    assert_eq!(n, std::fs::read_dir(b).unwrap().count());
    assert!(fs::sync::statfs(b).unwrap().blocks > 0);
    fs::sync::mkdir(b.join("m"), 0o755).unwrap();
    fs::sync::remove_dir(b.join("m")).unwrap();
    fs::sync::rename(b.join("c"), b.join("c2")).unwrap();
    fs::sync::hard_link(b.join("c2"), b.join("c3")).unwrap();
    fs::sync::remove_file(b.join("c3")).unwrap();
    assert_eq!(
        fs::sync::canonicalize(b.join("l")).unwrap(),
        std::fs::canonicalize(b.join("s")).unwrap()
    );
}

#[test]
fn non_utf8_paths_work() {
    let _g = serial();
    let d = tmp();
    let name = OsStr::from_bytes(b"caf\xe9-\xff");
    let p = d.path().join(name);
    let lp = Loop::new().unwrap();
    let p2 = p.clone();
    lp.block_on(async move {
        fs::write(&p2, b"x").await.unwrap();
        let names: Vec<_> = fs::read_dir(p2.parent().unwrap())
            .map_ok(|e| e.file_name())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(names, [name]);
    })
    .unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"x");
}

fn expect_err<T: std::fmt::Debug>(r: uvio::Result<T>, name: &str) -> uvio::Error {
    let e = r.unwrap_err();
    assert_eq!(e.name(), name, "{e}");
    e
}

#[test]
fn bad_input_gives_typed_errors() {
    let (_g, d, lp, fds) = counted();
    let b = d.path().to_path_buf();
    lp.block_on(async move {
        let missing = b.join("missing");
        let e = expect_err(File::open(&missing).await, "ENOENT");
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            format!(
                "ENOENT: no such file or directory, open '{}'",
                missing.display()
            )
        );
        // Reading a directory.
        let dir = File::open(&b).await.unwrap();
        let (r, _) = dir.read_at(Vec::with_capacity(10), 0).await;
        expect_err(r, "EISDIR");
        expect_err(fs::read(&b).await, "EISDIR");
        // scandir of a file.
        fs::write(b.join("file"), "x").await.unwrap();
        let e = expect_err(fs::scandir(b.join("file")).await, "ENOTDIR");
        assert!(e.to_string().contains("scandir"));
        // create_new on an existing file.
        let r = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(b.join("file"))
            .await;
        expect_err(r, "EEXIST");
        // 5,000-byte path.
        let long = b.join("a".repeat(5000));
        expect_err(fs::metadata(&long).await, "ENAMETOOLONG");
        // Symlink loop.
        fs::symlink(b.join("l1"), b.join("l2")).await.unwrap();
        fs::symlink(b.join("l2"), b.join("l1")).await.unwrap();
        expect_err(fs::metadata(b.join("l1")).await, "ELOOP");
        // Write on a read-only file.
        let ro = File::open(b.join("file")).await.unwrap();
        let (r, buf) = ro.write_at(b"nope".to_vec(), 0).await;
        expect_err(r, "EBADF");
        assert_eq!(buf, b"nope");
        // Copy with a missing source.
        let e = expect_err(fs::copy(&missing, b.join("dst")).await, "ENOENT");
        assert!(e.to_string().contains("copyfile"), "{e}");
        // remove_dir of a non-empty dir.
        fs::create_dir(b.join("full")).await.unwrap();
        fs::write(b.join("full/x"), "x").await.unwrap();
        expect_err(fs::remove_dir(b.join("full")).await, "ENOTEMPTY");
        // NUL in a path: refused before libuv, path in the message.
        let e = expect_err(fs::metadata("a\0b").await, "EINVAL");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("stat 'a\\0b'"), "{e}");
        expect_err(fs::sync::remove_file("x\0y"), "EINVAL");
        let got = Rc::new(Cell::new(false));
        let g = got.clone();
        let lp = uvio::LoopHandle::current().unwrap();
        fs::cb::rename(&lp, "a\0", "b", move |r| {
            assert_eq!(r.unwrap_err().name(), "EINVAL");
            g.set(true)
        });
        assert!(
            !got.get(),
            "a refused request never calls back on the caller's stack"
        );
        uvio::time::sleep(Duration::from_millis(1)).await;
        assert!(
            got.get(),
            "the refused request's callback ran from the loop"
        );
        // Bad open options.
        expect_err(OpenOptions::new().open(b.join("file")).await, "EINVAL");
        dir.close().await.unwrap();
        ro.close().await.unwrap();
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(open_fds(), fds);
}

#[test]
fn dropped_futures_leak_nothing() {
    let (_g, d, lp, fds) = counted();
    let p = d.path().join("big");
    std::fs::write(&p, vec![1u8; 1 << 20]).unwrap();
    let n = common::scale(200);
    let p2 = p.clone();
    lp.block_on(async move {
        let f = File::open(&p2).await.unwrap();
        // Deterministically the "finished while abandoned" path: start an open, let the
        // threadpool open the file while the loop thread is blocked, then drop the future
        // before its completion runs. The completion must close the descriptor.
        let base = open_fds();
        let mut o = File::open(&p2);
        futures::future::poll_immediate(&mut o).await;
        let give_up = Instant::now() + common::patience(Duration::from_secs(10));
        while open_fds() == base && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(open_fds(), base + 1, "the open ran on the threadpool");
        drop(o);
        let give_up = Instant::now() + common::patience(Duration::from_secs(10));
        while open_fds() != base && Instant::now() < give_up {
            uvio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            open_fds(),
            base,
            "the abandoned open's descriptor was closed"
        );
        for i in 0..n {
            // Poll a read once, then drop it.
            let mut fut = f.read_at(Vec::with_capacity(1 << 16), 0);
            futures::future::poll_immediate(&mut fut).await;
            drop(fut);
            // Poll an open once, then drop it: the descriptor must not leak.
            let mut open = File::open(&p2);
            futures::future::poll_immediate(&mut open).await;
            drop(open);
            if i % 10 == 0 {
                uvio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        // Many opens in flight at once, each polled once and dropped: some are cancelled
        // while queued, some finish on the threadpool and must close what they opened.
        let mut opens: Vec<_> = (0..n).map(|_| File::open(&p2)).collect();
        for o in &mut opens {
            futures::future::poll_immediate(o).await;
        }
        drop(opens);
        // A future never polled starts nothing.
        drop(File::open(&p2));
        // The file still works after all of that.
        let (r, _) = f.read_at(Vec::with_capacity(4), 0).await;
        assert_eq!(r.unwrap(), 4);
    })
    .unwrap();
    // Let the background closes finish.
    lp.run(RunMode::Default).unwrap();
    assert_eq!(open_fds(), fds);
}

#[test]
fn queued_requests_are_cancelled_without_leaks() {
    let (_g, d, lp, fds) = counted();
    let p = d.path().join("f");
    std::fs::write(&p, b"x").unwrap();
    lp.block_on(async move {
        let f = File::open(&p).await.unwrap();
        // Occupy libuv's threadpool (4 threads by default) so fs requests queue.
        let gate = std::sync::Arc::new(std::sync::Barrier::new(5));
        let blockers: Vec<_> = (0..4)
            .map(|_| {
                let g = gate.clone();
                uvio::spawn_blocking(move || {
                    g.wait();
                })
            })
            .collect();
        // A queued close, polled once and dropped: cancelled, and the descriptor is still
        // closed (by the dropped request's own descriptor).
        let mut close = fs::close(f);
        futures::future::poll_immediate(&mut close).await;
        drop(close);
        // A queued read and stat, dropped: cancelled, buffers freed.
        let g = fs::sync::open(&p, OpenOptions::new().read(true)).unwrap();
        let mut read = fs::read_at(&g, Vec::with_capacity(1 << 16), 0);
        futures::future::poll_immediate(&mut read).await;
        drop(read);
        let mut stat = fs::metadata(&p);
        futures::future::poll_immediate(&mut stat).await;
        drop(stat);
        drop(g);
        gate.wait();
        for b in blockers {
            b.await.unwrap();
        }
        let give_up = Instant::now() + common::patience(Duration::from_secs(10));
        while open_fds() != fds && Instant::now() < give_up {
            uvio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(open_fds(), fds);
}

#[test]
fn callback_requests_can_be_cancelled_while_queued() {
    let _g = serial();
    let lp = Loop::new().unwrap();
    let gate = std::sync::Arc::new(std::sync::Barrier::new(5));
    let blockers: Vec<_> = (0..4)
        .map(|_| {
            let g = gate.clone();
            uvio::queue_work(&lp, move || g.wait(), |_| ()).unwrap()
        })
        .collect();
    let got = Rc::new(RefCell::new(None));
    let g2 = got.clone();
    let req = fs::cb::metadata(&lp, "Cargo.toml", move |r| *g2.borrow_mut() = Some(r));
    assert!(!req.is_done());
    // Queued behind the blocked pool (4 threads unless UV_THREADPOOL_SIZE says more).
    let cancelled = req.cancel();
    gate.wait();
    lp.run(RunMode::Default).unwrap();
    assert!(req.is_done());
    let r = got.borrow_mut().take().unwrap();
    match cancelled {
        Ok(()) => assert_eq!(r.unwrap_err().name(), "ECANCELED"),
        Err(e) => {
            assert_eq!(e.name(), "EBUSY");
            assert!(r.is_ok());
        }
    }
    assert_eq!(req.cancel().unwrap_err().name(), "EBUSY");
    drop(blockers);
    // A refused request calls back from the loop, and cannot be cancelled.
    let req = fs::cb::metadata(&lp, "a\0", |r| assert_eq!(r.unwrap_err().name(), "EINVAL"));
    assert!(!req.is_done());
    assert_eq!(req.cancel().unwrap_err().name(), "EBUSY");
    lp.run(RunMode::Default).unwrap();
    assert!(req.is_done());
}

#[test]
fn file_close_twice_and_drop_paths() {
    let (_g, d, lp, fds) = counted();
    let p = d.path().join("f");
    std::fs::write(&p, b"x").unwrap();
    {
        // Dropped on a live loop: closed in the background.
        let f = lp.block_on(File::open(&p)).unwrap().unwrap();
        drop(f);
        lp.run(RunMode::Default).unwrap();
        assert_eq!(open_fds(), fds);
        // Loop dropped with the file open, then the file dropped: closed synchronously.
        let f = lp.block_on(File::open(&p)).unwrap().unwrap();
        drop(lp);
        let without_loop = open_fds();
        drop(f);
        assert_eq!(open_fds(), without_loop - 1);
    }
    let fds = open_fds();
    // A sync-opened file dropped without a loop.
    let f = fs::sync::open(&p, OpenOptions::new().read(true)).unwrap();
    drop(f);
    assert_eq!(open_fds(), fds);
    // `close` consumes the File, so closing twice does not compile; a close while a request
    // still holds the descriptor lets that request finish first.
    let lp = Loop::new().unwrap();
    let fds = open_fds();
    lp.block_on(async {
        let f = File::open(&p).await.unwrap();
        let pending = f.read_at(Vec::with_capacity(1), 0);
        // A request holds the descriptor: close waits for it instead of failing.
        f.close().await.unwrap();
        let (r, _) = pending.await;
        assert_eq!(r.unwrap(), 1);
    })
    .unwrap();
    // The raw close refuses while a request holds the descriptor; it closes when that ends.
    lp.block_on(async {
        let f = File::open(&p).await.unwrap();
        let pending = f.read_at(Vec::with_capacity(1), 0);
        assert_eq!(fs::close(f).await.unwrap_err().name(), "EBUSY");
        assert_eq!(pending.await.0.unwrap(), 1);
    })
    .unwrap();
    // A File dropped inside its own open callback.
    let opened = Rc::new(Cell::new(false));
    let o = opened.clone();
    fs::cb::open(&lp, &p, OpenOptions::new().read(true), move |f| {
        drop(f.unwrap());
        o.set(true);
    });
    lp.run(RunMode::Default).unwrap();
    assert!(opened.get());
    assert_eq!(open_fds(), fds);
}

#[test]
fn callback_forms_and_panics() {
    let _g = serial();
    let d = tmp();
    let p = d.path().join("f");
    std::fs::write(&p, b"abc").unwrap();
    let lp = Loop::new().unwrap();
    let out = Rc::new(RefCell::new(Vec::new()));
    let o = out.clone();
    let l2 = lp.handle();
    fs::cb::open(&lp, &p, OpenOptions::new().read(true), move |f| {
        let f = f.unwrap();
        let o = o.clone();
        fs::cb::read_at(&l2, &f, Vec::with_capacity(8), 0, move |(r, buf)| {
            assert_eq!(r.unwrap(), 3);
            o.borrow_mut().extend(buf);
        });
    });
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*out.borrow(), b"abc");
    // A panicking callback is resumed from run, and nothing is lost.
    fs::cb::metadata(&lp, &p, |_| panic!("boom"));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert!(r.is_err());
    // The loop still works afterwards.
    assert!(lp.block_on(fs::metadata(&p)).unwrap().is_ok());
}

#[test]
fn many_concurrent_requests() {
    let _g = serial();
    let d = tmp();
    let n = common::scale(300);
    let lp = Loop::new().unwrap();
    let base: PathBuf = d.path().into();
    lp.block_on(async move {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let p = base.join(format!("{i}"));
                uvio::spawn_local(async move {
                    fs::write(&p, format!("{i}")).await.unwrap();
                    fs::read_to_string(&p).await.unwrap()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i.to_string());
        }
    })
    .unwrap();
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), n);
    let _ = Path::new("");
}

/// Every callback form, called once with refused arguments where it has any (a NUL in a
/// path, an offset past `i64::MAX`, a file or directory busy with another request) and
/// plainly otherwise, each while the caller holds a `RefCell` borrow that its callback
/// also takes: a callback run on the caller's stack would panic with a double borrow.
macro_rules! every_callback_form {
    ($lp:expr, $base:expr, $log:expr, $reqs:expr) => {{
        let lp: &uvio::LoopHandle = $lp;
        let b: &std::path::Path = $base;
        let log: &Rc<RefCell<Vec<&'static str>>> = $log;
        let reqs: &mut Vec<fs::FsRequest> = $reqs;
        let rw = || fs::sync::open(b.join("f"), OpenOptions::new().read(true).write(true)).unwrap();
        let file = rw();
        let t = std::time::UNIX_EPOCH;
        macro_rules! form {
            ($name:literal, |$cb:ident| $call:expr) => {{
                let held = log.borrow_mut();
                let l = log.clone();
                let $cb = move |_r| l.borrow_mut().push($name);
                reqs.push($call);
                drop(held);
            }};
        }
        form!("open", |cb| fs::cb::open(
            lp,
            "a\0b",
            OpenOptions::new().read(true),
            cb
        ));
        form!("read_at", |cb| fs::cb::read_at(
            lp,
            &file,
            Vec::with_capacity(4),
            u64::MAX,
            cb
        ));
        form!("read_vectored_at", |cb| fs::cb::read_vectored_at(
            lp,
            &file,
            vec![Vec::with_capacity(4)],
            u64::MAX,
            cb
        ));
        form!("write_at", |cb| fs::cb::write_at(
            lp,
            &file,
            "x",
            u64::MAX,
            cb
        ));
        form!("write_vectored_at", |cb| fs::cb::write_vectored_at(
            lp,
            &file,
            vec!["x"],
            u64::MAX,
            cb
        ));
        form!("ftruncate", |cb| fs::cb::ftruncate(lp, &file, u64::MAX, cb));
        form!("sendfile", |cb| fs::cb::sendfile(
            lp,
            &file,
            &file,
            u64::MAX,
            1,
            cb
        ));
        form!("fstat", |cb| fs::cb::fstat(lp, &file, cb));
        form!("fsync", |cb| fs::cb::fsync(lp, &file, cb));
        form!("fdatasync", |cb| fs::cb::fdatasync(lp, &file, cb));
        form!("fchmod", |cb| fs::cb::fchmod(lp, &file, 0o644, cb));
        form!("futime", |cb| fs::cb::futime(lp, &file, t, t, cb));
        form!("fchown", |cb| fs::cb::fchown(
            lp,
            &file,
            u32::MAX,
            u32::MAX,
            cb
        ));
        form!("advise", |cb| fs::cb::advise(
            lp,
            &file,
            fs::Advice::Normal,
            u64::MAX,
            0,
            cb
        ));
        form!("readahead", |cb| fs::cb::readahead(
            lp,
            &file,
            u64::MAX,
            1,
            cb
        ));
        // Busy: a request above still holds the file (on an open loop).
        form!("close", |cb| fs::cb::close(lp, file, cb));
        form!("close (idle)", |cb| fs::cb::close(lp, rw(), cb));
        form!("remove_file", |cb| fs::cb::remove_file(lp, "a\0b", cb));
        form!("mkdir", |cb| fs::cb::mkdir(lp, "a\0b", 0o755, cb));
        form!("mkdtemp", |cb| fs::cb::mkdtemp(lp, "a\0bXXXXXX", cb));
        form!("mkstemp", |cb| fs::cb::mkstemp(lp, "a\0bXXXXXX", cb));
        form!("remove_dir", |cb| fs::cb::remove_dir(lp, "a\0b", cb));
        form!("scandir", |cb| fs::cb::scandir(lp, "a\0b", cb));
        form!("opendir", |cb| fs::cb::opendir(lp, "a\0b", cb));
        let dir = fs::sync::opendir(b).unwrap();
        form!("readdir", |cb| fs::cb::readdir(lp, &dir, 8, cb));
        // Busy on an open loop: the readdir holds the directory.
        form!("closedir", |cb| fs::cb::closedir(lp, dir, cb));
        form!("metadata", |cb| fs::cb::metadata(lp, "bad\0path", cb));
        form!("symlink_metadata", |cb| fs::cb::symlink_metadata(
            lp, "a\0b", cb
        ));
        form!("statfs", |cb| fs::cb::statfs(lp, "a\0b", cb));
        form!("rename", |cb| fs::cb::rename(lp, "a\0b", "c", cb));
        form!("copyfile", |cb| fs::cb::copyfile(
            lp,
            "a\0b",
            "c",
            fs::CopyFlags::empty(),
            cb
        ));
        form!("access", |cb| fs::cb::access(
            lp,
            "a\0b",
            fs::AccessMode::EXISTS,
            cb
        ));
        form!("chmod", |cb| fs::cb::chmod(lp, "a\0b", 0o644, cb));
        form!("utime", |cb| fs::cb::utime(lp, "a\0b", t, t, cb));
        form!("lutime", |cb| fs::cb::lutime(lp, "a\0b", t, t, cb));
        form!("hard_link", |cb| fs::cb::hard_link(lp, "a\0b", "c", cb));
        form!("symlink_with", |cb| fs::cb::symlink_with(
            lp,
            "a\0b",
            "c",
            fs::SymlinkFlags::empty(),
            cb
        ));
        form!("read_link", |cb| fs::cb::read_link(lp, "a\0b", cb));
        form!("canonicalize", |cb| fs::cb::canonicalize(lp, "a\0b", cb));
        form!("chown", |cb| fs::cb::chown(
            lp,
            "a\0b",
            u32::MAX,
            u32::MAX,
            cb
        ));
        form!("lchown", |cb| fs::cb::lchown(
            lp,
            "a\0b",
            u32::MAX,
            u32::MAX,
            cb
        ));
        // A read the fast path may serve inline still calls back from the loop.
        let f2 = rw();
        form!("read_at (served)", |cb| fs::cb::read_at(
            lp,
            &f2,
            Vec::with_capacity(4),
            0,
            cb
        ));
        form!("read_vectored_at (served)", |cb| fs::cb::read_vectored_at(
            lp,
            &f2,
            vec![Vec::with_capacity(2), Vec::with_capacity(2)],
            0,
            cb
        ));
    }};
}

#[test]
fn callback_forms_never_run_on_the_callers_stack() {
    let _g = serial();
    let d = tmp();
    std::fs::write(d.path().join("f"), "abcd").unwrap();
    let lp = Loop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut reqs = Vec::new();
    every_callback_form!(&lp, d.path(), &log, &mut reqs);
    assert!(
        log.borrow().is_empty(),
        "ran on the caller's stack: {:?}",
        log.borrow()
    );
    let n = reqs.len();
    assert!(n > 40, "{n}");
    assert!(reqs.iter().all(|r| !r.is_done()));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(log.borrow().len(), n, "{:?}", log.borrow());
    assert!(reqs.iter().all(|r| r.is_done()));

    drop(reqs);
    // On a closed loop nothing runs, now or later, and nothing leaks: the refused close and
    // closedir still close what they were given.
    let closed = Loop::new().unwrap();
    let h = closed.handle();
    drop(closed);
    let fds = open_fds();
    log.borrow_mut().clear();
    let mut reqs = Vec::new();
    every_callback_form!(&h, d.path(), &log, &mut reqs);
    assert_eq!(reqs.len(), n);
    assert!(log.borrow().is_empty(), "{:?}", log.borrow());
    assert!(reqs.iter().all(|r| r.is_done()));
    drop(reqs);
    assert_eq!(open_fds(), fds);
}
