"""Two threads parked in functions of their own names (an Event wait, a sleep) while
main waits for a line on stdin; then everything is released and joined."""
import sys
import threading
import time

done = threading.Event()


def wait_for_event():
    done.wait()


def nap_in_steps():
    while not done.is_set():
        time.sleep(0.2)


threads = [threading.Thread(target=wait_for_event, name="waiter"), threading.Thread(target=nap_in_steps, name="napper")]
for t in threads:
    t.start()
time.sleep(0.3)
print("ready", flush=True)
sys.stdin.readline()
done.set()
for t in threads:
    t.join()
print("done")
