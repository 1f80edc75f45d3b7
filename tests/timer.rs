//! Timers with libuv's semantics, and the timer futures (`sleep`, `interval`, `timeout`).
mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::DropCount;
use futures::StreamExt;
use uvio::time::{interval, sleep, sleep_until, timeout};
use uvio::{Loop, RunMode, Timer};

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A counter shared between a callback and the test.
fn counter() -> (Rc<Cell<u32>>, Rc<Cell<u32>>) {
    let c = Rc::new(Cell::new(0));
    (c.clone(), c)
}

fn bump(c: &Cell<u32>) {
    c.set(c.get() + 1);
}

#[test]
fn staggered_timers_fire_once_each_in_deadline_order() {
    let lp = Loop::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let mut timers = Vec::new();
    // Started in reverse so that firing order can only come from the deadlines.
    for i in (0..6u64).rev() {
        let t = Timer::new(&lp).unwrap();
        let o = order.clone();
        t.start(ms(i * 50), Duration::ZERO, move |_| o.borrow_mut().push(i))
            .unwrap();
        timers.push(t);
    }
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(*order.borrow(), vec![0, 1, 2, 3, 4, 5]);
    assert!(timers.iter().all(|t| !t.is_active()));
}

#[test]
fn equal_deadlines_fire_in_start_order() {
    let lp = Loop::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let timers: Vec<Timer> = (0..20)
        .map(|i| {
            let t = Timer::new(&lp).unwrap();
            let o = order.clone();
            t.start(ms(10), Duration::ZERO, move |_| o.borrow_mut().push(i))
                .unwrap();
            t
        })
        .collect();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*order.borrow(), (0..20).collect::<Vec<_>>());
    drop(timers);
}

#[test]
fn restarting_an_active_timer_replaces_schedule_and_callback() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let (old, old_seen) = counter();
    let (new, new_seen) = counter();
    let (guard, old_dropped) = DropCount::new();
    t.start(MS, MS, move |_| {
        let _keep = &guard;
        bump(&old)
    })
    .unwrap();
    // Replacing drops the first callback at once.
    let start = lp.now();
    let fired_at = Rc::new(Cell::new(0));
    let f = fired_at.clone();
    let l = lp.handle();
    t.start(ms(40), Duration::ZERO, move |_| {
        bump(&new);
        f.set(l.now());
    })
    .unwrap();
    assert_eq!(old_dropped.get(), 1);
    assert_eq!(t.repeat(), Duration::ZERO);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(old_seen.get(), 0);
    assert_eq!(new_seen.get(), 1);
    // The old 1 ms schedule is gone: the only firing is on the new one (loop time).
    assert!(
        fired_at.get() >= start + 40,
        "{} < {start} + 40",
        fired_at.get()
    );
}

#[test]
fn again_needs_a_started_timer() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let e = t.again().unwrap_err();
    assert_eq!(e.name(), "EINVAL");
    assert_eq!(e.operation(), Some("Timer::again"));

    // After a stop, `again` restarts with the repeat as the timeout, same callback.
    let (n, seen) = counter();
    t.start(HOUR, ms(2), move |t| {
        bump(&n);
        if n.get() == 2 {
            t.stop().unwrap();
        }
    })
    .unwrap();
    t.stop().unwrap();
    assert!(!t.is_active());
    t.again().unwrap();
    assert!(t.is_active());
    assert_eq!(t.due_in(), ms(2));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(seen.get(), 2);
}

#[test]
fn zero_timeout_fires_exactly_once() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let (n, seen) = counter();
    t.start(Duration::ZERO, Duration::ZERO, move |_| bump(&n))
        .unwrap();
    assert!(lp.run(RunMode::Default).is_ok());
    assert_eq!(seen.get(), 1);
    assert!(!t.is_active());
    // Running again does not fire it again.
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(seen.get(), 1);
}

#[test]
fn overdue_repeating_timer_fires_once_per_iteration() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let (n, seen) = counter();
    let period = ms(5);
    t.start(period, period, move |_| {
        bump(&n);
        if n.get() == 1 {
            // Block for many periods: the timer is now overdue by about 10 of them.
            std::thread::sleep(period * 10);
        }
    })
    .unwrap();
    // Iterate until the first firing (it may take several iterations).
    while seen.get() == 0 {
        assert!(lp.run(RunMode::Once).unwrap());
    }
    assert_eq!(seen.get(), 1);
    // Now every iteration fires at most once: no burst to catch up. A check handle counts
    // the iterations (the loop's metrics are libuv 1.45's; this runs on 1.44 too).
    let (iter, iterations) = counter();
    let check = uvio::Check::new(&lp).unwrap();
    check.start(move |_| bump(&iter)).unwrap();
    // libuv before 1.45 also ran due timers at the end of a `RunMode::Once` iteration: at
    // most once there, plus once more.
    let per_run = if common::libuv_at_least((1, 45, 0)) {
        1
    } else {
        2
    };
    lp.run(RunMode::Once).unwrap();
    assert!(
        (2..=1 + per_run).contains(&seen.get()),
        "the overdue timer fires once in the next iteration, not {}",
        seen.get() - 1
    );
    for _ in 0..5 {
        let was = seen.get();
        lp.run(RunMode::Once).unwrap();
        assert!(
            seen.get() - was <= per_run,
            "fired {} times in one iteration",
            seen.get() - was
        );
    }
    assert_eq!(iterations.get(), 6);
    assert!(seen.get() - 1 <= per_run * iterations.get());
}

