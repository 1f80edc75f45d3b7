//! UdpSocket against real sockets on 127.0.0.1 and ::1.
mod common;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;

use futures::StreamExt;
use uvio::udp::{BindOptions, QUEUE_MAX};
use uvio::{Loop, RunMode, UdpSocket};

fn any_port(v6: bool) -> SocketAddr {
    if v6 {
        "[::1]:0".parse().unwrap()
    } else {
        "127.0.0.1:0".parse().unwrap()
    }
}

/// An address where nothing receives, held by the returned socket for the test: it is
/// connected to itself, so a datagram from any other socket finds no receiver (the kernel
/// answers port unreachable), while no other socket can take the port meanwhile (a port
/// closed again could be reused by a parallel test).
fn unreachable_port(v6: bool) -> (SocketAddr, std::net::UdpSocket) {
    let holder = std::net::UdpSocket::bind(any_port(v6)).unwrap();
    let addr = holder.local_addr().unwrap();
    holder.connect(addr).unwrap();
    (addr, holder)
}

/// A datagram whose every byte depends on its sequence number and position.
fn payload(seq: usize, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend((0..len).map(|i| (i.wrapping_mul(31) ^ seq.wrapping_mul(7)) as u8));
    if len >= 4 {
        v[..4].copy_from_slice(&(seq as u32).to_le_bytes());
    }
    v
}

fn seq_of(d: &[u8]) -> usize {
    u32::from_le_bytes(d[..4].try_into().unwrap()) as usize
}

/// An echo server with callbacks: every datagram goes back to its sender.
fn echo_server(lp: &Loop, opts: BindOptions, v6: bool) -> UdpSocket {
    let s = UdpSocket::bind_with(lp, any_port(v6), opts).unwrap();
    s.recv_start(|s, res| {
        let (data, from, flags) = res.unwrap();
        assert!(!flags.is_partial());
        s.send_to_cb(data.to_vec(), from, |r| {
            r.unwrap();
        })
        .unwrap();
    })
    .unwrap();
    s
}

fn callback_echo(v6: bool, opts: BindOptions) {
    let lp = Loop::new().unwrap();
    let server = echo_server(&lp, opts, v6);
    let to = server.local_addr().unwrap();
    assert_eq!(to.is_ipv6(), v6);
    let client = UdpSocket::bind(&lp, any_port(v6)).unwrap();
    let n = common::scale(500);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let srv = Rc::new(RefCell::new(Some(server)));
    let srv2 = srv.clone();
    client
        .recv_start(move |c, res| {
            let (data, from, _) = res.unwrap();
            assert_eq!(from, to);
            g.borrow_mut().push(data.to_vec());
            if g.borrow().len() == n {
                c.close().unwrap();
                srv2.borrow_mut().take();
            }
        })
        .unwrap();
    // Send in windows of 16 so the kernel buffers never overflow.
    let sent = Rc::new(Cell::new(0usize));
    fn send_window(c: &UdpSocket, to: SocketAddr, sent: &Rc<Cell<usize>>, n: usize) {
        let start = sent.get();
        let end = (start + 16).min(n);
        for seq in start..end {
            let len = 4 + (seq * 37) % 1400;
            let last = seq + 1 == end;
            let s2 = sent.clone();
            c.send_to_cb(payload(seq, len), to, move |r| {
                assert_eq!(r.unwrap(), len);
                if last {
                    s2.set(end);
                }
            })
            .unwrap();
        }
    }
    send_window(&client, to, &sent, n);
    // Drive: whenever a window has been echoed, send the next.
    while got.borrow().len() < n {
        lp.run(RunMode::Once).unwrap();
        let have = got.borrow().len();
        if have == sent.get() && have < n && !client.is_closing() {
            send_window(&client, to, &sent, n);
        }
    }
    lp.run(RunMode::Default).unwrap();
    let got = got.borrow();
    assert_eq!(got.len(), n);
    let mut seen = vec![false; n];
    for d in got.iter() {
        let seq = seq_of(d);
        assert!(!seen[seq], "duplicate {seq}");
        seen[seq] = true;
        assert_eq!(d, &payload(seq, 4 + (seq * 37) % 1400), "datagram {seq}");
    }
}

#[test]
fn callback_echo_v4() {
    callback_echo(false, BindOptions::new());
}

