#!/usr/bin/env python3
"""The Debian package as a new administrator meets it, in a clean Debian 12 root (debootstrap minbase).

Install the .deb, then Debian's postfix (after us: the package's trigger must still let user postfix
reach the socket), apply only the README's `postconf -e` lines, import a key with the key tool, start the
daemon exactly as the unit's ExecStartPre/ExecStart lines say (as root: the privilege drop is exercised),
and send mail with swaks to port 25 inside that root: it is stored encrypted in the Maildir and
decrypts with the recipient's key (gpg and sqop). Stopped milter: mail is refused with a 4xx, never
stored in plaintext. Then `apt-get remove` and `purge` leave what README.Debian says.

The daemons run in a private network namespace (own loopback, port 25 free whatever the host runs).
A prepared root (minbase, the package lists, Postfix and the runtime libraries downloaded) is cached in
MDCRYPT_PACKAGE_ROOT_CACHE (default /var/cache/mdcrypt-milter-tests/package-root-v1) and copied per run.

Usage: test_package_install.py --deb dist/mdcrypt-milter_VERSION_ARCH.deb --readme README.md
"""
import argparse
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
CACHE = Path(os.environ.get("MDCRYPT_PACKAGE_ROOT_CACHE", "/var/cache/mdcrypt-milter-tests/package-root-v1"))
# What the root needs beyond minbase; postfix is only downloaded (installed by the test, after the .deb).
ROOT_PACKAGES = ["ca-certificates", "gpg", "gpgconf", "adduser", "procps", "libgpgme11", "libmilter1.0.1",
                 "libprometheus-cpp-core1.0", "libcivetweb1", "libsystemd0", "netbase"]
MARKER = "pkg-marker-7d1e0c"
ARGS: argparse.Namespace


def run(argv, *, check=True, timeout=900, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in argv], capture_output=True, timeout=timeout, check=False, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {r.returncode}\n"
                             f"{r.stdout.decode(errors='replace')[-3000:]}\n{r.stderr.decode(errors='replace')[-3000:]}")
    return r


def prepare_cache() -> None:
    """debootstrap once per machine; the marker file says the root is complete."""
    if (CACHE / ".complete").exists():
        return
    shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    run(["debootstrap", "--variant=minbase", "bookworm", CACHE, MIRROR], timeout=1800)
    (CACHE / "etc/apt/sources.list").write_text(f"deb {MIRROR} bookworm main\n")
    with mounted(CACHE):
        chroot_env = ["env", "DEBIAN_FRONTEND=noninteractive"]
        run(["chroot", CACHE, *chroot_env, "apt-get", "update", "-qq"], timeout=900)
        run(["chroot", CACHE, *chroot_env, "apt-get", "install", "-y", "-qq", "--no-install-recommends",
             *ROOT_PACKAGES], timeout=1800)
        run(["chroot", CACHE, *chroot_env, "apt-get", "install", "-y", "-qq", "--no-install-recommends",
             "--download-only", "postfix"], timeout=1800)
    (CACHE / ".complete").write_text("debootstrap minbase bookworm + " + " ".join(ROOT_PACKAGES) + "\n")


class mounted:
    """/proc and /dev inside a root for as long as dpkg, gpg and the daemons run there."""

    def __init__(self, root: Path):
        self.root = root
        self.points = [root / "proc", root / "dev"]

    def __enter__(self):
        run(["mount", "-t", "proc", "proc", self.points[0]])
        run(["mount", "--bind", "/dev", self.points[1]])
        return self

    def __exit__(self, *exc):
        for point in reversed(self.points):
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


def readme_postconf_lines(readme: Path) -> list[list[str]]:
    """The `postconf -e ...` commands of the README's install section, as argument lists."""
    text = readme.read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            if line.strip().startswith("postconf -e"):
                commands.append(shlex.split(line.split("#", 1)[0]))
    return commands


