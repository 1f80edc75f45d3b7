//! The inline read fast path: on Linux a file read first tries
//! `preadv2(.., RWF_NOWAIT)` on the loop thread, which copies what the page cache already
//! holds and answers `EAGAIN` instead of waiting for the device. Whatever it could not
//! serve goes to libuv's threadpool exactly as before. Other platforms compile to the plain
//! threadpool path. Also the access hints (`posix_fadvise`, `readahead`).
//!
//! The switch: on by default; [`set_read_nowait`] turns it off (or on) for the process,
//! the environment variable `UVIO_FS_NOWAIT=0` (read once, at the first read) does the same
//! at start-up, and [`OpenOptions::read_nowait`](super::OpenOptions::read_nowait) /
//! [`File::set_read_nowait`](super::File::set_read_nowait) per file.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use super::File;
use super::file::Fd;
use super::op::{FsRequest, deliver_later};
use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;

const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

/// The process-wide switch: `UNSET` until the first read looks at the environment.
static SWITCH: AtomicU8 = AtomicU8::new(UNSET);

/// Turns the inline read fast path on or off for the whole process (it is on by default on
/// Linux; elsewhere there is none and this does nothing). Takes precedence over the
/// `UVIO_FS_NOWAIT` environment variable. Files keep their own opt-out
/// ([`File::set_read_nowait`](super::File::set_read_nowait)).
///
/// Every read returns the same bytes and errors either way; the switch only decides whether
/// page-cached data is copied on the loop thread or fetched through libuv's threadpool.
///
/// # Examples
///
/// ```
/// uvio::fs::set_read_nowait(false);
/// assert!(!uvio::fs::read_nowait());
/// uvio::fs::set_read_nowait(true);
/// assert_eq!(uvio::fs::read_nowait(), cfg!(target_os = "linux"));
/// ```
pub fn set_read_nowait(on: bool) {
    SWITCH.store(if on { ON } else { OFF }, Ordering::Relaxed);
}

/// Whether the inline read fast path is on for the process: false on platforms without
/// `preadv2(RWF_NOWAIT)`, after [`set_read_nowait(false)`](set_read_nowait), when the
/// environment variable `UVIO_FS_NOWAIT` is `0`, `off` or `false` (read once), or after the
/// kernel said it has no `preadv2` (`ENOSYS`).
///
/// # Examples
///
/// ```
/// // Either way reads return the same bytes.
/// let on = uvio::fs::read_nowait();
/// assert!(!on || cfg!(target_os = "linux"));
/// ```
pub fn read_nowait() -> bool {
    cfg!(target_os = "linux") && switch_on()
}

fn switch_on() -> bool {
    match SWITCH.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let off = std::env::var_os("UVIO_FS_NOWAIT")
                .is_some_and(|v| matches!(v.to_str(), Some("0" | "off" | "false" | "no")));
            let v = if off { OFF } else { ON };
            // A concurrent `set_read_nowait` wins over the environment.
            match SWITCH.compare_exchange(UNSET, v, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => v == ON,
                Err(now) => now == ON,
            }
        }
    }
}

/// The state of one descriptor's fast path (kept in its [`Fd`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FileState {
    /// Not looked at yet: the first read checks its flags (`O_DIRECT`).
    Unchecked,
    /// Reads try `RWF_NOWAIT` first.
    On,
    /// Never: turned off for this file, `O_DIRECT`, or the file (system) refused the flag.
    Off,
}

/// What an inline attempt did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inline {
    /// The whole read was served: `n` bytes (0 at end of file).
    Done(usize),
    /// The first `n > 0` bytes were served; the rest goes to the threadpool.
    Prefix(usize),
    /// Nothing served: the whole read goes to the threadpool.
    Pool,
}

/// Whether `fd`'s reads may try the fast path now (checks `O_DIRECT` once).
fn allowed(fd: &Fd, raw: i32) -> bool {
    if !read_nowait() {
        return false;
    }
    match fd.nowait() {
        FileState::On => true,
        FileState::Off => false,
        FileState::Unchecked => {
            let on = sys::plain_flags(raw);
            fd.set_nowait(if on { FileState::On } else { FileState::Off });
            on
        }
    }
}

