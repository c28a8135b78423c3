"""Shared by the process/TCP health tests (issue 3): workloads as small Python scripts
whose file name is their comm, hence their service (`hsburn<pid>`, ...), so that each
test owns a service without touching anyone else's cgroup."""

import json
import sys
import time
from pathlib import Path

import harness as h


class HealthTestCase(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl",)

    @classmethod
    def script(cls, name: str, body: str) -> Path:
        """An executable script whose file name (≤ 15 bytes: comm) names its service."""
        assert len(name) <= 15, name
        p = cls.workdir / name
        p.write_text(f"#!{sys.executable}\n{body}")
        p.chmod(0o755)
        return p

    @classmethod
    def start_servers(cls):
        # One HTTP exchange so that the shared daemon-health check finds its families.
        cls.pyserver, cls.http_port = h.start_python_server(cls.procs)
        h.curl([f"http://127.0.0.1:{cls.http_port}/"])

    def services(self) -> dict:
        status, _, body = self.daemon.get("/api/v1/services")
        self.assertEqual(status, 200, body[:300])
        return {s["service"]: s for s in json.loads(body)["services"]}

    def wait_line(self, m: h.Managed, text: str, timeout: float = 60) -> str:
        """The first line of m's output containing text; fails if m exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in m.log_path.read_text(errors="replace").splitlines():
                if text in line:
                    return line
            self.assertTrue(m.alive(), m.log_tail())
            time.sleep(0.1)
        self.fail(f"{m.name} did not print {text!r} in {timeout} s:\n{m.log_tail()}")
