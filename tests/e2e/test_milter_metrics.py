#!/usr/bin/python3
"""The metrics endpoint and /health of mdcrypt-milter, through real Postfix: after a known mix of mail
the counters say exactly what was sent and what the log says; the exposition passes
`promtool check metrics`; /health answers 200, and 503 naming the spool directory when it is gone.

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_milter_metrics.py`.
"""
import os
import re
import socket
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402
from test_milter_common import MESSAGE, SENDER, MilterFixture, run_tests  # noqa: E402
from test_milter_gpg_faults import start_faulty_milter  # noqa: E402

ALICE = "alice@example.test"
CAROL = "carol@example.test"  # local, opportunistic, no key: plain
REFUSED = "erin@example.test"  # a [recipient] entry makes her required; no key: refused at RCPT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample; labels must match exactly (in any order)."""
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if found == {k: str(v) for k, v in labels.items()}:
            return float(m.group(3))
    raise AssertionError(f"no sample {name}{labels} in:\n{text}")


class Metrics(MilterFixture, unittest.TestCase):
    LOCALE = {"LANG": "C"}

    @classmethod
    def start_fixture(cls):
        cls.port = free_port()
        start_faulty_milter(cls, metrics_listen=f"127.0.0.1:{cls.port}",
                            policy_extra=f'\n[recipient."{REFUSED}"]\nmode = "required"\n')
        cls.pf = mta.PostfixInstance(cls.tmp, addresses=("alice", "dave", "carol", "erin"),
                                     milter=cls.milter.socket_path).start()
        return [cls.pf]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def send(self, rcpts, message=MESSAGE):
        return self.pf.send(SENDER, rcpts, message)

    def test_counters_match_a_known_mix_and_the_log(self):
        self.fault.write_text("none\n")
        for _ in range(2):
            self.assertTrue(self.send([ALICE]).accepted)                  # encrypted
        res = self.send([ALICE, REFUSED])                                 # encrypted; one refused at RCPT
        self.assertTrue(res.accepted, res.transcript)
        self.assertEqual(res.codes.get("rcpt"), 550, res.transcript)
        self.assertTrue(self.send([CAROL]).accepted)                      # passed plain
        stored = self.pf.wait_for_maildir(ALICE, 3)[-1]
        self.assertTrue(self.send([ALICE], stored).accepted)              # passed already encrypted
        self.fault.write_text("encrypt-kill-reading\n")
        res = self.send([ALICE])                                          # tempfailed: encryption
        self.assertEqual(res.final_code // 100, 4, res.transcript)
        self.fault.write_text("none\n")
        self.milter.wait_for_log(r"verdict=defer .*encryption failed")

        status, text = get(self.url("/metrics"))
        self.assertEqual(status, 200)
        expected = {"encrypted": 3, "passed_plain": 1, "passed_already_encrypted": 1, "tempfailed": 1, "rejected": 0}
        for outcome, count in expected.items():
            self.assertEqual(sample(text, "mdcrypt_messages_total", outcome=outcome), count, outcome)
        self.assertEqual(sample(text, "mdcrypt_tempfailed_messages_total", cause="encryption"), 1)
        self.assertEqual(sample(text, "mdcrypt_tempfailed_messages_total", cause="key_lookup"), 0)
        self.assertEqual(sample(text, "mdcrypt_recipients_total", **{"class": "encrypt", "admission": "accept"}), 5)
        self.assertEqual(sample(text, "mdcrypt_recipients_total", **{"class": "plain", "admission": "accept"}), 1)
        self.assertEqual(sample(text, "mdcrypt_recipients_total", **{"class": "refuse", "admission": "refuse"}), 1)
        self.assertEqual(sample(text, "mdcrypt_gpg_failures_total", run="encrypt", kind="failed"), 1)
        self.assertEqual(sample(text, "mdcrypt_encryption_duration_seconds_count"), 3)
        self.assertEqual(sample(text, "mdcrypt_encryption_slot_wait_seconds_count"), 4)  # 3 encrypted + 1 failed
        self.assertEqual(sample(text, "mdcrypt_key_lookups_total", source="keyring", outcome="error"), 0)
        self.assertGreater(sample(text, "mdcrypt_key_lookups_total", source="keyring", outcome="found"), 0)
        self.assertGreaterEqual(sample(text, "mdcrypt_keyring_listings_total", result="ok"), 1)
        self.assertEqual(sample(text, "mdcrypt_messages_in_progress"), 0)

        # Bytes: the same sums as the per-message log lines.
        log = self.milter.log()
        size_in = sum(int(m) for m in re.findall(r"verdict=\w+ .*?size_in=(\d+)", log))
        size_out = sum(int(m) for m in re.findall(r"verdict=\w+ .*?size_out=(\d+)", log))
        self.assertEqual(sample(text, "mdcrypt_message_bytes_received_total"), size_in)
        self.assertEqual(sample(text, "mdcrypt_encrypted_body_bytes_total"), size_out)

        check = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(check.stdout + check.stderr, b"")  # no lint complaint either

    def test_health_answers_200_and_503_naming_the_failed_check(self):
        status, text = get(self.url("/health"))
        self.assertEqual(status, 200, text)
        self.assertRegex(text, r"keyring: ok \(2 usable keys\)\ngpg: ok\nspool: ok")
        spool = self.tmp / "spool"
        moved = self.tmp / "spool.away"
        os.rename(spool, moved)
        try:
            status, text = get(self.url("/health"))
        finally:
            os.rename(moved, spool)
        self.assertEqual(status, 503, text)
        self.assertIn(f"spool: FAILED (cannot create a file in {spool}", text)
        self.assertIn("keyring: ok", text)
        self.assertEqual(get(self.url("/health"))[0], 200)

    def test_only_get_and_only_the_two_paths(self):
        request = urllib.request.Request(self.url("/metrics"), data=b"x", method="POST")
        try:
            urllib.request.urlopen(request, timeout=30)
            self.fail("POST was accepted")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 405)
        self.assertEqual(get(self.url("/"))[0], 404)
        self.assertEqual(get(self.url("/etc/passwd"))[0], 404)


if __name__ == "__main__":
    sys.exit(run_tests(sys.modules[__name__]))
