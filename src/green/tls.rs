//! Per-green-thread thread-local storage.
//!
//! Green threads share one OS thread, and so, by default, one TLS area. Rust's std keeps
//! a thread's identity in thread-locals (`thread::current()` is set once per thread by
//! the spawn trampoline, which aborts if it finds it set; `mpsc` tells threads apart by
//! the *address* of a thread-local), and C++ `thread_local` is expected to be per
//! thread. So each green thread gets its own copy of the OS thread's static TLS area
//! and thread control block, and the hub points `%fs` at it while the thread runs:
//!
//! ```text
//!   hub's real area                       a green thread's copy
//!   [ static TLS | struct pthread ]        [ static TLS | struct pthread ]
//!                 ▲ tp (%fs while the root      ▲ %fs while it runs
//!                 │  or the scheduler runs)      header.tcb = its own tp
//!                 └───────────────────────────── header.self = the real tp
//! ```
//!
//! The copy is made from the real area when the thread starts, with every module's
//! block reset to its initialisation image (as a new thread's) except libc's, which
//! keeps the creator's malloc cache and arena pointers and locale (errno is zeroed). Its
//! `header.self` still points at the real control block, so everything glibc reaches
//! through `THREAD_SELF` (`pthread_self`, stdio lock owners, the kernel tid) is the
//! same for every green thread, exactly as without copies, and the shim's own "am I on
//! the hub?" test ([`crate::sys::thread_pointer`]) reads `header.self`. Fields glibc
//! reads directly at `%fs:offset` get safe values: `multiple_threads` = 1 (always
//! lock), the rseq `cpu_id` = -2 (so `sched_getcpu` asks the vDSO), and a dtv of its own
//! (see [`build_dtv`]): thread-locals of `dlopen`ed modules, reached through
//! `__tls_get_addr`, are per green thread too.
//!
//! Switching is one `wrfsbase` (or `arch_prctl(ARCH_SET_FS)` where the kernel has not
//! enabled FSGSBASE). Without the loader's private symbols this is
//! off and thread-locals are shared, as before.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Bytes of static TLS below the thread pointer, control block above it, alignment.
static BELOW: AtomicUsize = AtomicUsize::new(0);
static TCB: AtomicUsize = AtomicUsize::new(0);
static ALIGN: AtomicUsize = AtomicUsize::new(64);
/// Modules whose static TLS block a new thread gets fresh from its image: (offset below
/// the thread pointer, block size, image address, image size). Every module loaded at
/// start-up except libc, whose per-thread state (errno aside) is shared: a malloc cache
/// or arena per green thread would be leaked at its exit, which glibc only cleans up
/// for real threads.
const MAX_MODS: usize = 32;
static MODS: [[AtomicUsize; 4]; MAX_MODS] = [const { [const { AtomicUsize::new(0) }; 4] }; MAX_MODS];
static NMODS: AtomicUsize = AtomicUsize::new(0);
/// libc's `errno`, as an offset below the thread pointer (0: unknown): zero in a new thread.
static ERRNO_OFF: AtomicUsize = AtomicUsize::new(0);
/// libc's `__resp` (the calling thread's resolver state, `_res`), as an offset below the
/// thread pointer (0: unknown), and glibc's `__res_nclose`.
static RESP_OFF: AtomicUsize = AtomicUsize::new(0);
static RES_NCLOSE: AtomicUsize = AtomicUsize::new(0);
/// Room for a green thread's own `struct __res_state` (568 bytes on x86_64), after its
/// control block: natively glibc points each new thread's `__resp` at the `res` of its
/// `struct pthread`; the copy would keep the creator's, and every green thread would
/// share (and corrupt) one resolver state.
const RES_ROOM: usize = 1024;
/// `RES_INIT` in `res_state.options`, which follows two ints.
const RES_OPTIONS_OFF: usize = 8;
/// Offset of glibc's rseq area from the thread pointer (0: none).
static RSEQ_OFF: AtomicUsize = AtomicUsize::new(0);
/// Offsets in `struct pthread` of `cleanup_jmp_buf` (the innermost
/// `pthread_cleanup_push` buffer) and `cleanup` (the old `_pthread_cleanup_push` list),
/// read through `%fs` by glibc's macros: per green thread in the copies (0: unknown).
static CLEANUP_JMP_BUF: AtomicUsize = AtomicUsize::new(0);
static CLEANUP: AtomicUsize = AtomicUsize::new(0);
/// Where the loader keeps its TLS slot list (`&_rtld_global._dl_tls_dtv_slotinfo_list`),
/// the offset of `l_tls_offset` in `struct link_map`, and the highest module id whose
/// static block the shim knows (see [`catch_up`]); 0: unknown, dlopen'ed modules with
/// static TLS are not initialised in live copies.
static SLOTINFO: AtomicUsize = AtomicUsize::new(0);
static L_TLS_OFFSET: AtomicUsize = AtomicUsize::new(0);
static KNOWN_MODID: AtomicUsize = AtomicUsize::new(0);
static ENABLED: AtomicBool = AtomicBool::new(false);
static FSGSBASE: AtomicBool = AtomicBool::new(false);

