//! uvio-bench: uvio (callbacks and futures) against C libuv, in one binary.
//!
//! ```text
//! cargo run --release -p uvio-bench -- [WORKLOAD...] [--quick] [--runs N]
//! ```
//!
//! Workloads: `million_timers`, `loop_count` (default: both). Every variant of every run
//! executes in a child process (this binary, re-executed with a hidden `--child` argument),
//! so each gets a fresh heap and its own peak RSS; the parent interleaves the variants run by
//! run and prints the median of each figure, its spread ((max - min) / median) and its ratio
//! to C. `--quick` scales the workloads down (100,000 timers, 0.5 s loops, one run) so CI can
//! run it in a few seconds.

mod c;
mod clock;
mod loop_count;
mod timers;

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};

/// One way of running a workload.
struct Variant {
    key: &'static str,
    label: &'static str,
    /// The key of the C variant this one is compared with (`None`: it is a reference).
    baseline: Option<&'static str>,
}

const MILLION_TIMERS: &[Variant] = &[
    Variant {
        key: "c",
        label: "C libuv",
        baseline: None,
    },
    Variant {
        key: "c_boxed",
        label: "C, uvio's layout",
        baseline: Some("c"),
    },
    Variant {
        key: "callbacks",
        label: "uvio callbacks",
        baseline: Some("c"),
    },
    Variant {
        key: "futures",
        label: "uvio async",
        baseline: Some("c"),
    },
];

const LOOP_COUNT: &[Variant] = &[
    Variant {
        key: "c_idle",
        label: "C idle ticks",
        baseline: None,
    },
    Variant {
        key: "idle_callbacks",
        label: "uvio callbacks idle ticks",
        baseline: Some("c_idle"),
    },
    Variant {
        key: "idle_async",
        label: "uvio async Idle::tick().await",
        baseline: Some("c_idle"),
    },
    Variant {
        key: "futures",
        label: "uvio async self-wake polls",
        baseline: Some("c_idle"),
    },
    Variant {
        key: "c_timer0",
        label: "C timer(0) re-arms",
        baseline: None,
    },
    Variant {
        key: "callbacks",
        label: "uvio callbacks timer(0) re-arms",
        baseline: Some("c_timer0"),
    },
];

const WORKLOADS: &[(&str, &[Variant])] = &[
    ("million_timers", MILLION_TIMERS),
    ("loop_count", LOOP_COUNT),
];

/// The figures one child reports, by name.
type Figures = BTreeMap<String, f64>;

struct Options {
    workloads: Vec<&'static str>,
    quick: bool,
    runs: usize,
}

impl Options {
    fn timers(&self) -> u64 {
        if self.quick { 100_000 } else { 1_000_000 }
    }

    fn loop_ms(&self) -> u64 {
        if self.quick { 500 } else { 5_000 }
    }

    /// The workload's size parameter, passed to the children.
    fn param(&self, workload: &str) -> u64 {
        match workload {
            "million_timers" => self.timers(),
            _ => self.loop_ms(),
        }
    }
}

fn usage() -> String {
    let names: Vec<_> = WORKLOADS.iter().map(|w| w.0).collect();
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
            w => match WORKLOADS.iter().find(|(name, _)| *name == w) {
                Some((name, _)) => opts.workloads.push(name),
                None => return Err(format!("unknown workload {w:?}\n{}", usage())),
            },
        }
    }
    if opts.workloads.is_empty() {
        opts.workloads = WORKLOADS.iter().map(|w| w.0).collect();
    }
    if opts.runs == 0 {
        opts.runs = if opts.quick { 1 } else { 3 };
    }
    Ok(opts)
}

