#!/usr/bin/python3
"""The ldap key source against a real slapd (Debian's) on loopback, through mdcrypt-filter.

A private slapd with its own cn=config directory, loaded with the shipped schema
(conf/ldap/openpgp-key.ldif) and entries holding keys from make-test-keys; the server's GnuPG home
holds no key at all, so every key used comes from the directory. Proves: a key in the directory
encrypts (gpg decrypts); no entry gives the recipient mode's no-key verdict; a key whose user ID is
not the address is refused like a key file; an injection attempt in the local part finds nothing;
answers are cached (one search per address per cache period) and failures are not; with slapd down,
keyed and unkeyed recipients alike are deferred (exit 75), never passed in plaintext; the second URI
serves when the first is down; the bind password comes from its file; StartTLS and ldaps:// with a
throwaway CA work, and a server certificate from another CA is refused (deferred, no plaintext search).

Usage: test_filter_ldap.py --filter PATH --make-keys PATH --schema conf/ldap/openpgp-key.ldif
"""
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from slapd_fixture import ADMIN, ADMIN_PASSWORD, SUFFIX, Slapd, TestCa, free_port  # noqa: E402

GPG = "/usr/bin/gpg"
ARGS = None

MESSAGE = (b"From: Bob <bob@example.net>\r\n"
           b"To: Alice <alice@example.test>\r\n"
           b"Subject: quarterly numbers\r\n"
           b"Message-ID: <ldap1@example.net>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=\"utf-8\"\r\n"
           b"\r\n"
           b"Revenue is up.\r\n")

# uid -> (mail, key name from make-test-keys or None, armored?)
ENTRIES = {
    "alice": ("alice@example.test", "alice", False),     # binary key
    "bob": ("bob@example.test", "bob", True),            # armored key; bob is "required" in the policy
    "erin": ("erin@example.test", "alice", False),       # someone else's key; erin is "required"
    "frank": ("frank@example.test", "alice", False),     # someone else's key, opportunistic
    "expired": ("expired.user@example.test", "expired", True),
    "nokey": ("nokey@example.test", None, False),        # an entry without the attribute
}


