#!/usr/bin/python3
"""gpg faults through real Postfix and mdcrypt-milter. A damaged keyring, or a gpg that dies while
listing keys: the keyed recipient is deferred at RCPT (451 4.7.0). A gpg that dies while encrypting, or
exits 0 after part of its output: the message is deferred at end of data (4xx). Either way nothing
reaches the Maildir, and once the fault is repaired the next attempt is delivered encrypted, with no
restart or reload. Each of these once gave 250 with a plaintext or undecryptable copy. The milter runs
in the C locale and in de_DE.UTF-8 (gpg speaks German there).

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_milter_gpg_faults.py`.
"""
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402
from test_milter_common import MESSAGE, SENDER, MilterDaemon, MilterFixture, check_encrypted, gpg, run_tests  # noqa: E402

ALICE = "alice@example.test"
FAULT_GPG = mta.REPO_ROOT / "tests" / "support" / "gpg-fault"


def start_faulty_milter(cls, main_extra: str = "", gnupg_extra: str = "", metrics_listen: str = "",
                        policy_extra: str = "") -> None:
    """Starts cls.milter with gpg-fault as its gpg (fault file cls.fault, "none" at first), in cls.LOCALE;
    with a [metrics] endpoint on `metrics_listen` and `policy_extra` added to the policy file when given."""
    cls.milter = MilterDaemon(cls.tmp, main_extra=main_extra)
    if policy_extra:
        with open(cls.tmp / "domains.toml", "a") as f:
            f.write(policy_extra)
    cls.fault = cls.tmp / "gpg-fault"
    cls.fault.write_text("none\n")
    text = cls.milter.config.read_text()
    cls.milter.config.write_text(text.replace(f'home = "{cls.milter.home}"\n',
                                              f'home = "{cls.milter.home}"\ngpg_program = "{FAULT_GPG}"\n{gnupg_extra}'))
    if metrics_listen:
        with open(cls.milter.config, "a") as f:
            f.write(f'\n[metrics]\nlisten = "{metrics_listen}"\n')
    start_with_fault(cls)


def start_with_fault(cls) -> None:
    """(Re)starts cls.milter with the fault file and locale in its environment."""
    saved = dict(os.environ)
    os.environ.update({"MDCRYPT_GPG_FAULT": str(cls.fault), **cls.LOCALE})
    try:
        cls.milter.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def send_encrypted_to_alice(tc) -> None:
    """MESSAGE to alice through tc.pf is accepted and stored encrypted for alice only."""
    before = len(tc.pf.maildir_messages(ALICE))
    res = tc.pf.send(SENDER, [ALICE], MESSAGE)
    tc.assertTrue(res.accepted, f"{res.transcript}\n{tc.milter.log()[-2000:]}")
    stored = tc.pf.wait_for_maildir(ALICE, before + 1)[-1]
    check_encrypted(tc, tc.milter, stored, MESSAGE, readers=["alice"], others=["dave"])


def process_ends(pid_file) -> bool:
    """Whether the process whose pid gpg-fault wrote has ended (gone, or a zombie), within 10 s."""
    pid = int(pid_file.read_text())
    for _ in range(200):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


