"""The node's user store (docs/SECURITY.md "User store"; docs/ADMIN.md
/api/v1/users, /api/v1/roles, `ternctl user`, `ternctl role`): users and
roles kept in LMDB, changed through the admin API, effective at once
without a restart.

Classes (password hashes are slow under ASan: a shared broker where the
tests do not interfere):
  StoreTests        shared broker, admin token, auth_fail_burst 0
  EmptyStoreTests   a store without users: usernames are still ignored
  MergeTests        ACL file plus store roles (the store's version wins)
  RestartTests      users and roles survive a restart
  NoStoreTests      durability none: 503

Run: TERND=$PWD/build/ternd TERNCTL=$PWD/build/ternctl /usr/bin/python3 \
         tests/integration/test_users.py -v
"""

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

import tern
from tern import (CONNACK, DISCONNECT, PUBACK, Broker, SharedBrokerCase,
                  TernTestCase, build_connect, unique, wait_until)

TOKEN = "users-admin-token-0123"
TERNCTL = os.environ.get("TERNCTL") or os.path.join(
    os.path.dirname(os.path.abspath(tern.TERND)), "ternctl")
HTTP_TIMEOUT = 15
NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86

ROLE_YAML = """\
- allow: publish
  topic: dev/%u/#
  max_qos: 1
- allow: subscribe
  topic: dev/#
"""


class UsersMixin:
    """Admin API, ternctl and MQTT helpers for a broker started with
    --admin-token TOKEN."""

    def http(self, method, path, body=None, ctype="application/json",
             token=TOKEN):
        u = urllib.parse.urlsplit(self.broker.admin_url())
        c = http.client.HTTPConnection(u.hostname, u.port,
                                       timeout=HTTP_TIMEOUT)
        try:
            h = {"Authorization": "Bearer " + token}
            if body is not None:
                h["Content-Type"] = ctype
                if not isinstance(body, (str, bytes)):
                    body = json.dumps(body)
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def api(self, method, path, body=None, expect=200, **kw):
        st, data = self.http(method, path, body, **kw)
        self.assertEqual(st, expect, data)
        j = json.loads(data)
        if st >= 400:
            self.assertIn("error", j)
        return j

    def ternctl(self, *args, stdin=None):
        env = dict(os.environ)
        env.pop("TERN_ADMIN_URL", None)
        env.pop("TERN_ADMIN_TOKEN", None)
        r = subprocess.run([TERNCTL, "--url", self.broker.admin_url(),
                            "--token", TOKEN, "--timeout", "15"]
                           + list(args), input=(stdin or "").encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30, env=env)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def ok(self, *args, stdin=None):
        rc, out, err = self.ternctl(*args, stdin=stdin)
        self.assertEqual(rc, 0, "ternctl %s: %s%s" % (args, out, err))
        return out

    def add_user(self, name, password, roles=()):
        args = ["user", "add", name, "--password", password]
        for r in roles:
            args += ["--role", r]
        self.ok(*args)

    def put_role(self, name, text, suffix=".yaml"):
        path = os.path.join(self.tmpdir(), unique("rules") + suffix)
        with open(path, "w") as f:
            f.write(text)
        self.ok("role", "put", name, "--file", path)

    def tmpdir(self):
        if not getattr(self, "_tmp", None):
            self._tmp = tempfile.mkdtemp(prefix="tern-users-")
            self.addCleanup(shutil.rmtree, self._tmp, True)
        return self._tmp

    def login(self, user, password, version=5, expect_rc=0, cid=None):
        c = self.raw()
        c.connect(cid or unique("u"), version=version, username=user,
                  password=password.encode(), expect_rc=expect_rc)
        return c

    def refused(self, user, password, version):
        """CONNACK code of a refused CONNECT, then closed."""
        c = self.raw()
        c.send(build_connect(unique("w"), version, username=user,
                             password=password.encode()))
        got = c.wait_closed()
        self.assertEqual([p.type for p in got], [CONNACK])
        return got[0].rc

    def assert_kicked(self, c, version):
        """c is closed by the broker; MQTT 5 first gets DISCONNECT 0x87."""
        got = c.wait_closed()
        if version == 5:
            self.assertEqual([p.type for p in got], [DISCONNECT], got)
            self.assertEqual(got[0].rc, NOT_AUTHORIZED)
        else:
            self.assertEqual(got, [])


