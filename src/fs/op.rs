//! The one fs request machinery: every `uv_fs_*` operation is a type implementing [`FsOp`]
//! (how to start it, how to read its result out of the finished `uv_fs_t`), and three thin
//! front ends run it: a future ([`FsFuture`]), a callback ([`submit_cb`]) and libuv's own
//! synchronous mode ([`run_sync`], `cb = NULL`).
//!
//! The operation value owns everything libuv reads or writes (paths, buffers, directory
//! entries) and lives inside the request box until the completion callback, which turns it
//! into the output. An output that nobody takes (a future dropped in flight) is dropped with
//! the box, so resources an operation produced (a descriptor from `open`, a `uv_dir_t` from
//! `opendir`) are released by their own `Drop`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::dir::DirEntry;
use super::{Metadata, StatFs, path_from_c};
use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::req::{ReqBox, ReqOwner};

/// What a finished request hands to [`FsOp::finish`]: the result, and safe accessors for
/// what libuv left in the finished `uv_fs_t` (so the operations read it without `unsafe`).
pub struct Fin<'a> {
    /// The finished request: present only when the result is `Ok` and the request really
    /// ran in libuv (not refused before it, not completed inline).
    req: Option<NonNull<ffi::uv_fs_t>>,
    /// `req->result` as a count, or the error with the operation and path as context.
    pub(crate) res: Result<usize>,
    /// The loop the request ran on (`None` in synchronous mode).
    pub(crate) lp: Option<&'a LoopHandle>,
    /// Whether libuv ran the request (it was not refused before it, nor cancelled).
    ran: bool,
}

impl fmt::Debug for Fin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fin").field("res", &self.res).finish()
    }
}

