//! uvio::node: Node's scheduling functions, in the order Node documents.
mod common;

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use uvio::node::{
    self, next_tick, set_immediate, set_immediate_in, set_interval_in, set_timeout, set_timeout_in,
};
use uvio::{Loop, Prepare, RunMode};

type Log = Rc<RefCell<Vec<String>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

/// A closure that appends `what` to the log.
fn push(l: &Log, what: &str) -> impl FnOnce() + 'static {
    let (l, what) = (l.clone(), what.to_string());
    move || l.borrow_mut().push(what)
}

fn entries(l: &Log) -> Vec<String> {
    l.borrow().clone()
}

const ZERO: Duration = Duration::ZERO;

#[test]
fn immediate_runs_before_a_zero_timeout_set_from_a_timer() {
    let lp = Loop::new().unwrap();
    let l = log();
    let l2 = l.clone();
    set_timeout_in(&lp, ZERO, move || {
        // Set in this order on purpose: the phase decides, not the order.
        set_timeout(ZERO, push(&l2, "timeout"));
        set_immediate(push(&l2, "immediate"));
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(entries(&l), ["immediate", "timeout"]);
}

#[test]
fn next_tick_runs_before_immediates_and_timers_and_ticks_from_ticks_first() {
    let lp = Loop::new().unwrap();
    let l = log();
    let l2 = l.clone();
    set_timeout_in(&lp, ZERO, move || {
        set_timeout(ZERO, push(&l2, "timeout"));
        set_immediate(push(&l2, "immediate"));
        let l3 = l2.clone();
        next_tick(move || {
            l3.borrow_mut().push("tick 1".into());
            next_tick(push(&l3, "tick from tick"));
        });
        next_tick(push(&l2, "tick 2"));
        l2.borrow_mut().push("callback body".into());
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        entries(&l),
        [
            "callback body",
            "tick 1",
            "tick 2",
            "tick from tick",
            "immediate",
            "timeout"
        ]
    );
}

#[test]
fn ticks_run_between_immediates_and_nested_ticks_inside_an_immediate() {
    let lp = Loop::new().unwrap();
    let l = log();
    let l2 = l.clone();
    set_immediate_in(&lp, move || {
        l2.borrow_mut().push("immediate 1".into());
        let l3 = l2.clone();
        next_tick(move || {
            l3.borrow_mut().push("tick in 1".into());
            next_tick(push(&l3, "nested tick in 1"));
        });
    })
    .unwrap();
    set_immediate_in(&lp, push(&l, "immediate 2")).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        entries(&l),
        [
            "immediate 1",
            "tick in 1",
            "nested tick in 1",
            "immediate 2"
        ]
    );
}

#[test]
fn immediates_set_during_the_drain_run_on_the_next_iteration() {
    let lp = Loop::new().unwrap();
    // A prepare watcher counts iterations.
    let iter = Rc::new(Cell::new(0u32));
    let prepare = Prepare::new(&lp).unwrap();
    let it = iter.clone();
    prepare.start(move |_| it.set(it.get() + 1)).unwrap();
    prepare.unref();
    let seen: Rc<RefCell<Vec<(&str, u32)>>> = Rc::default();
    let (s, it) = (seen.clone(), iter.clone());
    set_immediate_in(&lp, move || {
        s.borrow_mut().push(("first", it.get()));
        let (s2, it2) = (s.clone(), it.clone());
        set_immediate(move || s2.borrow_mut().push(("set during drain", it2.get())));
    })
    .unwrap();
    let (s, it) = (seen.clone(), iter.clone());
    set_immediate_in(&lp, move || s.borrow_mut().push(("second", it.get()))).unwrap();
    lp.run(RunMode::Default).unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].0, "first");
    assert_eq!(seen[1].0, "second");
    assert_eq!(seen[2].0, "set during drain");
    assert_eq!(seen[0].1, seen[1].1, "queued together, drained together");
    assert!(seen[2].1 > seen[1].1, "set while draining: next iteration");
}

#[test]
fn timeouts_fire_in_deadline_then_creation_order() {
    let lp = Loop::new().unwrap();
    let l = log();
    set_timeout_in(&lp, Duration::from_millis(3), push(&l, "3ms")).unwrap();
    set_timeout_in(&lp, Duration::from_millis(1), push(&l, "1ms a")).unwrap();
    set_timeout_in(&lp, Duration::from_millis(1), push(&l, "1ms b")).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(entries(&l), ["1ms a", "1ms b", "3ms"]);
}

