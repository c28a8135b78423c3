"""Stdlib-only harness for homeostat's end-to-end kernel tests.

Each test file starts a real homeostatd (root, BPF attached to this kernel), real servers
on 127.0.0.1 and real clients, then compares what the daemon exports on /metrics with
what the load generators know they did. Everything started here is tracked and killed in
teardown (by pid / own process group), every load is bounded in count and time, and a
test that cannot run (not root, a binary missing) fails loudly instead of skipping.

Environment:
  HOMEOSTATD                 daemon binary (default /work/main/build/agent/homeostatd)
  HOMEOSTAT_E2E_ARTIFACTS    where logs, configs and /metrics dumps go
                             (default /tmp/homeostat-e2e; one sub-directory per test file)
  HOMEOSTAT_E2E_LOG_LEVEL    daemon --log-level (default info)
"""

from __future__ import annotations

import atexit
import ctypes
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

HERE = Path(__file__).resolve().parent
SERVERS = HERE / "servers"
HOMEOSTATD = os.environ.get("HOMEOSTATD", "/work/main/build/agent/homeostatd")
HOMEOSTAT_CLI = os.environ.get("HOMEOSTAT_CLI", "/work/main/build/cli/homeostat")
ARTIFACTS = Path(os.environ.get("HOMEOSTAT_E2E_ARTIFACTS", "/tmp/homeostat-e2e"))
DAEMON_LOG_LEVEL = os.environ.get("HOMEOSTAT_E2E_LOG_LEVEL", "info")

NGINX = "/usr/sbin/nginx"
NODE = "/usr/bin/node"
PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

# The contract: the daemon drains events every ~100 ms; counts settle within ~3 s.
SETTLE_TIMEOUT = 6.0
# A whole test file must finish well inside ctest's TIMEOUT (180 s); past this the
# watchdog kills everything this harness started and exits non-zero.
WATCHDOG_SECONDS = int(os.environ.get("HOMEOSTAT_E2E_WATCHDOG", "170"))

SERVER_HIST = "http_server_request_duration_seconds"
CLIENT_HIST = "http_client_request_duration_seconds"
QUANTILE = "homeostat_http_request_duration_quantile_seconds"
DROPPED = "homeostat_events_dropped_total"
EVENTS = "homeostat_events_total"
BUILD_INFO = "homeostat_build_info"


class PreconditionFailed(AssertionError):
    """The environment cannot run this test. Never a skip: kernel tests must run."""


# ---------------------------------------------------------------------------------------
# Process tracking: everything started is killed at the end, even on watchdog/SIGTERM.

_LIVE: dict[int, "Managed"] = {}
_LIVE_LOCK = threading.Lock()


def _set_pdeathsig() -> None:
    # Runs in the child between fork and exec: die with the harness even on SIGKILL.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _kill_group(pid: int, sig: int) -> None:
    # Every managed process is started with start_new_session=True, so its process
    # group id is its own pid: this reaches it and its children (nginx workers) only.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_everything_started() -> None:
    with _LIVE_LOCK:
        items = list(_LIVE.values())
    for m in items:
        m.kill()


def _emergency_exit(reason: str) -> None:
    sys.stderr.write(f"\nE2E HARNESS: {reason}; killing every process this harness started\n")
    sys.stderr.flush()
    kill_everything_started()
    os._exit(3)


def _on_signal(signum, _frame):
    _emergency_exit(f"received signal {signum}")


def _on_alarm(_signum, _frame):
    _emergency_exit(f"watchdog: test file ran longer than {WATCHDOG_SECONDS}s")


def install_guards() -> None:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(WATCHDOG_SECONDS)
    atexit.register(kill_everything_started)