/// tcbhead_t offsets (x86-64 glibc ABI).
const TCB_SELF: usize = 0;
const DTV: usize = 8;
const MULTIPLE_THREADS: usize = 24;

unsafe extern "C" fn find_modules(info: *mut libc::dl_phdr_info, _size: usize, tp: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the loader passes a valid info record with dlpi_phnum program headers and
    // a NUL-terminated name (maybe empty).
    unsafe {
        let i = &*info;
        if i.dlpi_tls_modid == 0 || i.dlpi_tls_data.is_null() || (i.dlpi_tls_data as usize) >= tp as usize {
            return 0;
        }
        if !i.dlpi_name.is_null() && core::ffi::CStr::from_ptr(i.dlpi_name).to_bytes().windows(7).any(|w| w == b"libc.so") {
            return 0;
        }
        for k in 0..i.dlpi_phnum as usize {
            let ph = &*i.dlpi_phdr.add(k);
            let n = NMODS.load(Ordering::Relaxed);
            if ph.p_type == libc::PT_TLS && n < MAX_MODS {
                let m = &MODS[n];
                m[0].store(tp as usize - i.dlpi_tls_data as usize, Ordering::Relaxed);
                m[1].store(ph.p_memsz as usize, Ordering::Relaxed);
                m[2].store(i.dlpi_addr as usize + ph.p_vaddr as usize, Ordering::Relaxed);
                m[3].store(ph.p_filesz as usize, Ordering::Relaxed);
                NMODS.store(n + 1, Ordering::Relaxed);
            }
        }
        0
    }
}

fn dlsym(name: &[u8]) -> usize {
    // SAFETY: name is NUL-terminated; dlsym is not hooked.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr().cast()) as usize }
}

