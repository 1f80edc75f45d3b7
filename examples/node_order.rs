//! Run: cargo run --example node_order
//!
//! Node's scheduling order on a libuv loop: ticks, then immediates (check phase), then
//! timeouts (timers phase), with an interval that clears itself and a thread waking the loop.

use std::time::Duration;

use uvio::node::{next_tick, set_immediate, set_interval_in, set_timeout, set_timeout_in};
use uvio::{AsyncHandle, Loop, RunMode};

fn main() -> uvio::Result<()> {
    let lp = Loop::new()?;

    set_timeout_in(&lp, Duration::ZERO, || {
        println!("timer callback");
        set_timeout(Duration::ZERO, || {
            println!("  3. timeout (next timers phase)")
        });
        set_immediate(|| println!("  2. immediate (check phase, this iteration)"));
        next_tick(|| println!("  1. tick (as soon as this callback returns)"));
    })?;

    let mut n = 0;
    set_interval_in(&lp, Duration::from_millis(5), move |t| {
        n += 1;
        println!("interval #{n}");
        if n == 3 {
            t.clear();
        }
    })?;

    let wakeup = AsyncHandle::new(&lp, |h| {
        println!("woken from another thread");
        h.close().unwrap();
    })?;
    let sender = wakeup.sender();
    let worker = std::thread::spawn(move || sender.send());

    lp.run(RunMode::Default)?;
    worker.join().expect("worker thread")?;
    Ok(())
}
