//! The file system: every `uv_fs_*` operation in three forms, a std-shaped layer on top,
//! and [`File`] with positioned and cursor I/O.
//!
//! * **Futures** (this module): `uvio::fs::metadata(path).await`. The request starts on
//!   the current loop when first polled.
//! * **Callbacks** ([`cb`]): `uvio::fs::cb::metadata(&lp, path, |r| ..)`, same names, the
//!   loop first and the callback last; it runs on the loop thread.
//! * **Synchronous** ([`sync`]): `uvio::fs::sync::metadata(path)`, libuv's own
//!   synchronous mode (`cb = NULL`), blocking the calling thread.
//!
//! All three run one implementation: each operation is a type in [`ops`] that says how to
//! start its `uv_fs_*` call and how to read its result. Names follow std where the
//! operation is std's (`metadata`, `remove_file`, `rename`, `read_link`, `canonicalize`,
//! `hard_link`, `remove_dir`) and libuv's otherwise (`mkdir`, `scandir`, `copyfile`,
//! `sendfile`, `fstat`, ...). Whole-file helpers with std/tokio names (`read`,
//! `read_to_string`, `write`, `copy`, `create_dir_all`, `remove_dir_all`, `read_dir`, ...)
//! are futures built on those operations.
//!
//! Paths are `AsRef<Path>` and go to libuv as their raw bytes, so non-UTF-8 names work; a
//! path containing a NUL byte fails with `EINVAL` before anything reaches libuv. Errors name
//! the operation and path: `ENOENT: no such file or directory, open '/tmp/x'`.
//!
//! **Reads served from the page cache skip the threadpool** on Linux: a read first tries
//! `preadv2(RWF_NOWAIT)` on the loop thread, and only what the cache does not hold goes to
//! libuv's threadpool. Results, errors and buffers are the same either way; a future served
//! that way is ready on its first poll and a callback still runs from the loop. Turn it off
//! per file ([`OpenOptions::read_nowait`], [`File::set_read_nowait`]) or for the process
//! ([`set_read_nowait`], or `UVIO_FS_NOWAIT=0` in the environment). [`File::advise`] and
//! [`File::readahead`] pass access hints to the kernel.
//!
//! Buffers are owned and handed back with the result, even on error
//! ([`BufResult`]), as in tokio-uring: dropping a future in flight never frees memory libuv
//! is still writing into.
//!
//! ```
//! use uvio::fs;
//!
//! let dir = tempfile::tempdir()?;
//! let lp = uvio::Loop::new()?;
//! let path = dir.path().join("hello.txt");
//! lp.block_on(async {
//!     fs::write(&path, "hello").await?;
//!     assert_eq!(fs::read_to_string(&path).await?, "hello");
//!     assert_eq!(fs::metadata(&path).await?.len(), 5);
//!     fs::remove_file(&path).await
//! })??;
//! assert!(!path.exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

mod dir;
mod file;
mod metadata;
mod nowait;
mod op;
mod std_api;
mod table;

pub use dir::{Dir, DirEntry, ReadDir};
pub use file::{File, OpenOptions};
pub use metadata::{FileType, Metadata, Permissions, StatFs};
pub use nowait::{Advice, Hint, advise, read_nowait, readahead, set_read_nowait};
pub use op::{FsFuture, FsOp, FsRequest};
pub use std_api::*;
pub use table::*;

/// A result that hands the buffer back whatever happened.
///
/// ```
/// let lp = uvio::Loop::new()?;
/// lp.block_on(async {
///     let f = uvio::fs::File::open("Cargo.toml").await?;
///     let (n, buf): uvio::fs::BufResult<usize, Vec<u8>> = f.read_at(Vec::with_capacity(9), 0).await;
///     assert_eq!(n?, 9);
///     assert_eq!(buf, b"[package]");
///     Ok::<(), uvio::Error>(())
/// })??;
/// # Ok::<(), uvio::Error>(())
/// ```
pub type BufResult<T, B> = (Result<T>, B);

/// A path ready for libuv: its bytes with a NUL terminator, or the bytes that contained a
/// NUL (refused when the operation starts).
///
/// A path shorter than [`INLINE_PATH`] bytes is kept inline, so most operations allocate
/// nothing for their path. The pointer [`CPath::ptr`] returns is into the value itself,
/// which is sound because libuv keeps none: an asynchronous request copies its paths
/// (`uv__strdup`) inside the `uv_fs_*` call, and a synchronous one uses them only during the
/// call, while the operation (and so this value) is borrowed in place.
pub(crate) struct CPath {
    repr: PathRepr,
}

/// Paths shorter than this many bytes (the NUL terminator not counted) are stored inline.
const INLINE_PATH: usize = 96;

