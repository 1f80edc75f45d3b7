//! Run: cargo run --example process
//!
//! Child processes on one loop: a shell command's output captured with a future, a pipeline
//! of two children wired together by a pipe (`printf | sort`), `cat` fed on its stdin and
//! echoing it back, and a `sleep` killed with SIGTERM whose exit comes to a callback.
//! Exits 0.

use std::cell::RefCell;
use std::rc::Rc;

use futures::AsyncReadExt;
use uvio::process::{Command, ExitStatus, Stdio};
use uvio::{Loop, LoopHandle, PipeStream, RunMode};

/// Reads a piped stream to its end.
async fn read_all(pipe: Option<PipeStream>) -> std::io::Result<String> {
    let mut s = String::new();
    if let Some(p) = pipe {
        (&p).read_to_string(&mut s).await?;
    }
    Ok(s)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;

    // 1. Capture a shell command's output (futures).
    let out = lp.block_on(
        Command::new("sh")
            .args(["-c", "echo \"hello from $0 (pid $$)\"; echo warning >&2"])
            .arg("sh")
            .output(),
    )??;
    print!("sh said: {}", String::from_utf8_lossy(&out.stdout));
    print!("sh warned: {}", String::from_utf8_lossy(&out.stderr));
    println!("sh ended with {}", out.status);

    // 2. A pipeline: printf's stdout is one end of a pipe, sort's stdin the other.
    let sorted = lp.block_on(async {
        let lp = LoopHandle::current().expect("inside the loop");
        let (read_end, write_end) = PipeStream::pipe(&lp)?;
        let mut producer = Command::new("printf");
        producer.arg("pear\\napple\\nfig\\n").stdout(write_end);
        let mut sorter = Command::new("sort");
        sorter.stdin(read_end).stdout(Stdio::piped());
        let first = producer.spawn(&lp)?;
        let mut second = sorter.spawn(&lp)?;
        // The commands hold our copies of the pipe's ends: drop them so that sort sees
        // the end of its input once printf exits.
        drop((producer, sorter));
        let text = read_all(second.stdout.take()).await?;
        let (a, b) = (first.wait().await?, second.wait().await?);
        println!("printf: {a}, sort: {b}");
        Ok::<_, Box<dyn std::error::Error>>(text)
    })??;
    print!("sorted:\n{sorted}");
    assert_eq!(sorted, "apple\nfig\npear\n");

    // 3. Feed cat on its stdin, read the echo back.
    let echoed = lp.block_on(async {
        let lp = LoopHandle::current().expect("inside the loop");
        let mut cat = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn(&lp)?;
        let stdin = cat.stdin.take().expect("piped");
        stdin.write("fed through stdin\n").await?;
        stdin.shutdown().await?; // end of input: cat finishes
        let text = read_all(cat.stdout.take()).await?;
        println!("cat ended with {}", cat.wait().await?);
        Ok::<_, Box<dyn std::error::Error>>(text)
    })??;
    print!("cat echoed: {echoed}");

    // 4. Callbacks: a long sleep, killed; its exit status arrives in the exit callback.
    let got: Rc<RefCell<Option<ExitStatus>>> = Rc::default();
    let seen = got.clone();
    let sleeper = Command::new("sleep")
        .arg("60")
        .spawn_cb(&lp, move |child, status| {
            let status = status.expect("exit reported");
            println!("sleep (pid {}) ended: {status}", child.id());
            *seen.borrow_mut() = Some(status);
        })?;
    println!("started sleep 60 as pid {}; sending SIGTERM", sleeper.id());
    sleeper.kill(libc::SIGTERM)?;
    drop(sleeper); // not needed any more: the callback still runs
    lp.run(RunMode::Default)?;
    let status = got.borrow_mut().take().expect("callback ran");
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    println!("done");
    Ok(())
}
