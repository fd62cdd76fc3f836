#!/usr/bin/python3
"""A damaged keyring, a gpg that dies while listing keys, or one that dies or stops early while
encrypting, defers the mail (exit 75): never passes it, never writes a cut-off ciphertext.

Each case once wrote a keyed recipient's mail out in plain text. Every case runs under the C locale
and under LANG=de_DE.UTF-8 (gpg then speaks German, as a server's gpg does with Debian's gnupg-l10n
and a German system locale).

Usage: test_filter_gpg_faults.py --filter PATH --make-keys PATH --fault-gpg PATH
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

GPG = "/usr/bin/gpg"
ARGS = None
EX_TEMPFAIL = 75

MESSAGE = (b"From: Bob <bob@example.net>\r\nTo: Alice <alice@example.test>\r\nSubject: numbers\r\n"
           b"Message-ID: <k1@example.net>\r\n\r\nThe secret plan.\r\n")
LOCALES = {"C": {"LANG": "C"}, "de_DE": {"LANG": "de_DE.UTF-8", "LANGUAGE": "de"}}


def gpg(home, *args, stdin=None, env=None):
    argv = [GPG, "--homedir", home, "--batch", "--no-tty"] + list(args)
    return subprocess.run(argv, input=stdin, capture_output=True, env=env, check=False)


class KeyringFaultTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mdcrypt-keyring-faults.")
        os.chmod(cls.dir, 0o700)
        cls.keys = os.path.join(cls.dir, "keys")
        subprocess.run(["/usr/bin/python3", ARGS.make_keys, "--output", cls.keys], check=True, capture_output=True)
        with open(os.path.join(cls.keys, "public.asc"), "rb") as f:
            cls.public = f.read()
        cls.homes = []

    @classmethod
    def tearDownClass(cls):
        for home in cls.homes:
            subprocess.run(["/usr/bin/gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def make_home(self, legacy=False, expected=False):
        home = tempfile.mkdtemp(prefix="home.", dir=self.dir)
        self.homes.append(home)
        if legacy:
            source = self.make_home()
            exported = gpg(source, "--export").stdout
            self.assertGreater(len(exported), 1000)
            with open(os.path.join(home, "pubring.gpg"), "wb") as f:
                f.write(exported)
        else:
            self.assertEqual(gpg(home, "--import", stdin=self.public).returncode, 0)
            subprocess.run(["/usr/bin/gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        if expected:
            listing = gpg(home, "--with-colons", "--list-keys", "alice@example.test").stdout.decode()
            fingerprint = next(l.split(":")[9] for l in listing.splitlines() if l.startswith("fpr:"))
            with open(os.path.join(home, "mdcrypt-expected-keys"), "w") as f:
                f.write(f"{fingerprint} alice@example.test\n")
        return home

    def write_config(self, home, gpg_program=None, mode="opportunistic", engine=None):
        policy = os.path.join(home, "domains.toml")
        with open(policy, "w") as f:
            f.write(f'[default]\nmode = "{mode}"\n\n[domain."example.test"]\n')
        main = os.path.join(home, "main.toml")
        with open(main, "w") as f:
            f.write(f'[milter]\nsocket = "unix:{self.dir}/unused.sock"\n\n[gnupg]\nhome = "{home}"\n')
            if gpg_program:
                f.write(f'gpg_program = "{gpg_program}"\n')
            f.write(f'\n[policy]\nfile = "{policy}"\n')
            if engine:
                f.write(f'\n[engine]\nbackend = "{engine}"\n')
        return main

    def run_filter(self, config, locale, extra_env=None, message=MESSAGE):
        env = {"PATH": "/usr/bin:/bin", **LOCALES[locale], **(extra_env or {})}
        return subprocess.run([ARGS.filter, "--config", config, "--recipient", "alice@example.test"],
                              input=message, capture_output=True, env=env, timeout=120)

    def assert_deferred(self, home, damage, gpg_program=None, extra_env=None, words=None, engine=None):
        config = self.write_config(home, gpg_program, engine=engine)
        healthy = self.run_filter(config, "C", extra_env=None)
        self.assertEqual(healthy.returncode, 0, healthy.stderr)  # before the damage: encrypted
        self.assertNotIn(b"secret plan", healthy.stdout)
        damage()
        for locale in LOCALES:
            with self.subTest(locale=locale):
                result = self.run_filter(config, locale, extra_env)
                self.assertEqual(result.returncode, EX_TEMPFAIL, result.stderr)
                self.assertNotIn(b"secret plan", result.stdout)
                self.assertNotIn(b"secret plan", result.stderr)
                if words:
                    self.assertIn(words.encode(), result.stderr)

    def keybox(self, home):
        return os.path.join(home, "pubring.kbx")

    def rewrite(self, path, data):
        os.unlink(path)
        with open(path, "wb") as f:
            f.write(data)

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_german_is_what_gpg_speaks_under_de_DE(self):
        # Proves the de_DE runs below mean something: the locale and gnupg-l10n are installed.
        result = gpg(os.path.join(self.dir, "nonexistent"), "--list-keys", env={"LANG": "de_DE.UTF-8", "PATH": "/usr/bin"})
        self.assertIn("Verzeichnis", result.stderr.decode("utf-8", "replace"))

    def test_a_keybox_with_a_damaged_blob_that_gpg_lists_as_empty(self):
        home = self.make_home()
        kbx = self.keybox(home)
        data = self.read(kbx)
        damaged = data[:32] + b"\x7f\xff\xff\xff" + data[36:]
        def damage():
            self.rewrite(kbx, damaged)
            listing = gpg(home, "--with-colons", "--list-keys")
            self.assertEqual(listing.returncode, 0)  # gpg itself says nothing is wrong
            self.assertNotIn(b"pub:", listing.stdout)
        self.assert_deferred(home, damage, words="pubring.kbx is damaged")

    def test_a_truncated_keybox(self):
        home = self.make_home()
        data = self.read(self.keybox(home))
        self.assert_deferred(home, lambda: self.rewrite(self.keybox(home), data[:len(data) // 2]), words="cut off")

    def test_a_zero_length_keybox(self):
        home = self.make_home()
        self.assert_deferred(home, lambda: self.rewrite(self.keybox(home), b""), words="zero bytes")

    def test_an_unreadable_keybox(self):
        home = self.make_home()
        def damage():
            os.unlink(self.keybox(home))
            os.mkdir(self.keybox(home))  # root reads any file: a directory cannot be read as one
        self.assert_deferred(home, damage, words="pubring.kbx")

    def test_a_keybox_cut_to_its_header_with_the_keys_recorded(self):
        home = self.make_home(expected=True)
        data = self.read(self.keybox(home))
        self.assert_deferred(home, lambda: self.rewrite(self.keybox(home), data[:32]), words="missing from the keyring")

    def test_a_keybox_deleted_with_the_keys_recorded(self):
        home = self.make_home(expected=True)
        self.assert_deferred(home, lambda: os.unlink(self.keybox(home)), words="missing from the keyring")

    def test_a_legacy_keyring_damaged_the_same_ways(self):
        for name, cut in (("truncated", lambda d: d[:len(d) - 100]), ("zero", lambda d: b""),
                          ("garbage after the keys", lambda d: d + b"\x00\x00\x00")):
            with self.subTest(damage=name):
                home = self.make_home(legacy=True)
                ring = os.path.join(home, "pubring.gpg")
                data = self.read(ring)
                self.assert_deferred(home, lambda: self.rewrite(ring, cut(data)), words="pubring.gpg")
                self.assertFalse(os.path.exists(self.keybox(home)))  # gpg read pubring.gpg, as the server would

    def test_with_the_rnp_engine_a_damaged_or_unreadable_keyring_defers_too(self):
        # The key lookup (gpg's listing, checked against the file's framing) is the same for both
        # engines, and finds the damage before librnp reads the file.
        for name, damage, words in (
                ("truncated", lambda home, data: self.rewrite(self.keybox(home), data[:len(data) // 2]), "cut off"),
                ("zero length", lambda home, data: self.rewrite(self.keybox(home), b""), "zero bytes"),
                ("a directory", lambda home, data: (os.unlink(self.keybox(home)), os.mkdir(self.keybox(home))), "pubring.kbx")):
            with self.subTest(damage=name):
                home = self.make_home()
                data = self.read(self.keybox(home))
                self.assert_deferred(home, lambda: damage(home, data), words=words, engine="rnp")

    def test_a_keybox_gpg_reads_but_librnp_cannot_defers_with_the_rnp_engine_naming_the_file(self):
        # A keybox header of a version librnp 0.16 refuses ("Wrong version"), which gpg 2.2 reads as
        # before: the lookup finds alice's key, the rnp engine cannot load the keyring. The log line
        # names the file and what was checked.
        home = self.make_home()
        data = bytearray(self.read(self.keybox(home)))
        data[5] = 2  # the header blob's version
        self.rewrite(self.keybox(home), bytes(data))
        listing = gpg(home, "--with-colons", "--list-keys", "alice@example.test")
        self.assertIn(b"pub:", listing.stdout)  # gpg reads it
        gpgme = self.run_filter(self.write_config(home), "C")
        self.assertEqual(gpgme.returncode, 0, gpgme.stderr)  # the gpgme engine encrypts as before
        self.assertNotIn(b"secret plan", gpgme.stdout)
        result = self.run_filter(self.write_config(home, engine="rnp"), "C")
        self.assertEqual(result.returncode, EX_TEMPFAIL, result.stderr)
        self.assertEqual(result.stdout, b"")
        self.assertIn(f"cannot load keyring {self.keybox(home)}: rnp_load_keys: Bad format".encode(), result.stderr)
        self.assertIn(b"its framing is intact (gpg can read it): RNP rejects something in it", result.stderr)
        # librnp's own words go to stderr too (always, in Debian's build), where the MTA reads them.
        self.assertIn(b"Wrong version, expect 1 but has 2", result.stderr)

    def test_a_gpg_that_dies_or_fails_while_listing(self):
        for fault in ("sigkill", "sigsegv", "oops", "partial"):
            with self.subTest(fault=fault):
                home = self.make_home()
                fault_file = os.path.join(home, "fault")
                with open(fault_file, "w") as f:
                    f.write("none\n")
                def damage():
                    with open(fault_file, "w") as f:
                        f.write(fault + "\n")
                self.assert_deferred(home, damage, gpg_program=ARGS.fault_gpg,
                                     extra_env={"MDCRYPT_GPG_FAULT": fault_file}, words="listing the keys")

    def test_under_required_a_failed_listing_is_temporary_not_a_refusal(self):
        # A transient gpg fault must not become a permanent "no key" refusal (exit 77, a 550 at the milter).
        home = self.make_home()
        fault_file = os.path.join(home, "fault")
        with open(fault_file, "w") as f:
            f.write("sigkill\n")
        config = self.write_config(home, ARGS.fault_gpg, mode="required")
        for locale in LOCALES:
            with self.subTest(locale=locale):
                result = self.run_filter(config, locale, {"MDCRYPT_GPG_FAULT": fault_file})
                self.assertEqual(result.returncode, EX_TEMPFAIL, result.stderr)
                self.assertEqual(result.stdout, b"")

    def test_a_gpg_that_dies_or_stops_early_while_encrypting(self):
        big = MESSAGE + b"x" * (2 << 20) + b"\r\n"  # 2 MB: gpg is still reading or writing when it dies
        for fault in ("encrypt-kill-reading", "encrypt-kill-writing", "encrypt-partial"):
            with self.subTest(fault=fault):
                home = self.make_home()
                fault_file = os.path.join(home, "fault")
                with open(fault_file, "w") as f:
                    f.write(fault + "\n")
                config = self.write_config(home, ARGS.fault_gpg)
                tmp = os.path.join(home, "tmp")
                os.mkdir(tmp, 0o700)
                result = self.run_filter(config, "C", {"MDCRYPT_GPG_FAULT": fault_file, "TMPDIR": tmp}, message=big)
                self.assertEqual(result.returncode, EX_TEMPFAIL, result.stderr)
                self.assertEqual(result.stdout, b"")  # nothing written: no cut-off body, no plaintext
                self.assertIn(b"alice@example.test", result.stderr)
                self.assertEqual(os.listdir(tmp), [])  # the filter's private directory is gone

    def hanging_gpg(self, fault, timeout_seconds=None):
        """A home whose gpg hangs at `fault`; returns (config, environment, fault file, private TMPDIR)."""
        home = self.make_home()
        fault_file = os.path.join(home, "fault")
        with open(fault_file, "w") as f:
            f.write(fault + "\n")
        config = self.write_config(home, ARGS.fault_gpg)
        if timeout_seconds:
            with open(config) as f:
                text = f.read()
            with open(config, "w") as f:
                f.write(text.replace(f'gpg_program = "{ARGS.fault_gpg}"\n',
                                     f'gpg_program = "{ARGS.fault_gpg}"\ntimeout_seconds = {timeout_seconds}\n'))
        tmp = os.path.join(home, "tmp")
        os.mkdir(tmp, 0o700)
        return config, {"MDCRYPT_GPG_FAULT": fault_file, "TMPDIR": tmp}, fault_file, tmp

    def assert_process_ends(self, pid_file):
        with open(pid_file) as f:
            pid = int(f.read())
        for _ in range(200):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        return
            except FileNotFoundError:
                return
            time.sleep(0.05)
        self.fail(f"the hung gpg (pid {pid}) is still running")

    def test_a_gpg_that_hangs_is_killed_at_the_timeout(self):
        for fault, words in (("hang", b"listing the keys"), ("encrypt-hang", b"encryption to")):
            with self.subTest(fault=fault):
                config, env, fault_file, tmp = self.hanging_gpg(fault, timeout_seconds=2)
                result = self.run_filter(config, "C", env)
                self.assertEqual(result.returncode, EX_TEMPFAIL, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertIn(b"did not finish within 2 s", result.stderr)
                self.assertIn(words, result.stderr)
                self.assertEqual(os.listdir(tmp), [])
                self.assert_process_ends(fault_file + ".pid")

    def test_sigterm_kills_a_hanging_gpg_and_the_filter_exits_75_leaving_nothing(self):
        # The delivery agent gives up (Dovecot's filter timeout, a killed procmail): gpg must not stay
        # behind, nor the filter's private directory, nor any output.
        config, env, fault_file, tmp = self.hanging_gpg("encrypt-hang")  # the default timeout, 120 s
        message = os.path.join(tmp, "..", "message.eml")
        with open(message, "wb") as f:
            f.write(MESSAGE)
        with open(message, "rb") as stdin:
            proc = subprocess.Popen([ARGS.filter, "--config", config, "--recipient", "alice@example.test"],
                                    stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env={"PATH": "/usr/bin:/bin", "LANG": "C", **env})
        for _ in range(600):
            if os.path.exists(fault_file + ".pid"):
                break
            time.sleep(0.05)
        self.assertTrue(os.path.exists(fault_file + ".pid"), "gpg never started")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, EX_TEMPFAIL, err)
        self.assertEqual(out, b"")
        self.assertIn(b"stopping; gpg was killed", err)
        self.assertEqual(os.listdir(tmp), [])
        self.assert_process_ends(fault_file + ".pid")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
    import unittest_main  # noqa: E402
    unittest_main.run(sys.modules[__name__], "--filter", "--make-keys", "--fault-gpg")
