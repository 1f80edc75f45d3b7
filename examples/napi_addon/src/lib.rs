//! A Node.js addon written with napi-rs whose `async` functions are uvio futures, polled on
//! node's own loop thread and returned to JavaScript as promises: no tokio, no extra thread.
//!
//! Build: `cargo build --manifest-path examples/napi_addon/Cargo.toml`, then copy
//! `target/debug/libuvio_napi_addon.so` to `uvio_napi_addon.node` and `require()` it.
//! `tests/napi_addon.rs` does this and drives `tests/node/napi_test.js` with a real `node`.
//!
//! napi-rs declares the functions and converts their arguments; the glue to uvio is here:
//!
//! * **One loop per env.** The main thread and each `Worker` have their own env and libuv
//!   loop. The first call in an env borrows that loop (`napi_get_uv_event_loop`,
//!   `uvio::Loop::from_raw`) and keeps it in the env's instance data.
//! * **Node's callback scope around uvio's callbacks.** A [`uvio::CallbackHook`] opens a
//!   handle scope and `napi_open_callback_scope` around everything uvio runs for a libuv
//!   callback, task polls included. So a task settles its promise right where it finishes,
//!   and closing the scope runs the promise's reactions and `process.nextTick` callbacks, as
//!   after node's own callbacks.
//! * **Futures to promises.** [`promise`] creates a promise, spawns the future as a uvio
//!   task and settles the promise with its output: a value, an `Error` whose `code` is the
//!   libuv error name, or for a panic an `Error` with code `PANIC`.
//! * **Teardown.** An async cleanup hook closes everything uvio opened in the env
//!   (`Loop::close_all`) and lets node finish only once the last close callback has run, so
//!   `worker.terminate()` with timers, sockets and tasks open is safe. After it starts,
//!   nothing calls into JavaScript.
//! * **Panics** in callbacks go to a panic handler that raises them in JavaScript as
//!   uncaught exceptions (`napi_fatal_exception`).

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::future::Future;
use std::ptr::null_mut;
use std::rc::Rc;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use napi::bindgen_prelude::PromiseRaw;
use napi::{Env, Error, Result, Status, sys};
use napi_derive::napi;

/// What the addon keeps for one env.
struct EnvState {
    env: sys::napi_env,
    lp: uvio::Loop,
    scope: Rc<NodeScope>,
    /// Set once the env's teardown has begun: nothing calls into JS from then on.
    closing: Rc<Cell<bool>>,
    /// Echo servers started from JS, by port.
    servers: RefCell<Vec<(u16, uvio::JoinHandle<()>)>>,
    /// Timers of `panicInCallback`, open until the env goes.
    timers: RefCell<Vec<uvio::Timer>>,
}

/// The hook: a handle scope and node's callback scope around uvio's callbacks.
struct NodeScope {
    env: sys::napi_env,
    resource: sys::napi_ref,
    context: sys::napi_async_context,
    open: Cell<Option<(sys::napi_handle_scope, sys::napi_callback_scope)>>,
    closing: Rc<Cell<bool>>,
}

impl uvio::CallbackHook for NodeScope {
    fn enter(&self) {
        if self.closing.get() {
            return;
        }
        let env = self.env;
        let mut hs = null_mut();
        let mut resource = null_mut();
        let mut cs = null_mut();
        // SAFETY: on the env's own thread, from a callback of its loop (no JS is running);
        // every scope opened here is closed in `exit`, in reverse order.
        unsafe {
            if sys::napi_open_handle_scope(env, &mut hs) != sys::Status::napi_ok {
                return;
            }
            if sys::napi_get_reference_value(env, self.resource, &mut resource)
                != sys::Status::napi_ok
                || sys::napi_open_callback_scope(env, resource, self.context, &mut cs)
                    != sys::Status::napi_ok
            {
                sys::napi_close_handle_scope(env, hs);
                return;
            }
        }
        self.open.set(Some((hs, cs)));
    }

    fn exit(&self) {
        if let Some((hs, cs)) = self.open.take() {
            // SAFETY: the scopes `enter` opened, closed once, innermost first. Closing the
            // callback scope runs promise reactions and ticks.
            unsafe {
                sys::napi_close_callback_scope(self.env, cs);
                sys::napi_close_handle_scope(self.env, hs);
            }
        }
    }
}

impl NodeScope {
    /// Whether JS may be called now (inside the scope, env not closing).
    fn is_open(&self) -> bool {
        let open = self.open.take();
        self.open.set(open);
        open.is_some() && !self.closing.get()
    }
}

