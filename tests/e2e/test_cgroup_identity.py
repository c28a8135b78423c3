"""Service identity from the socket's cgroup, on the real cgroup v2 hierarchy.

A Python server runs inside a cgroup named like a systemd unit
(`homeostat-e2e-<pid>.service`), created beneath this test's own cgroup v2 cgroup (the
rule for tests: never touch a cgroup we did not create) and removed afterwards. The
server's exchanges must be labelled with that unit, not with `python3:<port>`: the
daemon names services from the cgroup id the kernel puts in every event.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402


def cgroup2_mount() -> Path:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        if post.split()[0] == "cgroup2" and pre.split()[3] == "/":
            return Path(pre.split()[4])
    raise AssertionError("no cgroup v2 hierarchy mounted: this test needs one")


def own_cgroup2_path() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    raise AssertionError("this process has no cgroup v2 membership")


class CgroupIdentity(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl",)
    UNIT = f"homeostat-e2e-{os.getpid()}.service"

    @classmethod
    def start_servers(cls):
        cls.cgroup = cgroup2_mount() / own_cgroup2_path().lstrip("/") / cls.UNIT
        cls.cgroup.mkdir()
        cls.addClassCleanup(cls.remove_cgroup)
        cls.port = h.free_port()
        # Enter the cgroup before the server creates its listening socket: a socket
        # belongs to the cgroup of the process that created it.
        script = (f"echo $$ > {cls.cgroup}/cgroup.procs && exec {sys.executable} "
                  f"{h.SERVERS / 'py_http_server.py'} --port {cls.port}")
        cls.server = cls.procs.start("pyserver-in-cgroup", ["sh", "-c", script])
        h.wait_for_port(cls.port, proc=cls.server)

    @classmethod
    def remove_cgroup(cls):
        cls.procs.stop_all()
        for _ in range(50):  # the kernel empties the cgroup once the process has exited
            try:
                cls.cgroup.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"could not remove {cls.cgroup}")

    def test_unit_from_cgroup(self):
        pids = (self.cgroup / "cgroup.procs").read_text().split()
        self.assertEqual(pids, [str(self.server.pid)], "the server is not in the test cgroup")
        results = h.curl([f"http://127.0.0.1:{self.port}/users/{i}" for i in range(12)])
        self.assertEqual([r.code for r in results], [200] * 12)
        self.assertSettledCount("http_server_request_duration_seconds_count", 12,
                                service=self.UNIT, http_route="/users/{id}",
                                http_response_status_code="200")
        self.assertEqual(self.metric_value("http_server_request_duration_seconds_count",
                                           service=h.port_service(self.port)), 0)


if __name__ == "__main__":
    h.main()
