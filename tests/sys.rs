//! `uvio::sys`: each utility checked against an independent source where there is one.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use uvio::sys;

/// A `/proc/meminfo` field in bytes.
fn meminfo(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn hrtime_is_monotonic_and_in_nanoseconds() {
    let a = sys::hrtime();
    std::thread::sleep(Duration::from_millis(2));
    let b = sys::hrtime();
    assert!(b > a);
    // At least the 2 ms slept, in nanoseconds (a lower bound, not a timing assertion).
    assert!(b - a >= 2_000_000, "{}", b - a);
}

#[test]
fn clocks() {
    let before = SystemTime::now();
    let tod = sys::gettimeofday().unwrap();
    let after = SystemTime::now();
    // Microsecond resolution: truncation may put it just before `before`.
    assert!(tod + Duration::from_micros(1) >= before && tod <= after);
    if !common::libuv_at_least((1, 45, 0)) {
        assert!(common::is_unsupported(&sys::clock_gettime(
            sys::Clock::Monotonic
        )));
        return;
    }
    let m1 = sys::clock_gettime(sys::Clock::Monotonic).unwrap();
    let m2 = sys::clock_gettime(sys::Clock::Monotonic).unwrap();
    assert!(m2 >= m1);
    let real = sys::clock_gettime(sys::Clock::Realtime).unwrap();
    let std_now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    assert!(real <= std_now && std_now - real < Duration::from_secs(60));
}

#[test]
fn uptime_matches_proc() {
    let up = sys::uptime().unwrap();
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    let proc_up: f64 = text.split_whitespace().next().unwrap().parse().unwrap();
    assert!(up > Duration::ZERO);
    assert!(
        (up.as_secs_f64() - proc_up).abs() < 60.0,
        "{up:?} vs {proc_up}"
    );
}

#[test]
fn loadavg_matches_proc() {
    let avg = sys::loadavg();
    let text = std::fs::read_to_string("/proc/loadavg").unwrap();
    let proc_avg: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .map(|s| s.parse().unwrap())
        .collect();
    for (a, p) in avg.iter().zip(&proc_avg) {
        assert!(*a >= 0.0);
        // The kernel's figures move slowly; read a moment apart they agree closely.
        assert!((a - p).abs() < 2.0, "{avg:?} vs {proc_avg:?}");
    }
}

#[test]
fn memory_figures() {
    let total = sys::total_memory();
    assert_eq!(total, meminfo("MemTotal"));
    let free = sys::free_memory();
    assert!(free > 0 && free <= total);
    let _ = sys::constrained_memory();
    match sys::available_memory() {
        Ok(avail) => assert!(avail > 0),
        Err(e) => assert!(e.is_unsupported() && !common::libuv_at_least((1, 45, 0))),
    }
    let rss = sys::resident_set_memory().unwrap();
    assert!(rss > 0 && (rss as u64) < total);
}

#[test]
fn cpus() {
    let cpus = sys::cpu_info().unwrap();
    let proc_count = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    assert_eq!(cpus.len(), proc_count);
    let par = sys::available_parallelism().get();
    // libuv counts the CPUs of the thread's affinity mask (std also applies cgroup quotas,
    // so it may say less).
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    let affinity = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        libc::CPU_COUNT(&set) as usize
    };
    assert_eq!(par, affinity);
    assert!(std::thread::available_parallelism().unwrap().get() <= par);
    assert!(par <= cpus.len());
    for c in &cpus {
        assert!(!c.model.is_empty());
        assert!(
            c.times.user + c.times.sys + c.times.idle > Duration::ZERO,
            "{c:?}"
        );
    }
}

#[test]
fn interfaces_include_loopback() {
    let all = sys::interface_addresses().unwrap();
    let lo = all
        .iter()
        .find(|a| a.address == IpAddr::V4(Ipv4Addr::LOCALHOST))
        .expect("127.0.0.1 listed");
    assert!(lo.is_internal);
    assert_eq!(lo.netmask, IpAddr::V4(Ipv4Addr::new(255, 0, 0, 0)));
    assert_eq!(lo.mac, [0; 6]);
    // Every address's interface has a name that if_nametoindex knows, and back.
    for a in &all {
        let c = std::ffi::CString::new(a.name.clone()).unwrap();
        // SAFETY: a valid C string.
        let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
        assert!(idx > 0, "{}", a.name);
        assert_eq!(sys::if_indextoname(idx).unwrap(), a.name);
        assert_eq!(sys::if_indextoiid(idx).unwrap(), a.name);
        assert_eq!(a.address.is_ipv4(), a.netmask.is_ipv4());
    }
}

#[test]
fn unknown_interface_index_is_an_error() {
    let e = sys::if_indextoname(u32::MAX).unwrap_err();
    assert_eq!(e.name(), "ENXIO", "{e}");
    assert!(sys::if_indextoiid(u32::MAX).is_err());
}

#[test]
fn uname_hostname_and_dirs() {
    let u = sys::os_uname().unwrap();
    assert_eq!(u.sysname, "Linux");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(u.release, release.trim());
    assert_eq!(u.machine, std::env::consts::ARCH);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(sys::hostname().unwrap(), host.trim());
    if let Some(home) = std::env::var_os("HOME") {
        assert_eq!(sys::homedir().unwrap().as_os_str(), home);
    }
    let tmp = sys::tmpdir().unwrap();
    assert_eq!(tmp, std::env::temp_dir());
}

