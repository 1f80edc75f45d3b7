//! Name resolution on libuv's threadpool: [`getaddrinfo`], [`getnameinfo`] and the
//! [`lookup_host`] helper, each as a future or with a callback.
//!
//! Futures start their request when first polled, on the loop polling them; dropping one in
//! flight cancels it (`uv_cancel`) if it has not started running. Either way libuv's
//! completion callback runs, and it alone frees the result list (`uv_freeaddrinfo`).
//!
//! ```
//! let lp = uvio::Loop::new()?;
//! let addrs: Vec<_> = lp.block_on(uvio::dns::lookup_host("localhost:8080"))??.collect();
//! assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
//! # Ok::<(), uvio::Error>(())
//! ```

mod types;

use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, Result};
use crate::event_loop::LoopHandle;
use crate::ffi;
use crate::net_addr::{from_sockaddr, to_sockaddr};
use crate::req::{RawReq, ReqBox, ReqOwner};

pub use types::{AddrInfo, AiFlags, Family, Hints, NameInfo, NiFlags, SockType};

type Done<T> = Box<dyn FnOnce(Result<T>)>;

/// The state of a DNS request: what it is about (for error messages) and where the result
/// goes (a callback, or a slot the future reads).
struct ReqState<T> {
    subject: String,
    done: Cell<Option<Done<T>>>,
    result: Cell<Option<Result<T>>>,
}

impl<T> ReqState<T> {
    fn new(subject: String, done: Option<Done<T>>) -> ReqState<T> {
        ReqState {
            subject,
            done: Cell::new(done),
            result: Cell::new(None),
        }
    }

    fn error(&self, op: &'static str, status: i32) -> Error {
        Error::from_code(status).with_context(op, &self.subject)
    }

    /// Hands the result to the callback (inside the panic guard) or the future.
    fn finish(&self, lp: &crate::event_loop::LoopInner, res: Result<T>) {
        match self.done.take() {
            Some(done) => {
                crate::panic::guard(lp, || done(res));
            }
            None => self.result.set(Some(res)),
        }
    }
}

type AddrReq = ReqOwner<ffi::uv_getaddrinfo_t, ReqState<Vec<AddrInfo>>>;
type NameReq = ReqOwner<ffi::uv_getnameinfo_t, ReqState<NameInfo>>;

fn cstring(s: Option<&str>, what: &str) -> Result<Option<CString>> {
    s.map(|s| CString::new(s).map_err(|_| Error::EINVAL.with_context("getaddrinfo", what)))
        .transpose()
}

fn subject(host: Option<&str>, service: Option<&str>) -> String {
    match (host, service) {
        (Some(h), Some(s)) => format!("{h}:{s}"),
        (Some(h), None) => h.to_string(),
        (None, Some(s)) => s.to_string(),
        (None, None) => String::new(),
    }
}

struct AddrArgs {
    host: Option<CString>,
    service: Option<CString>,
    hints: Hints,
    subject: String,
}

impl AddrArgs {
    fn new(host: Option<&str>, service: Option<&str>, hints: Hints) -> Result<AddrArgs> {
        let subject = subject(host, service);
        if host.is_none() && service.is_none() {
            return Err(Error::EINVAL.with_operation("getaddrinfo without host or service"));
        }
        Ok(AddrArgs {
            host: cstring(host, &subject)?,
            service: cstring(service, &subject)?,
            hints,
            subject,
        })
    }

    fn submit(self, lp: &LoopHandle, done: Option<Done<Vec<AddrInfo>>>) -> Result<AddrReq> {
        let subject = self.subject.clone();
        let p = ReqBox::alloc(lp, ReqState::new(self.subject, done))?;
        let hints = self.hints.raw();
        let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        let l = lp.as_raw();
        // SAFETY: a fresh box; on_addrinfo matches its types and ends with `complete`; libuv
        // copies the host, service and hints before returning; we keep the one owner.
        unsafe {
            ReqBox::submit(p, true, |r| {
                ffi::uv_getaddrinfo(
                    l,
                    r,
                    Some(on_addrinfo),
                    ptr(&self.host),
                    ptr(&self.service),
                    &hints,
                )
            })
            .map_err(|e| e.with_context("getaddrinfo", subject))?;
            Ok(ReqOwner::new(p))
        }
    }
}