enum PathRepr {
    /// `len` bytes, then a NUL.
    Inline {
        buf: [u8; INLINE_PATH],
        len: u8,
    },
    Heap(CString),
    /// The bytes of a path that contains a NUL.
    Bad(Vec<u8>),
}

impl CPath {
    pub(crate) fn new(p: &Path) -> CPath {
        let b = p.as_os_str().as_bytes();
        let repr = if b.contains(&0) {
            PathRepr::Bad(b.to_vec())
        } else if b.len() < INLINE_PATH {
            let mut buf = [0u8; INLINE_PATH];
            buf[..b.len()].copy_from_slice(b);
            PathRepr::Inline {
                buf,
                len: b.len() as u8,
            }
        } else {
            match CString::new(b) {
                Ok(c) => PathRepr::Heap(c),
                Err(e) => PathRepr::Bad(e.into_vec()),
            }
        };
        CPath { repr }
    }

    /// The C string, or `EINVAL` for a path with a NUL byte.
    pub(crate) fn ptr(&self) -> Result<*const std::ffi::c_char> {
        match &self.repr {
            PathRepr::Inline { buf, .. } => Ok(buf.as_ptr().cast()),
            PathRepr::Heap(c) => Ok(c.as_ptr()),
            PathRepr::Bad(_) => Err(Error::EINVAL),
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.repr {
            PathRepr::Inline { buf, len } => &buf[..usize::from(*len)],
            PathRepr::Heap(c) => c.as_bytes(),
            PathRepr::Bad(v) => v,
        }
    }

    pub(crate) fn path(&self) -> PathBuf {
        PathBuf::from(std::ffi::OsStr::from_bytes(self.bytes()))
    }

    /// For error messages: lossy UTF-8 with a NUL shown as `\0`.
    pub(crate) fn display(&self) -> String {
        String::from_utf8_lossy(self.bytes()).replace('\0', "\\0")
    }
}

/// A path from a C string libuv returned.
///
/// # Safety
///
/// `p` is null or a valid NUL-terminated string.
pub(crate) unsafe fn path_from_c(p: *const std::ffi::c_char) -> PathBuf {
    if p.is_null() {
        return PathBuf::new();
    }
    // SAFETY: per the contract.
    let b = unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes();
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

/// An owned buffer libuv may read from (for writes). Its memory must not move or be freed
/// while the value lives, even when the value itself moves (heap memory). Implemented for
/// `Vec<u8>`, `Box<[u8]>`, `String`, `&'static [u8]` and `&'static str`.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let f = uvio::fs::sync::open(dir.path().join("f"), uvio::fs::OpenOptions::new().write(true).create(true))?;
/// let (n, s) = uvio::fs::sync::write_at(&f, String::from("text"), 0);
/// assert_eq!((n?, s.as_str()), (4, "text"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Safety
///
/// `stable_ptr` and `bytes_init` describe `bytes_init` readable bytes that stay valid and
/// at the same address for as long as the value lives, across moves.
pub unsafe trait IoBuf: 'static {
    /// Start of the bytes.
    fn stable_ptr(&self) -> *const u8;
    /// Number of initialised bytes to write.
    fn bytes_init(&self) -> usize;
}

/// An owned buffer libuv may write into (for reads): data lands in its spare capacity, after
/// the bytes it already holds, and [`IoBufMut::set_init`] then extends it. Implemented for
/// `Vec<u8>`: reserve what you want read.
///
/// ```
/// let f = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;
/// let mut buf = b"> ".to_vec();
/// buf.reserve_exact(9);
/// let (n, buf) = uvio::fs::sync::read_at(&f, buf, 0);
/// assert_eq!(n? + 2, buf.len());
/// assert!(buf.starts_with(b"> [package"));
/// # Ok::<(), uvio::Error>(())
/// ```
///
/// # Safety
///
/// `spare_ptr` and `spare_len` describe writable memory that stays valid and at the same
/// address for as long as the value lives, across moves; `set_init(n)` for `n <= spare_len`
/// after `n` bytes were written there must be sound.
pub unsafe trait IoBufMut: 'static {
    /// Start of the spare capacity.
    fn spare_ptr(&mut self) -> *mut u8;
    /// Bytes available at `spare_ptr`.
    fn spare_len(&self) -> usize;
    /// Marks `n` more bytes initialised after a read wrote them.
    ///
    /// # Safety
    ///
    /// `n <= spare_len()` bytes at `spare_ptr()` were initialised.
    unsafe fn set_init(&mut self, n: usize);
}

