//! Descriptor readiness (`uv_poll_t`): watch a file descriptor libuv does not otherwise
//! manage (a socket of a C library, a pipe, an eventfd) for readability, writability and
//! disconnection, with a callback, a future or a `Stream`. Named `FdPoll` so it does not
//! clash with `std::task::Poll`.
//!
//! **Who owns the descriptor.** [`FdPoll::new`] takes the descriptor's owner
//! (`impl AsFd + 'static`: an `OwnedFd`, a `UnixStream`, an `Rc<UnixStream>` you keep a
//! clone of, or `std::io::stdin()`) and drops it only in libuv's close callback. libuv's
//! rule "do not close a descriptor while it is polled" is thereby kept by construction:
//! closing it under an active poll is not memory-unsafe, but libuv may then watch whatever
//! file reuses the number or abort the process when it re-arms a closed descriptor in
//! epoll. A bare `RawFd` is not accepted; code that only has a number can lend it with the
//! `unsafe` `BorrowedFd::borrow_raw` (promising it stays open for good), which is where the
//! promise belongs. This mirrors tokio's `AsyncFd`, which also owns its source.
//!
//! libuv sets the descriptor to non-blocking mode (shared with every duplicate of it), and
//! readiness is level-triggered and may be spurious: read or write until `WouldBlock`.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, handle_methods};
use crate::timer::Listener;

flag_set! {
    /// Readiness events of an [`FdPoll`]: what to watch, and what was seen.
    ///
    /// ```
    /// use uvio::PollEvents;
    /// let both = PollEvents::READABLE | PollEvents::WRITABLE;
    /// assert!(both.contains(PollEvents::READABLE));
    /// assert_eq!(format!("{both:?}"), "{READABLE, WRITABLE}");
    /// ```
    PollEvents {
        /// The descriptor can be read without blocking (or is at end of file).
        READABLE = ffi::UV_READABLE,
        /// The descriptor can be written without blocking.
        WRITABLE = ffi::UV_WRITABLE,
        /// The peer closed its side (`EPOLLRDHUP`); optional, may not be reported.
        DISCONNECT = ffi::UV_DISCONNECT,
        /// Urgent data: TCP out-of-band data or a sysfs notification (`POLLPRI`).
        PRIORITIZED = ffi::UV_PRIORITIZED,
    }
}

const ALL: i32 = PollEvents::READABLE.bits()
    | PollEvents::WRITABLE.bits()
    | PollEvents::DISCONNECT.bits()
    | PollEvents::PRIORITIZED.bits();

type PollCallback = dyn FnMut(&FdPoll, Result<PollEvents>);

/// Where events go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Not started, or stopped.
    Stopped,
    /// To the callback given to `start`.
    Callback,
    /// To the `Stream`: merged while unconsumed; polling pauses if the stream lags.
    Stream,
    /// To one `ready` future: the first event stops polling.
    Once,
}

pub(crate) struct PollState {
    fd: RawFd,
    /// Keeps the descriptor open; dropped with the state, in the close callback.
    _source: Box<dyn AsFd>,
    listener: Cell<Listener<PollCallback>>,
    mode: Cell<Mode>,
    interest: Cell<PollEvents>,
    /// Events not yet taken by the future or stream (or the error that stopped polling).
    ready: Cell<Option<Result<PollEvents>>>,
    waker: Cell<Option<Waker>>,
}

