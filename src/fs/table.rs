//! The table of fs operations: each `uv_fs_*` call stated once (its arguments, how to start
//! it, how to read its result), and from that the three front ends: the future (in
//! `uvio::fs`), the callback (in [`cb`]) and the synchronous call (in [`sync`]).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use super::dir::{Dir, DirCell, DirEntry};
use super::file::{Fd, File, InFlight, OpenOptions};
use super::nowait::{self, FileState, Inline};
use super::op::{Fin, FsFuture, FsOp, FsRequest, run_sync, submit_cb};
use super::{
    AccessMode, BufResult, CPath, CopyFlags, IoBuf, IoBufMut, Metadata, StatFs, SymlinkFlags,
    unix_secs,
};
use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;

macro_rules! fs_table {
    ($(
        $(#[doc = $doc:literal])*
        fn $name:ident[$($g:ident: $gb:path),*]($($arg:ident: $aty:ty),*) -> $out:ty;
        example: $setup:literal, $args:literal, $check:literal;
        $op:ident($opname:literal) { $($f:ident: $fty:ty = $init:expr),* $(,)? }
        subject: |$ss:ident| $subject:expr;
        start: |$s:ident, $lp:ident, $req:ident, $cb:ident| $start:expr;
        finish: |$fs:ident, $d:ident| $finish:expr;
        $(inline: |$is:ident| $inline:expr;)?
    )*) => {
        /// The operation types: what each fs future runs (`FsFuture<ops::Stat>` is the future
        /// of [`metadata`](super::metadata)). They are built by the functions of
        /// `uvio::fs`, [`cb`](super::cb) and [`sync`](super::sync).
        pub mod ops {
            use super::*;
            $(
                #[doc = concat!("The `uv_fs_", $opname, "` operation, run by [`",
                    stringify!($name), "`](super::super::", stringify!($name), ").")]
                ///
                /// # Examples
                ///
                #[doc = concat!("The future [`", stringify!($name), "`](super::super::",
                    stringify!($name), ") returns, awaited:")]
                ///
                /// ```
                #[doc = $setup]
                /// let lp = uvio::Loop::new()?;
                #[doc = concat!("let fut = uvio::fs::", stringify!($name), "(", $args, ");")]
                /// let r = lp.block_on(fut)?;
                #[doc = $check]
                /// # Ok::<(), Box<dyn std::error::Error>>(())
                /// ```
                pub struct $op<$($g: $gb),*> {
                    $(pub(crate) $f: $fty,)*
                }

                impl<$($g: $gb),*> std::fmt::Debug for $op<$($g),*> {
                    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.debug_struct(stringify!($op))
                            .field("subject", &self.subject())
                            .finish_non_exhaustive()
                    }
                }

                impl<$($g: $gb),*> FsOp for $op<$($g),*> {
                    type Output = $out;
                    const NAME: &'static str = $opname;

                    unsafe fn start(
                        &mut self,
                        $lp: *mut ffi::uv_loop_t,
                        $req: *mut ffi::uv_fs_t,
                        $cb: ffi::uv_fs_cb,
                    ) -> Result<i32> {
                        let $s = self;
                        // Each entry's FFI call is its own `unsafe` block with its reason.
                        Ok($start)
                    }

                    fn finish(self, $d: Fin<'_>) -> $out {
                        let $fs = self;
                        $finish
                    }

                    fn subject(&self) -> Option<String> {
                        let $ss = self;
                        $subject
                    }

                    $(
                        fn try_inline(&mut self) -> Option<usize> {
                            let $is = self;
                            $inline
                        }
                    )?
                }
            )*
        }

        $(
            $(#[doc = $doc])*
            ///
            #[doc = concat!("The future form; see also [`cb::", stringify!($name),
                "`] and [`sync::", stringify!($name), "`].")]
            ///
            /// # Examples
            ///
            /// ```
            #[doc = $setup]
            /// let lp = uvio::Loop::new()?;
            #[doc = concat!("let r = lp.block_on(uvio::fs::", stringify!($name), "(", $args, "))?;")]
            #[doc = $check]
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn $name<$($g: $gb),*>($($arg: $aty),*) -> FsFuture<ops::$op<$($g),*>> {
                FsFuture::new(ops::$op { $($f: $init),* })
            }
        )*

        /// The callback forms: the loop first, the callback last. The callback runs on the
        /// loop thread with the result, always later from the loop and never before the
        /// call returns, also when the request is refused before it starts (a NUL in a
        /// path: the error is delivered from the loop's next iteration), so a caller may
        /// hold a `RefCell` borrow across the call. On a closed loop nothing runs again:
        /// the callback is dropped uncalled. Each returns an [`FsRequest`] that can cancel
        /// the request while it is queued.
        ///
        /// ```
        /// use std::{cell::Cell, rc::Rc};
        ///
        /// let lp = uvio::Loop::new()?;
        /// let len = Rc::new(Cell::new(0));
        /// let l2 = len.clone();
        /// uvio::fs::cb::metadata(&lp, "Cargo.toml", move |r| l2.set(r.unwrap().len()));
        /// lp.run(uvio::RunMode::Default)?;
        /// assert!(len.get() > 0);
        /// # Ok::<(), uvio::Error>(())
        /// ```
        pub mod cb {
            use super::*;
            pub use super::super::nowait::cb::*;
            $(
                $(#[doc = $doc])*
                ///
                /// The callback form.
                ///
                /// # Examples
                ///
                /// ```
                /// use std::{cell::RefCell, rc::Rc};
                ///
                #[doc = $setup]
                /// let lp = uvio::Loop::new()?;
                /// let slot = Rc::new(RefCell::new(None));
                /// let s = slot.clone();
                #[doc = concat!("uvio::fs::cb::", stringify!($name), "(&lp, ", $args,
                    ", move |r| *s.borrow_mut() = Some(r));")]
                /// lp.run(uvio::RunMode::Default)?;
                /// let r = slot.take().unwrap();
                #[doc = $check]
                /// # Ok::<(), Box<dyn std::error::Error>>(())
                /// ```
                pub fn $name<$($g: $gb,)* Callback: FnOnce($out) + 'static>(
                    lp: &LoopHandle,
                    $($arg: $aty,)*
                    callback: Callback,
                ) -> FsRequest {
                    submit_cb(lp, ops::$op { $($f: $init),* }, callback)
                }
            )*
        }

        /// The synchronous forms: libuv's own synchronous mode (`cb = NULL`), blocking the
        /// calling thread. They need no loop.
        ///
        /// ```
        /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
        /// assert!(meta.is_file());
        /// # Ok::<(), uvio::Error>(())
        /// ```
        pub mod sync {
            use super::*;
            pub use super::super::nowait::sync::*;
            $(
                $(#[doc = $doc])*
                ///
                /// The synchronous form.
                ///
                /// # Examples
                ///
                /// ```
                #[doc = $setup]
                #[doc = concat!("let r = uvio::fs::sync::", stringify!($name), "(", $args, ");")]
                #[doc = $check]
                /// # Ok::<(), Box<dyn std::error::Error>>(())
                /// ```
                pub fn $name<$($g: $gb),*>($($arg: $aty),*) -> $out {
                    run_sync(ops::$op { $($f: $init),* })
                }
            )*
        }
    };
}

