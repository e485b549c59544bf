"""subprocess50: 50 threads each run subprocess.run(["sh", "-c", "echo $0; exit 3", str(i)],
capture_output=True) at once.

Exercises what subprocess does under the hood from many green threads at
once: fork/vfork + exec (_posixsubprocess), the exec-error pipe, reading the
child's stdout and stderr pipes (communicate: poll/selectors), and waitpid.
Checks every child's output is exactly "<i>\\n", stderr empty, return code 3.
A ticker thread (sleep 5 ms) runs meanwhile and must tick (max gap reported).
Follows the c-tests contract (see ../common.h)."""
import os
import subprocess
import sys
import threading
import time


from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)

N = 50
results = [None] * N
peak = 0
lock = threading.Lock()
start = threading.Barrier(N, timeout=10)
stop = threading.Event()
ticks = 0


def sample():
    global peak
    n = os_threads()
    with lock:
        peak = max(peak, n)


max_gap = 0.0


def ticker():
    global ticks, max_gap
    last = time.monotonic()
    while not stop.is_set():
        time.sleep(0.005)
        now = time.monotonic()
        max_gap = max(max_gap, now - last)
        last = now
        ticks += 1


def worker(i):
    if start.wait() == 0:  # all 50 threads exist
        sample()
    r = subprocess.run(["sh", "-c", "echo $0; exit 3", str(i)], capture_output=True, timeout=20)
    results[i] = (r.stdout, r.stderr, r.returncode)


t0 = time.monotonic()
tk = threading.Thread(target=ticker)
tk.start()
ts = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join(timeout=30)
    if t.is_alive():
        fail(f"{t.name} still running after 30 s")
stop.set()
tk.join()
wall_ms = int((time.monotonic() - t0) * 1000)

for i, r in enumerate(results):
    if r is None:
        fail(f"thread {i} produced no result")
    out, err, rc = r
    want = b"%d\n" % i
    if out != want:
        fail(f"thread {i}: stdout {out!r}, want {want!r}")
    if err != b"":
        fail(f"thread {i}: stderr {err!r}")
    if rc != 3:
        fail(f"thread {i}: return code {rc}, want 3")
print(f"{N} subprocesses: each printed its own number, stderr empty, return code 3")
print(f"sum of the printed numbers: {sum(int(r[0]) for r in results)}")
# The whole run can be short (~50 ms natively), and fork blocks the one OS thread
# under the shim; the ticker must have run at all, its gaps are reported.
if ticks < 1:
    fail(f"ticker never ticked in {wall_ms} ms")
print("ticker ran meanwhile: yes")
metric("ticks", ticks)
metric("max_tick_gap_ms", int(max_gap * 1000))
metric("wall_ms", wall_ms)
metric("os_threads_max", peak)
