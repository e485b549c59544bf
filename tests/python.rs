//! Issue #3: unmodified CPython `threading` under the shim: same stdout as native, one
//! OS thread.

mod common;
use common::*;

fn check(name: &str) -> (Run, Run) {
    let p = py_program(name);
    let py = python();
    let mut spec = Spec::new(&p);
    spec.interpreter = Some(&py);
    compare_one_thread(&spec, "os_threads_max")
}

#[test]
fn py_sleep100_one_second_one_thread() {
    let (_, shim) = check("sleep100");
    let wall = shim.metric("wall_ms");
    assert!(wall < 3000, "100 × time.sleep(1) took {wall} ms");
}

#[test]
fn py_threading_tcp_server_200_clients() {
    check("tcp_server");
}

#[test]
fn py_thread_pool_executor() {
    check("executor");
}

#[test]
fn py_queue_producer_consumer() {
    check("queue_pc");
}

#[test]
fn py_sync_primitives() {
    check("sync_prims");
}

#[test]
fn py_threading_http_server() {
    check("http_server");
}

/// The gevent tutorial classics, as plain threading: the sleep(0) ping-pong runs in
/// gevent's order under the shim.
#[test]
fn py_gevent_classics() {
    let (_, shim) = check("gevent_classics");
    // gevent's order is one hub's FIFO order (with several, threads run side by side).
    if hubs() == 1 {
        assert!(shim.stderr.contains("ORDER foo:running bar:running foo:again bar:back"), "{}", shim.stderr);
    }
    assert!(shim.metric("wall_ms") < 2500);
}

/// Ctrl-C reaches a main thread blocked in sleep / Event.wait / Lock.acquire.
#[test]
fn py_keyboard_interrupt_is_prompt() {
    check("keyboard_interrupt");
}

/// Issue #4: reading a terminal (pty) while other threads run.
#[test]
fn py_tty_read_does_not_freeze_others() {
    check("tty_read");
}

/// Threads reading /proc files while others sleep: procfs has no RWF_NOWAIT, but its
/// files are generated on read, so they are read inline — no offload thread appears
/// (it used to: CPython's open().read() of /proc/self/status started pool threads).
#[test]
fn py_proc_file_reads_stay_on_one_os_thread() {
    let (_, shim) = check("proc_reads");
    assert!(shim.metric("os_threads_max") <= hubs(), "no offload thread expected:\n{}", shim.stderr);
}
