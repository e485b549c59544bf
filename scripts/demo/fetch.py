"""The gevent tutorial's fetch example, as plain threading: N threads each GET a page
from the slow local server. Prints "<ms> <peak OS threads>"."""
import sys, threading, time, urllib.request

port, n = int(sys.argv[1]), int(sys.argv[2])
peak = 0
def threads():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("Threads:"))

ok = []
def fetch():
    global peak
    peak = max(peak, threads())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
        ok.append(r.read())

t0 = time.monotonic()
ts = [threading.Thread(target=fetch) for _ in range(n)]
for t in ts: t.start()
for t in ts: t.join()
assert len(ok) == n
print(int((time.monotonic() - t0) * 1000), peak)
