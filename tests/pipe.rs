//! Pipe tests: Unix sockets (paths and abstract names), OS pipes, IPC handle passing, bad
//! input, lifecycle.

mod common;

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use futures::{AsyncReadExt, AsyncWriteExt, FutureExt, StreamExt};
use uvio::{Loop, PendingHandle, PipeAddr, PipeListener, PipeStream, RunMode, TcpStream};

fn sock(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// An abstract name unique to this process and test.
fn abstract_name(tag: &str) -> Vec<u8> {
    format!("uvio-test-{}-{tag}", std::process::id()).into_bytes()
}

#[test]
fn echo_callbacks() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "echo.sock");
    let lp = Loop::new().unwrap();
    let l = PipeListener::bind(&lp, &path).unwrap();
    let conns = echo_server!(&l);
    let n = common::scale(20).max(2);
    let done = Rc::new(Cell::new(0));
    let mut clients = Vec::new();
    for id in 0..n {
        let done = done.clone();
        let p2 = path.clone();
        let c = PipeStream::connect_cb(&lp, &path, move |s, r| {
            r.expect("connect");
            assert_eq!(s.peer_addr().unwrap(), PipeAddr::Path(p2));
            assert_eq!(s.local_addr().unwrap(), PipeAddr::Unnamed);
            let msg = common::pattern(id, 1 + id * 997 % 70_000);
            s.write_cb(msg.clone(), |_, r| r.unwrap()).unwrap();
            let mut got = Vec::new();
            s.read_start(move |s, r| {
                got.extend_from_slice(r.unwrap());
                if got.len() == msg.len() {
                    assert!(got == msg);
                    done.set(done.get() + 1);
                    s.close().unwrap();
                }
            })
            .unwrap();
        })
        .unwrap();
        clients.push(c);
    }
    while done.get() < n {
        lp.run(RunMode::Once).unwrap();
    }
    // The server side of a connection: named by the listener's path, peer unnamed.
    let c0 = &conns.borrow()[0];
    if !c0.is_closing() {
        assert_eq!(c0.local_addr().unwrap().as_pathname(), Some(path.as_path()));
        assert_eq!(c0.peer_addr().unwrap(), PipeAddr::Unnamed);
    }
    drop(l);
    drop(clients);
    lp.run(RunMode::Default).unwrap();
    assert!(
        !path.exists(),
        "libuv removes the socket file of a listener it bound"
    );
}

