"""A CPU-bound Python thread beside a threaded server: natively the GIL hands over
every 5 ms; under the shim with GREENSHIM_PREEMPT the computing green thread is
switched out, the server's threads get the GIL, and its answers keep coming.
argv[1]: "tcp" (default), an echo responder thread, or "http", http.server's
ThreadingHTTPServer (a thread per connection) answering GETs.
Prints whether requests were answered while the computation ran (at least 5) and the
computation's result; METRIC answered, worst_gap_ms."""
import http.client
import http.server
import socket
import sys
import threading
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "tcp"

if mode == "http":
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"pong"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def request():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/")
        r = c.getresponse()
        assert r.status == 200 and r.read() == b"pong"
        c.close()
else:
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
    cl = socket.create_connection(("127.0.0.1", port))

    def request():
        cl.sendall(b"ping")
        assert cl.recv(64) == b"ping"

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


t = threading.Thread(target=compute)
t.start()
answered, worst, last = 0, 0.0, time.monotonic()
while not done.is_set():
    request()
    answered += 1
    now = time.monotonic()
    worst = max(worst, now - last)
    last = now
    time.sleep(0.002)
t.join()
print("answers while computing:", "yes" if answered >= 5 else f"only {answered}")
print("result:", result[0])
print(f"METRIC worst_gap_ms={int(worst * 1000)}", file=sys.stderr)
print(f"METRIC answered={answered}", file=sys.stderr)
