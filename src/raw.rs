//! Raw system calls outside the hooks (`GREENSHIM_RAW=off|report|catch`).
//!
//! The hooks see calls into libc's public symbols only. A `syscall` instruction inside
//! glibc (stdio's internal reads and writes, the resolver's sockets, internal lock
//! waits) or in the program's own code has no symbol to interpose, and blocks the OS
//! thread — every green thread with it. With `report` or `catch`, the hub thread runs
//! under Syscall User Dispatch (`PR_SET_SYSCALL_USER_DISPATCH`, Linux ≥ 5.11): a system
//! call made from outside the shim's own text while the selector byte says BLOCK raises
//! SIGSYS instead of entering the kernel. The selector is BLOCK while a green thread
//! runs and ALLOW while the scheduler runs, inside this module's handler and dispatcher,
//! and inside the shim's memory allocation; each green thread keeps its own value across
//! a park (so one parked inside the dispatcher resumes with ALLOW).
//!
//! The SIGSYS handler never parks. It
//! * `report`: counts the call by (call site, number) in a fixed lock-free table when the
//!   call can block, re-issues it from the shim's text and puts the result in `rax`;
//!   the table is written at exit where `GREENSHIM_RAW_REPORT` says (`crate::raw_report`);
//! * `catch`: for a blocking call it can serve (read/write family, socket data calls,
//!   accept, connect, poll, select, epoll_wait, nanosleep, clock_nanosleep, wait4, and
//!   futex waits, served by re-reading the word under a back-off park) made
//!   by a green thread outside any signal handler, rewrites the interrupted context so
//!   that, once the handler returns, the thread runs `greenshim_raw_trampoline` on its
//!   own stack: the trampoline saves every register the syscall ABI preserves (and the
//!   extended FPU state), calls the dispatcher — an ordinary function that calls the
//!   hook for that call, which may park — and returns to the instruction after the
//!   `syscall` with the kernel-style result in `rax`. Everything else is re-issued.
//! * `rt_sigreturn` issued by libc's `__restore_rt` at the end of a handler while the
//!   selector says BLOCK traps as well: the handler performs it by copying the
//!   program's signal frame into its own, so its own return restores that context.
//! * A SIGSYS that is not a dispatch (seccomp, `kill`) goes to the program's own SIGSYS
//!   action, which the shim keeps (the kernel's action stays the shim's handler).
//!
//! Costs, measured in `make bench`: a trapped call costs a signal delivery and return
//! (about 1.5–2 µs here); hooked calls cost what they did (two byte stores per switch).

use crate::sys::{self, sc};
use core::ffi::c_int;
use core::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

pub const ALLOW: u8 = 0;
pub const BLOCK: u8 = 1;

const PR_SET_SYSCALL_USER_DISPATCH: i32 = 59;
const PR_SYS_DISPATCH_ON: usize = 1;
const SYS_USER_DISPATCH: i32 = 2;

/// Hub threads with dispatch on, at most (one per hub: `crate::hub` has at most as many).
pub const MAX_SLOTS: usize = 64;

/// One hub thread's selector: the byte the kernel reads on every system call of that
/// thread, alone on its cache line (each hub writes its own twice per switch).
#[repr(C, align(64))]
pub struct Selector(AtomicU8);

/// The selectors, by slot; a slot is claimed by the hub thread that turns dispatch on
/// ([`enable_here`]) and is found again by its thread pointer (`SEL_TP`). Only hub
/// threads enable dispatch: the offload pool's threads never trap.
static SELECTORS: [Selector; MAX_SLOTS] = [const { Selector(AtomicU8::new(ALLOW)) }; MAX_SLOTS];
/// The thread pointer (`tcbhead_t.self`, `%fs:16`, the same for every green thread of a
/// hub) owning each slot; 0: free. The trampolines' `greenshim_block_here` searches it.
static SEL_TP: [AtomicUsize; MAX_SLOTS] = [const { AtomicUsize::new(0) }; MAX_SLOTS];
/// Slots in use (a bound for the searches).
static NSLOTS: AtomicUsize = AtomicUsize::new(0);
/// What a thread without a slot reads and writes (never given to the kernel).
static NO_SELECTOR: AtomicU8 = AtomicU8::new(ALLOW);

/// The calling hub thread's slot. Async-signal-safe: loads only.
#[inline(always)]
fn slot() -> Option<usize> {
    let tp = sys::thread_pointer();
    if SEL_TP[0].load(Ordering::Relaxed) == tp {
        return Some(0);
    }
    let n = NSLOTS.load(Ordering::Acquire).min(MAX_SLOTS);
    (1..n).find(|&i| SEL_TP[i].load(Ordering::Relaxed) == tp)
}

/// The calling thread's selector (a dummy where dispatch is not on).
#[inline(always)]
fn sel() -> &'static AtomicU8 {
    match slot() {
        Some(i) => &SELECTORS[i].0,
        None => &NO_SELECTOR,
    }
}

/// 0 off, 1 report, 2 catch.
static MODE: AtomicU8 = AtomicU8::new(0);
/// Bytes `xsave` needs for the enabled state components (0: no xsave, catch is off).
static XSAVE_SIZE: AtomicUsize = AtomicUsize::new(0);
static TEXT: [AtomicUsize; 2] = [const { AtomicUsize::new(0) }; 2];

/// The mode asked for by GREENSHIM_RAW.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Off = 0,
    Report = 1,
    Catch = 2,
}

#[inline(always)]
pub fn on() -> bool {
    MODE.load(Ordering::Relaxed) != 0
}

/// Whether blocking raw calls are served by parking (GREENSHIM_RAW=catch in effect).
#[inline(always)]
pub fn catching() -> bool {
    MODE.load(Ordering::Relaxed) == Mode::Catch as u8
}

/// Sets the selector, returning the previous value (nothing when the layer is off).
#[inline(always)]
pub fn swap_selector(v: u8) -> u8 {
    if on() {
        match slot() {
            Some(i) => SELECTORS[i].0.swap(v, Ordering::Relaxed),
            None => ALLOW,
        }
    } else {
        ALLOW
    }
}

/// Restores a value [`swap_selector`] returned.
#[inline(always)]
pub fn restore_selector(v: u8) {
    if on() {
        if let Some(i) = slot() {
            SELECTORS[i].0.store(v, Ordering::Relaxed);
        }
    }
}

// ---- report table ------------------------------------------------------------------------

const SLOTS: usize = 512;
/// Key: call site << 9 | syscall number (0 = free slot).
static KEYS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static COUNTS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// The `rcx` a call completed by the shim returns with (a real `syscall` leaves the
/// return address there; the register is the instruction's to clobber): a rolled-back
/// dispatch still has `rcx` = its `rip` (see `rewind_merged_dispatch`).
const DONE_RCX: i64 = 0;
/// Dispatches found merged into another SIGSYS and made again (`rewind_merged_dispatch`).
pub static MERGED: AtomicU64 = AtomicU64::new(0);
static CAUGHT: AtomicU64 = AtomicU64::new(0);
static LOST: AtomicU64 = AtomicU64::new(0);

/// Async-signal-safe: atomics only.
fn record(site: usize, nr: usize) {
    let key = ((site as u64) << 9) | (nr as u64 & 511);
    let mut i = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 55) as usize % SLOTS;
    for _ in 0..32 {
        match KEYS[i].compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                COUNTS[i].fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(k) if k == key => {
                COUNTS[i].fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(_) => i = (i + 1) % SLOTS,
        }
    }
    LOST.fetch_add(1, Ordering::Relaxed);
}

