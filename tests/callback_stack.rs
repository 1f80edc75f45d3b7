//! The callback rule: a callback never runs on the stack of the call that scheduled it.
//! Either the call returns the error (and the callback is dropped, never called), or it
//! returns `Ok` and the callback runs later, from the loop. libuv keeps the same rule (its
//! `callback_stack` test); a caller holding a `RefCell` borrow across the call relies on it.
//!
//! Every callback form outside `uvio::fs` (tested with the fs operations) and the stream
//! write path is called here with a `RefCell` mutably borrowed across the call, on the
//! happy path, with bad input, and on a closed loop.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use uvio::{Loop, LoopHandle, RunMode};

/// A `RefCell` held across each scheduling call, and a count of callbacks run.
#[derive(Clone, Default)]
struct Probe(Rc<RefCell<u32>>);

impl Probe {
    /// The body of every callback: panics when the probe is borrowed, which it is exactly
    /// during the scheduling call.
    fn hit(&self) {
        *self
            .0
            .try_borrow_mut()
            .expect("a callback ran on the stack of the call that scheduled it") += 1;
    }

    /// Runs the scheduling call `f` with the cell mutably borrowed.
    fn across<R>(&self, f: impl FnOnce() -> R) -> R {
        let _held = self.0.borrow_mut();
        f()
    }

    fn count(&self) -> u32 {
        *self.0.borrow()
    }
}

/// Schedules with `schedule` (the probe borrowed across it), runs the loop to the end, and
/// checks the rule: `Ok` means exactly one callback later, `Err` means none.
fn check<T, E: std::fmt::Debug>(
    what: &str,
    lp: &Loop,
    schedule: impl FnOnce(Probe) -> Result<T, E>,
) -> Result<T, E> {
    let p = Probe::default();
    let q = p.clone();
    let r = p.across(move || schedule(q));
    // Keep what the call returned (a handle, a request) alive while the loop runs.
    lp.run(RunMode::Default).unwrap();
    let want = u32::from(r.is_ok());
    assert_eq!(p.count(), want, "{what}: result {:?}", r.as_ref().err());
    r
}

/// A loop handle whose loop is gone.
fn closed_loop() -> LoopHandle {
    let lp = Loop::new().unwrap();
    let h = lp.handle();
    drop(lp);
    h
}

