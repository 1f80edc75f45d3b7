//! The examples as real processes: what `.ci/run` cannot see by running them to the end.
//!
//! `echo_server ADDR` serves until `SIGINT`/`SIGTERM`, then closes its listener and its
//! connections and exits with status 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

/// `target/<profile>/examples/NAME`, which `cargo test` builds beside the test binaries
/// (`target/<profile>/deps/`). `None` when the examples were not built.
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent()?.parent()?;
    let path = profile_dir.join("examples").join(name);
    path.is_file().then_some(path)
}

/// Starts `echo_server 127.0.0.1:0` and reads the address it prints.
fn start_echo_server() -> Option<(Child, BufReader<ChildStdout>, SocketAddr)> {
    start_server("echo_server")
}

/// Starts example `name` with `127.0.0.1:0` and reads the address it prints first
/// (`echo server on ADDR`).
fn start_server(name: &str) -> Option<(Child, BufReader<ChildStdout>, SocketAddr)> {
    let Some(bin) = example(name) else {
        // `cargo test` with no target selection builds the examples; `--tests` alone (the
        // valgrind pass) or `--test examples` does not.
        eprintln!("target/*/examples/{name} not built (`cargo build --examples`): skipped");
        return None;
    };
    let mut child = Command::new(bin)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    let addr = line
        .trim()
        .strip_prefix("echo server on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("an address");
    Some((child, out, addr))
}

fn echo_once(addr: SocketAddr, msg: &[u8]) -> TcpStream {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.write_all(msg).unwrap();
    let mut back = vec![0; msg.len()];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
    c
}

fn stops_on(signal: libc::c_int, name: &str) {
    let Some((mut child, mut out, addr)) = start_echo_server() else {
        return;
    };
    // Two open connections, each echoing, when the signal arrives.
    let mut a = echo_once(addr, b"first");
    let mut b = echo_once(addr, b"second");
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child, which has not been waited for (so the pid is its).
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let status = child.wait().expect("wait for echo_server");
    assert!(status.success(), "{name}: exit status {status}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(
        rest,
        format!("{name}: closing the listener and 2 connections\nstopped\n")
    );
    // The server closed both connections: each sees end of stream.
    for c in [&mut a, &mut b] {
        let mut buf = [0u8; 8];
        assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
    }
    // And the listener is gone.
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn echo_server_stops_on_sigint() {
    stops_on(libc::SIGINT, "SIGINT");
}

#[test]
fn echo_server_stops_on_sigterm() {
    stops_on(libc::SIGTERM, "SIGTERM");
}

// ----- arguments: any bytes, and errors are messages, not panics -----

/// The examples whose `//! Run:` line takes an argument (`[PATH]`, `[ADDR]`, ...), read
/// from the sources so that a new one is covered without being listed here.
fn examples_with_arguments() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let run = src.lines().next().unwrap_or_default();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        assert!(
            run.starts_with(&format!("//! Run: cargo run --example {name}")),
            "{name}: first line {run:?}"
        );
        if run.contains('[') {
            names.push(name);
        }
    }
    names.sort();
    names
}

/// A name that is not UTF-8 (and names no file): `std::env::args()` panics on it.
fn non_utf8_name() -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    std::ffi::OsString::from_vec(b"uvio-missing-\xff\xfe.bin".to_vec())
}

/// Runs example `bin` with `arg`, in a scratch directory; (exit code, stdout, stderr).
fn run_with(bin: &std::path::Path, arg: &std::ffi::OsStr) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .arg(arg)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run the example");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn examples_read_arguments_with_args_os() {
    // The class of bug: `std::env::args()` panics on an argument that is not UTF-8.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "rs") {
            let src = std::fs::read_to_string(&path).unwrap();
            assert!(
                !src.contains("env::args()"),
                "{}: use std::env::args_os()",
                path.display()
            );
        }
    }
}

