//! `futures_io::AsyncWrite` over the write machinery, and `split`.
//!
//! `poll_write` borrows the caller's bytes: it tries `uv_try_write` first, and copies what
//! the kernel did not take into a (recycled) owned buffer of a background write request
//! before returning. Errors of background writes are reported by the next `poll_write` or
//! `poll_flush`. While more than [`WRITE_HIGH`] bytes are queued, `poll_write` waits.

use std::fmt;
use std::io::IoSlice;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use super::write::{try_write_vectored, write_copy_with, write_queue_size};
use super::{Handle, StreamKind};
use crate::error::{Error, Result};

/// `poll_write` waits while more than this many bytes are queued.
const WRITE_HIGH: usize = 256 * 1024;
/// At most this many bytes are copied per `poll_write`.
const COPY_MAX: usize = 256 * 1024;

macro_rules! ready_state {
    ($h:expr) => {
        match $h.state() {
            Ok(st) => st,
            Err(e) => return Poll::Ready(Err(e)),
        }
    };
}

pub(crate) fn poll_write<T: StreamKind>(
    h: &Handle<T>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<Result<usize>> {
    poll_write_vectored(h, cx, &[IoSlice::new(buf)])
}

/// `poll_write_vectored`: one `uv_try_write` over every buffer (one `writev`), then what the
/// kernel did not take, up to [`COPY_MAX`] bytes, copied into one background write.
pub(crate) fn poll_write_vectored<T: StreamKind>(
    h: &Handle<T>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<Result<usize>> {
    let st = ready_state!(h);
    let side = &st.w;
    if let Some(e) = side.error.take() {
        return Poll::Ready(Err(e));
    }
    if side.closing.get() {
        return Poll::Ready(Err(Error::EPIPE.with_operation("write after close")));
    }
    let total = bufs.iter().fold(0usize, |n, b| n.saturating_add(b.len()));
    if total == 0 {
        return Poll::Ready(Ok(0));
    }
    if write_queue_size(h) >= WRITE_HIGH {
        side.flush.set(Some(cx.waker().clone()));
        return Poll::Pending;
    }
    let n = match try_write_vectored(h, bufs) {
        Ok(n) => n,
        Err(e) if e.code() == Error::EAGAIN.code() => 0,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if n == total {
        return Poll::Ready(Ok(n));
    }
    let take = (total - n).min(COPY_MAX);
    let fill = |v: &mut Vec<u8>| copy_range(bufs, n, take, v);
    match write_copy_with(h, take, &fill) {
        Ok(()) => Poll::Ready(Ok(n + take)),
        Err(_) if n > 0 => Poll::Ready(Ok(n)),
        Err(e) => Poll::Ready(Err(e)),
    }
}

/// Appends `take` bytes of the concatenation of `bufs`, from byte `skip` on, to `v`.
fn copy_range(bufs: &[IoSlice<'_>], mut skip: usize, mut take: usize, v: &mut Vec<u8>) {
    for b in bufs {
        if take == 0 {
            break;
        }
        if skip >= b.len() {
            skip -= b.len();
            continue;
        }
        let part = &b[skip..(skip + take).min(b.len())];
        v.extend_from_slice(part);
        take -= part.len();
        skip = 0;
    }
}

pub(crate) fn poll_flush<T: StreamKind>(h: &Handle<T>, cx: &mut Context<'_>) -> Poll<Result<()>> {
    let st = ready_state!(h);
    let side = &st.w;
    if let Some(e) = side.error.take() {
        return Poll::Ready(Err(e));
    }
    if side.in_flight.get() == 0 {
        return Poll::Ready(Ok(()));
    }
    side.flush.set(Some(cx.waker().clone()));
    Poll::Pending
}

pub(crate) fn poll_close<T: StreamKind>(h: &Handle<T>, cx: &mut Context<'_>) -> Poll<Result<()>> {
    match poll_flush(h, cx) {
        Poll::Ready(Ok(())) => {}
        other => return other,
    }
    let st = ready_state!(h);
    let side = &st.w;
    if !side.closing.get() {
        side.closing.set(true);
        if !super::is_writable(h) {
            // Shut down already (shutdown_cb/shutdown), or never writable.
            return Poll::Ready(Ok(()));
        }
        side.close.set(Some(super::oneshot::shutdown_req(h)));
    }
    let Some(mut f) = side.close.take() else {
        return Poll::Ready(Ok(()));
    };
    match std::future::Future::poll(Pin::new(&mut f), cx) {
        Poll::Ready(r) => Poll::Ready(r),
        Poll::Pending => {
            side.close.set(Some(f));
            Poll::Pending
        }
    }
}

/// Splits `s` into two halves sharing it.
pub(crate) fn split<S>(s: S) -> (ReadHalf<S>, WriteHalf<S>) {
    let rc = Rc::new(s);
    (ReadHalf(rc.clone()), WriteHalf(rc))
}

/// The read half of a stream's [`split`](crate::TcpStream::split): implements `AsyncRead`.
///
/// # Examples
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use uvio::{Loop, TcpListener, TcpStream};
///
/// let lp = Loop::new()?;
/// let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// lp.block_on(async move {
///     let client = TcpStream::connect(addr).await?;
///     let server = listener.accept().await?;
///     let (mut rd, mut wr) = server.split();
///     let mut c = &client;
///     c.write_all(b"ping").await?;
///     let mut buf = [0u8; 4];
///     rd.read_exact(&mut buf).await?;
///     wr.write_all(&buf).await?;
///     let mut back = [0u8; 4];
///     c.read_exact(&mut back).await?;
///     assert_eq!(&back, b"ping");
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ReadHalf<S>(Rc<S>);

/// The write half of a stream's [`split`](crate::TcpStream::split): implements
/// `AsyncWrite`; `poll_close` shuts the write side down.
///
/// # Examples
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
///
/// let lp = uvio::Loop::new()?;
/// let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// lp.block_on(async move {
///     let c = uvio::TcpStream::connect(addr).await?;
///     let (_rd, mut wr) = listener.accept().await?.split();
///     wr.write_all(b"bye").await?;
///     wr.close().await?; // shuts the write side down
///     let mut all = Vec::new();
///     (&c).read_to_end(&mut all).await?;
///     assert_eq!(all, b"bye");
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WriteHalf<S>(Rc<S>);

impl<S> ReadHalf<S> {
    /// The stream both halves share (for its other methods).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
    /// let (rd, _wr) = a.split();
    /// assert!(rd.stream().is_readable());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stream(&self) -> &S {
        &self.0
    }

    /// Puts the halves back together; gives them back if they are not of one stream.
    ///
    /// # Errors
    ///
    /// The two halves, when they come from different streams.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (a, b) = uvio::TcpStream::pair(&lp)?;
    /// let (rd, wr) = a.split();
    /// let a = rd.unsplit(wr).map_err(|_| "halves of one stream")?;
    /// assert!(a.is_writable());
    /// // Halves of two different streams are given back.
    /// let (rd_b, _) = b.split();
    /// let (_, wr_c) = uvio::TcpStream::pair(&lp)?.0.split();
    /// assert!(rd_b.unsplit(wr_c).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unsplit(self, w: WriteHalf<S>) -> std::result::Result<S, (ReadHalf<S>, WriteHalf<S>)> {
        if !Rc::ptr_eq(&self.0, &w.0) {
            return Err((self, w));
        }
        drop(w);
        Rc::try_unwrap(self.0).map_err(|rc| (ReadHalf(rc.clone()), WriteHalf(rc)))
    }
}

impl<S> WriteHalf<S> {
    /// The stream both halves share (for its other methods).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let (a, _b) = uvio::TcpStream::pair(&lp)?;
    /// let (_rd, wr) = a.split();
    /// assert_eq!(wr.stream().write_queue_size(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stream(&self) -> &S {
        &self.0
    }
}

impl<S> AsyncRead for ReadHalf<S>
where
    for<'a> &'a S: AsyncRead,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_read(cx, buf)
    }
}

impl<S> AsyncWrite for WriteHalf<S>
where
    for<'a> &'a S: AsyncWrite,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_write_vectored(cx, bufs)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut &*self.0).poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut &*self.0).poll_close(cx)
    }
}

impl<S: fmt::Debug> fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadHalf").field(&*self.0).finish()
    }
}

impl<S: fmt::Debug> fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WriteHalf").field(&*self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_range_spans_buffers() {
        let (a, b, c) = (b"abc".as_slice(), b"".as_slice(), b"defgh".as_slice());
        let bufs = [IoSlice::new(a), IoSlice::new(b), IoSlice::new(c)];
        let all = b"abcdefgh";
        for skip in 0..=all.len() {
            for take in 0..=all.len() - skip {
                let mut v = Vec::new();
                copy_range(&bufs, skip, take, &mut v);
                assert_eq!(v, &all[skip..skip + take], "skip {skip} take {take}");
            }
        }
    }
}
