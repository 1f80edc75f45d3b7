//! The loop: run modes, stop, time, backend, metrics, nesting, shutdown, panics.
mod common;

use std::cell::{Cell, RefCell};
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{DropCount, panic_message};
use uvio::{Loop, RunMode, Timer, ffi};

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn new_loop_is_open_idle_and_debuggable() {
    let lp = Loop::new().unwrap();
    assert!(!lp.is_closed());
    assert!(!lp.alive());
    assert_eq!(lp.handle_count(), 0);
    assert!(!lp.as_raw().is_null());
    let s = format!("{lp:?}");
    assert_eq!(
        s,
        "Loop { owned: true, closed: false, running: false, handles: 0, requests: 0 }"
    );
    let h = lp.handle();
    assert_eq!(
        format!("{h:?}"),
        "LoopHandle { owned: true, closed: false, handles: 0 }"
    );
    // Two loops are independent.
    let other = Loop::new().unwrap();
    assert_ne!(other.as_raw(), lp.as_raw());
}

#[test]
fn run_default_runs_until_no_work() {
    let lp = Loop::new().unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    let t = Timer::new(&lp).unwrap();
    let n = Rc::new(Cell::new(0));
    let n2 = n.clone();
    t.start(MS, MS, move |t| {
        n2.set(n2.get() + 1);
        if n2.get() == 5 {
            t.stop().unwrap();
        }
    })
    .unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(n.get(), 5);
    assert_eq!(RunMode::default(), RunMode::Default);
}

#[test]
fn stop_before_run_makes_run_return_at_once() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::ZERO, Duration::ZERO, |_| panic!("ran after stop"))
        .unwrap();
    lp.stop();
    // libuv's loop_stop_before_run: the flag makes the next run return, with work left.
    assert!(lp.run(RunMode::Default).unwrap());
    t.stop().unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn now_and_update_time() {
    let lp = Loop::new().unwrap();
    let t0 = lp.now();
    std::thread::sleep(Duration::from_millis(20));
    // The cached time does not move by itself.
    assert_eq!(lp.now(), t0);
    lp.update_time();
    let t1 = lp.now();
    assert!(t1 > t0, "{t1} <= {t0}");
    // Running an iteration updates it too.
    std::thread::sleep(Duration::from_millis(20));
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::ZERO, Duration::ZERO, |_| ()).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(lp.now() > t1);
}

#[test]
fn backend_fd_and_timeout() {
    let lp = Loop::new().unwrap();
    let fd = lp.backend_fd().expect("epoll fd");
    assert!(fd >= 0);
    // Nothing to wait for: libuv polls without blocking.
    assert_eq!(lp.backend_timeout(), Some(Duration::ZERO));
    let t = Timer::new(&lp).unwrap();
    t.start(HOUR, Duration::ZERO, |_| ()).unwrap();
    // libuv answers 0 until an iteration has registered its watchers with epoll.
    lp.run(RunMode::NoWait).unwrap();
    t.start(HOUR, Duration::ZERO, |_| ()).unwrap();
    // The loop's time has not moved since the start: exactly an hour.
    assert_eq!(lp.backend_timeout(), Some(HOUR));
    t.stop().unwrap();
    // Queued tasks keep the idle handle active: no blocking.
    let _task = lp.spawn_local(async {});
    assert_eq!(lp.backend_timeout(), Some(Duration::ZERO));
    lp.run(RunMode::Default).unwrap();
}

/// A handle opened behind uvio's back, through `ffi`: an active, referenced async handle with
/// no timer makes libuv wait forever; dropping the loop must still close it (and not hang).
#[test]
fn foreign_handle_blocks_forever_and_is_closed_by_drop() {
    unsafe extern "C" fn noop(_h: *mut ffi::uv_async_t) {}
    let lp = Loop::new().unwrap();
    let raw: Box<MaybeUninit<ffi::uv_async_t>> = Box::new(MaybeUninit::zeroed());
    let raw = Box::into_raw(raw).cast::<ffi::uv_async_t>();
    // SAFETY: `raw` is writable memory for a uv_async_t that outlives the loop (freed below,
    // after the loop is dropped and closed).
    let ret = unsafe { ffi::uv_async_init(lp.as_raw(), raw, Some(noop)) };
    assert_eq!(ret, 0);
    assert!(lp.alive());
    assert!(lp.run(RunMode::NoWait).unwrap());
    assert_eq!(lp.backend_timeout(), None, "wait forever");
    drop(lp);
    // SAFETY: the loop is closed, so libuv no longer references the handle.
    drop(unsafe { Box::from_raw(raw.cast::<MaybeUninit<ffi::uv_async_t>>()) });
}

