//! Issue #3: CPython's own test suites under the shim, compared case by case with a
//! native run (scripts/cpython-compat.py). Every case that passes natively must pass
//! under the shim, except the ones listed with a reason in
//! scripts/cpython-known-differences.txt (explained in docs/CAVEATS.md).

mod common;
use common::*;
use std::process::Command;

fn compat(modules: &[&str]) {
    let _ = lib();
    let out = Command::new(python())
        .arg(root().join("scripts/cpython-compat.py"))
        .args(modules)
        .output()
        .expect("run cpython-compat.py");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "regressions under the shim:\n{text}");
}

#[test]
fn cpython_test_threading_matches_native() {
    compat(&["test_threading"]);
}

#[test]
fn cpython_test_queue_matches_native() {
    compat(&["test_queue"]);
}
