//! `thread_local!` with a `RefCell` borrowed mutably across blocking calls (sleep, a
//! channel receive, a mutex wait, a TCP read): each of 50 threads keeps its borrow and
//! its own contents; a second borrow attempt while one is held fails as it should (the
//! RefCell is the thread's own, not shared). Also a `thread_local!` with a destructor
//! (its Drop runs once per thread at exit) and `Cell` counters. Deterministic output.

use greenshim_rust_tests::*;
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

static DROPS: AtomicUsize = AtomicUsize::new(0);

struct Tracked(usize);
impl Drop for Tracked {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
        let _ = self.0;
    }
}

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
    static TRACKED: RefCell<Option<Tracked>> = const { RefCell::new(None) };
}

const THREADS: usize = 50;

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<mpsc::Sender<u64>>();
    let shared = Arc::new(Mutex::new(0u64));
    // A server thread answers one byte per connection, after a short wait.
    let server = thread::spawn(move || {
        for _ in 0..THREADS {
            let (mut s, _) = listener.accept().unwrap();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(2));
                s.write_all(b"k").unwrap();
            });
        }
    });
    // A feeder answers each channel request after a short wait.
    let feeder = thread::spawn(move || {
        for (i, reply) in rx.iter().enumerate() {
            thread::sleep(Duration::from_micros(300));
            let _ = reply.send(i as u64);
        }
    });
    let mut hs = Vec::new();
    for id in 0..THREADS {
        let tx = tx.clone();
        let shared = shared.clone();
        hs.push(thread::spawn(move || {
            TRACKED.with(|t| *t.borrow_mut() = Some(Tracked(id)));
            let mut ok = true;
            LOG.with(|log| {
                let mut log = log.borrow_mut();
                log.push(format!("t{id} start"));
                for round in 0..5 {
                    COUNT.with(|c| c.set(c.get() + id as u64));
                    // The borrow is held across each blocking call.
                    thread::sleep(Duration::from_micros(200 + (id as u64 * 17) % 300));
                    let (rtx, rrx) = mpsc::channel();
                    tx.send(rtx).unwrap();
                    rrx.recv().unwrap();
                    {
                        let mut g = shared.lock().unwrap();
                        *g += 1;
                        if round == 2 {
                            thread::sleep(Duration::from_micros(100));
                        }
                    }
                    if round == 3 {
                        let mut s = TcpStream::connect(addr).unwrap();
                        let mut b = [0u8; 1];
                        s.read_exact(&mut b).unwrap();
                    }
                    // Another borrow of the same thread's RefCell must fail.
                    ok &= LOG.with(|l| l.try_borrow_mut().is_err());
                    log.push(format!("t{id} round {round}"));
                }
            });
            let log = LOG.with(|l| l.borrow().clone());
            let want: Vec<String> = std::iter::once(format!("t{id} start")).chain((0..5).map(|r| format!("t{id} round {r}"))).collect();
            ok &= log == want;
            ok &= COUNT.with(|c| c.get()) == 5 * id as u64;
            ok
        }));
    }
    sample_os_threads();
    let good = hs.into_iter().map(|h| h.join().unwrap()).filter(|&ok| ok).count();
    drop(tx);
    feeder.join().unwrap();
    server.join().unwrap();
    report_os_threads();
    println!("{good} of {THREADS} threads kept their own RefCell borrowed across blocking calls");
    println!("thread-local destructors run: {}", DROPS.load(Ordering::SeqCst));
    println!("mutex count {}", *shared.lock().unwrap());
    assert_eq!(good, THREADS);
}
