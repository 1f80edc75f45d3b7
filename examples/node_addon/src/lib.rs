//! A Node.js addon built on uvio, running on node's own libuv loop.
//!
//! Build: `cargo build --manifest-path examples/node_addon/Cargo.toml`, then copy
//! `target/debug/libuvio_addon.so` to `uvio_addon.node` and `require()` it.
//! `tests/node_addon.rs` does this and drives `tests/node/addon_test.js` with a real `node`.
//!
//! Per env (the main thread and each `Worker` have their own env and loop): one
//! `uvio::Loop::from_raw(napi_get_uv_event_loop(env))`, kept in the env's instance data.
//! Teardown uses `napi_add_async_cleanup_hook`: the hook closes everything uvio opened (timers,
//! the echo server's TCP handles, the executor's handles) with `Loop::close_all`, and calls
//! `napi_remove_async_cleanup_hook` once the last close callback has run and no request is in
//! flight, so node unloads the addon only after libuv is done with its memory.
//!
//! The addon makes no raw libuv call except `ffi::late::uv_getrusage_thread` (to show a
//! function node's libuv lacks): its other `unsafe` is N-API and `Loop::from_raw`.

mod echo;
mod js;
mod napi;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::null_mut;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use js::{JsError, Promise, Val};
use napi::{napi_callback_info, napi_env, napi_value, out};

/// Everything the addon keeps for one env.
struct Addon {
    js: Rc<js::Js>,
    lp: uvio::Loop,
    /// Timers started from JS, kept open until they fire.
    timers: RefCell<HashMap<u64, uvio::Timer>>,
    next_key: Cell<u64>,
    echo: Rc<echo::Echo>,
}

impl Addon {
    /// Starts a one-shot timer kept by the addon until it fires; `on_fire` runs then.
    fn start_timer(
        self: &Rc<Self>,
        ms: u64,
        unref: bool,
        on_fire: impl FnOnce() + 'static,
    ) -> uvio::Result<()> {
        let t = uvio::Timer::new(&self.lp)?;
        let key = self.next_key.get();
        self.next_key.set(key + 1);
        let me = Rc::downgrade(self);
        let mut on_fire = Some(on_fire);
        t.start(Duration::from_millis(ms), Duration::ZERO, move |_t| {
            // Dropping our own owner inside the callback only starts closing the timer.
            let owner = me
                .upgrade()
                .and_then(|a| a.timers.borrow_mut().remove(&key));
            drop(owner);
            if let Some(f) = on_fire.take() {
                f();
            }
        })?;
        if unref {
            t.unref();
        }
        self.timers.borrow_mut().insert(key, t);
        Ok(())
    }
}

// ----- the module entry point and the env's teardown -----

/// Node calls this once per env that loads the addon.
///
/// # Safety
///
/// Called by node with a live env and its `exports` object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: called by node on the env's thread with a live env.
        unsafe { register(env, exports) }
    }));
    match r {
        Ok(Ok(())) => exports,
        Ok(Err(e)) => throw(env, &e),
        Err(p) => throw(env, &JsError::panic(&*p)),
    }
}

