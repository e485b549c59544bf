//! std::sync and std::thread primitives: every one waits in a futex (through
//! `syscall(SYS_futex)`) when it has to wait. Prints only deterministic results.

use greenshim_rust_tests::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, Once, OnceLock, RwLock};
use std::thread;
use std::time::{Duration, Instant};

fn mutex_counter() {
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..16)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for i in 0..5000 {
                    let mut g = m.lock().unwrap();
                    *g += 1;
                    if i % 500 == 0 {
                        // Hold the lock across a park: other threads must wait in the futex.
                        thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        })
        .collect();
    sample_os_threads();
    for h in hs {
        h.join().unwrap();
    }
    println!("mutex: total {}", *m.lock().unwrap());
}

fn rwlock() {
    let l = Arc::new(RwLock::new(Vec::<u32>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let l = l.clone();
            thread::spawn(move || {
                for i in 0..100 {
                    l.write().unwrap().push(w * 1000 + i);
                    if i % 10 == 0 {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let l = l.clone();
            thread::spawn(move || {
                let mut seen = 0;
                for _ in 0..50 {
                    let g = l.read().unwrap();
                    seen = seen.max(g.len());
                    drop(g);
                    thread::sleep(Duration::from_micros(300));
                }
                seen <= 400
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let ok = readers.into_iter().all(|r| r.join().unwrap());
    let mut v = l.read().unwrap().clone();
    v.sort();
    println!("rwlock: {} items, sum {}, readers ok {}", v.len(), v.iter().map(|&x| x as u64).sum::<u64>(), ok);
}

fn condvar() {
    // Producer/consumer with notify_one, plus wait_timeout both timing out and being woken.
    let pair = Arc::new((Mutex::new(Vec::<u32>::new()), Condvar::new()));
    let p2 = pair.clone();
    let producer = thread::spawn(move || {
        for i in 0..200 {
            p2.0.lock().unwrap().push(i);
            p2.1.notify_one();
            if i % 20 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let mut got = 0u64;
    let mut n = 0;
    while n < 200 {
        let mut g = pair.0.lock().unwrap();
        while g.is_empty() {
            g = pair.1.wait(g).unwrap();
        }
        for x in g.drain(..) {
            got += x as u64;
            n += 1;
        }
    }
    producer.join().unwrap();
    println!("condvar: received {n}, sum {got}");

    let m = Mutex::new(());
    let c = Condvar::new();
    let t0 = Instant::now();
    let (_g, r) = c.wait_timeout(m.lock().unwrap(), Duration::from_millis(100)).unwrap();
    let waited = t0.elapsed();
    println!("condvar: wait_timeout timed out {}, waited >= 100 ms {}", r.timed_out(), waited >= Duration::from_millis(100));
    metric("wait_timeout_ms", waited.as_millis() as i64);

    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = pair.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        *p2.0.lock().unwrap() = true;
        p2.1.notify_all();
    });
    let g = pair.0.lock().unwrap();
    let (g, r) = pair.1.wait_timeout_while(g, Duration::from_secs(10), |ready| !*ready).unwrap();
    println!("condvar: woken before timeout {}, ready {}", !r.timed_out(), *g);
    drop(g);
    t.join().unwrap();
}

fn once_and_oncelock() {
    static ONCE: Once = Once::new();
    static CELL: OnceLock<u64> = OnceLock::new();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let hs: Vec<_> = (0..20)
        .map(|_| {
            thread::spawn(|| {
                ONCE.call_once(|| {
                    // Other threads must wait (in a futex) while this sleeps.
                    thread::sleep(Duration::from_millis(20));
                    RUNS.fetch_add(1, Ordering::SeqCst);
                });
                *CELL.get_or_init(|| {
                    thread::sleep(Duration::from_millis(20));
                    RUNS.fetch_add(1, Ordering::SeqCst);
                    42
                })
            })
        })
        .collect();
    let s: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    println!("once: initialisers ran {}, sum {s}", RUNS.load(Ordering::SeqCst));
}

fn barrier() {
    let b = Arc::new(Barrier::new(10));
    let hs: Vec<_> = (0..10)
        .map(|i| {
            let b = b.clone();
            thread::spawn(move || {
                let mut leaders = 0;
                for round in 0..5 {
                    thread::sleep(Duration::from_millis((i * round % 3) as u64));
                    if b.wait().is_leader() {
                        leaders += 1;
                    }
                }
                leaders
            })
        })
        .collect();
    let leaders: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    println!("barrier: 5 rounds, leaders {leaders}");
}

fn channels() {
    let (tx, rx) = mpsc::channel::<u64>();
    let hs: Vec<_> = (0..8)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..1000 {
                    tx.send(p * 1_000_000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let (mut n, mut sum) = (0, 0u64);
    for v in rx {
        n += 1;
        sum += v;
    }
    for h in hs {
        h.join().unwrap();
    }
    println!("mpsc: {n} messages, sum {sum}");

    // Ping-pong over two rendezvous channels: every message is a hand-off.
    let (atx, arx) = mpsc::sync_channel::<u32>(0);
    let (btx, brx) = mpsc::sync_channel::<u32>(0);
    let t = thread::spawn(move || {
        for v in arx {
            btx.send(v + 1).unwrap();
        }
    });
    let mut v = 0;
    for _ in 0..10_000 {
        atx.send(v).unwrap();
        v = brx.recv().unwrap();
    }
    drop(atx);
    t.join().unwrap();
    println!("sync_channel(0): ping-pong reached {v}");

    let (tx, rx) = mpsc::sync_channel::<u32>(4);
    let t = thread::spawn(move || (0..100).map(|i| tx.send(i).unwrap()).count());
    thread::sleep(Duration::from_millis(20));
    let s: u32 = rx.iter().sum();
    println!("sync_channel(4): sent {}, sum {s}", t.join().unwrap());

    let (tx, rx) = mpsc::channel::<u32>();
    let t0 = Instant::now();
    let r = rx.recv_timeout(Duration::from_millis(50));
    println!("mpsc: recv_timeout {:?} after >= 50 ms {}", r, t0.elapsed() >= Duration::from_millis(50));
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        tx.send(7).unwrap();
    });
    println!("mpsc: recv_timeout got {:?}", rx.recv_timeout(Duration::from_secs(10)));
    t.join().unwrap();
}

fn scope() {
    let data: Vec<u64> = (1..=1000).collect();
    let total = AtomicUsize::new(0);
    thread::scope(|s| {
        for chunk in data.chunks(100) {
            let total = &total;
            s.spawn(move || {
                thread::sleep(Duration::from_millis(5));
                total.fetch_add(chunk.iter().sum::<u64>() as usize, Ordering::SeqCst);
            });
        }
        sample_os_threads();
    });
    println!("scope: total {}", total.load(Ordering::SeqCst));
}

fn park_unpark() {
    let flag = Arc::new(AtomicUsize::new(0));
    let f2 = flag.clone();
    let t = thread::spawn(move || {
        while f2.load(Ordering::SeqCst) == 0 {
            thread::park();
        }
        f2.load(Ordering::SeqCst)
    });
    thread::sleep(Duration::from_millis(20));
    flag.store(5, Ordering::SeqCst);
    t.thread().unpark();
    println!("park: woken with {}", t.join().unwrap());

    // An unpark before park makes the next park return at once.
    thread::current().unpark();
    let t0 = Instant::now();
    thread::park();
    println!("park: token consumed at once {}", t0.elapsed() < Duration::from_millis(500));

    let t0 = Instant::now();
    thread::park_timeout(Duration::from_millis(50));
    println!("park_timeout: waited >= 50 ms {}", t0.elapsed() >= Duration::from_millis(50));

    // Ping-pong by park/unpark between two threads.
    let turn = Arc::new(AtomicUsize::new(0));
    let main = thread::current();
    let t2 = turn.clone();
    let t = thread::spawn(move || {
        for i in 0..2000 {
            while t2.load(Ordering::SeqCst) != 2 * i + 1 {
                thread::park();
            }
            t2.store(2 * i + 2, Ordering::SeqCst);
            main.unpark();
        }
    });
    for i in 0..2000 {
        turn.store(2 * i + 1, Ordering::SeqCst);
        t.thread().unpark();
        while turn.load(Ordering::SeqCst) != 2 * i + 2 {
            thread::park();
        }
    }
    t.join().unwrap();
    println!("park: ping-pong ended at {}", turn.load(Ordering::SeqCst));
}

fn thread_locals() {
    thread_local! { static COUNT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) }; }
    let hs: Vec<_> = (0..10)
        .map(|i| {
            thread::spawn(move || {
                for _ in 0..=i {
                    COUNT.with(|c| c.set(c.get() + 1));
                    thread::sleep(Duration::from_millis(1));
                }
                (COUNT.with(|c| c.get()), thread::current().name().map(str::to_owned))
            })
        })
        .collect();
    let v: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    println!("thread_local: {:?}", v.iter().map(|x| x.0).collect::<Vec<_>>());
    let named = thread::Builder::new().name("worker-7".into()).spawn(|| thread::current().name().unwrap().to_owned()).unwrap();
    println!("thread name: {}", named.join().unwrap());
}

fn main() {
    mutex_counter();
    rwlock();
    condvar();
    once_and_oncelock();
    barrier();
    channels();
    scope();
    park_unpark();
    thread_locals();
    report_os_threads();
}
