//! The launcher (`greenshim`), its `doctor`, and scripts/strace-compare.sh.
//!
//! The launcher under test is the one cargo built for this profile (target/release/greenshim
//! under `--release`); the library is looked for next to it, as the launcher itself does.
//! Tests that need a tool the machine lacks (static libc, strace, ptrace) say so on
//! stderr and pass, so a minimal machine still runs the rest.

// The same sources the launcher compiles: the tests check the help against the real
// variable table, and the doctor's symbol lists against the built library.
#[allow(dead_code)]
#[path = "../src/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../src/bin/symbols.rs"]
mod symbols;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn launcher() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_greenshim"))
}

/// Hubs in this test run (GREENSHIM_HUBS; `make test-hubs` runs the suite with 2).
fn hubs() -> i64 {
    std::env::var("GREENSHIM_HUBS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(1)
}

fn lib() -> PathBuf {
    let lib = launcher().with_file_name("libgreenshim.so");
    assert!(lib.is_file(), "{} not built: run `cargo build --release` first", lib.display());
    lib
}

/// A fresh directory for one test (tests may run in parallel processes).
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("launcher-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The launcher with `args`, in an environment free of the caller's GREENSHIM_* and
/// LD_PRELOAD, so the outcome does not depend on how the tests were started.
fn greenshim(args: &[&str]) -> Command {
    let mut c = Command::new(launcher());
    c.args(args).env_remove("LD_PRELOAD");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GREENSHIM_") {
            c.env_remove(k);
        }
    }
    c
}

/// Runs a command (built by value or borrowed from a builder chain) to completion.
fn output(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Compiles `src` with gcc into `out`; Err(gcc's stderr) if it fails.
fn gcc(src: &str, flags: &[&str], out: &Path) -> Result<(), String> {
    let c = out.with_extension("c");
    std::fs::write(&c, src).unwrap();
    let o = output(Command::new("gcc").args(flags).arg(&c).arg("-o").arg(out));
    if o.status.success() { Ok(()) } else { Err(text(&o.stderr)) }
}

/// The first `name` in PATH, for tests that give the child a PATH without it.
fn which(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not in PATH"))
}

// ---------------------------------------------------------------------------------
// running a command

#[test]
fn exit_status_is_the_commands() {
    let o = output(greenshim(&["--", "sh", "-c", "exit 7"]));
    assert_eq!(o.status.code(), Some(7), "stderr: {}", text(&o.stderr));
}

#[test]
fn death_signal_is_the_commands() {
    // exec, not spawn: the shell is the process the caller waits for.
    let o = output(greenshim(&["--", "sh", "-c", "kill -TERM $$"]));
    assert_eq!(o.status.signal(), Some(libc::SIGTERM), "status {:?}, stderr: {}", o.status, text(&o.stderr));
}

/// A wrapper hands over the signal state it was given: an ignored SIGPIPE (which Rust's
/// runtime and Command would otherwise reset) and the blocked-signal mask.
#[test]
fn inherited_signal_state_reaches_the_command() {
    use std::os::unix::process::CommandExt;
    let mut cmd = greenshim(&["--", "grep", "-E", "^(SigIgn|SigBlk):", "/proc/self/status"]);
    // SAFETY: runs in the forked child before exec; only async-signal-safe calls.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            let mut set = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let o = output(cmd);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    let mask = |field: &str| -> u64 {
        let line = out.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field} in:\n{out}"));
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let bit = |sig: i32| 1u64 << (sig - 1);
    assert_ne!(mask("SigIgn:") & bit(libc::SIGPIPE), 0, "SIGPIPE should stay ignored:\n{out}");
    assert_ne!(mask("SigBlk:") & bit(libc::SIGUSR1), 0, "SIGUSR1 should stay blocked:\n{out}");
}

#[test]
fn command_without_double_dash_keeps_its_own_options() {
    let o = output(greenshim(&["sh", "-c", "echo \"$0 $1\"", "--stats", "--log"]));
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "--stats --log\n");
}

#[test]
fn library_is_preloaded_into_the_command() {
    let o = output(greenshim(&["--", "sh", "-c", "echo \"$LD_PRELOAD\"; grep -c libgreenshim /proc/self/maps"]));
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(lib().canonicalize().unwrap().to_str().unwrap()), "LD_PRELOAD should be just the library");
    let mapped: u32 = lines.next().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    assert!(mapped > 0, "libgreenshim.so not mapped in the child:\n{out}");
}

