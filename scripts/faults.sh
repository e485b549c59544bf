#!/usr/bin/env bash
# The fault suite as a table: every program in c-tests/faults/ runs natively and under
# the shim; a case passes when both exit 0 with the same stdout. Soak programs read
# FAULTS_SOAK_S (seconds; default 3 here, 1 in `make test`).
#   scripts/faults.sh [case...]        FAULTS_SOAK_S=60 scripts/faults.sh
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
lib=${GREENSHIM_LIB:-$root/target/release/libgreenshim.so}
out=$root/target/c-tests
mkdir -p "$out"
export FAULTS_SOAK_S=${FAULTS_SOAK_S:-3}
limit=$((FAULTS_SOAK_S * 3 + 60))
[ -f "$lib" ] || { echo "build first: cargo build --release" >&2; exit 2; }

cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
    for src in "$root"/c-tests/faults/*.c; do cases+=("$(basename "$src" .c)"); done
fi

result() { # status stdout-file -> short text
    case $1 in
        0) echo ok ;;
        124|137) echo hang ;;
        *) if [ "$1" -gt 128 ]; then echo "signal $(( $1 - 128 ))"; else echo "exit $1"; fi ;;
    esac
}

printf '%-22s %-10s %-10s %s\n' case native shim same
fail=0
for c in "${cases[@]}"; do
    src=$root/c-tests/faults/$c.c
    bin=$out/faults-$c
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$root/c-tests/common.h" -nt "$bin" ]; then
        gcc -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -pthread "$src" -o "$bin" || { echo "$c: does not compile"; fail=1; continue; }
    fi
    timeout -s KILL "$limit" "$bin" >"$out/$c.native.out" 2>"$out/$c.native.err" </dev/null
    n=$?
    timeout -s KILL "$limit" env LD_PRELOAD="$lib" "$bin" >"$out/$c.shim.out" 2>"$out/$c.shim.err" </dev/null
    s=$?
    same=yes
    if [ $n -ne $s ] || ! cmp -s "$out/$c.native.out" "$out/$c.shim.out"; then same=NO; fail=1; fi
    [ $n -eq 0 ] || { same="$same (native failed)"; fail=1; }
    printf '%-22s %-10s %-10s %s\n' "$c" "$(result $n)" "$(result $s)" "$same"
    if [ "$same" != yes ]; then
        grep -h '^FAIL' "$out/$c.native.err" "$out/$c.shim.err" | sed 's/^/    /' | head -3
    fi
done
exit $fail