/// In a child: runs one variant and prints its figures as `UVB name=value ...`.
fn child(spec: &str, param: &str) -> Result<(), String> {
    let param: u64 = param
        .parse()
        .map_err(|_| format!("bad parameter {param}"))?;
    let mut f = Figures::new();
    let secs = |ns: u64| ns as f64 / 1e9;
    match spec {
        "million_timers:c"
        | "million_timers:c_boxed"
        | "million_timers:callbacks"
        | "million_timers:futures" => {
            let p = match spec {
                "million_timers:c" => c::million_timers(param, 0)?,
                "million_timers:c_boxed" => c::million_timers(param, timers::BOX_BYTES)?,
                "million_timers:callbacks" => timers::callbacks(param)?,
                _ => timers::futures(param)?,
            };
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
        "loop_count:c_idle"
        | "loop_count:c_timer0"
        | "loop_count:idle_callbacks"
        | "loop_count:idle_async"
        | "loop_count:callbacks"
        | "loop_count:futures" => {
            let t = match spec {
                "loop_count:c_idle" => c::loop_count_idle(param)?,
                "loop_count:c_timer0" => c::loop_count_timer0(param)?,
                "loop_count:idle_callbacks" => loop_count::idle_callbacks(param)?,
                "loop_count:idle_async" => loop_count::idle_async(param)?,
                "loop_count:callbacks" => loop_count::callbacks(param)?,
                _ => loop_count::futures(param)?,
            };
            let s = secs(t.elapsed_ns);
            f.insert("rate".into(), t.ticks as f64 / s);
            f.insert("cpu_rate".into(), t.ticks as f64 / secs(t.cpu_ns));
            f.insert("iterations".into(), t.loop_iterations as f64 / s);
        }
        _ => return Err(format!("unknown child variant {spec}")),
    }
    f.insert("peak_rss".into(), clock::peak_rss_bytes() as f64 / MIB);
    let line: Vec<String> = f.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("UVB {}", line.join(" "));
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

/// In the parent: runs one variant in a child process and collects its figures.
fn run_child(workload: &str, variant: &str, param: u64) -> Result<Figures, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .arg("--child")
        .arg(format!("{workload}:{variant}"))
        .arg(param.to_string())
        .output()
        .map_err(|e| format!("cannot start child: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{workload}:{variant} failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
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
        .collect()
}

/// Median and spread ((max - min) / median, NaN for a single run) of one figure over the
/// runs.
#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    spread: f64,
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

/// Every run's figures for each variant key.
type Results = BTreeMap<&'static str, Vec<Figures>>;

fn figure(results: &Results, key: &str, name: &str) -> Stat {
    let mut v: Vec<f64> = results[key]
        .iter()
        .filter_map(|f| f.get(name))
        .copied()
        .collect();
    if v.is_empty() {
        return Stat {
            median: f64::NAN,
            spread: 0.0,
        };
    }
    stat(&mut v)
}

fn cell(s: Stat, base: Option<Stat>, decimals: usize) -> String {
    let mut out = format!("{:.*}", decimals, s.median);
    if !s.spread.is_nan() {
        out.push_str(&format!(" ±{:.0}%", s.spread * 100.0));
    }
    if let Some(b) = base {
        out.push_str(&format!(" ({:.2}x)", s.median / b.median));
    }
    out
}

fn print_million_timers(opts: &Options, results: &Results) {
    println!(
        "\nmillion_timers: {} one-shot timers (timer i due after i/1000+1 ms); \
         median of {} run(s) ±spread, (ratio to C)",
        opts.timers(),
        opts.runs
    );
    print!("{:<16}", "");
    for v in MILLION_TIMERS {
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
        for v in MILLION_TIMERS {
            let base = v.baseline.map(|b| figure(results, b, name));
            print!("{:>21}", cell(figure(results, v.key, name), base, decimals));
        }
        println!();
    }
}

fn print_loop_count(opts: &Options, results: &Results) {
    println!(
        "\nloop_count: {:.1} s per variant; millions per wall second and per CPU second, \
         median of {} run(s) ±spread, (ratio to C)",
        opts.loop_ms() as f64 / 1000.0,
        opts.runs
    );
    println!(
        "{:<32}{:>24}{:>24}{:>12}{:>10}",
        "", "M/s (wall)", "M/s (cpu)", "M iter/s", "RSS MiB"
    );
    let millions = |s: Stat| Stat {
        median: s.median / 1e6,
        ..s
    };
    for v in LOOP_COUNT {
        let rate = |name| {
            let base = v.baseline.map(|b| millions(figure(results, b, name)));
            cell(millions(figure(results, v.key, name)), base, 2)
        };
        println!(
            "{:<32}{:>24}{:>24}{:>12.2}{:>10.1}",
            v.label,
            rate("rate"),
            rate("cpu_rate"),
            figure(results, v.key, "iterations").median / 1e6,
            figure(results, v.key, "peak_rss").median,
        );
    }
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
    for &workload in &opts.workloads {
        let variants = WORKLOADS
            .iter()
            .find(|w| w.0 == workload)
            .map_or(&[][..], |w| w.1);
        let mut results = Results::new();
        for run in 0..opts.runs {
            for v in variants {
                eprintln!("  run {}/{}: {workload} {}", run + 1, opts.runs, v.label);
                let f = run_child(workload, v.key, opts.param(workload))?;
                results.entry(v.key).or_default().push(f);
            }
        }
        match workload {
            "million_timers" => print_million_timers(opts, &results),
            _ => print_loop_count(opts, &results),
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [flag, spec, param] if flag == "--child" => child(spec, param),
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
