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

/// `(type constant, its name, size_of our binding's struct)` for each `TYPE => struct`.
macro_rules! sizes {
    ($($ty:ident => $st:ident),* $(,)?) => {
        &[$((ffi::$ty, stringify!($ty), size_of::<ffi::$st>())),*]
    };
}

/// Every handle type with its own struct, with the size our bindings give it.
const HANDLES: &[(ffi::uv_handle_type, &str, usize)] = sizes!(
    UV_ASYNC => uv_async_t, UV_CHECK => uv_check_t, UV_FS_EVENT => uv_fs_event_t,
    UV_FS_POLL => uv_fs_poll_t, UV_HANDLE => uv_handle_t, UV_IDLE => uv_idle_t,
    UV_NAMED_PIPE => uv_pipe_t, UV_POLL => uv_poll_t, UV_PREPARE => uv_prepare_t,
    UV_PROCESS => uv_process_t, UV_STREAM => uv_stream_t, UV_TCP => uv_tcp_t,
    UV_TIMER => uv_timer_t, UV_TTY => uv_tty_t, UV_UDP => uv_udp_t, UV_SIGNAL => uv_signal_t,
);

/// Every request type with the size our bindings give it.
const REQS: &[(ffi::uv_req_type, &str, usize)] = sizes!(
    UV_REQ => uv_req_t, UV_CONNECT => uv_connect_t, UV_WRITE => uv_write_t,
    UV_SHUTDOWN => uv_shutdown_t, UV_UDP_SEND => uv_udp_send_t, UV_FS => uv_fs_t,
    UV_WORK => uv_work_t, UV_GETADDRINFO => uv_getaddrinfo_t,
    UV_GETNAMEINFO => uv_getnameinfo_t, UV_RANDOM => uv_random_t,
);

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
    compare("uv_handle_size", HANDLES, r.handle_size)?;
    compare("uv_req_size", REQS, r.req_size)?;
    Ok(())
}

/// Refuses the first type whose size `theirs` reports differently from `table`.
fn compare<T: Copy>(
    func: &str,
    table: &[(T, &str, usize)],
    theirs: &dyn Fn(T) -> usize,
) -> Result<()> {
    for &(ty, name, ours) in table {
        let size = theirs(ty);
        if size != ours {
            return Err(refuse(format!(
                "{func}({name}) is {size}, uvio's bindings have {ours}"
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
