//! [hyper](https://docs.rs/hyper) 1.x on the libuv loop (feature `hyper`): what hyper-util's
//! `TokioIo`, `TokioExecutor` and `TokioTimer` are for tokio.
//!
//! - [`HyperIo`] wraps any `futures_io` stream (every uvio stream: [`TcpStream`],
//!   [`PipeStream`], [`Tty`], their halves, and wrappers such as `futures-rustls`'s TLS
//!   streams) as a `hyper::rt::Read` + `hyper::rt::Write`, writes vectored included.
//! - [`LocalExecutor`] runs the tasks hyper spawns (HTTP/2 streams, the HTTP/2 client's
//!   connection) with [`spawn_local`](crate::spawn_local) on the loop of this thread. They
//!   need not be `Send`: hyper's `Executor<F>` bound has no `Send`, so a `!Send` service
//!   (one holding `Rc`s, uvio handles) serves HTTP/2 too.
//! - [`HyperTimer`] gives hyper the `Send + Sync` sleeps it asks for (header read timeouts,
//!   HTTP/2 keep-alive) over uvio's shared loop timer; see [`HyperSleep`] for how a `Send`
//!   sleep over a `!Send` timer stays sound.
//!
//! hyper's connection futures over a [`HyperIo`] of a uvio stream are `!Send`, like the stream:
//! run them with [`Loop::block_on`](crate::Loop::block_on) or [`spawn_local`](crate::spawn_local).
//!
//! tokio-trait crates need nothing of this module: with the `tokio-io` feature, hyper-util's
//! `TokioIo` also works over a uvio stream.
//!
//! [`TcpStream`]: crate::TcpStream
//! [`PipeStream`]: crate::PipeStream
//! [`Tty`]: crate::Tty
//!
//! # Examples
//!
//! An HTTP/1.1 server and client on loopback, one request:
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use hyper::{Request, Response, service::service_fn};
//! use uvio::hyper::{HyperIo, HyperTimer};
//!
//! let lp = uvio::Loop::new()?;
//! let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse()?)?;
//! let addr = listener.local_addr()?;
//! let body = lp.block_on(async move {
//!     uvio::spawn_local(async move {
//!         let stream = listener.accept().await.expect("accept");
//!         let hello = service_fn(|_req: Request<hyper::body::Incoming>| async {
//!             Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!         });
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(HyperTimer::new())
//!             .serve_connection(HyperIo::new(stream), hello)
//!             .await
//!             .expect("serve");
//!     });
//!     let stream = uvio::TcpStream::connect(addr).await?;
//!     let (mut tx, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream)).await?;
//!     uvio::spawn_local(conn);
//!     let req = Request::get("/").header("host", "localhost").body(Full::new(Bytes::new()))?;
//!     let resp = tx.send_request(req).await?;
//!     assert_eq!(resp.status(), 200);
//!     Ok::<_, Box<dyn std::error::Error>>(resp.into_body().collect().await?.to_bytes())
//! })??;
//! assert_eq!(body, "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use ::hyper::rt::{self, ReadBufCursor};
use futures_io::{AsyncRead, AsyncWrite};

/// The most bytes one read zeroes of hyper's buffer before reading into it: a read from a
/// uvio stream returns at most one libuv read buffer (64 KiB) anyway.
const READ_MAX: usize = 64 * 1024;

/// Vectored writes of at most this many bytes in all are joined into one write.
const JOIN_MAX: usize = 64 * 1024;

