//! I/O multiplexing, socket timeouts, fd flags, fork/exec/wait and name resolution
//! under the shim (c-tests/io/*.c and some c-tests/py/*.py). Each program runs natively
//! and under the shim: stdout and exit status must match, and under the shim the process
//! keeps one OS thread (plus the offload pool's workers, which compare_one_thread allows).

mod common;
use common::*;

fn io(name: &str) -> (Run, Run) {
    let p = c_program("io", name);
    compare_one_thread(&Spec::new(&p), "os_threads_max")
}

fn py(name: &str) -> (Run, Run) {
    let p = py_program(name);
    let interp = python();
    let mut spec = Spec::new(&p);
    spec.interpreter = Some(&interp);
    compare_one_thread(&spec, "os_threads_max")
}

/// select() over 500 socketpairs reports exactly the written fds; its timeout and the
/// remaining time in the timeval are as on Linux; a ticker keeps running meanwhile.
#[test]
fn select_over_500_socketpairs() {
    let (native, shim) = io("select500");
    assert!(native.metric("os_threads_max") > 1, "native should use OS threads");
    assert!(shim.metric("ticks_during_loop") >= 10, "{}", shim.stderr);
    assert!(shim.metric("ticks_during_timeout") >= 10, "{}", shim.stderr);
    let t = shim.metric("timeout_ms");
    assert!((90..2000).contains(&t), "100 ms select timeout took {t} ms");
    let rem = shim.metric("remaining_ms");
    assert!((900..=1960).contains(&rem), "remaining time {rem} ms");
}

/// SO_RCVTIMEO / SO_SNDTIMEO fire under the shim (EAGAIN or a partial count) while
/// other threads keep running.
#[test]
fn socket_timeouts_fire_while_others_run() {
    let (_, shim) = io("sockopt_timeouts");
    for m in ["recv_ms", "read_ms", "dup_recv_ms"] {
        let v = shim.metric(m);
        assert!((180..=2000).contains(&v), "{m}={v}\n{}", shim.stderr);
    }
    for m in ["send_ms", "write_ms"] {
        let v = shim.metric(m);
        assert!((180..5000).contains(&v), "{m}={v}\n{}", shim.stderr);
    }
    assert!(shim.metric("ticks_recv") >= 10, "{}", shim.stderr);
    assert!(shim.metric("ticks_send") >= 10, "{}", shim.stderr);
}

/// O_NONBLOCK belongs to the open file description: dup, dup2, dup3, F_DUPFD_CLOEXEC,
/// FIONBIO and fork all share it, in both directions.
#[test]
fn nonblock_flag_is_shared_by_dups_and_forked_children() {
    io("dup_flags");
}

/// fork from a thread while ten others are parked: the child has only the forking
/// thread (and a working hub), the parent's threads finish normally.
#[test]
fn fork_while_threads_are_parked() {
    let (native, _) = io("fork_parked");
    assert!(native.metric("os_threads_max") >= 12, "{}", native.stderr);
}

/// 50 threads fork+exec and waitpid their own child; process-group and any-child waits
/// reap posix_spawn children.
#[test]
fn fork_exec_waitpid_from_50_threads() {
    let (native, shim) = io("fork_exec_waitpid");
    assert!(native.metric("os_threads_max") > 1, "{}", native.stderr);
    assert!(shim.metric("ticks") >= 10, "{}", shim.stderr);
}

/// An epoll + timerfd event loop inside a thread, fed by another thread.
#[test]
fn event_loop_in_a_thread() {
    let (_, shim) = io("event_loop");
    assert!(shim.metric("expirations") >= 5, "{}", shim.stderr);
    assert!(shim.metric("ticks") >= 10, "{}", shim.stderr);
}

/// 50 threads each subprocess.run a shell with captured output.
#[test]
fn py_subprocess_from_50_threads() {
    py("subprocess50");
}

/// selectors (epoll), select.epoll and select.select from 30 threads at once.
#[test]
fn py_selectors_epoll_select_threads() {
    let (_, shim) = py("selectors_threads");
    assert!(shim.metric("ticks") >= 5, "{}", shim.stderr);
}

