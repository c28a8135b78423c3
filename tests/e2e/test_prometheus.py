"""Debian's Prometheus scrapes homeostatd every second.

25 requests to a Python server; after two scrapes, the PromQL sum of
http_server_request_duration_seconds_count for that server's service is 25 and equals
what /metrics says, and /api/v1/targets shows the target up with no lastError (which is
where Prometheus reports exposition it cannot parse).
"""

import json
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

N = 25


class PrometheusScrape(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl", h.PROMETHEUS)

    @classmethod
    def start_servers(cls):
        cls.py, cls.port = h.start_python_server(cls.procs)
        cls.prom, cls.prom_port = h.start_prometheus(
            cls.procs, cls.workdir, target=f"127.0.0.1:{cls.daemon.port}")

    def prom_api(self, path: str, **params) -> dict:
        url = f"http://127.0.0.1:{self.prom_port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, _, body = h.http_get(url, timeout=5)
        self.assertEqual(status, 200, f"{url}: {body[:500]}")
        data = json.loads(body)
        self.assertEqual(data.get("status"), "success", body[:500])
        return data["data"]

    def target(self) -> dict | None:
        """The one active target; None until Prometheus' discovery has handed it to the
        scrape manager (throttled to every 5 s, so up to ~5 s after start)."""
        active = self.prom_api("/api/v1/targets")["activeTargets"]
        self.assertLessEqual(len(active), 1, json.dumps(active, indent=1))
        return active[0] if active else None

    def wait_scrapes_after(self, t: float, n: int = 2, timeout: float = 20.0):
        """Wait until Prometheus has scraped n times after wall-clock time t."""
        seen = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tgt = self.target() or {}
            last = tgt.get("lastScrape", "")
            ts = _rfc3339(last)
            if ts is not None and ts > t:
                seen.add(last)
                if len(seen) >= n:
                    return tgt
            time.sleep(0.25)
        self.fail(f"Prometheus did not scrape {n} times within {timeout}s; target: "
                  f"{json.dumps(self.target(), indent=1)}\nprometheus log:\n"
                  f"{self.prom.log_tail()}")

    def test_prometheus_agrees(self):
        base = f"http://127.0.0.1:{self.port}"
        res = h.curl([f"{base}/users/{i}" for i in range(1, 16)])
        res += h.curl_each([f"{base}/users/{i}" for i in range(16, 26)])
        self.assertEqual(len(res), N)
        self.assertAllOk(res, 200)
        svc = h.port_service(self.port)
        local = self.assertSettledCount(h.SERVER_HIST + "_count", N, service=svc)
        settled_at = time.time()

        tgt = self.wait_scrapes_after(settled_at, n=2)
        with self.subTest("target healthy"):
            self.assertEqual(tgt.get("health"), "up", json.dumps(tgt, indent=1))
            self.assertEqual(tgt.get("lastError"), "", json.dumps(tgt, indent=1))

        query = (f'sum(http_server_request_duration_seconds_count'
                 f'{{service=~".*:{self.port}"}})')
        result = self.prom_api("/api/v1/query", query=query)["result"]
        self.assertEqual(len(result), 1, f"{query} returned {result}")
        value = float(result[0]["value"][1])
        with self.subTest("PromQL sum equals the requests made"):
            self.assertEqual(value, N, query)
        with self.subTest("PromQL sum equals /metrics"):
            now = self.daemon.scrape().sum(h.SERVER_HIST + "_count", service=svc)
            self.assertEqual(value, now, f"Prometheus {value}, /metrics {now} "
                                         f"(settled at {local})")
        with self.subTest("up == 1 and quantile series visible in Prometheus"):
            up = self.prom_api("/api/v1/query", query='up{job="homeostat"}')["result"]
            self.assertEqual([float(r["value"][1]) for r in up], [1.0])
            q = (f'homeostat_http_request_duration_quantile_seconds'
                 f'{{role="server",service=~".*:{self.port}",quantile="0.5"}}')
            self.assertTrue(self.prom_api("/api/v1/query", query=q)["result"], q)


def _rfc3339(s: str):
    """Prometheus' lastScrape (e.g. 2026-11-23T18:00:01.123456789Z) -> epoch seconds."""
    import datetime
    if not s or s.startswith("0001-"):
        return None
    main, _, frac = s.rstrip("Z").partition(".")
    tz = datetime.timezone.utc
    off = None
    # Offsets like +00:00 may follow the fraction.
    for sep in ("+", "-"):
        if sep in frac:
            frac, _, off = frac.partition(sep)
            off = sep + off
    try:
        dt = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    if off:
        sign = 1 if off[0] == "+" else -1
        hh, _, mm = off[1:].partition(":")
        tz = datetime.timezone(sign * datetime.timedelta(hours=int(hh), minutes=int(mm or 0)))
    ts = dt.replace(tzinfo=tz).timestamp()
    return ts + (float("0." + frac) if frac else 0.0)


if __name__ == "__main__":
    h.main()