class StoreTests(UsersMixin, SharedBrokerCase):
    extra_args = ("--admin-token", TOKEN)
    settings = {"auth_fail_burst": 0}

    def tearDown(self):
        log = self.broker.read_log()
        for secret in getattr(self, "secrets", ()):
            self.assertNotIn(secret, log, "a password is in the log")
        self.assertNotIn("$pbkdf2-sha512$", log, "a hash is in the log")

    def secret(self):
        s = "pw-" + unique("s")
        self.secrets = getattr(self, "secrets", []) + [s]
        return s

    def test_add_then_mosquitto_pub_without_restart(self):
        name, pw = unique("alice"), self.secret()
        out = self.ok("user", "add", name, "--password", pw)
        self.assertIn(name, out)
        self.mosquitto_pub(unique("t/"), "hello",
                           args=["-u", name, "-P", pw])
        self.assertRegex(self.broker.read_log(),
                         r'user "%s" provider user_store: allowed'
                         % re.escape(name))
        self.assertRegex(self.broker.read_log(),
                         r'audit: user "%s" written' % re.escape(name))

    def test_wrong_password_v5_and_v311(self):
        name, pw = unique("bob"), self.secret()
        self.add_user(name, pw)
        p = self.paho(version=5)
        p.c.username_pw_set(name, "wrong")
        _, rc, _ = p.connect(expect_success=False)
        self.assertEqual(int(rc.value if hasattr(rc, "value") else rc),
                         BAD_CREDENTIALS)
        self.assertEqual(self.refused(name, "wrong", 4), 4)
        # a user in neither the file nor the store: as a file miss
        self.assertEqual(self.refused(unique("nobody"), pw, 5),
                         BAD_CREDENTIALS)
        self.login(name, pw, version=4).disconnect()

    def test_passwd_changes_which_password_works(self):
        name, old, new = unique("carol"), self.secret(), self.secret()
        self.add_user(name, old)
        self.login(name, old).disconnect()
        live5 = self.login(name, old, version=5)
        live4 = self.login(name, old, version=4)
        self.ok("user", "passwd", name, "--password", new)
        self.assert_kicked(live5, 5)
        self.assert_kicked(live4, 4)
        # the verification cache does not keep the old password working
        self.assertEqual(self.refused(name, old, 5), BAD_CREDENTIALS)
        self.login(name, new).disconnect()

    def test_del_refuses_next_connect_and_disconnects_live(self):
        name, pw = unique("dave"), self.secret()
        self.add_user(name, pw)
        live5 = self.login(name, pw, version=5)
        live4 = self.login(name, pw, version=4)
        out = self.ok("user", "del", name)
        self.assertIn("deleted", out)
        self.assert_kicked(live5, 5)
        self.assert_kicked(live4, 4)
        self.assertEqual(self.refused(name, pw, 5), BAD_CREDENTIALS)
        self.assertEqual(self.refused(name, pw, 4), 4)
        self.assertRegex(self.broker.read_log(),
                         r'audit: user "%s" deleted' % re.escape(name))

    def test_store_role_is_enforced(self):
        role, name, pw = unique("dev"), unique("eve"), self.secret()
        self.put_role(role, ROLE_YAML)
        self.assertRegex(self.broker.read_log(),
                         r'audit: role "%s" written' % re.escape(role))
        self.add_user(name, pw, roles=[role])
        c = self.login(name, pw, version=5)
        ok = c.publish("dev/%s/x" % name, b"1", qos=1)
        self.assertEqual(ok.rc, 0)
        denied = c.publish("other/%s" % name, b"1", qos=1)
        self.assertEqual(denied.type, PUBACK)
        self.assertEqual(denied.rc, NOT_AUTHORIZED)
        self.assertEqual(c.subscribe([("dev/a/#", 1), ("secret/#", 1)]),
                         [1, NOT_AUTHORIZED])
        c4 = self.login(name, pw, version=4)
        self.assertEqual(c4.subscribe([("secret/#", 0)]), [0x80])
        # max_qos 1 on publish: QoS 2 refused
        self.assertEqual(c.publish("dev/%s/y" % name, b"2", qos=2).rc,
                         NOT_AUTHORIZED)

    def test_role_change_prunes_live_subscription(self):
        role, name, pw = unique("watch"), unique("fay"), self.secret()
        self.put_role(role, json.dumps(
            {"rules": [{"allow": "subscribe", "topic": "feed/#"}]}),
            suffix=".json")
        self.add_user(name, pw, roles=[role])
        cid = unique("sub")
        c = self.login(name, pw, version=5, cid=cid)
        self.assertEqual(c.subscribe([("feed/a", 1)]), [1])

        def subs():
            d = self.api("GET", "/api/v1/clients/" + cid)
            return [s["filter"] for s in d.get("subscription_list", [])]
        self.assertEqual(subs(), ["feed/a"])
        self.put_role(role, json.dumps(
            [{"deny": "subscribe", "topic": "feed/#"}]), suffix=".json")
        self.assertTrue(wait_until(lambda: subs() == []), subs())
        self.assertEqual(c.subscribe([("feed/b", 1)]), [NOT_AUTHORIZED])

    def test_user_roles_change_applies_to_live_connection(self):
        role, name, pw = unique("pub"), unique("gus"), self.secret()
        self.put_role(role, "- allow: publish\n  topic: open/#\n")
        self.add_user(name, pw)
        c = self.login(name, pw, version=5)
        # no roles and no ACL file: unrestricted
        self.assertEqual(c.publish("closed/x", b"1", qos=1).rc, 0)
        self.ok("user", "roles", name, role)
        self.assertEqual(
            self.api("GET", "/api/v1/users/" + name)["roles"], [role])

        def refused():
            return c.publish("closed/x", b"1", qos=1).rc == NOT_AUTHORIZED
        self.assertTrue(wait_until(refused))
        self.assertEqual(c.publish("open/x", b"1", qos=1).rc, 0)

    def test_password_hash_and_stdin(self):
        name, pw = unique("hal"), self.secret()
        pwfile = os.path.join(self.tmpdir(), "passwd")
        subprocess.run([TERNCTL, "passwd", pwfile, "x", "--password", pw],
                       check=True, capture_output=True, timeout=30)
        with open(pwfile) as f:
            line = f.read().strip()
        hash_ = line.split(":", 1)[1]
        self.secrets = getattr(self, "secrets", [])
        j = self.api("PUT", "/api/v1/users/" + name,
                     {"password_hash": hash_, "roles": []})
        self.assertEqual(j, {"user": name, "roles": []})
        self.login(name, pw).disconnect()
        other, pw2 = unique("ivy"), self.secret()
        self.ok("user", "add", other, stdin=pw2 + "\n")
        self.login(other, pw2).disconnect()

    def test_list_show_and_json(self):
        role, name, pw = unique("lst"), unique("jo"), self.secret()
        self.put_role(role, ROLE_YAML)
        self.add_user(name, pw, roles=[role])
        out = self.ok("user", "list")
        self.assertRegex(out, r"(?m)^USER\s+ROLES")
        self.assertRegex(out, r"(?m)^%s\s+%s$" % (re.escape(name),
                                                   re.escape(role)))
        j = json.loads(self.ok("-o", "json", "user", "show", name))
        self.assertEqual(j, {"user": name, "roles": [role]})
        self.assertIn(role, self.ok("role", "list"))
        show = self.ok("role", "show", role)
        self.assertRegex(show, r"allow\s+publish\s+dev/%u/#\s+1")
        rj = json.loads(self.ok("-o", "json", "role", "show", role))
        self.assertEqual(rj["rules"][0], {"allow": "publish",
                                          "topic": "dev/%u/#",
                                          "max_qos": 1, "retain": True})
        for body in (self.api("GET", "/api/v1/users"),
                     self.api("GET", "/api/v1/users/" + name)):
            self.assertNotIn("hash", json.dumps(body))
            self.assertNotIn("pbkdf2", json.dumps(body))
        self.ok("role", "del", role)
        self.assertNotIn(role, self.ok("role", "list"))

    def test_api_errors(self):
        name = unique("err")
        for body, why in (("{not json", "JSON"),
                          ({"password": "a", "password_hash": "b"}, "not "
                                                                    "both"),
                          ({"password": ""}, "password"),
                          ({"password": "x", "shoe": 1}, "unknown key"),
                          ({"password_hash": "$md5$x"}, "hash"),
                          ({"password": "x", "roles": "admin"}, "roles"),
                          ({"password": "x", "roles": ["a,b"]}, "role")):
            with self.subTest(body=body):
                j = self.api("PUT", "/api/v1/users/" + name, body,
                             expect=400)
                self.assertIn(why, j["error"])
        self.api("PUT", "/api/v1/users/a%3Ab", {"password": "x"},
                 expect=400)
        self.api("GET", "/api/v1/users/" + name, expect=404)
        self.api("DELETE", "/api/v1/users/" + name, expect=404)
        # roles only: the user must exist
        self.api("PUT", "/api/v1/users/" + name, {"roles": []}, expect=404)
        self.api("PUT", "/api/v1/roles/" + unique("r"), "{bad", expect=400)
        j = self.api("PUT", "/api/v1/roles/" + unique("r"),
                     [{"allow": "fly", "topic": "a"}], expect=400)
        self.assertIn("action", j["error"])
        self.api("PUT", "/api/v1/roles/" + unique("r"),
                 [{"allow": "publish", "topic": "a/#/b"}], expect=400)
        self.api("PUT", "/api/v1/roles/a,b", [], expect=400)
        self.api("GET", "/api/v1/roles/" + unique("r"), expect=404)
        self.api("DELETE", "/api/v1/roles/" + unique("r"), expect=404)
        st, _ = self.http("GET", "/api/v1/users", token="wrong")
        self.assertEqual(st, 401)
        rc, _, err = self.ternctl("user", "show", unique("none"))
        self.assertEqual(rc, 1)
        self.assertIn("no user", err)
        rc, _, err = self.ternctl("user", "passwd", unique("none"),
                                  "--password", "x")
        self.assertEqual(rc, 1)
        rc, _, _ = self.ternctl("user", "frobnicate", "x")
        self.assertEqual(rc, 2)
        rc, _, _ = self.ternctl("role", "put", "x", "--file", "rules.txt")
        self.assertEqual(rc, 2)

    def test_anonymous_still_allowed_with_users(self):
        self.add_user(unique("kim"), self.secret())
        c = self.raw()
        c.connect(unique("anon"), version=5)
        c.disconnect()


