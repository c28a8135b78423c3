"""Alerts reach real receivers, and none is lost.

A real Alertmanager (Debian's, on loopback) and two webhook receivers run by this test:
"hook" checks every request's X-Hub-Signature-256 (HMAC-SHA256, secret below) and answers
503 until the test lets it up; "strict" always answers 400. homeostatd watches a Python
server whose /work latency the test raises from 5 ms to 200 ms and brings back.

 1. The latency_spike alert is posted to Alertmanager's API v2 and shows there with the
    right labels; when the anomaly resolves, the alert resolves in Alertmanager.
 2. "strict" gets each delivery once: a 400 is not retried (no storm), and it is logged.
 3. "hook" is down: every attempt of a delivery carries the same Idempotency-Key and a
    valid signature. The daemon is killed with SIGKILL while deliveries wait in the
    spool; "hook" comes up; a new daemon on the same state directory delivers them.
"""

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402
from test_anomalies import Load  # noqa: E402

SECRET = "It's a Secret to Everybody"
WINDOW_S = 1.0
WARMUP = 8


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it gets."""

    def __init__(self, status: int):
        self.status = status
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sig = self.headers.get("X-Hub-Signature-256", "")
                want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                with outer.lock:
                    outer.requests.append({"key": self.headers.get("Idempotency-Key", ""), "path": self.path,
                                           "signature_ok": hmac.compare_digest(sig, want),
                                           "body": json.loads(body), "status": outer.status})
                    status = outer.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.requests)

    def close(self):
        self.server.shutdown()


class Alerts(h.DaemonTestCase):
    AUTO_DAEMON = False
    REQUIRED_BINARIES = (h.ALERTMANAGER,)
    EXPECTED_ERROR_LINES = (r"alerting: receiver strict refused a delivery \(HTTP 400",)

    @classmethod
    def start_servers(cls):
        cls.am, cls.am_port = h.start_alertmanager(cls.procs, cls.workdir)
        cls.hook = Receiver(503)
        cls.strict = Receiver(400)
        cls.collector = Receiver(200)  # stands in for an OpenTelemetry Collector's OTLP/HTTP port
        cls.addClassCleanup(cls.collector.close)
        cls.addClassCleanup(cls.hook.close)
        cls.addClassCleanup(cls.strict.close)
        cls.mode_file = cls.workdir / "mode.json"
        cls.set_latency(5)
        cls.port = h.free_port()
        m = cls.procs.start("pyserver", [sys.executable, str(h.SERVERS / "py_http_server.py"),
                                         "--port", str(cls.port), "--mode-file", str(cls.mode_file)])
        h.wait_for_port(cls.port, proc=m)
        cls.config = cls.workdir / "homeostat.yaml"
        cls.config.write_text(f"""\
aggregation:
  window: 1s
detection:
  warmup: {WARMUP}
  min_requests: 5
otlp:
  endpoint: http://127.0.0.1:{cls.collector.port}
  interval: 1s
alerting:
  instance: e2e-host
  resend_interval: 2s
  retry_base: 250ms
  retry_max: 1s
  receivers:
    - name: am
      type: alertmanager
      url: http://127.0.0.1:{cls.am_port}
    - name: hook
      type: webhook
      url: http://127.0.0.1:{cls.hook.port}/hook
      secret: "{SECRET}"
    - name: strict
      type: alertmanager_webhook
      url: http://127.0.0.1:{cls.strict.port}/
      secret: "{SECRET}"
