//! File system events (`uv_fs_event_t`): watch a file or directory for changes, with a
//! callback or as a `Stream`. Also the delivery state shared with [`crate::FsPoll`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::fs::CPath;
use crate::handle::{HandleRef, handle_methods};

pub(crate) type WatchCb<H, T> = Box<dyn FnMut(&H, T)>;

/// Where a watcher's events go: the user's callback, or a queue a `Stream` drains.
pub(crate) struct Watch<H, T> {
    cb: Cell<Option<WatchCb<H, T>>>,
    streaming: Cell<bool>,
    queue: RefCell<VecDeque<T>>,
    waker: Cell<Option<Waker>>,
    pub(crate) path: RefCell<Option<PathBuf>>,
}

impl<H, T> Watch<H, T> {
    pub(crate) fn new() -> Self {
        Watch {
            cb: Cell::new(None),
            streaming: Cell::new(false),
            queue: RefCell::new(VecDeque::new()),
            waker: Cell::new(None),
            path: RefCell::new(None),
        }
    }

    /// Switches to callback mode (`Some`) or stream mode (`None`).
    pub(crate) fn set(&self, cb: Option<WatchCb<H, T>>, path: &Path) {
        self.streaming.set(cb.is_none());
        self.cb.set(cb);
        *self.path.borrow_mut() = Some(path.to_path_buf());
    }

    /// After a stop: a stream ends once drained.
    pub(crate) fn stopped(&self) {
        self.streaming.set(false);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// One event: calls the callback (which may replace or drop itself re-entrantly), or
    /// queues it and wakes the stream.
    pub(crate) fn deliver(&self, h: &H, v: T) {
        if self.streaming.get() {
            self.queue.borrow_mut().push_back(v);
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        } else if let Some(mut cb) = self.cb.take() {
            cb(h, v);
            match self.cb.take() {
                None if !self.streaming.get() => self.cb.set(Some(cb)),
                other => self.cb.set(other),
            }
        }
    }

    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(v) = self.queue.borrow_mut().pop_front() {
            return Poll::Ready(Some(v));
        }
        if !self.streaming.get() {
            return Poll::Ready(None);
        }
        self.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// Error context: the operation and the watched path.
    pub(crate) fn error(&self, op: &'static str, code: i32) -> Error {
        match &*self.path.borrow() {
            Some(p) => Error::from_code(code).with_context(op, p.display()),
            None => Error::from_code(code).with_operation(op),
        }
    }
}

/// The methods FsEvent and FsPoll share, generated once for each: the borrowed view for
/// trampolines, (re)starting with a callback or as a stream, stop, path, `Stream`, `Debug`.
macro_rules! watcher_methods {
    ($ty:ident, $raw:ty, $item:ty, $op:literal, $stop:ident, $getpath:ident, $example:literal) => {
        impl $ty {
            /// A view of the watcher whose raw pointer libuv passed to a callback.
            ///
            /// # Safety
            ///
            /// `raw` is a live watcher created by this type's `new`.
            unsafe fn view(raw: *mut $raw) -> std::mem::ManuallyDrop<$ty> {
                // SAFETY: per the contract; the view is never dropped, so it neither closes
                // nor frees.
                let h = unsafe { HandleRef::borrowed(raw) };
                std::mem::ManuallyDrop::new($ty {
                    h: std::mem::ManuallyDrop::into_inner(h),
                })
            }

            /// Stops, installs the callback (or stream mode), and starts with `start`.
            fn restart(
                &self,
                path: &Path,
                cb: Option<$crate::fs_event::WatchCb<$ty, $item>>,
                start: impl FnOnce(*mut $raw, *const std::ffi::c_char) -> i32,
            ) -> Result<()> {
                let st = self.h.state()?;
                let c = CPath::new(path);
                let ctx = |e: Error| e.with_context($op, c.display());
                let p = c.ptr().map_err(ctx)?;
                // Restarting: stop first, as libuv refuses to start an active watcher.
                self.h.call(|h| {
                    // SAFETY: the watcher is initialised and open.
                    unsafe { ffi::$stop(h) }
                })?;
                st.set(cb, path);
                self.h.call(|h| start(h, p)).map_err(ctx)?;
                Ok(())
            }

            /// Stops watching; a stream ends once drained.
            ///
            /// # Errors
            ///
            /// `EBADF` once closed.
            ///
            /// # Examples
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            #[doc = concat!("let w = ", $example, ";")]
            /// assert!(w.is_active());
            /// w.stop()?;
            /// assert!(!w.is_active());
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn stop(&self) -> Result<()> {
                self.h.call(|h| {
                    // SAFETY: the watcher is initialised and open.
                    unsafe { ffi::$stop(h) }
                })?;
                self.h.state()?.stopped();
                Ok(())
            }

            /// The watched path.
            ///
            /// # Errors
            ///
            /// `EINVAL` when not started, `EBADF` once closed.
            ///
            /// # Examples
            ///
            /// ```
            /// let lp = uvio::Loop::new()?;
            #[doc = concat!("let w = ", $example, ";")]
            /// assert_eq!(w.path()?, std::path::Path::new("src"));
            /// # Ok::<(), uvio::Error>(())
            /// ```
            pub fn path(&self) -> Result<PathBuf> {
                $crate::fs_event::getpath(|buf, len| {
                    self.h.call(|h| {
                        // SAFETY: the watcher is open; libuv writes at most `*len` bytes.
                        unsafe { ffi::$getpath(h, buf, len) }
                    })
                })
            }
        }

        impl futures_core::Stream for $ty {
            type Item = $item;
            fn poll_next(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<$item>> {
                match self.h.state() {
                    Ok(st) => st.poll_next(cx),
                    Err(_) => std::task::Poll::Ready(None),
                }
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($ty));
                match self.h.state() {
                    Ok(st) => d
                        .field("path", &*st.path.borrow())
                        .field("active", &self.is_active()),
                    Err(_) => d.field("closed", &true),
                };
                d.finish()
            }
        }
    };
}
pub(crate) use watcher_methods;

/// What changed, as `uv_fs_event_cb` reports it.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
///
/// let dir = tempfile::tempdir()?;
/// let lp = uvio::Loop::new()?;
/// let seen: Rc<RefCell<Vec<uvio::FsEventInfo>>> = Rc::default();
/// let w = uvio::FsEvent::new(&lp)?;
/// let s = seen.clone();
/// w.start(dir.path(), false, move |w, ev| {
///     s.borrow_mut().push(ev.unwrap());
///     w.close().unwrap();
/// })?;
/// std::fs::write(dir.path().join("x"), "1")?;
/// lp.run(uvio::RunMode::Default)?;
/// assert!(seen.borrow()[0].rename);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsEventInfo {
    /// The file the event is about (relative to a watched directory), when libuv knows it.
    pub filename: Option<PathBuf>,
    /// `UV_RENAME`: something was created, removed or renamed.
    pub rename: bool,
    /// `UV_CHANGE`: contents or metadata changed.
    pub change: bool,
}