impl<'a> Fin<'a> {
    /// A request that never reached libuv, or that libuv refused at once.
    pub(crate) fn refused(e: Error) -> Fin<'static> {
        Fin {
            req: None,
            res: Err(e),
            lp: None,
            ran: false,
        }
    }

    /// A synchronous call that ran and failed.
    fn failed_sync(e: Error) -> Fin<'static> {
        Fin {
            req: None,
            res: Err(e),
            lp: None,
            ran: true,
        }
    }

    /// A finished request.
    ///
    /// # Safety
    ///
    /// `req` is the operation's request, finished by libuv (its result is `res`), not yet
    /// cleaned up, and it outlives the `Fin`.
    unsafe fn finished(
        req: *mut ffi::uv_fs_t,
        res: Result<usize>,
        lp: Option<&'a LoopHandle>,
    ) -> Fin<'a> {
        let cancelled = matches!(&res, Err(e) if e.code() == Error::ECANCELED.code());
        Fin {
            req: if res.is_ok() { NonNull::new(req) } else { None },
            res,
            lp,
            ran: !cancelled,
        }
    }

    /// A read that completed on the loop thread without libuv (`n` bytes).
    ///
    /// # Safety
    ///
    /// `n` bytes were written into the operation's buffers, in order, by the read
    /// ([`FsOp::try_inline`] returned `Some(n)`).
    unsafe fn inline(n: usize) -> Fin<'static> {
        Fin {
            req: None,
            res: Ok(n),
            lp: None,
            ran: true,
        }
    }

    /// The finished request, when the result is `Ok` (`EINVAL` otherwise: only inline reads
    /// have none, and they never ask).
    fn request(&self) -> Result<&ffi::uv_fs_t> {
        self.res.as_ref().map_err(Clone::clone)?;
        match self.req {
            // SAFETY: `Fin::finished`'s contract: a finished request that outlives `self`;
            // libuv no longer writes to it.
            Some(p) => Ok(unsafe { p.as_ref() }),
            None => Err(Error::EINVAL),
        }
    }

    /// Whether libuv ran the request to its end: false when it was refused before reaching
    /// libuv (bad arguments, a closed loop) or cancelled while queued. A close that did not
    /// run still owns its descriptor.
    pub(crate) fn ran(&self) -> bool {
        self.ran
    }

    /// `Ok(())` or the error.
    pub(crate) fn unit(&self) -> Result<()> {
        self.res.clone().map(|_| ())
    }

    /// The `stat` result (`req->statbuf`).
    pub(crate) fn stat(&self) -> Result<Metadata> {
        self.request().map(|r| Metadata::from_raw(&r.statbuf))
    }

    /// The `statfs` result (`req->ptr`, a `uv_statfs_t`).
    pub(crate) fn statfs(&self) -> Result<StatFs> {
        let r = self.request()?;
        // SAFETY: a finished `uv_fs_statfs` sets `ptr` to a `uv_statfs_t` it allocated,
        // freed only by `uv_fs_req_cleanup`, which comes after `finish`.
        Ok(StatFs::from_raw(unsafe {
            &*r.ptr.cast::<ffi::uv_statfs_t>()
        }))
    }

    /// The path libuv produced in `req->path` (`mkdtemp`, `mkstemp`).
    pub(crate) fn made_path(&self) -> Result<PathBuf> {
        let r = self.request()?;
        // SAFETY: for mkdtemp/mkstemp `path` is libuv's own NUL-terminated copy of the
        // template, filled in by the call, alive until cleanup.
        Ok(unsafe { path_from_c(r.path) })
    }

    /// The path libuv returned in `req->ptr` (`readlink`, `realpath`).
    pub(crate) fn ptr_path(&self) -> Result<PathBuf> {
        let r = self.request()?;
        // SAFETY: a finished readlink/realpath sets `ptr` to a NUL-terminated string it
        // allocated, alive until cleanup.
        Ok(unsafe { path_from_c(r.ptr.cast()) })
    }

    /// The `uv_dir_t` a finished `opendir` allocated (`req->ptr`).
    pub(crate) fn dir_ptr(&self) -> Result<*mut ffi::uv_dir_t> {
        self.request().map(|r| r.ptr.cast())
    }

    /// The entries of a finished `scandir`, joined to `base`.
    pub(crate) fn scandir_entries(&self, base: &Path) -> Result<Vec<DirEntry>> {
        let n = self.res.clone()?;
        let Some(req) = self.req else {
            return Err(Error::EINVAL);
        };
        let mut out = Vec::with_capacity(n);
        let mut ent = MaybeUninit::<ffi::uv_dirent_t>::zeroed();
        // SAFETY: a finished scandir request, not cleaned up; `uv_fs_scandir_next` only
        // advances libuv's own cursor in it and fills `ent`.
        while unsafe { ffi::uv_fs_scandir_next(req.as_ptr(), ent.as_mut_ptr()) } == 0 {
            // SAFETY: `uv_fs_scandir_next` returned 0: it filled `ent`.
            let e = unsafe { ent.assume_init_ref() };
            // SAFETY: `e.name` is libuv's NUL-terminated name, alive until the next call
            // or cleanup; `from_raw` copies it.
            out.push(unsafe { DirEntry::from_raw(base, e.name, e.type_) });
        }
        Ok(out)
    }

    /// Frees what libuv allocated in the request now (`uv_fs_req_cleanup`), instead of when
    /// the box is freed. Idempotent; nothing to do for a request that did not run.
    pub(crate) fn cleanup_now(&self) {
        if let Some(p) = self.req {
            // SAFETY: a finished request; cleanup is idempotent and frees only what libuv
            // allocated for it (the box's own free calls it again harmlessly).
            unsafe { ffi::uv_fs_req_cleanup(p.as_ptr()) };
        }
    }
}

