//! uvio on a borrowed loop (`Loop::from_raw`): a loop this test owns and runs with raw libuv
//! calls, the way a C host or Node.js does.

mod common;

use std::cell::{Cell, RefCell};
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::time::Duration;

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
