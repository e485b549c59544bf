//! A std::net thread-per-connection echo server and 1,000 client threads, each sending
//! its own bytes and checking the echo (checksums printed).

use greenshim_rust_tests::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

const CLIENTS: u64 = 1000;

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..CLIENTS {
            let (mut s, _) = listener.accept().unwrap();
            handlers.push(thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut total = 0u64;
                loop {
                    let n = s.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    s.write_all(&buf[..n]).unwrap();
                    total += n as u64;
                }
                total
            }));
        }
        handlers.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    let checksum = Arc::new(AtomicU64::new(0));
    // At most 64 connects in flight: std's listen backlog is 128, and an overflowing
    // accept queue makes Linux reset connections.
    let permits = Arc::new((Mutex::new(64u32), Condvar::new()));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let checksum = checksum.clone();
        let permits = permits.clone();
        clients.push(thread::spawn(move || {
            let mut n = permits.1.wait_while(permits.0.lock().unwrap(), |n| *n == 0).unwrap();
            *n -= 1;
            drop(n);
            let mut s = TcpStream::connect(addr).unwrap();
            *permits.0.lock().unwrap() += 1;
            permits.1.notify_one();
            let msg: Vec<u8> = (0..(100 + c * 7 % 3000)).map(|i| (i * 31 + c) as u8).collect();
            let mut back = vec![0u8; msg.len()];
            for chunk in msg.chunks(1000) {
                s.write_all(chunk).unwrap();
            }
            s.read_exact(&mut back).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            assert_eq!(back, msg, "client {c}: echo differs");
            checksum.fetch_add(fnv(&back) % 1_000_003, Ordering::Relaxed);
            msg.len() as u64
        }));
        if c == CLIENTS / 2 {
            sample_os_threads();
        }
    }
    let sent: u64 = clients.into_iter().map(|h| h.join().unwrap()).sum();
    let echoed = server.join().unwrap();
    println!("{CLIENTS} clients: sent {sent} bytes, server echoed {echoed}, checksum {}", checksum.load(Ordering::Relaxed));
    report_os_threads();
}
