//! What `greenshim doctor` knows about libc: which imported functions the library hooks,
//! and which can block but are not hooked, so a call to them stops every green thread
//! on the OS thread until it returns.
//!
//! `COVERED` must equal the hooks libgreenshim.so exports, i.e.
//! `nm -D --defined-only target/release/libgreenshim.so | awk '$2=="T"{print $3}'`;
//! tests/launcher.rs checks it after every build so the doctor never claims a hook
//! that does not exist (or misses a new one). Names are unversioned: the doctor strips
//! `@GLIBC_x.y` from what `nm` prints.

/// Functions libgreenshim.so defines (and so interposes), grouped by area.
pub const COVERED: &[&str] = &[
    // threads
    "pthread_create", "pthread_join", "pthread_timedjoin_np", "pthread_clockjoin_np",
    "pthread_tryjoin_np", "pthread_detach", "pthread_exit", "pthread_cancel", "pthread_kill",
    "pthread_self", "pthread_equal", "gettid", "syscall", "pthread_once", "ptrace",
    "pthread_key_create", "pthread_key_delete", "pthread_getspecific", "pthread_setspecific",
    "pthread_getattr_np", "pthread_getname_np", "pthread_setname_np",
    "pthread_getaffinity_np", "pthread_setaffinity_np", "pthread_getcpuclockid",
    "pthread_getschedparam", "pthread_setschedparam", "pthread_setschedprio", "sched_yield",
    "__cxa_thread_atexit_impl", "pthread_setcancelstate", "pthread_setcanceltype",
    "pthread_testcancel", "__pthread_unwind_next",
    // the loader (its locks, for green threads; initial-exec TLS catch-up)
    "dlopen", "dlmopen", "dlclose", "dlsym", "dladdr", "dladdr1", "dl_iterate_phdr",
    // C11 <threads.h>, mapped onto the pthread hooks
    "thrd_create", "thrd_join", "thrd_exit", "thrd_detach", "thrd_current", "thrd_equal",
    "thrd_sleep", "thrd_yield", "mtx_lock", "mtx_trylock", "mtx_timedlock", "mtx_unlock",
    "cnd_init", "cnd_destroy", "cnd_signal", "cnd_broadcast", "cnd_wait", "cnd_timedwait",
    "call_once", "tss_create", "tss_delete", "tss_get", "tss_set",
    // synchronisation
    "pthread_mutex_lock", "pthread_mutex_trylock", "pthread_mutex_timedlock",
    "pthread_mutex_clocklock", "pthread_mutex_unlock",
    "pthread_cond_init", "pthread_cond_destroy", "pthread_cond_wait", "pthread_cond_timedwait",
    "pthread_cond_clockwait", "pthread_cond_signal", "pthread_cond_broadcast",
    "pthread_rwlock_rdlock", "pthread_rwlock_tryrdlock", "pthread_rwlock_timedrdlock",
    "pthread_rwlock_clockrdlock", "pthread_rwlock_wrlock", "pthread_rwlock_trywrlock",
    "pthread_rwlock_timedwrlock", "pthread_rwlock_clockwrlock", "pthread_rwlock_unlock",
    "pthread_spin_init", "pthread_spin_destroy", "pthread_spin_lock", "pthread_spin_trylock",
    "pthread_spin_unlock", "pthread_barrier_wait",
    "sem_wait", "sem_trywait", "sem_timedwait", "sem_clockwait", "sem_post", "sem_getvalue",
    // file descriptors and I/O
    "read", "__read_chk", "readv", "write", "writev", "close", "dup", "dup2", "dup3",
    "pipe", "pipe2", "fcntl", "fcntl64", "ioctl",
    // fds made or closed where the table would not see it
    "eventfd", "timerfd_create", "signalfd", "inotify_init", "inotify_init1", "epoll_create",
    "epoll_create1", "memfd_create", "fclose", "closedir", "close_range", "closefrom",
    // opening (a FIFO waits for its other end: offloaded)
    "fopen", "fopen64", "open", "open64", "openat", "openat64", "__open_2", "__open64_2", "__openat_2",
    "__openat64_2", "creat", "creat64",
    // positioned I/O (files; the v2 forms at offset -1 also pipes and sockets)
    "pread", "pread64", "__pread_chk", "__pread64_chk", "pwrite", "pwrite64", "preadv",
    "preadv64", "pwritev", "pwritev64", "preadv2", "preadv64v2", "pwritev2", "pwritev64v2",
    // glibc's old aliases, pthread_yield
    "__read", "__write", "__open", "__open64", "__pread64", "__pwrite64", "__connect",
    "__send", "__poll", "__select", "__wait", "__waitpid", "pthread_yield",
    // zero-copy transfers
    "sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range",
    // stdio input (parks while the buffer is empty and the fd has no data)
    "fgets", "fgets_unlocked", "__fgets_chk", "__fgets_unlocked_chk", "fread",
    "fread_unlocked", "__fread_chk", "__fread_unlocked_chk", "fgetc", "getc", "_IO_getc",
    "fgetc_unlocked", "getc_unlocked", "getchar", "getchar_unlocked", "__uflow",
    "__underflow", "getline", "getdelim", "__getdelim",
    "scanf", "fscanf", "vscanf", "vfscanf", "__isoc99_scanf", "__isoc99_fscanf",
    "__isoc99_vscanf", "__isoc99_vfscanf", "__isoc23_scanf", "__isoc23_fscanf",
    "__isoc23_vscanf", "__isoc23_vfscanf", "fgetwc", "getwc", "fgetwc_unlocked",
    "getwc_unlocked", "getwchar", "getwchar_unlocked", "fgetws", "fgetws_unlocked",
    "__fgetws_chk", "gets",
    // stdio output (glibc is never left a buffer to write to a pipe or socket)
    "fwrite", "_IO_fwrite", "fwrite_unlocked", "fputs", "_IO_fputs", "fputs_unlocked",
    "puts", "_IO_puts", "fputc", "putc", "_IO_putc", "fputc_unlocked", "putc_unlocked",
    "putchar", "putchar_unlocked", "__overflow", "fflush", "_IO_fflush", "fflush_unlocked",
    "printf", "_IO_printf", "fprintf", "_IO_fprintf", "dprintf", "__printf_chk",
    "__fprintf_chk", "__dprintf_chk", "vprintf", "vfprintf", "_IO_vfprintf", "__vprintf_chk",
    "__vfprintf_chk", "vdprintf", "__vdprintf_chk", "flockfile", "funlockfile", "ftrylockfile",
    "_IO_flockfile", "_IO_funlockfile", "_IO_ftrylockfile", "fopencookie",
    // sockets
    "socket", "socketpair", "connect", "accept", "accept4", "setsockopt",
    "recv", "__recv_chk", "recvfrom", "__recvfrom_chk", "recvmsg", "send", "sendto", "sendmsg",
    "recvmmsg", "sendmmsg",
    // readiness and event loops
    "poll", "__poll_chk", "ppoll", "__ppoll_chk", "select", "pselect",
    "epoll_wait", "epoll_pwait", "epoll_pwait2",
    // sleeping
    "sleep", "usleep", "nanosleep", "__nanosleep", "clock_nanosleep",
    // processes
    "fork", "vfork", "wait", "waitpid", "wait3", "wait4", "waitid",
    // new images inherit the calling thread's signal mask
    "execve", "execv", "execvp", "execvpe", "fexecve", "execveat", "execl", "execlp", "execle",
    "posix_spawn", "posix_spawnp", "popen",
    // signal handlers
    "signal", "bsd_signal", "sysv_signal", "__sysv_signal", "sigset", "sighold", "sigrelse", "sigignore",
    "siginterrupt", "sigaltstack", "sigaction", "__sigaction", "pthread_sigmask", "sigprocmask",
    "pause", "sigsuspend", "__sigsuspend", "sigpause", "__sigpause", "__xpg_sigpause", "sigwait", "sigwaitinfo", "sigtimedwait",
    // served by the offload pool (real OS threads) while the green thread parks
    "getaddrinfo", "getnameinfo", "gethostbyname", "gethostbyname2", "gethostbyname_r",
    "gethostbyname2_r", "gethostbyaddr", "gethostbyaddr_r",
    "res_query", "__res_query", "res_search", "__res_search", "res_querydomain",
    "__res_querydomain", "res_send", "__res_send", "res_nquery", "__res_nquery",
    "res_nsearch", "__res_nsearch", "res_nquerydomain", "__res_nquerydomain", "res_nsend",
    "__res_nsend",
    "system", "pclose", "fsync", "fdatasync", "flock", "lockf", "lockf64", "sync", "syncfs",
    "sync_file_range", "msync", "tcdrain", "aio_suspend", "aio_suspend64", "gai_suspend",
    "getpwnam", "getpwnam_r", "getpwuid", "getpwuid_r", "getgrnam", "getgrnam_r",
    "getgrgid", "getgrgid_r", "getgrouplist", "initgroups", "tcsendbreak",
    // message queues and semaphores between processes
    "mq_receive", "mq_timedreceive", "mq_send", "mq_timedsend",
    "msgrcv", "msgsnd", "semop", "semtimedop",
];

