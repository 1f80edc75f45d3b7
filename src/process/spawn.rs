//! Starting a child: `uv_spawn` with a [`Command`]'s C options, and the futures that run
//! one to the end.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::pin::Pin;

use super::{
    Child, Command, Exit, ExitCallback, ExitStatus, Output, Owner, ProcessState, Stdio, on_exit,
    stdio,
};
use crate::PipeStream;
use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::HandleRef;

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
    /// As [`spawn`](Self::spawn).
    ///
    /// # Panics
    ///
    /// When first polled outside a uvio loop (use [`spawn`](Self::spawn) and
    /// [`Child::wait`] to give a loop).
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
        let lp = LoopHandle::current_or_panic("uvio::process::Command::status");
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
    /// As [`spawn`](Self::spawn), a read error.
    ///
    /// # Panics
    ///
    /// When first polled outside a uvio loop.
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
        let lp = LoopHandle::current_or_panic("uvio::process::Command::output");
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
        // The child's ends of the pipes uvio made (descriptors above 2): open until
        // `uv_spawn` has returned, closed in this process afterwards.
        let mut child_ends = Vec::new();
        for fd in 0..n {
            let cfg = self.stdio_of(fd, defaults.get(fd).unwrap_or(&null));
            let slot =
                stdio::container(lp, fd, cfg).map_err(|e| e.with_context("spawn", self.shown()))?;
            containers.push(slot.container);
            pipes.push(slot.pipe);
            child_ends.extend(slot.child_end);
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
        drop(child_ends);
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
