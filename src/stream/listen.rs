//! Listening streams (TCP and pipe listeners): the connection callback, the accept future
//! and the stream of connections, written once for every listener type.
//!
//! A listener type is a shell around `HandleRef<Raw, ListenerState<Self>>` that implements
//! [`ListenerKind`]: how to accept the connection libuv holds into a new stream.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::error::{Error, Result, check};
use crate::ffi;
use crate::handle::HandleRef;

/// A listener type: a libuv stream handle that `uv_listen`s, and the public shell around it.
pub(crate) trait ListenerKind: Sized + 'static {
    /// The libuv struct (`uv_tcp_t`, `uv_pipe_t`).
    type Raw: 'static;
    /// The connection type it hands out.
    type Stream: 'static;
    /// Wraps an owner (or, inside `ManuallyDrop`, a borrowed view).
    fn from_handle(h: ListenerHandle<Self>) -> Self;
    /// The handle inside.
    fn handle(&self) -> &ListenerHandle<Self>;
    /// Accepts the connection libuv is holding (a new stream + `uv_accept`).
    fn accept_now(&self) -> Result<Self::Stream>;
}

/// The handle box type of listener type `L`.
pub(crate) type ListenerHandle<L> = HandleRef<<L as ListenerKind>::Raw, ListenerState<L>>;

type ConnectionCb<L> = Box<dyn FnMut(&L, Result<<L as ListenerKind>::Stream>)>;

/// The state of every listener handle.
pub(crate) struct ListenerState<L: ListenerKind> {
    cb: Cell<Option<ConnectionCb<L>>>,
    /// libuv holds an accepted connection for us (it stops accepting until we take it).
    pending: Cell<bool>,
    error: Cell<Option<Error>>,
    waker: Cell<Option<Waker>>,
}

impl<L: ListenerKind> ListenerState<L> {
    pub(crate) fn new() -> Self {
        ListenerState {
            cb: Cell::new(None),
            pending: Cell::new(false),
            error: Cell::new(None),
            waker: Cell::new(None),
        }
    }
}

