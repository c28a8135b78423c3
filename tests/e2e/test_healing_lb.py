"""Load-balancer weights from upstream health, through two real nginx reverse proxies.

Two Python backends A and B on 127.0.0.1 (their latency set by the test), each behind
both nginx instances in an `upstream` block whose servers come from an include:

  nginx "lb"      healing.load_balancing group writes {{weight.<A>}}/{{weight.<B>}} into
                  its include (atomically, with a backup), `nginx -t`, SIGHUP;
  nginx "lb-dry"  a group with dry_run: true and the one-line {{upstream_servers}} block:
                  nothing is written, the audit says exactly what would be.

 1. Both healthy: equal weights, nothing written; B gets about half of the requests
    (nginx's access log records $upstream_addr of every request).
 2. B answers in 400 ms: within a bounded time the daemon writes a low weight for B,
    reloads nginx, `nginx -T` shows it, the audit has the evidence (score, EMA latency,
    success per upstream) and B's share of the requests falls. The dry-run nginx's
    include is byte for byte unchanged; its audit entry shows the line it would write.
 3. B is fast again: the trickle it kept shows the recovery; its weight goes back up.
"""

import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

SLOW_MS = 400


class HealingLoadBalancing(h.DaemonTestCase):
    AUTO_DAEMON = False
    REQUIRED_BINARIES = ("curl", h.NGINX)

    @classmethod
    def start_servers(cls):
        cls.ports, cls.modes = [], []
        for name in ("backend-a", "backend-b"):
            mode = cls.workdir / f"{name}.json"
            h.write_mode(mode, 0)
            port = h.free_port()
            m = cls.procs.start(name, [sys.executable, str(h.SERVERS / "py_http_server.py"), "--port", str(port),
                                       "--mode-file", str(mode)])
            h.wait_for_port(port, proc=m)
            cls.ports.append(port)
            cls.modes.append(mode)
        cls.a, cls.b = (f"127.0.0.1:{p}" for p in cls.ports)
        cls.real = cls.start_proxy("lb", f"server {cls.a} weight=100;\nserver {cls.b} weight=100;\n")
        cls.dry = cls.start_proxy("lb-dry", f"server {cls.a} weight=100; server {cls.b} weight=100;\n")
        key = lambda u: u.replace(":", "_")  # noqa: E731 (the variable-name form)
        template = (f"server {cls.a} weight={{{{weight.{key(cls.a)}}}}};\\n"
                    f"server {cls.b} weight={{{{weight.{key(cls.b)}}}}};\\n")
        cfg = cls.workdir / "homeostat.yaml"
        group = "alpha: 0.8, min_requests: 10, cooldown: 4s, latency_floor: 50ms"
        cfg.write_text(h.healing_yaml_head(max_actions_per_service_per_hour=20) + "  files:\n"
                       + h.nginx_file_yaml("lb-upstreams", cls.real["include"], template, cls.real["dir"])
                       + h.nginx_file_yaml("lb-dry-upstreams", cls.dry["include"], "{{upstream_servers}}\\n",
                                           cls.dry["dir"])
                       + f"""\
  load_balancing:
    - {{service: "nginx:{cls.real['port']}", upstreams: ["{cls.a}", "{cls.b}"], file: lb-upstreams, {group}}}
    - {{service: "nginx:{cls.dry['port']}", upstreams: ["127.0.0.1:*"], file: lb-dry-upstreams, dry_run: true,
        {group}}}
""")
        cls.daemon.start(extra_args=["--config", str(cfg)])

    @classmethod
    def start_proxy(cls, name: str, servers: str) -> dict:
        d = cls.workdir / name
        d.mkdir(parents=True, exist_ok=True)
        include, log = d / "upstreams.conf", d / "upstream-access.log"
        include.write_text(servers)
        log.write_text("")
        http_extra = (f"    log_format upstream_only '$upstream_addr';\n"
                      f"    upstream backends {{\n        include {include};\n        keepalive 16;\n    }}\n")
        server = ("        location / {\n"
                  "            proxy_pass http://backends;\n"
                  "            proxy_http_version 1.1;\n"
                  "            proxy_set_header Connection \"\";\n"
                  f"            access_log {log} upstream_only;\n"
                  "        }\n")
        _, port, _ = h.start_nginx(cls.procs, cls.workdir, server_body=server, http_extra=http_extra, name=name)
        return {"dir": d, "port": port, "include": include, "log": log}

    def weights_in_config(self, proxy: dict) -> dict[str, int]:
        """upstream → weight as nginx -T shows it (what nginx loads)."""
        out = h.nginx_dump(proxy["dir"])
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"server (127\.0\.0\.1:\d+) weight=(\d+);", out)}

    def share_of_b(self, proxy: dict, seconds: float) -> tuple[float, int]:
        """B's share of the requests nginx sent upstream during the next `seconds`."""
        start = proxy["log"].stat().st_size
        time.sleep(seconds)
        with proxy["log"].open() as f:
            f.seek(start)
            lines = [l.strip() for l in f.read().splitlines()[1:] if l.strip()]  # the first may be partial
        self.assertGreater(len(lines), 20, f"too few requests through nginx in {seconds} s")
        return sum(1 for l in lines if l == self.b) / len(lines), len(lines)

    def lb_actions(self, verdict: str, port: int) -> list[dict]:
        return self.actions("load_balancing", verdict, f"nginx:{port}")

    def test_sick_upstream_loses_weight(self):
        loads = [h.KeepAliveLoad(p["port"], threads=4) for p in (self.real, self.dry)]
        for load in loads:
            self.addCleanup(load.close)
        dry_before = self.dry["include"].read_bytes()
        with self.subTest("1. healthy: equal weights, nothing written"):
            time.sleep(7)  # the warm-up and a few EMA steps
            share, n = self.share_of_b(self.real, 3)
            print(f"\nhealthy: B got {share:.0%} of {n} requests", flush=True)
            self.assertTrue(0.3 <= share <= 0.7, f"round robin over equal weights: B's share {share:.2f}")
            self.assertEqual(self.weights_in_config(self.real), {self.a: 100, self.b: 100})
            self.assertEqual(self.lb_actions("applied", self.real["port"]), [])

        with self.subTest("2. B turns slow: its weight falls, nginx reloads, B's share falls"):
            h.write_mode(self.modes[1], SLOW_MS)
            t0 = time.monotonic()
            ctx = lambda: f"include: {self.real['include'].read_text()!r}"  # noqa: E731
            self.wait_until("a lower weight for B in the include",
                            lambda: f"{self.b} weight=100;" not in self.real["include"].read_text(), 40, ctx)
            took = time.monotonic() - t0
            w = self.wait_until("nginx -T with the new weights",
                                lambda: (lambda w: w if w.get(self.b, 100) < 100 else None)(
                                    self.weights_in_config(self.real)), 10, ctx)
            print(f"B slow ({SLOW_MS} ms): weights {w} written after {took:.1f} s", flush=True)
            self.assertEqual(w[self.a], 100)
            self.assertLessEqual(w[self.b], 30, w)
            self.assertTrue((self.real["dir"] / "upstreams.conf.homeostat.bak").exists())
            applied = self.lb_actions("applied", self.real["port"])
            self.assertTrue(applied, self.actions())
            a = applied[0]
            print(f"audit: {a['summary']}; {a['reason']}", flush=True)
            self.assertEqual(a["kind"], "config_file")
            self.assertIn(f"+server {self.b} weight={w[self.b]};", a["summary"])
            self.assertRegex(a["reason"], rf"{re.escape(self.b)} weight {w[self.b]} \(score [0-9.]+, EMA latency "
                                          rf"[0-9.]+ ms, 100\.00 % ok\)")
            vars_ = json.loads(a["detail"])["decision"]["action"]["vars"] if isinstance(a["detail"], str) \
                else a["detail"]["decision"]["action"]["vars"]
            b_key = self.b.replace(":", "_")
            self.assertGreater(float(vars_[f"latency_ms.{b_key}"]), 150, vars_)
            status, _, body = self.daemon.get("/api/v1/tuned")
            self.assertEqual(status, 200, body)
            tuned = [t for t in json.loads(body)["tuned"] if t["target"] == "lb-upstreams"]
            self.assertTrue(tuned, body)
            self.assertEqual(tuned[0]["settings"]["upstreams"][self.b]["weight"], w[self.b])
            time.sleep(1.5)  # the old workers finish their requests
            share, n = self.share_of_b(self.real, 4)
            print(f"after the reload: B got {share:.0%} of {n} requests", flush=True)
            self.assertLess(share, 0.25, f"B's share with weights {w}")
            self.assertEqual(h.http_get(f"http://127.0.0.1:{self.real['port']}/users/1", timeout=10)[0], 200)

        with self.subTest("dry run: the other nginx's include is unchanged, the audit shows the line"):
            dry = self.wait_until("a dry-run load_balancing entry",
                                  lambda: self.lb_actions("dry_run", self.dry["port"]), 20)
            self.assertEqual(self.dry["include"].read_bytes(), dry_before)
            self.assertFalse((self.dry["dir"] / "upstreams.conf.homeostat.bak").exists())
            self.assertEqual(self.weights_in_config(self.dry), {self.a: 100, self.b: 100})
            plus = re.search(r" / \+(.*?);; backup", dry[0]["summary"])  # the one line it would write
            self.assertIsNotNone(plus, dry[0]["summary"])
            would = dict(re.findall(r"server (127\.0\.0\.1:\d+) weight=(\d+)", plus.group(1)))
            self.assertEqual(would[self.a], "100", dry[0]["summary"])
            self.assertLessEqual(int(would[self.b]), 30, dry[0]["summary"])
            self.assertIn("dry run", dry[0]["summary"])
            print(f"dry run audit: {dry[0]['summary']}", flush=True)
            self.assertEqual(self.lb_actions("applied", self.dry["port"]), [])

        with self.subTest("3. B is fast again: its weight goes back up"):
            h.write_mode(self.modes[1], 0)
            w = self.wait_until("B's weight back up in nginx -T",
                                lambda: (lambda w: w if w.get(self.b, 0) >= 80 else None)(
                                    self.weights_in_config(self.real)), 40)
            print(f"B fast again: weights {w}", flush=True)
        codes = [load.close() for load in loads]
        print(f"load: {codes}", flush=True)
        for c in codes:
            self.assertGreater(c.get(200, 0), 100, c)
            self.assertEqual([k for k in c if k >= 500], [], f"nginx kept serving: {c}")
            # A reload closes the old workers' idle keep-alive connections: the loader sees a
            # connection error on the few it was about to reuse (it reconnects at once).
            self.assertLess(c.get(0, 0), 0.02 * sum(c.values()), c)


if __name__ == "__main__":
    h.main()
