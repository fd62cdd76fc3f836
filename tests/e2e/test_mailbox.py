#!/usr/bin/python3
"""mdcrypt-mailbox against a real private Dovecot 2.3 (tests/e2e/dovecot.py), per storage format.

A keyed user (alice, policy encrypts) with 500 messages over five folders (mailbox_corpus.py: flags,
keywords, distinct INTERNALDATEs, plain/8bit/QP/alternative/attachments, PGP/MIME signed, and already
protected PGP/MIME, inline PGP and S/MIME) and a keyless one (carol, left plain). Dovecot's cache is
warmed the way mail clients warm it, so Subjects and previews sit in dovecot.index.cache. Then:

  1. --dry-run changes nothing and counts right;
  2. the real run while an IMAP client changes flags and expunges (with CONDSTORE, recording what it
     did) and LMTP delivers new plaintext mail;
  3. afterwards, over IMAP: the same messages (minus the client's expunges, plus the deliveries), each
     once, with flags as last set, keywords and INTERNALDATE; a second run encrypts the deliveries;
     every replaced message is PGP/MIME and decrypts (gpg all, sqop and rnp a sample) to its original
     Content-* fields and body (RFC 9788 header protection on: the original header inside), signed ones
     still verify, protected ones and carol's are byte-identical under the same UID, and no marker of a
     replaced message is in any file under the mail location;
  4. a third run encrypts 0 and changes nothing, UIDs included.
Then, on a smaller mailbox: 20 runs killed with SIGKILL at seeded random moments (Dovecot killed too in
some: a process crash of everything, as at power loss but with the page cache kept), each followed by a
check that no message is doubled (those in flight between the tool's EXPUNGE and APPEND are only in its
journal until the next run, and counted); a clean run finishes with every message there once; runs
killed right after the server's reply to STORE, EXPUNGE and APPEND (doveadm_kill_proxy.py); and a
damaged keyring fails with 75, leaving the messages as they were. With a full-text index (fts-xapian):
the words of replaced messages are in the index before the run and nowhere after it.

MDCRYPT_MAILBOX names the tool (ctest passes $<TARGET_FILE:mdcrypt-mailbox>); without it only the
harness checks run. MDCRYPT_MAILBOX_SEED fixes the RNG seed (printed). Run by ctest as
`/usr/bin/python3 tests/e2e/test_mailbox.py` (label e2e).
"""
from __future__ import annotations

import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dovecot  # noqa: E402
import mailbox_corpus as mc  # noqa: E402
import mta  # noqa: E402
from test_dovecot_delivery import cut_off_keybox, write_keybox  # noqa: E402
from test_milter_common import ENGINE_TABLE, MilterDaemon, fields, inner_entity  # noqa: E402

SQOP = "/usr/bin/sqop"
RNP = "/usr/bin/rnp"
SEED = int(os.environ.get("MDCRYPT_MAILBOX_SEED") or random.SystemRandom().randrange(1 << 32))
SUMMARY_RX = re.compile(r"^mdcrypt-mailbox: (\S+): (encrypted|would encrypt) (\d+), already protected (\d+), "
                        r"left plain (\d+), failed (\d+)$", re.M)
HP_PARAMS_RX = re.compile(rb'\s*;\s*hp="cipher";\s*protected-headers="v1"\s*')
KEYED_USER, KEYLESS_USER = "alice", "carol"
FSYNC = "mail_fsync = never\n"  # speed; a kill -9 of Dovecot still loses everything it had not written


def tool() -> Path | None:
    env = os.environ.get("MDCRYPT_MAILBOX")
    return Path(env) if env else mta.binary("mdcrypt-mailbox", required=False)


class Summary:
    def __init__(self, proc: subprocess.CompletedProcess, user: str):
        self.proc = proc
        self.stdout = proc.stdout.decode(errors="replace")
        self.stderr = proc.stderr.decode(errors="replace")
        m = [x for x in SUMMARY_RX.finditer(self.stdout) if x.group(1) == user]
        self.found = bool(m)
        g = m[-1].groups() if m else (user, "", "-1", "-1", "-1", "-1")
        self.verb = g[1]
        self.encrypted, self.protected, self.plain, self.failed = (int(x) for x in g[2:])

    def __str__(self):
        return f"exit {self.proc.returncode}\n--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}"