#[test]
fn callback_echo_v6() {
    callback_echo(true, BindOptions::new());
}

#[test]
fn callback_echo_recvmmsg() {
    callback_echo(false, BindOptions::new().recvmmsg(true));
    callback_echo(true, BindOptions::new().recvmmsg(true));
}

async fn future_echo_client(client: &UdpSocket, to: SocketAddr, n: usize) {
    let mut buf = vec![0u8; 70_000];
    for seq in 0..n {
        let len = 4 + (seq * 101) % 9000;
        let sent = client.send_to(payload(seq, len), to).await.unwrap();
        assert_eq!(sent, len);
        let (got, from) = client.recv_from(&mut buf).await.unwrap();
        assert_eq!(from, to);
        assert_eq!(&buf[..got], &payload(seq, len)[..], "datagram {seq}");
    }
}

#[test]
fn future_echo_v4_v6() {
    for v6 in [false, true] {
        let lp = Loop::new().unwrap();
        let server = UdpSocket::bind(&lp, any_port(v6)).unwrap();
        let to = server.local_addr().unwrap();
        let client = UdpSocket::bind(&lp, any_port(v6)).unwrap();
        let n = common::scale(300);
        lp.block_on(async {
            let srv = uvio::spawn_local(async move {
                let mut buf = vec![0u8; 65536];
                for _ in 0..n {
                    let (len, from) = server.recv_from(&mut buf).await.unwrap();
                    server.send_to(buf[..len].to_vec(), from).await.unwrap();
                }
            });
            future_echo_client(&client, to, n).await;
            srv.await.unwrap();
        })
        .unwrap();
    }
}

#[test]
fn future_server_with_recvmmsg_and_stream() {
    let lp = Loop::new().unwrap();
    let server =
        UdpSocket::bind_with(&lp, any_port(false), BindOptions::new().recvmmsg(true)).unwrap();
    assert!(server.using_recvmmsg());
    let to = server.local_addr().unwrap();
    let client = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let n = common::scale(400);
    lp.block_on(async {
        let srv = uvio::spawn_local(async move {
            let mut incoming = server.incoming();
            let mut count = 0;
            while let Some(d) = incoming.next().await {
                let (data, from) = d.unwrap();
                server.send_to(data, from).await.unwrap();
                count += 1;
                if count == n {
                    break;
                }
            }
            count
        });
        future_echo_client(&client, to, n).await;
        assert_eq!(srv.await.unwrap(), n);
    })
    .unwrap();
}

#[test]
fn bursts_fill_the_queue_and_resume() {
    // More datagrams than the futures' queue holds arrive before anyone reads them: the
    // socket pauses reading, the kernel keeps the rest, and all arrive in order.
    for mmsg in [false, true] {
        let lp = Loop::new().unwrap();
        let rx =
            UdpSocket::bind_with(&lp, any_port(false), BindOptions::new().recvmmsg(mmsg)).unwrap();
        let tx = UdpSocket::bind(&lp, any_port(false)).unwrap();
        let to = rx.local_addr().unwrap();
        let total = QUEUE_MAX * 2;
        lp.block_on(async {
            // Start reading, with nothing there yet.
            let mut incoming = rx.incoming();
            assert!(futures::poll!(incoming.next()).is_pending());
            assert!(rx.is_reading());
            for seq in 0..total {
                tx.send_to(payload(seq, 200), to).await.unwrap();
            }
            // Let the loop read until the queue is full (each turn reads a batch: a loaded
            // machine may need more turns than an idle one, so wait for the pause itself).
            for _ in 0..10_000 {
                if !rx.is_reading() {
                    break;
                }
                uvio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            assert!(!rx.is_reading(), "reading should pause with a full queue");
            for seq in 0..total {
                let (data, from) = incoming.next().await.unwrap().unwrap();
                assert_eq!(from, tx.local_addr().unwrap());
                assert_eq!(data, payload(seq, 200), "datagram {seq}");
            }
            drop(incoming);
            // Nobody is waiting: the socket stops reading and lets the loop end, once this
            // poll is over (inside one, a receive loop usually waits again at once).
            uvio::time::sleep(std::time::Duration::from_millis(1)).await;
            assert!(!rx.is_reading());
        })
        .unwrap();
        assert!(!lp.run(RunMode::Default).unwrap());
    }
}

#[test]
fn largest_datagram_and_emsgsize() {
    let lp = Loop::new().unwrap();
    let rx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let tx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let to = rx.local_addr().unwrap();
    lp.block_on(async {
        let big = payload(9, 65_507);
        assert_eq!(tx.send_to(big.clone(), to).await.unwrap(), 65_507);
        let mut buf = vec![0u8; 70_000];
        let (n, _) = rx.recv_from(&mut buf).await.unwrap();
        assert_eq!(n, 65_507);
        assert_eq!(&buf[..n], &big[..]);

        let e = tx.send_to(vec![1u8; 65_508], to).await.unwrap_err();
        assert_eq!(e.name(), "EMSGSIZE");
        assert!(e.to_string().contains(&to.to_string()), "{e}");
        let e = tx.try_send_to(&[1u8; 65_508], to).unwrap_err();
        assert_eq!(e.name(), "EMSGSIZE");
        // A smaller buffer truncates, as with std.
        tx.send_to(payload(3, 1000), to).await.unwrap();
        let mut small = [0u8; 10];
        let (n, _) = rx.recv_from(&mut small).await.unwrap();
        assert_eq!(n, 10);
        assert_eq!(&small[..], &payload(3, 1000)[..10]);
    })
    .unwrap();
    // The callback style reports EMSGSIZE too.
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    tx.send_to_cb(vec![0u8; 70_000], to, move |r| *g.borrow_mut() = Some(r))
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        got.borrow().as_ref().unwrap().as_ref().unwrap_err().name(),
        "EMSGSIZE"
    );
}

