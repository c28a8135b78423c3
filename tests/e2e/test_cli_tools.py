"""`homeostat endpoints`, `report` and `top` against a real daemon and a real Python server.

curl drives a usage pattern like the one the report exists for: health checks dominating
the traffic, a few 404s (/favicon.ico, /missing), some lookups and a slow route. Then:
- `homeostat endpoints SERVICE` (table and --json) lists every route with the exact counts
  curl made (totals, 404s);
- `homeostat report --json` has the dominating-endpoint finding for /healthz (a health
  check, so the advice is to probe less often) and the 404 findings with their counts;
- `homeostat top --iterations 2` prints two frames, both with the service; under tmux it
  redraws in place until q and leaves the terminal as it found it.
"""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

HEALTHZ, USERS, FAVICON, MISSING, SLOW = 60, 8, 5, 3, 3


class CliTools(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl", "tmux")

    @classmethod
    def start_servers(cls):
        mode = cls.workdir / "routes.json"
        mode.write_text(json.dumps({"routes": {"/healthz": {"delay_ms": 0, "error_ratio": 0.0}}}))
        cls.port = h.free_port()
        m = cls.procs.start("pyserver", [sys.executable, str(h.SERVERS / "py_http_server.py"), "--port",
                                         str(cls.port), "--slow-ms", "600", "--mode-file", str(mode)])
        h.wait_for_port(cls.port, proc=m)
        base = f"http://127.0.0.1:{cls.port}"
        # Health checks first: whatever history windows close meanwhile see them dominate too.
        results = h.curl([f"{base}/healthz"] * HEALTHZ)
        results += h.curl([f"{base}/users/{i}" for i in range(1, USERS + 1)])
        results += h.curl([f"{base}/favicon.ico"] * FAVICON + [f"{base}/missing"] * MISSING)
        results += h.curl([f"{base}/slow"] * SLOW)
        codes = [r.code for r in results]
        expected = [200] * (HEALTHZ + USERS) + [404] * (FAVICON + MISSING) + [200] * SLOW
        assert codes == expected, f"curl got {codes}"
        cls.service = cls.wait_for_counts()

    @classmethod
    def endpoints(cls) -> list:
        status, _, body = cls.daemon.get("/api/v1/endpoints")
        assert status == 200, f"/api/v1/endpoints answered {status}: {body[:300]}"
        return [e for e in json.loads(body)["endpoints"]
                if e["service"].endswith(f":{cls.port}") and e["role"] == "server"]

    @classmethod
    def wait_for_counts(cls) -> str:
        want = HEALTHZ + USERS + FAVICON + MISSING + SLOW
        deadline = time.monotonic() + h.SETTLE_TIMEOUT
        seen = []
        while time.monotonic() < deadline:
            seen = cls.endpoints()
            if sum(e["requests_total"] for e in seen) >= want:
                return seen[0]["service"]
            time.sleep(0.2)
        raise AssertionError(f"the daemon did not see {want} server exchanges on :{cls.port}: {seen}")

    def cli(self, *args, timeout=30):
        r = subprocess.run([h.HOMEOSTAT_CLI, "--addr", f"127.0.0.1:{self.daemon.port}", *args],
                           capture_output=True, text=True, timeout=timeout)
        self.assertEqual(r.returncode, 0, f"homeostat {' '.join(args)}: {r.stderr}")
        # Kept with the test's artifacts: what an operator would have read.
        with open(self.workdir / "cli-output.txt", "a") as f:
            f.write(f"$ homeostat {' '.join(args)}\n{r.stdout}\n")
        return r.stdout

    def test_endpoints_table_and_json(self):
        text = self.cli("endpoints", self.service)
        rows = {}
        for line in text.splitlines()[1:]:
            cols = line.split()
            if len(cols) == 11:  # SERVICE ROLE METHOD ROUTE REQUESTS RATE ERR% 404 P50 P95 P99
                rows[cols[3]] = cols
        expected = {"/healthz": (HEALTHZ, 0), "/users/{id}": (USERS, 0), "/favicon.ico": (FAVICON, FAVICON),
                    "/missing": (MISSING, MISSING), "/slow": (SLOW, 0)}
        for route, (n, not_found) in expected.items():
            with self.subTest(route=route):
                self.assertIn(route, rows, text)
                self.assertEqual(int(rows[route][4]), n, text)
                self.assertEqual(int(rows[route][7]), not_found, text)
                self.assertEqual(rows[route][2], "GET")
        # Sorted by rate: the health checks are first.
        self.assertEqual(text.splitlines()[1].split()[3], "/healthz", text)
        doc = json.loads(self.cli("--json", "endpoints", self.service))
        by_route = {e["route"]: e for e in doc["endpoints"] if e["role"] == "server"}
        self.assertEqual(by_route["/healthz"]["status"], {"200": HEALTHZ})
        self.assertEqual(by_route["/favicon.ico"]["status"], {"404": FAVICON})
        self.assertEqual(by_route["/slow"]["errors_total"], 0)
        self.assertGreaterEqual(by_route["/slow"]["recent"]["p99"], 0.6)

    def test_report_findings(self):
        report = json.loads(self.cli("--json", "report", "--since", "10m"))
        mine = [f for f in report["findings"] if f["service"] == self.service]
        dominant = [f for f in mine if f["kind"] == "dominant_endpoint"]
        self.assertEqual([f["endpoint"] for f in dominant], ["GET /healthz"], json.dumps(report, indent=1))
        self.assertGreaterEqual(dominant[0]["value"], 0.5)
        self.assertIn("probe less often", dominant[0]["recommendation"])
        not_found = {f["endpoint"]: f for f in mine if f["kind"] == "not_found"}
        self.assertEqual(set(not_found), {"GET /favicon.ico", "GET /missing"}, json.dumps(mine, indent=1))
        self.assertEqual(not_found["GET /favicon.ico"]["value"], FAVICON)
        self.assertEqual(not_found["GET /missing"]["value"], MISSING)
        self.assertIn("favicon", not_found["GET /favicon.ico"]["recommendation"])
        # The 600 ms route is the slowest, over the 500 ms warning.
        slow = [f for f in mine if f["kind"] == "slow_endpoint"]
        self.assertEqual([f["endpoint"] for f in slow], ["GET /slow"], json.dumps(mine, indent=1))
        text = self.cli("report")
        self.assertIn("GET /healthz is", text)
        self.assertIn("→ health checks dominate", text)

    def test_top_two_frames(self):
        start = time.monotonic()
        out = self.cli("top", "--iterations", "2", "--interval", "1s")
        self.assertGreaterEqual(time.monotonic() - start, 1.0, "the frames were not an interval apart")
        frames = re.split(r"(?m)^homeostat top - ", out)[1:]
        self.assertEqual(len(frames), 2, out)
        for f in frames:  # (other tests' servers on the host may out-busy ours' endpoints)
            self.assertIn(self.service, f)
        # The second frame has a rate from the difference of the two.
        self.assertRegex(frames[1], r"events: \d+ HTTP exchanges, [\d.]+k?/s", out)

    def test_top_interactive_under_tmux(self):
        """On a terminal: redraws until q, then the terminal is as it was (icanon, echo)."""
        sock = f"homeostat-e2e-{self.daemon.port}"  # our own tmux server, killed below
        tmux = ["tmux", "-L", sock]
        cmd = (f"{h.HOMEOSTAT_CLI} --addr 127.0.0.1:{self.daemon.port} top --interval 1s; "
               f"echo EXITED $?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon\\|-\\?echo'; sleep 60")
        subprocess.run(tmux + ["new-session", "-d", "-s", "top", "-x", "200", "-y", "120", cmd],
                       check=True, timeout=10)
        self.addCleanup(subprocess.run, tmux + ["kill-server"], timeout=10)

        def pane() -> str:
            return subprocess.run(tmux + ["capture-pane", "-p", "-t", "top"], capture_output=True,
                                  text=True, timeout=10).stdout

        def wait_for(pred, what):
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                text = pane()
                if pred(text):
                    return text
                time.sleep(0.3)
            self.fail(f"tmux pane never showed {what}:\n{pane()}")

        first = wait_for(lambda t: self.service in t and "(q to quit)" in t, "a frame with the service")
        self.assertEqual(first.count("homeostat top - "), 1, "the screen is not cleared between frames")
        stamp = re.search(r"homeostat top - (\S+)", first).group(1)
        wait_for(lambda t: re.search(r"homeostat top - (\S+)", t) and
                 re.search(r"homeostat top - (\S+)", t).group(1) != stamp, "a redraw")
        subprocess.run(tmux + ["send-keys", "-t", "top", "q"], check=True, timeout=10)
        after = wait_for(lambda t: "EXITED" in t and "icanon" in t, "top exiting on q")
        self.assertIn("EXITED 0", after)
        lines = [line.strip() for line in after.splitlines()]
        self.assertIn("icanon", lines, f"canonical mode not restored:\n{after}")
        self.assertIn("echo", lines, f"echo not restored:\n{after}")


if __name__ == "__main__":
    h.main()
