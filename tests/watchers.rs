//! Idle, prepare, check and async handles: when they run, and their lifecycle.
mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use uvio::{AsyncHandle, Check, Idle, Loop, LoopHandle, Prepare, RunMode, Timer};

type Log = Rc<RefCell<Vec<&'static str>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(l: &Log, what: &'static str) -> impl FnMut() + 'static {
    let l = l.clone();
    move || l.borrow_mut().push(what)
}

#[test]
fn idle_runs_every_iteration_and_keeps_the_loop_from_blocking() {
    let lp = Loop::new().unwrap();
    // Without the idle watcher, one `Once` iteration would block for an hour on this timer.
    let far = Timer::new(&lp).unwrap();
    far.start(Duration::from_secs(3600), Duration::ZERO, |_| {})
        .unwrap();
    let idle = Idle::new(&lp).unwrap();
    let n = Rc::new(Cell::new(0));
    let seen = n.clone();
    idle.start(move |_| seen.set(seen.get() + 1)).unwrap();
    assert!(idle.is_active());
    assert_eq!(lp.backend_timeout(), Some(Duration::ZERO));
    for i in 1..=5 {
        assert!(lp.run(RunMode::Once).unwrap());
        assert_eq!(n.get(), i);
    }
    idle.stop().unwrap();
    assert!(!idle.is_active());
    assert_ne!(lp.backend_timeout(), Some(Duration::ZERO));
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(n.get(), 5, "a stopped idle watcher does not run");
}

#[test]
fn order_within_an_iteration_is_idle_prepare_poll_check() {
    let lp = Loop::new().unwrap();
    let l = log();
    let (idle, prepare, check) = (
        Idle::new(&lp).unwrap(),
        Prepare::new(&lp).unwrap(),
        Check::new(&lp).unwrap(),
    );
    // Start them in reverse order: the phase, not the start order, decides.
    let mut f = push(&l, "check");
    check.start(move |_| f()).unwrap();
    let mut f = push(&l, "prepare");
    prepare.start(move |_| f()).unwrap();
    let mut f = push(&l, "idle");
    idle.start(move |_| f()).unwrap();
    for _ in 0..3 {
        lp.run(RunMode::Once).unwrap();
    }
    assert_eq!(
        *l.borrow(),
        [
            "idle", "prepare", "check", "idle", "prepare", "check", "idle", "prepare", "check"
        ]
    );
}

#[test]
fn prepare_runs_before_the_poll_and_check_after_it() {
    let lp = Loop::new().unwrap();
    let l = log();
    let prepare = Prepare::new(&lp).unwrap();
    let check = Check::new(&lp).unwrap();
    let mut f = push(&l, "prepare");
    prepare
        .start(move |p| {
            f();
            p.stop().unwrap();
        })
        .unwrap();
    let mut f = push(&l, "check");
    check
        .start(move |c| {
            f();
            c.stop().unwrap();
        })
        .unwrap();
    // The async wake-up is I/O: it is delivered by the poll.
    let mut f = push(&l, "io");
    let a = AsyncHandle::new(&lp, move |h| {
        f();
        h.close().unwrap();
    })
    .unwrap();
    a.sender().send().unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*l.borrow(), ["prepare", "io", "check"]);
}

#[test]
fn watcher_callback_can_stop_restart_and_replace_itself() {
    let lp = Loop::new().unwrap();
    let l = log();
    let check = Check::new(&lp).unwrap();
    let l2 = l.clone();
    check
        .start(move |c| {
            l2.borrow_mut().push("first");
            let l3 = l2.clone();
            c.start(move |c| {
                l3.borrow_mut().push("second");
                c.stop().unwrap();
            })
            .unwrap();
        })
        .unwrap();
    let idle = Idle::new(&lp).unwrap();
    idle.start(|_| {}).unwrap();
    for _ in 0..4 {
        lp.run(RunMode::NoWait).unwrap();
    }
    assert_eq!(*l.borrow(), ["first", "second"]);
}

