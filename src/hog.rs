//! `GREENSHIM_HOG_MS`: the hog watchdog. A green thread that runs for long without a
//! switch (a computation, a blocking call the shim does not serve) stops every other
//! green thread; this says so, once, on the shim's log (the stderr found at start, see
//! `log`), with the thread's id, name and native backtrace.
//!
//! ```text
//!  hub thread                                watchdog (an OS thread of the shim's own)
//!  ──────────                                ─────────────────────────────────────────
//!  every switch, every poll: SEQ += 1          every threshold/4: SEQ moved or IDLE? → fine
//!  epoll wait:   IDLE = true … false         unchanged for ≥ threshold:
//!                                              /proc/self/task/TID/stat says R (running):
//!  SIG_HOG handler (ours only): ◀── rt_tgsigqueueinfo(SIG_HOG, value MAGIC)
//!    _Unwind_Backtrace into FRAMES             wait for DONE, symbolise (dladdr), log
//!    (preallocated; no lock, no allocation)  S/D (blocked in a system call): log the
//!    DONE = true                               call number and pc from /proc (no signal)
//! ```
//!
//! The hot path pays one relaxed store per switch ([`switched`]). The watchdog exists
//! only when the threshold or a dump trigger file (`GREENSHIM_DUMP`, see `selfdump`)
//! is set, and only once a green thread was created; with the file alone it only looks
//! for it every 250 ms and takes no signal. The handler
//! walks the interrupted stack with libgcc's unwinder, which with glibc ≥ 2.35 finds
//! unwind tables through `_dl_find_object` (lock-free, async-signal-safe) and allocates
//! nothing. Warnings are rate-limited: one per hogging episode, at most one per
//! [`MIN_INTERVAL_NS`], with a count of those suppressed.
//!
//! The signal (`SIGRTMAX - 1`) is the shim's while the watchdog runs (and while
//! preemption without the raw layer uses it for its ticks, see `own_signal`): the program's
//! `sigaction` on it is recorded and reported back as the program's own
//! (hooks::signal), and a signal on it that the watchdog did not send goes to the
//! program's handler (or its default action).

use crate::green::{self, Green};
use crate::hub;
use crate::log::LineBuf;
use crate::sys::{self, real};
use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};

static THRESHOLD_NS: AtomicU64 = AtomicU64::new(0);
/// Each hub's switch count, stored at every switch (by hub index).
static SEQ: [AtomicU64; hub::MAX_HUBS] = [const { AtomicU64::new(0) }; hub::MAX_HUBS];
/// The hub sleeps in epoll (nobody runs).
static IDLE: [AtomicBool; hub::MAX_HUBS] = [const { AtomicBool::new(false) }; hub::MAX_HUBS];
/// Green threads alive (mirror of the hub's count, readable from the watchdog).
static LIVE: [AtomicUsize; hub::MAX_HUBS] = [const { AtomicUsize::new(0) }; hub::MAX_HUBS];
static STARTED: AtomicBool = AtomicBool::new(false);
/// The signal the watchdog owns (0 until it starts).
static SIG: AtomicI32 = AtomicI32::new(0);
const MAGIC: usize = 0x686f_6721; // "hog!"
pub(crate) const MAX_FRAMES: usize = 48;
/// Shortest time between two warnings.
const MIN_INTERVAL_NS: u64 = 5_000_000_000;

struct Capture {
    frames: UnsafeCell<[usize; MAX_FRAMES]>,
    n: AtomicUsize,
    current: AtomicUsize,
    done: AtomicBool,
    requested: AtomicBool,
}
// SAFETY: `frames` is written only by the handler between `requested` and `done`, and
// read only by the watchdog after it saw `done` (Acquire).
unsafe impl Sync for Capture {}
static CAP: Capture = Capture { frames: UnsafeCell::new([0; MAX_FRAMES]), n: AtomicUsize::new(0), current: AtomicUsize::new(0), done: AtomicBool::new(false), requested: AtomicBool::new(false) };

pub fn set_threshold_ms(ms: u64) {
    THRESHOLD_NS.store(ms * 1_000_000, Ordering::Relaxed);
}

