//! The launcher: `greenshim [options] [--] CMD [ARGS…]` runs CMD with libgreenshim.so
//! preloaded, and `greenshim doctor PROGRAM` tells whether (and how well) that can work.
//!
//! The launcher replaces itself with the command (`exec`), so the command keeps the
//! launcher's pid, and its exit status and death signal are what the caller sees.
//! One exception: `--raw report` (GREENSHIM_RAW=report) with no GREENSHIM_RAW_REPORT
//! given. The report must not go into the program's stderr, so the launcher points
//! GREENSHIM_RAW_REPORT at a file of its own, runs the command as its child (passing on
//! the signals sent to it), prints the reports the processes appended on its own stderr
//! once the command has exited, and then exits with the command's status or dies of
//! its signal.
//! Reports (`--help`, `--version`, `doctor`) go to stdout; everything else the launcher
//! says goes to stderr, so a wrapped command's stdout stays its own.

// The library's own parser, so a value is accepted here iff the library accepts it,
// with the same message. The launcher only needs `parse` and `VARS`.
#[allow(dead_code)]
#[path = "../config.rs"]
mod config;
mod symbols;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, exit};
use std::sync::atomic::{AtomicBool, Ordering};

const LIB_NAME: &str = "libgreenshim.so";

/// Exit status for usage and configuration errors (and, for `doctor`, a missing program).
const EXIT_USAGE: i32 = 2;

/// A command-line option and the variable it sets. `metavar: None` marks a flag, which
/// sets the variable to `1`.
struct Opt {
    flag: &'static str,
    metavar: Option<&'static str>,
    var: &'static str,
    help: &'static str,
}

const OPTIONS: &[Opt] = &[
    Opt { flag: "--stack-size", metavar: Some("SIZE"), var: "GREENSHIM_STACK_SIZE", help: "stack of each green thread that does not set its own" },
    Opt { flag: "--log", metavar: Some("LEVEL"), var: "GREENSHIM_LOG", help: "how much the library logs on stderr" },
    Opt { flag: "--stats", metavar: None, var: "GREENSHIM_STATS", help: "print scheduler statistics on stderr at exit" },
    Opt { flag: "--disable", metavar: None, var: "GREENSHIM_DISABLE", help: "load the library but pass every call through" },
    Opt { flag: "--stack-guard", metavar: Some("0|1"), var: "GREENSHIM_STACK_GUARD", help: "guard page below each green stack; 0 allows more than ~32k threads but overflows go undetected" },
    Opt { flag: "--file-io", metavar: Some("auto|inline|offload"), var: "GREENSHIM_FILE_IO", help: "regular-file read/write: auto (page-cache hits inline, misses and O_DIRECT on the offload pool), inline, or all on the offload pool" },
    Opt { flag: "--slice", metavar: Some("DURATION"), var: "GREENSHIM_SLICE", help: "time slice: a thread whose hooked calls never wait yields after this long (e.g. 5ms; 0 = off)" },
    Opt { flag: "--tls", metavar: Some("per-green|shared"), var: "GREENSHIM_TLS", help: "per-green (default): each green thread has __thread/thread_local storage of its own; shared: all share the OS thread's" },
    Opt { flag: "--hog-ms", metavar: Some("MS"), var: "GREENSHIM_HOG_MS", help: "warn (with a backtrace) when one green thread runs MS milliseconds without a switch (0 = off)" },
    Opt { flag: "--raw", metavar: Some("off|report|catch"), var: "GREENSHIM_RAW", help: "system calls made outside libc's symbols (inside glibc, raw syscall instructions): report lists the blocking ones by call site once COMMAND has exited (greenshim prints them on its stderr); catch also parks them (Syscall User Dispatch)" },
    Opt { flag: "--raw-report", metavar: Some("stderr|PATH"), var: "GREENSHIM_RAW_REPORT", help: "where each process appends its raw-call report at exit (%p: the pid) instead of greenshim collecting them; stderr: into the program's own stderr" },
    Opt { flag: "--hubs", metavar: Some("N|auto"), var: "GREENSHIM_HUBS", help: "run green threads on N OS threads (auto: the CPUs the process may use; 1 for CPython); a started thread never moves" },
    Opt { flag: "--preempt", metavar: Some("auto|off|MS"), var: "GREENSHIM_PREEMPT", help: "switch out a green thread that has run MS milliseconds without a switch, at a safe point in the program's own code (auto, the default: 5 ms with several hubs, off with one)" },
    Opt { flag: "--dump-file", metavar: Some("PATH"), var: "GREENSHIM_DUMP", help: "when the file PATH appears (%p: the pid; e.g. touch it), dump every green thread's state on stderr and remove the file" },
    Opt { flag: "--offload-threads", metavar: Some("N"), var: "GREENSHIM_OFFLOAD_THREADS", help: "OS threads for calls epoll cannot watch (DNS, fsync, file locks, system)" },
];

/// Whether SIGPIPE was ignored when the launcher started. The Rust runtime ignores
/// SIGPIPE before `main` and `Command` resets it to the default before exec, so without
/// this record a caller's `trap '' PIPE` would not reach the command.
static SIGPIPE_WAS_IGNORED: AtomicBool = AtomicBool::new(false);

