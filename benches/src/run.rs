//! Child processes: the variants' children (`--child`), the servers (`--server`), CPU
//! pinning, and running a child natively or under cachegrind.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Done, Job, Pin, SKIP, Server, Workload, err, find};

/// Pins this process (and the threads and processes it starts later) to `cpu`.
pub(crate) fn pin_to(cpu: usize) -> Result<(), String> {
    // SAFETY: all-zero is a valid, empty `cpu_set_t`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is checked against the set's size by CPU_SET's callers: below 2 here.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if r == 0 {
        Ok(())
    } else {
        Err(format!(
            "sched_setaffinity({cpu}): {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// The CPUs this process may run on.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The server's CPU for a pinned workload.
fn server_cpu(pin: Pin) -> Option<usize> {
    match pin {
        Pin::Any => None,
        Pin::OneCpu => Some(0),
        Pin::TwoCpus => Some(1),
    }
}

/// `--server echo|sink CPU|-`: the C server of `c/bench.c`, until killed.
pub(crate) fn server(args: &[String]) -> Result<(), String> {
    let [kind, cpu] = args else {
        return Err("usage: --server echo|sink CPU|-".into());
    };
    if let Ok(cpu) = cpu.parse() {
        pin_to(cpu)?;
    }
    crate::c::server(kind == "sink")
}

/// `--child WORKLOAD VARIANT N ARG PATH PORT|-`: runs one variant and prints what it did
/// as `UVB ops wall_ns cpu_ns iterations events seen`, or `UVB-SKIP why`.
pub(crate) fn child(args: &[String]) -> Result<(), String> {
    let [workload, variant, n, arg, path, port] = args else {
        return Err("usage: --child WORKLOAD VARIANT N ARG PATH PORT".into());
    };
    let (w, v) = find(workload, variant)?;
    if w.pin != Pin::Any {
        pin_to(0)?;
    }
    let job = Job {
        workload: w.name,
        n: n.parse().map_err(|_| format!("bad N {n}"))?,
        arg: arg.parse().map_err(|_| format!("bad ARG {arg}"))?,
        path: Path::new(path),
        port: port.parse().ok(),
    };
    match (v.run)(&job) {
        Err(e) if e.starts_with(SKIP) => {
            println!("UVB-SKIP {}", &e[SKIP.len()..]);
            Ok(())
        }
        Err(e) => Err(e),
        Ok(d) => {
            if d.ops != job.n && !w.timed {
                return Err(format!(
                    "{workload}:{variant} did {} of {} operations",
                    d.ops, job.n
                ));
            }
            println!(
                "UVB {} {} {} {} {} {}",
                d.ops, d.wall_ns, d.cpu_ns, d.iterations, d.events, d.seen
            );
            Ok(())
        }
    }
}

/// How long a child may run before it is killed and its run reported as failed.
const CHILD_LIMIT: Duration = Duration::from_secs(600);

/// What a finished child printed and used.
pub(crate) struct Exit {
    pub stdout: String,
    pub stderr: String,
    /// `ru_maxrss` of the child (and of the children it waited for), bytes.
    pub peak_rss: u64,
}

/// Starts `cmd` with piped output, waits for it (`wait4`, for its resource usage), and
/// kills it after [`CHILD_LIMIT`].
pub(crate) fn run_process(cmd: &mut Command, what: &str) -> Result<Exit, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let errs = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let (status, ru) = loop {
        let mut status = 0;
        // SAFETY: all-zero is a valid `rusage`.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our own child, not yet reaped; `status` and `ru` are writable.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break (status, ru);
        }
        if r < 0 {
            return Err(format!("wait4 {what}: {}", std::io::Error::last_os_error()));
        }
        if start.elapsed() > CHILD_LIMIT {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{what} still running after {CHILD_LIMIT:?}, killed"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = errs.join().unwrap_or_default();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!(
            "{what} failed (wait status {status:#x}): {stdout}{stderr}"
        ));
    }
    let kib = if cfg!(target_os = "macos") { 1 } else { 1024 };
    Ok(Exit {
        stdout,
        stderr,
        peak_rss: ru.ru_maxrss as u64 * kib,
    })
}

