//! Unix signals (`uv_signal_t`): a callback or a stream for each delivery of a signal.
//!
//! libuv installs one process-wide handler per signal number while any handle watches it,
//! and restores the default action when the last one stops. Signal numbers are libc's
//! (`libc::SIGINT`, `libc::SIGUSR1`, ...).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, handle_methods};
use crate::timer::Listener;

type SignalCallback = dyn FnMut(&Signal, i32);

pub(crate) struct SignalState {
    listener: Cell<Listener<SignalCallback>>,
}

/// A signal watcher (`uv_signal_t`): calls back on the loop thread each time the process
/// receives its signal.
///
/// # Examples
///
/// ```
/// use uvio::{Loop, RunMode, Signal};
///
/// let lp = Loop::new()?;
/// let sig = Signal::new(&lp)?;
/// sig.start(libc::SIGUSR2, |s, signum| {
///     assert_eq!(signum, libc::SIGUSR2);
///     s.close().unwrap();
/// })?;
/// // SAFETY: raising a signal that a libuv handler now catches.
/// unsafe { libc::raise(libc::SIGUSR2) };
/// lp.run(RunMode::Default)?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct Signal {
    h: HandleRef<ffi::uv_signal_t, SignalState>,
}

handle_methods!(Signal, h);

unsafe extern "C" fn on_signal(raw: *mut ffi::uv_signal_t, signum: i32) {
    // SAFETY: libuv calls this only for live handles created by Signal::new; the view is
    // never dropped, so it neither closes nor frees.
    let h = unsafe { HandleRef::borrowed(raw) };
    let sig = std::mem::ManuallyDrop::new(Signal {
        h: std::mem::ManuallyDrop::into_inner(h),
    });
    let _scope = crate::panic::scope(sig.h.loop_inner());
    crate::panic::guard(sig.h.loop_inner(), || {
        // SAFETY: libuv calls handle callbacks only before the close callback.
        let st = unsafe { sig.h.state_unchecked() };
        Listener::fire(&st.listener, |cb| cb(&sig, signum));
    });
}

type StartFn = unsafe extern "C" fn(*mut ffi::uv_signal_t, ffi::uv_signal_cb, i32) -> i32;

impl Signal {
    /// Creates a signal watcher on `lp` (`uv_signal_init`). It watches nothing until started.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let sig = uvio::Signal::new(&lp)?;
    /// assert_eq!(sig.signum(), None); // watches nothing yet
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new(lp: &LoopHandle) -> Result<Signal> {
        let state = SignalState {
            listener: Cell::new(Listener::None),
        };
        // SAFETY: uv_signal_init initialises a uv_signal_t on the loop.
        let h = unsafe { HandleRef::new(lp, state, |l, h| ffi::uv_signal_init(l, h))? };
        Ok(Signal { h })
    }

    fn start_with(&self, start: StartFn, op: &'static str, signum: i32) -> Result<()> {
        self.h
            // SAFETY: the handle is open; on_signal matches this handle's type.
            .call(|h| unsafe { start(h, Some(on_signal), signum) })
            .map_err(|e| e.with_context(op, signum))?;
        Ok(())
    }

    /// Watches `signum`: `callback` runs for every delivery. Starting again replaces the
    /// signal and the callback.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an invalid signal number (or `SIGKILL`/`SIGSTOP`); `EBADF` when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = uvio::Loop::new()?;
    /// let sig = uvio::Signal::new(&lp)?;
    /// let seen = Rc::new(Cell::new(0));
    /// let n = seen.clone();
    /// sig.start(libc::SIGUSR1, move |s, signum| {
    ///     n.set(signum);
    ///     s.close().unwrap();
    /// })?;
    /// // SAFETY: raising a signal that a libuv handler now catches.
    /// unsafe { libc::raise(libc::SIGUSR1) };
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(seen.get(), libc::SIGUSR1);
    /// assert_eq!(sig.start(libc::SIGKILL, |_, _| {}).unwrap_err().name(), "EBADF"); // closed
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn start(&self, signum: i32, callback: impl FnMut(&Signal, i32) + 'static) -> Result<()> {
        let st = self.h.state()?;
        st.listener.set(Listener::Callback(Box::new(callback)));
        self.start_with(ffi::uv_signal_start, "Signal::start", signum)
    }

