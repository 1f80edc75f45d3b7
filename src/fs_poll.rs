//! Stat polling (`uv_fs_poll_t`): `stat` a path at an interval and report changes, with a
//! callback or as a `Stream`. Works where [`crate::FsEvent`] cannot (network file systems).

use std::path::{Path, PathBuf};

use std::time::Duration;

use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::fs::{CPath, Metadata};
use crate::fs_event::{Watch, WatchCb, watcher_methods};
use crate::handle::{HandleRef, handle_methods};

/// One change seen by [`FsPoll`]: the metadata before and after.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("f");
/// std::fs::write(&path, "a")?;
/// let lp = uvio::Loop::new()?;
/// let grew = Rc::new(Cell::new(false));
/// let p = uvio::FsPoll::new(&lp)?;
/// let g = grew.clone();
/// p.start(&path, Duration::from_millis(10), move |p, ev| {
///     // A poll may land between the truncate and the write: wait for the new size.
///     if ev.unwrap().curr.len() == 3 {
///         g.set(true);
///         p.close().unwrap();
///     }
/// })?;
/// // Write until the poll has seen it: its first stat runs on the threadpool and, late,
/// // may take the write as its starting point; each rewrite changes the mtime again.
/// let t = uvio::Timer::new(&lp)?;
/// let g = grew.clone();
/// t.start(Duration::from_millis(30), Duration::from_millis(30), move |t| {
///     if g.get() {
///         t.close().unwrap();
///     } else {
///         std::fs::write(&path, "abc").unwrap()
///     }
/// })?;
/// lp.run(uvio::RunMode::Default)?;
/// assert!(grew.get());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FsPollEvent {
    /// The previous stat (all zero when the file did not exist).
    pub prev: Metadata,
    /// The current stat (all zero when the file is gone).
    pub curr: Metadata,
}

type PollState = Watch<FsPoll, Result<FsPollEvent>>;

/// A stat poller (`uv_fs_poll_t`): reports when a path's metadata changes.
///
/// A missing path is reported once as an `ENOENT` error (and again only when the error
/// changes); when the file then appears an event follows.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("f");
/// std::fs::write(&path, "a")?;
/// let lp = uvio::Loop::new()?;
/// let ev = lp.block_on(async move {
///     let lp = uvio::LoopHandle::current().unwrap();
///     let mut polls = uvio::FsPoll::watch(&lp, &path, Duration::from_millis(10))?;
///     loop {
///         uvio::fs::write(&path, "longer").await?;
///         // The poll's first stat runs on the threadpool and, late, may take the write as
///         // its starting point: without a change for a while, write again.
///         if let Ok(ev) = uvio::time::timeout(Duration::from_millis(50), polls.next()).await {
///             let ev = ev.unwrap()?;
///             // A poll may land between the truncate and the write.
///             if ev.curr.len() == 6 {
///                 return Ok::<_, uvio::Error>(ev);
///             }
///         }
///     }
/// })??;
/// assert_eq!(ev.curr.len(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FsPoll {
    h: HandleRef<ffi::uv_fs_poll_t, PollState>,
}

handle_methods!(FsPoll, h);
watcher_methods!(
    FsPoll,
    ffi::uv_fs_poll_t,
    Result<FsPollEvent>,
    "fs_poll",
    uv_fs_poll_stop,
    uv_fs_poll_getpath,
    "uvio::FsPoll::watch(&lp, \"src\", std::time::Duration::from_secs(1))?"
);

unsafe extern "C" fn on_poll(
    raw: *mut ffi::uv_fs_poll_t,
    status: i32,
    prev: *const ffi::uv_stat_t,
    curr: *const ffi::uv_stat_t,
) {
    // SAFETY: libuv calls this only for live pollers created by `FsPoll::new`.
    let h = unsafe { FsPoll::view(raw) };
    let _scope = crate::panic::scope(h.h.loop_inner());
    crate::panic::guard(h.h.loop_inner(), || {
        // SAFETY: poll callbacks run only before the close callback.
        let st = unsafe { h.h.state_unchecked() };
        let ev = if status < 0 {
            Err(st.error("fs_poll", status))
        } else {
            // SAFETY: on success libuv passes two valid stat buffers for this call.
            let (p, c) = unsafe { (&*prev, &*curr) };
            Ok(FsPollEvent {
                prev: Metadata::from_raw(p),
                curr: Metadata::from_raw(c),
            })
        };
        st.deliver(&h, ev);
    });
}

impl FsPoll {
    /// Creates a poller on `lp` (`uv_fs_poll_init`).
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let p = uvio::FsPoll::new(&lp)?;
    /// assert!(!p.is_active());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new(lp: &LoopHandle) -> Result<FsPoll> {
        // SAFETY: uv_fs_poll_init initialises a uv_fs_poll_t on the loop.
        let h = unsafe { HandleRef::new(lp, Watch::new(), |l, h| ffi::uv_fs_poll_init(l, h))? };
        Ok(FsPoll { h })
    }

    /// Creates a poller already polling `path`, for use as a `Stream`.
    ///
    /// # Errors
    ///
    /// As [`FsPoll::start`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("f");
    /// std::fs::write(&path, "a")?;
    /// let lp = uvio::Loop::new()?;
    /// let mut p = uvio::FsPoll::watch(&lp, &path, Duration::from_millis(5))?;
    /// std::fs::remove_file(&path)?;
    /// let ev = lp.block_on(p.next())?.unwrap();
    /// // A vanished file is reported as ENOENT.
    /// assert_eq!(ev.unwrap_err().name(), "ENOENT");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch(lp: &LoopHandle, path: impl AsRef<Path>, interval: Duration) -> Result<FsPoll> {
        let p = FsPoll::new(lp)?;
        p.start_raw(path.as_ref(), interval, None)?;
        Ok(p)
    }

    /// Stats `path` every `interval` (millisecond resolution) and calls `callback` when it
    /// changes (`uv_fs_poll_start`).
    ///
    /// # Errors
    ///
    /// `EINVAL` for a NUL in the path, `EBADF` once closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("f");
    /// std::fs::write(&path, "a")?;
    /// let lp = uvio::Loop::new()?;
    /// let gone = Rc::new(Cell::new(false));
    /// let g2 = gone.clone();
    /// let p = uvio::FsPoll::new(&lp)?;
    /// p.start(&path, Duration::from_millis(5), move |p, ev| {
    ///     g2.set(ev.is_err());
    ///     p.stop().unwrap();
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(gone.get());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(
        &self,
        path: impl AsRef<Path>,
        interval: Duration,
        callback: impl FnMut(&FsPoll, Result<FsPollEvent>) + 'static,
    ) -> Result<()> {
        self.start_raw(path.as_ref(), interval, Some(Box::new(callback)))
    }

    fn start_raw(
        &self,
        path: &Path,
        interval: Duration,
        cb: Option<WatchCb<FsPoll, Result<FsPollEvent>>>,
    ) -> Result<()> {
        let ms = u32::try_from(crate::timer::millis(interval)).unwrap_or(u32::MAX);
        self.restart(path, cb, |h, p| {
            // SAFETY: the poller is open; libuv copies the path; on_poll matches its type.
            unsafe { ffi::uv_fs_poll_start(h, Some(on_poll), p, ms) }
        })
    }
}
