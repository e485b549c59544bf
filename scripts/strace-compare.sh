#!/usr/bin/env bash
# strace-compare.sh CMD [ARGS...]
#
# Runs CMD twice under `strace -f -c` (natively, then with libgreenshim.so preloaded) and
# prints what changed, one metric per line:
#
#   metric                         | native | greenshim
#
# Rows (in this order; the format is stable for scripts and tests):
#   OS threads created             successful clone + clone3 (forks count too)
#   futex calls                    futex
#   blocking sleeps                nanosleep + clock_nanosleep
#   epoll waits                    epoll_wait + epoll_pwait + epoll_pwait2
#   total syscalls                 every system call
#   wall time (ms, under strace)   ptrace slows each system call, so compare with care
#   exit status                    CMD's (128+N if killed by signal N)
#
# CMD's stdout and stderr are kept out of the table (stderr is shown if CMD fails).
# The library is $GREENSHIM_LIB, else target/release/libgreenshim.so of this repository.
#
# Exit status: 0; 1 if CMD's exit status differs between the two runs; 2 for a usage
# error, a missing library or a missing strace; 3 if strace may not trace (ptrace).
set -euo pipefail

me=strace-compare
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lib="${GREENSHIM_LIB:-$root/target/release/libgreenshim.so}"

if [ $# -eq 0 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
	[ $# -eq 0 ] && exit 2 || exit 0
fi
if ! command -v strace >/dev/null 2>&1; then
	echo "$me: strace not found; install it: apt-get install strace" >&2
	exit 2
fi
if [ ! -f "$lib" ]; then
	echo "$me: $lib not found; build it first: cargo build --release (or set GREENSHIM_LIB)" >&2
	exit 2
fi
lib="$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")" # absolute: CMD may chdir

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Containers without CAP_SYS_PTRACE, or a strict Yama policy, forbid tracing: say so
# rather than printing a table of zeros.
if ! strace -f -o /dev/null true 2>"$tmp/probe"; then
	echo "$me: strace cannot trace here (ptrace not permitted?):" >&2
	sed 's/^/  /' "$tmp/probe" >&2
	exit 3
fi

# The user's own LD_PRELOAD is kept for CMD (behind ours under the shim) but taken away
# from strace itself, which must not run shimmed.
user_preload="${LD_PRELOAD:-}"

# run NAME [LD_PRELOAD value]: traces CMD; leaves NAME.summary, NAME.ms, NAME.status.
run() {
	local name="$1" preload="$2" start end status=0
	local env_args=()
	[ -n "$preload" ] && env_args=(-E "LD_PRELOAD=$preload")
	start=$(date +%s%N)
	env -u LD_PRELOAD strace -f -c -o "$tmp/$name.summary" ${env_args[@]+"${env_args[@]}"} -- "${cmd[@]}" \
		>"$tmp/$name.stdout" 2>"$tmp/$name.stderr" </dev/null || status=$?
	end=$(date +%s%N)
	echo $(((end - start) / 1000000)) >"$tmp/$name.ms"
	echo "$status" >"$tmp/$name.status"
}

cmd=("$@")
run native "$user_preload"
run greenshim "$lib${user_preload:+:$user_preload}"

# sum FILE [successful] SYSCALL...: calls of the syscalls in a `strace -c` summary, or
# calls minus errors with "successful". Summary lines are
#   % time  seconds  usecs/call  calls  [errors]  syscall
# so calls is field 4, the name the last field, and errors (if any) field 5 of 6.
sum() {
	local file="$1" mode="$2"
	shift 2
	awk -v names=" $* " -v mode="$mode" '
		$1 ~ /^[0-9.]+$/ && $4 ~ /^[0-9]+$/ && index(names, " " $NF " ") {
			n += $4
			if (mode == "successful" && NF == 6) n -= $5
		}
		END { print n + 0 }' "$file"
}
total() {
	awk '$NF == "total" && $4 ~ /^[0-9]+$/ { n += $4 } END { print n + 0 }' "$1"
}

row() { printf '%-30s | %10s | %10s\n' "$1" "$2" "$3"; }
both() { # both LABEL MODE SYSCALL...
	local label="$1" mode="$2"
	shift 2
	row "$label" "$(sum "$tmp/native.summary" "$mode" "$@")" "$(sum "$tmp/greenshim.summary" "$mode" "$@")"
}

row metric native greenshim
printf '%s-+-%s-+-%s\n' "$(printf '%.0s-' {1..30})" "$(printf '%.0s-' {1..10})" "$(printf '%.0s-' {1..10})"
both "OS threads created" successful clone clone3
both "futex calls" all futex
both "blocking sleeps" all nanosleep clock_nanosleep
both "epoll waits" all epoll_wait epoll_pwait epoll_pwait2
row "total syscalls" "$(total "$tmp/native.summary")" "$(total "$tmp/greenshim.summary")"
row "wall time (ms, under strace)" "$(cat "$tmp/native.ms")" "$(cat "$tmp/greenshim.ms")"
native_status=$(cat "$tmp/native.status")
shim_status=$(cat "$tmp/greenshim.status")
row "exit status" "$native_status" "$shim_status"

for name in native greenshim; do
	if [ "$(cat "$tmp/$name.status")" != 0 ]; then
		if [ -s "$tmp/$name.stderr" ]; then
			echo "$me: $name run exited with status $(cat "$tmp/$name.status"); its stderr ends:" >&2
			tail -n 20 "$tmp/$name.stderr" | sed 's/^/  /' >&2
		else
			echo "$me: $name run exited with status $(cat "$tmp/$name.status") (no stderr)" >&2
		fi
	fi
done
if [ "$native_status" != "$shim_status" ]; then
	echo "$me: exit status differs (native $native_status, greenshim $shim_status)" >&2
	exit 1
fi
