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
    // One hub: the property is that the ticker *on the reader's OS thread* keeps running
    // (with two, placement puts it on the other hub, where it would tick anyway).
    spec.env = &[("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch")];
    spec.timeout = Duration::from_secs(30);
    let (_, shim) = compare(&spec);
    assert!(shim.metric("ticks_during_read") >= 20, "the ticker stalled during the raw read:\n{}", shim.stderr);
    assert!(shim.metric("ticks_during_sleep") >= 10, "the ticker stalled during the raw sleep:\n{}", shim.stderr);
}

/// A fresh directory for one test's report files (tests run in parallel processes).
fn report_dir(name: &str) -> std::path::PathBuf {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("raw-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One process's exit report: its header's pid, executable and call-site count, and the
/// call-site lines that follow it.
#[derive(Debug)]
struct Report {
    pid: i64,
    exe: String,
    sites: usize,
    rows: Vec<String>,
}

/// Splits report text into reports, asserting that each is whole: a header, then exactly
/// as many call-site lines as it announces (an interleaved write breaks this).
fn parse_reports(text: &str) -> Vec<Report> {
    let mut out: Vec<Report> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("greenshim raw: pid ") {
            let (pid, rest) = rest.split_once(" (").unwrap_or_else(|| panic!("bad header {line:?}"));
            let (exe, rest) = rest.split_once("): ").unwrap_or_else(|| panic!("bad header {line:?}"));
            let sites = rest.split(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("bad header {line:?}"));
            assert!(rest.contains("call site(s) made blocking system calls outside the hooks"), "{line:?}");
            out.push(Report { pid: pid.parse().unwrap(), exe: exe.to_string(), sites, rows: Vec::new() });
        } else {
            assert!(line.starts_with("greenshim raw: ") && line.contains(" × ") && line.contains(" at "), "not a report line: {line:?}\nin:\n{text}");
            out.last_mut().unwrap_or_else(|| panic!("a call site before any header:\n{text}")).rows.push(line.to_string());
        }
    }
    for r in &out {
        assert_eq!(r.rows.len(), r.sites.min(64), "report of pid {} is not whole (interleaved?):\n{text}", r.pid);
    }
    out
}

/// The call sites of `r` in the program itself (not in libc) for each call name.
fn program_sites(r: &Report, prog: &str) -> Vec<String> {
    let mut v: Vec<String> = r
        .rows
        .iter()
        .filter(|l| l.contains(&format!(" at {prog}+")))
        .map(|l| l.split(" × ").nth(1).unwrap().split_whitespace().next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// With `report`, the same calls (those that do not wait for another thread) run as
/// natively, and the exit report, in the GREENSHIM_RAW_REPORT file, names each blocking
/// call site with its count; the program's stderr is the native one.
#[test]
fn report_lists_raw_blocking_calls_by_call_site() {
    let p = raw("raw_calls");
    let dir = report_dir("raw_calls");
    let file = dir.join("report");
    let mut spec = Spec::new(&p);
    spec.args = &["nowait"];
    let env = [("GREENSHIM_RAW", "report"), ("GREENSHIM_RAW_REPORT", file.to_str().unwrap())];
    spec.env = &env;
    spec.timeout = Duration::from_secs(30);
    let (native, shim) = compare(&spec);
    assert_eq!(native.stderr, shim.stderr, "the program's stderr differs under the shim");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("no report in {}: {e}", file.display()));
    let reports = parse_reports(&text);
    let prog = p.file_name().unwrap().to_str().unwrap();
    // The program and its fork child.
    let rows: Vec<&String> = reports.iter().filter(|r| r.exe == p.to_str().unwrap()).flat_map(|r| &r.rows).collect();
    assert!(rows.iter().any(|l| l.contains("× read") && l.contains(prog)), "no raw read from the program reported:\n{text}");
    assert!(rows.iter().any(|l| l.contains("× write") && l.contains(prog)), "{text}");
    // Without the mode, nothing is reported.
    let _ = std::fs::remove_file(&file);
    let mut quiet = Spec::new(&p);
    quiet.args = &["nowait"];
    // (GREENSHIM_PREEMPT needs the raw layer: off too, whatever the suite's environment.)
    let env = [("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off"), ("GREENSHIM_RAW_REPORT", file.to_str().unwrap())];
    quiet.env = &env;
    let (_, off) = compare(&quiet);
    assert!(!off.stderr.contains("greenshim raw:"), "{}", off.stderr);
    assert!(!file.exists(), "a report was written with GREENSHIM_RAW=off");
}

/// The report never goes into the program's stderr unless asked: with
/// GREENSHIM_RAW_REPORT naming a file (`%p`: the pid) each process that made raw calls
/// gets a file of its own holding its report — the parent, 6 fork+exec'd children and a
/// fork child (which lists its own single call, not its parent's again); the program's
/// stderr is byte-identical to the native run's. The native run writes no file. With no
/// destination the report is not written at all, unless GREENSHIM_LOG=info asks for the
/// shim's diagnostics on stderr.
#[test]
fn report_goes_to_its_file_and_the_programs_stderr_stays_native() {
    let p = raw("report_tree");
    let prog = p.file_name().unwrap().to_str().unwrap();
    let dir = report_dir("pid");
    let pattern = dir.join("r.%p");
    let env = [("GREENSHIM_RAW", "report"), ("GREENSHIM_RAW_REPORT", pattern.to_str().unwrap())];
    let mut spec = Spec::new(&p);
    spec.env = &env;
    spec.timeout = Duration::from_secs(30);
    let native = run(&spec, false);
    assert!(native.ok(), "{}", native.stderr);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "a file appeared without the shim");
    let shim = run(&spec, true);
    assert!(shim.ok(), "{}", shim.stderr);
    assert_eq!(native.stdout, shim.stdout);
    assert_eq!(native.stderr, shim.stderr, "the program's stderr differs under GREENSHIM_RAW=report");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 8, "expected one report file per process (parent, 6 children, a fork child): {files:?}");
    let mut single = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let reports = parse_reports(&text);
        assert_eq!(reports.len(), 1, "{}:\n{text}", f.display());
        let r = &reports[0];
        assert_eq!(f.file_name().unwrap().to_str().unwrap(), format!("r.{}", r.pid), "%p is not the reporting process's pid");
        assert_eq!(r.exe, p.to_str().unwrap());
        match program_sites(r, prog).as_slice() {
            [a, b, c, d] => assert_eq!([a, b, c, d], ["nanosleep", "poll", "read", "write"], "{text}"),
            [w] => {
                assert_eq!(w, "write", "{text}");
                assert_eq!(r.rows.len(), 1, "the fork child reported more than its own call:\n{text}");
                single += 1;
            }
            other => panic!("unexpected call sites {other:?}:\n{text}"),
        }
    }
    assert_eq!(single, 1, "the fork child's report");

    // No destination: nothing written anywhere, stderr native.
    let env = [("GREENSHIM_RAW", "report")];
    let mut spec = Spec::new(&p);
    spec.env = &env;
    let (native, shim) = compare(&spec);
    assert_eq!(native.stderr, shim.stderr, "GREENSHIM_RAW=report wrote into the program's stderr");
    // GREENSHIM_LOG=info: the report is one of the shim's diagnostics on stderr.
    let env = [("GREENSHIM_RAW", "report"), ("GREENSHIM_LOG", "info")];
    let mut spec = Spec::new(&p);
    spec.env = &env;
    let (_, shim) = compare(&spec);
    let reports: Vec<&str> = shim.stderr.lines().filter(|l| l.starts_with("greenshim raw: pid ")).collect();
    assert_eq!(reports.len(), 8, "{}", shim.stderr);
}

