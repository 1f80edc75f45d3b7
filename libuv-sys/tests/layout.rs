//! The committed bindings agree with the libuv they link: every handle and request size, the
//! loop size, and the version. Only meaningful where the C library is the one the bindings
//! were generated from (vendored mode).
#![cfg(feature = "vendored")]

use std::ffi::CStr;
use std::mem::size_of;

use uvio_sys::*;

/// `(type constant, its name, size of the struct in the bindings)`.
macro_rules! table {
    ($($c:ident => $t:ty),* $(,)?) => {
        [$(($c, stringify!($c), size_of::<$t>())),*]
    };
}

#[test]
fn handle_sizes_match() {
    let handles = table![
        UV_ASYNC => uv_async_t,
        UV_CHECK => uv_check_t,
        UV_FS_EVENT => uv_fs_event_t,
        UV_FS_POLL => uv_fs_poll_t,
        UV_HANDLE => uv_handle_t,
        UV_IDLE => uv_idle_t,
        UV_NAMED_PIPE => uv_pipe_t,
        UV_POLL => uv_poll_t,
        UV_PREPARE => uv_prepare_t,
        UV_PROCESS => uv_process_t,
        UV_STREAM => uv_stream_t,
        UV_TCP => uv_tcp_t,
        UV_TIMER => uv_timer_t,
        UV_TTY => uv_tty_t,
        UV_UDP => uv_udp_t,
        UV_SIGNAL => uv_signal_t,
    ];
    // Every handle type from UV_ASYNC to UV_SIGNAL, once each, in order (UV_FILE is not a
    // handle struct).
    let types: Vec<_> = handles.iter().map(|h| h.0).collect();
    assert_eq!(types, (UV_ASYNC..=UV_SIGNAL).collect::<Vec<_>>());
    assert_eq!(UV_FILE, UV_SIGNAL + 1);
    for (t, name, size) in handles {
        // SAFETY: uv_handle_size accepts any handle type value.
        let c = unsafe { uv_handle_size(t) };
        assert_eq!(c, size, "{name}: libuv says {c}, the bindings {size}");
        // SAFETY: uv_handle_type_name returns a static string (or null) for any value.
        let cname = unsafe { uv_handle_type_name(t) };
        assert!(!cname.is_null(), "{name}");
    }
}

#[test]
fn request_sizes_match() {
    let reqs = table![
        UV_REQ => uv_req_t,
        UV_CONNECT => uv_connect_t,
        UV_WRITE => uv_write_t,
        UV_SHUTDOWN => uv_shutdown_t,
        UV_UDP_SEND => uv_udp_send_t,
        UV_FS => uv_fs_t,
        UV_WORK => uv_work_t,
        UV_GETADDRINFO => uv_getaddrinfo_t,
        UV_GETNAMEINFO => uv_getnameinfo_t,
        UV_RANDOM => uv_random_t,
    ];
    let types: Vec<_> = reqs.iter().map(|r| r.0).collect();
    assert_eq!(types, (UV_REQ..UV_REQ_TYPE_MAX).collect::<Vec<_>>());
    for (t, name, size) in reqs {
        // SAFETY: uv_req_size accepts any request type value.
        let c = unsafe { uv_req_size(t) };
        assert_eq!(c, size, "{name}: libuv says {c}, the bindings {size}");
    }
}

#[test]
fn loop_size_matches() {
    // SAFETY: no preconditions.
    assert_eq!(unsafe { uv_loop_size() }, size_of::<uv_loop_t>());
}

/// The `libuv-sys2 = "=1.53.1"` package vendors libuv 1.53.0 (its own patch number is the
/// Rust package's): the linked library, the header's constants and the bindings agree.
#[test]
fn version_is_1_53_0() {
    // SAFETY: no preconditions.
    assert_eq!(unsafe { uv_version() }, 0x01_35_00);
    assert_eq!(BINDINGS_VERSION_HEX, 0x01_35_00);
    assert_eq!(
        (UV_VERSION_MAJOR, UV_VERSION_MINOR, UV_VERSION_PATCH),
        (1, 53, 0)
    );
    // SAFETY: uv_version_string returns a static NUL-terminated string.
    let s = unsafe { CStr::from_ptr(uv_version_string()) };
    assert_eq!(s.to_str().unwrap(), "1.53.0");
}
