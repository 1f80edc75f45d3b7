//! The Neovim module example (`examples/nvim_module`: mlua in LuaJIT module mode, uvio in
//! `host` mode on nvim's loop) in a real headless `nvim`: `tests/nvim/module_test.lua` runs a
//! timer, a TCP server that luv's client talks to, an fs read and an async task, checks that
//! results reach Lua outside the libuv callback (so `vim.api` works there), and quits with
//! `:qa!` while uvio's handles are open.
//!
//! Skipped, with a message, when `nvim` is not installed (Debian's `neovim` package).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the module into the stable `target/nvim_module` (reruns are incremental) and
/// returns the directory holding `uvio_nvim.so`.
fn build_module() -> PathBuf {
    let target = root().join("target").join("nvim_module");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args([
            "build",
            "--manifest-path",
            "examples/nvim_module/Cargo.toml",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root())
        .status()
        .expect("run cargo");
    assert!(st.success(), "building the nvim module failed");
    let dir = target.join("lua");
    std::fs::create_dir_all(&dir).unwrap();
    // Copy, then rename over: an nvim of another run may have the old file mapped.
    let part = dir.join(format!("uvio_nvim.so.{}", std::process::id()));
    std::fs::copy(target.join("debug/libuvio_nvim.so"), &part).expect("copy the module");
    std::fs::rename(&part, dir.join("uvio_nvim.so")).expect("move the module into place");
    dir
}

#[test]
fn module_on_nvims_loop_headless() {
    let have = Command::new("nvim")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!("nvim is not installed: skipping the Neovim module test");
        return;
    }
    let dir = build_module();
    let out = tempfile::NamedTempFile::new().unwrap();
    let cpath = format!(
        "lua package.cpath = '{}/?.so;' .. package.cpath",
        dir.display()
    );
    let mut child = Command::new("nvim")
        .args([
            "--headless",
            "-u",
            "NONE",
            "-i",
            "NONE",
            "--cmd",
            &cpath,
            "-c",
        ])
        .arg(format!(
            "luafile {}",
            root().join("tests/nvim/module_test.lua").display()
        ))
        .env("UVIO_NVIM_OUT", out.path())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn nvim");
    // A hang guard, not a timing bound: a correct run ends by itself.
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for nvim") {
            break st;
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("nvim did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(out.path()).unwrap();
    eprintln!("--- module_test.lua:\n{log}");
    // nvim exits non-zero when it cannot close its loop cleanly (handles left open).
    assert!(status.success(), "nvim exited with {status:?}");
    for line in [
        "fast_probe inside the libuv callback",
        "timer ok",
        "timer after busy Lua ok",
        "read_file ok",
        "task ok",
        "tcp ok",
        "ALL OK",
    ] {
        assert!(log.lines().any(|l| l == line), "missing {line:?}");
    }
    assert!(!log.contains("LONG TIMER FIRED"));
    let open: usize = log
        .lines()
        .find_map(|l| l.strip_prefix("handles open: "))
        .and_then(|n| n.parse().ok())
        .expect("handle count");
    assert!(open >= 3, "uvio handles were open at :qa! ({open})");
}
