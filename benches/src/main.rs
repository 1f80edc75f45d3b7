//! uvio-bench: uvio (callbacks and futures) against C libuv, in one binary.
//!
//! ```text
//! cargo run --release -p uvio-bench -- [WORKLOAD...] [--quick] [--runs N]
//! ```
//!
//! Workloads (default: all): `million_timers`, `loop_count`, `fs_stat`, `fs_read`,
//! `tcp_pingpong`, `tcp_pump`, each a row of [`WORKLOADS`]. Every variant of every run
//! executes in a child process (this binary, re-executed with a hidden `--child` argument),
//! so each gets a fresh heap and its own peak RSS; the parent interleaves the variants run by
//! run and prints the median of each figure, its spread ((max - min) / median) and its ratio
//! to C. `--quick` scales the workloads down (one run) so CI can run them in a few seconds.

mod c;
mod clock;
mod fs;
mod fs_read;
mod http;
mod loop_count;
mod node;
mod tcp;
mod timers;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use c::{Phases, Ticks};

/// What a child runs: the workload's size and one shape of it.
#[derive(Debug)]
pub struct Job<'a> {
    /// The workload's name.
    pub workload: &'static str,
    /// The size: timers, stats, file bytes or milliseconds.
    pub param: u64,
    /// The shape: requests in flight, chunk bytes or connections (see [`Shape`]).
    pub arg: u64,
    /// The workload's file (empty when it has none).
    pub path: &'a Path,
}

/// A variant's code.
#[derive(Clone, Copy)]
enum Run {
    /// `million_timers`: phase timings for a number of timers.
    Phases(fn(u64) -> Result<Phases, String>),
    /// Everything else: a count of units (callbacks, stats, bytes, round trips) in a measured
    /// time, once per shape of the workload.
    Count(fn(&Job) -> Result<Ticks, String>),
}

/// One way of running a workload.
struct Variant {
    key: &'static str,
    label: &'static str,
    /// The key of the C variant this one is compared with (`None`: it is a reference).
    baseline: Option<&'static str>,
    run: Run,
}

/// One shape of a counted workload: a column pair of its table.
struct Shape {
    key: &'static str,
    label: &'static str,
    arg: u64,
}

/// The file a workload needs, made once by the parent in a temporary directory.
#[derive(Clone, Copy, PartialEq)]
enum Fixture {
    None,
    /// A small file to stat.
    Small,
    /// A file of `param` bytes to read.
    Sized,
}

