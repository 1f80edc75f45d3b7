//! FsEvent and FsPoll: events for create, modify, rename, delete; lifecycle.

mod common;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use uvio::{FsEvent, FsEventInfo, FsPoll, Loop, LoopHandle, RunMode, Timer};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Collects events from a stream until `done(events)` or a generous deadline (fixed when the
/// collection starts, so a slow machine gets the same wall time however its events trickle).
async fn collect_until<S, T>(s: &mut S, mut done: impl FnMut(&[T]) -> bool) -> Vec<T>
where
    S: futures::Stream<Item = uvio::Result<T>> + Unpin,
{
    let mut out = Vec::new();
    let give_up = Instant::now() + common::patience(ms(10_000));
    while !done(&out) {
        let left = give_up.saturating_duration_since(Instant::now());
        match uvio::time::timeout(left, s.next()).await {
            Ok(Some(ev)) => out.push(ev.unwrap()),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

fn named<'a>(evs: &'a [FsEventInfo], name: &str) -> impl Iterator<Item = &'a FsEventInfo> {
    let name = PathBuf::from(name);
    evs.iter()
        .filter(move |e| e.filename.as_deref() == Some(name.as_path()))
}

#[test]
fn fs_event_sees_create_modify_rename_delete() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().to_path_buf();
    let lp = Loop::new().unwrap();
    lp.block_on(async move {
        let lp = LoopHandle::current().unwrap();
        let mut w = FsEvent::watch(&lp, &base, false).unwrap();
        assert_eq!(w.path().unwrap(), base);
        uvio::fs::write(base.join("a"), "1").await.unwrap();
        let evs = collect_until(&mut w, |e: &[FsEventInfo]| named(e, "a").any(|e| e.rename)).await;
        assert!(named(&evs, "a").any(|e| e.rename), "create: {evs:?}");

        uvio::fs::write(base.join("a"), "22").await.unwrap();
        let evs = collect_until(&mut w, |e: &[FsEventInfo]| named(e, "a").any(|e| e.change)).await;
        assert!(named(&evs, "a").any(|e| e.change), "modify: {evs:?}");

        uvio::fs::rename(base.join("a"), base.join("b"))
            .await
            .unwrap();
        let evs = collect_until(&mut w, |e: &[FsEventInfo]| named(e, "b").any(|e| e.rename)).await;
        assert!(named(&evs, "b").any(|e| e.rename), "rename: {evs:?}");

        uvio::fs::remove_file(base.join("b")).await.unwrap();
        let evs = collect_until(&mut w, |e: &[FsEventInfo]| named(e, "b").any(|e| e.rename)).await;
        assert!(named(&evs, "b").any(|e| e.rename), "delete: {evs:?}");

        w.stop().unwrap();
        assert!(w.next().await.is_none() || w.next().await.is_none());
    })
    .unwrap();
}

#[test]
fn fs_event_callback_form_and_single_file() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("watched");
    std::fs::write(&f, "x").unwrap();
    let lp = Loop::new().unwrap();
    let w = FsEvent::new(&lp).unwrap();
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    w.start(&f, false, move |w, ev| {
        assert!(ev.unwrap().change);
        s.set(s.get() + 1);
        // Close from inside its own callback.
        w.close().unwrap();
    })
    .unwrap();
    let t = Timer::new(&lp).unwrap();
    let f2 = f.clone();
    t.start(ms(20), Duration::ZERO, move |_| {
        std::fs::write(&f2, "more").unwrap();
    })
    .unwrap();
    // A guard timer so a missing event fails instead of hanging.
    let guard = Timer::new(&lp).unwrap();
    guard
        .start(common::patience(ms(10_000)), Duration::ZERO, |t| {
            t.loop_handle().stop()
        })
        .unwrap();
    guard.unref();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(seen.get(), 1);
    assert!(w.is_closing());
    assert_eq!(w.close().unwrap_err().name(), "EBADF");
}

#[test]
fn fs_event_recursive_flag() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().to_path_buf();
    let lp = Loop::new().unwrap();
    lp.block_on(async move {
        let lp = LoopHandle::current().unwrap();
        // Linux's inotify is not recursive: libuv accepts the flag and watches the top level.
        let mut w = match FsEvent::watch(&lp, &base, true) {
            Ok(w) => w,
            Err(e) => return assert_eq!(e.name(), "ENOSYS"),
        };
        uvio::fs::write(base.join("top"), "1").await.unwrap();
        let evs = collect_until(&mut w, |e: &[FsEventInfo]| named(e, "top").next().is_some()).await;
        assert!(named(&evs, "top").next().is_some(), "{evs:?}");
    })
    .unwrap();
}

#[test]
fn fs_event_bad_input() {
    let lp = Loop::new().unwrap();
    let w = FsEvent::new(&lp).unwrap();
    let e = w
        .start("/definitely/not/here", false, |_, _| ())
        .unwrap_err();
    assert_eq!(e.name(), "ENOENT");
    assert!(e.to_string().contains("/definitely/not/here"), "{e}");
    let e = w.start("a\0b", true, |_, _| ()).unwrap_err();
    assert_eq!(e.name(), "EINVAL");
    assert_eq!(w.path().unwrap_err().name(), "EINVAL");
}

/// Poll events until the file's size is `len` (a generous deadline on the loop).
async fn until_len(p: &mut FsPoll, len: u64) -> Vec<uvio::FsPollEvent> {
    let mut evs = Vec::new();
    while evs
        .last()
        .is_none_or(|e: &uvio::FsPollEvent| e.curr.len() != len)
    {
        let ev = uvio::time::timeout(common::patience(ms(10_000)), p.next())
            .await
            .unwrap()
            .unwrap();
        evs.push(ev.unwrap());
    }
    evs
}

