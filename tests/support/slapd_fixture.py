"""A private slapd (Debian's) on loopback for the ldap key source tests, and a throwaway CA for its TLS.

Slapd: its own cn=config directory built with slapadd from Debian's core, cosine and inetorgperson
schemas plus the schema under test (conf/ldap/openpgp-key.ldif as shipped), one mdb database under
SUFFIX with ADMIN as rootdn, anonymous read; listening on ldap:// and ldaps:// ports of 127.0.0.1
(StartTLS on the first); started in the foreground (-d stats) as a child the test owns, so its log
(DIR/slapd.log) shows every search. No system slapd, no systemd.
"""
import os
import re
import socket
import subprocess
import time

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
LDAPMODIFY = "/usr/bin/ldapmodify"
SCHEMA_DIR = "/etc/ldap/schema"
SUFFIX = "dc=example,dc=test"
ADMIN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "not-a-real-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Slapd:
    """A private slapd: cn=config in DIR/slapd.d, one mdb database, anonymous read, stats log in DIR/slapd.log."""

    def __init__(self, directory, schema, entries_ldif, tls):
        self.dir = directory
        self.config_dir = os.path.join(directory, "slapd.d")
        self.db_dir = os.path.join(directory, "db")
        os.makedirs(self.config_dir, mode=0o700)
        os.makedirs(self.db_dir, mode=0o700)
        self.port = free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_uri = f"ldaps://127.0.0.1:{free_port()}"
        self.log = os.path.join(directory, "slapd.log")
        self.process = None
        parts = [f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {directory}/slapd.pid
olcTLSCACertificateFile: {tls.ca}
olcTLSCertificateFile: {tls.cert}
olcTLSCertificateKeyFile: {tls.key}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema
"""]
        for name in ("core.ldif", "cosine.ldif", "inetorgperson.ldif"):
            with open(os.path.join(SCHEMA_DIR, name)) as f:
                parts.append(f.read())
        with open(schema) as f:  # the schema as shipped
            parts.append(f.read())
        parts.append(f"""dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcAccess: {{0}}to * by * read

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SUFFIX}
olcRootDN: {ADMIN}
olcRootPW: {ADMIN_PASSWORD}
olcDbDirectory: {self.db_dir}
olcDbMaxSize: 33554432
olcAccess: {{0}}to * by * read
""")
        config_ldif = os.path.join(directory, "config.ldif")
        with open(config_ldif, "w") as f:
            f.write("\n".join(p.strip() + "\n" for p in parts))
        self.slapadd("-n0", config_ldif)
        data_ldif = os.path.join(directory, "data.ldif")
        with open(data_ldif, "w") as f:
            f.write(entries_ldif)
        self.slapadd("-n1", data_ldif)

    def slapadd(self, database, ldif):
        result = subprocess.run([SLAPADD, database, "-F", self.config_dir, "-l", ldif], capture_output=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(f"slapadd {database} failed: {result.stderr.decode('utf-8', 'replace')}")

    def start(self):
        # -d stats: stays in the foreground (a child this test owns) and logs each search.
        self.log_file = open(self.log, "ab")
        self.process = subprocess.Popen([SLAPD, "-F", self.config_dir, "-h", f"{self.uri}/ {self.ldaps_uri}/", "-d", "stats"],
                                        stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"slapd exited with {self.process.returncode}: {self.read_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("slapd did not start listening: " + self.read_log())

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if getattr(self, "log_file", None):
            self.log_file.close()
            self.log_file = None

    def modify(self, ldif):
        """Applies LDIF change records (changetype: add/modify/delete) to the running server as ADMIN."""
        secret = os.path.join(self.dir, "admin.secret")
        if not os.path.exists(secret):
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, ADMIN_PASSWORD.encode())
            os.close(fd)
        result = subprocess.run([LDAPMODIFY, "-x", "-H", self.uri, "-D", ADMIN, "-y", secret], input=ldif.encode(),
                                capture_output=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(f"ldapmodify failed: {result.stderr.decode('utf-8', 'replace')}")

    def read_log(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def searches_for(self, address):
        """How many searches slapd logged whose filter names the address."""
        return len(re.findall(r'SRCH base=.*filter="\(mail=' + re.escape(address) + r'\)"', self.read_log()))


class TestCa:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it, made with openssl."""

    def __init__(self, directory, name):
        os.makedirs(directory, mode=0o700)
        self.ca, ca_key = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca.key")
        self.cert, self.key = os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")
        csr, ext = os.path.join(directory, "server.csr"), os.path.join(directory, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for argv in (["req", "-x509", *ec, "-keyout", ca_key, "-out", self.ca, "-days", "2", "-subj", f"/CN={name}"],
                     ["req", *ec, "-keyout", self.key, "-out", csr, "-subj", "/CN=127.0.0.1"],
                     ["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial", "-out",
                      self.cert, "-days", "2", "-extfile", ext]):
            subprocess.run(["/usr/bin/openssl", *argv], check=True, capture_output=True, timeout=60)


def key_entry(uid, mail, key_data=None):
    """An inetOrgPerson entry under ou=people with the key data (bytes: binary or armored) if any."""
    import base64
    entry = (f"dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nobjectClass: openPGPKeyHolder\n"
             f"uid: {uid}\ncn: {uid}\nsn: {uid}\nmail: {mail}\n")
    if key_data:
        entry += "openPGPPublicKey:: " + base64.b64encode(key_data).decode() + "\n"
    return entry


def base_entries():
    return (f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n"
            f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n")