/// `IoBuf` for owned or static byte containers whose bytes live on the heap (or forever).
macro_rules! io_buf {
    ($($t:ty),*) => {$(
        // SAFETY: the bytes are heap (or static) memory that does not move when the value
        // does, and all `len()` of them are initialised.
        unsafe impl IoBuf for $t {
            fn stable_ptr(&self) -> *const u8 {
                self.as_ptr()
            }
            fn bytes_init(&self) -> usize {
                self.len()
            }
        }
    )*};
}
io_buf!(Vec<u8>, Box<[u8]>, String, &'static [u8], &'static str);

// SAFETY: the spare capacity of a Vec is its own heap memory; `set_len(len + n)` after
// writing `n <= capacity - len` bytes is sound.
unsafe impl IoBufMut for Vec<u8> {
    fn spare_ptr(&mut self) -> *mut u8 {
        self.spare_capacity_mut().as_mut_ptr().cast()
    }
    fn spare_len(&self) -> usize {
        self.capacity() - self.len()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: per the contract, `n` more bytes were initialised.
        unsafe { self.set_len(self.len() + n) }
    }
}

flag_set! {
    /// Flags of [`copyfile`] (`UV_FS_COPYFILE_*`).
    ///
    /// ```
    /// use uvio::fs::CopyFlags;
    /// let f = CopyFlags::EXCL | CopyFlags::FICLONE;
    /// assert!(f.contains(CopyFlags::EXCL));
    /// assert_eq!(format!("{f:?}"), "{EXCL, FICLONE}");
    /// ```
    CopyFlags {
        /// Fail with `EEXIST` if the destination exists.
        EXCL = crate::ffi::UV_FS_COPYFILE_EXCL,
        /// Try a copy-on-write reflink; fall back to copying.
        FICLONE = crate::ffi::UV_FS_COPYFILE_FICLONE,
        /// Only a copy-on-write reflink; fail if the file system cannot.
        FICLONE_FORCE = crate::ffi::UV_FS_COPYFILE_FICLONE_FORCE,
    }
}

flag_set! {
    /// Flags of [`symlink_with`] (`UV_FS_SYMLINK_*`; they matter on Windows only).
    ///
    /// ```
    /// assert_eq!(uvio::fs::SymlinkFlags::empty().bits(), 0);
    /// ```
    SymlinkFlags {
        /// The target is a directory.
        DIR = crate::ffi::UV_FS_SYMLINK_DIR,
        /// Make a junction point (Windows).
        JUNCTION = crate::ffi::UV_FS_SYMLINK_JUNCTION,
    }
}

flag_set! {
    /// What [`access`] checks (`F_OK`, `R_OK`, `W_OK`, `X_OK`).
    ///
    /// ```
    /// let m = uvio::fs::AccessMode::READ | uvio::fs::AccessMode::WRITE;
    /// assert!(m.contains(uvio::fs::AccessMode::READ));
    /// ```
    AccessMode {
        /// The file exists.
        EXISTS = 0,
        /// Readable.
        READ = 4,
        /// Writable.
        WRITE = 2,
        /// Executable.
        EXECUTE = 1,
    }
}

/// Seconds since the epoch as libuv's `double` (negative before 1970).
pub(crate) fn unix_secs(t: std::time::SystemTime) -> f64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpath_refuses_nul_and_shows_it() {
        let ok = CPath::new(Path::new("a/b"));
        assert!(ok.ptr().is_ok());
        assert_eq!(ok.display(), "a/b");
        let bad = CPath::new(Path::new("a\0b"));
        assert_eq!(bad.ptr().unwrap_err().name(), "EINVAL");
        assert_eq!(bad.display(), "a\\0b");
        assert_eq!(bad.path(), Path::new("a\0b"));
    }

    #[test]
    fn cpath_inline_and_heap_at_every_length_around_the_bound() {
        for len in [0, 1, INLINE_PATH - 1, INLINE_PATH, INLINE_PATH + 1, 4096] {
            let s = "x".repeat(len);
            let c = CPath::new(Path::new(&s));
            assert_eq!(c.path(), Path::new(&s));
            let p = c.ptr().unwrap();
            // SAFETY: `ptr` is a NUL-terminated string inside `c`, alive here.
            let back = unsafe { std::ffi::CStr::from_ptr(p) };
            assert_eq!(back.to_bytes(), s.as_bytes(), "length {len}");
            let bad = CPath::new(Path::new(&format!("{s}\0")));
            assert!(bad.ptr().is_err(), "length {len}");
        }
    }

    #[test]
    fn unix_secs_both_sides_of_the_epoch() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(unix_secs(UNIX_EPOCH + Duration::from_millis(1500)), 1.5);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(2)), -2.0);
    }
}
