//! IPC pipes: sending handles with [`PipeStream::write2`] and taking received ones with
//! [`PipeStream::accept_pending`].

use std::os::fd::{FromRawFd, OwnedFd};

use super::PipeStream;
use crate::error::{Error, Result};
use crate::ffi;
use crate::stream;
use crate::stream::listen::accept_into;
use crate::stream::write::Sent;
use crate::tcp::TcpStream;

impl PipeStream {
    /// Writes `buf` and sends `handle` with it (`uv_write2`) over an IPC pipe, then calls
    /// `callback`. The handle moves into the request and is closed once the write is done
    /// (the receiver has its own descriptor for it by then).
    ///
    /// # Errors
    ///
    /// `EINVAL` when the pipe is not in IPC mode or `buf` is empty (the descriptor travels
    /// with the bytes), `EBADF` when either handle is closed, `EPIPE` after shutdown. The
    /// callback is not called then, and `handle` is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = uvio::Loop::new()?;
    /// let (a, b) = uvio::PipeStream::pair_ipc(&lp)?;
    /// let (x, _y) = uvio::TcpStream::pair(&lp)?;
    /// let ok = Rc::new(Cell::new(false));
    /// let o = ok.clone();
    /// a.write2_cb("fd", x, move |_, r| o.set(r.is_ok()))?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(ok.get());
    /// # drop(b);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn write2_cb(
        &self,
        buf: impl Into<crate::WriteBuf>,
        handle: impl Into<PendingHandle>,
        callback: impl FnOnce(&PipeStream, Result<()>) + 'static,
    ) -> Result<()> {
        let (buf, sent) = self.write2_args(buf.into(), handle.into())?;
        stream::write::write2_cb(&self.h, buf, sent, callback)
    }

    /// Writes `buf` and sends `handle` with it over an IPC pipe; see
    /// [`write2_cb`](Self::write2_cb). The future resolves once written.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncReadExt;
    /// let lp = uvio::Loop::new()?;
    /// let (a, mut b) = uvio::PipeStream::pair_ipc(&lp)?;
    /// let (x, _y) = uvio::PipeStream::pair(&lp)?;
    /// lp.block_on(async {
    ///     a.write2("here", x).await?;
    ///     let mut buf = [0u8; 4];
    ///     b.read_exact(&mut buf).await?;
    ///     Ok::<_, uvio::Error>(())
    /// })??;
    /// assert_eq!(b.pending_count(), 1);
    /// // Without IPC mode, no handle can be sent.
    /// let (plain, _) = uvio::PipeStream::pair(&lp)?;
    /// let (z, _) = uvio::PipeStream::pair(&lp)?;
    /// assert!(lp.block_on(plain.write2("x", z))?.is_err());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn write2(
        &self,
        buf: impl Into<crate::WriteBuf>,
        handle: impl Into<PendingHandle>,
    ) -> crate::Write<'_> {
        match self.write2_args(buf.into(), handle.into()) {
            Ok((buf, sent)) => stream::write::write2_fut(&self.h, buf, sent),
            Err(e) => stream::write::write_failed(&self.h, e),
        }
    }

    fn write2_args(
        &self,
        buf: crate::WriteBuf,
        handle: PendingHandle,
    ) -> Result<(crate::WriteBuf, Sent)> {
        if buf.is_empty() {
            return Err(Error::EINVAL.with_operation("write2 of no bytes"));
        }
        let lp = self.loop_handle();
        let s = match handle {
            PendingHandle::Tcp(s) => {
                let raw = stream::raw_stream(&s.h);
                return Ok((
                    buf,
                    Sent {
                        raw,
                        _owner: Box::new(s),
                    },
                ));
            }
            PendingHandle::Pipe(s) => s,
            // A pipe handle carries any descriptor (uv_write2 only sends its number).
            PendingHandle::Other(fd) => PipeStream::open(&lp, fd)?,
        };
        let raw = stream::raw_stream(&s.h);
        Ok((
            buf,
            Sent {
                raw,
                _owner: Box::new(s),
            },
        ))
    }

    /// The number of received handles waiting to be taken with
    /// [`accept_pending`](Self::accept_pending) (`uv_pipe_pending_count`). Handles arrive
    /// with the bytes they were sent with: check after reading.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = uvio::PipeStream::pair_ipc(&lp)?;
    /// assert_eq!(a.pending_count(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn pending_count(&self) -> usize {
        self.h
            // SAFETY: the handle is open.
            .with_raw(|p| unsafe { ffi::uv_pipe_pending_count(p) })
            .map_or(0, |n| n.max(0) as usize)
    }

    /// Takes the next received handle (`uv_pipe_pending_type` + `uv_accept`), as a stream
    /// of the type it is. A descriptor of another kind (a UDP socket, a file) comes back
    /// as [`PendingHandle::Other`].
    ///
    /// # Errors
    ///
    /// `EAGAIN` when no handle is waiting, `EBADF` when closed, `EMFILE` when out of
    /// descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncReadExt;
    /// let lp = uvio::Loop::new()?;
    /// let (a, mut b) = uvio::PipeStream::pair_ipc(&lp)?;
    /// assert_eq!(b.accept_pending().unwrap_err().name(), "EAGAIN");
    /// let (x, _y) = uvio::PipeStream::pair(&lp)?;
    /// lp.block_on(async {
    ///     a.write2("fd!", x).await?;
    ///     let mut buf = [0u8; 3];
    ///     b.read_exact(&mut buf).await?;
    ///     Ok::<_, uvio::Error>(())
    /// })??;
    /// assert!(matches!(b.accept_pending()?, uvio::PendingHandle::Pipe(_)));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn accept_pending(&self) -> Result<PendingHandle> {
        self.h.state()?;
        // SAFETY: the handle is open.
        let ty = unsafe { ffi::uv_pipe_pending_type(self.h.raw()) };
        if ty == ffi::UV_UNKNOWN_HANDLE && self.pending_count() == 0 {
            return Err(Error::EAGAIN.with_operation("accept_pending"));
        }
        let lp = self.loop_handle();
        match ty {
            ffi::UV_TCP => {
                let s = TcpStream::init(&lp)?;
                accept_into(&self.h, stream::raw_stream(&s.h))?;
                Ok(PendingHandle::Tcp(s))
            }
            _ => {
                // A pipe handle takes any descriptor (uv_accept only records it).
                let s = PipeStream::init(&lp, false)?;
                accept_into(&self.h, stream::raw_stream(&s.h))?;
                if ty == ffi::UV_NAMED_PIPE {
                    return Ok(PendingHandle::Pipe(s));
                }
                let fd = s.fileno()?;
                // SAFETY: `fd` is open (owned by `s`); F_DUPFD_CLOEXEC makes a new one.
                let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
                if dup < 0 {
                    return Err(std::io::Error::last_os_error().into());
                }
                // SAFETY: `dup` is a fresh descriptor we own.
                Ok(PendingHandle::Other(unsafe { OwnedFd::from_raw_fd(dup) }))
            }
        }
    }
}

/// A handle passed over an IPC pipe: what [`PipeStream::write2`] sends (`TcpStream` and
/// `PipeStream` convert into it) and [`PipeStream::accept_pending`] receives.
///
/// # Examples
///
/// ```
/// use uvio::{Loop, PendingHandle, PipeStream};
///
/// let lp = Loop::new()?;
/// let (a, _b) = PipeStream::pair(&lp)?;
/// let h: PendingHandle = a.into();
/// assert!(matches!(h, PendingHandle::Pipe(_)));
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Debug)]
pub enum PendingHandle {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix socket connection or pipe.
    Pipe(PipeStream),
    /// A received descriptor of another kind (a UDP socket, a file, ...).
    Other(OwnedFd),
}

impl From<TcpStream> for PendingHandle {
    fn from(s: TcpStream) -> Self {
        PendingHandle::Tcp(s)
    }
}

impl From<PipeStream> for PendingHandle {
    fn from(s: PipeStream) -> Self {
        PendingHandle::Pipe(s)
    }
}