#[test]
fn unreferenced_timer_neither_fires_nor_keeps_the_loop_alive() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let (n, seen) = counter();
    t.start(ms(10), Duration::ZERO, move |_| bump(&n)).unwrap();
    t.unref();
    assert!(!t.has_ref());
    assert!(t.is_active());
    assert!(!lp.alive());
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(seen.get(), 0);
    assert!(t.is_active(), "the timer is still armed");
    t.ref_();
    assert!(t.has_ref());
    assert!(lp.alive());
    lp.run(RunMode::Default).unwrap();
    assert_eq!(seen.get(), 1);
}

#[test]
fn run_once_and_nowait() {
    let lp = Loop::new().unwrap();
    // Nothing to do: every mode returns false at once.
    for mode in [RunMode::Default, RunMode::Once, RunMode::NoWait] {
        assert!(!lp.run(mode).unwrap(), "{mode:?}");
    }
    let far = Timer::new(&lp).unwrap();
    far.start(HOUR, Duration::ZERO, |_| panic!("an hour passed"))
        .unwrap();
    // NoWait polls without blocking (else this test would take an hour) and reports that
    // work remains.
    for _ in 0..3 {
        assert!(lp.run(RunMode::NoWait).unwrap());
    }
    // Once blocks until something happens: the near timer fires, the far one remains.
    let near = Timer::new(&lp).unwrap();
    let (n, seen) = counter();
    near.start(ms(5), Duration::ZERO, move |_| bump(&n))
        .unwrap();
    while seen.get() == 0 {
        assert!(lp.run(RunMode::Once).unwrap());
    }
    far.stop().unwrap();
    assert!(!lp.run(RunMode::Once).unwrap());
    assert!(!lp.run(RunMode::NoWait).unwrap());
}

#[test]
fn stop_inside_a_callback() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let (n, seen) = counter();
    t.start(MS, MS, move |t| {
        bump(&n);
        if n.get() == 2 {
            t.loop_handle().stop();
        }
    })
    .unwrap();
    // The loop stops with the timer still active: run says work remains.
    assert!(lp.run(RunMode::Default).unwrap());
    assert_eq!(seen.get(), 2);
    assert!(t.is_active());
    // The stop flag was consumed: the next run continues.
    let t2 = Timer::new(&lp).unwrap();
    let (m, seen2) = counter();
    t2.start(MS, Duration::ZERO, move |_| bump(&m)).unwrap();
    t.stop().unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert_eq!(seen2.get(), 1);
    assert_eq!(seen.get(), 2);
}

#[test]
fn alive_before_and_after() {
    let lp = Loop::new().unwrap();
    assert!(!lp.alive());
    let t = Timer::new(&lp).unwrap();
    assert!(!lp.alive(), "an idle timer is not work");
    t.start(MS, Duration::ZERO, |_| ()).unwrap();
    assert!(lp.alive());
    lp.run(RunMode::Default).unwrap();
    assert!(!lp.alive());
}

