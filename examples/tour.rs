//! Run: cargo run --example tour
//!
//! A guided run through uvio: the loop, timers with callbacks, the same timers as futures,
//! tasks, threadpool work, cross-thread wakes, Node-style scheduling, TCP, files, DNS, UDP,
//! errors, panics, child processes and system queries. Prints what it does and exits 0.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use uvio::{Loop, LoopHandle, RunMode, TcpListener, TcpStream, Timer};

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
    println!("   block_on returned {total} after {:?}", start.elapsed());

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

    println!("\n== 5. Node's scheduling vocabulary, with Node's ordering");
    node_order(&lp)?;

    println!("\n== 6. TCP: a callback echo server and an async client on one loop");
    tcp(&lp)?;

    println!("\n== 7. Files: futures, callbacks and libuv's synchronous mode");
    files(&lp)?;

    println!("\n== 8. DNS and UDP");
    dns_udp(&lp)?;

    println!("\n== 9. Errors are values with libuv's names");
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

    println!("\n== 10. Panics in callbacks are caught and re-raised by run()");
    let t = Timer::new(&lp)?;
    t.start(Duration::ZERO, Duration::ZERO, |_| panic!("deliberate"))?;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    std::panic::set_hook(hook);
    println!("   run() resumed the panic: {}", caught.is_err());

    println!("\n== 11. Child processes and the system");
    processes(&lp)?;

    drop(timers);
    drop(lp);
    println!("\nLoop dropped: every handle closed, nothing leaked. Done.");
    Ok(())
}

/// set_timeout(0), set_immediate and next_tick queued from inside a timer callback.
fn node_order(lp: &Loop) -> Result<(), Box<dyn std::error::Error>> {
    let log = Rc::new(std::cell::RefCell::new(Vec::new()));
    let l = log.clone();
    let h: LoopHandle = lp.handle();
    uvio::node::set_timeout_in(&h, ms(1), move || {
        let (a, b, c) = (l.clone(), l.clone(), l.clone());
        uvio::node::set_timeout(Duration::ZERO, move || a.borrow_mut().push("timeout"));
        uvio::node::set_immediate(move || b.borrow_mut().push("immediate"));
        uvio::node::next_tick(move || c.borrow_mut().push("next_tick"));
    })?;
    lp.run(RunMode::Default)?;
    println!("   queued inside a timer, they ran as: {:?}", log.borrow());
    Ok(())
}

/// An echo server written with callbacks, exercised by async clients.
fn tcp(lp: &Loop) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(lp, "127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr()?;
    println!("   listening on {addr}");
    let conns = Rc::new(std::cell::RefCell::new(Vec::new()));
    let keep = conns.clone();
    listener.on_connection(move |_l, conn| {
        let conn = conn.expect("accept");
        conn.read_start(|s, chunk| match chunk {
            Ok(bytes) => s
                .write_cb(bytes.to_vec(), |_, r| r.expect("echo write"))
                .unwrap(),
            Err(_) => {
                let _ = s.shutdown_cb(|_, _| ());
            }
        })
        .expect("read_start");
        keep.borrow_mut().push(conn);
    })?;
    let echoed = lp.block_on(async move {
        let mut clients = Vec::new();
        for i in 0..3 {
            clients.push(uvio::spawn_local(async move {
                let mut s = TcpStream::connect(addr).await?;
                s.write_all(format!("hello #{i}").as_bytes()).await?;
                AsyncWriteExt::close(&mut s).await?;
                let mut back = String::new();
                s.read_to_string(&mut back).await?;
                Ok::<_, std::io::Error>(back)
            }));
        }
        let mut out = Vec::new();
        for c in clients {
            out.push(c.await.expect("client task")?);
        }
        Ok::<_, std::io::Error>(out)
    })??;
    println!("   echoed: {echoed:?}");
    let again = lp.block_on(TcpStream::connect(addr))?;
    println!(
        "   (still listening, so a 4th connect works: {})",
        again.is_ok()
    );
    drop(listener);
    let gone = lp.block_on(TcpStream::connect(addr))?;
    println!("   after closing the listener: {}", gone.unwrap_err());
    conns.borrow_mut().clear();
    Ok(())
}

