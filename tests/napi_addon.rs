//! The napi-rs example addon (`examples/napi_addon`, its own workspace, uvio in `host` mode)
//! in a real Node.js process: `tests/node/napi_test.js` in the main thread and Workers, with
//! Workers terminated while uvio handles and tasks are open, and loaded only in Workers.
//!
//! Skipped, with a message, when `node` is not installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn node_missing() -> bool {
    let ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("node is not installed: skipping the napi-rs addon test");
    }
    !ok
}

/// Builds the addon once per test run into the stable `target/napi_addon` (so reruns are
/// incremental) and returns its `.node` file.
fn addon() -> &'static Path {
    static ADDON: OnceLock<PathBuf> = OnceLock::new();
    ADDON.get_or_init(|| {
        let target = root().join("target").join("napi_addon");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "--manifest-path", "examples/napi_addon/Cargo.toml"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(root())
            .status()
            .expect("run cargo");
        assert!(st.success(), "building the napi-rs addon failed");
        let node = target.join("uvio_napi_addon.node");
        // Copy, then rename over: a node of another run may have the old file mapped.
        let part = target.join(format!("uvio_napi_addon.node.{}", std::process::id()));
        std::fs::copy(target.join("debug/libuvio_napi_addon.so"), &part).expect("copy");
        std::fs::rename(&part, &node).expect("move the addon into place");
        node
    })
}

/// Runs the script in `mode`, killing node if it hangs (a hang guard, not a timing bound).
fn run(mode: &str) -> Output {
    let mut child = Command::new("node")
        .arg(root().join("tests/node/napi_test.js"))
        .arg(addon())
        .arg(mode)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let start = Instant::now();
    while child.try_wait().expect("wait for node").is_none() {
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("node did not exit (mode {mode})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("node output");
    eprintln!(
        "--- node {mode} stdout:\n{}--- stderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn napi_rs_addon_in_main_thread_and_workers() {
    if node_missing() {
        return;
    }
    let out = run("main");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node failed: {:?}", out.status);
    for line in ["main: exercise ok", "main: workers ok", "main: ALL OK"] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?}");
    }
}

#[test]
fn napi_rs_addon_loaded_only_in_workers() {
    if node_missing() {
        return;
    }
    let out = run("worker-only");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node failed: {:?}", out.status);
    assert!(
        stdout.lines().any(|l| l == "main: worker-only ok"),
        "{stdout}"
    );
}
