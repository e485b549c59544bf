#!/usr/bin/env python3
"""Run CPython's own test modules natively and under greenshim; compare case by case.

    scripts/cpython-compat.py [--markdown FILE] [test_module ...]

Each module runs twice with `python3 -m test --junit-xml` (once natively, once with
LD_PRELOAD=libgreenshim.so), and every test case's outcome is compared. A case that
passes natively but not under the shim is a regression, unless it is listed in
scripts/cpython-known-differences.txt with the reason (explained in docs/CAVEATS.md).
Exit status: 0 when there are no unexplained regressions, 1 otherwise.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = ["test_threading", "test_thread", "test_queue", "test_threading_local", "test_socketserver",
           "test_subprocess", "test_os", "test_selectors", "test_fcntl", "test_fileio", "test_file",
           "test_poll", "test_select", "test_epoll", "test_asyncio.test_base_events",
           "test_asyncio.test_selector_events", "test_ftplib", "test_faulthandler",
           "test_multiprocessing_main_handling"]


def lib_path():
    p = os.environ.get("GREENSHIM_LIB") or os.path.join(ROOT, "target", "release", "libgreenshim.so")
    if not os.path.exists(p):
        sys.exit(f"cpython-compat: {p} not found; run `make` first")
    return p


def known_differences():
    known = {}
    path = os.path.join(ROOT, "scripts", "cpython-known-differences.txt")
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                case, _, why = line.partition(" ")
                known[case] = why.strip()
    return known


def run(module, shim, python):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if shim:
        env["LD_PRELOAD"] = lib_path()
    with tempfile.TemporaryDirectory() as d:
        xml = os.path.join(d, "out.xml")
        t0 = time.monotonic()
        proc = subprocess.run([python, "-m", "test", "-u", "network", "--timeout", "600", "--junit-xml", xml, module],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
        wall = time.monotonic() - t0
        results = {}
        if os.path.exists(xml):
            for case in ET.parse(xml).iter("testcase"):
                cls, name = case.get("classname") or "", case.get("name") or ""
                name = f"{cls}.{name}" if cls else name
                outcome = "ok"
                for child in case:
                    if child.tag in ("failure", "error"):
                        outcome = child.tag
                    elif child.tag == "skipped":
                        outcome = "skipped"
                results[name] = outcome
        return results, wall, proc.returncode, proc.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("modules", nargs="*", default=DEFAULT)
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--python", default=os.environ.get("PYTHON", "python3"))
    args = ap.parse_args()
    known = known_differences()
    rows, unexplained = [], []
    for m in args.modules:
        nat, nat_wall, _, nat_out = run(m, False, args.python)
        shim, shim_wall, _, shim_out = run(m, True, args.python)
        if not nat:
            print(nat_out[-3000:])
            sys.exit(f"cpython-compat: no results from the native run of {m}")
        if not shim:
            print(shim_out[-3000:])
            unexplained.append(f"{m}: the shim run produced no results")
            continue
        nat_pass = {c for c, o in nat.items() if o == "ok"}
        shim_pass = {c for c, o in shim.items() if o == "ok"}
        regress = sorted(nat_pass - shim_pass)
        explained = [c for c in regress if c in known]
        for c in regress:
            if c not in known:
                unexplained.append(f"{c}: native ok, shim {shim.get(c, 'missing')}")
        rows.append((m, len(nat), len(nat_pass), len(shim_pass & nat_pass), len(shim_pass - nat_pass), explained, nat_wall, shim_wall))
    lines = ["| module | cases | pass native | of those, pass under shim | known differences | wall native / shim (s) |",
             "|---|---:|---:|---:|---|---|"]
    for m, n, np_, both, extra, explained, nw, sw in rows:
        kd = ", ".join(c.rsplit(".", 1)[-1] for c in explained) or "none"
        lines.append(f"| {m} | {n} | {np_} | {both} | {kd} | {nw:.1f} / {sw:.1f} |")
    table = "\n".join(lines)
    print(table)
    for c in sorted({c for r in rows for c in r[5]}):
        print(f"known difference: {c}: {known[c]}")
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
