#!/usr/bin/env python3
"""greenshim benchmark driver: native threads vs greenshim vs a reference, side by side.

Run through scripts/bench.sh (`make bench`), which builds the programs, prepares the
venv and wrk, raises `ulimit -n`, and passes everything here through the environment:

  BENCH_LIB        path of libgreenshim.so
  BENCH_BIN        directory of the compiled C programs (micro, thread_server, epoll_server)
  BENCH_PY         Python interpreter for the Python cases (the venv's when it exists)
  BENCH_HAVE_GEVENT / BENCH_HAVE_FLASK   1 when importable from BENCH_PY
  BENCH_WRK        path of wrk, empty when missing
  BENCH_OUT        directory for results.md and the SVG plot (bench/)
  BENCH_LOGS       directory for server logs and raw JSON (build/bench/)
  BENCH_QUICK=1    1 repetition, smaller N, fewer/shorter server runs
  BENCH_REPS, BENCH_SERVER_REPS, BENCH_DURATION, BENCH_CONNS (comma list),
  BENCH_ONLY       comma list of groups to run: create,switch,fast,scale,server,tls,hubs,
                   redis (or server case ids c_http,py_http,tcp,flask); hubs alone
                   rewrites only its own part of results.md

Every variant of a case runs once per repetition, in turn (native, native on 1 CPU,
greenshim, reference, native, ...), so slow drifts of the machine hit all of them alike.
"""
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ENV = os.environ
LIB = ENV["BENCH_LIB"]
BASE_LIB = ENV.get("BENCH_BASE_LIB", "")
BASE_REV = ENV.get("BENCH_BASE_REV", "") if BASE_LIB else ""
BIN = ENV["BENCH_BIN"]
PY = ENV["BENCH_PY"]
HERE = os.path.dirname(os.path.abspath(__file__))
PY_MICRO = os.path.join(HERE, "py_micro.py")
PY_SERVERS = os.path.join(HERE, "py_servers.py")
HAVE_GEVENT = ENV.get("BENCH_HAVE_GEVENT") == "1"
HAVE_FLASK = ENV.get("BENCH_HAVE_FLASK") == "1"
WRK = ENV.get("BENCH_WRK", "")
OUT = ENV["BENCH_OUT"]
LOGS = ENV["BENCH_LOGS"]
QUICK = ENV.get("BENCH_QUICK", "0") not in ("", "0")
REPS = int(ENV.get("BENCH_REPS", "1" if QUICK else "5"))
SCALE_REPS = int(ENV.get("BENCH_SCALE_REPS", "1" if QUICK else "3"))
SERVER_REPS = int(ENV.get("BENCH_SERVER_REPS", "1" if QUICK else "3"))
DURATION = int(ENV.get("BENCH_DURATION", "2" if QUICK else "5"))
CONNS = [int(c) for c in ENV.get("BENCH_CONNS", "10,100,1000" if QUICK else "10,100,1000,10000").split(",")]
ONLY = set(filter(None, ENV.get("BENCH_ONLY", "").split(",")))
NCPU = os.cpu_count() or 1
HAVE_TASKSET = subprocess.run(["sh", "-c", "command -v taskset"], capture_output=True).returncode == 0
PIN = HAVE_TASKSET and NCPU >= 2
SERVER_CPU, CLIENT_CPU, ONE_CPU = "0", "1", "0"
PIDFILE = os.path.join(LOGS, "servers.pids")

VARIANTS = ["native", "native1", "shim", "base", "ref", "hubs1", "hubs2", "hubs2coop"]
# Section 7's CPU-parallel rows also run with two hubs and preemption off (the default
# with several hubs time-slices each hub every 5 ms: this column shows what it is for).
VARIANT_TITLE = {"native": "native", "native1": "native, 1 CPU", "shim": "greenshim",
                 "base": f"greenshim {BASE_REV}", "ref": "reference",
                 "hubs1": "greenshim HUBS=1", "hubs2": "greenshim HUBS=2",
                 "hubs2coop": "greenshim HUBS=2 PREEMPT=off"}
HUB_VARIANTS = ("hubs1", "hubs2", "hubs2coop")  # section 7 only: GREENSHIM_HUBS=1 / 2 (/ 2 without preemption)
BASE_PCT = 5  # a hot path of this build may cost at most this much more than the baseline

live = {}  # pid -> Popen of servers still running


CLK_TCK = os.sysconf("SC_CLK_TCK")
NOISY = 0.3  # CPUs used by other processes above which a run is flagged


def cpu_snapshot():
    """(wall, busy CPU s of the whole machine, CPU s of this driver and its reaped children)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        busy = (v[0] + v[1] + v[2] + v[5] + v[6]) / CLK_TCK  # user nice system irq softirq
    except (OSError, ValueError, IndexError):
        busy = 0.0
    c, m = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    return time.monotonic(), busy, c.ru_utime + c.ru_stime + m.ru_utime + m.ru_stime


def foreign_cpu(a, b):
    """CPUs (on average) used by processes other than the benchmark between two snapshots."""
    dt = b[0] - a[0]
    if dt <= 0 or a[1] == 0:
        return 0.0
    return max(0.0, (b[1] - a[1]) - (b[2] - a[2])) / dt


def want(*groups):
    return not ONLY or any(g in ONLY for g in groups)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- running

def taskset(cpu, argv):
    return ["taskset", "-c", cpu] + argv if HAVE_TASKSET else argv


def env_for(variant, extra=None):
    e = dict(ENV)
    e.pop("LD_PRELOAD", None)
    if variant == "shim":
        e["LD_PRELOAD"] = LIB
    elif variant == "base":
        e["LD_PRELOAD"] = BASE_LIB
    elif variant in HUB_VARIANTS:
        e["LD_PRELOAD"] = LIB
        e["GREENSHIM_HUBS"] = variant[4]
        if variant == "hubs2coop":
            e["GREENSHIM_PREEMPT"] = "off"
    if extra:
        e.update(extra)
    return e


def parse_result(text):
    for line in text.splitlines():
        if line.startswith("RESULT "):
            out = {}
            for kv in line[7:].split():
                k, _, v = kv.partition("=")
                try:
                    out[k] = float(v)
                except ValueError:
                    out[k] = v
            return out
    return None


def describe_exit(rc, stderr):
    # Skip Rust's backtrace boilerplate so the abort message itself is kept.
    tail = [l for l in stderr.strip().splitlines()
            if l.strip() and not l.startswith(("note:", "stack backtrace:")) and not l.startswith(" ")]
    why = signal.Signals(-rc).name if rc < 0 else f"exit {rc}"
    if tail:
        why += ": " + tail[-1][:120]
    return why


def run_prog(argv, variant, timeout, extra_env=None):
    """Runs one measurement; returns the RESULT dict, or {'failed': reason}."""
    snap = cpu_snapshot()
    r = run_prog1(argv, variant, timeout, extra_env)
    r["foreign_cpu"] = foreign_cpu(snap, cpu_snapshot())
    return r


def run_prog1(argv, variant, timeout, extra_env=None):
    try:
        p = subprocess.run(argv, env=env_for(variant, extra_env), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"failed": f"timeout after {timeout}s"}
    r = parse_result(p.stdout)
    if r is None or p.returncode != 0:
        if r and r.get("failed"):
            r["failed"] = str(r.get("error", "failed")).replace("+", " ") + (
                f" after {int(r['created'])} threads" if "created" in r else "")
            return r
        return {"failed": describe_exit(p.returncode, p.stderr)}
    return r


# ---------------------------------------------------------------------------- rows

class Row:
    """One line of the table: a case measured for several variants over repetitions."""

    def __init__(self, section, label, unit, metric, better="lower", target=None, note=""):
        self.section, self.label, self.unit, self.metric = section, label, unit, metric
        self.better, self.target, self.note = better, target, note
        self.base_target = None  # "no slower than the baseline" (hot paths), when one is measured
        self.runs = {v: [] for v in VARIANTS}  # variant -> list of RESULT dicts
        self.skipped = {}  # variant -> reason
        self.extra = {}

    def values(self, v):
        return [r[self.metric] for r in self.runs[v] if "failed" not in r and isinstance(r.get(self.metric), float)]

    def failures(self, v):
        return [r["failed"] for r in self.runs[v] if "failed" in r]

    def median(self, v):
        vals = self.values(v)
        return statistics.median(vals) if vals and not self.failures(v) else None

    def med_field(self, v, field):
        vals = [r[field] for r in self.runs[v] if "failed" not in r and isinstance(r.get(field), float)]
        return statistics.median(vals) if vals else None

    def has(self, v):
        return bool(self.runs[v]) or v in self.skipped

    def gain(self, v):
        """How many times better greenshim is than variant v (>1: greenshim better)."""
        s, o = self.median("shim"), self.median(v)
        if s is None or o is None:
            return None
        if self.better == "higher" and o == 0:
            return math.inf if s > 0 else None
        if s <= 0 or o <= 0:
            return None
        return o / s if self.better == "lower" else s / o


def fmt_num(x):
    if x is None:
        return "—"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 100000:
        return f"{x / 1000:.0f}k"
    if a >= 10000:
        return f"{x / 1000:.1f}k"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_cell(row, v):
    fails = row.failures(v)
    if fails:
        ok = len(row.values(v))
        msg = fails[0]
        return f"failed ({msg})" + (f" [{len(fails)}/{len(fails) + ok} runs]" if ok else "")
    if v in row.skipped and not row.runs[v]:
        return "skipped"
    vals = row.values(v)
    if not vals:
        return ""
    med = statistics.median(vals)
    s = fmt_num(med)
    if len(vals) > 1:
        s += f" ({fmt_num(min(vals))}–{fmt_num(max(vals))})"
    if any(r.get("foreign_cpu", 0) > NOISY for r in row.runs[v]):
        s += "*"
    if row.section.startswith("4") or row.unit == "KiB/thr":
        t = row.med_field(v, "os_threads")
        if t is not None:
            s += f" · {t:.0f} thr"
    return s


def fmt_gain(g):
    if g is None:
        return ""
    if math.isinf(g):
        return "∞"
    return f"{g:.0f}×" if g >= 100 else f"{g:.2f}×" if g < 10 else f"{g:.1f}×"


# ---------------------------------------------------------------------------- targets

def one_cpu_note(row):
    """The same ratio against native pinned to one CPU (informative; verdicts use native)."""
    g1 = row.gain("native1")
    return f" (vs native on 1 CPU: {g1:.2f}×)" if g1 is not None else ""


def t_speedup(factor):
    def ev(row):
        g = row.gain("native")
        if g is None:
            return None, f"≥{factor}× faster"
        return g >= factor, f"≥{factor}× faster than native: {g:.1f}×{one_cpu_note(row)}"
    return ev


def t_not_slower():
    def ev(row):
        g = row.gain("native")
        if g is None:
            return None, "no slower than native"
        return g >= 1.0, f"no slower than native: {g:.2f}×{one_cpu_note(row)}"
    return ev


def t_over(pct, variant, base, what):
    """Target: `variant`'s median at most pct% over `base`'s; `what` names it."""
    def ev(row):
        v, n = row.median(variant), row.median(base)
        if v is None or n is None:
            return None, what
        o = (v - n) / n * 100
        return o <= pct, f"{what}: {o:+.1f}%"
    return ev


def t_overhead(pct):
    return t_over(pct, "shim", "native", f"overhead ≤{pct}%")


def t_sleepers(max_kib):
    def ev(row):
        k, t = row.median("shim"), row.med_field("shim", "os_threads")
        if k is None:
            return False if row.failures("shim") else None, f"1 OS thread, ≤{max_kib} KiB/thread"
        return (k <= max_kib and t == 1), f"1 OS thread, ≤{max_kib} KiB/thread: {t:.0f} thr, {k:.1f} KiB"
    return ev


def t_vs_base(pct):
    return t_over(pct, "shim", "base", f"≤{pct}% over {BASE_REV}")


def t_over_floor(pct, floor):
    """Overhead against a native run that makes the same calls non-blocking per call
    (RWF_NOWAIT): what the kernel charges for "no hidden O_NONBLOCK" is not the shim's."""
    def ev(row):
        s, f = row.median("shim"), floor.median("native")
        if s is None or f is None:
            return None, f"≤{pct}% over the RWF_NOWAIT floor"
        o = (s - f) / f * 100
        return o <= pct, f"≤{pct}% over the native RWF_NOWAIT floor ({fmt_num(f)}): {o:+.1f}%"
    return ev


