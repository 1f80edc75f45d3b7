//! [`File`]: an open descriptor with positioned I/O (owned buffers), cursor I/O through
//! `futures_io`, and close on drop; [`OpenOptions`], std's builder.

use std::cell::Cell;
use std::fmt;
use std::io::{self, SeekFrom};
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use super::Permissions;
use super::nowait::{Advice, FileState, Hint};
use super::op::{FsFuture, run_sync, submit_detached};
use super::table::ops;
use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;

/// A descriptor shared by a [`File`] and its requests in flight: it is closed when the last
/// holder lets go, so a request never runs on a number that was closed (and maybe reused).
pub(crate) struct Fd {
    fd: Cell<i32>,
    lp: Option<LoopHandle>,
    /// Whether reads try the inline fast path (`nowait.rs`).
    nowait: Cell<FileState>,
    /// Writes and truncates in flight: a read never overtakes one on the fast path.
    writes: Cell<u32>,
}

impl Fd {
    /// The descriptor, or `EBADF` once closed.
    pub(crate) fn get(&self) -> Result<i32> {
        match self.fd.get() {
            fd if fd >= 0 => Ok(fd),
            _ => Err(Error::EBADF),
        }
    }

    /// Forgets the descriptor (it was closed by a close request).
    pub(crate) fn forget(&self) {
        self.fd.set(-1);
    }

    fn new(fd: i32, lp: Option<LoopHandle>) -> Fd {
        Fd {
            fd: Cell::new(fd),
            lp,
            nowait: Cell::new(FileState::Unchecked),
            writes: Cell::new(0),
        }
    }

    pub(crate) fn nowait(&self) -> FileState {
        self.nowait.get()
    }

    pub(crate) fn set_nowait(&self, s: FileState) {
        self.nowait.set(s);
    }

    pub(crate) fn writes_in_flight(&self) -> bool {
        self.writes.get() > 0
    }
}

/// Marks a write (or truncate) in flight on its descriptor for as long as it lives: held
/// by the operation from its start until it completes.
pub(crate) struct InFlight(Rc<Fd>);

impl InFlight {
    pub(crate) fn new(fd: &Rc<Fd>) -> InFlight {
        fd.writes.set(fd.writes.get() + 1);
        InFlight(Rc::clone(fd))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.writes.set(self.0.writes.get() - 1);
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        let fd = self.fd.replace(-1);
        if fd < 0 {
            return;
        }
        // The close request owns a loop-less copy: if it cannot run on the loop, dropping
        // it closes synchronously.
        let op = ops::Close {
            fd: Some(Fd::new(fd, None)),
        };
        match &self.lp {
            Some(lp) if !lp.is_closed() => {
                let _ = submit_detached(lp, op);
            }
            _ => {
                let _ = run_sync(op);
            }
        }
    }
}

enum Pending {
    Idle,
    Read(FsFuture<ops::ReadAt<Vec<u8>>>),
    Write(FsFuture<ops::WriteAt<Vec<u8>>>),
    SeekEnd(FsFuture<ops::Fstat>, i64),
}

/// An open file.
///
/// Positioned I/O takes owned buffers and gives them back with the result, also on error
/// ([`File::read_at`], [`File::write_at`]). The file also tracks a position for cursor I/O:
/// it implements `futures_io::AsyncRead`, `AsyncBufRead`, `AsyncWrite` and `AsyncSeek` (use
/// `futures::AsyncReadExt` and friends).
///
/// Dropping a `File` closes it in the background on its loop (synchronously when the loop
/// is gone); requests still in flight keep the descriptor open until they finish.
/// [`File::close`] closes and reports errors.
///
/// # Examples
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use uvio::fs::{File, OpenOptions};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("f.txt");
/// let lp = uvio::Loop::new()?;
/// lp.block_on(async {
///     let mut f = OpenOptions::new().read(true).write(true).create(true).open(&path).await?;
///     f.write_all(b"hello world").await?;
///     let (n, buf) = f.read_at(Vec::with_capacity(5), 6).await;
///     assert_eq!(n?, 5);
///     assert_eq!(buf, b"world");
///     f.close().await?;
///
///     let mut s = String::new();
///     File::open(&path).await?.read_to_string(&mut s).await?;
///     assert_eq!(s, "hello world");
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct File {
    fd: Rc<Fd>,
    pos: u64,
    pending: Pending,
    rbuf: Vec<u8>,
    rstart: usize,
    /// `tokio::io::AsyncSeek::start_seek`'s target, until `poll_complete` reaches it.
    #[cfg(feature = "tokio-io")]
    pub(crate) tokio_seek: Option<io::SeekFrom>,
}

