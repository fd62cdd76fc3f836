#!/usr/bin/python3
"""Self-service key enrollment with the GnuPG Web Key Service, end to end: a real Postfix 3.7 in front of
the real mdcrypt-milter, the real gpg-wks-server behind the submission address (a pipe(8) transport, as
conf/postfix-wks-master.cf sets it up), and the user's side played by the real gpg-wks-client.

The user makes a key, `gpg-wks-client --create` writes the publication request (encrypted to the
submission address's key), it goes through Postfix and the milter to gpg-wks-server, whose confirmation
request (encrypted to the user's new key) comes back through the milter into the user's Maildir; the
test feeds that to `gpg-wks-client --receive`, sends the response back, and gpg-wks-server publishes the
key into the WKD tree the milter's `wkd` source reads.  The next message to the user is encrypted to that
key, with no reload.  Then a new key replaces it, and `gpg-wks-server --remove-key` withdraws it.

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_wks_enroll.py`.

Test-only arrangements (the rest is conf/'s setup, read from the repository): gpg-wks-server runs as
`nobody` (pipe(8) needs an existing user) and the test dir is traversable (o+x) so that it reaches its
files.  It writes what it sends to a file (`--output`) instead of running /usr/lib/sendmail (`--send`):
Postfix's sendmail, run by a user who is not root, takes a private instance's MAIL_CONFIG only if a system
main.cf lists it, which a test must not write.  The test hands that file to the instance's own sendmail
(`sendmail -C DIR -oi -t`, what --send runs): the same postdrop -> pickup -> cleanup path, so the milter
sees it as non_smtpd_milters, as it would in production; the file also proves the copy in the Maildir
unchanged byte for byte.  The user's client is given the submission address and its key
(`--fake-submission-addr`, an import) instead of fetching them from https://openpgpkey.DOMAIN.
"""
import email.parser
import email.policy
import os
import pwd
import re
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402
from test_milter_common import (MESSAGE, SENDER, MilterDaemon, MilterFixture, body_of, check_encrypted,  # noqa: E402
                                crlf, fields, gpg, inner_entity, run_tests)

CONF = mta.REPO_ROOT / "conf"
WKS_SERVER = "/usr/bin/gpg-wks-server"
WKS_CLIENT = "/usr/lib/gnupg/gpg-wks-client"
DOMAIN = "example.test"
REQUIRED_DOMAIN = "secure.test"
SUBMISSION = f"key-submission@{DOMAIN}"
WKS_USER = "nobody"

ENROLLS = f"wanda@{DOMAIN}"        # enrolls, replaces her key, is withdrawn (opportunistic)
VICTIM = f"victor@{DOMAIN}"        # someone else submits a key in his name
MALLORY = f"mallory@{DOMAIN}"      # does the submitting
FOREIGN = "someone@foreign.test"   # a user ID in a domain this server does not serve
REQUIRED = f"rita@{REQUIRED_DOMAIN}"   # required mode, key installed by the administrator, then withdrawn
NEWBIE = f"nina@{REQUIRED_DOMAIN}"     # required mode, no key yet, tries to enroll

# conf/domains.toml's advice: the submission address is "off" (gpg-wks-server must read its mail as the
# client sent it), whatever its domain's mode.
POLICY = f"""\
[default]
mode = "opportunistic"
header_protection = false

[domain."{DOMAIN}"]

[domain."{REQUIRED_DOMAIN}"]
mode = "required"

[recipient."{SUBMISSION}"]
mode = "off"
"""


def message_to(address: str) -> bytes:
    return MESSAGE.replace(b"To: Alice Example <alice@example.test>", f"To: <{address}>".encode())


