"""nginx as a reverse proxy (HTTP/1.1, keepalive upstream) in front of a Python backend.

curl -> nginx -> backend, 30 requests. nginx's own upstream calls must show as the
client side of the nginx service (service label ending in nginx's port) with
server_address 127.0.0.1 and server_port = the backend's port, count 30; the backend's
server side must count 30; nginx's server side and curl's client side too.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

N = 30


class ReverseProxy(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl", h.NGINX)

    @classmethod
    def start_servers(cls):
        cls.backend, cls.backend_port = h.start_python_server(cls.procs, name="backend")
        upstream = (f"    upstream backend {{\n"
                    f"        server 127.0.0.1:{cls.backend_port};\n"
                    f"        keepalive 8;\n"
                    f"    }}\n")
        server = ("        location / {\n"
                  "            proxy_pass http://backend;\n"
                  "            proxy_http_version 1.1;\n"
                  "            proxy_set_header Connection \"\";\n"
                  "        }\n")
        cls.nginx, cls.port, _ = h.start_nginx(cls.procs, cls.workdir, server_body=server,
                                               http_extra=upstream)

    def test_proxied_requests(self):
        base = f"http://127.0.0.1:{self.port}"
        keep = h.curl([f"{base}/users/{i}" for i in range(1, 21)])
        sep = h.curl_each([f"{base}/users/{i}" for i in range(21, 31)])
        self.assertEqual(len(keep) + len(sep), N)
        self.assertAllOk(keep + sep, 200)
        route = dict(http_route="/users/{id}", http_request_method="GET",
                     http_response_status_code="200")

        with self.subTest("nginx client side -> backend: count"):
            self.assertSettledCount(h.CLIENT_HIST + "_count", N,
                                    service=h.port_service(self.port),
                                    server_port=str(self.backend_port), **route)
        with self.subTest("nginx client side -> backend: labels"):
            self.assertSeriesLabels(h.CLIENT_HIST + "_count",
                                    {"server_address": "127.0.0.1",
                                     "server_port": str(self.backend_port)},
                                    service=h.port_service(self.port))
        with self.subTest("backend server side"):
            self.assertSettledCount(h.SERVER_HIST + "_count", N,
                                    service=h.port_service(self.backend_port), **route)
        with self.subTest("nginx server side"):
            self.assertSettledCount(h.SERVER_HIST + "_count", N,
                                    service=h.port_service(self.port), **route)
        with self.subTest("curl client side -> nginx"):
            self.assertSettledCount(h.CLIENT_HIST + "_count", N, service="curl",
                                    server_port=str(self.port), **route)
        with self.subTest("client quantiles for nginx's upstream calls"):
            m = self.daemon.scrape()
            q = m.select(h.QUANTILE, role="client", service=h.port_service(self.port),
                         server_port=str(self.backend_port), http_route="/users/{id}")
            self.assertEqual(sorted(s.l["quantile"] for s in q),
                             ["0.5", "0.9", "0.95", "0.99"],
                             m.related(h.QUANTILE, {"role": "client"}))
            self.assertTrue(all(s.l.get("server_address") == "127.0.0.1" for s in q),
                            "\n".join(map(str, q)))


if __name__ == "__main__":
    h.main()
