//! The generated error table: every libuv error code has its name, both ways.
use std::ffi::CStr;

use uvio::{Error, ffi};

/// Every `pub const UV_X: uv_errno_t = N;` in the committed bindings but `UV_ERRNO_MAX`, the
/// enum's end marker.
fn codes_in_bindings() -> Vec<(String, i32)> {
    include_str!("../libuv-sys/src/bindings.rs")
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("pub const UV_")?;
            let (name, value) = rest.split_once(": uv_errno_t = ")?;
            let value = value.strip_suffix(';')?.parse().ok()?;
            (name != "ERRNO_MAX").then(|| (name.to_string(), value))
        })
        .collect()
}

#[test]
fn every_code_in_the_bindings_round_trips() {
    let codes = codes_in_bindings();
    assert!(codes.len() >= 80, "parsed only {} codes", codes.len());
    for (name, code) in &codes {
        let e = Error::from_code(*code);
        assert_eq!(e.name(), name, "code {code}");
        assert_eq!(e.code(), *code);
        // libuv agrees on the name: the libuv these bindings come from knows every code; an
        // older one (the `system` mode on Debian's 1.44) may not know the newest (ENODATA).
        // SAFETY: uv_err_name returns a static string for every code (a known one's name or
        // "Unknown system error N").
        let c = unsafe { CStr::from_ptr(ffi::uv_err_name(*code)) };
        let libuv_name = c.to_str().unwrap();
        if uvio::version() >= (1, 53, 0) || !libuv_name.starts_with("Unknown system error") {
            assert_eq!(libuv_name, name);
        }
        // The description is libuv's, and Display starts with the name.
        assert!(e.to_string().starts_with(&format!("{name}: ")));
        // Through io::Error and back.
        let io: std::io::Error = e.clone().into();
        assert_eq!(Error::from(io), e);
    }
}

macro_rules! check_table {
    ($($name:ident = $uv:ident,)*) => {{
        let mut n = 0;
        $(
            assert_eq!(Error::$name.code(), ffi::$uv);
            assert_eq!(Error::from_code(ffi::$uv).name(), stringify!($name));
            n += 1;
        )*
        n
    }};
}

#[test]
fn every_constant_in_the_table_round_trips() {
    let n = ffi::uv_errno_map!(check_table);
    assert_eq!(
        n,
        codes_in_bindings().len(),
        "the table and the bindings differ"
    );
    assert_eq!(Error::from_code(-1_000_000).name(), "UNKNOWN");
    // The end marker of libuv's enum is not an error with a name.
    assert_eq!(Error::from_code(ffi::UV_ERRNO_MAX).name(), "UNKNOWN");
    assert_eq!(Error::UNSUPPORTED.name(), "UNSUPPORTED");
}