#[test]
fn nothing_runs_on_the_stack_of_the_call_that_scheduled_it() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let (n, seen) = counter();
    t.start(Duration::ZERO, Duration::ZERO, move |_| bump(&n))
        .unwrap();
    assert_eq!(seen.get(), 0, "start(0) ran the callback synchronously");

    let polled = Rc::new(Cell::new(false));
    let p = polled.clone();
    let _task = lp.spawn_local(async move { p.set(true) });
    assert!(!polled.get(), "spawn_local polled synchronously");
    lp.run(RunMode::Default).unwrap();
    assert_eq!(seen.get(), 1);
    assert!(polled.get());

    // Inside a callback too: restarting at zero from the callback does not recurse.
    let depth = Rc::new(Cell::new(0));
    let max_depth = Rc::new(Cell::new(0));
    let (n, seen) = counter();
    let (d, md) = (depth.clone(), max_depth.clone());
    t.start(Duration::ZERO, Duration::ZERO, move |t| {
        d.set(d.get() + 1);
        md.set(md.get().max(d.get()));
        bump(&n);
        if n.get() < 3 {
            let n = n.clone();
            let d2 = d.clone();
            t.start(Duration::ZERO, Duration::ZERO, move |_| {
                d2.set(d2.get() + 1);
                bump(&n);
                d2.set(d2.get() - 1);
            })
            .unwrap();
        }
        d.set(d.get() - 1);
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(seen.get(), 2);
    assert_eq!(max_depth.get(), 1);
    assert_eq!(depth.get(), 0);

    // And spawn_local from inside a task.
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    lp.block_on(async move {
        let o2 = o.clone();
        let h = uvio::spawn_local(async move { o2.borrow_mut().push("child") });
        o.borrow_mut().push("parent");
        h.await.unwrap();
    })
    .unwrap();
    assert_eq!(*order.borrow(), vec!["parent", "child"]);
}

#[test]
fn callback_replaces_itself() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let (a, first_seen) = counter();
    let (b, second_seen) = counter();
    let (guard, first_dropped) = DropCount::new();
    t.start(MS, MS, move |t| {
        let _keep = &guard;
        bump(&a);
        let b = b.clone();
        t.start(MS, MS, move |t| {
            bump(&b);
            if b.get() == 3 {
                t.stop().unwrap();
            }
        })
        .unwrap();
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(first_seen.get(), 1);
    assert_eq!(second_seen.get(), 3);
    assert_eq!(first_dropped.get(), 1, "the replaced callback is dropped");
    // The stopped callback stays installed for `again`.
    t.again().unwrap();
    lp.run(RunMode::Once).unwrap();
    t.stop().unwrap();
    assert!(second_seen.get() >= 3);
}

#[test]
fn close_inside_own_callback() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let (n, seen) = counter();
    let (guard, dropped) = DropCount::new();
    let closed = Rc::new(Cell::new(false));
    let c = closed.clone();
    t.start(MS, MS, move |t| {
        let _keep = &guard;
        bump(&n);
        t.close().unwrap();
        assert!(t.is_closing());
        assert_eq!(t.start(MS, MS, |_| ()).unwrap_err().name(), "EBADF");
        let c = c.clone();
        t.close_with(move || c.set(true));
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(seen.get(), 1, "a closed repeating timer fires no more");
    assert_eq!(dropped.get(), 1, "the callback is dropped by the close");
    assert!(closed.get());
    assert!(t.is_closing());
    assert_eq!(t.close().unwrap_err().name(), "EBADF");
    assert_eq!(t.stop().unwrap_err().name(), "EBADF");
    assert_eq!(t.again().unwrap_err().name(), "EBADF");
}

#[test]
fn drop_own_owner_inside_callback() {
    let lp = Loop::new().unwrap();
    let slot: Rc<RefCell<Option<Timer>>> = Rc::new(RefCell::new(None));
    let t = Timer::new(&lp).unwrap();
    let (n, seen) = counter();
    let s = slot.clone();
    t.start(MS, MS, move |t| {
        bump(&n);
        let owner = s.borrow_mut().take();
        drop(owner);
        // The borrowed view is still usable (reports the close).
        assert!(t.is_closing());
    })
    .unwrap();
    *slot.borrow_mut() = Some(t);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(seen.get(), 1);
    assert_eq!(lp.handle_count(), 0);
}

#[test]
fn repeat_and_due_in() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    assert_eq!(t.repeat(), Duration::ZERO);
    assert_eq!(t.due_in(), Duration::ZERO);
    t.set_repeat(ms(250)).unwrap();
    assert_eq!(t.repeat(), ms(250));
    // Sub-millisecond parts round up.
    t.set_repeat(Duration::from_micros(1500)).unwrap();
    assert_eq!(t.repeat(), ms(2));
    t.start(HOUR, ms(7), |_| ()).unwrap();
    assert_eq!(t.repeat(), ms(7));
    // The loop time does not move between start and due_in.
    assert_eq!(t.due_in(), HOUR);
    t.stop().unwrap();
    assert_eq!(t.due_in(), Duration::ZERO);
    // From a callback, set_repeat only affects the schedule after the next one (libuv):
    // a one-shot timer has already stopped...
    let (n, seen) = counter();
    t.start(MS, Duration::ZERO, move |t| {
        bump(&n);
        t.set_repeat(MS).unwrap();
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(seen.get(), 1);
    assert_eq!(t.repeat(), MS);
    // ...and a repeating one fires once more on the old repeat.
    let (n, seen) = counter();
    t.start(MS, MS, move |t| {
        bump(&n);
        t.set_repeat(Duration::ZERO).unwrap();
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(seen.get(), 2);
    t.close().unwrap();
    assert_eq!(t.repeat(), Duration::ZERO);
    assert_eq!(t.due_in(), Duration::ZERO);
    assert_eq!(t.set_repeat(MS).unwrap_err().name(), "EBADF");
}

#[test]
fn debug_shows_state() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(HOUR, ms(250), |_| ()).unwrap();
    let s = format!("{t:?}");
    assert!(s.contains("active: true"), "{s}");
    assert!(s.contains("repeat: 250ms"), "{s}");
    assert!(s.contains("due_in: 3600s"), "{s}");
    assert!(!s.contains("0x"), "{s}");
    t.stop().unwrap();
    assert!(format!("{t:?}").contains("active: false"));
    t.close().unwrap();
    assert_eq!(format!("{t:?}"), "Timer { closed: true }");
    let l = format!("{lp:?}");
    assert!(
        l.contains("handles: 1") && l.contains("closed: false"),
        "{l}"
    );
}

// ----- futures -----

#[test]
fn sleep_waits_at_least_its_duration() {
    let lp = Loop::new().unwrap();
    // A stale loop time (nothing ran for a while) must not shorten the sleep.
    std::thread::sleep(ms(60));
    let start = Instant::now();
    lp.block_on(sleep(ms(30))).unwrap();
    assert!(start.elapsed() >= ms(30), "{:?}", start.elapsed());
    // Created inside the future, polled right away on a loop whose time is stale.
    std::thread::sleep(ms(60));
    let start = Instant::now();
    lp.block_on(async { sleep(ms(30)).await }).unwrap();
    assert!(start.elapsed() >= ms(30), "{:?}", start.elapsed());
    let t0 = lp.now();
    lp.block_on(sleep(ms(20))).unwrap();
    assert!(lp.now() >= t0 + 20);
    // A zero sleep completes.
    lp.block_on(sleep(Duration::ZERO)).unwrap();
    // Sleeps share one timer per loop: nothing else is left open, and nothing keeps the
    // loop alive.
    assert!(!lp.run(RunMode::NoWait).unwrap());
    assert_eq!(
        lp.handle_count(),
        3,
        "only the executor's two handles and the shared sleep timer remain"
    );
}

#[test]
fn sleep_until_reaches_its_deadline() {
    let lp = Loop::new().unwrap();
    for _ in 0..3 {
        std::thread::sleep(ms(60));
        let deadline = Instant::now() + ms(30);
        lp.block_on(async { sleep_until(deadline).await }).unwrap();
        assert!(Instant::now() >= deadline);
    }
    // A deadline in the past completes.
    lp.block_on(sleep_until(Instant::now() - ms(10))).unwrap();
}

#[test]
fn interval_is_a_stream_of_ticks() {
    let lp = Loop::new().unwrap();
    let ticks = lp
        .block_on(async {
            let mut iv = interval(ms(3));
            let mut got = Vec::new();
            for _ in 0..4 {
                got.push(iv.next().await.unwrap());
            }
            got.push(iv.tick().await);
            got
        })
        .unwrap();
    assert_eq!(ticks.len(), 5);
    assert!(ticks.windows(2).all(|w| w[0] <= w[1]));
    // Dropping the interval closed its timer.
    assert!(!lp.run(RunMode::NoWait).unwrap());
}

#[test]
fn timeout_both_outcomes() {
    let lp = Loop::new().unwrap();
    let ok = lp.block_on(timeout(HOUR, async { 5 })).unwrap();
    assert_eq!(ok.unwrap(), 5);
    let ok = lp
        .block_on(timeout(HOUR, async {
            sleep(ms(5)).await;
            6
        }))
        .unwrap();
    assert_eq!(ok.unwrap(), 6);
    let (guard, dropped) = DropCount::new();
    let err = lp
        .block_on(timeout(ms(5), async move {
            let _keep = guard;
            sleep(HOUR).await;
        }))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.name(), "ETIMEDOUT");
    assert_eq!(dropped.get(), 1, "the inner future was dropped");
    // Nothing is left armed: the hour-long sleep's timer was closed.
    assert!(!lp.run(RunMode::NoWait).unwrap());
}

#[test]
fn interval_does_not_burst_after_a_stall() {
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let period = ms(2);
        let mut iv = interval(period);
        iv.next().await.unwrap();
        // Stall the loop thread for many periods.
        std::thread::sleep(period * 20);
        // The missed ticks are not delivered as a burst: one tick, then nothing ready.
        iv.next().await.unwrap();
        assert!(futures::poll!(iv.next()).is_pending());
        iv.next().await.unwrap();
        assert!(futures::poll!(iv.next()).is_pending());
    })
    .unwrap();
}
