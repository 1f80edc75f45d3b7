//! Child processes (`uv_process_t`, `uv_spawn`, `uv_kill`): [`Command`] says what to run,
//! [`Child`] is the running process, its exit comes as a callback
//! ([`Command::spawn_cb`]) or a future ([`Child::wait`]), or both.
//!
//! libuv reaps children itself (on `SIGCHLD`), so the exit status is only known while the
//! `Child`'s handle is open. Dropping a [`Child`] neither kills the process (as with std)
//! nor loses track of it: its handle stays open until the process exits, then closes by
//! itself, so no zombie is left behind and the loop keeps running until then (as in Node).
//!
//! # Examples
//!
//! ```
//! use uvio::process::{Command, Stdio};
//!
//! let lp = uvio::Loop::new()?;
//! let out = lp.block_on(async {
//!     let mut child = Command::new("cat")
//!         .stdin(Stdio::piped())
//!         .stdout(Stdio::piped())
//!         .spawn(&uvio::LoopHandle::current().unwrap())?;
//!     let stdin = child.stdin.take().unwrap();
//!     stdin.write(&b"meow"[..]).await?;
//!     drop(stdin); // end of input: cat exits
//!     let mut echoed = Vec::new();
//!     let stdout = child.stdout.take().unwrap();
//!     futures::AsyncReadExt::read_to_end(&mut &stdout, &mut echoed).await?;
//!     let status = child.wait().await?;
//!     Ok::<_, std::io::Error>((status, echoed))
//! })??;
//! assert!(out.0.success());
//! assert_eq!(out.1, b"meow");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod command;
mod spawn;
mod status;
mod stdio;

pub use command::Command;
pub use status::{ExitStatus, Output};
pub use stdio::Stdio;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::PipeStream;
use crate::error::{Error, Result, check};
use crate::ffi;
use crate::handle::{HandleRef, handle_methods};

/// An exit callback, as given to [`Command::spawn_cb`].
type ExitCallback = dyn FnOnce(&Child, Result<ExitStatus>);

/// The exit slot of a process handle: the callback and the futures waiting, until the
/// process exits; then its status.
enum Exit {
    Running {
        callback: Option<Box<ExitCallback>>,
        wakers: Vec<Waker>,
    },
    Exited(ExitStatus),
}

impl Default for Exit {
    fn default() -> Exit {
        Exit::Running {
            callback: None,
            wakers: Vec::new(),
        }
    }
}

pub(crate) struct ProcessState {
    exit: Cell<Exit>,
    /// The owner, parked here when the `Child` was dropped before the process exited; the
    /// exit callback drops it (closing the handle once the process is reaped).
    keep: Cell<Option<HandleRef<ffi::uv_process_t, ProcessState>>>,
    /// The handle, to hand the exit callback a view of it when the handle closes first.
    raw: Cell<*mut ffi::uv_process_t>,
}

impl ProcessState {
    /// The exit status, if the process has exited.
    fn status(&self) -> Option<ExitStatus> {
        let e = self.exit.take();
        let s = match e {
            Exit::Exited(s) => Some(s),
            Exit::Running { .. } => None,
        };
        self.exit.set(e);
        s
    }
}

impl Drop for ProcessState {
    /// Runs in the close callback. If the process had not exited, nobody will learn its
    /// status: waiting futures are woken (they then see `EBADF`) and the exit callback is
    /// called with `ECANCELED`.
    fn drop(&mut self) {
        let _keep = self.keep.take();
        let Exit::Running { callback, wakers } = self.exit.take() else {
            return;
        };
        wakers.into_iter().for_each(Waker::wake);
        let raw = self.raw.get();
        if let (Some(cb), false) = (callback, raw.is_null()) {
            // SAFETY: this runs inside the handle's close callback (the only place the state
            // is dropped), so the box is still allocated; the view neither closes nor frees.
            let child = unsafe { Child::view(raw) };
            let e = Error::ECANCELED.with_context("process handle closed before exit", child.id());
            cb(&child, Err(e));
        }
    }
}

/// The owner of a child's handle. Dropped while the process runs, it parks itself in the
/// handle's state instead of closing, so libuv can still reap the process.
struct Owner(ManuallyDrop<HandleRef<ffi::uv_process_t, ProcessState>>);

impl Deref for Owner {
    type Target = HandleRef<ffi::uv_process_t, ProcessState>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // SAFETY: taken once, here; the field is not used again.
        let h = unsafe { ManuallyDrop::take(&mut self.0) };
        if h.state().is_ok_and(|st| st.status().is_none()) {
            // SAFETY: the box stays allocated: the owner moves into it, not away.
            let view = unsafe { HandleRef::<_, ProcessState>::borrowed(h.raw()) };
            if let Ok(st) = view.state() {
                st.keep.set(Some(h));
            }
        }
    }
}