@dataclass
class Managed:
    """A long-running process this harness started (server, daemon, prometheus)."""

    name: str
    argv: list[str]
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as e:
            return f"<cannot read {self.log_path}: {e}>"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int | None:
        """Signal the process group; wait; SIGKILL if it does not go. Returns the exit code
        (None if it had to be killed)."""
        if self.proc.poll() is None:
            _kill_group(self.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                with _LIVE_LOCK:
                    _LIVE.pop(self.pid, None)
                return None
        # Children (nginx workers) may linger a moment after the leader exits.
        _kill_group(self.pid, signal.SIGKILL)
        with _LIVE_LOCK:
            _LIVE.pop(self.pid, None)
        return self.proc.returncode

    def kill(self) -> None:
        _kill_group(self.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class ProcessSet:
    """Processes of one test class; stop_all() is registered as a class cleanup."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.items: list[Managed] = []

    def start(self, name: str, argv: list[str], cwd: Path | None = None,
              env: dict | None = None) -> Managed:
        log_path = self.workdir / f"{name}.log"
        log = open(log_path, "ab")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=str(cwd) if cwd else None, env=full_env, start_new_session=True,
                preexec_fn=_set_pdeathsig)
        except OSError as e:
            log.close()
            raise PreconditionFailed(f"cannot start {name} ({argv[0]}): {e}") from e
        log.close()
        m = Managed(name, argv, proc, log_path)
        with _LIVE_LOCK:
            _LIVE[proc.pid] = m
        self.items.append(m)
        return m

    def stop_all(self) -> None:
        for m in reversed(self.items):
            m.stop(timeout=3)
        self.items.clear()


# ---------------------------------------------------------------------------------------
# Ports, commands, waiting.

_USED_PORTS: set[int] = set()


def free_port() -> int:
    """A free 127.0.0.1 TCP port below the ephemeral range, so that a client's source
    port cannot take it between this check and the server's bind."""
    lo, hi = 20000, 32000
    try:
        eph_lo = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        hi = min(hi, eph_lo)
    except (OSError, ValueError, IndexError):
        pass
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(500):
        port = rng.randrange(lo, hi)
        if port in _USED_PORTS:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _USED_PORTS.add(port)
        return port
    raise PreconditionFailed("no free TCP port on 127.0.0.1 in 20000-32000")


def wait_for_port(port: int, timeout: float = 10.0, proc: Managed | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise AssertionError(
                f"{proc.name} exited (code {proc.proc.returncode}) before listening on "
                f"127.0.0.1:{port}; its log:\n{proc.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    tail = f"; its log:\n{proc.log_tail()}" if proc else ""
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout}s{tail}")


def run(argv: list[str], timeout: float, check: bool = True, env: dict | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a bounded command; a timeout or (with check) a non-zero exit is a failure."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            env=full_env, cwd=str(cwd) if cwd else None,
                            stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"command timed out after {timeout}s: {' '.join(argv)}\n"
                             f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}") from e
    except FileNotFoundError as e:
        raise PreconditionFailed(f"command not found: {argv[0]}") from e
    if check and cp.returncode != 0:
        raise AssertionError(f"command failed (exit {cp.returncode}): {' '.join(argv)}\n"
                             f"stdout: {cp.stdout[-2000:]}\nstderr: {cp.stderr[-2000:]}")
    return cp


def http_get(url: str, timeout: float = 5.0) -> tuple[int, dict, str]:
    req = urllib.request.Request(url)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def require(root: bool = True, binaries: Iterable[str] = ()) -> None:
    """Fail (never skip) when this machine cannot run the kernel tests."""
    problems = []
    if root and os.geteuid() != 0:
        problems.append(f"must run as root (euid is {os.geteuid()}): the daemon loads BPF")
    daemon = Path(HOMEOSTATD)
    if not daemon.is_file():
        problems.append(f"daemon binary {HOMEOSTATD} does not exist (build it, or set "
                        "HOMEOSTATD)")
    elif not os.access(daemon, os.X_OK):
        problems.append(f"daemon binary {HOMEOSTATD} is not executable")
    for b in binaries:
        if os.sep in b:
            if not (Path(b).is_file() and os.access(b, os.X_OK)):
                problems.append(f"required program {b} is missing")
        elif shutil.which(b) is None:
            problems.append(f"required program {b} is not on PATH")
    if problems:
        raise PreconditionFailed("E2E TEST CANNOT RUN: " + "; ".join(problems))


def artifacts_dir(name: str) -> Path:
    d = ARTIFACTS / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


# ---------------------------------------------------------------------------------------
# cgroups: tests create theirs beneath their own (shared/ENVIRONMENT.md).

def own_v1_cgroup(controller: str) -> str:
    """This process's cgroup in the v1 hierarchy of `controller` ("/" at the root)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if controller in ctrls.split(","):
            return path
    raise AssertionError(f"this process is in no v1 {controller} cgroup: the test needs the v1 "
                         f"{controller} controller (see shared/ENVIRONMENT.md)")


def remove_cgroup(cg: Path) -> None:
    """rmdir, retried for up to 5 s while the killed processes leave it; gone is fine."""
    for _ in range(50):
        try:
            cg.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"could not remove {cg}")


def remove_cgroups(cgroups: list[Path]) -> None:
    """remove_cgroup() of each, the last created first (children before their parent)."""
    for cg in reversed(cgroups):
        remove_cgroup(cg)


# ---------------------------------------------------------------------------------------
# Prometheus text exposition (0.0.4) parsing.

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple  # sorted (key, value) pairs
    value: float

    @property
    def l(self) -> dict:
        return dict(self.labels)

    def __str__(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels)
        v = int(self.value) if self.value == int(self.value) else self.value
        return f"{self.name}{{{inner}}} {v}"


def _parse_float(s: str) -> float:
    if s in ("+Inf", "Inf"):
        return float("inf")
    if s == "-Inf":
        return float("-inf")
    if s == "NaN":
        return float("nan")
    return float(s)


def _parse_labels(s: str, i: int, line: str) -> tuple[list, int]:
    # s[i] == '{'
    labels = []
    i += 1
    while True:
        while i < len(s) and s[i] in " \t":
            i += 1
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = _LABEL_NAME_RE.match(s, i)
        if not m:
            raise ValueError(f"bad label name at col {i}: {line!r}")
        key = m.group(0)
        i = m.end()
        if i >= len(s) or s[i] != "=":
            raise ValueError(f"expected '=' at col {i}: {line!r}")
        i += 1
        if i >= len(s) or s[i] != '"':
            raise ValueError(f"expected '\"' at col {i}: {line!r}")
        i += 1
        val = []
        while True:
            if i >= len(s):
                raise ValueError(f"unterminated label value: {line!r}")
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s):
                    raise ValueError(f"dangling escape: {line!r}")
                n = s[i + 1]
                val.append({"n": "\n", "\\": "\\", '"': '"'}.get(n, "\\" + n))
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        labels.append((key, "".join(val)))
        while i < len(s) and s[i] in " \t":
            i += 1
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        raise ValueError(f"expected ',' or '}}' at col {i}: {line!r}")


class Metrics:
    """One scrape: samples plus # TYPE declarations. Malformed lines raise ValueError."""

    def __init__(self, text: str):
        self.text = text
        self.types: dict[str, str] = {}
        self.samples: list[Sample] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3].strip()
                continue
            m = _NAME_RE.match(line)
            if not m:
                raise ValueError(f"bad metric name: {raw!r}")
            name = m.group(0)
            i = m.end()
            labels: list = []
            if i < len(line) and line[i] == "{":
                labels, i = _parse_labels(line, i, raw)
            rest = line[i:].split()
            if len(rest) not in (1, 2):
                raise ValueError(f"expected value [timestamp]: {raw!r}")
            self.samples.append(Sample(name, tuple(sorted(labels)), _parse_float(rest[0])))

    def select(self, name: str, **filters) -> list[Sample]:
        return [s for s in self.samples if s.name == name and _matches(s.l, filters)]

    def sum(self, name: str, **filters) -> float:
        return sum(s.value for s in self.select(name, **filters))

    def has_family(self, family: str) -> bool:
        return family in self.types or any(
            s.name == family or s.name.startswith(family + "_") for s in self.samples)

    def related(self, name: str, filters: dict, limit: int = 40) -> str:
        """Lines of `name` that share at least one filter with `filters` (or all of them
        if none does): what someone debugging a wrong count wants to see."""
        rel = [s for s in self.samples if s.name == name and
               any(_matches(s.l, {k: v}) for k, v in filters.items())]
        if not rel:
            rel = [s for s in self.samples if s.name == name]
        out = [str(s) for s in rel[:limit]]
        if len(rel) > limit:
            out.append(f"... {len(rel) - limit} more")
        return "\n".join(out) if out else f"(no {name} samples at all)"

    def histogram_problems(self) -> list[str]:
        """Per series: buckets non-decreasing, +Inf bucket == _count, sum >= 0."""
        problems = []
        for base, typ in self.types.items():
            if typ != "histogram":
                continue
            series: dict[tuple, list] = {}
            for s in self.samples:
                if s.name == base + "_bucket":
                    key = tuple(kv for kv in s.labels if kv[0] != "le")
                    series.setdefault(key, []).append((_parse_float(s.l["le"]), s.value))
            counts = {s.labels: s.value for s in self.samples if s.name == base + "_count"}
            for key, buckets in series.items():
                buckets.sort()
                vals = [v for _, v in buckets]
                if any(b < a for a, b in zip(vals, vals[1:])):
                    problems.append(f"{base}{dict(key)}: buckets decrease: {buckets}")
                if buckets[-1][0] != float("inf"):
                    problems.append(f"{base}{dict(key)}: no +Inf bucket")
                elif counts.get(key) != buckets[-1][1]:
                    problems.append(f"{base}{dict(key)}: +Inf bucket {buckets[-1][1]} != "
                                    f"_count {counts.get(key)}")
        return problems


class Suffix:
    """Label filter: value ends with `s` (service labels are `<comm>:<port>`)."""

    def __init__(self, s: str):
        self.s = s

    def __call__(self, v: str) -> bool:
        return v.endswith(self.s)

    def __repr__(self) -> str:
        return f"*{self.s}"


class Regex:
    """Label filter: value fully matches the regular expression."""

    def __init__(self, pattern: str):
        self.re = re.compile(pattern)

    def __call__(self, v: str) -> bool:
        return self.re.fullmatch(v) is not None

    def __repr__(self) -> str:
        return f"~{self.re.pattern}"


# comm of a Python client: python3 or python3.11 (whatever exec'd name the kernel saw).
PYTHON_CLIENT = Regex(r"python3(\.\d+)?")


def port_service(port: int) -> Suffix:
    return Suffix(f":{port}")


def _matches(labels: dict, filters: dict) -> bool:
    for k, want in filters.items():
        have = labels.get(k)
        if want is None:
            if have is not None:
                return False
        elif callable(want):
            if have is None or not want(have):
                return False
        elif have != str(want):
            return False
    return True


def fmt_filters(filters: dict) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in filters.items()) + "}"


# ---------------------------------------------------------------------------------------
# The daemon.

# Level markers of common log layouts: homeostatd's spdlog pattern
# "%Y-%m-%dT%H:%M:%S.%e %l %v" ("2026-11-23T18:00:00.123 error ..."), "[error]", "level=error".
_ANSI = r"(?:\x1b\[[0-9;]*m)?"
_LEVEL_ERROR_RE = re.compile(
    r"^\S+\s+" + _ANSI + r"(?:error|critical|err|fatal)\b"
    r"|\[(?i:error|err|critical|crit|fatal)\]|\[[ECF]\]"
    r"|\blevel[=:]\s*\"?(?i:error|critical|fatal)\b|(^|\s)(ERROR|CRITICAL|FATAL)[\s:\]]")
_LEVEL_DEBUG_RE = re.compile(
    r"^\S+\s+" + _ANSI + r"(?:debug|trace)\b"
    r"|\[(debug|trace|D|T)\]|\blevel[=:]\s*\"?(debug|trace)\b")
_CAPTURE_WORDS = re.compile(
    r"bpf|capture|attach|ring ?buf|probe|tracepoint|cgroup_skb|sockops|verifier|libbpf"
    r"|skel|program|\bmap\b|socket|event", re.IGNORECASE)


def capture_error_lines(log_text: str) -> list[str]:
    """Log lines that report errors: every error/critical-level line, and any other
    non-debug line that says 'error' about capture (bpf, attach, ring buffer, ...)."""
    bad = []
    for line in log_text.splitlines():
        if _LEVEL_ERROR_RE.search(line):
            bad.append(line)
        elif (re.search(r"\berror", line, re.IGNORECASE) and _CAPTURE_WORDS.search(line)
              and not _LEVEL_DEBUG_RE.search(line)):
            bad.append(line)
    return bad


class Daemon:
    def __init__(self, procs: ProcessSet, workdir: Path, binary: str = HOMEOSTATD,
                 log_level: str = DAEMON_LOG_LEVEL):
        self.procs = procs
        self.workdir = workdir
        self.binary = binary
        self.log_level = log_level
        self.port: int | None = None
        self.managed: Managed | None = None
        self.exit_code: int | None = None
        self.stop_seconds: float | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "homeostatd.log"

    @property
    def api_socket(self) -> str:
        """The daemon's unix socket: short (a socket path has at most 107 bytes) and one
        per running daemon (the port is)."""
        return f"/tmp/homeostat-e2e-api-{self.port}/api.sock"

    def start(self, healthz_timeout: float = 30.0, extra_args: Iterable[str] = ()) -> "Daemon":
        self.port = free_port()
        extra_args = list(extra_args)
        if "--state-dir" not in extra_args:  # never the host's /var/lib/homeostat
            extra_args += ["--state-dir", str(self.workdir / "state")]
        if "--api-socket" not in extra_args:  # never the host's /run/homeostat/api.sock
            extra_args += ["--api-socket", self.api_socket]
        argv = [self.binary, "--listen", f"127.0.0.1:{self.port}", "--log-level",
                self.log_level, *extra_args]
        self.managed = self.procs.start("homeostatd", argv, cwd=self.workdir)
        deadline = time.monotonic() + healthz_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.managed.alive():
                raise AssertionError(
                    f"homeostatd exited with code {self.managed.proc.returncode} before "
                    f"/healthz was 200; argv {argv}; log {self.log_path}:\n"
                    f"{self.managed.log_tail(60)}")
            try:
                status, _, body = http_get(self.base + "/healthz", timeout=1.0)
                if status == 200:
                    return self
                last = f"HTTP {status}: {body[:200]!r}"
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.1)
        raise AssertionError(f"homeostatd /healthz not 200 after {healthz_timeout}s "
                             f"(last: {last}); log:\n{self.managed.log_tail(60)}")

    def alive(self) -> bool:
        return self.managed is not None and self.managed.alive()

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, dict, str]:
        return http_get(self.base + path, timeout=timeout)

    def scrape_raw(self) -> tuple[dict, str]:
        if not self.alive():
            raise AssertionError(f"homeostatd is not running (exit code "
                                 f"{self.managed.proc.returncode if self.managed else None}); "
                                 f"log:\n{self.managed.log_tail(60) if self.managed else ''}")
        status, headers, body = self.get("/metrics")
        if status != 200:
            raise AssertionError(f"GET /metrics returned {status}: {body[:500]!r}")
        return headers, body

    def scrape(self) -> Metrics:
        _, body = self.scrape_raw()
        try:
            return Metrics(body)
        except ValueError as e:
            raise AssertionError(f"/metrics is not valid Prometheus text: {e}") from e

    def dump_metrics(self, name: str) -> None:
        """Best effort: /metrics and /api/v1/status (not part of the contract, but it
        has the daemon's own diagnostics) into the artifacts directory."""
        try:
            _, body = self.scrape_raw()
            (self.workdir / f"metrics-{name}.txt").write_text(body)
            status, _, body = self.get("/api/v1/status")
            if status == 200:
                (self.workdir / f"status-{name}.json").write_text(body)
        except Exception:
            pass

    def status_json(self) -> str:
        try:
            status, _, body = self.get("/api/v1/status")
            return body if status == 200 else f"(HTTP {status})"
        except Exception as e:
            return f"({e})"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM; records the exit code and how long it took (None: had to SIGKILL)."""
        if self.managed is None:
            return None
        if self.exit_code is None and self.stop_seconds is None:
            t0 = time.monotonic()
            self.exit_code = self.managed.stop(signal.SIGTERM, timeout=timeout)
            self.stop_seconds = time.monotonic() - t0
            shutil.rmtree(Path(self.api_socket).parent, ignore_errors=True)
        return self.exit_code


def settle(fetch: Callable[[], float], expected: float, timeout: float = SETTLE_TIMEOUT,
           stable_for: float = 0.7, interval: float = 0.2) -> float:
    """Poll until the value reached `expected` and stayed put for `stable_for` seconds
    (so an overshoot shows too), or until timeout. Returns the last value."""
    deadline = time.monotonic() + timeout
    last = None
    since = time.monotonic()
    while True:
        v = fetch()
        now = time.monotonic()
        if v != last:
            last, since = v, now
        if last >= expected and now - since >= stable_for:
            return last
        if now >= deadline:
            return last
        time.sleep(interval)


def poll(pred: Callable[[], object], timeout: float, interval: float = 0.2):
    """pred()'s first truthy value within timeout (bounded), else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(interval)
    return None