/// System calls that can wait for another party (what the report lists).
#[allow(non_upper_case_globals)]
fn can_block(nr: i64, a: &[usize; 6]) -> bool {
    use libc::*;
    match nr {
        SYS_read | SYS_write | SYS_readv | SYS_writev | SYS_pread64 | SYS_pwrite64 | SYS_preadv | SYS_pwritev
        | SYS_preadv2 | SYS_pwritev2 | SYS_recvfrom | SYS_sendto | SYS_recvmsg | SYS_sendmsg | SYS_recvmmsg
        | SYS_sendmmsg | SYS_accept | SYS_accept4 | SYS_connect | SYS_poll | SYS_ppoll | SYS_select
        | SYS_pselect6 | SYS_epoll_wait | SYS_epoll_pwait | SYS_epoll_pwait2 | SYS_nanosleep
        | SYS_clock_nanosleep | SYS_wait4 | SYS_waitid | SYS_msgrcv | SYS_msgsnd | SYS_semop
        | SYS_semtimedop | SYS_mq_timedsend | SYS_mq_timedreceive | SYS_flock | SYS_sendfile | SYS_splice
        | SYS_tee | SYS_pause | SYS_rt_sigsuspend | SYS_rt_sigtimedwait | SYS_futex_waitv | SYS_fsync
        | SYS_fdatasync => true,
        SYS_futex => {
            let op = (a[1] as i32) & 127 & !libc::FUTEX_PRIVATE_FLAG;
            matches!(op, 0 | 6 | 9 | 11) // WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI
        }
        SYS_fcntl => matches!(a[1] as i32, libc::F_SETLKW | libc::F_OFD_SETLKW),
        _ => false,
    }
}

/// Calls the catch dispatcher can serve by parking.
#[allow(non_upper_case_globals)]
fn servable(nr: i64, a: &[usize; 6]) -> bool {
    use libc::*;
    match nr {
        SYS_read | SYS_write | SYS_readv | SYS_writev | SYS_pread64 | SYS_pwrite64 | SYS_recvfrom | SYS_sendto
        | SYS_recvmsg | SYS_sendmsg | SYS_accept | SYS_accept4 | SYS_connect | SYS_poll | SYS_ppoll | SYS_select
        | SYS_epoll_wait | SYS_nanosleep | SYS_clock_nanosleep => true,
        SYS_wait4 => a[3] == 0,
        SYS_futex => matches!(futex_op(a[1]), FUTEX_WAIT | FUTEX_WAIT_BITSET),
        _ => false,
    }
}

/// The futex command without the private and clock flags.
fn futex_op(op: usize) -> i32 {
    (op as i32) & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME)
}

const FUTEX_BACKOFF_MIN_NS: u64 = 50_000;
const FUTEX_BACKOFF_MAX_NS: u64 = 5_000_000;

/// A futex wait inside libc (an internal lock, a stdio or resolver lock whose holder
/// may be a green thread parked in a caught call): waits by re-reading the word under a
/// back-off park (50 µs doubling to 5 ms) rather than in the kernel, so the holder
/// can run, and a release by any thread — whose wake goes to the kernel — is seen.
/// Returns as the kernel does: 0 (woken: the word changed), -EAGAIN (it differed at
/// once), -ETIMEDOUT, -EINTR.
unsafe fn futex_wait(a: &[usize; 6]) -> isize {
    let (uaddr, op, val, ts) = (a[0] as *const u32, a[1] as i32, a[2] as u32, a[3] as *const libc::timespec);
    if uaddr.is_null() || uaddr as usize % 4 != 0 {
        return -(libc::EINVAL as isize);
    }
    let now = sys::now_ns();
    // SAFETY: ts is null or the caller's timespec.
    let deadline = unsafe { ts.as_ref() }.map(|t| {
        let ns = (t.tv_sec.max(0) as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec.max(0) as u64);
        if futex_op(op as usize) == libc::FUTEX_WAIT {
            now.saturating_add(ns)
        } else if op & libc::FUTEX_CLOCK_REALTIME != 0 {
            let mut rt = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: rt is a valid out-buffer.
            unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut rt) };
            let rt_ns = rt.tv_sec as u64 * 1_000_000_000 + rt.tv_nsec as u64;
            now.saturating_add(ns.saturating_sub(rt_ns))
        } else {
            ns
        }
    });
    let mut backoff = FUTEX_BACKOFF_MIN_NS;
    let mut first = true;
    loop {
        // SAFETY: the caller's futex word (the kernel would fault the same address).
        if unsafe { core::ptr::read_volatile(uaddr) } != val {
            return if first { -(libc::EAGAIN as isize) } else { 0 };
        }
        first = false;
        let t = sys::now_ns();
        if deadline.is_some_and(|d| t >= d) {
            return -(libc::ETIMEDOUT as isize);
        }
        let until = deadline.map_or(t + backoff, |d| d.min(t + backoff));
        backoff = (backoff * 2).min(FUTEX_BACKOFF_MAX_NS);
        if let crate::sync::parking_lot::Parked::Interrupted =
            crate::sync::parking_lot::park(uaddr as usize, || true, || {}, Some(until), crate::green::Reason::Futex)
        {
            return -(libc::EINTR as isize);
        }
    }
}

// ---- set-up ------------------------------------------------------------------------------

unsafe extern "C" {
    fn greenshim_raw_trampoline();
    fn greenshim_raw_restorer();
    fn greenshim_raw_clone_samestack();
    fn greenshim_raw_clone_newstack();
}

/// The executable segment of this library: system calls from there always pass.
fn own_text() -> Option<(usize, usize)> {
    // SAFETY: a zeroed Dl_info is a valid out-buffer; dladdr reads our own address.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::dladdr(own_text as *const () as *const libc::c_void, &mut info) } == 0 {
        return None;
    }
    let base = info.dli_fbase as usize;
    // SAFETY: the ELF header and program headers of a loaded object are mapped at its base
    // (first PT_LOAD at offset 0, as the linker lays out shared objects).
    unsafe {
        let eh = &*(base as *const libc::Elf64_Ehdr);
        let ph = (base + eh.e_phoff as usize) as *const libc::Elf64_Phdr;
        // The load bias: the first PT_LOAD maps offset 0 at vaddr v0.
        let mut bias = None;
        for i in 0..eh.e_phnum as usize {
            let p = &*ph.add(i);
            if p.p_type == libc::PT_LOAD {
                bias = Some(base - (p.p_vaddr as usize - p.p_offset as usize) - p.p_offset as usize);
                break;
            }
        }
        let bias = bias?;
        for i in 0..eh.e_phnum as usize {
            let p = &*ph.add(i);
            if p.p_type == libc::PT_LOAD && p.p_flags & libc::PF_X != 0 {
                return Some((bias + p.p_vaddr as usize, p.p_memsz as usize));
            }
        }
    }
    None
}

fn xsave_size() -> usize {
    let l1 = core::arch::x86_64::__cpuid(1);
    if l1.ecx & (1 << 27) == 0 {
        return 0; // no OSXSAVE
    }
    // Leaf 0xD exists when OSXSAVE is set.
    let d = core::arch::x86_64::__cpuid_count(0xD, 0);
    (d.ebx as usize + 63) & !63
}

/// Turns dispatch on for the calling (hub) thread, claiming a selector slot for it.
/// Returns false, with a log line, where the kernel does not offer it.
fn enable_here() -> bool {
    let tp = sys::thread_pointer();
    let i = match slot() {
        Some(i) => i,
        None => {
            let Some(i) = (0..MAX_SLOTS).find(|&i| SEL_TP[i].compare_exchange(0, tp, Ordering::AcqRel, Ordering::Relaxed).is_ok()) else {
                return false;
            };
            NSLOTS.fetch_max(i + 1, Ordering::AcqRel);
            i
        }
    };
    let s = &SELECTORS[i].0;
    s.store(BLOCK, Ordering::Relaxed);
    if dispatch_on(s).is_err() {
        s.store(ALLOW, Ordering::Relaxed);
        return false;
    }
    true
}

/// `PR_SYS_DISPATCH_ON` for the calling thread with selector `s` and the shim's text.
fn dispatch_on(s: &'static AtomicU8) -> Result<usize, sys::Errno> {
    let (start, len) = (TEXT[0].load(Ordering::Relaxed), TEXT[1].load(Ordering::Relaxed));
    // SAFETY: plain prctl; the selector is a static byte that lives as long as the process.
    unsafe { sc!(libc::SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, start, len, s as *const AtomicU8) }
}