def t_vs_ref(factor, what):
    def ev(row):
        g = row.gain("ref")
        if g is None:
            return None, f"≥{factor:g}× {what}"
        return g >= factor, f"≥{factor:g}× {what}: {g:.2f}×"
    return ev


def t_zero_errors():
    def ev(row):
        runs = [r for r in row.runs["shim"] if "failed" not in r]
        if not runs:
            return (False if row.failures("shim") else None), "zero errors"
        errs = sum(r.get("errors", 0) for r in runs)
        return errs == 0, f"zero errors: {errs:.0f}"
    return ev


def target_cell(row):
    """(cell text, verdict True/False/None, bare target text)."""
    if not row.target:
        return "", None, ""
    ok, text = row.target(row)
    if ok is None:
        return f"{text}: n/a", None, text
    return f"{text} {'MET' if ok else 'MISSED'}", ok, text


# ---------------------------------------------------------------------------- cases 1-3

def micro_argv(case, n, extra=()):
    return [os.path.join(BIN, "micro"), case, str(n)] + [str(x) for x in extra]


def py_argv(case, n):
    return [PY, PY_MICRO, case, str(n)]


def measure(row, plans, reps, timeout=120):
    """plans: variant -> argv, or (argv, variant whose environment to use, extra
    environment). Alternates variants within each repetition."""
    for rep in range(reps):
        for v in VARIANTS:
            if v not in plans:
                continue
            argv, as_variant, extra = plans[v] if isinstance(plans[v], tuple) else (plans[v], v, None)
            if v == "native1":
                argv = taskset(ONE_CPU, argv)
            r = run_prog(argv, as_variant, timeout, extra)
            row.runs[v].append(r)
            shown = (r.get("failed") or f"{r.get(row.metric)}") + f"  (foreign CPU {r['foreign_cpu']:.2f})"
            log(f"  {row.label} [{VARIANT_TITLE[v]}] rep {rep + 1}/{reps}: {shown}")


def cases_micro(rows):
    q = QUICK
    one = HAVE_TASKSET and NCPU >= 2  # a "native, 1 CPU" run makes sense

    def plan(argv, with1=True, ref=None):
        p = {"native": argv, "shim": argv}
        if with1 and one:
            p["native1"] = argv
        if BASE_LIB:
            p["base"] = argv
        if ref:
            p["ref"] = ref
        return p

    if want("create"):
        log("== 1. thread create + join")
        n = 20000 if q else 100000
        r = Row("1. create + join", f"C pthread_create+join ×{n}", "ns/op", "ns_per_op",
                target=t_speedup(20))
        measure(r, plan(micro_argv("create_join", n)), REPS)
        rows.append(r)
        n, ng = (2000, 20000) if q else (10000, 100000)
        r = Row("1. create + join", f"Py Thread start+join ×{n}; ref: gevent.spawn+join ×{ng}",
                "ns/op", "ns_per_op")
        p = plan(py_argv("thread_create", n), ref=py_argv("gevent_spawn", ng) if HAVE_GEVENT else None)
        if not HAVE_GEVENT:
            r.skipped["ref"] = "gevent not installed"
        measure(r, p, REPS)
        rows.append(r)

    if want("switch"):
        log("== 2. context switch (round trip between two threads)")
        n = 20000 if q else 50000
        for case, label, tgt in [
            ("condvar_pp", "condvar ping-pong", t_speedup(20)),
            ("mutex_handoff", "mutex hand-off, 3-mutex ring", None),
            ("sem_pp", "semaphore ping-pong", None),
            ("yield_pp", "sched_yield ping-pong", None),
            ("pipe_pp", "pipe ping-pong (1 byte)", t_not_slower()),
        ]:
            r = Row("2. context switch", f"C {label} ×{n}", "ns/rt", "ns_per_op", target=tgt)
            if BASE_LIB and case == "pipe_pp":
                r.base_target = t_vs_base(BASE_PCT)
            measure(r, plan(micro_argv(case, n)), REPS)
            rows.append(r)
        rust = os.path.join(BIN, "bench_pingpong")
        for case, label, tgt in [
            ("mpsc", "std::mpsc ping-pong", t_speedup(20)),
            ("mutex", "std::sync::Mutex hand-off, 3-mutex ring", None),
        ]:
            r = Row("2. context switch", f"Rust {label} ×{n}", "ns/rt", "ns_per_op", target=tgt)
            if os.path.exists(rust):
                measure(r, plan([rust, case, str(n)]), REPS)
            else:
                for v in ("native", "shim", "native1"):
                    r.skipped[v] = "c-tests/rust not built"
            rows.append(r)
        n = 2000000 if q else 10000000
        r = Row("2. context switch", f"Rust rayon par_iter, CPU-bound, ×{n} items (one core under the shim)",
                "ns/item", "ns_per_op")
        if os.path.exists(rust):
            measure(r, plan([rust, "rayon", str(n)]), REPS)
        else:
            for v in ("native", "shim", "native1"):
                r.skipped[v] = "c-tests/rust not built"
        rows.append(r)
        if HAVE_GEVENT:
            n = 200000 if q else 1000000
            r = Row("2. context switch", f"Py greenlet switch round trip ×{n} (ref only)",
                    "ns/rt", "ns_per_op")
            measure(r, {"ref": py_argv("greenlet_switch", n)}, REPS)
            rows.append(r)

    if want("fast"):
        log("== 3. fast-path overhead (one green thread, always-ready fd)")
        n = 300000 if q else 1000000
        for case, label, tgt in [
            ("fast_pipe", "pipe write+read 1 B", "floor"),
            ("fast_sock", "socketpair write+read 1 B", t_overhead(5)),
            ("fast_tcp", "TCP loopback write+read 1 B", t_overhead(5)),
            ("fast_devzero", "read 1 B from /dev/zero", t_overhead(5)),
        ]:
            if tgt == "floor":
                # A pipe has no MSG_DONTWAIT: per-call non-blocking reads and writes are
                # preadv2/pwritev2(RWF_NOWAIT), which cost the kernel more than read/write.
                fl = Row("3. fast path", f"C {label}, native with RWF_NOWAIT calls (the kernel's floor) ×{n}",
                         "ns/op", "ns_per_op")
                measure(fl, {"native": micro_argv(case, n, ["nowait"])}, REPS)
                rows.append(fl)
                tgt = t_over_floor(5, fl)
            r = Row("3. fast path", f"C {label} ×{n}", "ns/op", "ns_per_op", target=tgt)
            measure(r, plan(micro_argv(case, n), with1=False), REPS)
            rows.append(r)
        n = 5000000 if q else 20000000
        r = Row("3. fast path", f"C uncontended mutex lock+unlock ×{n}", "ns/op", "ns_per_op",
                target=t_overhead(10))
        measure(r, plan(micro_argv("mutex_uncont", n), with1=False), REPS)
        rows.append(r)
        n = 2000000 if q else 10000000
        r = Row("3. fast path", f"C dl_iterate_phdr stopping at the first object ×{n} (the loader lock)", "ns/op",
                "ns_per_op", target=t_overhead(20))
        measure(r, plan(micro_argv("dl_walk", n), with1=False), REPS)
        rows.append(r)
        n = 1000 if q else 4000
        r = Row("3. fast path", f"C sendfile {n} MiB over a socketpair to a reading thread", "ns/MiB", "ns_per_op",
                target=t_overhead(10))
        measure(r, plan(micro_argv("stream_sendfile", n), with1=False), REPS)
        rows.append(r)
        n = 1000000 if q else 4000000
        r = Row("3. fast path", f"C fgets {n} 64-byte lines from a pipe another thread fills", "ns/line", "ns_per_op",
                target=t_overhead(10))
        measure(r, plan(micro_argv("stream_fgets", n), with1=False), REPS)
        rows.append(r)
        n = 300000 if q else 1000000
        fl = Row("3. fast path", f"C pread 4 KiB of a cached file, native with RWF_NOWAIT (the kernel's floor) ×{n}",
                 "ns/op", "ns_per_op")
        measure(fl, {"native": micro_argv("file_cached", n, ["nowait"])}, REPS)
        rows.append(fl)
        r = Row("3. fast path", f"C pread 4 KiB of a cached file ×{n} (another thread alive)", "ns/op", "ns_per_op",
                target=t_over_floor(5, fl))
        measure(r, plan(micro_argv("file_cached", n), with1=False), REPS)
        rows.append(r)
        n = 256 if q else 1024
        r = Row("3. fast path", f"C pread 1 MiB of an uncached file ×{n} (another thread alive)", "ns/MiB", "ns_per_op",
                target=t_overhead(10))
        measure(r, plan(micro_argv("file_uncached", n), with1=False), REPS)
        rows.append(r)


