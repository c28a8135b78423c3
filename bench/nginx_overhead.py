#!/usr/bin/env python3
"""nginx overhead benchmark for homeostatd (the acceptance benchmark).

nginx serves a small static file on 127.0.0.1 and wrk loads it over keep-alive
connections. Short rounds alternate WITHOUT and WITH the daemon (the daemon is started
before each with-round, waited for on /healthz and stopped after it; which round of a
pair goes first alternates, to cancel drift). Every figure is a median of per-pair
values, because single rounds on the shared 2-core machines vary by +-30 %.

Measured per pair:
  * throughput ratio            wrk req/s with / without
  * nginx CPU per request ratio utime+stime of every nginx process (/proc/<pid>/stat)
                                over the round / requests, with / without
  * BPF ns per request          run_time_ns delta of hs_ingress + hs_egress + hs_sock_state
                                (kernel.bpf_stats_enabled=1, `bpftool prog show -j`) over
                                the with-round / wrk's completed requests. Both the server's
                                (nginx) and the client's (wrk) sockets are seen, so this is
                                the whole host's cost per request. Per program: ns per run
                                and runs per request.
  * daemon CPU per 10k req/s    (daemon utime+stime / round seconds) / (req/s / 10000), in %
                                of one core
  * daemon peak RSS             VmHWM of the daemon at the end of the with-round
  * drops                       sum of homeostat_events_dropped_total after the with-round
  * counted                     homeostat_events_total{kind="http_exchange"} delta over the
                                round / (2 x wrk requests) -- one server-side exchange (nginx)
                                and one client-side exchange (wrk) per request; also the
                                nginx series' http_server_request_duration_seconds_count /
                                wrk requests.

Run as root:  sudo python3 bench/nginx_overhead.py --pairs 15 [--json results.json]
Smoke check:  sudo python3 bench/nginx_overhead.py --quick      (= --pairs 3 --duration 1)

Touches nothing it did not create: nginx runs from a private temp directory (config,
pid file, logs, temp paths), every child runs in its own session and is killed on any
exit, and kernel.bpf_stats_enabled is restored to its previous value.
Exit status: 0 all targets pass, 1 a target fails, 2 the benchmark could not run.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

PROGS = ("hs_ingress", "hs_egress", "hs_sock_state")
BPF_STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TARGETS = {
    "throughput_ratio": (">=", 0.97),
    "bpf_ns_per_request": ("<=", 600.0),
    "daemon_cpu_pct_per_10k_rps": ("<=", 3.0),
    "daemon_peak_rss_mb": ("<=", 40.0),
    "dropped_events": ("==", 0),
    "counted_ratio": (">=", 1.0),
}


class Abort(Exception):
    pass


class BenchError(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc helpers


def read_file(path):
    with open(path) as f:
        return f.read()


def proc_stat_fields(pid):
    """Fields of /proc/<pid>/stat after the comm, so index 0 is field 3 (state)."""
    s = read_file(f"/proc/{pid}/stat")
    return s[s.rindex(")") + 2:].split()


def cpu_seconds(pids):
    """(utime+stime from /proc/<pid>/stat, sum_exec_runtime of all threads from schedstat)
    summed over pids, in seconds. Vanished pids count as 0."""
    ticks = 0
    ns = 0
    for pid in pids:
        try:
            f = proc_stat_fields(pid)
            ticks += int(f[11]) + int(f[12])
        except (OSError, ValueError, IndexError):
            continue
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                ns += int(read_file(f"/proc/{pid}/task/{tid}/schedstat").split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return ticks / CLK_TCK, ns / 1e9


def children_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if int(proc_stat_fields(d)[1]) == ppid:
                out.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return out


def vm_hwm_mb(pid):
    try:
        for line in read_file(f"/proc/{pid}/status").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def system_busy_seconds():
    """(busy, total) CPU seconds of the whole machine from /proc/stat."""
    f = [int(x) for x in read_file("/proc/stat").splitlines()[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    total = sum(f[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- HTTP / metrics

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, timeout=5.0):
    with _opener.open(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


_SAMPLE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)')
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(2) or ""))
        try:
            out.append((m.group(1), labels, float(m.group(3))))
        except ValueError:
            pass
    return out


def metric_sum(samples, name, pred=lambda labels: True):
    return sum(v for n, l, v in samples if n == name and pred(l))


# ---------------------------------------------------------------- BPF stats


def bpf_stats_get():
    return int(read_file(BPF_STATS_SYSCTL).strip())


def bpf_stats_set(v):
    with open(BPF_STATS_SYSCTL, "w") as f:
        f.write(f"{v}\n")


def prog_ids_of(pid):
    """IDs of the BPF programs a process holds (fdinfo of its prog and link fds)."""
    ids = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return ids
    for fd in fds:
        try:
            for line in read_file(f"/proc/{pid}/fdinfo/{fd}").splitlines():
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass
    return ids


def bpf_prog_snapshot(daemon_pid):
    """{name: (run_time_ns, run_cnt)} of the daemon's programs, plus the hs_* programs
    that belong to someone else (another homeostatd on a shared machine). Ownership comes
    from the daemon's fdinfo (bpftool here is built without pid lookup)."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise BenchError(f"bpftool prog show failed: {out.stderr.strip()}")
    progs = json.loads(out.stdout or "[]")
    ids = prog_ids_of(daemon_pid) if daemon_pid is not None else set()
    mine, foreign = {}, []
    for p in progs:
        name = p.get("name", "")
        if name not in PROGS:
            continue
        if p.get("id") in ids:
            t, c = mine.get(name, (0, 0))
            mine[name] = (t + int(p.get("run_time_ns", 0)), c + int(p.get("run_cnt", 0)))
        else:
            foreign.append(p.get("id"))
    return mine, foreign


