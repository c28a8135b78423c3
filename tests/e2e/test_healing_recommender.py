"""The VPA-style recommender against a real memory cgroup and a real OOM kill (issue 6,
healing.recommender).

A Python process holds HOLD_MIB MiB (touched) in a v1 memory cgroup `hs-rec-<pid>.service`
(so the unit names its service and the cgroup's usage is the service's) with a LIMIT_MIB
limit and swappiness 0, created beneath this test's own memory cgroup and removed
afterwards. The daemon runs with 1 s windows, min_samples 5, a 30 s half-life.
 1. /api/v1/tuned's `recommendations` shows the service with a memory recommendation of
    the cgroup's real usage (memory.usage_in_bytes, read here) × 1.15, within the
    histogram's 5 % bucket; /metrics has homeostat_recommended_memory_bytes{service} with
    the same value; `homeostat tuned SERVICE` prints it.
 2. The process is told to allocate beyond the limit and the kernel OOM-kills it
    (memory.oom_control's oom_kill = 1): the recommendation rises to the OOM floor,
    max(limit × 1.2, limit + 100 MiB), `memory_from: oom_floor`.
 3. The daemon is restarted on the same state directory: the floor is still recommended.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402
import health_case  # noqa: E402

PID = os.getpid()
MIB = 1 << 20
HOLD_MIB = 100
LIMIT_MIB = 160
MEM_ROOT = Path("/sys/fs/cgroup/memory")
UNIT = f"hs-rec-{PID}.service"

# Holds argv[1] MiB; once the file argv[2] exists, allocates 16 MiB a tenth of a second
# until the kernel kills it. Bounded: exits after 120 s whatever happens.
HOLD = """
import os, sys, time
def touched(n):
    b = bytearray(n)
    for i in range(0, n, 4096):
        b[i] = 1
    return b
held = [touched(int(sys.argv[1]) << 20)]
print("holding", flush=True)
t0 = time.monotonic()
while time.monotonic() - t0 < 120:
    if os.path.exists(sys.argv[2]):
        held.append(touched(16 << 20))
    time.sleep(0.1)
"""


class HealingRecommender(health_case.HealthTestCase):
    ENDS_WITH_TRAFFIC = False  # a plain process: no HTTP at the end
    AUTO_DAEMON = False

    @classmethod
    def start_servers(cls):
        if not (MEM_ROOT / "memory.limit_in_bytes").exists():
            raise AssertionError(f"no v1 memory hierarchy at {MEM_ROOT}: this test needs it")
        cls.cg = MEM_ROOT / h.own_v1_cgroup("memory").lstrip("/") / UNIT
        cls.cg.mkdir()
        cls.addClassCleanup(h.remove_cgroup, cls.cg)
        cls.addClassCleanup(cls.procs.stop_all)  # before the cgroup goes (cleanups run LIFO)
        (cls.cg / "memory.limit_in_bytes").write_text(str(LIMIT_MIB * MIB))
        (cls.cg / "memory.swappiness").write_text("0")  # the limit means an OOM kill, not swap
        cls.config = cls.workdir / "homeostat.yaml"
        cls.config.write_text("""\
aggregation:
  window: 1s
healing:
  rules: []
  recommender:
    min_samples: 5
    half_life: 30s
