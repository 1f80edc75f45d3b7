//! A TCP echo server on the raw `uvio::ffi` TCP API, following uvio's ownership rules by hand:
//! each handle lives in a heap box freed only in its close callback; each write request owns
//! its buffer and is freed in its completion callback; every `extern "C"` body runs under
//! `catch_unwind`.
//!
//! TODO(merge): rewrite on `uvio::TcpListener`/`uvio::TcpStream` once uvio's TCP module lands;
//! the `Echo` bookkeeping (close everything, call back when the last close callback ran) is
//! then `Loop::close_all`'s job.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::mem::MaybeUninit;
use std::rc::Rc;

use uvio::ffi;

/// The open handles of the echo servers on one loop.
#[derive(Default)]
pub struct Echo {
    /// Every handle whose close callback has not run yet.
    open: RefCell<HashSet<*mut ffi::uv_handle_t>>,
    /// Called once `open` becomes empty after [`Echo::close_all`].
    on_empty: Cell<Option<Box<dyn FnOnce()>>>,
}

/// A handle allocation: the `uv_tcp_t` first, so the handle pointer is the box pointer.
#[repr(C)]
struct Sock {
    tcp: ffi::uv_tcp_t,
    echo: Rc<Echo>,
}

/// A write request that owns what it writes.
#[repr(C)]
struct WriteReq {
    req: ffi::uv_write_t,
    data: Box<[u8]>,
}

/// Runs a callback body; a panic is reported and swallowed so it never unwinds into C.
fn guard(f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        eprintln!("uvio_addon: panic in an echo callback (ignored)");
    }
}

fn check(ret: i32) -> uvio::Result<i32> {
    if ret < 0 {
        Err(uvio::Error::from_code(ret))
    } else {
        Ok(ret)
    }
}

impl Echo {
    /// Allocates and initialises a TCP handle on `lp`.
    fn new_sock(self: &Rc<Self>, lp: *mut ffi::uv_loop_t) -> uvio::Result<*mut ffi::uv_tcp_t> {
        let b = Box::into_raw(Box::new(Sock {
            // SAFETY: uv_tcp_t is plain C data; all-zero is a valid value before init.
            tcp: unsafe { MaybeUninit::zeroed().assume_init() },
            echo: Rc::clone(self),
        }));
        // SAFETY: `b` is a fresh box and `tcp` its first field; `lp` is the live loop.
        let ret = unsafe { ffi::uv_tcp_init(lp, &raw mut (*b).tcp) };
        if let Err(e) = check(ret) {
            // SAFETY: init failed, so libuv never saw the handle: free it directly.
            drop(unsafe { Box::from_raw(b) });
            return Err(e);
        }
        let h = b.cast::<ffi::uv_handle_t>();
        self.open.borrow_mut().insert(h);
        Ok(b.cast())
    }

    /// Starts an echo server on 127.0.0.1:`port` (0 picks one); returns the bound port.
    pub fn listen(self: &Rc<Self>, lp: *mut ffi::uv_loop_t, port: u16) -> uvio::Result<u16> {
        let server = self.new_sock(lp)?;
        let r = (|| {
            let mut addr = MaybeUninit::<ffi::sockaddr_in>::zeroed();
            // SAFETY: a NUL-terminated address and writable sockaddr_in memory.
            check(unsafe {
                ffi::uv_ip4_addr(c"127.0.0.1".as_ptr(), i32::from(port), addr.as_mut_ptr())
            })?;
            // SAFETY: `server` is an initialised TCP handle; `addr` is a valid sockaddr_in.
            check(unsafe { ffi::uv_tcp_bind(server, (&raw const addr).cast(), 0) })?;
            // SAFETY: as above; on_connection matches uv_connection_cb.
            check(unsafe { ffi::uv_listen(server.cast(), 128, Some(on_connection)) })?;
            let mut name = MaybeUninit::<ffi::sockaddr_in>::zeroed();
            let mut len = std::mem::size_of::<ffi::sockaddr_in>() as i32;
            // SAFETY: `name` has room for `len` bytes.
            check(unsafe { ffi::uv_tcp_getsockname(server, name.as_mut_ptr().cast(), &mut len) })?;
            // SAFETY: zeroed, then filled by libuv.
            Ok(u16::from_be(unsafe { name.assume_init() }.sin_port))
        })();
        if r.is_err() {
            close(server.cast());
        }
        r.map_err(|e: uvio::Error| e.with_context("listen", format!("127.0.0.1:{port}")))
    }

    /// Closes every echo handle; `done` runs once their close callbacks have all run (at
    /// once when none is open). Returns how many it started closing.
    pub fn close_all(&self, done: Option<Box<dyn FnOnce()>>) -> usize {
        let open: Vec<_> = self.open.borrow().iter().copied().collect();
        let closed = open.into_iter().filter(|&h| close(h)).count();
        if let Some(done) = done {
            if self.open.borrow().is_empty() {
                done();
            } else {
                self.on_empty.set(Some(done));
            }
        }
        closed
    }
}

