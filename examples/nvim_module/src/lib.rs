//! A Neovim Lua module written with mlua (LuaJIT, module mode) that runs uvio on nvim's own
//! libuv loop (`host` mode: the `uv_*` calls bind to the libuv nvim uses).
//!
//! Build: `cargo build --manifest-path examples/nvim_module/Cargo.toml`, copy
//! `target/debug/libuvio_nvim.so` to `uvio_nvim.so` on `package.cpath`, then
//! `require('uvio_nvim')`. `tests/nvim_module.rs` runs `tests/nvim/module_test.lua` in a
//! headless nvim.
//!
//! * **nvim's loop.** luv's `luv_loop(L)` gives the loop nvim runs; uvio borrows it with
//!   `Loop::from_raw`.
//! * **The fast-event rule.** uvio's callbacks run from libuv callbacks, where Neovim
//!   forbids most `vim.api` calls (a "fast" event, like luv's own callbacks; nvim flags
//!   only luv's, so from uvio's it would not even refuse them with E5560, and Neovim 0.7
//!   aborts). Results are therefore never handed to Lua there: they are queued, and a
//!   [`uvio::CallbackHook`] schedules one `vim.schedule` per batch when uvio's callback
//!   scope ends, so the Lua callbacks run where the whole API is allowed. `fast_probe`
//!   calls Lua directly from a uvio callback, to show the difference (`in_callback`).
//! * **Exit.** A `VimLeavePre` autocommand closes everything uvio opened
//!   (`Loop::close_all`), so `:qa!` with uvio's timers and server still open exits
//!   cleanly: nvim then closes its loop without finding uvio's handles.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt, AsyncWriteExt};
use mlua::{Function, Lua, Result as LuaResult, Table, Value, WeakLua};

unsafe extern "C" {
    /// luv's C API: the libuv loop of this Lua state (nvim's main loop).
    fn luv_loop(l: *mut mlua::ffi::lua_State) -> *mut uvio::ffi::uv_loop_t;
}

/// A Lua call to make outside fast context.
type Delivery = Box<dyn FnOnce(&Lua) -> LuaResult<()>>;

struct Module {
    lua: WeakLua,
    lp: uvio::Loop,
    /// Results waiting for `vim.schedule`.
    queue: RefCell<VecDeque<Delivery>>,
    /// A `vim.schedule` of `drain` is pending.
    scheduled: Cell<bool>,
    /// Inside uvio's callback scope (a fast event).
    inside: Rc<Cell<bool>>,
    /// Set at `VimLeavePre`: nothing is delivered after it.
    closing: Cell<bool>,
    /// Timers kept until they fire (or nvim exits).
    timers: RefCell<Vec<uvio::Timer>>,
    /// The Lua function that runs the queue (made once).
    drain: RefCell<Option<Function>>,
}

/// The hook: marks uvio's callback scope and, when it ends, schedules the deliveries its
/// callbacks queued.
struct Fast {
    inside: Rc<Cell<bool>>,
    module: Weak<Module>,
}

impl uvio::CallbackHook for Fast {
    fn enter(&self) {
        self.inside.set(true);
    }
    fn exit(&self) {
        self.inside.set(false);
        if let Some(m) = self.module.upgrade() {
            m.schedule();
        }
    }
}

impl Module {
    /// Queues `f` to run in Lua outside fast context.
    fn deliver(&self, f: impl FnOnce(&Lua) -> LuaResult<()> + 'static) {
        if self.closing.get() {
            return;
        }
        self.queue.borrow_mut().push_back(Box::new(f));
        if !self.inside.get() {
            // Not inside a uvio callback (no hook exit will follow): schedule now.
            self.schedule();
        }
    }

    /// One `vim.schedule(drain)` for everything queued (allowed in fast context).
    fn schedule(&self) {
        if self.scheduled.get() || self.queue.borrow().is_empty() || self.closing.get() {
            return;
        }
        let Some(lua) = self.lua.try_upgrade() else {
            return;
        };
        let Some(drain) = self.drain.borrow().clone() else {
            return;
        };
        let scheduled = lua
            .globals()
            .get::<Table>("vim")
            .and_then(|vim| vim.get::<Function>("schedule"))
            .and_then(|schedule| schedule.call::<()>(drain));
        match scheduled {
            Ok(()) => self.scheduled.set(true),
            Err(e) => eprintln!("uvio_nvim: vim.schedule failed: {e}"),
        }
    }