# ---------------------------------------------------------------------------- case 4

def cases_scale(rows):
    if not want("scale"):
        return
    log("== 4. scale: N threads each sleeping 1 s")
    ns = [1000, 10000, 30000] if QUICK else [1000, 10000, 30000, 100000]
    for n in ns:
        tgt = t_sleepers(16) if n == 30000 else None
        r = Row("4. scale", f"C sleep 1 s × {n}, 64 KiB stacks", "KiB/thr", "kib_per_thread", target=tgt)
        measure(r, {"native": micro_argv("sleepers", n, [64]), "shim": micro_argv("sleepers", n, [64])},
                SCALE_REPS, timeout=180)
        rows.append(r)
        r = Row("4. scale", f"C sleep 1 s × {n}, default attrs", "KiB/thr", "kib_per_thread",
                target=tgt)
        measure(r, {"shim": micro_argv("sleepers", n, [0])}, SCALE_REPS, timeout=180)
        rows.append(r)
        p = {}
        if n <= 10000:
            p["native"] = py_argv("sleepers_threads", n)
            p["shim"] = py_argv("sleepers_threads", n)
        if HAVE_GEVENT:
            p["ref"] = py_argv("sleepers_gevent", n)
        if p:
            r = Row("4. scale", f"Py threads sleep 1 s × {n}; ref: gevent", "KiB/thr", "kib_per_thread")
            if n > 10000:
                r.skipped["native"] = r.skipped["shim"] = "Python threads run at N ≤ 10000 only"
            measure(r, p, SCALE_REPS, timeout=180)
            rows.append(r)


# ---------------------------------------------------------------------------- case 6

def cases_tls(rows):
    """What a TLS area per green thread costs: greenshim as shipped (per-green TLS) in
    the greenshim column, greenshim with GREENSHIM_TLS=shared in the reference column,
    same run, alternating."""
    if not want("tls"):
        return
    log("== 6. per-green TLS vs shared TLS (reference column: GREENSHIM_TLS=shared)")
    shared = {"GREENSHIM_TLS": "shared"}
    n = 20000 if QUICK else 50000
    r = Row("6. per-green TLS", f"C condvar ping-pong ×{n}; ref: TLS shared", "ns/rt", "ns_per_op")
    a = micro_argv("condvar_pp", n)
    measure(r, {"native": a, "shim": a, "ref": (a, "shim", shared)}, REPS)
    rows.append(r)
    n = 20000 if QUICK else 100000
    r = Row("6. per-green TLS", f"C pthread_create+join ×{n}; ref: TLS shared", "ns/op", "ns_per_op")
    a = micro_argv("create_join", n)
    measure(r, {"native": a, "shim": a, "ref": (a, "shim", shared)}, REPS)
    rows.append(r)
    n = 10000
    r = Row("6. per-green TLS", f"C sleep 1 s × {n}, 64 KiB stacks; ref: TLS shared", "KiB/thr", "kib_per_thread")
    a = micro_argv("sleepers", n, [64])
    measure(r, {"native": a, "shim": a, "ref": (a, "shim", shared)}, SCALE_REPS, timeout=180)
    rows.append(r)


# ---------------------------------------------------------------------------- case 7

HUBS_SECTION = "7. several hubs"


def hubs_data(name, make):
    """A generated input file in the log directory, made once (deterministic content)."""
    path = os.path.join(LOGS, name)
    if not os.path.exists(path):
        log(f"  generating {path}")
        with open(path + ".tmp", "w") as f:
            make(f)
        os.replace(path + ".tmp", path)
    return path


def make_text(f, mib=64):
    """~mib MiB of log-like text: numbered lines of words from a 400-word vocabulary
    (xz -1 makes about a third of it)."""
    import random
    r = random.Random(17)
    words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 9))) for _ in range(400)]
    size, i = 0, 0
    while size < mib << 20:
        chunk = "".join(f"{i + k:08d} " + " ".join(r.choices(words, k=10)) + f" {r.randrange(1000)}\n"
                        for k in range(10000))
        i += 10000
        f.write(chunk)
        size += len(chunk)


def make_lines(f, n=2_000_000):
    """n lines "word hex" in random order, for sort."""
    import random
    r = random.Random(23)
    words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(3, 12))) for _ in range(20000)]
    for start in range(0, n, 100000):
        f.write("".join(f"{r.choice(words)} {r.randrange(1 << 40):x}\n" for _ in range(min(100000, n - start))))


def output_digest(path):
    """sha256 of a run's stdout, without RESULT lines (they carry the run's timing)."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        head = f.read(1 << 20)
        if len(head) < 1 << 20:
            head = b"".join(l for l in head.splitlines(True) if not l.startswith(b"RESULT "))
        h.update(head)
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def run_timed(argv, variant, timeout, extra_env=None):
    """Runs argv to completion with stdout to a file; wall_s is the driver's clock around
    the whole process (start-up included), digest the output's."""
    snap = cpu_snapshot()
    out = os.path.join(LOGS, f"hubs-out-{variant}")
    with open(out, "wb") as fout:
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, env=env_for(variant, extra_env), stdin=subprocess.DEVNULL, stdout=fout,
                               stderr=subprocess.PIPE, text=True, timeout=timeout)
            wall = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            p, wall = None, None
    if p is None:
        r = {"failed": f"timeout after {timeout}s"}
    elif p.returncode != 0:
        r = {"failed": describe_exit(p.returncode, p.stderr)}
    else:
        r = {"wall_s": wall, "digest": output_digest(out)}
        with open(out, "rb") as f:
            f.seek(max(0, os.path.getsize(out) - 4096))
            res = parse_result(f.read().decode(errors="replace"))
        if res and "os_threads" in res:
            r["os_threads"] = res["os_threads"]
    r["foreign_cpu"] = foreign_cpu(snap, cpu_snapshot())
    return r


def settle(limit=0.5, tries=10):
    """Before a run that needs every CPU: waits (at most ~3 s) while other processes keep
    more than `limit` CPUs busy, so a burst of foreign load does not land on one
    variant only. The run's foreign load is recorded as usual."""
    for _ in range(tries):
        a = cpu_snapshot()
        time.sleep(0.3)
        if foreign_cpu(a, cpu_snapshot()) <= limit:
            return


def measure_timed(row, plans, reps, timeout=300):
    """Like measure() for whole-process wall times; every run's output must be the
    first run's (else that run counts as failed)."""
    want_digest = None
    for rep in range(reps):
        for v in VARIANTS:
            if v not in plans:
                continue
            argv, extra = plans[v]
            if v == "native1":
                argv = taskset(ONE_CPU, argv)
            settle()
            r = run_timed(argv, v, timeout, extra)
            if "digest" in r:
                if want_digest is None:
                    want_digest = r["digest"]
                elif r["digest"] != want_digest:
                    r = {"failed": "output differs from the first run's", "foreign_cpu": r["foreign_cpu"]}
            row.runs[v].append(r)
            shown = r.get("failed") or f"{r['wall_s']:.3f} s"
            log(f"  {row.label} [{VARIANT_TITLE[v]}] rep {rep + 1}/{reps}: {shown}  (foreign CPU {r['foreign_cpu']:.2f})")


