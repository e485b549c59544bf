//! Start-up: the constructor resolves the real libc functions, validates the
//! configuration and installs the hub on the main thread. Until it has run, every hook
//! passes through (the hub gate reads 0).

use crate::{config, hub, log, sys};

#[ctor::ctor(unsafe)]
fn greenshim_init() {
    sys::real::resolve_all();
    crate::hooks::process::REAL_VFORK.store(sys::real::address_of_vfork(), core::sync::atomic::Ordering::Relaxed);
    let cfg = match config::from_env() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("greenshim: {e}");
            log::fatal_parts(&[msg.as_bytes()]);
        }
    };
    log::set_level(cfg.log);
    crate::stats::set_enabled(cfg.stats);
    crate::offload::set_max_workers(cfg.offload_threads);
    crate::fd::io::set_file_io(cfg.file_io);
    crate::hub::set_slice_ns(cfg.slice_ns);
    if cfg.disable {
        crate::debug!("GREENSHIM_DISABLE=1: every call passes through");
        return;
    }
    if let Err(e) = hub::install(cfg.stack_size, cfg.stack_guard, cfg.tls_per_green) {
        log::fatal_parts(&[b"greenshim: cannot create the hub's epoll instance: errno ", e.0.to_string().as_bytes()]);
    }
    crate::green::overflow::install();
    if cfg.stats {
        // SAFETY: registering a plain extern "C" fn with atexit.
        unsafe { libc::atexit(crate::stats::at_exit) };
    }
    crate::debug!("ready: default green stack {} KiB", cfg.stack_size >> 10);
}
