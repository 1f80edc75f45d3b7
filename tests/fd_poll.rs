//! FdPoll (`uv_poll_t`) on real descriptors: socket pairs, pipes, files.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use common::DropCount;
use futures::StreamExt;
use uvio::{FdPoll, Loop, PollEvents, RunMode, Timer};

/// A socket pair whose first end is shared (the poll owns one clone, the test reads with
/// the other).
fn pair() -> (Rc<UnixStream>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    (Rc::new(a), b)
}

/// Reads what is there without blocking (the poll made the descriptor non-blocking).
fn drain(s: &UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match (&*s).read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return out,
            Err(e) => panic!("read: {e}"),
        }
    }
}

// ---- callbacks ----

#[test]
fn readable_only_after_the_peer_writes() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = pair();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let poll = FdPoll::new(&lp, a.clone()).unwrap();
    let (s, a2) = (seen.clone(), a.clone());
    poll.start(PollEvents::READABLE, move |p, ev| {
        s.borrow_mut().push((ev.unwrap(), drain(&a2)));
        p.close().unwrap();
    })
    .unwrap();
    assert_eq!(poll.events(), PollEvents::READABLE);
    for _ in 0..3 {
        lp.run(RunMode::NoWait).unwrap();
    }
    assert!(seen.borrow().is_empty(), "nothing to read yet");
    b.write_all(b"ping").unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*seen.borrow(), [(PollEvents::READABLE, b"ping".to_vec())]);
}