class PackageInstall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        prepare_cache()
        cls.work = Path(tempfile.mkdtemp(prefix="mdcrypt-pkg-"))
        cls.root = cls.work / "root"
        run(["cp", "-a", CACHE, cls.root], timeout=900)
        cls.mounts = mounted(cls.root).__enter__()
        cls.netns = f"mdcrypt-pkg-{os.getpid()}"
        run(["ip", "netns", "add", cls.netns])
        cls.ns(["ip", "link", "set", "lo", "up"])
        # Nothing started by a maintainer script in this root (there is no init system).
        policy = cls.root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        cls.keys = cls.work / "recipient-gnupg"
        cls.keys.mkdir(mode=0o700)
        cls.milter = None

    @classmethod
    def tearDownClass(cls):
        if cls.milter and cls.milter.poll() is None:
            cls.milter.kill()
            cls.milter.wait()
        subprocess.run(["ip", "netns", "exec", cls.netns, "chroot", str(cls.root), "postfix", "stop"],
                       capture_output=True, check=False, timeout=60)
        subprocess.run(["gpgconf", "--homedir", str(cls.keys), "--kill", "all"], capture_output=True, check=False)
        # Whatever still runs inside the root (postfix's children, gpg) ends with it.
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.readlink(f"/proc/{pid}/root") == str(cls.root):
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        subprocess.run(["ip", "netns", "del", cls.netns], capture_output=True, check=False)
        cls.mounts.__exit__(None, None, None)
        if os.environ.get("MDCRYPT_PACKAGE_KEEP") != "1":
            shutil.rmtree(cls.work, ignore_errors=True)

    @classmethod
    def chroot(cls, argv, **kw) -> subprocess.CompletedProcess:
        return run(["chroot", cls.root, "env", "DEBIAN_FRONTEND=noninteractive", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                    *argv], **kw)

    @classmethod
    def ns(cls, argv, **kw) -> subprocess.CompletedProcess:
        return run(["ip", "netns", "exec", cls.netns, *argv], **kw)

    def gpg(self, *args, stdin=None) -> bytes:
        return run(["gpg", "--homedir", self.keys, "--batch", "--no-tty", "--pinentry-mode", "loopback",
                    "--passphrase", "", *args], input=stdin).stdout

    def unit_commands(self) -> dict[str, list[str]]:
        unit = (self.root / "lib/systemd/system/mdcrypt-milter.service").read_text()
        commands = {}
        for key in ("ExecStartPre", "ExecStart"):
            m = re.search(rf"^{key}=(.*)$", unit, re.M)
            self.assertIsNotNone(m, f"the unit has no {key}=")
            commands[key] = shlex.split(m.group(1))
        return commands

    def socket_listening(self, path: str) -> bool:
        """Read from the daemon's own view: unix sockets are listed per network namespace, and by the
        path the daemon bound inside its root."""
        with open(f"/proc/{self.milter.pid}/net/unix") as f:
            return any(line.rstrip().endswith(" " + path) for line in f)

    def maildir_files(self) -> list[Path]:
        new = self.root / "home/alice/Maildir/new"
        return sorted(new.iterdir()) if new.is_dir() else []

    def send(self, subject: str, body: str) -> subprocess.CompletedProcess:
        return self.ns(["swaks", "--server", "127.0.0.1:25", "--from", "bob@sender.test", "--to", "alice@example.org",
                        "--header", f"Subject: {subject}", "--body", body, "--timeout", "60"], check=False)

    def test_deb_to_encrypted_maildir_and_back_out(self):
        root = self.root
        deb_in_root = root / "tmp" / Path(ARGS.deb).name
        shutil.copy(ARGS.deb, deb_in_root)
        self.chroot(["apt-get", "install", "-y", "-qq", "--no-install-recommends", f"/tmp/{deb_in_root.name}"])

        # What the package set up, before Postfix exists.
        home = root / "var/lib/mdcrypt-milter/gnupg"
        st = home.stat()
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        user = self.chroot(["id", "-u", "mdcrypt-milter"]).stdout.decode().strip()
        self.assertEqual(str(st.st_uid), user, "the GnuPG home belongs to the milter's user")
        self.assertIn("no-random-seed-file", (home / "gpg.conf").read_text())
        self.assertTrue((root / "etc/mdcrypt-milter/mdcrypt-milter.toml").is_file())
        wants = root / "etc/systemd/system"
        self.assertTrue((wants / "multi-user.target.wants/mdcrypt-milter.service").is_symlink(), "the milter is enabled")
        self.assertTrue((root / "lib/systemd/system/mdcrypt-mailbox.timer").is_file())
        self.assertFalse((wants / "timers.target.wants/mdcrypt-mailbox.timer").exists(),
                         "rewriting stored mail is the administrator's decision: the timer is not enabled")
        self.assertTrue((root / "usr/sbin/mdcrypt-mailbox").is_file())
        conffiles = (root / "var/lib/dpkg/info/mdcrypt-milter.conffiles").read_text().split()
        self.assertIn("/etc/mdcrypt-milter/domains.toml", conffiles)
        self.assertIn("/etc/mdcrypt-milter/mdcrypt-milter.toml", conffiles)

        # Debian's postfix with its default main.cf and master.cf (smtpd chrooted), installed after us.
        self.chroot(["sh", "-c", "echo 'postfix postfix/main_mailer_type select Internet Site' | debconf-set-selections"
                     " && echo 'postfix postfix/mailname string example.org' | debconf-set-selections"
                     " && echo 'postfix postfix/destinations string example.org, localhost' | debconf-set-selections"])
        self.chroot(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "--no-download", "postfix"])
        groups = self.chroot(["id", "-nG", "postfix"]).stdout.decode().split()
        self.assertIn("mdcrypt-milter", groups, "the trigger let user postfix join the milter's group")
        master = (root / "etc/postfix/master.cf").read_text()
        self.assertRegex(master, r"(?m)^smtp\s+inet\s+n\s+-\s+y\s", "Debian's smtpd runs chrooted")

        # The administrator's steps: the README's postconf lines; the site keeps mail in Maildir.
        postconf = readme_postconf_lines(Path(ARGS.readme))
        self.assertTrue(postconf, "the README gives postconf -e lines")
        for argv in postconf:
            self.chroot(argv)
        self.chroot(["postconf", "-e", "home_mailbox = Maildir/"])
        self.chroot(["useradd", "-m", "alice"])

        # A recipient key, imported with the key tool as the README says (it switches to the milter's user).
        uid = "Alice <alice@example.org>"
        created = self.gpg("--status-fd", "1", "--quick-gen-key", uid, "ed25519", "cert", "never").decode()
        fpr = re.search(r"KEY_CREATED \w ([0-9A-F]{40})", created).group(1)
        self.gpg("--quick-add-key", fpr, "cv25519", "encr", "never")
        (root / "tmp/alice.asc").write_bytes(self.gpg("--export", "--armor", fpr))
        secret = self.work / "alice.sec.asc"
        secret.write_bytes(self.gpg("--export-secret-keys", "--armor", fpr))
        self.chroot(["mdcrypt-keys", "import", "/tmp/alice.asc"])
        self.assertEqual(os.stat(home / "pubring.kbx").st_uid, int(user), "the keyring stays the milter user's")

        # Start exactly as the unit does: ExecStartPre (config check) then ExecStart, as root.
        unit = self.unit_commands()
        self.ns(["chroot", root, *unit["ExecStartPre"]])
        with open(self.work / "milter.log", "wb") as log:
            self.__class__.milter = subprocess.Popen(["ip", "netns", "exec", self.netns, "chroot", str(root),
                                                      *unit["ExecStart"], "--log-stderr"], stdout=log, stderr=log)
        socket_path = "/var/spool/postfix/mdcrypt-milter/mdcrypt-milter.sock"
        deadline = time.monotonic() + 30
        while not self.socket_listening(socket_path):
            self.assertIsNone(self.milter.poll(), (self.work / "milter.log").read_text())
            self.assertLess(time.monotonic(), deadline, "the milter socket never appeared")
            time.sleep(0.1)
        daemon_uid = os.stat(f"/proc/{self.milter.pid}").st_uid
        self.assertEqual(daemon_uid, int(user), "the daemon runs as the milter's user after binding")

        self.chroot(["sh", "-c", "[ -x /usr/lib/postfix/configure-instance.sh ] && /usr/lib/postfix/configure-instance.sh - || true"])
        self.ns(["chroot", root, "postfix", "start"])
        deadline = time.monotonic() + 30
        while b":0019 " not in Path(f"/proc/{self.milter.pid}/net/tcp").read_bytes():  # 25 = 0x0019
            self.assertLess(time.monotonic(), deadline, "postfix never listened on port 25")
            time.sleep(0.1)

        sent = self.send("package test", f"body {MARKER}-1")
        self.assertEqual(sent.returncode, 0, sent.stdout.decode(errors="replace"))
        deadline = time.monotonic() + 60
        while not self.maildir_files():
            self.assertLess(time.monotonic(), deadline, "nothing arrived in alice's Maildir")
            time.sleep(0.2)
        [stored] = self.maildir_files()
        message = stored.read_bytes()
        self.assertIn(b"multipart/encrypted", message)
        self.assertNotIn(MARKER.encode(), message, "no plaintext in the stored message")
        armored = re.search(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", message, re.S).group(0)
        self.assertIn(f"{MARKER}-1".encode(), self.gpg("--decrypt", stdin=armored))
        sqop = run(["sqop", "decrypt", secret], input=armored)
        self.assertIn(f"{MARKER}-1".encode(), sqop.stdout)

        # The milter stopped: Postfix answers 4xx, nothing is stored.
        self.milter.send_signal(signal.SIGTERM)
        self.assertEqual(self.milter.wait(timeout=60), 0, (self.work / "milter.log").read_text())
        refused = self.send("package test 2", f"body {MARKER}-2")
        self.assertNotEqual(refused.returncode, 0)
        self.assertRegex(refused.stdout.decode(errors="replace"), r"<\*\* 4\d\d ")
        time.sleep(1)
        self.assertEqual(len(self.maildir_files()), 1)
        grep = run(["grep", "-rl", f"{MARKER}-", root / "home/alice", root / "var/spool/postfix"], check=False)
        self.assertEqual(grep.stdout, b"", "no plaintext anywhere in the mailbox or Postfix's queue")
        self.ns(["chroot", root, "postfix", "stop"])

        # remove keeps configuration and keys; purge removes both and says so in README.Debian.
        self.chroot(["apt-get", "remove", "-y", "-qq", "mdcrypt-milter"])
        self.assertFalse((root / "usr/sbin/mdcrypt-milter").exists())
        self.assertTrue((root / "etc/mdcrypt-milter/domains.toml").exists())
        self.assertTrue((home / "pubring.kbx").exists())
        readme_debian = (root / "usr/share/doc/mdcrypt-milter/README.Debian")
        self.assertFalse(readme_debian.exists(), "documentation goes with the package")
        self.chroot(["apt-get", "purge", "-y", "-qq", "mdcrypt-milter"])
        self.assertFalse((root / "etc/mdcrypt-milter").exists())
        self.assertFalse((root / "var/lib/mdcrypt-milter").exists())
        self.assertFalse((root / "var/spool/postfix/mdcrypt-milter").exists())
        self.assertNotIn("mdcrypt-milter", self.chroot(["id", "-nG", "postfix"]).stdout.decode().split())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--deb", required=True)
    parser.add_argument("--readme", required=True)
    ARGS, rest = parser.parse_known_args()
    if not Path(ARGS.deb).is_file():
        sys.exit(f"{ARGS.deb}: no such package; scripts/build-deb builds it")
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
