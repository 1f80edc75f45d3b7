//! Sending: owned buffers through `uv_udp_send` requests, or `uv_udp_try_send` at once.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::UdpSocket;
use crate::error::{Error, Result};
use crate::ffi;
use crate::net_addr::to_sockaddr;
use crate::req::{ReqBox, ReqOwner};

type SendDone = Box<dyn FnOnce(Result<usize>)>;

impl UdpSocket {
    fn submit_send(
        &self,
        data: Vec<u8>,
        to: Option<SocketAddr>,
        done: Option<SendDone>,
    ) -> Result<Option<ReqOwner<ffi::uv_udp_send_t, SendState>>> {
        let handle = self.h.with_raw(|h| h)?;
        let owned = done.is_none();
        let p = ReqBox::alloc(
            &self.loop_handle(),
            SendState {
                data,
                to,
                done: Cell::new(done),
                result: Cell::new(None),
            },
        )?;
        // SAFETY: `p` is a fresh box; the buffer lives in it until the completion callback.
        let st = unsafe { &p.as_ref().state };
        let buf = ffi::uv_buf_t {
            base: st.data.as_ptr().cast_mut().cast(),
            len: st.data.len(),
        };
        let sa = to.map(|a| to_sockaddr(&a).0);
        let sa_ptr = sa
            .as_ref()
            .map_or(std::ptr::null(), |s| std::ptr::from_ref(s).cast());
        // SAFETY: a fresh box; on_sent matches its types and ends with `complete`; libuv
        // copies the buffer list and the address; the bytes stay in the box until then.
        unsafe {
            ReqBox::submit(p, owned, |r| {
                ffi::uv_udp_send(r, handle, &buf, 1, sa_ptr, Some(on_sent))
            })
            .map_err(|e| send_context(e, to))?;
            Ok(owned.then(|| ReqOwner::new(p)))
        }
    }

    fn send_future(&self, data: Vec<u8>, to: Option<SocketAddr>) -> SendTo {
        match self.submit_send(data, to, None) {
            Ok(Some(o)) => SendTo(Ok(o)),
            Ok(None) => SendTo(Err(Some(Error::EINVAL))),
            Err(e) => SendTo(Err(Some(e))),
        }
    }

    /// Sends one datagram to `addr` (`uv_udp_send`); the future resolves to the number of
    /// bytes sent once libuv is done with the buffer.
    ///
    /// The send starts at once, before the future is polled; dropping the future does not
    /// stop it. The buffer is owned by the request until it completes.
    ///
    /// # Errors
    ///
    /// `EMSGSIZE` for a datagram larger than the protocol allows (65,507 bytes over IPv4),
    /// `EISCONN` on a connected socket, `EBADF` when closed, `ECANCELED` when the socket
    /// closes before the datagram went out.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let sent = lp.block_on(tx.send_to(b"datagram".to_vec(), rx.local_addr()?))??;
    /// assert_eq!(sent, 8);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn send_to(&self, data: impl Into<Vec<u8>>, addr: SocketAddr) -> SendTo {
        self.send_future(data.into(), Some(addr))
    }

    /// Sends one datagram on a connected socket; see [`send_to`](UdpSocket::send_to).
    ///
    /// # Errors
    ///
    /// `EDESTADDRREQ` when not connected; otherwise as `send_to`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// tx.connect(rx.local_addr()?)?;
    /// assert_eq!(lp.block_on(tx.send("abc"))??, 3);
    /// // Unconnected sockets need an address.
    /// assert_eq!(lp.block_on(rx.send("abc"))?.unwrap_err().name(), "EDESTADDRREQ");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn send(&self, data: impl Into<Vec<u8>>) -> SendTo {
        self.send_future(data.into(), None)
    }

    /// Sends one datagram to `addr`; `done` gets the number of bytes sent (or the error) on
    /// the loop thread.
    ///
    /// # Errors
    ///
    /// Errors found before the send starts (`EBADF`, `EISCONN`, `EINVAL`) are returned here
    /// and `done` is not called; later ones go to `done`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let sent = Rc::new(Cell::new(0));
    /// let s = sent.clone();
    /// tx.send_to_cb("four", rx.local_addr()?, move |r| s.set(r.unwrap()))?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(sent.get(), 4);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn send_to_cb(
        &self,
        data: impl Into<Vec<u8>>,
        addr: SocketAddr,
        done: impl FnOnce(Result<usize>) + 'static,
    ) -> Result<()> {
        self.submit_send(data.into(), Some(addr), Some(Box::new(done)))?;
        Ok(())
    }

    /// Sends one datagram on a connected socket; see [`send_to_cb`](UdpSocket::send_to_cb).
    ///
    /// # Errors
    ///
    /// As `send_to_cb`; `EDESTADDRREQ` when not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// tx.connect(rx.local_addr()?)?;
    /// let sent = Rc::new(Cell::new(0));
    /// let s = sent.clone();
    /// tx.send_cb(vec![0u8; 10], move |r| s.set(r.unwrap()))?;
    /// lp.run(uvio::RunMode::Default)?;
    /// assert_eq!(sent.get(), 10);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn send_cb(
        &self,
        data: impl Into<Vec<u8>>,
        done: impl FnOnce(Result<usize>) + 'static,
    ) -> Result<()> {
        self.submit_send(data.into(), None, Some(Box::new(done)))?;
        Ok(())
    }

    fn try_send_raw(&self, data: &[u8], to: Option<SocketAddr>) -> Result<usize> {
        let buf = ffi::uv_buf_t {
            base: data.as_ptr().cast_mut().cast(),
            len: data.len(),
        };
        let sa = to.map(|a| to_sockaddr(&a).0);
        let sa_ptr = sa
            .as_ref()
            .map_or(std::ptr::null(), |s| std::ptr::from_ref(s).cast());
        // SAFETY: the handle is open; libuv reads `data` synchronously and never writes it.
        let n = self
            .h
            .call(|h| unsafe { ffi::uv_udp_try_send(h, &buf, 1, sa_ptr) })
            .map_err(|e| send_context(e, to))?;
        Ok(n as usize)
    }

    /// Sends one datagram to `addr` now if it can go out without waiting
    /// (`uv_udp_try_send`); returns the number of bytes sent.
    ///
    /// # Errors
    ///
    /// `EAGAIN` when it would have to wait (queued sends pending, or the kernel buffer is
    /// full); `EMSGSIZE` for an oversized datagram; as [`send_to`](UdpSocket::send_to).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// assert_eq!(tx.try_send_to(b"now", rx.local_addr()?)?, 3);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn try_send_to(&self, data: &[u8], addr: SocketAddr) -> Result<usize> {
        self.try_send_raw(data, Some(addr))
    }

    /// [`try_send_to`](UdpSocket::try_send_to) on a connected socket.
    ///
    /// # Errors
    ///
    /// `EDESTADDRREQ` when not connected; otherwise as `try_send_to`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// assert_eq!(tx.try_send(b"x").unwrap_err().name(), "EDESTADDRREQ");
    /// tx.connect(rx.local_addr()?)?;
    /// assert_eq!(tx.try_send(b"x")?, 1);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn try_send(&self, data: &[u8]) -> Result<usize> {
        self.try_send_raw(data, None)
    }

    /// Bytes queued for sending (`uv_udp_get_send_queue_size`); 0 when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// lp.block_on(tx.send_to("done", rx.local_addr()?))??;
    /// // Everything went out.
    /// assert_eq!(tx.send_queue_size(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn send_queue_size(&self) -> usize {
        // SAFETY: the handle is open.
        self.h
            .with_raw(|h| unsafe { ffi::uv_udp_get_send_queue_size(h) })
            .unwrap_or(0)
    }

    /// Send requests queued (`uv_udp_get_send_queue_count`); 0 when closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
    /// lp.block_on(tx.send_to("done", rx.local_addr()?))??;
    /// assert_eq!(tx.send_queue_count(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn send_queue_count(&self) -> usize {
        // SAFETY: the handle is open.
        self.h
            .with_raw(|h| unsafe { ffi::uv_udp_get_send_queue_count(h) })
            .unwrap_or(0)
    }
}

