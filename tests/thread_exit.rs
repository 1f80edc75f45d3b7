//! uvio registers no thread-exit destructor: a host may unload the library before a thread
//! that ran uvio code exits (node unmaps an addon when a Worker's env ends), and a destructor
//! left behind would then run from unmapped memory.
//!
//! The two ways a thread-exit destructor is registered on Linux are interposed here: glibc's
//! `__cxa_thread_atexit_impl` (std's `thread_local!` values that need `Drop`) and a
//! `pthread_setspecific` of a non-null value on a key created with a destructor (std's
//! `std::thread::current()`, and any C-style thread-specific data). This test binary defines
//! both symbols itself, so the calls of std, uvio and the vendored libuv linked into it reach
//! these definitions first; each records the calling thread and forwards to glibc's.
//!
//! uvio code then runs on threads std never set up (raw `pthread_create`, like a node
//! Worker's thread) and on libuv's threadpool; any registration made on them fails the test.
//! A control run first checks that the interposition sees std's own registrations.
//!
//! No libtest harness (`harness = false` in Cargo.toml): its output capture and spawn hooks
//! make std register destructors of its own on every thread (a panic message goes through the
//! capture), which would blur what uvio does. `main` is the one test.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use uvio::{Loop, RunMode, TcpListener, TcpStream, Timer};

type Dtor = Option<unsafe extern "C" fn(*mut c_void)>;
type CxaAtexit =
    unsafe extern "C" fn(unsafe extern "C" fn(*mut c_void), *mut c_void, *mut c_void) -> c_int;
type KeyCreate = unsafe extern "C" fn(*mut libc::pthread_key_t, Dtor) -> c_int;
type SetSpecific = unsafe extern "C" fn(libc::pthread_key_t, *const c_void) -> c_int;

/// glibc's definition of `name` (the next one after this executable's).
fn next_symbol(cache: &AtomicPtr<c_void>, name: &std::ffi::CStr) -> *mut c_void {
    let mut p = cache.load(Ordering::Acquire);
    if p.is_null() {
        // SAFETY: a NUL-terminated name; RTLD_NEXT looks past this object.
        p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
        assert!(!p.is_null(), "glibc has no {name:?}");
        cache.store(p, Ordering::Release);
    }
    p
}

/// Keys created with a destructor (glibc's keys are numbers below 1024).
static KEY_HAS_DTOR: [AtomicBool; 1024] = [const { AtomicBool::new(false) }; 1024];

/// Registrations seen, as the kernel thread ids that made them (the first 1024).
static SEEN: [AtomicI32; 1024] = [const { AtomicI32::new(0) }; 1024];
static SEEN_COUNT: AtomicUsize = AtomicUsize::new(0);

fn note_registration() {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let i = SEEN_COUNT.fetch_add(1, Ordering::SeqCst);
    if let Some(slot) = SEEN.get(i) {
        slot.store(tid, Ordering::SeqCst);
    }
    // Debugging aid: who registered (capturing a backtrace may register more: not traced).
    thread_local! {
        static TRACING: Cell<bool> = const { Cell::new(false) };
    }
    if std::env::var_os("UVIO_TRACE_REGISTRATIONS").is_some() && !TRACING.replace(true) {
        eprintln!(
            "registration on {tid}:\n{}",
            std::backtrace::Backtrace::force_capture()
        );
        TRACING.set(false);
    }
}

/// The threads that registered a destructor so far.
fn registrations() -> Vec<i32> {
    let n = SEEN_COUNT.load(Ordering::SeqCst).min(SEEN.len());
    SEEN[..n].iter().map(|t| t.load(Ordering::SeqCst)).collect()
}

/// # Safety
///
/// glibc's contract for `__cxa_thread_atexit_impl`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __cxa_thread_atexit_impl(
    dtor: unsafe extern "C" fn(*mut c_void),
    obj: *mut c_void,
    dso: *mut c_void,
) -> c_int {
    static REAL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
    note_registration();
    let real = next_symbol(&REAL, c"__cxa_thread_atexit_impl");
    // SAFETY: glibc's function of this signature; the arguments are the caller's.
    unsafe { std::mem::transmute::<*mut c_void, CxaAtexit>(real)(dtor, obj, dso) }
}