impl PollState {
    fn wake(&self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl Drop for PollState {
    /// The handle closed: a waiting future or stream wakes and sees `EBADF` / the end.
    fn drop(&mut self) {
        self.wake();
    }
}

/// A readiness watcher for a file descriptor (`uv_poll_t`).
///
/// Start it with a callback ([`start`](FdPoll::start)), await one event
/// ([`ready`](FdPoll::ready)), or create it watching ([`FdPoll::watch`]) and use it as a
/// `Stream`. It owns what [`new`](FdPoll::new) was given (see the module docs for why):
/// keep an `Rc` clone to read and write. Two polls of one descriptor on one loop are refused
/// with `EEXIST` when the second starts (or is created while the first is active).
///
/// # Examples
///
/// ```
/// use std::{io::{Read, Write}, os::unix::net::UnixStream, rc::Rc};
/// use uvio::{FdPoll, Loop, PollEvents, RunMode};
///
/// let lp = Loop::new()?;
/// let (a, mut b) = UnixStream::pair()?;
/// let a = Rc::new(a);
/// let poll = FdPoll::new(&lp, a.clone())?;
/// poll.start(PollEvents::READABLE, move |poll, ev| {
///     assert!(ev.unwrap().contains(PollEvents::READABLE));
///     let mut buf = [0u8; 8];
///     assert_eq!((&*a).read(&mut buf).unwrap(), 2);
///     poll.close().unwrap();
/// })?;
/// b.write_all(b"hi")?;
/// lp.run(RunMode::Default)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// As a future:
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use uvio::{FdPoll, Loop, PollEvents};
///
/// let lp = Loop::new()?;
/// let (a, _b) = UnixStream::pair()?;
/// let mut poll = FdPoll::new(&lp, a)?;
/// let ev = lp.block_on(poll.ready(PollEvents::WRITABLE))??;
/// assert_eq!(ev, PollEvents::WRITABLE);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FdPoll {
    h: HandleRef<ffi::uv_poll_t, PollState>,
}

handle_methods!(FdPoll, h);

unsafe extern "C" fn on_poll(raw: *mut ffi::uv_poll_t, status: i32, events: i32) {
    // SAFETY: libuv calls this only for live polls created by `FdPoll::new`; the view is
    // never dropped, so it neither closes nor frees.
    let h = unsafe { HandleRef::borrowed(raw) };
    let poll = std::mem::ManuallyDrop::new(FdPoll {
        h: std::mem::ManuallyDrop::into_inner(h),
    });
    let _scope = crate::panic::scope(poll.h.loop_inner());
    crate::panic::guard(poll.h.loop_inner(), || {
        // SAFETY: libuv calls poll callbacks only before the close callback.
        let st = unsafe { poll.h.state_unchecked() };
        let ev = if status < 0 {
            Err(Error::from_code(status).with_context("poll", st.fd))
        } else {
            Ok(PollEvents(events & ALL))
        };
        match st.mode.get() {
            Mode::Callback => {
                if ev.is_err() {
                    // libuv stopped polling; the callback may start it again.
                    st.mode.set(Mode::Stopped);
                }
                Listener::fire(&st.listener, |cb| cb(&poll, ev))
            }
            Mode::Stream | Mode::Once => {
                let prev = st.ready.take();
                let lagging = prev.is_some();
                st.ready.set(Some(match (prev, ev) {
                    (Some(Ok(a)), Ok(b)) => Ok(a | b),
                    (Some(Err(e)), _) => Err(e),
                    (_, ev) => ev,
                }));
                // Level-triggered readiness repeats every iteration: pause until the
                // consumer takes what it has, so an unpolled stream does not spin the loop.
                if lagging || st.mode.get() == Mode::Once {
                    poll.pause();
                }
                st.wake();
            }
            Mode::Stopped => {}
        }
    });
}

impl FdPoll {
    /// Creates a poll for the descriptor of `source` on `lp` (`uv_poll_init`), taking
    /// ownership of `source` until the handle is closed. Sets the descriptor non-blocking.
    ///
    /// # Errors
    ///
    /// `EPERM` for a descriptor epoll cannot watch (a regular file or directory), `EBADF`
    /// for one that cannot be polled at all (an `O_PATH` descriptor), `EEXIST` when an
    /// active poll on this loop already watches it, `EBADF` when the loop is closed. On an
    /// error `source` is dropped.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// let poll = uvio::FdPoll::new(&lp, a)?; // owns `a` from now on
    /// // A regular file is always "ready": epoll refuses it.
    /// let f = std::fs::File::open("Cargo.toml")?;
    /// assert_eq!(uvio::FdPoll::new(&lp, f).unwrap_err().name(), "EPERM");
    /// # drop(poll);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(lp: &LoopHandle, source: impl AsFd + 'static) -> Result<FdPoll> {
        let fd = source.as_fd().as_raw_fd();
        let state = PollState {
            fd,
            _source: Box::new(source),
            listener: Cell::new(Listener::None),
            mode: Cell::new(Mode::Stopped),
            interest: Cell::new(PollEvents::empty()),
            ready: Cell::new(None),
            waker: Cell::new(None),
        };
        // SAFETY: uv_poll_init initialises a uv_poll_t on the loop; the descriptor is open
        // (its owner is in the state) and stays open until the close callback.
        let h = unsafe { HandleRef::new(lp, state, |l, h| ffi::uv_poll_init(l, h, fd)) }
            .map_err(|e| e.with_context("poll_init", fd))?;
        Ok(FdPoll { h })
    }

