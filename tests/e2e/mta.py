"""Harness that runs REAL mail servers (Postfix 3.7, Sendmail 8.17) for mdcrypt-milter e2e tests.

Standard library only; every subprocess gets an argument list (never a shell).  Loopback only:
every listener and client uses 127.0.0.1 and nothing is relayed off the machine.

Quick use::

    from mta import TempDir, PostfixInstance, SendmailInstance, ManagedProcess, binary, wait_unix_listening
    with TempDir() as tmp:
        sock = tmp.milter_socket_dir() / "mdcrypt.sock"     # root:postfix 02750
        with ManagedProcess([binary("mdcrypt-milter"), ...], log=tmp / "milter.log", cwd=tmp) as milter:
            wait_unix_listening(sock, alive=milter.alive)
            with PostfixInstance(tmp, addresses=["alice"], milter=sock) as pf:
                res = pf.send("bob@sender.test", ["alice@example.test"], b"Subject: x\n\nhi\n")
                assert res.accepted, res.transcript          # res.codes == {"connect": 220, ..., "eom": 250}
                [stored] = pf.wait_for_maildir("alice@example.test", 1)

Environment: MDCRYPT_BUILD_DIR (set by ctest; build_dir()/binary()), MDCRYPT_E2E_CACHE (sendmail
download/extraction, default <build dir>/e2e-cache), MDCRYPT_E2E_TMPDIR (parent of TempDirs, default
/tmp), MDCRYPT_E2E_KEEP=1 (keep TempDirs for debugging).

Non-obvious facts this relies on (verified on Debian 12, as root, no systemd, no syslog):

Postfix
* `postfix -c DIR start|stop` runs a private instance from its own config dir; as root no
  `alternate_config_directories` entry is needed, and `sendmail -C DIR` / `postqueue -c DIR` work too.
* main.cf/master.cf are written from scratch (every chroot column `n`).  `data_directory` must be
  owned by `postfix` (else "open lock file ... master.lock: Permission denied").  Postfix daemons run
  as `postfix`, so every directory above the queue must be traversable by it: the TempDir is
  root:postfix 0710 (private to everybody else).  Virtual delivery runs as uid 5000 (no passwd entry
  needed, >= virtual_minimum_uid) with gid `postfix`, which is how it traverses the same 0710 dirs.
* No syslog: `maillog_file` + `maillog_file_prefixes` + a `postlog unix-dgram` service in master.cf.
* Postfix re-reads main.cf (and texthash: maps) every 300 ms while its mtime is within ~1 s of now
  ("hot" file); freshly written config files are back-dated, else every start costs ~2 s.
* A queue skeleton made as postfix-files says plus `queue/quick-start` skips postfix-script's
  check-fatal/check-warn; with both, `postfix start` takes ~0.1 s instead of ~2.3 s.
* Each instance needs its own `myhostname`, else a relaying instance sees its own name in the peer's
  greeting and defers with "mail for ... loops back to myself".
* smtpd talks to the milter as user `postfix`: the socket's directory must be traversable and the
  socket writable by it.  `TempDir.milter_socket_dir()` is root:postfix 02750 (setgid: the socket gets
  group postfix); start the milter with umask 007 (`ManagedProcess(..., umask=0o007)`).  AF_UNIX
  paths are limited to 107 bytes, so keep sockets under a short TempDir (default: /tmp).
* Readiness is read from /proc/net/tcp (MTAs) and /proc/net/unix (milter sockets); never probe by
  connecting (a probe to smtpd opens a milter session, one to the milter makes libmilter log errors).
* Milter down + `milter_default_action = tempfail`: smtpd answers `451 4.7.1` at MAIL FROM; local
  submissions (non_smtpd_milters, via pickup/cleanup) stay in the queue.  Match on a leading 4.
* `postqueue -f` forces retries of deferred mail; the retry timers here default to a few seconds.

Sendmail
* The Debian sendmail packages conflict with postfix, so `apt-get download sendmail-bin sendmail-cf m4
  liblockfile1 libwrap0` (into the cache dir) + `dpkg -x`.  Its other libraries (libdb5.3, libldap-2.5-0,
  libnsl2, libsasl2-2, libssl3) are normally already present (postfix pulls most of them).
* The binary is setgid `mail`, so ld.so would ignore LD_LIBRARY_PATH/LD_PRELOAD: the extracted copy is
  `chmod g-s`.
* Sendmail sleeps 60 s at start-up when the host name is unqualified; tests/support/mta/sendmail_shim.c
  (LD_PRELOAD) answers a FQDN from gethostname()/uname() and turns syslog() into appends to a file
  (sendmail wipes its environment in main(), so the shim reads its variables in a constructor).
* The .cf is built with the extracted m4 from an .mc that sets `__OSTYPE__` directly (OSTYPE(linux)
  would pull in procmail), has no MAILER(smtp) (nothing can leave), routes the configured addresses to
  a `mdmaildir` prog-style mailer (tests/support/mta/maildir_deliver.py, flags lsDFMPnS) from
  LOCAL_RULE_0, rejects other recipients at RCPT, and resolves foreign *senders* (checked through ruleset
  0 at MAIL FROM: "553 Unrecognized host name" otherwise) to a never-used mailer via ${addr_type}.
* `confDONT_BLAME_SENDMAIL=TrustStickyBit` (a socket under /tmp is "unsafe" otherwise; a MISSING socket is
  reported as "unsafe" too).  Milter down with F=T: `451 4.3.2` at MAIL FROM.
* `sendmail -bD` stays in the foreground; it is started in its own session, so stopping it kills that
  session (its SMTP children).  Background deliveries (the default DeliveryMode) setsid() away and
  process titles are rewritten, so those are found by their cwd: every sendmail (and postfix) process
  chdirs into its instance's queue dir.  Never by name.
  Start-up ~0.05 s, SIGTERM stop ~0.01 s (with no session open).

Both
* A libmilter program can take ~6 s to exit after SIGTERM: `ManagedProcess.stop()` grants 10 s.
* `FakeMilter` (in-process, ~100 lines of milter protocol v6) proves the MTA->socket->milter path and
  permissions without the real daemon; it adds `X-E2E-Fake-Milter: seen` at end of message.
* Leftovers: every TempDir records its owner (pid + start time); `reap_stale_runs()` kills processes of
  runs whose owner died (postfix by MAIL_CONFIG in their environment, sendmail by session id, anything
  whose cwd is inside, gpg-agent by --homedir) and removes their dirs.  Nothing is ever matched by process name alone.
* swaks rewrites DATA (\\n escapes, %TOKENS%, header reflow, a leading "From " line) unless given
  --no-data-fixup; `send(client="swaks")` passes the exact wire form with that flag.
"""
from __future__ import annotations

import atexit
import dataclasses
import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
SUPPORT_DIR = REPO_ROOT / "tests" / "support" / "mta"
TEMP_PREFIX = "mdcrypt-e2e-"
OWNER_FILE = ".mdcrypt-e2e-owner"
SESSIONS_FILE = ".mdcrypt-e2e-sessions"
POSTFIX_SBIN = "/usr/sbin"
VIRTUAL_UID = 5000
DEFAULT_DOMAIN = "example.test"

# Debian packages the harness needs on the host (CI: apt-get install -y --no-install-recommends ...):
# postfix + swaks for the MTAs, gcc + libc6-dev to build the sendmail shim, python3, util-linux
# (setpriv, used by the self-tests), gnupg/gpg-agent for tests that use GnuPG, and the shared
# libraries of the extracted sendmail (mostly already pulled in by postfix and gnupg's dirmngr).
APT_PACKAGES = ("postfix", "swaks", "gcc", "libc6-dev", "python3", "util-linux", "gnupg", "gpg-agent",
                "libdb5.3", "libldap-2.5-0", "libnsl2", "libsasl2-2", "libssl3")
# Fetched by scripts/install-deps (`apt-get download`) into SENDMAIL_DEBS_DIR and extracted into the
# cache dir (never installed). The tests download nothing.
SENDMAIL_DEBS = ("sendmail-bin", "sendmail-cf", "m4", "liblockfile1", "libwrap0")
SENDMAIL_DEBS_DIR = Path(os.environ.get("MDCRYPT_SENDMAIL_DEBS", "/var/cache/mdcrypt-milter-tests/sendmail-debs"))


# --------------------------------------------------------------------------------------------
# Build and cache locations
# --------------------------------------------------------------------------------------------

def build_dir() -> Path:
    """The CMake build dir of the project: $MDCRYPT_BUILD_DIR (set by ctest), else <repo>/build."""
    env = os.environ.get("MDCRYPT_BUILD_DIR")
    return Path(env).resolve() if env else REPO_ROOT / "build"


