//! Child processes: real programs (`/bin/sh`, `cat`, `true`, `false`, `sleep`) spawned
//! through libuv, in both styles.
mod common;

use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use std::rc::Rc;

use futures::AsyncReadExt;
use uvio::process::{Child, Command, ExitStatus, Stdio};
use uvio::{Error, Loop, LoopHandle, PipeStream, RunMode};

fn sh(script: &str) -> Command {
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(script);
    c
}

fn current() -> LoopHandle {
    LoopHandle::current().expect("inside a loop")
}

/// Reads a pipe to its end.
async fn read_to_end(p: Option<PipeStream>) -> Vec<u8> {
    let mut out = Vec::new();
    (&p.expect("piped")).read_to_end(&mut out).await.unwrap();
    out
}

/// A loop whose executor handles exist already, and how many handles it has then: tests
/// compare `handle_count` with that after closing what they opened.
fn new_loop() -> (Loop, usize) {
    let lp = Loop::new().unwrap();
    lp.block_on(async {}).unwrap();
    let base = lp.handle_count();
    (lp, base)
}

/// Runs the loop until it has nothing left to do, then checks that every handle the test
/// opened is closed again.
fn all_closed(lp: &Loop, base: usize) {
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), base);
}

fn output_of(lp: &Loop, cmd: &mut Command) -> uvio::process::Output {
    lp.block_on(cmd.output()).unwrap().unwrap()
}

fn status_of(lp: &Loop, cmd: &mut Command) -> ExitStatus {
    lp.block_on(cmd.status()).unwrap().unwrap()
}

#[test]
fn exit_codes() {
    let lp = Loop::new().unwrap();
    let ok = status_of(&lp, &mut Command::new("/bin/true"));
    assert!(ok.success());
    assert_eq!((ok.code(), ok.signal()), (Some(0), None));
    let one = status_of(&lp, &mut Command::new("/bin/false"));
    assert_eq!(one.code(), Some(1));
    assert!(!one.success());
    let s = status_of(&lp, &mut sh("exit 42"));
    assert_eq!(s.code(), Some(42));
    assert_eq!(s.to_string(), "exit status: 42");
    assert_eq!(format!("{s:?}"), "ExitStatus(exit status: 42)");
}

#[test]
fn killed_by_a_signal_then_esrch() {
    let lp = Loop::new().unwrap();
    let child = Command::new("sleep").arg("30").spawn(&lp).unwrap();
    assert_eq!(child.try_wait().unwrap(), None);
    child.kill(libc::SIGTERM).unwrap();
    let s = lp.block_on(child.wait()).unwrap().unwrap();
    assert_eq!(s.signal(), Some(15));
    assert_eq!(s.code(), None);
    assert!(!s.success());
    assert_eq!(s.to_string(), "signal: 15 (SIGTERM)");
    let e = child.kill(libc::SIGTERM).unwrap_err();
    assert_eq!(e.name(), "ESRCH");
    assert!(e.to_string().contains(&child.id().to_string()), "{e}");
    // The free function on the same pid (no longer ours; most likely unused).
    let pid = child.id() as i32;
    let r = uvio::process::kill(pid, 0);
    assert!(r.is_ok() || r.unwrap_err().name() == "ESRCH");
    assert_eq!(
        uvio::process::kill(i32::MAX, 0).unwrap_err().name(),
        "ESRCH"
    );
}

#[test]
fn free_kill_reaches_a_running_child() {
    let lp = Loop::new().unwrap();
    let child = Command::new("sleep").arg("30").spawn(&lp).unwrap();
    uvio::process::kill(child.id() as i32, 0).unwrap();
    uvio::process::kill(child.id() as i32, libc::SIGKILL).unwrap();
    let s = lp.block_on(child.wait()).unwrap().unwrap();
    assert_eq!(s.signal(), Some(libc::SIGKILL));
    assert_eq!(s.to_string(), "signal: 9 (SIGKILL)");
    assert_eq!(child.kill(999).unwrap_err().name(), "ESRCH");
}

