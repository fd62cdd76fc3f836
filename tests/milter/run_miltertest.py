#!/usr/bin/python3
"""Runs one miltertest script against the real mdcrypt-milter.

Usage: run_miltertest.py --milter PATH/mdcrypt-milter SCRIPT.lua

Starts the daemon on a private socket with a throwaway GnuPG home (a key for alice@example.test),
runs `miltertest -s SCRIPT` with `socket` and `scriptdir` defined, then checks the daemon's log for
every `-- expect-log: TEXT` line of the script, stops the daemon with SIGTERM (it must exit 0) and
checks that it left no file in its spool directory. Exit status 0 when all of that holds.
"""
import argparse
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from milter_fixture import Milter  # noqa: E402

MILTERTEST = "/usr/bin/miltertest"


def expectations(script):
    with open(script) as f:
        return [line.split("expect-log:", 1)[1].strip() for line in f if line.startswith("-- expect-log:")]


def main():
    # ctest's timeout sends SIGTERM: unwind, so fixtures stop their daemon and remove their directory.
    signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(128 + signo))
    parser = argparse.ArgumentParser()
    parser.add_argument("--milter", required=True)
    parser.add_argument("script")
    args = parser.parse_args()
    script = os.path.abspath(args.script)
    failures = []
    with Milter(os.path.abspath(args.milter)) as milter:
        milter.start()
        result = subprocess.run([MILTERTEST, "-D", "socket=" + milter.socket,
                                 "-D", "scriptdir=" + os.path.dirname(script), "-s", script],
                                capture_output=True, timeout=120, check=False)
        sys.stdout.write(result.stdout.decode("utf-8", "replace"))
        sys.stdout.write(result.stderr.decode("utf-8", "replace"))
        if result.returncode != 0:
            failures.append(f"miltertest exited with {result.returncode}")
        status = milter.stop()
        log = milter.log()
        for wanted in expectations(script):
            if wanted not in log:
                failures.append(f"log lacks: {wanted}")
        if status != 0:
            failures.append(f"mdcrypt-milter exited with {status} after SIGTERM")
        if " error: " in log:
            failures.append("the daemon logged an error")
        if milter.spool_entries():
            failures.append(f"files left in the spool directory: {milter.spool_entries()}")
        if failures:
            sys.stdout.write("---- daemon log ----\n" + log)
    for failure in failures:
        print("FAIL:", failure)
    print("PASS" if not failures else "FAILED", os.path.basename(script))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
