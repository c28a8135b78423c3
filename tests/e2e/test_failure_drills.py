"""Failure drills (docs/hardening.md): what the daemon does when part of the kernel side
is missing.

- An optional BPF program (process health, bpf/proc.bpf.c) is refused by the kernel
  (HOMEOSTAT_TEST_BREAK_BPF gives it a program flag no kernel knows: EINVAL): one
  warning names what is lost, and the daemon goes on counting HTTP.
- The required HTTP capture fails to load: a fatal error saying so, exit code 1.
- tracefs and bpffs missing (a private mount namespace where /sys/kernel/tracing and
  /sys/fs/bpf are empty tmpfs, and no CAP_SYS_ADMIN to mount tracefs back): a warning
  with the mount command; the daemon works (its programs need neither).
"""

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

REQUESTS = 8
# The unit's capabilities (packaging/homeostatd.service), no CAP_SYS_ADMIN.
UNIT_CAPS = "+bpf,+perfmon,+net_admin,+sys_ptrace,+dac_read_search,+kill,+setpcap"


class _Served:
    AUTO_DAEMON = False
    WRAPPER = ""

    @classmethod
    def start_servers(cls):
        wrapper = cls.workdir / "homeostatd-drill"
        wrapper.write_text("#!/bin/sh\n" + cls.WRAPPER.format(daemon=h.HOMEOSTATD) + "\n")
        wrapper.chmod(0o755)
        cls.daemon.binary = str(wrapper)
        cls.daemon.start()
        cls.port = h.free_port()
        m = cls.procs.start("pyserver", [sys.executable, str(h.SERVERS / "py_http_server.py"),
                                         "--port", str(cls.port)])
        h.wait_for_port(cls.port, proc=m)

    def assertCountsHttp(self):
        for _ in range(REQUESTS):  # /missing answers 404 and keeps the connection
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/missing", timeout=5).read()
            except urllib.error.HTTPError as e:
                self.assertEqual(e.code, 404)
        self.assertSettledCount(h.SERVER_HIST + "_count", REQUESTS, http_route="/missing")


class OptionalProgramFails(_Served, h.DaemonTestCase):
    WRAPPER = 'HOMEOSTAT_TEST_BREAK_BPF=mark_victim exec {daemon} "$@"'
    # libbpf says why the object did not load (its own warnings)
    EXPECTED_ERROR_LINES = (r"libbpf: ",)

    def test_one_warning_names_what_is_lost(self):
        log = self.daemon.log_text()
        lines = [l for l in log.splitlines() if "process health: loading the process BPF programs" in l]
        self.assertEqual(len(lines), 1, log)
        self.assertIn("warn", lines[0])
        self.assertIn("OOM kills", lines[0])
        self.assertIn("HTTP capture is unaffected", lines[0])
        self.assertNotIn("tracepoints attached", log)

    def test_http_is_still_counted(self):
        self.assertCountsHttp()


class RequiredCaptureFails(h.DaemonTestCase):
    AUTO_DAEMON = False
    ENDS_WITH_TRAFFIC = False

    def test_fatal_with_exit_code_and_message(self):
        port = h.free_port()
        env = dict(os.environ, HOMEOSTAT_TEST_BREAK_BPF="http")
        r = subprocess.run([h.HOMEOSTATD, "--listen", f"127.0.0.1:{port}", "--state-dir",
                            str(self.workdir / "state"), "--api-socket", f"/tmp/homeostat-e2e-api-{port}/api.sock"],
                           env=env, capture_output=True, text=True, timeout=30)
        (self.workdir / "required-capture-fails.log").write_text(r.stderr)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("capture: loading the BPF programs into the kernel", r.stderr)
        self.assertIn("Invalid argument", r.stderr)
        self.assertIn("critical", r.stderr)

    def test_zzz_daemon_health(self):  # no daemon runs in this class
        pass


class NoTracefsNoBpffs(_Served, h.DaemonTestCase):
    # A private mount namespace (unshare's default propagation is private): the host's
    # tracefs and bpffs are untouched.
    WRAPPER = ("exec unshare -m sh -c 'mount -t tmpfs none /sys/kernel/tracing && "
               "mount -t tmpfs none /sys/fs/bpf && exec setpriv --inh-caps=-all "
               "--bounding-set=-all," + UNIT_CAPS + " \"$0\" \"$@\"' {daemon} \"$@\"")

    def test_says_what_to_mount(self):
        log = self.daemon.log_text()
        self.assertIn("could not mount tracefs at /sys/kernel/tracing", log)
        self.assertIn("mount -t tracefs tracefs /sys/kernel/tracing", log)
        self.assertIn("bpffs is not mounted at /sys/fs/bpf", log)
        self.assertIn("mount -t bpf bpf /sys/fs/bpf", log)
        # the host still has its tracefs
        self.assertEqual(subprocess.run(["stat", "-f", "-c", "%T", "/sys/kernel/tracing"],
                                        capture_output=True, text=True).stdout.strip(), "tracefs")

    def test_http_is_still_counted(self):
        self.assertCountsHttp()


if __name__ == "__main__":
    h.main()
