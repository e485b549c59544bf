//! A dump the program writes itself, on a trigger a user can give without the
//! launcher or a debugger. Written on the shim's log (the stderr found at start, never
//! the program's stdout): every green thread with id, name, state, what it waits on,
//! since when and its deadline — a thread that some hub's OS thread runs right now is
//! "running on hub k (LWP n)" — then one line per hub: what its OS thread runs (a
//! green thread, main, its scheduler, nothing: waiting for events, or a system call
//! the shim does not serve) and, when the hog watchdog runs, the live native backtrace
//! of a running thread, captured by that hub's own OS thread (below). The stacks of
//! parked threads need an unwinder started from their saved registers, which only a
//! debugger has here: `greenshim dump PID` (or gdb with scripts/greenshim-gdb.py)
//! shows them, and changes nothing in the process. A saved context is never printed
//! as a running thread's stack: it is where the thread last switched, not where it is.
//!
//! A running thread's stack: the watchdog sends the hog signal (`SIGRTMAX-1`, owned
//! only while the hog watchdog runs; hubs beyond the first leave it unblocked) to that
//! hub's OS thread with `rt_tgsigqueueinfo`; the handler there (hog::on_signal) walks
//! its own stack with libgcc's unwinder into a preallocated buffer — no lock, no
//! allocation — and records which green thread it interrupted; the watchdog waits for
//! it at most 200 ms, one hub after another. With the file trigger alone no signal is
//! the shim's, and the line says which thread runs where, without a stack.
//!
//! Two triggers:
//! - **a file** (`GREENSHIM_DUMP=/path`, `%p` the pid): the watchdog thread (started
//!   with the first green thread) looks for it every 250 ms; when it appears, one dump,
//!   then the file is removed — its disappearance says the dump is written — (or, if it
//!   cannot be, the next dump waits for its inode or mtime to change). Chosen as the trigger to configure because it changes nothing the program
//!   can see: no signal action, mask or pending set is touched, and a path of the
//!   user's choosing is one no program already uses. The cost: one `newfstatat` every
//!   250 ms on a thread of the shim's own.
//! - **`SIGRTMAX-1`**, only while the hog watchdog runs (`GREENSHIM_HOG_MS`), which owns
//!   that signal for its own captures anyway, and only if the program's action for it is
//!   the default (which would end the process). Not made the general trigger: owning a
//!   signal for the program's whole life shows (its default action would no longer end
//!   the process; `/proc/self/status` lists it as caught; a `SIG_IGN` would not reach
//!   an exec'd child).
//!
//! ```text
//!  SIGRTMAX-1 handler (hub thread)     watchdog thread (next tick, ≤ 250 ms)
//!  REQUESTED = true  ────────────────▶ take() or file_requested(): list the control
//!  (an atomic store: nothing else)     blocks (hub::debug's never-freed list), capture
//!                                      the running stack (hog::capture, with the
//!                                      signal only), write the lines
//! ```
//!
//! The watchdog reads control blocks while the hub runs: blocks are never freed, so
//! every read is of live memory; a field may be read mid-update (a name being set, a
//! park being prepared), which a diagnostic can live with.

use crate::green::{self, Green, REASON_NAMES, Reason, State};
use crate::hog;
use crate::hub;
use crate::hub::debug::HubView;
use crate::log::LineBuf;
use crate::sys;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// GREENSHIM_DUMP's path (with `%p` unexpanded), set once at start-up.
struct Path(core::cell::UnsafeCell<[u8; 256]>);
// SAFETY: written once by the constructor (before any other thread of the shim
// exists, `PATH_LEN` published after), read only afterwards.
unsafe impl Sync for Path {}
static PATH: Path = Path(core::cell::UnsafeCell::new([0; 256]));
static PATH_LEN: AtomicUsize = AtomicUsize::new(0);
/// (inode, mtime s, mtime ns) of the trigger file last acted on, when it could not be removed.
static LAST_SEEN: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// GREENSHIM_DUMP (config checked it: absolute, at most 255 bytes). Start-up only.
pub fn set_path(p: &str) {
    let n = p.len().min(255);
    // SAFETY: start-up, single-threaded; nobody reads PATH before PATH_LEN is set.
    unsafe { (&mut *PATH.0.get())[..n].copy_from_slice(&p.as_bytes()[..n]) };
    PATH_LEN.store(n, Ordering::Release);
}

