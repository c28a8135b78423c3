"""The systemd unit's capability set is enough, and each /proc capability in it is needed.

The daemon runs as root with its bounding set cut to the unit's CapabilityBoundingSet
(read from packaging/homeostatd.service; `setpriv`, the same effect as systemd's setting
for a root service), and a Python server runs as `nobody`. With the unit's set the
daemon loads and attaches everything and names the server `python3:<port>`, which
needs reading the /proc/<pid>/fd of another user's process. Without CAP_SYS_PTRACE and
CAP_DAC_READ_SEARCH (the control) the same exchanges are counted, but not as
`python3:<port>`: the check above can fail, and those two capabilities are not decoration.
"""

import json
import shutil
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

UNIT = Path(__file__).resolve().parents[2] / "packaging/homeostatd.service"
SYSTEM_PYTHON = "/usr/bin/python3"  # readable by nobody, unlike a per-user Python
REQUESTS = 7


def unit_capabilities() -> list[str]:
    for line in UNIT.read_text().splitlines():
        if line.startswith("CapabilityBoundingSet="):
            return line.split("=", 1)[1].split()
    raise AssertionError(f"{UNIT} has no CapabilityBoundingSet=")


CAP_BITS = {"CAP_KILL": 5, "CAP_SETPCAP": 8, "CAP_NET_ADMIN": 12, "CAP_SYS_PTRACE": 19, "CAP_DAC_READ_SEARCH": 2,
            "CAP_PERFMON": 38, "CAP_BPF": 39}


class _Bounded:
    """Mixed into the two test classes below (not a test case itself)."""
    REQUIRED_BINARIES = ("setpriv", SYSTEM_PYTHON)
    AUTO_DAEMON = False
    CAPS: list[str] = []

    @classmethod
    def start_servers(cls):
        caps = ",".join("+" + c.removeprefix("CAP_").lower() for c in cls.CAPS)
        wrapper = cls.workdir / f"homeostatd-{cls.__name__}"
        wrapper.write_text(f"#!/bin/sh\nexec setpriv --inh-caps=-all --bounding-set=-all,{caps} {h.HOMEOSTATD} \"$@\"\n")
        wrapper.chmod(0o755)
        cls.daemon.binary = str(wrapper)
        cls.daemon.start()
        cls.port, cls.server, www = h.start_server_as_nobody(cls.procs, SYSTEM_PYTHON)
        cls.addClassCleanup(shutil.rmtree, www, True)

    def daemon_bounding_set(self) -> int:
        # The wrapper execs: the daemon is the managed pid itself.
        for line in Path(f"/proc/{self.daemon.managed.pid}/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
        raise AssertionError("no CapBnd")

    def load(self):
        for _ in range(REQUESTS):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/index.html", timeout=5) as r:
                self.assertEqual(r.status, 200)


class UnitCapabilities(_Bounded, h.DaemonTestCase):
    CAPS = unit_capabilities()

    def test_runs_with_exactly_the_units_capabilities(self):
        self.assertEqual(set(self.CAPS), set(CAP_BITS), "the unit's set changed: update CAP_BITS and this test")
        # After attaching, the daemon drops all but what it uses (docs/hardening.md, "Least
        # privilege"; test_least_privilege.py checks every set): with the default config the
        # two /proc capabilities.
        want = sum(1 << CAP_BITS[c] for c in ("CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"))
        self.assertEqual(self.daemon_bounding_set(), want)
        # Everything attached (cgroup_skb ingress/egress, tp_btf) with no more than these.
        self.assertGreaterEqual(json.loads(self.daemon.status_json())["programs_attached"], 3)

    def test_names_a_server_of_another_user(self):
        self.load()
        self.assertSettledCount(h.SERVER_HIST + "_count", REQUESTS, service=f"python3:{self.port}")


class WithoutProcCapabilities(_Bounded, h.DaemonTestCase):
    CAPS = [c for c in unit_capabilities() if c not in ("CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH")]

    def test_control_the_server_stays_unnamed(self):
        self.load()
        # Counted (the capture needs no /proc access), but not as the server's service.
        self.assertSettledCount(h.SERVER_HIST + "_count", REQUESTS, http_route="/index.html")
        self.assertEqual(self.metric_value(h.SERVER_HIST + "_count", service=f"python3:{self.port}"), 0)


if __name__ == "__main__":
    h.main()
