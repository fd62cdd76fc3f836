#!/usr/bin/python3
"""RCPT-time classing with real Postfix 3.7: each recipient is answered by the admission rules
(src/core/recipient_admission.hpp) because smtpd_milters get {rcpt_mailer}, and a sending Postfix
turns the 452 4.5.3 answers into separate transactions, so every recipient gets a copy it can read.

Two private instances and an SMTP sink:
  sender  (no milter)  --relay-->  pf (mdcrypt-milter, virtual Maildirs)  --remote-->  sink
The sender delivers sender.test locally (bob gets the bounces) and relays everything else to pf.

What a user cares about:
- one transaction with a keyed, a keyless, a remote and a `required`-but-keyless recipient gets the
  exact per-recipient replies, and only the recipients it accepted get a copy, in the right form;
- through the sending MTA, every recipient is eventually delivered: the keyed ones encrypted (one
  shared copy to both keys by default, a copy of their own under split = "per-recipient"), the keyless
  one in plaintext, each after one more retry round; `required` without a key bounces with 5.7.1 while
  the others are delivered;
- [milter] local_mailers: a keyed mailbox in a virtual mailbox domain that the policy file does not
  list (erin@hosted.test) gets plaintext until local_mailers = ["virtual"] names Postfix's transport for
  it; then its copy is encrypted to its key, and a recipient the mx relays (transport "smtp") is still
  passed untouched.

The sender's retry timers are long so that only this test's `postqueue -f` starts a retry round: the
rounds counted are the flushes, nothing waits for a timer (bench/split_delay.py measures what the
default timers cost).

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_milter_split.py`.
"""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402
from test_milter_common import (GPG, MESSAGE, SENDER, MilterDaemon, MilterFixture, check_encrypted, crlf, gpg,  # noqa: E402
                                run_tests)

ALICE, DAVE, CAROL = "alice@example.test", "dave@example.test", "carol@example.test"
REMOTE = "someone@remote.test"
BOSS = "boss@secure.test"      # secure.test is `required`; boss has no key
ERIN = "erin@hosted.test"      # a virtual mailbox of the mx with a key; hosted.test is not in the policy file
NAMES = {ALICE: "alice", DAVE: "dave", ERIN: "erin"}  # keyed recipients: address -> key name in the fixture

POLICY_TEMPLATE = """\
[default]
mode = "opportunistic"
header_protection = false

[domain."example.test"]
{example_extra}
[domain."secure.test"]
mode = "required"
{secure_extra}"""

# What the sender's smtp client must not do on its own: retry before the test flushes, or carry a
# cached connection (and with it the milter's configuration snapshot) from one test into the next.
SENDER_MAIN_CF = {"smtp_connection_cache_on_demand": "no"}
SENDER_TIMERS = {"queue_run_delay": "3600s", "minimal_backoff_time": "3600s", "maximal_backoff_time": "4000s"}

PLAIN_452 = "4.5.3 <{}>: needs a plain copy, unlike the recipients before it: send it in another transaction"
ENCRYPTED_452 = "4.5.3 <{}>: needs an encrypted copy, unlike the recipients before it: send it in another transaction"
OWN_COPY_452 = "4.5.3 <{}>: gets an encrypted copy of its own: send it in another transaction"
REQUIRED_550 = "5.7.1 <{}>: encryption is required but no usable OpenPGP key is known"
REQUIRED_450 = "4.7.1 <{}>: encryption is required but no usable OpenPGP key is known yet, try again later"

_serial = 0


def message(tag: str) -> bytes:
    """The fixture's message with a Message-ID of its own (to tell the tests' messages apart in logs)."""
    global _serial
    _serial += 1
    new = MESSAGE.replace(b"<e2e-1@sender.test>", f"<split-{tag}-{_serial}@sender.test>".encode())
    assert new != MESSAGE
    return new


def message_id(sent: bytes) -> bytes:
    return re.search(rb"(?m)^Message-ID: (<[^>]+>)", sent).group(1)


