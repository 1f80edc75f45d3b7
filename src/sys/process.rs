//! The process and its user: ids, directories, password and group entries, priority,
//! resource usage, title.

use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

use super::{fill, string_from_c};
use crate::error::{Error, Result, check};
use crate::ffi;

/// The current user's home directory (`uv_os_homedir`: `$HOME`, else the password file).
///
/// # Errors
///
/// `ENOENT` when neither gives one.
///
/// ```
/// assert!(uvio::sys::homedir()?.is_absolute());
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn homedir() -> Result<PathBuf> {
    crate::fs_event::getpath(|b, n| {
        // SAFETY: libuv writes at most `*n` bytes into `b`.
        check(unsafe { ffi::uv_os_homedir(b, n) })
    })
    .map_err(|e| e.with_operation("homedir"))
}

/// The temporary directory (`uv_os_tmpdir`: `$TMPDIR`, `$TMP`, `$TEMP`, `$TEMPDIR`, else
/// `/tmp`).
///
/// # Errors
///
/// None in practice on Unix (there is always a fallback); the type leaves room for
/// platforms where the lookup can fail.
///
/// ```
/// assert!(!uvio::sys::tmpdir()?.as_os_str().is_empty());
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn tmpdir() -> Result<PathBuf> {
    crate::fs_event::getpath(|b, n| {
        // SAFETY: libuv writes at most `*n` bytes into `b`.
        check(unsafe { ffi::uv_os_tmpdir(b, n) })
    })
    .map_err(|e| e.with_operation("tmpdir"))
}

/// This process's id (`uv_os_getpid`; the same as `std::process::id`).
///
/// ```
/// assert_eq!(uvio::sys::getpid(), std::process::id());
/// ```
pub fn getpid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { ffi::uv_os_getpid() as u32 }
}

/// The parent process's id (`uv_os_getppid`).
///
/// ```
/// assert!(uvio::sys::getppid() > 0);
/// ```
pub fn getppid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { ffi::uv_os_getppid() as u32 }
}

/// A password file entry (`uv_passwd_t`).
///
/// ```
/// let me = uvio::sys::get_passwd()?;
/// assert!(!me.username.is_empty());
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passwd {
    /// The user name.
    pub username: String,
    /// The user id (`None` on Windows).
    pub uid: Option<u32>,
    /// The primary group id (`None` on Windows).
    pub gid: Option<u32>,
    /// The login shell, when there is one.
    pub shell: Option<PathBuf>,
    /// The home directory.
    pub homedir: PathBuf,
}

/// Reads a `uv_passwd_t` filled by `get`, and frees it.
fn passwd(
    op: &'static str,
    get: impl FnOnce(*mut ffi::uv_passwd_t) -> Option<i32>,
) -> Result<Passwd> {
    // SAFETY: uv_passwd_t is plain C data (pointers and integers).
    let mut pw = unsafe { fill(op, "uv_os_get_passwd2", get)? };
    let id = |v: std::ffi::c_ulong| u32::try_from(v).ok();
    // SAFETY: on success the strings are valid (shell may be null); freed right after.
    let out = unsafe {
        Passwd {
            username: string_from_c(pw.username),
            uid: id(pw.uid),
            gid: id(pw.gid),
            shell: (!pw.shell.is_null()).then(|| crate::fs::path_from_c(pw.shell)),
            homedir: crate::fs::path_from_c(pw.homedir),
        }
    };
    // SAFETY: filled by a successful uv_os_get_passwd(2), freed once.
    unsafe { ffi::uv_os_free_passwd(&mut pw) };
    Ok(out)
}

/// The password file entry of the effective user (`uv_os_get_passwd`).
///
/// # Errors
///
/// `ENOENT` when the user has no entry; other OS errors from `getpwuid_r`.
///
/// ```
/// let me = uvio::sys::get_passwd()?;
/// assert!(me.homedir.is_absolute());
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn get_passwd() -> Result<Passwd> {
    passwd("get_passwd", |pw| {
        // SAFETY: libuv fills `pw` on success.
        Some(unsafe { ffi::uv_os_get_passwd(pw) })
    })
}

