#!/usr/bin/python3
"""mdcrypt-milter in front of a real Postfix 3.7 (smtpd_milters and non_smtpd_milters,
milter_protocol = 6, milter_default_action = tempfail, virtual Maildir delivery).

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_milter_postfix.py`.  Prints the unittest
summary and a final `N passed, N failed` line.
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402
from test_milter_common import (MESSAGE, run_tests, SENDER, MilterDaemon, MilterFixture, check_encrypted,  # noqa: E402
                                check_split_at_rcpt_time, check_unchanged, values)

MILTER_MAIN_CF = {"milter_protocol": "6", "milter_default_action": "tempfail"}


class PostfixWithMilter(MilterFixture, unittest.TestCase):
    """One milter and one Postfix for the tests of this class."""

    @classmethod
    def start_fixture(cls):
        cls.milter = MilterDaemon(cls.tmp).start()
        cls.pf = mta.PostfixInstance(cls.tmp, addresses=["alice", "dave", "carol"], milter=cls.milter.socket_path,
                                     main_cf=MILTER_MAIN_CF).start()
        return [cls.pf]

    def deliver(self, rcpts, message=MESSAGE, client="swaks", count_before=None):
        res = self.pf.send(SENDER, rcpts, message, client=client)
        self.assertTrue(res.accepted, f"{res.transcript}\n--- milter ---\n{self.milter.log()[-3000:]}")
        return res

    def newest(self, address, before):
        return self.pf.wait_for_maildir(address, before + 1)[-1]

    def test_smtp_message_arrives_as_pgp_mime_and_decrypts_to_the_original(self):
        before = len(self.pf.maildir_messages("alice@example.test"))
        res = self.deliver(["alice@example.test"])
        stored = self.newest("alice@example.test", before)
        got = check_encrypted(self, self.milter, stored, MESSAGE, readers=["alice"], others=["dave"])
        # Postfix's own fields: its Received names the queue id, Return-Path the envelope sender.
        received = values(got["fields"], "Received")
        self.assertEqual(len(received), 2)
        self.assertIn(f"with ESMTP id {res.queue_id}".encode(), received[0])
        self.assertEqual(values(got["fields"], "Return-Path"), [b" <bob@sender.test>"])
        # One log line for the message, keyed by Postfix's queue id.
        self.milter.wait_for_log(rf"{res.queue_id}: verdict=encrypt recipients=1 keys="
                                 rf"{self.milter.fingerprints['alice']} size_in=\d+ size_out=\d+ ms=\d+")

    def test_header_values_as_postfix_stores_them(self):
        """What the milter sends back (HDR_LEADSPC: leading space included, LF folding) is stored as
        one "Name: value" with tab-indented continuation lines: no doubled space, no stray CR."""
        before = len(self.pf.maildir_messages("alice@example.test"))
        self.deliver(["alice@example.test"])
        stored = self.newest("alice@example.test", before)
        header = mta.split_message(stored)[0]
        self.assertNotIn(b"\r", header)
        self.assertRegex(header, rb"\nContent-Type: multipart/encrypted;\n\tprotocol=\"application/pgp-encrypted\";"
                                 rb"\n\tboundary=\"[^\"\n]+\"(\n|$)")
        self.assertIn(b"\nMIME-Version: 1.0\n", header)
        self.assertNotIn(b":  ", header)

    def test_local_submission_through_non_smtpd_milters(self):
        before = len(self.pf.maildir_messages("alice@example.test"))
        self.pf.submit_local(SENDER, ["alice@example.test"], MESSAGE)
        stored = self.newest("alice@example.test", before)
        check_encrypted(self, self.milter, stored, MESSAGE, readers=["alice"])
        self.assertRegex(self.pf.maillog(), r"postfix/pickup\[\d+\]: \w+: uid=0 from=<bob@sender.test>")

    def test_local_submission_to_mixed_recipients_waits_unsplit_and_is_never_delivered_wrong(self):
        # non_smtpd_milters must not refuse a simulated RCPT and Postfix sends them no {rcpt_mailer}:
        # the milter accepts both recipients, then tempfails the whole message, which stays in maildrop.
        before = {a: len(self.pf.maildir_messages(a)) for a in ("alice@example.test", "carol@example.test")}
        maildrop = self.pf.queue_dir / "maildrop"
        waiting_before = set(os.listdir(maildrop))
        self.pf.submit_local(SENDER, ["alice@example.test", "carol@example.test"], MESSAGE)
        deadline = time.monotonic() + 30
        while "cannot be split at RCPT time" not in self.milter.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertIn("cannot be split at RCPT time", self.milter.log())
        # The positive event: Postfix logged the 4xx; pickup leaves the file in maildrop for its next try.
        self.pf.wait_for_log(r"milter-reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 4\.7\.0 ")
        waiting = set(os.listdir(maildrop)) - waiting_before
        self.assertEqual(len(waiting), 1, "the message is kept for pickup's next retry")
        for address, count in before.items():
            self.assertEqual(len(self.pf.maildir_messages(address)), count, address)
        # The administrator's way out when the recipients' classes will not agree.
        (queue_id,) = waiting
        subprocess.run([f"{mta.POSTFIX_SBIN}/postsuper", "-c", str(self.pf.conf_dir), "-d", queue_id, "maildrop"],
                       check=True, capture_output=True, timeout=30)
        self.assertNotIn(queue_id, os.listdir(maildrop))

    def test_local_submission_to_a_required_recipient_without_key_is_bounced_with_the_reason(self):
        # Not refused at RCPT (non_smtpd_milters must not be): rejected at end of message, which
        # Postfix turns into a bounce to the sender naming the recipient and the reason.
        self.pf.submit_local(SENDER, ["boss@secure.test"], MESSAGE)
        self.pf.wait_for_log(r"milter-reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 5\.7\.1 "
                             r"boss@secure\.test: encryption is required but no usable OpenPGP key is known")
        self.pf.wait_for_log(r"to=<boss@secure\.test>, .*dsn=5\.7\.1, status=bounced \(boss@secure\.test: encryption "
                             r"is required")
        self.assertNotRegex(self.pf.maillog(), r"to=<boss@secure\.test>, .*status=sent")

    def test_two_keyed_recipients_share_one_copy_both_can_read(self):
        before_a = len(self.pf.maildir_messages("alice@example.test"))
        before_d = len(self.pf.maildir_messages("dave@example.test"))
        self.deliver(["alice@example.test", "dave@example.test"])
        for address, before in (("alice@example.test", before_a), ("dave@example.test", before_d)):
            check_encrypted(self, self.milter, self.newest(address, before), MESSAGE, readers=["alice", "dave"])

    def test_recipient_without_key_gets_the_message_unchanged(self):
        before = len(self.pf.maildir_messages("carol@example.test"))
        self.deliver(["carol@example.test"], client="smtplib")
        check_unchanged(self, self.newest("carol@example.test", before), MESSAGE)

    def test_keyed_and_keyless_recipients_are_split_at_rcpt_time(self):
        check_split_at_rcpt_time(self, self.pf, self.milter)

    def test_large_message_with_attachment_is_spooled_and_decrypts(self):
        attachment = os.urandom(1_500_000)
        import base64
        b64 = base64.encodebytes(attachment)
        message = (b"From: Bob Sender <bob@sender.test>\nTo: Alice Example <alice@example.test>\n"
                   b"Date: Fri, 27 Nov 2026 12:00:00 +0000\nMessage-ID: <e2e-big@sender.test>\n"
                   b"Subject: big\nMIME-Version: 1.0\n"
                   b"Content-Type: multipart/mixed; boundary=\"XYZ\"\n\n"
                   b"--XYZ\nContent-Type: text/plain\n\nsee attachment\n"
                   b"--XYZ\nContent-Type: application/octet-stream; name=\"r.bin\"\n"
                   b"Content-Transfer-Encoding: base64\n\n" + b64 + b"--XYZ--\n")
        before = len(self.pf.maildir_messages("alice@example.test"))
        self.deliver(["alice@example.test"], message=message, client="smtplib")
        stored = self.pf.wait_for_maildir("alice@example.test", before + 1, timeout=60)[-1]
        check_encrypted(self, self.milter, stored, message, readers=["alice"])


class PostfixMilterDown(unittest.TestCase):
    def test_milter_stopped_means_tempfail_and_nothing_delivered_in_plaintext(self):
        with mta.TempDir() as tmp:
            milter = MilterDaemon(tmp).start()
            with mta.PostfixInstance(tmp, addresses=["alice"], milter=milter.socket_path, main_cf=MILTER_MAIN_CF) as pf:
                self.assertEqual(milter.stop(), 0, milter.log()[-3000:])
                self.assertFalse(os.path.exists(milter.socket_path))
                for client in ("swaks", "smtplib"):
                    res = pf.send(SENDER, ["alice@example.test"], MESSAGE, client=client)
                    self.assertFalse(res.accepted, res.transcript)
                    self.assertRegex(str(res.final_code), r"^4", res.transcript)
                pf.submit_local(SENDER, ["alice@example.test"], MESSAGE)
                # Cleanup refused it (logged): it stays in the queue, so absence from the Maildir is final.
                pf.wait_for_log(r"cleanup\[\d+\]: warning: connect to Milter service unix:.*mdcrypt.sock")
                self.assertGreaterEqual(pf.queue_count(), 1)
                self.assertEqual(pf.maildir_messages("alice@example.test"), [])
                # Back up: the held local submission is delivered, encrypted.
                milter.start()
                pf.flush()
                [stored] = pf.wait_for_maildir("alice@example.test", 1, timeout=60)
                check_encrypted(self, milter, stored, MESSAGE, readers=["alice"])
            self.assertEqual(milter.stop(), 0)


if __name__ == "__main__":
    sys.exit(run_tests(sys.modules[__name__]))
