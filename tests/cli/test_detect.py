#!/usr/bin/env python3
"""`homeostat detect` end to end: the built binary on small CSV files in a temp dir.

Checks the output format and that a spike scores high where it is, `--output -`,
every detector name, a bad row named by file and line (exit 1) and an unknown
detector listing the valid names (exit 2). Stdlib only; fails loudly if the binary
is missing.
"""
import math
import os
import random
import subprocess
import sys
import tempfile

CLI = os.environ.get("HOMEOSTAT_CLI")
if not CLI or not os.access(CLI, os.X_OK):
    sys.exit(f"FAIL: HOMEOSTAT_CLI={CLI!r} is not an executable homeostat binary")

DETECTORS = ["ses", "holt", "ewz", "mad", "cusum", "poisson", "rollz", "seasonal", "ensemble"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=30)


with tempfile.TemporaryDirectory(prefix="homeostat-cli-detect-") as tmp:
    # 200 points of noise around 100 (sd 1), a 12-sd spike at index 150, NAB-style header.
    rng = random.Random(7)
    series = os.path.join(tmp, "series.csv")
    with open(series, "w") as f:
        f.write("timestamp,value\n")
        for i in range(200):
            v = 112.0 if i == 150 else 100 + rng.gauss(0, 1)
            f.write(f"{1700000000 + 60 * i},{v:.4f}\n")

    out = os.path.join(tmp, "scores.csv")
    r = run("detect", "--input", series, "--output", out)
    check(r.returncode == 0, f"detect exit {r.returncode}, stderr {r.stderr!r}")
    check(r.stdout == "", f"detect --output FILE printed {r.stdout[:80]!r}")
    with open(out) as f:
        lines = f.read().splitlines()
    check(lines[0] == "timestamp,anomaly_score", f"header {lines[0]!r}")
    check(len(lines) == 201, f"{len(lines)} lines, expected 201")
    rows = [l.split(",") for l in lines[1:]]
    check(all(len(x) == 2 for x in rows), "every row has 2 fields")
    check(rows[0][0] == "1700000000" and rows[150][0] == str(1700000000 + 60 * 150),
          "timestamps are repeated verbatim")
    scores = [float(x[1]) for x in rows]
    check(all(0 <= s <= 1 and math.isfinite(s) for s in scores), "scores in [0,1]")
    check(all(s == 0 for s in scores[:30]), "no score during the ensemble's warm-up (30 points)")
    check(scores[150] >= 0.8, f"the spike scores {scores[150]}, expected >= 0.8")
    check(max(scores[:150] + scores[151:]) < 0.8, "only the spike scores >= 0.8")

    # stdout: --output - and no --output give the same bytes as the file.
    with open(out) as f:
        want = f.read()
    for args in (["--output", "-"], []):
        r = run("detect", "--input", series, *args)
        check(r.returncode == 0 and r.stdout == want, f"detect {args} to stdout differs from the file")

    for name in DETECTORS:
        r = run("detect", "--input", series, "--detector", name)
        check(r.returncode == 0, f"--detector {name}: exit {r.returncode} {r.stderr!r}")
        check(len(r.stdout.splitlines()) == 201, f"--detector {name}: {len(r.stdout.splitlines())} lines")

    # A bad value on line 4 (header = line 1), with a blank line counted on the way.
    bad = os.path.join(tmp, "bad.csv")
    with open(bad, "w") as f:
        f.write("timestamp,value\n1700000000,1\n\n1700000120,abc\n1700000180,2\n")
    r = run("detect", "--input", bad, "--output", os.path.join(tmp, "never.csv"))
    check(r.returncode == 1, f"bad row: exit {r.returncode}, expected 1")
    check(f"{bad}:4:" in r.stderr and "abc" in r.stderr, f"bad row: stderr {r.stderr!r} names no file:4")
    check(not os.path.exists(os.path.join(tmp, "never.csv")), "bad row: an output file was written")

    # A bad timestamp on line 3.
    with open(bad, "w") as f:
        f.write("1700000000,1\n1700000060,2\nyesterday,3\n")
    r = run("detect", "--input", bad)
    check(r.returncode == 1 and f"{bad}:3:" in r.stderr, f"bad timestamp: exit {r.returncode}, {r.stderr!r}")

    r = run("detect", "--input", series, "--detector", "magic")
    check(r.returncode == 2, f"unknown detector: exit {r.returncode}, expected 2")
    check("magic" in r.stderr and all(n in r.stderr for n in DETECTORS),
          f"unknown detector: stderr {r.stderr!r} does not list the valid names")

    r = run("detect", "--input", os.path.join(tmp, "missing.csv"))
    check(r.returncode == 1 and "missing.csv" in r.stderr, f"missing input: exit {r.returncode}, {r.stderr!r}")

    r = run("--help")
    check("detect --input" in r.stdout, "usage mentions detect")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("ok")
