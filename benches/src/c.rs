//! The C variants (`c/bench.c`), linked into this binary against the same static libuv.

use std::ffi::{CString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;

use crate::Job;

/// Phase timings of `million_timers`; mirrors `uvb_phases`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Phases {
    pub init_ns: u64,
    pub dispatch_ns: u64,
    pub cleanup_ns: u64,
    pub init_cpu_ns: u64,
    pub dispatch_cpu_ns: u64,
    pub cleanup_cpu_ns: u64,
    pub fired: u64,
    pub closed: u64,
}

/// A `loop_count` result; mirrors `uvb_ticks`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Ticks {
    pub ticks: u64,
    pub elapsed_ns: u64,
    pub cpu_ns: u64,
    pub loop_iterations: u64,
}

unsafe extern "C" {
    fn uvb_million_timers(n: u64, box_size: u64, out: *mut Phases) -> c_int;
    fn uvb_loop_count_idle(ms: u64, out: *mut Ticks) -> c_int;
    fn uvb_loop_count_timer0(ms: u64, out: *mut Ticks) -> c_int;
    fn uvb_fs_stat(path: *const c_char, n: u64, inflight: u64, out: *mut Ticks) -> c_int;
    fn uvb_fs_read(path: *const c_char, chunk: u64, out: *mut Ticks) -> c_int;
    fn uvb_tcp(n: u64, ms: u64, pump: c_int, out: *mut Ticks) -> c_int;
}

fn checked<T>(ret: c_int, v: T, what: &str) -> Result<T, String> {
    if ret == 0 {
        Ok(v)
    } else {
        Err(format!("C {what}: libuv error {ret}"))
    }
}

/// C libuv: `n` one-shot timers, in one array (`box_size` 0) or each in its own
/// `malloc(box_size)` block.
pub fn million_timers(n: u64, box_size: u64) -> Result<Phases, String> {
    let mut out = Phases::default();
    // SAFETY: `out` is a valid, writable `uvb_phases`; the function touches nothing else of ours.
    let ret = unsafe { uvb_million_timers(n, box_size, &mut out) };
    checked(ret, out, "million_timers")
}

/// C libuv: idle ticks in `ms` milliseconds.
pub fn loop_count_idle(ms: u64) -> Result<Ticks, String> {
    let mut out = Ticks::default();
    // SAFETY: `out` is a valid, writable `uvb_ticks`; the function uses its own loop.
    let ret = unsafe { uvb_loop_count_idle(ms, &mut out) };
    checked(ret, out, "loop_count idle")
}

/// C libuv: re-armed zero-timeout timer firings in `ms` milliseconds.
pub fn loop_count_timer0(ms: u64) -> Result<Ticks, String> {
    let mut out = Ticks::default();
    // SAFETY: as in `loop_count_idle`.
    let ret = unsafe { uvb_loop_count_timer0(ms, &mut out) };
    checked(ret, out, "loop_count timer0")
}

/// Runs a C function that fills a `uvb_ticks`.
fn counted(what: &str, run: impl FnOnce(*mut Ticks) -> c_int) -> Result<Ticks, String> {
    let mut out = Ticks::default();
    let ret = run(&mut out);
    checked(ret, out, what)
}

fn c_path(job: &Job) -> Result<CString, String> {
    CString::new(job.path.as_os_str().as_bytes()).map_err(|e| e.to_string())
}

/// C libuv: `job.param` stats of `job.path`, `job.arg` in flight.
pub fn fs_stat(job: &Job) -> Result<Ticks, String> {
    let path = c_path(job)?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call; `out` is writable.
    counted("fs_stat", |out| unsafe {
        uvb_fs_stat(path.as_ptr(), job.param, job.arg, out)
    })
}

/// C libuv: reads `job.path` in `job.arg`-byte chunks.
pub fn fs_read(job: &Job) -> Result<Ticks, String> {
    let path = c_path(job)?;
    // SAFETY: as in `fs_stat`.
    counted("fs_read", |out| unsafe {
        uvb_fs_read(path.as_ptr(), job.arg, out)
    })
}

/// C libuv: round trips on `job.arg` connections in `job.param` ms.
pub fn tcp_pingpong(job: &Job) -> Result<Ticks, String> {
    // SAFETY: `out` is writable; the function uses its own loop.
    counted("tcp_pingpong", |out| unsafe {
        uvb_tcp(job.arg, job.param, 0, out)
    })
}

/// C libuv: bytes pumped over `job.arg` connections in `job.param` ms.
pub fn tcp_pump(job: &Job) -> Result<Ticks, String> {
    // SAFETY: as in `tcp_pingpong`.
    counted("tcp_pump", |out| unsafe {
        uvb_tcp(job.arg, job.param, 1, out)
    })
}