def binary(name: str, *, required: bool = True) -> Path | None:
    """Path of a built executable called `name` anywhere under build_dir() (first match by depth).

    Raises FileNotFoundError (or returns None with required=False) if it was not built.
    """
    root = build_dir()
    best: tuple[int, str] | None = None
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames
                                if d not in ("CMakeFiles", "e2e-cache", "Testing", "_deps") and not d.startswith("."))
            if name in filenames:
                cand = os.path.join(dirpath, name)
                if os.access(cand, os.X_OK) and os.path.isfile(cand):
                    depth = cand.count(os.sep)
                    if best is None or depth < best[0]:
                        best = (depth, cand)
    if best is None:
        if required:
            raise FileNotFoundError(f"{name} not found under build dir {root} (set MDCRYPT_BUILD_DIR, build it)")
        return None
    return Path(best[1])


def cache_dir() -> Path:
    """Where downloaded/extracted tools are kept across runs.

    $MDCRYPT_E2E_CACHE, else <build dir>/e2e-cache when MDCRYPT_BUILD_DIR is set, else
    ~/.cache/mdcrypt-e2e.
    """
    env = os.environ.get("MDCRYPT_E2E_CACHE")
    if env:
        return Path(env).resolve()
    if os.environ.get("MDCRYPT_BUILD_DIR"):
        return build_dir() / "e2e-cache"
    return Path.home() / ".cache" / "mdcrypt-e2e"


# --------------------------------------------------------------------------------------------
# Ports (via /proc/net/tcp, never by connecting)
# --------------------------------------------------------------------------------------------

_TCP_LISTEN = "0A"
_handed_out_ports: set[int] = set()
_port_lock = threading.Lock()


def _ipv4_hex(host: str) -> str:
    return "".join(f"{b:02X}" for b in reversed(socket.inet_aton(host)))


def _proc_tcp_entries() -> list[tuple[str, int, str]]:
    """(local address hex, port, state hex) for every IPv4/IPv6 TCP socket."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) < 4:
                        continue
                    addr, _, port_hex = fields[1].rpartition(":")
                    out.append((addr, int(port_hex, 16), fields[3]))
        except FileNotFoundError:
            continue
    return out


def is_listening(port: int, host: str = LOOPBACK) -> bool:
    want = {_ipv4_hex(host), "00000000", "0" * 32}
    return any(p == port and st == _TCP_LISTEN and addr in want for addr, p, st in _proc_tcp_entries())


def wait_port_listening(port: int, timeout: float = 30.0, host: str = LOOPBACK,
                        alive: Callable[[], bool] | None = None) -> float:
    """Wait until something LISTENs on host:port; returns the seconds waited.

    `alive`, if given, is polled too: when it returns False the wait fails at once.
    """
    t0 = time.monotonic()
    while True:
        if is_listening(port, host):
            return time.monotonic() - t0
        if alive is not None and not alive():
            raise RuntimeError(f"process died before listening on {host}:{port}")
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")
        time.sleep(0.03)


def wait_port_closed(port: int, timeout: float = 30.0, host: str = LOOPBACK) -> None:
    deadline = time.monotonic() + timeout
    while is_listening(port, host):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host}:{port} still listening after {timeout:.0f}s")
        time.sleep(0.05)


def is_unix_listening(path: str | os.PathLike) -> bool:
    """Whether a unix stream socket is listening on `path` (from /proc/net/unix, no connection made)."""
    want = os.path.abspath(path)
    try:
        with open("/proc/net/unix") as f:
            next(f, None)
            for line in f:
                fields = line.split()
                # Num RefCount Protocol Flags Type St Inode Path; Flags 0x10000 = __SO_ACCEPTCON (listening)
                if len(fields) >= 8 and fields[7] == want and int(fields[3], 16) & 0x10000:
                    return True
    except FileNotFoundError:
        pass
    return False


def wait_unix_listening(path: str | os.PathLike, timeout: float = 30.0,
                        alive: Callable[[], bool] | None = None) -> float:
    """Wait until a milter (or anything) listens on the unix socket `path`; returns the seconds waited.

    Uses /proc/net/unix: a probe connection would open a milter session and make libmilter log errors.
    """
    t0 = time.monotonic()
    while not is_unix_listening(path):
        if alive is not None and not alive():
            raise RuntimeError(f"process died before listening on {path}")
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"nothing listening on unix:{path} after {timeout:.0f}s")
        time.sleep(0.03)
    return time.monotonic() - t0


def free_port() -> int:
    """A loopback TCP port that is free now and was not handed out before by this process."""
    with _port_lock:
        in_use = {p for _, p, _ in _proc_tcp_entries()}
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((LOOPBACK, 0))
                port = s.getsockname()[1]
            if port not in _handed_out_ports and port not in in_use:
                _handed_out_ports.add(port)
                return port
    raise RuntimeError("no free loopback port found")


# --------------------------------------------------------------------------------------------
# Process bookkeeping and cleanup
# --------------------------------------------------------------------------------------------

_cleanups: list[tuple[int, Callable[[], None]]] = []
_cleanup_lock = threading.Lock()
_cleanup_seq = 0


def register_cleanup(fn: Callable[[], None]) -> int:
    """Run fn at interpreter exit (LIFO) unless unregistered first; returns a token."""
    global _cleanup_seq
    with _cleanup_lock:
        _cleanup_seq += 1
        _cleanups.append((_cleanup_seq, fn))
        return _cleanup_seq


def unregister_cleanup(token: int) -> None:
    with _cleanup_lock:
        _cleanups[:] = [(t, f) for t, f in _cleanups if t != token]


def cleanup_all() -> None:
    """Stop everything this process started through the harness (idempotent)."""
    while True:
        with _cleanup_lock:
            if not _cleanups:
                return
            _, fn = _cleanups.pop()
        try:
            fn()
        except Exception as exc:  # keep cleaning up the rest
            print(f"mta.py: cleanup error: {exc!r}", file=sys.stderr)


atexit.register(cleanup_all)


def install_signal_cleanup() -> None:
    """Turn SIGTERM/SIGHUP/SIGINT into SystemExit so atexit cleanup runs (call from test mains)."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces/parens: split after the last ')'
    rest = data[data.rfind(")") + 2:].split()
    return rest  # rest[0]=state, [1]=ppid, [2]=pgrp, [3]=session, ... [19]=starttime


def process_start_time(pid: int) -> int | None:
    st = _proc_stat(pid)
    return int(st[19]) if st and len(st) > 19 else None


def pid_alive(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _read_environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def _read_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def session_members(sid: int) -> list[int]:
    out = []
    for pid in _all_pids():
        st = _proc_stat(pid)
        if st and int(st[3]) == sid and st[0] not in ("Z", "X"):
            out.append(pid)
    return out


def _under(path: str, root: str) -> bool:
    root = os.path.normpath(root)
    path = os.path.normpath(path)
    return path == root or path.startswith(root + os.sep)


def kill_pids(pids: Iterable[int], grace: float = 3.0) -> None:
    """SIGTERM the given pids, wait up to `grace` seconds, SIGKILL survivors."""
    pids = [p for p in set(pids) if p > 1 and p != os.getpid()]
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    for p in pids:
        if pid_alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def kill_session(sid: int, grace: float = 3.0) -> None:
    """Kill every process whose session id is `sid` (a session this harness created)."""
    kill_pids(session_members(sid), grace)


def pids_with_cwd_under(root: str | os.PathLike) -> list[int]:
    """Processes whose working directory lies under `root` (one of our temp/instance dirs).

    Sendmail's background delivery children call setsid() (so they leave the daemon's session) and
    rewrite their process titles, but like every sendmail and postfix process they chdir into the
    instance's queue directory: their cwd identifies them exactly.
    """
    root = os.path.normpath(str(root))
    out = []
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd.endswith(" (deleted)"):
            cwd = cwd[: -len(" (deleted)")]
        if _under(cwd, root):
            out.append(pid)
    return out


def postfix_pids(config_dir: str | os.PathLike) -> list[int]:
    """Processes of the postfix instance using config_dir (found by MAIL_CONFIG in their env)."""
    conf = os.path.normpath(str(config_dir))
    return [p for p in _all_pids() if os.path.normpath(_read_environ(p).get("MAIL_CONFIG", "\0")) == conf]


GPG_DAEMONS = ("gpg-agent", "dirmngr", "keyboxd", "scdaemon")


def gpg_daemon_pids(under: str | os.PathLike) -> dict[int, str]:
    """gpg-agent/dirmngr/... processes whose --homedir (or GNUPGHOME) lies under `under`: pid->homedir."""
    root = str(under)
    found = {}
    for pid in _all_pids():
        argv = _read_cmdline(pid)
        if not argv or os.path.basename(argv[0]) not in GPG_DAEMONS:
            continue
        home = None
        for i, a in enumerate(argv):
            if a == "--homedir" and i + 1 < len(argv):
                home = argv[i + 1]
            elif a.startswith("--homedir="):
                home = a.split("=", 1)[1]
        if home is None:
            home = _read_environ(pid).get("GNUPGHOME")
        if home and _under(home, root):
            found[pid] = home
    return found


def kill_gpg_agents(under: str | os.PathLike, grace: float = 2.0) -> None:
    """Stop gpg-agent & co. started with a homedir under `under` (gpgconf --kill first, then signals)."""
    found = gpg_daemon_pids(under)
    if not found:
        return
    if shutil.which("gpgconf"):
        for home in set(found.values()):
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=False)
    kill_pids([p for p in found if pid_alive(p)], grace)


