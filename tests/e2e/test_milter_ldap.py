#!/usr/bin/python3
"""Two "MX hosts" sharing one directory: two mdcrypt-milter daemons with sources = ["ldap"], each
behind its own Postfix 3.7, and one private slapd (tests/support/slapd_fixture.py) holding the keys;
a third Postfix plays the sending MTA that queues and retries.

Proves what a fleet sees: a key in the directory encrypts mail through either host (gpg and sqop
decrypt); a key added to the directory while both run is used by both within cache_seconds, with no
reload; with slapd stopped, mail to a keyed recipient is deferred by the MX (the sender keeps it
queued, nothing is delivered in plaintext), and after slapd returns and the sender's queue is flushed
it arrives encrypted; the outage is logged once ("ldap directory unusable", naming the server and
why) and its end once, not per message.

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_milter_ldap.py`.
"""
import os
import re
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import mta  # noqa: E402
from slapd_fixture import Slapd, TestCa, base_entries, key_entry  # noqa: E402
from test_milter_common import (MESSAGE, SENDER, MilterDaemon, MilterFixture, check_encrypted,  # noqa: E402
                                run_tests)

SCHEMA = mta.REPO_ROOT / "conf" / "ldap" / "openpgp-key.ldif"
CACHE_SECONDS = 2
LENA = "lena"     # key in the directory from the start
MIKE = "mike"     # entry without a key at first; the key is added while the milters run
NINA = "nina"     # key in the directory; mailed while slapd is down
CROWD = tuple(f"user{i}" for i in range(8))  # keys in the directory, mailed at once
ADDRESSES = (LENA, MIKE, NINA, *CROWD)
SENDER_TIMERS = {"queue_run_delay": "3600s", "minimal_backoff_time": "3600s", "maximal_backoff_time": "4000s"}


def address(local: str) -> str:
    return f"{local}@example.test"


def ldap_table(slapd: Slapd) -> str:
    return f"""
[ldap]
uris = ["{slapd.uri}"]
tls = "none"
base = "ou=people,dc=example,dc=test"
timeout_seconds = 3
cache_seconds = {CACHE_SECONDS}
"""


