//! stdio output: `fwrite`, `fputs`, `puts`, `fputc`/`putc`/`putchar`, `__overflow`,
//! `fflush` (also of every stream), `fclose`'s flush, and through [`Stream`] the
//! `printf` family (`printf.rs`).
//!
//! glibc empties a FILE's buffer with its internal `write`, which no preload can see: on
//! a pipe or socket whose reader is a green thread of this process that write would
//! block the hub's only OS thread, and the reader would never run. So glibc is never
//! left anything to write on a pollable fd. When a call would make glibc write, the
//! shim performs the call itself on the FILE's public fields, as glibc 2.36's
//! `libio/fileops.c` does (`_IO_new_file_xsputn`, `_IO_new_file_overflow`,
//! `new_do_write`, `_IO_new_file_write`, `_IO_default_xsputn`), with the parking
//! [`fio::writev`] in place of the internal write. The buffer pointers, `_offset`,
//! `_cur_column`, the error flag and what stays buffered afterwards are exactly glibc's.
//!
//! | stream          | glibc writes when…                     | done here                 |
//! |-----------------|----------------------------------------|---------------------------|
//! | fully buffered  | the data does not fit the buffer       | flush, whole blocks direct, rest buffered |
//! | line-buffered   | a `'\n'` arrives, or the buffer fills  | up to the last `'\n'` written, rest buffered |
//! | unbuffered      | always                                 | written directly          |
//!
//! Fast path: a call whose data fits the buffer of a fully buffered stream (or a
//! character that fits) is a copy into the buffer, done inline exactly as glibc's own
//! fast path does it when no lock is needed (else glibc's function is called); no
//! lookup. Only a call that would make glibc write looks the fd up (`fio::prepare`),
//! and a regular file, an fd the program made non-blocking, or a thread without the
//! hub goes to glibc as well.
//!
//! Exclusion: glibc's FILE lock is recursive on the OS thread, which every green thread
//! shares, so it cannot keep a second green thread out while the first is parked in the
//! middle of a write. Each FILE a green thread is writing through these hooks, or has
//! locked with `flockfile`, is marked busy; another green thread entering an output
//! hook or `flockfile` for it waits (parking lot, keyed on the FILE) until the first
//! returns or unlocks, as natively it would wait for the lock.

use super::{IO_ERR_SEEN, IO_LINE_BUF, IO_NO_WRITES, IO_UNBUFFERED, OFF_BUF_BASE, OFF_BUF_END, OFF_FILENO, OFF_MODE, OFF_OFFSET, OFF_READ_END, OFF_READ_PTR, field};
use crate::fd::io::{self as fio, Plan};
use crate::fd::table::FdEntry;
use crate::green::{Green, Reason};
use crate::hub::{self, Hub};
use crate::sync::parking_lot;
use crate::sys::real::Lazy;
use crate::sys::{Errno, sc};
use core::cell::UnsafeCell;
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use libc::FILE;

const OFF_READ_BASE: usize = 24;
const OFF_WRITE_BASE: usize = 32;
const OFF_WRITE_PTR: usize = 40;
const OFF_WRITE_END: usize = 48;
const OFF_CHAIN: usize = 104;
const OFF_CUR_COLUMN: usize = 128;
const OFF_FLAGS2: usize = 116;
const OFF_LOCK: usize = 136;
const IO_CURRENTLY_PUTTING: c_int = 0x800;
const IO_IS_APPENDING: c_int = 0x1000;
const IO_USER_LOCK: c_int = 0x8000;
const IO_FLAGS2_NEED_LOCK: c_int = 0x80;
const EOF: c_int = -1;

unsafe extern "C" {
    static mut stdout: *mut FILE;
    static mut _IO_list_all: *mut FILE;
    fn _IO_list_lock();
    fn _IO_list_unlock();
}

