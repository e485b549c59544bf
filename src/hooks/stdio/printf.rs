//! The printf family on streams whose writes park (see `output.rs`): `vprintf`,
//! `vfprintf`, their `__*_chk` forms, `vdprintf`, and the `*_va` entry points that the
//! variadic trampolines (`hooks::variadic`: `printf`, `fprintf`, `dprintf`, their
//! `__*_chk` forms) call with a `va_list` they built.
//!
//! On such a stream the text is formatted first (`vsnprintf`, or `__vsnprintf_chk` with
//! the caller's fortify flag: same `%n` checks), into a stack buffer or, when longer, a
//! heap buffer, then written as one `fwrite` would write it. The bytes are glibc's;
//! where glibc would have flushed part of a long format mid-way, the split between what
//! is written and what stays buffered may differ, never the order. Any other stream
//! goes to glibc's function with the caller's `va_list` untouched.

use super::output::Stream;
use crate::fd::io::{self as fio, Plan};
use crate::sys::real::Lazy;
use core::ffi::{c_char, c_int, c_void};
use libc::FILE;

/// The x86-64 `va_list` element (`__va_list_tag`); a `va_list` argument is a pointer to it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct VaList {
    gp_offset: u32,
    fp_offset: u32,
    overflow_arg_area: *mut c_void,
    reg_save_area: *mut c_void,
}

unsafe extern "C" {
    static mut stdout: *mut FILE;
    fn vsnprintf(s: *mut c_char, n: usize, fmt: *const c_char, ap: *mut VaList) -> c_int;
    fn __vsnprintf_chk(s: *mut c_char, maxlen: usize, flag: c_int, slen: usize, fmt: *const c_char, ap: *mut VaList) -> c_int;
}

macro_rules! real_fns {
    ($($name:ident => $sym:literal ($($arg:ident : $ty:ty),*) -> $ret:ty;)*) => {$(
        #[inline]
        unsafe fn $name($($arg: $ty),*) -> $ret {
            static REAL: Lazy = Lazy::new($sym, $sym);
            let p = REAL.get().unwrap_or_else(|| crate::log::fatal_parts(&[b"greenshim: cannot resolve the real libc symbol ", $sym.to_bytes()]));
            // SAFETY: p is glibc's function of that name, which has this signature.
            let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { core::mem::transmute(p) };
            // SAFETY: forwarded under the caller's contract.
            unsafe { f($($arg),*) }
        }
    )*};
}