#[test]
fn fs_poll_sees_changes_and_missing_files() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("p");
    let lp = Loop::new().unwrap();
    let f2 = f.clone();
    lp.block_on(async move {
        let lp = LoopHandle::current().unwrap();
        let mut p = FsPoll::watch(&lp, &f2, ms(10)).unwrap();
        assert_eq!(p.path().unwrap(), f2);
        // Missing at first: an ENOENT error.
        let first = uvio::time::timeout(common::patience(ms(10_000)), p.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.unwrap_err().name(), "ENOENT");
        // Created. A poll may land between the create and the write (an empty file), so
        // wait for the size to reach 3.
        uvio::fs::write(&f2, "abc").await.unwrap();
        let evs = until_len(&mut p, 3).await;
        assert_eq!(evs[0].prev.len(), 0, "the first event is the creation");
        // Modified (the size changes, so the poll notices).
        uvio::time::sleep(ms(20)).await;
        uvio::fs::write(&f2, "abcdef").await.unwrap();
        let evs = until_len(&mut p, 6).await;
        assert_eq!(evs[0].prev.len(), 3, "{evs:?}");
        // Deleted.
        uvio::fs::remove_file(&f2).await.unwrap();
        let ev = uvio::time::timeout(common::patience(ms(10_000)), p.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev.unwrap_err().name(), "ENOENT");
        p.stop().unwrap();
        assert!(p.next().await.is_none());
    })
    .unwrap();
}

#[test]
fn fs_poll_callback_form() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("p");
    std::fs::write(&f, "a").unwrap();
    let lp = Loop::new().unwrap();
    let p = FsPoll::new(&lp).unwrap();
    let sizes = Rc::new(RefCell::new(Vec::new()));
    let s = sizes.clone();
    let done = Rc::new(Cell::new(false));
    let d2 = done.clone();
    p.start(&f, ms(10), move |p, ev| {
        let len = ev.unwrap().curr.len();
        s.borrow_mut().push(len);
        // A poll can land between the truncate and the write: wait for the final size.
        if len == 4 {
            d2.set(true);
            p.stop().unwrap();
            p.close().unwrap();
        }
    })
    .unwrap();
    // Write until the poll has seen it: a slow first stat (under valgrind) may take the
    // first write as its starting point; each rewrite changes the mtime again.
    let t = Timer::new(&lp).unwrap();
    let f2 = f.clone();
    t.start(ms(40), ms(40), move |t| {
        if done.get() {
            t.close().unwrap();
        } else {
            std::fs::write(&f2, "abcd").unwrap();
        }
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(sizes.borrow().last(), Some(&4));
    assert!(sizes.borrow().iter().all(|&n| n == 0 || n == 4));
}

fn lifecycle(path: &Path) {
    // Drop before start.
    let lp = Loop::new().unwrap();
    drop(FsEvent::new(&lp).unwrap());
    drop(FsPoll::new(&lp).unwrap());
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), 0);

    // Close twice.
    let e = FsEvent::new(&lp).unwrap();
    e.close().unwrap();
    assert_eq!(e.close().unwrap_err().name(), "EBADF");
    assert_eq!(e.start(path, false, |_, _| ()).unwrap_err().name(), "EBADF");
    let p = FsPoll::new(&lp).unwrap();
    p.close().unwrap();
    assert_eq!(p.close().unwrap_err().name(), "EBADF");
    lp.run(RunMode::Default).unwrap();

    // Loop dropped with them open and started; the values outlive it.
    let e = FsEvent::new(&lp).unwrap();
    e.start(path, false, |_, _| ()).unwrap();
    let p = FsPoll::new(&lp).unwrap();
    p.start(path, ms(10), |_, _| ()).unwrap();
    drop(lp);
    assert_eq!(e.stop().unwrap_err().name(), "EBADF");
    assert_eq!(p.path().unwrap_err().name(), "EBADF");
    drop((e, p));

    // A stream polled once, then dropped.
    let lp = Loop::new().unwrap();
    lp.block_on(async {}).unwrap();
    let executor_handles = lp.handle_count();
    let path2 = path.to_path_buf();
    lp.block_on(async move {
        let lp = LoopHandle::current().unwrap();
        let mut e = FsEvent::watch(&lp, &path2, false).unwrap();
        let mut p = FsPoll::watch(&lp, &path2, ms(5)).unwrap();
        let _ = futures::future::poll_immediate(e.next()).await;
        let _ = futures::future::poll_immediate(p.next()).await;
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), executor_handles);
}

#[test]
fn watcher_lifecycle() {
    let d = tempfile::tempdir().unwrap();
    for _ in 0..common::scale(5) {
        lifecycle(d.path());
    }
}

#[test]
fn panicking_watcher_callback_resumes_from_run() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    std::fs::write(&f, "a").unwrap();
    let lp = Loop::new().unwrap();
    let p = FsPoll::new(&lp).unwrap();
    p.start(&f, ms(5), |_, _| panic!("poll boom")).unwrap();
    // Change the file until the poll notices: a slow first stat (valgrind, a loaded
    // machine) may take one write as its starting point, and a single write would then
    // leave the loop waiting forever.
    let t = Timer::new(&lp).unwrap();
    let f2 = f.clone();
    let len = Cell::new(1);
    t.start(ms(20), ms(20), move |_| {
        len.set(len.get() + 1);
        std::fs::write(&f2, "x".repeat(len.get())).unwrap()
    })
    .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    let msg = r.unwrap_err();
    assert_eq!(msg.downcast_ref::<&str>(), Some(&"poll boom"));
    // The poller survives its callback's panic; stop it and the loop finishes.
    p.stop().unwrap();
    drop((p, t));
    lp.run(RunMode::Default).unwrap();
}
