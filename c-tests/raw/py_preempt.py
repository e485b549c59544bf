"""A CPU-bound Python thread beside a threaded TCP responder: natively the GIL hands
over every 5 ms; under the shim with GREENSHIM_PREEMPT the computing green thread is
switched out, the responder's thread gets the GIL, and its answers keep coming.
Prints whether requests were answered while the computation ran (at least 5) and the
computation's result; METRIC answered, worst_gap_ms."""
import socket
import threading
import time

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4)
port = srv.getsockname()[1]


def serve():
    c, _ = srv.accept()
    with c:
        while True:
            d = c.recv(64)
            if not d:
                return
            c.sendall(d)


threading.Thread(target=serve, daemon=True).start()
done = threading.Event()
result = []


def compute():
    t0 = time.monotonic()
    n, acc = 0, 0
    while n < 200000 or time.monotonic() - t0 < 0.6:
        acc = (acc * 31 + n) % 1000003
        n += 1
        if n == 200000:
            result.append(acc)
    done.set()


cl = socket.create_connection(("127.0.0.1", port))
t = threading.Thread(target=compute)
t.start()
answered, worst, last = 0, 0.0, time.monotonic()
while not done.is_set():
    cl.sendall(b"ping")
    assert cl.recv(64) == b"ping"
    answered += 1
    now = time.monotonic()
    worst = max(worst, now - last)
    last = now
    time.sleep(0.002)
t.join()
cl.close()
print("answers while computing:", "yes" if answered >= 5 else f"only {answered}")
print("result:", result[0])
import sys
print(f"METRIC worst_gap_ms={int(worst * 1000)}", file=sys.stderr)
print(f"METRIC answered={answered}", file=sys.stderr)
