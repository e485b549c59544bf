//! Seeing inside (issue 16): the hog watchdog (GREENSHIM_HOG_MS), `greenshim dump PID`,
//! the self-dump triggers (GREENSHIM_DUMP, SIGRTMAX-1) and the gdb extension
//! (scripts/greenshim-gdb.py) with CPython's own (py-bt on green threads). Each program runs natively too:
//! same stdout, exit 0; the shim's reports go to its stderr or to the dumping tool,
//! never into the program's stdout.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hog program with `env`, natively and under the shim. Preemption is pinned off:
/// these tests are about a thread that runs without a switch, which `GREENSHIM_PREEMPT`
/// (`make test-preempt`) would switch out before the watchdog sees a hog.
fn hog_run(mode: &str, env: &[(&str, &str)]) -> (Run, Run) {
    let p = c_program("observe", "hog");
    let args = [mode];
    let mut env = env.to_vec();
    env.push(("GREENSHIM_PREEMPT", "off"));
    let mut spec = Spec::new(&p);
    spec.args = &args;
    spec.env = &env;
    spec.timeout = Duration::from_secs(30);
    let native = run(&spec, false);
    let shim = run(&spec, true);
    assert!(native.ok(), "native {mode}: {native:?}");
    assert!(shim.ok(), "shim {mode}: {shim:?}");
    assert_eq!(native.stdout, shim.stdout, "{mode}: stdout differs");
    assert!(!native.stderr.contains("greenshim"), "{native:?}");
    (native, shim)
}

fn hog_lines(r: &Run) -> Vec<&str> {
    r.stderr.lines().filter(|l| l.starts_with("greenshim: hog:")).collect()
}

#[test]
fn hog_warning_names_the_spinning_thread_with_its_backtrace() {
    let (_, shim) = hog_run("hog", &[("GREENSHIM_HOG_MS", "200")]);
    let lines = hog_lines(&shim);
    assert_eq!(lines.len(), 1, "one warning for one 1.2 s hog:\n{}", shim.stderr);
    assert!(lines[0].contains("\"spinner\"") && lines[0].contains("without a switch"), "{}", lines[0]);
    // The backtrace: the spinning function first, then the thread's start routine.
    let bt: Vec<&str> = shim.stderr.lines().filter(|l| l.starts_with("greenshim:   #")).collect();
    assert!(bt.first().is_some_and(|l| l.contains("spin_hard")), "frame 0 is not spin_hard:\n{}", shim.stderr);
    assert!(bt.iter().any(|l| l.contains("spinner")), "no start routine in the backtrace:\n{}", shim.stderr);
    // The program's output is its own: the warning went to stderr only.
    assert!(!shim.stdout.contains("greenshim"));
}

#[test]
fn hog_watchdog_is_quiet_for_a_program_that_switches_and_when_off() {
    let (_, polite) = hog_run("polite", &[("GREENSHIM_HOG_MS", "100")]);
    assert!(hog_lines(&polite).is_empty(), "warned about a program that yields every 5 ms:\n{}", polite.stderr);
    let (_, off) = hog_run("hog", &[]);
    assert!(hog_lines(&off).is_empty(), "warned with GREENSHIM_HOG_MS unset:\n{}", off.stderr);
}

#[test]
fn hog_warnings_are_rate_limited() {
    // Three 400 ms hogs within 1.3 s: one warning (at most one per 5 s).
    let (_, shim) = hog_run("repeat", &[("GREENSHIM_HOG_MS", "150")]);
    assert_eq!(hog_lines(&shim).len(), 1, "{}", shim.stderr);
}

#[test]
fn hog_in_a_system_call_the_shim_does_not_serve_is_named_not_interrupted() {
    // A raw nanosleep blocks the OS thread: reported with its system call number, and
    // not signalled (the program checks the call was not interrupted).
    let (_, shim) = hog_run("syscall", &[("GREENSHIM_HOG_MS", "200")]);
    let lines = hog_lines(&shim);
    assert_eq!(lines.len(), 1, "{}", shim.stderr);
    assert!(lines[0].contains("\"spinner\"") && lines[0].contains(&format!("in system call {}", libc_nanosleep())), "{}", lines[0]);
}

/// SYS_nanosleep on this architecture.
fn libc_nanosleep() -> i64 {
    if cfg!(target_arch = "x86_64") { 35 } else { 101 }
}

#[test]
fn hog_ms_is_validated_like_the_other_variables() {
    let p = c_program("observe", "hog");
    let out = Command::new(launcher()).args(["--hog-ms", "soon", "--"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GREENSHIM_HOG_MS") && err.contains("milliseconds"), "{err}");
}

/// Runs c-tests/observe/parked under the shim until it prints "ready", hands its pid to
/// `inspect`, then lets it finish; checks it ends as natively.
fn with_parked_program(inspect: impl FnOnce(u32)) {
    with_parked_program_env(&[], inspect);
}

/// [`with_parked_program`] with variables for the shimmed run; returns its stderr.
fn with_parked_program_env(env: &[(&str, &str)], inspect: impl FnOnce(u32)) -> String {
    let p = c_program("observe", "parked");
    with_waiting_program(|| Command::new(&p), env, inspect)
}

/// Runs the program `make` builds natively (stdin "go"), then under the shim until it
/// prints "ready", hands its pid to `inspect`, then sends "go" and lets it finish;
/// checks it ends as natively. Returns the shimmed run's stderr.
fn with_waiting_program(make: impl Fn() -> Command, env: &[(&str, &str)], inspect: impl FnOnce(u32)) -> String {
    let native = run_command(make(), Some(b"go\n"), Duration::from_secs(30));
    assert!(native.ok(), "{native:?}");

    let mut child = make()
        .envs(env.iter().copied())
        .env("LD_PRELOAD", lib())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Bounded: the program is killed if the test does not finish it.
    let killer = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(200));
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "ready\n");
    inspect(pid);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let st = child.wait().unwrap();
    let _ = killer.join();
    assert!(st.success(), "the program failed after being inspected: {st:?}\n{err}");
    assert_eq!(first + &rest, native.stdout, "stdout differs from the native run");
    err
}