/// One `uv_fs_*` operation. Implemented by the types in [`crate::fs::ops`]; only uvio can
/// run one (its methods are internal). Useful to name a future's type:
///
/// ```
/// use uvio::fs::{FsFuture, FsOp, ops};
///
/// fn name_of<O: FsOp>(_: &FsFuture<O>) -> &'static str {
///     O::NAME
/// }
/// let fut: FsFuture<ops::Stat> = uvio::fs::metadata("Cargo.toml");
/// assert_eq!(name_of(&fut), "stat");
/// ```
pub trait FsOp: Sized + 'static {
    /// What the operation produces (a `Result`, or a buffer with a `Result`).
    type Output: 'static;
    /// The operation's name in error messages (`"open"`, `"stat"`).
    const NAME: &'static str;

    /// Calls the `uv_fs_*` function. `Err` means the arguments were refused before reaching
    /// libuv (a NUL in a path, a closed file).
    ///
    /// # Safety
    ///
    /// `req` is a zeroed `uv_fs_t` that stays put until it completes; `lp` is a live loop,
    /// or null with `cb == None` (synchronous mode). Every pointer handed to libuv points to
    /// heap memory owned by `self` (the value may move, its heap allocations do not), and
    /// `self` is kept alive until the request completes.
    #[doc(hidden)]
    unsafe fn start(
        &mut self,
        lp: *mut ffi::uv_loop_t,
        req: *mut ffi::uv_fs_t,
        cb: ffi::uv_fs_cb,
    ) -> Result<i32>;

    /// Turns the finished request into the output.
    #[doc(hidden)]
    fn finish(self, d: Fin<'_>) -> Self::Output;

    /// The path(s) the operation is about, for error messages.
    #[doc(hidden)]
    fn subject(&self) -> Option<String>;

    /// Tries to complete on the loop thread without libuv (the read fast path of
    /// `nowait.rs`): `Some(n)` when the whole operation was served (`n` bytes were written
    /// into its buffers, and [`FsOp::finish`] is then called with `Ok(n)` and no request);
    /// `None` to submit it (possibly after serving a prefix the operation recorded).
    #[doc(hidden)]
    fn try_inline(&mut self) -> Option<usize> {
        None
    }
}

/// Adds the operation and its subject to an error.
fn with_context<O: FsOp>(op: &O, e: Error) -> Error {
    match op.subject() {
        Some(s) => e.with_context(O::NAME, s),
        None => e.with_operation(O::NAME),
    }
}

/// The output of an operation that never reached libuv (or was refused by it at once).
fn fail<O: FsOp>(op: O, e: Error) -> O::Output {
    let e = with_context(&op, e);
    op.finish(Fin::refused(e))
}

/// Reads `req->result` and finishes `op` with it.
///
/// # Safety
///
/// `req` is `op`'s finished request, before cleanup.
unsafe fn finish_req<O: FsOp>(op: O, req: *mut ffi::uv_fs_t, lp: Option<&LoopHandle>) -> O::Output {
    // SAFETY: the request finished (contract); `result` is plain data.
    let r = unsafe { (*req).result };
    let res = if r < 0 {
        Err(with_context(&op, Error::from_code(r as i32)))
    } else {
        Ok(r as usize)
    };
    // SAFETY: forwarded contract: `req` is finished, not cleaned up, and outlives the call.
    op.finish(unsafe { Fin::finished(req, res, lp) })
}

type Callback<T> = Box<dyn FnOnce(T)>;

/// The state in a request box: the operation until it completes, then its output (for a
/// future) or the user's callback.
pub struct FsState<O: FsOp> {
    op: RefCell<Option<O>>,
    out: Cell<Option<O::Output>>,
    cb: Cell<Option<Callback<O::Output>>>,
}

type FsBox<O> = ReqBox<ffi::uv_fs_t, FsState<O>>;

unsafe extern "C" fn on_done<O: FsOp>(req: *mut ffi::uv_fs_t) {
    // SAFETY: libuv calls this once, on the loop thread, for a submitted FsBox<O>.
    let b = unsafe { FsBox::<O>::from_raw(req) };
    let lp = LoopHandle {
        inner: b.loop_inner().clone(),
    };
    let _scope = crate::panic::scope(&lp.inner);
    crate::panic::guard(&lp.inner, || {
        let op = b.state.op.borrow_mut().take();
        if let Some(op) = op {
            // SAFETY: `req` is this operation's finished request; cleanup comes later (free).
            let out = unsafe { finish_req(op, req, Some(&lp)) };
            match b.state.cb.take() {
                Some(cb) => cb(out),
                None => b.state.out.set(Some(out)),
            }
        }
    });
    // SAFETY: the completion callback of `req`, which is not used afterwards.
    unsafe { FsBox::<O>::complete(req) };
}