#[test]
fn echo_async_incoming() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "async.sock");
    let lp = Loop::new().unwrap();
    let l = PipeListener::bind_with_backlog(&lp, &path, 64).unwrap();
    let n = common::scale(16).max(2);
    lp.block_on(async move {
        let server = uvio::spawn_local(async move {
            let mut inc = l.incoming();
            let mut tasks = Vec::new();
            for _ in 0..n {
                let s = inc.next().await.unwrap()?;
                tasks.push(uvio::spawn_local(async move {
                    let (rd, mut wr) = s.split();
                    futures::io::copy(rd, &mut wr).await?;
                    wr.close().await
                }));
            }
            for t in tasks {
                t.await.unwrap()?;
            }
            Ok::<(), std::io::Error>(())
        });
        let clients: Vec<_> = (0..n)
            .map(|id| {
                let path = path.clone();
                uvio::spawn_local(async move {
                    let mut c = PipeStream::connect(&path).await?;
                    let msg = common::pattern(id, 100 + id * 4099);
                    c.write_all(&msg).await?;
                    AsyncWriteExt::close(&mut c).await?;
                    let mut back = Vec::new();
                    c.read_to_end(&mut back).await?;
                    assert!(back == msg);
                    Ok::<(), std::io::Error>(())
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap().unwrap();
        }
        server.await.unwrap().unwrap();
    })
    .unwrap();
}

/// A path of exactly `len` bytes inside `dir` (which must be shorter).
fn path_of_len(dir: &Path, len: usize) -> PathBuf {
    let base = dir.as_os_str().len() + 1;
    assert!(len > base, "temp dir too long for a {len}-byte path");
    dir.join("s".repeat(len - base))
}

#[test]
fn local_addr_is_exactly_the_bound_path() {
    let dir = tempfile::tempdir().unwrap();
    let lp = Loop::new().unwrap();
    let base = dir.path().as_os_str().len() + 2;
    // Every length from short to the longest that fits sun_path with its NUL (107).
    for len in (base..=107).step_by(7).chain([106, 107]) {
        let path = path_of_len(dir.path(), len);
        let l = PipeListener::bind(&lp, &path).unwrap();
        let a = l.local_addr().unwrap();
        assert_eq!(a, PipeAddr::Path(path.clone()), "len {len}");
        assert_eq!(a.as_pathname().unwrap().as_os_str().len(), len);
        let c = lp.block_on(PipeStream::connect(&path)).unwrap().unwrap();
        assert_eq!(c.peer_addr().unwrap(), PipeAddr::Path(path.clone()));
        assert!(format!("{l:?}").contains(&*path.to_string_lossy()));
        drop((l, c));
        lp.run(RunMode::Default).unwrap();
    }
    // A path with non-UTF-8 bytes comes back byte for byte.
    use std::os::unix::ffi::OsStrExt;
    let odd = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"\xff\xfe-sock"));
    let l = PipeListener::bind(&lp, &odd).unwrap();
    assert_eq!(l.local_addr().unwrap().as_pathname(), Some(odd.as_path()));
}

