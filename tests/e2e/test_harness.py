#!/usr/bin/python3
"""Self-tests of the e2e MTA harness (tests/e2e/mta.py): real Postfix and Sendmail, no milter.

Run by ctest (label e2e) as `/usr/bin/python3 tests/e2e/test_harness.py`.  Prints the unittest summary
and then a final `N passed, N failed` line.
"""
import os
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree clean when ctest runs this
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402

SENDER = "carol@sender.test"
MESSAGE = (b"From: Carol <carol@sender.test>\n"
           b"To: alice@example.test, bob@example.test\n"
           b"Subject: harness self-test\n"
           b"Message-ID: <harness-1@sender.test>\n"
           b"Date: Fri, 27 Nov 2026 12:00:00 +0000\n"
           b"MIME-Version: 1.0\n"
           b"Content-Type: text/plain; charset=utf-8\n"
           b"Content-Transfer-Encoding: 8bit\n"
           b"\n"
           b"First line.\n"
           b".a line that starts with a dot\n"
           b"..and one with two\n"
           b"\xc3\xa9t\xc3\xa9 8-bit text, trailing spaces   \n"
           b"From the start of a line\n"
           b"%DATE% and \\n stay literal\n"
           b"\n"
           b"last line\n")
BODY = mta.split_message(MESSAGE)[1]


def body_of(stored: bytes) -> bytes:
    return mta.split_message(stored)[1].replace(b"\r\n", b"\n")


def assert_nothing_delivered(tc: unittest.TestCase, inst, addresses) -> None:
    """Call after the event that settles the outcome (the MTA's refusal reply or hold line, and nothing
    queued or the message held in the queue): absence then cannot be mere slowness."""
    for a in addresses:
        tc.assertEqual(inst.maildir_messages(a), [], f"{a} got mail\n{inst.log()[-3000:]}")