#[test]
fn metrics_count_iterations() {
    let lp = Loop::new().unwrap();
    if !common::libuv_at_least((1, 45, 0)) {
        // uv_metrics_info is libuv 1.45's.
        assert!(common::is_unsupported(&lp.metrics()));
        return;
    }
    let m0 = lp.metrics().unwrap();
    assert_eq!(m0.loop_count, 0);
    // An empty loop does not iterate.
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(lp.metrics().unwrap().loop_count, 0);
    let t = Timer::new(&lp).unwrap();
    t.start(HOUR, Duration::ZERO, |_| ()).unwrap();
    for _ in 0..3 {
        lp.run(RunMode::NoWait).unwrap();
    }
    assert_eq!(lp.metrics().unwrap().loop_count, 3);
    let s = format!("{:?}", lp.metrics().unwrap());
    assert!(s.starts_with("Metrics { loop_count: 3"), "{s}");
}

#[test]
fn idle_time_is_measured_when_enabled() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_millis(10), Duration::ZERO, |_| ())
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        lp.idle_time(),
        Duration::ZERO,
        "not measured unless enabled"
    );
    lp.measure_idle_time().unwrap();
    // The poll has to actually wait for some idle time to count; on a loaded machine the
    // timer may already be due when the loop polls, so try a few times.
    for _ in 0..50 {
        lp.update_time();
        t.start(Duration::from_millis(10), Duration::ZERO, |_| ())
            .unwrap();
        lp.run(RunMode::Default).unwrap();
        if lp.idle_time() > Duration::ZERO {
            break;
        }
    }
    assert!(lp.idle_time() > Duration::ZERO);
}

