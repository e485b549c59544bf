//! fork and vfork: rebuild the hub in a forked child; waiting for children. `exec` and
//! `posix_spawn`: the shim never leaves a flag of its own on a description, so a new
//! program image inherits every fd exactly as the program set it; and it inherits the
//! signal mask the program set for the calling thread, not the hub thread's kernel mask
//! (see [`with_program_mask`]).

use crate::fd::table;
use crate::hub;
use crate::sys::{encode, real, sc};
use core::ffi::{c_char, c_int};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fork() -> libc::pid_t {
    // glibc's fork runs the pthread_atfork handlers around the clone; the child's hub
    // is rebuilt by the first of them (see init::atfork_child).
    // SAFETY: forwarded.
    let pid = unsafe { real::fork() };
    if pid > 0 && hub::local().is_some() {
        table::after_fork_parent();
    }
    pid
}

// ---- exec and spawn: the program's signal mask ------------------------------------------
//
// A new program image, and a child started by `posix_spawn` or `vfork`, inherit the
// kernel signal mask of the calling OS thread. A hub thread's kernel mask is not the
// program's: a green thread's mask is virtual, main's never blocks the shim's own
// signals (hooks::signal), and hubs beyond the first block every process-directed
// signal (they go to hub 0). A program exec'd from a thread on hub 1 started with
// nearly every signal blocked — SIGTERM and SIGINT included. So each exec and spawn
// runs with the kernel mask set to the program's view of the calling thread's mask,
// put back if the call returns.

/// Runs `f` (an exec, or a spawn whose child inherits the OS thread's mask) under the
/// program's mask for the calling thread; restores the hub thread's mask after.
fn with_program_mask<R>(f: impl FnOnce() -> R) -> R {
    let Some(m) = spawn_mask() else { return f() };
    let saved = crate::hooks::signal::swap_kernel_mask(&m);
    let r = f();
    let _ = crate::hooks::signal::swap_kernel_mask(&saved);
    r
}

