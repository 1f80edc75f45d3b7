//! Name resolution: localhost and numeric addresses only (no network needed).
mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use uvio::dns::{
    AiFlags, Family, Hints, NiFlags, SockType, getaddrinfo, getaddrinfo_cb, getnameinfo,
    getnameinfo_cb, lookup_host,
};
use uvio::{Loop, RunMode};

#[test]
fn localhost_resolves_to_loopback() {
    let lp = Loop::new().unwrap();
    let found = lp
        .block_on(getaddrinfo(Some("localhost"), Some("80"), Hints::new()))
        .unwrap()
        .unwrap();
    assert!(!found.is_empty());
    for a in &found {
        assert!(a.addr.ip().is_loopback(), "{a:?}");
        assert_eq!(a.addr.port(), 80);
    }
    // Without a socket type each address comes once per type.
    assert!(found.iter().any(|a| a.socktype == SockType::Stream));
    assert!(found.iter().any(|a| a.socktype == SockType::Datagram));
    assert!(
        found
            .iter()
            .any(|a| a.protocol == libc::IPPROTO_TCP && a.socktype == SockType::Stream)
    );
}

#[test]
fn numeric_hosts_families_and_flags() {
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let v4 = getaddrinfo(
            Some("127.0.0.1"),
            Some("8080"),
            Hints::new().socktype(SockType::Stream),
        )
        .await
        .unwrap();
        assert_eq!(v4.len(), 1);
        assert_eq!(v4[0].addr, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());

        let v6 = getaddrinfo(
            Some("::1"),
            None,
            Hints::new()
                .family(Family::Ipv6)
                .socktype(SockType::Datagram),
        )
        .await
        .unwrap();
        assert_eq!(v6.len(), 1);
        assert_eq!(v6[0].addr, "[::1]:0".parse::<SocketAddr>().unwrap());
        assert_eq!(v6[0].socktype, SockType::Datagram);

        // An IPv4 literal asked for as IPv6 only: no such address.
        let e = getaddrinfo(Some("127.0.0.1"), None, Hints::new().family(Family::Ipv6))
            .await
            .unwrap_err();
        assert!(e.name().starts_with("EAI_"), "{e}");

        // NUMERICHOST refuses to look up a name, and says which.
        let e = getaddrinfo(
            Some("localhost"),
            None,
            Hints::new().flags(AiFlags::NUMERICHOST),
        )
        .await
        .unwrap_err();
        assert_eq!(e.name(), "EAI_NONAME");
        assert!(e.to_string().contains("localhost"), "{e}");

        // A service alone, passive: the wildcard address.
        let any = getaddrinfo(
            None,
            Some("9999"),
            Hints::new()
                .family(Family::Ipv4)
                .socktype(SockType::Stream)
                .flags(AiFlags::PASSIVE | AiFlags::NUMERICSERV),
        )
        .await
        .unwrap();
        assert_eq!(any[0].addr, "0.0.0.0:9999".parse::<SocketAddr>().unwrap());

        // CANONNAME fills the first result's canonical name.
        let c = getaddrinfo(
            Some("localhost"),
            None,
            Hints::new()
                .socktype(SockType::Stream)
                .flags(AiFlags::CANONNAME),
        )
        .await
        .unwrap();
        assert!(c[0].canonical_name.is_some(), "{c:?}");
    })
    .unwrap();
}

#[test]
fn bad_arguments_are_errors() {
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let e = getaddrinfo(None, None, Hints::new()).await.unwrap_err();
        assert_eq!(e.name(), "EINVAL");
        let e = getaddrinfo(Some("local\0host"), None, Hints::new())
            .await
            .unwrap_err();
        assert_eq!(e.name(), "EINVAL");
        let e = getaddrinfo(Some("localhost"), Some("no-such-service-xyz"), Hints::new())
            .await
            .unwrap_err();
        assert!(e.name().starts_with("EAI_"), "{e}");
        assert!(e.to_string().contains("no-such-service-xyz"), "{e}");
    })
    .unwrap();
    // Outside a uvio loop it panics: tests/outside_loop.rs.
}

