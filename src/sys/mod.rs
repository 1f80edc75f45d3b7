//! libuv's miscellaneous utilities (`misc.rst`): clocks, memory and CPU figures, network
//! interfaces, the user and the process, random bytes. Safe functions with std types.
//!
//! ```
//! let (cpus, total) = (uvio::sys::available_parallelism(), uvio::sys::total_memory());
//! assert!(cpus.get() >= 1 && total > 0);
//! let name = uvio::sys::os_uname()?;
//! println!("{} {} on {}", name.sysname, name.release, name.machine);
//! # Ok::<(), uvio::Error>(())
//! ```
//!
//! Left out on purpose:
//!
//! * The environment (`uv_os_getenv`, `uv_os_setenv`, `uv_os_unsetenv`, `uv_os_environ`):
//!   `std::env` reads and writes the same C environment, and its setter is already `unsafe`
//!   (Rust 2024) for the reason libuv's is "not thread safe". Likewise `uv_cwd`/`uv_chdir`
//!   (`std::env::current_dir`/`set_current_dir`) and `uv_exepath` (`std::env::current_exe`).
//! * Threads, mutexes, condition variables, barriers, once, thread-local keys and
//!   `uv_dlopen`: `std::thread`, `std::sync` and the `libloading` crate cover them.
//! * `uv_sleep`: the same as `std::thread::sleep` with millisecond resolution.
//! * The WTF-8/UTF-16 converters (`uv_utf16_to_wtf8`, ...): Windows helpers; on Rust's side
//!   `OsStr` does this. The `uv_ip4_addr`/`uv_inet_pton` family: `std::net` parses and
//!   prints addresses. `uv_print_all_handles`: see `Loop`'s handle count and `Debug`.
//! * `uv_replace_allocator` and `uv_library_shutdown`: process-wide and only valid before
//!   or after all other libuv use, which a safe function cannot ensure.
//!
//! `homedir` and `tmpdir` read environment variables with C's `getenv`, which libuv calls
//! "not thread safe": that is safe as long as nobody calls `std::env::set_var` (an `unsafe`
//! function whose contract is exactly that no other thread reads the environment).

mod random;

use std::ffi::{CStr, c_char};
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result, check};
use crate::ffi;

pub use random::{Random, random, random_async, random_with};

/// A C string libuv filled in, as a `String` (lossy for invalid UTF-8; empty for null).
///
/// # Safety
///
/// `p` is null or a valid NUL-terminated string.
unsafe fn string_from_c(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per the contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// A string with libuv's "buffer and size; `ENOBUFS` means grow" protocol.
fn grow_string(
    op: &'static str,
    call: impl FnMut(*mut c_char, *mut usize) -> Result<i32>,
) -> Result<String> {
    let p = crate::fs_event::getpath(call).map_err(|e| e.with_operation(op))?;
    Ok(p.to_string_lossy().into_owned())
}

/// The current high-resolution monotonic time in nanoseconds, from an arbitrary point in the
/// past (`uv_hrtime`). For measuring intervals; unrelated to the time of day.
///
/// ```
/// let a = uvio::sys::hrtime();
/// let b = uvio::sys::hrtime();
/// assert!(b >= a);
/// ```
pub fn hrtime() -> u64 {
    // SAFETY: no preconditions.
    unsafe { ffi::uv_hrtime() }
}

/// The system uptime (`uv_uptime`); whole seconds on some systems.
///
/// # Errors
///
/// The OS error when the uptime cannot be read.
///
/// ```
/// assert!(uvio::sys::uptime()? > std::time::Duration::ZERO);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn uptime() -> Result<Duration> {
    let mut v = 0f64;
    // SAFETY: libuv writes one double.
    check(unsafe { ffi::uv_uptime(&mut v) }).map_err(|e| e.with_operation("uptime"))?;
    Duration::try_from_secs_f64(v).map_err(|_| Error::EINVAL.with_operation("uptime"))
}

