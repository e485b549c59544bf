"""segv_signal: the shim's stack-overflow reporter is invisible to Python.

signal.getsignal(SIGSEGV) is SIG_DFL, as natively (CPython reads the action at start),
and a child that raises SIGSEGV dies of it. Follows the c-tests contract (../common.h)."""
import signal
import subprocess
import sys

print("getsignal(SIGSEGV) is SIG_DFL:", signal.getsignal(signal.SIGSEGV) == signal.SIG_DFL)
r = subprocess.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
print("child killed by SIGSEGV:", r.returncode == -signal.SIGSEGV)
import faulthandler  # noqa: E402
faulthandler.enable()
print("faulthandler enabled:", faulthandler.is_enabled())
