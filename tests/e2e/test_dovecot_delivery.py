#!/usr/bin/python3
"""Delivering to a real Dovecot without failing open: the two placements README "Delivering to Dovecot"
names, with their shipped Postfix config (conf/), a private Dovecot 2.3 (tests/e2e/dovecot.py) storing
the mail and serving it over IMAP.

- A Postfix pipe(8) transport running `mdcrypt-filter --exec dovecot-lda` (conf/postfix-dovecot-lda*.cf).
- The delivery-side milter (conf/postfix-delivery-side*.cf) with Dovecot LMTP as the final delivery.

For each: a message to a keyed recipient is stored encrypted and, fetched over IMAP, decrypts (gpg and
sqop) to the original Content-* fields and body byte for byte; with a damaged keyring the message stays
deferred in Postfix's queue (postqueue -j) and never reaches the mailbox, and once the keyring is
repaired the retry stores it encrypted.

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_dovecot_delivery.py`.
"""
import grp
import json
import os
import pwd
import re
import smtplib
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dovecot  # noqa: E402
import mta  # noqa: E402
from test_milter_common import (MESSAGE, SENDER, MilterDaemon, MilterFixture, check_encrypted, crlf,  # noqa: E402
                                run_tests)
from test_milter_delivery_side import delivery_side_config  # noqa: E402

CONF = mta.REPO_ROOT / "conf"
ALICE = "alice@example.test"
MAIL_USER = "nobody"  # stands in for the shipped user=vmail, which a test machine does not have


def read_snippets(main_name: str, master_name: str) -> tuple[dict[str, str], str]:
    """A shipped main.cf snippet as parameters and its master.cf snippet as text, comments left out."""
    main: dict[str, str] = {}
    for line in (CONF / main_name).read_text().splitlines():
        if line.strip() and not line.startswith(("#", " ", "\t")):
            name, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{main_name}: not a parameter line: {line!r}")
            main[name.strip()] = value.strip()
    master = "\n".join(line for line in (CONF / master_name).read_text().splitlines()
                       if line.strip() and not line.lstrip().startswith("#"))
    return main, master


def replace_once(text: str, old: str, new: str, where: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"{where}: expected {old!r} once")
    return text.replace(old, new)


def keys_for_mail_user(tmp: mta.TempDir) -> MilterDaemon:
    """Keys, config and policy (no milter started) that MAIL_USER, running the filter, can read."""
    os.chmod(tmp.path, 0o711)
    keys = MilterDaemon(tmp)
    user = pwd.getpwnam(MAIL_USER)
    for root, dirs, files in os.walk(keys.home):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.chown(name, user.pw_uid, user.pw_gid)
    return keys