fn one(s: &CPath) -> Option<String> {
    Some(s.display())
}

fn two(a: &CPath, b: &CPath) -> Option<String> {
    Some(format!("{}' -> '{}", a.display(), b.display()))
}

fn offset(o: u64) -> Result<i64> {
    i64::try_from(o).map_err(|_| Error::EINVAL)
}

fn uv_buf(ptr: *const u8, len: usize) -> ffi::uv_buf_t {
    ffi::uv_buf_t {
        base: ptr as *mut std::ffi::c_char,
        len,
    }
}

/// Marks `n` bytes read across `bufs`, in order.
///
/// # Safety
///
/// A read filled the buffers' spare capacity in order with `n` bytes.
unsafe fn spread<B: IoBufMut>(bufs: &mut [B], mut n: usize) {
    for b in bufs {
        let k = n.min(b.spare_len());
        // SAFETY: the read filled the buffers in order (contract); `k` bytes of this one.
        unsafe { b.set_init(k) };
        n -= k;
    }
}

/// The result of a read whose first `done` bytes were served inline: the total, and an
/// error after a prefix counts as a short read (what `read(2)` reports after a partial
/// transfer).
fn after_prefix(done: usize, r: Result<usize>) -> Result<usize> {
    match r {
        Ok(n) => Ok(done + n),
        Err(_) if done > 0 => Ok(done),
        Err(e) => Err(e),
    }
}

fn iovec(ptr: *mut u8, len: usize) -> libc::iovec {
    libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    }
}

fs_table! {
    /// Opens a file with `options`' flags and mode (`uv_fs_open`).
    fn open[](path: impl AsRef<Path>, options: &OpenOptions) -> Result<File>;
    example: r#""#, r#""Cargo.toml", uvio::fs::OpenOptions::new().read(true)"#,
        r#"let file = r?;
assert!(uvio::fs::sync::fstat(&file)?.is_file());"#;
    Open("open") {
        path: CPath = CPath::new(path.as_ref()),
        flags: Result<i32> = options.flags(),
        mode: i32 = options.mode_bits(),
        nowait: bool = options.nowait_bit(),
    }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_open` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_open(lp, req, s.path.ptr()?, s.flags.clone()?, s.mode, cb) }
    };
    finish: |s, d| d.res.map(|fd| {
        let f = File::from_fd(fd as i32, d.lp.cloned());
        if !s.nowait {
            f.fd_ref().set_nowait(FileState::Off);
        }
        f
    });

    /// Closes a file (`uv_fs_close`). `EBUSY` while other requests on it are in flight
    /// ([`File::close`] waits for them instead).
    fn close[](file: File) -> Result<()>;
    example: r#"let file = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;"#, r#"file"#,
        r#"assert!(r.is_ok());"#;
    Close("close") { fd: Option<Fd> = file.into_fd() }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_close` with the request and loop of `FsOp::start`'s contract; the
        // descriptor is owned by the operation (no other request holds it).
        unsafe { ffi::uv_fs_close(lp, req, s.fd.as_ref().ok_or(Error::EBUSY)?.get()?, cb) }
    };
    finish: |s, d| {
        // A close that never ran (refused, cancelled): dropping the descriptor closes it.
        if d.ran() {
            if let Some(fd) = &s.fd {
                fd.forget();
            }
        }
        d.res.map(|_| ())
    };

    /// Reads into `buf`'s spare capacity at `offset` (`uv_fs_read`); 0 at end of file.
    /// The buffer comes back with the result, also on error.
    fn read_at[B: IoBufMut](file: &File, buf: B, offset: u64) -> BufResult<usize, B>;
    example: r#"let file = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;"#, r#"&file, Vec::with_capacity(9), 0"#,
        r#"let (n, buf) = r;