class ManagedProcess:
    """A child process (e.g. the milter daemon) in its own session, stopped with a grace period.

    stop() sends SIGTERM, waits `grace` seconds (libmilter needs ~6 s), then SIGKILLs the whole
    session.  Registered for atexit cleanup; also a context manager.  umask 007 by default so that a
    milter socket created in TempDir.milter_socket_dir() is connectable by group postfix.  The session
    is recorded in the TempDir enclosing record_in/cwd/log for reap_stale_runs().
    Typical milter start:
        milter = ManagedProcess([binary("mdcrypt-milter"), "--config", cfg], log=tmp / "milter.log", cwd=tmp)
        wait_unix_listening(sock, alive=milter.alive)
    """

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None,
                 log: str | os.PathLike | None = None, umask: int = 0o007, grace: float = 10.0,
                 record_in: str | os.PathLike | None = None):
        self.argv = [str(a) for a in argv]
        self.grace = grace
        self.log_path = Path(log) if log else None
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True, umask=umask)
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        self.pid = self.proc.pid
        anchor = record_in or cwd or (self.log_path.parent if self.log_path else None)
        if anchor is not None:
            record_session(anchor, self.pid)  # lets reap_stale_runs() find it if this run is killed
        self._token = register_cleanup(self.stop)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, grace: float | None = None) -> int | None:
        grace = self.grace if grace is None else grace
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        kill_session(self.pid, grace=0.5)
        if self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait()
        unregister_cleanup(self._token)
        return rc

    def __enter__(self) -> "ManagedProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Temporary directories
# --------------------------------------------------------------------------------------------

def _postfix_ids() -> tuple[int, int]:
    return pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postfix").gr_gid


def _traversable_by(path: str, uid: int, gids: set[int]) -> bool:
    st = os.stat(path)
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def grant_postfix_traverse(path: str | os.PathLike, top: str | os.PathLike) -> None:
    """Make `path` and its ancestors up to `top` (inclusive) traversable by group postfix.

    Dirs that postfix cannot traverse get group postfix and g+x (no read, no write).  Ancestors above
    `top` are only checked; a clear error is raised if one is closed to postfix.
    """
    _, gid = _postfix_ids()
    path = os.path.abspath(path)
    top = os.path.abspath(top)
    if not _under(path, top):
        raise ValueError(f"{path} is not under {top}")
    cur = path
    while True:
        st = os.stat(cur)
        if not _traversable_by(cur, -1, {gid}):
            os.chown(cur, -1, gid)
            os.chmod(cur, stat.S_IMODE(st.st_mode) | stat.S_IXGRP)
        if cur == top:
            break
        cur = os.path.dirname(cur)
    pf_uid, _ = _postfix_ids()
    cur = os.path.dirname(top)
    while True:
        if not _traversable_by(cur, pf_uid, {gid}):
            raise PermissionError(f"user postfix cannot traverse {cur}; put the test dir elsewhere (e.g. /tmp)")
        if cur == "/":
            break
        cur = os.path.dirname(cur)


class TempDir:
    """A private temporary directory (0700, root) that is removed at exit.

    Parts that Postfix must reach are opened to group postfix only (see grant_postfix_traverse);
    milter_socket_dir() gives a setgid-postfix directory for a milter socket.  Set
    MDCRYPT_E2E_KEEP=1 (or keep=True) to keep the tree for debugging.  Before removal, gpg-agents
    with a homedir inside are stopped.  The owner (pid, start time) is recorded so that a later run
    can reap what a killed run left behind (reap_stale_runs()).
    """

    def __init__(self, prefix: str = TEMP_PREFIX, parent: str | os.PathLike | None = None, keep: bool | None = None):
        parent = parent or os.environ.get("MDCRYPT_E2E_TMPDIR") or tempfile.gettempdir()
        if not prefix.startswith(TEMP_PREFIX):
            prefix = TEMP_PREFIX + prefix
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        os.chmod(self.path, 0o700)
        self.keep = keep if keep is not None else os.environ.get("MDCRYPT_E2E_KEEP") == "1"
        me = os.getpid()
        (self.path / OWNER_FILE).write_text(f"{me} {process_start_time(me)}\n")
        self._token = register_cleanup(self.cleanup)
        self._closed = False

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __truediv__(self, other: str) -> Path:
        return self.path / other

    def subdir(self, name: str, mode: int = 0o700) -> Path:
        p = self.path / name
        p.mkdir(parents=True, exist_ok=True)
        os.chmod(p, mode)
        return p

    def allow_postfix(self, path: str | os.PathLike) -> Path:
        """Let user postfix traverse from the TempDir root down to `path` (no listing, no writing)."""
        grant_postfix_traverse(path, self.path)
        return Path(path)

    def milter_socket_dir(self, name: str = "milter") -> Path:
        """A directory for a milter's unix socket that Postfix (user postfix) can reach.

        root:postfix mode 02750: the setgid bit gives the socket group postfix; a milter started with
        umask 007 then creates a socket that postfix may connect to.  Sendmail connects as root.
        """
        p = self.path / name
        p.mkdir(parents=True, exist_ok=True)
        _, gid = _postfix_ids()
        os.chown(p, 0, gid)
        os.chmod(p, 0o2750)
        self.allow_postfix(p)
        return p

    def record_session(self, sid: int) -> None:
        """Remember a session id started for this dir, so reap_stale_runs() can kill it later."""
        record_session(self.path, sid)

    def cleanup(self) -> None:
        if self._closed:
            return
        self._closed = True
        unregister_cleanup(self._token)
        kill_gpg_agents(self.path)
        kill_pids(pids_with_cwd_under(self.path), grace=2.0)
        if self.keep:
            print(f"mta.py: keeping {self.path}", file=sys.stderr)
            return
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> "TempDir":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


def record_session(path: str | os.PathLike, sid: int) -> bool:
    """Record session `sid` in the nearest enclosing TempDir of `path` (for reap_stale_runs())."""
    p = Path(path).resolve()
    for d in [p, *p.parents]:
        if (d / OWNER_FILE).exists():
            with open(d / SESSIONS_FILE, "a") as f:
                f.write(f"{sid} {process_start_time(sid)}\n")
            return True
    return False


def reap_stale_runs(parent: str | os.PathLike | None = None) -> list[str]:
    """Clean up after harness runs that were killed (e.g. ctest timeout): returns the dirs reaped.

    Only dirs named mdcrypt-e2e-* under `parent` (default: the temp dir) whose recorded owner process
    is gone (or that lost their owner file over a minute ago) are touched; in them: postfix instances (by MAIL_CONFIG), recorded sessions (sendmail,
    milters) and gpg daemons (by homedir) are killed, then the dir is removed.
    """
    parent = Path(parent or os.environ.get("MDCRYPT_E2E_TMPDIR") or tempfile.gettempdir())
    reaped = []
    for d in sorted(parent.glob(TEMP_PREFIX + "*")):
        owner = d / OWNER_FILE
        try:
            st = d.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                continue
            pid_s, start_s = owner.read_text().split()
            pid = int(pid_s)
            if pid_alive(pid) and str(process_start_time(pid)) == start_s:
                continue  # a live run
        except FileNotFoundError:
            # no owner file: half-removed by a cleanup that raced with a dying process, or being
            # created right now (the owner file follows mkdtemp within microseconds)
            if time.time() - st.st_mtime < 60:
                continue
        except (OSError, ValueError):
            continue
        root = str(d)
        victims = set(pids_with_cwd_under(root))
        for p in _all_pids():
            conf = _read_environ(p).get("MAIL_CONFIG")
            if conf and _under(conf, root):
                victims.add(p)
        try:
            for line in (d / SESSIONS_FILE).read_text().splitlines():
                sid_s, start = line.split()
                sid = int(sid_s)
                if pid_alive(sid) and str(process_start_time(sid)) != start:
                    continue  # pid reused by an unrelated session leader
                victims.update(session_members(sid))
        except (OSError, ValueError):
            pass
        kill_pids(victims, grace=3.0)
        kill_gpg_agents(root)
        shutil.rmtree(d, ignore_errors=True)
        reaped.append(root)
    return reaped


