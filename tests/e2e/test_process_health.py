"""Process health per service, against the kernel's own accounting (issue 3).

Each workload is a small Python script whose file name becomes its comm, so each one is
a service of its own (`hsburn<pid>`, ...) without touching anyone else's cgroup:
  - CPU: a process burns ~50 % of a core; its service's CPU over a few seconds must be
    within ±5 % of what /proc/<pid>/stat accounts over the same interval.
  - RSS: a process touches 192 MiB; process_resident_memory_bytes within ±5 % of VmRSS.
  - restart: a process is killed and started again; exactly one restart.
  - OOM: a process in a v1 memory cgroup with a 64 MiB limit, created beneath this test's
    own memory cgroup (the rule for tests) and removed afterwards, touches 256 MiB and is
    OOM-killed by the kernel; counted once, for that cgroup's unit, with the cgroup.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402
from health_case import HealthTestCase  # noqa: E402

PID = os.getpid()
TICK = os.sysconf("SC_CLK_TCK")

BURN = """
import time, sys
busy, idle = 0.02, 0.02          # 50 % duty cycle in 40 ms periods
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    t = time.monotonic() + busy
    while time.monotonic() < t:
        pass
    time.sleep(idle)
time.sleep(3600)
"""

TOUCH = """
import sys, time
n = int(sys.argv[1]) << 20
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)
b = bytearray(n)
for i in range(0, n, 4096):       # touch every page: resident, not just reserved
    b[i] = 1
print("touched", flush=True)
time.sleep(3600)
"""

SLEEP = "import time\ntime.sleep(3600)\n"


def proc_cpu_seconds(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def vmrss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class ProcessHealth(HealthTestCase):
    def wait_service(self, service: str, processes: int, timeout: float = 10) -> None:
        got = h.settle(lambda: self.metric_value("homeostat_service_processes", service=service),
                       processes, timeout=timeout, stable_for=0.3)
        self.assertEqual(got, processes, f"service {service} should have {processes} live processes\n"
                                         f"{self.daemon.scrape().related('homeostat_service_processes', {})}")

    def test_cpu_rate_matches_proc_stat(self):
        name = f"hsburn{PID}"
        burner = self.procs.start(name, [str(self.script(name, BURN)), "8"])
        self.wait_service(name, 1)
        time.sleep(0.5)  # past start-up
        c0 = self.metric_value("process_cpu_seconds_total", service=name)
        s0, t0 = proc_cpu_seconds(burner.pid), time.monotonic()
        time.sleep(5)
        c1 = self.metric_value("process_cpu_seconds_total", service=name)
        s1, t1 = proc_cpu_seconds(burner.pid), time.monotonic()
        daemon_rate, stat_rate = (c1 - c0) / (t1 - t0), (s1 - s0) / (t1 - t0)
        print(f"cpu: daemon {daemon_rate:.4f} cores, /proc/{burner.pid}/stat {stat_rate:.4f} cores "
              f"over {t1 - t0:.2f} s", file=sys.stderr)
        self.assertGreater(stat_rate, 0.3, "the burner did not burn ~50 % of a core: machine too busy?")
        self.assertLess(stat_rate, 0.7)
        self.assertAlmostEqual(daemon_rate, stat_rate, delta=0.05 * stat_rate)
        svc = self.services()[name]
        self.assertEqual([p["pid"] for p in svc["processes"]], [burner.pid])
        self.assertTrue(svc["processes"][0]["main"])

    def test_rss_matches_vmrss(self):
        name = f"hsmem{PID}"
        mib = 192
        toucher = self.procs.start(name, [str(self.script(name, TOUCH)), str(mib)])
        self.wait_line(toucher, "touched", timeout=20)
        self.wait_service(name, 1)
        rss = self.metric_value("process_resident_memory_bytes", service=name)
        vmrss = vmrss_bytes(toucher.pid)
        print(f"rss: daemon {rss / 2**20:.1f} MiB, VmRSS {vmrss / 2**20:.1f} MiB", file=sys.stderr)
        self.assertGreater(vmrss, mib << 20)
        self.assertAlmostEqual(rss, vmrss, delta=0.05 * vmrss)

    def test_restart_counted_once(self):
        name = f"hsrst{PID}"
        path = self.script(name, SLEEP)
        first = self.procs.start(name, [str(path)])
        self.wait_service(name, 1)
        self.assertEqual(self.metric_value("homeostat_service_restarts_total", service=name), 0)
        first.kill()
        self.wait_service(name, 0)
        self.procs.start(name + "-2", [str(path)])
        self.wait_service(name, 1)
        self.assertSettledCount("homeostat_service_restarts_total", 1, service=name)
        self.assertSettledCount("homeostat_process_exits_total", 1, service=name, outcome="failure")

    def test_oom_kill_in_v1_memory_cgroup(self):
        unit = f"hs-oom-{PID}.service"
        mem_root = Path("/sys/fs/cgroup/memory")
        if not (mem_root / "memory.limit_in_bytes").exists() and not mem_root.is_dir():
            raise AssertionError("no v1 memory hierarchy at /sys/fs/cgroup/memory: this test needs it")
        cg = mem_root / h.own_v1_cgroup("memory").lstrip("/") / unit
        cg.mkdir()
        try:
            (cg / "memory.limit_in_bytes").write_text(str(64 << 20))
            name = f"hsoom{PID}"
            # Enter the cgroup, then exec the workload; it waits 1 s before allocating so
            # the daemon sees it alive first (as it would any real service).
            victim = self.procs.start(name, ["sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec "
                                                         f"{self.script(name, TOUCH)} 256 1"])
            deadline = time.monotonic() + 20
            while victim.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertFalse(victim.alive(), "the workload was not OOM-killed within 20 s")
            self.assertEqual(victim.proc.returncode, -signal.SIGKILL, victim.log_tail())
            self.assertGreaterEqual(int((cg / "memory.failcnt").read_text()), 1)
            self.assertSettledCount("homeostat_oom_kills_total", 1, service=unit)
            svc = self.services()[unit]
            self.assertEqual(svc["oom_kills"], 1)
            self.assertTrue(svc["last_oom_cgroup"].endswith("/" + unit), svc["last_oom_cgroup"])
            self.assertEqual(self.daemon.scrape().sum("homeostat_oom_kills_total"), 1,
                             "the OOM kill was counted for more than one service")
            # Detection makes it an oom_kill anomaly of the unit once the window closes.
            deadline = time.monotonic() + 25
            found = []
            while time.monotonic() < deadline and not found:
                status, _, body = self.daemon.get("/api/v1/anomalies")
                found = [a for a in json.loads(body)["anomalies"]
                         if a["type"] == "oom_kill" and a["service"] == unit]
                time.sleep(0.5)
            self.assertEqual(len(found), 1, f"no oom_kill anomaly for {unit}: {body[:2000]}")
            self.assertEqual(found[0]["severity"], "critical")
            self.assertEqual(found[0]["at_open"]["observed"], 1)
            self.assertEqual(found[0]["signal"], "oom_kills")
        finally:
            h.remove_cgroup(cg)


if __name__ == "__main__":
    h.main()