fn line_of<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

/// The frames printed under the header line of `who`, up to the next thread.
fn frames_of<'a>(text: &'a str, who: &str) -> String {
    let start = text.find(who).unwrap_or_else(|| panic!("no {who:?} in:\n{text}"));
    text[start..].lines().skip(1).take_while(|l| l.starts_with('#') || l.starts_with("    (")).collect::<Vec<_>>().join("\n")
}

#[test]
fn dump_lists_parked_threads_with_state_and_backtrace() {
    with_parked_program(|pid| {
        let out = Command::new(launcher()).args(["dump", &pid.to_string()]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "dump failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
        assert!(text.starts_with(&format!("greenshim dump of pid {pid}: 5 green threads")), "{text}");
        // States and what each waits on.
        let piper = line_of(&text, "\"piper\"");
        assert!(piper.contains("parked on read fd 3"), "{piper}");
        assert!(line_of(&text, "\"locker\"").contains("parked on mutex 0x") && line_of(&text, "\"locker\"").contains("(held)"), "{text}");
        assert!(line_of(&text, "\"cvwaiter\"").contains("parked on condvar 0x") && line_of(&text, "\"cvwaiter\"").contains("(cv)"), "{text}");
        let sleeper = line_of(&text, "\"sleeper\"");
        assert!(sleeper.contains("parked on sleep") && sleeper.contains(", deadline "), "{sleeper}");
        assert!(line_of(&text, "thread main:").contains("parked on read fd 0"), "{text}");
        // Each backtrace holds the program's own function and start routine.
        // The shim's own frames are folded into one line naming the call that parked.
        for (who, f, start, call) in [
            // (Which of the shim's functions is outermost depends on inlining.)
            ("\"piper\"", "wait_on_pipe", "reader", "read"),
            ("\"locker\"", "wait_on_mutex", "locker", "mutex"),
            ("\"cvwaiter\"", "wait_on_condvar", "waiter", "cond"),
            ("\"sleeper\"", "long_nap", "sleeper", "sleep"),
            ("thread main:", "main ()", "main ()", "fgets"),
        ] {
            let bt = frames_of(&text, who);
            assert!(bt.contains(&format!(" {f}")) && bt.contains(&format!(" {start}")), "{who}: {f} / {start} missing from:\n{bt}");
            assert!(bt.contains("frames in libgreenshim, entered through") && bt.contains(call), "{who}: {call} missing from:\n{bt}");
        }
    });
}

fn gdb_script() -> std::path::PathBuf {
    root().join("scripts/greenshim-gdb.py")
}

#[test]
fn gdb_info_green_and_green_bt_on_a_running_process() {
    with_parked_program(|pid| {
        let out = Command::new("gdb")
            .args(["-nx", "-batch", "-q", "-p", &pid.to_string(), "-ex"])
            .arg(format!("source {}", gdb_script().display()))
            .args(["-ex", "info green", "-ex", "green bt 2", "-ex", "green apply all frame 0", "-ex", "info registers rip rsp"])
            .stdin(Stdio::null())
            .output()
            .expect("gdb (apt-get install gdb)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}\n{text}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("5 green threads (main included)"), "{text}");
        // `info green` shows each thread's innermost frame of the program's own.
        assert!(line_of(&text, "\"locker\"").contains("parked on mutex"), "{text}");
        let after_locker = &text[text.find("\"locker\"").unwrap()..];
        assert!(after_locker.lines().nth(1).unwrap_or("").contains("wait_on_mutex"), "{text}");
        // `green bt 2` is the locker's whole stack.
        let bt_start = text.find("\n#0").expect("a backtrace");
        let bt: String = text[bt_start..].lines().skip(1).take_while(|l| l.starts_with('#')).collect::<Vec<_>>().join("\n");
        assert!(bt.contains("wait_on_mutex") && bt.contains("locker"), "{bt}");
        // And the registers are the OS thread's own again afterwards: the program
        // continues (checked by with_parked_program) and rip is back in the scheduler.
        assert!(line_of(&text, "rip ").contains("0x"), "{text}");
    });
}

#[test]
fn sigrtmax_minus_1_makes_the_program_dump_itself_while_the_watchdog_runs() {
    let err = with_parked_program_env(&[("GREENSHIM_HOG_MS", "60000")], |pid| {
        let st = Command::new("bash").arg("-c").arg(format!("kill -s RTMAX-1 {pid}")).status().unwrap();
        assert!(st.success());
        // The watchdog writes it within a tick (a quarter of the threshold, at most 250 ms).
        std::thread::sleep(Duration::from_millis(800));
    });
    let header = line_of(&err, "greenshim: dump (SIGRTMAX-1) of pid");
    assert!(header.ends_with("5 green threads (main included)"), "{err}");
    assert!(line_of(&err, "\"piper\"").contains("parked on read fd 3"), "{err}");
    assert!(line_of(&err, "\"locker\"").contains("parked on mutex 0x"), "{err}");
    assert!(line_of(&err, "\"cvwaiter\"").contains("parked on condvar 0x"), "{err}");
    assert!(line_of(&err, "\"sleeper\"").contains("parked on sleep") && line_of(&err, "\"sleeper\"").contains(", deadline "), "{err}");
    assert!(line_of(&err, "main thread").contains("parked on read fd 0"), "{err}");
    // Without the watchdog the signal keeps its default action: the process ends by it.
    let p = c_program("observe", "parked");
    let mut child = Command::new(&p).env("LD_PRELOAD", lib()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    Command::new("bash").arg("-c").arg(format!("kill -s RTMAX-1 {}", child.id())).status().unwrap();
    let st = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(63), "{st:?}");
}

#[test]
fn the_programs_own_sigrtmax_minus_1_while_the_watchdog_owns_it() {
    let p = c_program("observe", "ownsig");
    let mut spec = Spec::new(&p);
    let env = [("GREENSHIM_HOG_MS", "1000")];
    spec.env = &env;
    let native = run(&spec, false);
    let shim = run(&spec, true);
    assert!(native.ok() && shim.ok(), "native {native:?}\nshim {shim:?}");
    assert_eq!(native.stdout, shim.stdout);
    assert!(native.stdout.contains("hits 2, last code SI_QUEUE: 1, value 42"), "{}", native.stdout);
}

/// Waits (at most 5 s) until the shim has taken the trigger file away.
fn wait_gone(path: &std::path::Path) {
    let start = Instant::now();
    while path.exists() {
        assert!(start.elapsed() < Duration::from_secs(5), "{} still there after 5 s: no dump taken", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dump_file_makes_the_program_dump_itself_on_the_shims_stderr() {
    let pattern = std::env::temp_dir().join(format!("greenshim-dump-test.{}.%p", std::process::id()));
    let pattern = pattern.to_str().unwrap().to_string();
    let seen_pid = std::cell::Cell::new(0);
    let err = with_parked_program_env(&[("GREENSHIM_DUMP", &pattern)], |pid| {
        seen_pid.set(pid);
        let file = std::path::PathBuf::from(pattern.replace("%p", &pid.to_string()));
        // Two requests, two dumps: the shim removes the file once each dump is written
        // (`touch` again).
        for _ in 0..2 {
            std::fs::write(&file, b"").unwrap();
            wait_gone(&file);
        }
    });
    let header = format!("greenshim: dump (GREENSHIM_DUMP) of pid {}: 5 green threads (main included)", seen_pid.get());
    assert_eq!(err.lines().filter(|l| *l == header).count(), 2, "{err}");
    assert!(line_of(&err, "\"piper\"").contains("parked on read fd 3"), "{err}");
    assert!(line_of(&err, "\"locker\"").contains("parked on mutex 0x"), "{err}");
    assert!(line_of(&err, "\"cvwaiter\"").contains("parked on condvar 0x"), "{err}");
    assert!(line_of(&err, "\"sleeper\"").contains("parked on sleep") && line_of(&err, "\"sleeper\"").contains(", deadline "), "{err}");
    assert!(line_of(&err, "main thread").contains("parked on read fd 0"), "{err}");
    // Only the shim's lines are on stderr (the program writes none).
    assert!(err.lines().all(|l| l.starts_with("greenshim: ")), "{err}");
}

/// Two hubs, no raw layer, no preemption (both need one hub; the suite may run with them set).
const TWO_HUBS: [(&str, &str); 3] = [("GREENSHIM_HUBS", "2"), ("GREENSHIM_RAW", "off"), ("GREENSHIM_PREEMPT", "off")];

/// c-tests/observe/spinhub in `mode` under the shim with [`TWO_HUBS`] plus `env`,
/// inspected by `inspect(pid)` while thread 3 spins on hub 1; ends as natively.
fn with_spinning_program(mode: &'static str, env: &[(&str, &str)], inspect: impl FnOnce(u32)) -> String {
    let p = c_program("observe", "spinhub");
    let env: Vec<(&str, &str)> = TWO_HUBS.iter().chain(env).copied().collect();
    with_waiting_program(
        || {
            let mut c = Command::new(&p);
            c.arg(mode);
            c
        },
        &env,
        inspect,
    )
}

/// The OS threads of process `pid` other than the main one (its hub 0).
fn other_lwps(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter(|&t| t != pid).collect()
}

/// The text printed for green thread `label` in a `green apply` (header line and the
/// command's output), whether it runs ("* thread") or not ("  thread").
fn green_section<'a>(text: &'a str, label: &str) -> &'a str {
    let start = ["  ", "* "]
        .iter()
        .flat_map(|m| [format!("\n\n{m}thread {label}:"), format!("\n\n{m}thread {label} (")])
        .filter_map(|h| text.find(&h))
        .min()
        .unwrap_or_else(|| panic!("no thread {label} in:\n{text}"));
    let body = &text[start + 2..];
    let end = [body.find("\n\n  thread "), body.find("\n\n* thread ")].into_iter().flatten().min().unwrap_or(body.len());
    &body[..end]
}

/// Checks gdb's view of spinhub in `mode`: the spinner runs on hub 1 and its backtrace
/// is that OS thread's live one (spin_here), the parked threads show their park frames
/// (from their saved contexts), main and thread 4 as the mode has them.
fn gdb_on_spinning_program(mode: &'static str) {
    with_spinning_program(mode, &[], |pid| {
        let lwps = other_lwps(pid);
        let mut gdb = Command::new("gdb");
        gdb.args(["-nx", "-batch", "-q", "-p", &pid.to_string(), "-ex"]).arg(format!("source {}", gdb_script().display()));
        gdb.args(["-ex", "info green", "-ex", "green apply 3 bt", "-ex", "green apply 1 bt", "-ex", "green apply 2 bt", "-ex", "green apply main bt"]);
        if mode == "spin0" {
            gdb.args(["-ex", "green apply 4 bt"]);
        }
        let out = gdb.stdin(Stdio::null()).output().expect("gdb (apt-get install gdb)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{}\n{text}", String::from_utf8_lossy(&out.stderr));
        // The hubs: 0 is the main OS thread, 1 one of the others.
        let hubs = line_of(&text, "green threads (main included), hubs: ");
        let hub1: u32 = hubs.split("1 (LWP ").nth(1).and_then(|r| r.split(')').next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{hubs}"));
        assert!(hubs.contains(&format!("0 (LWP {pid})")) && lwps.contains(&hub1), "{hubs} (other LWPs {lwps:?})");
        let on_hub1 = format!("running on hub 1 (LWP {hub1})");
        let on_hub0 = format!("running on hub 0 (LWP {pid})");
        // `info green`: the spinner's line and its innermost frame, live.
        let (list, applied) = text.split_once("\n\n").unwrap_or_else(|| panic!("{text}"));
        let spinner = line_of(list, "\"spinner\"");
        assert!(spinner.starts_with("* thread 3") && spinner.ends_with(&on_hub1), "{mode}: {spinner}\n{text}");
        let after = &list[list.find("\"spinner\"").unwrap()..];
        assert!(after.lines().nth(1).unwrap_or("").contains("spin_here"), "{mode}: {text}");
        // `green apply N bt`: the spinner's live stack; the parked threads' park frames.
        let s = green_section(&text, "3");
        assert!(s.lines().next().unwrap().ends_with(&on_hub1), "{mode}: {s}");
        // (nap_first is where it last switched: its saved context, stale now.)
        assert!(s.contains(" spin_here ") && s.contains(" spinner ") && !s.contains("nap_first") && !s.contains("wait_on_") && !s.contains("main_spins"), "{mode}: not the spinner's live stack:\n{s}");
        let s = green_section(&text, "1");
        assert!(s.lines().next().unwrap().contains("\"piper\": parked on read fd"), "{mode}: {s}");
        assert!(s.contains(" wait_on_pipe ") && s.contains(" reader ") && !s.contains("spin_here"), "{mode}: {s}");
        let s = green_section(&text, "2");
        assert!(s.lines().next().unwrap().contains("\"locker\": parked on mutex"), "{mode}: {s}");
        assert!(s.contains(" wait_on_mutex ") && s.contains(" locker ") && !s.contains("spin_here"), "{mode}: {s}");
        let main = green_section(&text, "main");
        match mode {
            "spin" => {
                assert!(main.starts_with("* thread main: ") && main.lines().next().unwrap().ends_with(&on_hub0), "{main}");
                assert!(main.contains(" main_spins ") && main.contains(" main ("), "{main}");
            }
            _ => {
                assert!(main.starts_with("  thread main: parked on read fd 0"), "{mode}: {main}");
                assert!(main.contains(" main (") && !main.contains("main_spins") && !main.contains("spin_in_calls") && !main.contains("spin_here"), "{mode}: {main}");
            }
        }
        if mode == "spin0" {
            let s = green_section(&text, "4");
            assert!(s.starts_with("* thread 4") && s.lines().next().unwrap().ends_with(&on_hub0), "{s}");
            assert!(s.contains(" spin_in_calls ") && s.contains(" spinner0 ") && !s.contains(" main ("), "{s}");
        }
        let _ = applied;
        // `greenshim dump PID` (gdb's `green dump`): the same truth.
        let d = Command::new(launcher()).args(["dump", &pid.to_string()]).output().unwrap();
        let dumped = String::from_utf8_lossy(&d.stdout).into_owned();
        assert!(d.status.success(), "{}\n{dumped}", String::from_utf8_lossy(&d.stderr));
        let s = green_section(&dumped, "3");
        assert!(s.lines().next().unwrap().ends_with(&on_hub1) && s.contains(" spin_here ") && !s.contains("nap_first") && !s.contains("wait_on_"), "{mode}: {s}\n{dumped}");
        let s = green_section(&dumped, "1");
        assert!(s.contains(" wait_on_pipe ") && !s.contains("spin_here"), "{mode}: {s}");
    });
}

#[test]
fn gdb_shows_a_thread_running_on_hub_1_with_its_live_stack() {
    gdb_on_spinning_program("park");
}

#[test]
fn gdb_shows_main_running_on_hub_0_beside_a_thread_running_on_hub_1() {
    gdb_on_spinning_program("spin");
}

#[test]
fn gdb_shows_a_thread_running_on_hub_0_while_main_is_parked_there() {
    gdb_on_spinning_program("spin0");
}

#[test]
fn cpython_py_bt_of_a_thread_running_on_hub_1() {
    // c-tests/observe/pyspin.py: the spinner holds the GIL, spinning in spin_here on
    // hub 1; main is parked on stdin on hub 0.
    let py = python();
    let ext = cpython_gdb_extension(&py).unwrap_or_else(|e| panic!("{e}"));
    let script = root().join("c-tests/observe/pyspin.py");
    let mut text = String::new();
    with_waiting_program(
        || {
            let mut c = Command::new(&py);
            c.arg(&script);
            c
        },
        &TWO_HUBS,
        |pid| {
            let out = Command::new("gdb")
                .args(["-nx", "-batch", "-q", "-p", &pid.to_string(), "-ex"])
                .arg(format!("source {}", ext.display()))
                .arg("-ex")
                .arg(format!("source {}", gdb_script().display()))
                .args(["-ex", "green apply all py-bt"])
                .stdin(Stdio::null())
                .output()
                .expect("gdb (apt-get install gdb)");
            text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.status.success(), "{}\n{text}", String::from_utf8_lossy(&out.stderr));
        },
    );
    let s = green_section(&text, "1");
    assert!(s.starts_with("* thread 1") && s.lines().next().unwrap().contains("running on hub 1 (LWP "), "{text}");
    assert!(s.contains(", in spin_here") && s.contains(", in spinner") && !s.contains("in <module>"), "{text}");
    let main = green_section(&text, "main");
    assert!(main.contains("in <module>") && main.contains("sys.stdin.readline()") && !main.contains("spin_here"), "{text}");
}

/// The self-dump (GREENSHIM_DUMP) of spinhub in `mode`, with `env` added; returns it and
/// the pid.
fn self_dump_of_spinning_program(mode: &'static str, env: &[(&str, &str)]) -> (String, u32) {
    let pattern = std::env::temp_dir().join(format!("greenshim-dump-hubs.{}.{mode}.%p", std::process::id()));
    let pattern = pattern.to_str().unwrap().to_string();
    let seen_pid = std::cell::Cell::new(0);
    let mut env: Vec<(&str, &str)> = env.to_vec();
    env.push(("GREENSHIM_DUMP", &pattern));
    let err = with_spinning_program(mode, &env, |pid| {
        seen_pid.set(pid);
        let file = std::path::PathBuf::from(pattern.replace("%p", &pid.to_string()));
        std::fs::write(&file, b"").unwrap();
        wait_gone(&file);
    });
    let pid = seen_pid.get();
    assert!(err.contains(&format!("greenshim: dump (GREENSHIM_DUMP) of pid {pid}: ")), "{err}");
    (err, pid)
}

/// The lines of the dump's section for hub `k`: its line and the frames under it.
fn hub_lines<'a>(dump: &'a str, k: usize) -> Vec<&'a str> {
    let head = format!("greenshim: hub {k} (LWP ");
    let mut lines = dump.lines().skip_while(|l| !l.starts_with(&head));
    let first = lines.next().unwrap_or_else(|| panic!("no hub {k} line in:\n{dump}"));
    std::iter::once(first).chain(lines.take_while(|l| l.starts_with("greenshim:   "))).collect()
}

#[test]
fn self_dump_says_which_thread_runs_on_which_hub_and_never_a_stale_stack() {
    // Without the hog watchdog no signal is the shim's: no stack, the hub and LWP only.
    let (err, pid) = self_dump_of_spinning_program("park", &[]);
    let spinner = line_of(&err, "\"spinner\"");
    let lwp: u32 = spinner.split("running on hub 1 (LWP ").nth(1).and_then(|r| r.strip_suffix(')')).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{spinner}\n{err}"));
    assert_ne!(lwp, pid, "{err}");
    assert!(line_of(&err, "\"piper\"").contains("parked on read fd"), "{err}");
    assert!(line_of(&err, "\"locker\"").contains("parked on mutex 0x"), "{err}");
    assert!(line_of(&err, "main thread").contains("parked on read fd 0"), "{err}");
    assert_eq!(hub_lines(&err, 0), [format!("greenshim: hub 0 (LWP {pid}): nothing runs: the hub waits for events")], "{err}");
    let h1 = hub_lines(&err, 1);
    assert_eq!(h1.len(), 1, "a stack without a capture:\n{err}");
    assert!(h1[0].starts_with(&format!("greenshim: hub 1 (LWP {lwp}) runs thread 3 (tid ")) && h1[0].contains("\"spinner\" (its stack: with GREENSHIM_HOG_MS set"), "{err}");
    assert!(!err.contains("greenshim:   #"), "frames printed without a live capture:\n{err}");

    // With it, each running thread's live stack, captured by its hub's own OS thread.
    let hog = [("GREENSHIM_HOG_MS", "60000")];
    let (err, pid) = self_dump_of_spinning_program("spin0", &hog);
    assert!(line_of(&err, "\"spinner\"").contains("running on hub 1 (LWP "), "{err}");
    assert!(line_of(&err, "\"spinner0\"").ends_with(&format!("running on hub 0 (LWP {pid})")), "{err}");
    assert!(line_of(&err, "main thread").contains("parked on read fd 0"), "{err}");
    for (k, who, f, start) in [(0, "\"spinner0\"", "spin_in_calls", "spinner0"), (1, "\"spinner\"", "spin_here", "spinner")] {
        let lines = hub_lines(&err, k);
        assert!(lines[0].ends_with(&format!("{who}; its stack now:")), "hub {k}: {err}");
        // (spin_in_calls calls ioctl: the signal may find it there.)
        assert!(lines[1..].iter().take(2).any(|l| l.contains(&format!(" {f}+"))), "hub {k}: {f} is not frame 0 or 1:\n{err}");
        assert!(lines.iter().any(|l| l.contains(&format!(" {start}+"))), "hub {k}: no {start}:\n{err}");
        assert!(!lines.iter().any(|l| l.contains("wait_on_") || l.contains("nap_first")), "hub {k}: {err}");
    }
    assert!(hub_lines(&err, 1).iter().any(|l| l.contains("below: hub 1's scheduler")), "{err}");

    let (err, pid) = self_dump_of_spinning_program("spin", &hog);
    assert!(line_of(&err, "main thread").ends_with(&format!("running on hub 0 (LWP {pid})")), "{err}");
    let h0 = hub_lines(&err, 0);
    assert!(h0[0].ends_with("runs main thread; its stack now:") && h0[1..].iter().take(2).any(|l| l.contains(" main_spins+")), "{err}");
}

#[test]
fn dump_file_leaves_every_signal_the_programs() {
    let pattern = std::env::temp_dir().join(format!("greenshim-dump-test-sig.{}.%p", std::process::id()));
    let pattern = pattern.to_str().unwrap().to_string();
    // A program that uses SIGRTMAX-1 itself (handler, SIG_IGN, sigqueue): as natively.
    let p = c_program("observe", "ownsig");
    let mut spec = Spec::new(&p);
    let env = [("GREENSHIM_DUMP", pattern.as_str())];
    spec.env = &env;
    let native = run(&spec, false);
    let shim = run(&spec, true);
    assert!(native.ok() && shim.ok(), "native {native:?}\nshim {shim:?}");
    assert_eq!(native.stdout, shim.stdout);
    // SIGRTMAX-1 at its default action still ends the process, as natively (the dump
    // thread runs: the program has green threads).
    let p = c_program("observe", "parked");
    for shim in [false, true] {
        let mut c = Command::new(&p);
        c.env("GREENSHIM_DUMP", &pattern).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        if shim {
            c.env("LD_PRELOAD", lib());
        }
        let mut child = c.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert_eq!(first, "ready\n");
        Command::new("bash").arg("-c").arg(format!("kill -s RTMAX-1 {}", child.id())).status().unwrap();
        let st = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(63), "shim {shim}: {st:?}");
    }
}