/// # Safety
///
/// As [`napi_register_module_v1`].
unsafe fn register(env: napi_env, exports: napi_value) -> Result<(), JsError> {
    // SAFETY: `env` is live; the out-pointer is written on success.
    let raw = unsafe { out(|r| napi::napi_get_uv_event_loop(env, r))? };
    // SAFETY: node's loop for this env outlives the env, is run only on this thread, and our
    // cleanup hook keeps node from tearing the env down before everything uvio opened has
    // finished closing.
    let lp = unsafe { uvio::Loop::from_raw(raw)? };
    // SAFETY: inside the module's registration, a JS call on this env.
    let js = Rc::new(unsafe { js::Js::new(env)? });
    let addon = Rc::new(Addon {
        js,
        lp,
        timers: RefCell::new(HashMap::new()),
        next_key: Cell::new(0),
        echo: Rc::new(echo::Echo::default()),
    });
    // Two strong references: the instance data's and the cleanup hook's.
    let for_hook = Rc::into_raw(Rc::clone(&addon)) as *mut c_void;
    let mut hook = null_mut();
    // The removal handle is passed to the hook itself; we need not keep it.
    // SAFETY: `cleanup` takes back exactly this reference.
    let r = unsafe { napi::napi_add_async_cleanup_hook(env, Some(cleanup), for_hook, &mut hook) };
    if let Err(s) = napi::ok(r) {
        // SAFETY: the hook was not registered; take back its reference.
        drop(unsafe { Rc::from_raw(for_hook as *const Addon) });
        return Err(s.into());
    }
    let data = Rc::into_raw(addon) as *mut c_void;
    // SAFETY: `finalize` takes back exactly this reference when the env goes away.
    napi::ok(unsafe { napi::napi_set_instance_data(env, data, Some(finalize), null_mut()) })?;

    for (name, f) in FUNCTIONS {
        // SAFETY: `name` is valid for its length; `f` is a napi_callback.
        unsafe {
            let v = out(|r| {
                napi::napi_create_function(
                    env,
                    name.as_ptr().cast(),
                    name.len() - 1,
                    *f,
                    null_mut(),
                    r,
                )
            })?;
            napi::set(env, exports, name, v)?;
        }
    }
    // SAFETY: as above.
    unsafe {
        let mode = napi::string(env, uvio::ffi::LINK_MODE)?;
        napi::set(env, exports, "linkMode\0", mode)?;
    }
    Ok(())
}

unsafe extern "C" fn finalize(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the instance data's reference made in `register`, taken back once.
    let addon = unsafe { Rc::from_raw(data as *const Addon) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(addon)));
}

/// The env is going away (process exit, `Worker` exit or `terminate()`): close everything
/// uvio opened; node keeps running the loop (and keeps the addon loaded)
/// until `napi_remove_async_cleanup_hook` says we are done.
unsafe extern "C" fn cleanup(handle: napi::napi_async_cleanup_hook_handle, arg: *mut c_void) {
    // SAFETY: `arg` is the hook's reference made in `register`, taken back once, here.
    let addon = unsafe { Rc::from_raw(arg as *const Addon) };
    let r = catch_unwind(AssertUnwindSafe(|| {
        addon.js.shut();
        // Owners first (dropping a timer or a TCP handle starts closing it), then
        // everything else.
        let timers = std::mem::take(&mut *addon.timers.borrow_mut());
        drop(timers);
        finish_cleanup(&addon, handle);
    }));
    if r.is_err() {
        eprintln!("uvio_addon: panic in the cleanup hook");
    }
}

/// Closes the echo server's and every other uvio handle; removes the hook when all have
/// closed and no request is in flight.
fn finish_cleanup(addon: &Rc<Addon>, handle: napi::napi_async_cleanup_hook_handle) {
    let keep = Cell::new(Some(Rc::clone(addon)));
    echo::close_everything(&addon.lp, &addon.echo, move || {
        // SAFETY: the handle node gave this hook; removed exactly once.
        unsafe { napi::napi_remove_async_cleanup_hook(handle) };
        // The last reference may go here: the Loop is borrowed and everything on it is
        // closed, so dropping it does nothing more.
        drop(keep.take());
    });
}

fn throw(env: napi_env, e: &JsError) -> napi_value {
    // SAFETY: called inside a JS call on `env`'s thread.
    unsafe {
        if let Ok(v) = e.to_js(env) {
            napi::napi_throw(env, v);
        }
    }
    null_mut()
}

/// The addon of the env, for a JS entry point.
fn addon_of(env: napi_env) -> Result<Rc<Addon>, JsError> {
    // SAFETY: the out-pointer is written on success.
    let p = unsafe { out(|r| napi::napi_get_instance_data(env, r))? };
    if p.is_null() {
        return Err(JsError::new("EBADF", "uvio addon not initialised"));
    }
    // SAFETY: the instance data is a live `Rc<Addon>` (released only by `finalize`, after
    // which no JS runs); we take one more strong reference.
    unsafe {
        Rc::increment_strong_count(p as *const Addon);
        Ok(Rc::from_raw(p as *const Addon))
    }
}

