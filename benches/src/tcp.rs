//! `ping_pong` and `pump` (libuv's `benchmark-ping-pongs.c` and `benchmark-pump.c`): a client
//! against a separate server process (the C echo or sink server of `c/bench.c`, the same for
//! every variant).
//!
//! * ping-pong: the client writes `PING\n` (5 bytes), counts the echoed bytes one by one,
//!   and writes the next ping when a whole one is back. The clock starts when the
//!   connection is up. Latency-bound, so pinned: client and server on CPU 0, or the client
//!   on CPU 0 and the server on CPU 1.
//! * pump: the client writes 8 KiB from one static buffer, one write in flight, the next
//!   started when the previous one completed; the server reads and discards.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use futures_util::io::AsyncReadExt;
use uvio::{Loop, RunMode, TcpStream};

use crate::clock::{Mark, loop_iterations};
use crate::{Done, Job, Pin, Server, Variant, Workload, c, err, node, v};

const PING: &[u8; 5] = b"PING\n";
static CHUNK: [u8; 8192] = [b'x'; 8192];

pub(crate) const PING_PONG_1CPU: Workload = Workload {
    name: "ping_pong_1cpu",
    about: "{n} round trips of a 5-byte PING with an echo server process, both on one CPU",
    unit: "round trip",
    n: [50_000, 10_000, 20_000],
    arg: 0,
    server: Server::Echo,
    pin: Pin::OneCpu,
    fixture: false,
    timed: false,
    variants: PING_PONG,
};

pub(crate) const PING_PONG_2CPU: Workload = Workload {
    name: "ping_pong_2cpu",
    about: "{n} round trips of a 5-byte PING with an echo server process on the other CPU",
    pin: Pin::TwoCpus,
    ..PING_PONG_1CPU
};

const PING_PONG: &[Variant] = &[
    v("c", c::ping_pong),
    v("callbacks", ping_pong_callbacks),
    v("futures", ping_pong_futures),
    v("tokio", ping_pong_tokio),
    v("node", node::run),
];

pub(crate) const PUMP: Workload = Workload {
    name: "pump",
    about: "{n} writes of 8 KiB, one in flight, to a sink server process",
    unit: "8 KiB write",
    n: [200_000, 20_000, 20_000],
    arg: 0,
    server: Server::Sink,
    pin: Pin::Any,
    fixture: false,
    timed: false,
    variants: &[
        v("c", c::pump),
        v("callbacks", pump_callbacks),
        v("futures", pump_futures),
        v("tokio", pump_tokio),
        v("node", node::run),
    ],
};

/// Counts the pongs in `bytes`, byte by byte as libuv's client; `state` is the position in
/// `PING` of the next byte expected. Returns the pongs completed, or `EPROTO`.
fn count_pongs(state: &mut usize, bytes: &[u8]) -> Result<u64, String> {
    let mut pongs = 0;
    for &b in bytes {
        if b != PING[*state] {
            return Err("the echo is not what was sent".into());
        }
        *state = (*state + 1) % PING.len();
        pongs += u64::from(*state == 0);
    }
    Ok(pongs)
}

// ----- callbacks -----

/// The callback client's state: statics, so the callbacks capture nothing.
static PONGS: AtomicU64 = AtomicU64::new(0);
static TARGET: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static STATE: Cell<usize> = const { Cell::new(0) };
    static START: Cell<Option<Mark>> = const { Cell::new(None) };
    static END: Cell<Option<Mark>> = const { Cell::new(None) };
    static FAILED: Cell<bool> = const { Cell::new(false) };
}

fn fail(s: &TcpStream) {
    FAILED.set(true);
    let _ = s.close();
}

fn ping(s: &TcpStream) {
    if s.write_cb(&PING[..], |_, _| {}).is_err() {
        fail(s);
    }
}

fn on_pong(s: &TcpStream, r: uvio::Result<&[u8]>) {
    let Ok(bytes) = r else { return fail(s) };
    let mut state = STATE.get();
    let Ok(pongs) = count_pongs(&mut state, bytes) else {
        return fail(s);
    };
    STATE.set(state);
    if pongs == 0 {
        return;
    }
    let total = PONGS.load(Relaxed) + pongs;
    PONGS.store(total, Relaxed);
    if total >= TARGET.load(Relaxed) {
        END.set(Some(Mark::now()));
        let _ = s.close();
    } else {
        ping(s);
    }
}

/// Runs a callback client: `start` is called once connected.
fn callback_client(job: &Job, start: fn(&TcpStream)) -> Result<Done, String> {
    PONGS.store(0, Relaxed);
    TARGET.store(job.n, Relaxed);
    STATE.set(0);
    FAILED.set(false);
    let lp = Loop::new().map_err(err)?;
    let i0 = loop_iterations(&lp);
    let s = TcpStream::connect_cb(&lp, job.server()?, move |s, r| {
        if r.is_err() {
            return fail(s);
        }
        START.set(Some(Mark::now()));
        start(s);
    })
    .map_err(err)?;
    lp.run(RunMode::Default).map_err(err)?;
    drop(s);
    if FAILED.get() {
        return Err("the client failed".into());
    }
    let (Some(m0), Some(m1)) = (START.get(), END.get()) else {
        return Err("the client never finished".into());
    };
    Ok(m1.done_since(m0, PONGS.load(Relaxed), loop_iterations(&lp) - i0))
}

