//! A tokio multi-thread runtime: a TCP echo server and 100 client tasks, spawn_blocking
//! jobs, and timers. The runtime's idle workers wait in futexes (and epoll).

use greenshim_rust_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let (checksum, bytes, blocking) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = s.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        s.write_all(&buf[..n]).await.unwrap();
                    }
                });
            }
        });
        let mut clients = Vec::new();
        for c in 0..100u64 {
            clients.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                let msg: Vec<u8> = (0..(500 + c * 37 % 5000)).map(|i| (i * 13 + c) as u8).collect();
                s.write_all(&msg).await.unwrap();
                let mut back = vec![0u8; msg.len()];
                s.read_exact(&mut back).await.unwrap();
                assert_eq!(back, msg);
                (fnv(&back) % 1_000_003, msg.len() as u64)
            }));
        }
        let mut blocking = Vec::new();
        for i in 0..8u64 {
            blocking.push(tokio::task::spawn_blocking(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                i * i
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        sample_os_threads();
        let (mut sum, mut bytes) = (0, 0);
        for c in clients {
            let (h, n) = c.await.unwrap();
            sum += h;
            bytes += n;
        }
        let mut b = 0;
        for j in blocking {
            b += j.await.unwrap();
        }
        (sum, bytes, b)
    });
    println!("tokio: 100 clients echoed {bytes} bytes, checksum {checksum}, spawn_blocking sum {blocking}");
    drop(rt);
    report_os_threads();
}
