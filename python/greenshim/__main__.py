"""``python -m greenshim [OPTIONS] [--] SCRIPT|-m MODULE|-c CODE [ARGS...]``

Runs a Python program under greenshim, as ``python -m gevent.monkey script.py``
runs one under gevent: this interpreter (``sys.executable``, with the same
``-X``/``-W``/``-O``... flags) is executed again through the ``greenshim``
launcher, which preloads the library and replaces itself with it. The program
keeps this process's pid, sees the ``sys.argv`` it would see when run as
``python SCRIPT ARGS...``, and its exit status and death signal are what the
caller gets. (With ``--raw report`` and no ``--raw-report``, the launcher stays
as the program's parent to print the report after it; see ``greenshim --help``.)

OPTIONS are the launcher's (``--stats``, ``--log LEVEL``...; see
``greenshim --help``).
"""

import os
import sys

from . import launcher_path

USAGE = "usage: python -m greenshim [GREENSHIM OPTIONS] [--] (SCRIPT | -m MODULE | -c CODE) [ARGS...]\n"

# The launcher's options: flags, and options that take a value (`--log LEVEL` or
# `--log=LEVEL`). tests/packages.rs checks both sets against `greenshim --help`.
# Anything else that looks like an option is passed on for the launcher to reject.
FLAGS = {"--stats", "--disable"}
VALUED = {"--stack-size", "--log", "--stack-guard", "--file-io", "--slice", "--tls", "--raw", "--offload-threads", "--hog-ms", "--preempt", "--hubs", "--dump-file", "--raw-report"}

EXIT_USAGE = 2


def _interpreter_flags():
    """This interpreter's command-line flags (-X, -W, -O, -I...), as
    multiprocessing passes them to the processes it spawns."""
    try:
        import subprocess

        return subprocess._args_from_interpreter_flags()
    except Exception:  # pragma: no cover - private helper gone
        return []


def split(args):
    """(launcher options, program arguments) from `args`."""
    opts = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if a in ("-m", "-c") or not a.startswith("-") or a == "-":
            break
        opts.append(a)
        if a in VALUED and i + 1 < len(args):
            opts.append(args[i + 1])
            i += 1
        i += 1
    return opts, args[i:]


def main(argv):
    if argv[:1] in (["-h"], ["--help"]):
        sys.stdout.write(USAGE + "\n" + __doc__.split("\n", 2)[2])
        return 0
    opts, program = split(argv)
    if any(o in ("-V", "--version") for o in opts):
        program = []  # the launcher prints its version and exits
    elif not program or program[0] in ("-m", "-c") and len(program) < 2:
        sys.stderr.write(USAGE)
        return EXIT_USAGE
    if not sys.executable:
        sys.stderr.write("greenshim: cannot tell which Python interpreter this is (sys.executable is empty)\n")
        return EXIT_USAGE
    try:
        launcher = launcher_path()
    except FileNotFoundError as e:
        sys.stderr.write(f"greenshim: {e}\n")
        return EXIT_USAGE
    command = [launcher, *opts]
    if program:
        command += ["--", sys.executable, *_interpreter_flags(), *program]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(launcher, command)
    except OSError as e:
        sys.stderr.write(f"greenshim: cannot run {launcher}: {e.strerror}\n")
        return 126


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
