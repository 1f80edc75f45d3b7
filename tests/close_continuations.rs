//! `close_with`/`closed()` continuations (kept in a loop-side table, not in each handle),
//! `JoinHandle::abort`, and `sleep_until`: the paths the benchmark work made leaner.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use uvio::{Loop, RunMode, Timer};

#[test]
fn close_with_runs_every_continuation_in_order() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for i in 0..3 {
        let log = Rc::clone(&log);
        t.close_with(move || log.borrow_mut().push(i));
    }
    assert!(
        log.borrow().is_empty(),
        "runs only after the close callback"
    );
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*log.borrow(), [0, 1, 2]);
    // Once closed, a continuation still never runs on the caller's stack: the loop runs it.
    let log2 = Rc::clone(&log);
    t.close_with(move || log2.borrow_mut().push(3));
    assert_eq!(*log.borrow(), [0, 1, 2]);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*log.borrow(), [0, 1, 2, 3]);
}

#[test]
fn continuations_of_many_handles_stay_apart() {
    let lp = Loop::new().unwrap();
    let n = common::scale(2000);
    let hits: Rc<Vec<Cell<u32>>> = Rc::new((0..n).map(|_| Cell::new(0)).collect());
    let mut timers = Vec::new();
    for i in 0..n {
        let t = Timer::new(&lp).unwrap();
        // Every other handle gets a continuation; the others are closed by drop alone.
        if i % 2 == 0 {
            let hits = Rc::clone(&hits);
            t.close_with(move || hits[i].set(hits[i].get() + 1));
        }
        timers.push(t);
    }
    drop(timers);
    lp.run(RunMode::Default).unwrap();
    for (i, h) in hits.iter().enumerate() {
        assert_eq!(h.get(), u32::from(i % 2 == 0), "handle {i}");
    }
    assert_eq!(lp.handle_count(), 0);
    // Boxes freed and reused: new handles at old addresses must not inherit continuations.
    let fresh: Vec<Timer> = (0..n).map(|_| Timer::new(&lp).unwrap()).collect();
    drop(fresh);
    lp.run(RunMode::Default).unwrap();
    assert!(hits.iter().all(|h| h.get() <= 1));
}

#[test]
fn closed_future_and_continuation_on_one_handle() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = Rc::clone(&ran);
    t.close_with(move || r.set(true));
    let closed = t.closed();
    lp.block_on(closed).unwrap();
    assert!(ran.get());
    assert!(t.is_closing());
}

#[test]
fn continuation_left_when_the_loop_drops_is_dropped_not_leaked() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let token = Rc::new(());
    let held = Rc::clone(&token);
    let ran = Rc::new(Cell::new(false));
    let r = Rc::clone(&ran);
    t.close_with(move || {
        let _keep = &held;
        r.set(true);
    });
    // Shutting the loop down runs the close callback, hence the continuation.
    drop(lp);
    assert!(ran.get());
    assert_eq!(Rc::strong_count(&token), 1, "the continuation was freed");
    drop(t);
}

#[test]
fn abort_twice_and_after_finish() {
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let t = uvio::spawn_local(async {
            uvio::time::sleep(Duration::from_secs(3600)).await;
        });
        t.abort();
        t.abort();
        assert!(t.await.unwrap_err().is_cancelled());

        let done = uvio::spawn_local(async { 5 });
        let v = done.await.unwrap();
        assert_eq!(v, 5);
    })
    .unwrap();
    // Abort from inside the task itself, through a handle it can reach.
    let slot: Rc<RefCell<Option<uvio::JoinHandle<()>>>> = Rc::new(RefCell::new(None));
    let s2 = Rc::clone(&slot);
    let out = lp
        .block_on(async move {
            let h = uvio::spawn_local(async move {
                if let Some(h) = s2.borrow().as_ref() {
                    h.abort();
                }
                uvio::time::sleep(Duration::from_secs(3600)).await;
            });
            *slot.borrow_mut() = Some(h);
            let h = loop {
                uvio::time::sleep(Duration::from_millis(1)).await;
                if slot.borrow().as_ref().is_some_and(|h| h.is_finished()) {
                    break slot.borrow_mut().take().unwrap();
                }
            };
            h.await
        })
        .unwrap();
    assert!(out.unwrap_err().is_cancelled());
}

#[test]
fn sleep_and_sleep_until_both_wait() {
    let lp = Loop::new().unwrap();
    let start = Instant::now();
    lp.block_on(async {
        uvio::time::sleep(Duration::from_millis(3)).await;
        uvio::time::sleep_until(Instant::now() + Duration::from_millis(3)).await;
        // A deadline in the past is ready at once.
        uvio::time::sleep_until(start).await;
    })
    .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(6));
}