struct Workload {
    name: &'static str,
    /// What one run does, for the table's title (given the size parameter).
    about: fn(u64) -> String,
    /// The size parameter: full, `--quick`.
    param: (u64, u64),
    /// The counted unit and its scale in the table (`Count` variants only).
    unit: (&'static str, f64),
    shapes: &'static [Shape],
    fixture: Fixture,
    /// Every run must count exactly `param` units (fs workloads).
    exact: bool,
    /// Show the loop iterations per second (`loop_count`).
    iterations: bool,
    variants: &'static [Variant],
}

const fn v(
    key: &'static str,
    label: &'static str,
    baseline: Option<&'static str>,
    run: Run,
) -> Variant {
    Variant {
        key,
        label,
        baseline,
        run,
    }
}

const C: Option<&str> = Some("c");
const NODE: Variant = v("node", "Node.js", C, Run::Count(node::run));
const SEQ_AND_32: &[Shape] = &[
    Shape {
        key: "seq",
        label: "sequential",
        arg: 1,
    },
    Shape {
        key: "par32",
        label: "32 in flight",
        arg: 32,
    },
];
const CHUNK_64K: &[Shape] = &[Shape {
    key: "seq",
    label: "64 KiB reads",
    arg: 65536,
}];
const ONE_CONN: Shape = Shape {
    key: "c1",
    label: "1 connection",
    arg: 1,
};

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "million_timers",
        about: |n| format!("{n} one-shot timers (timer i due after i/1000+1 ms)"),
        param: (1_000_000, 100_000),
        unit: ("", 1.0),
        shapes: &[],
        fixture: Fixture::None,
        exact: false,
        iterations: false,
        variants: &[
            v(
                "c",
                "C libuv",
                None,
                Run::Phases(|n| c::million_timers(n, 0)),
            ),
            v(
                "c_boxed",
                "C, uvio's layout",
                C,
                Run::Phases(|n| c::million_timers(n, timers::BOX_BYTES)),
            ),
            v(
                "callbacks",
                "uvio callbacks",
                C,
                Run::Phases(timers::callbacks),
            ),
            v("futures", "uvio async", C, Run::Phases(timers::futures)),
        ],
    },
    Workload {
        name: "loop_count",
        about: |ms| format!("{:.1} s per variant", ms as f64 / 1000.0),
        param: (5_000, 500),
        unit: ("M callbacks/s", 1e6),
        shapes: &[Shape {
            key: "rate",
            label: "",
            arg: 0,
        }],
        fixture: Fixture::None,
        exact: false,
        iterations: true,
        variants: &[
            v(
                "c_idle",
                "C idle ticks",
                None,
                Run::Count(|j| c::loop_count_idle(j.param)),
            ),
            v(
                "idle_callbacks",
                "uvio callbacks idle ticks",
                Some("c_idle"),
                Run::Count(|j| loop_count::idle_callbacks(j.param)),
            ),
            v(
                "idle_async",
                "uvio async Idle::tick().await",
                Some("c_idle"),
                Run::Count(|j| loop_count::idle_async(j.param)),
            ),
            v(
                "futures",
                "uvio async self-wake polls",
                Some("c_idle"),
                Run::Count(|j| loop_count::futures(j.param)),
            ),
            v(
                "c_timer0",
                "C timer(0) re-arms",
                None,
                Run::Count(|j| c::loop_count_timer0(j.param)),
            ),
            v(
                "callbacks",
                "uvio callbacks timer(0) re-arms",
                Some("c_timer0"),
                Run::Count(|j| loop_count::callbacks(j.param)),
            ),
        ],
    },
    Workload {
        name: "fs_stat",
        about: |n| format!("{n} stats of one file, one at a time and 32 in flight"),
        param: (1_000_000, 20_000),
        unit: ("k stats/s", 1e3),
        shapes: SEQ_AND_32,
        fixture: Fixture::Small,
        exact: true,
        iterations: false,
        variants: &[
            v("c", "C libuv", None, Run::Count(c::fs_stat)),
            v(
                "callbacks",
                "uvio callbacks",
                C,
                Run::Count(fs::stat_callbacks),
            ),
            v("async", "uvio async", C, Run::Count(fs::stat_async)),
            v("tokio", "tokio", C, Run::Count(fs::stat_tokio)),
            NODE,
        ],
    },
    Workload {
        name: "fs_read",
        about: |bytes| format!("read a {} MiB file (page-cached)", bytes >> 20),
        param: (256 << 20, 16 << 20),
        unit: ("MB/s", 1e6),
        shapes: CHUNK_64K,
        fixture: Fixture::Sized,
        exact: true,
        iterations: false,
        variants: &[
            v("c", "C libuv", None, Run::Count(c::fs_read)),
            v(
                "callbacks",
                "uvio callbacks",
                C,
                Run::Count(fs::read_callbacks),
            ),
            v("async", "uvio async", C, Run::Count(fs::read_async)),
            v("tokio", "tokio", C, Run::Count(fs::read_tokio)),
            NODE,
        ],
    },
    Workload {
        name: "tcp_pingpong",
        about: |ms| format!("64-byte echo round trips over loopback, {ms} ms"),
        param: (2_000, 300),
        unit: ("k round trips/s", 1e3),
        shapes: &[ONE_CONN],
        fixture: Fixture::None,
        exact: false,
        iterations: false,
        variants: &[
            v("c", "C libuv", None, Run::Count(c::tcp_pingpong)),
            v(
                "callbacks",
                "uvio callbacks",
                C,
                Run::Count(tcp::pingpong_callbacks),
            ),
            v("async", "uvio async", C, Run::Count(tcp::pingpong_async)),
        ],
    },
    Workload {
        name: "tcp_pump",
        about: |ms| format!("64 KiB writes over loopback, bytes read by the servers, {ms} ms"),
        param: (2_000, 300),
        unit: ("MB/s", 1e6),
        shapes: &[
            ONE_CONN,
            Shape {
                key: "c100",
                label: "100 connections",
                arg: 100,
            },
        ],
        fixture: Fixture::None,
        exact: false,
        iterations: false,
        variants: &[
            v("c", "C libuv", None, Run::Count(c::tcp_pump)),
            v(
                "callbacks",
                "uvio callbacks",
                C,
                Run::Count(tcp::pump_callbacks),
            ),
            v("async", "uvio async", C, Run::Count(tcp::pump_async)),
        ],
    },
    http::HELLO,
    http::MIB,
];