#[test]
fn interval_cleared_from_inside_its_callback() {
    let lp = Loop::new().unwrap();
    let n = Rc::new(Cell::new(0));
    let seen = n.clone();
    let t = set_interval_in(&lp, Duration::from_millis(1), move |t| {
        seen.set(seen.get() + 1);
        assert!(t.is_interval());
        if seen.get() == 3 {
            t.clear();
            assert!(!t.is_pending());
        }
    })
    .unwrap();
    assert!(t.is_pending());
    lp.run(RunMode::Default).unwrap();
    assert_eq!(n.get(), 3);
    assert!(!t.is_pending());
    assert!(!t.has_ref());
    assert_eq!(lp.handle_count(), 0, "the interval's timer is closed");
}

#[test]
fn interval_cleared_from_outside_by_another_timeout() {
    let lp = Loop::new().unwrap();
    let n = Rc::new(Cell::new(0));
    let seen = n.clone();
    let iv = set_interval_in(&lp, Duration::from_millis(1), move |_| {
        seen.set(seen.get() + 1)
    })
    .unwrap();
    let n2 = n.clone();
    let waiter = Rc::new(RefCell::new(None));
    let w2 = waiter.clone();
    // Poll every millisecond until the interval ran twice, then clear it.
    let check = set_interval_in(&lp, Duration::from_millis(1), move |me| {
        if n2.get() >= 2 {
            node::clear_interval(&iv);
            me.clear();
            w2.borrow_mut().take();
        }
    })
    .unwrap();
    *waiter.borrow_mut() = Some(check);
    lp.run(RunMode::Default).unwrap();
    assert!(n.get() >= 2);
}

#[test]
fn clear_before_fire_never_runs() {
    let lp = Loop::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let t = set_timeout_in(&lp, Duration::from_millis(1), move || r.set(true)).unwrap();
    let r = ran.clone();
    let im = set_immediate_in(&lp, move || r.set(true)).unwrap();
    node::clear_timeout(&t);
    node::clear_immediate(&im);
    t.clear();
    im.clear();
    assert!(!t.is_pending() && !im.is_pending());
    assert!(!lp.run(RunMode::Default).unwrap());
    assert!(!ran.get());
}

#[test]
fn dropping_the_returned_handles_does_not_cancel() {
    let lp = Loop::new().unwrap();
    let l = log();
    drop(set_timeout_in(&lp, Duration::from_millis(1), push(&l, "timeout")).unwrap());
    drop(set_immediate_in(&lp, push(&l, "immediate")).unwrap());
    lp.run(RunMode::Default).unwrap();
    // Which comes first depends on whether 1 ms passed before the loop started (as in Node
    // for a script's own setTimeout and setImmediate); both run.
    let mut got = entries(&l);
    got.sort();
    assert_eq!(got, ["immediate", "timeout"]);
    assert_eq!(
        lp.handle_count(),
        2,
        "only the loop's shared check and idle handles"
    );
}

#[test]
fn unrefd_timeout_does_not_keep_the_loop_alive() {
    let lp = Loop::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let t = set_timeout_in(&lp, Duration::from_secs(3600), move || r.set(true)).unwrap();
    assert!(t.has_ref());
    t.unref();
    assert!(!t.has_ref());
    assert!(t.is_pending());
    assert!(
        !lp.run(RunMode::Default).unwrap(),
        "run returns with only an unref'd timeout"
    );
    assert!(!ran.get());
    // ref_ makes it count again.
    t.ref_();
    assert!(t.has_ref());
    assert!(lp.alive());
    t.clear();
    assert!(!t.is_pending());
    assert!(!lp.run(RunMode::Default).unwrap());
    assert!(!ran.get());
}

#[test]
fn unrefd_immediate_does_not_keep_the_loop_alive_but_runs_when_the_loop_does() {
    let lp = Loop::new().unwrap();
    let l = log();
    let im = set_immediate_in(&lp, push(&l, "unref'd immediate")).unwrap();
    im.unref();
    assert!(!im.has_ref());
    assert!(im.is_pending());
    assert!(!lp.alive());
    assert!(!lp.run(RunMode::Default).unwrap());
    assert!(entries(&l).is_empty());
    // Something else keeps the loop going: the unref'd immediate runs in that iteration.
    set_immediate_in(&lp, push(&l, "ref'd immediate")).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(entries(&l), ["unref'd immediate", "ref'd immediate"]);
    im.ref_();
    assert!(!im.has_ref(), "a finished immediate keeps nothing alive");
}

