//! The Node.js variants: `node` run as a child process with a script doing the same work with
//! `fs` callbacks, timing itself (`process.hrtime`, `process.cpuUsage`: user + system of the
//! whole process, thread pool included, like `CLOCK_PROCESS_CPUTIME_ID`).

use std::process::Command;

use crate::c::Ticks;
use crate::{Job, SKIP, err, stdout_of};

/// argv: op (`fs_stat`/`fs_read`), path, param (stats), arg (chains in flight / chunk
/// bytes). Prints `UVN count elapsed_ns cpu_ns`.
const SCRIPT: &str = r#"
const fs = require('fs');
const [op, path, param, arg] = process.argv.slice(-4);
const n = Number(param), k = Number(arg);
const fail = (e) => { console.error(e.message); process.exit(1); };
let count = 0, chains = op === 'fs_stat' ? k : 1;
const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
const chainDone = () => {
  if (--chains > 0) return;
  const ns = process.hrtime.bigint() - t0, cpu = process.cpuUsage(c0);
  console.log(`UVN ${count} ${ns} ${(cpu.user + cpu.system) * 1000}`);
};
if (op === 'fs_stat') {
  for (let i = 0; i < k; i++) {
    let left = Math.floor(n / k) + (i < n % k ? 1 : 0);
    const next = () => {
      if (left-- === 0) return chainDone();
      fs.stat(path, (e) => { if (e) fail(e); count++; next(); });
    };
    next();
  }
} else {
  const fd = fs.openSync(path, 'r'), buf = Buffer.allocUnsafe(k);
  const next = (pos) => fs.read(fd, buf, 0, k, pos, (e, got) => {
    if (e) fail(e);
    if (got === 0) { fs.closeSync(fd); return chainDone(); }
    count += got;
    next(pos + got);
  });
  next(0);
}
"#;

/// Runs the script for `job`; `skip:` when there is no `node` to run.
pub fn run(job: &Job) -> Result<Ticks, String> {
    let stdout = stdout_of(
        Command::new("node")
            .arg("-e")
            .arg(SCRIPT)
            .arg(job.workload)
            .arg(job.path)
            .arg(job.param.to_string())
            .arg(job.arg.to_string()),
        "node",
        &format!("{SKIP}cannot run node: "),
    )?;
    let figures: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("UVN "))
        .ok_or_else(|| format!("node printed no figures: {stdout:?}"))?
        .split_whitespace()
        .map(|v| v.parse::<f64>().map(|f| f as u64))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    match figures[..] {
        [ticks, elapsed_ns, cpu_ns] => Ok(Ticks {
            ticks,
            elapsed_ns,
            cpu_ns,
            loop_iterations: 0,
        }),
        _ => Err(format!("node printed {stdout:?}")),
    }
}