/// A `futures_io` stream as hyper's `Read` + `Write`.
///
/// Reads go into hyper's buffer (the part a read may fill is zeroed first, as safe code must
/// do before handing memory to an `AsyncRead`); writes, vectored writes, flush and shutdown
/// (`poll_close`) are forwarded. A shutdown that fails with `ENOTCONN` (the peer has reset
/// the connection already) succeeds.
///
/// Writes are vectored by default: hyper hands over its headers and body buffers as they
/// are, instead of first copying them into one buffer of its own. Buffers that together
/// hold at most 64 KiB are joined (in a buffer the wrapper keeps) and written at once, so a
/// small response is one write; larger ones go to the stream's `poll_write_vectored`, so a
/// large body is copied only by the stream. [`set_write_vectored`](Self::set_write_vectored)
/// turns this off (hyper then copies everything into one buffer first).
///
/// # Examples
///
/// ```
/// use uvio::hyper::HyperIo;
///
/// let lp = uvio::Loop::new()?;
/// let (a, _b) = uvio::TcpStream::pair(&lp)?;
/// let mut io = HyperIo::new(a);
/// assert!(io.get_ref().is_writable());
/// io.set_write_vectored(false);
/// let _a: uvio::TcpStream = io.into_inner();
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct HyperIo<S> {
    inner: S,
    vectored: bool,
    /// Where small vectored writes are joined (kept to reuse its allocation).
    joined: Vec<u8>,
}

impl<S> HyperIo<S> {
    /// Wraps `inner`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = uvio::PipeStream::pair(&lp)?;
    /// let io = uvio::hyper::HyperIo::new(a);
    /// assert!(io.get_ref().is_readable());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new(inner: S) -> Self {
        HyperIo {
            inner,
            vectored: true,
            joined: Vec::new(),
        }
    }

    /// Whether hyper hands this wrapper several buffers at once (the default: see
    /// [`HyperIo`]) or first copies them into one (`false`).
    ///
    /// # Examples
    ///
    /// ```
    /// use hyper::rt::Write;
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
    /// let mut io = uvio::hyper::HyperIo::new(a);
    /// assert!(io.is_write_vectored());
    /// io.set_write_vectored(false);
    /// assert!(!io.is_write_vectored());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_write_vectored(&mut self, yes: bool) {
        self.vectored = yes;
    }

    /// The wrapped stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
    /// let io = uvio::hyper::HyperIo::new(a);
    /// assert!(io.get_ref().is_writable());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
    /// let mut io = uvio::hyper::HyperIo::new(a);
    /// let s: &mut uvio::TcpStream = io.get_mut();
    /// assert!(s.is_readable());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
    /// let a: uvio::TcpStream = uvio::hyper::HyperIo::new(a).into_inner();
    /// assert!(a.is_writable());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> rt::Read for HyperIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut cursor: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: the slice is only written to (zeroed below) before it is read, and nothing
        // de-initialises it: `as_mut` requires exactly that.
        let spare = unsafe { cursor.as_mut() };
        let len = spare.len().min(READ_MAX);
        let spare = &mut spare[..len];
        spare.fill(MaybeUninit::new(0));
        // SAFETY: every element of `spare` was initialised just above, and `MaybeUninit<u8>`
        // has the layout of `u8`.
        let buf = unsafe { &mut *(spare as *mut [MaybeUninit<u8>] as *mut [u8]) };
        let n = match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        if n > len {
            // A broken `AsyncRead` must not make hyper treat unwritten memory as filled.
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "poll_read reported more bytes than the buffer holds",
            )));
        }
        // SAFETY: the first `n <= len` bytes were initialised (zeroed, then written by the
        // read), which is what `advance` requires.
        unsafe { cursor.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> rt::Write for HyperIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_close(cx) {
            // The peer has already closed (reset) the connection: nothing more can be sent,
            // which is what shutting down asks for. hyper's HTTP/2 server would otherwise
            // report every connection a client drops as an error.
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            r => r,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total = bufs.iter().map(|b| b.len()).sum::<usize>();
        if bufs.len() < 2 || total > JOIN_MAX {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        }
        let this = &mut *self;
        this.joined.clear();
        for b in bufs {
            this.joined.extend_from_slice(b);
        }
        // Bytes written are the first bytes of `bufs`, as `poll_write_vectored` reports them.
        Pin::new(&mut this.inner).poll_write(cx, &this.joined)
    }
}

impl<S: fmt::Debug> fmt::Debug for HyperIo<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperIo")
            .field("inner", &self.inner)
            .field("write_vectored", &self.vectored)
            .finish()
    }
}

