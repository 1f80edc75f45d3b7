//! The per-iteration watchers: [`Idle`] (`uv_idle_t`), [`Prepare`] (`uv_prepare_t`) and
//! [`Check`] (`uv_check_t`).
//!
//! The three have the same API in libuv and differ only in *when* their callback runs within
//! a loop iteration (libuv's order: timers, pending callbacks, **idle**, **prepare**, poll for
//! I/O, **check**, close callbacks). One generic implementation serves all three: a small
//! sealed trait names the libuv functions, and the `watcher!` macro generates the thin public
//! types with their documentation.

use std::cell::Cell;
use std::fmt;
use std::future::poll_fn;
use std::mem::ManuallyDrop;
use std::task::Poll;

use crate::error::Result;
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, handle_methods};
use crate::timer::Listener;

/// The state in every watcher's box: the callback, or a future's waiter.
pub(crate) struct WatcherState<W: 'static> {
    listener: Cell<Listener<Callback<W>>>,
}

type Callback<W> = dyn FnMut(&W);

impl<W: 'static> Drop for WatcherState<W> {
    fn drop(&mut self) {
        // Dropped in the close callback: a waiting `tick` wakes up and sees `EBADF`.
        wake_waiter(&self.listener);
    }
}

/// Wakes a future waiting on `slot`, if any (used when a handle's state is dropped on close,
/// so a pending future learns that the handle is gone instead of hanging).
pub(crate) fn wake_waiter<F: ?Sized>(slot: &Cell<Listener<F>>) {
    if let Listener::Waiter { waker: Some(w), .. } = slot.take() {
        w.wake();
    }
}

/// What distinguishes the three watcher types: their libuv struct and functions.
pub(crate) trait Kind: Sized + 'static {
    /// `uv_idle_t`, `uv_prepare_t` or `uv_check_t`.
    type Raw;

    /// `uv_*_init`.
    ///
    /// # Safety
    ///
    /// `l` is an initialised loop; `h` points to zeroed memory for `Raw` that stays put.
    unsafe fn init(l: *mut ffi::uv_loop_t, h: *mut Self::Raw) -> i32;

    /// `uv_*_start`.
    ///
    /// # Safety
    ///
    /// `h` is an initialised, open handle of this kind.
    unsafe fn start(h: *mut Self::Raw, cb: Option<unsafe extern "C" fn(*mut Self::Raw)>) -> i32;

    /// `uv_*_stop`.
    ///
    /// # Safety
    ///
    /// `h` is an initialised, open handle of this kind.
    unsafe fn stop(h: *mut Self::Raw) -> i32;

    /// Wraps a handle box into the public type.
    fn wrap(h: HandleRef<Self::Raw, WatcherState<Self>>) -> Self;

    /// The public type's handle box.
    fn href(&self) -> &HandleRef<Self::Raw, WatcherState<Self>>;
}

/// The one trampoline of all three watcher types.
unsafe extern "C" fn on_fire<W: Kind>(raw: *mut W::Raw) {
    // SAFETY: libuv calls this only for live handles created by `new_watcher::<W>`; the view
    // is never dropped (ManuallyDrop), so it neither closes nor frees anything.
    let view = unsafe { HandleRef::borrowed(raw) };
    let w = ManuallyDrop::new(W::wrap(ManuallyDrop::into_inner(view)));
    let _scope = crate::panic::scope(w.href().loop_inner());
    crate::panic::guard(w.href().loop_inner(), || {
        // SAFETY: libuv calls a watcher's callback only before its close callback.
        let st = unsafe { w.href().state_unchecked() };
        Listener::fire(&st.listener, |cb| cb(&w));
    });
}

fn new_watcher<W: Kind>(lp: &LoopHandle) -> Result<W> {
    let state = WatcherState {
        listener: Cell::new(Listener::None),
    };
    // SAFETY: `W::init` is the uv_*_init of `W::Raw`, a handle struct.
    let h = unsafe { HandleRef::new(lp, state, |l, h| W::init(l, h))? };
    Ok(W::wrap(h))
}

/// Starts (or keeps running) the watcher with whatever listener is installed.
fn start_raw<W: Kind>(w: &W) -> Result<()> {
    let cb: unsafe extern "C" fn(*mut W::Raw) = on_fire::<W>;
    // SAFETY: the handle is initialised and open; `cb` matches its type.
    w.href().call(|h| unsafe { W::start(h, Some(cb)) })?;
    Ok(())
}

fn start<W: Kind>(w: &W, callback: Box<dyn FnMut(&W)>) -> Result<()> {
    w.href().state()?.listener.set(Listener::Callback(callback));
    start_raw(w)
}

fn stop<W: Kind>(w: &W) -> Result<()> {
    // SAFETY: the handle is initialised and open.
    w.href().call(|h| unsafe { W::stop(h) })?;
    Ok(())
}

