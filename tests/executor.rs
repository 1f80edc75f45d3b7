//! The executor: tasks, wakers (local and cross-thread), JoinHandle, panics, shutdown.
mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::mpsc as std_mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{DropCount, panic_message, scale};
use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use uvio::time::sleep;
use uvio::{JoinHandle, Loop, RunMode, Timer};

const HOUR: Duration = Duration::from_secs(3600);

/// Returns `Pending` once (waking itself), then `Ready`.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// The waker of the task that awaits this.
async fn my_waker() -> Waker {
    std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
}

#[test]
fn many_tasks_complete() {
    let n = scale(100_000);
    let lp = Loop::new().unwrap();
    let done = Rc::new(Cell::new(0usize));
    let sum = lp
        .block_on(async {
            let handles: Vec<JoinHandle<usize>> = (0..n)
                .map(|i| {
                    let d = done.clone();
                    uvio::spawn_local(async move {
                        if i % 2 == 0 {
                            yield_now().await;
                        }
                        d.set(d.get() + 1);
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        })
        .unwrap();
    assert_eq!(done.get(), n);
    assert_eq!(sum, n * (n - 1) / 2);
    // Detached tasks spawned from outside complete during run.
    for _ in 0..n {
        let d = done.clone();
        drop(lp.spawn_local(async move { d.set(d.get() + 1) }));
    }
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(done.get(), 2 * n);
}

#[test]
fn cross_thread_wakes_are_all_observed() {
    let per_thread = scale(10_000);
    let lp = Loop::new().unwrap();
    let got = lp
        .block_on(async {
            let (tx, mut rx) = mpsc::unbounded::<(usize, usize)>();
            let counter = uvio::spawn_local(async move {
                let mut seen = [0usize; 4];
                let mut last = [None::<usize>; 4];
                while let Some((t, i)) = rx.next().await {
                    // Per-sender order is kept.
                    assert!(last[t].is_none_or(|l| l < i));
                    last[t] = Some(i);
                    seen[t] += 1;
                }
                seen
            });
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        for i in 0..per_thread {
                            tx.unbounded_send((t, i)).unwrap();
                            if i % 64 == 0 {
                                std::thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            drop(tx);
            let seen = counter.await.unwrap();
            for th in threads {
                th.join().unwrap();
            }
            seen
        })
        .unwrap();
    assert_eq!(got, [per_thread; 4]);
}

#[test]
fn stored_wakers_woken_from_threads() {
    // Tasks park their wakers; threads wake them; each wake must lead to a poll.
    let rounds = scale(2_000);
    let lp = Loop::new().unwrap();
    let polls = lp
        .block_on(async move {
            let (wtx, wrx) = std_mpsc::channel::<(usize, Waker)>();
            let flags: Vec<_> = (0..4)
                .map(|_| std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)))
                .collect();
            let wakers = std::thread::spawn({
                let flags = flags.clone();
                move || {
                    // Bump the task's counter, then wake it.
                    while let Ok((i, w)) = wrx.recv() {
                        flags[i].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::spawn(move || w.wake()).join().unwrap();
                    }
                }
            });
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    let wtx = wtx.clone();
                    let flag = flags[i].clone();
                    uvio::spawn_local(async move {
                        for r in 0..rounds {
                            let w = my_waker().await;
                            wtx.send((i, w)).unwrap();
                            std::future::poll_fn(|_| {
                                if flag.load(std::sync::atomic::Ordering::SeqCst) > r {
                                    Poll::Ready(())
                                } else {
                                    Poll::Pending
                                }
                            })
                            .await;
                        }
                        rounds
                    })
                })
                .collect();
            drop(wtx);
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            wakers.join().unwrap();
            total
        })
        .unwrap();
    assert_eq!(polls, 4 * rounds);
}

#[test]
fn waker_outliving_the_loop_is_harmless() {
    let lp = Loop::new().unwrap();
    let main_waker = lp.block_on(my_waker()).unwrap();
    let (tx, rx) = std_mpsc::channel();
    let _pending = lp.spawn_local(async move {
        tx.send(my_waker().await).unwrap();
        std::future::pending::<()>().await;
    });
    let finished = lp.block_on(lp.spawn_local(my_waker())).unwrap().unwrap();
    lp.run(RunMode::NoWait).unwrap();
    let task_waker = rx.recv().unwrap();
    drop(lp);
    for w in [&main_waker, &task_waker, &finished] {
        let w2 = w.clone();
        std::thread::spawn(move || {
            w2.wake_by_ref();
            w2.wake();
        })
        .join()
        .unwrap();
        w.wake_by_ref();
        let w3 = w.clone();
        drop(w3);
    }
    drop((main_waker, task_waker, finished));
}

#[test]
fn stale_block_on_waker_does_not_keep_the_loop_busy() {
    let lp = Loop::new().unwrap();
    let w = lp.block_on(my_waker()).unwrap();
    w.wake_by_ref();
    let w2 = w.clone();
    std::thread::spawn(move || w2.wake()).join().unwrap();
    assert!(!lp.alive());
    // Would spin forever if the stale wake kept the idle handle running.
    assert!(!lp.run(RunMode::Default).unwrap());
    // The next block_on is not confused by it either.
    assert_eq!(lp.block_on(async { 1 }).unwrap(), 1);
    w.wake();
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn nested_block_on_is_an_error_not_a_deadlock() {
    let lp = Rc::new(Loop::new().unwrap());
    let l = lp.clone();
    let e = lp
        .block_on(async move {
            let inner = l.block_on(async { 1 });
            let l2 = l.clone();
            let from_task = uvio::spawn_local(async move { l2.block_on(async { 2 }).unwrap_err() })
                .await
                .unwrap();
            (inner.unwrap_err(), from_task)
        })
        .unwrap();
    assert_eq!(e.0.name(), "EBUSY");
    assert_eq!(e.1.name(), "EBUSY");
    // Afterwards block_on works again.
    assert_eq!(lp.block_on(async { 3 }).unwrap(), 3);
}

#[test]
fn abort_before_first_poll() {
    let lp = Loop::new().unwrap();
    let polled = Rc::new(Cell::new(false));
    let (guard, dropped) = DropCount::new();
    let p = polled.clone();
    let r = lp
        .block_on(async move {
            let h = uvio::spawn_local(async move {
                let _keep = guard;
                p.set(true);
            });
            h.abort();
            assert!(h.is_finished());
            h.await
        })
        .unwrap();
    assert!(r.unwrap_err().is_cancelled());
    assert!(!polled.get());
    assert_eq!(dropped.get(), 1);
}

#[test]
fn abort_while_pending_on_a_timer() {
    let lp = Loop::new().unwrap();
    let (guard, dropped) = DropCount::new();
    let after = Rc::new(Cell::new(false));
    let a = after.clone();
    let h = lp.spawn_local(async move {
        let _keep = guard;
        sleep(HOUR).await;
        a.set(true);
    });
    lp.run(RunMode::NoWait).unwrap();
    assert!(lp.alive(), "the sleep's timer is armed");
    assert!(!h.is_finished());
    h.abort();
    assert_eq!(dropped.get(), 1, "abort drops the future at once");
    // Its timer closed with it: nothing keeps the loop alive.
    assert!(!lp.run(RunMode::Default).unwrap());
    let e = lp.block_on(h).unwrap().unwrap_err();
    assert!(e.is_cancelled());
    assert_eq!(format!("{e:?}"), "JoinError::Cancelled");
    assert_eq!(e.to_string(), "task was cancelled");
    assert!(!after.get());
    // Abort after completion changes nothing.
    let done = lp.spawn_local(async { 5 });
    lp.run(RunMode::Default).unwrap();
    done.abort();
    assert_eq!(lp.block_on(done).unwrap().unwrap(), 5);
}

#[test]
fn abort_from_inside_the_task() {
    let lp = Loop::new().unwrap();
    let slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::new(RefCell::new(None));
    let (guard, dropped) = DropCount::new();
    let reached = Rc::new(Cell::new(false));
    let (s, r) = (slot.clone(), reached.clone());
    let h = lp.spawn_local(async move {
        let _keep = guard;
        s.borrow().as_ref().expect("handle stored").abort();
        // Still running this poll; the future is dropped once it returns Pending.
        yield_now().await;
        r.set(true);
    });
    *slot.borrow_mut() = Some(h);
    lp.run(RunMode::Default).unwrap();
    assert!(!reached.get());
    assert_eq!(dropped.get(), 1);
    let h = slot.borrow_mut().take().unwrap();
    assert!(h.is_finished());
    assert!(lp.block_on(h).unwrap().unwrap_err().is_cancelled());
}

#[test]
fn panic_in_a_task_goes_to_its_handle() {
    let lp = Loop::new().unwrap();
    let e = lp
        .block_on(async {
            uvio::spawn_local(async {
                yield_now().await;
                panic!("task boom")
            })
            .await
        })
        .unwrap()
        .unwrap_err();
    assert!(e.is_panic());
    assert!(!e.is_cancelled());
    assert_eq!(e.to_string(), "task panicked: task boom");
    let io: std::io::Error = e.into();
    assert!(io.to_string().contains("task boom"));
    // The loop is fine afterwards.
    assert_eq!(lp.block_on(async { 1 }).unwrap(), 1);
    let e = lp
        .block_on(lp.spawn_local(async { panic!("again") }))
        .unwrap()
        .unwrap_err();
    assert_eq!(panic_message(&*e.try_into_panic().unwrap()), "again");
}

#[test]
fn detached_task_panic_is_resumed_from_block_on_and_run() {
    let lp = Loop::new().unwrap();
    let p = catch_unwind(AssertUnwindSafe(|| {
        lp.block_on(async {
            drop(uvio::spawn_local(async { panic!("detached boom") }));
            sleep(HOUR).await;
        })
    }))
    .unwrap_err();
    assert_eq!(panic_message(&*p), "detached boom");
    // The hour-long sleep was dropped with the unwound block_on.
    assert!(!lp.run(RunMode::Default).unwrap());
    drop(lp.spawn_local(async { panic!("run boom") }));
    let p = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default))).unwrap_err();
    assert_eq!(panic_message(&*p), "run boom");
    assert_eq!(lp.block_on(async { 2 }).unwrap(), 2);
}