#[test]
fn abstract_names() {
    let lp = Loop::new().unwrap();
    // Any bytes, NULs included, up to 107.
    let mut names = vec![abstract_name("a"), b"\0x\0y".to_vec()];
    names[1].extend_from_slice(&abstract_name("nul"));
    let mut long = abstract_name("long");
    long.resize(107, b'z');
    names.push(long);
    for name in names {
        let l = match PipeListener::bind_abstract(&lp, &name) {
            Err(e) if e.is_unsupported() => return,
            r => r.unwrap(),
        };
        assert_eq!(l.local_addr().unwrap(), PipeAddr::Abstract(name.clone()));
        assert_eq!(l.local_addr().unwrap().as_abstract_name(), Some(&name[..]));
        assert!(l.chmod(true, true).is_err(), "no file to chmod");
        // Taken: a second bind fails.
        let e = PipeListener::bind_abstract(&lp, &name).unwrap_err();
        assert_eq!(e.name(), "EADDRINUSE");
        assert!(e.to_string().contains('@'), "{e}");
        let got = lp
            .block_on(async {
                let c = PipeStream::connect_abstract(&name).await?;
                let s = l.accept().await?;
                assert_eq!(c.peer_addr()?, PipeAddr::Abstract(name.clone()));
                assert_eq!(s.local_addr()?, PipeAddr::Abstract(name.clone()));
                c.write(b"abs").await?;
                let mut buf = [0u8; 3];
                (&s).read_exact(&mut buf).await?;
                Ok::<_, std::io::Error>(buf)
            })
            .unwrap()
            .unwrap();
        assert_eq!(&got, b"abs");
        drop(l);
        lp.run(RunMode::Default).unwrap();
    }
    // Callback connect to an abstract name nobody listens on.
    let seen = Rc::new(RefCell::new(None));
    let s2 = seen.clone();
    let _c = PipeStream::connect_abstract_cb(&lp, &abstract_name("nobody"), move |_, r| {
        *s2.borrow_mut() = Some(r)
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    let e = seen.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.name(), "ECONNREFUSED");
    // Too long.
    let e = PipeListener::bind_abstract(&lp, &[b'x'; 108]).unwrap_err();
    assert_eq!(e.name(), "ENAMETOOLONG");
}

#[test]
fn bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let lp = Loop::new().unwrap();
    // Longer than sun_path allows: an error, never a silently truncated path.
    for len in [108, 109, 200, 4000] {
        let long = path_of_len(dir.path(), len);
        let e = PipeListener::bind(&lp, &long).unwrap_err();
        assert_eq!(e.name(), "ENAMETOOLONG", "len {len}");
        let e = PipeStream::connect_cb(&lp, &long, |_, _| panic!("no callback")).unwrap_err();
        assert_eq!(e.name(), "ENAMETOOLONG");
        let e = lp
            .block_on(PipeStream::connect(&long))
            .unwrap()
            .unwrap_err();
        assert_eq!(e.name(), "ENAMETOOLONG");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing bound"
    );
    // A NUL byte, or nothing at all: EINVAL (InvalidInput) before libuv.
    for bad in ["a\0b", ""] {
        let e = PipeListener::bind(&lp, bad).unwrap_err();
        assert_eq!(e.name(), "EINVAL");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let e = lp.block_on(PipeStream::connect(bad)).unwrap().unwrap_err();
        assert_eq!(e.name(), "EINVAL");
    }
    // A missing path: ENOENT, in both styles.
    let missing = sock(&dir, "missing.sock");
    let e = lp
        .block_on(PipeStream::connect(&missing))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.name(), "ENOENT");
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert!(e.to_string().contains("missing.sock"), "{e}");
    let seen = Rc::new(RefCell::new(None));
    let s2 = seen.clone();
    let c = PipeStream::connect_cb(&lp, &missing, move |_, r| *s2.borrow_mut() = Some(r)).unwrap();
    lp.run(RunMode::Default).unwrap();
    let e = seen.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(e.name(), "ENOENT");
    assert!(e.to_string().contains("missing.sock"), "{e}");
    drop(c);
    // A path that exists: EADDRINUSE, for a live socket and for a plain file.
    let live = sock(&dir, "live.sock");
    let _l = PipeListener::bind(&lp, &live).unwrap();
    let e = PipeListener::bind(&lp, &live).unwrap_err();
    assert_eq!(e.name(), "EADDRINUSE");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    let file = sock(&dir, "file");
    std::fs::write(&file, b"not a socket").unwrap();
    assert_eq!(
        PipeListener::bind(&lp, &file).unwrap_err().name(),
        "EADDRINUSE"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"not a socket", "left alone");
    // A file that is not a socket: connecting is refused.
    let e = lp
        .block_on(PipeStream::connect(&file))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.name(), "ECONNREFUSED");
    // A directory that does not exist: EACCES (libuv's mapping of ENOENT for bind).
    let e = PipeListener::bind(&lp, dir.path().join("no/such/dir")).unwrap_err();
    assert_eq!(e.name(), "EACCES");
    drop(_l);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), common::runtime_handles());
}

#[test]
fn chmod_and_pending_instances() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "perm.sock");
    let lp = Loop::new().unwrap();
    let l = PipeListener::bind(&lp, &path).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    l.chmod(true, false).unwrap();
    assert_eq!(mode(&path) & 0o444, 0o444);
    assert_eq!(mode(&path) & 0o022, 0);
    l.chmod(false, true).unwrap();
    assert_eq!(mode(&path) & 0o222, 0o222);
    assert_eq!(l.chmod(false, false).unwrap_err().name(), "EINVAL");
    l.set_pending_instances(4);
    l.close().unwrap();
    assert_eq!(l.chmod(true, true).unwrap_err().name(), "EBADF");
}