/// On a hub thread beyond the first, once it runs: dispatch on, and its preemption
/// timer, as hub 0's at start-up.
pub fn hub_started() {
    if !on() {
        // Preemption without the raw layer: this hub's CPU-time timer.
        let ms = PREEMPT_MS.load(Ordering::Relaxed);
        if ms != 0 {
            start_timer(ms);
        }
        return;
    }
    if !enable_here() {
        crate::warn!("GREENSHIM_RAW: cannot turn dispatch on for a hub thread; its raw system calls are not watched");
        return;
    }
    let ms = PREEMPT_MS.load(Ordering::Relaxed);
    if ms != 0 {
        start_timer(ms);
    }
}

/// Sets the layer up on the hub thread (start-up, after the hub is installed).
pub fn init(mode: Mode) {
    if mode == Mode::Off {
        return;
    }
    let Some((start, len)) = own_text() else {
        crate::warn!("GREENSHIM_RAW: cannot find the shim's own text; raw system calls are not watched");
        return;
    };
    TEXT[0].store(start, Ordering::Relaxed);
    TEXT[1].store(len, Ordering::Relaxed);
    let mode = if mode == Mode::Catch && xsave_size() == 0 {
        crate::warn!("GREENSHIM_RAW=catch needs XSAVE; reporting only");
        Mode::Report
    } else {
        mode
    };
    XSAVE_SIZE.store(xsave_size(), Ordering::Relaxed);
    // The handler: no signal added to the interrupted code's mask (a call re-issued here
    // waits as interruptibly as it would have; SIGSYS itself stays deliverable, since a
    // forced SIGSYS while blocked kills), returning through our own restorer (in our
    // text: it never traps).
    // SAFETY: the kernel's sigaction layout: handler, flags, restorer, mask.
    let act: [usize; 4] = [
        on_sigsys as *const () as usize,
        // SA_RESTART: a preemption tick (a timer SIGSYS) restarts what it interrupts.
        (libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESTART | 0x0400_0000 /* SA_RESTORER */) as usize,
        greenshim_raw_restorer as *const () as usize,
        0,
    ];
    // SAFETY: act is a valid kernel sigaction; the old action is not needed (the
    // program's view of SIGSYS is kept in PROGRAM_ACTION, SIG_DFL until it sets one).
    if unsafe { sc!(libc::SYS_rt_sigaction, libc::SIGSYS, act.as_ptr(), 0usize, 8) }.is_err() {
        crate::warn!("GREENSHIM_RAW: cannot install the SIGSYS handler; raw system calls are not watched");
        return;
    }
    MODE.store(mode as u8, Ordering::Relaxed);
    if !enable_here() {
        MODE.store(0, Ordering::Relaxed);
        crate::warn!("GREENSHIM_RAW: Syscall User Dispatch is not available (Linux >= 5.11); raw system calls are not watched");
        return;
    }
    // SAFETY: registering a plain extern "C" fn.
    unsafe { libc::atexit(at_exit) };
}

/// Turns dispatch off for the calling thread: the kernel copies it into every thread
/// and process the hub thread creates, but only the hub thread runs program code (a pool
/// thread that trapped would flip the hub's selector, and a `posix_spawn` child of one
/// would die of SIGSYS once its handlers are reset).
pub fn not_here() {
    if on() {
        // PR_SYS_DISPATCH_OFF with all-zero arguments.
        // SAFETY: plain prctl on the calling thread.
        let _ = unsafe { sc!(libc::SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, 0usize, 0usize, 0usize, 0usize) };
    }
}

/// Runs `f` (which starts an OS thread of the shim's) with dispatch off on the hub
/// thread, so the new thread does not inherit it: until it could turn it off itself,
/// it runs glibc's start-up with every signal blocked, and a dispatch SIGSYS then would
/// kill the process.
pub fn with_dispatch_off<R>(f: impl FnOnce() -> R) -> R {
    if !(on() && crate::hub::on_hub_thread()) {
        return f();
    }
    let Some(i) = slot() else { return f() };
    not_here();
    let r = f();
    // The selector keeps its value.
    let _ = dispatch_on(&SELECTORS[i].0);
    r
}

/// In a fork child, on the forking thread: dispatch is on again with the selector
/// BLOCK (the child continues in program code).
pub fn after_fork_child() {
    // The other hubs' threads are gone; the forking thread keeps its slot.
    let me = slot();
    for i in 0..MAX_SLOTS {
        if Some(i) != me {
            SEL_TP[i].store(0, Ordering::Relaxed);
            SELECTORS[i].0.store(ALLOW, Ordering::Relaxed);
        }
    }
    for l in &LAST_SWITCHES {
        l.store(u64::MAX, Ordering::Relaxed);
    }
    // POSIX timers are not inherited; the lock may have been held by another hub.
    for t in &TIMERS {
        t.store(0, Ordering::Relaxed);
    }
    TIMER_LOCK.force_unlock();
    TIMERS_ARMED.store(crate::hub::total_live() > 0, Ordering::Relaxed);
    if on() && !enable_here() {
        MODE.store(0, Ordering::Relaxed);
    }
    // POSIX timers are not inherited.
    let ms = PREEMPT_MS.load(Ordering::Relaxed);
    if ms != 0 {
        start_timer(ms);
    }
}

// ---- the program's SIGSYS action ---------------------------------------------------------

static PROG_HANDLER: AtomicUsize = AtomicUsize::new(0); // SIG_DFL
static PROG_FLAGS: AtomicUsize = AtomicUsize::new(0);
static PROG_MASK: AtomicU64 = AtomicU64::new(0);

/// `sigaction(SIGSYS, …)` while the layer is on: the program's action is kept here and
/// reported back; the kernel keeps the shim's handler. Returns None when off.
pub fn program_sigaction(act: *const libc::sigaction, old: *mut libc::sigaction) -> Option<c_int> {
    if !on() {
        return None;
    }
    // SAFETY: old is null or the program's out-parameter.
    if let Some(o) = unsafe { old.as_mut() } {
        // SAFETY: a zeroed sigaction is valid.
        *o = unsafe { core::mem::zeroed() };
        o.sa_sigaction = PROG_HANDLER.load(Ordering::Acquire);
        o.sa_flags = PROG_FLAGS.load(Ordering::Acquire) as c_int;
        let m = PROG_MASK.load(Ordering::Acquire);
        // SAFETY: sa_mask starts with the 64 bits the kernel uses.
        unsafe { *(&mut o.sa_mask as *mut libc::sigset_t as *mut u64) = m };
    }
    // SAFETY: act is null or the program's action.
    if let Some(a) = unsafe { act.as_ref() } {
        // SAFETY: as above.
        let m = unsafe { *(&a.sa_mask as *const libc::sigset_t as *const u64) };
        PROG_MASK.store(m, Ordering::Release);
        PROG_FLAGS.store(a.sa_flags as usize, Ordering::Release);
        PROG_HANDLER.store(a.sa_sigaction, Ordering::Release);
    }
    Some(0)
}

/// A SIGSYS that is not a dispatch: the program's action, as the kernel would take it.
unsafe fn forward(sig: c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    let h = PROG_HANDLER.load(Ordering::Acquire);
    if h == libc::SIG_IGN {
        return;
    }
    if h == libc::SIG_DFL {
        // The default action (core dump): put it in the kernel and send the signal again;
        // it is delivered as soon as this handler returns.
        let act: [usize; 4] = [0, 0, 0, 0];
        // SAFETY: a valid kernel sigaction (SIG_DFL).
        unsafe {
            let _ = sc!(libc::SYS_rt_sigaction, libc::SIGSYS, act.as_ptr(), 0usize, 8);
            let _ = sc!(libc::SYS_tgkill, sc!(libc::SYS_getpid).unwrap_or(0), sc!(libc::SYS_gettid).unwrap_or(0), libc::SIGSYS);
        }
        return;
    }
    // SAFETY: h is the handler the program registered, with the signature its flags say.
    unsafe {
        if PROG_FLAGS.load(Ordering::Acquire) as c_int & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut libc::c_void) = core::mem::transmute(h);
            f(sig, info, uc);
        } else {
            let f: extern "C" fn(c_int) = core::mem::transmute(h);
            f(sig);
        }
    }
}