/// A running (or finished) child process, from [`Command::spawn`] or
/// [`Command::spawn_cb`].
///
/// * [`wait`](Self::wait) resolves with the [`ExitStatus`], also when the process exited
///   long before; [`try_wait`](Self::try_wait) asks without waiting.
/// * The piped ends of its standard streams are the fields [`stdin`](Self::stdin),
///   [`stdout`](Self::stdout) and [`stderr`](Self::stderr) (take them out with
///   `Option::take`); other piped descriptors come from [`take_pipe`](Self::take_pipe).
///   Drop `stdin` (or shut it down) so that the child sees the end of its input.
/// * Dropping the `Child` does not kill the process; libuv still reaps it when it exits
///   (the handle closes then, so the loop keeps running until then; call
///   [`unref`](Self::unref) first to let it finish without waiting), and a
///   [`spawn_cb`](Command::spawn_cb) callback still runs.
/// * [`close`](Self::close) (or the loop shutting down) while the process runs gives up on
///   it: waiting futures get `EBADF`, the exit callback `ECANCELED`, and the process, no
///   longer reaped by libuv, stays a zombie after it exits until this process ends.
///
/// # Examples
///
/// ```
/// use uvio::process::Command;
///
/// let lp = uvio::Loop::new()?;
/// let child = Command::new("sleep").arg("10").spawn(&lp)?;
/// assert!(child.id() > 0);
/// child.kill(libc::SIGTERM)?;
/// let status = lp.block_on(child.wait())??;
/// assert_eq!(status.signal(), Some(libc::SIGTERM));
/// assert_eq!(child.kill(libc::SIGTERM).unwrap_err().name(), "ESRCH");
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct Child {
    h: Owner,
    /// The writing end of the child's standard input, when it was [`Stdio::piped`].
    pub stdin: Option<PipeStream>,
    /// The reading end of the child's standard output, when it was [`Stdio::piped`].
    pub stdout: Option<PipeStream>,
    /// The reading end of the child's standard error, when it was [`Stdio::piped`].
    pub stderr: Option<PipeStream>,
    /// Piped descriptors above 2, by number.
    extra: Vec<(u32, PipeStream)>,
}

handle_methods!(Child, h);

unsafe extern "C" fn on_exit(raw: *mut ffi::uv_process_t, exit_status: i64, term_signal: i32) {
    // SAFETY: libuv calls this only for live process handles created by `spawn_with`, before
    // their close callback; the view is never dropped, so it neither closes nor frees.
    let child = unsafe { Child::view(raw) };
    let _scope = crate::panic::scope(child.h.loop_inner());
    crate::panic::guard(child.h.loop_inner(), || {
        // SAFETY: libuv calls handle callbacks only before the close callback.
        let st = unsafe { child.h.state_unchecked() };
        // A parked owner (the `Child` was dropped) closes the handle when this returns, even
        // if the callback panics.
        let _keep = st.keep.take();
        let status = ExitStatus {
            code: exit_status,
            signal: term_signal,
        };
        if let Exit::Running { callback, wakers } = st.exit.replace(Exit::Exited(status)) {
            wakers.into_iter().for_each(Waker::wake);
            if let Some(cb) = callback {
                cb(&child, Ok(status));
            }
        }
    });
}

impl Child {
    /// A borrowed view of the child whose handle libuv passed to a callback.
    ///
    /// # Safety
    ///
    /// `raw` is a process handle made by `spawn_with` whose box is still allocated.
    unsafe fn view(raw: *mut ffi::uv_process_t) -> ManuallyDrop<Child> {
        // SAFETY: per the contract; never dropped, so it neither closes nor frees.
        let h = unsafe { HandleRef::borrowed(raw) };
        ManuallyDrop::new(Child {
            h: Owner(h),
            stdin: None,
            stdout: None,
            stderr: None,
            extra: Vec::new(),
        })
    }