/// Runs a JS entry point: arguments in, a value or a thrown error out, panics caught.
fn entry<const N: usize>(
    env: napi_env,
    info: napi_callback_info,
    f: impl FnOnce(&Rc<Addon>, [napi_value; N]) -> Result<napi_value, JsError>,
) -> napi_value {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let a = addon_of(env)?;
        // SAFETY: `env` and `info` are this N-API callback's arguments.
        let args = unsafe { napi::args::<N>(env, info)? };
        f(&a, args)
    }));
    match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => throw(env, &e),
        Err(p) => throw(env, &JsError::panic(&*p)),
    }
}

fn arg_f64(env: napi_env, v: napi_value, what: &str) -> Result<f64, JsError> {
    // SAFETY: `v` is an argument of the running JS call.
    unsafe { out(|r| napi::napi_get_value_double(env, v, r)) }
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| JsError::new("EINVAL", format!("{what} must be a non-negative number")))
}

fn arg_string(env: napi_env, v: napi_value, what: &str) -> Result<String, JsError> {
    let bad = || JsError::new("EINVAL", format!("{what} must be a string"));
    // SAFETY: `v` is an argument of the running JS call; first the length, then the bytes
    // into a buffer one longer (for the NUL node writes).
    unsafe {
        let len = out(|r| napi::napi_get_value_string_utf8(env, v, null_mut(), 0, r))
            .map_err(|_| bad())?;
        let mut buf = vec![0u8; len + 1];
        let mut n = 0;
        napi::ok(napi::napi_get_value_string_utf8(
            env,
            v,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut n,
        ))
        .map_err(|_| bad())?;
        buf.truncate(n);
        String::from_utf8(buf).map_err(|_| bad())
    }
}

fn new_promise(a: &Addon) -> Result<(Promise, napi_value), JsError> {
    // SAFETY: called from a JS entry point on the env's thread.
    Ok(unsafe { Promise::new(&a.js)? })
}

// ----- the functions exposed to JS -----

macro_rules! js_functions {
    ($($name:ident / $n:literal => $body:expr;)*) => {
        $(
            #[allow(non_snake_case)]
            unsafe extern "C" fn $name(env: napi_env, info: napi_callback_info) -> napi_value {
                entry::<$n>(env, info, |a, args| ($body)(env, a, args))
            }
        )*
        const FUNCTIONS: &[(&str, napi::napi_callback)] = &[
            $((concat!(stringify!($name), "\0"), Some($name)),)*
        ];
    };
}