#[test]
fn tick_futures_wait_one_iteration_each() {
    let lp = Loop::new().unwrap();
    // A check watcher runs after the poll: something must end the poll each iteration (a
    // running idle watcher makes it non-blocking).
    let idle = Idle::new(&lp).unwrap();
    let idle_runs = Rc::new(Cell::new(0));
    let ir = idle_runs.clone();
    idle.start(move |_| ir.set(ir.get() + 1)).unwrap();
    let check = Rc::new(Check::new(&lp).unwrap());
    let c = check.clone();
    let n = lp
        .block_on(async move {
            let mut n = 0;
            for _ in 0..5 {
                c.tick().await.unwrap();
                n += 1;
            }
            n
        })
        .unwrap();
    assert_eq!(n, 5);
    assert!(
        idle_runs.get() >= 5,
        "one check tick per loop iteration at most"
    );
    assert!(!check.is_active(), "the watcher is stopped after the tick");
    // Idle ticks need no help.
    idle.stop().unwrap();
    let idle = Rc::new(idle);
    let i = idle.clone();
    lp.block_on(async move {
        for _ in 0..3 {
            i.tick().await.unwrap();
        }
    })
    .unwrap();
    assert!(!idle.is_active());
}

#[test]
fn tick_on_a_closed_watcher_is_ebadf() {
    let lp = Loop::new().unwrap();
    let idle = Idle::new(&lp).unwrap();
    idle.close().unwrap();
    let r = lp.block_on(idle.tick()).unwrap();
    assert_eq!(r.unwrap_err().name(), "EBADF");
}

/// A waker that records whether it was woken.
struct Flag(AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn flag_waker() -> (Waker, Arc<Flag>) {
    let f = Arc::new(Flag(AtomicBool::new(false)));
    (Waker::from(f.clone()), f)
}

#[test]
fn closing_a_watcher_wakes_its_waiting_tick() {
    let lp = Loop::new().unwrap();
    let prepare = Prepare::new(&lp).unwrap();
    let (waker, woken) = flag_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(prepare.tick());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(prepare.is_active());
    prepare.close().unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert!(
        woken.0.load(Ordering::SeqCst),
        "the close callback woke the waiter"
    );
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Err(e)) => assert_eq!(e.name(), "EBADF"),
        other => panic!("expected EBADF, got {other:?}"),
    }
}

// ----- async -----

#[test]
fn async_sends_from_four_threads_are_all_observed() {
    let lp = Loop::new().unwrap();
    let per_thread = common::scale(20_000);
    let total = 4 * per_thread;
    let sent = Arc::new(AtomicUsize::new(0));
    let calls = Rc::new(Cell::new(0usize));
    let seen_at_end = Rc::new(Cell::new(0usize));
    let (c, s, end) = (calls.clone(), sent.clone(), seen_at_end.clone());
    let handle = AsyncHandle::new(&lp, move |h| {
        c.set(c.get() + 1);
        let now = s.load(Ordering::SeqCst);
        if now == total {
            // The last count is made just before its send: that send may still be on its
            // way, so stop the loop rather than close under it (its send must succeed).
            end.set(now);
            h.loop_handle().stop();
        }
    })
    .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let tx = handle.sender();
            let sent = sent.clone();
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    sent.fetch_add(1, Ordering::SeqCst);
                    tx.send().unwrap();
                }
            })
        })
        .collect();
    assert!(lp.run(RunMode::Default).unwrap(), "stopped by the callback");
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(seen_at_end.get(), total, "the last send was observed");
    handle.close().unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(calls.get() >= 1);
    assert!(
        calls.get() <= total,
        "sends are coalesced, never multiplied"
    );
    assert!(handle.is_closing());
    assert_eq!(handle.sender().send().unwrap_err().name(), "EBADF");
}