/// Called at every switch and every poll of the hub (hub thread only, so a load and a
/// store, no atomic read-modify-write): the hot path's only cost.
#[inline(always)]
pub fn progress(hub: usize) {
    let s = &SEQ[hub % hub::MAX_HUBS];
    s.store(s.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// Hub `hub`'s progress sequence (moves at every switch and poll).
#[inline]
pub fn seq(hub: usize) -> u64 {
    SEQ[hub % hub::MAX_HUBS].load(Ordering::Relaxed)
}

#[inline]
pub fn idle(hub: usize, on: bool) {
    IDLE[hub % hub::MAX_HUBS].store(on, Ordering::Relaxed);
}

pub fn set_live(hub: usize, n: usize) {
    LIVE[hub % hub::MAX_HUBS].store(n, Ordering::Relaxed);
}

/// The signal the shim owns now, or 0.
#[inline]
pub fn owned_signal() -> c_int {
    SIG.load(Ordering::Relaxed)
}

/// Whether hub `hub` sleeps in epoll (nothing runs on it).
pub fn hub_idle(hub: usize) -> bool {
    IDLE[hub % hub::MAX_HUBS].load(Ordering::Relaxed)
}

/// Whether hog warnings are on (GREENSHIM_HOG_MS).
pub fn threshold_set() -> bool {
    THRESHOLD_NS.load(Ordering::Relaxed) != 0
}

/// Whether the watchdog thread runs (and the shim owns its signal).
pub fn running() -> bool {
    STARTED.load(Ordering::Relaxed) && SIG.load(Ordering::Relaxed) != 0
}

pub(crate) fn hub_state(tid: i32) -> (u8, Option<(i64, usize)>) {
    hub_thread_state(tid)
}

/// OS threads of the shim's own that the watchdog adds (for the deadlock report).
pub fn os_threads() -> usize {
    STARTED.load(Ordering::Relaxed) as usize
}

/// A green thread was created: start the watchdog if it is wanted and not running.
#[inline]
pub fn on_spawn() {
    if STARTED.load(Ordering::Relaxed) || (THRESHOLD_NS.load(Ordering::Relaxed) == 0 && !crate::selfdump::wanted()) {
        return;
    }
    start();
}

/// In a forked child the watchdog thread does not exist: the next spawn starts one.
pub fn after_fork_child() {
    STARTED.store(false, Ordering::Relaxed);
    CAP.requested.store(false, Ordering::Relaxed);
}

#[cold]
fn start() {
    STARTED.store(true, Ordering::Relaxed);
    // The signal is taken for the watchdog's captures only: a dump trigger file alone
    // (selfdump) leaves every signal the program's.
    if THRESHOLD_NS.load(Ordering::Relaxed) != 0 && own_signal() == 0 {
        crate::warn!("GREENSHIM_HOG_MS: cannot install the watchdog's signal handler; no hog warnings");
        return;
    }
    let mut t: libc::pthread_t = 0;
    // SAFETY: real pthread_create (an OS thread of the shim's), default attributes.
    let r = crate::raw::with_dispatch_off(|| unsafe { real::pthread_create(&mut t, core::ptr::null(), watchdog, core::ptr::null_mut()) });
    if r != 0 {
        crate::warn!("GREENSHIM_HOG_MS: cannot start the watchdog thread (error {r})");
        STARTED.store(false, Ordering::Relaxed);
    } else {
        // SAFETY: t is a live real thread.
        unsafe { real::pthread_detach(t) };
    }
}

/// Takes `SIGRTMAX - 1` for the shim, once: the kernel's action becomes [`on_signal`],
/// the program's is kept, reported and obeyed (hooks::signal). Used by the watchdog's
/// captures and by preemption's CPU-time ticks when the raw layer is off (crate::raw).
/// Returns the signal, or 0 if it could not be installed. Called on hub 0's thread at
/// start-up or by the first spawn, before other hubs start.
pub fn own_signal() -> c_int {
    let have = SIG.load(Ordering::Acquire);
    if have != 0 {
        return have;
    }
    let sig = libc::SIGRTMAX() - 1;
    // SAFETY: zeroed sigactions are valid; the handler only records or hands a tick on
    // (see `on_signal`).
    unsafe {
        let mut a: libc::sigaction = core::mem::zeroed();
        let mut old: libc::sigaction = core::mem::zeroed();
        a.sa_sigaction = on_signal as *const () as usize;
        a.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        if real::sigaction(sig, &a, &mut old) != 0 {
            return 0;
        }
        crate::hooks::signal::adopt_program_action(sig, &old);
    }
    SIG.store(sig, Ordering::Release);
    sig
}

#[repr(C)]
struct UnwindContext {
    _p: [u8; 0],
}
type TraceFn = extern "C" fn(*mut UnwindContext, *mut c_void) -> c_int;
unsafe extern "C" {
    fn _Unwind_Backtrace(trace: TraceFn, arg: *mut c_void) -> c_int;
    fn _Unwind_GetIP(ctx: *mut UnwindContext) -> usize;
}

extern "C" fn trace_one(ctx: *mut UnwindContext, _: *mut c_void) -> c_int {
    let n = CAP.n.load(Ordering::Relaxed);
    if n >= MAX_FRAMES {
        return 4; // _URC_NORMAL_STOP
    }
    // SAFETY: ctx is the unwinder's live context; frames is ours until `done`.
    unsafe { (*CAP.frames.get())[n] = _Unwind_GetIP(ctx) };
    CAP.n.store(n + 1, Ordering::Relaxed);
    0 // _URC_NO_REASON
}

/// The owned signal's handler: records the interrupted stack when the watchdog asked,
/// otherwise hands the signal to the program.
extern "C" fn on_signal(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo.
    if unsafe { !info.is_null() && (*info).si_code == libc::SI_TIMER && (*info).si_value().sival_ptr as usize == crate::raw::PREEMPT_MAGIC } {
        // A preemption tick: this hub thread's CPU-time timer (crate::raw).
        // SAFETY: ctx is the kernel's ucontext for this SA_SIGINFO handler, which runs
        // on the interrupted thread's stack.
        unsafe { crate::raw::preempt_tick(ctx as *mut libc::ucontext_t) };
        return;
    }
    // SAFETY: the kernel passes a valid siginfo.
    let ours = unsafe {
        !info.is_null() && (*info).si_code == libc::SI_QUEUE && (*info).si_pid() == sys::getpid() && (*info).si_value().sival_ptr as usize == MAGIC
    };
    if !ours || !CAP.requested.load(Ordering::Acquire) {
        crate::hooks::signal::forward_owned(sig, info, ctx);
        return;
    }
    let saved = sys::errno();
    CAP.n.store(0, Ordering::Relaxed);
    // SAFETY: walks this thread's stack through the signal frame into the interrupted
    // code; the callback writes only preallocated memory.
    unsafe { _Unwind_Backtrace(trace_one, core::ptr::null_mut()) };
    if let Some(h) = hub::local_identity() {
        // SAFETY: this handler runs on a hub's thread, whose `current` is what it interrupted.
        CAP.current.store(unsafe { (*h).current } as usize, Ordering::Relaxed);
    }
    CAP.requested.store(false, Ordering::Relaxed);
    CAP.done.store(true, Ordering::Release);
    sys::set_errno(saved);
}

fn nap(ns: u64) {
    let ts = libc::timespec { tv_sec: (ns / 1_000_000_000) as libc::time_t, tv_nsec: (ns % 1_000_000_000) as libc::c_long };
    // SAFETY: relative sleep on a valid timespec.
    let _ = unsafe { sys::sc!(libc::SYS_clock_nanosleep, libc::CLOCK_MONOTONIC, 0, &ts as *const libc::timespec, 0usize) };
}

/// Reads a small /proc file into `buf`; returns the bytes read.
fn read_proc(path: &core::ffi::CStr, buf: &mut [u8]) -> usize {
    // SAFETY: NUL-terminated path; buf is live.
    let Ok(fd) = (unsafe { sys::sc!(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }) else { return 0 };
    // SAFETY: reads into buf.
    let n = unsafe { sys::sc!(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) }.unwrap_or(0);
    let _ = sys::close(fd as i32);
    n
}

/// The scheduler state of the hub's OS thread ('R', 'S', 'D', …) and, when it sleeps
/// in a system call, that call's number and user pc.
fn hub_thread_state(tid: i32) -> (u8, Option<(i64, usize)>) {
    let mut path = [0u8; 64];
    let mut buf = [0u8; 512];
    let mk = |path: &mut [u8; 64], leaf: &str| {
        let mut w = Cursor { buf: &mut path[..], len: 0 };
        let _ = write!(w, "/proc/self/task/{tid}/{leaf}\0");
    };
    mk(&mut path, "stat");
    let n = read_proc(core::ffi::CStr::from_bytes_until_nul(&path).unwrap_or(c""), &mut buf);
    // "tid (comm) S …": the state follows the last ')'.
    let text = &buf[..n];
    let state = text.iter().rposition(|&c| c == b')').and_then(|i| text.get(i + 2).copied()).unwrap_or(b'?');
    if state == b'R' {
        return (state, None);
    }
    mk(&mut path, "syscall");
    let n = read_proc(core::ffi::CStr::from_bytes_until_nul(&path).unwrap_or(c""), &mut buf);
    // "nr a1 … a6 sp pc"
    let s = core::str::from_utf8(&buf[..n]).unwrap_or("");
    let mut it = s.split_ascii_whitespace();
    let nr = it.next().and_then(|x| x.parse::<i64>().ok());
    let pc = s.split_ascii_whitespace().last().and_then(|x| usize::from_str_radix(x.trim_start_matches("0x"), 16).ok());
    (state, nr.zip(pc))
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}
impl Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes "thread N \"name\"" (or "main thread") for a control block.
///
/// # Safety
/// `g` is null or a control block (never freed).
pub(crate) unsafe fn describe(b: &mut LineBuf, g: *const Green) {
    if g.is_null() {
        let _ = write!(b, "a green thread");
        return;
    }
    // SAFETY: per contract; id and name are plain data (a racy read shows at worst a
    // name being changed).
    unsafe {
        let name = &(*g).name;
        let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        let name = core::str::from_utf8(&name[..len]).unwrap_or("?");
        if (*g).is_root {
            let _ = write!(b, "main thread");
        } else {
            let _ = write!(b, "thread {} (tid {})", (*g).id - green::FIRST_ID + 1, (*g).id);
        }
        if !name.is_empty() {
            let _ = write!(b, " \"{name}\"");
        }
    }
}

/// One backtrace line: `#i 0xADDR symbol+off (object)`, from the dynamic symbol tables
/// (static functions show as object+offset, for addr2line).
/// Returns whether the frame is corosensei's coroutine entry (below it: the main
/// thread's stack, which resumed the coroutine).
fn symbolize_line(b: &mut LineBuf, i: usize, pc: usize) -> bool {
    // SAFETY: a zeroed Dl_info is a valid out-buffer; dladdr only reads the address.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // The return address is past the call: look up the call itself.
    let probe = if i == 0 { pc } else { pc.saturating_sub(1) };
    // SAFETY: as above.
    let ok = unsafe { libc::dladdr(probe as *const c_void, &mut info) } != 0;
    let _ = write!(b, "greenshim:   #{i:<2} {pc:#014x}");
    if !ok {
        return false;
    }
    // SAFETY: dladdr's strings are NUL-terminated and live with the object.
    unsafe {
        let fname = if info.dli_fname.is_null() { c"?" } else { core::ffi::CStr::from_ptr(info.dli_fname) };
        let file = fname.to_str().unwrap_or("?");
        let mut name = [0u8; 200];
        if let Some((len, off)) = crate::symbolize::lookup(fname, info.dli_fbase as usize, probe, &mut name) {
            let _ = write!(b, " {}+{:#x} ({file})", core::str::from_utf8(&name[..len]).unwrap_or("?"), off + (pc - probe));
            return &name[..len] == b"stack_init_trampoline";
        } else if !info.dli_sname.is_null() {
            let name = core::ffi::CStr::from_ptr(info.dli_sname).to_str().unwrap_or("?");
            let _ = write!(b, " {name}+{:#x} ({file})", pc - info.dli_saddr as usize);
        } else {
            let _ = write!(b, " ({file}+{:#x})", pc - info.dli_fbase as usize);
        }
    }
    false
}

extern "C" fn watchdog(_: *mut c_void) -> *mut c_void {
    crate::offload::block_all_signals();
    // SAFETY: names this OS thread (shows in /proc and debuggers).
    unsafe { libc::prctl(libc::PR_SET_NAME, c"greenshim-hog".as_ptr()) };
    let threshold = THRESHOLD_NS.load(Ordering::Relaxed);
    // Without a threshold the thread only looks for dump requests (selfdump).
    let tick = if threshold == 0 { 250_000_000 } else { (threshold / 4).clamp(1_000_000, 250_000_000) };
    let mut last_seq = [u64::MAX; hub::MAX_HUBS];
    let mut since = [sys::now_ns(); hub::MAX_HUBS];
    let mut warned = [false; hub::MAX_HUBS];
    let mut last_warning = 0u64;
    let mut suppressed = 0u64;
    loop {
        nap(tick);
        if crate::selfdump::take() {
            crate::selfdump::write("SIGRTMAX-1");
        }
        if crate::selfdump::file_requested() {
            crate::selfdump::write("GREENSHIM_DUMP");
            crate::selfdump::file_done();
        }
        if threshold == 0 {
            continue;
        }
        let now = sys::now_ns();
        for i in 0..hub::hub_count().min(hub::MAX_HUBS) {
            let seq = SEQ[i].load(Ordering::Relaxed);
            if seq != last_seq[i] || IDLE[i].load(Ordering::Relaxed) || LIVE[i].load(Ordering::Relaxed) == 0 {
                last_seq[i] = seq;
                since[i] = now;
                warned[i] = false;
                continue;
            }
            let ran = now - since[i];
            if warned[i] || ran < threshold {
                continue;
            }
            warned[i] = true;
            if last_warning != 0 && now - last_warning < MIN_INTERVAL_NS {
                suppressed += 1;
                continue;
            }
            last_warning = now;
            report(i, seq, ran, core::mem::take(&mut suppressed));
        }
    }
}

/// Has the hub thread record its stack (see `on_signal`); returns the frames written
/// into `frames` and the green thread it interrupted (0 and null if it did not answer
/// within 200 ms, e.g. the signal is blocked).
pub(crate) fn capture(tid: i32, frames: &mut [usize; MAX_FRAMES]) -> (usize, *const Green) {
    CAP.done.store(false, Ordering::Relaxed);
    CAP.requested.store(true, Ordering::Release);
    // SAFETY: a zeroed siginfo with our code, pid and value, to our own hub thread.
    unsafe {
        let mut si: libc::siginfo_t = core::mem::zeroed();
        let raw = &mut si as *mut libc::siginfo_t as *mut i32;
        // si_signo, si_errno, si_code, then (pad) si_pid, si_uid, si_value.
        *raw = SIG.load(Ordering::Relaxed);
        *raw.add(2) = libc::SI_QUEUE;
        *raw.add(4) = sys::getpid();
        *raw.add(5) = libc::getuid() as i32;
        *(raw.add(6) as *mut usize) = MAGIC;
        let _ = sys::sc!(libc::SYS_rt_tgsigqueueinfo, sys::getpid(), tid, SIG.load(Ordering::Relaxed), &si as *const libc::siginfo_t);
    }
    for _ in 0..200 {
        if CAP.done.load(Ordering::Acquire) {
            break;
        }
        nap(1_000_000);
    }
    if !CAP.done.load(Ordering::Acquire) {
        CAP.requested.store(false, Ordering::Relaxed);
        return (0, core::ptr::null());
    }
    let n = CAP.n.load(Ordering::Relaxed).min(MAX_FRAMES);
    // SAFETY: the handler finished writing (done, Acquire).
    frames[..n].copy_from_slice(unsafe { &(&*CAP.frames.get())[..n] });
    (n, CAP.current.load(Ordering::Relaxed) as *const Green)
}

/// Writes a captured backtrace of hub `hub`'s OS thread, one frame a line, from the
/// interrupted frame on.
pub(crate) fn print_frames(b: &mut LineBuf, frames: &[usize], hub: usize) {
    // The walk starts in the handler: skip it and the signal trampoline.
    let skip = match frames.iter().position(|&pc| in_sigreturn(pc)) {
        Some(p) => p + 1,
        None => frames.iter().position(|&pc| !in_shim(pc)).unwrap_or(0),
    };
    for (i, &pc) in frames[skip..].iter().filter(|&&pc| pc != 0).enumerate() {
        let entry = symbolize_line(b, i, pc);
        b.flush_line();
        if entry {
            if hub == 0 {
                let _ = write!(b, "greenshim:   -- below: the main thread, which resumed it --");
            } else {
                let _ = write!(b, "greenshim:   -- below: hub {hub}'s scheduler, which resumed it --");
            }
            b.flush_line();
        }
    }
}

#[cold]
fn report(index: usize, seq: u64, ran_ns: u64, suppressed: u64) {
    if !crate::log::enabled(crate::log::Level::Error) {
        return;
    }
    let h = hub::hub_at(index);
    // SAFETY: registered hubs are never freed.
    let tid = if index == 0 || h.is_null() { hub::debug::hub_tid() } else { unsafe { (*h).tid } };
    let (state, in_call) = hub_thread_state(tid);
    let mut frames = [0usize; MAX_FRAMES];
    let (mut n, mut current) = (0, core::ptr::null());
    if state == b'R' {
        (n, current) = capture(tid, &mut frames);
    }
    if current.is_null() && !h.is_null() {
        // SAFETY: h is the installed hub; a racy read of one pointer to a control
        // block (never freed) — the thread has not switched (SEQ unchanged).
        current = unsafe { core::ptr::read_volatile(&raw const (*h).current) } as *const Green;
    }
    if SEQ[index].load(Ordering::Relaxed) != seq {
        return; // it switched meanwhile: not a hog after all
    }
    let mut b = LineBuf::new();
    let _ = write!(b, "greenshim: hog: ");
    // SAFETY: current is null or a control block.
    unsafe { describe(&mut b, current) };
    let ms = ran_ns / 1_000_000;
    match (state, in_call) {
        (b'R', _) => {
            let _ = write!(b, " has run {ms} ms without a switch (GREENSHIM_HOG_MS={}): no other green thread runs meanwhile", THRESHOLD_NS.load(Ordering::Relaxed) / 1_000_000);
            // A thread that waits by spinning on memory another green thread must change
            // (redis-server's I/O hand-off) never ends without preemption.
            if crate::raw::preempt_ms() == 0 {
                let _ = write!(b, "; if it spins waiting for another thread, it never stops: GREENSHIM_RAW=catch GREENSHIM_PREEMPT=MS switches it out");
            } else {
                let _ = write!(b, " (GREENSHIM_PREEMPT is on: it runs where preemption is not safe: libc, the loader, a library loaded later, a signal handler)");
            }
        }
        (_, Some((nr, _))) => {
            let _ = write!(b, " has blocked the OS thread for {ms} ms in system call {nr}, which the shim does not serve: no other green thread runs meanwhile");
        }
        _ => {
            let _ = write!(b, " has held the OS thread for {ms} ms (state {})", state as char);
        }
    }
    if suppressed != 0 {
        let _ = write!(b, " ({suppressed} similar warnings suppressed)");
    }
    b.flush_line();
    if n == 0 {
        if let Some((_, pc)) = in_call {
            frames[0] = pc;
            n = 1;
        }
    }
    print_frames(&mut b, &frames[..n], index);
}

/// Whether `pc` is in this library (the handler and unwinder frames atop a capture).
fn in_shim(pc: usize) -> bool {
    // SAFETY: dladdr on our own function and on pc: reads only.
    unsafe {
        let mut a: libc::Dl_info = core::mem::zeroed();
        let mut b: libc::Dl_info = core::mem::zeroed();
        libc::dladdr(report as *const () as *const c_void, &mut a) != 0 && libc::dladdr(pc as *const c_void, &mut b) != 0 && a.dli_fbase == b.dli_fbase
    }
}

/// Whether `pc` is libc's signal-return trampoline (`__restore_rt`:
/// `mov $15, %rax; syscall`).
fn in_sigreturn(pc: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: pc is an address in mapped code (it came from the unwinder).
        let code = unsafe { core::ptr::read_unaligned(pc as *const [u8; 9]) };
        if code == [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05] {
            return true;
        }
    }
    let _ = pc;
    false
}
