//! The printf family on streams whose writes park (see `output.rs`): `vprintf`,
//! `vfprintf`, their `__*_chk` forms, `vdprintf`, and the `*_va` entry points that the
//! variadic trampolines (`hooks::variadic`: `printf`, `fprintf`, `dprintf`, their
//! `__*_chk` forms) call with a `va_list` they built.
//!
//! On such a stream the text is formatted by glibc's own `vfprintf` (or
//! `__vfprintf_chk`, with the caller's fortify flag) into a private FILE made with
//! `fopencookie` (fully buffered, no locking; one per formatting in progress, pooled),
//! whose writes come back to the shim (`cookie_write`). Two cases:
//!
//! * The program's stream is fully buffered with room in its buffer (a `printf` to a
//!   pipe, nearly always): the private FILE's buffer is pointed at that free room, so
//!   glibc formats straight into the program's buffer, and the stream's write pointer
//!   is advanced afterwards: no copy. If the text outgrows the room, glibc hands the
//!   filled room to `cookie_write`, which gives it to the program's stream as pending
//!   output and moves the private FILE onto its own 8 KiB buffer for the rest.
//! * Otherwise (line-buffered, unbuffered, no room, `dprintf`) the text goes through
//!   the private buffer and is written as `fwrite` would write it: through
//!   `output::Stream`, whose writes park.
//!
//! The bytes are glibc's; where glibc would have flushed part of a long format mid-way,
//! the split between what is written and what stays buffered may differ, never the
//! order. Any other stream goes to glibc's function with the caller's `va_list`.

use super::output::{Stream, copy_in, fits, glibc_call, real_fwrite, resolve};
use super::field;
use crate::fd::io::{self as fio, Plan};
use crate::fd::table::FdEntry;
use crate::hub::Hub;
use crate::sys::real::Lazy;
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};
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

/// glibc's `cookie_io_functions_t`.
#[repr(C)]
struct CookieIo {
    read: usize,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
    seek: usize,
    close: usize,
}

unsafe extern "C" {
    static mut stdout: *mut FILE;
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, io: CookieIo) -> *mut FILE;
    fn __fsetlocking(fp: *mut FILE, how: c_int) -> c_int;
    fn setvbuf(fp: *mut FILE, buf: *mut c_char, mode: c_int, size: usize) -> c_int;
}

const OFF_READ_PTR: usize = 8;
const OFF_READ_END: usize = 16;
const OFF_READ_BASE: usize = 24;
const OFF_WRITE_BASE: usize = 32;
const OFF_WRITE_PTR: usize = 40;
const OFF_WRITE_END: usize = 48;
const OFF_BUF_BASE: usize = 56;
const OFF_BUF_END: usize = 64;
const IO_ERR_SEEN: c_int = 0x20;
const IO_EOF_SEEN: c_int = 0x10;
const IO_CURRENTLY_PUTTING: c_int = 0x800;
const IO_UNBUFFERED: c_int = 0x2;
const IO_LINE_BUF: c_int = 0x200;
const FSETLOCKING_BYCALLER: c_int = 2;
const FORMAT_BUF: usize = 8192;

