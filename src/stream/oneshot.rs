//! One-shot stream requests (`uv_connect_t`, `uv_shutdown_t`): a status and either the
//! user's callback or a future's waker. One trampoline serves both request types.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Handle, RawCb, StreamKind, raw_stream, wrap_cb};
use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::req::{RawReq, ReqBox, ReqOwner};

/// A request type whose completion callback is `fn(*mut Self, status)` and that records
/// its stream in a `handle` field.
pub(crate) trait StreamReq: RawReq + Sized + 'static {
    /// The request's `handle` field.
    ///
    /// # Safety
    ///
    /// `r` is a live request that libuv has initialised.
    unsafe fn stream(r: *mut Self) -> *mut ffi::uv_stream_t;
}

impl StreamReq for ffi::uv_connect_t {
    unsafe fn stream(r: *mut Self) -> *mut ffi::uv_stream_t {
        // SAFETY: per the contract.
        unsafe { (*r).handle }
    }
}

impl StreamReq for ffi::uv_shutdown_t {
    unsafe fn stream(r: *mut Self) -> *mut ffi::uv_stream_t {
        // SAFETY: per the contract.
        unsafe { (*r).handle }
    }
}

pub(crate) struct OneShot {
    cb: Cell<Option<RawCb>>,
    status: Cell<i32>,
    op: &'static str,
}

/// The completion callback of every one-shot stream request.
pub(crate) unsafe extern "C" fn on_done<R: StreamReq>(req: *mut R, status: i32) {
    // SAFETY: libuv calls this once for a submitted ReqBox<R, OneShot>.
    let b = unsafe { ReqBox::<R, OneShot>::from_raw(req) };
    let _scope = crate::panic::scope(b.loop_inner());
    b.state.status.set(status);
    if let Some(cb) = b.state.cb.take() {
        // SAFETY: libuv initialised the request, so `handle` is set.
        let stream = unsafe { R::stream(req) };
        let op = b.state.op;
        crate::panic::guard(b.loop_inner(), || {
            cb(
                stream,
                check(status).map(drop).map_err(|e| e.with_operation(op)),
            )
        });
    }
    // SAFETY: the end of the completion callback of `req`.
    unsafe { ReqBox::<R, OneShot>::complete(req) };
}

/// Submits a one-shot request with `go(raw)`, which must pass [`on_done::<R>`] as the
/// callback. With `cb` the callback gets the result; without, the returned future does.
///
/// # Safety
///
/// `go` starts request `R` with `on_done::<R>` as its completion callback, and when `cb` is
/// given it was made by [`wrap_cb`] for the stream the request is on.
pub(crate) unsafe fn start<R: StreamReq>(
    lp: &LoopHandle,
    op: &'static str,
    cb: Option<RawCb>,
    go: impl FnOnce(*mut R) -> i32,
) -> Result<Option<ReqFuture<R>>> {
    let keep = cb.is_none();
    let st = OneShot {
        cb: Cell::new(cb),
        status: Cell::new(0),
        op,
    };
    let p = ReqBox::alloc(lp, st)?;
    // SAFETY: a fresh box; `go` passes on_done::<R>, which ends with `complete`.
    unsafe { ReqBox::submit(p, keep, go) }.map_err(|e| e.with_operation(op))?;
    // SAFETY: submitted with `owned == keep`; this is its only owner.
    Ok(keep.then(|| ReqFuture(Ok(unsafe { ReqOwner::new(p) }))))
}

/// The future side of a one-shot request (or an error to report).
pub(crate) struct ReqFuture<R: StreamReq>(std::result::Result<ReqOwner<R, OneShot>, Option<Error>>);

impl<R: StreamReq> ReqFuture<R> {
    pub(crate) fn failed(e: Error) -> Self {
        ReqFuture(Err(Some(e)))
    }

    pub(crate) fn is_done(&self) -> bool {
        self.0.as_ref().map(|o| o.is_done()).unwrap_or(true)
    }
}

impl<R: StreamReq> Future for ReqFuture<R> {
    type Output = Result<()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match &mut self.0 {
            Err(e) => Poll::Ready(Err(e.take().unwrap_or(crate::handle::closed_error()))),
            Ok(o) => o.poll_done(cx, |b| {
                check(b.state.status.get())
                    .map(drop)
                    .map_err(|e| e.with_operation(b.state.op))
            }),
        }
    }
}