fn submit_name(
    lp: &LoopHandle,
    addr: SocketAddr,
    flags: NiFlags,
    done: Option<Done<NameInfo>>,
) -> Result<NameReq> {
    let p = ReqBox::alloc(lp, ReqState::new(addr.to_string(), done))?;
    let (sa, _) = to_sockaddr(&addr);
    let l = lp.as_raw();
    // SAFETY: a fresh box; on_nameinfo matches its types and ends with `complete`; libuv
    // copies the address before returning; we keep the one owner.
    unsafe {
        ReqBox::submit(p, true, |r| {
            ffi::uv_getnameinfo(
                l,
                r,
                Some(on_nameinfo),
                (&raw const sa).cast(),
                flags.bits(),
            )
        })
        .map_err(|e| e.with_context("getnameinfo", addr))?;
        Ok(ReqOwner::new(p))
    }
}

/// Collects libuv's result list.
///
/// # Safety
///
/// `ai` is null or the head of a valid `addrinfo` list.
unsafe fn collect(mut ai: *const ffi::addrinfo) -> Vec<AddrInfo> {
    let mut out = Vec::new();
    while !ai.is_null() {
        // SAFETY: a node of a valid list (contract).
        let a = unsafe { &*ai };
        // SAFETY: a node's `ai_addr` is null or a valid socket address.
        if let Some(addr) = unsafe { from_sockaddr(a.ai_addr) } {
            let canonical_name = (!a.ai_canonname.is_null()).then(|| {
                // SAFETY: a non-null canonical name is a NUL-terminated C string.
                unsafe { CStr::from_ptr(a.ai_canonname) }
                    .to_string_lossy()
                    .into_owned()
            });
            out.push(AddrInfo {
                addr,
                socktype: SockType::from_raw(a.ai_socktype),
                protocol: a.ai_protocol,
                canonical_name,
            });
        }
        ai = a.ai_next;
    }
    out
}

unsafe extern "C" fn on_addrinfo(
    req: *mut ffi::uv_getaddrinfo_t,
    status: i32,
    res: *mut ffi::addrinfo,
) {
    // SAFETY: libuv calls this once for a live submitted box.
    let b = unsafe { ReqBox::<ffi::uv_getaddrinfo_t, ReqState<Vec<AddrInfo>>>::from_raw(req) };
    let lp = b.loop_inner().clone();
    let _scope = crate::panic::scope(&lp);
    let out = crate::panic::guard(&lp, || {
        if status < 0 {
            Err(b.state.error("getaddrinfo", status))
        } else {
            // SAFETY: on success `res` is libuv's valid result list.
            Ok(unsafe { collect(res) })
        }
    });
    // SAFETY: the list libuv handed to this callback (or null, a no-op); freed exactly once,
    // here, whether or not anyone still wants the result.
    unsafe { ffi::uv_freeaddrinfo(res) };
    if let Some(out) = out {
        b.state.finish(&lp, out);
    }
    // SAFETY: the completion callback of `req`, which is not used afterwards.
    unsafe { ReqBox::<ffi::uv_getaddrinfo_t, ReqState<Vec<AddrInfo>>>::complete(req) };
}

