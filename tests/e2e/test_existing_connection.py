"""A keep-alive connection that predates the daemon.

The Python server starts, this process opens one http.client connection and sends 3
requests, and only then homeostatd starts. 5 more requests on the SAME connection must
be counted exactly (5, not 8 and not 0), on the server side of a service whose port the
daemon could only learn from /proc (it missed the listen), and on this client's side.
"""

import http.client
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402


class ExistingConnection(h.DaemonTestCase):
    AUTO_DAEMON = False  # started inside the test, after the connection exists

    @classmethod
    def start_servers(cls):
        cls.py, cls.port = h.start_python_server(cls.procs)

    def request(self, conn: http.client.HTTPConnection, path: str, local: tuple):
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        self.assertEqual(resp.status, 200, body)
        # http.client silently reconnects when a connection was closed: make sure the
        # request really went over the original socket.
        self.assertIsNotNone(conn.sock, "connection was closed")
        self.assertEqual(conn.sock.getsockname(), local, "http.client reconnected")

    def test_requests_after_daemon_start(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(conn.close)
        conn.connect()
        local = conn.sock.getsockname()
        for i in range(1, 4):
            self.request(conn, f"/users/{i}", local)

        self.daemon.start()

        for i in range(4, 9):
            self.request(conn, f"/users/{i}", local)
        route = dict(http_route="/users/{id}", http_request_method="GET",
                     http_response_status_code="200")
        with self.subTest("server side (service learnt without a listen event)"):
            self.assertSettledCount(h.SERVER_HIST + "_count", 5,
                                    service=h.port_service(self.port), **route)
        with self.subTest("client side (this python process)"):
            self.assertSettledCount(h.CLIENT_HIST + "_count", 5, service=h.PYTHON_CLIENT,
                                    server_port=str(self.port), **route)


if __name__ == "__main__":
    h.main()
