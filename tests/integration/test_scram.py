"""MQTT 5 enhanced authentication with SCRAM-SHA-256 (docs/SECURITY.md,
"SCRAM-SHA-256"; MQTT 5 sections 4.12 and 3.15; RFC 5802 / RFC 7677).

The SCRAM client below is written from RFC 5802 with hashlib/hmac, not from
node/scram.c. Verifiers come from `ternctl passwd --scram`. Clients:
RawClient (exact reason codes, AUTH packets) and mosquitto_pub (a plain
password CONNECT against a SCRAM verifier).

Brokers:
  ScramTests         password file with SCRAM verifiers and a PBKDF2 hash,
                     auth_fail_burst 0, connect_timeout_ms 1500 (shared)
  NoPasswordTests    no password source at all
  ThrottleTests      auth_fail_burst 2, auth_fail_delay_ms 0
"""

import base64
import hashlib
import hmac
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import tern
from tern import (AUTH, AUTH_DATA, AUTH_METHOD, CONNACK, DISCONNECT,
                  SharedBrokerCase, TernTestCase, build_auth, build_connect,
                  unique, wait_until)

TERNCTL = os.path.join(os.path.dirname(tern.TERND), "ternctl")
METHOD = "SCRAM-SHA-256"

SUCCESS = 0x00
CONTINUE_AUTH = 0x18
REAUTHENTICATE = 0x19
BAD_USER_OR_PASSWORD = 0x86
NOT_AUTHORIZED = 0x87
PROTOCOL_ERROR = 0x82
BAD_AUTH_METHOD = 0x8C
RATE_EXCEEDED = 0x9F


def ternctl_passwd(path, user, password, *extra):
    r = subprocess.run([TERNCTL, "passwd", path, user, "--password",
                        password] + list(extra), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("ternctl passwd -> %d: %s"
                             % (r.returncode, r.stderr.decode()))


def b64(b):
    return base64.b64encode(b).decode()


def hm(key, msg):
    return hmac.new(key, msg.encode() if isinstance(msg, str) else msg,
                    hashlib.sha256).digest()


class ScramClient:
    """The client side of RFC 5802 with SHA-256 (RFC 7677)."""

    def __init__(self, user, password, cnonce=None, gs2="n,,"):
        self.user, self.password, self.gs2 = user, password, gs2
        self.cnonce = cnonce or b64(os.urandom(18))
        name = user.replace("=", "=3D").replace(",", "=2C")
        self.bare = "n=%s,r=%s" % (name, self.cnonce)
        self.server_signature = None

    def first(self):
        return (self.gs2 + self.bare).encode()

    def final(self, server_first, nonce=None, cbind=None):
        if isinstance(server_first, bytes):
            server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        r, salt, it = attrs["r"], base64.b64decode(attrs["s"]), \
            int(attrs["i"])
        assert r.startswith(self.cnonce) and len(r) > len(self.cnonce), r
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt,
                                     it)
        ckey = hm(salted, "Client Key")
        stored = hashlib.sha256(ckey).digest()
        without = "c=%s,r=%s" % (cbind or b64(self.gs2.encode()),
                                 nonce or r)
        auth = "%s,%s,%s" % (self.bare, server_first, without)
        proof = bytes(a ^ b for a, b in zip(ckey, hm(stored, auth)))
        self.server_signature = hm(hm(salted, "Server Key"), auth)
        return ("%s,p=%s" % (without, b64(proof))).encode()

    def server_final_ok(self, data):
        return data == ("v=" + b64(self.server_signature)).encode()


def scram_props(data):
    return [(AUTH_METHOD, METHOD), (AUTH_DATA, data)]


