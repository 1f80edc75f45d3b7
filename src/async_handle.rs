//! Waking a loop from another thread (`uv_async_t`): [`AsyncHandle`], its [`AsyncSender`],
//! and [`AsyncStream`], the same as a `Stream` of wake-ups.
//!
//! The sender shares a [`Target`] with the handle: the handle's address and a count of the
//! sends in progress, both atomics, so a send takes no lock. The close callback (which runs
//! before the handle's memory can be freed, and before the loop can be closed) marks the
//! target closed and waits for the sends already in progress to leave `uv_async_send`, so a
//! `send` either completes on a live handle or finds it closed and returns `EBADF`: it
//! never touches freed memory, whatever the order of closing, dropping and sending across
//! threads.

use std::cell::Cell;
use std::fmt;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, handle_methods};
use crate::timer::Listener;

/// The handle as seen from other threads: its address, and in `users` the sends in progress
/// plus the [`CLOSED`] bit.
struct Target {
    raw: AtomicPtr<ffi::uv_async_t>,
    users: AtomicUsize,
}

/// Set in `Target::users` once the handle is closing: no new send may start.
const CLOSED: usize = 1 << (usize::BITS - 1);

impl Target {
    fn new(raw: *mut ffi::uv_async_t) -> Target {
        Target {
            raw: AtomicPtr::new(raw),
            users: AtomicUsize::new(if raw.is_null() { CLOSED } else { 0 }),
        }
    }

    fn is_closed(&self) -> bool {
        self.users.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Marks the target closed and waits until no send is inside `uv_async_send`.
    fn close(&self) {
        let mut users = self.users.fetch_or(CLOSED, Ordering::AcqRel);
        // A sender that counted itself in before the bit was set is inside (or about to
        // enter) uv_async_send, a few instructions and at most one write(2): wait for it.
        while users & !CLOSED != 0 {
            std::thread::yield_now();
            users = self.users.load(Ordering::Acquire);
        }
        self.raw.store(std::ptr::null_mut(), Ordering::Release);
    }
}

type Shared = Arc<Target>;

type AsyncCallback = dyn FnMut(&AsyncHandle);

/// Part of the handle's state: nulls the shared pointer when dropped, which happens in the
/// close callback, before the box can be freed.
struct Revoke(Shared);

impl Drop for Revoke {
    fn drop(&mut self) {
        self.0.close();
    }
}

pub(crate) struct AsyncState {
    listener: Cell<Listener<AsyncCallback>>,
    revoke: Revoke,
}

impl Drop for AsyncState {
    fn drop(&mut self) {
        // Dropped in the close callback: a waiting stream wakes up and sees the end.
        crate::watcher::wake_waiter(&self.listener);
    }
}

/// Wakes the loop from any thread: [`AsyncSender::send`] makes the handle's callback run on
/// the loop thread (`uv_async_t`).
///
/// libuv coalesces sends: several sends before the callback runs give one call. An open
/// `AsyncHandle` keeps the loop running (it is active from creation); close it, drop it or
/// [`unref`](AsyncHandle::unref) it to let `run` return.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use uvio::{AsyncHandle, Loop, RunMode};
///
/// let lp = Loop::new()?;
/// let woken = Rc::new(Cell::new(false));
/// let w = woken.clone();
/// let handle = AsyncHandle::new(&lp, move |h| {
///     w.set(true);
///     h.close().unwrap(); // one wake-up is enough: let the loop end
/// })?;
/// let sender = handle.sender();
/// std::thread::spawn(move || sender.send().unwrap()).join().unwrap();
/// lp.run(RunMode::Default)?;
/// assert!(woken.get());
/// # Ok::<(), uvio::Error>(())
/// ```
///
/// The handle stays on its loop's thread (only the sender crosses):
///
/// ```compile_fail
/// let lp = uvio::Loop::new().unwrap();
/// let h = uvio::AsyncHandle::new(&lp, |_| {}).unwrap();
/// std::thread::spawn(move || drop(h));
/// ```
pub struct AsyncHandle {
    h: HandleRef<ffi::uv_async_t, AsyncState>,
}

handle_methods!(AsyncHandle, h);

unsafe extern "C" fn on_async(raw: *mut ffi::uv_async_t) {
    // SAFETY: libuv calls this only for live handles created by `AsyncHandle::create`; the
    // view is never dropped (ManuallyDrop), so it neither closes nor frees anything.
    let view = unsafe { HandleRef::borrowed(raw) };
    let h = ManuallyDrop::new(AsyncHandle {
        h: ManuallyDrop::into_inner(view),
    });
    let _scope = crate::panic::scope(h.h.loop_inner());
    crate::panic::guard(h.h.loop_inner(), || {
        // SAFETY: libuv calls the async callback only before the close callback.
        let st = unsafe { h.h.state_unchecked() };
        Listener::fire(&st.listener, |cb| cb(&h));
    });
}

impl AsyncHandle {
    /// Creates an async handle on `lp` whose `callback` runs on the loop thread after one or
    /// more [`AsyncSender::send`] calls (`uv_async_init`).
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed; what `uv_async_init` reports (`EMFILE`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let lp = uvio::Loop::new()?;
    /// let calls = Rc::new(Cell::new(0));
    /// let c = calls.clone();
    /// let h = uvio::AsyncHandle::new(&lp, move |h| {
    ///     c.set(c.get() + 1);
    ///     h.close().unwrap();
    /// })?;
    /// h.send()?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(calls.get(), 1);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new(lp: &LoopHandle, callback: impl FnMut(&AsyncHandle) + 'static) -> Result<Self> {
        AsyncHandle::create(lp, Listener::Callback(Box::new(callback)))
    }