/// 100 concurrent getaddrinfo calls: served by the offload pool, so under the shim the
/// process has the hub's OS thread plus the pool's workers (compare_one_thread allows
/// exactly those; at most GREENSHIM_OFFLOAD_THREADS = 4 by default); the ticker must not
/// stall.
#[test]
fn py_getaddrinfo_from_100_threads() {
    let (_, shim) = py("getaddrinfo_threads");
    let pool = offload_threads(&shim);
    assert!((1..=4).contains(&pool), "{pool} offload threads for 100 lookups, want 1..=4\n{}", shim.stderr);
    let gap = shim.metric("max_tick_gap_ms");
    assert!(gap < 500, "ticker stalled for {gap} ms during the lookups\n{}", shim.stderr);
}

/// The same with GREENSHIM_OFFLOAD_THREADS=1: one worker next to the hub.
#[test]
fn py_getaddrinfo_with_one_offload_thread() {
    let p = py_program("getaddrinfo_threads");
    let interp = python();
    let mut spec = Spec::new(&p);
    spec.interpreter = Some(&interp);
    spec.env = &[("GREENSHIM_OFFLOAD_THREADS", "1")];
    let (_, shim) = compare_one_thread(&spec, "os_threads_max");
    assert_eq!(offload_threads(&shim), 1, "{}", shim.stderr);
    assert!(shim.metric("os_threads_max") <= hubs() + 1, "{}", shim.stderr);
}

/// sendfile (to a TCP socket, with an offset, to a pipe), a splice proxy, tee, vmsplice,
/// copy_file_range, user O_NONBLOCK, errno and an inherited blocking socket (re-exec):
/// each blocking transfer completes only because another thread runs meanwhile.
#[test]
fn zero_copy_transfers_park() {
    let (native, shim) = io("sendfile_splice");
    assert!(native.metric("os_threads_max") > 1, "{}", native.stderr);
    for m in ["ticks_sendfile_sock", "ticks_sendfile_pipe", "ticks_splice_proxy", "ticks_tee", "ticks_vmsplice", "ticks_sendfile_inherited"] {
        assert!(shim.metric(m) >= 3, "{m}\n{}", shim.stderr);
    }
}

/// res_nquery/res_nsearch from 20 threads against a slow fake DNS server on 127.0.0.1,
/// and res_query/res_search/res_send through the main thread's customised `_res`:
/// offloaded with the caller's resolver state while a ticker keeps running.
#[test]
fn resolver_queries_use_the_callers_state() {
    let (_, shim) = io("res_query");
    assert!(shim.metric("ticks_during_queries") >= 10, "{}", shim.stderr);
    assert!(shim.metric("queries_ms") < 5000, "{}", shim.stderr);
}

/// FIFO open in both directions, eventfd, timerfd, signalfd, inotify, recvmmsg, System V
/// msgrcv/semop/semtimedop, POSIX mq_receive/mq_timedreceive, sync/msync/tcdrain,
/// lockf/lockf64 against another process, NSS lookups, and more waiters than offload
/// threads (10 FIFO pairs, a chain of 6 flock holders): each waits while the ticker ticks.
#[test]
fn fifo_open_fd_kinds_ipc_and_storage_calls_park() {
    let (native, shim) = io("misc_blocking");
    assert!(native.metric("os_threads_max") > 1, "{}", native.stderr);
    for m in ["fifo_read", "fifo_write", "eventfd", "timerfd", "signalfd", "inotify", "recvmmsg", "msgrcv", "semop", "mq_receive", "lockf64", "fifo_many", "flock_chain"] {
        assert!(shim.metric(&format!("{m}_ticks")) >= 3, "{m}\n{}", shim.stderr);
    }
    // How many datagrams the first recvmmsg gets depends on timing (natively too).
    assert!((1..=3).contains(&shim.metric("recvmmsg_first_count")), "{}", shim.stderr);
}

/// fgets/getline/getdelim/fread/getc/ungetc/fscanf on pipes, a socket and stdin fed in
/// pieces by another thread; regular files, fmemopen and /dev/null unchanged.
#[test]
fn stdio_input_parks_until_data() {
    io("stdio_input");
}

