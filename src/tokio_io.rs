//! tokio's IO traits on uvio's types (feature `tokio-io`), without tokio's runtime.
//!
//! [`TcpStream`](crate::TcpStream), [`PipeStream`](crate::PipeStream) and
//! [`Tty`](crate::Tty) (by value and by reference), their [`ReadHalf`](crate::ReadHalf) and
//! [`WriteHalf`](crate::WriteHalf), and [`File`](crate::fs::File) implement
//! `tokio::io::AsyncRead` and `AsyncWrite` by forwarding to their `futures_io` impls; `File`
//! also implements `tokio::io::AsyncBufRead` and `AsyncSeek`. So tokio-util's codecs,
//! tokio-rustls and hyper-util's `TokioIo` run on the libuv loop. tokio is used for its
//! traits only: no tokio runtime runs, and none is needed.
//!
//! A tokio `poll_read` zeroes the part of tokio's `ReadBuf` it may fill (at most 64 KiB of a
//! stream, what one libuv read delivers) unless tokio already knows it is initialised.
//! `poll_shutdown` is the stream's `poll_close` (it shuts the write side down).
//!
//! # Examples
//!
//! ```
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let lp = uvio::Loop::new()?;
//! let (mut a, mut b) = uvio::TcpStream::pair(&lp)?;
//! let got = lp.block_on(async move {
//!     AsyncWriteExt::write_all(&mut a, b"tokio traits").await?;
//!     AsyncWriteExt::shutdown(&mut a).await?;
//!     let mut s = String::new();
//!     AsyncReadExt::read_to_string(&mut b, &mut s).await?;
//!     Ok::<_, std::io::Error>(s)
//! })??;
//! assert_eq!(got, "tokio traits");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, IoSlice, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::ReadBuf;

use crate::fs::File;
use crate::{PipeStream, ReadHalf, TcpStream, Tty, WriteHalf};

/// The most bytes of a `ReadBuf` one stream read zeroes: a read returns at most one libuv
/// read buffer (64 KiB) anyway.
const STREAM_READ_MAX: usize = 64 * 1024;

/// A tokio read through a `futures_io` read, into at most `max` bytes of `buf`.
fn read<R: futures_io::AsyncRead + ?Sized>(
    r: Pin<&mut R>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
    max: usize,
) -> Poll<io::Result<()>> {
    let want = buf.remaining().min(max);
    let dst = buf.initialize_unfilled_to(want);
    let n = ready!(r.poll_read(cx, dst))?;
    if n > want {
        return Poll::Ready(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "poll_read reported more bytes than the buffer holds",
        )));
    }
    buf.advance(n);
    Poll::Ready(Ok(()))
}

/// `tokio::io::AsyncRead` + `AsyncWrite` for a type whose `futures_io` impls are on `$ty`.
macro_rules! tokio_rw {
    ($([$($gen:tt)*] $ty:ty, $max:expr;)*) => {$(
        impl<$($gen)*> tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                read(self, cx, buf, $max)
            }
        }

        impl<$($gen)*> tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                futures_io::AsyncWrite::poll_write(self, cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                futures_io::AsyncWrite::poll_flush(self, cx)
            }

            fn poll_shutdown(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<()>> {
                futures_io::AsyncWrite::poll_close(self, cx)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                futures_io::AsyncWrite::poll_write_vectored(self, cx, bufs)
            }

            /// Streams write every buffer with one `uv_try_write` (one `writev`).
            fn is_write_vectored(&self) -> bool {
                true
            }
        }
    )*};
}

tokio_rw! {
    [] TcpStream, STREAM_READ_MAX;
    [] &TcpStream, STREAM_READ_MAX;
    [] PipeStream, STREAM_READ_MAX;
    [] &PipeStream, STREAM_READ_MAX;
    [] Tty, STREAM_READ_MAX;
    [] &Tty, STREAM_READ_MAX;
    [] File, usize::MAX;
}

impl<S> tokio::io::AsyncRead for ReadHalf<S>
where
    for<'a> &'a S: futures_io::AsyncRead,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        read(self, cx, buf, STREAM_READ_MAX)
    }
}

impl<S> tokio::io::AsyncWrite for WriteHalf<S>
where
    for<'a> &'a S: futures_io::AsyncWrite,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(self, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(self, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write_vectored(self, cx, bufs)
    }
}

impl tokio::io::AsyncBufRead for File {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        futures_io::AsyncBufRead::poll_fill_buf(self, cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        futures_io::AsyncBufRead::consume(self, amt)
    }
}

/// tokio splits a seek in two: `start_seek` records the target, `poll_complete` does it.
/// uvio's `File` seeks in one `poll_seek` (an `fstat` for `SeekFrom::End`), so the target
/// waits here, in the file, until `poll_complete`.
impl tokio::io::AsyncSeek for File {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        self.get_mut().tokio_seek = Some(position);
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        let to = this.tokio_seek.unwrap_or(SeekFrom::Current(0));
        let r = ready!(futures_io::AsyncSeek::poll_seek(
            Pin::new(&mut *this),
            cx,
            to
        ));
        this.tokio_seek = None;
        Poll::Ready(r)
    }
}
