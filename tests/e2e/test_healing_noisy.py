"""Healing against a real noisy neighbour (issue 6): detect, act on the real cgroup, verify.

The victim is a latency-sensitive HTTP service (a script named hsvic<pid>, so its service
is `hsvic<pid>:<port>`) whose handler burns 15 ms of CPU time per request, under a paced
keep-alive load from this test (paced at 50 requests/s; about 17/s get through, since each
response's body waits for the client's delayed ACK: docs/healing.md). The hogs are scripts
(hshog<pid>, hsdry<pid>, hsrb<pid>: services of those names) running two busy processes
each. Each runs in a v1 cpu cgroup of its own beneath one parent created beneath this
test's own cpu cgroup, all pinned to CPU 0 so that they really contend. A hog has a CPU
quota of 0.6 core (12 ms per 20 ms period) and a large weight (cpu.shares 10240, a batch
job given a big share): while it runs its 12 ms, the victim gets 1/11 of CPU 0, so a
request takes about 40 ms instead of 15.5 (p99 2.5x its baseline), and the hog uses 100 %
of its quota.

Why 15 ms of work: with the kernel's 250 Hz tick a throttled hog still runs until the
next tick, so a quota of 1 ms per 20 ms comes as bursts of up to 4 ms (one tick) about
every 80 ms. A request that meets one waits those 4 ms. With 3 ms of work that doubled
the p99 of about one request in ten, in some runs and not others (the phase of the
victim's requests against the tick), so a good action sometimes stayed slow and was rolled
back. With 15 ms it is +25 % (p99 19.7 ms against 15.5-17 alone), well inside 1.5x.

The daemon (1 s windows, 8-window warm-up, fresh state) knows the victim as high priority
and the hogs as low. The victim's p99 is read from the daemon's history (server side, per
1 s window; the medians of windows are compared), and printed as this test's client saw it.
 1. Rule noisy-neighbour: cpu_saturation on a low-priority hog (hshog) while the
    high-priority victim has a latency_spike → lower the hog's quota by 95 % (min 0.05
    core = 1 ms per 20 ms period). Asserted: both anomalies open, the real
    cpu.cfs_quota_us goes 12000 → 1000, /api/v1/actions says "applied" by that rule, the
    victim's p99 comes back within 1.5x its baseline (3 windows in a row, median), and
    the action is then verified as improved (on GET /work, the median of the windows in
    the second half of its 10 s verification window). Time to detect and to recover are printed.
 2. Rule cannot-help on hsrb: lower its quota by 50 %, verified by cpu_utilisation, which
    cannot improve (a hog uses 100 % of whatever quota it gets) → after 4 s the change is
    undone: the real file is back at 12000; the action is "rolled_back" and a rollback
    entry ("undid: ...") exists.
 3. The daemon is restarted with guardrails.dry_run: true; the same scenario with hsdry:
    the file is unchanged, the audit log and the daemon log say exactly what would be
    written (the file, the new value).
Everything is removed afterwards (processes killed, cgroups removed).
"""

import json
import os
import re
import sys
import time
import urllib.parse
from pathlib import Path

# Warm-up, three scenarios: more than the default 170 s watchdog on a busy machine.
os.environ.setdefault("HOMEOSTAT_E2E_WATCHDOG", "220")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

PID = os.getpid()
VICTIM = f"hsvic{PID}"
HOG, DRY, RB = f"hshog{PID}", f"hsdry{PID}", f"hsrb{PID}"
CPU_ROOT = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 20000
HOG_QUOTA_US = 12000     # 0.6 core
LOWERED_QUOTA_US = 1000  # 0.05 core: the rule's min
WORK_MS = 15.0
RATE = 50.0              # victim requests/s


