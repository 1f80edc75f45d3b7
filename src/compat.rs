//! Checks of the libuv this process uses against the bindings uvio was built with, run by
//! [`crate::Loop::from_raw`] before uvio touches a host's loop.
//!
//! Each check is a pure function of what it compares (a version number, sizes, addresses),
//! so the unit tests below can feed it a libuv that does not exist on this machine.

use std::mem::size_of;

use crate::error::{Error, Result};
use crate::ffi;

const OP: &str = "Loop::from_raw";

/// A libuv that uvio cannot safely share a loop with.
fn refuse(why: String) -> Error {
    Error::UNSUPPORTED.with_context(OP, why)
}

/// Every handle type with its own struct, with the size our bindings give it.
const HANDLES: &[(ffi::uv_handle_type, &str, usize)] = &[
    (ffi::UV_ASYNC, "UV_ASYNC", size_of::<ffi::uv_async_t>()),
    (ffi::UV_CHECK, "UV_CHECK", size_of::<ffi::uv_check_t>()),
    (
        ffi::UV_FS_EVENT,
        "UV_FS_EVENT",
        size_of::<ffi::uv_fs_event_t>(),
    ),
    (
        ffi::UV_FS_POLL,
        "UV_FS_POLL",
        size_of::<ffi::uv_fs_poll_t>(),
    ),
    (ffi::UV_HANDLE, "UV_HANDLE", size_of::<ffi::uv_handle_t>()),
    (ffi::UV_IDLE, "UV_IDLE", size_of::<ffi::uv_idle_t>()),
    (
        ffi::UV_NAMED_PIPE,
        "UV_NAMED_PIPE",
        size_of::<ffi::uv_pipe_t>(),
    ),
    (ffi::UV_POLL, "UV_POLL", size_of::<ffi::uv_poll_t>()),
    (
        ffi::UV_PREPARE,
        "UV_PREPARE",
        size_of::<ffi::uv_prepare_t>(),
    ),
    (
        ffi::UV_PROCESS,
        "UV_PROCESS",
        size_of::<ffi::uv_process_t>(),
    ),
    (ffi::UV_STREAM, "UV_STREAM", size_of::<ffi::uv_stream_t>()),
    (ffi::UV_TCP, "UV_TCP", size_of::<ffi::uv_tcp_t>()),
    (ffi::UV_TIMER, "UV_TIMER", size_of::<ffi::uv_timer_t>()),
    (ffi::UV_TTY, "UV_TTY", size_of::<ffi::uv_tty_t>()),
    (ffi::UV_UDP, "UV_UDP", size_of::<ffi::uv_udp_t>()),
    (ffi::UV_SIGNAL, "UV_SIGNAL", size_of::<ffi::uv_signal_t>()),
];

/// Every request type with the size our bindings give it.
const REQS: &[(ffi::uv_req_type, &str, usize)] = &[
    (ffi::UV_REQ, "UV_REQ", size_of::<ffi::uv_req_t>()),
    (
        ffi::UV_CONNECT,
        "UV_CONNECT",
        size_of::<ffi::uv_connect_t>(),
    ),
    (ffi::UV_WRITE, "UV_WRITE", size_of::<ffi::uv_write_t>()),
    (
        ffi::UV_SHUTDOWN,
        "UV_SHUTDOWN",
        size_of::<ffi::uv_shutdown_t>(),
    ),
    (
        ffi::UV_UDP_SEND,
        "UV_UDP_SEND",
        size_of::<ffi::uv_udp_send_t>(),
    ),
    (ffi::UV_FS, "UV_FS", size_of::<ffi::uv_fs_t>()),
    (ffi::UV_WORK, "UV_WORK", size_of::<ffi::uv_work_t>()),
    (
        ffi::UV_GETADDRINFO,
        "UV_GETADDRINFO",
        size_of::<ffi::uv_getaddrinfo_t>(),
    ),
    (
        ffi::UV_GETNAMEINFO,
        "UV_GETNAMEINFO",
        size_of::<ffi::uv_getnameinfo_t>(),
    ),
    (ffi::UV_RANDOM, "UV_RANDOM", size_of::<ffi::uv_random_t>()),
];

/// What a libuv reports about itself: its version and struct sizes.
pub(crate) struct Reported<'a> {
    pub(crate) version: u32,
    pub(crate) loop_size: usize,
    pub(crate) handle_size: &'a dyn Fn(ffi::uv_handle_type) -> usize,
    pub(crate) req_size: &'a dyn Fn(ffi::uv_req_type) -> usize,
}

/// Refuses a libuv older than 1.44, or one whose `uv_loop_t`, handle or request sizes differ
/// from uvio's bindings (the message names the first that differs).
pub(crate) fn check_reported(r: &Reported<'_>) -> Result<()> {
    if r.version < ffi::MIN_VERSION_HEX {
        return Err(refuse(format!(
            "libuv {}.{}.{} is older than 1.44",
            r.version >> 16,
            (r.version >> 8) & 0xff,
            r.version & 0xff
        )));
    }
    let ours = size_of::<ffi::uv_loop_t>();
    if r.loop_size != ours {
        return Err(refuse(format!(
            "uv_loop_size() is {}, uvio's bindings have {ours}",
            r.loop_size
        )));
    }
    for &(ty, name, ours) in HANDLES {
        let theirs = (r.handle_size)(ty);
        if theirs != ours {
            return Err(refuse(format!(
                "uv_handle_size({name}) is {theirs}, uvio's bindings have {ours}"
            )));
        }
    }
    for &(ty, name, ours) in REQS {
        let theirs = (r.req_size)(ty);
        if theirs != ours {
            return Err(refuse(format!(
                "uv_req_size({name}) is {theirs}, uvio's bindings have {ours}"
            )));
        }
    }
    Ok(())
}

