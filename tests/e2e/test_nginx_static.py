"""nginx serving static files (2 workers, sendfile) under wrk and curl.

Every count on /metrics must equal exactly what the load generators know they did:
wrk on /small.html (server side and wrk's own client side), 404s, a 1 MiB sendfile body,
HEAD, HTTP/1.0.

About wrk's count: wrk stops at -d with up to one request per connection in flight;
nginx answers those but wrk does not count them, so "N requests in" is below what
really crossed the wire (measured: by 13-19 with -c20). wrk_budget.lua makes the count
exact: each thread sends a fixed number of /small.html requests, then only /drain.html
until the end, so no /small.html request is in flight when wrk stops.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

SMALL = 4096
BIG = 1024 * 1024
WRK_CONNECTIONS = 20
WRK_BUDGET_PER_THREAD = 8000


class NginxStatic(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl", "wrk", h.NGINX)

    @classmethod
    def start_servers(cls):
        root = cls.workdir / "www"
        root.mkdir()
        (root / "index.html").write_text("<html><body>homeostat e2e</body></html>\n")
        (root / "small.html").write_bytes((b"<p>small</p>\n" * (SMALL // 13 + 1))[:SMALL])
        (root / "drain.html").write_bytes(b"d" * 512)
        (root / "after.html").write_bytes(b"after\n")
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
        (root / "big.bin").write_bytes((line * (BIG // len(line) + 1))[:BIG])
        cls.nginx, cls.port, _ = h.start_nginx(
            cls.procs, cls.workdir, server_body=f"        root {root};\n")
        cls.base = f"http://127.0.0.1:{cls.port}"

    def test_wrk_small_exact(self):
        res = h.wrk(self.base + "/", threads=2, connections=WRK_CONNECTIONS, duration_s=3,
                    script=h.HERE / "wrk_budget.lua",
                    env={"E2E_BUDGET": str(WRK_BUDGET_PER_THREAD), "E2E_PATH": "/small.html",
                         "E2E_PATH_LEN": str(SMALL), "E2E_DRAIN_PATH": "/drain.html"})
        x = res.extra
        print(f"\nwrk: {res.requests} requests in {res.duration_s}s, socket errors "
              f"{res.socket_errors}, non-2xx {res.non_2xx}, script {x}", file=sys.stderr)
        self.assertEqual(res.requests, x["ok"] + x["bad"] + x["drain"],
                         "wrk's 'N requests in' disagrees with the script's counts")
        self.assertEqual(x["bad"], 0, "nginx answered /small.html with non-200")
        # request() runs once more than requests are sent (wrk checks the script with one
        # call on thread 0), so sent - ok is 1 when nothing was left in flight.
        self.assertLessEqual(x["sent"] - x["ok"], 1,
                             "wrk stopped before its /small.html budget was answered: "
                             "the machine is too slow for this duration")
        expected = x["ok"]
        self.assertServerAndClient(self.port, "/small.html", "GET", 200, expected,
                                   check_client=False)
        with self.subTest("wrk client side: same count, server_port = nginx's port"):
            self.assertSettledCount(
                h.CLIENT_HIST + "_count", expected, server_port=str(self.port),
                http_route="/small.html", http_request_method="GET",
                http_response_status_code="200")
        with self.subTest("wrk client side: service label is wrk, server_address loopback"):
            self.assertSeriesLabels(h.CLIENT_HIST + "_count",
                                    {"service": "wrk", "server_address": "127.0.0.1"},
                                    server_port=str(self.port), http_route="/small.html",
                                    http_request_method="GET")
        with self.subTest("drain requests: between wrk's count and + one per connection"):
            got = self.metric_value(h.SERVER_HIST + "_count",
                                    service=h.port_service(self.port),
                                    http_route="/drain.html", http_request_method="GET")
            self.assertTrue(x["drain"] <= got <= x["drain"] + WRK_CONNECTIONS,
                            f"/drain.html server count {got}, wrk counted {x['drain']}")

    def test_missing_404(self):
        keep = h.curl([f"{self.base}/missing.html?try={i}" for i in range(12)])
        sep = h.curl_each([f"{self.base}/missing.html" for _ in range(3)])
        self.assertAllOk(keep + sep, 404)
        self.assertTrue(all(r.num_connects == 0 for r in keep[1:]),
                        f"curl did not reuse its connection: {keep}")
        self.assertServerAndClient(self.port, "/missing.html", "GET", 404, 15,
                                   client_service="curl")

    def test_big_sendfile(self):
        # Bodies of 1 MiB leave through sendfile; on the kept-alive connection the next
        # request after each big body must still be seen as a new exchange.
        keep = h.curl([f"{self.base}/big.bin", f"{self.base}/after.html"] * 3)
        sep = h.curl_each([f"{self.base}/big.bin" for _ in range(4)])
        self.assertAllOk(keep + sep, 200)
        self.assertTrue(all(r.num_connects == 0 for r in keep[1:]),
                        f"curl did not reuse its connection: {keep}")
        self.assertServerAndClient(self.port, "/big.bin", "GET", 200, 7,
                                   client_service="curl")
        self.assertServerAndClient(self.port, "/after.html", "GET", 200, 3,
                                   client_service="curl")

    def test_head(self):
        keep = h.curl([f"{self.base}/small.html"] * 6, head=True)
        sep = h.curl_each([f"{self.base}/small.html"] * 2, head=True)
        self.assertAllOk(keep + sep, 200)
        self.assertServerAndClient(self.port, "/small.html", "HEAD", 200, 8,
                                   client_service="curl")

    def test_http10(self):
        one = h.curl([f"{self.base}/index.html"] * 3, http10=True)
        sep = h.curl_each([f"{self.base}/index.html"] * 5, http10=True)
        self.assertAllOk(one + sep, 200)
        self.assertServerAndClient(self.port, "/index.html", "GET", 200, 8,
                                   client_service="curl")


if __name__ == "__main__":
    h.main()