// Runs from .init_array, before the Rust runtime touches SIGPIPE.
#[ctor::ctor(unsafe)]
fn record_inherited_sigpipe() {
    // SAFETY: a query only (null new action) into a zeroed, valid out-parameter.
    let ignored = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    };
    SIGPIPE_WAS_IGNORED.store(ignored, Ordering::Relaxed);
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "doctor") {
        reports_to_stdout();
        exit(doctor_main(&args[1..]));
    }
    if args.first().is_some_and(|a| a == "dump") {
        reports_to_stdout();
        exit(dump_main(&args[1..]));
    }
    let (vars, command) = parse_args(&args);
    run(&vars, &command);
}

/// Before printing a report: `greenshim doctor X | head` should end quietly on SIGPIPE,
/// like any filter, not panic on the EPIPE that Rust's ignored SIGPIPE turns it into.
fn reports_to_stdout() {
    // SAFETY: restoring the default action of one signal; no handler involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// Prints `greenshim: MSG` and exits with `code`.
fn die(code: i32, msg: impl std::fmt::Display) -> ! {
    eprintln!("greenshim: {msg}");
    exit(code);
}

fn usage_error(msg: impl std::fmt::Display) -> ! {
    die(EXIT_USAGE, format_args!("{msg}; see greenshim --help"));
}

/// Splits the arguments into variables set by options and the command. Options stop at
/// `--` or at the first argument that does not start with `-`, so the command's own
/// options are never taken for ours.
fn parse_args(args: &[OsString]) -> (Vec<(&'static str, OsString)>, Vec<OsString>) {
    let mut vars = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        if arg == b"--" {
            i += 1;
            break;
        }
        if !arg.starts_with(b"-") || arg == b"-" {
            break;
        }
        match arg {
            b"-h" | b"--help" => {
                reports_to_stdout();
                print!("{}", help());
                exit(0);
            }
            b"-V" | b"--version" => {
                reports_to_stdout();
                println!("greenshim {}", env!("CARGO_PKG_VERSION"));
                exit(0);
            }
            _ => {}
        }
        // `--opt=value` or `--opt value`.
        let (name, inline) = match arg.iter().position(|&b| b == b'=') {
            Some(eq) => (&arg[..eq], Some(OsStr::from_bytes(&arg[eq + 1..]).to_owned())),
            None => (arg, None),
        };
        let Some(opt) = OPTIONS.iter().find(|o| o.flag.as_bytes() == name) else {
            usage_error(format_args!("unknown option '{}'", args[i].to_string_lossy()));
        };
        let value = match (opt.metavar, inline) {
            (None, None) => OsString::from("1"),
            (None, Some(_)) => usage_error(format_args!("option '{}' takes no value", opt.flag)),
            (Some(_), Some(v)) => v,
            (Some(m), None) => {
                i += 1;
                match args.get(i) {
                    Some(v) => v.clone(),
                    None => usage_error(format_args!("option '{}' needs a value ({m})", opt.flag)),
                }
            }
        };
        vars.push((opt.var, value));
        i += 1;
    }
    let command = args[i..].to_vec();
    if command.is_empty() {
        usage_error("no command given");
    }
    (vars, command)
}

/// Validates the configuration, prepends the library to LD_PRELOAD and executes the
/// command. Returns only by exiting.
fn run(vars: &[(&'static str, OsString)], command: &[OsString]) -> ! {
    // Check what the library will see (environment overridden by options) here, so a
    // bad value stops the launch before the command starts rather than from inside it.
    let lookup = |k: &str| -> Option<String> {
        vars.iter()
            .rev()
            .find(|(v, _)| *v == k)
            .map(|(_, val)| val.clone())
            .or_else(|| std::env::var_os(k))
            .map(|v| v.to_string_lossy().into_owned())
    };
    let cfg = match config::parse(lookup) {
        Ok(c) => c,
        Err(e) => die(EXIT_USAGE, e),
    };
    // `--raw report` and nowhere given for the report: collect it (see the top).
    let collect = cfg.raw == config::Raw::Report && matches!(cfg.raw_report, config::RawReport::Default) && !cfg.disable;

    let lib = find_library().unwrap_or_else(|msg| die(EXIT_USAGE, msg));
    // ld.so splits LD_PRELOAD at both ':' and ' ', so such a path cannot be preloaded.
    if lib.as_os_str().as_bytes().iter().any(|&b| b == b':' || b == b' ') {
        die(EXIT_USAGE, format_args!("cannot preload {}: LD_PRELOAD cannot hold a path containing ':' or ' '", lib.display()));
    }
    // Ours goes first so its hooks win over other preloads; theirs are kept.
    let mut preload = lib.into_os_string();
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.as_bytes().iter().all(|b| b.is_ascii_whitespace())) {
        preload.push(":");
        preload.push(old);
    }

    let program = &command[0];
    let mut cmd = Command::new(program);
    cmd.args(&command[1..]).env("LD_PRELOAD", &preload);
    for (var, value) in vars {
        cmd.env(var, value);
    }
    // Command clears the signal mask and un-ignores SIGPIPE before exec; a wrapper should
    // hand over what it was given, so put both back (the mask is still the inherited
    // one: nothing here blocks signals).
    let mut mask = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: a query only (null new set) into a valid out-parameter.
    let have_mask = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), mask.as_mut_ptr()) } == 0;
    let sigpipe_ignored = SIGPIPE_WAS_IGNORED.load(Ordering::Relaxed);
    // SAFETY: the closure runs in this process just before execve, after Command's own
    // signal reset, and only calls async-signal-safe functions.
    unsafe {
        cmd.pre_exec(move || {
            if have_mask {
                libc::pthread_sigmask(libc::SIG_SETMASK, mask.as_ptr(), std::ptr::null_mut());
            }
            if sigpipe_ignored {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            }
            Ok(())
        });
    }
    let err = if collect { run_collecting_raw_report(cmd) } else { cmd.exec() };

    // exec (or spawn) only returns on failure; mirror a shell's messages and statuses.
    let name = program.to_string_lossy();
    let has_slash = program.as_bytes().contains(&b'/');
    match err.kind() {
        io::ErrorKind::NotFound if has_slash => die(127, format_args!("{name}: No such file or directory")),
        io::ErrorKind::NotFound => die(127, format_args!("{name}: command not found")),
        io::ErrorKind::PermissionDenied => die(126, format_args!("{name}: Permission denied")),
        _ => die(126, format_args!("{name}: {err}")),
    }
}