/// The 1, 5 and 15 minute load averages (`uv_loadavg`; zeros on Windows).
///
/// ```
/// let avg = uvio::sys::loadavg();
/// assert!(avg.iter().all(|a| *a >= 0.0));
/// ```
pub fn loadavg() -> [f64; 3] {
    let mut avg = [0f64; 3];
    // SAFETY: libuv writes three doubles.
    unsafe { ffi::uv_loadavg(avg.as_mut_ptr()) };
    avg
}

/// Free physical memory in bytes, as the kernel reports it; 0 when unknown
/// (`uv_get_free_memory`).
///
/// ```
/// assert!(uvio::sys::free_memory() <= uvio::sys::total_memory());
/// ```
pub fn free_memory() -> u64 {
    // SAFETY: no preconditions.
    unsafe { ffi::uv_get_free_memory() }
}

/// Total physical memory in bytes; 0 when unknown (`uv_get_total_memory`).
///
/// ```
/// assert!(uvio::sys::total_memory() > 0);
/// ```
pub fn total_memory() -> u64 {
    // SAFETY: no preconditions.
    unsafe { ffi::uv_get_total_memory() }
}

/// The memory limit the OS imposes on this process (cgroups on Linux), in bytes
/// (`uv_get_constrained_memory`): 0 when there is no such mechanism or it is unknown,
/// `u64::MAX` when there is one but no limit is set.
///
/// ```
/// let limit = uvio::sys::constrained_memory();
/// println!("memory limit: {limit}");
/// ```
pub fn constrained_memory() -> u64 {
    // SAFETY: no preconditions.
    unsafe { ffi::uv_get_constrained_memory() }
}

/// Free memory still available to this process, taking OS limits into account, in bytes
/// (`uv_get_available_memory`, libuv 1.45).
///
/// # Errors
///
/// `UNSUPPORTED` when the libuv in the process is older than 1.45.
///
/// ```
/// # if uvio::version() >= (1, 45, 0) {
/// assert!(uvio::sys::available_memory()? > 0);
/// # }
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn available_memory() -> Result<u64> {
    // SAFETY: no preconditions.
    unsafe { ffi::late::uv_get_available_memory() }
        .ok_or_else(|| Error::unsupported("uv_get_available_memory"))
}

/// The resident set size of this process in bytes (`uv_resident_set_memory`).
///
/// # Errors
///
/// The OS error when it cannot be read.
///
/// ```
/// assert!(uvio::sys::resident_set_memory()? > 0);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn resident_set_memory() -> Result<usize> {
    let mut rss = 0usize;
    // SAFETY: libuv writes one size_t.
    check(unsafe { ffi::uv_resident_set_memory(&mut rss) })
        .map_err(|e| e.with_operation("resident_set_memory"))?;
    Ok(rss)
}

/// An estimate of how many threads the program should use (`uv_available_parallelism`; on
/// Linux it honours the thread's CPU affinity). Never zero.
///
/// ```
/// assert!(uvio::sys::available_parallelism().get() >= 1);
/// ```
pub fn available_parallelism() -> NonZeroUsize {
    // SAFETY: no preconditions.
    let n = unsafe { ffi::uv_available_parallelism() };
    NonZeroUsize::new(n as usize).unwrap_or(NonZeroUsize::MIN)
}

/// Time a CPU spent in each mode since boot, as [`cpu_info`] reports it.
///
/// ```
/// let cpu = &uvio::sys::cpu_info()?[0];
/// assert!(cpu.times.user + cpu.times.sys + cpu.times.idle > std::time::Duration::ZERO);
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// In user mode.
    pub user: Duration,
    /// In user mode at a lowered priority.
    pub nice: Duration,
    /// In kernel mode.
    pub sys: Duration,
    /// Idle.
    pub idle: Duration,
    /// Servicing interrupts.
    pub irq: Duration,
}

/// One logical CPU (`uv_cpu_info_t`).
///
/// ```
/// for cpu in uvio::sys::cpu_info()? {
///     println!("{} at {} MHz", cpu.model, cpu.speed_mhz);
/// }
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuInfo {
    /// The model name, as the OS reports it.
    pub model: String,
    /// The clock speed in MHz (0 when unknown).
    pub speed_mhz: u32,
    /// Time spent in each mode.
    pub times: CpuTimes,
}