#[test]
fn stdout_and_stderr_piped_with_callbacks() {
    let (lp, base) = new_loop();
    let out = Rc::new(RefCell::new(Vec::new()));
    let err = Rc::new(RefCell::new(Vec::new()));
    let eofs = Rc::new(Cell::new(0));
    let status = Rc::new(Cell::new(None));
    let s2 = status.clone();
    let mut child = sh("echo to-out; echo to-err >&2; exit 7")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_cb(&lp, move |c, r| {
            assert!(c.stdout.is_none(), "a view has no pipes");
            s2.set(Some(r.unwrap()));
        })
        .unwrap();
    assert!(child.stdin.is_none());
    let pipes = [(child.stdout.take(), &out), (child.stderr.take(), &err)].map(|(pipe, sink)| {
        let sink = sink.clone();
        let eofs = eofs.clone();
        let pipe = pipe.unwrap();
        pipe.read_start(move |p, r| match r {
            Ok(bytes) => sink.borrow_mut().extend_from_slice(bytes),
            Err(e) => {
                assert_eq!(e.code(), Error::EOF.code());
                eofs.set(eofs.get() + 1);
                p.close().unwrap();
            }
        })
        .unwrap();
        pipe
    });
    lp.run(RunMode::Default).unwrap();
    assert_eq!(status.get().unwrap().code(), Some(7));
    assert_eq!(eofs.get(), 2);
    assert_eq!(&*out.borrow(), b"to-out\n");
    assert_eq!(&*err.borrow(), b"to-err\n");
    assert!(pipes.iter().all(PipeStream::is_closing));
    drop((child, pipes));
    all_closed(&lp, base);
}

#[test]
fn stdout_and_stderr_piped_async() {
    let lp = Loop::new().unwrap();
    let out = output_of(&lp, &mut sh("printf 'a%.0s' $(seq 1 100000); echo e >&2"));
    assert!(out.status.success());
    assert_eq!(out.stdout, vec![b'a'; 100_000]);
    assert_eq!(out.stderr, b"e\n");
    let (o, e, s) = lp
        .block_on(async {
            let mut c = sh("echo x; echo y >&2")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn(&current())
                .unwrap();
            let o = read_to_end(c.stdout.take()).await;
            let e = read_to_end(c.stderr.take()).await;
            (o, e, c.wait().await.unwrap())
        })
        .unwrap();
    assert_eq!(
        (o.as_slice(), e.as_slice(), s.code()),
        (&b"x\n"[..], &b"y\n"[..], Some(0))
    );
}