/// Errors as the bench reports them.
pub fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The figures one child reports, by name.
type Figures = BTreeMap<String, f64>;

struct Options {
    workloads: Vec<&'static Workload>,
    quick: bool,
    runs: usize,
}

impl Options {
    /// The workload's size parameter, passed to the children.
    fn param(&self, w: &Workload) -> u64 {
        if self.quick { w.param.1 } else { w.param.0 }
    }
}

fn usage() -> String {
    let names: Vec<_> = WORKLOADS.iter().map(|w| w.name).collect();
    format!(
        "usage: uvio-bench [WORKLOAD...] [--quick] [--runs N]\nworkloads: {}",
        names.join(", ")
    )
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        workloads: Vec::new(),
        quick: false,
        runs: 0,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--runs" => {
                let n = it.next().ok_or_else(usage)?;
                opts.runs = n
                    .parse()
                    .map_err(|_| format!("bad --runs {n}\n{}", usage()))?;
            }
            "-h" | "--help" => return Err(usage()),
            // `cargo bench` style harness flags are accepted and ignored.
            "--bench" => {}
            w => match WORKLOADS.iter().find(|wl| wl.name == w) {
                Some(wl) => opts.workloads.push(wl),
                None => return Err(format!("unknown workload {w:?}\n{}", usage())),
            },
        }
    }
    if opts.workloads.is_empty() {
        opts.workloads = WORKLOADS.iter().collect();
    }
    if opts.runs == 0 {
        opts.runs = if opts.quick { 1 } else { 3 };
    }
    Ok(opts)
}

/// A child's variant that cannot run here (no `node`): its error starts with this.
pub const SKIP: &str = "skip: ";

/// In a child: runs one variant (every shape of its workload) and prints its figures as
/// `UVB name=value ...`, or `UVB-SKIP reason`.
fn child(spec: &str, param: &str, path: &str) -> Result<(), String> {
    let param: u64 = param
        .parse()
        .map_err(|_| format!("bad parameter {param}"))?;
    let (w, key) = spec.split_once(':').ok_or("bad child spec")?;
    let w = WORKLOADS
        .iter()
        .find(|x| x.name == w)
        .ok_or("unknown workload")?;
    let variant = w
        .variants
        .iter()
        .find(|x| x.key == key)
        .ok_or("unknown variant")?;
    let mut f = Figures::new();
    let secs = |ns: u64| ns as f64 / 1e9;
    match variant.run {
        Run::Phases(run) => {
            let p = run(param)?;
            if p.fired != param || p.closed != param {
                return Err(format!(
                    "{spec}: {} of {param} timers fired, {} closed",
                    p.fired, p.closed
                ));
            }
            let figures = [
                ("init", p.init_ns),
                ("dispatch", p.dispatch_ns),
                ("cleanup", p.cleanup_ns),
                ("total", p.init_ns + p.dispatch_ns + p.cleanup_ns),
                ("init_cpu", p.init_cpu_ns),
                ("dispatch_cpu", p.dispatch_cpu_ns),
                ("cleanup_cpu", p.cleanup_cpu_ns),
                (
                    "total_cpu",
                    p.init_cpu_ns + p.dispatch_cpu_ns + p.cleanup_cpu_ns,
                ),
            ];
            for (name, ns) in figures {
                f.insert(name.into(), secs(ns));
            }
        }
        Run::Count(run) => {
            for shape in w.shapes {
                let job = Job {
                    workload: w.name,
                    param,
                    arg: shape.arg,
                    path: Path::new(path),
                };
                let t = match run(&job) {
                    Err(e) if e.starts_with(SKIP) => {
                        println!("UVB-SKIP skipped, {}", &e[SKIP.len()..]);
                        return Ok(());
                    }
                    t => t?,
                };
                if w.exact && t.ticks != param {
                    return Err(format!("{spec}: counted {} of {param}", t.ticks));
                }
                let s = secs(t.elapsed_ns);
                f.insert(shape.key.into(), t.ticks as f64 / s);
                f.insert(
                    format!("{}_cpu", shape.key),
                    t.ticks as f64 / secs(t.cpu_ns),
                );
                f.insert(format!("{}_iter", shape.key), t.loop_iterations as f64 / s);
            }
        }
    }
    f.insert("peak_rss".into(), clock::peak_rss_bytes() as f64 / MIB);
    let line: Vec<String> = f.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("UVB {}", line.join(" "));
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

/// What a child reported: its figures, or why it skipped.
enum Report {
    Figures(Figures),
    Skipped(String),
}

/// How long a child may run before it is killed and its run reported as hung. The
/// longest full-size child (1,000,000 sequential stats plus 1,000,000 with 32 in flight on
/// a loaded machine) takes about 90 s.
const CHILD_LIMIT: Duration = Duration::from_secs(300);

/// A child that ran past [`CHILD_LIMIT`]: its error starts with this.
const HUNG: &str = "hung: ";

/// Runs `cmd` (called `what` in errors) and returns its output; when it cannot start, the
/// error is `cannot_start` followed by why. Killed after [`CHILD_LIMIT`] (error [`HUNG`]).
pub fn stdout_of(cmd: &mut Command, what: &str, cannot_start: &str) -> Result<String, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cannot_start}{e}"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(err)? {
            break status;
        }
        if start.elapsed() > CHILD_LIMIT {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{HUNG}{what} still running after {CHILD_LIMIT:?}, killed"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |r: Option<&mut dyn Read>| {
        let mut s = String::new();
        r.map(|r| r.read_to_string(&mut s));
        s
    };
    let stdout = read(child.stdout.as_mut().map(|r| r as &mut dyn Read));
    if !status.success() {
        let stderr = read(child.stderr.as_mut().map(|r| r as &mut dyn Read));
        return Err(format!("{what} failed ({status}): {stdout}{stderr}"));
    }
    Ok(stdout)
}

