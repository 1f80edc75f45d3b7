//! Dropping a stream with writes still queued delivers them, as closing a socket does: the
//! handle stays open until the last write completes, then closes.
mod common;

use std::io::Read;
use std::net::TcpListener as StdListener;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{pattern, scale};
use futures::AsyncWriteExt;
use futures::channel::oneshot;
use uvio::{Loop, RunMode, TcpStream};

/// Bytes written: far more than loopback's socket buffers hold, so most of it is still in
/// uvio's queue when the stream is dropped.
fn total() -> usize {
    scale(64 << 20).max(16 << 20)
}

/// A reader in another thread that reads nothing until `go` (so the writer's queue fills
/// up), then reads to the end and reports what it got, also through `done` if given.
fn slow_reader(
    done: Option<oneshot::Sender<()>>,
) -> (std::net::SocketAddr, Go, JoinHandle<Vec<u8>>) {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let _ = wait.recv_timeout(common::patience(Duration::from_secs(60)));
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        if let Some(d) = done {
            let _ = d.send(());
        }
        got
    });
    (addr, Go(go), t)
}

/// Lets the reader start.
struct Go(std::sync::mpsc::Sender<()>);

impl Go {
    fn now(&self) {
        let _ = self.0.send(());
    }
}

fn check(got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "bytes delivered");
    assert!(got == want, "the bytes delivered differ from those written");
}

#[test]
fn futures_dropping_a_stream_after_write_all_delivers_every_byte() {
    let data = pattern(1, total());
    let (tx, rx) = oneshot::channel();
    let (addr, go, reader) = slow_reader(Some(tx));
    let lp = Loop::new().unwrap();
    let (written, queued) = lp
        .block_on(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            // Fill the kernel's buffers first (the reader is not reading yet), so what
            // `write_all` accepts next stays in uvio's queue.
            let mut at = 0;
            while let Ok(n) = s.try_write(&data[at..(at + 65536).min(data.len())]) {
                at += n;
            }
            let end = (at + 200 * 1024).min(data.len());
            s.write_all(&data[at..end]).await.unwrap();
            let queued = s.write_queue_size();
            drop(s);
            go.now();
            // The loop keeps running (and the dropped stream writing) until the reader
            // has seen the end of the stream.
            rx.await.unwrap();
            (data[..end].to_vec(), queued)
        })
        .unwrap();
    assert!(
        queued > 0,
        "the test must drop the stream with bytes still queued"
    );
    check(&reader.join().unwrap(), &written);
    assert_eq!(lp.handle_count(), common::runtime_handles());
}

#[test]
fn callbacks_dropping_a_stream_with_a_queued_write_delivers_it() {
    let want = pattern(2, total());
    let (addr, go, reader) = slow_reader(None);
    let lp = Loop::new().unwrap();
    let s = lp.block_on(TcpStream::connect(addr)).unwrap().unwrap();
    let done = std::rc::Rc::new(std::cell::Cell::new(None));
    let d = std::rc::Rc::clone(&done);
    s.write_cb(want.clone(), move |_, r| d.set(Some(r)))
        .unwrap();
    assert!(s.write_queue_size() > 0);
    drop(s);
    go.now();
    // Nothing else keeps the loop alive: it runs exactly until the write is done and the
    // stream closed.
    lp.run(RunMode::Default).unwrap();
    assert!(matches!(done.take(), Some(Ok(()))));
    check(&reader.join().unwrap(), &want);
}

#[test]
fn a_dropped_stream_whose_peer_is_gone_closes() {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let lp = Loop::new().unwrap();
    let s = lp.block_on(TcpStream::connect(addr)).unwrap().unwrap();
    let (peer, _) = l.accept().unwrap();
    let done = std::rc::Rc::new(std::cell::Cell::new(None));
    let d = std::rc::Rc::clone(&done);
    s.write_cb(vec![7u8; total()], move |_, r| d.set(Some(r)))
        .unwrap();
    drop(s);
    // The peer leaves without reading: the queued write fails and the stream closes.
    drop(peer);
    lp.run(RunMode::Default).unwrap();
    let r = done.take().expect("the write callback ran");
    let e = r.expect_err("a write to a peer that left fails");
    assert!(
        ["ECONNRESET", "EPIPE"].contains(&e.name()),
        "unexpected error {e}"
    );
    assert_eq!(lp.handle_count(), common::runtime_handles());
}

#[test]
fn close_reset_does_not_linger() {
    let (addr, go, reader) = slow_reader(None);
    let lp = Loop::new().unwrap();
    let s = lp.block_on(TcpStream::connect(addr)).unwrap().unwrap();
    let done = std::rc::Rc::new(std::cell::Cell::new(None));
    let d = std::rc::Rc::clone(&done);
    s.write_cb(vec![1u8; total()], move |_, r| d.set(Some(r)))
        .unwrap();
    s.close_reset().unwrap();
    drop(s);
    go.now();
    lp.run(RunMode::Default).unwrap();
    let e = done.take().expect("the write callback ran").unwrap_err();
    assert_eq!(e.name(), "ECANCELED");
    assert!(reader.join().unwrap().len() < total());
}

/// `poll_write_vectored` writes every buffer in one call, and copies what the kernel did not
/// take (across buffer boundaries) into the background queue, in order.
#[test]
fn vectored_writes_keep_order_across_the_kernel_and_the_queue() {
    use futures::AsyncReadExt;
    use std::io::IoSlice;
    let lp = Loop::new().unwrap();
    let (mut a, mut b) = common::tcp_pair(&lp);
    let parts: Vec<Vec<u8>> = (0..5).map(|i| pattern(i, 1000 + i * 37)).collect();
    let want: Vec<u8> = parts.concat();
    lp.block_on(async {
        // Into an empty socket: one call takes everything.
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let n = AsyncWriteExt::write_vectored(&mut a, &slices)
            .await
            .unwrap();
        assert_eq!(n, want.len());
        // Into a full one: all of it is copied into the queue.
        let filler = vec![0u8; 1 << 16];
        let mut filled = 0;
        while let Ok(n) = a.try_write(&filler) {
            filled += n;
        }
        let n = AsyncWriteExt::write_vectored(&mut a, &slices)
            .await
            .unwrap();
        assert_eq!(n, want.len());
        assert!(a.write_queue_size() >= want.len());
        let mut got = vec![0u8; want.len() * 2 + filled];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..want.len()], &want[..]);
        assert!(got[want.len()..want.len() + filled].iter().all(|&x| x == 0));
        assert_eq!(&got[want.len() + filled..], &want[..]);
    })
    .unwrap();
}