/// Measures the OS thread's TLS layout (once, on the hub's thread, at start-up).
pub fn install(tp: usize) {
    let info = dlsym(b"_dl_get_tls_static_info\0");
    let tcb = dlsym(b"_thread_db_sizeof_pthread\0");
    if info == 0 || tcb == 0 {
        crate::warn!("glibc's TLS layout is unknown here: green threads share thread-locals");
        return;
    }
    let (mut size, mut align) = (0usize, 0usize);
    // SAFETY: _dl_get_tls_static_info(size_t *, size_t *) is ld.so's; the sizeof
    // descriptor is a const uint32_t in libc.
    let tcb = unsafe {
        let f: unsafe extern "C" fn(*mut usize, *mut usize) = core::mem::transmute(info);
        f(&mut size, &mut align);
        *(tcb as *const u32) as usize
    };
    if size <= tcb || tcb < 64 {
        return;
    }
    let rseq = dlsym(b"__rseq_offset\0");
    if rseq != 0 {
        // SAFETY: __rseq_offset is a const ptrdiff_t in libc.
        let off = unsafe { *(rseq as *const isize) };
        if off > 0 && (off as usize) + 8 <= tcb {
            RSEQ_OFF.store(off as usize, Ordering::Relaxed);
        }
    }
    // SAFETY: dl_iterate_phdr is not hooked; the callback only reads the records.
    unsafe { libc::dl_iterate_phdr(Some(find_modules), tp as *mut libc::c_void) };
    // SAFETY: __errno_location returns this thread's errno, in libc's static TLS block.
    let errno = unsafe { libc::__errno_location() } as usize;
    if errno < tp && tp - errno <= size - tcb {
        ERRNO_OFF.store(tp - errno, Ordering::Relaxed);
    }
    let resp = dlsym(b"__resp\0");
    if resp != 0 && resp < tp && tp - resp <= size - tcb {
        RESP_OFF.store(tp - resp, Ordering::Relaxed);
        RES_NCLOSE.store(dlsym(b"__res_nclose\0"), Ordering::Relaxed);
    }
    find_cleanup_fields(tp, tcb);
    find_slotinfo();
    BELOW.store(size - tcb, Ordering::Relaxed);
    TCB.store(tcb, Ordering::Relaxed);
    ALIGN.store(align.max(64), Ordering::Relaxed);
    // SAFETY: getauxval is not hooked. HWCAP2_FSGSBASE (bit 1): the kernel lets user
    // space write the fs base directly.
    FSGSBASE.store(unsafe { libc::getauxval(libc::AT_HWCAP2) } & 2 != 0, Ordering::Relaxed);
    ENABLED.store(true, Ordering::Release);
}

/// The one word of the control block at `tp` that equals `v` (0: none or several).
fn field_holding(tp: usize, tcb: usize, v: usize) -> usize {
    let mut found = 0;
    for off in (8..tcb).step_by(8) {
        // SAFETY: [tp, tp + tcb) is the live control block.
        if unsafe { *((tp + off) as *const usize) } == v {
            if found != 0 {
                return 0;
            }
            found = off;
        }
    }
    found
}

/// Finds where glibc keeps the cleanup-handler chains, by pushing a handler of each
/// kind on this (the hub's) thread and looking for the buffer's address, then popping it.
fn find_cleanup_fields(tp: usize, tcb: usize) {
    let (reg, unreg) = (dlsym(b"__pthread_register_cancel\0"), dlsym(b"__pthread_unregister_cancel\0"));
    let (push, pop) = (dlsym(b"_pthread_cleanup_push\0"), dlsym(b"_pthread_cleanup_pop\0"));
    let mut buf = [0usize; 16];
    let b = buf.as_mut_ptr() as usize;
    unsafe extern "C" fn nothing(_: *mut libc::c_void) {}
    if reg != 0 && unreg != 0 {
        // SAFETY: glibc's `__pthread_register_cancel(__pthread_unwind_buf_t *)` and its
        // pair; buf is larger than the 104-byte buffer and unregistered before it goes.
        unsafe {
            let r: unsafe extern "C" fn(usize) = core::mem::transmute(reg);
            let u: unsafe extern "C" fn(usize) = core::mem::transmute(unreg);
            r(b);
            CLEANUP_JMP_BUF.store(field_holding(tp, tcb, b), Ordering::Relaxed);
            u(b);
        }
    }
    if push != 0 && pop != 0 {
        // SAFETY: `_pthread_cleanup_push(struct _pthread_cleanup_buffer *, routine, arg)`
        // and `_pthread_cleanup_pop(buffer, execute = 0)`; buf outlives the pair.
        unsafe {
            let p: unsafe extern "C" fn(usize, unsafe extern "C" fn(*mut libc::c_void), usize) = core::mem::transmute(push);
            let q: unsafe extern "C" fn(usize, i32) = core::mem::transmute(pop);
            p(b, nothing, 0);
            CLEANUP.store(field_holding(tp, tcb, b), Ordering::Relaxed);
            q(b, 0);
        }
    }
}

/// A `_thread_db_*` field descriptor of glibc ({bits, count, offset}): the offset if the
/// field is a 64-bit word.
fn db_field(name: &[u8]) -> Option<usize> {
    let p = dlsym(name);
    if p == 0 {
        return None;
    }
    // SAFETY: glibc's descriptors are const uint32_t[3].
    let d = unsafe { *(p as *const [u32; 3]) };
    (d[0] == 64).then_some(d[2] as usize)
}

