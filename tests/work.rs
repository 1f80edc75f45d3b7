//! Threadpool work: `queue_work` and `spawn_blocking`, cancellation, panics, shutdown.
mod common;

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use common::{panic_message, scale};
use uvio::{Loop, RunMode, WorkRequest};

/// libuv's threadpool is one per process: tests that occupy all of its threads take turns.
static POOL: Mutex<()> = Mutex::new(());

fn pool_lock() -> MutexGuard<'static, ()> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// libuv's threadpool size (`UV_THREADPOOL_SIZE`, default 4).
fn pool_size() -> usize {
    std::env::var("UV_THREADPOOL_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
        .clamp(1, 1024)
}

/// Work that occupies a pool thread until released.
struct Blocker {
    release: mpsc::Sender<()>,
    req: WorkRequest<()>,
}

/// Occupies every pool thread with work that waits; returns once all of it is running.
fn saturate(lp: &Loop) -> Vec<Blocker> {
    let (started_tx, started_rx) = mpsc::channel();
    let blockers: Vec<Blocker> = (0..pool_size())
        .map(|_| {
            let (release, wait) = mpsc::channel::<()>();
            let started = started_tx.clone();
            let req = uvio::queue_work(
                lp,
                move || {
                    started.send(()).unwrap();
                    let _ = wait.recv();
                },
                |r| r.unwrap(),
            )
            .unwrap();
            Blocker { release, req }
        })
        .collect();
    for _ in 0..blockers.len() {
        started_rx.recv().unwrap();
    }
    blockers
}

fn release(blockers: Vec<Blocker>) {
    for b in blockers {
        b.release.send(()).unwrap();
    }
}

#[test]
fn queue_work_and_spawn_blocking_results() {
    let lp = Loop::new().unwrap();
    let results = Rc::new(RefCell::new(Vec::new()));
    let n = scale(200);
    let reqs: Vec<_> = (0..n)
        .map(|i| {
            let r = results.clone();
            uvio::queue_work(&lp, move || i * i, move |v| r.borrow_mut().push(v.unwrap())).unwrap()
        })
        .collect();
    assert!(lp.alive());
    assert!(reqs.iter().all(|r| !r.is_done()) || n > 0);
    lp.run(RunMode::Default).unwrap();
    assert!(reqs.iter().all(WorkRequest::is_done));
    let mut got = results.borrow().clone();
    got.sort_unstable();
    assert_eq!(got, (0..n).map(|i| i * i).collect::<Vec<_>>());
    // Cancelling finished work is EBUSY.
    assert_eq!(reqs[0].cancel().unwrap_err().name(), "EBUSY");
    assert!(format!("{:?}", reqs[0]).contains("done: true"));

    let sum = lp
        .block_on(async {
            let fs: Vec<_> = (0..n as u64)
                .map(|i| uvio::spawn_blocking(move || i))
                .collect();
            let mut sum = 0;
            for f in fs {
                sum += f.await.unwrap();
            }
            sum
        })
        .unwrap();
    assert_eq!(sum, (n as u64) * (n as u64 - 1) / 2);
    // The work runs on another thread.
    let here = std::thread::current().id();
    let there = lp
        .block_on(lp.spawn_blocking(|| std::thread::current().id()))
        .unwrap()
        .unwrap();
    assert_ne!(here, there);
}

#[test]
fn cancel_while_queued_and_while_running() {
    let _pool = pool_lock();
    let lp = Loop::new().unwrap();
    let blockers = saturate(&lp);
    // Running work cannot be cancelled.
    assert_eq!(blockers[0].req.cancel().unwrap_err().name(), "EBUSY");
    // Queued work can: its callback gets ECANCELED and the closure never runs.
    let ran = Arc::new(AtomicBool::new(false));
    let got = Rc::new(RefCell::new(Vec::new()));
    let (r, g) = (ran.clone(), got.clone());
    let victim = uvio::queue_work(
        &lp,
        move || r.store(true, Ordering::SeqCst),
        move |res| g.borrow_mut().push(res),
    )
    .unwrap();
    victim.cancel().unwrap();
    // A second cancel before the callback ran is harmless (libuv requeues the completion).
    let _ = victim.cancel();
    // The same through spawn_blocking's explicit cancel.
    let ran2 = Arc::new(AtomicBool::new(false));
    let r2 = ran2.clone();
    let f = lp.spawn_blocking(move || r2.store(true, Ordering::SeqCst));
    f.cancel().unwrap();
    release(blockers);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(got.borrow().len(), 1, "the callback runs exactly once");
    let res = got.borrow_mut().pop().unwrap();
    let e = res.unwrap_err();
    assert_eq!(e.name(), "ECANCELED");
    assert_eq!(e.operation(), Some("queue_work"));
    assert!(victim.is_done());
    assert_eq!(lp.block_on(f).unwrap().unwrap_err().name(), "ECANCELED");
    assert!(!ran.load(Ordering::SeqCst));
    assert!(!ran2.load(Ordering::SeqCst));
}

#[test]
fn panic_in_work_resumes_on_the_loop_thread() {
    let lp = Loop::new().unwrap();
    let called = Rc::new(Cell::new(false));
    let c = called.clone();
    let _w =
        uvio::queue_work(&lp, || -> u32 { panic!("pool boom") }, move |_| c.set(true)).unwrap();
    let p = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default))).unwrap_err();
    assert_eq!(panic_message(&*p), "pool boom");
    assert!(!called.get(), "the done callback never sees a panicked job");
    // The loop stays usable.
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let _w = uvio::queue_work(&lp, || 5, move |r| g.set(r.unwrap())).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(got.get(), 5);

    // spawn_blocking: resumed where the future is polled (here, the block_on future).
    let p = catch_unwind(AssertUnwindSafe(|| {
        lp.block_on(lp.spawn_blocking(|| -> u32 { panic!("blocking boom") }))
    }))
    .unwrap_err();
    assert_eq!(panic_message(&*p), "blocking boom");
    // ...and inside a task it becomes the task's JoinError.
    let e = lp
        .block_on(
            lp.spawn_local(async { uvio::spawn_blocking(|| -> u8 { panic!("in task") }).await }),
        )
        .unwrap()
        .unwrap_err();
    assert!(e.is_panic());
    assert_eq!(lp.block_on(lp.spawn_blocking(|| 9)).unwrap().unwrap(), 9);
}