# ---------------------------------------------------------------------------------------
# Load generators.

def start_server_as_nobody(procs: "ProcessSet", python: str = "/usr/bin/python3"):
    """A static file server (python -m http.server, /index.html) run by `nobody` on
    127.0.0.1: naming it needs reading another user's /proc/<pid>/fd. Returns
    (port, Managed, directory served); the caller removes the directory."""
    www = Path(tempfile.mkdtemp(prefix="homeostat-nobody-"))
    www.chmod(0o755)
    (www / "index.html").write_text("hello\n")
    (www / "index.html").chmod(0o644)
    port = free_port()
    server = procs.start("server-as-nobody", [
        "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", python, "-m", "http.server",
        str(port), "--bind", "127.0.0.1", "--directory", str(www)])
    wait_for_port(port, proc=server)
    return port, server, www


def cpu_cgroup(parent: Path, name: str, period_us: int, quota_us: int = -1, shares: int = 1024) -> Path:
    """A v1 cpu cgroup `name` beneath `parent` (which the caller made beneath its own cgroup)
    with a CFS period, quota (-1: none) and shares. The caller removes it (remove_cgroup)."""
    cg = parent / name
    cg.mkdir()
    (cg / "cpu.cfs_period_us").write_text(str(period_us))
    (cg / "cpu.cfs_quota_us").write_text(str(quota_us))
    (cg / "cpu.shares").write_text(str(shares))
    return cg


