#!/usr/bin/env python3
"""Run CPython's own test modules natively and under greenshim; compare case by case.

    scripts/cpython-compat.py [--python PY]... [--pyenv 3.11,3.13] [--timeout S]
                              [--module-timeout S] [--markdown FILE] [test_module ...]

Each module runs twice per interpreter with `PY -m test -j1 --junit-xml` (once
natively, once with LD_PRELOAD=libgreenshim.so), and every test case's outcome is
compared. `--python` may be given several times: every module runs on every
interpreter that has it (a module missing from an install is shown as "absent").
`--pyenv 3.11,3.12,3.13` adds the newest pyenv install of each of those versions
($PYENV_ROOT, default ~/.pyenv); a version that is not installed is reported and skipped.
A case that passes natively but not under the shim is a regression, unless it is
listed in scripts/cpython-known-differences.txt with the reason (explained in
docs/CAVEATS.md).

Time limits: regrtest's own `--timeout` (per test file; `-j1` runs each file, and each
sub-module of a package such as test_asyncio, in a worker process that regrtest kills
when it overruns, so only that file's cases are lost), and `--module-timeout`, a wall
limit on the whole run of one module: past it the run's process group is killed and
the module is recorded as "timeout" rather than ending the comparison.

Known differences marked `[hang]` are deselected (`-i`) in the shim run, since they
never end there; entries marked `[skip]` (cases that hang natively on this machine, such
as VSOCK tests where the host has no vsock peer) are deselected in both runs; `[py>=3.13]`-
style marks limit an entry to some interpreters, and `[no-preempt]` to runs without
GREENSHIM_PREEMPT (cooperative scheduling: with `GREENSHIM_RAW=catch GREENSHIM_PREEMPT=5`
in the environment such cases run and must pass). An entry may be an fnmatch pattern.
Exit status: 0 when there are no unexplained regressions, 1 otherwise.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = ["test_threading", "test_thread", "test_queue", "test_threading_local", "test_socketserver",
           "test_subprocess", "test_os", "test_selectors", "test_fcntl", "test_fileio", "test_file",
           "test_poll", "test_select", "test_epoll", "test_asyncio", "test_ftplib", "test_faulthandler",
           "test_multiprocessing_main_handling", "test_ssl", "test_socket", "test_signal", "test_logging",
           "test_concurrent_futures", "test_multiprocessing_forkserver", "test_multiprocessing_spawn"]


def lib_path():
    p = os.environ.get("GREENSHIM_LIB") or os.path.join(ROOT, "target", "release", "libgreenshim.so")
    if not os.path.exists(p):
        sys.exit(f"cpython-compat: {p} not found; run `make` first")
    return p


def known_differences():
    """{case: (reason, tag, version-condition or None, cooperative-only)}; tag is None,
    "hang" or "skip"; cooperative-only ([no-preempt]): the entry holds only without
    GREENSHIM_PREEMPT (a difference that preemption removes)."""
    known = {}
    path = os.path.join(ROOT, "scripts", "cpython-known-differences.txt")
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            case, _, rest = line.partition(" ")
            tag, cond, coop = None, None, False
            while True:
                m = re.match(r"\[(hang|skip|no-preempt|py(>=|<=|==)(\d+\.\d+))\]\s*", rest)
                if not m:
                    break
                if m.group(1) in ("hang", "skip"):
                    tag = m.group(1)
                elif m.group(1) == "no-preempt":
                    coop = True
                else:
                    cond = (m.group(2), tuple(int(x) for x in m.group(3).split(".")))
                rest = rest[m.end():]
            known[case] = (rest.strip(), tag, cond, coop)
    return known


def preempting():
    """Whether the shim runs preempt: GREENSHIM_PREEMPT set to milliseconds, or left at
    `auto` (the default) with a number of hubs above 1 (`GREENSHIM_HUBS=auto` gives
    CPython one hub) and per-green TLS."""
    v = os.environ.get("GREENSHIM_PREEMPT", "auto").strip()
    if v in ("", "auto"):
        hubs = os.environ.get("GREENSHIM_HUBS", "1").strip()
        shared = os.environ.get("GREENSHIM_TLS", "per-green").strip() == "shared"
        return hubs.isdigit() and int(hubs) > 1 and not shared
    return v not in ("off", "0")


def applies(entry, version):
    if entry[3] and preempting():
        return False
    cond = entry[2]
    if cond is None:
        return True
    op, v = cond
    return {">=": version >= v, "<=": version <= v, "==": version == v}[op]


def version_of(python):
    out = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    return out


def pyenv_python(version):
    root = os.environ.get("PYENV_ROOT") or os.path.join(os.path.expanduser("~"), ".pyenv")
    d = os.path.join(root, "versions")
    try:
        names = [n for n in os.listdir(d) if re.fullmatch(re.escape(version) + r"\.\d+", n)]
    except OSError:
        return None
    names.sort(key=lambda n: int(n.rsplit(".", 1)[1]))
    for n in reversed(names):
        py = os.path.join(d, n, "bin", "python3")
        if os.path.exists(py):
            return py
    return None


def has_module(python, module):
    code = ("import importlib.util, sys\n"
            "sys.exit(0 if importlib.util.find_spec('test.' + sys.argv[1]) else 1)")
    try:
        return subprocess.run([python, "-c", code, module], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except Exception:
        return False


def run(module, shim, python, timeout, module_timeout, ignore):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if shim:
        env["LD_PRELOAD"] = lib_path()
    with tempfile.TemporaryDirectory() as d:
        xml = os.path.join(d, "out.xml")
        cmd = [python, "-m", "test", "-j1", "-u", "network", "--timeout", str(timeout), "--junit-xml", xml]
        for case in ignore:
            cmd += ["-i", case]
        cmd.append(module)
        t0 = time.monotonic()
        # SIGINT back to its default: a shell's background job inherits it ignored, and then
        # CPython installs no KeyboardInterrupt handler (tests of interrupt_main hang natively).
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=module_timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        wall = time.monotonic() - t0
        results = {}
        if os.path.exists(xml):
            try:
                tree = ET.parse(xml)
            except ET.ParseError:
                tree = None
            for case in (tree.iter("testcase") if tree is not None else ()):
                cls, name = case.get("classname") or "", case.get("name") or ""
                name = f"{cls}.{name}" if cls else name
                outcome = "ok"
                for child in case:
                    if child.tag in ("failure", "error"):
                        outcome = child.tag
                    elif child.tag == "skipped":
                        outcome = "skipped"
                results[name] = outcome
        # Test files that regrtest killed at its --timeout or that crashed: named in its summary.
        lost = sorted(set(re.findall(r"^(test\S+) (?:timed out|crashed|failed \(env changed\)|.*TIMEOUT)", out, re.M)))
        return dict(results=results, wall=wall, rc=proc.returncode, out=out, timed_out=timed_out, lost=lost)


def group_known(entries):
    """["case (3.11)", "case (3.13)"] -> "case (3.11, 3.13)"."""
    by = {}
    for e in entries:
        m = re.fullmatch(r"(.*) \((.*)\)", e)
        name, vers = (m.group(1), m.group(2).split(", ")) if m else (e, [])
        for v in vers:
            if v not in by.setdefault(name, []):
                by[name].append(v)
        by.setdefault(name, [])
    return ", ".join(f"{n} ({', '.join(v)})" if v else n for n, v in by.items()) or "none"


def merge_tables(paths):
    """Joins tables of the form `| module | <cols>... | known differences |` by module."""
    heads, rows, order = [], {}, []
    for path in paths:
        with open(path) as f:
            lines = [l.rstrip("\n") for l in f if l.startswith("|")]
        cols = [c.strip() for c in lines[0].strip("|").split("|")]
        heads += cols[1:-1]
        width = len(cols) - 2
        seen = set()
        for l in lines[2:]:
            cells = [c.strip() for c in l.strip("|").split("|")]
            m = cells[0]
            if m not in rows:
                rows[m] = dict(cols=[""] * (len(heads) - width), known=[])
                order.append(m)
            r = rows[m]
            r["cols"] += [""] * (len(heads) - width - len(r["cols"])) + cells[1:-1]
            if cells[-1] != "none":
                r["known"] += [k.strip() for k in cells[-1].split(",") if k.strip() not in r["known"]]
            seen.add(m)
        for m in order:
            if m not in seen:
                rows[m]["cols"] += [""] * width
    out = ["| module | " + " | ".join(heads) + " | known differences |",
           "|---|" + "---:|---|" * (len(heads) // 2) + "---|"]
    for m in order:
        r = rows[m]
        cols = r["cols"] + [""] * (len(heads) - len(r["cols"]))
        out.append(f"| {m} | " + " | ".join(cols) + f" | {group_known(r['known'])} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("modules", nargs="*", default=DEFAULT)
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--logs", help="keep each run's regrtest output in this directory")
    ap.add_argument("--merge", nargs="+", metavar="TABLE",
                    help="only print one table joining tables written by --markdown (runs on several "
                         "interpreters made in parallel)")
    ap.add_argument("--python", action="append",
                    help="interpreter to run the modules on; repeat for several (default: $PYTHON or python3)")
    ap.add_argument("--pyenv", help="comma-separated CPython versions (3.11,3.13) to take from pyenv")
    ap.add_argument("--timeout", type=int, default=300, help="regrtest's per-test-file timeout (s)")
    ap.add_argument("--module-timeout", type=int, default=1500, help="wall limit for one run of a module (s)")
    args = ap.parse_args()
    if args.merge:
        print(merge_tables(args.merge))
        return 0
    pythons = list(args.python or [])
    for want in (args.pyenv.split(",") if args.pyenv else []):
        py = pyenv_python(want.strip())
        if py:
            pythons.append(py)
        else:
            sys.stderr.write(f"cpython-compat: CPython {want} is not installed under pyenv; skipped\n")
    if not pythons:
        pythons = [os.environ.get("PYTHON", "python3")]
    known = known_differences()
    versions = {py: version_of(py) for py in pythons}
    cells, unexplained, used = {}, [], set()
    for py in pythons:
        ver = versions[py]
        vt = tuple(int(x) for x in ver.split("."))[:2]
        for m in args.modules:
            if not has_module(py, m):
                cells[(m, py)] = "absent"
                continue
            prefix = "test." + m.split(".")[0]
            mine = [c for c, e in known.items() if applies(e, vt) and (c + ".").startswith(prefix + ".")]
            skip = [c for c in mine if known[c][1] == "skip"]
            hang = [c for c in mine if known[c][1] == "hang"]
            used.update(skip)
            nat = run(m, False, py, args.timeout, args.module_timeout, skip)
            shim = run(m, True, py, args.timeout, args.module_timeout, skip + hang)
            sys.stderr.write(f"cpython-compat: {ver} {m}: native {nat['wall']:.1f}s, shim {shim['wall']:.1f}s\n")
            if args.logs:
                os.makedirs(args.logs, exist_ok=True)
                for kind, r in (("native", nat), ("shim", shim)):
                    with open(os.path.join(args.logs, f"{ver}-{m}-{kind}.txt"), "w") as f:
                        f.write(r["out"])
            if not nat["results"]:
                print(nat["out"][-3000:])
                cells[(m, py)] = "no native results" + (" (timeout)" if nat["timed_out"] else "")
                unexplained.append(f"{ver} {m}: no results from the native run")
                continue
            if not shim["results"]:
                print(shim["out"][-3000:])
            nat_pass = {c for c, o in nat["results"].items() if o == "ok"}
            shim_pass = {c for c, o in shim["results"].items() if o == "ok"}
            regress = sorted(nat_pass - shim_pass)
            explained = [c for c in regress if c in known and applies(known[c], vt)]
            used.update(explained)
            for c in regress:
                if c not in explained:
                    unexplained.append(f"{ver} {c}: native ok, shim {shim['results'].get(c, 'missing')}")
            if shim["timed_out"]:
                unexplained.append(f"{ver} {m}: the shim run passed the {args.module_timeout}s module timeout")
            note = []
            if shim["timed_out"]:
                note.append("shim: timeout")
            if nat["timed_out"]:
                note.append("native: timeout")
            if shim["lost"]:
                note.append("shim killed: " + ", ".join(shim["lost"]))
            cells[(m, py)] = dict(n=len(nat["results"]), np=len(nat_pass), both=len(shim_pass & nat_pass),
                                  explained=explained, nw=nat["wall"], sw=shim["wall"], note=note)
    head = "| module |" + "".join(f" {versions[py]}: pass native → under shim | {versions[py]}: wall native / shim (s) |" for py in pythons) + " known differences |"
    lines = [head, "|---|" + "---:|---|" * len(pythons) + "---|"]
    for m in args.modules:
        row = f"| {m} |"
        kd = []
        for py in pythons:
            c = cells.get((m, py))
            if isinstance(c, dict):
                mark = "" if c["both"] + len(c["explained"]) == c["np"] else " ⚠"
                row += f" {c['np']} → {c['both']}{mark} (of {c['n']}) | {c['nw']:.1f} / {c['sw']:.1f}{'; ' + '; '.join(c['note']) if c['note'] else ''} |"
                kd += [f"{x.rsplit('.', 1)[-1]} ({versions[py][:4]})" for x in c["explained"]]
            else:
                row += f" {c} | |"
        row += f" {group_known(kd)} |"
        lines.append(row)
    table = "\n".join(lines)
    print(table)
    for c in sorted(used):
        print(f"known difference: {c}: {known[c][0]}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    if unexplained:
        print("\nUNEXPLAINED REGRESSIONS (pass natively, not under the shim):")
        for u in unexplained:
            print("  " + u)
        return 1
    print("\nno unexplained regressions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
