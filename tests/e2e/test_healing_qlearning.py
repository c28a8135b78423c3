"""The Q-learning CPU allocator against real cgroups (issue 6, healing.cpu_sharing).

A latency-sensitive HTTP service (hsqvic<pid>:<port>, high priority; the harness's victim,
3 ms of CPU per request, 50 requests/s from this test) and a CPU hog (hsqhog<pid>, low
priority, two busy processes) each run in a v1 cpu cgroup of its own, beneath one parent
created beneath this test's own cpu cgroup, pinned to CPU 0, both with cpu.shares 1024.
The daemon (1 s windows) runs `cpu_sharing.strategy: qlearning`, acting (not dry-run), with
the parent allow-listed, the victim's latency target 1 ms (below its 3 ms of work: the
shared reward stays negative, so "keep" loses its appeal after the first step) and no
exploration (epsilon 0: reproducible).
Asserted: within a bounded time the hog's real cpu.shares falls below 1024; the audit
(/api/v1/actions) has "applied" entries of rule "qlearning" for the hog whose reason
gives the state and the shared reward; sampled every 0.2 s throughout, the victim's
cpu.shares is never below the hog's (priorities order the weights).
Everything is removed afterwards (processes killed, cgroups removed).
"""

import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

PID = os.getpid()
VICTIM = f"hsqvic{PID}"
HOG = f"hsqhog{PID}"
CPU_ROOT = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100000
WORK_MS = 3.0
RATE = 50.0


class HealingQlearning(h.DaemonTestCase):
    AUTO_DAEMON = False
    REQUIRED_BINARIES = ()

    @classmethod
    def start_servers(cls):
        if not (CPU_ROOT / "cpu.shares").exists():
            raise AssertionError(f"no v1 cpu controller at {CPU_ROOT}: this test needs it")
        if 0 not in os.sched_getaffinity(0):
            raise AssertionError("this test needs CPU 0")
        cls.cgroups = []
        cls.parent = CPU_ROOT / h.own_v1_cgroup("cpu").lstrip("/") / f"hs-ql-{PID}"
        cls.parent.mkdir()
        cls.cgroups.append(cls.parent)
        (cls.parent / "cpu.shares").write_text("262144")  # the scenario against the rest of the host
        cls.addClassCleanup(h.remove_cgroups, cls.cgroups)
        cls.addClassCleanup(cls.procs.stop_all)  # before the cgroups go (cleanups run LIFO)
        cls.victim_cg = h.cpu_cgroup(cls.parent, "victim", PERIOD_US)
        cls.cgroups.append(cls.victim_cg)
        cls.hog_cg = h.cpu_cgroup(cls.parent, "hog", PERIOD_US)
        cls.cgroups.append(cls.hog_cg)
        cls.port = h.free_port()
        cls.victim = h.start_script_in(cls.procs, cls.workdir, cls.victim_cg, VICTIM, h.VICTIM_SRC,
                                       str(cls.port), str(WORK_MS))
        h.wait_for_port(cls.port, proc=cls.victim)
        cls.service = f"{VICTIM}:{cls.port}"
        cls.hog = h.start_script_in(cls.procs, cls.workdir, cls.hog_cg, HOG, h.HOG_SRC)
        cls.load = h.VictimLoad(cls.port, RATE, deadline_s=h.WATCHDOG_SECONDS).start()
        cls.addClassCleanup(cls.load.stop)
        config = cls.workdir / "homeostat.yaml"
        config.write_text(f"""\
aggregation:
  window: 1s
  windows_kept: 6
healing:
  guardrails:
    dry_run: false
    max_actions_per_service_per_hour: 200
  priorities:
    {cls.service}: high
    {HOG}: low
  rules: []           # the allocator alone
  cpu_sharing:
    strategy: qlearning
    epsilon: 0
    latency_target: 1ms
    cooldown: 2s
    services: [{cls.service}, {HOG}]
  cgroups:
    allow: [{cls.parent}]
""")
        cls.daemon.start(extra_args=["--config", str(config)])

    def shares(self, cg: Path) -> int:
        return int((cg / "cpu.shares").read_text())

    def actions(self) -> list:
        status, _, body = self.daemon.get("/api/v1/actions?limit=1000")
        self.assertEqual(status, 200, body[:500])
        return json.loads(body)["actions"]

    def test_allocator_lowers_the_hog_and_keeps_priority_order(self):
        t0 = time.monotonic()
        order_broken = []

        def sample():
            v, g = self.shares(self.victim_cg), self.shares(self.hog_cg)
            if v < g:
                order_broken.append((round(time.monotonic() - t0, 1), v, g))
            return g < 1024 and [a for a in self.actions()
                                 if a["rule"] == "qlearning" and a["service"] == HOG and a["verdict"] == "applied"]

        applied = h.poll(sample, timeout=45, interval=0.2)
        t_lowered = time.monotonic() - t0
        if not applied:
            self.fail(f"the hog's cpu.shares is still {self.shares(self.hog_cg)} after 45 s; qlearning entries: "
                      f"{json.dumps([a for a in self.actions() if a['rule'] == 'qlearning'])[:3000]}\n"
                      f"healing: {self.daemon.get('/api/v1/actions?limit=1')[2][:1500]}\n"
                      f"daemon log tail:\n{self.daemon.managed.log_tail(30)}")
        # Some more windows of learning: the order must hold all along.
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            sample()
            time.sleep(0.2)
        self.assertEqual(order_broken, [], "the high-priority victim's cpu.shares fell below the hog's "
                                           "(seconds, victim, hog)")
        entries = [a for a in self.actions() if a["rule"] == "qlearning"]
        hog_applied = [a for a in entries if a["service"] == HOG and a["verdict"] == "applied"]
        lowered = [a for a in hog_applied if "lower the cpu weight" in a["reason"]]
        self.assertTrue(lowered, f"no applied lowering of the hog: {json.dumps(entries)[:2000]}")
        first = lowered[-1]  # newest first
        self.assertEqual(first["kind"], "cpu_weight")
        self.assertIn("cpu.shares of " + HOG + ": 1024 → ", first["summary"])
        self.assertEqual(list(first["detail"]["change"]["before"]), [str(self.hog_cg / "cpu.shares")])
        self.assertRegex(first["reason"], r"; state \d+ of 9 \(cpu \d+ % → load level \d/3")
        self.assertRegex(first["reason"], r"shared reward -\d\.\d{3} from " + re.escape(self.service) +
                         r" p99 [\d.]+ ms vs target 1\.0 ms \(high\)")
        _, _, body = self.daemon.get("/api/v1/actions?limit=1")
        status = json.loads(body)["healing"]["strategies"]["cpu_sharing"]
        print(f"qlearning: hog cpu.shares 1024 → {self.shares(self.hog_cg)} (first lowered after "
              f"{t_lowered:.1f} s), victim {self.shares(self.victim_cg)}; {len(entries)} audit entries "
              f"({len(hog_applied)} applied to the hog), {status['steps']} steps, "
              f"{status['held_by_priority']} held back by priority, last reward {status['last_reward']:.3f}; "
              f"first: {first['summary']} — {first['reason']}", file=sys.stderr)
        self.assertGreaterEqual(status["steps"], 5)


if __name__ == "__main__":
    h.main()
