//! Run: cargo run --example tcp_echo_async [ADDR]
//!
//! A TCP echo server with async/await: one task per connection. With an address
//! (`127.0.0.1:7000`) it serves until killed. Without one it listens on a free loopback
//! port, serves three connections from client tasks in this process, checks the echoes, and
//! exits. A bad ADDR (or one that is taken) prints the error and exits with status 1.

use std::net::SocketAddr;
use std::process::ExitCode;

use futures::stream::FuturesUnordered;
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use uvio::{Loop, TcpListener, TcpStream};

/// Echoes one connection until the peer finishes sending, then shuts down.
async fn echo(s: TcpStream) -> std::io::Result<u64> {
    let (rd, mut wr) = s.split();
    let n = futures::io::copy(rd, &mut wr).await?;
    wr.close().await?;
    Ok(n)
}

/// Accepts connections (at most `limit` if given), one task each.
///
/// The tasks' `JoinHandle`s live in a `FuturesUnordered` polled alongside the listener, so
/// a finished connection leaves the set as soon as it ends: a server that runs for months
/// holds one entry per *open* connection, not one per connection it ever accepted (as a
/// `Vec` of handles would). Dropping a `JoinHandle` instead (`drop(uvio::spawn_local(..))`)
/// detaches the task, which is also fine when nothing needs to wait for it.
async fn serve(listener: TcpListener, limit: Option<usize>) -> uvio::Result<()> {
    let mut incoming = listener.incoming().fuse();
    let mut live = FuturesUnordered::new();
    let mut accepted = 0;
    while Some(accepted) != limit {
        futures::select! {
            conn = incoming.next() => {
                let Some(conn) = conn else { break };
                let conn = conn?;
                accepted += 1;
                live.push(uvio::spawn_local(async move {
                    if let Err(e) = echo(conn).await {
                        eprintln!("connection: {e}");
                    }
                }));
            }
            // A connection task ended: reap it (its result says whether it panicked).
            done = live.select_next_some() => report(done),
        }
    }
    // Past the limit: wait for the connections still open.
    while let Some(done) = live.next().await {
        report(done);
    }
    Ok(())
}

fn report(done: Result<(), uvio::JoinError>) {
    if let Err(e) = done {
        eprintln!("connection task: {e}");
    }
}

async fn client(addr: SocketAddr, i: usize) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    let msg = format!("hello from client {i}");
    s.write_all(msg.as_bytes()).await?;
    AsyncWriteExt::close(&mut s).await?; // shut down the write side: the server sees EOF
    let mut back = String::new();
    s.read_to_string(&mut back).await?;
    assert_eq!(back, msg);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp_echo_async: {e}");
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
        Some(a) => {
            let listener = TcpListener::bind(&lp, a)?;
            println!("echo server on {}", listener.local_addr()?);
            lp.block_on(serve(listener, None))??;
        }
        None => {
            let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse()?)?;
            let addr = listener.local_addr()?;
            let clients = 3;
            println!("echo server on {addr}, self-test with {clients} clients");
            lp.block_on(async move {
                let server = uvio::spawn_local(serve(listener, Some(clients)));
                let tasks: Vec<_> = (0..clients)
                    .map(|i| uvio::spawn_local(client(addr, i)))
                    .collect();
                for t in tasks {
                    t.await
                        .map_err(|e| std::io::Error::other(e.to_string()))??;
                }
                server
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))??;
                Ok::<(), std::io::Error>(())
            })??;
            println!("{clients} of {clients} echoes verified");
        }
    }
    Ok(())
}
