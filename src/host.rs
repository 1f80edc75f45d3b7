//! What is different on a borrowed loop (`Loop::from_raw`): the host runs the loop and its
//! own code between uvio's callbacks. Timers count from now; panics go to a handler the
//! embedder sets (or wait for `Loop::take_panic`); and a hook the embedder sets runs around
//! uvio's callbacks, so the host can enter its own scope for them.
//!
//! **Timers count from now.** libuv caches the loop's time (`uv_now`) at the start of each
//! iteration and after each poll, and `uv_timer_start` counts from that cached time. On a
//! loop uvio owns, nothing but uvio's callbacks runs between updates, and libuv's rule is
//! kept as it is (C semantics; no clock read per timer start). On a borrowed loop the host
//! may have run JavaScript or Lua for any length of time since the last update, in this
//! iteration too (node's own timers run in the same timers phase as uvio's), so a timeout
//! counted from the cached time would fire early. [`from_now`] gives the timeout to pass
//! instead: it refreshes the cached time (`uv_update_time`, so the host's next poll timeout
//! is right too; not on libuv before 1.45, see `may_update_time`) and adds what the
//! millisecond loop clock is behind the monotonic clock (`uv_hrtime`, the clock of
//! `Instant`; libuv's loop clock truncates to milliseconds and may read the coarse clock, up
//! to a millisecond behind). A timer due at `uv_now() + timeout` then fires no sooner than
//! the delay after the call by `Instant`. The cost is two vDSO clock reads per timer start,
//! on borrowed loops only.
//!
//! **Panics.** A borrowed loop has no `run` to resume a panic from. A panic caught in a
//! callback (`panic::guard`, a `next_tick`, a detached task, the hook itself) goes to the
//! handler set with [`Loop::set_panic_handler`], called on the loop thread right away, inside
//! the callback's scope; without one it is queued for [`Loop::take_panic`], oldest first,
//! every one of them (before, only the first was kept and later ones were dropped). A
//! panic from the handler itself is queued.
//!
//! **The callback hook.** [`Loop::set_callback_hook`] installs a [`CallbackHook`]: `enter`
//! runs before the outermost uvio callback of a libuv callback, `exit` after it, after the
//! `next_tick` queue and the executor's checkpoint that follow it. So everything uvio runs
//! for that callback (the user's callback, ticks, task polls, promise resolutions) runs
//! inside the host's scope: node's `napi_open_callback_scope` (whose close runs
//! `process.nextTick` and promise jobs), or a Neovim module's deferral of API calls out of
//! a fast event. `panic::guard` enters [`hook_scope`] in the outermost guard of each libuv
//! callback and leaves it after the tick queue.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event_loop::{Loop, LoopInner};
use crate::ffi;

/// A panic payload.
type Payload = Box<dyn Any + Send>;

/// The handler of [`Loop::set_panic_handler`].
pub type PanicHandler = Box<dyn FnMut(Box<dyn Any + Send>)>;

/// The timeout to give `uv_timer_start` so that the timer fires no sooner than `delay` after
/// now by the monotonic clock: `delay` itself on an owned loop (libuv's rule), and on a
/// borrowed loop `delay` plus how far the refreshed loop clock is behind the monotonic clock
/// (see the module docs). A zero delay stays zero (due in the next timers phase).
pub(crate) fn from_now(lp: &LoopInner, delay: Duration) -> Duration {
    if lp.is_owned() || delay.is_zero() || lp.ensure_open().is_err() {
        return delay;
    }
    if may_update_time() {
        // SAFETY: the loop is initialised and open; this reads the clock into the loop.
        unsafe { ffi::uv_update_time(lp.raw()) };
    }
    // SAFETY: as above; both only read.
    let (loop_ms, now_ns) = unsafe { (ffi::uv_now(lp.raw()), ffi::uv_hrtime()) };
    let behind = now_ns.div_ceil(1_000_000).saturating_sub(loop_ms);
    delay.saturating_add(Duration::from_millis(behind))
}