#[test]
fn send_after_close_is_ebadf_and_harmless() {
    let lp = Loop::new().unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let h = AsyncHandle::new(&lp, move |_| c.set(c.get() + 1)).unwrap();
    let tx = h.sender();
    h.close().unwrap();
    // Between uv_close and the close callback the send is still accepted by libuv, but the
    // callback never runs again.
    let _ = tx.send();
    lp.run(RunMode::Default).unwrap();
    assert!(tx.is_closed());
    assert_eq!(tx.send().unwrap_err().name(), "EBADF");
    assert_eq!(h.send().unwrap_err().name(), "EBADF");
    assert_eq!(calls.get(), 0);
    // From other threads, after the loop itself is gone.
    drop(h);
    drop(lp);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let tx = tx.clone();
            std::thread::spawn(move || (0..100).all(|_| tx.send().is_err()))
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap());
    }
    assert!(format!("{tx:?}").contains("closed: true"));
}

#[test]
fn senders_racing_with_close_never_touch_freed_memory() {
    for _ in 0..common::scale(50) {
        let lp = Loop::new().unwrap();
        let h = AsyncHandle::new(&lp, |_| {}).unwrap();
        let stop = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let tx = h.sender();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while stop.load(Ordering::SeqCst) == 0 {
                        let _ = tx.send();
                    }
                    tx.send().is_err()
                })
            })
            .collect();
        lp.run(RunMode::NoWait).unwrap();
        drop(h);
        drop(lp);
        stop.store(1, Ordering::SeqCst);
        for t in threads {
            assert!(t.join().unwrap(), "after the loop is gone every send fails");
        }
    }
}

#[test]
fn async_stream_yields_wakeups_and_ends_on_close() {
    let lp = Loop::new().unwrap();
    let (mut wakeups, tx) = AsyncHandle::stream(&lp).unwrap();
    let tx2 = tx.clone();
    let got = lp
        .block_on(async {
            let mut n = 0;
            for _ in 0..3 {
                let tx = tx2.clone();
                std::thread::spawn(move || tx.send().unwrap());
                assert_eq!(wakeups.next().await, Some(()));
                n += 1;
            }
            n
        })
        .unwrap();
    assert_eq!(got, 3);
    // Closing while the stream waits wakes it, and it ends.
    let (waker, woken) = flag_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(Pin::new(&mut wakeups).poll_next(&mut cx).is_pending());
    wakeups.handle().close().unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert!(woken.0.load(Ordering::SeqCst));
    assert_eq!(Pin::new(&mut wakeups).poll_next(&mut cx), Poll::Ready(None));
    assert_eq!(tx.send().unwrap_err().name(), "EBADF");
}

#[test]
fn async_stream_polled_once_then_dropped() {
    let lp = Loop::new().unwrap();
    lp.block_on(async {}).unwrap();
    let baseline = lp.handle_count();
    let (mut wakeups, tx) = AsyncHandle::stream(&lp).unwrap();
    lp.block_on(async {
        assert!(wakeups.next().now_or_never().is_none());
    })
    .unwrap();
    drop(wakeups);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(tx.send().unwrap_err().name(), "EBADF");
    assert_eq!(lp.handle_count(), baseline);
}

#[test]
fn unrefd_async_handle_does_not_keep_the_loop_alive() {
    let lp = Loop::new().unwrap();
    let h = AsyncHandle::new(&lp, |_| {}).unwrap();
    assert!(h.has_ref());
    assert!(lp.alive());
    h.unref();
    assert!(!h.has_ref());
    assert!(!lp.run(RunMode::Default).unwrap());
}

// ----- lifecycle, for every type -----

