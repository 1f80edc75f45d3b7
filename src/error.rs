//! The one error type: a libuv error code, its name, and what it was about.

use std::borrow::Cow;
use std::ffi::CStr;
use std::fmt;
use std::io;

use crate::ffi;

/// The result type of every fallible uvio operation.
///
/// # Examples
///
/// ```
/// fn open_loop() -> uvio::Result<uvio::Loop> {
///     uvio::Loop::new()
/// }
/// assert!(open_loop().is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A libuv error: the negative error code libuv returned (`UV_ENOENT`, `UV_EOF`, ...),
/// plus, where one was involved, the operation and the path or address it was about.
///
/// `Display` reads like Node's messages: `ENOENT: no such file or directory, open 'x.txt'`.
/// Convert to [`std::io::Error`] with `?` or `into()`; the conversion keeps this value inside,
/// so `Error::try_from(io_error)` gets it back.
///
/// # Examples
///
/// ```
/// use uvio::Error;
///
/// let e = Error::ENOENT;
/// assert_eq!(e.name(), "ENOENT");
/// assert_eq!(e.to_string(), "ENOENT: no such file or directory");
/// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
/// let io: std::io::Error = e.clone().into();
/// assert_eq!(Error::from(io), e);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Error {
    code: i32,
    context: Option<Box<Context>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Context {
    op: &'static str,
    subject: Option<Cow<'static, str>>,
}

/// An error code outside libuv's range: "this libuv does not have that function".
const UNSUPPORTED_CODE: i32 = -0x7fff_0001;

macro_rules! error_table {
    ($($name:ident = $uv:ident,)*) => {
        impl Error {
            $(
                #[doc = concat!("libuv's `UV_", stringify!($name), "`.")]
                ///
                /// # Examples
                ///
                /// ```
                #[doc = concat!("let e = uvio::Error::", stringify!($name), ";")]
                #[doc = concat!("assert_eq!(e.name(), \"", stringify!($name), "\");")]
                /// assert!(e.code() < 0);
                /// ```
                pub const $name: Error = Error { code: ffi::$uv, context: None };
            )*
        }

        fn code_name(code: i32) -> Option<&'static str> {
            match code {
                $(ffi::$uv => Some(stringify!($name)),)*
                _ => None,
            }
        }
    };
}
ffi::uv_errno_map!(error_table);

impl Error {
    /// The function needed is missing from the libuv this process uses (a host's older
    /// libuv, in `host` or `system` link mode). [`Error::name`] is `"UNSUPPORTED"`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = uvio::Error::UNSUPPORTED;
    /// assert_eq!(e.name(), "UNSUPPORTED");
    /// assert!(e.is_unsupported());
    /// ```
    pub const UNSUPPORTED: Error = Error {
        code: UNSUPPORTED_CODE,
        context: None,
    };

    /// An error from a negative libuv return code.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(uvio::Error::from_code(-2).name(), "ENOENT");
    /// ```
    pub const fn from_code(code: i32) -> Error {
        Error {
            code,
            context: None,
        }
    }

    /// The libuv error code (negative; `UV_ENOENT` is `-2` on Linux).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = uvio::Error::EINVAL;
    /// assert!(e.code() < 0);
    /// assert_eq!(uvio::Error::from_code(e.code()), e);
    /// ```
    pub fn code(&self) -> i32 {
        self.code
    }

