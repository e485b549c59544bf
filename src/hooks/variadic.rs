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
//!
//! The `printf` family (`printf`, `fprintf`, `dprintf` and their `__*_chk` forms) needs
//! its arguments, not just a look at the first one: its trampoline spills the six
//! argument registers and `xmm0`–`xmm7` into a register save area laid out as the
//! x86-64 ABI's `va_start` would, builds a `va_list` over it (integer arguments from
//! after the fixed ones, vector ones from `xmm0`, the rest on the caller's stack) and
//! calls the `v` form in `hooks::stdio::printf` with the fixed arguments and that
//! `va_list`.

use crate::hooks::stdio;
use crate::hooks::stdio::printf as pf;
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

/// Defines the trampoline `$name` for a variadic function with `$fixed` fixed integer
/// arguments: it builds a `va_list` for the rest and calls `$imp(fixed…, &va_list)`,
/// returning what it returns.
///
/// Frame (entry rsp ≡ 8 mod 16, so after `sub rsp, 200` rsp is 16-byte aligned for
/// the call):
///
/// ```text
///   rsp + 0   .. 48    rdi rsi rdx rcx r8 r9      register save area (gp)
///   rsp + 48  .. 176   xmm0 .. xmm7               register save area (fp)
///   rsp + 176 .. 200   va_list: gp_offset = 8 × fixed, fp_offset = 48,
///                      overflow_arg_area = rsp + 208 (the caller's stack
///                      arguments), reg_save_area = rsp
///   rsp + 200          return address
/// ```
macro_rules! va_trampoline {
    ($($name:ident => $imp:path, gp_offset $gp:literal, $lea:literal;)*) => {$(
        // SAFETY: the fixed arguments stay in their registers; the save area holds the
        // registers as va_start would lay them out; the stack is 16-byte aligned at the
        // call and restored before the return.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name() {
            core::arch::naked_asm!(
                "sub rsp, 200",
                "mov [rsp], rdi", "mov [rsp + 8], rsi", "mov [rsp + 16], rdx",
                "mov [rsp + 24], rcx", "mov [rsp + 32], r8", "mov [rsp + 40], r9",
                // al = how many vector registers hold arguments (the ABI's upper
                // bound): none, nothing to save, as compilers' own prologues do.
                "test al, al",
                "je 2f",
                "movdqu [rsp + 48], xmm0", "movdqu [rsp + 64], xmm1", "movdqu [rsp + 80], xmm2",
                "movdqu [rsp + 96], xmm3", "movdqu [rsp + 112], xmm4", "movdqu [rsp + 128], xmm5",
                "movdqu [rsp + 144], xmm6", "movdqu [rsp + 160], xmm7",
                "2:",
                concat!("mov dword ptr [rsp + 176], ", $gp),
                "mov dword ptr [rsp + 180], 48",
                "lea rax, [rsp + 208]",
                "mov [rsp + 184], rax",
                "mov [rsp + 192], rsp",
                $lea,
                "call {imp}",
                "add rsp, 200",
                "ret",
                imp = sym $imp,
            )
        }
    )*};
}

va_trampoline! {
    printf => pf::printf_va, gp_offset 8, "lea rsi, [rsp + 176]";
    _IO_printf => pf::printf_va, gp_offset 8, "lea rsi, [rsp + 176]";
    fprintf => pf::fprintf_va, gp_offset 16, "lea rdx, [rsp + 176]";
    _IO_fprintf => pf::fprintf_va, gp_offset 16, "lea rdx, [rsp + 176]";
    dprintf => pf::dprintf_va, gp_offset 16, "lea rdx, [rsp + 176]";
    __printf_chk => pf::printf_chk_va, gp_offset 16, "lea rdx, [rsp + 176]";
    __fprintf_chk => pf::fprintf_chk_va, gp_offset 24, "lea rcx, [rsp + 176]";
    __dprintf_chk => pf::dprintf_chk_va, gp_offset 24, "lea rcx, [rsp + 176]";
}
