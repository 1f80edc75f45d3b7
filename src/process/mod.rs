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

pub use command::{Command, Stdio};

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::PipeStream;
use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
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

/// How a child process ended: its exit code, or the signal that terminated it.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let status = lp.block_on(uvio::process::Command::new("false").status())??;
/// assert_eq!(status.code(), Some(1));
/// assert_eq!(status.signal(), None);
/// assert!(!status.success());
/// assert_eq!(status.to_string(), "exit status: 1");
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitStatus {
    code: i64,
    signal: i32,
}

impl ExitStatus {
    /// The exit code; `None` when a signal terminated the process.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = lp.block_on(uvio::process::Command::new("sh").args(["-c", "exit 7"]).status())??;
    /// assert_eq!(s.code(), Some(7));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn code(&self) -> Option<i64> {
        (self.signal == 0).then_some(self.code)
    }

    /// The signal that terminated the process, if one did.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = lp.block_on(uvio::process::Command::new("sh").args(["-c", "kill -KILL $$"]).status())??;
    /// assert_eq!(s.signal(), Some(libc::SIGKILL));
    /// assert_eq!(s.code(), None);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn signal(&self) -> Option<i32> {
        (self.signal != 0).then_some(self.signal)
    }

    /// True for exit code 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// assert!(lp.block_on(uvio::process::Command::new("true").status())??.success());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn success(&self) -> bool {
        self.code() == Some(0)
    }
}

/// The name of a common signal, for messages.
fn signal_name(signum: i32) -> Option<&'static str> {
    Some(match signum {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return None,
    })
}

impl fmt::Display for ExitStatus {
    /// `exit status: 1` or `signal: 15 (SIGTERM)`, as std says it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.signal(), self.signal().and_then(signal_name)) {
            (None, _) => write!(f, "exit status: {}", self.code),
            (Some(s), Some(name)) => write!(f, "signal: {s} ({name})"),
            (Some(s), None) => write!(f, "signal: {s}"),
        }
    }
}

impl fmt::Debug for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExitStatus({self})")
    }
}

/// What [`Command::output`] collected: the exit status and everything the child wrote to
/// its standard output and standard error.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let out = lp.block_on(
///     uvio::process::Command::new("sh")
///         .args(["-c", "echo out; echo err >&2; exit 3"])
///         .output(),
/// )??;
/// assert_eq!(out.status.code(), Some(3));
/// assert_eq!(out.stdout, b"out\n");
/// assert_eq!(out.stderr, b"err\n");
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// How the child ended.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
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

/// Makes a process handle that `uv_spawn` unlinked from its loop's handle list safe to
/// close. On a failure before the fork (no pipe could be made, a stream without a
/// descriptor) libuv 1.x removes the handle from the list yet requires `uv_close`, whose
/// last step removes it again: with neighbours that changed meanwhile, that would corrupt
/// the list. Linking the entry to itself makes the second removal a no-op.
///
/// # Safety
///
/// `p` was just initialised by `uv_spawn`, and no handle was opened or closed since.
unsafe fn relink_if_unlinked(p: *mut ffi::uv_process_t) {
    // SAFETY: per the contract, `prev` is the list neighbour the entry had, which is still
    // alive (nothing was closed since); the entry itself is ours.
    unsafe {
        let q = &raw mut (*p).handle_queue;
        if (*(*q).prev).next != q {
            (*q).next = q;
            (*q).prev = q;
        }
    }
}

