//! The raw layer's exit report (`GREENSHIM_RAW=report|catch`): where it goes, and how
//! it is written. The table it is made from lives in `crate::raw`.
//!
//! The report never goes into the program's stderr unless asked: that stream is the
//! program's (CPython's own test_threading compares children's stderr, byte for byte).
//! `GREENSHIM_RAW_REPORT` names where it goes:
//! * a file (`%p`: the pid): opened with `O_APPEND | O_CREAT`, and the whole report —
//!   a header line with the pid and the program, then one line per call site — written
//!   in one `write`, so the processes of a tree sharing the variable append reports
//!   that do not interleave (the launcher, `greenshim --raw report`, points it at a file
//!   of its own and prints the reports on its stderr once the program has exited);
//! * `stderr`: the stderr the program started with (only while fd 2 is still that one);
//! * unset: on that stderr only when `GREENSHIM_LOG` is `info` or chattier (the report
//!   is then one more of the shim's diagnostics, which the user asked for), else not
//!   written at all.
//!
//! A process that made no blocking raw call writes nothing (shells and helpers stay
//! quiet), and a fork child reports only what it did after the fork.

use crate::config::RawReport;
use crate::sys::{self, sc};
use core::fmt::Write;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// 0 unset, 1 stderr, 2 file.
static KIND: AtomicU8 = AtomicU8::new(0);
/// The file's path (with `%p` unexpanded), set once at start-up.
struct Path(core::cell::UnsafeCell<[u8; 256]>);
// SAFETY: written once by the constructor (before any other thread of the shim exists,
// `PATH_LEN` published after), read only afterwards.
unsafe impl Sync for Path {}
static PATH: Path = Path(core::cell::UnsafeCell::new([0; 256]));
static PATH_LEN: AtomicUsize = AtomicUsize::new(0);

/// GREENSHIM_RAW_REPORT (config checked it: a file path is absolute, at most 255
/// bytes). Start-up only.
pub fn set_destination(r: RawReport) {
    match r {
        RawReport::Default => KIND.store(0, Ordering::Relaxed),
        RawReport::Stderr => KIND.store(1, Ordering::Relaxed),
        RawReport::File(p) => {
            let p = p.as_str().as_bytes();
            let n = p.len().min(255);
            // SAFETY: start-up, single-threaded; nobody reads PATH before PATH_LEN is set.
            unsafe { (&mut *PATH.0.get())[..n].copy_from_slice(&p[..n]) };
            PATH_LEN.store(n, Ordering::Release);
            KIND.store(2, Ordering::Release);
        }
    }
}

/// Whether a report is to be written at all.
pub fn wanted() -> bool {
    KIND.load(Ordering::Relaxed) != 0 || crate::log::enabled(crate::log::Level::Info)
}

/// The file path with `%p` replaced by the pid, NUL-terminated.
fn expanded_path() -> Vec<u8> {
    let n = PATH_LEN.load(Ordering::Acquire);
    // SAFETY: PATH is immutable once PATH_LEN is set.
    let src = unsafe { &(&*PATH.0.get())[..n] };
    let pid = sys::getpid().to_string();
    let mut out = Vec::with_capacity(n + 16);
    let mut i = 0;
    while i < n {
        if src[i] == b'%' && src.get(i + 1) == Some(&b'p') {
            out.extend_from_slice(pid.as_bytes());
            i += 2;
        } else {
            out.push(src[i]);
            i += 1;
        }
    }
    out.push(0);
    out
}

/// The program's executable (`/proc/self/exe`), or `?`.
fn program() -> String {
    let mut buf = [0u8; 512];
    // SAFETY: the path is NUL-terminated and buf is live for the call.
    match unsafe { sc!(libc::SYS_readlink, c"/proc/self/exe".as_ptr(), buf.as_mut_ptr(), buf.len()) } {
        Ok(n) if n > 0 => String::from_utf8_lossy(&buf[..n]).into_owned(),
        _ => "?".into(),
    }
}