/// The password file entry of user `uid` (`uv_os_get_passwd2`, libuv 1.45).
///
/// # Errors
///
/// `ENOENT` when there is no such user; `UNSUPPORTED` before libuv 1.45.
///
/// ```
/// # if uvio::version() >= (1, 45, 0) {
/// let root = uvio::sys::get_passwd_for(0)?;
/// assert_eq!(root.uid, Some(0));
/// # }
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn get_passwd_for(uid: u32) -> Result<Passwd> {
    // SAFETY: libuv fills `pw` on success.
    passwd("get_passwd", |pw| unsafe {
        ffi::late::uv_os_get_passwd2(pw, uid as ffi::uv_uid_t)
    })
}

/// A group file entry (`uv_group_t`).
///
/// ```
/// # if uvio::version() >= (1, 45, 0) {
/// let root = uvio::sys::get_group(0)?;
/// assert_eq!(root.gid, 0);
/// # }
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The group name.
    pub name: String,
    /// The group id.
    pub gid: u32,
    /// The user names of its members (those listed in the group file; not the users whose
    /// primary group it is).
    pub members: Vec<String>,
}

/// The group file entry of group `gid` (`uv_os_get_group`, libuv 1.45).
///
/// # Errors
///
/// `ENOENT` when there is no such group; `UNSUPPORTED` before libuv 1.45.
///
/// ```
/// # if uvio::version() >= (1, 45, 0) {
/// assert_eq!(uvio::sys::get_group(0)?.name, "root");
/// # }
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn get_group(gid: u32) -> Result<Group> {
    // SAFETY: uv_group_t is plain C data (pointers and an integer); libuv fills it.
    let mut g: ffi::uv_group_t = unsafe {
        fill("get_group", "uv_os_get_group", |g| {
            ffi::late::uv_os_get_group(g, gid as ffi::uv_uid_t)
        })?
    };
    let mut members = Vec::new();
    // SAFETY: on success the name is a C string and `members` a NULL-terminated array of C
    // strings (or null); all freed right after.
    let out = unsafe {
        let mut m = g.members;
        while !m.is_null() && !(*m).is_null() {
            members.push(string_from_c(*m));
            m = m.add(1);
        }
        Group {
            name: string_from_c(g.groupname),
            gid: u32::try_from(g.gid).unwrap_or(u32::MAX),
            members,
        }
    };
    // SAFETY: filled by a successful uv_os_get_group, freed once; the late symbol exists
    // (we just called its sibling from the same libuv).
    unsafe { ffi::late::uv_os_free_group(&mut g) };
    Ok(out)
}

/// The scheduling priority of process `pid` (0 = this process), from -20 (highest) to 19
/// (`uv_os_getpriority`).
///
/// # Errors
///
/// `ESRCH` when there is no such process.
///
/// ```
/// let p = uvio::sys::getpriority(0)?;
/// assert!((-20..=19).contains(&p));
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn getpriority(pid: u32) -> Result<i32> {
    let mut p = 0;
    // SAFETY: libuv writes one int.
    check(unsafe { ffi::uv_os_getpriority(pid as ffi::uv_pid_t, &mut p) })
        .map_err(|e| e.with_context("getpriority", pid))?;
    Ok(p)
}

/// Sets the scheduling priority of process `pid` (0 = this process), from -20 (highest) to
/// 19 (`uv_os_setpriority`). Raising priority usually needs privileges.
///
/// # Errors
///
/// `ESRCH` for no such process, `EACCES`/`EPERM` without the privilege.
///
/// ```
/// let p = uvio::sys::getpriority(0)?;
/// uvio::sys::setpriority(0, p)?;
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn setpriority(pid: u32, priority: i32) -> Result<()> {
    // SAFETY: no memory is involved.
    check(unsafe { ffi::uv_os_setpriority(pid as ffi::uv_pid_t, priority) })
        .map_err(|e| e.with_context("setpriority", pid))?;
    Ok(())
}

