//! TCP under faults: accepting while out of descriptors (EMFILE), a peer resetting under a
//! large queued write, writing to a peer that has gone (EPIPE and SIGPIPE), and connects
//! abandoned while their handshake is stuck.
//!
//! The EMFILE and SIGPIPE scenarios change process-wide state (the descriptor limit, the
//! SIGPIPE disposition), so they run in a child process: the test re-executes this binary
//! with its own name as the filter and an environment variable that makes the test body do
//! the real work.

mod common;

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::rc::Rc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, FutureExt};
use uvio::{Error, Loop, RunMode, TcpListener, TcpStream};

fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The handles the executor keeps open once `block_on` has run (its idle and async handles).
fn runtime_handles() -> usize {
    let lp = Loop::new().unwrap();
    lp.block_on(async {}).unwrap();
    lp.handle_count()
}

/// Runs the loop without blocking until `done()`, yielding the thread in between (the
/// events come from the kernel, possibly a moment later). Panics after very many rounds
/// rather than hanging the test run.
fn run_until(lp: &Loop, what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200_000 {
        if done() {
            return;
        }
        lp.run(RunMode::NoWait).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    panic!("never happened: {what}");
}

/// True for the errors of writing to a connection the peer has reset or closed.
fn is_broken(e: &Error) -> bool {
    ["EPIPE", "ECONNRESET"].contains(&e.name())
}

fn is_broken_io(e: &std::io::Error) -> bool {
    [
        std::io::ErrorKind::BrokenPipe,
        std::io::ErrorKind::ConnectionReset,
    ]
    .contains(&e.kind())
}

/// Re-executes this test binary to run `test` alone, with `var=1` set (the test body then
/// does the real work), under valgrind when this run is (and valgrind is there).
fn run_child(test: &str, var: &str, valgrind: bool) -> Output {
    let exe = std::env::current_exe().unwrap();
    let use_valgrind = valgrind
        && common::under_valgrind()
        && Command::new("valgrind").arg("--version").output().is_ok();
    let mut cmd = if use_valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "-q",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=1",
        ])
        .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(var, "1");
    cmd.output().unwrap()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ----- accept when out of descriptors -----

const EMFILE_CHILD: &str = "UVIO_EMFILE_CHILD";

/// libuv 1.45+ handles `EMFILE` at accept itself (its "EMFILE trick": close a spare
/// descriptor, accept every pending connection and close it at once, take the spare again)
/// and reports nothing to the listener; older versions may report `EMFILE`. Either way the
/// listener must keep serving once descriptors are free again, in both styles, and every
/// other operation that needs a descriptor must fail with a typed `EMFILE`.
#[test]
fn accept_when_out_of_descriptors() {
    if std::env::var_os(EMFILE_CHILD).is_some() {
        return emfile_scenario();
    }
    let out = run_child("accept_when_out_of_descriptors", EMFILE_CHILD, true);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("emfile: served again"),
        "{}",
        describe(&out)
    );
}

/// Lowers the soft descriptor limit to `n` (the hard limit stays: valgrind refuses any
/// other change).
fn lower_fd_limit(n: libc::rlim_t) {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur = r.rlim_cur.min(n);
        assert_eq!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &r),
            0,
            "{}",
            std::io::Error::last_os_error()
        );
    }
}

/// Opens `/dev/null` until the process is out of descriptors.
fn exhaust_descriptors() -> Vec<std::fs::File> {
    let mut hog = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => hog.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return hog;
            }
        }
    }
}

/// Whether a client socket of a connection the server dropped has seen the end: EOF or a
/// reset. `None` while nothing has arrived yet.
fn shed(c: &mut std::net::TcpStream) -> Option<&'static str> {
    match c.read(&mut [0u8; 16]) {
        Ok(0) => Some("EOF"),
        Ok(n) => panic!("the server sent {n} bytes"),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Some("ECONNRESET"),
        Err(e) => panic!("client read: {e}"),
    }
}

/// Writes `msg` over a new connection to `addr` and checks it comes back.
async fn echo_once(addr: SocketAddr, msg: &[u8]) {
    let c = TcpStream::connect(addr).await.unwrap();
    (&c).write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    (&c).read_exact(&mut back).await.unwrap();
    assert_eq!(back, msg);
}