assert_eq!(n?, 9);
assert_eq!(buf, b"[package]");"#;
    ReadAt("read") { fd: Rc<Fd> = file.fd_ref(), buf: B = buf, offset: u64 = offset, done: usize = 0 }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        // After an inline prefix the threadpool reads the rest, after it.
        let at = offset(s.offset.saturating_add(s.done as u64))?;
        let b = uv_buf(s.buf.spare_ptr(), s.buf.spare_len());
        // SAFETY: `uv_fs_read` with the request and loop of `FsOp::start`'s contract; it
        // copies the `uv_buf_t` (stack is fine); the bytes it points at are the buffer's
        // spare capacity, heap memory the operation owns until completion; the descriptor
        // is held open by the operation's `Rc<Fd>`.
        unsafe { ffi::uv_fs_read(lp, req, s.fd.get()?, &b, 1, at, cb) }
    };
    finish: |s, d| {
        let mut buf = s.buf;
        if let Ok(n) = d.res {
            // SAFETY: the read wrote `n` bytes (at most the `spare_len` it was given) into
            // the buffer's spare capacity.
            unsafe { buf.set_init(n) };
        }
        (after_prefix(s.done, d.res), buf)
    };
    inline: |s| {
        let iov = [iovec(s.buf.spare_ptr(), s.buf.spare_len())];
        // SAFETY: the vector is the buffer's spare capacity, owned by the operation and
        // used by nothing else during the call.
        match unsafe { nowait::try_read(&s.fd, &iov, s.offset) } {
            Inline::Done(n) => Some(n),
            Inline::Prefix(n) => {
                // SAFETY: the inline read wrote `n` bytes into the spare capacity.
                unsafe { s.buf.set_init(n) };
                s.done = n;
                None
            }
            Inline::Pool => None,
        }
    };

    /// Reads into several buffers in order at `offset` (`uv_fs_read`, vectored).
    fn read_vectored_at[B: IoBufMut](file: &File, bufs: Vec<B>, offset: u64) -> BufResult<usize, Vec<B>>;
    example: r#"let file = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;"#, r#"&file, vec![Vec::with_capacity(1), Vec::with_capacity(8)], 0"#,
        r#"let (n, bufs) = r;
assert_eq!(n?, 9);
assert_eq!(bufs, [&b"["[..], &b"package]"[..]]);"#;
    ReadVectoredAt("read") { fd: Rc<Fd> = file.fd_ref(), bufs: Vec<B> = bufs, offset: u64 = offset, done: usize = 0 }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        let at = offset(s.offset.saturating_add(s.done as u64))?;
        let v: Vec<ffi::uv_buf_t> =
            s.bufs.iter_mut().map(|b| uv_buf(b.spare_ptr(), b.spare_len())).collect();
        let n = u32::try_from(v.len()).map_err(|_| Error::EINVAL)?;
        // SAFETY: `uv_fs_read` with the request and loop of `FsOp::start`'s contract; it
        // copies the `uv_buf_t` array before returning; the bytes are the buffers' spare
        // capacity, heap memory the operation owns until completion; the descriptor is held
        // open by the operation's `Rc<Fd>`.
        unsafe { ffi::uv_fs_read(lp, req, s.fd.get()?, v.as_ptr(), n, at, cb) }
    };
    finish: |s, d| {
        let mut bufs = s.bufs;
        if let Ok(n) = d.res {
            // SAFETY: the read filled the buffers' spare capacity in order with `n` bytes.
            unsafe { spread(&mut bufs, n) };
        }
        (after_prefix(s.done, d.res), bufs)
    };
    inline: |s| {
        let iov: Vec<libc::iovec> =
            s.bufs.iter_mut().map(|b| iovec(b.spare_ptr(), b.spare_len())).collect();
        // SAFETY: the vectors are the buffers' spare capacity, owned by the operation and
        // used by nothing else during the call.
        match unsafe { nowait::try_read(&s.fd, &iov, s.offset) } {
            Inline::Done(n) => Some(n),
            Inline::Prefix(n) => {
                // SAFETY: the inline read filled the spare capacity in order with `n` bytes.
                unsafe { spread(&mut s.bufs, n) };
                s.done = n;
                None
            }
            Inline::Pool => None,
        }
    };

    /// Writes all of `buf` at `offset` (`uv_fs_write`). The buffer comes back with the
    /// result, also on error.
    fn write_at[B: IoBuf](file: &File, buf: B, offset: u64) -> BufResult<usize, B>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
let file = uvio::fs::sync::open(&path, uvio::fs::OpenOptions::new().write(true).create(true))?;"#, r#"&file, "hello", 0"#,
        r#"let (n, _buf) = r;
assert_eq!(n?, 5);
assert_eq!(std::fs::read_to_string(&path)?, "hello");"#;
    WriteAt("write") { fd: Rc<Fd> = file.fd_ref(), buf: B = buf, offset: u64 = offset, busy: Option<InFlight> = None }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        let b = uv_buf(s.buf.stable_ptr(), s.buf.bytes_init());
        s.busy = Some(InFlight::new(&s.fd));
        // SAFETY: `uv_fs_write` with the request and loop of `FsOp::start`'s contract; it
        // copies the `uv_buf_t`; the bytes are the buffer's, which the operation owns (at a
        // stable address, `IoBuf`'s contract) until completion; the descriptor is held open
        // by the operation's `Rc<Fd>`.
        unsafe { ffi::uv_fs_write(lp, req, s.fd.get()?, &b, 1, offset(s.offset)?, cb) }
    };
    finish: |s, d| (d.res, s.buf);

    /// Writes several buffers in order at `offset` (`uv_fs_write`, vectored).
    fn write_vectored_at[B: IoBuf](file: &File, bufs: Vec<B>, offset: u64) -> BufResult<usize, Vec<B>>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
