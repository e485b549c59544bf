"""Python micro-benchmarks for greenshim's benchmark suite (driven by bench.py).

    python py_micro.py CASE N

Prints one line "RESULT key=value ..." on stdout.

cases:
  thread_create    N x threading.Thread(target=f).start(); .join()  (ns per start+join)
  gevent_spawn     N x gevent.spawn(f).join()                        (ns per spawn+join)
  greenlet_switch  N round trips between two greenlets (greenlet.switch), ns per round trip
  sleepers_threads N threading.Threads each time.sleep(1), then joined
  sleepers_gevent  N greenlets each gevent.sleep(1), then joined
  gil_mix          4 worker threads, N steps each: a pure-Python loop (holds the GIL),
                   sha256 of 64 KiB (hashlib releases the GIL) and a 4 KiB round trip
                   over a socketpair to an echo thread of its own (wall_s; prints the
                   combined digest, the same in every run)
"""
import sys
import time


def status_field(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def result(**kw):
    print("RESULT " + " ".join(f"{k}={v}" for k, v in kw.items()), flush=True)


def empty():
    pass


def thread_create(n):
    import threading
    for _ in range(100):
        t = threading.Thread(target=empty)
        t.start()
        t.join()
    t0 = time.perf_counter()
    for _ in range(n):
        t = threading.Thread(target=empty)
        t.start()
        t.join()
    dt = time.perf_counter() - t0
    result(ns_per_op=f"{dt * 1e9 / n:.2f}", ops=n, secs=f"{dt:.4f}", os_threads=status_field("Threads"))


def gevent_spawn(n):
    import gevent
    for _ in range(100):
        gevent.spawn(empty).join()
    t0 = time.perf_counter()
    for _ in range(n):
        gevent.spawn(empty).join()
    dt = time.perf_counter() - t0
    result(ns_per_op=f"{dt * 1e9 / n:.2f}", ops=n, secs=f"{dt:.4f}", os_threads=status_field("Threads"))


def greenlet_switch(n):
    from greenlet import greenlet, getcurrent
    main = getcurrent()

    def peer():
        sw = main.switch
        while True:
            sw()

    g = greenlet(peer)
    sw = g.switch
    for _ in range(1000):
        sw()
    t0 = time.perf_counter()
    for _ in range(n):
        sw()
    dt = time.perf_counter() - t0
    result(ns_per_op=f"{dt * 1e9 / n:.2f}", ops=n, secs=f"{dt:.4f}", os_threads=status_field("Threads"))


def sleepers(n, kind):
    base = status_field("VmRSS")
    t0 = time.perf_counter()
    alive = [0, 0]

    def sleeper_thread():
        alive[0] += 1
        if alive[0] > alive[1]:
            alive[1] = alive[0]
        time.sleep(1)
        alive[0] -= 1

    created = 0
    err = None
    if kind == "threads":
        import threading
        ts = []
        try:
            for _ in range(n):
                t = threading.Thread(target=sleeper_thread)
                t.start()
                ts.append(t)
                created += 1
        except Exception as e:  # RuntimeError: can't start new thread
            err = f"{type(e).__name__}:{str(e).replace(' ', '+')}"
        create_s = time.perf_counter() - t0
        threads = status_field("Threads")
        for t in ts:
            t.join()
    else:
        import gevent

        def sleeper_green():
            alive[0] += 1
            if alive[0] > alive[1]:
                alive[1] = alive[0]
            gevent.sleep(1)
            alive[0] -= 1

        gs = [gevent.spawn(sleeper_green) for _ in range(n)]
        created = n
        create_s = time.perf_counter() - t0
        gevent.sleep(0)  # let them all start
        threads = status_field("Threads")
        gevent.joinall(gs)
    wall = time.perf_counter() - t0
    hwm = status_field("VmHWM")
    if err:
        result(failed=1, created=created, error=err, wall_s=f"{wall:.3f}", hwm_kib=hwm, os_threads=threads)
        sys.exit(3)
    result(wall_s=f"{wall:.3f}", create_s=f"{create_s:.3f}", base_kib=base, hwm_kib=hwm,
           kib_per_thread=f"{(hwm - base) / n:.2f}", os_threads=threads, max_alive=alive[1])


def gil_mix(n, workers=4):
    import hashlib
    import socket
    import threading
    blob = bytes(range(256)) * 256  # 64 KiB
    chunk = b"x" * 4096
    digests = [None] * workers

    def echo(sock):
        while True:
            b = sock.recv(65536)
            if not b:
                break
            sock.sendall(b)
        sock.close()

    def worker(i, sock):
        h = hashlib.sha256()
        for step in range(n):
            acc = 0
            for k in range(1500):
                acc += k * k ^ step
            h.update(hashlib.sha256(blob + acc.to_bytes(16, "little")).digest())
            sock.sendall(chunk)
            got = 0
            while got < len(chunk):
                got += len(sock.recv(len(chunk) - got))
        sock.close()
        digests[i] = h.hexdigest()

    pairs = [socket.socketpair() for _ in range(workers)]
    t0 = time.perf_counter()
    ts = [threading.Thread(target=echo, args=(b,)) for _, b in pairs]
    ts += [threading.Thread(target=worker, args=(i, a)) for i, (a, _) in enumerate(pairs)]
    for t in ts:
        t.start()
    threads = status_field("Threads")
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    print("gil_mix:", hashlib.sha256("".join(digests).encode()).hexdigest())
    result(wall_s=f"{wall:.4f}", ops=n * workers, os_threads=threads)


def main():
    case, n = sys.argv[1], int(sys.argv[2])
    if case == "thread_create":
        thread_create(n)
    elif case == "gevent_spawn":
        gevent_spawn(n)
    elif case == "greenlet_switch":
        greenlet_switch(n)
    elif case == "sleepers_threads":
        sleepers(n, "threads")
    elif case == "sleepers_gevent":
        sleepers(n, "gevent")
    elif case == "gil_mix":
        gil_mix(n)
    else:
        sys.exit(f"unknown case {case}")


if __name__ == "__main__":
    main()
