"""getaddrinfo_threads: 100 threads call socket.getaddrinfo("localhost", 80,
type=socket.SOCK_STREAM) at once while a ticker thread sleeps 1 ms in a loop.

Name resolution cannot be watched by epoll; under the shim it must not stall
every other green thread for the duration of the lookups (greenshim serves it
from its offload pool). The ticker records the largest gap between two
ticks: METRIC max_tick_gap_ms (natively only checked against a generous
2000 ms). Every result must contain ("127.0.0.1", 80) for SOCK_STREAM.
Follows the c-tests contract (see ../common.h)."""
import os
import socket
import sys
import threading
import time


from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)

N = 100
results = [None] * N
start = threading.Barrier(N + 1, timeout=10)  # workers and main
stop = threading.Event()
ticks = 0
max_gap = 0.0


def ticker():
    global ticks, max_gap
    last = time.monotonic()
    while not stop.is_set():
        time.sleep(0.001)
        now = time.monotonic()
        max_gap = max(max_gap, now - last)
        last = now
        ticks += 1


def worker(i):
    start.wait()
    results[i] = socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)


tk = threading.Thread(target=ticker)
tk.start()
time.sleep(0.01)  # the ticker is ticking before the lookups start
ts = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
for t in ts:
    t.start()
peak = os_threads()  # all workers exist (waiting at the barrier)
t0 = time.monotonic()
try:
    start.wait()
except threading.BrokenBarrierError:
    fail("workers did not all reach the start barrier within 10 s")
for t in ts:
    t.join(timeout=30)
    if t.is_alive():
        fail(f"{t.name} still running after 30 s")
    peak = max(peak, os_threads())
wall_ms = int((time.monotonic() - t0) * 1000)
time.sleep(0.01)
stop.set()
tk.join()

for i, r in enumerate(results):
    if r is None:
        fail(f"thread {i}: no result")
    addrs = {(fam, sa[0], sa[1]) for fam, typ, proto, canon, sa in r if typ == socket.SOCK_STREAM}
    if (socket.AF_INET, "127.0.0.1", 80) not in addrs:
        fail(f"thread {i}: getaddrinfo result {r!r} lacks 127.0.0.1:80")
    if any(typ != socket.SOCK_STREAM for fam, typ, proto, canon, sa in r):
        fail(f"thread {i}: result has a non-SOCK_STREAM entry: {r!r}")
print(f"{N} getaddrinfo('localhost', 80, SOCK_STREAM) calls: every result contains 127.0.0.1:80")
gap_ms = int(max_gap * 1000)
if gap_ms > 2000:
    fail(f"ticker stalled for {gap_ms} ms")
if ticks < 1:
    fail("ticker never ticked")
print("ticker kept ticking: yes")
metric("max_tick_gap_ms", gap_ms)
metric("ticks", ticks)
metric("wall_ms", wall_ms)
metric("os_threads_max", peak)
