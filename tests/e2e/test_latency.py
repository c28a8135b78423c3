"""Latency: a Node server answers /slow after exactly 200 ms; 20 requests.

The p50 of homeostat_http_request_duration_quantile_seconds (DDSketch, 1 % relative
error, last ~60 s) must be within 5 % of 0.200 s, and the histogram must hold exactly
the 20 requests, all above 0.19 s and below 0.25 s.
"""

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

N_CLIENTS = 4
PER_CLIENT = 5  # keep-alive: one curl per client, PER_CLIENT URLs each
TARGET = 0.200


class Latency(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl", h.NODE)

    @classmethod
    def start_servers(cls):
        cls.node, cls.port = h.start_node_server(cls.procs)

    def test_slow_p50(self):
        url = f"http://127.0.0.1:{self.port}/slow"
        results, errors = [], []

        def client():
            try:
                results.extend(h.curl([url] * PER_CLIENT, timeout=30))
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=client) for _ in range(N_CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(errors, f"curl failed: {errors}")
        n = N_CLIENTS * PER_CLIENT
        self.assertEqual(len(results), n)
        self.assertAllOk(results, 200)

        svc = h.port_service(self.port)
        self.assertSettledCount(h.SERVER_HIST + "_count", n, service=svc,
                                http_route="/slow", http_request_method="GET",
                                http_response_status_code="200")
        m = self.daemon.scrape()

        with self.subTest("server p50 within 5% of 200 ms"):
            q = m.select(h.QUANTILE, role="server", service=svc, http_route="/slow",
                         http_request_method="GET", quantile="0.5")
            self.assertEqual(len(q), 1, f"want one p50 series:\n"
                             f"{m.related(h.QUANTILE, {'service': svc})}")
            self.assertAlmostEqual(q[0].value, TARGET, delta=TARGET * 0.05,
                                   msg=f"\n{m.related(h.QUANTILE, {'service': svc})}")

        with self.subTest("server quantiles ordered, p99 plausible"):
            qs = {s.l["quantile"]: s.value for s in
                  m.select(h.QUANTILE, role="server", service=svc, http_route="/slow")}
            self.assertEqual(set(qs), {"0.5", "0.9", "0.95", "0.99"}, str(qs))
            vals = [qs[k] for k in ("0.5", "0.9", "0.95", "0.99")]
            self.assertEqual(vals, sorted(vals), f"quantiles not monotonic: {qs}")
            self.assertTrue(0.19 <= vals[-1] <= 0.26, f"p99 {vals[-1]} for a 200 ms "
                                                      f"sleep: {qs}")

        with self.subTest("histogram: sum and buckets"):
            f = dict(service=svc, http_route="/slow", http_request_method="GET",
                     http_response_status_code="200")
            total = m.sum(h.SERVER_HIST + "_sum", **f)
            self.assertAlmostEqual(total, n * TARGET, delta=n * TARGET * 0.05,
                                   msg="sum of durations")
            buckets = sorted((h._parse_float(s.l["le"]), s.value)
                             for s in m.select(h.SERVER_HIST + "_bucket", **f))
            self.assertTrue(buckets, "no buckets")
            below = [v for le, v in buckets if le < 0.19]
            above = [v for le, v in buckets if le >= 0.25]
            self.assertTrue(all(v == 0 for v in below), f"requests below 190 ms: {buckets}")
            self.assertTrue(all(v == n for v in above), f"requests above 250 ms: {buckets}")

        with self.subTest("client side (curl): count and p50"):
            self.assertSettledCount(h.CLIENT_HIST + "_count", n, service="curl",
                                    server_port=str(self.port), http_route="/slow")
            m = self.daemon.scrape()
            q = m.select(h.QUANTILE, role="client", server_port=str(self.port),
                         http_route="/slow", quantile="0.5")
            self.assertEqual(len(q), 1, m.related(h.QUANTILE, {"role": "client"}))
            self.assertAlmostEqual(q[0].value, TARGET, delta=TARGET * 0.05)


if __name__ == "__main__":
    h.main()
