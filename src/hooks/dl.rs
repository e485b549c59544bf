//! The loader's entry points: `dlopen`, `dlmopen`, `dlclose`, `dlsym`, `dladdr`,
//! `dladdr1`, `dl_iterate_phdr`.
//!
//! **One green thread inside the loader at a time.** glibc's loader locks record the
//! kernel tid, which every green thread of an OS thread shares; so each entry point
//! first takes (or waits its turn for) the shim's green-aware copy of the glibc lock it
//! will take (`sync::loader`), and a green thread that finds another parked inside —
//! in a constructor, a destructor, a `dl_iterate_phdr` callback — parks until it leaves,
//! as natively the second thread waits. Inside a signal handler on the hub's thread
//! nothing is locked (the interrupted code may hold it), and calls pass straight
//! through; so do calls from OS threads that run no green thread (glibc's own locks
//! tell their tids apart).
//!
//! **Initial-exec TLS.** A library with initial-exec (static) TLS gets its block
//! initialised by glibc in every OS thread's real area, and by the hub in every other
//! green thread's copy before it next runs (`green::tls::catch_up`); `dlopen` does it
//! for the green thread that called it, as soon as the call returns.
//!
//! **The caller.** glibc's `dlopen`, `dlmopen`, `dlsym` and `dl_iterate_phdr` look at
//! their caller (the return address): its namespace, its RPATH/RUNPATH for a name
//! without a slash, its origin for `$ORIGIN`, the object after it for `RTLD_NEXT`. So
//! these hooks are naked jumps: a Rust wrapper that holds the lock across the call
//! (glibc then sees the shim as the caller) is used only where the caller cannot
//! matter — a path with a slash and no `$` from the base namespace; `dl_iterate_phdr`
//! while no other namespace exists. Otherwise the hook waits its turn and jumps to
//! glibc with the program's return address still on the stack; such a call keeps
//! others out only while it does not park (see docs/CAVEATS.md).

use crate::hub;
use crate::sync::loader::{LOAD, WRITE};
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// glibc's `RTLD_DL_LINKMAP` (dladdr1: return the object's link map).
const RTLD_DL_LINKMAP: c_int = 2;

/// The shim serves the loader's locks (set by [`init`]; before it, and with
/// `GREENSHIM_DISABLE=1`, every call passes through).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// A namespace other than the base may exist (`LD_AUDIT` modules, a `dlmopen`): the
/// caller's namespace must then be checked.
static NAMESPACES: AtomicBool = AtomicBool::new(false);
/// `ACTIVE` and not `NAMESPACES`: `dl_iterate_phdr` jumps straight to [`iterate_locked`]
/// (one byte compare: unwinders on older libgcc call it for every frame).
static ITERATE_DIRECT: AtomicBool = AtomicBool::new(false);
/// The shim's own text, `[SHIM_LO, SHIM_HI)`: its own `dlsym` calls (resolving real
/// functions, from any context) never wait.
static SHIM_LO: AtomicUsize = AtomicUsize::new(0);
static SHIM_HI: AtomicUsize = AtomicUsize::new(0);

/// Called by the constructor once the hub is installed. `audit`: `LD_AUDIT` is set.
pub fn init(audit: bool) {
    // SAFETY: an all-zero Dl_info is valid; dladdr reads a code address of the shim.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: glibc's dladdr, an address in the shim, our out-parameter.
    if unsafe { real_fn::<unsafe extern "C" fn(*const c_void, *mut libc::Dl_info) -> c_int>(&REAL_DLADDR, c"dladdr")(init as *const c_void, &mut info) } != 0 {
        SHIM_LO.store(info.dli_fbase as usize, Ordering::Relaxed);
        // The shim's writable data follows its text.
        SHIM_HI.store(&SHIM_HI as *const AtomicUsize as usize, Ordering::Relaxed);
    }
    NAMESPACES.store(audit, Ordering::Relaxed);
    ACTIVE.store(true, Ordering::Relaxed);
    ITERATE_DIRECT.store(!audit, Ordering::Relaxed);
}

/// Whether this call takes the loader's locks: on the hub's thread, outside signal
/// handlers (`hub::local` is none there). Other OS threads have tids of their own,
/// which glibc's locks tell apart: they go straight to glibc.
#[inline]
fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed) && hub::local().is_some()
}

