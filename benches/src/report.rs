//! The parent: runs every variant of every workload, then prints a table per workload
//! (and, with `--markdown`, the table README's Performance section shows).

use std::fmt::Write as _;
use std::path::Path;

use crate::run::{Report, cachegrind, cpus, run_child};
use crate::{Options, Pin, Workload, err, fixture_path};

/// The label of a variant's column.
pub(crate) fn label(key: &str) -> &str {
    match key {
        "c" => "C libuv",
        "callbacks" => "uvio callbacks",
        "futures" => "uvio futures",
        "sync" => "uvio sync",
        "tokio" => "tokio current_thread",
        "std" => "Rust std",
        "node" => "Node.js",
        "uvio" => "hyper on uvio",
        "uvio_flat" => "uvio, not vectored",
        other => other,
    }
}

/// Median and spread ((max - min) / median, NaN for one run) of one figure.
#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    spread: f64,
}

fn stat(mut values: Vec<f64>) -> Stat {
    if values.is_empty() {
        return Stat {
            median: f64::NAN,
            spread: f64::NAN,
        };
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let spread = if n < 2 || median <= 0.0 {
        f64::NAN
    } else {
        (values[n - 1] - values[0]) / median
    };
    Stat { median, spread }
}

/// What one variant of a workload measured.
#[derive(Default)]
struct Figures {
    /// Per run: CPU ns per op, wall ns per op, peak RSS MiB, iterations per op.
    cpu: Vec<f64>,
    wall: Vec<f64>,
    rss: Vec<f64>,
    iter: Vec<f64>,
    events: Vec<f64>,
    seen: Vec<f64>,
    instructions: Option<f64>,
    skipped: Option<String>,
}

impl Figures {
    fn cpu(&self) -> Stat {
        stat(self.cpu.clone())
    }
    fn wall(&self) -> Stat {
        stat(self.wall.clone())
    }
    fn rss(&self) -> Stat {
        stat(self.rss.clone())
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// One workload's results, by variant key (in the workload's order).
struct Measured {
    w: &'static Workload,
    n: u64,
    cg_n: Option<u64>,
    by_variant: Vec<(&'static str, Figures)>,
}

impl Measured {
    fn baseline(&self) -> Option<&Figures> {
        self.by_variant
            .iter()
            .find(|(k, _)| *k == self.w.baseline())
            .map(|(_, f)| f)
    }
}

/// A failed child: the whole error on stderr, its first line in the table (the other
/// variants and workloads still run).
fn failed(e: &str) -> String {
    eprintln!("uvio-bench: {e}");
    format!("failed: {}", e.lines().next().unwrap_or(""))
}

fn measure(w: &'static Workload, opts: &Options, path: &Path) -> Result<Measured, String> {
    let n = if opts.quick { w.n[1] } else { w.n[0] };
    let mut by_variant: Vec<(&'static str, Figures)> = w
        .variants
        .iter()
        .map(|v| (v.key, Figures::default()))
        .collect();
    let two_cpus_missing = w.pin == Pin::TwoCpus && cpus() < 2;
    for run in 0..opts.runs {
        for (key, f) in by_variant.iter_mut() {
            if two_cpus_missing {
                f.skipped = Some("needs two CPUs".into());
                continue;
            }
            eprintln!("  run {}/{}: {} {}", run + 1, opts.runs, w.name, label(key));
            match run_child(w, key, n, path, &[]) {
                Err(e) => f.skipped = Some(failed(&e)),
                Ok((Report::Skipped(why), _)) => f.skipped = Some(why),
                Ok((Report::Done { done, peak_rss }, _)) => {
                    let ops = done.ops.max(1) as f64;
                    f.cpu.push(done.cpu_ns as f64 / ops);
                    f.wall.push(done.wall_ns as f64 / ops);
                    f.rss.push(peak_rss as f64 / MIB);
                    if done.iterations > 0 {
                        f.iter.push(done.iterations as f64 / ops);
                    }
                    if done.events > 0 {
                        f.events.push(done.events as f64);
                        f.seen.push(done.seen as f64);
                    }
                }
            }
        }
    }
    let cg_n = (opts.cachegrind && !two_cpus_missing && !w.timed).then_some(if opts.quick {
        w.n[2].min(w.n[1])
    } else {
        w.n[2]
    });
    if let Some(cg_n) = cg_n {
        for (key, f) in by_variant.iter_mut() {
            // Node.js runs as a grandchild that valgrind does not follow (and V8's JIT
            // under valgrind would not count like for like anyway).
            if *key == "node" || f.skipped.is_some() {
                continue;
            }
            eprintln!("  cachegrind: {} {}", w.name, label(key));
            match cachegrind(w, key, cg_n, path) {
                Ok(ins) => f.instructions = ins,
                Err(e) => f.skipped = Some(failed(&e)),
            }
        }
    }
    Ok(Measured {
        w,
        n,
        cg_n,
        by_variant,
    })
}

fn ratio(x: f64, base: Option<f64>) -> String {
    match base {
        Some(b) if b > 0.0 && x.is_finite() => format!("{:.2}x", x / b),
        _ => String::new(),
    }
}

fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "-".into()
    }
}

/// Loop iterations per operation: two decimals, or four below 0.1 (many operations per
/// iteration).
fn iterations(x: f64) -> String {
    num(x, if x < 0.1 { 4 } else { 2 })
}

fn with_spread(s: Stat, decimals: usize) -> String {
    let mut out = num(s.median, decimals);
    if s.spread.is_finite() {
        let _ = write!(out, " ±{:.0}%", s.spread * 100.0);
    }
    out
}

fn title(m: &Measured, runs: usize) -> String {
    let about = m.w.about.replace("{n}", &m.n.to_string());
    let cg = m.cg_n.map_or("no cachegrind".to_string(), |n| {
        format!(
            "instructions from cachegrind at {} and {n} {}s",
            n / 4,
            m.w.unit
        )
    });
    format!(
        "{}: {about}; per {}, median of {runs} run(s) ±spread; {cg}; ratios to {}",
        m.w.name,
        m.w.unit,
        label(m.w.baseline())
    )
}

fn print_text(m: &Measured, runs: usize) {
    println!("\n{}", title(m, runs));
    let base = m.baseline();
    println!(
        "{:<22}{:>18}{:>22}{:>22}{:>20}{:>9}{:>16}",
        "", "instructions", "CPU ns", "wall ns", "peak RSS MiB", "iter", "events / seen"
    );
    for (key, f) in &m.by_variant {
        if let Some(why) = &f.skipped {
            println!("{:<22}skipped: {why}", label(key));
            continue;
        }
        let cell = |x: String, r: String| {
            if r.is_empty() {
                x
            } else {
                format!("{x} ({r})")
            }
        };
        let ins = f.instructions.unwrap_or(f64::NAN);
        let (cpu, wall, rss) = (f.cpu(), f.wall(), f.rss());
        let events = if f.events.is_empty() {
            String::new()
        } else {
            format!(
                "{:.0} / {:.0}",
                stat(f.events.clone()).median,
                stat(f.seen.clone()).median
            )
        };
        let line = format!(
            "{:<22}{:>18}{:>22}{:>22}{:>20}{:>9}{:>16}",
            label(key),
            cell(num(ins, 0), ratio(ins, base.and_then(|b| b.instructions))),
            cell(
                with_spread(cpu, 0),
                ratio(cpu.median, base.map(|b| b.cpu().median))
            ),
            cell(
                with_spread(wall, 0),
                ratio(wall.median, base.map(|b| b.wall().median))
            ),
            cell(
                with_spread(rss, 1),
                ratio(rss.median, base.map(|b| b.rss().median))
            ),
            iterations(stat(f.iter.clone()).median),
            events,
        );
        println!("{}", line.trim_end());
    }
}

/// Today's date and time, UTC (`2026-12-04 20:41 UTC`).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn print_markdown(all: &[Measured], opts: &Options) {
    let command = format!(
        "cargo run --release -p uvio-bench --{}",
        opts.args.iter().fold(String::new(), |s, a| s + " " + a)
    );
    let (maj, min, patch) = uvio::version();
    println!("\n<!-- generated by `{command}`: do not edit by hand -->");
    println!(
        "`{command}` on {}{}: libuv {maj}.{min}.{patch}, {} CPU(s), median of {} run(s). \
         Ratios are to C libuv doing the same work on the same `libuv.a` (lower is better), \
         or, in a workload without a C variant, to the variant its row names. \
         Instructions per operation are the difference between two runs of the variant's \
         process under `valgrind --tool=cachegrind` (a quarter and all of the cachegrind \
         size); CPU time is the process's (every thread) over the measured phase; peak RSS \
         is the process's `ru_maxrss`; loop iterations are libuv's (`uv_metrics_t`). In \
         `million_async` the instruction count depends on how many sends the loop finds \
         already pending, so on how valgrind schedules the sender thread: compare its CPU \
         time and handles seen.",
        utc_now(),
        git_commit().map_or(String::new(), |c| format!(", commit `{c}`")),
        cpus(),
        opts.runs
    );
    println!();
    println!(
        "| workload | variant | instructions / op | | CPU ns / op | | peak RSS MiB | | \
         loop iterations / op |"
    );
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|");
    for m in all {
        let base = m.baseline();
        let mut about = m.w.about.replace("{n}", &m.n.to_string());
        if m.w.baseline() != "c" {
            let _ = write!(about, "; ratios to {}", label(m.w.baseline()));
        }
        for (i, (key, f)) in m.by_variant.iter().enumerate() {
            let name = if i == 0 {
                format!("`{}`: {about}", m.w.name)
            } else {
                String::new()
            };
            if let Some(why) = &f.skipped {
                println!("| {name} | {} | {why} | | | | | | |", label(key));
                continue;
            }
            let ins = f.instructions.unwrap_or(f64::NAN);
            let (cpu, rss) = (f.cpu().median, f.rss().median);
            // million_async: how many handles the callbacks saw, beside the name.
            let seen = if f.seen.is_empty() {
                String::new()
            } else {
                format!(
                    " (saw {:.0} of {} handles)",
                    stat(f.seen.clone()).median,
                    m.w.arg
                )
            };
            println!(
                "| {name} | {}{seen} | {} | {} | {} | {} | {} | {} | {} |",
                label(key),
                num(ins, 0),
                ratio(ins, base.and_then(|b| b.instructions)),
                num(cpu, 0),
                ratio(cpu, base.map(|b| b.cpu().median)),
                num(rss, 1),
                ratio(rss, base.map(|b| b.rss().median)),
                iterations(stat(f.iter.clone()).median),
            );
        }
    }
    println!("\n<!-- end of the generated table -->");
}

/// Runs the workloads of `opts` and prints their tables.
pub(crate) fn bench(opts: &Options) -> Result<(), String> {
    let (maj, min, patch) = uvio::version();
    println!(
        "uvio-bench: libuv {maj}.{min}.{patch}, {} CPU(s), {} run(s){}{}",
        cpus(),
        opts.runs,
        if opts.quick { ", --quick" } else { "" },
        if opts.cachegrind { ", cachegrind" } else { "" },
    );
    let dir = tempfile::tempdir().map_err(err)?;
    let path = fixture_path(dir.path())?;
    let mut all = Vec::new();
    for w in &opts.workloads {
        let m = measure(w, opts, if w.fixture { &path } else { Path::new("") })?;
        print_text(&m, opts.runs);
        all.push(m);
    }
    if opts.markdown {
        print_markdown(&all, opts);
    }
    Ok(())
}
