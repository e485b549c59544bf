//! Issue #3: the normal `threading` paths under every CPython the machine has (pyenv
//! 3.8–3.13): each c-tests/py program gives the same stdout natively and under the
//! shim, on one OS thread (plus the offload pool's). Versions not installed are skipped
//! with a message.

mod common;
use common::*;
use std::path::PathBuf;

const PROGRAMS: &[&str] = &["sleep100", "tcp_server", "executor", "queue_pc", "sync_prims", "http_server", "gevent_classics", "keyboard_interrupt"];

fn interpreter(minor: u32) -> Option<PathBuf> {
    let home = std::env::var("PYENV_ROOT").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".pyenv"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(home.join("versions"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("3.{minor}.")))
        .map(|e| e.path().join("bin").join("python3"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

fn check_version(minor: u32) {
    let Some(py) = interpreter(minor) else {
        eprintln!("SKIP: no CPython 3.{minor} under pyenv on this machine");
        return;
    };
    let py = py.to_string_lossy().into_owned();
    for name in PROGRAMS {
        let p = py_program(name);
        let mut spec = Spec::new(&p);
        spec.interpreter = Some(&py);
        compare_one_thread(&spec, "os_threads_max");
    }
}

#[test]
fn cpython_3_8() {
    check_version(8);
}
#[test]
fn cpython_3_9() {
    check_version(9);
}
#[test]
fn cpython_3_10() {
    check_version(10);
}
#[test]
fn cpython_3_12() {
    check_version(12);
}
#[test]
fn cpython_3_13() {
    check_version(13);
}

/// Builds c-tests/py/blocking_ext.c for interpreter `py` (its own headers and
/// extension suffix) into target/py-ext/3.<minor>; returns the directory.
fn build_blocking_ext(py: &str, minor: u32) -> PathBuf {
    let q = |expr: &str| {
        let o = std::process::Command::new(py).args(["-c", &format!("import sysconfig; print({expr})")]).output().expect("python");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let include = q("sysconfig.get_paths()['include']");
    let suffix = q("sysconfig.get_config_var('EXT_SUFFIX')");
    let dir = root().join("target").join("py-ext").join(format!("3.{minor}"));
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(format!(".blocking_ext.{}.so", std::process::id()));
    let st = std::process::Command::new("gcc")
        .args(["-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-pthread"])
        .arg(format!("-I{include}"))
        .arg(root().join("c-tests").join("py").join("blocking_ext.c"))
        .arg("-o")
        .arg(&tmp)
        .status()
        .expect("gcc");
    assert!(st.success(), "building blocking_ext for {py}");
    std::fs::rename(&tmp, dir.join(format!("blocking_ext{suffix}"))).unwrap();
    dir
}

/// Issue 15: a C extension that blocks in sem_wait and recv without releasing the GIL,
/// from several threads while others run: same output natively and under the shim, no
/// "non-NULL old thread state" abort (the thread state is in per-green TLS).
fn gil_held_across_blocking_call(minor: u32) {
    let Some(py) = interpreter(minor) else {
        eprintln!("SKIP: no CPython 3.{minor} under pyenv on this machine");
        return;
    };
    let py = py.to_string_lossy().into_owned();
    let dir = build_blocking_ext(&py, minor);
    let p = py_program("gil_blocking");
    let d = dir.to_string_lossy().into_owned();
    let args = [d.as_str()];
    let mut spec = Spec::new(&p);
    spec.interpreter = Some(&py);
    spec.args = &args;
    let (_, shim) = compare_one_thread(&spec, "os_threads_max");
    assert!(shim.stdout.contains("(0, 4, 'pong')") && !shim.stderr.contains("old thread state"), "{}\n{}", shim.stdout, shim.stderr);
}

#[test]
fn cpython_3_12_extension_blocks_holding_the_gil() {
    gil_held_across_blocking_call(12);
}

#[test]
fn cpython_3_13_extension_blocks_holding_the_gil() {
    gil_held_across_blocking_call(13);
}