""")
        cls.state_dir = cls.workdir / "state"
        cls.daemon.start(extra_args=["--config", str(cls.config), "--state-dir", str(cls.state_dir)])

    @classmethod
    def set_latency(cls, ms: float):
        tmp = cls.mode_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"routes": {"/work": {"delay_ms": ms, "error_ratio": 0.0}}}))
        tmp.replace(cls.mode_file)

    def am_alerts(self) -> list[dict]:
        status, _, body = h.http_get(f"http://127.0.0.1:{self.am_port}/api/v2/alerts")
        self.assertEqual(status, 200, body)
        return [a for a in json.loads(body) if a["labels"].get("alertname") == "homeostat_latency_spike"
                and a["labels"].get("endpoint") == "GET /work"]

    def wait(self, what: str, pred, timeout: float):
        got = h.poll(pred, timeout)
        if got:
            return got
        self.fail(f"{what} within {timeout} s; daemon log:\n{self.daemon.managed.log_tail(30)}")

    def test_alerts_arrive(self):
        # The known-answer vector the receivers' check relies on.
        self.assertEqual("sha256=" + hmac.new(SECRET.encode(), b"Hello, World!", hashlib.sha256).hexdigest(),
                         "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        load = Load(self.port, ["/work"], deadline_s=120).start()
        self.addCleanup(load.stop)
        server = h.port_service(self.port)
        time.sleep((WARMUP + 6) * WINDOW_S)
        self.assertEqual(self.am_alerts(), [], "an alert before anything happened")

        # 1. the spike fires in Alertmanager with the right labels.
        self.set_latency(200)
        firing = self.wait("the latency_spike alert in Alertmanager",
                           lambda: [a for a in self.am_alerts() if server(a["labels"]["service"])], 25)
        labels = firing[0]["labels"]
        self.assertEqual(labels["type"], "latency_spike")
        self.assertEqual(labels["signal"], "latency_p95")
        self.assertEqual(labels["instance"], "e2e-host")
        self.assertIn(labels["severity"], ("warning", "critical"))
        self.assertEqual(firing[0]["status"]["state"], "active")
        self.assertIn("summary", firing[0]["annotations"])

        # OTLP/HTTP JSON pushes carry the server's histogram as a resource of its own.
        pushes = [r for r in self.collector.snapshot() if r["path"] == "/v1/metrics"]
        self.assertGreater(len(pushes), 3)
        last = pushes[-1]["body"]["resourceMetrics"]
        ours = [rm for rm in last if server(rm["resource"]["attributes"][0]["value"]["stringValue"])]
        self.assertEqual(len(ours), 1, json.dumps(last)[:2000])
        metric = ours[0]["scopeMetrics"][0]["metrics"][0]
        self.assertEqual(metric["name"], "http.server.request.duration")
        count = sum(int(dp["count"]) for dp in metric["histogram"]["dataPoints"])
        self.assertGreater(count, 100)

        # 2. strict: one request per delivery, never retried.
        time.sleep(3)
        strict = self.strict.snapshot()
        keys = [r["key"] for r in strict]
        self.assertGreaterEqual(len(strict), 1)
        self.assertEqual(len(keys), len(set(keys)), f"a 400 was retried: {keys}")
        self.assertTrue(all(r["signature_ok"] for r in strict))
        self.assertEqual(strict[0]["body"]["version"], "4")
        self.assertIn("refused a delivery", self.daemon.log_text())
        # The daemon's own deliveries are not watched: no anomaly about homeostatd itself.
        status, _, body = self.daemon.get("/api/v1/anomalies")
        own = [a for a in json.loads(body)["anomalies"] if a["service"].startswith("homeostatd")]
        self.assertEqual(own, [], "the daemon watched its own traffic")

        cli = h.run([h.HOMEOSTAT_CLI, "--addr", f"127.0.0.1:{self.daemon.port}", "alerts"], timeout=10)
        self.assertIn("homeostat_latency_spike", cli.stdout)
        self.assertIn("am (alertmanager", cli.stdout)
        self.assertNotIn(SECRET, cli.stdout)
        self.assertNotIn(SECRET, self.daemon.log_text())

        # resolution reaches Alertmanager.
        self.set_latency(5)
        self.wait("the alert to resolve in Alertmanager",
                  lambda: not [a for a in self.am_alerts() if server(a["labels"]["service"])], 30)

        # 3. hook was down all along: same key on every attempt, valid signatures.
        attempts = self.hook.snapshot()
        self.assertGreaterEqual(len(attempts), 2, "no retries to a receiver answering 503")
        self.assertTrue(all(r["signature_ok"] for r in attempts), attempts[:3])
        keys_tried = {r["key"] for r in attempts}
        status, _, body = self.daemon.get("/api/v1/alerts")
        self.assertGreaterEqual(json.loads(body)["pending_deliveries"], 1, body)
        self.daemon.managed.kill()  # SIGKILL: no goodbye, the spool is what remains
        self.hook.status = 200

        (self.workdir / "restart").mkdir(exist_ok=True)
        procs = h.ProcessSet(self.workdir / "restart")
        self.addClassCleanup(procs.stop_all)
        restarted = h.Daemon(procs, self.workdir / "restart")
        restarted.start(extra_args=["--config", str(self.config), "--state-dir", str(self.state_dir)])
        type(self).daemon = restarted

        def delivered():
            ok = [r for r in self.hook.snapshot() if r["status"] == 200]
            return ok if {r["key"] for r in ok} >= keys_tried else None
        ok = self.wait("every spooled delivery to reach hook after the restart", delivered, 15)
        self.assertTrue(all(r["signature_ok"] for r in ok))
        states = {a["status"] for r in ok for a in r["body"]["alerts"]
                  if a["labels"]["endpoint"] == "GET /work" and server(a["labels"]["service"])}
        self.assertEqual(states, {"firing", "resolved"}, json.dumps([r["body"] for r in ok])[:3000])
        # Duplicates only with the same key: each key answered 200 at most once... or more
        # (at least once), but never a new key for the same delivery.
        self.assertEqual({r["key"] for r in ok}, keys_tried | {r["key"] for r in ok})
        load.stop()

    def test_secrets_stay_out(self):
        """After real, signed deliveries (test_alerts_arrive ran first): the HMAC secret is
        in no log of either daemon, not in /api/v1/status or /api/v1/alerts, not in
        `homeostat config check`; a URL with a password is refused without echoing it."""
        logs = [self.workdir / "homeostatd.log", self.workdir / "restart" / "homeostatd.log"]
        self.assertTrue(any(p.exists() and "alerting:" in p.read_text(errors="replace") for p in logs))
        for p in logs:
            if p.exists():
                self.assertNotIn(SECRET, p.read_text(errors="replace"), p)
        for path in ("/api/v1/status", "/api/v1/alerts"):
            status, _, body = self.daemon.get(path)
            self.assertEqual(status, 200, body)
            self.assertNotIn(SECRET, body, path)
        self.assertIn('"signed": true', self.daemon.get("/api/v1/alerts")[2])
        check = subprocess.run([h.HOMEOSTAT_CLI, "config", "check", str(self.config)],
                               capture_output=True, text=True, timeout=20)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertNotIn(SECRET, check.stdout + check.stderr)
        bad = self.workdir / "with-password.yaml"
        bad.write_text("alerting:\n  receivers:\n    - name: x\n      type: webhook\n"
                       "      url: http://alice:Pa55w0rd-in-url@127.0.0.1:9/hook\n")
        for argv in ([h.HOMEOSTAT_CLI, "config", "check", str(bad)],
                     [h.HOMEOSTATD, "--config", str(bad), "--check-config"]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("credentials", r.stderr + r.stdout)
            self.assertNotIn("Pa55w0rd-in-url", r.stdout + r.stderr)


if __name__ == "__main__":
    h.main()
