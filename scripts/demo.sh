#!/usr/bin/env bash
# make demo: the gevent tutorials' classic examples, as plain C and plain Python
# threads, run natively and under greenshim, side by side. Finishes in well under a
# minute.
set -euo pipefail
cd "$(dirname "$0")/.."
LIB=${GREENSHIM_LIB:-$PWD/target/release/libgreenshim.so}
[ -f "$LIB" ] || { echo "demo: $LIB missing; run make" >&2; exit 2; }
PY=${PYTHON:-python3}
OUT=build/demo
mkdir -p "$OUT"
for p in sleeps fetch conn_server compute; do
	gcc -O2 -Wall -D_GNU_SOURCE -pthread "scripts/demo/$p.c" -o "$OUT/$p"
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The slow HTTP server runs natively, in its own process.
"$PY" scripts/demo/slow_server.py > "$OUT/port" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$OUT/port" ] && break; sleep 0.1; done
PORT=$(cat "$OUT/port")

row() { # label, command... → "ms threads" natively and under the shim
	local label=$1; shift
	local n s
	n=$("$@")
	s=$(LD_PRELOAD=$LIB "$@")
	printf '| %-52s | %6s ms | %6s | %6s ms | %6s |\n' "$label" ${n% *} ${n#* } ${s% *} ${s#* }
}

echo
echo "greenshim demo: the same unmodified programs, natively and with LD_PRELOAD=libgreenshim.so"
echo
printf '| %-52s | %9s | %6s | %9s | %6s |\n' "example" "native" "OS thr" "greenshim" "OS thr"
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "-----------" "--------" "-----------" "--------"
row "C: three 1 s sleeps, one after another"            "$OUT/sleeps" seq
row "C: three 1 s sleeps in three threads"               "$OUT/sleeps"
row "Python: three 1 s sleeps in threading.Thread"       "$PY" scripts/demo/sleeps.py
row "C: 50 threads fetch from a 0.5 s/request server"    "$OUT/fetch" "$PORT" 50
row "Python: 50 threads urllib-fetch the same server"    "$PY" scripts/demo/fetch.py "$PORT" 50
row "C: thread-per-connection server, 1000 clients"      "$OUT/conn_server"
row "Python: ThreadingTCPServer, 1000 clients"           "$PY" scripts/demo/conn_server.py
row "C: two threads computing (one hub, the default)"   "$OUT/compute"
row "C: the same, GREENSHIM_HUBS=2 (--hubs 2)"          env GREENSHIM_HUBS=2 "$OUT/compute"
echo
echo "OS thr = peak OS threads in the process (server process for the server rows),"
echo "read from /proc/self/status. Same output, same errors. Under the shim every program"
echo "thread is a green thread on one OS thread; the few more are the shim's offload pool,"
echo "for calls epoll cannot watch (urllib's DNS lookups; accepts on a listening socket the"
echo "forked client process also holds, which another process could take first)."
echo "Compute-bound threads share that one OS thread unless GREENSHIM_HUBS (--hubs N|auto)"
echo "runs green threads on several: the last row gets both cores back."

if command -v strace >/dev/null 2>&1 && [ -x scripts/strace-compare.sh ]; then
	echo
	echo "strace -f of the three-thread sleep example (scripts/strace-compare.sh):"
	bash scripts/strace-compare.sh "$OUT/sleeps" || echo "(strace comparison unavailable here)"
fi
