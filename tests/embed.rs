//! uvio on a borrowed loop (`Loop::from_raw`): a loop this test owns and runs with raw libuv
//! calls, the way a C host or Node.js does.

mod common;

use std::cell::{Cell, RefCell};
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::time::{Duration, Instant};

use uvio::{Loop, RunMode, Timer, ffi};

/// A loop owned by "the host": initialised, run and closed with raw libuv calls.
struct HostLoop(Box<MaybeUninit<ffi::uv_loop_t>>);

impl HostLoop {
    fn new() -> HostLoop {
        let mut b = Box::new(MaybeUninit::zeroed());
        // SAFETY: the box is writable memory of the right size that never moves.
        assert_eq!(unsafe { ffi::uv_loop_init(b.as_mut_ptr()) }, 0);
        HostLoop(b)
    }
    fn raw(&mut self) -> *mut ffi::uv_loop_t {
        self.0.as_mut_ptr()
    }
    /// `uv_run(DEFAULT)`: returns once nothing referenced is left.
    fn run(&mut self) {
        // SAFETY: the loop is initialised and run only on this thread.
        unsafe { ffi::uv_run(self.raw(), ffi::UV_RUN_DEFAULT) };
    }
    fn close(mut self) -> i32 {
        // SAFETY: as above; the memory is freed only after a successful close (else leaked).
        let r = unsafe { ffi::uv_loop_close(self.raw()) };
        if r != 0 {
            std::mem::forget(self);
        }
        r
    }
    fn borrow(&mut self) -> Loop {
        // SAFETY: the loop outlives the returned Loop and everything on it (each test closes
        // uvio's handles and runs the loop before closing it), and stays on this thread.
        unsafe { Loop::from_raw(self.raw()) }.unwrap()
    }
}

#[test]
fn from_raw_null_is_einval() {
    // SAFETY: null is refused before anything is dereferenced.
    let e = unsafe { Loop::from_raw(std::ptr::null_mut()) }.unwrap_err();
    assert_eq!(e.name(), "EINVAL");
}

#[test]
fn tasks_run_from_the_hosts_uv_run_and_do_not_keep_it_alive() {
    let mut host = HostLoop::new();
    let lp = host.borrow();
    // The owner runs a borrowed loop, not uvio.
    assert_eq!(lp.run(RunMode::Default).unwrap_err().name(), "EPERM");
    assert_eq!(lp.block_on(async {}).unwrap_err().name(), "EPERM");

    let out = Rc::new(Cell::new(0u64));
    let o = out.clone();
    let n = common::scale(50) as u64;
    lp.spawn_local(async move {
        for i in 0..n {
            uvio::time::sleep(Duration::from_millis(1)).await;
            let v = uvio::spawn_blocking(move || i * 2).await.unwrap();
            o.set(o.get() + v);
        }
    });
    // The host's run ends by itself once the task is done: the executor's idle and async
    // handles (still open) do not keep the loop alive.
    host.run();
    assert_eq!(out.get(), (0..n).map(|i| i * 2).sum::<u64>());
    assert!(lp.handle_count() >= 2, "the executor's handles stay open");
    drop(lp);
    host.run();
    assert_eq!(host.close(), 0);
}

#[test]
fn unref_timer_does_not_keep_the_host_loop_alive() {
    let mut host = HostLoop::new();
    let lp = host.borrow();
    let fired = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    let f = fired.clone();
    t.start(Duration::from_secs(600), Duration::ZERO, move |_| {
        f.set(f.get() + 1)
    })
    .unwrap();
    t.unref();
    host.run();
    assert_eq!(fired.get(), 0);
    assert!(t.is_active());
    // A referenced one does keep it alive, until it fires.
    let t2 = Timer::new(&lp).unwrap();
    let f = fired.clone();
    t2.start(Duration::from_millis(1), Duration::ZERO, move |_| {
        f.set(f.get() + 10)
    })
    .unwrap();
    host.run();
    assert_eq!(fired.get(), 10);
    drop((t, t2, lp));
    host.run();
    assert_eq!(host.close(), 0);
}