/// uvio callbacks: `connect_cb`, `read_start` with a fn item, `write_cb` of a static ping.
fn ping_pong_callbacks(job: &Job) -> Result<Done, String> {
    callback_client(job, |s| {
        if s.read_start(on_pong).is_err() {
            return fail(s);
        }
        ping(s);
    })
}

fn on_pumped(s: &TcpStream, r: uvio::Result<()>) {
    if r.is_err() {
        return fail(s);
    }
    let done = PONGS.load(Relaxed) + 1;
    PONGS.store(done, Relaxed);
    if done >= TARGET.load(Relaxed) {
        END.set(Some(Mark::now()));
        let _ = s.close();
    } else if s.write_cb(&CHUNK[..], on_pumped).is_err() {
        fail(s);
    }
}

/// uvio callbacks: `write_cb` of the static chunk, the next one from its callback.
fn pump_callbacks(job: &Job) -> Result<Done, String> {
    callback_client(job, |s| {
        if s.write_cb(&CHUNK[..], on_pumped).is_err() {
            fail(s);
        }
    })
}

// ----- futures -----

/// Runs a future client on a uvio loop: connects, then `work` (which returns its count).
fn future_client<F>(job: &Job, work: impl FnOnce(TcpStream) -> F) -> Result<Done, String>
where
    F: Future<Output = Result<u64, String>>,
{
    let lp = Loop::new().map_err(err)?;
    let addr = job.server()?;
    let i0 = loop_iterations(&lp);
    let mut d = lp
        .block_on(async move {
            let s = TcpStream::connect(addr).await.map_err(err)?;
            let m0 = Mark::now();
            let ops = work(s).await?;
            Ok::<Done, String>(Mark::now().done_since(m0, ops, 0))
        })
        .map_err(err)??;
    d.iterations = loop_iterations(&lp) - i0;
    Ok(d)
}

/// uvio futures: `write(&'static [u8]).await`, then `AsyncRead::read` until the pong is
/// back.
fn ping_pong_futures(job: &Job) -> Result<Done, String> {
    let n = job.n;
    future_client(job, move |s| async move {
        let (mut buf, mut state, mut pongs) = ([0u8; 64], 0, 0);
        while pongs < n {
            s.write(&PING[..]).await.map_err(err)?;
            loop {
                let got = (&s).read(&mut buf).await.map_err(err)?;
                if got == 0 {
                    return Err("the server closed".into());
                }
                if count_pongs(&mut state, &buf[..got])? > 0 {
                    break;
                }
            }
            pongs += 1;
        }
        Ok(pongs)
    })
}

/// uvio futures: `write(&'static [u8]).await` in a loop.
fn pump_futures(job: &Job) -> Result<Done, String> {
    let n = job.n;
    future_client(job, move |s| async move {
        for _ in 0..n {
            s.write(&CHUNK[..]).await.map_err(err)?;
        }
        Ok(n)
    })
}

// ----- tokio -----

/// Runs a tokio client on a current-thread runtime.
fn tokio_client<F>(job: &Job, work: impl FnOnce(tokio::net::TcpStream) -> F) -> Result<Done, String>
where
    F: Future<Output = std::io::Result<u64>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(err)?;
    let addr = job.server()?;
    rt.block_on(async move {
        let s = tokio::net::TcpStream::connect(addr).await?;
        let m0 = Mark::now();
        let ops = work(s).await?;
        Ok::<Done, std::io::Error>(Mark::now().done_since(m0, ops, 0))
    })
    .map_err(err)
}

/// tokio: `write_all` of the ping, then `read` until the pong is back.
fn ping_pong_tokio(job: &Job) -> Result<Done, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let n = job.n;
    tokio_client(job, move |mut s| async move {
        let (mut buf, mut state, mut pongs) = ([0u8; 64], 0, 0);
        let bad = |e: String| std::io::Error::other(e);
        while pongs < n {
            s.write_all(PING).await?;
            loop {
                let got = s.read(&mut buf).await?;
                if got == 0 {
                    return Err(bad("the server closed".into()));
                }
                if count_pongs(&mut state, &buf[..got]).map_err(bad)? > 0 {
                    break;
                }
            }
            pongs += 1;
        }
        Ok(pongs)
    })
}

/// tokio: `write_all` of the chunk in a loop.
fn pump_tokio(job: &Job) -> Result<Done, String> {
    use tokio::io::AsyncWriteExt;
    let n = job.n;
    tokio_client(job, move |mut s| async move {
        for _ in 0..n {
            s.write_all(&CHUNK).await?;
        }
        Ok(n)
    })
}
