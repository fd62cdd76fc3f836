#!/usr/bin/python3
"""A stand-in for the delivery program behind `mdcrypt-filter --exec`: records its stdin and argv,
then exits with the given status or dies by the given signal.

Usage: record_stdin.py OUT_PREFIX EXIT|kill:SIGNO [ARG ...]  (writes OUT_PREFIX.stdin, OUT_PREFIX.argv)
"""
import os
import signal
import sys

prefix, how = sys.argv[1], sys.argv[2]
with open(prefix + ".stdin", "wb") as f:
    f.write(sys.stdin.buffer.read())
with open(prefix + ".argv", "w") as f:
    f.write("\n".join(sys.argv[3:]))
if how.startswith("kill:"):
    os.kill(os.getpid(), int(how[5:]))
sys.exit(int(how))
