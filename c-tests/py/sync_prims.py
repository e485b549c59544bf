"""sync_prims: every threading synchronisation primitive, with waiters that
really park (sleeps while holding, timeouts that must expire):
Lock (mutual exclusion; acquire(timeout=0.1) on a held lock -> False after
~0.1 s), RLock (reentrancy, ownership), Condition.wait_for with notify (and
timing out), Event.wait (timeout False, then True once set), Semaphore and
BoundedSemaphore (at most 3 holders, measured; over-release ValueError),
Barrier(10), Timer(0.1) (fires; a cancelled one does not), threading.local.
One deterministic stdout line per primitive. Follows the c-tests contract
(see ../common.h)."""
import os
import sys
import threading
import time


from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)


def check(cond, msg):
    if not cond:
        fail(msg)


peak = 0


def sample():
    global peak
    peak = max(peak, os_threads())


def run(n, fn):
    """Start n threads running fn(i) and join them all."""
    ts = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


t_start = time.monotonic()

# Lock: mutual exclusion, with a switch point inside the critical section.
lock = threading.Lock()
counter = 0


def incr(i):
    global counter
    for k in range(2000):
        with lock:
            c = counter
            if k % 100 == 0:
                time.sleep(0)
            counter = c + 1


run(8, incr)
check(counter == 16000, f"Lock counter {counter}")
print(f"Lock: 8 threads x 2000 increments = {counter}")

# Lock.acquire with timeout / non-blocking on a lock held by main.
res = {}


def try_held(i):
    t = time.monotonic()
    res["timeout"] = lock.acquire(timeout=0.1)
    res["ms"] = (time.monotonic() - t) * 1000
    res["nonblocking"] = lock.acquire(blocking=False)


with lock:
    run(1, try_held)
check(res["timeout"] is False and res["nonblocking"] is False, f"acquire on held lock: {res}")
check(90 <= res["ms"] <= 2000, f"acquire(timeout=0.1) took {res['ms']:.0f} ms")
print(f"Lock.acquire(timeout=0.1) on held lock: {res['timeout']}, blocking=False: {res['nonblocking']}")

# RLock: reentrant for the owner, excludes others, owner-only release.
rlock = threading.RLock()


def try_rlock(i):
    ok = rlock.acquire(blocking=False)
    if ok:
        rlock.release()
    res["rlock"] = ok


for _ in range(3):
    rlock.acquire()
run(1, try_rlock)
held_result = res["rlock"]
for _ in range(3):
    rlock.release()
run(1, try_rlock)
try:
    rlock.release()
    over = "no error"
except RuntimeError:
    over = "RuntimeError"
check(held_result is False and res["rlock"] is True and over == "RuntimeError",
      f"RLock: {held_result} {res['rlock']} {over}")
print(f"RLock: acquired 3x; other thread while held: {held_result}, after 3 releases: {res['rlock']}; "
      f"release unowned: {over}")

# Condition: wait_for woken by notify; wait_for timing out.
cond = threading.Condition()
items = []


def cond_consumer(i):
    with cond:
        res["wait_for"] = cond.wait_for(lambda: len(items) >= 5, timeout=5)
        res["seen"] = len(items)


def cond_producer(i):
    for k in range(5):
        time.sleep(0.01)
        with cond:
            items.append(k)
            cond.notify()


ts = [threading.Thread(target=cond_consumer, args=(0,)), threading.Thread(target=cond_producer, args=(0,))]
for t in ts:
    t.start()
for t in ts:
    t.join()
t = time.monotonic()
with cond:
    timed_out = cond.wait_for(lambda: False, timeout=0.1)
ms = (time.monotonic() - t) * 1000
check(res["wait_for"] is True and res["seen"] == 5, f"wait_for {res}")
check(timed_out is False and 90 <= ms <= 2000, f"wait_for timeout: {timed_out} after {ms:.0f} ms")
print(f"Condition: wait_for after 5 notifies: {res['wait_for']} ({res['seen']} items); "
      f"wait_for(timeout=0.1) unsatisfied: {timed_out}")

# Event: wait with timeout -> False, then set by another thread -> True.
ev = threading.Event()
t = time.monotonic()
first = ev.wait(0.1)
ms = (time.monotonic() - t) * 1000
check(first is False and 90 <= ms <= 2000, f"Event.wait(0.1): {first} after {ms:.0f} ms")
setter = threading.Thread(target=lambda: (time.sleep(0.05), ev.set()))
setter.start()
second = ev.wait(2)
setter.join()
check(second is True, "Event.wait(2) after set")
print(f"Event: wait(0.1) unset: {first}; wait(2) set by thread: {second}")


# Semaphore / BoundedSemaphore: at most 3 holders at once.
def max_holders(sem):
    state = {"in": 0, "max": 0}
    guard = threading.Lock()

    def worker(i):
        with sem:
            with guard:
                state["in"] += 1
                state["max"] = max(state["max"], state["in"])
            time.sleep(0.05)
            if i == 0:
                sample()
            with guard:
                state["in"] -= 1

    run(10, worker)
    return state["max"]


m1 = max_holders(threading.Semaphore(3))
bsem = threading.BoundedSemaphore(3)
m2 = max_holders(bsem)
try:
    bsem.release()
    over = "no error"
except ValueError:
    over = "ValueError"
check(m1 == 3 and m2 == 3, f"max holders {m1} {m2}, want 3")
check(over == "ValueError", "BoundedSemaphore over-release")
print(f"Semaphore(3): 10 workers, max holders {m1}")
print(f"BoundedSemaphore(3): 10 workers, max holders {m2}; over-release: {over}")

# Barrier(10): distinct indices, nobody passes before all arrived.
bar = threading.Barrier(10, timeout=5)
arrived, indices, early = [], [], []
glock = threading.Lock()


def at_barrier(i):
    time.sleep(0.002 * (i % 4))
    with glock:
        arrived.append(i)
    idx = bar.wait()
    with glock:
        indices.append(idx)
        if len(arrived) != 10:
            early.append(i)
    if idx == 0:
        sample()


run(10, at_barrier)
check(sorted(indices) == list(range(10)) and not early, f"Barrier: indices {indices}, early {early}")
print(f"Barrier(10): indices {min(indices)}..{max(indices)} all distinct, passed early: {len(early)}")

# Timer: fires after ~0.1 s; a cancelled one never fires.
fired = threading.Event()
cancelled_fired = threading.Event()
t = time.monotonic()
tm = threading.Timer(0.1, fired.set)
tc = threading.Timer(0.1, cancelled_fired.set)
tm.start()
tc.start()
tc.cancel()
ok = fired.wait(2)
ms = (time.monotonic() - t) * 1000
tm.join()
tc.join()
time.sleep(0.15)
check(ok and 90 <= ms <= 2000, f"Timer fired {ok} after {ms:.0f} ms")
check(not cancelled_fired.is_set(), "cancelled Timer fired")
print(f"Timer(0.1): fired: {ok}; cancelled timer fired: {cancelled_fired.is_set()}")

# threading.local: per-thread values.
loc = threading.local()
loc.x = "main"
own = []


def use_local(i):
    check(not hasattr(loc, "x"), f"thread {i} sees a value it never set")
    loc.x = i
    time.sleep(0.005 * (10 - i))
    with glock:
        own.append(loc.x == i)


run(10, use_local)
check(own == [True] * 10 and loc.x == "main", f"local: {own} main={loc.x}")
print(f"local: {sum(own)} of 10 threads saw their own value; main still has {loc.x!r}")

metric("os_threads_max", peak)
metric("wall_ms", int((time.monotonic() - t_start) * 1000))