    /// Like [`start`](Signal::start), but for one delivery only: the watcher stops (and the
    /// process-wide handler is reset) as soon as the signal arrives
    /// (`uv_signal_start_oneshot`).
    ///
    /// # Errors
    ///
    /// As [`start`](Signal::start).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = uvio::Loop::new()?;
    /// let sig = uvio::Signal::new(&lp)?;
    /// let count = Rc::new(Cell::new(0));
    /// let c = count.clone();
    /// sig.start_oneshot(libc::SIGUSR2, move |_, _| c.set(c.get() + 1))?;
    /// // SAFETY: raising a signal that a libuv handler now catches.
    /// unsafe { libc::raise(libc::SIGUSR2) };
    /// lp.run(uvio::RunMode::Default)?; // returns: the watcher stopped itself
    /// assert_eq!(count.get(), 1);
    /// assert_eq!(sig.signum(), None);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn start_oneshot(
        &self,
        signum: i32,
        callback: impl FnMut(&Signal, i32) + 'static,
    ) -> Result<()> {
        let st = self.h.state()?;
        st.listener.set(Listener::Callback(Box::new(callback)));
        self.start_with(
            ffi::uv_signal_start_oneshot,
            "Signal::start_oneshot",
            signum,
        )
    }

    /// Stops watching (`uv_signal_stop`).
    ///
    /// # Errors
    ///
    /// `EBADF` when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let sig = uvio::Signal::new(&lp)?;
    /// sig.start(libc::SIGUSR1, |_, _| {})?;
    /// sig.stop()?;
    /// assert_eq!(sig.signum(), None);
    /// lp.run(uvio::RunMode::Default)?; // nothing keeps the loop alive
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stop(&self) -> Result<()> {
        // SAFETY: the handle is open.
        self.h.call(|h| unsafe { ffi::uv_signal_stop(h) })?;
        Ok(())
    }

    /// The signal being watched; `None` when stopped (also after a one-shot delivery) or
    /// closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let sig = uvio::Signal::new(&lp)?;
    /// sig.start(libc::SIGWINCH, |_, _| {})?;
    /// assert_eq!(sig.signum(), Some(libc::SIGWINCH));
    /// sig.stop()?;
    /// assert_eq!(sig.signum(), None);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn signum(&self) -> Option<i32> {
        // SAFETY: the handle is open; `signum` is a plain field libuv keeps current.
        let n = self.h.with_raw(|h| unsafe { (*h).signum }).unwrap_or(0);
        (n != 0).then_some(n)
    }

    /// Starts watching `signum` for a future or stream: deliveries are counted until polled.
    fn listen(&self, signum: i32, oneshot: bool) -> Result<()> {
        let st = self.h.state()?;
        st.listener.set(Listener::Waiter {
            pending: 0,
            waker: None,
        });
        if oneshot {
            self.start_with(ffi::uv_signal_start_oneshot, "signal", signum)
        } else {
            self.start_with(ffi::uv_signal_start, "signal", signum)
        }
    }

    /// True once a delivery is pending (consuming it); stores the waker otherwise.
    fn poll_delivery(&self, cx: &mut Context<'_>) -> Result<bool> {
        let st = self.h.state()?;
        Ok(Listener::poll_fired(&st.listener, cx.waker()))
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_closing() {
            return f.debug_struct("Signal").field("closed", &true).finish();
        }
        f.debug_struct("Signal")
            .field("signum", &self.signum())
            .field("active", &self.is_active())
            .finish()
    }
}

/// A stream of deliveries of one signal; each item is the signal number.
///
/// The watcher is installed when the stream is created, so a signal that arrives before the
/// first poll is not lost. Deliveries are counted, not coalesced by the stream (libuv may
/// coalesce signals that arrive together). Dropping the stream stops watching.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let lp = uvio::Loop::new()?;
/// let mut usr1 = uvio::signal::Signals::new(&lp, libc::SIGUSR1)?;
/// // SAFETY: raising a signal that a libuv handler now catches.
/// unsafe { libc::raise(libc::SIGUSR1) };
/// let got = lp.block_on(usr1.next())?;
/// assert_eq!(got, Some(libc::SIGUSR1));
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Signals {
    sig: Signal,
}