/// What the lifecycle tests need from each handle type.
trait Subject: Sized + 'static {
    /// A handle that does nothing yet (never started; for async: never sent to).
    fn quiet(lp: &LoopHandle) -> uvio::Result<Self>;
    /// A handle whose callback will run on the next iteration.
    fn armed(lp: &LoopHandle, cb: impl FnMut(&Self) + 'static) -> uvio::Result<Self>;
    /// Starts (or wakes) again; `EBADF` when closed.
    fn restart(&self) -> uvio::Result<()>;
    fn close(&self) -> uvio::Result<()>;
    fn is_closing(&self) -> bool;
    /// Polls this type's future once and drops it.
    fn poll_future_once(&self);
}

macro_rules! watcher_subject {
    ($ty:ident) => {
        impl Subject for $ty {
            fn quiet(lp: &LoopHandle) -> uvio::Result<Self> {
                $ty::new(lp)
            }
            fn armed(lp: &LoopHandle, cb: impl FnMut(&Self) + 'static) -> uvio::Result<Self> {
                let w = $ty::new(lp)?;
                w.start(cb)?;
                Ok(w)
            }
            fn restart(&self) -> uvio::Result<()> {
                self.start(|_| {})
            }
            fn close(&self) -> uvio::Result<()> {
                $ty::close(self)
            }
            fn is_closing(&self) -> bool {
                $ty::is_closing(self)
            }
            fn poll_future_once(&self) {
                let lp = self.loop_handle();
                assert!(self.tick().now_or_never().is_none());
                // Dropping the pending tick stopped the watcher again.
                assert!(!self.is_active());
                let _ = lp;
            }
        }
    };
}
watcher_subject!(Idle);
watcher_subject!(Prepare);
watcher_subject!(Check);

impl Subject for AsyncHandle {
    fn quiet(lp: &LoopHandle) -> uvio::Result<Self> {
        let h = AsyncHandle::new(lp, |_| {})?;
        // An async handle is active from creation; a quiet one must let the loop end.
        h.unref();
        Ok(h)
    }
    fn armed(lp: &LoopHandle, cb: impl FnMut(&Self) + 'static) -> uvio::Result<Self> {
        let h = AsyncHandle::new(lp, cb)?;
        h.send()?;
        Ok(h)
    }
    fn restart(&self) -> uvio::Result<()> {
        self.send()
    }
    fn close(&self) -> uvio::Result<()> {
        AsyncHandle::close(self)
    }
    fn is_closing(&self) -> bool {
        AsyncHandle::is_closing(self)
    }
    fn poll_future_once(&self) {
        let lp = self.loop_handle();
        let (mut s, tx) = AsyncHandle::stream(&lp).unwrap();
        s.handle().unref();
        assert!(s.next().now_or_never().is_none());
        drop(s);
        lp.update_time();
        let _ = tx;
    }
}

fn drop_before_start<S: Subject>() {
    let lp = Loop::new().unwrap();
    let h = S::quiet(&lp).unwrap();
    drop(h);
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(lp.handle_count(), 0);
}

fn drop_inside_own_callback<S: Subject>() {
    let lp = Loop::new().unwrap();
    let slot: Rc<RefCell<Option<S>>> = Rc::new(RefCell::new(None));
    let calls = Rc::new(Cell::new(0));
    let (s2, c2) = (slot.clone(), calls.clone());
    let h = S::armed(&lp, move |_| {
        c2.set(c2.get() + 1);
        let me = s2.borrow_mut().take();
        drop(me);
    })
    .unwrap();
    *slot.borrow_mut() = Some(h);
    for _ in 0..3 {
        lp.run(RunMode::NoWait).unwrap();
    }
    assert_eq!(calls.get(), 1);
    assert!(slot.borrow().is_none());
    assert_eq!(lp.handle_count(), 0);
}

fn close_twice<S: Subject>() {
    let lp = Loop::new().unwrap();
    let h = S::quiet(&lp).unwrap();
    h.close().unwrap();
    assert_eq!(h.close().unwrap_err().name(), "EBADF");
    lp.run(RunMode::Default).unwrap();
    assert_eq!(h.close().unwrap_err().name(), "EBADF");
    assert_eq!(h.restart().unwrap_err().name(), "EBADF");
}

