"""The Debian package as dpkg and an operator meet it.

Builds it with CPack from the build tree (the same as `cmake --build build --target
package`, into a scratch directory), then checks the control fields, the conffiles, the
file list with modes and owners, the extracted files (`dpkg -x` into a scratch root:
unit and config equal to packaging/, binaries that run), `systemd-analyze verify` on the
unit in that root, and the maintainer scripts against a PATH stand-in for systemctl that
records its calls: with systemd absent they call nothing and exit 0; with it present
they enable, start, restart and stop as docs/operations.md says. DpkgIntoScratchRoot
(root) has the real dpkg install, re-install, remove and purge it in a scratch root.
Nothing outside the scratch directory is touched (scripts run with DPKG_ROOT or with
their /run/systemd path pointed into the scratch root).
"""

import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import unittest
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("HOMEOSTAT_BUILD_DIR", SOURCE / "build"))
VERSION = os.environ.get("HOMEOSTAT_VERSION", "0.1.0")
UNIT = "lib/systemd/system/homeostatd.service"
CONF = "etc/homeostat/homeostat.yaml"


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)


def build_package(out: Path) -> Path:
    """CPack's DEB generator on the build tree, into `out`; the .deb's path."""
    for tool in ("cpack", "dpkg-deb", "dpkg-shlibdeps", "file"):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} not found: bash scripts/install-deps.sh installs it")
    config = BUILD / "CPackConfig.cmake"
    if not config.exists():
        raise RuntimeError(f"{config} missing: configure the build first (cmake -S . -B build)")
    r = run(["cpack", "-G", "DEB", "--config", str(config), "-B", str(out)], timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"cpack failed:\n{r.stdout}\n{r.stderr}")
    debs = list(out.glob("*.deb"))
    if len(debs) != 1:
        raise RuntimeError(f"expected one .deb, got {debs}")
    return debs[0]