#[test]
fn greenshim_dump_is_validated_like_the_other_variables() {
    let p = c_program("observe", "parked");
    for bad in ["relative/path", "dump"] {
        let out = Command::new(&p).env("GREENSHIM_DUMP", bad).env("LD_PRELOAD", lib()).stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("GREENSHIM_DUMP") && err.contains("absolute path"), "{err}");
        assert!(out.stdout.is_empty());
    }
    let out = Command::new(launcher()).args(["--dump-file", "x", "--"]).arg(&p).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GREENSHIM_DUMP"));
}

/// py-spy pip-installed once into target/pyspy-venv; None (the caller skips, saying
/// so) when PyPI cannot be reached.
fn py_spy() -> Option<std::path::PathBuf> {
    let venv = root().join("target/pyspy-venv");
    let bin = venv.join("bin/py-spy");
    if bin.is_file() {
        return Some(bin);
    }
    let ok = Command::new(python()).args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip")).args(["install", "-q", "--disable-pip-version-check", "py-spy"]).status().is_ok_and(|s| s.success());
    if ok && bin.is_file() { Some(bin) } else { None }
}

#[test]
fn python_stacks_of_green_threads_from_py_spy_and_greenshim_dump() {
    let Some(spy) = py_spy() else {
        eprintln!("skipped: py-spy could not be pip-installed into target/pyspy-venv");
        return;
    };
    let script = root().join("c-tests/observe/parked.py");
    let native = run_command(
        {
            let mut c = Command::new(python());
            c.arg(&script);
            c
        },
        Some(b"go\n"),
        Duration::from_secs(30),
    );
    assert!(native.ok(), "{native:?}");
    let mut child = Command::new(python())
        .arg(&script)
        .env("LD_PRELOAD", lib())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "ready\n");
    // py-spy on its own: every Python thread, green ones under their green tid.
    let o = Command::new(&spy).args(["dump", "--pid", &pid.to_string()]).output().unwrap();
    let spied = String::from_utf8_lossy(&o.stdout).into_owned();
    // greenshim dump appends py-spy's view when py-spy is in PATH.
    let path = format!("{}:{}", spy.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let d = Command::new(launcher()).args(["dump", &pid.to_string()]).env("PATH", path).output().unwrap();
    let dumped = String::from_utf8_lossy(&d.stdout).into_owned();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(first + &rest, native.stdout);

    assert!(o.status.success(), "py-spy: {}", String::from_utf8_lossy(&o.stderr));
    for (name, func) in [("\"waiter\"", "wait_for_event"), ("\"napper\"", "nap_in_steps"), ("\"MainThread\"", "<module>")] {
        let at = spied.find(name).unwrap_or_else(|| panic!("no {name} in py-spy's dump:\n{spied}"));
        assert!(spied[at..].contains(func), "{func} missing under {name}:\n{spied}");
    }
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    let py = dumped.find("Python stacks (py-spy dump").unwrap_or_else(|| panic!("no Python section:\n{dumped}"));
    assert!(dumped[py..].contains("wait_for_event") && dumped[py..].contains("nap_in_steps"), "{dumped}");
    // The green tids py-spy shows are the ones the native part of the dump gives.
    let tid = line_of(&spied, "\"waiter\"").split_whitespace().nth(1).unwrap().to_string();
    assert!(dumped[..py].contains(&format!("(tid {tid})")), "tid {tid} not in:\n{dumped}");
}