/// Signals passed on to the command while the launcher waits for it: those a user or a
/// supervisor sends to the pid they started. (Signals the terminal sends to the whole
/// foreground process group reach the command directly, and are not passed twice.)
const FORWARDED: &[i32] = &[
    libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2, libc::SIGALRM, libc::SIGWINCH,
];

/// `--raw report` without GREENSHIM_RAW_REPORT: runs `cmd` as a child with the report
/// file pointed at a private directory, waits, prints the reports on the launcher's
/// stderr and mirrors the command's end. Returns only if the command could not start.
fn run_collecting_raw_report(mut cmd: Command) -> io::Error {
    let base = std::env::var_os("TMPDIR").filter(|d| !d.is_empty()).unwrap_or_else(|| "/tmp".into());
    let mut template = PathBuf::from(base).join("greenshim-raw.XXXXXX").into_os_string().into_vec();
    template.push(0);
    // SAFETY: template is a writable NUL-terminated buffer ending in XXXXXX.
    if unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) }.is_null() {
        die(EXIT_USAGE, format_args!("--raw report: cannot create a directory for the report: {}", io::Error::last_os_error()));
    }
    template.pop();
    let dir = PathBuf::from(OsString::from_vec(template));
    let file = dir.join("report");
    cmd.env("GREENSHIM_RAW_REPORT", &file);

    // Block the forwarded signals before the child exists (it restores the mask it
    // inherited, in pre_exec), then take them on a thread of their own.
    // SAFETY: sigset operations on a local, initialised by sigemptyset.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in FORWARDED {
            libc::sigaddset(&mut set, sig);
        }
        set
    };
    // SAFETY: set is a valid signal set; the old mask is not needed (restored by pre_exec).
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return e;
        }
    };
    let pid = child.id() as libc::pid_t;
    static REAPED: AtomicBool = AtomicBool::new(false);
    std::thread::spawn(move || loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter; set is a valid signal set.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let sig = unsafe { libc::sigwaitinfo(&set, &mut info) };
        if sig > 0 && info.si_code != libc::SI_KERNEL && !REAPED.load(Ordering::Acquire) {
            // SAFETY: plain kill of our own child (until it is reaped, its pid is ours).
            unsafe { libc::kill(pid, sig) };
        }
    });
    let status = loop {
        match child.wait() {
            Ok(st) => {
                REAPED.store(true, Ordering::Release);
                break st;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => die(EXIT_USAGE, format_args!("cannot wait for the command: {e}")),
        }
    };
    let report = std::fs::read(&file).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    {
        use std::io::Write;
        let mut err = io::stderr().lock();
        if report.is_empty() {
            let _ = writeln!(err, "greenshim raw: no process made blocking system calls outside the hooks (GREENSHIM_RAW=report)");
        } else {
            let _ = err.write_all(&report);
        }
        let _ = err.flush();
    }
    mirror_end(status)
}

/// Exits with the command's status, or dies of the signal that killed it (without a
/// core file of the launcher's own).
fn mirror_end(status: std::process::ExitStatus) -> ! {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        // SAFETY: plain process-wide calls: no core file, the default action for sig,
        // sig unblocked, then raised.
        unsafe {
            let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(sig);
        }
        exit(128 + sig);
    }
    exit(status.code().unwrap_or(1));
}

/// Debian's multiarch directory name for this target (`dpkg-architecture -qDEB_HOST_MULTIARCH`):
/// the .deb installs the library as `/usr/lib/<triplet>/libgreenshim.so`.
const MULTIARCH: Option<&str> = if cfg!(all(target_arch = "x86_64", target_pointer_width = "64", target_env = "gnu")) {
    Some("x86_64-linux-gnu")
} else if cfg!(all(target_arch = "aarch64", target_env = "gnu")) {
    Some("aarch64-linux-gnu")
} else if cfg!(all(target_arch = "x86", target_env = "gnu")) {
    Some("i386-linux-gnu")
} else if cfg!(all(target_arch = "riscv64", target_env = "gnu")) {
    Some("riscv64-linux-gnu")
} else {
    None
};

/// Where an installation puts the library, relative to the launcher's directory: beside
/// it (`target/release`), `../lib` (`make install`'s `PREFIX/bin` + `PREFIX/lib`, and
/// the wheel's `bin` + `lib` in a virtualenv or `~/.local`), then `../lib/<multiarch>`
/// (the .deb's `/usr/bin` + `/usr/lib/x86_64-linux-gnu`).
fn library_candidates(dir: &Path) -> Vec<PathBuf> {
    let mut c = vec![dir.join(LIB_NAME), dir.join("../lib").join(LIB_NAME)];
    if let Some(triplet) = MULTIARCH {
        c.push(dir.join("../lib").join(triplet).join(LIB_NAME));
    }
    c
}