fn emfile_scenario() {
    const CLIENTS: usize = 3;
    let lp = Loop::new().unwrap();
    // The executor's handles take descriptors: create them while there are some.
    lp.block_on(async {}).unwrap();
    let base = lp.handle_count();

    // Listener 1, callbacks: an echo server that records every accept error.
    let l1 = TcpListener::bind(&lp, v4()).unwrap();
    let a1 = l1.local_addr().unwrap();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let conns = Rc::new(RefCell::new(Vec::new()));
    let (e2, c2) = (errors.clone(), conns.clone());
    l1.on_connection(move |_, r| match r {
        Ok(s) => {
            s.read_start(|s, r| match r {
                Ok(b) => s.write_cb(b.to_vec(), |_, r| r.unwrap()).unwrap(),
                Err(_) => s.close().unwrap(),
            })
            .unwrap();
            c2.borrow_mut().push(s);
        }
        Err(e) => e2.borrow_mut().push(e),
    })
    .unwrap();

    // Listener 2, futures: a task accepts until it gets a connection.
    let l2 = Rc::new(TcpListener::bind(&lp, v4()).unwrap());
    let a2 = l2.local_addr().unwrap();
    let task = lp.spawn_local({
        let l2 = l2.clone();
        async move {
            let mut errs = Vec::new();
            loop {
                match l2.accept().await {
                    Ok(s) => return (errs, s),
                    Err(e) => {
                        assert!(["EMFILE", "ENFILE"].contains(&e.name()), "{e}");
                        assert!(errs.len() < 1000, "accept keeps failing: {e}");
                        errs.push(e);
                    }
                }
            }
        }
    });
    lp.run(RunMode::NoWait).unwrap();

    lower_fd_limit(256);
    let mut hog = exhaust_descriptors();
    println!("emfile: {} descriptors taken", hog.len());

    // Anything needing a descriptor now fails with a typed EMFILE.
    let e = TcpListener::bind(&lp, v4()).unwrap_err();
    assert_eq!(e.name(), "EMFILE", "{e}");
    let e = lp.block_on(TcpStream::connect(a1)).unwrap().unwrap_err();
    assert_eq!(e.name(), "EMFILE", "{e}");
    if !common::under_valgrind() {
        // Valgrind emulates the lowered limit (the kernel's stays) and its socketpair
        // wrapper closes descriptors over the limit yet reports success.
        let e = TcpStream::pair(&lp).unwrap_err();
        assert_eq!(e.name(), "EMFILE", "{e}");
    }

    // Make room for the clients only: each takes one of the freed descriptors, so the
    // table is full again when the listeners try to accept.
    hog.truncate(hog.len() - 2 * CLIENTS);
    let mut clients: Vec<std::net::TcpStream> = [a1, a2]
        .iter()
        .flat_map(|a| (0..CLIENTS).map(move |_| std::net::TcpStream::connect(a).unwrap()))
        .collect();
    assert!(std::fs::File::open("/dev/null").is_err(), "table is full");
    for c in &clients {
        c.set_nonblocking(true).unwrap();
    }
    let mut ends = vec![None; clients.len()];
    run_until(&lp, "every pending connection is shed", || {
        for (c, end) in clients.iter_mut().zip(ends.iter_mut()) {
            if end.is_none() {
                *end = shed(c);
            }
        }
        ends.iter().all(Option::is_some)
    });
    println!("emfile: clients saw {ends:?}");
    assert!(conns.borrow().is_empty(), "nothing was accepted");
    assert!(!task.is_finished(), "nothing was accepted");
    let (major, minor, _) = uvio::version();
    if (major, minor) >= (1, 45) {
        // libuv sheds the connections without telling the listener.
        assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    }
    for e in errors.borrow().iter() {
        assert!(["EMFILE", "ENFILE"].contains(&e.name()), "{e}");
    }
    println!("emfile: {} errors reported", errors.borrow().len());

    // Descriptors free again: both listeners serve new connections.
    drop(hog);
    drop(clients);
    lp.block_on(echo_once(a1, b"after EMFILE, callbacks"))
        .unwrap();
    const MSG: &[u8] = b"after EMFILE, futures";
    let (errs, s) = lp
        .block_on(async {
            let client = echo_once(a2, MSG);
            let server = async {
                let (errs, s) = task.await.unwrap();
                let mut buf = [0u8; 64];
                let mut seen = 0;
                while seen < MSG.len() {
                    let n = (&s).read(&mut buf).await.unwrap();
                    assert!(n > 0);
                    s.write(buf[..n].to_vec()).await.unwrap();
                    seen += n;
                }
                (errs, s)
            };
            futures::join!(client, server).1
        })
        .unwrap();
    println!("emfile: the accept future saw {} errors first", errs.len());
    if (major, minor) >= (1, 45) {
        assert!(errs.is_empty(), "{errs:?}");
    }
    assert_eq!(conns.borrow().len(), 1);

    drop((s, l1, l2));
    conns.borrow_mut().clear();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), base);
    println!("emfile: served again");
}

