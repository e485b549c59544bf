//! Raw futexes through `syscall(SYS_futex)`: Rust's std and popular crates, C++20's
//! libstdc++ primitives, and the futex ABI itself, each run natively and under the shim
//! (same stdout, one OS thread). Without the shim serving futexes these hang: the hub's
//! only OS thread sleeps in the kernel while the thread that would wake it never runs.

mod common;
use common::*;
use std::time::Duration;

fn one_thread(p: &std::path::Path) -> (Run, Run) {
    let mut spec = Spec::new(p);
    spec.timeout = Duration::from_secs(40);
    compare_one_thread(&spec, "os_threads_max")
}

#[test]
fn futex_abi_matches_native() {
    one_thread(&c_program("futex", "abi"));
}

#[test]
fn rust_std_sync_primitives() {
    one_thread(&rust_program("std_sync"));
}

#[test]
fn rust_100_threads_sleep_1s_in_about_1s() {
    let (_, shim) = one_thread(&rust_program("sleep100"));
    let ms = shim.metric("wall_ms");
    assert!((1000..1600).contains(&ms), "100 × sleep(1 s) took {ms} ms under the shim");
}

#[test]
fn rust_std_net_echo_1000_client_threads() {
    one_thread(&rust_program("echo_threads"));
}

#[test]
fn rust_crossbeam_channel() {
    one_thread(&rust_program("crossbeam"));
}

#[test]
fn rust_rayon_par_iter() {
    one_thread(&rust_program("rayon_sum"));
}

#[test]
fn rust_parking_lot() {
    one_thread(&rust_program("parking_lot_sync"));
}

#[test]
fn rust_tokio_multi_thread_echo_and_spawn_blocking() {
    one_thread(&rust_program("tokio_echo"));
}

#[test]
fn cpp20_threads_atomic_wait_semaphore_latch_barrier_jthread() {
    one_thread(&cpp_program("sync"));
}

/// A venv under target/ with grpcio (pip, once); None (and a message) if PyPI cannot be
/// reached.
fn grpc_python() -> Option<std::path::PathBuf> {
    let venv = root().join("target").join("grpc-venv");
    let py = venv.join("bin").join("python");
    let has = |py: &std::path::Path| std::process::Command::new(py).args(["-c", "import grpc"]).status().is_ok_and(|s| s.success());
    if py.exists() && has(&py) {
        return Some(py);
    }
    let st = std::process::Command::new(python()).args(["-m", "venv"]).arg(&venv).status().expect("python3 -m venv");
    assert!(st.success(), "python3 -m venv {} failed", venv.display());
    let out = std::process::Command::new(venv.join("bin").join("pip")).args(["install", "--quiet", "grpcio"]).output().expect("pip");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let offline = ["Could not find a version", "No matching distribution", "NewConnectionError", "Network is unreachable", "Temporary failure in name resolution", "Max retries exceeded"];
        assert!(offline.iter().any(|m| err.contains(m)), "pip install grpcio failed:\n{err}");
        eprintln!("SKIPPED: PyPI is unreachable, grpcio cannot be installed:\n{err}");
        return None;
    }
    Some(py)
}

#[test]
fn python_grpcio_thread_pool_server_20_clients() {
    let Some(py) = grpc_python() else { return };
    let p = py_program("grpc_pool");
    let py = py.to_string_lossy().into_owned();
    let mut spec = Spec::new(&p);
    spec.interpreter = Some(&py);
    spec.timeout = Duration::from_secs(60);
    compare_one_thread(&spec, "os_threads_max");
}

/// Issue 15: `thread_local!` `RefCell`s borrowed mutably across blocking calls (sleep,
/// channel, mutex, TCP read) stay each thread's own; destructors run once per thread.
#[test]
fn rust_thread_local_refcell_borrowed_across_blocking_calls() {
    let (_, shim) = one_thread(&rust_program("thread_local_refcell"));
    assert!(shim.stdout.contains("50 of 50") && shim.stdout.contains("destructors run: 50"), "{}", shim.stdout);
}