/// The library in one of the [`library_candidates`] of the launcher's directory.
/// `current_exe` resolves symlinks, so a symlinked launcher finds the library of the
/// installation it belongs to.
fn find_library() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the greenshim executable: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = library_candidates(dir);
    for c in &candidates {
        if c.is_file() {
            // Canonical, so the child's LD_PRELOAD has no `..` and still works after a cd.
            return Ok(c.canonicalize().unwrap_or_else(|_| c.clone()));
        }
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    Err(format!("cannot find {LIB_NAME} for {}: looked for {}", exe.display(), looked.join(", ")))
}

fn help() -> String {
    use std::fmt::Write;
    let default_of = |var: &str| config::VARS.iter().find(|v| v.0 == var).map_or("", |v| v.2);
    let mut s = String::new();
    let _ = write!(
        s,
        "greenshim {version} - run a program with its pthreads turned into green threads

Usage:
  greenshim [OPTIONS] [--] COMMAND [ARGS...]
  greenshim doctor PROGRAM
  greenshim dump PID
  greenshim --help | --version

Runs COMMAND with {LIB_NAME} preloaded (put in front of any LD_PRELOAD you
already have). Its threads become green threads on one OS thread, switching
whenever one would block in a hooked call. COMMAND replaces greenshim, so its
exit status and signals are its own (with `--raw report` and no --raw-report,
greenshim stays as COMMAND's parent to print the report once it has exited,
passes on the signals sent to it, and ends as COMMAND did). Options end at
`--` or at COMMAND.

Options (each sets a variable; options override the environment):
",
        version = env!("CARGO_PKG_VERSION")
    );
    let width = OPTIONS.iter().map(|o| o.flag.len() + o.metavar.map_or(0, |m| m.len() + 1)).max().unwrap_or(0);
    for o in OPTIONS {
        let spelled = match o.metavar {
            Some(m) => format!("{} {m}", o.flag),
            None => o.flag.to_string(),
        };
        let sets = match o.metavar {
            Some(_) => o.var.to_string(),
            None => format!("{}=1", o.var),
        };
        let _ = writeln!(s, "  {spelled:<width$}  {}\n  {:<width$}  sets {sets} (default: {})", o.help, "", default_of(o.var));
    }
    let _ = writeln!(s, "  {:<width$}  print this help", "-h, --help");
    let _ = writeln!(s, "  {:<width$}  print the version", "-V, --version");

    let _ = writeln!(s, "\nEnvironment (checked before COMMAND runs; a bad value is an error):");
    let w0 = config::VARS.iter().map(|v| v.0.len()).max().unwrap_or(0);
    let w1 = config::VARS.iter().map(|v| v.1.len()).max().unwrap_or(0);
    let _ = writeln!(s, "  {:<w0$}  {:<w1$}  DEFAULT", "VARIABLE", "ACCEPTED");
    for (var, accepted, default) in config::VARS {
        let _ = writeln!(s, "  {var:<w0$}  {accepted:<w1$}  {default}");
    }
    let _ = write!(
        s,
        "
doctor PROGRAM
  Checks PROGRAM (looked up in PATH, scripts followed to their interpreter):
  whether it can be interposed at all (not statically linked, not Go), and
  which blocking libc functions it or its libraries import, split into those
  greenshim covers and those that would block the whole OS thread.
  Exit status 0: can be interposed; 1: cannot; 2: not found or error.

dump PID
  Prints every green thread of process PID (running under greenshim): id,
  name, state (running, ready, parked on what: fd, mutex, condvar, sleep,
  join, offload call…, since when, deadline) and its backtrace. Uses gdb
  (apt-get install gdb) with greenshim-gdb.py; the process is stopped for
  the moment it takes, then continues. For a Python process, each thread's
  Python stack follows: from CPython's own gdb extension when it is found
  (pythonX.Y-gdb.py beside the interpreter, as pyenv installs it, or
  Debian's python3.X-dbg), and from py-spy when it is in PATH. Output goes
  to stdout, never to the program. Exit status 0: dumped; 1: could not (gdb's
  message on stderr).

Exit status:
  COMMAND's own; 2 for a usage or configuration error or a missing library;
  126 if COMMAND cannot be executed; 127 if it is not found.

Examples:
  greenshim -- python3 server.py
  greenshim --stats --log info ./threaded_server --port 8080
  GREENSHIM_STACK_SIZE=256K greenshim make -j8
  greenshim doctor python3
  greenshim dump 12345 > threads.txt
  greenshim -- doctor      (runs a program called doctor)
"
    );
    s
}

// ---------------------------------------------------------------------------------
// dump

const GDB_SCRIPT: &str = "greenshim-gdb.py";

/// The gdb extension of this installation: beside the launcher, in `../share/greenshim`
/// (make install, the wheel, the .deb), or the source tree's `scripts/` (target/release).
fn gdb_script() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the greenshim executable: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [dir.join(GDB_SCRIPT), dir.join("../share/greenshim").join(GDB_SCRIPT), dir.join("../../scripts").join(GDB_SCRIPT)];
    for c in &candidates {
        if c.is_file() {
            return Ok(c.canonicalize().unwrap_or_else(|_| c.clone()));
        }
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    Err(format!("cannot find {GDB_SCRIPT}: looked for {}", looked.join(", ")))
}

/// `greenshim dump PID`; returns the exit status.
fn dump_main(args: &[OsString]) -> i32 {
    let pid = match args {
        [a] if a == "-h" || a == "--help" => {
            println!("usage: greenshim dump PID (see greenshim --help)");
            return 0;
        }
        [a] => match a.to_str().and_then(|s| s.parse::<u32>().ok()).filter(|p| *p > 0) {
            Some(p) => p,
            None => usage_error(format_args!("dump needs a process id, not '{}'", a.to_string_lossy())),
        },
        [] => usage_error("dump needs a PID"),
        _ => usage_error("dump takes one PID"),
    };
    let script = match gdb_script() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("greenshim dump: {e}");
            return 1;
        }
    };
    // The time of the stop, so "parked for" is not lengthened by gdb's start-up.
    let mut gdb = Command::new("gdb");
    gdb.args(["-nx", "-batch", "-q"]).arg("-iex").arg("python import time; greenshim_stop_ns = time.monotonic_ns()").arg("-p").arg(pid.to_string());
    // For CPython, its own gdb extension: `green dump` then adds each thread's py-bt.
    if let Some(ext) = cpython_gdb_extension(pid) {
        gdb.arg("-ex").arg(format!("source {}", ext.display()));
    }
    let out = gdb
        .arg("-ex")
        .arg(format!("source {}", script.display()))
        .arg("-ex")
        .arg("green dump")
        .env_remove("LD_PRELOAD")
        .stdin(std::process::Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            eprintln!("greenshim dump: gdb not found: it reads the process (apt-get install gdb)");
            return 1;
        }
        Err(e) => {
            eprintln!("greenshim dump: cannot run gdb: {e}");
            return 1;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // gdb's own chatter (attaching, libthread_db, the current source line) comes first.
    match text.find("greenshim dump of pid") {
        Some(i) => {
            let body = &text[i..];
            let body = body.split("\n[Inferior 1").next().unwrap_or(body);
            print!("{}", body.trim_end_matches('\n'));
            println!();
            python_stacks(pid, body.contains("Python stack (CPython's py-bt)"));
            0
        }
        None => {
            eprintln!("greenshim dump: gdb could not dump process {pid}:");
            for line in String::from_utf8_lossy(&out.stderr).lines().chain(text.lines()).filter(|l| !l.trim().is_empty()) {
                eprintln!("  {line}");
            }
            1
        }
    }
}

