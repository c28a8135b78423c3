"""Python http.server and Node http servers driven by curl, with and without keep-alive.

Counts per route template (/users/<n> -> /users/{id}) and status must be exact, on the
server side (service <comm>:<port>) and on curl's client side. The Node server adds a
chunked response (two res.write() calls), a head flushed alone before a delayed body,
and a response whose status line, headers and body leave in separate packets.
"""

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

ROUTES = {  # path prefix -> (route template, status)
    "/users/": ("/users/{id}", 200),
    "/missing": ("/missing", 404),
    "/error": ("/error", 500),
    "/chunked": ("/chunked", 200),
    "/flushed": ("/flushed", 200),
    "/split": ("/split", 200),
}


def expect(paths: list[str], method: str = "GET") -> Counter:
    c = Counter()
    for p in paths:
        for prefix, (route, status) in ROUTES.items():
            if p.startswith(prefix):
                c[(method, route, status)] += 1
                break
        else:
            raise ValueError(p)
    return c


class PythonNode(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl", h.NODE)

    @classmethod
    def start_servers(cls):
        cls.py, cls.py_port = h.start_python_server(cls.procs)
        cls.node, cls.node_port = h.start_node_server(cls.procs)

    def check(self, port: int, expected: Counter):
        for (method, route, status), n in sorted(expected.items()):
            self.assertServerAndClient(port, route, method, status, n,
                                       client_service="curl")

    def check_codes(self, results, paths):
        want = [ROUTES[next(p for p in ROUTES if u.startswith(p))][1] for u in paths]
        got = [r.code for r in results]
        self.assertEqual(got, want, "HTTP codes seen by curl")

    def test_python_routes(self):
        base = f"http://127.0.0.1:{self.py_port}"
        keep_paths = ([f"/users/{i}" for i in range(1, 6)] + ["/missing", "/error"]
                      + [f"/users/{i}?page={i}" for i in range(6, 11)]
                      + ["/missing", "/error", "/missing"])
        sep_paths = [f"/users/{i}" for i in range(100, 105)] + ["/missing", "/error"] * 2
        keep = h.curl([base + p for p in keep_paths])
        sep = h.curl_each([base + p for p in sep_paths])
        post = h.curl([f"{base}/users/{i}" for i in (7, 8, 9)], extra=["-d", "name=x"])
        self.check_codes(keep, keep_paths)
        self.check_codes(sep, sep_paths)
        self.assertAllOk(post, 200)
        self.assertEqual([r.num_connects for r in keep], [1] + [0] * (len(keep) - 1),
                         "curl did not keep its connection alive")
        expected = expect(keep_paths + sep_paths) + expect(["/users/7"] * 3, "POST")
        self.check(self.py_port, expected)

    def test_node_routes(self):
        base = f"http://127.0.0.1:{self.node_port}"
        keep_paths = ([f"/users/{i}" for i in range(1, 7)]
                      + ["/missing", "/chunked", "/error", "/flushed", "/chunked",
                         "/flushed", "/missing", "/error", "/chunked", "/flushed",
                         "/split", "/users/77", "/split", "/users/78"])
        sep_paths = ([f"/users/{i}" for i in range(7, 10)]
                     + ["/missing", "/error", "/chunked", "/chunked", "/flushed",
                        "/split", "/split"])
        keep = h.curl([base + p for p in keep_paths])
        sep = h.curl_each([base + p for p in sep_paths])
        self.check_codes(keep, keep_paths)
        self.check_codes(sep, sep_paths)
        # /split answers with Connection: close, so curl reconnects right after it.
        want_connects = [1] + [1 if keep_paths[i - 1] == "/split" else 0
                               for i in range(1, len(keep_paths))]
        self.assertEqual([r.num_connects for r in keep], want_connects,
                         "curl's connection reuse is not what the test expects")
        self.check(self.node_port, expect(keep_paths + sep_paths))


if __name__ == "__main__":
    h.main()
