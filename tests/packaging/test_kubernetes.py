"""Kubernetes manifests, the Helm chart and the image, checked without a cluster.

packaging/kubernetes/daemonset.yaml is parsed as is; packaging/helm/homeostat is
rendered by helm_subset.py (the part of Helm's template language the chart uses; no helm
binary in Debian 12) with its defaults and with overrides. Both go through the same
checks of what homeostatd needs on a node: host PID and network namespaces, the host
mounts, capabilities instead of privileged, the ConfigMap mounted where --config points
(and accepted by the real `homeostatd --check-config`), a non-loopback listen with the
token Secret mounted where api_token_file points, the port, Prometheus annotations,
the /healthz probes, resource limits, and the image's version.

Not validated here: that a cluster accepts the objects (no API server schema), that
the image builds (no Docker daemon) and that the daemon works in a pod.
"""

import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path, PurePosixPath

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import helm_subset  # noqa: E402

SOURCE = Path(__file__).resolve().parents[2]
DAEMON = os.environ.get("HOMEOSTATD", str(SOURCE / "build/agent/homeostatd"))
VERSION = re.search(r"project\(homeostat VERSION (\S+)", (SOURCE / "CMakeLists.txt").read_text()).group(1)
CHART = SOURCE / "packaging/helm/homeostat"
TOKEN = "0123456789abcdef0123"

