//! Per-green-thread TLS (`GREENSHIM_TLS=per-green`): each green thread gets a static TLS
//! block and thread control block of its own, made by the dynamic linker exactly as for
//! a new OS thread (`_dl_allocate_tls`), and the hub loads it into `%fs` for as long as
//! the thread runs. `__thread` / `thread_local` variables, `errno`, and CPython 3.12+'s
//! current thread state are then per green thread, as they are per thread natively.
//!
//! ```text
//!  _dl_allocate_tls(NULL) ──▶ [ static TLS blocks ][ TCB: tcbhead_t + struct pthread ]
//!                                                   ▲ tp (%fs base while the thread runs)
//! ```
//!
//! What the new TCB gets (glibc 2.36, x86-64 `tcbhead_t`):
//!
//! | field (offset) | value |
//! |---|---|
//! | `tcb` (0), `self` (0x10) | tp itself (the TLS ABI's self pointer) |
//! | `dtv` (8) | set by `_dl_allocate_tls` |
//! | `multiple_threads` (0x18), `sysinfo` (0x20), `feature_1` (0x48) | the hub thread's |
//! | `stack_guard` (0x28), `pointer_guard` (0x30) | the hub thread's: canaries and mangled pointers (`setjmp`, `atexit`) stay valid across threads |
//! | `unused_vgetcpu_cache[0]` (0x38) | the hub's tp: how the hooks' gate knows a green TCB of this hub |
//! | `struct pthread` `tid` (from `_thread_db_pthread_tid`) | the hub thread's kernel tid (`raise`, glibc's own owner checks) |
//! | rseq area `cpu_id` (`__rseq_offset` + 4) | −2 (unregistered): `sched_getcpu` falls back to the vDSO |
//!
//! Switching costs one `wrfsbase` each way where the kernel enables FSGSBASE
//! (`AT_HWCAP2` bit 1), else one `arch_prctl(ARCH_SET_FS)` each way. glibc calls that
//! keep per-OS-thread bookkeeping in the TCB (its robust-mutex list, `fork`'s stack
//! lists, `pthread_create`) are made with the hub's TCB loaded ([`as_hub`]). At exit a
//! thread runs its C++ `thread_local` destructors (`__call_tls_dtors`) on its own TCB;
//! the block is then given back (`_dl_deallocate_tls`).

use crate::sys;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);
static FSGSBASE: AtomicBool = AtomicBool::new(false);
static ALLOCATE: AtomicUsize = AtomicUsize::new(0);
static DEALLOCATE: AtomicUsize = AtomicUsize::new(0);
static CALL_TLS_DTORS: AtomicUsize = AtomicUsize::new(0);
static TID_OFFSET: AtomicUsize = AtomicUsize::new(0);
/// `__rseq_offset` + 1 (0 = no rseq area to mark).
static RSEQ_OFFSET: AtomicUsize = AtomicUsize::new(0);
/// The hub thread's thread pointer (its own TCB).
static HUB_TP: AtomicUsize = AtomicUsize::new(0);

/// Offset of `unused_vgetcpu_cache[0]` in `tcbhead_t`: the hub marker.
pub const MARK_OFFSET: usize = 0x38;

/// Whether green threads get TLS of their own.
#[inline(always)]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn sym(name: &core::ffi::CStr, version: &core::ffi::CStr) -> usize {
    // SAFETY: NUL-terminated names; dlvsym is not hooked.
    let p = unsafe { libc::dlvsym(libc::RTLD_DEFAULT, name.as_ptr(), version.as_ptr()) } as usize;
    if p != 0 {
        return p;
    }
    // SAFETY: as above.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) as usize }
}

/// Turns per-green TLS on for the hub whose thread pointer is `hub_tp`. Returns false
/// (and stays off) when this glibc lacks what it needs.
pub fn enable(hub_tp: usize) -> bool {
    let alloc = sym(c"_dl_allocate_tls", c"GLIBC_PRIVATE");
    let dealloc = sym(c"_dl_deallocate_tls", c"GLIBC_PRIVATE");
    let dtors = sym(c"__call_tls_dtors", c"GLIBC_PRIVATE");
    let tid = sym(c"_thread_db_pthread_tid", c"GLIBC_PRIVATE");
    let rseq = sym(c"__rseq_offset", c"GLIBC_2.35");
    if alloc == 0 || dealloc == 0 || tid == 0 {
        return false;
    }
    ALLOCATE.store(alloc, Ordering::Relaxed);
    DEALLOCATE.store(dealloc, Ordering::Relaxed);
    CALL_TLS_DTORS.store(dtors, Ordering::Relaxed);
    // SAFETY: glibc's thread_db descriptor: {size in bits, count, offset}.
    TID_OFFSET.store(unsafe { *(tid as *const u32).add(2) } as usize, Ordering::Relaxed);
    if rseq != 0 {
        // SAFETY: __rseq_offset is a ptrdiff_t the dynamic linker set at start-up.
        let off = unsafe { *(rseq as *const isize) };
        RSEQ_OFFSET.store((off as usize).wrapping_add(1), Ordering::Relaxed);
    }
    // SAFETY: getauxval is not hooked.
    FSGSBASE.store(unsafe { libc::getauxval(libc::AT_HWCAP2) } & 2 != 0, Ordering::Relaxed);
    HUB_TP.store(hub_tp, Ordering::Relaxed);
    ENABLED.store(true, Ordering::Release);
    true
}

