//! 100 threads each sleep 1 s: about 1 s of wall time in total, natively and under the
//! shim (the sleeps overlap; joins wait in futexes).

use greenshim_rust_tests::*;
use std::time::{Duration, Instant};

fn main() {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..100u64)
        .map(|i| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(1));
                i
            })
        })
        .collect();
    sample_os_threads();
    let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    let ms = t0.elapsed().as_millis() as i64;
    println!("100 sleepers done, sum {sum}");
    metric("wall_ms", ms);
    report_os_threads();
}
