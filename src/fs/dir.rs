//! Directories: [`Dir`] (an open `uv_dir_t`), [`DirEntry`], and [`ReadDir`], the stream of
//! [`read_dir`](super::read_dir) backed by `opendir`/`readdir` so huge directories stream.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::op::{FsFuture, run_sync};
use super::table::ops;
use super::{FileType, Metadata};
use crate::error::{Error, Result};
use crate::ffi;

/// An open `uv_dir_t`, shared by a [`Dir`] and a read in flight; closed (synchronously, it
/// is cheap) when the last holder lets go.
pub(crate) struct DirCell {
    ptr: Cell<*mut ffi::uv_dir_t>,
    busy: Cell<bool>,
    path: PathBuf,
}

impl DirCell {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The open directory, or `EBADF`.
    pub(crate) fn raw(&self) -> Result<*mut ffi::uv_dir_t> {
        let p = self.ptr.get();
        if p.is_null() {
            Err(Error::EBADF)
        } else {
            Ok(p)
        }
    }

    /// Forgets the directory (a close request freed it).
    pub(crate) fn forget(&self) {
        self.ptr.set(std::ptr::null_mut());
    }

    /// Points the directory's entry array at `ents` for one `uv_fs_readdir`.
    pub(crate) fn begin_read(
        &self,
        ents: &mut Vec<ffi::uv_dirent_t>,
    ) -> Result<*mut ffi::uv_dir_t> {
        if self.busy.get() {
            return Err(Error::EBUSY);
        }
        let p = self.raw()?;
        // SAFETY: `p` is an open uv_dir_t owned by this cell; no read is in flight, so
        // nobody else uses its entry fields. The array is heap memory that the read request
        // keeps alive until it completes.
        unsafe {
            (*p).dirents = ents.as_mut_ptr();
            (*p).nentries = ents.capacity();
        }
        self.busy.set(true);
        Ok(p)
    }

    pub(crate) fn end_read(&self) {
        self.busy.set(false);
    }
}

impl Drop for DirCell {
    fn drop(&mut self) {
        let p = self.ptr.replace(std::ptr::null_mut());
        if p.is_null() {
            return;
        }
        let op = ops::Closedir {
            dir: Some(DirCell {
                ptr: Cell::new(p),
                busy: Cell::new(false),
                path: std::mem::take(&mut self.path),
            }),
        };
        let _ = run_sync(op);
    }
}

/// An open directory (`uv_dir_t`), read in batches with [`readdir`](super::readdir).
/// Dropping it closes it.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// lp.block_on(async {
///     let dir = uvio::fs::opendir("src").await?;
///     let mut names = Vec::new();
///     loop {
///         let batch = uvio::fs::readdir(&dir, 16).await?;
///         if batch.is_empty() {
///             break;
///         }
///         names.extend(batch.into_iter().map(|e| e.file_name()));
///     }
///     uvio::fs::closedir(dir).await?;
///     assert!(names.iter().any(|n| n == "lib.rs"));
///     Ok::<(), uvio::Error>(())
/// })??;
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct Dir {
    cell: Rc<DirCell>,
}

impl Dir {
    pub(crate) fn from_raw(ptr: *mut ffi::uv_dir_t, path: PathBuf) -> Dir {
        Dir {
            cell: Rc::new(DirCell {
                ptr: Cell::new(ptr),
                busy: Cell::new(false),
                path,
            }),
        }
    }

    pub(crate) fn cell(&self) -> Rc<DirCell> {
        Rc::clone(&self.cell)
    }

    pub(crate) fn into_cell(self) -> Option<DirCell> {
        Rc::try_unwrap(self.cell).ok()
    }

    /// The path it was opened with.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = uvio::fs::sync::opendir("src")?;
    /// assert_eq!(dir.path(), std::path::Path::new("src"));
    /// uvio::fs::sync::closedir(dir)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.cell.path
    }
}

impl fmt::Debug for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dir")
            .field("path", &self.cell.path)
            .field("open", &self.cell.raw().is_ok())
            .finish()
    }
}

/// One directory entry: its name, its full path and its type (from the directory listing,
/// without a `stat`).
///
/// # Examples
///
/// ```
/// let entries = uvio::fs::sync::scandir("src")?;
/// let lib = entries.iter().find(|e| e.file_name() == "lib.rs").unwrap();
/// assert!(lib.file_type().is_file());
/// assert_eq!(lib.path(), std::path::Path::new("src/lib.rs"));
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    path: PathBuf,
    file_type: FileType,
}

impl DirEntry {
    /// An entry from libuv's name and type.
    ///
    /// # Safety
    ///
    /// `name` is a valid NUL-terminated string.
    pub(crate) unsafe fn from_raw(
        base: &Path,
        name: *const std::ffi::c_char,
        t: ffi::uv_dirent_type_t,
    ) -> DirEntry {
        // SAFETY: per the contract.
        let name = unsafe { super::path_from_c(name) };
        DirEntry {
            path: base.join(name),
            file_type: FileType::from_dirent(t),
        }
    }

