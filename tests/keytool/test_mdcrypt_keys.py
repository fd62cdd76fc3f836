#!/usr/bin/python3
"""mdcrypt-keys on a real GnuPG home: what it imports and refuses, that every change keeps
mdcrypt-expected-keys in step (so the filter defers a recorded key that vanished, and not one removed
on purpose), and that check gives the milter's verdict.

Usage: test_mdcrypt_keys.py --keys-tool PATH --filter PATH --make-keys PATH
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ARGS = None
EX_DATAERR, EX_TEMPFAIL = 65, 75
MESSAGE = b"From: b@example.net\r\nTo: alice@example.test\r\nSubject: s\r\n\r\nThe secret plan.\r\n"


def fingerprint(keys_dir, name):
    with open(os.path.join(keys_dir, "keys.txt")) as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] == name:
                return fields[1]
    raise KeyError(name)


class MdcryptKeysTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mdcrypt-keys-test.")
        cls.keys = os.path.join(cls.dir, "keys")
        subprocess.run(["/usr/bin/python3", ARGS.make_keys, "--output", cls.keys], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="home.", dir=self.dir)
        policy = os.path.join(self.home, "domains.toml")
        with open(policy, "w") as f:
            f.write('[default]\nmode = "opportunistic"\n\n[domain."example.test"]\n')
        self.config = os.path.join(self.home, "main.toml")
        with open(self.config, "w") as f:
            f.write(f'[milter]\nsocket = "unix:{self.dir}/unused.sock"\n\n[gnupg]\nhome = "{self.home}"\n\n'
                    f'[policy]\nfile = "{policy}"\n')

    def tearDown(self):
        subprocess.run(["/usr/bin/gpgconf", "--homedir", self.home, "--kill", "all"], capture_output=True)

    def keys_tool(self, *args, stdin=None):
        return subprocess.run([ARGS.keys_tool, "--config", self.config] + list(args), input=stdin,
                              capture_output=True, timeout=120)

    def key_file(self, name, kind="pub"):
        return os.path.join(self.keys, f"{name}.{kind}.asc")

    def expected(self):
        with open(os.path.join(self.home, "mdcrypt-expected-keys")) as f:
            return [l.split() for l in f if l.strip() and not l.startswith("#")]

    def filter_exit(self):
        return subprocess.run([ARGS.filter, "--config", self.config, "--recipient", "alice@example.test"],
                              input=MESSAGE, capture_output=True, timeout=120)

    def test_import_records_the_key_and_list_shows_the_verdict(self):
        result = self.keys_tool("import", self.key_file("alice"))
        self.assertEqual(result.returncode, 0, result.stderr)
        alice = fingerprint(self.keys, "alice")
        self.assertIn(f"{alice}\n  alice@example.test: usable", result.stdout.decode())
        self.assertEqual(self.expected(), [[alice, "alice@example.test"]])
        listing = self.keys_tool("list")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn("alice@example.test: usable", listing.stdout.decode())
        self.assertNotIn("not recorded", listing.stdout.decode())
        with open(self.key_file("bob"), "rb") as f:  # from standard input too
            self.assertEqual(self.keys_tool("import", "-", stdin=f.read()).returncode, 0)
        self.assertEqual(len(self.expected()), 2)

    def test_refuses_expired_revoked_sign_only_and_secret_keys_importing_nothing(self):
        for name, words in (("expired", "expired"), ("revoked", "revoked"), ("signonly", "encryption")):
            with self.subTest(key=name):
                result = self.keys_tool("import", self.key_file(name))
                self.assertEqual(result.returncode, EX_DATAERR, result.stdout)
                self.assertIn(fingerprint(self.keys, name).encode(), result.stderr)
                self.assertIn(words.encode(), result.stderr)
        secret = self.keys_tool("import", self.key_file("alice", "sec"))
        self.assertEqual(secret.returncode, EX_DATAERR)
        self.assertIn(b"secret", secret.stderr.lower())
        listing = self.keys_tool("list")
        self.assertIn("0 key(s)", listing.stdout.decode())

    def test_a_recorded_key_that_vanishes_defers_one_removed_with_the_tool_does_not(self):
        self.assertEqual(self.keys_tool("import", self.key_file("alice")).returncode, 0)
        self.assertEqual(self.filter_exit().returncode, 0)
        alice = fingerprint(self.keys, "alice")
        # Removed behind the tool's back (plain gpg): the filter defers, list says so.
        subprocess.run(["/usr/bin/gpg", "--homedir", self.home, "--batch", "--yes", "--delete-keys", alice],
                       check=True, capture_output=True)
        deferred = self.filter_exit()
        self.assertEqual(deferred.returncode, EX_TEMPFAIL, deferred.stderr)
        self.assertNotIn(b"secret plan", deferred.stdout)
        listing = self.keys_tool("list")
        self.assertEqual(listing.returncode, EX_DATAERR)
        self.assertIn(f"{alice}  MISSING", listing.stdout.decode())
        self.assertEqual(self.keys_tool("import", self.key_file("bob")).returncode, EX_DATAERR)  # not over a loss
        # The administrator says it was on purpose: the recipient becomes keyless, mail flows as policy says.
        self.assertEqual(self.keys_tool("record").returncode, 0)
        self.assertEqual(self.filter_exit().returncode, 0)

    def test_remove_by_address_updates_the_record(self):
        for name in ("alice", "bob"):
            self.assertEqual(self.keys_tool("import", self.key_file(name)).returncode, 0)
        removed = self.keys_tool("remove", "Alice@Example.TEST")
        self.assertEqual(removed.returncode, 0, removed.stderr)
        self.assertIn(f"removed {fingerprint(self.keys, 'alice')}", removed.stdout.decode())
        self.assertEqual([e[0] for e in self.expected()], [fingerprint(self.keys, "bob")])
        out = self.filter_exit()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(b"secret plan", out.stdout)  # opportunistic and now keyless: plain, as configured
        self.assertEqual(self.keys_tool("remove", "nobody@example.test").returncode, EX_DATAERR)

    def test_check_gives_the_milters_verdict_and_a_damaged_keyring_fails_loudly(self):
        self.assertEqual(self.keys_tool("import", self.key_file("alice")).returncode, 0)
        check = self.keys_tool("check", "alice@example.test")
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("class: encrypt", check.stdout.decode())
        kbx = os.path.join(self.home, "pubring.kbx")
        with open(kbx, "r+b") as f:
            f.seek(32)
            f.write(b"\x7f\xff\xff\xff")
        listing = self.keys_tool("list")
        self.assertEqual(listing.returncode, EX_DATAERR)
        self.assertIn(b"damaged", listing.stderr)
        self.assertEqual(self.keys_tool("check", "alice@example.test").returncode, EX_TEMPFAIL)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
    import unittest_main  # noqa: E402
    unittest_main.run(sys.modules[__name__], "--keys-tool", "--filter", "--make-keys")