/// pause, sigsuspend and sigpause in a thread other than main park, and a signal sent
/// to that thread with pthread_kill ends the wait with EINTR after its handler ran.
#[test]
fn pause_in_a_thread_parks_until_signalled() {
    let (_, shim) = io("pause_thread");
    assert!(shim.metric("ticks") >= 10, "{}", shim.stderr);
}

/// execl/execle/execlp with arguments on the stack reach the new program intact, and
/// a socket the shim made (hidden O_NONBLOCK) is blocking again in the exec'd child.
#[test]
fn execl_family_passes_every_argument() {
    io("execl_variadic");
}

/// Threads that keep making hooked calls that never wait (sched_yield, a poll that finds
/// an fd ready, waitpid(WNOHANG), trylock) do not starve threads waiting on a timer, a
/// pipe or a mutex: the time slice sends them to the back of the ready queue.
#[test]
fn spinning_on_calls_that_never_wait_does_not_starve_others() {
    io("time_slices");
}

/// sem_wait on process-shared semaphores (sem_open, sem_init pshared=1) posted by
/// another process only after a thread of this one acts: the hub keeps running.
#[test]
fn process_shared_semaphore_waits_keep_the_hub_running() {
    let (_, shim) = io("pshared_sem");
    for m in ["ticks_during_named", "ticks_during_unnamed"] {
        assert!(shim.metric(m) >= 10, "{m}: {}", shim.stderr);
    }
}

/// multiprocessing under each start method: Pool (apply, map, imap_unordered, starmap,
/// apply_async with a callback), Queue drained by a thread, JoinableQueue, Manager,
/// Lock/RLock/Semaphore/Event/Condition/Barrier across processes, SharedMemory,
/// ProcessPoolExecutor; a ticker thread in the parent keeps ticking.
fn multiprocessing_with(method: &str) {
    let p = py_program("mp_pool");
    let interp = python();
    let args = [method];
    let mut spec = Spec::new(&p);
    spec.interpreter = Some(&interp);
    spec.args = &args;
    spec.timeout = std::time::Duration::from_secs(180);
    let (_, shim) = compare(&spec);
    // Natively the ticker never waits long; under the shim it may wait a few slices.
    assert!(shim.metric("max_tick_gap_ms") < 1000, "ticker stalled:\n{}", shim.stderr);
}

#[test]
fn py_multiprocessing_fork() {
    multiprocessing_with("fork");
}

#[test]
fn py_multiprocessing_forkserver() {
    multiprocessing_with("forkserver");
}

#[test]
fn py_multiprocessing_spawn() {
    multiprocessing_with("spawn");
}

/// Process-shared and robust mutexes, condvars, rwlocks and barriers: glibc's semantics
/// across processes (a child with the shim and one without), EOWNERDEAD after the
/// owner process is killed, a robust mutex between two threads; the hub keeps running.
#[test]
fn process_shared_and_robust_objects_keep_the_hub_running() {
    let (_, shim) = io("pshared_sync");
    for m in ["ticks_cv_round1", "ticks_cv_round2", "ticks_rwlock", "ticks_barrier"] {
        assert!(shim.metric(m) >= 10, "{m}: {}", shim.stderr);
    }
}

/// Six threads wait at once on process-shared semaphores (run on the offload pool), the
/// later ones posted only by the earlier ones' successors: each wait must get a thread
/// (it queued behind waits that depended on it when several took the same idle
/// worker; CPython's multiprocessing test_notify_all hung so).
#[test]
fn simultaneous_shared_semaphore_waits_each_get_a_thread() {
    // Waits beyond the pool's four threads run on OS threads of their own (as natively
    // each waiter is one), so the one-OS-thread check does not apply.
    compare(&Spec::new(&c_program("io", "pshared_sem_chain")));
}

/// A signal handler ends a wait on a process-shared semaphore with EINTR as natively,
/// while other threads exist (the wait runs on an offload thread, which blocks signals:
/// it ran to its deadline; CPython's multiprocessing test_wait_result took 60 s).
#[test]
fn shared_semaphore_wait_interrupted_by_handler() {
    compare(&Spec::new(&c_program("io", "pshared_sem_eintr")));
}
