//! Run: cargo run --example fs_watch [PATH]
//!
//! Prints file system events (FsEvent) and stat changes (FsPoll) for about two seconds
//! while it modifies a temporary file itself, then exits. With PATH (any bytes: read with
//! `args_os`), watches that too; a PATH that cannot be watched prints the error
//! (`ENOENT: ...`) and exits with status 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use uvio::{FsEvent, FsPoll, Timer};

fn main() -> ExitCode {
    let extra = std::env::args_os().nth(1).map(PathBuf::from);
    match watch(extra) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fs_watch: {e}");
            ExitCode::FAILURE
        }
    }
}

fn watch(extra: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("demo.txt");
    std::fs::write(&file, "start\n")?;
    let lp = uvio::Loop::new()?;

    // Callbacks: watch the temp directory.
    let events = FsEvent::new(&lp)?;
    events.start(dir.path(), false, |_, ev| match ev {
        Ok(ev) => println!(
            "event: {:?}{}{}",
            ev.filename,
            if ev.rename { " rename" } else { "" },
            if ev.change { " change" } else { "" }
        ),
        Err(e) => println!("event error: {e}"),
    })?;
    let extra = match extra {
        Some(p) => {
            let w = FsEvent::new(&lp)?;
            let label = p.display().to_string();
            w.start(&p, false, move |_, ev| println!("{label}: {ev:?}"))?;
            Some(w)
        }
        None => None,
    };

    // A modifier that appends to the file every 200 ms.
    let writer = Timer::new(&lp)?;
    let f2 = file.clone();
    let mut n = 0;
    writer.start(
        Duration::from_millis(200),
        Duration::from_millis(200),
        move |_| {
            n += 1;
            let mut s = std::fs::read_to_string(&f2).unwrap_or_default();
            s.push_str(&format!("line {n}\n"));
            let _ = std::fs::write(&f2, s);
        },
    )?;

    // Futures: poll the file's stat as a stream for two seconds.
    let f3 = file.clone();
    lp.block_on(async move {
        let lp = uvio::LoopHandle::current().expect("inside the loop");
        let mut polls = FsPoll::watch(&lp, &f3, Duration::from_millis(100))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match uvio::time::timeout(left, polls.next()).await {
                Ok(Some(Ok(ev))) => {
                    println!("poll: size {} -> {}", ev.prev.len(), ev.curr.len())
                }
                Ok(Some(Err(e))) => println!("poll error: {e}"),
                Ok(None) | Err(_) => break,
            }
        }
        Ok::<(), uvio::Error>(())
    })??;
    drop((events, extra, writer));
    Ok(())
}
