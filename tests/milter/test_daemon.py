#!/usr/bin/python3
"""mdcrypt-milter as a process: the milter protocol as Postfix and Sendmail speak it, the replaced
body decrypted with gpg and sqop, signals, sockets, exit statuses.

Usage: test_daemon.py --milter PATH/mdcrypt-milter [unittest arguments]
"""
import argparse
import base64
import concurrent.futures
import email.parser
import email.policy
import grp
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import milter_client as mc  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import log_line  # noqa: E402
from milter_fixture import Milter  # noqa: E402

MILTER_BINARY = None
SQOP = "/usr/bin/sqop"

HEADERS = [
    ("Received", b" from client.example.net (client [192.0.2.1])\r\n\tby mx.example.test; Fri, 27 Nov 2026 12:00:00 +0000"),
    ("From", b" Bob <bob@example.net>"),
    ("To", b" Alice <alice@example.test>"),
    ("Cc", b" Carol <carol@example.net>"),
    ("Subject", b" =?utf-8?q?caf=C3=A9?="),
    ("Date", b" Fri, 27 Nov 2026 12:00:00 +0000"),
    ("Message-ID", b" <m1@example.net>"),
    ("References", b" <m0@example.net>\r\n <m00@example.net>"),
    ("MIME-Version", b" 1.0"),
    ("Content-Type", b" text/plain;\r\n\tcharset=\"utf-8\";\r\n format=flowed"),
    ("Content-Transfer-Encoding", b" 8bit"),
]
BODY = "Hello Alice,\r\n\r\ncafé, naïve, 😀\r\n.a line starting with a dot\r\nFrom the start\r\n-- \r\nBob\r\n".encode()


def inner_entity(headers, body):
    """What the encrypted payload must hold: the Content-* fields verbatim, a blank line, the body."""
    fields = [(n, v) for n, v in headers if n.lower().startswith("content-")]
    if not any(n.lower() == "content-type" for n, _ in fields):
        fields.insert(0, ("Content-Type", b" text/plain; charset=us-ascii"))
    return mc.serialize(fields, body)


def armored_part(message):
    start = message.index(b"-----BEGIN PGP MESSAGE-----")
    end = message.index(b"-----END PGP MESSAGE-----") + len(b"-----END PGP MESSAGE-----")
    return message[start:end] + b"\r\n"


