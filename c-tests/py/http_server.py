"""http_server: http.server.ThreadingHTTPServer serving a fixed body on
127.0.0.1:0 from a thread of this process; 50 client threads each fetch it 5
times over one keep-alive http.client connection and verify status and body.

Exercises the socket/selector paths of the standard library's HTTP stack
under the shim. Follows the c-tests contract (see ../common.h)."""
import http.client
import http.server
import os
import sys
import threading
import time


from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)

NCLIENTS, PER_CLIENT = 50, 5
BODY = b"".join(b"line %04d of the greenshim test body\n" % i for i in range(500))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: 5 requests per connection

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):  # keep stderr for FAIL/METRIC lines
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128


ok = []
lock = threading.Lock()
peak = 0


def client(i, port):
    global peak
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for k in range(PER_CLIENT):
        conn.request("GET", f"/client/{i}/req/{k}")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or body != BODY:
            fail(f"client {i} request {k}: status {resp.status}, {len(body)} bytes")
        if k == 2:
            n = os_threads()
            with lock:
                peak = max(peak, n)
        with lock:
            ok.append(i)
    conn.close()


t0 = time.monotonic()
server = Server(("127.0.0.1", 0), Handler)
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

if len(ok) != NCLIENTS * PER_CLIENT:
    fail(f"{len(ok)} successful requests")
print(f"{len(ok)} requests ok")
metric("os_threads_max", peak)
metric("wall_ms", int((time.monotonic() - t0) * 1000))
