//! A dump the program writes itself, on a signal a user can send without the launcher:
//! `kill -s RTMAX-1 PID` (signal 63 on x86-64 Linux) while the hog watchdog runs
//! (`GREENSHIM_HOG_MS`) and the program's own action for that signal is the default
//! (which would end the process). Written on the shim's log (the stderr found at start):
//! every green thread with id, name, state, what it waits on, since when and its
//! deadline, and the running thread's native backtrace. The stacks of parked threads
//! need an unwinder started from their saved registers, which only a debugger has here:
//! `greenshim dump PID` shows them.
//!
//! ```text
//!  SIGRTMAX-1 handler (hub thread)     watchdog thread (next tick, ≤ 250 ms)
//!  REQUESTED = true  ────────────────▶ take(): list the control blocks (hub::debug's
//!  (an atomic store: nothing else)     never-freed list), capture the running stack
//!                                      (hog::capture), write the lines
//! ```
//!
//! The watchdog reads control blocks while the hub runs: blocks are never freed, so
//! every read is of live memory; a field may be read mid-update (a name being set, a
//! park being prepared), which a diagnostic can live with.

use crate::green::{self, Green, REASON_NAMES, Reason, State};
use crate::hog;
use crate::hub;
use crate::log::LineBuf;
use crate::sys;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// Threads listed at most (the rest are counted).
const MAX_LISTED: usize = 4096;

/// From the signal handler: asks the watchdog for a dump; false if there is no watchdog
/// (the signal then takes the program's action). Async-signal-safe: one atomic store.
pub fn request() -> bool {
    if !hog::running() {
        return false;
    }
    REQUESTED.store(true, Ordering::Release);
    true
}

pub fn take() -> bool {
    REQUESTED.load(Ordering::Relaxed) && REQUESTED.swap(false, Ordering::AcqRel)
}

/// Writes one thread's line: `thread N (tid T) "name": state…`.
///
/// # Safety
/// `g` is a control block (never freed).
unsafe fn thread_line(b: &mut LineBuf, g: *const Green, current: *const Green, now: u64) {
    let _ = write!(b, "greenshim:   ");
    // SAFETY: per contract; plain-data reads of a live block.
    unsafe {
        hog::describe(b, g);
        let state = core::ptr::read_volatile(&raw const (*g).state);
        let reason = core::ptr::read_volatile(&raw const (*g).reason);
        let is_current = g == current;
        if is_current && !(*g).is_root {
            let _ = write!(b, ": running");
            return;
        }
        match state {
            State::Ready => {
                let _ = write!(b, ": ready");
            }
            State::Running => {
                let _ = write!(b, ": running");
            }
            State::Parked => {
                let _ = write!(b, ": parked on {}", REASON_NAMES[reason as usize]);
                let obj = core::ptr::read_volatile(&raw const (*g).wait_obj);
                match reason {
                    Reason::Read | Reason::Write | Reason::Accept | Reason::Connect => {
                        let _ = write!(b, " fd {obj}");
                    }
                    Reason::Join if green::from_handle(obj as libc::pthread_t).is_some() => {
                        let j = obj as *const Green;
                        let _ = write!(b, " thread {}", (*j).id.wrapping_sub(green::FIRST_ID) + 1);
                    }
                    _ if obj != 0 => {
                        let _ = write!(b, " {obj:#x}");
                    }
                    _ => {}
                }
                let at = core::ptr::read_volatile(&raw const (*g).parked_at);
                if at != 0 && now >= at {
                    let ms = (now - at) / 1_000_000;
                    let _ = write!(b, ", for {}.{:03} s", ms / 1000, ms % 1000);
                }
                let d = core::ptr::read_volatile(&raw const (*g).deadline);
                if d != 0 {
                    let (sign, ms) = if d >= now { ("in ", (d - now) / 1_000_000) } else { ("passed ", (now - d) / 1_000_000) };
                    let _ = write!(b, ", deadline {sign}{}.{:03} s", ms / 1000, ms % 1000);
                }
                if is_current {
                    let _ = write!(b, " (the hub runs its scheduler on this stack)");
                }
            }
            State::Exited => {
                let _ = write!(b, ": exited, not joined yet");
            }
            State::Free => {}
        }
    }
}

/// The dump (on the watchdog thread).
#[cold]
pub fn write() {
    let h = hub::global();
    if h.is_null() || !crate::log::enabled(crate::log::Level::Error) {
        return;
    }
    let tid = hub::debug::hub_tid();
    let (state, in_call) = hog::hub_state(tid);
    let mut frames = [0usize; hog::MAX_FRAMES];
    let (mut n, mut current) = (0, core::ptr::null::<Green>());
    if state == b'R' {
        (n, current) = hog::capture(tid, &mut frames);
    }
    if current.is_null() {
        // SAFETY: h is the installed hub; one racy pointer read of a control block.
        current = unsafe { core::ptr::read_volatile(&raw const (*h).current) } as *const Green;
    }
    let now = sys::now_ns();
    // Oldest first, as created.
    let mut list = [core::ptr::null_mut::<Green>(); MAX_LISTED];
    let (mut count, mut more) = (0, 0usize);
    let mut g = hub::debug::all_blocks();
    while !g.is_null() {
        // SAFETY: blocks are never freed; all_next is written once, before linking.
        let st = unsafe { core::ptr::read_volatile(&raw const (*g).state) };
        if st != State::Free {
            if count < MAX_LISTED {
                list[count] = g;
                count += 1;
            } else {
                more += 1;
            }
        }
        // SAFETY: as above.
        g = unsafe { (*g).all_next };
    }
    list[..count].reverse();
    let mut b = LineBuf::new();
    let _ = write!(b, "greenshim: dump (SIGRTMAX-1) of pid {}: {} green threads (main included)", sys::getpid(), count + more + 1);
    b.flush_line();
    // SAFETY: h is the installed hub; root is a control block.
    let root = unsafe { (*h).root } as *const Green;
    // SAFETY: control blocks from the hub and the list.
    unsafe {
        thread_line(&mut b, root, current, now);
        b.flush_line();
        for &g in &list[..count] {
            thread_line(&mut b, g, current, now);
            b.flush_line();
        }
    }
    if more != 0 {
        let _ = write!(b, "greenshim:   … and {more} more");
        b.flush_line();
    }
    if n != 0 {
        let _ = write!(b, "greenshim: the running thread's stack:");
        b.flush_line();
        hog::print_frames(&mut b, &frames[..n]);
    } else if hog::hub_idle() {
        let _ = write!(b, "greenshim: nothing runs: the hub waits for events");
        b.flush_line();
    } else if let Some((nr, _)) = in_call {
        let _ = write!(b, "greenshim: the hub's OS thread waits in system call {nr}");
        b.flush_line();
    }
    let _ = write!(b, "greenshim: (the stacks of parked threads: greenshim dump {})", sys::getpid());
    b.flush_line();
}