/// Whether a dump trigger file is configured (the watchdog thread then runs).
pub fn wanted() -> bool {
    PATH_LEN.load(Ordering::Relaxed) != 0
}

/// The trigger path with `%p` replaced by the pid, NUL-terminated, in `out`; its length.
fn expanded(out: &mut [u8; 320]) -> usize {
    let n = PATH_LEN.load(Ordering::Acquire);
    // SAFETY: PATH is immutable once PATH_LEN is set.
    let src = unsafe { &(&*PATH.0.get())[..n] };
    let mut w = 0;
    let mut i = 0;
    while i < n && w < out.len() - 12 {
        if src[i] == b'%' && src.get(i + 1) == Some(&b'p') {
            let mut pid = [0u8; 11];
            let mut v = sys::getpid() as u32;
            let mut k = pid.len();
            loop {
                k -= 1;
                pid[k] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            for &c in &pid[k..] {
                out[w] = c;
                w += 1;
            }
            i += 2;
        } else {
            out[w] = src[i];
            w += 1;
            i += 1;
        }
    }
    out[w] = 0;
    w
}

/// On the watchdog thread, each tick: whether the trigger file is there and not acted
/// on yet; then [`file_done`] after the dump.
pub fn file_requested() -> bool {
    if !wanted() {
        return false;
    }
    let mut path = [0u8; 320];
    expanded(&mut path);
    // SAFETY: a zeroed stat is a valid out-buffer; path is NUL-terminated; a raw call
    // (the watchdog is not a green thread).
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { sys::sc!(libc::SYS_newfstatat, libc::AT_FDCWD, path.as_ptr(), &mut st as *mut libc::stat, 0) }.is_err() {
        return false;
    }
    let now = [st.st_ino, st.st_mtime as u64, st.st_mtime_nsec as u64];
    !LAST_SEEN.iter().zip(now).all(|(a, b)| a.load(Ordering::Relaxed) == b)
}

/// After the dump: removes the trigger file (so its disappearance tells the user the
/// dump is written, and `touch` asks again); one it cannot remove asks again only once
/// its inode or mtime changed.
pub fn file_done() {
    let mut path = [0u8; 320];
    expanded(&mut path);
    // SAFETY: as in file_requested.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let exists = unsafe { sys::sc!(libc::SYS_newfstatat, libc::AT_FDCWD, path.as_ptr(), &mut st as *mut libc::stat, 0) }.is_ok();
    // SAFETY: as above.
    let seen = if !exists || unsafe { sys::sc!(libc::SYS_unlinkat, libc::AT_FDCWD, path.as_ptr(), 0) }.is_ok() {
        [0; 3]
    } else {
        [st.st_ino, st.st_mtime as u64, st.st_mtime_nsec as u64]
    };
    for (a, b) in LAST_SEEN.iter().zip(seen) {
        a.store(b, Ordering::Relaxed);
    }
}

/// Threads listed at most (the rest are counted).
const MAX_LISTED: usize = 4096;

/// From the signal handler: asks the watchdog for a dump; false if there is no hog
/// watchdog (the signal then takes the program's action — also while the shim owns the
/// signal only for preemption's ticks: `kill -RTMAX-1` then ends the process, as
/// natively). Async-signal-safe: atomic loads and one store.
pub fn request() -> bool {
    if !hog::running() || !hog::threshold_set() {
        return false;
    }
    REQUESTED.store(true, Ordering::Release);
    true
}

pub fn take() -> bool {
    REQUESTED.load(Ordering::Relaxed) && REQUESTED.swap(false, Ordering::AcqRel)
}

/// The hub whose OS thread runs `g` right now (or, for main, whose scheduler runs on
/// main's stack), from `views`.
fn running_on(g: *const Green, views: &[HubView]) -> Option<&HubView> {
    views.iter().find(|v| v.current == g)
}

/// Writes one thread's line: `thread N (tid T) "name": state…`.
///
/// # Safety
/// `g` is a control block (never freed).
unsafe fn thread_line(b: &mut LineBuf, g: *const Green, views: &[HubView], now: u64) {
    let _ = write!(b, "greenshim:   ");
    // SAFETY: per contract; plain-data reads of a live block.
    unsafe {
        hog::describe(b, g);
        let state = core::ptr::read_volatile(&raw const (*g).state);
        let reason = core::ptr::read_volatile(&raw const (*g).reason);
        let on = running_on(g, views);
        if let Some(v) = on {
            if !(*g).is_root || state != State::Parked {
                let _ = write!(b, ": running on hub {} (LWP {})", v.index, v.tid);
                return;
            }
        }
        match state {
            State::Ready => {
                let _ = write!(b, ": ready");
            }
            State::Running => {
                // Being switched in or out at the moment of the look.
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
                if on.is_some() {
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

/// "thread N (tid T) \"name\"", "main thread", or for the root of a hub beyond the
/// first (no program thread) "its scheduler".
///
/// # Safety
/// `g` is null or a control block.
unsafe fn who(b: &mut LineBuf, g: *const Green, v: &HubView) {
    if !g.is_null() && g == v.root && v.index != 0 {
        let _ = write!(b, "its scheduler");
    } else {
        // SAFETY: per contract.
        unsafe { hog::describe(b, g) };
    }
}

/// One hub's part of the dump, looked at now: what its OS thread runs and, when a
/// program thread runs and the watchdog owns its signal, that thread's live stack
/// (captured by the hub's own thread in the signal handler, hog::capture). Never a
/// saved context: that is where the thread last switched, not where it is.
fn hub_section(b: &mut LineBuf, v: &HubView) {
    // SAFETY: the root is a control block (never freed); one racy byte read.
    let root_parked = unsafe { core::ptr::read_volatile(&raw const (*v.root).state) } == State::Parked;
    let program_runs = v.current != v.root || (v.index == 0 && !root_parked);
    let (state, in_call) = hog::hub_state(v.tid);
    let _ = write!(b, "greenshim: hub {} (LWP {})", v.index, v.tid);
    if !program_runs {
        if hog::hub_idle(v.index) {
            let _ = write!(b, ": nothing runs: the hub waits for events");
        } else {
            let _ = write!(b, ": its scheduler runs");
        }
        b.flush_line();
        return;
    }
    if state == b'R' && hog::running() {
        let mut frames = [0usize; hog::MAX_FRAMES];
        let (n, interrupted) = hog::capture(v.tid, &mut frames);
        if n != 0 {
            let _ = write!(b, " runs ");
            // SAFETY: what the handler found current: null or a control block.
            unsafe { who(b, interrupted, v) };
            let _ = write!(b, "; its stack now:");
            b.flush_line();
            hog::print_frames(b, &frames[..n], v.index);
            return;
        }
    }
    let _ = write!(b, " runs ");
    // SAFETY: current is a control block.
    unsafe { who(b, v.current, v) };
    match (state, in_call) {
        (b'R', _) if hog::running() => {
            let _ = write!(b, " (its stack: it did not answer the signal)");
        }
        (b'R', _) => {
            let _ = write!(b, " (its stack: with GREENSHIM_HOG_MS set, or greenshim dump {})", sys::getpid());
        }
        (_, Some((nr, _))) => {
            let _ = write!(b, ", which waits in system call {nr}");
        }
        _ => {
            let _ = write!(b, " (OS thread state {})", state as char);
        }
    }
    b.flush_line();
}

/// The dump (on the watchdog thread); `trigger` names what asked for it.
#[cold]
pub fn write(trigger: &str) {
    let h = hub::global();
    if h.is_null() || !crate::log::enabled(crate::log::Level::Error) {
        return;
    }
    // What each hub's OS thread runs, as of now.
    let mut views = [HubView::EMPTY; hub::MAX_HUBS];
    let mut nviews = 0;
    while let Some(v) = hub::debug::hub_view(nviews) {
        views[nviews] = v;
        nviews += 1;
        if nviews == views.len() {
            break;
        }
    }
    let views = &views[..nviews];
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
    let _ = write!(b, "greenshim: dump ({trigger}) of pid {}: {} green threads (main included)", sys::getpid(), count + more + 1);
    b.flush_line();
    // SAFETY: h is the installed hub; root is a control block.
    let root = unsafe { (*h).root } as *const Green;
    // SAFETY: control blocks from the hub and the list.
    unsafe {
        thread_line(&mut b, root, views, now);
        b.flush_line();
        for &g in &list[..count] {
            thread_line(&mut b, g, views, now);
            b.flush_line();
        }
    }
    if more != 0 {
        let _ = write!(b, "greenshim:   … and {more} more");
        b.flush_line();
    }
    for v in views {
        hub_section(&mut b, v);
    }
    let _ = write!(b, "greenshim: (the stacks of parked threads: greenshim dump {})", sys::getpid());
    b.flush_line();
}