#[test]
fn panic_in_a_callback_is_kept_for_take_panic() {
    let mut host = HostLoop::new();
    let lp = host.borrow();
    let after = Rc::new(Cell::new(false));
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_millis(1), Duration::ZERO, |_| {
        panic!("boom on a host loop")
    })
    .unwrap();
    let t2 = Timer::new(&lp).unwrap();
    let a = after.clone();
    t2.start(Duration::from_millis(3), Duration::ZERO, move |_| {
        a.set(true)
    })
    .unwrap();
    // The panic does not stop the host's loop (uvio never stops a borrowed loop).
    host.run();
    assert!(after.get(), "callbacks after the panic still ran");
    let p = lp.take_panic().expect("the panic is kept");
    assert_eq!(p.downcast_ref::<&str>(), Some(&"boom on a host loop"));
    assert!(lp.take_panic().is_none());
    drop((t, t2, lp));
    host.run();
    assert_eq!(host.close(), 0);
}

#[test]
fn close_all_with_work_in_flight_lets_the_host_close_its_loop() {
    let mut host = HostLoop::new();
    let lp = host.borrow();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_millis(1), Duration::from_millis(1), |_| {})
        .unwrap();
    lp.spawn_local(async {
        uvio::time::sleep(Duration::from_secs(600)).await;
    });
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let work_done = Rc::new(Cell::new(false));
    let w = work_done.clone();
    uvio::queue_work(
        &lp,
        move || {
            let _ = rx.recv_timeout(Duration::from_secs(30));
        },
        move |_| w.set(true),
    )
    .unwrap();
    // Let the task start its timer; the host also has a handle of its own.
    let mut own = Box::new(MaybeUninit::<ffi::uv_idle_t>::zeroed());
    // SAFETY: the idle lives in a box that outlives its close (run below, before drop).
    unsafe {
        ffi::uv_idle_init(host.raw(), own.as_mut_ptr());
        ffi::uv_close(own.as_mut_ptr().cast(), None);
    }
    // SAFETY: the loop is initialised; one non-blocking iteration.
    unsafe { ffi::uv_run(host.raw(), ffi::UV_RUN_NOWAIT) };

    let closed = Rc::new(RefCell::new(Vec::new()));
    let c = closed.clone();
    lp.close_all(move || c.borrow_mut().push("all closed"));
    assert!(closed.borrow().is_empty(), "the work is still in flight");
    assert_eq!(t.close().unwrap_err().name(), "EBADF");
    tx.send(()).unwrap();
    host.run();
    assert_eq!(*closed.borrow(), ["all closed"]);
    assert!(work_done.get());
    assert_eq!(lp.handle_count(), 0);
    drop((t, lp));
    assert_eq!(host.close(), 0);
    drop(own);
}

#[test]
fn metrics_and_version_on_a_borrowed_loop() {
    let mut host = HostLoop::new();
    let lp = host.borrow();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_millis(1), Duration::ZERO, |_| {})
        .unwrap();
    host.run();
    if common::libuv_at_least((1, 45, 0)) {
        assert!(lp.metrics().unwrap().loop_count >= 1);
    } else {
        // uv_metrics_info is libuv 1.45's: resolved at run time, absent here.
        assert!(common::is_unsupported(&lp.metrics()));
    }
    assert_eq!(uvio::version().0, 1);
    drop((t, lp));
    host.run();
    assert_eq!(host.close(), 0);
}

/// When each of uvio's timers fired, against the delay it was given.
type Fired = Rc<RefCell<Vec<(&'static str, Duration, Duration)>>>;

/// Arms one of each of uvio's relative-time timers on `lp` with `delay`, recording how long
/// after the call each one fired by `Instant` (a lower bound only: nothing here can flake).
fn arm_every_timer(
    lp: &Loop,
    delay: Duration,
    fired: &Fired,
    keep: &mut Vec<Box<dyn std::any::Any>>,
) {
    let note = |what: &'static str| {
        let fired = fired.clone();
        let start = Instant::now();
        move || fired.borrow_mut().push((what, start.elapsed(), delay))
    };
    let t = Timer::new(lp).unwrap();
    let n = note("Timer::start");
    t.start(delay, Duration::ZERO, move |_| n()).unwrap();
    keep.push(Box::new(t));
    // `again` on a timer whose repeat is the delay (started long before, so its first
    // schedule is far away).
    let t = Timer::new(lp).unwrap();
    let n = RefCell::new(Some(note("Timer::again")));
    t.start(Duration::from_secs(600), delay, move |t| {
        if let Some(n) = n.borrow_mut().take() {
            n();
        }
        t.stop().unwrap();
    })
    .unwrap();
    t.again().unwrap();
    keep.push(Box::new(t));
    let n = note("node::set_timeout");
    keep.push(Box::new(uvio::node::set_timeout_in(lp, delay, n).unwrap()));
    let n = Cell::new(Some(note("node::set_interval")));
    keep.push(Box::new(
        uvio::node::set_interval_in(lp, delay, move |i| {
            if let Some(n) = n.take() {
                n();
            }
            i.clear();
        })
        .unwrap(),
    ));
    let n = note("time::sleep");
    lp.spawn_local(async move {
        uvio::time::sleep(delay).await;
        n();
    });
    let n = note("time::interval");
    lp.spawn_local(async move {
        uvio::time::interval(delay).tick().await;
        n();
    });
}