def cut_off_keybox(keybox) -> bytes:
    """Replaces the keybox by its first half (as a full disk or a crash mid-write leaves it), same owner;
    returns the good contents."""
    good = keybox.read_bytes()
    write_keybox(keybox, good[:len(good) // 2])
    return good


def write_keybox(keybox, data: bytes) -> None:
    owner = keybox.stat()
    new = keybox.with_suffix(".new")
    new.write_bytes(data)
    os.chown(new, owner.st_uid, owner.st_gid)
    os.replace(new, keybox)


def queued(pf: mta.PostfixInstance) -> list[dict]:
    """postqueue -j: one JSON object per queued message (queue_name, queue_id, recipients, ...)."""
    out = subprocess.run(["/usr/sbin/postqueue", "-c", str(pf.conf_dir), "-j"], capture_output=True, timeout=30,
                         check=True).stdout.decode()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


class DovecotChecks:
    """What both placements must do; the fixture sets cls.pf, cls.dovecot, cls.keys (a MilterDaemon for
    the keys and config), cls.keybox (the server's pubring.kbx) and cls.deferral_reason (regex)."""

    def stored(self) -> list[bytes]:
        return self.dovecot.fetch_all(ALICE)

    def send_and_get_stored(self) -> bytes:
        before = len(self.stored())
        res = self.pf.send(SENDER, [ALICE], MESSAGE)
        self.assertTrue(res.accepted, res.transcript)
        try:
            return self.dovecot.wait_for_messages(ALICE, before + 1)[-1]
        except TimeoutError as e:
            self.fail(f"{e}\n--- maillog ---\n" + "\n".join(self.pf.maillog().splitlines()[-30:]))

    def test_stored_encrypted_and_served_over_imap(self):
        stored = self.send_and_get_stored()
        check_encrypted(self, self.keys, stored, MESSAGE, readers=["alice"], others=["dave"])
        self.assertNotIn(b"caf\xc3\xa9", stored)

    def test_a_damaged_keyring_leaves_the_message_deferred_in_the_queue_not_in_the_mailbox(self):
        before = len(self.stored())
        good = cut_off_keybox(self.keybox)
        try:
            res = self.pf.send(SENDER, [ALICE], MESSAGE)
            self.assertTrue(res.accepted, res.transcript)  # the public smtpd takes it; delivery defers
            self.assertIsNotNone(res.queue_id, res.transcript)
            self.pf.wait_for_log(rf"{res.queue_id}: to=<{re.escape(ALICE)}>.*status=deferred.*{self.deferral_reason}",
                                 timeout=30)
            entries = queued(self.pf)
            self.assertTrue(any(e["queue_name"] == "deferred" and [r["address"] for r in e["recipients"]] == [ALICE]
                                for e in entries), entries)
            self.assert_the_keyring_was_named()
            time.sleep(1)
            self.assertEqual(len(self.stored()), before, "a message reached the mailbox")
            self.assertNotRegex(self.pf.maillog(), rf"{res.queue_id}: to=<{re.escape(ALICE)}>.*status=(sent|bounced)")
        finally:
            write_keybox(self.keybox, good)
        # Repaired: the retry delivers it, encrypted, exactly once.
        self.pf.flush()
        stored = self.dovecot.wait_for_messages(ALICE, before + 1, timeout=60)
        self.assertEqual(len(stored), before + 1)
        check_encrypted(self, self.keys, stored[-1], MESSAGE, readers=["alice"])


class PipeToDovecotLda(DovecotChecks, unittest.TestCase):
    """Postfix pipe(8) -> mdcrypt-filter --exec dovecot-lda, config as shipped in conf/."""

    def assert_the_keyring_was_named(self):
        # pipe(8) puts the filter's stderr (failures only) into the deferral reason.
        self.assertRegex(self.pf.maillog(), r"status=deferred.*pubring\.kbx.*cut off")

    @classmethod
    def setUpClass(cls):
        cls.tmp = mta.TempDir()
        try:
            cls.keys = keys_for_mail_user(cls.tmp)  # the pipe runs the filter as MAIL_USER
            user = pwd.getpwnam(MAIL_USER)
            cls.keybox = cls.keys.home / "pubring.kbx"
            cls.deferral_reason = "cut off"  # the filter's stderr, in pipe(8)'s deferral reason
            cls.dovecot = dovecot.DovecotInstance(cls.tmp.path, [ALICE], mail_user=MAIL_USER).start()
            main, master = read_snippets("postfix-dovecot-lda.cf", "postfix-dovecot-lda-master.cf")
            where = "postfix-dovecot-lda-master.cf"
            master = replace_once(master, "user=vmail:vmail", f"user={MAIL_USER}:{grp.getgrgid(user.pw_gid).gr_name}", where)
            master = replace_once(master, "/usr/bin/mdcrypt-filter ", f"{mta.binary('mdcrypt-filter')} ", where)
            master = replace_once(master, "--config /etc/mdcrypt-milter/mdcrypt-milter.toml ",
                                  f"--config {cls.keys.config} ", where)
            master = replace_once(master, "/usr/lib/dovecot/dovecot-lda ", " ".join(cls.dovecot.lda_argv()) + " ", where)
            cls.pf = mta.PostfixInstance(cls.tmp, addresses=["alice"], milter=None, main_cf=main,
                                         master_cf=master.split("\n")).start()
        except BaseException:
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.pf.stop()
            cls.dovecot.stop()
        finally:
            cls.tmp.cleanup()


class DeliverySideMilterToDovecotLmtp(DovecotChecks, MilterFixture, unittest.TestCase):
    """The delivery-side milter (conf/postfix-delivery-side*.cf) with Dovecot LMTP as final delivery."""

    def assert_the_keyring_was_named(self):
        self.milter.wait_for_log(r"pubring\.kbx.*cut off")

    @classmethod
    def start_fixture(cls):
        cls.milter = cls.keys = MilterDaemon(cls.tmp).start()
        cls.keybox = cls.keys.home / "pubring.kbx"
        cls.deferral_reason = r"said: 451 4\.\d\.\d"  # the loopback smtpd's reply, from the milter
        os.chmod(cls.tmp.path, 0o711)  # Dovecot's lmtp and imap run as the mail user
        loopback_port = mta.free_port()
        main, master = delivery_side_config(cls.milter.socket_path, loopback_port)
        # The Dovecot variant the shipped master.cf names in its comment, socket path and all.
        text = replace_once("\n".join(master), "-o content_filter=virtual:",
                            "-o content_filter=lmtp:unix:private/dovecot-lmtp", "postfix-delivery-side-master.cf")
        # The lmtp(8) client service of a stock master.cf, which the harness's minimal one lacks.
        lmtp_service = "lmtp unix - - n - - lmtp"
        cls.pf = mta.PostfixInstance(cls.tmp, addresses=["alice"], milter=None, main_cf=main,
                                     master_cf=text.split("\n") + [lmtp_service])
        # Dovecot's LMTP socket inside Postfix's queue directory, as a Debian setup puts it.
        cls.dovecot = dovecot.DovecotInstance(cls.tmp.path, [ALICE], mail_user=MAIL_USER, extra_config=f"""\
service lmtp {{
  unix_listener {cls.pf.queue_dir}/private/dovecot-lmtp {{
    mode = 0600
    user = postfix
    group = postfix
  }}
}}
""").start()
        cls.pf.start()
        mta.wait_port_listening(loopback_port)
        return [cls.pf, cls.dovecot]


@unittest.skipUnless(dovecot.sieve_available(), "dovecot-sieve (Pigeonhole extprograms) is not installed")
class SieveFilterFailsOpen(unittest.TestCase):
    """Why README does not offer the Sieve placement: Dovecot LMTP with a Pigeonhole `filter` running
    mdcrypt-filter. It encrypts while all is well, but when the filter fails (exit 75) Dovecot keeps
    the original and LMTP answers 250: the plaintext is stored. This test documents that fact, and
    that a success no longer puts an Error line into Dovecot's log (the filter logs to syslog)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = mta.TempDir()
        try:
            cls.keys = keys_for_mail_user(cls.tmp)
            cls.keybox = cls.keys.home / "pubring.kbx"
            bin_dir = cls.tmp.subdir("sieve-bin", 0o755)
            os.symlink(mta.binary("mdcrypt-filter"), bin_dir / "mdcrypt-filter")
            script_dir = cls.tmp.subdir("sieve", 0o755)
            os.chown(script_dir, pwd.getpwnam(MAIL_USER).pw_uid, -1)  # Dovecot saves the compiled script here
            script = script_dir / "mdcrypt.sieve"
            script.write_text('require ["vnd.dovecot.filter"];\n'
                              f'filter "mdcrypt-filter" ["--config", "{cls.keys.config}", "--recipient", "{ALICE}"];\n')
            cls.dovecot = dovecot.DovecotInstance(cls.tmp.path, [ALICE], mail_user=MAIL_USER, extra_config=f"""\
protocol lmtp {{
  mail_plugins = $mail_plugins sieve
}}
plugin {{
  sieve_plugins = sieve_extprograms
  sieve_global_extensions = +vnd.dovecot.filter
  sieve_filter_bin_dir = {bin_dir}
  sieve_before = {script}
}}
""").start()
        except BaseException:
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.dovecot.stop()
        finally:
            cls.tmp.cleanup()

    def deliver_over_lmtp(self) -> bytes:
        before = len(self.dovecot.fetch_all(ALICE))
        with smtplib.LMTP(mta.LOOPBACK, self.dovecot.lmtp_port) as lmtp:
            refused = lmtp.sendmail(SENDER, [ALICE], crlf(MESSAGE))
        self.assertEqual(refused, {})  # LMTP said 250
        return self.dovecot.wait_for_messages(ALICE, before + 1)[-1]

    def test_while_all_is_well_it_encrypts_and_logs_no_error(self):
        log_before = self.dovecot.log_path.stat().st_size  # LMTP logs to the main log
        stored = self.deliver_over_lmtp()
        check_encrypted(self, self.keys, stored, MESSAGE, readers=["alice"])
        with open(self.dovecot.log_path, "rb") as f:
            f.seek(log_before)
            log = f.read().decode(errors="replace")
        self.assertRegex(log, r"lmtp\(alice@example\.test\).*sieve: .*stored mail into mailbox 'INBOX'")
        self.assertNotIn("Error:", log)

    def test_a_failing_filter_makes_dovecot_store_the_plaintext(self):
        good = cut_off_keybox(self.keybox)
        try:
            stored = self.deliver_over_lmtp()
        finally:
            write_keybox(self.keybox, good)
        self.assertIn("caf\xc3\xa9".encode("latin-1"), stored)  # the plaintext body, in the mailbox
        self.assertNotIn(b"multipart/encrypted", stored)
        self.assertRegex(self.dovecot.log(), r"Error: .*mdcrypt-filter.*verdict=defer exit=75")


if __name__ == "__main__":
    if not dovecot.available():
        print("dovecot-core, dovecot-imapd and dovecot-lmtpd are not installed: scripts/install-deps", file=sys.stderr)
        sys.exit(1)
    sys.exit(run_tests(sys.modules[__name__]))