/// Refuses when the `uv_version` uvio calls (`ours`) is not the one the process exports
/// globally (`global`, null when the process exports none): then uvio's `uv_*` calls go to a
/// second libuv, private to this library (a `vendored` build inside an addon), which would
/// corrupt the host's loop instead of failing.
pub(crate) fn check_single_libuv(ours: usize, global: usize) -> Result<()> {
    if global != 0 && global != ours {
        return Err(refuse(
            "a second libuv: uvio calls a libuv linked into this library, not the host's \
             (build the library with `default-features = false, features = [\"host\"]`)"
                .to_string(),
        ));
    }
    Ok(())
}

/// Runs every check against the libuv this process actually uses.
pub(crate) fn check_host_libuv() -> Result<()> {
    // SAFETY: uv_version, uv_loop_size, uv_handle_size and uv_req_size have no
    // preconditions (an unknown type gives -1 as usize, which never matches a size).
    let reported = unsafe {
        Reported {
            version: ffi::uv_version(),
            loop_size: ffi::uv_loop_size(),
            handle_size: &|t| ffi::uv_handle_size(t),
            req_size: &|t| ffi::uv_req_size(t),
        }
    };
    // The libuv behind uvio's calls must be the process's own before its sizes mean anything.
    let ours = ffi::uv_version as unsafe extern "C" fn() -> ffi::c_uint as usize;
    // SAFETY: the name is NUL-terminated.
    let global = unsafe { ffi::late::lookup("uv_version\0") } as usize;
    check_single_libuv(ours, global)?;
    check_reported(&reported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours_handle(t: ffi::uv_handle_type) -> usize {
        HANDLES
            .iter()
            .find(|h| h.0 == t)
            .map_or(usize::MAX, |h| h.2)
    }
    fn ours_req(t: ffi::uv_req_type) -> usize {
        REQS.iter().find(|r| r.0 == t).map_or(usize::MAX, |r| r.2)
    }
    fn good() -> Reported<'static> {
        Reported {
            version: ffi::BINDINGS_VERSION_HEX,
            loop_size: size_of::<ffi::uv_loop_t>(),
            handle_size: &ours_handle,
            req_size: &ours_req,
        }
    }

    #[test]
    fn the_linked_libuv_passes() {
        check_host_libuv().unwrap();
        check_reported(&good()).unwrap();
    }

    #[test]
    fn old_libuv_is_refused() {
        let r = Reported {
            version: 0x01_2b_00,
            ..good()
        };
        let e = check_reported(&r).unwrap_err();
        assert!(e.is_unsupported());
        assert!(e.to_string().contains("1.43.0 is older than 1.44"), "{e}");
        // 1.44.0 exactly is accepted.
        let r = Reported {
            version: 0x01_2c_00,
            ..good()
        };
        check_reported(&r).unwrap();
    }

    #[test]
    fn loop_size_mismatch_is_refused() {
        let r = Reported {
            loop_size: size_of::<ffi::uv_loop_t>() + 8,
            ..good()
        };
        let e = check_reported(&r).unwrap_err();
        assert_eq!(e.name(), "UNSUPPORTED");
        assert!(e.to_string().contains("uv_loop_size()"), "{e}");
    }

    #[test]
    fn handle_size_mismatch_names_the_type() {
        let bad = |t| {
            if t == ffi::UV_TCP {
                ours_handle(t) - 8
            } else {
                ours_handle(t)
            }
        };
        let r = Reported {
            handle_size: &bad,
            ..good()
        };
        let e = check_reported(&r).unwrap_err();
        assert!(e.is_unsupported());
        let msg = e.to_string();
        assert!(msg.contains("uv_handle_size(UV_TCP)"), "{msg}");
        assert_eq!(e.operation(), Some("Loop::from_raw"));
    }

    #[test]
    fn req_size_mismatch_names_the_type() {
        let bad = |t| {
            if t == ffi::UV_FS {
                ours_req(t) + 16
            } else {
                ours_req(t)
            }
        };
        let r = Reported {
            req_size: &bad,
            ..good()
        };
        let e = check_reported(&r).unwrap_err();
        assert!(e.to_string().contains("uv_req_size(UV_FS)"), "{e}");
    }

    #[test]
    fn a_second_libuv_is_refused() {
        let e = check_single_libuv(0x1000, 0x2000).unwrap_err();
        assert!(e.is_unsupported());
        assert!(e.to_string().contains("second libuv"), "{e}");
        // The same libuv, or none exported globally (a static libuv in an executable).
        check_single_libuv(0x1000, 0x1000).unwrap();
        check_single_libuv(0x1000, 0).unwrap();
    }
}