/// Writes the report of `rows` — (count, call site << 9 | syscall number), most
/// frequent first — where GREENSHIM_RAW_REPORT says. At exit, on the exiting thread,
/// with raw system calls allowed.
pub fn write(rows: &[(u64, u64)], mode: &str, caught: u64, overflowed: bool) {
    let mut b = String::with_capacity(256 + rows.len().min(64) * 128);
    let _ = writeln!(
        b,
        "greenshim raw: pid {} ({}): {} call site(s) made blocking system calls outside the hooks (GREENSHIM_RAW={mode}; {caught} served by parking){}",
        sys::getpid(),
        program(),
        rows.len(),
        if overflowed { "; the table overflowed" } else { "" }
    );
    for (count, key) in rows.iter().take(64) {
        let (site, nr) = ((key >> 9) as usize, key & 511);
        let _ = write!(b, "greenshim raw: {:>8} × {:<16} at ", count, name_of(nr));
        // SAFETY: a zeroed Dl_info is a valid out-buffer; dladdr only reads its argument.
        let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
        // SAFETY: as above.
        let found = unsafe { libc::dladdr(site as *const libc::c_void, &mut info) } != 0;
        let cstr = |p: *const libc::c_char| {
            if p.is_null() {
                "?".into()
            } else {
                // SAFETY: dladdr's strings are NUL-terminated and live with the object.
                unsafe { core::ffi::CStr::from_ptr(p) }.to_string_lossy()
            }
        };
        let obj = if found { cstr(info.dli_fname) } else { "?".into() };
        let obj = obj.rsplit('/').next().unwrap_or("?").to_string();
        if found && !info.dli_sname.is_null() {
            let _ = writeln!(b, "{}+{:#x} ({obj})", cstr(info.dli_sname), site - info.dli_saddr as usize);
        } else if found {
            let _ = writeln!(b, "{obj}+{:#x}", site - info.dli_fbase as usize);
        } else {
            let _ = writeln!(b, "{site:#x}");
        }
    }
    if rows.len() > 64 {
        let _ = writeln!(b, "greenshim raw: … and {} more call site(s)", rows.len() - 64);
    }
    match KIND.load(Ordering::Acquire) {
        2 => append_to_file(b.as_bytes()),
        _ => sys::write_all_stderr(b.as_bytes()),
    }
}

/// Appends `report` to the GREENSHIM_RAW_REPORT file in one `write` (O_APPEND: another
/// process's report lands wholly before or after it).
fn append_to_file(report: &[u8]) {
    let path = expanded_path();
    // SAFETY: path is NUL-terminated and live for the call.
    let fd = match unsafe {
        sc!(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC, 0o666)
    } {
        Ok(fd) => fd as i32,
        Err(e) => {
            crate::warn!("GREENSHIM_RAW_REPORT: cannot open {}: errno {}", String::from_utf8_lossy(&path[..path.len() - 1]), e.0);
            return;
        }
    };
    let mut off = 0;
    while off < report.len() {
        // SAFETY: the slice is live for the call. One call writes it all unless the disk
        // is full or a signal interrupts it (then the rest follows, possibly after another
        // process's report).
        match unsafe { sc!(libc::SYS_write, fd, report[off..].as_ptr(), report.len() - off) } {
            Ok(0) => break,
            Ok(n) => off += n,
            Err(e) if e.0 == libc::EINTR => {}
            Err(e) => {
                crate::warn!("GREENSHIM_RAW_REPORT: cannot write the report: errno {}", e.0);
                break;
            }
        }
    }
    let _ = sys::close(fd);
}

#[allow(non_upper_case_globals)]
fn name_of(nr: u64) -> &'static str {
    use libc::*;
    match nr as i64 {
        SYS_read => "read",
        SYS_write => "write",
        SYS_readv => "readv",
        SYS_writev => "writev",
        SYS_pread64 => "pread64",
        SYS_pwrite64 => "pwrite64",
        SYS_preadv => "preadv",
        SYS_pwritev => "pwritev",
        SYS_preadv2 => "preadv2",
        SYS_pwritev2 => "pwritev2",
        SYS_recvfrom => "recvfrom",
        SYS_sendto => "sendto",
        SYS_recvmsg => "recvmsg",
        SYS_sendmsg => "sendmsg",
        SYS_recvmmsg => "recvmmsg",
        SYS_sendmmsg => "sendmmsg",
        SYS_accept => "accept",
        SYS_accept4 => "accept4",
        SYS_connect => "connect",
        SYS_poll => "poll",
        SYS_ppoll => "ppoll",
        SYS_select => "select",
        SYS_pselect6 => "pselect6",
        SYS_epoll_wait => "epoll_wait",
        SYS_epoll_pwait => "epoll_pwait",
        SYS_epoll_pwait2 => "epoll_pwait2",
        SYS_nanosleep => "nanosleep",
        SYS_clock_nanosleep => "clock_nanosleep",
        SYS_wait4 => "wait4",
        SYS_waitid => "waitid",
        SYS_futex => "futex(wait)",
        SYS_futex_waitv => "futex_waitv",
        SYS_fcntl => "fcntl(F_SETLKW)",
        SYS_open => "open",
        SYS_openat => "openat",
        SYS_fsync => "fsync",
        SYS_fdatasync => "fdatasync",
        SYS_flock => "flock",
        SYS_sendfile => "sendfile",
        SYS_splice => "splice",
        SYS_pause => "pause",
        SYS_rt_sigsuspend => "rt_sigsuspend",
        SYS_rt_sigtimedwait => "rt_sigtimedwait",
        SYS_msgrcv => "msgrcv",
        SYS_msgsnd => "msgsnd",
        SYS_semop => "semop",
        SYS_semtimedop => "semtimedop",
        SYS_mq_timedsend => "mq_timedsend",
        SYS_mq_timedreceive => "mq_timedreceive",
        _ => "syscall",
    }
}