let file = uvio::fs::sync::open(&path, uvio::fs::OpenOptions::new().write(true).create(true))?;"#, r#"&file, vec!["hel", "lo"], 0"#,
        r#"let (n, _bufs) = r;
assert_eq!(n?, 5);
assert_eq!(std::fs::read_to_string(&path)?, "hello");"#;
    WriteVectoredAt("write") { fd: Rc<Fd> = file.fd_ref(), bufs: Vec<B> = bufs, offset: u64 = offset, busy: Option<InFlight> = None }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        let v: Vec<ffi::uv_buf_t> =
            s.bufs.iter().map(|b| uv_buf(b.stable_ptr(), b.bytes_init())).collect();
        let n = u32::try_from(v.len()).map_err(|_| Error::EINVAL)?;
        s.busy = Some(InFlight::new(&s.fd));
        // SAFETY: `uv_fs_write` with the request and loop of `FsOp::start`'s contract; it
        // copies the `uv_buf_t` array before returning; the bytes are the buffers', which
        // the operation owns (at stable addresses, `IoBuf`'s contract) until completion; the
        // descriptor is held open by the operation's `Rc<Fd>`.
        unsafe { ffi::uv_fs_write(lp, req, s.fd.get()?, v.as_ptr(), n, offset(s.offset)?, cb) }
    };
    finish: |s, d| (d.res, s.bufs);

    /// Removes a file (`uv_fs_unlink`).
    fn remove_file[](path: impl AsRef<Path>) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
std::fs::write(&path, "x")?;"#, r#"&path"#,
        r#"r?;
assert!(!path.exists());"#;
    Unlink("unlink") { path: CPath = CPath::new(path.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_unlink` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_unlink(lp, req, s.path.ptr()?, cb) }
    };
    finish: |_s, d| d.unit();

    /// Creates a directory with `mode` (before the umask) (`uv_fs_mkdir`).
    fn mkdir[](path: impl AsRef<Path>, mode: u32) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("d");"#, r#"&path, 0o755"#,
        r#"r?;
assert!(path.is_dir());"#;
    Mkdir("mkdir") { path: CPath = CPath::new(path.as_ref()), mode: u32 = mode }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_mkdir` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_mkdir(lp, req, s.path.ptr()?, s.mode as i32, cb) }
    };
    finish: |_s, d| d.unit();

    /// Creates a unique directory from a template ending in `XXXXXX` and returns its path
    /// (`uv_fs_mkdtemp`).
    fn mkdtemp[](template: impl AsRef<Path>) -> Result<PathBuf>;
    example: r#"let dir = tempfile::tempdir()?;"#, r#"dir.path().join("tmp-XXXXXX")"#,
        r#"let made = r?;