class WksEnrollment(MilterFixture, unittest.TestCase):
    """One milter (sources keyring + wkd, wkd_root = gpg-wks-server's directory), one Postfix with the
    wks pipe transport, one gpg-wks-server directory serving example.test and secure.test."""

    @classmethod
    def start_fixture(cls):
        nobody = pwd.getpwnam(WKS_USER)
        cls.wks_ids = (nobody.pw_uid, nobody.pw_gid)
        os.chmod(cls.tmp.path, 0o711)
        cls.wks_dir = cls.tmp / "wks"              # gpg-wks-server -C: <dir>/<domain>/{hu,pending,...}
        cls.wks_home = cls.tmp / "wks-gnupg"       # its GnuPG home: the submission address's secret key
        cls.outbox = cls.tmp / "wks-out"           # copies of what it sends (--output)
        for d in (cls.wks_dir, cls.wks_home, cls.outbox):
            d.mkdir(mode=0o700)
        os.chmod(cls.wks_dir, 0o2750)
        for domain in (DOMAIN, REQUIRED_DOMAIN):
            (cls.wks_dir / domain).mkdir()
            (cls.wks_dir / domain / "submission-address").write_text(SUBMISSION + "\n")
        # The submission address's key, made before the home is handed to the WKS user.
        (cls.wks_home / "gpg.conf").write_text("no-random-seed-file\n")
        # It signs what the server sends (primary key: sign) and decrypts what it receives (subkey).
        created = gpg(cls.wks_home, "--status-fd", "1", "--quick-gen-key", SUBMISSION, "default", "default", "never")
        cls.submission_fpr = re.search(rb"KEY_CREATED \w ([0-9A-F]{40})", created).group(1).decode()
        submission_public = gpg(cls.wks_home, "--export", "--armor", cls.submission_fpr)
        cls.kill_agent(cls.wks_home)
        for root in (cls.wks_dir, cls.wks_home, cls.outbox):
            for dirpath, _, files in os.walk(root):
                for p in [dirpath, *(os.path.join(dirpath, f) for f in files)]:
                    os.chown(p, nobody.pw_uid, nobody.pw_gid)
        cls.as_wks("--list-domains")  # creates hu/ and pending/ with gpg-wks-server's own modes
        cls.as_wks("--install-key", cls.submission_fpr, SUBMISSION)

        cls.milter = MilterDaemon(cls.tmp, keys=f"""\
sources = ["keyring", "wkd"]
wkd_root = "{cls.wks_dir}"
""")
        (cls.tmp / "domains.toml").write_text(POLICY)
        # The user's side: the client encrypts the request to the submission key, which a real client
        # fetches from the domain's WKD over https.
        gpg(cls.milter.secret_home, "--import", stdin=submission_public)
        cls.milter.start()
        cls.pid = cls.milter.process.pid

        main_cf, master_cf = cls.shipped_configuration()
        cls.pf = mta.PostfixInstance(
            cls.tmp, addresses=(ENROLLS, VICTIM, MALLORY, REQUIRED, NEWBIE, SUBMISSION), milter=cls.milter.socket_path,
            main_cf=main_cf, master_cf=master_cf)
        cls.pf.start()
        return [cls.pf]

    @classmethod
    def shipped_configuration(cls) -> tuple[dict[str, str], list[str]]:
        """conf/postfix-wks.cf and conf/postfix-wks-master.cf as shipped, with this test's domain, paths
        and user, and --output added."""
        def adapt(text: str) -> str:
            return (text.replace("example.org", DOMAIN).replace("/var/lib/webkey/gnupg", str(cls.wks_home))
                    .replace("/var/lib/gnupg/wks", str(cls.wks_dir)).replace("user=webkey ", f"user={WKS_USER} "))
        main_cf = {}
        for line in (CONF / "postfix-wks.cf").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, value = line.partition("=")
                main_cf[name.strip()] = adapt(value.strip())
        master_cf = [adapt(line) for line in (CONF / "postfix-wks-master.cf").read_text().splitlines()
                     if line.strip() and not line.startswith("#")]
        if (len(master_cf) != 2 or f"user={WKS_USER} " not in master_cf[1] or str(cls.wks_dir) not in master_cf[1]
                or " --send " not in master_cf[1]):
            raise ValueError(f"postfix-wks-master.cf is not what this test knows how to adapt: {master_cf}")
        master_cf[1] = master_cf[1].replace(" --send ", f" --output {cls.outbox}/last.eml ")
        return main_cf, master_cf

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def kill_agent(home: Path) -> None:
        subprocess.run(["/usr/bin/gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True,
                       check=False, timeout=60)

    @classmethod
    def as_wks(cls, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """gpg-wks-server as the WKS user, as an administrator runs it (`sudo -u webkey ...`)."""
        uid, gid = cls.wks_ids
        r = subprocess.run([WKS_SERVER, "-C", str(cls.wks_dir), *args], capture_output=True, timeout=120, check=False,
                           env={"GNUPGHOME": str(cls.wks_home), "PATH": "/usr/bin:/bin"},
                           user=uid, group=gid, extra_groups=[])
        if check and r.returncode != 0:
            raise AssertionError(f"gpg-wks-server {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
        return r

    def client(self, *args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """gpg-wks-client in the users' GnuPG home (the milter fixture's secret side)."""
        r = subprocess.run([WKS_CLIENT, "--fake-submission-addr", SUBMISSION, *args], input=stdin, capture_output=True,
                           timeout=120, check=False, env={"GNUPGHOME": str(self.milter.secret_home), "PATH": "/usr/bin:/bin"})
        if check and r.returncode != 0:
            raise AssertionError(f"gpg-wks-client {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
        return r

    def published(self, address: str) -> Path:
        local, domain = address.split("@")
        hashed = self.client("--print-wkd-hash", address).stdout.decode().split()[0]
        return self.wks_dir / domain / "hu" / hashed

    def send(self, mail_from: str, rcpt: str, message: bytes) -> mta.SmtpResult:
        res = self.pf.send(mail_from, [rcpt], message)
        self.assertTrue(res.accepted, f"{res.transcript}\n--- milter ---\n{self.milter.log()[-3000:]}")
        return res

    def submit(self, name: str, address: str, *, envelope_from: str | None = None,
               header_from: str | None = None) -> bytes | None:
        """`gpg-wks-client --create` for the key the test knows as `name`, sent to the submission address
        through Postfix and the milter. Returns the server's answer as it sent it, if any."""
        request = self.client("--create", self.milter.fingerprints[name], address).stdout
        if header_from:
            request = re.sub(rb"(?m)^From: .*$", f"From: {header_from}".encode(), request, count=1)
        res = self.send(envelope_from or address, SUBMISSION, request)
        # The milter passed it as it is: the submission address is "off" (and the request encrypted).
        self.milter.wait_for_log(rf"{res.queue_id}: verdict=pass ")
        return self.server_answer(res)

    def server_answer(self, res: mta.SmtpResult) -> bytes | None:
        """Waits until Postfix has handed the message of `res` to gpg-wks-server, then sends what the server
        wrote, if anything, as --send would (see the module's notes). Returns it."""
        self.pf.wait_for_log(rf"{res.queue_id}: to=<{re.escape(SUBMISSION)}>, relay=wks, .*status=", timeout=60)
        out = self.outbox / "last.eml"
        if not out.exists():
            return None
        mail = out.read_bytes()
        out.unlink()
        subprocess.run([f"{mta.POSTFIX_SBIN}/sendmail", "-C", str(self.pf.conf_dir), "-oi", "-t"], input=mail,
                       capture_output=True, check=True, timeout=60)
        return mail

    def confirmation_for(self, address: str, before: int, sent: bytes | None, published: str | None = None) -> bytes:
        """The confirmation request gpg-wks-server sent to `address`, as it arrived in the Maildir.
        Without a published key (`published` None) it is the server's mail byte for byte: the milter
        passed it (the user has no key, so it would pass under opportunistic anyway). With one it is
        signed, not encrypted, at the top (draft 3 signs the encrypted request), so the milter encrypts
        it like any signed mail, to the published key (the test's name for it): that key decrypts it to
        the server's mail, which the client then reads (see enroll)."""
        self.assertIsNotNone(sent, "gpg-wks-server sent nothing")
        [*_, stored] = self.pf.wait_for_maildir(address, before + 1, timeout=60)
        if published:
            parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(crlf(stored))
            self.assertEqual(parsed.get_content_type(), "multipart/encrypted")
            armor = parsed.get_payload()[1].get_payload(decode=False).encode()
            self.assertEqual(self.pkesk_recipients(armor), self.subkey_ids(published))
            r = self.milter.decrypt_sqop(published, armor)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, inner_entity(sent), "not the server's mail inside")
            return stored
        self.assertEqual(body_of(stored), body_of(sent), "confirmation request: body changed")
        # Postfix adds its own fields (and Date and Message-ID, which gpg-wks-server leaves out); the
        # server's own fields arrive as it wrote them, in its order.
        sent_fields = fields(mta.split_message(sent)[0])
        added = {"return-path", "delivered-to", "x-original-to", "received", "date", "message-id"} - {n.lower() for n, _ in sent_fields}
        got = [f for f in fields(mta.split_message(stored)[0]) if f[0].lower() not in added]
        self.assertEqual(got, sent_fields, "confirmation request: header changed")
        parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(crlf(stored))
        # Draft 3: the request (encrypted), signed by the submission key around it.
        self.assertEqual(parsed.get_content_type(), "multipart/signed")
        self.assertIn(b"-----BEGIN PGP MESSAGE-----", stored)
        self.assertEqual(parsed["To"].strip(), address)
        return stored

    def pkesk_recipients(self, armored: bytes) -> set[str]:
        """Key IDs of the public-key encrypted session key packets (gpg --list-packets, no decryption)."""
        out = subprocess.run(["/usr/bin/gpg", "--batch", "--no-tty", "--homedir", str(self.tmp.subdir("empty-gnupg")),
                              "--list-packets", "--list-only"], input=armored, capture_output=True, timeout=60)
        return set(re.findall(r"pubkey enc packet: version \d, algo \d+, keyid ([0-9A-F]{16})", out.stdout.decode()
                              + out.stderr.decode()))

    def subkey_ids(self, name: str) -> set[str]:
        out = gpg(self.milter.secret_home, "--with-colons", "--list-keys", self.milter.fingerprints[name]).decode()
        return {line.split(":")[4] for line in out.splitlines() if line.startswith("sub:")}

    def enroll(self, name: str, address: str, published: str | None = None) -> None:
        """The whole protocol for the key known as `name`: request, confirmation request, response, published.
        `published`: the test's name of the key already published for `address`, if any."""
        path = self.published(address)
        old = path.read_bytes() if path.exists() else None
        before = len(self.pf.maildir_messages(address))
        confirmation = self.confirmation_for(address, before, self.submit(name, address), published)
        if not published:
            # The request inside is encrypted to the submitted key, and only to it.
            armor = confirmation[confirmation.index(b"-----BEGIN PGP MESSAGE-----"):]
            self.assertEqual(self.pkesk_recipients(armor), self.subkey_ids(name))
        response = self.client("--receive", stdin=crlf(confirmation)).stdout
        self.assertIn(f"To: {SUBMISSION}".encode(), response)
        count = len(self.pf.maildir_messages(address))
        notice = self.server_answer(self.send(address, SUBMISSION, response))
        if notice:  # "key published", also through the milter
            self.pf.wait_for_maildir(address, count + 1, timeout=60)
        deadline = time.monotonic() + 60
        while not (path.exists() and path.read_bytes() != old):
            self.assertLess(time.monotonic(), deadline, f"{address}: key never published\n{self.pf.maillog()[-3000:]}")
            time.sleep(0.1)

    def assert_encrypted_to(self, address: str, reader: str, others=()) -> None:
        before = len(self.pf.maildir_messages(address))
        res = self.send(SENDER, address, message_to(address))
        [*_, stored] = self.pf.wait_for_maildir(address, before + 1)
        check_encrypted(self, self.milter, stored, message_to(address), readers=[reader], others=list(others))
        self.milter.wait_for_log(rf"{res.queue_id}: verdict=encrypt recipients=1 keys={self.milter.fingerprints[reader]} ")

    def assert_same_daemon(self) -> None:
        self.assertTrue(self.milter.process.alive(), self.milter.log()[-3000:])
        self.assertEqual(self.milter.process.pid, self.pid)
        self.assertEqual(self.milter.log().count(" listening on "), 1)

    # -- tests -----------------------------------------------------------------------------------
    def test_enroll_replace_and_withdraw_a_key_without_reload(self):
        public = self.milter.make_key("wanda", ENROLLS)
        del public
        before = len(self.pf.maildir_messages(ENROLLS))
        self.send(SENDER, ENROLLS, message_to(ENROLLS))  # no key yet: opportunistic delivers it as sent
        [*_, stored] = self.pf.wait_for_maildir(ENROLLS, before + 1)
        self.assertNotIn(b"multipart/encrypted", mta.split_message(stored)[0])

        self.enroll("wanda", ENROLLS)
        path = self.published(ENROLLS)
        self.assertEqual(path.stat().st_mode & 0o777, 0o644, "the milter's user must be able to read it")
        self.assert_encrypted_to(ENROLLS, "wanda")

        # A new key replaces the old one. The confirmation request reaches wanda encrypted to her old
        # key (by the milter, around the server's signed mail), which gpg-wks-client reads as it is;
        # the next message is for the new key only.
        self.milter.make_key("wanda-new", ENROLLS)
        self.enroll("wanda-new", ENROLLS, published="wanda")
        self.assert_encrypted_to(ENROLLS, "wanda-new", others=["wanda"])

        # Withdrawn by the administrator: opportunistic, so plaintext again, the reason logged.
        self.as_wks("--remove-key", ENROLLS)
        self.assertFalse(path.exists())
        before = len(self.pf.maildir_messages(ENROLLS))
        self.send(SENDER, ENROLLS, message_to(ENROLLS))
        [*_, stored] = self.pf.wait_for_maildir(ENROLLS, before + 1)
        header, body = mta.split_message(stored)
        self.assertNotIn(b"multipart/encrypted", header)
        self.assertEqual(crlf(body), crlf(mta.split_message(MESSAGE)[1]))
        self.milter.wait_for_log(rf"<{re.escape(ENROLLS)}>.*no usable key: .*wkd {re.escape(str(path))}: "
                                 "no such file")
        self.assert_same_daemon()

    def test_a_required_users_withdrawn_key_means_refusal(self):
        # The administrator publishes the first key (gpg-wks-server --install-key), see the next test.
        key_file = self.tmp / "rita.pub.asc"
        key_file.write_bytes(self.milter.make_key("rita", REQUIRED))
        os.chmod(key_file, 0o644)
        self.as_wks("--install-key", f"{key_file}", REQUIRED)
        self.assert_encrypted_to(REQUIRED, "rita")
        self.as_wks("--remove-key", REQUIRED)
        res = self.pf.send(SENDER, [REQUIRED], message_to(REQUIRED))
        self.assertEqual(res.rcpt_codes, {REQUIRED: 550}, res.transcript)
        self.assertIn("5.7.1", res.first_failure().text)
        self.assert_same_daemon()

    def test_first_enrollment_in_a_required_domain_is_refused_like_any_mail_without_key(self):
        # The milter decides at RCPT, before it sees that the confirmation request is encrypted: under
        # "required" a user without a key cannot receive it (README: enroll first, then require).
        self.milter.make_key("nina", NEWBIE)
        self.assertIsNotNone(self.submit("nina", NEWBIE))
        self.pf.wait_for_log(rf"milter-reject: .*5\.7\.1 {re.escape(NEWBIE)}: encryption is required .*"
                             rf"to=<{re.escape(NEWBIE)}>", timeout=60)
        self.assertEqual(self.pf.maildir_messages(NEWBIE), [])
        self.assertFalse(self.published(NEWBIE).exists())

    def test_a_key_in_someone_elses_name_needs_that_mailbox_to_confirm(self):
        # mallory makes a key with victor's address and submits it from her own address: gpg-wks-server
        # sends the confirmation request to the address in the user ID, so it lands in victor's
        # mailbox (unchanged; victor has no key) and mallory, who holds the key, never sees it.
        self.milter.make_key("mallory-as-victor", VICTIM)
        sent = self.submit("mallory-as-victor", VICTIM, envelope_from=MALLORY, header_from=MALLORY)
        self.confirmation_for(VICTIM, 0, sent)
        self.assertEqual(self.pf.maildir_messages(MALLORY), [])
        time.sleep(1)
        self.assertFalse(self.published(VICTIM).exists())
        # The client itself refuses a user ID that is not the address it is asked to publish.
        r = self.client("--create", self.milter.fingerprints["mallory-as-victor"], MALLORY, check=False)
        self.assertNotEqual(r.returncode, 0)  # GnuPG 2.2.40 even crashes (139) here; it writes no request
        self.assertEqual(r.stdout, b"")

    def test_a_key_for_a_domain_the_server_does_not_serve_is_refused(self):
        self.milter.make_key("foreign", FOREIGN)
        pending = len(list((self.wks_dir / DOMAIN / "pending").iterdir()))
        request = self.client("--create", self.milter.fingerprints["foreign"], FOREIGN).stdout
        res = self.send(MALLORY, SUBMISSION, request)
        self.assertIsNone(self.server_answer(res))
        # gpg-wks-server serves only the domains with a directory under -C: it took the message (exit 0,
        # status=sent), sent nothing (checked above), kept nothing and published nothing.
        self.assertFalse((self.wks_dir / "foreign.test").exists())
        self.assertEqual(len(list((self.wks_dir / DOMAIN / "pending").iterdir())), pending, "a request was kept")


if __name__ == "__main__":
    sys.exit(run_tests(sys.modules[__name__]))
