//! fork and exec: rebuild the hub in a forked child; clear the O_NONBLOCK the shim put
//! on inherited sockets before another program image can see it.

use crate::fd::table;
use crate::hub;
use crate::sys::{encode, real, sc};
use core::ffi::{c_char, c_int};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fork() -> libc::pid_t {
    // glibc's fork runs the pthread_atfork handlers around the clone.
    // SAFETY: forwarded.
    let pid = unsafe { real::fork() };
    if pid == 0 {
        // SAFETY: in the child, on the forking thread, before anything else runs.
        unsafe { hub::after_fork_child() };
    }
    pid
}

/// `vfork` children share the parent's memory (and so the hub and fd table); the
/// hooks they call would corrupt the parent. POSIX allows vfork to be a fork.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vfork() -> libc::pid_t {
    // SAFETY: forwarded.
    unsafe { fork() }
}

fn prepare_exec() {
    if hub::local().is_some() {
        table::before_exec();
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    prepare_exec();
    // SAFETY: the program's own arguments.
    encode(unsafe { sc!(libc::SYS_execve, path, argv, envp) }) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: environ is the process environment.
    unsafe { execve(path, argv, environ as *const *const c_char) }
}

unsafe extern "C" {
    static environ: *const *const c_char;
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    prepare_exec();
    // SAFETY: the program's own arguments; "" + AT_EMPTY_PATH executes the fd itself.
    encode(unsafe { sc!(libc::SYS_execveat, fd, c"".as_ptr(), argv, envp, libc::AT_EMPTY_PATH) }) as c_int
}

macro_rules! exec_via_libc {
    ($name:ident ( $($arg:ident : $ty:ty),* )) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            prepare_exec();
            // SAFETY: forwarded (glibc resolves PATH and calls its internal execve).
            unsafe { real::$name($($arg),*) }
        }
    };
}

exec_via_libc!(execvp(file: *const c_char, argv: *const *const c_char));
exec_via_libc!(execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char));
exec_via_libc!(posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char
));
exec_via_libc!(posix_spawnp(
    pid: *mut libc::pid_t,
    path: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char
));
