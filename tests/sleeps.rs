//! `time::sleep` on the loop's shared timer: order, cancellation, loop liveness, shutdown.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use uvio::time::{sleep, sleep_until, timeout};
use uvio::{Loop, RunMode, Timer};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One round of [`sleeps_finish_by_deadline_then_start_order`] with deadlines `spacing`
/// apart: the order the tasks finished in, or `None` when a sleep was registered only after
/// its deadline had passed (the round then says nothing about deadline order).
fn deadline_order_round(spacing: Duration) -> Option<Vec<usize>> {
    let lp = Loop::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let late = Rc::new(Cell::new(false));
    let (o, l) = (Rc::clone(&order), Rc::clone(&late));
    let base = Instant::now();
    lp.block_on(async move {
        let after = [Some(3), None, Some(2), None, Some(1), Some(4)];
        let tasks: Vec<_> = after
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                let (o, l) = (Rc::clone(&o), Rc::clone(&l));
                uvio::spawn_local(async move {
                    let deadline = d.map(|d| base + spacing * d);
                    let mut s = pin!(match deadline {
                        Some(at) => sleep_until(at),
                        None => sleep(Duration::ZERO),
                    });
                    // The first poll registers the sleep; it must be before the deadline.
                    let first = std::future::poll_fn(|cx: &mut Context<'_>| {
                        Poll::Ready(s.as_mut().poll(cx))
                    })
                    .await;
                    if deadline.is_some_and(|at| Instant::now() >= at) {
                        l.set(true);
                    }
                    if first.is_pending() {
                        s.await;
                    }
                    o.borrow_mut().push(i);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    if late.get() {
        return None;
    }
    Some(order.take())
}

#[test]
fn sleeps_finish_by_deadline_then_start_order() {
    // Deadlines are fixed instants from one base, spaced apart; the zero sleeps share a
    // deadline and must finish in the order they started. A deadline that has already
    // passed when its sleep is registered becomes "now" and sorts by start order instead,
    // so a round in which a slow first poll (valgrind, a loaded machine) registered a sleep
    // that late is run again with twice the spacing; every round set up as intended is
    // checked exactly.
    let mut spacing = ms(50);
    for _ in 0..6 {
        if let Some(order) = deadline_order_round(spacing) {
            assert_eq!(order, [1, 3, 4, 2, 0, 5]);
            return;
        }
        spacing *= 2;
    }
    panic!("every round registered a sleep after its deadline (last spacing {spacing:?})");
}

#[test]
fn a_cancelled_sleep_does_not_keep_the_loop_alive() {
    let lp = Loop::new().unwrap();
    let r = lp
        .block_on(timeout(Duration::from_secs(3600), async { 7 }))
        .unwrap();
    assert_eq!(r.unwrap(), 7);
    // The hour-long sleep inside the timeout was dropped: nothing is pending.
    assert!(!lp.alive());
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn many_cancelled_sleeps_and_a_few_that_fire() {
    let lp = Loop::new().unwrap();
    let n = common::scale(5000);
    let fired = Rc::new(RefCell::new(0usize));
    let f = Rc::clone(&fired);
    lp.block_on(async move {
        let long: Vec<_> = (0..n)
            .map(|_| uvio::spawn_local(sleep(Duration::from_secs(3600))))
            .collect();
        let short: Vec<_> = (0..10u64)
            .map(|i| {
                let f = Rc::clone(&f);
                uvio::spawn_local(async move {
                    sleep(ms(i % 3)).await;
                    *f.borrow_mut() += 1;
                })
            })
            .collect();
        // Let every task start its sleep, then cancel the long ones.
        sleep(ms(0)).await;
        for t in &long {
            t.abort();
        }
        for t in short {
            t.await.unwrap();
        }
        for t in long {
            assert!(t.await.unwrap_err().is_cancelled());
        }
    })
    .unwrap();
    assert_eq!(*fired.borrow(), 10);
    // One non-blocking turn lets the executor drop its queue entries of aborted tasks.
    lp.run(RunMode::NoWait).unwrap();
    assert!(!lp.alive(), "no sleep left pending");
}

#[test]
fn an_elapsed_sleep_stays_elapsed() {
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let mut s = pin!(sleep(ms(1)));
        (&mut s).await;
        let again = std::future::poll_fn(|cx: &mut Context<'_>| Poll::Ready(s.as_mut().poll(cx)));
        assert!(again.await.is_ready());
        // A zero sleep finishes too.
        sleep(Duration::ZERO).await;
    })
    .unwrap();
}

#[test]
fn sleeps_on_two_loops_and_beside_callback_timers() {
    let a = Loop::new().unwrap();
    let b = Loop::new().unwrap();
    let t = Timer::new(&a).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = Rc::clone(&seen);
    t.start(ms(1), Duration::ZERO, move |_t| {
        s2.borrow_mut().push("timer")
    })
    .unwrap();
    let s3 = Rc::clone(&seen);
    a.block_on(async move {
        sleep(ms(3)).await;
        s3.borrow_mut().push("sleep");
    })
    .unwrap();
    assert_eq!(*seen.borrow(), ["timer", "sleep"]);
    b.block_on(sleep(ms(1))).unwrap();
    a.block_on(sleep(ms(1))).unwrap();
}

#[test]
fn a_sleep_can_outlive_its_loop() {
    let lp = Loop::new().unwrap();
    let kept = Rc::new(RefCell::new(None));
    let k = Rc::clone(&kept);
    lp.block_on(async move {
        let mut s = Box::pin(sleep(Duration::from_secs(3600)));
        let first = std::future::poll_fn(|cx: &mut Context<'_>| Poll::Ready(s.as_mut().poll(cx)));
        assert!(first.await.is_pending());
        *k.borrow_mut() = Some(s);
    })
    .unwrap();
    drop(lp);
    // Dropped after the loop: releases its entry on the (still allocated) shared state.
    drop(kept.borrow_mut().take());
}
