//! Run: cargo run --example udp_echo
//!
//! A UDP echo server and a client on 127.0.0.1, in one process: the server echoes with
//! callbacks, the client sends and awaits each echo with futures. Exits when done.

use std::net::SocketAddr;

use uvio::{Loop, UdpSocket};

fn main() -> Result<(), uvio::Error> {
    let lp = Loop::new()?;
    let any: SocketAddr = "127.0.0.1:0".parse().expect("a valid address");

    // Server: callbacks. Every datagram goes straight back to its sender.
    let server = UdpSocket::bind(&lp, any)?;
    let server_addr = server.local_addr()?;
    server.recv_start(|s, res| match res {
        Ok((data, from, _flags)) => {
            if let Err(e) = s.try_send_to(data, from) {
                eprintln!("echo to {from} failed: {e}");
            }
        }
        Err(e) => eprintln!("server receive error: {e}"),
    })?;
    println!("echo server on {server_addr}");

    // Client: futures.
    let client = UdpSocket::bind(&lp, any)?;
    lp.block_on(async {
        let mut buf = [0u8; 1024];
        for msg in ["hello", "from", "uvio"] {
            client.send_to(msg.as_bytes(), server_addr).await?;
            let (n, from) = client.recv_from(&mut buf).await?;
            let echo = String::from_utf8_lossy(&buf[..n]);
            println!("{from} echoed {echo:?}");
            assert_eq!(echo, msg);
        }
        Ok::<(), uvio::Error>(())
    })??;

    server.close()?;
    Ok(())
}
