"""gevent_classics: the classic gevent tutorial examples, written with plain
threading (greenshim should give the same cooperative behaviour for free):
(a) three tasks each time.sleep(1) concurrently -> ~1 s in total, not 3 s;
(b) the "sleep(0) ping-pong" between foo and bar: each logs a line, yields
    with time.sleep(0), logs another. The interleaving is up to the scheduler
    (natively it varies), so it only goes to stderr as an "ORDER ..." line;
    checked: all four steps ran and each thread's two steps are in order;
(c) a Semaphore(2) guarding a section entered by 5 workers: max 2 inside.
Follows the c-tests contract (see ../common.h)."""
import os
import sys
import threading
import time


from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)


def run(fns):
    ts = [threading.Thread(target=f) for f in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


peak = 0
t_start = time.monotonic()

# (a) three one-second tasks overlap.
done = []


def task():
    global peak
    time.sleep(1)
    peak = max(peak, os_threads())
    done.append(1)


t = time.monotonic()
run([task, task, task])
wall_ms = int((time.monotonic() - t) * 1000)
if len(done) != 3 or not 990 <= wall_ms < 2500:
    fail(f"{len(done)} tasks done in {wall_ms} ms, want 3 in ~1000")
print("3 tasks done")
metric("wall_ms", wall_ms)

# (b) ping-pong with sleep(0) as the explicit context switch.
order = []
olock = threading.Lock()


def log(s):
    with olock:
        order.append(s)


def foo():
    log("foo:running")
    time.sleep(0)
    log("foo:again")


def bar():
    log("bar:running")
    time.sleep(0)
    log("bar:back")


run([foo, bar])
sys.stderr.write("ORDER " + " ".join(order) + "\n")
if sorted(order) != ["bar:back", "bar:running", "foo:again", "foo:running"]:
    fail(f"ping-pong steps {order}")
if order.index("foo:running") > order.index("foo:again") or order.index("bar:running") > order.index("bar:back"):
    fail(f"ping-pong out of order within a thread: {order}")
print("pingpong done")

# (c) Semaphore(2) guarding a section entered by 5 workers.
sem = threading.Semaphore(2)
inside = [0, 0]  # current, max
ilock = threading.Lock()


def worker():
    with sem:
        with ilock:
            inside[0] += 1
            inside[1] = max(inside[1], inside[0])
        time.sleep(0.1)
        with ilock:
            inside[0] -= 1


t = time.monotonic()
run([worker] * 5)
sem_ms = int((time.monotonic() - t) * 1000)
if inside[1] != 2 or inside[0] != 0:
    fail(f"semaphore max concurrency {inside[1]}, want 2")
if not 290 <= sem_ms < 2500:  # 5 workers, 2 at a time, 0.1 s each: 3 waves
    fail(f"semaphore section took {sem_ms} ms, want ~300")
print(f"semaphore max concurrency {inside[1]}")
metric("os_threads_max", peak)
metric("total_wall_ms", int((time.monotonic() - t_start) * 1000))
