#!/usr/bin/env bash
# One measurement of redis-server --io-threads 4 for bench.py (section 8): the server
# runs with the environment this script was given (LD_PRELOAD and GREENSHIM_* for the
# greenshim columns), redis-benchmark and redis-cli without it. Prints
# RESULT set_rps=… get_rps=… (requests per second), or RESULT failed=1.
#   bash scripts/bench/redis_bench.sh [REQUESTS]
set -u
n=${1:-20000}
preload=${LD_PRELOAD:-}
unset LD_PRELOAD
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LD_PRELOAD=$preload redis-server --port "$port" --bind 127.0.0.1 --io-threads 4 --io-threads-do-reads yes \
    --save '' --appendonly no --logfile '' >/dev/null 2>&1 &
srv=$!
trap 'kill -KILL $srv 2>/dev/null' EXIT
for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
out=$(timeout 300 redis-benchmark -p "$port" -q -n "$n" -c 50 -t set,get 2>/dev/null | tr '\r' '\n' | grep 'requests per second')
set_rps=$(awk '/^SET:/ {print $2}' <<<"$out")
get_rps=$(awk '/^GET:/ {print $2}' <<<"$out")
kill -TERM "$srv" 2>/dev/null
wait "$srv" 2>/dev/null
if [[ -z "$set_rps" || -z "$get_rps" ]]; then
    echo "RESULT failed=1 error=redis-benchmark+gave+no+result"
    exit 1
fi
echo "RESULT set_rps=$set_rps get_rps=$get_rps"