/// In the parent: runs one variant in a child process and collects its figures.
fn run_child(w: &Workload, variant: &str, param: u64, path: &Path) -> Result<Report, String> {
    let workload = w.name;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let stdout = match stdout_of(
        Command::new(exe)
            .arg("--child")
            .arg(format!("{workload}:{variant}"))
            .arg(param.to_string())
            .arg(path),
        &format!("{workload}:{variant}"),
        "cannot start child: ",
    ) {
        // A hung run is reported and left out; the other runs still count.
        Err(e) if e.starts_with(HUNG) => return Ok(Report::Skipped(e)),
        r => r?,
    };
    if let Some(why) = stdout.lines().find_map(|l| l.strip_prefix("UVB-SKIP ")) {
        return Ok(Report::Skipped(why.to_string()));
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("UVB "))
        .ok_or_else(|| format!("{workload}:{variant}: no figures in {stdout:?}"))?;
    line.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').ok_or("malformed figure")?;
            let v: f64 = v.parse().map_err(|_| "malformed number")?;
            Ok((k.to_string(), v))
        })
        .collect::<Result<_, String>>()
        .map(Report::Figures)
}

/// Median and spread ((max - min) / median, NaN for a single run) of one figure over the
/// runs.
#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    spread: f64,
}

impl Stat {
    fn scaled(self, scale: f64) -> Stat {
        Stat {
            median: self.median / scale,
            ..self
        }
    }
}

fn stat(values: &mut [f64]) -> Stat {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    // One run has no spread (NaN: not printed).
    let spread = if n < 2 {
        f64::NAN
    } else if median > 0.0 {
        (values[n - 1] - values[0]) / median
    } else {
        0.0
    };
    Stat { median, spread }
}

/// Every run's figures for each variant key, and why a variant skipped.
#[derive(Default)]
struct Results {
    figures: BTreeMap<&'static str, Vec<Figures>>,
    skipped: BTreeMap<&'static str, String>,
}

fn figure(results: &Results, key: &str, name: &str) -> Stat {
    let mut v: Vec<f64> = results
        .figures
        .get(key)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get(name))
        .copied()
        .collect();
    if v.is_empty() {
        return Stat {
            median: f64::NAN,
            spread: f64::NAN,
        };
    }
    stat(&mut v)
}

fn cell(s: Stat, base: Option<Stat>, decimals: usize) -> String {
    if s.median.is_nan() {
        return "-".into();
    }
    let mut out = format!("{:.*}", decimals, s.median);
    if !s.spread.is_nan() {
        out.push_str(&format!(" ±{:.0}%", s.spread * 100.0));
    }
    if let Some(b) = base {
        out.push_str(&format!(" ({:.2}x)", s.median / b.median));
    }
    out
}

