//! Run: cargo run --example echo_server [ADDR]
//!
//! A TCP echo server with callbacks. With an address (`127.0.0.1:7000`) it serves until
//! interrupted: on Ctrl-C (`SIGINT`) or `SIGTERM` it closes the listener and every
//! connection and exits with status 0. Without one it listens on a free loopback port,
//! serves three connections from clients in this same process (also callback-driven),
//! checks the echoes, and exits.
//!
//! A connection whose peer does not read its echoes stops being read (`read_stop`) once
//! [`HIGH_WATER`] bytes wait to be written, and is read again when they are: memory stays
//! bounded however fast a client sends. A write that fails (the peer reset the connection,
//! or left without reading) closes the connection at once: while reads are paused, the read
//! side would never notice.
//!
//! A bad ADDR (or one that is taken) prints the error and exits with status 1.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;

use uvio::{Loop, RunMode, Signal, TcpListener, TcpStream};

/// The connections being served (owned here, not by the listener's callback, so that
/// closing the listener does not drop them).
type Conns = Rc<RefCell<Vec<TcpStream>>>;

/// Stop reading a connection while more than this many bytes wait to be written to it.
const HIGH_WATER: usize = 1 << 20;

/// Reads `s` and writes back what arrives, pausing reads while the peer is slow to take
/// the echoes (`paused` records that, so the write callback knows to resume).
fn echo(s: &TcpStream, paused: Rc<Cell<bool>>) {
    let r = s.read_start(move |s, r| match r {
        Ok(bytes) => {
            let resume = paused.clone();
            let written = s.write_cb(bytes.to_vec(), move |s, r| match r {
                Ok(()) if resume.get() && s.write_queue_size() == 0 => {
                    resume.set(false);
                    echo(s, resume);
                }
                Ok(()) => {}
                // The peer went away (EPIPE, ECONNRESET) or the stream is closing
                // (ECANCELED). Close here: while reads are paused nothing else would
                // notice, and the connection would stay open until shutdown.
                Err(_) => {
                    let _ = s.close();
                }
            });
            if let Err(e) = written {
                eprintln!("write: {e}");
                let _ = s.close();
            } else if s.write_queue_size() > HIGH_WATER {
                paused.set(true);
                let _ = s.read_stop();
            }
        }
        // End of stream (EOF) or an error: done with this connection.
        Err(_) => {
            let _ = s.close();
        }
    });
    if let Err(e) = r {
        eprintln!("read_start: {e}");
        let _ = s.close();
    }
}

/// Echoes every connection; closes the listener after `limit` connections if given.
fn serve(lp: &Loop, addr: SocketAddr, limit: Option<usize>) -> uvio::Result<(TcpListener, Conns)> {
    let listener = TcpListener::bind(lp, addr)?;
    let conns: Conns = Rc::default();
    let keep = conns.clone();
    let accepted = Cell::new(0);
    listener.on_connection(move |l, conn| {
        let conn = match conn {
            Ok(c) => c,
            Err(e) => return eprintln!("accept: {e}"),
        };
        echo(&conn, Rc::default());
        let mut list = keep.borrow_mut();
        list.retain(|c| !c.is_closing());
        list.push(conn);
        accepted.set(accepted.get() + 1);
        if Some(accepted.get()) == limit {
            let _ = l.close();
        }
    })?;
    Ok((listener, conns))
}

/// Starts `clients` clients that each send a line and check its echo.
fn self_test(
    lp: &Loop,
    addr: SocketAddr,
    clients: usize,
) -> uvio::Result<(Vec<TcpStream>, Rc<Cell<usize>>)> {
    let ok = Rc::new(Cell::new(0));
    let mut streams = Vec::new();
    for i in 0..clients {
        let msg = format!("hello from client {i}").into_bytes();
        let ok = ok.clone();
        let s = TcpStream::connect_cb(lp, addr, move |s, r| {
            if let Err(e) = r {
                return eprintln!("connect: {e}");
            }
            let mut got = Vec::new();
            s.write_cb(msg.clone(), |_, r| r.unwrap()).unwrap();
            s.read_start(move |s, r| match r {
                Ok(bytes) => {
                    got.extend_from_slice(bytes);
                    if got.len() == msg.len() {
                        assert_eq!(got, msg);
                        ok.set(ok.get() + 1);
                        let _ = s.close();
                    }
                }
                Err(e) => {
                    eprintln!("client read: {e}");
                    let _ = s.close();
                }
            })
            .unwrap();
        })?;
        streams.push(s);
    }
    Ok((streams, ok))
}

/// Serves at `addr` until `SIGINT` or `SIGTERM`, then closes everything and returns.
fn serve_until_interrupted(lp: &Loop, addr: SocketAddr) -> uvio::Result<()> {
    let (listener, conns) = serve(lp, addr, None)?;
    println!("echo server on {}", listener.local_addr()?);
    let listener = Rc::new(listener);
    let watchers: Rc<RefCell<Vec<Signal>>> = Rc::default();
    for (signum, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let sig = Signal::new(lp)?;
        let (l, conns, all) = (listener.clone(), conns.clone(), watchers.clone());
        sig.start(signum, move |_, _| {
            let mut list = conns.borrow_mut();
            list.retain(|c| !c.is_closing());
            println!(
                "{name}: closing the listener and {} connections",
                list.len()
            );
            let _ = l.close();
            // Dropping a connection closes it (queued writes complete with ECANCELED).
            list.clear();
            // Stop watching signals too: with nothing left open, `run` returns.
            for s in all.borrow().iter() {
                let _ = s.close();
            }
        })?;
        watchers.borrow_mut().push(sig);
    }
    lp.run(RunMode::Default)?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The address argument, if any (`args_os`: an argument that is not UTF-8 is an error
/// message, not a panic).
fn addr_arg() -> Result<Option<SocketAddr>, Box<dyn std::error::Error>> {
    match std::env::args_os().nth(1) {
        None => Ok(None),
        Some(a) => {
            let s = a
                .to_str()
                .ok_or_else(|| format!("ADDR is not UTF-8: {a:?}"))?;
            Ok(Some(s.parse().map_err(|e| format!("ADDR {s:?}: {e}"))?))
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = addr_arg()?;
    let lp = Loop::new()?;
    match addr {
        Some(addr) => {
            serve_until_interrupted(&lp, addr)?;
            println!("stopped");
        }
        None => {
            let clients = 3;
            let (listener, _conns) = serve(&lp, "127.0.0.1:0".parse()?, Some(clients))?;
            let local = listener.local_addr()?;
            println!("echo server on {local}, self-test with {clients} clients");
            let (_clients, ok) = self_test(&lp, local, clients)?;
            lp.run(RunMode::Default)?;
            println!("{} of {clients} echoes verified", ok.get());
            if ok.get() != clients {
                return Err("self-test failed".into());
            }
        }
    }
    Ok(())
}
