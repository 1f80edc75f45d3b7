//! uvio-bench: the work of libuv's own `test/benchmark-*.c`, done by C libuv, uvio
//! (callbacks and futures), tokio and Node.js, compared by instruction counts, CPU time and
//! peak memory.
//!
//! ```text
//! cargo run --release -p uvio-bench -- [WORKLOAD...] [--quick] [--runs N]
//!     [--cachegrind | --no-cachegrind] [--markdown]
//! ```
//!
//! Every workload is a [`Workload`] in [`WORKLOADS`]: a fixed number of operations and one
//! function per variant. Each variant of each run executes in a child process (this
//! binary, re-executed with a hidden `--child` argument), which reports the CPU time of the
//! measured phase; the parent takes the child's peak RSS from `wait4`. The instruction
//! count of each variant comes from two more runs of the child under
//! `valgrind --tool=cachegrind` at a smaller size (see `run::cachegrind`). Clients of the
//! TCP workloads talk to a separate server process (this binary again, `--server`,
//! running the C echo or sink server of `c/bench.c`), the same for every variant. The
//! `http_*` workloads are timed instead ([`Workload::timed`]): hyper on tokio (their
//! baseline), on uvio, loaded by `wrk` for a fixed time; rows skip without `wrk`.
//!
//! `uvio-bench fs_read_nowait [--quick] [--runs N] [--dir DIR]` is a separate table (see
//! `fs_read.rs`): file reads with and without uvio's `RWF_NOWAIT` fast path.

mod asyncs;
mod c;
mod clock;
mod fs;
mod fs_read;
mod http;
mod loop_count;
mod node;
mod report;
mod run;
mod tcp;
mod timers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Every workload: a new workload is one line here (and its module's `mod` line above).
const WORKLOADS: &[&Workload] = &[
    &tcp::PING_PONG_1CPU,
    &tcp::PING_PONG_2CPU,
    &tcp::PUMP,
    &timers::MILLION_TIMERS,
    &loop_count::LOOP_COUNT,
    &fs::FS_STAT_SYNC,
    &fs::FS_STAT_32,
    &asyncs::MILLION_ASYNC,
    &asyncs::ASYNC1,
    &asyncs::QUEUE_WORK,
    &http::HELLO,
    &http::MIB,
];

/// What a variant's child process is asked to do.
#[derive(Debug)]
pub(crate) struct Job<'a> {
    /// The workload's name.
    pub workload: &'static str,
    /// The operations to do (round trips, writes, timers, ticks, stats, sends, jobs).
    pub n: u64,
    /// The workload's shape argument ([`Workload::arg`]).
    pub arg: u64,
    /// The workload's file ([`Workload::fixture`]; empty when it has none).
    pub path: &'a Path,
    /// The port of the workload's server on 127.0.0.1 ([`Workload::server`]).
    pub port: Option<u16>,
}

impl Job<'_> {
    /// The address of the workload's server.
    pub fn server(&self) -> Result<SocketAddr, String> {
        self.port
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .ok_or_else(|| "this workload has no server".into())
    }
}

/// What a variant did in its measured phase. Filled by the C variants too: mirrors
/// `uvb_result` in `c/bench.c`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Done {
    /// Operations done.
    pub ops: u64,
    /// Wall-clock nanoseconds.
    pub wall_ns: u64,
    /// Process CPU nanoseconds (user + system, every thread).
    pub cpu_ns: u64,
    /// Loop iterations (`uv_metrics_t.loop_count`), 0 when not known (tokio, Node.js).
    pub iterations: u64,
    /// `million_async`: callbacks run.
    pub events: u64,
    /// `million_async`: handles whose callback ran at least once.
    pub seen: u64,
}

/// A variant's code: the job's work, and what it did.
pub(crate) type RunFn = fn(&Job) -> Result<Done, String>;

/// One way of doing a workload. The key names its column: `c` (the baseline every ratio is
/// to, when the workload has one), `callbacks`, `futures`, `sync`, `tokio`, `std`, `node`,
/// and hyper's `uvio` and `uvio_flat`.
#[derive(Clone, Copy)]
pub(crate) struct Variant {
    pub key: &'static str,
    pub run: RunFn,
}

/// A variant (for the workload tables).
pub(crate) const fn v(key: &'static str, run: RunFn) -> Variant {
    Variant { key, run }
}

/// The server process a workload's clients talk to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Server {
    None,
    /// Echoes what it reads (libuv's echo helper).
    Echo,
    /// Reads and discards (benchmark-pump's server).
    Sink,
}