unsafe extern "C" fn on_nameinfo(
    req: *mut ffi::uv_getnameinfo_t,
    status: i32,
    host: *const ffi::c_char,
    service: *const ffi::c_char,
) {
    // SAFETY: libuv calls this once for a live submitted box.
    let b = unsafe { ReqBox::<ffi::uv_getnameinfo_t, ReqState<NameInfo>>::from_raw(req) };
    let lp = b.loop_inner().clone();
    let _scope = crate::panic::scope(&lp);
    let out = crate::panic::guard(&lp, || {
        if status < 0 {
            return Err(b.state.error("getnameinfo", status));
        }
        let text = |p: *const ffi::c_char| {
            if p.is_null() {
                String::new()
            } else {
                // SAFETY: libuv passes NUL-terminated strings inside the request.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        Ok(NameInfo {
            host: text(host),
            service: text(service),
        })
    });
    if let Some(out) = out {
        b.state.finish(&lp, out);
    }
    // SAFETY: the completion callback of `req`, which is not used afterwards.
    unsafe { ReqBox::<ffi::uv_getnameinfo_t, ReqState<NameInfo>>::complete(req) };
}

type Starter<R, T> = Box<dyn FnOnce(&LoopHandle) -> Result<ReqOwner<R, ReqState<T>>>>;

/// A request future: starts on first poll, cancels when dropped in flight.
enum Pending<R: RawReq, T> {
    Start(Starter<R, T>),
    Running(ReqOwner<R, ReqState<T>>),
    Failed(Option<Error>),
}

impl<R: RawReq, T> Pending<R, T> {
    fn poll(&mut self, cx: &mut Context<'_>, op: &'static str) -> Poll<Result<T>> {
        if let Pending::Start(_) = self {
            let Pending::Start(start) = std::mem::replace(self, Pending::Failed(None)) else {
                unreachable!("matched above")
            };
            let lp = LoopHandle::current_or_panic(op);
            *self = match start(&lp) {
                Ok(o) => Pending::Running(o),
                Err(e) => Pending::Failed(Some(e)),
            };
        }
        match self {
            Pending::Running(o) => o.poll_done(cx, |b| {
                b.state
                    .result
                    .take()
                    .unwrap_or_else(|| Err(Error::ECANCELED.with_operation(op)))
            }),
            Pending::Failed(e) => Poll::Ready(Err(e.take().unwrap_or(Error::EBADF))),
            Pending::Start(_) => unreachable!("replaced above"),
        }
    }

    fn state(&self) -> &'static str {
        match self {
            Pending::Start(_) => "not started",
            Pending::Running(o) if o.is_done() => "done",
            Pending::Running(_) => "running",
            Pending::Failed(_) => "done",
        }
    }
}

/// Resolves `host` and/or `service` to addresses (`uv_getaddrinfo`, on the threadpool).
///
/// Either may be `None`, not both. The request starts when the future is first polled;
/// dropping it in flight cancels it.
///
/// # Errors
///
/// An `EAI_*` error naming what was looked up (`EAI_NONAME` for an unknown name),
/// `EINVAL` for a NUL byte, `EAI_CANCELED` when cancelled.
///
/// # Panics
///
/// When first polled outside a uvio loop (use [`getaddrinfo_cb`] to give a loop).
///
/// # Examples
///
/// ```
/// use uvio::dns::{getaddrinfo, Hints, SockType};
///
/// let lp = uvio::Loop::new()?;
/// let hints = Hints::new().socktype(SockType::Datagram);
/// let found = lp.block_on(getaddrinfo(Some("127.0.0.1"), Some("53"), hints))??;
/// assert_eq!(found[0].addr, "127.0.0.1:53".parse().unwrap());
/// assert_eq!(found[0].socktype, SockType::Datagram);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn getaddrinfo(host: Option<&str>, service: Option<&str>, hints: Hints) -> GetAddrInfo {
    let inner = match AddrArgs::new(host, service, hints) {
        Ok(args) => Pending::Start(Box::new(move |lp: &LoopHandle| args.submit(lp, None))),
        Err(e) => Pending::Failed(Some(e)),
    };
    GetAddrInfo(inner)
}