    fn create(lp: &LoopHandle, listener: Listener<AsyncCallback>) -> Result<AsyncHandle> {
        // Closed until the handle is initialised.
        let shared: Shared = Arc::new(Target::new(std::ptr::null_mut()));
        let state = AsyncState {
            listener: Cell::new(listener),
            revoke: Revoke(Arc::clone(&shared)),
        };
        // SAFETY: uv_async_init initialises a uv_async_t with our callback, which matches
        // this handle's type.
        let h =
            unsafe { HandleRef::new(lp, state, |l, h| ffi::uv_async_init(l, h, Some(on_async)))? };
        shared.raw.store(h.raw(), Ordering::Release);
        shared.users.store(0, Ordering::Release);
        Ok(AsyncHandle { h })
    }

    /// A handle and a stream of its wake-ups: the stream yields `()` once per callback
    /// (sends that libuv coalesced give one item) and ends when the handle is closed.
    ///
    /// # Errors
    ///
    /// As [`AsyncHandle::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let (mut wakeups, sender) = uvio::AsyncHandle::stream(&lp)?;
    /// let worker = std::thread::spawn(move || {
    ///     for _ in 0..3 {
    ///         sender.send().unwrap();
    ///     }
    /// });
    /// lp.block_on(async {
    ///     // Three sends, coalesced into one or more wake-ups.
    ///     assert_eq!(wakeups.next().await, Some(()));
    /// })?;
    /// worker.join().unwrap();
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stream(lp: &LoopHandle) -> Result<(AsyncStream, AsyncSender)> {
        let handle = AsyncHandle::create(
            lp,
            Listener::Waiter {
                pending: 0,
                waker: None,
            },
        )?;
        let sender = handle.sender();
        Ok((AsyncStream { handle }, sender))
    }

    /// A sender for this handle: `Send + Sync + Clone`, usable from any thread, and harmless
    /// after the handle has closed (its `send` then returns `EBADF`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let h = uvio::AsyncHandle::new(&lp, |h| h.close().unwrap())?;
    /// let sender = h.sender();
    /// std::thread::spawn(move || sender.send().unwrap()).join().unwrap();
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(h.is_closing());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn sender(&self) -> AsyncSender {
        match self.h.state() {
            Ok(st) => AsyncSender {
                shared: Arc::clone(&st.revoke.0),
            },
            // A closed handle: a sender that is closed from the start.
            Err(_) => AsyncSender {
                shared: Arc::new(Target::new(std::ptr::null_mut())),
            },
        }
    }