#[test]
fn empty_datagrams_are_datagrams() {
    // libuv reports "nothing to read" as nread == 0 with a null address; an empty datagram
    // is nread == 0 with an address. Only the latter reaches the callback.
    let lp = Loop::new().unwrap();
    let rx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let tx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let from_addr = tx.local_addr().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    rx.recv_start(move |rx, res| {
        let (data, from, _) = res.unwrap();
        assert_eq!(from, from_addr);
        s.borrow_mut().push(data.len());
        if s.borrow().len() == 3 {
            rx.recv_stop().unwrap();
        }
    })
    .unwrap();
    let to = rx.local_addr().unwrap();
    assert_eq!(tx.try_send_to(&[], to).unwrap(), 0);
    assert_eq!(tx.try_send_to(b"x", to).unwrap(), 1);
    tx.send_to_cb(Vec::new(), to, |r| assert_eq!(r.unwrap(), 0))
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*seen.borrow(), vec![0, 1, 0]);
    assert!(!rx.is_reading());
}

#[test]
fn connect_disconnect_and_peer() {
    let lp = Loop::new().unwrap();
    let a = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let b = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    assert_eq!(a.peer_addr().unwrap_err().name(), "ENOTCONN");
    assert_eq!(a.disconnect().unwrap_err().name(), "ENOTCONN");
    assert_eq!(a.try_send(b"x").unwrap_err().name(), "EDESTADDRREQ");
    a.connect(ba).unwrap();
    assert_eq!(a.peer_addr().unwrap(), ba);
    assert_eq!(a.connect(ba).unwrap_err().name(), "EISCONN");
    assert_eq!(a.try_send_to(b"x", ba).unwrap_err().name(), "EISCONN");
    lp.block_on(async {
        assert_eq!(a.send(b"hello".to_vec()).await.unwrap(), 5);
        assert_eq!(a.try_send(b"again").unwrap(), 5);
        let e = a.send_to(b"no".to_vec(), ba).await.unwrap_err();
        assert_eq!(e.name(), "EISCONN");
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"hello"[..], aa));
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"again");
    })
    .unwrap();
    a.disconnect().unwrap();
    assert_eq!(a.peer_addr().unwrap_err().name(), "ENOTCONN");
    let e = lp
        .block_on(async { a.send(b"x".to_vec()).await })
        .unwrap()
        .unwrap_err();
    assert_eq!(e.name(), "EDESTADDRREQ");
    // A connected socket sees ECONNREFUSED from a port where nothing receives.
    let (gone_addr, _held) = unreachable_port(false);
    a.connect(gone_addr).unwrap();
    let r = lp
        .block_on(async {
            a.send(b"ping".to_vec()).await.unwrap();
            let mut buf = [0u8; 8];
            a.recv(&mut buf).await
        })
        .unwrap();
    assert_eq!(r.unwrap_err().name(), "ECONNREFUSED");
}