/// [`getaddrinfo`] with a callback: `done` gets the result on the loop thread. The returned
/// [`DnsRequest`] can cancel it; dropping that does not.
///
/// # Errors
///
/// Errors found before the lookup starts (`EINVAL`, `EBADF`); `done` is then not called.
///
/// # Examples
///
/// ```
/// use uvio::dns::{getaddrinfo_cb, Hints};
///
/// let lp = uvio::Loop::new()?;
/// let _req = getaddrinfo_cb(&lp, Some("::1"), None, Hints::new(), |res| {
///     let found = res.unwrap();
///     assert!(found.iter().all(|a| a.addr.ip().is_loopback()));
/// })?;
/// lp.run(uvio::RunMode::Default)?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn getaddrinfo_cb(
    lp: &LoopHandle,
    host: Option<&str>,
    service: Option<&str>,
    hints: Hints,
    done: impl FnOnce(Result<Vec<AddrInfo>>) + 'static,
) -> Result<DnsRequest> {
    let o = AddrArgs::new(host, service, hints)?.submit(lp, Some(Box::new(done)))?;
    Ok(DnsRequest(Some(Held::Addr(o))))
}

/// Looks up the name of `addr` (`uv_getnameinfo`, on the threadpool).
///
/// # Errors
///
/// An `EAI_*` error naming the address.
///
/// # Panics
///
/// When first polled outside a uvio loop (use [`getnameinfo_cb`] to give a loop).
///
/// # Examples
///
/// ```
/// use uvio::dns::{getnameinfo, NiFlags};
///
/// let lp = uvio::Loop::new()?;
/// let flags = NiFlags::NUMERICHOST | NiFlags::NUMERICSERV;
/// let n = lp.block_on(getnameinfo("127.0.0.1:8080".parse().unwrap(), flags))??;
/// assert_eq!((n.host.as_str(), n.service.as_str()), ("127.0.0.1", "8080"));
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn getnameinfo(addr: SocketAddr, flags: NiFlags) -> GetNameInfo {
    GetNameInfo(Pending::Start(Box::new(move |lp: &LoopHandle| {
        submit_name(lp, addr, flags, None)
    })))
}

/// [`getnameinfo`] with a callback; see [`getaddrinfo_cb`].
///
/// # Errors
///
/// `EBADF` when the loop is closed; `done` is then not called.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use uvio::dns::{getnameinfo_cb, NiFlags};
/// let lp = uvio::Loop::new()?;
/// let out = Rc::new(RefCell::new(None));
/// let o = out.clone();
/// let flags = NiFlags::NUMERICHOST | NiFlags::NUMERICSERV;
/// getnameinfo_cb(&lp, "127.0.0.1:443".parse().unwrap(), flags, move |r| {
///     *o.borrow_mut() = Some(r.unwrap());
/// })?;
/// lp.run(uvio::RunMode::Default)?;
/// let n = out.borrow_mut().take().unwrap();
/// assert_eq!((n.host.as_str(), n.service.as_str()), ("127.0.0.1", "443"));
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn getnameinfo_cb(
    lp: &LoopHandle,
    addr: SocketAddr,
    flags: NiFlags,
    done: impl FnOnce(Result<NameInfo>) + 'static,
) -> Result<DnsRequest> {
    let o = submit_name(lp, addr, flags, Some(Box::new(done)))?;
    Ok(DnsRequest(Some(Held::Name(o))))
}

