//! Process CPU time and peak resident memory, for the Rust variants and the children.

use std::time::Instant;

/// Nanoseconds between two instants.
pub fn elapsed_ns(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.duration_since(from).as_nanos()).unwrap_or(u64::MAX)
}

/// CPU time this process has used (user + system), in nanoseconds.
pub fn cpu_ns() -> u64 {
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

/// The peak resident set size of this process or of the largest child it waited for (the
/// `node` variants), in bytes (`getrusage(..).ru_maxrss`, which Linux reports in KiB and
/// macOS in bytes).
pub fn peak_rss_bytes() -> u64 {
    [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN]
        .into_iter()
        .map(max_rss)
        .max()
        .unwrap_or(0)
}

fn max_rss(who: libc::c_int) -> u64 {
    // SAFETY: all-zero is a valid `rusage`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return 0;
    }
    let v = ru.ru_maxrss as u64;
    if cfg!(target_os = "macos") {
        v
    } else {
        v * 1024
    }
}

/// A point in time, on the wall clock and in process CPU time.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    wall: Instant,
    cpu: u64,
}

impl Mark {
    pub fn now() -> Mark {
        Mark {
            wall: Instant::now(),
            cpu: cpu_ns(),
        }
    }

    /// A `loop_count` result: `ticks` and `loop_iterations` counted since `start`.
    pub fn ticks_since(self, start: Mark, ticks: u64, loop_iterations: u64) -> crate::c::Ticks {
        crate::c::Ticks {
            ticks,
            elapsed_ns: elapsed_ns(start.wall, self.wall),
            cpu_ns: self.cpu - start.cpu,
            loop_iterations,
        }
    }
}

/// The phases between four marks: before init, after init, after dispatch, after cleanup.
pub fn phases([m0, m1, m2, m3]: [Mark; 4], fired: u64, closed: u64) -> crate::c::Phases {
    crate::c::Phases {
        init_ns: elapsed_ns(m0.wall, m1.wall),
        dispatch_ns: elapsed_ns(m1.wall, m2.wall),
        cleanup_ns: elapsed_ns(m2.wall, m3.wall),
        init_cpu_ns: m1.cpu - m0.cpu,
        dispatch_cpu_ns: m2.cpu - m1.cpu,
        cleanup_cpu_ns: m3.cpu - m2.cpu,
        fired,
        closed,
    }
}
