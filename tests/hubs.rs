//! Several hubs (GREENSHIM_HUBS): every primitive across OS threads, wakes from one hub
//! reaching a thread parked on another, fd waits on one fd from two hubs, fork from a
//! thread on the second hub, and the variable's validation. Each program runs natively
//! and under the shim with two hubs (whatever GREENSHIM_HUBS the suite runs with).

mod common;
use common::*;

fn hubs_prog(name: &str) -> std::path::PathBuf {
    c_program("hubs", name)
}

/// Context switches the shim reported for hub `i` (GREENSHIM_STATS), or None.
fn hub_switches(r: &Run, i: usize) -> Option<i64> {
    let key = format!("greenshim stats: hub {i}: context switches ");
    r.stderr.lines().find_map(|l| l.strip_prefix(key.as_str())?.split(',').next()?.trim().parse().ok())
}

#[test]
fn cross_hub_mutex_condvar_semaphore_rwlock_barrier_fd_and_fork() {
    let p = hubs_prog("cross_hub");
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off"), ("GREENSHIM_STATS", "1")];
    let (native, shim) = compare(&spec);
    assert!(native.metric("os_threads_max") > 2, "{}", native.stderr);
    assert_eq!(shim.metric("os_threads_max"), 2, "two hubs, no other OS thread:\n{}", shim.stderr);
    // Both hubs ran green threads (the wakes crossed between them).
    for i in 0..2 {
        assert!(hub_switches(&shim, i).unwrap_or(0) > 1000, "hub {i} barely ran:\n{}", shim.stderr);
    }
    assert!(shim.stdout.contains("mutex: 10000 threads x 100 = 1000000"), "{}", shim.stdout);
}

/// Shim only (natively `close` does not end a blocked read): closing an fd that
/// threads on both hubs wait on wakes both with EBADF, and the number's next user is
/// not confused with it.
#[test]
fn close_wakes_waiters_on_both_hubs() {
    let p = hubs_prog("cross_hub");
    let spec = Spec { args: &["close"], env: &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off")], ..Spec::new(&p) };
    let r = run(&spec, true);
    assert!(r.ok(), "{:?}\n{}", r.status, r.stderr);
    assert_eq!(r.stdout, "close: readers got -1 EBADF, -1 EBADF\nfd reuse: same number\nfd reuse: new reader got \"hello\"\n", "{}", r.stderr);
}

/// CPU-bound threads get an OS thread each: both hubs compute (per-hub switch counts),
/// and the results are the native ones. (Each hub runs at least one: a hub done with its
/// own may take one the other has not started, hub::steal.)
#[test]
fn compute_threads_spread_over_hubs() {
    let p = hubs_prog("compute");
    let mut spec = Spec::new(&p);
    spec.args = &["4"];
    spec.env = &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off"), ("GREENSHIM_STATS", "1")];
    let (_, shim) = compare(&spec);
    for i in 0..2 {
        assert!(hub_switches(&shim, i).unwrap_or(0) >= 1, "hub {i} did not run a compute thread:\n{}", shim.stderr);
    }
}

#[test]
fn hubs_is_validated() {
    let p = hubs_prog("compute");
    for bad in ["0", "65", "two", "-1"] {
        let spec = Spec { args: &["1"], env: &[("GREENSHIM_HUBS", bad), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off")], ..Spec::new(&p) };
        let r = run(&spec, true);
        assert!(!r.ok(), "GREENSHIM_HUBS={bad} accepted");
        assert!(r.stderr.contains("GREENSHIM_HUBS") && r.stderr.contains("auto or a number from 1 to 64"), "{}", r.stderr);
    }
}

/// Preemption on every hub: each hub's own timer switches its computations out, so a
/// ticker on each hub keeps ticking beside two 400 ms computations (worst gap within a
/// few slices, not the 800 ms they take), and the results are exact, as natively.
#[test]
fn preemption_on_every_hub() {
    let p = hubs_prog("preempt_hubs");
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "5"), ("GREENSHIM_STATS", "1")];
    spec.timeout = std::time::Duration::from_secs(30);
    let (_, shim) = compare(&spec);
    let gap = shim.metric("worst_gap_ms");
    // Without preemption the gap is the 800 ms its hub's computations take (the control
    // below); the bound leaves room for a loaded machine.
    assert!(gap <= 400, "a ticker waited {gap} ms beside computations on its hub:\n{}", shim.stderr);
    for i in 0..2 {
        assert!(hub_switches(&shim, i).unwrap_or(0) >= 20, "hub {i} barely switched:\n{}", shim.stderr);
    }
}

/// The control: without preemption, a ticker that shares its hub with computations
/// waits for them (the property above is preemption's, not placement's).
#[test]
fn without_preemption_a_ticker_waits_for_its_hub() {
    let p = hubs_prog("preempt_hubs");
    let spec = Spec { env: &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "off")], timeout: std::time::Duration::from_secs(30), ..Spec::new(&p) };
    let r = run(&spec, true);
    assert!(r.ok(), "{}", r.stderr);
    assert!(r.metric("worst_gap_ms") >= 600, "a ticker ran beside computations without preemption:\n{}", r.stderr);
}

