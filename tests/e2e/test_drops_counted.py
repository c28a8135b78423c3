"""Losses are counted, never silent.

The daemon runs with a 4 KiB ring buffer (room for ~18 exchange records) drained only
every 5 s, so a burst of requests overflows it. Every exchange the kernel saw must then
be either received or counted in homeostat_events_dropped_total{reason="ringbuf_full"}:
received + dropped == 2 × requests (server side + curl's client side), plus the test's
own first scrape.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

REQUESTS = 60


class DropsCounted(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl",)
    AUTO_DAEMON = False

    @classmethod
    def start_servers(cls):
        cls.server, cls.port = h.start_python_server(cls.procs)

    def test_overflow_is_counted(self):
        cfg = self.workdir / "tiny-ring.yaml"
        cfg.write_text("capture:\n  ringbuf_bytes: 4096\n  drain_interval: 5s\n")
        self.daemon.start(extra_args=["--config", str(cfg)])
        before = self.daemon.scrape()  # a scrape drains the ring: start from empty
        base_received = before.sum("homeostat_events_total", kind="http_exchange")
        base_dropped = before.sum("homeostat_events_dropped_total")
        results = h.curl([f"http://127.0.0.1:{self.port}/users/{i}" for i in range(REQUESTS)])
        self.assertEqual([r.code for r in results], [200] * REQUESTS)
        after = self.daemon.scrape()
        received = after.sum("homeostat_events_total", kind="http_exchange") - base_received
        dropped = after.sum("homeostat_events_dropped_total", reason="ringbuf_full") - base_dropped
        self.assertGreater(dropped, 0, "the burst should have overflowed a 4 KiB ring")
        # The first scrape is an HTTP exchange too (the daemon's server side and this
        # test's client side), captured after it had read its counters: +2.
        expected = 2 * REQUESTS + 2
        self.assertEqual(received + dropped, expected,
                         f"received {received:g} + dropped {dropped:g} != {expected}")
        # What was received is counted per route; nothing else appears from nowhere.
        server = after.sum("http_server_request_duration_seconds_count",
                           service=h.port_service(self.port))
        self.assertLessEqual(server, REQUESTS)
        self.daemon.stop()

    def test_zzz_daemon_health(self):
        pass  # this test drops events on purpose; the shared health check would flag it


if __name__ == "__main__":
    h.main()
