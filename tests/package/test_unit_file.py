#!/usr/bin/env python3
"""The systemd units as the package ships them: `systemd-analyze verify` accepts them, `systemd-analyze
security` rates the milter's exposure "OK" or better, and what they name exists in the package.
mdcrypt-mailbox's service and timer are shipped, and the maintainer scripts do not enable the timer.

Usage: test_unit_file.py --deb dist/mdcrypt-milter_VERSION_ARCH.deb
"""
import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ARGS: argparse.Namespace
UNIT = "lib/systemd/system/mdcrypt-milter.service"
MAILBOX_UNITS = ["lib/systemd/system/mdcrypt-mailbox.service", "lib/systemd/system/mdcrypt-mailbox.timer"]
# systemd-analyze security: 0 is fully locked down, 10 fully exposed; below 4 it says "OK".
MAX_EXPOSURE = 4.0


class UnitFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="mdcrypt-unit-")
        cls.root = Path(cls.tmp.name) / "pkg"
        subprocess.run(["dpkg-deb", "-x", ARGS.deb, str(cls.root)], check=True)
        cls.unit = (cls.root / UNIT).read_text()
        cls.control = Path(cls.tmp.name) / "control"
        subprocess.run(["dpkg-deb", "-e", ARGS.deb, str(cls.control)], check=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def directive(self, name: str) -> list[str]:
        return re.findall(rf"^{name}=(.*)$", self.unit, re.M)

    def test_verify_accepts_the_unit(self):
        # verify checks that each Exec command is executable on this machine: point it at the package's
        # binaries (the unit names /usr/sbin, where the package puts them). The man pages named in
        # Documentation= are checked in the package below, not on this machine.
        checked = Path(self.tmp.name) / "mdcrypt-milter.service"
        checked.write_text(self.unit.replace("/usr/sbin/", f"{self.root}/usr/sbin/"))
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(checked)], capture_output=True, text=True, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr.strip(), "", "no warnings either")

    def test_exposure_is_ok(self):
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={self.root}",
                            "mdcrypt-milter.service"], capture_output=True, text=True, check=False)
        m = re.search(r"Overall exposure level for mdcrypt-milter.service: ([0-9.]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        print(f"systemd-analyze security: exposure {m.group(1)}")
        self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, r.stdout)

    def test_commands_and_documentation_are_in_the_package(self):
        self.assertEqual(self.directive("Type"), ["notify"], "readiness comes from sd_notify once the socket listens")
        for key in ("ExecStartPre", "ExecStart"):
            [command] = self.directive(key)
            binary = shlex.split(command)[0]
            self.assertTrue((self.root / binary.lstrip("/")).is_file(), f"{key} runs {binary}, which the package lacks")
        [docs] = self.directive("Documentation")
        for doc in docs.split():
            if doc.startswith("man:"):
                name, section = re.fullmatch(r"man:([\w.-]+)\((\d)\)", doc).groups()
                target = self.root / f"usr/share/man/man{section}/{name}.{section}.gz"
            else:
                self.assertTrue(doc.startswith("file:///"), doc)
                target = self.root / doc[len("file:///"):]
            self.assertTrue(target.exists(), f"Documentation= names {doc}, which the package lacks")

    def test_mailbox_units_verify_and_run_a_packaged_binary(self):
        for unit in MAILBOX_UNITS:
            with self.subTest(unit=unit):
                text = (self.root / unit).read_text()
                checked = Path(self.tmp.name) / Path(unit).name
                checked.write_text(text.replace("/usr/sbin/", f"{self.root}/usr/sbin/"))
        # Verified together: the timer names its service.
        r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                            *(str(Path(self.tmp.name) / Path(u).name) for u in MAILBOX_UNITS)],
                           capture_output=True, text=True, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr.strip(), "", "no warnings either")
        service = (self.root / MAILBOX_UNITS[0]).read_text()
        self.assertRegex(service, r"(?m)^Type=oneshot$")
        [command] = re.findall(r"^ExecStart=(.*)$", service, re.M)
        argv = shlex.split(command)
        self.assertTrue((self.root / argv[0].lstrip("/")).is_file(), f"ExecStart runs {argv[0]}, which the package lacks")
        self.assertIn("--all-users", argv)
        self.assertTrue((self.root / "usr/share/man/man8/mdcrypt-mailbox.8.gz").is_file())
        timer = (self.root / MAILBOX_UNITS[1]).read_text()
        self.assertRegex(timer, r"(?m)^Persistent=true$")
        self.assertRegex(timer, r"(?m)^RandomizedDelaySec=")

    def test_the_timer_is_not_enabled_on_install(self):
        # debhelper's "dont-enable" postinst snippet acts only when the unit was installed before
        # (`deb-systemd-helper debian-installed`), and then re-enables only what the administrator had
        # enabled; its "enable" snippet enables a new installation's units unconditionally.
        postinst = (self.control / "postinst").read_text()
        self.assertIn("deb-systemd-helper debian-installed 'mdcrypt-mailbox.timer'", postinst)
        self.assertIn("was-enabled 'mdcrypt-milter.service'", postinst)
        self.assertNotIn("debian-installed 'mdcrypt-milter.service'", postinst, "the milter stays enabled on install")

    def test_writable_paths_never_block_the_start(self):
        # A path in ReadWritePaths that does not exist fails the start with a namespace error unless it
        # has the "-" prefix (systemd.exec(5)).
        [paths] = self.directive("ReadWritePaths")
        for path in paths.split():
            self.assertTrue(path.startswith("-"), f"{path}: a missing directory would stop the start")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--deb", required=True)
    ARGS, rest = parser.parse_known_args()
    if not Path(ARGS.deb).is_file():
        sys.exit(f"{ARGS.deb}: no such package; scripts/build-deb builds it")
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