type EventState = Watch<FsEvent, Result<FsEventInfo>>;

/// A file system event watcher (`uv_fs_event_t`, inotify on Linux).
///
/// Start it with a callback ([`FsEvent::start`]), or create a watching one with
/// [`FsEvent::watch`] and use it as a `Stream` of events. Events may be coalesced, and the
/// exact set differs by platform.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let dir = tempfile::tempdir()?;
/// let lp = uvio::Loop::new()?;
/// let path = dir.path().to_path_buf();
/// let ev = lp.block_on(async move {
///     let mut events = uvio::FsEvent::watch(&uvio::LoopHandle::current().unwrap(), &path, false)?;
///     uvio::fs::write(path.join("new.txt"), "x").await?;
///     let ev = events.next().await.unwrap()?;
///     Ok::<_, uvio::Error>(ev)
/// })??;
/// assert_eq!(ev.filename.as_deref(), Some(std::path::Path::new("new.txt")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FsEvent {
    h: HandleRef<ffi::uv_fs_event_t, EventState>,
}

handle_methods!(FsEvent, h);
watcher_methods!(
    FsEvent,
    ffi::uv_fs_event_t,
    Result<FsEventInfo>,
    "fs_event",
    uv_fs_event_stop,
    uv_fs_event_getpath,
    "uvio::FsEvent::watch(&lp, \"src\", false)?"
);

