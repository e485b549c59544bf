//! Start-up: the constructor resolves the real libc functions, validates the
//! configuration and installs the hub on the main thread. Until it has run, every hook
//! passes through (the hub gate reads 0).

use crate::{config, hub, log, sys};

#[ctor::ctor(unsafe)]
fn greenshim_init() {
    sys::remember_stderr();
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
    crate::hog::set_threshold_ms(cfg.hog_ms);
    if let Some(p) = cfg.dump_path {
        crate::selfdump::set_path(p.as_str());
    }
    let hubs = match cfg.hubs {
        // auto: one hub per CPU this process may use, except where the program is
        // CPython, whose GIL lets one thread run Python at a time (see
        // docs/ARCHITECTURE.md, several hubs).
        0 if crate::sys::is_cpython() => 1,
        0 => crate::sys::usable_cpus(),
        n => n,
    };
    hub::set_hubs(hubs);
    if cfg.disable {
        crate::debug!("GREENSHIM_DISABLE=1: every call passes through");
        return;
    }
    if let Err(e) = hub::install(cfg.stack_size, cfg.stack_guard, cfg.tls_per_green) {
        log::fatal_parts(&[b"greenshim: cannot create the hub's epoll instance: errno ", e.0.to_string().as_bytes()]);
    }
    crate::green::overflow::install();
    crate::hooks::dl::init(std::env::var_os("LD_AUDIT").is_some_and(|v| !v.is_empty()));
    crate::raw::init(match cfg.raw {
        config::Raw::Off => crate::raw::Mode::Off,
        config::Raw::Report => crate::raw::Mode::Report,
        config::Raw::Catch => crate::raw::Mode::Catch,
    });
    crate::raw::preempt_init(cfg.preempt_for(hubs));
    if cfg.hog_ms != 0 && crate::hog::own_signal() == 0 {
        crate::warn!("GREENSHIM_HOG_MS: cannot install the watchdog's signal handler; no hog warnings");
    }
    // After every signal the shim owns is taken: a mask inherited across exec that
    // blocks one is the program's wish (and hubs started later keep it deliverable).
    crate::hooks::signal::adopt_inherited_mask();
    crate::raw_report::set_destination(cfg.raw_report);
    // The child's fix-ups run as the first atfork child handler — before any handler the
    // program registers later, which may block and so park: by then the child's hub
    // must no longer hold the parent's threads. Registered with glibc directly (the
    // shim does not hook pthread_atfork).
    // SAFETY: registering a plain extern "C" fn; no prepare/parent handlers.
    unsafe { libc::pthread_atfork(None, None, Some(atfork_child)) };
    if cfg.stats {
        // SAFETY: registering a plain extern "C" fn with atexit.
        unsafe { libc::atexit(crate::stats::at_exit) };
    }
    crate::debug!("ready: default green stack {} KiB", cfg.stack_size >> 10);
}

/// Runs in every child of glibc's `fork`, on the forking thread, before the program's
/// own atfork child handlers.
extern "C" fn atfork_child() {
    // SAFETY: in the child, on the forking thread, before the program runs again.
    unsafe { hub::after_fork_child() };
    // Locks of state the hubs share, which another hub's thread may have held.
    crate::hooks::resolv::after_fork_child();
    crate::hooks::stdio::printf::after_fork_child();
    crate::sync::foreign::after_fork_child();
    crate::sync::loader::after_fork_child();
    crate::raw::after_fork_child();
    crate::raw::clear_report_after_fork();
}