assert!(made.is_dir() && made.starts_with(dir.path()));"#;
    Mkdtemp("mkdtemp") { path: CPath = CPath::new(template.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_mkdtemp` with the request and loop of `FsOp::start`'s contract;
        // the path strings are owned by the operation, which lives in the request box until
        // the request completes.
        unsafe { ffi::uv_fs_mkdtemp(lp, req, s.path.ptr()?, cb) }
    };
    finish: |_s, d| d.made_path();

    /// Creates and opens a unique file from a template ending in `XXXXXX`
    /// (`uv_fs_mkstemp`).
    fn mkstemp[](template: impl AsRef<Path>) -> Result<(File, PathBuf)>;
    example: r#"let dir = tempfile::tempdir()?;"#, r#"dir.path().join("tmp-XXXXXX")"#,
        r#"let (_file, made) = r?;
assert!(made.is_file() && made.starts_with(dir.path()));"#;
    Mkstemp("mkstemp") { path: CPath = CPath::new(template.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_mkstemp` with the request and loop of `FsOp::start`'s contract;
        // the path strings are owned by the operation, which lives in the request box until
        // the request completes.
        unsafe { ffi::uv_fs_mkstemp(lp, req, s.path.ptr()?, cb) }
    };
    finish: |_s, d| {
        let path = d.made_path();
        d.res.map(|fd| (File::from_fd(fd as i32, d.lp.cloned()), path.unwrap_or_default()))
    };

    /// Removes an empty directory (`uv_fs_rmdir`).
    fn remove_dir[](path: impl AsRef<Path>) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("d");
std::fs::create_dir(&path)?;"#, r#"&path"#,
        r#"r?;
assert!(!path.exists());"#;
    Rmdir("rmdir") { path: CPath = CPath::new(path.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_rmdir` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_rmdir(lp, req, s.path.ptr()?, cb) }
    };
    finish: |_s, d| d.unit();

    /// Lists a directory in one request (`uv_fs_scandir`); `.` and `..` are left out.
    fn scandir[](path: impl AsRef<Path>) -> Result<Vec<DirEntry>>;
    example: r#""#, r#""src""#,
        r#"let entries = r?;
assert!(entries.iter().any(|e| e.file_name() == "lib.rs"));"#;
    Scandir("scandir") { path: CPath = CPath::new(path.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_scandir` with the request and loop of `FsOp::start`'s contract;
        // the path strings are owned by the operation, which lives in the request box until
        // the request completes.
        unsafe { ffi::uv_fs_scandir(lp, req, s.path.ptr()?, 0, cb) }
    };
    finish: |s, d| d.scandir_entries(&s.path.path());

    /// Opens a directory for streaming with [`readdir`] (`uv_fs_opendir`).
    fn opendir[](path: impl AsRef<Path>) -> Result<Dir>;
    example: r#""#, r#""src""#,
        r#"let dir = r?;
assert_eq!(dir.path(), std::path::Path::new("src"));
uvio::fs::sync::closedir(dir)?;"#;
    Opendir("opendir") { path: CPath = CPath::new(path.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_opendir` with the request and loop of `FsOp::start`'s contract;
        // the path strings are owned by the operation, which lives in the request box until
        // the request completes.
        unsafe { ffi::uv_fs_opendir(lp, req, s.path.ptr()?, cb) }
    };
    finish: |s, d| d.dir_ptr().map(|p| Dir::from_raw(p, s.path.path()));

    /// Reads up to `max` entries from an open directory (`uv_fs_readdir`); an empty list
    /// at the end. `EBUSY` while another read on the same `Dir` is in flight.
    fn readdir[](dir: &Dir, max: usize) -> Result<Vec<DirEntry>>;
    example: r#"let dir = uvio::fs::sync::opendir("src")?;"#, r#"&dir, 64"#,
        r#"let entries = r?;
assert!(entries.iter().any(|e| e.file_name() == "lib.rs"));"#;
    Readdir("readdir") {
        dir: Rc<DirCell> = dir.cell(),
        ents: Vec<ffi::uv_dirent_t> = Vec::with_capacity(max.clamp(1, 4096)),
        started: bool = false,
    }
    subject: |s| Some(s.dir.path().display().to_string());
    start: |s, lp, req, cb| {
        let p = s.dir.begin_read(&mut s.ents)?;
        s.started = true;
        // SAFETY: `uv_fs_readdir` with the request and loop of `FsOp::start`'s contract; the
        // `uv_dir_t` is owned by the operation's `Rc<DirCell>` and its entry array is
        // `ents`, heap memory the operation owns until completion.
        unsafe { ffi::uv_fs_readdir(lp, req, p, cb) }
    };
    finish: |s, d| {
        let (dir, mut ents, started) = (s.dir, s.ents, s.started);
        let out = d.res.clone().map(|n| {
            let n = n.min(ents.capacity());
            // SAFETY: the finished readdir wrote `n` entries (at most the array's
            // capacity, which it was given as `nentries`) at the start of `ents`.
            unsafe { ents.set_len(n) };
            ents.iter().map(|e| {
                // SAFETY: each name is libuv's NUL-terminated string, alive until the
                // request's cleanup below; `from_raw` copies it.
                unsafe { DirEntry::from_raw(dir.path(), e.name, e.type_) }
            }).collect()
        });
        if started {
            dir.end_read();
            // Free the names now, while the entry array and the directory are alive.
            d.cleanup_now();
        }
        out
    };

    /// Closes a directory (`uv_fs_closedir`). `EBUSY` while a read on it is in flight.
    fn closedir[](dir: Dir) -> Result<()>;
    example: r#"let dir = uvio::fs::sync::opendir("src")?;"#, r#"dir"#,
        r#"assert!(r.is_ok());"#;
    Closedir("closedir") { dir: Option<DirCell> = dir.into_cell() }
    subject: |s| s.dir.as_ref().map(|c| c.path().display().to_string());
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_closedir` with the request and loop of `FsOp::start`'s contract;
        // the `uv_dir_t` is owned by the operation's `DirCell` until the request completes.
        unsafe { ffi::uv_fs_closedir(lp, req, s.dir.as_ref().ok_or(Error::EBUSY)?.raw()?, cb) }
    };
    finish: |s, d| {
        // A closedir that never ran (refused, cancelled): dropping the cell closes it.
        if d.ran() {
            if let Some(c) = &s.dir {
                c.forget();
            }
        }
        d.res.map(|_| ())
    };

    /// Metadata of a path, following symlinks (`uv_fs_stat`).
    fn metadata[](path: impl AsRef<Path>) -> Result<Metadata>;
    example: r#""#, r#""Cargo.toml""#,
        r#"assert!(r?.is_file());"#;
    Stat("stat") { path: CPath = CPath::new(path.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_stat` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_stat(lp, req, s.path.ptr()?, cb) }
    };
    finish: |_s, d| d.stat();

    /// Metadata of a path, not following a final symlink (`uv_fs_lstat`).
    fn symlink_metadata[](path: impl AsRef<Path>) -> Result<Metadata>;
    example: r#"let dir = tempfile::tempdir()?;
let link = dir.path().join("link");
std::os::unix::fs::symlink("/etc", &link)?;"#, r#"&link"#,
        r#"assert!(r?.is_symlink());"#;
    Lstat("lstat") { path: CPath = CPath::new(path.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_lstat` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_lstat(lp, req, s.path.ptr()?, cb) }
    };
    finish: |_s, d| d.stat();

    /// Metadata of an open file (`uv_fs_fstat`).
    fn fstat[](file: &File) -> Result<Metadata>;
    example: r#"let file = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;"#, r#"&file"#,
        r#"assert_eq!(r?.len(), std::fs::metadata("Cargo.toml")?.len());"#;
    Fstat("fstat") { fd: Rc<Fd> = file.fd_ref() }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_fstat` with the request and loop of `FsOp::start`'s contract; the
        // descriptor is held open by the operation's `Rc<Fd>` until the request completes.
        unsafe { ffi::uv_fs_fstat(lp, req, s.fd.get()?, cb) }
    };
    finish: |_s, d| d.stat();

    /// File system statistics for the file system holding `path` (`uv_fs_statfs`).
    fn statfs[](path: impl AsRef<Path>) -> Result<StatFs>;
    example: r#""#, r#"".""#,
        r#"let st = r?;
assert!(st.bsize > 0 && st.bavail <= st.blocks);"#;
    Statfs("statfs") { path: CPath = CPath::new(path.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_statfs` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_statfs(lp, req, s.path.ptr()?, cb) }
    };
    finish: |_s, d| d.statfs();

    /// Renames `from` to `to`, replacing `to` if it exists (`uv_fs_rename`).
    fn rename[](from: impl AsRef<Path>, to: impl AsRef<Path>) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let (a, b) = (dir.path().join("a"), dir.path().join("b"));
std::fs::write(&a, "x")?;"#, r#"&a, &b"#,
        r#"r?;
assert!(!a.exists() && b.exists());"#;
    Rename("rename") { from: CPath = CPath::new(from.as_ref()), to: CPath = CPath::new(to.as_ref()) }
    subject: |s| two(&s.from, &s.to);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_rename` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_rename(lp, req, s.from.ptr()?, s.to.ptr()?, cb) }
    };
    finish: |_s, d| d.unit();

    /// Flushes a file's data and metadata to disk (`uv_fs_fsync`).
    fn fsync[](file: &File) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
let file = uvio::fs::sync::open(&path, uvio::fs::OpenOptions::new().write(true).create(true))?;
uvio::fs::sync::write_at(&file, "data", 0).0?;"#, r#"&file"#,
        r#"assert!(r.is_ok());"#;
    Fsync("fsync") { fd: Rc<Fd> = file.fd_ref() }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_fsync` with the request and loop of `FsOp::start`'s contract; the
        // descriptor is held open by the operation's `Rc<Fd>` until the request completes.
        unsafe { ffi::uv_fs_fsync(lp, req, s.fd.get()?, cb) }
    };
    finish: |_s, d| d.unit();

    /// Flushes a file's data to disk (`uv_fs_fdatasync`).
    fn fdatasync[](file: &File) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