class GpgFaults(MilterFixture):
    LOCALE: dict = {}

    @classmethod
    def start_fixture(cls):
        start_faulty_milter(cls)
        cls.pf = mta.PostfixInstance(cls.tmp, addresses=("alice", "dave", "carol"), milter=cls.milter.socket_path).start()
        cls.keybox = cls.milter.home / "pubring.kbx"
        cls.good_keybox = cls.keybox.read_bytes()
        return [cls.pf]

    def setUp(self):
        self.fault.write_text("none\n")
        self.replace_keybox(self.good_keybox)
        expected = self.milter.home / "mdcrypt-expected-keys"
        if expected.exists():
            expected.unlink()

    def replace_keybox(self, data: bytes) -> None:
        """As a restore or a non-atomic writer would: a new file (new inode) in place of the old."""
        tmp = self.keybox.with_suffix(".new")
        tmp.write_bytes(data)
        os.replace(tmp, self.keybox)

    def assert_deferred(self, reason: str) -> None:
        before = len(self.pf.maildir_messages(ALICE))
        res = self.pf.send(SENDER, [ALICE], MESSAGE)
        self.assertFalse(res.accepted, res.transcript)
        self.assertEqual(res.codes.get("rcpt"), 451, res.transcript)
        self.milter.wait_for_log(reason)
        self.assertEqual(len(self.pf.maildir_messages(ALICE)), before)  # the refusal was at RCPT: nothing queued

    def assert_encrypted_again(self) -> None:
        send_encrypted_to_alice(self)

    def test_a_keybox_whose_blobs_gpg_cannot_parse(self):
        self.assert_encrypted_again()
        self.replace_keybox(self.good_keybox[:32] + b"\x7f\xff\xff\xff" + self.good_keybox[36:])
        self.assertNotIn(b"pub:", gpg(self.milter.home, "--with-colons", "--list-keys"))  # gpg sees no keys, no error
        self.assert_deferred(r"pubring\.kbx is damaged")
        self.replace_keybox(self.good_keybox)
        self.assert_encrypted_again()

    def test_a_truncated_and_a_zero_length_keybox(self):
        self.replace_keybox(self.good_keybox[:len(self.good_keybox) // 2])
        self.assert_deferred(r"cut off")
        self.replace_keybox(b"")
        self.assert_deferred(r"zero bytes")
        self.replace_keybox(self.good_keybox)
        self.assert_encrypted_again()

    def test_a_keybox_cut_to_its_header_or_deleted_while_running(self):
        self.assert_encrypted_again()  # the milter has seen the keys
        self.replace_keybox(self.good_keybox[:32])
        self.assert_deferred(r"now lists 0 keys where it listed")
        self.replace_keybox(self.good_keybox)
        fpr = self.milter.fingerprints["alice"]
        (self.milter.home / "mdcrypt-expected-keys").write_text(f"{fpr} {ALICE}\n")
        self.keybox.unlink()
        self.assert_deferred(rf"key {fpr} is listed in .*mdcrypt-expected-keys but missing from the keyring")
        self.replace_keybox(self.good_keybox)
        self.assert_encrypted_again()

    def test_a_gpg_that_dies_while_listing_once(self):
        for fault in ("sigkill", "sigsegv", "oops", "partial"):
            with self.subTest(fault=fault):
                self.fault.write_text(fault + "\n")
                self.replace_keybox(self.good_keybox)  # a keyring change: the next lookup lists again
                self.assert_deferred(r"listing the keys in GnuPG home")
                self.fault.write_text("none\n")  # healthy again: the failure was not cached
                self.assert_encrypted_again()

    def test_a_gpg_that_dies_or_stops_early_while_encrypting(self):
        big = MESSAGE + b"x" * (2 << 20) + b"\n"
        for fault in ("encrypt-kill-reading", "encrypt-kill-writing", "encrypt-partial"):
            with self.subTest(fault=fault):
                self.fault.write_text(fault + "\n")
                before = len(self.pf.maildir_messages(ALICE))
                res = self.pf.send(SENDER, [ALICE], big)
                self.assertFalse(res.accepted, res.transcript)
                self.assertEqual(res.final_code // 100, 4, res.transcript)
                self.milter.wait_for_log(r"encryption failed: encryption to " + self.milter.fingerprints["alice"])
                self.assertEqual(len(self.pf.maildir_messages(ALICE)), before)
                self.fault.write_text("none\n")
                self.assert_encrypted_again()


class GpgFaultsInC(GpgFaults, unittest.TestCase):
    LOCALE = {"LANG": "C"}


class GpgFaultsInGerman(GpgFaults, unittest.TestCase):
    LOCALE = {"LANG": "de_DE.UTF-8", "LANGUAGE": "de"}


class HangingGpg(MilterFixture, unittest.TestCase):
    """A gpg that hangs: killed at [gnupg] timeout_seconds, the message deferred and the slot freed;
    and a stop with gpg stuck ends within milter.stop_timeout_seconds plus a few seconds."""
    LOCALE = {"LANG": "C"}

    @classmethod
    def start_fixture(cls):
        start_faulty_milter(cls, main_extra="stop_timeout_seconds = 1\n", gnupg_extra="timeout_seconds = 4\n")
        cls.pf = mta.PostfixInstance(cls.tmp, addresses=("alice", "dave"), milter=cls.milter.socket_path).start()
        return [cls.pf]

    def setUp(self):
        self.fault.write_text("none\n")
        self.pid_file = self.tmp / "gpg-fault.pid"
        if self.pid_file.exists():
            self.pid_file.unlink()

    def send_encrypted(self) -> None:
        send_encrypted_to_alice(self)

    def test_a_hanging_gpg_is_killed_at_the_timeout_and_the_message_deferred(self):
        self.send_encrypted()  # the keyring is listed: the hang below is in the encryption
        self.fault.write_text("encrypt-hang\n")
        before = len(self.pf.maildir_messages(ALICE))
        res = self.pf.send(SENDER, [ALICE], MESSAGE)
        self.assertFalse(res.accepted, res.transcript)
        self.assertEqual(res.final_code // 100, 4, res.transcript)
        self.milter.wait_for_log(r"did not finish within 4 s \(\[gnupg\] timeout_seconds\); it was killed")
        self.assertTrue(process_ends(self.pid_file))
        self.assertEqual(len(self.pf.maildir_messages(ALICE)), before)
        self.fault.write_text("none\n")
        self.send_encrypted()  # the slot is free again

    def test_sigterm_with_gpg_stuck_kills_it_and_stops(self):
        self.send_encrypted()
        # The gpg timeout (4 s) is longer than the stop timeout (1 s): the stop itself must kill gpg.
        self.fault.write_text("encrypt-hang\n")
        result = {}
        sender = threading.Thread(target=lambda: result.update(res=self.pf.send(SENDER, [ALICE], MESSAGE)))
        sender.start()
        for _ in range(600):
            if self.pid_file.exists():
                break
            time.sleep(0.05)
        self.assertTrue(self.pid_file.exists(), self.milter.log()[-2000:])
        self.milter.process.proc.send_signal(signal.SIGTERM)
        status = self.milter.process.proc.wait(timeout=60)  # a safety net, not a measurement
        sender.join(timeout=120)
        self.assertEqual(status, 0, self.milter.log()[-2000:])
        self.milter.wait_for_log(r"killing their gpg")
        self.milter.wait_for_log(r"stopped$")
        self.milter.wait_for_log(r"verdict=defer .*the process is stopping; gpg was killed")  # not the gpg timeout
        self.assertTrue(process_ends(self.pid_file))
        self.assertFalse(result["res"].accepted, result["res"].transcript)
        self.milter.stop()
        self.fault.write_text("none\n")
        start_with_fault(self)
        self.send_encrypted()  # Postfix retries what the stop deferred; the restarted milter encrypts


if __name__ == "__main__":
    sys.exit(run_tests(sys.modules[__name__]))