    /// Creates a poll already watching `events`, for use as a `Stream` of readiness events.
    /// The stream ends after an error item (libuv stops polling then) or [`stop`](Self::stop).
    ///
    /// # Errors
    ///
    /// As [`new`](FdPoll::new) and [`start`](FdPoll::start).
    ///
    /// ```
    /// use futures::StreamExt;
    /// use std::{io::Write, os::unix::net::UnixStream};
    /// use uvio::{FdPoll, Loop, PollEvents};
    ///
    /// let lp = Loop::new()?;
    /// let (a, mut b) = UnixStream::pair()?;
    /// let mut events = FdPoll::watch(&lp, a, PollEvents::READABLE)?;
    /// b.write_all(b"x")?;
    /// let ev = lp.block_on(events.next())?.unwrap()?;
    /// assert!(ev.contains(PollEvents::READABLE));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch(
        lp: &LoopHandle,
        source: impl AsFd + 'static,
        events: PollEvents,
    ) -> Result<FdPoll> {
        let p = FdPoll::new(lp, source)?;
        p.arm(Mode::Stream, events)?;
        Ok(p)
    }

    /// Installs `mode` and starts polling for `events` (`uv_poll_start`; on an active poll
    /// it changes the mask). A pending future or stream is woken to see the change.
    fn arm(&self, mode: Mode, events: PollEvents) -> Result<()> {
        let st = self.h.state()?;
        st.mode.set(mode);
        st.interest.set(events);
        st.ready.set(None);
        st.wake();
        self.resume(st)
    }

    /// Starts libuv polling with the current interest.
    fn resume(&self, st: &PollState) -> Result<()> {
        let bits = st.interest.get().bits() & ALL;
        self.h
            // SAFETY: the handle is open (checked by `call`); the mask has only libuv's
            // four bits; on_poll matches this handle's type.
            .call(|h| unsafe { ffi::uv_poll_start(h, bits, Some(on_poll)) })
            .map_err(|e| {
                st.mode.set(Mode::Stopped);
                e.with_context("poll_start", st.fd)
            })?;
        Ok(())
    }

    /// Stops libuv polling, keeping the mode.
    fn pause(&self) {
        // SAFETY: the handle is open (checked by `call`); uv_poll_stop always succeeds.
        let _ = self.h.call(|h| unsafe { ffi::uv_poll_stop(h) });
    }

    /// Watches for `events`; `callback` runs on each readiness (level-triggered: again every
    /// loop iteration while the condition holds) or with the error that stopped polling
    /// (`EBADF` for an error condition on the descriptor, such as a pipe whose reader
    /// closed). Starting again replaces the events and the callback, and ends a pending
    /// [`ready`](Self::ready) future (with `ECANCELED`) or stream.
    ///
    /// # Errors
    ///
    /// `EEXIST` when another active poll on this loop watches the descriptor; `EBADF` when
    /// closed.
    ///
    /// ```
    /// use std::{cell::Cell, os::unix::net::UnixStream, rc::Rc};
    /// use uvio::PollEvents;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let (a, b) = UnixStream::pair()?;
    /// let seen = Rc::new(Cell::new(PollEvents::empty()));
    /// let poll = uvio::FdPoll::new(&lp, a)?;
    /// let s = seen.clone();
    /// poll.start(PollEvents::READABLE | PollEvents::DISCONNECT, move |p, ev| {
    ///     s.set(ev.unwrap());
    ///     p.close().unwrap();
    /// })?;
    /// drop(b); // the peer hangs up
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(seen.get().contains(PollEvents::DISCONNECT));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(
        &self,
        events: PollEvents,
        callback: impl FnMut(&FdPoll, Result<PollEvents>) + 'static,
    ) -> Result<()> {
        let st = self.h.state()?;
        st.listener.set(Listener::Callback(Box::new(callback)));
        self.arm(Mode::Callback, events)
    }

    /// Stops watching (`uv_poll_stop`): no more callbacks, even for readiness already seen;
    /// a stream ends and a pending [`ready`](Self::ready) future gets `ECANCELED`. The
    /// descriptor stays owned until the poll is closed.
    ///
    /// # Errors
    ///
    /// `EBADF` when closed.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// let p = uvio::FdPoll::new(&lp, a)?;
    /// p.start(uvio::PollEvents::WRITABLE, |_, _| unreachable!())?;
    /// p.stop()?;
    /// assert!(!p.is_active());
    /// lp.run(uvio::RunMode::Default)?; // returns at once: nothing is active
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop(&self) -> Result<()> {
        let st = self.h.state()?;
        self.pause();
        st.mode.set(Mode::Stopped);
        st.ready.set(None);
        st.wake();
        Ok(())
    }

    /// Waits for one of `events` (`uv_poll_start`, stopped again after the first event), and
    /// returns what was seen. Replaces a callback given to [`start`](Self::start), and ends
    /// a stream. Dropping the future stops polling.
    ///
    /// # Errors
    ///
    /// The error that stopped polling (`EBADF` for an error condition on the descriptor),
    /// `ECANCELED` when [`stop`](Self::stop) or `start` intervened, `EEXIST` as in `start`,
    /// `EBADF` once closed.
    ///
    /// ```
    /// use std::{io::Write, os::unix::net::UnixStream};
    /// use uvio::PollEvents;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let (a, mut b) = UnixStream::pair()?;
    /// let mut poll = uvio::FdPoll::new(&lp, a)?;
    /// b.write_all(b"x")?;
    /// let ev = lp.block_on(poll.ready(PollEvents::READABLE))??;
    /// assert_eq!(ev, PollEvents::READABLE);
    /// assert!(!poll.is_active()); // one event, then stopped
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ready(&mut self, events: PollEvents) -> PollReady<'_> {
        PollReady {
            poll: self,
            events,
            started: false,
        }
    }

    /// The events being watched (empty when stopped or closed).
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use uvio::PollEvents;
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// let poll = uvio::FdPoll::watch(&lp, a, PollEvents::READABLE)?;
    /// assert_eq!(poll.events(), PollEvents::READABLE);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn events(&self) -> PollEvents {
        match self.h.state() {
            Ok(st) if st.mode.get() != Mode::Stopped => st.interest.get(),
            _ => PollEvents::empty(),
        }
    }

    /// The descriptor being watched (`uv_fileno`).
    ///
    /// # Errors
    ///
    /// `EBADF` once closed (the descriptor may be closed by then).
    ///
    /// ```
    /// use std::os::{fd::AsRawFd, unix::net::UnixStream};
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// let n = a.as_raw_fd();
    /// let poll = uvio::FdPoll::new(&lp, a)?;
    /// assert_eq!(poll.fileno()?, n);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fileno(&self) -> Result<RawFd> {
        let mut fd: ffi::uv_os_fd_t = -1;
        self.h.call(|h| {
            // SAFETY: the handle is open; libuv writes the descriptor into `fd`.
            unsafe { ffi::uv_fileno(h.cast(), &mut fd) }
        })?;
        Ok(fd)
    }
}