/// A public future type over a [`Pending`] request.
macro_rules! request_future {
    ($(#[$m:meta])* $name:ident, $req:ty, $out:ty, $op:literal) => {
        $(#[$m])*
        #[must_use = "futures do nothing unless polled"]
        pub struct $name(Pending<$req, $out>);

        impl Future for $name {
            type Output = Result<$out>;
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                self.0.poll(cx, $op)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("state", &self.0.state())
                    .finish()
            }
        }
    };
}

request_future!(
    /// The future of [`getaddrinfo`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::dns::{getaddrinfo, GetAddrInfo, Hints};
    ///
    /// let lp = uvio::Loop::new()?;
    /// let fut: GetAddrInfo = getaddrinfo(Some("::1"), Some("443"), Hints::new());
    /// let found = lp.block_on(fut)??;
    /// assert!(found.iter().all(|a| a.addr == "[::1]:443".parse().unwrap()));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    GetAddrInfo,
    ffi::uv_getaddrinfo_t,
    Vec<AddrInfo>,
    "getaddrinfo"
);
request_future!(
    /// The future of [`getnameinfo`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::dns::{getnameinfo, GetNameInfo, NiFlags};
    ///
    /// let lp = uvio::Loop::new()?;
    /// let fut: GetNameInfo = getnameinfo("127.0.0.1:80".parse().unwrap(), NiFlags::NUMERICHOST);
    /// let n = lp.block_on(fut)??;
    /// assert_eq!(n.host, "127.0.0.1");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    GetNameInfo,
    ffi::uv_getnameinfo_t,
    NameInfo,
    "getnameinfo"
);

enum Held {
    Addr(AddrReq),
    Name(NameReq),
}

/// A lookup started with [`getaddrinfo_cb`] or [`getnameinfo_cb`], to cancel it. Dropping it
/// does not cancel.
///
/// # Examples
///
/// ```
/// use uvio::dns::{getaddrinfo_cb, DnsRequest, Hints};
/// let lp = uvio::Loop::new()?;
/// let req: DnsRequest = getaddrinfo_cb(&lp, Some("127.0.0.1"), None, Hints::new(), |r| {
///     assert!(r.is_ok());
/// })?;
/// lp.run(uvio::RunMode::Default)?;
/// assert!(req.is_done());
/// # Ok::<(), uvio::Error>(())
/// ```
pub struct DnsRequest(Option<Held>);

impl DnsRequest {
    fn raw(&self) -> Option<(*mut ffi::uv_req_t, bool)> {
        Some(match self.0.as_ref()? {
            Held::Addr(o) => (o.get().raw().cast(), o.is_done()),
            Held::Name(o) => (o.get().raw().cast(), o.is_done()),
        })
    }

    /// Cancels the lookup if it has not started running (`uv_cancel`); its callback then
    /// gets `EAI_CANCELED`.
    ///
    /// # Errors
    ///
    /// `EBUSY` when it is running or finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use uvio::dns::{getaddrinfo_cb, Hints};
    /// let lp = uvio::Loop::new()?;
    /// let out = Rc::new(RefCell::new(None));
    /// let o = out.clone();
    /// let req = getaddrinfo_cb(&lp, Some("127.0.0.1"), None, Hints::new(), move |r| {
    ///     *o.borrow_mut() = Some(r.map(|v| v.len()));
    /// })?;
    /// // Whether the threadpool already took it is up to timing.
    /// let cancelled = req.cancel().is_ok();
    /// lp.run(uvio::RunMode::Default)?;
    /// let r = out.borrow_mut().take().unwrap();
    /// if cancelled {
    ///     assert_eq!(r.unwrap_err().name(), "EAI_CANCELED");
    /// } else {
    ///     assert!(r.is_ok());
    /// }
    /// // Done now: too late to cancel.
    /// assert_eq!(req.cancel().unwrap_err().name(), "EBUSY");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn cancel(&self) -> Result<()> {
        match self.raw() {
            Some((raw, false)) => {
                // SAFETY: the request is submitted and not complete; we hold its box.
                crate::error::check(unsafe { ffi::uv_cancel(raw) })
                    .map_err(|e| e.with_operation("cancel"))?;
                Ok(())
            }
            _ => Err(Error::EBUSY.with_operation("cancel")),
        }
    }

    /// True once the callback has run.
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::dns::{getaddrinfo_cb, Hints};
    /// let lp = uvio::Loop::new()?;
    /// let req = getaddrinfo_cb(&lp, Some("::1"), None, Hints::new(), |_| {})?;
    /// assert!(!req.is_done()); // the callback runs on the loop, not before
    /// lp.run(uvio::RunMode::Default)?;
    /// assert!(req.is_done());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_done(&self) -> bool {
        self.raw().is_none_or(|(_, done)| done)
    }
}

