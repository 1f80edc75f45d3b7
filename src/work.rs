//! Threadpool work (`uv_queue_work`): run a `Send` closure on libuv's threadpool and get
//! its result back on the loop thread, as a future or a callback.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::req::{ReqBox, ReqOwner};

type Job<T> = Box<dyn FnOnce() -> T + Send>;
type Done<T> = Box<dyn FnOnce(Result<T>)>;

struct WorkState<T> {
    /// Taken by the worker thread.
    job: Cell<Option<Job<T>>>,
    /// Written by the worker thread, read on the loop thread after completion.
    out: Cell<Option<std::thread::Result<T>>>,
    /// The status passed to the after-work callback (0 or `ECANCELED`).
    status: Cell<i32>,
    done: Cell<Option<Done<T>>>,
}

// The worker thread touches `job` and `out` between uv_queue_work and the after-work callback;
// libuv orders those accesses (the loop thread does not touch them meanwhile).

unsafe extern "C" fn work_cb<T: Send + 'static>(req: *mut ffi::uv_work_t) {
    // SAFETY: `req` belongs to a live ReqBox<uv_work_t, WorkState<T>>: the after-work callback
    // (which may free it) runs only after this returns.
    let b = unsafe { ReqBox::<ffi::uv_work_t, WorkState<T>>::from_raw(req) };
    if let Some(job) = b.state.job.take() {
        // A panic on the pool thread never unwinds into C: it is carried back to the loop.
        b.state.out.set(Some(catch_unwind(AssertUnwindSafe(job))));
    }
}

unsafe extern "C" fn after_work_cb<T: Send + 'static>(req: *mut ffi::uv_work_t, status: i32) {
    // SAFETY: libuv calls this once, on the loop thread, for a live submitted box.
    let b = unsafe { ReqBox::<ffi::uv_work_t, WorkState<T>>::from_raw(req) };
    let _scope = crate::panic::scope(b.loop_inner());
    b.state.status.set(status);
    if let Some(done) = b.state.done.take() {
        let lp = b.loop_inner().clone();
        crate::panic::guard(&lp, || done(take_result(&b.state)));
    }
    // SAFETY: the completion callback of `req`, which is not used afterwards.
    unsafe { ReqBox::<ffi::uv_work_t, WorkState<T>>::complete(req) };
}

fn take_result<T>(st: &WorkState<T>) -> Result<T> {
    if st.status.get() < 0 {
        return Err(Error::from_code(st.status.get()).with_operation("queue_work"));
    }
    match st.out.take() {
        Some(Ok(v)) => Ok(v),
        Some(Err(p)) => std::panic::resume_unwind(p),
        None => Err(Error::ECANCELED.with_operation("queue_work")),
    }
}

fn submit<T: Send + 'static>(
    lp: &LoopHandle,
    f: Job<T>,
    done: Option<Done<T>>,
) -> Result<ReqOwner<ffi::uv_work_t, WorkState<T>>> {
    let st = WorkState {
        job: Cell::new(Some(f)),
        out: Cell::new(None),
        status: Cell::new(0),
        done: Cell::new(done),
    };
    let p = ReqBox::alloc(lp, st)?;
    let l = lp.as_raw();
    // SAFETY: a fresh box; the callbacks match its types and end with `complete`; we keep
    // the one owner.
    unsafe {
        ReqBox::submit(p, true, |r| {
            ffi::uv_queue_work(l, r, Some(work_cb::<T>), Some(after_work_cb::<T>))
        })?;
        Ok(ReqOwner::new(p))
    }
}

fn cancel<T>(o: &ReqOwner<ffi::uv_work_t, WorkState<T>>) -> Result<()> {
    if o.is_done() {
        return Err(Error::EBUSY.with_operation("cancel"));
    }
    // SAFETY: the request is submitted and not complete (the box is alive: we own it).
    crate::error::check(unsafe { ffi::uv_cancel(o.get().raw().cast()) })
        .map_err(|e| e.with_operation("cancel"))?;
    Ok(())
}

/// Runs `f` on libuv's threadpool; `done` gets its result on the loop thread.
///
/// Returns a [`WorkRequest`] that can [`cancel`](WorkRequest::cancel) the work while it is
/// still queued (then `done` gets `ECANCELED`). Dropping the `WorkRequest` does not cancel.
/// A panic in `f` is resumed on the loop thread (and so from `Loop::run`).
///
/// # Errors
///
/// `EBADF` when the loop is closed.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// uvio::queue_work(&lp, || 6 * 7, |r| assert_eq!(r.unwrap(), 42))?;
/// lp.run(uvio::RunMode::Default)?;
/// # Ok::<(), uvio::Error>(())
/// ```
///
/// The closure must be `Send`:
///
/// ```compile_fail
/// let lp = uvio::Loop::new().unwrap();
/// let rc = std::rc::Rc::new(1);
/// uvio::queue_work(&lp, move || *rc, |_| ()).unwrap();
/// ```
pub fn queue_work<T, F, D>(lp: &LoopHandle, f: F, done: D) -> Result<WorkRequest<T>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
    D: FnOnce(Result<T>) + 'static,
{
    let o = submit::<T>(lp, Box::new(f), Some(Box::new(done)))?;
    Ok(WorkRequest(Some(o)))
}