#[test]
fn panic_in_block_on_future_unwinds_and_loop_stays_usable() {
    let lp = Loop::new().unwrap();
    let p = catch_unwind(AssertUnwindSafe(|| {
        lp.block_on(async {
            sleep(Duration::from_millis(1)).await;
            panic!("main boom")
        })
    }))
    .unwrap_err();
    assert_eq!(panic_message(&*p), "main boom");
    assert!(!format!("{lp:?}").contains("running: true"));
    assert_eq!(lp.block_on(async { 3 }).unwrap(), 3);
}

#[test]
fn panic_caught_while_the_main_future_runs_is_resumed_by_that_block_on() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    let lp = Loop::new().unwrap();
    let p = catch_unwind(AssertUnwindSafe(|| {
        lp.block_on(async {
            let h = uvio::spawn_local(async {
                let _p = PanicOnDrop;
                std::future::pending::<()>().await
            });
            yield_now().await;
            // Dropping the task's future panics; the main future then finishes.
            h.abort();
            5
        })
    }))
    .unwrap_err();
    assert_eq!(panic_message(&*p), "drop boom");
    // Not left for the next, unrelated call.
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn futures_polled_once_then_dropped() {
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let mut s = pin!(sleep(HOUR));
        assert!(futures::poll!(s.as_mut()).is_pending());
        let mut b = pin!(uvio::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(5));
            7
        }));
        let _ = futures::poll!(b.as_mut());
        let mut iv = uvio::time::interval(HOUR);
        assert!(futures::poll!(iv.next()).is_pending());
        let mut t = pin!(uvio::time::timeout(HOUR, sleep(HOUR)));
        assert!(futures::poll!(t.as_mut()).is_pending());
    })
    .unwrap();
    // Everything they started is gone or finishing: the loop runs dry.
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(
        lp.handle_count(),
        3,
        "only the executor's two handles and the shared sleep timer"
    );
}