/// libc functions that can block the calling OS thread and that the library does not
/// hook yet (public glibc names only, with their `_chk`, `64` and `__` aliases where
/// glibc exports them). Under greenshim a call to one of these stalls every green thread
/// sharing the OS thread until it returns.
pub const BLOCKING_UNCOVERED: &[&str] = &[
    // Every blocking libc function we know of is hooked. What blocks unseen is inside
    // libc (stdio's flush at exit, perror-style messages, wide-character output, a scanf
    // that needs more input mid-parse) or a raw syscall, which no symbol names. Add
    // names here when one is found.
];

/// Caveats the doctor prints next to a symbol, when a name alone would mislead.
pub const NOTES: &[(&str, &str)] = &[
    ("syscall", "SYS_futex, SYS_futex_waitv and futex2 wait/wake are served (Rust std, libstdc++ waits park); SYS_gettid is virtual; other numbers go to the kernel"),
    ("fcntl", "F_SETLKW/F_OFD_SETLKW record locks are served by the offload pool"),
    ("fcntl64", "F_SETLKW/F_OFD_SETLKW record locks are served by the offload pool"),
    ("scanf", "waits for the first input only; input arriving mid-parse blocks"),
    ("fscanf", "waits for the first input only; input arriving mid-parse blocks"),
    ("__isoc99_scanf", "waits for the first input only; input arriving mid-parse blocks"),
    ("__isoc99_fscanf", "waits for the first input only; input arriving mid-parse blocks"),
    ("fgetws", "waits for the first input only; a line arriving in pieces blocks"),
    ("gets", "waits for the first input only; a line arriving in pieces blocks"),
    ("open", "a FIFO open is served by the offload pool"),
];

/// The note for `name`, if any.
pub fn note(name: &str) -> Option<&'static str> {
    NOTES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}