let file = uvio::fs::sync::open(&path, uvio::fs::OpenOptions::new().write(true).create(true))?;
uvio::fs::sync::write_at(&file, "data", 0).0?;"#, r#"&file"#,
        r#"assert!(r.is_ok());"#;
    Fdatasync("fdatasync") { fd: Rc<Fd> = file.fd_ref() }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_fdatasync` with the request and loop of `FsOp::start`'s contract;
        // the descriptor is held open by the operation's `Rc<Fd>` until the request
        // completes.
        unsafe { ffi::uv_fs_fdatasync(lp, req, s.fd.get()?, cb) }
    };
    finish: |_s, d| d.unit();

    /// Truncates or extends a file to `len` bytes (`uv_fs_ftruncate`).
    fn ftruncate[](file: &File, len: u64) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
let file = uvio::fs::sync::open(&path, uvio::fs::OpenOptions::new().write(true).create(true))?;"#, r#"&file, 100"#,
        r#"r?;
assert_eq!(std::fs::metadata(&path)?.len(), 100);"#;
    Ftruncate("ftruncate") { fd: Rc<Fd> = file.fd_ref(), len: u64 = len, busy: Option<InFlight> = None }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        s.busy = Some(InFlight::new(&s.fd));
        // SAFETY: `uv_fs_ftruncate` with the request and loop of `FsOp::start`'s contract;
        // the descriptor is held open by the operation's `Rc<Fd>` until the request
        // completes.
        unsafe { ffi::uv_fs_ftruncate(lp, req, s.fd.get()?, offset(s.len)?, cb) }
    };
    finish: |_s, d| d.unit();

    /// Copies a file (`uv_fs_copyfile`); see [`CopyFlags`] for exclusive and reflink copies.
    fn copyfile[](from: impl AsRef<Path>, to: impl AsRef<Path>, flags: CopyFlags) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let to = dir.path().join("copy");"#, r#""Cargo.toml", &to, uvio::fs::CopyFlags::EXCL"#,
        r#"r?;
assert_eq!(std::fs::read(&to)?, std::fs::read("Cargo.toml")?);"#;
    Copyfile("copyfile") {
        from: CPath = CPath::new(from.as_ref()),
        to: CPath = CPath::new(to.as_ref()),
        flags: CopyFlags = flags,
    }
    subject: |s| two(&s.from, &s.to);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_copyfile` with the request and loop of `FsOp::start`'s contract;
        // the path strings are owned by the operation, which lives in the request box until
        // the request completes.
        unsafe { ffi::uv_fs_copyfile(lp, req, s.from.ptr()?, s.to.ptr()?, s.flags.bits(), cb) }
    };
    finish: |_s, d| d.unit();

    /// Copies up to `len` bytes from `input` at `in_offset` to `out` at its current
    /// position (`uv_fs_sendfile`); returns the count.
    fn sendfile[](out: &File, input: &File, in_offset: u64, len: usize) -> Result<usize>;
    example: r#"let file = uvio::fs::sync::open("Cargo.toml", uvio::fs::OpenOptions::new().read(true))?;
let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
let out = uvio::fs::sync::open(&path, uvio::fs::OpenOptions::new().write(true).create(true))?;"#, r#"&out, &file, 1, 7"#,
        r#"assert_eq!(r?, 7);