#[test]
#[should_panic(expected = "uvio::spawn_local called outside a uvio loop")]
fn spawn_local_outside_a_loop_panics() {
    drop(uvio::spawn_local(async {}));
}

#[test]
fn tasks_spawned_before_run_run_during_run() {
    let lp = Loop::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let o = order.clone();
            lp.spawn_local(async move {
                o.borrow_mut().push(i);
                i * 10
            })
        })
        .collect();
    assert!(order.borrow().is_empty());
    assert!(lp.alive(), "queued tasks are work");
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(*order.borrow(), [0, 1, 2], "spawn order");
    for (i, h) in handles.into_iter().enumerate() {
        assert!(h.is_finished());
        assert_eq!(lp.block_on(h).unwrap().unwrap(), i * 10);
    }
}

#[test]
fn loop_is_not_left_alive_after_block_on() {
    let lp = Loop::new().unwrap();
    let v = lp
        .block_on(async { uvio::spawn_local(async { 4 }).await.unwrap() })
        .unwrap();
    assert_eq!(v, 4);
    assert!(!lp.alive(), "block_on left executor work behind");
    assert_eq!(lp.backend_timeout(), Some(Duration::ZERO));
    // uv_metrics_info needs libuv 1.45: skip that part on an older system libuv.
    let before = lp.metrics().ok().map(|m| m.loop_count);
    assert!(!lp.run(RunMode::NoWait).unwrap());
    if let Some(n) = before {
        assert_eq!(lp.metrics().unwrap().loop_count, n, "no iteration needed");
    }
}

