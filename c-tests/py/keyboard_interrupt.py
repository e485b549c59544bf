"""keyboard_interrupt: Ctrl-C (SIGINT) reaches the main thread while it sleeps or waits
on an Event and other threads exist — the blocking call must return EINTR so CPython
raises KeyboardInterrupt promptly (PEP 475), instead of after the full timeout.
"""
import os
import signal
import sys
import threading
import time


def threads():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def interrupt_after(seconds):
    threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT)).start()


def main():
    threading.Thread(target=lambda: time.sleep(30), daemon=True).start()
    peak = threads()
    for what, block in (("time.sleep", lambda: time.sleep(10)), ("Event.wait", lambda: threading.Event().wait(10)),
                        ("Lock.acquire", lambda: (lambda l: (l.acquire(), l.acquire(timeout=10)))(threading.Lock()))):
        interrupt_after(0.2)
        t0 = time.monotonic()
        try:
            block()
            print(f"FAIL: {what} was not interrupted", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:
            took = time.monotonic() - t0
            if took > 2:
                print(f"FAIL: {what} interrupted only after {took:.1f} s", file=sys.stderr)
                sys.exit(1)
            print(f"{what}: KeyboardInterrupt")
    print(f"METRIC os_threads_max={peak}", file=sys.stderr)


main()