class ScramCase(TernTestCase):
    """Helpers around one SCRAM exchange."""

    def start(self, user, password, cid=None, props=(), **kw):
        """CONNECT with client-first; returns (client, scram, AUTH)."""
        sc = ScramClient(user, password, **kw)
        c = self.raw()
        c.version = 5
        c.send(build_connect(cid or unique("s"), 5,
                             props=scram_props(sc.first()) + list(props)))
        a = c.expect(AUTH)
        return c, sc, a

    def login(self, user="user", password="pencil", cid=None):
        """A whole successful exchange; returns (client, CONNACK)."""
        c, sc, a = self.start(user, password, cid)
        self.assertEqual(a.rc, CONTINUE_AUTH)
        c.send(build_auth(CONTINUE_AUTH, METHOD,
                          sc.final(a.props.get(AUTH_DATA))))
        ack = c.expect(CONNACK)
        self.assertEqual(ack.rc, SUCCESS)
        self.assertTrue(sc.server_final_ok(ack.props.get(AUTH_DATA)))
        c.connack = ack
        return c, ack

    def refused(self, user, password, final_kw=None):
        """An exchange whose client-final is refused: the CONNACK."""
        c, sc, a = self.start(user, password)
        self.assertEqual(a.rc, CONTINUE_AUTH)
        c.send(build_auth(CONTINUE_AUTH, METHOD,
                          sc.final(a.props.get(AUTH_DATA),
                                   **(final_kw or {}))))
        ack = c.expect(CONNACK)
        c.wait_closed()
        return ack, a

    def reauth(self, c, user="user", password="pencil"):
        """AUTH 0x19 -> AUTH 0x18 -> AUTH 0x18 -> the server's answer."""
        sc = ScramClient(user, password)
        c.send(build_auth(REAUTHENTICATE, METHOD, sc.first()))
        a = c.expect(AUTH)
        self.assertEqual((a.rc, a.props.get(AUTH_METHOD)),
                         (CONTINUE_AUTH, METHOD))
        c.send(build_auth(CONTINUE_AUTH, METHOD,
                          sc.final(a.props.get(AUTH_DATA))))
        return sc, c.recv_packet()


