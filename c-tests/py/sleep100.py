"""sleep100: 100 threading.Thread each time.sleep(1).

All sleeps overlap, so the whole run takes ~1 s (not 100 s); under the shim
they are 100 green threads on one OS thread. Checks every thread finished and
wall time < 5 s. Follows the c-tests contract (see ../common.h)."""
import os
import sys
import threading
import time


from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)

N = 100
done = []
lock = threading.Lock()


def sleeper(i):
    time.sleep(1)
    with lock:
        done.append(i)


t0 = time.monotonic()
threads = [threading.Thread(target=sleeper, args=(i,)) for i in range(N)]
for t in threads:
    t.start()
peak = os_threads()  # all 100 are sleeping now
for t in threads:
    t.join()
wall_ms = int((time.monotonic() - t0) * 1000)

if sorted(done) != list(range(N)):
    fail(f"{len(done)} of {N} threads finished")
if not 990 <= wall_ms < 5000:
    fail(f"wall {wall_ms} ms, want ~1000")
print(f"{N} threads slept")
metric("os_threads_max", peak)
metric("wall_ms", wall_ms)
