"""Helpers shared by the Python test programs; the contract is in ../common.h:
deterministic stdout, "FAIL: ..." on stderr and exit 1, METRIC lines on stderr."""
import os
import sys
import threading


def fail(msg):
    sys.stderr.write(f"FAIL: {msg}\n")
    sys.stderr.flush()
    os._exit(1)


def os_threads():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def metric(name, value):
    sys.stderr.write(f"METRIC {name}={value}\n")


# An exception in any thread fails the whole program.
threading.excepthook = lambda a: fail(f"{a.thread.name}: {a.exc_type.__name__}: {a.exc_value}")