/// Processes sharing one report file (no `%p`): the parent, 6 fork+exec'd children that
/// exit at the same moment, and a fork child each append one whole report — a header,
/// then exactly the call sites it announces — with 8 distinct pids.
#[test]
fn children_sharing_the_report_file_append_whole_reports() {
    let p = raw("report_tree");
    let prog = p.file_name().unwrap().to_str().unwrap();
    let dir = report_dir("shared");
    let file = dir.join("all");
    for round in 0..3 {
        let _ = std::fs::remove_file(&file);
        let env = [("GREENSHIM_RAW", "report"), ("GREENSHIM_RAW_REPORT", file.to_str().unwrap())];
        let mut spec = Spec::new(&p);
        spec.env = &env;
        spec.timeout = Duration::from_secs(30);
        let (native, shim) = compare(&spec);
        assert_eq!(native.stderr, shim.stderr);
        let text = std::fs::read_to_string(&file).unwrap();
        let reports = parse_reports(&text);
        assert_eq!(reports.len(), 8, "round {round}:\n{text}");
        let pids: std::collections::BTreeSet<i64> = reports.iter().map(|r| r.pid).collect();
        assert_eq!(pids.len(), 8, "round {round}: {pids:?}");
        let full = reports.iter().filter(|r| program_sites(r, prog) == ["nanosleep", "poll", "read", "write"]).count();
        assert_eq!(full, 7, "round {round}: the parent and its 6 children list their 4 call sites:\n{text}");
    }
}

