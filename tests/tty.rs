//! TTY tests on pseudo-terminals (no real terminal needed): writing, reading, modes,
//! window size, guess_handle, the standard streams (in a child process), lifecycle.

mod common;

use std::cell::RefCell;
use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

use futures::{AsyncReadExt, FutureExt};
use uvio::{Error, HandleType, Loop, RunMode, Tty, TtyMode, guess_handle};

/// A new pseudo-terminal: (master, slave), both open read-write.
fn pty() -> (File, OwnedFd) {
    // SAFETY: plain libc calls on descriptors we create and own; ptsname_r writes into a
    // buffer of the size given.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = File::from_raw_fd(m);
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(s >= 0, "open {:?}", CStr::from_ptr(name.as_ptr()));
        (master, OwnedFd::from_raw_fd(s))
    }
}

fn termios(fd: i32) -> libc::termios {
    // SAFETY: tcgetattr fills a termios for an open terminal descriptor.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(fd, &mut t), 0);
        t
    }
}

/// Sets the terminal size from the master side (`TIOCSWINSZ`).
fn set_winsize(master: &File, cols: u16, rows: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ with a valid winsize on an open terminal descriptor.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    assert_eq!(r, 0);
}

/// Reads exactly `n` bytes from the master side.
fn read_master(m: &mut File, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    m.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn write_through_the_tty_and_output_modes() {
    let (mut master, slave) = pty();
    let lp = Loop::new().unwrap();
    let tty = Tty::new(&lp, slave).unwrap();
    assert!(tty.is_readable() && tty.is_writable());
    // Normal mode: the line discipline turns "\n" into "\r\n".
    lp.block_on(tty.write(b"a\nb")).unwrap().unwrap();
    assert_eq!(read_master(&mut master, 4), b"a\r\nb");
    // IO mode (cfmakeraw): output passes unchanged.
    tty.set_mode(TtyMode::Io).unwrap();
    lp.block_on(tty.write(b"c\nd")).unwrap().unwrap();
    assert_eq!(read_master(&mut master, 3), b"c\nd");
    // Callback style and AsyncWrite.
    tty.write_cb(b"cb", |_, r| r.unwrap()).unwrap();
    lp.run(RunMode::Default).unwrap();
    lp.block_on(async {
        futures::AsyncWriteExt::write_all(&mut &tty, b"aw").await?;
        futures::AsyncWriteExt::flush(&mut &tty).await
    })
    .unwrap()
    .unwrap();
    assert_eq!(read_master(&mut master, 4), b"cbaw");
    tty.set_mode(TtyMode::Normal).unwrap();
}

#[test]
fn modes_round_trip() {
    let (_master, slave) = pty();
    let lp = Loop::new().unwrap();
    let tty = Tty::new(&lp, slave).unwrap();
    let fd = tty.fileno().unwrap();
    let before = termios(fd);
    assert_ne!(before.c_lflag & libc::ICANON, 0);
    assert_ne!(before.c_lflag & libc::ECHO, 0);
    tty.set_mode(TtyMode::Raw).unwrap();
    let raw = termios(fd);
    assert_eq!(raw.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG), 0);
    assert_eq!(raw.c_cc[libc::VMIN], 1);
    tty.set_mode(TtyMode::Normal).unwrap();
    let after = termios(fd);
    assert_eq!(after.c_lflag, before.c_lflag);
    assert_eq!(after.c_iflag, before.c_iflag);
    assert_eq!(after.c_oflag, before.c_oflag);
    // RawVt is Raw on Unix (libuv 1.51+; older ones report UNSUPPORTED).
    match tty.set_mode(TtyMode::RawVt) {
        Ok(()) => assert_eq!(termios(fd).c_lflag & libc::ICANON, 0),
        Err(e) => assert!(e.is_unsupported(), "{e}"),
    }
    // reset_mode restores what the first set_mode saved.
    tty.set_mode(TtyMode::Io).unwrap();
    assert_eq!(termios(fd).c_oflag & libc::OPOST, 0);
    Tty::reset_mode().unwrap();
    assert_eq!(termios(fd).c_lflag, before.c_lflag);
    assert_eq!(termios(fd).c_oflag, before.c_oflag);
    // Closing a tty left in raw mode restores the terminal too.
    tty.set_mode(TtyMode::Raw).unwrap();
    let other_fd = {
        // Another descriptor on the same terminal, to look at it after the close.
        // SAFETY: dup of an open descriptor.
        let d = unsafe { libc::dup(fd) };
        assert!(d >= 0);
        // SAFETY: a fresh descriptor we own.
        unsafe { OwnedFd::from_raw_fd(d) }
    };
    drop(tty);
    lp.run(RunMode::Default).unwrap();
    // (libuv before 1.49 leaves the terminal as it was at close.)
    if common::libuv_at_least((1, 49, 0)) {
        assert_eq!(termios(other_fd.as_raw_fd()).c_lflag, before.c_lflag);
    }
}