    /// Runs the queued deliveries (from `vim.schedule`: not a fast event).
    fn run_queue(&self, lua: &Lua) -> LuaResult<()> {
        self.scheduled.set(false);
        let mut first_error = None;
        loop {
            let next = self.queue.borrow_mut().pop_front();
            let Some(f) = next else { break };
            if let Err(e) = f(lua) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn lua_err(e: uvio::Error) -> mlua::Error {
    mlua::Error::RuntimeError(e.to_string())
}

/// A delivery of `cb(args)`.
fn call_with<A: mlua::IntoLuaMulti + 'static>(
    cb: Function,
    args: A,
) -> impl FnOnce(&Lua) -> LuaResult<()> {
    move |_lua| cb.call::<()>(args)
}

#[mlua::lua_module]
fn uvio_nvim(lua: &Lua) -> LuaResult<Table> {
    let mut raw = std::ptr::null_mut();
    // SAFETY: `luv_loop` only reads luv's registry entry of this state.
    unsafe { lua.exec_raw::<()>((), |state| raw = luv_loop(state))? };
    // SAFETY: nvim's loop, initialised and run on this thread; the VimLeavePre autocommand
    // below closes every uvio handle before nvim closes the loop at exit.
    let lp = unsafe { uvio::Loop::from_raw(raw) }.map_err(lua_err)?;
    let inside = Rc::new(Cell::new(false));
    let m = Rc::new(Module {
        lua: lua.weak(),
        lp,
        queue: RefCell::new(VecDeque::new()),
        scheduled: Cell::new(false),
        inside: Rc::clone(&inside),
        closing: Cell::new(false),
        timers: RefCell::new(Vec::new()),
        drain: RefCell::new(None),
    });
    m.lp.set_callback_hook(Some(Rc::new(Fast {
        inside,
        module: Rc::downgrade(&m),
    })))
    .map_err(lua_err)?;
    let mm = Rc::clone(&m);
    m.lp.set_panic_handler(Some(Box::new(move |p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        // Reported through vim.notify, outside fast context.
        mm.deliver(move |lua| {
            let notify: Function = lua.globals().get::<Table>("vim")?.get("notify")?;
            notify.call::<()>(format!("uvio_nvim: panic: {msg}"))
        });
    })))
    .map_err(lua_err)?;
    let mm = Rc::clone(&m);
    *m.drain.borrow_mut() = Some(lua.create_function(move |lua, ()| mm.run_queue(lua))?);

    let exports = lua.create_table()?;

    // timer(ms, cb): cb(elapsed_ms) after `ms`, by a uvio Timer callback.
    let mm = Rc::clone(&m);
    exports.set(
        "timer",
        lua.create_function(move |_, (ms, cb): (u64, Function)| {
            let t = uvio::Timer::new(&mm.lp).map_err(lua_err)?;
            let start = Instant::now();
            let me = Rc::downgrade(&mm);
            let cb = Cell::new(Some(cb));
            t.start(Duration::from_millis(ms), Duration::ZERO, move |_| {
                if let (Some(m), Some(cb)) = (me.upgrade(), cb.take()) {
                    let elapsed = start.elapsed().as_secs_f64() * 1000.0;
                    m.deliver(call_with(cb, elapsed));
                }
            })
            .map_err(lua_err)?;
            mm.timers.borrow_mut().push(t);
            Ok(())
        })?,
    )?;

    // fast_probe(cb): calls cb() directly from a uvio callback, without deferring: inside
    // the libuv callback, where the API must not be used (what every delivery avoids).
    let mm = Rc::clone(&m);
    exports.set(
        "fast_probe",
        lua.create_function(move |_, cb: Function| {
            let t = uvio::Timer::new(&mm.lp).map_err(lua_err)?;
            let cb = Cell::new(Some(cb));
            t.start(Duration::from_millis(1), Duration::ZERO, move |_| {
                if let Some(Err(e)) = cb.take().map(|cb| cb.call::<()>(())) {
                    eprintln!("uvio_nvim: fast_probe callback failed: {e}");
                }
            })
            .map_err(lua_err)?;
            mm.timers.borrow_mut().push(t);
            Ok(())
        })?,
    )?;

    // read_file(path, cb): cb(contents) or cb(nil, "ENOENT: ..."), by uvio::fs::read.
    let mm = Rc::clone(&m);
    exports.set(
        "read_file",
        lua.create_function(move |_, (path, cb): (String, Function)| {
            let me = Rc::downgrade(&mm);
            mm.lp.spawn_local(async move {
                let r = uvio::fs::read(&path).await;
                let Some(m) = me.upgrade() else { return };
                m.deliver(move |lua| match r {
                    Ok(bytes) => cb.call::<()>(lua.create_string(&bytes)?),
                    Err(e) => cb.call::<()>((Value::Nil, e.to_string())),
                });
            });
            Ok(())
        })?,
    )?;

    // task(ms, path, cb): an async task sleeps `ms`, reads `path`: cb(bytes, slept_ms).
    let mm = Rc::clone(&m);
    exports.set(
        "task",
        lua.create_function(move |_, (ms, path, cb): (u64, String, Function)| {
            let me = Rc::downgrade(&mm);
            mm.lp.spawn_local(async move {
                let start = Instant::now();
                uvio::time::sleep(Duration::from_millis(ms)).await;
                let slept = start.elapsed().as_secs_f64() * 1000.0;
                let n = uvio::fs::read(&path).await.map(|b| b.len()).unwrap_or(0);
                if let Some(m) = me.upgrade() {
                    m.deliver(call_with(cb, (n, slept)));
                }
            });
            Ok(())
        })?,
    )?;

    // serve(on_line): a uvio TCP server on 127.0.0.1; each connection's first line is
    // answered with "uvio got: LINE\n" and given to on_line(LINE). Returns the port.
    let mm = Rc::clone(&m);
    exports.set(
        "serve",
        lua.create_function(move |_, on_line: Function| {
            let l = uvio::TcpListener::bind(&mm.lp, ([127, 0, 0, 1], 0).into()).map_err(lua_err)?;
            let port = l.local_addr().map_err(lua_err)?.port();
            let me = Rc::downgrade(&mm);
            mm.lp.spawn_local(async move {
                while let Ok(mut conn) = l.accept().await {
                    let (me, on_line) = (me.clone(), on_line.clone());
                    uvio::spawn_local(async move {
                        let mut got = Vec::new();
                        let mut buf = [0u8; 512];
                        while !got.contains(&b'\n') {
                            match conn.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        let line = String::from_utf8_lossy(&got).trim_end().to_string();
                        let reply = format!("uvio got: {line}\n");
                        let _ = conn.write_all(reply.as_bytes()).await;
                        if let Some(m) = me.upgrade() {
                            m.deliver(call_with(on_line, line));
                        }
                    });
                }
            });
            Ok(port)
        })?,
    )?;

    // in_callback(): whether Lua runs inside uvio's callback scope, that is from a libuv
    // callback. nvim marks only luv's callbacks as fast events (vim.in_fast_event()), so
    // from uvio's it would not refuse API calls itself: the module must defer them.
    let mm = Rc::clone(&m);
    exports.set(
        "in_callback",
        lua.create_function(move |_, ()| Ok(mm.inside.get()))?,
    )?;

    // handles(): uvio handles open on nvim's loop.
    let mm = Rc::clone(&m);
    exports.set(
        "handles",
        lua.create_function(move |_, ()| Ok(mm.lp.handle_count()))?,
    )?;

    // At exit: close everything uvio opened before nvim closes its loop.
    let mm = Rc::clone(&m);
    let shutdown = lua.create_function(move |_, ()| {
        mm.closing.set(true);
        mm.queue.borrow_mut().clear();
        mm.timers.borrow_mut().clear();
        let _ = mm.lp.set_callback_hook(None);
        mm.lp.close_all(|| {});
        Ok(())
    })?;
    let opts = lua.create_table()?;
    opts.set("callback", shutdown)?;
    let api: Table = lua.globals().get::<Table>("vim")?.get("api")?;
    let create_autocmd: Function = api.get("nvim_create_autocmd")?;
    create_autocmd.call::<()>(("VimLeavePre", opts))?;

    Ok(exports)
}