/// A running server process, killed when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    pub port: u16,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the workload's server (if it has one), pinned as the workload says.
pub(crate) fn start_server(w: &Workload) -> Result<Option<ServerProcess>, String> {
    let kind = match w.server {
        Server::None => return Ok(None),
        Server::Echo => "echo",
        Server::Sink => "sink",
    };
    let cpu = server_cpu(w.pin).map_or("-".to_string(), |c| c.to_string());
    let exe = std::env::current_exe().map_err(err)?;
    let mut child = Command::new(exe)
        .args(["--server", kind, &cpu])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the {kind} server: {e}"))?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no server stdout")?;
    BufReader::new(stdout).read_line(&mut line).map_err(err)?;
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok());
    let mut server = ServerProcess { child, port: 0 };
    server.port = port.ok_or_else(|| format!("the {kind} server said {line:?}"))?;
    Ok(Some(server))
}

/// What one child run reported.
pub(crate) enum Report {
    Done { done: Done, peak_rss: u64 },
    Skipped(String),
}

/// Runs one variant of `w` for `n` operations in a child process (under `valgrind` when
/// `wrapper` is given), with a fresh server.
pub(crate) fn run_child(
    w: &Workload,
    variant: &str,
    n: u64,
    path: &Path,
    wrapper: &[&str],
) -> Result<(Report, String), String> {
    let server = start_server(w)?;
    let port = server
        .as_ref()
        .map_or("-".to_string(), |s| s.port.to_string());
    let exe = std::env::current_exe().map_err(err)?;
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.arg("--child")
        .args([w.name, variant, &n.to_string(), &w.arg.to_string()])
        .arg(path)
        .arg(&port);
    let what = format!("{}:{variant}", w.name);
    let exit = run_process(&mut cmd, &what)?;
    drop(server);
    if let Some(why) = exit
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("UVB-SKIP "))
    {
        return Ok((Report::Skipped(why.to_string()), exit.stderr));
    }
    let line = exit
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("UVB "))
        .ok_or_else(|| format!("{what}: no figures in {:?}", exit.stdout))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().map_err(|_| format!("{what}: bad figure {x:?}")))
        .collect::<Result<_, _>>()?;
    let [ops, wall_ns, cpu_ns, iterations, events, seen] = f[..] else {
        return Err(format!("{what}: printed {line:?}"));
    };
    let done = Done {
        ops,
        wall_ns,
        cpu_ns,
        iterations,
        events,
        seen,
    };
    Ok((
        Report::Done {
            done,
            peak_rss: exit.peak_rss,
        },
        exit.stderr,
    ))
}

/// The instructions valgrind's cachegrind counted in a child's whole process (its
/// `I refs` line).
fn instructions(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        let (_, rest) = l.split_once("I   refs:")?;
        rest.trim().replace(',', "").parse().ok()
    })
}

/// Instructions per operation of one variant: the child runs twice under cachegrind, at
/// `n / 4` and at `n` operations, and the difference of the two whole-process counts over
/// the difference of the operations is the cost of one more operation (process start-up,
/// loop set-up and warm-up cancel out). `None` when the variant skipped.
pub(crate) fn cachegrind(
    w: &Workload,
    variant: &str,
    n: u64,
    path: &Path,
) -> Result<Option<f64>, String> {
    let wrapper = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        // tokio's blocking pool grows past valgrind's default of 500 threads when
        // valgrind runs one thread at a time.
        "--max-threads=2048",
    ];
    let mut counts = Vec::new();
    for size in [n / 4, n] {
        match run_child(w, variant, size, path, &wrapper)? {
            (Report::Skipped(_), _) => return Ok(None),
            (Report::Done { done, .. }, stderr) => {
                let ir = instructions(&stderr).ok_or_else(|| {
                    format!(
                        "{}:{variant}: no instruction count from valgrind: {stderr}",
                        w.name
                    )
                })?;
                counts.push((done.ops, ir));
            }
        }
    }
    let [(ops1, ir1), (ops2, ir2)] = counts[..] else {
        unreachable!("two sizes")
    };
    if ops2 <= ops1 {
        return Err(format!(
            "{}:{variant}: no operations under cachegrind",
            w.name
        ));
    }
    Ok(Some((ir2 as f64 - ir1 as f64) / (ops2 - ops1) as f64))
}
