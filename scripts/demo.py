#!/usr/bin/python3
"""The demo behind scripts/demo: one mail through a real Postfix and mdcrypt-milter.

State lives in ./demo-state (recreated on each run): a "client" GnuPG home with the recipient's
secret key, a "server" GnuPG home with only the public key, and the configuration, derived from
conf/mdcrypt-milter.toml and conf/domains.toml with the paths pointed into demo-state.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import mta  # noqa: E402  (the test harness: private Postfix instances, process management)

GPG = "/usr/bin/gpg"
RECIPIENT = "alice@example.test"
SAMPLE = """From: Bob <bob@example.net>
To: Alice <alice@example.test>
Subject: the plan
Date: Fri, 27 Nov 2026 10:00:00 +0000
Message-ID: <demo-1@example.net>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Meet at the caf\u00e9 at noon. This line is never stored in plain text.
""".replace("\n", "\r\n").encode("utf-8")


def gpg(home, *args, stdin=None):
    argv = [GPG, "--homedir", str(home), "--batch", "--no-tty", "--quiet", "--pinentry-mode", "loopback",
            "--passphrase", ""] + list(args)
    return subprocess.run(argv, input=stdin, capture_output=True, check=True).stdout


def make_keys(state):
    client, server = state / "client-gnupg", state / "server-gnupg"
    for home in (client, server):
        home.mkdir(mode=0o700)
    gpg(client, "--quick-gen-key", f"Alice Demo <{RECIPIENT}>", "ed25519", "cert", "never")
    listing = gpg(client, "--with-colons", "--list-keys", RECIPIENT).decode()
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    gpg(client, "--quick-add-key", fpr, "cv25519", "encr", "never")
    gpg(server, "--import", stdin=gpg(client, "--export", RECIPIENT))
    # Parallel gpg processes on one home serialise on its random_seed file (bench/README.md).
    (server / "gpg.conf").write_text("no-random-seed-file\n")
    return client, server, fpr


def write_config(state, socket, server_home):
    """conf/mdcrypt-milter.toml with the demo's paths; no privilege drop (the demo user may not exist)."""
    overrides = {
        "socket": f'"unix:{socket}"',
        "socket_group": '"postfix"',  # the demo's Postfix connects; the package's group may not exist
        "spool_directory": f'"{state / "spool"}"',
        "home": f'"{server_home}"',
        "file": f'"{state / "domains.toml"}"',
    }
    lines = []
    for line in (ROOT / "conf" / "mdcrypt-milter.toml").read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key in ("user", "group"):
            continue
        if key in overrides and "=" in line and not line.lstrip().startswith("#"):
            line = f"{key} = {overrides[key]}"
        lines.append(line)
    (state / "mdcrypt-milter.toml").write_text("\n".join(lines) + "\n")
    policy = (ROOT / "conf" / "domains.toml").read_text()
    policy += '\n# demo: the Postfix instance delivers example.test locally\n[domain."example.test"]\nmode = "required"\n'
    (state / "domains.toml").write_text(policy)
    return state / "mdcrypt-milter.toml"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build")
    args = parser.parse_args()
    build = Path(args.build).resolve()
    milter_bin = build / "src" / "milter" / "mdcrypt-milter"

    state = ROOT / "demo-state"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(mode=0o700)
    print(f"== demo state in {state}")
    client, server, fpr = make_keys(state)
    print(f"== recipient key {fpr}: public part in the server home, secret part only in the client home")

    with mta.TempDir(prefix="mdcrypt-demo.") as tmp:
        socket = tmp.milter_socket_dir() / "mdcrypt.sock"
        config = write_config(state, socket, server)
        check = subprocess.run([str(milter_bin), "--config", str(config), "--check-config"], capture_output=True, text=True)
        print(check.stdout + check.stderr, end="")
        if check.returncode != 0:
            sys.exit("demo: the configuration did not check out")
        with mta.ManagedProcess([str(milter_bin), "--config", str(config), "--log-stderr"],
                                log=state / "milter.log", cwd=tmp, umask=0o007) as milter:
            mta.wait_unix_listening(socket, alive=milter.alive)
            with mta.PostfixInstance(tmp, addresses=["alice"], domain="example.test", milter=socket) as postfix:
                print(f"== swaks: bob@example.net -> {RECIPIENT} through Postfix on 127.0.0.1:{postfix.port}")
                result = postfix.send("bob@example.net", [RECIPIENT], SAMPLE, client="swaks")
                if not result.accepted:
                    sys.exit(f"demo: the message was not accepted:\n{result.transcript}")
                [stored] = postfix.wait_for_maildir(RECIPIENT, 1)
        print("== milter log")
        print((state / "milter.log").read_text(), end="")

    (state / "stored.eml").write_bytes(stored)
    print("== the message as stored in alice's Maildir (demo-state/stored.eml)")
    print(stored.decode("utf-8", "replace"))
    armor = stored[stored.index(b"-----BEGIN PGP MESSAGE-----"):stored.index(b"-----END PGP MESSAGE-----") + 25]
    print("== decrypted on the client side with alice's secret key")
    print(gpg(client, "--decrypt", stdin=armor).decode("utf-8", "replace"))
    for home in (client, server):
        subprocess.run(["/usr/bin/gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True)
    # The demo's socket directory went with its temporary directory: point the kept configuration at
    # demo-state, so the command below starts the milter as configured.
    config = write_config(state, state / "mdcrypt.sock", server)
    print("== done: Postfix and mdcrypt-milter were started for this demo and are stopped again.")
    print(f"   Run the milter yourself: {milter_bin} --config {config} --log-stderr  (Ctrl-C stops it)")


if __name__ == "__main__":
    main()
