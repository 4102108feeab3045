"""The LDAP authentication provider, end to end (docs/SECURITY.md, "LDAP";
node/auth_ldap.h).

Every test runs against a real OpenLDAP slapd that this file starts in a
temp dir of its own (never the system's): a slapd.conf loading the core,
cosine and inetorgperson schemas from /etc/ldap/schema, an mdb database
with suffix dc=example,dc=com, the memberof overlay (memberOf on users),
plain LDAP, StartTLS and LDAPS on free loopback ports with certificates
made by openssl (certs.py). Users are loaded with slapadd, groups
(groupOfNames) with ldapadd once slapd answers, so the overlay fills in
memberOf. If slapd cannot run here the whole file is skipped with the
reason.

Directory:
  uid=alice  wonderland  groups operators, monitors
  uid=bob    builder     group monitors
  uid=carol  carolpw     group devices
  uid=dave   davepw      no group
  uid=twin   twinpw      twice (ou=people and ou=contractors)
  cn=tern,ou=services    svcsecret (the search-then-bind service account)

ldap_role_map (ROLE_MAP): operators -> operator, monitors -> monitor,
devices -> device + telemetry. The ACL file gives default_roles [dflt]
and anonymous_roles [reader] (an anonymous loopback subscriber watches
every topic).

Classes, by broker configuration (one broker per class unless said):
  BindDnTests          ldap_bind_dn uid=%u,..., ldap_group_attr memberOf
  SearchBindTests      search-then-bind as cn=tern, group search
                       (member=%d)
  PasswordFileFirstTests  a password file and LDAP side by side
  TlsTests             StartTLS, ldaps://, a CA that does not match
                       (a broker per test)
  UnavailableTests     slapd down, a server that never answers, the
                       service password reloaded on SIGHUP (a broker per
                       test)
  StartupErrorTests    settings ternd refuses at start
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import certs
import tern
from tern import (CONNACK, PUBACK, Broker, RawClient, TernTestCase,
                  build_connect, build_publish, build_subscribe, unique,
                  wait_until)

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
LDAPADD = shutil.which("ldapadd") or "/usr/bin/ldapadd"
LDAPSEARCH = shutil.which("ldapsearch") or "/usr/bin/ldapsearch"
SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIR = "/usr/lib/ldap"

SUFFIX = "dc=example,dc=com"
ROOT_DN = "cn=admin," + SUFFIX
ROOT_PW = "adminsecret"
PEOPLE = "ou=people," + SUFFIX
GROUPS = "ou=groups," + SUFFIX
SERVICE_DN = "cn=tern,ou=services," + SUFFIX
SERVICE_PW = "svcsecret"

USERS = {"alice": "wonderland", "bob": "builder", "carol": "carolpw",
         "dave": "davepw"}

ROLE_MAP = ("cn=operators,{g}=operator; cn=monitors,{g}=monitor;"
            " cn=devices, {g} = device telemetry").format(g=GROUPS)

ACL = """\
roles:
  operator:
    - allow: all
      topic: ops/#
  monitor:
    - allow: all
      topic: mon/#
  device:
    - allow: publish
      topic: dev/%u/#
  telemetry:
    - allow: publish
      topic: tele/#
  dflt:
    - allow: publish
      topic: default/#
  reader:
    - allow: subscribe
      topic: "#"
