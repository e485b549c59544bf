//! Shared harness: build the C test programs, run a program natively and under the shim,
//! parse the `METRIC name=value` lines the programs print on stderr.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The library under test: $GREENSHIM_LIB, else target/release, else target/debug.
pub fn lib() -> PathBuf {
    if let Ok(p) = std::env::var("GREENSHIM_LIB") {
        return PathBuf::from(p);
    }
    for profile in ["release", "debug"] {
        let p = root().join("target").join(profile).join("libgreenshim.so");
        if p.exists() {
            return p;
        }
    }
    panic!("libgreenshim.so not built: run `make` (or `cargo build --release`) first");
}

/// The launcher binary next to the library.
pub fn launcher() -> PathBuf {
    lib().parent().unwrap().join("greenshim")
}

/// Compiles c-tests/<family>/<name>.c (once per test process; cheap) and returns the binary.
pub fn c_program(family: &str, name: &str) -> PathBuf {
    let src = root().join("c-tests").join(family).join(format!("{name}.c"));
    let out_dir = root().join("target").join("c-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let bin = out_dir.join(format!("{family}-{name}"));
    // Headers it may include: the shared ones, and its family's own (c-tests/<family>/*.h).
    let mut headers: Vec<PathBuf> = ["common.h", "net.h", "dns_fake.h"].iter().map(|h| root().join("c-tests").join(h)).collect();
    if let Ok(dir) = std::fs::read_dir(root().join("c-tests").join(family)) {
        headers.extend(dir.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "h")));
    }
    let fresh = bin.metadata().and_then(|b| Ok(b.modified()? >= src.metadata()?.modified()?)).unwrap_or(false)
        && headers.iter().all(|h| bin.metadata().and_then(|b| Ok(b.modified()? >= h.metadata()?.modified()?)).unwrap_or(false));
    if !fresh {
        let tmp = gcc_to_temp(&src, &out_dir, &format!("{family}-{name}"), &["-D_GNU_SOURCE", "-pthread"]);
        std::fs::rename(&tmp, &bin).unwrap();
    }
    bin
}

/// Compiles `src` with gcc (warnings are errors) plus `flags` into a temporary file in
/// `out_dir` and returns its path; the caller renames it into place (tests run in
/// parallel processes, so an output is never written where another reads it).
pub fn gcc_to_temp(src: &Path, out_dir: &Path, stem: &str, flags: &[&str]) -> PathBuf {
    let tmp = out_dir.join(format!(".{stem}.{}", std::process::id()));
    let st = Command::new("gcc")
        .args(["-O2", "-g", "-Wall", "-Wextra", "-Werror"])
        .args(flags)
        .arg(src)
        .arg("-o")
        .arg(&tmp)
        .status()
        .expect("gcc");
    assert!(st.success(), "compiling {}", src.display());
    tmp
}

/// Builds the Rust test programs (c-tests/rust, a Cargo project of its own with its own
/// target dir, once per test process) and returns the binary `name`.
pub fn rust_program(name: &str) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let target = root().join("target").join("rust-tests");
    BUILT.call_once(|| {
        let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--locked", "--quiet", "--manifest-path"])
            .arg(root().join("c-tests/rust/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("cargo");
        assert!(st.success(), "building c-tests/rust failed");
    });
    target.join("release").join(name)
}

/// Compiles c-tests/cpp/<name>.cpp with `g++ -std=c++20 -O2 -pthread` and returns the binary.
pub fn cpp_program(name: &str) -> PathBuf {
    let src = root().join("c-tests").join("cpp").join(format!("{name}.cpp"));
    let out_dir = root().join("target").join("c-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let bin = out_dir.join(format!("cpp-{name}"));
    let fresh = bin.metadata().and_then(|b| Ok(b.modified()? >= src.metadata()?.modified()?)).unwrap_or(false);
    if !fresh {
        let tmp = out_dir.join(format!(".cpp-{name}.{}", std::process::id()));
        let st = Command::new("g++")
            .args(["-std=c++20", "-O2", "-g", "-Wall", "-pthread"])
            .arg(&src)
            .arg("-o")
            .arg(&tmp)
            .status()
            .expect("g++ (install it: apt-get install g++)");
        assert!(st.success(), "compiling {}", src.display());
        std::fs::rename(&tmp, &bin).unwrap();
    }
    bin
}

pub fn py_program(name: &str) -> PathBuf {
    root().join("c-tests").join("py").join(format!("{name}.py"))
}

#[derive(Debug)]
pub struct Run {
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
    pub metrics: HashMap<String, i64>,
}

impl Run {
    pub fn metric(&self, name: &str) -> i64 {
        *self.metrics.get(name).unwrap_or_else(|| panic!("metric {name} missing; stderr:\n{}", self.stderr))
    }
    pub fn ok(&self) -> bool {
        self.status == Some(0)
    }
}

/// How to run a program.
pub struct Spec<'a> {
    pub program: &'a Path,
    pub args: &'a [&'a str],
    pub stdin: Option<&'a [u8]>,
    pub env: &'a [(&'a str, &'a str)],
    pub timeout: Duration,
    pub interpreter: Option<&'a str>,
}

