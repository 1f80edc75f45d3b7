//! Checks of the libuv this process uses against the bindings uvio was built with.

use crate::error::{Error, Result};
use crate::ffi;

/// Refuses a libuv older than 1.44 or one whose struct sizes differ from our bindings.
pub(crate) fn check_host_libuv() -> Result<()> {
    // SAFETY: uv_version has no preconditions.
    let v = unsafe { ffi::uv_version() };
    if v < ffi::MIN_VERSION_HEX {
        return Err(Error::unsupported("libuv older than 1.44"));
    }
    // SAFETY: uv_loop_size has no preconditions.
    if unsafe { ffi::uv_loop_size() } != std::mem::size_of::<ffi::uv_loop_t>() {
        return Err(Error::unsupported(
            "uv_loop_t size differs from uvio's bindings",
        ));
    }
    Ok(())
}