#[test]
fn stdin_piped_echoed_by_cat() {
    let lp = Loop::new().unwrap();
    let data = common::pattern(3, 300_000);
    let expect = data.clone();
    let (back, status) = lp
        .block_on(async move {
            let mut c = Command::new("/bin/cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn(&current())
                .unwrap();
            let stdin = c.stdin.take().unwrap();
            assert!(stdin.is_writable());
            let writer = uvio::spawn_local(async move {
                stdin.write(data).await.unwrap();
                stdin.shutdown().await.unwrap();
            });
            let back = read_to_end(c.stdout.take()).await;
            writer.await.unwrap();
            (back, c.wait().await.unwrap())
        })
        .unwrap();
    assert!(status.success());
    assert!(back == expect, "cat echoed {} bytes", back.len());
}

#[test]
fn environment_set_removed_cleared_and_inherited() {
    let lp = Loop::new().unwrap();
    let run = |cmd: &mut Command| {
        let out = output_of(&lp, cmd);
        assert!(out.status.success(), "{:?}", out);
        String::from_utf8(out.stdout).unwrap()
    };
    // A variable this process has reaches the child unless removed or cleared.
    let (k, v) = std::env::vars()
        .find(|(k, v)| {
            k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && !v.contains('\n')
                && !v.is_empty()
        })
        .expect("some environment variable");
    let script =
        format!("printf '%s|%s|%s' \"${{{k}-unset}}\" \"${{UVIO_A-unset}}\" \"${{UVIO_B-unset}}\"");
    assert_eq!(
        run(sh(&script).env("UVIO_A", "1").envs([("UVIO_B", "two")])),
        format!("{v}|1|two")
    );
    assert_eq!(
        run(sh(&script)
            .env("UVIO_A", "1")
            .env_remove("UVIO_A")
            .env_remove(&k)),
        "unset|unset|unset"
    );
    assert_eq!(
        run(sh(&script).env_clear().env("UVIO_B", "b")),
        "unset|unset|b"
    );
    // Cleared: nothing at all (sh would set a PATH of its own, env does not).
    assert_eq!(run(Command::new("/usr/bin/env").env_clear()), "");
    assert_eq!(
        run(Command::new("/usr/bin/env").env_clear().env("A", "1")),
        "A=1\n"
    );
}

#[test]
fn current_dir_is_the_childs() {
    let (lp, base) = new_loop();
    let dir = tempfile::tempdir().unwrap();
    let out = output_of(&lp, sh("pwd -P").current_dir(dir.path()));
    let want = dir.path().canonicalize().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim_end(),
        want.to_str().unwrap()
    );
    // A missing directory: the error names it.
    let missing = dir.path().join("missing");
    let e = sh("true").current_dir(&missing).spawn(&lp).unwrap_err();
    assert_eq!(e.name(), "ENOENT");
    assert!(e.to_string().contains(missing.to_str().unwrap()), "{e}");
    all_closed(&lp, base);
}

#[test]
fn stdio_null() {
    let lp = Loop::new().unwrap();
    // stdin null: cat sees the end at once.
    let out = output_of(&lp, sh("cat; echo done").stdin(Stdio::null()));
    assert_eq!(out.stdout, b"done\n");
    // stdout null: nothing comes back, and the child is fine writing.
    let out = output_of(&lp, sh("echo lost && echo kept >&2").stdout(Stdio::null()));
    assert!(out.status.success());
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice()),
        (&b""[..], &b"kept\n"[..])
    );
}

#[test]
fn inherits_a_file_descriptor_and_a_stream() {
    let (lp, base) = new_loop();
    let file = tempfile::NamedTempFile::new().unwrap();
    let s = status_of(&lp, sh("echo into-the-file").stdout(file.reopen().unwrap()));
    assert!(s.success());
    assert_eq!(
        std::fs::read_to_string(file.path()).unwrap(),
        "into-the-file\n"
    );
    // An OwnedFd, as stdin.
    std::fs::write(file.path(), "fed\n").unwrap();
    let fd: std::os::fd::OwnedFd = std::fs::File::open(file.path()).unwrap().into();
    let out = output_of(&lp, Command::new("/bin/cat").stdin(fd));
    assert_eq!(out.stdout, b"fed\n");
    // A uvio stream (UV_INHERIT_STREAM): one end of a pair becomes the child's stdout.
    let (ours, theirs) = PipeStream::pair(&lp).unwrap();
    let mut cmd = sh("echo through-the-pair");
    cmd.stdout(theirs);
    let got = lp
        .block_on(async {
            let child = cmd.spawn(&current()).unwrap();
            assert!(child.wait().await.unwrap().success());
            drop(cmd); // the command held our copy of the other end
            read_to_end(Some(ours)).await
        })
        .unwrap();
    assert_eq!(got, b"through-the-pair\n");
    // A closed stream is refused before anything starts.
    let (a, b) = PipeStream::pair(&lp).unwrap();
    a.close().unwrap();
    let e = sh("true").stdout(a).spawn(&lp).unwrap_err();
    assert_eq!(e.name(), "EBADF");
    drop(b);
    all_closed(&lp, base);
}