/// Tries to serve a read of `iov` at `offset` from the page cache on this thread.
///
/// # Safety
///
/// Each `iovec` describes writable memory that nothing else reads or writes during the
/// call.
pub(crate) unsafe fn try_read(fd: &Fd, iov: &[libc::iovec], offset: u64) -> Inline {
    let Ok(raw) = fd.get() else {
        return Inline::Pool;
    };
    let Ok(off) = i64::try_from(offset) else {
        return Inline::Pool;
    };
    if fd.writes_in_flight() || iov.len() > 1024 || !allowed(fd, raw) {
        return Inline::Pool;
    }
    let want: usize = iov.iter().map(|v| v.iov_len).sum();
    // SAFETY: forwarded contract: the vectors are writable memory of the caller's.
    match unsafe { sys::preadv_nowait(raw, iov, off) } {
        Ok(n) if n == want => Inline::Done(n),
        Ok(n) => match sys::size_if_regular(raw) {
            // At (or past) the end of the file: a threadpool read returns the same.
            Some(size) if off as u64 + n as u64 >= size => Inline::Done(n),
            // Part of the range is not cached: the rest goes to the pool.
            Some(_) if n > 0 => Inline::Prefix(n),
            Some(_) => Inline::Pool,
            // Not a regular file: a short read is what one read call returns.
            None if n > 0 => Inline::Done(n),
            None => Inline::Pool,
        },
        Err(e) => {
            match e {
                // The kernel has no preadv2: stop trying in this process.
                libc::ENOSYS => set_read_nowait(false),
                // This file (system) refuses the flag, or reads here always fail (a pipe,
                // a directory, a write-only descriptor): stop trying for this file, and
                // let the threadpool give the same result it always gave.
                libc::EOPNOTSUPP | libc::EPERM | libc::ESPIPE | libc::EISDIR | libc::EBADF => {
                    fd.set_nowait(FileState::Off)
                }
                // EAGAIN (not cached), EINTR, ...: the threadpool reads it.
                _ => {}
            }
            Inline::Pool
        }
    }
}

/// Access hints for [`File::advise`](super::File::advise) (`posix_fadvise`'s advice).
///
/// # Examples
///
/// ```
/// use uvio::fs::Advice;
/// let f = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;
/// let lp = uvio::Loop::new()?;
/// lp.block_on(uvio::fs::advise(&f, Advice::Sequential, 0, 0))??;
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Advice {
    /// No particular pattern (the default).
    Normal,
    /// Read front to back: more readahead.
    Sequential,
    /// Random access: no readahead.
    Random,
    /// The range will be needed soon: start reading it into the page cache.
    WillNeed,
    /// The range is not needed: drop its clean pages from the page cache.
    DontNeed,
    /// The range is read once (a no-op on Linux).
    NoReuse,
}

/// `posix_fadvise(fd, offset, len, advice)`; `len` 0 means to the end of the file.
fn fadvise_fd(fd: &Fd, advice: Advice, offset: u64, len: u64) -> Result<()> {
    let raw = fd.get()?;
    let off = i64::try_from(offset).map_err(|_| Error::EINVAL)?;
    let len = i64::try_from(len).map_err(|_| Error::EINVAL)?;
    sys::fadvise(raw, off, len, advice)
}

/// `readahead(fd, offset, len)` (Linux), or `POSIX_FADV_WILLNEED` where there is no
/// `readahead` but `posix_fadvise` exists; `ENOTSUP` where neither does.
fn readahead_fd(fd: &Fd, offset: u64, len: usize) -> Result<()> {
    let raw = fd.get()?;
    let off = i64::try_from(offset).map_err(|_| Error::EINVAL)?;
    sys::readahead(raw, off, len)
}

#[cfg(target_os = "linux")]
mod sys {
    use super::Advice;
    use crate::error::{Error, Result};

    /// `RWF_NOWAIT` from `<linux/fs.h>` (not in every libc's headers).
    const RWF_NOWAIT: libc::c_int = 0x8;

