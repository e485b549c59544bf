//! What debuggers and `greenshim dump` read: one exported, versioned table
//! (`greenshim_debug`) that says where the hub and the control blocks are and at which
//! offsets their fields sit, so an outside reader (scripts/greenshim-gdb.py, through
//! gdb's memory reads) needs neither debug info nor Rust's layout rules.
//!
//! | field | meaning |
//! |---|---|
//! | `magic`, `version` | `b"grnshdbg"`, layout version (bump on any change below) |
//! | `hub` | address of the pointer to the hub (null until installed) |
//! | `hub_tid` | address of the hub OS thread's kernel tid (i32) |
//! | `threads`, `threads_len` | addresses of the control-block array pointer and its length (the root is not in it) |
//! | `hub_current`, `hub_root` | offsets in the hub of the running thread and the root |
//! | `g_*` | offsets in a control block ([`Green`]): id (u32), state (u8), is_root (u8), reason (u8), name (16 bytes), parked_at (u64 ns), deadline (u64 ns, 0 none), wait_obj (usize), ctx (pc, sp, rbp, rbx, r12, r13, r14, r15: version 2; version 1 had the first three), stack_base (usize) |
//! | `state_names`, `reason_names` | NUL-separated names, in enum order |
//! | `hubs`, `nhubs` | (version 3) addresses of the array of hubs beyond hub 0 (pointers; slot 0 unused: hub 0 is `hub`) and of the count of hubs running (usize) |
//! | `max_hubs` | (version 3) length of that array |
//! | `hub_tid_off`, `hub_index_off` | (version 3) offsets in a hub of its OS thread's kernel tid (i32; for hub 0 read `hub_tid`, which a fork's child renews) and of its index (usize) |
//! | `g_hub` | (version 3) offset in a control block of the address of the hub it was placed on (usize; fixed once it started) |
//!
//! Which green thread runs where: each hub's `current` (at `hub_current`) is the
//! thread its OS thread runs right now (or that hub's root while its scheduler runs:
//! hub 0's root is the main thread, the other hubs' roots are no program thread and
//! are not listed). A reader shows a green thread that is some hub's `current` from
//! that hub's OS thread (its LWP) with its live registers; its `ctx` is the stale one
//! of its last switch and must not be shown as its stack.
//!
//! A suspended green thread's stack is unwound from `ctx`, recorded by
//! [`record_context`] just before every switch out of a green thread: the pc, stack
//! pointer, frame pointer and the other callee-saved registers at that very
//! instruction, where the compiler's unwind tables (CFI) are valid, so a debugger that
//! sets these registers and asks for a backtrace gets the thread's whole stack (the
//! corosensei trampoline at its base carries CFI of its own) with its variables: what
//! CPython's gdb commands (`py-bt`, `py-locals`) read. While a green thread runs, the root's context is in
//! corosensei's parent link, the word 16 bytes below that thread's `stack_base`: the
//! root's stack pointer after it pushed rbp, with the return address above it, so
//! (pc, sp, rbp) = (link[1], link + 24, link[0]) (switch_and_link also pushed rbx).

use super::{HUB, Hub};
use crate::green::Green;
use core::mem::offset_of;
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};

#[repr(C)]
pub struct DebugInfo {
    pub magic: [u8; 8],
    pub version: u32,
    pub size: u32,
    pub hub: *const AtomicPtr<Hub>,
    pub hub_tid: *const AtomicI32,
    pub threads: *const AtomicPtr<*mut Green>,
    pub threads_len: *const AtomicUsize,
    pub hub_current: u32,
    pub hub_root: u32,
    pub g_id: u32,
    pub g_state: u32,
    pub g_is_root: u32,
    pub g_reason: u32,
    pub g_name: u32,
    pub g_parked_at: u32,
    pub g_deadline: u32,
    pub g_wait_obj: u32,
    pub g_ctx: u32,
    pub g_stack_base: u32,
    pub first_id: u32,
    pub state_names: *const u8,
    pub reason_names: *const u8,
    pub hubs: *const AtomicPtr<Hub>,
    pub nhubs: *const AtomicUsize,
    pub max_hubs: u32,
    pub hub_tid_off: u32,
    pub hub_index_off: u32,
    pub g_hub: u32,
}

// SAFETY: a read-only table of constants and addresses of atomics.
unsafe impl Sync for DebugInfo {}

static HUB_TID: AtomicI32 = AtomicI32::new(0);
static THREADS: AtomicPtr<*mut Green> = AtomicPtr::new(core::ptr::null_mut());
static THREADS_LEN: AtomicUsize = AtomicUsize::new(0);

