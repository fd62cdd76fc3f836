"""A test mailbox for mdcrypt-mailbox: generated messages, stored over IMAP, snapshotted over IMAP.

Every message has a unique Message-ID and two unique marker strings (MARKER_RX): one in the Subject,
one in the first line of every text part, so a byte search of the mail location can tell which
message's plaintext is still on disk. Kinds: plain 7bit, 8bit UTF-8, quoted-printable,
multipart/alternative, multipart/mixed with a base64 attachment, PGP/MIME signed (gpg, must verify
after decryption), and already protected ones that must stay byte for byte: PGP/MIME encrypted (gpg),
inline PGP, S/MIME enveloped data (openssl cms, real CMS so detection by structure sees it).

Standard library only (plus the gpg and openssl binaries); every subprocess gets an argument list.
"""
from __future__ import annotations

import base64
import calendar
import dataclasses
import imaplib
import os
import random
import re
import subprocess
import tempfile
import time
from pathlib import Path

GPG = "/usr/bin/gpg"
OPENSSL = "/usr/bin/openssl"
MARKER_RX = re.compile(rb"MDCMB[BS][0-9a-f]{10}")
# Folders of the keyed user: one with a space, one non-ASCII (modified UTF-7 on the wire), a nested one.
FOLDERS = ("INBOX", "Sent", "Archive/2019", "Old Mail", "Entwürfe")
KEYWORDS = ("$Label1", "Work", "$Forwarded", "Project-X")
PROTECTED_KINDS = ("pgp-mime", "pgp-inline", "smime")
# The kinds made, with weights; "signed" is encrypted like plain text but its Subject stays outside.
KINDS = (("plain", 30), ("8bit", 15), ("qp", 8), ("alternative", 15), ("attachment", 12), ("signed", 5),
         ("pgp-mime", 5), ("pgp-inline", 2), ("smime", 3))


# ---------------------------------------------------------------------------------------------
# Modified UTF-7 (RFC 3501 5.1.3) for folder names
# ---------------------------------------------------------------------------------------------

def mutf7_encode(name: str) -> str:
    out, pending = [], []

    def flush():
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(name: str) -> str:
    def repl(m):
        if m.group(1) == "":
            return "&"
        b64 = m.group(1).replace(",", "/")
        return base64.b64decode(b64 + "=" * (-len(b64) % 4)).decode("utf-16-be")
    return re.sub(r"&([^-]*)-", repl, name)


def quoted(name: str) -> str:
    """A folder name as an IMAP quoted string (imaplib sends arguments as given)."""
    enc = mutf7_encode(name)
    return '"' + enc.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Spec:
    folder: str
    message_id: str           # with the angle brackets
    kind: str
    flags: frozenset[str]     # system flags and keywords
    internaldate: int         # epoch seconds
    data: bytes               # CRLF
    body_marker: str
    subject_marker: str

    @property
    def protected(self) -> bool:
        return self.kind in PROTECTED_KINDS


class Crypto:
    """What the corpus needs from OpenPGP and S/MIME: `secret_home` holds the owner's secret key (to sign
    with) and the public key to encrypt to; `fpr` is that key's fingerprint; `workdir` a private dir."""

    def __init__(self, secret_home: Path, fpr: str, workdir: Path):
        self.home, self.fpr, self.dir = Path(secret_home), fpr, Path(workdir)
        self.dir.mkdir(mode=0o700, exist_ok=True)
        # The fixture's keys certify and encrypt only; signed messages need a signing subkey.
        listing = self.gpg("--with-colons", "--list-keys", fpr).decode()
        if not any(line.startswith(("pub:", "sub:")) and "s" in line.split(":")[11] for line in listing.splitlines()):
            self.gpg("--quick-add-key", fpr, "ed25519", "sign", "never")
        self.cert = self.dir / "smime-cert.pem"
        if not self.cert.exists():
            subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                            "-subj", "/CN=S-MIME Test/emailAddress=alice@example.test",
                            "-keyout", str(self.dir / "smime-key.pem"), "-out", str(self.cert)],
                           capture_output=True, check=True, timeout=120)

    def gpg(self, *args: str, stdin: bytes | None = None) -> bytes:
        argv = [GPG, "--homedir", str(self.home), "--batch", "--no-tty", "--pinentry-mode", "loopback",
                "--passphrase", "", "--trust-model", "always", *args]
        r = subprocess.run(argv, input=stdin, capture_output=True, check=False, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"gpg {' '.join(args)}: {r.stderr.decode(errors='replace')}")
        return r.stdout

    def encrypt(self, data: bytes) -> bytes:
        return self.gpg("--armor", "--encrypt", "--recipient", self.fpr, stdin=data)

    def sign_detached(self, data: bytes) -> bytes:
        return self.gpg("--armor", "--detach-sign", "--digest-algo", "SHA256", "--local-user", self.fpr, stdin=data)

    def smime_envelope(self, data: bytes) -> bytes:
        fd, path = tempfile.mkstemp(dir=self.dir)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            r = subprocess.run([OPENSSL, "cms", "-encrypt", "-aes256", "-binary", "-outform", "DER", "-in", path,
                                str(self.cert)], capture_output=True, check=True, timeout=60)
        finally:
            os.unlink(path)
        return r.stdout

    def verify_detached(self, signature: bytes, data: bytes) -> bool:
        with tempfile.TemporaryDirectory(dir=self.dir) as d:
            sig, dat = Path(d) / "sig.asc", Path(d) / "data"
            sig.write_bytes(signature)
            dat.write_bytes(data)
            r = subprocess.run([GPG, "--homedir", str(self.home), "--batch", "--no-tty", "--status-fd", "1",
                                "--verify", str(sig), str(dat)], capture_output=True, check=False, timeout=60)
        return r.returncode == 0 and re.search(rb"^\[GNUPG:\] GOODSIG ", r.stdout, re.M) is not None