#[test]
fn every_example_with_an_argument_reports_a_non_utf8_one_without_panicking() {
    let names = examples_with_arguments();
    assert!(names.len() >= 6, "{names:?}");
    for name in names {
        let Some(bin) = example(&name) else {
            eprintln!("target/*/examples/{name} not built: skipped");
            continue;
        };
        let (code, _, err) = run_with(&bin, &non_utf8_name());
        // A path names no file (ENOENT); a host or address is refused as not UTF-8.
        assert_eq!(code, Some(1), "{name}: stderr {err:?}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(
            err.starts_with(&format!("{name}: ")) && err.ends_with('\n'),
            "{name}: {err:?}"
        );
        assert!(
            err.contains("ENOENT: ") || err.contains("not UTF-8"),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn path_examples_print_enoent_for_a_missing_non_utf8_path() {
    for name in ["fs_cat", "fs_tree", "fs_watch"] {
        let Some(bin) = example(name) else {
            eprintln!("target/*/examples/{name} not built: skipped");
            continue;
        };
        let (code, _, err) = run_with(&bin, &non_utf8_name());
        assert_eq!(code, Some(1), "{name}: {err:?}");
        assert!(
            err.starts_with(&format!("{name}: ENOENT: no such file or directory, ")),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn fs_cat_prints_a_file_whose_name_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let Some(bin) = example("fs_cat") else {
        eprintln!("target/*/examples/fs_cat not built: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"data-\xff\xfe.bin"));
    std::fs::write(&path, "contents of a file with a non-UTF-8 name\n").unwrap();
    let (code, out, err) = run_with(&bin, path.as_os_str());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "contents of a file with a non-UTF-8 name\n");
}

#[test]
fn address_examples_report_a_bad_address() {
    for name in ["echo_server", "tcp_echo_async"] {
        let Some(bin) = example(name) else {
            eprintln!("target/*/examples/{name} not built: skipped");
            continue;
        };
        let (code, out, err) = run_with(&bin, "not-an-address".as_ref());
        assert_eq!(code, Some(1), "{name}: {err:?}");
        assert_eq!(out, "");
        assert!(err.contains("\"not-an-address\""), "{name}: {err:?}");
        assert!(!err.contains("panicked"), "{name}: {err:?}");
    }
}

// ----- echo_server: a client that stops reading and leaves -----

/// The descriptors `pid` has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn echo_server_closes_a_stalled_reader_that_disconnects() {
    stalled_readers_are_closed("echo_server");
}

#[test]
fn tcp_echo_async_closes_a_stalled_reader_that_disconnects() {
    stalled_readers_are_closed("tcp_echo_async");
}

/// The class of bug: an echo example that keeps a connection whose client stopped reading
/// and left. Runs example `name` as a server and counts its descriptors.
fn stalled_readers_are_closed(name: &str) {
    use std::time::{Duration, Instant};
    let Some((mut child, _out, addr)) = start_server(name) else {
        return;
    };
    let pid = child.id();
    let baseline = open_fds(pid);
    // Five clients each send (up to) 10 MB without reading a byte of the echoes. The server
    // queues echoes until its high-water mark, then stops reading; the client's sends then
    // block, which is how a client knows the server has paused it.
    let clients: Vec<_> = (0..5)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).expect("connect");
                c.set_write_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                let chunk = vec![i as u8; 64 * 1024];
                let mut sent = 0;
                while sent < 10 << 20 {
                    match c.write(&chunk) {
                        Ok(n) => sent += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                        Err(e) => panic!("client {i}: {e}"),
                    }
                }
                sent
            })
        })
        .collect();
    let mut paused = 0;
    for c in clients {
        // Each client closed here, with echoes unread (the kernel resets the connection).
        if c.join().unwrap() < 10 << 20 {
            paused += 1;
        }
    }
    assert!(paused > 0, "{name}: no client was paused by the server");
    // Within a second (more under valgrind), the server has closed all five.
    let deadline = Instant::now() + common_patience(Duration::from_secs(1));
    let mut now = open_fds(pid);
    while now != baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        now = open_fds(pid);
    }
    // SAFETY: kill(2) on our own child, which has not been waited for.
    unsafe { libc::kill(libc::pid_t::try_from(pid).unwrap(), libc::SIGINT) };
    child.wait().unwrap();
    assert_eq!(
        now, baseline,
        "descriptors: {baseline} before the clients, {now} after"
    );
}

/// `common::patience` (this file does not use the common module otherwise).
fn common_patience(d: std::time::Duration) -> std::time::Duration {
    if std::env::var_os("UVIO_UNDER_VALGRIND").is_some() {
        d * 20
    } else {
        d
    }
}