#[test]
fn pending_work_is_dropped_unrun_when_the_loop_is_dropped() {
    let lp = Loop::new().unwrap();
    let token = Rc::new(());
    let ran = Rc::new(Cell::new(0));
    let (t1, r1) = (token.clone(), ran.clone());
    let timeout = set_timeout_in(&lp, Duration::from_secs(3600), move || {
        let _ = &t1;
        r1.set(r1.get() + 1);
    })
    .unwrap();
    let (t2, r2) = (token.clone(), ran.clone());
    drop(set_interval_in(&lp, Duration::from_secs(3600), move |_| {
        let _ = &t2;
        r2.set(r2.get() + 1);
    }));
    let (t3, r3) = (token.clone(), ran.clone());
    let imm = set_immediate_in(&lp, move || {
        let _ = &t3;
        r3.set(r3.get() + 1);
    })
    .unwrap();
    let handle = lp.handle();
    drop(lp);
    assert_eq!(ran.get(), 0);
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "every pending callback was dropped"
    );
    assert!(!timeout.is_pending() && !timeout.has_ref());
    timeout.clear();
    assert!(!imm.is_pending() && !imm.has_ref());
    imm.clear();
    // The `_in` functions report the closed loop.
    let e = set_timeout_in(&handle, ZERO, || {}).unwrap_err();
    assert_eq!(e.name(), "EBADF");
    assert_eq!(
        set_immediate_in(&handle, || {}).unwrap_err().name(),
        "EBADF"
    );
    assert_eq!(
        set_interval_in(&handle, ZERO, |_| {}).unwrap_err().name(),
        "EBADF"
    );
}

#[test]
fn immediates_work_again_after_close_all() {
    let lp = Loop::new().unwrap();
    let l = log();
    set_immediate_in(&lp, push(&l, "before")).unwrap();
    lp.run(RunMode::Default).unwrap();
    lp.close_all(|| {});
    // Queued while the shared check handle is closing: a new one takes over.
    set_immediate_in(&lp, push(&l, "after close_all")).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(entries(&l), ["before", "after close_all"]);
}

#[test]
fn a_panicking_immediate_is_resumed_and_the_rest_run_later() {
    let lp = Loop::new().unwrap();
    let l = log();
    set_immediate_in(&lp, || panic!("immediate boom")).unwrap();
    set_immediate_in(&lp, push(&l, "after the panic")).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default)));
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"immediate boom"));
    assert!(entries(&l).is_empty());
    lp.run(RunMode::Default).unwrap();
    assert_eq!(entries(&l), ["after the panic"]);
}

#[test]
fn a_panicking_timeout_is_resumed_and_the_loop_drops_cleanly() {
    let lp = Loop::new().unwrap();
    set_timeout_in(&lp, ZERO, || panic!("timeout boom")).unwrap();
    set_interval_in(&lp, Duration::from_millis(1), |_| {}).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert!(r.is_err());
    drop(lp);
}

#[test]
fn the_plain_functions_need_a_running_loop() {
    assert!(catch_unwind(|| set_timeout(ZERO, || {})).is_err());
    assert!(catch_unwind(|| set_immediate(|| {})).is_err());
    assert!(catch_unwind(|| next_tick(|| {})).is_err());
    // Inside the loop they find it.
    let lp = Loop::new().unwrap();
    let l = log();
    let l2 = l.clone();
    lp.block_on(async move {
        set_immediate(push(&l2, "immediate"));
        next_tick(push(&l2, "tick"));
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(entries(&l), ["tick", "immediate"]);
}

#[test]
fn many_immediates_and_timeouts() {
    let lp = Loop::new().unwrap();
    let n = common::scale(5_000);
    let count = Rc::new(Cell::new(0usize));
    for i in 0..n {
        let c = count.clone();
        let im = set_immediate_in(&lp, move || c.set(c.get() + 1)).unwrap();
        if i % 10 == 0 {
            im.clear();
        }
        let c = count.clone();
        let t = set_timeout_in(&lp, Duration::from_millis((i % 3) as u64), move || {
            c.set(c.get() + 1)
        })
        .unwrap();
        if i % 10 == 0 {
            t.clear();
        }
    }
    lp.run(RunMode::Default).unwrap();
    let cleared = n.div_ceil(10);
    assert_eq!(count.get(), 2 * (n - cleared));
}

#[test]
fn debug_shows_meaning() {
    let lp = Loop::new().unwrap();
    let t = set_timeout_in(&lp, Duration::from_secs(1), || {}).unwrap();
    assert_eq!(
        format!("{t:?}"),
        "Timeout { interval: false, pending: true, ref: true }"
    );
    t.clear();
    assert_eq!(
        format!("{t:?}"),
        "Timeout { interval: false, pending: false, ref: false }"
    );
    let im = set_immediate_in(&lp, || {}).unwrap();
    assert_eq!(format!("{im:?}"), "Immediate { pending: true, ref: true }");
}