// ---- the handler -------------------------------------------------------------------------

/// What the handler leaves on the interrupted stack for the trampoline.
#[repr(C)]
pub struct Frame {
    nr: usize,
    a: [usize; 6],
    rip: usize,
    rsp: usize,
    _pad: usize,
}

/// The kernel's `struct ucontext` up to and including its 8-byte signal mask.
const KERNEL_UCONTEXT: usize = 8 + 8 + 24 + 256 + 8;

extern "C" fn on_sigsys(sig: c_int, info: *mut libc::siginfo_t, ucv: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext for an SA_SIGINFO handler.
    if !crate::hub::on_hub_thread() && unsafe { (*info).si_code } == SYS_USER_DISPATCH {
        // A thread that inherited dispatch without being the hub's (see not_here): stop
        // trapping here and run the call again where it was (rax holds its number
        // again). The selector is the hub's: not touched.
        not_here();
        // SAFETY: as above.
        unsafe { (*(ucv as *mut libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RIP as usize] -= 2 };
        return;
    }
    // SAFETY: as above.
    if unsafe { (*info).si_code } != SYS_USER_DISPATCH && crate::hub::on_hub_thread() {
        // A dispatch merged into this SIGSYS runs again (and traps again) once we
        // return; this SIGSYS is still what it is (a tick, a kill).
        // SAFETY: as above.
        unsafe { rewind_merged_dispatch(ucv as *mut libc::ucontext_t) };
    }
    // SAFETY: as above.
    if unsafe { (*info).si_code } == libc::SI_TIMER && unsafe { (*info).si_value().sival_ptr } as usize == PREEMPT_MAGIC {
        // SAFETY: as above.
        unsafe { preempt_tick(ucv as *mut libc::ucontext_t) };
        return;
    }
    let s = sel();
    let was = s.swap(ALLOW, Ordering::Relaxed);
    // SAFETY: the kernel passes a valid siginfo and ucontext for an SA_SIGINFO handler.
    unsafe {
        if (*info).si_code != SYS_USER_DISPATCH {
            s.store(was, Ordering::Relaxed);
            forward(sig, info, ucv);
            return;
        }
        let uc = ucv as *mut libc::ucontext_t;
        let g = &mut (*uc).uc_mcontext.gregs;

        let nr = g[libc::REG_RAX as usize];
        let a = [
            g[libc::REG_RDI as usize] as usize,
            g[libc::REG_RSI as usize] as usize,
            g[libc::REG_RDX as usize] as usize,
            g[libc::REG_R10 as usize] as usize,
            g[libc::REG_R8 as usize] as usize,
            g[libc::REG_R9 as usize] as usize,
        ];
        let rip = g[libc::REG_RIP as usize] as usize;
        let rsp = g[libc::REG_RSP as usize] as usize;
        if nr == libc::SYS_rt_sigreturn {
            // libc's __restore_rt after a handler that ran program code: the program's
            // frame is at rsp (its handler's `ret` popped the restorer address). Take it
            // as ours, so our return restores that context — registers, FPU state (by
            // its pointer), mask.
            core::ptr::copy_nonoverlapping(rsp as *const u8, ucv as *mut u8, KERNEL_UCONTEXT);
            s.store(was, Ordering::Relaxed);
            return;
        }
        match nr {
            libc::SYS_rt_sigprocmask => {
                // The mask in effect after our return is the one in the ucontext: apply
                // the call to that (never blocking SIGSYS).
                g[libc::REG_RAX as usize] = emulate_sigprocmask(uc, &a);
                g[libc::REG_RCX as usize] = DONE_RCX;
                s.store(was, Ordering::Relaxed);
                return;
            }
            libc::SYS_clone | libc::SYS_clone3 | libc::SYS_vfork => {
                // A child must start in the caller's code, not in this handler: the call
                // is made again once we return, by a stub in the shim's text that puts
                // the selector back to BLOCK in the parent and returns to the caller's
                // next instruction in both (see `clone_stub`). A thread that never
                // switches again (one spinning after starting a thread with libc's own
                // pthread_create, as jemalloc's background thread is) stays watched
                // and preemptible.
                g[libc::REG_RAX as usize] = nr;
                match clone_stub(nr, &a, rsp) {
                    Some((stub, child_sp)) => {
                        // rcx and r11 are the `syscall` instruction's own: free here.
                        g[libc::REG_RCX as usize] = rip as i64;
                        g[libc::REG_R11 as usize] = child_sp as i64;
                        g[libc::REG_RIP as usize] = stub as i64;
                    }
                    // A vfork-style child sharing this stack would overwrite the
                    // stub's slot before the parent reads it: the `syscall`
                    // instruction runs again where it was, untrapped (the selector
                    // stays ALLOW until this thread's next switch).
                    None => g[libc::REG_RIP as usize] -= 2,
                }
                return;
            }
            _ => {}
        }
        let blocking = can_block(nr, &a);
        if blocking {
            record(rip.wrapping_sub(2), nr as usize);
        }
        // A `close` inside libc (the resolver's sockets, a FILE of NSS's) goes through the
        // close hook too, so the fd table forgets the number: a stale entry would make
        // the number's next untracked use (glibc opening /etc/services) look like the
        // old socket.
        let forget = nr == libc::SYS_close;
        if (blocking && servable(nr, &a) || forget)
            && MODE.load(Ordering::Relaxed) == Mode::Catch as u8
            && !crate::hub::vfork_pending()
            && crate::hub::local().is_some()
            && !crate::hub::in_signal_handler()
        {
            // Redirect: the trampoline runs on this stack once we return, below the
            // handler's own frame (every signal is blocked until then, so no frame can
            // land on it), and returns to rip with the result in rax.
            // Every signal blocked until our return restores the program's mask: a
            // nested signal frame would land on the trampoline's frame. SIGSYS too: a
            // preemption tick (a timer's SIGSYS) landing here overwrote it, and the
            // trampoline returned to rip 0 (stdio_pipe_threads under PREEMPT=5). No
            // dispatch SIGSYS can be forced before our return (this is the shim's text);
            // a tick stays pending until then.
            let all: u64 = !0;
            let _ = sc!(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &all as *const u64, 0usize, 8);
            let here = &was as *const u8 as usize;
            let fsp = (here - 1024 - core::mem::size_of::<Frame>()) & !15;
            core::ptr::write_volatile(fsp as *mut Frame, Frame { nr: nr as usize, a, rip, rsp, _pad: 0 });
            g[libc::REG_RSP as usize] = fsp as i64;
            g[libc::REG_RIP as usize] = greenshim_raw_trampoline as *const () as usize as i64;
            if blocking {
                CAUGHT.fetch_add(1, Ordering::Relaxed);
            }
            // The selector stays ALLOW: the trampoline sets BLOCK on its way back.
            return;
        }
        let r = sys::raw::syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        g[libc::REG_RAX as usize] = match r {
            Ok(v) => v as i64,
            Err(e) => -(e.0 as i64),
        };
        g[libc::REG_RCX as usize] = DONE_RCX;
        if nr == libc::SYS_sigaltstack && r.is_ok() {
            // Our return restores the alternate stack from the ucontext: put the new one there.
            let _ = sc!(libc::SYS_sigaltstack, 0usize, &mut (*uc).uc_stack as *mut libc::stack_t);
        }
        s.store(was, Ordering::Relaxed);
    }
}

/// The stub that makes a trapped `clone`/`clone3`/`vfork` again, and the child's stack
/// pointer it needs (0: the child continues on a copy of this stack), or None for a
/// child that shares this very stack and memory (`vfork`, `CLONE_VM` without a stack).
unsafe fn clone_stub(nr: i64, a: &[usize; 6], rsp: usize) -> Option<(usize, usize)> {
    let (flags, child_sp) = match nr {
        libc::SYS_clone => (a[0] as u64, a[1]),
        libc::SYS_clone3 => {
            // struct clone_args: flags at 0, stack at 40, stack_size at 48.
            if a[1] < 56 || a[0] == 0 {
                return None;
            }
            let p = a[0] as *const u64;
            // SAFETY: the caller's clone_args, at least 56 bytes (the kernel reads the same).
            let (flags, stack, size) = unsafe { (p.read_unaligned(), p.add(5).read_unaligned(), p.add(6).read_unaligned()) };
            (flags, if stack == 0 { 0 } else { (stack + size) as usize })
        }
        _ => return None,
    };
    if child_sp == 0 {
        if flags & libc::CLONE_VM as u64 != 0 {
            return None;
        }
        return Some((greenshim_raw_clone_samestack as *const () as usize, 0));
    }
    // The child's slot is written at child_sp - 16 by the stub: never into the live part
    // of this stack (where the signal frame is) — a child stack there is nonsense anyway.
    if child_sp <= rsp && child_sp > rsp.saturating_sub(1 << 20) {
        return None;
    }
    Some((greenshim_raw_clone_newstack as *const () as usize, child_sp))
}

/// SIGSYS is a standard signal: the kernel queues one instance, and a dispatch raised
/// while another SIGSYS is pending (a preemption tick that fired during the call's
/// entry, a `kill`) is dropped — only that other siginfo arrives, while the call was
/// rolled back (`rax` holds its number again, `rip` is past its `syscall`, `rcx` = `rip`
/// as the instruction set it). Left alone, the program would take the number as the
/// call's result (raise's gettid returning 186, then tgkill failing with ESRCH).
/// Recognised here: the selector reads BLOCK, so a `syscall` instruction outside the
/// shim's text right before `rip` cannot have been run by the kernel (it dispatches
/// every such call; a handler that ran after a call made with ALLOW leaves the selector
/// as it found it), and the shim did not complete it either (every call it completes
/// returns with `rcx` = [`DONE_RCX`], never a code address). Then `rip` goes back to
/// the instruction, which traps again with its own siginfo once this handler returns.
/// Returns whether it did.
unsafe fn rewind_merged_dispatch(uc: *mut libc::ucontext_t) -> bool {
    if sel().load(Ordering::Relaxed) != BLOCK {
        return false;
    }
    // SAFETY: the kernel's ucontext.
    let g = unsafe { &mut (*uc).uc_mcontext.gregs };
    let (pc, nr, rcx) = (g[libc::REG_RIP as usize] as usize, g[libc::REG_RAX as usize] as u64, g[libc::REG_RCX as usize] as usize);
    let (start, len) = (TEXT[0].load(Ordering::Relaxed), TEXT[1].load(Ordering::Relaxed));
    // In our text calls always pass; a number beyond any syscall's is a result; the two
    // bytes are read only within pc's own page (mapped: pc is being executed).
    if rcx != pc || pc.wrapping_sub(start) < len || nr >= 1024 || pc & 4095 < 2 {
        return false;
    }
    // SAFETY: as above: the same page as the interrupted instruction pointer.
    let code = unsafe { core::ptr::read_unaligned((pc - 2) as *const [u8; 2]) };
    if code != [0x0f, 0x05] {
        return false;
    }
    g[libc::REG_RIP as usize] -= 2;
    MERGED.fetch_add(1, Ordering::Relaxed);
    true
}

/// `rt_sigprocmask(how, set, old, size)` applied to the mask our return restores.
unsafe fn emulate_sigprocmask(uc: *mut libc::ucontext_t, a: &[usize; 6]) -> i64 {
    let (how, set, old, size) = (a[0] as c_int, a[1] as *const u64, a[2] as *mut u64, a[3]);
    if size != 8 {
        return -(libc::EINVAL as i64);
    }
    // SAFETY: uc is the kernel's ucontext; its mask's first 8 bytes are the kernel's sigset.
    unsafe {
        let m = &mut (*uc).uc_sigmask as *mut libc::sigset_t as *mut u64;
        let cur = *m;
        let new = if set.is_null() {
            cur
        } else {
            let v = core::ptr::read_unaligned(set);
            match how {
                libc::SIG_BLOCK => cur | v,
                libc::SIG_UNBLOCK => cur & !v,
                libc::SIG_SETMASK => v,
                _ => return -(libc::EINVAL as i64),
            }
        };
        if !old.is_null() {
            core::ptr::write_unaligned(old, cur);
        }
        // SIGKILL and SIGSTOP cannot be blocked; SIGSYS must not be.
        *m = new & !(1u64 << (libc::SIGKILL - 1)) & !(1u64 << (libc::SIGSTOP - 1)) & !(1u64 << (libc::SIGSYS - 1));
    }
    0
}

// The trampoline: entered with rsp at a Frame (16-aligned). Saves the registers the
// syscall ABI preserves (rdi, rsi, rdx, r10, r8, r9, and the extended state; callee-
// saved ones are kept by the dispatcher itself), calls the dispatcher, restores, sets
// the selector back to BLOCK and jumps to the instruction after the `syscall` with the
// original stack pointer; rcx and r11 are clobbered as by a real `syscall`.
core::arch::global_asm!(
    // Saves the whole extended state below rsp (already 64-aligned, with XSAVE_SIZE
    // bytes of room): the header's reserved bytes must be zero for XRSTOR.
    ".macro greenshim_xsave_here",
    "xor eax, eax",
    "mov qword ptr [rsp + 512], rax",
    "mov qword ptr [rsp + 520], rax",
    "mov qword ptr [rsp + 528], rax",
    "mov qword ptr [rsp + 536], rax",
    "mov qword ptr [rsp + 544], rax",
    "mov qword ptr [rsp + 552], rax",
    "mov qword ptr [rsp + 560], rax",
    "mov qword ptr [rsp + 568], rax",
    "mov eax, -1",
    "mov edx, -1",
    "xsave64 [rsp]",
    ".endm",
    // Sets the calling hub thread's selector to BLOCK: finds its slot by the thread
    // pointer (`%fs:16`, tcbhead_t.self, the hub's for every green thread on it) in
    // SEL_TP. Clobbers rcx and the flags; rax and rdx are kept.
    ".macro greenshim_block_here",
    "push rax",
    "push rdx",
    "mov rcx, qword ptr fs:16",
    "lea rax, [rip + {sel_tp}]",
    "xor edx, edx",
    "7:",
    "cmp rcx, qword ptr [rax + rdx*8]",
    "je 8f",
    "inc edx",
    "cmp edx, {max_slots}",
    "jb 7b",
    "jmp 9f",
    "8:",
    "shl edx, 6",
    "lea rax, [rip + {selectors}]",
    "mov byte ptr [rax + rdx], 1",
    "9:",
    "pop rdx",
    "pop rax",
    ".endm",
    ".globl greenshim_raw_trampoline",
    ".hidden greenshim_raw_trampoline",
    ".type greenshim_raw_trampoline,@function",
    "greenshim_raw_trampoline:",
    "push rdi",
    "push rsi",
    "push rdx",
    "push r10",
    "push r8",
    "push r9",
    "push rbp",
    "mov rbp, rsp",
    "mov rax, qword ptr [rip + {xsave_size}]",
    "sub rsp, rax",
    "and rsp, -64",
    "greenshim_xsave_here",
    "lea rdi, [rbp + 56]",
    "call {dispatch}",
    "mov r11, rax",
    "mov eax, -1",
    "mov edx, -1",
    "xrstor64 [rsp]",
    "mov rax, r11",
    "mov rsp, rbp",
    "pop rbp",
    "pop r9",
    "pop r8",
    "pop r10",
    "pop rdx",
    "pop rsi",
    "pop rdi",
    "greenshim_block_here",
    "mov r11, qword ptr [rsp + 56]",
    "mov rsp, qword ptr [rsp + 64]",
    "mov ecx, 0",
    "jmp r11",
    ".size greenshim_raw_trampoline, . - greenshim_raw_trampoline",
    "",
    // The clone stubs: entered with the caller's registers and stack, the call's
    // number in rax, the address after its `syscall` instruction in rcx and (newstack)
    // the child's stack pointer in r11 — both registers the instruction clobbers. The
    // caller's return address goes in a slot below its red zone (and below the child's
    // stack pointer); after the call the parent sets the selector back to BLOCK (the
    // child leaves it: a fork child turns dispatch on itself, a thread never owns it),
    // both get the caller's flags back from r11, as after the real instruction, rcx = 0
    // (a call the shim completed, see `rewind_merged_dispatch`), and return to it with
    // rsp as the kernel left it.
    ".globl greenshim_raw_clone_samestack",
    ".hidden greenshim_raw_clone_samestack",
    ".type greenshim_raw_clone_samestack,@function",
    "greenshim_raw_clone_samestack:",
    "lea rsp, [rsp - 128]",
    "push rcx",
    "syscall",
    "test rax, rax",
    "jz 3f",
    "greenshim_block_here",
    "3:",
    "push r11",
    "popfq",
    "mov ecx, 0",
    "ret 128",
    ".size greenshim_raw_clone_samestack, . - greenshim_raw_clone_samestack",
    "",
    ".globl greenshim_raw_clone_newstack",
    ".hidden greenshim_raw_clone_newstack",
    ".type greenshim_raw_clone_newstack,@function",
    "greenshim_raw_clone_newstack:",
    "mov qword ptr [r11 - 16], rcx",
    "lea rsp, [rsp - 128]",
    "push rcx",
    "syscall",
    "test rax, rax",
    "jz 4f",
    "greenshim_block_here",
    "push r11",
    "popfq",
    "mov ecx, 0",
    "ret 128",
    // The child, on its new stack: the slot at rsp - 16 is below where the flags go
    // (and a signal frame lands below the 128-byte red zone).
    "4:",
    "push r11",
    "popfq",
    "mov ecx, 0",
    "jmp qword ptr [rsp - 16]",
    ".size greenshim_raw_clone_newstack, . - greenshim_raw_clone_newstack",
    "",
    ".globl greenshim_raw_restorer",
    ".hidden greenshim_raw_restorer",
    ".type greenshim_raw_restorer,@function",
    "greenshim_raw_restorer:",
    "mov eax, 15",
    "syscall",
    "ud2",
    ".size greenshim_raw_restorer, . - greenshim_raw_restorer",
    "",
    ".globl greenshim_preempt_trampoline",
    ".hidden greenshim_preempt_trampoline",
    ".type greenshim_preempt_trampoline,@function",
    "greenshim_preempt_trampoline:",
    "pushfq",
    "push rax",
    "push rcx",
    "push rdx",
    "push rbx",
    "push rbp",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    // rbp: the saved block (16 qwords); the Frame is right above it.
    "mov rbp, rsp",
    "mov rax, qword ptr [rip + {xsave_size}]",
    "sub rsp, rax",
    "and rsp, -64",
    "greenshim_xsave_here",
    "cld",
    "call {yield_fn}",
    "mov eax, -1",
    "mov edx, -1",
    "xrstor64 [rsp]",
    // Destination: below the red zone of the interrupted code. [rbp+128+56] is the
    // Frame's rip, [rbp+128+64] its rsp.
    "mov rdi, qword ptr [rbp + 192]",
    "sub rdi, 136",
    "mov rcx, qword ptr [rbp + 184]",
    "mov qword ptr [rdi], rcx",
    "sub rdi, 128",
    "mov rsi, rbp",
    "mov ecx, 16",
    "2:",
    "mov rax, qword ptr [rsi]",
    "mov qword ptr [rdi], rax",
    "add rsi, 8",
    "add rdi, 8",
    "dec ecx",
    "jnz 2b",
    "sub rdi, 128",
    "mov rsp, rdi",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rbp",
    "pop rbx",
    "pop rdx",
    "pop rcx",
    "pop rax",
    "popfq",
    "ret 128",
    ".size greenshim_preempt_trampoline, . - greenshim_preempt_trampoline",
    xsave_size = sym XSAVE_SIZE,
    dispatch = sym dispatch,
    sel_tp = sym SEL_TP,
    selectors = sym SELECTORS,
    max_slots = const MAX_SLOTS,
    yield_fn = sym preempt_yield,
);

/// Serves one caught call through its hook (which may park) and returns the result as
/// the kernel would (`-errno` on failure); the program's `errno` is left as it was.
unsafe extern "C" fn dispatch(f: *const Frame) -> isize {
    // SAFETY: the handler wrote the frame; the arguments are the program's own.
    unsafe {
        let f = &*f;
        let a = f.a;
        let saved = sys::errno();
        // A cancellation must not unwind through the trampoline (it has no unwind
        // information): it acts at the thread's next cancellation point instead.
        let g = crate::hub::local().map(|h| crate::hub::current(h));
        let was_disabled = g.map(|g| (*g).cancel.fetch_or(crate::green::cancel::DISABLED, Ordering::AcqRel) & crate::green::cancel::DISABLED != 0);
        let r = dispatch_call(f.nr as i64, a, saved);
        if let (Some(g), Some(false)) = (g, was_disabled) {
            (*g).cancel.fetch_and(!crate::green::cancel::DISABLED, Ordering::AcqRel);
        }
        r
    }
}

/// The body of [`dispatch`]: the hook for `nr`.
unsafe fn dispatch_call(nr: i64, a: [usize; 6], saved: i32) -> isize {
    use crate::hooks::{io, net, poll, process, time};
    // SAFETY: the program's own arguments.
    unsafe {
        let r: isize = match nr {
            libc::SYS_read => io::read(a[0] as c_int, a[1] as _, a[2]),
            libc::SYS_close => io::close(a[0] as c_int) as isize,
            libc::SYS_write => io::write(a[0] as c_int, a[1] as _, a[2]),
            libc::SYS_readv => io::readv(a[0] as c_int, a[1] as _, a[2] as c_int),
            libc::SYS_writev => io::writev(a[0] as c_int, a[1] as _, a[2] as c_int),
            libc::SYS_pread64 => io::pread64(a[0] as c_int, a[1] as _, a[2], a[3] as i64),
            libc::SYS_pwrite64 => io::pwrite64(a[0] as c_int, a[1] as _, a[2], a[3] as i64),
            libc::SYS_recvfrom => net::recvfrom(a[0] as c_int, a[1] as _, a[2], a[3] as c_int, a[4] as _, a[5] as _),
            libc::SYS_sendto => net::sendto(a[0] as c_int, a[1] as _, a[2], a[3] as c_int, a[4] as _, a[5] as _),
            libc::SYS_recvmsg => net::recvmsg(a[0] as c_int, a[1] as _, a[2] as c_int),
            libc::SYS_sendmsg => net::sendmsg(a[0] as c_int, a[1] as _, a[2] as c_int),
            libc::SYS_accept => net::accept(a[0] as c_int, a[1] as _, a[2] as _) as isize,
            libc::SYS_accept4 => net::accept4(a[0] as c_int, a[1] as _, a[2] as _, a[3] as c_int) as isize,
            libc::SYS_connect => net::connect(a[0] as c_int, a[1] as _, a[2] as _) as isize,
            libc::SYS_poll => poll::poll(a[0] as _, a[1] as _, a[2] as c_int) as isize,
            libc::SYS_ppoll => poll::ppoll(a[0] as _, a[1] as _, a[2] as _, a[3] as _) as isize,
            libc::SYS_select => poll::select(a[0] as c_int, a[1] as _, a[2] as _, a[3] as _, a[4] as _) as isize,
            libc::SYS_epoll_wait => poll::epoll_wait(a[0] as c_int, a[1] as _, a[2] as c_int, a[3] as c_int) as isize,
            libc::SYS_nanosleep => time::nanosleep(a[0] as _, a[1] as _) as isize,
            libc::SYS_clock_nanosleep => {
                // Returns the error number itself, not -1/errno.
                let e = time::clock_nanosleep(a[0] as _, a[1] as c_int, a[2] as _, a[3] as _);
                sys::set_errno(saved);
                return -(e as isize);
            }
            libc::SYS_wait4 => process::wait4(a[0] as _, a[1] as _, a[2] as c_int, a[3] as _) as isize,
            libc::SYS_futex => {
                let r = futex_wait(&a);
                sys::set_errno(saved);
                return r;
            }
            _ => match sys::raw::syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]) {
                Ok(v) => v as isize,
                Err(e) => {
                    sys::set_errno(e.0);
                    -1
                }
            },
        };
        let out = if r < 0 { -(sys::errno() as isize) } else { r };
        sys::set_errno(saved);
        out
    }
}

