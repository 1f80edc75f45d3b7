//! `http_hello` and `http_1mib`: hyper 1.x (HTTP/1.1) on uvio against hyper on tokio's
//! current-thread runtime, loaded by `wrk` over loopback.
//!
//! The server runs on its own thread of the child process (one loop or runtime, one thread,
//! as a single-threaded server would); the child's main thread runs `wrk -t1 -c16 -d..`
//! and waits for it. A run counts the requests `wrk` completed, over `wrk`'s own duration,
//! and the server thread's CPU time (`pthread_getcpuclockid`) across the `wrk` run: the CPU
//! rows are requests per server CPU second, the load generator's work excluded. The same
//! service answers on both: `GET /` with 13 bytes, `GET /big` with 1 MiB (one `Bytes`
//! shared by all responses, so the body is never built per request). Both servers use
//! their runtime's hyper timer (header read timeouts) and set `TCP_NODELAY`.
//!
//! Variants: `tokio` (hyper-util's `TokioIo` and `TokioTimer`, the reference), `uvio`
//! (`uvio::hyper::HyperIo` and `HyperTimer` as the `hyper` feature gives them: vectored
//! writes, small ones joined), and `uvio_flat` (the same with
//! `HyperIo::set_write_vectored(false)`: hyper copies headers and body into one buffer).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};

use crate::run::run_process;
use crate::{Done, Job, Pin, SKIP, Server, Workload, v};

/// `wrk`'s connections (on one `wrk` thread).
const CONNS: u64 = 16;

/// `GET /` (13 bytes) under `wrk` load.
pub(crate) const HELLO: Workload = Workload {
    name: "http_hello",
    about: "hyper HTTP/1.1 `GET /` (13 bytes) for {n} ms of wrk -t1 -c16 load; CPU is the \
            server thread's",
    unit: "request",
    n: [5_000, 1_000, 0],
    arg: CONNS,
    server: Server::None,
    pin: Pin::Any,
    fixture: false,
    timed: true,
    variants: VARIANTS,
};

/// `GET /big` (1 MiB) under `wrk` load.
pub(crate) const MIB: Workload = Workload {
    name: "http_1mib",
    about: "hyper HTTP/1.1 `GET /big` (1 MiB) for {n} ms of wrk -t1 -c16 load; CPU is the \
            server thread's",
    unit: "request",
    n: [5_000, 1_000, 0],
    arg: CONNS,
    server: Server::None,
    pin: Pin::Any,
    fixture: false,
    timed: true,
    variants: VARIANTS,
};

/// tokio first: it is the baseline of these rows (there is no C variant).
const VARIANTS: &[crate::Variant] = &[
    v("tokio", tokio_run),
    v("uvio", uvio_run),
    v("uvio_flat", uvio_flat_run),
];

fn path(job: &Job) -> &'static str {
    if job.workload == MIB.name {
        "/big"
    } else {
        "/"
    }
}

/// The body of `/big`, made once per server.
fn big() -> Bytes {
    Bytes::from(vec![b'x'; 1 << 20])
}

async fn answer(req: Request<Incoming>, big: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.uri().path() {
        "/big" => big,
        _ => Bytes::from_static(b"hello, world\n"),
    };
    Ok(Response::new(Full::new(body)))
}

/// What the server thread tells the child's main thread once it listens.
struct Up {
    addr: SocketAddr,
    /// The server thread's CPU-time clock.
    clock: libc::clockid_t,
}

/// This thread's CPU-time clock.
fn thread_clock() -> libc::clockid_t {
    let mut clk: libc::clockid_t = 0;
    // SAFETY: `pthread_self()` is this live thread, `clk` a valid out-pointer.
    let r = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clk) };
    assert_eq!(r, 0, "pthread_getcpuclockid");
    clk
}