def start_script_in(procs: "ProcessSet", workdir: Path, cg: Path, name: str, src: str,
                    *args: str) -> "Managed":
    """Python source `src` as an executable named `name` (so its comm, hence its service,
    is `name`), started inside the v1 cgroup `cg` from its first instruction."""
    script = workdir / name
    script.write_text(f"#!{sys.executable}\n{src}")
    script.chmod(0o755)
    return procs.start(name, ["sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec {script} " + " ".join(args)])


def paced(step: Callable[[], None], rate: float, stop: threading.Event, deadline: float) -> None:
    """Call step() `rate` times a second until stop is set or the monotonic deadline passes.
    A slow step delays the next one; the loop never bursts to catch up."""
    next_at = time.monotonic()
    while not stop.is_set() and time.monotonic() < deadline:
        step()
        next_at += 1.0 / rate
        delay = next_at - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        else:
            next_at = time.monotonic()


class KeepAliveLoad:
    """Closed-loop keep-alive GETs of `path` on 127.0.0.1:port from a few threads, bounded
    by `seconds`; counts the HTTP codes (0: a connection error). close() stops it."""

    def __init__(self, port: int, threads: int = 8, path: str = "/work", seconds: float = 160):
        self.port, self.path, self.seconds = port, path, seconds
        self.stop = threading.Event()
        self.codes: dict[int, int] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        deadline = time.monotonic() + self.seconds
        conn = None
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", self.path)
                r = conn.getresponse()
                r.read()
                code = r.status
            except (OSError, http.client.HTTPException):
                code = 0
                conn = None
            with self.lock:
                self.codes[code] = self.codes.get(code, 0) + 1
        if conn is not None:
            conn.close()

    def close(self) -> dict[int, int]:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)
        with self.lock:
            return dict(self.codes)