    /// The process id. It stays readable after the exit, but the number may then belong
    /// to another process.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let child = uvio::process::Command::new("true").spawn(&lp)?;
    /// assert_ne!(child.id(), std::process::id());
    /// lp.block_on(child.wait())??;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        // SAFETY: the box is allocated while this value (owner or view) exists; `pid` is a
        // plain field libuv sets during `uv_spawn` and never changes.
        unsafe { (*self.h.raw()).pid as u32 }
    }

    /// Sends signal `signum` (`libc::SIGTERM`, ...) to the process (`uv_process_kill`).
    /// Unlike [`kill`] with the pid, it never signals another process that reused the
    /// number after this one exited.
    ///
    /// # Errors
    ///
    /// `ESRCH` once the process has exited, `EINVAL` for an invalid signal number, `EBADF`
    /// when the handle is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let child = uvio::process::Command::new("sleep").arg("10").spawn(&lp)?;
    /// child.kill(libc::SIGKILL)?;
    /// assert_eq!(lp.block_on(child.wait())??.signal(), Some(libc::SIGKILL));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn kill(&self, signum: i32) -> Result<()> {
        self.h
            // SAFETY: the handle is open and was spawned.
            .call(|h| unsafe { ffi::uv_process_kill(h, signum) })
            .map(drop)
            .map_err(|e| e.with_context("kill", self.id()))
    }

    /// The exit status if the process has exited, without waiting.
    ///
    /// # Errors
    ///
    /// `EBADF` when the handle is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let child = uvio::process::Command::new("sleep").arg("10").spawn(&lp)?;
    /// assert_eq!(child.try_wait()?, None);
    /// child.kill(libc::SIGTERM)?;
    /// lp.block_on(child.wait())??;
    /// assert!(child.try_wait()?.is_some());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        Ok(self.h.state()?.status())
    }

    /// Waits for the process to exit (at once if it already has). Any number of `wait`
    /// futures may wait at the same time.
    ///
    /// Standard input stays open: drop [`stdin`](Self::stdin) first for a child that reads
    /// it to the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let child = uvio::process::Command::new("false").spawn(&lp)?;
    /// assert_eq!(lp.block_on(child.wait())??.code(), Some(1));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn wait(&self) -> Wait<'_> {
        Wait { child: self }
    }

    /// The pipe to the child's descriptor `fd` (from [`Command::fd`] with
    /// [`Stdio::piped`]); `None` when it was not piped or was taken already. 0-2 give the
    /// `stdin`/`stdout`/`stderr` fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::process::{Command, Stdio};
    ///
    /// let lp = uvio::Loop::new()?;
    /// let mut child = Command::new("true").stdout(Stdio::piped()).spawn(&lp)?;
    /// assert!(child.take_pipe(1).is_some()); // the same as child.stdout.take()
    /// assert!(child.stdout.is_none());
    /// assert!(child.take_pipe(3).is_none());
    /// lp.block_on(child.wait())??;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn take_pipe(&mut self, fd: u32) -> Option<PipeStream> {
        match fd {
            0 => self.stdin.take(),
            1 => self.stdout.take(),
            2 => self.stderr.take(),
            _ => {
                let i = self.extra.iter().position(|(n, _)| *n == fd)?;
                Some(self.extra.swap_remove(i).1)
            }
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Child");
        d.field("id", &self.id());
        match self.try_wait() {
            Ok(Some(s)) => d.field("status", &s),
            Ok(None) => d.field("running", &true),
            Err(_) => d.field("closed", &true),
        };
        let piped = |p: &Option<PipeStream>| p.is_some();
        d.field("stdin", &piped(&self.stdin))
            .field("stdout", &piped(&self.stdout))
            .field("stderr", &piped(&self.stderr))
            .finish()
    }
}

/// The future of [`Child::wait`]: resolves with the exit status.
///
/// # Errors
///
/// `EBADF` when the handle is (or gets) closed before the process exited.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let child = uvio::process::Command::new("true").spawn(&lp)?;
/// let first = lp.block_on(child.wait())??;
/// let again = lp.block_on(child.wait())??; // after the exit: at once
/// assert_eq!(first, again);
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Wait<'a> {
    child: &'a Child,
}

impl Future for Wait<'_> {
    type Output = Result<ExitStatus>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<ExitStatus>> {
        let st = self.child.h.state()?;
        match st.exit.take() {
            Exit::Exited(s) => {
                st.exit.set(Exit::Exited(s));
                Poll::Ready(Ok(s))
            }
            Exit::Running {
                callback,
                mut wakers,
            } => {
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                st.exit.set(Exit::Running { callback, wakers });
                Poll::Pending
            }
        }
    }
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").field("child", self.child).finish()
    }
}

/// Sends signal `signum` to process `pid` (`uv_kill`); a negative `pid` signals a
/// process group, as `kill(2)` does. Signal 0 only checks that the process exists.
///
/// # Errors
///
/// `ESRCH` when there is no such process, `EPERM` when not allowed, `EINVAL` for an
/// invalid signal.
///
/// # Examples
///
/// ```
/// let me = std::process::id() as i32;
/// uvio::process::kill(me, 0)?; // exists
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn kill(pid: i32, signum: i32) -> Result<()> {
    // SAFETY: uv_kill has no memory preconditions.
    check(unsafe { ffi::uv_kill(pid, signum) })
        .map(drop)
        .map_err(|e| e.with_context("kill", pid))
}

/// Marks the descriptors this process inherited from its parent close-on-exec, so that
/// children spawned afterwards do not inherit them by accident
/// (`uv_disable_stdio_inheritance`). Best effort; call it early.
///
/// # Examples
///
/// ```
/// uvio::process::disable_stdio_inheritance();
/// ```
pub fn disable_stdio_inheritance() {
    // SAFETY: no preconditions; it only sets FD_CLOEXEC on descriptors.
    unsafe { ffi::uv_disable_stdio_inheritance() }
}