/// Finds the loader's TLS slot list (for modules `dlopen`ed later, see [`catch_up`]),
/// checking its layout against glibc's debugger descriptors.
fn find_slotinfo() {
    let rtld = dlsym(b"_rtld_global\0");
    let list = db_field(b"_thread_db_rtld_global__dl_tls_dtv_slotinfo_list\0");
    let lmoff = db_field(b"_thread_db_link_map_l_tls_offset\0");
    let shape = [
        db_field(b"_thread_db_dtv_slotinfo_list_len\0"),
        db_field(b"_thread_db_dtv_slotinfo_list_next\0"),
        db_field(b"_thread_db_dtv_slotinfo_map\0"),
    ];
    let slot = dlsym(b"_thread_db_dtv_slotinfo_list_slotinfo\0");
    let size = dlsym(b"_thread_db_sizeof_dtv_slotinfo\0");
    let (Some(list), Some(lmoff)) = (list, lmoff) else { return };
    // SAFETY: glibc's descriptors are const uint32_t arrays.
    let layout_ok = rtld != 0 && slot != 0 && size != 0 && shape == [Some(0), Some(8), Some(8)] && unsafe {
        (*(slot as *const [u32; 3]))[2] == 16 && *(size as *const u32) == 16
    };
    if !layout_ok {
        return;
    }
    SLOTINFO.store(rtld + list, Ordering::Relaxed);
    L_TLS_OFFSET.store(lmoff, Ordering::Relaxed);
    let mut m = 1;
    while slot_map(m) != 0 {
        m += 1;
    }
    KNOWN_MODID.store(m - 1, Ordering::Relaxed);
}

/// The link map in the loader's TLS slot `modid` (0: empty or beyond the list).
fn slot_map(mut modid: usize) -> usize {
    let head = SLOTINFO.load(Ordering::Relaxed);
    if head == 0 {
        return 0;
    }
    // SAFETY: head is &_rtld_global._dl_tls_dtv_slotinfo_list; each list element is
    // {len, next, slotinfo[len] of {gen, map}} (layout checked in find_slotinfo). The
    // loader only appends elements and fills slots.
    unsafe {
        let mut list = core::ptr::read_volatile(head as *const usize);
        while list != 0 {
            let len = *(list as *const usize);
            if modid < len {
                return core::ptr::read_volatile((list + 16 + modid * 16 + 8) as *const usize);
            }
            modid -= len;
            list = *((list + 8) as *const usize);
        }
        0
    }
}

unsafe extern "C" fn find_image(info: *mut libc::dl_phdr_info, _size: usize, want: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the loader passes a valid record; want points to [modid, vaddr, filesz, memsz].
    unsafe {
        let i = &*info;
        let w = &mut *(want as *mut [usize; 4]);
        if i.dlpi_tls_modid != w[0] {
            return 0;
        }
        for k in 0..i.dlpi_phnum as usize {
            let ph = &*i.dlpi_phdr.add(k);
            if ph.p_type == libc::PT_TLS {
                w[1] = i.dlpi_addr as usize + ph.p_vaddr as usize;
                w[2] = ph.p_filesz as usize;
                w[3] = ph.p_memsz as usize;
            }
        }
        1
    }
}

/// Serialises [`refresh_modules`]: with several hubs, two hubs resuming threads after a
/// `dlopen` would both append the new module, and a thread would get its block
/// initialised twice — the second time after it had written its own values.
static REFRESH_LOCK: crate::sys::SpinLock = crate::sys::SpinLock::new();

/// Modules `dlopen`ed since the last look that got a block in the static TLS area
/// (initial-exec TLS): added to the list a new thread's copy is initialised from.
#[cold]
fn refresh_modules() {
    REFRESH_LOCK.lock();
    refresh_modules_locked();
    REFRESH_LOCK.unlock();
}

