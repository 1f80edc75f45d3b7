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

mod host;
mod process;
mod random;

use std::ffi::{CStr, c_char};
use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result, check};
use crate::ffi;

pub use host::{
    CpuInfo, CpuTimes, InterfaceAddress, Uname, cpu_info, hostname, if_indextoiid, if_indextoname,
    interface_addresses, os_uname,
};
pub use process::{
    Group, Passwd, ResourceUsage, get_group, get_passwd, get_passwd_for, getpid, getppid,
    getpriority, getrusage, getrusage_thread, homedir, process_title, set_process_title,
    setpriority, setup_args, tmpdir,
};
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
