"""The gevent tutorial's first example, as plain threading: three 1 s sleeps."""
import sys, threading, time

peak = 0
def threads():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("Threads:"))

def task():
    global peak
    peak = max(peak, threads())
    time.sleep(1)

t0 = time.monotonic()
if sys.argv[1:] == ["seq"]:
    for _ in range(3):
        task()
else:
    ts = [threading.Thread(target=task) for _ in range(3)]
    for t in ts: t.start()
    for t in ts: t.join()
print(int((time.monotonic() - t0) * 1000), peak)