/// Calls a libuv "allocate an array and a count" function, converts each element with
/// `conv`, and frees the array with `free` (also when a conversion panics).
///
/// # Safety
///
/// `get` fills its arguments with an array of `count` valid `T` (or fails), which `free`
/// then releases.
unsafe fn uv_array<T, U>(
    op: &'static str,
    get: impl FnOnce(*mut *mut T, *mut i32) -> i32,
    free: unsafe extern "C" fn(*mut T, i32),
    conv: impl Fn(&T) -> U,
) -> Result<Vec<U>> {
    struct Free<T>(*mut T, i32, unsafe extern "C" fn(*mut T, i32));
    impl<T> Drop for Free<T> {
        fn drop(&mut self) {
            // SAFETY: the array libuv allocated, freed once.
            unsafe { (self.2)(self.0, self.1) }
        }
    }
    let mut arr: *mut T = std::ptr::null_mut();
    let mut n = 0i32;
    check(get(&mut arr, &mut n)).map_err(|e| e.with_operation(op))?;
    let guard = Free(arr, n, free);
    if arr.is_null() || n <= 0 {
        return Ok(Vec::new());
    }
    // SAFETY: on success libuv returned `n` valid elements at `arr`, alive until `guard`.
    let items = unsafe { std::slice::from_raw_parts(guard.0, n as usize) };
    Ok(items.iter().map(conv).collect())
}

/// Information about each logical CPU (`uv_cpu_info`; the array is freed inside).
///
/// Use [`available_parallelism`] to decide how many threads to run.
///
/// # Errors
///
/// The OS error when `/proc` (or its equivalent) cannot be read.
///
/// ```
/// assert!(!uvio::sys::cpu_info()?.is_empty());
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn cpu_info() -> Result<Vec<CpuInfo>> {
    let ms = Duration::from_millis;
    // SAFETY: uv_cpu_info allocates `count` entries that uv_free_cpu_info frees; each entry's
    // model is a valid C string.
    unsafe {
        uv_array(
            "cpu_info",
            |a, n| ffi::uv_cpu_info(a, n),
            ffi::uv_free_cpu_info,
            |c: &ffi::uv_cpu_info_t| CpuInfo {
                model: string_from_c(c.model),
                speed_mhz: u32::try_from(c.speed).unwrap_or(0),
                times: CpuTimes {
                    user: ms(c.cpu_times.user),
                    nice: ms(c.cpu_times.nice),
                    sys: ms(c.cpu_times.sys),
                    idle: ms(c.cpu_times.idle),
                    irq: ms(c.cpu_times.irq),
                },
            },
        )
    }
}

/// One address of a network interface (`uv_interface_address_t`).
///
/// ```
/// let lo = uvio::sys::interface_addresses()?
///     .into_iter()
///     .find(|a| a.address == std::net::Ipv4Addr::LOCALHOST);
/// assert!(lo.is_some_and(|a| a.is_internal));
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The interface's name (`lo`, `eth0`).
    pub name: String,
    /// The hardware (MAC) address; all zero when there is none.
    pub mac: [u8; 6],
    /// True for loopback and other internal interfaces.
    pub is_internal: bool,
    /// The address.
    pub address: IpAddr,
    /// The netmask, of the same family as the address.
    pub netmask: IpAddr,
    /// The IPv6 scope id (interface index) of a link-local address; 0 otherwise.
    pub scope_id: u32,
}

