"""Threads reading /proc and /sys files while other threads sleep: such files are
generated on read (no disk), so under the shim they are read inline — no offload pool
thread, one OS thread — and their contents are what the kernel gives.
stdout: how many reads succeeded; METRIC os_threads_max: peak OS threads seen."""
import threading
import time

from testlib import metric, os_threads

peak = [os_threads()]
ok = []
lock = threading.Lock()


def reader(i):
    for _ in range(5):
        with open("/proc/self/status") as f:
            status = f.read()
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        with open("/proc/meminfo", "rb") as f:
            meminfo = f.read()
        n = next(int(l.split()[1]) for l in status.splitlines() if l.startswith("Threads:"))
        with lock:
            peak[0] = max(peak[0], n)
            ok.append(b"MemTotal" in meminfo and stat.startswith(str(__import__("os").getpid()).encode()))
        time.sleep(0.01)


ts = [threading.Thread(target=reader, args=(i,)) for i in range(5)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(f"{sum(ok)} of {len(ok)} reads returned the kernel's contents")
metric("os_threads_max", peak[0])