unsafe extern "C" fn on_event(
    raw: *mut ffi::uv_fs_event_t,
    filename: *const std::ffi::c_char,
    events: i32,
    status: i32,
) {
    // SAFETY: libuv calls this only for live watchers created by `FsEvent::new`.
    let h = unsafe { FsEvent::view(raw) };
    let _scope = crate::panic::scope(h.h.loop_inner());
    crate::panic::guard(h.h.loop_inner(), || {
        // SAFETY: watcher callbacks run only before the close callback.
        let st = unsafe { h.h.state_unchecked() };
        let ev = if status < 0 {
            Err(st.error("fs_event", status))
        } else {
            Ok(FsEventInfo {
                // SAFETY: libuv passes null or a valid NUL-terminated name.
                filename: (!filename.is_null())
                    .then(|| unsafe { crate::fs::path_from_c(filename) }),
                rename: events & ffi::UV_RENAME as i32 != 0,
                change: events & ffi::UV_CHANGE as i32 != 0,
            })
        };
        st.deliver(&h, ev);
    });
}

impl FsEvent {
    /// Creates a watcher on `lp` (`uv_fs_event_init`); it watches nothing until started.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let w = uvio::FsEvent::new(&lp)?;
    /// assert!(!w.is_active());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new(lp: &LoopHandle) -> Result<FsEvent> {
        // SAFETY: uv_fs_event_init initialises a uv_fs_event_t on the loop.
        let h = unsafe { HandleRef::new(lp, Watch::new(), |l, h| ffi::uv_fs_event_init(l, h))? };
        Ok(FsEvent { h })
    }

    /// Creates a watcher that is already watching `path`, for use as a `Stream`.
    ///
    /// # Errors
    ///
    /// As [`FsEvent::start`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// let dir = tempfile::tempdir()?;
    /// let lp = uvio::Loop::new()?;
    /// let mut w = uvio::FsEvent::watch(&lp, dir.path(), false)?;
    /// std::fs::write(dir.path().join("new"), "x")?;
    /// let ev = lp.block_on(w.next())?.unwrap()?;
    /// assert_eq!(ev.filename.as_deref(), Some(std::path::Path::new("new")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch(lp: &LoopHandle, path: impl AsRef<Path>, recursive: bool) -> Result<FsEvent> {
        let w = FsEvent::new(lp)?;
        w.start_raw(path.as_ref(), recursive, None)?;
        Ok(w)
    }

    /// Watches `path` and calls `callback` for each event (`uv_fs_event_start`). `recursive`
    /// watches subdirectories where the platform can (macOS, Windows; not Linux).
    ///
    /// # Errors
    ///
    /// `ENOENT` for a missing path, `EINVAL` for a NUL in it, `EBADF` once closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let dir = tempfile::tempdir()?;
    /// let lp = uvio::Loop::new()?;
    /// let seen = Rc::new(RefCell::new(None));
    /// let s2 = seen.clone();
    /// let w = uvio::FsEvent::new(&lp)?;
    /// w.start(dir.path(), false, move |w, ev| {
    ///     *s2.borrow_mut() = ev.ok().and_then(|e| e.filename);
    ///     w.stop().unwrap();
    /// })?;
    /// std::fs::write(dir.path().join("new"), "x")?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(seen.borrow().as_deref(), Some(std::path::Path::new("new")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(
        &self,
        path: impl AsRef<Path>,
        recursive: bool,
        callback: impl FnMut(&FsEvent, Result<FsEventInfo>) + 'static,
    ) -> Result<()> {
        self.start_raw(path.as_ref(), recursive, Some(Box::new(callback)))
    }

    fn start_raw(
        &self,
        path: &Path,
        recursive: bool,
        cb: Option<WatchCb<FsEvent, Result<FsEventInfo>>>,
    ) -> Result<()> {
        let flags = if recursive {
            ffi::UV_FS_EVENT_RECURSIVE
        } else {
            0
        };
        self.restart(path, cb, |h, p| {
            // SAFETY: the watcher is open; libuv copies the path; on_event matches its type.
            unsafe { ffi::uv_fs_event_start(h, Some(on_event), p, flags) }
        })
    }
}

/// Reads a path with libuv's "buffer and size, ENOBUFS means grow" protocol.
pub(crate) fn getpath(
    mut call: impl FnMut(*mut std::ffi::c_char, *mut usize) -> Result<i32>,
) -> Result<PathBuf> {
    let mut cap = 256usize;
    loop {
        let mut buf = vec![0u8; cap];
        let mut len = cap;
        match call(buf.as_mut_ptr().cast(), &mut len) {
            Ok(_) => {
                buf.truncate(len);
                return Ok(PathBuf::from(std::ffi::OsString::from(
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&buf),
                )));
            }
            Err(e) if e.name() == "ENOBUFS" && len > cap => cap = len + 1,
            Err(e) => return Err(e),
        }
    }
}