class EmptyStoreTests(UsersMixin, TernTestCase):
    """A store without users changes nothing: usernames are ignored."""

    extra_args = ("--admin-token", TOKEN)

    def test_usernames_ignored_without_users(self):
        self.assertEqual(self.api("GET", "/api/v1/users"), {"users": []})
        self.login("whoever", "whatever", version=5).disconnect()
        self.login("whoever", "whatever", version=4).disconnect()
        self.mosquitto_pub(unique("t/"), "x", args=["-u", "a", "-P", "b"])


MERGE_ACL = """\
roles:
  base:
    - allow: publish
      topic: file/#
  other:
    - allow: publish
      topic: other/#
default_roles: [base]
anonymous_roles: [other]
"""


class MergeTests(UsersMixin, TernTestCase):
    """ACL file and store roles together: a store role named like a file
    role replaces it (the file's default_roles then get its rules)."""

    extra_args = ("--admin-token", TOKEN)

    def setUp(self):
        acl = os.path.join(self.tmpdir(), "acl.yaml")
        with open(acl, "w") as f:
            f.write(MERGE_ACL)
        self.settings = {"acl_file": acl, "auth_fail_burst": 0}
        super().setUp()

    def test_store_role_wins_over_file_role(self):
        name, pw = unique("lee"), "pw-" + unique("s")
        self.add_user(name, pw)
        c = self.login(name, pw)
        self.assertEqual(c.publish("file/x", b"1", qos=1).rc, 0)
        self.put_role("base", "- allow: publish\n  topic: store/#\n")
        self.assertTrue(wait_until(
            lambda: c.publish("file/x", b"1", qos=1).rc == NOT_AUTHORIZED))
        self.assertEqual(c.publish("store/x", b"1", qos=1).rc, 0)
        # deleting the store role brings the file's back
        self.ok("role", "del", "base")
        self.assertTrue(wait_until(
            lambda: c.publish("file/x", b"1", qos=1).rc == 0))
        a = self.raw()
        a.connect(unique("anon"), version=5)
        self.assertEqual(a.publish("file/x", b"1", qos=1).rc,
                         NOT_AUTHORIZED)