def write_mode(path: Path, delay_ms: int, error_ratio: float = 0.0, route: str = "/work") -> None:
    """The behaviour of py_http_server.py's `route` (its --mode-file), written atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"routes": {route: {"delay_ms": delay_ms, "error_ratio": error_ratio}}}))
    os.replace(tmp, path)


# A latency-sensitive HTTP service and a CPU hog for the healing tests (noisy neighbour,
# Q-learning): both pinned to CPU 0 so that they contend wherever their cgroups put them.
# The victim: argv port, CPU milliseconds burnt per request (CPU time, so contention shows
# as wall-clock latency). The hog: two busy processes (same comm, same cgroup), 600 s at most.
VICTIM_SRC = """
import os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
os.sched_setaffinity(0, {0})
WORK = float(sys.argv[2]) / 1000.0
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        end = time.thread_time() + WORK
        x = 0
        while time.thread_time() < end:
            x += 1
        body = b'{"ok": true}\\n'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

HOG_SRC = """
import os, time
os.sched_setaffinity(0, {0})
os.fork()
end = time.monotonic() + 600
while time.monotonic() < end:
    pass
"""


class CpuZeroSnapshot:
    """What ran on CPU 0, for a failure message: per task, its CPU time (ticks) and run-queue
    wait (schedstat) since the snapshot, plus CPU 0's steal and softirq ticks. A victim
    slowed by a contender shows the contender and its own wait; one slowed with no wait
    and no contender points at the host (steal)."""

    def __init__(self, watch_pids: Iterable[int] = ()):
        self.watch = list(watch_pids)
        self.tasks, self.cpu0 = self._read()

    @staticmethod
    def _read():
        tasks = {}
        for stat in Path("/proc").glob("[0-9]*/task/[0-9]*/stat"):
            try:
                text = stat.read_text()
                wait = int((stat.parent / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
            r = text.rfind(")")
            f = text[r + 2:].split()
            tasks[(stat.parts[2], stat.parts[4])] = (text[text.find("(") + 1:r], int(f[11]) + int(f[12]),
                                                     int(f[36]), wait)
        cpu0 = next((list(map(int, line.split()[1:])) for line in Path("/proc/stat").read_text().splitlines()
                     if line.startswith("cpu0 ")), [0] * 8)
        return tasks, cpu0

    def report(self) -> str:
        tasks, cpu0 = self._read()
        d = [a - b for a, b in zip(cpu0, self.cpu0)]
        on0, waits = {}, {}
        for k, (comm, ticks, cpu, wait) in tasks.items():
            if k not in self.tasks:
                continue
            pid = int(k[0])
            if cpu == 0 and ticks > self.tasks[k][1]:
                on0[(pid, comm)] = on0.get((pid, comm), 0) + ticks - self.tasks[k][1]
            if pid in self.watch:
                waits[(pid, comm)] = waits.get((pid, comm), 0) + (wait - self.tasks[k][3]) / 1e6
        top = sorted(on0.items(), key=lambda x: -x[1])[:8]
        return (f"CPU 0 since the snapshot (ticks of {os.sysconf('SC_CLK_TCK')}/s): user {d[0]}, system {d[2]}, "
                f"idle {d[3]}, softirq {d[6]}, steal {d[7]}; busiest tasks last seen on CPU 0: "
                + ", ".join(f"{c}[{p}] {n}" for (p, c), n in top)
                + "; run-queue wait of the watched processes: "
                + ", ".join(f"{c}[{p}] {w:.0f} ms" for (p, c), w in waits.items()))


def median(values) -> float:
    v = sorted(values)
    return v[len(v) // 2] if v else float("nan")


def p99(samples: list[float]) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(0.99 * len(s)))] if s else float("nan")


class VictimLoad:
    """One paced keep-alive client of GET /work at `rate` per second; every latency with
    its send time. Bounded by deadline_s."""

    def __init__(self, port: int, rate: float, deadline_s: float):
        self.port = port
        self.rate = rate
        self.stop_event = threading.Event()
        self.deadline = time.monotonic() + deadline_s
        self.samples: list[tuple[float, float]] = []  # (monotonic send time, seconds)
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "VictimLoad":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)

    def latencies(self, since: float, until: float | None = None) -> list[float]:
        until = until or time.monotonic()
        return [lat for t, lat in list(self.samples) if since <= t < until]

    def _run(self) -> None:
        conn = None

        def one():
            nonlocal conn
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/work")
                conn.getresponse().read()
                self.samples.append((t0, time.monotonic() - t0))
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(repr(e))
                conn = None

        paced(one, self.rate, self.stop_event, self.deadline)
        if conn is not None:
            conn.close()


