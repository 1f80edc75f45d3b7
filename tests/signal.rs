//! Signal watchers, fed by raising signals at this process.
mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Mutex;

use futures::StreamExt;
use uvio::signal::{Signals, ctrl_c};
use uvio::{Loop, RunMode, Signal};

/// Signal dispositions are process-wide: tests that raise signals take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends `signum` to this thread (`raise`, so the handler has run when it returns; a
/// process-directed `kill` may be handled later by another thread, after the watcher is
/// gone). Only call while a watcher for it is active: the default action of most signals
/// ends the process.
fn raise(signum: i32) {
    // SAFETY: raise has no memory-safety preconditions.
    let r = unsafe { libc::raise(signum) };
    assert_eq!(r, 0);
}

#[test]
fn callback_per_delivery() {
    let _g = serial();
    let lp = Loop::new().unwrap();
    let sig = Signal::new(&lp).unwrap();
    assert_eq!(sig.signum(), None);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    sig.start(libc::SIGUSR1, move |sig, signum| {
        s.borrow_mut().push(signum);
        if s.borrow().len() == 3 {
            sig.stop().unwrap();
        }
    })
    .unwrap();
    assert_eq!(sig.signum(), Some(libc::SIGUSR1));
    assert!(sig.is_active());
    let dbg = format!("{sig:?}");
    assert!(dbg.contains("signum: Some(10)"), "{dbg}");
    for _ in 0..3 {
        raise(libc::SIGUSR1);
        lp.run(RunMode::Once).unwrap();
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*seen.borrow(), vec![libc::SIGUSR1; 3]);
    assert_eq!(sig.signum(), None);
    assert!(!sig.is_active());
}

#[test]
fn two_watchers_both_fire_and_restart_switches_signal() {
    let _g = serial();
    let lp = Loop::new().unwrap();
    let hits = Rc::new(Cell::new(0));
    let (a, b) = (Signal::new(&lp).unwrap(), Signal::new(&lp).unwrap());
    for s in [&a, &b] {
        let h = hits.clone();
        s.start(libc::SIGUSR2, move |s, n| {
            assert_eq!(n, libc::SIGUSR2);
            h.set(h.get() + 1);
            s.close().unwrap();
        })
        .unwrap();
    }
    raise(libc::SIGUSR2);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(hits.get(), 2);

    // Starting again moves the watcher to another signal with a new callback.
    let c = Signal::new(&lp).unwrap();
    c.start(libc::SIGUSR1, |_, _| panic!("old callback"))
        .unwrap();
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    c.start(libc::SIGUSR2, move |s, n| {
        g.set(n);
        s.stop().unwrap();
    })
    .unwrap();
    assert_eq!(c.signum(), Some(libc::SIGUSR2));
    raise(libc::SIGUSR2);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(got.get(), libc::SIGUSR2);
}

#[test]
fn oneshot_fires_once_and_stops() {
    let _g = serial();
    let lp = Loop::new().unwrap();
    // A second, ordinary watcher keeps the process-wide handler installed afterwards.
    let keep = Signal::new(&lp).unwrap();
    let kept = Rc::new(Cell::new(0));
    let k = kept.clone();
    keep.start(libc::SIGUSR1, move |_, _| k.set(k.get() + 1))
        .unwrap();
    let sig = Signal::new(&lp).unwrap();
    let n = Rc::new(Cell::new(0));
    let n2 = n.clone();
    sig.start_oneshot(libc::SIGUSR1, move |_, signum| {
        assert_eq!(signum, libc::SIGUSR1);
        n2.set(n2.get() + 1);
    })
    .unwrap();
    raise(libc::SIGUSR1);
    lp.run(RunMode::Once).unwrap();
    assert_eq!(n.get(), 1);
    assert_eq!(sig.signum(), None);
    assert!(!sig.is_active());
    raise(libc::SIGUSR1);
    lp.run(RunMode::Once).unwrap();
    assert_eq!(n.get(), 1);
    assert_eq!(kept.get(), 2);
}

