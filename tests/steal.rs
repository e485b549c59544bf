//! Several hubs: an idle hub takes green threads that have not started from a hub
//! that is busy running one thing (hub::steal), so they do not wait for it; a thread
//! that has started never moves. Each program runs natively and under the shim with two
//! hubs (whatever GREENSHIM_HUBS the suite runs with).
//!
//! (GREENSHIM_RAW=off and GREENSHIM_PREEMPT=off: the raw layer and preemption run on
//! one hub, and `make test-raw` sets GREENSHIM_RAW=catch for the whole suite.)

mod common;
use common::*;

const ENV: &[(&str, &str)] = &[("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off"), ("GREENSHIM_STATS", "1")];

/// A per-hub counter the shim reported at exit (GREENSHIM_STATS), or None.
fn hub_stat(r: &Run, i: usize, name: &str) -> Option<i64> {
    let key = format!("greenshim stats: hub {i}: ");
    let line = r.stderr.lines().find_map(|l| l.strip_prefix(key.as_str()))?;
    line.split(", ").find_map(|f| f.strip_prefix(name)?.trim().parse().ok())
}

/// A compute thread runs about a second without a call on hub 1; 50 short threads are
/// created while it runs, half of them placed behind it. As natively on two CPUs, every
/// short thread finishes before the compute thread: hub 0 takes the ones queued on
/// hub 1 once it is idle.
#[test]
fn idle_hub_takes_threads_queued_behind_a_compute_thread() {
    let p = c_program("hubs", "steal_compute");
    let spec = Spec { env: ENV, ..Spec::new(&p) };
    let (native, shim) = compare(&spec);
    assert_eq!(native.stdout, "short threads done: 40, cancelled: 10\nevery short thread finished before the compute thread: yes\n", "{}", native.stderr);
    let taken = hub_stat(&shim, 0, "threads taken before they started").unwrap_or(0);
    assert!(taken > 0, "hub 0 took nothing from hub 1:\n{}", shim.stderr);
    // Hub 1 ran nothing but the compute thread.
    assert_eq!(hub_stat(&shim, 1, "context switches"), Some(1), "{}", shim.stderr);
    let (compute, shorts) = (shim.metric("compute_ms"), shim.metric("shorts_ms"));
    assert!(shorts * 2 < compute, "short threads took {shorts} ms, the compute thread {compute} ms:\n{}", shim.stderr);
}

/// A thread on hub 1 creates a thread on its own hub while hub 0 sleeps in epoll, then
/// computes about a second: hub 0 is woken at the creation and takes the new thread,
/// which finishes long before the computation, as natively on two CPUs.
#[test]
fn sleeping_hub_is_woken_to_take_a_new_thread() {
    let p = c_program("hubs", "steal_wake");
    let spec = Spec { env: ENV, ..Spec::new(&p) };
    let (native, shim) = compare(&spec);
    assert_eq!(native.stdout, "X finished before C's computation ended: yes\n", "{}", native.stderr);
    assert_eq!(hub_stat(&shim, 0, "threads taken before they started"), Some(1), "{}", shim.stderr);
    let (compute, x) = (shim.metric("compute_ms"), shim.metric("x_ms"));
    assert!(x * 2 < compute, "X took {x} ms, the computation {compute} ms:\n{}", shim.stderr);
}

/// 5,000 threads created from four creators on both hubs, with random short work
/// (mutex, computation, yield, sleep) and now and then a long computation: exact totals,
/// every thread joined, and each one's `__thread` variable, `&errno` and
/// `pthread_self()` stay the same across its parks (a thread moved after it started
/// would see another OS thread's TLS).
#[test]
fn five_thousand_threads_from_both_hubs_keep_their_tls() {
    let p = c_program("hubs", "steal_stress");
    let spec = Spec { env: ENV, ..Spec::new(&p) };
    let (_, shim) = compare(&spec);
    assert!(shim.stdout.ends_with("threads that saw their TLS, errno or pthread_self change: 0\n"), "{}", shim.stdout);
    for i in 0..2 {
        assert!(hub_stat(&shim, i, "context switches").unwrap_or(0) > 100, "hub {i} barely ran:\n{}", shim.stderr);
    }
}
