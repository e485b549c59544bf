//! crossbeam-channel: bounded, unbounded, zero-capacity and select across threads.

use crossbeam_channel::{bounded, select, unbounded};
use greenshim_rust_tests::*;
use std::thread;
use std::time::Duration;

fn main() {
    let (tx, rx) = unbounded::<u64>();
    let hs: Vec<_> = (0..8)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || (0..2000).for_each(|i| tx.send(p * 10_000 + i).unwrap()))
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..4).map(|_| {
        let rx = rx.clone();
        thread::spawn(move || rx.iter().fold((0u64, 0u64), |(n, s), v| (n + 1, s + v)))
    }).collect();
    sample_os_threads();
    hs.into_iter().for_each(|h| h.join().unwrap());
    let (n, s) = consumers.into_iter().map(|c| c.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!("unbounded: {n} messages, sum {s}");

    let (atx, arx) = bounded::<u32>(0);
    let (btx, brx) = bounded::<u32>(0);
    let t = thread::spawn(move || arx.iter().for_each(|v| btx.send(v * 2 % 1_000_003 + 1).unwrap()));
    let mut v = 1;
    for _ in 0..10_000 {
        atx.send(v).unwrap();
        v = brx.recv().unwrap();
    }
    drop(atx);
    t.join().unwrap();
    println!("zero-capacity ping-pong: {v}");

    let (tx1, rx1) = bounded::<&str>(1);
    let (tx2, rx2) = bounded::<&str>(1);
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        tx2.send("second").unwrap();
        thread::sleep(Duration::from_millis(30));
        tx1.send("first").unwrap();
    });
    let mut order = Vec::new();
    for _ in 0..2 {
        select! {
            recv(rx1) -> m => order.push(m.unwrap()),
            recv(rx2) -> m => order.push(m.unwrap()),
        }
    }
    t.join().unwrap();
    println!("select order: {order:?}");
    let (_tx, rx) = bounded::<u8>(1);
    println!("recv_timeout: {:?}", rx.recv_timeout(Duration::from_millis(40)));
    report_os_threads();
}