/// Submits `op` on `lp`. On success returns the box (owned by the caller when `owned`);
/// otherwise the operation's error output.
fn submit<O: FsOp>(
    lp: &LoopHandle,
    op: O,
    owned: bool,
) -> std::result::Result<NonNull<FsBox<O>>, O::Output> {
    if let Err(e) = lp.inner.ensure_open() {
        return Err(fail(op, e));
    }
    let state = FsState {
        op: RefCell::new(None),
        out: Cell::new(None),
        cb: Cell::new(None),
    };
    let p = match FsBox::<O>::alloc(lp, state) {
        Ok(p) => p,
        Err(e) => return Err(fail(op, e)),
    };
    // SAFETY: a fresh box, not yet shared with libuv.
    let st = unsafe { &p.as_ref().state };
    *st.op.borrow_mut() = Some(op);
    let mut early = None;
    let l = lp.as_raw();
    // SAFETY: a fresh box; `on_done::<O>` matches its types and ends with `complete`; the
    // operation lives in the box (its heap memory stays put) until then.
    let r = unsafe {
        FsBox::<O>::submit(p, owned, |req| {
            let mut slot = st.op.borrow_mut();
            let started = match slot.as_mut() {
                Some(op) => op.start(l, req, Some(on_done::<O>)),
                None => Err(Error::EINVAL),
            };
            let code = match started {
                Ok(r) if r >= 0 => return r,
                Ok(r) => Error::from_code(r),
                Err(e) => e,
            };
            let ret = code.code();
            if let Some(op) = slot.take() {
                early = Some(fail(op, code));
            }
            ret
        })
    };
    match (r, early) {
        (Ok(()), _) => Ok(p),
        (Err(_), Some(out)) => Err(out),
        // Unreachable: a refused start always leaves its output in `early`.
        (Err(e), None) => panic!("fs request refused without an output: {e}"),
    }
}

/// The callback front end: runs `op` on `lp` and calls `f` with its output on the loop
/// thread, always from the loop, never before this returns: an output known at once (bad
/// arguments, a read served inline) is delivered by [`later`].
pub(crate) fn submit_cb<O: FsOp>(
    lp: &LoopHandle,
    op: O,
    f: impl FnOnce(O::Output) + 'static,
) -> FsRequest {
    let op = if lp.is_closed() {
        op
    } else {
        match inline(op) {
            Ok(out) => return deliver_later(lp, O::NAME, move || f(out)),
            Err(op) => op,
        }
    };
    match submit(lp, op, true) {
        Ok(p) => {
            // SAFETY: the request was just submitted and completes only from a later loop
            // iteration, so the box is alive; its callback slot is read only then.
            let st = unsafe { &p.as_ref().state };
            st.cb.set(Some(Box::new(f)));
            // SAFETY: submitted with `owned = true`; this is its only owner.
            let owner = unsafe { ReqOwner::new(p) };
            FsRequest {
                owner: Some(Box::new(owner)),
                op: O::NAME,
            }
        }
        Err(out) => deliver_later(lp, O::NAME, move || f(out)),
    }
}

/// Runs `op`'s inline attempt: its output when it was served, else the operation to submit.
fn inline<O: FsOp>(mut op: O) -> std::result::Result<O::Output, O> {
    match op.try_inline() {
        // SAFETY: `try_inline` returned `Some(n)`: `n` bytes were written into its buffers.
        Some(n) => Ok(op.finish(unsafe { Fin::inline(n) })),
        None => Err(op),
    }
}

/// An [`FsRequest`] for a callback that [`later`] delivers.
pub(crate) fn deliver_later(
    lp: &LoopHandle,
    op: &'static str,
    f: impl FnOnce() + 'static,
) -> FsRequest {
    let done = Rc::new(Cell::new(false));
    let d = Rc::clone(&done);
    let queued = later(lp, move || {
        d.set(true);
        f()
    });
    done.set(!queued);
    FsRequest {
        owner: Some(Box::new(Deferred(done))),
        op,
    }
}