impl Drop for DnsRequest {
    fn drop(&mut self) {
        match self.0.take() {
            Some(Held::Addr(o)) => o.detach(),
            Some(Held::Name(o)) => o.detach(),
            None => {}
        }
    }
}

impl fmt::Debug for DnsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsRequest")
            .field("done", &self.is_done())
            .finish()
    }
}

/// Splits `"host:port"` (or `"[v6]:port"`) into host and port.
fn split_host_port(s: &str) -> Result<(&str, u16)> {
    let bad = || Error::EINVAL.with_context("lookup_host (expected host:port)", s);
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

/// Resolves `"host:port"` to socket addresses, like `std::net::ToSocketAddrs` but without
/// blocking the loop: a numeric address resolves at once, a name through [`getaddrinfo`]
/// (stream sockets, so each address appears once).
///
/// # Errors
///
/// `EINVAL` when the text is not `host:port`; the `EAI_*` error of the lookup, naming the
/// host.
///
/// # Panics
///
/// When a name must be looked up and the future is first polled outside a uvio loop (a
/// numeric address needs no loop).
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let mut it = lp.block_on(uvio::dns::lookup_host("[::1]:443"))??;
/// assert_eq!(it.next(), Some("[::1]:443".parse().unwrap()));
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn lookup_host(addr: &str) -> LookupHost {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return LookupHost(LookupState::Ready(Some(Ok(vec![a]))));
    }
    match split_host_port(addr) {
        Err(e) => LookupHost(LookupState::Ready(Some(Err(e)))),
        Ok((host, port)) => {
            let hints = Hints::new().socktype(SockType::Stream);
            LookupHost(LookupState::Resolving(
                getaddrinfo(Some(host), None, hints),
                port,
            ))
        }
    }
}

enum LookupState {
    Ready(Option<Result<Vec<SocketAddr>>>),
    Resolving(GetAddrInfo, u16),
}

/// The future of [`lookup_host`]: an iterator over the addresses found.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let fut: uvio::dns::LookupHost = uvio::dns::lookup_host("127.0.0.1:8080");
/// let addrs: Vec<_> = lp.block_on(fut)??.collect();
/// assert_eq!(addrs, vec!["127.0.0.1:8080".parse().unwrap()]);
/// // Not host:port.
/// assert_eq!(lp.block_on(uvio::dns::lookup_host("nonsense"))?.unwrap_err().name(), "EINVAL");
/// # Ok::<(), uvio::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct LookupHost(LookupState);

impl Future for LookupHost {
    type Output = Result<std::vec::IntoIter<SocketAddr>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = match &mut self.0 {
            LookupState::Ready(r) => r.take().unwrap_or(Err(Error::EINVAL)),
            LookupState::Resolving(fut, port) => {
                let port = *port;
                match Pin::new(fut).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => r.map(|found| {
                        found
                            .into_iter()
                            .map(|mut a| {
                                a.addr.set_port(port);
                                a.addr
                            })
                            .collect()
                    }),
                }
            }
        };
        Poll::Ready(out.map(Vec::into_iter))
    }
}

impl fmt::Debug for LookupHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.0 {
            LookupState::Ready(_) => "ready",
            LookupState::Resolving(g, _) => g.0.state(),
        };
        f.debug_struct("LookupHost").field("state", &state).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parsing() {
        assert_eq!(split_host_port("localhost:80").unwrap(), ("localhost", 80));
        assert_eq!(split_host_port("[::1]:8080").unwrap(), ("::1", 8080));
        for bad in ["localhost", "localhost:", ":80", "host:99999", "host:x"] {
            let e = split_host_port(bad).unwrap_err();
            assert_eq!(e.name(), "EINVAL", "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