#[test]
fn writable_at_once_and_level_triggered() {
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let n = Rc::new(Cell::new(0));
    let poll = FdPoll::new(&lp, a).unwrap();
    let n2 = n.clone();
    poll.start(PollEvents::WRITABLE, move |p, ev| {
        assert_eq!(ev.unwrap(), PollEvents::WRITABLE);
        n2.set(n2.get() + 1);
        // Still writable: reported again each iteration until stopped.
        if n2.get() == 3 {
            p.stop().unwrap();
        }
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(n.get(), 3);
    assert!(!poll.is_active());
    assert_eq!(poll.events(), PollEvents::empty());
}

#[test]
fn disconnect_when_the_peer_closes() {
    let lp = Loop::new().unwrap();
    let (a, b) = pair();
    let seen = Rc::new(Cell::new(PollEvents::empty()));
    let poll = FdPoll::new(&lp, a.clone()).unwrap();
    let s = seen.clone();
    poll.start(
        PollEvents::READABLE | PollEvents::DISCONNECT,
        move |p, ev| {
            s.set(ev.unwrap());
            p.close().unwrap();
        },
    )
    .unwrap();
    drop(b);
    lp.run(RunMode::Default).unwrap();
    // Linux reports EPOLLRDHUP for a closed stream socket peer; the socket reads EOF.
    assert!(
        seen.get().contains(PollEvents::DISCONNECT),
        "{:?}",
        seen.get()
    );
    assert!(seen.get().contains(PollEvents::READABLE));
    assert_eq!((&*a).read(&mut [0u8; 4]).unwrap(), 0);
}

#[test]
fn error_condition_is_an_err_and_stops_polling() {
    // A pipe whose read end is gone: epoll reports EPOLLERR for the write end.
    let lp = Loop::new().unwrap();
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let got = Rc::new(RefCell::new(None));
    let poll = FdPoll::new(&lp, w).unwrap();
    let g = got.clone();
    poll.start(PollEvents::WRITABLE, move |_, ev| {
        *g.borrow_mut() = Some(ev);
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    let err = got.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(err.name(), "EBADF");
    assert!(err.to_string().contains("poll"), "{err}");
    assert!(!poll.is_active(), "libuv stops polling after an error");
    assert_eq!(poll.events(), PollEvents::empty());
}

#[test]
fn stop_restart_and_replace_the_callback() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = pair();
    let poll = FdPoll::new(&lp, a.clone()).unwrap();
    poll.start(PollEvents::READABLE, |_, _| panic!("replaced callback ran"))
        .unwrap();
    let writes = Rc::new(Cell::new(0));
    let w = writes.clone();
    poll.start(PollEvents::WRITABLE, move |p, _| {
        w.set(w.get() + 1);
        p.stop().unwrap();
    })
    .unwrap();
    b.write_all(b"x").unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(writes.get(), 1);
    // Stopped: the pending readability is not reported.
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(writes.get(), 1);
    let reads = Rc::new(Cell::new(0));
    let (r, a2) = (reads.clone(), a.clone());
    poll.start(PollEvents::READABLE, move |p, ev| {
        assert!(ev.unwrap().contains(PollEvents::READABLE));
        assert_eq!(drain(&a2), b"x");
        r.set(r.get() + 1);
        p.stop().unwrap();
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!((writes.get(), reads.get()), (1, 1));
}

// ---- futures and streams ----

#[test]
fn ready_future_waits_for_the_peer() {
    let lp = Loop::new().unwrap();
    let (a, b) = pair();
    let mut poll = FdPoll::new(&lp, a.clone()).unwrap();
    let t = Timer::new(&lp).unwrap();
    let b = RefCell::new(b);
    t.start(Duration::from_millis(10), Duration::ZERO, move |_| {
        b.borrow_mut().write_all(b"later").unwrap()
    })
    .unwrap();
    let ev = lp
        .block_on(poll.ready(PollEvents::READABLE))
        .unwrap()
        .unwrap();
    assert_eq!(ev, PollEvents::READABLE);
    assert_eq!(drain(&a), b"later");
    // One-shot: polling stopped again, so the loop has nothing left to wait for.
    assert!(!poll.is_active());
    assert!(!lp.run(RunMode::Default).unwrap());
    let ev = lp
        .block_on(poll.ready(PollEvents::WRITABLE))
        .unwrap()
        .unwrap();
    assert_eq!(ev, PollEvents::WRITABLE);
}

#[test]
fn stream_of_readiness_and_a_lagging_stream_does_not_spin() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = pair();
    let mut events = FdPoll::watch(&lp, a.clone(), PollEvents::READABLE).unwrap();
    for round in 0..common::scale(20) {
        b.write_all(&[round as u8]).unwrap();
        let ev = lp.block_on(events.next()).unwrap().unwrap().unwrap();
        assert!(ev.contains(PollEvents::READABLE));
        assert_eq!(drain(&a), [round as u8]);
    }
    // Readable but nobody polls the stream: after one unconsumed event libuv polling pauses,
    // so `run` returns instead of spinning on level-triggered readiness.
    b.write_all(b"zz").unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(!events.is_active());
    let ev = lp.block_on(events.next()).unwrap().unwrap().unwrap();
    assert!(ev.contains(PollEvents::READABLE));
    assert_eq!(drain(&a), b"zz");
    // Stopping ends the stream.
    events.stop().unwrap();
    assert!(lp.block_on(events.next()).unwrap().is_none());
}

#[test]
fn stream_ends_after_an_error_item() {
    let lp = Loop::new().unwrap();
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let mut events = FdPoll::watch(&lp, w, PollEvents::WRITABLE).unwrap();
    let items: Vec<_> = lp.block_on(events.by_ref().collect::<Vec<_>>()).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].as_ref().unwrap_err().name(), "EBADF");
}

#[test]
fn a_poll_started_with_callbacks_is_not_a_stream() {
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let mut p = FdPoll::new(&lp, a).unwrap();
    p.start(PollEvents::WRITABLE, |p, _| p.stop().unwrap())
        .unwrap();
    assert!(lp.block_on(p.next()).unwrap().is_none());
}

// ---- errors ----

#[test]
fn descriptors_epoll_cannot_watch_are_errors() {
    let lp = Loop::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, "x").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let e = FdPoll::new(&lp, file).unwrap_err();
    assert_eq!(e.name(), "EPERM", "{e}");
    assert!(e.to_string().contains("poll_init"), "{e}");
    // An O_PATH descriptor is open but supports no I/O: epoll says EBADF.
    let opath = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(dir.path())
        .unwrap();
    assert_eq!(FdPoll::new(&lp, opath).unwrap_err().name(), "EBADF");
}

#[test]
fn two_polls_on_one_descriptor() {
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let first = FdPoll::new(&lp, a.clone()).unwrap();
    let second = FdPoll::new(&lp, a.clone()).unwrap();
    first.start(PollEvents::READABLE, |_, _| {}).unwrap();
    // libuv refuses a second active poll of the same descriptor on one loop...
    let e = second.start(PollEvents::READABLE, |_, _| {}).unwrap_err();
    assert_eq!(e.name(), "EEXIST");
    // ...and a new one while the first is active.
    assert_eq!(FdPoll::new(&lp, a.clone()).unwrap_err().name(), "EEXIST");
    first.stop().unwrap();
    second
        .start(PollEvents::WRITABLE, |p, _| p.stop().unwrap())
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    // On another loop the same descriptor is independent.
    let lp2 = Loop::new().unwrap();
    let other = FdPoll::new(&lp2, a.clone()).unwrap();
    other
        .start(PollEvents::WRITABLE, |p, _| p.close().unwrap())
        .unwrap();
    lp2.run(RunMode::Default).unwrap();
}

// ---- ownership of the descriptor ----

/// A descriptor owner that counts its drops.
struct Tracked<S = UnixStream>(S, #[allow(dead_code)] DropCount);

impl<S: AsFd> AsFd for Tracked<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[test]
fn the_descriptor_is_closed_after_the_close_callback() {
    let lp = Loop::new().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let (dc, drops) = DropCount::new();
    let poll = FdPoll::new(&lp, Tracked(a, dc)).unwrap();
    poll.start(PollEvents::READABLE, |_, _| {}).unwrap();
    drop(poll);
    // Closing has started, but the owner is kept until libuv's close callback.
    assert_eq!(drops.get(), 0);
    assert_eq!(
        (&b).read(&mut [0u8; 1]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    lp.run(RunMode::Default).unwrap();
    assert_eq!(drops.get(), 1);
    assert_eq!((&b).read(&mut [0u8; 1]).unwrap(), 0, "the peer sees EOF");
}

#[test]
fn a_refused_source_is_dropped() {
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let keep = FdPoll::new(&lp, a.clone()).unwrap();
    keep.start(PollEvents::READABLE, |_, _| {}).unwrap();
    let (dc, drops) = DropCount::new();
    let dup = a.try_clone().unwrap();
    // A different number (a dup) is a different registration: accepted.
    let ok = FdPoll::new(&lp, Tracked(dup, dc.another())).unwrap();
    drop(ok);
    // The same number through another owner: refused while `keep` is active.
    assert!(FdPoll::new(&lp, Tracked(a.clone(), dc)).is_err());
    assert_eq!(drops.get(), 1, "the refused owner is dropped at once");
    drop(keep);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(drops.get(), 2);
}

// ---- lifecycle ----

#[test]
fn drop_before_start_close_twice_and_closed_errors() {
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    drop(FdPoll::new(&lp, a.clone()).unwrap());
    let mut p = FdPoll::new(&lp, a.clone()).unwrap();
    assert!(format!("{p:?}").contains("Stopped"), "{p:?}");
    p.close().unwrap();
    assert_eq!(p.close().unwrap_err().name(), "EBADF");
    assert_eq!(
        p.start(PollEvents::READABLE, |_, _| {}).unwrap_err().name(),
        "EBADF"
    );
    assert_eq!(p.stop().unwrap_err().name(), "EBADF");
    assert_eq!(p.fileno().unwrap_err().name(), "EBADF");
    assert_eq!(p.events(), PollEvents::empty());
    assert!(format!("{p:?}").contains("closed"));
    let r = lp.block_on(p.ready(PollEvents::READABLE)).unwrap();
    assert_eq!(r.unwrap_err().name(), "EBADF");
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn drop_in_own_callback() {
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let slot = Rc::new(RefCell::new(None::<FdPoll>));
    let calls = Rc::new(Cell::new(0));
    let p = FdPoll::new(&lp, a).unwrap();
    let (s2, c2) = (slot.clone(), calls.clone());
    p.start(PollEvents::WRITABLE, move |me, _| {
        c2.set(c2.get() + 1);
        drop(s2.borrow_mut().take());
        assert!(me.is_closing());
    })
    .unwrap();
    *slot.borrow_mut() = Some(p);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(calls.get(), 1);
}

#[test]
fn loop_dropped_while_polling() {
    let lp = Loop::new().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let (dc, drops) = DropCount::new();
    let p = FdPoll::new(&lp, Tracked(a, dc)).unwrap();
    p.start(PollEvents::READABLE, |_, _| {}).unwrap();
    let (c, _d) = pair();
    let s = FdPoll::watch(&lp, c, PollEvents::READABLE).unwrap();
    drop(lp);
    assert!(p.is_closing() && s.is_closing());
    assert_eq!(drops.get(), 1, "shutdown ran the close callback");
    assert_eq!(
        p.start(PollEvents::READABLE, |_, _| {}).unwrap_err().name(),
        "EBADF"
    );
    b.set_nonblocking(true).unwrap();
    assert_eq!((&b).read(&mut [0u8; 1]).unwrap(), 0);
}

#[test]
fn futures_polled_once_then_dropped() {
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let mut p = FdPoll::new(&lp, a.clone()).unwrap();
    lp.block_on(async {
        let mut f = p.ready(PollEvents::READABLE);
        assert!(futures::poll!(&mut f).is_pending());
        drop(f);
    })
    .unwrap();
    assert!(!p.is_active(), "a dropped ready() stops polling");
    assert!(!lp.run(RunMode::Default).unwrap());
    let mut s = FdPoll::watch(&lp, a, PollEvents::READABLE).unwrap_or_else(|e| panic!("{e}"));
    lp.block_on(async {
        assert!(futures::poll!(s.next()).is_pending());
    })
    .unwrap();
    drop(s);
    drop(p);
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn panicking_callback_is_resumed_and_stays_installed() {
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let n = Rc::new(Cell::new(0));
    let p = FdPoll::new(&lp, a).unwrap();
    let n2 = n.clone();
    p.start(PollEvents::WRITABLE, move |p, _| {
        n2.set(n2.get() + 1);
        if n2.get() == 1 {
            panic!("poll boom");
        }
        p.stop().unwrap();
    })
    .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert_eq!(
        common::panic_message(&*r.unwrap_err()),
        "poll boom".to_string()
    );
    lp.run(RunMode::Default).unwrap();
    assert_eq!(n.get(), 2);
}

#[test]
fn fileno_and_debug() {
    use std::os::fd::AsRawFd;
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let p = FdPoll::new(&lp, a.clone()).unwrap();
    assert_eq!(p.fileno().unwrap(), a.as_raw_fd());
    p.start(PollEvents::READABLE | PollEvents::PRIORITIZED, |_, _| {})
        .unwrap();
    let d = format!("{p:?}");
    assert!(
        d.contains("READABLE") && d.contains("PRIORITIZED") && d.contains("active: true"),
        "{d}"
    );
    assert_eq!(format!("{:?}", PollEvents::empty()), "{}");
}