/// CPython's own gdb extension (Tools/gdb/libpython.py) for the process's executable,
/// where gdb's auto-load convention puts it: `<real path>-gdb.py` (pyenv installs it so)
/// or under `/usr/share/gdb/auto-load` (Debian's python3.X-dbg). Sourced explicitly, so
/// gdb's auto-load safe-path does not matter.
fn cpython_gdb_extension(pid: u32) -> Option<std::path::PathBuf> {
    let exe = std::fs::canonicalize(format!("/proc/{pid}/exe")).ok()?;
    if !exe.file_name().is_some_and(|n| n.to_string_lossy().starts_with("python")) {
        return None;
    }
    let beside = std::path::PathBuf::from(format!("{}-gdb.py", exe.display()));
    let debian = std::path::PathBuf::from(format!("/usr/share/gdb/auto-load{}-gdb.py", exe.display()));
    [beside, debian].into_iter().find(|p| p.is_file())
}

/// For a Python process, each thread's Python stack from py-spy (when it is in PATH):
/// py-spy reads every thread state from the interpreter's memory, green threads
/// included, and names them by the tid `gettid` gives them (the dump's "tid").
/// `have_py_bt`: the gdb part already showed them (CPython's gdb extension was found);
/// then a missing py-spy goes unmentioned.
fn python_stacks(pid: u32, have_py_bt: bool) {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let is_python = exe.file_name().is_some_and(|n| n.to_string_lossy().starts_with("python"));
    if !is_python {
        return;
    }
    match Command::new("py-spy").args(["dump", "--pid", &pid.to_string()]).env_remove("LD_PRELOAD").stdin(std::process::Stdio::null()).output() {
        Ok(o) if o.status.success() => {
            println!("\nPython stacks (py-spy dump; thread ids are the green threads' tids above):");
            print!("{}", String::from_utf8_lossy(&o.stdout));
        }
        Ok(o) => eprintln!("greenshim dump: py-spy failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Err(_) if have_py_bt => {}
        Err(_) => println!("\n(Python process: install py-spy (pip install py-spy), or CPython's gdb extension (python3.X-dbg), for each thread's Python stack)"),
    }
}

// ---------------------------------------------------------------------------------
// doctor

/// `greenshim doctor PROGRAM`; returns the exit status.
fn doctor_main(args: &[OsString]) -> i32 {
    let program = match args {
        [a] if a == "-h" || a == "--help" => {
            println!("usage: greenshim doctor PROGRAM (see greenshim --help)");
            return 0;
        }
        [a] => a,
        [] => usage_error("doctor needs a PROGRAM"),
        _ => usage_error("doctor takes one PROGRAM"),
    };
    match doctor(program) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("greenshim doctor: {msg}");
            EXIT_USAGE
        }
    }
}