@dataclass
class CurlResult:
    code: int
    num_connects: int
    url: str


def curl(urls: list[str], extra: Iterable[str] = (), timeout: float = 30.0,
         http10: bool = False, head: bool = False) -> list[CurlResult]:
    """One curl invocation fetching all `urls` in order (curl reuses its connection
    between them when the server allows). Bodies go to /dev/null."""
    if not urls:
        return []
    argv = ["curl", "-s", "--max-time", "10", "-w", "%{http_code} %{num_connects}\\n"]
    if http10:
        argv.append("-0")
    if head:
        argv.append("-I")
    argv += list(extra)
    for u in urls:
        argv += ["-o", "/dev/null", u]
    cp = run(argv, timeout=timeout, check=False)
    lines = cp.stdout.strip().splitlines()
    if len(lines) != len(urls):
        raise AssertionError(f"curl printed {len(lines)} results for {len(urls)} URLs "
                             f"(exit {cp.returncode}): {cp.stdout!r} {cp.stderr!r}")
    out = []
    for u, line in zip(urls, lines):
        code, conns = line.split()
        out.append(CurlResult(int(code), int(conns), u))
    return out


def curl_each(urls: list[str], **kw) -> list[CurlResult]:
    """One curl process per URL: a fresh connection each time."""
    res = []
    for u in urls:
        res += curl([u], **kw)
    return res


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    socket_errors: dict
    non_2xx: int
    extra: dict = field(default_factory=dict)
    output: str = ""


