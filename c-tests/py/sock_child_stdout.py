"""sock_child_stdout: a socket handed to a child as its stdout through subprocess.run.

Why: a flag on an open file description is seen by every process that holds it. A
shim that puts a hidden O_NONBLOCK on the sockets it creates makes a child that
writes to such a socket (dd, head, cat: programs that expect a blocking stdout)
fail with EAGAIN as soon as the reader is slower than the writer, and the data is
lost. Natively every byte arrives.

For each of a TCP connection over 127.0.0.1 (the connected socket, then the
accepted one as the child's stdout) and socket.socketpair() (AF_UNIX stream), and
for each child command, subprocess.run(cmd, stdout=sock.fileno())
while a slow reader thread drains the peer (it waits 200 ms before its first read,
then sleeps 1 ms every 16 reads of 64 KiB). The child runs once without the shim
(LD_PRELOAD set empty in its environment) and once with the parent's environment
(the shim inherited when the parent runs under it). Children:
  dd if=DATA bs=65536 count=128   (8 MiB)
  head -c 8388608 DATA
  dd if=/dev/zero bs=65536 count=128
DATA is an 8 MiB file with a deterministic non-trivial pattern. Checked: exit
status 0, stderr empty, exactly 8388608 bytes received, sha256 of the received
bytes equal to the source's, and os.get_blocking(sock) still True afterwards in
the parent (the program never made it non-blocking).

Under the shim that kept a hidden O_NONBLOCK on sockets (commit 896db20) the six
"tcp connected socket" cases fail: dd and head report "Resource temporarily
unavailable" and only ~3.9 MiB of 8 MiB arrive; the accepted-socket and
socketpair cases pass there.

stdout (deterministic): one line per (socket kind, child, shim in child) case.
metrics: os_threads_max, wall_ms.
Follows the c-tests contract (see ../common.h)."""
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

from testlib import fail, metric, os_threads  # noqa: E402 (also installs the excepthook)

failures = 0


def case_fail(msg):
    """A failed case: reported on stderr, the other cases still run, exit status 1 at the end."""
    global failures
    failures += 1
    sys.stderr.write(f"FAIL: {msg}\n")

SIZE = 8 * 1024 * 1024
peak = 0


def sample():
    global peak
    peak = max(peak, os_threads())


def make_data(path):
    block = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(65536))
    with open(path, "wb") as f:
        for k in range(SIZE // 65536):
            f.write(bytes([k & 0xFF]) + block[1:])
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tcp_pair():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.connect(ls.getsockname())
    s, _ = ls.accept()
    ls.close()
    return c, s


def slow_reader(sock, out):
    h = hashlib.sha256()
    n = 0
    reads = 0
    time.sleep(0.2)
    while True:
        b = sock.recv(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
        reads += 1
        if reads % 16 == 0:
            time.sleep(0.001)
        if reads == 4:
            sample()
    out.append((n, h.hexdigest()))


def one(kind, cmd_name, cmd, want_sha, shim_in_child):
    if kind == "socketpair":
        wr, rd = socket.socketpair()
    elif kind == "tcp connected socket":
        wr, rd = tcp_pair()
    else:
        rd, wr = tcp_pair()
    got = []
    t = threading.Thread(target=slow_reader, args=(rd, got))
    t.start()
    env = dict(os.environ)
    # The shim's exit statistics would land in the child's stderr, which is checked.
    env.pop("GREENSHIM_STATS", None)
    if not shim_in_child:
        env["LD_PRELOAD"] = ""
    r = subprocess.run(cmd, stdout=wr.fileno(), stderr=subprocess.PIPE, env=env, timeout=30)
    blocking_after = os.get_blocking(wr.fileno())
    wr.close()
    t.join(timeout=30)
    if t.is_alive():
        fail(f"{kind}/{cmd_name}: reader still running after 30 s")
    rd.close()
    n, sha = got[0]
    label = f"{kind}, {cmd_name}, child {'with' if shim_in_child else 'without'} the shim"
    if r.returncode != 0:
        return case_fail(f"{label}: exit status {r.returncode}, stderr {r.stderr!r}, {n} bytes arrived")
    if n != SIZE:
        return case_fail(f"{label}: {n} bytes arrived, want {SIZE}; child stderr {r.stderr!r}")
    if sha != want_sha:
        return case_fail(f"{label}: sha256 of the received bytes differs from the source's")
    if not blocking_after:
        return case_fail(f"{label}: the parent's socket became non-blocking")
    err = r.stderr
    if cmd_name.startswith("dd"):
        # dd's statistics on stderr ("... records in/out, N bytes copied, time") vary in time only.
        lines = err.decode().splitlines()
        if len(lines) != 3 or not lines[2].startswith(f"{SIZE} bytes"):
            return case_fail(f"{label}: dd stderr {err!r}")
        err = b""
    if err:
        return case_fail(f"{label}: child stderr {err!r}")
    print(f"{label}: exit 0, {n} bytes, checksum matches, socket still blocking")


def main():
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "data")
        sha = make_data(data)
        zero_sha = hashlib.sha256(bytes(SIZE)).hexdigest()
        children = [
            ("dd if=DATA", ["dd", f"if={data}", "bs=65536", "count=128"], sha),
            ("head -c", ["head", "-c", str(SIZE), data], sha),
            ("dd if=/dev/zero", ["dd", "if=/dev/zero", "bs=65536", "count=128"], zero_sha),
        ]
        for kind in ("tcp connected socket", "tcp accepted socket", "socketpair"):
            for name, cmd, want in children:
                for shim_in_child in (False, True):
                    one(kind, name, cmd, want, shim_in_child)
    metric("wall_ms", int((time.monotonic() - t0) * 1000))
    metric("os_threads_max", peak)


main()
sys.stdout.flush()
if failures:
    fail(f"{failures} case(s) failed")