# --------------------------------------------------------------------------------------------
# SMTP client (smtplib or swaks) with per-stage replies
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Reply:
    stage: str            # connect, ehlo, mail, rcpt, data, eom, quit
    code: int | None      # None: no reply (connection failed/closed)
    text: str
    arg: str = ""         # the recipient for rcpt


@dataclasses.dataclass
class SmtpResult:
    """Outcome of one SMTP transaction.

    replies: every reply in order.  codes: stage -> reply code (the last one for rcpt).
    final_code/final_stage: the decisive reply (the last one before QUIT).  accepted: end-of-data 2xx.
    """
    replies: list[Reply]
    transcript: str
    client: str

    @property
    def codes(self) -> dict[str, int | None]:
        return {r.stage: r.code for r in self.replies}

    @property
    def rcpt_codes(self) -> dict[str, int | None]:
        return {r.arg: r.code for r in self.replies if r.stage == "rcpt"}

    def code(self, stage: str) -> int | None:
        return self.codes.get(stage)

    def _decisive(self) -> Reply | None:
        body = [r for r in self.replies if r.stage != "quit"]
        return body[-1] if body else None

    @property
    def final_code(self) -> int | None:
        r = self._decisive()
        return r.code if r else None

    @property
    def final_stage(self) -> str | None:
        r = self._decisive()
        return r.stage if r else None

    @property
    def final_text(self) -> str:
        r = self._decisive()
        return r.text if r else ""

    @property
    def accepted(self) -> bool:
        c = self.code("eom")
        return c is not None and 200 <= c < 300

    @property
    def tempfailed(self) -> bool:
        """Some reply in the transaction was 4xx and the message was not accepted."""
        return not self.accepted and any(r.code is not None and 400 <= r.code < 500 for r in self.replies)

    def first_failure(self) -> Reply | None:
        for r in self.replies:
            if r.stage != "quit" and (r.code is None or r.code >= 400):
                return r
        return None

    @property
    def queue_id(self) -> str | None:
        r = [x for x in self.replies if x.stage == "eom"]
        if not r or not r[0].code or r[0].code >= 300:
            return None
        m = re.search(r"queued as ([0-9A-Za-z]+)", r[0].text) or re.search(r"2\.0\.0 ([0-9A-Za-z]+) Message accepted", r[0].text)
        return m.group(1) if m else None

    def __str__(self) -> str:
        return self.transcript


def wire_data(message: bytes) -> bytes:
    """The DATA payload as sent: CRLF line ends, dot-stuffed, ending in CRLF (without the final dot)."""
    data = re.sub(rb"\r?\n", b"\r\n", message)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", data)


def smtp_send(host: str, port: int, mail_from: str, rcpts: Sequence[str], message: bytes, *,
              helo: str = "client.e2e.test", timeout: float = 60.0) -> SmtpResult:
    """One SMTP transaction with smtplib, recording every reply (never raises for SMTP errors).

    The message is sent byte-exact apart from CRLF line ends and dot-stuffing (see wire_data()).
    A dropped connection or timeout is recorded as a reply with code None at the stage it happened.
    """
    replies: list[Reply] = []
    lines: list[str] = []
    stage, arg = "connect", ""

    def rec(code: int | None, text: bytes | str) -> int | None:
        t = text.decode(errors="replace") if isinstance(text, bytes) else text
        replies.append(Reply(stage, code, t, arg))
        if code is None:
            lines.append(f"!! {t}")
        else:
            parts = t.split("\n")
            lines.extend(f"S: {code}{' ' if i == len(parts) - 1 else '-'}{ln}" for i, ln in enumerate(parts))
        return code

    s = smtplib.SMTP(local_hostname=helo, timeout=timeout)
    try:
        lines.append(f"C: (connect {host}:{port})")
        if rec(*s.connect(host, port)) != 220:
            return SmtpResult(replies, "\n".join(lines), "smtplib")
        stage = "ehlo"
        lines.append(f"C: EHLO {helo}")
        if rec(*s.ehlo(helo)) == 250:
            stage = "mail"
            lines.append(f"C: MAIL FROM:<{mail_from}>")
            if rec(*s.mail(mail_from)) == 250:
                ok = 0
                for r in rcpts:
                    stage, arg = "rcpt", r
                    lines.append(f"C: RCPT TO:<{r}>")
                    if rec(*s.rcpt(r)) in (250, 251):
                        ok += 1
                stage, arg = "data", ""
                if ok:
                    lines.append("C: DATA")
                    s.putcmd("data")
                    if rec(*s.getreply()) == 354:
                        stage = "eom"
                        payload = wire_data(message)
                        lines.append(f"C: <{len(payload)} bytes of message data>")
                        lines.append("C: .")
                        s.send(payload + b".\r\n")
                        rec(*s.getreply())
        stage, arg = "quit", ""
        lines.append("C: QUIT")
        rec(*s.docmd("quit"))
    except smtplib.SMTPServerDisconnected as exc:
        rec(None, f"server disconnected: {exc}")
    except (OSError, smtplib.SMTPException) as exc:
        rec(None, f"{'connect failed' if stage == 'connect' else 'client error'}: {exc!r}")
    finally:
        try:
            s.close()
        except OSError:
            pass
    return SmtpResult(replies, "\n".join(lines), "smtplib")


def swaks_send(host: str, port: int, mail_from: str, rcpts: Sequence[str], message: bytes, *,
               workdir: str | os.PathLike, helo: str = "client.e2e.test", timeout: float = 60.0) -> SmtpResult:
    """One SMTP transaction with swaks (--no-data-fixup: the message goes out byte-exact)."""
    fd, path = tempfile.mkstemp(prefix="swaks-", suffix=".eml", dir=workdir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(wire_data(message) + b".")   # swaks appends the final CRLF
        argv = ["swaks", "--server", host, "--port", str(port), "--from", mail_from, "--to", ",".join(rcpts),
                "--helo", helo, "--timeout", f"{int(timeout)}s", "--no-data-fixup", "--suppress-data",
                "--data", "@" + path]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout + 30, check=False)
    finally:
        os.unlink(path)
    transcript = proc.stdout.decode(errors="replace")
    return SmtpResult(parse_swaks(transcript), transcript, "swaks")


def parse_swaks(transcript: str) -> list[Reply]:
    """Replies from a swaks transcript ("<-  " / "<** " server lines, " -> " / "**> " client lines).

    A swaks error line ("*** ...") while a reply is awaited is recorded as a reply with code None.
    """
    replies: list[Reply] = []
    stage, arg = "connect", ""
    awaiting = True
    pending: list[str] = []
    in_data = False
    for line in transcript.splitlines():
        if line.startswith(("<-  ", "<** ")):
            m = re.match(r"(\d{3})([ -]?)(.*)", line[4:])
            if not m:
                continue
            pending.append(m.group(3))
            if m.group(2) == "-":
                continue
            code = int(m.group(1))
            replies.append(Reply(stage, code, "\n".join(pending), arg))
            pending, awaiting = [], False
            if stage == "data" and code == 354:
                in_data, stage, arg, awaiting = True, "eom", "", True
            elif stage == "eom":
                in_data = False
        elif line.startswith((" -> ", "**> ")) and not in_data:
            cmd = line[4:].strip()
            upper = cmd.upper()
            if upper.startswith(("EHLO", "HELO")):
                stage, arg = "ehlo", ""
            elif upper.startswith("MAIL FROM"):
                stage, arg = "mail", ""
            elif upper.startswith("RCPT TO"):
                stage, arg = "rcpt", cmd.split(":", 1)[1].strip().strip("<>")
            elif upper == "DATA":
                stage, arg = "data", ""
            elif upper == "QUIT":
                stage, arg = "quit", ""
            else:
                stage, arg = upper.split(" ")[0].lower(), ""
            awaiting = True
        elif line.startswith("*** ") and awaiting and stage != "quit":
            replies.append(Reply(stage, None, line[4:], arg))
            awaiting = False
    return replies


# --------------------------------------------------------------------------------------------
# Shared MTA behaviour
# --------------------------------------------------------------------------------------------

_ADDR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def _normalize_addresses(addresses: Iterable[str], domain: str) -> list[str]:
    out = []
    for a in addresses:
        local, _, dom = a.partition("@")
        dom = (dom or domain).lower()
        if not _ADDR_RE.match(local) or not re.match(r"^[a-z0-9.-]+$", dom):
            raise ValueError(f"unsupported test address {a!r}")
        out.append(f"{local.lower()}@{dom}")
    return out


