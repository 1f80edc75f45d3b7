//! The C variants (`c/bench.c`), linked into this binary against the same static libuv.

use std::ffi::{CString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;

use crate::{Done, Job};

unsafe extern "C" {
    fn uvb_server(sink: c_int) -> c_int;
    fn uvb_ping_pong(port: c_int, n: u64, out: *mut Done) -> c_int;
    fn uvb_pump(port: c_int, n: u64, out: *mut Done) -> c_int;
    fn uvb_million_timers(n: u64, out: *mut Done) -> c_int;
    fn uvb_loop_count(n: u64, out: *mut Done) -> c_int;
    fn uvb_million_async(handles: u64, n: u64, out: *mut Done) -> c_int;
    fn uvb_async1(n: u64, out: *mut Done) -> c_int;
    fn uvb_queue_work(n: u64, out: *mut Done) -> c_int;
    fn uvb_fs_stat_sync(path: *const c_char, n: u64, out: *mut Done) -> c_int;
    fn uvb_fs_stat(path: *const c_char, n: u64, inflight: u64, out: *mut Done) -> c_int;
    #[allow(dead_code)]
    fn uvb_fs_read(path: *const c_char, chunk: u64, out: *mut Done) -> c_int;
}

/// Runs a C function that fills a `uvb_result` and returns 0 or a libuv error.
fn counted(what: &str, run: impl FnOnce(*mut Done) -> c_int) -> Result<Done, String> {
    let mut out = Done::default();
    match run(&mut out) {
        0 => Ok(out),
        e => Err(format!("C {what}: libuv error {e}")),
    }
}

fn c_path(job: &Job) -> Result<CString, String> {
    CString::new(job.path.as_os_str().as_bytes()).map_err(|e| e.to_string())
}

fn port(job: &Job) -> Result<c_int, String> {
    Ok(c_int::from(job.server()?.port()))
}

/// The echo (`sink` false) or sink server, until the process is killed: prints
/// `PORT <port>` on stdout once it listens.
pub(crate) fn server(sink: bool) -> Result<(), String> {
    // SAFETY: the function only uses libuv's default loop of this (server) process.
    match unsafe { uvb_server(c_int::from(sink)) } {
        0 => Ok(()),
        e => Err(format!("C server: libuv error {e}")),
    }
}

/// `job.n` ping-pong round trips with the echo server.
pub(crate) fn ping_pong(job: &Job) -> Result<Done, String> {
    let port = port(job)?;
    // SAFETY: `out` is a valid, writable `uvb_result`; the function uses its own loop.
    counted("ping_pong", |out| unsafe {
        uvb_ping_pong(port, job.n, out)
    })
}

/// `job.n` 8 KiB writes to the sink server.
pub(crate) fn pump(job: &Job) -> Result<Done, String> {
    let port = port(job)?;
    // SAFETY: as in `ping_pong`.
    counted("pump", |out| unsafe { uvb_pump(port, job.n, out) })
}

/// `job.n` one-shot timers.
pub(crate) fn million_timers(job: &Job) -> Result<Done, String> {
    // SAFETY: as in `ping_pong`.
    counted("million_timers", |out| unsafe {
        uvb_million_timers(job.n, out)
    })
}

/// `job.n` idle ticks.
pub(crate) fn loop_count(job: &Job) -> Result<Done, String> {
    // SAFETY: as in `ping_pong`.
    counted("loop_count", |out| unsafe { uvb_loop_count(job.n, out) })
}

/// `job.n` sends from a thread to `job.arg` async handles.
pub(crate) fn million_async(job: &Job) -> Result<Done, String> {
    // SAFETY: as in `ping_pong`; the sender thread is joined before the function returns.
    counted("million_async", |out| unsafe {
        uvb_million_async(job.arg, job.n, out)
    })
}

/// `job.n` async round trips with a worker thread.
pub(crate) fn async1(job: &Job) -> Result<Done, String> {
    // SAFETY: as in `million_async`.
    counted("async1", |out| unsafe { uvb_async1(job.n, out) })
}

/// `job.n` thread-pool jobs, one at a time.
pub(crate) fn queue_work(job: &Job) -> Result<Done, String> {
    // SAFETY: as in `ping_pong`.
    counted("queue_work", |out| unsafe { uvb_queue_work(job.n, out) })
}

/// `job.n` synchronous stats of `job.path`.
pub(crate) fn fs_stat_sync(job: &Job) -> Result<Done, String> {
    let path = c_path(job)?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call; `out` is writable.
    counted("fs_stat sync", |out| unsafe {
        uvb_fs_stat_sync(path.as_ptr(), job.n, out)
    })
}

/// `job.n` stats of `job.path`, `job.arg` in flight.
pub(crate) fn fs_stat(job: &Job) -> Result<Done, String> {
    let path = c_path(job)?;
    // SAFETY: as in `fs_stat_sync`.
    counted("fs_stat", |out| unsafe {
        uvb_fs_stat(path.as_ptr(), job.n, job.arg, out)
    })
}

/// Reads `job.path` in `job.arg`-byte chunks; `ops` is the bytes read (for the `fs_read`
/// workload).
#[allow(dead_code)]
pub(crate) fn fs_read(job: &Job) -> Result<Done, String> {
    let path = c_path(job)?;
    // SAFETY: as in `fs_stat_sync`.
    counted("fs_read", |out| unsafe {
        uvb_fs_read(path.as_ptr(), job.arg, out)
    })
}
