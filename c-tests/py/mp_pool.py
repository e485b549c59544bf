"""multiprocessing under the shim: a Pool (its handler threads poll the workers' pipes
and process sentinels), a Process feeding a Queue that a thread drains, and a Lock
shared with a child. Natively all of it finishes at once; every result is printed."""
import multiprocessing as mp
import threading
import testlib


def square(x):
    return x * x


def producer(q, n):
    for i in range(n):
        q.put(i)
    q.put(None)


def locked_add(lock, val, n):
    for _ in range(n):
        with lock:
            val.value += 1


def main():
    with mp.Pool(2) as p:
        print("apply:", p.apply(square, (7,)))
        print("map sum:", sum(p.map(square, range(200))))
        print("imap_unordered sum:", sum(p.imap_unordered(square, range(50))))
        r = p.apply_async(square, (12,))
        print("apply_async:", r.get(timeout=30))

    q = mp.Queue()
    got = []
    t = threading.Thread(target=lambda: got.extend(iter(q.get, None)))
    t.start()
    proc = mp.Process(target=producer, args=(q, 1000))
    proc.start()
    t.join(timeout=30)
    proc.join(timeout=30)
    print("queue items:", len(got), "sum:", sum(got), "exitcode:", proc.exitcode)

    lock = mp.Lock()
    val = mp.Value("i", 0, lock=False)
    kids = [mp.Process(target=locked_add, args=(lock, val, 500)) for _ in range(2)]
    for k in kids:
        k.start()
    locked_add(lock, val, 500)
    for k in kids:
        k.join(timeout=30)
    print("shared counter:", val.value)
    testlib.metric("os_threads_max", testlib.os_threads())


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