def _milter_spec(milter: str | os.PathLike | None) -> str | None:
    if milter is None:
        return None
    m = str(milter)
    if not m.startswith(("unix:", "inet:", "local:")):
        m = "unix:" + os.path.abspath(m)
    if m.startswith(("unix:", "local:")) and len(m.split(":", 1)[1]) > 107:
        raise ValueError(f"milter socket path too long for AF_UNIX: {m}")
    return m


def _read_maildir(box: Path) -> list[bytes]:
    files = []
    for sub in ("new", "cur"):
        d = box / sub
        if d.is_dir():
            files += [p for p in d.iterdir() if p.is_file()]
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [p.read_bytes() for p in files]


def split_message(data: bytes) -> tuple[bytes, bytes]:
    """(header block, body) of a stored message (LF or CRLF)."""
    m = re.search(rb"\r?\n\r?\n", data)
    if not m:
        return data, b""
    return data[:m.start()], data[m.end():]


class _MtaBase:
    name: str
    port: int
    workdir: Path
    addresses: list[str]

    def _maildir(self, address: str) -> Path:
        raise NotImplementedError

    def log(self) -> str:
        raise NotImplementedError

    def queue_count(self) -> int:
        raise NotImplementedError

    def maildir_messages(self, address: str) -> list[bytes]:
        """Messages delivered so far to `address` (oldest first), without waiting."""
        return _read_maildir(self._maildir(address))

    def wait_for_maildir(self, address: str, count: int = 1, timeout: float = 15.0) -> list[bytes]:
        """Wait until `address` has at least `count` messages; return all of them (oldest first)."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.maildir_messages(address)
            if len(msgs) >= count:
                return msgs
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {address} has {len(msgs)} message(s), wanted {count} "
                                   f"after {timeout:.0f}s; queue={self.queue_count()}\n--- log tail ---\n"
                                   + "\n".join(self.log().splitlines()[-40:]))
            time.sleep(0.05)

    def wait_for_log(self, pattern: str, timeout: float = 15.0) -> re.Match:
        """Wait until the MTA log matches the regex `pattern`; return the match."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log())
            if m:
                return m
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: log never matched {pattern!r}\n--- log tail ---\n"
                                   + "\n".join(self.log().splitlines()[-40:]))
            time.sleep(0.05)

    def send(self, mail_from: str, rcpts: Sequence[str], message: bytes, *, client: str = "smtplib",
             helo: str = "client.e2e.test", timeout: float = 60.0) -> SmtpResult:
        """One SMTP transaction to this MTA; client is "smtplib" (default) or "swaks"."""
        if client == "swaks":
            return swaks_send(LOOPBACK, self.port, mail_from, list(rcpts), message, workdir=self.workdir,
                              helo=helo, timeout=timeout)
        if client != "smtplib":
            raise ValueError(client)
        return smtp_send(LOOPBACK, self.port, mail_from, list(rcpts), message, helo=helo, timeout=timeout)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# A minimal in-process milter (for harness self-tests and placement tests, not a stand-in for mdcrypt)
# --------------------------------------------------------------------------------------------