/// # Safety
///
/// POSIX's contract for `pthread_key_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_key_create(key: *mut libc::pthread_key_t, dtor: Dtor) -> c_int {
    static REAL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
    let real = next_symbol(&REAL, c"pthread_key_create");
    // SAFETY: glibc's function of this signature; the arguments are the caller's.
    let r = unsafe { std::mem::transmute::<*mut c_void, KeyCreate>(real)(key, dtor) };
    if r == 0 && dtor.is_some() {
        // SAFETY: on success the key was written.
        let k = unsafe { *key } as usize;
        if let Some(flag) = KEY_HAS_DTOR.get(k) {
            flag.store(true, Ordering::SeqCst);
        }
    }
    r
}

/// # Safety
///
/// POSIX's contract for `pthread_setspecific`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setspecific(
    key: libc::pthread_key_t,
    value: *const c_void,
) -> c_int {
    static REAL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
    let has_dtor = KEY_HAS_DTOR
        .get(key as usize)
        .is_some_and(|f| f.load(Ordering::SeqCst));
    if has_dtor && !value.is_null() {
        note_registration();
    }
    let real = next_symbol(&REAL, c"pthread_setspecific");
    // SAFETY: glibc's function of this signature; the arguments are the caller's.
    unsafe { std::mem::transmute::<*mut c_void, SetSpecific>(real)(key, value) }
}

/// Runs `f` on a thread made with `pthread_create` (std knows nothing of it, as with the
/// threads a C or C++ host makes) and returns its kernel thread id.
fn on_raw_thread(f: impl FnOnce() + Send + 'static) -> i32 {
    struct Job(Box<dyn FnOnce() + Send>, AtomicI32, AtomicBool);
    extern "C" fn start(arg: *mut c_void) -> *mut c_void {
        // SAFETY: `arg` is the `Job` below, alive until the join.
        let job = unsafe { &mut *arg.cast::<Job>() };
        // SAFETY: gettid has no preconditions.
        job.1.store(unsafe { libc::gettid() }, Ordering::SeqCst);
        let f = std::mem::replace(&mut job.0, Box::new(|| {}));
        // A panic must not unwind out of this C entry point.
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
        job.2.store(ok, Ordering::SeqCst);
        std::ptr::null_mut()
    }
    let mut job = Job(Box::new(f), AtomicI32::new(0), AtomicBool::new(false));
    let mut t: libc::pthread_t = 0;
    // SAFETY: `job` outlives the thread (joined below); `start` matches the signature.
    let r = unsafe {
        libc::pthread_create(
            &mut t,
            std::ptr::null(),
            start,
            (&raw mut job).cast::<c_void>(),
        )
    };
    assert_eq!(r, 0, "pthread_create");
    // SAFETY: a joinable thread created above, joined once.
    assert_eq!(unsafe { libc::pthread_join(t, std::ptr::null_mut()) }, 0);
    assert!(job.2.load(Ordering::SeqCst), "the raw thread's work failed");
    job.1.load(Ordering::SeqCst)
}

/// Kernel thread ids of libuv threadpool threads that ran uvio work, and of the raw thread
/// that woke a uvio task.
static POOL_TIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static WAKER_TID: AtomicI32 = AtomicI32::new(0);

