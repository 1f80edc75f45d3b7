//! The C variants (`c/bench.c`), linked into this binary against the same static libuv.

use std::ffi::c_int;

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