def gain_of(row, a, b):
    """How many times better variant a is than b (>1: a better)."""
    x, y = row.median(a), row.median(b)
    if x is None or y is None or x <= 0 or y <= 0:
        return None
    return y / x if row.better == "lower" else x / y


def t_hubs_vs_native(pct):
    return t_over(pct, "hubs2", "native", f"HUBS=2 wall time ≤{pct}% over native")


def t_hubs_loss(pct):
    """CPython with its GIL: two hubs may lose at most pct% against one."""
    def ev(row):
        h2, h1 = row.median("hubs2"), row.median("hubs1")
        if h2 is None or h1 is None:
            return None, f"HUBS=2 loses ≤{pct}% vs HUBS=1"
        loss = ((h2 - h1) / h1 if row.better == "lower" else (h1 - h2) / h1) * 100
        return loss <= pct, f"HUBS=2 loses ≤{pct}% vs HUBS=1: {loss:+.1f}% ({'a loss' if loss > 0 else 'a gain'})"
    return ev


def hub_placement(argv, extra=None):
    """One unmeasured run with GREENSHIM_STATS=1 and two hubs: {hub: (context switches,
    epoll waits, wakes from another hub)} (proof that the threads ran on both), or None."""
    try:
        p = subprocess.run(argv, env=env_for("hubs2", dict(extra or {}, GREENSHIM_STATS="1")),
                           capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None
    sw = {}
    for l in p.stderr.splitlines():
        m = re.match(r"greenshim stats: hub (\d+): context switches (\d+), epoll waits (\d+), remote wakes (\d+)", l)
        if m:
            sw[int(m.group(1))] = tuple(int(x) for x in m.groups()[1:])
    return sw or None


def placement_note(sw):
    if not sw:
        return "placement: no per-hub stats"
    return "one GREENSHIM_STATS=1 run with two hubs (smaller N): " + "; ".join(
        f"hub {i}: {a} context switches, {b} epoll waits, {c} wakes from the other hub"
        for i, (a, b, c) in sorted(sw.items()))


def cases_hubs(rows):
    """GREENSHIM_HUBS: CPU-parallel programs, the cross-hub wake, servers and CPython,
    natively and under the shim with one and with two hubs, same run, alternating."""
    if not want("hubs"):
        return
    log(f"== 7. several hubs: native vs GREENSHIM_HUBS=1 vs GREENSHIM_HUBS=2 ({NCPU} CPUs)")
    both = lambda argv, extra=None: {v: (argv, extra) for v in ("native", "hubs1", "hubs2")}
    rust = os.path.join(BIN, "bench_pingpong")
    cpu_cases = [
        ("xz -T2 -1, 64 MiB of text", "xz",
         lambda: ["xz", "-T2", "-1", "-c", hubs_data("hubs-text-64MiB.txt", make_text)], None),
        ("sort --parallel=2, 2M lines", "sort",
         lambda: ["sort", "--parallel=2", "-S", "256M", hubs_data("hubs-lines-2M.txt", make_lines)],
         {"LC_ALL": "C"}),
        ("C compute, 2 threads × 1.5·10⁹ steps", os.path.join(BIN, "compute"),
         lambda: [os.path.join(BIN, "compute"), "2", "1500000000"], None),
        ("Rust rayon par_iter sum, 3·10⁸ items", rust,
         lambda: [rust, "rayon", "300000000"], None),
    ]
    for label, prog, argv, extra in cpu_cases:
        r = Row(HUBS_SECTION, label, "s", "wall_s", target=t_hubs_vs_native(10))
        rows.append(r)
        if not (os.path.exists(prog) or shutil.which(prog)):
            for v in ("native", "hubs1", "hubs2", "hubs2coop"):
                r.skipped[v] = f"{os.path.basename(prog)} not available"
            continue
        a = argv()
        measure_timed(r, dict(both(a, extra), hubs2coop=(a, extra)), REPS)
        if "compute" in label:
            r.note = placement_note(hub_placement([a[0], "2", "20000000"]))

    n = 20000 if QUICK else 50000
    a = micro_argv("condvar_pp", n)
    r = Row(HUBS_SECTION, f"C condvar ping-pong ×{n} (HUBS=2: the two threads on two hubs)", "ns/rt", "ns_per_op")
    p = {"native": a, "hubs1": a, "hubs2": a}
    if HAVE_TASKSET and NCPU >= 2:
        p["native1"] = a
    measure(r, p, REPS)
    r.note = placement_note(hub_placement(micro_argv("condvar_pp", 2000)))
    rows.append(r)

    n = 1000 if QUICK else 4000
    r = Row(HUBS_SECTION, f"Py 4 threads × {n}: Python loop + sha256 64 KiB + socketpair round trip",
            "s", "wall_s", target=t_hubs_loss(5))
    r.extra["short"] = "threads hashing + socketpair I/O (gil_mix)"
    measure_timed(r, both([PY, PY_MICRO, "gil_mix", str(n)]), REPS)
    rows.append(r)

    if not WRK:
        rows.append(Row(HUBS_SECTION, "server cases skipped: wrk missing", "req/s", "rps"))
        return
    c_bin = lambda name: [os.path.join(BIN, name)]
    servers = [("c_http", "C thread-per-connection HTTP", c_bin("thread_server"), [100, 1000], None),
               ("tcp", "Py socketserver ThreadingTCPServer", [PY, PY_SERVERS, "tcp_responder"], [100], t_hubs_loss(5)),
               ("py_http", "Py http.server ThreadingHTTPServer", [PY, PY_SERVERS, "http_threading"], [100], t_hubs_loss(5))]
    srows = []
    for cid, title, argv, conns, tgt in servers:
        for c in conns:
            r = Row(HUBS_SECTION, f"{title} @ {c} conns (not pinned)", "req/s", "rps", better="higher", target=tgt)
            r.extra["short"] = f"{title} @ {c}"
            rows.append(r)
            srows.append((cid, argv, c, r))
    for rep in range(SERVER_REPS):
        for cid, argv, c, r in srows:
            for v in ("native", "hubs1", "hubs2"):
                res = run_server(argv, v, c, f"hubs-{cid}", pin=False)
                r.runs[v].append(res)
                shown = res.get("failed") or f"{res['rps']:.0f} req/s err {res['errors']:.0f} thr {res['threads']:.0f}"
                log(f"  {r.label} [{VARIANT_TITLE[v]}] rep {rep + 1}/{SERVER_REPS}: {shown}"
                    f"  (foreign CPU {res['foreign_cpu']:.2f})")


def hubs_table(rows):
    """(header, lines, verdicts) of section 7: its own columns."""
    header = ["case", "unit", "native", "native, 1 CPU", "HUBS=1", "HUBS=2", "HUBS=2 vs native",
              "HUBS=2 vs HUBS=1", "HUBS=2, no preemption", "… vs native", "target"]
    lines, verdicts = [], []
    for r in rows:
        tcell, ok, ttext = target_cell(r)
        if r.target:
            verdicts.append((r, ttext, ok))
        cells = [fmt_cell(r, v) if r.has(v) else "" for v in ("native", "native1", "hubs1", "hubs2")]
        lines.append([r.label, r.unit] + cells
                     + [fmt_gain(gain_of(r, "hubs2", "native")), fmt_gain(gain_of(r, "hubs2", "hubs1")),
                        fmt_cell(r, "hubs2coop") if r.has("hubs2coop") else "",
                        fmt_gain(gain_of(r, "hubs2coop", "native")) if r.has("hubs2coop") else "", tcell])
    return header, lines, verdicts


def cases_redis(rows):
    """redis-server --io-threads 4 under redis-benchmark (50 clients, SET and GET): its
    main thread spins on atomic counters, with no system call, until the I/O threads
    finish, so under greenshim it needs preemption: the greenshim column runs with
    GREENSHIM_RAW=catch GREENSHIM_PREEMPT=1, the reference column with PREEMPT=5."""
    if not want("redis"):
        return
    import shutil
    if not (shutil.which("redis-server") and shutil.which("redis-benchmark") and shutil.which("redis-cli")):
        log("== 8. redis --io-threads: skipped (apt-get install redis-server redis-tools)")
        return
    log("== 8. redis-server --io-threads 4 (greenshim: --raw catch --preempt 1; reference: --preempt 5)")
    n = 5000 if QUICK else 20000
    argv = ["bash", os.path.join(HERE, "redis_bench.sh"), str(n)]
    pre = lambda ms: {"GREENSHIM_RAW": "catch", "GREENSHIM_PREEMPT": str(ms)}
    r = Row("8. redis --io-threads", f"redis-benchmark SET ×{n}, 50 conns; ref: preempt 5 ms", "req/s", "set_rps",
            better="higher", note="greenshim: GREENSHIM_RAW=catch GREENSHIM_PREEMPT=1")
    measure(r, {"native": argv, "shim": (argv, "shim", pre(1)), "ref": (argv, "shim", pre(5))}, SERVER_REPS, timeout=400)
    rows.append(r)
    g = Row("8. redis --io-threads", f"redis-benchmark GET ×{n}, 50 conns; ref: preempt 5 ms", "req/s", "get_rps",
            better="higher")
    g.runs = {v: list(rs) for v, rs in r.runs.items()}  # the same runs: both results in each
    rows.append(g)


# ---------------------------------------------------------------------------- case 5

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, proc, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


LAT_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out):
    r = {}
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    for pct in ("50", "99"):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if m:
            r[f"p{pct}_ms"] = float(m.group(1)) * LAT_UNIT[m.group(2)]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errs = dict(connect=0, read=0, write=0, timeout=0)
    if m:
        errs = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) requests in", out)
    if m:
        r["requests"] = float(m.group(1))
    r["err"] = errs
    r["errors"] = float(sum(errs.values()))
    return r