js_functions! {
    // `sleep(ms)`: a promise resolved by a uvio Timer.
    sleep / 1 => |env, a: &Rc<Addon>, [ms]: [napi_value; 1]| {
        let ms = arg_f64(env, ms, "ms")? as u64;
        let (p, promise) = new_promise(a)?;
        a.start_timer(ms, false, move || p.settle(Ok(Val::Undefined)))?;
        Ok(promise)
    };

    // `readFile(path)`: a promise of a Buffer, read with `uvio::fs::read` (libuv's fs
    // requests, on its threadpool).
    readFile / 1 => |env, a: &Rc<Addon>, [path]: [napi_value; 1]| {
        let path = arg_string(env, path, "path")?;
        let (p, promise) = new_promise(a)?;
        a.lp.spawn_local(async move {
            p.settle(read_file(path).await.map(Val::Bytes));
        });
        Ok(promise)
    };

    // `spawnTask(path)`: an async task that sleeps on a timer, then reads a file.
    spawnTask / 1 => |env, a: &Rc<Addon>, [path]: [napi_value; 1]| {
        let path = arg_string(env, path, "path")?;
        let (p, promise) = new_promise(a)?;
        let lp = a.lp.handle();
        a.lp.spawn_local(async move {
            let before = lp.now();
            uvio::time::sleep(Duration::from_millis(5)).await;
            let slept = lp.now() - before;
            let r = read_file(path).await.map(|bytes| {
                Val::Obj(vec![
                    ("sleptMs\0", Val::Num(slept as f64)),
                    ("bytes\0", Val::Num(bytes.len() as f64)),
                ])
            });
            p.settle(r);
        });
        Ok(promise)
    };

    // `countFromThread(n)`: a std thread wakes a uvio task n times; resolves with the count
    // the task observed.
    countFromThread / 1 => |env, a: &Rc<Addon>, [n]: [napi_value; 1]| {
        let n = arg_f64(env, n, "n")? as u64;
        let (p, promise) = new_promise(a)?;
        let shared = Arc::new(Counter::default());
        let remote = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            for _ in 0..n {
                remote.count.fetch_add(1, Ordering::AcqRel);
                let w = remote.waker.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(w) = w {
                    w.wake();
                }
            }
        });
        // The pending join (a threadpool request) keeps node's loop alive while the thread
        // runs; the task's own waker does not (it is as weightless as a pending promise).
        let joined = a.lp.spawn_blocking(move || thread.join().is_ok());
        a.lp.spawn_local(async move {
            let mut polls = 0u64;
            let seen = std::future::poll_fn(|cx| {
                polls += 1;
                *shared.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
                let c = shared.count.load(Ordering::Acquire);
                if c >= n { Poll::Ready(c) } else { Poll::Pending }
            })
            .await;
            let r = match joined.await {
                Ok(true) => Ok(Val::Obj(vec![
                    ("count\0", Val::Num(seen as f64)),
                    ("polls\0", Val::Num(polls as f64)),
                ])),
                Ok(false) => Err(JsError::new("PANIC", "the counting thread panicked")),
                Err(e) => Err(e.into()),
            };
            p.settle(r);
        });
        Ok(promise)
    };

    // `version()`: the libuv version uvio sees (node's own: `process.versions.uv`).
    version / 0 => |env, _a: &Rc<Addon>, []: [napi_value; 0]| {
        let (ma, mi, pa) = uvio::version();
        // SAFETY: inside a JS call.
        Ok(unsafe { Val::Str(format!("{ma}.{mi}.{pa}")).to_js(env)? })
    };

    // `unrefTimer(ms, callback)`: a timer that does not keep node alive.
    unrefTimer / 2 => |env, a: &Rc<Addon>, [ms, cb]: [napi_value; 2]| {
        let ms = arg_f64(env, ms, "ms")? as u64;
        let func = function_ref(env, cb)?;
        let js = Rc::clone(&a.js);
        a.start_timer(ms, true, move || {
            // Moves the whole `FunctionRef` in (not just its pointer): it must live until here.
            let func = func;
            js.call_function(func.0, &[]);
        })?;
        // SAFETY: inside a JS call.
        Ok(unsafe { napi::undefined(env)? })
    };

    // `panicInCallback()`: a timer callback that panics. uvio catches the panic (a borrowed
    // loop keeps it for `Loop::take_panic`); a next-tick callback queued before the panic
    // takes it and rejects the promise. Node does not abort.
    panicInCallback / 0 => |_env, a: &Rc<Addon>, []: [napi_value; 0]| {
        let (p, promise) = new_promise(a)?;
        let me = Rc::downgrade(a);
        a.start_timer(1, false, move || {
            if let Some(a) = me.upgrade() {
                let me = Rc::downgrade(&a);
                a.lp.next_tick(move || {
                    let payload = me.upgrade().and_then(|a| a.lp.take_panic());
                    let e = match payload {
                        Some(pl) => JsError::panic(&*pl),
                        None => JsError::new("PANIC", "panic payload missing"),
                    };
                    p.settle(Err(e));
                });
            }
            panic!("deliberate panic in a uvio timer callback");
        })?;
        Ok(promise)
    };

    // `metrics()`: `LoopHandle::metrics` (libuv 1.45+; node 20 has it).
    metrics / 0 => |env, a: &Rc<Addon>, []: [napi_value; 0]| {
        let m = a.lp.metrics()?;
        let v = Val::Obj(vec![
            ("loopCount\0", Val::Num(m.loop_count as f64)),
            ("events\0", Val::Num(m.events as f64)),
        ]);
        // SAFETY: inside a JS call.
        Ok(unsafe { v.to_js(env)? })
    };

    // `threadRusage()`: `uv_getrusage_thread` (libuv 1.50; node 20's 1.46 lacks it), reached
    // through `ffi::late`, so the addon still loads and the call fails with UNSUPPORTED.
    threadRusage / 0 => |env, _a: &Rc<Addon>, []: [napi_value; 0]| {
        let mut ru = std::mem::MaybeUninit::<uvio::ffi::uv_rusage_t>::zeroed();
        // SAFETY: `ru` is writable memory of the right type.
        let ret = unsafe { uvio::ffi::late::uv_getrusage_thread(ru.as_mut_ptr()) }
            .ok_or_else(|| uvio::Error::UNSUPPORTED.with_operation("uv_getrusage_thread"))?;
        if ret < 0 {
            return Err(uvio::Error::from_code(ret).into());
        }
        // SAFETY: zeroed, then filled by libuv.
        let ru = unsafe { ru.assume_init() };
        // SAFETY: inside a JS call.
        Ok(unsafe { napi::number(env, ru.ru_utime.tv_sec as f64)? })
    };

    // `startEchoServer(port)`: a TCP echo server on 127.0.0.1; returns the bound port.
    startEchoServer / 1 => |env, a: &Rc<Addon>, [port]: [napi_value; 1]| {
        let port = arg_f64(env, port, "port")?;
        let port = u16::try_from(port as u64)
            .map_err(|_| JsError::new("EINVAL", "port must be below 65536"))?;
        let bound = a.echo.listen(&a.lp, port)?;
        // SAFETY: inside a JS call.
        Ok(unsafe { napi::number(env, f64::from(bound))? })
    };

    // `stopEchoServer()`: closes the echo servers and their connections; returns how many
    // handles it closed.
    stopEchoServer / 0 => |env, a: &Rc<Addon>, []: [napi_value; 0]| {
        let n = a.echo.close_all();
        // SAFETY: inside a JS call.
        Ok(unsafe { napi::number(env, n as f64)? })
    };

    // `handleCount()`: uvio handles open on this env's loop.
    handleCount / 0 => |env, a: &Rc<Addon>, []: [napi_value; 0]| {
        // SAFETY: inside a JS call.
        Ok(unsafe { napi::number(env, a.lp.handle_count() as f64)? })
    };
}

