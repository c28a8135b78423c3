"""Healing a memory leak before the kernel's OOM killer does (issue 6).

A plain Python process (`hsleak<pid>`: its own service, named by its comm) allocates and
touches LEAK_MIB_S MiB per second inside a v1 memory cgroup with a 128 MiB limit, created
beneath this test's own memory cgroup (the rule for tests) and removed afterwards. The
daemon runs with 1-second windows; its memory_growth detector extrapolates the trend to
the limit (seconds_to_exhaustion in /api/v1/anomalies).

 1. Dry run (guardrails.dry_run: true): the rule "memory_growth → memory_max +50 %"
    becomes a dry_run record in /api/v1/actions and a "dry-run: ... would ..." log line
    that say exactly what would be written; memory.limit_in_bytes does not change.
 2. For real: memory.limit_in_bytes rises from 128 MiB to 192 MiB (the rule's max), before
    the predicted exhaustion; /api/v1/actions says "applied". At the max, the rule's
    `else: restart` (before_exhaustion_seconds) restarts the leaker with the test's own
    restart script (method command) before the new limit is reached. No OOM kill at any
    time: memory.oom_control's oom_kill stays 0, homeostat_oom_kills_total of the service
    stays 0, the leaker is alive until the restart replaces it.
Measured (printed): time to detect, predicted exhaustion, time to act.
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
LIMIT_MIB = 128
MAX_MIB = 192          # the rule's bound: 128 × 1.5
LEAK_MIB_S = 3.0
BEFORE_EXHAUSTION_S = 15
TREND_WINDOWS = 15  # a significant trend needs >= 11 points (docs/configuration.md)
MEM_ROOT = Path("/sys/fs/cgroup/memory")

# Allocates and touches LEAK_MIB_S MiB a second, in tenths; bounded: stops growing at
# argv[2] MiB and exits after argv[3] seconds whatever happens.
LEAK = """
import sys, time
rate, cap, life = float(sys.argv[1]) * (1 << 20), int(sys.argv[2]) << 20, float(sys.argv[3])
chunks, held, t0 = [], 0, time.monotonic()
print("leaking", flush=True)
step = 0
while time.monotonic() - t0 < life:
    if held < cap:
        b = bytearray(int(rate / 10))
        for i in range(0, len(b), 4096):
            b[i] = 1
        chunks.append(b)
        held += len(b)
    step += 1
    time.sleep(max(0.0, t0 + step / 10 - time.monotonic()))
"""

# The service's restart command: kill the leaker, start a fresh one in the same cgroup
# (in its own session, so the daemon's command timeout never kills it), note it.
RESTART = """#!/bin/sh
old=$(cat {pidfile})
kill -KILL "$old"
setsid sh -c 'echo $$ > {cg}/cgroup.procs && echo $$ > {pidfile} && exec {leaker} {rate} {cap} 60' \\
    >> {log} 2>&1 < /dev/null &
echo "$(date +%s.%N) killed $old" >> {restarts}
"""


def config(name: str, cg: Path, restart: Path, dry_run: bool) -> str:
    return f"""\
aggregation:
  window: 1s
detection:
  warmup: 5
  memory_trend_windows: {TREND_WINDOWS}
  memory_horizon: 10m
healing:
  command_timeout: 5s
  guardrails:
    dry_run: {"true" if dry_run else "false"}
    restarts_enabled: true
    cooldown_seconds: 5m
  cgroups:
    allow: [{cg}]
  restart:
    - service: {name}
      method: command
      command: [{restart}]
  rules:
    - name: leak-memory
      match: {{anomaly: memory_growth, services: [{name}]}}
      action: {{kind: memory_max, op: raise_pct, amount: 50, max: {MAX_MIB}MiB}}
      else: {{kind: restart, before_exhaustion_seconds: {BEFORE_EXHAUSTION_S}}}
      verify: {{signal: anomaly, window_seconds: 10m}}