    /// Wakes the handle from the loop thread itself (same as its sender's `send`).
    ///
    /// # Errors
    ///
    /// `EBADF` when the handle is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let h = uvio::AsyncHandle::new(&lp, |h| h.close().unwrap())?;
    /// h.send()?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(h.send().unwrap_err().name(), "EBADF");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn send(&self) -> Result<()> {
        self.sender().send()
    }
}

impl fmt::Debug for AsyncHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncHandle")
            .field("closed", &self.is_closing())
            .field("ref", &self.has_ref())
            .finish()
    }
}

/// Wakes an [`AsyncHandle`] from any thread. Cheap to clone; outlives the handle and its loop
/// safely.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let h = uvio::AsyncHandle::new(&lp, |_| {})?;
/// let sender = h.sender();
/// sender.send()?;
/// drop(h);
/// drop(lp);
/// assert_eq!(sender.send().unwrap_err().name(), "EBADF");
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone)]
pub struct AsyncSender {
    shared: Shared,
}

impl AsyncSender {
    /// Asks the loop to run the handle's callback (`uv_async_send`). Sends made before the
    /// callback runs are coalesced into one call.
    ///
    /// # Errors
    ///
    /// `EBADF` once the handle has closed (or its loop is gone).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let h = uvio::AsyncHandle::new(&lp, |h| h.close().unwrap())?;
    /// let sender = h.sender();
    /// let worker = std::thread::spawn(move || sender.send());
    /// worker.join().unwrap()?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(h.is_closing());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn send(&self) -> Result<()> {
        let t = &*self.shared;
        /// Counts this send out again, however it leaves.
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Release);
            }
        }
        let users = t.users.fetch_add(1, Ordering::Acquire);
        let _leave = Leave(&t.users);
        if users & CLOSED != 0 {
            return Err(Error::EBADF.with_operation("AsyncSender::send: handle is closed"));
        }
        let raw = t.raw.load(Ordering::Acquire);
        // SAFETY: counted in while `CLOSED` was clear, so the close callback, which sets it
        // and then waits for the count to drop before the handle's memory can be freed, has
        // not finished: the handle is initialised (`raw` was stored before the count was
        // opened) and its loop open; uv_async_send is thread-safe.
        check(unsafe { ffi::uv_async_send(raw) })?;
        Ok(())
    }

    /// True once the handle has closed: every later `send` fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let h = uvio::AsyncHandle::new(&lp, |_| {})?;
    /// let sender = h.sender();
    /// assert!(!sender.is_closed());
    /// drop(h);
    /// lp.run(uvio::RunMode::Default)?; // runs the close callback
    /// assert!(sender.is_closed());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

impl fmt::Debug for AsyncSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The wake-ups of an [`AsyncHandle`] as a
/// [`Stream`](https://docs.rs/futures/0.3/futures/stream/trait.Stream.html): one `()` per
/// callback, `None` once the handle is closed. Made by [`AsyncHandle::stream`]; dropping it
/// closes the handle.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let lp = uvio::Loop::new()?;
/// let (mut wakeups, sender) = uvio::AsyncHandle::stream(&lp)?;
/// sender.send()?;
/// lp.block_on(async { assert_eq!(wakeups.next().await, Some(())) })?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct AsyncStream {
    handle: AsyncHandle,
}

impl AsyncStream {
    /// The underlying handle (to close, `unref`, or make more senders).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (wakeups, _sender) = uvio::AsyncHandle::stream(&lp)?;
    /// wakeups.handle().unref();
    /// assert!(!wakeups.handle().has_ref());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn handle(&self) -> &AsyncHandle {
        &self.handle
    }
}

impl Stream for AsyncStream {
    type Item = ();
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match self.handle.h.state() {
            Err(_) => Poll::Ready(None),
            Ok(st) if Listener::poll_fired(&st.listener, cx.waker()) => Poll::Ready(Some(())),
            Ok(_) => Poll::Pending,
        }
    }
}

impl fmt::Debug for AsyncStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncStream")
            .field("closed", &self.handle.is_closing())
            .finish()
    }
}
