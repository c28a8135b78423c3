"""Losses are counted, never silent, and a stalled consumer never slows the servers.

The daemon runs with a 4 KiB ring buffer (room for ~18 exchange records) drained only
every 5 s, so a burst of requests overflows it. Every exchange the kernel saw must then
be either received or counted in homeostat_events_dropped_total{reason="ringbuf_full"}:
received + dropped == 2 × requests (server side + curl's client side), plus the test's
own first scrape.

test_stopped_consumer_*: the daemon (default 8 MiB ring, ~0.7 s of this load) is stopped with SIGSTOP while wrk loads
nginx, in rounds alternating with rounds where it runs. The kernel side never waits for
the consumer: a full ring is a counted drop, so nginx's request rate and wrk's latency are
the same (within the machine's noise) whether the daemon runs or not; everything nginx
served is received or counted as dropped; after SIGCONT the daemon drains on its own and
counts new requests exactly.
"""

import math
import re
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

REQUESTS = 60
ROUNDS = 4            # pairs of (running, stopped) wrk rounds, order alternating
ROUND_SECONDS = 2     # at least; longer on a slow machine, so that a stopped round fills the ring
RING_RECORDS = (8 << 20) // 256  # default capture.ringbuf_bytes / bytes per exchange record
WRK_CONNECTIONS = 32
AFTER = 40            # requests counted exactly after SIGCONT
DISTINCT_PATHS_LUA = """\
local n = 0
function init(args) prefix = "/p/" .. (args[1] or "x") .. "/" end
function request() n = n + 1; return wrk.format("GET", prefix .. n) end
"""


def wrk_round(port: int, script: Path, tag: str, seconds: int) -> dict:
    cp = h.run(["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s", "--latency",
                "-s", str(script), f"http://127.0.0.1:{port}/", "--", tag], timeout=seconds + 30)
    r = h.parse_wrk(cp.stdout)
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\b", cp.stdout, re.MULTILINE)
    if not m:
        raise AssertionError(f"no 99% latency in wrk output:\n{cp.stdout}")
    p99 = float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]
    return {"rate": r.requests / r.duration_s, "p99": p99, "requests": r.requests}