/// Whether refreshing the loop's time from inside a callback is harmless: from libuv 1.45 on,
/// the timers phase runs the timers that were due when it began. Before (Debian's 1.44, the
/// libuv of Neovim 0.7 there) it runs timers while any is due by the *current* loop time, so
/// a refresh inside a timer callback could keep a short repeating timer running the phase
/// forever. There `from_now` leaves the cached time alone: its timeout, counted from the
/// stale time, is still never early, only the host's next poll may wait longer than needed.
fn may_update_time() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let yes = crate::version() >= (1, 45, 0);
            KNOWN.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
            yes
        }
    }
}

/// What an embedder runs around uvio's callbacks on a borrowed loop; see
/// [`Loop::set_callback_hook`].
///
/// `enter` and `exit` always come in pairs, on the loop thread, never nested. A panic in
/// either is caught and handled like a panic in a callback.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// /// Counts the callbacks uvio ran, and checks it is never entered twice.
/// #[derive(Default)]
/// struct Count {
///     inside: Cell<bool>,
///     runs: Cell<u32>,
/// }
///
/// impl uvio::CallbackHook for Count {
///     fn enter(&self) {
///         assert!(!self.inside.replace(true));
///     }
///     fn exit(&self) {
///         assert!(self.inside.replace(false));
///         self.runs.set(self.runs.get() + 1);
///     }
/// }
/// let hook = Count::default();
/// uvio::CallbackHook::enter(&hook);
/// uvio::CallbackHook::exit(&hook);
/// assert_eq!(hook.runs.get(), 1);
/// ```
pub trait CallbackHook {
    /// Called before uvio runs code for a libuv callback.
    fn enter(&self);
    /// Called after that code, the `next_tick` callbacks it queued and the tasks it woke.
    fn exit(&self);
}

/// What an embedder set on a borrowed loop (part of `LoopInner`).
#[derive(Default)]
pub(crate) struct HostState {
    /// Panics no handler took, oldest first, for `Loop::take_panic`.
    panics: RefCell<VecDeque<Payload>>,
    handler: Cell<Option<PanicHandler>>,
    /// Bumped by every `set_panic_handler`: a handler that replaced itself is not put back.
    handler_gen: Cell<u64>,
    /// True while the handler runs: a panic meanwhile is queued, not handed to it.
    in_handler: Cell<bool>,
    hook: RefCell<Option<Rc<dyn CallbackHook>>>,
    /// `hook.is_some()`, read by every outermost callback.
    hooked: Cell<bool>,
}

impl Drop for HostState {
    fn drop(&mut self) {
        for p in self.panics.get_mut().drain(..) {
            crate::panic::drop_payload(p);
        }
    }
}

/// A panic caught on a borrowed loop: to the handler, or queued for `take_panic`.
pub(crate) fn panicked(lp: &LoopInner, payload: Payload) {
    let st = &lp.host;
    if !st.in_handler.get() {
        if let Some(mut handler) = st.handler.take() {
            let generation = st.handler_gen.get();
            st.in_handler.set(true);
            let r = catch_unwind(AssertUnwindSafe(|| handler(payload)));
            st.in_handler.set(false);
            if st.handler_gen.get() == generation {
                st.handler.set(Some(handler));
            }
            if let Err(second) = r {
                st.panics.borrow_mut().push_back(second);
            }
            return;
        }
    }
    st.panics.borrow_mut().push_back(payload);
}

/// The oldest panic queued on a borrowed loop.
pub(crate) fn take_panic(lp: &LoopInner) -> Option<Payload> {
    lp.host.panics.borrow_mut().pop_front()
}

/// The hook's scope for one libuv callback: `enter` now (if `outer` and a hook is set),
/// `exit` when dropped.
pub(crate) struct HookScope<'a> {
    lp: &'a LoopInner,
    hook: Option<Rc<dyn CallbackHook>>,
}