#[test]
fn dropping_spawn_blocking_while_queued_cancels_it() {
    let _pool = pool_lock();
    let lp = Loop::new().unwrap();
    let blockers = saturate(&lp);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let f = lp.spawn_blocking(move || r.store(true, Ordering::SeqCst));
    assert!(format!("{f:?}").contains("done: false"));
    drop(f);
    release(blockers);
    // The cancelled request still completes (and frees itself) during the run.
    assert!(!lp.run(RunMode::Default).unwrap());
    assert!(!ran.load(Ordering::SeqCst), "cancelled work ran");
}

#[test]
fn dropping_spawn_blocking_while_running_lets_it_finish() {
    let _pool = pool_lock();
    let lp = Loop::new().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let fin = finished.clone();
    let f = lp.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        fin.store(true, Ordering::SeqCst);
        vec![1u8; 1024]
    });
    started_rx.recv().unwrap();
    assert_eq!(f.cancel().unwrap_err().name(), "EBUSY");
    drop(f);
    go_tx.send(()).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn drop_the_loop_with_work_in_flight() {
    let _pool = pool_lock();
    let lp = Loop::new().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let done = Rc::new(Cell::new(0));
    let d = done.clone();
    let _w = uvio::queue_work(
        &lp,
        move || {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            String::from("late")
        },
        move |r| {
            assert_eq!(r.unwrap(), "late");
            d.set(d.get() + 1);
        },
    )
    .unwrap();
    // A future kept past the loop, and a detached one.
    let kept = lp.spawn_blocking(|| 11);
    drop(lp.spawn_blocking(|| 12));
    started_rx.recv().unwrap();
    // The loop's drop waits for the work: release it from another thread meanwhile.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        go_tx.send(()).unwrap();
    });
    drop(lp);
    releaser.join().unwrap();
    assert_eq!(done.get(), 1, "the done callback ran once, during the drop");
    // The kept future finished during the shutdown; polling it gives the result.
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut kept = std::pin::pin!(kept);
    match kept.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => assert_eq!(r.unwrap(), 11),
        std::task::Poll::Pending => panic!("work still pending after the loop closed"),
    }
}

#[test]
fn work_on_a_closed_loop_is_ebadf() {
    let lp = Loop::new().unwrap();
    let h = lp.handle();
    drop(lp);
    assert_eq!(
        uvio::queue_work(&h, || 1, |_| ()).unwrap_err().name(),
        "EBADF"
    );
    let f = h.spawn_blocking(|| 1);
    assert_eq!(f.cancel().unwrap_err().name(), "EBUSY");
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    match std::future::Future::poll(f.as_mut(), &mut cx) {
        std::task::Poll::Ready(r) => assert_eq!(r.unwrap_err().name(), "EBADF"),
        std::task::Poll::Pending => panic!("pending on a closed loop"),
    }
}

#[test]
#[should_panic(expected = "uvio::spawn_blocking called outside a uvio loop")]
fn spawn_blocking_outside_a_loop_panics() {
    drop(uvio::spawn_blocking(|| 1));
}