static REAL_DLOPEN: AtomicUsize = AtomicUsize::new(0);
static REAL_DLMOPEN: AtomicUsize = AtomicUsize::new(0);
static REAL_DLCLOSE: AtomicUsize = AtomicUsize::new(0);
static REAL_DLSYM: AtomicUsize = AtomicUsize::new(0);
static REAL_DLADDR: AtomicUsize = AtomicUsize::new(0);
static REAL_DLADDR1: AtomicUsize = AtomicUsize::new(0);
static REAL_DLINFO: AtomicUsize = AtomicUsize::new(0);
static REAL_ITERATE: AtomicUsize = AtomicUsize::new(0);

/// glibc's `dlsym`: through `dlvsym`, which the shim does not hook (its own `dlsym`
/// hook needs it first).
fn real_dlsym() -> usize {
    let mut p = REAL_DLSYM.load(Ordering::Relaxed);
    if p == 0 {
        for v in [c"GLIBC_2.34", c"GLIBC_2.2.5"] {
            // SAFETY: NUL-terminated names; dlvsym is not hooked.
            p = unsafe { libc::dlvsym(libc::RTLD_NEXT, c"dlsym".as_ptr(), v.as_ptr()) } as usize;
            if p != 0 {
                break;
            }
        }
        if p == 0 {
            crate::log::fatal_parts(&[b"greenshim: cannot resolve the real libc symbol dlsym"]);
        }
        REAL_DLSYM.store(p, Ordering::Relaxed);
    }
    p
}

/// glibc's function `name`, cached in `slot`.
fn real_addr(slot: &AtomicUsize, name: &core::ffi::CStr) -> usize {
    let mut p = slot.load(Ordering::Relaxed);
    if p == 0 {
        // SAFETY: glibc's dlsym, called from the shim: RTLD_NEXT is the object after it.
        p = unsafe {
            let f: unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void = core::mem::transmute(real_dlsym());
            f(libc::RTLD_NEXT, name.as_ptr())
        } as usize;
        if p == 0 {
            crate::log::fatal_parts(&[b"greenshim: cannot resolve the real libc symbol ", name.to_bytes()]);
        }
        slot.store(p, Ordering::Relaxed);
    }
    p
}

/// [`real_addr`] as a function pointer of type `F`.
///
/// # Safety
/// `F` is the C type of glibc's `name`.
unsafe fn real_fn<F: Copy>(slot: &AtomicUsize, name: &core::ffi::CStr) -> F {
    let p = real_addr(slot, name);
    // SAFETY: per contract F is a function pointer type of the right signature.
    unsafe { core::mem::transmute_copy(&p) }
}

/// An address inside the calling frame, below its canonical frame address: the level
/// it takes is released when a forced unwind leaves the frame (`sync::loader`).
macro_rules! frame_mark {
    () => {{
        let mark = 0u8;
        core::hint::black_box(&mark) as *const u8 as usize
    }};
}

/// Whether glibc must see the program's return address `caller` for `file`: a bare
/// name (RPATH/RUNPATH), `$ORIGIN`, or a caller outside the base namespace (when
/// `namespace` matters: dlopen, not dlmopen).
fn caller_matters(file: *const c_char, caller: usize, namespace: bool) -> bool {
    if !file.is_null() {
        // SAFETY: file is the program's C string.
        let name = unsafe { core::ffi::CStr::from_ptr(file) }.to_bytes();
        if !name.contains(&b'/') || name.contains(&b'$') {
            return true;
        }
    } else if !namespace {
        return true;
    }
    namespace && NAMESPACES.load(Ordering::Relaxed) && !in_base_namespace(caller)
}

/// Whether the object holding code address `caller` is in the base namespace.
fn in_base_namespace(caller: usize) -> bool {
    // SAFETY: an all-zero Dl_info is valid (null pointers).
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    let mut map: *mut c_void = core::ptr::null_mut();
    // SAFETY: glibc's dladdr1 and dlinfo; out-parameters are ours.
    unsafe {
        let dladdr1: unsafe extern "C" fn(*const c_void, *mut libc::Dl_info, *mut *mut c_void, c_int) -> c_int = real_fn(&REAL_DLADDR1, c"dladdr1");
        let dlinfo: unsafe extern "C" fn(*mut c_void, c_int, *mut c_void) -> c_int = real_fn(&REAL_DLINFO, c"dlinfo");
        dladdr1(caller as *const c_void, &mut info, &mut map, RTLD_DL_LINKMAP) != 0 && !map.is_null() && {
            let mut lmid: libc::Lmid_t = -1;
            dlinfo(map, libc::RTLD_DI_LMID, (&mut lmid as *mut libc::Lmid_t).cast()) == 0 && lmid == libc::LM_ID_BASE
        }
    }
}