class HealingNoisyNeighbour(h.DaemonTestCase):
    AUTO_DAEMON = False
    REQUIRED_BINARIES = ()

    @classmethod
    def cgroup(cls, name: str, quota_us: int = -1, shares: int = 1024) -> Path:
        cg = h.cpu_cgroup(cls.parent, name, PERIOD_US, quota_us, shares)
        cls.cgroups.append(cg)
        return cg

    @classmethod
    def start_in(cls, cg: Path, name: str, src: str, *args: str) -> h.Managed:
        return h.start_script_in(cls.procs, cls.workdir, cg, name, src, *args)

    @classmethod
    def start_servers(cls):
        if not (CPU_ROOT / "cpu.cfs_quota_us").exists():
            raise AssertionError(f"no v1 cpu controller at {CPU_ROOT}: this test needs it")
        if len(os.sched_getaffinity(0)) < 2 or 0 not in os.sched_getaffinity(0):
            raise AssertionError("this test needs CPU 0 and at least one other CPU")
        cls.cgroups = []
        cls.parent = CPU_ROOT / h.own_v1_cgroup("cpu").lstrip("/") / f"hs-noisy-{PID}"
        cls.parent.mkdir()
        cls.cgroups.append(cls.parent)
        # Against the rest of the machine the scenario gets what it asks for (bounded by the
        # hogs' quotas), so that a busy CI host does not decide the outcome.
        (cls.parent / "cpu.shares").write_text("262144")
        cls.addClassCleanup(h.remove_cgroups, cls.cgroups)
        cls.addClassCleanup(cls.procs.stop_all)  # before the cgroups go (cleanups run LIFO)
        cls.victim_cg = cls.cgroup("victim")
        cls.port = h.free_port()
        cls.victim = cls.start_in(cls.victim_cg, VICTIM, h.VICTIM_SRC, str(cls.port), str(WORK_MS))
        h.wait_for_port(cls.port, proc=cls.victim)
        cls.service = f"{VICTIM}:{cls.port}"
        cls.load = h.VictimLoad(cls.port, RATE, deadline_s=h.WATCHDOG_SECONDS).start()
        cls.addClassCleanup(cls.load.stop)
        cls.start_daemon(dry_run=False)

    @classmethod
    def start_daemon(cls, dry_run: bool):
        """A daemon (fresh state: its own baselines) acting, or only planning; the victim's
        load runs; returns after the warm-up, with the victim's baseline p99 measured."""
        tag = "dry-run" if dry_run else "acting"
        config = cls.workdir / f"homeostat-{tag}.yaml"
        config.write_text(f"""\
aggregation:
  window: 1s
  windows_kept: 6
detection:
  warmup: 8
  min_requests: 5   # a starved victim still gets a latency point
  # The victim's p95 goes from ~16 ms to ~40 ms with the hog.
  latency_min_delta: 2ms
healing:
  guardrails:
    dry_run: {str(dry_run).lower()}
    cooldown_seconds: 5m
  priorities:
    {cls.service}: high
    {HOG}: low
    {DRY}: low
    {RB}: low
  rules:
    - name: noisy-neighbour
      match:
        anomaly: cpu_saturation
        services: [{HOG}, {DRY}]
        priority: low
        while: {{anomaly: latency_spike, priority: high}}
      action: {{kind: cpu_quota, op: lower_pct, amount: 95, min: 0.05}}
      verify: {{signal: latency_p99, service: peer, min_improvement: 0.1, window_seconds: 10}}
    - name: cannot-help
      match: {{anomaly: cpu_saturation, services: [{RB}]}}
      action: {{kind: cpu_quota, op: lower_pct, amount: 50, min: 0.05}}
      verify: {{signal: cpu_utilisation, min_improvement: 0.1, window_seconds: 4}}
  cgroups:
    allow: [{cls.parent}]
""")
        cls.daemon.start(extra_args=["--config", str(config), "--state-dir",
                                     str(cls.workdir / f"state-{tag}")])
        time.sleep(12)  # the warm-up (8 windows) and then some
        t, u = time.monotonic(), time.time()
        time.sleep(6)
        cls.baseline_p99 = h.median(w["p99"] for w in cls.windows(u, time.time()))
        cls.client_baseline_p99 = h.p99(cls.load.latencies(t))
        print(f"{tag} daemon: victim baseline p99 {cls.baseline_p99 * 1000:.1f} ms (daemon, server "
              f"side, median of 1 s windows), {cls.client_baseline_p99 * 1000:.1f} ms (this test's "
              f"client, {len(cls.load.latencies(t))} requests)", file=sys.stderr)

    @classmethod
    def windows(cls, since: float, until: float) -> list:
        """The daemon's history of the victim's GET /work (server side), one row per window
        wholly inside [since, until] (unix seconds), oldest first."""
        q = urllib.parse.urlencode({"service": cls.service, "from": since - 1, "to": until})
        status, _, body = cls.daemon.get(f"/api/v1/history?{q}")
        if status != 200:
            raise AssertionError(f"/api/v1/history: HTTP {status}: {body[:300]}")
        rows = [r for r in json.loads(body)["rollups"]
                if r["role"] == "server" and r["endpoint"] == "GET /work" and r["requests"] > 0
                and r["window_start"] >= since and r["window_start"] + r["window_seconds"] <= until]
        if not rows:
            raise AssertionError(f"no history of {cls.service} GET /work in [{since}, {until}]: "
                                 f"{body[:1000]}")
        return sorted(rows, key=lambda r: r["window_start"])

    # -- helpers ---------------------------------------------------------------------
    def actions(self) -> tuple[dict, list]:
        status, _, body = self.daemon.get("/api/v1/actions")
        self.assertEqual(status, 200, body[:500])
        j = json.loads(body)
        return j["healing"], j["actions"]

    def anomalies(self) -> list:
        status, _, body = self.daemon.get("/api/v1/anomalies")
        self.assertEqual(status, 200, body[:500])
        return json.loads(body)["anomalies"]

    def wait_for(self, what: str, fetch, timeout: float):
        """Poll fetch() until it returns something truthy; bounded."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = fetch()
            if last:
                return last
            time.sleep(0.25)
        ours = [a for a in self.anomalies() if a["service"].startswith(("hs", self.service))]
        status, _, body = self.daemon.get("/api/v1/services")
        svcs = [s for s in json.loads(body)["services"] if s["service"].startswith("hs")]
        self.fail(f"{what} within {timeout:.0f} s; our anomalies: {json.dumps(ours)[:3000]}\n"
                  f"our services: {json.dumps(svcs)[:3000]}\n"
                  f"actions: {json.dumps(self.actions())[:3000]}\n"
                  f"daemon log tail:\n{self.daemon.managed.log_tail(30)}")

    def open_anomaly(self, type_: str, service: str):
        return lambda: [a for a in self.anomalies()
                        if a["state"] == "open" and a["type"] == type_ and a["service"] == service]

    def action_of(self, rule: str, *verdicts: str):
        return lambda: [a for a in self.actions()[1] if a["rule"] == rule and a["verdict"] in verdicts]

    def quota(self, cg: Path) -> int:
        return int((cg / "cpu.cfs_quota_us").read_text())

    # -- scenarios -------------------------------------------------------------------
    def test_1_noisy_neighbour_quota_lowered(self):
        cg = self.cgroup("hog", HOG_QUOTA_US, shares=10240)
        t_start, u_start = time.monotonic(), time.time()
        hog = self.start_in(cg, HOG, h.HOG_SRC)
        self.addCleanup(hog.stop)
        spike = self.wait_for(f"a latency_spike on {self.service}",
                              self.open_anomaly("latency_spike", self.service), 30)
        t_spike = time.monotonic()
        self.wait_for(f"a cpu_saturation on {HOG}", self.open_anomaly("cpu_saturation", HOG), 20)
        applied = self.wait_for("the noisy-neighbour rule applied",
                                self.action_of("noisy-neighbour", "applied", "verified"), 20)
        t_applied, u_applied = time.monotonic(), time.time()
        cpu0 = h.CpuZeroSnapshot([self.victim.pid, hog.pid])
        client_contended = h.p99(self.load.latencies(t_start, t_applied))
        self.assertEqual(self.quota(cg), LOWERED_QUOTA_US, "the hog's quota was not lowered")
        a = applied[0]
        self.assertEqual(a["service"], HOG)
        self.assertEqual(a["kind"], "cpu_quota")
        self.assertIn("cfs_quota_us", a["summary"])
        # Recovery: three windows in a row whose median p99 is within 1.5x the baseline.
        recovered = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and recovered is None:
            time.sleep(1)
            ws = self.windows(u_applied, time.time()) if time.time() > u_applied + 2 else []
            for i in range(len(ws) - 2):
                if h.median(w["p99"] for w in ws[i:i + 3]) <= 1.5 * self.baseline_p99:
                    recovered = ws[i]
                    break
        after = self.windows(u_applied, time.time())
        self.assertIsNotNone(recovered, f"victim p99 did not come back within 1.5x of "
                                        f"{self.baseline_p99 * 1000:.1f} ms; windows since the action "
                                        f"(ms): {[round(w['p99'] * 1000, 1) for w in after]}; "
                                        f"{cpu0.report()}; hog's cpu.stat: "
                                        f"{(cg / 'cpu.stat').read_text().split()}")
        contended = self.windows(spike[0]["started_at"], u_applied)
        t_recovered = recovered["window_start"] + recovered["window_seconds"]
        t_client = time.monotonic()
        client_recovered = h.p99(self.load.latencies(t_client - 3, t_client))
        print(f"noisy neighbour: victim p99 (daemon, median of 1 s windows): baseline "
              f"{self.baseline_p99 * 1000:.1f} ms, with the hog "
              f"{h.median(w['p99'] for w in contended) * 1000:.1f} ms, after the action "
              f"{h.median(w['p99'] for w in after[-3:]) * 1000:.1f} ms (this test's client: "
              f"{self.client_baseline_p99 * 1000:.1f} / {client_contended * 1000:.1f} / "
              f"{client_recovered * 1000:.1f} ms); time to detect (hog start → latency_spike open) "
              f"{t_spike - t_start:.1f} s, hog start → quota lowered {t_applied - t_start:.1f} s, "
              f"time to recover (action → end of the first of 3 windows within 1.5x) "
              f"{t_recovered - u_applied:.1f} s; the spike opened at p95 "
              f"{spike[0]['at_open']['observed'] * 1000:.1f} ms vs "
              f"{spike[0]['at_open']['expected'] * 1000:.1f} ms expected", file=sys.stderr)
        self.assertGreater(h.median(w["p99"] for w in contended), 1.5 * self.baseline_p99,
                           "the hog did not hurt the victim")
        verified = self.wait_for("the action verified as improved",
                                 self.action_of("noisy-neighbour", "verified"), 20)
        self.assertEqual(len(verified), 1)
        # Judged on the endpoint with the spike, over the second half of the 10 s window.
        judged = verified[0]["detail"]["decision"]
        print(f"verification: {judged['evidence']}", file=sys.stderr)
        self.assertEqual(judged["verify"]["endpoint"], "GET /work", judged)
        self.assertGreaterEqual(len(judged["verify"]["samples"]), 3, judged)
        self.assertIn(f"latency_p99 of {self.service} GET /work", judged["evidence"])
        self.assertEqual(self.quota(cg), LOWERED_QUOTA_US, "the quota changed after verification")
        _, actions = self.actions()
        self.assertEqual([x["verdict"] for x in actions if x["rule"] == "noisy-neighbour"
                          and x["verdict"] not in ("verified", "refused")], [])

    def test_2_rollback_when_it_does_not_help(self):
        cg = self.cgroup("rb", HOG_QUOTA_US, shares=10240)
        hog = self.start_in(cg, RB, h.HOG_SRC)
        self.addCleanup(hog.stop)
        self.wait_for("the cannot-help rule applied",
                      self.action_of("cannot-help", "applied", "rolled_back"), 30)
        lowered = self.quota(cg)
        back = self.wait_for("the rollback", self.action_of("cannot-help", "rolled_back"), 25)
        self.assertEqual(self.quota(cg), HOG_QUOTA_US, "the rollback did not restore the quota")
        _, actions = self.actions()
        original = [a for a in actions if a["rule"] == "cannot-help" and a["verdict"] == "rolled_back"]
        rollbacks = [a for a in original if "undid" in a["summary"]]
        print(f"rollback: quota {HOG_QUOTA_US} → {lowered} → {self.quota(cg)}; entries: "
              + "; ".join(f"{a['verdict']}: {a['summary']}" for a in original), file=sys.stderr)
        self.assertEqual(len(original), 2, "expected the original action marked rolled_back and "
                                           f"one rollback entry: {original}")
        self.assertEqual(len(rollbacks), 1)
        self.assertTrue(re.search(r"cfs_quota_us", rollbacks[0]["summary"]), rollbacks[0])

    def test_3_dry_run_changes_nothing(self):
        # A second daemon, with guardrails.dry_run: true and fresh baselines (the first one
        # learnt from the contended windows above). The first must exit cleanly.
        first = self.daemon
        self.assertEqual(first.stop(), 0, f"the acting daemon did not exit cleanly:\n"
                                          f"{first.managed.log_tail(20)}")
        type(self).daemon = h.Daemon(self.procs, self.workdir)
        self.start_daemon(dry_run=True)
        self.assertTrue(self.actions()[0]["dry_run"])
        cg = self.cgroup("dry", HOG_QUOTA_US, shares=10240)
        hog = self.start_in(cg, DRY, h.HOG_SRC)
        self.addCleanup(hog.stop)
        self.wait_for(f"a latency_spike on {self.service}",
                      self.open_anomaly("latency_spike", self.service), 30)
        dry = self.wait_for("the noisy-neighbour rule's dry run",
                            self.action_of("noisy-neighbour", "dry_run"), 25)
        time.sleep(2)  # an executed change would have landed by now
        self.assertEqual(self.quota(cg), HOG_QUOTA_US, "a dry run changed the hog's quota")
        _, actions = self.actions()
        # One plan per cooldown (later windows are refused by it), nothing carried out.
        self.assertEqual([a["verdict"] for a in actions if a["rule"] == "noisy-neighbour"
                          and a["verdict"] not in ("dry_run", "refused")], [])
        summary = dry[0]["summary"]
        print(f"dry run: audit summary: {summary}", file=sys.stderr)
        self.assertIn(str(cg / "cpu.cfs_quota_us"), summary)
        self.assertIn(str(LOWERED_QUOTA_US), summary)
        log = [line for line in self.daemon.log_text().splitlines()
               if "dry-run" in line and DRY in line]
        self.assertTrue(log, "the daemon log does not say what the dry run would do")
        self.assertIn(str(cg / "cpu.cfs_quota_us"), log[0])
        self.assertIn(str(LOWERED_QUOTA_US), log[0])


if __name__ == "__main__":
    h.main()