fn assert_none_early(fired: &Fired, want: usize) {
    let fired = fired.borrow();
    assert_eq!(fired.len(), want, "{fired:?}");
    for (what, after, delay) in fired.iter() {
        assert!(
            after >= delay,
            "{what} fired {after:?} after the call, before its {delay:?}"
        );
    }
}

/// The host's own code runs for a while without the loop updating its cached time (busy
/// JavaScript or Lua), then uvio arms timers: none may fire before its delay by the wall
/// clock. Before uvio refreshed the time on borrowed loops they fired at once.
#[test]
fn timers_on_a_borrowed_loop_count_from_the_call() {
    let mut host = HostLoop::new();
    let lp = host.borrow();
    let fired: Fired = Rc::default();
    let mut keep = Vec::new();
    // SAFETY: the loop is initialised; one non-blocking iteration sets its cached time.
    unsafe { ffi::uv_run(host.raw(), ffi::UV_RUN_NOWAIT) };
    std::thread::sleep(Duration::from_millis(80));
    arm_every_timer(&lp, Duration::from_millis(30), &fired, &mut keep);
    // Small delays started at arbitrary points within a millisecond: the loop clock's
    // truncation to milliseconds must not make any of them early either.
    for i in 1..=5 {
        std::thread::sleep(Duration::from_micros(300));
        arm_every_timer(&lp, Duration::from_millis(i), &fired, &mut keep);
    }
    host.run();
    assert_none_early(&fired, 6 * 6);
    drop((keep, lp));
    host.run();
    assert_eq!(host.close(), 0);
}

/// The same from inside the host's own callback in the same timers phase as uvio's (node's
/// timers run there): the host's callback was busy before uvio's code armed the timers.
#[test]
fn timers_armed_after_a_busy_host_callback_count_from_the_call() {
    extern "C" fn host_timer(t: *mut ffi::uv_timer_t) {
        // SAFETY: `data` is the test's closure, alive until the loop is closed.
        let f = unsafe { &mut *(*t).data.cast::<Box<dyn FnMut()>>() };
        std::thread::sleep(Duration::from_millis(80));
        f();
    }
    let mut host = HostLoop::new();
    let lp = Rc::new(host.borrow());
    let fired: Fired = Rc::default();
    let keep = Rc::new(RefCell::new(Vec::new()));
    let (l, f, k) = (lp.clone(), fired.clone(), keep.clone());
    let mut arm: Box<dyn FnMut()> =
        Box::new(move || arm_every_timer(&l, Duration::from_millis(30), &f, &mut k.borrow_mut()));
    let mut own = Box::new(MaybeUninit::<ffi::uv_timer_t>::zeroed());
    // SAFETY: the timer lives in a box that outlives its close (run below, before drop);
    // `data` points at `arm`, which outlives the loop's run.
    unsafe {
        ffi::uv_timer_init(host.raw(), own.as_mut_ptr());
        (*own.as_mut_ptr()).data = (&raw mut arm).cast();
        ffi::uv_timer_start(own.as_mut_ptr(), Some(host_timer), 1, 0);
    }
    host.run();
    assert_none_early(&fired, 6);
    // SAFETY: the host's timer is initialised and not closing.
    unsafe { ffi::uv_close(own.as_mut_ptr().cast(), None) };
    host.run();
    // The closure held a reference to the Loop: drop it, then the Loop (closing uvio's
    // handles), then let the host finish.
    drop(arm);
    keep.borrow_mut().clear();
    drop(Rc::try_unwrap(lp).expect("the only reference"));
    host.run();
    assert_eq!(host.close(), 0);
    drop(own);
}