#[test]
fn std_conversions_open_and_os_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let lp = Loop::new().unwrap();
    // A std listener and a std stream.
    let path = sock(&dir, "std.sock");
    let std_l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let l = PipeListener::from_std(&lp, std_l).unwrap();
    assert_eq!(l.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    let std_c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let c = PipeStream::from_std(&lp, std_c).unwrap();
    let got = lp
        .block_on(async {
            let s = l.accept().await?;
            c.write(b"std").await?;
            let mut buf = [0u8; 3];
            (&s).read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        })
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"std");
    drop(l);
    lp.run(RunMode::Default).unwrap();
    assert!(
        path.exists(),
        "libuv did not bind it, so it does not remove it"
    );

    // An OS pipe: one way only.
    let (rd, wr) = PipeStream::pipe(&lp).unwrap();
    assert!(rd.is_readable() && !rd.is_writable());
    assert!(wr.is_writable() && !wr.is_readable());
    assert_eq!(rd.local_addr().unwrap_err().name(), "ENOTSOCK");
    assert_eq!(
        uvio::guess_handle(&OwnedFdRef(rd.fileno().unwrap())),
        uvio::HandleType::NamedPipe
    );
    let data = common::pattern(3, 300_000);
    let d2 = data.clone();
    let got = lp
        .block_on(async move {
            let w = uvio::spawn_local(async move {
                wr.write(d2).await?;
                drop(wr);
                Ok::<(), uvio::Error>(())
            });
            let mut all = Vec::new();
            (&rd).read_to_end(&mut all).await?;
            w.await.unwrap()?;
            Ok::<_, std::io::Error>(all)
        })
        .unwrap()
        .unwrap();
    assert!(got == data);

    // open(): a socketpair end from std, and a duplicate of its descriptor.
    let (x, y) = std::os::unix::net::UnixStream::pair().unwrap();
    let px = PipeStream::open(&lp, OwnedFd::from(x)).unwrap();
    let fd = px.fileno().unwrap();
    // SAFETY: duplicating a descriptor we hold open.
    let dup = unsafe { libc::dup(fd) };
    assert!(dup >= 0);
    std::io::Write::write_all(&mut &y, b"hi").unwrap();
    let got = lp
        .block_on(async {
            let mut b = [0u8; 2];
            (&px).read_exact(&mut b).await?;
            Ok::<_, std::io::Error>(b)
        })
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"hi");
    // SAFETY: `dup` is a fresh descriptor we own.
    let dup = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dup) };
    let p2 = PipeStream::open(&lp, dup).unwrap();
    assert!(!p2.is_ipc());
    // socketpair helper
    let (a, b) = PipeStream::pair(&lp).unwrap();
    assert_eq!(a.local_addr().unwrap(), PipeAddr::Unnamed);
    assert_eq!(b.peer_addr().unwrap(), PipeAddr::Unnamed);
    assert!(format!("{a:?}").contains("Unnamed"));
}

/// Borrows a raw descriptor for `guess_handle` (the owner keeps it open meanwhile).
struct OwnedFdRef(i32);
impl std::os::fd::AsFd for OwnedFdRef {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the handle that owns the descriptor outlives this borrow in the test.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.0) }
    }
}