/// CPython's own gdb extension (Tools/gdb/libpython.py) for interpreter `py`, where gdb's
/// auto-load convention puts it: next to the interpreter's real path as `…-gdb.py`
/// (pyenv's python-build installs it there for every version) or under gdb's auto-load
/// directory (Debian's python3.X-dbg, which also brings the debug info that
/// /usr/bin/python3.X lacks). .ci/run installs python3.X-dbg when neither exists.
fn cpython_gdb_extension(py: &str) -> Result<std::path::PathBuf, String> {
    let out = Command::new(py).args(["-c", "import os, sys; print(os.path.realpath(sys.executable))"]).output().map_err(|e| format!("{py}: {e}"))?;
    let real = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let candidates = [format!("{real}-gdb.py"), format!("/usr/share/gdb/auto-load{real}-gdb.py")];
    candidates
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| format!("no CPython gdb extension for {real} (looked for {candidates:?}): use a pyenv interpreter or apt-get install the python3.X-dbg of /usr/bin/python3.X"))
}

/// The text gdb printed for green thread `label` ("main", "1", …) in a `green apply`
/// (a blank line, the thread's header line, the command's output): up to the next
/// thread's.
fn section<'a>(text: &'a str, label: &str) -> &'a str {
    let header = format!("\n\n  thread {label}");
    let start = text.find(&format!("{header}:")).or_else(|| text.find(&format!("{header} ("))).unwrap_or_else(|| panic!("no thread {label} in:\n{text}"));
    let body = &text[start + 2..];
    let end = body.find("\n\n  thread ").unwrap_or(body.len());
    &body[..end]
}

