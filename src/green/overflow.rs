//! Turns a green-thread stack overflow into a clear message instead of a silent crash.
//!
//! The hub's OS thread gets an alternate signal stack and a SIGSEGV handler. A fault
//! whose address lies in the running green thread's guard page is reported on stderr
//! with the stack size and how to raise it; the handler then restores the default
//! action and returns, so the faulting instruction re-executes and the process dies of
//! SIGSEGV exactly as it would natively. Any other fault takes the same default path.
//! A SIGSEGV sent by a process (`raise`, `kill`) has no instruction to re-execute: the
//! handler sends it again under the default action, so it ends the process as natively.
//!
//! Both stay invisible: `sigaction` reports SIGSEGV's action as `SIG_DFL` while this
//! handler is installed, and `sigaltstack` reports no alternate stack while the shim's
//! is in place (hooks::signal). A program that installs its own SIGSEGV handler or
//! alternate stack replaces the shim's.

use crate::hub;
use core::fmt::Write;

const ALT_STACK: usize = 64 << 10;

/// The shim's alternate stacks, one per hub thread (0: none yet).
static ALT_STACKS: [core::sync::atomic::AtomicUsize; hub::MAX_HUBS] = [const { core::sync::atomic::AtomicUsize::new(0) }; hub::MAX_HUBS];

/// Whether `handler` is the shim's SIGSEGV handler.
pub fn is_our_handler(handler: usize) -> bool {
    handler == on_segv as *const () as usize
}

/// Whether `sp` is the shim's alternate signal stack.
pub fn is_our_alt_stack(sp: *mut libc::c_void) -> bool {
    !sp.is_null() && ALT_STACKS.iter().any(|a| a.load(core::sync::atomic::Ordering::Relaxed) == sp as usize)
}

extern "C" fn on_segv(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: called by the kernel with a valid siginfo for SIGSEGV.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(h) = hub::local() {
        // SAFETY: on the hub thread; only reads plain fields of the current thread.
        unsafe {
            let g = hub::current(h);
            if let Some(s) = (*g).stack {
                if s.guard_contains(addr) {
                    let mut b = crate::log::LineBuf::new();
                    let _ = write!(
                        b,
                        "greenshim: stack overflow in green thread {} (stack {} KiB); raise it with GREENSHIM_STACK_SIZE=<bytes>[K|M] or pthread_attr_setstacksize",
                        (*g).id - crate::green::FIRST_ID + 1,
                        s.usable() >> 10
                    );
                    b.flush_line();
                }
            }
        }
    }
    // SAFETY: restoring the default disposition is async-signal-safe.
    unsafe {
        let mut dfl: libc::sigaction = core::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        crate::sys::real::sigaction(libc::SIGSEGV, &dfl, core::ptr::null_mut());
        if (*info).si_code <= 0 {
            // Sent, not a fault: send it again; SA_NODEFER leaves it unblocked, so the
            // default action ends the process now.
            let pid = crate::sys::sc!(libc::SYS_getpid).unwrap_or(0);
            let _ = crate::sys::sc!(libc::SYS_tgkill, pid, crate::sys::gettid(), libc::SIGSEGV);
        }
    }
}

/// Gives the calling hub thread an alternate stack of the shim's own.
pub fn install_thread() -> bool {
    // SAFETY: anonymous mapping for the alternate stack, registered for this thread.
    unsafe {
        let p = libc::mmap(core::ptr::null_mut(), ALT_STACK, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
        if p == libc::MAP_FAILED {
            return false;
        }
        let ss = libc::stack_t { ss_sp: p, ss_flags: 0, ss_size: ALT_STACK };
        if crate::sys::sc!(libc::SYS_sigaltstack, &ss as *const libc::stack_t, 0usize).is_err() {
            libc::munmap(p, ALT_STACK);
            return false;
        }
        for a in ALT_STACKS.iter() {
            if a.compare_exchange(0, p as usize, core::sync::atomic::Ordering::Relaxed, core::sync::atomic::Ordering::Relaxed).is_ok() {
                break;
            }
        }
        true
    }
}

/// Installs the alternate stack and handler on the calling (hub) thread.
pub fn install() {
    if !install_thread() {
        return;
    }
    // SAFETY: sigaction with a valid handler.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_segv as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
        libc::sigemptyset(&mut sa.sa_mask);
        crate::sys::real::sigaction(libc::SIGSEGV, &sa, core::ptr::null_mut());
    }
}