class TwoMxHostsShareOneDirectory(MilterFixture, unittest.TestCase):
    @classmethod
    def start_fixture(cls):
        cls.milter = MilterDaemon(cls.tmp)  # makes the keys; its secret side reads every message
        keys = {name: cls.milter.make_key(name) for name in (LENA, NINA, *CROWD)}
        ca = TestCa(str(cls.tmp / "ca"), "unused CA")
        entries = "\n".join([base_entries(), key_entry(LENA, address(LENA), keys[LENA]),
                             key_entry(MIKE, address(MIKE)), key_entry(NINA, address(NINA), keys[NINA]),
                             *(key_entry(name, address(name), keys[name]) for name in CROWD)])
        cls.slapd = Slapd(str(cls.tmp / "slapd"), str(SCHEMA), entries, ca)
        cls.slapd.start()
        mta.register_cleanup(cls.slapd.stop)
        extra = ldap_table(cls.slapd)
        cls.milter.write_config(extra, keys='sources = ["ldap"]\n')
        cls.milter.start()
        cls.other_tmp = mta.TempDir(parent=cls.tmp)
        cls.other = MilterDaemon(cls.other_tmp)  # the second MX host
        cls.other.write_config(extra, keys='sources = ["ldap"]\n')
        cls.other.start()
        cls.mx = [mta.PostfixInstance(cls.tmp, name="mx1", addresses=ADDRESSES, milter=cls.milter.socket_path).start(),
                  mta.PostfixInstance(cls.tmp, name="mx2", addresses=ADDRESSES, milter=cls.other.socket_path).start()]
        cls.sender = mta.PostfixInstance(cls.tmp, name="sender", addresses=["bob@sender.test"], domain="sender.test",
                                         relay_to=(mta.LOOPBACK, cls.mx[0].port), **SENDER_TIMERS).start()
        return [cls.sender, *cls.mx, StopOther(cls.other), cls.slapd]

    def deliver(self, mx: mta.PostfixInstance, local: str) -> bytes:
        before = len(mx.maildir_messages(address(local)))
        res = mx.send(SENDER, [address(local)], MESSAGE)
        self.assertTrue(res.accepted, f"{res.transcript}\n{self.milter.log()[-2000:]}\n{self.other.log()[-2000:]}")
        return mx.wait_for_maildir(address(local), before + 1)[-1]

    def assert_encrypted_via_both(self, local: str) -> None:
        for mx in self.mx:
            with self.subTest(mx=mx.name):
                check_encrypted(self, self.milter, self.deliver(mx, local), MESSAGE, readers=[local])

    def check_config(self) -> str:
        result = subprocess.run([str(mta.binary("mdcrypt-milter")), "--config", str(self.milter.config), "--check-config"],
                                capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.stdout.decode()

    def test_1_a_key_in_the_directory_encrypts_through_either_host(self):
        self.assertIn("ldap directory answers\n", self.check_config())
        self.assert_encrypted_via_both(LENA)

    def test_2_a_key_added_to_the_directory_is_used_by_both_hosts_within_the_cache_period(self):
        for mx in self.mx:
            stored = self.deliver(mx, MIKE)
            self.assertNotIn(b"multipart/encrypted", mta.split_message(stored)[0])
        public = self.milter.make_key(MIKE)
        import base64
        self.slapd.modify(f"dn: uid={MIKE},ou=people,dc=example,dc=test\nchangetype: modify\n"
                          f"add: openPGPPublicKey\nopenPGPPublicKey:: {base64.b64encode(public).decode()}\n")
        time.sleep(CACHE_SECONDS + 0.5)
        self.assert_encrypted_via_both(MIKE)
        for daemon in (self.milter, self.other):
            self.assertNotIn("configuration reloaded", daemon.log())

    def test_3_slapd_down_defers_at_the_mx_and_a_flush_after_it_returns_delivers_encrypted(self):
        self.slapd.stop()
        try:
            time.sleep(CACHE_SECONDS + 0.5)  # nothing answered from the cache
            res = self.sender.send(SENDER, [address(NINA)], MESSAGE)
            self.assertTrue(res.accepted, res.transcript)
            deadline = time.monotonic() + 30
            while not re.search(rf"to=<{re.escape(address(NINA))}>.*status=deferred", self.sender.maillog()):
                self.assertLess(time.monotonic(), deadline, self.sender.maillog()[-2000:])
                time.sleep(0.1)
            deferred = re.findall(rf"to=<{re.escape(address(NINA))}>.*status=deferred.*$", self.sender.maillog(), re.M)
            self.assertRegex(deferred[-1], r"said: 4\d\d ")
            # Two more messages straight to the MX: refused with 4xx at once, like the relayed one.
            for _ in range(2):
                direct = self.mx[0].send(SENDER, [address(NINA)], MESSAGE)
                self.assertFalse(direct.accepted)
                self.assertRegex(str(direct.final_code), r"^4")
            self.assertEqual(self.mx[0].maildir_messages(address(NINA)), [])  # nothing delivered, no plaintext
            self.assertRegex(self.milter.log(), re.escape(self.slapd.uri) + r".*Can't contact LDAP server")
            # The directory's state is logged once for the outage, not per message.
            unusable = re.findall(r"ldap directory unusable, recipients whose lookup needs it are deferred: .*"
                                  + re.escape(self.slapd.uri), self.milter.log())
            self.assertEqual(len(unusable), 1, self.milter.log()[-3000:])
            self.assertRegex(self.check_config(), r"WARNING: ldap directory unusable, recipients whose lookup needs it "
                                                  r"would be deferred: .*" + re.escape(self.slapd.uri))
        finally:
            self.slapd.start()
        self.sender.flush()
        stored = self.mx[0].wait_for_maildir(address(NINA), 1)[-1]
        check_encrypted(self, self.milter, stored, MESSAGE, readers=[NINA])
        self.assertEqual(self.milter.log().count("ldap directory answers again"), 1)

    def test_4_concurrent_first_lookups_through_one_host_each_get_their_key(self):
        # Eight SMTP sessions at once, each for a user not looked up before: eight milter threads ask
        # the directory at the same time (the connection pool, no shared LDAP handle).
        stored: dict[str, bytes] = {}
        errors: list[str] = []

        def send(local: str) -> None:
            try:
                stored[local] = self.deliver(self.mx[1], local)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{local}: {e}")

        threads = [threading.Thread(target=send, args=(local,)) for local in CROWD]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(errors, [])
        for local in CROWD:
            with self.subTest(local=local):
                check_encrypted(self, self.milter, stored[local], MESSAGE, readers=[local])
        for local in CROWD:
            self.assertEqual(self.slapd.searches_for(address(local)), 1)


class StopOther:
    """The second milter, stopped with the services (MilterFixture stops only cls.milter)."""

    def __init__(self, daemon: MilterDaemon):
        self.daemon = daemon

    def stop(self):
        status = self.daemon.stop()
        if status != 0:
            raise AssertionError(f"the second mdcrypt-milter exited with {status}:\n{self.daemon.log()[-3000:]}")


if __name__ == "__main__":
    sys.exit(run_tests(sys.modules[__name__]))