/// hyper's executor: spawns each task with [`spawn_local`](crate::spawn_local) on the loop
/// running on this thread, detached. Tasks need not be `Send`.
///
/// # Panics
///
/// `execute` panics when no uvio loop is running on this thread (hyper calls it from inside
/// a connection's `poll`, which runs on the loop).
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor;
/// use std::{cell::Cell, rc::Rc};
///
/// let lp = uvio::Loop::new()?;
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone(); // a `!Send` task
/// lp.block_on(async move { uvio::hyper::LocalExecutor.execute(async move { r.set(true) }) })?;
/// lp.run(uvio::RunMode::Default)?;
/// assert!(ran.get());
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExecutor;

impl<F> rt::Executor<F> for LocalExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        drop(crate::spawn_local(fut));
    }
}

/// hyper's timer: [`HyperSleep`]s over uvio's [`sleep_until`](crate::time::sleep_until).
///
/// Give it to hyper's builders (`.timer(HyperTimer::new())`) for header read timeouts and
/// HTTP/2 keep-alive pings.
///
/// # Examples
///
/// ```
/// use hyper::rt::Timer;
/// use std::time::{Duration, Instant};
///
/// let lp = uvio::Loop::new()?;
/// let start = Instant::now();
/// lp.block_on(uvio::hyper::HyperTimer::new().sleep(Duration::from_millis(5)))?;
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

impl HyperTimer {
    /// A timer (it has no state: every sleep runs on the loop that polls it).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = uvio::hyper::HyperTimer::new();
    /// let _builder = hyper::server::conn::http1::Builder::new().timer(t);
    /// ```
    pub fn new() -> Self {
        HyperTimer
    }
}