real_fns! {
    real_vfprintf => c"vfprintf" (fp: *mut FILE, fmt: *const c_char, ap: *mut VaList) -> c_int;
    real_vfprintf_chk => c"__vfprintf_chk" (fp: *mut FILE, flag: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int;
    real_vdprintf => c"vdprintf" (fd: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int;
    real_vdprintf_chk => c"__vdprintf_chk" (fd: c_int, flag: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int;
}

const STACK_BUF: usize = 1024;

/// Formatted text: in the caller's stack buffer, or malloc'd (freed on drop).
struct Text {
    p: *mut u8,
    len: usize,
    heap: bool,
}

impl Drop for Text {
    fn drop(&mut self) {
        if self.heap {
            // SAFETY: allocated with malloc in format.
            unsafe { libc::free(self.p.cast()) };
        }
    }
}

/// One formatting pass into `buf` of `cap` bytes; the length the whole text needs.
///
/// # Safety
/// `buf` has `cap` bytes; `fmt` and `ap` are the program's.
unsafe fn format_into(buf: *mut u8, cap: usize, flag: Option<c_int>, fmt: *const c_char, ap: &VaList) -> c_int {
    // va_copy: the x86-64 va_list is this plain struct.
    let mut copy = *ap;
    // SAFETY: per contract.
    unsafe {
        match flag {
            Some(f) => __vsnprintf_chk(buf.cast(), cap, f, cap, fmt, &mut copy),
            None => vsnprintf(buf.cast(), cap, fmt, &mut copy),
        }
    }
}

/// Formats the text; None on a formatting error (errno set, as `vfprintf` would).
///
/// # Safety
/// `stack` is the caller's buffer of `STACK_BUF` bytes.
unsafe fn format(stack: *mut u8, flag: Option<c_int>, fmt: *const c_char, ap: *mut VaList) -> Option<Text> {
    // SAFETY: ap is the program's va_list.
    let ap = unsafe { &*ap };
    // SAFETY: stack has STACK_BUF bytes.
    let n = unsafe { format_into(stack, STACK_BUF, flag, fmt, ap) };
    if n < 0 {
        return None;
    }
    let len = n as usize;
    if len < STACK_BUF {
        return Some(Text { p: stack, len, heap: false });
    }
    // SAFETY: plain allocation (malloc is not hooked).
    let p = unsafe { libc::malloc(len + 1) } as *mut u8;
    if p.is_null() {
        crate::sys::set_errno(libc::ENOMEM);
        return None;
    }
    let text = Text { p, len, heap: true };
    // SAFETY: p has len + 1 bytes.
    if unsafe { format_into(p, len + 1, flag, fmt, ap) } < 0 {
        return None;
    }
    Some(text)
}

/// `vfprintf` / `__vfprintf_chk` on `fp`.
///
/// # Safety
/// The program's arguments.
unsafe fn vfprintf_impl(fp: *mut FILE, flag: Option<c_int>, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: fp is the program's FILE.
    let Some(st) = (unsafe { Stream::open(fp, false) }) else {
        // SAFETY: forwarded with the caller's va_list.
        return unsafe {
            match flag {
                Some(f) => real_vfprintf_chk(fp, f, fmt, ap),
                None => real_vfprintf(fp, fmt, ap),
            }
        };
    };
    let mut stack = [0u8; STACK_BUF];
    // SAFETY: stack has STACK_BUF bytes.
    let Some(text) = (unsafe { format(stack.as_mut_ptr(), flag, fmt, ap) }) else { return -1 };
    // SAFETY: text holds len bytes.
    if unsafe { st.sputn(text.p, text.len) } == text.len { text.len.min(c_int::MAX as usize) as c_int } else { -1 }
}

/// `vdprintf` / `__vdprintf_chk` on `fd`: formatted, then written with the parking
/// write until all of it is out or an error comes (glibc's temporary FILE does the
/// same with its internal write).
///
/// # Safety
/// The program's arguments.
unsafe fn vdprintf_impl(fd: c_int, flag: Option<c_int>, fmt: *const c_char, ap: *mut VaList) -> c_int {
    let Plan::Green(h, e) = fio::prepare(fd) else {
        // SAFETY: forwarded with the caller's va_list.
        return unsafe {
            match flag {
                Some(f) => real_vdprintf_chk(fd, f, fmt, ap),
                None => real_vdprintf(fd, fmt, ap),
            }
        };
    };
    let mut stack = [0u8; STACK_BUF];
    // SAFETY: stack has STACK_BUF bytes.
    let Some(text) = (unsafe { format(stack.as_mut_ptr(), flag, fmt, ap) }) else { return -1 };
    let mut done = 0;
    while done < text.len {
        // SAFETY: text holds len bytes.
        let iov = libc::iovec { iov_base: unsafe { text.p.add(done) }.cast(), iov_len: text.len - done };
        match fio::writev(h, fd, e, &iov, 1) {
            Ok(k) if k > 0 => done += k,
            Ok(_) => return -1,
            Err(err) => {
                err.set();
                return -1;
            }
        }
    }
    text.len.min(c_int::MAX as usize) as c_int
}

fn out() -> *mut FILE {
    // SAFETY: reading glibc's stdout pointer.
    unsafe { stdout }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn vfprintf(fp: *mut FILE, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: forwarded.
    unsafe { vfprintf_impl(fp, None, fmt, ap) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _IO_vfprintf(fp: *mut FILE, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: forwarded.
    unsafe { vfprintf_impl(fp, None, fmt, ap) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn vprintf(fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: forwarded.
    unsafe { vfprintf_impl(out(), None, fmt, ap) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vfprintf_chk(fp: *mut FILE, flag: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: forwarded.
    unsafe { vfprintf_impl(fp, Some(flag), fmt, ap) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vprintf_chk(flag: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: forwarded.
    unsafe { vfprintf_impl(out(), Some(flag), fmt, ap) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn vdprintf(fd: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: forwarded.
    unsafe { vdprintf_impl(fd, None, fmt, ap) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vdprintf_chk(fd: c_int, flag: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: forwarded.
    unsafe { vdprintf_impl(fd, Some(flag), fmt, ap) }
}

// Entry points for the variadic trampolines: the trampoline passes the fixed
// arguments unchanged and a pointer to the va_list it built after them.

pub extern "C" fn printf_va(fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: the program's arguments, as the trampoline received them.
    unsafe { vfprintf_impl(out(), None, fmt, ap) }
}

pub extern "C" fn fprintf_va(fp: *mut FILE, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: as in printf_va.
    unsafe { vfprintf_impl(fp, None, fmt, ap) }
}

pub extern "C" fn printf_chk_va(flag: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: as in printf_va.
    unsafe { vfprintf_impl(out(), Some(flag), fmt, ap) }
}

pub extern "C" fn fprintf_chk_va(fp: *mut FILE, flag: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: as in printf_va.
    unsafe { vfprintf_impl(fp, Some(flag), fmt, ap) }
}

pub extern "C" fn dprintf_va(fd: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: as in printf_va.
    unsafe { vdprintf_impl(fd, None, fmt, ap) }
}

pub extern "C" fn dprintf_chk_va(fd: c_int, flag: c_int, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: as in printf_va.
    unsafe { vdprintf_impl(fd, Some(flag), fmt, ap) }
}