    /// libuv's name for the code: `"ENOENT"`, `"EOF"`, `"EAI_NONAME"`, or `"UNKNOWN"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(uvio::Error::EAI_NONAME.name(), "EAI_NONAME");
    /// assert_eq!(uvio::Error::from_code(-123456).name(), "UNKNOWN");
    /// ```
    pub fn name(&self) -> &'static str {
        if self.code == UNSUPPORTED_CODE {
            return "UNSUPPORTED";
        }
        code_name(self.code).unwrap_or("UNKNOWN")
    }

    /// libuv's description of the code (`uv_strerror`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(uvio::Error::ENOENT.description(), "no such file or directory");
    /// ```
    pub fn description(&self) -> Cow<'static, str> {
        if self.code == UNSUPPORTED_CODE {
            return Cow::Borrowed("not supported by the libuv in this process");
        }
        if code_name(self.code).is_none() {
            return Cow::Owned(format!("unknown error {}", self.code));
        }
        // SAFETY: uv_strerror returns a pointer to a static, NUL-terminated string for every
        // code libuv knows (checked just above), never null.
        let s = unsafe { CStr::from_ptr(ffi::uv_strerror(self.code)) };
        Cow::Owned(s.to_string_lossy().into_owned())
    }

    /// The operation this error came from (`"open"`, `"connect"`), if recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = uvio::Error::ENOENT.with_context("open", "missing.txt");
    /// assert_eq!(e.operation(), Some("open"));
    /// assert_eq!(uvio::Error::ENOENT.operation(), None);
    /// ```
    pub fn operation(&self) -> Option<&'static str> {
        self.context.as_ref().map(|c| c.op)
    }

    /// The path or address the operation was about, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = uvio::Error::ENOENT.with_context("open", "missing.txt");
    /// assert_eq!(e.subject(), Some("missing.txt"));
    /// assert_eq!(uvio::Error::EBADF.with_operation("read").subject(), None);
    /// ```
    pub fn subject(&self) -> Option<&str> {
        self.context.as_ref().and_then(|c| c.subject.as_deref())
    }

    /// The same error, saying which operation failed and on what (a path or an address).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = uvio::Error::ENOENT.with_context("open", "missing.txt");
    /// assert_eq!(e.to_string(), "ENOENT: no such file or directory, open 'missing.txt'");
    /// ```
    pub fn with_context(mut self, op: &'static str, subject: impl fmt::Display) -> Error {
        self.context = Some(Box::new(Context {
            op,
            subject: Some(Cow::Owned(subject.to_string())),
        }));
        self
    }

    /// The same error, saying which operation failed.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = uvio::Error::EBADF.with_operation("read");
    /// assert_eq!(e.operation(), Some("read"));
    /// assert_eq!(e.to_string(), "EBADF: bad file descriptor, read");
    /// ```
    pub fn with_operation(mut self, op: &'static str) -> Error {
        self.context = Some(Box::new(Context { op, subject: None }));
        self
    }

    /// An [`Error::UNSUPPORTED`] naming the missing libuv function.
    pub(crate) fn unsupported(function: &'static str) -> Error {
        Error::UNSUPPORTED.with_operation(function)
    }

    /// True for [`Error::UNSUPPORTED`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(uvio::Error::UNSUPPORTED.is_unsupported());
    /// assert!(!uvio::Error::ENOSYS.is_unsupported());
    /// ```
    pub fn is_unsupported(&self) -> bool {
        self.code == UNSUPPORTED_CODE
    }

    /// The [`io::ErrorKind`] that matches the code.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// assert_eq!(uvio::Error::ECONNREFUSED.kind(), ErrorKind::ConnectionRefused);
    /// assert_eq!(uvio::Error::EOF.kind(), ErrorKind::UnexpectedEof);
    /// ```
    pub fn kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self.name() {
            "ENOENT" => K::NotFound,
            "EACCES" | "EPERM" => K::PermissionDenied,
            "ECONNREFUSED" => K::ConnectionRefused,
            "ECONNRESET" => K::ConnectionReset,
            "ECONNABORTED" => K::ConnectionAborted,
            "ENOTCONN" => K::NotConnected,
            "EADDRINUSE" => K::AddrInUse,
            "EADDRNOTAVAIL" => K::AddrNotAvailable,
            "EPIPE" => K::BrokenPipe,
            "EEXIST" => K::AlreadyExists,
            "EAGAIN" => K::WouldBlock,
            "EINVAL" => K::InvalidInput,
            "ETIMEDOUT" => K::TimedOut,
            "EOF" => K::UnexpectedEof,
            "EINTR" => K::Interrupted,
            "ENOSYS" | "ENOTSUP" | "UNSUPPORTED" => K::Unsupported,
            "ENOMEM" => K::OutOfMemory,
            "ENOTDIR" => K::NotADirectory,
            "EISDIR" => K::IsADirectory,
            "ENOTEMPTY" => K::DirectoryNotEmpty,
            "EROFS" => K::ReadOnlyFilesystem,
            "ENOSPC" => K::StorageFull,
            "ESPIPE" => K::NotSeekable,
            "EFBIG" => K::FileTooLarge,
            "EBUSY" => K::ResourceBusy,
            "ETXTBSY" => K::ExecutableFileBusy,
            "EXDEV" => K::CrossesDevices,
            "EMLINK" => K::TooManyLinks,
            "ENAMETOOLONG" => K::InvalidFilename,
            "E2BIG" => K::ArgumentListTooLong,
            "ENETUNREACH" => K::NetworkUnreachable,
            "EHOSTUNREACH" => K::HostUnreachable,
            "ENETDOWN" => K::NetworkDown,
            _ => K::Other,
        }
    }
}