fn loop_of<T: StreamKind>(h: &Handle<T>) -> LoopHandle {
    LoopHandle {
        inner: h.loop_inner().clone(),
    }
}

fn start_shutdown<T: StreamKind>(
    h: &Handle<T>,
    cb: Option<RawCb>,
) -> Result<Option<ReqFuture<ffi::uv_shutdown_t>>> {
    h.state()?;
    let s = raw_stream(h);
    // SAFETY: the stream is open; uv_shutdown gets on_done for uv_shutdown_t; `cb` comes
    // from wrap_cb::<T> for this stream.
    unsafe {
        start::<ffi::uv_shutdown_t>(&loop_of(h), "shutdown", cb, |r| {
            ffi::uv_shutdown(r, s, Some(on_done::<ffi::uv_shutdown_t>))
        })
    }
}

pub(crate) fn shutdown_cb<T: StreamKind>(
    h: &Handle<T>,
    cb: impl FnOnce(&T, Result<()>) + 'static,
) -> Result<()> {
    start_shutdown(h, Some(wrap_cb(cb))).map(drop)
}

pub(crate) fn shutdown_req<T: StreamKind>(h: &Handle<T>) -> ReqFuture<ffi::uv_shutdown_t> {
    match start_shutdown(h, None) {
        Ok(Some(f)) => f,
        Ok(None) => ReqFuture::failed(Error::EINVAL),
        Err(e) => ReqFuture::failed(e),
    }
}

pub(crate) fn shutdown_fut<T: StreamKind>(h: &Handle<T>) -> Shutdown {
    Shutdown(shutdown_req(h))
}

/// The future of a stream's `shutdown()`: resolves once queued writes are done and the
/// write side is shut down. Started when `shutdown` was called; dropping this future does
/// not stop it.
///
/// # Examples
///
/// ```
/// use futures::AsyncReadExt;
///
/// let lp = uvio::Loop::new()?;
/// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// lp.block_on(async move {
///     let c = uvio::TcpStream::connect(addr).await?;
///     let s = listener.accept().await?;
///     c.write(b"last words").await?;
///     c.shutdown().await?; // the peer reads to the end
///     let mut all = Vec::new();
///     (&s).read_to_end(&mut all).await?;
///     assert_eq!(all, b"last words");
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Shutdown(ReqFuture<ffi::uv_shutdown_t>);

impl Future for Shutdown {
    type Output = Result<()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("done", &self.0.is_done())
            .finish()
    }
}

/// The state of a connect future (`TcpStream::connect`, `PipeStream::connect`): the stream
/// is made and the request started on first poll, on the given loop or the current one.
pub(crate) struct Connecting<S> {
    lp: Option<LoopHandle>,
    state: Option<(S, ReqFuture<ffi::uv_connect_t>)>,
}

impl<S> Connecting<S> {
    pub(crate) fn new(lp: Option<LoopHandle>) -> Self {
        Connecting { lp, state: None }
    }

    pub(crate) fn started(&self) -> bool {
        self.state.is_some()
    }

    /// Polls the connect; `start` makes the stream and starts the request (first poll).
    ///
    /// # Panics
    ///
    /// When first polled outside a uvio loop and no loop was given.
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        start: impl FnOnce(&LoopHandle) -> Result<(S, Option<ReqFuture<ffi::uv_connect_t>>)>,
    ) -> Poll<Result<S>> {
        if self.state.is_none() {
            let lp = match self.lp.take() {
                Some(lp) => lp,
                None => LoopHandle::current().expect("uvio: connect polled outside a uvio loop"),
            };
            match start(&lp) {
                Ok((s, f)) => {
                    let f = f.unwrap_or_else(|| ReqFuture::failed(Error::EINVAL));
                    self.state = Some((s, f));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let (_, f) = self.state.as_mut().expect("set above");
        match Pin::new(f).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                let (s, _) = self.state.take().expect("set above");
                Poll::Ready(r.map(|()| s))
            }
        }
    }
}