fn getsockopt_int(fd: i32, level: i32, name: i32) -> i32 {
    let mut v: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid descriptor and an int-sized out buffer.
    let r = unsafe { libc::getsockopt(fd, level, name, (&raw mut v).cast(), &mut len) };
    assert_eq!(r, 0);
    v
}

#[test]
fn socket_options_reach_the_socket() {
    let lp = Loop::new().unwrap();
    let s = UdpSocket::bind(&lp, "0.0.0.0:0".parse().unwrap()).unwrap();
    let fd = s.fileno().unwrap();
    s.set_broadcast(true).unwrap();
    assert_eq!(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_BROADCAST), 1);
    s.set_broadcast(false).unwrap();
    assert_eq!(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_BROADCAST), 0);
    s.set_ttl(42).unwrap();
    assert_eq!(getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TTL), 42);
    s.set_multicast_ttl(7).unwrap();
    assert_eq!(
        getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL),
        7
    );
    s.set_multicast_loop(false).unwrap();
    assert_eq!(
        getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP),
        0
    );
    s.set_multicast_loop(true).unwrap();
    assert_eq!(
        getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP),
        1
    );
    for bad in [0, 256, u32::MAX] {
        assert_eq!(s.set_ttl(bad).unwrap_err().name(), "EINVAL", "ttl {bad}");
    }
    s.set_recv_buffer_size(1 << 16).unwrap();
    assert!(s.recv_buffer_size().unwrap() >= 1 << 16);
    assert_eq!(s.set_send_buffer_size(0).unwrap_err().name(), "EINVAL");
    // An unbound socket has no OS socket yet.
    let u = UdpSocket::new(&lp).unwrap();
    assert_eq!(u.set_ttl(5).unwrap_err().name(), "EBADF");
    assert_eq!(u.local_addr().unwrap_err().name(), "EBADF");
    let dbg = format!("{s:?}");
    assert!(dbg.contains("local_addr: Some(0.0.0.0:"), "{dbg}");
}

#[test]
fn multicast_membership() {
    let lp = Loop::new().unwrap();
    let rx = UdpSocket::bind(&lp, "0.0.0.0:0".parse().unwrap()).unwrap();
    let group = "239.255.77.1".parse().unwrap();
    let lo = Some("127.0.0.1".parse().unwrap());
    let e = rx
        .join_multicast("127.0.0.1".parse().unwrap(), None)
        .unwrap_err();
    assert_eq!(e.name(), "EINVAL");
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
    rx.join_multicast(group, lo).unwrap();
    // Joining twice is an error from the kernel.
    assert_eq!(
        rx.join_multicast(group, lo).unwrap_err().name(),
        "EADDRINUSE"
    );
    let e = rx
        .leave_multicast("239.255.77.2".parse().unwrap(), lo)
        .unwrap_err();
    assert_eq!(e.name(), "EADDRNOTAVAIL");

    // Send to the group through the loopback interface and receive it.
    let tx = UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    tx.set_multicast_interface(lo).unwrap();
    tx.set_multicast_loop(true).unwrap();
    let dest = SocketAddr::new(group, rx.local_addr().unwrap().port());
    let r = lp.block_on(async {
        tx.send_to(b"to the group".to_vec(), dest).await?;
        let mut buf = [0u8; 32];
        let r =
            uvio::time::timeout(std::time::Duration::from_secs(5), rx.recv_from(&mut buf)).await;
        r.map(|r| r.map(|(n, _)| buf[..n].to_vec()))
    });
    match r.unwrap() {
        Ok(Ok(data)) => assert_eq!(data, b"to the group"),
        // Without a multicast route (no network in some sandboxes) the send fails: the
        // membership calls above are still checked.
        Err(e) | Ok(Err(e)) => {
            assert!(
                ["ENETUNREACH", "ETIMEDOUT", "EPERM"].contains(&e.name()),
                "{e}"
            )
        }
    }
    rx.leave_multicast(group, lo).unwrap();

    let src = "127.0.0.1".parse().unwrap();
    let ssm = "232.1.2.3".parse().unwrap();
    rx.join_source_specific(ssm, lo, src).unwrap();
    rx.leave_source_specific(ssm, lo, src).unwrap();
    assert!(rx.leave_source_specific(ssm, lo, src).is_err());

    let v6 = UdpSocket::bind(&lp, "[::1]:0".parse().unwrap()).unwrap();
    v6.join_multicast("ff02::1:3".parse().unwrap(), None)
        .unwrap();
    v6.leave_multicast("ff02::1:3".parse().unwrap(), None)
        .unwrap();
}

