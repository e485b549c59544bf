"""socketserver.ThreadingTCPServer holding 1000 concurrent clients (clients in a child
process). Prints "<ms> <server peak OS threads>"."""
import os, resource, socket, socketserver, sys, threading, time

N = 1000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
peak = 0

def threads():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("Threads:"))

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        global peak
        peak = max(peak, threads())
        while data := self.request.recv(256):
            self.request.sendall(data)

class Server(socketserver.ThreadingTCPServer):
    request_queue_size = N
    daemon_threads = True
    allow_reuse_address = True

srv = Server(("127.0.0.1", 0), Echo)
port = srv.server_address[1]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(N)]
    time.sleep(0.3)
    for c in conns: c.sendall(b"ping\n")
    ok = all(c.recv(8) == b"ping\n" for c in conns)
    os._exit(0 if ok else 1)
threading.Thread(target=srv.serve_forever, daemon=True).start()
_, st = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(st) == 0
print(int((time.monotonic() - t0) * 1000), peak)
