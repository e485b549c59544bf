//! stdio output on pipes and sockets whose reader is a slow thread of the same program
//! (c-tests/io/stdio_output.c). glibc writes FILE buffers with its internal `write`;
//! under the shim that write must never block the one OS thread (the reader could not
//! run: deadlock) nor fail where the native call blocks. Each case runs natively and
//! under the shim: same stdout (byte counts, checksums, no stream error) and status,
//! one OS thread under the shim, and the ticker kept ticking during the transfer.

mod common;
use common::*;

fn case(name: &str) -> (Run, Run) {
    let p = c_program("io", "stdio_output");
    let args = [name];
    let mut spec = Spec::new(&p);
    spec.args = &args;
    spec.timeout = std::time::Duration::from_secs(120);
    let (native, shim) = compare_one_thread(&spec, "os_threads_max");
    let ticks = format!("ticks_{name}");
    assert!(shim.metric(&ticks) >= 10, "the ticker stalled during {name}:\n{}", shim.stderr);
    (native, shim)
}

/// fdopen on a socketpair end: fwrite (chunks larger than the buffer too), fprintf,
/// vfprintf, __vfprintf_chk, fputs, fputc/putc, the _unlocked forms under flockfile,
/// fflush, fclose with output pending; then dprintf / __dprintf_chk on a socket.
#[test]
fn stdio_output_socketpair_parks_instead_of_failing() {
    case("socketpair");
}

/// The same phases on a TCP connection over 127.0.0.1.
#[test]
fn stdio_output_tcp_parks_instead_of_failing() {
    case("tcp");
}

/// The same phases on a pipe, the last flush being fflush(NULL).
#[test]
fn stdio_output_pipe_parks_instead_of_blocking() {
    case("pipe");
}

/// printf, __printf_chk, puts, putchar and fwrite(stdout) with stdout dup2'ed onto a
/// pipe that a thread of the program reads.
#[test]
fn stdio_output_stdout_pipe_read_by_own_thread() {
    case("stdout");
}

/// Unbuffered stderr on a pipe: fprintf, __fprintf_chk, fputs, fwrite, fputc.
#[test]
fn stdio_output_unbuffered_stderr_pipe() {
    case("stderr");
}

/// A line-buffered socket stream: output up to the last newline is sent at once and
/// the rest stays buffered, as natively; then 4 MiB of lines, some longer than the buffer.
#[test]
fn stdio_output_line_buffered_socket() {
    case("linebuf");
}

/// Two threads write 10,000-byte records (larger than the buffer) to one FILE by
/// fwrite and fprintf: every record arrives whole, as natively, where the FILE lock
/// makes each call atomic. Under the shim the first writer parks mid-record; the
/// second must wait for it rather than write into the same buffer.
#[test]
fn stdio_output_two_threads_one_file_records_stay_whole() {
    case("shared");
}

/// The reader goes away mid-transfer: fwrite comes back short with the stream's error
/// flag and EPIPE, a later fprintf fails, fclose succeeds (nothing left buffered), and
/// dprintf to a closed socket fails with EPIPE, as natively; nothing hangs.
#[test]
fn stdio_output_reader_gone_fails_like_native() {
    case("epipe");
}

/// Records written as two halves between flockfile and funlockfile, with a sleep in
/// between, arrive whole from two threads, on a socketpair and on a regular file: the
/// lock keeps the other green thread's output calls out for the whole section.
#[test]
fn stdio_output_flockfile_section_excludes_other_threads() {
    case("locked");
}