/// Enters the hook's scope for the outermost guard of a libuv callback (`outer`); does
/// nothing otherwise, or when no hook is set (one load).
#[inline]
pub(crate) fn hook_scope(lp: &LoopInner, outer: bool) -> HookScope<'_> {
    let hook = if outer { hook_enter(lp) } else { None };
    HookScope { lp, hook }
}

/// Calls the hook's `enter` (if one is set) and returns it, for [`hook_exit`]: the parts of
/// [`hook_scope`] for a caller that keeps its own scope value.
#[inline]
pub(crate) fn hook_enter(lp: &LoopInner) -> Option<Rc<dyn CallbackHook>> {
    if !lp.host.hooked.get() {
        return None;
    }
    let hook = lp.host.hook.borrow().clone();
    if let Some(h) = &hook {
        call_hook(lp, || h.enter());
    }
    hook
}

/// Calls `exit` of the hook [`hook_enter`] returned (the hook entered is the one exited,
/// even if another was set meanwhile).
#[inline]
pub(crate) fn hook_exit(lp: &LoopInner, hook: Option<Rc<dyn CallbackHook>>) {
    if let Some(h) = hook {
        call_hook(lp, || h.exit());
    }
}

impl Drop for HookScope<'_> {
    #[inline]
    fn drop(&mut self) {
        hook_exit(self.lp, self.hook.take());
    }
}

fn call_hook(lp: &LoopInner, f: impl FnOnce()) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
        lp.store_panic(p);
    }
}

fn borrowed_only(lp: &Loop, op: &'static str) -> Result<()> {
    if lp.inner.is_owned() {
        Err(Error::EPERM.with_operation(op))
    } else {
        Ok(())
    }
}