/// The addresses of the system's network interfaces (`uv_interface_addresses`; the array is
/// freed inside). An interface with several addresses appears once per address.
///
/// # Errors
///
/// The OS error when the list cannot be read.
///
/// ```
/// let all = uvio::sys::interface_addresses()?;
/// assert!(all.iter().any(|a| a.address.is_loopback()));
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn interface_addresses() -> Result<Vec<InterfaceAddress>> {
    use std::net::{Ipv4Addr, SocketAddr};
    let unspecified = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    // SAFETY: uv_interface_addresses allocates `count` entries that
    // uv_free_interface_addresses frees; each has a C-string name and sockaddrs whose
    // family says which union member is set (the union is large enough for both).
    let all = unsafe {
        uv_array(
            "interface_addresses",
            |a, n| ffi::uv_interface_addresses(a, n),
            ffi::uv_free_interface_addresses,
            |i: &ffi::uv_interface_address_t| {
                let addr = crate::net_addr::from_sockaddr((&raw const i.address).cast())
                    .unwrap_or(unspecified);
                let mask = crate::net_addr::from_sockaddr((&raw const i.netmask).cast())
                    .unwrap_or(unspecified);
                InterfaceAddress {
                    name: string_from_c(i.name),
                    mac: i.phys_addr.map(|b| b as u8),
                    is_internal: i.is_internal != 0,
                    address: addr.ip(),
                    netmask: mask.ip(),
                    scope_id: match addr {
                        SocketAddr::V6(a) => a.scope_id(),
                        SocketAddr::V4(_) => 0,
                    },
                }
            },
        )
    }?;
    Ok(all)
}

/// Operating system name and version (`uv_os_uname`, `uname(2)` on Unix).
///
/// ```
/// let u = uvio::sys::os_uname()?;
/// assert!(!u.sysname.is_empty() && !u.machine.is_empty());
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uname {
    /// The OS name (`Linux`, `Darwin`, `Windows_NT`).
    pub sysname: String,
    /// The OS release (`6.1.0-13-amd64`).
    pub release: String,
    /// The OS version string.
    pub version: String,
    /// The hardware name (`x86_64`, `aarch64`).
    pub machine: String,
}

/// The OS name and version; see [`Uname`].
///
/// # Errors
///
/// The OS error from `uname`.
///
/// ```
/// assert_eq!(uvio::sys::os_uname()?.sysname, "Linux");
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn os_uname() -> Result<Uname> {
    // SAFETY: uv_utsname_t is plain C data (char arrays); libuv fills the four arrays,
    // NUL-terminated.
    let u: ffi::uv_utsname_t =
        unsafe { fill("os_uname", "uv_os_uname", |u| Some(ffi::uv_os_uname(u)))? };
    let field = |f: &[c_char; 256]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(Uname {
        sysname: field(&u.sysname),
        release: field(&u.release),
        version: field(&u.version),
        machine: field(&u.machine),
    })
}

/// The host name (`uv_os_gethostname`).
///
/// # Errors
///
/// The OS error from `gethostname`.
///
/// ```
/// assert!(!uvio::sys::hostname()?.is_empty());
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn hostname() -> Result<String> {
    grow_string("hostname", |b, n| {
        // SAFETY: libuv writes at most `*n` bytes into `b`.
        check(unsafe { ffi::uv_os_gethostname(b, n) })
    })
}

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

