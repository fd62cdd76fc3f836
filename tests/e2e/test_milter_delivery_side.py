#!/usr/bin/python3
"""mdcrypt-milter in the delivery-side Postfix placement (conf/postfix-delivery-side.cf and
conf/postfix-delivery-side-master.cf, read from the repository and used as shipped, with only the
loopback port and the milter socket replaced): local mailbox deliveries go one recipient at a time
through a loopback smtpd that runs the milter, then to virtual(8).  The public smtpd has no milter.

What a user cares about: one message to a keyed, a keyless and a remote recipient is delivered to all
three at once, each in the right form, with no deferral; local sendmail(1) submissions are encrypted
too; a milter that is down keeps mail queued, never delivered in plaintext; no mail loop.

The retry timers are Postfix's defaults (300 s) so that a deferral cannot hide behind a quick retry:
anything not delivered at once would time out the test.

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_milter_delivery_side.py`.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402
from test_milter_common import (MESSAGE, SENDER, MilterDaemon, MilterFixture, body_of, check_encrypted,  # noqa: E402
                                check_unchanged, crlf, run_tests)

CONF = mta.REPO_ROOT / "conf"
EXAMPLE_PORT = "10026"
EXAMPLE_SOCKET = "unix:mdcrypt-milter/mdcrypt-milter.sock"
REMOTE = "someone@remote.test"
ALICE, CAROL = "alice@example.test", "carol@example.test"
TEAM = "team@example.test"  # a virtual alias for alice and carol
ORIG_TO = r"(?:orig_to=<[^>]*>, )?"  # in delivery log lines of a recipient reached through an alias
# Postfix's defaults: a deferred recipient would wait minutes, far beyond any wait in these tests.
MESSAGE_SIZE_LIMIT = 10240000  # Postfix's default
DEFAULT_TIMERS = {"queue_run_delay": "300s", "minimal_backoff_time": "300s", "maximal_backoff_time": "4000s"}


def delivery_side_config(milter_socket, loopback_port: int) -> tuple[dict[str, str], list[str]]:
    """The shipped main.cf and master.cf snippets, with the loopback port and milter socket replaced."""
    main: dict[str, str] = {}
    for line in (CONF / "postfix-delivery-side.cf").read_text().splitlines():
        if line.strip() and not line.startswith(("#", " ", "\t")):
            name, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"postfix-delivery-side.cf: not a parameter line: {line!r}")
            main[name.strip()] = value.strip()
    if f":{EXAMPLE_PORT}" not in main.get("virtual_transport", ""):
        raise ValueError("postfix-delivery-side.cf: virtual_transport does not name the loopback port")
    main["virtual_transport"] = main["virtual_transport"].replace(f":{EXAMPLE_PORT}", f":{loopback_port}")

    master = [line for line in (CONF / "postfix-delivery-side-master.cf").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    text = "\n".join(master)
    for old in (f"127.0.0.1:{EXAMPLE_PORT} ", f"smtpd_milters={EXAMPLE_SOCKET}"):
        if text.count(old) != 1:
            raise ValueError(f"postfix-delivery-side-master.cf: expected {old!r} once")
    text = text.replace(f"127.0.0.1:{EXAMPLE_PORT} ", f"127.0.0.1:{loopback_port} ")
    text = text.replace(f"smtpd_milters={EXAMPLE_SOCKET}", f"smtpd_milters=unix:{milter_socket}")
    return main, text.split("\n")


def start_delivery_side(tmp: mta.TempDir, milter: MilterDaemon, sink: mta.SmtpSink) -> tuple[mta.PostfixInstance, int]:
    loopback_port = mta.free_port()
    main, master = delivery_side_config(milter.socket_path, loopback_port)
    # The example's loopback limits are twice Postfix's default message_size_limit (the harness's own
    # default is larger).
    main["message_size_limit"] = str(MESSAGE_SIZE_LIMIT)
    main["virtual_alias_maps"] = "texthash:${config_directory}/virtual_alias"
    pf = mta.PostfixInstance(tmp, addresses=["alice", "dave", "carol"], milter=None,
                             relay_to=(mta.LOOPBACK, sink.port), main_cf=main, master_cf=master,
                             **DEFAULT_TIMERS)
    pf.write_conf_file("virtual_alias", f"{TEAM} {ALICE}, {CAROL}\n")
    pf.start()
    mta.wait_port_listening(loopback_port)
    return pf, loopback_port


class DeliverySide(MilterFixture, unittest.TestCase):
    """One milter, one remote sink and one Postfix in the delivery-side placement."""

    @classmethod
    def start_fixture(cls):
        cls.milter = MilterDaemon(cls.tmp).start()
        cls.sink = mta.SmtpSink()
        cls.pf, cls.loopback_port = start_delivery_side(cls.tmp, cls.milter, cls.sink)
        return [cls.pf, cls.sink]

    def counts(self) -> dict[str, int]:
        return {ALICE: len(self.pf.maildir_messages(ALICE)), CAROL: len(self.pf.maildir_messages(CAROL)),
                REMOTE: len(self.sink.messages())}

    def wait_all(self, before: dict[str, int], want: dict[str, int], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            now = self.counts()
            if all(now[a] >= before[a] + n for a, n in want.items()):
                return
            bounced = re.search(r"^.*status=bounced.*$", self.pf.maillog(), re.M)
            if bounced or time.monotonic() > deadline:
                self.fail(f"{'bounced' if bounced else 'not delivered at once'}: had {before}, have {now}, wanted +{want}\n--- maillog ---\n"
                          + "\n".join(self.pf.maillog().splitlines()[-40:]) + f"\n--- milter ---\n{self.milter.log()[-2000:]}")
            time.sleep(0.02)

    def loopback_hops(self, queue_id: str) -> dict[str, str]:
        """recipient -> queue id of the copy the loopback smtpd accepted, from the mdcrypt-split
        delivery lines of `queue_id` (fails when a recipient took the hop more than once)."""
        rx = re.compile(rf"postfix/mdcrypt-split/smtp\[\d+\]: {queue_id}: to=<([^>]+)>, {ORIG_TO}"
                        rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{self.loopback_port},.*status=sent "
                        rf"\(250 2\.0\.0 Ok: queued as (\w+)\)")
        hops: dict[str, str] = {}
        for rcpt, second in rx.findall(self.pf.maillog()):
            self.assertNotIn(rcpt, hops, f"{rcpt} went through the loopback hop twice")
            hops[rcpt] = second
        return hops

    def assert_one_hop_then_final_delivery(self, queue_id: str, local_rcpts: list[str]) -> dict[str, str]:
        """Each local recipient crossed the loopback hop exactly once, in a transaction of its own, and
        its copy went to virtual(8), not back into mdcrypt-split (no loop)."""
        for rcpt in local_rcpts:
            self.pf.wait_for_log(rf"{queue_id}: to=<{re.escape(rcpt)}>, {ORIG_TO}relay=127\.0\.0\.1.*status=sent")
        hops = self.loopback_hops(queue_id)
        self.assertEqual(sorted(hops), sorted(local_rcpts), self.pf.maillog())
        self.assertEqual(len(set(hops.values())), len(local_rcpts), "recipients shared a loopback transaction")
        for rcpt, second in hops.items():
            self.pf.wait_for_log(rf"postfix/virtual\[\d+\]: {second}: to=<{re.escape(rcpt)}>, relay=virtual,.*"
                                 rf"status=sent \(delivered to maildir\)")
            log = self.pf.maillog()
            self.assertRegex(log, rf"postfix/mdcrypt-loopback/smtpd\[\d+\]: {second}: client=")
            self.assertEqual(len(re.findall(rf"{second}: to=<", log)), 1, f"{second} delivered more than once:\n{log}")
            self.assertNotRegex(log, rf"mdcrypt-split/smtp\[\d+\]: {second}:", f"{second} looped back into mdcrypt-split")
            self.assertNotRegex(log, rf"{second}: .*status=deferred")
        self.assertNotRegex(self.pf.maillog(), rf"{queue_id}: .*status=deferred")
        return hops

    def test_keyed_keyless_and_remote_recipient_in_one_transaction_all_delivered_at_once(self):
        before = self.counts()
        t0 = time.monotonic()
        res = self.pf.send(SENDER, [ALICE, CAROL, REMOTE], MESSAGE, client="swaks")
        self.assertEqual(res.rcpt_codes, {ALICE: 250, CAROL: 250, REMOTE: 250}, res.transcript)
        self.assertTrue(res.accepted, res.transcript)
        self.wait_all(before, {ALICE: 1, CAROL: 1, REMOTE: 1})  # no postqueue -f anywhere in this test
        elapsed = time.monotonic() - t0
        print(f"\ndelivery-side: submission to all three copies present: {elapsed:.3f} s", file=sys.stderr)

        check_encrypted(self, self.milter, self.pf.maildir_messages(ALICE)[-1], MESSAGE, readers=["alice"],
                        others=["dave"])
        check_unchanged(self, self.pf.maildir_messages(CAROL)[-1], MESSAGE, "carol's copy")
        remote = self.sink.messages()[-1]
        self.assertEqual((remote.mail_from, remote.rcpts), (SENDER, [REMOTE]))
        check_unchanged(self, remote.data, MESSAGE, "remote copy")
        self.assertNotIn(b"mdcrypt-loopback", remote.data)  # the remote copy never took the loopback hop

        hops = self.assert_one_hop_then_final_delivery(res.queue_id, [ALICE, CAROL])
        # One log line per loopback transaction, each with one recipient: alice's encrypted to her key.
        self.milter.wait_for_log(rf"{hops[ALICE]}: verdict=encrypt recipients=1 keys="
                                 rf"{self.milter.fingerprints['alice']} ")
        # XFORWARD: the loopback smtpd logs each copy with the queue id and client it came from.
        for second in hops.values():
            self.assertRegex(self.pf.maillog(), rf"postfix/mdcrypt-loopback/smtpd\[\d+\]: {second}: client=\S+, "
                                                rf"orig_queue_id={res.queue_id}, orig_client=unknown\[127\.0\.0\.1\]")

    def test_an_alias_is_expanded_before_the_milter_so_each_member_gets_its_own_form(self):
        # At the edge the milter would see team@ (no key); here it sees the mailboxes behind it.
        before = self.counts()
        res = self.pf.send(SENDER, [TEAM], MESSAGE, client="swaks")
        self.assertEqual(res.rcpt_codes, {TEAM: 250}, res.transcript)
        self.assertTrue(res.accepted, res.transcript)
        self.wait_all(before, {ALICE: 1, CAROL: 1})
        check_encrypted(self, self.milter, self.pf.maildir_messages(ALICE)[-1], MESSAGE, readers=["alice"],
                        others=["dave"])
        check_unchanged(self, self.pf.maildir_messages(CAROL)[-1], MESSAGE, "carol's copy")
        self.assert_one_hop_then_final_delivery(res.queue_id, [ALICE, CAROL])

    def test_local_submission_with_sendmail_is_encrypted_for_the_keyed_recipient(self):
        before = self.counts()
        self.pf.submit_local(SENDER, [ALICE, CAROL], MESSAGE)
        self.wait_all(before, {ALICE: 1, CAROL: 1})
        check_encrypted(self, self.milter, self.pf.maildir_messages(ALICE)[-1], MESSAGE, readers=["alice"],
                        others=["dave"])
        check_unchanged(self, self.pf.maildir_messages(CAROL)[-1], MESSAGE, "carol's copy")
        m = self.pf.wait_for_log(rf"postfix/pickup\[\d+\]: (\w+): uid=0 from=<{re.escape(SENDER)}>")
        self.assert_one_hop_then_final_delivery(m.group(1), [ALICE, CAROL])

    def test_message_near_the_size_limit_is_delivered_encrypted_not_bounced(self):
        """Accepted at the edge within 3 % of message_size_limit: the loopback hop adds a Received field
        and the encryption adds ASCII armor, yet the copy is delivered, not bounced back to the sender."""
        import base64
        payload = base64.encodebytes(os.urandom(int(MESSAGE_SIZE_LIMIT * 0.97 * 3 / 4) - 2000))
        message = (b"From: Bob Sender <bob@sender.test>\nTo: Alice Example <alice@example.test>\n"
                   b"Date: Fri, 27 Nov 2026 12:00:00 +0000\nMessage-ID: <e2e-limit@sender.test>\n"
                   b"Subject: near the limit\nMIME-Version: 1.0\n"
                   b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + payload)
        before = self.counts()
        res = self.pf.send(SENDER, [ALICE, CAROL], message, client="smtplib")
        self.assertTrue(res.accepted, res.transcript)
        self.wait_all(before, {ALICE: 1, CAROL: 1}, timeout=120)
        size = int(self.pf.wait_for_log(rf"qmgr\[\d+\]: {res.queue_id}: from=<[^>]*>, size=(\d+)").group(1))
        self.assertGreater(size, MESSAGE_SIZE_LIMIT * 0.97)
        stored = self.pf.maildir_messages(ALICE)[-1]
        self.assertGreater(len(stored), MESSAGE_SIZE_LIMIT)  # bigger than the edge would have taken
        check_encrypted(self, self.milter, stored, message, readers=["alice"])
        self.assertEqual(body_of(self.pf.maildir_messages(CAROL)[-1]), crlf(payload))
        self.assert_one_hop_then_final_delivery(res.queue_id, [ALICE, CAROL])
        self.assertNotRegex(self.pf.maillog(), rf"status=bounced")


class DeliverySideMilterDown(unittest.TestCase):
    def test_milter_stopped_means_queued_not_plaintext_then_encrypted_after_flush(self):
        with mta.TempDir() as tmp:
            milter = MilterDaemon(tmp).start()
            with mta.SmtpSink() as sink:
                pf, loopback_port = start_delivery_side(tmp, milter, sink)
                try:
                    self.assertEqual(milter.stop(), 0)
                    self.assertFalse(os.path.exists(milter.socket_path))
                    # The public smtpd has no milter: the sender's MTA is done, the mail waits in ours.
                    res = pf.send(SENDER, [ALICE], MESSAGE, client="swaks")
                    self.assertTrue(res.accepted, res.transcript)
                    pf.submit_local(SENDER, [ALICE], MESSAGE)
                    for qid in (res.queue_id,
                                pf.wait_for_log(rf"postfix/pickup\[\d+\]: (\w+): uid=0 from=").group(1)):
                        pf.wait_for_log(rf"mdcrypt-split/smtp\[\d+\]: {qid}: to=<{re.escape(ALICE)}>, "
                                        rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{loopback_port},.*status=deferred "
                                        rf"\(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 451 4\.7\.1 ")
                    self.assertEqual(pf.maildir_messages(ALICE), [])
                    self.assertEqual(pf.queue_files()["deferred"], 2, pf.queue_files())
                    self.assertEqual(sink.messages(), [])
                    # Back up: both are delivered, encrypted, on the next queue run.
                    milter.start()
                    pf.flush()
                    stored = pf.wait_for_maildir(ALICE, 2, timeout=60)
                    self.assertEqual(len(stored), 2)
                    for msg in stored:
                        check_encrypted(self, milter, msg, MESSAGE, readers=["alice"], others=["dave"])
                finally:
                    pf.stop()
            self.assertEqual(milter.stop(), 0)


if __name__ == "__main__":
    sys.exit(run_tests(sys.modules[__name__]))