class WithMilter(unittest.TestCase):
    """One daemon for the tests of a class."""

    @classmethod
    def setUpClass(cls):
        cls.milter = Milter(MILTER_BINARY)
        cls.milter.start()

    @classmethod
    def tearDownClass(cls):
        try:
            status = cls.milter.stop()
            if status != 0:
                raise AssertionError(f"exit status {status} after SIGTERM:\n{cls.milter.log()}")
            if cls.milter.spool_entries():
                raise AssertionError(f"spool not empty: {cls.milter.spool_entries()}")
        finally:
            cls.milter.close()

    def client(self, **negotiation):
        c = mc.MilterClient(self.milter.socket_path)
        c.negotiate(**negotiation)
        return c

    def encrypt_and_check(self, headers, body_chunks, protocol=mc.POSTFIX_PROTOCOL, recipients=("<alice@example.test>",)):
        """Sends a message for keyed recipients, checks the result is RFC 3156 around a payload that
        decrypts (gpg and sqop) to the original Content-* fields and body; returns (eom, final)."""
        with self.client(protocol=protocol) as c:
            eom = c.send_message("<bob@example.net>", list(recipients), headers, body_chunks)
        self.assertEqual(eom.reply, "c", self.milter.log()[-2000:])
        self.assertIsNotNone(eom.new_body)
        for chunk in eom.body_chunks:
            self.assertLessEqual(len(chunk), 65535)
        final_headers = mc.apply_header_actions(headers, eom.header_actions, c.protocol)
        final = mc.serialize(final_headers, eom.new_body)

        # Outside: everything but the Content-* fields (and MIME-Version, added when missing) as it was, in order.
        def outer(fields):
            return [(n, v) for n, v in fields if not n.lower().startswith("content-") and n.lower() != "mime-version"]

        self.assertEqual(outer(final_headers), outer(headers))
        self.assertEqual([v for n, v in final_headers if n.lower() == "mime-version"], [b" 1.0"])
        parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(final)
        self.assertEqual(parsed.get_content_type(), "multipart/encrypted")
        self.assertEqual(parsed.get_param("protocol"), "application/pgp-encrypted")
        parts = parsed.get_payload()
        self.assertEqual([p.get_content_type() for p in parts], ["application/pgp-encrypted", "application/octet-stream"])
        self.assertEqual(parts[0].get_payload().strip(), "Version: 1")

        expected = inner_entity(headers, b"".join(body_chunks).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        armor = armored_part(final)
        self.assertEqual(self.milter.decrypt_gpg(armor), expected)
        for name in self.milter.fingerprints:
            result = subprocess.run([SQOP, "decrypt", self.milter.secret_key_files[name]], input=armor,
                                    capture_output=True, check=False)
            if f"<{name}@example.test>" in [r.lower() for r in recipients]:
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(result.stdout, expected)
        return eom, final


class Protocol(WithMilter):
    def test_negotiation_asks_only_for_what_is_used(self):
        with self.client() as c:
            self.assertEqual(c.actions & ~mc.SMFIF_SETSYMLIST, mc.SMFIF_ADDHDRS | mc.SMFIF_CHGHDRS | mc.SMFIF_CHGBODY)
            off = mc.SMFIP_NOCONNECT | mc.SMFIP_NOHELO | mc.SMFIP_NOUNKNOWN | mc.SMFIP_NODATA
            self.assertEqual(c.protocol & off, off)
            for needed in (mc.SMFIP_NOMAIL, mc.SMFIP_NORCPT, mc.SMFIP_NOHDRS, mc.SMFIP_NOBODY, mc.SMFIP_NOEOH):
                self.assertFalse(c.protocol & needed)
            self.assertTrue(c.protocol & mc.SMFIP_HDR_LEADSPC)
            # No answers to MAIL, header fields, end of header and body chunks: never refused there.
            nr = mc.SMFIP_NR_MAIL | mc.SMFIP_NR_HDR | mc.SMFIP_NR_EOH | mc.SMFIP_NR_BODY
            self.assertEqual(c.protocol & mc.NO_REPLY_FLAGS, nr)
            self.assertTrue(c.actions & mc.SMFIF_SETSYMLIST)
            self.assertIn(b"i\0", c.symlist)

    def test_mta_that_cannot_replace_the_body_is_refused(self):
        c = mc.MilterClient(self.milter.socket_path)
        with self.assertRaises((mc.MilterError, ConnectionError)):
            c.negotiate(actions=mc.SMFIF_ADDHDRS | mc.SMFIF_CHGHDRS)
        c.close(polite=False)

    def test_encrypted_message_decrypts_to_the_original_bytes(self):
        eom, final = self.encrypt_and_check(HEADERS, [BODY])
        # Values sent back: leading space (HDR_LEADSPC) and LF folding, never CR.
        changes = [a for a in eom.header_actions if a[0] == "change" and a[1] == "Content-Type"]
        self.assertEqual(len(changes), 1)
        value = changes[0][3]
        self.assertTrue(value.startswith(b" multipart/encrypted;"), value)
        self.assertNotIn(b"\r", value)
        self.assertIn(b"\n\tprotocol=\"application/pgp-encrypted\"", value)
        self.assertIn(("change", "Content-Transfer-Encoding", 1, b""), eom.header_actions)
        self.assertNotIn(b"caf\xc3\xa9", final)  # the body is not readable outside

    def test_mta_without_no_reply_flags(self):
        # An MTA that offers no SMFIP_NR_*: every step is answered (libmilter answers for us).
        protocol = mc.POSTFIX_PROTOCOL & ~mc.NO_REPLY_FLAGS
        with self.client(protocol=protocol) as c:
            self.assertEqual(c.protocol & mc.NO_REPLY_FLAGS, 0)
            self.assertEqual(c.mail("<bob@example.net>"), (b"c", b""))
            self.assertEqual(c.rcpt("<alice@example.test>"), (b"c", b""))
            self.assertEqual(c.header("Subject", b" x"), (b"c", b""))
            self.assertEqual(c.eoh(), (b"c", b""))
        self.encrypt_and_check(HEADERS, [BODY], protocol=protocol)

    def test_without_leading_space_negotiated(self):
        protocol = mc.POSTFIX_PROTOCOL & ~mc.SMFIP_HDR_LEADSPC
        eom, _ = self.encrypt_and_check(HEADERS, [BODY], protocol=protocol)
        for action in eom.header_actions:
            value = action[-1]
            self.assertFalse(value.startswith(b" "), action)

    def test_large_body_is_spooled_and_sent_back_in_chunks(self):
        # Random base64: gpg cannot compress it, so the ciphertext is as large as the body.
        text = base64.encodebytes(os.urandom(90000)).replace(b"\n", b"\r\n")  # 124K: spooled, under max_message_size
        chunks = [text[i:i + 65535] for i in range(0, len(text), 65535)]
        eom, _ = self.encrypt_and_check(HEADERS, chunks)
        self.assertGreaterEqual(len(eom.body_chunks), 2)
        self.assertGreater(len(eom.new_body), 65535)

    def test_a_body_that_cannot_be_spooled_is_deferred_at_end_of_message(self):
        # Body chunks get no answer (SMFIP_NR_BODY): a failure there must still end in a tempfail, never
        # in the plaintext passing. The spool directory is gone when the body outgrows memory (16K here).
        away = self.milter.spool + ".away"
        os.rename(self.milter.spool, away)
        try:
            with self.client() as c:
                self.assertTrue(c.protocol & mc.SMFIP_NR_BODY)
                eom = c.send_message("<bob@example.net>", ["<alice@example.test>"], HEADERS,
                                     [b"x" * 998 + b"\r\n"] * 40, queue_id="NOSPOOL")
        finally:
            os.rename(away, self.milter.spool)
        self.assertIsNone(eom.new_body)
        self.assertEqual(eom.reply, "y", eom)
        self.assertTrue(eom.reply_text.startswith("451 4.3.0"), eom.reply_text)
        log = self.milter.log()
        self.assertRegex(log, r"NOSPOOL.*stage=body")
        self.assertRegex(log, r"NOSPOOL.*verdict=defer")

    def test_bare_lf_body_is_encrypted_with_crlf(self):
        self.encrypt_and_check(HEADERS, [b"one\ntwo\n", b"\nthree\n"])

    def test_message_without_mime_headers_gets_the_default_content_type_inside(self):
        headers = [(n, v) for n, v in HEADERS if not n.lower().startswith("content-") and n != "MIME-Version"]
        eom, final = self.encrypt_and_check(headers, [b"plain text\r\n"])
        self.assertIn(("add", "MIME-Version", b" 1.0"), eom.header_actions)

    def test_empty_body_and_body_without_final_line_end(self):
        self.encrypt_and_check(HEADERS, [])
        self.encrypt_and_check(HEADERS, [b"no line end"])

    def test_abort_then_reuse_and_several_messages_per_connection(self):
        with self.client() as c:
            mc.expect_continue(c.mail("<bob@example.net>"), "MAIL")
            mc.expect_continue(c.rcpt("<nokey@example.test>"), "RCPT")
            mc.expect_continue(c.header("Subject", b" x"), "header")
            c.abort()
            for i in range(3):
                eom = c.send_message("<bob@example.net>", ["<alice@example.test>"], HEADERS, [BODY], queue_id=f"R{i}")
                self.assertEqual(eom.reply, "c")
                self.assertIsNotNone(eom.new_body)
                eom = c.send_message("<bob@example.net>", ["<nokey@example.test>"], HEADERS, [BODY], queue_id=f"P{i}")
                self.assertEqual(eom.reply, "c")
                self.assertIsNone(eom.new_body)
                self.assertEqual(eom.header_actions, [])

    def test_concurrent_connections(self):
        def one(i):
            body = f"message {i}\r\n".encode() * (1 + i * 50)
            self.encrypt_and_check(HEADERS, [body])
            return i

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            self.assertEqual(sorted(pool.map(one, range(16))), list(range(16)))

    def test_one_log_line_per_message_with_queue_id_and_no_content(self):
        with self.client() as c:
            eom = c.send_message("<bob@example.net>", ["<alice@example.test>"], HEADERS, [BODY], queue_id="LOGQ1")
        self.assertEqual(eom.reply, "c")
        self.milter.wait_for_log("LOGQ1: verdict=")
        lines = [l for l in self.milter.log().splitlines() if "LOGQ1: verdict=" in l]
        self.assertEqual(len(lines), 1, self.milter.log()[-2000:])
        self.assertIn("verdict=encrypt recipients=1 keys=" + self.milter.fingerprints["alice"], lines[0])
        self.assertRegex(lines[0], r"size_in=\d+ size_out=\d+ ms=\d+")
        log = self.milter.log()
        for secret in ("Hello Alice", "caf", "Subject", "format=flowed"):
            self.assertNotIn(secret, log)


    def logged(self, queue_id):
        """Every line the daemon logged for `queue_id`, parsed (tests/support/log_line.py): [fields]."""
        out = []
        for line in self.milter.log().splitlines():
            _, sep, text = line.partition("]: ")
            level, _, text = text.partition(": ")
            if sep and level in ("error", "warning", "info", "debug") and text.startswith(queue_id + ": "):
                qid, fields = log_line.parse(text)
                self.assertEqual(qid, queue_id)
                out.append(fields)
        return out

    def test_a_sender_chosen_address_can_neither_add_a_log_field_nor_end_one(self):
        hostile = '<"a verdict=encrypt x"@example.test>'  # local domain, no key: a plain copy
        with self.client() as c:
            mc.expect_continue(c.mail("<bob@example.net>", queue_id="HOSTILE1"), "MAIL")
            c.macro(b"R", **{"{rcpt_mailer}": "virtual"})
            mc.expect_continue(c.rcpt("<alice@example.test>"), "RCPT alice")
            c.macro(b"R", **{"{rcpt_mailer}": "virtual"})
            cmd, data = c.rcpt(hostile)
            self.assertEqual(cmd, b"y")  # 452 4.5.3: it needs another copy than alice's
            self.assertTrue(data.startswith(b"452 4.5.3"), data)
            for name, raw in HEADERS:
                c.header(name, mc.to_mta_value(raw, c.protocol))
            c.eoh()
            c.body(BODY)
            self.assertEqual(c.eom("HOSTILE1").reply, "c")
            # Alone, the same address is accepted and its message passes: the reason quotes it.
            eom = c.send_message("<bob@example.net>", [hostile], HEADERS, [BODY], queue_id="HOSTILE2")
            self.assertEqual(eom.reply, "c")
        self.milter.wait_for_log("HOSTILE1: verdict=encrypt")
        self.milter.wait_for_log("HOSTILE2: verdict=pass")

        refused = [dict(f) for f in self.logged("HOSTILE1") if ("rcpt", hostile) in f]
        self.assertTrue(refused, self.milter.log()[-3000:])
        self.assertEqual([k for k, _ in self.logged("HOSTILE1")[1]], ["rcpt", "local", "mode", "class", "admission",
                                                                       "reply", "reason"])
        self.assertEqual(refused[0]["class"], "plain")
        self.assertEqual(refused[0]["admission"], "separate")
        self.assertEqual(refused[0]["reply"], "452 4.5.3")
        message = [f for f in self.logged("HOSTILE1") if f[0][0] == "verdict"]
        self.assertEqual(len(message), 1)
        self.assertEqual(message[0][0], ("verdict", "encrypt"))

        lines = self.logged("HOSTILE2")
        self.assertTrue(lines, self.milter.log()[-3000:])
        for fields in lines:
            self.assertEqual(sum(1 for k, _ in fields if k == "verdict") <= 1, True, fields)
            self.assertEqual(sum(1 for k, _ in fields if k == "reason"), 1, fields)
            self.assertEqual(fields[-1][0], "reason", fields)  # nothing after the reason: it did not end early
        final = [dict(f) for f in lines if f[0][0] == "verdict"]
        self.assertEqual(len(final), 1, lines)
        self.assertEqual(final[0]["verdict"], "pass")
        self.assertIn('no key for "a verdict=encrypt x"@example.test', final[0]["reason"])
        for fields in lines:
            if fields[0][0] == "rcpt":
                self.assertEqual(dict(fields)["rcpt"], hostile)
                self.assertEqual(dict(fields)["class"], "plain")


class Lifecycle(unittest.TestCase):
    def setUp(self):
        self.milter = Milter(MILTER_BINARY)
        self.addCleanup(self.milter.close)

    def run_binary(self, *args):
        return subprocess.run([MILTER_BINARY, *args], capture_output=True, timeout=60, check=False)

    def encrypts(self, recipient="<alice@example.test>", address=None):
        with mc.MilterClient(address or self.milter.socket_path) as c:
            c.negotiate()
            eom = c.send_message("<bob@example.net>", [recipient], HEADERS, [BODY])
        return eom.new_body is not None

    def test_sighup_reloads_policy_and_keeps_the_old_one_when_broken(self):
        self.milter.start()
        self.assertTrue(self.encrypts())
        # Broken policy: logged with file:line, the running policy stays.
        with open(self.milter.policy, "a") as f:
            f.write('[domain."broken.test"]\nmode = "sometimes"\n')
        self.milter.signal(signal.SIGHUP)
        self.milter.wait_for_log("reload failed")
        self.assertRegex(self.milter.log(), r"reload failed, keeping the running configuration: .*domains\.toml:\d+")
        self.assertTrue(self.encrypts())
        # A good policy that turns example.test off takes effect for new connections.
        with open(self.milter.policy, "w") as f:
            f.write('[domain."example.test"]\nmode = "off"\n')
        self.milter.signal(signal.SIGHUP)
        self.milter.wait_for_log("configuration reloaded")
        self.assertIn("configuration reloaded", self.milter.log())
        self.assertFalse(self.encrypts())
        self.assertEqual(self.milter.stop(), 0)

    def test_a_burst_of_sighup_never_stops_the_milter(self):
        # libmilter's own signal thread treats SIGHUP as "stop"; ours must get every one (the daemon's
        # sigwait() keeps SIGHUP from libmilter's thread, and says so at start if a build lost it).
        self.milter.start()
        self.assertNotIn("may take a SIGHUP", self.milter.log())
        for _ in range(50):
            self.milter.signal(signal.SIGHUP)
            time.sleep(0.01)
        time.sleep(0.5)
        self.assertIsNone(self.milter.process.poll(), self.milter.log())
        self.assertTrue(self.encrypts())
        self.assertNotIn("stopping", self.milter.log())
        self.assertEqual(self.milter.stop(), 0)

    def test_pinned_config_survives_a_reload_mid_connection(self):
        self.milter.start()
        with mc.MilterClient(self.milter.socket_path) as c:
            c.negotiate()
            with open(self.milter.policy, "w") as f:
                f.write('[domain."example.test"]\nmode = "off"\n')
            self.milter.signal(signal.SIGHUP)
            self.milter.wait_for_log("configuration reloaded")
            eom = c.send_message("<bob@example.net>", ["<alice@example.test>"], HEADERS, [BODY])
            self.assertIsNotNone(eom.new_body, "the connection's snapshot changed half way")
        self.assertFalse(self.encrypts())
        self.assertEqual(self.milter.stop(), 0)

    def test_sigterm_stops_cleanly_and_removes_the_socket(self):
        self.milter.start()
        started = time.monotonic()
        self.assertEqual(self.milter.stop(), 0)
        self.assertLess(time.monotonic() - started, 15)
        self.assertFalse(os.path.exists(self.milter.socket_path))
        self.assertIn("stopped", self.milter.log())

    def test_sigint_stops_too(self):
        self.milter.start()
        self.milter.signal(signal.SIGINT)
        self.assertEqual(self.milter.process.wait(20), 0)

    def test_a_second_instance_on_the_same_socket_is_refused(self):
        self.milter.start()
        second = self.run_binary("--config", self.milter.config, "--log-stderr")
        self.assertEqual(second.returncode, 75, second.stderr)
        self.assertIn(b"in use", second.stderr)
        self.assertTrue(self.encrypts())  # the first one is unharmed
        self.assertEqual(self.milter.stop(), 0)

    def test_a_stale_socket_is_replaced(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.milter.socket_path)
        s.close()  # bound, never listened, file left behind
        self.milter.start()
        self.assertTrue(self.encrypts())
        self.assertEqual(self.milter.stop(), 0)

    def test_a_file_in_the_way_of_the_socket_is_not_deleted(self):
        with open(self.milter.socket_path, "w") as f:
            f.write("not a socket")
        result = self.run_binary("--config", self.milter.config, "--log-stderr")
        self.assertEqual(result.returncode, 75, result.stderr)
        self.assertTrue(os.path.isfile(self.milter.socket_path))

    def test_bad_config_exits_78_naming_file_and_line(self):
        with open(self.milter.config, "a") as f:
            f.write("\n[milter2]\nx = 1\n")
        result = self.run_binary("--config", self.milter.config)
        self.assertEqual(result.returncode, 78)
        self.assertRegex(result.stderr.decode(), r"mdcrypt-milter\.toml:\d+")
        result = self.run_binary("--config", "/nonexistent/mdcrypt.toml")
        self.assertEqual(result.returncode, 78)

    def test_unusable_gnupg_home_exits_78_and_leaves_no_socket(self):
        with open(self.milter.config) as f:
            text = f.read()
        with open(self.milter.config, "w") as f:
            f.write(text.replace(f'home = "{self.milter.gnupg}"', 'home = "/nonexistent/gnupg"'))
        result = self.run_binary("--config", self.milter.config, "--log-stderr")
        self.assertEqual(result.returncode, 78, result.stderr)
        self.assertIn(b"/nonexistent/gnupg", result.stderr)
        self.assertFalse(os.path.exists(self.milter.socket_path))
        self.assertEqual(self.run_binary("--config", self.milter.config, "--check-config").returncode, 78)

    def test_a_keybox_gpg_reads_but_librnp_cannot_tempfails_with_rnp_and_librnp_words_are_log_lines(self):
        # A keybox header version librnp 0.16 refuses and gpg 2.2 reads. rnp (which lists the keys with
        # librnp too): the lookup fails, 4xx, one line naming the file and the framing check, librnp's own
        # stderr lines as log lines; gpgme: encrypted as before.
        self.milter.start()
        kbx = os.path.join(self.milter.gnupg, "pubring.kbx")
        with open(kbx, "rb") as f:
            original = f.read()
        damaged = bytearray(original)
        damaged[5] = 2  # the header blob's version
        for data in (bytes(damaged), original):
            with open(kbx + ".new", "wb") as f:
                f.write(data)
            os.rename(kbx + ".new", kbx)
            with mc.MilterClient(self.milter.socket_path) as c:
                c.negotiate()
                eom = c.send_message("<bob@example.net>", ["<alice@example.test>"], HEADERS, [BODY])
            if data == original or os.environ.get("MDCRYPT_TEST_ENGINE") != "rnp":
                self.assertEqual(eom.reply, "c", self.milter.log()[-2000:])
                self.assertIsNotNone(eom.new_body)
                continue
            self.assertIsNone(eom.new_body)
            self.assertIn(eom.reply, ("t", "y"))
            if eom.reply == "y":
                self.assertTrue(eom.reply_text.startswith("4"), eom.reply_text)
            log = self.milter.wait_for_log("Wrong version")
            self.assertIn(f"cannot load keyring {kbx}: rnp_load_keys: Bad format", log)
            self.assertIn("its framing is intact (gpg can read it)", log)
            self.assertRegex(log, r"mdcrypt-milter\[\d+\]: warning: librnp/stderr: \[parse\(\) .*Wrong version, expect 1 but has 2")
            self.assertNotRegex(log, r"(?m)^\[parse\(\)")  # no bare librnp line

    def test_explain_names_the_engine(self):
        result = self.run_binary("--config", self.milter.config, "--explain", "alice@example.test")
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout.decode()
        self.assertIn(f"encryption engine: {os.environ.get('MDCRYPT_TEST_ENGINE') or 'gpgme'} (", out)
        self.assertIn("class: encrypt", out)

    def test_check_config_summary(self):
        result = self.run_binary("--config", self.milter.config, "--check-config")
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout.decode()
        self.assertIn("usable keys: 1", out)
        self.assertIn(f"encryption engine: {os.environ.get('MDCRYPT_TEST_ENGINE') or 'gpgme'}\n", out)
        self.assertIn("  example.test: opportunistic", out)
        self.assertIn("  secure.test: required", out)
        self.assertIn("configuration OK", out)
        self.assertNotIn("warning:", out)  # the fixture's gpg.conf has no-random-seed-file, its keys are recorded
        os.remove(os.path.join(self.milter.gnupg, "gpg.conf"))
        out = self.run_binary("--config", self.milter.config, "--check-config").stdout.decode()
        self.assertIn("lacks the line no-random-seed-file", out)
        expected = os.path.join(self.milter.gnupg, "mdcrypt-expected-keys")
        with open(expected) as f:
            recorded = f.read()
        os.remove(expected)
        out = self.run_binary("--config", self.milter.config, "--check-config").stdout.decode()
        self.assertIn("run mdcrypt-keys record", out)
        # A recorded key the keyring lacks fails the check, naming it.
        with open(expected, "w") as f:
            f.write(recorded + "0123456789ABCDEF0123456789ABCDEF01234567 ghost@example.test\n")
        missing = self.run_binary("--config", self.milter.config, "--check-config")
        os.remove(expected)
        with open(expected, "w") as f:
            f.write(recorded)
        self.assertEqual(missing.returncode, 78, missing.stdout)
        self.assertIn(b"0123456789ABCDEF0123456789ABCDEF01234567", missing.stderr)
        self.assertFalse(os.path.exists(self.milter.socket_path))

    def test_version_help_and_usage_errors(self):
        self.assertIn(b"mdcrypt-milter ", self.run_binary("--version").stdout)
        self.assertIn(b"--check-config", self.run_binary("--help").stdout)
        self.assertEqual(self.run_binary("--bogus").returncode, 64)

    def test_privileges_are_dropped_after_binding(self):
        nobody = pwd.getpwnam("nobody")
        nogroup = grp.getgrnam("nogroup")
        os.chmod(self.milter.dir, 0o711)  # let nobody reach its files, as an admin would arrange
        for root, dirs, files in os.walk(self.milter.gnupg):
            for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.chown(name, nobody.pw_uid, nogroup.gr_gid)
        run_dir = os.path.join(self.milter.dir, "run")  # like systemd's RuntimeDirectory: the user's own
        os.mkdir(run_dir, 0o750)
        os.chown(run_dir, nobody.pw_uid, nogroup.gr_gid)
        self.milter.socket_path = os.path.join(run_dir, "milter.sock")
        self.milter.write_config('user = "nobody"\ngroup = "nogroup"', socket="unix:" + self.milter.socket_path)
        self.milter.start()
        self.assertNotIn("running as root", self.milter.log())
        with open(f"/proc/{self.milter.process.pid}/status") as f:
            status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        self.assertEqual(status["Uid"].split(), [str(nobody.pw_uid)] * 4)
        self.assertEqual(status["Gid"].split(), [str(nogroup.gr_gid)] * 4)
        self.assertEqual(status["Groups"].split(), [str(nogroup.gr_gid)])
        spool = os.stat(self.milter.spool)
        self.assertEqual((spool.st_uid, stat.S_IMODE(spool.st_mode)), (nobody.pw_uid, 0o700))
        self.assertEqual(os.stat(self.milter.socket_path).st_uid, nobody.pw_uid)
        self.assertTrue(self.encrypts())
        # --check-config as root reads the home as nobody too: it leaves no root-owned file there.
        check = self.run_binary("--config", self.milter.config, "--check-config")
        self.assertEqual(check.returncode, 0, check.stderr)
        for root, dirs, files in os.walk(self.milter.gnupg):
            for name in dirs + files:
                self.assertEqual(os.lstat(os.path.join(root, name)).st_uid, nobody.pw_uid, name)
        # A keyring file left root's by a plain `gpg --import` as root (umask 077): --check-config names
        # the file, its owner and mode, and the command that fixes it, before gpg's bare "Permission denied".
        keybox = os.path.join(self.milter.gnupg, "pubring.kbx")
        os.chown(keybox, 0, 0)
        os.chmod(keybox, 0o600)
        check = self.run_binary("--config", self.milter.config, "--check-config")
        self.assertEqual(check.returncode, 78)
        self.assertIn(f"{keybox}: not readable by the daemon's user (owner uid 0, gid 0, mode 0600); "
                      f"run as root: chown -R nobody:nogroup {self.milter.gnupg}", check.stderr.decode())
        os.chown(keybox, nobody.pw_uid, nogroup.gr_gid)
        os.chown(self.milter.gnupg, 0, 0)  # a home nobody cannot read: --check-config (as nobody) says so
        check = self.run_binary("--config", self.milter.config, "--check-config")
        self.assertEqual(check.returncode, 78)
        self.assertIn(f"{self.milter.gnupg}: the GnuPG home is not readable and writable by the daemon's user", check.stderr.decode())
        os.chown(self.milter.gnupg, nobody.pw_uid, nogroup.gr_gid)
        self.milter.signal(signal.SIGHUP)  # re-reading the files as nobody works too
        self.milter.wait_for_log("configuration reloaded")
        self.assertIn("configuration reloaded", self.milter.log())
        self.assertTrue(self.encrypts())
        self.assertEqual(self.milter.stop(), 0)
        self.assertFalse(os.path.exists(self.milter.socket_path))

    def test_inet_socket(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.milter.write_config(socket=f"inet:{port}@127.0.0.1")
        self.milter.start()
        self.assertTrue(self.encrypts(address=("127.0.0.1", port)))
        self.assertEqual(self.milter.stop(), 0)

    def test_socket_mode_is_applied(self):
        self.milter.write_config('socket_mode = "0640"')
        self.milter.start()
        self.assertEqual(stat.S_IMODE(os.stat(self.milter.socket_path).st_mode), 0o640)
        self.assertEqual(self.milter.stop(), 0)

    def test_socket_mode_defaults_to_0660_whatever_the_umask(self):
        old = os.umask(0)  # the daemon inherits it: with umask 000 the socket used to be srwxrwxrwx
        try:
            self.milter.start()
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(self.milter.socket_path).st_mode), 0o660)
        self.assertEqual(self.milter.stop(), 0)

    def test_running_as_root_without_a_user_is_warned_about_at_start_and_by_check_config(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        self.milter.start()
        self.assertIn("WARNING: running as root: ", self.milter.log())
        self.assertIn("sets no [milter] user", self.milter.log())
        check = self.run_binary("--config", self.milter.config, "--check-config")
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn(b"WARNING: running as root: ", check.stdout)
        self.assertEqual(self.milter.stop(), 0)


class ConnectionLimit(unittest.TestCase):
    """[milter] max_connections: each connection costs libmilter a thread, so their number is bounded."""

    LIMIT = 3

    def setUp(self):
        self.milter = Milter(MILTER_BINARY, main_extra=f"max_connections = {self.LIMIT}\n")
        self.addCleanup(self.milter.close)
        self.milter.start()
        self.clients = []
        self.addCleanup(lambda: [c.close(polite=False) for c in self.clients])

    def connection(self):
        c = mc.MilterClient(self.milter.socket_path)
        self.clients.append(c)
        c.negotiate()
        return c

    def admitted(self, c):
        """Whether the milter took the connection: it negotiated the connect step away (it has no use
        for it), where a connection over the limit keeps it, to be answered with a tempfail."""
        return bool(c.protocol & mc.SMFIP_NOCONNECT)

    def test_one_connection_over_the_limit_is_tempfailed_at_connect_and_a_freed_slot_is_reused(self):
        held = [self.connection() for _ in range(self.LIMIT)]
        self.assertTrue(all(self.admitted(c) for c in held))
        over = self.connection()
        self.assertFalse(self.admitted(over))
        self.assertEqual(over.connect()[0], b"t")  # SMFIR_TEMPFAIL: the MTA applies milter_default_action
        self.milter.wait_for_log("new connection(s) tempfailed at connect")
        self.assertEqual(self.milter.log().count("max_connections"), 1, self.milter.log()[-2000:])
        self.assertIn(f"{self.LIMIT} connections in use ([milter] max_connections", self.milter.log())
        over.close()
        # A second refusal within the minute is counted, not logged again.
        again = self.connection()
        self.assertFalse(self.admitted(again))
        self.assertEqual(again.connect()[0], b"t")
        again.close()
        # The connections held still work.
        eom = held[0].send_message("<bob@example.net>", ["<alice@example.test>"], HEADERS, [BODY], queue_id="LIM1")
        self.assertEqual(eom.reply, "c")
        self.assertIsNotNone(eom.new_body)
        # A closed connection frees its slot once the milter has seen the close: wait for a new
        # connection to be admitted (the positive event), then use it.
        held.pop().close()
        deadline = time.monotonic() + 30
        while True:
            c = self.connection()
            if self.admitted(c):
                break
            c.close()
            self.assertLess(time.monotonic(), deadline, "the freed slot was never given to a new connection")
            time.sleep(0.05)
        eom = c.send_message("<bob@example.net>", ["<alice@example.test>"], HEADERS, [BODY], queue_id="LIM2")
        self.assertEqual(eom.reply, "c")
        self.assertIsNotNone(eom.new_body)
        self.assertFalse(self.admitted(self.connection()))  # full again
        self.assertEqual(self.milter.log().count("max_connections"), 1)


def main():
    # ctest's timeout sends SIGTERM: unwind, so fixtures stop their daemon and remove their directory.
    signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(128 + signo))
    global MILTER_BINARY
    parser = argparse.ArgumentParser()
    parser.add_argument("--milter", required=True)
    args, rest = parser.parse_known_args()
    MILTER_BINARY = os.path.abspath(args.milter)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