#[test]
fn bind_flags() {
    let lp = Loop::new().unwrap();
    let a = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let addr = a.local_addr().unwrap();
    let e = UdpSocket::bind(&lp, addr).unwrap_err();
    assert_eq!(e.name(), "EADDRINUSE");
    assert!(e.to_string().contains(&addr.to_string()), "{e}");

    let opts = BindOptions::new().reuse_addr(true);
    let r1 = UdpSocket::bind_with(&lp, any_port(false), opts).unwrap();
    let shared = r1.local_addr().unwrap();
    let r2 = UdpSocket::bind_with(&lp, shared, opts).unwrap();
    assert_eq!(r2.local_addr().unwrap(), shared);

    let opts = BindOptions::new().reuse_port(true);
    if common::libuv_at_least((1, 49, 0)) {
        let p1 = UdpSocket::bind_with(&lp, any_port(false), opts).unwrap();
        let p2 = UdpSocket::bind_with(&lp, p1.local_addr().unwrap(), opts).unwrap();
        assert_eq!(p1.local_addr().unwrap(), p2.local_addr().unwrap());
        let fd = p2.fileno().unwrap();
        assert_eq!(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT), 1);
    } else {
        // UV_UDP_REUSEPORT is libuv 1.49's: refused, not silently ignored.
        assert!(common::is_unsupported(&UdpSocket::bind_with(
            &lp,
            any_port(false),
            opts
        )));
    }

    // IPv6-only: the same port stays free on IPv4.
    let v6 = UdpSocket::bind_with(
        &lp,
        "[::]:0".parse().unwrap(),
        BindOptions::new().ipv6_only(true),
    )
    .unwrap();
    let port = v6.local_addr().unwrap().port();
    let fd = v6.fileno().unwrap();
    assert_eq!(getsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 1);
    UdpSocket::bind(&lp, SocketAddr::from(([0, 0, 0, 0], port))).unwrap();
}

#[test]
fn open_std_socket() {
    let lp = Loop::new().unwrap();
    let std_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = std_sock.local_addr().unwrap();
    let s = UdpSocket::from_std(&lp, std_sock).unwrap();
    assert_eq!(s.local_addr().unwrap(), addr);
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.send_to(b"from std", addr).unwrap();
    let got = lp
        .block_on(async {
            let mut buf = [0u8; 16];
            let (n, from) = s.recv_from(&mut buf).await.unwrap();
            s.send_to(buf[..n].to_vec(), from).await.unwrap();
            buf[..n].to_vec()
        })
        .unwrap();
    assert_eq!(got, b"from std");
    let mut buf = [0u8; 16];
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"from std");
    // The same descriptor cannot be watched twice by one loop.
    let fd = s.fileno().unwrap();
    // SAFETY: dup of an open descriptor gives a new one we own.
    let dup = unsafe { libc::dup(fd) };
    assert!(dup >= 0);
    // SAFETY: `dup` is a fresh descriptor owned by nobody else.
    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dup) };
    let s2 = UdpSocket::open(&lp, owned).unwrap();
    assert_eq!(s2.local_addr().unwrap(), addr);
}

// ---- lifecycle ----

#[test]
fn drop_before_start_and_close_twice() {
    let lp = Loop::new().unwrap();
    drop(UdpSocket::new(&lp).unwrap());
    drop(UdpSocket::bind(&lp, any_port(true)).unwrap());
    let s = UdpSocket::bind(&lp, any_port(false)).unwrap();
    s.close().unwrap();
    assert_eq!(s.close().unwrap_err().name(), "EBADF");
    assert_eq!(s.local_addr().unwrap_err().name(), "EBADF");
    assert_eq!(
        s.try_send_to(b"x", "127.0.0.1:9".parse().unwrap())
            .unwrap_err()
            .name(),
        "EBADF"
    );
    assert_eq!(s.recv_start(|_, _| {}).unwrap_err().name(), "EBADF");
    assert!(format!("{s:?}").contains("closed"));
    let e = lp
        .block_on(async {
            s.send_to(b"x".to_vec(), "127.0.0.1:9".parse().unwrap())
                .await
        })
        .unwrap()
        .unwrap_err();
    assert_eq!(e.name(), "EBADF");
    assert!(!lp.run(RunMode::Default).unwrap());
}