/// Runs `f` from `lp` later, never on the caller's stack: as a task of the loop's executor,
/// which its idle handle runs on the loop's next iteration (keeping the loop alive until
/// then), under the same panic guard as a libuv callback. Returns false, dropping `f`
/// uncalled, on a closed loop: nothing will run there again.
pub(crate) fn later(lp: &LoopHandle, f: impl FnOnce() + 'static) -> bool {
    if lp.is_closed() {
        return false;
    }
    let inner = Rc::clone(&lp.inner);
    drop(lp.spawn_local(async move {
        crate::panic::guard(&inner, f);
    }));
    true
}

/// A callback [`later`] delivers: done once it ran; it cannot be cancelled.
struct Deferred(Rc<Cell<bool>>);

impl Pending for Deferred {
    fn cancel(&self) -> Result<()> {
        Err(Error::EBUSY)
    }
    fn is_done(&self) -> bool {
        self.0.get()
    }
    fn detach(self: Box<Self>) {}
}

/// What [`FsRequest`] needs of its request, whatever the operation.
trait Pending {
    fn cancel(&self) -> Result<()>;
    fn is_done(&self) -> bool;
    fn detach(self: Box<Self>);
}

impl<O: FsOp> Pending for ReqOwner<ffi::uv_fs_t, FsState<O>> {
    fn cancel(&self) -> Result<()> {
        if ReqOwner::is_done(self) {
            return Err(Error::EBUSY);
        }
        // SAFETY: the request is submitted and not complete; we hold the box.
        crate::error::check(unsafe { ffi::uv_cancel(self.get().raw().cast()) })?;
        Ok(())
    }
    fn is_done(&self) -> bool {
        ReqOwner::is_done(self)
    }
    fn detach(self: Box<Self>) {
        ReqOwner::detach(*self)
    }
}

/// A request started by a callback form (`uvio::fs::cb::*`), to cancel it while it is
/// still queued. Dropping it does not cancel: the callback still runs.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let req = uvio::fs::cb::metadata(&lp, "Cargo.toml", |r| assert!(r.unwrap().is_file()));
/// assert!(!req.is_done());
/// lp.run(uvio::RunMode::Default)?;
/// assert!(req.is_done());
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct FsRequest {
    owner: Option<Box<dyn Pending>>,
    op: &'static str,
}

impl FsRequest {
    /// Cancels the request if libuv has not started it (`uv_cancel`); its callback then gets
    /// `ECANCELED`.
    ///
    /// # Errors
    ///
    /// `EBUSY` once it is running or done, and for a request whose result was known at once
    /// (refused arguments, a read served from the page cache): its callback is already
    /// queued on the loop. A read whose first part was served from the page cache and whose
    /// rest is cancelled completes with the count of that first part (a short read).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let req = uvio::fs::cb::metadata(&lp, "Cargo.toml", |_r| {});
    /// // Either cancelled while queued (the callback gets ECANCELED) or already running.
    /// match req.cancel() {
    ///     Ok(()) => {}
    ///     Err(e) => assert_eq!(e.name(), "EBUSY"),
    /// }
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(req.is_done());
    /// assert_eq!(req.cancel().unwrap_err().name(), "EBUSY");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn cancel(&self) -> Result<()> {
        match &self.owner {
            Some(o) => o.cancel(),
            None => Err(Error::EBUSY),
        }
        .map_err(|e| e.with_operation("cancel"))
    }

    /// True once the callback has run (or, on a closed loop, at once: nothing will run).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let req = uvio::fs::cb::remove_file(&lp, "does-not-exist", |r| assert!(r.is_err()));
    /// assert!(!req.is_done());
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(req.is_done());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_done(&self) -> bool {
        self.owner.as_ref().is_none_or(|o| o.is_done())
    }
}

impl Drop for FsRequest {
    fn drop(&mut self) {
        if let Some(o) = self.owner.take() {
            o.detach();
        }
    }
}

impl fmt::Debug for FsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FsRequest")
            .field("op", &self.op)
            .field("done", &self.is_done())
            .finish()
    }
}