/// Where `name` would be executed from: itself if it has a '/', else the first
/// executable file of that name in PATH (an empty PATH entry means the current directory).
fn resolve(name: &OsStr) -> Option<PathBuf> {
    if name.as_bytes().contains(&b'/') {
        let p = PathBuf::from(name);
        return p.exists().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d }).map(|d| d.join(name)).find(|p| {
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn doctor(program: &OsStr) -> Result<i32, String> {
    let not_found = || format!("{}: not found", program.to_string_lossy());
    let mut path = resolve(program).ok_or_else(not_found)?;
    // Follow `#!` lines the way the kernel does; it allows a few levels of nesting.
    for _ in 0..5 {
        if path.is_dir() {
            return Err(format!("{}: is a directory", path.display()));
        }
        let Some(interp) = shebang(&path)? else { break };
        let next = resolve(&interp).ok_or_else(|| format!("{}: interpreter {} not found", path.display(), interp.to_string_lossy()))?;
        println!("{} is a script: following its interpreter {}", path.display(), next.display());
        let shell = ["sh", "bash", "dash", "zsh", "ksh"].iter().any(|sh| next.file_name().is_some_and(|f| f == *sh));
        if shell {
            // Wrappers (pyenv shims, launch scripts) usually exec the real program.
            println!("  (a shell script: if it execs another program, run the doctor on that one)");
        }
        path = next;
    }

    let elf = Elf::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(why) = elf.not_interposable() {
        println!("{}: cannot be interposed: statically linked (or Go)", path.display());
        println!("  {why}");
        return Ok(1);
    }
    // Checked before reporting anything, so a missing nm is one clear error.
    if Command::new("nm").arg("--version").output().is_err() {
        return Err("nm not found: it is part of binutils (apt-get install binutils)".into());
    }
    match &elf.interp {
        Some(interp) => println!("{}: dynamically linked (interpreter {interp}): greenshim can be preloaded", path.display()),
        None => println!("{}: a shared library: greenshim can interpose the calls it makes", path.display()),
    }
    if let Ok(m) = path.metadata() {
        if m.permissions().mode() & 0o6000 != 0 {
            println!("  warning: set-user/group-ID: the loader ignores an LD_PRELOAD path for it when run by another user");
        }
    }

    // Which objects to scan: the program and the libraries it loads, except glibc's own
    // (their internal calls bypass any preload, so their imports say nothing) and ours.
    let mut objects = vec![path.clone()];
    match shared_libraries(&path) {
        Ok(libs) => objects.extend(libs),
        Err(e) => eprintln!("greenshim doctor: warning: {e}; checking {} only", path.display()),
    }

    // symbol -> the objects importing it (by file name, for a short report)
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, obj) in objects.iter().enumerate() {
        let names = match undefined_symbols(obj) {
            Ok(n) => n,
            Err(e) if i == 0 => return Err(e),
            Err(e) => {
                eprintln!("greenshim doctor: warning: {e}");
                continue;
            }
        };
        let short = obj.file_name().map_or_else(|| obj.display().to_string(), |f| f.to_string_lossy().into_owned());
        for n in names {
            imports.entry(n).or_default().insert(short.clone());
        }
    }
    println!("  scanned {} object(s): {}", objects.len(), objects.iter().map(|o| o.display().to_string()).collect::<Vec<_>>().join(", "));

    let pick = |list: &[&str]| -> Vec<(String, String)> {
        let wanted: BTreeSet<&str> = list.iter().copied().collect();
        imports
            .iter()
            .filter(|(n, _)| wanted.contains(n.as_str()))
            .map(|(n, objs)| (n.clone(), objs.iter().cloned().collect::<Vec<_>>().join(", ")))
            .collect()
    };
    let covered = pick(symbols::COVERED);
    let uncovered = pick(symbols::BLOCKING_UNCOVERED);
    section("covered by greenshim", &covered);
    section("not covered (may block the OS thread)", &uncovered);
    if uncovered.is_empty() {
        println!("verdict: every blocking libc call it imports is covered");
    } else {
        println!("verdict: runs under greenshim, but while a call above waits, every green thread on its OS thread waits too");
    }
    println!("raw system calls (inside glibc, or syscall instructions in the program) do not show in its imports:");
    println!("  run it once as `greenshim --raw report {}` to list the blocking ones by call site once it has exited", program.to_string_lossy());
    println!("  (greenshim prints the report on its own stderr, never into the program's),");
    println!("  and `--raw catch` to have them parked");
    let cpython = imports.contains_key("Py_Initialize")
        || objects.iter().chain(core::iter::once(&path)).any(|o| o.file_name().is_some_and(|f| f.to_string_lossy().starts_with("libpython") || f.to_string_lossy().starts_with("python")));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()).min(64);
    if cpython {
        println!("several hubs: CPython runs Python code in one thread at a time (the GIL), so `--hubs auto` keeps it on 1 hub;");
        println!("  with free-threaded CPython, or C extensions that compute without the GIL, try `--hubs {cpus}`");
    } else {
        println!("several hubs: `--hubs auto` runs green threads on {cpus} OS thread(s) here (the CPUs this process may use);");
        println!("  with several hubs each is time-sliced every 5 ms (`--preempt auto`), so threads that share one take turns as on a core");
    }
    println!("threads that wait by spinning on shared memory, with no call at all (redis-server --io-threads), do not show either:");
    println!("  only preemption switches such a thread out (on by default with several hubs; `--preempt MS` with one);");
    println!("  without it the program spins at 100 % CPU");
    println!("  (`--hog-ms MS` names the spinning function)");
    Ok(0)
}

