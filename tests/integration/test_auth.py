"""Password file authentication (docs/SECURITY.md): CONNACK codes with right
and wrong passwords on 3.1.1 and 5, anonymous rules, SIGHUP reload, the
verification cache, metrics and `ternctl passwd`."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import paho.mqtt.client as mqtt

import tern
from tern import (CONNACK, Broker, RawClient, TernTestCase, build_connect,
                  unique, wait_until)

TERNCTL = os.path.join(os.path.dirname(tern.TERND), "ternctl")


def ternctl_passwd(path, user, password, check=True):
    r = subprocess.run([TERNCTL, "passwd", path, user, "--password",
                        password], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError("ternctl passwd -> %d: %s"
                             % (r.returncode, r.stderr.decode()))
    return r


class AuthTestCase(TernTestCase):
    """A broker with a password file holding alice/wonderland and
    bob/builder; self.pwfile is its path."""

    extra_settings = {}

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tern-auth-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pwfile = os.path.join(self.tmp, "passwd")
        ternctl_passwd(self.pwfile, "alice", "wonderland")
        ternctl_passwd(self.pwfile, "bob", "builder")
        self.settings = dict(password_file=self.pwfile,
                             **self.extra_settings)
        super().setUp()

    def connect(self, user, password, version=4, expect_rc=0, cid=None):
        c = self.raw()
        ack = c.connect(cid or unique("a"), version=version, username=user,
                        password=None if password is None
                        else password.encode(),
                        expect_rc=expect_rc)
        return c, ack


class PasswordTests(AuthTestCase):

    def test_right_password_v311_and_v5(self):
        for v in (4, 5):
            with self.subTest(version=v):
                c, ack = self.connect("alice", "wonderland", version=v)
                c.ping()
                c.disconnect()

    def test_wrong_password_and_unknown_user(self):
        """[MQTT5-3.2.2 0x86] [MQTT-v311-3.2.2 code 4], then closed
        [MQTT5-3.1.4-2]."""
        for v, rc in ((4, 4), (5, 0x86)):
            for user, pw in (("alice", "wrong"), ("alice", ""),
                             ("nobody", "wonderland"),
                             ("alice", "wonderland "), ("Alice",
                                                        "wonderland")):
                with self.subTest(version=v, user=user, pw=pw):
                    c = self.raw()
                    c.send(build_connect(unique("w"), v, username=user,
                                         password=pw.encode()))
                    got = c.wait_closed()
                    self.assertEqual([p.type for p in got], [CONNACK])
                    self.assertEqual(got[0].rc, rc)

    def test_username_without_password_refused(self):
        self.connect("alice", None, version=5, expect_rc=0x86)

    def test_anonymous_allowed_on_loopback_by_default(self):
        c = self.raw()
        c.connect(unique("anon"), version=5)
        c.disconnect()

    def test_packets_after_connect_wait_for_verification(self):
        """CONNECT, SUBSCRIBE, PUBLISH in one write: the later packets are
        handled once the password is verified, in order."""
        topic = unique("pipe/")
        c = self.raw()
        sub = tern.build_subscribe(1, [(topic, 1)], version=4)
        pub = tern.build_publish(topic, b"hi", qos=1, pid=2, version=4)
        c.send(build_connect(unique("p"), 4, username="bob",
                             password=b"builder") + sub + pub)
        self.assertEqual(c.expect(CONNACK).rc, 0)
        types = set()
        deadline = time.monotonic() + tern.TIMEOUT
        while len(types) < 3 and time.monotonic() < deadline:
            types.add(c.recv_packet().type)
        self.assertEqual(types, {tern.SUBACK, tern.PUBACK, tern.PUBLISH})

    def test_close_while_verifying(self):
        """Clients that go away before their password is checked leave
        nothing behind (the sanitizers check the rest at stop)."""
        for _ in range(20):
            c = RawClient(self.broker.host, self.broker.port)
            c.send(build_connect(unique("gone"), 4, username="alice",
                                 password=b"wonderland"))
            c.close()
        # verifications already running finish first (on a loaded
        # machine each takes a while): wait longer than usual
        c = self.raw()
        c.connect(unique("a"), version=4, username="alice",
                  password=b"wonderland", timeout=30)
        c.disconnect()

    def test_paho_and_mosquitto_clients(self):
        topic = unique("clients/")
        p = self.paho(version=5)
        p.c.username_pw_set("alice", "wonderland")
        p.connect()
        self.assertEqual(p.subscribe(topic, 1), [1])
        self.mosquitto_pub(topic, "from mosquitto", qos=1,
                           args=["-u", "bob", "-P", "builder"])
        self.assertEqual(p.get().payload, b"from mosquitto")

        bad = self.paho(version=4)
        bad.c.username_pw_set("alice", "nope")
        _, rc, _ = bad.connect(expect_success=False)
        self.assertEqual(rc, 4)
        bad5 = self.paho(version=5)
        bad5.c.username_pw_set("alice", "nope")
        _, rc, _ = bad5.connect(expect_success=False)
        self.assertEqual(int(rc.value if hasattr(rc, "value") else rc),
                         0x86)
        r = subprocess.run(["mosquitto_pub", "-h", self.broker.host, "-p",
                            str(self.broker.port), "-t", topic, "-m", "x",
                            "-u", "bob", "-P", "wrong", "-V", "mqttv311"],
                           capture_output=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)

    def test_metrics_and_log(self):
        c, _ = self.connect("alice", "wonderland")
        c.disconnect()
        self.connect("alice", "bad-pass", expect_rc=4)
        self.assertTrue(wait_until(
            lambda: self.metric("tern_auth_successes_total") == 1))
        self.assertTrue(wait_until(
            lambda: self.metric("tern_auth_failures_total") == 1))
        log = self.broker.read_log()
        self.assertRegex(log, r'auth client "[^"]+" user "alice" provider '
                              r'password_file: allowed')
        self.assertRegex(log, r'user "alice" provider password_file: bad '
                              r'username or password')
        self.assertNotIn("wonderland", log)
        self.assertNotIn("bad-pass", log)

    def test_cache_makes_reconnects_cheap(self):
        """The first verification costs a PBKDF2; the next ones come from
        the cache (and are logged as such)."""
        for _ in range(5):
            c, _ = self.connect("bob", "builder")
            c.disconnect()
        log = self.broker.read_log()
        self.assertGreaterEqual(
            log.count('user "bob" provider password_file (cached): '
                      'allowed'), 4)

    def test_sighup_reloads_password_file(self):
        c, _ = self.connect("bob", "builder")  # now cached
        c.disconnect()
        ternctl_passwd(self.pwfile, "bob", "new-pass")
        ternctl_passwd(self.pwfile, "carol", "c4rol")
        self.broker.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(
            lambda: "password_file %s reloaded: 3 user(s)" % self.pwfile
            in self.broker.read_log()))
        self.connect("bob", "builder", expect_rc=4)  # cache dropped too
        for user, pw in (("bob", "new-pass"), ("carol", "c4rol"),
                         ("alice", "wonderland")):
            c, _ = self.connect(user, pw)
            c.disconnect()

    def test_sighup_with_broken_file_keeps_old_table(self):
        with open(self.pwfile, "a") as f:
            f.write("broken line\n")
        self.broker.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(
            lambda: "password file reload failed, keeping the old one: "
            "password_file %s:3: expected" % self.pwfile
            in self.broker.read_log()))
        c, _ = self.connect("alice", "wonderland")
        c.disconnect()


class NoAnonymousTests(AuthTestCase):
    extra_settings = {"allow_anonymous_loopback": "false"}

    def test_anonymous_refused_when_configured(self):
        for v, rc in ((4, 5), (5, 0x87)):
            with self.subTest(version=v):
                c = self.raw()
                c.send(build_connect(unique("anon"), v))
                got = c.wait_closed()
                self.assertEqual(got[0].type, CONNACK)
                self.assertEqual(got[0].rc, rc)
        c, _ = self.connect("alice", "wonderland", version=5)
        c.disconnect()
        r = subprocess.run(["mosquitto_pub", "-h", self.broker.host, "-p",
                            str(self.broker.port), "-t", "x", "-m", "x",
                            "-V", "mqttv311"], capture_output=True,
                           timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(self.broker.read_log(),
                         r'user "-" provider anonymous: anonymous not '
                         r'allowed')


class StartupTests(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tern-auth-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_ternd(self, *args):
        return subprocess.run([tern.TERND, "--data-dir",
                               os.path.join(self.tmp, "data"),
                               "--admin-listen", ""] + list(args),
                              capture_output=True, timeout=20)

    def test_bad_file_names_file_and_line(self):
        path = os.path.join(self.tmp, "passwd")
        ternctl_passwd(path, "alice", "wonderland")
        with open(path, "a") as f:
            f.write("\nbob:$pbkdf2-sha512$10$AAAA$AAAA\n")
        r = self.run_ternd("--listen", "mqtt://127.0.0.1:0",
                           "--password-file", path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("password_file %s:3: iteration count out of range"
                      % path, (r.stdout + r.stderr).decode())
        r = self.run_ternd("--listen", "mqtt://127.0.0.1:0",
                           "--password-file", path + ".missing")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No such file", (r.stdout + r.stderr).decode())

    def test_public_listener_accepted_with_password_file_and_warned(self):
        path = os.path.join(self.tmp, "passwd")
        ternctl_passwd(path, "alice", "wonderland")
        b = Broker(["--listen", "mqtt://0.0.0.0:0", "--password-file",
                    path])
        b.start()
        try:
            self.assertTrue(wait_until(
                lambda: "passwords cross the network in clear"
                in b.read_log()))
            c = RawClient("127.0.0.1", b.ports[1])
            c.connect(unique("pub"), version=4, expect_rc=5)  # anonymous
            c.close()
            c = RawClient("127.0.0.1", b.ports[1])
            c.connect(unique("pub"), version=4, username="alice",
                      password=b"wonderland")
            c.close()
        finally:
            b.stop()


class TernctlPasswdTests(unittest.TestCase):

    def test_adds_replaces_and_keeps_other_lines(self):
        tmp = tempfile.mkdtemp(prefix="tern-auth-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "passwd")
        with open(path, "w") as f:
            f.write("# operators\n")
        os.chmod(path, 0o640)
        r = ternctl_passwd(path, "alice", "one")
        self.assertIn(b"added user alice", r.stdout)
        ternctl_passwd(path, "bob", "two")
        r = ternctl_passwd(path, "alice", "three")
        self.assertIn(b"updated user alice", r.stdout)
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "# operators")
        self.assertEqual([ln.split(":")[0] for ln in lines[1:]],
                         ["alice", "bob"])
        self.assertRegex(lines[1], r"^alice:\$pbkdf2-sha512\$100000\$"
                                   r"[A-Za-z0-9+/]{22}==\$"
                                   r"[A-Za-z0-9+/]{86}==$")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o640)
        self.assertEqual(os.listdir(tmp), ["passwd"])  # no temp left
        # the password comes from stdin when not given
        r = subprocess.run([TERNCTL, "passwd", path, "carol"],
                           input=b"from-stdin\n", capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        for bad in ("", "a:b", "#x"):
            r = ternctl_passwd(path, bad, "x", check=False)
            self.assertEqual(r.returncode, 2, bad)
        b = Broker(["--password-file", path,
                    "--set", "allow_anonymous_loopback=false"])
        b.start()
        try:
            for user, pw, rc in (("alice", "three", 0), ("alice", "one", 4),
                                 ("carol", "from-stdin", 0)):
                c = RawClient(b.host, b.port)
                c.connect(unique("t"), version=4, username=user,
                          password=pw.encode(), expect_rc=rc)
                c.close()
        finally:
            b.stop()


if __name__ == "__main__":
    unittest.main()