#[test]
fn ipc_passes_a_tcp_connection_and_it_works_after() {
    let lp = Loop::new().unwrap();
    let (client, server_side) = common::tcp_pair(&lp);
    let server_local = server_side.local_addr().unwrap();
    let (a, b) = PipeStream::pair_ipc(&lp).unwrap();
    assert!(a.is_ipc() && b.is_ipc());
    assert_eq!(b.pending_count(), 0);
    assert_eq!(b.accept_pending().unwrap_err().name(), "EAGAIN");
    // Bytes written before the handle is sent are still delivered to the new owner.
    lp.block_on(client.write(b"early")).unwrap().unwrap();
    // Send with a callback; the receiver takes it from its read callback.
    let sent = Rc::new(Cell::new(false));
    let s2 = sent.clone();
    a.write2_cb(b"tcp!", server_side, move |_, r| {
        r.unwrap();
        s2.set(true)
    })
    .unwrap();
    let got: Rc<RefCell<Option<TcpStream>>> = Rc::new(RefCell::new(None));
    let g = got.clone();
    b.read_start(move |b, r| {
        assert_eq!(r.unwrap(), b"tcp!");
        assert_eq!(b.pending_count(), 1);
        match b.accept_pending().unwrap() {
            PendingHandle::Tcp(t) => *g.borrow_mut() = Some(t),
            other => panic!("expected TCP, got {other:?}"),
        }
        assert_eq!(b.pending_count(), 0);
        b.read_stop().unwrap();
    })
    .unwrap();
    while got.borrow().is_none() || !sent.get() {
        lp.run(RunMode::Once).unwrap();
    }
    let moved = got.borrow_mut().take().unwrap();
    // The same connection: same addresses, and it carries bytes both ways.
    assert_eq!(moved.local_addr().unwrap(), server_local);
    assert_eq!(moved.peer_addr().unwrap(), client.local_addr().unwrap());
    let (echoed, early) = lp
        .block_on(async {
            let mut early = [0u8; 5];
            (&moved).read_exact(&mut early).await?;
            client.write(b"ping").await?;
            let mut buf = [0u8; 4];
            (&moved).read_exact(&mut buf).await?;
            moved.write(buf.to_vec()).await?;
            let mut back = [0u8; 4];
            (&client).read_exact(&mut back).await?;
            Ok::<_, std::io::Error>((back, early))
        })
        .unwrap()
        .unwrap();
    assert_eq!(&early, b"early");
    assert_eq!(&echoed, b"ping");
    // The sender's copy was closed after the write: closing the moved one ends the
    // connection for the client.
    drop(moved);
    let n = lp
        .block_on(async { (&client).read(&mut [0u8; 8]).await })
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn ipc_passes_pipes_and_other_descriptors_with_futures() {
    let dir = tempfile::tempdir().unwrap();
    let lp = Loop::new().unwrap();
    let (a, b) = PipeStream::pair_ipc(&lp).unwrap();
    let (x, y) = PipeStream::pair(&lp).unwrap();
    let file_path = dir.path().join("f");
    std::fs::write(&file_path, b"file contents").unwrap();
    let file = std::fs::File::open(&file_path).unwrap();
    lp.block_on(async {
        // Two handles in one go: each arrives with its own bytes.
        let w1 = a.write2(b"1", x);
        let w2 = a.write2(b"2", PendingHandle::Other(OwnedFd::from(file)));
        w1.await?;
        w2.await?;
        let mut buf = [0u8; 2];
        (&b).read_exact(&mut buf).await?;
        assert_eq!(&buf, b"12");
        assert_eq!(b.pending_count(), 2);
        let PendingHandle::Pipe(x2) = b.accept_pending()? else {
            panic!("expected a pipe")
        };
        let PendingHandle::Other(fd) = b.accept_pending()? else {
            panic!("expected a plain descriptor")
        };
        assert_eq!(b.pending_count(), 0);
        let mut f = std::fs::File::from(fd);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s)?;
        assert_eq!(s, "file contents");
        x2.write(b"through x2").await?;
        let mut got = [0u8; 10];
        (&y).read_exact(&mut got).await?;
        assert_eq!(&got, b"through x2");
        Ok::<(), std::io::Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn write2_errors() {
    let lp = Loop::new().unwrap();
    let (p, _q) = PipeStream::pair(&lp).unwrap();
    let (a, _b) = PipeStream::pair_ipc(&lp).unwrap();
    // Not an IPC pipe: EINVAL; the handle is closed, the callback never runs.
    let (x, y) = PipeStream::pair(&lp).unwrap();
    let e = p
        .write2_cb(b"x", x, |_, _| panic!("no callback"))
        .unwrap_err();
    assert_eq!(e.name(), "EINVAL");
    // No bytes: EINVAL.
    let (x, _) = PipeStream::pair(&lp).unwrap();
    let e = lp.block_on(a.write2(b"", x)).unwrap().unwrap_err();
    assert_eq!(e.name(), "EINVAL");
    // A closed handle: EBADF.
    let (x, _) = PipeStream::pair(&lp).unwrap();
    x.close().unwrap();
    let e = lp.block_on(a.write2(b"x", x)).unwrap().unwrap_err();
    assert_eq!(e.name(), "EBADF");
    // The first failure closed `x`: its peer sees the end of the stream.
    let n = lp
        .block_on(async { (&y).read(&mut [0u8; 4]).await })
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);
}

// ----- lifecycle -----

#[test]
fn drop_before_start_and_close_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "l.sock");
    let lp = Loop::new().unwrap();
    let l = PipeListener::bind(&lp, &path).unwrap();
    // A connect whose stream is dropped at once: its callback gets ECANCELED.
    let seen = Rc::new(RefCell::new(None));
    let s2 = seen.clone();
    let c = PipeStream::connect_cb(&lp, &path, move |_, r| *s2.borrow_mut() = Some(r)).unwrap();
    drop(c);
    lp.run(RunMode::NoWait).unwrap();
    let r = seen.borrow_mut().take().expect("connect callback ran");
    assert_eq!(r.unwrap_err().name(), "ECANCELED");
    // Close twice: EBADF; methods on a closed handle: EBADF.
    let (a, b) = PipeStream::pair(&lp).unwrap();
    a.close().unwrap();
    assert_eq!(a.close().unwrap_err().name(), "EBADF");
    assert_eq!(a.write_cb(b"x", |_, _| ()).unwrap_err().name(), "EBADF");
    assert_eq!(a.read_start(|_, _| ()).unwrap_err().name(), "EBADF");
    assert_eq!(a.local_addr().unwrap_err().name(), "EBADF");
    assert_eq!(a.accept_pending().unwrap_err().name(), "EBADF");
    assert_eq!(a.pending_count(), 0);
    assert!(!a.is_ipc());
    assert!(format!("{a:?}").contains("closed"));
    l.close().unwrap();
    assert_eq!(l.close().unwrap_err().name(), "EBADF");
    assert_eq!(l.local_addr().unwrap_err().name(), "EBADF");
    assert!(format!("{l:?}").contains("closed"));
    let next = lp.block_on(async { l.incoming().next().await }).unwrap();
    assert!(next.is_none());
    drop(b);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), common::runtime_handles());
}