#[test]
fn process_ids_and_user() {
    assert_eq!(sys::getpid(), std::process::id());
    assert_eq!(sys::getppid(), std::os::unix::process::parent_id());
    let me = sys::get_passwd().unwrap();
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(me.uid, Some(euid));
    assert!(!me.username.is_empty());
    assert!(me.homedir.is_absolute());
    if common::libuv_at_least((1, 45, 0)) {
        let root = sys::get_passwd_for(0).unwrap();
        assert_eq!((root.username.as_str(), root.uid), ("root", Some(0)));
        assert_eq!(sys::get_passwd_for(me.uid.unwrap()).unwrap(), me);
        let e = sys::get_passwd_for(0x7fff_fff0).unwrap_err();
        assert_eq!(e.name(), "ENOENT", "{e}");
        // Against /etc/group, where the entry is there.
        let group = sys::get_group(me.gid.unwrap()).unwrap();
        assert_eq!(group.gid, me.gid.unwrap());
        if let Ok(text) = std::fs::read_to_string("/etc/group") {
            let prefix = format!("{}:", group.name);
            if let Some(line) = text.lines().find(|l| l.starts_with(&prefix)) {
                let listed = line.rsplit(':').next().unwrap();
                let members: Vec<&str> = listed.split(',').filter(|m| !m.is_empty()).collect();
                assert_eq!(group.members, members);
            }
        }
        assert_eq!(sys::get_group(0x7fff_fff0).unwrap_err().name(), "ENOENT");
        assert!(sys::cpumask_size().unwrap() >= 1);
    } else {
        assert!(common::is_unsupported(&sys::get_group(0)));
    }
}

#[test]
fn priorities() {
    let p = sys::getpriority(0).unwrap();
    assert!((-20..=19).contains(&p));
    assert_eq!(sys::getpriority(std::process::id()).unwrap(), p);
    // Setting the same value needs no privilege.
    sys::setpriority(0, p).unwrap();
    // A pid that cannot exist (above the kernel's pid_max limit of 2^22).
    let e = sys::setpriority(0x7fff_fff0, p).unwrap_err();
    assert_eq!(e.name(), "ESRCH", "{e}");
    assert_eq!(sys::getpriority(0x7fff_fff0).unwrap_err().name(), "ESRCH");
}

#[test]
fn rusage() {
    // Burn a little CPU so user time is non-zero on a coarse clock.
    let mut x = 0u64;
    for i in 0..common::scale(2_000_000) as u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    let u = sys::getrusage().unwrap();
    assert!(u.max_rss_kib > 0);
    assert!(u.minor_faults > 0);
    assert!(u.user_time + u.system_time > Duration::ZERO, "{u:?}");
    match sys::getrusage_thread() {
        Ok(t) => assert!(t.user_time <= u.user_time + Duration::from_millis(20)),
        Err(e) => assert!(!common::libuv_at_least((1, 50, 0)) || e.name() == "ENOTSUP"),
    }
}

#[test]
fn process_title_needs_setup_args() {
    // Each integration test file is its own process; only this test touches the title.
    let before = sys::process_title();
    assert_eq!(before.unwrap_err().name(), "ENOBUFS");
    assert_eq!(sys::set_process_title("x").unwrap_err().name(), "ENOBUFS");
    // SAFETY: no other thread of this test process uses the process title.
    unsafe { sys::setup_args() };
    let argv0 = std::env::args().next().unwrap();
    assert_eq!(sys::process_title().unwrap(), argv0);
    sys::set_process_title("uvio-sys").unwrap();
    assert_eq!(sys::process_title().unwrap(), "uvio-sys");
    assert_eq!(sys::set_process_title("a\0b").unwrap_err().name(), "EINVAL");
    // The title has the room of the original command line, no more.
    let long = "t".repeat(argv0.len() + 4096);
    sys::set_process_title(&long).unwrap();
    let got = sys::process_title().unwrap();
    assert!(got.len() < long.len() && long.starts_with(&got));
}

#[test]
fn random_sync() {
    let a = sys::random(64).unwrap();
    let b = sys::random(64).unwrap();
    assert_eq!(a.len(), 64);
    assert_ne!(a, b);
    assert!(sys::random(0).unwrap().is_empty());
    let e = sys::random(usize::MAX).unwrap_err();
    assert_eq!(e.name(), "E2BIG");
}

#[test]
fn random_async_and_callback() {
    let lp = uvio::Loop::new().unwrap();
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    for len in [0, 1, 1000] {
        let g = got.clone();
        sys::random_with(&lp, len, move |r| g.borrow_mut().push(r.unwrap().len())).unwrap();
    }
    assert_eq!(
        sys::random_with(&lp, 0x8000_0000, |_| panic!("not called"))
            .unwrap_err()
            .name(),
        "E2BIG"
    );
    lp.run(uvio::RunMode::Default).unwrap();
    got.borrow_mut().sort();
    assert_eq!(*got.borrow(), [0, 1, 1000]);
    let (a, b) = lp
        .block_on(async { (sys::random_async(32).await, sys::random_async(32).await) })
        .unwrap();
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    let e = lp
        .block_on(sys::random_async(usize::MAX))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.name(), "E2BIG");
    // Outside a uvio loop it panics: tests/outside_loop.rs.
}

#[test]
fn random_future_dropped_after_one_poll() {
    let lp = uvio::Loop::new().unwrap();
    for _ in 0..common::scale(50) {
        lp.block_on(async {
            let mut f = sys::random_async(4096);
            let _ = futures::poll!(&mut f);
            drop(f);
        })
        .unwrap();
    }
    // The cancelled or finished requests free their buffers in libuv's callbacks.
    lp.run(uvio::RunMode::Default).unwrap();
    let lp2 = uvio::Loop::new().unwrap();
    lp2.block_on(async {
        let mut f = sys::random_async(1 << 20);
        let _ = futures::poll!(&mut f);
        drop(f);
    })
    .unwrap();
    // Dropping the loop with the request in flight waits for its callback.
    drop(lp2);
}
