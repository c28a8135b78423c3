"""SIGHUP reloads the configuration without losing state.

 1. A changed, valid file is applied at once (detection warm-up and history retention
    change, visible in /api/v1/anomalies and /api/v1/status), and the request counts,
    detector series and the history are all still there.
 2. A bad file (an unknown key, a value out of range) is refused: the log says why
    with file, line and column; the running configuration and state stay.
 3. A key only a restart can change (aggregation.window) is kept, and the log says so.
 4. A storm of SIGHUPs: the daemon stays up and answers.
"""

import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402


class Reload(h.DaemonTestCase):
    AUTO_DAEMON = False
    EXPECTED_ERROR_LINES = (r"SIGHUP: .* was not applied",)

    @classmethod
    def start_servers(cls):
        cls.pyserver, cls.port = h.start_python_server(cls.procs)
        cls.cfg = cls.workdir / "homeostat.yaml"
        cls.write("aggregation:\n  window: 1s\ndetection:\n  warmup: 20\n")
        cls.daemon.start(extra_args=["--config", str(cls.cfg)])

    @classmethod
    def write(cls, text: str):
        tmp = cls.cfg.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(cls.cfg)

    def hup(self):
        self.daemon.managed.proc.send_signal(signal.SIGHUP)

    def doc(self, path: str) -> dict:
        status, _, body = self.daemon.get(path)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def wait_log(self, needle: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.daemon.log_text()
            if needle in text:
                return text
            time.sleep(0.1)
        self.fail(f"{needle!r} not in the daemon log:\n{self.daemon.log_text()[-3000:]}")

    def served(self) -> float:
        return self.metric_value(h.SERVER_HIST + "_count", service=h.port_service(self.port))

    def test_reload(self):
        res = h.curl([f"http://127.0.0.1:{self.port}/users/{i}" for i in range(30)])
        self.assertAllOk(res, 200)
        self.assertSettledCount(h.SERVER_HIST + "_count", 30, service=h.port_service(self.port))
        time.sleep(2.5)  # a couple of windows observed: series and history exist
        before = self.doc("/api/v1/anomalies")
        self.assertEqual(before["warmup_windows"], 20)
        self.assertGreater(before["series"], 0)
        history_before = len(self.doc(f"/api/v1/history?service=python3%3A{self.port}&from=0")["rollups"])
        self.assertGreater(history_before, 0)

        with self.subTest("a valid change applies, state stays"):
            self.write("history_retention: 2h\naggregation:\n  window: 1s\ndetection:\n  warmup: 9\n")
            self.hup()
            log = self.wait_log("SIGHUP: reloaded")
            self.assertIn("changed: detection, history_retention", log)
            after = self.doc("/api/v1/anomalies")
            self.assertEqual(after["warmup_windows"], 9)
            self.assertGreaterEqual(after["series"], before["series"])
            self.assertEqual(self.served(), 30)
            status = self.doc("/api/v1/status")["config"]
            self.assertEqual(status["reloads"], 1)
            self.assertEqual(status["file"], str(self.cfg))
            history_after = len(self.doc(f"/api/v1/history?service=python3%3A{self.port}&from=0")["rollups"])
            self.assertGreaterEqual(history_after, history_before)

        with self.subTest("a bad file is refused and says where"):
            self.write("aggregation:\n  window: 1s\ndetection:\n  warmup: 9\n  wramup: 3\n  error_min_ratio: 7\n")
            self.hup()
            log = self.wait_log("was not applied")
            self.assertIn(f"{self.cfg}:5:3: unknown key 'detection.wramup'", log)
            self.assertEqual(self.doc("/api/v1/anomalies")["warmup_windows"], 9)
            status = self.doc("/api/v1/status")["config"]
            self.assertEqual(status["reloads_refused"], 1)
            self.assertIn("detection.wramup", status["last_reload_error"])
            self.assertEqual(self.served(), 30)

        with self.subTest("restart-only keys are kept and named"):
            self.write("history_retention: 2h\naggregation:\n  window: 3s\ndetection:\n  warmup: 9\n")
            self.hup()
            log = self.wait_log("only take effect at a restart")
            self.assertIn("SIGHUP: aggregation.window changed in", log)
            time.sleep(4)  # windows are still 1 s: about four more observed, not one
            res = h.curl([f"http://127.0.0.1:{self.port}/users/{i}" for i in range(5)])
            self.assertAllOk(res, 200)
            time.sleep(2.5)
            rows = self.doc(f"/api/v1/history?service=python3%3A{self.port}&from=0")["rollups"]
            self.assertEqual({r["window_seconds"] for r in rows}, {1.0})

        with self.subTest("a storm of SIGHUPs"):
            for _ in range(200):
                self.hup()
            time.sleep(1)
            self.assertTrue(self.daemon.alive())
            self.assertGreaterEqual(self.doc("/api/v1/status")["config"]["reloads"], 3)
            res = h.curl([f"http://127.0.0.1:{self.port}/users/{i}" for i in range(10)])
            self.assertAllOk(res, 200)
            self.assertSettledCount(h.SERVER_HIST + "_count", 45, service=h.port_service(self.port))


if __name__ == "__main__":
    h.main()
