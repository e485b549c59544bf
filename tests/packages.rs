//! The packages, built from the release build as `make wheel` and `make deb` build them
//! (scripts/build-wheel.sh, scripts/build-deb.sh), then installed — the wheel into a
//! fresh virtualenv, the .deb into a temporary root with `dpkg --root` — and used: a
//! threaded C program and a threading Python program run through the installed
//! `greenshim` and through `python -m greenshim`, with the same stdout and exit status
//! as natively and one OS thread.
//!
//! The wheel needs maturin, pip-installed once into build/pkg-venv; without PyPI (or
//! without `python3 -m venv`) the wheel test says so on stderr and passes. Without
//! dpkg-deb (not a Debian system) the .deb test does the same.

mod common;
use common::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("packages-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `program` in an environment free of the caller's LD_PRELOAD and GREENSHIM_*.
fn clean(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.env_remove("LD_PRELOAD");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GREENSHIM_") {
            c.env_remove(k);
        }
    }
    c
}

/// Runs a command to completion; panics unless it exits 0. Returns stdout.
fn check(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(o.status.success(), "{cmd:?} failed ({}):\n{}{}", o.status, text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

/// Runs a package build script; returns the package it printed last, or None when the
/// tools it needs cannot be had (exit status 75, the reason on stderr).
fn build(script: &str) -> Option<PathBuf> {
    let o = Command::new(root().join("scripts").join(script)).output().expect(script);
    if o.status.code() == Some(75) {
        eprintln!("skipped: {script}: {}", text(&o.stderr).trim());
        return None;
    }
    assert!(o.status.success(), "{script} failed ({}):\n{}", o.status, text(&o.stderr));
    let out = text(&o.stdout);
    let pkg = root().join(out.lines().last().unwrap_or_default());
    assert!(pkg.is_file(), "{script} printed {out:?}, not a package");
    Some(pkg)
}

/// Runs `native`, then `shimmed` (the same program through an installed greenshim, with
/// GREENSHIM_STATS=1): both exit 0 with identical stdout, and the shimmed run had one OS
/// thread (plus the offload pool's, which the shim reports at exit).
fn same_as_native_on_one_thread(what: &str, native: Command, mut shimmed: Command) {
    let timeout = Duration::from_secs(30);
    let n = run_command(native, None, timeout);
    assert!(n.ok(), "{what}: native run failed: {:?}\n{}", n.status, n.stderr);
    shimmed.env("GREENSHIM_STATS", "1");
    let s = run_command(shimmed, None, timeout);
    assert!(s.ok(), "{what}: run through the package failed: status {:?} signal {:?}\n{}", s.status, s.signal, s.stderr);
    assert_eq!(n.stdout, s.stdout, "{what}: stdout differs from the native run");
    assert!(s.stderr.contains("greenshim stats:"), "{what}: the shim did not run:\n{}", s.stderr);
    let pool = offload_threads(&s);
    let seen = s.metric("os_threads_max");
    assert!((1..=1 + pool).contains(&seen), "{what}: {seen} OS threads (offload pool {pool}), want 1\n{}", s.stderr);
    assert!(n.metric("os_threads_max") > 100, "{what}: natively the threads should be OS threads");
}

/// The newest GLIBC_x.y symbol version `file` imports, as (x, y).
fn glibc_needed(file: &Path) -> (u32, u32) {
    let dump = check(Command::new("objdump").arg("-T").arg(file));
    dump.split("GLIBC_")
        .skip(1)
        .filter_map(|s| {
            let v: String = s.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((it.next()??, it.next().flatten().unwrap_or(0)))
        })
        .max()
        .unwrap_or((0, 0))
}

#[test]
fn wheel_installs_into_a_virtualenv_and_runs_threads_on_one_os_thread() {
    let Some(wheel) = build("build-wheel.sh") else { return };

    // greenshim-VERSION-py3-none-manylinux_X_Y_ARCH.whl, its glibc at least the library's.
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    let prefix = format!("greenshim-{}-py3-none-manylinux_", env!("CARGO_PKG_VERSION"));
    let tag = name.strip_prefix(&prefix).unwrap_or_else(|| panic!("wheel name {name}, want {prefix}…"));
    let mut parts = tag.split('_').map(|p| p.parse::<u32>());
    let tagged = (parts.next().unwrap().unwrap(), parts.next().unwrap().unwrap());
    let needed = glibc_needed(&lib()).max(glibc_needed(&launcher()));
    assert!(tagged >= needed, "{name} claims glibc {tagged:?}, the files need {needed:?}");

    // A fresh virtualenv; the build venv's pip installs into it (`--python`), which saves
    // bootstrapping a pip of its own.
    let dir = scratch("wheel");
    let venv = dir.join("venv");
    check(clean(python()).args(["-m", "venv", "--without-pip"]).arg(&venv));
    let vpython = venv.join("bin/python");
    let pip = root().join("build/pkg-venv/bin/pip");
    check(clean(&pip).arg("--python").arg(&vpython).args(["install", "--quiet", "--no-index", "--no-deps"]).arg(&wheel));

    let bin = venv.join("bin/greenshim");
    let installed_lib = venv.join("lib/libgreenshim.so");
    assert!(bin.is_file() && installed_lib.is_file(), "the wheel installed no bin/greenshim or lib/libgreenshim.so");
    assert!(venv.join("share/greenshim/greenshim-gdb.py").is_file(), "the wheel installed no share/greenshim/greenshim-gdb.py (greenshim dump needs it)");
    let paths = check(clean(&vpython).args(["-c", "import greenshim; print(greenshim.launcher_path()); print(greenshim.library_path())"]));
    let canon = |p: &Path| p.canonicalize().unwrap().to_string_lossy().into_owned();
    assert_eq!(paths, format!("{}\n{}\n", canon(&bin), canon(&installed_lib)));
    assert_eq!(check(clean(&bin).arg("--version")), format!("greenshim {}\n", env!("CARGO_PKG_VERSION")));

    // The `greenshim` command: a C program and a Python one.
    let c = c_program("core", "sleep100");
    let py = py_program("sleep100");
    let mut through = clean(&bin);
    through.arg(&c);
    same_as_native_on_one_thread("C program through the wheel's greenshim", clean(&c), through);
    let mut native = clean(python());
    native.arg(&py);
    let mut through = clean(&bin);
    through.arg(python()).arg(&py);
    same_as_native_on_one_thread("Python program through the wheel's greenshim", native, through);

    // `python -m greenshim script.py`.
    let mut native = clean(&vpython);
    native.arg(&py);
    let mut through = clean(&vpython);
    through.args(["-m", "greenshim"]).arg(&py);
    same_as_native_on_one_thread("python -m greenshim script.py", native, through);

    // It re-executes the interpreter in place: same pid, same sys.argv, interpreter
    // flags kept, launcher options passed on, the exit status and death signal are the
    // program's own.
    // (The shim reports statistics only for a program that started a thread.)
    let code = "import os, sys, threading; t = threading.Thread(target=lambda: None); t.start(); t.join(); \
                print(sys.argv, sys.flags.dev_mode, os.getpid()); \
                sys.stderr.write('LD_PRELOAD=' + os.environ.get('LD_PRELOAD', '') + '\\n'); sys.exit(3)";
    let child = clean(&vpython)
        .args(["-X", "dev", "-m", "greenshim", "--stats", "--log", "warn", "-c", code, "a", "-b"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), format!("['-c', 'a', '-b'] True {pid}\n"));
    let err = text(&o.stderr);
    assert!(err.contains(&format!("LD_PRELOAD={}\n", canon(&installed_lib))), "{err}");
    assert!(err.contains("greenshim stats:"), "--stats was not passed on:\n{err}");

    let o = clean(&vpython).args(["-m", "greenshim", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]).output().unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGTERM), "{}", text(&o.stderr));

    // `-m MODULE`, with stdin.
    let o = run_command(
        {
            let mut c = clean(&vpython);
            c.args(["-m", "greenshim", "-m", "json.tool", "--sort-keys"]);
            c
        },
        Some(b"{\"b\": 1, \"a\": [2]}"),
        Duration::from_secs(30),
    );
    assert!(o.ok(), "{}", o.stderr);
    assert_eq!(o.stdout, "{\n    \"a\": [\n        2\n    ],\n    \"b\": 1\n}\n");

    let o = clean(&vpython).args(["-m", "greenshim"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("usage: python -m greenshim"), "{}", text(&o.stderr));

    // The options `python -m greenshim` knows are the launcher's, flags and options with
    // a value alike; an unknown one reaches the launcher, which rejects it.
    let help = check(clean(&bin).arg("--help"));
    let (mut flags, mut valued) = (Vec::new(), Vec::new());
    for spelled in help.lines().filter(|l| l.starts_with("  --")).map(|l| l.trim_start().split("  ").next().unwrap()) {
        match spelled.split_once(' ') {
            Some((opt, _metavar)) => valued.push(opt),
            None => flags.push(spelled),
        }
    }
    flags.sort();
    valued.sort();
    assert!(flags.contains(&"--stats") && valued.contains(&"--log"), "cannot read the options from --help:\n{help}");
    let known = check(clean(&vpython).args([
        "-c",
        "from greenshim.__main__ import FLAGS, VALUED; print(' '.join(sorted(FLAGS))); print(' '.join(sorted(VALUED)))",
    ]));
    assert_eq!(known, format!("{}\n{}\n", flags.join(" "), valued.join(" ")), "python/greenshim/__main__.py: FLAGS, VALUED differ from the launcher's options");
    let o = clean(&vpython).args(["-m", "greenshim", "--no-such-option", &py.to_string_lossy()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("greenshim: unknown option '--no-such-option'"), "{}", text(&o.stderr));

    // pip uninstall removes the launcher and the library too.
    check(clean(&pip).arg("--python").arg(&vpython).args(["uninstall", "--quiet", "--yes", "greenshim"]));
    assert!(!bin.exists() && !installed_lib.exists(), "pip uninstall left the launcher or the library");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deb_installs_into_a_root_and_runs_threads_on_one_os_thread() {
    if Command::new("dpkg-deb").arg("--version").output().is_err() {
        eprintln!("skipped: dpkg-deb not found (not a Debian system)");
        return;
    }
    let deb = build("build-deb.sh").expect("build-deb.sh needs no extra tool");

    // Control metadata.
    let field = |f: &str| check(Command::new("dpkg-deb").arg("--field").arg(&deb).arg(f)).trim().to_string();
    let arch = check(Command::new("dpkg").arg("--print-architecture")).trim().to_string();
    assert_eq!(field("Package"), "greenshim");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION").replace('-', "~"));
    assert_eq!(field("Architecture"), arch);
    let (major, minor) = glibc_needed(&lib()).max(glibc_needed(&launcher()));
    assert_eq!(field("Depends"), format!("libc6 (>= {major}.{minor})"));
    assert!(field("Maintainer").contains('@') && !field("Description").is_empty());

    // Installed by dpkg itself into a root of its own (its own database, no scripts,
    // nothing logged or changed outside it).
    let dir = scratch("deb");
    let root_dir = dir.join("root");
    std::fs::create_dir_all(root_dir.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root_dir.join("var/lib/dpkg/updates")).unwrap();
    std::fs::write(root_dir.join("var/lib/dpkg/status"), "").unwrap();
    let dpkg = || {
        let mut c = clean("dpkg");
        c.arg(format!("--root={}", root_dir.display())).args(["--force-not-root", "--force-script-chrootless", "--log=/dev/null"]);
        c
    };
    // libc6 is not in the empty root's database.
    check(dpkg().args(["--force-depends", "--install"]).arg(&deb));
    assert!(check(dpkg().args(["--status", "greenshim"])).contains("Status: install ok installed"));

    let multiarch = check(Command::new("gcc").arg("-print-multiarch")).trim().to_string();
    let bin = root_dir.join("usr/bin/greenshim");
    let installed_lib = root_dir.join("usr/lib").join(&multiarch).join("libgreenshim.so");
    assert!(bin.is_file() && installed_lib.is_file(), "the package installed no usr/bin/greenshim or usr/lib/{multiarch}/libgreenshim.so");
    assert!(root_dir.join("usr/share/greenshim/greenshim-gdb.py").is_file(), "the package installed no usr/share/greenshim/greenshim-gdb.py");
    let autoload = root_dir.join("usr/share/gdb/auto-load/usr/lib").join(&multiarch).join("libgreenshim.so-gdb.py");
    assert_eq!(std::fs::read_link(&autoload).ok(), Some(PathBuf::from("/usr/share/greenshim/greenshim-gdb.py")), "no gdb auto-load link for the library");
    let preload = check(clean(&bin).args(["sh", "-c", "echo $LD_PRELOAD"]));
    assert_eq!(preload.trim(), installed_lib.canonicalize().unwrap().to_str().unwrap());

    let c = c_program("core", "sleep100");
    let py = py_program("sleep100");
    let mut through = clean(&bin);
    through.arg(&c);
    same_as_native_on_one_thread("C program through the .deb's greenshim", clean(&c), through);
    let mut native = clean(python());
    native.arg(&py);
    let mut through = clean(&bin);
    through.arg(python()).arg(&py);
    same_as_native_on_one_thread("Python program through the .deb's greenshim", native, through);

    check(dpkg().args(["--remove", "greenshim"]));
    assert!(!bin.exists() && !installed_lib.exists(), "dpkg --remove left the launcher or the library");
    let _ = std::fs::remove_dir_all(&dir);
}
