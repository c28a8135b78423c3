"""Least privilege: after start-up the daemon holds only the documented capabilities, the
CLI's unix socket is root-only, and what it writes has tight modes.

docs/hardening.md ("Least privilege") documents the sets: with the default config
CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (reading other users' /proc/<pid>/fd); with
healing that may restart or reload by signal also CAP_KILL. Effective, permitted and
bounding sets are all exactly that, inheritable and ambient empty, and the daemon still
counts requests and names a server of another user (which needs the two /proc
capabilities). The control (drop_capabilities: false) keeps root's full set, so the
assertions can fail.
"""

import shutil
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"  # readable by nobody
REQUESTS = 9
BITS = {"CAP_DAC_READ_SEARCH": 2, "CAP_KILL": 5, "CAP_SETPCAP": 8, "CAP_NET_ADMIN": 12,
        "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_PERFMON": 38, "CAP_BPF": 39}
DEFAULT_SET = {"CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"}
HEALING_SET = DEFAULT_SET | {"CAP_KILL"}
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def mask(names) -> int:
    return sum(1 << BITS[n] for n in names)


def cap_sets(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            out[key] = int(value.strip(), 16)
    return out


class _Caps:
    """Mixed into the test classes below: a config file, a server run by nobody."""
    REQUIRED_BINARIES = ("setpriv", SYSTEM_PYTHON)
    AUTO_DAEMON = False
    CONFIG = ""

    @classmethod
    def start_servers(cls):
        cls.config = cls.workdir / "homeostat.yaml"
        cls.config.write_text(cls.CONFIG)
        cls.daemon.start(extra_args=["--config", str(cls.config)])
        cls.port, cls.server, www = h.start_server_as_nobody(cls.procs, SYSTEM_PYTHON)
        cls.addClassCleanup(shutil.rmtree, www, True)

    def load(self):
        for _ in range(REQUESTS):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/index.html", timeout=5) as r:
                self.assertEqual(r.status, 200)

    def assertCapabilities(self, names):
        sets = cap_sets(self.daemon.managed.pid)
        want = mask(names)
        for key in ("CapEff", "CapPrm", "CapBnd"):
            self.assertEqual(sets[key], want, f"{key} {sets[key]:#x}, documented {sorted(names)} = {want:#x}")
        self.assertEqual(sets["CapInh"], 0)
        self.assertEqual(sets["CapAmb"], 0)

    def assertStillWorks(self):
        self.load()
        # Counted through the ring buffer and named by /proc/<pid>/fd of nobody's process.
        self.assertSettledCount(h.SERVER_HIST + "_count", REQUESTS, service=f"python3:{self.port}")
        # Map reads after the drop: the kernel counters are served.
        status = self.daemon.get("/api/v1/status")
        self.assertEqual(status[0], 200)
        self.assertIn('"ringbuf_full"', status[2])
        self.assertGreaterEqual(__import__("json").loads(status[2])["programs_attached"], 3)


class DefaultConfig(_Caps, h.DaemonTestCase):
    CONFIG = "log_level: info\n"

    def test_capabilities_are_the_documented_set(self):
        self.assertCapabilities(DEFAULT_SET)
        self.assertIn("privileges: capabilities dropped; kept CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE",
                      self.daemon.log_text())

    def test_counts_and_names_after_the_drop(self):
        self.assertStillWorks()

    def test_state_has_tight_modes(self):
        state = self.workdir / "state"
        self.assertEqual(stat.S_IMODE(state.stat().st_mode), 0o700)
        db = state / "homeostat.db"
        self.assertTrue(db.exists(), f"no {db}")
        for f in state.iterdir():  # the database and its -wal/-shm files
            self.assertEqual(stat.S_IMODE(f.stat().st_mode) & 0o077, 0, f"{f} is readable by others")

    def test_socket_is_root_only_and_serves_the_api(self):
        sock = Path(self.daemon.api_socket)
        self.assertTrue(stat.S_ISSOCK(sock.lstat().st_mode), f"{sock} is not a socket")
        self.assertEqual(stat.S_IMODE(sock.lstat().st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(sock.parent.lstat().st_mode), 0o700)
        self.assertEqual(sock.lstat().st_uid, 0)
        # root: the CLI over the socket (no --addr), the same API as on TCP
        root = subprocess.run([h.HOMEOSTAT_CLI, "--socket", str(sock), "status", "--json"],
                              capture_output=True, text=True, timeout=20)
        self.assertEqual(root.returncode, 0, root.stderr)
        self.assertIn('"programs_attached"', root.stdout)
        text = subprocess.run([h.HOMEOSTAT_CLI, "--socket", str(sock), "status"],
                              capture_output=True, text=True, timeout=20)
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("programs attached", text.stdout)
        # nobody: neither the CLI nor a raw connect gets in
        cli = subprocess.run([*NOBODY, h.HOMEOSTAT_CLI, "--socket", str(sock), "status"],
                             capture_output=True, text=True, timeout=20)
        self.assertNotEqual(cli.returncode, 0, cli.stdout)
        self.assertIn("Permission denied", cli.stderr)
        self.assertIn("root-only", cli.stderr)
        raw = subprocess.run([*NOBODY, SYSTEM_PYTHON, "-c",
                              "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])",
                              str(sock)], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(raw.returncode, 0)
        self.assertIn("PermissionError", raw.stderr)


class HealingConfig(_Caps, h.DaemonTestCase):
    """Healing that acts and may restart by signal: CAP_KILL is kept too."""
    CONFIG = """\
healing:
  enabled: true
  guardrails:
    dry_run: false
  restart:
    - service: "nothing-here"
      method: signal
      signal: TERM
"""

    def test_capabilities_are_the_documented_set(self):
        self.assertCapabilities(HEALING_SET)

    def test_counts_and_names_after_the_drop(self):
        self.assertStillWorks()


class NoDropControl(_Caps, h.DaemonTestCase):
    """drop_capabilities: false keeps everything root had: the checks above can fail."""
    CONFIG = "drop_capabilities: false\n"

    def test_keeps_everything(self):
        sets = cap_sets(self.daemon.managed.pid)
        self.assertEqual(sets["CapEff"] & mask(["CAP_BPF", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]),
                         mask(["CAP_BPF", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]))
        self.assertIn("drop_capabilities is false", self.daemon.log_text())
        self.load()  # the health check wants traffic in the last windows
        self.assertSettledCount(h.SERVER_HIST + "_count", REQUESTS, service=f"python3:{self.port}")


if __name__ == "__main__":
    h.main()