// ----- a peer resetting under a large queued write -----

/// Bytes per queued write: together much more than the kernel buffers hold, so most of it
/// is still in libuv's queue when the peer goes. Not scaled: the point is the size.
const BIG: usize = 8 << 20;

/// How the peer resets.
#[derive(Clone, Copy, Debug)]
enum Reset {
    /// A uvio stream closed with `close_reset`.
    CloseReset,
    /// A std socket with `SO_LINGER` 0, dropped.
    Linger0,
}

/// A uvio client connected to a peer, and a function that resets the connection from the
/// peer's side.
fn client_and_resetter(lp: &Loop, how: Reset) -> (TcpStream, Box<dyn FnOnce()>) {
    match how {
        Reset::CloseReset => {
            let (c, s) = common::tcp_pair(lp);
            (c, Box::new(move || s.close_reset().unwrap()))
        }
        Reset::Linger0 => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let c = lp
                .block_on(TcpStream::connect(l.local_addr().unwrap()))
                .unwrap()
                .unwrap();
            let (peer, _) = l.accept().unwrap();
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: setsockopt on an open socket with a correctly sized value.
            let r = unsafe {
                libc::setsockopt(
                    peer.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&raw const linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                )
            };
            assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
            (c, Box::new(move || drop(peer)))
        }
    }
}

/// Two callback writes and a future write queued, then the peer resets: each completes
/// with `ECONNRESET`/`EPIPE`, the callbacks are dropped once, the stream closes cleanly.
fn reset_under_queued_writes(how: Reset) {
    let lp = Loop::new().unwrap();
    let base = runtime_handles();
    let (c, reset) = client_and_resetter(&lp, how);
    let results = Rc::new(RefCell::new(Vec::new()));
    let (guard, dropped) = common::DropCount::new();
    let write_cb = |tag: &'static str| {
        let (r2, g) = (results.clone(), guard.another());
        c.write_cb(vec![7u8; BIG], move |_, r| {
            let _g = &g;
            r2.borrow_mut().push((tag, r));
        })
        .unwrap();
    };
    write_cb("first");
    let mut fut = c.write(vec![8u8; BIG]);
    write_cb("third");
    drop(guard);
    for _ in 0..3 {
        lp.run(RunMode::NoWait).unwrap();
    }
    assert!(c.write_queue_size() > 0, "the writes are still queued");
    assert!((&mut fut).now_or_never().is_none());
    reset();
    let e = lp.block_on(fut).unwrap().unwrap_err();
    assert!(is_broken(&e), "{how:?}: {e}");
    assert!(is_broken_io(&e.clone().into()), "{how:?}: {e}");
    run_until(&lp, "both write callbacks", || results.borrow().len() == 2);
    let results = results.take();
    assert_eq!(results[0].0, "first", "{results:?}");
    for (tag, r) in &results {
        let e = r.as_ref().expect_err(tag);
        assert!(is_broken(e), "{how:?} {tag}: {e}");
    }
    assert_eq!(dropped.get(), 3, "the guard, and each callback once");
    assert_eq!(c.write_queue_size(), 0);
    // The connection stays broken, in every style.
    let e = c.try_write(b"more").unwrap_err();
    assert!(is_broken(&e), "{e}");
    let e = lp.block_on(c.write(b"more")).unwrap().unwrap_err();
    assert!(is_broken(&e), "{e}");
    c.close().unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), base);
}

