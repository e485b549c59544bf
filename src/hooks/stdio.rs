//! stdio input: `fgets`, `fread`, `getline`/`getdelim`, `fgetc`/`getc`/`getchar` (and
//! their `_unlocked`, `_chk` and `__uflow`/`__underflow` forms).
//!
//! glibc refills a FILE's buffer with its internal `read`, which no preload can hook, so
//! a thread reading a pipe, socket or tty through stdio would stop every green thread.
//! These hooks never let glibc read from a pollable fd that has no data: when the
//! buffer is empty they park until the fd is readable, then let glibc refill it once
//! (`__underflow`: one `read`, which returns at once), and take from the buffer only as
//! much as it holds, so a line arriving in pieces is collected across parks.
//!
//! The FILE fields used (`_flags`, `_IO_read_ptr`, `_IO_read_end`, `_fileno`, `_mode`)
//! are glibc's public `struct _IO_FILE`, stable since glibc 2.1. Regular files, memory
//! streams (no fd) and wide-oriented streams go straight to glibc. The FILE lock is not
//! held across a park: it would not exclude other green threads anyway (glibc's
//! recursive lock sees one owner, the OS thread).
//!
//! Output (`output`, `printf`) is the mirror image: glibc is never left a buffer to
//! write to a pollable fd; the shim writes it with its parking write.

pub mod output;
pub mod printf;

use crate::fd::io::{self as fio, Dir, Plan};
use crate::fd::table;
use crate::green::Reason;
use crate::sys::{self, Errno, real};
use core::ffi::{c_char, c_int, c_void};
use libc::FILE;

const OFF_READ_PTR: usize = 8;
const OFF_READ_END: usize = 16;
const OFF_BUF_BASE: usize = 56;
const OFF_BUF_END: usize = 64;
const OFF_SAVE_BASE: usize = 72;
const OFF_SAVE_END: usize = 88;
const OFF_FILENO: usize = 112;
const OFF_OFFSET: usize = 144;
const OFF_WIDE_DATA: usize = 160;
const OFF_MODE: usize = 192;
const IO_EOF_SEEN: c_int = 0x10;
const IO_ERR_SEEN: c_int = 0x20;
const IO_NO_READS: c_int = 0x4;
const IO_CURRENTLY_PUTTING: c_int = 0x800;
const IO_IN_BACKUP: c_int = 0x100;
const IO_LINE_BUF: c_int = 0x200;
const IO_UNBUFFERED: c_int = 0x2;
const IO_LINKED: c_int = 0x80;
const IO_NO_WRITES: c_int = 0x8;
const EOF: c_int = -1;

unsafe extern "C" {
    static mut stdin: *mut FILE;
    static mut stdout: *mut FILE;
    fn __chk_fail() -> !;
}

/// Typed access to the public fields of glibc's `struct _IO_FILE`.
///
/// # Safety
/// `fp` is a live glibc FILE.
unsafe fn field<T>(fp: *mut FILE, off: usize) -> *mut T {
    // SAFETY: per contract, off is a field offset inside the struct.
    unsafe { (fp as *mut u8).add(off).cast() }
}

/// Bytes in the FILE's read buffer.
unsafe fn buffered(fp: *mut FILE) -> usize {
    // SAFETY: fp is live (caller).
    unsafe {
        if *field::<c_int>(fp, 0) & IO_CURRENTLY_PUTTING != 0 {
            return 0;
        }
        let (p, e) = (*field::<*mut u8>(fp, OFF_READ_PTR), *field::<*mut u8>(fp, OFF_READ_END));
        if p.is_null() || e <= p { 0 } else { e as usize - p as usize }
    }
}

/// After an `ungetc` the FILE reads from a pushback area; the main buffer is parked in
/// `_IO_save_base.._IO_save_end` and glibc switches back to it without reading.
unsafe fn main_area_after_backup(fp: *mut FILE) -> usize {
    // SAFETY: fp is live (caller).
    unsafe {
        if *field::<c_int>(fp, 0) & IO_IN_BACKUP == 0 {
            return 0;
        }
        let (b, e) = (*field::<*mut u8>(fp, OFF_SAVE_BASE), *field::<*mut u8>(fp, OFF_SAVE_END));
        if b.is_null() || e <= b { 0 } else { e as usize - b as usize }
    }
}

