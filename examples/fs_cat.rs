//! Run: cargo run --example fs_cat [PATH]
//!
//! Streams a file to stdout in 64 KiB positioned reads (default: Cargo.toml).

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Cargo.toml".into());
    let lp = uvio::Loop::new()?;
    lp.block_on(async move {
        let file = uvio::fs::File::open(&path).await?;
        let mut out = std::io::stdout().lock();
        let mut offset = 0u64;
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            buf.clear();
            let (n, b) = file.read_at(buf, offset).await;
            buf = b;
            let n = n?;
            if n == 0 {
                break;
            }
            out.write_all(&buf)?;
            offset += n as u64;
        }
        file.close().await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })??;
    Ok(())
}
