"""Shared fixture of the daemon's end-to-end tests (test_milter_*.py): the real mdcrypt-milter on a
socket the MTA can reach, a throwaway server GnuPG home with the recipients' public keys, their secret
keys kept apart for decryption, the set-up and tear-down of a class's milter and MTAs (MilterFixture),
and the checks every delivered message must pass.  Not a test module itself (no TestCase here).

Standard library only; every subprocess gets an argument list.
"""
from __future__ import annotations

import email.parser
import email.policy
import os
import re
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402

GPG = "/usr/bin/gpg"
SQOP = "/usr/bin/sqop"
# MDCRYPT_TEST_ENGINE=rnp starts every daemon with [engine] backend = "rnp" (ctest: e2e_milter_*_rnp).
ENGINE_TABLE = (f'\n[engine]\nbackend = "{os.environ["MDCRYPT_TEST_ENGINE"]}"\n'
                if os.environ.get("MDCRYPT_TEST_ENGINE") else "")
SENDER = "bob@sender.test"

# Keyed recipients; carol is local (example.test, opportunistic) but has no key. secure.test is
# `required` and nobody there has a key.
KEYED = ("alice", "dave")

# RFC 9788 header protection (on by default) puts the whole header inside and marks the Content-Type
# hp="cipher"; these tests check issue 3's promise, the original Content-* fields and body byte for
# byte, so they turn it off.
POLICY = """\
[default]
mode = "opportunistic"
header_protection = false

[domain."example.test"]

[domain."secure.test"]
mode = "required"
"""

# The test message, with the fields issue 3 says must survive (an upstream Received included so it
# can be compared byte for byte), a folded Content-Type, 8-bit text, dot lines and a line that only
# an mbox would care about. LF here; the SMTP client sends CRLF.
MESSAGE = (
    b"Received: from mua.sender.test (mua.sender.test [192.0.2.7])\n"
    b"\tby relay.sender.test with ESMTP; Fri, 27 Nov 2026 11:59:58 +0000\n"
    b"From: Bob Sender <bob@sender.test>\n"
    b"To: Alice Example <alice@example.test>\n"
    b"Cc: Someone Else <someone@sender.test>\n"
    b"Subject: =?utf-8?q?Caf=C3=A9?= meeting\n"
    b"Date: Fri, 27 Nov 2026 12:00:00 +0000\n"
    b"Message-ID: <e2e-1@sender.test>\n"
    b"References: <e2e-0@sender.test>\n"
    b"\t<e2e-00@sender.test>\n"
    b"MIME-Version: 1.0\n"
    b"Content-Type: text/plain;\n"
    b"\tcharset=\"utf-8\";\n"
    b"\tformat=flowed\n"
    b"Content-Transfer-Encoding: 8bit\n"
    b"\n"
    b"Hello Alice,\n"
    b"\n"
    b"caf\xc3\xa9 na\xc3\xafve \xf0\x9f\x98\x80\n"
    b".a line that starts with a dot\n"
    b"From the start of a line\n"
    b"trailing spaces   \n"
    b"-- \n"
    b"Bob\n"
)

# Fields that must arrive exactly as sent (raw value, folding kept).
UNCHANGED = ("Received", "From", "To", "Cc", "Date", "Message-ID", "References")


def gpg(home, *args, stdin=None) -> bytes:
    argv = [GPG, "--homedir", str(home), "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]
    r = subprocess.run(argv + list(args), input=stdin, capture_output=True, check=False, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"gpg {' '.join(args)}: {r.stderr.decode(errors='replace')}")
    return r.stdout


def crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def fields(header_block: bytes) -> list[tuple[str, bytes]]:
    """(name, raw value) pairs in order; raw value = everything after the colon, CRLF folding."""
    out: list[tuple[str, bytes]] = []
    for line in crlf(header_block).split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + b"\r\n" + line)
        elif b":" in line:
            name, value = line.split(b":", 1)
            out.append((name.decode(), value))
    return out