fn refresh_modules_locked() {
    let below = BELOW.load(Ordering::Relaxed);
    loop {
        let m = KNOWN_MODID.load(Ordering::Relaxed) + 1;
        let map = slot_map(m);
        if map == 0 {
            return;
        }
        add_module(m, map, below);
        // Only now: another hub that sees no module beyond KNOWN_MODID skips the lock
        // and reads NMODS, which must already count this one.
        KNOWN_MODID.store(m, Ordering::Release);
    }
}

/// Appends module `m` (link map `map`) to MODS if its block is in the static area.
fn add_module(m: usize, map: usize, below: usize) {
    // SAFETY: map is a live link map (in the slot list); l_tls_offset is a size_t
    // field at the measured offset: the block's distance below the thread pointer
    // when static (0 or -1: not static).
    let off = unsafe { *((map + L_TLS_OFFSET.load(Ordering::Relaxed)) as *const usize) };
    if off == 0 || off > below {
        return;
    }
    let mut want = [m, 0, 0, 0];
    // SAFETY: dl_iterate_phdr is not hooked; the callback fills `want`.
    unsafe { libc::dl_iterate_phdr(Some(find_image), want.as_mut_ptr().cast()) };
    let n = NMODS.load(Ordering::Relaxed);
    if want[1] == 0 || n >= MAX_MODS {
        return;
    }
    let md = &MODS[n];
    md[0].store(off, Ordering::Relaxed);
    md[1].store(want[3], Ordering::Relaxed);
    md[2].store(want[1], Ordering::Relaxed);
    md[3].store(want[2], Ordering::Relaxed);
    NMODS.store(n + 1, Ordering::Release);
}

/// Before a green thread runs: modules `dlopen`ed with static TLS since it last ran get
/// their initial image in its copy, as glibc gives them to every live OS thread.
#[inline]
pub fn catch_up(a: &Area) {
    if SLOTINFO.load(Ordering::Relaxed) == 0 {
        return;
    }
    if slot_map(KNOWN_MODID.load(Ordering::Acquire) + 1) != 0 {
        refresh_modules();
    }
    let n = NMODS.load(Ordering::Acquire);
    let seen = a.mods_seen.get();
    if seen < n {
        for m in &MODS[seen..n] {
            // SAFETY: a is a live area; the block lies in its static part (checked).
            unsafe { init_block(a.tp, m) };
        }
        a.mods_seen.set(n);
    }
}

/// Copies module `m`'s TLS image into the area at `tp` and zeroes the rest of its block.
unsafe fn init_block(tp: usize, m: &[AtomicUsize; 4]) {
    let below = BELOW.load(Ordering::Relaxed);
    let (off, size, image, img) = (m[0].load(Ordering::Relaxed), m[1].load(Ordering::Relaxed), m[2].load(Ordering::Relaxed), m[3].load(Ordering::Relaxed));
    if off > below || size > off {
        return;
    }
    // SAFETY: per the caller, tp's area spans `below` bytes under tp; image is the
    // module's mapped PT_TLS initialisation data.
    unsafe {
        let block = (tp - off) as *mut u8;
        core::ptr::copy_nonoverlapping(image as *const u8, block, img.min(size));
        core::ptr::write_bytes(block.add(img.min(size)), 0, size - img.min(size));
    }
}

/// Offsets of `cleanup_jmp_buf` and `cleanup` from the thread pointer (0: unknown).
pub fn cleanup_fields() -> (usize, usize) {
    (CLEANUP_JMP_BUF.load(Ordering::Relaxed), CLEANUP.load(Ordering::Relaxed))
}

/// Whether green threads get their own TLS areas.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A green thread's TLS area and thread pointer.
pub struct Area {
    mem: *mut u8,
    layout: std::alloc::Layout,
    pub tp: usize,
    /// Modules (entries of MODS) whose blocks are initialised in this area.
    mods_seen: core::cell::Cell<usize>,
}

impl Drop for Area {
    fn drop(&mut self) {
        release_dtv(self);
        // SAFETY: mem was allocated with layout.
        unsafe { std::alloc::dealloc(self.mem, self.layout) };
    }
}

