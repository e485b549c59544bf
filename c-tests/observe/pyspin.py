"""Several hubs: a thread spins in the Python function spin_here (on hub 1 with
GREENSHIM_HUBS=2: the first thread made goes to the idle hub) while main waits for a
line on stdin after printing "ready"; then the spinner is stopped and joined. The
spin stops by itself after 60 s."""
import sys
import threading
import time

stop = False
started = threading.Event()


def spin_here():
    n = 0
    end = time.monotonic() + 60
    started.set()
    while not stop:
        n += 1
        if n % 100000 == 0 and time.monotonic() > end:
            break


def spinner():
    spin_here()


t = threading.Thread(target=spinner, name="spinner")
t.start()
started.wait()
print("ready", flush=True)
sys.stdin.readline()
stop = True
t.join()
print("done")
