"""The daemon and CLI as an operator meets them.

- `homeostat status`, `status --json`, `metrics` against a running daemon, and a clear
  error when no daemon answers;
- `homeostat config check` and `homeostatd --check-config`: a good file passes, a bad
  one fails naming file, line and key;
- homeostatd refuses to start without privileges, and when its port is taken, saying
  what to do; SIGTERM detaches every program it attached.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402


def run(argv, timeout=20, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def prog_ids_held_by(pid: int) -> set:
    """BPF program ids behind the process's fds (prog and link fds show prog_id)."""
    ids = set()
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            for line in info.read_text().splitlines():
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def loaded_programs() -> dict:
    """id -> name of every BPF program loaded in the kernel."""
    progs = json.loads(run(["bpftool", "prog", "show", "-j"]).stdout or "[]")
    return {p["id"]: p.get("name", "") for p in progs}


class DaemonAndCli(h.DaemonTestCase):
    REQUIRED_BINARIES = ("curl", "bpftool", "setpriv")

    def cli(self, *args, check=True):
        r = run([h.HOMEOSTAT_CLI, "--addr", f"127.0.0.1:{self.daemon.port}", *args])
        if check:
            self.assertEqual(r.returncode, 0, f"homeostat {' '.join(args)}: {r.stderr}")
        return r

    def test_status_and_metrics(self):
        r = self.cli("status")
        self.assertIn("programs attached", r.stdout)
        self.assertIn("dropped:   0", r.stdout)
        j = json.loads(self.cli("--json", "status").stdout)
        self.assertEqual(j["programs_attached"], 3)
        self.assertEqual(j["abi_version"], 1)
        m = self.cli("metrics").stdout
        self.assertIn("homeostat_build_info{", m)
        self.assertIn('homeostat_events_dropped_total{reason="ringbuf_full"} 0', m)

    def test_api_token(self):
        token = self.workdir / "token"
        token.write_text("t0ken-for-the-e2e-test-0123456789\n")
        os.chmod(token, 0o644)
        cfg = self.workdir / "token.yaml"
        cfg.write_text(f"api_token_file: {token}\n")
        # Exposed without a token: refused before anything binds.
        empty = self.workdir / "empty.yaml"
        empty.write_text("")
        r = run([h.HOMEOSTATD, "--check-config", "--listen", "0.0.0.0:9", "--config", str(empty)])
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not loopback: set api_token_file", r.stderr)
        # A token file others can read is refused at start.
        (self.workdir / "tok").mkdir(exist_ok=True)
        procs = h.ProcessSet(self.workdir / "tok")
        self.addCleanup(procs.stop_all)
        d = h.Daemon(procs, self.workdir / "tok")
        with self.assertRaises(AssertionError) as e:
            d.start(extra_args=["--config", str(cfg)], healthz_timeout=15)
        self.assertIn("readable by group or others", str(e.exception))
        os.chmod(token, 0o600)
        d.start(extra_args=["--config", str(cfg)])
        base = f"http://127.0.0.1:{d.port}"
        self.assertEqual(h.http_get(base + "/healthz")[0], 200)
        self.assertEqual(h.http_get(base + "/metrics")[0], 401)
        self.assertEqual(h.http_get(base + "/api/v1/status")[0], 401)
        auth = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                    "Authorization: Bearer t0ken-for-the-e2e-test-0123456789", base + "/metrics"])
        self.assertEqual(auth.stdout, "200")
        wrong = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                     "Authorization: Bearer t0ken-for-the-e2e-test-0123456788", base + "/metrics"])
        self.assertEqual(wrong.stdout, "401")
        r = run([h.HOMEOSTAT_CLI, "--addr", f"127.0.0.1:{d.port}", "status"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("wants the daemon's API token: --token-file", r.stderr)
        r = run([h.HOMEOSTAT_CLI, "--addr", f"127.0.0.1:{d.port}", "--token-file", str(token), "status"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("programs attached", r.stdout)
        self.assertEqual(d.stop(), 0)

    def test_cli_without_daemon_says_so(self):
        port = h.free_port()
        r = run([h.HOMEOSTAT_CLI, "--addr", f"127.0.0.1:{port}", "status"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"cannot reach homeostatd at 127.0.0.1:{port}", r.stderr)

    def test_config_check(self):
        good = self.workdir / "good.yaml"
        good.write_text("listen: 127.0.0.1:9999\naggregation:\n  window: 5s\n")
        bad = self.workdir / "bad.yaml"
        bad.write_text("listen: 127.0.0.1:9999\naggregation:\n  window: 5s\n  windw: 3\n")
        r = self.cli("config", "check", str(good))
        self.assertIn("ok", r.stdout)
        r = self.cli("config", "check", str(bad), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{bad}:4:3: unknown key 'aggregation.windw'", r.stderr)
        r = run([h.HOMEOSTATD, "--check-config", "--config", str(bad)])
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{bad}:4:3: unknown key 'aggregation.windw'", r.stderr)
        r = run([h.HOMEOSTATD, "--check-config", "--config", str(good)])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_refuses_without_privileges(self):
        r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", h.HOMEOSTATD, "--listen", f"127.0.0.1:{h.free_port()}",
                 "--state-dir", str(self.workdir / "state-nocaps")])
        self.assertEqual(r.returncode, 1)
        self.assertIn("homeostatd must run as root", r.stderr)
        self.assertIn("CAP_BPF", r.stderr)

    def test_port_in_use_is_explained(self):
        r = run([h.HOMEOSTATD, "--listen", f"127.0.0.1:{self.daemon.port}",
                 "--state-dir", str(self.workdir / "state-busy")], timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already in use", r.stderr)
        self.assertIn("--listen", r.stderr)

    def test_sigterm_detaches_everything(self):
        (self.workdir / "second").mkdir(exist_ok=True)
        procs = h.ProcessSet(self.workdir / "second")
        self.addCleanup(procs.stop_all)
        second = h.Daemon(procs, self.workdir / "second")
        second.start()
        held = prog_ids_held_by(second.managed.pid)
        loaded = loaded_programs()
        # HTTP capture, then process health (bpf/proc.bpf.c).
        self.assertEqual(sorted(loaded[i] for i in held if i in loaded),
                         sorted(["hs_egress", "hs_ingress", "hs_sock_state",
                                 "hs_exec", "hs_exit", "hs_fork", "hs_oom", "hs_tcp_retransmit",
                                 "hs_tcp_send_reset", "hs_tcp_receive_reset", "hs_tcp_state"]))
        self.assertEqual(second.stop(), 0)
        # The kernel frees programs after an RCU grace period: give it a moment.
        deadline = time.monotonic() + 5
        while (still := set(loaded_programs()) & held) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(still, set(), "programs still loaded after SIGTERM")
        self.assertIn("all programs detached", second.log_text())


if __name__ == "__main__":
    h.main()
