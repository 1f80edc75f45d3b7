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
    let Some(bin) = example("echo_server") else {
        // `cargo test` with no target selection builds the examples; `--tests` alone (the
        // valgrind pass) or `--test examples` does not.
        eprintln!("target/*/examples/echo_server not built (`cargo build --examples`): skipped");
        return None;
    };
    let mut child = Command::new(bin)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start echo_server");
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