/// Reads a whole file with `uvio::fs::read`. A failure rejects with the libuv error's name
/// as `code` (`ENOENT`) and the operation and path in the message
/// (`ENOENT: no such file or directory, open '/x'`).
async fn read_file(path: String) -> Result<Vec<u8>, JsError> {
    Ok(uvio::fs::read(path).await?)
}

/// What `countFromThread`'s thread shares with its task.
#[derive(Default)]
struct Counter {
    count: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

/// A JS function kept alive by a reference, released when dropped (on the env's thread).
struct FunctionRef(napi::napi_ref, napi_env, Weak<js::Js>);

fn function_ref(env: napi_env, v: napi_value) -> Result<FunctionRef, JsError> {
    let a = addon_of(env)?;
    // SAFETY: `v` is an argument of the running JS call.
    let ty = unsafe { out(|r| napi::napi_typeof(env, v, r))? };
    if ty != napi::TYPE_FUNCTION {
        return Err(JsError::new("EINVAL", "callback must be a function"));
    }
    // SAFETY: as above.
    let r = unsafe { out(|r| napi::napi_create_reference(env, v, 1, r))? };
    Ok(FunctionRef(r, env, Rc::downgrade(&a.js)))
}

impl Drop for FunctionRef {
    fn drop(&mut self) {
        // Once the env is closing its references go with it; never call into it then.
        if self.2.upgrade().is_some_and(|js| !js.is_closing()) {
            // SAFETY: the reference was made on this env, which is still live.
            unsafe { napi::napi_delete_reference(self.1, self.0) };
        }
    }
}