#[test]
fn block_on_wakes_promptly_for_a_thread() {
    // If the cross-thread wake were lost, block_on would only return when the hour-long
    // timer fires; the timer's callback proves it did not.
    let lp = Loop::new().unwrap();
    let guard = Timer::new(&lp).unwrap();
    guard
        .start(HOUR, Duration::ZERO, |_| panic!("the wake was lost"))
        .unwrap();
    for i in 0..scale(50) {
        let (tx, rx) = oneshot::channel();
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            tx.send(i).unwrap();
        });
        assert_eq!(lp.block_on(rx).unwrap().unwrap(), i);
        th.join().unwrap();
    }
    // Also with no other handle at all.
    guard.close().unwrap();
    let (tx, rx) = oneshot::channel();
    let th = std::thread::spawn(move || tx.send(1).unwrap());
    assert_eq!(lp.block_on(rx).unwrap().unwrap(), 1);
    th.join().unwrap();
}

#[test]
fn loop_drop_drops_pending_tasks() {
    let lp = Loop::new().unwrap();
    let (guard, dropped) = DropCount::new();
    let mut handles = Vec::new();
    for i in 0..10 {
        let g = guard.another();
        handles.push(lp.spawn_local(async move {
            let _keep = g;
            if i % 2 == 0 {
                sleep(HOUR).await;
            } else {
                std::future::pending::<()>().await;
            }
        }));
    }
    // Half polled (pending), then more spawned and never polled.
    lp.run(RunMode::NoWait).unwrap();
    for _ in 0..5 {
        let g = guard.another();
        handles.push(lp.spawn_local(async move {
            let _keep = g;
        }));
    }
    drop(guard);
    assert_eq!(dropped.get(), 1);
    drop(lp);
    assert_eq!(dropped.get(), 16);
    assert!(handles.iter().all(|h| h.is_finished()));
}

#[test]
fn task_dropping_spawns_during_shutdown() {
    // A future whose Drop spawns and aborts: shutdown must not re-enter or leak.
    struct SpawnOnDrop(Rc<RefCell<Option<JoinHandle<()>>>>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            if let Some(h) = self.0.borrow_mut().take() {
                h.abort();
            }
            if let Some(lp) = uvio::LoopHandle::current() {
                let late = lp.spawn_local(async { unreachable!("spawned during shutdown") });
                assert!(late.is_finished());
            }
        }
    }
    let lp = Loop::new().unwrap();
    let slot = Rc::new(RefCell::new(None));
    let a = lp.spawn_local({
        let g = SpawnOnDrop(slot.clone());
        async move {
            let _g = g;
            std::future::pending::<()>().await
        }
    });
    let b = lp.spawn_local(std::future::pending::<()>());
    *slot.borrow_mut() = Some(b);
    lp.run(RunMode::NoWait).unwrap();
    drop(lp);
    assert!(a.is_finished());
}

#[test]
fn close_all_shuts_the_executor_for_good() {
    let lp = Loop::new().unwrap();
    let (guard, dropped) = DropCount::new();
    let pending = lp.spawn_local(async move {
        let _keep = guard;
        std::future::pending::<()>().await
    });
    lp.run(RunMode::NoWait).unwrap();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    lp.close_all(move || d.set(true));
    assert_eq!(dropped.get(), 1, "close_all drops the tasks");
    assert!(pending.is_finished());
    lp.run(RunMode::Default).unwrap();
    assert!(done.get());
    // No executor any more: spawns are cancelled, block_on refuses (it would otherwise
    // create handles and wakers nothing retires).
    assert!(lp.spawn_local(async {}).is_finished());
    let e = lp.block_on(async { 1 }).unwrap_err();
    assert_eq!(e.name(), "EBADF");
    // Plain handles still work on the open loop.
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_millis(1), Duration::ZERO, |_| ())
        .unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn close_all_from_inside_a_running_task() {
    // The task's own future must not be freed while it is being polled.
    let lp = Rc::new(Loop::new().unwrap());
    let (guard, dropped) = DropCount::new();
    let seen = Rc::new(RefCell::new(String::new()));
    let (l, s) = (lp.clone(), seen.clone());
    let _task = lp.spawn_local(async move {
        let _keep = guard;
        let local = String::from("still here");
        l.close_all(|| ());
        // Everything on this future's frame is still alive until this poll returns.
        s.borrow_mut().push_str(&local);
        yield_now().await;
        s.borrow_mut().push_str(" and polled again");
    });
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*seen.borrow(), "still here");
    assert_eq!(dropped.get(), 1, "dropped once its poll returned");
}

