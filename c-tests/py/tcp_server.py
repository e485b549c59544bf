"""tcp_server: socketserver.ThreadingTCPServer echo server on 127.0.0.1:0,
served from a thread of this process, and 200 concurrent client threads each
sending a deterministic 32 KiB payload and checking the echo by sha256.
The clients first all connect (a Barrier), so every connection is open at once.

Exercises accept/recv/sendall/poll parking under the shim with ~400 threads
(200 clients + 200 handler threads). Follows the c-tests contract (see
../common.h)."""
import hashlib
import os
import socket
import socketserver
import sys
import threading
import time


from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)

NCLIENTS = 200
SIZE = 32 * 1024


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class Server(socketserver.ThreadingTCPServer):
    request_queue_size = 512  # 200 clients connect at once
    allow_reuse_address = True


peak = 0
peak_lock = threading.Lock()
ok = []
all_connected = threading.Barrier(NCLIENTS, timeout=10)


def sample():
    global peak
    n = os_threads()
    with peak_lock:
        peak = max(peak, n)


def client(i, port):
    payload = hashlib.sha256(b"client %d" % i).digest() * (SIZE // 32)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        if all_connected.wait() == 0:  # every client connected: peak concurrency
            sample()
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        chunks, got = [], 0
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
            got += len(data)
    echoed = b"".join(chunks)
    if len(echoed) != SIZE or hashlib.sha256(echoed).digest() != hashlib.sha256(payload).digest():
        fail(f"client {i}: bad echo ({len(echoed)} bytes)")
    with peak_lock:
        ok.append(i)


t0 = time.monotonic()
server = Server(("127.0.0.1", 0), Echo)
port = server.server_address[1]
st = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
st.start()
clients = [threading.Thread(target=client, args=(i, port)) for i in range(NCLIENTS)]
for t in clients:
    t.start()
for t in clients:
    t.join()
server.shutdown()
st.join()
server.server_close()

if sorted(ok) != list(range(NCLIENTS)):
    fail(f"only {len(ok)} of {NCLIENTS} clients succeeded")
print(f"{NCLIENTS} clients echoed ok")
metric("os_threads_max", peak)
metric("wall_ms", int((time.monotonic() - t0) * 1000))
