//! Run: cargo run --example fs_tree [DIR]
//!
//! Walks a directory tree (default: `src/`), one task per directory so many requests run at
//! once on libuv's threadpool, and prints each file's size and the total. A directory that
//! cannot be read prints the error (`ENOENT: ...`) and exits with status 1.

use std::cell::Cell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use futures::StreamExt;

fn walk(dir: PathBuf, total: Rc<Cell<u64>>) -> uvio::JoinHandle<uvio::Result<()>> {
    uvio::spawn_local(async move {
        let mut entries = uvio::fs::read_dir(&dir);
        let mut children = Vec::new();
        let mut stats = Vec::new();
        while let Some(e) = entries.next().await {
            let e = e?;
            if e.file_type().is_dir() {
                children.push(walk(e.path().to_path_buf(), total.clone()));
            } else {
                // Start every stat at once; await them below.
                let path = e.path().to_path_buf();
                stats.push(uvio::spawn_local(async move {
                    let m = uvio::fs::symlink_metadata(&path).await?;
                    Ok::<_, uvio::Error>((path, m.len()))
                }));
            }
        }
        for s in stats {
            let (path, len) = s.await.expect("stat task")?;
            println!("{len:>10}  {}", path.display());
            total.set(total.get() + len);
        }
        for c in children {
            c.await.expect("walk task")?;
        }
        Ok(())
    })
}

fn main() -> ExitCode {
    // `args_os`: a directory name need not be UTF-8.
    let root = PathBuf::from(std::env::args_os().nth(1).unwrap_or_else(|| "src".into()));
    match tree(root) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fs_tree: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tree(root: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let lp = uvio::Loop::new()?;
    let total = Rc::new(Cell::new(0));
    let t = total.clone();
    lp.block_on(async move { walk(root, t).await.expect("walk task") })??;
    println!("{:>10}  total", total.get());
    Ok(())
}