# ---------------------------------------------------------------- child processes


class Children:
    """Every process this script starts, each in its own session, so that it can be
    killed with its whole process group and nothing else."""

    def __init__(self):
        self.procs = []

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    @staticmethod
    def alive(p):
        return p.returncode is None and p.poll() is None

    def stop(self, p, sig=signal.SIGTERM, timeout=10.0):
        """Signal p, wait up to timeout, then SIGKILL its process group (only while its
        leader is unreaped, so the group id is certainly still ours). Returns rc."""
        if self.alive(p):
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"pid {p.pid} ({os.path.basename(p.args[0])}) ignored signal {int(sig)}; killing its group")
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(reversed(self.procs)):
            self.stop(p, timeout=5.0)


# ---------------------------------------------------------------- nginx

NGINX_CONF = """\
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 10000000;
    default_type text/plain;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location / {{ }}
    }}
}}
"""


class Nginx:
    def __init__(self, children, binary, workers, tmpdir, body_bytes):
        self.children = children
        self.dir = tmpdir
        self.port = free_port()
        www = os.path.join(tmpdir, "www")
        os.makedirs(www)
        # Workers run as an unprivileged user: they must be able to reach the file.
        os.chmod(tmpdir, 0o755)
        os.chmod(www, 0o755)
        self.path = "/bench.txt"
        with open(os.path.join(www, "bench.txt"), "w") as f:
            line = "homeostat nginx overhead benchmark static body.\n"
            f.write((line * (body_bytes // len(line) + 1))[:body_bytes])
        os.chmod(os.path.join(www, "bench.txt"), 0o644)
        self.conf = os.path.join(tmpdir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(workers=workers, d=tmpdir, port=self.port))
        self.log = open(os.path.join(tmpdir, "nginx.stderr"), "w")
        self.proc = children.spawn([binary, "-p", tmpdir, "-c", self.conf, "-e", os.path.join(tmpdir, "error.log"),
                                    "-g", "daemon off;"], stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}{self.path}"
        deadline = time.monotonic() + 15
        while True:
            if not Children.alive(self.proc):
                raise BenchError(f"nginx exited with {self.proc.returncode}: {self.tail()}")
            try:
                if http_get(self.url, timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"nginx did not answer on {self.url} within 15 s: {self.tail()}")
            time.sleep(0.05)
        self.workers = children_of(self.proc.pid)

    def pids(self):
        # Re-read the workers every round: a crashed worker would be replaced.
        self.workers = children_of(self.proc.pid)
        return [self.proc.pid] + self.workers

    def tail(self):
        out = []
        for name in ("nginx.stderr", "error.log"):
            try:
                out.append(read_file(os.path.join(self.dir, name))[-800:])
            except OSError:
                pass
        return " | ".join(x.strip() for x in out if x.strip())

    def stop(self):
        workers = list(self.workers)
        self.children.stop(self.proc, signal.SIGTERM, timeout=10)
        # The master takes its workers down; kill any that outlived it (still in its group).
        for w in workers:
            try:
                if int(proc_stat_fields(w)[2]) == self.proc.pid:
                    os.kill(w, signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
        self.log.close()


# ---------------------------------------------------------------- daemon


class Daemon:
    def __init__(self, children, binary, extra_args, tmpdir, index, healthz_timeout):
        self.children = children
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(tmpdir, f"homeostatd.{index}.log")
        self.log = open(self.log_path, "w")
        state = ["--state-dir", os.path.join(tmpdir, "state")]  # not the host's /var/lib/homeostat
        self.proc = children.spawn([binary, "--listen", f"127.0.0.1:{self.port}"] + state + extra_args,
                                   stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        t0 = time.monotonic()
        while True:
            if not Children.alive(self.proc):
                raise BenchError(f"homeostatd exited with {self.proc.returncode} before /healthz: {self.tail()}")
            try:
                if http_get(self.base + "/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - t0 > healthz_timeout:
                raise BenchError(f"homeostatd not healthy within {healthz_timeout} s: {self.tail()}")
            time.sleep(0.05)
        self.startup_seconds = time.monotonic() - t0

    def metrics(self):
        status, text = http_get(self.base + "/metrics", timeout=10)
        if status != 200:
            raise BenchError(f"/metrics answered {status}")
        return parse_metrics(text)

    def tail(self):
        try:
            self.log.flush()
            return read_file(self.log_path)[-1500:].strip()
        except OSError:
            return ""

    def stop(self):
        rc = self.children.stop(self.proc, signal.SIGTERM, timeout=10)
        self.log.close()
        return rc


# ---------------------------------------------------------------- wrk


def run_wrk(children, args, url, duration, tmpdir):
    """Runs wrk, returns its parsed output and its own CPU seconds (from wait4)."""
    out_path = os.path.join(tmpdir, "wrk.out")
    with open(out_path, "w") as out:
        p = children.spawn(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{duration}s",
                            "--timeout", "5s", url], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + duration + 20
    ru = None
    try:
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                raise BenchError(f"wrk did not finish within {duration + 20} s")
            time.sleep(0.01)
    finally:
        children.stop(p, signal.SIGKILL, timeout=2)
    text = read_file(out_path)
    if p.returncode != 0:
        raise BenchError(f"wrk exited with {p.returncode}: {text.strip()[-500:]}")
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", text)
    r = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m or not r:
        raise BenchError(f"cannot parse wrk output: {text.strip()[-500:]}")
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    res = {"requests": int(m.group(1)), "seconds": float(m.group(2)) * unit, "rps": float(r.group(1)),
           "socket_errors": 0, "non_2xx": 0,
           "cpu_seconds": (ru.ru_utime + ru.ru_stime) if ru else None}
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if e:
        res["socket_errors"] = sum(int(x) for x in e.groups())
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if n:
        res["non_2xx"] = int(n.group(1))
    return res


# ---------------------------------------------------------------- one round


def run_round(ctx, with_daemon, index):
    args, children, nginx = ctx["args"], ctx["children"], ctx["nginx"]
    r = {"with_daemon": with_daemon, "warnings": []}
    daemon = None
    try:
        if with_daemon:
            if bpf_stats_get() != 1:
                r["warnings"].append("kernel.bpf_stats_enabled was reset by someone else; set to 1 again")
                bpf_stats_set(1)
            daemon = Daemon(children, args.daemon, args.daemon_arg, ctx["tmpdir"], index, args.healthz_timeout)
            r["daemon_startup_seconds"] = daemon.startup_seconds
        time.sleep(args.settle)  # same pause in both kinds of round

        samples0 = daemon.metrics() if daemon else None
        progs0, foreign = bpf_prog_snapshot(daemon.pid if daemon else None)
        if foreign:
            r["warnings"].append(f"{len(foreign)} hs_* programs of another homeostatd are attached (ids {foreign})")
        r["foreign_hs_programs"] = len(foreign)
        if daemon and set(progs0) != set(PROGS):
            raise BenchError(f"daemon's programs not found in bpftool: have {sorted(progs0)}, want {list(PROGS)}")
        npids = nginx.pids()
        ncpu0 = cpu_seconds(npids)
        dcpu0 = cpu_seconds([daemon.pid]) if daemon else None
        sys0 = system_busy_seconds()
        t0 = time.monotonic()

        wrk = run_wrk(children, args, nginx.url, args.duration, ctx["tmpdir"])

        t1 = time.monotonic()
        sys1 = system_busy_seconds()
        dcpu1 = cpu_seconds([daemon.pid]) if daemon else None
        ncpu1 = cpu_seconds(npids)
        wall = t1 - t0
        r.update(wrk=wrk, wall_seconds=wall)
        if wrk["socket_errors"] or wrk["non_2xx"]:
            r["warnings"].append(f"wrk: {wrk['socket_errors']} socket errors, {wrk['non_2xx']} non-2xx")
        req = max(wrk["requests"], 1)
        r["nginx_cpu_seconds"] = ncpu1[0] - ncpu0[0]
        r["nginx_cpu_seconds_schedstat"] = ncpu1[1] - ncpu0[1]
        r["nginx_cpu_us_per_request"] = r["nginx_cpu_seconds"] / req * 1e6
        r["nginx_cpu_us_per_request_schedstat"] = r["nginx_cpu_seconds_schedstat"] / req * 1e6
        busy = sys1[0] - sys0[0]
        r["machine_busy_cores"] = busy / wall
        ours = r["nginx_cpu_seconds"] + (wrk["cpu_seconds"] or 0)

        if daemon:
            progs1, _ = bpf_prog_snapshot(daemon.pid)
            samples1 = daemon.metrics()
            rss = vm_hwm_mb(daemon.pid)
            per = {}
            total_ns = total_runs = 0
            for name in PROGS:
                t = progs1.get(name, (0, 0))[0] - progs0.get(name, (0, 0))[0]
                c = progs1.get(name, (0, 0))[1] - progs0.get(name, (0, 0))[1]
                total_ns += t
                total_runs += c
                per[name] = {"run_time_ns": t, "run_cnt": c, "ns_per_run": (t / c) if c else None,
                             "runs_per_request": c / req, "ns_per_request": t / req}
            if total_runs and not total_ns:
                r["warnings"].append("run_cnt grew but run_time_ns did not: bpf stats were off")
            r["bpf"] = per
            r["bpf_ns_per_request"] = total_ns / req
            r["bpf_runs_per_request"] = total_runs / req
            r["daemon_cpu_seconds"] = dcpu1[0] - dcpu0[0]
            r["daemon_cpu_seconds_schedstat"] = dcpu1[1] - dcpu0[1]
            ours += r["daemon_cpu_seconds"]
            rps = wrk["rps"] or 1.0
            r["daemon_cpu_pct_per_10k_rps"] = 100.0 * (r["daemon_cpu_seconds"] / wall) / (rps / 10000.0)
            r["daemon_cpu_pct_per_10k_rps_schedstat"] = (
                100.0 * (r["daemon_cpu_seconds_schedstat"] / wall) / (rps / 10000.0))
            r["daemon_peak_rss_mb"] = rss
            r["dropped_events"] = metric_sum(samples1, "homeostat_events_dropped_total")
            r["dropped_by_reason"] = {l.get("reason", ""): v for n, l, v in samples1
                                      if n == "homeostat_events_dropped_total"}
            kind = lambda l: l.get("kind") == "http_exchange"
            r["exchanges"] = (metric_sum(samples1, "homeostat_events_total", kind)
                              - metric_sum(samples0, "homeostat_events_total", kind))
            r["counted_ratio"] = r["exchanges"] / (2.0 * req)
            if r["counted_ratio"] > 1.02:
                r["warnings"].append("other HTTP traffic on the host ran through the programs during the round "
                                     "(exchanges counted > 1.02 × 2 × wrk requests): BPF ns per request overstated")
            nginx_series = lambda l: "nginx" in l.get("service", "")
            r["nginx_series_count"] = metric_sum(samples1, "http_server_request_duration_seconds_count", nginx_series)
            r["nginx_series_ratio"] = r["nginx_series_count"] / req
            r["nginx_series"] = sorted({(l.get("service", ""), l.get("http_route", "")) for n, l, v in samples1
                                        if n == "http_server_request_duration_seconds_count" and nginx_series(l)})
        r["other_cpu_cores"] = max(0.0, busy - ours) / wall  # approximate: what else ran on the machine
    finally:
        if daemon:
            rc = daemon.stop()
            r["daemon_exit_code"] = rc
            if rc != 0:
                r["warnings"].append(f"homeostatd exited with {rc} on SIGTERM: {daemon.tail()[-300:]}")
    return r


# ---------------------------------------------------------------- summary


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    xs = sorted(x for x in xs if x is not None)
    return (xs[0], xs[-1]) if xs else (None, None)


def verdict(key, value):
    op, limit = TARGETS[key]
    if value is None:
        return "FAIL"
    ok = {"<=": value <= limit, ">=": value >= limit, "==": value == limit}[op]
    return "PASS" if ok else "FAIL"


def summarize(pairs):
    s = {}
    w = [p["with"] for p in pairs]
    wo = [p["without"] for p in pairs]
    thr = [a["wrk"]["rps"] / b["wrk"]["rps"] for a, b in zip(w, wo)]
    cpu = [a["nginx_cpu_us_per_request"] / b["nginx_cpu_us_per_request"]
           for a, b in zip(w, wo) if b["nginx_cpu_us_per_request"] > 0]
    cpu_ss = [a["nginx_cpu_us_per_request_schedstat"] / b["nginx_cpu_us_per_request_schedstat"]
              for a, b in zip(w, wo) if b["nginx_cpu_us_per_request_schedstat"] > 0]
    s["rps_without_median"] = med([b["wrk"]["rps"] for b in wo])
    s["rps_with_median"] = med([a["wrk"]["rps"] for a in w])
    s["nginx_cpu_us_per_request_without_median"] = med([b["nginx_cpu_us_per_request"] for b in wo])
    s["throughput_ratio"] = med(thr)
    s["throughput_ratio_range"] = spread(thr)
    s["nginx_cpu_per_request_ratio"] = med(cpu)
    s["nginx_cpu_per_request_ratio_range"] = spread(cpu)
    s["nginx_cpu_per_request_ratio_schedstat"] = med(cpu_ss)
    for k in ("bpf_ns_per_request", "bpf_runs_per_request", "daemon_cpu_pct_per_10k_rps",
              "daemon_cpu_pct_per_10k_rps_schedstat", "counted_ratio", "nginx_series_ratio"):
        s[k] = med([a.get(k) for a in w])
        s[k + "_range"] = spread([a.get(k) for a in w])
    rss = [a.get("daemon_peak_rss_mb") for a in w]
    s["daemon_peak_rss_mb"] = max((x for x in rss if x is not None), default=None)
    s["daemon_peak_rss_mb_median"] = med(rss)
    s["dropped_events"] = sum(a.get("dropped_events", 0) for a in w)
    s["counted_ratio_min"] = spread([a.get("counted_ratio") for a in w])[0]
    s["other_cpu_cores_median"] = med([r.get("other_cpu_cores") for p in pairs for r in (p["with"], p["without"])])
    s["programs"] = {}
    for name in PROGS:
        s["programs"][name] = {
            "ns_per_run": med([a["bpf"][name]["ns_per_run"] for a in w]),
            "runs_per_request": med([a["bpf"][name]["runs_per_request"] for a in w]),
            "ns_per_request": med([a["bpf"][name]["ns_per_request"] for a in w]),
        }
    s["verdicts"] = {
        "throughput_ratio": verdict("throughput_ratio", s["throughput_ratio"]),
        "bpf_ns_per_request": verdict("bpf_ns_per_request", s["bpf_ns_per_request"]),
        "daemon_cpu_pct_per_10k_rps": verdict("daemon_cpu_pct_per_10k_rps", s["daemon_cpu_pct_per_10k_rps"]),
        "daemon_peak_rss_mb": verdict("daemon_peak_rss_mb", s["daemon_peak_rss_mb"]),
        "dropped_events": verdict("dropped_events", s["dropped_events"]),
        # every with-round must have counted at least 2 exchanges per wrk request
        "counted_ratio": verdict("counted_ratio", s["counted_ratio_min"]),
    }
    return s


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def markdown(s, meta):
    r = s["verdicts"]
    lo_hi = lambda k, spec: f"{fmt(s[k + '_range'][0], spec)} – {fmt(s[k + '_range'][1], spec)}"
    rows = [
        ("throughput with / without", fmt(s["throughput_ratio"], ".3f"), lo_hi("throughput_ratio", ".3f"),
         "≥ 0.97", r["throughput_ratio"]),
        ("nginx CPU per request, with / without", fmt(s["nginx_cpu_per_request_ratio"], ".3f"),
         lo_hi("nginx_cpu_per_request_ratio", ".3f"), "—", "info"),
        ("BPF ns per request (all hs_* programs, server + client side)", fmt(s["bpf_ns_per_request"], ".0f"),
         lo_hi("bpf_ns_per_request", ".0f"), "≤ 600", r["bpf_ns_per_request"]),
        ("daemon CPU per 10k req/s (% of a core)", fmt(s["daemon_cpu_pct_per_10k_rps"], ".2f"),
         lo_hi("daemon_cpu_pct_per_10k_rps", ".2f"), "≤ 3 %", r["daemon_cpu_pct_per_10k_rps"]),
        ("same, from schedstat (ns-precise; /proc/<pid>/stat counts 10 ms ticks)",
         fmt(s["daemon_cpu_pct_per_10k_rps_schedstat"], ".2f"), lo_hi("daemon_cpu_pct_per_10k_rps_schedstat", ".2f"),
         "—", "info"),
        ("daemon peak RSS, VmHWM (MiB; max over rounds)", fmt(s["daemon_peak_rss_mb"], ".1f"),
         f"median {fmt(s['daemon_peak_rss_mb_median'], '.1f')}", "≤ 40", r["daemon_peak_rss_mb"]),
        ("dropped events (sum over with-rounds)", fmt(s["dropped_events"], ".0f"), "", "0", r["dropped_events"]),
        ("exchanges counted / (2 × wrk requests)", fmt(s["counted_ratio"], ".4f"),
         lo_hi("counted_ratio", ".4f"), "≥ 1 (every round)", r["counted_ratio"]),
        ("nginx series count / wrk requests", fmt(s["nginx_series_ratio"], ".4f"),
         lo_hi("nginx_series_ratio", ".4f"), "—", "info"),
    ]
    out = [f"homeostat nginx overhead, {meta['date']}: {meta['pairs']} pairs × {meta['duration']} s, "
           f"nginx {meta['nginx_version']} ({meta['workers']} worker(s)), wrk -t{meta['threads']} -c{meta['connections']}, "
           f"kernel {meta['kernel']}, {meta['cpus']} CPUs",
           f"median req/s without {fmt(s['rps_without_median'], '.0f')}, with {fmt(s['rps_with_median'], '.0f')}; "
           f"nginx CPU per request without {fmt(s['nginx_cpu_us_per_request_without_median'], '.1f')} µs; "
           f"other load on the machine (median) {fmt(s['other_cpu_cores_median'], '.2f')} cores",
           "",
           "| metric | median of pairs | min – max | target | result |",
           "|---|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    out += ["", "| program | ns per run | runs per request | ns per request |", "|---|---|---|---|"]
    for name, p in s["programs"].items():
        out.append(f"| {name} | {fmt(p['ns_per_run'], '.0f')} | {fmt(p['runs_per_request'], '.2f')} | "
                   f"{fmt(p['ns_per_request'], '.0f')} |")
    out.append("")
    out.append("overall: " + ("PASS" if all(v == "PASS" for v in r.values()) else
                              "FAIL (" + ", ".join(k for k, v in r.items() if v != "PASS") + ")"))
    return "\n".join(out)


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=15, help="with/without pairs (default 15)")
    ap.add_argument("--duration", type=int, default=2, help="seconds per round (default 2; wrk takes whole seconds)")
    ap.add_argument("--quick", action="store_true", help="smoke check: --pairs 3 --duration 1")
    ap.add_argument("--daemon", default=os.path.join(REPO, "build", "agent", "homeostatd"),
                    help="homeostatd binary (default build/agent/homeostatd)")
    ap.add_argument("--daemon-arg", action="append", default=[],
                    help="extra argument for homeostatd (repeatable), e.g. --daemon-arg=--config=FILE")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--workers", type=int, default=1, help="nginx worker_processes (default 1; wrk uses the other core)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--body-bytes", type=int, default=612, help="size of the static file (default 612)")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured wrk seconds before the pairs (default 2)")
    ap.add_argument("--settle", type=float, default=0.3, help="pause before every round (default 0.3 s)")
    ap.add_argument("--healthz-timeout", type=float, default=30.0)
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (configs, logs)")
    args = ap.parse_args()
    if args.quick:
        args.pairs, args.duration = 3, 1
    if args.pairs < 1 or args.duration <= 0:
        ap.error("--pairs must be >= 1 and --duration > 0")
    if os.geteuid() != 0:
        print("nginx_overhead.py: must run as root (BPF programs, bpf_stats sysctl)", file=sys.stderr)
        return 2
    for tool, path in (("wrk", shutil.which("wrk")), ("bpftool", shutil.which("bpftool")),
                       ("nginx", args.nginx if os.access(args.nginx, os.X_OK) else None),
                       ("homeostatd", args.daemon if os.access(args.daemon, os.X_OK) else None)):
        if not path:
            print(f"nginx_overhead.py: {tool} not found (homeostatd: {args.daemon})", file=sys.stderr)
            return 2

    def on_signal(signum, _frame):
        raise Abort(f"received signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    children = Children()
    tmpdir = tempfile.mkdtemp(prefix="hs-nginx-overhead-")
    stats_before = None
    nginx = None
    pairs = []
    warnings = []
    warned = {}  # round warning -> pairs it occurred in
    rc = 2
    try:
        stats_before = bpf_stats_get()
        _, foreign = bpf_prog_snapshot(None)
        if foreign:
            warnings.append(f"{len(foreign)} hs_* programs of another homeostatd are attached at start "
                            f"(ids {foreign}): both kinds of round carry their cost")
            log("WARNING: " + warnings[-1])
        if stats_before != 1:
            bpf_stats_set(1)
        nginx = Nginx(children, args.nginx, args.workers, tmpdir, args.body_bytes)
        nginx_version = subprocess.run([args.nginx, "-v"], capture_output=True, text=True,
                                       timeout=10).stderr.strip().split("/")[-1]
        log(f"nginx {nginx_version} on {nginx.url} (master {nginx.proc.pid}, workers {nginx.workers}); "
            f"{args.pairs} pairs × {args.duration} s")
        ctx = {"args": args, "children": children, "nginx": nginx, "tmpdir": tmpdir}
        if args.warmup > 0:
            run_wrk(children, args, nginx.url, args.warmup, tmpdir)
        for i in range(args.pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            pair = {}
            for with_daemon in order:
                pair["with" if with_daemon else "without"] = run_round(ctx, with_daemon, i)
            for r in pair.values():
                for w in r["warnings"]:
                    if w not in warned:
                        log(f"pair {i + 1}: WARNING: {w}")
                    warned.setdefault(w, []).append(i + 1)
            a, b = pair["with"], pair["without"]
            log(f"pair {i + 1}/{args.pairs} ({'without first' if i % 2 == 0 else 'with first'}): "
                f"req/s {b['wrk']['rps']:.0f} → {a['wrk']['rps']:.0f} ({a['wrk']['rps'] / b['wrk']['rps']:.3f}), "
                f"BPF {a['bpf_ns_per_request']:.0f} ns/req, daemon {a['daemon_cpu_pct_per_10k_rps']:.2f} %/10k, "
                f"RSS {fmt(a['daemon_peak_rss_mb'], '.1f')} MiB, drops {a['dropped_events']:.0f}, "
                f"counted {a['counted_ratio']:.4f}, other load {a['other_cpu_cores']:.2f}/{b['other_cpu_cores']:.2f}")
            pairs.append(pair)

        warnings += [f"pairs {sorted(set(v))}: {w}" for w, v in warned.items()]
        s = summarize(pairs)
        meta = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "pairs": args.pairs, "duration": args.duration, "workers": args.workers,
            "threads": args.threads, "connections": args.connections, "body_bytes": args.body_bytes,
            "nginx_version": nginx_version, "kernel": platform.release(), "cpus": os.cpu_count(),
            "daemon": args.daemon, "daemon_args": args.daemon_arg,
            "loadavg_end": read_file("/proc/loadavg").split()[:3],
        }
        table = markdown(s, meta)
        print(table)
        if warnings:
            print("\nwarnings:\n" + "\n".join("  - " + w for w in warnings))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"meta": meta, "targets": {k: list(v) for k, v in TARGETS.items()}, "summary": s,
                           "warnings": warnings, "pairs": pairs}, f, indent=2, default=list)
                f.write("\n")
        rc = 0 if all(v == "PASS" for v in s["verdicts"].values()) else 1
    except Abort as e:
        log(f"aborted: {e}")
        rc = 130
    except BenchError as e:
        log(f"error: {e}")
        rc = 2
    finally:
        # No second interruption while cleaning up; every step below is bounded.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        children.stop_all()  # wrk and the daemon first (newest first), then nginx
        if nginx:
            nginx.stop()
        if stats_before is not None:
            try:
                bpf_stats_set(stats_before)
            except OSError as e:
                log(f"could not restore kernel.bpf_stats_enabled={stats_before}: {e}")
        if args.keep_tmp:
            log(f"kept {tmpdir}")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