""")
        cls.daemon.start(extra_args=["--config", str(cls.config)])
        super().start_servers()  # one HTTP exchange, for the daemon-health check's families
        cls.trigger = cls.workdir / "allocate-more"
        name = f"hsrec{PID}"
        script = cls.script(name, HOLD)
        cls.holder = cls.procs.start(name, ["sh", "-c", f"echo $$ > {cls.cg}/cgroup.procs && exec {script} "
                                                        f"{HOLD_MIB} {cls.trigger}"])

    def recommendation(self, daemon: h.Daemon | None = None) -> dict | None:
        status, _, body = (daemon or self.daemon).get(f"/api/v1/tuned?service={UNIT}")
        self.assertEqual(status, 200, body[:300])
        recs = json.loads(body)["recommendations"]
        return recs[0] if recs else None

    def test_1_memory_recommendation_from_real_usage(self):
        self.wait_line(self.holder, "holding", timeout=20)
        rec = h.poll(lambda: (r := self.recommendation()) and r["samples"] >= 8 and r, timeout=30, interval=0.5)
        self.assertIsNotNone(rec, f"no recommendation for {UNIT} within 30 s; services: "
                                  f"{json.dumps(self.services().get(UNIT))[:1500]}\n"
                                  f"{self.daemon.managed.log_tail(20)}")
        usage = int((self.cg / "memory.usage_in_bytes").read_text())
        self.assertGreater(usage, HOLD_MIB * MIB)
        self.assertEqual(rec["memory_from"], "histogram")
        self.assertEqual(rec["current"]["memory_source"], "cgroup")
        got = rec["memory_bytes"]
        print(f"recommender: usage {usage / MIB:.1f} MiB (memory.usage_in_bytes) → recommended "
              f"{got / MIB:.1f} MiB ({got / usage:.3f} × usage) after {rec['samples']} samples; "
              f"cpu {rec['cpu_cores']:.2f} cores", file=sys.stderr)
        # p90 + 15 %: the upper bound of the usage's bucket (each 5 % wide) × 1.15; 2 % for
        # the usage moving between the daemon's reading and this one.
        self.assertGreaterEqual(got, usage * 1.15 * 0.98)
        self.assertLessEqual(got, usage * 1.15 * 1.05 * 1.02)
        gauge = self.daemon.scrape().select("homeostat_recommended_memory_bytes", service=UNIT)
        self.assertEqual(len(gauge), 1, "no homeostat_recommended_memory_bytes for the service")
        self.assertAlmostEqual(gauge[0].value, self.recommendation()["memory_bytes"], delta=0.05 * got)
        out = h.run([h.HOMEOSTAT_CLI, "--addr", f"127.0.0.1:{self.daemon.port}", "tuned", UNIT], timeout=10).stdout
        self.assertIn("resource recommendations", out)
        self.assertIn(UNIT, out)

    def test_2_oom_kill_raises_it_to_the_floor(self):
        self.trigger.write_text("go")
        deadline = time.monotonic() + 20
        while self.holder.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertFalse(self.holder.alive(), "the holder was not OOM-killed within 20 s")
        self.assertEqual(self.holder.proc.returncode, -signal.SIGKILL, self.holder.log_tail())
        oom = [line for line in (self.cg / "memory.oom_control").read_text().splitlines()
               if line.startswith("oom_kill ")]
        self.assertEqual(oom, ["oom_kill 1"])
        floor = max(LIMIT_MIB * MIB * 1.2, LIMIT_MIB * MIB + 100 * MIB)
        rec = h.poll(lambda: (r := self.recommendation()) and r["memory_from"] == "oom_floor" and r,
                     timeout=15, interval=0.3)
        self.assertIsNotNone(rec, f"the recommendation did not rise after the OOM kill: {self.recommendation()}\n"
                                  f"{self.daemon.managed.log_tail(20)}")
        print(f"recommender: OOM kill at the {LIMIT_MIB} MiB limit → recommended "
              f"{rec['memory_bytes'] / MIB:.1f} MiB (floor {floor / MIB:.0f} MiB)", file=sys.stderr)
        self.assertGreaterEqual(rec["memory_bytes"], floor)
        self.assertEqual(rec["current"]["oom_kills"], 1)
        type(self).after_oom = rec["memory_bytes"]

    def test_3_floor_survives_a_restart(self):
        self.assertTrue(hasattr(type(self), "after_oom"), "test_2 did not record the floor")
        self.assertEqual(self.daemon.stop(), 0, self.daemon.managed.log_tail(20))
        type(self).daemon = h.Daemon(self.procs, self.workdir)
        self.daemon.start(extra_args=["--config", str(self.config)])  # the same state directory
        h.curl([f"http://127.0.0.1:{self.http_port}/"])
        rec = self.recommendation()
        self.assertIsNotNone(rec, "the restarted daemon lost the recommendation")
        self.assertEqual(rec["memory_from"], "oom_floor")
        self.assertEqual(rec["memory_bytes"], self.after_oom)


if __name__ == "__main__":
    h.main()
