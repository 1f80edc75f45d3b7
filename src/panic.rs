//! Panics never unwind through C: every `extern "C"` callback runs its Rust code inside
//! [`guard`], which catches a panic, parks the payload on the loop, stops an owned loop, and
//! lets `Loop::run`/`block_on` resume it once `uv_run` has returned.
//!
//! `guard` is also where the thread's "current loop" is set for the duration of a callback
//! (so `uvio::spawn_local` works inside any callback, on owned and borrowed loops alike) and
//! where [`crate::node::next_tick`] callbacks run: after the outermost callback returns,
//! before control goes back to libuv.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::event_loop::LoopInner;

thread_local! {
    /// The loop whose callback (or `run`) is executing on this thread, or null.
    static CURRENT: Cell<*const LoopInner> = const { Cell::new(std::ptr::null()) };
}

/// The loop currently running a callback on this thread.
pub(crate) fn current() -> *const LoopInner {
    CURRENT.with(Cell::get)
}

/// Makes `lp` the thread's current loop until the returned guard drops.
pub(crate) fn enter(lp: &LoopInner) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(lp));
    EnterGuard { prev }
}

pub(crate) struct EnterGuard {
    prev: *const LoopInner,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Runs `f` for a libuv callback on `lp`: catches a panic (stored on the loop), sets the
/// current loop, and, at the outermost level, runs queued `next_tick` callbacks.
///
/// Returns `None` when `f` panicked.
#[inline]
pub(crate) fn guard<R>(lp: &LoopInner, f: impl FnOnce() -> R) -> Option<R> {
    let outer = current().is_null() || !lp.in_callback.get();
    let was = lp.in_callback.replace(true);
    let _enter = enter(lp);
    let host = crate::host::hook_scope(lp, outer);
    let r = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            lp.store_panic(payload);
            None
        }
    };
    if outer {
        lp.run_next_ticks();
    }
    drop(host);
    lp.in_callback.set(was);
    r
}

/// Drops a panic payload without letting a panic from its own `Drop` escape.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(second) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        // A payload whose destructor panics: the second payload is leaked, never unwound.
        std::mem::forget(second);
    }
}