/// A C struct filled by `get` (`None`: the late libuv function `late` is missing).
///
/// # Safety
///
/// `T` is a plain C struct for which all-zero bytes are a valid value.
unsafe fn fill<T: Copy>(
    op: &'static str,
    late: &'static str,
    get: impl FnOnce(*mut T) -> Option<i32>,
) -> Result<T> {
    // SAFETY: all-zero is a valid `T` (contract).
    let mut v: T = unsafe { std::mem::zeroed() };
    let ret = get(&mut v).ok_or_else(|| Error::unsupported(late))?;
    check(ret).map_err(|e| e.with_operation(op))?;
    Ok(v)
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

/// The size in bytes of a CPU affinity mask on this system (`uv_cpumask_size`, libuv
/// 1.45).
///
/// # Errors
///
/// `ENOTSUP` where affinities are not supported; `UNSUPPORTED` before libuv 1.45.
///
/// ```
/// # if uvio::version() >= (1, 45, 0) {
/// assert!(uvio::sys::cpumask_size()? >= 1);
/// # }
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn cpumask_size() -> Result<usize> {
    // SAFETY: no preconditions.
    let ret = unsafe { ffi::late::uv_cpumask_size() }
        .ok_or_else(|| Error::unsupported("uv_cpumask_size"))?;
    let n = check(ret).map_err(|e| e.with_operation("cpumask_size"))?;
    Ok(n as usize)
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

/// The time of day (`uv_gettimeofday`), microsecond resolution.
///
/// # Errors
///
/// The OS error from `gettimeofday`.
///
/// ```
/// let now = uvio::sys::gettimeofday()?;
/// assert!(now > std::time::UNIX_EPOCH);
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn gettimeofday() -> Result<SystemTime> {
    let mut tv = ffi::uv_timeval64_t {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: libuv fills `tv`.
    check(unsafe { ffi::uv_gettimeofday(&mut tv) })
        .map_err(|e| e.with_operation("gettimeofday"))?;
    let since = Duration::from_secs(tv.tv_sec.unsigned_abs())
        + Duration::from_micros(tv.tv_usec.max(0) as u64);
    Ok(if tv.tv_sec >= 0 {
        SystemTime::UNIX_EPOCH + since
    } else {
        SystemTime::UNIX_EPOCH - since
    })
}

/// A clock for [`clock_gettime`].
///
/// ```
/// # if uvio::version() >= (1, 45, 0) {
/// let t = uvio::sys::clock_gettime(uvio::sys::Clock::Realtime)?;
/// assert!(t > std::time::Duration::from_secs(1_600_000_000));
/// # }
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Clock {
    /// Counts from an arbitrary point and never jumps back.
    Monotonic,
    /// Counts from the Unix epoch; adjusted by the system, may jump back.
    Realtime,
}

/// Reads a clock (`uv_clock_gettime`, libuv 1.45), as the time since its origin.
///
/// # Errors
///
/// `UNSUPPORTED` before libuv 1.45; the OS error otherwise.
///
/// ```
/// # if uvio::version() >= (1, 45, 0) {
/// use uvio::sys::{Clock, clock_gettime};
/// let a = clock_gettime(Clock::Monotonic)?;
/// assert!(clock_gettime(Clock::Monotonic)? >= a);
/// # }
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn clock_gettime(clock: Clock) -> Result<Duration> {
    let id = match clock {
        Clock::Monotonic => ffi::UV_CLOCK_MONOTONIC,
        Clock::Realtime => ffi::UV_CLOCK_REALTIME,
    };
    let mut ts = ffi::uv_timespec64_t {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: libuv fills `ts`.
    let ret = unsafe { ffi::late::uv_clock_gettime(id, &mut ts) }
        .ok_or_else(|| Error::unsupported("uv_clock_gettime"))?;
    check(ret).map_err(|e| e.with_operation("clock_gettime"))?;
    Ok(Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.max(0) as u32,
    ))
}

/// The name of network interface `index` (`uv_if_indextoname`), usable as the scope of an
/// IPv6 address on Unix (`fe80::1%eth0`).
///
/// # Errors
///
/// `ENXIO` when there is no such interface.
///
/// ```
/// // Index 1 is the loopback interface on Linux.
/// assert_eq!(uvio::sys::if_indextoname(1)?, "lo");
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn if_indextoname(index: u32) -> Result<String> {
    grow_string("if_indextoname", |b, n| {
        // SAFETY: libuv writes at most `*n` bytes into `b`.
        check(unsafe { ffi::uv_if_indextoname(index, b, n) })
    })
}

/// An interface identifier for IPv6 scoped addresses (`uv_if_indextoiid`): the name on Unix,
/// the number on Windows.
///
/// # Errors
///
/// `ENXIO` when there is no such interface.
///
/// ```
/// assert!(!uvio::sys::if_indextoiid(1)?.is_empty());
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn if_indextoiid(index: u32) -> Result<String> {
    grow_string("if_indextoiid", |b, n| {
        // SAFETY: libuv writes at most `*n` bytes into `b`.
        check(unsafe { ffi::uv_if_indextoiid(index, b, n) })
    })
}