#[test]
fn extra_piped_descriptor() {
    let lp = Loop::new().unwrap();
    let got = lp
        .block_on(async {
            let mut c = sh("echo three >&3; echo five >&5")
                .fd(3, Stdio::piped())
                .fd(5, Stdio::piped())
                .spawn(&current())
                .unwrap();
            assert!(c.take_pipe(4).is_none());
            let three = read_to_end(c.take_pipe(3)).await;
            let five = read_to_end(c.take_pipe(5)).await;
            assert!(c.take_pipe(3).is_none());
            assert!(c.wait().await.unwrap().success());
            (three, five)
        })
        .unwrap();
    assert_eq!(got, (b"three\n".to_vec(), b"five\n".to_vec()));
    // Descriptor 4 was left unset: closed in the child.
    let s = status_of(
        &lp,
        sh("echo x >&4").fd(5, Stdio::null()).stderr(Stdio::null()),
    );
    assert!(!s.success());
}

#[test]
fn missing_program_is_enoent_and_cleans_up() {
    let (lp, base) = new_loop();
    for cmd in [
        Command::new("uvio-no-such-program").stdout(Stdio::piped()),
        Command::new("/nonexistent/prog").stdin(Stdio::piped()),
    ] {
        let e = cmd.spawn(&lp).unwrap_err();
        assert_eq!(e.name(), "ENOENT");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let shown = cmd.get_program().to_str().unwrap().to_owned();
        assert!(e.to_string().contains(&shown), "{e}");
    }
    let called = Rc::new(Cell::new(false));
    let c2 = called.clone();
    let e = Command::new("uvio-no-such-program")
        .spawn_cb(&lp, move |_, _| c2.set(true))
        .unwrap_err();
    assert_eq!(e.name(), "ENOENT");
    // A directory is not executable.
    let e = Command::new("/tmp").spawn(&lp).unwrap_err();
    assert_eq!(e.name(), "EACCES");
    // The failed handles (and pipes) close with the loop's next turn.
    assert!(lp.handle_count() > base);
    all_closed(&lp, base);
    assert!(
        !called.get(),
        "a callback of a failed spawn is never called"
    );
}

#[test]
fn nul_bytes_are_einval_before_libuv() {
    let (lp, base) = new_loop();
    let cases: [Command; 6] = [
        Command::new("tr\0ue"),
        {
            let mut c = Command::new("true");
            c.arg("a\0b");
            c
        },
        {
            let mut c = Command::new("true");
            c.env("K\0", "v");
            c
        },
        {
            let mut c = Command::new("true");
            c.env("K", "v\0");
            c
        },
        {
            let mut c = Command::new("true");
            c.env("K=V", "v");
            c
        },
        {
            let mut c = Command::new("true");
            c.current_dir("/t\0mp");
            c
        },
    ];
    for mut c in cases {
        let e = c.spawn(&lp).unwrap_err();
        assert_eq!(e.name(), "EINVAL", "{c:?}");
        assert_eq!(std::io::Error::from(e).kind(), ErrorKind::InvalidInput);
    }
    // Nothing was created.
    assert_eq!(lp.handle_count(), base);
}

#[test]
fn many_concurrent_children_all_reaped() {
    let (lp, base) = new_loop();
    let n = common::scale(100);
    let done = Rc::new(Cell::new(0));
    let mut children = Vec::new();
    for i in 0..n {
        let done = done.clone();
        let c = sh(&format!("exit {}", i % 7))
            .stdin(Stdio::null())
            .spawn_cb(&lp, move |c, r| {
                assert_eq!(r.unwrap().code(), Some((i % 7) as i64));
                assert!(c.id() > 0);
                done.set(done.get() + 1);
            })
            .unwrap();
        children.push(c);
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(done.get(), n);
    for (i, c) in children.iter().enumerate() {
        assert_eq!(c.try_wait().unwrap().unwrap().code(), Some((i % 7) as i64));
        // Reaped: no zombie left with that pid for us.
        // SAFETY: waitpid on a pid with WNOHANG only reads.
        let r = unsafe { libc::waitpid(c.id() as i32, std::ptr::null_mut(), libc::WNOHANG) };
        assert_eq!(r, -1);
    }
    // The futures style, concurrently.
    let codes = lp
        .block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    uvio::spawn_local(async move {
                        sh(&format!("exit {}", i % 5))
                            .status()
                            .await
                            .unwrap()
                            .code()
                    })
                })
                .collect();
            let mut codes = Vec::new();
            for t in tasks {
                codes.push(t.await.unwrap());
            }
            codes
        })
        .unwrap();
    assert_eq!(
        codes,
        (0..n).map(|i| Some((i % 5) as i64)).collect::<Vec<_>>()
    );
    drop(children);
    all_closed(&lp, base);
}