    /// The full path: the directory's path joined with the name.
    ///
    /// # Examples
    ///
    /// ```
    /// let entries = uvio::fs::sync::scandir("src")?;
    /// assert!(entries.iter().any(|e| e.path() == std::path::Path::new("src/lib.rs")));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bare name.
    ///
    /// # Examples
    ///
    /// ```
    /// let entries = uvio::fs::sync::scandir("src")?;
    /// assert!(entries.iter().any(|e| e.file_name() == "lib.rs"));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn file_name(&self) -> OsString {
        let name = self.path.file_name().map(|n| n.as_bytes()).unwrap_or(b"");
        std::ffi::OsStr::from_bytes(name).to_os_string()
    }

    /// The type the listing reported (may be [`FileType::Unknown`] on some file systems).
    ///
    /// # Examples
    ///
    /// ```
    /// let entries = uvio::fs::sync::scandir("src")?;
    /// let fs_dir = entries.iter().find(|e| e.file_name() == "fs").unwrap();
    /// // Some file systems do not report types in listings.
    /// assert!(fs_dir.file_type().is_dir() || fs_dir.file_type() == uvio::fs::FileType::Unknown);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn file_type(&self) -> FileType {
        self.file_type
    }

    /// The entry's metadata, not following a symlink (like std's `DirEntry::metadata`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let entries = uvio::fs::sync::scandir("src")?;
    /// let lib = entries.iter().find(|e| e.file_name() == "lib.rs").unwrap();
    /// let meta = lp.block_on(lib.metadata())??;
    /// assert!(meta.is_file() && meta.len() > 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn metadata(&self) -> FsFuture<ops::Lstat> {
        super::symlink_metadata(&self.path)
    }

    /// The entry's metadata now; blocking.
    ///
    /// # Errors
    ///
    /// As [`super::sync::symlink_metadata`].
    ///
    /// # Examples
    ///
    /// ```
    /// let entries = uvio::fs::sync::scandir("src")?;
    /// let fs_dir = entries.iter().find(|e| e.file_name() == "fs").unwrap();
    /// assert!(fs_dir.metadata_sync()?.is_dir());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn metadata_sync(&self) -> Result<Metadata> {
        super::sync::symlink_metadata(&self.path)
    }
}

const BATCH: usize = 64;

enum RdState {
    Opening(FsFuture<ops::Opendir>),
    Reading {
        dir: Dir,
        read: Option<FsFuture<ops::Readdir>>,
    },
    Done,
}

/// The stream of [`read_dir`](super::read_dir): entries in batches of 64 through
/// `uv_fs_readdir`, so a huge directory never sits in memory at once. Ends after the last
/// entry or the first error.
///
/// # Examples
///
/// ```
/// use futures::TryStreamExt;
///
/// let lp = uvio::Loop::new()?;
/// let names: Vec<_> = lp.block_on(async {
///     uvio::fs::read_dir("src").map_ok(|e| e.file_name()).try_collect::<Vec<_>>().await
/// })??;
/// assert!(names.iter().any(|n| n == "lib.rs"));
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct ReadDir {
    st: RdState,
    queue: VecDeque<DirEntry>,
}

impl ReadDir {
    pub(crate) fn new(path: &Path) -> ReadDir {
        ReadDir {
            st: RdState::Opening(super::opendir(path)),
            queue: VecDeque::new(),
        }
    }
}

impl Stream for ReadDir {
    type Item = Result<DirEntry>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(e) = this.queue.pop_front() {
                return Poll::Ready(Some(Ok(e)));
            }
            match &mut this.st {
                RdState::Done => return Poll::Ready(None),
                RdState::Opening(f) => match Pin::new(f).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(dir)) => this.st = RdState::Reading { dir, read: None },
                    Poll::Ready(Err(e)) => {
                        this.st = RdState::Done;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                RdState::Reading { dir, read } => {
                    let f = read.get_or_insert_with(|| super::readdir(dir, BATCH));
                    match Pin::new(f).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(batch)) if batch.is_empty() => this.st = RdState::Done,
                        Poll::Ready(Ok(batch)) => {
                            *read = None;
                            this.queue.extend(batch);
                        }
                        Poll::Ready(Err(e)) => {
                            this.st = RdState::Done;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
            }
        }
    }
}

use std::future::Future;

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.st {
            RdState::Opening(_) => "opening",
            RdState::Reading { .. } => "reading",
            RdState::Done => "done",
        };
        f.debug_struct("ReadDir")
            .field("state", &state)
            .field("buffered", &self.queue.len())
            .finish()
    }
}
