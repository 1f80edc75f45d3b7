//! Run: cargo run --example echo_server [ADDR]
//!
//! A TCP echo server with callbacks. With an address (`127.0.0.1:7000`) it serves until
//! killed. Without one it listens on a free loopback port, serves three connections from
//! clients in this same process (also callback-driven), checks the echoes, and exits.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;

use uvio::{Loop, RunMode, TcpListener, TcpStream};

/// The connections being served (owned here, not by the listener's callback, so that
/// closing the listener does not drop them).
type Conns = Rc<RefCell<Vec<TcpStream>>>;

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
        conn.read_start(|s, r| match r {
            Ok(bytes) => {
                if let Err(e) = s.write_cb(bytes.to_vec(), |_, _| ()) {
                    eprintln!("write: {e}");
                }
            }
            // End of stream (EOF) or an error: done with this connection.
            Err(_) => {
                let _ = s.close();
            }
        })
        .unwrap_or_else(|e| eprintln!("read_start: {e}"));
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;
    match std::env::args().nth(1) {
        Some(a) => {
            let addr: SocketAddr = a.parse()?;
            let (listener, _conns) = serve(&lp, addr, None)?;
            println!("echo server on {}", listener.local_addr()?);
            lp.run(RunMode::Default)?;
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