fn clock_ns(clk: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; `clk` is the clock of a thread that is
    // still running (the server thread runs until the process exits).
    if unsafe { libc::clock_gettime(clk, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Starts `serve` on a thread of its own (it never returns: the child exits under it), then
/// runs `wrk` against it and counts.
fn load(job: &Job, serve: fn(mpsc::Sender<Up>)) -> Result<Done, String> {
    if Command::new("wrk").arg("--version").output().is_err() {
        return Err(format!(
            "{SKIP}no wrk on this machine (apt-get install wrk)"
        ));
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || serve(tx));
    let up = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|e| format!("server did not start: {e}"))?;
    let url = format!("http://{}{}", up.addr, path(job));
    // A short warm-up: connections, allocator, caches.
    run_process(
        Command::new("wrk").args(["-t1", "-c4", "-d1s", &url]),
        "wrk warm-up",
    )?;
    let secs = job.n.div_ceil(1000).max(1);
    let cpu0 = clock_ns(up.clock);
    let out = run_process(
        Command::new("wrk").args([
            "-t1",
            &format!("-c{}", job.arg),
            &format!("-d{secs}s"),
            &url,
        ]),
        "wrk",
    )?
    .stdout;
    let cpu = clock_ns(up.clock) - cpu0;
    let (requests, elapsed_ns) = parse_wrk(&out)?;
    if out.contains("Non-2xx") || out.contains("Socket errors") {
        return Err(format!("wrk saw errors: {out}"));
    }
    Ok(Done {
        ops: requests,
        wall_ns: elapsed_ns,
        cpu_ns: cpu,
        ..Done::default()
    })
}

/// `N requests in 5.00s, ...` from wrk's report.
fn parse_wrk(out: &str) -> Result<(u64, u64), String> {
    let line = out
        .lines()
        .find(|l| l.contains(" requests in "))
        .ok_or_else(|| format!("no request count in wrk's output: {out}"))?;
    let mut words = line.split_whitespace();
    let n: u64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("bad wrk line {line:?}"))?;
    let dur = words
        .nth(2)
        .map(|w| w.trim_end_matches(','))
        .ok_or_else(|| format!("bad wrk line {line:?}"))?;
    let ns = if let Some(ms) = dur.strip_suffix("ms") {
        ms.parse::<f64>().map(|v| v * 1e6)
    } else if let Some(m) = dur.strip_suffix('m') {
        m.parse::<f64>().map(|v| v * 60e9)
    } else {
        dur.trim_end_matches('s').parse::<f64>().map(|v| v * 1e9)
    }
    .map_err(|_| format!("bad wrk duration {dur:?}"))?;
    Ok((n, ns as u64))
}

// ----- uvio -----

fn uvio_run(job: &Job) -> Result<Done, String> {
    load(job, |tx| uvio_serve(tx, true))
}

fn uvio_flat_run(job: &Job) -> Result<Done, String> {
    load(job, |tx| uvio_serve(tx, false))
}

fn uvio_serve(tx: mpsc::Sender<Up>, writev: bool) {
    use uvio::hyper::{HyperIo, HyperTimer};
    let lp = uvio::Loop::new().expect("loop");
    let listener =
        uvio::TcpListener::bind(&lp, SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    tx.send(Up {
        addr,
        clock: thread_clock(),
    })
    .expect("report");
    let big = big();
    let _ = lp.block_on(async move {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(HyperTimer::new());
        loop {
            let Ok(s) = listener.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            let mut io = HyperIo::new(s);
            io.set_write_vectored(writev);
            let big = big.clone();
            let conn = http.serve_connection(io, service_fn(move |r| answer(r, big.clone())));
            uvio::spawn_local(async move {
                let _ = conn.await;
            });
        }
    });
}

// ----- tokio -----

fn tokio_run(job: &Job) -> Result<Done, String> {
    load(job, tokio_serve)
}

fn tokio_serve(tx: mpsc::Sender<Up>) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        tx.send(Up {
            addr: listener.local_addr().expect("local_addr"),
            clock: thread_clock(),
        })
        .expect("report");
        let big = big();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new());
        loop {
            let Ok((s, _)) = listener.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            let big = big.clone();
            let conn =
                http.serve_connection(TokioIo::new(s), service_fn(move |r| answer(r, big.clone())));
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::parse_wrk;

    #[test]
    fn wrk_report_is_parsed() {
        let out = "Running 1s test @ http://127.0.0.1:4000/\n  1 threads and 16 connections\n  \
                   62170 requests in 1.00s, 5.34MB read\nRequests/sec:  62170.00\n";
        assert_eq!(parse_wrk(out), Ok((62_170, 1_000_000_000)));
        let ms = "  812 requests in 999.50ms, 812.00MB read\n";
        assert_eq!(parse_wrk(ms), Ok((812, 999_500_000)));
        assert!(parse_wrk("no report").is_err());
    }
}