def track(proc):
    live[proc.pid] = proc
    with open(PIDFILE, "w") as f:
        f.write("".join(f"{p}\n" for p in live))


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    live.pop(proc.pid, None)
    with open(PIDFILE, "w") as f:
        f.write("".join(f"{p}\n" for p in live))


def run_server(argv, variant, conns, tag, pin=None):
    """Starts a server, loads it with wrk, returns a RESULT-like dict. pin=False runs
    the server and wrk on any CPU (default: pinned apart when taskset is there)."""
    snap = cpu_snapshot()
    r = run_server1(argv, variant, conns, tag, PIN if pin is None else pin)
    r["foreign_cpu"] = foreign_cpu(snap, cpu_snapshot())
    return r


def run_server1(argv, variant, conns, tag, pin):
    port = free_port()
    # The port goes where the argv says PORT, else last.
    argv = [str(port) if a == "PORT" else a for a in argv] if "PORT" in argv else argv + [str(port)]
    argv = taskset(SERVER_CPU, argv) if pin else argv
    logf = open(os.path.join(LOGS, f"server-{tag}-{variant}-{conns}.log"), "w")
    proc = subprocess.Popen(argv, env=env_for(variant), stdin=subprocess.DEVNULL, stdout=logf,
                            stderr=subprocess.STDOUT)
    track(proc)
    try:
        if not wait_listening(port, proc):
            rc = proc.poll()
            return {"failed": "server did not start" + (f" (exit {rc})" if rc is not None else "")}
        peak_threads = [proc_status(proc.pid, "Threads") or 0]
        done = threading.Event()

        def sample():
            while not done.wait(0.1):
                t = proc_status(proc.pid, "Threads")
                if t:
                    peak_threads[0] = max(peak_threads[0], t)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        wargv = [WRK, "-t", "1", "-c", str(conns), "-d", f"{DURATION}s", "--timeout", "2s", "--latency",
                 f"http://127.0.0.1:{port}/"]
        if pin:
            wargv = taskset(CLIENT_CPU, wargv)
        try:
            w = subprocess.run(wargv, capture_output=True, text=True, timeout=DURATION + 60)
        except subprocess.TimeoutExpired:
            done.set()
            return {"failed": "wrk timed out"}
        done.set()
        sampler.join()
        hwm = proc_status(proc.pid, "VmHWM")
        alive = proc.poll() is None
        r = parse_wrk(w.stdout)
        with open(os.path.join(LOGS, f"wrk-{tag}-{variant}-{conns}.txt"), "a") as f:
            f.write(w.stdout + w.stderr + "\n")
        if w.returncode != 0 or "rps" not in r:
            msg = (w.stderr.strip().splitlines() or w.stdout.strip().splitlines() or ["?"])[-1]
            return {"failed": f"wrk exit {w.returncode}: {msg[:100]}"}
        if not alive:
            r["server_died"] = f"server exited ({proc.returncode}) during the run"
        r["threads"] = float(peak_threads[0])
        r["hwm_kib"] = float(hwm) if hwm else None
        return r
    finally:
        stop(proc)
        logf.close()


SERVER_CASES = []  # (id, title, {variant: argv or None}, ref title, targets {conns: fn}, note)
FILE_CONNS = 100  # the static-file case runs at this many connections only


def t_vs_native(factor):
    def ev(row):
        g = row.gain("native")
        if g is None:
            return None, f"≥{factor:g}× native"
        return g >= factor, f"≥{factor:g}× native: {g:.2f}×"
    return ev


def static_file(mib=1):
    """A file of random bytes for the static-file server (made once, in the log directory)."""
    path = os.path.join(LOGS, f"static-{mib}MiB.bin")
    if not os.path.exists(path) or os.path.getsize(path) != mib << 20:
        with open(path + ".tmp", "wb") as f:
            f.write(os.urandom(mib << 20))
        os.replace(path + ".tmp", path)
    return path


def server_cases():
    c_bin = lambda name: [os.path.join(BIN, name)]
    py_srv = lambda kind: [PY, PY_SERVERS, kind]
    cases = []
    cases.append(("c_http", "C thread-per-connection HTTP", {
        "native": c_bin("thread_server"), "shim": c_bin("thread_server"), "ref": c_bin("epoll_server")},
        "epoll server (1 thread)",
        {1000: t_vs_ref(0.9, "of epoll"), 10000: t_zero_errors()}))
    cases.append(("py_http", "Py http.server ThreadingHTTPServer", {
        "native": py_srv("http_threading"), "shim": py_srv("http_threading"),
        "ref": py_srv("pywsgi") if HAVE_GEVENT else None},
        "gevent.pywsgi", {100: t_vs_ref(1.0, "pywsgi"), 1000: t_vs_ref(1.0, "pywsgi")}))
    tcp_tgt = t_vs_ref(1.2, "gevent monkey")
    cases.append(("tcp", "Py socketserver ThreadingTCPServer", {
        "native": py_srv("tcp_responder"), "shim": py_srv("tcp_responder"),
        "ref": [PY, "-m", "gevent.monkey", PY_SERVERS, "tcp_responder"] if HAVE_GEVENT else None},
        "python -m gevent.monkey", {c: tcp_tgt for c in CONNS}))
    # Regular-file reads that miss the page cache (O_DIRECT): natively 100 threads' reads
    # overlap; a shim that ran them inline would serialise every connection behind each.
    fs = c_bin("file_server")
    cases.append(("file", "C static-file server, 1 MiB O_DIRECT file", {
        "native": fs, "shim": fs, "base": fs if BASE_LIB else None},
        "", {FILE_CONNS: t_vs_native(0.9)}))
    if HAVE_FLASK:
        fl_tgt = t_vs_ref(1.0, "Flask on gevent")
        cases.append(("flask", "Flask threaded dev server", {
            "native": py_srv("flask_threaded"), "shim": py_srv("flask_threaded"),
            "ref": py_srv("flask_gevent") if HAVE_GEVENT else None},
            "Flask on gevent.pywsgi", {c: fl_tgt for c in CONNS}))
    return cases


def cases_server(rows):
    if not want("server", "c_http", "py_http", "tcp", "flask", "file"):
        return
    if not WRK:
        log("== 5. servers: SKIPPED — wrk is not installed (apt-get install wrk, or run as root)")
        rows.append(Row("5. servers", "all server cases skipped: wrk missing", "req/s", "rps"))
        return
    if not HAVE_FLASK:
        log("   (Flask case skipped: flask could not be installed into the venv)")
    if not HAVE_GEVENT:
        log("   (gevent references skipped: gevent could not be installed into the venv)")
    log(f"== 5. servers: wrk -t1 -d{DURATION}s at {CONNS} connections, {SERVER_REPS} rep(s)"
        + (f"; server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU}" if PIN else "; no pinning"))
    for cid, title, plans, ref_title, targets in server_cases():
        if ONLY and not want("server", cid):
            continue
        case_rows = {}
        conns_list = [FILE_CONNS] if cid == "file" else CONNS
        for c in conns_list:
            r = Row("5. servers", f"{title} @ {c} conns", "req/s", "rps", better="higher", target=targets.get(c))
            r.extra.update(case=cid, title=title, conns=c, ref_title=ref_title)
            for v, argv in plans.items():
                if argv is None and v != "base":
                    r.skipped[v] = "gevent not installed"
            case_rows[c] = r
            rows.append(r)
        for rep in range(SERVER_REPS):
            for c in conns_list:
                r = case_rows[c]
                for v in ("native", "shim", "base", "ref"):
                    argv = plans.get(v)
                    if argv is None:
                        continue
                    if cid == "file":
                        argv = argv + ["PORT", static_file(), "direct"]
                    res = run_server(argv, v, c, cid)
                    r.runs[v].append(res)
                    shown = res.get("failed") or (
                        f"{res['rps']:.0f} req/s p99 {res.get('p99_ms', float('nan')):.2f} ms "
                        f"err {res['errors']:.0f} thr {res['threads']:.0f}")
                    log(f"  {title} @{c} [{VARIANT_TITLE[v]}] rep {rep + 1}/{SERVER_REPS}: {shown}"
                        f"  (foreign CPU {res['foreign_cpu']:.2f})")


# ---------------------------------------------------------------------------- report