impl Loop {
    /// Sets the handler of panics caught in callbacks on this borrowed loop (`None`: back to
    /// the default, which keeps them for [`Loop::take_panic`]).
    ///
    /// The handler is called on the loop thread with each payload as soon as the panic is
    /// caught, inside the callback's scope (see [`Loop::set_callback_hook`]). It may report
    /// the panic to the host, or re-raise it there by the host's own means. A panic in the
    /// handler itself is kept for `take_panic`.
    ///
    /// # Errors
    ///
    /// `EPERM` on a loop uvio owns: `run` and `block_on` resume its panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, mem::MaybeUninit, rc::Rc, time::Duration};
    /// use uvio::ffi;
    ///
    /// // The host's loop.
    /// let mut raw = Box::new(MaybeUninit::<ffi::uv_loop_t>::uninit());
    /// // SAFETY: writable memory for a uv_loop_t, which never moves.
    /// assert_eq!(unsafe { ffi::uv_loop_init(raw.as_mut_ptr()) }, 0);
    /// // SAFETY: the loop outlives `lp` and its handles (closed below), on this thread.
    /// let lp = unsafe { uvio::Loop::from_raw(raw.as_mut_ptr()) }?;
    ///
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// lp.set_panic_handler(Some(Box::new(move |p: Box<dyn std::any::Any + Send>| {
    ///     s.borrow_mut().push(*p.downcast::<&str>().unwrap());
    /// })))?;
    /// let t = uvio::Timer::new(&lp)?;
    /// t.start(Duration::ZERO, Duration::from_millis(1), |t| {
    ///     t.stop().unwrap();
    ///     panic!("reported to the host");
    /// })?;
    /// // SAFETY: the host runs its loop on this thread.
    /// unsafe { ffi::uv_run(raw.as_mut_ptr(), ffi::UV_RUN_DEFAULT) };
    /// assert_eq!(*seen.borrow(), ["reported to the host"]);
    /// assert!(lp.take_panic().is_none());
    ///
    /// drop((t, lp));
    /// // SAFETY: as above; uvio's handles are closed once this run is done.
    /// unsafe { ffi::uv_run(raw.as_mut_ptr(), ffi::UV_RUN_DEFAULT) };
    /// assert_eq!(unsafe { ffi::uv_loop_close(raw.as_mut_ptr()) }, 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_panic_handler(&self, handler: Option<PanicHandler>) -> Result<()> {
        borrowed_only(self, "Loop::set_panic_handler on a loop uvio owns")?;
        let st = &self.inner.host;
        st.handler_gen.set(st.handler_gen.get() + 1);
        if let Some(old) = st.handler.replace(handler) {
            // Dropping a handler (and what it captured) never unwinds into the caller.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(old)));
        }
        Ok(())
    }

    /// Sets the hook run around every libuv callback uvio handles on this borrowed loop
    /// (`None` removes it).
    ///
    /// For each libuv callback, `hook.enter()` runs before uvio's code and `hook.exit()`
    /// after it: after the user's callback, the [`next_tick`](crate::node::next_tick)
    /// callbacks it queued and the tasks it woke that uvio polls before returning to libuv.
    /// So a host can run all of that inside its own scope: node's
    /// `napi_open_callback_scope`/`napi_close_callback_scope` (the close runs
    /// `process.nextTick` callbacks and promise jobs), or a Neovim module's deferral of
    /// API calls out of a "fast" callback. A hook set or removed inside a callback takes
    /// effect from the next one (the scope entered is the one exited).
    ///
    /// # Errors
    ///
    /// `EPERM` on a loop uvio owns.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, mem::MaybeUninit, rc::Rc, time::Duration};
    /// use uvio::{CallbackHook, ffi};
    ///
    /// struct Log(RefCell<Vec<&'static str>>);
    /// impl CallbackHook for Log {
    ///     fn enter(&self) {
    ///         self.0.borrow_mut().push("enter");
    ///     }
    ///     fn exit(&self) {
    ///         self.0.borrow_mut().push("exit");
    ///     }
    /// }
    ///
    /// let mut raw = Box::new(MaybeUninit::<ffi::uv_loop_t>::uninit());
    /// // SAFETY: writable memory for a uv_loop_t, which never moves.
    /// assert_eq!(unsafe { ffi::uv_loop_init(raw.as_mut_ptr()) }, 0);
    /// // SAFETY: the loop outlives `lp` and its handles (closed below), on this thread.
    /// let lp = unsafe { uvio::Loop::from_raw(raw.as_mut_ptr()) }?;
    ///
    /// let log = Rc::new(Log(RefCell::new(Vec::new())));
    /// lp.set_callback_hook(Some(log.clone()))?;
    /// let t = uvio::Timer::new(&lp)?;
    /// let l = log.clone();
    /// t.start(Duration::from_millis(1), Duration::ZERO, move |_| {
    ///     let l2 = l.clone();
    ///     uvio::node::next_tick(move || l2.0.borrow_mut().push("tick"));
    ///     l.0.borrow_mut().push("callback");
    /// })?;
    /// // SAFETY: the host runs its loop on this thread.
    /// unsafe { ffi::uv_run(raw.as_mut_ptr(), ffi::UV_RUN_DEFAULT) };
    /// assert_eq!(*log.0.borrow(), ["enter", "callback", "tick", "exit"]);
    ///
    /// lp.set_callback_hook(None)?;
    /// drop((t, lp));
    /// // SAFETY: as above; uvio's handles are closed once this run is done.
    /// unsafe { ffi::uv_run(raw.as_mut_ptr(), ffi::UV_RUN_DEFAULT) };
    /// assert_eq!(unsafe { ffi::uv_loop_close(raw.as_mut_ptr()) }, 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_callback_hook(&self, hook: Option<Rc<dyn CallbackHook>>) -> Result<()> {
        borrowed_only(self, "Loop::set_callback_hook on a loop uvio owns")?;
        let st = &self.inner.host;
        st.hooked.set(hook.is_some());
        let old = st.hook.replace(hook);
        drop(old);
        Ok(())
    }
}

impl fmt::Debug for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let handler = self.handler.take();
        let has_handler = handler.is_some();
        self.handler.set(handler);
        f.debug_struct("HostState")
            .field("panic_handler", &has_handler)
            .field("queued_panics", &self.panics.borrow().len())
            .field("hook", &self.hooked.get())
            .finish()
    }
}