fn send_context(e: Error, to: Option<SocketAddr>) -> Error {
    match to {
        Some(a) => e.with_context("send", a),
        None => e.with_operation("send"),
    }
}

/// The state of a send request: the bytes (owned until completion) and where the result goes.
pub(crate) struct SendState {
    data: Vec<u8>,
    to: Option<SocketAddr>,
    done: Cell<Option<SendDone>>,
    result: Cell<Option<Result<usize>>>,
}

/// The future of [`UdpSocket::send_to`] and [`UdpSocket::send`]: the number of bytes sent.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let rx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let tx = uvio::UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap())?;
/// let fut: uvio::udp::SendTo = tx.send_to("x", rx.local_addr()?);
/// assert_eq!(lp.block_on(fut)??, 1);
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "the datagram is sent either way; await the future to learn the outcome"]
pub struct SendTo(std::result::Result<ReqOwner<ffi::uv_udp_send_t, SendState>, Option<Error>>);

impl Future for SendTo {
    type Output = Result<usize>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<usize>> {
        match &mut self.0 {
            Ok(o) => o.poll_done(cx, |b| {
                b.state
                    .result
                    .take()
                    .unwrap_or(Err(Error::ECANCELED.with_operation("send")))
            }),
            Err(e) => Poll::Ready(Err(e.take().unwrap_or(Error::EBADF))),
        }
    }
}

impl fmt::Debug for SendTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendTo")
            .field(
                "done",
                &self.0.as_ref().map(|o| o.is_done()).unwrap_or(true),
            )
            .finish()
    }
}

unsafe extern "C" fn on_sent(req: *mut ffi::uv_udp_send_t, status: i32) {
    // SAFETY: libuv calls this once for a live submitted box.
    let b = unsafe { ReqBox::<ffi::uv_udp_send_t, SendState>::from_raw(req) };
    let lp = b.loop_inner().clone();
    let _scope = crate::panic::scope(&lp);
    crate::panic::guard(&lp, || {
        let st = &b.state;
        let res = if status < 0 {
            Err(send_context(Error::from_code(status), st.to))
        } else {
            Ok(st.data.len())
        };
        match st.done.take() {
            Some(done) => done(res),
            None => st.result.set(Some(res)),
        }
    });
    // SAFETY: the completion callback of `req`, which is not used afterwards.
    unsafe { ReqBox::<ffi::uv_udp_send_t, SendState>::complete(req) };
}
