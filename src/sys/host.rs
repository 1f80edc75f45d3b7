//! The machine: CPUs, network interfaces, OS name, host name.

use std::ffi::c_char;
use std::net::IpAddr;
use std::time::Duration;

use super::{fill, grow_string, string_from_c};
use crate::error::{Result, check};
use crate::ffi;

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
/// Use [`available_parallelism`](super::available_parallelism) to decide how many threads to run.
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