def gpg(home, *args, stdin=None, check=True):
    argv = [GPG, "--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]
    result = subprocess.run(argv + list(args), input=stdin, capture_output=True, check=False, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"gpg {args} failed: {result.stderr.decode('utf-8', 'replace')}")
    return result


def armor_of(message):
    start = message.index(b"-----BEGIN PGP MESSAGE-----")
    end = message.index(b"-----END PGP MESSAGE-----") + len(b"-----END PGP MESSAGE-----")
    return message[start:end] + b"\n"


def entries_ldif(keys_dir):
    out = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n",
           f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n"]
    for uid, (mail, key, armored) in ENTRIES.items():
        entry = (f"dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nobjectClass: openPGPKeyHolder\n"
                 f"uid: {uid}\ncn: {uid}\nsn: {uid}\nmail: {mail}\n")
        if key:
            with open(os.path.join(keys_dir, f"{key}.pub.asc"), "rb") as f:
                data = f.read()
            if not armored:
                data = gpg(keys_dir + "-dearmor-home", "--dearmor", stdin=data).stdout
            entry += "openPGPPublicKey:: " + base64.b64encode(data).decode() + "\n"
        out.append(entry)
    return "\n".join(out)


class LdapKeySourceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mdcrypt-ldap-test.")
        os.chmod(cls.dir, 0o700)
        cls.keys = os.path.join(cls.dir, "keys")
        subprocess.run(["/usr/bin/python3", ARGS.make_keys, "--output", cls.keys], check=True, capture_output=True)
        os.mkdir(cls.keys + "-dearmor-home", 0o700)
        cls.server = os.path.join(cls.dir, "server-gnupg")  # holds no key: keys come from the directory
        cls.client = os.path.join(cls.dir, "client-gnupg")
        for home in (cls.server, cls.client):
            os.mkdir(home, 0o700)
        for name in ("alice", "bob"):
            with open(os.path.join(cls.keys, f"{name}.sec.asc"), "rb") as f:
                gpg(cls.client, "--import", stdin=f.read())
        cls.ca = TestCa(os.path.join(cls.dir, "ca"), "mdcrypt test CA")
        cls.other_ca = TestCa(os.path.join(cls.dir, "other-ca"), "some other CA")
        cls.slapd = Slapd(os.path.join(cls.dir, "slapd"), ARGS.schema, entries_ldif(cls.keys), cls.ca)
        cls.slapd.start()
        cls.password_file = os.path.join(cls.dir, "ldap.secret")
        fd = os.open(cls.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, ADMIN_PASSWORD.encode() + b"\n")
        os.close(fd)
        with open(os.path.join(cls.dir, "domains.toml"), "w") as f:
            f.write('[default]\nmode = "opportunistic"\n\n[domain."example.test"]\n\n'
                    '[recipient."bob@example.test"]\nmode = "required"\n\n'
                    '[recipient."erin@example.test"]\nmode = "required"\n\n'
                    '[recipient."dave@example.test"]\nmode = "required"\n')
        cls.config = cls.write_config("main", [cls.slapd.uri])

    @classmethod
    def write_config(cls, name, uris, cache_seconds=300, bind=True, tls="none", ca_file=None):
        main = os.path.join(cls.dir, f"{name}.toml")
        uri_list = ", ".join(f'"{u}"' for u in uris)
        with open(main, "w") as f:
            f.write(f'[milter]\nsocket = "unix:{cls.dir}/unused.sock"\n\n[gnupg]\nhome = "{cls.server}"\n\n'
                    f'[keys]\nsources = ["ldap"]\n\n'
                    f'[ldap]\nuris = [{uri_list}]\ntls = "{tls}"\nbase = "ou=people,{SUFFIX}"\n'
                    f'timeout_seconds = 3\ncache_seconds = {cache_seconds}\n')
            if ca_file:
                f.write(f'ca_file = "{ca_file}"\n')
            if bind:
                f.write(f'bind_dn = "{ADMIN}"\nbind_password_file = "{cls.password_file}"\n')
            f.write(f'\n[policy]\nfile = "{cls.dir}/domains.toml"\n')
        return main

    @classmethod
    def tearDownClass(cls):
        cls.slapd.stop()
        for home in (cls.server, cls.client, cls.keys + "-dearmor-home"):
            subprocess.run(["/usr/bin/gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        if self.slapd.process is None:  # a test stopped it
            self.slapd.start()

    def run_filter(self, *recipients, config=None):
        argv = [ARGS.filter, "--config", config or self.config]
        for r in recipients:
            argv += ["--recipient", r]
        return subprocess.run(argv, input=MESSAGE, capture_output=True, timeout=60)

    def explain(self, *addresses, config=None):
        return subprocess.run([ARGS.filter, "--config", config or self.config, "--explain", *addresses],
                              capture_output=True, timeout=60)

    def assert_decrypts(self, output):
        self.assertIn(b"Content-Type: multipart/encrypted;", output)
        self.assertNotIn(b"Revenue", output)
        inner = gpg(self.client, "--decrypt", stdin=armor_of(output)).stdout
        self.assertIn(b"Revenue is up.", inner)

    def test_a_binary_key_in_the_directory_encrypts_and_gpg_decrypts(self):
        result = self.run_filter("alice@example.test")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assert_decrypts(result.stdout)
        listed = gpg(self.server, "--list-keys", "--with-colons", check=False).stdout
        self.assertNotIn(b"alice@example.test", listed)  # nothing imported

    def test_an_armored_key_encrypts_a_required_recipient(self):
        result = self.run_filter("bob@example.test")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assert_decrypts(result.stdout)

    def test_no_entry_gives_the_modes_no_key_verdict(self):
        opportunistic = self.run_filter("carol@example.test")
        self.assertEqual(opportunistic.returncode, 0, opportunistic.stderr)
        self.assertEqual(opportunistic.stdout, MESSAGE)
        without_attribute = self.run_filter("nokey@example.test")
        self.assertEqual(without_attribute.returncode, 0, without_attribute.stderr)
        self.assertEqual(without_attribute.stdout, MESSAGE)
        required = self.run_filter("dave@example.test")
        self.assertEqual(required.returncode, 77, required.stderr)
        self.assertEqual(required.stdout, b"")
        self.assertIn(b"no entry with openPGPPublicKey matches (mail=dave@example.test)", required.stderr)

    def test_a_key_whose_user_id_is_not_the_address_is_refused_like_a_key_file(self):
        required = self.run_filter("erin@example.test")
        self.assertEqual(required.returncode, 77, required.stderr)
        self.assertEqual(required.stdout, b"")
        opportunistic = self.run_filter("frank@example.test")
        self.assertEqual(opportunistic.returncode, 0, opportunistic.stderr)
        self.assertEqual(opportunistic.stdout, MESSAGE)
        explained = self.explain("erin@example.test").stdout.decode()
        self.assertIn("ldap erin@example.test", explained)
        self.assertIn("class: refuse", explained)
        expired = self.explain("expired.user@example.test").stdout.decode()
        self.assertIn("expired", expired)
        self.assertIn("class: plain", expired)

    def test_an_injection_in_the_local_part_finds_nothing(self):
        # Unescaped, "(mail=*)(uid=*@example.test)" would match; size_limit 2 would then make it an error.
        for local in ("*", "*)(uid=*", "*)(|(mail=*"):
            with self.subTest(local=local):
                result = self.explain(f"{local}@example.test")
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                self.assertIn("no entry with openPGPPublicKey matches", result.stdout.decode())
        # slapd logs the filter it parsed: one equality assertion on the literal value.
        self.assertIn(r'filter="(mail=\2A\29\28uid=\2A@example.test)"', self.slapd.read_log())

    def test_answers_are_cached_for_cache_seconds_and_no_entry_too(self):
        before_key, before_none = self.slapd.searches_for("bob@example.test"), self.slapd.searches_for("zed@example.test")
        result = self.explain("bob@example.test", "bob@example.test", "BOB@example.test", "zed@example.test",
                              "zed@example.test")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.slapd.searches_for("bob@example.test") - before_key, 1)
        self.assertEqual(self.slapd.searches_for("zed@example.test") - before_none, 1)
        uncached = self.write_config("uncached", [self.slapd.uri], cache_seconds=0)
        before = self.slapd.searches_for("bob@example.test")
        self.explain("bob@example.test", "bob@example.test", config=uncached)
        self.assertEqual(self.slapd.searches_for("bob@example.test") - before, 2)

    def test_slapd_down_defers_every_recipient_never_plaintext(self):
        self.slapd.stop()
        for recipient in ("bob@example.test", "alice@example.test", "carol@example.test"):
            with self.subTest(recipient=recipient):
                result = self.run_filter(recipient)
                self.assertEqual(result.returncode, 75, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertIn(self.slapd.uri.encode(), result.stderr)  # which server, and why
        explained = self.explain("bob@example.test")
        self.assertEqual(explained.returncode, 75)
        self.assertIn("Can't contact LDAP server", explained.stdout.decode())

    def test_the_second_uri_serves_when_the_first_is_down(self):
        down = f"ldap://127.0.0.1:{free_port()}"
        config = self.write_config("failover", [down, self.slapd.uri])
        result = self.run_filter("alice@example.test", config=config)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assert_decrypts(result.stdout)

    def test_a_wrong_bind_password_defers(self):
        wrong = os.path.join(self.dir, "wrong.secret")
        fd = os.open(wrong, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"Pa55-never-logged\n")
        os.close(fd)
        config = self.write_config("wrongpw", [self.slapd.uri])
        with open(config) as f:
            text = f.read().replace(self.password_file, wrong)
        with open(config, "w") as f:
            f.write(text)
        result = self.run_filter("alice@example.test", config=config)
        self.assertEqual(result.returncode, 75, result.stderr)
        self.assertIn(b"Invalid credentials", result.stderr)
        self.assertNotIn(b"Pa55-never-logged", result.stderr)  # the password is never logged

    def test_starttls_and_ldaps_with_the_servers_ca_encrypt(self):
        for name, tls, uri in (("starttls", "starttls", self.slapd.uri), ("ldaps", "ldaps", self.slapd.ldaps_uri)):
            with self.subTest(tls=tls):
                before = self.slapd.read_log().count("ssf=")
                config = self.write_config(name, [uri], tls=tls, ca_file=self.ca.ca)
                result = self.run_filter("alice@example.test", config=config)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assert_decrypts(result.stdout)
                # The bind went over TLS: slapd logs a transport security strength above 0.
                binds = re.findall(r"BIND dn=\S+ mech=SIMPLE bind_ssf=0 ssf=(\d+)", self.slapd.read_log())
                self.assertTrue(binds and int(binds[-1]) > 0, binds)
                self.assertGreater(self.slapd.read_log().count("ssf="), before)

    def test_a_certificate_from_another_ca_is_refused_and_defers(self):
        searches = self.slapd.searches_for("bob@example.test")
        for name, tls, uri in (("badca-starttls", "starttls", self.slapd.uri),
                               ("badca-ldaps", "ldaps", self.slapd.ldaps_uri)):
            with self.subTest(tls=tls):
                config = self.write_config(name, [uri], tls=tls, ca_file=self.other_ca.ca)
                result = self.run_filter("bob@example.test", config=config)
                self.assertEqual(result.returncode, 75, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertIn(uri.encode(), result.stderr)
        self.assertEqual(self.slapd.searches_for("bob@example.test"), searches)  # nothing asked in the clear


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
    import unittest_main  # noqa: E402
    unittest_main.run(sys.modules[__name__], "--filter", "--make-keys", "--schema")