#[test]
#[cfg(target_os = "linux")]
fn block_signal_accepts_only_sigprof() {
    const SIGINT: i32 = 2;
    const SIGPROF: i32 = 27;
    let lp = Loop::new().unwrap();
    lp.block_signal(SIGPROF).unwrap();
    assert_eq!(lp.block_signal(SIGINT).unwrap_err().name(), "EINVAL");
    // The loop still runs.
    let t = Timer::new(&lp).unwrap();
    t.start(MS, Duration::ZERO, |_| ()).unwrap();
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn nested_run_and_block_on_are_ebusy() {
    let lp = Rc::new(Loop::new().unwrap());
    let results = Rc::new(RefCell::new(Vec::new()));
    let t = Timer::new(&lp).unwrap();
    let (l, r) = (lp.clone(), results.clone());
    t.start(MS, Duration::ZERO, move |t| {
        for mode in [RunMode::Default, RunMode::Once, RunMode::NoWait] {
            r.borrow_mut().push(l.run(mode).unwrap_err().name());
        }
        r.borrow_mut()
            .push(l.block_on(async {}).unwrap_err().name());
        // Debug shows it is running.
        assert!(format!("{l:?}").contains("running: true"));
        // Close, which drops this callback and with it the Rc<Loop>.
        t.close().unwrap();
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*results.borrow(), ["EBUSY", "EBUSY", "EBUSY", "EBUSY"]);
    // Inside block_on (a task, and the main future) the same holds.
    let l = lp.clone();
    let got = lp
        .block_on(async move {
            let l2 = l.clone();
            let inner = uvio::spawn_local(async move { l2.run(RunMode::NoWait).unwrap_err() });
            (l.run(RunMode::NoWait).unwrap_err(), inner.await.unwrap())
        })
        .unwrap();
    assert_eq!((got.0.name(), got.1.name()), ("EBUSY", "EBUSY"));
    assert_eq!(Rc::strong_count(&lp), 1, "callbacks let go of the loop");
    // And it is not stuck in "running".
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn drop_with_active_handles_and_work_closes_everything() {
    let lp = Loop::new().unwrap();
    let closed = Rc::new(Cell::new(0));
    let (guard, dropped) = DropCount::new();
    let mut keep = Vec::new();
    for i in 0..10u64 {
        let t = Timer::new(&lp).unwrap();
        let g = guard.another();
        t.start(Duration::from_millis(i), MS, move |_| {
            let _keep = &g;
        })
        .unwrap();
        let c = closed.clone();
        t.close_with(move || c.set(c.get() + 1));
        // Half are dropped by the user right away, half outlive the loop.
        if i % 2 == 0 {
            keep.push(t);
        }
    }
    let opened_open = Timer::new(&lp).unwrap();
    let c = closed.clone();
    opened_open.start(HOUR, HOUR, |_| ()).unwrap();
    let g2 = guard.another();
    opened_open
        .start(HOUR, HOUR, move |_| {
            let _keep = &g2;
        })
        .unwrap();
    // Work in flight: its callback runs during the shutdown, nothing leaks.
    let work_done = Rc::new(Cell::new(false));
    let wd = work_done.clone();
    let (tx, rx) = mpsc::channel::<()>();
    let _w = uvio::queue_work(
        &lp,
        move || {
            let _ = rx.recv_timeout(Duration::from_millis(20));
        },
        move |r| {
            r.unwrap();
            wd.set(true);
        },
    )
    .unwrap();
    // A pending task holding a handle.
    let task_timer = Timer::new(&lp).unwrap();
    let g3 = guard.another();
    let _task = lp.spawn_local(async move {
        let _keep = (task_timer, g3);
        uvio::time::sleep(HOUR).await;
    });
    lp.run(RunMode::NoWait).unwrap();
    drop(guard);
    let c2 = c.clone();
    opened_open.close_with(move || c2.set(c2.get() + 100));
    drop(lp);
    drop(tx);
    assert_eq!(closed.get(), 110, "every close callback ran");
    assert_eq!(dropped.get(), 13, "every callback and future was dropped");
    assert!(work_done.get());
    for t in &keep {
        assert!(t.is_closing());
        assert_eq!(t.start(MS, MS, |_| ()).unwrap_err().name(), "EBADF");
    }
    assert_eq!(opened_open.stop().unwrap_err().name(), "EBADF");
}

#[test]
fn handles_outliving_the_loop_report_ebadf() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let idle_timer = Timer::new(&lp).unwrap();
    t.start(HOUR, Duration::ZERO, |_| ()).unwrap();
    let h = lp.handle();
    drop(lp);
    for e in [
        t.start(MS, MS, |_| ()).unwrap_err(),
        t.stop().unwrap_err(),
        t.again().unwrap_err(),
        t.close().unwrap_err(),
        idle_timer.close().unwrap_err(),
        t.set_repeat(MS).unwrap_err(),
    ] {
        assert_eq!(e.name(), "EBADF");
    }
    assert!(!t.is_active());
    assert!(t.is_closing());
    assert!(t.loop_handle().is_closed());
    assert_eq!(format!("{t:?}"), "Timer { closed: true }");
    drop(t);
    drop(idle_timer);
    drop(h);
}

#[test]
fn loop_handle_outliving_the_loop_is_harmless() {
    let lp = Loop::new().unwrap();
    lp.measure_idle_time().unwrap();
    let h = lp.handle();
    let h2 = h.clone();
    drop(lp);
    assert!(h.is_closed());
    assert!(!h.alive());
    assert_eq!(h.backend_fd(), None);
    assert_eq!(h.metrics().unwrap_err().name(), "EBADF");
    assert_eq!(Timer::new(&h).unwrap_err().name(), "EBADF");
    // Reading the idle time of a closed loop must not touch freed libuv state.
    assert_eq!(h.idle_time(), Duration::ZERO);
    h.stop();
    h.update_time();
    let _ = h.now();
    let _ = h.backend_timeout();
    let j = h.spawn_local(async { 1 });
    assert!(j.is_finished());
    let e = uvio::queue_work(&h, || 1, |_| ()).unwrap_err();
    assert_eq!(e.name(), "EBADF");
    h.next_tick(|| panic!("a closed loop never runs this"));
    assert!(format!("{h:?}").contains("closed: true"));
    drop(h);
    drop(h2);
}

#[test]
fn close_twice_is_ebadf() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.close().unwrap();
    assert_eq!(t.close().unwrap_err().name(), "EBADF");
    lp.run(RunMode::Default).unwrap();
    assert_eq!(t.close().unwrap_err().name(), "EBADF");
    assert_eq!(lp.handle_count(), 0, "the close callback ran");
    drop(t);
    // Dropping a closed handle does not close it again.
    let n = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    let n2 = n.clone();
    t.close_with(move || n2.set(n2.get() + 1));
    assert_eq!(t.close().unwrap_err().name(), "EBADF");
    drop(t);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(n.get(), 1);
    assert_eq!(lp.handle_count(), 0);
}

#[test]
fn panic_in_timer_callback_is_resumed_by_run() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let other = Timer::new(&lp).unwrap();
    let n = Rc::new(Cell::new(0));
    let n2 = n.clone();
    other.start(MS, MS, move |_| n2.set(n2.get() + 1)).unwrap();
    t.start(Duration::ZERO, Duration::ZERO, |_| panic!("boom"))
        .unwrap();
    let p = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default))).unwrap_err();
    assert_eq!(panic_message(&*p), "boom");
    // The loop is usable afterwards, and the panic is not resumed twice.
    let seen = n.get();
    let n3 = n.clone();
    other
        .start(MS, MS, move |t| {
            n3.set(n3.get() + 1);
            if n3.get() >= seen + 3 {
                t.stop().unwrap();
            }
        })
        .unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(n.get(), seen + 3);
    // A timer whose callback panicked can be started again.
    let ok = Rc::new(Cell::new(false));
    let ok2 = ok.clone();
    t.start(MS, Duration::ZERO, move |_| ok2.set(true)).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(ok.get());
    drop(lp);
}

