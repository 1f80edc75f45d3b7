//! `tcp_pingpong` and `tcp_pump` with uvio: loopback connections, server and clients on one
//! loop, counted for `job.param` ms once all `job.arg` connections are up.
//!
//! * ping-pong: each client sends 64 bytes, the server echoes what it reads, the client
//!   counts a round trip once 64 bytes are back and sends again.
//! * pump: each client writes 64 KiB chunks from one static buffer, one write in flight;
//!   the servers count the bytes they read.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use uvio::{Loop, LoopHandle, RunMode, TcpListener, TcpStream, Timer};

use crate::c::Ticks;
use crate::clock::Mark;
use crate::{Job, err};

const PING_BYTES: usize = 64;
static PING: [u8; PING_BYTES] = [b'p'; PING_BYTES];
static CHUNK: [u8; 65536] = [b'x'; 65536];

/// Round trips or bytes; statics like the C variant's, so callbacks capture nothing.
static COUNT: AtomicU64 = AtomicU64::new(0);
static STOPPED: AtomicBool = AtomicBool::new(false);
/// Ping bytes back at the (one) ping-pong client.
static PING_GOT: AtomicU64 = AtomicU64::new(0);

fn add(n: u64) {
    COUNT.store(COUNT.load(Relaxed) + n, Relaxed);
}

fn reset() {
    COUNT.store(0, Relaxed);
    STOPPED.store(false, Relaxed);
    PING_GOT.store(0, Relaxed);
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

// ----- callbacks -----

fn on_pumped(s: &TcpStream, r: uvio::Result<()>) {
    if r.is_ok() && !STOPPED.load(Relaxed) {
        s.write_cb(&CHUNK[..], on_pumped)
            .expect("write to an open stream");
    }
}

fn on_pong(s: &TcpStream, r: uvio::Result<&[u8]>) {
    let Ok(bytes) = r else { return };
    let got = PING_GOT.load(Relaxed) + bytes.len() as u64;
    if got < PING_BYTES as u64 {
        PING_GOT.store(got, Relaxed);
        return;
    }
    PING_GOT.store(got - PING_BYTES as u64, Relaxed);
    add(1);
    if !STOPPED.load(Relaxed) {
        s.write_cb(&PING[..], |_, _| {})
            .expect("write to an open stream");
    }
}

fn on_pump_read(_s: &TcpStream, r: uvio::Result<&[u8]>) {
    if let Ok(bytes) = r {
        add(bytes.len() as u64);
    }
}

fn on_echo_read(s: &TcpStream, r: uvio::Result<&[u8]>) {
    if let Ok(bytes) = r {
        s.write_cb(bytes.to_vec(), |_, _| {})
            .expect("write to an open stream");
    }
}

/// What the callbacks of one run share.
struct Net {
    lp: LoopHandle,
    n: u64,
    ms: u64,
    pump: bool,
    listener: RefCell<Option<TcpListener>>,
    streams: RefCell<Vec<TcpStream>>,
    clients: RefCell<Vec<TcpStream>>,
    stop: RefCell<Option<Timer>>,
    ready: Cell<u64>,
    start: Cell<Option<Mark>>,
    result: Cell<Option<Ticks>>,
    failed: Cell<Option<uvio::Error>>,
}

impl Net {
    fn fail(&self, e: uvio::Error) {
        self.failed.set(Some(e));
        self.close_all();
    }

    fn close_all(&self) {
        STOPPED.store(true, Relaxed);
        self.listener.take();
        self.streams.take();
        self.clients.take();
    }

    /// One more end is up; once all are, start the clock, the stop timer and the clients.
    fn connected(self: &Rc<Net>) -> uvio::Result<()> {
        self.ready.set(self.ready.get() + 1);
        if self.ready.get() < 2 * self.n {
            return Ok(());
        }
        COUNT.store(0, Relaxed);
        self.start.set(Some(Mark::now()));
        let stop = Timer::new(&self.lp)?;
        let net = Rc::downgrade(self);
        stop.start(Duration::from_millis(self.ms), Duration::ZERO, move |_t| {
            if let Some(net) = net.upgrade() {
                if let Some(m0) = net.start.get() {
                    net.result
                        .set(Some(Mark::now().ticks_since(m0, COUNT.load(Relaxed), 0)));
                }
                net.close_all();
            }
        })?;
        *self.stop.borrow_mut() = Some(stop);
        for c in self.clients.borrow().iter() {
            if self.pump {
                c.write_cb(&CHUNK[..], on_pumped)?;
            } else {
                c.write_cb(&PING[..], |_, _| {})?;
            }
        }
        Ok(())
    }
}

fn net_callbacks(job: &Job, pump: bool) -> Result<Ticks, String> {
    reset();
    let lp = Loop::new().map_err(err)?;
    let net = Rc::new(Net {
        lp: lp.handle(),
        n: job.arg,
        ms: job.param,
        pump,
        listener: RefCell::new(None),
        streams: RefCell::new(Vec::new()),
        clients: RefCell::new(Vec::new()),
        stop: RefCell::new(None),
        ready: Cell::new(0),
        start: Cell::new(None),
        result: Cell::new(None),
        failed: Cell::new(None),
    });
    let listener = TcpListener::bind(&lp, loopback()).map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let weak: Weak<Net> = Rc::downgrade(&net);
    listener
        .on_connection(move |_l, conn| {
            let Some(net) = weak.upgrade() else { return };
            let on_read = if net.pump { on_pump_read } else { on_echo_read };
            let r = conn.and_then(|s| {
                s.read_start(on_read)?;
                net.streams.borrow_mut().push(s);
                net.connected()
            });
            if let Err(e) = r {
                net.fail(e);
            }
        })
        .map_err(err)?;
    *net.listener.borrow_mut() = Some(listener);
    for _ in 0..job.arg {
        let weak = Rc::downgrade(&net);
        let c = TcpStream::connect_cb(&lp, addr, move |s, r| {
            let Some(net) = weak.upgrade() else { return };
            let r = r.and_then(|()| {
                if !net.pump {
                    s.read_start(on_pong)?;
                }
                net.connected()
            });
            if let Err(e) = r {
                net.fail(e);
            }
        })
        .map_err(err)?;
        net.clients.borrow_mut().push(c);
    }
    lp.run(RunMode::Default).map_err(err)?;
    net.stop.take();
    if let Some(e) = net.failed.take() {
        return Err(err(e));
    }
    net.result
        .take()
        .ok_or_else(|| "the run never started".into())
}

/// uvio callbacks: ping-pong round trips.
pub fn pingpong_callbacks(job: &Job) -> Result<Ticks, String> {
    net_callbacks(job, false)
}

/// uvio callbacks: bytes pumped.
pub fn pump_callbacks(job: &Job) -> Result<Ticks, String> {
    net_callbacks(job, true)
}

// ----- futures -----

/// The server end of a connection: count what it reads, or echo it.
async fn serve(s: TcpStream, pump: bool) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK.len()];
    loop {
        let n = (&s).read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if pump {
            add(n as u64);
        } else {
            (&s).write_all(&buf[..n]).await?;
        }
    }
}