fn loop_dropped_with_handle_open<S: Subject>() {
    let lp = Loop::new().unwrap();
    let h = S::armed(&lp, |_| {}).unwrap();
    let quiet = S::quiet(&lp).unwrap();
    drop(lp);
    for h in [&h, &quiet] {
        assert!(h.is_closing());
        assert_eq!(h.restart().unwrap_err().name(), "EBADF");
        assert_eq!(h.close().unwrap_err().name(), "EBADF");
    }
}

fn owner_kept_by_own_callback_then_loop_dropped<S: Subject>() {
    // The callback owns its own handle (a cycle); the loop's shutdown breaks it, dropping the
    // owner inside the close callback.
    let lp = Loop::new().unwrap();
    let slot: Rc<RefCell<Option<S>>> = Rc::new(RefCell::new(None));
    let s2 = slot.clone();
    let h = S::armed(&lp, move |_| {
        let _keep = &s2;
    })
    .unwrap();
    *slot.borrow_mut() = Some(h);
    drop(slot);
    drop(lp);
}

fn future_polled_once_then_dropped<S: Subject>() {
    let lp = Loop::new().unwrap();
    // The executor's own handles exist from the first block_on on.
    lp.block_on(async {}).unwrap();
    let baseline = lp.handle_count();
    let h = S::quiet(&lp).unwrap();
    lp.block_on(async { h.poll_future_once() }).unwrap();
    lp.run(RunMode::Default).unwrap();
    drop(h);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), baseline);
}

fn panicking_callback<S: Subject>() {
    let lp = Loop::new().unwrap();
    let h = S::armed(&lp, |_| panic!("boom in callback")).unwrap();
    // NoWait: a check watcher alone would otherwise block in the poll before it runs.
    let r = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::NoWait)));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in callback"));
    // The handle is still usable, and the loop shuts down cleanly with it open.
    assert!(!h.is_closing());
    drop(lp);
    assert!(h.is_closing());
}

macro_rules! lifecycle {
    ($($module:ident: $ty:ty,)*) => {$(
        mod $module {
            use super::*;
            #[test]
            fn drop_before_start() {
                super::drop_before_start::<$ty>();
            }
            #[test]
            fn drop_inside_own_callback() {
                super::drop_inside_own_callback::<$ty>();
            }
            #[test]
            fn close_twice() {
                super::close_twice::<$ty>();
            }
            #[test]
            fn loop_dropped_with_handle_open() {
                super::loop_dropped_with_handle_open::<$ty>();
            }
            #[test]
            fn owner_kept_by_own_callback_then_loop_dropped() {
                super::owner_kept_by_own_callback_then_loop_dropped::<$ty>();
            }
            #[test]
            fn future_polled_once_then_dropped() {
                super::future_polled_once_then_dropped::<$ty>();
            }
            #[test]
            fn panicking_callback() {
                super::panicking_callback::<$ty>();
            }
        }
    )*};
}

lifecycle! {
    idle: Idle,
    prepare: Prepare,
    check: Check,
    async_handle: AsyncHandle,
}

#[test]
fn debug_shows_state() {
    let lp = Loop::new().unwrap();
    let idle = Idle::new(&lp).unwrap();
    assert_eq!(format!("{idle:?}"), "Idle { active: false }");
    idle.start(|_| {}).unwrap();
    assert_eq!(format!("{idle:?}"), "Idle { active: true }");
    idle.close().unwrap();
    assert_eq!(format!("{idle:?}"), "Idle { closed: true }");
    let h = AsyncHandle::new(&lp, |_| {}).unwrap();
    assert!(format!("{h:?}").starts_with("AsyncHandle { closed: false"));
    assert_eq!(format!("{:?}", h.sender()), "AsyncSender { closed: false }");
}