/// Closes everything uvio opened on `lp` (`Loop::close_all`) and every echo handle; `done`
/// runs once both are finished: every close callback has run and no request is in flight,
/// so the host may close its loop (or unload this library).
pub fn close_everything(lp: &uvio::Loop, echo: &Echo, done: impl FnOnce() + 'static) {
    let pending = Rc::new(Cell::new(2u8));
    let done = Rc::new(Cell::new(Some(Box::new(done) as Box<dyn FnOnce()>)));
    let part = move || {
        let pending = Rc::clone(&pending);
        let done = Rc::clone(&done);
        move || {
            pending.set(pending.get() - 1);
            let last = if pending.get() == 0 {
                done.take()
            } else {
                None
            };
            if let Some(f) = last {
                f();
            }
        }
    };
    echo.close_all(Some(Box::new(part())));
    lp.close_all(part());
}

/// Starts closing an echo handle unless it is closing already; true if it started.
fn close(h: *mut ffi::uv_handle_t) -> bool {
    // SAFETY: `h` is an echo handle whose close callback has not run (it is still in the
    // `open` set or was just created), so it is initialised and its box alive.
    unsafe {
        if ffi::uv_is_closing(h) != 0 {
            return false;
        }
        ffi::uv_close(h, Some(on_close));
    }
    true
}

unsafe extern "C" fn on_close(h: *mut ffi::uv_handle_t) {
    // SAFETY: every echo handle is the first field of a `Sock` box made by `new_sock`, and
    // libuv is done with it: this is the one place it is freed.
    let b = unsafe { Box::from_raw(h.cast::<Sock>()) };
    guard(|| {
        let echo = &b.echo;
        echo.open.borrow_mut().remove(&h);
        let empty = echo.open.borrow().is_empty();
        if let Some(done) = empty.then(|| echo.on_empty.take()).flatten() {
            done();
        }
    });
    drop(b);
}

unsafe extern "C" fn on_connection(server: *mut ffi::uv_stream_t, status: i32) {
    guard(|| {
        if status < 0 {
            return;
        }
        // SAFETY: `server` is a live echo handle (its callbacks only run before closing).
        let sock = unsafe { &*server.cast::<Sock>() };
        // SAFETY: as above; the loop pointer is libuv's own field.
        let lp = unsafe { (*server).loop_ };
        let Ok(client) = sock.echo.new_sock(lp) else {
            return;
        };
        // SAFETY: both are initialised TCP handles on the same loop; the callbacks match.
        let ok = unsafe {
            check(ffi::uv_accept(server, client.cast())).and_then(|_| {
                check(ffi::uv_read_start(
                    client.cast(),
                    Some(alloc),
                    Some(on_read),
                ))
            })
        };
        if ok.is_err() {
            close(client.cast());
        }
    });
}

unsafe extern "C" fn alloc(_h: *mut ffi::uv_handle_t, suggested: usize, buf: *mut ffi::uv_buf_t) {
    guard(|| {
        let data = vec![0u8; suggested.clamp(1, 64 * 1024)].into_boxed_slice();
        let len = data.len();
        let base = Box::into_raw(data).cast::<ffi::c_char>();
        // SAFETY: libuv passes a writable uv_buf_t; on_read gets it back and frees it.
        unsafe { *buf = ffi::uv_buf_t { base, len } };
    });
}

/// Takes back a buffer made by `alloc`.
///
/// # Safety
///
/// `buf` is null-based or came from `alloc` and was not taken back yet.
unsafe fn take_buf(buf: *const ffi::uv_buf_t) -> Option<Box<[u8]>> {
    // SAFETY: per the contract.
    unsafe {
        let b = &*buf;
        if b.base.is_null() {
            return None;
        }
        Some(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            b.base.cast::<u8>(),
            b.len,
        )))
    }
}

unsafe extern "C" fn on_read(
    stream: *mut ffi::uv_stream_t,
    nread: isize,
    buf: *const ffi::uv_buf_t,
) {
    // SAFETY: `buf` is what `alloc` handed out for this read (or null-based).
    let data = unsafe { take_buf(buf) };
    guard(|| {
        if nread < 0 {
            close(stream.cast());
            return;
        }
        let (Some(data), Ok(n)) = (data, u32::try_from(nread)) else {
            return;
        };
        if n == 0 {
            return;
        }
        let w = Box::into_raw(Box::new(WriteReq {
            // SAFETY: uv_write_t is plain C data; all-zero is valid before uv_write.
            req: unsafe { MaybeUninit::zeroed().assume_init() },
            data,
        }));
        // SAFETY: `w` is a fresh box that owns the bytes until on_write frees it; libuv copies
        // the uv_buf_t array itself; the stream is open (we are in its read callback).
        let ret = unsafe {
            let bufs = [ffi::uv_buf_init((*w).data.as_mut_ptr().cast(), n)];
            ffi::uv_write(&raw mut (*w).req, stream, bufs.as_ptr(), 1, Some(on_write))
        };
        if ret < 0 {
            // SAFETY: the write was refused, so libuv never saw the request.
            drop(unsafe { Box::from_raw(w) });
            close(stream.cast());
        }
    });
}

unsafe extern "C" fn on_write(req: *mut ffi::uv_write_t, status: i32) {
    // SAFETY: `req` is the first field of a `WriteReq` box; this is its completion callback,
    // after which libuv no longer uses it or its buffer.
    let w = unsafe { Box::from_raw(req.cast::<WriteReq>()) };
    guard(|| {
        if status < 0 && status != ffi::UV_ECANCELED {
            close(w.req.handle.cast());
        }
    });
    drop(w);
}