#[test]
fn unresolvable_name_names_itself() {
    // `.invalid` never resolves (RFC 6761); glibc answers from /etc/hosts and then the
    // configured resolvers, which fail at once without a network here.
    let lp = Loop::new().unwrap();
    let r = lp
        .block_on(uvio::time::timeout(
            Duration::from_secs(30),
            getaddrinfo(Some("nonexistent.invalid"), None, Hints::new()),
        ))
        .unwrap();
    match r {
        Ok(res) => {
            let e = res.unwrap_err();
            assert!(e.name().starts_with("EAI_"), "{e}");
            assert!(e.to_string().contains("nonexistent.invalid"), "{e}");
        }
        // A resolver that hangs instead of failing: nothing to check here.
        Err(e) => assert_eq!(e.name(), "ETIMEDOUT"),
    }
}

#[test]
fn getnameinfo_both_styles() {
    let lp = Loop::new().unwrap();
    let n = lp
        .block_on(getnameinfo(
            "[::1]:443".parse().unwrap(),
            NiFlags::NUMERICHOST | NiFlags::NUMERICSERV,
        ))
        .unwrap()
        .unwrap();
    assert_eq!((n.host.as_str(), n.service.as_str()), ("::1", "443"));
    // By name: 127.0.0.1 is in /etc/hosts as localhost, port 53 is "domain" for UDP.
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let req = getnameinfo_cb(
        &lp,
        "127.0.0.1:53".parse().unwrap(),
        NiFlags::DGRAM,
        move |r| *g.borrow_mut() = Some(r),
    )
    .unwrap();
    assert!(!req.is_done());
    lp.run(RunMode::Default).unwrap();
    assert!(req.is_done());
    let n = got.borrow_mut().take().unwrap().unwrap();
    assert!(!n.host.is_empty());
    assert!(!n.service.is_empty());
    assert_eq!(req.cancel().unwrap_err().name(), "EBUSY");
}

#[test]
fn getaddrinfo_callback() {
    let lp = Loop::new().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    for host in ["localhost", "127.0.0.1", "::1", "nope\0"] {
        let g = got.clone();
        let r = getaddrinfo_cb(&lp, Some(host), Some("7"), Hints::new(), move |r| {
            g.borrow_mut().push(r)
        });
        if host.contains('\0') {
            assert_eq!(r.unwrap_err().name(), "EINVAL");
        } else {
            drop(r.unwrap());
        }
    }
    lp.run(RunMode::Default).unwrap();
    let got = got.borrow();
    assert_eq!(got.len(), 3);
    for r in got.iter() {
        let list = r.as_ref().unwrap();
        assert!(list.iter().all(|a| a.addr.port() == 7));
    }
}

#[test]
fn lookup_host_helper() {
    let lp = Loop::new().unwrap();
    lp.block_on(async {
        let v: Vec<_> = lookup_host("localhost:80").await.unwrap().collect();
        assert!(!v.is_empty());
        assert!(v.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
        // Stream sockets only: no duplicates.
        let mut d = v.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), v.len());
        let v: Vec<_> = lookup_host("127.0.0.1:1").await.unwrap().collect();
        assert_eq!(v, vec!["127.0.0.1:1".parse().unwrap()]);
        let v: Vec<_> = lookup_host("[::1]:2").await.unwrap().collect();
        assert_eq!(v, vec!["[::1]:2".parse().unwrap()]);
        for bad in ["localhost", "localhost:99999", ":80"] {
            assert_eq!(lookup_host(bad).await.unwrap_err().name(), "EINVAL");
        }
    })
    .unwrap();
}

