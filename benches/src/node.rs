//! The Node.js variants: `node` run as a child process with a script doing the workload's
//! work with Node's own APIs, timing itself (`process.hrtime`, `process.cpuUsage`: user +
//! system of the whole process, like `CLOCK_PROCESS_CPUTIME_ID`).

use std::process::Command;

use crate::run::run_process;
use crate::{Done, Job, SKIP};

/// argv: workload, n, arg, path, port. Prints `UVN ops elapsed_ns cpu_ns`.
const SCRIPT: &str = r#"
const [op, ns, as, path, port] = process.argv.slice(-5);
const n = Number(ns), k = Number(as);
const fail = (e) => { console.error(e && e.message || e); process.exit(1); };
let t0, c0;
const start = () => { t0 = process.hrtime.bigint(); c0 = process.cpuUsage(); };
const done = (ops) => {
  const wall = process.hrtime.bigint() - t0, cpu = process.cpuUsage(c0);
  console.log(`UVN ${ops} ${wall} ${(cpu.user + cpu.system) * 1000}`);
};
if (op.startsWith('ping_pong')) {
  const PING = Buffer.from('PING\n');
  const s = require('net').connect(Number(port), '127.0.0.1');
  let state = 0, pongs = 0;
  s.on('error', fail);
  s.on('connect', () => { start(); s.write(PING); });
  s.on('data', (b) => {
    for (let i = 0; i < b.length; i++) {
      if (b[i] !== PING[state]) fail('bad echo');
      state = (state + 1) % PING.length;
      if (state !== 0) continue;
      if (++pongs === n) { done(pongs); s.destroy(); return; }
      s.write(PING);
    }
  });
} else if (op === 'pump') {
  const chunk = Buffer.alloc(8192, 'x');
  const s = require('net').connect(Number(port), '127.0.0.1');
  let written = 0;
  s.on('error', fail);
  const next = (e) => {
    if (e) fail(e);
    if (written === n) { done(written); s.destroy(); return; }
    written++;
    s.write(chunk, next);
  };
  s.on('connect', () => { start(); next(); });
} else if (op === 'million_timers') {
  let fired = 0;
  start();
  for (let i = 0; i < n; i++) {
    setTimeout(() => { if (++fired === n) done(fired); }, Math.floor(i / 1000) + 1);
  }
} else if (op === 'loop_count') {
  let ticks = 0;
  const tick = () => { if (++ticks === n) done(ticks); else setImmediate(tick); };
  start();
  setImmediate(tick);
} else if (op === 'fs_stat_sync') {
  const fs = require('fs');
  start();
  for (let i = 0; i < n; i++) fs.statSync(path);
  done(n);
} else if (op === 'fs_stat_32') {
  const fs = require('fs');
  let left = n, count = 0, chains = Math.min(k, n);
  start();
  const next = () => {
    if (left === 0) { if (--chains === 0) done(count); return; }
    left--;
    fs.stat(path, (e) => { if (e) fail(e); count++; next(); });
  };
  for (let i = 0; i < k; i++) next();
} else {
  fail(`no Node.js variant of ${op}`);
}
"#;

/// Runs the script for `job`'s workload; `skip:` when there is no `node` to run.
pub(crate) fn run(job: &Job) -> Result<Done, String> {
    let exit = run_process(
        Command::new("node")
            .arg("-e")
            .arg(SCRIPT)
            .arg(job.workload)
            .arg(job.n.to_string())
            .arg(job.arg.to_string())
            .arg(job.path)
            .arg(job.port.map_or("-".into(), |p| p.to_string())),
        "node",
    )
    .map_err(|e| {
        if e.starts_with("cannot start") {
            format!("{SKIP}{e}")
        } else {
            e
        }
    })?;
    let figures: Vec<u64> = exit
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("UVN "))
        .ok_or_else(|| format!("node printed no figures: {:?}", exit.stdout))?
        .split_whitespace()
        .map(|v| v.parse::<f64>().map(|f| f as u64))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    match figures[..] {
        [ops, wall_ns, cpu_ns] => Ok(Done {
            ops,
            wall_ns,
            cpu_ns,
            ..Done::default()
        }),
        _ => Err(format!("node printed {:?}", exit.stdout)),
    }
}