fn section(title: &str, rows: &[(String, String)]) {
    println!("{title} ({}):", rows.len());
    if rows.is_empty() {
        println!("  none");
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (name, objs) in rows {
        match symbols::note(name) {
            Some(note) => println!("  {name:<w$}  {objs}  [{note}]"),
            None => println!("  {name:<w$}  {objs}"),
        }
    }
}

/// The program named by a `#!` line, or None if `path` is not a script. For
/// `#!/usr/bin/env [-S] [VAR=x] prog`, that is `prog` (looked up in PATH later).
fn shebang(path: &Path) -> Result<Option<OsString>, String> {
    let mut head = [0u8; 256]; // the kernel reads no more of a #! line than this
    let mut f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let n = read_full(&mut f, &mut head).map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(line) = head[..n].strip_prefix(b"#!") else { return Ok(None) };
    let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty());
    let Some(interp) = words.next() else {
        return Err(format!("{}: empty #! line", path.display()));
    };
    if interp.rsplit(|&b| b == b'/').next() == Some(b"env") {
        // env's options and assignments come before the program it runs.
        if let Some(prog) = words.find(|w| !w.starts_with(b"-") && !w.contains(&b'=')) {
            return Ok(Some(OsStr::from_bytes(prog).to_owned()));
        }
    }
    Ok(Some(OsStr::from_bytes(interp).to_owned()))
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Libraries the program loads, as resolved by `ldd`, minus glibc's own and ours.
fn shared_libraries(path: &Path) -> Result<Vec<PathBuf>, String> {
    // Not under a preload: the listing should be the program's, not ours.
    let out = Command::new("ldd").arg(path).env_remove("LD_PRELOAD").output().map_err(|e| format!("cannot run ldd: {e}"))?;
    if !out.status.success() {
        return Err(format!("ldd failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let mut libs = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim();
        // "libfoo.so.1 => /path/libfoo.so.1 (0x…)", "/lib64/ld-linux-x86-64.so.2 (0x…)",
        // "linux-vdso.so.1 (0x…)", or "libfoo.so.1 => not found".
        let target = match line.split_once(" => ") {
            Some((name, rest)) if rest.starts_with("not found") => {
                eprintln!("greenshim doctor: warning: {name} not found by ldd (not checked)");
                continue;
            }
            Some((_, rest)) => rest,
            None => line,
        };
        let file = target.split(" (0x").next().unwrap_or("").trim();
        if !file.starts_with('/') {
            continue; // the vDSO has no file
        }
        let base = file.rsplit('/').next().unwrap_or(file);
        if !is_libc_itself(base) {
            libs.push(PathBuf::from(file));
        }
    }
    Ok(libs)
}

/// glibc's (and musl's) own objects, and libgreenshim: not scanned.
fn is_libc_itself(base: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "libc.so", "ld-linux", "ld64.so", "ld-musl-", "libc.musl-", "libpthread.so", "libdl.so",
        "librt.so", "libm.so", "libmvec.so", "libresolv.so", "libanl.so", "libutil.so",
        "libBrokenLocale.so", "libc_malloc_debug.so", "libgreenshim.so",
    ];
    PREFIXES.iter().any(|p| base.starts_with(p))
}

/// Imported dynamic symbols of `obj`, version suffixes (`@GLIBC_2.3.2`) stripped.
fn undefined_symbols(obj: &Path) -> Result<BTreeSet<String>, String> {
    let out = Command::new("nm")
        .args(["-D", "--undefined-only"])
        .arg(obj)
        .env_remove("LD_PRELOAD")
        .output()
        .map_err(|e| format!("cannot run nm: {e}"))?;
    if !out.status.success() {
        return Err(format!("nm {}: {}", obj.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| !s.ends_with(':')) // "nm: file: no symbols" style lines, if any
        .map(|s| s.split('@').next().unwrap_or(s).to_string())
        .collect())
}

/// The few ELF facts the doctor needs, read straight from the file (no dependency).
struct Elf {
    interp: Option<String>,
    has_dynamic: bool,
    needed: usize,
    sections: HashMap<String, (u64, u64)>, // name -> (file offset, size)
    go_note: bool,
    file: File,
}

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const DT_NEEDED: u64 = 1;
const SHT_NOBITS: u32 = 8;

impl Elf {
    fn read(path: &Path) -> Result<Elf, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let mut ident = [0u8; 16];
        let n = file.read_at(&mut ident, 0).map_err(|e| e.to_string())?;
        if n < ident.len() || &ident[..4] != b"\x7fELF" {
            return Err("not an ELF executable or a #! script".into());
        }
        let r = Reader { file: &file, wide: ident[4] == 2, big: ident[5] == 2 };
        Self::parse(&r, file.try_clone().map_err(|e| e.to_string())?).map_err(|e| format!("malformed ELF file ({e})"))
    }

    fn parse(r: &Reader<'_>, file: File) -> io::Result<Elf> {
        // Header fields that differ between ELF32 and ELF64 only in offset and width; the
        // five half-words (phentsize, phnum, shentsize, shnum, shstrndx) are consecutive.
        let (phoff, shoff, halves) = if r.wide { (r.word(32)?, r.word(40)?, 54) } else { (r.word(28)?, r.word(32)?, 42) };
        let half = |k: u64| r.u16(halves + 2 * k).map(u64::from);
        let (phentsize, phnum, shentsize, shnum, shstrndx) = (half(0)?, half(1)?, half(2)?, half(3)?, half(4)?);

        let mut elf = Elf { interp: None, has_dynamic: false, needed: 0, sections: HashMap::new(), go_note: false, file };
        for i in 0..phnum {
            let at = phoff + i * phentsize;
            let p_type = r.u32(at)?;
            let (off, size) = if r.wide { (r.word(at + 8)?, r.word(at + 32)?) } else { (r.word(at + 4)?, r.word(at + 16)?) };
            match p_type {
                PT_INTERP => {
                    let raw = r.bytes(off, size.min(4096))?;
                    let s = raw.split(|&b| b == 0).next().unwrap_or_default();
                    elf.interp = Some(String::from_utf8_lossy(s).into_owned());
                }
                PT_DYNAMIC => {
                    elf.has_dynamic = true;
                    // (tag, value) word pairs, up to DT_NULL.
                    let entry = if r.wide { 16 } else { 8 };
                    for k in 0..size.min(1 << 20) / entry {
                        match r.word(off + k * entry)? {
                            0 => break,
                            DT_NEEDED => elf.needed += 1,
                            _ => {}
                        }
                    }
                }
                PT_NOTE => elf.go_note |= r.has_go_note(off, size.min(1 << 20))?,
                _ => {}
            }
        }

        // Section names, for Go's sections; a stripped file may have none, which is fine.
        if shoff != 0 && shstrndx < shnum {
            // (file offset, size) of section i
            let extent = |i: u64| -> io::Result<(u64, u64)> {
                let at = shoff + i * shentsize;
                if r.wide { Ok((r.word(at + 24)?, r.word(at + 32)?)) } else { Ok((r.word(at + 16)?, r.word(at + 20)?)) }
            };
            let (names_off, names_size) = extent(shstrndx)?;
            let names = r.bytes(names_off, names_size.min(1 << 20))?;
            for i in 0..shnum {
                let at = shoff + i * shentsize;
                let name = names.get(r.u32(at)? as usize..).unwrap_or_default();
                let name = String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or_default()).into_owned();
                // NOBITS sections (.bss) occupy no bytes in the file.
                let extent = if r.u32(at + 4)? == SHT_NOBITS { (0, 0) } else { extent(i)? };
                elf.sections.insert(name, extent);
            }
        }
        Ok(elf)
    }

    /// Why LD_PRELOAD cannot work for this file, or None if it can.
    fn not_interposable(&self) -> Option<&'static str> {
        // Go first: cgo binaries are dynamically linked, yet the Go runtime schedules
        // goroutines itself and makes most system calls directly, past any hook.
        if self.sections.contains_key(".go.buildinfo") || self.sections.contains_key(".note.go.buildid") || self.go_note || self.has_symbol(".symtab", ".strtab", b"runtime.main") {
            return Some("Go binary: the Go runtime makes its system calls directly, not through libc");
        }
        if self.interp.is_none() && (!self.has_dynamic || self.needed == 0) {
            return Some("statically linked: no dynamic loader runs, so LD_PRELOAD is never read");
        }
        None
    }

    /// Whether the symbol table names `sym` (cheaply: the name appears in its string table).
    fn has_symbol(&self, symtab: &str, strtab: &str, sym: &[u8]) -> bool {
        let (Some(_), Some(&(off, size))) = (self.sections.get(symtab), self.sections.get(strtab)) else { return false };
        let mut buf = vec![0u8; size.min(64 << 20) as usize];
        if self.file.read_exact_at(&mut buf, off).is_err() {
            return false;
        }
        let mut needle = Vec::with_capacity(sym.len() + 2);
        needle.push(0);
        needle.extend_from_slice(sym);
        needle.push(0);
        buf.windows(needle.len()).any(|w| w == needle)
    }
}

