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
