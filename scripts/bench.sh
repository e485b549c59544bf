#!/usr/bin/env bash
# greenshim benchmark suite: native threads vs greenshim vs gevent / a hand-written epoll
# server, side by side in one run. `make bench` builds the library, then runs this.
#
#   bash scripts/bench.sh                 full suite (~15-20 min on 2 cores)
#   BENCH_QUICK=1 bash scripts/bench.sh   1 repetition, smaller N, shorter server runs (<4 min)
#
# Other knobs (see scripts/bench/bench.py): BENCH_REPS, BENCH_SCALE_REPS,
# BENCH_SERVER_REPS, BENCH_DURATION (wrk seconds), BENCH_CONNS (e.g. 10,100),
# BENCH_ONLY (create,switch,fast,scale,server,tls,hubs,redis or c_http,py_http,tcp,flask;
# hubs alone rewrites only section 7 of bench/results.md),
# BENCH_INSTALL=0 (never pip/apt-get install anything), BENCH_BASELINE (a git rev of an
# earlier greenshim measured beside this one; default from bench/BASELINE; none to skip).
#
# Tools go into the build directory only: a venv at build/bench-venv with gevent and
# Flask, and the C programs in build/bench/. wrk comes from `apt-get install wrk` when
# missing and running as root. Whatever cannot be had is skipped with a message.
# Writes bench/results.md and bench/servers.svg (BENCH_OUT=DIR to write elsewhere);
# logs and raw numbers in build/bench/.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LIB="$ROOT/target/release/libgreenshim.so"
BUILD="$ROOT/build/bench"
VENV="$ROOT/build/bench-venv"
INSTALL=${BENCH_INSTALL:-1}

say() { printf 'bench: %s\n' "$*" >&2; }

if [[ ! -f "$LIB" ]]; then
    say "building libgreenshim.so (cargo build --release)"
    cargo build --release || { say "cargo build failed"; exit 1; }
fi
OUT=${BENCH_OUT:-$ROOT/bench}
mkdir -p "$BUILD" "$OUT"
rm -f "$BUILD"/server-*.log "$BUILD"/wrk-*.txt
# Measure a snapshot of the library: a rebuild during the run must not change it midway.
cp "$LIB" "$BUILD/libgreenshim.so" || { say "cannot copy $LIB"; exit 1; }
LIB="$BUILD/libgreenshim.so"
LIB_SHA=$(sha256sum "$LIB" | cut -d' ' -f1)
# The commit the snapshot was built from (the tree may move on during the run).
LIB_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n "$(git -C "$ROOT" status --porcelain -- src 2>/dev/null)" ]] && LIB_REV="$LIB_REV+changes"
export BENCH_LIB_REV="$LIB_REV"

