//! `GREENSHIM_STATS=1`: a one-screen summary on stderr at exit; and the deadlock report.

use crate::green::{self, REASON_NAMES, Reason, State};
use crate::hub;
use crate::log::LineBuf;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);
static DEADLOCK_REPORTED: AtomicBool = AtomicBool::new(false);

pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// atexit handler.
pub extern "C" fn at_exit() {
    let h = hub::global();
    if h.is_null() || !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: read-only snapshot of counters at exit (other hubs' are racy reads of
    // plain counters, good enough for a summary).
    let (s, peak_stack) = unsafe { (hub::total_stats(), hub::peak_stack_bytes(h)) };
    // Single-threaded helper processes (shell wrappers, children) have nothing to say.
    if s.created == 0 && crate::offload::OFFLOADED.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut b = LineBuf::new();
    let _ = write!(b, "greenshim stats: green threads created {}, peak alive {}, context switches {}, epoll waits {}", s.created, s.peak_live, s.switches, s.epoll_waits);
    b.flush_line();
    let _ = write!(b, "greenshim stats: parks");
    for (i, n) in s.parks.iter().enumerate() {
        if *n != 0 {
            let _ = write!(b, " {}={}", REASON_NAMES[i], n);
        }
    }
    b.flush_line();
    let _ = write!(
        b,
        "greenshim stats: offloaded calls {} on {} offload threads, remote wakes {}, peak stack reservations {} KiB",
        crate::offload::OFFLOADED.load(Ordering::Relaxed),
        // Pool threads plus the one-off threads of waiting calls made while it was busy.
        crate::offload::workers() + crate::offload::OWN_THREADS.load(Ordering::Relaxed) as usize,
        s.remote_wakes,
        peak_stack >> 10
    );
    b.flush_line();
    if hub::hub_count() > 1 {
        for i in 0..hub::hub_count() {
            let x = hub::hub_at(i);
            if x.is_null() {
                continue;
            }
            // SAFETY: as above.
            let t = unsafe { (*x).stats };
            let _ = write!(b, "greenshim stats: hub {i}: context switches {}, epoll waits {}, remote wakes {}, threads taken before they started {}", t.switches, t.epoll_waits, t.remote_wakes, t.stolen);
            b.flush_line();
        }
    }
    if crate::raw::on() {
        let _ = write!(
            b,
            "greenshim stats: raw: preemptions {}, dispatches merged into another SIGSYS and made again {}",
            crate::raw::PREEMPTED.load(Ordering::Relaxed),
            crate::raw::MERGED.load(Ordering::Relaxed)
        );
        b.flush_line();
    } else if crate::raw::preempt_ms() != 0 {
        let _ = write!(
            b,
            "greenshim stats: preemption every {} ms of a hub's CPU time: ticks {}, preemptions {}",
            crate::raw::preempt_ms(),
            crate::raw::TICKS.load(Ordering::Relaxed),
            crate::raw::PREEMPTED.load(Ordering::Relaxed)
        );
        b.flush_line();
    }
}

/// Waits something outside the process can end: an fd event, a signal, an offloaded call.
fn fd_reason(r: Reason) -> bool {
    matches!(r, Reason::Read | Reason::Write | Reason::Accept | Reason::Connect | Reason::Poll | Reason::Signal | Reason::Offload)
}

/// Called when the hub is about to wait forever: if no thread waits for an fd (the only
/// thing that could still wake anyone, besides a signal or another OS thread), print
/// once which thread waits on what, as gevent's LoopExit does. Then keep waiting, as a
/// native program would.
///
/// # Safety
/// `h` must be the calling OS thread's hub.
pub unsafe fn maybe_report_deadlock(h: *mut hub::Hub) {
    // SAFETY: hub thread; reads control blocks only.
    unsafe {
        let all = hub::all_threads(h);
        let root = (*hub::global()).root;
        let parked = |g: *mut green::Green| (*g).state == State::Parked;
        if all.iter().chain(core::iter::once(&root)).any(|&g| parked(g) && fd_reason((*g).reason)) {
            return;
        }
        if !crate::log::enabled(crate::log::Level::Error) || crate::sys::os_thread_count() > hub::hub_count() + crate::hog::os_threads() || DEADLOCK_REPORTED.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut b = LineBuf::new();
        let _ = write!(b, "greenshim: deadlock: every thread is parked and nothing can wake them (no fd, timer or other OS thread):");
        b.flush_line();
        for &g in core::iter::once(&root).chain(all.iter()) {
            if parked(g) {
                if (*g).is_root {
                    let _ = write!(b, "greenshim:   main thread waits on {}", REASON_NAMES[(*g).reason as usize]);
                } else {
                    let _ = write!(b, "greenshim:   thread {} waits on {}", (*g).id - green::FIRST_ID + 1, REASON_NAMES[(*g).reason as usize]);
                }
                b.flush_line();
            }
        }
    }
}