/// Endian- and width-aware reads at file offsets.
struct Reader<'a> {
    file: &'a File,
    wide: bool,
    big: bool,
}

impl Reader<'_> {
    fn bytes(&self, off: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut b = vec![0u8; len as usize];
        self.file.read_exact_at(&mut b, off)?;
        Ok(b)
    }
    fn u16(&self, off: u64) -> io::Result<u16> {
        let mut b = [0u8; 2];
        self.file.read_exact_at(&mut b, off)?;
        Ok(if self.big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }
    fn u32(&self, off: u64) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.file.read_exact_at(&mut b, off)?;
        Ok(if self.big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }
    fn u64(&self, off: u64) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.file.read_exact_at(&mut b, off)?;
        Ok(if self.big { u64::from_be_bytes(b) } else { u64::from_le_bytes(b) })
    }
    /// An address-sized field: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, off: u64) -> io::Result<u64> {
        if self.wide { self.u64(off) } else { self.u32(off).map(u64::from) }
    }

    /// Whether a PT_NOTE segment holds a note owned by "Go" (the Go build ID).
    fn has_go_note(&self, off: u64, size: u64) -> io::Result<bool> {
        let data = self.bytes(off, size)?;
        let word = |i: usize| -> Option<u32> {
            let b: [u8; 4] = data.get(i..i + 4)?.try_into().ok()?;
            Some(if self.big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
        };
        let align4 = |n: usize| (n + 3) & !3;
        let mut i = 0;
        while let (Some(namesz), Some(descsz)) = (word(i), word(i + 4)) {
            let name = data.get(i + 12..i + 12 + namesz as usize).unwrap_or_default();
            if name.strip_suffix(b"\0").unwrap_or(name) == b"Go" {
                return Ok(true);
            }
            i += 12 + align4(namesz as usize) + align4(descsz as usize);
        }
        Ok(false)
    }
}