class ScramTests(ScramCase, SharedBrokerCase):

    @classmethod
    def class_settings(cls, tmp):
        path = os.path.join(tmp, "passwd")
        ternctl_passwd(path, "user", "pencil", "--scram")
        ternctl_passwd(path, "a,b=c", "p,w=", "--scram", "--iterations",
                       "5000")
        ternctl_passwd(path, "plain", "secret")
        return {"password_file": path, "auth_fail_burst": 0,
                "connect_timeout_ms": 1500}

    # -- the exchange

    def test_mqtt5_4_12_0_2_scram_exchange_success(self):
        """CONNECT (method, client-first) -> AUTH 0x18 (server-first) ->
        AUTH 0x18 (client-final) -> CONNACK 0x00 with the server-final,
        the method in every AUTH and in the CONNACK [MQTT-4.12.0-5]."""
        c, sc, a = self.start("user", "pencil")
        self.assertEqual(a.rc, CONTINUE_AUTH)               # 4.12.0-2
        self.assertEqual(a.props.get(AUTH_METHOD), METHOD)  # 4.12.0-5
        first = a.props.get(AUTH_DATA).decode()
        attrs = dict(kv.split("=", 1) for kv in first.split(","))
        self.assertTrue(attrs["r"].startswith(sc.cnonce))
        # >= 18 random bytes of server nonce, base64
        self.assertGreaterEqual(len(attrs["r"]) - len(sc.cnonce), 24)
        self.assertEqual(attrs["i"], "4096")
        c.send(build_auth(CONTINUE_AUTH, METHOD, sc.final(first)))
        ack = c.expect(CONNACK)
        self.assertEqual(ack.rc, SUCCESS)
        self.assertEqual(ack.props.get(AUTH_METHOD), METHOD)
        self.assertTrue(sc.server_final_ok(ack.props.get(AUTH_DATA)),
                        ack.props.get(AUTH_DATA))
        topic = unique("scram/")
        c.subscribe([(topic, 1)])
        c.publish(topic, b"hi", qos=1, pid=3)
        self.assertEqual(c.expect_publish().payload, b"hi")
        self.assertTrue(wait_until(lambda: 'user "user" provider scram: '
                                   'allowed' in self.broker.read_log()))

    def test_escaped_username_and_password_with_commas(self):
        """n= escapes ',' as =2C and '=' as =3D (RFC 5802 5.1)."""
        c, _ = self.login("a,b=c", "p,w=")
        c.disconnect()

    def test_y_flag_accepted(self):
        """gs2 flag "y" (client could bind, thinks the server cannot):
        accepted, c= is base64("y,,")."""
        c, sc, a = self.start("user", "pencil", gs2="y,,")
        c.send(build_auth(CONTINUE_AUTH, METHOD,
                          sc.final(a.props.get(AUTH_DATA))))
        self.assertEqual(c.expect(CONNACK).rc, SUCCESS)

    # -- refusals

    def test_mqtt5_4_12_0_4_wrong_password_0x86(self):
        """A wrong password: CONNACK 0x86 with e=invalid-proof, closed;
        the audit line names user, address and provider, no secret."""
        ack, _ = self.refused("user", "pencil2")
        self.assertEqual(ack.rc, BAD_USER_OR_PASSWORD)
        self.assertEqual(ack.props.get(AUTH_DATA), b"e=invalid-proof")
        log = self.broker.read_log()
        self.assertRegex(log, r'127\.0\.0\.1:\d+: auth client "s[^"]*" '
                         r'user "user" provider scram: bad username or '
                         r'password')
        self.assertNotIn("pencil2", log)

    def test_unknown_user_same_answer(self):
        """An unknown user gets a salt (stable across attempts) and the
        iteration count a real user gets, and the same refusal."""
        ack1, a1 = self.refused("nobody", "x")
        ack2, a2 = self.refused("nobody", "y")
        s1 = dict(kv.split("=", 1) for kv in
                  a1.props.get(AUTH_DATA).decode().split(","))
        s2 = dict(kv.split("=", 1) for kv in
                  a2.props.get(AUTH_DATA).decode().split(","))
        self.assertEqual((s1["s"], s1["i"]), (s2["s"], s2["i"]))
        self.assertEqual(len(base64.b64decode(s1["s"])), 16)
        self.assertEqual(s1["i"], "4096")
        for ack in (ack1, ack2):
            self.assertEqual((ack.rc, ack.props.get(AUTH_DATA)),
                             (BAD_USER_OR_PASSWORD, b"e=invalid-proof"))
        # a PBKDF2-SHA512 user has no verifier: the same answer
        ack3, _ = self.refused("plain", "secret")
        self.assertEqual((ack3.rc, ack3.props.get(AUTH_DATA)),
                         (BAD_USER_OR_PASSWORD, b"e=invalid-proof"))

    def test_tampered_nonce(self):
        ack, a = self.refused("user", "pencil",
                              {"nonce": "x" * 40})
        self.assertEqual(ack.rc, BAD_USER_OR_PASSWORD)
        self.assertEqual(ack.props.get(AUTH_DATA), b"e=invalid-proof")

    def test_wrong_channel_binding(self):
        ack, _ = self.refused("user", "pencil", {"cbind": b64(b"y,,")})
        self.assertEqual(ack.rc, BAD_USER_OR_PASSWORD)
        self.assertEqual(ack.props.get(AUTH_DATA),
                         b"e=channel-bindings-dont-match")

    def test_channel_binding_requested_refused(self):
        """gs2 flag "p=": no channel binding here, CONNACK 0x86."""
        c = self.raw()
        c.version = 5
        c.send(build_connect(unique("s"), 5, props=scram_props(
            b"p=tls-unique,,n=user,r=abcdef")))
        self.assertEqual(c.expect(CONNACK).rc, BAD_USER_OR_PASSWORD)
        c.wait_closed()

    def test_mqtt5_4_12_0_3_wrong_reason_in_exchange_0x82(self):
        """The client's answer to the server's AUTH must be 0x18
        [MQTT-4.12.0-3]: anything else is a protocol error."""
        c, sc, a = self.start("user", "pencil")
        c.send(build_auth(REAUTHENTICATE, METHOD,
                          sc.final(a.props.get(AUTH_DATA))))
        self.assertEqual(c.expect(CONNACK).rc, PROTOCOL_ERROR)
        c.wait_closed()

    def test_mqtt5_4_12_0_5_other_method_in_exchange_0x82(self):
        c, sc, a = self.start("user", "pencil")
        c.send(build_auth(CONTINUE_AUTH, "JWT",
                          sc.final(a.props.get(AUTH_DATA))))
        self.assertEqual(c.expect(CONNACK).rc, PROTOCOL_ERROR)
        c.wait_closed()

    def test_mqtt5_3_1_0_2_second_connect_during_exchange(self):
        c, sc, a = self.start("user", "pencil")
        c.send(build_connect(unique("s"), 5))
        c.wait_closed()
        self.assert_broker_serves()

    def test_mqtt5_3_1_2_30_publish_during_exchange_closes(self):
        """Only AUTH or DISCONNECT before the CONNACK [MQTT-3.1.2-30]."""
        c, sc, a = self.start("user", "pencil")
        c.send(tern.build_publish("x/y", b"z", version=5))
        c.wait_closed()

    def test_client_closes_mid_exchange(self):
        """Clients that vanish after the server-first leave nothing
        behind (the broker's leak check runs when it stops)."""
        for i in range(20):
            c, sc, a = self.start("user", "pencil")
            if i % 2:
                c.abort()
            else:
                c.close()
        self.assert_broker_serves()

    def test_connect_timeout_during_exchange(self):
        """A client that never answers the server-first is closed by the
        connect timeout (1.5 s here, checked by the 1 s sweep)."""
        c, sc, a = self.start("user", "pencil")
        t0 = time.monotonic()
        c.wait_closed(timeout=10)
        self.assertLess(time.monotonic() - t0, 8.0)  # not left open
        self.assertTrue(wait_until(lambda: "no CONNECT within 1500 ms" in
                                   self.broker.read_log()))

    # -- plain password login against a SCRAM verifier

    def test_plain_password_against_scram_verifier(self):
        """`mosquitto_pub -u -P` logs in with the password whose SCRAM
        verifier is on file (PBKDF2-SHA256 in the thread pool)."""
        self.mosquitto_pub(unique("t/"), "m", version=5,
                           args=["-u", "user", "-P", "pencil"])
        self.mosquitto_pub(unique("t/"), "m", version=4,
                           args=["-u", "a,b=c", "-P", "p,w="])
        c = self.raw()
        c.connect(unique("p"), version=5, username="user",
                  password=b"pencil!", expect_rc=BAD_USER_OR_PASSWORD)

    # -- re-authentication (4.12.1)

    def test_mqtt5_4_12_1_reauth_keeps_session_and_subscriptions(self):
        c, _ = self.login()
        topic = unique("re/")
        c.subscribe([(topic, 1)])
        sc, p = self.reauth(c)
        self.assertEqual(p.type, AUTH)
        self.assertEqual((p.rc, p.props.get(AUTH_METHOD)), (SUCCESS, METHOD))
        self.assertTrue(sc.server_final_ok(p.props.get(AUTH_DATA)))
        c.publish(topic, b"after", qos=1, pid=9)
        self.assertEqual(c.expect_publish().payload, b"after")
        # twice in a row is fine
        sc, p = self.reauth(c)
        self.assertEqual((p.type, p.rc), (AUTH, SUCCESS))
        self.assertTrue(wait_until(lambda: 'provider scram: '
                                   're-authenticated' in
                                   self.broker.read_log()))

    def test_mqtt5_4_12_1_2_failed_reauth_disconnect_0x87(self):
        """A wrong password on re-authentication: DISCONNECT 0x87 (0x86 is
        not a DISCONNECT reason code), then the close [MQTT-4.12.1-2]."""
        c, _ = self.login()
        sc, p = self.reauth(c, password="wrong")
        self.assertEqual((p.type, p.rc), (DISCONNECT, NOT_AUTHORIZED))
        c.wait_closed()

    def test_reauth_as_another_user_refused(self):
        c, _ = self.login()
        c.send(build_auth(REAUTHENTICATE, METHOD,
                          ScramClient("a,b=c", "p,w=").first()))
        p = c.expect(DISCONNECT)
        self.assertEqual(p.rc, NOT_AUTHORIZED)
        c.wait_closed()

    def test_mqtt5_4_12_1_1_reauth_other_method_0x82(self):
        c, _ = self.login()
        c.send(build_auth(REAUTHENTICATE, "JWT", b"x.y.z"))
        self.assertEqual(c.expect(DISCONNECT).rc, PROTOCOL_ERROR)
        c.wait_closed()

    def test_mqtt5_3_15_2_1_continue_without_exchange_0x82(self):
        """AUTH 0x18 when no exchange is in progress: protocol error."""
        c, _ = self.login()
        c.send(build_auth(CONTINUE_AUTH, METHOD, b"c=biws,r=x,p=eA=="))
        self.assertEqual(c.expect(DISCONNECT).rc, PROTOCOL_ERROR)
        c.wait_closed()

    def test_mqtt5_3_15_2_1_client_success_code_0x82(self):
        """AUTH 0x00 is the server's reason code, not a client's."""
        c, _ = self.login()
        c.send(build_auth(SUCCESS, METHOD))
        self.assertEqual(c.expect(DISCONNECT).rc, PROTOCOL_ERROR)
        c.wait_closed()

    def test_reauth_started_twice_0x82(self):
        c, _ = self.login()
        sc = ScramClient("user", "pencil")
        c.send(build_auth(REAUTHENTICATE, METHOD, sc.first()))
        c.expect(AUTH)
        c.send(build_auth(REAUTHENTICATE, METHOD, sc.first()))
        self.assertEqual(c.expect(DISCONNECT).rc, PROTOCOL_ERROR)
        c.wait_closed()

    def test_reauth_client_vanishes(self):
        c, _ = self.login()
        c.send(build_auth(REAUTHENTICATE, METHOD,
                          ScramClient("user", "pencil").first()))
        c.expect(AUTH)
        c.abort()
        self.assert_broker_serves()