    fn errno() -> i32 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    }

    fn uv_err(e: i32) -> Error {
        Error::from_code(-e)
    }

    /// True when the descriptor's status flags allow the fast path (no `O_DIRECT`, which
    /// would make `RWF_NOWAIT` read from the device inline).
    pub(super) fn plain_flags(fd: i32) -> bool {
        // SAFETY: F_GETFL reads the open file's status flags; no memory is passed.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        fl >= 0 && fl & libc::O_DIRECT == 0
    }

    /// `preadv2(fd, iov, offset, RWF_NOWAIT)`: bytes read, or the errno.
    ///
    /// # Safety
    ///
    /// Each vector is writable memory nothing else uses during the call.
    pub(super) unsafe fn preadv_nowait(
        fd: i32,
        iov: &[libc::iovec],
        offset: i64,
    ) -> std::result::Result<usize, i32> {
        // SAFETY: the vectors are valid writable memory (contract); the kernel writes at
        // most `iov_len` bytes into each and keeps no reference after returning.
        let r = unsafe {
            libc::preadv2(
                fd,
                iov.as_ptr(),
                iov.len() as libc::c_int,
                offset,
                RWF_NOWAIT,
            )
        };
        if r < 0 { Err(errno()) } else { Ok(r as usize) }
    }

    /// The size of a regular file, `None` for anything else (or when fstat fails).
    pub(super) fn size_if_regular(fd: i32) -> Option<u64> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: `st` is writable memory of `struct stat`'s size.
        if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: fstat returned 0: it filled `st`.
        let st = unsafe { st.assume_init() };
        (st.st_mode & libc::S_IFMT == libc::S_IFREG).then_some(st.st_size as u64)
    }

    pub(super) fn fadvise(fd: i32, off: i64, len: i64, advice: Advice) -> Result<()> {
        let a = match advice {
            Advice::Normal => libc::POSIX_FADV_NORMAL,
            Advice::Sequential => libc::POSIX_FADV_SEQUENTIAL,
            Advice::Random => libc::POSIX_FADV_RANDOM,
            Advice::WillNeed => libc::POSIX_FADV_WILLNEED,
            Advice::DontNeed => libc::POSIX_FADV_DONTNEED,
            Advice::NoReuse => libc::POSIX_FADV_NOREUSE,
        };
        // SAFETY: no memory is passed; an invalid descriptor is an error return.
        match unsafe { libc::posix_fadvise(fd, off, len, a) } {
            0 => Ok(()),
            e => Err(uv_err(e)),
        }
    }

    pub(super) fn readahead(fd: i32, off: i64, len: usize) -> Result<()> {
        // SAFETY: no memory is passed; an invalid descriptor is an error return.
        if unsafe { libc::readahead(fd, off, len) } == 0 {
            Ok(())
        } else {
            Err(uv_err(errno()))
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::Advice;
    use crate::error::{Error, Result};

    pub(super) fn plain_flags(_fd: i32) -> bool {
        false
    }

    /// Never called: [`super::read_nowait`] is false here.
    pub(super) unsafe fn preadv_nowait(
        _fd: i32,
        _iov: &[libc::iovec],
        _offset: i64,
    ) -> std::result::Result<usize, i32> {
        Err(libc::ENOSYS)
    }

    pub(super) fn size_if_regular(_fd: i32) -> Option<u64> {
        None
    }

    pub(super) fn fadvise(_fd: i32, _off: i64, _len: i64, _advice: Advice) -> Result<()> {
        Err(Error::ENOTSUP)
    }

    pub(super) fn readahead(_fd: i32, _off: i64, _len: usize) -> Result<()> {
        Err(Error::ENOTSUP)
    }
}

/// What a [`Hint`] asks for.
#[derive(Clone, Copy, Debug)]
enum HintKind {
    Advise(Advice, u64, u64),
    Readahead(u64, usize),
}

impl HintKind {
    fn run(self, fd: &Fd) -> Result<()> {
        match self {
            HintKind::Advise(a, off, len) => {
                fadvise_fd(fd, a, off, len).map_err(|e| e.with_operation("fadvise"))
            }
            HintKind::Readahead(off, len) => {
                readahead_fd(fd, off, len).map_err(|e| e.with_operation("readahead"))
            }
        }
    }
}

/// The future of [`advise`] and [`readahead`] (and [`File::advise`](super::File::advise),
/// [`File::readahead`](super::File::readahead)). The hint is given on the loop thread when
/// the future is first polled: neither call waits for data (`posix_fadvise` records the
/// pattern, starts readahead or drops clean pages; `readahead` queues the reads), so the
/// future is ready on its first poll and never uses the threadpool.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let f = lp.block_on(uvio::fs::File::open("Cargo.toml"))??;
/// let hint: uvio::fs::Hint = f.readahead(0, 4096);
/// lp.block_on(hint)??;
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Hint {
    fd: Rc<Fd>,
    kind: HintKind,
    done: bool,
}

impl Future for Hint {
    type Output = Result<()>;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        assert!(!self.done, "uvio::fs hint polled after completion");
        self.done = true;
        Poll::Ready(self.kind.run(&self.fd))
    }
}

impl fmt::Debug for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hint")
            .field("kind", &self.kind)
            .field("done", &self.done)
            .finish()
    }
}