/// Starts `op` with no waiter: its output is dropped when it completes (background close).
pub(crate) fn submit_detached<O: FsOp>(
    lp: &LoopHandle,
    op: O,
) -> std::result::Result<(), O::Output> {
    submit(lp, op, false).map(|_| ())
}

/// The synchronous front end: libuv's own synchronous mode (`cb = NULL`) on this thread.
pub(crate) fn run_sync<O: FsOp>(mut op: O) -> O::Output {
    let mut req = MaybeUninit::<ffi::uv_fs_t>::zeroed();
    let req = req.as_mut_ptr();
    // SAFETY: a zeroed request on this stack frame, which outlives the synchronous call;
    // the null loop is allowed in synchronous mode (libuv does the same internally).
    let started = unsafe { op.start(std::ptr::null_mut(), req, None) };
    let out = match started {
        Err(e) => return fail(op, e),
        // In synchronous mode a negative return is the operation's own failure: it ran.
        Ok(r) if r < 0 => {
            let e = with_context(&op, Error::from_code(r));
            op.finish(Fin::failed_sync(e))
        }
        // SAFETY: the synchronous call returned: `req` is finished.
        Ok(_) => unsafe { finish_req(op, req, None) },
    };
    // SAFETY: the request finished (or was refused after INIT); cleanup is idempotent and
    // only frees what libuv allocated.
    unsafe { ffi::uv_fs_req_cleanup(req) };
    out
}

enum FutState<O: FsOp> {
    Init(O),
    Running(ReqOwner<ffi::uv_fs_t, FsState<O>>),
    Done,
}

/// The future of every fs operation: starts the request on the current loop when first
/// polled (a read the page cache could serve whole is then ready on that first poll, see
/// [`read_nowait`](super::read_nowait)). Dropping it while the request is queued cancels it (`uv_cancel`); while it runs,
/// the request finishes in the background and its result (buffers, a descriptor) is
/// released then.
///
/// # Panics
///
/// When first polled outside a uvio loop, or polled again after it completed.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let meta = lp.block_on(uvio::fs::metadata("Cargo.toml"))??;
/// assert!(meta.is_file());
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct FsFuture<O: FsOp> {
    st: FutState<O>,
}

impl<O: FsOp> FsFuture<O> {
    pub(crate) fn new(op: O) -> Self {
        FsFuture {
            st: FutState::Init(op),
        }
    }
}

// The operation is moved into the request box on first poll and never pinned.
impl<O: FsOp> Unpin for FsFuture<O> {}

impl<O: FsOp> Future for FsFuture<O> {
    type Output = O::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O::Output> {
        if let FutState::Init(_) = self.st {
            let FutState::Init(op) = std::mem::replace(&mut self.st, FutState::Done) else {
                unreachable!()
            };
            let lp = LoopHandle::current().expect("uvio::fs future polled outside a uvio loop");
            let op = match inline(op) {
                Ok(out) => return Poll::Ready(out),
                Err(op) => op,
            };
            match submit(&lp, op, true) {
                // SAFETY: submitted with `owned = true`; this is its only owner.
                Ok(p) => self.st = FutState::Running(unsafe { ReqOwner::new(p) }),
                Err(out) => return Poll::Ready(out),
            }
        }
        match &self.st {
            FutState::Running(o) => match o.poll_done(cx, |b| b.state.out.take()) {
                Poll::Ready(out) => {
                    self.st = FutState::Done;
                    Poll::Ready(out.expect("fs request completed without an output"))
                }
                Poll::Pending => Poll::Pending,
            },
            _ => panic!("uvio::fs future polled after completion"),
        }
    }
}

impl<O: FsOp> fmt::Debug for FsFuture<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.st {
            FutState::Init(_) => "not started",
            FutState::Running(o) if o.is_done() => "done",
            FutState::Running(_) => "running",
            FutState::Done => "taken",
        };
        f.debug_struct("FsFuture")
            .field("op", &O::NAME)
            .field("state", &state)
            .finish()
    }
}