/// Maps a failed N-API call to an error.
fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::GenericFailure, format!("{what} failed")))
    }
}

/// The env's state, created on first use.
fn state(env: &Env) -> Result<Rc<EnvState>> {
    if let Some(st) = env.get_instance_data::<Rc<EnvState>>()? {
        return Ok(Rc::clone(st));
    }
    let raw_env = env.raw();
    let raw_loop = env.get_uv_event_loop()?;
    // SAFETY: node's loop of this env: initialised, run on this thread, and alive until the
    // env's async cleanup hook (below) has seen every uvio handle and request finish.
    let lp = unsafe { uvio::Loop::from_raw(raw_loop.cast()) }
        .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
    let closing = Rc::new(Cell::new(false));
    let (mut resource_obj, mut resource, mut name, mut context) =
        (null_mut(), null_mut(), null_mut(), null_mut());
    // SAFETY: on the env's thread inside a call from JS; out-pointers are valid locals.
    unsafe {
        check(
            sys::napi_create_object(raw_env, &mut resource_obj),
            "napi_create_object",
        )?;
        check(
            sys::napi_create_reference(raw_env, resource_obj, 1, &mut resource),
            "napi_create_reference",
        )?;
        check(
            sys::napi_create_string_utf8(raw_env, c"uvio".as_ptr(), 4, &mut name),
            "napi_create_string_utf8",
        )?;
        check(
            sys::napi_async_init(raw_env, resource_obj, name, &mut context),
            "napi_async_init",
        )?;
    }
    let scope = Rc::new(NodeScope {
        env: raw_env,
        resource,
        context,
        open: Cell::new(None),
        closing: Rc::clone(&closing),
    });
    let to_uvio = |e: uvio::Error| Error::new(Status::GenericFailure, e.to_string());
    lp.set_callback_hook(Some(scope.clone())).map_err(to_uvio)?;
    let (c, s) = (Rc::clone(&closing), Rc::clone(&scope));
    lp.set_panic_handler(Some(Box::new(move |payload| {
        let msg = panic_message(&*payload);
        if c.get() || !s.is_open() {
            eprintln!("uvio_napi_addon: panic during teardown: {msg}");
            return;
        }
        // SAFETY: inside the callback scope on the env's thread.
        unsafe {
            if let Ok(err) = js_error(raw_env, "PANIC", &msg) {
                sys::napi_fatal_exception(raw_env, err);
            }
        }
    })))
    .map_err(to_uvio)?;
    let st = Rc::new(EnvState {
        env: raw_env,
        lp,
        scope,
        closing,
        servers: RefCell::new(Vec::new()),
        timers: RefCell::new(Vec::new()),
    });
    // The hook's reference; given back in `on_env_cleanup`.
    let arg = Rc::into_raw(Rc::clone(&st)) as *mut c_void;
    // SAFETY: `on_env_cleanup` takes back exactly this reference.
    let r =
        unsafe { sys::napi_add_async_cleanup_hook(raw_env, Some(on_env_cleanup), arg, null_mut()) };
    if r != sys::Status::napi_ok {
        // SAFETY: the reference made above, not handed to node.
        drop(unsafe { Rc::from_raw(arg as *const EnvState) });
        return Err(Error::new(
            Status::GenericFailure,
            "napi_add_async_cleanup_hook failed",
        ));
    }
    env.set_instance_data(Rc::clone(&st), 0, |_| {})?;
    Ok(st)
}