/// Waits for one firing with a waiter listener; stops the watcher when done or dropped.
async fn tick<W: Kind>(w: &W) -> Result<()> {
    w.href().state()?.listener.set(Listener::Waiter {
        pending: 0,
        waker: None,
    });
    start_raw(w)?;
    struct StopOnDrop<'a, W: Kind>(&'a W);
    impl<W: Kind> Drop for StopOnDrop<'_, W> {
        fn drop(&mut self) {
            let _ = stop(self.0);
        }
    }
    let _stop = StopOnDrop(w);
    poll_fn(|cx| match w.href().state() {
        Err(e) => Poll::Ready(Err(e)),
        Ok(st) if Listener::poll_fired(&st.listener, cx.waker()) => Poll::Ready(Ok(())),
        Ok(_) => Poll::Pending,
    })
    .await
}

fn debug<W: Kind>(w: &W, name: &str, active: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut d = f.debug_struct(name);
    if w.href().is_closing() {
        d.field("closed", &true);
    } else {
        d.field("active", &active);
    }
    d.finish()
}

/// Generates one public watcher type over the generic implementation above.
macro_rules! watcher {
    (
        $(#[$doc:meta])*
        $name:ident, $raw:ident, $init:ident, $start:ident, $stop:ident, $when:literal
    ) => {
        $(#[$doc])*
        pub struct $name {
            h: HandleRef<ffi::$raw, WatcherState<$name>>,
        }

        handle_methods!($name, h);

        impl Kind for $name {
            type Raw = ffi::$raw;
            unsafe fn init(l: *mut ffi::uv_loop_t, h: *mut ffi::$raw) -> i32 {
                // SAFETY: forwarded from the caller's contract.
                unsafe { ffi::$init(l, h) }
            }
            unsafe fn start(
                h: *mut ffi::$raw,
                cb: Option<unsafe extern "C" fn(*mut ffi::$raw)>,
            ) -> i32 {
                // SAFETY: forwarded from the caller's contract.
                unsafe { ffi::$start(h, cb) }
            }
            unsafe fn stop(h: *mut ffi::$raw) -> i32 {
                // SAFETY: forwarded from the caller's contract.
                unsafe { ffi::$stop(h) }
            }
            fn wrap(h: HandleRef<ffi::$raw, WatcherState<$name>>) -> Self {
                $name { h }
            }
            fn href(&self) -> &HandleRef<ffi::$raw, WatcherState<$name>> {
                &self.h
            }
        }

        impl $name {
            #[doc = concat!("Creates a stopped `", stringify!($name), "` on `lp` (`",
                stringify!($init), "`).")]
            ///
            /// # Errors
            ///
            /// `EBADF` when the loop is closed.
            ///
            /// # Examples
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            #[doc = concat!("let w = uvio::", stringify!($name), "::new(&lp)?;")]
            /// assert!(!w.is_active());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn new(lp: &LoopHandle) -> Result<$name> {
                new_watcher(lp)
            }

            #[doc = concat!("Starts the watcher (`", stringify!($start), "`): `callback` runs ",
                $when, " until [`", stringify!($name), "::stop`].")]
            ///
            /// Starting a running watcher replaces its callback. The callback gets a borrow of
            /// the watcher, so it can stop or close it.
            ///
            /// # Errors
            ///
            /// `EBADF` when the watcher is closed.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::{cell::Cell, rc::Rc};
            ///
            /// let lp = uvio::Loop::new()?;
            #[doc = concat!("let w = uvio::", stringify!($name), "::new(&lp)?;")]
            /// let runs = Rc::new(Cell::new(0));
            /// let r2 = runs.clone();
            /// w.start(move |_| r2.set(r2.get() + 1))?;
            /// // One loop iteration that does not block runs the callback once.
            /// lp.run(uvio::RunMode::NoWait)?;
            /// assert_eq!(runs.get(), 1);
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn start(&self, callback: impl FnMut(&$name) + 'static) -> Result<()> {
                start(self, Box::new(callback))
            }

            #[doc = concat!("Stops the watcher (`", stringify!($stop), "`). Stopping a stopped ",
                "watcher does nothing.")]
            ///
            /// # Errors
            ///
            /// `EBADF` when the watcher is closed.
            ///
            /// # Examples
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            #[doc = concat!("let w = uvio::", stringify!($name), "::new(&lp)?;")]
            /// w.start(|_| {})?;
            /// assert!(w.is_active());
            /// w.stop()?;
            /// assert!(!w.is_active());
            /// lp.run(uvio::RunMode::Default)?; // nothing active: returns at once
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn stop(&self) -> Result<()> {
                stop(self)
            }

            #[doc = concat!("Waits for the next time the watcher fires (", $when, "). ")]
            ///
            /// The future replaces the callback, starts the watcher, and stops it again when it
            /// completes or is dropped. One waiter at a time.
            ///
            /// # Errors
            ///
            /// `EBADF` when the watcher is closed.
            ///
            /// # Examples
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            #[doc = concat!("let w = uvio::", stringify!($name), "::new(&lp)?;")]
            /// // An active `Idle` keeps the loop from blocking in its poll for I/O.
            /// let spin = uvio::Idle::new(&lp)?;
            /// spin.start(|_| {})?;
            /// lp.block_on(async {
            ///     w.tick().await?;
            ///     w.tick().await
            /// })??;
            /// assert!(!w.is_active()); // stopped again once the future completed
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub async fn tick(&self) -> Result<()> {
                tick(self).await
            }

            /// Restarts with the installed callback (for uvio's own uses).
            #[allow(dead_code)]
            pub(crate) fn resume(&self) -> Result<()> {
                start_raw(self)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                debug(self, stringify!($name), self.is_active(), f)
            }
        }
    };
}