/// A bad GREENSHIM_RAW_REPORT stops the program with the variable and the accepted form.
#[test]
fn raw_report_destination_is_validated() {
    let p = raw("report_tree");
    for bad in ["relative/file", "report.txt", "file:/tmp/x"] {
        let mut c = std::process::Command::new(&p);
        c.env("LD_PRELOAD", lib()).env("GREENSHIM_RAW", "report").env("GREENSHIM_RAW_REPORT", bad);
        let o = c.output().expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.starts_with(&format!("greenshim: invalid GREENSHIM_RAW_REPORT={bad:?}: expected stderr or an absolute path")),
            "{bad}: {err}"
        );
        assert!(o.stdout.is_empty(), "the program ran with {bad}");
    }
    // `stderr`, asked for explicitly, puts it there.
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_RAW", "report"), ("GREENSHIM_RAW_REPORT", "stderr")];
    let (_, shim) = compare(&spec);
    assert_eq!(shim.stderr.lines().filter(|l| l.starts_with("greenshim raw: pid ")).count(), 8, "{}", shim.stderr);
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

/// Many threads print to one pipe a slow reader thread drains: 8 printf to stdout
/// (the stdio hooks park them), then 8 fwprintf, each on a FILE of its own — wide
/// output the hooks do not cover, emptied by glibc's internal write, which `catch`
/// parks (without it the OS thread stops at the first full pipe and the reader never
/// runs). Same records and totals as natively; the ticker never stalls.
#[test]
fn many_threads_printing_to_a_slow_pipe_under_catch() {
    let p = raw("stdio_pipe_threads");
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_RAW", "catch")];
    spec.timeout = Duration::from_secs(60);
    let (_, shim) = compare(&spec);
    assert!(shim.stdout.contains("ticker ran meanwhile: yes"), "{}", shim.stdout);
    let gap = shim.metric("worst_gap_ms");
    assert!(gap < 200, "the ticker stalled {gap} ms:\n{}", shim.stderr);
}

/// getaddrinfo against a slow DNS server on 127.0.0.1 with `catch`: the lookups run on
/// their own green threads, their DNS exchange inside libc (socket, sendmmsg, poll,
/// recvfrom) caught and parked — 9 lookups in parallel take one server delay, a ticker
/// keeps ticking, and no pool thread is started (file reads inline, so the only other
/// OS-thread user is out of the way). Each thread's own `_res`, pointed at the server,
/// is the one its lookup uses, as natively (a green thread has a resolver state of its
/// own).
#[test]
fn getaddrinfo_parks_on_a_slow_dns_server_without_pool_threads() {
    let p = raw("gai_slow_dns");
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_RAW", "catch"), ("GREENSHIM_FILE_IO", "inline")];
    spec.timeout = Duration::from_secs(60);
    let (native, shim) = compare_one_thread(&spec, "os_threads_max");
    assert!(native.metric("os_threads_max") > 1, "{}", native.stderr);
    assert_eq!(offload_threads(&shim), 0, "a pool thread served part of the lookups:\n{}", shim.stderr);
    assert!(shim.metric("ticks_during_lookups") >= 10, "{}", shim.stderr);
    assert!(shim.metric("lookups_ms") < 1000, "9 parallel lookups of 200 ms each took {} ms", shim.metric("lookups_ms"));
}

