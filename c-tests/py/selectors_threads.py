"""selectors_threads: 30 consumer threads wait on socketpairs with three
different multiplexers at once: 10 with selectors.DefaultSelector (epoll),
10 with select.epoll directly, 10 with select.select. A writer thread feeds
every consumer 3 messages (in a deterministic shuffled order, with short
sleeps), then closes its end; each consumer must read exactly its own
messages, in order, then EOF. A ticker thread (sleep 2 ms) runs meanwhile and
must tick while the consumers wait.

Under the shim each multiplexer call must park only its caller and report
readiness correctly for its own fds. Every wait has a 5 s timeout: a timeout
is a failure. Follows the c-tests contract (see ../common.h)."""
import os
import random
import select
import selectors
import socket
import sys
import threading
import time


from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)

KINDS = ["selectors", "epoll", "select"]
PER_KIND = 10
N = PER_KIND * len(KINDS)
MSGS = 3
TIMEOUT = 5.0

pairs = [socket.socketpair() for _ in range(N)]
received = [b""] * N
waits = [0] * N
ready = threading.Barrier(N + 2, timeout=10)  # consumers, writer, main
stop = threading.Event()
ticks = 0
ticks_in_waits = 0


def ticker():
    global ticks
    while not stop.is_set():
        time.sleep(0.002)
        ticks += 1


def expected(i):
    return b"".join(b"<%d:%d>" % (i, j) for j in range(MSGS))


def consume(i, wait):
    """wait() blocks until the socket is readable (False on timeout)."""
    global ticks_in_waits
    sock = pairs[i][0]
    ready.wait()
    buf = b""
    while True:
        before = ticks
        if not wait():
            fail(f"consumer {i} ({KINDS[i // PER_KIND]}): no readiness within {TIMEOUT} s; got {buf!r}")
        ticks_in_waits = max(ticks_in_waits, ticks - before)
        waits[i] += 1
        data = sock.recv(4096)
        if not data:
            break
        buf += data
    received[i] = buf


def with_selectors(i):
    sel = selectors.DefaultSelector()
    if not isinstance(sel, selectors.EpollSelector):
        fail(f"DefaultSelector is {type(sel).__name__}, want EpollSelector")
    sel.register(pairs[i][0], selectors.EVENT_READ, data=i)

    def wait():
        events = sel.select(TIMEOUT)
        for key, mask in events:
            if key.data != i or mask != selectors.EVENT_READ:
                fail(f"consumer {i}: selector reported {key.data} mask {mask}")
        return bool(events)

    consume(i, wait)
    sel.close()


def with_epoll(i):
    ep = select.epoll()
    fd = pairs[i][0].fileno()
    ep.register(fd, select.EPOLLIN)

    def wait():
        events = ep.poll(TIMEOUT)
        for efd, mask in events:
            if efd != fd or not mask & select.EPOLLIN:
                fail(f"consumer {i}: epoll reported fd {efd} mask {mask:#x}")
        return bool(events)

    consume(i, wait)
    ep.close()


def with_select(i):
    sock = pairs[i][0]

    def wait():
        r, w, x = select.select([sock], [], [], TIMEOUT)
        if r and r != [sock]:
            fail(f"consumer {i}: select reported {r}")
        return bool(r)

    consume(i, wait)


def writer():
    ready.wait()
    plan = [(i, j) for i in range(N) for j in range(MSGS)]
    rng = random.Random(42)
    rng.shuffle(plan)
    # messages of one consumer must go out in order: re-sort each consumer's j's
    nxt = [0] * N
    for k, (i, _) in enumerate(plan):
        j = nxt[i]
        nxt[i] += 1
        pairs[i][1].sendall(b"<%d:%d>" % (i, j))
        if nxt[i] == MSGS:
            pairs[i][1].close()
        if k % 5 == 4:
            time.sleep(0.005)


peak = 0
t0 = time.monotonic()
tk = threading.Thread(target=ticker)
tk.start()
ts = []
for i in range(N):
    fn = [with_selectors, with_epoll, with_select][i // PER_KIND]
    ts.append(threading.Thread(target=fn, args=(i,)))
ts.append(threading.Thread(target=writer))
for t in ts:
    t.start()
peak = os_threads()  # every thread exists (the consumers wait at the barrier)
try:
    ready.wait()
except threading.BrokenBarrierError:
    fail("threads did not all reach the start barrier within 10 s")
for t in ts:
    t.join(timeout=20)
    if t.is_alive():
        fail(f"{t.name} still running after 20 s")
stop.set()
tk.join()
wall_ms = int((time.monotonic() - t0) * 1000)

for kind_no, kind in enumerate(KINDS):
    for i in range(kind_no * PER_KIND, (kind_no + 1) * PER_KIND):
        if received[i] != expected(i):
            fail(f"consumer {i} ({kind}): got {received[i]!r}, want {expected(i)!r}")
    print(f"{kind}: {PER_KIND} consumers each got their {MSGS} messages in order, then EOF")
print(f"total bytes: {sum(len(r) for r in received)}")
if ticks < 5:
    fail(f"ticker only ticked {ticks} times in {wall_ms} ms")
print("ticker ran meanwhile: yes")
metric("ticks", ticks)
metric("max_ticks_during_one_wait", ticks_in_waits)
metric("waits", sum(waits))
metric("wall_ms", wall_ms)
metric("os_threads_max", peak)