/// Writes, reads, stats and lists files in a temporary directory.
fn files(lp: &Loop) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("uvio-tour-{}", std::process::id()));
    let d = dir.clone();
    let names = lp.block_on(async move {
        uvio::fs::create_dir_all(d.join("sub")).await?;
        uvio::fs::write(d.join("hello.txt"), b"hello from uvio\n").await?;
        uvio::fs::write(d.join("sub/data.bin"), vec![7u8; 4096]).await?;
        let text = uvio::fs::read_to_string(d.join("hello.txt")).await?;
        println!("   read back: {:?}", text.trim_end());
        let mut names = Vec::new();
        let mut entries = uvio::fs::read_dir(&d);
        while let Some(e) = entries.next().await {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok::<_, uvio::Error>(names)
    })??;
    println!("   directory holds {names:?}");
    let size = Rc::new(Cell::new(0));
    let s = size.clone();
    uvio::fs::cb::metadata(lp, dir.join("sub/data.bin"), move |r| {
        s.set(r.unwrap().len())
    });
    lp.run(RunMode::Default)?;
    println!("   callback metadata: sub/data.bin is {} bytes", size.get());
    let missing = uvio::fs::sync::metadata(dir.join("missing.txt")).unwrap_err();
    println!("   sync metadata of a missing file: {missing}");
    lp.block_on(uvio::fs::remove_dir_all(&dir))??;
    println!("   removed {}", dir.display());
    Ok(())
}

/// Resolves `localhost` and bounces a datagram between two UDP sockets.
fn dns_udp(lp: &Loop) -> Result<(), Box<dyn std::error::Error>> {
    let addrs: Vec<_> = lp
        .block_on(uvio::dns::lookup_host("localhost:80"))??
        .collect();
    println!("   localhost:80 resolves to {addrs:?}");
    let a = uvio::UdpSocket::bind(lp, "127.0.0.1:0".parse()?)?;
    let b = uvio::UdpSocket::bind(lp, "127.0.0.1:0".parse()?)?;
    let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
    let reply = lp.block_on(async move {
        a.send_to(b"ping".to_vec(), b_addr).await?;
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf).await?;
        b.send_to(buf[..n].to_ascii_uppercase(), from).await?;
        let (n, _) = a.recv_from(&mut buf).await?;
        Ok::<_, uvio::Error>(String::from_utf8_lossy(&buf[..n]).into_owned())
    })??;
    println!("   {a_addr} sent \"ping\" to {b_addr}, got back {reply:?}");
    Ok(())
}

/// A child's output as a future, a child's exit in a callback, and libuv's system queries.
fn processes(lp: &Loop) -> Result<(), Box<dyn std::error::Error>> {
    use uvio::process::Command;
    let out = lp.block_on(
        Command::new("sh")
            .args(["-c", "echo hi from pid $$"])
            .output(),
    )??;
    print!("   sh: {}", String::from_utf8_lossy(&out.stdout));
    println!("   sh ended with {}", out.status);
    let sleeper = Command::new("sleep")
        .arg("10")
        .spawn_cb(lp, |_child, status| {
            println!(
                "   sleep 10 ended early: {}",
                status.expect("an exit status")
            );
        })?;
    sleeper.kill(libc::SIGTERM)?;
    lp.run(RunMode::Default)?;
    let missing = Command::new("no-such-program").spawn(lp).unwrap_err();
    println!("   spawning a missing program: {missing}");
    let u = uvio::sys::os_uname()?;
    println!(
        "   {} runs {} {} with {} CPUs; this process uses {} KiB",
        uvio::sys::hostname()?,
        u.sysname,
        u.release,
        uvio::sys::available_parallelism(),
        uvio::sys::resident_set_memory()? / 1024
    );
    Ok(())
}
