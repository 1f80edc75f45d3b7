//! Run: cargo run --example tcp_throughput
//!
//! Pumps bytes over loopback TCP on one loop and prints MB/s, with 1 and with 100
//! connections: the writers use `write` with a static buffer, the readers `AsyncRead`. Ends by
//! itself. A rough figure, not a benchmark: add `--release` for meaningful numbers (a debug
//! build moves 64 MiB per run instead of 1 GiB).

use std::time::Instant;

use futures::AsyncReadExt;
use uvio::{Loop, TcpListener, TcpStream};

const CHUNK: usize = 64 * 1024;
/// Written again and again without copying (`&'static [u8]` is an owned-enough buffer).
static DATA: [u8; CHUNK] = [0x5a; CHUNK];

async fn pump(conns: usize, total: usize) -> uvio::Result<f64> {
    let listener = TcpListener::bind(
        &uvio::LoopHandle::current().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )?;
    let addr = listener.local_addr()?;
    let per_conn = total / conns;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(uvio::spawn_local(async move {
            let s = TcpStream::connect(addr).await?;
            let mut sent = 0;
            while sent < per_conn {
                s.write(&DATA).await?;
                sent += CHUNK;
            }
            s.shutdown().await?;
            Ok::<usize, uvio::Error>(sent)
        }));
        let s = listener.accept().await?;
        tasks.push(uvio::spawn_local(async move {
            let mut buf = vec![0u8; CHUNK];
            let mut got = 0;
            loop {
                let n = (&s).read(&mut buf).await.map_err(uvio::Error::from)?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            Ok::<usize, uvio::Error>(got)
        }));
    }
    let mut bytes = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let n = t.await.expect("task")?;
        if i % 2 == 1 {
            bytes += n;
        }
    }
    Ok(bytes as f64 / 1e6 / start.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;
    let total = if cfg!(debug_assertions) {
        64 << 20
    } else {
        1 << 30
    };
    for conns in [1, 100] {
        let mbps = lp.block_on(pump(conns, total))??;
        println!(
            "{conns:>3} connection(s): {mbps:8.0} MB/s ({} MiB)",
            total >> 20
        );
    }
    Ok(())
}
