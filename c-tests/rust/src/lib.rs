//! Helpers shared by the test programs.

use std::sync::atomic::{AtomicI64, Ordering};

static OS_MAX: AtomicI64 = AtomicI64::new(0);

/// OS threads in this process now ("Threads:" in /proc/self/status); remembers the peak.
pub fn sample_os_threads() -> i64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let n = s.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok()).unwrap_or(-1);
    OS_MAX.fetch_max(n, Ordering::Relaxed);
    n
}

/// Prints `METRIC name=value` on stderr (timing-dependent numbers stay off stdout).
pub fn metric(name: &str, v: i64) {
    eprintln!("METRIC {name}={v}");
}

/// Reports the peak OS thread count seen by [`sample_os_threads`].
pub fn report_os_threads() {
    sample_os_threads();
    metric("os_threads_max", OS_MAX.load(Ordering::Relaxed));
}

/// FNV-1a, for checksums of echoed bytes.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}