impl File {
    pub(crate) fn from_fd(fd: i32, lp: Option<LoopHandle>) -> File {
        File {
            fd: Rc::new(Fd::new(fd, lp)),
            pos: 0,
            pending: Pending::Idle,
            rbuf: Vec::new(),
            rstart: 0,
            #[cfg(feature = "tokio-io")]
            tokio_seek: None,
        }
    }

    pub(crate) fn fd_ref(&self) -> Rc<Fd> {
        Rc::clone(&self.fd)
    }

    /// The descriptor, if no request holds it any more.
    pub(crate) fn into_fd(self) -> Option<Fd> {
        let File { fd, pending, .. } = self;
        drop(pending);
        Rc::try_unwrap(fd).ok()
    }

    /// Turns the inline read fast path off (or back on) for this file: with `false` every
    /// read goes through libuv's threadpool. It is on by default where the platform has it
    /// ([`read_nowait`](super::read_nowait)); `O_DIRECT` files never use it. Reads return
    /// the same bytes and errors either way.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let f = lp.block_on(uvio::fs::File::open("Cargo.toml"))??;
    /// f.set_read_nowait(false);
    /// let (n, _buf) = lp.block_on(f.read_at(Vec::with_capacity(9), 0))?;
    /// assert_eq!(n?, 9);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_read_nowait(&self, on: bool) {
        match on {
            true if self.fd.nowait() == FileState::Off => self.fd.set_nowait(FileState::Unchecked),
            true => {}
            false => self.fd.set_nowait(FileState::Off),
        }
    }

    /// Tells the kernel how the range `offset..offset + len` (`len` 0: to the end) will be
    /// read (`posix_fadvise`); the future form of [`fs::advise`](super::advise).
    ///
    /// # Errors
    ///
    /// What `posix_fadvise` reports (`ESPIPE` on a pipe, `EINVAL` for an offset past
    /// `i64::MAX`), `ENOTSUP` on platforms without it, `EBADF` once closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::fs::Advice;
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::open("Cargo.toml").await?;
    ///     f.advise(Advice::Sequential, 0, 0).await?;
    ///     f.advise(Advice::WillNeed, 0, 4096).await
    /// })??;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn advise(&self, advice: Advice, offset: u64, len: u64) -> Hint {
        super::advise(self, advice, offset, len)
    }

    /// Asks the kernel to read `offset..offset + len` into the page cache in the
    /// background (`readahead`); the future form of [`fs::readahead`](super::readahead).
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
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::open("Cargo.toml").await?;
    ///     f.readahead(0, 1 << 20).await
    /// })??;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn readahead(&self, offset: u64, len: usize) -> Hint {
        super::readahead(self, offset, len)
    }

    /// Opens a file read-only (like `std::fs::File::open`).
    ///
    /// # Errors
    ///
    /// `ENOENT`, `EACCES`, `EISDIR`... with the path in the message.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::open("Cargo.toml").await?;
    ///     assert!(f.metadata().await?.is_file());
    ///     f.close().await
    /// })??;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> FsFuture<ops::Open> {
        OpenOptions::new().read(true).open(path)
    }

    /// Creates (or truncates) a file for writing (like `std::fs::File::create`).
    ///
    /// # Errors
    ///
    /// `EACCES`, `ENOENT` for a missing parent, ...
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("new.txt");
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::create(&path).await?;
    ///     f.write_at("hi", 0).await.0?;
    ///     f.close().await
    /// })??;
    /// assert_eq!(std::fs::read_to_string(&path)?, "hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(path: impl AsRef<Path>) -> FsFuture<ops::Open> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// A new [`OpenOptions`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let f = lp.block_on(uvio::fs::File::options().read(true).open("Cargo.toml"))??;
    /// assert!(lp.block_on(f.metadata())??.len() > 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Reads into `buf`'s spare capacity at `offset`; `Ok(0)` at end of file. The buffer
    /// comes back with the result (tokio-uring style). The cursor position is not used.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::open("Cargo.toml").await?;
    ///     let (n, buf) = f.read_at(Vec::with_capacity(9), 0).await;
    ///     assert_eq!((n?, &buf[..]), (9, &b"[package]"[..]));
    ///     Ok::<(), uvio::Error>(())
    /// })??;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn read_at<B: super::IoBufMut>(&self, buf: B, offset: u64) -> FsFuture<ops::ReadAt<B>> {
        super::read_at(self, buf, offset)
    }

    /// Writes all of `buf` at `offset`; the buffer comes back with the result.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("f");
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::create(&path).await?;
    ///     let (n, buf) = f.write_at(b"hello".to_vec(), 2).await;
    ///     assert_eq!((n?, buf.len()), (5, 5));
    ///     Ok::<(), uvio::Error>(())
    /// })??;
    /// assert_eq!(std::fs::read(&path)?, b"\0\0hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_at<B: super::IoBuf>(&self, buf: B, offset: u64) -> FsFuture<ops::WriteAt<B>> {
        super::write_at(self, buf, offset)
    }

    /// Flushes data and metadata to disk (`fsync`).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::create(dir.path().join("f")).await?;
    ///     f.write_at("data", 0).await.0?;
    ///     f.sync_all().await?;
    ///     assert_eq!(f.metadata().await?.len(), 4);
    ///     Ok::<(), uvio::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync_all(&self) -> FsFuture<ops::Fsync> {
        super::fsync(self)
    }

    /// Flushes data to disk (`fdatasync`).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::create(dir.path().join("f")).await?;
    ///     f.write_at("data", 0).await.0?;
    ///     f.sync_data().await?;
    ///     assert_eq!(f.metadata().await?.len(), 4);
    ///     Ok::<(), uvio::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync_data(&self) -> FsFuture<ops::Fdatasync> {
        super::fdatasync(self)
    }

    /// Truncates or extends the file to `len` bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::create(dir.path().join("f")).await?;
    ///     f.set_len(10).await?;
    ///     assert_eq!(f.metadata().await?.len(), 10);
    ///     Ok::<(), uvio::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_len(&self, len: u64) -> FsFuture<ops::Ftruncate> {
        super::ftruncate(self, len)
    }

    /// The file's metadata (`fstat`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let f = lp.block_on(uvio::fs::File::open("Cargo.toml"))??;
    /// let meta = lp.block_on(f.metadata())??;
    /// assert_eq!(meta.len(), std::fs::metadata("Cargo.toml")?.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metadata(&self) -> FsFuture<ops::Fstat> {
        super::fstat(self)
    }

    /// Changes the file's permissions (`fchmod`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::fs::Permissions;
    /// let dir = tempfile::tempdir()?;
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::create(dir.path().join("f")).await?;
    ///     f.set_permissions(Permissions::from_mode(0o600)).await?;
    ///     assert_eq!(f.metadata().await?.permissions().mode(), 0o600);
    ///     Ok::<(), uvio::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_permissions(&self, perm: Permissions) -> FsFuture<ops::Fchmod> {
        super::fchmod(self, perm.mode())
    }

    /// The cursor position used by `AsyncRead`/`AsyncWrite`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncReadExt;
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let mut f = uvio::fs::File::open("Cargo.toml").await?;
    ///     assert_eq!(f.position(), 0);
    ///     let mut head = [0u8; 9];
    ///     f.read_exact(&mut head).await?;
    ///     assert_eq!(f.position(), 9);
    ///     Ok::<(), std::io::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Closes the file and reports the result. If requests on it are still in flight it
    /// is closed when they finish, and this returns `Ok`.
    ///
    /// # Errors
    ///
    /// What `close(2)` reports (`EIO` on some file systems).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// lp.block_on(async {
    ///     let f = uvio::fs::File::open("Cargo.toml").await?;
    ///     f.close().await
    /// })??;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub async fn close(mut self) -> Result<()> {
        self.pending = Pending::Idle;
        if Rc::strong_count(&self.fd) > 1 {
            return Ok(());
        }
        super::close(self).await
    }

    /// Whether the descriptor is still open.
    fn raw(&self) -> Option<i32> {
        self.fd.get().ok()
    }

    fn poll_pending_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Pending::Write(f) = &mut self.pending else {
            return Poll::Ready(Ok(0));
        };
        let (r, _buf) = ready!(Pin::new(f).poll(cx));
        self.pending = Pending::Idle;
        let n = r?;
        self.pos += n as u64;
        Poll::Ready(Ok(n))
    }
}

