//! Random bytes from the system CSPRNG (`uv_random`): synchronous, as a future on the
//! threadpool, or with a callback. The request box owns the buffer until libuv's callback.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, Result, check};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::req::{ReqBox, ReqOwner};

/// libuv refuses larger requests with `E2BIG`; checked before allocating.
const MAX_LEN: usize = 0x7FFF_FFFF;

type Done = Box<dyn FnOnce(Result<Vec<u8>>)>;

struct RandomState {
    /// The buffer libuv's worker fills (through the pointer given at submit; the `Vec` may
    /// move, its heap block does not).
    buf: Cell<Vec<u8>>,
    done: Cell<Option<Done>>,
    result: Cell<Option<Result<Vec<u8>>>>,
}

type RandomReq = ReqOwner<ffi::uv_random_t, RandomState>;

fn check_len(len: usize) -> Result<()> {
    if len > MAX_LEN {
        return Err(Error::E2BIG.with_context("random", len));
    }
    Ok(())
}

/// `len` cryptographically strong random bytes, synchronously (`uv_random` without a loop);
/// may block while the system has too little entropy (early at boot).
///
/// # Errors
///
/// `E2BIG` for more than `i32::MAX` bytes; the OS error when the source fails.
///
/// ```
/// let key = uvio::sys::random(32)?;
/// assert_eq!(key.len(), 32);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn random(len: usize) -> Result<Vec<u8>> {
    check_len(len)?;
    let mut buf = vec![0u8; len];
    // SAFETY: the synchronous form (no callback) ignores loop and request and fills `buf`.
    let ret = unsafe {
        ffi::uv_random(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            buf.as_mut_ptr().cast(),
            len,
            0,
            None,
        )
    };
    check(ret).map_err(|e| e.with_context("random", len))?;
    Ok(buf)
}

unsafe extern "C" fn on_random(
    req: *mut ffi::uv_random_t,
    status: i32,
    _buf: *mut std::ffi::c_void,
    _len: usize,
) {
    // SAFETY: libuv calls this once for a live submitted box.
    let b = unsafe { ReqBox::<ffi::uv_random_t, RandomState>::from_raw(req) };
    let _scope = crate::panic::scope(b.loop_inner());
    let buf = b.state.buf.take();
    let len = buf.len();
    let res = if status < 0 {
        Err(Error::from_code(status).with_context("random", len))
    } else {
        Ok(buf)
    };
    match b.state.done.take() {
        Some(done) => {
            let lp = b.loop_inner().clone();
            crate::panic::guard(&lp, || done(res));
        }
        None => b.state.result.set(Some(res)),
    }
    // SAFETY: the completion callback of `req`, which is not used afterwards.
    unsafe { ReqBox::<ffi::uv_random_t, RandomState>::complete(req) };
}

fn submit(lp: &LoopHandle, len: usize, done: Option<Done>) -> Result<RandomReq> {
    check_len(len)?;
    let state = RandomState {
        buf: Cell::new(vec![0u8; len]),
        done: Cell::new(done),
        result: Cell::new(None),
    };
    let p = ReqBox::alloc(lp, state)?;
    // SAFETY: a fresh box we only read here.
    let st = &unsafe { p.as_ref() }.state;
    let mut v = st.buf.take();
    let ptr = v.as_mut_ptr();
    st.buf.set(v);
    let l = lp.as_raw();
    // SAFETY: a fresh box; on_random matches its types and ends with `complete`; the buffer
    // (owned by the box, never touched by the loop thread until the callback) outlives the
    // request; we keep the one owner.
    unsafe {
        ReqBox::submit(p, true, |r| {
            ffi::uv_random(l, r, ptr.cast(), len, 0, Some(on_random))
        })
        .map_err(|e| e.with_context("random", len))?;
        Ok(ReqOwner::new(p))
    }
}

/// `len` random bytes filled on libuv's threadpool; `done` gets them on the loop thread
/// (`uv_random` with a callback).
///
/// # Errors
///
/// `E2BIG` for more than `i32::MAX` bytes, `EBADF` when the loop is closed; `done` is then
/// not called. Errors of the source itself go to `done`.
///
/// ```
/// let lp = uvio::Loop::new()?;
/// uvio::sys::random_with(&lp, 16, |r| assert_eq!(r.unwrap().len(), 16))?;
/// lp.run(uvio::RunMode::Default)?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn random_with(
    lp: &LoopHandle,
    len: usize,
    done: impl FnOnce(Result<Vec<u8>>) + 'static,
) -> Result<()> {
    submit(lp, len, Some(Box::new(done)))?.detach();
    Ok(())
}

/// `len` random bytes filled on libuv's threadpool, as a future on the current loop. The
/// request starts at the first poll; dropping the future in flight cancels it if it is still
/// queued (the buffer is freed by libuv's callback either way).
///
/// # Errors
///
/// `E2BIG` for more than `i32::MAX` bytes, `ECANCELED` when cancelled.
///
/// # Panics
///
/// When first polled outside a uvio loop.
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let (a, b) = lp.block_on(async {
///     (uvio::sys::random_async(16).await, uvio::sys::random_async(16).await)
/// })?;
/// assert_ne!(a?, b?);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn random_async(len: usize) -> Random {
    Random(State::Start(len))
}

enum State {
    Start(usize),
    Running(RandomReq),
    Done(Option<Error>),
}

/// The future of [`random_async`].
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let bytes = lp.block_on(uvio::sys::random_async(8))??;
/// assert_eq!(bytes.len(), 8);
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Random(State);

impl Future for Random {
    type Output = Result<Vec<u8>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Vec<u8>>> {
        if let State::Start(len) = self.0 {
            let lp = LoopHandle::current_or_panic("uvio::sys::random_async");
            self.0 = match submit(&lp, len, None) {
                Ok(o) => State::Running(o),
                Err(e) => State::Done(Some(e)),
            };
        }
        match &mut self.0 {
            State::Running(o) => o.poll_done(cx, |b| {
                b.state
                    .result
                    .take()
                    .unwrap_or_else(|| Err(Error::ECANCELED.with_operation("random")))
            }),
            State::Done(e) => Poll::Ready(Err(e.take().unwrap_or(Error::EBADF))),
            State::Start(_) => unreachable!("started above"),
        }
    }
}

impl fmt::Debug for Random {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.0 {
            State::Start(_) => "not started",
            State::Running(o) if o.is_done() => "done",
            State::Running(_) => "running",
            State::Done(_) => "done",
        };
        f.debug_struct("Random").field("state", &state).finish()
    }
}
