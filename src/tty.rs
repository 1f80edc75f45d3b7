//! Terminals (`uv_tty_t`) as streams, and [`guess_handle`]: what kind of stream a
//! descriptor is.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};

use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::handle::{HandleRef, fd_methods, handle_methods};
use crate::stream::{self, Handle, StreamKind, StreamOwner, StreamState, stream_methods};

/// A terminal mode for [`Tty::set_mode`] (`uv_tty_mode_t`).
///
/// # Examples
///
/// ```
/// assert_ne!(uvio::TtyMode::Raw, uvio::TtyMode::Normal);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TtyMode {
    /// The initial, line-buffered mode with echo (`UV_TTY_MODE_NORMAL`).
    Normal,
    /// Raw input: no line buffering, echo or signal keys (`UV_TTY_MODE_RAW`).
    Raw,
    /// Binary-safe I/O for IPC, `cfmakeraw` (`UV_TTY_MODE_IO`, Unix only).
    Io,
    /// Raw input with virtual-terminal input sequences on Windows; the same as
    /// [`TtyMode::Raw`] on Unix (`UV_TTY_MODE_RAW_VT`, libuv 1.51+).
    RawVt,
}

/// What a descriptor is, as [`guess_handle`] tells (`uv_handle_type`).
///
/// # Examples
///
/// ```
/// let f = std::fs::File::open("Cargo.toml")?;
/// assert_eq!(uvio::guess_handle(&f), uvio::HandleType::File);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandleType {
    /// A terminal: open it with [`Tty::new`].
    Tty,
    /// A pipe, FIFO or Unix domain socket: open it with
    /// [`PipeStream::open`](crate::PipeStream::open).
    NamedPipe,
    /// A TCP socket: open it with [`TcpStream::open`](crate::TcpStream::open).
    Tcp,
    /// A UDP socket.
    Udp,
    /// A regular file or a character device that is not a terminal: use [`crate::fs`].
    File,
    /// Anything else, or a closed descriptor.
    Unknown,
}

/// What kind of stream `fd` is (`uv_guess_handle`), to choose the handle type for it.
///
/// # Examples
///
/// ```
/// use uvio::{HandleType, guess_handle};
///
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// assert_eq!(guess_handle(&a), HandleType::NamedPipe);
/// let t = std::net::TcpListener::bind("127.0.0.1:0")?;
/// assert_eq!(guess_handle(&t), HandleType::Tcp);
/// // stdin is whatever the test runner gave us: a terminal, a pipe, /dev/null, ...
/// let _ = guess_handle(&std::io::stdin());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn guess_handle(fd: &impl AsFd) -> HandleType {
    let raw = fd.as_fd().as_raw_fd();
    // SAFETY: uv_guess_handle only inspects the descriptor (isatty, fstat, getsockname).
    match unsafe { ffi::uv_guess_handle(raw) } {
        ffi::UV_TTY => HandleType::Tty,
        ffi::UV_NAMED_PIPE => HandleType::NamedPipe,
        ffi::UV_TCP => HandleType::Tcp,
        ffi::UV_UDP => HandleType::Udp,
        ffi::UV_FILE => HandleType::File,
        _ => HandleType::Unknown,
    }
}

/// A terminal as a stream (`uv_tty_t`): write to it and read from it with the stream API
/// ([`read_start`](Self::read_start), `AsyncRead`/`AsyncWrite`, ...), switch it between
/// line and raw mode ([`set_mode`](Self::set_mode)), ask its size
/// ([`winsize`](Self::winsize)).
///
/// For a terminal libuv opens the terminal device again (so making it non-blocking does
/// not affect other processes sharing it), and puts the new descriptor in place of the
/// given one. When closed, a terminal left in raw or IO mode is reset to the mode it had
/// when first changed (libuv 1.49 and later; with an older libuv, call
/// [`Tty::reset_mode`] while the handle is still open); call [`Tty::reset_mode`] before the
/// process exits otherwise.
///
/// # Examples
///
/// ```no_run
/// use uvio::{Loop, RunMode, Tty, TtyMode};
///
/// let lp = Loop::new()?;
/// let out = Tty::stdout(&lp)?;
/// let (cols, rows) = out.winsize()?;
/// out.write_cb(format!("{cols}x{rows}\n"), |_, r| r.unwrap())?;
/// let input = Tty::stdin(&lp)?;
/// input.set_mode(TtyMode::Raw)?; // one key at a time
/// input.read_start(|tty, key| {
///     println!("got {:?}", key);
///     tty.close().unwrap();
/// })?;
/// lp.run(RunMode::Default)?;
/// Tty::reset_mode()?;
/// # Ok::<(), uvio::Error>(())
/// ```
///
/// A pseudo-terminal, runnable anywhere:
///
/// ```
/// use std::io::Read;
/// use std::os::fd::{FromRawFd, OwnedFd};
/// use uvio::{Loop, Tty, TtyMode};
///
/// let (mut master, mut slave) = (0, 0);
/// // SAFETY: openpty with valid out-pointers and no name/termios/winsize.
/// let r = unsafe {
///     libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(),
///                   std::ptr::null())
/// };
/// assert_eq!(r, 0);
/// // SAFETY: fresh descriptors we own.
/// let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
/// let lp = Loop::new()?;
/// let tty = Tty::new(&lp, slave)?;
/// tty.set_mode(TtyMode::Raw)?;
/// lp.block_on(tty.write(b"hi"))??;
/// let mut buf = [0u8; 2];
/// std::fs::File::from(master).read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hi");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Tty {
    pub(crate) h: StreamOwner<Tty>,
}