/// c-tests/observe/pybt.py under the shim: gdb with CPython's extension and ours shows
/// each green thread's own Python stack (py-bt), source line (py-list) and locals
/// (py-locals); the program then finishes as natively.
fn py_bt_on_green_threads(py: &str) {
    let ext = cpython_gdb_extension(py).unwrap_or_else(|e| panic!("{e}"));
    let script = root().join("c-tests/observe/pybt.py");
    let mut text = String::new();
    let mut dumped = String::new();
    with_waiting_program(
        || {
            let mut c = Command::new(py);
            c.arg(&script);
            c
        },
        &[],
        |pid| {
            let out = Command::new("gdb")
                .args(["-nx", "-batch", "-q", "-p", &pid.to_string(), "-ex"])
                .arg(format!("source {}", ext.display()))
                .arg("-ex")
                .arg(format!("source {}", gdb_script().display()))
                .args(["-ex", "info green", "-ex", "green apply all py-bt", "-ex", "echo ==py-list\\n", "-ex", "green apply 3 py-list", "-ex", "echo ==py-locals\\n", "-ex", "green apply 2 py-locals"])
                .stdin(Stdio::null())
                .output()
                .expect("gdb (apt-get install gdb)");
            text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.status.success(), "{}\n{text}", String::from_utf8_lossy(&out.stderr));
            // `greenshim dump` finds CPython's extension by itself (beside the
            // interpreter) and adds each thread's py-bt.
            let d = Command::new(launcher()).args(["dump", &pid.to_string()]).env("PATH", "/usr/bin:/bin").output().unwrap();
            dumped = String::from_utf8_lossy(&d.stdout).into_owned();
            assert!(d.status.success(), "{}\n{dumped}", String::from_utf8_lossy(&d.stderr));
        },
    );
    for (i, f) in ["worker_a", "worker_b", "worker_c"].iter().enumerate() {
        let s = section(&dumped, &(i + 1).to_string());
        let py = &s[s.find("Python stack (CPython's py-bt)").unwrap_or_else(|| panic!("thread {}: no Python stack in the dump:\n{dumped}", i + 1))..];
        assert!(py.contains(&format!(", in {f}")) && !py.contains("in <module>"), "thread {}: {f}:\n{py}", i + 1);
    }
    assert!(section(&dumped, "main").contains("in <module>"), "{dumped}");
    let (bts, rest) = text.split_once("==py-list").unwrap_or_else(|| panic!("{text}"));
    let (list, locals) = rest.split_once("==py-locals").unwrap_or_else(|| panic!("{text}"));
    // Threads 1–3 are the workers in the order they started.
    let workers = ["worker_a", "worker_b", "worker_c"];
    for (i, f) in workers.iter().enumerate() {
        let s = section(bts, &(i + 1).to_string());
        assert!(s.contains("Traceback (most recent call first)") && s.contains(&format!(", in {f}")), "thread {}: no {f} in its py-bt:\n{s}\n(all:\n{text})", i + 1);
        for other in workers.iter().filter(|o| *o != f) {
            assert!(!s.contains(&format!(", in {other}")), "thread {}: {other} in its py-bt:\n{s}", i + 1);
        }
        // The stack ends at the thread's start: not the main thread's frames below it.
        assert!(!s.contains("in <module>"), "thread {}: the main thread's frames in its py-bt:\n{s}", i + 1);
        assert!(s.contains("in _bootstrap"), "thread {}: threading's _bootstrap missing:\n{s}", i + 1);
    }
    let main = section(bts, "main");
    assert!(main.contains("in <module>") && main.contains("sys.stdin.readline()"), "{main}");
    assert!(!workers.iter().any(|f| main.contains(&format!(", in {f}"))), "{main}");
    // The what-it-waits-on of each worker, for the record.
    assert!(section(bts, "3").lines().next().unwrap().contains("parked on read fd"), "{bts}");
    assert!(list.lines().any(|l| l.starts_with(" >") && l.contains("server.recv(16)")), "py-list of thread 3:\n{list}");
    assert!(locals.contains("Locals for get") && locals.contains("block = True"), "py-locals of thread 2:\n{locals}");
}