#[test]
fn wait_after_the_exit_and_many_waiters() {
    let lp = Loop::new().unwrap();
    let child = sh("exit 3").spawn(&lp).unwrap();
    // Run until the exit has been reaped, without waiting on it.
    while child.try_wait().unwrap().is_none() {
        lp.run(RunMode::Once).unwrap();
    }
    lp.block_on(async {
        let mut w = child.wait();
        match futures::poll!(&mut w) {
            std::task::Poll::Ready(s) => assert_eq!(s.unwrap().code(), Some(3)),
            std::task::Poll::Pending => panic!("wait after the exit must be ready"),
        }
    })
    .unwrap();
    assert_eq!(lp.block_on(child.wait()).unwrap().unwrap().code(), Some(3));
    // Two futures waiting at once on one child both finish.
    let child = Command::new("sleep").arg("0.05").spawn(&lp).unwrap();
    let (a, b) = lp
        .block_on(futures::future::join(child.wait(), child.wait()))
        .unwrap();
    assert_eq!(a.unwrap(), b.unwrap());
    assert!(format!("{child:?}").contains("exit status: 0"), "{child:?}");
}

#[test]
fn dropped_child_keeps_running_and_is_reaped() {
    let (lp, base) = new_loop();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("done");
    let child = sh(&format!("sleep 0.1; echo done > '{}'", marker.display()))
        .spawn(&lp)
        .unwrap();
    let pid = child.id() as i32;
    drop(child);
    assert_eq!(
        lp.handle_count(),
        base + 1,
        "the handle stays open to reap the child"
    );
    // The loop keeps running until the child exits.
    lp.run(RunMode::Default).unwrap();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "done\n");
    assert_eq!(lp.handle_count(), base);
    // Reaped by libuv: not our child any more.
    // SAFETY: waitpid with WNOHANG only reads.
    let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    assert_eq!(r, -1);
    // With a callback: it still runs after the drop.
    let got = Rc::new(Cell::new(None));
    let g2 = got.clone();
    drop(
        sh("exit 5")
            .spawn_cb(&lp, move |_, r| g2.set(r.unwrap().code()))
            .unwrap(),
    );
    lp.run(RunMode::Default).unwrap();
    assert_eq!(got.get(), Some(5));
    assert_eq!(lp.handle_count(), base);
}

#[test]
fn dropped_in_its_own_exit_callback() {
    let (lp, base) = new_loop();
    let slot: Rc<RefCell<Option<Child>>> = Rc::new(RefCell::new(None));
    let s2 = slot.clone();
    let (guard, drops) = common::DropCount::new();
    let child = sh("exit 0")
        .stdout(Stdio::piped())
        .spawn_cb(&lp, move |c, r| {
            let _guard = guard;
            assert!(r.unwrap().success());
            let owner = s2.borrow_mut().take().expect("owner");
            assert_eq!(owner.id(), c.id());
            drop(owner);
            assert!(c.is_closing());
            assert_eq!(c.try_wait().unwrap_err().name(), "EBADF");
        })
        .unwrap();
    *slot.borrow_mut() = Some(child);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(drops.get(), 1);
    assert_eq!(lp.handle_count(), base);
}

