"""CPython under GREENSHIM_RAW=catch: threads, a socket echo, a pipe a subprocess
fills, a signal handler, a thread pool — everything libc does inside on its own goes
through the raw-syscall layer. The output is the same as natively."""
import concurrent.futures
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

hits = []
signal.signal(signal.SIGUSR1, lambda s, f: hits.append(s))

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
port = srv.getsockname()[1]


def server():
    for _ in range(4):
        c, _ = srv.accept()
        with c:
            data = b""
            while not data.endswith(b"\n"):
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            c.sendall(hashlib.sha256(data).hexdigest().encode() + b"\n")


def client(i):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(bytes([65 + i]) * (200000 * (i + 1)) + b"\n")
        return s.makefile().readline().strip()[:16]


t = threading.Thread(target=server)
t.start()
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    print("echo digests:", sorted(ex.map(client, range(4))))
t.join()

out = subprocess.run([sys.executable, "-c", "import sys; sys.stdout.write('x' * 300000)"], stdout=subprocess.PIPE).stdout
print("subprocess bytes:", len(out))

ticks = []
stop = threading.Event()


def ticker():
    while not stop.is_set():
        time.sleep(0.001)
        ticks.append(1)


tk = threading.Thread(target=ticker)
tk.start()
os.kill(os.getpid(), signal.SIGUSR1)
time.sleep(0.1)
stop.set()
tk.join()
print("signal handled:", hits == [signal.SIGUSR1], "ticker ran:", len(ticks) > 10)