impl StreamKind for Tty {
    type Raw = ffi::uv_tty_t;
    fn from_handle(h: Handle<Self>) -> Self {
        Tty {
            h: StreamOwner::new(h),
        }
    }
    fn handle(&self) -> &Handle<Self> {
        &self.h
    }
}

handle_methods!(Tty, h);
fd_methods!(Tty, h);
stream_methods!(Tty);

impl Tty {
    fn init(lp: &LoopHandle, fd: i32) -> Result<Tty> {
        // SAFETY: uv_tty_init initialises a uv_tty_t on the loop, or fails without having
        // registered it (EINVAL for a file, errors from fcntl/dup2).
        let h =
            unsafe { HandleRef::new(lp, StreamState::new(), |l, t| ffi::uv_tty_init(l, t, fd, 0)) }
                .map_err(|e| e.with_context("tty_init", format_args!("fd {fd}")))?;
        Ok(Tty {
            h: StreamOwner::new(h),
        })
    }

    /// A terminal stream on `fd` (`uv_tty_init`); it can be read if `fd` was opened for
    /// reading, and written if opened for writing (libuv reads the access mode).
    ///
    /// The stream owns the descriptor: when libuv reopened the terminal (the usual case
    /// for the slave side of a terminal), the new descriptor is the stream's and `fd` is
    /// closed now; otherwise the stream closes `fd` when it closes.
    ///
    /// # Errors
    ///
    /// `EINVAL` when `fd` is a regular file (or not a stream libuv can watch), `EBADF` when
    /// the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// // Any stream descriptor works; a terminal gets terminal features.
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let t = uvio::Tty::new(&lp, a.into())?;
    /// assert!(t.is_writable());
    /// assert!(t.winsize().is_err()); // not a terminal
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn new(lp: &LoopHandle, fd: OwnedFd) -> Result<Tty> {
        let raw = fd.as_raw_fd();
        let t = Tty::init(lp, raw)?;
        if t.fileno().ok() == Some(raw) && raw > 2 {
            // libuv uses `fd` itself and closes it with the handle.
            let _ = fd.into_raw_fd();
        }
        // Otherwise libuv put its reopened descriptor in place (or, for 0-2, never closes
        // stdio): dropping `fd` closes our number.
        Ok(t)
    }

    /// A terminal stream on the process's standard input (descriptor 0, not closed by
    /// the stream). Also works when stdin is a pipe or socket (libuv then reads it as a
    /// stream); fails with `EINVAL` when it is a file.
    ///
    /// # Errors
    ///
    /// As [`Tty::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let stdin = std::io::stdin();
    /// // Only where stdin is a terminal (not under a test harness, usually).
    /// if uvio::guess_handle(&stdin) == uvio::HandleType::Tty {
    ///     let t = uvio::Tty::stdin(&lp)?;
    ///     assert!(t.is_readable());
    /// }
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stdin(lp: &LoopHandle) -> Result<Tty> {
        Tty::init(lp, 0)
    }

    /// A terminal stream on standard output (descriptor 1); see [`Tty::stdin`].
    ///
    /// # Errors
    ///
    /// As [`Tty::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let stdout = std::io::stdout();
    /// // Only where stdout is a terminal (not under a test harness, usually).
    /// if uvio::guess_handle(&stdout) == uvio::HandleType::Tty {
    ///     let t = uvio::Tty::stdout(&lp)?;
    ///     let (columns, rows) = t.winsize()?;
    ///     println!("{columns}x{rows}");
    /// }
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stdout(lp: &LoopHandle) -> Result<Tty> {
        Tty::init(lp, 1)
    }