impl<L: ListenerKind> Drop for ListenerState<L> {
    /// The listener has closed: wake a task waiting in `accept`, so it sees `EBADF`.
    fn drop(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

unsafe extern "C" fn on_connection<L: ListenerKind>(server: *mut ffi::uv_stream_t, status: i32) {
    // SAFETY: libuv calls this only for listeners started by `listen::<L>`, created as
    // ListenerHandle<L>; the view is never dropped, so it neither closes nor frees.
    let h = unsafe { HandleRef::borrowed(server.cast::<L::Raw>()) };
    let l = ManuallyDrop::new(L::from_handle(ManuallyDrop::into_inner(h)));
    let _scope = crate::panic::scope(l.handle().loop_inner());
    crate::panic::guard(l.handle().loop_inner(), || {
        // SAFETY: a callback of a live handle: its state is alive.
        let st = unsafe { l.handle().state_unchecked() };
        let result = check(status).map_err(|e| e.with_operation("accept"));
        match (st.cb.take(), result) {
            (Some(cb), r) => call_back(&*l, cb, r.and_then(|_| l.accept_now())),
            (None, Err(e)) => st.error.set(Some(e)),
            (None, Ok(_)) => st.pending.set(true),
        }
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    });
}

/// `uv_listen` with the connection trampoline of `L`.
pub(crate) fn listen<L: ListenerKind>(h: &ListenerHandle<L>, backlog: u32) -> Result<()> {
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    h.call(|t| {
        // SAFETY: the handle is open; on_connection::<L> matches this handle's type.
        unsafe { ffi::uv_listen(t.cast(), backlog, Some(on_connection::<L>)) }
    })?;
    Ok(())
}

/// `uv_accept` from stream `l` (a listener, or an IPC pipe holding a received handle) into
/// the freshly initialised stream `client`.
pub(crate) fn accept_into<H, S>(l: &HandleRef<H, S>, client: *mut ffi::uv_stream_t) -> Result<()> {
    l.call(|t| {
        // SAFETY: both handles are open and on the same loop (the caller made `client` on
        // the listener's loop).
        unsafe { ffi::uv_accept(t.cast(), client) }
    })
    .map(drop)
    .map_err(|e| e.with_operation("accept"))
}

/// Calls the connection callback (taken out of its slot) and puts it back unless it
/// installed another one meanwhile.
fn call_back<L: ListenerKind>(l: &L, mut cb: ConnectionCb<L>, r: Result<L::Stream>) {
    cb(l, r);
    if let Ok(st) = l.handle().state() {
        match st.cb.take() {
            None => st.cb.set(Some(cb)),
            other => st.cb.set(other),
        }
    }
}

/// Installs the connection callback; a connection (or error) already waiting is delivered
/// at once.
pub(crate) fn on_connection_cb<L: ListenerKind>(l: &L, cb: ConnectionCb<L>) -> Result<()> {
    let st = l.handle().state()?;
    if st.pending.replace(false) {
        call_back(l, cb, l.accept_now());
    } else if let Some(e) = st.error.take() {
        call_back(l, cb, Err(e));
    } else {
        st.cb.set(Some(cb));
    }
    Ok(())
}

fn poll_accept<L: ListenerKind>(l: &L, cx: &mut Context<'_>) -> Poll<Result<L::Stream>> {
    let st = match l.handle().state() {
        Ok(st) => st,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if let Some(e) = st.error.take() {
        return Poll::Ready(Err(e));
    }
    if st.pending.replace(false) {
        return Poll::Ready(l.accept_now());
    }
    let cb = st.cb.take();
    if cb.is_some() {
        st.cb.set(cb);
        return Poll::Ready(Err(
            Error::EBUSY.with_operation("accept on a listener with a callback")
        ));
    }
    st.waker.set(Some(cx.waker().clone()));
    Poll::Pending
}

/// What [`Accept`] and [`Incoming`] need of a listener, erased over its type.
trait PollAccept<S> {
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Result<S>>;
    fn closing(&self) -> bool;
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<L: ListenerKind + fmt::Debug> PollAccept<L::Stream> for L {
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Result<L::Stream>> {
        poll_accept(self, cx)
    }
    fn closing(&self) -> bool {
        self.handle().is_closing()
    }
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The future of a listener's `accept` ([`TcpListener::accept`](crate::TcpListener::accept),
/// [`PipeListener::accept`](crate::PipeListener::accept)): the next connection.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// lp.block_on(async move {
///     let (c, s) = futures::join!(uvio::TcpStream::connect(addr), listener.accept());
///     assert_eq!(c?.local_addr()?, s?.peer_addr()?);
///     Ok::<(), uvio::Error>(())
/// })??;
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Accept<'a, S = crate::TcpStream> {
    l: &'a dyn PollAccept<S>,
}

impl<'a, S> Accept<'a, S> {
    pub(crate) fn new<L: ListenerKind<Stream = S> + fmt::Debug>(l: &'a L) -> Self {
        Accept { l }
    }
}

impl<S> Future for Accept<'_, S> {
    type Output = Result<S>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<S>> {
        self.l.poll_accept(cx)
    }
}

impl<S> fmt::Debug for Accept<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_with_listener("Accept", self.l, f)
    }
}

/// `Name { l: <the listener's Debug> }`.
fn debug_with_listener<S>(
    name: &str,
    l: &dyn PollAccept<S>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    write!(f, "{name} {{ l: ")?;
    l.describe(f)?;
    f.write_str(" }")
}

/// The stream of a listener's `incoming` ([`TcpListener::incoming`](crate::TcpListener::incoming),
/// [`PipeListener::incoming`](crate::PipeListener::incoming)): connections until the
/// listener is closed.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let lp = uvio::Loop::new()?;
/// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// lp.block_on(async move {
///     let _c = uvio::TcpStream::connect(addr).await?;
///     let first = listener.incoming().next().await.expect("open listener")?;
///     assert_eq!(first.local_addr()?, addr);
///     Ok::<(), uvio::Error>(())
/// })??;
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a, S = crate::TcpStream> {
    l: &'a dyn PollAccept<S>,
}

impl<'a, S> Incoming<'a, S> {
    pub(crate) fn new<L: ListenerKind<Stream = S> + fmt::Debug>(l: &'a L) -> Self {
        Incoming { l }
    }
}

impl<S> Stream for Incoming<'_, S> {
    type Item = Result<S>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<S>>> {
        if self.l.closing() {
            return Poll::Ready(None);
        }
        self.l.poll_accept(cx).map(Some)
    }
}