// NUL-separated lists, not C strings: no `c""` literal can hold them.
#[allow(clippy::manual_c_str_literals)]
#[unsafe(no_mangle)]
#[used]
pub static greenshim_debug: DebugInfo = DebugInfo {
    magic: *b"grnshdbg",
    version: 3,
    size: core::mem::size_of::<DebugInfo>() as u32,
    hub: &HUB,
    hub_tid: &HUB_TID,
    threads: &THREADS,
    threads_len: &THREADS_LEN,
    hub_current: offset_of!(Hub, current) as u32,
    hub_root: offset_of!(Hub, root) as u32,
    g_id: offset_of!(Green, id) as u32,
    g_state: offset_of!(Green, state) as u32,
    g_is_root: offset_of!(Green, is_root) as u32,
    g_reason: offset_of!(Green, reason) as u32,
    g_name: offset_of!(Green, name) as u32,
    g_parked_at: offset_of!(Green, parked_at) as u32,
    g_deadline: offset_of!(Green, deadline) as u32,
    g_wait_obj: offset_of!(Green, wait_obj) as u32,
    g_ctx: offset_of!(Green, ctx) as u32,
    g_stack_base: offset_of!(Green, stack_base) as u32,
    first_id: crate::green::FIRST_ID,
    state_names: b"ready\0running\0parked\0exited\0free\0".as_ptr(),
    reason_names: b"read\0write\0accept\0connect\0poll\0sleep\0mutex\0condvar\0semaphore\0rwlock\0barrier\0once\0join\0yield\0offload\0signal\0futex\0futex-timed\0timed-wait\0other\0".as_ptr(),
    hubs: &super::HUBS as *const [AtomicPtr<Hub>; super::MAX_HUBS] as *const AtomicPtr<Hub>,
    nhubs: &super::NHUBS,
    max_hubs: super::MAX_HUBS as u32,
    hub_tid_off: offset_of!(Hub, tid) as u32,
    hub_index_off: offset_of!(Hub, index) as u32,
    g_hub: offset_of!(Green, hub) as u32,
};

/// The hub OS thread's kernel tid (for the hog watchdog's signal and for debuggers).
pub fn set_hub_tid(tid: i32) {
    HUB_TID.store(tid, Ordering::Release);
}

pub fn hub_tid() -> i32 {
    HUB_TID.load(Ordering::Acquire)
}

/// What another OS thread (the watchdog's dump) may read of hub `i` at any time.
#[derive(Clone, Copy)]
pub struct HubView {
    pub index: usize,
    /// Its OS thread's kernel tid.
    pub tid: i32,
    /// The green thread its OS thread runs right now, or its root (its scheduler runs,
    /// or for hub 0 the main thread).
    pub current: *const Green,
    pub root: *const Green,
}

impl HubView {
    pub const EMPTY: HubView = HubView { index: 0, tid: 0, current: core::ptr::null(), root: core::ptr::null() };
}

/// Hub `i` as seen from any OS thread, or None past the hubs running. Racy reads of
/// words the hub thread writes (a diagnostic's view: it may be one switch old by the
/// time it is printed); hubs are never freed.
pub fn hub_view(i: usize) -> Option<HubView> {
    if i >= super::hub_count() {
        return None;
    }
    let h = super::hub_at(i);
    if h.is_null() {
        return None;
    }
    // SAFETY: registered hubs are never freed; plain-word volatile reads.
    unsafe {
        Some(HubView {
            index: i,
            tid: if i == 0 { hub_tid() } else { core::ptr::read_volatile(&raw const (*h).tid) },
            current: core::ptr::read_volatile(&raw const (*h).current) as *const Green,
            root: (*h).root as *const Green,
        })
    }
}

/// Publishes the control-block array after it changed (a new block was made).
pub fn publish_threads(all: &[*mut Green]) {
    // Length 0 first, so a reader never pairs the new pointer with too long a length
    // of the old array or the old pointer with a longer length.
    THREADS_LEN.store(0, Ordering::Release);
    THREADS.store(all.as_ptr() as *mut *mut Green, Ordering::Release);
    THREADS_LEN.store(all.len(), Ordering::Release);
}

/// Every control block but the root, newest first, linked through `Green::all_next`:
/// blocks are never freed and a block is linked once, complete, so any OS thread may
/// walk the list at any time (the watchdog's dump does).
static ALL_HEAD: AtomicPtr<Green> = AtomicPtr::new(core::ptr::null_mut());

/// Links a new control block (hub thread only).
///
/// # Safety
/// `g` is a new control block, never linked before.
pub unsafe fn link_block(g: *mut Green) {
    // SAFETY: g is live; only the hub thread links, so a load and a store suffice.
    unsafe { (*g).all_next = ALL_HEAD.load(Ordering::Relaxed) };
    ALL_HEAD.store(g, Ordering::Release);
}

/// The newest control block (follow `all_next`), or null.
pub fn all_blocks() -> *mut Green {
    ALL_HEAD.load(Ordering::Acquire)
}

/// Records (pc, sp, rbp, rbx, r12, r13, r14, r15) of the calling point: register reads
/// and eight stores. With every callee-saved register as it is at that pc, a debugger
/// unwinding from there restores each caller's registers exactly (the unwind tables say
/// which ones a frame saved on the stack; the rest are these values), so the variables
/// of the thread's outer frames read right, not only its return addresses.
#[inline(always)]
pub fn record_context(out: &mut [usize; crate::green::CTX_WORDS]) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = out.as_mut_ptr();
        // SAFETY: writes the eight words of `out` (p is valid for them); the only
        // register written is the scratch one. Were the compiler to give `p` or the
        // scratch a callee-saved register, this function saved that register's
        // caller value on the stack (the unwind tables say where), so the stale value
        // recorded for it here matters to this frame only.
        unsafe {
            core::arch::asm!(
                "lea {t}, [rip]",
                "mov [{p}], {t}",
                "mov [{p} + 8], rsp",
                "mov [{p} + 16], rbp",
                "mov [{p} + 24], rbx",
                "mov [{p} + 32], r12",
                "mov [{p} + 40], r13",
                "mov [{p} + 48], r14",
                "mov [{p} + 56], r15",
                p = in(reg) p,
                t = out(reg) _,
                options(nostack, preserves_flags)
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        *out = [0; crate::green::CTX_WORDS];
    }
}
