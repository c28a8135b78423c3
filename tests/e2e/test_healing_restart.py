"""Healing a stuck service by restarting it, and the restart budget (issue 6).

A Python HTTP server (`hsstuck<pid>:<port>`: its own service) answers "ok" until it is
told to get stuck (GET /stick, which it confirms): from then on every handler thread blocks and nothing is
answered. The test drives it with paced keep-alive clients (test_anomalies' Load, 1 s
timeouts). A stuck
server completes no exchange, so its request rate falls to 0: a traffic_shift (down) on
the service, which the rule maps to a restart by the test's own restart script
(healing.restart, method command; guardrails.restarts_enabled: true).

 1. Stuck once: the daemon restarts it; the server answers again (the clients get 200s
    from the new process); /api/v1/actions says "applied".
 2. Stuck for good (the restarted server comes back stuck every time): it is restarted
    until guardrails.restart_budget (3 within 10 min) is spent, then never again; a
    critical "healing_stopped" alert reaches a webhook receiver this test runs, the
    service is in /api/v1/actions' healing.stopped_services and the daemon log says so.
    (The restarts also open a restart_loop; a second rule maps it to a restart too, so
    the refusal does not hang on the traffic_shift staying open one window longer.)
Measured (printed): time from stuck to restart.
"""

import json
import os
import signal
import sys
import time
import http.client
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402
from test_alerts import SECRET, Receiver  # noqa: E402
from test_anomalies import RATE_PER_THREAD, Load  # noqa: E402

PID = os.getpid()
NAME = f"hsstuck{PID}"
BUDGET = 3
COOLDOWN_S = 10
CLIENTS = 3  # paced keep-alive clients, RATE_PER_THREAD requests/s each, 1 s timeouts

# Stuck on GET /stick, or FOREVER_AFTER_S seconds after it started when argv[2] exists
# (it comes back and gets stuck again); a stuck handler blocks (bounded: 120 s) and
# never answers.
FOREVER_AFTER_S = 3
SERVER = f"""
import os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, forever = int(sys.argv[1]), sys.argv[2]
stuck = threading.Event()
if os.path.exists(forever):
    threading.Timer({FOREVER_AFTER_S}, stuck.set).start()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path == "/stick":  # the test's own request: answered, so it knows when
            stuck.set()
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"stuck\\n")
            return
        if stuck.is_set():
            time.sleep(120)
            return
        body = b"ok\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("listening", os.getpid(), flush=True)
server.serve_forever()
"""

RESTART = """#!/bin/sh
old=$(cat {pidfile})
kill -KILL "$old"
echo "$(date +%s.%N) killed $old" >> {restarts}
setsid sh -c 'echo $$ > {pidfile} && exec {server} {port} {forever}' >> {log} 2>&1 < /dev/null &
"""