class RestartTests(UsersMixin, TernTestCase):
    extra_args = ("--admin-token", TOKEN)

    def test_users_and_roles_survive_restart(self):
        data = tempfile.mkdtemp(prefix="tern-users-data-")
        self.addCleanup(shutil.rmtree, data, True)
        self.broker.stop()
        self.broker = Broker(self.extra_args, data_dir=data)
        self.broker.start()
        self.addCleanup(self.broker.stop)
        role, name, pw = unique("keep"), unique("max"), "pw-" + unique("s")
        self.put_role(role, ROLE_YAML)
        self.add_user(name, pw, roles=[role])
        self.broker.stop()
        self.broker.start()
        c = self.login(name, pw)
        self.assertEqual(c.publish("dev/%s/a" % name, b"1", qos=1).rc, 0)
        self.assertEqual(c.publish("elsewhere", b"1", qos=1).rc,
                         NOT_AUTHORIZED)
        self.assertEqual(self.api("GET", "/api/v1/users/" + name)["roles"],
                         [role])
        self.assertRegex(self.broker.read_log(),
                         r"user store: 1 user\(s\), 1 role\(s\)")


class NoStoreTests(UsersMixin, TernTestCase):
    extra_args = ("--admin-token", TOKEN)
    settings = {"durability": "none"}

    def test_api_answers_503(self):
        for path in ("/api/v1/users", "/api/v1/users/x", "/api/v1/roles",
                     "/api/v1/roles/x"):
            with self.subTest(path=path):
                j = self.api("GET", path, expect=503)
                self.assertIn("durability", j["error"])
        self.api("PUT", "/api/v1/users/x", {"password": "y"}, expect=503)
        rc, _, err = self.ternctl("user", "add", "x", "--password", "y")
        self.assertEqual(rc, 1)
        self.assertIn("durability", err)
        # usernames still ignored
        self.login("x", "y").disconnect()