WORDS = ("quarterly report meeting budget invoice travel schedule draft review contract offer project "
         "deadline summary minutes agenda notes update request approval proposal feedback").split()


def crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def b64lines(data: bytes) -> bytes:
    enc = base64.b64encode(data)
    return b"\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + b"\r\n"


def text_lines(rng: random.Random, n: int) -> bytes:
    lines = []
    for _ in range(n):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 11))))
    return ("\r\n".join(lines) + "\r\n").encode()


class Generator:
    """Makes Specs from a seeded RNG; `crypto` is needed for the signed and already protected kinds."""

    def __init__(self, rng: random.Random, crypto: Crypto | None, domain: str = "example.test",
                 owner: str = "alice@example.test"):
        self.rng, self.crypto, self.domain, self.owner = rng, crypto, domain, owner
        self.used_dates: set[int] = set()
        self.serial = 0

    def marker(self, kind: str) -> str:
        return f"MDCMB{kind}{self.rng.getrandbits(40):010x}"

    def internaldate(self) -> int:
        while True:
            t = self.rng.randint(calendar.timegm((2015, 1, 1, 0, 0, 0)), calendar.timegm((2026, 11, 1, 0, 0, 0)))
            if t not in self.used_dates:
                self.used_dates.add(t)
                return t

    def flags(self, folder: str) -> frozenset[str]:
        r, f = self.rng, set()
        if r.random() < 0.6:
            f.add("\\Seen")
        if r.random() < 0.1:
            f.add("\\Flagged")
        if r.random() < 0.1:
            f.add("\\Answered")
        if r.random() < 0.015:
            f.add("\\Deleted")
        if folder == "Entwürfe" and r.random() < 0.5:
            f.add("\\Draft")
        for k in KEYWORDS:
            if r.random() < 0.08:
                f.add(k)
        return frozenset(f)

    def kind(self, allowed=None) -> str:
        kinds = [(k, w) for k, w in KINDS if (allowed is None or k in allowed)
                 and (self.crypto is not None or k in ("plain", "8bit", "qp", "alternative", "attachment"))]
        return self.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]

    def message(self, folder: str, kind: str | None = None, size: int | None = None, to: str | None = None) -> Spec:
        """size: rough body size in bytes for the plain kinds (None: a few hundred bytes to a few KB)."""
        self.serial += 1
        kind = kind or self.kind()
        bm, sm = self.marker("B"), self.marker("S")
        mid = f"<mb{self.serial}.{self.rng.getrandbits(32):08x}@sender.test>"
        date = self.internaldate()
        to = to or self.owner
        frm, rcpt = ("Alice Example <alice@example.test>", f"Bob <bob@sender.test>") if folder == "Sent" else \
            (f"Bob Sender <bob@sender.test>", f"Someone <{to}>")
        subject = f"{self.rng.choice(WORDS)} {sm}"
        if kind == "8bit":
            subject = f"=?utf-8?q?Gr=C3=BC=C3=9Fe?= {sm}"
        header = (f"From: {frm}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
                  f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(date - 60))}\r\n"
                  f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\n").encode()
        r = self.rng
        lines = (size // 60) if size and kind != "attachment" else r.randint(3, 60)
        text = f"Hello, {bm}\r\n\r\n".encode() + text_lines(r, lines)
        if kind == "plain":
            content = b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + text
        elif kind == "8bit":
            content = (b"Content-Type: text/plain;\r\n\tcharset=\"utf-8\";\r\n\tformat=flowed\r\n"
                       b"Content-Transfer-Encoding: 8bit\r\n\r\n" + text
                       + "caf\u00e9 na\u00efve \u20ac \U0001F600\r\n.a line that starts with a dot\r\n"
                         "From the start of a line\r\ntrailing spaces   \r\n".encode())
        elif kind == "qp":
            content = (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                       + text + b"Gr=C3=BC=C3=9Fe aus M=C3=BCnchen =3D soft=\r\nbreak\r\n")
        elif kind == "alternative":
            b = f"alt-{r.getrandbits(48):012x}".encode()
            html = b"<html><body><p>Hello, " + bm.encode() + b"</p><pre>" + text_lines(r, lines) + b"</pre></body></html>\r\n"
            content = (b"Content-Type: multipart/alternative; boundary=\"" + b + b"\"\r\n\r\n"
                       b"This is a multi-part message in MIME format.\r\n--" + b + b"\r\n"
                       b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text + b"\r\n--" + b + b"\r\n"
                       b"Content-Type: text/html; charset=us-ascii\r\n\r\n" + html + b"\r\n--" + b + b"--\r\n")
        elif kind == "attachment":
            b = f"mix-{r.getrandbits(48):012x}".encode()
            blob = r.randbytes(size if size else r.randint(500, 30000))
            content = (b"Content-Type: multipart/mixed;\r\n boundary=\"" + b + b"\"\r\n\r\n--" + b + b"\r\n"
                       b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text + b"\r\n--" + b + b"\r\n"
                       b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
                       b"Content-Disposition: attachment; filename=\"data.bin\"\r\n"
                       b"Content-Transfer-Encoding: base64\r\n\r\n" + b64lines(blob) + b"\r\n--" + b + b"--\r\n")
        elif kind == "signed":
            b = f"sig-{r.getrandbits(48):012x}".encode()
            part = (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                    + text)
            sig = crlf(self.crypto.sign_detached(part))
            content = (b"Content-Type: multipart/signed; micalg=pgp-sha256;\r\n"
                       b" protocol=\"application/pgp-signature\"; boundary=\"" + b + b"\"\r\n\r\n"
                       b"This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--" + b + b"\r\n" + part
                       + b"\r\n--" + b + b"\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n"
                       b"Content-Description: OpenPGP digital signature\r\n\r\n" + sig + b"\r\n--" + b + b"--\r\n")
        elif kind == "pgp-mime":
            b = f"enc-{r.getrandbits(48):012x}".encode()
            inner = b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text
            armor = crlf(self.crypto.encrypt(inner))
            content = (b"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\r\n"
                       b" boundary=\"" + b + b"\"\r\n\r\nThis is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n"
                       b"--" + b + b"\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--" + b
                       + b"\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n" + armor
                       + b"\r\n--" + b + b"--\r\n")
        elif kind == "pgp-inline":
            content = (b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
                       + crlf(self.crypto.encrypt(text)))
        elif kind == "smime":
            der = self.crypto.smime_envelope(b"Content-Type: text/plain\r\n\r\n" + text)
            content = (b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data;\r\n name=\"smime.p7m\"\r\n"
                       b"Content-Disposition: attachment; filename=\"smime.p7m\"\r\n"
                       b"Content-Transfer-Encoding: base64\r\n\r\n" + b64lines(der))
        else:
            raise ValueError(kind)
        return Spec(folder=folder, message_id=mid, kind=kind, flags=self.flags(folder), internaldate=date,
                    data=header + content, body_marker=bm, subject_marker=sm)

    def mailbox(self, count: int, folders=FOLDERS) -> list[Spec]:
        """`count` messages over `folders` (half in the first), every kind at least once when count allows."""
        specs = []
        kinds = [k for k, _ in KINDS if self.crypto is not None or k in ("plain", "8bit", "qp", "alternative",
                                                                         "attachment")]
        for i in range(count):
            folder = folders[0] if i % 2 == 0 else folders[1 + (i // 2) % (len(folders) - 1)] if len(folders) > 1 \
                else folders[0]
            specs.append(self.message(folder, kinds[i] if i < len(kinds) else None))
        return specs


# ---------------------------------------------------------------------------------------------
# IMAP: storing, snapshotting
# ---------------------------------------------------------------------------------------------

def check(typ, data, what):
    if typ != "OK":
        raise RuntimeError(f"IMAP {what}: {typ} {data}")
    return data


def imap_date(epoch: int) -> str:
    return '"' + time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(epoch)) + '"'


def populate(imap: imaplib.IMAP4, specs: list[Spec]) -> None:
    """CREATE the folders and APPEND every message with its flags, keywords and INTERNALDATE."""
    for folder in sorted({s.folder for s in specs}):
        if folder != "INBOX":
            typ, data = imap.create(quoted(folder))
            if typ != "OK" and b"ALREADYEXISTS" not in b"".join(d or b"" for d in data):
                raise RuntimeError(f"CREATE {folder}: {data}")
    for s in specs:
        check(*imap.append(quoted(s.folder), "(" + " ".join(sorted(s.flags)) + ")", imap_date(s.internaldate),
                           s.data), f"APPEND {s.message_id}")


@dataclasses.dataclass(frozen=True)
class Stored:
    folder: str
    uid: int
    flags: frozenset[str]
    internaldate: int
    data: bytes

    @property
    def message_id(self) -> str | None:
        return message_id(self.data)


def message_id(data: bytes) -> str | None:
    header = data.split(b"\r\n\r\n", 1)[0]
    m = re.search(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", header, re.M | re.I)
    return m.group(1).decode() if m else None


_FETCH_RX = re.compile(rb"UID (\d+)|FLAGS \(([^)]*)\)|INTERNALDATE \"([^\"]+)\"")


def parse_fetch_meta(line: bytes) -> tuple[int | None, frozenset[str] | None, int | None]:
    uid = flags = date = None
    for m in _FETCH_RX.finditer(line):
        if m.group(1):
            uid = int(m.group(1))
        elif m.group(2) is not None:
            flags = frozenset(f for f in m.group(2).decode().split() if f != "\\Recent")
        elif m.group(3):
            date = int(time.mktime(imaplib.Internaldate2tuple(b'INTERNALDATE "' + m.group(3) + b'"')))
    return uid, flags, date


def list_folders(imap: imaplib.IMAP4) -> list[str]:
    """Selectable folders (decoded names)."""
    out = []
    for line in check(*imap.list('""', '"*"'), "LIST"):
        m = re.match(rb'\(([^)]*)\) (?:"[^"]*"|NIL) (.*)$', line)
        if not m:
            raise RuntimeError(f"LIST line {line!r}")
        if b"\\Noselect" in m.group(1) or b"\\NonExistent" in m.group(1):
            continue
        name = m.group(2).decode()
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out.append(mutf7_decode(name))
    return sorted(out)


def snapshot(imap: imaplib.IMAP4, with_data: bool = True) -> list[Stored]:
    """Every message of every folder: UID, flags (without \\Recent), INTERNALDATE and the bytes (or only
    the Message-ID and Content-Type fields)."""
    out = []
    for folder in list_folders(imap):
        check(*imap.select(quoted(folder), readonly=True), f"SELECT {folder}")
        typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])" if with_data
                             else "(UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID CONTENT-TYPE)])")
        check(typ, data, f"FETCH {folder}")
        for item in data:
            if isinstance(item, tuple):
                uid, flags, date = parse_fetch_meta(item[0])
                out.append(Stored(folder, uid, flags, date, item[1]))
        imap.unselect()
    return out