class NoPasswordTests(ScramCase):
    """No password source: the method is not available."""

    def test_mqtt5_4_12_0_1_no_password_source_0x8c(self):
        c = self.raw()
        c.version = 5
        c.send(build_connect(unique("s"), 5, props=scram_props(
            ScramClient("user", "pencil").first())))
        self.assertEqual(c.expect(CONNACK).rc, BAD_AUTH_METHOD)
        c.wait_closed()


class ThrottleTests(ScramCase):
    """Failed SCRAM exchanges count like any failed authentication."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tern-scram-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        path = os.path.join(self.tmp, "passwd")
        ternctl_passwd(path, "user", "pencil", "--scram")
        self.settings = {"password_file": path, "auth_fail_burst": 2,
                         "auth_fail_delay_ms": 0}
        super().setUp()

    def test_throttled_after_failures_0x9f(self):
        for _ in range(2):
            ack, _ = self.refused("user", "bad")
            self.assertEqual(ack.rc, BAD_USER_OR_PASSWORD)
        c = self.raw()
        c.version = 5
        c.send(build_connect(unique("s"), 5, props=scram_props(
            ScramClient("user", "pencil").first())))
        self.assertEqual(c.expect(CONNACK).rc, RATE_EXCEEDED)
        c.wait_closed()


if __name__ == "__main__":
    unittest.main()
