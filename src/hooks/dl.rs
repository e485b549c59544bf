//! `dlopen`: a library with initial-exec (static) TLS gets its block initialised by
//! glibc in every OS thread's real area, and by the hub in every other green thread's
//! copy before it next runs (`green::tls::catch_up`); this hook does it for the green
//! thread that called `dlopen`, as soon as the call returns.
//!
//! glibc's `dlopen` looks at its caller (the return address): the caller's namespace,
//! its RPATH/RUNPATH for a name without a slash, its origin for `$ORIGIN`. So the hook
//! is a naked jump: unless the call is one whose caller cannot matter (a path with a
//! slash and no `$`, from an object in the base namespace, on a green thread with TLS
//! of its own), it jumps to glibc's `dlopen` with the program's return address still
//! on the stack; otherwise to [`dlopen_catching_up`].

use crate::hub;
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

/// glibc's `RTLD_DL_LINKMAP` (dladdr1: return the object's link map).
const RTLD_DL_LINKMAP: c_int = 2;

static REAL_DLOPEN: AtomicUsize = AtomicUsize::new(0);

fn real_dlopen() -> usize {
    let mut p = REAL_DLOPEN.load(Ordering::Relaxed);
    if p == 0 {
        // SAFETY: a NUL-terminated name; dlsym is not hooked.
        p = unsafe { libc::dlsym(libc::RTLD_NEXT, c"dlopen".as_ptr()) } as usize;
        if p == 0 {
            crate::log::fatal_parts(&[b"greenshim: cannot resolve the real libc symbol dlopen"]);
        }
        REAL_DLOPEN.store(p, Ordering::Relaxed);
    }
    p
}

/// Where `dlopen` goes: glibc's (the caller's identity preserved) or
/// [`dlopen_catching_up`].
extern "C" fn route(file: *const c_char, _mode: c_int, caller: usize) -> usize {
    let real = real_dlopen();
    let green = hub::local().is_some_and(|h| {
        // SAFETY: h is this thread's hub; current is live.
        let g = unsafe { hub::current(h) };
        // SAFETY: as above.
        unsafe { !(*g).is_root && (*g).tls.is_some() }
    });
    if !green || file.is_null() {
        return real;
    }
    // SAFETY: file is the program's C string.
    let name = unsafe { core::ffi::CStr::from_ptr(file) }.to_bytes();
    if !name.contains(&b'/') || name.contains(&b'$') {
        return real;
    }
    // The caller's namespace: a library loaded with dlmopen loads into its own.
    // SAFETY: an all-zero Dl_info is valid (null pointers).
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    let mut map: *mut c_void = core::ptr::null_mut();
    // SAFETY: dladdr1 and dlinfo are not hooked; out-parameters are ours.
    let base = unsafe {
        libc::dladdr1(caller as *const c_void, &mut info, &mut map, RTLD_DL_LINKMAP) != 0 && !map.is_null() && {
            let mut lmid: libc::Lmid_t = -1;
            libc::dlinfo(map, libc::RTLD_DI_LMID, (&mut lmid as *mut libc::Lmid_t).cast()) == 0 && lmid == libc::LM_ID_BASE
        }
    };
    if !base {
        return real;
    }
    dlopen_catching_up as *const () as usize
}

/// glibc's `dlopen`, then the calling green thread's TLS copy gets the static blocks of
/// the modules just loaded.
unsafe extern "C" fn dlopen_catching_up(file: *const c_char, mode: c_int) -> *mut c_void {
    // SAFETY: glibc's dlopen, with the program's arguments.
    let r = unsafe {
        let f: unsafe extern "C" fn(*const c_char, c_int) -> *mut c_void = core::mem::transmute(real_dlopen());
        f(file, mode)
    };
    if let Some(h) = hub::local() {
        // SAFETY: h is this thread's hub; current is the running green thread.
        if let Some(a) = unsafe { (*hub::current(h)).tls.as_ref() } {
            crate::green::tls::catch_up(a);
        }
    }
    r
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
        route = sym route,
    )
}