/// Starts a timer on `lp` that panics with `msg` when it fires (once).
fn panicking_timer(lp: &Loop, ms: u64, msg: &'static str) -> Timer {
    let t = Timer::new(lp).unwrap();
    t.start(Duration::from_millis(ms), Duration::ZERO, move |_| {
        panic!("{}", msg)
    })
    .unwrap();
    t
}

fn message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn every_panic_is_kept_for_take_panic_in_order() {
    let mut host = HostLoop::new();
    let lp = host.borrow();
    let ts: Vec<_> = ["first", "second", "third"]
        .iter()
        .enumerate()
        .map(|(i, m)| panicking_timer(&lp, 1 + i as u64, m))
        .collect();
    // A panicking next_tick counts too (queued outside a callback, it runs after the next
    // one, the first timer's).
    lp.next_tick(|| panic!("tick"));
    host.run();
    let mut got = Vec::new();
    while let Some(p) = lp.take_panic() {
        got.push(message(&p));
    }
    assert_eq!(got, ["first", "tick", "second", "third"]);
    drop((ts, lp));
    host.run();
    assert_eq!(host.close(), 0);
}

#[test]
fn panic_handler_gets_each_payload_on_the_loop_thread() {
    let mut host = HostLoop::new();
    let lp = host.borrow();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let me = std::thread::current().id();
    lp.set_panic_handler(Some(Box::new(move |p| {
        assert_eq!(std::thread::current().id(), me);
        s.borrow_mut().push(message(&p));
    })))
    .unwrap();
    let mut ts = vec![
        panicking_timer(&lp, 1, "one"),
        panicking_timer(&lp, 2, "two"),
    ];
    lp.spawn_local(async {
        uvio::time::sleep(Duration::from_millis(3)).await;
        panic!("detached task");
    });
    host.run();
    assert_eq!(*seen.borrow(), ["one", "two", "detached task"]);
    assert!(lp.take_panic().is_none(), "the handler took them all");

    // A handler that panics: that second panic is kept for take_panic.
    lp.set_panic_handler(Some(Box::new(|p| panic!("handler saw {}", message(&p)))))
        .unwrap();
    ts.push(panicking_timer(&lp, 1, "three"));
    host.run();
    assert_eq!(message(&lp.take_panic().unwrap()), "handler saw three");
    assert!(lp.take_panic().is_none());

    // Back to the default.
    lp.set_panic_handler(None).unwrap();
    ts.push(panicking_timer(&lp, 1, "four"));
    host.run();
    assert_eq!(message(&lp.take_panic().unwrap()), "four");
    drop((ts, lp));
    host.run();
    assert_eq!(host.close(), 0);
}

#[test]
fn a_panic_handler_can_replace_itself() {
    let mut host = HostLoop::new();
    let lp = Rc::new(host.borrow());
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (s, l) = (seen.clone(), Rc::downgrade(&lp));
    lp.set_panic_handler(Some(Box::new(move |p| {
        s.borrow_mut().push(format!("old {}", message(&p)));
        let s2 = s.clone();
        let lp = l.upgrade().unwrap();
        lp.set_panic_handler(Some(Box::new(move |p| {
            s2.borrow_mut().push(format!("new {}", message(&p)))
        })))
        .unwrap();
    })))
    .unwrap();
    let ts = [panicking_timer(&lp, 1, "a"), panicking_timer(&lp, 2, "b")];
    host.run();
    assert_eq!(*seen.borrow(), ["old a", "new b"]);
    lp.set_panic_handler(None).unwrap();
    drop(ts);
    drop(Rc::try_unwrap(lp).expect("the only reference"));
    host.run();
    assert_eq!(host.close(), 0);
}

#[test]
fn handler_and_hook_are_for_borrowed_loops() {
    let lp = Loop::new().unwrap();
    let e = lp.set_panic_handler(Some(Box::new(drop))).unwrap_err();
    assert_eq!(e.name(), "EPERM");
    struct Nothing;
    impl uvio::CallbackHook for Nothing {
        fn enter(&self) {}
        fn exit(&self) {}
    }
    let e = lp.set_callback_hook(Some(Rc::new(Nothing))).unwrap_err();
    assert_eq!(e.name(), "EPERM");
}