// ---- the report --------------------------------------------------------------------------

/// The table at exit, most frequent call site first, written where GREENSHIM_RAW_REPORT
/// says (`crate::raw_report`: never into the program's stderr unless asked).
extern "C" fn at_exit() {
    if !crate::raw_report::wanted() {
        return;
    }
    let _sel = swap_selector(ALLOW);
    let mut rows: Vec<(u64, u64)> = (0..SLOTS)
        .filter_map(|i| {
            let k = KEYS[i].load(Ordering::Acquire);
            (k != 0).then(|| (COUNTS[i].load(Ordering::Relaxed), k))
        })
        .collect();
    if rows.is_empty() {
        return; // helper processes (shells, children) with nothing to say stay quiet
    }
    rows.sort_by(|x, y| y.0.cmp(&x.0));
    let mode = if MODE.load(Ordering::Relaxed) == Mode::Catch as u8 { "catch" } else { "report" };
    crate::raw_report::write(&rows, mode, CAUGHT.load(Ordering::Relaxed), LOST.load(Ordering::Relaxed) != 0);
}

/// In a fork child: the table starts empty (the child reports what it does itself, not
/// its parent's calls again).
pub fn clear_report_after_fork() {
    for i in 0..SLOTS {
        KEYS[i].store(0, Ordering::Relaxed);
        COUNTS[i].store(0, Ordering::Relaxed);
    }
    CAUGHT.store(0, Ordering::Relaxed);
    LOST.store(0, Ordering::Relaxed);
}

