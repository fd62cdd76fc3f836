#!/usr/bin/python3
"""mdcrypt-milter behind a real Sendmail 8.17 (INPUT_MAIL_FILTER with F=T), delivering into
Maildir-like folders; the same checks as with Postfix.

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_milter_sendmail.py`.  Prints the unittest
summary and a final `N passed, N failed` line.
"""
import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402
from test_milter_common import (MESSAGE, run_tests, SENDER, MilterDaemon, MilterFixture, check_encrypted,  # noqa: E402
                                check_split_at_rcpt_time, crlf, fields)


class SendmailWithMilter(MilterFixture, unittest.TestCase):
    """One milter and one Sendmail for the tests of this class."""

    @classmethod
    def start_fixture(cls):
        cls.milter = MilterDaemon(cls.tmp).start()
        cls.sm = mta.SendmailInstance(cls.tmp, addresses=["alice", "dave", "carol"],
                                      milter=cls.milter.socket_path).start()
        return [cls.sm]

    def deliver(self, rcpts, message=MESSAGE, client="swaks"):
        res = self.sm.send(SENDER, rcpts, message, client=client)
        self.assertTrue(res.accepted, f"{res.transcript}\n--- milter ---\n{self.milter.log()[-3000:]}")
        return res

    def newest(self, address, before, timeout=15.0):
        return self.sm.wait_for_maildir(address, before + 1, timeout=timeout)[-1]

    def test_smtp_message_arrives_as_pgp_mime_and_decrypts_to_the_original(self):
        before = len(self.sm.maildir_messages("alice@example.test"))
        res = self.deliver(["alice@example.test"])
        stored = self.newest("alice@example.test", before)
        check_encrypted(self, self.milter, stored, MESSAGE, readers=["alice"], others=["dave"])
        # Sendmail sends the queue id (macro i): the milter's log line is keyed by it.
        self.assertIsNotNone(res.queue_id, res.transcript)
        self.milter.wait_for_log(rf"{res.queue_id}: verdict=encrypt recipients=1 keys="
                                 rf"{self.milter.fingerprints['alice']}")

    def test_header_values_as_sendmail_stores_them(self):
        """Sendmail stores what the milter sends back (HDR_LEADSPC, LF folding) as one "Name: value"
        with tab-indented continuation lines: no doubled space, no stray CR."""
        before = len(self.sm.maildir_messages("alice@example.test"))
        self.deliver(["alice@example.test"])
        header = mta.split_message(self.newest("alice@example.test", before))[0]
        self.assertNotIn(b"\r", header)
        self.assertRegex(header, rb"\nContent-Type: multipart/encrypted;\n\tprotocol=\"application/pgp-encrypted\";"
                                 rb"\n\tboundary=\"[^\"\n]+\"(\n|$)")
        self.assertEqual(header.count(b"\nMIME-Version: 1.0\n") + header.endswith(b"\nMIME-Version: 1.0"), 1)
        self.assertNotIn(b":  ", header)

    def test_two_keyed_recipients_both_can_read(self):
        before_a = len(self.sm.maildir_messages("alice@example.test"))
        before_d = len(self.sm.maildir_messages("dave@example.test"))
        self.deliver(["alice@example.test", "dave@example.test"])
        for address, before in (("alice@example.test", before_a), ("dave@example.test", before_d)):
            check_encrypted(self, self.milter, self.newest(address, before), MESSAGE, readers=["alice", "dave"])

    def test_recipient_without_key_gets_the_message_unchanged(self):
        before = len(self.sm.maildir_messages("carol@example.test"))
        self.deliver(["carol@example.test"], client="smtplib")
        stored = self.newest("carol@example.test", before)
        self.assertEqual(crlf(mta.split_message(stored)[1]), crlf(mta.split_message(MESSAGE)[1]))
        got = fields(mta.split_message(stored)[0])
        for name, value in fields(mta.split_message(MESSAGE)[0]):
            self.assertIn((name, value), got)

    def test_keyed_and_keyless_recipients_are_split_at_rcpt_time(self):
        check_split_at_rcpt_time(self, self.sm, self.milter)

    def test_large_message_with_attachment(self):
        b64 = base64.encodebytes(os.urandom(1_000_000))
        message = (b"From: Bob Sender <bob@sender.test>\nTo: Alice Example <alice@example.test>\n"
                   b"Date: Fri, 27 Nov 2026 12:00:00 +0000\nMessage-ID: <e2e-big-sm@sender.test>\n"
                   b"Subject: big\nMIME-Version: 1.0\n"
                   b"Content-Type: multipart/mixed; boundary=\"XYZ\"\n\n"
                   b"--XYZ\nContent-Type: text/plain\n\nsee attachment\n"
                   b"--XYZ\nContent-Type: application/octet-stream; name=\"r.bin\"\n"
                   b"Content-Transfer-Encoding: base64\n\n" + b64 + b"--XYZ--\n")
        before = len(self.sm.maildir_messages("alice@example.test"))
        self.deliver(["alice@example.test"], message=message, client="smtplib")
        check_encrypted(self, self.milter, self.newest("alice@example.test", before, timeout=60), message,
                        readers=["alice"])


class SendmailMilterDown(unittest.TestCase):
    def test_milter_stopped_means_tempfail_and_nothing_delivered(self):
        with mta.TempDir() as tmp:
            milter = MilterDaemon(tmp).start()
            with mta.SendmailInstance(tmp, addresses=["alice"], milter=milter.socket_path) as sm:
                self.assertEqual(milter.stop(), 0)
                for client in ("swaks", "smtplib"):
                    res = sm.send(SENDER, ["alice@example.test"], MESSAGE, client=client)
                    self.assertFalse(res.accepted, res.transcript)
                    self.assertRegex(str(res.final_code), r"^4", res.transcript)
                # Refused before DATA was accepted: nothing was queued, so nothing can arrive later.
                self.assertEqual(sm.queue_count(), 0)
                self.assertEqual(sm.maildir_messages("alice@example.test"), [])
                # Back up: mail flows again, encrypted.
                milter.start()
                res = sm.send(SENDER, ["alice@example.test"], MESSAGE)
                self.assertTrue(res.accepted, res.transcript)
                [stored] = sm.wait_for_maildir("alice@example.test", 1)
                check_encrypted(self, milter, stored, MESSAGE, readers=["alice"])
            self.assertEqual(milter.stop(), 0)


if __name__ == "__main__":
    sys.exit(run_tests(sys.modules[__name__]))