    /// A terminal stream on standard error (descriptor 2); see [`Tty::stdin`].
    ///
    /// # Errors
    ///
    /// As [`Tty::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let stderr = std::io::stderr();
    /// // Only where stderr is a terminal.
    /// if uvio::guess_handle(&stderr) == uvio::HandleType::Tty {
    ///     let t = uvio::Tty::stderr(&lp)?;
    ///     assert!(t.is_writable());
    /// }
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stderr(lp: &LoopHandle) -> Result<Tty> {
        Tty::init(lp, 2)
    }

    /// Switches the terminal's mode (`uv_tty_set_mode`). The mode before the first change
    /// is remembered and restored by [`TtyMode::Normal`], on close and by
    /// [`Tty::reset_mode`].
    ///
    /// # Errors
    ///
    /// `ENOTTY` when the stream is not a terminal, `EBADF` when closed,
    /// [`Error::UNSUPPORTED`] for [`TtyMode::RawVt`] with a libuv older than 1.51.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let t = uvio::Tty::new(&lp, a.into())?;
    /// // Raw mode needs a terminal; on stdin that is a terminal:
    /// // `Tty::stdin(&lp)?.set_mode(TtyMode::Raw)?` and `Tty::reset_mode()?` before exiting.
    /// assert_eq!(t.set_mode(uvio::TtyMode::Raw).unwrap_err().name(), "ENOTTY");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn set_mode(&self, mode: TtyMode) -> Result<()> {
        let m = match mode {
            TtyMode::Normal => ffi::UV_TTY_MODE_NORMAL,
            TtyMode::Raw => ffi::UV_TTY_MODE_RAW,
            TtyMode::Io => ffi::UV_TTY_MODE_IO,
            TtyMode::RawVt => {
                // Older libuv does not know the value (and before 1.53 aborts on it).
                let (_, minor, _) = crate::version();
                if minor < 51 {
                    return Err(Error::unsupported("UV_TTY_MODE_RAW_VT"));
                }
                ffi::UV_TTY_MODE_RAW_VT
            }
        };
        self.h
            .call(|t| {
                // SAFETY: the handle is open; `m` is a mode this libuv knows.
                unsafe { ffi::uv_tty_set_mode(t, m) }
            })
            .map(drop)
            .map_err(|e| e.with_operation("set_mode"))
    }

    /// The terminal's size as `(columns, rows)` (`uv_tty_get_winsize`).
    ///
    /// # Errors
    ///
    /// `ENOTTY` when the stream is not a terminal, `EBADF` when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let stdout = std::io::stdout();
    /// if uvio::guess_handle(&stdout) == uvio::HandleType::Tty {
    ///     let (columns, rows) = uvio::Tty::stdout(&lp)?.winsize()?;
    ///     println!("the terminal is {columns} columns by {rows} rows");
    /// }
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// assert_eq!(uvio::Tty::new(&lp, a.into())?.winsize().unwrap_err().name(), "ENOTTY");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn winsize(&self) -> Result<(u16, u16)> {
        let (mut w, mut h) = (0i32, 0i32);
        self.h
            .call(|t| {
                // SAFETY: the handle is open; libuv writes the two integers.
                unsafe { ffi::uv_tty_get_winsize(t, &mut w, &mut h) }
            })
            .map_err(|e| e.with_operation("winsize"))?;
        let clamp = |v: i32| u16::try_from(v.max(0)).unwrap_or(u16::MAX);
        Ok((clamp(w), clamp(h)))
    }

    /// Restores the terminal mode saved by the first [`set_mode`](Self::set_mode) of any
    /// `Tty` in the process (`uv_tty_reset_mode`); call it before exiting after raw mode.
    /// Async-signal-safe in libuv, so a signal handler may call it too.
    ///
    /// # Errors
    ///
    /// `EBUSY` when another thread is inside `set_mode`; `tcsetattr` errors.
    ///
    /// # Examples
    ///
    /// ```
    /// // Nothing was changed yet: restoring is a no-op that succeeds.
    /// uvio::Tty::reset_mode()?;
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn reset_mode() -> Result<()> {
        // SAFETY: uv_tty_reset_mode has no preconditions.
        check(unsafe { ffi::uv_tty_reset_mode() })
            .map(drop)
            .map_err(|e| e.with_operation("tty_reset_mode"))
    }
}

impl fmt::Debug for Tty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Tty");
        if let Ok(fd) = self.fileno() {
            d.field("fd", &fd);
        }
        if let Ok((c, r)) = self.winsize() {
            d.field("columns", &c).field("rows", &r);
        }
        stream::debug_fields(&self.h, &mut d);
        d.finish()
    }
}