/// Where `dlopen` goes: glibc's (the caller's identity preserved, after waiting for
/// any other thread inside) or [`dlopen_locked`].
extern "C" fn route_dlopen(file: *const c_char, _mode: c_int, caller: usize) -> usize {
    route(real_addr(&REAL_DLOPEN, c"dlopen"), file, caller, true, dlopen_locked as *const () as usize)
}

/// The routing of [`route_dlopen`] and [`route_dlmopen`]: `real` (glibc's function) for
/// a caller glibc must see, after waiting for any other thread inside; else `locked`.
fn route(real: usize, file: *const c_char, caller: usize, base: bool, locked: usize) -> usize {
    if !active() {
        return real;
    }
    LOAD.wait_turn();
    if caller_matters(file, caller, base) {
        WRITE.wait_turn();
        return real;
    }
    locked
}

/// Runs a load (`f`: glibc's dlopen or dlmopen) holding the loader's lock, taken for the
/// hook frame at `frame`; then the calling green thread's TLS copy gets the static
/// blocks of the modules just loaded.
fn loading<R>(frame: usize, f: impl FnOnce() -> R) -> R {
    let held = LOAD.lock(frame);
    // glibc adds the new objects under its write lock, before any constructor runs: no
    // walk may be parked in a callback then. Nothing parks between here and there.
    WRITE.wait_turn();
    let r = f();
    catch_up();
    if held {
        LOAD.unlock();
    }
    r
}

/// glibc's `dlopen` holding the loader's lock; then the calling green thread's TLS copy
/// gets the static blocks of the modules just loaded.
unsafe extern "C" fn dlopen_locked(file: *const c_char, mode: c_int) -> *mut c_void {
    // SAFETY: glibc's dlopen, with the program's arguments.
    loading(frame_mark!(), || unsafe { real_fn::<unsafe extern "C" fn(*const c_char, c_int) -> *mut c_void>(&REAL_DLOPEN, c"dlopen")(file, mode) })
}

/// The running green thread's TLS copy gets the static blocks of new modules.
fn catch_up() {
    if let Some(h) = hub::local() {
        // SAFETY: h is this thread's hub; current is the running green thread.
        if let Some(a) = unsafe { (*hub::current(h)).tls.as_ref() } {
            crate::green::tls::catch_up(a);
        }
    }
}

/// See the module docs.
///
/// # Safety
/// glibc's `dlopen` contract.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void {
    core::arch::naked_asm!(
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        // The program's return address: the caller glibc's dlopen would see.
        "mov rdx, qword ptr [rsp + 24]",
        "call {route}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "jmp rax",
        route = sym route_dlopen,
    )
}

/// Where `dlmopen` goes (as [`route_dlopen`]; the namespace is the argument's).
extern "C" fn route_dlmopen(lmid: libc::Lmid_t, file: *const c_char, _mode: c_int, caller: usize) -> usize {
    if lmid != libc::LM_ID_BASE {
        NAMESPACES.store(true, Ordering::Relaxed);
        ITERATE_DIRECT.store(false, Ordering::Relaxed);
    }
    route(real_addr(&REAL_DLMOPEN, c"dlmopen"), file, caller, false, dlmopen_locked as *const () as usize)
}

/// glibc's `dlmopen` holding the loader's lock (as [`dlopen_locked`]).
unsafe extern "C" fn dlmopen_locked(lmid: libc::Lmid_t, file: *const c_char, mode: c_int) -> *mut c_void {
    // SAFETY: glibc's dlmopen, with the program's arguments.
    loading(frame_mark!(), || unsafe { real_fn::<unsafe extern "C" fn(libc::Lmid_t, *const c_char, c_int) -> *mut c_void>(&REAL_DLMOPEN, c"dlmopen")(lmid, file, mode) })
}

/// See the module docs.
///
/// # Safety
/// glibc's `dlmopen` contract.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlmopen(lmid: libc::Lmid_t, file: *const c_char, mode: c_int) -> *mut c_void {
    core::arch::naked_asm!(
        "push rdi",
        "push rsi",
        "push rdx",
        "mov rcx, qword ptr [rsp + 24]",
        "call {route}",
        "pop rdx",
        "pop rsi",
        "pop rdi",
        "jmp rax",
        route = sym route_dlmopen,
    )
}

