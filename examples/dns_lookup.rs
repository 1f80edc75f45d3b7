//! Run: cargo run --example dns_lookup [HOST]
//!
//! Resolves HOST (default `localhost`) with `getaddrinfo` on libuv's threadpool, prints the
//! addresses, and looks each one's name up again with `getnameinfo`. A HOST that is not
//! UTF-8 or does not resolve prints the error (`EAI_NONAME: ...`) and exits with status 1.

use std::process::ExitCode;

use uvio::Loop;
use uvio::dns::{self, Hints, NiFlags, SockType};

fn main() -> ExitCode {
    // `args_os`, so that an argument that is not UTF-8 is an error message, not a panic.
    let host = match std::env::args_os().nth(1).map(|a| a.into_string()) {
        None => Ok("localhost".to_string()),
        Some(Ok(h)) => Ok(h),
        Some(Err(raw)) => Err(format!("HOST is not UTF-8: {raw:?}").into()),
    };
    match host.and_then(|h| lookup(&h)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dns_lookup: {e}");
            ExitCode::FAILURE
        }
    }
}

fn lookup(host: &str) -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;
    lp.block_on(async {
        let hints = Hints::new().socktype(SockType::Stream);
        let found = dns::getaddrinfo(Some(host), None, hints).await?;
        println!("{host}: {} address(es)", found.len());
        for a in &found {
            let name = dns::getnameinfo(a.addr, NiFlags::empty()).await?;
            println!("  {:<40} -> {}", a.addr.ip(), name.host);
        }
        Ok::<(), uvio::Error>(())
    })??;
    Ok(())
}