def noise_summary(rows):
    f = [r.get("foreign_cpu", 0.0) for row in rows for v in VARIANTS for r in row.runs[v]]
    if not f:
        return None
    noisy = sum(1 for x in f if x > NOISY)
    return (f"other processes used {statistics.mean(f):.2f} CPU on average during the measurements "
            f"(max {max(f):.2f} in one run); {noisy} of {len(f)} runs had more than {NOISY} CPU of "
            f"foreign load{' (marked * in the table)' if noisy else ''}")


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1048576:.1f} GiB"
    except (OSError, ValueError):
        pass

    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    rev = os.environ.get("BENCH_LIB_REV") or cmd(["git", "-C", os.path.dirname(os.path.dirname(HERE)), "rev-parse", "--short", "HEAD"])
    dirty = "" if os.environ.get("BENCH_LIB_REV") else cmd(["git", "-C", os.path.dirname(os.path.dirname(HERE)), "status", "--porcelain", "--", "src"])
    pyver = cmd([PY, "-c", "import sys; print(sys.version.split()[0])"])
    gv = cmd([PY, "-c", "import gevent, greenlet; print(gevent.__version__, greenlet.__version__)"]) if HAVE_GEVENT else ""
    fv = cmd([PY, "-c", "import importlib.metadata as m; print(m.version('flask'), m.version('werkzeug'))"]) if HAVE_FLASK else ""
    wv = ""
    if WRK:
        wv = (cmd(["sh", "-c", f"{WRK} -v 2>&1 | head -1"]) or "").split(" [")[0]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": NCPU, "kernel": platform.release(), "cpu": cpu, "mem": mem,
        "greenshim": (rev or "?") + (" + uncommitted src/ changes" if dirty else ""),
        "lib_sha": ENV.get("BENCH_LIB_SHA", "?"),
        "python": pyver, "gevent": gv, "flask": fv, "wrk": wv,
        "cc": cmd(["sh", "-c", "cc --version | head -1"]),
        "ulimit_n": cmd(["sh", "-c", "ulimit -n"]),
    }


def table_lines(rows):
    variants = [v for v in VARIANTS if v not in HUB_VARIANTS and (v != "base" or BASE_LIB)]
    header = ["case", "unit"] + [VARIANT_TITLE[v] for v in variants] + ["gain vs native", "gain vs ref", "target"]
    lines, section = [], None
    verdicts = []
    for r in rows:
        if r.section != section:
            section = r.section
            lines.append([f"**{section}**"] + [""] * (len(header) - 1))
        if r.section.startswith("3") and BASE_LIB and r.runs["base"] and r.runs["shim"]:
            r.base_target = t_vs_base(BASE_PCT)
        tcell, ok, ttext = target_cell(r)
        if r.target:
            verdicts.append((r, ttext, ok))
        if r.base_target:
            bok, btext = r.base_target(r)
            verdicts.append((r, btext, bok))
            tcell = "; ".join(filter(None, [tcell, f"{btext} {'MET' if bok else 'MISSED' if bok is False else 'n/a'}"]))
        label = r.label
        if r.section.startswith("5.") and r.extra:
            label = f"{r.extra['title']} @ {r.extra['conns']}"
        lines.append([label, r.unit] + [fmt_cell(r, v) if r.has(v) else "" for v in variants]
                     + [fmt_gain(r.gain("native")) if r.has("native") else "",
                        fmt_gain(r.gain("ref")) if r.has("ref") else "", tcell])
    return header, lines, verdicts


def render_text(header, lines):
    """Plain fixed-width table for the terminal."""
    cols = list(zip(*([header] + lines)))
    widths = [min(max(len(c.replace("**", "")) for c in col), 64) for col in cols]
    out = []

    def fmt(row):
        cells = []
        for c, w in zip(row, widths):
            c = c.replace("**", "")
            cells.append(c[:w].ljust(w))
        return " | ".join(cells).rstrip()

    out.append(fmt(header))
    out.append("-+-".join("-" * w for w in widths))
    for row in lines:
        if row[0].startswith("**"):
            out.append(row[0].replace("**", ""))
        else:
            out.append(fmt(row))
    return "\n".join(out)


def render_md_table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in lines:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(out)