/// Resource usage of the process or thread (`uv_rusage_t`; see `getrusage(2)`).
///
/// ```
/// let u = uvio::sys::getrusage()?;
/// assert!(u.max_rss_kib > 0);
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceUsage {
    /// CPU time in user mode.
    pub user_time: Duration,
    /// CPU time in kernel mode.
    pub system_time: Duration,
    /// Peak resident set size, in KiB.
    pub max_rss_kib: u64,
    /// Integral shared memory size.
    pub shared_memory: u64,
    /// Integral unshared data size.
    pub unshared_data: u64,
    /// Integral unshared stack size.
    pub unshared_stack: u64,
    /// Page reclaims (soft page faults).
    pub minor_faults: u64,
    /// Page faults needing I/O (hard page faults).
    pub major_faults: u64,
    /// Swaps.
    pub swaps: u64,
    /// Block input operations.
    pub block_inputs: u64,
    /// Block output operations.
    pub block_outputs: u64,
    /// IPC messages sent.
    pub messages_sent: u64,
    /// IPC messages received.
    pub messages_received: u64,
    /// Signals received.
    pub signals: u64,
    /// Voluntary context switches.
    pub voluntary_switches: u64,
    /// Involuntary context switches.
    pub involuntary_switches: u64,
}

fn rusage(
    op: &'static str,
    get: impl FnOnce(*mut ffi::uv_rusage_t) -> Option<i32>,
) -> Result<ResourceUsage> {
    // SAFETY: uv_rusage_t is plain C data (integers).
    let r = unsafe { fill(op, "uv_getrusage_thread", get)? };
    let tv = |t: ffi::uv_timeval_t| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Ok(ResourceUsage {
        user_time: tv(r.ru_utime),
        system_time: tv(r.ru_stime),
        max_rss_kib: r.ru_maxrss,
        shared_memory: r.ru_ixrss,
        unshared_data: r.ru_idrss,
        unshared_stack: r.ru_isrss,
        minor_faults: r.ru_minflt,
        major_faults: r.ru_majflt,
        swaps: r.ru_nswap,
        block_inputs: r.ru_inblock,
        block_outputs: r.ru_oublock,
        messages_sent: r.ru_msgsnd,
        messages_received: r.ru_msgrcv,
        signals: r.ru_nsignals,
        voluntary_switches: r.ru_nvcsw,
        involuntary_switches: r.ru_nivcsw,
    })
}

/// Resource usage of this process (`uv_getrusage`).
///
/// # Errors
///
/// The OS error from `getrusage`.
///
/// ```
/// let u = uvio::sys::getrusage()?;
/// assert!(u.minor_faults > 0);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn getrusage() -> Result<ResourceUsage> {
    // SAFETY: libuv fills `r`.
    rusage("getrusage", |r| Some(unsafe { ffi::uv_getrusage(r) }))
}

/// Resource usage of the calling thread (`uv_getrusage_thread`, libuv 1.50).
///
/// # Errors
///
/// `ENOTSUP` where the OS cannot tell; `UNSUPPORTED` before libuv 1.50.
///
/// ```
/// # if uvio::version() >= (1, 50, 0) {
/// let t = uvio::sys::getrusage_thread()?;
/// assert!(t.max_rss_kib > 0);
/// # }
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn getrusage_thread() -> Result<ResourceUsage> {
    // SAFETY: libuv fills `r`.
    rusage("getrusage_thread", |r| unsafe {
        ffi::late::uv_getrusage_thread(r)
    })
}