/// On a closed loop nothing can run later: the call must return the error.
fn check_closed<T, E>(what: &str, schedule: impl FnOnce(&LoopHandle, Probe) -> Result<T, E>) {
    let h = closed_loop();
    let p = Probe::default();
    let q = p.clone();
    let r = p.across(|| schedule(&h, q));
    assert!(r.is_err(), "{what}: Ok on a closed loop");
    assert_eq!(p.count(), 0, "{what}");
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn timers_and_watchers() {
    let lp = Loop::new().unwrap();
    let t = uvio::Timer::new(&lp).unwrap();
    check("timer", &lp, |p| {
        t.start(ms(1), Duration::ZERO, move |_| p.hit())
    })
    .unwrap();
    t.close().unwrap();
    check("closed timer", &lp, |p| {
        t.start(ms(1), Duration::ZERO, move |_| p.hit())
    })
    .unwrap_err();
    let idle = uvio::Idle::new(&lp).unwrap();
    check("idle", &lp, |p| {
        idle.start(move |i| {
            p.hit();
            i.stop().unwrap();
        })
    })
    .unwrap();
    idle.close().unwrap();
    check("closed idle", &lp, |p| idle.start(move |_| p.hit())).unwrap_err();
    check_closed("timer on a closed loop", |h, p| {
        uvio::Timer::new(h)?.start(ms(1), Duration::ZERO, move |_| p.hit())
    });
    check_closed("async handle on a closed loop", |h, p| {
        uvio::AsyncHandle::new(h, move |_| p.hit())
    });
    let p = Probe::default();
    let q = p.clone();
    let a = p
        .across(|| {
            uvio::AsyncHandle::new(&lp, move |a| {
                q.hit();
                a.close().unwrap();
            })
        })
        .unwrap();
    a.sender().send().unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(p.count(), 1);
}

#[test]
fn dns() {
    use uvio::dns::{Hints, NiFlags, getaddrinfo_cb, getnameinfo_cb};
    let lp = Loop::new().unwrap();
    check("getaddrinfo", &lp, |p| {
        getaddrinfo_cb(&lp, Some("localhost"), None, Hints::new(), move |_| p.hit())
    })
    .unwrap();
    check("getaddrinfo NUL", &lp, |p| {
        getaddrinfo_cb(&lp, Some("bad\0host"), None, Hints::new(), move |_| p.hit())
    })
    .unwrap_err();
    check("getaddrinfo nothing", &lp, |p| {
        getaddrinfo_cb(&lp, None, None, Hints::new(), move |_| p.hit())
    })
    .unwrap_err();
    let addr = "127.0.0.1:80".parse().unwrap();
    check("getnameinfo", &lp, |p| {
        getnameinfo_cb(&lp, addr, NiFlags::empty(), move |_| p.hit())
    })
    .unwrap();
    check_closed("getaddrinfo", |h, p| {
        getaddrinfo_cb(h, Some("localhost"), None, Hints::new(), move |_| p.hit())
    });
    check_closed("getnameinfo", |h, p| {
        getnameinfo_cb(h, addr, NiFlags::empty(), move |_| p.hit())
    });
}

#[test]
fn work_and_random() {
    let lp = Loop::new().unwrap();
    check("queue_work", &lp, |p| {
        uvio::queue_work(&lp, || 1, move |_| p.hit())
    })
    .unwrap();
    check("random_with", &lp, |p| {
        uvio::sys::random_with(&lp, 16, move |_| p.hit())
    })
    .unwrap();
    check("random_with too long", &lp, |p| {
        uvio::sys::random_with(&lp, 1 << 32, move |_| p.hit())
    })
    .unwrap_err();
    check_closed("queue_work", |h, p| {
        uvio::queue_work(h, || 1, move |_| p.hit())
    });
    check_closed("random_with", |h, p| {
        uvio::sys::random_with(h, 16, move |_| p.hit())
    });
}

#[test]
fn udp() {
    let lp = Loop::new().unwrap();
    let a = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let b = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let to = b.local_addr().unwrap();
    check("send_to", &lp, |p| {
        a.send_to_cb(b"x".to_vec(), to, move |_| p.hit())
    })
    .unwrap();
    // Not connected: no peer to send to.
    check("send unconnected", &lp, |p| {
        a.send_cb(b"x".to_vec(), move |_| p.hit())
    })
    .unwrap_err();
    // IPv6 address from an IPv4 socket.
    let v6 = "[::1]:9".parse().unwrap();
    let _ = check("send_to v6", &lp, |p| {
        a.send_to_cb(b"x".to_vec(), v6, move |_| p.hit())
    });
    check("send_to too big", &lp, |p| {
        a.send_to_cb(vec![0; 70_000], to, move |_| p.hit())
    })
    .ok();
    check("recv_start", &lp, |p| {
        b.recv_start(move |b, _| {
            p.hit();
            b.recv_stop().unwrap();
        })
    })
    .unwrap();
    a.close().unwrap();
    check("send_to closed", &lp, |p| {
        a.send_to_cb(b"x".to_vec(), to, move |_| p.hit())
    })
    .unwrap_err();
    check("recv_start closed", &lp, |p| {
        a.recv_start(move |_, _| p.hit())
    })
    .unwrap_err();
}

#[test]
fn streams_connect_shutdown_listen_read() {
    let lp = Loop::new().unwrap();
    let l = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Rc::new(RefCell::new(Vec::new()));
    let keep = accepted.clone();
    let p = Probe::default();
    let q = p.clone();
    p.across(|| {
        l.on_connection(move |l, c| {
            q.hit();
            keep.borrow_mut().push(c.unwrap());
            l.close().unwrap();
        })
    })
    .unwrap();
    let c = check("tcp connect", &lp, |p| {
        uvio::TcpStream::connect_cb(&lp, addr, move |_, r| {
            r.unwrap();
            p.hit();
        })
    })
    .unwrap();
    assert_eq!(p.count(), 1, "on_connection");
    check("shutdown", &lp, |p| c.shutdown_cb(move |_, _| p.hit())).unwrap();
    // Already shut down.
    check("shutdown twice", &lp, |p| {
        c.shutdown_cb(move |_, _| p.hit())
    })
    .unwrap_err();
    let s = accepted.borrow_mut().pop().unwrap();
    check("read_start", &lp, |p| {
        s.read_start(move |s, r| {
            assert!(r.is_err()); // EOF: the peer shut down
            p.hit();
            s.close().unwrap();
        })
    })
    .unwrap();
    check("read_start closed", &lp, |p| {
        s.read_start(move |_, _| p.hit())
    })
    .unwrap_err();
    c.close().unwrap();
    check("shutdown closed", &lp, |p| {
        c.shutdown_cb(move |_, _| p.hit())
    })
    .unwrap_err();
    check("on_connection closed", &lp, |p| {
        l.on_connection(move |_, _| p.hit())
    })
    .unwrap_err();
    // Refused: the error comes from the loop, later.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    check("tcp connect refused", &lp, |p| {
        uvio::TcpStream::connect_cb(&lp, dead, move |_, r| {
            assert!(r.is_err());
            p.hit();
        })
    })
    .unwrap();
    // An address libuv refuses at once.
    let bad = "0.0.0.0:0".parse().unwrap();
    let _ = check("tcp connect to port 0", &lp, |p| {
        uvio::TcpStream::connect_cb(&lp, bad, move |_, _| p.hit())
    });
    check_closed("tcp connect", |h, p| {
        uvio::TcpStream::connect_cb(h, addr, move |_, _| p.hit())
    });
}

