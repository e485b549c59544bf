//! Real multithreaded tools, unmodified, give the same output under the shim: GNU sort
//! with parallel threads, xz with worker threads (skipped where not installed). On these
//! inputs strace shows sort creating 3 OS threads and xz 4 natively, none under the shim.

mod common;
use common::*;
use std::process::{Command, Stdio};

fn input() -> std::path::PathBuf {
    let p = root().join("target").join("real-tools-input.txt");
    if !p.exists() {
        // Deterministic pseudo-random lines, ~10 MB (GNU sort only uses threads on large inputs).
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let mut s = String::new();
        for _ in 0..400_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(&format!("{x:016x} {}\n", x % 977));
        }
        let tmp = p.with_extension(format!("{}", std::process::id()));
        std::fs::write(&tmp, s).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
    }
    p
}

fn same_output(args: &[&str]) {
    let run = |shim: bool| {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]).arg(input()).env_remove("LD_PRELOAD").stdout(Stdio::piped()).stderr(Stdio::piped());
        if shim {
            c.env("LD_PRELOAD", lib());
        }
        let out = c.output().expect("run tool");
        assert!(out.status.success(), "{args:?} (shim={shim}) failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let (native, shim) = (run(false), run(true));
    assert!(!native.is_empty());
    assert!(native == shim, "{args:?}: output differs under the shim");
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn gnu_sort_parallel() {
    same_output(&["sort", "--parallel=4"]);
}

#[test]
fn xz_worker_threads() {
    if !have("xz") {
        eprintln!("SKIP: xz not installed");
        return;
    }
    same_output(&["xz", "-T4", "--block-size=262144", "-c"]);
}
