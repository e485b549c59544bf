//! parking_lot's Mutex, RwLock, Condvar (with timeouts) and Once: its thread parker waits
//! in futexes.

use greenshim_rust_tests::*;
use parking_lot::{Condvar, Mutex, Once, RwLock};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..16)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for i in 0..5000 {
                    let mut g = m.lock();
                    *g += 1;
                    if i % 1000 == 0 {
                        thread::sleep(Duration::from_micros(300));
                    }
                }
            })
        })
        .collect();
    sample_os_threads();
    hs.into_iter().for_each(|h| h.join().unwrap());
    println!("mutex: {}", *m.lock());

    let l = Arc::new(RwLock::new(0u64));
    let hs: Vec<_> = (0..8)
        .map(|i| {
            let l = l.clone();
            thread::spawn(move || {
                for _ in 0..500 {
                    if i % 2 == 0 {
                        *l.write() += 1;
                    } else {
                        let _ = *l.read();
                    }
                    thread::yield_now();
                }
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    println!("rwlock: {}", *l.read());

    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let p2 = pair.clone();
    let t = thread::spawn(move || {
        for _ in 0..100 {
            let mut g = p2.0.lock();
            *g += 1;
            p2.1.notify_one();
            drop(g);
            thread::sleep(Duration::from_micros(100));
        }
    });
    let mut g = pair.0.lock();
    while *g < 100 {
        pair.1.wait(&mut g);
    }
    drop(g);
    t.join().unwrap();
    let t0 = Instant::now();
    let mut g = pair.0.lock();
    let r = pair.1.wait_for(&mut g, Duration::from_millis(60));
    println!("condvar: count {}, wait_for timed out {} after >= 60 ms {}", *g, r.timed_out(), t0.elapsed() >= Duration::from_millis(60));
    drop(g);

    static ONCE: Once = Once::new();
    let hs: Vec<_> = (0..10)
        .map(|_| thread::spawn(|| ONCE.call_once(|| thread::sleep(Duration::from_millis(20)))))
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    println!("once: {:?}", ONCE.state().done());
    report_os_threads();
}