default_roles: [dflt]
anonymous_roles: [reader]
"""

# reason codes
V5_BAD_USER_OR_PASSWORD = 0x86
V3_BAD_USER_OR_PASSWORD = 4
V5_SERVER_UNAVAILABLE = 0x88
V3_SERVER_UNAVAILABLE = 3
NOT_AUTHORIZED = 0x87


def free_port():
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def write_file(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def run(cmd, stdin_text=None, timeout=20):
    return subprocess.run(cmd, input=stdin_text.encode()
                          if stdin_text is not None else None,
                          stdin=None if stdin_text is not None
                          else subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)


def entry(dn, *lines):
    return "dn: %s\n%s\n" % (dn, "\n".join(lines))


def person(uid, pw, ou="people"):
    return entry("uid=%s,ou=%s,%s" % (uid, ou, SUFFIX),
                 "objectClass: inetOrgPerson", "uid: %s" % uid,
                 "cn: %s" % uid.capitalize(), "sn: %s" % uid,
                 "userPassword: %s" % pw)


def group(cn, *uids):
    return entry("cn=%s,%s" % (cn, GROUPS), "objectClass: groupOfNames",
                 "cn: %s" % cn,
                 *["member: uid=%s,%s" % (u, PEOPLE) for u in uids])


class Slapd:
    """A private slapd: ldap://127.0.0.1:port (StartTLS too) and
    ldaps://127.0.0.1:tls_port, with the directory of the module doc."""

    def __init__(self, pki):
        self.pki = pki
        self.dir = tempfile.mkdtemp(prefix="tern-slapd-")
        self.port = free_port()
        self.tls_port = free_port()
        self.url = "ldap://127.0.0.1:%d" % self.port
        self.ldaps_url = "ldaps://127.0.0.1:%d" % self.tls_port
        self.proc = None
        self.log = os.path.join(self.dir, "slapd.log")

    def start(self):
        db = os.path.join(self.dir, "db")
        os.mkdir(db)
        conf = write_file(os.path.join(self.dir, "slapd.conf"), """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
modulepath {modules}
moduleload back_mdb
moduleload memberof
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{root}"
rootpw {rootpw}
directory {db}
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
""".format(schema=SCHEMA_DIR, modules=MODULE_DIR, dir=self.dir,
           ca=self.pki.ca, cert=self.pki.server_cert,
           key=self.pki.server_key, suffix=SUFFIX, root=ROOT_DN,
           rootpw=ROOT_PW, db=db))
        base = "\n".join([
            entry(SUFFIX, "objectClass: dcObject",
                  "objectClass: organization", "o: Example", "dc: example"),
            entry(PEOPLE, "objectClass: organizationalUnit", "ou: people"),
            entry("ou=contractors," + SUFFIX,
                  "objectClass: organizationalUnit", "ou: contractors"),
            entry("ou=services," + SUFFIX,
                  "objectClass: organizationalUnit", "ou: services"),
            entry(GROUPS, "objectClass: organizationalUnit", "ou: groups"),
            entry(SERVICE_DN, "objectClass: person", "cn: tern", "sn: tern",
                  "userPassword: " + SERVICE_PW),
        ] + [person(u, pw) for u, pw in USERS.items()] + [
            person("twin", "twinpw"),
            person("twin", "twinpw", ou="contractors"),
        ])
        r = run([SLAPADD, "-f", conf, "-l",
                 write_file(os.path.join(self.dir, "base.ldif"), base)])
        if r.returncode:
            raise RuntimeError("slapadd: %s" % r.stderr.decode())
        self.proc = subprocess.Popen(
            [SLAPD, "-h", "%s/ %s/" % (self.url, self.ldaps_url),
             "-f", conf, "-d", "0"], stdin=subprocess.DEVNULL,
            stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            r = run([LDAPSEARCH, "-x", "-H", self.url, "-b", "", "-s",
                     "base", "-o", "nettimeout=1", "-l", "1",
                     "namingContexts"], timeout=5)
            if r.returncode == 0:
                break
            if self.proc.poll() is not None or \
                    time.monotonic() > deadline:
                raise RuntimeError("slapd did not answer: %s"
                                   % tern.read_text(self.log)[-2000:])
            time.sleep(0.05)
        # groups online, so that the memberof overlay sets memberOf
        groups = "\n".join([group("operators", "alice"),
                            group("monitors", "alice", "bob"),
                            group("devices", "carol")])
        r = run([LDAPADD, "-x", "-H", self.url, "-D", ROOT_DN, "-w",
                 ROOT_PW], stdin_text=groups)
        if r.returncode:
            raise RuntimeError("ldapadd: %s" % r.stderr.decode())
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


PKI = None
SLAPD_SERVER = None
# settings that turn the failed-authentication throttle off when this
# ternd has one (these tests refuse many clients from 127.0.0.1)
LIMIT_OFF = {}


def setUpModule():
    global PKI, SLAPD_SERVER, LIMIT_OFF
    for path in (SLAPD, SLAPADD, LDAPADD, LDAPSEARCH,
                 os.path.join(SCHEMA_DIR, "inetorgperson.schema")):
        if not os.path.exists(path):
            raise unittest.SkipTest("LDAP tests need slapd and ldap-utils "
                                    "(%s is missing)" % path)
    r = run([tern.TERND, "--help"])
    if b"auth_fail_burst" in r.stdout + r.stderr:
        LIMIT_OFF = {"auth_fail_burst": 0}
    PKI = certs.Pki()
    try:
        SLAPD_SERVER = Slapd(PKI).start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        if SLAPD_SERVER is not None:
            SLAPD_SERVER.stop()
        PKI.cleanup()
        raise unittest.SkipTest("slapd cannot run here: %s" % e)


def tearDownModule():
    if SLAPD_SERVER is not None:
        SLAPD_SERVER.stop()
    if PKI is not None:
        PKI.cleanup()


class LdapCase(TernTestCase):
    """Helpers: clients with a username and password, log and metrics."""

    def setUp(self):
        self.settings = dict(self.settings, **LIMIT_OFF)
        super().setUp()

    def client(self, user, password, version=5, expect_rc=0, cid=None):
        c = self.raw()
        c.connect(cid or unique("l"), version=version, username=user,
                  password=None if password is None else password.encode(),
                  expect_rc=expect_rc)
        return c

    def refused(self, user, password, version=5, expect_rc=None):
        """CONNECT, then CONNACK with the refusal and the close. Returns
        this client's local port (its address in the log)."""
        if expect_rc is None:
            expect_rc = V5_BAD_USER_OR_PASSWORD if version == 5 \
                else V3_BAD_USER_OR_PASSWORD
        c = self.raw()
        port = c.sock.getsockname()[1]
        c.send(build_connect(unique("r"), version, username=user,
                             password=None if password is None
                             else password.encode()))
        got = c.wait_closed()
        self.assertEqual([p.type for p in got], [CONNACK], got)
        self.assertEqual(got[0].rc, expect_rc)
        return port

    def watcher(self):
        """An anonymous subscriber (role reader) to every topic."""
        w = self.raw()
        w.connect(unique("w"), version=5)
        self.assertEqual(w.subscribe([("#", 1)]), [1])
        return w

    def check_publish(self, c, topic, allowed, watcher):
        """QoS 1 publish: PUBACK 0 and delivered, or PUBACK 0x87 and not
        delivered (MQTT 5)."""
        ack = c.publish(topic, b"ok" if allowed else b"no", qos=1)
        self.assertEqual(ack.type, PUBACK)
        self.assertEqual(ack.rc, 0 if allowed else NOT_AUTHORIZED, topic)
        if allowed:
            p = watcher.expect_publish()
            self.assertEqual((p.topic, p.payload), (topic, b"ok"))
        else:
            watcher.assert_nothing()


class SharedLdapCase(tern.SharedBrokerCase, LdapCase):
    """One broker for every test of the class; make_settings(tmp) gives
    its settings."""

    tmp_prefix = "tern-ldap-"

    @classmethod
    def make_settings(cls, tmp):
        raise NotImplementedError

    @classmethod
    def class_settings(cls, tmp):
        return dict(cls.make_settings(tmp), **LIMIT_OFF)


def acl_settings(tmp):
    return {"acl_file": write_file(os.path.join(tmp, "acl.yaml"), ACL),
            "ldap_role_map": ROLE_MAP}


# ---------------------------------------------------------------------------
# Bind as the user (ldap_bind_dn), groups from memberOf


class RoleTests:
    """Group -> role mapping, shared by both ways of finding the user."""

    def test_one_group_one_role(self):
        """bob is in monitors: role monitor (plus default_roles dflt):
        mon/ allowed, ops/ refused with PUBACK 0x87."""
        w = self.watcher()
        c = self.client("bob", "builder")
        self.check_publish(c, "mon/b", True, w)
        self.check_publish(c, "default/b", True, w)
        self.check_publish(c, "ops/b", False, w)
        self.check_publish(c, "tele/b", False, w)

    def test_several_groups_several_roles(self):
        """alice is in operators and monitors: roles operator and
        monitor."""
        w = self.watcher()
        c = self.client("alice", "wonderland")
        self.check_publish(c, "ops/a", True, w)
        self.check_publish(c, "mon/a", True, w)
        self.check_publish(c, "dev/alice/t", False, w)

    def test_one_group_several_roles(self):
        """devices maps to device and telemetry; %u is the username."""
        w = self.watcher()
        c = self.client("carol", "carolpw")
        self.check_publish(c, "dev/carol/t", True, w)
        self.check_publish(c, "tele/x", True, w)
        self.check_publish(c, "dev/alice/t", False, w)
        self.check_publish(c, "ops/c", False, w)

    def test_no_group_default_roles_only(self):
        w = self.watcher()
        c = self.client("dave", "davepw")
        self.check_publish(c, "default/d", True, w)
        self.check_publish(c, "mon/d", False, w)
        self.wait_log_re(r"LDAP: bound as uid=dave,%s, 0 group\(s\) "
                         r"listed, mapped roles: -" % re.escape(PEOPLE))


class BindDnTests(RoleTests, SharedLdapCase):

    @classmethod
    def make_settings(cls, tmp):
        return dict(acl_settings(tmp), ldap_url=SLAPD_SERVER.url,
                    ldap_bind_dn="uid=%u," + PEOPLE,
                    ldap_group_attr="memberOf", ldap_timeout_ms=3000)

    def test_mosquitto_pub_v311_and_v5(self):
        """`mosquitto_pub -u alice -P wonderland`: bound, published."""
        w = self.watcher()
        for v in (4, 5):
            with self.subTest(version=v):
                topic = unique("ops/mosq")
                self.mosquitto_pub(topic, "hi", qos=1, version=v,
                                   args=["-u", "alice", "-P", "wonderland"])
                p = w.expect_publish()
                self.assertEqual((p.topic, p.payload), (topic, b"hi"))

    def test_paho_v5_and_v311(self):
        for v in (5, 4):
            with self.subTest(version=v):
                p = self.paho(version=v)
                p.c.username_pw_set("bob", "builder")
                _, rc, _ = p.connect()
                topic = unique("mon/paho")
                self.assertEqual(p.subscribe(topic, 1), [1])
                p.publish(topic, b"x", qos=1)
                self.assertEqual(p.get().payload, b"x")
                bad = self.paho(version=v)
                bad.c.username_pw_set("bob", "nope")
                _, rc, _ = bad.connect(expect_success=False)
                self.assertEqual(int(getattr(rc, "value", rc)),
                                 {5: 0x86, 4: 4}[v])

    def test_wrong_password_0x86_and_4(self):
        for v in (5, 4):
            with self.subTest(version=v):
                port = self.refused("alice", "wrong", version=v)
                self.wait_log_re(r"127\.0\.0\.1:%d: LDAP refused: bind as "
                                 r"uid=alice,%s: Invalid credentials"
                                 % (port, re.escape(PEOPLE)))

    def test_unknown_user_refused(self):
        for v in (5, 4):
            with self.subTest(version=v):
                self.refused("nobody", "wonderland", version=v)

    def test_empty_password_refused_without_asking_ldap(self):
        """An empty password would be an unauthenticated bind."""
        for v in (5, 4):
            with self.subTest(version=v):
                port = self.refused("alice", "", version=v)
                self.wait_log_re(r"127\.0\.0\.1:%d: LDAP refused: empty "
                                 r"password" % port)

    def test_username_without_password_refused(self):
        self.refused("alice", None, version=5)

    def test_dn_injection_is_escaped(self):
        """%u is an escaped RFC 4514 value: a username cannot add RDNs or
        change the base."""
        for user in ("alice,ou=people", "alice+cn=x", "*", "alice\\",
                     "#alice", "cn=admin,dc=example,dc=com"):
            with self.subTest(user=user):
                self.refused(user, "wonderland")
        self.wait_log_re(r"bind as uid=alice\\,ou\\=people,%s"
                         % re.escape(PEOPLE))

    def test_directory_matching_rules_apply(self):
        """The server compares DNs with its matching rules (uid ignores
        case), so "ALICE" binds as uid=alice; the client's user (ACL, log)
        is still the username it sent (docs/SECURITY.md)."""
        cid = unique("case")
        self.client("ALICE", "wonderland", cid=cid).disconnect()
        self.wait_log_re(r'"%s" user "ALICE" provider ldap: allowed' % cid)

    def test_audit_log_and_metrics(self):
        ok0 = self.metric("tern_auth_successes_total")
        bad0 = self.metric("tern_auth_failures_total")
        cid = unique("audit")
        c = self.client("alice", "wonderland", cid=cid)
        self.wait_log_re(r'auth client "%s" user "alice" provider ldap: '
                         r'allowed' % cid)
        self.refused("alice", "nope")
        self.wait_log_re(r'user "alice" provider ldap: bad username or '
                         r'password')
        self.assertEqual(self.metric("tern_auth_successes_total"), ok0 + 1)
        self.assertEqual(self.metric("tern_auth_failures_total"), bad0 + 1)
        self.assertNotIn("wonderland", self.broker.read_log())
        c.disconnect()

    def test_packets_after_connect_wait_for_the_bind(self):
        """CONNECT, SUBSCRIBE and PUBLISH in one write: handled in order
        once the bind answered."""
        topic = unique("mon/pipe")
        c = self.raw()
        c.send(build_connect(unique("p"), 4, username="bob",
                             password=b"builder") +
               build_subscribe(1, [(topic, 1)], version=4) +
               build_publish(topic, b"hi", qos=1, pid=2, version=4))
        self.assertEqual(c.expect(CONNACK).rc, 0)
        types = set()
        deadline = time.monotonic() + tern.TIMEOUT
        while len(types) < 3 and time.monotonic() < deadline:
            types.add(c.recv_packet().type)
        self.assertEqual(types, {tern.SUBACK, tern.PUBACK, tern.PUBLISH})

    def test_close_while_binding(self):
        """Clients gone before their bind answered leave nothing behind
        (the sanitizers check the rest when the broker stops)."""
        for _ in range(20):
            c = RawClient(self.broker.host, self.broker.port)
            c.send(build_connect(unique("gone"), 4, username="alice",
                                 password=b"wonderland"))
            c.close()
        self.client("alice", "wonderland").disconnect()

    def test_anonymous_rules_unchanged(self):
        c = self.raw()
        c.connect(unique("anon"), version=5)
        c.disconnect()


# ---------------------------------------------------------------------------
# Search, then bind; groups by a group search


class SearchBindTests(RoleTests, SharedLdapCase):

    @classmethod
    def make_settings(cls, tmp):
        return dict(acl_settings(tmp), ldap_url=SLAPD_SERVER.url,
                    ldap_search_base=SUFFIX,
                    ldap_search_filter="(&(objectClass=inetOrgPerson)"
                                       "(uid=%u))",
                    ldap_service_dn=SERVICE_DN,
                    ldap_service_password_file=write_file(
                        os.path.join(tmp, "svc"), SERVICE_PW + "\n"),
                    ldap_group_base=GROUPS,
                    ldap_group_filter="(&(objectClass=groupOfNames)"
                                      "(member=%d))",
                    ldap_timeout_ms=3000)

    def test_mosquitto_pub_and_paho(self):
        w = self.watcher()
        topic = unique("ops/s")
        self.mosquitto_pub(topic, "hi", qos=1, version=5,
                           args=["-u", "alice", "-P", "wonderland"])
        self.assertEqual(w.expect_publish().topic, topic)
        p = self.paho(version=5)
        p.c.username_pw_set("carol", "carolpw")
        p.connect()
        self.wait_log_re(r"LDAP: bound as uid=carol,%s, 1 group\(s\) "
                         r"listed, mapped roles: device,telemetry"
                         % re.escape(PEOPLE))

    def test_wrong_password_and_unknown_user(self):
        for v in (5, 4):
            with self.subTest(version=v):
                self.refused("alice", "wrong", version=v)
                port = self.refused("nobody", "x", version=v)
                self.wait_log_re(r"127\.0\.0\.1:%d: LDAP refused: user "
                                 r"search .*: no such user" % port)

    def test_empty_password_refused(self):
        self.refused("bob", "")

    def test_filter_injection_is_escaped(self):
        """%u is RFC 4515 escaped: '*' and parentheses match themselves."""
        for user in ("*", "a*", "alice)(uid=*", "*)(objectClass=*"):
            with self.subTest(user=user):
                port = self.refused(user, "wonderland")
                self.wait_log_re(r"127\.0\.0\.1:%d: LDAP refused: user "
                                 r"search .*\\2a.*: no such user" % port)

    def test_several_entries_refused(self):
        """twin exists twice: refused, not guessed."""
        port = self.refused("twin", "twinpw")
        self.wait_log_re(r"127\.0\.0\.1:%d: LDAP refused: user search "
                         r".*: several entries match" % port)


# ---------------------------------------------------------------------------
# The order in the chain: the password file first


class PasswordFileFirstTests(SharedLdapCase):

    @classmethod
    def make_settings(cls, tmp):
        pwfile = os.path.join(tmp, "passwd")
        ternctl = os.path.join(os.path.dirname(tern.TERND), "ternctl")
        r = subprocess.run([ternctl, "passwd", pwfile, "alice", "--password",
                            "filepass"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return {"password_file": pwfile, "ldap_url": SLAPD_SERVER.url,
                "ldap_bind_dn": "uid=%u," + PEOPLE}

    def test_user_in_the_file_is_decided_by_the_file(self):
        cid = unique("f")
        self.client("alice", "filepass", cid=cid).disconnect()
        self.wait_log_re(r'"%s" user "alice" provider password_file: '
                         r'allowed' % cid)
        self.refused("alice", "wonderland")  # the LDAP password

    def test_other_users_go_to_ldap(self):
        cid = unique("f")
        self.client("bob", "builder", cid=cid, version=4).disconnect()
        self.wait_log_re(r'"%s" user "bob" provider ldap: allowed' % cid)
        self.refused("bob", "filepass")


# ---------------------------------------------------------------------------
# TLS to the LDAP server


class TlsTests(LdapCase):

    def setUp(self):
        self.settings = self.tls_settings()
        super().setUp()

    def tls_settings(self):
        name = self._testMethodName
        base = {"ldap_bind_dn": "uid=%u," + PEOPLE, "ldap_timeout_ms": 3000}
        if "starttls" in name:
            return dict(base, ldap_url=SLAPD_SERVER.url, ldap_starttls=True,
                        ldap_ca_file=PKI.ca)
        return dict(base, ldap_url=SLAPD_SERVER.ldaps_url,
                    ldap_ca_file=PKI.other_ca if "other_ca" in name
                    else PKI.ca)

    def test_starttls(self):
        self.client("alice", "wonderland").disconnect()
        self.refused("alice", "wrong")

    def test_ldaps(self):
        self.client("alice", "wonderland", version=4).disconnect()
        self.refused("alice", "wrong")

    def test_ldaps_other_ca_unavailable(self):
        """A server certificate that does not verify: no bind at all,
        CONNACK 0x88 (server unavailable) / 3."""
        port = self.refused("alice", "wonderland",
                            expect_rc=V5_SERVER_UNAVAILABLE)
        self.wait_log_re(r"127\.0\.0\.1:%d: LDAP unavailable: bind as "
                         r"uid=alice,.*: Can't contact LDAP server" % port)
        self.refused("alice", "wonderland", version=4,
                     expect_rc=V3_SERVER_UNAVAILABLE)


# ---------------------------------------------------------------------------
# The server down, slow, or our own credentials wrong


class Blackhole:
    """A TCP server that accepts and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopped = False
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()
        self.t.join(2)


class UnavailableTests(LdapCase):

    def setUp(self):
        name = self._testMethodName
        # a long timeout, so that "answered before the timeout" does not
        # depend on how loaded the machine is
        self.settings = {"ldap_bind_dn": "uid=%u," + PEOPLE,
                         "ldap_timeout_ms": 4000}
        if "down" in name:
            self.settings["ldap_url"] = "ldap://127.0.0.1:%d" % free_port()
        elif "never_answers" in name:
            self.hole = Blackhole()
            self.addCleanup(self.hole.close)
            self.settings["ldap_url"] = "ldap://127.0.0.1:%d" % \
                self.hole.port
        elif "service_password" in name:
            tmp = tempfile.mkdtemp(prefix="tern-ldap-")
            self.addCleanup(shutil.rmtree, tmp, True)
            self.svc = write_file(os.path.join(tmp, "svc"),
                                  "not-the-password")
            self.settings = {
                "ldap_url": SLAPD_SERVER.url, "ldap_search_base": PEOPLE,
                "ldap_service_dn": SERVICE_DN,
                "ldap_service_password_file": self.svc}
        super().setUp()

    def test_slapd_down_refused_quickly_and_broker_serves(self):
        for v, rc in ((5, V5_SERVER_UNAVAILABLE), (4, V3_SERVER_UNAVAILABLE)):
            with self.subTest(version=v):
                t0 = time.monotonic()
                port = self.refused("alice", "wonderland", version=v,
                                    expect_rc=rc)
                self.assertLess(time.monotonic() - t0, 3.0,
                                "waited for ldap_timeout_ms")
                self.wait_log_re(r"127\.0\.0\.1:%d: LDAP unavailable: "
                                 r"bind as .*Can't contact LDAP server"
                                 % port)
        self.wait_log_re(r'user "alice" provider ldap: authentication '
                         r'server unavailable')
        self.assert_broker_serves()

    def test_server_never_answers_loop_not_blocked(self):
        """While a bind waits for a server that never answers, other
        clients connect and exchange messages; the bind ends at
        ldap_timeout_ms with 0x88."""
        c = self.raw()
        t0 = time.monotonic()
        c.send(build_connect(unique("slow"), 5, username="alice",
                             password=b"wonderland"))
        self.assertTrue(wait_until(lambda: self.hole.conns, 2),
                        "no LDAP connection")
        for _ in range(3):
            self.assert_broker_serves()
        self.assertLess(time.monotonic() - t0, 3.5, "the bind was over "
                        "before the other clients were served")
        got = c.wait_closed(timeout=10)
        waited = time.monotonic() - t0
        self.assertEqual([(p.type, p.rc) for p in got],
                         [(CONNACK, V5_SERVER_UNAVAILABLE)])
        self.assertGreater(waited, 3.5)
        self.assertLess(waited, 9.0)
        self.wait_log_re(r"LDAP unavailable: bind as .*: (Timed out|Can't "
                         r"contact LDAP server)")

    def test_service_password_reloaded_on_sighup(self):
        """Search-then-bind with a wrong service password: 0x88 (our
        credentials, not the client's); fixed file + SIGHUP: allowed."""
        svc = self.svc
        port = self.refused("alice", "wonderland",
                            expect_rc=V5_SERVER_UNAVAILABLE)
        self.wait_log_re(r"127\.0\.0\.1:%d: LDAP unavailable: service bind "
                         r"as ldap_service_dn: Invalid credentials" % port)
        write_file(svc, SERVICE_PW)
        self.broker.proc.send_signal(signal.SIGHUP)
        self.wait_log_re(r"LDAP: ldap_service_password_file reloaded")
        self.client("alice", "wonderland").disconnect()


# ---------------------------------------------------------------------------
# Settings refused at start


class StartupErrorTests(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tern-ldap-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_ternd(self, **settings):
        args = [tern.TERND, "--data-dir", os.path.join(self.tmp, "data"),
                "--admin-listen", "", "--listen", "mqtt://127.0.0.1:0"]
        for k, v in settings.items():
            args += ["--set", "%s=%s" % (k, v)]
        r = subprocess.run(args, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        return r.stderr.decode() + r.stdout.decode()

    def test_refused_settings(self):
        url = "ldap://127.0.0.1:389"
        cases = [
            (dict(ldap_url=url), "set either ldap_bind_dn"),
            (dict(ldap_url=url, ldap_bind_dn="uid=%u,o=x",
                  ldap_search_base="o=x"), "not both"),
            (dict(ldap_url=url, ldap_bind_dn="uid=alice,o=x"),
             "must contain %u"),
            (dict(ldap_url=url, ldap_bind_dn="uid=%s,o=x"),
             "only %u and %% may follow %"),
            (dict(ldap_url="http://127.0.0.1/", ldap_bind_dn="uid=%u,o=x"),
             "is not an ldap:// or ldaps:// URL"),
            (dict(ldap_url="ldaps://127.0.0.1", ldap_starttls="true",
                  ldap_bind_dn="uid=%u,o=x"), "StartTLS is for ldap://"),
            (dict(ldap_url=url, ldap_bind_dn="uid=%u,o=x",
                  ldap_group_attr="memberOf"), "need ldap_role_map"),
            (dict(ldap_url=url, ldap_bind_dn="uid=%u,o=x",
                  ldap_group_attr="memberOf", ldap_role_map="cn=a,o=x"),
             "entry 1: \"cn=a,o\" is not a DN (expected GROUP_DN=ROLE"),
            (dict(ldap_url=url, ldap_bind_dn="uid=%u,o=x",
                  ldap_group_attr="memberOf",
                  ldap_role_map="cn=a,o=x=r1, cn=b,o=x=r2"),
             "has an '=' inside a value (separate entries with ';'"),
            (dict(ldap_url=url, ldap_bind_dn="uid=%u,o=x",
                  ldap_group_attr="memberOf",
                  ldap_role_map="cn=a,o=x=r; ; =r3"),
             "entry 3 (\"=r3\"): expected GROUP_DN=ROLE"),
            (dict(ldap_url=url, ldap_bind_dn="uid=%u,o=x",
                  ldap_group_attr="memberOf",
                  ldap_role_map="cn=a,o=x=r;notadn=r2"),
             "entry 2: \"notadn\" is not a DN"),
            (dict(ldap_url=url, ldap_search_base="o=x",
                  ldap_service_dn="cn=svc,o=x"),
             "ldap_service_dn and ldap_service_password_file go together"),
            (dict(ldap_url=url, ldap_search_base="o=x",
                  ldap_service_dn="cn=svc,o=x",
                  ldap_service_password_file=os.path.join(self.tmp, "no")),
             "ldap_service_password_file %s" % os.path.join(self.tmp, "no")),
        ]
        for settings, want in cases:
            with self.subTest(settings=settings):
                self.assertIn(want, self.run_ternd(**settings))

    def test_non_loopback_listener_accepted_with_ldap(self):
        """ldap_url counts as an authentication provider for a
        non-loopback listener (the start then fails later for the bad
        bind DN, not for the listener)."""
        out = self.run_ternd(ldap_url="ldap://127.0.0.1:389",
                             listeners="mqtt://0.0.0.0:0")
        self.assertNotIn("no authentication provider", out)


if __name__ == "__main__":
    tern.main()
