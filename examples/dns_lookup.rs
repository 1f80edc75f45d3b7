//! Run: cargo run --example dns_lookup [HOST]
//!
//! Resolves HOST (default `localhost`) with `getaddrinfo` on libuv's threadpool, prints the
//! addresses, and looks each one's name up again with `getnameinfo`.

use uvio::Loop;
use uvio::dns::{self, Hints, NiFlags, SockType};

fn main() -> Result<(), uvio::Error> {
    let host = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost".to_string());
    let lp = Loop::new()?;
    lp.block_on(async {
        let hints = Hints::new().socktype(SockType::Stream);
        let found = dns::getaddrinfo(Some(&host), None, hints).await?;
        println!("{host}: {} address(es)", found.len());
        for a in &found {
            let name = dns::getnameinfo(a.addr, NiFlags::empty()).await?;
            println!("  {:<40} -> {}", a.addr.ip(), name.host);
        }
        Ok::<(), uvio::Error>(())
    })?
}