impl Command {
    /// Starts the child on `lp` (`uv_spawn`). Descriptors 0-2 not configured are
    /// inherited from this process.
    ///
    /// # Errors
    ///
    /// `ENOENT` when the program is not found (the message names it), `EACCES` when it is
    /// not executable, the error of `chdir` for a bad [`current_dir`](Self::current_dir)
    /// (the message names the directory), `EPERM` for a [`uid`](Self::uid) or
    /// [`gid`](Self::gid) not allowed, `EINVAL` for a NUL byte in the program, an argument,
    /// the environment or the directory (checked before anything starts), `EBADF` for a
    /// closed stream given as a descriptor, or when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let e = uvio::process::Command::new("no-such-program").spawn(&lp).unwrap_err();
    /// assert_eq!(e.name(), "ENOENT");
    /// assert!(e.to_string().contains("no-such-program"));
    /// let child = uvio::process::Command::new("true").spawn(&lp)?;
    /// assert!(lp.block_on(child.wait())??.success());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn spawn(&mut self, lp: &LoopHandle) -> Result<Child> {
        self.spawn_with(lp, &inherit_all(), None)
    }

    /// Like [`spawn`](Self::spawn), and calls `on_exit` on the loop thread when the process
    /// exits: with its status, or with `ECANCELED` if the handle is closed first (by
    /// [`Child::close`] or the loop shutting down). It runs also when the `Child` was
    /// dropped. It gets a view of the `Child` (whose `stdin`/`stdout`/`stderr` are `None`:
    /// they belong to the owner).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn); `on_exit` is then dropped without being called.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use uvio::RunMode;
    ///
    /// let lp = uvio::Loop::new()?;
    /// let code = Rc::new(Cell::new(None));
    /// let seen = code.clone();
    /// let child = uvio::process::Command::new("sh")
    ///     .args(["-c", "exit 42"])
    ///     .spawn_cb(&lp, move |_child, status| seen.set(status.unwrap().code()))?;
    /// drop(child); // the callback still runs
    /// lp.run(RunMode::Default)?;
    /// assert_eq!(code.get(), Some(42));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn spawn_cb(
        &mut self,
        lp: &LoopHandle,
        on_exit: impl FnOnce(&Child, Result<ExitStatus>) + 'static,
    ) -> Result<Child> {
        self.spawn_with(lp, &inherit_all(), Some(Box::new(on_exit)))
    }

    /// Runs the child to the end on the current loop and returns its status. Descriptors
    /// 0-2 not configured are inherited; a piped stdin is closed at once.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn); `EINVAL` when polled outside a uvio loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let status = lp.block_on(uvio::process::Command::new("true").status())??;
    /// assert!(status.success());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub async fn status(&mut self) -> Result<ExitStatus> {
        let lp = current_loop("Command::status")?;
        let mut child = self.spawn_with(&lp, &inherit_all(), None)?;
        drop(child.stdin.take());
        child.wait().await
    }

    /// Runs the child to the end on the current loop, collecting its standard output and
    /// standard error (piped unless configured otherwise; stdin is [`Stdio::null`] unless
    /// configured).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), a read error, `EINVAL` when polled outside a uvio loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let out = lp.block_on(uvio::process::Command::new("echo").arg("hi").output())??;
    /// assert_eq!(out.stdout, b"hi\n");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub async fn output(&mut self) -> Result<Output> {
        let lp = current_loop("Command::output")?;
        let defaults = [Stdio::null(), Stdio::piped(), Stdio::piped()];
        let mut child = self.spawn_with(&lp, &defaults, None)?;
        drop(child.stdin.take());
        let (stdout, stderr, status) = futures_util::future::try_join3(
            read_all(child.stdout.take()),
            read_all(child.stderr.take()),
            child.wait(),
        )
        .await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    fn spawn_with(
        &self,
        lp: &LoopHandle,
        defaults: &[Stdio; 3],
        callback: Option<Box<ExitCallback>>,
    ) -> Result<Child> {
        let mut c = self.to_c()?;
        let null = Stdio::null();
        let n = self.stdio_count();
        let mut containers = Vec::with_capacity(n);
        let mut pipes = Vec::with_capacity(n);
        for fd in 0..n {
            let cfg = self.stdio_of(fd, defaults.get(fd).unwrap_or(&null));
            let (cont, pipe) = command::container(lp, fd, cfg)
                .map_err(|e| e.with_context("spawn", self.shown()))?;
            containers.push(cont);
            pipes.push(pipe);
        }
        let state = ProcessState {
            exit: Cell::new(Exit::Running {
                callback,
                wakers: Vec::new(),
            }),
            keep: Cell::new(None),
            raw: Cell::new(std::ptr::null_mut()),
        };
        let opts = c.options(&mut containers, Some(on_exit));
        let mut ret = 0;
        // SAFETY: uv_spawn initialises the handle on the loop whether it succeeds or not,
        // and either way it must be closed with uv_close, so `init` reports success and the
        // real result goes to `ret`; the HandleRef's drop then closes it. `opts` points into
        // `c` and `containers`, which outlive the call (libuv keeps none of it); the piped
        // containers point at initialised pipe handles on this loop.
        let h = unsafe {
            HandleRef::new(lp, state, |l, p| {
                ret = ffi::uv_spawn(l, p, &opts);
                if ret < 0 {
                    relink_if_unlinked(p);
                }
                0
            })?
        };
        let st = h.state()?;
        if let Err(e) = check(ret) {
            // Not started: the callback is dropped, not called with ECANCELED.
            st.exit.set(Exit::default());
            return Err(self.spawn_error(e));
        }
        st.raw.set(h.raw());
        let mut pipes = pipes.into_iter();
        let mut next = || pipes.next().flatten();
        let (stdin, stdout, stderr) = (next(), next(), next());
        let extra = (3..)
            .zip(pipes)
            .filter_map(|(fd, p)| Some((fd, p?)))
            .collect();
        Ok(Child {
            h: Owner(ManuallyDrop::new(h)),
            stdin,
            stdout,
            stderr,
            extra,
        })
    }

    /// The error of a failed `uv_spawn`, naming the program, or the directory when that is
    /// what is missing.
    fn spawn_error(&self, e: Error) -> Error {
        match self.get_current_dir() {
            Some(dir) if !dir.is_dir() => e.with_context("spawn: chdir", dir.display()),
            _ => e.with_context("spawn", self.shown()),
        }
    }
}

/// The descriptors 0-2 of `spawn`, `spawn_cb` and `status` when not configured.
fn inherit_all() -> [Stdio; 3] {
    [Stdio::inherit(), Stdio::inherit(), Stdio::inherit()]
}

fn current_loop(op: &'static str) -> Result<LoopHandle> {
    LoopHandle::current().ok_or_else(|| Error::EINVAL.with_context(op, "outside a uvio loop"))
}

/// Reads `pipe` to its end.
async fn read_all(pipe: Option<PipeStream>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let Some(mut pipe) = pipe else {
        return Ok(out);
    };
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = std::future::poll_fn(|cx| {
            futures_io::AsyncRead::poll_read(Pin::new(&mut pipe), cx, &mut buf)
        })
        .await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
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
