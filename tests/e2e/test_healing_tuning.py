"""Config tuning through a real nginx: the tuner writes the timeout nginx gives its upstream.

curl-like clients → nginx (reverse proxy, `include timeouts.conf` in its location) →
a Python backend whose latency the test sets. homeostatd sees nginx's own upstream calls
(its client side), and healing.tuning makes it write `proxy_read_timeout {{timeout_s}}s;`
into the include (atomically, with a backup), check it with `nginx -t`, and reload nginx
(a command that sends SIGHUP to the master's pid). A second nginx ("nginx-dry", same
backend, same load) is a tuning target with dry_run: true.

 1. Backend at ~1.5 s: the timeout goes from the file's 60 s to p99 × 1.5 ≈ 3 s;
    `nginx -T` shows it; /api/v1/tuned and /api/v1/actions record it.
 2. Dry run: the same tuning of nginx-dry is a dry_run entry whose summary is the exact
    line it would write, the check and the reload it would run; nginx-dry's include,
    its `nginx -T` and its directory (no backup) are unchanged.
 3. The check fails (the test makes `nginx -t` fail) while the backend gets faster:
    the previous include stays (restored from the backup), nginx keeps serving, the
    audit log says "failed" with the check's error.
 4. The check passes again: the faster backend's timeout (1 s) is written.
 5. The reload fails (the test's reload command refuses any include but the current
    one) while the backend gets slower: the new include is written, checked, its reload
    fails, the previous include is restored and reloaded; `nginx -T` shows it and nginx
    serves.
"""

import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402


