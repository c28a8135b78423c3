"""The daemon's web page in a real headless Chromium (Debian's `chromium`).

A Python server gets paced keep-alive traffic from the test; the daemon runs with 1 s
windows and a 4-window warm-up. Once the service is warm, a route it never served before
is called: a new_endpoint anomaly opens. Then:

 1. `/` is the page (text/html, a Content-Security-Policy that allows only the daemon
    itself, no caching surprises); its scripts and styles come from the daemon; the old
    text index is at /api/v1.
 2. Chromium loads the page (--dump-dom after the page's polls have run): the DOM shows
    the test's service with sparkline charts that have data, the open new_endpoint
    anomaly with its evidence, and "no actions yet".
 3. Chromium takes a 1280x900 screenshot (artifacts/web-page.png): a real PNG of that
    size with more than a blank page's bytes.
 4. A second daemon with api_token_file: the page still loads (it holds no data) and,
    since the API answers 401, shows the field that asks for the token.
Chromium runs with a fresh profile and everything that would reach the network off; every
run is bounded in time. Without chromium the test fails (never skips).
"""

import http.client
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

CHROMIUM = "chromium"
WARMUP_WINDOWS = 4
CONFIG = f"""\
aggregation:
  window: 1s
detection:
  warmup: {WARMUP_WINDOWS}
  min_requests: 5
  new_endpoint_hold: 120  # still open when the screenshot is taken
"""
TOKEN = "web-page-e2e-token-0123456789abcdef"


class PacedLoad:
    """Keep-alive GETs of `route` at `rate` per second from one thread, until stop() or
    the deadline."""

    def __init__(self, port: int, route: str, rate: float, deadline_s: float):
        self.port, self.route, self.period = port, route, 1.0 / rate
        self.deadline = time.monotonic() + deadline_s
        self.stop_event = threading.Event()
        self.sent = 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.thread.join(10)

    def _run(self):
        conn = None
        while not self.stop_event.is_set() and time.monotonic() < self.deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", self.route)
                conn.getresponse().read()
                self.sent += 1
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(repr(e))
                conn = None
            self.stop_event.wait(self.period)
        if conn is not None:
            conn.close()


def chromium(workdir: Path, url: str, *extra: str, timeout: float = 90) -> str:
    """One headless Chromium run with a fresh profile; returns its stdout."""
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir))
    try:
        r = h.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                   "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                   f"--user-data-dir={profile}", "--virtual-time-budget=8000", *extra, url],
                  timeout=timeout, env={"HOME": str(profile)})
        with (workdir / "chromium.log").open("a") as log:
            log.write(f"$ chromium {' '.join(extra)} {url}\n{r.stderr}\n")
        return r.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise AssertionError(f"not a PNG: {data[:16]!r}")
    return struct.unpack(">II", data[16:24])