#[test]
fn close_twice_and_close_while_running() {
    let (lp, base) = new_loop();
    let result = Rc::new(RefCell::new(None));
    let r2 = result.clone();
    let child = Command::new("sleep")
        .arg("30")
        .spawn_cb(&lp, move |_, r| *r2.borrow_mut() = Some(r))
        .unwrap();
    let pid = child.id() as i32;
    child.close().unwrap();
    assert_eq!(child.close().unwrap_err().name(), "EBADF");
    assert_eq!(child.kill(libc::SIGTERM).unwrap_err().name(), "EBADF");
    assert_eq!(child.try_wait().unwrap_err().name(), "EBADF");
    assert_eq!(
        lp.block_on(child.wait()).unwrap().unwrap_err().name(),
        "EBADF"
    );
    lp.run(RunMode::Default).unwrap();
    let r = result.borrow_mut().take().expect("callback ran");
    assert_eq!(r.unwrap_err().name(), "ECANCELED");
    assert!(format!("{child:?}").contains("closed"));
    // No longer libuv's to reap: clean up the process ourselves.
    uvio::process::kill(pid, libc::SIGKILL).unwrap();
    // SAFETY: reaping our own child.
    assert_eq!(unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) }, pid);
    drop(child);
    assert_eq!(lp.handle_count(), base);
}

#[test]
fn loop_dropped_with_a_running_child() {
    let lp = Loop::new().unwrap();
    let result = Rc::new(RefCell::new(None));
    let r2 = result.clone();
    let child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::piped())
        .spawn_cb(&lp, move |c, r| {
            assert!(c.is_closing());
            *r2.borrow_mut() = Some(r)
        })
        .unwrap();
    let dropped = Command::new("sleep").arg("30").spawn(&lp).unwrap();
    let pids = [child.id() as i32, dropped.id() as i32];
    drop(dropped);
    drop(lp);
    assert!(child.is_closing());
    assert_eq!(child.kill(libc::SIGTERM).unwrap_err().name(), "EBADF");
    let r = result
        .borrow_mut()
        .take()
        .expect("callback ran at shutdown");
    assert_eq!(r.unwrap_err().name(), "ECANCELED");
    drop(child);
    for pid in pids {
        uvio::process::kill(pid, libc::SIGKILL).unwrap();
        // SAFETY: reaping our own child.
        assert_eq!(unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) }, pid);
    }
}

#[test]
fn wait_polled_once_then_dropped() {
    let lp = Loop::new().unwrap();
    let mut child = Command::new("/bin/cat")
        .stdin(Stdio::piped())
        .spawn(&lp)
        .unwrap();
    lp.block_on(async {
        let mut w = child.wait();
        assert!(futures::poll!(&mut w).is_pending());
        drop(w);
    })
    .unwrap();
    drop(child.stdin.take()); // cat exits
    let s = lp.block_on(child.wait()).unwrap().unwrap();
    assert!(s.success());
}

#[test]
fn panicking_exit_callback_goes_to_run() {
    let (lp, base) = new_loop();
    let child = Command::new("/bin/true")
        .spawn_cb(&lp, |_, _| panic!("exit boom"))
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    let p = r.unwrap_err();
    assert_eq!(common::panic_message(&*p), "exit boom");
    // The status was recorded before the callback ran.
    assert!(child.try_wait().unwrap().unwrap().success());
    drop(child);
    all_closed(&lp, base);
}

#[test]
fn uid_gid_and_detached() {
    let lp = Loop::new().unwrap();
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let r = lp
        .block_on(sh("id -u; id -g").uid(65534).gid(65534).output())
        .unwrap();
    if root {
        assert_eq!(r.unwrap().stdout, b"65534\n65534\n");
    } else {
        assert_eq!(r.unwrap_err().name(), "EPERM");
    }
    // Detached: the child leads its own process group.
    let out = lp
        .block_on(async {
            let mut c = sh("cut -d' ' -f5 /proc/$$/stat")
                .detached(true)
                .stdout(Stdio::piped())
                .spawn(&current())
                .unwrap();
            let out = read_to_end(c.stdout.take()).await;
            assert!(c.wait().await.unwrap().success());
            (c.id(), out)
        })
        .unwrap();
    assert_eq!(String::from_utf8(out.1).unwrap().trim(), out.0.to_string());
}

