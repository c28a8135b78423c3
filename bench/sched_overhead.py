#!/usr/bin/env python3
"""Context-switch overhead of homeostatd (issue 3 benchmark): `taskset -c 0 perf bench
sched pipe` (two processes ping-ponging through pipes on one CPU: two context switches
per op) with and without
the daemon, in alternating rounds within one run; medians of usecs/op.

The daemon is started before and stopped after each "with" round, so every round sees
the same machine state otherwise; pairs alternate order (with-first, without-first) so a
drift in machine load does not favour one side.

    sudo python3 bench/sched_overhead.py [--daemon build/agent/homeostatd] [--pairs 15]
          [--loops 50000]
Prints one line per round and a summary; exit status 1 if the median slowdown > 3 %.
"""
import argparse
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pipe_usecs(loops: int) -> float:
    # Pinned to one CPU: every op is then two context switches on that CPU. Unpinned, the
    # pair lands on one or two CPUs at random here and usecs/op jumps between ~6 and ~34.
    out = subprocess.run(["taskset", "-c", "0", "perf", "bench", "sched", "pipe", "-l", str(loops)],
                         capture_output=True,
                         text=True, check=True).stdout
    return float(re.search(r"([\d.]+) usecs/op", out).group(1))


class Daemon:
    def __init__(self, binary: str):
        self.binary = binary
        self.proc = None

    def __enter__(self):
        port = free_port()
        self.proc = subprocess.Popen([self.binary, "--listen", f"127.0.0.1:{port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                # Attached and past its first /proc scan; let start-up work settle.
                time.sleep(0.5)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    sys.exit(f"homeostatd exited with {self.proc.returncode} at start")
                time.sleep(0.1)
        sys.exit("homeostatd did not answer /healthz within 30 s")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def main() -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", default=str(here.parent / "build/agent/homeostatd"))
    ap.add_argument("--pairs", type=int, default=15)
    ap.add_argument("--loops", type=int, default=50000)
    a = ap.parse_args()

    pipe_usecs(a.loops)  # warm-up
    without, with_, ratios = [], [], []
    for i in range(a.pairs):
        order = ("without", "with") if i % 2 == 0 else ("with", "without")
        got = {}
        for side in order:
            if side == "with":
                with Daemon(a.daemon):
                    got[side] = pipe_usecs(a.loops)
            else:
                got[side] = pipe_usecs(a.loops)
        without.append(got["without"])
        with_.append(got["with"])
        ratios.append(got["with"] / got["without"])
        print(f"pair {i + 1:2d}: without {got['without']:.3f} us/op, with {got['with']:.3f} us/op, "
              f"ratio {ratios[-1]:.4f}", flush=True)

    q = lambda v: statistics.quantiles(v, n=4)  # noqa: E731
    m0, m1 = statistics.median(without), statistics.median(with_)
    slowdown = m1 / m0 - 1
    print(f"\nperf bench sched pipe -l {a.loops}, {a.pairs} alternating pairs")
    print(f"without daemon: median {m0:.3f} us/op (IQR {q(without)[0]:.3f}-{q(without)[2]:.3f})")
    print(f"with daemon:    median {m1:.3f} us/op (IQR {q(with_)[0]:.3f}-{q(with_)[2]:.3f})")
    print(f"slowdown of medians: {slowdown * 100:+.2f} %; median of per-pair ratios: "
          f"{(statistics.median(ratios) - 1) * 100:+.2f} % (IQR {(q(ratios)[0] - 1) * 100:+.2f} to "
          f"{(q(ratios)[2] - 1) * 100:+.2f} %)")
    return 0 if slowdown <= 0.03 else 1


if __name__ == "__main__":
    sys.exit(main())
