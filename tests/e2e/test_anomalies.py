"""Live detection against a real server whose behaviour the test changes.

A Python server (servers/py_http_server.py --mode-file) answers /work after ~5 ms and /pay after ~2 ms,
under a paced load of ~40 requests/s per route from the test (keep-alive, 4 threads per
route). The daemon runs with 2-second windows and a 10-window warm-up.

 1. Steady traffic for a minute after the warm-up: no anomaly on the server or on the
    load generator; every watched series has a score below the open threshold.
 2. /work jumps to 200 ms: a latency_spike on "GET /work" (server side) opens within
    2 windows of the jump, with the baseline (~5 ms) and the observed p95 (~200 ms) as
    evidence. /pay starts answering 500 half of the time: an error_surge on "GET /pay".
    Both show on /api/v1/anomalies, on /metrics (homeostat_anomaly_score,
    homeostat_anomalies_open), in the log and in `homeostat anomalies`.
 3. The daemon is restarted on the same state directory: the open anomalies and the
    baselines come back (scores are exported again after the first full window, with
    no new warm-up).
 4. The first daemon recorded its event stream (--record); `homeostat replay` runs it
    through the same engine and detection code and prints the same two anomalies.
"""

import json
import os
import sys
import threading
import time
import http.client
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

WINDOW_S = 2.0
WARMUP_WINDOWS = 10
STEADY_S = 60.0
RATE_PER_THREAD = 10.0  # requests/s
THREADS_PER_ROUTE = 4

CONFIG = f"""\
aggregation:
  window: {int(WINDOW_S)}s
  windows_kept: 6
detection:
  warmup: {WARMUP_WINDOWS}
  min_requests: 10
  save_interval: 2s
"""


class Load:
    """Paced keep-alive clients, one route per thread; bounded by stop() and by a
    hard deadline. Records when each 200 came (oks_since)."""

    def __init__(self, port: int, routes: list[str], deadline_s: float,
                 threads_per_route: int = THREADS_PER_ROUTE, timeout: float = 10):
        self.port = port
        self.timeout = timeout
        self.stop_event = threading.Event()
        self.deadline = time.monotonic() + deadline_s
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.ok_at: list[float] = []
        self.threads = [threading.Thread(target=self._run, args=(r,), daemon=True)
                        for r in routes for _ in range(threads_per_route)]

    def oks_since(self, t: float) -> int:
        with self.lock:
            return sum(1 for x in self.ok_at if x >= t)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(10)

    def _run(self, route: str):
        conn = None

        def one():
            nonlocal conn
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                conn.request("GET", route)
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    with self.lock:
                        self.ok_at.append(time.time())
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(f"{route}: {e!r}")
                conn = None

        h.paced(one, RATE_PER_THREAD, self.stop_event, self.deadline)
        if conn is not None:
            conn.close()