// ---- preemption at safe points (GREENSHIM_PREEMPT) -------------------------------------------

/// The timer's signal value: a SIGSYS carrying it is the shim's tick, not the program's.
pub(crate) const PREEMPT_MAGIC: usize = 0x6772_6565_6e70_7265; // "greenpre"
/// Switches the hub had made at the previous tick (a green thread that is still the
/// one running after a whole period has had its slice).
static LAST_SWITCHES: [AtomicU64; MAX_SLOTS] = [const { AtomicU64::new(u64::MAX) }; MAX_SLOTS];
/// Executable ranges where a green thread may be switched out: the program and the
/// libraries loaded at start-up, except libc, the loader, the vDSO, libgcc and the shim
/// (code that may hold a lock of glibc's or the shim's, or that the kernel enters).
const MAX_RANGES: usize = 64;
static RANGES: [[AtomicUsize; 2]; MAX_RANGES] = [const { [const { AtomicUsize::new(0) }, const { AtomicUsize::new(0) }] }; MAX_RANGES];
static NRANGES: AtomicUsize = AtomicUsize::new(0);
pub static PREEMPTED: AtomicU64 = AtomicU64::new(0);
/// Ticks taken (most find a thread that switched since the previous one, or code where
/// switching is not safe).
pub static TICKS: AtomicU64 = AtomicU64::new(0);