/// Stores the program's arguments for libuv (`uv_setup_args`), which
/// [`process_title`] and [`set_process_title`] need on Unix. uvio passes a copy of
/// `std::env::args_os()` in one buffer it never frees; the title then has room for as many
/// bytes as the command line had.
///
/// Does nothing after the first call. Not needed inside a host that already called it
/// (Node.js).
///
/// # Safety
///
/// libuv's contract: call it at start-up, before any other thread uses the process title
/// functions, and not in a process where something else already called `uv_setup_args`
/// (libuv's own global state is replaced without a lock).
///
/// ```
/// // SAFETY: at start-up of this program; nothing else set up libuv's arguments.
/// unsafe { uvio::sys::setup_args() };
/// assert!(!uvio::sys::process_title()?.is_empty());
/// # Ok::<(), uvio::Error>(())
/// ```
pub unsafe fn setup_args() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::os::unix::ffi::OsStrExt;
        let args: Vec<_> = std::env::args_os().collect();
        if args.is_empty() {
            return;
        }
        // One contiguous block, as the C runtime lays out argv: libuv computes the title's
        // capacity as the span from the first string to the end of the last.
        let mut block: Vec<u8> = Vec::new();
        let mut offsets = Vec::new();
        for a in &args {
            offsets.push(block.len());
            block.extend(a.as_bytes().iter().map(|b| if *b == 0 { b'?' } else { *b }));
            block.push(0);
        }
        let block: &'static mut [u8] = Vec::leak(block);
        let base = block.as_mut_ptr().cast::<c_char>();
        // The pointer table is only read during the call (libuv copies it); the strings
        // stay: libuv writes later titles into the first one's space.
        let mut argv: Vec<*mut c_char> = offsets
            .iter()
            // SAFETY: every offset is inside `block`.
            .map(|o| unsafe { base.add(*o) })
            .chain(std::iter::once(std::ptr::null_mut()))
            .collect();
        // SAFETY: `argv` has `args.len()` valid NUL-terminated strings in one leaked block
        // (libuv keeps pointing into it); the caller's contract covers the rest.
        unsafe { ffi::uv_setup_args(args.len() as i32, argv.as_mut_ptr()) };
    });
}

/// The process title (`uv_get_process_title`).
///
/// # Errors
///
/// `ENOBUFS` on Unix when [`setup_args`] was not called (nor `uv_setup_args` by a host).
///
/// ```
/// // Without setup_args there is no title to read on Unix.
/// assert_eq!(uvio::sys::process_title().unwrap_err().name(), "ENOBUFS");
/// ```
pub fn process_title() -> Result<String> {
    let mut cap = 256usize;
    loop {
        let mut buf = vec![0u8; cap];
        // SAFETY: libuv writes at most `cap` bytes, NUL-terminated.
        match check(unsafe { ffi::uv_get_process_title(buf.as_mut_ptr().cast(), cap) }) {
            Ok(_) => {
                let end = buf.iter().position(|b| *b == 0).unwrap_or(cap);
                buf.truncate(end);
                return Ok(String::from_utf8_lossy(&buf).into_owned());
            }
            // Too small, or no arguments set up: libuv says ENOBUFS for both. A title is
            // never longer than the command line (ARG_MAX), so stop growing there.
            Err(e) if e.name() == "ENOBUFS" && cap < 1 << 22 => cap *= 4,
            Err(e) => return Err(e.with_operation("process_title (see uvio::sys::setup_args)")),
        }
    }
}

/// Sets the process title (`uv_set_process_title`), truncated to the space of the original
/// command line; on Linux also the thread's name (`PR_SET_NAME`, 15 bytes).
///
/// # Errors
///
/// `EINVAL` for a NUL in `title`; `ENOBUFS` on Unix when [`setup_args`] was not called.
///
/// ```
/// // SAFETY: at start-up of this program; nothing else set up libuv's arguments.
/// unsafe { uvio::sys::setup_args() };
/// uvio::sys::set_process_title("x")?;
/// assert_eq!(uvio::sys::process_title()?, "x");
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn set_process_title(title: &str) -> Result<()> {
    let c = std::ffi::CString::new(title)
        .map_err(|_| Error::EINVAL.with_context("set_process_title", title))?;
    // SAFETY: a valid C string; libuv copies it under its lock.
    check(unsafe { ffi::uv_set_process_title(c.as_ptr()) })
        .map_err(|e| e.with_operation("set_process_title (see uvio::sys::setup_args)"))?;
    Ok(())
}
