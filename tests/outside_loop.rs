//! The one rule outside a loop: everything that finds its loop implicitly (the current
//! loop of this thread) panics when it runs where no uvio loop is running, naming the call.
//! Nothing aborts, nothing is left half-started, and the same value works once it is
//! polled inside a loop.
mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use uvio::Loop;

/// Runs `f` and returns its panic message; fails when it does not panic.
fn panic_of<T>(what: &str, f: impl FnOnce() -> T) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("{what}: did not panic outside a loop"),
        Err(p) => common::panic_message(&*p),
    }
}

/// Polls `fut` to the end with an executor that is not uvio's: no uvio loop is current.
fn poll_outside<F: Future>(what: &str, fut: F) -> String {
    assert!(uvio::LoopHandle::current().is_none());
    panic_of(what, || futures::executor::block_on(fut))
}

fn check(what: &str, msg: String) {
    assert!(msg.contains("outside a uvio loop"), "{what}: {msg:?}");
}

#[test]
fn every_future_panics_when_polled_outside_a_loop() {
    let ms = Duration::from_millis(1);
    check("sleep", poll_outside("sleep", uvio::time::sleep(ms)));
    check(
        "sleep_until",
        poll_outside(
            "sleep_until",
            uvio::time::sleep_until(std::time::Instant::now()),
        ),
    );
    check(
        "interval",
        poll_outside("interval", async {
            uvio::time::interval(ms).tick().await;
        }),
    );
    check(
        "timeout",
        poll_outside(
            "timeout",
            uvio::time::timeout(ms, std::future::pending::<()>()),
        ),
    );
    check("fs", poll_outside("fs", uvio::fs::metadata("Cargo.toml")));
    check(
        "tcp connect",
        poll_outside(
            "tcp connect",
            uvio::TcpStream::connect("127.0.0.1:9".parse().unwrap()),
        ),
    );
    check(
        "pipe connect",
        poll_outside("pipe connect", uvio::PipeStream::connect("/nonexistent")),
    );
    check(
        "getaddrinfo",
        poll_outside(
            "getaddrinfo",
            uvio::dns::getaddrinfo(Some("localhost"), None, uvio::dns::Hints::new()),
        ),
    );
    check(
        "getnameinfo",
        poll_outside(
            "getnameinfo",
            uvio::dns::getnameinfo("127.0.0.1:80".parse().unwrap(), uvio::dns::NiFlags::empty()),
        ),
    );
    check(
        "lookup_host",
        poll_outside("lookup_host", uvio::dns::lookup_host("localhost:80")),
    );
    check(
        "random_async",
        poll_outside("random_async", uvio::sys::random_async(8)),
    );
    check("ctrl_c", poll_outside("ctrl_c", uvio::signal::ctrl_c()));
    check(
        "status",
        poll_outside("status", uvio::process::Command::new("true").status()),
    );
    check(
        "output",
        poll_outside("output", uvio::process::Command::new("true").output()),
    );
    check(
        "spawn_blocking",
        poll_outside("spawn_blocking", async { uvio::spawn_blocking(|| 1).await }),
    );
}

#[test]
fn every_implicit_loop_call_panics_outside_a_loop() {
    check(
        "spawn_local",
        panic_of("spawn_local", || uvio::spawn_local(async {})),
    );
    check(
        "spawn_blocking",
        panic_of("spawn_blocking", || uvio::spawn_blocking(|| ())),
    );
    check(
        "signal",
        panic_of("signal", || uvio::signal::signal(libc::SIGUSR1)),
    );
    check(
        "next_tick",
        panic_of("next_tick", || uvio::node::next_tick(|| ())),
    );
    check(
        "set_timeout",
        panic_of("set_timeout", || {
            uvio::node::set_timeout(Duration::from_millis(1), || ())
        }),
    );
    check(
        "set_interval",
        panic_of("set_interval", || {
            uvio::node::set_interval(Duration::from_millis(1), |_| ())
        }),
    );
    check(
        "set_immediate",
        panic_of("set_immediate", || uvio::node::set_immediate(|| ())),
    );
}

#[test]
fn a_numeric_lookup_needs_no_loop() {
    // Nothing to resolve, so no loop is needed (as `ToSocketAddrs` and tokio do).
    let addrs: Vec<_> = futures::executor::block_on(uvio::dns::lookup_host("127.0.0.1:80"))
        .unwrap()
        .collect();
    assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()]);
}

#[test]
fn futures_made_outside_a_loop_work_inside_one() {
    // The loop is found at the first poll, not when the future is made.
    let sleep = uvio::time::sleep(Duration::from_millis(1));
    let meta = uvio::fs::metadata(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    let random = uvio::sys::random_async(8);
    let name = uvio::dns::getnameinfo("127.0.0.1:80".parse().unwrap(), uvio::dns::NiFlags::empty());
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        sleep.await;
        assert!(meta.await.unwrap().is_file());
        assert_eq!(random.await.unwrap().len(), 8);
        assert!(!name.await.unwrap().host.is_empty());
        let mut cmd = uvio::process::Command::new("true");
        assert!(cmd.status().await.unwrap().success());
    })
    .unwrap();
}

#[test]
fn a_panic_outside_leaves_the_thread_usable() {
    // After the panics above (on this thread), a loop runs normally here.
    check(
        "sleep",
        poll_outside("sleep", uvio::time::sleep(Duration::ZERO)),
    );
    check(
        "spawn_local",
        panic_of("spawn_local", || uvio::spawn_local(async {})),
    );
    let lp = Loop::new().unwrap();
    let v = lp
        .block_on(async {
            uvio::time::sleep(Duration::from_millis(1)).await;
            uvio::spawn_local(async { 7 }).await.unwrap()
        })
        .unwrap();
    assert_eq!(v, 7);
    assert!(uvio::LoopHandle::current().is_none());
}

#[test]
fn no_call_reports_einval_for_a_missing_loop() {
    // The class of bug: a second convention creeping back in (an error for a missing loop
    // in one place, a panic in another). Code and docs both say "outside a uvio loop" only
    // next to a panic.
    fn scan(dir: &std::path::Path, bad: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                scan(&path, bad);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let src = std::fs::read_to_string(&path).unwrap();
                for (i, line) in src.lines().enumerate() {
                    if line.contains("EINVAL") && line.contains("outside") {
                        bad.push(format!("{}:{}: {line}", path.display(), i + 1));
                    }
                }
            }
        }
    }
    let mut bad = Vec::new();
    scan(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut bad,
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