fn preemptible(pc: usize) -> bool {
    let n = NRANGES.load(Ordering::Acquire);
    (0..n).any(|i| {
        let (a, b) = (RANGES[i][0].load(Ordering::Relaxed), RANGES[i][1].load(Ordering::Relaxed));
        pc >= a && pc < b
    })
}

unsafe extern "C" fn collect(info: *mut libc::dl_phdr_info, _size: usize, _data: *mut libc::c_void) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid entry for the duration of the callback.
    unsafe {
        let i = &*info;
        let name = if i.dlpi_name.is_null() { "" } else { core::ffi::CStr::from_ptr(i.dlpi_name).to_str().unwrap_or("") };
        let base = name.rsplit('/').next().unwrap_or("");
        let denied = ["libc.so", "ld-linux", "linux-vdso", "libgcc_s", "libgreenshim", "libpthread", "libdl.so", "librt.so"]
            .iter()
            .any(|d| base.starts_with(d))
            || (name.is_empty() && i.dlpi_addr != 0 && {
                // The vDSO has an empty name on some kernels; the main program has an
                // empty name too, with a load address of its own: tell them apart by the
                // auxiliary vector.
                i.dlpi_addr as usize == libc::getauxval(libc::AT_SYSINFO_EHDR) as usize
            });
        if denied {
            return 0;
        }
        for k in 0..i.dlpi_phnum as usize {
            let ph = &*i.dlpi_phdr.add(k);
            if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
                let n = NRANGES.load(Ordering::Relaxed);
                if n >= MAX_RANGES {
                    return 1;
                }
                let start = i.dlpi_addr as usize + ph.p_vaddr as usize;
                RANGES[n][0].store(start, Ordering::Relaxed);
                RANGES[n][1].store(start + ph.p_memsz as usize, Ordering::Relaxed);
                NRANGES.store(n + 1, Ordering::Release);
            }
        }
    }
    0
}

/// The preemption period (GREENSHIM_PREEMPT=N ms; 0: off). Needs per-green TLS (a
/// thread switched out anywhere must keep its own `errno` and thread-locals).
static PREEMPT_MS: AtomicU64 = AtomicU64::new(0);

/// The preemption period in ms (0: off, or not started).
pub fn preempt_ms() -> u64 {
    PREEMPT_MS.load(Ordering::Relaxed)
}

/// Runs a `poll`-like call again when it failed with EINTR only because of a preemption
/// tick: such calls (even with a zero timeout) fail with EINTR when any signal is
/// pending, and a tick is the shim's, not the program's (no program handler ran).
#[inline]
pub fn retry_tick_eintr<T>(mut f: impl FnMut() -> Result<T, sys::Errno>) -> Result<T, sys::Errno> {
    if PREEMPT_MS.load(Ordering::Relaxed) == 0 {
        return f();
    }
    loop {
        let seen = crate::hooks::signal::count();
        match f() {
            Err(sys::Errno::EINTR) if crate::hooks::signal::count() == seen => continue,
            r => return r,
        }
    }
}

/// The ticks: with the raw layer on, each hub thread's CLOCK_MONOTONIC timer sends it a
/// SIGSYS, which the raw layer's handler takes. Without it, each hub thread's CPU-time
/// timer (CLOCK_THREAD_CPUTIME_ID) sends it the shim's own real-time signal (`hog`):
/// such a timer advances only while the thread runs, and the kernel (with
/// POSIX_CPU_TIMERS_TASK_WORK, x86-64 since 5.11) generates its signal on the way back
/// to user mode, so a tick never interrupts a system call the thread sleeps in.
pub fn preempt_init(ms: u64) {
    if ms == 0 {
        return;
    }
    if !on() {
        let x = xsave_size();
        if x == 0 {
            crate::warn!("GREENSHIM_PREEMPT needs XSAVE; no preemption");
            return;
        }
        if crate::hog::own_signal() == 0 {
            crate::warn!("GREENSHIM_PREEMPT: cannot install the handler of its signal (SIGRTMAX-1); no preemption");
            return;
        }
        XSAVE_SIZE.store(x, Ordering::Relaxed);
    }
    PREEMPT_MS.store(ms, Ordering::Relaxed);
    // SAFETY: collect only reads the entries; called on the hub thread at start-up.
    unsafe { libc::dl_iterate_phdr(Some(collect), core::ptr::null_mut()) };
    start_timer(ms);
}

/// The calling hub thread's index into TIMERS and LAST_SWITCHES: its selector slot
/// with the raw layer on, its hub's index otherwise.
#[inline]
fn tick_index() -> Option<usize> {
    if on() {
        slot()
    } else {
        // SAFETY: a registered hub is never freed.
        crate::hub::local_identity().map(|h| unsafe { (*h).index }).filter(|&i| i < MAX_SLOTS)
    }
}

