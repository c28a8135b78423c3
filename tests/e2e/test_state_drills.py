"""Failure drills for the state database: the disk fills up, then has room again; the
disk turns read-only, then writable again.

The daemon keeps its state on a small tmpfs this test mounts inside its own work
directory (and unmounts). While the disk is full it says so once, clearly, keeps
capturing and serving /metrics; when space comes back it writes history and baselines
again, by itself.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402


class StateDrills(h.DaemonTestCase):
    AUTO_DAEMON = False
    REQUIRED_BINARIES = ("curl", "mount", "umount")
    EXPECTED_ERROR_LINES = (r"disk is full", r"Read-only file system")

    @classmethod
    def start_servers(cls):
        cls.fs = cls.workdir / "statefs"
        cls.fs.mkdir(exist_ok=True)
        subprocess.run(["umount", str(cls.fs)], capture_output=True)
        h.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(cls.fs)], timeout=10)
        cls.addClassCleanup(lambda: subprocess.run(["umount", "-l", str(cls.fs)], capture_output=True))
        cls.pyserver, cls.port = h.start_python_server(cls.procs)
        cfg = cls.workdir / "homeostat.yaml"
        cfg.write_text("aggregation:\n  window: 1s\ndetection:\n  warmup: 3\n  save_interval: 1s\n")
        cls.daemon.start(extra_args=["--config", str(cfg), "--state-dir", str(cls.fs / "state")])

    def traffic(self, seconds: float):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            h.curl([f"http://127.0.0.1:{self.port}/users/{i}" for i in range(10)])
            time.sleep(0.2)

    def rows(self) -> int:
        status, _, body = self.daemon.get(f"/api/v1/history?service=python3%3A{self.port}&from=0")
        self.assertEqual(status, 200, body)
        return len(json.loads(body)["rollups"])

    def test_disk_full_then_room_again(self):
        self.traffic(3)
        self.assertGreater(self.rows(), 0)
        # Fill the disk.
        filler = self.fs / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        served = self.metric_value(h.SERVER_HIST + "_count", service=h.port_service(self.port))
        self.traffic(4)
        log = self.daemon.log_text()
        full = [line for line in log.splitlines() if "disk is full" in line]
        self.assertTrue(full, "no clear 'disk is full' in the log:\n" + self.daemon.managed.log_tail(20))
        self.assertLessEqual(len(full), 6, "the full disk is reported over and over:\n" + "\n".join(full))
        self.assertTrue(self.daemon.alive())
        self.assertGreater(self.metric_value(h.SERVER_HIST + "_count", service=h.port_service(self.port)),
                           served, "capture stopped while the disk was full")
        # Room again: history and the detector state are written again, unprompted.
        stuck = self.rows()
        os.unlink(filler)
        self.traffic(4)
        self.assertGreater(self.rows(), stuck, "history did not resume")
        log = self.daemon.log_text()
        self.assertIn("history: windows are kept again", log)
        self.assertIn("detection: state saved again", log)

    def test_disk_read_only_at_start(self):
        # A state directory on a read-only file system: said clearly, and the daemon observes.
        # (A running daemon's open database keeps a remount read-only from happening.)
        ro = self.workdir / "statefs-ro"
        ro.mkdir(exist_ok=True)
        subprocess.run(["umount", str(ro)], capture_output=True)
        h.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m,mode=0700", "tmpfs", str(ro)], timeout=10)
        self.addCleanup(lambda: subprocess.run(["umount", "-l", str(ro)], capture_output=True))
        self.assertEqual(self.daemon.stop(), 0, self.daemon.managed.log_tail(20))
        type(self).daemon = h.Daemon(self.procs, self.workdir)
        cfg = self.workdir / "homeostat.yaml"
        self.daemon.start(extra_args=["--config", str(cfg), "--state-dir", str(ro / "state")])
        self.traffic(3)
        log = self.daemon.log_text()
        said = [l for l in log.splitlines() if str(ro) in l]
        self.assertTrue(any("Read-only file system" in l for l in said), "\n".join(said) or log[-2000:])
        self.assertTrue(any("no history is kept" in l for l in said), "\n".join(said))
        self.assertGreater(self.metric_value(h.SERVER_HIST + "_count", service=h.port_service(self.port)), 0,
                           "the daemon does not observe without its state directory")
        status, _, body = self.daemon.get("/api/v1/history?from=0")
        self.assertEqual(status, 503, body)
        self.assertIn("no state database", body)


if __name__ == "__main__":
    h.main()
