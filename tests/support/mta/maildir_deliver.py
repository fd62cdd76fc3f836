#!/usr/bin/python3
"""Local mailer for the e2e sendmail instance: deliver stdin into a Maildir-like folder.

Usage: maildir_deliver.py ROOT RECIPIENT [RECIPIENT...]

For each recipient the message read from stdin is written to ROOT/<recipient>/tmp/<unique> and
renamed to ROOT/<recipient>/new/<unique>, so a reader never sees a partial file.  <recipient> is
the address lowercased (e.g. alice@example.test).  Exit codes follow sysexits.h, which sendmail
maps to SMTP/DSN status: 0 delivered, 64 usage, 67 bad recipient, 75 temporary failure.

Sendmail runs this with an empty environment and no controlling terminal, so it uses only the
standard library and reports problems on stderr (sendmail puts them into the bounce/log).
"""
import os
import socket
import sys
import time

EX_OK, EX_USAGE, EX_NOUSER, EX_TEMPFAIL = 0, 64, 67, 75
_counter = 0


def _unique() -> str:
    global _counter
    _counter += 1
    now = time.time_ns()
    return f"{now // 1_000_000_000}.M{(now // 1000) % 1_000_000}P{os.getpid()}Q{_counter}.{socket.gethostname()}"


def _folder_name(recipient: str) -> str | None:
    name = recipient.strip().strip("<>").lower()
    if not name or name.startswith(".") or "/" in name or "\0" in name:
        return None
    return name


def deliver(root: str, recipient: str, data: bytes) -> int:
    name = _folder_name(recipient)
    if name is None:
        print(f"maildir_deliver: unusable recipient {recipient!r}", file=sys.stderr)
        return EX_NOUSER
    box = os.path.join(root, name)
    try:
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(box, sub), mode=0o700, exist_ok=True)
        unique = _unique()
        tmp_path = os.path.join(box, "tmp", unique)
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp_path, os.path.join(box, "new", unique))
    except OSError as exc:
        print(f"maildir_deliver: {box}: {exc}", file=sys.stderr)
        return EX_TEMPFAIL
    return EX_OK


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: maildir_deliver.py ROOT RECIPIENT [RECIPIENT...]", file=sys.stderr)
        return EX_USAGE
    root = argv[1]
    data = sys.stdin.buffer.read()
    worst = EX_OK
    for recipient in argv[2:]:
        rc = deliver(root, recipient, data)
        if rc != EX_OK:
            worst = rc
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv))