impl fmt::Debug for FdPoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("FdPoll");
        match self.h.state() {
            Ok(st) => d
                .field("fd", &st.fd)
                .field("mode", &st.mode.get())
                .field("events", &self.events())
                .field("active", &self.is_active()),
            Err(_) => d.field("closed", &true),
        };
        d.finish()
    }
}

impl Stream for FdPoll {
    type Item = Result<PollEvents>;

    /// The next readiness (events merged since the last item); `None` once stopped, closed,
    /// or after an error item. Not created by [`FdPoll::watch`]: ends at once.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Ok(st) = self.h.state() else {
            return Poll::Ready(None);
        };
        if st.mode.get() != Mode::Stream {
            return Poll::Ready(None);
        }
        if let Some(r) = st.ready.take() {
            if r.is_err() {
                st.mode.set(Mode::Stopped);
            }
            return Poll::Ready(Some(r));
        }
        if !self.is_active() {
            // Paused because the stream lagged: watch again.
            if let Err(e) = self.resume(st) {
                return Poll::Ready(Some(Err(e)));
            }
        }
        st.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// The future of [`FdPoll::ready`]; dropping it while it waits stops polling.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// let lp = uvio::Loop::new()?;
/// let (a, _b) = UnixStream::pair()?;
/// let mut poll = uvio::FdPoll::new(&lp, a)?;
/// let ev = lp.block_on(poll.ready(uvio::PollEvents::WRITABLE))??;
/// assert!(ev.contains(uvio::PollEvents::WRITABLE));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct PollReady<'a> {
    poll: &'a FdPoll,
    events: PollEvents,
    started: bool,
}

impl Future for PollReady<'_> {
    type Output = Result<PollEvents>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<PollEvents>> {
        let poll = self.poll;
        let st = match poll.h.state() {
            Ok(st) => st,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if !self.started {
            self.started = true;
            st.listener.set(Listener::None);
            if let Err(e) = poll.arm(Mode::Once, self.events) {
                return Poll::Ready(Err(e));
            }
        } else if st.mode.get() != Mode::Once {
            return Poll::Ready(Err(Error::ECANCELED.with_context("poll", st.fd)));
        }
        match st.ready.take() {
            Some(r) => {
                st.mode.set(Mode::Stopped);
                poll.pause();
                Poll::Ready(r)
            }
            None => {
                st.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }
}

impl Drop for PollReady<'_> {
    /// A future dropped while waiting stops polling.
    fn drop(&mut self) {
        if let Ok(st) = self.poll.h.state() {
            if self.started && st.mode.get() == Mode::Once {
                self.poll.pause();
                st.mode.set(Mode::Stopped);
                st.ready.set(None);
                st.waker.set(None);
            }
        }
    }
}

impl fmt::Debug for PollReady<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollReady")
            .field("poll", self.poll)
            .field("events", &self.events)
            .field("started", &self.started)
            .finish()
    }
}
