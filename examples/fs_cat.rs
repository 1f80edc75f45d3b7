//! Run: cargo run --example fs_cat [PATH]
//!
//! Streams a file to stdout in 64 KiB positioned reads (default: Cargo.toml). PATH may be
//! any bytes (`args_os`: a name that is not UTF-8 is still a name). A file that cannot be
//! read prints the error (`ENOENT: no such file or directory, open 'x'`) and exits with
//! status 1.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .unwrap_or_else(|| "Cargo.toml".into());
    match cat(path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fs_cat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cat(path: OsString) -> Result<(), Box<dyn std::error::Error>> {
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