class HealingTuning(h.DaemonTestCase):
    AUTO_DAEMON = False
    REQUIRED_BINARIES = ("curl", h.NGINX)
    EXPECTED_ERROR_LINES = (r"healing: config_file on .* failed: (check|reload) failed",)

    @classmethod
    def start_servers(cls):
        cls.mode_file = cls.workdir / "mode.json"
        cls.set_delay(1500)
        cls.backend_port = h.free_port()
        cls.backend = cls.procs.start("backend", [sys.executable, str(h.SERVERS / "py_http_server.py"),
                                                  "--port", str(cls.backend_port), "--mode-file", str(cls.mode_file)])
        h.wait_for_port(cls.backend_port, proc=cls.backend)
        cls.ndir = cls.workdir / "nginx"
        cls.ndir.mkdir(parents=True, exist_ok=True)
        cls.include = cls.ndir / "timeouts.conf"
        cls.include.write_text("proxy_read_timeout 60s;\n")
        upstream = f"    upstream backend {{\n        server 127.0.0.1:{cls.backend_port};\n        keepalive 16;\n    }}\n"
        server = ("        location / {\n"
                  "            proxy_pass http://backend;\n"
                  "            proxy_http_version 1.1;\n"
                  "            proxy_set_header Connection \"\";\n"
                  f"            include {cls.include};\n"
                  "        }\n")
        cls.nginx, cls.port, _ = h.start_nginx(cls.procs, cls.workdir, server_body=server, http_extra=upstream)
        # The dry-run twin: its own directory and include, same backend.
        cls.dry_dir = cls.workdir / "nginx-dry"
        cls.dry_dir.mkdir(parents=True, exist_ok=True)
        cls.dry_include = cls.dry_dir / "timeouts.conf"
        cls.dry_include.write_text("proxy_read_timeout 60s;\n")
        cls.dry_nginx, cls.dry_port, _ = h.start_nginx(
            cls.procs, cls.workdir, server_body=server.replace(str(cls.include), str(cls.dry_include)),
            http_extra=upstream, name="nginx-dry")
        cls.fail_marker = cls.workdir / "fail-check"
        cls.reload_guard = cls.workdir / "reload-guard"
        cfg = cls.workdir / "homeostat.yaml"
        cfg.write_text(h.healing_yaml_head(cooldown_seconds="2s", max_actions_per_service_per_hour=30) + "  files:\n"
                       + h.nginx_file_yaml("nginx-timeouts", cls.include, "proxy_read_timeout {{timeout_s}}s;\\n",
                                           cls.ndir, cls.fail_marker, cls.reload_guard)
                       + h.nginx_file_yaml("nginx-dry-timeouts", cls.dry_include,
                                           "proxy_read_timeout {{timeout_s}}s;\\n", cls.dry_dir)
                       + f"""\
  tuning:
    min_requests: 10
    cooldown: 2s
    timeout_min_ms: 500
    targets:
      - service: "nginx:{cls.port}"
        upstream: "127.0.0.1:{cls.backend_port}"
        file: nginx-timeouts
      - service: "nginx:{cls.dry_port}"
        upstream: "127.0.0.1:{cls.backend_port}"
        file: nginx-dry-timeouts
        dry_run: true
""")
        cls.daemon.start(extra_args=["--config", str(cfg)])

    @classmethod
    def set_delay(cls, ms: int):
        h.write_mode(cls.mode_file, ms)

    def nginx_timeout(self, d: Path | None = None) -> str:
        out = h.nginx_dump(d or self.ndir)
        lines = [l.strip() for l in out.splitlines() if l.strip().startswith("proxy_read_timeout")]
        self.assertEqual(len(lines), 1, out)
        return lines[0]

    def wait_for(self, what: str, pred, timeout: float):
        return self.wait_until(what, pred, timeout, lambda: f"include: {self.include.read_text()!r}")

    def failed(self, what: str) -> list[dict]:
        return [a for a in self.actions("tuner", "failed", f"nginx:{self.port}") if what in a["summary"]]

    def test_tuned_timeout_reaches_nginx(self):
        load = h.KeepAliveLoad(self.port)
        self.addCleanup(load.close)
        dry_load = h.KeepAliveLoad(self.dry_port, threads=4)
        self.addCleanup(dry_load.close)
        t0 = time.monotonic()
        with self.subTest("1. timeout follows the upstream's p99"):
            self.wait_for("the include to be rewritten", lambda: "60s" not in self.include.read_text(), 60)
            secs = int(self.include.read_text().split()[1].rstrip("s;"))
            self.assertTrue(3 <= secs <= 4, f"p99 ≈ 1.5 s × 1.5 → 3 s (got {secs} s)")
            self.assertEqual(self.nginx_timeout(), f"proxy_read_timeout {secs}s;")
            print(f"\ntimeout tuned to {secs} s after {time.monotonic() - t0:.1f} s of load", flush=True)
            self.assertTrue((self.ndir / "timeouts.conf.homeostat.bak").exists())
            applied = self.actions("tuner", "applied", f"nginx:{self.port}")
            self.assertTrue(applied, self.actions())
            self.assertEqual(applied[0]["kind"], "config_file")
            status, _, body = self.daemon.get("/api/v1/tuned")
            tuned = json.loads(body)["tuned"]
            mine = [t for t in tuned if t["target"] == f"127.0.0.1:{self.backend_port}"]
            self.assertEqual(len(mine), 1, tuned)
            self.assertGreaterEqual(mine[0]["settings"]["timeout_ms"], 2000)
            # nginx re-read its config: the reload reached it, and it serves.
            self.assertEqual(h.http_get(f"http://127.0.0.1:{self.port}/users/1", timeout=10)[0], 200)

        with self.subTest("2. dry run: nginx-dry's include is unchanged, the audit shows what it would do"):
            dry = self.wait_for("a dry-run tuner entry for nginx-dry",
                                lambda: self.actions("tuner", "dry_run", f"nginx:{self.dry_port}"), 30)[0]
            print(f"dry run audit: {dry['summary']}", flush=True)
            self.assertEqual(self.dry_include.read_text(), "proxy_read_timeout 60s;\n")
            self.assertEqual(self.nginx_timeout(self.dry_dir), "proxy_read_timeout 60s;")
            self.assertFalse((self.dry_dir / "timeouts.conf.homeostat.bak").exists())
            self.assertIn("dry run", dry["summary"])
            self.assertIn(f"config file nginx-dry-timeouts {self.dry_include}: ", dry["summary"])
            self.assertIn("-proxy_read_timeout 60s;", dry["summary"])
            would = re.search(r"\+proxy_read_timeout (\d+)s;", dry["summary"])
            self.assertIsNotNone(would, dry["summary"])
            self.assertTrue(3 <= int(would[1]) <= 4, dry["summary"])
            self.assertIn("nginx -t", dry["summary"])  # the check it would run
            self.assertIn("reload SIGHUP", dry["summary"])
            self.assertFalse(self.actions(verdict="applied", service=f"nginx:{self.dry_port}")
                             + self.actions(verdict="failed", service=f"nginx:{self.dry_port}"), self.actions())
            self.assertEqual(h.http_get(f"http://127.0.0.1:{self.dry_port}/users/1", timeout=10)[0], 200)

        with self.subTest("3. a failing check keeps the previous file; nginx serves on"):
            before = self.include.read_text()
            self.fail_marker.write_text("x")
            self.set_delay(100)
            failed = self.wait_for("a failed tuner action", lambda: self.failed("check failed"), 60)[0]
            self.assertIn("check failed", failed["summary"])
            self.assertEqual(self.include.read_text(), before)
            self.assertEqual(self.nginx_timeout(), before.strip())
            self.assertEqual(h.http_get(f"http://127.0.0.1:{self.port}/users/2", timeout=10)[0], 200)

        with self.subTest("4. the check passes again: the faster backend's timeout is written"):
            self.fail_marker.unlink()
            self.wait_for("the short timeout", lambda: self.include.read_text().strip() == "proxy_read_timeout 1s;", 60)
            self.assertEqual(self.nginx_timeout(), "proxy_read_timeout 1s;")
            self.assertEqual(h.http_get(f"http://127.0.0.1:{self.port}/users/3", timeout=10)[0], 200)

        with self.subTest("5. a failing reload restores the previous file; nginx serves on"):
            before = self.include.read_text()
            self.reload_guard.write_text(before)
            # Slower, but within the current 1 s timeout: nginx's upstream calls complete,
            # and the tuner asks for 0.7 s × 1.5 → 2 s.
            self.set_delay(700)
            failed = self.wait_for("a failed reload", lambda: self.failed("reload failed"), 60)[0]
            print(f"failed reload audit: {failed['summary']}", flush=True)
            self.assertIn("reload refused by the test", failed["summary"])
            self.assertIn(f"previous content of {self.include} restored and reloaded", failed["summary"])
            self.assertEqual(self.include.read_text(), before)
            self.assertEqual(self.nginx_timeout(), before.strip())
            self.assertEqual(h.http_get(f"http://127.0.0.1:{self.port}/users/4", timeout=10)[0], 200)
        codes = load.close()
        print(f"load: {codes}", flush=True)
        self.assertGreater(codes.get(200, 0), 50, codes)


if __name__ == "__main__":
    h.main()
