"""queue_pc: queue.Queue(maxsize=10) with 4 producers x 5000 items and 4
consumers, shut down with one None sentinel per consumer after the producers
are joined.

The tiny bound makes producers and consumers park on the queue's conditions
constantly. Checks count, sum, and that every item arrived exactly once.
Follows the c-tests contract (see ../common.h)."""
import os
import queue
import sys
import threading
import time


from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)

NPROD, NCONS, PER = 4, 4, 5000
TOTAL = NPROD * PER
q = queue.Queue(maxsize=10)
got = [[] for _ in range(NCONS)]
peak = 0


def producer(p):
    for i in range(PER):
        q.put(p * PER + i)


def consumer(c):
    global peak
    mine = got[c]
    while True:
        v = q.get()
        if v is None:
            return
        mine.append(v)
        if len(mine) % 1000 == 0:
            peak = max(peak, os_threads())


t0 = time.monotonic()
cons = [threading.Thread(target=consumer, args=(c,)) for c in range(NCONS)]
prods = [threading.Thread(target=producer, args=(p,)) for p in range(NPROD)]
for t in cons + prods:
    t.start()
peak = max(peak, os_threads())
for t in prods:
    t.join()
for _ in cons:
    q.put(None)
for t in cons:
    t.join()
wall_ms = int((time.monotonic() - t0) * 1000)

items = sorted(v for lst in got for v in lst)
if items != list(range(TOTAL)):
    fail(f"got {len(items)} items, not each of 0..{TOTAL - 1} exactly once")
if not q.empty():
    fail("queue not empty")
print(f"{NPROD} producers x {PER} items, {NCONS} consumers: count {len(items)} sum {sum(items)}")
metric("os_threads_max", peak)
metric("wall_ms", wall_ms)
