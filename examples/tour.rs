//! Run: cargo run --example tour
//!
//! A guided run through uvio: the loop, timers with callbacks, the same timers as futures,
//! tasks, threadpool work, cross-thread wakes and errors. Prints what it does and exits 0.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use uvio::{Loop, RunMode, Timer};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (major, minor, patch) = uvio::version();
    println!(
        "uvio on libuv {major}.{minor}.{patch} ({} link mode)",
        uvio::ffi::LINK_MODE
    );
    let lp = Loop::new()?;

    println!("\n== 1. Timers with callbacks");
    let order = Rc::new(Cell::new(Vec::new()));
    let mut timers = Vec::new();
    for (i, delay) in [30u64, 10, 20].into_iter().enumerate() {
        let t = Timer::new(&lp)?;
        let order = order.clone();
        t.start(ms(delay), Duration::ZERO, move |_t| {
            let mut v = order.take();
            v.push(i);
            order.set(v);
            println!("   timer {i} fired after {delay} ms");
        })?;
        timers.push(t);
    }
    let ticks = Rc::new(Cell::new(0));
    let repeating = Timer::new(&lp)?;
    let seen = ticks.clone();
    repeating.start(ms(5), ms(5), move |t| {
        seen.set(seen.get() + 1);
        if seen.get() == 4 {
            println!("   repeating timer stops itself after 4 ticks");
            t.stop().expect("stop from inside the callback");
        }
    })?;
    lp.run(RunMode::Default)?;
    println!("   firing order: {:?}", order.take());
    println!("   {:?}", repeating);

    println!("\n== 2. The same loop runs futures");
    let start = Instant::now();
    let total = lp.block_on(async {
        let a = uvio::spawn_local(async {
            uvio::time::sleep(ms(20)).await;
            "slow"
        });
        let b = uvio::spawn_local(async {
            uvio::time::sleep(ms(5)).await;
            "fast"
        });
        let mut ticks = uvio::time::interval(ms(3)).take(3);
        let mut n = 0;
        while ticks.next().await.is_some() {
            n += 1;
        }
        println!("   interval ticked {n} times");
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        println!("   tasks finished: {b} then {a}");
        let late = uvio::time::timeout(ms(5), uvio::time::sleep(ms(1000))).await;
        println!("   timeout(5 ms, sleep(1 s)) -> {}", late.unwrap_err());
        n
    })?;
    println!(
        "   block_on returned {total} after {:?}",
        start.elapsed().max(ms(0))
    );

    println!("\n== 3. Work on libuv's threadpool");
    let sum =
        lp.block_on(async { uvio::spawn_blocking(|| (1..=1_000_000u64).sum::<u64>()).await })??;
    println!("   spawn_blocking summed 1..=1e6 = {sum}");
    let got = Rc::new(Cell::new(0u64));
    let g = got.clone();
    let _req = uvio::queue_work(&lp, || 6 * 7, move |r| g.set(r.unwrap()))?;
    lp.run(RunMode::Default)?;
    println!("   queue_work callback got {}", got.get());

    println!("\n== 4. Wakes from other threads");
    let n = lp.block_on(async {
        let (tx, mut rx) = futures::channel::mpsc::unbounded::<u32>();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for j in 0..100 {
                        tx.unbounded_send(i * 100 + j).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut count = 0;
        while rx.next().await.is_some() {
            count += 1;
        }
        for t in threads {
            t.join().unwrap();
        }
        count
    })?;
    println!("   received {n} messages from 4 threads");

    println!("\n== 5. Errors are values with libuv's names");
    let t = Timer::new(&lp)?;
    println!(
        "   again() on a never-started timer: {}",
        t.again().unwrap_err()
    );
    t.close()?;
    println!("   closing twice: {}", t.close().unwrap_err());
    let io: std::io::Error = uvio::Error::ENOENT
        .with_context("open", "missing.txt")
        .into();
    println!("   as io::Error: {io} (kind {:?})", io.kind());

    println!("\n== 6. Panics in callbacks are caught and re-raised by run()");
    let t = Timer::new(&lp)?;
    t.start(Duration::ZERO, Duration::ZERO, |_| panic!("deliberate"))?;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    std::panic::set_hook(hook);
    println!("   run() resumed the panic: {}", caught.is_err());

    drop(timers);
    drop(lp);
    println!("\nLoop dropped: every handle closed, nothing leaked. Done.");
    Ok(())
}