impl rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(HyperSleep::until(Instant::now().checked_add(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(HyperSleep::until(Some(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(s) => s.get_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A sleep of [`HyperTimer`]: `Send + Sync` as hyper requires, over uvio's `!Send`
/// [`Sleep`](crate::time::Sleep).
///
/// Until it is first polled it holds only its deadline. The first poll starts a uvio sleep
/// on the loop running on that thread and binds the `HyperSleep` to that thread. From then
/// on:
///
/// - polling it on any other thread **panics** (hyper never does: a connection over a uvio
///   stream is `!Send`, so it and its sleeps stay on the loop's thread);
/// - dropping (or [`reset`](Self::reset)ting) it on any other thread **leaks** the uvio
///   sleep instead of dropping it there: it stays registered, still fires at its deadline
///   (keeping the loop alive until then, as any pending sleep does), and its slot and the
///   loop's timer state are never freed.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// fn assert_send_sync<T: Send + Sync>(_: &T) {}
///
/// let lp = uvio::Loop::new()?;
/// let deadline = Instant::now() + Duration::from_millis(3);
/// let sleep = uvio::hyper::HyperSleep::new(deadline);
/// assert_send_sync(&sleep);
/// lp.block_on(sleep)?;
/// assert!(Instant::now() >= deadline);
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct HyperSleep {
    /// `None`: never elapses (an overflowing deadline).
    deadline: Option<Instant>,
    bound: Option<Bound>,
}

/// The uvio sleep and the thread it was started on, the only thread that may touch it.
struct Bound {
    thread: ThreadId,
    sleep: ManuallyDrop<crate::time::Sleep>,
}

thread_local! {
    static THREAD: ThreadId = thread::current().id();
}

/// This thread's id; `None` while its thread-locals are being destroyed.
fn this_thread() -> Option<ThreadId> {
    THREAD.try_with(|id| *id).ok()
}

// SAFETY: the only `!Send` part of a `HyperSleep` is the uvio `Sleep` in `bound` (it holds an
// `Rc` to its loop's timer, shared with that loop's thread). Moving it to another thread is a
// plain copy of its bytes, which touches no reference count. Every operation on it checks
// first that it runs on the thread `bound.thread` that created it: `poll` panics elsewhere
// before touching it, `Drop` leaks it elsewhere instead of dropping it, `reset` drops it only
// on that thread (and leaks it elsewhere). `ThreadId`s are never reused, so "on
// `bound.thread`" means the thread whose `Rc`s it shares, and no two threads ever operate on
// the `Rc` at once. Before binding, a `HyperSleep` holds only an `Instant`.
unsafe impl Send for HyperSleep {}
// SAFETY: `&HyperSleep` gives access to nothing of the uvio `Sleep`: the only `&self` API is
// `Debug`, which reads the deadline and the thread id (both `Sync`). Every use of the sleep
// goes through `&mut self` or `Pin<&mut Self>`, checked as described on the `Send` impl.
unsafe impl Sync for HyperSleep {}

impl HyperSleep {
    /// A sleep until `deadline`, not started (it starts on the loop that first polls it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(uvio::hyper::HyperSleep::new(Instant::now() + Duration::from_millis(1)))?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new(deadline: Instant) -> Self {
        Self::until(Some(deadline))
    }

    fn until(deadline: Option<Instant>) -> Self {
        HyperSleep {
            deadline,
            bound: None,
        }
    }

    /// The deadline (`None` for one too far away to represent, which never elapses).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let at = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(uvio::hyper::HyperSleep::new(at).deadline(), Some(at));
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Moves the deadline to `deadline`; the sleep starts again when next polled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let lp = uvio::Loop::new()?;
    /// let mut s = uvio::hyper::HyperSleep::new(Instant::now() + Duration::from_secs(3600));
    /// let soon = Instant::now() + Duration::from_millis(2);
    /// s.reset(soon);
    /// lp.block_on(s)?;
    /// assert!(Instant::now() >= soon);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.unbind();
        self.deadline = Some(deadline);
    }

    /// Drops the uvio sleep on its own thread, leaks it on any other.
    fn unbind(&mut self) {
        if let Some(mut b) = self.bound.take() {
            if this_thread() == Some(b.thread) {
                // SAFETY: on the thread that created the sleep (see the `Send` impl), and
                // `b` is never used again.
                unsafe { ManuallyDrop::drop(&mut b.sleep) };
            }
        }
    }
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let Some(deadline) = this.deadline else {
            return Poll::Pending;
        };
        let here = this_thread();
        let b = this.bound.get_or_insert_with(|| Bound {
            thread: here.expect("HyperSleep polled while its thread is exiting"),
            sleep: ManuallyDrop::new(crate::time::sleep_until(deadline)),
        });
        assert!(
            here == Some(b.thread),
            "uvio::hyper::HyperSleep polled on a thread other than its loop's"
        );
        Pin::new(&mut *b.sleep).poll(cx)
    }
}

impl rt::Sleep for HyperSleep {}

impl Drop for HyperSleep {
    fn drop(&mut self) {
        self.unbind();
    }
}

impl fmt::Debug for HyperSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperSleep")
            .field("deadline", &self.deadline)
            .field("started_on", &self.bound.as_ref().map(|b| b.thread))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polled_on_another_thread_panics_and_drop_there_leaks() {
        let lp = crate::Loop::new().unwrap();
        let mut s = Box::pin(HyperSleep::new(Instant::now() + Duration::from_secs(3600)));
        lp.block_on(async {
            assert!(futures_util::poll!(s.as_mut()).is_pending());
        })
        .unwrap();
        let s = thread::spawn(move || {
            let waker = futures_util::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = s.as_mut().poll(&mut cx);
            }));
            assert!(r.is_err(), "poll on a foreign thread must panic");
            s
        })
        .join()
        .unwrap();
        if std::env::var_os("UVIO_UNDER_VALGRIND").is_some() {
            // The leak below is by design, and memcheck would report it.
            drop(s);
        } else {
            // Dropped on another thread: leaked, the loop's `Rc` untouched there.
            thread::spawn(move || drop(s)).join().unwrap();
        }
        drop(lp);
    }

    #[test]
    fn not_started_sleep_moves_freely() {
        let s = HyperSleep::new(Instant::now());
        let s = thread::spawn(move || s).join().unwrap();
        let lp = crate::Loop::new().unwrap();
        lp.block_on(s).unwrap();
    }
}