/// Where the client and its server run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Pin {
    /// Wherever the scheduler puts them.
    Any,
    /// Both on CPU 0.
    OneCpu,
    /// The client on CPU 0, the server on CPU 1.
    TwoCpus,
}

/// One row group of the table: libuv's work, and the variants doing it.
pub(crate) struct Workload {
    /// The name on the command line and in the tables.
    pub name: &'static str,
    /// What one run does (for the table's title; `{n}` is replaced by the size).
    pub about: &'static str,
    /// The operation counted ("round trip", "timer", ...).
    pub unit: &'static str,
    /// Operations: full run, `--quick` run, the larger of the two cachegrind runs (the
    /// smaller one does a quarter).
    pub n: [u64; 3],
    /// The shape (requests in flight, async handles), passed to every variant.
    pub arg: u64,
    pub server: Server,
    pub pin: Pin,
    /// The workload needs a small file (made by the parent), passed as [`Job::path`].
    pub fixture: bool,
    /// `n` is milliseconds of load, not operations: a variant reports the operations it
    /// did in that time (`http_*`, loaded by `wrk`). No cachegrind counts for these.
    pub timed: bool,
    /// The first is the baseline of the ratios when there is no `c` variant.
    pub variants: &'static [Variant],
}

impl Workload {
    /// The key of the variant the ratios are to: `c`, or the first variant without one.
    pub(crate) fn baseline(&self) -> &'static str {
        match self.variants.iter().find(|v| v.key == "c") {
            Some(v) => v.key,
            None => self.variants.first().map_or("c", |v| v.key),
        }
    }
}

/// Errors as the bench reports them.
pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A child's variant that cannot run here (no `node`, one CPU): its error starts with this.
pub(crate) const SKIP: &str = "skip: ";

/// The command-line options of a bench run.
pub(crate) struct Options {
    pub workloads: Vec<&'static Workload>,
    pub quick: bool,
    pub runs: usize,
    pub cachegrind: bool,
    pub markdown: bool,
    /// The arguments, as given (for the markdown table's command line).
    pub args: Vec<String>,
}

fn usage() -> String {
    let names: Vec<_> = WORKLOADS.iter().map(|w| w.name).collect();
    format!(
        "usage: uvio-bench [WORKLOAD...] [--quick] [--runs N] [--cachegrind | --no-cachegrind] \
         [--markdown]\nworkloads: {}",
        names.join(", ")
    )
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        workloads: Vec::new(),
        quick: false,
        runs: 0,
        cachegrind: true,
        markdown: false,
        args: args.to_vec(),
    };
    let mut cachegrind = None;
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
            "--cachegrind" => cachegrind = Some(true),
            "--no-cachegrind" => cachegrind = Some(false),
            "--markdown" => opts.markdown = true,
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
        opts.workloads = WORKLOADS.to_vec();
    }
    if opts.runs == 0 {
        opts.runs = if opts.quick { 1 } else { 3 };
    }
    // `--quick` (CI) skips cachegrind unless asked for.
    opts.cachegrind = cachegrind.unwrap_or(!opts.quick);
    Ok(opts)
}

/// Finds a workload and one of its variants by name.
pub(crate) fn find(workload: &str, variant: &str) -> Result<(&'static Workload, Variant), String> {
    let w = WORKLOADS
        .iter()
        .find(|w| w.name == workload)
        .ok_or_else(|| format!("unknown workload {workload}"))?;
    let v = w
        .variants
        .iter()
        .find(|v| v.key == variant)
        .ok_or_else(|| format!("unknown variant {workload}:{variant}"))?;
    Ok((w, *v))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--child") => run::child(&args[1..]),
        Some("--server") => run::server(&args[1..]),
        // Not a `Workload`: one process reading one file many ways, see `fs_read.rs`.
        Some("fs_read_nowait") => fs_read::run(&args[1..]),
        _ => parse(&args).and_then(|o| report::bench(&o)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uvio-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The directory for the workloads' files.
pub(crate) fn fixture_path(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join("stat-me");
    std::fs::write(&path, b"uvio-bench\n").map_err(err)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::WORKLOADS;

    #[test]
    fn every_workload_has_its_baseline_and_unique_names() {
        for (i, w) in WORKLOADS.iter().enumerate() {
            let base = w.baseline();
            assert!(w.variants.iter().any(|v| v.key == base), "{}", w.name);
            assert!(
                WORKLOADS[..i].iter().all(|o| o.name != w.name),
                "{} twice",
                w.name
            );
            // Only timed workloads may go without a C variant (their ratios are to the first).
            assert!(base == "c" || w.timed, "{} has no C variant", w.name);
        }
    }
}