/// Wide characters buffered in a wide-oriented FILE (`_wide_data->_IO_read_ptr/end`).
unsafe fn wide_buffered(fp: *mut FILE) -> usize {
    // SAFETY: fp is live (caller); _wide_data is set on every glibc FILE that has
    // been wide-oriented.
    unsafe {
        let w = *field::<*mut *mut u8>(fp, OFF_WIDE_DATA);
        if w.is_null() {
            return 0;
        }
        let (p, e) = (*w, *w.add(1));
        if p.is_null() || e <= p { 0 } else { e as usize - p as usize }
    }
}

/// Wide-character input: wait until the wide buffer or the byte buffer holds data, or
/// the fd is readable; then glibc converts (reading once more only if a multibyte
/// character is incomplete).
unsafe fn wait_wide(fp: *mut FILE) -> Result<(), Errno> {
    // SAFETY: fp is the program's FILE.
    unsafe {
        if fp.is_null() || crate::hub::local().is_none() || *field::<c_int>(fp, 0) & (IO_EOF_SEEN | IO_NO_READS) != 0 {
            return Ok(());
        }
        if *field::<c_int>(fp, OFF_FILENO) < 0 || wide_buffered(fp) > 0 {
            return Ok(());
        }
        wait_input(fp)
    }
}

/// Whether the shim serves reads of `fp` (on the hub, byte-oriented, not at a sticky
/// end of file). Everything else goes straight to glibc.
unsafe fn eligible(fp: *mut FILE) -> bool {
    if fp.is_null() || crate::hub::local().is_none() {
        return false;
    }
    // SAFETY: fp is the program's FILE.
    unsafe { *field::<c_int>(fp, OFF_MODE) <= 0 && *field::<c_int>(fp, 0) & (IO_EOF_SEEN | IO_NO_READS) == 0 && *field::<c_int>(fp, OFF_FILENO) >= 0 }
}

/// Waits until reading `fp` cannot block: its buffer holds data, its fd is readable,
/// or its fd is not one epoll can watch (then glibc reads as usual). Err carries the
/// errno a blocking read would have failed with (a signal, a close).
unsafe fn wait_input(fp: *mut FILE) -> Result<(), Errno> {
    // SAFETY: fp is live (caller).
    if unsafe { buffered(fp) > 0 || main_area_after_backup(fp) > 0 } {
        return Ok(());
    }
    // SAFETY: as above.
    let fd = unsafe { *field::<c_int>(fp, OFF_FILENO) };
    let Plan::Green(h, e) = fio::prepare(fd) else { return Ok(()) };
    let mut flushed = false;
    loop {
        if !sys::poll_now(fd, libc::POLLIN).is_ok_and(|r| r == 0) || table::program_nonblocking(fd, e) {
            return Ok(());
        }
        if !flushed {
            // SAFETY: fp is live.
            unsafe { flush_prompt(fp, fd) };
            flushed = true;
        }
        // SAFETY: hub thread; e is fd's entry.
        let timeout = unsafe { (*e).rcvtimeo };
        match fio::park_on(h, fd, e, Dir::Read, fio::deadline_after(timeout), Reason::Read) {
            Ok(w) => fio::woke(w, Errno::EAGAIN)?,
            Err(_) => return Ok(()),
        }
    }
}

/// For hooks that then let glibc read (the scanf family): wait until the first read of
/// `fp` cannot block. An interrupted or failed wait is left for glibc's own read to meet.
///
/// # Safety
/// `fp` is a live FILE.
pub unsafe fn wait_before_read(fp: *mut FILE) {
    // SAFETY: per contract.
    unsafe {
        if eligible(fp) {
            let _ = wait_input(fp);
        }
    }
}

/// glibc's `stdin` stream.
pub fn stdin_stream() -> *mut FILE {
    // SAFETY: reading the pointer glibc keeps in `stdin`.
    unsafe { stdin }
}

/// What glibc does before reading a line-buffered or unbuffered stream (a terminal):
/// flush a line-buffered stdout, so that a prompt printed without a newline shows
/// before the wait. A stream whose buffer is not allocated yet becomes line-buffered
/// on its first read if it is a terminal.
unsafe fn flush_prompt(fp: *mut FILE, fd: c_int) {
    // SAFETY: fp and glibc's stdout are live FILEs.
    unsafe {
        let flags = *field::<c_int>(fp, 0);
        let unallocated = (*field::<*mut u8>(fp, OFF_BUF_BASE)).is_null();
        if flags & (IO_LINE_BUF | IO_UNBUFFERED) == 0 && !(unallocated && libc::isatty(fd) == 1) {
            return;
        }
        let out = stdout;
        if out.is_null() || out == fp {
            return;
        }
        if *field::<c_int>(out, 0) & (IO_LINKED | IO_NO_WRITES | IO_LINE_BUF) == IO_LINKED | IO_LINE_BUF {
            output::flush_before_read(out);
        }
    }
}

