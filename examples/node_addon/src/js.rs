//! Calling into JavaScript from libuv callbacks: values, errors and promises.
//!
//! A libuv callback runs with no JavaScript on the stack, so every call into JS opens a handle
//! scope and a *callback scope* (with an object as the async resource and an async context):
//! when the callback scope closes, node runs `process.nextTick` callbacks and promise jobs,
//! exactly as after one of its own callbacks.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::null_mut;
use std::rc::Rc;

use crate::napi::{self, Scope, Status, napi_env, napi_value, out};

/// What the addon hands to JS.
pub enum Val {
    Undefined,
    Num(f64),
    Str(String),
    Bytes(Vec<u8>),
    Obj(Vec<(&'static str, Val)>),
}

impl Val {
    /// # Safety
    ///
    /// `env` is live on this thread, inside a handle scope.
    pub unsafe fn to_js(&self, env: napi_env) -> Result<napi_value, Status> {
        // SAFETY: per the contract; each call writes its out-pointer on success.
        unsafe {
            match self {
                Val::Undefined => napi::undefined(env),
                Val::Num(n) => napi::number(env, *n),
                Val::Str(s) => napi::string(env, s),
                Val::Bytes(b) => {
                    let mut data: *mut c_void = null_mut();
                    out(|r| {
                        napi::napi_create_buffer_copy(env, b.len(), b.as_ptr().cast(), &mut data, r)
                    })
                }
                Val::Obj(fields) => {
                    let o = out(|r| napi::napi_create_object(env, r))?;
                    for (k, v) in fields {
                        let v = v.to_js(env)?;
                        napi::set(env, o, k, v)?;
                    }
                    Ok(o)
                }
            }
        }
    }
}

/// An error for JS: becomes an `Error` whose `code` is `code` (`'ENOENT'`, `'UNSUPPORTED'`).
#[derive(Debug)]
pub struct JsError {
    pub code: String,
    pub message: String,
}

impl From<uvio::Error> for JsError {
    fn from(e: uvio::Error) -> JsError {
        JsError {
            code: e.name().to_string(),
            message: e.to_string(),
        }
    }
}

impl From<Status> for JsError {
    fn from(s: Status) -> JsError {
        JsError {
            code: "NAPI".into(),
            message: format!("Node-API call failed with status {}", s.0),
        }
    }
}

impl JsError {
    pub fn new(code: &str, message: impl Into<String>) -> JsError {
        JsError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// A panic payload as an error with code `PANIC`.
    pub fn panic(payload: &(dyn std::any::Any + Send)) -> JsError {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a Rust panic".into());
        JsError::new("PANIC", msg)
    }

    /// # Safety
    ///
    /// As [`Val::to_js`].
    pub unsafe fn to_js(&self, env: napi_env) -> Result<napi_value, Status> {
        // SAFETY: per the contract.
        unsafe { napi::error(env, &self.code, &self.message) }
    }
}

/// The per-env JS side: the env, an async resource and context for callback scopes.
pub struct Js {
    pub env: napi_env,
    resource: napi::napi_ref,
    ctx: napi::napi_async_context,
    /// Set by the env's cleanup hook: from then on nothing calls into JS.
    closing: Cell<bool>,
}

impl Js {
    /// # Safety
    ///
    /// `env` is the live env of the current (JS) thread, inside a handle scope.
    pub unsafe fn new(env: napi_env) -> Result<Js, Status> {
        // SAFETY: per the contract; each call writes its out-pointer on success.
        unsafe {
            let obj = out(|r| napi::napi_create_object(env, r))?;
            let resource = out(|r| napi::napi_create_reference(env, obj, 1, r))?;
            let name = napi::string(env, "uvio")?;
            let ctx = out(|r| napi::napi_async_init(env, obj, name, r))?;
            Ok(Js {
                env,
                resource,
                ctx,
                closing: Cell::new(false),
            })
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// The env is being torn down: release the async context and resource, and make every
    /// later call into JS a no-op.
    pub fn shut(&self) {
        if self.closing.replace(true) {
            return;
        }
        // SAFETY: called once, from the env's cleanup hook, while the env is still alive.
        unsafe {
            napi::napi_async_destroy(self.env, self.ctx);
            napi::napi_delete_reference(self.env, self.resource);
        }
    }

    /// Runs `f` inside a handle scope and a callback scope (unless the env is closing). A JS
    /// exception thrown inside becomes an uncaught exception, as in node's own callbacks.
    pub fn call(&self, f: impl FnOnce(napi_env) -> Result<(), Status>) {
        if self.closing.get() {
            return;
        }
        let env = self.env;
        // SAFETY: `env` is live (not closing) and we are on its thread (the loop's thread).
        let r = unsafe {
            Scope::open(env).and_then(|_scope| {
                let res = out(|r| napi::napi_get_reference_value(env, self.resource, r))?;
                let cs = out(|r| napi::napi_open_callback_scope(env, res, self.ctx, r))?;
                let r = f(env);
                // A JS exception thrown inside becomes an uncaught exception, as in node.
                let pending =
                    r.is_err() && out(|p| napi::napi_is_exception_pending(env, p)).unwrap_or(false);
                let exc = match pending {
                    true => out(|e| napi::napi_get_and_clear_last_exception(env, e)).ok(),
                    false => None,
                };
                if let Some(exc) = exc {
                    napi::napi_fatal_exception(env, exc);
                }
                napi::napi_close_callback_scope(env, cs);
                Ok(())
            })
        };
        if let Err(s) = r {
            eprintln!("uvio_addon: cannot call into JS (status {})", s.0);
        }
    }

    /// Calls the JS function `func` (kept through a reference) with `args`.
    pub fn call_function(&self, func: napi::napi_ref, args: &[Val]) {
        self.call(|env| {
            // SAFETY: inside the scopes opened by `call`; `func` is a live reference.
            unsafe {
                let f = out(|r| napi::napi_get_reference_value(env, func, r))?;
                let recv = out(|r| napi::napi_get_reference_value(env, self.resource, r))?;
                let argv = args
                    .iter()
                    .map(|a| a.to_js(env))
                    .collect::<Result<Vec<_>, _>>()?;
                out(|r| {
                    napi::napi_make_callback(env, self.ctx, recv, f, argv.len(), argv.as_ptr(), r)
                })?;
                Ok(())
            }
        });
    }
}

/// A promise's resolving end. Settling it calls into JS through [`Js::call`]. Dropped
/// unsettled (its task was cancelled, its handle closed), it rejects with `ECANCELED`.
pub struct Promise {
    js: Rc<Js>,
    deferred: napi::napi_deferred,
}

impl Promise {
    /// A new promise and its JS value.
    ///
    /// # Safety
    ///
    /// Called inside a JS call on `js.env`'s thread.
    pub unsafe fn new(js: &Rc<Js>) -> Result<(Promise, napi_value), Status> {
        let mut deferred = null_mut();
        // SAFETY: per the contract; both out-pointers are written on success.
        let promise = unsafe { out(|r| napi::napi_create_promise(js.env, &mut deferred, r))? };
        Ok((
            Promise {
                js: Rc::clone(js),
                deferred,
            },
            promise,
        ))
    }

    /// Resolves or rejects the promise.
    pub fn settle(mut self, r: Result<Val, JsError>) {
        let d = std::mem::replace(&mut self.deferred, null_mut());
        self.js.call(|env| {
            // SAFETY: inside the scopes opened by `call`; `d` is settled exactly once.
            unsafe {
                match &r {
                    Ok(v) => napi::ok(napi::napi_resolve_deferred(env, d, v.to_js(env)?)),
                    Err(e) => napi::ok(napi::napi_reject_deferred(env, d, e.to_js(env)?)),
                }
            }
        });
    }
}

impl Drop for Promise {
    fn drop(&mut self) {
        if !self.deferred.is_null() {
            let p = Promise {
                js: Rc::clone(&self.js),
                deferred: std::mem::replace(&mut self.deferred, null_mut()),
            };
            p.settle(Err(uvio::Error::ECANCELED.into()));
        }
    }
}