fn print_phases(w: &Workload, results: &Results) {
    print!("{:<16}", "");
    for v in w.variants {
        print!("{:>21}", v.label);
    }
    println!();
    let rows = [
        ("init (s)", "init", 3),
        ("dispatch (s)", "dispatch", 3),
        ("cleanup (s)", "cleanup", 3),
        ("total (s)", "total", 3),
        ("init cpu (s)", "init_cpu", 3),
        ("dispatch cpu (s)", "dispatch_cpu", 3),
        ("cleanup cpu (s)", "cleanup_cpu", 3),
        ("total cpu (s)", "total_cpu", 3),
        ("peak RSS (MiB)", "peak_rss", 1),
    ];
    for (label, name, decimals) in rows {
        print!("{label:<16}");
        for v in w.variants {
            let base = v.baseline.map(|b| figure(results, b, name));
            print!("{:>21}", cell(figure(results, v.key, name), base, decimals));
        }
        println!();
    }
}

/// One row per variant: per shape, the rate per wall second and per CPU second.
fn print_counts(w: &Workload, results: &Results) {
    let (unit, scale) = w.unit;
    let label_width = w.variants.iter().map(|v| v.label.len()).max().unwrap_or(0) + 2;
    print!("{:<label_width$}", "");
    for s in w.shapes {
        let sep = if s.label.is_empty() { "" } else { ", " };
        print!(
            "{:>24}{:>24}",
            format!("{}{sep}wall", s.label),
            format!("{}{sep}cpu", s.label)
        );
    }
    if w.iterations {
        print!("{:>12}", "M iter/s");
    }
    println!("{:>10}", "RSS MiB");
    for v in w.variants {
        print!("{:<label_width$}", v.label);
        for s in w.shapes {
            for name in [s.key.to_string(), format!("{}_cpu", s.key)] {
                let base = v.baseline.map(|b| figure(results, b, &name).scaled(scale));
                print!(
                    "{:>24}",
                    cell(figure(results, v.key, &name).scaled(scale), base, 2)
                );
            }
        }
        if w.iterations {
            let name = format!("{}_iter", w.shapes[0].key);
            print!("{:>12.2}", figure(results, v.key, &name).median / 1e6);
        }
        println!("{:>10.1}", figure(results, v.key, "peak_rss").median);
    }
    println!("({unit}; RSS: peak of the variant's process and its children)");
    for (key, why) in &results.skipped {
        println!("{key}: {why}");
    }
}

/// Makes the workload's file in `dir`.
fn fixture(w: &Workload, param: u64, dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join(w.name);
    match w.fixture {
        Fixture::None => return Ok(PathBuf::new()),
        Fixture::Small => std::fs::write(&path, b"uvio-bench\n"),
        Fixture::Sized => {
            use std::io::Write;
            let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
            let mut f = std::fs::File::create(&path).map_err(err)?;
            (0..param.div_ceil(chunk.len() as u64)).try_for_each(|i| {
                let left = (param - i * chunk.len() as u64).min(chunk.len() as u64);
                f.write_all(&chunk[..left as usize])
            })
        }
    }
    .map_err(err)?;
    Ok(path)
}

fn bench(opts: &Options) -> Result<(), String> {
    println!(
        "uvio-bench: libuv {}.{}.{}, {} CPU(s), {} run(s){}",
        uvio::version().0,
        uvio::version().1,
        uvio::version().2,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        opts.runs,
        if opts.quick { ", --quick" } else { "" }
    );
    let dir = tempfile::tempdir().map_err(err)?;
    for w in &opts.workloads {
        let param = opts.param(w);
        let path = fixture(w, param, dir.path())?;
        let mut results = Results::default();
        for run in 0..opts.runs {
            for v in w.variants {
                eprintln!("  run {}/{}: {} {}", run + 1, opts.runs, w.name, v.label);
                match run_child(w, v.key, param, &path)? {
                    Report::Figures(f) => results.figures.entry(v.key).or_default().push(f),
                    Report::Skipped(why) => {
                        results.skipped.insert(v.label, why);
                    }
                }
            }
        }
        println!(
            "\n{}: {}; median of {} run(s) ±spread, (ratio to C)",
            w.name,
            (w.about)(param),
            opts.runs
        );
        match w.variants.first().map(|v| v.run) {
            Some(Run::Phases(_)) => print_phases(w, &results),
            _ => print_counts(w, &results),
        }
        if w.fixture != Fixture::None {
            std::fs::remove_file(&path).map_err(err)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [flag, spec, param, path] if flag == "--child" => child(spec, param, path),
        [w, rest @ ..] if w == "fs_read_nowait" => fs_read::run(rest),
        _ => parse(&args).and_then(|o| bench(&o)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uvio-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