#[test]
fn existing_ld_preload_is_kept_after_ours() {
    let dir = scratch("preload");
    let other = dir.join("libother.so");
    gcc("int greenshim_test_other(void) { return 1; }\n", &["-shared", "-fPIC"], &other).expect("gcc -shared");
    let o = output(greenshim(&["--", "sh", "-c", "echo \"$LD_PRELOAD\"; grep -c -e libgreenshim -e libother /proc/self/maps"]).env("LD_PRELOAD", &other));
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(o.stderr.is_empty(), "ld.so complained: {}", text(&o.stderr));
    let out = text(&o.stdout);
    let expected = format!("{}:{}", lib().canonicalize().unwrap().display(), other.display());
    assert_eq!(out.lines().next(), Some(expected.as_str()));
    let mapped: u32 = out.lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    assert!(mapped >= 2, "both libraries should be mapped:\n{out}");
}

#[test]
fn options_set_their_variables() {
    let o = output(greenshim(&["--stack-size", "256K", "--log=debug", "--stats", "--disable", "--", "sh", "-c", "env | grep ^GREENSHIM_ | sort"]));
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "GREENSHIM_DISABLE=1\nGREENSHIM_LOG=debug\nGREENSHIM_STACK_SIZE=256K\nGREENSHIM_STATS=1\n");
}