/// The order at the end of a callback: next ticks, then the tasks the callback woke (and the
/// ticks and tasks those queue), all before control returns to libuv. A task that yields
/// runs again in the loop's next idle phase (here, after the timers phase, the same
/// iteration's), and immediates in the check phase after the I/O poll.
#[test]
fn woken_tasks_run_at_the_end_of_the_callback_that_woke_them() {
    let lp = Loop::new().unwrap();
    let log: Rc<RefCell<Vec<&'static str>>> = Rc::default();
    let (tx, rx) = oneshot::channel::<()>();
    let (tx2, rx2) = oneshot::channel::<()>();
    let l = Rc::clone(&log);
    let woken = lp.spawn_local(async move {
        rx.await.unwrap();
        l.borrow_mut().push("task");
        let l2 = Rc::clone(&l);
        uvio::node::next_tick(move || l2.borrow_mut().push("tick from task"));
        tx2.send(()).unwrap();
    });
    let l = Rc::clone(&log);
    let chained = lp.spawn_local(async move {
        rx2.await.unwrap();
        l.borrow_mut().push("task woken by task");
        yield_now().await;
        l.borrow_mut().push("after yield");
    });
    let timer = Timer::new(&lp).unwrap();
    let l = Rc::clone(&log);
    let mut tx = Some(tx);
    timer
        .start(Duration::from_millis(1), Duration::ZERO, move |_| {
            l.borrow_mut().push("timer");
            let l2 = Rc::clone(&l);
            uvio::node::next_tick(move || l2.borrow_mut().push("tick"));
            let l3 = Rc::clone(&l);
            uvio::node::set_immediate(move || l3.borrow_mut().push("immediate"));
            tx.take().unwrap().send(()).unwrap();
            l.borrow_mut().push("timer returns");
        })
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "timer",
            "timer returns",
            "tick",
            "task",
            "task woken by task",
            "tick from task",
            "after yield",
            "immediate",
        ]
    );
    drop((woken, chained));
}

/// A readiness event costs one loop iteration: the task a read wakes is polled inside that
/// read's callback, so it writes the next ping and the loop goes back to waiting in the same
/// iteration. Against a peer in another thread (whose reply is not back before the loop polls
/// again, as on a real network) a round trip is one iteration; before, the task ran from an
/// idle handle in a second iteration whose poll could not block.
#[test]
fn a_round_trip_against_another_thread_takes_one_iteration() {
    use futures::{AsyncReadExt, AsyncWriteExt};
    use std::io::{Read, Write};
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let rounds = 300;
    let peer = std::thread::spawn(move || {
        let (mut s, _) = std_listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [0u8; 4];
        while s.read_exact(&mut buf).is_ok() {
            // Reply late enough that the loop is back in its poll before the bytes arrive.
            std::thread::sleep(Duration::from_micros(200));
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let lp = Loop::new().unwrap();
    let (before, after) = lp
        .block_on(async {
            let mut c = uvio::TcpStream::connect(addr).await.unwrap();
            c.set_nodelay(true).unwrap();
            let lh = uvio::LoopHandle::current().unwrap();
            let task = uvio::spawn_local(async move {
                let mut buf = [0u8; 4];
                let before = lh.metrics().map(|m| m.loop_count);
                for _ in 0..rounds {
                    c.write_all(b"ping").await.unwrap();
                    c.read_exact(&mut buf).await.unwrap();
                    assert_eq!(&buf, b"ping");
                }
                (before, lh.metrics().map(|m| m.loop_count))
            });
            task.await.unwrap()
        })
        .unwrap();
    peer.join().unwrap();
    let (Ok(before), Ok(after)) = (before, after) else {
        // uv_metrics_info is missing from the libuv in use (system mode before 1.45).
        return;
    };
    let per_round = (after - before) as f64 / f64::from(rounds);
    assert!(
        per_round < 1.3,
        "{per_round} loop iterations per round trip"
    );
}