#[test]
fn drop_in_own_callback() {
    let lp = Loop::new().unwrap();
    let rx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let to = rx.local_addr().unwrap();
    let slot = Rc::new(RefCell::new(None::<UdpSocket>));
    let calls = Rc::new(Cell::new(0));
    let (s2, c2) = (slot.clone(), calls.clone());
    rx.recv_start(move |me, res| {
        c2.set(c2.get() + 1);
        assert_eq!(res.unwrap().0, b"bye");
        // Drop the owner from inside its own callback; the view stays usable.
        drop(s2.borrow_mut().take());
        assert!(me.is_closing());
    })
    .unwrap();
    *slot.borrow_mut() = Some(rx);
    let tx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    // Several datagrams queued: only the first is delivered.
    for _ in 0..3 {
        tx.try_send_to(b"bye", to).unwrap();
    }
    drop(tx);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(calls.get(), 1);
}

#[test]
fn recv_stop_and_restart_in_callback() {
    let lp = Loop::new().unwrap();
    let rx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let to = rx.local_addr().unwrap();
    let tx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    rx.recv_start(move |me, res| {
        l.borrow_mut().push(("first", res.unwrap().0.to_vec()));
        let l2 = l.clone();
        // Replace this callback from inside it.
        me.recv_start(move |me, res| {
            l2.borrow_mut().push(("second", res.unwrap().0.to_vec()));
            me.recv_stop().unwrap();
        })
        .unwrap();
    })
    .unwrap();
    tx.try_send_to(b"1", to).unwrap();
    tx.try_send_to(b"2", to).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        *log.borrow(),
        vec![("first", b"1".to_vec()), ("second", b"2".to_vec())]
    );
    // After recv_stop, the futures take over, and a callback blocks them.
    tx.try_send_to(b"3", to).unwrap();
    let got = lp
        .block_on(async {
            let mut buf = [0u8; 4];
            let (n, _) = rx.recv_from(&mut buf).await.unwrap();
            buf[..n].to_vec()
        })
        .unwrap();
    assert_eq!(got, b"3");
    rx.recv_start(|_, _| {}).unwrap();
    let e = lp
        .block_on(async { rx.recv_from(&mut [0u8; 4]).await })
        .unwrap()
        .unwrap_err();
    assert_eq!(e.name(), "EBUSY");
    rx.recv_stop().unwrap();
}

#[test]
fn close_wakes_a_pending_receive() {
    let lp = Loop::new().unwrap();
    let rx = Rc::new(UdpSocket::bind(&lp, any_port(false)).unwrap());
    let r2 = rx.clone();
    let e = lp
        .block_on(async move {
            let closer = uvio::spawn_local(async move {
                uvio::time::sleep(std::time::Duration::from_millis(2)).await;
                r2.close().unwrap();
            });
            let mut buf = [0u8; 4];
            let r = rx.recv_from(&mut buf).await;
            closer.await.unwrap();
            let mut inc = rx.incoming();
            assert!(inc.next().await.is_none());
            r
        })
        .unwrap()
        .unwrap_err();
    assert_eq!(e.name(), "EBADF");
}

#[test]
fn loop_dropped_with_handles_open() {
    let lp = Loop::new().unwrap();
    let rx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let to = rx.local_addr().unwrap();
    rx.recv_start(|_, _| {}).unwrap();
    let tx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let done = Rc::new(Cell::new(None));
    let d = done.clone();
    tx.send_to_cb(vec![5u8; 1000], to, move |r| d.set(Some(r.map(|_| ()))))
        .unwrap();
    let pending = tx.send_to(vec![6u8; 1000], to);
    let q = UdpSocket::bind(&lp, any_port(true)).unwrap();
    lp.spawn_local(async move {
        let mut buf = [0u8; 8];
        let _ = q.recv_from(&mut buf).await;
    });
    drop(lp);
    // The callback ran (sent or cancelled), and the handles are closed.
    assert!(done.take().is_some());
    assert!(rx.is_closing() && tx.is_closing());
    assert_eq!(rx.local_addr().unwrap_err().name(), "EBADF");
    drop(pending);
}