class DropsCounted(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl", "wrk", h.NGINX)
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

    def test_stopped_consumer_never_slows_the_server(self):
        nginx, port, ndir = h.start_nginx(
            self.procs, self.workdir, "        location = /nginx_status { stub_status; }\n"
                                      "        location / { return 200 \"ok\\n\"; }\n")

        def nginx_requests() -> int:  # stub_status: every request nginx has handled, this one too
            code, _, body = h.http_get(f"http://127.0.0.1:{port}/nginx_status")
            self.assertEqual(code, 200, body)
            return int(body.splitlines()[2].split()[2])
        script = self.workdir / "distinct_paths.lua"
        script.write_text(DISTINCT_PATHS_LUA)
        d = h.Daemon(self.procs, self.workdir).start()
        svc = h.port_service(port)

        def ours(m: h.Metrics) -> float:  # nginx's server side + wrk's client side
            return (m.sum(h.SERVER_HIST + "_count", service=svc) +
                    m.sum(h.CLIENT_HIST + "_count", server_port=str(port)))

        requests_before = nginx_requests()
        before = d.scrape()
        base_ours, base_dropped = ours(before), before.sum(h.DROPPED, reason="ringbuf_full")
        running, stopped = [], []
        running_drops = 0.0
        seconds = ROUND_SECONDS
        for i in range(ROUNDS):
            for state in (("run", "stop") if i % 2 == 0 else ("stop", "run")):
                if state == "stop":
                    d.managed.proc.send_signal(signal.SIGSTOP)
                    try:
                        stopped.append(wrk_round(port, script, f"s{i}", seconds))
                    finally:
                        d.managed.proc.send_signal(signal.SIGCONT)
                else:
                    # The scrape drains what the stopped round left: from here on the
                    # daemon keeps up, and a drop would be a real loss.
                    dr0 = d.scrape().sum(h.DROPPED, reason="ringbuf_full")
                    running.append(wrk_round(port, script, f"r{i}", seconds))
                    # Two exchanges per request: 1.5 x the ring's records within a round.
                    seconds = max(seconds, min(10, math.ceil(0.75 * RING_RECORDS / running[-1]["rate"])))
                    running_drops += d.scrape().sum(h.DROPPED, reason="ringbuf_full") - dr0
        # What nginx served since (the status request that read requests_before excluded,
        # the one reading it now included: its exchanges are in `ours` too).
        served = nginx_requests() - requests_before
        received = h.settle(lambda: ours(d.scrape()), 2 * served, timeout=6) - base_ours
        dropped = d.scrape().sum(h.DROPPED, reason="ringbuf_full") - base_dropped
        rate_run = statistics.median(r["rate"] for r in running)
        rate_stop = statistics.median(r["rate"] for r in stopped)
        p99_run = statistics.median(r["p99"] for r in running)
        p99_stop = statistics.median(r["p99"] for r in stopped)
        # Rounds of a pair ran back to back: their ratio cancels most of the machine's drift.
        ratio = statistics.median(s["rate"] / r["rate"] for r, s in zip(running, stopped))
        print(f"STOPPED-CONSUMER served={served} received={received:g} dropped={dropped:g} "
              f"rate running={rate_run:.0f}/s stopped={rate_stop:.0f}/s p99 running={p99_run * 1e3:.2f}ms "
              f"stopped={p99_stop * 1e3:.2f}ms pair ratio={ratio:.2f} round={seconds}s drops while running={running_drops:g} rounds={running + stopped}", flush=True)
        with self.subTest("the stopped consumer lost events only as counted drops"):
            self.assertGreater(dropped, 0, "the ring should have filled while the daemon was stopped")
            self.assertEqual(running_drops, 0, "drops while the daemon ran")
            # Every request nginx served is two exchanges (its server side, wrk's client
            # side). Drops cannot be told apart by service and may include other traffic of
            # the host; a request in flight when wrk stopped may lack its client side.
            self.assertLessEqual(received, 2 * served)
            self.assertGreaterEqual(received + dropped, 2 * served - 2 * ROUNDS * WRK_CONNECTIONS,
                                    f"received {received:g} + dropped {dropped:g} < 2 x {served} served")
        with self.subTest("the kernel path did not wait for the consumer"):
            # Early runs with a forced wake-up per record past 256 KiB of backlog gave
            # 0.36-0.72 for stopped rounds that filled the ring (bpf/http.bpf.c
            # hs_ringbuf_flags); later A/B runs could not separate that from the noise.
            self.assertGreaterEqual(ratio, 0.75, f"nginx served {rate_stop:.0f}/s with the daemon stopped, "
                                                 f"{rate_run:.0f}/s running (median ratio of pairs {ratio:.2f})")
            self.assertLessEqual(p99_stop, 2 * p99_run + 0.005,
                                 f"wrk p99 {p99_stop * 1e3:.2f} ms stopped vs {p99_run * 1e3:.2f} ms running")
        with self.subTest("the daemon recovers on its own"):
            dropped_now = d.scrape().sum(h.DROPPED, reason="ringbuf_full")
            results = h.curl([f"http://127.0.0.1:{port}/after/{i}" for i in range(AFTER)])
            self.assertEqual([r.code for r in results], [200] * AFTER)
            got = h.settle(lambda: d.scrape().sum(h.SERVER_HIST + "_count", service=svc,
                                                 http_route="/after/{id}"), AFTER)
            self.assertEqual(got, AFTER, "requests after SIGCONT")
            self.assertEqual(d.scrape().sum(h.DROPPED, reason="ringbuf_full"), dropped_now,
                             "drops after the daemon was resumed")
        self.assertEqual(d.stop(), 0, f"exit after SIGTERM; log:\n{d.managed.log_tail(20)}")
        nginx.stop()

    def test_zzz_daemon_health(self):
        pass  # this test drops events on purpose; the shared health check would flag it


if __name__ == "__main__":
    h.main()