class HarnessHelpers(unittest.TestCase):
    def test_free_port_and_proc_net_tcp(self):
        p1, p2 = mta.free_port(), mta.free_port()
        self.assertNotEqual(p1, p2)
        self.assertFalse(mta.is_listening(p1))
        import socket
        with socket.socket() as s:
            s.bind((mta.LOOPBACK, p1))
            s.listen(1)
            self.assertLess(mta.wait_port_listening(p1, timeout=5), 5)
        mta.wait_port_closed(p1, timeout=5)

    def test_tempdir_private_and_postfix_traversable(self):
        import grp
        import stat
        with mta.TempDir() as tmp:
            self.assertEqual(stat.S_IMODE(os.stat(tmp.path).st_mode), 0o700)
            sockdir = tmp.milter_socket_dir()
            gid = grp.getgrnam("postfix").gr_gid
            for d in (tmp.path, sockdir):
                st = os.stat(d)
                self.assertEqual(st.st_gid, gid)
                self.assertFalse(st.st_mode & 0o007, f"{d} open to others")
                self.assertTrue(st.st_mode & stat.S_IXGRP)
            self.assertTrue(os.stat(sockdir).st_mode & stat.S_ISGID)
            # user postfix can reach the socket dir
            rc = subprocess.run(["setpriv", "--reuid=postfix", "--regid=postfix", "--init-groups", "test", "-x",
                                 str(sockdir)], check=False).returncode
            self.assertEqual(rc, 0)
            path = tmp.path
        self.assertFalse(os.path.exists(path))

    def test_build_dir_and_binary_lookup(self):
        self.assertTrue(mta.build_dir().is_absolute())
        self.assertIsNone(mta.binary("no-such-binary-mdcrypt", required=False))
        with self.assertRaises(FileNotFoundError):
            mta.binary("no-such-binary-mdcrypt")

    def test_swaks_transcript_parsing(self):
        t = ("=== Trying 127.0.0.1:25...\n<-  220 hi\n -> EHLO x\n<-  250-a\n<-  250 b\n"
             " -> MAIL FROM:<a@b>\n<** 451 4.7.1 later\n -> QUIT\n<-  221 bye\n")
        r = mta.SmtpResult(mta.parse_swaks(t), t, "swaks")
        self.assertEqual(r.codes, {"connect": 220, "ehlo": 250, "mail": 451, "quit": 221})
        self.assertEqual((r.final_code, r.final_stage), (451, "mail"))
        self.assertTrue(r.tempfailed)


    def test_milter_socket_reachable_by_postfix_user(self):
        with mta.TempDir() as tmp:
            sock = tmp.milter_socket_dir() / "probe.sock"
            self.assertFalse(mta.is_unix_listening(sock))
            with mta.FakeMilter(sock):
                self.assertLess(mta.wait_unix_listening(sock, timeout=5), 5)
                probe = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
                         "s.sendall(b'\\0\\0\\0\\1Q')")
                rc = subprocess.run(["setpriv", "--reuid=postfix", "--regid=postfix", "--init-groups",
                                     "/usr/bin/python3", "-c", probe, str(sock)], check=False).returncode
                self.assertEqual(rc, 0)

    def test_managed_process_stops_stubborn_child(self):
        with mta.TempDir() as tmp:
            code = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
            p = mta.ManagedProcess(["/usr/bin/python3", "-c", code], log=tmp / "out.log", grace=0.5, record_in=tmp)
            deadline = time.monotonic() + 10
            while "up" not in p.output() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(p.alive())
            p.stop()
            self.assertFalse(p.alive())
            self.assertEqual(mta.session_members(p.pid), [])

    @unittest.skipUnless(mta.shutil.which("gpg-connect-agent"), "gnupg not installed")
    def test_tempdir_cleanup_stops_gpg_agent(self):
        tmp = mta.TempDir()
        home = tmp.subdir("gnupg")
        subprocess.run(["gpg-connect-agent", "--homedir", str(home), "/bye"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=True)
        self.assertTrue(mta.gpg_daemon_pids(tmp.path), "gpg-agent did not start")
        tmp.cleanup()
        self.assertEqual(mta.gpg_daemon_pids(tmp.path), {})

    def test_reap_stale_runs_after_kill(self):
        """A run killed with SIGKILL leaves postfix + sendmail behind; reap_stale_runs() removes them."""
        with mta.TempDir(prefix="reap-parent-") as parent:
            parent.allow_postfix(parent.path)  # the child's TempDir (and postfix queue) live inside
            code = (
                "import sys, time; sys.path.insert(0, sys.argv[1]); import mta\n"
                "t = mta.TempDir(parent=sys.argv[2])\n"
                "pf = mta.PostfixInstance(t, addresses=['alice']).start()\n"
                "sm = mta.SendmailInstance(t, addresses=['alice']).start()\n"
                "print(t.path, pf.conf_dir, sm.proc.pid, flush=True)\n"
                "time.sleep(120)\n")
            child = subprocess.Popen(["/usr/bin/python3", "-c", code, os.path.dirname(os.path.abspath(__file__)),
                                      str(parent.path)], stdout=subprocess.PIPE, text=True)
            try:
                path, conf, sm_pid = child.stdout.readline().split()
            finally:
                child.kill()
                child.wait()
            self.assertTrue(mta.postfix_pids(conf))
            self.assertTrue(mta.session_members(int(sm_pid)))
            self.assertEqual(mta.reap_stale_runs(parent.path), [path])
            self.assertEqual(mta.postfix_pids(conf), [])
            self.assertEqual(mta.session_members(int(sm_pid)), [])
            self.assertFalse(os.path.exists(path))


class PostfixTests(unittest.TestCase):
    def setUp(self):
        self.tmp = mta.TempDir()
        self.addCleanup(self.tmp.cleanup)

    def test_no_milter_delivers_smtp_and_local_submission(self):
        with mta.PostfixInstance(self.tmp, addresses=["alice", "bob"]) as pf:
            res = pf.send(SENDER, ["alice@example.test", "bob@example.test"], MESSAGE, client="swaks")
            self.assertTrue(res.accepted, res.transcript)
            self.assertEqual(res.code("mail"), 250)
            self.assertEqual(res.rcpt_codes, {"alice@example.test": 250, "bob@example.test": 250})
            [a] = pf.wait_for_maildir("alice@example.test", 1, timeout=15)
            [b] = pf.wait_for_maildir("bob@example.test", 1, timeout=15)
            self.assertEqual(body_of(a), BODY)
            self.assertEqual(body_of(b), BODY)
            self.assertIn(b"Subject: harness self-test", a)

            res = pf.send(SENDER, ["alice@example.test"], MESSAGE)  # smtplib client
            self.assertTrue(res.accepted, res.transcript)
            self.assertIsNotNone(res.queue_id)
            self.assertEqual(body_of(pf.wait_for_maildir("alice@example.test", 2)[-1]), BODY)

            res = pf.send(SENDER, ["nobody@example.test"], MESSAGE)
            self.assertEqual(res.rcpt_codes["nobody@example.test"] // 100, 5, res.transcript)

            pf.submit_local(SENDER, ["bob@example.test"], MESSAGE)
            msgs = pf.wait_for_maildir("bob@example.test", 2, timeout=15)
            self.assertEqual(body_of(msgs[-1]), BODY)
            self.assertRegex(pf.maillog(), r"postfix/pickup\[\d+\]: \w+: uid=0 from=<carol@sender.test>")
            self.assertEqual(pf.queue_count(), 0)
        self.assertFalse(pf.running())
        self.assertEqual(mta.postfix_pids(pf.conf_dir), [])
        self.assertEqual(mta.pids_with_cwd_under(pf.workdir), [])
        print(f"\n  postfix timings: {pf.timings}", file=sys.stderr)

    def test_milter_socket_missing_tempfails(self):
        sock = self.tmp.milter_socket_dir() / "mdcrypt.sock"
        with mta.PostfixInstance(self.tmp, addresses=["alice"], milter=sock) as pf:
            self.assertIn(f"smtpd_milters = unix:{sock}", pf.postconf("smtpd_milters"))
            for client in ("smtplib", "swaks"):
                res = pf.send(SENDER, ["alice@example.test"], MESSAGE, client=client)
                self.assertFalse(res.accepted, res.transcript)
                self.assertRegex(str(res.final_code), r"^4", res.transcript)
                self.assertIn(res.final_stage, ("mail", "rcpt", "data", "eom"), res.transcript)
                self.assertTrue(res.tempfailed)
            # local submission: accepted by postdrop, then held back by cleanup (non_smtpd_milters)
            pf.submit_local(SENDER, ["alice@example.test"], MESSAGE)
            pf.wait_for_log(r"cleanup\[\d+\]: warning: connect to Milter service unix:.*mdcrypt.sock")
            self.assertGreaterEqual(pf.queue_count(), 1, pf.queue_files())  # held in the queue
            assert_nothing_delivered(self, pf, ["alice@example.test"])
        self.assertRegex(pf.maillog(), r"milter-reject: MAIL from .*: 451 4\.7\.1")

    def test_fake_milter_sees_smtp_and_local_mail(self):
        sock = self.tmp.milter_socket_dir() / "fake.sock"
        with mta.FakeMilter(sock) as fm, mta.PostfixInstance(self.tmp, addresses=["alice"], milter=sock) as pf:
            res = pf.send(SENDER, ["alice@example.test"], MESSAGE)
            self.assertTrue(res.accepted, res.transcript)
            pf.submit_local(SENDER, ["alice@example.test"], MESSAGE)
            msgs = pf.wait_for_maildir("alice@example.test", 2)
            for m in msgs:
                self.assertIn(b"\nX-E2E-Fake-Milter: seen\n", mta.split_message(m)[0] + b"\n")
                self.assertEqual(body_of(m), BODY)
            self.assertGreaterEqual(fm.commands().count("E"), 2)

    def test_extra_master_cf_delivery_side_placement(self):
        """Options for a later placement test: milter only on a re-injection smtpd, one recipient per
        transaction (content_filter to a transport with destination_recipient_limit = 1)."""
        sock = self.tmp.milter_socket_dir() / "fake.sock"
        inner_port = mta.free_port()
        with mta.FakeMilter(sock) as fm, mta.PostfixInstance(
                self.tmp, addresses=["alice", "bob"],
                main_cf={"smtpd_milters": "", "non_smtpd_milters": "", "mdsplit_destination_recipient_limit": "1"},
                listener_options={"content_filter": f"mdsplit:[127.0.0.1]:{inner_port}"},
                master_cf=["mdsplit unix - - n - - smtp",
                           f"127.0.0.1:{inner_port} inet n - n - - smtpd -o content_filter= "
                           f"-o smtpd_milters=unix:{sock} -o myhostname=reinject.e2e.test"]) as pf:
            pf.wait_for_log(r"daemon started")
            self.assertTrue(mta.is_listening(inner_port))
            res = pf.send(SENDER, ["alice@example.test", "bob@example.test"], MESSAGE)
            self.assertTrue(res.accepted, res.transcript)
            for a in ("alice@example.test", "bob@example.test"):
                [m] = pf.wait_for_maildir(a, 1)
                self.assertIn(b"X-E2E-Fake-Milter: seen", mta.split_message(m)[0])
                self.assertEqual(body_of(m), BODY)
            self.assertEqual(fm.commands().count("M"), 2)
            self.assertEqual(fm.commands().count("R"), 2)

    def test_two_instances_relay(self):
        with mta.PostfixInstance(self.tmp, name="inner", addresses=["alice", "bob"]) as inner, \
             mta.PostfixInstance(self.tmp, name="edge", addresses=[], relay_to=(mta.LOOPBACK, inner.port)) as edge:
            res = edge.send(SENDER, ["alice@example.test", "bob@example.test"], MESSAGE)
            self.assertTrue(res.accepted, res.transcript)
            [a] = inner.wait_for_maildir("alice@example.test", 1)
            [b] = inner.wait_for_maildir("bob@example.test", 1)
            self.assertEqual(body_of(a), BODY)
            self.assertEqual(body_of(b), BODY)
            self.assertIn(b"by edge.e2e.test", a)
            edge.wait_for_log(rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{inner.port}.*status=sent")
            self.assertEqual(edge.queue_count(), 0)
            # retry path: inner down -> deferred at the edge, flush() after restart delivers
            inner.stop()
            res = edge.send(SENDER, ["alice@example.test"], MESSAGE)
            self.assertTrue(res.accepted, res.transcript)
            edge.wait_for_log(r"status=deferred")
            self.assertEqual(edge.queue_files()["deferred"], 1)
            inner.start()
            edge.flush()
            self.assertEqual(len(inner.wait_for_maildir("alice@example.test", 2, timeout=20)), 2)

    def test_fast_start_skeleton_matches_postfix_check(self):
        def snapshot(root):
            out = {}
            for dirpath, dirs, files in os.walk(root):
                for n in dirs + files:
                    p = os.path.join(dirpath, n)
                    st = os.lstat(p)
                    out[os.path.relpath(p, root)] = (st.st_mode, st.st_uid, st.st_gid)
            return out
        pf = mta.PostfixInstance(self.tmp, addresses=["alice"])
        before = snapshot(pf.queue_dir)
        out = subprocess.run(["/usr/sbin/postfix", "-c", str(pf.conf_dir), "check"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, check=False, timeout=60)
        self.assertEqual((out.returncode, out.stdout), (0, b""))
        self.assertEqual(snapshot(pf.queue_dir), before)


class SendmailTests(unittest.TestCase):
    def setUp(self):
        self.tmp = mta.TempDir()
        self.addCleanup(self.tmp.cleanup)

    def test_no_milter_delivers(self):
        with mta.SendmailInstance(self.tmp, addresses=["alice", "bob"]) as sm:
            self.assertNotIn("INPUT_MAIL_FILTER", sm.mc_path.read_text())
            res = sm.send(SENDER, ["alice@example.test", "bob@example.test", "eve@example.test",
                                   "x@elsewhere.test"], MESSAGE, client="swaks")
            self.assertTrue(res.accepted, res.transcript)
            self.assertEqual(res.rcpt_codes, {"alice@example.test": 250, "bob@example.test": 250,
                                              "eve@example.test": 550, "x@elsewhere.test": 550})
            [a] = sm.wait_for_maildir("alice@example.test", 1)
            [b] = sm.wait_for_maildir("bob@example.test", 1)
            self.assertEqual(body_of(a), BODY)
            self.assertEqual(body_of(b), BODY)
            # a sender in the local test domain that is not a configured mailbox is fine too
            res = sm.send("carol@example.test", ["alice@example.test"], MESSAGE)
            self.assertTrue(res.accepted, res.transcript)
            self.assertEqual(body_of(sm.wait_for_maildir("alice@example.test", 2)[-1]), BODY)
            self.assertRegex(sm.log(), r"to=<alice@example.test>.*mailer=mdmaildir.*stat=Sent")
            self.assertNotIn("sleeping for retry", sm.log())
            sid = sm.proc.pid
        self.assertEqual(mta.session_members(sid), [])
        self.assertEqual(mta.pids_with_cwd_under(sm.workdir), [])
        print(f"\n  sendmail {sm.dist.version} timings: {sm.timings}", file=sys.stderr)

    def test_fake_milter_adds_header(self):
        sock = self.tmp.milter_socket_dir() / "fake.sock"
        with mta.FakeMilter(sock) as fm, mta.SendmailInstance(self.tmp, addresses=["alice"], milter=sock) as sm:
            res = sm.send(SENDER, ["alice@example.test"], MESSAGE)
            self.assertTrue(res.accepted, res.transcript)
            [m] = sm.wait_for_maildir("alice@example.test", 1)
            self.assertIn(b"X-E2E-Fake-Milter: seen", mta.split_message(m)[0])
            self.assertEqual(body_of(m), BODY)
            self.assertIn("E", fm.commands())

    def test_milter_socket_missing_tempfails(self):
        sock = self.tmp.milter_socket_dir() / "mdcrypt.sock"
        with mta.SendmailInstance(self.tmp, addresses=["alice"], milter=sock) as sm:
            self.assertIn(f"S=unix:{sock}, F=T, T=S:30s;R:30s;E:5m", sm.mc_path.read_text())
            for client in ("smtplib", "swaks"):
                res = sm.send(SENDER, ["alice@example.test"], MESSAGE, client=client)
                self.assertFalse(res.accepted, res.transcript)
                self.assertRegex(str(res.final_code), r"^4", res.transcript)
                self.assertTrue(res.tempfailed)
            self.assertEqual(sm.queue_count(), 0)  # refused at MAIL: nothing queued
            assert_nothing_delivered(self, sm, ["alice@example.test"])
            self.assertIn("mdcrypt", sm.log())


def main() -> int:
    mta.install_signal_cleanup()
    reaped = mta.reap_stale_runs()
    if reaped:
        print(f"reaped leftovers of killed runs: {reaped}", file=sys.stderr)
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    mta.cleanup_all()
    sys.stderr.flush()
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    line = f"{passed} passed, {failed} failed"
    if result.skipped:
        line += f", {len(result.skipped)} skipped"
    print(line, flush=True)
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
