"""multiprocessing under the shim, with the start method given as argv[1] (fork,
forkserver, spawn): Pool (apply, map, imap_unordered, starmap, apply_async with a
callback), Process + Queue drained by a thread, JoinableQueue, Manager (dict, list,
Lock), Lock/RLock/Semaphore/Event/Condition/Barrier across processes,
shared_memory.SharedMemory, concurrent.futures.ProcessPoolExecutor. A ticker thread
in the parent must keep ticking throughout. Every result is printed; natively the
same output comes at once."""
import concurrent.futures
import multiprocessing as mp
import sys
import threading
import time
from multiprocessing import shared_memory

import testlib


def square(x):
    return x * x


def mul(a, b):
    return a * b


def producer(q, n):
    for i in range(n):
        q.put(i)
    q.put(None)


def locked_add(lock, val, n):
    for _ in range(n):
        with lock:
            val.value += 1


def joinable_worker(q, out):
    while True:
        item = q.get()
        if item is None:
            q.task_done()
            break
        out.put(item * 2)
        q.task_done()


def manager_worker(d, lst, lock):
    with lock:
        d["child"] = 42
        lst.append("from child")


def sync_worker(ev, cond, sem, bar, rlock, flag):
    ev.wait(30)
    with cond:
        flag.value = 1
        cond.notify_all()
    with sem:
        with rlock:
            with rlock:
                pass
    bar.wait(30)


def shm_worker(name):
    shm = shared_memory.SharedMemory(name=name)
    shm.buf[:5] = b"hello"
    shm.close()


class Ticker:
    def __init__(self):
        self.ticks = 0
        self.max_gap = 0.0
        self.stop = False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        last = time.monotonic()
        while not self.stop:
            time.sleep(0.002)
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            last = now
            self.ticks += 1

    def end(self):
        self.stop = True
        self.t.join()


def main(method):
    ctx = mp.get_context(method)
    ticker = Ticker()
    with ctx.Pool(2) as p:
        print("apply:", p.apply(square, (7,)))
        print("map sum:", sum(p.map(square, range(200))))
        print("imap_unordered sum:", sum(p.imap_unordered(square, range(50))))
        print("starmap:", p.starmap(mul, [(1, 2), (3, 4), (5, 6)]))
        got = []
        r = p.apply_async(square, (12,), callback=got.append)
        print("apply_async:", r.get(timeout=30))
        r.wait(5)
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        print("callback:", got)

    q = ctx.Queue()
    items = []
    t = threading.Thread(target=lambda: items.extend(iter(q.get, None)))
    t.start()
    proc = ctx.Process(target=producer, args=(q, 1000))
    proc.start()
    t.join(timeout=60)
    proc.join(timeout=60)
    print("queue items:", len(items), "sum:", sum(items), "exitcode:", proc.exitcode)

    jq, out = ctx.JoinableQueue(), ctx.Queue()
    w = ctx.Process(target=joinable_worker, args=(jq, out))
    w.start()
    for i in range(20):
        jq.put(i)
    jq.put(None)
    jq.join()
    print("joinable queue results:", sorted(out.get(timeout=30) for _ in range(20))[:5], "...")
    w.join(timeout=30)

    with ctx.Manager() as man:
        d, lst, lock = man.dict(), man.list(), man.Lock()
        m = ctx.Process(target=manager_worker, args=(d, lst, lock))
        m.start()
        m.join(timeout=30)
        print("manager:", dict(d), list(lst))

    lock = ctx.Lock()
    val = ctx.Value("i", 0, lock=False)
    kids = [ctx.Process(target=locked_add, args=(lock, val, 300)) for _ in range(2)]
    for k in kids:
        k.start()
    locked_add(lock, val, 300)
    for k in kids:
        k.join(timeout=30)
    print("shared counter:", val.value)

    ev, cond, sem, bar, rlock = ctx.Event(), ctx.Condition(), ctx.Semaphore(1), ctx.Barrier(2), ctx.RLock()
    flag = ctx.Value("i", 0)
    s = ctx.Process(target=sync_worker, args=(ev, cond, sem, bar, rlock, flag))
    s.start()
    time.sleep(0.05)
    ev.set()
    with cond:
        cond.wait_for(lambda: flag.value == 1, timeout=30)
    bar.wait(30)
    s.join(timeout=30)
    print("event/condition/semaphore/rlock/barrier: flag", flag.value, "exitcode", s.exitcode)

    shm = shared_memory.SharedMemory(create=True, size=16)
    try:
        p2 = ctx.Process(target=shm_worker, args=(shm.name,))
        p2.start()
        p2.join(timeout=30)
        print("shared memory:", bytes(shm.buf[:5]))
    finally:
        shm.close()
        shm.unlink()

    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        print("ProcessPoolExecutor:", sum(ex.map(square, range(100))))

    ticker.end()
    testlib.metric("ticks", ticker.ticks)
    testlib.metric("max_tick_gap_ms", int(ticker.max_gap * 1000))
    testlib.metric("os_threads_max", testlib.os_threads())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