class Anomalies(h.DaemonTestCase):
    AUTO_DAEMON = False
    REQUIRED_BINARIES = ()

    @classmethod
    def start_servers(cls):
        cls.mode_file = cls.workdir / "mode.json"
        cls.set_mode(work_ms=5, pay_errors=0.0)
        cls.port = h.free_port()
        m = cls.procs.start("pyserver", [sys.executable, str(h.SERVERS / "py_http_server.py"),
                                           "--port", str(cls.port), "--mode-file",
                                           str(cls.mode_file)])
        h.wait_for_port(cls.port, proc=m)
        cls.config = cls.workdir / "homeostat.yaml"
        cls.config.write_text(CONFIG)
        cls.state_dir = cls.workdir / "state"
        cls.recording = cls.workdir / "events.rec"
        cls.daemon.start(extra_args=["--config", str(cls.config), "--state-dir", str(cls.state_dir),
                                     "--record", str(cls.recording)])

    @classmethod
    def set_mode(cls, work_ms: float, pay_errors: float):
        tmp = cls.mode_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"routes": {
            "/work": {"delay_ms": work_ms, "error_ratio": 0.0},
            "/pay": {"delay_ms": 2, "error_ratio": pay_errors}}}))
        os.replace(tmp, cls.mode_file)

    def anomalies(self) -> dict:
        status, _, body = self.daemon.get("/api/v1/anomalies")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def ours(self, doc: dict) -> list[dict]:
        """Anomalies of the server under test or of the test's own client side."""
        server = h.port_service(self.port)
        return [a for a in doc["anomalies"]
                if server(a["service"]) or f":{self.port}/" in a["endpoint"]]

    def wait_for(self, type_: str, endpoint: str, timeout: float) -> tuple[dict, float]:
        server = h.port_service(self.port)
        deadline = time.monotonic() + timeout
        doc = {}
        while time.monotonic() < deadline:
            doc = self.anomalies()
            for a in doc["anomalies"]:
                if (a["type"] == type_ and a["endpoint"] == endpoint and server(a["service"])
                        and a["role"] == "server" and a["state"] == "open"):
                    return a, time.time()
            time.sleep(0.1)
        self.fail(f"no open {type_} on {endpoint} within {timeout:.1f} s; anomalies:\n"
                  f"{json.dumps(doc, indent=1)[:4000]}\nlog:\n{self.daemon.managed.log_tail(20)}")

    def test_live_detection(self):
        load = Load(self.port, ["/work", "/pay"],
                    deadline_s=(WARMUP_WINDOWS + 4) * WINDOW_S + STEADY_S + 120).start()
        self.addCleanup(load.stop)
        server = h.port_service(self.port)

        # 1. warm-up, then a steady minute: nothing.
        time.sleep((WARMUP_WINDOWS + 3) * WINDOW_S)
        t_end = time.monotonic() + STEADY_S
        while time.monotonic() < t_end:
            noise = self.ours(self.anomalies())
            self.assertEqual(noise, [], "anomalies on steady traffic:\n" + json.dumps(noise, indent=1))
            time.sleep(5)
        self.assertEqual(load.errors, [])
        m = self.daemon.scrape()
        scores = [s for s in m.select("homeostat_anomaly_score", service=server)]
        signals = {(s.l["endpoint"], s.l["signal"]) for s in scores}
        for want in [("GET /work", "latency_p95"), ("GET /pay", "error_ratio"), ("*", "request_rate")]:
            self.assertIn(want, signals, "warm series missing from /metrics:\n"
                          + m.related("homeostat_anomaly_score", {}))
        self.assertTrue(all(s.value < 0.8 for s in scores), "\n".join(map(str, scores)))
        # Every closed window is kept as history (state_dir/homeostat.db).
        status, _, body = self.daemon.get(f"/api/v1/history?service=python3%3A{self.port}&from=0")
        self.assertEqual(status, 200, body)
        rows = [r for r in json.loads(body)["rollups"] if r["endpoint"] == "GET /work" and r["role"] == "server"]
        self.assertGreaterEqual(len(rows), STEADY_S / WINDOW_S - 2, body[:500])
        self.assertTrue(all(r["window_seconds"] == WINDOW_S for r in rows))
        median = sorted(r["requests"] for r in rows)[len(rows) // 2]
        self.assertAlmostEqual(median, RATE_PER_THREAD * THREADS_PER_ROUTE * WINDOW_S, delta=15, msg=rows[:5])
        self.assertEqual(self.daemon.get("/api/v1/history?from=yesterday")[0], 400)

        # 2. latency jump and error surge.
        t_jump = time.time()
        self.set_mode(work_ms=200, pay_errors=0.5)
        spike, seen = self.wait_for("latency_spike", "GET /work", timeout=2 * WINDOW_S + 3)
        grace = 1.0  # the window is observed just after it closes, then the test polls
        self.assertLessEqual(seen - t_jump, 2 * WINDOW_S + grace,
                             f"latency_spike seen {seen - t_jump:.2f} s after the jump")
        self.assertLessEqual(spike["opened_at"] - t_jump, 2 * WINDOW_S + 0.5, spike)
        self.assertEqual(spike["signal"], "latency_p95")
        self.assertLess(spike["at_open"]["expected"], 0.03, spike)
        self.assertGreater(spike["at_open"]["observed"], 0.15, spike)
        self.assertGreaterEqual(len(spike["at_open"]["detectors"]), 2, spike)

        surge, seen_surge = self.wait_for("error_surge", "GET /pay", timeout=3 * WINDOW_S + 3)
        self.assertLessEqual(seen_surge - t_jump, 3 * WINDOW_S + grace)
        self.assertEqual(surge["signal"], "error_ratio")
        # The run that opened it may start in the window the switch fell in (a part of it
        # with errors): that window is above its interval; the latest one shows the surge.
        self.assertGreater(surge["at_open"]["observed"], surge["at_open"]["upper"], surge)
        self.assertGreater(surge["evidence"]["observed"], 0.25, surge)
        self.assertLess(surge["at_open"]["expected"], 0.02, surge)

        m = self.daemon.scrape()
        self.assertGreaterEqual(m.sum("homeostat_anomalies_open", type="latency_spike"), 1)
        self.assertGreaterEqual(m.sum("homeostat_anomalies_open", type="error_surge"), 1)
        lat = m.select("homeostat_anomaly_score", service=server, endpoint="GET /work",
                       signal="latency_p95")
        self.assertEqual(len(lat), 1)
        self.assertGreaterEqual(lat[0].value, 0.8)
        log = self.daemon.log_text()
        self.assertRegex(log, r"anomaly #\d+ opened: latency_spike .*endpoint=\"GET /work\"")
        self.assertRegex(log, r"anomaly #\d+ opened: error_surge .*endpoint=\"GET /pay\"")
        cli = h.run([h.HOMEOSTAT_CLI, "--addr", f"127.0.0.1:{self.daemon.port}", "anomalies"],
                    timeout=10)
        self.assertIn("latency_spike", cli.stdout)
        self.assertIn("GET /work", cli.stdout)
        self.assertIn("error_surge", cli.stdout)

        # 3. SIGKILL while it writes history every window and its state every 2 s; a new
        #    daemon on the same state: the database opens, anomalies, baselines and
        #    history are back.
        self.set_mode(work_ms=5, pay_errors=0.0)
        time.sleep(2.5)  # one periodic save after the anomalies opened
        open_ids = {a["id"] for a in self.anomalies()["anomalies"] if a["state"] == "open"}
        _, _, before = self.daemon.get(f"/api/v1/history?service=python3%3A{self.port}&from=0")
        rows_before = len(json.loads(before)["rollups"])
        self.daemon.managed.kill()
        db = self.state_dir / "homeostat.db"
        self.assertTrue(db.is_file(), f"no {db}")
        self.assertEqual(db.stat().st_mode & 0o077, 0, "state database readable by others")
        self.assertEqual(self.state_dir.stat().st_mode & 0o077, 0, "state directory open to others")

        (self.workdir / "restart").mkdir(exist_ok=True)
        procs = h.ProcessSet(self.workdir / "restart")  # its own log file
        self.addClassCleanup(procs.stop_all)
        restarted = h.Daemon(procs, self.workdir / "restart")
        restarted.start(extra_args=["--config", str(self.config), "--state-dir", str(self.state_dir)])
        type(self).daemon = restarted
        doc = self.anomalies()
        self.assertGreater(doc["series"], 0)
        restored = {a["id"] for a in doc["anomalies"]}
        self.assertTrue(open_ids <= restored, f"{open_ids} not all in {restored}")
        self.assertIn("detection: restored", restarted.log_text())
        _, _, after = restarted.get(f"/api/v1/history?service=python3%3A{self.port}&from=0")
        self.assertGreaterEqual(len(json.loads(after)["rollups"]), rows_before)
        # Warm at once: scores for the server come back after the first full window.
        deadline = time.monotonic() + 3 * WINDOW_S + 2
        while time.monotonic() < deadline:
            got = restarted.scrape().select("homeostat_anomaly_score", service=server,
                                            endpoint="GET /pay", signal="error_ratio")
            if got:
                break
            time.sleep(0.2)
        self.assertTrue(got, "no warm score within 3 windows of the restart: baselines lost?")
        load.stop()
        self.assertEqual(load.errors, [])

        # 4. replay the first daemon's recording.
        cp = h.run([h.HOMEOSTAT_CLI, "replay", str(self.recording), "--config", str(self.config),
                    "--json"], timeout=60)
        events = [json.loads(line) for line in cp.stdout.splitlines()]
        summary = events[-1]
        self.assertEqual(summary["event"], "summary")
        self.assertEqual(summary["error"], "")
        self.assertGreater(summary["exchanges"], 1000)
        opened = {(e["type"], e["endpoint"]) for e in events[:-1]
                  if e["event"] == "opened" and server(e["service"]) and e["role"] == "server"}
        self.assertIn(("latency_spike", "GET /work"), opened, cp.stdout[-3000:])
        self.assertIn(("error_surge", "GET /pay"), opened, cp.stdout[-3000:])
        replayed = [e for e in events[:-1] if e["event"] == "opened" and e["type"] == "latency_spike"
                    and e["endpoint"] == "GET /work" and server(e["service"])][0]
        self.assertAlmostEqual(replayed["opened_at"], spike["opened_at"], delta=WINDOW_S + 0.5)
        text = h.run([h.HOMEOSTAT_CLI, "replay", str(self.recording), "--config", str(self.config)],
                     timeout=60).stdout
        self.assertRegex(text, r"OPEN +#\d+ +latency_spike")
        self.assertRegex(text, r"replayed \d+ exchanges over \d+ windows of 2 s")


if __name__ == "__main__":
    h.main()