class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="homeostat-deb-"))
        cls.deb = build_package(cls.tmp / "out")
        cls.root = cls.tmp / "root"
        r = run(["dpkg-deb", "-x", str(cls.deb), str(cls.root)])
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        cls.control = cls.tmp / "control"
        r = run(["dpkg-deb", "-e", str(cls.deb), str(cls.control)])
        if r.returncode != 0:
            raise RuntimeError(r.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        return run(["dpkg-deb", "-f", str(self.deb), name]).stdout.strip()

    def test_name_version_and_dependencies(self):
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.assertEqual(self.deb.name, f"homeostat_{VERSION}_{arch}.deb")
        self.assertEqual(self.field("Package"), "homeostat")
        self.assertEqual(self.field("Version"), VERSION)
        self.assertEqual(self.field("Architecture"), arch)
        depends = self.field("Depends")
        # From dpkg-shlibdeps: the libraries the binaries link.
        for lib in ("libbpf1", "libc6", "libstdc++6", "libyaml-cpp0.7", "libsqlite3-0", "libssl3"):
            self.assertIn(lib, depends)
        self.assertEqual(self.field("Recommends"), "ca-certificates")

    def test_conffiles_and_scripts(self):
        self.assertEqual((self.control / "conffiles").read_text().split(), ["/" + CONF])
        for script in ("postinst", "prerm", "postrm"):
            path = self.control / script
            self.assertEqual(path.read_text(), (SOURCE / "packaging/debian" / script).read_text())
            self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o755, script)

    def test_files_modes_and_owners(self):
        members = {}
        with tarfile.open(fileobj=self._data_tar()) as tar:
            for m in tar.getmembers():
                members[m.name.lstrip("./").rstrip("/")] = m
        want = {
            "usr/sbin/homeostatd": 0o755,
            "usr/bin/homeostat": 0o755,
            UNIT: 0o644,
            CONF: 0o644,
            "var/lib/homeostat": 0o700,
            "usr/share/doc/homeostat/README.md": 0o644,
            "usr/share/doc/homeostat/docs/operations.md": 0o644,
            "usr/share/doc/homeostat/docs/configuration.md": 0o644,
            "usr/share/doc/homeostat/examples/grafana/homeostat.json": 0o644,
            "usr/share/doc/homeostat/examples/kubernetes/daemonset.yaml": 0o644,
            "usr/share/doc/homeostat/examples/helm/homeostat/Chart.yaml": 0o644,
        }
        for name, mode in want.items():
            self.assertIn(name, members)
            self.assertEqual(stat.S_IMODE(members[name].mode), mode, name)
        for name, m in members.items():
            self.assertEqual((m.uname, m.gname), ("root", "root"), name)
        self.assertTrue(members["var/lib/homeostat"].isdir())
        # Nothing of the build leaks in: no tests, benchmarks or /usr/local.
        self.assertFalse([n for n in members if "test" in Path(n).name or n.startswith("usr/local")])

    def _data_tar(self):
        p = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(self.deb)], capture_output=True, check=True)
        return io.BytesIO(p.stdout)

    def test_extracted_files(self):
        self.assertEqual((self.root / UNIT).read_text(), (SOURCE / "packaging/homeostatd.service").read_text())
        self.assertEqual((self.root / CONF).read_text(), (SOURCE / "packaging/homeostat.yaml").read_text())
        unit = (self.root / UNIT).read_text()
        self.assertIn("ExecStart=/usr/sbin/homeostatd --config /etc/homeostat/homeostat.yaml\n", unit)
        # The binaries run from the package (stripped, linked against Debian's libraries).
        r = run([str(self.root / "usr/sbin/homeostatd"), "--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(f"homeostatd {VERSION} "), r.stdout)
        self.assertIn("stripped", run(["file", "-L", str(self.root / "usr/sbin/homeostatd")]).stdout)
        self.assertNotIn("not stripped", run(["file", "-L", str(self.root / "usr/sbin/homeostatd")]).stdout)
        r = run([str(self.root / "usr/bin/homeostat"), "config", "check", str(self.root / CONF)])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = run([str(self.root / "usr/sbin/homeostatd"), "--check-config", "--config", str(self.root / CONF)])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def _verify_root(self, name):
        """The package, the standard targets and /bin/kill: systemd-analyze verify
        resolves the unit's dependencies and commands there, not on this machine."""
        root = self.tmp / name
        shutil.copytree(self.root, root)
        for t in Path("/lib/systemd/system").glob("*.target"):
            shutil.copy(t, root / "lib/systemd/system" / t.name)
        (root / "bin").mkdir(exist_ok=True)
        shutil.copy("/bin/kill", root / "bin/kill")
        return root

    def test_systemd_analyze_verify(self):
        sa = shutil.which("systemd-analyze")
        self.assertIsNotNone(sa, "systemd-analyze not found: apt-get install systemd (it need not run)")
        root = self._verify_root("verify-root")
        r = run([sa, "verify", f"--root={root}", str(root / UNIT)])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # verify exits 0 on unknown keys and bad values: every complaint is a failure.
        self.assertEqual((r.stdout + r.stderr).strip(), "")

    def test_systemd_analyze_verify_catches_a_bad_key(self):
        # The check above can fail: a misspelled directive is reported.
        root = self._verify_root("verify-bad")
        unit = root / UNIT
        unit.write_text(unit.read_text().replace("ProtectHome=yes", "ProtectHomes=yes"))
        r = run([shutil.which("systemd-analyze") or "systemd-analyze", "verify", f"--root={root}", str(unit)])
        self.assertIn("Unknown key 'ProtectHomes'", r.stdout + r.stderr)


class MaintainerScripts(unittest.TestCase):
    """The scripts from packaging/debian (test_conffiles_and_scripts: the same bytes as in
    the package), run with a recording systemctl first on PATH."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="homeostat-maint-"))
        self.bin = self.tmp / "bin"
        self.bin.mkdir()
        self.log = self.tmp / "calls"
        self.log.write_text("")
        self.fail_restart = self.tmp / "fail-restart"
        self.disabled = self.tmp / "disabled"
        stub = f"""#!/bin/sh
echo "$0 $*" | sed 's|^.*/||' >> {self.log}
if [ "$1" = restart ] && [ -e {self.fail_restart} ]; then exit 1; fi
if [ "$2" = is-enabled ] && [ -e {self.disabled} ]; then exit 1; fi
exit 0
"""
        for tool in ("systemctl", "deb-systemd-invoke", "deb-systemd-helper", "service", "invoke-rc.d"):
            p = self.bin / tool
            p.write_text(stub)
            p.chmod(0o755)
        self.systemd_dir = self.tmp / "run/systemd/system"  # stands for /run/systemd/system

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def script(self, name):
        """The script with its systemd check pointed at the scratch stand-in."""
        text = (SOURCE / "packaging/debian" / name).read_text()
        self.assertIn("/run/systemd/system", text)
        p = self.tmp / name
        p.write_text(text.replace("/run/systemd/system", str(self.systemd_dir)))
        p.chmod(0o755)
        return p

    def run_script(self, name, *args, dpkg_root=None):
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "LC_ALL": "C"}
        if dpkg_root is not None:
            env["DPKG_ROOT"] = str(dpkg_root)
        r = subprocess.run([str(self.script(name)), *args], capture_output=True, text=True, env=env, timeout=30)
        return r, self.log.read_text().splitlines()

    def test_without_systemd_nothing_is_called(self):
        self.assertFalse(self.systemd_dir.exists())
        for name, args in (("postinst", ["configure"]), ("postinst", ["configure", "0.0.9"]),
                           ("prerm", ["remove"]), ("prerm", ["upgrade", VERSION]), ("postrm", ["remove"]),
                           ("postrm", ["upgrade", VERSION])):
            r, calls = self.run_script(name, *args)
            self.assertEqual(r.returncode, 0, f"{name} {args}: {r.stderr}")
            self.assertEqual(calls, [], f"{name} {args}")
            self.assertEqual(r.stdout + r.stderr, "", f"{name} {args}")

    def test_first_install_enables_and_starts(self):
        self.systemd_dir.mkdir(parents=True)
        r, calls = self.run_script("postinst", "configure")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(calls, ["systemctl --system daemon-reload", "systemctl enable homeostatd.service",
                                 "systemctl --quiet is-enabled homeostatd.service",
                                 "systemctl restart homeostatd.service"])

    def test_upgrade_restarts_an_enabled_unit_and_leaves_a_disabled_one(self):
        self.systemd_dir.mkdir(parents=True)
        r, calls = self.run_script("postinst", "configure", "0.0.9")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("systemctl enable homeostatd.service", calls)
        self.assertEqual(calls[-1], "systemctl restart homeostatd.service")
        self.log.write_text("")
        self.disabled.touch()
        r, calls = self.run_script("postinst", "configure", "0.0.9")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(calls, ["systemctl --system daemon-reload", "systemctl --quiet is-enabled homeostatd.service"])

    def test_a_daemon_that_cannot_start_does_not_fail_the_install(self):
        self.systemd_dir.mkdir(parents=True)
        self.fail_restart.touch()
        r, calls = self.run_script("postinst", "configure")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("journalctl -u homeostatd", r.stderr)
        self.assertEqual(calls[-1], "systemctl restart homeostatd.service")

    def test_remove_stops_and_upgrade_does_not(self):
        self.systemd_dir.mkdir(parents=True)
        r, calls = self.run_script("prerm", "upgrade", VERSION)
        self.assertEqual((r.returncode, calls), (0, []))
        r, calls = self.run_script("prerm", "remove")
        self.assertEqual((r.returncode, calls), (0, ["systemctl stop homeostatd.service"]))
        self.log.write_text("")
        r, calls = self.run_script("postrm", "remove")
        self.assertEqual((r.returncode, calls), (0, ["systemctl --system daemon-reload"]))

    def test_install_into_another_root_calls_nothing_even_with_systemd(self):
        # DPKG_ROOT (dpkg --root): the host's systemd does not manage the target's units.
        self.systemd_dir.mkdir(parents=True)
        target = self.tmp / "target"
        target.mkdir()
        for name, args in (("postinst", ["configure"]), ("prerm", ["remove"]), ("postrm", ["remove"])):
            r, calls = self.run_script(name, *args, dpkg_root=target)
            self.assertEqual((r.returncode, calls), (0, []), f"{name} {args}: {r.stderr}")

    def test_purge_removes_state_and_enablement_and_remove_keeps_them(self):
        target = self.tmp / "target"
        state = target / "var/lib/homeostat"
        state.mkdir(parents=True)
        (state / "homeostat.db").write_text("baselines")
        wants = target / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True)
        (wants / "homeostatd.service").symlink_to("/lib/systemd/system/homeostatd.service")
        (wants / "other.service").write_text("")
        for args in (["remove"], ["upgrade", VERSION]):
            r, calls = self.run_script("postrm", *args, dpkg_root=target)
            self.assertEqual((r.returncode, calls), (0, []))
            self.assertTrue((state / "homeostat.db").exists(), args)
        r, calls = self.run_script("postrm", "purge", dpkg_root=target)
        self.assertEqual((r.returncode, calls), (0, []), r.stderr)
        self.assertFalse(state.exists())
        self.assertFalse((wants / "homeostatd.service").is_symlink())
        self.assertTrue((wants / "other.service").exists())
        self.assertTrue((target / "var/lib").exists())


class DpkgIntoScratchRoot(unittest.TestCase):
    """Real dpkg installs, re-installs, removes and purges the package in a scratch root
    (`dpkg --root`, scripts run chrootless with DPKG_ROOT set, as when bootstrapping an
    image): the conffile is registered and an edit survives, remove keeps config and
    state, purge removes both, and no script calls systemctl. Needs root (dpkg)."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise RuntimeError("DpkgIntoScratchRoot must run as root (dpkg --root); ctest -L bpf")
        cls.tmp = Path(tempfile.mkdtemp(prefix="homeostat-dpkg-"))
        cls.deb = build_package(cls.tmp / "out")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.root = self.tmp / f"root-{self._testMethodName}"
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
            (self.root / d).mkdir(parents=True)
        (self.root / "var/lib/dpkg/status").write_text("")
        self.bin = self.tmp / "bin"
        self.bin.mkdir(exist_ok=True)
        self.calls = self.tmp / "calls"
        for tool in ("systemctl", "deb-systemd-invoke", "deb-systemd-helper"):
            (self.bin / tool).write_text(f"#!/bin/sh\necho \"$0 $*\" >> {self.calls}\n")
            (self.bin / tool).chmod(0o755)

    def dpkg(self, *args):
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        r = run(["dpkg", f"--root={self.root}", "--force-script-chrootless", "--force-depends",
                 "--log=/dev/null", *args], env=env)
        self.assertEqual(r.returncode, 0, f"dpkg {args}:\n{r.stdout}\n{r.stderr}")
        return r

    def test_install_edit_reinstall_remove_purge(self):
        self.dpkg("-i", str(self.deb))
        status = (self.root / "var/lib/dpkg/status").read_text()
        self.assertIn("Status: install ok installed", status)
        self.assertRegex(status, r"Conffiles:\n /etc/homeostat/homeostat.yaml [0-9a-f]{32}\n")
        state = self.root / "var/lib/homeostat"
        self.assertEqual(stat.S_IMODE(state.stat().st_mode), 0o700)
        self.assertTrue((self.root / "usr/sbin/homeostatd").exists())

        conf = self.root / CONF
        conf.write_text(conf.read_text() + "log_level: debug\n")  # the operator's edit
        (state / "homeostat.db").write_text("baselines")
        self.dpkg("-i", str(self.deb))  # the same version again: an upgrade as dpkg sees it
        self.assertTrue(conf.read_text().endswith("log_level: debug\n"))

        self.dpkg("--remove", "homeostat")
        self.assertFalse((self.root / "usr/sbin/homeostatd").exists())
        self.assertTrue(conf.exists())
        self.assertTrue((state / "homeostat.db").exists())

        self.dpkg("--purge", "homeostat")
        self.assertFalse(conf.exists())
        self.assertFalse(state.exists())
        self.assertFalse((self.root / "etc/homeostat").exists())
        self.assertFalse(self.calls.exists(), self.calls.read_text() if self.calls.exists() else "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