class ScramStoreTests(UsersMixin, TernTestCase):
    """A user store user with a SCRAM-SHA-256 verifier logs in through the
    MQTT 5 exchange, and is disconnected when it is deleted like a
    password login is."""
    extra_args = ("--admin-token", TOKEN)
    settings = {"auth_fail_burst": 0}

    def test_scram_login_of_store_user_kicked_on_delete(self):
        import test_scram as ts
        name, pw = unique("sam"), "pw-" + unique("s")
        path = os.path.join(self.tmpdir(), "v")
        ts.ternctl_passwd(path, "x", pw, "--scram")
        with open(path) as f:
            hash_ = f.read().strip().split(":", 1)[1]
        self.assertTrue(hash_.startswith("$scram-sha-256$"))
        self.api("PUT", "/api/v1/users/" + name, {"password_hash": hash_})
        sc = ts.ScramClient(name, pw)
        c = self.raw()
        c.version = 5
        c.send(build_connect(unique("s"), 5,
                             props=ts.scram_props(sc.first())))
        a = c.expect(tern.AUTH)
        self.assertEqual(a.rc, ts.CONTINUE_AUTH)
        c.send(tern.build_auth(ts.CONTINUE_AUTH, ts.METHOD,
                               sc.final(a.props.get(tern.AUTH_DATA))))
        ack = c.expect(CONNACK)
        self.assertEqual(ack.rc, 0)
        self.assertTrue(sc.server_final_ok(ack.props.get(tern.AUTH_DATA)))
        self.api("DELETE", "/api/v1/users/" + name)
        self.assert_kicked(c, 5)


if __name__ == "__main__":
    unittest.main()