/// Records a failed read as glibc would: the error flag and errno.
unsafe fn fail(fp: *mut FILE, e: Errno) {
    // SAFETY: fp is live (caller).
    unsafe { *field::<c_int>(fp, 0) |= IO_ERR_SEEN };
    e.set();
}

/// Makes sure the buffer holds data (parking, then one refill). Returns false at end of
/// file or on an error (flags and errno set by glibc or by `fail`).
unsafe fn fill(fp: *mut FILE) -> bool {
    // SAFETY: fp is live (caller).
    unsafe {
        if let Err(e) = wait_input(fp) {
            fail(fp, e);
            return false;
        }
        buffered(fp) > 0 || real::__underflow(fp) != EOF && buffered(fp) > 0
    }
}

unsafe fn fgets_impl(s: *mut c_char, n: c_int, fp: *mut FILE, unlocked: bool) -> *mut c_char {
    let real_fgets = |s: *mut c_char, n: c_int| {
        // SAFETY: forwarded to glibc with the program's buffer.
        unsafe { if unlocked { real::fgets_unlocked(s, n, fp) } else { real::fgets(s, n, fp) } }
    };
    // SAFETY: fp is the program's FILE.
    if n <= 1 || unsafe { !eligible(fp) } {
        // SAFETY: fp is the program's FILE.
        return unsafe { output::glibc_call_as(fp, false, || real_fgets(s, n)) };
    }
    let mut total = 0usize;
    let room = n as usize - 1;
    // SAFETY: fp is live; s has n bytes (the program's contract).
    unsafe {
        while total < room {
            if !fill(fp) {
                break;
            }
            // Take at most what is buffered: glibc then copies without reading.
            let take = buffered(fp).min(room - total);
            let before = *field::<*mut u8>(fp, OFF_READ_PTR);
            real_fgets(s.add(total), take as c_int + 1);
            let got = *field::<*mut u8>(fp, OFF_READ_PTR) as usize - before as usize;
            total += got;
            if got == 0 || *s.add(total - 1) == b'\n' as c_char {
                break;
            }
        }
        if total == 0 {
            return core::ptr::null_mut();
        }
        *s.add(total) = 0;
    }
    s
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fgets(s: *mut c_char, n: c_int, fp: *mut FILE) -> *mut c_char {
    // SAFETY: forwarded.
    unsafe { fgets_impl(s, n, fp, false) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fgets_unlocked(s: *mut c_char, n: c_int, fp: *mut FILE) -> *mut c_char {
    // SAFETY: forwarded.
    unsafe { fgets_impl(s, n, fp, true) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __fgets_chk(s: *mut c_char, size: usize, n: c_int, fp: *mut FILE) -> *mut c_char {
    if n as usize > size {
        // SAFETY: glibc's fortify failure; never returns.
        unsafe { __chk_fail() }
    }
    // SAFETY: forwarded.
    unsafe { fgets_impl(s, n, fp, false) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __fgets_unlocked_chk(s: *mut c_char, size: usize, n: c_int, fp: *mut FILE) -> *mut c_char {
    if n as usize > size {
        // SAFETY: never returns.
        unsafe { __chk_fail() }
    }
    // SAFETY: forwarded.
    unsafe { fgets_impl(s, n, fp, true) }
}

/// The direct path of a large `fread`: None when the buffered path applies; else the
/// bytes read (0 at end of file or on an error, with the FILE's flag set as glibc would).
unsafe fn direct_read(fp: *mut FILE, dst: *mut u8, want: usize) -> Option<usize> {
    // SAFETY: fp is live (caller).
    unsafe {
        let flags = *field::<c_int>(fp, 0);
        if flags & (IO_CURRENTLY_PUTTING | IO_IN_BACKUP) != 0 || buffered(fp) > 0 {
            return None;
        }
        let (b, e) = (*field::<*mut u8>(fp, OFF_BUF_BASE), *field::<*mut u8>(fp, OFF_BUF_END));
        if b.is_null() || e <= b || want < e as usize - b as usize {
            return None;
        }
        let fd = *field::<c_int>(fp, OFF_FILENO);
        if !matches!(fio::prepare(fd), Plan::Green(..)) {
            return None;
        }
        match crate::hooks::io::read(fd, dst.cast(), want) {
            n if n > 0 => {
                let off = field::<i64>(fp, OFF_OFFSET);
                if *off != -1 {
                    *off += n as i64;
                }
                Some(n as usize)
            }
            0 => {
                *field::<c_int>(fp, 0) |= IO_EOF_SEEN;
                Some(0)
            }
            _ => {
                *field::<c_int>(fp, 0) |= IO_ERR_SEEN;
                Some(0)
            }
        }
    }
}

unsafe fn fread_impl(ptr: *mut c_void, size: usize, nmemb: usize, fp: *mut FILE, unlocked: bool) -> usize {
    let real_fread = |p: *mut c_void, n: usize| {
        // SAFETY: forwarded to glibc with the program's buffer.
        unsafe { if unlocked { real::fread_unlocked(p, 1, n, fp) } else { real::fread(p, 1, n, fp) } }
    };
    let bytes = size.saturating_mul(nmemb);
    // SAFETY: fp is the program's FILE.
    if bytes == 0 || unsafe { !eligible(fp) } {
        // SAFETY: forwarded.
        return unsafe { output::glibc_call_as(fp, false, || if unlocked { real::fread_unlocked(ptr, size, nmemb, fp) } else { real::fread(ptr, size, nmemb, fp) }) };
    }
    let mut total = 0usize;
    // SAFETY: fp is live; ptr has `bytes` bytes of room.
    unsafe {
        while total < bytes {
            // A request of at least a buffer's size with the buffer empty: read straight
            // into the program's memory, as glibc does, through the parking `read`.
            if let Some(r) = direct_read(fp, (ptr as *mut u8).add(total), bytes - total) {
                match r {
                    0 => break,
                    n => {
                        total += n;
                        continue;
                    }
                }
            }
            if !fill(fp) {
                break;
            }
            let take = buffered(fp).min(bytes - total);
            let got = real_fread((ptr as *mut u8).add(total).cast(), take);
            total += got;
            if got == 0 {
                break;
            }
        }
    }
    total / size
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fread(ptr: *mut c_void, size: usize, nmemb: usize, fp: *mut FILE) -> usize {
    // SAFETY: forwarded.
    unsafe { fread_impl(ptr, size, nmemb, fp, false) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fread_unlocked(ptr: *mut c_void, size: usize, nmemb: usize, fp: *mut FILE) -> usize {
    // SAFETY: forwarded.
    unsafe { fread_impl(ptr, size, nmemb, fp, true) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __fread_chk(ptr: *mut c_void, ptrlen: usize, size: usize, nmemb: usize, fp: *mut FILE) -> usize {
    if size.checked_mul(nmemb).is_none_or(|b| b > ptrlen) {
        // SAFETY: never returns.
        unsafe { __chk_fail() }
    }
    // SAFETY: forwarded.
    unsafe { fread_impl(ptr, size, nmemb, fp, false) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __fread_unlocked_chk(ptr: *mut c_void, ptrlen: usize, size: usize, nmemb: usize, fp: *mut FILE) -> usize {
    if size.checked_mul(nmemb).is_none_or(|b| b > ptrlen) {
        // SAFETY: never returns.
        unsafe { __chk_fail() }
    }
    // SAFETY: forwarded.
    unsafe { fread_impl(ptr, size, nmemb, fp, true) }
}

/// One character: wait for input if the buffer is empty, then glibc (which reads once).
macro_rules! char_reader {
    ($($name:ident => $real:ident;)*) => {$(
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fp: *mut FILE) -> c_int {
            // SAFETY: fp is the program's FILE.
            unsafe {
                if eligible(fp) {
                    if let Err(e) = wait_input(fp) {
                        fail(fp, e);
                        return EOF;
                    }
                    return real::$real(fp);
                }
                output::glibc_call_as(fp, false, || real::$real(fp))
            }
        }
    )*};
}

char_reader! {
    fgetc => fgetc;
    getc => getc;
    _IO_getc => _IO_getc;
    fgetc_unlocked => fgetc_unlocked;
    getc_unlocked => getc_unlocked;
    __uflow => __uflow;
    __underflow => __underflow;
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getchar() -> c_int {
    // SAFETY: glibc's stdin stream.
    unsafe { getc(stdin) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getchar_unlocked() -> c_int {
    // SAFETY: glibc's stdin stream.
    unsafe { getc_unlocked(stdin) }
}

unsafe fn getdelim_impl(line: *mut *mut c_char, cap: *mut usize, delim: c_int, fp: *mut FILE) -> isize {
    // SAFETY: fp is the program's FILE.
    if line.is_null() || cap.is_null() || unsafe { !eligible(fp) } {
        // SAFETY: forwarded (glibc reports EINVAL for null pointers).
        return unsafe { output::glibc_call_as(fp, false, || real::getdelim(line, cap, delim, fp)) };
    }
    // SAFETY: line/cap are the program's in-out parameters; fp is live.
    unsafe {
        if (*line).is_null() || *cap == 0 {
            *cap = 120;
            let p = libc::realloc((*line).cast(), *cap) as *mut c_char;
            if p.is_null() {
                fail(fp, Errno(libc::ENOMEM));
                return -1;
            }
            *line = p;
        }
        let mut cur = 0usize;
        loop {
            if !fill(fp) {
                break;
            }
            let start = *field::<*mut u8>(fp, OFF_READ_PTR);
            let avail = core::slice::from_raw_parts(start, buffered(fp));
            let (len, found) = match avail.iter().position(|&c| c == delim as u8) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if cur + len + 1 > *cap {
                let want = (cur + len + 1).max(*cap * 2);
                let p = libc::realloc((*line).cast(), want) as *mut c_char;
                if p.is_null() {
                    fail(fp, Errno(libc::ENOMEM));
                    return -1;
                }
                *line = p;
                *cap = want;
            }
            core::ptr::copy_nonoverlapping(start, (*line as *mut u8).add(cur), len);
            *field::<*mut u8>(fp, OFF_READ_PTR) = start.add(len);
            cur += len;
            if found {
                break;
            }
        }
        if cur == 0 {
            return -1;
        }
        *(*line).add(cur) = 0;
        cur as isize
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getdelim(line: *mut *mut c_char, cap: *mut usize, delim: c_int, fp: *mut FILE) -> isize {
    // SAFETY: forwarded.
    unsafe { getdelim_impl(line, cap, delim, fp) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __getdelim(line: *mut *mut c_char, cap: *mut usize, delim: c_int, fp: *mut FILE) -> isize {
    // SAFETY: forwarded.
    unsafe { getdelim_impl(line, cap, delim, fp) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getline(line: *mut *mut c_char, cap: *mut usize, fp: *mut FILE) -> isize {
    // SAFETY: forwarded.
    unsafe { getdelim_impl(line, cap, b'\n' as c_int, fp) }
}

const WEOF: u32 = 0xffff_ffff;

macro_rules! wide_char_reader {
    ($($name:ident => $real:ident;)*) => {$(
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fp: *mut FILE) -> u32 {
            // SAFETY: fp is the program's FILE.
            unsafe {
                if let Err(e) = wait_wide(fp) {
                    fail(fp, e);
                    return WEOF;
                }
                real::$real(fp)
            }
        }
    )*};
}

wide_char_reader! {
    fgetwc => fgetwc;
    getwc => getwc;
    fgetwc_unlocked => fgetwc_unlocked;
    getwc_unlocked => getwc_unlocked;
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getwchar() -> u32 {
    // SAFETY: glibc's stdin stream.
    unsafe { getwc(stdin) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getwchar_unlocked() -> u32 {
    // SAFETY: glibc's stdin stream.
    unsafe { getwc_unlocked(stdin) }
}

/// `fgetws` waits for the first input; a line arriving in pieces is then read by glibc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fgetws(s: *mut libc::wchar_t, n: c_int, fp: *mut FILE) -> *mut libc::wchar_t {
    // SAFETY: fp is the program's FILE; forwarded.
    unsafe {
        if let Err(e) = wait_wide(fp) {
            fail(fp, e);
            return core::ptr::null_mut();
        }
        real::fgetws(s, n, fp)
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fgetws_unlocked(s: *mut libc::wchar_t, n: c_int, fp: *mut FILE) -> *mut libc::wchar_t {
    // SAFETY: as in fgetws.
    unsafe {
        if let Err(e) = wait_wide(fp) {
            fail(fp, e);
            return core::ptr::null_mut();
        }
        real::fgetws_unlocked(s, n, fp)
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __fgetws_chk(s: *mut libc::wchar_t, size: usize, n: c_int, fp: *mut FILE) -> *mut libc::wchar_t {
    if n as usize > size {
        // SAFETY: never returns.
        unsafe { __chk_fail() }
    }
    // SAFETY: forwarded.
    unsafe { fgetws(s, n, fp) }
}

/// `gets` (gone from C11, still exported for old binaries): waits for the first input.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gets(s: *mut c_char) -> *mut c_char {
    // SAFETY: glibc's stdin; forwarded.
    unsafe {
        let fp = stdin;
        if eligible(fp) {
            if let Err(e) = wait_input(fp) {
                fail(fp, e);
                return core::ptr::null_mut();
            }
        }
        real::gets(s)
    }
}
