"""tty_read: a thread blocked reading a terminal (the slave side of a pty, as stdin is
for an interactive program) must not freeze the others: a ticker keeps ticking until a
line arrives 200 ms later, and the reader gets exactly that line. The terminal is left
blocking (O_NONBLOCK is never set on it behind the program's back).
"""
import fcntl
import os
import pty
import sys
import threading
import time
import tty


def threads():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("Threads:"))


master, slave = pty.openpty()
tty.setraw(slave)
got = []
ticks = [0]
stop = threading.Event()


def reader():
    got.append(os.read(slave, 100))


def ticker():
    while not stop.is_set():
        time.sleep(0.005)
        ticks[0] += 1


r = threading.Thread(target=reader)
t = threading.Thread(target=ticker)
r.start()
t.start()
time.sleep(0.2)
peak = threads()
ticks_while_blocked = ticks[0]
os.write(master, b"hello tty\n")
r.join(5)
stop.set()
t.join()
if r.is_alive() or got != [b"hello tty\n"]:
    print(f"FAIL: reader got {got!r}", file=sys.stderr)
    sys.exit(1)
if ticks_while_blocked < 5:
    print(f"FAIL: only {ticks_while_blocked} ticks while the reader was blocked", file=sys.stderr)
    sys.exit(1)
nonblocking = fcntl.fcntl(slave, fcntl.F_GETFL) & os.O_NONBLOCK
with open(f"/proc/self/fdinfo/{slave}") as f:
    kernel_flags = int(next(l for l in f if l.startswith("flags:")).split()[1], 8)
print("reader got the line; ticker ran while it waited")
print(f"terminal non-blocking: program view {bool(nonblocking)}, kernel {bool(kernel_flags & os.O_NONBLOCK)}")
print(f"METRIC os_threads_max={peak}", file=sys.stderr)