#[test]
fn cpython_py_bt_py_list_py_locals_on_green_threads() {
    py_bt_on_green_threads(&python());
}

#[test]
fn cpython_3_13_py_bt_on_green_threads() {
    // The frame layout changed in 3.11 and 3.12; the default interpreter is 3.11 here.
    let home = std::env::var("PYENV_ROOT").map(std::path::PathBuf::from).unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".pyenv"));
    let mut found: Vec<_> = std::fs::read_dir(home.join("versions"))
        .map(|d| d.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with("3.13.")).map(|e| e.path().join("bin/python3")).filter(|p| p.exists()).collect())
        .unwrap_or_default();
    found.sort();
    let Some(py) = found.pop() else {
        eprintln!("SKIP: no CPython 3.13 under pyenv on this machine");
        return;
    };
    py_bt_on_green_threads(&py.to_string_lossy());
}

/// `perf report` for one recording: the call chain under `spin_hard` (the block after
/// its line, up to the next blank line).
fn perf_chain(data: &std::path::Path) -> String {
    let out = Command::new("perf").args(["report", "-q", "--stdio", "--no-children", "-i"]).arg(data).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = text.find("[.] spin_hard").unwrap_or_else(|| panic!("no spin_hard samples in perf report:\n{text}"));
    text[start..].split("\n\n").next().unwrap_or("").to_string()
}

