//! Issue #3: green-aware synchronization and thread identity, C programs compared with
//! their native runs.

mod common;
use common::*;

fn check(name: &str) -> (Run, Run) {
    let p = c_program("sync", name);
    compare_one_thread(&Spec::new(&p), "os_threads_max")
}

#[test]
fn producer_consumer_mutex_condvar() {
    check("prodcons");
}

#[test]
fn mutex_types_error_codes_match_native() {
    check("mutex_types");
}

#[test]
fn timed_waits_time_out_on_time() {
    check("timed_waits");
}

#[test]
fn rwlock_readers_overlap_writer_exclusive() {
    let (_, shim) = check("rwlock");
    assert!(shim.metric("readers_wall_ms") < 1000);
}

#[test]
fn barrier_rounds() {
    check("barrier");
}

#[test]
fn once_with_sleeping_init() {
    check("once");
}

#[test]
fn keys_and_destructors() {
    check("keys");
}

#[test]
fn thread_identity_calls_accept_green_handles() {
    check("thread_identity");
}

#[test]
fn mutex_stress_10000_threads_exact_total() {
    check("mutex_stress");
}

#[test]
fn spinlocks_do_not_spin_forever_on_parked_owner() {
    check("spin");
}

#[test]
fn old_glibc_2_2_5_condvar_abi_is_served() {
    check("old_condvar");
}

/// C11 <threads.h>: thrd_create/join/exit/detach, mtx (plain, timed, recursive), cnd,
/// call_once, tss destructors, thrd_sleep in 50 threads: green threads on one OS thread.
#[test]
fn c11_threads_are_green() {
    let (native, shim) = check("c11_threads");
    assert!(native.metric("os_threads_max") > 1, "{}", native.stderr);
    assert!(shim.metric("sleep50_ms") < 3000, "{}", shim.stderr);
}