# What homeostatd needs on a node (docs/operations.md, "Kubernetes").
HOST_MOUNTS = {"/sys/fs/cgroup", "/sys/kernel/tracing", "/sys/kernel/btf", "/sys/fs/bpf", "/var/lib/homeostat"}
NEEDED_CAPS = {"BPF", "PERFMON", "NET_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "KILL", "SYS_ADMIN"}


def unit_capabilities():
    """CAP_* of the systemd unit's CapabilityBoundingSet, without the prefix."""
    for line in (SOURCE / "packaging/homeostatd.service").read_text().splitlines():
        if line.startswith("CapabilityBoundingSet="):
            return {c.removeprefix("CAP_") for c in line.split("=", 1)[1].split()}
    raise AssertionError("the unit has no CapabilityBoundingSet")


def by_kind(docs):
    out = {}
    for d in docs:
        if d:
            out.setdefault(d["kind"], []).append(d)
    return out


class Checks:
    """Shared by the plain manifest and every chart rendering."""

    def check_objects(self, objects, token_secret=None):
        (ds,) = objects["DaemonSet"]
        (cm,) = objects["ConfigMap"]
        spec = ds["spec"]["template"]["spec"]
        meta = ds["spec"]["template"]["metadata"]
        self.assertEqual(ds["spec"]["selector"]["matchLabels"].items() - meta["labels"].items(), set())
        self.assertIs(spec["hostPID"], True)
        self.assertIs(spec["hostNetwork"], True)  # /proc/net/tcp of the host
        self.assertEqual(spec["dnsPolicy"], "ClusterFirstWithHostNet")
        (c,) = spec["containers"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        for m in c["volumeMounts"]:
            self.assertIn(m["name"], volumes)

        # Host paths, each at the same path inside.
        host = {volumes[m["name"]]["hostPath"]["path"]: path for path, m in mounts.items()
                if "hostPath" in volumes[m["name"]]}
        self.assertEqual(set(host), HOST_MOUNTS)
        for h, inside in host.items():
            self.assertEqual(h, inside)
        for ro in ("/sys/kernel/btf", "/sys/kernel/tracing"):
            self.assertIs(mounts[ro].get("readOnly"), True, ro)
        self.assertFalse(mounts["/sys/fs/cgroup"].get("readOnly", False))  # limit actions write there
        self.assertFalse(mounts["/var/lib/homeostat"].get("readOnly", False))

        # Capabilities, not privileged; at least the unit's, plus setns for nsenter.
        sc = c["securityContext"]
        self.assertIs(sc["privileged"], False)
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertIs(sc["readOnlyRootFilesystem"], True)
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        caps = set(sc["capabilities"]["add"])
        self.assertLessEqual(NEEDED_CAPS, caps)
        self.assertLessEqual(unit_capabilities(), caps)
        self.assertEqual(sc["seccompProfile"]["type"], "Unconfined")
        self.assertEqual(meta["annotations"]["container.apparmor.security.beta.kubernetes.io/" + c["name"]],
                         "unconfined")
        self.assertEqual(c["command"][:2], ["nsenter", "--cgroup=/proc/1/ns/cgroup"])
        self.assertEqual(c["command"][-1], "/usr/sbin/homeostatd")

        # --config is the ConfigMap's key, mounted; the config is valid for the daemon.
        args = c["args"]
        config_path = PurePosixPath(args[args.index("--config") + 1])
        mount = mounts[str(config_path.parent)]
        self.assertEqual(volumes[mount["name"]]["configMap"]["name"], cm["metadata"]["name"])
        config_text = cm["data"][config_path.name]
        config = yaml.safe_load(config_text)
        self.check_config_with_daemon(config_text)

        # Beyond loopback: the token file comes from the Secret, 0400.
        listen = config["listen"]
        self.assertFalse(listen.startswith("127.") or listen.startswith("[::1]"), listen)
        token = PurePosixPath(config["api_token_file"])
        secret_volume = volumes[mounts[str(token.parent)]["name"]]["secret"]
        self.assertEqual(token.name, "token")
        self.assertEqual(secret_volume["defaultMode"] & 0o077, 0)
        if token_secret:
            self.assertEqual(secret_volume["secretName"], token_secret)
        self.assertIn(config["state_dir"], mounts)

        # The port everywhere it is named.
        port = int(listen.rsplit(":", 1)[1])
        self.assertEqual([p["containerPort"] for p in c["ports"]], [port])
        ann = meta["annotations"]
        self.assertEqual(ann["prometheus.io/scrape"], "true")
        self.assertEqual(ann["prometheus.io/port"], str(port))
        self.assertEqual(ann["prometheus.io/path"], "/metrics")
        for probe in ("livenessProbe", "readinessProbe"):
            self.assertEqual(c[probe]["httpGet"], {"path": "/healthz", "port": port}, probe)

        limits = c["resources"]["limits"]
        self.assertEqual(set(limits), {"cpu", "memory"})
        self.assertTrue(c["image"].endswith(":" + VERSION), c["image"])
        self.assertTrue(any(t.get("operator") == "Exists" for t in spec["tolerations"]))
        return config

    def check_config_with_daemon(self, text):
        self.assertTrue(os.access(DAEMON, os.X_OK), f"{DAEMON} not built (HOMEOSTATD)")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(text)
            f.flush()
            r = subprocess.run([DAEMON, "--check-config", "--config", f.name], capture_output=True, text=True,
                               timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class PlainManifest(unittest.TestCase, Checks):
    def test_daemonset(self):
        objects = by_kind(yaml.safe_load_all((SOURCE / "packaging/kubernetes/daemonset.yaml").read_text()))
        self.assertEqual(set(objects), {"Namespace", "ConfigMap", "DaemonSet"})
        ns = objects["Namespace"][0]["metadata"]["name"]
        for kind in ("ConfigMap", "DaemonSet"):
            self.assertEqual(objects[kind][0]["metadata"]["namespace"], ns)
        self.check_objects(objects, token_secret="homeostat-api-token")


class HelmChart(unittest.TestCase, Checks):
    def setUp(self):
        self.chart = helm_subset.Chart(CHART)

    def test_chart_metadata(self):
        meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
        self.assertEqual(meta["apiVersion"], "v2")
        self.assertEqual(meta["appVersion"], VERSION)

    def test_defaults_with_a_token(self):
        objects = self.chart.render_objects({"apiToken": {"value": TOKEN}}, release="hs", namespace="monitoring")
        self.assertEqual(set(objects), {"ConfigMap", "DaemonSet", "Secret"})
        for kind in objects:
            self.assertEqual(objects[kind][0]["metadata"]["namespace"], "monitoring")
        secret = objects["Secret"][0]
        self.assertEqual(secret["stringData"]["token"], TOKEN)
        self.check_objects(objects, token_secret=secret["metadata"]["name"])

    def test_existing_secret_is_used_and_none_created(self):
        objects = self.chart.render_objects({"apiToken": {"existingSecret": "ops-token"}})
        self.assertNotIn("Secret", objects)
        self.check_objects(objects, token_secret="ops-token")

    def test_a_token_is_required(self):
        with self.assertRaisesRegex(helm_subset.TemplateError, "apiToken.value"):
            self.chart.render()

    def test_overrides(self):
        objects = self.chart.render_objects({
            "apiToken": {"value": TOKEN}, "port": 19464, "image": {"tag": "0.1.0-rc1", "repository": "r/h"},
            "config": {"log_level": "debug", "detection": {"warmup": 60}},
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}, "nodeSelector": {"kubernetes.io/os": "linux"}})
        (ds,) = objects["DaemonSet"]
        c = ds["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["image"], "r/h:0.1.0-rc1")
        self.assertEqual(c["resources"]["limits"], {"cpu": "1", "memory": "1Gi"})
        self.assertEqual(ds["spec"]["template"]["spec"]["nodeSelector"], {"kubernetes.io/os": "linux"})
        self.assertEqual(c["ports"][0]["containerPort"], 19464)
        self.assertEqual(c["livenessProbe"]["httpGet"]["port"], 19464)
        config = yaml.safe_load(objects["ConfigMap"][0]["data"]["homeostat.yaml"])
        self.assertEqual(config["listen"], "0.0.0.0:19464")
        self.assertEqual(config["log_level"], "debug")
        self.assertEqual(config["detection"], {"warmup": 60})
        self.check_config_with_daemon(objects["ConfigMap"][0]["data"]["homeostat.yaml"])

    def test_bad_config_is_refused_by_the_daemon(self):
        # The --check-config step above can fail: a misspelled key is an error.
        objects = self.chart.render_objects({"apiToken": {"value": TOKEN}, "config": {"detection": {"warmupp": 1}}})
        with self.assertRaises(AssertionError):
            self.check_config_with_daemon(objects["ConfigMap"][0]["data"]["homeostat.yaml"])

    def test_renderer_refuses_what_it_does_not_know(self):
        tpl = self.chart.dir / "templates"
        for src, msg in (("{{ range .Values.x }}{{ end }}", "range"), ("{{ .Values.x | upper }}", "upper")):
            with tempfile.TemporaryDirectory() as d:
                (Path(d) / "templates").mkdir()
                for f in ("Chart.yaml", "values.yaml"):
                    (Path(d) / f).write_text((self.chart.dir / f).read_text())
                (Path(d) / "templates/x.yaml").write_text(src)
                with self.assertRaisesRegex(helm_subset.TemplateError, msg):
                    helm_subset.Chart(d).render()
        self.assertTrue(tpl.exists())

    def test_renderer_trims_and_indents_like_helm(self):
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "templates").mkdir()
            (Path(d) / "Chart.yaml").write_text("apiVersion: v2\nname: t\nversion: 1.0.0\nappVersion: '2'\n")
            (Path(d) / "values.yaml").write_text("m: {b: 1, a: [x]}\nempty: {}\nn: 0\n")
            (Path(d) / "templates/t.yaml").write_text(
                'k:\n  {{- toYaml .Values.m | nindent 2 }}\n{{- if .Values.empty }}\nno\n{{- else }}\n'
                'v: {{ default .Chart.AppVersion .Values.none | quote }}\n{{- end }}\n'
                '{{- if not .Values.n }}\nn: zero\n{{- end }}\n')
            self.assertEqual(helm_subset.Chart(d).render()["t.yaml"], 'k:\n  a:\n  - x\n  b: 1\nv: "2"\nn: zero\n')


class Image(unittest.TestCase):
    def test_dockerfile(self):
        text = (SOURCE / "packaging/Dockerfile").read_text()
        froms = re.findall(r"^FROM (\S+)", text, re.M)
        self.assertEqual(froms, ["debian:12", "debian:12-slim"])
        self.assertIn("--target package", text)  # the image carries the Debian package
        self.assertRegex(text, r'ENTRYPOINT \["/usr/sbin/homeostatd"\]')
        self.assertIn('CMD ["--config", "/etc/homeostat/homeostat.yaml"]', text)
        # The build stage installs what scripts/install-deps.sh installs for building.
        deps = re.search(r"build=\(([^)]*)\)", (SOURCE / "scripts/install-deps.sh").read_text()).group(1).split()
        for pkg in deps:
            self.assertIn(pkg, text.split(), pkg)
        self.assertTrue((SOURCE / ".dockerignore").read_text().startswith("build*/"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