class StuckServer:
    """The stuck server, its restart script and the daemon configured to restart it, for a
    h.DaemonTestCase (a mixin, so that a module importing it runs no tests of its own;
    test_healing_restart_dry runs it with restarts left in dry-run)."""
    ENDS_WITH_TRAFFIC = False  # it ends with its server stuck: nothing completes
    AUTO_DAEMON = False
    REQUIRED_BINARIES = ("curl",)
    RESTARTS_ENABLED = True

    @classmethod
    def start_servers(cls):
        cls.hook = Receiver(200)
        cls.addClassCleanup(cls.hook.close)
        cls.port = h.free_port()
        cls.service = f"{NAME}:{cls.port}"
        cls.pidfile = cls.workdir / "server.pid"
        cls.forever = cls.workdir / "stuck-forever"
        cls.restarts = cls.workdir / "restarts.log"
        server = cls.workdir / NAME
        server.write_text(f"#!{sys.executable}\n{SERVER}")
        server.chmod(0o755)
        cls.server_script = server
        restart = cls.workdir / "restart-server.sh"
        cls.restart_script = restart
        restart.write_text(RESTART.format(pidfile=cls.pidfile, restarts=cls.restarts, server=server, port=cls.port,
                                          forever=cls.forever, log=cls.workdir / "server-restarted.log"))
        restart.chmod(0o755)
        cls.addClassCleanup(cls.kill_server)
        cls.config = cls.workdir / "homeostat.yaml"
        cls.config.write_text(f"""\
aggregation:
  window: 1s
detection:
  warmup: 8
  min_requests: 5
alerting:
  instance: e2e-host
  retry_base: 250ms
  retry_max: 1s
  receivers:
    - name: hook
      type: webhook
      url: http://127.0.0.1:{cls.hook.port}/hook
      secret: "{SECRET}"
healing:
  command_timeout: 5s
  guardrails:
    restarts_enabled: {"true" if cls.RESTARTS_ENABLED else "false"}
    restart_budget: {BUDGET}
    restart_budget_window_seconds: 10m
  restart:
    - service: {cls.service}
      method: command
      command: [{restart}]
  rules:
    - name: stuck-restart
      match: {{anomaly: traffic_shift, services: [{cls.service}]}}
      action: {{kind: restart}}
      cooldown_seconds: {COOLDOWN_S}
      verify: {{signal: anomaly, window_seconds: 10m}}
    # A service restarted again and again (by us) is in a restart loop: restarting it
    # once more is what the budget refuses, for as long as the loop is open.
    - name: loop-restart
      match: {{anomaly: restart_loop, services: [{cls.service}]}}
      action: {{kind: restart}}
      cooldown_seconds: {COOLDOWN_S}
      verify: {{signal: anomaly, window_seconds: 10m}}
""")
        cls.daemon.start(extra_args=["--config", str(cls.config), "--state-dir", str(cls.workdir / "state")])
        m = cls.procs.start("server", [str(server), str(cls.port), str(cls.forever)])
        cls.pidfile.write_text(str(m.pid))
        h.wait_for_port(cls.port, proc=m)
        cls.first = m

    @classmethod
    def kill_server(cls):
        try:
            os.kill(int(cls.pidfile.read_text()), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass

    def actions(self) -> tuple[dict, list[dict]]:
        status, _, body = self.daemon.get(f"/api/v1/actions?service={self.service}")
        self.assertEqual(status, 200, body[:300])
        j = json.loads(body)
        return j["healing"], j["actions"]

    def restart_lines(self) -> list[str]:
        return self.restarts.read_text().splitlines() if self.restarts.exists() else []

    def wait(self, what: str, cond, timeout: float):
        got = h.poll(cond, timeout, interval=0.25)
        if got:
            return got
        _, acts = self.actions()
        _, _, anomalies = self.daemon.get("/api/v1/anomalies")
        self.fail(f"{what} within {timeout} s\nactions: {json.dumps(acts, indent=1)[:3000]}\nanomalies: "
                  f"{anomalies[:2000]}\ndaemon log:\n{self.daemon.managed.log_tail(30)}")

    def stick(self) -> float:
        """Tells the server to get stuck; returns when it said so (a loaded machine may take
        a while to deliver the request: the clients' answers before then are not late)."""
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                try:
                    c.request("GET", "/stick")
                    if c.getresponse().read() == b"stuck\n":
                        return time.time()
                finally:
                    c.close()
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
        self.fail("the server did not confirm GET /stick within 10 s")

    def warm_up(self) -> "Load":
        """Paced clients on the server, until the daemon has the service's request-rate
        baseline (~30/s)."""
        clients = Load(self.port, ["/"], deadline_s=150, threads_per_route=CLIENTS, timeout=1).start()
        self.addCleanup(clients.stop)
        t = time.time()
        time.sleep(14)
        self.assertGreater(clients.oks_since(t), 10 * CLIENTS * RATE_PER_THREAD * 0.8,
                           "the clients did not get their answers before the server was stuck")
        return clients


class HealingRestart(StuckServer, h.DaemonTestCase):
    # The budget alert is logged at error level on purpose.
    EXPECTED_ERROR_LINES = (rf"healing: {NAME}:\d+ restarted {BUDGET} times within",)

    def test_stuck_restarted_then_budget_spent(self):
        clients = self.warm_up()
        # 1. Stuck once: restarted, answers again.
        t_stuck = self.stick()
        time.sleep(1.5)
        # An exchange the server had begun before it got stuck may still complete.
        self.assertEqual(clients.oks_since(t_stuck + 0.5), 0, "the server still answers")
        self.wait("no restart", lambda: self.restart_lines(), timeout=30)
        first = self.wait("no applied restart in the audit log",
                          lambda: [a for a in self.actions()[1] if a["kind"] == "restart" and a["verdict"] == "applied"],
                          timeout=10)[0]
        t_restart = float(self.restart_lines()[0].split()[0])
        self.assertEqual(int(self.restart_lines()[0].split()[-1]), self.first.pid)
        self.first.proc.wait(timeout=5)
        self.assertEqual(self.first.proc.returncode, -signal.SIGKILL)
        self.wait("the restarted server does not answer", lambda: clients.oks_since(t_restart) >= 10, timeout=10)
        t_answers = min(x for x in clients.ok_at if x >= t_restart)
        print(f"stuck: restarted {t_restart - t_stuck:.1f} s after it got stuck, answering again "
              f"{t_answers - t_restart:.1f} s later ({first['summary']}; reason: {first['reason'][:200]})",
              file=sys.stderr)
        self.assertEqual(first["rule"], "stuck-restart")
        self.assertIn("traffic_shift", first["reason"])
        self.assertEqual(len(self.restart_lines()), 1, "restarted more than once for one stuck episode")
        # Let the anomaly resolve while the server answers (5 good windows), then more.
        time.sleep(COOLDOWN_S)
        self.assertEqual(len(self.restart_lines()), 1, "a healthy server was restarted again")

        # 2. Stuck for good: every restart comes back stuck.
        self.forever.write_text("stuck\n")
        t_stuck = self.stick()
        stopped = self.wait("no healing_stopped alert at the receiver",
                            lambda: [r for r in self.hook.snapshot() for a in r["body"]["alerts"]
                                     if a["labels"].get("type") == "healing_stopped"],
                            timeout=BUDGET * COOLDOWN_S + 40)
        t_alert = time.time()
        lines = self.restart_lines()
        print(f"budget: {len(lines)} restarts in all, healing_stopped at the receiver {t_alert - t_stuck:.1f} s "
              f"after the server got stuck for good", file=sys.stderr)
        self.assertEqual(len(lines), BUDGET, lines)
        alert = [a for r in self.hook.snapshot() for a in r["body"]["alerts"]
                 if a["labels"].get("type") == "healing_stopped"][0]
        self.assertEqual(alert["labels"]["service"], self.service)
        self.assertEqual(alert["labels"]["severity"], "critical")
        self.assertEqual(alert["status"], "firing")
        self.assertTrue(all(r["signature_ok"] for r in self.hook.snapshot()))
        status, acts = self.actions()
        self.assertIn(self.service, status["stopped_services"], status)
        refused = [a for a in acts if a["kind"] == "restart" and a["verdict"] == "refused"]
        self.assertTrue(refused, json.dumps(acts, indent=1)[:3000])
        self.assertIn("restart budget spent", refused[0]["reason"])
        self.assertEqual(len([a for a in acts if a["kind"] == "restart" and a["verdict"] == "applied"]), BUDGET)
        self.assertIn(f"healing: {self.service} restarted {BUDGET} times within", self.daemon.log_text())
        # And not restarted again: two more cooldowns with the anomaly still open.
        time.sleep(COOLDOWN_S + 3)
        self.assertEqual(len(self.restart_lines()), BUDGET, "restarted after the budget was spent")
        del stopped


if __name__ == "__main__":
    h.main()