/// The env is being torn down (its thread ends, `worker.terminate()`, process exit): close
/// everything uvio opened; node waits until `napi_remove_async_cleanup_hook`.
unsafe extern "C" fn on_env_cleanup(handle: sys::napi_async_cleanup_hook_handle, arg: *mut c_void) {
    // SAFETY: the reference `state` gave node for this hook.
    let st = unsafe { Rc::from_raw(arg as *const EnvState) };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        st.closing.set(true);
        let _ = st.lp.set_callback_hook(None);
        // SAFETY: still on the env's thread, the env alive: release what `state` made.
        unsafe {
            sys::napi_async_destroy(st.env, st.scope.context);
            sys::napi_delete_reference(st.env, st.scope.resource);
        }
        st.servers.borrow_mut().clear();
        st.timers.borrow_mut().clear();
        let handle = handle as usize;
        st.lp.close_all(move || {
            // SAFETY: the handle node gave this hook, removed once, on the env's thread.
            unsafe { sys::napi_remove_async_cleanup_hook(handle as _) };
        });
    }));
    if r.is_err() {
        eprintln!("uvio_napi_addon: panic in the cleanup hook");
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// A JS `Error` with `code`.
///
/// # Safety
///
/// On the env's thread, inside a handle scope.
unsafe fn js_error(env: sys::napi_env, code: &str, msg: &str) -> Result<sys::napi_value> {
    let (mut c, mut m, mut e) = (null_mut(), null_mut(), null_mut());
    // SAFETY: the caller's contract; strings with their lengths.
    unsafe {
        check(
            sys::napi_create_string_utf8(env, code.as_ptr().cast(), code.len() as isize, &mut c),
            "napi_create_string_utf8",
        )?;
        check(
            sys::napi_create_string_utf8(env, msg.as_ptr().cast(), msg.len() as isize, &mut m),
            "napi_create_string_utf8",
        )?;
        check(
            sys::napi_create_error(env, c, m, &mut e),
            "napi_create_error",
        )?;
    }
    Ok(e)
}

/// What a uvio future gives JavaScript.
enum Js {
    Undefined,
    Number(f64),
    Buffer(Vec<u8>),
    Text(String),
}

impl Js {
    /// # Safety
    ///
    /// On the env's thread, inside a handle scope.
    unsafe fn to_napi(&self, env: sys::napi_env) -> Result<sys::napi_value> {
        let mut v = null_mut();
        // SAFETY: the caller's contract; buffers and strings with their lengths.
        unsafe {
            match self {
                Js::Undefined => check(sys::napi_get_undefined(env, &mut v), "napi_get_undefined")?,
                Js::Number(n) => check(
                    sys::napi_create_double(env, *n, &mut v),
                    "napi_create_double",
                )?,
                Js::Buffer(b) => check(
                    sys::napi_create_buffer_copy(
                        env,
                        b.len(),
                        b.as_ptr().cast(),
                        null_mut(),
                        &mut v,
                    ),
                    "napi_create_buffer_copy",
                )?,
                Js::Text(s) => check(
                    sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v),
                    "napi_create_string_utf8",
                )?,
            }
        }
        Ok(v)
    }
}

/// Runs `fut` as a uvio task on the env's loop and returns a promise of its output.
///
/// The task settles the promise where it finishes: a task is only ever polled from a
/// callback of the loop, inside [`NodeScope`], so the N-API calls are allowed there, and
/// the scope's close runs the promise's reactions right after.
fn promise<'env, F>(env: &'env Env, fut: F) -> Result<PromiseRaw<'env, ()>>
where
    F: Future<Output = uvio::Result<Js>> + 'static,
{
    let st = state(env)?;
    let raw_env = env.raw();
    let (mut deferred, mut promise) = (null_mut(), null_mut());
    // SAFETY: inside a call from JS on the env's thread.
    let created = unsafe { sys::napi_create_promise(raw_env, &mut deferred, &mut promise) };
    check(created, "napi_create_promise")?;
    let work = st.lp.spawn_local(fut);
    let scope = Rc::clone(&st.scope);
    // A second task awaits the first, so a panic becomes a rejection too.
    st.lp.spawn_local(async move {
        let settled = match work.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err((e.name().to_string(), e.to_string())),
            Err(j) => Err(("PANIC".to_string(), j.to_string())),
        };
        if !scope.is_open() {
            // The env is going away: its promises go with it.
            return;
        }
        // SAFETY: inside NodeScope on the env's thread; the deferred is settled once.
        unsafe {
            let r = match settled {
                Ok(v) => v
                    .to_napi(raw_env)
                    .map(|v| sys::napi_resolve_deferred(raw_env, deferred, v)),
                Err((code, msg)) => js_error(raw_env, &code, &msg)
                    .map(|e| sys::napi_reject_deferred(raw_env, deferred, e)),
            };
            if r.is_err() {
                eprintln!("uvio_napi_addon: could not settle a promise");
            }
        }
    });
    Ok(PromiseRaw::new(raw_env, promise))
}

fn ms(ms: f64) -> Result<Duration> {
    if ms.is_finite() && ms >= 0.0 {
        Ok(Duration::from_secs_f64(ms / 1000.0))
    } else {
        Err(Error::new(Status::InvalidArg, format!("bad delay {ms}")))
    }
}

