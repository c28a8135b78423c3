"""A stuck service in dry-run: the restart is planned and logged, nothing is restarted (issue 6).

test_healing_restart's stuck server, restart script and rules, with
guardrails.restarts_enabled left false (restarts are dry-run until enabled, whatever the
global dry_run says). The server gets stuck; the daemon's audit log gets a dry_run restart
whose summary is the exact command it would run, the log says "dry-run: restart on …",
and the host is as it was: the restart script never ran, the same server process is
still there (still stuck), and a cooldown later it still has not been restarted.
Measured (printed): time from stuck to the planned restart.
"""

import sys
import time
import http.client
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402
import test_healing_restart as stuck  # noqa: E402  (as a module: its test class does not run here)


class HealingRestartDryRun(stuck.StuckServer, h.DaemonTestCase):
    RESTARTS_ENABLED = False

    def test_stuck_restart_is_only_planned(self):
        self.warm_up()
        t_stuck = self.stick()
        dry = self.wait("no dry-run restart in the audit log",
                        lambda: [a for a in self.actions()[1] if a["kind"] == "restart" and a["verdict"] == "dry_run"],
                        timeout=30)[0]
        print(f"dry run: restart planned {dry['at'] - t_stuck:.1f} s after the server got stuck: {dry['summary']}",
              file=sys.stderr)
        self.assertEqual(dry["rule"], "stuck-restart")
        self.assertIn("traffic_shift", dry["reason"])
        self.assertIn("dry run", dry["summary"])
        self.assertIn(str(self.restart_script), dry["summary"])  # exactly what it would run
        self.assertTrue(dry["detail"]["decision"]["action"]["dry_run"], dry["detail"])
        log = self.daemon.log_text()
        self.assertIn(f"dry-run: restart on {self.service}", log)
        status, acts = self.actions()
        self.assertEqual(status["stopped_services"], [], status)
        self.assertFalse([a for a in acts if a["verdict"] in ("applied", "failed")], acts)

        # Nothing changed on the host, a cooldown later too.
        time.sleep(stuck.COOLDOWN_S + 2)
        self.assertEqual(self.restart_lines(), [], "the restart script ran")
        self.assertTrue(self.first.alive(), "the stuck server is gone")
        self.assertEqual(int(self.pidfile.read_text()), self.first.pid)
        with self.assertRaises((OSError, http.client.HTTPException), msg="the server answers: not stuck"):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            c.request("GET", "/")
            c.getresponse()
        self.assertFalse([a for a in self.actions()[1] if a["verdict"] in ("applied", "failed")])


if __name__ == "__main__":
    h.main()