#[test]
fn command_and_child_debug() {
    // Outside a uvio loop `status`/`output` panic: tests/outside_loop.rs.
    let mut c = sh("true");
    c.stdout(Stdio::piped()).current_dir("/");
    let d = format!("{c:?}");
    assert!(d.contains("/bin/sh") && d.contains("Stdio::piped"), "{d}");
    assert_eq!(c.get_args().count(), 2);
    assert_eq!(c.get_current_dir(), Some(std::path::Path::new("/")));
    uvio::process::disable_stdio_inheritance();
    let lp = Loop::new().unwrap();
    let child = c.spawn(&lp).unwrap();
    let d = format!("{child:?}");
    assert!(d.contains("running") && d.contains("stdout: true"), "{d}");
    assert!(lp.block_on(child.wait()).unwrap().unwrap().success());
}

/// The body of `spawn_failing_before_the_fork_is_closed_safely`, run in a child process of
/// its own (it lowers the descriptor limit, which is process-wide).
#[test]
fn emfile_child() {
    if std::env::var_os("UVIO_PROCESS_EMFILE_CHILD").is_none() {
        return;
    }
    let (lp, base) = new_loop();
    // `a` sits right before the process handle in libuv's handle list.
    let a = uvio::Timer::new(&lp).unwrap();
    let entries = list_len(&lp).unwrap();
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct; setrlimit reads it; this process runs only this
    // test.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = 64;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let mut fill = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        fill.push(f);
    }
    // No descriptor left for the pipe: libuv fails before the fork, on the path that takes
    // the handle off the loop's list.
    let e = Command::new("/bin/true")
        .stdout(Stdio::piped())
        .spawn(&lp)
        .unwrap_err();
    assert_eq!(e.name(), "EMFILE");
    drop(fill);
    // Close `a` after the failed handle: its close callback runs (and its box is freed)
    // before the process handle's, whose removal must then not touch `a`.
    a.close().unwrap();
    let b = uvio::Timer::new(&lp).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(lp.handle_count(), base + 1);
    // The loop's list is intact: libuv's walk sees every handle, a new one included.
    let c = uvio::Timer::new(&lp).unwrap();
    assert_eq!(list_len(&lp), Some(entries + 1), "a gone; b and c in");
    drop((b, c));
    all_closed(&lp, base);
}

/// How many entries libuv's list of the loop's handles has, following `next` from the
/// list head (at most 10 000 steps: `None` when it does not come back to the head).
fn list_len(lp: &Loop) -> Option<usize> {
    // SAFETY: the loop is open and no handle is freed during the walk (this thread only
    // reads); every entry of the list is a live handle's link or the head.
    unsafe {
        let head = &raw mut (*lp.as_raw()).handle_queue;
        let mut q = (*head).next;
        for n in 0..10_000 {
            if q == head {
                return Some(n);
            }
            q = (*q).next;
        }
    }
    None
}

#[test]
fn spawn_failing_before_the_fork_is_closed_safely() {
    let me = std::env::current_exe().unwrap();
    let mut cmd = Command::new(&me);
    cmd.args(["--exact", "emfile_child", "--test-threads=1", "--nocapture"])
        .env("UVIO_PROCESS_EMFILE_CHILD", "1");
    let lp = Loop::new().unwrap();
    let out = output_of(&lp, &mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
fn a_tcp_connection_as_the_childs_stdout() {
    let (lp, base) = new_loop();
    let listener = uvio::TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let got = lp
        .block_on(async move {
            let client = uvio::spawn_local(uvio::TcpStream::connect(addr));
            let server_side = listener.accept().await.unwrap();
            let client = client.await.unwrap().unwrap();
            let mut cmd = sh("echo over tcp");
            cmd.stdout(server_side);
            let child = cmd.spawn(&current()).unwrap();
            assert!(child.wait().await.unwrap().success());
            drop(cmd); // our end of the accepted connection: the client then sees the end
            let mut got = Vec::new();
            (&client).read_to_end(&mut got).await.unwrap();
            got
        })
        .unwrap();
    assert_eq!(got, b"over tcp\n");
    all_closed(&lp, base);
}

/// The number of descriptors this process has open.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1 // the directory's own
}

/// The soft descriptor limit: a number at or above it cannot be a pipe's end here.
fn fd_limit() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
}