/// In a forked child the hub thread is the forking one: its TCB is the hub's now.
pub fn rehome(hub_tp: usize) {
    HUB_TP.store(hub_tp, Ordering::Relaxed);
}

/// Loads `tp` into `%fs`.
#[inline(always)]
pub fn load(tp: usize) {
    if FSGSBASE.load(Ordering::Relaxed) {
        // SAFETY: the kernel enabled FSGSBASE (AT_HWCAP2); tp is a live TCB of this
        // process whose self pointer is tp.
        unsafe { core::arch::asm!("wrfsbase {}", in(reg) tp, options(nostack, preserves_flags)) };
    } else {
        // SAFETY: as above, through the kernel.
        let _ = unsafe { sys::sc!(libc::SYS_arch_prctl, 0x1002 /* ARCH_SET_FS */, tp) };
    }
}

/// A new TCB with fresh TLS for a green thread, or 0 if the dynamic linker could not
/// allocate one (the thread then shares the hub's TLS).
pub fn allocate() -> usize {
    let f = ALLOCATE.load(Ordering::Relaxed);
    // SAFETY: _dl_allocate_tls(void *mem) → void *; NULL asks it to allocate.
    let alloc: unsafe extern "C" fn(*mut libc::c_void) -> *mut libc::c_void = unsafe { core::mem::transmute(f) };
    let hub = HUB_TP.load(Ordering::Relaxed);
    // SAFETY: called on the hub thread with the hub's TCB loaded (the dynamic linker
    // takes its own lock); the result is a fresh TCB with zeroed header.
    let tp = unsafe { alloc(core::ptr::null_mut()) } as usize;
    if tp == 0 {
        return 0;
    }
    // SAFETY: tp and hub are TCBs laid out as tcbhead_t + struct pthread (see table).
    unsafe {
        let w = |off: usize, v: usize| ((tp + off) as *mut usize).write(v);
        let r = |off: usize| ((hub + off) as *const usize).read();
        w(0, tp);
        w(0x10, tp);
        ((tp + 0x18) as *mut i32).write(((hub + 0x18) as *const i32).read());
        w(0x20, r(0x20));
        w(0x28, r(0x28));
        w(0x30, r(0x30));
        w(MARK_OFFSET, hub);
        ((tp + 0x48) as *mut u32).write(((hub + 0x48) as *const u32).read());
        let tid = TID_OFFSET.load(Ordering::Relaxed);
        ((tp + tid) as *mut i32).write(((hub + tid) as *const i32).read());
        let rseq = RSEQ_OFFSET.load(Ordering::Relaxed);
        if rseq != 0 {
            let area = tp.wrapping_add(rseq - 1);
            // struct rseq: cpu_id_start (0), cpu_id (4): -2 = registration failed.
            ((area + 4) as *mut i32).write(-2);
        }
    }
    tp
}

/// Runs the exiting green thread's C++ `thread_local` destructors, on its own TCB.
pub fn run_destructors() {
    let f = CALL_TLS_DTORS.load(Ordering::Relaxed);
    if f != 0 {
        // SAFETY: __call_tls_dtors(void); runs this TCB's registered destructors.
        let call: unsafe extern "C" fn() = unsafe { core::mem::transmute(f) };
        // SAFETY: as above.
        unsafe { call() };
    }
}

/// Gives a finished green thread's TCB back (hub's TCB loaded).
pub fn deallocate(tp: usize) {
    let f = DEALLOCATE.load(Ordering::Relaxed);
    // SAFETY: _dl_deallocate_tls(void *tcb, bool dealloc_tcb).
    let dealloc: unsafe extern "C" fn(*mut libc::c_void, bool) = unsafe { core::mem::transmute(f) };
    // SAFETY: tp came from allocate() and no thread runs on it any more.
    unsafe { dealloc(tp as *mut libc::c_void, true) };
}

/// Runs `f` with the hub thread's own TCB loaded, for glibc calls that keep
/// per-OS-thread bookkeeping in it; the caller's TCB is restored after.
#[inline]
pub fn as_hub<R>(f: impl FnOnce() -> R) -> R {
    if !enabled() {
        return f();
    }
    let mine = sys::thread_pointer();
    let hub = HUB_TP.load(Ordering::Relaxed);
    if mine == hub {
        return f();
    }
    load(hub);
    let r = f();
    load(mine);
    r
}

/// After `fork` in the child: a surviving green TCB names the parent's thread id.
pub fn set_tid(tp: usize, tid: i32) {
    // SAFETY: tp is a TCB from allocate(); the tid field is an int.
    unsafe { ((tp + TID_OFFSET.load(Ordering::Relaxed)) as *mut i32).write(tid) };
}