#[test]
fn peer_reset_under_queued_writes_close_reset() {
    reset_under_queued_writes(Reset::CloseReset);
}

#[test]
fn peer_reset_under_queued_writes_linger0() {
    reset_under_queued_writes(Reset::Linger0);
}

/// `AsyncWrite::write_all` of a large buffer while the peer resets: an `io::Error` of kind
/// `ConnectionReset`/`BrokenPipe`, and a second writer sees the same.
#[test]
fn peer_reset_under_async_write_all() {
    for how in [Reset::CloseReset, Reset::Linger0] {
        let lp = Loop::new().unwrap();
        let base = runtime_handles();
        let (c, reset) = client_and_resetter(&lp, how);
        let big = vec![9u8; 3 * BIG];
        let e = lp
            .block_on(async {
                let writer = async { (&c).write_all(&big).await };
                let resetter = async {
                    // Reset once the writer has filled the kernel's buffers and queued more.
                    while c.write_queue_size() == 0 {
                        uvio::time::sleep(Duration::from_millis(1)).await;
                    }
                    reset();
                };
                futures::join!(writer, resetter).0
            })
            .unwrap()
            .unwrap_err();
        assert!(is_broken_io(&e), "{how:?}: {e}");
        let e = lp
            .block_on(write_and_flush(&c, b"more"))
            .unwrap()
            .unwrap_err();
        assert!(is_broken_io(&e), "{how:?}: {e}");
        drop(c);
        lp.run(RunMode::Default).unwrap();
        assert_eq!(lp.handle_count(), base);
    }
}

/// `AsyncWrite`: `write_all` then `flush` (an error may surface at either).
async fn write_and_flush(s: &TcpStream, buf: &[u8]) -> std::io::Result<()> {
    let mut w = s;
    w.write_all(buf).await?;
    w.flush().await
}

// ----- writing to a peer that has gone -----

/// Writes small buffers to `c` (one at a time, each awaited) until one fails.
fn write_until_broken(lp: &Loop, c: &TcpStream) -> Error {
    for _ in 0..10_000 {
        if let Err(e) = lp.block_on(c.write(vec![1u8; 1024])).unwrap() {
            return e;
        }
    }
    panic!("writes to a closed peer kept succeeding");
}

#[test]
fn writes_to_a_closed_peer_fail_in_every_style() {
    // Rust programs (test binaries included) start with SIGPIPE ignored: that, not uvio,
    // is why the process survives (see sigpipe_must_be_ignored_by_a_host).
    // SAFETY: querying the disposition into a zeroed struct.
    let handler = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(
            libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old),
            0
        );
        old.sa_sigaction
    };
    assert_eq!(handler, libc::SIG_IGN);

    let lp = Loop::new().unwrap();
    let base = runtime_handles();
    let (c, s) = common::tcp_pair(&lp);
    // The peer closes (FIN); its socket is gone, so data sent to it draws a reset.
    s.close().unwrap();
    let first = write_until_broken(&lp, &c);
    assert!(is_broken(&first), "{first}");

    let n = common::scale(50);
    let results = Rc::new(RefCell::new(Vec::new()));
    for i in 0..n {
        // try_write (first: with writes queued it would say EAGAIN).
        let e = c.try_write(b"try").unwrap_err();
        assert!(is_broken(&e), "{e}");
        // Callbacks, single and vectored.
        let r2 = results.clone();
        c.write_cb(vec![2u8; 100 + i], move |_, r| r2.borrow_mut().push(r))
            .unwrap();
        let r2 = results.clone();
        c.write_vectored_cb(vec![b"a".to_vec(), vec![3u8; i]], move |_, r| {
            r2.borrow_mut().push(r)
        })
        .unwrap();
        // The write future and AsyncWrite (both wait for the callbacks' writes).
        let e = lp.block_on(c.write(vec![4u8; 10])).unwrap().unwrap_err();
        assert!(is_broken(&e), "{e}");
        let e = lp
            .block_on(write_and_flush(&c, b"async"))
            .unwrap()
            .unwrap_err();
        assert!(is_broken_io(&e), "{e}");
    }
    run_until(&lp, "every write callback", || {
        results.borrow().len() == 2 * n
    });
    for r in results.borrow().iter() {
        let e = r.as_ref().unwrap_err();
        assert!(is_broken(e), "{e}");
    }
    // Reading reports the end (EOF, or the reset the writes drew).
    let end = lp
        .block_on(async { (&c).read(&mut [0u8; 8]).await })
        .unwrap();
    match end {
        Ok(0) => {}
        Ok(k) => panic!("read {k} bytes from a closed peer"),
        Err(e) => assert!(is_broken_io(&e), "{e}"),
    }
    drop(c);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), base);
}

