"""A real mdcrypt-milter for tests: a private directory with a throwaway GnuPG home holding keys for
alice@example.test, a config and policy file, and the daemon started and stopped around the test.

Python 3 standard library only; every subprocess gets an argument list, never a shell.
"""
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time

GPG = "/usr/bin/gpg"
GPGCONF = "/usr/bin/gpgconf"
PREFIX = "mdcrypt-milter-"
# MDCRYPT_TEST_ENGINE=rnp starts every daemon with [engine] backend = "rnp" (ctest: milter_daemon_rnp).
ENGINE_TABLE = (f'\n[engine]\nbackend = "{os.environ["MDCRYPT_TEST_ENGINE"]}"\n'
                if os.environ.get("MDCRYPT_TEST_ENGINE") else "")
OWNER_FILE = ".owner"  # "PID START_TIME" of the test process that made the directory

# RFC 9788 header protection off: these tests check that the ciphertext holds the original Content-*
# fields and body byte for byte, and that no outer field but the MIME ones changes.
POLICY = """\
[default]
mode = "opportunistic"
header_protection = false

[domain."example.test"]

[domain."secure.test"]
mode = "required"
"""


def gpg(home, *args, stdin=None):
    argv = [GPG, "--homedir", str(home), "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]
    result = subprocess.run(argv + list(args), input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"gpg {' '.join(args)} failed: {result.stderr.decode('utf-8', 'replace')}")
    return result.stdout


def make_key(home, user_id, address):
    """An ed25519 certification key with a cv25519 encryption subkey; returns the fingerprint."""
    gpg(home, "--quick-gen-key", user_id, "ed25519", "cert", "never")
    fingerprint = None
    for line in gpg(home, "--with-colons", "--list-keys", "=" + user_id).decode().splitlines():
        if line.startswith("fpr:"):
            fingerprint = line.split(":")[9]
            break
    if not fingerprint:
        raise RuntimeError(f"no fingerprint for {address}")
    gpg(home, "--quick-add-key", fingerprint, "cv25519", "encr", "never")
    return fingerprint


def _start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _stop_gpg_agents(directory):
    for home in ("gnupg", "gnupg-secret"):
        path = os.path.join(directory, home)
        if os.path.isdir(path):
            subprocess.run([GPGCONF, "--homedir", path, "--kill", "all"], capture_output=True, check=False)


def reap_stale(base_dir=None):
    """Removes what a killed test run left: directories of this fixture whose owner process is gone,
    with the daemon started in them (found by its --config path, never by name) and their gpg-agents."""
    base = base_dir or tempfile.gettempdir()
    for name in os.listdir(base):
        directory = os.path.join(base, name)
        owner_file = os.path.join(directory, OWNER_FILE)
        if not name.startswith(PREFIX) or not os.path.isfile(owner_file):
            continue
        try:
            with open(owner_file) as f:
                pid, start = f.read().split()
        except (OSError, ValueError):
            continue
        if _start_time(int(pid)) == start:
            continue  # its owner still runs
        config = os.path.join(directory, "mdcrypt-milter.toml")
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if config.encode() in argv:
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
        _stop_gpg_agents(directory)
        shutil.rmtree(directory, ignore_errors=True)


class Milter:
    """Owns a temporary directory and the daemon process started in it."""

    def __init__(self, binary, base_dir=None, main_extra="", keys=("alice",)):
        reap_stale(base_dir)
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix=PREFIX, dir=base_dir)
        os.chmod(self.dir, 0o700)
        with open(os.path.join(self.dir, OWNER_FILE), "w") as f:
            f.write(f"{os.getpid()} {_start_time(os.getpid())}\n")
        self.process = None
        self.log_file = None
        try:
            self._prepare(main_extra, keys)
        except BaseException:
            self.close()
            raise

    def _prepare(self, main_extra, keys):
        self.gnupg = os.path.join(self.dir, "gnupg")
        self.secret_gnupg = os.path.join(self.dir, "gnupg-secret")  # the recipient's side, for decryption
        self.spool = os.path.join(self.dir, "spool")
        self.socket_path = os.path.join(self.dir, "milter.sock")
        self.socket = "unix:" + self.socket_path
        self.config = os.path.join(self.dir, "mdcrypt-milter.toml")
        self.policy = os.path.join(self.dir, "domains.toml")
        self.log_path = os.path.join(self.dir, "milter.log")
        self.fingerprints = {}
        for home in (self.gnupg, self.secret_gnupg):
            os.mkdir(home, 0o700)
        with open(os.path.join(self.gnupg, "gpg.conf"), "w") as f:
            f.write("no-random-seed-file\n")  # parallel gpg runs otherwise queue on the random_seed lock
        for name in keys:
            fpr = make_key(self.secret_gnupg, f"{name.capitalize()} <{name}@example.test>", f"{name}@example.test")
            self.fingerprints[name] = fpr
            gpg(self.gnupg, "--import", stdin=gpg(self.secret_gnupg, "--export", "--armor", fpr))
        with open(os.path.join(self.gnupg, "mdcrypt-expected-keys"), "w") as f:  # as mdcrypt-keys record writes it
            f.writelines(f"{fpr} {name}@example.test\n" for name, fpr in self.fingerprints.items())
        # gpg --import started an agent for the server home; the milter itself never needs one.
        subprocess.run([GPGCONF, "--homedir", self.gnupg, "--kill", "all"], capture_output=True, check=False)
        self.secret_key_files = {}
        for name, fpr in self.fingerprints.items():
            path = os.path.join(self.dir, f"{name}.sec.asc")
            with open(path, "wb") as f:
                f.write(gpg(self.secret_gnupg, "--export-secret-keys", "--armor", fpr))
            self.secret_key_files[name] = path
        self.write_config(main_extra)
        with open(self.policy, "w") as f:
            f.write(POLICY)

    def write_config(self, main_extra="", socket=None):
        if socket:
            self.socket = socket
        with open(self.config, "w") as f:
            f.write(f"""\
[milter]
socket = "{self.socket}"
spool_directory = "{self.spool}"
body_memory_limit = "16K"
max_message_size = "128K"
log_verbose = true
{main_extra}
[gnupg]
home = "{self.gnupg}"

[policy]
file = "domains.toml"
""" + ENGINE_TABLE)

    def start(self, timeout=15.0, extra_args=()):
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen([self.binary, "--config", self.config, "--log-stderr", *extra_args],
                                        stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mdcrypt-milter exited with {self.process.returncode}:\n{self.log()}")
            if "listening on" in self.log():
                if not self.socket.startswith("unix:"):
                    return
                try:
                    if stat.S_ISSOCK(os.stat(self.socket_path).st_mode):
                        return
                except FileNotFoundError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"mdcrypt-milter did not open {self.socket_path}:\n{self.log()}")

    def signal(self, signo):
        self.process.send_signal(signo)

    def stop(self, timeout=30.0):
        """SIGTERM and wait; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise RuntimeError(f"mdcrypt-milter did not stop within {timeout}s after SIGTERM")
        self.log_file.close()
        return self.process.returncode

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text, timeout=10.0):
        """Wait until `text` appears in the daemon's log (or the timeout passes); return the log."""
        deadline = time.monotonic() + timeout
        while text not in self.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.log()

    def spool_entries(self):
        return os.listdir(self.spool) if os.path.isdir(self.spool) else []

    def decrypt_gpg(self, armored):
        return gpg(self.secret_gnupg, "--decrypt", stdin=armored)

    def close(self):
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.log_file is not None:
                self.log_file.close()
        finally:
            _stop_gpg_agents(self.dir)
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