#[test]
fn first_of_two_panics_wins() {
    let lp = Loop::new().unwrap();
    let a = Timer::new(&lp).unwrap();
    let b = Timer::new(&lp).unwrap();
    a.start(MS, Duration::ZERO, |_| panic!("first")).unwrap();
    b.start(MS, Duration::ZERO, |_| panic!("second")).unwrap();
    let p = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default))).unwrap_err();
    assert_eq!(panic_message(&*p), "first");
    // The second was dropped, not kept for later.
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn panic_then_drop_is_clean() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(MS, MS, |_| panic!("repeating boom")).unwrap();
    let p = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default))).unwrap_err();
    assert_eq!(panic_message(&*p), "repeating boom");
    // Dropped with the (callback-less) timer still active and the stop flag consumed.
    drop(lp);
    assert!(t.is_closing());
}

#[test]
fn current_loop_inside_callbacks() {
    assert!(uvio::LoopHandle::current().is_none());
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let seen = Rc::new(Cell::new(false));
    let s = seen.clone();
    let raw = lp.as_raw();
    t.start(MS, Duration::ZERO, move |_| {
        let cur = uvio::LoopHandle::current().expect("inside a callback");
        s.set(cur.as_raw() == raw);
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(seen.get());
    assert!(uvio::LoopHandle::current().is_none());
}

#[test]
fn next_tick_runs_after_the_callback_before_the_next() {
    let lp = Loop::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let a = Timer::new(&lp).unwrap();
    let b = Timer::new(&lp).unwrap();
    let (o1, o2) = (order.clone(), order.clone());
    let l = lp.handle();
    a.start(MS, Duration::ZERO, move |_| {
        let o = o1.clone();
        l.next_tick(move || o.borrow_mut().push("tick"));
        o1.borrow_mut().push("a");
    })
    .unwrap();
    b.start(MS, Duration::ZERO, move |_| o2.borrow_mut().push("b"))
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*order.borrow(), ["a", "tick", "b"]);
}

#[test]
fn wake_from_thread_during_drop_is_harmless() {
    // A thread keeps waking a task while the loop is dropped under it.
    let lp = Loop::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let _task = lp.spawn_local(async move {
        let w = std::future::poll_fn(|cx| std::task::Poll::Ready(cx.waker().clone())).await;
        tx.send(w).unwrap();
        std::future::pending::<()>().await;
    });
    lp.run(RunMode::NoWait).unwrap();
    let w = rx.recv().unwrap();
    let s = stop.clone();
    let th = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            w.wake_by_ref();
            std::thread::yield_now();
        }
        w.wake();
    });
    lp.run(RunMode::NoWait).unwrap();
    drop(lp);
    stop.store(true, Ordering::Relaxed);
    th.join().unwrap();
}