def parse_wrk(out: str) -> WrkResult:
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out, re.MULTILINE)
    if not m:
        raise AssertionError(f"cannot find 'N requests in' in wrk output:\n{out}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    errs = {}
    em = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if em:
        errs = dict(zip(("connect", "read", "write", "timeout"), map(int, em.groups())))
    nm = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    extra = {}
    for em2 in re.finditer(r"^E2E (.*)$", out, re.MULTILINE):
        for kv in em2.group(1).split():
            k, _, v = kv.partition("=")
            extra[k] = int(v)
    return WrkResult(int(m.group(1)), float(m.group(2)) * scale, errs,
                     int(nm.group(1)) if nm else 0, extra, out)


def wrk(url: str, threads: int, connections: int, duration_s: int,
        script: Path | None = None, env: dict | None = None) -> WrkResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--timeout", "5s"]
    if script:
        argv += ["-s", str(script)]
    argv.append(url)
    cp = run(argv, timeout=duration_s + 30, env=env)
    return parse_wrk(cp.stdout)


# ---------------------------------------------------------------------------------------
# Servers.

def start_python_server(procs: ProcessSet, name: str = "pyserver",
                        port: int | None = None) -> tuple[Managed, int]:
    port = port or free_port()
    m = procs.start(name, [sys.executable, str(SERVERS / "py_http_server.py"),
                           "--port", str(port)])
    wait_for_port(port, proc=m)
    return m, port


def start_node_server(procs: ProcessSet, name: str = "nodeserver",
                      port: int | None = None) -> tuple[Managed, int]:
    port = port or free_port()
    m = procs.start(name, [NODE, str(SERVERS / "node_http_server.js"), str(port)])
    wait_for_port(port, proc=m)
    return m, port


NGINX_TEMPLATE = """\
user root;
daemon off;
master_process on;
worker_processes 2;
error_log {d}/nginx-error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    types {{ text/html html; text/plain txt; application/octet-stream bin; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
{http_extra}
    server {{
        listen 127.0.0.1:{port};
{server_body}
    }}
}}
"""


def start_nginx(procs: ProcessSet, workdir: Path, server_body: str, http_extra: str = "",
                port: int | None = None, name: str = "nginx") -> tuple[Managed, int, Path]:
    """nginx in the foreground (master + 2 workers as root) with a generated config in
    `workdir/<name>`; returns (process, port, its directory)."""
    port = port or free_port()
    d = workdir / name
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(NGINX_TEMPLATE.format(d=d, port=port, http_extra=http_extra,
                                          server_body=server_body))
    run([NGINX, "-t", "-p", str(d), "-c", str(conf), "-e", str(d / "nginx-error.log")],
        timeout=15)
    m = procs.start(name, [NGINX, "-p", str(d), "-c", str(conf), "-e",
                           str(d / "nginx-error.log")])
    wait_for_port(port, proc=m)
    return m, port, d


def nginx_dump(d: Path) -> str:
    """`nginx -T` of the nginx start_nginx() put in directory `d`: the configuration it
    would load now, includes expanded."""
    return run([NGINX, "-T", "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "nginx-error.log")],
               timeout=15).stdout


def nginx_check_argv(d: Path, fail_marker: Path | None = None) -> list[str]:
    """A healing.files check command for that nginx: `nginx -t`; while `fail_marker`
    exists it fails instead (a test's broken check)."""
    check = f"{NGINX} -t -q -p {d} -c {d / 'nginx.conf'} -e {d / 'nginx-error.log'}"
    if fail_marker is not None:
        check = f"test ! -e {fail_marker} || {{ echo 'check disabled by the test' >&2; exit 1; }}; " + check
    return ["/bin/sh", "-c", check]


def healing_yaml_head(**guardrails) -> str:
    """The start of a config for a healing test on 1 s windows (5 windows of warm-up, no
    rules, acting for real): add `  files:` and what the test needs after it."""
    extra = "".join(f"    {k}: {v}\n" for k, v in guardrails.items())
    return ("aggregation:\n  window: 1s\ndetection:\n  warmup: 5\nhealing:\n  guardrails:\n"
            f"    dry_run: false\n{extra}  rules: []\n")


def nginx_file_yaml(name: str, path: Path, template: str, d: Path, fail_marker: Path | None = None,
                    reload_guard: Path | None = None) -> str:
    """A healing.files entry (YAML, indented for `  files:`) for a file nginx in `d` (from
    start_nginx) includes: `template` (YAML double-quoted text), checked with `nginx -t`
    and reloaded with SIGHUP to its master. With `reload_guard`, the reload is a command
    that, while the guard file exists, refuses (exit 1, nginx not signalled) any content
    of `path` other than the guard's: a test's failing reload, which the restored file
    then passes."""
    head = (f"    - name: {name}\n      path: {path}\n      template: \"{template}\"\n"
            f"      check: {json.dumps(nginx_check_argv(d, fail_marker))}\n")
    if reload_guard is None:
        return head + f"      reload_signal: HUP\n      reload_pidfile: {d}/nginx.pid\n"
    guard = (f"test ! -e {reload_guard} || cmp -s {reload_guard} {path} || "
             f"{{ echo 'reload refused by the test' >&2; exit 1; }}; kill -HUP $(cat {d}/nginx.pid)")
    return head + f"      reload: {json.dumps(['/bin/sh', '-c', guard])}\n"


def wait_ready(port: int, m: Managed, timeout: float = 30) -> None:
    """Until 127.0.0.1:port/-/ready answers 200 (Prometheus and Alertmanager have it)."""
    wait_for_port(port, timeout=timeout, proc=m)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http_get(f"http://127.0.0.1:{port}/-/ready", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        if not m.alive():
            break
        time.sleep(0.2)
    raise AssertionError(f"{m.name} not ready on {port}; log:\n{m.log_tail()}")


def start_alertmanager(procs: ProcessSet, workdir: Path) -> tuple[Managed, int]:
    """Debian's Alertmanager on loopback, clustering off, one do-nothing receiver."""
    port = free_port()
    d = workdir / "alertmanager"
    (d / "data").mkdir(parents=True, exist_ok=True)
    cfg = d / "alertmanager.yml"
    cfg.write_text("route:\n  receiver: default\n  group_wait: 1s\nreceivers:\n  - name: default\n")
    m = procs.start("alertmanager", [
        ALERTMANAGER, f"--config.file={cfg}", f"--storage.path={d / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="])
    wait_ready(port, m)
    return m, port


def start_prometheus(procs: ProcessSet, workdir: Path, target: str,
                     interval: str = "1s") -> tuple[Managed, int]:
    port = free_port()
    d = workdir / "prometheus"
    (d / "data").mkdir(parents=True, exist_ok=True)
    cfg = d / "prometheus.yml"
    cfg.write_text(
        "global:\n"
        f"  scrape_interval: {interval}\n"
        f"  scrape_timeout: {interval}\n"
        f"  evaluation_interval: {interval}\n"
        "scrape_configs:\n"
        "  - job_name: homeostat\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n")
    m = procs.start("prometheus", [
        PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={d / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=info"])
    wait_ready(port, m)
    return m, port


# ---------------------------------------------------------------------------------------
# Test case base class.

class DaemonTestCase(unittest.TestCase):
    """One daemon per test class (counters are cumulative; tests use unique ports).

    Subclasses override start_servers(); set START_DAEMON_FIRST = False to start the
    servers before the daemon, or AUTO_DAEMON = False to start it inside a test.
    `test_zzz_daemon_health` runs last (alphabetical order): no dropped events, no
    capture errors in the log, valid histograms, clean exit 0 on SIGTERM."""

    REQUIRED_BINARIES: tuple = ("curl",)
    # Error lines a test provokes on purpose (regexes); any other one fails the health check.
    EXPECTED_ERROR_LINES: tuple = ()
    AUTO_DAEMON = True
    START_DAEMON_FIRST = True
    # Exchanges in the last aggregation windows when the test ends (the quantile family).
    ENDS_WITH_TRAFFIC = True
    maxDiff = None

    procs: ProcessSet
    workdir: Path
    daemon: Daemon | None = None

    @classmethod
    def setUpClass(cls):
        require(binaries=cls.REQUIRED_BINARIES)
        cls.workdir = artifacts_dir(Path(sys.modules[cls.__module__].__file__).stem
                                    if cls.__module__ != "__main__"
                                    else Path(sys.argv[0]).stem)
        cls.procs = ProcessSet(cls.workdir)
        cls.addClassCleanup(cls.procs.stop_all)
        cls.daemon = Daemon(cls.procs, cls.workdir)
        if cls.AUTO_DAEMON and cls.START_DAEMON_FIRST:
            cls.daemon.start()
        cls.start_servers()
        if cls.AUTO_DAEMON and not cls.START_DAEMON_FIRST:
            cls.daemon.start()

    @classmethod
    def start_servers(cls):
        pass

    def tearDown(self):
        if self.daemon is not None and self.daemon.alive():
            self.daemon.dump_metrics(self._testMethodName)

    # -- assertions -----------------------------------------------------------------
    def metric_value(self, name: str, **filters) -> float:
        return self.daemon.scrape().sum(name, **filters)

    def setUp(self):
        self._drained = False

    def assertSettledCount(self, name: str, expected: int, msg: str = "", **filters):
        """sum(name{filters}) must reach exactly `expected`. The first check after a load
        waits up to SETTLE_TIMEOUT for the daemon to drain; later checks in the same test
        need only a short look (everything has drained by then)."""
        timeout = 1.2 if getattr(self, "_drained", False) else SETTLE_TIMEOUT
        got = settle(lambda: self.metric_value(name, **filters), expected, timeout=timeout)
        self._drained = True
        if got != expected:
            m = self.daemon.scrape()
            self.fail(f"{msg + ': ' if msg else ''}{name}{fmt_filters(filters)} = {got:g}, "
                      f"expected {expected}\nrelevant /metrics lines:\n"
                      f"{m.related(name, filters)}")
        return got

    def assertSeriesLabels(self, name: str, must: dict, **filters):
        """Every sample matching `filters` has the labels in `must`, and there is one."""
        m = self.daemon.scrape()
        samples = m.select(name, **filters)
        if not samples:
            self.fail(f"no {name}{fmt_filters(filters)} series\nrelevant /metrics lines:\n"
                      f"{m.related(name, filters)}")
        for s in samples:
            for k, v in must.items():
                if not _matches(s.l, {k: v}):
                    self.fail(f"{s}: label {k} should be {v!r}\nrelevant /metrics lines:\n"
                              f"{m.related(name, filters)}")
        return samples

    def assertServerAndClient(self, server_port: int, route: str, method: str, status: int,
                              expected: int, client_service=None, check_client: bool = True):
        """Server side of the service listening on server_port, and (subTest) the client
        side of whoever called it (client_service: exact name or filter, None = any)."""
        with self.subTest(side="server", route=route, method=method, status=status):
            self.assertSettledCount(
                SERVER_HIST + "_count", expected, service=port_service(server_port),
                http_route=route, http_request_method=method,
                http_response_status_code=str(status))
        if check_client:
            with self.subTest(side="client", route=route, method=method, status=status):
                filters = dict(server_port=str(server_port), http_route=route,
                               http_request_method=method,
                               http_response_status_code=str(status))
                if client_service is not None:
                    filters["service"] = client_service
                self.assertSettledCount(CLIENT_HIST + "_count", expected, **filters)

    def assertAllOk(self, results: list[CurlResult], code: int):
        bad = [r for r in results if r.code != code]
        self.assertFalse(bad, f"unexpected HTTP codes (load generator view): {bad}")

    # -- healing ----------------------------------------------------------------------
    def actions(self, rule: str | None = None, verdict: str | None = None,
                service: str | None = None) -> list[dict]:
        """The healing audit log (/api/v1/actions), or its entries with that rule, verdict
        and service (each None: any)."""
        status, _, body = self.daemon.get("/api/v1/actions")
        self.assertEqual(status, 200, body)
        return [a for a in json.loads(body)["actions"]
                if (rule is None or a["rule"] == rule) and (verdict is None or a["verdict"] == verdict)
                and (service is None or a["service"] == service)]

    def wait_until(self, what: str, pred, timeout: float, context: Callable[[], str] = lambda: ""):
        """pred()'s first truthy value within timeout, else a failure that shows `context()`,
        the last audit entries and the daemon's log tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = pred()
            if got:
                return got
            time.sleep(0.5)
        self.fail(f"{what} within {timeout:.0f} s; {context()}; actions: "
                  f"{json.dumps(self.actions(), indent=1)[-3000:]}\ndaemon log:\n{self.daemon.log_text()[-3000:]}")

    # -- the checks every test file ends with ----------------------------------------
    def test_zzz_daemon_health(self):
        """No dropped events, valid exposition, no capture errors, clean SIGTERM exit."""
        d = self.daemon
        if d is None or d.managed is None:
            self.fail("the daemon was never started")
        with self.subTest("metrics families present"):
            m = d.scrape()
            # The quantiles cover only the last windows: a test that ends idle has none.
            recent = (QUANTILE,) if self.ENDS_WITH_TRAFFIC else ()
            for fam in (SERVER_HIST, CLIENT_HIST, DROPPED, EVENTS, BUILD_INFO) + recent:
                self.assertTrue(m.has_family(fam), f"/metrics has no {fam}")
        with self.subTest("content type"):
            headers, _ = d.scrape_raw()
            ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
            self.assertIn("text/plain", ctype)
            self.assertIn("0.0.4", ctype)
        with self.subTest("no dropped events"):
            m = d.scrape()
            dropped = m.select(DROPPED)
            nonzero = [str(s) for s in dropped if s.value != 0]
            self.assertFalse(nonzero, "events were dropped:\n" + "\n".join(nonzero)
                             + "\nhomeostat_events_total:\n" + m.related(EVENTS, {})
                             + "\n/api/v1/status:\n" + d.status_json())
        with self.subTest("histograms consistent"):
            self.assertEqual(d.scrape().histogram_problems(), [])
        with self.subTest("clean exit on SIGTERM"):
            code = d.stop(timeout=5.0)
            self.assertIsNotNone(code, f"homeostatd did not exit within 5 s of SIGTERM "
                                       f"(killed); log tail:\n{d.managed.log_tail(30)}")
            self.assertEqual(code, 0, f"homeostatd exit code {code} after SIGTERM; log "
                                      f"tail:\n{d.managed.log_tail(30)}")
        with self.subTest("no capture errors in the daemon log"):
            bad = [line for line in capture_error_lines(d.log_text())
                   if not any(re.search(p, line) for p in self.EXPECTED_ERROR_LINES)]
            self.assertFalse(bad, f"error lines in {d.log_path}:\n" + "\n".join(bad[:30]))


def main():
    install_guards()
    unittest.main(verbosity=2)