/// The default, GREENSHIM_PREEMPT=auto: with several hubs each is time-sliced (every
/// 5 ms of its CPU time, with no raw layer), so threads that share a hub take turns as
/// they would on a core: a ticker beside two 400 ms computations on its hub keeps
/// ticking, with exact results, as natively. With one hub `auto` means off (the ticker
/// then waits for the computations, as in v1).
#[test]
fn several_hubs_time_slice_by_default() {
    let p = hubs_prog("preempt_hubs");
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "auto"), ("GREENSHIM_STATS", "1")];
    spec.timeout = std::time::Duration::from_secs(30);
    let (_, shim) = compare(&spec);
    let gap = shim.metric("worst_gap_ms");
    assert!(gap <= 400, "a ticker waited {gap} ms beside computations on its hub:\n{}", shim.stderr);
    assert!(shim.stderr.contains("greenshim stats: preemption every 5 ms"), "{}", shim.stderr);
    let one = Spec { env: &[("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "auto"), ("GREENSHIM_STATS", "1")], ..spec };
    let r = run(&one, true);
    assert!(r.ok(), "{}", r.stderr);
    assert!(!r.stderr.contains("greenshim stats: preemption"), "auto preempted with one hub:\n{}", r.stderr);
    assert!(r.metric("worst_gap_ms") >= 600, "a ticker ran beside computations on one hub without preemption:\n{}", r.stderr);
}

/// One rwlock taken by 8 threads on two hubs 30,000 times each, a third of them to
/// write (yielding while holding it): every wake reaches its waiter, and no read sees a
/// write half done. (The waiter's flag and the lock word are two words; with relaxed
/// ordering a waiter could miss an unlock on the other hub that missed its flag: once
/// seen as a reader parked on a free lock in `cross_hub`.)
#[test]
fn rwlock_hand_offs_across_hubs_lose_no_wake() {
    let p = hubs_prog("rwlock_hubs");
    for preempt in ["off", "auto"] {
        let env = [("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", preempt)];
        let spec = Spec { env: &env, timeout: std::time::Duration::from_secs(60), ..Spec::new(&p) };
        compare(&spec);
    }
}

/// A condvar ping-pong across two hubs whose mutex glibc keeps (robust, then
/// process-shared) while the condvar is the shim's: 20,000 turns each way. The waiter
/// is queued before its mutex is released (it used to release first, then queue —
/// safe on one hub, where nothing runs in between, but not with a thread on another
/// hub free to take the mutex and signal; this ping-pong did not catch that order in
/// three runs of the old build, so it stands as a stress test).
#[test]
fn condvar_with_a_glibc_mutex_across_hubs() {
    let p = hubs_prog("robust_condvar");
    let env = [("GREENSHIM_HUBS", "2")];
    let spec = Spec { env: &env, timeout: std::time::Duration::from_secs(60), ..Spec::new(&p) };
    compare(&spec);
}

/// The daemon pattern under the default preemption: main blocks every signal, a thread
/// waits in `sigwait` on the full set, the process gets SIGUSR1. The waiter gets
/// SIGUSR1 (it once got SIGRTMAX-1: a preemption tick left pending by main's mask), mask
/// queries in main and in the threads that inherited its mask show every signal
/// blocked, as natively — and the hubs are still time-sliced (a ticker beside 300 ms
/// computations keeps ticking; with main's mask holding the ticks back it waited 300 ms).
#[test]
fn a_full_signal_mask_neither_stops_preemption_nor_sees_its_ticks() {
    let p = hubs_prog("sigwait_all");
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_PREEMPT", "auto"), ("GREENSHIM_STATS", "1")];
    spec.timeout = std::time::Duration::from_secs(30);
    let (_, shim) = compare(&spec);
    let gap = shim.metric("worst_gap_ms");
    assert!(gap <= 200, "a ticker waited {gap} ms beside computations on its hub:\n{}", shim.stderr);
}

/// A new program image inherits the mask of the thread that made it: posix_spawn,
/// posix_spawnp (with a mask of its own too), fork + execv/execl/execle, vfork + execv
/// and execl replacing the process, from a thread that blocked SIGUSR2 and SIGRTMAX-1
/// beside main's SIGUSR1 — with one hub and with two (the thread on the second hub).
/// Before, an image started from a green thread got main's mask (one hub), or the
/// second hub's, which blocks nearly every signal, SIGTERM and SIGINT included.
#[test]
fn exec_and_spawn_pass_on_the_calling_threads_signal_mask() {
    let p = hubs_prog("exec_mask");
    for hubs in ["1", "2"] {
        let env = [("GREENSHIM_HUBS", hubs), ("GREENSHIM_PREEMPT", "auto")];
        let spec = Spec { env: &env, timeout: std::time::Duration::from_secs(30), ..Spec::new(&p) };
        compare(&spec);
    }
}

/// `auto`: one hub per usable CPU for a C program; one for CPython (its GIL runs one
/// thread at a time), as `greenshim doctor` says.
///
/// (The tests here pin GREENSHIM_RAW and GREENSHIM_PREEMPT: those with them off test
/// the hubs alone, and preemption would time-slice the compute threads.)
#[test]
fn auto_counts_cpus_and_keeps_cpython_on_one_hub() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()).min(64);
    let p = hubs_prog("compute");
    let spec = Spec { args: &["4"], env: &[("GREENSHIM_HUBS", "auto"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off"), ("GREENSHIM_STATS", "1")], ..Spec::new(&p) };
    let r = run(&spec, true);
    assert!(r.ok(), "{}", r.stderr);
    let hubs = (0..64).filter(|&i| hub_switches(&r, i).is_some()).count();
    assert_eq!(hubs.max(1), cpus, "auto should run one hub per CPU:\n{}", r.stderr);
    let py = python();
    let script = root().join("c-tests/py/sleep100.py");
    let spec = Spec { interpreter: Some(&py), env: &[("GREENSHIM_HUBS", "auto"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off"), ("GREENSHIM_STATS", "1")], ..Spec::new(&script) };
    let r = run(&spec, true);
    assert!(r.ok(), "{}", r.stderr);
    assert!(hub_switches(&r, 1).is_none(), "CPython should get one hub under auto:\n{}", r.stderr);
}

/// Signals with threads on two hubs: `pthread_kill` of main from the other hub and a
/// process-directed `kill` both end main's blocked read with EINTR; `pthread_kill` of a
/// worker ends its read and leaves main's sleep alone — as natively.
#[test]
fn signals_across_hubs() {
    let p = hubs_prog("signals");
    let spec = Spec { env: &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off")], ..Spec::new(&p) };
    compare(&spec);
}

/// `exec` from a thread on the second hub while main and another thread block: the new
/// program replaces the process, as natively.
#[test]
fn exec_from_a_thread_on_the_second_hub() {
    let p = hubs_prog("exec_thread");
    let spec = Spec { env: &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off")], ..Spec::new(&p) };
    let (_, shim) = compare(&spec);
    assert_eq!(shim.stdout, "before exec\nexec from a thread: ok\n");
}

/// Main alone on its hub waits on what only the kernel ends (a process-shared
/// semaphore, a FIFO open) while a thread on the other hub starts the thread that ends
/// it, placed on main's hub: the wait parks instead of blocking that hub's OS thread
/// (it used to, "nothing else on this hub", and the program hung).
#[test]
fn a_wait_of_main_alone_on_its_hub_does_not_block_threads_placed_there() {
    let p = hubs_prog("alone_inline");
    let spec = Spec { env: &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off")], timeout: std::time::Duration::from_secs(20), ..Spec::new(&p) };
    compare(&spec);
}

/// Four threads on two hubs write records to one fully buffered FILE at once (fwrite,
/// fputs, fputc) and `puts` to stdout: no record torn, lost, doubled or out of order, as
/// natively. With several hubs the shim copies into the buffer itself under glibc's FILE
/// lock, taken with trylock (without the lock this program finds torn records).
#[test]
fn stdio_from_threads_on_two_hubs_keeps_records_whole() {
    let p = hubs_prog("stdio_hubs");
    let spec = Spec { env: &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off")], timeout: std::time::Duration::from_secs(60), ..Spec::new(&p) };
    let (_, shim) = compare(&spec);
    assert!(shim.stdout.contains(" 0 malformed or out of order, 66664 empty lines"), "{}", shim.stdout);
}