#[test]
fn winsize_follows_the_master() {
    let (master, slave) = pty();
    let lp = Loop::new().unwrap();
    let tty = Tty::new(&lp, slave).unwrap();
    for (cols, rows) in [(120u16, 40u16), (80, 24), (1, 1), (500, 300)] {
        set_winsize(&master, cols, rows);
        assert_eq!(tty.winsize().unwrap(), (cols, rows));
    }
    let dbg = format!("{tty:?}");
    assert!(
        dbg.contains("columns: 500") && dbg.contains("rows: 300"),
        "{dbg}"
    );
}

#[test]
fn reading_what_the_master_writes() {
    let (mut master, slave) = pty();
    let lp = Loop::new().unwrap();
    let tty = Tty::new(&lp, slave).unwrap();
    // Normal mode: a whole line at a time (the line discipline buffers until "\n").
    master.write_all(b"hello line\n").unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    tty.read_start(move |t, r| {
        g.borrow_mut().extend_from_slice(r.unwrap());
        if g.borrow().ends_with(b"\n") {
            t.read_stop().unwrap();
        }
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    // Echo is on in normal mode: the master also sees it, but the tty reads the line.
    assert_eq!(&got.borrow()[..], b"hello line\n");
    // Raw mode: bytes come as typed, no line needed; AsyncRead.
    tty.set_mode(TtyMode::Raw).unwrap();
    master.write_all(b"xyz").unwrap();
    let mut buf = [0u8; 3];
    lp.block_on(async { (&tty).read_exact(&mut buf).await })
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"xyz");
    // Many keystrokes.
    let n = common::scale(2000).max(10);
    let data: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
    let d2 = data.clone();
    let writer = std::thread::spawn(move || {
        for chunk in d2.chunks(97) {
            master.write_all(chunk).unwrap();
        }
        master
    });
    let mut all = vec![0u8; n];
    lp.block_on(async { (&tty).read_exact(&mut all).await })
        .unwrap()
        .unwrap();
    assert!(all == data);
    let _master = writer.join().unwrap();
    tty.set_mode(TtyMode::Normal).unwrap();
}

#[test]
fn guess_handle_kinds() {
    let (master, slave) = pty();
    assert_eq!(guess_handle(&slave), HandleType::Tty);
    assert_eq!(guess_handle(&master), HandleType::Tty);
    let (r, _w) = std::io::pipe().unwrap();
    assert_eq!(guess_handle(&r), HandleType::NamedPipe);
    let dir = tempfile::tempdir().unwrap();
    let f = File::create(dir.path().join("f")).unwrap();
    assert_eq!(guess_handle(&f), HandleType::File);
    let null = File::open("/dev/null").unwrap();
    assert_eq!(guess_handle(&null), HandleType::File);
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(guess_handle(&u), HandleType::Udp);
    let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert_eq!(guess_handle(&t), HandleType::Tcp);
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    assert_eq!(guess_handle(&a), HandleType::NamedPipe);
}

#[test]
fn not_a_terminal() {
    let lp = Loop::new().unwrap();
    // A regular file: EINVAL, and the descriptor is closed (it was moved in).
    let dir = tempfile::tempdir().unwrap();
    let f = File::create(dir.path().join("f")).unwrap();
    let e = Tty::new(&lp, OwnedFd::from(f)).unwrap_err();
    assert_eq!(e.name(), "EINVAL");
    // A pipe works as a stream, but has no terminal modes or size.
    let (r, w) = std::io::pipe().unwrap();
    let t = Tty::new(&lp, OwnedFd::from(r)).unwrap();
    assert_eq!(t.winsize().unwrap_err().name(), "ENOTTY");
    assert_eq!(t.set_mode(TtyMode::Raw).unwrap_err().name(), "ENOTTY");
    let mut w = File::from(OwnedFd::from(w));
    w.write_all(b"piped").unwrap();
    drop(w);
    let mut all = Vec::new();
    lp.block_on(async { (&t).read_to_end(&mut all).await })
        .unwrap()
        .unwrap();
    assert_eq!(all, b"piped");
}

/// The child side of `standard_streams_in_a_child`: stdout and stdin are a terminal.
#[test]
fn child_uses_standard_streams() {
    if std::env::var_os("UVIO_TTY_CHILD").is_none() {
        return;
    }
    let lp = Loop::new().unwrap();
    let out = Tty::stdout(&lp).unwrap();
    let (cols, rows) = out.winsize().unwrap();
    lp.block_on(out.write(format!("<<child {cols}x{rows}>>\n")))
        .unwrap()
        .unwrap();
    let input = Tty::stdin(&lp).unwrap();
    input.set_mode(TtyMode::Raw).unwrap();
    let mut key = [0u8; 1];
    lp.block_on(async { (&input).read_exact(&mut key).await })
        .unwrap()
        .unwrap();
    lp.block_on(out.write(format!("<<key {}>>\n", key[0] as char)))
        .unwrap()
        .unwrap();
    let err = Tty::stderr(&lp).unwrap();
    lp.block_on(err.write(b"<<stderr>>\n")).unwrap().unwrap();
    // Reset while the raw-mode handle is open: libuv before 1.49 keeps the descriptor it
    // saved the mode of after the handle closes it, and would then report EBADF.
    Tty::reset_mode().unwrap();
    drop((out, input, err));
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn standard_streams_in_a_child() {
    if std::env::var_os("UVIO_TTY_CHILD").is_some() {
        return;
    }
    let (mut master, slave) = pty();
    set_winsize(&master, 99, 33);
    let exe = std::env::current_exe().unwrap();
    let slave = File::from(slave);
    let mut child = std::process::Command::new(exe)
        .args(["--exact", "child_uses_standard_streams", "--test-threads=1"])
        .env("UVIO_TTY_CHILD", "1")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    // Hang guard: a child stuck on its terminal is killed, so the reads below see the
    // terminal close and the test fails with what the child printed, instead of hanging.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (done, pid) = (done.clone(), libc::pid_t::try_from(child.id()).unwrap());
        let limit = common::patience(std::time::Duration::from_secs(60));
        let deadline = std::time::Instant::now() + limit;
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                if std::time::Instant::now() > deadline {
                    // SAFETY: kill(2) on our child: the test reaps it only after this
                    // thread has been joined, so the pid is still the child's.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        })
    };
    // Read until the child's size line appears, then press a key.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let find = |seen: &[u8], pat: &[u8]| seen.windows(pat.len()).any(|w| w == pat);
    while !find(&seen, b"<<child 99x33>>") {
        let n = master.read(&mut buf).expect("child output");
        assert!(
            n > 0,
            "child ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    master.write_all(b"q").unwrap();
    // Read until the child closes the terminal (EIO on Linux once no slave is open).
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    watchdog.join().unwrap();
    let status = child.wait().unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{text}");
    assert!(text.contains("<<key q>>"), "{text}");
    assert!(text.contains("<<stderr>>"), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

// ----- lifecycle -----

#[test]
fn lifecycle() {
    let lp = Loop::new().unwrap();
    // Drop before start.
    let (_m, slave) = pty();
    drop(Tty::new(&lp, slave).unwrap());
    lp.run(RunMode::Default).unwrap();
    // Close twice; methods on a closed tty.
    let (_m, slave) = pty();
    let t = Tty::new(&lp, slave).unwrap();
    t.close().unwrap();
    assert_eq!(t.close().unwrap_err().name(), "EBADF");
    assert_eq!(t.set_mode(TtyMode::Raw).unwrap_err().name(), "EBADF");
    assert_eq!(t.winsize().unwrap_err().name(), "EBADF");
    assert_eq!(t.write_cb(b"x", |_, _| ()).unwrap_err().name(), "EBADF");
    assert!(format!("{t:?}").contains("closed"));
    lp.run(RunMode::Default).unwrap();
    // Drop inside its own read callback.
    let (mut m, slave) = pty();
    let slot = Rc::new(RefCell::new(Some(Tty::new(&lp, slave).unwrap())));
    let s2 = slot.clone();
    slot.borrow()
        .as_ref()
        .unwrap()
        .read_start(move |_, _| drop(s2.borrow_mut().take()))
        .unwrap();
    m.write_all(b"line\n").unwrap();
    while slot.borrow().is_some() {
        lp.run(RunMode::Once).unwrap();
    }
    // A read future polled once, then dropped; the tty still reads afterwards.
    let (mut m, slave) = pty();
    let t = Tty::new(&lp, slave).unwrap();
    lp.block_on(async {
        let mut buf = [0u8; 4];
        {
            let mut rd = &t;
            let mut f = rd.read(&mut buf);
            assert!((&mut f).now_or_never().is_none());
        }
        m.write_all(b"abc\n").unwrap();
        (&t).read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abc\n");
    })
    .unwrap();
    // A panicking callback is resumed from run.
    t.read_start(|_, _| panic!("tty boom")).unwrap();
    m.write_all(b"z\n").unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"tty boom"));
    // The loop dropped with the tty open, reading, and a write queued.
    t.read_start(|_, _| ()).unwrap();
    t.write_cb(b"late", |_, r| {
        let _ = r;
    })
    .unwrap();
    drop(lp);
    assert_eq!(t.winsize().unwrap_err().name(), "EBADF");
    assert_eq!(
        t.write_cb(b"x", |_, _| ()).unwrap_err().code(),
        Error::EBADF.code()
    );
}