#[test]
fn drop_inside_own_callback() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "own.sock");
    let lp = Loop::new().unwrap();
    let l = Rc::new(RefCell::new(Some(PipeListener::bind(&lp, &path).unwrap())));
    let conn: Rc<RefCell<Option<PipeStream>>> = Rc::new(RefCell::new(None));
    let (l2, conn2) = (l.clone(), conn.clone());
    l.borrow()
        .as_ref()
        .unwrap()
        .on_connection(move |_l, c| {
            let c = c.unwrap();
            let me = conn2.clone();
            c.read_start(move |_s, _r| drop(me.borrow_mut().take()))
                .unwrap();
            *conn2.borrow_mut() = Some(c);
            drop(l2.borrow_mut().take());
        })
        .unwrap();
    let client = PipeStream::connect_cb(&lp, &path, |s, r| {
        r.unwrap();
        s.write_cb(b"bye", |_, _| ()).unwrap();
    })
    .unwrap();
    lp.run(RunMode::Once).unwrap();
    while conn.borrow().is_some() || l.borrow().is_some() {
        lp.run(RunMode::Once).unwrap();
    }
    // A stream dropping itself from its own connect callback.
    let l = PipeListener::bind(&lp, sock(&dir, "own2.sock")).unwrap();
    let slot: Rc<RefCell<Option<PipeStream>>> = Rc::new(RefCell::new(None));
    let s2 = slot.clone();
    let c = PipeStream::connect_cb(&lp, sock(&dir, "own2.sock"), move |_, r| {
        r.unwrap();
        drop(s2.borrow_mut().take());
    })
    .unwrap();
    *slot.borrow_mut() = Some(c);
    while slot.borrow().is_some() {
        lp.run(RunMode::Once).unwrap();
    }
    drop((client, l));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), 0);
}