/// A hook that records what ran inside its scope.
#[derive(Default)]
struct Recorder {
    inside: Cell<bool>,
    log: RefCell<Vec<String>>,
    panic_on_exit: Cell<bool>,
}

impl Recorder {
    fn note(&self, what: &str) {
        let scope = if self.inside.get() { "in" } else { "OUT" };
        self.log.borrow_mut().push(format!("{what} {scope}"));
    }
}

impl uvio::CallbackHook for Recorder {
    fn enter(&self) {
        assert!(!self.inside.replace(true), "entered twice");
        self.log.borrow_mut().push("enter".into());
    }
    fn exit(&self) {
        assert!(self.inside.replace(false), "exit without enter");
        self.log.borrow_mut().push("exit".into());
        if self.panic_on_exit.replace(false) {
            panic!("from the hook");
        }
    }
}

#[test]
fn the_hook_runs_around_callbacks_ticks_and_tasks() {
    let mut host = HostLoop::new();
    let lp = host.borrow();
    let rec = Rc::new(Recorder::default());
    lp.set_callback_hook(Some(rec.clone())).unwrap();
    let r = rec.clone();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_millis(1), Duration::ZERO, move |_| {
        r.note("timer");
        let r2 = r.clone();
        uvio::node::next_tick(move || r2.note("tick"));
    })
    .unwrap();
    host.run();
    assert_eq!(*rec.log.borrow(), ["enter", "timer in", "tick in", "exit"]);

    // A task: every poll of it runs inside the hook's scope, however it was woken (a timer,
    // another thread).
    rec.log.borrow_mut().clear();
    let r = rec.clone();
    // The executor's handles do not keep the loop alive: this timer does, until the task ends.
    let alive = Timer::new(&lp).unwrap();
    alive
        .start(Duration::from_secs(600), Duration::ZERO, |_| {})
        .unwrap();
    lp.spawn_local(async move {
        let _alive = alive;
        r.note("task start");
        uvio::time::sleep(Duration::from_millis(1)).await;
        r.note("task after sleep");
        let (tx, rx) = futures::channel::oneshot::channel();
        std::thread::spawn(move || tx.send(()).unwrap());
        rx.await.unwrap();
        r.note("task after a wake from a thread");
    });
    host.run();
    let log = rec.log.borrow().clone();
    assert!(!log.iter().any(|l| l.ends_with("OUT")), "{log:?}");
    for what in [
        "task start in",
        "task after sleep in",
        "task after a wake from a thread in",
    ] {
        assert!(log.iter().any(|l| l == what), "{what} missing: {log:?}");
    }
    assert_eq!(
        log.iter().filter(|l| *l == "enter").count(),
        log.iter().filter(|l| *l == "exit").count()
    );

    // A panic in the hook is a panic on the loop: kept for take_panic, loop alive.
    rec.log.borrow_mut().clear();
    rec.panic_on_exit.set(true);
    let r = rec.clone();
    t.start(Duration::from_millis(1), Duration::ZERO, move |_| {
        r.note("timer")
    })
    .unwrap();
    host.run();
    assert_eq!(message(&lp.take_panic().unwrap()), "from the hook");
    assert_eq!(*rec.log.borrow(), ["enter", "timer in", "exit"]);

    // Removed inside a callback: that callback's scope still closes, later ones have none.
    rec.log.borrow_mut().clear();
    let lp = Rc::new(lp);
    let (r, l) = (rec.clone(), Rc::downgrade(&lp));
    t.start(Duration::from_millis(1), Duration::ZERO, move |_| {
        l.upgrade().unwrap().set_callback_hook(None).unwrap();
        r.note("timer");
    })
    .unwrap();
    host.run();
    let r = rec.clone();
    t.start(Duration::from_millis(1), Duration::ZERO, move |_| {
        r.note("timer")
    })
    .unwrap();
    host.run();
    assert_eq!(
        *rec.log.borrow(),
        ["enter", "timer in", "exit", "timer OUT"]
    );
    drop(t);
    drop(Rc::try_unwrap(lp).expect("the only reference"));
    host.run();
    assert_eq!(host.close(), 0);
}