def server_detail_md(rows):
    srows = [r for r in rows if r.section.startswith("5.") and r.extra]
    if not srows:
        return ""
    out = ["| server | conns | variant | req/s median (min–max) | p50 ms | p99 ms | errors (connect/read/write/timeout/non-2xx, summed over runs) | peak RSS MiB | max OS threads |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in srows:
        names = {"native": "native threads", "shim": "greenshim", "base": VARIANT_TITLE["base"],
                 "ref": r.extra["ref_title"]}
        for v in ("native", "shim", "base", "ref"):
            if not r.has(v):
                continue
            if v in r.skipped and not r.runs[v]:
                out.append(f"| {r.extra['title']} | {r.extra['conns']} | {names[v]} | skipped ({r.skipped[v]}) | | | | | |")
                continue
            ok = [x for x in r.runs[v] if "failed" not in x]
            fails = r.failures(v)
            cell = fmt_cell(r, v)
            if not ok:
                out.append(f"| {r.extra['title']} | {r.extra['conns']} | {names[v]} | {cell} | | | | | |")
                continue
            med = lambda k: statistics.median([x[k] for x in ok if x.get(k) is not None]) if any(x.get(k) is not None for x in ok) else None
            e = {k: sum(x["err"][k] for x in ok) for k in ("connect", "read", "write", "timeout", "non2xx")}
            errs = "/".join(str(e[k]) for k in ("connect", "read", "write", "timeout", "non2xx"))
            hwm = max((x["hwm_kib"] for x in ok if x.get("hwm_kib")), default=None)
            thr = max(x["threads"] for x in ok)
            died = [x["server_died"] for x in ok if x.get("server_died")]
            extra = (f" — {len(fails)} run(s) failed: {fails[0]}" if fails else "") + (f" — {died[0]}" if died else "")
            p50, p99 = med("p50_ms"), med("p99_ms")
            out.append(f"| {r.extra['title']} | {r.extra['conns']} | {names[v]} | {cell}{extra} | "
                       f"{'' if p50 is None else f'{p50:.2f}'} | {'' if p99 is None else f'{p99:.2f}'} | {errs} | "
                       f"{'' if hwm is None else f'{hwm / 1024:.1f}'} | {thr:.0f} |")
    return "\n".join(out)


def scale_detail_md(rows):
    srows = [r for r in rows if r.section.startswith("4.")]
    if not srows:
        return ""
    out = ["| case | variant | wall s | create s | peak RSS MiB | KiB/thread | OS threads | max alive at once |",
           "|---|---|---|---|---|---|---|---|"]
    names = {"native": "native", "shim": "greenshim", "ref": "gevent"}
    for r in srows:
        for v in ("native", "shim", "ref"):
            if not r.runs[v]:
                continue
            if r.failures(v):
                out.append(f"| {r.label} | {names[v]} | {fmt_cell(r, v)} | | | | | |")
                continue
            m = lambda k: r.med_field(v, k)
            hwm = m("hwm_kib")
            out.append(f"| {r.label} | {names[v]} | {m('wall_s'):.2f} | {m('create_s'):.2f} | "
                       f"{hwm / 1024:.1f} | {m('kib_per_thread'):.2f} | {m('os_threads'):.0f} | {m('max_alive'):.0f} |")
    return "\n".join(out)


def svg_plot(rows, path):
    """Throughput vs connections, one panel per server case, written by hand."""
    srows = [r for r in rows if r.section.startswith("5.") and r.extra and r.extra["case"] != "file"]
    cases = []
    for r in srows:
        if r.extra["case"] not in [c[0] for c in cases]:
            cases.append((r.extra["case"], r.extra["title"], r.extra["ref_title"]))
    if not cases:
        return False
    colors = {"native": "#d62728", "shim": "#2ca02c", "ref": "#1f77b4"}
    pw, ph, ml, mr, mt, mb = 460, 320, 70, 20, 40, 80
    cols = 2
    nrows = math.ceil(len(cases) / cols)
    W, H = cols * pw, nrows * ph + 40
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         f'font-family="sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
         f'Throughput vs concurrent connections (median, bars: min–max)</text>']
    for i, (cid, title, ref_title) in enumerate(cases):
        x0, y0 = (i % cols) * pw, 40 + (i // cols) * ph
        crow = [r for r in srows if r.extra["case"] == cid]
        conns = [r.extra["conns"] for r in crow]
        ymax = max([max(r.values(v), default=0) for r in crow for v in ("native", "shim", "ref")] + [1])
        step = 10 ** math.floor(math.log10(ymax))
        for mult in (1, 2, 2.5, 5, 10):
            if ymax / (step * mult) <= 5:
                step *= mult
                break
        ytop = step * math.ceil(ymax / step)
        px0, px1, py0, py1 = x0 + ml, x0 + pw - mr, y0 + ph - mb, y0 + mt
        lo, hi = math.log10(min(conns)), math.log10(max(conns))
        xs = lambda c: px0 + (px1 - px0) * ((math.log10(c) - lo) / (hi - lo) if hi > lo else 0.5)
        ys = lambda v: py0 - (py0 - py1) * v / ytop
        o.append(f'<text x="{(px0 + px1) / 2}" y="{y0 + 22}" text-anchor="middle" font-size="12" '
                 f'font-weight="bold">{title}</text>')
        o.append(f'<rect x="{px0}" y="{py1}" width="{px1 - px0}" height="{py0 - py1}" fill="none" stroke="#888"/>')
        k = 0
        while k * step <= ytop + 1e-9:
            yy = ys(k * step)
            o.append(f'<line x1="{px0}" y1="{yy:.1f}" x2="{px1}" y2="{yy:.1f}" stroke="#eee"/>')
            tick = k * step
            label = f"{tick / 1000:g}k" if tick >= 1000 else f"{tick:g}"
            o.append(f'<text x="{px0 - 5}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>')
            k += 1
        for c in conns:
            o.append(f'<text x="{xs(c):.1f}" y="{py0 + 15}" text-anchor="middle">{c}</text>')
        o.append(f'<text x="{(px0 + px1) / 2}" y="{py0 + 32}" text-anchor="middle">concurrent connections (wrk -c, log scale)</text>')
        o.append(f'<text x="{x0 + 14}" y="{(py0 + py1) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 {x0 + 14} {(py0 + py1) / 2})">requests/s</text>')
        names = {"native": "native threads", "shim": "greenshim", "ref": ref_title}
        lx = px0
        for v in ("native", "shim", "ref"):
            pts = []
            for r in crow:
                vals = r.values(v)
                if not vals:
                    continue
                x = xs(r.extra["conns"])
                pts.append(f"{x:.1f},{ys(statistics.median(vals)):.1f}")
                if len(vals) > 1:
                    o.append(f'<line x1="{x:.1f}" y1="{ys(min(vals)):.1f}" x2="{x:.1f}" y2="{ys(max(vals)):.1f}" '
                             f'stroke="{colors[v]}" stroke-width="1.5"/>')
                o.append(f'<circle cx="{x:.1f}" cy="{ys(statistics.median(vals)):.1f}" r="3" fill="{colors[v]}"/>')
                if r.failures(v):
                    o.append(f'<text x="{x + 4:.1f}" y="{ys(statistics.median(vals)) - 5:.1f}" fill="{colors[v]}">!</text>')
            if pts:
                o.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{colors[v]}" stroke-width="2"/>')
                ly = py0 + 52
                o.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" y2="{ly - 4}" stroke="{colors[v]}" stroke-width="2"/>')
                o.append(f'<text x="{lx + 22}" y="{ly}">{names[v]}</text>')
                lx += 30 + 6.2 * len(names[v])
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")
    return True


METHODOLOGY = """\
- **Alternation.** For every case, each repetition runs every variant once in turn
  (native, native on 1 CPU, greenshim, reference), so drifts of the machine (frequency,
  noisy neighbours) hit all variants alike. Cells show the median over the repetitions
  and, in parentheses, the min–max spread. Micro cases: {reps} repetition(s); scale:
  {scale_reps}; servers: {server_reps}.
- **Variants.** *native*: the program as is. *native, 1 CPU*: the same, pinned with
  `taskset -c {one_cpu}` — greenshim runs every green thread on one OS thread, so this
  is the like-for-like comparison for the context-switch cases (cross-CPU wake-ups are
  what make native ping-pong slow on this VM). *greenshim*: the same binary with
  `LD_PRELOAD=libgreenshim.so`. *greenshim* followed by a commit: the same binary under the
  baseline release named in bench/BASELINE, built from git into build/bench-baseline/
  (micro cases only); the fast-path rows and the pipe ping-pong must cost at
  most {base_pct}% more than it. *reference*: gevent (Python cases) or a hand-written
  single-thread epoll server (C server case).
- **Gain** columns: how many times better greenshim is than that column (less time,
  less memory per thread, or more requests/s); > 1 means greenshim wins. Targets are
  judged on medians, against the unpinned native run; for the speed-up targets the
  ratio against native pinned to one CPU is given beside it for information.
- **Micro cases** (scripts/bench/micro.c, py_micro.py): the C fast-path and
  uncontended-mutex loops run inside one created thread (main joins it), so under the
  shim they run as a green thread; the ping-pong peers never spin without calling a
  blocking function (the yield case calls `sched_yield()` between checks). Mutex
  hand-off passes ownership around a ring of three mutexes, so every step blocks in
  `pthread_mutex_lock` until the other thread unlocks. Each case does a short warm-up
  before timing.
- **Scale** (case 4): N threads each `nanosleep` 1 s, created back to back and then
  joined. KiB/thread = (VmHWM at the end − VmRSS before creating) / N. OS threads is
  `Threads:` of /proc/self/status right after the last create. "max alive at once"
  counts threads between start and end of their sleep: when creating N threads takes
  longer than 1 s (native at 30000), the first ones are gone before the last start.
  Python threads run at N ≤ 10000 only.
- **Servers** (case 5): every run starts a fresh server{pin}, waits until it accepts,
  runs `wrk -t 1 -c N -d {dur}s --timeout 2s --latency`, samples the server's
  `Threads:` every 100 ms during the run, reads its VmHWM (peak RSS) before stopping
  it. No warm-up: connection set-up is part of the run. Errors are wrk's socket errors
  (connect/read/write/timeout) plus non-2xx responses. All servers answer
  `GET /` with a 13-byte `Hello, world` body over HTTP/1.1 keep-alive, listen with a
  backlog of 4096 (http.server's default of 5 and werkzeug's 128 raised to match) and
  log no requests.
- **Flask**: Werkzeug's dev server (what `app.run(threaded=True)` runs) answers every
  request with `Connection: close`, so each request of the threaded variants costs a new
  TCP connection, an accept and a new thread, while gevent.pywsgi keeps connections
  alive. The Flask rows compare the two servers as shipped.
- **Python thread start is O(N) in CPython 3.11**: `Thread.start()` scans every live
  thread's shutdown lock (`threading._maintain_shutdown_locks`), so starting 10000
  threads takes over a second natively and under the shim alike; hence "max alive at
  once" < N for Python threads at 10000.
- **TCP_NODELAY** is set on accepted sockets by http.server's ThreadingHTTPServer and
  by Flask's threaded dev server (werkzeug), which write the headers and the body with
  separate sends, and, for symmetry, by both gevent.pywsgi servers. The C servers and
  the socketserver responder write each response with one call and leave Nagle on.
- **Python**: every Python case runs the venv's interpreter (build/bench-venv) directly,
  natively and under the shim alike; gevent cases use gevent's own API, the responder's
  gevent variant is the unchanged script under `python -m gevent.monkey`.
- **Library**: bench.sh measures a copy of target/release/libgreenshim.so taken at the
  start (its sha256 is above), so a rebuild during the run cannot mix two versions.
- **Noise**: the machine may be shared (other builds and test suites); each run records
  how much CPU other processes used meanwhile, and cells with a noisy run get a `*`.
- Raw per-run numbers: build/bench/results.json; server and wrk logs: build/bench/.
"""


HUBS_BEGIN = "<!-- section 7 (several hubs): written by scripts/bench/bench.py; BENCH_ONLY=hubs rewrites only this part -->"
HUBS_END = "<!-- end of section 7 -->"

HUBS_METHODOLOGY = """\
- **Variants.** *native*: the program as is. *HUBS=1* / *HUBS=2*: under
  `LD_PRELOAD=libgreenshim.so` with `GREENSHIM_HUBS=1` (one OS thread runs every green
  thread, the default) or `GREENSHIM_HUBS=2` (two hubs: a new thread goes to the hub with
  the fewest threads and never moves). Each repetition runs the variants in turn; cells
  are the median (min–max) of {reps} repetition(s) ({server_reps} for servers).
- **CPU-parallel rows**: wall time of the whole process (start-up included) measured by
  the driver; the output of every run (sha256 of stdout) must equal the first run's, else
  the run counts as failed. Before each run the driver waits (≤ 3 s) while other processes
  keep more than half a CPU busy. The inputs are generated once into build/bench/ (seeded):
  64 MiB of numbered lines of words from a 400-word vocabulary (`xz -1` keeps about a
  third), 2,000,000 lines `word hex` (`sort` with `LC_ALL=C`, `-S 256M`: no temporary
  files). The C program (scripts/bench/compute.c) is c-tests/hubs/compute.c with the step
  count as an argument; the rayon case is `bench_pingpong rayon` (c-tests/rust), whose
  pool has one worker per CPU. Target (issue 17): `HUBS=2` within 10 % of native.
- **Condvar ping-pong**: scripts/bench/micro.c `condvar_pp` — main creates one peer, so with
  two hubs main stays on hub 0 and the peer is placed on hub 1: every hand-off is a wake
  across OS threads (one unmeasured `GREENSHIM_STATS=1` run shows both hubs switching).
- **Servers**: as in section 5 (wrk -t1, {dur} s, fresh server per run) but **not pinned**:
  a server pinned to one CPU could not use a second hub, so server and wrk share both CPUs
  for every variant.
- **CPython** (3.11, with its GIL): the Python rows must not lose more than 5 % with two
  hubs against one (issue 17). `gil_mix` (scripts/bench/py_micro.py): 4 threads, each
  step a pure-Python loop (holds the GIL), sha256 of 64 KiB (hashlib drops the GIL for
  it) and a 4 KiB round trip over a socketpair to an echo thread of its own.
"""


def hubs_cpython_summary(hub_rows):
    """What the CPython rows say about GREENSHIM_HUBS=auto (generated from the numbers)."""
    py = [r for r in hub_rows if r.label.startswith("Py ")]
    losses = []
    for r in py:
        h2, h1 = r.median("hubs2"), r.median("hubs1")
        if h2 is None or h1 is None:
            continue
        losses.append((r, ((h2 - h1) / h1 if r.better == "lower" else (h1 - h2) / h1) * 100))
    if not losses:
        return ""
    worst = max(l for _, l in losses)
    each = "; ".join(f"{r.extra.get('short', r.label)}: {l:+.1f}%" for r, l in losses)
    text = (f"**CPython with its GIL, HUBS=2 against HUBS=1** (positive = a loss): {each}. "
            "Only one thread runs Python bytecode at a time, so a second hub can only overlap "
            "what runs without the GIL (hashing, compression, system calls), while every GIL "
            "hand-off between threads on different hubs becomes a wake across OS threads (an "
            "eventfd write and an epoll return instead of a switch on one stack). ")
    if worst > 5:
        text += (f"The worst case loses {worst:.1f}% (> 5%): `GREENSHIM_HUBS=auto` keeps CPython on "
                 "one hub (src/init.rs), and `greenshim doctor` says so.")
    else:
        text += (f"No row loses more than 5% (worst {worst:+.1f}%); `GREENSHIM_HUBS=auto` still keeps "
                 "CPython on one hub (src/init.rs): two hubs help only where the GIL is released.")
    return text


def hubs_md(hub_rows, info, elapsed, standalone):
    header, lines, verdicts = hubs_table(hub_rows)
    md = [HUBS_BEGIN, "", "## 7. Several hubs (GREENSHIM_HUBS)", ""]
    if standalone:
        md += [f"Generated by `BENCH_ONLY=hubs bash scripts/bench.sh`{' with BENCH_QUICK=1' if QUICK else ''} "
               f"on {info['date']} in {elapsed / 60:.1f} min; greenshim {info['greenshim']} "
               f"(libgreenshim.so sha256 {info['lib_sha'][:12]}); {info['cpu']} × {info['nproc']}; "
               f"Python {info['python']}; {info['wrk'] or 'no wrk'}. Measured alone: the other "
               "sections and the machine line at the top come from an earlier full run.", ""]
    md += ["Native threads vs greenshim with one hub vs two hubs (two OS threads running green "
           "threads) on this 2-core machine. Wall time in s (lower is better), ns per round trip, "
           "req/s (higher is better). The *vs* columns: how many times better HUBS=2 is (>1: HUBS=2 "
           "wins).", "", render_md_table(header, lines), ""]
    notes = [f"- {r.label}: {r.note}" for r in hub_rows if r.note]
    if notes:
        md += notes + [""]
    noise = noise_summary(hub_rows)
    if noise and standalone:
        md += [f"Machine noise: {noise}.", ""]
    if verdicts:
        met = sum(1 for _, _, ok in verdicts if ok)
        md += [f"Targets of this section: {met} of {len(verdicts)} met.", ""]
        for r, t, ok in verdicts:
            md.append(f"- {'MET' if ok else 'MISSED' if ok is False else 'n/a'} — {r.label}: {t}")
        md.append("")
    cp = hubs_cpython_summary(hub_rows)
    if cp:
        md += [cp, ""]
    md += ["Method (section 7):", "", HUBS_METHODOLOGY.format(reps=REPS, server_reps=SERVER_REPS, dur=DURATION),
           HUBS_END]
    return "\n".join(md), header, lines, verdicts


def splice_hubs(block):
    """Puts section 7 into the existing results.md in place of its previous version
    (else before the methodology, else at the end); the other sections stay."""
    path = os.path.join(OUT, "results.md")
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        old = "# greenshim benchmarks\n\nOnly section 7 has been measured (BENCH_ONLY=hubs).\n"
    a, b = old.find(HUBS_BEGIN), old.find(HUBS_END)
    if a >= 0 and b > a:
        new = old[:a] + block + old[b + len(HUBS_END):]
    elif "\n## Methodology" in old:
        i = old.index("\n## Methodology")
        new = old[:i + 1] + block + "\n\n" + old[i + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(new)


def write_results(rows, info, header, lines, verdicts, svg_ok, elapsed, hub_block=""):
    os.makedirs(OUT, exist_ok=True)
    md = ["# greenshim benchmarks", "",
          f"Generated by `make bench` (scripts/bench.sh){' with BENCH_QUICK=1' if QUICK else ''} "
          f"on {info['date']} in {elapsed / 60:.1f} min.", "",
          "## Machine", "",
          f"- CPU: {info['cpu']} × {info['nproc']} (nproc)",
          f"- memory: {info['mem']}; kernel: {info['kernel']}; `ulimit -n`: {info['ulimit_n']}",
          f"- greenshim: {info['greenshim']} (libgreenshim.so sha256 {info['lib_sha'][:12]}, snapshot taken at "
          f"the start of the run); compiler: {info['cc']}",
          f"- Python {info['python']}; gevent/greenlet: {info['gevent'] or 'not installed'}; "
          f"Flask/Werkzeug: {info['flask'] or 'not installed'}; wrk: {info['wrk'] or 'not installed'}", "",
          "## Results", "",
          "Median (min–max) over the repetitions. Units: ns/op and ns/rt (round trip) — lower is "
          "better; KiB/thr — lower is better (cells also give OS threads); req/s — higher is better.", "",
          render_md_table(header, lines), ""]
    noise = noise_summary(rows)
    if noise:
        md += [f"Machine noise: {noise}. Foreign load = busy CPU time in /proc/stat minus the CPU time "
               f"of the benchmark's own processes, over each run; a `*` cell had at least one such run.", ""]
    if verdicts:
        met = sum(1 for _, _, ok in verdicts if ok)
        missed = [(r, t) for r, t, ok in verdicts if ok is False]
        na = [(r, t) for r, t, ok in verdicts if ok is None]
        md += ["## Targets", "", f"{met} of {len(verdicts)} met" + (f", {len(na)} not measured" if na else "") + ".", ""]
        for r, t, ok in verdicts:
            md.append(f"- {'MET' if ok else 'MISSED' if ok is False else 'n/a'} — {r.label}: {t}")
        md.append("")
    if svg_ok:
        md += ["## Servers: throughput vs connections", "", "![throughput vs connections](servers.svg)", ""]
    d = server_detail_md(rows)
    if d:
        md += ["## Server details", "", d, ""]
    d = scale_detail_md(rows)
    if d:
        md += ["## Scale details", "", d, ""]
    if hub_block:
        md += [hub_block, ""]
    md += ["## Methodology", "", METHODOLOGY.format(
        reps=REPS, base_pct=BASE_PCT, scale_reps=SCALE_REPS, server_reps=SERVER_REPS, one_cpu=ONE_CPU, dur=DURATION,
        pin=(f" pinned to CPU {SERVER_CPU} with wrk on CPU {CLIENT_CPU}" if PIN else " (no taskset: not pinned)"))]
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write("\n".join(md))
    raw = [{"section": r.section, "label": r.label, "unit": r.unit, "metric": r.metric, "runs": r.runs,
            "skipped": r.skipped, "extra": r.extra} for r in rows]
    with open(os.path.join(LOGS, "results.json"), "w") as f:
        json.dump({"machine": info, "rows": raw}, f, indent=1)


def cleanup(*_):
    for p in list(live.values()):
        try:
            p.kill()
        except OSError:
            pass
    live.clear()


def main():
    t0 = time.time()
    os.makedirs(LOGS, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(143)))
    rows, hub_rows = [], []
    try:
        cases_micro(rows)
        cases_scale(rows)
        cases_server(rows)
        cases_tls(rows)
        cases_hubs(hub_rows)
        cases_redis(rows)
    except KeyboardInterrupt:
        log("interrupted: reporting what was measured")
    finally:
        cleanup()
    info = machine_info()
    header, lines, verdicts = table_lines(rows)
    svg_ok = svg_plot(rows, os.path.join(OUT, "servers.svg"))
    elapsed = time.time() - t0
    hub_block, hheader, hlines, hverdicts = hubs_md(hub_rows, info, elapsed, not rows) if hub_rows else ("", [], [], [])
    if rows:
        write_results(rows, info, header, lines, verdicts, svg_ok, elapsed, hub_block)
    elif hub_block:
        splice_hubs(hub_block)
    print()
    print(f"greenshim benchmarks — {info['date']} — {info['cpu']} × {info['nproc']}, kernel {info['kernel']}"
          + (" — QUICK" if QUICK else ""))
    if rows:
        print("median (min–max); gain = how many times better greenshim is (>1: greenshim wins)")
        print(render_text(header, lines))
    if hub_rows:
        print(f"\n{HUBS_SECTION}: median (min–max); the vs columns = how many times better HUBS=2 is (>1: HUBS=2 wins)")
        print(render_text(hheader, hlines))
        for r in hub_rows:
            if r.note:
                print(f"  {r.label}: {r.note}")
        cp = hubs_cpython_summary(hub_rows)
        if cp:
            print(cp.replace("**", ""))
        verdicts = verdicts + hverdicts
    noise = noise_summary(rows + hub_rows)
    if noise:
        print(f"noise: {noise}")
    if verdicts:
        met = sum(1 for _, _, ok in verdicts if ok)
        print(f"\ntargets: {met}/{len(verdicts)} met"
              + "".join(f"\n  MISSED: {r.label}: {t}" for r, t, ok in verdicts if ok is False)
              + "".join(f"\n  n/a: {r.label}: {t}" for r, t, ok in verdicts if ok is None))
    print(f"\nwrote {os.path.join(OUT, 'results.md')}" + (f" and {os.path.join(OUT, 'servers.svg')}" if svg_ok else "")
          + f" in {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