#[test]
fn pipes() {
    let lp = Loop::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: libuv reports it from the loop.
    check("pipe connect missing", &lp, |p| {
        uvio::PipeStream::connect_cb(&lp, dir.path().join("none"), move |_, r| {
            assert!(r.is_err());
            p.hit();
        })
    })
    .unwrap();
    check("pipe connect empty", &lp, |p| {
        uvio::PipeStream::connect_cb(&lp, "", move |_, _| p.hit())
    })
    .unwrap_err();
    let long = dir.path().join("x".repeat(200));
    check("pipe connect long", &lp, |p| {
        uvio::PipeStream::connect_cb(&lp, long, move |_, _| p.hit())
    })
    .unwrap_err();
    let _ = check("abstract connect", &lp, |p| {
        uvio::PipeStream::connect_abstract_cb(&lp, b"uvio-callback-stack-none", move |_, _| p.hit())
    });
    check_closed("pipe connect", |h, p| {
        uvio::PipeStream::connect_cb(h, "/nonexistent", move |_, _| p.hit())
    });
}

#[test]
fn processes_and_signals() {
    use uvio::process::Command;
    let lp = Loop::new().unwrap();
    check("spawn", &lp, |p| {
        Command::new("true").spawn_cb(&lp, move |_, _| p.hit())
    })
    .unwrap();
    check("spawn missing", &lp, |p| {
        Command::new("/nonexistent/program").spawn_cb(&lp, move |_, _| p.hit())
    })
    .unwrap_err();
    check("spawn NUL", &lp, |p| {
        Command::new("true")
            .arg("a\0b")
            .spawn_cb(&lp, move |_, _| p.hit())
    })
    .unwrap_err();
    check_closed("spawn", |h, p| {
        Command::new("true").spawn_cb(h, move |_, _| p.hit())
    });
    let sig = uvio::Signal::new(&lp).unwrap();
    check("signal bad number", &lp, |p| {
        sig.start(-1, move |_, _| p.hit())
    })
    .unwrap_err();
    let p = Probe::default();
    let q = p.clone();
    p.across(|| {
        sig.start_oneshot(libc::SIGUSR2, move |s, _| {
            q.hit();
            s.close().unwrap();
        })
    })
    .unwrap();
    // SAFETY: SIGUSR2 is caught by the watcher started above.
    unsafe { libc::raise(libc::SIGUSR2) };
    lp.run(RunMode::Default).unwrap();
    assert_eq!(p.count(), 1);
    check("signal closed", &lp, |p| {
        sig.start(libc::SIGUSR2, move |_, _| p.hit())
    })
    .unwrap_err();
    check_closed("signal", |h, p| {
        uvio::Signal::new(h)?.start(libc::SIGUSR2, move |_, _| p.hit())
    });
}