watcher! {
    /// Runs a callback once per loop iteration, before the loop polls for I/O, and while it is
    /// active the loop polls with a zero timeout: it never blocks (`uv_idle_t`).
    ///
    /// Use it for low-priority work that should go on while nothing else happens; stop it
    /// when done, or the loop spins.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use uvio::{Idle, Loop, RunMode};
    ///
    /// let lp = Loop::new()?;
    /// let idle = Idle::new(&lp)?;
    /// let n = Rc::new(Cell::new(0));
    /// let seen = n.clone();
    /// idle.start(move |idle| {
    ///     seen.set(seen.get() + 1);
    ///     if seen.get() == 10 {
    ///         idle.stop().unwrap();
    ///     }
    /// })?;
    /// lp.run(RunMode::Default)?;
    /// assert_eq!(n.get(), 10);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    ///
    /// An `Idle` stays on its loop's thread:
    ///
    /// ```compile_fail
    /// let lp = uvio::Loop::new().unwrap();
    /// let idle = uvio::Idle::new(&lp).unwrap();
    /// std::thread::spawn(move || drop(idle));
    /// ```
    Idle, uv_idle_t, uv_idle_init, uv_idle_start, uv_idle_stop,
    "once per loop iteration, before prepare watchers"
}

watcher! {
    /// Runs a callback once per loop iteration, right before the loop polls for I/O
    /// (`uv_prepare_t`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// use uvio::{Loop, Prepare, RunMode, Timer};
    ///
    /// let lp = Loop::new()?;
    /// let prepare = Prepare::new(&lp)?;
    /// let polls = Rc::new(Cell::new(0));
    /// let seen = polls.clone();
    /// prepare.start(move |_| seen.set(seen.get() + 1))?;
    /// prepare.unref(); // the watcher alone should not keep the loop running
    /// let t = Timer::new(&lp)?;
    /// t.start(Duration::from_millis(1), Duration::ZERO, |_| {})?;
    /// lp.run(RunMode::Default)?;
    /// assert!(polls.get() >= 1);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    Prepare, uv_prepare_t, uv_prepare_init, uv_prepare_start, uv_prepare_stop,
    "once per loop iteration, right before the loop polls for I/O"
}

watcher! {
    /// Runs a callback once per loop iteration, right after the loop has polled for I/O
    /// (`uv_check_t`). This is the phase where Node runs `setImmediate` callbacks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc, time::Duration};
    /// use uvio::{Check, Loop, Prepare, RunMode, Timer};
    ///
    /// let lp = Loop::new()?;
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let (prepare, check) = (Prepare::new(&lp)?, Check::new(&lp)?);
    /// let l = log.clone();
    /// prepare.start(move |p| {
    ///     l.borrow_mut().push("prepare");
    ///     p.stop().unwrap();
    /// })?;
    /// let l = log.clone();
    /// check.start(move |c| {
    ///     l.borrow_mut().push("check");
    ///     c.stop().unwrap();
    /// })?;
    /// // Something must end each poll: a check handle alone keeps the loop alive without
    /// // ever waking it. A repeating timer does, until the check has run.
    /// let t = Timer::new(&lp)?;
    /// let l = log.clone();
    /// t.start(Duration::from_millis(1), Duration::from_millis(1), move |t| {
    ///     if l.borrow().contains(&"check") {
    ///         t.stop().unwrap();
    ///     }
    /// })?;
    /// lp.run(RunMode::Default)?;
    /// assert_eq!(*log.borrow(), ["prepare", "check"]);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    Check, uv_check_t, uv_check_init, uv_check_start, uv_check_stop,
    "once per loop iteration, right after the loop has polled for I/O"
}