/// A handle to work queued with [`queue_work`], to cancel it. Dropping it does not cancel.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// let lp = uvio::Loop::new()?;
/// let out = Rc::new(Cell::new(0));
/// let o2 = out.clone();
/// let req: uvio::WorkRequest<u32> = uvio::queue_work(&lp, || 6 * 7, move |r| o2.set(r.unwrap()))?;
/// lp.run(uvio::RunMode::Default)?;
/// assert!(req.is_done());
/// assert_eq!(out.get(), 42);
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct WorkRequest<T>(Option<ReqOwner<ffi::uv_work_t, WorkState<T>>>);

impl<T> WorkRequest<T> {
    /// Cancels the work if it has not started (`uv_cancel`); its callback then gets
    /// `ECANCELED`.
    ///
    /// # Errors
    ///
    /// `EBUSY` when it is running or finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let req = uvio::queue_work(&lp, || 1, |r| {
    ///     // Cancelled while queued, or it ran.
    ///     assert!(matches!(r, Ok(1)) || r.unwrap_err().name() == "ECANCELED");
    /// })?;
    /// if let Err(e) = req.cancel() {
    ///     assert_eq!(e.name(), "EBUSY"); // a thread had already taken it
    /// }
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(req.cancel().unwrap_err().name(), "EBUSY");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn cancel(&self) -> Result<()> {
        match &self.0 {
            Some(o) => cancel(o),
            None => Err(Error::EBUSY.with_operation("cancel")),
        }
    }

    /// True once the work's callback has run.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let req = uvio::queue_work(&lp, || 1, |_| {})?;
    /// assert!(!req.is_done()); // the callback runs on the loop
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(req.is_done());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_done(&self) -> bool {
        self.0.as_ref().is_none_or(|o| o.is_done())
    }
}

impl<T> Drop for WorkRequest<T> {
    fn drop(&mut self) {
        if let Some(o) = self.0.take() {
            o.detach();
        }
    }
}

impl<T> fmt::Debug for WorkRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkRequest")
            .field("done", &self.is_done())
            .finish()
    }
}

/// Runs `f` on libuv's threadpool and resolves to its result.
///
/// Dropping the future while the work is still queued cancels it; once running, the work
/// finishes and its result is dropped. A panic in `f` is resumed where the future is polled.
/// [`SpawnBlocking::cancel`] cancels explicitly (`EBUSY` once running).
///
/// # Panics
///
/// When called outside a uvio loop (use [`LoopHandle::spawn_blocking`]).
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let n = lp.block_on(async { uvio::spawn_blocking(|| (1..=10u64).product::<u64>()).await })??;
/// assert_eq!(n, 3628800);
/// # Ok::<(), uvio::Error>(())
/// ```
///
/// The closure must be `Send` (it runs on another thread):
///
/// ```compile_fail
/// let lp = uvio::Loop::new().unwrap();
/// let rc = std::rc::Rc::new(1);
/// let _ = lp.block_on(async move { uvio::spawn_blocking(move || *rc).await });
/// ```
pub fn spawn_blocking<T, F>(f: F) -> SpawnBlocking<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let lp = LoopHandle::current().expect("uvio::spawn_blocking called outside a uvio loop");
    lp.spawn_blocking(f)
}

impl LoopHandle {
    /// Runs `f` on libuv's threadpool; see [`spawn_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let task = lp.spawn_blocking(|| "from the threadpool".len());
    /// assert_eq!(lp.block_on(task)??, 19);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn spawn_blocking<T, F>(&self, f: F) -> SpawnBlocking<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match submit::<T>(self, Box::new(f), None) {
            Ok(o) => SpawnBlocking(Ok(o)),
            Err(e) => SpawnBlocking(Err(Some(e))),
        }
    }
}

/// The future of [`spawn_blocking`].
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let task: uvio::SpawnBlocking<u8> = lp.spawn_blocking(|| 1 + 1);
/// assert_eq!(lp.block_on(task)??, 2);
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct SpawnBlocking<T>(
    std::result::Result<ReqOwner<ffi::uv_work_t, WorkState<T>>, Option<Error>>,
);

impl<T> SpawnBlocking<T> {
    /// Cancels the work if it is still queued; the future then resolves to `ECANCELED`.
    ///
    /// # Errors
    ///
    /// `EBUSY` when the work is running or done.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let task = lp.spawn_blocking(|| 7);
    /// if let Err(e) = task.cancel() {
    ///     assert_eq!(e.name(), "EBUSY"); // a thread had already taken it
    /// }
    /// match lp.block_on(task)? {
    ///     Ok(v) => assert_eq!(v, 7),
    ///     Err(e) => assert_eq!(e.name(), "ECANCELED"),
    /// }
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn cancel(&self) -> Result<()> {
        match &self.0 {
            Ok(o) => cancel(o),
            Err(_) => Err(Error::EBUSY.with_operation("cancel")),
        }
    }
}

impl<T> Future for SpawnBlocking<T> {
    type Output = Result<T>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match &mut self.0 {
            Ok(o) => o.poll_done(cx, |b| take_result(&b.state)),
            Err(e) => Poll::Ready(Err(e.take().unwrap_or(Error::EBADF))),
        }
    }
}

impl<T> fmt::Debug for SpawnBlocking<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnBlocking")
            .field(
                "done",
                &self.0.as_ref().map(|o| o.is_done()).unwrap_or(true),
            )
            .finish()
    }
}
