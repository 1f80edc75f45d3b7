//! uvio inside a C program that owns and runs its libuv loop.
//!
//! ```c
//! int port = uvio_attach(&loop);   // > 0: the echo listener's port; < 0: a libuv error
//! ...                              // the host runs its loop, talks to the listener
//! uvio_detach();                   // close everything uvio opened
//! uv_run(&loop, UV_RUN_DEFAULT);   // close callbacks run
//! uv_loop_close(&loop);            // 0: nothing of uvio's is left
//! ```
//!
//! Linked statically (`libuvio_c_plugin.a`) or loaded with `dlopen` (`libuvio_c_plugin.so`);
//! either way the `uv_*` it calls are the host's. `tests/c_host.rs` builds and runs both.

// The TCP echo server on uvio's TcpListener/TcpStream, shared with the Node.js addon example.
#[path = "../../node_addon/src/echo.rs"]
mod echo;

use std::cell::Cell;
use std::ffi::{CStr, c_char, c_long};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use uvio::ffi;

/// The plugin's state on its host's loop (one per thread: a loop and its handles stay on
/// the loop's thread).
struct Plugin {
    lp: uvio::Loop,
    echo: Rc<echo::Echo>,
    _timer: uvio::Timer,
    _work: uvio::WorkRequest<u64>,
}

/// What the host can read back with [`uvio_stat`].
#[derive(Default)]
struct Stats {
    ticks: Cell<c_long>,
    work: Cell<c_long>,
    task: Cell<c_long>,
    detached: Cell<c_long>,
    metrics_supported: Cell<c_long>,
}

thread_local! {
    /// The attached plugin (`Box::into_raw`), or null. A raw pointer, not an
    /// `Option<Plugin>`: a thread-local that needs `Drop` registers a thread-exit destructor,
    /// which must not outlive a host's `dlclose` of the plugin (see ARCHITECTURE.md).
    static PLUGIN: Cell<*mut Plugin> = const { Cell::new(std::ptr::null_mut()) };
    static STATS: Stats = Stats::default();
}

fn stat(f: impl FnOnce(&Stats)) {
    STATS.with(f);
}

fn attach(raw: *mut ffi::uv_loop_t) -> uvio::Result<u16> {
    if !PLUGIN.with(Cell::get).is_null() {
        return Err(uvio::Error::EBUSY.with_operation("uvio_attach: already attached"));
    }
    // SAFETY: the host's loop is initialised, outlives the plugin's handles (the host calls
    // uvio_detach and runs the loop before closing it) and runs on this thread.
    let lp = unsafe { uvio::Loop::from_raw(raw)? };
    stat(|s| {
        for c in [&s.ticks, &s.work, &s.task, &s.detached] {
            c.set(0);
        }
        // libuv 1.44 (Debian 12's) lacks uv_metrics_info: a typed error, not a load failure.
        let m = lp.metrics();
        s.metrics_supported
            .set(if m.as_ref().is_err_and(|e| e.is_unsupported()) {
                0
            } else {
                1
            });
    });

    let timer = uvio::Timer::new(&lp)?;
    timer.start(Duration::from_millis(1), Duration::from_millis(1), |_| {
        stat(|s| s.ticks.set(s.ticks.get() + 1));
    })?;

    let work = uvio::queue_work(
        &lp,
        || (1..=20u64).product::<u64>() % 1_000_003,
        |r| stat(|s| s.work.set(r.map_or(-1, |v| v as c_long))),
    )?;

    lp.spawn_local(async {
        uvio::time::sleep(Duration::from_millis(2)).await;
        // libuv's fs requests on the host's loop (open, fstat, read until 0, close).
        let n = uvio::fs::read("/proc/self/stat")
            .await
            .map_or(0, |b| b.len());
        stat(|s| s.task.set(if n > 0 { 1 } else { -1 }));
    });

    let echo = Rc::new(echo::Echo::default());
    let port = echo.listen(&lp, 0)?;
    let plugin = Box::new(Plugin {
        lp,
        echo,
        _timer: timer,
        _work: work,
    });
    PLUGIN.with(|p| p.set(Box::into_raw(plugin)));
    Ok(port)
}

/// Attaches uvio to the host's loop: starts a repeating timer, a TCP echo listener on
/// 127.0.0.1, threadpool work and an async task (a timer, then a file read).
///
/// Returns the listener's port (> 0), or a negative libuv error code (`UV_EINVAL` for a
/// null loop, `UV_EBUSY` when already attached; an unsupported libuv gives `UV_ENOSYS`).
///
/// # Safety
///
/// `lp` is null or an initialised loop that the host runs on this thread and closes only
/// after `uvio_detach` and a final `uv_run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn uvio_attach(lp: *mut ffi::uv_loop_t) -> i32 {
    match catch_unwind(AssertUnwindSafe(|| attach(lp))) {
        Ok(Ok(port)) => i32::from(port),
        Ok(Err(e)) if e.is_unsupported() => {
            eprintln!("uvio_attach: {e}");
            ffi::UV_ENOSYS
        }
        Ok(Err(e)) => {
            eprintln!("uvio_attach: {e}");
            e.code()
        }
        Err(_) => ffi::UV_EINVAL,
    }
}

/// Closes everything uvio opened on the host's loop. Once the host has run its loop until
/// the close callbacks are done (`uvio_stat("detached")` is then 1), `uv_loop_close`
/// succeeds. Does nothing when not attached.
#[unsafe(no_mangle)]
pub extern "C" fn uvio_detach() {
    let _ = catch_unwind(|| {
        let raw = PLUGIN.with(|p| p.replace(std::ptr::null_mut()));
        if raw.is_null() {
            return;
        }
        // SAFETY: a pointer from `Box::into_raw` in `attach`, taken out of the slot once.
        let p = unsafe { Box::from_raw(raw) };
        echo::close_everything(&p.lp, &p.echo, || stat(|s| s.detached.set(1)));
        // Dropping the borrowed Loop and our owners only closes (nothing else to do).
        drop(p);
    });
}

/// A counter by name: `"ticks"`, `"work"` (the work's result), `"task"` (1 once the task
/// finished), `"detached"`, `"metrics_supported"`; -1 for an unknown name.
///
/// # Safety
///
/// `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn uvio_stat(name: *const c_char) -> c_long {
    if name.is_null() {
        return -1;
    }
    // SAFETY: per the contract.
    let name = unsafe { CStr::from_ptr(name) };
    let mut v = -1;
    stat(|s| {
        v = match name.to_bytes() {
            b"ticks" => s.ticks.get(),
            b"work" => s.work.get(),
            b"task" => s.task.get(),
            b"detached" => s.detached.get(),
            b"metrics_supported" => s.metrics_supported.get(),
            _ => -1,
        }
    });
    v
}