class Setup:
    """Keys, config, Dovecot and the corpus for one storage format."""

    def __init__(self, storage: str, count: int, keyless_count: int, rng: random.Random, extra_config: str = ""):
        self.tmp = mta.TempDir(prefix="mailbox-")
        try:
            os.chmod(self.tmp.path, 0o711)
            self.keys = MilterDaemon(self.tmp)  # alice and dave keyed, public keys in keys.home
            self.keybox = self.keys.home / "pubring.kbx"
            self.dovecot = dovecot.DovecotInstance(self.tmp.path, [KEYED_USER, KEYLESS_USER], storage=storage,
                                                   extra_config=FSYNC + extra_config).start()
            (self.tmp / "policy.toml").write_text('[default]\nmode = "opportunistic"\n\n[domain."example.test"]\n')
            self.config = self.write_config("mdcrypt-mailbox.toml", dovecot.DOVEADM)
            self.crypto = mc.Crypto(self.keys.secret_home, self.keys.fingerprints["alice"], self.tmp / "corpus")
            self.gen = mc.Generator(rng, self.crypto)
            self.specs = self.gen.mailbox(count)
            self.keyless_gen = mc.Generator(rng, None, owner="carol@example.test")
            self.keyless_specs = self.keyless_gen.mailbox(keyless_count, folders=("INBOX", "Sent"))
            with self.dovecot.imap(KEYED_USER) as imap:
                mc.populate(imap, self.specs)
                mc.warm_cache(imap)
            if self.keyless_specs:
                with self.dovecot.imap(KEYLESS_USER) as imap:
                    mc.populate(imap, self.keyless_specs)
                    mc.warm_cache(imap)
            self.rnp_home = self.tmp.subdir("rnp-home")
        except BaseException:
            self.tmp.cleanup()
            raise

    def write_config(self, name: str, doveadm) -> Path:
        path = self.tmp / name
        path.write_text(f"""\
[gnupg]
home = "{self.keys.home}"

[policy]
file = "{self.tmp / 'policy.toml'}"

[mailbox]
doveadm = "{doveadm}"
dovecot_config = "{self.dovecot.config}"
state_directory = "{self.tmp / 'state'}"
address_domain = "example.test"
{ENGINE_TABLE}""")
        return path

    def proxy_config(self, after: str, nth: int) -> tuple[Path, Path]:
        """A config whose doveadm is doveadm_kill_proxy.py, set to kill the tool after the server's OK to
        the nth `after` command; returns (config, the proxy's log)."""
        proxy = self.tmp / "doveadm-proxy"
        proxy.write_bytes((Path(__file__).parent / "doveadm_kill_proxy.py").read_bytes())
        os.chmod(proxy, 0o700)
        proxy.with_suffix(".json").write_text(json.dumps({"doveadm": dovecot.DOVEADM, "after": after, "nth": nth}))
        proxy.with_suffix(".log").unlink(missing_ok=True)
        return self.write_config("mdcrypt-mailbox-proxy.toml", proxy), proxy.with_suffix(".log")

    def cleanup(self):
        try:
            self.dovecot.stop()
        finally:
            self.tmp.cleanup()

    def argv(self, user: str, *extra: str, config: Path | None = None) -> list[str]:
        return [str(tool()), "--config", str(config or self.config), "--user", user, "--progress", "lines", *extra]

    def run_tool(self, user: str, *extra: str, timeout: float = 600, config: Path | None = None) -> Summary:
        proc = subprocess.run(self.argv(user, *extra, config=config), capture_output=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
        return Summary(proc, user)

    def snapshot(self, user: str, with_data: bool = True) -> list[mc.Stored]:
        with self.dovecot.imap(user) as imap:
            return mc.snapshot(imap, with_data)

    def decrypt_gpg(self, armor: bytes) -> bytes:
        return self.keys.decrypt_gpg(armor)

    def decrypt_sqop(self, armor: bytes) -> bytes:
        r = self.keys.decrypt_sqop("alice", armor)
        if r.returncode != 0:
            raise AssertionError(f"sqop decrypt: {r.stderr.decode(errors='replace')}")
        return r.stdout

    def decrypt_rnp(self, armor: bytes) -> bytes:
        r = subprocess.run([RNP, "--homedir", str(self.rnp_home), "--keyfile", str(self.keys.key_files["alice"]),
                            "--decrypt", "--output", "-"], input=armor, capture_output=True, timeout=120, check=False)
        if r.returncode != 0:
            raise AssertionError(f"rnp decrypt: {r.stderr.decode(errors='replace')}")
        return r.stdout


def armor_of(data: bytes) -> bytes:
    start = data.index(b"-----BEGIN PGP MESSAGE-----")
    end = data.index(b"-----END PGP MESSAGE-----") + len(b"-----END PGP MESSAGE-----")
    return data[start:end] + b"\r\n"


def process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def is_pgp_mime(data: bytes) -> bool:
    header, _ = mc.split_message(data)
    ct = b" ".join(v for n, v in fields(header) if n.lower() == "content-type")
    return re.match(rb'\s*multipart/encrypted\s*;', ct, re.I) is not None and b"application/pgp-encrypted" in ct


def content_fields(fs):
    return [(n, v) for n, v in fs if n.lower().startswith("content-")]


def other_fields(fs):
    return [(n, v) for n, v in fs if not n.lower().startswith("content-") and n.lower() not in ("mime-version", "hp-outer")]


def signed_part(entity: bytes) -> tuple[bytes, bytes]:
    """(the signed first part as bytes, the armored signature) of a multipart/signed entity (CRLF)."""
    header, body = mc.split_message(entity)
    ct = b"".join(v for n, v in fields(header) if n.lower() == "content-type")
    boundary = re.search(rb'boundary="([^"]+)"', ct).group(1)
    delim = b"\r\n--" + boundary
    first = body.index(b"--" + boundary + b"\r\n") + len(boundary) + 4
    end = body.index(delim, first)
    data = body[first:end]
    sig_start = body.index(b"-----BEGIN PGP SIGNATURE-----", end)
    sig_end = body.index(b"-----END PGP SIGNATURE-----", sig_start) + len(b"-----END PGP SIGNATURE-----")
    return data, body[sig_start:sig_end] + b"\r\n"


class Checks:
    """Checks shared by the test classes (a mixin for unittest.TestCase)."""

    def assert_inner(self, original: bytes, inner: bytes, signed: bool, what: str, exact: bool = True) -> None:
        """`inner` (decrypted) holds the original's Content-* fields and body byte for byte; with header
        protection (not for signed mail) the original's other fields too, in order, and the Content-Type
        gets hp="cipher"; protected-headers="v1" appended. exact=False: `original` is what was sent and
        the server added fields on top, so its other fields need only end the inner header's."""
        if signed:
            self.assertEqual(inner, inner_entity(original), f"{what}: signed entity changed")
            return
        oh, ob = mc.split_message(original)
        ih, ib = mc.split_message(inner)
        self.assertEqual(ib, ob, f"{what}: body changed")
        of, if_ = fields(oh), fields(ih)
        oc, ic = content_fields(of), content_fields(if_)
        self.assertEqual([n for n, _ in ic], [n for n, _ in oc], f"{what}: Content-* fields")
        for (name, ov), (_, iv) in zip(oc, ic):
            if name.lower() == "content-type":
                self.assertTrue(iv.startswith(ov), f"{what}: Content-Type {iv!r} does not start with {ov!r}")
                self.assertRegex(iv[len(ov):].replace(b"\r\n", b""), HP_PARAMS_RX, f"{what}: hp parameters")
            else:
                self.assertEqual(iv, ov, f"{what}: {name}")
        inner_others, sent_others = other_fields(if_), other_fields(of)
        if not exact:
            inner_others = inner_others[len(inner_others) - len(sent_others):]
        self.assertEqual(inner_others, sent_others, f"{what}: protected header fields")

    def assert_replaced(self, s: Setup, original: bytes, stored: bytes, signed: bool, markers: tuple[str, ...],
                        what: str, decrypt=None, exact: bool = True) -> bytes:
        self.assertTrue(is_pgp_mime(stored), f"{what}: not PGP/MIME: {stored[:600]!r}")
        self.assertEqual(mc.message_id(stored), mc.message_id(original), what)
        for m in markers:
            self.assertNotIn(m.encode(), stored, f"{what}: marker {m} in the stored message")
        inner = (decrypt or s.decrypt_gpg)(armor_of(stored))
        self.assert_inner(original, inner, signed, what, exact)
        if signed:
            data, sig = signed_part(inner)
            self.assertTrue(s.crypto.verify_detached(sig, data), f"{what}: signature does not verify after decryption")
        return inner

    def assert_summary(self, r: Summary, rc: int, verb: str = "encrypted", encrypted=None, protected=None,
                       plain=None, failed=None):
        self.assertEqual(r.proc.returncode, rc, str(r))
        self.assertTrue(r.found, f"no summary line:\n{r}")
        self.assertEqual(r.verb, verb, str(r))
        for name, want in (("encrypted", encrypted), ("protected", protected), ("plain", plain), ("failed", failed)):
            if want is not None:
                self.assertEqual(getattr(r, name), want, f"{name}: {r}")


class BusyClient(threading.Thread):
    """A mail client working on the keyed user's mailbox while the tool runs: sets and clears flags and
    keywords and expunges a few messages, each with CONDSTORE (UNCHANGEDSINCE), so what it records is what
    the server confirmed. A message the tool has marked \\Deleted (replacement in flight) is left for a
    later try, as a client hides deleted messages. Records: flags[key] (last confirmed), expunged,
    copies_seen (times a search found two undeleted copies)."""

    ACTIONS = (("+FLAGS", "\\Flagged"), ("-FLAGS", "\\Flagged"), ("+FLAGS", "\\Seen"), ("-FLAGS", "\\Seen"),
               ("+FLAGS", "Work"), ("-FLAGS", "Work"), ("+FLAGS", "$Label1"), ("-FLAGS", "$Answered"))

    def __init__(self, s: Setup, keys: list[tuple[str, str]], rng: random.Random, max_expunges: int):
        super().__init__(daemon=True)
        self.s, self.keys, self.rng, self.max_expunges = s, list(keys), rng, max_expunges
        self.stop = threading.Event()
        self.flags: dict[tuple[str, str], frozenset[str]] = {}
        self.expunged: set[tuple[str, str]] = set()
        self.copies_seen: list[tuple[str, str]] = []
        self.actions = 0
        self.retries: collections.Counter = collections.Counter()
        self.error: BaseException | None = None

    def run(self):
        try:
            with self.s.dovecot.imap(KEYED_USER) as imap:
                while not self.stop.is_set():
                    self.step(imap)
                    time.sleep(0.01)
        except BaseException as e:  # reported by the test
            self.error = e

    def step(self, imap):
        key = self.rng.choice(self.keys)
        folder, mid = key
        mc.check(*imap.select(mc.quoted(folder)), f"SELECT {folder}")
        typ, data = imap.uid("SEARCH", None, "UNDELETED", "HEADER", "Message-ID", f'"{mid}"')
        uids = mc.check(typ, data, "SEARCH")[0].split()
        if len(uids) > 1:
            self.copies_seen.append(key)
        if not uids:
            self.retries["not found"] += 1
            return
        uid = uids[-1].decode()
        typ, data = imap.uid("FETCH", uid, "(FLAGS MODSEQ)")
        cur = [d for d in mc.check(typ, data, "FETCH") if isinstance(d, bytes) and f"UID {uid}".encode() in d]
        if not cur:
            self.retries["gone before FETCH"] += 1
            return
        modseq = int(re.search(rb"MODSEQ \((\d+)\)", cur[0]).group(1))
        expunge = len(self.expunged) < self.max_expunges and self.rng.random() < 0.08
        op, flag = ("+FLAGS", "\\Deleted") if expunge else self.rng.choice(self.ACTIONS)
        typ, data = imap.uid("STORE", uid, f"(UNCHANGEDSINCE {modseq}) {op}", f"({flag})")
        mc.check(typ, data, "STORE")
        got = [mc.parse_fetch_meta(d)[1] for d in data if isinstance(d, bytes) and f"UID {uid}".encode() in d]
        if not got or got[-1] is None:
            self.retries["no-op, MODIFIED or gone"] += 1
            return
        flags = got[-1]
        if expunge:
            mc.check(*imap.uid("EXPUNGE", uid), "UID EXPUNGE")
            self.expunged.add(key)
            self.keys.remove(key)
            self.flags.pop(key, None)
        elif "\\Deleted" in flags:
            self.retries["\\Deleted by the tool"] += 1  # its replacement in flight: this copy is going away
            return
        else:
            self.flags[key] = flags
        self.actions += 1


class Deliverer(threading.Thread):
    """LMTP deliveries of new plaintext mail to the keyed user while the tool runs."""

    def __init__(self, s: Setup, count: int, interval: float):
        super().__init__(daemon=True)
        self.s, self.count, self.interval = s, count, interval
        self.sent: list[mc.Spec] = []
        self.error: BaseException | None = None

    def run(self):
        try:
            for _ in range(self.count):
                spec = self.s.gen.message("INBOX", self.s.gen.kind(("plain", "8bit", "alternative")))
                self.s.dovecot.deliver_lmtp("bob@sender.test", KEYED_USER, spec.data)
                self.sent.append(spec)
                time.sleep(self.interval)
        except BaseException as e:
            self.error = e


class MailboxRun(Checks):
    """Steps 1-4 on 500 messages; subclasses set STORAGE. Test methods run in name order and share state."""
    STORAGE = "maildir"
    COUNT = 500

    @classmethod
    def setUpClass(cls):
        print(f"test_mailbox: {cls.STORAGE}: seed {SEED} (MDCRYPT_MAILBOX_SEED)", file=sys.stderr, flush=True)
        cls.rng = random.Random(f"{SEED}-{cls.STORAGE}")
        started = time.monotonic()
        cls.s = Setup(cls.STORAGE, cls.COUNT, 40, cls.rng)
        print(f"test_mailbox: {cls.STORAGE}: mailbox of {cls.COUNT}+40 ready in {time.monotonic() - started:.1f} s",
              file=sys.stderr, flush=True)
        cls.before = cls.s.snapshot(KEYED_USER)
        cls.keyless_before = cls.s.snapshot(KEYLESS_USER)
        cls.spec_by_key = {(x.folder, x.message_id): x for x in cls.s.specs}
        cls.state = {}

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def need_tool(self):
        if tool() is None:
            self.skipTest("mdcrypt-mailbox not built (MDCRYPT_MAILBOX unset)")

    def plain_keys(self):
        return [k for k, x in self.spec_by_key.items() if not x.protected]

    # -- the harness itself, without the tool --------------------------------------------------

    def test_0_harness_stores_what_was_generated_and_plaintext_is_findable(self):
        got, dups = mc.by_id(self.before)
        self.assertEqual(dups, [])
        self.assertEqual(set(got), set(self.spec_by_key))
        for key, spec in self.spec_by_key.items():
            st = got[key]
            self.assertEqual((st.flags, st.internaldate, st.data), (spec.flags, spec.internaldate, spec.data), key)
        self.assertGreaterEqual(len({x.folder for x in self.s.specs}), 5)
        self.assertEqual({x.kind for x in self.s.specs}, {k for k, _ in mc.KINDS})
        # The marker search can fail: before the run every plain message's markers are on disk, and
        # the Subjects and previews are in Dovecot's cache too.
        found = mc.markers_in_files(self.s.dovecot.mail_files(KEYED_USER))
        for key in self.plain_keys():
            spec = self.spec_by_key[key]
            self.assertIn(spec.body_marker, found, key)
            self.assertIn(spec.subject_marker, found, key)
        self.assertTrue(any(p.endswith("dovecot.index.cache") for fs in found.values() for p in fs),
                        "no marker in dovecot.index.cache: warm_cache() did not fill it")
        # The tool's way in works as root against this instance.
        r = subprocess.run(self.s.dovecot.imap_exec_argv(KEYED_USER), input=b"a LIST \"\" \"*\"\r\nb LOGOUT\r\n",
                           capture_output=True, timeout=60, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"Archive/2019", r.stdout)
        self.assertIn(b"a OK", r.stdout)

    # -- with the tool ------------------------------------------------------------------------------

    def test_1_dry_run_changes_nothing_and_counts(self):
        self.need_tool()
        r = self.s.run_tool(KEYED_USER, "--dry-run")
        n_protected = sum(1 for x in self.s.specs if x.protected)
        self.assert_summary(r, 0, "would encrypt", encrypted=self.COUNT - n_protected, protected=n_protected,
                            plain=0, failed=0)
        self.assertEqual(self.s.snapshot(KEYED_USER), self.before)
        r = self.s.run_tool(KEYLESS_USER, "--dry-run")
        self.assert_summary(r, 0, "would encrypt", encrypted=0, protected=0, plain=len(self.s.keyless_specs), failed=0)
        self.assertEqual(self.s.snapshot(KEYLESS_USER), self.keyless_before)

    def test_2_run_beside_a_busy_client_and_deliveries(self):
        self.need_tool()
        client = BusyClient(self.s, list(self.spec_by_key), random.Random(self.rng.random()), max_expunges=8)
        deliverer = Deliverer(self.s, 12, 0.25)
        client.start()
        deliverer.start()
        started = time.monotonic()
        r = self.s.run_tool(KEYED_USER)
        elapsed = time.monotonic() - started
        client.stop.set()
        client.join(60)
        deliverer.join(60)
        self.assertIsNone(client.error, repr(client.error))
        self.assertIsNone(deliverer.error, repr(deliverer.error))
        print(f"test_mailbox: {self.STORAGE}: run 1: {elapsed:.1f} s, {self.COUNT / elapsed:.0f} msgs/s; client: "
              f"{client.actions} changes, {len(client.expunged)} expunges, retries {dict(client.retries)}, "
              f"{len(client.copies_seen)} searches saw two undeleted copies; {len(deliverer.sent)} delivered",
              file=sys.stderr, flush=True)
        self.state.update(client=client, delivered=deliverer.sent, per_message=elapsed / self.COUNT)
        n_protected = sum(1 for x in self.s.specs if x.protected)
        n_plain = self.COUNT - n_protected
        self.assert_summary(r, 0, failed=0, plain=0)
        if not ENGINE_TABLE:  # GPGME: every batch went through gpg --multifile, none fell back one by one
            self.assertNotIn("batch_encryption=", r.stderr, str(r))
        # The client may expunge a message before the tool reaches it.
        expunged_protected = sum(1 for k in client.expunged if self.spec_by_key[k].protected)
        self.assertTrue(n_protected - expunged_protected <= r.protected <= n_protected, str(r))
        self.assertGreaterEqual(r.encrypted, n_plain - len(client.expunged), str(r))
        self.assertLessEqual(r.encrypted, n_plain + len(deliverer.sent), str(r))
        self.check_after(delivered_may_be_plain=True)

    def check_after(self, delivered_may_be_plain: bool) -> dict:
        """The state after a run; returns the snapshot by key."""
        client = self.state["client"]
        after = self.s.snapshot(KEYED_USER)
        got, dups = mc.by_id(after)
        self.assertEqual(dups, [], "a message is there twice")
        twice = [m for m, n in collections.Counter(x.message_id for x in after).items() if n > 1]
        self.assertEqual(twice, [], "a Message-ID is there twice (in two folders)")
        want = set(self.spec_by_key) - client.expunged | {("INBOX", x.message_id) for x in self.state["delivered"]}
        self.assertEqual(set(got) - want, set(), "unexpected messages")
        self.assertEqual(want - set(got), set(), "messages missing")
        before, _ = mc.by_id(self.before)
        for key, spec in self.spec_by_key.items():
            if key in client.expunged:
                continue
            st, old = got[key], before[key]
            self.assertEqual(st.flags, client.flags.get(key, spec.flags), f"{key}: flags")
            self.assertEqual(st.internaldate, spec.internaldate, f"{key}: INTERNALDATE")
            if spec.protected:
                self.assertEqual(st.data, old.data, f"{key}: an already protected message changed")
                self.assertEqual(st.uid, old.uid, f"{key}: an already protected message got a new UID")
            else:
                self.assertTrue(is_pgp_mime(st.data), f"{key} ({spec.kind}) still plain")
        for x in self.state["delivered"]:
            st = got[("INBOX", x.message_id)]
            if not delivered_may_be_plain:
                self.assertTrue(is_pgp_mime(st.data), f"delivered {x.message_id} still plain")
        self.assertEqual(self.s.snapshot(KEYLESS_USER), self.keyless_before, "the keyless user's mailbox changed")
        return got

    def test_3_second_run_finishes_the_deliveries_and_everything_decrypts(self):
        self.need_tool()
        if "client" not in self.state:
            self.skipTest("step 2 did not run")
        delivered = {("INBOX", x.message_id): x for x in self.state["delivered"]}
        before_run = self.s.snapshot(KEYED_USER)
        still_plain = {(x.folder, x.message_id): x.data for x in before_run if not is_pgp_mime(x.data)
                       and not (self.spec_by_key.get((x.folder, x.message_id)) or delivered[(x.folder, x.message_id)]).protected}
        self.assertEqual(set(still_plain) - set(delivered), set(), "run 1 left messages of the mailbox plain")
        r = self.s.run_tool(KEYED_USER)
        self.assert_summary(r, 0, encrypted=len(still_plain), failed=0)
        got = self.check_after(delivered_may_be_plain=False)
        before, _ = mc.by_id(self.before)
        # What each replaced message was: its bytes before the runs; for deliveries the stored bytes if
        # run 1 left them plain, else what was sent (LMTP added Return-Path, Delivered-To, Received on top).
        originals = {k: (before[k].data, True) for k in self.plain_keys() if k in got}
        for key, x in delivered.items():
            originals[key] = (still_plain[key], True) if key in still_plain else (x.data, False)
        specs = {**self.spec_by_key, **delivered}
        sample = set(random.Random(SEED).sample(sorted(originals), min(20, len(originals))))
        started = time.monotonic()
        for key, (original, exact) in sorted(originals.items()):
            spec = specs[key]
            signed = spec.kind == "signed"
            markers = (spec.body_marker,) + (() if signed else (spec.subject_marker,))
            for decrypt in (None, self.s.decrypt_sqop, self.s.decrypt_rnp) if key in sample else (None,):
                self.assert_replaced(self.s, original, got[key].data, signed, markers,
                                     f"{key} {decrypt.__name__ if decrypt else 'gpg'}", decrypt=decrypt, exact=exact)
        print(f"test_mailbox: {self.STORAGE}: {len(originals)} decrypted and compared in "
              f"{time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        # No plaintext left behind anywhere under the mail location.
        secret = {}
        for key in originals:
            secret[specs[key].body_marker] = key
            if specs[key].kind != "signed":  # signed mail keeps its Subject outside (no header protection)
                secret[specs[key].subject_marker] = key
        found = mc.markers_in_files(self.s.dovecot.mail_files(KEYED_USER))
        left = {m: (secret[m], files) for m, files in found.items() if m in secret}
        self.assertEqual(left, {}, "plaintext markers of replaced messages left in the mail location")
        expunged = {m for k in self.state["client"].expunged
                    for m in (self.spec_by_key[k].body_marker, self.spec_by_key[k].subject_marker)}
        if expunged & set(found):
            print(f"test_mailbox: {self.STORAGE}: markers of messages the client expunged still on disk: "
                  f"{ {m: found[m] for m in expunged & set(found)} }", file=sys.stderr, flush=True)
        self.state["finished"] = self.s.snapshot(KEYED_USER)

    def test_4_third_run_changes_nothing(self):
        self.need_tool()
        if "finished" not in self.state:
            self.skipTest("step 3 did not finish")
        r = self.s.run_tool(KEYED_USER)
        self.assert_summary(r, 0, encrypted=0, failed=0)
        self.assertEqual(self.s.snapshot(KEYED_USER), self.state["finished"])


class MaildirMailbox(MailboxRun, unittest.TestCase):
    STORAGE = "maildir"


class MdboxMailbox(MailboxRun, unittest.TestCase):
    STORAGE = "mdbox"


class SdboxMailbox(MailboxRun, unittest.TestCase):
    STORAGE = "sdbox"
    COUNT = 150  # the same code paths as mdbox but one file per message; fewer to keep CI time down


XAPIAN_PLUGIN = "/usr/lib/dovecot/modules/lib21_fts_xapian_plugin.so"
FTS_XAPIAN = """mail_plugins = $mail_plugins fts fts_xapian
plugin {
  fts = xapian
  fts_xapian = partial=3 full=20
  fts_autoindex = yes
}
"""


@unittest.skipUnless(os.path.exists(XAPIAN_PLUGIN), "dovecot-fts-xapian not installed")
class FullTextIndex(unittest.TestCase):
    """With a full-text index (fts-xapian, Debian's dovecot-fts-xapian), the words of the replaced
    plaintext must leave it too: the tool rescans the index and indexes the changed folders again."""

    @classmethod
    def setUpClass(cls):
        cls.s = Setup("maildir", 60, 0, random.Random(f"{SEED}-fts"), extra_config=FTS_XAPIAN)

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def markers_anywhere(self) -> dict[str, list[str]]:
        # The index keeps words lower-cased: look for the markers in any case.
        found: dict[str, list[str]] = {}
        rx = re.compile(mc.MARKER_RX.pattern, re.IGNORECASE)
        for p in self.s.dovecot.mail_files(KEYED_USER):
            try:
                data = Path(p).read_bytes()
            except FileNotFoundError:
                continue
            for m in set(rx.findall(data)):
                found.setdefault(m.decode().upper(), []).append(str(p))
        return found

    def test_no_word_of_a_replaced_message_stays_in_the_index(self):
        if tool() is None:
            self.skipTest("mdcrypt-mailbox not built (MDCRYPT_MAILBOX unset)")
        self.s.dovecot.doveadm("index", "-u", KEYED_USER, "*")
        plain = [x for x in self.s.specs if not x.protected]
        before = self.markers_anywhere()
        in_index = [m for m, files in before.items() if any("xapian" in f for f in files)]
        self.assertTrue(in_index, "the check can fail: markers must be in the xapian index before the run")
        r = self.s.run_tool(KEYED_USER)
        self.assertEqual(r.proc.returncode, 0, str(r))
        after = self.markers_anywhere()
        # A signed message keeps its Subject outside (header protection would break the signature).
        secret = {m.upper() for x in plain
                  for m in (x.body_marker,) + (() if x.kind == "signed" else (x.subject_marker,))}
        left = {m: f for m, f in after.items() if m in secret}
        self.assertEqual(left, {}, "plaintext words of replaced messages remain")
        self.assertTrue(any(m in secret for m in in_index))
        # The index still works: a message left alone (already protected) is found by a word of its
        # Subject, which it keeps in clear.
        kept = next(x for x in self.s.specs if x.protected and x.subject_marker in x.data.decode(errors="replace"))
        with self.s.dovecot.imap(KEYED_USER) as imap:
            imap.select(mc.quoted(kept.folder))
            typ, data = imap.uid("SEARCH", "SUBJECT", kept.subject_marker)
            self.assertEqual(typ, "OK")
            self.assertEqual(len(data[0].split()), 1, f"{kept.subject_marker} in {kept.folder}")


class KeyFromAKeyFile(Checks, unittest.TestCase):
    """With the GPGME engine, batches go through gpg --multifile only for keys in the GnuPG home. A key
    from a key file (as from WKD or LDAP) goes to gpg as a file through GPGME: those messages must be
    encrypted one by one in the same run, to that key, and decrypt."""

    @classmethod
    def setUpClass(cls):
        cls.s = Setup("maildir", 40, 0, random.Random(f"{SEED}-keyfile"))

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def test_key_file_messages_go_one_by_one_and_decrypt(self):
        if tool() is None:
            self.skipTest("mdcrypt-mailbox not built (MDCRYPT_MAILBOX unset)")
        key_dir = self.s.tmp.subdir("keyfiles")
        exported = subprocess.run(["gpg", "--homedir", str(self.s.keys.home), "--batch", "--export", "--armor",
                                   self.s.keys.fingerprints["alice"]], capture_output=True, check=True).stdout
        self.assertIn(b"BEGIN PGP PUBLIC KEY BLOCK", exported)
        (key_dir / "alice.asc").write_bytes(exported)
        # A GnuPG home without the key: were these messages batched, gpg --multifile would refuse the
        # key and the run would log the batch's failure.
        empty_home = self.s.tmp.subdir("empty-gnupg-home")
        config = self.s.write_config("keyfile.toml", dovecot.DOVEADM)
        text = config.read_text()
        self.assertIn(f'home = "{self.s.keys.home}"', text)
        text = text.replace(f'home = "{self.s.keys.home}"', f'home = "{empty_home}"')
        config.write_text(text + f'\n[keys]\nsources = ["file"]\nfile_template = "{key_dir}/%l.asc"\n')
        before, _ = mc.by_id(self.s.snapshot(KEYED_USER))
        plain = {(x.folder, x.message_id): x for x in self.s.specs if not x.protected}
        r = self.s.run_tool(KEYED_USER, config=config)
        self.assertEqual(r.proc.returncode, 0, str(r))
        self.assertEqual((r.encrypted, r.failed), (len(plain), 0), str(r))
        self.assertNotIn("batch_encryption=", r.stderr, str(r))  # no batch was tried and failed
        got, _ = mc.by_id(self.s.snapshot(KEYED_USER))
        for key, spec in sorted(plain.items())[:10]:
            markers = (spec.body_marker,) + (() if spec.kind == "signed" else (spec.subject_marker,))
            self.assert_replaced(self.s, before[key].data, got[key].data, spec.kind == "signed", markers, str(key))


class KilledRuns(Checks, unittest.TestCase):
    """20 runs killed at random moments (some with Dovecot: power loss), then a clean run; then a
    damaged keyring."""
    STORAGE = os.environ.get("MDCRYPT_MAILBOX_KILL_STORAGE", "maildir")
    ROUNDS = 20
    DOVECOT_ROUNDS = (4, 9, 15)

    @classmethod
    def setUpClass(cls):
        cls.rng = random.Random(f"{SEED}-kill")
        print(f"test_mailbox: kill test ({cls.STORAGE}): seed {SEED}", file=sys.stderr, flush=True)
        cls.s = Setup(cls.STORAGE, 80, 0, cls.rng)

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def ids(self) -> tuple[dict, list]:
        return mc.by_id(self.s.snapshot(KEYED_USER, with_data=False))

    def add_plain(self, n: int, folders=None) -> list[mc.Spec]:
        folders = folders or [self.rng.choice(mc.FOLDERS) for _ in range(n)]
        specs = [self.s.gen.message(folder, self.s.gen.kind(("plain", "8bit", "attachment"))) for folder in folders]
        with self.s.dovecot.imap(KEYED_USER) as imap:
            mc.populate(imap, specs)
        return specs

    def test_killed_runs_lose_nothing_and_a_clean_run_finishes(self):
        if tool() is None:
            self.skipTest("mdcrypt-mailbox not built (MDCRYPT_MAILBOX unset)")
        specs = {(x.folder, x.message_id): x for x in self.s.specs}
        outcomes = []
        got, _ = self.ids()
        for round_no in range(self.ROUNDS):
            round_started = time.monotonic()
            for x in self.add_plain(4):
                specs[(x.folder, x.message_id)] = x
            # Kill somewhere in a run: its start (recovery, listing) or while it replaces messages.
            pending = 4 + sum(1 for st in got.values() if not is_pgp_mime(st.data))
            delay = self.rng.uniform(0.0, 0.1 + pending / 50)
            proc = subprocess.Popen(self.s.argv(KEYED_USER), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
            time.sleep(delay)
            power_loss = round_no in self.DOVECOT_ROUNDS
            children = dovecot.descendants([proc.pid])
            finished = proc.poll() is not None
            if power_loss:
                self.s.dovecot.kill_hard(also=[] if finished else [proc.pid])
            elif not finished:
                os.kill(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 15  # its imap process ends when the pipe closes
            while any(mta.pid_alive(p) for p in children[1:]) and time.monotonic() < deadline:
                time.sleep(0.02)
            # Its encryption workers (GPGME engine) end with it: nothing of a killed run keeps running.
            workers = [p for p in children[1:] if mta.pid_alive(p) and process_name(p) == "mdcrypt-mailbox"]
            self.assertEqual(workers, [], f"round {round_no}: worker processes outlived the killed tool")
            out, err = proc.communicate(timeout=30)
            if power_loss:
                self.s.dovecot.start()
            outcomes.append(f"{round_no}:{delay:.2f}s{'+dovecot' if power_loss else ''}"
                            f"[{time.monotonic() - round_started:.1f}s]"
                            f"{'(finished ' + str(proc.returncode) + ')' if finished else ''}")
            got, dups = self.ids()
            self.assertEqual(dups, [], f"round {round_no} ({outcomes[-1]}): a message is there twice\n"
                                       f"{err.decode(errors='replace')[-2000:]}")
            # Killed between its EXPUNGE and its APPEND, the messages in flight are only in the journal until
            # the next run (see test_kills_at_each_step_of_a_replacement); the final run must restore them.
            missing = set(specs) - set(got)
            if missing:
                outcomes[-1] += f"({len(missing)} in the journal)"
            self.assertEqual(set(got) - set(specs), set(), f"round {round_no}: unexpected messages")
        print(f"test_mailbox: kill rounds: {' '.join(outcomes)}", file=sys.stderr, flush=True)
        r = self.s.run_tool(KEYED_USER)
        self.assert_summary(r, 0, failed=0)
        after = self.s.snapshot(KEYED_USER)
        got, dups = mc.by_id(after)
        self.assertEqual(dups, [])
        self.assertEqual(set(got), set(specs))
        for key, spec in specs.items():
            st = got[key]
            self.assertEqual((st.flags, st.internaldate), (spec.flags, spec.internaldate), key)
            if spec.protected:
                self.assertEqual(st.data, spec.data, key)
            else:
                signed = spec.kind == "signed"
                self.assert_replaced(self.s, spec.data, st.data, signed,
                                     (spec.body_marker,) + (() if signed else (spec.subject_marker,)), str(key))
        r = self.s.run_tool(KEYED_USER)
        self.assert_summary(r, 0, encrypted=0, failed=0)

    def test_kills_at_each_step_of_a_replacement(self):
        # Killed right after the server confirmed the \Deleted mark, the EXPUNGE, or the APPEND of a
        # replacement (doveadm_kill_proxy.py): never two copies; the next run restores or finishes it, with
        # the flags it had (no \Deleted left over).
        if tool() is None:
            self.skipTest("mdcrypt-mailbox not built (MDCRYPT_MAILBOX unset)")
        r = self.s.run_tool(KEYED_USER)
        self.assert_summary(r, 0, failed=0)
        notes = []
        for step in ("UID STORE", "UID EXPUNGE", "APPEND"):
            nth = self.rng.randint(1, 3)
            # One message in each of four folders: the tool works folder by folder in batches, so each of
            # STORE, EXPUNGE and APPEND comes at least four times.
            added = {(x.folder, x.message_id): x for x in self.add_plain(4, self.rng.sample(mc.FOLDERS, 4))}
            before, _ = mc.by_id(self.s.snapshot(KEYED_USER))
            config, proxy_log = self.s.proxy_config(step, nth)
            r = self.s.run_tool(KEYED_USER, config=config)
            self.assertEqual(r.proc.returncode, -signal.SIGKILL, f"{step} #{nth}: not killed: {r}")
            self.assertIn("killed", proxy_log.read_text())
            killed, dups = mc.by_id(self.s.snapshot(KEYED_USER))
            self.assertEqual(dups, [], f"killed after {step} #{nth}: a message is there twice")
            missing = set(before) - set(killed)
            self.assertEqual(set(killed) - set(before), set(), f"killed after {step} #{nth}: unexpected messages")
            notes.append(f"after {step} #{nth}: {len(missing)} missing until the next run")
            r = self.s.run_tool(KEYED_USER)
            self.assert_summary(r, 0, failed=0)
            after, dups = mc.by_id(self.s.snapshot(KEYED_USER))
            self.assertEqual(dups, [], f"{step} #{nth}, next run: a message is there twice")
            self.assertEqual(set(after), set(before), f"{step} #{nth}, next run: not the same messages")
            for key, old in before.items():
                st = after[key]
                self.assertEqual((st.flags, st.internaldate), (old.flags, old.internaldate), f"{step} #{nth}: {key}")
                if key not in added:  # encrypted or protected before: untouched
                    self.assertEqual((st.uid, st.data), (old.uid, old.data), f"{step} #{nth}: {key} changed")
            for key, spec in added.items():
                self.assert_replaced(self.s, spec.data, after[key].data, False, (spec.body_marker, spec.subject_marker),
                                     f"{step} #{nth}: {key}")
        print(f"test_mailbox: targeted kills: {'; '.join(notes)}", file=sys.stderr, flush=True)

    def test_zz_a_damaged_keyring_fails_75_and_leaves_the_messages(self):
        if tool() is None:
            self.skipTest("mdcrypt-mailbox not built (MDCRYPT_MAILBOX unset)")
        r = self.s.run_tool(KEYED_USER)  # whatever the kill test left
        self.assert_summary(r, 0, failed=0)
        added = self.add_plain(5)
        before = self.s.snapshot(KEYED_USER)
        good = cut_off_keybox(self.s.keybox)
        try:
            r = self.s.run_tool(KEYED_USER)
            self.assert_summary(r, 75, encrypted=0, failed=len(added))
            self.assertEqual(self.s.snapshot(KEYED_USER), before, "messages changed although encryption failed")
        finally:
            write_keybox(self.s.keybox, good)
        r = self.s.run_tool(KEYED_USER)
        self.assert_summary(r, 0, encrypted=len(added), failed=0)


if __name__ == "__main__":
    from test_milter_common import run_tests
    sys.exit(run_tests(sys.modules[__name__]))