#[test]
fn option_overrides_environment() {
    let o = output(greenshim(&["--log", "warn", "sh", "-c", "echo $GREENSHIM_LOG"]).env("GREENSHIM_LOG", "bogus"));
    assert!(o.status.success(), "a valid option should replace an invalid variable; stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "warn\n");
}

#[test]
fn unknown_option_is_a_usage_error() {
    let o = output(greenshim(&["--frobnicate", "true"]));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.contains("--frobnicate") && err.contains("see greenshim --help"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn option_missing_its_value_is_a_usage_error() {
    let o = output(greenshim(&["--stack-size"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--stack-size"), "{}", text(&o.stderr));
}

#[test]
fn no_command_is_a_usage_error() {
    let o = output(greenshim(&["--stats"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no command"), "{}", text(&o.stderr));
}

/// A bad variable stops the launch with the library's own message, before the command runs.
#[test]
fn invalid_variable_is_rejected_before_the_command_runs() {
    let dir = scratch("invalid-var");
    let marker = dir.join("ran");
    let script = format!("touch '{}'", marker.display());
    let o = output(greenshim(&["--", "sh", "-c", &script]).env("GREENSHIM_STACK_SIZE", "12q"));
    assert_eq!(o.status.code(), Some(2));
    let accepted = config::VARS.iter().find(|v| v.0 == "GREENSHIM_STACK_SIZE").unwrap().1;
    assert_eq!(text(&o.stderr), format!("greenshim: invalid GREENSHIM_STACK_SIZE=\"12q\": expected {accepted}\n"));
    assert!(!marker.exists(), "the command ran despite the invalid variable");
}

#[test]
fn invalid_option_value_is_rejected_like_the_variable() {
    let o = output(greenshim(&["--log", "loud", "true"]));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.starts_with("greenshim: invalid GREENSHIM_LOG=\"loud\": expected "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn command_not_found_is_127_like_a_shell() {
    let o = output(greenshim(&["--", "greenshim-no-such-command"]));
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(text(&o.stderr), "greenshim: greenshim-no-such-command: command not found\n");
}

#[test]
fn command_not_executable_is_126() {
    let o = output(greenshim(&["--", "/etc/passwd"]));
    assert_eq!(o.status.code(), Some(126), "{}", text(&o.stderr));
}

/// PREFIX/bin/greenshim finds PREFIX/lib/libgreenshim.so; alone, it fails cleanly.
#[test]
fn library_found_in_installed_layout_or_reported_missing() {
    let prefix = scratch("install");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::copy(launcher(), prefix.join("bin/greenshim")).unwrap();

    let o = output(Command::new(prefix.join("bin/greenshim")).args(["true"]).env_remove("LD_PRELOAD"));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.starts_with("greenshim: cannot find libgreenshim.so"), "{err}");

    std::fs::create_dir_all(prefix.join("lib")).unwrap();
    std::fs::copy(lib(), prefix.join("lib/libgreenshim.so")).unwrap();
    let o = output(Command::new(prefix.join("bin/greenshim")).args(["sh", "-c", "echo $LD_PRELOAD"]).env_remove("LD_PRELOAD"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), prefix.join("lib/libgreenshim.so").canonicalize().unwrap().to_str().unwrap());
}

/// The Debian layout: /usr/bin/greenshim finds /usr/lib/<multiarch>/libgreenshim.so (here
/// under a scratch root), and `../lib` wins when both exist.
#[test]
fn library_found_in_multiarch_layout() {
    let multiarch = output(Command::new("gcc").arg("-print-multiarch"));
    let triplet = text(&multiarch.stdout).trim().to_string();
    if !multiarch.status.success() || triplet.is_empty() {
        eprintln!("skipped: gcc -print-multiarch gives no triplet on this machine");
        return;
    }
    let usr = scratch("multiarch").join("usr");
    std::fs::create_dir_all(usr.join("bin")).unwrap();
    std::fs::create_dir_all(usr.join("lib").join(&triplet)).unwrap();
    std::fs::copy(launcher(), usr.join("bin/greenshim")).unwrap();
    let multiarch_lib = usr.join("lib").join(&triplet).join("libgreenshim.so");
    std::fs::copy(lib(), &multiarch_lib).unwrap();
    let preload = || {
        let o = output(Command::new(usr.join("bin/greenshim")).args(["sh", "-c", "echo $LD_PRELOAD"]).env_remove("LD_PRELOAD"));
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout).trim().to_string()
    };
    assert_eq!(preload(), multiarch_lib.canonicalize().unwrap().to_str().unwrap());

    std::fs::copy(lib(), usr.join("lib/libgreenshim.so")).unwrap();
    assert_eq!(preload(), usr.join("lib/libgreenshim.so").canonicalize().unwrap().to_str().unwrap());
}

#[test]
fn help_lists_every_variable_and_option() {
    let o = output(greenshim(&["--help"]));
    assert!(o.status.success());
    let help = text(&o.stdout);
    for (var, accepted, default) in config::VARS {
        assert!(help.contains(var), "--help does not mention {var}:\n{help}");
        assert!(help.contains(accepted) && help.contains(default), "--help lacks the form or default of {var}:\n{help}");
    }
    for opt in ["--stack-size", "--log", "--stats", "--disable", "doctor", "--version"] {
        assert!(help.contains(opt), "--help does not mention {opt}");
    }
    assert!(o.stderr.is_empty());
}

#[test]
fn version() {
    let o = output(greenshim(&["--version"]));
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), format!("greenshim {}\n", env!("CARGO_PKG_VERSION")));
}

// ---------------------------------------------------------------------------------
// doctor

/// The rows of one section of a doctor report ("covered by greenshim (N):" + rows).
fn doctor_section(report: &str, title: &str) -> Vec<String> {
    report
        .lines()
        .skip_while(|l| !l.starts_with(title))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn doctor_on_a_dynamic_binary_lists_covered_calls() {
    let o = output(greenshim(&["doctor", "sleep"]));
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{}", text(&o.stderr));
    assert!(out.contains("dynamically linked"), "{out}");
    let covered = doctor_section(&out, "covered by greenshim");
    assert!(covered.iter().any(|s| s == "nanosleep" || s == "clock_nanosleep"), "sleep's sleeping call should be covered:\n{out}");
    assert!(out.contains("not covered (may block the OS thread)"), "{out}");
}

/// python3's real executable (not a pyenv shim): its threads, locks and I/O are covered.
#[test]
fn doctor_on_python_finds_thread_calls_in_its_libraries() {
    let Ok(o) = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output() else {
        eprintln!("SKIP: python3 not installed");
        return;
    };
    let exe = text(&o.stdout).trim().to_string();
    let o = output(greenshim(&["doctor", &exe]));
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{}", text(&o.stderr));
    let covered = doctor_section(&out, "covered by greenshim");
    for sym in ["pthread_create", "pthread_cond_wait", "read"] {
        assert!(covered.iter().any(|s| s == sym), "{sym} not reported as covered:\n{out}");
    }
}

#[test]
fn doctor_on_a_static_binary_says_it_cannot_be_interposed() {
    let dir = scratch("static");
    let bin = dir.join("hello-static");
    if let Err(e) = gcc("int main(void) { return 0; }\n", &["-static", "-O2"], &bin) {
        eprintln!("SKIP: cannot link statically (install libc6-dev's static libc): {e}");
        return;
    }
    let o = output(greenshim(&["doctor", bin.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("cannot be interposed: statically linked (or Go)"), "{}", text(&o.stdout));
}

/// A Go binary is recognised by its `.go.buildinfo` section even when dynamically linked
/// (cgo). No Go toolchain needed: a C program with that section is enough.
#[test]
fn doctor_on_a_go_binary_says_it_cannot_be_interposed() {
    let dir = scratch("go");
    let bin = dir.join("fake-go");
    let src = "__attribute__((used, section(\".go.buildinfo\"))) static const char info[16] = \"\\xff Go buildinf:\";\nint main(void) { return 0; }\n";
    gcc(src, &["-O2"], &bin).expect("gcc");
    let o = output(greenshim(&["doctor", bin.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("cannot be interposed: statically linked (or Go)") && out.contains("Go binary"), "{out}");
}

#[test]
fn doctor_on_a_missing_binary() {
    let o = output(greenshim(&["doctor", "greenshim-no-such-program"]));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o.stderr), "greenshim doctor: greenshim-no-such-program: not found\n");
    let o = output(greenshim(&["doctor", "/nonexistent/prog"]));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o.stderr), "greenshim doctor: /nonexistent/prog: not found\n");
}

#[test]
fn doctor_follows_a_script_to_its_interpreter() {
    let dir = scratch("script");
    let script = dir.join("tool");
    std::fs::write(&script, "#!/usr/bin/env sh\necho hi\n").unwrap();
    let o = output(greenshim(&["doctor", script.to_str().unwrap()]));
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{}", text(&o.stderr));
    assert!(out.lines().next().unwrap_or("").contains("is a script: following its interpreter"), "{out}");
    assert!(out.contains("dynamically linked"), "{out}");
}

#[test]
fn doctor_without_nm_says_so() {
    // An absolute program, and a PATH without nm.
    let o = output(greenshim(&["doctor", "/bin/sh"]).env("PATH", "/nonexistent"));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("nm not found"), "{}", text(&o.stderr));
}

/// The doctor's lists must match the library actually built: COVERED is exactly what it
/// exports, and nothing it exports is called uncovered.
#[test]
fn doctor_symbol_lists_match_the_library() {
    let Ok(o) = Command::new("nm").args(["-D", "--defined-only"]).arg(lib()).output() else {
        eprintln!("SKIP: nm (binutils) not installed");
        return;
    };
    assert!(o.status.success(), "{}", text(&o.stderr));
    let exported: BTreeSet<String> = text(&o.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[1] == "T").then(|| f[2].split('@').next().unwrap().to_string())
        })
        .collect();
    let covered: BTreeSet<String> = symbols::COVERED.iter().map(|s| s.to_string()).collect();
    let uncovered: BTreeSet<String> = symbols::BLOCKING_UNCOVERED.iter().map(|s| s.to_string()).collect();
    assert_eq!(covered.len(), symbols::COVERED.len(), "duplicate in COVERED");
    assert_eq!(uncovered.len(), symbols::BLOCKING_UNCOVERED.len(), "duplicate in BLOCKING_UNCOVERED");

    let missing: Vec<_> = exported.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&exported).collect();
    assert!(missing.is_empty(), "hooks exported by libgreenshim.so but not in src/bin/symbols.rs COVERED: {missing:?}");
    assert!(stale.is_empty(), "COVERED names functions libgreenshim.so does not export: {stale:?}");
    let both: Vec<_> = covered.intersection(&uncovered).collect();
    assert!(both.is_empty(), "hooked now, remove from BLOCKING_UNCOVERED: {both:?}");
}

// ---------------------------------------------------------------------------------
// scripts/strace-compare.sh

/// Compiles c-tests/core/sleep100.c under a name of our own (the core tests build the
/// same source concurrently); compile-then-rename keeps parallel runs safe.
fn sleep100() -> PathBuf {
    let out_dir = root().join("target/c-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let bin = out_dir.join("launcher-sleep100");
    let tmp = out_dir.join(format!(".launcher-sleep100.{}", std::process::id()));
    let o = output(Command::new("gcc").args(["-O2", "-D_GNU_SOURCE", "-pthread"]).arg(root().join("c-tests/core/sleep100.c")).arg("-o").arg(&tmp));
    assert!(o.status.success(), "compiling sleep100.c: {}", text(&o.stderr));
    std::fs::rename(&tmp, &bin).unwrap();
    bin
}

/// Parses the `metric | native | greenshim` table.
fn table_row(table: &str, metric: &str) -> (String, String) {
    let line = table.lines().find(|l| l.split('|').next().unwrap_or("").trim() == metric).unwrap_or_else(|| panic!("no row {metric:?} in:\n{table}"));
    let cols: Vec<&str> = line.split('|').map(str::trim).collect();
    assert_eq!(cols.len(), 3, "{line}");
    (cols[1].to_string(), cols[2].to_string())
}

#[test]
fn strace_compare_counts_os_threads() {
    let bin = sleep100();
    let o = output(Command::new("bash").arg(root().join("scripts/strace-compare.sh")).arg(&bin).env("GREENSHIM_LIB", lib()).env_remove("LD_PRELOAD"));
    let err = text(&o.stderr);
    match o.status.code() {
        Some(2) if err.contains("strace not found") => return eprintln!("SKIP: strace not installed"),
        Some(3) => return eprintln!("SKIP: ptrace not permitted here: {err}"),
        _ => {}
    }
    let table = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{table}\nstderr:\n{err}");
    assert_eq!(table.lines().next().map(|l| l.split('|').map(str::trim).collect::<Vec<_>>()), Some(vec!["metric", "native", "greenshim"]));
    assert!(!table.contains("100 threads slept"), "the command's stdout leaked into the table:\n{table}");
    let (native, shim) = table_row(&table, "OS threads created");
    assert!(native.parse::<u64>().unwrap() >= 100, "natively 100 threads are created:\n{table}");
    // None per program thread: only the hubs beyond the first (GREENSHIM_HUBS).
    assert_eq!(shim, (hubs() - 1).to_string(), "under greenshim no OS thread is created but the hubs':\n{table}");
    let (native, shim) = table_row(&table, "exit status");
    assert_eq!((native.as_str(), shim.as_str()), ("0", "0"), "{table}");
    for metric in ["futex calls", "blocking sleeps", "epoll waits", "total syscalls", "wall time (ms, under strace)"] {
        let (n, s) = table_row(&table, metric);
        assert!(n.parse::<u64>().is_ok() && s.parse::<u64>().is_ok(), "{metric}: {n} | {s}");
    }
}

#[test]
fn strace_compare_without_strace_names_the_package() {
    // A PATH holding only what the script needs before its strace check.
    let bin = scratch("no-strace");
    std::os::unix::fs::symlink(which("dirname"), bin.join("dirname")).unwrap();
    let o = output(Command::new(which("bash")).arg(root().join("scripts/strace-compare.sh")).arg("true").env("PATH", &bin));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("apt-get install strace"), "{}", text(&o.stderr));
}

/// GREENSHIM_SLICE and GREENSHIM_FILE_IO accept their documented forms and reject the
/// rest with one line naming the variable and the accepted form.
#[test]
fn slice_and_file_io_are_validated() {
    for good in ["0", "5ms", "500us", "1s", "250000ns", "10s"] {
        let o = output(greenshim(&["--", "true"]).env("GREENSHIM_SLICE", good));
        assert_eq!(o.status.code(), Some(0), "GREENSHIM_SLICE={good}: {}", text(&o.stderr));
    }
    for bad in ["5", "fast", "-1ms", "11s", "5 ms", "99999999999999999999s"] {
        let o = output(greenshim(&["--", "true"]).env("GREENSHIM_SLICE", bad));
        assert_eq!(o.status.code(), Some(2), "GREENSHIM_SLICE={bad}");
        let err = text(&o.stderr);
        assert!(err.starts_with(&format!("greenshim: invalid GREENSHIM_SLICE={bad:?}: expected ")), "{err}");
    }
    for good in ["auto", "inline", "offload"] {
        let o = output(greenshim(&["--file-io", good, "true"]));
        assert_eq!(o.status.code(), Some(0), "--file-io {good}: {}", text(&o.stderr));
    }
    let o = output(greenshim(&["--file-io", "uring", "true"]));
    assert_eq!(o.status.code(), Some(2));
    for good in ["off", "report", "catch"] {
        let o = output(greenshim(&["--raw", good, "true"]));
        assert_eq!(o.status.code(), Some(0), "--raw {good}: {}", text(&o.stderr));
    }
    let o = output(greenshim(&["--", "true"]).env("GREENSHIM_RAW", "on"));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("greenshim: invalid GREENSHIM_RAW=\"on\": expected off|report|catch"), "{}", text(&o.stderr));
}

// ---------------------------------------------------------------------------------
// --raw report: the launcher collects the exit reports

/// c-tests/raw/report_tree.c, built once per test into its scratch directory.
fn report_tree(dir: &Path) -> PathBuf {
    let out = dir.join("report_tree");
    let src = std::fs::read_to_string(root().join("c-tests/raw/report_tree.c")).unwrap();
    let src = src.replace("#include \"../common.h\"", &format!("#include \"{}\"", root().join("c-tests/common.h").display()));
    // Its own header (raw_syscall.h) from its directory.
    let inc = format!("-I{}", root().join("c-tests/raw").display());
    gcc(&src, &["-D_GNU_SOURCE", "-pthread", "-Wall", "-Werror", &inc], &out).unwrap();
    out
}

/// `greenshim --raw report -- PROG`: the program's stdout and stderr are the native
/// ones, and after them, on the launcher's stderr, every process's report — the parent,
/// 6 fork+exec'd children and a fork child — each whole; the exit status is the
/// program's. `--raw-report PATH` sends them to PATH instead (the launcher then execs).
#[test]
fn raw_report_is_printed_by_the_launcher_after_the_program() {
    let dir = scratch("raw-report");
    let prog = report_tree(&dir);
    let native = output(Command::new(&prog).env_remove("LD_PRELOAD"));
    assert!(native.status.success(), "{}", text(&native.stderr));
    let o = output(greenshim(&["--raw", "report", "--", prog.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), text(&native.stdout));
    let err = text(&o.stderr);
    let rest = err.strip_prefix(&text(&native.stderr)).unwrap_or_else(|| panic!("the program's own stderr does not come first:\n{err}"));
    assert_eq!(rest.lines().filter(|l| l.starts_with("greenshim raw: pid ")).count(), 8, "{rest}");
    assert!(rest.lines().all(|l| l.starts_with("greenshim raw: ")), "{rest}");
    assert!(rest.contains(&format!("({})", prog.canonicalize().unwrap().display())), "{rest}");

    // An explicit destination: the launcher adds nothing to stderr.
    let file = dir.join("reports");
    let o = output(greenshim(&["--raw", "report", "--raw-report", file.to_str().unwrap(), "--", prog.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), text(&native.stderr));
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().filter(|l| l.starts_with("greenshim raw: pid ")).count(), 8, "{written}");

    // A bad destination is refused before the command runs.
    let o = output(greenshim(&["--raw", "report", "--raw-report", "reports.txt", "--", "true"]));
    assert_eq!(o.status.code(), Some(2));
    let accepted = config::VARS.iter().find(|v| v.0 == "GREENSHIM_RAW_REPORT").unwrap().1;
    assert_eq!(text(&o.stderr), format!("greenshim: invalid GREENSHIM_RAW_REPORT=\"reports.txt\": expected {accepted}\n"));
}

/// While it collects the report the launcher is the program's parent, and still ends as
/// the program did: its exit status, its death signal; a signal sent to the launcher
/// reaches the program; a program with no blocking raw call gets one line saying so.
#[test]
fn raw_report_launcher_ends_as_the_program_did() {
    let o = output(greenshim(&["--raw", "report", "--", "sh", "-c", "exit 7"]));
    assert_eq!(o.status.code(), Some(7), "stderr: {}", text(&o.stderr));
    let o = output(greenshim(&["--raw", "report", "--", "sh", "-c", "kill -TERM $$"]));
    assert_eq!(o.status.signal(), Some(libc::SIGTERM), "status {:?}, stderr: {}", o.status, text(&o.stderr));
    let o = output(greenshim(&["--raw", "report", "--", "true"]));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stderr), "greenshim raw: no process made blocking system calls outside the hooks (GREENSHIM_RAW=report)\n");

    // SIGTERM to the launcher: passed on, the sleep dies of it, and so does the launcher.
    let mut child = greenshim(&["--raw", "report", "--", "sleep", "30"]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let t = std::time::Instant::now();
    // SAFETY: plain kill of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGTERM), "{st:?}");
    assert!(t.elapsed() < std::time::Duration::from_secs(10), "took {:?}", t.elapsed());
}
