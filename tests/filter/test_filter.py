#!/usr/bin/python3
"""mdcrypt-filter as a delivery agent runs it: a real binary, real gpg keys, real decryption.

Usage: test_filter.py --filter PATH --make-keys PATH
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import log_line  # noqa: E402

GPG = "/usr/bin/gpg"
STDERR_PREFIX = re.compile(r"mdcrypt-filter\[\d+\]: (info|error): ")
RECORD_STDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "record_stdin.py")
SYSLOG_SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support", "mta", "sendmail_shim.c")
# MDCRYPT_TEST_ENGINE=rnp runs every test with [engine] backend = "rnp" (ctest: filter_pipe_rnp).
ENGINE_TABLE = (f'\n[engine]\nbackend = "{os.environ["MDCRYPT_TEST_ENGINE"]}"\n'
                if os.environ.get("MDCRYPT_TEST_ENGINE") else "")
# With backend = "rnp" (and the default server-keyring trust model) librnp lists the keys too: no gpg runs.
NO_GPG = os.environ.get("MDCRYPT_TEST_ENGINE") == "rnp"
ARGS = None

MESSAGE = (b"Received: from mx.example.net by mx.example.test; Fri, 27 Nov 2026 10:00:00 +0000\r\n"
           b"From: Bob <bob@example.net>\r\n"
           b"To: Alice <alice@example.test>\r\n"
           b"Subject: quarterly numbers\r\n"
           b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <f1@example.net>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain;\r\n charset=\"utf-8\"\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n"
           b"\r\n"
           b"Revenue is up 12 \xe2\x82\xac.\r\nDo not forward.\r\n")


def gpg(home, *args, stdin=None, check=True):
    argv = [GPG, "--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]
    result = subprocess.run(argv + list(args), input=stdin, capture_output=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"gpg {args} failed: {result.stderr.decode('utf-8', 'replace')}")
    return result


def split(message):
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = message.find(sep)
        if at >= 0:
            return message[:at + len(sep)], message[at + len(sep):]
    return message, b""


def armor_of(message):
    start = message.index(b"-----BEGIN PGP MESSAGE-----")
    end = message.index(b"-----END PGP MESSAGE-----") + len(b"-----END PGP MESSAGE-----")
    return message[start:end] + b"\n"


def content_fields_and_body(message):
    """The original entity as RFC 3156 puts it inside: Content-* fields, empty line, body (CRLF)."""
    header, body = split(message)
    fields, current = [], None
    for line in header.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and current is not None:
            current.append(line)
            continue
        if current is not None:
            fields.append(b"\r\n".join(current))
        current = [line] if line else None
    return b"".join(f + b"\r\n" for f in fields if f.lower().startswith(b"content-")) + b"\r\n" + body


class FilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mdcrypt-filter-test.")
        os.chmod(cls.dir, 0o700)
        keys = os.path.join(cls.dir, "keys")
        subprocess.run(["/usr/bin/python3", ARGS.make_keys, "--output", keys], check=True, capture_output=True)
        cls.keys = keys
        cls.server = os.path.join(cls.dir, "server-gnupg")
        cls.client = os.path.join(cls.dir, "client-gnupg")
        for home in (cls.server, cls.client):
            os.mkdir(home, 0o700)
        with open(os.path.join(keys, "public.asc"), "rb") as f:
            gpg(cls.server, "--import", stdin=f.read())
        with open(os.path.join(cls.server, "gpg.conf"), "w") as f:
            f.write("no-random-seed-file\n")
        for name in ("alice", "bob"):
            with open(os.path.join(keys, f"{name}.sec.asc"), "rb") as f:
                gpg(cls.client, "--import", stdin=f.read())
        cls.config = cls.write_config("main", header_protection=False)
        cls.config_hp = cls.write_config("hp", header_protection=True)

    @classmethod
    def write_config(cls, name, header_protection, gpg_program=None, home=None):
        policy = os.path.join(cls.dir, f"{name}-domains.toml")
        with open(policy, "w") as f:
            f.write(f'[default]\nmode = "opportunistic"\nheader_protection = {str(header_protection).lower()}\n\n'
                    '[domain."example.test"]\n\n[domain."secure.test"]\nmode = "required"\n')
        main = os.path.join(cls.dir, f"{name}.toml")
        with open(main, "w") as f:
            f.write(f'[milter]\nsocket = "unix:{cls.dir}/unused.sock"\n\n[gnupg]\nhome = "{home or cls.server}"\n')
            if gpg_program:
                f.write(f'gpg_program = "{gpg_program}"\n')
            f.write(f'\n[policy]\nfile = "{policy}"\n')
            f.write(ENGINE_TABLE)
        return main

    @classmethod
    def tearDownClass(cls):
        for home in (cls.server, cls.client):
            subprocess.run(["/usr/bin/gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_filter(self, message, *recipients, config=None, log_stderr=True, exec_argv=None, env=None):
        argv = [ARGS.filter] + (["--log-stderr"] if log_stderr else []) + ["--config", config or self.config]
        for r in recipients:
            argv += ["--recipient", r]
        if exec_argv:
            argv += ["--exec"] + exec_argv
        return subprocess.run(argv, input=message, capture_output=True, timeout=60, env=env)

    def decrypt(self, message):
        result = gpg(self.client, "--decrypt", stdin=armor_of(message))
        return result.stdout

    def test_encrypts_for_a_keyed_local_recipient_and_gpg_and_sqop_decrypt_the_original(self):
        result = self.run_filter(MESSAGE, "alice@example.test")
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout
        header, body = split(out)
        self.assertIn(b"Content-Type: multipart/encrypted;", header)
        self.assertIn(b'protocol="application/pgp-encrypted"', header)
        self.assertNotIn(b"Revenue", out)
        # Every non-MIME field is kept byte for byte, in order.
        for line in (b"Received: from mx.example.net", b"From: Bob <bob@example.net>", b"Subject: quarterly numbers",
                     b"Message-ID: <f1@example.net>", b"Date: Fri, 27 Nov 2026 10:00:00 +0000"):
            self.assertIn(line, header)
        self.assertEqual(header.count(b"MIME-Version:"), 1)
        expected = content_fields_and_body(MESSAGE)
        self.assertEqual(self.decrypt(out), expected)
        sqop = subprocess.run(["/usr/bin/sqop", "decrypt", os.path.join(self.keys, "alice.sec.asc")],
                              input=armor_of(out), capture_output=True, timeout=60)
        self.assertEqual(sqop.returncode, 0, sqop.stderr)
        self.assertEqual(sqop.stdout, expected)
        _, fields = self.log_fields(result)
        self.assertEqual(fields[0], ("verdict", "encrypt"))
        self.assertNotIn(b"Revenue", result.stderr)  # logs never carry content

    def log_fields(self, result):
        """The filter's one log line on stderr, parsed (tests/support/log_line.py): (queue id, fields)."""
        lines = result.stderr.decode("utf-8", "replace").splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        m = STDERR_PREFIX.match(lines[0])
        self.assertTrue(m, lines[0])
        return log_line.parse(lines[0][m.end():])

    def test_a_sender_chosen_address_can_neither_add_a_log_field_nor_end_one(self):
        hostile = '"a verdict=encrypt x"@example.test'  # local domain, no key: opportunistic passes it
        result = self.run_filter(MESSAGE, hostile)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, MESSAGE)
        queue_id, fields = self.log_fields(result)
        self.assertIsNone(queue_id)
        keys = [k for k, _ in fields]
        self.assertEqual(keys, ["verdict", "exit", "recipients", "rcpt", "class", "keys", "size_in", "size_out",
                                "ms", "reason"], fields)
        f = dict(fields)
        self.assertEqual(f["verdict"], "pass")
        self.assertEqual(f["exit"], "0")
        self.assertEqual(f["rcpt"], f"<{hostile}>")
        self.assertEqual(f["class"], "plain")
        self.assertEqual(f["keys"], "-")
        self.assertIn(f"no key for {hostile}", f["reason"])

    def test_log_words_are_the_shared_vocabulary(self):
        cases = [((MESSAGE, "someone@elsewhere.example"), 0, "pass", "plain"),
                 ((MESSAGE, "nokey@secure.test"), 77, "reject", "refuse"),
                 ((MESSAGE, "alice@example.test", "someone@elsewhere.example"), 75, "defer", None)]
        for args, code, verdict, cls in cases:
            with self.subTest(verdict):
                result = self.run_filter(*args)
                self.assertEqual(result.returncode, code, result.stderr)
                fields = dict(self.log_fields(result)[1])
                self.assertEqual(fields["verdict"], verdict)
                if cls:
                    self.assertEqual(fields["class"], cls)

    def test_lf_input_keeps_lf_outside_and_crlf_inside(self):
        lf = MESSAGE.replace(b"\r\n", b"\n")
        result = self.run_filter(lf, "alice@example.test")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn(b"\r", result.stdout)
        self.assertEqual(self.decrypt(result.stdout), content_fields_and_body(MESSAGE))

    def test_mbox_from_line_stays_in_front(self):
        mbox = b"From bob@example.net Fri Nov 27 10:00:00 2026\n" + MESSAGE.replace(b"\r\n", b"\n")
        result = self.run_filter(mbox, "alice@example.test")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.startswith(b"From bob@example.net Fri Nov 27 10:00:00 2026\nReceived: "))

    def test_header_protection_hides_the_subject_outside_and_keeps_it_inside(self):
        result = self.run_filter(MESSAGE, "alice@example.test", config=self.config_hp)
        self.assertEqual(result.returncode, 0, result.stderr)
        header, _ = split(result.stdout)
        self.assertIn(b"Subject: [...]\r\n", header)
        inner = self.decrypt(result.stdout)
        self.assertIn(b"Subject: quarterly numbers\r\n", split(inner)[0])
        self.assertIn(b'hp="cipher"', split(inner)[0])

    def test_two_keyed_recipients_each_decrypt(self):
        message = MESSAGE.replace(b"To: Alice <alice@example.test>", b"To: alice@example.test, bob@example.test")
        result = self.run_filter(message, "alice@example.test", "Bob@Example.TEST")
        self.assertEqual(result.returncode, 0, result.stderr)
        sqop = subprocess.run(["/usr/bin/sqop", "decrypt", os.path.join(self.keys, "bob.sec.asc")],
                              input=armor_of(result.stdout), capture_output=True, timeout=60)
        self.assertEqual(sqop.returncode, 0, sqop.stderr)
        self.assertEqual(sqop.stdout, content_fields_and_body(message))

    def test_remote_and_keyless_recipients_get_the_message_byte_for_byte(self):
        for recipient in ("someone@elsewhere.example", "carol@example.test"):  # carol's key is not on the server
            result = self.run_filter(MESSAGE, recipient)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout, MESSAGE)

    def test_required_without_key_writes_nothing_and_exits_77(self):
        result = self.run_filter(MESSAGE, "nokey@secure.test")
        self.assertEqual(result.returncode, 77)
        self.assertEqual(result.stdout, b"")
        self.assertIn(b"nokey@secure.test", result.stderr)

    def test_mixed_forms_tempfail_with_nothing_written(self):
        result = self.run_filter(MESSAGE, "alice@example.test", "someone@elsewhere.example")
        self.assertEqual(result.returncode, 75)
        self.assertEqual(result.stdout, b"")

    def test_already_encrypted_mail_passes_unchanged(self):
        first = self.run_filter(MESSAGE, "alice@example.test")
        self.assertEqual(first.returncode, 0, first.stderr)
        again = self.run_filter(first.stdout, "alice@example.test")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(again.stdout, first.stdout)

    def test_gpg_failure_tempfails_and_writes_nothing(self):
        config = self.write_config("broken-gpg", header_protection=False, gpg_program="/bin/false")
        result = self.run_filter(MESSAGE, "alice@example.test", config=config)
        if NO_GPG:  # the broken gpg is never run: looked up and encrypted in-process
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn(b"-----BEGIN PGP MESSAGE-----", result.stdout)
            return
        self.assertEqual(result.returncode, 75)
        self.assertEqual(result.stdout, b"")

    def test_missing_gnupg_home_tempfails(self):
        config = self.write_config("no-home", header_protection=False, home=os.path.join(self.dir, "absent"))
        result = self.run_filter(MESSAGE, "alice@example.test", config=config)
        self.assertEqual(result.returncode, 75)
        self.assertEqual(result.stdout, b"")
        self.assertIn(b"absent", result.stderr)

    def test_bad_configuration_exits_78_naming_file_line_and_key(self):
        bad = os.path.join(self.dir, "bad.toml")
        with open(bad, "w") as f:
            f.write('[milter]\nsocket = "unix:/x"\nsokcet_mode = "0660"\n[policy]\nfile = "main-domains.toml"\n')
        result = self.run_filter(MESSAGE, "alice@example.test", config=bad)
        self.assertEqual(result.returncode, 78)
        self.assertIn(f"{bad}:3:".encode(), result.stderr)
        self.assertIn(b"sokcet_mode", result.stderr)

    def test_empty_input_is_a_data_error(self):
        result = self.run_filter(b"", "alice@example.test")
        self.assertEqual(result.returncode, 65)
        self.assertEqual(result.stdout, b"")

    def syslog_env(self):
        """LD_PRELOAD of tests/support/mta's syslog shim: syslog(3) lines go to a file (no syslog daemon here)."""
        shim = os.path.join(self.dir, "syslog_shim.so")
        if not os.path.exists(shim):
            cc = shutil.which("cc") or shutil.which("gcc")
            if not cc:
                self.skipTest("no C compiler for the syslog shim")
            subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", shim, SYSLOG_SHIM, "-ldl"], check=True)
        log = os.path.join(self.dir, f"syslog-{self.id().rsplit('.', 1)[-1]}")
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = dict(os.environ, LD_PRELOAD=shim, MDCRYPT_SHIM_LOG=log,
                   ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
        return env, log

    def test_success_goes_to_syslog_only_and_failures_to_stderr_too(self):
        env, log = self.syslog_env()
        ok = self.run_filter(MESSAGE, "alice@example.test", log_stderr=False, env=env)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(ok.stderr, b"")  # Dovecot would log any stderr line as Error
        refused = self.run_filter(MESSAGE, "nokey@secure.test", log_stderr=False, env=env)
        self.assertEqual(refused.returncode, 77)
        self.assertEqual(len(refused.stderr.splitlines()), 1, refused.stderr)
        self.assertRegex(refused.stderr.decode(), r"^mdcrypt-filter\[\d+\]: error: verdict=reject exit=77 ")
        with open(log) as f:
            lines = f.read().splitlines()
        # The shim writes "TIME IDENT[PID]: <PRIORITY> LINE"; 6 is LOG_INFO, 3 LOG_ERR.
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[0], r" mdcrypt-filter\[\d+\]: <6> verdict=encrypt exit=0 ")
        self.assertRegex(lines[1], r" mdcrypt-filter\[\d+\]: <3> verdict=reject exit=77 ")
        self.assertNotIn("Revenue", "".join(lines))

    def run_exec(self, message, *recipients, child="0", config=None):
        """The filter with --exec RECORD_STDIN: (result, what the child read or None if it never ran, its argv)."""
        prefix = os.path.join(self.dir, f"child-{self.id().rsplit('.', 1)[-1]}-{child}")
        for suffix in (".stdin", ".argv"):
            if os.path.exists(prefix + suffix):
                os.unlink(prefix + suffix)
        result = self.run_filter(message, *recipients, config=config,
                                 exec_argv=["/usr/bin/python3", RECORD_STDIN, prefix, child, "-d", "a b"])
        self.assertEqual(result.stdout, b"")  # with --exec nothing goes to stdout
        if not os.path.exists(prefix + ".stdin"):
            return result, None, None
        with open(prefix + ".stdin", "rb") as f, open(prefix + ".argv") as g:
            return result, f.read(), g.read().split("\n")

    def test_exec_hands_the_encrypted_message_to_the_child_and_returns_its_status(self):
        result, child_in, argv = self.run_exec(MESSAGE, "alice@example.test")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(argv, ["-d", "a b"])  # arguments passed as given, no shell splitting
        self.assertIn(b"multipart/encrypted", child_in)
        self.assertNotIn(b"Revenue", child_in)
        self.assertEqual(self.decrypt(child_in), content_fields_and_body(MESSAGE))
        plain, child_in, _ = self.run_exec(MESSAGE, "someone@elsewhere.example")
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertEqual(child_in, MESSAGE)
        for code in ("75", "67", "77"):
            with self.subTest(child_exit=code):
                result, child_in, _ = self.run_exec(MESSAGE, "alice@example.test", child=code)
                self.assertIsNotNone(child_in)
                self.assertEqual(result.returncode, int(code), result.stderr)
                self.assertIn(f"exit={code}".encode(), result.stderr)

    def test_exec_child_killed_by_a_signal_is_a_temporary_failure(self):
        result, child_in, _ = self.run_exec(MESSAGE, "alice@example.test", child="kill:9")
        self.assertIsNotNone(child_in)
        self.assertEqual(result.returncode, 75, result.stderr)
        self.assertIn(b"killed by signal 9", result.stderr)

    def test_exec_child_never_starts_when_the_filter_fails(self):
        broken = self.write_config("exec-broken-gpg", header_protection=False, gpg_program="/bin/false")
        cases = [("gpg fails", MESSAGE, ("alice@example.test",), broken, 75)] if not NO_GPG else []
        cases += [("no key, required", MESSAGE, ("nokey@secure.test",), None, 77),
                 ("mixed forms", MESSAGE, ("alice@example.test", "someone@elsewhere.example"), None, 75),
                 ("empty input", b"", ("alice@example.test",), None, 65)]
        for name, message, recipients, config, code in cases:
            with self.subTest(name):
                result, child_in, _ = self.run_exec(message, *recipients, config=config)
                self.assertEqual(result.returncode, code, result.stderr)
                self.assertIsNone(child_in, "the delivery program ran")

    def test_exec_of_a_missing_program_defers_and_names_it(self):
        result = self.run_filter(MESSAGE, "alice@example.test", exec_argv=["/nonexistent/dovecot-lda", "-d", "x"])
        self.assertEqual(result.returncode, 75, result.stderr)
        self.assertIn(b"cannot run /nonexistent/dovecot-lda", result.stderr)
        relative = self.run_filter(MESSAGE, "alice@example.test", exec_argv=["dovecot-lda"])
        self.assertEqual(relative.returncode, 64)
        self.assertIn(b"absolute", relative.stderr)

    def test_usage_errors(self):
        result = subprocess.run([ARGS.filter, "--config", self.config], input=b"", capture_output=True)
        self.assertEqual(result.returncode, 64)
        self.assertIn(b"--recipient", result.stderr)

    # --- Key sources: a per-user key file, subaddresses, --explain ---

    def write_keys_config(self, name):
        """Keyring first, then a per-user key file under <dir>/<name>-vmail; carol's key only in her file."""
        vmail = os.path.join(self.dir, f"{name}-vmail")
        key_dir = os.path.join(vmail, "example.test", "carol", ".pgp")
        os.makedirs(key_dir, mode=0o700)
        shutil.copyfile(os.path.join(self.keys, "carol.pub.asc"), os.path.join(key_dir, "pubkey.asc"))
        policy = os.path.join(self.dir, f"{name}-domains.toml")
        with open(policy, "w") as f:
            f.write('[default]\nmode = "opportunistic"\nheader_protection = false\n\n[domain."example.test"]\n\n'
                    '[recipient."boss@example.test"]\nmode = "required"\n')
        main = os.path.join(self.dir, f"{name}.toml")
        with open(main, "w") as f:
            f.write(f'[gnupg]\nhome = "{self.server}"\n\n[policy]\nfile = "{policy}"\n\n'
                    f'[keys]\nsources = ["keyring", "file"]\nfile_template = "{vmail}/%d/%l/.pgp/pubkey.asc"\n')
            f.write(ENGINE_TABLE)
        return main, os.path.join(key_dir, "pubkey.asc")

    def test_a_key_in_the_users_file_encrypts_for_a_subaddress_and_the_user_decrypts(self):
        config, _ = self.write_keys_config("keyfile")
        result = self.run_filter(MESSAGE, "Carol+Lists@example.test", config=config)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"multipart/encrypted", split(result.stdout)[0])
        carol = os.path.join(self.dir, "carol-gnupg")
        os.mkdir(carol, 0o700)
        try:
            with open(os.path.join(self.keys, "carol.sec.asc"), "rb") as f:
                gpg(carol, "--import", stdin=f.read())
            inner = gpg(carol, "--decrypt", stdin=armor_of(result.stdout)).stdout
            self.assertEqual(inner, content_fields_and_body(MESSAGE))
        finally:
            subprocess.run(["/usr/bin/gpgconf", "--homedir", carol, "--kill", "all"], capture_output=True)
        # The server's keyring still does not know carol: nothing was imported.
        listed = gpg(self.server, "--list-keys", "--with-colons", check=False).stdout
        self.assertNotIn(b"carol@example.test", listed)

    def test_explain_reports_policy_sources_and_class(self):
        config, key_file = self.write_keys_config("explain")
        result = subprocess.run([ARGS.filter, "--config", config, "--explain", "carol+x@example.test",
                                 "boss@example.test", "someone@example.net"], capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout.decode()
        self.assertIn("key sources, in order: keyring", out)
        self.assertIn(f"encryption engine: {os.environ.get('MDCRYPT_TEST_ENGINE') or 'gpgme'} (", out)
        self.assertIn("keys for: carol@example.test (subaddress removed)", out)
        self.assertIn(f"from file {key_file} [used]", out)
        self.assertIn("class: encrypt", out)
        self.assertIn('local: yes, by [recipient."boss@example.test"]', out)
        self.assertIn("class: refuse", out)
        self.assertIn("someone@example.net\n  local: no", out)
        usage = subprocess.run([ARGS.filter, "--config", config, "--explain"], capture_output=True)
        self.assertEqual(usage.returncode, 64)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
    import unittest_main  # noqa: E402
    unittest_main.run(sys.modules[__name__], "--filter", "--make-keys")
