//! [`ExitStatus`] and [`Output`]: how a child ended and what it wrote.

use std::fmt;

/// How a child process ended: its exit code, or the signal that terminated it.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let status = lp.block_on(uvio::process::Command::new("false").status())??;
/// assert_eq!(status.code(), Some(1));
/// assert_eq!(status.signal(), None);
/// assert!(!status.success());
/// assert_eq!(status.to_string(), "exit status: 1");
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitStatus {
    pub(super) code: i64,
    pub(super) signal: i32,
}

impl ExitStatus {
    /// The exit code; `None` when a signal terminated the process.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = lp.block_on(uvio::process::Command::new("sh").args(["-c", "exit 7"]).status())??;
    /// assert_eq!(s.code(), Some(7));
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn code(&self) -> Option<i64> {
        (self.signal == 0).then_some(self.code)
    }

    /// The signal that terminated the process, if one did.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let s = lp.block_on(uvio::process::Command::new("sh").args(["-c", "kill -KILL $$"]).status())??;
    /// assert_eq!(s.signal(), Some(libc::SIGKILL));
    /// assert_eq!(s.code(), None);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn signal(&self) -> Option<i32> {
        (self.signal != 0).then_some(self.signal)
    }

    /// True for exit code 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// assert!(lp.block_on(uvio::process::Command::new("true").status())??.success());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn success(&self) -> bool {
        self.code() == Some(0)
    }
}

/// The name of a common signal, for messages.
fn signal_name(signum: i32) -> Option<&'static str> {
    Some(match signum {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return None,
    })
}

impl fmt::Display for ExitStatus {
    /// `exit status: 1` or `signal: 15 (SIGTERM)`, as std says it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.signal(), self.signal().and_then(signal_name)) {
            (None, _) => write!(f, "exit status: {}", self.code),
            (Some(s), Some(name)) => write!(f, "signal: {s} ({name})"),
            (Some(s), None) => write!(f, "signal: {s}"),
        }
    }
}

impl fmt::Debug for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExitStatus({self})")
    }
}

/// What [`Command::output`](super::Command::output) collected: the exit status and everything the child wrote to
/// its standard output and standard error.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let out = lp.block_on(
///     uvio::process::Command::new("sh")
///         .args(["-c", "echo out; echo err >&2; exit 3"])
///         .output(),
/// )??;
/// assert_eq!(out.status.code(), Some(3));
/// assert_eq!(out.stdout, b"out\n");
/// assert_eq!(out.stderr, b"err\n");
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// How the child ended.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}