/// Most of uvio, on an owned loop: callbacks, futures and tasks, timers and sleeps, the Node
/// layer, TCP streams (the read-buffer pool), files, threadpool work, a cross-thread wake and
/// a panic in a callback.
fn workload() {
    let lp = Loop::new().unwrap();
    let fired = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    let f = fired.clone();
    t.start(Duration::from_millis(1), Duration::ZERO, move |_| {
        f.set(f.get() + 1)
    })
    .unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    uvio::node::set_immediate_in(&lp, move || o.borrow_mut().push("immediate")).unwrap();
    let o = order.clone();
    uvio::node::set_timeout_in(&lp, Duration::from_millis(1), move || {
        o.borrow_mut().push("timeout")
    })
    .unwrap();
    let o = order.clone();
    uvio::node::next_tick_in(&lp, move || o.borrow_mut().push("tick"));
    // A panic inside a callback: caught, stored, resumed from `run`.
    let p = Timer::new(&lp).unwrap();
    p.start(Duration::ZERO, Duration::ZERO, |_| {
        panic!("deliberate panic on a thread std never saw")
    })
    .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = lp.run(RunMode::Default);
    }));
    assert!(caught.is_err(), "the callback's panic was resumed");
    lp.run(RunMode::Default).unwrap();
    assert_eq!(fired.get(), 1);
    assert_eq!(order.borrow().len(), 3);

    let me = file!();
    let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let got = lp
        .block_on(async move {
            uvio::time::sleep(Duration::from_millis(1)).await;
            let task = uvio::spawn_local(async { 6 * 7 });
            assert_eq!(task.await.unwrap(), 42);
            let bytes = uvio::fs::read(me).await.unwrap();
            assert!(!bytes.is_empty());
            assert!(uvio::fs::read("/nonexistent/uvio").await.is_err());
            // Threadpool work, recording which pool threads ran it.
            for _ in 0..8 {
                let tid = uvio::spawn_blocking(|| {
                    // SAFETY: gettid has no preconditions.
                    let tid = unsafe { libc::gettid() };
                    POOL_TIDS.lock().unwrap().push(tid);
                    tid
                })
                .await
                .unwrap();
                assert!(tid > 0);
            }
            // A wake from a thread std never saw either (joined before the await: the wake
            // only queues the task and signals the loop).
            let (tx, rx) = futures::channel::oneshot::channel();
            let tid = on_raw_thread(move || tx.send(5).unwrap());
            WAKER_TID.store(tid, Ordering::SeqCst);
            assert_eq!(rx.await.unwrap(), 5);
            // TCP: an echo through futures-style streams.
            let server = uvio::spawn_local(async move {
                let mut s = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).await.unwrap();
                s.write_all(&buf).await.unwrap();
            });
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"ping through uvio").await.unwrap();
            c.shutdown().await.unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).await.unwrap();
            server.await.unwrap();
            back
        })
        .unwrap();
    assert_eq!(got, b"ping through uvio");
    drop(lp);
}

fn main() {
    uvio_registers_no_thread_exit_destructor();
    println!("uvio_registers_no_thread_exit_destructor ... ok");
}

fn uvio_registers_no_thread_exit_destructor() {
    // Control: the interposition sees both kinds of registration on a raw thread.
    let control_tls = on_raw_thread(|| {
        thread_local! {
            static NEEDS_DROP: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        NEEDS_DROP.with(|v| v.borrow_mut().push(1));
    });
    assert!(
        registrations().contains(&control_tls),
        "a thread_local! with Drop was not seen: the check cannot see this std's registrations"
    );
    let control_current = on_raw_thread(|| {
        let _ = std::thread::current();
    });
    assert!(
        registrations().contains(&control_current),
        "std::thread::current() was not seen: the check cannot see this std's registrations"
    );

    let before = SEEN_COUNT.load(Ordering::SeqCst);
    let worker = on_raw_thread(workload);
    let pool = POOL_TIDS.lock().unwrap().clone();
    assert!(!pool.is_empty());
    let waker = WAKER_TID.load(Ordering::SeqCst);
    assert!(waker > 0);
    let after = registrations();
    let offenders: Vec<i32> = after[before.min(after.len())..]
        .iter()
        .copied()
        .filter(|t| *t == worker || *t == waker || pool.contains(t))
        .collect();
    assert!(
        offenders.is_empty(),
        "uvio code registered thread-exit destructors on threads {offenders:?} \
         (loop thread {worker}, waking thread {waker}, pool threads {pool:?})"
    );
}
