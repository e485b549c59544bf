//! Variadic libc functions that need work before the real call: the `scanf` family
//! (wait for input before glibc reads).
//!
//! Stable Rust cannot define a C-variadic function, and these cannot be given a fixed
//! prototype: `scanf` takes any number of arguments, some on the stack. Each is instead a
//! naked trampoline that saves every argument register (the six integer registers, `al`
//! with the vector-register count, `xmm0`–`xmm7`), calls a Rust pre-hook with the first
//! argument, restores the registers and tail-jumps to the real function, which then
//! finds its arguments — stack ones included — exactly where the caller put them.
//!
//! The pre-hook returns the real function's address. (`__isoc23_*` exist from glibc
//! 2.38; on older glibc no binary can import them, so their lookup is never made.) A `scanf` pre-hook only waits for
//! the first input: input arriving in pieces while `scanf` parses is read by glibc
//! itself, blocking the OS thread until it is there.

use crate::hooks::stdio;
use crate::sys::real::Lazy;

/// Defines the trampoline `$name` that calls `$pre(first argument)` and jumps to the
/// address it returns.
macro_rules! trampoline {
    ($($name:ident => $pre:ident;)*) => {$(
        // SAFETY: every argument register is saved before and restored after the call
        // to the pre-hook (a plain extern "C" function), the stack is 16-byte aligned at
        // that call (entry rsp ≡ 8 mod 16, plus 7 pushes and 128 bytes), and the jump
        // leaves the stack exactly as the caller built it.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name() {
            core::arch::naked_asm!(
                "push rdi", "push rsi", "push rdx", "push rcx", "push r8", "push r9", "push rax",
                "sub rsp, 128",
                "movdqu [rsp], xmm0", "movdqu [rsp + 16], xmm1", "movdqu [rsp + 32], xmm2",
                "movdqu [rsp + 48], xmm3", "movdqu [rsp + 64], xmm4", "movdqu [rsp + 80], xmm5",
                "movdqu [rsp + 96], xmm6", "movdqu [rsp + 112], xmm7",
                "call {pre}",
                "mov r11, rax",
                "movdqu xmm0, [rsp]", "movdqu xmm1, [rsp + 16]", "movdqu xmm2, [rsp + 32]",
                "movdqu xmm3, [rsp + 48]", "movdqu xmm4, [rsp + 64]", "movdqu xmm5, [rsp + 80]",
                "movdqu xmm6, [rsp + 96]", "movdqu xmm7, [rsp + 112]",
                "add rsp, 128",
                "pop rax", "pop r9", "pop r8", "pop rcx", "pop rdx", "pop rsi", "pop rdi",
                "jmp r11",
                pre = sym $pre,
            )
        }
    )*};
}

/// The real function's address, or a clear exit if this libc lacks it (a binary that
/// imports it could not have been loaded, so this does not happen in practice).
fn real(l: &Lazy, name: &[u8]) -> usize {
    l.get().unwrap_or_else(|| crate::log::fatal_parts(&[b"greenshim: cannot resolve the real libc symbol ", name]))
}

macro_rules! pre_hooks {
    ($($pre:ident ($arg:ident) $body:block => $sym:literal, $alt:literal;)*) => {$(
        extern "C" fn $pre($arg: usize) -> usize {
            static REAL: Lazy = Lazy::new($sym, $alt);
            let _ = $arg;
            $body
            real(&REAL, $sym.to_bytes())
        }
    )*};
}

/// A FILE read by a scanf: wait until reading it cannot block.
fn wait_file(fp: usize) {
    // SAFETY: the program passes a live FILE (or stdin's) to scanf.
    unsafe { stdio::wait_before_read(fp as *mut libc::FILE) };
}

fn wait_stdin() {
    // SAFETY: glibc's stdin stream.
    unsafe { stdio::wait_before_read(stdio::stdin_stream()) };
}

pre_hooks! {
    pre_fscanf(fp) { wait_file(fp); } => c"fscanf", c"fscanf";
    pre_isoc99_fscanf(fp) { wait_file(fp); } => c"__isoc99_fscanf", c"__isoc99_fscanf";
    pre_vfscanf(fp) { wait_file(fp); } => c"vfscanf", c"vfscanf";
    pre_isoc99_vfscanf(fp) { wait_file(fp); } => c"__isoc99_vfscanf", c"__isoc99_vfscanf";
    pre_scanf(_a) { wait_stdin(); } => c"scanf", c"scanf";
    pre_isoc99_scanf(_a) { wait_stdin(); } => c"__isoc99_scanf", c"__isoc99_scanf";
    pre_vscanf(_a) { wait_stdin(); } => c"vscanf", c"vscanf";
    pre_isoc99_vscanf(_a) { wait_stdin(); } => c"__isoc99_vscanf", c"__isoc99_vscanf";
    pre_isoc23_fscanf(fp) { wait_file(fp); } => c"__isoc23_fscanf", c"__isoc23_fscanf";
    pre_isoc23_vfscanf(fp) { wait_file(fp); } => c"__isoc23_vfscanf", c"__isoc23_vfscanf";
    pre_isoc23_scanf(_a) { wait_stdin(); } => c"__isoc23_scanf", c"__isoc23_scanf";
    pre_isoc23_vscanf(_a) { wait_stdin(); } => c"__isoc23_vscanf", c"__isoc23_vscanf";
}

trampoline! {
    fscanf => pre_fscanf;
    __isoc99_fscanf => pre_isoc99_fscanf;
    vfscanf => pre_vfscanf;
    __isoc99_vfscanf => pre_isoc99_vfscanf;
    scanf => pre_scanf;
    __isoc99_scanf => pre_isoc99_scanf;
    vscanf => pre_vscanf;
    __isoc99_vscanf => pre_isoc99_vscanf;
    __isoc23_fscanf => pre_isoc23_fscanf;
    __isoc23_vfscanf => pre_isoc23_vfscanf;
    __isoc23_scanf => pre_isoc23_scanf;
    __isoc23_vscanf => pre_isoc23_vscanf;
}