/// The two ways preemption gets its ticks: with the raw layer (a real-time timer's
/// SIGSYS) and without it (a CPU-time timer's real-time signal). The preemption tests
/// run with both.
const PREEMPT_RAW_MODES: [&str; 2] = ["catch", "off"];

/// GREENSHIM_PREEMPT: a thread that computes without making any call is switched out at
/// a safe point every few ms, so a ticker beside it keeps ticking (its worst gap stays
/// within a few slices instead of the whole computation), and the computation's results
/// are exact (registers, flags and vector state survive the switch).
#[test]
fn preemption_keeps_a_ticker_running_beside_a_computation() {
    let p = raw("preempt");
    for mode in PREEMPT_RAW_MODES {
        let mut spec = Spec::new(&p);
        let env = [("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", mode), ("GREENSHIM_PREEMPT", "5"), ("GREENSHIM_STATS", "1")];
        spec.env = &env;
        spec.timeout = Duration::from_secs(30);
        let (_, shim) = compare(&spec);
        let gap = shim.metric("worst_gap_ms");
        assert!(gap <= 100, "GREENSHIM_RAW={mode}: the ticker waited {gap} ms beside a 400 ms computation:\n{}", shim.stderr);
    }
}

/// Preemption's ticks never end a system call with EINTR, even one the hooks do not see:
/// a thread alternates 3–7 ms of computation with raw `nanosleep`, `poll`, `epoll_wait`
/// and futex waits with timeouts (calls the kernel never restarts after a handler),
/// beside two threads that compute throughout, and none of its 200 waits fails, as
/// natively. Without the raw layer the waits block their hub and the ticks come from
/// its CPU-time timer, which the kernel fires only on the way back to user mode. (With
/// a CLOCK_MONOTONIC timer instead, 36 to 40 of the 200 waits failed; with a watchdog
/// thread that signals a hub only when /proc shows it running, about one in 300 ticks.)
#[test]
fn preemption_ticks_never_end_a_raw_wait_with_eintr() {
    let p = raw("tick_eintr");
    for (mode, hubs) in [("off", "1"), ("off", "2"), ("catch", "1")] {
        let mut spec = Spec::new(&p);
        let env = [("GREENSHIM_HUBS", hubs), ("GREENSHIM_RAW", mode), ("GREENSHIM_PREEMPT", "4"), ("GREENSHIM_STATS", "1")];
        spec.env = &env;
        spec.timeout = Duration::from_secs(60);
        let (_, shim) = compare(&spec);
        let ticks = shim.stderr.lines().find_map(|l| l.split("ticks ").nth(1)).unwrap_or("?");
        eprintln!("GREENSHIM_RAW={mode} GREENSHIM_HUBS={hubs}: ticks {ticks}");
    }
}

/// Timed waits the kernel does not restart after a handler (a process-shared
/// `sem_timedwait`, raw `nanosleep`/`poll`/shared futex, `select`, `epoll_wait`), made by
/// main while it is the program's only thread — before any thread and after one ended:
/// with preemption on they time out in full, as natively. (Main alone makes such calls
/// inline; the hubs' timers run only while the program has green threads, so no tick
/// ends one early with EINTR.)
#[test]
fn preemption_ticks_stop_while_main_is_alone() {
    let p = raw("preempt_alone");
    for mode in PREEMPT_RAW_MODES {
        let mut spec = Spec::new(&p);
        let env = [("GREENSHIM_RAW", mode), ("GREENSHIM_PREEMPT", "1")];
        spec.env = &env;
        spec.timeout = Duration::from_secs(30);
        compare(&spec);
    }
}

