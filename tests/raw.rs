//! GREENSHIM_RAW: system calls made with the `syscall` instruction outside libc's
//! symbols (glibc internals, raw calls in the program) — reported by call site, or
//! served by parking — through Syscall User Dispatch. Each program runs natively and
//! under the shim with the same stdout.

mod common;
use common::*;
use std::time::Duration;

fn raw(name: &str) -> std::path::PathBuf {
    c_program("raw", name)
}

/// With `catch`, a raw read that waits for another thread parks: the writer and a
/// ticker run meanwhile (without it the OS thread would block and the writer, a green
/// thread on it, could never write). Raw sleeps and polls likewise; results, errno,
/// signal handlers returning through libc's restorer, a blocked SIGSYS and a fork child
/// all behave as natively.
#[test]
fn catch_parks_raw_blocking_calls_and_keeps_results_exact() {
    let p = raw("raw_calls");
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch")];
    spec.timeout = Duration::from_secs(30);
    let (_, shim) = compare(&spec);
    assert!(shim.metric("ticks_during_read") >= 20, "the ticker stalled during the raw read:\n{}", shim.stderr);
    assert!(shim.metric("ticks_during_sleep") >= 10, "the ticker stalled during the raw sleep:\n{}", shim.stderr);
}

/// With `report`, the same calls (those that do not wait for another thread) run as
/// natively, and the exit report names each blocking call site with its count.
#[test]
fn report_lists_raw_blocking_calls_by_call_site() {
    let p = raw("raw_calls");
    let mut spec = Spec::new(&p);
    spec.args = &["nowait"];
    spec.env = &[("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "report")];
    spec.timeout = Duration::from_secs(30);
    let (_, shim) = compare(&spec);
    let lines: Vec<&str> = shim.stderr.lines().filter(|l| l.starts_with("greenshim raw:")).collect();
    assert!(lines.first().is_some_and(|l| l.contains("call site(s) made blocking system calls")), "{}", shim.stderr);
    let prog = p.file_name().unwrap().to_str().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("× read") && l.contains(prog)),
        "no raw read from the program reported:\n{}",
        shim.stderr
    );
    assert!(lines.iter().any(|l| l.contains("× write") && l.contains(prog)), "{}", shim.stderr);
    // Without the mode, nothing is reported.
    let mut quiet = Spec::new(&p);
    quiet.args = &["nowait"];
    let (_, off) = compare(&quiet);
    assert!(!off.stderr.contains("greenshim raw:"), "{}", off.stderr);
}

/// A program's own SIGSYS handler (seccomp-style sandboxes) keeps working: reported
/// back by sigaction, reached by kill/raise with SI_USER, ignorable, and the default
/// action still kills a child.
#[test]
fn programs_own_sigsys_action_is_kept() {
    let p = raw("own_sigsys");
    for mode in ["catch", "report"] {
        let mut spec = Spec::new(&p);
        let env = [("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", mode)];
        spec.env = &env;
        spec.timeout = Duration::from_secs(30);
        compare(&spec);
    }
}

/// CPython under `catch`: threads, sockets, subprocesses and signals through libc's
/// internals, with the same output as natively.
#[test]
fn cpython_threads_under_catch() {
    let script = root().join("c-tests").join("raw").join("py_raw.py");
    let py = python();
    let mut spec = Spec::new(&script);
    spec.interpreter = Some(&py);
    spec.env = &[("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch")];
    spec.timeout = Duration::from_secs(60);
    compare(&spec);
}

/// The resolver under `catch`: its internal sockets park, and a lock inside libc held
/// by a thread parked in such a call (the resolver's configuration lock while it reads
/// /etc/resolv.conf) is waited for by the others with a back-off park, not a kernel
/// futex wait that would stop the OS thread the holder needs.
#[test]
fn resolver_internals_and_libc_locks_under_catch() {
    let p = c_program("io", "res_query");
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch")];
    spec.timeout = Duration::from_secs(30);
    let (_, shim) = compare(&spec);
    assert!(shim.metric("ticks_during_queries") >= 10, "{}", shim.stderr);
}

/// GREENSHIM_PREEMPT: a thread that computes without making any call is switched out at
/// a safe point every few ms, so a ticker beside it keeps ticking (its worst gap stays
/// within a few slices instead of the whole computation), and the computation's results
/// are exact (registers, flags and vector state survive the switch).
#[test]
fn preemption_keeps_a_ticker_running_beside_a_computation() {
    let p = raw("preempt");
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "5")];
    spec.timeout = Duration::from_secs(30);
    let (_, shim) = compare(&spec);
    let gap = shim.metric("worst_gap_ms");
    assert!(gap <= 100, "the ticker waited {gap} ms beside a 400 ms computation:\n{}", shim.stderr);
}

/// A CPU-bound CPython thread beside a thread that talks to a TCP responder: with
/// preemption the GIL changes hands and the answers keep coming, as natively.
#[test]
fn preemption_lets_cpython_hand_the_gil_over() {
    let script = root().join("c-tests").join("raw").join("py_preempt.py");
    let py = python();
    let mut spec = Spec::new(&script);
    spec.interpreter = Some(&py);
    spec.env = &[("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "2")];
    spec.timeout = Duration::from_secs(60);
    compare(&spec);
}

/// CPython's own test that needs preemption: a tight loop interrupted by
/// `_thread.interrupt_main` from another thread (it fails under the shim without it).
#[test]
fn cpython_can_interrupt_tight_loops_with_preemption() {
    let py = python();
    let run = |shim: bool| {
        let mut c = std::process::Command::new(&py);
        c.args(["-m", "test", "test_threading", "-m", "test_can_interrupt_tight_loops"]);
        c.env_remove("LD_PRELOAD");
        if shim {
            c.env("LD_PRELOAD", lib()).env("GREENSHIM_HUBS", "1").env("GREENSHIM_RAW", "catch").env("GREENSHIM_PREEMPT", "5");
        }
        let o = c.output().expect("python");
        let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.success(), out)
    };
    let (ok, out) = run(false);
    assert!(ok && out.contains("Result: SUCCESS"), "native:\n{out}");
    let (ok, out) = run(true);
    assert!(ok && out.contains("Result: SUCCESS"), "under the shim:\n{out}");
}

/// Preemption needs the raw layer and per-green TLS: asking for it without them stops
/// the program with a message naming the variable.
#[test]
fn preempt_is_validated() {
    let p = raw("preempt");
    for (env, ok) in [
        (vec![("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "off")], true),
        (vec![("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "report"), ("GREENSHIM_PREEMPT", "10")], true),
        (vec![("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "10")], false),
        (vec![("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch"), ("GREENSHIM_TLS", "shared"), ("GREENSHIM_PREEMPT", "10")], false),
        (vec![("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "1001")], false),
        (vec![("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "5ms")], false),
    ] {
        let mut c = std::process::Command::new(&p);
        c.env("LD_PRELOAD", lib()).env_remove("GREENSHIM_TLS");
        for (k, v) in &env {
            c.env(k, v);
        }
        let o = c.output().expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        if ok {
            assert!(o.status.success(), "{env:?}: {err}");
        } else {
            assert_eq!(o.status.code(), Some(2), "{env:?}: {err}");
            assert!(err.starts_with("greenshim: invalid GREENSHIM_PREEMPT="), "{env:?}: {err}");
        }
    }
}