/// A new area for a thread that is about to start, copied from the OS thread's real
/// area `real_tp` (see module docs); None when per-green TLS is off.
pub fn new_area(real_tp: usize) -> Option<Area> {
    if !ENABLED.load(Ordering::Acquire) {
        return None;
    }
    let (below, tcb, align) = (BELOW.load(Ordering::Relaxed), TCB.load(Ordering::Relaxed), ALIGN.load(Ordering::Relaxed));
    let lead = below.div_ceil(align) * align;
    let layout = std::alloc::Layout::from_size_align(lead + tcb + RES_ROOM, align).ok()?;
    // SAFETY: layout has a non-zero size.
    let mem = unsafe { std::alloc::alloc(layout) };
    if mem.is_null() {
        return None;
    }
    let a = Area { mem, layout, tp: mem as usize + lead, mods_seen: core::cell::Cell::new(0) };
    // SAFETY: the new area's dtv field must read 0 before reset releases it, and its
    // resolver state must read as never initialised.
    unsafe {
        *((a.tp + DTV) as *mut usize) = 0;
        core::ptr::write_bytes((a.tp + tcb) as *mut u8, 0, RES_ROOM);
    }
    reset(&a, real_tp);
    Some(a)
}

/// Re-initialises an area for a thread that starts anew (control blocks are pooled).
pub fn reset(a: &Area, real_tp: usize) {
    release_dtv(a);
    let (below, tcb) = (BELOW.load(Ordering::Relaxed), TCB.load(Ordering::Relaxed));
    // SAFETY: the real area spans [real_tp - below, real_tp + tcb) (glibc's static TLS
    // layout, measured at install); the copy has the same span around a.tp.
    unsafe {
        core::ptr::copy_nonoverlapping((real_tp - below) as *const u8, (a.tp - below) as *mut u8, below + tcb);
        *((a.tp + TCB_SELF) as *mut usize) = a.tp;
        *((a.tp + MULTIPLE_THREADS) as *mut i32) = 1;
        let rseq = RSEQ_OFF.load(Ordering::Relaxed);
        if rseq != 0 {
            // struct rseq.cpu_id = RSEQ_CPU_ID_REGISTRATION_FAILED: the kernel updates
            // only the real area, so the copy must not look registered.
            *((a.tp + rseq + 4) as *mut i32) = -2;
        }
        let n = NMODS.load(Ordering::Acquire);
        for m in &MODS[..n] {
            init_block(a.tp, m);
        }
        a.mods_seen.set(n);
        // A new thread has no cleanup handlers (the copy holds the hub's).
        for off in [CLEANUP_JMP_BUF.load(Ordering::Relaxed), CLEANUP.load(Ordering::Relaxed)] {
            if off != 0 {
                *((a.tp + off) as *mut usize) = 0;
            }
        }
        let errno = ERRNO_OFF.load(Ordering::Relaxed);
        if errno != 0 {
            *((a.tp - errno) as *mut i32) = 0;
        }
        let resp = RESP_OFF.load(Ordering::Relaxed);
        if resp != 0 {
            // A resolver state of its own, fresh (the previous thread's, if this area
            // is reused, has its sockets closed first, as glibc does at thread exit).
            let res = a.tp + tcb;
            let nclose = RES_NCLOSE.load(Ordering::Relaxed);
            if nclose != 0 && *((res + RES_OPTIONS_OFF) as *const u64) & 1 != 0 {
                let f: unsafe extern "C" fn(*mut libc::c_void) = core::mem::transmute(nclose);
                let sel = crate::raw::swap_selector(crate::raw::ALLOW);
                f(res as *mut libc::c_void);
                crate::raw::restore_selector(sel);
            }
            core::ptr::write_bytes(res as *mut u8, 0, RES_ROOM);
            *((a.tp - resp) as *mut usize) = res;
        }
    }
    build_dtv(a, real_tp);
}

/// glibc's `TLS_DTV_UNALLOCATED`: the block is made on first access (`__tls_get_addr`).
const DTV_UNALLOCATED: usize = usize::MAX;