class FakeMilter:
    """Speaks just enough milter protocol (v6) on a unix socket to prove the MTA->milter path works.

    Continues every step, adds header `header` (name, value) at end of message, and records what it saw
    in `self.events` (list of (command letter, bytes)).  tempfail_at: one of "connect", "helo", "mail",
    "rcpt", "eom" answers SMFIR_TEMPFAIL there.  The socket gets mode 0660 and the group of its
    directory (use TempDir.milter_socket_dir(), group postfix), like a real milter run with umask 007.
    """

    _STAGE_CMD = {"connect": b"C", "helo": b"H", "mail": b"M", "rcpt": b"R", "eom": b"E"}

    def __init__(self, path: str | os.PathLike, *, header: tuple[str, str] | None = ("X-E2E-Fake-Milter", "seen"),
                 tempfail_at: str | None = None):
        self.path = str(path)
        self.header = header
        self.tempfail_cmd = self._STAGE_CMD[tempfail_at] if tempfail_at else None
        self.events: list[tuple[str, bytes]] = []
        self.sessions = 0
        self._lock = threading.Lock()
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        os.chown(self.path, -1, os.stat(os.path.dirname(self.path)).st_gid)
        os.chmod(self.path, 0o660)
        self._sock.listen(16)
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, name="fake-milter", daemon=True)
        self._thread.start()
        self._token = register_cleanup(self.stop)

    def _serve(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(60)
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    @staticmethod
    def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    @staticmethod
    def _send(conn: socket.socket, cmd: bytes, data: bytes = b"") -> None:
        conn.sendall(len(cmd + data).to_bytes(4, "big") + cmd + data)

    def _session(self, conn: socket.socket) -> None:
        with self._lock:
            self.sessions += 1
        with conn:
            while True:
                try:
                    head = self._recv_exact(conn, 4)
                    if head is None:
                        return
                    packet = self._recv_exact(conn, int.from_bytes(head, "big"))
                    if not packet:
                        return
                except OSError:
                    return
                cmd, data = packet[:1], packet[1:]
                with self._lock:
                    self.events.append((cmd.decode(), data))
                if cmd == b"O":
                    # version 6, may add headers, protocol 0: send every step and want every reply
                    self._send(conn, b"O", (6).to_bytes(4, "big") + (0x01).to_bytes(4, "big") + (0).to_bytes(4, "big"))
                elif cmd in (b"D", b"A", b"K"):
                    continue  # macros, abort, quit-new-connection: no reply
                elif cmd == b"Q":
                    return
                elif cmd == self.tempfail_cmd:
                    self._send(conn, b"t")
                elif cmd == b"E":
                    if self.header:
                        self._send(conn, b"h", self.header[0].encode() + b"\0" + self.header[1].encode() + b"\0")
                    self._send(conn, b"c")
                else:
                    self._send(conn, b"c")

    def commands(self) -> str:
        """The command letters received so far, e.g. "OCHMRTLNBE..." (macros 'D' left out)."""
        with self._lock:
            return "".join(c for c, _ in self.events if c != "D")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        unregister_cleanup(self._token)
        self._thread.join(timeout=2)
        try:
            self._sock.close()
        except OSError:
            pass
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "FakeMilter":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# An SMTP sink standing in for "the rest of the Internet"
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class SinkMessage:
    mail_from: str
    rcpts: list[str]
    data: bytes           # as received: CRLF line ends, dot-stuffing removed, no final "."
    helo: str


class SmtpSink:
    """A tiny in-process SMTP server on 127.0.0.1 that accepts every message and keeps it in memory.

    Route a remote domain to it from a PostfixInstance (relay_to=("127.0.0.1", sink.port), or a
    transport map entry `smtp:[127.0.0.1]:PORT`) to see what would have left the machine.  It
    advertises 8BITMIME (so Postfix sends 8-bit bodies unconverted) and nothing else: no PIPELINING,
    no STARTTLS.  `messages()` lists what arrived; `wait_for(count)` waits for it.
    """

    def __init__(self, port: int | None = None, hostname: str = "sink.e2e.test"):
        import socketserver
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 60

            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                self.reply(f"220 {sink.hostname} ESMTP e2e sink")
                helo, mail_from, rcpts = "", None, []
                while True:
                    line = self.rfile.readline(4096)
                    if not line:
                        return
                    cmd = line.decode(errors="replace").rstrip("\r\n")
                    verb = cmd.split(" ", 1)[0].upper()
                    arg = cmd[len(verb):].strip()
                    if verb in ("EHLO", "HELO"):
                        helo, mail_from, rcpts = arg, None, []
                        self.reply(f"250-{sink.hostname}" if verb == "EHLO" else f"250 {sink.hostname}")
                        if verb == "EHLO":
                            self.reply("250 8BITMIME")
                    elif verb == "MAIL" and arg.upper().startswith("FROM:"):
                        m = re.match(r"FROM:\s*<([^>]*)>", arg, re.I)
                        mail_from, rcpts = (m.group(1) if m else arg[5:].strip()), []
                        self.reply("250 2.1.0 Ok")
                    elif verb == "RCPT" and arg.upper().startswith("TO:") and mail_from is not None:
                        m = re.match(r"TO:\s*<([^>]*)>", arg, re.I)
                        rcpts.append(m.group(1) if m else arg[3:].strip())
                        self.reply("250 2.1.5 Ok")
                    elif verb == "DATA" and rcpts:
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        chunks = []
                        while True:
                            dl = self.rfile.readline()
                            if not dl:
                                return
                            if dl == b".\r\n":
                                break
                            chunks.append(dl[1:] if dl.startswith(b".") else dl)
                        with sink._lock:
                            sink._messages.append(SinkMessage(mail_from, list(rcpts), b"".join(chunks), helo))
                        mail_from, rcpts = None, []
                        self.reply("250 2.0.0 Ok: kept by the e2e sink")
                    elif verb == "RSET":
                        mail_from, rcpts = None, []
                        self.reply("250 2.0.0 Ok")
                    elif verb == "NOOP":
                        self.reply("250 2.0.0 Ok")
                    elif verb == "QUIT":
                        self.reply("221 2.0.0 Bye")
                        return
                    else:
                        self.reply("502 5.5.2 Error: command not recognized or out of sequence")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.hostname = hostname
        self._lock = threading.Lock()
        self._messages: list[SinkMessage] = []
        self._server = Server((LOOPBACK, port or 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="smtp-sink", daemon=True)
        self._thread.start()
        self._token: int | None = register_cleanup(self.stop)

    def messages(self) -> list[SinkMessage]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, count: int = 1, timeout: float = 15.0) -> list[SinkMessage]:
        """Wait until at least `count` messages arrived; return all of them (oldest first)."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= count:
                return msgs
            if time.monotonic() > deadline:
                raise TimeoutError(f"smtp sink on port {self.port}: {len(msgs)} message(s), wanted {count} "
                                   f"after {timeout:.0f}s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._token is None:
            return
        unregister_cleanup(self._token)
        self._token = None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "SmtpSink":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Postfix
# --------------------------------------------------------------------------------------------

_MASTER_CF_SERVICES = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

_QUEUES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")

# The queue skeleton as /etc/postfix/postfix-files (3.7) declares it: (dir, owner, group, mode).
# Creating it ourselves and dropping queue/quick-start skips postfix-script's check-fatal/check-warn
# (post-install create-missing, postsuper, find): start-up goes from ~2.3 s to <0.1 s.
_QUEUE_SKELETON = (
    ("active", "postfix", None, 0o700), ("bounce", "postfix", None, 0o700), ("corrupt", "postfix", None, 0o700),
    ("defer", "postfix", None, 0o700), ("deferred", "postfix", None, 0o700), ("flush", "postfix", None, 0o700),
    ("hold", "postfix", None, 0o700), ("incoming", "postfix", None, 0o700), ("private", "postfix", None, 0o700),
    ("maildrop", "postfix", "postdrop", 0o730), ("public", "postfix", "postdrop", 0o710),
    ("pid", "root", None, 0o755), ("saved", "postfix", None, 0o700), ("trace", "postfix", None, 0o700),
)


def _backdate(path: Path, seconds: float = 60.0) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


class PostfixInstance(_MtaBase):
    """A private Postfix instance under `workdir` (a TempDir or a directory inside one).

    addresses: local parts or full addresses delivered to Maildirs (virtual delivery); bare local
      parts get `domain`.  Other recipients go to default_transport: error:... (bounced locally), or
      with relay_to=("127.0.0.1", port) to that SMTP server.
    milter: socket path (or "unix:/...", "inet:PORT@127.0.0.1") for smtpd_milters and
      non_smtpd_milters; None for no milter.
    main_cf: extra main.cf parameters (override the defaults, see main_cf_params()); master_cf: extra
      master.cf lines (e.g. a second smtpd on another free_port() with `-o smtpd_milters=...` for a
      delivery-side placement); listener_options: `-o name=value` for the main smtpd listener.
      write_conf_file() adds map files.
    Timers (queue_run_delay, minimal/maximal_backoff_time) default to a few seconds.
    Layout: <workdir>/<name>/{conf,queue,data,mail,maillog}.
    """

    def __init__(self, workdir: str | os.PathLike | TempDir, *, name: str | None = None,
                 addresses: Iterable[str] = ("alice", "bob"), domain: str = DEFAULT_DOMAIN,
                 milter: str | os.PathLike | None = None, port: int | None = None,
                 relay_to: tuple[str, int] | None = None, main_cf: dict[str, str] | None = None,
                 master_cf: Sequence[str] = (), queue_run_delay: str = "3s", minimal_backoff_time: str = "3s",
                 maximal_backoff_time: str = "10s", start_timeout: float = 60.0, fast_start: bool = True,
                 listener_options: dict[str, str] | None = None):
        self.port = port or free_port()
        self.name = name or f"postfix-{self.port}"
        self.fast_start = fast_start
        self.top = Path(os.fspath(workdir)).resolve()
        self.workdir = self.top / self.name
        self.conf_dir = self.workdir / "conf"
        self.queue_dir = self.workdir / "queue"
        self.data_dir = self.workdir / "data"
        self.mail_dir = self.workdir / "mail"
        self.maillog_path = self.workdir / "maillog"
        self.domain = domain.lower()
        self.addresses = _normalize_addresses(addresses, self.domain)
        self.milter = _milter_spec(milter)
        if relay_to is not None and relay_to[0] != LOOPBACK:
            raise ValueError("relay_to must be on 127.0.0.1")
        self.relay_to = relay_to
        self.main_cf_extra = dict(main_cf or {})
        self.master_cf_extra = list(master_cf)
        self.listener_options = dict(listener_options or {})
        self.timers = {"queue_run_delay": queue_run_delay, "minimal_backoff_time": minimal_backoff_time,
                       "maximal_backoff_time": maximal_backoff_time}
        self.start_timeout = start_timeout
        self._token: int | None = None
        self._master_pid: int | None = None
        self.timings: dict[str, float] = {}
        self._configure()

    # -- configuration ------------------------------------------------------------------------
    def main_cf_params(self) -> dict[str, str]:
        _, pf_gid = _postfix_ids()
        domains = sorted({a.split("@", 1)[1] for a in self.addresses})
        if self.relay_to:
            transport = f"smtp:[{self.relay_to[0]}]:{self.relay_to[1]}"
        else:
            transport = "error:5.7.1 e2e test instance delivers nothing off this host"
        p = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "command_directory": "/usr/sbin",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "meta_directory": "/etc/postfix",
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": f"{self.name}.e2e.test",
            "mydomain": "e2e.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "local_transport": "error:5.1.1 no local delivery in e2e tests",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": LOOPBACK,
            "inet_protocols": "ipv4",
            "smtp_bind_address": LOOPBACK,
            "mynetworks": "127.0.0.0/8",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "smtpd_banner": "$myhostname ESMTP e2e",
            "biff": "no",
            "append_dot_mydomain": "no",
            "readme_directory": "no",
            "html_directory": "no",
            "maillog_file": str(self.maillog_path),
            "maillog_file_prefixes": str(self.workdir),
            "virtual_mailbox_domains": " ".join(domains),
            "virtual_mailbox_base": str(self.mail_dir),
            "virtual_mailbox_maps": f"texthash:{self.conf_dir / 'vmailbox'}" if self.addresses else "",
            "virtual_uid_maps": f"static:{VIRTUAL_UID}",
            "virtual_gid_maps": f"static:{pf_gid}",
            "virtual_mailbox_limit": "0",
            "message_size_limit": "52428800",
            "default_transport": transport,
            "relay_transport": transport,
            "smtpd_milters": self.milter or "",
            "non_smtpd_milters": "$smtpd_milters",
            "milter_default_action": "tempfail",
            "milter_protocol": "6",
            "delay_warning_time": "0",
            **self.timers,
        }
        p.update(self.main_cf_extra)
        return p

    def _configure(self) -> None:
        pf_uid, pf_gid = _postfix_ids()
        # workdir 0710 root:postfix gates everything below; conf and queue are then 0755 as postfix wants.
        for d, mode in ((self.workdir, 0o710), (self.conf_dir, 0o755), (self.queue_dir, 0o755)):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, mode)
        grant_postfix_traverse(self.workdir, self.top)
        self.data_dir.mkdir(exist_ok=True)
        os.chown(self.data_dir, pf_uid, pf_gid)
        os.chmod(self.data_dir, 0o700)
        self.mail_dir.mkdir(exist_ok=True)
        os.chown(self.mail_dir, VIRTUAL_UID, pf_gid)
        os.chmod(self.mail_dir, 0o700)
        if self.fast_start:
            self._make_queue_skeleton()
        lines = [f"{k} = {v}" for k, v in self.main_cf_params().items()]
        (self.conf_dir / "main.cf").write_text("# generated by tests/e2e/mta.py\n" + "\n".join(lines) + "\n")
        opts = "".join(f"\n  -o {k}={v}" for k, v in self.listener_options.items())
        master = (f"{LOOPBACK}:{self.port} inet n - n - - smtpd{opts}\n" + _MASTER_CF_SERVICES
                  + "".join(line.rstrip("\n") + "\n" for line in self.master_cf_extra))
        (self.conf_dir / "master.cf").write_text(master)
        self.write_conf_file("vmailbox",
                             "".join(f"{a} {a.split('@')[1]}/{a.split('@')[0]}/\n" for a in self.addresses))
        # Postfix re-reads a "hot" file (mtime within ~1 s of now) every 300 ms until it is cold:
        # back-date what we wrote, or every start/postconf/sendmail -C costs ~2 s.
        for f in ("main.cf", "master.cf"):
            _backdate(self.conf_dir / f)

    def write_conf_file(self, name: str, text: str) -> Path:
        """Write an extra file (a transport map, ...) into the config dir, back-dated so Postfix
        does not treat it as "hot".  Refer to it from main_cf as e.g. texthash:{pf.conf_dir}/NAME."""
        path = self.conf_dir / name
        path.write_text(text)
        _backdate(path)
        return path

    def _make_queue_skeleton(self) -> None:
        for sub, owner, group, mode in _QUEUE_SKELETON:
            d = self.queue_dir / sub
            d.mkdir(exist_ok=True)
            os.chown(d, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid if group else 0)
            os.chmod(d, mode)

    # -- lifecycle ---------------------------------------------------------------------------
    def _postfix(self, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([f"{POSTFIX_SBIN}/postfix", "-c", str(self.conf_dir), *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)} failed ({proc.returncode}):\n"
                               f"{proc.stdout.decode(errors='replace')}\n--- maillog ---\n{self.maillog()}")
        return proc

    def start(self) -> "PostfixInstance":
        if self._token is not None:
            return self
        t0 = time.monotonic()
        self._token = register_cleanup(self.stop)
        if self.fast_start:
            (self.queue_dir / "quick-start").touch()
        try:
            self._postfix("start", timeout=self.start_timeout)
            self._master_pid = self._read_master_pid()
            wait_port_listening(self.port, timeout=self.start_timeout,
                                alive=lambda: self._master_pid is None or pid_alive(self._master_pid))
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - t0
        return self

    def _read_master_pid(self) -> int | None:
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        pid = self._master_pid or self._read_master_pid()
        return pid is not None and pid_alive(pid)

    def stop(self) -> None:
        if self._token is None:
            return
        t0 = time.monotonic()
        unregister_cleanup(self._token)
        self._token = None
        master = self._master_pid or self._read_master_pid()
        if master is not None and pid_alive(master):
            # What `postfix stop` does, without its 1 s polling: SIGTERM the master, which stops its children.
            try:
                os.kill(master, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 15
            while pid_alive(master) and time.monotonic() < deadline:
                time.sleep(0.02)
        elif master is None:
            try:
                self._postfix("stop", timeout=30, check=False)
            except subprocess.TimeoutExpired:
                pass
        leftovers = set(postfix_pids(self.conf_dir)) | set(pids_with_cwd_under(self.workdir))
        if master is not None and pid_alive(master):
            leftovers.add(master)
            leftovers.update(session_members(master))
        if leftovers:
            kill_pids(leftovers, grace=3.0)
        self._master_pid = None
        self.timings["stop"] = time.monotonic() - t0

    # -- mail --------------------------------------------------------------------------------
    def submit_local(self, mail_from: str, rcpts: Sequence[str], message: bytes, *, check: bool = True,
                     timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Submit through this instance's sendmail(1) (postdrop -> pickup -> cleanup: non_smtpd_milters)."""
        argv = [f"{POSTFIX_SBIN}/sendmail", "-C", str(self.conf_dir), "-i", "-f", mail_from, "--", *rcpts]
        proc = subprocess.run(argv, input=message, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"sendmail -C failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
        return proc

    def _maildir(self, address: str) -> Path:
        [addr] = _normalize_addresses([address], self.domain)
        local, dom = addr.split("@")
        return self.mail_dir / dom / local

    def maillog(self) -> str:
        try:
            return self.maillog_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    log = maillog

    def flush(self) -> None:
        """postqueue -f: retry everything deferred now."""
        subprocess.run([f"{POSTFIX_SBIN}/postqueue", "-c", str(self.conf_dir), "-f"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)

    def queue_files(self) -> dict[str, int]:
        """Number of queue files per queue (maildrop, incoming, active, deferred, hold, corrupt)."""
        out = {}
        for q in _QUEUES:
            n = 0
            for _dirpath, _dirs, files in os.walk(self.queue_dir / q):
                n += len(files)
            out[q] = n
        return out

    def queue_count(self) -> int:
        """Messages anywhere in the queue (including maildrop, i.e. not yet picked up)."""
        return sum(self.queue_files().values())

    def postconf(self, *names: str) -> str:
        return subprocess.run(["/usr/sbin/postconf", "-c", str(self.conf_dir), *names], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
                              check=False).stdout.decode(errors="replace")


# --------------------------------------------------------------------------------------------
# Sendmail
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class SendmailDist:
    """An extracted sendmail 8.17 + m4 (see ensure_sendmail())."""
    root: Path
    sendmail: Path
    m4: Path
    cf_dir: Path
    lib_dir: Path
    shim: Path
    version: str


def _run_checked(argv: Sequence[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout.decode(errors='replace')}")
    return proc


def ensure_sendmail(cache: str | os.PathLike | None = None) -> SendmailDist:
    """Extract sendmail from the .debs in SENDMAIL_DEBS_DIR once into cache/sendmail; build the LD_PRELOAD shim.

    Safe to call concurrently (flock).  Re-extracts when the .debs changed; rebuilds the
    shim when its source is newer.
    """
    base = Path(cache) if cache else cache_dir()
    sm = base / "sendmail"
    sm.mkdir(parents=True, exist_ok=True)
    with open(sm / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        root = sm / "root"
        stamp = sm / "extracted.stamp"
        files = sorted(SENDMAIL_DEBS_DIR.glob("*.deb"))
        missing = [p for p in SENDMAIL_DEBS if not any(f.name.startswith(p + "_") for f in files)]
        if missing:
            raise RuntimeError(f"{SENDMAIL_DEBS_DIR} lacks the .debs of {missing}: run scripts/install-deps "
                               "(it fetches them there; set MDCRYPT_SENDMAIL_DEBS for another directory)")
        wanted = "".join(f.name + "\n" for f in files)
        if not stamp.exists() or stamp.read_text() != wanted:
            if root.exists():
                shutil.rmtree(root)
            root.mkdir()
            for deb in files:
                _run_checked(["dpkg", "-x", str(deb), str(root)], timeout=120)
            stamp.write_text(wanted)
        binpath = root / "usr" / "libexec" / "sendmail" / "sendmail"
        mode = binpath.stat().st_mode
        if mode & (stat.S_ISGID | stat.S_ISUID):
            os.chmod(binpath, mode & ~(stat.S_ISGID | stat.S_ISUID))
        src = SUPPORT_DIR / "sendmail_shim.c"
        shim = sm / "sendmail_shim.so"
        if not shim.exists() or shim.stat().st_mtime < src.stat().st_mtime:
            cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
            if not cc:
                raise RuntimeError("no C compiler (cc/gcc) to build the sendmail LD_PRELOAD shim")
            tmp = sm / f".shim-{os.getpid()}.so"
            _run_checked([cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(tmp), str(src), "-ldl"], timeout=120)
            os.replace(tmp, shim)
        names = stamp.read_text().split()
        version = next((n.split("_")[1] for n in names if n.startswith("sendmail-bin_")), "?")
    dist = SendmailDist(root=root, sendmail=binpath, m4=root / "usr" / "bin" / "m4",
                        cf_dir=root / "usr" / "share" / "sendmail" / "cf", lib_dir=root / "usr" / "lib" / "x86_64-linux-gnu",
                        shim=shim, version=version)
    if not version.startswith("8.17"):
        print(f"mta.py: warning: sendmail {version} fetched, the harness was written for 8.17", file=sys.stderr)
    ldd = subprocess.run(["ldd", str(dist.sendmail)], env={"LD_LIBRARY_PATH": str(dist.lib_dir), "PATH": os.defpath},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=30)
    missing = [ln.split()[0] for ln in ldd.stdout.decode(errors="replace").splitlines() if "not found" in ln]
    if missing:
        raise RuntimeError(f"extracted sendmail lacks libraries {missing}: apt-get install the packages that "
                           "provide them (libdb5.3 libldap-2.5-0 libnsl2 libsasl2-2 libssl3)")
    return dist


class SendmailInstance(_MtaBase):
    """A private sendmail 8.17 daemon (`sendmail -bD`) under `workdir`, delivering to Maildir-like folders.

    addresses: local parts or full addresses accepted and delivered to
      <workdir>/<name>/mail/<address>/new/<unique> by tests/support/mta/maildir_deliver.py; other
      recipients in those domains get 550 5.1.1, any other domain 550 5.7.1 (nothing leaves).
    milter: socket path or spec -> INPUT_MAIL_FILTER(mdcrypt, S=..., F=<milter_flags>, T=<milter_timeouts>);
      None: no filter.  mc_extra: extra .mc lines (inserted before the mailers).
    cache: where sendmail is fetched/extracted (default cache_dir()).
    """

    def __init__(self, workdir: str | os.PathLike | TempDir, *, name: str | None = None,
                 addresses: Iterable[str] = ("alice", "bob"), domain: str = DEFAULT_DOMAIN,
                 milter: str | os.PathLike | None = None, port: int | None = None,
                 cache: str | os.PathLike | None = None, hostname: str = "sendmail-e2e.localdomain",
                 milter_flags: str = "T", milter_timeouts: str = "S:30s;R:30s;E:5m",
                 mc_extra: Sequence[str] = (), queue_interval: str = "30s", start_timeout: float = 30.0):
        self.dist = ensure_sendmail(cache)
        self.port = port or free_port()
        self.name = name or f"sendmail-{self.port}"
        self.top = Path(os.fspath(workdir)).resolve()
        self.workdir = self.top / self.name
        self.queue_dir = self.workdir / "mqueue"
        self.mail_dir = self.workdir / "mail"
        self.log_path = self.workdir / "sendmail.log"
        self.cf_path = self.workdir / "sendmail.cf"
        self.mc_path = self.workdir / "sendmail.mc"
        self.domain = domain.lower()
        self.addresses = _normalize_addresses(addresses, self.domain)
        self.milter = _milter_spec(milter)
        self.hostname = hostname
        self.milter_flags = milter_flags
        self.milter_timeouts = milter_timeouts
        self.mc_extra = list(mc_extra)
        self.queue_interval = queue_interval
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self._token: int | None = None
        self.timings: dict[str, float] = {}
        self._configure()

    def mc_text(self) -> str:
        deliver = SUPPORT_DIR / "maildir_deliver.py"
        py = "/usr/bin/python3"
        w = self.workdir
        lines = [
            "divert(-1)",
            "# generated by tests/e2e/mta.py",
            "divert(0)dnl",
            "VERSIONID(`mdcrypt-milter e2e')dnl",
            "define(`__OSTYPE__', `mdcrypt-e2e')dnl",
            f"define(`confSERVICE_SWITCH_FILE', `{w}/service.switch')dnl",
            f"define(`QUEUE_DIR', `{self.queue_dir}')dnl",
            f"define(`confPID_FILE', `{w}/sendmail.pid')dnl",
            f"define(`STATUS_FILE', `{w}/statistics')dnl",
            "define(`ALIAS_FILE', `')dnl",
            "define(`HELP_FILE', `')dnl",
            f"define(`confDOMAIN_NAME', `{self.hostname}')dnl",
            "define(`confDONT_PROBE_INTERFACES', `True')dnl",
            "define(`confQUEUE_LA', `1000')dnl",
            "define(`confREFUSE_LA', `1000')dnl",
            "define(`confDELAY_LA', `0')dnl",
            "define(`confMAX_DAEMON_CHILDREN', `0')dnl",
            "define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl",
            "define(`confTO_IDENT', `0s')dnl",
            f"define(`LOCAL_MAILER_PATH', `{py}')dnl",
            f"define(`LOCAL_MAILER_ARGS', `python3 {deliver} {self.mail_dir} $u')dnl",
            "MODIFY_MAILER_FLAGS(`LOCAL', `-w5A')dnl",
            "FEATURE(`no_default_msa')dnl",
            "FEATURE(`accept_unresolvable_domains')dnl",
            "FEATURE(`nocanonify')dnl",
            f"DAEMON_OPTIONS(`Name=MTA, Addr={LOOPBACK}, Port={self.port}')dnl",
        ]
        if self.milter:
            lines.append(f"INPUT_MAIL_FILTER(`mdcrypt', `S={self.milter}, F={self.milter_flags}, "
                         f"T={self.milter_timeouts}')dnl")
        lines += self.mc_extra
        lines += [
            "MAILER(`local')dnl",
            "MAILER_DEFINITIONS",
            f"Mmdmaildir, P={py}, F=lsDFMPnS, S=EnvFromL/HdrFromL, R=EnvToL/HdrToL, T=DNS/RFC822/X-Unix,",
            f"\tA=python3 {deliver} {self.mail_dir} $u",
            "Mmdnowhere, P=/bin/false, F=ls, S=EnvFromL/HdrFromL, R=EnvToL/HdrToL, A=false",
            "LOCAL_RULE_0",
            # Envelope senders (checked through ruleset 0 at MAIL FROM: "553 Unrecognized host name"
            # otherwise) resolve to a mailer that is never used; only recipients are routed below.
            "R$* < @ $* > $*\t$: $&{addr_type} $| $1 < @ $2 > $3",
            "Re s $| $*\t$#mdnowhere $: $1",
            "R$* $| $*\t$: $2",
        ]
        for addr in self.addresses:
            local, dom = addr.split("@")
            for dot in (" .", ""):
                lines.append(f"R{local} < @ {dom}{dot} >\t$#mdmaildir $: {addr}")
        for dom in sorted({a.split("@")[1] for a in self.addresses} | {self.domain}):
            for dot in (" .", ""):
                lines.append(f'R$+ < @ {dom}{dot} >\t$#error $@ 5.1.1 $: "550 User unknown"')
        lines.append('R$* < @ $* > $*\t$#error $@ 5.7.1 $: "550 this e2e test MTA delivers only to its test addresses"')
        return "\n".join(lines) + "\n"

    def _configure(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        self.queue_dir.mkdir(exist_ok=True)
        os.chmod(self.queue_dir, 0o700)
        self.mail_dir.mkdir(exist_ok=True)
        os.chmod(self.mail_dir, 0o700)
        (self.workdir / "service.switch").write_text("hosts\tfiles\naliases\tfiles\n")
        self.mc_path.write_text(self.mc_text())
        d = self.dist
        proc = subprocess.run([str(d.m4), f"-D_CF_DIR_={d.cf_dir}/", str(d.cf_dir / "m4" / "cf.m4"), str(self.mc_path)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False)
        err = proc.stderr.decode(errors="replace")
        if proc.returncode != 0 or "ERROR" in err:
            raise RuntimeError(f"m4 failed to build sendmail.cf ({proc.returncode}):\n{err}")
        self.cf_path.write_bytes(proc.stdout)
        os.chmod(self.cf_path, 0o600)

    def _env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LD_LIBRARY_PATH": str(self.dist.lib_dir),
            "LD_PRELOAD": str(self.dist.shim),
            "MDCRYPT_SHIM_HOSTNAME": self.hostname,
            "MDCRYPT_SHIM_LOG": str(self.log_path),
        }

    def start(self) -> "SendmailInstance":
        if self.proc is not None:
            return self
        t0 = time.monotonic()
        out = open(self.workdir / "sendmail.stdout", "ab")
        try:
            self.proc = subprocess.Popen([str(self.dist.sendmail), "-C", str(self.cf_path), "-bD", f"-q{self.queue_interval}"],
                                         env=self._env(), cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            out.close()
        self._token = register_cleanup(self.stop)
        record_session(self.workdir, self.proc.pid)
        try:
            wait_port_listening(self.port, timeout=self.start_timeout, alive=lambda: self.proc.poll() is None)
        except BaseException as exc:
            self.stop()
            raise RuntimeError(f"sendmail did not start: {exc}\n--- stdout ---\n"
                               f"{(self.workdir / 'sendmail.stdout').read_text(errors='replace')}\n--- log ---\n{self.log()}") from None
        self.timings["start"] = time.monotonic() - t0
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None:
            return
        t0 = time.monotonic()
        if self._token is not None:
            unregister_cleanup(self._token)
            self._token = None
        sid = self.proc.pid
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        kill_session(sid, grace=1.0)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        # background deliveries run in sessions of their own (setsid): find them by their cwd
        kill_pids(pids_with_cwd_under(self.workdir), grace=2.0)
        self.proc = None
        self.timings["stop"] = time.monotonic() - t0

    def _maildir(self, address: str) -> Path:
        [addr] = _normalize_addresses([address], self.domain)
        return self.mail_dir / addr

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    maillog = log

    def queue_count(self) -> int:
        """Messages in the queue (qf files)."""
        return sum(1 for p in self.queue_dir.iterdir() if p.name.startswith("qf")) if self.queue_dir.exists() else 0

    def flush(self) -> None:
        """Run the queue once now (sendmail -q)."""
        subprocess.run([str(self.dist.sendmail), "-C", str(self.cf_path), "-q"], env=self._env(),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
                       check=False)