/// Occupies every threadpool thread until the returned sender is dropped, so lookups
/// submitted meanwhile stay queued. Returns `None` if the pool could not be filled (other
/// work in this process holds threads).
fn fill_threadpool(lp: &Loop) -> Option<Vec<mpsc::Sender<()>>> {
    let threads = std::env::var("UV_THREADPOOL_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4usize);
    let (started_tx, started_rx) = mpsc::channel();
    let mut release = Vec::new();
    for _ in 0..threads {
        let (tx, rx) = mpsc::channel::<()>();
        let s = started_tx.clone();
        release.push(tx);
        drop(uvio::queue_work(
            lp,
            move || {
                // The test may have given up waiting (and dropped the receiver).
                let _ = s.send(());
                let _ = rx.recv();
            },
            |_| {},
        ));
    }
    for _ in 0..threads {
        started_rx
            .recv_timeout(common::patience(Duration::from_secs(10)))
            .ok()?;
    }
    Some(release)
}

#[test]
fn cancel_and_drop_in_flight() {
    let lp = Loop::new().unwrap();
    let Some(release) = fill_threadpool(&lp) else {
        return;
    };
    // A queued lookup cancelled explicitly: its callback gets EAI_CANCELED.
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let req = getaddrinfo_cb(&lp, Some("localhost"), None, Hints::new(), move |r| {
        *g.borrow_mut() = Some(r)
    })
    .unwrap();
    req.cancel().unwrap();
    let g2 = Rc::new(RefCell::new(None));
    let g3 = g2.clone();
    let name_req = getnameinfo_cb(
        &lp,
        "127.0.0.1:1".parse().unwrap(),
        NiFlags::empty(),
        move |r| *g3.borrow_mut() = Some(r),
    )
    .unwrap();
    name_req.cancel().unwrap();
    // Futures polled once then dropped: the drop cancels them; the completion callback
    // frees everything (checked by the valgrind pass).
    lp.block_on(async {
        let mut a = getaddrinfo(Some("localhost"), Some("80"), Hints::new());
        assert!(futures::poll!(&mut a).is_pending());
        drop(a);
        let mut n = getnameinfo("[::1]:80".parse().unwrap(), NiFlags::empty());
        assert!(futures::poll!(&mut n).is_pending());
        drop(n);
        let mut l = lookup_host("localhost:1");
        assert!(futures::poll!(&mut l).is_pending());
        drop(l);
    })
    .unwrap();
    drop(release);
    lp.run(RunMode::Default).unwrap();
    let e = got.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.name(), "EAI_CANCELED");
    assert!(e.to_string().contains("localhost"), "{e}");
    assert_eq!(
        g2.borrow_mut().take().unwrap().unwrap_err().name(),
        "EAI_CANCELED"
    );
    drop(req);
    // Lookups still work afterwards.
    let v: Vec<_> = lp
        .block_on(lookup_host("localhost:5"))
        .unwrap()
        .unwrap()
        .collect();
    assert!(!v.is_empty());
}

#[test]
fn loop_dropped_with_lookups_in_flight() {
    let lp = Loop::new().unwrap();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let _req = getaddrinfo_cb(&lp, Some("localhost"), None, Hints::new(), move |r| {
        *g.borrow_mut() = Some(r.is_ok())
    })
    .unwrap();
    lp.spawn_local(async {
        let _ = getaddrinfo(Some("localhost"), Some("1"), Hints::new()).await;
    });
    drop(lp);
    // Shutdown waits for requests in flight: the callback ran.
    assert!(got.borrow().is_some());
}

#[test]
fn panicking_callback_is_resumed() {
    let lp = Loop::new().unwrap();
    getaddrinfo_cb(&lp, Some("127.0.0.1"), None, Hints::new(), |_| {
        panic!("dns boom")
    })
    .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"dns boom"));
    let a = format!("{:?}", getaddrinfo(Some("x"), None, Hints::new()));
    assert!(a.contains("not started"), "{a}");
}