/// The client end: pump chunks, or ping and wait for the echo.
async fn drive(c: TcpStream, pump: bool) -> std::io::Result<()> {
    let mut pong = [0u8; PING_BYTES];
    while !STOPPED.load(Relaxed) {
        if pump {
            c.write(&CHUNK[..]).await?;
        } else {
            c.write(&PING[..]).await?;
            (&c).read_exact(&mut pong).await?;
            add(1);
        }
    }
    Ok(())
}

fn net_async(job: &Job, pump: bool) -> Result<Ticks, String> {
    reset();
    let lp = Loop::new().map_err(err)?;
    let t = lp
        .block_on(async {
            let listener = TcpListener::bind(&lp, loopback())?;
            let addr = listener.local_addr()?;
            let mut pairs = Vec::new();
            for _ in 0..job.arg {
                let c = TcpStream::connect(addr).await?;
                pairs.push((c, listener.accept().await?));
            }
            COUNT.store(0, Relaxed);
            let m0 = Mark::now();
            for (c, s) in pairs {
                // Detached: the tasks left when `block_on` returns go with the loop.
                drop(uvio::spawn_local(serve(s, pump)));
                drop(uvio::spawn_local(drive(c, pump)));
            }
            uvio::time::sleep(Duration::from_millis(job.param)).await;
            STOPPED.store(true, Relaxed);
            Ok::<Ticks, uvio::Error>(Mark::now().ticks_since(m0, COUNT.load(Relaxed), 0))
        })
        .map_err(err)?
        .map_err(err)?;
    drop(lp);
    Ok(t)
}

/// uvio futures: ping-pong round trips.
pub fn pingpong_async(job: &Job) -> Result<Ticks, String> {
    net_async(job, false)
}

/// uvio futures: bytes pumped.
pub fn pump_async(job: &Job) -> Result<Ticks, String> {
    net_async(job, true)
}
