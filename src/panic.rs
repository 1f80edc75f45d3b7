//! Panics never unwind through C: every `extern "C"` callback runs its Rust code inside
//! [`guard`], which catches a panic, parks the payload on the loop, stops an owned loop, and
//! lets `Loop::run`/`block_on` resume it once `uv_run` has returned.
//!
//! [`scope`], entered at the top of every trampoline, is where the thread's "current loop" is
//! set for the duration of a callback (so `uvio::spawn_local` works inside any callback, on
//! owned and borrowed loops alike) and where, once the outermost callback is done and before
//! control goes back to libuv, [`crate::node::next_tick`] callbacks run and woken tasks are
//! polled (the checkpoint).

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

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

/// The outermost part of a libuv callback on one loop: entered at the top of every
/// `extern "C"` trampoline, before anything else, and dropped as its last act.
///
/// Entering makes `lp` the thread's current loop and marks the loop as inside a callback.
/// Dropping the outermost scope runs the loop's *checkpoint* (`LoopInner::checkpoint`):
/// queued `next_tick` callbacks, then every task woken meanwhile, then ticks those queued,
/// and so on, within the executor's budget. So a task woken by a callback is polled before
/// control returns to libuv, in the same loop iteration, as Node drains its microtasks after
/// each callback. The checkpoint runs after the trampoline has finished with its handle or
/// request (a request box may already be freed): the scope holds its own reference to the
/// loop. A scope entered inside another one (the loop already in a callback) does nothing.
#[must_use = "the checkpoint runs when the scope is dropped"]
pub(crate) struct Scope {
    lp: Option<Rc<LoopInner>>,
    prev: *const LoopInner,
    /// The embedder's callback hook entered for this callback (borrowed loops only).
    hook: Option<Rc<dyn crate::host::CallbackHook>>,
}

/// Enters the callback scope of `lp` (see [`Scope`]).
#[inline]
pub(crate) fn scope(lp: &Rc<LoopInner>) -> Scope {
    if lp.in_callback.get() {
        return Scope {
            lp: None,
            prev: std::ptr::null(),
            hook: None,
        };
    }
    lp.in_callback.set(true);
    let prev = CURRENT.with(|c| c.replace(Rc::as_ptr(lp)));
    // The host's scope covers the callback and the checkpoint after it.
    let hook = crate::host::hook_enter(lp);
    Scope {
        lp: Some(Rc::clone(lp)),
        prev,
        hook,
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        if let Some(lp) = self.lp.take() {
            lp.checkpoint();
            // Out of uvio's callback before the host's hook exits: what the host runs there
            // (node drains its microtasks) is host code, and a task it spawns or wakes goes
            // to the idle handle, as from any code outside a callback; the checkpoint is
            // over and would not see it.
            lp.in_callback.set(false);
            crate::host::hook_exit(&lp, self.hook.take());
            CURRENT.with(|c| c.set(self.prev));
        }
    }
}

/// Runs `f` for a libuv callback on `lp` and catches a panic (stored on the loop).
///
/// Inside a [`Scope`] (every trampoline enters one first) this is only `catch_unwind`.
/// Outside one it acts as its own outermost scope: sets the current loop and runs the
/// checkpoint after `f`.
///
/// Returns `None` when `f` panicked.
#[inline]
pub(crate) fn guard<R>(lp: &LoopInner, f: impl FnOnce() -> R) -> Option<R> {
    if lp.in_callback.get() {
        return catch(lp, f);
    }
    lp.in_callback.set(true);
    let _enter = enter(lp);
    let host = crate::host::hook_scope(lp, true);
    let r = catch(lp, f);
    lp.checkpoint();
    // As in `Scope::drop`: the host's hook exits outside uvio's callback.
    lp.in_callback.set(false);
    drop(host);
    r
}

/// For libuv's allocation callbacks (`uv_alloc_cb`): catches a panic and nothing else. No
/// checkpoint may run between an allocation callback and the read callback that follows it:
/// the buffer lent to libuv must not be touched by a task in between.
#[inline]
pub(crate) fn guard_alloc<R>(lp: &LoopInner, f: impl FnOnce() -> R) -> Option<R> {
    catch(lp, f)
}

#[inline]
fn catch<R>(lp: &LoopInner, f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            lp.store_panic(payload);
            None
        }
    }
}

/// Drops a panic payload without letting a panic from its own `Drop` escape.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(second) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        // A payload whose destructor panics: the second payload is leaked, never unwound.
        std::mem::forget(second);
    }
}