assert_eq!(std::fs::read(&path)?, b"package");"#;
    Sendfile("sendfile") {
        out: Rc<Fd> = out.fd_ref(),
        input: Rc<Fd> = input.fd_ref(),
        in_offset: u64 = in_offset,
        len: usize = len,
    }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_sendfile` with the request and loop of `FsOp::start`'s contract;
        // the descriptor is held open by the operation's `Rc<Fd>` until the request
        // completes.
        unsafe { ffi::uv_fs_sendfile(lp, req, s.out.get()?, s.input.get()?, offset(s.in_offset)?, s.len, cb) }
    };
    finish: |_s, d| d.res;

    /// Checks access to a path (`uv_fs_access`).
    fn access[](path: impl AsRef<Path>, mode: AccessMode) -> Result<()>;
    example: r#""#, r#""Cargo.toml", uvio::fs::AccessMode::READ"#,
        r#"assert!(r.is_ok());"#;
    Access("access") { path: CPath = CPath::new(path.as_ref()), mode: AccessMode = mode }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_access` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_access(lp, req, s.path.ptr()?, s.mode.bits(), cb) }
    };
    finish: |_s, d| d.unit();

    /// Changes permission bits (`uv_fs_chmod`).
    fn chmod[](path: impl AsRef<Path>, mode: u32) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
std::fs::write(&path, "x")?;"#, r#"&path, 0o600"#,
        r#"r?;
assert_eq!(uvio::fs::sync::metadata(&path)?.permissions().mode(), 0o600);"#;
    Chmod("chmod") { path: CPath = CPath::new(path.as_ref()), mode: u32 = mode }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_chmod` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_chmod(lp, req, s.path.ptr()?, s.mode as i32, cb) }
    };
    finish: |_s, d| d.unit();

    /// Changes permission bits of an open file (`uv_fs_fchmod`).
    fn fchmod[](file: &File, mode: u32) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
let file = uvio::fs::sync::open(&path, uvio::fs::OpenOptions::new().write(true).create(true))?;"#, r#"&file, 0o600"#,
        r#"r?;
assert_eq!(uvio::fs::sync::metadata(&path)?.permissions().mode(), 0o600);"#;
    Fchmod("fchmod") { fd: Rc<Fd> = file.fd_ref(), mode: u32 = mode }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_fchmod` with the request and loop of `FsOp::start`'s contract; the
        // descriptor is held open by the operation's `Rc<Fd>` until the request completes.
        unsafe { ffi::uv_fs_fchmod(lp, req, s.fd.get()?, s.mode as i32, cb) }
    };
    finish: |_s, d| d.unit();

    /// Sets access and modification times (`uv_fs_utime`).
    fn utime[](path: impl AsRef<Path>, atime: SystemTime, mtime: SystemTime) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
std::fs::write(&path, "x")?;
let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);"#, r#"&path, t, t"#,
        r#"r?;
assert_eq!(std::fs::metadata(&path)?.modified()?, t);"#;
    Utime("utime") { path: CPath = CPath::new(path.as_ref()), atime: f64 = unix_secs(atime), mtime: f64 = unix_secs(mtime) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_utime` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_utime(lp, req, s.path.ptr()?, s.atime, s.mtime, cb) }
    };
    finish: |_s, d| d.unit();

    /// Sets access and modification times of an open file (`uv_fs_futime`).
    fn futime[](file: &File, atime: SystemTime, mtime: SystemTime) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
let file = uvio::fs::sync::open(&path, uvio::fs::OpenOptions::new().write(true).create(true))?;
let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);"#, r#"&file, t, t"#,
        r#"r?;
assert_eq!(std::fs::metadata(&path)?.modified()?, t);"#;
    Futime("futime") { fd: Rc<Fd> = file.fd_ref(), atime: f64 = unix_secs(atime), mtime: f64 = unix_secs(mtime) }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_futime` with the request and loop of `FsOp::start`'s contract; the
        // descriptor is held open by the operation's `Rc<Fd>` until the request completes.
        unsafe { ffi::uv_fs_futime(lp, req, s.fd.get()?, s.atime, s.mtime, cb) }
    };
    finish: |_s, d| d.unit();

    /// Sets the times of a symlink itself (`uv_fs_lutime`).
    fn lutime[](path: impl AsRef<Path>, atime: SystemTime, mtime: SystemTime) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let link = dir.path().join("link");
std::os::unix::fs::symlink("/etc", &link)?;
let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);"#, r#"&link, t, t"#,
        r#"r?;
assert_eq!(std::fs::symlink_metadata(&link)?.modified()?, t);"#;
    Lutime("lutime") { path: CPath = CPath::new(path.as_ref()), atime: f64 = unix_secs(atime), mtime: f64 = unix_secs(mtime) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_lutime` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_lutime(lp, req, s.path.ptr()?, s.atime, s.mtime, cb) }
    };
    finish: |_s, d| d.unit();

    /// Creates a hard link `link` to `original` (`uv_fs_link`).
    fn hard_link[](original: impl AsRef<Path>, link: impl AsRef<Path>) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let (a, b) = (dir.path().join("a"), dir.path().join("b"));
std::fs::write(&a, "x")?;"#, r#"&a, &b"#,
        r#"r?;
assert_eq!(uvio::fs::sync::metadata(&a)?.nlink(), 2);"#;
    Link("link") { from: CPath = CPath::new(original.as_ref()), to: CPath = CPath::new(link.as_ref()) }
    subject: |s| two(&s.from, &s.to);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_link` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_link(lp, req, s.from.ptr()?, s.to.ptr()?, cb) }
    };
    finish: |_s, d| d.unit();

    /// Creates a symlink `link` pointing at `original`, with flags (`uv_fs_symlink`).
    fn symlink_with[](original: impl AsRef<Path>, link: impl AsRef<Path>, flags: SymlinkFlags) -> Result<()>;
    example: r#"let dir = tempfile::tempdir()?;
