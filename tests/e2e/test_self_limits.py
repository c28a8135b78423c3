"""The daemon bounds itself (issue 8, item 4): self_limits.

The test makes a v1 memory and a v1 cpu cgroup beneath its own (shared/ENVIRONMENT.md) and
starts the daemon in them, with `self_limits: {memory_max: 96MiB, cpu_quota: 40%}`. The
daemon must then live in `<test cgroup>/homeostatd.<pid>.self` in both hierarchies, with
memory.limit_in_bytes = 96 MiB and cpu.cfs_quota_us/cpu.cfs_period_us = 40000/100000, say
so in its log and in /api/v1/status, keep observing, and remove its cgroups when it exits.
A second daemon with `self_limits: {enabled: false}` stays where it was started.
The test removes only what it created.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

MEM_ROOT = Path("/sys/fs/cgroup/memory")
CPU_ROOT = Path("/sys/fs/cgroup/cpu")
MEMORY_MAX = 96 << 20
REQUESTS = 25


def proc_cgroups(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        for c in ctrls.split(","):
            out[c] = path
    return out


class SelfLimits(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl",)
    AUTO_DAEMON = False
    ENDS_WITH_TRAFFIC = False

    @classmethod
    def start_servers(cls):
        tag = f"hs-selflimits-{Path('/proc/self').resolve().name}"
        cls.mem_rel = h.own_v1_cgroup("memory").rstrip("/") + "/" + tag
        cls.cpu_rel = h.own_v1_cgroup("cpu").rstrip("/") + "/" + tag
        cls.mem_cg = MEM_ROOT / cls.mem_rel.lstrip("/")
        cls.cpu_cg = CPU_ROOT / cls.cpu_rel.lstrip("/")
        cls.mem_cg.mkdir()
        cls.addClassCleanup(cls.remove_cgroups)
        cls.cpu_cg.mkdir()
        # The daemon enters the test's cgroups before its first instruction.
        wrapper = cls.workdir / "homeostatd-in-test-cgroup"
        wrapper.write_text(f"#!/bin/sh\necho $$ > {cls.mem_cg}/cgroup.procs && "
                           f"echo $$ > {cls.cpu_cg}/cgroup.procs && exec {h.HOMEOSTATD} \"$@\"\n")
        wrapper.chmod(0o755)
        cfg = cls.workdir / "self-limits.yaml"
        cfg.write_text("self_limits:\n  memory_max: 96MiB\n  cpu_quota: 40%\n")
        cls.daemon = h.Daemon(cls.procs, cls.workdir, binary=str(wrapper))
        cls.daemon.start(extra_args=["--config", str(cfg)])
        cls.name = f"homeostatd.{cls.daemon.managed.pid}.self"  # the wrapper exec'd: same pid
        cls.server, cls.port = h.start_python_server(cls.procs)

    @classmethod
    def remove_cgroups(cls):
        # Children first (the daemon removes its own; a killed daemon leaves them).
        for parent in (cls.mem_cg, cls.cpu_cg):
            for child in parent.glob("homeostatd.*.self"):
                h.remove_cgroup(child)
        for cg in (cls.mem_cg, cls.cpu_cg):
            h.remove_cgroup(cg)

    def test_daemon_lives_in_its_own_limited_cgroup(self):
        pid = self.daemon.managed.pid
        cg = proc_cgroups(pid)
        self.assertEqual(cg.get("memory"), self.mem_rel + "/" + self.name, f"/proc/{pid}/cgroup: {cg}")
        self.assertEqual(cg.get("cpu"), self.cpu_rel + "/" + self.name, f"/proc/{pid}/cgroup: {cg}")
        self.assertEqual(int((self.mem_cg / self.name / "memory.limit_in_bytes").read_text()), MEMORY_MAX)
        self.assertEqual(int((self.cpu_cg / self.name / "cpu.cfs_period_us").read_text()), 100000)
        self.assertEqual(int((self.cpu_cg / self.name / "cpu.cfs_quota_us").read_text()), 40000)
        # Every thread of the daemon moved, not just the main one.
        tasks = set((self.mem_cg / self.name / "tasks").read_text().split())
        threads = {p.name for p in Path(f"/proc/{pid}/task").iterdir()}
        self.assertEqual(threads - tasks, set(), "threads of the daemon outside its memory cgroup")
        # Its memory is charged there (the ring buffer, the BPF maps, the heap).
        self.assertGreater(int((self.mem_cg / self.name / "memory.usage_in_bytes").read_text()), 8 << 20)

    def test_status_and_log_say_what_was_applied(self):
        code, _, body = self.daemon.get("/api/v1/status")
        self.assertEqual(code, 200)
        sl = json.loads(body)["self_limits"]
        self.assertEqual(sl["mode"], "cgroup v1", sl)
        self.assertTrue(sl["applied"], sl)
        self.assertEqual(sl["memory_max_bytes"], MEMORY_MAX)
        self.assertAlmostEqual(sl["cpu_quota_cores"], 0.4)
        self.assertEqual(sorted(sl["cgroups"]), sorted([str(self.mem_cg / self.name), str(self.cpu_cg / self.name)]))
        log = self.daemon.log_text()
        self.assertRegex(log, r"self limits: applied memory\.limit_in_bytes 96 MiB in .*; "
                              r"cpu\.cfs_quota_us 40000/100000 us in ")

    def test_still_observes(self):
        results = h.curl_each([f"http://127.0.0.1:{self.port}/users/{i}" for i in range(REQUESTS)])
        self.assertAllOk(results, 200)
        self.assertSettledCount(h.SERVER_HIST + "_count", REQUESTS, service=h.port_service(self.port),
                                http_route="/users/{id}")

    def test_y_disabled_stays_where_started(self):
        cfg = self.workdir / "self-limits-off.yaml"
        cfg.write_text("self_limits:\n  enabled: false\n")
        wrapper = self.workdir / "homeostatd-in-test-cgroup"
        d = h.Daemon(self.procs, self.workdir, binary=str(wrapper)).start(extra_args=["--config", str(cfg)])
        try:
            cg = proc_cgroups(d.managed.pid)
            self.assertEqual(cg.get("memory"), self.mem_rel, cg)
            self.assertEqual(json.loads(d.get("/api/v1/status")[2])["self_limits"]["mode"], "off")
        finally:
            self.assertEqual(d.stop(), 0)

    def test_zzz_daemon_health(self):
        super().test_zzz_daemon_health()
        with self.subTest("the daemon removed its cgroups at exit"):
            self.assertFalse((self.mem_cg / self.name).exists(), "memory cgroup left behind")
            self.assertFalse((self.cpu_cg / self.name).exists(), "cpu cgroup left behind")


if __name__ == "__main__":
    h.main()