/// A CPU-bound CPython thread beside a thread that talks to a TCP responder: with
/// preemption the GIL changes hands and the answers keep coming, as natively.
#[test]
fn preemption_lets_cpython_hand_the_gil_over() {
    let script = root().join("c-tests").join("raw").join("py_preempt.py");
    let py = python();
    for mode in PREEMPT_RAW_MODES {
        let mut spec = Spec::new(&script);
        spec.interpreter = Some(&py);
        let env = [("GREENSHIM_RAW", mode), ("GREENSHIM_PREEMPT", "2")];
        spec.env = &env;
        spec.timeout = Duration::from_secs(60);
        compare(&spec);
    }
}

/// The same beside http.server's ThreadingHTTPServer (a thread per connection): its
/// GETs keep being answered while a CPU-bound thread computes, as natively; without
/// preemption, on one hub, none is (the computation holds the GIL and never switches).
#[test]
fn preemption_keeps_a_cpython_http_server_answering() {
    let script = root().join("c-tests").join("raw").join("py_preempt.py");
    let py = python();
    let mut spec = Spec::new(&script);
    spec.interpreter = Some(&py);
    spec.args = &["http"];
    spec.timeout = Duration::from_secs(60);
    for mode in PREEMPT_RAW_MODES {
        let env = [("GREENSHIM_RAW", mode), ("GREENSHIM_PREEMPT", "2")];
        let spec = Spec { env: &env, ..spec };
        let (_, shim) = compare(&spec);
        assert!(shim.metric("answered") >= 5, "GREENSHIM_RAW={mode}: {}", shim.stderr);
    }
    // One hub: with two, the server's threads may run on the other and ask for the GIL.
    let spec = Spec { env: &[("GREENSHIM_HUBS", "1"), ("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "off")], ..spec };
    let r = run(&spec, true);
    assert!(r.ok(), "{}", r.stderr);
    assert!(r.stdout.contains("answers while computing: only"), "answered without preemption:\n{}", r.stdout);
}

/// CPython's own test that needs preemption: a tight loop interrupted by
/// `_thread.interrupt_main` from another thread (it fails under the shim without it).
#[test]
fn cpython_can_interrupt_tight_loops_with_preemption() {
    let py = python();
    let run = |shim: Option<&str>| {
        let mut c = std::process::Command::new(&py);
        c.args(["-m", "test", "test_threading", "-m", "test_can_interrupt_tight_loops"]);
        c.env_remove("LD_PRELOAD");
        if let Some(mode) = shim {
            c.env("LD_PRELOAD", lib()).env("GREENSHIM_RAW", mode).env("GREENSHIM_PREEMPT", "5");
        }
        let o = c.output().expect("python");
        let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.success(), out)
    };
    let (ok, out) = run(None);
    assert!(ok && out.contains("Result: SUCCESS"), "native:\n{out}");
    for mode in PREEMPT_RAW_MODES {
        let (ok, out) = run(Some(mode));
        assert!(ok && out.contains("Result: SUCCESS"), "under the shim, GREENSHIM_RAW={mode}:\n{out}");
    }
}

/// Preemption needs per-green TLS: asking for it without stops the program with a
/// message naming the variable (`auto` then means off). Bad values are refused too.
#[test]
fn preempt_is_validated() {
    let p = raw("preempt");
    for (env, ok) in [
        (vec![("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "off")], true),
        (vec![("GREENSHIM_RAW", "report"), ("GREENSHIM_PREEMPT", "10")], true),
        (vec![("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "10")], true),
        (vec![("GREENSHIM_PREEMPT", "auto")], true),
        (vec![("GREENSHIM_HUBS", "2"), ("GREENSHIM_TLS", "shared"), ("GREENSHIM_PREEMPT", "auto")], true),
        (vec![("GREENSHIM_RAW", "catch"), ("GREENSHIM_TLS", "shared"), ("GREENSHIM_PREEMPT", "10")], false),
        (vec![("GREENSHIM_TLS", "shared"), ("GREENSHIM_PREEMPT", "10")], false),
        (vec![("GREENSHIM_PREEMPT", "on")], false),
        (vec![("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "1001")], false),
        (vec![("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "5ms")], false),
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

/// A preemption tick is a SIGSYS, and so is each trapped call: a tick pending when a
/// call traps swallows the call's own SIGSYS (the kernel queues one instance of a
/// standard signal). The shim recognises the rolled-back call and makes it again:
/// getppid and raise (gettid, getpid, tgkill inside glibc) in a tight loop beside a
/// thread changing the signal's action return what they return natively (before,
/// getppid could return 110 — its own number — and raise fail with ESRCH, which made
/// CPython's test_signal report "env changed").
#[test]
fn a_call_trapped_while_a_tick_is_pending_is_still_made() {
    let p = raw("merged_sigsys");
    let mut spec = Spec::new(&p);
    spec.env = &[("GREENSHIM_RAW", "catch"), ("GREENSHIM_PREEMPT", "1"), ("GREENSHIM_STATS", "1")];
    spec.timeout = Duration::from_secs(30);
    let (_, shim) = compare(&spec);
    let merged = shim.stderr.lines().find_map(|l| l.split("made again ").nth(1)).unwrap_or("?");
    eprintln!("calls {}, merged dispatches made again: {merged}", shim.metric("calls"));
}

/// redis-server's main thread, after starting jemalloc's background thread with libc's
/// own `pthread_create` (a raw `clone3` the shim re-issues), spins on atomic counters
/// until worker threads finish: reduced to `spin_handoff`. With preemption the spinning
/// threads take turns and every round completes, with the same results as natively
/// (the main thread stays watched after its raw clone3: before, it stayed unwatched
/// and unpreemptible until its next switch, and spun forever).
#[test]
fn preemption_after_a_raw_clone_keeps_spinning_hand_offs_going() {
    let p = raw("spin_handoff");
    for mode in PREEMPT_RAW_MODES {
        let mut spec = Spec::new(&p);
        let env = [("GREENSHIM_RAW", mode), ("GREENSHIM_PREEMPT", "2")];
        spec.env = &env;
        spec.timeout = Duration::from_secs(30);
        let (_, shim) = compare(&spec);
        assert_eq!(shim.metric("spin_rounds"), 20, "GREENSHIM_RAW={mode}: {}", shim.stderr);
    }
}

/// One redis-server session: start it (natively, or through the launcher with `shim`
/// arguments), wait for PING, run redis-benchmark, a SET/GET round trip, read the
/// I/O-thread counters, then SIGTERM it.
struct RedisSession {
    bench: String,
    got: String,
    threaded_writes: u64,
    status: Option<i32>,
    stop_ms: u128,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let mut c = std::process::Command::new("redis-cli");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string()]).args(args).env_remove("LD_PRELOAD");
    let r = run_command(c, None, Duration::from_secs(10));
    r.ok().then(|| r.stdout.trim().to_string())
}

fn redis_session(shim: &[&str]) -> RedisSession {
    use std::os::unix::process::ExitStatusExt;
    let port = free_port();
    let ps = port.to_string();
    let server_args = [
        "redis-server", "--port", &ps, "--bind", "127.0.0.1", "--io-threads", "4", "--io-threads-do-reads", "yes",
        "--save", "", "--appendonly", "no", "--logfile", "",
    ];
    let mut cmd = if shim.is_empty() {
        std::process::Command::new(server_args[0])
    } else {
        let mut c = std::process::Command::new(launcher());
        c.args(shim).arg("--").arg(server_args[0]);
        c
    };
    cmd.args(&server_args[1..]).env_remove("LD_PRELOAD").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut server = cmd.spawn().expect("start redis-server");
    let pid = server.id() as i32;
    // Whatever happens below, the server does not outlive the test.
    struct Reap(i32);
    impl Drop for Reap {
        fn drop(&mut self) {
            // SAFETY: plain kill of our own child (a no-op error once it was reaped).
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let _reap = Reap(pid);
    let t0 = std::time::Instant::now();
    while redis_cli(port, &["ping"]).as_deref() != Some("PONG") {
        assert!(t0.elapsed() < Duration::from_secs(20), "redis-server ({shim:?}) did not answer PING within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut b = std::process::Command::new("redis-benchmark");
    b.args(["-h", "127.0.0.1", "-p", &ps, "-q", "-n", "20000", "-c", "50", "-t", "set,get"]).env_remove("LD_PRELOAD");
    let bench = run_command(b, None, Duration::from_secs(150));
    assert!(bench.ok(), "redis-benchmark ({shim:?}) failed or timed out: {:?}\n{}", bench.status, bench.stderr);
    // The result lines only (the progress lines end in \r).
    let bench: String = bench.stdout.replace('\r', "\n").lines().filter(|l| l.contains("requests per second")).map(|l| format!("{l}\n")).collect();
    let value = format!("greenshim-{port}-{}", std::process::id());
    assert_eq!(redis_cli(port, &["set", "greenshim:key", &value]).as_deref(), Some("OK"), "SET ({shim:?})");
    let got = redis_cli(port, &["get", "greenshim:key"]).unwrap_or_default();
    assert_eq!(got, value, "GET ({shim:?}) returned another value");
    let info = redis_cli(port, &["info", "stats"]).unwrap_or_default();
    let threaded_writes = info
        .lines()
        .find_map(|l| l.strip_prefix("io_threaded_writes_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let t = std::time::Instant::now();
    // SAFETY: plain kill of our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = loop {
        if let Some(st) = server.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "redis-server ({shim:?}) ignored SIGTERM for 10 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.signal(), None, "redis-server ({shim:?}) was killed by a signal");
    RedisSession { bench, got: got.replace(&port.to_string(), "PORT"), threaded_writes, status: status.code(), stop_ms: t.elapsed().as_millis() }
}

fn have_tool(tool: &str) -> bool {
    std::process::Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// `redis-server --io-threads 4` driven by redis-benchmark: its main thread spins on
/// atomic counters, with no system call, until its I/O threads finish. With the raw
/// layer catching and preemption on, it answers every request, a SET/GET round trip
/// returns the value, its I/O threads did the writing (as natively), and SIGTERM stops
/// it promptly with the native exit status. (Without preemption it spins forever:
/// docs/CAVEATS.md.) CI installs redis (.ci/run); missing, the test fails.
#[test]
fn redis_io_threads_with_preemption() {
    for tool in ["redis-server", "redis-benchmark", "redis-cli"] {
        assert!(have_tool(tool), "{tool} is not installed: `apt-get install redis-server redis-tools` (.ci/run does it)");
    }
    let native = redis_session(&[]);
    let shim = redis_session(&["--hubs", "1", "--raw", "catch", "--preempt", "1"]);
    eprintln!("native: {}\nstopped in {} ms\nshim: {}\nstopped in {} ms", native.bench.trim(), native.stop_ms, shim.bench.trim(), shim.stop_ms);
    for s in [&native, &shim] {
        for t in ["SET:", "GET:"] {
            assert!(s.bench.lines().any(|l| l.starts_with(t) && l.contains("requests per second")), "no {t} result:\n{}", s.bench);
        }
        assert!(s.threaded_writes > 0, "the I/O threads wrote nothing (io_threaded_writes_processed = 0)");
    }
    assert_eq!(native.got, shim.got);
    assert_eq!(native.status, shim.status, "exit status after SIGTERM");
    assert!(shim.stop_ms < 5000, "redis-server took {} ms to stop on SIGTERM under the shim", shim.stop_ms);
}