/// Gives the copy a dtv of its own (glibc's `dtv_t` array: entry -1 holds the length,
/// entry 0 the generation, entry i `{val, to_free}` for module i), so thread-locals
/// reached through `__tls_get_addr` are per green thread too: entries in the static
/// area point into the copy; blocks glibc allocated for `dlopen`ed modules are marked
/// unallocated, and glibc makes this thread its own on first access, from the module's
/// image, as for a new thread. The array is malloc'd, as glibc expects when it grows it.
fn build_dtv(a: &Area, real_tp: usize) {
    let below = BELOW.load(Ordering::Relaxed);
    // SAFETY: the real control block's dtv field points at entry 0 of a glibc dtv with
    // `len` module entries after it and the length before it; the copy is malloc'd
    // with the same shape (calloc'd: entries beyond `len` do not exist).
    unsafe {
        let real = *((real_tp + DTV) as *const *const [usize; 2]);
        if real.is_null() {
            return;
        }
        let len = (*real.sub(1))[0];
        let mem = libc::malloc((len + 2) * 16) as *mut [usize; 2];
        if mem.is_null() {
            return;
        }
        core::ptr::copy_nonoverlapping(real.sub(1), mem, len + 2);
        let dtv = mem.add(1);
        for i in 1..=len {
            let e = &mut *dtv.add(i);
            if e[0] >= real_tp - below && e[0] < real_tp {
                e[0] = e[0] - real_tp + a.tp;
                e[1] = 0;
            } else if e[0] != DTV_UNALLOCATED {
                *e = [DTV_UNALLOCATED, 0];
            }
        }
        *((a.tp + DTV) as *mut usize) = dtv as usize;
    }
}

/// Frees the copy's dtv and the blocks glibc allocated in it.
fn release_dtv(a: &Area) {
    // SAFETY: the copy's dtv field is 0, or a dtv made by build_dtv (possibly grown by
    // glibc with realloc); entries' `to_free` are glibc's malloc'd blocks or null.
    unsafe {
        let dtv = *((a.tp + DTV) as *const *mut [usize; 2]);
        if dtv.is_null() {
            return;
        }
        let len = (*dtv.sub(1))[0];
        for i in 1..=len {
            let to_free = (*dtv.add(i))[1];
            if to_free != 0 {
                libc::free(to_free as *mut libc::c_void);
            }
        }
        libc::free(dtv.sub(1) as *mut libc::c_void);
        *((a.tp + DTV) as *mut usize) = 0;
    }
}

/// The program now has a second thread: tell glibc and the libraries that read
/// `__libc_single_threaded` (libstdc++ skips the hand-over in `std::stop_token` and
/// makes `shared_ptr` counts non-atomic while it is set, as if no other thread could
/// run), and mark the real control block multi-threaded (green threads' copies always
/// lock, and so must the root: offload threads may run beside it).
pub fn mark_multithreaded(real_tp: usize) {
    let single = dlsym(b"__libc_single_threaded\0");
    if single != 0 {
        // SAFETY: glibc's `char __libc_single_threaded`; it only ever goes from 1 to 0.
        unsafe { *(single as *mut u8) = 0 };
    }
    if ENABLED.load(Ordering::Relaxed) {
        // SAFETY: real_tp is the hub's live control block; glibc only ever sets it to 1.
        unsafe { *((real_tp + MULTIPLE_THREADS) as *mut i32) = 1 };
    }
}

/// Points `%fs` at `tp`.
#[inline(always)]
pub fn set_fs(tp: usize) {
    if FSGSBASE.load(Ordering::Relaxed) {
        // SAFETY: the kernel enabled FSGSBASE (AT_HWCAP2); tp is a live TLS area whose
        // layout matches the real one.
        unsafe { core::arch::asm!("wrfsbase {}", in(reg) tp, options(nostack, preserves_flags)) };
    } else {
        // SAFETY: ARCH_SET_FS with a live TLS area.
        let _ = unsafe { crate::sys::sc!(libc::SYS_arch_prctl, 0x1002, tp) };
    }
}