impl Signals {
    /// Watches `signum` on `lp`.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an invalid signal number; `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let usr2 = uvio::signal::Signals::new(&lp, libc::SIGUSR2)?;
    /// assert_eq!(usr2.watcher().signum(), Some(libc::SIGUSR2));
    /// assert_eq!(uvio::signal::Signals::new(&lp, -1).unwrap_err().name(), "EINVAL");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new(lp: &LoopHandle, signum: i32) -> Result<Signals> {
        let sig = Signal::new(lp)?;
        sig.listen(signum, false)?;
        Ok(Signals { sig })
    }

    /// Waits for the next delivery; `None` once the watcher is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let mut usr1 = uvio::signal::Signals::new(&lp, libc::SIGUSR1)?;
    /// // SAFETY: raising a signal that a libuv handler now catches.
    /// unsafe { libc::raise(libc::SIGUSR1) };
    /// assert_eq!(lp.block_on(usr1.recv())?, Some(libc::SIGUSR1));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub async fn recv(&mut self) -> Option<i32> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The underlying watcher (to `unref` it, for instance).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let hup = uvio::signal::Signals::new(&lp, libc::SIGHUP)?;
    /// hup.watcher().unref(); // does not keep the loop alive by itself
    /// assert!(hup.watcher().is_active());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn watcher(&self) -> &Signal {
        &self.sig
    }
}

impl Stream for Signals {
    type Item = i32;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<i32>> {
        let Some(signum) = self.sig.signum() else {
            return Poll::Ready(None);
        };
        match self.sig.poll_delivery(cx) {
            Ok(true) => Poll::Ready(Some(signum)),
            Ok(false) => Poll::Pending,
            Err(_) => Poll::Ready(None),
        }
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("watcher", &self.sig)
            .finish()
    }
}

/// Watches `signum` on the loop running on this thread; see [`Signals`].
///
/// # Errors
///
/// `EINVAL` for an invalid signal number.
///
/// # Panics
///
/// When called outside a uvio loop (use [`Signals::new`] to give a loop).
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let got = lp.block_on(async {
///     let mut usr2 = uvio::signal::signal(libc::SIGUSR2)?;
///     // SAFETY: raising a signal that a libuv handler now catches.
///     unsafe { libc::raise(libc::SIGUSR2) };
///     Ok::<_, uvio::Error>(usr2.recv().await)
/// })??;
/// assert_eq!(got, Some(libc::SIGUSR2));
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn signal(signum: i32) -> Result<Signals> {
    let lp = LoopHandle::current_or_panic("uvio::signal::signal");
    Signals::new(&lp, signum)
}

/// Resolves at the next `SIGINT` (Ctrl-C).
///
/// The watcher is installed when the future is first polled (on the loop polling it) and
/// removed when the future is dropped, which restores the default action (terminate) if no
/// other watcher remains.
///
/// # Errors
///
/// `EBADF` when the loop closes the watcher first.
///
/// # Panics
///
/// When first polled outside a uvio loop.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// lp.block_on(async {
///     let mut ctrl_c = std::pin::pin!(uvio::signal::ctrl_c());
///     // Install the watcher, then deliver the signal to ourselves.
///     assert!(futures::poll!(ctrl_c.as_mut()).is_pending());
///     // SAFETY: SIGINT is caught by the watcher installed above.
///     unsafe { libc::raise(libc::SIGINT) };
///     ctrl_c.await
/// })??;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn ctrl_c() -> CtrlC {
    CtrlC { sig: None }
}

/// The future of [`ctrl_c`].
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// lp.block_on(async {
///     let fut: uvio::signal::CtrlC = uvio::signal::ctrl_c();
///     let mut fut = std::pin::pin!(fut);
///     assert!(futures::poll!(fut.as_mut()).is_pending()); // installs the watcher
///     // SAFETY: SIGINT is caught by the watcher installed above.
///     unsafe { libc::raise(libc::SIGINT) };
///     fut.await
/// })??;
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct CtrlC {
    sig: Option<Signals>,
}

impl Future for CtrlC {
    type Output = Result<()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.sig.is_none() {
            let lp = LoopHandle::current_or_panic("uvio::signal::ctrl_c");
            match Signals::new(&lp, libc::SIGINT) {
                Ok(s) => self.sig = Some(s),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let sig = self.sig.as_mut().expect("set above");
        match Pin::new(sig).poll_next(cx) {
            Poll::Ready(Some(_)) => Poll::Ready(Ok(())),
            Poll::Ready(None) => Poll::Ready(Err(Error::EBADF.with_operation("ctrl_c"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrlC")
            .field("installed", &self.sig.is_some())
            .finish()
    }
}