#[test]
fn signals_stream_and_ctrl_c() {
    let _g = serial();
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let mut usr1 = Signals::new(&uvio::LoopHandle::current().unwrap(), libc::SIGUSR1).unwrap();
        // Installed at creation: deliveries before the first poll are kept.
        raise(libc::SIGUSR1);
        assert_eq!(usr1.next().await, Some(libc::SIGUSR1));
        raise(libc::SIGUSR1);
        assert_eq!(usr1.recv().await, Some(libc::SIGUSR1));
        let mut usr2 = uvio::signal::signal(libc::SIGUSR2).unwrap();
        raise(libc::SIGUSR2);
        assert_eq!(usr2.next().await, Some(libc::SIGUSR2));
        // Closing the watcher ends the stream.
        usr1.watcher().close().unwrap();
        assert_eq!(usr1.next().await, None);

        let mut c = std::pin::pin!(ctrl_c());
        assert!(futures::poll!(c.as_mut()).is_pending());
        raise(libc::SIGINT);
        c.await.unwrap();
    })
    .unwrap();
    // Outside a loop they panic: tests/outside_loop.rs.
}

#[test]
fn invalid_signals_are_errors() {
    let lp = Loop::new().unwrap();
    let s = Signal::new(&lp).unwrap();
    for bad in [0, -1, 1000, libc::SIGKILL, libc::SIGSTOP] {
        let e = s.start(bad, |_, _| {}).unwrap_err();
        assert_eq!(e.name(), "EINVAL", "signal {bad}");
        assert!(e.to_string().contains(&bad.to_string()), "{e}");
    }
    assert!(Signals::new(&lp, 0).is_err());
}

// ---- lifecycle ----

#[test]
fn drop_before_start_close_twice_and_closed_errors() {
    let lp = Loop::new().unwrap();
    drop(Signal::new(&lp).unwrap());
    let s = Signal::new(&lp).unwrap();
    s.close().unwrap();
    assert_eq!(s.close().unwrap_err().name(), "EBADF");
    assert_eq!(
        s.start(libc::SIGUSR1, |_, _| {}).unwrap_err().name(),
        "EBADF"
    );
    assert_eq!(s.stop().unwrap_err().name(), "EBADF");
    assert_eq!(s.signum(), None);
    assert!(format!("{s:?}").contains("closed"));
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn drop_in_own_callback() {
    let _g = serial();
    let lp = Loop::new().unwrap();
    let keep = Signal::new(&lp).unwrap();
    keep.start(libc::SIGUSR2, |_, _| {}).unwrap();
    keep.unref();
    let slot = Rc::new(RefCell::new(None::<Signal>));
    let calls = Rc::new(Cell::new(0));
    let (s2, c2) = (slot.clone(), calls.clone());
    let sig = Signal::new(&lp).unwrap();
    sig.start(libc::SIGUSR2, move |me, _| {
        c2.set(c2.get() + 1);
        drop(s2.borrow_mut().take());
        assert!(me.is_closing());
    })
    .unwrap();
    *slot.borrow_mut() = Some(sig);
    raise(libc::SIGUSR2);
    lp.run(RunMode::Default).unwrap();
    raise(libc::SIGUSR2);
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(calls.get(), 1);
}

#[test]
fn loop_dropped_with_watchers_open() {
    let _g = serial();
    let lp = Loop::new().unwrap();
    let s = Signal::new(&lp).unwrap();
    s.start(libc::SIGUSR1, |_, _| {}).unwrap();
    let stream = Signals::new(&lp, libc::SIGUSR2).unwrap();
    drop(lp);
    assert!(s.is_closing());
    assert_eq!(s.signum(), None);
    drop(stream);
}

#[test]
fn futures_polled_once_then_dropped() {
    let _g = serial();
    let lp = Loop::new().unwrap();
    let keep = Signal::new(&lp).unwrap();
    keep.start(libc::SIGINT, |_, _| {}).unwrap();
    lp.block_on(async {
        let mut c = ctrl_c();
        assert!(futures::poll!(&mut c).is_pending());
        drop(c);
        let mut s = uvio::signal::signal(libc::SIGUSR1).unwrap();
        assert!(futures::poll!(s.next()).is_pending());
        drop(s);
        // `keep` still catches SIGINT: the dropped future's watcher is gone, not the
        // handler.
        raise(libc::SIGINT);
    })
    .unwrap();
    lp.run(RunMode::NoWait).unwrap();
}

#[test]
fn panicking_callback_is_resumed() {
    let _g = serial();
    let lp = Loop::new().unwrap();
    let s = Signal::new(&lp).unwrap();
    s.start(libc::SIGUSR1, |_, _| panic!("signal boom"))
        .unwrap();
    raise(libc::SIGUSR1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"signal boom"));
    drop(s);
    lp.run(RunMode::Default).unwrap();
}