# Servers started by the driver are listed in this file while they run: stop any that
# an interrupted run leaves behind (by pid, ours only).
PIDFILE="$BUILD/servers.pids"
: >"$PIDFILE"
cleanup() {
    local pid
    if [[ -f "$PIDFILE" ]]; then
        while read -r pid; do
            [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null
        done <"$PIDFILE"
        : >"$PIDFILE"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- file descriptors: up to the hard limit (10000 connections need > 10000) --------
hard=$(ulimit -Hn)
if [[ "$hard" == unlimited ]]; then hard=1048576; fi
ulimit -n "$hard" 2>/dev/null || say "could not raise ulimit -n to $hard"
say "ulimit -n = $(ulimit -n)"

# ---- C programs ---------------------------------------------------------------------
CC=${CC:-cc}
for prog in micro thread_server epoll_server file_server compute; do
    if ! "$CC" -O2 -Wall -Wextra -pthread -o "$BUILD/$prog" "scripts/bench/$prog.c"; then
        say "failed to compile scripts/bench/$prog.c"
        exit 1
    fi
done

# ---- Rust programs (std::mpsc ping-pong, Mutex hand-off) ----------------------------------
if cargo build --release --quiet --manifest-path c-tests/rust/Cargo.toml --target-dir target/rust-tests --bin bench_pingpong; then
    cp target/rust-tests/release/bench_pingpong "$BUILD/bench_pingpong"
else
    say "cargo build of c-tests/rust failed: Rust cases will be skipped"
    rm -f "$BUILD/bench_pingpong"
fi

# ---- Python: a venv in build/ with gevent and Flask -----------------------------------
HOST_PY=$(command -v python3 || true)
PY=""
if [[ -n "$HOST_PY" ]]; then
    # pyenv's python3 is a shell script: find the real interpreter so a server's pid is
    # the interpreter's own and LD_PRELOAD reaches it directly.
    PY=$("$HOST_PY" -c 'import sys; print(sys.executable)')
fi
if [[ -z "$PY" ]]; then
    say "python3 not found: Python cases will fail"
    PY=python3
fi
if [[ ! -x "$VENV/bin/python" && -n "$HOST_PY" && "$INSTALL" != 0 ]]; then
    say "creating venv $VENV"
    "$PY" -m venv "$VENV" || say "python3 -m venv failed: gevent/Flask cases will be skipped"
fi
if [[ -x "$VENV/bin/python" ]]; then
    PY="$VENV/bin/python"
    if ! "$PY" -c 'import gevent, flask' 2>/dev/null && [[ "$INSTALL" != 0 ]]; then
        say "pip install gevent flask (into $VENV)"
        timeout 600 "$PY" -m pip install -q --disable-pip-version-check gevent flask \
            || say "pip install failed (no network?): cases that need them will be skipped"
    fi
fi
HAVE_GEVENT=0
HAVE_FLASK=0
"$PY" -c 'import gevent, greenlet' 2>/dev/null && HAVE_GEVENT=1
"$PY" -c 'import flask' 2>/dev/null && HAVE_FLASK=1
[[ $HAVE_GEVENT == 1 ]] || say "gevent missing: gevent references (create, greenlet switch, sleepers, servers) skipped"
[[ $HAVE_FLASK == 1 ]] || say "flask missing: the Flask server case is skipped"

# ---- wrk -------------------------------------------------------------------------------
WRK=$(command -v wrk || true)
if [[ -z "$WRK" && "$(id -u)" == 0 && "$INSTALL" != 0 ]]; then
    say "wrk missing: apt-get install -y wrk"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get install -y -qq wrk >/dev/null 2>&1 \
        || { timeout 300 apt-get update -qq >/dev/null 2>&1 && timeout 300 apt-get install -y -qq wrk >/dev/null 2>&1; } \
        || true
    WRK=$(command -v wrk || true)
fi
[[ -n "$WRK" ]] || say "wrk not available: the server load cases (5) are skipped"

command -v taskset >/dev/null || say "taskset missing: servers and wrk will not be pinned"

# ---- xz (section 7, several hubs: xz -T2) ------------------------------------------------
if ! command -v xz >/dev/null && [[ "$(id -u)" == 0 && "$INSTALL" != 0 ]]; then
    say "xz missing: apt-get install -y xz-utils"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get install -y -qq xz-utils >/dev/null 2>&1 \
        || { timeout 300 apt-get update -qq >/dev/null 2>&1 && timeout 300 apt-get install -y -qq xz-utils >/dev/null 2>&1; } \
        || true
fi
command -v xz >/dev/null || say "xz not available: the xz -T2 row of section 7 is skipped"

# ---- the baseline: an earlier greenshim, measured in the same run -------------------------
# bench/BASELINE names the release the hot paths are judged against ("no slower than
# before"); BENCH_BASELINE=<git rev> overrides it, BENCH_BASELINE=none skips it. The rev is
# exported with `git archive` into build/bench-baseline/ and built there once.
BASE_REV=${BENCH_BASELINE:-$(sed -n 's/^rev: *//p' bench/BASELINE 2>/dev/null | head -1)}
# Only the micro cases and the static-file server measure it: BENCH_ONLY without them
# (e.g. hubs) builds no baseline.
if [[ -n "${BENCH_ONLY:-}" && -z "${BENCH_BASELINE:-}" ]]; then
    needs_base=none
    for g in ${BENCH_ONLY//,/ }; do
        case $g in create | switch | fast | server | file) needs_base="$BASE_REV" ;; esac
    done
    BASE_REV=$needs_base
fi
BASE_LIB=""
if [[ -n "$BASE_REV" && "$BASE_REV" != none ]]; then
    if full=$(git rev-parse --verify --quiet "$BASE_REV^{commit}"); then
        short=$(git rev-parse --short "$full")
        bdir="$ROOT/build/bench-baseline"
        if [[ ! -f "$bdir/libgreenshim-$short.so" ]]; then
            say "building the baseline greenshim $short (bench/BASELINE) in $bdir"
            rm -rf "$bdir/src" && mkdir -p "$bdir/src"
            if git archive "$full" | tar -x -C "$bdir/src" \
                && cargo build --release --quiet --manifest-path "$bdir/src/Cargo.toml" --target-dir "$bdir/target"; then
                cp "$bdir/target/release/libgreenshim.so" "$bdir/libgreenshim-$short.so"
            else
                say "the baseline $short did not build: its column is skipped"
            fi
        fi
        [[ -f "$bdir/libgreenshim-$short.so" ]] && BASE_LIB="$bdir/libgreenshim-$short.so" && BASE_REV=$short
    else
        say "BENCH_BASELINE=$BASE_REV is not a commit of this repository (accepted: a git rev, or none): no baseline column"
    fi
fi

export BENCH_BASE_LIB="$BASE_LIB" BENCH_BASE_REV="$BASE_REV"
export BENCH_LIB="$LIB" BENCH_LIB_SHA="$LIB_SHA" BENCH_BIN="$BUILD" BENCH_PY="$PY" BENCH_WRK="$WRK"
export BENCH_HAVE_GEVENT=$HAVE_GEVENT BENCH_HAVE_FLASK=$HAVE_FLASK
export BENCH_OUT="$OUT" BENCH_LOGS="$BUILD"
# The driver itself runs natively (never under the shim).
env -u LD_PRELOAD "$PY" "$ROOT/scripts/bench/bench.py"
