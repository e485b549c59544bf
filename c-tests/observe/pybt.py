"""Three threads, each blocked in a Python function of its own name: a sleep
(worker_a), a queue get (worker_b), a socket recv (worker_c); main prints "ready" and
waits for a line on stdin, then releases them and joins them."""
import queue
import socket
import sys
import threading
import time

stop = threading.Event()
q = queue.Queue()
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
client = socket.create_connection(listener.getsockname())
server, _ = listener.accept()


def worker_a():
    while not stop.is_set():
        time.sleep(0.5)


def worker_b():
    return q.get()


def worker_c():
    return server.recv(16)


threads = [threading.Thread(target=f, name=f.__name__) for f in (worker_a, worker_b, worker_c)]
for t in threads:
    t.start()
time.sleep(0.3)
print("ready", flush=True)
sys.stdin.readline()
stop.set()
q.put("b")
client.sendall(b"c")
for t in threads:
    t.join()
print("done", q.qsize(), flush=True)