#[test]
fn file_watchers_and_fd_poll() {
    let lp = Loop::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ev = uvio::FsEvent::new(&lp).unwrap();
    check("fs_event missing", &lp, |p| {
        ev.start(dir.path().join("none"), false, move |_, _| p.hit())
    })
    .unwrap_err();
    check("fs_event NUL", &lp, |p| {
        ev.start("a\0b", false, move |_, _| p.hit())
    })
    .unwrap_err();
    ev.close().unwrap();
    let poll = uvio::FsPoll::new(&lp).unwrap();
    check("fs_poll NUL", &lp, |p| {
        poll.start("a\0b", ms(10), move |_, _| p.hit())
    })
    .unwrap_err();
    check("fs_poll missing", &lp, |p| {
        poll.start(dir.path().join("none"), ms(10), move |h, _| {
            p.hit();
            h.close().unwrap();
        })
    })
    .unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let fp = uvio::FdPoll::new(&lp, a).unwrap();
    check("fd_poll", &lp, |p| {
        fp.start(uvio::PollEvents::WRITABLE, move |f, _| {
            p.hit();
            f.close().unwrap();
        })
    })
    .unwrap();
    check("fd_poll closed", &lp, |p| {
        fp.start(uvio::PollEvents::WRITABLE, move |_, _| p.hit())
    })
    .unwrap_err();
}