let link = dir.path().join("link");"#, r#""/etc", &link, uvio::fs::SymlinkFlags::empty()"#,
        r#"r?;
assert_eq!(std::fs::read_link(&link)?, std::path::Path::new("/etc"));"#;
    Symlink("symlink") {
        from: CPath = CPath::new(original.as_ref()),
        to: CPath = CPath::new(link.as_ref()),
        flags: SymlinkFlags = flags,
    }
    subject: |s| two(&s.from, &s.to);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_symlink` with the request and loop of `FsOp::start`'s contract;
        // the path strings are owned by the operation, which lives in the request box until
        // the request completes.
        unsafe { ffi::uv_fs_symlink(lp, req, s.from.ptr()?, s.to.ptr()?, s.flags.bits(), cb) }
    };
    finish: |_s, d| d.unit();

    /// The target of a symlink (`uv_fs_readlink`).
    fn read_link[](path: impl AsRef<Path>) -> Result<PathBuf>;
    example: r#"let dir = tempfile::tempdir()?;
let link = dir.path().join("link");
std::os::unix::fs::symlink("/etc", &link)?;"#, r#"&link"#,
        r#"assert_eq!(r?, std::path::Path::new("/etc"));"#;
    Readlink("readlink") { path: CPath = CPath::new(path.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_readlink` with the request and loop of `FsOp::start`'s contract;
        // the path strings are owned by the operation, which lives in the request box until
        // the request completes.
        unsafe { ffi::uv_fs_readlink(lp, req, s.path.ptr()?, cb) }
    };
    finish: |_s, d| d.ptr_path();

    /// The absolute path with every symlink resolved (`uv_fs_realpath`).
    fn canonicalize[](path: impl AsRef<Path>) -> Result<PathBuf>;
    example: r#""#, r#""src/../Cargo.toml""#,
        r#"assert_eq!(r?, std::fs::canonicalize("Cargo.toml")?);"#;
    Realpath("realpath") { path: CPath = CPath::new(path.as_ref()) }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_realpath` with the request and loop of `FsOp::start`'s contract;
        // the path strings are owned by the operation, which lives in the request box until
        // the request completes.
        unsafe { ffi::uv_fs_realpath(lp, req, s.path.ptr()?, cb) }
    };
    finish: |_s, d| d.ptr_path();

    /// Changes owner and group (`uv_fs_chown`; `u32::MAX` leaves one unchanged).
    fn chown[](path: impl AsRef<Path>, uid: u32, gid: u32) -> Result<()>;
    example: r#"use std::os::unix::fs::MetadataExt;
let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
std::fs::write(&path, "x")?;
let me = std::fs::metadata(&path)?; // giving a file to its own owner is allowed"#, r#"&path, me.uid(), me.gid()"#,
        r#"r?;
assert_eq!(std::fs::metadata(&path)?.uid(), me.uid());"#;
    Chown("chown") { path: CPath = CPath::new(path.as_ref()), uid: u32 = uid, gid: u32 = gid }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_chown` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_chown(lp, req, s.path.ptr()?, s.uid, s.gid, cb) }
    };
    finish: |_s, d| d.unit();

    /// Changes owner and group of an open file (`uv_fs_fchown`).
    fn fchown[](file: &File, uid: u32, gid: u32) -> Result<()>;
    example: r#"use std::os::unix::fs::MetadataExt;
let dir = tempfile::tempdir()?;
let path = dir.path().join("f");
let file = uvio::fs::sync::open(&path, uvio::fs::OpenOptions::new().write(true).create(true))?;
let me = std::fs::metadata(&path)?; // giving a file to its own owner is allowed"#, r#"&file, me.uid(), me.gid()"#,
        r#"r?;
assert_eq!(std::fs::metadata(&path)?.gid(), me.gid());"#;
    Fchown("fchown") { fd: Rc<Fd> = file.fd_ref(), uid: u32 = uid, gid: u32 = gid }
    subject: |_s| None;
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_fchown` with the request and loop of `FsOp::start`'s contract; the
        // descriptor is held open by the operation's `Rc<Fd>` until the request completes.
        unsafe { ffi::uv_fs_fchown(lp, req, s.fd.get()?, s.uid, s.gid, cb) }
    };
    finish: |_s, d| d.unit();

    /// Changes owner and group of a symlink itself (`uv_fs_lchown`).
    fn lchown[](path: impl AsRef<Path>, uid: u32, gid: u32) -> Result<()>;
    example: r#"use std::os::unix::fs::MetadataExt;
let dir = tempfile::tempdir()?;
let link = dir.path().join("link");
std::os::unix::fs::symlink("/etc", &link)?;
let me = std::fs::symlink_metadata(&link)?; // giving a link to its own owner is allowed"#, r#"&link, me.uid(), me.gid()"#,
        r#"r?;
assert_eq!(std::fs::symlink_metadata(&link)?.uid(), me.uid());"#;
    Lchown("lchown") { path: CPath = CPath::new(path.as_ref()), uid: u32 = uid, gid: u32 = gid }
    subject: |s| one(&s.path);
    start: |s, lp, req, cb| {
        // SAFETY: `uv_fs_lchown` with the request and loop of `FsOp::start`'s contract; the
        // path strings are owned by the operation, which lives in the request box until the
        // request completes.
        unsafe { ffi::uv_fs_lchown(lp, req, s.path.ptr()?, s.uid, s.gid, cb) }
    };
    finish: |_s, d| d.unit();
}