def by_id(stored: list[Stored]) -> tuple[dict[tuple[str, str], Stored], list[tuple[str, str]]]:
    """(folder, Message-ID) -> message, and the keys seen more than once."""
    out, dups = {}, []
    for s in stored:
        key = (s.folder, s.message_id)
        if key in out:
            dups.append(key)
        out[key] = s
    return out, dups


def warm_cache(imap: imaplib.IMAP4) -> None:
    """Fetch what mail clients fetch, so dovecot.index.cache holds Subjects, envelopes, previews and body
    structures: the places plaintext lingers after the message file is gone."""
    for folder in list_folders(imap):
        check(*imap.select(quoted(folder), readonly=True), f"SELECT {folder}")
        for items in ("(ENVELOPE BODYSTRUCTURE)", "(PREVIEW)", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM DATE)])"):
            check(*imap.fetch("1:*", items), f"FETCH {items}")
        check(*imap.search(None, "BODY", '"Hello"'), "SEARCH BODY")
        imap.unselect()


def markers_in_files(paths) -> dict[str, list[str]]:
    """marker -> files (paths as str) it occurs in, read as bytes."""
    found: dict[str, list[str]] = {}
    for p in paths:
        try:
            data = Path(p).read_bytes()
        except FileNotFoundError:
            continue  # expunged or rotated meanwhile
        for m in set(MARKER_RX.findall(data)):
            found.setdefault(m.decode(), []).append(str(p))
    return found


def split_message(data: bytes) -> tuple[bytes, bytes]:
    at = data.find(b"\r\n\r\n")
    return (data, b"") if at < 0 else (data[:at + 2], data[at + 4:])