use std::future::Future;

impl futures_io::AsyncRead for File {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.rstart < this.rbuf.len() {
            let n = buf.len().min(this.rbuf.len() - this.rstart);
            buf[..n].copy_from_slice(&this.rbuf[this.rstart..this.rstart + n]);
            this.rstart += n;
            this.pos += n as u64;
            return Poll::Ready(Ok(n));
        }
        if let Pending::Write(_) = this.pending {
            ready!(this.poll_pending_write(cx))?;
        }
        if !matches!(this.pending, Pending::Read(_)) {
            let cap = buf.len().clamp(4096, 1 << 20);
            this.pending = Pending::Read(super::read_at(&*this, Vec::with_capacity(cap), this.pos));
        }
        let Pending::Read(f) = &mut this.pending else {
            unreachable!()
        };
        let (r, data) = ready!(Pin::new(f).poll(cx));
        this.pending = Pending::Idle;
        r?;
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        this.pos += n as u64;
        this.rbuf = data;
        this.rstart = n;
        Poll::Ready(Ok(n))
    }
}

impl futures_io::AsyncWrite for File {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // Unread buffered data is dropped: the write goes where the reader stands.
        this.rbuf.clear();
        this.rstart = 0;
        match this.pending {
            Pending::Write(_) => return this.poll_pending_write(cx),
            Pending::Read(_) => this.pending = Pending::Idle,
            Pending::SeekEnd(..) | Pending::Idle => {}
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        this.pending = Pending::Write(super::write_at(&*this, buf.to_vec(), this.pos));
        this.poll_pending_write(cx)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending_write(cx))?;
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl futures_io::AsyncSeek for File {
    fn poll_seek(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        to: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = &mut *self;
        if let Pending::Write(_) = this.pending {
            ready!(this.poll_pending_write(cx))?;
        }
        this.rbuf.clear();
        this.rstart = 0;
        let base = match to {
            SeekFrom::Start(n) => {
                this.pending = Pending::Idle;
                this.pos = n;
                return Poll::Ready(Ok(n));
            }
            SeekFrom::Current(d) => {
                this.pending = Pending::Idle;
                (this.pos, d)
            }
            SeekFrom::End(d) => {
                if !matches!(this.pending, Pending::SeekEnd(..)) {
                    this.pending = Pending::SeekEnd(super::fstat(&*this), d);
                }
                let Pending::SeekEnd(f, d) = &mut this.pending else {
                    unreachable!()
                };
                let d = *d;
                let meta = ready!(Pin::new(f).poll(cx));
                this.pending = Pending::Idle;
                (meta?.len(), d)
            }
        };
        match base.0.checked_add_signed(base.1) {
            Some(p) => {
                this.pos = p;
                Poll::Ready(Ok(p))
            }
            None => Poll::Ready(Err(Error::EINVAL.with_operation("seek").into())),
        }
    }
}

/// Reads ahead up to 64 KiB at the cursor; `consume` moves the cursor.
impl futures_io::AsyncBufRead for File {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.rstart >= this.rbuf.len() {
            if let Pending::Write(_) = this.pending {
                ready!(this.poll_pending_write(cx))?;
            }
            if !matches!(this.pending, Pending::Read(_)) {
                let buf = Vec::with_capacity(64 * 1024);
                this.pending = Pending::Read(super::read_at(&*this, buf, this.pos));
            }
            let Pending::Read(f) = &mut this.pending else {
                unreachable!()
            };
            let (r, data) = ready!(Pin::new(f).poll(cx));
            this.pending = Pending::Idle;
            r?;
            this.rbuf = data;
            this.rstart = 0;
        }
        Poll::Ready(Ok(&this.rbuf[this.rstart..]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        let amt = amt.min(this.rbuf.len() - this.rstart);
        this.rstart += amt;
        this.pos += amt as u64;
    }
}

impl std::os::fd::AsRawFd for File {
    /// The descriptor (-1 once closed).
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.raw().unwrap_or(-1)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("fd", &self.raw())
            .field("position", &self.pos)
            .finish()
    }
}

/// Options for opening a file: std's builder (`read`, `write`, `append`, `truncate`,
/// `create`, `create_new`) plus the creation `mode` and raw `custom_flags`.
///
/// # Examples
///
/// ```
/// use uvio::fs::OpenOptions;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("new.txt");
/// let lp = uvio::Loop::new()?;
/// lp.block_on(async {
///     let f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).await?;
///     f.close().await?;
///     let again = OpenOptions::new().write(true).create_new(true).open(&path).await;
///     assert_eq!(again.unwrap_err().name(), "EEXIST");
///     Ok::<(), uvio::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
    read_nowait: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// std's boolean builder methods, one per flag.
macro_rules! setters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        $(
            $(#[doc = $doc])*
            pub fn $name(&mut self, on: bool) -> &mut Self {
                self.$name = on;
                self
            }
        )*
    };
}