/// Defines `real_<name>`: glibc's function, resolved on first use (these hooks replace
/// the symbol, so the shim reaches glibc's through `dlsym(RTLD_NEXT)`).
macro_rules! real_fns {
    ($($name:ident => $sym:literal ($($arg:ident : $ty:ty),*) -> $ret:ty;)*) => {$(
        #[inline(always)]
        pub(super) unsafe fn $name($($arg: $ty),*) -> $ret {
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
    real_fwrite => c"fwrite" (p: *const c_void, s: usize, n: usize, fp: *mut FILE) -> usize;
    real_fwrite_unlocked => c"fwrite_unlocked" (p: *const c_void, s: usize, n: usize, fp: *mut FILE) -> usize;
    real_fputs => c"fputs" (s: *const c_char, fp: *mut FILE) -> c_int;
    real_fputs_unlocked => c"fputs_unlocked" (s: *const c_char, fp: *mut FILE) -> c_int;
    real_puts => c"puts" (s: *const c_char) -> c_int;
    real_fputc => c"fputc" (c: c_int, fp: *mut FILE) -> c_int;
    real_fputc_unlocked => c"fputc_unlocked" (c: c_int, fp: *mut FILE) -> c_int;
    real_overflow => c"__overflow" (fp: *mut FILE, c: c_int) -> c_int;
    real_fflush => c"fflush" (fp: *mut FILE) -> c_int;
    real_fflush_unlocked => c"fflush_unlocked" (fp: *mut FILE) -> c_int;
    real_flockfile => c"flockfile" (fp: *mut FILE) -> ();
    real_funlockfile => c"funlockfile" (fp: *mut FILE) -> ();
    real_ftrylockfile => c"ftrylockfile" (fp: *mut FILE) -> c_int;
    real_fopencookie => c"fopencookie" (cookie: *mut c_void, mode: *const c_char, io: CookieIo) -> *mut FILE;
}

// ---------------------------------------------------------------------------------
// Busy FILEs: which green thread is inside an output hook for which FILE.

/// One FILE a green thread is writing through these hooks (or that waiters are queued
/// for: `owner` null between a release and the woken waiter taking it).
struct Busy {
    fp: usize,
    owner: *mut Green,
    depth: u32,
    waiters: u32,
}

/// The busy FILEs, in 64 small lists by address. Touched only on hub threads (every
/// user holds a `Plan::Green`), under `BUSY_LOCK` (several hubs), never from a signal
/// handler (the hub is not `local()` there).
struct BusyTable(UnsafeCell<[Vec<Busy>; 64]>);
// SAFETY: only touched under BUSY_LOCK (see above).
unsafe impl Sync for BusyTable {}
static BUSY_LOCK: crate::sys::SpinLock = crate::sys::SpinLock::new();

static BUSY: BusyTable = BusyTable(UnsafeCell::new([const { Vec::new() }; 64]));
/// How many FILEs have an entry: the fast paths read only this (0 nearly always).
static BUSY_COUNT: AtomicU32 = AtomicU32::new(0);

/// The entry for `fp` in its list, if any. The caller holds BUSY_LOCK.
fn busy_find(fp: usize) -> Option<&'static mut Busy> {
    // SAFETY: under BUSY_LOCK (module invariant); no reference into the table is kept
    // past the lock, a park or a push.
    let list = unsafe { &mut (*BUSY.0.get())[(fp >> 4) & 63] };
    list.iter_mut().find(|b| b.fp == fp)
}

/// The key the waiters for `fp` park on (odd: no lock object lives at an odd address).
fn busy_key(fp: *mut FILE) -> usize {
    fp as usize | 1
}

/// Whether the fork handler below is registered.
static ATFORK: AtomicBool = AtomicBool::new(false);

/// In a fork child only the forking thread exists: no other green thread holds a FILE
/// (glibc likewise resets every FILE lock in the child).
extern "C" fn busy_reset_in_child() {
    BUSY_LOCK.force_unlock();
    // SAFETY: the child has one thread, running this handler.
    unsafe {
        for list in (*BUSY.0.get()).iter_mut() {
            list.clear();
        }
    }
    BUSY_COUNT.store(0, Ordering::Relaxed);
}

/// Marks `fp` busy for the running green thread, waiting while another holds it.
fn busy_enter(h: *mut Hub, fp: *mut FILE) {
    if !ATFORK.swap(true, Ordering::Relaxed) {
        // SAFETY: registers a plain function (pthread_atfork is not hooked).
        unsafe { libc::pthread_atfork(None, None, Some(busy_reset_in_child)) };
    }
    // SAFETY: h is this thread's hub.
    let me = unsafe { hub::current(h) };
    let key = fp as usize;
    loop {
        BUSY_LOCK.lock();
        match busy_find(key) {
            None => {
                // SAFETY: as in busy_find.
                unsafe { (*BUSY.0.get())[(key >> 4) & 63].push(Busy { fp: key, owner: me, depth: 1, waiters: 0 }) };
                BUSY_COUNT.fetch_add(1, Ordering::Relaxed);
                BUSY_LOCK.unlock();
                return;
            }
            Some(b) if b.owner.is_null() || b.owner == me => {
                b.owner = me;
                b.depth += 1;
                BUSY_LOCK.unlock();
                return;
            }
            Some(b) => b.waiters += 1,
        }
        BUSY_LOCK.unlock();
        let still_busy = || {
            BUSY_LOCK.lock();
            let busy = busy_find(key).is_some_and(|b| !b.owner.is_null() && b.owner != me);
            BUSY_LOCK.unlock();
            busy
        };
        parking_lot::park(busy_key(fp), still_busy, || {}, None, Reason::Mutex);
        BUSY_LOCK.lock();
        if let Some(b) = busy_find(key) {
            b.waiters -= 1;
        }
        BUSY_LOCK.unlock();
    }
}

/// Before glibc serves a call on `fp` by itself: wait while another green thread holds
/// it (inside an output call, or between `flockfile` and `funlockfile`).
///
/// # Safety
/// `fp` is a live FILE.
#[inline]
pub(super) unsafe fn wait_turn(fp: *mut FILE) {
    if BUSY_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    if let Some(h) = hub::local() {
        busy_enter(h, fp);
        busy_leave(fp);
    }
}

/// Runs glibc's own function on `fp`. A stream without an fd (fopencookie, memory
/// streams) may run program code that parks inside the call, with glibc's lock held
/// (which every green thread owns alike): it is kept busy across the whole call, so
/// another green thread's stdio call on it waits as it would for the lock. Other
/// streams only wait for a holder to finish.
///
/// # Safety
/// `fp` is null or a live FILE.
pub(in crate::hooks) unsafe fn glibc_call<R>(fp: *mut FILE, f: impl FnOnce() -> R) -> R {
    // SAFETY: forwarded.
    unsafe { glibc_call_as(fp, true, f) }
}

/// [`glibc_call`]; `wait` false: a stream with an fd does not wait for a holder (the
/// input hooks' glibc paths, which never waited).
///
/// # Safety
/// `fp` is null or a live FILE.
pub(in crate::hooks) unsafe fn glibc_call_as<R>(fp: *mut FILE, wait: bool, f: impl FnOnce() -> R) -> R {
    // SAFETY: fp is live (checked for null). With several hubs every stream is held
    // across glibc's call: glibc's own lock would make a thread on another hub wait on
    // its OS thread for a holder that may be parked.
    if !fp.is_null() && (hub::hub_count() > 1 || unsafe { *field::<c_int>(fp, OFF_FILENO) } < 0) {
        if let Some(h) = hub::local() {
            busy_enter(h, fp);
            let r = f();
            busy_leave(fp);
            return r;
        }
    }
    if wait && !fp.is_null() {
        // SAFETY: as above.
        unsafe { wait_turn(fp) };
    }
    f()
}

/// Ends one [`busy_enter`]; the last one hands the FILE to the next waiter, if any.
fn busy_leave(fp: *mut FILE) {
    let key = fp as usize;
    BUSY_LOCK.lock();
    let Some(b) = busy_find(key) else {
        BUSY_LOCK.unlock();
        return;
    };
    b.depth -= 1;
    if b.depth > 0 {
        BUSY_LOCK.unlock();
        return;
    }
    if b.waiters > 0 {
        b.owner = core::ptr::null_mut();
        BUSY_LOCK.unlock();
        parking_lot::unpark_one(busy_key(fp));
        return;
    }
    // SAFETY: as in busy_find.
    let list = unsafe { &mut (*BUSY.0.get())[(key >> 4) & 63] };
    if let Some(i) = list.iter().position(|b| b.fp == key) {
        list.swap_remove(i);
        BUSY_COUNT.fetch_sub(1, Ordering::Relaxed);
    }
    BUSY_LOCK.unlock();
}

// ---------------------------------------------------------------------------------
// Field access.

/// A pointer field of the FILE.
///
/// # Safety
/// `fp` is a live glibc FILE; `off` names a pointer field.
#[inline(always)]
unsafe fn ptr(fp: *mut FILE, off: usize) -> *mut u8 {
    // SAFETY: per contract.
    unsafe { *field::<*mut u8>(fp, off) }
}

/// # Safety
/// As for [`ptr`].
#[inline(always)]
unsafe fn set_ptr(fp: *mut FILE, off: usize, v: *mut u8) {
    // SAFETY: per contract.
    unsafe { *field::<*mut u8>(fp, off) = v }
}

/// # Safety
/// `fp` is a live glibc FILE.
#[inline(always)]
unsafe fn flags(fp: *mut FILE) -> c_int {
    // SAFETY: per contract.
    unsafe { *field::<c_int>(fp, 0) }
}

/// Whether writing `n` bytes to `fp` is a copy into its buffer for glibc: a fully
/// buffered stream in put mode with room. No lookups: this is the fast path.
#[inline(always)]
pub(super) unsafe fn fits(fp: *mut FILE, n: usize) -> bool {
    // SAFETY: fp is the program's FILE (null checked).
    unsafe {
        !fp.is_null()
            && BUSY_COUNT.load(Ordering::Relaxed) == 0
            // Several hubs: another hub may be copying into the same buffer (see
            // copy_locked).
            && hub::hub_count() <= 1
            && room(fp, n)
    }
}

/// Whether `n` bytes fit `fp`'s put area, fully buffered, in put mode.
///
/// # Safety
/// `fp` is a live FILE.
#[inline(always)]
unsafe fn room(fp: *mut FILE, n: usize) -> bool {
    // SAFETY: per contract.
    unsafe {
        flags(fp) & (IO_CURRENTLY_PUTTING | IO_LINE_BUF | IO_UNBUFFERED) == IO_CURRENTLY_PUTTING
            && !ptr(fp, OFF_WRITE_BASE).is_null()
            && ptr(fp, OFF_WRITE_END) >= ptr(fp, OFF_WRITE_PTR)
            && ptr(fp, OFF_WRITE_END) as usize - ptr(fp, OFF_WRITE_PTR) as usize >= n
    }
}

/// The fast path with several hubs: `a` then `b` (`an` and `bn` bytes) copied into
/// `fp`'s buffer under glibc's own FILE lock, taken with `ftrylockfile` — held by a
/// thread on another hub, it fails and the caller takes the slow path. The lock's owner
/// is the hub's OS thread, the same for every green thread on it, so a green thread
/// that holds the FILE through the hooks (and may have parked) shows as a busy entry,
/// checked once the lock is taken. Nothing between the lock and the unlock can park.
/// False (nothing written) when the slow path must serve the call.
///
/// # Safety
/// `fp` is null or a live FILE; `a` and `b` have `an` and `bn` readable bytes.
#[inline]
pub(super) unsafe fn copy_locked(fp: *mut FILE, a: *const u8, an: usize, b: *const u8, bn: usize) -> bool {
    if fp.is_null() || hub::hub_count() <= 1 {
        return false;
    }
    // SAFETY: fp is the program's live FILE; a and b per contract.
    unsafe {
        if real_ftrylockfile(fp) != 0 {
            return false;
        }
        let ok = BUSY_COUNT.load(Ordering::Acquire) == 0
            && room(fp, an + bn)
            && copy_in(fp, a, an, true)
            && (bn == 0 || copy_in(fp, b, bn, true));
        real_funlockfile(fp);
        ok
    }
}

/// The fast path's copy, as glibc's `fwrite`/`fputs` do it when the data fits: orient
/// the stream, copy, advance. False (nothing done) when glibc must do it: a lock to take
/// (`_IO_FLAGS2_NEED_LOCK` is set once a real OS thread was ever created) or a
/// wide-oriented stream.
///
/// # Safety
/// [`fits`]`(fp, n)` holds; `p` has `n` readable bytes.
#[inline(always)]
pub(super) unsafe fn copy_in(fp: *mut FILE, p: *const u8, n: usize, unlocked: bool) -> bool {
    // SAFETY: per contract the put area has room for n bytes.
    unsafe {
        let mode = field::<c_int>(fp, OFF_MODE);
        if *mode > 0 || !unlocked && *field::<c_int>(fp, OFF_FLAGS2) & IO_FLAGS2_NEED_LOCK != 0 {
            return false;
        }
        if *mode == 0 {
            *mode = -1;
        }
        let w = ptr(fp, OFF_WRITE_PTR);
        core::ptr::copy_nonoverlapping(p, w, n);
        set_ptr(fp, OFF_WRITE_PTR, w.add(n));
        true
    }
}

/// Whether one character written to `fp` lands in its buffer (`_IO_putc_unlocked`'s
/// test).
#[inline(always)]
unsafe fn char_fits(fp: *mut FILE) -> bool {
    // SAFETY: fp is the program's FILE (null checked).
    unsafe { !fp.is_null() && BUSY_COUNT.load(Ordering::Relaxed) == 0 && hub::hub_count() <= 1 && ptr(fp, OFF_WRITE_PTR) < ptr(fp, OFF_WRITE_END) }
}

// ---------------------------------------------------------------------------------
// A stream the shim writes itself.

/// A byte-oriented, writable FILE on a pollable fd, on the hub's thread: its writes
/// park. Made by [`Stream::open`], which marks the FILE busy (and takes glibc's lock
/// unless `unlocked`); dropping it releases both.
pub(super) struct Stream {
    fp: *mut FILE,
    h: *mut Hub,
    fd: c_int,
    e: *mut FdEntry,
    glibc_lock: bool,
}

impl Stream {
    /// None when glibc should serve the call: no hub, no fd, a wide-oriented or
    /// read-only stream, a file or an fd the program made non-blocking.
    ///
    /// # Safety
    /// `fp` is null or a live glibc FILE.
    pub(super) unsafe fn open(fp: *mut FILE, unlocked: bool) -> Option<Stream> {
        if fp.is_null() {
            return None;
        }
        // SAFETY: fp is live.
        let (fd, mode, fl) = unsafe { (*field::<c_int>(fp, OFF_FILENO), *field::<c_int>(fp, OFF_MODE), flags(fp)) };
        let plan = if fd < 0 || mode > 0 || fl & IO_NO_WRITES != 0 { None } else { Some(fio::prepare(fd)) };
        let Some(Plan::Green(h, e)) = plan else {
            // glibc serves it (the caller, through glibc_call).
            return None;
        };
        busy_enter(h, fp);
        // glibc's lock only keeps out OS threads other than the hub's; it is taken as
        // glibc's own calls take it (not for the _unlocked forms, nor FSETLOCKING_BYCALLER).
        // SAFETY: fp is live; _lock is glibc's lock pointer.
        let glibc_lock = !unlocked && fl & IO_USER_LOCK == 0 && unsafe { !(*field::<*mut c_void>(fp, OFF_LOCK)).is_null() };
        if glibc_lock {
            // SAFETY: fp is live.
            unsafe { real_flockfile(fp) };
        }
        Some(Stream { fp, h, fd, e, glibc_lock })
    }

    /// `_IO_fwide (fp, -1)` and, if the stream is not in put mode yet, glibc's
    /// `_IO_new_file_overflow (fp, EOF)`: allocate the buffer, switch from reading, set
    /// the pointers. That call writes nothing (the new put area is empty). False if
    /// glibc refused (flags and errno set by glibc).
    ///
    /// # Safety
    /// `self.fp` is live.
    unsafe fn put_mode(&self) -> bool {
        let fp = self.fp;
        // SAFETY: fp is live.
        unsafe {
            if *field::<c_int>(fp, OFF_MODE) == 0 {
                *field::<c_int>(fp, OFF_MODE) = -1;
            }
            if flags(fp) & IO_CURRENTLY_PUTTING != 0 && !ptr(fp, OFF_WRITE_BASE).is_null() {
                return true;
            }
            real_overflow(fp, EOF) != EOF
        }
    }

    /// glibc's `_IO_new_file_write`: write everything, parking while the fd is full;
    /// stop at an error (the FILE's error flag and errno set). Returns the count written.
    ///
    /// # Safety
    /// `data` holds `n` readable bytes.
    unsafe fn file_write(&self, mut data: *const u8, n: usize) -> usize {
        let mut to_do = n;
        while to_do > 0 {
            let iov = libc::iovec { iov_base: data as *mut c_void, iov_len: to_do };
            match fio::writev(self.h, self.fd, self.e, &iov, 1) {
                Ok(k) if k > 0 => {
                    to_do -= k;
                    // SAFETY: k <= to_do bytes of data were written.
                    data = unsafe { data.add(k) };
                }
                r => {
                    if let Err(e) = r {
                        e.set();
                    }
                    // SAFETY: self.fp is live.
                    unsafe { *field::<c_int>(self.fp, 0) |= IO_ERR_SEEN };
                    break;
                }
            }
        }
        let done = n - to_do;
        // SAFETY: self.fp is live.
        unsafe {
            let off = field::<i64>(self.fp, OFF_OFFSET);
            if *off >= 0 {
                *off += done as i64;
            }
        }
        done
    }

    /// glibc's `new_do_write`: write `n` bytes from `data` (the put area, or the
    /// caller's data once the put area is empty), then mark the buffer empty.
    ///
    /// # Safety
    /// `data` holds `n` readable bytes; `self.fp` is live.
    unsafe fn new_do_write(&self, data: *const u8, n: usize) -> usize {
        let fp = self.fp;
        // SAFETY: fp is live; data has n bytes.
        unsafe {
            if flags(fp) & IO_IS_APPENDING != 0 {
                *field::<i64>(fp, OFF_OFFSET) = -1;
            } else if ptr(fp, OFF_READ_END) != ptr(fp, OFF_WRITE_BASE) {
                // Unread input before the put area: glibc seeks back first (and on a
                // pipe or socket fails with ESPIPE, writing nothing).
                let delta = ptr(fp, OFF_WRITE_BASE) as isize - ptr(fp, OFF_READ_END) as isize;
                match sc!(libc::SYS_lseek, self.fd, delta, libc::SEEK_CUR) {
                    Ok(pos) => *field::<i64>(fp, OFF_OFFSET) = pos as i64,
                    Err(e) => {
                        e.set();
                        return 0;
                    }
                }
            }
            let count = self.file_write(data, n);
            let col = field::<u16>(fp, OFF_CUR_COLUMN);
            if *col != 0 && count != 0 {
                *col = adjust_column(*col as u32 - 1, core::slice::from_raw_parts(data, count)).wrapping_add(1) as u16;
            }
            let base = ptr(fp, OFF_BUF_BASE);
            for off in [OFF_READ_BASE, OFF_READ_PTR, OFF_READ_END, OFF_WRITE_BASE, OFF_WRITE_PTR] {
                set_ptr(fp, off, base);
            }
            let line_or_unbuffered = *field::<c_int>(fp, OFF_MODE) <= 0 && flags(fp) & (IO_LINE_BUF | IO_UNBUFFERED) != 0;
            set_ptr(fp, OFF_WRITE_END, if line_or_unbuffered { base } else { ptr(fp, OFF_BUF_END) });
            count
        }
    }

    /// glibc's `_IO_do_write`: true when all `n` bytes were written.
    ///
    /// # Safety
    /// As for [`Stream::new_do_write`].
    unsafe fn do_write(&self, data: *const u8, n: usize) -> bool {
        // SAFETY: forwarded.
        n == 0 || unsafe { self.new_do_write(data, n) } == n
    }

    /// glibc's `_IO_do_flush`: write the put area.
    ///
    /// # Safety
    /// `self.fp` is live and in put mode.
    unsafe fn do_flush(&self) -> bool {
        // SAFETY: the put area lies in the FILE's buffer.
        unsafe {
            let (b, p) = (ptr(self.fp, OFF_WRITE_BASE), ptr(self.fp, OFF_WRITE_PTR));
            self.do_write(b, (p as usize).saturating_sub(b as usize))
        }
    }

    /// glibc's `_IO_new_file_overflow (fp, ch)` for a character, the stream in put mode.
    ///
    /// # Safety
    /// `self.fp` is live and in put mode.
    unsafe fn overflow(&self, ch: c_int) -> c_int {
        let fp = self.fp;
        // SAFETY: fp is live; write_ptr < buf_end after the flush.
        unsafe {
            if ptr(fp, OFF_WRITE_PTR) == ptr(fp, OFF_BUF_END) && !self.do_flush() {
                return EOF;
            }
            let p = ptr(fp, OFF_WRITE_PTR);
            *p = ch as u8;
            set_ptr(fp, OFF_WRITE_PTR, p.add(1));
            let fl = flags(fp);
            if (fl & IO_UNBUFFERED != 0 || fl & IO_LINE_BUF != 0 && ch as u8 == b'\n') && !self.do_flush() {
                return EOF;
            }
            ch as u8 as c_int
        }
    }

    /// `_IO_putc_unlocked`: into the buffer if it has room, else [`Stream::overflow`].
    ///
    /// # Safety
    /// `self.fp` is live.
    pub(super) unsafe fn putc(&self, ch: c_int) -> c_int {
        let fp = self.fp;
        // SAFETY: fp is live; the store is inside the put area.
        unsafe {
            if !self.put_mode() {
                return EOF;
            }
            let p = ptr(fp, OFF_WRITE_PTR);
            if p < ptr(fp, OFF_WRITE_END) {
                *p = ch as u8;
                set_ptr(fp, OFF_WRITE_PTR, p.add(1));
                return ch as u8 as c_int;
            }
            self.overflow(ch)
        }
    }

    /// glibc's `_IO_default_xsputn`: fill the put area, overflowing one character at a
    /// time when it is full (line-buffered streams flush at each `'\n'`).
    ///
    /// # Safety
    /// `s` holds `n` readable bytes; `self.fp` is live and in put mode.
    unsafe fn default_xsputn(&self, mut s: *const u8, n: usize) -> usize {
        let fp = self.fp;
        let mut more = n;
        // SAFETY: fp is live; copies stay inside the put area and s's n bytes.
        unsafe {
            loop {
                let (p, end) = (ptr(fp, OFF_WRITE_PTR), ptr(fp, OFF_WRITE_END));
                if p < end {
                    let count = (end as usize - p as usize).min(more);
                    core::ptr::copy_nonoverlapping(s, p, count);
                    set_ptr(fp, OFF_WRITE_PTR, p.add(count));
                    s = s.add(count);
                    more -= count;
                }
                if more == 0 {
                    break;
                }
                let c = *s;
                s = s.add(1);
                if self.overflow(c as c_int) == EOF {
                    break;
                }
                more -= 1;
            }
        }
        n - more
    }

    /// glibc's `_IO_sputn` on a file (`_IO_new_file_xsputn`). Returns the bytes taken,
    /// or `usize::MAX` (glibc's `EOF`) when all were buffered but flushing failed.
    ///
    /// # Safety
    /// `data` holds `n` readable bytes; `self.fp` is live.
    pub(super) unsafe fn sputn(&self, data: *const u8, n: usize) -> usize {
        let fp = self.fp;
        if n == 0 {
            return 0;
        }
        // SAFETY: fp is live; data has n bytes.
        unsafe {
            if !self.put_mode() {
                return 0;
            }
            let mut s = data;
            let mut to_do = n;
            let mut must_flush = false;
            let mut count = 0usize;
            let fl = flags(fp);
            let (p, end) = (ptr(fp, OFF_WRITE_PTR), ptr(fp, OFF_WRITE_END));
            if fl & IO_LINE_BUF != 0 && fl & IO_CURRENTLY_PUTTING != 0 {
                count = ptr(fp, OFF_BUF_END) as usize - p as usize;
                if count >= n {
                    if let Some(i) = core::slice::from_raw_parts(s, n).iter().rposition(|&c| c == b'\n') {
                        count = i + 1;
                        must_flush = true;
                    }
                }
            } else if end > p {
                count = end as usize - p as usize;
            }
            if count > 0 {
                let count = count.min(to_do);
                core::ptr::copy_nonoverlapping(s, p, count);
                set_ptr(fp, OFF_WRITE_PTR, p.add(count));
                s = s.add(count);
                to_do -= count;
            }
            if to_do > 0 || must_flush {
                if !self.do_flush() {
                    return if to_do == 0 { usize::MAX } else { n - to_do };
                }
                // Whole blocks go straight out; the rest is buffered.
                let block = ptr(fp, OFF_BUF_END) as usize - ptr(fp, OFF_BUF_BASE) as usize;
                let direct = to_do - if block >= 128 { to_do % block } else { 0 };
                if direct > 0 {
                    let count = self.new_do_write(s, direct);
                    to_do -= count;
                    if count < direct {
                        return n - to_do;
                    }
                }
                if to_do > 0 {
                    to_do -= self.default_xsputn(s.add(direct), to_do);
                }
            }
            n - to_do
        }
    }

    /// `fflush` of this stream's output: write the put area if it holds anything.
    /// False on a failed write (flags and errno set).
    ///
    /// # Safety
    /// `self.fp` is live.
    pub(super) unsafe fn flush(&self) -> bool {
        // SAFETY: fp is live.
        unsafe { ptr(self.fp, OFF_WRITE_PTR) <= ptr(self.fp, OFF_WRITE_BASE) || self.do_flush() }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.glibc_lock {
            // SAFETY: taken in open.
            unsafe { real_funlockfile(self.fp) };
        }
        busy_leave(self.fp);
    }
}

/// glibc's `_IO_adjust_column`: the column after writing `line` from column `start`.
fn adjust_column(start: u32, line: &[u8]) -> u32 {
    match line.iter().rposition(|&c| c == b'\n') {
        Some(i) => (line.len() - i - 1) as u32,
        None => start.wrapping_add(line.len() as u32),
    }
}

// ---------------------------------------------------------------------------------
// The hooks.

// Each hook tests the fast path inline (the data fits the buffer: glibc only copies)
// and leaves everything else to a cold function, so the fast path pays for no frame.

#[cold]
#[inline(never)]
unsafe fn fwrite_slow(p: *const c_void, size: usize, count: usize, fp: *mut FILE, unlocked: bool) -> usize {
    let request = size.wrapping_mul(count);
    // SAFETY: fp is the program's FILE.
    let stream = if request == 0 { None } else { unsafe { Stream::open(fp, unlocked) } };
    let Some(s) = stream else {
        // SAFETY: forwarded.
        return unsafe { glibc_call(fp, || if unlocked { real_fwrite_unlocked(p, size, count, fp) } else { real_fwrite(p, size, count, fp) }) };
    };
    // SAFETY: p holds request bytes (the program's call).
    let written = unsafe { s.sputn(p.cast(), request) };
    if written == request || written == usize::MAX { count } else { written / size }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwrite(p: *const c_void, size: usize, count: usize, fp: *mut FILE) -> usize {
    let n = size.wrapping_mul(count);
    // SAFETY: the program's arguments, forwarded.
    unsafe {
        if n != 0 && fits(fp, n) {
            if copy_in(fp, p.cast(), n, false) {
                return count;
            }
            return real_fwrite(p, size, count, fp);
        }
        if n != 0 && copy_locked(fp, p.cast(), n, core::ptr::null(), 0) {
            return count;
        }
        fwrite_slow(p, size, count, fp, false)
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _IO_fwrite(p: *const c_void, size: usize, count: usize, fp: *mut FILE) -> usize {
    // SAFETY: forwarded.
    unsafe { fwrite(p, size, count, fp) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwrite_unlocked(p: *const c_void, size: usize, count: usize, fp: *mut FILE) -> usize {
    let n = size.wrapping_mul(count);
    // SAFETY: the program's arguments, forwarded.
    unsafe {
        if n != 0 && fits(fp, n) {
            if copy_in(fp, p.cast(), n, true) {
                return count;
            }
            return real_fwrite_unlocked(p, size, count, fp);
        }
        if n != 0 && copy_locked(fp, p.cast(), n, core::ptr::null(), 0) {
            return count;
        }
        fwrite_slow(p, size, count, fp, true)
    }
}

#[cold]
#[inline(never)]
unsafe fn fputs_slow(s: *const c_char, len: usize, fp: *mut FILE, unlocked: bool) -> c_int {
    // SAFETY: fp is the program's FILE.
    let Some(st) = (unsafe { Stream::open(fp, unlocked) }) else {
        // SAFETY: forwarded.
        return unsafe { glibc_call(fp, || if unlocked { real_fputs_unlocked(s, fp) } else { real_fputs(s, fp) }) };
    };
    // SAFETY: s has len bytes.
    if unsafe { st.sputn(s.cast(), len) } == len { 1 } else { EOF }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fputs(s: *const c_char, fp: *mut FILE) -> c_int {
    // SAFETY: the program's string and FILE, forwarded.
    unsafe {
        let len = libc::strlen(s);
        if fits(fp, len) {
            if copy_in(fp, s.cast(), len, false) {
                return 1;
            }
            return real_fputs(s, fp);
        }
        if len != 0 && copy_locked(fp, s.cast(), len, core::ptr::null(), 0) {
            return 1;
        }
        fputs_slow(s, len, fp, false)
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _IO_fputs(s: *const c_char, fp: *mut FILE) -> c_int {
    // SAFETY: forwarded.
    unsafe { fputs(s, fp) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fputs_unlocked(s: *const c_char, fp: *mut FILE) -> c_int {
    // SAFETY: the program's string and FILE, forwarded.
    unsafe {
        let len = libc::strlen(s);
        if fits(fp, len) {
            if copy_in(fp, s.cast(), len, true) {
                return 1;
            }
            return real_fputs_unlocked(s, fp);
        }
        if len != 0 && copy_locked(fp, s.cast(), len, core::ptr::null(), 0) {
            return 1;
        }
        fputs_slow(s, len, fp, true)
    }
}

#[cold]
#[inline(never)]
unsafe fn puts_slow(s: *const c_char, len: usize, fp: *mut FILE) -> c_int {
    // SAFETY: fp is glibc's stdout; s has len bytes.
    unsafe {
        let Some(st) = Stream::open(fp, false) else { return glibc_call(fp, || real_puts(s)) };
        if st.sputn(s.cast(), len) == len && st.putc(b'\n' as c_int) != EOF { len.saturating_add(1).min(c_int::MAX as usize) as c_int } else { EOF }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn puts(s: *const c_char) -> c_int {
    // SAFETY: glibc's stdout; s is the program's string.
    unsafe {
        let fp = stdout;
        let len = libc::strlen(s);
        // The string and the '\n' fit: glibc only copies.
        if fits(fp, len + 1) {
            if copy_in(fp, s.cast(), len, false) && copy_in(fp, c"\n".as_ptr().cast(), 1, false) {
                return len.saturating_add(1).min(c_int::MAX as usize) as c_int;
            }
            return real_puts(s);
        }
        if copy_locked(fp, s.cast(), len, c"\n".as_ptr().cast(), 1) {
            return len.saturating_add(1).min(c_int::MAX as usize) as c_int;
        }
        puts_slow(s, len, fp)
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _IO_puts(s: *const c_char) -> c_int {
    // SAFETY: forwarded.
    unsafe { puts(s) }
}

#[cold]
#[inline(never)]
unsafe fn putc_slow(c: c_int, fp: *mut FILE, unlocked: bool) -> c_int {
    // SAFETY: fp is the program's FILE.
    match unsafe { Stream::open(fp, unlocked) } {
        // SAFETY: fp is live.
        Some(st) => unsafe { st.putc(c) },
        // SAFETY: forwarded.
        None => unsafe { glibc_call(fp, || if unlocked { real_fputc_unlocked(c, fp) } else { real_fputc(c, fp) }) },
    }
}

#[inline(always)]
unsafe fn putc_impl(c: c_int, fp: *mut FILE, unlocked: bool) -> c_int {
    // SAFETY: fp is the program's FILE.
    unsafe {
        if !char_fits(fp) {
            let b = c as u8;
            if copy_locked(fp, &b, 1, core::ptr::null(), 0) {
                return b as c_int;
            }
            return putc_slow(c, fp, unlocked);
        }
        // glibc's own fast path (`_IO_putc_unlocked`) when the stream needs no lock
        // (no OS thread was ever created; the flag is `_IO_FLAGS2_NEED_LOCK`).
        if unlocked || *field::<c_int>(fp, OFF_FLAGS2) & IO_FLAGS2_NEED_LOCK == 0 {
            let p = ptr(fp, OFF_WRITE_PTR);
            *p = c as u8;
            set_ptr(fp, OFF_WRITE_PTR, p.add(1));
            return c as u8 as c_int;
        }
        real_fputc(c, fp)
    }
}

macro_rules! char_writers {
    ($($name:ident => $unlocked:literal;)*) => {$(
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(c: c_int, fp: *mut FILE) -> c_int {
            // SAFETY: forwarded.
            unsafe { putc_impl(c, fp, $unlocked) }
        }
    )*};
}

char_writers! {
    fputc => false;
    putc => false;
    _IO_putc => false;
    fputc_unlocked => true;
    putc_unlocked => true;
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn putchar(c: c_int) -> c_int {
    // SAFETY: glibc's stdout.
    unsafe { putc_impl(c, stdout, false) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn putchar_unlocked(c: c_int) -> c_int {
    // SAFETY: glibc's stdout.
    unsafe { putc_impl(c, stdout, true) }
}

/// The slow path of the `putc_unlocked` macro inlined into programs (and of glibc's
/// own inline `putc`): the put area is full, or line-buffering wants a flush.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __overflow(fp: *mut FILE, c: c_int) -> c_int {
    // SAFETY: fp is the program's FILE; the caller holds the lock if it wants one.
    unsafe {
        let Some(st) = Stream::open(fp, true) else { return glibc_call(fp, || real_overflow(fp, c)) };
        if c == EOF {
            if !st.put_mode() {
                return EOF;
            }
            return if st.flush() { 0 } else { EOF };
        }
        if !st.put_mode() {
            return EOF;
        }
        st.overflow(c)
    }
}

/// Writes the pending output of `fp` with the parking write if it is a stream the shim
/// serves. Some(false) on a failed write; None when glibc should flush it.
///
/// # Safety
/// `fp` is a live FILE.
unsafe fn flush_stream(fp: *mut FILE, unlocked: bool) -> Option<bool> {
    // SAFETY: fp is live.
    unsafe {
        if ptr(fp, OFF_WRITE_PTR) <= ptr(fp, OFF_WRITE_BASE) && BUSY_COUNT.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let st = Stream::open(fp, unlocked)?;
        Some(st.flush())
    }
}

/// `fflush(NULL)`: every stream the shim serves with pending output, then glibc for
/// the rest (files), which then finds nothing left to write on pipes and sockets.
unsafe fn flush_all() -> c_int {
    let mut failed = false;
    if hub::local().is_some() {
        let mut todo = Vec::new();
        // SAFETY: glibc's stream list, walked under its lock.
        unsafe {
            _IO_list_lock();
            let mut fp = _IO_list_all;
            while !fp.is_null() {
                if *field::<c_int>(fp, OFF_MODE) <= 0 && ptr(fp, OFF_WRITE_PTR) > ptr(fp, OFF_WRITE_BASE) && *field::<c_int>(fp, OFF_FILENO) >= 0 {
                    todo.push(fp);
                }
                fp = *field::<*mut FILE>(fp, OFF_CHAIN);
            }
            _IO_list_unlock();
        }
        for fp in todo {
            // Another thread may have closed it while an earlier one parked.
            // SAFETY: the list is walked under its lock; fp is used only if still in it.
            unsafe {
                _IO_list_lock();
                let mut cur = _IO_list_all;
                while !cur.is_null() && cur != fp {
                    cur = *field::<*mut FILE>(cur, OFF_CHAIN);
                }
                _IO_list_unlock();
                if !cur.is_null() && flush_stream(fp, false) == Some(false) {
                    failed = true;
                }
            }
        }
    }
    // SAFETY: forwarded.
    let r = unsafe { real_fflush(core::ptr::null_mut()) };
    if failed { EOF } else { r }
}

unsafe fn fflush_impl(fp: *mut FILE, unlocked: bool) -> c_int {
    if fp.is_null() {
        // SAFETY: no arguments.
        return unsafe { flush_all() };
    }
    // SAFETY: fp is the program's FILE.
    match unsafe { flush_stream(fp, unlocked) } {
        Some(false) => EOF,
        // Nothing left to write: glibc's sync also resets the read side and `_offset`.
        // SAFETY: forwarded.
        _ => unsafe { glibc_call(fp, || if unlocked { real_fflush_unlocked(fp) } else { real_fflush(fp) }) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fflush(fp: *mut FILE) -> c_int {
    // SAFETY: forwarded.
    unsafe { fflush_impl(fp, false) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _IO_fflush(fp: *mut FILE) -> c_int {
    // SAFETY: forwarded.
    unsafe { fflush_impl(fp, false) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fflush_unlocked(fp: *mut FILE) -> c_int {
    // SAFETY: forwarded.
    unsafe { fflush_impl(fp, true) }
}

/// Before `fclose`: write the pending output with the parking write. Returns the
/// errno of a failed write, which `fclose` must then report (glibc, finding nothing to
/// flush, would return 0).
///
/// # Safety
/// `fp` is null or a live FILE.
pub unsafe fn before_fclose(fp: *mut FILE) -> Option<Errno> {
    // SAFETY: fp is live (checked non-null).
    unsafe {
        if fp.is_null() || flags(fp) & (IO_CURRENTLY_PUTTING | IO_NO_WRITES) != IO_CURRENTLY_PUTTING {
            return None;
        }
        if *field::<c_int>(fp, OFF_MODE) > 0 && crate::raw::catching() && hub::local().is_some() {
            // Wide output is glibc's to write: flush it now, as the program's call (its
            // internal write is caught and parks), before the fd is forgotten — the
            // real fclose runs as the shim's, whose write would block the OS thread.
            return (real_fflush(fp) != 0).then(|| Errno(*libc::__errno_location()));
        }
        match flush_stream(fp, false) {
            Some(false) => Some(Errno(*libc::__errno_location())),
            _ => None,
        }
    }
}

/// Flushes `fp` before input is awaited (a prompt): the parking flush for a stream the
/// shim serves, glibc's otherwise.
///
/// # Safety
/// `fp` is a live FILE.
pub(super) unsafe fn flush_before_read(fp: *mut FILE) {
    // SAFETY: forwarded.
    unsafe {
        fflush_impl(fp, false);
    }
}

/// Resolves a real function on its first call (out of line: the hooks' fast paths stay
/// small); exits naming it if this libc lacks it.
#[cold]
#[inline(never)]
pub(super) fn resolve(l: &Lazy, cache: &AtomicUsize, sym: &core::ffi::CStr) -> usize {
    match l.get() {
        Some(p) => {
            cache.store(p, Ordering::Relaxed);
            p
        }
        None => crate::log::fatal_parts(&[b"greenshim: cannot resolve the real libc symbol ", sym.to_bytes()]),
    }
}

// ---------------------------------------------------------------------------------
// flockfile: the busy mark for a green thread's whole locked section, then glibc's
// lock (which still keeps out OS threads other than the hub's).

#[unsafe(no_mangle)]
pub unsafe extern "C" fn flockfile(fp: *mut FILE) {
    if let Some(h) = hub::local() {
        busy_enter(h, fp);
    }
    // SAFETY: the program's FILE.
    unsafe { real_flockfile(fp) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _IO_flockfile(fp: *mut FILE) {
    // SAFETY: forwarded.
    unsafe { flockfile(fp) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn funlockfile(fp: *mut FILE) {
    // SAFETY: the program's FILE.
    unsafe { real_funlockfile(fp) };
    if hub::local().is_some() {
        busy_leave(fp);
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _IO_funlockfile(fp: *mut FILE) {
    // SAFETY: forwarded.
    unsafe { funlockfile(fp) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn ftrylockfile(fp: *mut FILE) -> c_int {
    if let Some(h) = hub::local() {
        // SAFETY: h is this thread's hub.
        let me = unsafe { hub::current(h) };
        BUSY_LOCK.lock();
        let held = busy_find(fp as usize).is_some_and(|b| !b.owner.is_null() && b.owner != me);
        BUSY_LOCK.unlock();
        if held {
            return 1;
        }
        // SAFETY: the program's FILE.
        if unsafe { real_ftrylockfile(fp) } != 0 {
            return 1;
        }
        busy_enter(h, fp);
        return 0;
    }
    // SAFETY: the program's FILE.
    unsafe { real_ftrylockfile(fp) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _IO_ftrylockfile(fp: *mut FILE) -> c_int {
    // SAFETY: forwarded.
    unsafe { ftrylockfile(fp) }
}

// ---------------------------------------------------------------------------------
// fopencookie: glibc calls the program's read/write/seek/close functions with the
// FILE's lock held. That lock is recursive and every green thread is its owner (they
// share the OS thread's control block), so if a callback parks (it writes to a pipe,
// sleeps…) another green thread would walk into the same FILE in the middle of the
// operation. The callbacks are wrapped: each runs with the FILE marked busy, so the
// other green threads' stdio calls on it wait (as natively they wait for the lock).

/// glibc's `cookie_io_functions_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CookieIo {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> isize>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

/// The program's cookie and functions, and the FILE made for them.
struct Cookie {
    cookie: *mut c_void,
    io: CookieIo,
    fp: *mut FILE,
}

/// Runs a callback of `c`'s FILE with the FILE busy for the running green thread.
fn in_callback<R>(c: *mut c_void, f: impl FnOnce(*mut c_void, &CookieIo) -> R) -> R {
    let c = c as *mut Cookie;
    // SAFETY: c is the Cookie this module gave glibc; it lives until the close callback.
    let (cookie, io, fp) = unsafe { ((*c).cookie, (*c).io, (*c).fp) };
    match hub::local() {
        Some(h) if !fp.is_null() => {
            busy_enter(h, fp);
            let r = f(cookie, &io);
            busy_leave(fp);
            r
        }
        _ => f(cookie, &io),
    }
}

unsafe extern "C" fn cookie_read(c: *mut c_void, buf: *mut c_char, n: usize) -> isize {
    // SAFETY: the program's function with glibc's arguments.
    in_callback(c, |k, io| unsafe { io.read.map_or(-1, |f| f(k, buf, n)) })
}

unsafe extern "C" fn cookie_write(c: *mut c_void, buf: *const c_char, n: usize) -> isize {
    // SAFETY: the program's function with glibc's arguments.
    in_callback(c, |k, io| unsafe { io.write.map_or(0, |f| f(k, buf, n)) })
}

unsafe extern "C" fn cookie_seek(c: *mut c_void, off: *mut i64, whence: c_int) -> c_int {
    // SAFETY: the program's function with glibc's arguments.
    in_callback(c, |k, io| unsafe { io.seek.map_or(-1, |f| f(k, off, whence)) })
}

unsafe extern "C" fn cookie_close(c: *mut c_void) -> c_int {
    // SAFETY: the program's function; glibc calls close once, last.
    let r = in_callback(c, |k, io| unsafe { io.close.map_or(0, |f| f(k)) });
    // SAFETY: made by Box::into_raw in fopencookie; glibc makes no call after close.
    drop(unsafe { Box::from_raw(c as *mut Cookie) });
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopencookie(cookie: *mut c_void, mode: *const c_char, io: CookieIo) -> *mut FILE {
    let c = Box::into_raw(Box::new(Cookie { cookie, io, fp: core::ptr::null_mut() }));
    // glibc treats a missing function as "always EOF / fails": keep them missing.
    let wrapped = CookieIo {
        read: io.read.map(|_| cookie_read as _),
        write: io.write.map(|_| cookie_write as _),
        seek: io.seek.map(|_| cookie_seek as _),
        close: Some(cookie_close),
    };
    // SAFETY: forwarded with the wrapper as the cookie.
    let fp = unsafe { real_fopencookie(c.cast(), mode, wrapped) };
    if fp.is_null() {
        // SAFETY: glibc did not keep it.
        drop(unsafe { Box::from_raw(c) });
    } else {
        // SAFETY: c is ours until the close callback, which cannot run before this.
        unsafe { (*c).fp = fp };
    }
    fp
}
