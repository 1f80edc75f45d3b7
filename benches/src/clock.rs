//! Process CPU time and the wall clock, around the Rust variants' measured phases.

use std::time::Instant;

/// CPU time this process has used (user + system, every thread), in nanoseconds.
pub(crate) fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A point in time, on the wall clock and in process CPU time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark {
    wall: Instant,
    cpu: u64,
}

impl Mark {
    pub(crate) fn now() -> Mark {
        Mark {
            wall: Instant::now(),
            cpu: cpu_ns(),
        }
    }

    /// What was done between `start` and this mark: `ops` operations in
    /// `iterations` loop iterations (0: not known).
    pub(crate) fn done_since(self, start: Mark, ops: u64, iterations: u64) -> crate::Done {
        crate::Done {
            ops,
            wall_ns: u64::try_from(self.wall.duration_since(start.wall).as_nanos())
                .unwrap_or(u64::MAX),
            cpu_ns: self.cpu.saturating_sub(start.cpu),
            iterations,
            events: 0,
            seen: 0,
        }
    }
}

/// The iterations `lp` has run so far (`uv_metrics_info`; 0 if it cannot say).
pub(crate) fn loop_iterations(lp: &uvio::LoopHandle) -> u64 {
    lp.metrics().map_or(0, |m| m.loop_count)
}