class WebPage(h.DaemonTestCase):
    AUTO_DAEMON = False
    REQUIRED_BINARIES = ("curl", CHROMIUM)

    @classmethod
    def start_servers(cls):
        cls.pyserver, cls.port = h.start_python_server(cls.procs)
        cls.config = cls.workdir / "homeostat.yaml"
        cls.config.write_text(CONFIG)
        cls.daemon.start(extra_args=["--config", str(cls.config)])

    def json(self, path: str) -> dict:
        status, _, body = self.daemon.get(path)
        self.assertEqual(status, 200, f"{path}: {body[:500]}")
        return json.loads(body)

    def wait_for_anomaly(self, timeout: float) -> tuple[str, dict]:
        server = h.port_service(self.port)
        deadline = time.monotonic() + timeout
        doc = {}
        while time.monotonic() < deadline:
            doc = self.json("/api/v1/anomalies")
            for a in doc["anomalies"]:
                if (a["type"] == "new_endpoint" and server(a["service"]) and a["state"] == "open"
                        and a["endpoint"].startswith("GET /items")):
                    return a["service"], a
            time.sleep(0.2)
        self.fail(f"no open new_endpoint anomaly within {timeout} s: {doc}\n"
                  f"{self.daemon.managed.log_tail(20)}")

    def wait_for_points(self, service: str, points: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        doc = {}
        while time.monotonic() < deadline:
            status, _, body = self.daemon.get(f"/api/v1/timeline?service={service.replace(':', '%3A')}")
            if status == 200:
                doc = json.loads(body)
                if sum(1 for v in doc["requests_per_second"] if v) >= points:
                    return doc
            time.sleep(0.3)
        self.fail(f"the timeline of {service} has not {points} windows with requests after {timeout} s: {doc}")

    def test_page_in_chromium(self):
        load = PacedLoad(self.port, "/users/1", rate=20, deadline_s=120).start()
        self.addCleanup(load.stop)
        time.sleep(WARMUP_WINDOWS + 3)  # the service is warm: what is new now is news
        res = h.curl([f"http://127.0.0.1:{self.port}/items/{i}" for i in range(12)])
        self.assertAllOk(res, 200)
        service, anomaly = self.wait_for_anomaly(timeout=10)
        timeline = self.wait_for_points(service, 4, timeout=10)
        self.assertTrue(any(v and v > 0 for v in timeline["memory_bytes"]), timeline)
        self.assertEqual(load.errors, [])

        with self.subTest("the page, its files and the text index over HTTP"):
            status, headers, body = self.daemon.get("/")
            hdr = {k.lower(): v for k, v in headers.items()}
            self.assertEqual(status, 200)
            self.assertEqual(hdr["content-type"], "text/html; charset=utf-8")
            self.assertTrue(hdr["content-security-policy"].startswith("default-src 'self'"), hdr)
            self.assertEqual(hdr["cache-control"], "no-cache")
            self.assertIn('<script src="/ui/app.js"', body)
            for path, ctype in [("/ui/app.js", "text/javascript"), ("/ui/style.css", "text/css")]:
                status, headers, _ = self.daemon.get(path)
                self.assertEqual(status, 200, path)
                self.assertTrue(headers["Content-Type"].startswith(ctype), headers)
            status, _, index = self.daemon.get("/api/v1")
            self.assertEqual(status, 200)
            self.assertIn("/api/v1/timeline", index)

        with self.subTest("the DOM Chromium builds"):
            dom = chromium(self.workdir, self.daemon.base + "/", "--dump-dom")
            (self.workdir / "web-page.html").write_text(dom)
            self.assertIn('data-ready="true"', dom, "the page never finished a poll; DOM in web-page.html")
            rows = dict(re.findall(r'<tr data-service="([^"]+)">(.*?)</tr>', dom, re.S))
            self.assertIn(service, rows, f"no row for {service}; rows: {list(rows)}")
            ours = rows[service]
            points = [int(n) for n in re.findall(r'<svg class="spark"[^>]*data-points="(\d+)"', ours)]
            self.assertEqual(len(points), 5, ours[:2000])  # requests, errors, latency, CPU, memory
            self.assertGreaterEqual(points[0], 4, "the requests chart has too few points")
            self.assertGreaterEqual(points[2], 4, "the latency chart has too few points")
            self.assertRegex(ours, r'<path class="line ?[^"]*" d="M[0-9.]+,[0-9.]+(L[0-9.]+,[0-9.]+){3,}')
            self.assertRegex(ours, r'[0-9.]+/s')
            self.assertRegex(ours, r"[1-9][0-9]* open</span>")  # the row flags its open anomalies
            # (The test's own GETs of the daemon are client calls too: new endpoints of "python3".)
            cards = re.findall(r'<div class="anomaly warning" data-type="new_endpoint">(.*?)</dl>', dom, re.S)
            ours = [c for c in cards if f'<span class="where">{service} · {anomaly["endpoint"]}</span>' in c]
            self.assertEqual(len(ours), 1, f"no new_endpoint anomaly of {service} on the page: {cards}")
            self.assertIn('<span class="type">new endpoint</span>', ours[0])
            self.assertRegex(ours[0], r'<dt>observed</dt><dd><span class="observed">\d+</span> vs expected 0</dd>')
            self.assertIn("since ", ours[0])
            self.assertIn("no actions yet", dom)
            self.assertRegex(dom, r'<div id="banner" class="banner" role="alert" hidden=""')
            self.assertRegex(dom, r'<form id="token-form" class="token" hidden=""')

        with self.subTest("a screenshot at 1280x900"):
            shot = self.workdir / "web-page.png"
            chromium(self.workdir, self.daemon.base + "/", f"--screenshot={shot}", "--window-size=1280,900",
                     "--hide-scrollbars")
            data = shot.read_bytes() if shot.exists() else b""
            self.assertTrue(data, f"chromium wrote no {shot}")
            self.assertEqual(png_size(data), (1280, 900))
            self.assertGreater(len(data), 40_000, "the screenshot looks blank")

    def test_token_is_asked_for(self):
        token = self.workdir / "token"
        token.write_text(TOKEN + "\n")
        os.chmod(token, 0o600)
        cfg = self.workdir / "token.yaml"
        cfg.write_text(f"api_token_file: {token}\n")
        (self.workdir / "tok").mkdir(exist_ok=True)
        procs = h.ProcessSet(self.workdir / "tok")
        self.addCleanup(procs.stop_all)
        d = h.Daemon(procs, self.workdir / "tok")
        d.start(extra_args=["--config", str(cfg)])
        self.assertEqual(h.http_get(d.base + "/")[0], 200)  # the page holds no data
        self.assertEqual(h.http_get(d.base + "/ui/app.js")[0], 200)
        self.assertEqual(h.http_get(d.base + "/api/v1/status")[0], 401)
        dom = chromium(self.workdir, d.base + "/", "--dump-dom")
        (self.workdir / "web-page-token.html").write_text(dom)
        self.assertRegex(dom, r'<form id="token-form" class="token">', "the token field is hidden")
        self.assertIn("The API needs a token", dom)
        self.assertIn("needs token", dom)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    h.main()
