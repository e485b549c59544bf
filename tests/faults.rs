//! The fault suite: programs that put the shim under adversarial but ordinary
//! conditions (signal handlers at any instruction, signal APIs other than `sigaction`,
//! resource limits, fork from threads, memory churn). Each runs natively and under the
//! shim and must give the same stdout and exit status. `make faults` runs the same
//! programs through scripts/faults.sh and prints a native/shim table; the soak forms
//! take their duration from FAULTS_SOAK_S.

mod common;
use common::*;
use std::time::Duration;

fn fault(name: &str) -> std::path::PathBuf {
    c_program("faults", name)
}

/// Runs a fault program natively and under the shim with a deadline (a hang fails).
fn same_as_native(name: &str, args: &[&str]) -> (Run, Run) {
    let p = fault(name);
    let mut spec = Spec::new(&p);
    spec.args = args;
    spec.timeout = Duration::from_secs(30);
    compare(&spec)
}

#[test]
fn sem_post_from_a_signal_handler_never_deadlocks() {
    let (_, shim) = same_as_native("sem_post_handler", &[]);
    assert!(shim.metric("handler_posts") > 100);
}

#[test]
fn every_signal_api_interrupts_or_restarts_like_native() {
    same_as_native("signal_apis", &[]);
}

#[test]
fn masked_waits_park_and_honour_their_mask() {
    same_as_native("masked_waits", &[]);
}

#[test]
fn cpu_clock_sleeps_end_and_select_normalises_like_linux() {
    same_as_native("clocks_select", &[]);
}

#[test]
fn timers_and_stacks_of_finished_waits_and_threads_are_returned() {
    let (native, shim) = same_as_native("memory", &[]);
    eprintln!(
        "rss growth KiB native/shim: round trips {}/{}, joined stacks {}/{}",
        native.metric("poll_round_trips_rss_growth_kib"),
        shim.metric("poll_round_trips_rss_growth_kib"),
        native.metric("joined_stacks_rss_growth_kib"),
        shim.metric("joined_stacks_rss_growth_kib")
    );
}

#[test]
fn at_the_fd_limit_waits_work_and_dup2_reaches_every_number() {
    same_as_native("fd_limits", &[]);
}

#[test]
fn diagnostics_never_reach_a_replaced_stderr_or_a_silenced_log() {
    same_as_native("stderr_taken", &[]);
    let p = fault("stderr_taken");
    let mut spec = Spec::new(&p);
    spec.args = &["keep"];
    spec.env = &[("GREENSHIM_LOG", "off")];
    spec.timeout = Duration::from_secs(30);
    let r = run(&spec, true);
    assert!(r.ok(), "{r:?}");
    assert!(!r.stderr.contains("greenshim"), "GREENSHIM_LOG=off, yet: {}", r.stderr);
}

#[test]
fn fork_children_hold_only_the_forking_thread() {
    same_as_native("fork_faults", &[]);
}

#[test]
fn a_program_given_stack_is_used() {
    same_as_native("thread_stack", &[]);
}

#[test]
fn a_stack_size_that_overflows_is_rejected() {
    let p = fault("thread_stack");
    for v in ["18446744073709551615", "17179869184K", "5G"] {
        let mut spec = Spec::new(&p);
        let env = [("GREENSHIM_STACK_SIZE", v)];
        spec.env = &env;
        let r = run(&spec, true);
        assert_eq!(r.status, Some(2), "GREENSHIM_STACK_SIZE={v}: {r:?}");
        assert!(r.stderr.contains("invalid GREENSHIM_STACK_SIZE"), "{}", r.stderr);
    }
}

#[test]
fn pthread_kill_interrupts_the_target_thread_only() {
    same_as_native("pthread_kill_eintr", &[]);
}

/// A SIGCHLD handler that reaps every child never takes system()'s child: the caller's
/// mask blocks SIGCHLD for the call, as glibc's system() does in the calling thread.
#[test]
fn system_keeps_its_child_from_a_reaping_sigchld_handler() {
    same_as_native("system_sigchld", &[]);
}

#[test]
fn the_overflow_reporter_is_invisible_and_segv_kills_as_natively() {
    same_as_native("segv_invisible", &[]);
}

/// Soak length for the soak programs: FAULTS_SOAK_S, or 1 s in `make test`.
fn soak_env() -> String {
    std::env::var("FAULTS_SOAK_S").unwrap_or_else(|_| "1".to_string())
}

fn soak(name: &str) -> (Run, Run) {
    let p = fault(name);
    let secs = soak_env();
    let env = [("FAULTS_SOAK_S", secs.as_str())];
    let mut spec = Spec::new(&p);
    spec.env = &env;
    spec.timeout = Duration::from_secs(secs.parse::<u64>().unwrap_or(1) * 4 + 60);
    compare(&spec)
}

#[test]
fn soak_thread_connection_and_timed_wait_churn_keeps_memory_flat() {
    let (_, shim) = soak("soak_churn");
    eprintln!("shim RSS {} -> {} KiB over {} rounds", shim.metric("churn_rss_before_kib"), shim.metric("churn_rss_after_kib"), shim.metric("churn_rounds"));
}

#[test]
fn soak_1khz_signal_storm_loses_nothing() {
    soak("signal_storm");
}

#[test]
fn storms_emfile_reset_fork_and_high_fds() {
    same_as_native("storms", &[]);
}

#[test]
fn sigwaitinfo_reports_what_the_kernel_queued() {
    same_as_native("sigwaitinfo_details", &[]);
}

#[test]
fn offloaded_calls_complete_when_no_os_thread_can_start() {
    same_as_native("no_threads_left", &[]);
}

#[test]
fn python_sees_sigsegv_as_sig_dfl() {
    let p = py_program("segv_signal");
    let py = python();
    let mut spec = Spec::new(&p);
    spec.interpreter = Some(&py);
    compare(&spec);
}

#[test]
fn scheduling_settings_are_per_thread() {
    same_as_native("sched_params", &[]);
}
