//! No flag the program did not set is ever on a file description, and socket calls keep
//! their exact native semantics (tests named after the issue "never change what another
//! process sees"). Every program runs natively and under the shim: same stdout, exit 0,
//! one OS thread under the shim (plus the offload pool's workers).
//!
//! Against the shim that put a hidden O_NONBLOCK on the sockets it created (commit
//! 896db20), these tests failed as follows, which is what shows they can fail:
//! - `py_socket_as_child_stdout`: the 6 "tcp connected socket" cases: dd/head exit 1 with
//!   "Resource temporarily unavailable", ~3.9 of 8 MiB arrive (accepted socket and
//!   socketpair cases passed);
//! - `socket_as_child_stdout_spawn_fork_vfork`: vfork+exec with the connected TCP socket
//!   (child with and without the shim): dd fails with EAGAIN, ~3.9 MiB arrive;
//! - `inherited_listener_parent_keeps_accepting`: every round hangs (watchdog) once the
//!   clients connect: the parent's accept blocks the process;
//! - `child_without_shim_sees_blocking_fds`: /proc/self/fdinfo shows O_NONBLOCK (04002)
//!   on the listener, the connected TCP socket and the UDP socket; then it hangs while
//!   threads are parked (watchdog);
//! - `fdopen_streams_on_sockets_and_pipes`: on the connected TCP socket fprintf fails
//!   with EAGAIN after ~3.9 MiB (reader in a child process or a thread); with the reader
//!   in a thread the accepted socket, socketpair and pipe streams hang (glibc's own write
//!   blocks the only OS thread, so the reader never runs);
//! - `msg_waitall_streams_and_datagrams`: recvmsg(MSG_WAITALL) returns 20 of 200 bytes
//!   (TCP and AF_UNIX); recv(MSG_WAITALL) on UDP with 16 datagrams queued never returns;
//! - `recv_flags_as_native`: recvmsg(MSG_ERRQUEUE) on an empty error queue parks
//!   forever (MSG_PEEK, MSG_TRUNC, MSG_OOB, MSG_DONTWAIT passed);
//! - `failed_dup_changes_nothing`: a failing dup2(not open, T) and dup3(W, T, bad flags)
//!   wake the reader blocked on T with EBADF; on a socket() socket every later blocking
//!   read on T fails at once with EAGAIN and fdinfo shows O_NONBLOCK;
//! - `accepted_socket_inherits_timeouts`: recv/read/send on the accepted sockets never
//!   time out (ended after 3 s by the program's rescuer thread);
//! - `connect_from_50_threads_and_with_sndtimeo`: /proc/self/fdinfo shows O_NONBLOCK on
//!   all 50 connected sockets (the connects themselves and SO_SNDTIMEO passed).

mod common;
use common::*;
use std::time::Duration;

fn io(name: &str) -> (Run, Run) {
    let p = c_program("io", name);
    let mut spec = Spec::new(&p);
    spec.timeout = Duration::from_secs(40);
    compare_one_thread(&spec, "os_threads_max")
}

fn py(name: &str) -> (Run, Run) {
    let p = py_program(name);
    let interp = python();
    let mut spec = Spec::new(&p);
    spec.interpreter = Some(&interp);
    spec.timeout = Duration::from_secs(60);
    compare_one_thread(&spec, "os_threads_max")
}

/// subprocess.run(dd/head, stdout=sock.fileno()) with a slow reader thread: 8 MiB arrive
/// with the right checksum, the child exits 0, with and without the shim in the child.
#[test]
fn py_socket_as_child_stdout() {
    py("sock_child_stdout");
}

/// The same through posix_spawn, fork+exec and vfork+exec in C, for a connected and an
/// accepted TCP socket and a socketpair.
#[test]
fn socket_as_child_stdout_spawn_fork_vfork() {
    io("sock_child_stdout");
}

/// A child (with or without the shim) holds or also accepts on the inherited listener;
/// the parent keeps accepting in a thread and its ticker keeps ticking.
#[test]
fn inherited_listener_parent_keeps_accepting() {
    let (_, shim) = io("listen_inherit");
    let t = shim.metric("ticks_min");
    assert!(t >= 10, "ticker ticked only {t} times in a 300 ms window\n{}", shim.stderr);
}

/// /proc/<pid>/fdinfo, F_GETFL and a child without the shim see no O_NONBLOCK on any fd
/// (socket(), accept(), socketpair(), pipe(), UDP) after creation, while threads are
/// parked in accept/recv/read/recvfrom/connect on them, and afterwards; the child reads
/// and writes the inherited fds blocking.
#[test]
fn child_without_shim_sees_blocking_fds() {
    let (_, shim) = io("child_blocking_view");
    let c = shim.metric("connect_ms");
    assert!((200..5000).contains(&c), "parked connect took {c} ms");
}

/// fdopen + fwrite/fprintf/fputs/fputc/fflush of 4 MiB on sockets and a pipe with slow
/// readers: no stream error, every byte arrives.
#[test]
fn fdopen_streams_on_sockets_and_pipes() {
    io("fdopen_streams");
}

/// MSG_WAITALL collects the whole amount on streams (recv and recvmsg over an iovec) and
/// means one datagram on UDP and AF_UNIX datagram sockets.
#[test]
fn msg_waitall_streams_and_datagrams() {
    io("waitall");
}

/// MSG_ERRQUEUE with an empty queue, MSG_DONTWAIT and MSG_OOB without urgent data answer
/// at once; MSG_PEEK and MSG_TRUNC give the kernel's results.
#[test]
fn recv_flags_as_native() {
    let (_, shim) = io("recv_flags");
    for m in ["errqueue_ms_max", "dontwait_ms_max", "oob_ms"] {
        let v = shim.metric(m);
        assert!(v < 100, "{m}={v}: the call waited\n{}", shim.stderr);
    }
}

/// Failing dup2/dup3/F_DUPFD/dup (EBADF, EINVAL, EMFILE) leave a reader blocked on the
/// target waiting for its data, and the target blocking.
#[test]
fn failed_dup_changes_nothing() {
    io("dup_failures");
}

/// Sockets from accept/accept4 report and apply the listener's SO_RCVTIMEO/SO_SNDTIMEO
/// while another thread ticks.
#[test]
fn accepted_socket_inherits_timeouts() {
    let (_, shim) = io("accept_timeouts");
    for m in ["recv_ms", "read_ms"] {
        let v = shim.metric(m);
        assert!((280..=2000).contains(&v), "{m}={v}\n{}", shim.stderr);
    }
    let s = shim.metric("send_ms");
    assert!((380..3000).contains(&s), "send_ms={s}\n{}", shim.stderr);
    assert!(shim.metric("ticks_recv") >= 10, "{}", shim.stderr);
    assert!(shim.metric("ticks_send") >= 10, "{}", shim.stderr);
}

/// 50 threads connect at once (blocking sockets, no O_NONBLOCK in fdinfo); a connect with
/// SO_SNDTIMEO to a full backlog gives -1 EINPROGRESS after the timeout, one without
/// waits until the queue frees, the ticker running meanwhile.
#[test]
fn connect_from_50_threads_and_with_sndtimeo() {
    let (native, shim) = io("connect_threads");
    // Sampled when the barrier opens; early connectors may already have finished.
    assert!(native.metric("os_threads_max") > 10, "native should use OS threads\n{}", native.stderr);
    let t = shim.metric("timeout_ms");
    assert!((280..=2000).contains(&t), "timeout_ms={t}\n{}", shim.stderr);
    assert!(shim.metric("ticks_timeout") >= 10, "{}", shim.stderr);
}