/// The body of `piped_descriptor_of_every_number`, in a child process of its own: before
/// the fix, libuv's `abort()` killed the process at `fd(14, ..)`.
#[test]
fn piped_fd_numbers_child() {
    if std::env::var_os("UVIO_PROCESS_FD_NUMBERS_CHILD").is_none() {
        return;
    }
    let (lp, base) = new_loop();
    // First children of both kinds: what is opened once per process or loop (libuv's
    // SIGCHLD pipe, ...) is then open before the count.
    status_of(&lp, Command::new("true").fd(0, Stdio::piped()));
    status_of(&lp, Command::new("true").fd(3, Stdio::piped()));
    let before = open_fds();
    let limit = fd_limit();
    let (mut ok, mut refused) = (0, 0);
    for n in 0..=1023u32 {
        let r = lp.block_on(async move {
            // The child writes its descriptor number to descriptor `n` (for 0-2, which
            // libuv pipes itself, it only runs).
            let mut cmd = if n > 2 {
                let mut c = Command::new("bash");
                c.arg("-c").arg(format!("printf {n} >&{n}"));
                c
            } else {
                Command::new("true")
            };
            let mut child = cmd.fd(n, Stdio::piped()).spawn(&current())?;
            let pipe = child.take_pipe(n);
            let got = if n > 2 {
                read_to_end(pipe).await
            } else {
                drop(pipe);
                n.to_string().into_bytes()
            };
            let status = child.wait().await?;
            Ok::<_, Error>((status, got))
        });
        match r.unwrap() {
            Ok((status, got)) => {
                assert!(status.success(), "fd {n}: {status:?}");
                assert_eq!(String::from_utf8_lossy(&got), n.to_string(), "fd {n}");
                ok += 1;
            }
            // No descriptor of that number can exist here: a typed error, not an abort.
            Err(e) if n as usize >= limit.saturating_sub(1) => {
                assert!(["EMFILE", "EINVAL"].contains(&e.name()), "fd {n}: {e}");
                refused += 1;
            }
            Err(e) => panic!("fd {n}: {e}"),
        }
    }
    assert_eq!(ok + refused, 1024);
    assert!(ok >= limit.min(1024) - 1, "{ok} of 1024 (limit {limit})");
    // Every pipe's child end was closed here (and our end with its stream).
    all_closed(&lp, base);
    assert_eq!(open_fds(), before);
    println!("piped descriptors 0..=1023: {ok} worked, {refused} refused");
}

#[test]
fn piped_descriptor_of_every_number() {
    let me = std::env::current_exe().unwrap();
    let mut cmd = Command::new(&me);
    cmd.args([
        "--exact",
        "piped_fd_numbers_child",
        "--test-threads=1",
        "--nocapture",
    ])
    .env("UVIO_PROCESS_FD_NUMBERS_CHILD", "1");
    let lp = Loop::new().unwrap();
    let out = output_of(&lp, &mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
    assert!(text.contains("piped descriptors 0..=1023: "), "{text}");
    // Above the range: refused before anything starts.
    for n in [1024, 4096, u32::MAX] {
        let e = Command::new("true")
            .fd(n, Stdio::piped())
            .spawn(&lp)
            .unwrap_err();
        assert_eq!(e.name(), "EINVAL", "fd {n}: {e}");
        assert!(e.to_string().contains("above 1023"), "{e}");
    }
}
