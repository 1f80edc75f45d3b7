//! uvio as a plugin of a C program that owns its loop: builds `examples/c_plugin` (its own
//! workspace, `host` link mode), compiles `tests/c/host.c` against the system libuv, and runs
//! it twice: with the plugin's static library linked in, and loading its shared library with
//! `dlopen`.
//!
//! Needs a C compiler and libuv's development package (`apt-get install libuv1-dev`: 1.44 on
//! Debian 12, so this also runs uvio's 1.53 bindings against an older libuv). Skipped, with a
//! message, without them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn pkg_config(args: &[&str]) -> Option<String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("libuv")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn have_cc() -> bool {
    Command::new("cc")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds the plugin (both library kinds) and returns its output directory.
fn build_plugin() -> PathBuf {
    let target = root().join("target").join("c_plugin");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "--manifest-path", "examples/c_plugin/Cargo.toml"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root())
        .status()
        .expect("run cargo");
    assert!(st.success(), "building the plugin failed");
    target.join("debug")
}

fn compile(out: &Path, extra: &[&str], libuv: &str) {
    let mut cmd = Command::new("cc");
    cmd.args(["-Wall", "-Wextra", "-Werror", "-O1"])
        .arg(root().join("tests/c/host.c"))
        .args(extra)
        .args(libuv.split_whitespace())
        // What Rust's std needs from the system when linked statically into C.
        .args([
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ])
        .arg("-o")
        .arg(out);
    let st = cmd.status().expect("run cc");
    assert!(st.success(), "compiling host.c failed: {cmd:?}");
}

/// Runs the host and returns its `key=value` lines. In the valgrind pass
/// (`UVIO_UNDER_VALGRIND`) the host itself, and so the plugin's code, runs under valgrind.
fn run_host(exe: &Path, plugin: Option<&Path>) -> Vec<(String, String)> {
    let mut cmd = if common::under_valgrind() {
        let mut c = Command::new("valgrind");
        c.args([
            "--quiet",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=99",
        ])
        .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    if let Some(p) = plugin {
        cmd.arg(p);
    }
    let out = cmd.output().expect("run the host");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!(
        "--- host stdout:\n{stdout}--- stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "host failed: {:?}", out.status);
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check(lines: &[(String, String)], mode: &str, libuv_version: &str) {
    let get = |k: &str| {
        lines
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("host printed no {k}"))
    };
    assert_eq!(get("mode"), mode);
    assert_eq!(get("libuv"), libuv_version);
    // Bad input: a null loop is EINVAL, a second attach EBUSY; neither crashes the host.
    assert_eq!(get("attach_null"), "-22");
    assert_eq!(get("attach_again"), "-16");
    // The host's own libuv client talked to uvio's listener.
    assert_eq!(get("echo"), "ping from the C host");
    assert_eq!(get("ticks_ok"), "1");
    assert_eq!(
        get("work"),
        ((1..=20u64).product::<u64>() % 1_000_003).to_string()
    );
    assert_eq!(get("task"), "1");
    // uvio_detach closed everything: the host's run ended and its loop closed cleanly.
    assert_eq!(get("detached"), "1");
    assert_eq!(get("run"), "0");
    assert_eq!(get("loop_close"), "0");
    // uv_metrics_info is libuv 1.45+: unsupported on an older host libuv, not a load failure.
    let minor: u32 = libuv_version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap();
    let expect = if minor >= 45 { "1" } else { "0" };
    assert_eq!(get("metrics_supported"), expect);
}

#[test]
fn c_host_runs_uvio_on_its_loop_static_and_dlopen() {
    let Some(libuv) = pkg_config(&["--cflags", "--libs"]) else {
        eprintln!("libuv's development package is not installed: skipping the C host test");
        return;
    };
    if !have_cc() {
        eprintln!("no C compiler: skipping the C host test");
        return;
    }
    let version = pkg_config(&["--modversion"]).unwrap();
    let lib = build_plugin();
    let dir = tempfile::tempdir().unwrap();

    let static_exe = dir.path().join("host_static");
    let archive = lib.join("libuvio_c_plugin.a");
    compile(
        &static_exe,
        &["-DSTATIC_PLUGIN", archive.to_str().unwrap()],
        &libuv,
    );
    check(&run_host(&static_exe, None), "static", &version);

    let dl_exe = dir.path().join("host_dlopen");
    compile(&dl_exe, &[], &libuv);
    let so = lib.join("libuvio_c_plugin.so");
    check(&run_host(&dl_exe, Some(&so)), "dlopen", &version);
}

/// The static libuv of libuv's development package (`libuv_a.a` on Debian, `libuv.a`
/// elsewhere), if there is one.
fn static_libuv() -> Option<PathBuf> {
    let libdir = pkg_config(&["--variable=libdir"])?;
    ["libuv_a.a", "libuv.a"]
        .iter()
        .map(|n| Path::new(&libdir).join(n))
        .find(|p| p.exists())
}

/// Runs `exe PLUGIN` and returns (success, stderr).
fn run_failing_host(exe: &Path, plugin: &Path) -> (bool, String) {
    let out = Command::new(exe)
        .arg(plugin)
        .output()
        .expect("run the host");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A host that links libuv statically must export all of it for a `host`-mode plugin it
/// `dlopen`s: `-rdynamic` exports only what the host itself pulled out of `libuv.a`, so the
/// plugin fails to load (`undefined symbol: uv_...`); with `-Wl,--whole-archive` around the
/// archive every `uv_*` is there and the plugin runs on the host's loop.
#[test]
fn c_host_linking_libuv_statically_exports_it_with_whole_archive() {
    let (Some(cflags), Some(archive)) = (pkg_config(&["--cflags"]), static_libuv()) else {
        eprintln!("no static libuv from libuv's development package: skipping");
        return;
    };
    if !have_cc() {
        eprintln!("no C compiler: skipping the C host test");
        return;
    }
    let version = pkg_config(&["--modversion"]).unwrap();
    let so = build_plugin().join("libuvio_c_plugin.so");
    let dir = tempfile::tempdir().unwrap();
    let a = archive.to_str().unwrap();

    let partial = dir.path().join("host_rdynamic_only");
    compile(&partial, &[], &format!("{cflags} -rdynamic {a}"));
    let (ok, stderr) = run_failing_host(&partial, &so);
    assert!(!ok, "the plugin loaded without libuv's other symbols");
    assert!(
        stderr.contains("undefined symbol: uv_"),
        "not the documented failure: {stderr}"
    );

    let whole = dir.path().join("host_whole_archive");
    let libuv = format!("{cflags} -rdynamic -Wl,--whole-archive {a} -Wl,--no-whole-archive");
    compile(&whole, &[], &libuv);
    // The host really has its own libuv, not the shared one.
    if let Ok(out) = Command::new("readelf").arg("-d").arg(&whole).output() {
        let dynamic = String::from_utf8_lossy(&out.stdout);
        assert!(!dynamic.contains("libuv.so"), "linked libuv.so: {dynamic}");
    }
    check(&run_host(&whole, Some(&so)), "dlopen", &version);
}
