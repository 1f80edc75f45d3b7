//! Run: cargo run --example sysinfo
//!
//! Prints a short system summary from `uvio::sys`, then watches a pipe with `FdPoll`: a
//! timer writes three lines into it, the poll's callback reads them, and the program exits
//! once the writer is closed.

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use uvio::{FdPoll, Loop, PollEvents, RunMode, Timer, sys};

fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let u = sys::os_uname()?;
    println!(
        "host      {} ({} {} {})",
        sys::hostname()?,
        u.sysname,
        u.release,
        u.machine
    );
    println!("uptime    {:?}", sys::uptime()?);
    let [one, five, fifteen] = sys::loadavg();
    println!("load      {one:.2} {five:.2} {fifteen:.2}");
    let cpus = sys::cpu_info()?;
    println!(
        "cpus      {} x {} (use {})",
        cpus.len(),
        cpus.first().map_or("?", |c| c.model.as_str()),
        sys::available_parallelism()
    );
    println!(
        "memory    {} MiB free of {} MiB; this process {} KiB resident",
        mib(sys::free_memory()),
        mib(sys::total_memory()),
        sys::resident_set_memory()? / 1024
    );
    for a in sys::interface_addresses()? {
        let internal = if a.is_internal { " (internal)" } else { "" };
        println!(
            "interface {:<8} {}/{}{internal}",
            a.name, a.address, a.netmask
        );
    }
    let me = sys::get_passwd()?;
    println!(
        "user      {} uid {:?}, home {}, pid {}",
        me.username,
        me.uid,
        sys::homedir()?.display(),
        sys::getpid()
    );
    println!("random    {:02x?}", sys::random(8)?);

    // FdPoll: readiness of a pipe's read end; the poll owns it (through an Rc we share).
    let lp = Loop::new()?;
    let (reader, writer) = std::io::pipe()?;
    let reader = Rc::new(reader);
    let poll = FdPoll::new(&lp, reader.clone())?;
    poll.start(PollEvents::READABLE, move |poll, ev| {
        if let Err(e) = ev {
            println!("poll error: {e}");
            poll.close().ok();
            return;
        }
        let mut buf = [0u8; 256];
        loop {
            match (&*reader).read(&mut buf) {
                Ok(0) => {
                    println!("pipe closed by the writer");
                    poll.close().ok();
                    return;
                }
                Ok(n) => print!("read      {}", String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    println!("read error: {e}");
                    poll.close().ok();
                    return;
                }
            }
        }
    })?;
    let writer = Rc::new(RefCell::new(Some(writer)));
    let timer = Timer::new(&lp)?;
    let mut n = 0;
    timer.start(
        Duration::from_millis(20),
        Duration::from_millis(20),
        move |t| {
            n += 1;
            if n <= 3 {
                if let Some(w) = writer.borrow_mut().as_mut() {
                    writeln!(w, "line {n} at {} ns", sys::hrtime()).ok();
                }
            } else {
                writer.borrow_mut().take(); // closing the writer: the reader sees end of file
                t.close().ok();
            }
        },
    )?;
    lp.run(RunMode::Default)?;
    Ok(())
}