def values(fs, name) -> list[bytes]:
    return [v for n, v in fs if n.lower() == name.lower()]


def inner_entity(message: bytes) -> bytes:
    """What the ciphertext must decrypt to: the original Content-* fields verbatim, a blank line, the
    original body, all CRLF (the canonical form RFC 3156 encrypts)."""
    header, body = mta.split_message(message)
    content = b"".join(n.encode() + b":" + v + b"\r\n" for n, v in fields(header) if n.lower().startswith("content-"))
    return content + b"\r\n" + crlf(body)


class MilterDaemon:
    """mdcrypt-milter started in `tmp` (an mta.TempDir) on a socket in tmp.milter_socket_dir()."""

    def __init__(self, tmp: mta.TempDir, *, main_extra: str = "", keys: str = ""):
        self.tmp = tmp
        self.home = tmp.subdir("gnupg")             # the server's keyring: public keys only
        (self.home / "gpg.conf").write_text("no-random-seed-file\n")  # as bench/README.md recommends
        self.secret_home = tmp.subdir("gnupg-secret")  # the recipients' side
        self.socket_path = tmp.milter_socket_dir() / "mdcrypt.sock"
        self.config = tmp / "mdcrypt-milter.toml"
        self.log_path = tmp / "milter.log"
        self.fingerprints: dict[str, str] = {}
        self.key_files: dict[str, Path] = {}
        for name in KEYED:
            gpg(self.home, "--import", stdin=self.make_key(name))
        # gpg --import started an agent for the server home; stop it so that a test can tell whether
        # the milter ever starts one (it must not: encryption needs public keys only).
        subprocess.run(["/usr/bin/gpgconf", "--homedir", str(self.home), "--kill", "all"], capture_output=True,
                       check=False, timeout=60)
        (tmp / "domains.toml").write_text(POLICY)
        self.write_config(main_extra, keys)
        self.process: mta.ManagedProcess | None = None

    def make_key(self, name: str, address: str | None = None) -> bytes:
        """A new recipient key pair (ed25519 + cv25519 encryption subkey, no expiry) for `address`
        (default NAME@example.test), known to the tests as `name`: its secret key goes into the
        recipients' side (decrypt_gpg, and decrypt_sqop(name)), nothing into the server's keyring.
        Several names may share one address (a key and its replacement). Returns the armored public key."""
        address = address or f"{name}@example.test"
        uid = f"{address.split('@')[0].capitalize()} Example <{address}>"
        created = gpg(self.secret_home, "--status-fd", "1", "--yes", "--quick-gen-key", uid, "ed25519", "cert", "never")
        fpr = re.search(rb"^\[GNUPG:\] KEY_CREATED \w ([0-9A-F]{40})", created, re.M).group(1).decode()
        gpg(self.secret_home, "--quick-add-key", fpr, "cv25519", "encr", "never")
        self.fingerprints[name] = fpr
        path = self.tmp / f"{name}.sec.asc"
        path.write_bytes(gpg(self.secret_home, "--export-secret-keys", "--armor", fpr))
        self.key_files[name] = path
        return gpg(self.secret_home, "--export", "--armor", fpr)

    def write_config(self, main_extra: str = "", keys: str = "") -> None:
        """keys: the body of a [keys] table (sources, file_template, wkd_root, ...); "" = no table."""
        keys_table = f"\n[keys]\n{keys}" if keys else ""
        self.config.write_text(f"""\
[milter]
socket = "unix:{self.socket_path}"
socket_mode = "0660"
socket_group = "postfix"
spool_directory = "{self.tmp / 'spool'}"
body_memory_limit = "64K"
max_message_size = "60M"
log_verbose = true
{main_extra}
[gnupg]
home = "{self.home}"

[policy]
file = "domains.toml"
{keys_table}{ENGINE_TABLE}""")

    def start(self) -> "MilterDaemon":
        self.process = mta.ManagedProcess([mta.binary("mdcrypt-milter"), "--config", self.config, "--log-stderr"],
                                          log=self.log_path, cwd=self.tmp)
        mta.wait_unix_listening(self.socket_path, timeout=30, alive=self.process.alive)
        # The engine asked for is the one running (the start line names it).
        self.wait_for_log(r"listening on .* engine " + (os.environ.get("MDCRYPT_TEST_ENGINE") or "gpgme") + "$")
        return self

    def stop(self) -> int | None:
        rc = self.process.stop() if self.process else None
        self.process = None
        return rc

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float = 15.0) -> re.Match:
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log())
            if m:
                return m
            if time.monotonic() > deadline:
                raise TimeoutError(f"milter log never matched {pattern!r}\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def decrypt_gpg(self, armored: bytes) -> bytes:
        return gpg(self.secret_home, "--decrypt", stdin=armored)

    def decrypt_sqop(self, name: str, armored: bytes) -> subprocess.CompletedProcess:
        return subprocess.run([SQOP, "decrypt", str(self.key_files[name])], input=armored, capture_output=True,
                              check=False, timeout=120)


class MilterFixture:
    """One TempDir, one MilterDaemon and the MTA(s) in front of it, shared by the tests of a class.

    Mix in before unittest.TestCase and write `start_fixture`: it gets `cls.tmp` (a fresh TempDir),
    must set `cls.milter` to a MilterDaemon, start what the tests need, and returns the other
    services (PostfixInstance, SendmailInstance, SmtpSink, ...) in the order tearDownClass stops them,
    all before the milter.  If it raises, the TempDir is cleaned up (which kills whatever it started).

    tearDownClass fails the class when the milter exits non-zero (with the tail of its log) or leaves
    files in its spool directory (a message body or a private key copy that was never removed).
    """

    @classmethod
    def start_fixture(cls) -> list:
        raise NotImplementedError(f"{cls.__name__} must define start_fixture()")

    @classmethod
    def setUpClass(cls):
        cls.tmp = mta.TempDir()
        try:
            cls.fixture_services = list(cls.start_fixture())
        except BaseException:
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            for service in cls.fixture_services:
                service.stop()
            status = cls.milter.stop()
            if status != 0:
                raise AssertionError(f"mdcrypt-milter exited with {status}:\n{cls.milter.log()[-3000:]}")
            leftovers = os.listdir(cls.tmp / "spool")
            if leftovers:
                raise AssertionError(f"files left in the spool directory: {leftovers}")
        finally:
            cls.tmp.cleanup()


def body_of(message: bytes) -> bytes:
    """The body of a stored or sent message with CRLF line ends."""
    return crlf(mta.split_message(message)[1])


def check_unchanged(tc: unittest.TestCase, stored: bytes, sent: bytes, what: str = "the copy") -> None:
    """A plain copy: the body as sent, and every sent header field (Content-* included) untouched and in
    order at the end of the stored header (the MTA only adds its own fields on top)."""
    tc.assertEqual(body_of(stored), body_of(sent), f"{what}: body changed")
    sent_fields = fields(mta.split_message(sent)[0])
    got = fields(mta.split_message(stored)[0])
    tc.assertEqual(got[-len(sent_fields):], sent_fields, f"{what}: header fields changed")


def check_split_at_rcpt_time(tc: unittest.TestCase, server, milter: MilterDaemon) -> None:
    """alice (keyed) and carol (keyless) in one SMTP transaction to `server` (a PostfixInstance or a
    SendmailInstance in front of `milter`): the keyed recipient fixes the transaction's class, the keyless
    one is told to come back in a transaction of its own (452 4.5.3, RFC 5321 "too many recipients"), so
    alice gets the encrypted copy only she can read and carol gets nothing from this transaction."""
    alice, carol = "alice@example.test", "carol@example.test"
    before = {a: len(server.maildir_messages(a)) for a in (alice, carol)}
    res = server.send(SENDER, [alice, carol], MESSAGE)
    tc.assertEqual(res.rcpt_codes, {alice: 250, carol: 452}, res.transcript)
    reply = [r for r in res.replies if r.stage == "rcpt" and r.arg == carol][0]
    tc.assertIn("4.5.3", reply.text)
    tc.assertIn(f"<{carol}>: needs a plain copy", reply.text)
    tc.assertTrue(res.accepted, res.transcript)
    stored = server.wait_for_maildir(alice, before[alice] + 1)[-1]
    check_encrypted(tc, milter, stored, MESSAGE, readers=["alice"], others=["dave"])
    # carol was never in the envelope: once the MTA logged the transaction's delivery (Postfix
    # status=sent, Sendmail stat=Sent), nothing more can come of it, and her absence means something.
    tc.assertIsNotNone(res.queue_id, res.transcript)
    server.wait_for_log(rf"{re.escape(res.queue_id)}: to=<{re.escape(alice)}>.*\bstat(us)?=[Ss]ent")
    tc.assertNotRegex(server.log(), rf"{re.escape(res.queue_id)}: to=<{re.escape(carol)}>")
    tc.assertEqual(len(server.maildir_messages(carol)), before[carol])


def check_encrypted(tc: unittest.TestCase, milter: MilterDaemon, stored: bytes, sent: bytes,
                    readers: list[str], others: list[str] = ()) -> dict:
    """The delivered file is RFC 3156 PGP/MIME, the routing/threading fields are as sent, and the
    payload decrypts (gpg and sqop, for every reader) to the original Content-* fields and body byte
    for byte; `others` (keyed but not recipients) cannot decrypt it. Returns the stored fields."""
    header, body = mta.split_message(stored)
    stored_fields = fields(header)
    sent_fields = fields(mta.split_message(sent)[0])
    for name in UNCHANGED:
        got, want = values(stored_fields, name), values(sent_fields, name)
        if name == "Received":  # the MTA adds its own on top; the ones that came with the message stay
            got = got[len(got) - len(want):]
        tc.assertEqual(got, want, f"{name} changed")
    tc.assertEqual(len(values(stored_fields, "MIME-Version")), 1)
    tc.assertEqual(values(stored_fields, "MIME-Version")[0].strip(), b"1.0")
    tc.assertEqual(values(stored_fields, "Content-Transfer-Encoding"), [])

    parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(crlf(stored))
    tc.assertEqual(parsed.get_content_type(), "multipart/encrypted")
    tc.assertEqual(parsed.get_param("protocol"), "application/pgp-encrypted")
    parts = parsed.get_payload()
    tc.assertEqual([p.get_content_type() for p in parts], ["application/pgp-encrypted", "application/octet-stream"])
    tc.assertEqual(parts[0].get_payload().strip(), "Version: 1")
    armor = parts[1].get_payload(decode=False).encode()
    tc.assertTrue(armor.lstrip().startswith(b"-----BEGIN PGP MESSAGE-----"), armor[:100])
    tc.assertNotIn(b"caf\xc3\xa9", stored)

    expected = inner_entity(sent)
    tc.assertEqual(milter.decrypt_gpg(armor), expected)
    for name in readers:
        r = milter.decrypt_sqop(name, armor)
        tc.assertEqual(r.returncode, 0, r.stderr)
        tc.assertEqual(r.stdout, expected, f"sqop as {name}")
    for name in others:
        tc.assertNotEqual(milter.decrypt_sqop(name, armor).returncode, 0, f"{name} could decrypt")
    return {"fields": stored_fields, "header": header, "body": body}


def run_tests(module) -> int:
    """Runs a test module's unittest cases with the harness's cleanup around them; prints the
    "N passed, N failed" line CI reads. Fails when nothing ran."""
    mta.install_signal_cleanup()
    mta.reap_stale_runs()
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    mta.cleanup_all()
    sys.stderr.flush()
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and result.testsRun > 0 else 1
