//! `JoinHandle`: the output slot shared by a spawned task and whoever awaits it.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::task::Task;

/// Why a task produced no value: it was aborted (or its loop shut down), or it panicked.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let err: uvio::JoinError = lp.block_on(async {
///     let t = uvio::spawn_local(std::future::pending::<()>());
///     t.abort();
///     t.await.unwrap_err()
/// })?;
/// assert!(err.is_cancelled());
/// assert_eq!(err.to_string(), "task was cancelled");
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct JoinError {
    panic: Option<Box<dyn Any + Send>>,
}

impl JoinError {
    /// True when the task was aborted or dropped by its loop's shutdown.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let err = lp.block_on(async {
    ///     let t = uvio::spawn_local(std::future::pending::<()>());
    ///     t.abort();
    ///     t.await.unwrap_err()
    /// })?;
    /// assert!(err.is_cancelled() && !err.is_panic());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.panic.is_none()
    }

    /// True when the task panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let err = lp.block_on(async {
    ///     uvio::spawn_local(async { panic!("boom") }).await.unwrap_err()
    /// })?;
    /// assert!(err.is_panic() && !err.is_cancelled());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_panic(&self) -> bool {
        self.panic.is_some()
    }

    /// The panic payload, to resume with `std::panic::resume_unwind`.
    ///
    /// # Errors
    ///
    /// Gives the error back when the task was cancelled rather than panicking.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let err = lp.block_on(async {
    ///     uvio::spawn_local(async { panic!("boom") }).await.unwrap_err()
    /// })?;
    /// let payload = err.try_into_panic().unwrap();
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.panic {
            Some(p) => Ok(p),
            None => Err(self),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.panic {
            None => f.write_str("JoinError::Cancelled"),
            Some(_) => f.write_str("JoinError::Panic(..)"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.panic {
            None => f.write_str("task was cancelled"),
            Some(p) => match p
                .downcast_ref::<&str>()
                .copied()
                .or(p.downcast_ref::<String>().map(String::as_str))
            {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}

struct JoinState<T> {
    result: Cell<Option<Result<T, JoinError>>>,
    finished: Cell<bool>,
    waker: Cell<Option<Waker>>,
    detached: Cell<bool>,
    /// A `Cell`, not a `RefCell` (8 bytes less per task): taken out and put back around use.
    task: Cell<Option<Arc<Task>>>,
}

impl<T> JoinState<T> {
    fn complete(&self, r: Result<T, JoinError>) {
        if self.finished.replace(true) {
            return;
        }
        if self.detached.get() {
            if let Err(JoinError { panic: Some(p) }) = r {
                // Nobody will look at the handle: resume the panic from the loop's run.
                let cur = crate::panic::current();
                if cur.is_null() {
                    crate::panic::drop_payload(p);
                } else {
                    // SAFETY: `current` points at a live LoopInner while set.
                    unsafe { (*cur).store_panic(p) };
                }
            }
            return;
        }
        self.result.set(Some(r));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// An owned permission to await a spawned task's output, from [`crate::spawn_local`].
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task panicked or was aborted.
/// Dropping it *detaches* the task, which keeps running; use [`JoinHandle::abort`] to cancel.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let lp = uvio::Loop::new()?;
/// lp.block_on(async {
///     let t = uvio::spawn_local(async {
///         uvio::time::sleep(Duration::from_secs(3600)).await;
///     });
///     t.abort();
///     assert!(t.await.unwrap_err().is_cancelled());
/// })?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct JoinHandle<T> {
    state: Rc<JoinState<T>>,
}

impl<T> JoinHandle<T> {
    /// Cancels the task: its future is dropped (at once, or after its current poll), and the
    /// handle resolves to a cancelled [`JoinError`] unless the task had already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let t = uvio::spawn_local(std::future::pending::<()>());
    ///     t.abort();
    ///     assert!(t.await.unwrap_err().is_cancelled());
    /// })?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn abort(&self) {
        let task = self.state.task.take();
        if let Some(t) = &task {
            t.abort();
        }
        self.state.task.set(task);
    }

    /// True once the task has finished (completed, panicked or been cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let t = lp.spawn_local(async { 1 });
    /// assert!(!t.is_finished());
    /// lp.run(uvio::RunMode::Default)?; // polls the task
    /// assert!(t.is_finished());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.state.finished.get()
    }

    pub(crate) fn set_task(&self, t: Arc<Task>) {
        self.state.task.set(Some(t));
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(r) = self.state.result.take() {
            return Poll::Ready(r);
        }
        if self.state.finished.get() {
            // Already taken by an earlier poll.
            return Poll::Ready(Err(JoinError { panic: None }));
        }
        self.state.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.state.detached.set(true);
        drop(self.state.task.take());
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.state.finished.get())
            .finish()
    }
}

/// The future the executor runs for a spawned `F`: catches its panic and stores its output.
pub(crate) struct Spawned<F: Future> {
    fut: F,
    state: Rc<JoinState<F::Output>>,
}

impl<F: Future> Future for Spawned<F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of `Spawned`, and
        // `Spawned` does not implement Unpin-dependent moves (Drop only touches `state`).
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.fut` stays where the pinned `Spawned` is.
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                this.state.complete(Ok(v));
                Poll::Ready(())
            }
            Err(p) => {
                this.state.complete(Err(JoinError { panic: Some(p) }));
                Poll::Ready(())
            }
        }
    }
}

impl<F: Future> Drop for Spawned<F> {
    fn drop(&mut self) {
        // Dropped before completing: aborted, or the loop shut down.
        self.state.complete(Err(JoinError { panic: None }));
    }
}

/// Wraps `fut` for the executor and makes its handle.
pub(crate) fn wrap<F: Future>(fut: F) -> (Spawned<F>, JoinHandle<F::Output>) {
    let state = Rc::new(JoinState {
        result: Cell::new(None),
        finished: Cell::new(false),
        waker: Cell::new(None),
        detached: Cell::new(false),
        task: Cell::new(None),
    });
    (
        Spawned {
            fut,
            state: Rc::clone(&state),
        },
        JoinHandle { state },
    )
}
