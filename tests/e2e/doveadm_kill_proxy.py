#!/usr/bin/python3
"""A doveadm stand-in that SIGKILLs its caller at an exact step of the IMAP conversation.

The test copies this file into its work directory as `doveadm-proxy` with a `doveadm-proxy.json` beside
it and names it as `[mailbox] doveadm`. Every command but `exec imap` is handed to the real doveadm.
For `exec imap` it runs the real one on pipes and relays both directions, reading IMAP literals ({N}
and {N+}) as data so message bytes are never taken for commands. When the server has answered OK to
the Nth client command whose name matches "after" (e.g. "UID EXPUNGE", "APPEND", "UID STORE"), it
kills its parent (mdcrypt-mailbox) with SIGKILL before the reply reaches it, then the imap process,
and records what it did in doveadm-proxy.log. With "after" empty it only relays.

JSON: {"doveadm": "/usr/bin/doveadm", "after": "UID EXPUNGE", "nth": 1}
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(os.path.abspath(sys.argv[0]))
SETTINGS = json.loads(HERE.with_suffix(".json").read_text())
LOG = HERE.with_suffix(".log")
LITERAL_RX = re.compile(rb"\{(\d+)\+?\}\r\n$")


def log(text: str) -> None:
    with open(LOG, "a") as f:
        f.write(text + "\n")


def lines_with_literals(stream):
    """Yields (line, literals): a full IMAP line, its literals' bytes relayed as they come."""
    while True:
        line = stream.readline()
        if not line:
            return
        chunks = [line]
        m = LITERAL_RX.search(line)
        while m:
            chunks.append(stream.read(int(m.group(1))))
            rest = stream.readline()
            chunks.append(rest)
            m = LITERAL_RX.search(rest)
        yield chunks


def main() -> int:
    args = sys.argv[1:]
    real = SETTINGS.get("doveadm", "/usr/bin/doveadm")
    if "exec" not in args or "imap" not in args[args.index("exec"):]:
        os.execv(real, [real, *args])
    parent = os.getppid()
    imap = subprocess.Popen([real, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    after = SETTINGS.get("after", "").encode().upper()
    nth = int(SETTINGS.get("nth", 1))
    watched: set[bytes] = set()
    seen = [0]
    lock = threading.Lock()

    def client_to_server():
        stdin = sys.stdin.buffer
        try:
            for chunks in lines_with_literals(stdin):
                first = chunks[0]
                tag, _, rest = first.partition(b" ")
                if after and rest.upper().startswith(after + b" "):
                    with lock:
                        watched.add(tag)
                for c in chunks:
                    imap.stdin.write(c)
                imap.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        try:
            imap.stdin.close()
        except OSError:
            pass

    threading.Thread(target=client_to_server, daemon=True).start()
    out = sys.stdout.buffer
    for chunks in lines_with_literals(imap.stdout):
        tag, _, rest = chunks[0].partition(b" ")
        with lock:
            hit = tag in watched and rest.upper().startswith(b"OK")
        if hit:
            seen[0] += 1
            if seen[0] == nth:
                os.kill(parent, signal.SIGKILL)
                imap.kill()
                log(f"killed {parent} after the server's OK to {after.decode()} #{nth}: {chunks[0][:200]!r}")
                return 0
        try:
            for c in chunks:
                out.write(c)
            out.flush()
        except (BrokenPipeError, OSError):
            break
    imap.wait()
    return imap.returncode


if __name__ == "__main__":
    sys.exit(main())