"""


def oom_kills_in(cg: Path) -> int:
    for line in (cg / "memory.oom_control").read_text().splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    raise AssertionError(f"{cg}/memory.oom_control has no oom_kill line")


class HealingLeak(health_case.HealthTestCase):
    ENDS_WITH_TRAFFIC = False  # its services are plain processes: no HTTP at all
    AUTO_DAEMON = False
    EXPECTED_ERROR_LINES = ()

    @classmethod
    def start_servers(cls):
        if not (MEM_ROOT / "memory.limit_in_bytes").exists():
            raise AssertionError(f"no v1 memory hierarchy at {MEM_ROOT}: this test needs it")
        cls.own_mem = MEM_ROOT / h.own_v1_cgroup("memory").lstrip("/")
        cls.name = f"hsleak{PID}"
        cls.leaker = cls.script(cls.name, LEAK)
        cls.cgroups: list[Path] = []
        cls.addClassCleanup(cls.remove_cgroups)

    # -- the leaker and its cgroup --------------------------------------------------
    @classmethod
    def remove_cgroups(cls):
        pidfile = cls.workdir / "leaker.pid"
        for cg in cls.cgroups:
            for _ in range(50):  # a restarted leaker is not ours to wait for: kill what is inside
                try:
                    pids = [int(p) for p in (cg / "cgroup.procs").read_text().split()]
                except FileNotFoundError:
                    break
                for p in pids:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                try:
                    cg.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise AssertionError(f"could not remove {cg}")
        if pidfile.exists():
            pidfile.unlink()

    def make_cgroup(self, tag: str) -> Path:
        cg = self.own_mem / f"hsleak-{PID}-{tag}"
        cg.mkdir()
        self.cgroups.append(cg)
        (cg / "memory.limit_in_bytes").write_text(str(LIMIT_MIB * MIB))
        (cg / "memory.swappiness").write_text("0")  # exhaustion means the limit, not swap
        return cg

    def start_leaker(self, cg: Path) -> h.Managed:
        m = self.procs.start(self.name, ["sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec {self.leaker} "
                                                     f"{LEAK_MIB_S} 400 90"])
        (self.workdir / "leaker.pid").write_text(str(m.pid))
        self.wait_line(m, "leaking", timeout=20)
        return m

    def start_daemon(self, daemon: h.Daemon, cg: Path, dry_run: bool) -> None:
        restart = self.workdir / "restart-leaker.sh"
        restart.write_text(RESTART.format(pidfile=self.workdir / "leaker.pid", cg=cg, leaker=self.leaker,
                                          rate=LEAK_MIB_S, cap=400, log=self.workdir / "leaker-restarted.log",
                                          restarts=self.workdir / "restarts.log"))
        restart.chmod(0o755)
        cfg = daemon.workdir / "homeostat.yaml"
        cfg.write_text(config(self.name, cg, restart, dry_run))
        daemon.start(extra_args=["--config", str(cfg), "--state-dir", str(daemon.workdir / "state")])
        # One HTTP exchange so that the shared daemon-health check finds its families.
        if not hasattr(type(self), "http_port"):
            type(self).pyserver, type(self).http_port = h.start_python_server(self.procs)
        h.curl([f"http://127.0.0.1:{self.http_port}/"])

    # -- what the daemon says --------------------------------------------------------
    def anomaly(self, daemon: h.Daemon, kind: str = "memory_growth") -> dict | None:
        _, _, body = daemon.get("/api/v1/anomalies")
        found = [a for a in json.loads(body)["anomalies"] if a["type"] == kind and a["service"] == self.name]
        return found[0] if found else None

    def actions(self, daemon: h.Daemon) -> tuple[dict, list[dict]]:
        status, _, body = daemon.get(f"/api/v1/actions?service={self.name}")
        self.assertEqual(status, 200, body[:300])
        j = json.loads(body)
        return j["healing"], j["actions"]

    def wait_action(self, daemon: h.Daemon, cg: Path, kind: str, verdict: str, timeout: float,
                    track: list) -> dict:
        """Polls until an audit record (kind, verdict) shows; meanwhile records the
        anomaly's prediction and checks that no OOM kill happened."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            a = self.anomaly(daemon)
            if a and a["state"] == "open":
                track.append((time.time(), a["evidence"]["seconds_to_exhaustion"], a["evidence"]["limit"],
                              a["evidence"]["observed"]))
            _, acts = self.actions(daemon)
            got = [x for x in acts if x["kind"] == kind and x["verdict"] == verdict]
            if got:
                return got[0]
            self.assertEqual(oom_kills_in(cg), 0, f"the kernel OOM-killed the leaker before the {kind} "
                                                  f"action:\n{json.dumps(acts, indent=1)[:3000]}")
            time.sleep(0.25)
        _, acts = self.actions(daemon)
        self.fail(f"no {verdict} {kind} action within {timeout} s; anomaly {self.anomaly(daemon)}; actions "
                  f"{json.dumps(acts, indent=1)[:3000]}\ndaemon log:\n{daemon.managed.log_tail(40)}")

    def limit(self, cg: Path) -> int:
        return int((cg / "memory.limit_in_bytes").read_text())

    # -- the tests -----------------------------------------------------------------
    def test_1_dry_run_changes_nothing(self):
        procs = h.ProcessSet(self.workdir / "dry")
        (self.workdir / "dry").mkdir()
        self.addCleanup(procs.stop_all)
        daemon = h.Daemon(procs, self.workdir / "dry")
        cg = self.make_cgroup("dry")
        self.start_daemon(daemon, cg, dry_run=True)
        t0 = time.time()
        leaker = self.start_leaker(cg)
        self.addCleanup(leaker.kill)
        track: list = []
        rec = self.wait_action(daemon, cg, "memory_max", "dry_run", timeout=45, track=track)
        print(f"dry run: planned {rec['at'] - t0:.1f} s after the leak started: {rec['summary']}",
              file=sys.stderr)
        self.assertEqual(self.limit(cg), LIMIT_MIB * MIB, "a dry run changed memory.limit_in_bytes")
        self.assertTrue(leaker.alive(), leaker.log_tail())
        # Exactly what would have been done: the file, the value before and after.
        self.assertIn("dry run", rec["summary"])
        self.assertIn(str(cg / "memory.limit_in_bytes"), rec["summary"])
        self.assertIn(str(MAX_MIB * MIB), rec["summary"])
        self.assertEqual(rec["rule"], "leak-memory")
        detail = json.loads(rec["detail"]) if isinstance(rec["detail"], str) else rec["detail"]
        self.assertTrue(detail["decision"]["action"]["dry_run"], detail)
        status, _ = self.actions(daemon)
        self.assertTrue(status["dry_run"], status)
        log = daemon.log_text()
        lines = [x for x in log.splitlines() if "dry-run: memory_max on " + self.name in x]
        self.assertTrue(lines, f"no dry-run line in the daemon log:\n{log[-3000:]}")
        self.assertIn("would", lines[0])
        self.assertIn(str(MAX_MIB * MIB), lines[0])
        self.assertFalse([x for x in log.splitlines() if "healing: memory_max on" in x and "dry" not in x],
                         "something was applied in a dry run")
        time.sleep(2)  # a window or two more: still nothing changed
        self.assertEqual(self.limit(cg), LIMIT_MIB * MIB)
        self.assertEqual(oom_kills_in(cg), 0)
        leaker.kill()
        self.assertEqual(daemon.stop(), 0, daemon.managed.log_tail(30))

    def test_2_raise_then_restart_before_oom(self):
        cg = self.make_cgroup("live")
        self.start_daemon(self.daemon, cg, dry_run=False)
        t0 = time.time()
        leaker = self.start_leaker(cg)
        track: list = []
        rec = self.wait_action(self.daemon, cg, "memory_max", "applied", timeout=45, track=track)
        t_raise = time.time()
        self.assertTrue(track, "memory_max was applied but no open memory_growth anomaly was seen")
        a = self.anomaly(self.daemon)
        self.assertIsNotNone(a)
        t_detect = a["opened_at"] - t0
        predicted = a["at_open"]["seconds_to_exhaustion"]
        self.assertGreater(predicted, 0, a)
        self.assertEqual(a["at_open"]["limit"], LIMIT_MIB * MIB, a)
        self.assertEqual(self.limit(cg), MAX_MIB * MIB, "memory.limit_in_bytes did not rise to the bound")
        self.assertTrue(leaker.alive(), "the leaker died before the limit was raised:\n" + leaker.log_tail())
        self.assertEqual(oom_kills_in(cg), 0)
        self.assertLess(rec["at"], a["opened_at"] + predicted,
                        "the limit was raised after the predicted exhaustion")
        print(f"leak: detected {t_detect:.1f} s after start (predicted exhaustion in {predicted:.1f} s); "
              f"memory_max applied {rec['at'] - t0:.1f} s after start, {a['opened_at'] + predicted - rec['at']:.1f} s "
              f"before the predicted exhaustion: {rec['summary']}", file=sys.stderr)
        # At the bound: the else restarts the leaker shortly before the new exhaustion.
        track2: list = []
        rst = self.wait_action(self.daemon, cg, "restart", "applied", timeout=70, track=track2)
        restarts = (self.workdir / "restarts.log").read_text().splitlines()
        self.assertEqual(len(restarts), 1, restarts)
        self.assertEqual(int(restarts[0].split()[-1]), leaker.pid)
        leaker.proc.wait(timeout=5)
        self.assertEqual(leaker.proc.returncode, -signal.SIGKILL)
        new_pid = int((self.workdir / "leaker.pid").read_text())
        self.assertNotEqual(new_pid, leaker.pid)
        self.assertTrue(Path(f"/proc/{new_pid}").exists(), "the restarted leaker is not running")
        self.assertEqual(oom_kills_in(cg), 0, "the kernel OOM-killed the leaker")
        self.assertEqual(self.metric_value("homeostat_oom_kills_total", service=self.name), 0)
        last = [t for t in track2 if t[2] == MAX_MIB * MIB]
        self.assertTrue(last, f"no prediction against the raised limit was seen: {track2}")
        t_pred, tte, _, used = last[-1]
        exhaustion_at = t_pred + tte
        print(f"leak: restart applied {rst['at'] - t0:.1f} s after start ({rst['at'] - t_raise:.1f} s after the "
              f"raise), {exhaustion_at - rst['at']:.1f} s before the predicted exhaustion of {MAX_MIB} MiB "
              f"(last prediction {tte:.1f} s at {used / MIB:.0f} MiB); summary: {rst['summary']}",
              file=sys.stderr)
        self.assertLess(rst["at"], exhaustion_at, "the restart came after the predicted exhaustion")
        self.assertLessEqual(exhaustion_at - rst["at"], BEFORE_EXHAUSTION_S + 5,
                             "the restart came much earlier than before_exhaustion_seconds asked")


if __name__ == "__main__":
    h.main()
