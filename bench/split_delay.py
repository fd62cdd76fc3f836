#!/usr/bin/python3
"""What splitting at the edge costs the deferred recipients with Postfix's DEFAULT retry timers.

A measurement for the README's policy section, not a test: nothing is asserted and ctest never runs it.
It takes 10 to 30 minutes (the timers are minutes long) and needs what the e2e tests need (root,
postfix, gnupg; see tests/e2e/mta.py) and a built mdcrypt-milter.

Two scenarios run side by side, each in a TempDir of its own:
  sender Postfix (queue_run_delay = 300s, minimal_backoff_time = 300s, maximal_backoff_time = 4000s,
  Postfix's defaults, given explicitly)  --relay-->  mx Postfix with mdcrypt-milter (smtpd_milters)
One message from bob@sender.test to alice and dave (keyed) and carol (keyless) is submitted to the
sender at t = 0; nothing flushes the queue. Printed per recipient: the seconds from submission to its
Maildir file on the mx, and the sender's delivery attempt that carried it.
  per-class      the policy's default split: alice and dave share one copy, carol is deferred once
  per-recipient  split = "per-recipient": alice, then dave, then carol, one transaction each

    MDCRYPT_BUILD_DIR=build python3 bench/split_delay.py [--timeout SECONDS]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import mta  # noqa: E402
from test_milter_common import MESSAGE, SENDER, MilterDaemon  # noqa: E402

RECIPIENTS = ["alice@example.test", "dave@example.test", "carol@example.test"]
DEFAULT_TIMERS = {"queue_run_delay": "300s", "minimal_backoff_time": "300s", "maximal_backoff_time": "4000s"}
POLICY = """\
[default]
mode = "opportunistic"
header_protection = false

[domain."example.test"]
{extra}"""
SCENARIOS = {"per-class": "", "per-recipient": 'split = "per-recipient"\n'}


class Scenario:
    def __init__(self, name: str, policy_extra: str):
        self.name = name
        self.tmp = mta.TempDir(prefix=mta.TEMP_PREFIX + "bench-")
        self.milter = MilterDaemon(self.tmp)
        (self.tmp / "domains.toml").write_text(POLICY.format(extra=policy_extra))
        self.milter.start()
        self.mx = mta.PostfixInstance(self.tmp, name="mx", addresses=["alice", "dave", "carol"],
                                      milter=self.milter.socket_path,
                                      main_cf={"milter_protocol": "6", "milter_default_action": "tempfail"}).start()
        self.sender = mta.PostfixInstance(self.tmp, name="sender", addresses=["bob@sender.test"], domain="sender.test",
                                          relay_to=(mta.LOOPBACK, self.mx.port), **DEFAULT_TIMERS).start()
        self.sent_at: float | None = None
        self.arrived: dict[str, float] = {}
        self.queue_id: str | None = None

    def submit(self) -> None:
        self.sent_at = time.monotonic()
        res = self.sender.send(SENDER, RECIPIENTS, MESSAGE)
        if not res.accepted:
            raise RuntimeError(f"{self.name}: submission failed\n{res.transcript}")
        self.queue_id = res.queue_id

    def poll(self) -> bool:
        now = time.monotonic()
        for rcpt in RECIPIENTS:
            if rcpt not in self.arrived and self.mx.maildir_messages(rcpt):
                self.arrived[rcpt] = now - self.sent_at
        return len(self.arrived) == len(RECIPIENTS)

    def attempts(self) -> list[tuple[str, str, str]]:
        """(recipient, status, mx queue id or reason) per delivery attempt, in log order."""
        out = []
        for rcpt, status, rest in re.findall(rf"\b{self.queue_id}: to=<([^>]+)>,.* status=(\w+) (.*)$",
                                             self.sender.maillog(), re.M):
            m = re.search(r"queued as (\w+)", rest)
            out.append((rcpt, status, m.group(1) if m else rest[:90]))
        return out

    def report(self) -> str:
        lines = [f"## {self.name}", "", "| recipient | delivered after | attempt | tries |", "|---|---|---|---|"]
        attempts = self.attempts()
        for rcpt in RECIPIENTS:
            tries = [a for a in attempts if a[0] == rcpt]
            sent = [i for i, a in enumerate(tries, 1) if a[1] == "sent"]
            when = f"{self.arrived[rcpt]:.1f} s" if rcpt in self.arrived else "not delivered"
            lines.append(f"| {rcpt} | {when} | {sent[0] if sent else '-'} | {len(tries)} |")
        lines += ["", "sender's attempts (recipient, status, mx queue id or reply):"]
        lines += [f"  {r} {s} {detail}" for r, s, detail in attempts]
        return "\n".join(lines)

    def close(self) -> None:
        for stop in (self.sender.stop, self.mx.stop, self.milter.stop):
            try:
                stop()
            except Exception as exc:  # keep stopping the rest
                print(f"{self.name}: stop failed: {exc!r}", file=sys.stderr)
        self.tmp.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=2100.0, help="give up after this many seconds (default 2100)")
    args = ap.parse_args()
    mta.install_signal_cleanup()
    scenarios: list[Scenario] = []
    try:
        for name, extra in SCENARIOS.items():
            scenarios.append(Scenario(name, extra))
        for s in scenarios:
            s.submit()
        print(f"submitted at {time.strftime('%H:%M:%S')}; sender timers {DEFAULT_TIMERS}", flush=True)
        deadline = time.monotonic() + args.timeout
        reported: dict[str, set[str]] = {s.name: set() for s in scenarios}
        while time.monotonic() < deadline:
            done = [s.poll() for s in scenarios]
            for s in scenarios:
                for rcpt, t in s.arrived.items():
                    if rcpt not in reported[s.name]:
                        reported[s.name].add(rcpt)
                        print(f"{s.name}: {rcpt} after {t:.1f} s", flush=True)
            if all(done):
                break
            time.sleep(0.5)
        print()
        for s in scenarios:
            print(s.report())
            print()
        return 0 if all(len(s.arrived) == len(RECIPIENTS) for s in scenarios) else 1
    finally:
        for s in scenarios:
            s.close()
        mta.cleanup_all()


if __name__ == "__main__":
    sys.exit(main())
