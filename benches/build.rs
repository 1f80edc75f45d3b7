//! Compiles `c/bench.c` against the `uv.h` of the vendored libuv that uvio links.
//!
//! libuv-sys2 reports its header directory as `cargo:include=...` (`DEP_UV_INCLUDE` here).
//! It prints that path relative to its own package directory (`libuv/include`) when it built
//! libuv from source, so a relative path is resolved against where cargo keeps that package,
//! found with `cargo metadata` (which also respects `[patch]` and vendored sources).
//!
//! `cargo metadata` is limited to the target and host platforms (`--filter-platform`):
//! without that it wants the packages of every platform (`windows-sys`, `r-efi`, ...),
//! which a plain build never downloads, and `--offline` then fails on a fresh cargo home.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=c/bench.c");
    let include = PathBuf::from(
        env::var_os("DEP_UV_INCLUDE").expect("libuv-sys2 did not report DEP_UV_INCLUDE"),
    );
    let include = if include.is_absolute() {
        include
    } else {
        libuv_sys2_dir().join(include)
    };
    assert!(
        include.join("uv.h").is_file(),
        "uv.h not found in {}",
        include.display()
    );
    cc::Build::new()
        .file("c/bench.c")
        .include(&include)
        .warnings(true)
        .extra_warnings(true)
        .compile("uvio_bench_c");
}

/// The directory of the libuv-sys2 package this build uses.
fn libuv_sys2_dir() -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest =
        Path::new(&env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo")).join("Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.args(["metadata", "--format-version", "1", "--offline"]);
    for platform in ["TARGET", "HOST"] {
        if let Some(triple) = env::var_os(platform) {
            cmd.arg("--filter-platform").arg(triple);
        }
    }
    let out = cmd
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("cannot run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8_lossy(&out.stdout);
    // Every package object has a `"manifest_path":"..."`; take libuv-sys2's. (Paths in
    // cargo's JSON never contain an escaped quote on the platforms libuv-sys2 builds for.)
    let key = "\"manifest_path\":\"";
    json.match_indices(key)
        .map(|(at, _)| {
            let rest = &json[at + key.len()..];
            &rest[..rest.find('"').unwrap_or(rest.len())]
        })
        .map(|p| PathBuf::from(p.replace("\\\\", "\\")))
        .find(|p| {
            p.parent()
                .and_then(Path::file_name)
                .is_some_and(|d| d.to_string_lossy().starts_with("libuv-sys2"))
        })
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("libuv-sys2 not found in cargo metadata")
}
