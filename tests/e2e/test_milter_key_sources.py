#!/usr/bin/python3
"""Key sources through a real Postfix 3.7 and the real mdcrypt-milter: a per-user key file found by
[keys] file_template, a local WKD tree under [keys] wkd_root, a key imported into the server keyring
while the daemon runs, a key file written and then replaced while it runs (no reload, no restart), and
key files that give no key (someone else's key, malformed data, an expired or revoked key): delivered
in plaintext under opportunistic mode, the reason logged with the address, the daemon still serving.

The lookup logic itself is unit-tested in tests/crypto (test_key_file_cache.cpp, test_key_sources.cpp);
this proves what a user sees: the Maildir copy Postfix delivers, which key can read it, and that it
needs no reload.  Every message goes in its own SMTP transaction with one recipient.

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_milter_key_sources.py`.
"""
import os
import re
import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402
from test_milter_common import (MESSAGE, SENDER, MilterDaemon, MilterFixture, check_encrypted, crlf,  # noqa: E402
                                gpg, run_tests)

DOMAIN = "example.test"
WKS_CLIENT = "/usr/lib/gnupg/gpg-wks-client"  # GnuPG's own WKD hash, not the one under test
MAKE_TEST_KEYS = mta.REPO_ROOT / "tests" / "support" / "make-test-keys"

FILE_USER = "frank"       # key only in his key file
WKD_USER = "gina"         # key only in the WKD tree
KEYRING_LATE = "hank"     # key imported into the server keyring during the test
FILE_LATE = "ivan"        # key file written during the test, then replaced with a new key
FOREIGN = "erin"          # key file holding frank's key
MALFORMED = "mal"         # key file that is not OpenPGP data
TRUNCATED = "trunc"       # key file cut off in the middle of a key
EXPIRED = "expired.user"  # make-test-keys' expired key, in a key file
REVOKED = "revoked.user"  # make-test-keys' revoked key, in a key file
ADDRESSES = ("alice", FILE_USER, WKD_USER, KEYRING_LATE, FILE_LATE, FOREIGN, MALFORMED, TRUNCATED, EXPIRED,
             REVOKED)


def address(local: str) -> str:
    return f"{local}@{DOMAIN}"


def wkd_hash(addr: str) -> str:
    out = subprocess.run([WKS_CLIENT, "--print-wkd-hash", addr], capture_output=True, check=True, timeout=60)
    return out.stdout.decode().split()[0]


def publish(path: Path, data: bytes) -> Path:
    """Write a key file as a user or a WKD sync would leave it for a milter running as another user:
    directories 0755, file 0644 (the milter in these tests runs as root, so this is not what is tested)."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    for d in (path.parent, path.parent.parent, path.parent.parent.parent):  # .pgp, the user's, the domain's
        os.chmod(d, 0o755)
    path.write_bytes(data)
    os.chmod(path, 0o644)
    return path


class KeySourcesThroughPostfix(MilterFixture, unittest.TestCase):
    """One milter with sources = ["keyring", "file", "wkd"] and one Postfix for all tests."""

    @classmethod
    def start_fixture(cls):
        cls.vmail = cls.tmp.subdir("vmail", 0o755)
        cls.wkd_root = cls.tmp.subdir("openpgpkey", 0o755)
        cls.milter = MilterDaemon(cls.tmp, keys=f"""\