#[test]
fn perf_record_call_graphs_as_natively() {
    if Command::new("perf").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("SKIP: perf not installed (apt-get install linux-perf)");
        return;
    }
    // The hog program with frame pointers in its own code (glibc and the shim have none).
    let out_dir = root().join("target/c-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let tmp = gcc_to_temp(&root().join("c-tests/observe/hog.c"), &out_dir, "observe-hog-fp", &["-D_GNU_SOURCE", "-pthread", "-fno-omit-frame-pointer"]);
    let prog = out_dir.join(format!("observe-hog-fp.{}", std::process::id()));
    std::fs::rename(&tmp, &prog).unwrap();
    let mut outputs = Vec::new();
    for shim in [false, true] {
        for cg in ["fp", "dwarf"] {
            let data = out_dir.join(format!("perf-{}-{cg}.{}.data", if shim { "shim" } else { "native" }, std::process::id()));
            let mut c = Command::new("perf");
            c.args(["record", "-q", "--call-graph", cg, "-o"]).arg(&data).args(["--", "env"]);
            if shim {
                c.arg(format!("LD_PRELOAD={}", lib().display()));
            }
            let o = c.arg(&prog).arg("hog").env_remove("LD_PRELOAD").stdin(Stdio::null()).output().unwrap();
            if !shim && !o.status.success() {
                eprintln!("SKIP: perf record cannot run here: {}", String::from_utf8_lossy(&o.stderr).trim());
                let _ = std::fs::remove_file(&prog);
                return;
            }
            assert!(o.status.success(), "perf record (shim {shim}, {cg}): {}", String::from_utf8_lossy(&o.stderr));
            outputs.push(String::from_utf8_lossy(&o.stdout).into_owned());
            let chain = perf_chain(&data);
            let _ = std::fs::remove_file(&data);
            // The spinning function's caller is in every chain, natively and under the shim.
            assert!(chain.contains("spinner"), "shim {shim}, --call-graph {cg}: no caller of spin_hard:\n{chain}");
            if shim && cg == "dwarf" {
                // DWARF unwinding goes on to the green thread's first frame.
                assert!(chain.contains("stack_init_trampoline"), "{chain}");
            }
        }
    }
    let _ = std::fs::remove_file(&prog);
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "the program's stdout differs: {outputs:?}");
}