#[test]
fn now_after_close_is_the_closing_time() {
    let lp = Loop::new().unwrap();
    let h = lp.handle();
    let before = h.now();
    drop(lp);
    // Not whatever libuv left in the closed loop's memory.
    let after = h.now();
    assert!(after >= before && after != u64::MAX, "{before} -> {after}");
    assert_eq!(h.now(), after);
}

#[test]
fn close_with_on_a_closed_handle_never_runs_on_the_callers_stack() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.close().unwrap();
    lp.run(RunMode::Default).unwrap();
    let state = Rc::new(RefCell::new(0));
    let s = state.clone();
    {
        // The caller holds a borrow that `f` also needs: running `f` here would panic.
        let mut held = state.borrow_mut();
        t.close_with(move || *s.borrow_mut() += 1);
        *held += 10;
    }
    assert_eq!(*state.borrow(), 10);
    assert!(lp.alive(), "the deferred call is pending work");
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*state.borrow(), 11);
    // The `closed()` future of a closed handle is ready at once.
    lp.block_on(t.closed()).unwrap();
    // With the loop gone nothing can run from it: `f` is dropped uncalled (running it
    // here would run it on the caller's stack).
    drop(lp);
    let s = state.clone();
    let (dropped, count) = DropCount::new();
    t.close_with(move || {
        let _d = &dropped;
        *s.borrow_mut() += 100;
    });
    assert_eq!(*state.borrow(), 11);
    assert_eq!(count.get(), 1, "dropped uncalled");
    // On a loop that is being dropped: runs during the drop.
    let lp = Loop::new().unwrap();
    let t2 = Timer::new(&lp).unwrap();
    let s = state.clone();
    t2.close_with(move || *s.borrow_mut() += 1000);
    let u = Timer::new(&lp).unwrap();
    u.close().unwrap();
    lp.run(RunMode::Default).unwrap();
    let s = state.clone();
    u.close_with(move || *s.borrow_mut() += 10000);
    drop(lp);
    assert_eq!(*state.borrow(), 11011);
}

#[test]
fn a_panicking_callback_stays_installed() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let n = Rc::new(Cell::new(0));
    let n2 = n.clone();
    t.start(MS, MS, move |t| {
        n2.set(n2.get() + 1);
        match n2.get() {
            1 => panic!("first call"),
            3 => t.stop().unwrap(),
            _ => {}
        }
    })
    .unwrap();
    let p = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default))).unwrap_err();
    assert_eq!(panic_message(&*p), "first call");
    assert!(t.is_active());
    // The same callback keeps running (bounded, so a lost callback fails instead of hanging).
    for _ in 0..10_000 {
        if !lp.run(RunMode::Once).unwrap() {
            break;
        }
    }
    assert_eq!(n.get(), 3);
    assert!(!t.is_active());
}

#[test]
fn panics_in_close_callbacks_skip_nothing() {
    let lp = Loop::new().unwrap();
    let (guard, dropped) = DropCount::new();
    let a = Timer::new(&lp).unwrap();
    let b = Timer::new(&lp).unwrap();
    a.start(HOUR, Duration::ZERO, move |_| {
        let _keep = &guard;
    })
    .unwrap();
    a.close_with(|| panic!("close boom"));
    let later = Rc::new(Cell::new(false));
    let l = later.clone();
    b.close_with(move || l.set(true));
    let all = Rc::new(Cell::new(false));
    let al = all.clone();
    lp.close_all(move || al.set(true));
    let p = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default))).unwrap_err();
    assert_eq!(panic_message(&*p), "close boom");
    lp.run(RunMode::Default).unwrap();
    assert_eq!(dropped.get(), 1);
    assert!(later.get());
    assert!(all.get(), "close_all's callback still ran");
}

/// A loop owned by a "host" (here: this test, through `ffi`), borrowed by uvio.
struct HostLoop(*mut ffi::uv_loop_t);

impl HostLoop {
    fn new() -> HostLoop {
        let raw = Box::into_raw(Box::new(MaybeUninit::<ffi::uv_loop_t>::zeroed()));
        let raw = raw.cast::<ffi::uv_loop_t>();
        // SAFETY: writable memory for a loop, freed in Drop after uv_loop_close.
        assert_eq!(unsafe { ffi::uv_loop_init(raw) }, 0);
        HostLoop(raw)
    }