impl OpenOptions {
    /// All options off; mode `0o666` (before the umask).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// // With every option off there is nothing to open the file for.
    /// let err = lp.block_on(uvio::fs::OpenOptions::new().open("Cargo.toml"))?.unwrap_err();
    /// assert_eq!(err.name(), "EINVAL");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
            read_nowait: true,
        }
    }

    setters! {
        /// Open for reading.
        ///
        /// # Examples
        ///
        /// ```
        /// let lp = uvio::Loop::new()?;
        /// let open = uvio::fs::OpenOptions::new().read(true).open("Cargo.toml");
        /// let f = lp.block_on(open)??;
        /// assert!(lp.block_on(f.metadata())??.is_file());
        /// # Ok::<(), uvio::Error>(())
        /// ```
        read,
        /// Open for writing.
        ///
        /// # Examples
        ///
        /// ```
        /// let dir = tempfile::tempdir()?;
        /// let path = dir.path().join("f");
        /// std::fs::write(&path, "old")?;
        /// let lp = uvio::Loop::new()?;
        /// let f = lp.block_on(uvio::fs::OpenOptions::new().write(true).open(&path))??;
        /// lp.block_on(f.write_at("n", 0))?.0?;
        /// assert_eq!(std::fs::read_to_string(&path)?, "nld");
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        write,
        /// Every write goes to the end of the file (`O_APPEND`); implies write.
        ///
        /// # Examples
        ///
        /// ```
        /// let dir = tempfile::tempdir()?;
        /// let path = dir.path().join("log");
        /// std::fs::write(&path, "a")?;
        /// let lp = uvio::Loop::new()?;
        /// let f = lp.block_on(uvio::fs::OpenOptions::new().append(true).open(&path))??;
        /// lp.block_on(f.write_at("b", 0))?.0?;
        /// assert_eq!(std::fs::read_to_string(&path)?, "ab");
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        append,
        /// Truncate to zero length (needs write).
        ///
        /// # Examples
        ///
        /// ```
        /// let dir = tempfile::tempdir()?;
        /// let path = dir.path().join("f");
        /// std::fs::write(&path, "old contents")?;
        /// let lp = uvio::Loop::new()?;
        /// let open = uvio::fs::OpenOptions::new().write(true).truncate(true).open(&path);
        /// let _f = lp.block_on(open)??;
        /// assert_eq!(std::fs::metadata(&path)?.len(), 0);
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        truncate,
        /// Create the file if missing (needs write or append).
        ///
        /// # Examples
        ///
        /// ```
        /// let dir = tempfile::tempdir()?;
        /// let path = dir.path().join("new");
        /// let lp = uvio::Loop::new()?;
        /// let open = uvio::fs::OpenOptions::new().write(true).create(true).open(&path);
        /// let _f = lp.block_on(open)??;
        /// assert!(path.exists());
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        create,
        /// Create the file, failing with `EEXIST` if it exists (`O_CREAT | O_EXCL`).
        ///
        /// # Examples
        ///
        /// ```
        /// let dir = tempfile::tempdir()?;
        /// let path = dir.path().join("f");
        /// let lp = uvio::Loop::new()?;
        /// let mut opts = uvio::fs::OpenOptions::new();
        /// opts.write(true).create_new(true);
        /// let _f = lp.block_on(opts.open(&path))??;
        /// let err = lp.block_on(opts.open(&path))?.unwrap_err();
        /// assert_eq!(err.name(), "EEXIST");
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        create_new,
    }

    /// Permission bits for a created file (default `0o666`, before the umask).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("secret");
    /// let lp = uvio::Loop::new()?;
    /// let open = uvio::fs::OpenOptions::new().write(true).create(true).mode(0o600).open(&path);
    /// let _f = lp.block_on(open)??;
    /// // The umask can only clear bits.
    /// assert_eq!(uvio::fs::sync::metadata(&path)?.permissions().mode() & 0o077, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra `open(2)` flags (`UV_FS_O_*`), or-ed in.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let mut opts = uvio::fs::OpenOptions::new();
    /// opts.read(true).custom_flags(uvio::ffi::UV_FS_O_DIRECTORY as i32);
    /// let err = lp.block_on(opts.open("Cargo.toml"))?.unwrap_err();
    /// assert_eq!(err.name(), "ENOTDIR");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// Whether reads of the opened file try the inline fast path (default `true`; see
    /// [`File::set_read_nowait`]). `false` sends every read through libuv's threadpool.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let open = uvio::fs::OpenOptions::new().read(true).read_nowait(false).open("Cargo.toml");
    /// let f = lp.block_on(open)??;
    /// let (n, _buf) = lp.block_on(f.read_at(Vec::with_capacity(4), 0))?;
    /// assert_eq!(n?, 4);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn read_nowait(&mut self, on: bool) -> &mut Self {
        self.read_nowait = on;
        self
    }

    pub(crate) fn nowait_bit(&self) -> bool {
        self.read_nowait
    }

    /// Opens `path` with these options.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let f = lp.block_on(uvio::fs::OpenOptions::new().read(true).open("Cargo.toml"))??;
    /// let (n, _buf) = lp.block_on(f.read_at(Vec::with_capacity(4), 0))?;
    /// assert_eq!(n?, 4);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn open(&self, path: impl AsRef<Path>) -> FsFuture<ops::Open> {
        super::open(path, self)
    }

    pub(crate) fn mode_bits(&self) -> i32 {
        self.mode as i32
    }

    /// The `open(2)` flags, checked the way std checks them.
    pub(crate) fn flags(&self) -> Result<i32> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => ffi::UV_FS_O_RDONLY,
            (false, true, false) => ffi::UV_FS_O_WRONLY,
            (true, true, false) => ffi::UV_FS_O_RDWR,
            (false, _, true) => ffi::UV_FS_O_WRONLY | ffi::UV_FS_O_APPEND,
            (true, _, true) => ffi::UV_FS_O_RDWR | ffi::UV_FS_O_APPEND,
            (false, false, false) => return Err(Error::EINVAL),
        };
        let writing = self.write || self.append;
        if !writing && (self.truncate || self.create || self.create_new) {
            return Err(Error::EINVAL);
        }
        if self.append && self.truncate && !self.create_new {
            return Err(Error::EINVAL);
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (_, _, true) => ffi::UV_FS_O_CREAT | ffi::UV_FS_O_EXCL,
            (true, true, false) => ffi::UV_FS_O_CREAT | ffi::UV_FS_O_TRUNC,
            (true, false, false) => ffi::UV_FS_O_CREAT,
            (false, true, false) => ffi::UV_FS_O_TRUNC,
            (false, false, false) => 0,
        };
        Ok((access | creation) as i32 | self.custom_flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_follow_std_rules() {
        let f = |o: &OpenOptions| o.flags().map_err(|e| e.name());
        assert_eq!(f(&OpenOptions::new()), Err("EINVAL"));
        assert_eq!(f(OpenOptions::new().read(true)), Ok(0));
        assert_eq!(f(OpenOptions::new().read(true).create(true)), Err("EINVAL"));
        let w = f(OpenOptions::new().write(true).create(true).truncate(true)).unwrap() as u32;
        assert_eq!(
            w,
            ffi::UV_FS_O_WRONLY | ffi::UV_FS_O_CREAT | ffi::UV_FS_O_TRUNC
        );
        let a = f(OpenOptions::new().append(true).create_new(true)).unwrap() as u32;
        assert_eq!(
            a,
            ffi::UV_FS_O_WRONLY | ffi::UV_FS_O_APPEND | ffi::UV_FS_O_CREAT | ffi::UV_FS_O_EXCL
        );
        assert_eq!(
            f(OpenOptions::new().append(true).truncate(true)),
            Err("EINVAL")
        );
        let rw = f(OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(0o4000))
        .unwrap();
        assert_eq!(rw as u32, ffi::UV_FS_O_RDWR | 0o4000);
    }
}