#[test]
fn loop_dropped_with_handles_and_writes_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let lp = Loop::new().unwrap();
    let l = PipeListener::bind(&lp, sock(&dir, "x.sock")).unwrap();
    let (a, _b) = PipeStream::pair_ipc(&lp).unwrap();
    let cancelled = Rc::new(Cell::new(0));
    // The peer never reads: these writes stay queued, one of them carrying a handle.
    for _ in 0..3 {
        let k = cancelled.clone();
        a.write_cb(vec![1u8; 8 << 20], move |_, r| {
            if r.is_err_and(|e| e.name() == "ECANCELED") {
                k.set(k.get() + 1);
            }
        })
        .unwrap();
    }
    let (x, y) = PipeStream::pair(&lp).unwrap();
    let k = cancelled.clone();
    a.write2_cb(b"h", x, move |_, r| {
        if r.is_err_and(|e| e.name() == "ECANCELED") {
            k.set(k.get() + 1);
        }
    })
    .unwrap();
    let w = a.write2(b"f", PipeStream::pair(&lp).unwrap().0);
    drop(w);
    let (rd, _wr) = PipeStream::pipe(&lp).unwrap();
    rd.read_start(|_, _| ()).unwrap();
    drop(lp);
    assert!(cancelled.get() >= 3, "{}", cancelled.get());
    // Values outliving their loop report EBADF.
    assert_eq!(a.write_cb(b"x", |_, _| ()).unwrap_err().name(), "EBADF");
    assert_eq!(l.local_addr().unwrap_err().name(), "EBADF");
    assert_eq!(y.local_addr().unwrap_err().name(), "EBADF");
}

#[test]
fn futures_polled_once_then_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "once.sock");
    let lp = Loop::new().unwrap();
    let l = PipeListener::bind(&lp, &path).unwrap();
    let (a, b) = PipeStream::pair_ipc(&lp).unwrap();
    lp.block_on(async {
        let mut f = PipeStream::connect(&path);
        let _ = (&mut f).now_or_never();
        drop(f);
        let mut acc = l.accept();
        let _ = (&mut acc).now_or_never();
        drop(acc);
        {
            let mut rd = &b;
            let mut buf = [0u8; 4];
            let mut r = rd.read(&mut buf);
            assert!((&mut r).now_or_never().is_none());
        }
        let (x, _y) = PipeStream::pair(&lp).unwrap();
        let w = a.write2(b"keep", x);
        drop(w);
        // Everything still works afterwards: the write happened, the handle arrived.
        let mut buf = [0u8; 4];
        (&b).read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"keep");
        assert!(matches!(
            b.accept_pending().unwrap(),
            PendingHandle::Pipe(_)
        ));
        let c = PipeStream::connect(&path).await.unwrap();
        drop(c);
    })
    .unwrap();
    drop((l, a, b));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), common::runtime_handles());
}

#[test]
fn panicking_callbacks_are_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "boom.sock");
    let lp = Loop::new().unwrap();
    let (a, b) = PipeStream::pair(&lp).unwrap();
    b.read_start(|_, _| panic!("read boom")).unwrap();
    a.write_cb(b"x", |_, _| ()).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"read boom"));
    let l = PipeListener::bind(&lp, &path).unwrap();
    l.on_connection(|_, _| panic!("accept boom")).unwrap();
    let _c = PipeStream::connect_cb(&lp, &path, |_, _| ()).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"accept boom"));
    let _c2 =
        PipeStream::connect_cb(&lp, sock(&dir, "none"), |_, _| panic!("connect boom")).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"connect boom"));
    drop((a, b, l));
    drop(lp);
}