impl<'a> Spec<'a> {
    pub fn new(program: &'a Path) -> Self {
        Spec { program, args: &[], stdin: None, env: &[], timeout: Duration::from_secs(60), interpreter: None }
    }
}

/// Runs the program; `shim` adds LD_PRELOAD. Kills it after the timeout.
pub fn run(spec: &Spec<'_>, shim: bool) -> Run {
    let mut cmd = match spec.interpreter {
        Some(i) => {
            let mut c = Command::new(i);
            c.arg(spec.program);
            c
        }
        None => Command::new(spec.program),
    };
    cmd.args(spec.args).env_remove("LD_PRELOAD");
    for (k, v) in spec.env {
        cmd.env(k, v);
    }
    if shim {
        cmd.env("LD_PRELOAD", lib());
    }
    run_command(cmd, spec.stdin, spec.timeout)
}

/// Runs a prepared command with piped stdout and stderr (and `stdin` fed to it, else
/// /dev/null); kills it after `timeout`.
pub fn run_command(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Run {
    use std::os::unix::process::ExitStatusExt;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    if let Some(data) = stdin {
        let mut w = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        if rx.recv_timeout(timeout).is_err() {
            // SAFETY-free: plain kill of our own child.
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    });
    let out = child.wait_with_output().expect("wait");
    let wall = start.elapsed();
    let _ = tx.send(());
    let _ = killer.join();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut metrics = HashMap::new();
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("METRIC ") {
            if let Some((k, v)) = rest.split_once('=') {
                if let Ok(v) = v.trim().parse::<i64>() {
                    metrics.entry(k.to_string()).and_modify(|x: &mut i64| *x = (*x).max(v)).or_insert(v);
                }
            }
        }
    }
    Run { status: out.status.code(), signal: out.status.signal(), stdout, stderr, wall, metrics }
}

/// Runs natively and under the shim; asserts both pass with identical stdout.
/// Returns (native, shim).
pub fn compare(spec: &Spec<'_>) -> (Run, Run) {
    let native = run(spec, false);
    assert!(native.ok(), "native run of {} failed: {:?}\nstderr:\n{}", spec.program.display(), native.status, native.stderr);
    let shim = run(spec, true);
    assert!(shim.ok(), "shim run of {} failed: status {:?} signal {:?}\nstdout:\n{}\nstderr:\n{}", spec.program.display(), shim.status, shim.signal, shim.stdout, shim.stderr);
    assert_eq!(native.stdout, shim.stdout, "stdout differs between native and shim runs of {}", spec.program.display());
    (native, shim)
}

/// Offload-pool threads the shim reported at exit (GREENSHIM_STATS), 0 if none; the
/// largest figure when several processes reported (wrapper scripts, children).
pub fn offload_threads(r: &Run) -> i64 {
    r.stderr
        .lines()
        .filter_map(|l| l.split(" on ").nth(1)?.split(" offload threads").next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// The usual assertions: same output, and under the shim every green thread ran on one
/// OS thread. The only other OS threads allowed are the offload pool's (DNS lookups,
/// fsync… run there), which the shim reports at exit.
pub fn compare_one_thread(spec: &Spec<'_>, metric: &str) -> (Run, Run) {
    let mut env: Vec<(&str, &str)> = spec.env.to_vec();
    env.push(("GREENSHIM_STATS", "1"));
    let with_stats = Spec { program: spec.program, args: spec.args, stdin: spec.stdin, env: &env, timeout: spec.timeout, interpreter: spec.interpreter };
    let (n, s) = compare(&with_stats);
    // The pool may still grow after the program sampled its thread count.
    let pool = offload_threads(&s);
    let seen = s.metric(metric);
    let hubs = hubs();
    assert!((1..=hubs + pool).contains(&seen), "under the shim {metric} should be at most {hubs} (the hubs) + {pool} offload threads, was {seen}\nstderr:\n{}", s.stderr);
    (n, s)
}

/// OS threads that run green threads in this test run (GREENSHIM_HUBS in the test
/// environment: `make test-hubs` runs the whole suite with 2).
pub fn hubs() -> i64 {
    match std::env::var("GREENSHIM_HUBS").ok().as_deref().map(str::trim) {
        None | Some("") => 1,
        Some("auto") => std::thread::available_parallelism().map_or(1, |n| n.get() as i64),
        Some(v) => v.parse().unwrap_or(1),
    }
}

pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}
