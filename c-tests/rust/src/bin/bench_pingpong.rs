//! `make bench` cases: `bench_pingpong mpsc N` (N round trips over two std::mpsc
//! channels) and `bench_pingpong mutex N` (N round trips passing ownership through a
//! ring of three std Mutexes, as micro.c's mutex_handoff does with pthread mutexes).
//! Prints `RESULT ns_per_op=… ops=… secs=… os_threads=…`.

use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Instant;

fn os_threads() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

fn mpsc_pingpong(n: u64) -> (f64, i64) {
    let (atx, arx) = mpsc::channel::<u64>();
    let (btx, brx) = mpsc::channel::<u64>();
    let peer = std::thread::spawn(move || {
        for v in arx {
            btx.send(v + 1).unwrap();
        }
    });
    let t0 = Instant::now();
    let mut v = 0;
    for _ in 0..n {
        atx.send(v).unwrap();
        v = brx.recv().unwrap();
    }
    let secs = t0.elapsed().as_secs_f64();
    let threads = os_threads();
    drop(atx);
    peer.join().unwrap();
    assert_eq!(v, n);
    (secs, threads)
}

/// Two threads, three mutexes: each step a thread locks the next mutex of the ring,
/// which the other still holds, so every step is a blocking hand-off.
fn mutex_handoff(n: u64) -> (f64, i64) {
    let ring: Arc<[Mutex<u64>; 3]> = Arc::new([Mutex::new(0), Mutex::new(0), Mutex::new(0)]);
    let start = Arc::new(Barrier::new(2));
    let (r2, s2) = (ring.clone(), start.clone());
    let peer = std::thread::spawn(move || {
        let mut held = r2[1].lock().unwrap();
        s2.wait();
        let mut i = 1;
        for _ in 0..n {
            let next = r2[(i + 1) % 3].lock().unwrap();
            drop(held);
            held = next;
            i = (i + 1) % 3;
        }
        drop(held);
    });
    let mut held = ring[0].lock().unwrap();
    start.wait();
    let t0 = Instant::now();
    let mut i = 0;
    for _ in 0..n {
        let mut next = ring[(i + 1) % 3].lock().unwrap();
        *next += 1;
        drop(held);
        held = next;
        i = (i + 1) % 3;
    }
    let threads = os_threads();
    drop(held);
    peer.join().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    (secs, threads)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let (secs, threads) = match args.get(1).map(String::as_str) {
        Some("mpsc") => mpsc_pingpong(n),
        Some("mutex") => mutex_handoff(n),
        _ => {
            eprintln!("usage: bench_pingpong mpsc|mutex N");
            std::process::exit(2);
        }
    };
    println!("RESULT ns_per_op={:.2} ops={n} secs={secs:.4} os_threads={threads}", secs * 1e9 / n as f64);
}