#[test]
fn node_layer() {
    use uvio::node;
    let lp = Loop::new().unwrap();
    check("set_timeout_in", &lp, |p| {
        node::set_timeout_in(&lp, ms(1), move || p.hit())
    })
    .unwrap();
    check("set_immediate_in", &lp, |p| {
        node::set_immediate_in(&lp, move || p.hit())
    })
    .unwrap();
    check("set_interval_in", &lp, |p| {
        node::set_interval_in(&lp, ms(1), move |t| {
            p.hit();
            t.clear();
        })
    })
    .unwrap();
    check_closed("set_timeout_in", |h, p| {
        node::set_timeout_in(h, ms(1), move || p.hit())
    });
    check_closed("set_immediate_in", |h, p| {
        node::set_immediate_in(h, move || p.hit())
    });
    check_closed("set_interval_in", |h, p| {
        node::set_interval_in(h, ms(1), move |_| p.hit())
    });
    // next_tick: from outside a callback it runs when the next callback returns; from
    // inside one, when that callback returns. Never inside the call.
    let p = Probe::default();
    let q = p.clone();
    p.across(|| node::next_tick_in(&lp, move || q.hit()));
    node::set_immediate_in(&lp, || {}).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(p.count(), 1);
    let p = Probe::default();
    let q = p.clone();
    node::set_immediate_in(&lp, move || {
        let r = q.clone();
        q.across(|| node::next_tick(move || r.hit()));
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(p.count(), 1);
    // On a closed loop there is no later: the tick is dropped, not run.
    let p = Probe::default();
    let q = p.clone();
    let h = closed_loop();
    p.across(|| node::next_tick_in(&h, move || q.hit()));
    assert_eq!(p.count(), 0);
}

#[test]
fn close_all() {
    // Nothing open: `done` still runs later, from the loop, not inside close_all.
    let lp = Loop::new().unwrap();
    let p = Probe::default();
    let q = p.clone();
    p.across(|| lp.close_all(move || q.hit()));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(p.count(), 1, "close_all with nothing open");
    let lp = Loop::new().unwrap();
    let _t = uvio::Timer::new(&lp).unwrap();
    let p = Probe::default();
    let q = p.clone();
    p.across(|| lp.close_all(move || q.hit()));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(p.count(), 1, "close_all");
}

/// After `close_all` the loop can run nothing from uvio any more: `f` is dropped uncalled,
/// never run inside the call.
#[test]
fn close_with_on_a_closed_handle_after_close_all() {
    let lp = Loop::new().unwrap();
    let t = uvio::Timer::new(&lp).unwrap();
    lp.close_all(|| {});
    lp.run(RunMode::Default).unwrap();
    let p = Probe::default();
    let q = p.clone();
    p.across(|| t.close_with(move || q.hit()));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(p.count(), 0, "close_with after close_all: dropped uncalled");
}

#[test]
fn stream_writes() {
    // The write path itself is tested with the writes; here only the rule.
    let lp = Loop::new().unwrap();
    let l = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = l.local_addr().unwrap();
    let (c, _s) = lp
        .block_on(async {
            let c = uvio::TcpStream::connect(addr).await.unwrap();
            (c, l.accept().await.unwrap())
        })
        .unwrap();
    drop(l); // a listening handle would keep `run` from returning
    check("write_cb", &lp, |p| {
        c.write_cb(b"x".to_vec(), move |_, _| p.hit())
    })
    .unwrap();
    check("write_vectored_cb", &lp, |p| {
        c.write_vectored_cb(vec![b"a".to_vec(), b"b".to_vec()], move |_, _| p.hit())
    })
    .unwrap();
    check("write_cb empty", &lp, |p| {
        c.write_cb(Vec::new(), move |_, _| p.hit())
    })
    .ok();
    check("shutdown", &lp, |p| c.shutdown_cb(move |_, _| p.hit())).unwrap();
    check("write_cb after shutdown", &lp, |p| {
        c.write_cb(b"x".to_vec(), move |_, _| p.hit())
    })
    .unwrap_err();
    c.close().unwrap();
    check("write_cb closed", &lp, |p| {
        c.write_cb(b"x".to_vec(), move |_, _| p.hit())
    })
    .unwrap_err();
    let (a, _b) = uvio::PipeStream::pair_ipc(&lp).unwrap();
    let (x, y) = uvio::TcpStream::pair(&lp).unwrap();
    check("write2_cb", &lp, |p| {
        a.write2_cb(b"h".to_vec(), x, move |_, _| p.hit())
    })
    .unwrap();
    let (plain, _q) = uvio::PipeStream::pair(&lp).unwrap();
    check("write2_cb not ipc", &lp, |p| {
        plain.write2_cb(b"h".to_vec(), y, move |_, _| p.hit())
    })
    .ok();
}

#[test]
fn node_layer_on_the_current_loop() {
    use uvio::node;
    let lp = Loop::new().unwrap();
    let p = Probe::default();
    let q = p.clone();
    node::set_immediate_in(&lp, move || {
        let (a, b, c) = (q.clone(), q.clone(), q.clone());
        q.across(|| {
            node::set_timeout(ms(1), move || a.hit());
            node::set_interval(ms(1), move |t| {
                b.hit();
                t.clear();
            });
            node::set_immediate(move || c.hit());
        });
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(p.count(), 3);
}

#[test]
fn every_callback_taking_function_is_covered_here() {
    // The class of bug: a new callback-taking function that nobody checked. Every public
    // function outside `uvio::fs` whose signature takes a closure must be called in this
    // file (the fs operations have their own test).
    fn scan(dir: &std::path::Path, names: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("fs") {
                    scan(&path, names);
                }
            } else if path.extension().is_some_and(|x| x == "rs") {
                let src = std::fs::read_to_string(&path).unwrap();
                for chunk in src.split("pub fn ").skip(1) {
                    let sig = &chunk[..chunk.find(['{', ';']).unwrap_or(chunk.len())];
                    if ["Fn(", "FnOnce(", "FnMut("].iter().any(|f| sig.contains(f)) {
                        let end = sig.find(['(', '<']).unwrap();
                        names.push(sig[..end].to_string());
                    }
                }
            }
        }
    }
    let mut names = Vec::new();
    scan(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut names,
    );
    assert!(names.len() > 25, "{names:?}");
    let here = include_str!("callback_stack.rs");
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !here.contains(&format!("{n}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "not tested for the callback rule: {missing:?}"
    );
}

#[test]
fn spawn_blocking_runs_on_the_pool() {
    // Not a callback but a closure scheduled by a call: it runs on libuv's threadpool,
    // never inside spawn_blocking, on an open loop or a closed one.
    let lp = Loop::new().unwrap();
    let caller = std::thread::current().id();
    let v = lp
        .block_on(async move {
            let f = uvio::spawn_blocking(move || std::thread::current().id() != caller);
            f.await
        })
        .unwrap()
        .unwrap();
    assert!(v);
    let h = closed_loop();
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r = ran.clone();
    let fut = h.spawn_blocking(move || r.store(true, std::sync::atomic::Ordering::SeqCst));
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    drop(fut);
}
