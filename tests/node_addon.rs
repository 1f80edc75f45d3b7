//! uvio embedded in a real Node.js process: builds the addon in `examples/node_addon` (its own
//! workspace, `host` link mode) and runs `tests/node/addon_test.js` with `node`.
//!
//! Skipped, with a message, when `node` is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn node_missing() -> bool {
    if have("node") {
        return false;
    }
    eprintln!("node is not installed: skipping the Node.js addon test");
    true
}

/// Builds the addon into `target/DIR` with extra cargo arguments; returns `uvio_addon.node`.
fn build_addon(dir: &str, args: &[&str]) -> PathBuf {
    let target = root().join("target").join(dir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "--manifest-path", "examples/node_addon/Cargo.toml"])
        .args(args)
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root())
        .status()
        .expect("run cargo");
    assert!(st.success(), "building the addon failed");
    let built = target.join("debug").join("libuvio_addon.so");
    let node = target.join("uvio_addon.node");
    // Copy beside it, then rename over it: a node process of another test run in this
    // checkout (the valgrind pass next to a plain one) may have the old file mapped, and
    // rewriting that file in place would kill it with SIGBUS.
    let part = target.join(format!("uvio_addon.node.{}", std::process::id()));
    std::fs::copy(&built, &part).expect("copy the addon");
    std::fs::rename(&part, &node).expect("move the addon into place");
    node
}

/// The addon as it should be built (`host` link mode), once per test run.
fn addon() -> &'static Path {
    static ADDON: OnceLock<PathBuf> = OnceLock::new();
    ADDON.get_or_init(|| build_addon("node_addon", &[]))
}

/// Runs `node addon_test.js ADDON MODE`, killing it if it hangs (a hang guard, not a timing
/// assertion: a correct run ends by itself well before).
fn run_node(mode: &str) -> Output {
    run_node_with(mode, &[])
}

/// [`run_node`] with more arguments after the mode.
fn run_node_with(mode: &str, more: &[&str]) -> Output {
    let mut child = Command::new("node")
        .arg(root().join("tests/node/addon_test.js"))
        .arg(addon())
        .arg(mode)
        .args(more)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let guard = Instant::now();
    while child.try_wait().expect("wait for node").is_none() {
        if guard.elapsed() > Duration::from_secs(300) {
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
fn every_function_in_main_thread_and_workers() {
    if node_missing() {
        return;
    }
    let out = run_node("main");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node failed: {:?}", out.status);
    for line in [
        "main: exercise ok",
        "main: worker exercise ok",
        "main: worker terminate ok",
        "main: ALL OK",
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?}");
    }
    // The panicking callback printed its message and nothing aborted.
    assert!(stderr.contains("deliberate panic in a uvio timer callback"));
    assert!(!stderr.contains("uv_loop_close"), "{stderr}");
    assert!(!stderr.contains("Assertion"), "{stderr}");
}

/// The addon loaded only in Workers, ending `ending`: node unmaps the library when each
/// Worker's env ends, before the thread exits, so a thread-exit destructor registered by uvio
/// (or by std on its behalf, as `std::thread::current()` does) would then run from unmapped
/// memory: SIGSEGV, exit status 139.
fn worker_only(ending: &str) {
    if node_missing() {
        return;
    }
    let out = run_node_with("worker-only", &[ending]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node failed: {:?}", out.status);
    let want = format!("main: worker-only {ending} ok");
    assert!(stdout.lines().any(|l| l == want), "{stdout}");
}

#[test]
fn addon_loaded_only_in_workers_that_end_by_themselves() {
    worker_only("natural");
}

#[test]
fn addon_loaded_only_in_workers_that_call_process_exit() {
    worker_only("exit");
}

#[test]
fn addon_loaded_only_in_workers_that_are_terminated() {
    worker_only("terminate");
}

#[test]
fn unref_timer_does_not_keep_node_alive() {
    if node_missing() {
        return;
    }
    let out = run_node("unref");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node failed: {:?}", out.status);
    assert!(stdout.contains("main: task read"), "{stdout}");
    assert!(stdout.contains("main: unref: main done"), "{stdout}");
    // node exited while the 10-minute timer was still pending: it never fired, and uvio's
    // handles (that timer, the executor's two and the loop's shared sleep timer, stopped)
    // were still open at exit.
    assert!(!stdout.contains("UNREF TIMER FIRED"), "{stdout}");
    assert!(
        stdout.contains("main: exiting with 4 uvio handles open"),
        "{stdout}"
    );
}

/// `(name, defined)` for each symbol `nm ARGS` lists.
fn symbols(args: &[&str], file: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .args(args)
        .arg(file)
        .output()
        .expect("run nm");
    assert!(out.status.success(), "nm {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

#[test]
fn addon_links_no_libuv_of_its_own() {
    if node_missing() {
        return;
    }
    if !have("nm") {
        eprintln!("nm is not installed: skipping the symbol check");
        return;
    }
    let so = addon();
    let undefined = symbols(&["-D", "--undefined-only"], so);
    let uv = |s: &String| s.starts_with("uv_");
    // The addon's libuv and N-API calls are imports, bound to node's at load time...
    for needed in [
        "uv_timer_start",
        "uv_queue_work",
        "uv_tcp_bind",
        "napi_create_promise",
    ] {
        assert!(
            undefined.iter().any(|s| s == needed),
            "{needed} not imported"
        );
    }
    // ...except functions newer than libuv 1.44, which are looked up at run time.
    for late in [
        "uv_metrics_info",
        "uv_getrusage_thread",
        "uv_tcp_keepalive_ex",
    ] {
        assert!(
            !undefined.iter().any(|s| s == late),
            "{late} imported statically"
        );
    }
    // No uv_* is defined, in the dynamic table or the full one: no libuv copy inside.
    let dyn_defined = symbols(&["-D", "--defined-only"], so);
    assert!(!dyn_defined.iter().any(uv), "exports a uv_ symbol");
    let defined = symbols(&["--defined-only"], so);
    let own: Vec<_> = defined.iter().filter(|s| uv(s)).collect();
    assert!(own.is_empty(), "defines {own:?}");
    assert!(undefined.iter().filter(|s| uv(s)).count() > 20);
}

/// The mistake `host` mode exists to prevent: an addon with its own libuv (`vendored`). It
/// loads, but its `uv_*` calls would go to a private libuv that knows nothing of node's loop;
/// `Loop::from_raw` notices and refuses, and `require` throws instead of corrupting node.
#[test]
fn addon_with_a_private_libuv_is_refused() {
    if node_missing() {
        return;
    }
    let so = build_addon(
        "node_addon_vendored",
        &["--no-default-features", "--features", "vendored"],
    );
    let script = format!(
        "try {{ require({:?}); console.log('LOADED'); }} \
         catch (e) {{ console.log('code=' + e.code); console.log(e.message); }}",
        so.to_str().unwrap()
    );
    let out = Command::new("node")
        .args(["-e", &script])
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("code=UNSUPPORTED"), "{stdout}");
    assert!(stdout.contains("a second libuv"), "{stdout}");
    assert!(!stdout.contains("LOADED"), "{stdout}");
}