class Split(MilterFixture, unittest.TestCase):
    """One milter, the mx Postfix that runs it, a sender Postfix that relays to the mx, and a sink for
    the mx's remote mail. Tests named test_1_* talk SMTP to the mx directly; test_2_* and test_3_*
    go through the sender; test_4_* does both."""

    @classmethod
    def start_fixture(cls):
        cls.milter = MilterDaemon(cls.tmp)
        # erin's key goes into the server keyring like alice's and dave's (her secret key stays on the
        # recipients' side); then stop the agent the import started, as MilterDaemon does.
        gpg(cls.milter.home, "--import", stdin=cls.milter.make_key("erin", ERIN))
        subprocess.run(["/usr/bin/gpgconf", "--homedir", str(cls.milter.home), "--kill", "all"], capture_output=True,
                       check=False, timeout=60)
        cls.generation = 1
        cls.configure()
        cls.milter.start()
        cls.sink = mta.SmtpSink()
        cls.pf = mta.PostfixInstance(cls.tmp, name="mx", addresses=["alice", "dave", "carol", BOSS, ERIN],
                                     milter=cls.milter.socket_path, relay_to=(mta.LOOPBACK, cls.sink.port),
                                     main_cf={"milter_protocol": "6", "milter_default_action": "tempfail"}).start()
        cls.sender = mta.PostfixInstance(cls.tmp, name="sender", addresses=["bob@sender.test"],
                                         domain="sender.test", relay_to=(mta.LOOPBACK, cls.pf.port),
                                         main_cf=SENDER_MAIN_CF, **SENDER_TIMERS).start()
        cls.inspect_home = cls.tmp.subdir("gnupg-inspect")  # no keys: only lists packets
        return [cls.sender, cls.pf, cls.sink]

    # -- configuration --------------------------------------------------------------------------
    @classmethod
    def configure(cls, example_extra: str = "", secure_extra: str = "", milter_extra: str = "") -> None:
        """Writes the policy file the fixture's configuration names and the configuration itself
        (`milter_extra`: more [milter] settings); reloads (SIGHUP) a running milter and waits until the
        new generation is in force."""
        (cls.tmp / "domains.toml").write_text(POLICY_TEMPLATE.format(example_extra=example_extra,
                                                                      secure_extra=secure_extra))
        cls.milter.write_config(milter_extra)
        if cls.milter.process is not None:
            cls.generation += 1
            cls.milter.process.proc.send_signal(signal.SIGHUP)
            cls.milter.wait_for_log(rf"configuration reloaded from .* \(generation {cls.generation},")

    def setUp(self):
        # Each test states its configuration; the default split is per-class, no local_mailers.
        type(self).configure()

    # -- helpers ---------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        out = {a: len(self.pf.maildir_messages(a)) for a in (ALICE, DAVE, CAROL, BOSS, ERIN)}
        out[REMOTE] = sum(REMOTE in m.rcpts for m in self.sink.messages())
        return out

    def diagnostics(self) -> str:
        return ("\n--- sender maillog ---\n" + "\n".join(self.sender.maillog().splitlines()[-30:])
                + "\n--- mx maillog ---\n" + "\n".join(self.pf.maillog().splitlines()[-30:])
                + f"\n--- milter ---\n{self.milter.log()[-3000:]}")

    def assert_rcpt_replies(self, res: mta.SmtpResult, want: dict[str, tuple[int, str]]) -> None:
        got = {r.arg: (r.code, r.text) for r in res.replies if r.stage == "rcpt"}
        for addr, (code, text) in want.items():
            self.assertEqual(got.get(addr, (None, ""))[0], code, f"RCPT {addr}\n{res.transcript}\n{self.diagnostics()}")
            if text:
                self.assertEqual(got[addr][1], text, f"RCPT {addr}")
        self.assertEqual(set(got), set(want))

    def assert_new_copies(self, before: dict[str, int], want: dict[str, int]) -> None:
        """Since `before` (counts()), each recipient in `want` got exactly that many more copies and every
        other recipient none."""
        after = self.counts()
        self.assertEqual({a: after[a] - before[a] for a in after}, {a: want.get(a, 0) for a in after})

    def assert_done(self, server: mta.PostfixInstance, queue_id: str, before: dict[str, int],
                    want: dict[str, int]) -> None:
        """Waits until `server` (the mx or the sender) is done with `queue_id`, then assert_new_copies."""
        server.wait_for_log(rf"{queue_id}: removed")
        self.assert_new_copies(before, want)

    def check_own_copy(self, addr: str, before: dict[str, int], sent: bytes) -> None:
        """`addr`'s next copy is `sent` encrypted to its key alone: it decrypts, no other keyed recipient can
        decrypt it, and it names only that key."""
        name = NAMES[addr]
        stored = self.pf.wait_for_maildir(addr, before[addr] + 1)[-1]
        check_encrypted(self, self.milter, stored, sent, readers=[name], others=[n for n in NAMES.values() if n != name])
        self.assertEqual(self.pkesk_keyids(stored), {self.encryption_keyid(name)})

    def check_shared_copy(self, before: dict[str, int], sent: bytes) -> None:
        """alice's and dave's next copies are `sent` encrypted once to both their keys (and only those)."""
        both = {self.encryption_keyid("alice"), self.encryption_keyid("dave")}
        for addr in (ALICE, DAVE):
            stored = self.pf.wait_for_maildir(addr, before[addr] + 1)[-1]
            check_encrypted(self, self.milter, stored, sent, readers=["alice", "dave"])
            self.assertEqual(self.pkesk_keyids(stored), both)

    def check_plain_copy(self, addr: str, before: dict[str, int], sent: bytes) -> None:
        """`addr`'s next copy is `sent` unchanged: Postfix only put its own trace fields (Return-Path,
        X-Original-To, Delivered-To, Received) on top of the bytes that were sent."""
        stored = self.pf.wait_for_maildir(addr, before[addr] + 1)[-1]
        self.assertTrue(stored.endswith(sent), f"not the message as sent:\n{stored[:1500]!r}")
        added = stored[:len(stored) - len(sent)]
        for line in added.split(b"\n"):
            self.assertRegex(line, rb"^(Return-Path:|X-Original-To:|Delivered-To:|Received:|\s|$)", f"added {line!r}")

    def check_remote_copy(self, sent: bytes) -> None:
        """The sink got `sent` for REMOTE alone, as sent (the mx relays a plain copy untouched)."""
        [remote] = [m for m in self.sink.messages() if REMOTE in m.rcpts and message_id(sent) in m.data]
        self.assertEqual(remote.rcpts, [REMOTE])
        self.assertTrue(remote.data.endswith(crlf(sent)), remote.data[:1500])

    def pkesk_keyids(self, stored: bytes) -> set[str]:
        """Key IDs of the public-key encrypted session key packets (who can decrypt the copy)."""
        armor = stored[stored.index(b"-----BEGIN PGP MESSAGE-----"):]
        out = subprocess.run([GPG, "--homedir", str(self.inspect_home), "--batch", "--no-tty", "--list-only",
                              "--list-packets"], input=armor, capture_output=True, check=False, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return {m.decode() for m in re.findall(rb"(?m)^:pubkey enc packet: .*keyid ([0-9A-F]{16})$", out.stdout)}

    def encryption_keyid(self, name: str) -> str:
        listing = gpg(self.milter.secret_home, "--with-colons", "--list-keys", self.milter.fingerprints[name]).decode()
        [keyid] = [ln.split(":")[4] for ln in listing.splitlines() if ln.startswith("sub:") and "e" in ln.split(":")[11]]
        return keyid

    def sender_status(self, queue_id: str) -> list[tuple[str, str, str]]:
        """(recipient, status, rest of the line) for each delivery attempt of the sender's message."""
        return re.findall(rf"\b{queue_id}: to=<([^>]+)>,.* status=(\w+) (.*)$", self.sender.maillog(), re.M)

    def relay(self, rcpts: list[str], sent: bytes, *, rounds_at_most: int) -> tuple[str, list[dict[str, str]]]:
        """Submits `sent` to the sender instance for `rcpts` and flushes its queue after each attempt
        until no recipient is left deferred. Returns the sender's queue id and one dict per delivery
        attempt: recipient -> the mx's queue id for those delivered in it ("bounced" for bounces)."""
        res = self.sender.send(SENDER, rcpts, sent)
        self.assertTrue(res.accepted, res.transcript)
        qid = res.queue_id
        rounds: list[dict[str, str]] = []
        seen = 0
        pending = list(rcpts)
        while pending:
            self.assertLess(len(rounds), rounds_at_most, f"still deferred: {pending}{self.diagnostics()}")
            if rounds:
                self.sender.flush()
            # One attempt is over when every pending recipient has one more status line.
            deadline = time.monotonic() + 30
            while True:
                attempt = self.sender_status(qid)[seen:]
                if sorted(r for r, _, _ in attempt) == sorted(pending):
                    break
                self.assertLess(time.monotonic(), deadline,
                                f"attempt {len(rounds) + 1} never finished for {pending}{self.diagnostics()}")
                time.sleep(0.05)
            seen += len(attempt)
            done: dict[str, str] = {}
            for rcpt, status, rest in attempt:
                if status == "sent":
                    m = re.search(r"queued as (\w+)", rest)
                    self.assertIsNotNone(m, rest)
                    done[rcpt] = m.group(1)
                elif status == "bounced":
                    done[rcpt] = "bounced"
                else:
                    self.assertEqual(status, "deferred", rest)
            rounds.append(done)
            pending = [r for r in pending if r not in done]
        return qid, rounds

    def postqueue_recipients(self) -> str:
        return subprocess.run(["/usr/sbin/postqueue", "-c", str(self.sender.conf_dir), "-p"], stdin=subprocess.DEVNULL,
                              capture_output=True, check=False, timeout=30).stdout.decode(errors="replace")

    def queue_once_settled(self, delivered: list[str], timeout: float = 15.0) -> str:
        """The sending queue after the queue manager has taken the `delivered` recipients out of it: the
        smtp client logs status=sent before qmgr rewrites the queue file, so the log alone races."""
        deadline = time.monotonic() + timeout
        while True:
            queue = self.postqueue_recipients()
            if not any(re.search(rf"(?m)^\s+{re.escape(r)}$", queue) for r in delivered) or time.monotonic() > deadline:
                return queue
            time.sleep(0.05)

    # -- 1. the milter's replies to one transaction ----------------------------------------------------
    def test_1_replies_per_recipient_keyed_first(self):
        sent = message("keyed-first")
        before = self.counts()
        res = mta.smtp_send(mta.LOOPBACK, self.pf.port, SENDER, [ALICE, CAROL, REMOTE, BOSS], sent)
        self.assert_rcpt_replies(res, {ALICE: (250, ""), CAROL: (452, PLAIN_452.format(CAROL)),
                                       REMOTE: (452, PLAIN_452.format(REMOTE)), BOSS: (550, REQUIRED_550.format(BOSS))})
        self.assertTrue(res.accepted, res.transcript)
        self.check_own_copy(ALICE, before, sent)
        # The refused and deferred recipients got nothing from this transaction. (The mx has no
        # other message in flight: the status line of alice's delivery is its last word on it.)
        self.assert_done(self.pf, res.queue_id, before, {ALICE: 1})

    def test_1_replies_per_recipient_keyless_first(self):
        sent = message("keyless-first")
        before = self.counts()
        res = mta.swaks_send(mta.LOOPBACK, self.pf.port, SENDER, [CAROL, ALICE, REMOTE, BOSS], sent,
                             workdir=self.tmp)
        self.assert_rcpt_replies(res, {CAROL: (250, ""), ALICE: (452, ENCRYPTED_452.format(ALICE)),
                                       REMOTE: (250, ""), BOSS: (550, REQUIRED_550.format(BOSS))})
        self.assertTrue(res.accepted, res.transcript)
        self.check_plain_copy(CAROL, before, sent)
        # The remote recipient shares carol's plain copy: what reached the sink is the message as sent.
        self.assert_done(self.pf, res.queue_id, before, {CAROL: 1, REMOTE: 1})
        self.check_remote_copy(sent)

    def test_1_temporary_refusal(self):
        type(self).configure(secure_extra='refusal = "temporary"\n')
        sent = message("temporary")
        before = self.counts()
        res = mta.smtp_send(mta.LOOPBACK, self.pf.port, SENDER, [ALICE, BOSS], sent)
        self.assert_rcpt_replies(res, {ALICE: (250, ""), BOSS: (450, REQUIRED_450.format(BOSS))})
        self.check_own_copy(ALICE, before, sent)
        self.assert_done(self.pf, res.queue_id, before, {ALICE: 1})

    def test_1_per_recipient_second_key_gets_its_own_transaction(self):
        type(self).configure(example_extra='split = "per-recipient"\n')
        sent = message("own-copy")
        before = self.counts()
        res = mta.smtp_send(mta.LOOPBACK, self.pf.port, SENDER, [ALICE, DAVE, CAROL], sent)
        self.assert_rcpt_replies(res, {ALICE: (250, ""), DAVE: (452, OWN_COPY_452.format(DAVE)),
                                       CAROL: (452, PLAIN_452.format(CAROL))})
        self.check_own_copy(ALICE, before, sent)
        self.assert_done(self.pf, res.queue_id, before, {ALICE: 1})

    # -- 2. the split at the edge: the sending MTA retries what was deferred -------------------------------
    def test_2_relayed_per_class_one_shared_copy_then_carol(self):
        sent = message("per-class")
        before = self.counts()
        res = self.sender.send(SENDER, [ALICE, DAVE, CAROL], sent)
        self.assertTrue(res.accepted, res.transcript)
        qid = res.queue_id
        # First attempt: alice and dave in one transaction, carol deferred by the 452.
        self.sender.wait_for_log(rf"{qid}: to=<{CAROL}>,.* status=deferred .*452 4\.5\.3 <{CAROL}>: needs a plain copy")
        queue = self.queue_once_settled([ALICE, DAVE])
        self.assertRegex(queue, rf"(?m)^\s+{re.escape(CAROL)}$", queue)
        self.assertNotIn(ALICE, queue)
        self.assertNotIn(DAVE, queue)
        status = self.sender_status(qid)
        [alice_mx] = [re.search(r"queued as (\w+)", rest).group(1) for r, s, rest in status if r == ALICE and s == "sent"]
        [dave_mx] = [re.search(r"queued as (\w+)", rest).group(1) for r, s, rest in status if r == DAVE and s == "sent"]
        self.assertEqual(alice_mx, dave_mx, "alice and dave were not one transaction")
        self.check_shared_copy(before, sent)
        self.assertEqual(len(self.pf.maildir_messages(CAROL)), before[CAROL])
        # One flush: carol arrives, in plaintext, and nobody is left in the queue.
        self.sender.flush()
        self.sender.wait_for_log(rf"{qid}: to=<{CAROL}>,.* status=sent ")
        self.check_plain_copy(CAROL, before, sent)
        self.assert_done(self.sender, qid, before, {ALICE: 1, DAVE: 1, CAROL: 1})

    def test_2_relayed_per_recipient_one_round_each(self):
        type(self).configure(example_extra='split = "per-recipient"\n')
        sent = message("per-recipient")
        before = self.counts()
        qid, rounds = self.relay([ALICE, DAVE, CAROL], sent, rounds_at_most=3)
        # Three attempts (the first and two flushes), each delivering one recipient in a transaction of its own.
        self.assertEqual([len(r) for r in rounds], [1, 1, 1], rounds)
        self.assertEqual(list(rounds[0]), [ALICE])
        mx_ids = [qid_mx for r in rounds for qid_mx in r.values()]
        self.assertEqual(len(set(mx_ids)), 3, rounds)
        log = self.sender.maillog()
        self.assertRegex(log, rf"{qid}: to=<{DAVE}>,.* status=deferred .*452 4\.5\.3 <{DAVE}>: gets an encrypted copy of its own")
        for addr in (ALICE, DAVE):
            self.check_own_copy(addr, before, sent)
        self.check_plain_copy(CAROL, before, sent)
        self.assert_done(self.sender, qid, before, {ALICE: 1, DAVE: 1, CAROL: 1})

    # -- 3. `required` without a key, through the relay --------------------------------------------------
    def test_3_relayed_required_without_key_bounces_others_delivered(self):
        sent = message("required")
        before = self.counts()
        bounces_before = len(self.sender.maildir_messages("bob@sender.test"))
        qid, rounds = self.relay([ALICE, DAVE, BOSS, CAROL], sent, rounds_at_most=2)
        self.assertEqual(rounds[0].get(BOSS), "bounced", rounds)
        self.assertEqual({r for r in rounds[0] if r != BOSS}, {ALICE, DAVE}, rounds)
        self.assertEqual(list(rounds[1]), [CAROL], rounds)
        self.assertRegex(self.sender.maillog(),
                         rf"{qid}: to=<{re.escape(BOSS)}>,.* dsn=5\.7\.1, status=bounced .*550 5\.7\.1 "
                         rf"<{re.escape(BOSS)}>: encryption is required but no usable OpenPGP key is known")
        # bob (the sender) is told, by a DSN that names boss and the milter's reason.
        dsn = self.sender.wait_for_maildir("bob@sender.test", bounces_before + 1)[-1]
        dsn = re.sub(rb"\s+", b" ", dsn)  # long DSN lines are folded
        self.assertIn(b"Final-Recipient: rfc822; " + BOSS.encode(), dsn)
        self.assertIn(b"Status: 5.7.1", dsn)
        self.assertIn(b"<" + BOSS.encode() + b">: encryption is required but no usable OpenPGP key is known", dsn)
        self.check_shared_copy(before, sent)
        self.check_plain_copy(CAROL, before, sent)
        self.assert_done(self.sender, qid, before, {ALICE: 1, DAVE: 1, CAROL: 1})


    # -- 4. [milter] local_mailers: the MTA's transport makes a recipient local ----------------------------
    def test_4_local_mailers_virtual_makes_a_mailbox_outside_the_policy_file_local(self):
        """Postfix passes each recipient's transport as {rcpt_mailer}: "virtual" for erin (hosted.test is a
        virtual mailbox domain of the mx), "smtp" for the remote recipient the mx relays to the sink."""
        # Without local_mailers erin is not local although she has a key: one plain copy for both.
        sent = message("not-local")
        before = self.counts()
        res = mta.smtp_send(mta.LOOPBACK, self.pf.port, SENDER, [ERIN, REMOTE], sent)
        self.assert_rcpt_replies(res, {ERIN: (250, ""), REMOTE: (250, "")})
        self.assertTrue(res.accepted, res.transcript)
        self.check_plain_copy(ERIN, before, sent)
        self.assert_done(self.pf, res.queue_id, before, {ERIN: 1, REMOTE: 1})
        self.check_remote_copy(sent)

        # local_mailers = ["virtual"], reloaded: erin is local (the [default] mode, opportunistic) and keyed,
        # so her copy is encrypted to her key alone; the remote recipient is not local and is still plain,
        # so it has to come back in a transaction of its own.
        type(self).configure(milter_extra='local_mailers = ["virtual"]\n')
        sent = message("local-by-mailer")
        before = self.counts()
        res = mta.smtp_send(mta.LOOPBACK, self.pf.port, SENDER, [ERIN, REMOTE], sent)
        self.assert_rcpt_replies(res, {ERIN: (250, ""), REMOTE: (452, PLAIN_452.format(REMOTE))})
        self.assertTrue(res.accepted, res.transcript)
        self.check_own_copy(ERIN, before, sent)
        self.assert_done(self.pf, res.queue_id, before, {ERIN: 1})

        # The same two recipients through the sender: two transactions, erin's copy encrypted, the
        # remote recipient's copy relayed by the mx as sent.
        sent = message("local-by-mailer-relayed")
        before = self.counts()
        qid, rounds = self.relay([ERIN, REMOTE], sent, rounds_at_most=2)
        self.assertEqual(sorted(len(r) for r in rounds), [1, 1], rounds)
        self.check_own_copy(ERIN, before, sent)
        self.assert_done(self.sender, qid, before, {ERIN: 1, REMOTE: 1})
        self.check_remote_copy(sent)


if __name__ == "__main__":
    sys.exit(run_tests(sys.modules[__name__]))