    fn run(&self) -> i32 {
        // SAFETY: an initialised loop, run on this thread only.
        unsafe { ffi::uv_run(self.0, ffi::UV_RUN_DEFAULT) }
    }
}

impl Drop for HostLoop {
    fn drop(&mut self) {
        // SAFETY: initialised; closing it checks that nothing is left on it.
        let ret = unsafe { ffi::uv_loop_close(self.0) };
        assert_eq!(ret, 0, "handles left open");
        // SAFETY: allocated in `new`, no longer used by libuv.
        drop(unsafe { Box::from_raw(self.0.cast::<MaybeUninit<ffi::uv_loop_t>>()) });
    }
}

#[test]
fn borrowed_loop_is_run_by_its_host() {
    // SAFETY: null is refused before anything is read.
    let null = unsafe { Loop::from_raw(std::ptr::null_mut()) };
    assert_eq!(null.unwrap_err().name(), "EINVAL");
    let host = HostLoop::new();
    // SAFETY: the host loop outlives every uvio handle on it (it is closed last, below).
    let lp = unsafe { Loop::from_raw(host.0) }.unwrap();
    assert_eq!(lp.run(RunMode::Default).unwrap_err().name(), "EPERM");
    assert_eq!(lp.block_on(async {}).unwrap_err().name(), "EPERM");
    assert_eq!(lp.measure_idle_time().unwrap_err().name(), "EPERM");
    let n = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    let n2 = n.clone();
    t.start(MS, Duration::ZERO, move |_| {
        n2.set(n2.get() + 1);
        // Tasks work inside the host's loop too.
        let n3 = n2.clone();
        drop(uvio::spawn_local(async move {
            uvio::time::sleep(MS).await;
            n3.set(n3.get() + 10);
        }));
    })
    .unwrap();
    host.run();
    assert_eq!(n.get(), 11);
    // A panic has no run to resume from: the embedder takes it.
    t.start(MS, Duration::ZERO, |_| panic!("host boom"))
        .unwrap();
    host.run();
    assert_eq!(panic_message(&*lp.take_panic().unwrap()), "host boom");
    assert!(lp.take_panic().is_none());
    let h = lp.handle();
    let kept = Timer::new(&lp).unwrap();
    kept.start(HOUR, HOUR, |_| ()).unwrap();
    drop(lp);
    // The host's next run finishes the closes; then it can close its loop.
    assert_eq!(host.run(), 0);
    drop(host);
    // Everything that outlived the host's loop stays safe to use.
    assert!(h.is_closed());
    let _ = h.now();
    assert_eq!(h.idle_time(), Duration::ZERO);
    assert_eq!(kept.stop().unwrap_err().name(), "EBADF");
    assert_eq!(t.start(MS, MS, |_| ()).unwrap_err().name(), "EBADF");
    drop((t, kept, h));
}

#[test]
fn handle_owned_by_its_own_callback() {
    // The callback holds the last owner of its timer: the close callback drops the callback,
    // which drops the owner, while the close callback is still running.
    let lp = Loop::new().unwrap();
    let t = Rc::new(Timer::new(&lp).unwrap());
    let t2 = t.clone();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    t.start(MS, Duration::ZERO, move |_| {
        let _own = &t2;
        f.set(true);
    })
    .unwrap();
    let closed = Rc::new(Cell::new(false));
    let c = closed.clone();
    t.close_with(move || c.set(true));
    drop(t);
    lp.run(RunMode::Default).unwrap();
    assert!(closed.get());
    // Same with the loop's shutdown doing the close.
    let t = Rc::new(Timer::new(&lp).unwrap());
    let t2 = t.clone();
    t.start(HOUR, Duration::ZERO, move |_| {
        let _own = &t2;
    })
    .unwrap();
    drop(t);
    drop(lp);
}

#[test]
fn close_all_twice_calls_both() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(HOUR, Duration::ZERO, |_| ()).unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let (o1, o2) = (order.clone(), order.clone());
    lp.close_all(move || o1.borrow_mut().push(1));
    lp.close_all(move || o2.borrow_mut().push(2));
    assert!(order.borrow().is_empty(), "the timer is still closing");
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*order.borrow(), [1, 2]);
    assert!(t.is_closing());
}