/// Every libuv return code goes through here: negative is an [`Error`], the rest is the value.
#[inline]
pub(crate) fn check(ret: i32) -> Result<i32> {
    if ret < 0 {
        Err(Error::from_code(ret))
    } else {
        Ok(ret)
    }
}

/// [`check`] for calls that return a `ssize_t`-like count.
#[inline]
#[allow(dead_code)]
pub(crate) fn check_size(ret: isize) -> Result<usize> {
    if ret < 0 {
        Err(Error::from_code(ret as i32))
    } else {
        Ok(ret as usize)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.description())?;
        if let Some(c) = &self.context {
            match &c.subject {
                Some(s) => write!(f, ", {} '{}'", c.op, s)?,
                None => write!(f, ", {}", c.op)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code).field("name", &self.name());
        if let Some(c) = &self.context {
            d.field("op", &c.op);
            if let Some(s) = &c.subject {
                d.field("subject", s);
            }
        }
        d.finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

impl From<io::Error> for Error {
    /// Gets back the [`Error`] inside an `io::Error` made from one; otherwise maps the OS
    /// error number (libuv's codes are negated errnos on Unix) or the kind.
    fn from(e: io::Error) -> Error {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(inner) = e.into_inner() {
                if let Ok(err) = inner.downcast::<Error>() {
                    return *err;
                }
            }
            return Error::EINVAL;
        }
        if let Some(errno) = e.raw_os_error() {
            // SAFETY: uv_translate_sys_error is a pure mapping with no preconditions.
            return Error::from_code(unsafe { ffi::uv_translate_sys_error(errno) });
        }
        use io::ErrorKind as K;
        match e.kind() {
            K::NotFound => Error::ENOENT,
            K::PermissionDenied => Error::EACCES,
            K::ConnectionRefused => Error::ECONNREFUSED,
            K::ConnectionReset => Error::ECONNRESET,
            K::AddrInUse => Error::EADDRINUSE,
            K::BrokenPipe => Error::EPIPE,
            K::AlreadyExists => Error::EEXIST,
            K::WouldBlock => Error::EAGAIN,
            K::TimedOut => Error::ETIMEDOUT,
            K::UnexpectedEof => Error::EOF,
            K::Unsupported => Error::ENOTSUP,
            K::OutOfMemory => Error::ENOMEM,
            _ => Error::EINVAL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kinds() {
        assert_eq!(Error::EOF.name(), "EOF");
        assert_eq!(Error::EOF.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(Error::from_code(-123456).name(), "UNKNOWN");
        assert_eq!(Error::UNSUPPORTED.kind(), io::ErrorKind::Unsupported);
        assert!(check(-2).is_err());
        assert_eq!(check(3), Ok(3));
    }

    #[test]
    fn io_round_trip_and_errno() {
        let e = Error::EADDRINUSE.with_context("bind", "127.0.0.1:80");
        let io: io::Error = e.clone().into();
        assert_eq!(io.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(Error::from(io), e);
        let os = io::Error::from_raw_os_error(2);
        assert_eq!(Error::from(os), Error::ENOENT);
    }
}