/// Tells the kernel how `file`'s range `offset..offset + len` (`len` 0: to the end) will
/// be read (`posix_fadvise`). Given on the loop thread: see [`Hint`].
///
/// # Errors
///
/// What `posix_fadvise` reports (`ESPIPE` on a pipe, `EINVAL` for an offset or length past
/// `i64::MAX`), `ENOTSUP` on platforms without it, `EBADF` once closed.
///
/// # Examples
///
/// ```
/// use uvio::fs::Advice;
/// let lp = uvio::Loop::new()?;
/// let f = lp.block_on(uvio::fs::File::open("Cargo.toml"))??;
/// lp.block_on(uvio::fs::advise(&f, Advice::Random, 0, 0))??;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn advise(file: &File, advice: Advice, offset: u64, len: u64) -> Hint {
    Hint {
        fd: file.fd_ref(),
        kind: HintKind::Advise(advice, offset, len),
        done: false,
    }
}

/// Asks the kernel to read `file`'s range `offset..offset + len` into the page cache in the
/// background (`readahead`). Given on the loop thread: see [`Hint`].
///
/// # Errors
///
/// `EINVAL` for a file that cannot be read ahead (a pipe) or an offset past `i64::MAX`,
/// `ENOTSUP` on platforms without it, `EBADF` once closed.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let f = lp.block_on(uvio::fs::File::open("Cargo.toml"))??;
/// lp.block_on(uvio::fs::readahead(&f, 0, 1 << 16))??;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn readahead(file: &File, offset: u64, len: usize) -> Hint {
    Hint {
        fd: file.fd_ref(),
        kind: HintKind::Readahead(offset, len),
        done: false,
    }
}

/// The callback forms of the hints (re-exported in `uvio::fs::cb`).
pub(crate) mod cb {
    use super::*;

    /// [`fs::advise`](super::advise) with a callback: the hint is given at once, and the
    /// callback runs later from the loop with the result (never before this returns).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = uvio::Loop::new()?;
    /// let f = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;
    /// let ok = Rc::new(Cell::new(false));
    /// let o = ok.clone();
    /// uvio::fs::cb::advise(&lp, &f, uvio::fs::Advice::Sequential, 0, 0, move |r| o.set(r.is_ok()));
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(ok.get());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn advise(
        lp: &LoopHandle,
        file: &File,
        advice: Advice,
        offset: u64,
        len: u64,
        callback: impl FnOnce(Result<()>) + 'static,
    ) -> FsRequest {
        hint(lp, file, HintKind::Advise(advice, offset, len), callback)
    }

    /// [`fs::readahead`](super::readahead) with a callback: the request is made at once, and
    /// the callback runs later from the loop with the result (never before this returns).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = uvio::Loop::new()?;
    /// let f = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;
    /// let ok = Rc::new(Cell::new(false));
    /// let o = ok.clone();
    /// uvio::fs::cb::readahead(&lp, &f, 0, 4096, move |r| o.set(r.is_ok()));
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(ok.get());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn readahead(
        lp: &LoopHandle,
        file: &File,
        offset: u64,
        len: usize,
        callback: impl FnOnce(Result<()>) + 'static,
    ) -> FsRequest {
        hint(lp, file, HintKind::Readahead(offset, len), callback)
    }

    fn hint(
        lp: &LoopHandle,
        file: &File,
        kind: HintKind,
        callback: impl FnOnce(Result<()>) + 'static,
    ) -> FsRequest {
        let name = match kind {
            HintKind::Advise(..) => "fadvise",
            HintKind::Readahead(..) => "readahead",
        };
        let r = if lp.is_closed() {
            Err(Error::EBADF.with_operation("loop is closed"))
        } else {
            kind.run(&file.fd_ref())
        };
        deliver_later(lp, name, move || callback(r))
    }
}

/// The synchronous forms of the hints (re-exported in `uvio::fs::sync`).
pub(crate) mod sync {
    use super::*;

    /// [`fs::advise`](super::advise), synchronously.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;
    /// uvio::fs::sync::advise(&f, uvio::fs::Advice::WillNeed, 0, 0)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`fs::advise`](super::advise).
    pub fn advise(file: &File, advice: Advice, offset: u64, len: u64) -> Result<()> {
        HintKind::Advise(advice, offset, len).run(&file.fd_ref())
    }

    /// [`fs::readahead`](super::readahead), synchronously.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;
    /// uvio::fs::sync::readahead(&f, 0, 4096)?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`fs::readahead`](super::readahead).
    pub fn readahead(file: &File, offset: u64, len: usize) -> Result<()> {
        HintKind::Readahead(offset, len).run(&file.fd_ref())
    }
}