#[test]
fn futures_polled_once_then_dropped() {
    let lp = Loop::new().unwrap();
    let rx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let tx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let to = rx.local_addr().unwrap();
    lp.block_on(async {
        {
            let mut buf = [0u8; 8];
            let mut f = std::pin::pin!(rx.recv_from(&mut buf));
            assert!(futures::poll!(f.as_mut()).is_pending());
            assert!(rx.is_reading());
        }
        // The abandoned receive no longer keeps the socket reading.
        assert!(!rx.is_reading());
        {
            // The send owns its buffer: dropping the future does not stop or corrupt it.
            let mut f = tx.send_to(payload(1, 3000), to);
            let _ = futures::poll!(&mut f);
        }
        let mut buf = [0u8; 4000];
        let (n, _) = rx.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &payload(1, 3000)[..]);
    })
    .unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(tx.send_queue_count(), 0);
    assert_eq!(tx.send_queue_size(), 0);
}

#[test]
fn panicking_callback_is_resumed_from_run() {
    let lp = Loop::new().unwrap();
    let rx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let to = rx.local_addr().unwrap();
    rx.recv_start(|_, _| panic!("recv boom")).unwrap();
    let tx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    tx.try_send_to(b"x", to).unwrap();
    tx.send_to_cb(b"y".to_vec(), to, |_| {}).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"recv boom"));
    // A panicking send callback too.
    tx.send_to_cb(b"z".to_vec(), to, |_| panic!("send boom"))
        .unwrap();
    rx.recv_stop().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"send boom"));
    drop(rx);
    drop(tx);
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn unbound_socket_binds_on_first_send() {
    let lp = Loop::new().unwrap();
    let rx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let to = rx.local_addr().unwrap();
    let tx = UdpSocket::new(&lp).unwrap();
    lp.block_on(async {
        tx.send_to(b"auto".to_vec(), to).await.unwrap();
        let local = tx.local_addr().unwrap();
        assert_ne!(local.port(), 0);
        let mut buf = [0u8; 8];
        let (n, from) = rx.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"auto");
        assert_eq!(from.port(), local.port());
    })
    .unwrap();
}

#[test]
fn receive_errors_reach_the_callback() {
    let lp = Loop::new().unwrap();
    let (gone_addr, _held) = unreachable_port(true);
    let s = UdpSocket::bind(&lp, any_port(true)).unwrap();
    s.connect(gone_addr).unwrap();
    let errs = Rc::new(RefCell::new(Vec::new()));
    let e2 = errs.clone();
    s.recv_start(move |s, res| {
        e2.borrow_mut()
            .push(res.map(|(d, _, _)| d.len()).map_err(|e| e.name()));
        s.recv_stop().unwrap();
    })
    .unwrap();
    s.send_cb(b"anyone?".to_vec(), |r| assert_eq!(r.unwrap(), 7))
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*errs.borrow(), vec![Err("ECONNREFUSED")]);
    let dbg = format!("{s:?}");
    assert!(
        dbg.contains(&format!("peer_addr: Some({gone_addr})")),
        "{dbg}"
    );
}

#[test]
fn idle_socket_lets_the_loop_end() {
    // A task receiving in a loop keeps the socket reading between datagrams; once it is
    // done, nobody waits and the socket stops reading, so `run` returns.
    let lp = Loop::new().unwrap();
    let rx = Rc::new(UdpSocket::bind(&lp, any_port(false)).unwrap());
    let tx = UdpSocket::bind(&lp, any_port(false)).unwrap();
    let to = rx.local_addr().unwrap();
    let r2 = rx.clone();
    let task = lp.spawn_local(async move {
        let mut buf = [0u8; 8];
        let mut got = Vec::new();
        for _ in 0..3 {
            let (n, _) = r2.recv_from(&mut buf).await.unwrap();
            got.push(buf[..n].to_vec());
        }
        got
    });
    for m in [b"a", b"b", b"c"] {
        tx.try_send_to(m, to).unwrap();
    }
    assert!(!lp.run(RunMode::Default).unwrap());
    assert!(!rx.is_reading());
    let got = lp.block_on(task).unwrap().unwrap();
    assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
}
