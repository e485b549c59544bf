"""A C extension blocks in sem_wait and recv while holding the GIL (argv[1]: the
directory holding the built blocking_ext module), from several threads in turn, while
other Python threads compute, sleep and use a queue. Natively the others stall until
the blocking call returns; under the shim the blocked green thread keeps the GIL (its
CPython thread state is in its own TLS) and the others wait for it as natively, with no
"non-NULL old thread state" abort. Deterministic output."""
import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, sys.argv[1])
import blocking_ext  # noqa: E402
from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)

stop = threading.Event()
counts = [0] * 4
q = queue.Queue()


def busy(i):
    while not stop.is_set():
        counts[i] += 1
        if counts[i] % 1000 == 0:
            time.sleep(0.0005)


def sleeper():
    n = 0
    while not stop.is_set():
        time.sleep(0.002)
        n += 1
    q.put(("sleeper", n > 0))


def blocker(k, results):
    r1 = blocking_ext.sem_wait_holding_gil(20)
    n, data = blocking_ext.recv_holding_gil(20)
    results[k] = (r1, n, data)


threads = [threading.Thread(target=busy, args=(i,)) for i in range(4)]
threads.append(threading.Thread(target=sleeper))
for t in threads:
    t.start()
results = {}
blockers = [threading.Thread(target=blocker, args=(k, results)) for k in range(3)]
for b in blockers:
    b.start()
metric("os_threads_max", os_threads())
for b in blockers:
    b.join()
# The main thread blocks too.
main_r = blocking_ext.sem_wait_holding_gil(10)
stop.set()
for t in threads:
    t.join()
print("blockers:", [results[k] for k in range(3)])
print("main sem_wait:", main_r)
print("busy threads ran:", all(c > 0 for c in counts))
print("sleeper:", q.get())
if any(results[k] != (0, 4, "pong") for k in range(3)) or main_r != 0:
    fail("a blocking call did not return as expected")