impl<S> fmt::Debug for Incoming<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_with_listener("Incoming", self.l, f)
    }
}

/// The listener methods every listener type gets: the connection callback, `accept`,
/// `incoming`. `$ty` implements `ListenerKind` with `Stream = $stream` and has field `h`.
macro_rules! listener_methods {
    ($ty:ident, $stream:ident) => {
        impl $ty {
            /// Calls `callback` with each new connection (or an accept error). Replaces an
            /// earlier callback; a connection that was already waiting is delivered at once.
            /// Futures ([`accept`](Self::accept)) cannot be used while a callback is set.
            ///
            /// Out of descriptors (`EMFILE`), libuv sheds load instead of reporting an
            /// error: it frees a spare descriptor it keeps, accepts every pending connection
            /// and closes it at once (those clients see the connection closed), takes the
            /// spare again and keeps listening; the listener serves again once descriptors
            /// are free. libuv before 1.45 may also report `EMFILE`/`ENFILE` here when it has
            /// no spare descriptor.
            ///
            /// # Errors
            ///
            /// `EBADF` when the listener is closed.
            ///
            /// # Examples
            ///
            /// Shown with a `TcpListener`; the same for every listener type.
            ///
            /// ```
            /// use std::{cell::Cell, rc::Rc};
            /// let lp = uvio::Loop::new()?;
            /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
            /// let accepted = Rc::new(Cell::new(false));
            /// let a = accepted.clone();
            /// listener.on_connection(move |l, conn| {
            ///     a.set(conn.is_ok());
            ///     l.close().unwrap();
            /// })?;
            /// let addr = listener.local_addr()?;
            /// let client = uvio::TcpStream::connect_cb(&lp, addr, |s, _| s.close().unwrap())?;
            /// lp.run(uvio::RunMode::Default)?;
            /// assert!(accepted.get());
            /// # drop(client);
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn on_connection(
                &self,
                callback: impl FnMut(&$ty, $crate::Result<$stream>) + 'static,
            ) -> $crate::Result<()> {
                $crate::stream::listen::on_connection_cb(self, Box::new(callback))
            }

            /// Waits for the next connection.
            ///
            /// # Errors
            ///
            /// Accept errors (`EMFILE`), `EBADF` when the listener is closed, `EBUSY` while
            /// an [`on_connection`](Self::on_connection) callback is set.
            ///
            /// # Examples
            ///
            /// Shown with a `TcpListener`; the same for every listener type.
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
            /// let (client, server) = lp.block_on(async {
            ///     let client = uvio::TcpStream::connect(listener.local_addr()?).await?;
            ///     let server = listener.accept().await?;
            ///     Ok::<_, uvio::Error>((client, server))
            /// })??;
            /// assert_eq!(server.peer_addr()?, client.local_addr()?);
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn accept(&self) -> $crate::stream::listen::Accept<'_, $stream> {
                $crate::stream::listen::Accept::new(self)
            }

            /// The connections, as a `Stream` that ends when the listener is closed.
            ///
            /// # Examples
            ///
            /// Shown with a `TcpListener`; the same for every listener type.
            ///
            /// ```
            /// use futures::StreamExt;
            /// let lp = uvio::Loop::new()?;
            /// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
            /// let n = lp.block_on(async {
            ///     let _c = uvio::TcpStream::connect(listener.local_addr()?).await?;
            ///     let first = listener.incoming().next().await.unwrap()?;
            ///     Ok::<_, uvio::Error>(first.local_addr()?.port())
            /// })??;
            /// assert_eq!(n, listener.local_addr()?.port());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn incoming(&self) -> $crate::stream::listen::Incoming<'_, $stream> {
                $crate::stream::listen::Incoming::new(self)
            }
        }
    };
}
pub(crate) use listener_methods;
