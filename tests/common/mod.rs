//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// Scales a workload by `UVIO_TEST_SCALE` (default 1.0; the valgrind pass in CI sets it
/// lower), never below 1.
pub fn scale(n: usize) -> usize {
    let f: f64 = std::env::var("UVIO_TEST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * f) as usize).max(1)
}

/// True when running under valgrind (the CI sets `UVIO_UNDER_VALGRIND=1`).
pub fn under_valgrind() -> bool {
    std::env::var_os("UVIO_UNDER_VALGRIND").is_some()
}

/// True when the libuv in use is at least `v` (the `system` link mode may run the suite on
/// an older libuv than the vendored 1.53: Debian's is 1.44).
pub fn libuv_at_least(v: (u32, u32, u32)) -> bool {
    uvio::version() >= v
}

/// `r` is the "not supported by this libuv" error a call newer than the running libuv
/// returns.
pub fn is_unsupported<T: std::fmt::Debug>(r: &uvio::Result<T>) -> bool {
    matches!(r, Err(e) if e.is_unsupported())
}

/// How long to wait for something that real I/O, another thread or a child process has to
/// do before calling it a hang: `d`, or twenty times `d` under valgrind (which runs
/// everything many times slower). A guard against hanging, never a bound a test asserts on;
/// a test that passes waits only as long as the event takes.
pub fn patience(d: std::time::Duration) -> std::time::Duration {
    if under_valgrind() { d * 20 } else { d }
}

/// A connected pair over loopback TCP (IPv4): (client, server side).
pub fn tcp_pair(lp: &uvio::Loop) -> (uvio::TcpStream, uvio::TcpStream) {
    let l = uvio::TcpListener::bind(lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = l.local_addr().unwrap();
    lp.block_on(async move {
        let c = uvio::TcpStream::connect(addr).await.unwrap();
        let s = l.accept().await.unwrap();
        (c, s)
    })
    .unwrap()
}

/// `echo_server!(&listener)`: a callback-style echo server on a `TcpListener` or a
/// `PipeListener`; it returns the accepted connections, kept in an `Rc<RefCell<Vec<_>>>`.
/// Each echoes what it reads and closes itself at end of stream (any other read error
/// fails the test).
#[macro_export]
macro_rules! echo_server {
    ($l:expr) => {{
        let conns = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let keep = conns.clone();
        $l.on_connection(move |_l, conn| {
            let conn = conn.expect("accept");
            conn.read_start(|s, r| match r {
                Ok(bytes) => s.write_cb(bytes.to_vec(), |_, r| r.unwrap()).unwrap(),
                Err(e) => {
                    assert_eq!(e.code(), uvio::Error::EOF.code(), "{e}");
                    s.close().unwrap();
                }
            })
            .unwrap();
            keep.borrow_mut().push(conn);
        })
        .unwrap();
        conns
    }};
}

use std::any::Any;
use std::cell::Cell;
use std::rc::Rc;

/// The message of a panic payload (`&str` or `String`), or `"<non-string panic>"`.
pub fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".to_string()
    }
}

/// Counts how many of its clones have been dropped: put one inside a closure or future and
/// check that it was dropped (exactly once).
#[derive(Debug)]
pub struct DropCount {
    count: Rc<Cell<usize>>,
}

impl DropCount {
    /// A counter, and the shared count it increments when dropped.
    pub fn new() -> (DropCount, Rc<Cell<usize>>) {
        let count = Rc::new(Cell::new(0));
        (
            DropCount {
                count: Rc::clone(&count),
            },
            count,
        )
    }

    /// Another guard on the same count.
    pub fn another(&self) -> DropCount {
        DropCount {
            count: Rc::clone(&self.count),
        }
    }
}

impl Drop for DropCount {
    fn drop(&mut self) {
        self.count.set(self.count.get() + 1);
    }
}

/// Deterministic test bytes: `len` bytes that differ with `seed`.
pub fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8)
        .collect()
}

/// The handles the executor keeps open once `block_on` has run (its idle and async
/// handles): what `handle_count` returns on a loop with nothing else open.
pub fn runtime_handles() -> usize {
    let lp = uvio::Loop::new().unwrap();
    lp.block_on(async {}).unwrap();
    lp.handle_count()
}
