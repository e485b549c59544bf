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
    spec.env = &[("GREENSHIM_RAW", "catch")];
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
    spec.env = &[("GREENSHIM_RAW", "report")];
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
        let env = [("GREENSHIM_RAW", mode)];
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
    spec.env = &[("GREENSHIM_RAW", "catch")];
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
    spec.env = &[("GREENSHIM_RAW", "catch")];
    spec.timeout = Duration::from_secs(30);
    let (_, shim) = compare(&spec);
    assert!(shim.metric("ticks_during_queries") >= 10, "{}", shim.stderr);
}