sources = ["keyring", "file", "wkd"]
file_template = "{cls.vmail}/%d/%l/.pgp/pubkey.asc"
wkd_root = "{cls.wkd_root}"
""")
        test_keys = cls.tmp / "test-keys"
        subprocess.run([sys.executable, str(MAKE_TEST_KEYS), "--output", str(test_keys)], capture_output=True,
                       check=True, timeout=120)
        cls.test_keys = test_keys
        # Present before the daemon starts: frank's key file and gina's WKD entry.
        publish(cls.key_file(FILE_USER), cls.milter.make_key(FILE_USER))
        publish(cls.wkd_file(WKD_USER), cls.milter.make_key(WKD_USER))
        cls.milter.start()
        cls.pid = cls.milter.process.pid
        cls.pf = mta.PostfixInstance(cls.tmp, addresses=ADDRESSES, milter=cls.milter.socket_path).start()
        return [cls.pf]

    @classmethod
    def key_file(cls, local: str) -> Path:
        return cls.vmail / DOMAIN / local / ".pgp" / "pubkey.asc"

    @classmethod
    def wkd_file(cls, local: str) -> Path:
        return cls.wkd_root / DOMAIN / "hu" / wkd_hash(address(local))

    # -- helpers ---------------------------------------------------------------------------------
    def deliver(self, local: str) -> tuple[mta.SmtpResult, bytes]:
        """One SMTP transaction, one recipient; returns the result and the copy in the Maildir."""
        addr = address(local)
        before = len(self.pf.maildir_messages(addr))
        res = self.pf.send(SENDER, [addr], MESSAGE)
        self.assertTrue(res.accepted, f"{res.transcript}\n--- milter ---\n{self.milter.log()[-3000:]}")
        return res, self.pf.wait_for_maildir(addr, before + 1)[-1]

    def assert_encrypted_to(self, local: str, reader: str, others=()) -> None:
        """The next message to `local` is PGP/MIME that `reader`'s secret key decrypts (gpg and sqop) to
        the original, `others` cannot, and the milter logged it as encrypted to `reader`'s key only."""
        res, stored = self.deliver(local)
        check_encrypted(self, self.milter, stored, MESSAGE, readers=[reader], others=list(others))
        self.milter.wait_for_log(rf"{res.queue_id}: verdict=encrypt recipients=1 "
                                 rf"keys={self.milter.fingerprints[reader]} ")

    def assert_plaintext(self, local: str) -> None:
        """The next message to `local` arrives with the body and Content-Type as sent."""
        _, stored = self.deliver(local)
        header, body = mta.split_message(stored)
        self.assertEqual(crlf(body), crlf(mta.split_message(MESSAGE)[1]))
        self.assertNotIn(b"multipart/encrypted", header)
        self.assertIn(b"Content-Type: text/plain;", header)

    def assert_no_key_logged(self, local: str, detail: str) -> str:
        """The milter logged, on a line for this address, that it has no usable key, with `detail` (a
        regex: which source and why). Returns the line."""
        return self.milter.wait_for_log(rf"^.*<{re.escape(address(local))}>.*no usable key: .*{detail}.*$").group(0)

    def file_reason(self, local: str, reason: str) -> str:
        return re.escape(f"file {self.key_file(local)}: ") + reason

    def assert_same_daemon(self) -> None:
        """Still the process started in setUpClass, running, never reloaded."""
        self.assertTrue(self.milter.process.alive(), self.milter.log()[-3000:])
        self.assertEqual(self.milter.process.pid, self.pid)
        self.assertNotIn("configuration reloaded", self.milter.log())
        self.assertEqual(self.milter.log().count(" listening on "), 1)

    def server_keyring_lists(self, local: str) -> bool:
        out = gpg(self.milter.home, "--with-colons", "--list-keys").decode()
        return f"<{address(local)}>" in out

    # -- tests -----------------------------------------------------------------------------------
    def test_a_key_in_the_users_key_file_is_used_and_never_imported(self):
        self.assertFalse(self.server_keyring_lists(FILE_USER))
        self.assert_encrypted_to(FILE_USER, FILE_USER, others=["alice"])
        self.assertFalse(self.server_keyring_lists(FILE_USER), "the key file was imported")

    def test_a_key_in_the_local_wkd_tree_is_used(self):
        self.assert_encrypted_to(WKD_USER, WKD_USER, others=[FILE_USER])

    def test_a_key_imported_into_the_server_keyring_is_used_for_the_next_message(self):
        self.assert_plaintext(KEYRING_LATE)
        self.assert_no_key_logged(KEYRING_LATE, re.escape(f"no key for {address(KEYRING_LATE)} in keyring {self.milter.home}"))
        public = self.milter.make_key(KEYRING_LATE)
        gpg(self.milter.home, "--import", stdin=public)
        subprocess.run(["/usr/bin/gpgconf", "--homedir", str(self.milter.home), "--kill", "all"],
                       capture_output=True, check=False, timeout=60)
        self.assert_encrypted_to(KEYRING_LATE, KEYRING_LATE)
        self.assert_same_daemon()

    def test_a_key_file_written_and_then_replaced_is_used_for_the_next_message(self):
        path = self.key_file(FILE_LATE)
        self.assert_plaintext(FILE_LATE)
        self.assert_no_key_logged(FILE_LATE, self.file_reason(FILE_LATE, "no such file"))
        publish(path, self.milter.make_key(FILE_LATE))
        self.assert_encrypted_to(FILE_LATE, FILE_LATE)
        # Key rotation: the user overwrites the same file (same inode) with a new key for the same address.
        inode = path.stat().st_ino
        new_key = self.milter.make_key(FILE_LATE + "-new", address(FILE_LATE))
        with open(path, "r+b") as f:
            f.truncate(0)
            f.write(new_key)
        self.assertEqual(path.stat().st_ino, inode)
        self.assert_encrypted_to(FILE_LATE, FILE_LATE + "-new", others=[FILE_LATE])
        self.assert_same_daemon()

    def test_foreign_malformed_expired_and_revoked_key_files_are_no_key_and_plaintext(self):
        frank_public = gpg(self.milter.secret_home, "--export", "--armor", self.milter.fingerprints[FILE_USER])
        binary_key = gpg(self.milter.secret_home, "--dearmor", stdin=(self.test_keys / "alice.pub.asc").read_bytes())
        cases = [
            (FOREIGN, frank_public, rf"key {self.milter.fingerprints[FILE_USER]} has no valid user ID for "
                                    rf"{re.escape(address(FOREIGN))}"),
            (MALFORMED, b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nthis is not a key\n"
                        b"-----END PGP PUBLIC KEY BLOCK-----\n", "not an OpenPGP public key"),
            (TRUNCATED, binary_key[: len(binary_key) // 2], "not an OpenPGP public key"),  # binary, cut off half way
            (EXPIRED, (self.test_keys / "expired.pub.asc").read_bytes(), r"key [0-9A-F]{40} has expired"),
            (REVOKED, (self.test_keys / "revoked.pub.asc").read_bytes(), r"key [0-9A-F]{40} is revoked"),
        ]
        for local, data, reason in cases:
            with self.subTest(local):
                path = publish(self.key_file(local), data)
                self.assert_plaintext(local)
                line = self.assert_no_key_logged(local, self.file_reason(local, reason))
                self.assertIn("class=plain", line)
        self.assert_same_daemon()
        # Still serving: a keyed recipient is encrypted as before.
        self.assert_encrypted_to(FILE_USER, FILE_USER)


if __name__ == "__main__":
    sys.exit(run_tests(sys.modules[__name__]))