/// `dlclose`: destructors run inside, and the objects are unmapped after them, so it
/// holds both locks: no walk of the list may be parked in a callback while it unmaps.
///
/// # Safety
/// glibc's `dlclose` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlclose(handle: *mut c_void) -> c_int {
    // SAFETY: glibc's dlclose, with the program's argument.
    let real = unsafe { real_fn::<unsafe extern "C" fn(*mut c_void) -> c_int>(&REAL_DLCLOSE, c"dlclose") };
    if !active() {
        // SAFETY: as above.
        return unsafe { real(handle) };
    }
    let mark = frame_mark!();
    if !LOAD.lock(mark) {
        // SAFETY: as above.
        return unsafe { real(handle) };
    }
    WRITE.lock(mark);
    // SAFETY: as above.
    let r = unsafe { real(handle) };
    WRITE.unlock();
    LOAD.unlock();
    r
}

/// Where `dlsym` goes: glibc's, after waiting while another thread is inside the loader
/// (the shim's own lookups never wait: they run in any context).
extern "C" fn route_dlsym(caller: usize) -> usize {
    if active() && !(SHIM_LO.load(Ordering::Relaxed) <= caller && caller < SHIM_HI.load(Ordering::Relaxed)) {
        LOAD.wait_turn();
    }
    real_dlsym()
}

/// See the module docs. glibc's `dlsym` runs no program code (but IFUNC resolvers), so
/// waiting for the turn is enough, and the caller (`RTLD_NEXT`) is preserved.
///
/// # Safety
/// glibc's `dlsym` contract.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void {
    core::arch::naked_asm!(
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "mov rdi, qword ptr [rsp + 24]",
        "call {route}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "jmp rax",
        route = sym route_dlsym,
    )
}

/// `dladdr`: glibc takes the loader's lock and runs no program code: waits its turn.
///
/// # Safety
/// glibc's `dladdr` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dladdr(addr: *const c_void, info: *mut libc::Dl_info) -> c_int {
    if active() {
        LOAD.wait_turn();
    }
    // SAFETY: glibc's dladdr, with the program's arguments.
    unsafe { real_fn::<unsafe extern "C" fn(*const c_void, *mut libc::Dl_info) -> c_int>(&REAL_DLADDR, c"dladdr")(addr, info) }
}

/// `dladdr1`: as [`dladdr`].
///
/// # Safety
/// glibc's `dladdr1` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dladdr1(addr: *const c_void, info: *mut libc::Dl_info, extra: *mut *mut c_void, flags: c_int) -> c_int {
    if active() {
        LOAD.wait_turn();
    }
    // SAFETY: glibc's dladdr1, with the program's arguments.
    unsafe { real_fn::<unsafe extern "C" fn(*const c_void, *mut libc::Dl_info, *mut *mut c_void, c_int) -> c_int>(&REAL_DLADDR1, c"dladdr1")(addr, info, extra, flags) }
}

type IterateCallback = Option<unsafe extern "C" fn(*mut libc::dl_phdr_info, usize, *mut c_void) -> c_int>;

/// Where `dl_iterate_phdr` goes: [`iterate_locked`] while only the base namespace
/// exists (glibc walks the caller's namespace), else glibc's after waiting its turn.
extern "C" fn route_iterate(_cb: IterateCallback, _data: *mut c_void, caller: usize) -> usize {
    let real = real_addr(&REAL_ITERATE, c"dl_iterate_phdr");
    if !active() {
        return real;
    }
    if NAMESPACES.load(Ordering::Relaxed) && !in_base_namespace(caller) {
        WRITE.wait_turn();
        return real;
    }
    iterate_locked as *const () as usize
}

/// glibc's `dl_iterate_phdr` holding the list's lock across the callbacks (off the
/// hub and in signal handlers, glibc's alone).
unsafe extern "C" fn iterate_locked(cb: IterateCallback, data: *mut c_void) -> c_int {
    let held = WRITE.lock(frame_mark!());
    // SAFETY: glibc's dl_iterate_phdr, with the program's arguments.
    let r = unsafe { real_fn::<unsafe extern "C" fn(IterateCallback, *mut c_void) -> c_int>(&REAL_ITERATE, c"dl_iterate_phdr")(cb, data) };
    if held {
        WRITE.unlock();
    }
    r
}

/// See the module docs.
///
/// # Safety
/// glibc's `dl_iterate_phdr` contract.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dl_iterate_phdr(cb: IterateCallback, data: *mut c_void) -> c_int {
    core::arch::naked_asm!(
        "cmp byte ptr [rip + {direct}], 0",
        "jne {locked}",
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "mov rdx, qword ptr [rsp + 24]",
        "call {route}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "jmp rax",
        route = sym route_iterate,
        direct = sym ITERATE_DIRECT,
        locked = sym iterate_locked,
    )
}