/// Each hub thread's timer (its kernel id + 1; 0: none), by selector slot.
static TIMERS: [AtomicUsize; MAX_SLOTS] = [const { AtomicUsize::new(0) }; MAX_SLOTS];
/// Whether the timers run: only while the program has green threads. A program with
/// its main thread alone has nothing to switch to, and a tick would only interrupt the
/// calls it makes inline (a timed wait the kernel does not restart after a handler
/// would fail with EINTR). Changed, with the program's thread count, under TIMER_LOCK.
static TIMERS_ARMED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static TIMER_LOCK: sys::SpinLock = sys::SpinLock::new();

/// The calling hub thread's preemption timer: a tick to this very thread every `ms`
/// (of real time with the raw layer, of its CPU time without) while the program has
/// green threads.
fn start_timer(ms: u64) {
    let Some(i) = tick_index() else { return };
    let (clock, signo) = if on() { (libc::CLOCK_MONOTONIC, libc::SIGSYS) } else { (libc::CLOCK_THREAD_CPUTIME_ID, crate::hog::owned_signal()) };
    if signo == 0 {
        return;
    }
    // SAFETY: a zeroed sigevent is valid; fields set below (SIGEV_THREAD_ID to the hub).
    unsafe {
        let mut sev: libc::sigevent = core::mem::zeroed();
        sev.sigev_notify = libc::SIGEV_THREAD_ID;
        sev.sigev_signo = signo;
        sev.sigev_value = libc::sigval { sival_ptr: PREEMPT_MAGIC as *mut libc::c_void };
        sev.sigev_notify_thread_id = sys::gettid();
        let mut id: i32 = 0;
        // The kernel's own call (glibc's timer_create hands out pointers for SIGEV_THREAD
        // timers only; its ids are the kernel's for the others).
        if sc!(libc::SYS_timer_create, clock, &mut sev as *mut libc::sigevent, &mut id as *mut i32).is_err() {
            crate::warn!("GREENSHIM_PREEMPT: timer_create failed; no preemption on this hub");
            return;
        }
        TIMER_LOCK.lock();
        TIMERS[i].store(id as usize + 1, Ordering::Release);
        if TIMERS_ARMED.load(Ordering::Relaxed) {
            set_timer(id, ms);
        }
        TIMER_LOCK.unlock();
    }
}

/// Arms (every `ms`) or disarms (0) kernel timer `id`.
fn set_timer(id: i32, ms: u64) {
    let ns = (ms * 1_000_000) as i64;
    let ts = libc::timespec { tv_sec: ns / 1_000_000_000, tv_nsec: ns % 1_000_000_000 };
    let it = libc::itimerspec { it_interval: ts, it_value: ts };
    // SAFETY: a valid itimerspec; no old value wanted.
    let _ = unsafe { sc!(libc::SYS_timer_settime, id, 0, &it as *const libc::itimerspec, 0usize) };
}

/// Arms or disarms every hub's timer. Under TIMER_LOCK.
fn arm_all(on: bool) {
    let ms = if on { PREEMPT_MS.load(Ordering::Relaxed) } else { 0 };
    TIMERS_ARMED.store(on, Ordering::Relaxed);
    for t in &TIMERS {
        let id = t.load(Ordering::Acquire);
        if id != 0 {
            set_timer((id - 1) as i32, ms);
        }
    }
}

/// One more green thread in the program (`total`: their count, changed here): the
/// first one starts the timers. Returns the count after.
pub fn program_thread_added(total: &AtomicUsize) -> usize {
    if PREEMPT_MS.load(Ordering::Relaxed) == 0 {
        return total.fetch_add(1, Ordering::AcqRel) + 1;
    }
    TIMER_LOCK.lock();
    let n = total.fetch_add(1, Ordering::AcqRel) + 1;
    if n == 1 {
        arm_all(true);
    }
    TIMER_LOCK.unlock();
    n
}

/// One green thread fewer: the last one stops the timers — before the count says so,
/// since a main thread that sees no other thread makes its calls inline.
pub fn program_thread_removed(total: &AtomicUsize) -> usize {
    if PREEMPT_MS.load(Ordering::Relaxed) == 0 {
        return total.fetch_sub(1, Ordering::AcqRel) - 1;
    }
    TIMER_LOCK.lock();
    if total.load(Ordering::Acquire) == 1 {
        arm_all(false);
    }
    let n = total.fetch_sub(1, Ordering::AcqRel) - 1;
    TIMER_LOCK.unlock();
    n
}

/// A tick: if the running green thread has not switched for a whole period and was
/// interrupted in preemptible code, make it yield once the handler returns.
pub(crate) unsafe fn preempt_tick(uc: *mut libc::ucontext_t) {
    TICKS.fetch_add(1, Ordering::Relaxed);
    let (Some(h), Some(i)) = (crate::hub::local_identity(), tick_index()) else { return };
    if crate::hub::vfork_pending() {
        return;
    }
    // SAFETY: this thread's hub; a plain counter read (the interrupted code may be
    // updating it: a torn read only delays or advances one tick).
    let sw = unsafe { core::ptr::read_volatile(&(*h).stats.switches) };
    if LAST_SWITCHES[i].swap(sw, Ordering::Relaxed) != sw {
        return;
    }
    // With the raw layer: not while it serves a call (the selector is ALLOW then).
    if (on() && sel().load(Ordering::Relaxed) != BLOCK) || crate::hub::in_signal_handler() {
        return;
    }
    // SAFETY: the kernel's ucontext.
    let g = unsafe { &mut (*uc).uc_mcontext.gregs };
    let pc = g[libc::REG_RIP as usize] as usize;
    if !preemptible(pc) || crate::hub::local().is_none() {
        return;
    }
    let rsp = g[libc::REG_RSP as usize] as usize;
    // The frame for the trampoline goes below this handler's own (nothing else writes
    // there before our return: every other signal is blocked meanwhile).
    let here = &sw as *const u64 as usize;
    let k = rsp.saturating_sub(here) + 1024;
    if k > 60_000 {
        return;
    }
    let fsp = ((here - 1024 - core::mem::size_of::<Frame>()) & !15) as *mut Frame;
    // Every signal blocked until our return restores the interrupted mask (this handler
    // adds none to it): a nested signal frame would land on the trampoline's frame.
    let all: u64 = !0;
    // SAFETY: plain rt_sigprocmask with a live 8-byte set.
    let _ = unsafe { sc!(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &all as *const u64, 0usize, 8) };
    // SAFETY: fsp is below the live part of this stack (see above).
    unsafe {
        core::ptr::write_volatile(fsp, Frame { nr: 0, a: [0; 6], rip: pc, rsp, _pad: 0 });
        g[libc::REG_RSP as usize] = fsp as i64;
        g[libc::REG_RIP as usize] = greenshim_preempt_trampoline as *const () as usize as i64;
    }
    PREEMPTED.fetch_add(1, Ordering::Relaxed);
}

/// Called by the preemption trampoline on the interrupted thread's own stack, with every
/// register saved: the thread goes to the back of the ready queue.
unsafe extern "C" fn preempt_yield() {
    let s = sel();
    let was = s.load(Ordering::Relaxed);
    let e = sys::errno();
    if let Some(h) = crate::hub::local() {
        // SAFETY: this thread's hub; we run as the interrupted green thread.
        unsafe { crate::hub::preempt_now(h) };
    }
    sys::set_errno(e);
    s.store(was, Ordering::Relaxed);
}

unsafe extern "C" {
    /// In the same `global_asm!` block as the raw trampoline (they share the xsave
    /// macro): entered with rsp at a Frame (rip, rsp of the interrupted code) and every
    /// other register as it was. Saves all of them (flags, the 15 general registers, the
    /// extended state), yields, restores them, and returns to rip with rsp as it was:
    /// the saved block is copied to just below the interrupted code's red zone, under a
    /// slot holding rip, so the last `ret 128` pops rip and leaves rsp exactly where it was.
    fn greenshim_preempt_trampoline();
}

