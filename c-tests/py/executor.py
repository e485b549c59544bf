"""executor: concurrent.futures.ThreadPoolExecutor(max_workers=16).map over
200 items, each task sleeping 50 ms and returning i*i.

Checks results come back complete and in order (sum and list), and that the
16 workers really overlap (wall < 5 s; ~650 ms natively). The pool's
queue/condition machinery parks idle workers. Follows the c-tests contract
(see ../common.h)."""
import concurrent.futures
import os
import sys
import threading
import time


from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)

N = 200
peak = 0
lock = threading.Lock()


def task(i):
    global peak
    time.sleep(0.05)
    if i % 20 == 19:
        n = os_threads()
        with lock:
            peak = max(peak, n)
    return i * i


t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
    results = list(ex.map(task, range(N)))
wall_ms = int((time.monotonic() - t0) * 1000)

if results != [i * i for i in range(N)]:
    fail("results wrong or out of order")
total = sum(results)
if total != (N - 1) * N * (2 * N - 1) // 6:
    fail(f"sum {total}")
if wall_ms >= 5000:
    fail(f"wall {wall_ms} ms: workers did not overlap")
print(f"{N} tasks on 16 workers, sum of squares {total}")
metric("os_threads_max", peak)
metric("wall_ms", wall_ms)