/// The program's mask for the calling thread (None off a hub), less SIGSYS under the
/// raw layer: a call trapped by Syscall User Dispatch while SIGSYS is blocked kills the
/// process (glibc's vfork, the exec made through `execveat`, anything the program calls
/// meanwhile), so a new image there starts with SIGSYS unblocked.
fn spawn_mask() -> Option<libc::sigset_t> {
    let mut m = crate::hooks::signal::program_mask()?;
    if crate::raw::on() {
        // SAFETY: m is a valid sigset.
        unsafe { libc::sigdelset(&mut m, libc::SIGSYS) };
    }
    Some(m)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: forwarded.
    with_program_mask(|| unsafe { real::execve(path, argv, envp) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: forwarded.
    with_program_mask(|| unsafe { real::execv(path, argv) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: forwarded.
    with_program_mask(|| unsafe { real::execvp(file, argv) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: forwarded.
    with_program_mask(|| unsafe { real::execvpe(file, argv, envp) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // SAFETY: forwarded.
    with_program_mask(|| unsafe { real::fexecve(fd, argv, envp) })
}

static EXECVEAT: crate::sys::real::Lazy = crate::sys::real::Lazy::new(c"execveat", c"execveat");

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execveat(dirfd: c_int, path: *const c_char, argv: *const *const c_char, envp: *const *const c_char, flags: c_int) -> c_int {
    with_program_mask(|| match EXECVEAT.get() {
        Some(f) => {
            // SAFETY: glibc's execveat has this prototype.
            let f: unsafe extern "C" fn(c_int, *const c_char, *const *const c_char, *const *const c_char, c_int) -> c_int = unsafe { core::mem::transmute(f) };
            // As for the calls through sys::real: libc's system call is the shim's.
            let sel = crate::raw::swap_selector(crate::raw::ALLOW);
            // SAFETY: forwarded.
            let r = unsafe { f(dirfd, path, argv, envp, flags) };
            crate::raw::restore_selector(sel);
            r
        }
        // SAFETY: the kernel's call, as glibc makes it.
        None => encode(unsafe { sc!(libc::SYS_execveat, dirfd, path, argv, envp, flags) }) as c_int,
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawn(pid: *mut libc::pid_t, path: *const c_char, fa: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int {
    // SAFETY: forwarded.
    with_program_mask(|| unsafe { real::posix_spawn(pid, path, fa, attr, argv, envp) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawnp(pid: *mut libc::pid_t, file: *const c_char, fa: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int {
    // SAFETY: forwarded.
    with_program_mask(|| unsafe { real::posix_spawnp(pid, file, fa, attr, argv, envp) })
}

/// `popen`: glibc starts the shell with its internal posix_spawn, which the hook above
/// does not see; the shell inherits the calling OS thread's mask.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: forwarded.
    with_program_mask(|| unsafe { real::popen(cmd, mode) })
}

/// `execl`, `execlp`, `execle`: variadic, so each is a naked trampoline that saves the
/// six argument registers below the return address and hands [`exec_list`] a pointer
/// to them and to the caller's stack arguments above it: every argument is a pointer,
/// the list ends with a null one (followed by `envp` for `execle`). Up to 64 arguments
/// are gathered on the stack; a longer list goes to the heap.
macro_rules! exec_list_trampoline {
    ($($name:ident => $kind:expr;)*) => {$(
        // SAFETY: the six argument registers are pushed in order (rdi lowest), rsi/rdi
        // carry their address and that of the caller's stack arguments (above the
        // return address), the call is made with rsp 16-byte aligned (entry rsp ≡ 8
        // mod 16, six pushes and 8 more bytes) and the frame is popped before `ret`.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name() {
            core::arch::naked_asm!(
                "push r9", "push r8", "push rcx", "push rdx", "push rsi", "push rdi",
                "mov rdi, rsp",
                "lea rsi, [rsp + 56]",
                "mov edx, {kind}",
                "sub rsp, 8",
                "call {f}",
                "add rsp, 56",
                "ret",
                kind = const $kind,
                f = sym exec_list,
            )
        }
    )*};
}
exec_list_trampoline! {
    execl => 0;
    execlp => 1;
    execle => 2;
}

/// The argument `i` (0: the path) of a variadic exec call: registers first, then the
/// caller's stack.
///
/// # Safety
/// `regs` points at the six saved argument registers and `stack` at the caller's stack
/// arguments; `i` must not pass the list's terminating null (and `envp` after it).
unsafe fn exec_arg(regs: *const usize, stack: *const usize, i: usize) -> usize {
    // SAFETY: as the caller guarantees.
    unsafe { if i < 6 { *regs.add(i) } else { *stack.add(i - 6) } }
}

/// The body of `execl` (kind 0), `execlp` (1) and `execle` (2).
unsafe extern "C" fn exec_list(regs: *const usize, stack: *const usize, kind: c_int) -> c_int {
    const INLINE: usize = 64;
    let mut inline = [0usize; INLINE + 1];
    let mut heap: Vec<usize> = Vec::new();
    // SAFETY: the arguments are read up to and including the terminating null (and the
    // envp after it for execle), as the caller passed them.
    unsafe {
        let path = exec_arg(regs, stack, 0) as *const c_char;
        let mut n = 0;
        loop {
            let a = exec_arg(regs, stack, 1 + n);
            if n < INLINE {
                inline[n] = a;
            } else {
                if heap.is_empty() {
                    heap.extend_from_slice(&inline[..INLINE]);
                }
                heap.push(a);
            }
            if a == 0 {
                break;
            }
            n += 1;
        }
        let argv = if heap.is_empty() { inline.as_ptr() } else { heap.as_ptr() } as *const *const c_char;
        match kind {
            0 => execv(path, argv),
            1 => execvp(path, argv),
            _ => execve(path, argv, exec_arg(regs, stack, 2 + n) as *const *const c_char),
        }
    }
}

/// glibc's vfork, resolved by the constructor (0 until then).
pub static REAL_VFORK: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Before the constructor has resolved glibc's vfork: a plain fork (POSIX allows it).
extern "C" fn vfork_fallback() -> libc::pid_t {
    // SAFETY: forwarded.
    unsafe { fork() }
}

/// `vfork`: a child that shares the parent's memory until it execs or exits. This hook
/// cannot have a stack frame of its own — the child returns from vfork first and
/// reuses the stack below the caller, which would clobber a wrapper's frame before the
/// parent returns through it — so it is a naked jump to glibc's vfork. Before jumping
/// it marks the calling thread's hub (`hub::vfork_mark`): hooks the child calls then see a foreign pid and pass
/// straight through (touching nothing the parent owns), and the parent's first hook
/// after the child execs clears the flag. (CPython's subprocess spawns with vfork.)
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vfork() -> libc::pid_t {
    core::arch::naked_asm!(
        "mov rax, qword ptr [rip + {real}]",
        "test rax, rax",
        "jz 2f",
        // Mark the calling thread's hub and give the OS thread the program's mask (a
        // call that returns before the vfork: its frame is gone by then; rsp is 8 mod
        // 16 here, so realign around the call).
        "sub rsp, 8",
        "call {mark}",
        "add rsp, 8",
        "mov rax, qword ptr [rip + {real}]",
        "jmp rax",
        "2:",
        "jmp {fallback}",
        real = sym REAL_VFORK,
        mark = sym vfork_prepare,
        fallback = sym vfork_fallback,
    )
}

/// Before a vfork: the hub is marked (`hub::vfork_mark`), and the OS thread takes the
/// program's mask for the calling thread, which the child inherits; the parent gets its
/// own back at its first hook after the child has gone (`hub::vfork_save_mask`).
extern "C" fn vfork_prepare() {
    if let Some(m) = spawn_mask() {
        let saved = crate::hooks::signal::swap_kernel_mask(&m);
        hub::vfork_save_mask(&saved);
    }
    hub::vfork_mark();
}

// ---- waiting for children ------------------------------------------------------------
//
// A specific child (pid > 0) waited for its exit is watched through a pidfd, which epoll
// reports readable when the child exits: the green thread parks on it like on any fd.
// Other forms (any child, a process group, stop/continue states) cannot be watched by
// one fd; they poll with WNOHANG on a backoff from 1 ms up to 20 ms, so a wait costs at
// most 20 ms of latency and no OS thread is blocked.

use crate::fd::io::{self as fio, Dir};
use crate::fd::table::Kind;
use crate::green::{Reason, Wake};
use crate::sys::{self, Errno};
use core::sync::atomic::{AtomicBool, Ordering};

/// Serves a blocking wait: `try_now` performs the wait with WNOHANG and returns Ok(None)
/// while nothing is ready. `pid` is the child to watch with a pidfd, if that is exact.
fn wait_green(pid: Option<libc::pid_t>, mut try_now: impl FnMut() -> Result<Option<usize>, Errno>) -> Result<usize, Errno> {
    let h = hub::local().expect("caller checked the hub");
    if let Some(r) = try_now()? {
        return Ok(r);
    }
    let pidfd = pid.and_then(|p| {
        // SAFETY: no memory arguments.
        unsafe { sc!(libc::SYS_pidfd_open, p, 0) }.ok().map(|fd| {
            register_pidfd_kind(fd as i32);
            fd as i32
        })
    });
    let result = (|| {
        let mut backoff_ns = 1_000_000u64;
        loop {
            match pidfd.and_then(|fd| table::slot(fd).map(|e| (fd, e))) {
                // The pidfd reports exits at once; the deadline also catches what a pidfd
                // never reports (a tracer is told about ptrace stops without WUNTRACED).
                Some((fd, e)) => match fio::park_on(h, fd, e, Dir::Read, Some(sys::now_ns() + backoff_ns), Reason::Other) {
                    Ok(Wake::Interrupted) => return try_now()?.ok_or(Errno::EINTR),
                    Ok(Wake::Timeout) => backoff_ns = (backoff_ns * 2).min(20_000_000),
                    Ok(_) => {}
                    Err(e2) => return Err(e2),
                },
                None => {
                    // A backoff sleep that a signal interrupts makes the wait fail with
                    // EINTR, as waitpid does natively without SA_RESTART — unless a child
                    // is ready: natively the exit that raised SIGCHLD ends the wait first.
                    // SAFETY: h is this thread's hub.
                    let (g, generation) = unsafe { hub::prepare_park(h) };
                    // SAFETY: as above.
                    let why = unsafe { hub::park(h, g, generation, Some(sys::now_ns() + backoff_ns), Reason::Other) };
                    if why == Wake::Interrupted {
                        return try_now()?.ok_or(Errno::EINTR);
                    }
                    backoff_ns = (backoff_ns * 2).min(20_000_000);
                }
            }
            if let Some(r) = try_now()? {
                return Ok(r);
            }
        }
    })();
    if let Some(fd) = pidfd {
        table::closing(fd);
        let _ = sys::close(fd);
    }
    result
}

/// Set once this process uses ptrace: a tracer's waits report ptrace stops, which are
/// frequent and latency-sensitive, so they pass through (debuggers run no green threads
/// worth scheduling while they wait).
static TRACER: AtomicBool = AtomicBool::new(false);

#[unsafe(no_mangle)]
pub unsafe extern "C" fn ptrace(req: libc::c_uint, pid: libc::pid_t, addr: usize, data: usize) -> libc::c_long {
    TRACER.store(true, Ordering::Relaxed);
    // SAFETY: the program's own request. PEEK requests return the word through `data`
    // in the raw syscall, where glibc returns it: adapt as glibc does.
    unsafe {
        if matches!(req, libc::PTRACE_PEEKTEXT | libc::PTRACE_PEEKDATA | libc::PTRACE_PEEKUSER) {
            let mut word: libc::c_long = 0;
            return match sc!(libc::SYS_ptrace, req, pid, addr, &mut word as *mut libc::c_long) {
                Ok(_) => {
                    sys::set_errno(0);
                    word
                }
                Err(e) => encode(Err(e)) as libc::c_long,
            };
        }
        encode(sc!(libc::SYS_ptrace, req, pid, addr, data)) as libc::c_long
    }
}

fn register_pidfd_kind(fd: i32) {
    table::created(fd, Kind::Pollable, false);
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wait4(pid: libc::pid_t, status: *mut c_int, options: c_int, ru: *mut libc::rusage) -> libc::pid_t {
    crate::hub::cancel::point(|| {
        // SAFETY: the program's own arguments.
        let raw = |opts: c_int| unsafe { sc!(libc::SYS_wait4, pid, status, opts, ru) };
        if options & libc::WNOHANG != 0 || hub::local().is_none() || TRACER.load(Ordering::Relaxed) {
            hub::tick_local();
            return encode(raw(options)) as libc::pid_t;
        }
        let exact = pid > 0 && options & (libc::WUNTRACED | libc::WCONTINUED) == 0;
        let r = wait_green(exact.then_some(pid), || match raw(options | libc::WNOHANG) {
            Ok(0) => Ok(None),
            Ok(p) => Ok(Some(p)),
            Err(e) => Err(e),
        });
        encode(r) as libc::pid_t
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn waitpid(pid: libc::pid_t, status: *mut c_int, options: c_int) -> libc::pid_t {
    // SAFETY: forwarded.
    unsafe { wait4(pid, status, options, core::ptr::null_mut()) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wait(status: *mut c_int) -> libc::pid_t {
    // SAFETY: forwarded.
    unsafe { wait4(-1, status, 0, core::ptr::null_mut()) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wait3(status: *mut c_int, options: c_int, ru: *mut libc::rusage) -> libc::pid_t {
    // SAFETY: forwarded.
    unsafe { wait4(-1, status, options, ru) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn waitid(idtype: libc::idtype_t, id: libc::id_t, info: *mut libc::siginfo_t, options: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        // SAFETY: the program's own arguments.
        let raw = |opts: c_int| unsafe { sc!(libc::SYS_waitid, idtype, id, info, opts, 0) };
        if options & libc::WNOHANG != 0 || hub::local().is_none() || info.is_null() || TRACER.load(Ordering::Relaxed) {
            hub::tick_local();
            return encode(raw(options)) as c_int;
        }
        let exact = idtype == libc::P_PID && options & (libc::WSTOPPED | libc::WCONTINUED) == 0;
        let r = wait_green(exact.then_some(id as libc::pid_t), || {
            // With WNOHANG, "nothing yet" is success with si_pid == 0.
            // SAFETY: info is the program's siginfo out-parameter.
            unsafe { core::ptr::write_bytes(info as *mut u8, 0, core::mem::size_of::<libc::siginfo_t>()) };
            raw(options | libc::WNOHANG)?;
            // SAFETY: filled by the kernel (or still zero).
            let got = unsafe { (*info).si_pid() } != 0;
            Ok(got.then_some(0))
        });
        encode(r) as c_int
    })
}