macro_rules! real_fns {
    ($($name:ident => $sym:literal ($($arg:ident : $ty:ty),*) -> $ret:ty;)*) => {$(
        #[inline(always)]
        unsafe fn $name($($arg: $ty),*) -> $ret {
            static REAL: Lazy = Lazy::new($sym, $sym);
            static ADDR: AtomicUsize = AtomicUsize::new(0);
            let mut p = ADDR.load(Ordering::Relaxed);
            if p == 0 {
                p = resolve(&REAL, &ADDR, $sym);
            }
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

/// Where a formatter's text goes.
enum Sink {
    Idle,
    /// The program's FILE; `stream` is opened (busy mark, lock) once text must be
    /// written rather than copied into its buffer.
    File { fp: *mut FILE, stream: Option<Stream> },
    /// `dprintf`'s fd.
    Fd { h: *mut Hub, fd: c_int, e: *mut FdEntry },
}

/// A private FILE (`fopencookie`, fully buffered, no locking) that glibc formats into.
struct Formatter {
    cf: *mut FILE,
    /// The FILE's own buffer (`FORMAT_BUF` bytes, ours: glibc never frees it).
    own: *mut u8,
    /// The program's FILE whose free room `cf` is formatting into, if it is.
    aliased: *mut FILE,
    sink: Sink,
    /// Next idle formatter in the pool.
    next: *mut Formatter,
}

/// Points `cf`'s buffer (and with it an empty put area) at `[base, end)`.
///
/// # Safety
/// `cf` is a formatter's FILE; `[base, end)` is writable.
unsafe fn set_area(cf: *mut FILE, base: *mut u8, end: *mut u8) {
    // SAFETY: per contract.
    unsafe {
        for off in [OFF_BUF_BASE, OFF_READ_BASE, OFF_READ_PTR, OFF_READ_END, OFF_WRITE_BASE, OFF_WRITE_PTR] {
            *field::<*mut u8>(cf, off) = base;
        }
        *field::<*mut u8>(cf, OFF_WRITE_END) = end;
        *field::<*mut u8>(cf, OFF_BUF_END) = end;
        // Fully buffered again even if exit's or fcloseall's clean-up unbuffered it.
        *field::<c_int>(cf, 0) = (*field::<c_int>(cf, 0) | IO_CURRENTLY_PUTTING) & !(IO_ERR_SEEN | IO_EOF_SEEN | IO_UNBUFFERED | IO_LINE_BUF);
    }
}

impl Formatter {
    /// Writes `n` bytes of formatted text to the sink. False on a failed write.
    ///
    /// # Safety
    /// `p` holds `n` readable bytes.
    unsafe fn deliver(&mut self, p: *const u8, n: usize) -> bool {
        match &mut self.sink {
            Sink::Idle => false,
            Sink::File { fp, stream } => {
                let fp = *fp;
                if stream.is_none() {
                    // SAFETY: fp is the program's live FILE; p has n bytes.
                    unsafe {
                        if fits(fp, n) {
                            return real_fwrite(p.cast(), 1, n, fp) == n;
                        }
                        *stream = Stream::open(fp, false);
                    }
                }
                match stream {
                    // SAFETY: p has n bytes.
                    Some(st) => unsafe { st.sputn(p, n) == n },
                    // SAFETY: as above (the stream is no longer one the shim serves).
                    None => unsafe { real_fwrite(p.cast(), 1, n, fp) == n },
                }
            }
            Sink::Fd { h, fd, e } => {
                let mut done = 0;
                while done < n {
                    // SAFETY: p has n bytes.
                    let iov = libc::iovec { iov_base: unsafe { p.add(done) } as *mut c_void, iov_len: n - done };
                    match fio::writev(*h, *fd, *e, &iov, 1) {
                        Ok(k) if k > 0 => done += k,
                        Ok(_) => return false,
                        Err(err) => {
                            err.set();
                            return false;
                        }
                    }
                }
                true
            }
        }
    }

    /// Delivers what the private FILE still holds and empties it. False on a failed write.
    ///
    /// # Safety
    /// `self.cf` is the formatter's FILE.
    unsafe fn finish(&mut self) -> bool {
        // SAFETY: cf is live; its put area lies in its own buffer or, aliased, in the
        // program's free room.
        unsafe {
            let (b, p) = (*field::<*mut u8>(self.cf, OFF_WRITE_BASE), *field::<*mut u8>(self.cf, OFF_WRITE_PTR));
            if !self.aliased.is_null() {
                // Formatted in place: the text is already where fwrite would copy it.
                *field::<*mut u8>(self.aliased, OFF_WRITE_PTR) = p;
                return true;
            }
            b.is_null() || p <= b || self.deliver(b, p as usize - b as usize)
        }
    }
}

/// glibc calls this when the private FILE's buffer is full (or for a piece larger than
/// it): pass the text on. Returns the count taken, or -1 (the format then fails).
unsafe extern "C" fn cookie_write(cookie: *mut c_void, p: *const c_char, n: usize) -> isize {
    // SAFETY: cookie is the Formatter this FILE was made for; p has n bytes.
    unsafe {
        let f = cookie as *mut Formatter;
        let t = (*f).aliased;
        if !t.is_null() && p as *mut u8 == *field::<*mut u8>(t, OFF_WRITE_PTR) {
            // The program's free room is full of text: it becomes the stream's pending
            // output, and the rest is formatted into our own buffer (glibc resets the put
            // area from buf_base/buf_end after this returns).
            (*f).aliased = core::ptr::null_mut();
            *field::<*mut u8>(t, OFF_WRITE_PTR) = (p as *mut u8).add(n);
            *field::<*mut u8>((*f).cf, OFF_BUF_BASE) = (*f).own;
            *field::<*mut u8>((*f).cf, OFF_BUF_END) = (*f).own.add(FORMAT_BUF);
            return n as isize;
        }
        if (*f).deliver(p.cast(), n) { n as isize } else { -1 }
    }
}

/// Idle formatters. Hub thread only (every user holds a `Plan::Green`).
/// A list linked through `Formatter::next`.
static POOL: crate::sys::Shared<*mut Formatter> = crate::sys::Shared::new(core::ptr::null_mut());

/// In a fork's child.
pub fn after_fork_child() {
    POOL.after_fork_child();
}

/// An idle formatter aimed at `sink`, or None if none can be made (out of memory).
fn take(sink: Sink) -> Option<*mut Formatter> {
    // Pooled formatters live forever; the list is shared by the hubs.
    let head = POOL.with(|p| {
        let head = *p;
        if !head.is_null() {
            // SAFETY: head is a pooled formatter.
            *p = unsafe { (*head).next };
        }
        head
    });
    let f = match head.is_null() {
        false => head,
        true => {
            // SAFETY: plain allocation (malloc is not hooked).
            let own = unsafe { libc::malloc(FORMAT_BUF) } as *mut u8;
            if own.is_null() {
                return None;
            }
            let f = Box::into_raw(Box::new(Formatter { cf: core::ptr::null_mut(), own, aliased: core::ptr::null_mut(), sink: Sink::Idle, next: core::ptr::null_mut() }));
            let io = CookieIo { read: 0, write: Some(cookie_write), seek: 0, close: 0 };
            // SAFETY: f lives forever (pooled); glibc's FILE functions are not hooked.
            unsafe {
                let cf = fopencookie(f.cast(), c"w".as_ptr(), io);
                if cf.is_null() {
                    libc::free(own.cast());
                    drop(Box::from_raw(f));
                    return None;
                }
                __fsetlocking(cf, FSETLOCKING_BYCALLER);
                // A user buffer: glibc never frees or replaces it.
                setvbuf(cf, own.cast(), libc::_IOFBF, FORMAT_BUF);
                (*f).cf = cf;
            }
            f
        }
    };
    // SAFETY: f is ours until given back; the program's FILE (if any) is live.
    unsafe {
        let (cf, own) = ((*f).cf, (*f).own);
        (*f).aliased = core::ptr::null_mut();
        match sink {
            // A fully buffered stream with room and no lock to take (copy_in of nothing
            // checks that and orients the stream, as vfprintf does): format in place.
            Sink::File { fp, .. } if fits(fp, 1) && copy_in(fp, own, 0, false) => {
                (*f).aliased = fp;
                set_area(cf, *field::<*mut u8>(fp, OFF_WRITE_PTR), *field::<*mut u8>(fp, OFF_WRITE_END));
            }
            _ => set_area(cf, own, own.add(FORMAT_BUF)),
        }
        (*f).sink = sink;
    }
    Some(f)
}

/// Returns a formatter to the pool, its FILE empty and without error.
///
/// # Safety
/// `f` came from [`take`].
unsafe fn give(f: *mut Formatter) {
    // SAFETY: per contract.
    unsafe {
        (*f).sink = Sink::Idle;
        (*f).aliased = core::ptr::null_mut();
        // Empty: glibc's fflush(NULL) and exit walk every FILE, this one included, and
        // must find nothing to write (its buffer is a user buffer: never freed).
        let cf = (*f).cf;
        *field::<*mut u8>(cf, OFF_WRITE_BASE) = *field::<*mut u8>(cf, OFF_WRITE_PTR);
        POOL.with(|p| {
            (*f).next = *p;
            *p = f;
        });
    }
}

/// Formats into formatter `f` and passes the text to its sink; the value `vfprintf`
/// returns.
///
/// # Safety
/// The program's arguments; `f` came from [`take`].
unsafe fn format(f: *mut Formatter, flag: Option<c_int>, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: per contract.
    unsafe {
        let cf = (*f).cf;
        let r = match flag {
            Some(fl) => real_vfprintf_chk(cf, fl, fmt, ap),
            None => real_vfprintf(cf, fmt, ap),
        };
        let delivered = r >= 0 && (*f).finish();
        give(f);
        if delivered { r } else { -1 }
    }
}

/// Whether the shim serves output to `fp`: a byte-oriented writable FILE on a pollable
/// fd, on the hub. Everything else goes to glibc as is.
///
/// # Safety
/// `fp` is null or a live FILE.
#[inline(always)]
unsafe fn served(fp: *mut FILE) -> bool {
    // SAFETY: fp is live (checked non-null).
    unsafe {
        !fp.is_null()
            && *field::<c_int>(fp, super::OFF_MODE) <= 0
            && *field::<c_int>(fp, 0) & super::IO_NO_WRITES == 0
            && matches!(fio::prepare(*field::<c_int>(fp, super::OFF_FILENO)), Plan::Green(..))
    }
}

/// `vfprintf` / `__vfprintf_chk` on `fp`.
///
/// # Safety
/// The program's arguments.
#[inline(always)]
unsafe fn vfprintf_impl(fp: *mut FILE, flag: Option<c_int>, fmt: *const c_char, ap: *mut VaList) -> c_int {
    // SAFETY: fp is the program's FILE; forwarded.
    unsafe {
        if served(fp) {
            return vfprintf_served(fp, flag, fmt, ap);
        }
        glibc_call(fp, || match flag {
            Some(fl) => real_vfprintf_chk(fp, fl, fmt, ap),
            None => real_vfprintf(fp, fmt, ap),
        })
    }
}

/// [`vfprintf_impl`] on a stream the shim serves.
///
/// # Safety
/// The program's arguments; `served(fp)`.
#[inline(never)]
unsafe fn vfprintf_served(fp: *mut FILE, flag: Option<c_int>, fmt: *const c_char, ap: *mut VaList) -> c_int {
    match take(Sink::File { fp, stream: None }) {
        // SAFETY: the program's arguments.
        Some(f) => unsafe { format(f, flag, fmt, ap) },
        // SAFETY: forwarded with the caller's va_list (out of memory for a formatter).
        None => unsafe {
            match flag {
                Some(fl) => real_vfprintf_chk(fp, fl, fmt, ap),
                None => real_vfprintf(fp, fmt, ap),
            }
        },
    }
}

/// `vdprintf` / `__vdprintf_chk` on `fd`: formatted, then written with the parking
/// write until all of it is out or an error comes (glibc's temporary FILE does the
/// same with its internal write).
///
/// # Safety
/// The program's arguments.
unsafe fn vdprintf_impl(fd: c_int, flag: Option<c_int>, fmt: *const c_char, ap: *mut VaList) -> c_int {
    let f = match fio::prepare(fd) {
        Plan::Green(h, e) => take(Sink::Fd { h, fd, e }),
        Plan::Bypass(_) => None,
    };
    match f {
        // SAFETY: the program's arguments.
        Some(f) => unsafe { format(f, flag, fmt, ap) },
        // SAFETY: forwarded with the caller's va_list.
        None => unsafe {
            match flag {
                Some(fl) => real_vdprintf_chk(fd, fl, fmt, ap),
                None => real_vdprintf(fd, fmt, ap),
            }
        },
    }
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