const SIGPIPE_CHILD: &str = "UVIO_SIGPIPE_CHILD";

/// Why the `TcpStream` docs tell C hosts to ignore SIGPIPE: libuv writes with `writev`, so
/// a process that keeps the default disposition is killed by the first write to a reset
/// connection. The child restores the default and does exactly that.
#[test]
fn sigpipe_must_be_ignored_by_a_host() {
    if std::env::var_os(SIGPIPE_CHILD).is_some() {
        // SAFETY: restoring the default disposition of SIGPIPE in this child process.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let lp = Loop::new().unwrap();
        let (c, s) = common::tcp_pair(&lp);
        s.close().unwrap();
        for _ in 0..100 {
            let e = write_until_broken(&lp, &c);
            println!("sigpipe: survived a write failing with {e}");
        }
        println!("sigpipe: never killed");
        return;
    }
    let out = run_child("sigpipe_must_be_ignored_by_a_host", SIGPIPE_CHILD, false);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{}",
        describe(&out)
    );
}

// ----- connects abandoned while the handshake is stuck -----

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to
/// it stays in progress. Returns the listener and the connections filling its queue.
fn full_listener() -> (std::net::TcpListener, Vec<std::net::TcpStream>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen again on a listening socket, only to shrink its backlog.
    assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 0) }, 0);
    let addr = l.local_addr().unwrap();
    let mut fill = Vec::new();
    for _ in 0..64 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => fill.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return (l, fill),
            Err(e) => panic!("filling the accept queue: {e}"),
        }
    }
    panic!("the accept queue never filled");
}

#[test]
fn connect_dropped_while_handshake_is_stuck() {
    let (l, _fill) = full_listener();
    let addr = l.local_addr().unwrap();
    let lp = Loop::new().unwrap();
    let base = runtime_handles();

    // A future polled once, then dropped.
    lp.block_on(async {
        let mut f = TcpStream::connect(addr);
        assert!((&mut f).now_or_never().is_none());
        uvio::time::sleep(Duration::from_millis(5)).await;
        assert!((&mut f).now_or_never().is_none(), "the handshake is stuck");
        drop(f);
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    // From here on the loop also holds its shared sleep timer: the connect left nothing.
    let base = base + 1;
    assert_eq!(lp.handle_count(), base);

    // A callback connect whose stream is dropped: the callback gets ECANCELED, once.
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let s = TcpStream::connect_cb(&lp, addr, move |s, r| {
        assert!(s.is_closing());
        g.borrow_mut().push(r.map_err(|e| e.name()));
    })
    .unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert!(got.borrow().is_empty(), "the handshake is stuck");
    drop(s);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*got.borrow(), [Err("ECANCELED")]);
    assert_eq!(lp.handle_count(), base);

    // The loop dropped with a connect of each style in flight.
    let called = Rc::new(Cell::new(0));
    let k = called.clone();
    let _s = TcpStream::connect_cb(&lp, addr, move |_, r| {
        assert_eq!(r.unwrap_err().name(), "ECANCELED");
        k.set(k.get() + 1);
    })
    .unwrap();
    let mut f = TcpStream::connect_on(&lp, addr);
    lp.block_on(async { assert!((&mut f).now_or_never().is_none()) })
        .unwrap();
    drop(lp);
    assert_eq!(called.get(), 1);
    drop(f);
}