/// `sleep(ms)`: resolves after `ms` milliseconds (a `uvio::time::sleep`).
#[napi]
pub fn sleep(env: &Env, delay: f64) -> Result<PromiseRaw<'_, ()>> {
    let d = ms(delay)?;
    promise(env, async move {
        uvio::time::sleep(d).await;
        Ok(Js::Undefined)
    })
}

/// `readFile(path)`: the file's bytes as a Buffer (`uvio::fs::read`); rejects with the
/// libuv error name as `code` (`ENOENT`).
#[napi]
pub fn read_file(env: &Env, path: String) -> Result<PromiseRaw<'_, ()>> {
    promise(
        env,
        async move { uvio::fs::read(&path).await.map(Js::Buffer) },
    )
}

/// `timerThenRead(ms, path)`: a uvio `Timer` (callback style) wakes the task, which then
/// reads `path`; resolves with the number of bytes.
#[napi]
pub fn timer_then_read(env: &Env, delay: f64, path: String) -> Result<PromiseRaw<'_, ()>> {
    let d = ms(delay)?;
    let lp = state(env)?.lp.handle();
    promise(env, async move {
        let (tx, rx) = futures_channel::oneshot::channel();
        let t = uvio::Timer::new(&lp)?;
        let tx = Cell::new(Some(tx));
        t.start(d, Duration::ZERO, move |_| {
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        })?;
        rx.await.map_err(|_| uvio::Error::ECANCELED)?;
        let bytes = uvio::fs::read(&path).await?;
        Ok(Js::Number(bytes.len() as f64))
    })
}

/// `echoRoundTrip(port, text)`: a uvio TCP client sends `text` to 127.0.0.1:`port`, shuts
/// down its side and resolves with what came back.
#[napi]
pub fn echo_round_trip(env: &Env, port: u32, text: String) -> Result<PromiseRaw<'_, ()>> {
    let port = u16::try_from(port).map_err(|_| Error::new(Status::InvalidArg, "bad port"))?;
    promise(env, async move {
        let mut s = uvio::TcpStream::connect(([127, 0, 0, 1], port).into()).await?;
        s.write_all(text.as_bytes())
            .await
            .map_err(uvio::Error::from)?;
        s.shutdown().await?;
        let mut back = Vec::new();
        s.read_to_end(&mut back).await.map_err(uvio::Error::from)?;
        Ok(Js::Text(String::from_utf8_lossy(&back).into_owned()))
    })
}

/// `startEchoServer()`: a uvio TCP echo server on 127.0.0.1 (one task per connection);
/// returns its port.
#[napi]
pub fn start_echo_server(env: &Env) -> Result<u32> {
    let st = state(env)?;
    let to_js = |e: uvio::Error| Error::new(Status::GenericFailure, e.to_string());
    let l = uvio::TcpListener::bind(&st.lp, ([127, 0, 0, 1], 0).into()).map_err(to_js)?;
    let port = l.local_addr().map_err(to_js)?.port();
    let server = st.lp.spawn_local(async move {
        while let Ok(mut conn) = l.accept().await {
            uvio::spawn_local(async move {
                let mut buf = vec![0; 16 * 1024];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    st.servers.borrow_mut().push((port, server));
    Ok(u32::from(port))
}

/// `stopEchoServers()`: stops every echo server of this env; returns how many.
#[napi]
pub fn stop_echo_servers(env: &Env) -> Result<u32> {
    let st = state(env)?;
    let servers = std::mem::take(&mut *st.servers.borrow_mut());
    for (_, s) in &servers {
        s.abort();
    }
    Ok(servers.len() as u32)
}

/// `panicInTask()`: a task that panics; the promise rejects with code `PANIC`.
#[napi]
pub fn panic_in_task(env: &Env) -> Result<PromiseRaw<'_, ()>> {
    promise(env, async {
        uvio::time::sleep(Duration::from_millis(1)).await;
        panic!("deliberate panic in a uvio task")
    })
}

/// `panicInCallback()`: a uvio timer callback that panics: the panic handler raises it in
/// JS as an uncaught exception.
#[napi]
pub fn panic_in_callback(env: &Env) -> Result<()> {
    let st = state(env)?;
    let t =
        uvio::Timer::new(&st.lp).map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
    t.start(Duration::from_millis(1), Duration::ZERO, |_| {
        panic!("deliberate panic in a uvio callback")
    })
    .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
    st.timers.borrow_mut().push(t);
    Ok(())
}

/// `handleCount()`: uvio handles open in this env.
#[napi]
pub fn handle_count(env: &Env) -> Result<u32> {
    Ok(state(env)?.lp.handle_count() as u32)
}
