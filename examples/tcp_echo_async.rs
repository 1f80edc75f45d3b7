//! Run: cargo run --example tcp_echo_async [ADDR]
//!
//! A TCP echo server with async/await: one task per connection. With an address
//! (`127.0.0.1:7000`) it serves until killed. Without one it listens on a free loopback
//! port, serves three connections from client tasks in this process, checks the echoes, and
//! exits.

use std::net::SocketAddr;

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
async fn serve(listener: TcpListener, limit: Option<usize>) -> uvio::Result<()> {
    let mut tasks = Vec::new();
    let mut incoming = listener.incoming();
    while let Some(conn) = incoming.next().await {
        let conn = conn?;
        tasks.push(uvio::spawn_local(async move {
            if let Err(e) = echo(conn).await {
                eprintln!("connection: {e}");
            }
        }));
        if Some(tasks.len()) == limit {
            break;
        }
    }
    for t in tasks {
        t.await.ok();
    }
    Ok(())
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;
    match std::env::args().nth(1) {
        Some(a) => {
            let listener = TcpListener::bind(&lp, a.parse()?)?;
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
