"""Reads mdcrypt's log lines the way a log parser would (src/core/log_line.hpp is the writer).

A line is `[QUEUEID: ]key=value key=value ...`: keys are [a-z_]+, a value is bare (no space, quote,
backslash, '=' or byte outside printable ASCII) or double-quoted with \\" \\\\ \\xHH escapes. Anything
else is a malformed line and raises ValueError, so a test that parses a line also proves it well formed.
"""
import re

_KEY = re.compile(r"[a-z_]+")
_BARE = re.compile(r"[!-~]+")
_QUEUE_ID = re.compile(r"([A-Za-z0-9._?-]+): ")


def parse(line: str):
    """(queue_id or None, [(key, value), ...]) of one line (without syslog's or stderr's prefix)."""
    queue_id = None
    i = 0
    m = _QUEUE_ID.match(line)
    if m and "=" not in m.group(1):
        queue_id, i = m.group(1), m.end()
    fields = []
    while i < len(line):
        m = _KEY.match(line, i)
        if not m or m.end() >= len(line) or line[m.end()] != "=":
            raise ValueError(f"no key= at column {i}: {line!r}")
        key, i = m.group(0), m.end() + 1
        if line.startswith('"', i):
            i += 1
            value = []
            while True:
                if i >= len(line):
                    raise ValueError(f"unterminated quoted value for {key}: {line!r}")
                c = line[i]
                i += 1
                if c == '"':
                    break
                if c == "\\":
                    n = line[i:i + 1]
                    if n == "x":
                        value.append(chr(int(line[i + 1:i + 3], 16)))
                        i += 3
                    elif n in ('"', "\\"):
                        value.append(n)
                        i += 1
                    else:
                        raise ValueError(f"bad escape in {key}: {line!r}")
                else:
                    value.append(c)
            value = "".join(value)
        else:
            end = line.find(" ", i)
            end = len(line) if end < 0 else end
            value = line[i:end]
            if not _BARE.fullmatch(value) or '"' in value or "\\" in value or "=" in value:
                raise ValueError(f"bare value of {key} needs quoting: {line!r}")
            i = end
        fields.append((key, value))
        if i < len(line):
            if line[i] != " ":
                raise ValueError(f"no space after {key}: {line!r}")
            i += 1
    return queue_id, fields
