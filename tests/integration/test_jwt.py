"""The JWT authentication provider, end to end (docs/SECURITY.md, "JWT
(signed tokens)", with "Authorization: roles and rules (ACL file)" for the
token's roles; node/jwt.h, which SECURITY.md names for "every detail").

Written from the document, not from node/auth_jwt.c: every test names the
sentence or the MQTT normative statement it checks. Tokens come from PyJWT
(an implementation independent of node/jwt.c) or are hand-crafted (alg none,
HS256 keyed with an RSA public key's PEM, tampered segments, '=' padding,
crit); keys from python3-cryptography, JWK sets built from the public
numbers (tests/integration/jwt_keys.py). Clients: RawClient (exact reason
codes, AUTH packets), paho and the mosquitto command-line clients.

Brokers, by configuration (one shared broker per class unless said):
  TokenTests           PEM RSA/P-256/P-384/Ed25519 + HS256 secret + JWKS
                       (PS256, RS384), issuer, audience, leeway 30, match
                       username, no ACL, no password file
  JwksOnlyTests        JWKS only (kids), no issuer/audience, match client_id
  PasswordAndJwtTests  a password file next to a PEM key
  RolesAclTests        ACL file, jwt_match none
  NestedRolesTests     ACL file, jwt_roles_claim realm_access.roles,
                       jwt_username_claim preferred_username
  ExpiryReauthTests    ACL file, jwt_leeway 0 (short-lived tokens)
  NoJwtKeyTests        no JWT key at all
  ReloadTests          a broker per test (the key files change)
  StartupErrorTests    ternd that must not start
"""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from cryptography.hazmat.primitives.asymmetric import ec

import jwt_keys as K
import tern
from tern import (AUTH, AUTH_DATA, AUTH_METHOD, CONNACK, DISCONNECT,
                  PUBACK, REASON_STRING, Broker, RawClient, TernTestCase,
                  build_connect, encode_props, packet, unique, wait_until)

ISSUER = "https://idp.example.com/"
AUDIENCE = "tern"

# reason codes
V5_BAD_USER_OR_PASSWORD = 0x86
V3_BAD_USER_OR_PASSWORD = 4
NOT_AUTHORIZED = 0x87
BAD_AUTH_METHOD = 0x8C
PROTOCOL_ERROR = 0x82
REAUTHENTICATE = 0x19
CONTINUE_AUTH = 0x18

AUTO = object()


def build_auth(reason, props=None):
    """MQTT 5 AUTH (3.15): reason code and properties."""
    return packet(AUTH, 0, bytes([reason]) + encode_props(props))


def jwt_props(token, method="JWT"):
    """CONNECT/AUTH properties of enhanced authentication (3.1.2.11.9-10)."""
    if isinstance(token, str):
        token = token.encode()
    props = [(AUTH_METHOD, method)]
    if token is not None:
        props.append((AUTH_DATA, token))
    return props


def claim_of(token, name="sub"):
    """A claim of token's payload, read without verification (None if the
    payload is not JSON)."""
    try:
        return json.loads(K.b64u_decode(token.split(".")[1]
                                        .rstrip("="))).get(name)
    except (ValueError, IndexError, AttributeError):
        return None


# ---------------------------------------------------------------------------
# Base classes


class JwtCase(TernTestCase):
    """Helpers; subclasses set the keys, files and settings."""

    username_claim = "sub"

    # -- clients

    def _connect_args(self, token, version, username, method, props=None):
        props, password = list(props or []), None
        if method:
            props += jwt_props(token)
        elif token is not None:
            password = token.encode() if isinstance(token, str) else token
        if username is AUTO:
            # 3.1.1 sends a password only with a username [MQTT-3.1.2-22]
            username = (claim_of(token, self.username_claim) or "u") \
                if version < 5 and password is not None else None
        return props, username, password

    def client(self, token, version=5, username=AUTO, cid=None, method=False,
               will=None, expect_rc=0, props=None, clean=True):
        """A RawClient connected with token as the password (method=True:
        as MQTT 5 Authentication Data with method JWT)."""
        props, username, password = self._connect_args(token, version,
                                                       username, method,
                                                       props)
        c = self.raw()
        c.connect(cid if cid is not None else unique("j"), version=version,
                  props=props, username=username, password=password,
                  will=will, expect_rc=expect_rc, clean=clean)
        return c

    def refused(self, token, version=5, username=AUTO, cid=None,
                method=False, reason=None, jwt_line=True,
                expect_rc=None):
        """Sends a CONNECT with token, expects CONNACK 0x86 (MQTT 5) / 4
        (3.1.1) and the close, the refusal in the log ("JWT refused: ..."
        for this client's address, matching `reason` when given) when
        jwt_line, and never the token in the log."""
        props, username, password = self._connect_args(token, version,
                                                       username, method)
        c = self.raw()
        port = c.sock.getsockname()[1]
        c.version = version
        c.send(build_connect(cid if cid is not None else unique("r"),
                             version, props=props, username=username,
                             password=password))
        got = c.wait_closed()
        self.assertEqual([p.type for p in got], [CONNACK], got)
        if expect_rc is None:
            expect_rc = V5_BAD_USER_OR_PASSWORD if version == 5 \
                else V3_BAD_USER_OR_PASSWORD
        self.assertEqual(got[0].rc, expect_rc)
        if jwt_line:
            line = self.wait_log_re(r"127\.0\.0\.1:%d: JWT refused: (.+)"
                                    % port)
            if reason:
                self.assertRegex(line.group(1), reason)
        if isinstance(token, str):
            self.assert_not_logged(token)
        return got[0]

    def exchange(self, c, topic=None):
        """c subscribes to a topic of its own and gets its QoS 1 publish
        back: the connection is usable."""
        topic = topic or unique("x/")
        self.assertEqual(c.subscribe([(topic, 1)]), [1])
        ack = c.publish(topic, b"hello", qos=1)
        self.assertEqual(ack.rc, 0)
        p = c.expect_publish()
        self.assertEqual((p.topic, p.payload), (topic, b"hello"))

    # -- the broker's log and metrics

    def assert_not_logged(self, token):
        """"never the token": neither the token nor any of its segments."""
        log = self.broker.read_log()
        self.assertNotIn(token, log)
        for seg in token.split("."):
            if len(seg) >= 16:
                self.assertNotIn(seg, log)

    def sighup(self):
        self.broker.proc.send_signal(signal.SIGHUP)


class SharedJwtCase(tern.SharedBrokerCase, JwtCase):
    """One broker for every test of the class (its files do not change):
    make_files(tmp) makes the keys and returns the settings."""

    tmp_prefix = "tern-jwt-"

    @classmethod
    def make_files(cls, tmp):
        raise NotImplementedError

    @classmethod
    def class_settings(cls, tmp):
        settings = cls.make_files(tmp)
        # one broker sees every refusal of the class, all from 127.0.0.1:
        # no failed-authentication limit (test_auth_limit.py tests it)
        settings.setdefault("auth_fail_burst", 0)
        return settings


# ---------------------------------------------------------------------------
# Every algorithm, every refusal


class TokenTests(SharedJwtCase):
    """jwt_keys (PEM: RSA -> RS256, P-256 -> ES256, P-384 -> ES384, Ed25519
    -> EdDSA), jwt_secret_file (HS256), jwks_file (RSA keys pinned PS256
    and RS384 by their "alg"), jwt_issuer, jwt_audience, jwt_leeway 30,
    jwt_match username (the default)."""

    @classmethod
    def make_files(cls, tmp):
        cls.rsa = K.gen_rsa()
        cls.rsa_ps = K.gen_rsa()
        cls.rsa_384 = K.gen_rsa()
        cls.ec256 = K.gen_ec(ec.SECP256R1())
        cls.ec384 = K.gen_ec(ec.SECP384R1())
        cls.ed = K.gen_ed25519()
        cls.secret = os.urandom(24).hex().encode()  # 48 bytes
        paths = []
        for name, key in (("rsa", cls.rsa), ("ec256", cls.ec256),
                          ("ec384", cls.ec384), ("ed25519", cls.ed)):
            paths.append(K.write_file(os.path.join(tmp, name + ".pub.pem"),
                                      K.public_pem(key)))
        cls.rsa_pem = K.public_pem(cls.rsa)
        secret_file = K.write_file(os.path.join(tmp, "hs256.key"),
                                   cls.secret)
        jwks_file = K.write_file(os.path.join(tmp, "jwks.json"), K.jwks(
            (cls.rsa_ps, "ps-key", "PS256"),
            (cls.rsa_384, "rs384-key", "RS384")))
        return {
            # "several PEM files are comma-separated" (spaces as in the
            # document's example)
            "jwt_keys": ", ".join(paths),
            "jwt_secret_file": secret_file,
            "jwks_file": jwks_file,
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            "jwt_leeway": 30,
        }

    def claims(self, sub="dev1", **kw):
        kw.setdefault("iss", ISSUER)
        kw.setdefault("aud", AUDIENCE)
        return K.claims(sub, **kw)

    def tok(self, sub="dev1", alg="ES256", kid=None, headers=None, **kw):
        key = {"RS256": self.rsa, "ES256": self.ec256, "ES384": self.ec384,
               "EdDSA": self.ed, "HS256": self.secret,
               "PS256": self.rsa_ps, "RS384": self.rsa_384}[alg]
        if kid is None and alg in ("PS256", "RS384"):
            kid = {"PS256": "ps-key", "RS384": "rs384-key"}[alg]
        return K.sign(key, alg, self.claims(sub, **kw), kid=kid,
                      headers=headers)

    ALGS = ("RS256", "ES256", "ES384", "EdDSA", "HS256", "PS256", "RS384")

    # -- accepted

    def test_valid_token_each_algorithm_v311_and_v5(self):
        """"The key decides the algorithm": RSA PEM RS256, P-256 ES256,
        P-384 ES384, Ed25519 EdDSA, the secret HS256, JWKS "alg" PS256 and
        RS384; the token as the CONNECT password, "any MQTT version" (3.1,
        3.1.1, 5)."""
        for alg in self.ALGS:
            for v in (3, 4, 5):
                with self.subTest(alg=alg, version=v):
                    sub = unique("dev-")
                    c = self.client(self.tok(sub, alg), version=v)
                    self.exchange(c)
                    c.disconnect()

    def test_mosquitto_clients_with_token_v311_and_v5(self):
        """`mosquitto_pub -u dev1 -P "$TOKEN"` (3.1.1 and -V mqttv5)."""
        for v in (4, 5):
            with self.subTest(version=v):
                topic = unique("mosq/")
                sub = self.mosquitto_sub(
                    topic, qos=1, version=v,
                    args=["-u", "reader", "-P",
                          self.tok("reader", "RS256")])
                sub.ready()
                self.mosquitto_pub(topic, "via mosquitto %d" % v, qos=1,
                                   version=v,
                                   args=["-u", "dev1", "-P",
                                         self.tok("dev1", "EdDSA")])
                got = sub.messages(1)
                self.assertEqual([m[3] for m in got],
                                 [b"via mosquitto %d" % v])
                sub.stop()

    def test_mosquitto_pub_with_bad_token_fails(self):
        for v in (4, 5):
            with self.subTest(version=v):
                bad = self.tok("dev1", "ES256", exp=int(time.time()) - 3600)
                r = subprocess.run(
                    ["mosquitto_pub", "-h", self.broker.host, "-p",
                     str(self.broker.port), "-V",
                     {4: "mqttv311", 5: "mqttv5"}[v], "-t", "x", "-m", "x",
                     "-u", "dev1", "-P", bad], capture_output=True,
                    timeout=10)
                self.assertNotEqual(r.returncode, 0)

    def test_paho_clients_with_token_v311_and_v5(self):
        topic = unique("paho/")
        r = self.paho(version=5)
        r.c.username_pw_set("reader", self.tok("reader", "ES384"))
        r.connect()
        self.assertEqual(r.subscribe(topic, 1), [1])
        for v in (4, 5):
            with self.subTest(version=v):
                p = self.paho(version=v)
                p.c.username_pw_set("dev1", self.tok("dev1", "HS256"))
                p.connect()
                p.publish(topic, b"paho %d" % v, qos=1)
                self.assertEqual(r.get().payload, b"paho %d" % v)
                bad = self.paho(version=v)
                bad.c.username_pw_set("dev1", self.tok(
                    "dev1", "HS256", iss="https://evil.example.com/"))
                _, rc, _ = bad.connect(expect_success=False)
                self.assertEqual(int(getattr(rc, "value", rc)),
                                 {4: 4, 5: 0x86}[v])

    # -- time claims

    def test_expired_token_refused(self):
        """"exp ... refused once now >= exp + leeway" (leeway 30)."""
        now = int(time.time())
        for v in (3, 4, 5):
            with self.subTest(version=v):
                self.refused(self.tok(exp=now - 3600, iat=now - 7200),
                             version=v, reason="expired")

    def test_exp_within_leeway_accepted(self):
        """exp 10 s ago with jwt_leeway 30: still accepted."""
        now = int(time.time())
        for v in (4, 5):
            with self.subTest(version=v):
                c = self.client(self.tok(exp=now - 10, iat=now - 60),
                                version=v)
                c.ping()
                c.disconnect()

    def test_exp_plus_leeway_passed_refused(self):
        """exp 40 s ago: exp + 30 s of leeway is past."""
        now = int(time.time())
        for v in (4, 5):
            with self.subTest(version=v):
                self.refused(self.tok(exp=now - 40, iat=now - 60),
                             version=v, reason="expired")

    def test_nbf_in_the_future_refused(self):
        """"refused ... while nbf > now + leeway"; within the leeway it
        is accepted."""
        now = int(time.time())
        for v in (4, 5):
            with self.subTest(version=v):
                self.refused(self.tok(nbf=now + 120), version=v,
                             reason="nbf|not yet valid")
                c = self.client(self.tok(nbf=now + 10), version=v)
                c.disconnect()

    def test_iat_in_the_future_refused(self):
        """"... and when iat > now + leeway"."""
        now = int(time.time())
        for v in (4, 5):
            with self.subTest(version=v):
                self.refused(self.tok(iat=now + 120, exp=now + 600),
                             version=v, reason="iat|not yet valid")
                c = self.client(self.tok(iat=now + 10), version=v)
                c.disconnect()

    def test_missing_exp_refused(self):
        """"`exp` is required"."""
        for v in (4, 5):
            with self.subTest(version=v):
                self.refused(self.tok(exp=K.DROP), version=v,
                             reason="exp")

    # -- iss, aud

    def test_wrong_or_missing_issuer_refused(self):
        """"`iss` must equal `jwt_issuer` when set" (byte for byte)."""
        for v in (4, 5):
            for iss in ("https://evil.example.com/",
                        "https://idp.example.com",  # no trailing slash
                        "HTTPS://IDP.EXAMPLE.COM/", K.DROP):
                with self.subTest(version=v, iss=iss):
                    self.refused(self.tok(iss=iss), version=v,
                                 reason="iss")

    def test_audience_mismatch_refused(self):
        """"`aud` must contain `jwt_audience`": a string or an array
        (RFC 7519 4.1.3); one that does not contain it is refused."""
        for v in (4, 5):
            for aud in ("other", ["other", "more"], "tern2", [], K.DROP):
                with self.subTest(version=v, aud=aud):
                    self.refused(self.tok(aud=aud), version=v,
                                 reason="aud")
            with self.subTest(version=v, aud="array containing tern"):
                c = self.client(self.tok(aud=["other", AUDIENCE]),
                                version=v)
                c.disconnect()

    # -- algorithm attacks

    def test_alg_none_refused(self):
        """"`alg: none` ... refused", with and without a signature, in any
        spelling (jwt.h)."""
        payload = self.claims("dev1")
        for v in (4, 5):
            for name in ("none", "None", "NONE"):
                for sig in (b"", b"\x01" * 32):
                    with self.subTest(version=v, alg=name, sig=len(sig)):
                        t = K.craft({"alg": name, "typ": "JWT"}, payload,
                                    signature=sig)
                        self.refused(t, version=v)

    def test_hs256_signed_with_rsa_public_pem_refused(self):
        """"an HS256 token 'signed' with an RSA public key's bytes" is
        refused (the classic key-confusion attack), PEM with and without
        its final newline."""
        payload = self.claims("dev1")
        pem = self.rsa_pem
        for v in (4, 5):
            for secret in (pem, pem.rstrip(b"\n")):
                with self.subTest(version=v, secret_len=len(secret)):
                    t = K.craft({"alg": "HS256", "typ": "JWT"}, payload,
                                signer=K.hs256_signer(secret))
                    self.refused(t, version=v)

    def test_alg_other_than_the_keys_pinned_alg_refused(self):
        """"an algorithm other than the key's": the RSA PEM key is pinned
        to RS256, so PS256/RS384/RS512 tokens it signed are refused; the
        JWKS key pinned to PS256 does not take RS256."""
        for v in (4, 5):
            for alg in ("PS256", "RS384", "RS512", "PS512"):
                with self.subTest(version=v, alg=alg):
                    t = K.sign(self.rsa, alg, self.claims("dev1"))
                    self.refused(t, version=v)
            with self.subTest(version=v, alg="RS256 with kid ps-key"):
                t = K.sign(self.rsa_ps, "RS256", self.claims("dev1"),
                           kid="ps-key")
                self.refused(t, version=v)
            with self.subTest(version=v, alg="ES384 by the P-256 key"):
                t = K.sign(self.ec256, "ES256", self.claims("dev1"))
                h, p, s = t.split(".")
                t = K.craft({"alg": "ES384", "typ": "JWT"}, p,
                            signature=K.b64u_decode(s))
                self.refused(t, version=v)

    def test_kidless_pem_keys_are_wildcards_jwt_h(self):
        """jwt.h step 3: "a kid-less key is a wildcard": a token with a kid
        no key has, signed by a PEM key (loaded without a kid), verifies
        against it. (The unknown-kid refusal: JwksOnlyTests.)"""
        c = self.client(self.tok("dev1", "ES256", kid="no-such-kid"))
        c.disconnect()

    def test_tampered_payload_refused(self):
        """The signature covers the payload: a token whose payload was
        changed (another user, a later exp) is refused."""
        for alg in self.ALGS:
            t = self.tok("dev1", alg)
            for change in ({"sub": "admin"}, {"exp": int(time.time())
                                              + 10 ** 6}):
                forged = K.with_payload(t, dict(self.claims("dev1"),
                                                **change))
                for v in (4, 5):
                    with self.subTest(alg=alg, change=change, version=v):
                        self.refused(forged, version=v,
                                     username="admin" if v == 4 and
                                     "sub" in change else AUTO,
                                     reason="signature")

    def test_tampered_signature_refused(self):
        for alg in self.ALGS:
            t = K.flip_signature_bit(self.tok("dev1", alg))
            for v in (4, 5):
                with self.subTest(alg=alg, version=v):
                    self.refused(t, version=v, reason="signature")

    def test_truncated_or_missing_signature_refused(self):
        for alg in ("RS256", "ES256", "HS256"):
            h, p, s = self.tok("dev1", alg).split(".")
            for forged in ("%s.%s.%s" % (h, p, s[:-4]),
                           "%s.%s." % (h, p), "%s.%s" % (h, p)):
                with self.subTest(alg=alg, sig_len=len(forged)):
                    self.refused(forged, version=5,
                                 jwt_line=forged.count(".") == 2 and
                                 not forged.endswith("."))

    def test_base64_padding_refused_as_password(self):
        """RFC 7515 2 / jwt.h: base64url without padding; a '='-padded
        token is not a token's shape, and without a password file a
        non-token password is refused (0x86 / 4)."""
        for alg in ("RS256", "ES256", "EdDSA"):
            t = K.padded(self.tok("dev1", alg))
            self.assertIn("=", t)
            for v in (4, 5):
                with self.subTest(alg=alg, version=v):
                    self.refused(t, version=v, jwt_line=False)

    def test_base64_padding_refused_as_auth_data(self):
        """The same padded token as MQTT 5 Authentication Data goes to the
        JWT provider and is refused with a reason in the log."""
        for alg in ("RS256", "ES256", "EdDSA"):
            with self.subTest(alg=alg):
                self.refused(K.padded(self.tok("dev1", alg)), method=True)

    def test_crit_header_refused(self):
        """"a `crit` header ... refused" (RFC 7515 4.1.11), even though
        the signature is good."""
        for v in (4, 5):
            for crit in (["exp"], ["b64"], []):
                with self.subTest(version=v, crit=crit):
                    self.refused(self.tok("dev1", "ES256",
                                          headers={"crit": crit}),
                                 version=v, reason="crit")

    def test_keys_never_come_from_the_token(self):
        """"Keys never come from the token (`jwk`, `jku`, `x5u`, `x5c` are
        ignored)": a token signed by an attacker's key that carries that
        key in its header is refused; a good token with such headers is
        accepted (they are ignored)."""
        evil = K.gen_ec(ec.SECP256R1())
        evil_jwk = K.jwk(evil, alg="ES256")
        for v in (4, 5):
            with self.subTest(version=v, header="jwk"):
                t = K.sign(evil, "ES256", self.claims("dev1"),
                           headers={"jwk": evil_jwk})
                self.refused(t, version=v)
            with self.subTest(version=v, header="jku/x5u"):
                t = K.sign(evil, "ES256", self.claims("dev1"),
                           headers={"jku": "http://127.0.0.1:1/jwks.json",
                                    "x5u": "http://127.0.0.1:1/x5"})
                self.refused(t, version=v)
            with self.subTest(version=v, header="ignored on a good token"):
                c = self.client(self.tok("dev1", "ES256",
                                         headers={"jwk": evil_jwk,
                                                  "jku": "http://x/"}),
                                version=v)
                c.disconnect()

    # -- the username claim

    def test_empty_or_missing_username_claim_refused(self):
        """"The username claim (default `sub`) must be a non-empty
        string"."""
        for v in (4, 5):
            for sub in ("", K.DROP, 42, ["dev1"], None):
                with self.subTest(version=v, sub=sub):
                    t = K.sign(self.ec256, "ES256", self.claims(sub))
                    self.refused(t, version=v,
                                 username="x" if v == 4 else None)

    # -- jwt_match: username (the default)

    def test_match_username_connect_username_must_equal_claim(self):
        """"With `jwt_match: username` (the default) a CONNECT that also
        sends a username must send that one"; none sent is fine."""
        t = self.tok("dev1", "ES256")
        for v in (4, 5):
            with self.subTest(version=v, username="dev1"):
                c = self.client(t, version=v, username="dev1")
                self.exchange(c)
                c.disconnect()
            for other in ("dev2", "Dev1", "dev1 ", ""):
                with self.subTest(version=v, username=other):
                    self.refused(t, version=v, username=other)
        with self.subTest(version=5, username=None):
            c = self.client(t, version=5, username=None)
            self.exchange(c)
            c.disconnect()
        with self.subTest(version=5, username=None, method=True):
            c = self.client(t, version=5, username=None, method=True)
            c.disconnect()
            self.refused(t, version=5, username="dev2", method=True)

    # -- roles without an ACL

    def test_many_roles_without_acl_accepted(self):
        """"More than 32 roles or a role longer than 64 bytes refuses the
        token *when an ACL is configured*": here there is none."""
        for v in (4, 5):
            with self.subTest(version=v):
                c = self.client(self.tok(
                    "dev1", roles=["r%d" % i for i in range(40)]),
                    version=v)
                c.disconnect()
                c = self.client(self.tok("dev1", roles=["x" * 100]),
                                version=v)
                c.disconnect()

    # -- non-token credentials, anonymous

    def test_non_token_password_refused_without_password_file(self):
        """"With a JWT key but no password file, a client that sends a
        username or password that is not a token is refused (0x86 / 4)"."""
        for v in (4, 5):
            for user, pw in (("dev1", b"hunter2"), ("dev1", b""),
                             ("dev1", b"eyJ.not-a.token!"),
                             ("dev1", None)):
                with self.subTest(version=v, user=user, pw=pw):
                    c = self.raw()
                    c.send(build_connect(unique("np"), v, username=user,
                                         password=pw))
                    got = c.wait_closed()
                    self.assertEqual([p.type for p in got], [CONNACK])
                    self.assertEqual(got[0].rc, {4: 4, 5: 0x86}[v])
        c = self.raw()
        c.send(build_connect(unique("np"), 5, password=b"hunter2"))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(CONNACK, 0x86)])
        self.assertNotIn("hunter2", self.broker.read_log())

    def test_anonymous_clients_follow_the_anonymous_rules(self):
        """"anonymous clients (no credentials) follow the anonymous
        rules": allow_anonymous_loopback is true by default."""
        for v in (4, 5):
            with self.subTest(version=v):
                c = self.raw()
                c.connect(unique("anon"), version=v)
                self.exchange(c)
                c.disconnect()

    # -- MQTT 5 enhanced authentication

    def test_mqtt5_4_12_0_5_method_jwt_connack_carries_method(self):
        """"on MQTT 5, with enhanced authentication: Authentication Method
        `JWT` and the token as Authentication Data; the CONNACK then
        carries the method back" (MQTT 5 3.2.2.3.17)."""
        for alg in self.ALGS:
            with self.subTest(alg=alg):
                c = self.client(self.tok("dev1", alg), method=True)
                self.assertEqual(c.connack.rc, 0)
                self.assertEqual(c.connack.props.get(AUTH_METHOD), "JWT")
                self.assertFalse(c.connack.props.has(AUTH_DATA))
                self.exchange(c)
                c.disconnect()

    def test_enhanced_auth_with_paho(self):
        props = tern.v5_props(tern.PacketTypes.CONNECT,
                              AuthenticationMethod="JWT",
                              AuthenticationData=self.tok("dev1").encode())
        p = self.paho(version=5)
        _, rc, cprops = p.connect(properties=props)
        self.assertEqual(getattr(cprops, "AuthenticationMethod", None),
                         "JWT")
        topic = unique("ea/")
        self.assertEqual(p.subscribe(topic, 1), [1])
        p.publish(topic, b"x", qos=1)
        self.assertEqual(p.get().payload, b"x")

    def test_mqtt5_4_12_0_1_enhanced_auth_other_method_0x8c(self):
        """"Any other method gets CONNACK 0x8C (bad authentication
        method)", whatever the data."""
        for method in ("SCRAM-SHA-256", "jwt", "JWT ", "", "OAUTH2"):
            with self.subTest(method=method):
                c = self.raw()
                c.version = 5
                c.send(build_connect(unique("m"), 5, props=jwt_props(
                    self.tok("dev1"), method=method)))
                got = c.wait_closed()
                self.assertEqual([(p.type, p.rc) for p in got],
                                 [(CONNACK, BAD_AUTH_METHOD)])

    def test_mqtt5_4_12_0_4_enhanced_auth_invalid_token_0x86(self):
        """A refused token presented as Authentication Data: CONNACK
        0x86, the reason logged."""
        now = int(time.time())
        for name, t in (("expired", self.tok(exp=now - 3600)),
                        ("tampered", K.flip_signature_bit(self.tok())),
                        ("alg none", K.craft({"alg": "none"},
                                             self.claims("dev1"))),
                        ("garbage", "garbage")):
            with self.subTest(token=name):
                self.refused(t, method=True)

    def test_auth_packet_without_method_at_connect_is_protocol_error(self):
        """"An AUTH from a client that did not connect with a method is a
        protocol error" (MQTT 5 4.12: AUTH only within an enhanced
        authentication): DISCONNECT 0x82, closed; for a token-as-password
        client and an anonymous one."""
        for who in ("password token", "anonymous"):
            with self.subTest(who=who):
                if who == "anonymous":
                    c = self.raw()
                    c.connect(unique("a"), version=5)
                else:
                    c = self.client(self.tok("dev1"))
                c.send(build_auth(REAUTHENTICATE,
                                  jwt_props(self.tok("dev1"))))
                got = c.wait_closed()
                self.assertEqual([(p.type, p.rc) for p in got],
                                 [(DISCONNECT, PROTOCOL_ERROR)])

    # -- log and metrics

    def test_metrics_successes_and_failures_move(self):
        """/metrics: tern_auth_successes_total (clients authenticated by a
        provider) and tern_auth_failures_total (bad credentials)."""
        ok0 = self.metric("tern_auth_successes_total")
        bad0 = self.metric("tern_auth_failures_total")
        self.assertIsNotNone(ok0)
        self.assertIsNotNone(bad0)
        c = self.client(self.tok("dev1", "RS256"))
        c.disconnect()
        self.assertTrue(wait_until(
            lambda: self.metric("tern_auth_successes_total") == ok0 + 1))
        self.assertEqual(self.metric("tern_auth_failures_total"), bad0)
        self.refused(self.tok("dev1", exp=int(time.time()) - 3600))
        self.refused(self.tok("dev1", iss="nope"), version=4)
        self.assertTrue(wait_until(
            lambda: self.metric("tern_auth_failures_total") == bad0 + 2))
        self.assertEqual(self.metric("tern_auth_successes_total"), ok0 + 1)

    def test_refusal_logs_reason_never_token(self):
        """"the reason in the log ..., never the token": every refusal
        above checks its own token; here the accepted ones are not logged
        either."""
        toks = [self.tok("dev1", alg) for alg in self.ALGS]
        for t in toks:
            c = self.client(t, version=4)
            c.disconnect()
            c = self.client(t, version=5, method=True)
            c.disconnect()
        for t in toks:
            self.assert_not_logged(t)
        self.assertRegex(self.broker.read_log(), r'user "dev1"')

    def test_refusal_log_line_as_documented(self):
        """"the reason in the log (`JWT refused: token expired`)": the
        exact text of the document's example."""
        c = self.raw()
        port = c.sock.getsockname()[1]
        c.send(build_connect(unique("doc"), 5, password=self.tok(
            exp=int(time.time()) - 3600).encode()))
        c.wait_closed()
        self.wait_log_re(r"127\.0\.0\.1:%d: JWT refused: " % port)
        self.assertIn("127.0.0.1:%d: JWT refused: token expired" % port,
                      self.broker.read_log())


# ---------------------------------------------------------------------------
# JWKS only: kids, no issuer/audience, jwt_match client_id


class JwksOnlyTests(SharedJwtCase):
    """jwks_file only: RSA "rsa-a" (no alg: RS256), P-256 "ec-b" ES256,
    Ed25519 "ed-c" EdDSA. No jwt_issuer, no jwt_audience; jwt_match
    client_id."""

    @classmethod
    def make_files(cls, tmp):
        cls.rsa = K.gen_rsa()
        cls.ec = K.gen_ec(ec.SECP256R1())
        cls.ed = K.gen_ed25519()
        cls.rsa_pem = K.public_pem(cls.rsa)
        jwks_file = K.write_file(os.path.join(tmp, "jwks.json"), K.jwks(
            (cls.rsa, "rsa-a", None), (cls.ec, "ec-b", "ES256"),
            (cls.ed, "ed-c", "EdDSA")))
        return {"jwks_file": jwks_file, "jwt_match": "client_id"}

    KIDS = (("rsa-a", "RS256"), ("ec-b", "ES256"), ("ed-c", "EdDSA"))

    def key(self, kid):
        return {"rsa-a": self.rsa, "ec-b": self.ec, "ed-c": self.ed}[kid]

    def tok(self, sub, kid="ec-b", alg=None, **kw):
        alg = alg or dict(self.KIDS)[kid]
        return K.sign(self.key(kid), alg, K.claims(sub, **kw), kid=kid)

    def test_each_jwks_key_with_its_kid_v311_and_v5(self):
        """A JWK set (RFC 7517); an RSA key without "alg" is RS256."""
        for kid, alg in self.KIDS:
            for v in (4, 5):
                with self.subTest(kid=kid, version=v):
                    cid = unique("cid-")
                    c = self.client(self.tok(cid, kid), version=v, cid=cid)
                    self.exchange(c)
                    c.disconnect()

    def test_unknown_kid_refused(self):
        """"an unknown `kid` [is] refused", even when the signature is by
        a key of the set."""
        for v in (4, 5):
            for kid in ("nope", "RSA-A", "rsa-a ", "ec-b\u0000"):
                with self.subTest(version=v, kid=kid):
                    cid = unique("cid-")
                    t = K.sign(self.rsa, "RS256", K.claims(cid), kid=kid)
                    self.refused(t, version=v, cid=cid,
                                 reason=None if "\u0000" in kid else "kid")

    def test_alg_mismatch_with_pinned_key_refused(self):
        """"each key is pinned to one algorithm when it is loaded (RSA:
        RS256, unless the JWKS entry says ...)": "rsa-a" does not take
        RS384/RS512/PS256 tokens it signed; "ec-b" not ES384."""
        for v in (4, 5):
            for alg in ("RS384", "RS512", "PS256"):
                with self.subTest(version=v, alg=alg):
                    cid = unique("cid-")
                    self.refused(self.tok(cid, "rsa-a", alg), version=v,
                                 cid=cid, reason="alg")

    def test_hs256_signed_with_rsa_public_pem_refused(self):
        """The key-confusion attack against a set with no secret at all,
        with the RSA key's kid and without one; the JWK JSON as the
        secret too."""
        for v in (4, 5):
            for kid in ("rsa-a", None):
                for secret in (self.rsa_pem, self.rsa_pem.rstrip(b"\n"),
                               json.dumps(K.jwk(self.rsa)).encode()):
                    with self.subTest(version=v, kid=kid, n=len(secret)):
                        cid = unique("cid-")
                        h = {"alg": "HS256", "typ": "JWT"}
                        if kid:
                            h["kid"] = kid
                        t = K.craft(h, K.claims(cid),
                                    signer=K.hs256_signer(secret))
                        self.refused(t, version=v, cid=cid)

    def test_aud_present_when_no_audience_configured_refused(self):
        """"a token with an `aud` is refused when no audience is
        configured"."""
        for v in (4, 5):
            for aud in ("tern", ["tern"], "anything"):
                with self.subTest(version=v, aud=aud):
                    cid = unique("cid-")
                    self.refused(self.tok(cid, aud=aud), version=v,
                                 cid=cid, reason="aud")

    def test_iss_not_checked_without_jwt_issuer(self):
        """"`iss` must equal `jwt_issuer` when set" (empty: not
        checked)."""
        for iss in ("https://anyone.example/", K.DROP):
            with self.subTest(iss=iss):
                cid = unique("cid-")
                c = self.client(self.tok(cid, iss=iss), cid=cid)
                c.disconnect()

    def test_match_client_id(self):
        """"with `client_id` the client id must equal it"."""
        for v in (4, 5):
            cid = unique("cid-")
            t = self.tok(cid)
            with self.subTest(version=v, cid="equal"):
                c = self.client(t, version=v, cid=cid)
                c.disconnect()
            for other in (cid + "x", cid.upper(), unique("cid-")):
                with self.subTest(version=v, cid=other):
                    self.refused(t, version=v, cid=other)
        with self.subTest(version=5, method=True):
            cid = unique("cid-")
            t = self.tok(cid)
            c = self.client(t, version=5, cid=cid, method=True)
            c.disconnect()
            self.refused(t, version=5, cid=cid + "x", method=True)


# ---------------------------------------------------------------------------
# A password file next to the JWT key


class PasswordAndJwtTests(SharedJwtCase):
    """password_file (alice / wonderland) and jwt_keys: "a password with a
    JWT's shape ... goes to the JWT provider, anything else to the password
    file"."""

    @classmethod
    def make_files(cls, tmp):
        cls.ec = K.gen_ec(ec.SECP256R1())
        salt = os.urandom(16)
        h = hashlib.pbkdf2_hmac("sha512", b"wonderland", salt, 100000, 64)
        pw = K.write_file(os.path.join(tmp, "passwd"),
                          "alice:$pbkdf2-sha512$100000$%s$%s\n" % (
                              base64.b64encode(salt).decode(),
                              base64.b64encode(h).decode()))
        key = K.write_file(os.path.join(tmp, "ec.pem"), K.public_pem(cls.ec))
        return {"password_file": pw, "jwt_keys": key}

    def tok(self, sub, **kw):
        return K.sign(self.ec, "ES256", K.claims(sub, **kw))

    def test_password_and_token_side_by_side(self):
        for v in (4, 5):
            with self.subTest(version=v):
                c = self.client(b"wonderland", version=v, username="alice")
                self.exchange(c)
                c.disconnect()
                c = self.client(self.tok("dev1"), version=v)
                self.exchange(c)
                c.disconnect()
                self.client(b"wrong", version=v, username="alice",
                            expect_rc={4: 4, 5: 0x86}[v])

    def test_refused_token_does_not_fall_back_to_password_file(self):
        """A token-shaped password goes to the JWT provider: a bad one is
        refused with a JWT reason, whatever the username."""
        for v in (4, 5):
            with self.subTest(version=v):
                self.refused(self.tok("alice", exp=int(time.time()) - 3600),
                             version=v, username="alice",
                             reason="expired")


# ---------------------------------------------------------------------------
# Roles from the token and the ACL


ACL_ROLES = """\
# ACL of tests/integration/test_jwt.py (RolesAclTests, NestedRolesTests)
roles:
  telemetry:
    - allow: publish
      topic: tele/%u/#
  reader:
    - allow: subscribe
      topic: tele/#
    - allow: subscribe
      topic: cmd/#
    - allow: subscribe
      topic: listed/#
    - allow: subscribe
      topic: default/#
  commander:
    - allow: publish
      topic: cmd/#
  listed:
    - deny: publish
      topic: cmd/secret
    - allow: publish
      topic: listed/#
  dflt:
    - allow: publish
      topic: default/#
users:
  opuser: [listed]
default_roles: [dflt]
"""


class RolesAclCase(SharedJwtCase):

    acl_text = ACL_ROLES
    more = {}

    @classmethod
    def make_files(cls, tmp):
        cls.ec = K.gen_ec(ec.SECP256R1())
        key = K.write_file(os.path.join(tmp, "ec.pem"), K.public_pem(cls.ec))
        acl = K.write_file(os.path.join(tmp, "acl.yaml"), cls.acl_text)
        return dict({"jwt_keys": key, "acl_file": acl}, **cls.more)

    def tok(self, sub, **kw):
        return K.sign(self.ec, "ES256", K.claims(sub, **kw))

    def reader(self, version=5):
        """A client with the token role `reader`, subscribed to tele/#,
        cmd/#, listed/#, default/#."""
        c = self.client(self.tok(unique("rd-"), **self.roles_kw(["reader"])),
                        version=version)
        self.assertEqual(c.subscribe([("tele/#", 1), ("cmd/#", 1),
                                      ("listed/#", 1), ("default/#", 1)]),
                         [1, 1, 1, 1])
        return c

    def roles_kw(self, roles):
        return {"roles": roles}

    def expect_only(self, sub, topic, payload=b"ok"):
        p = sub.expect_publish()
        self.assertEqual((p.topic, p.payload), (topic, payload))
        sub.assert_nothing()

    def check_publish(self, c, topic, allowed, sub, version=5):
        """A QoS 1 publish to topic: MQTT 5 PUBACK 0 or 0x87; 3.1.1 acks
        either way [MQTT-3.3.5-2]; delivered to sub only when allowed."""
        ack = c.publish(topic, b"ok" if allowed else b"no", qos=1)
        self.assertEqual(ack.type, PUBACK)
        if version == 5:
            self.assertEqual(ack.rc, 0 if allowed else NOT_AUTHORIZED,
                             topic)
        if allowed:
            self.expect_only(sub, topic)
        else:
            sub.assert_nothing()


class RolesAclTests(RolesAclCase):
    """acl_file + jwt_roles_claim roles (the default) + jwt_match none."""

    more = {"jwt_match": "none"}

    def test_roles_array_gives_acl_roles(self):
        """"the `jwt_roles_claim` member (an array of strings ...) gives ACL
        roles, added after the roles the ACL file gives the user": allowed
        publish works, a denied one gets PUBACK 0x87 (MQTT 5) and is not
        delivered."""
        sub = self.reader()
        for v in (4, 5):
            with self.subTest(version=v):
                user = unique("d")
                c = self.client(self.tok(user, roles=["telemetry"]),
                                version=v)
                self.check_publish(c, "tele/%s/t" % user, True, sub, v)
                self.check_publish(c, "tele/other/t", False, sub, v)
                self.check_publish(c, "cmd/x", False, sub, v)
                # the token role gives no subscribe rule
                self.assertEqual(c.subscribe([("tele/#", 0)]),
                                 [{4: 0x80, 5: NOT_AUTHORIZED}[v]])

    def test_roles_space_separated_string(self):
        """"or a space-separated string such as OAuth's `scope`"."""
        sub = self.reader()
        user = unique("d")
        c = self.client(self.tok(user, roles="telemetry commander"))
        self.check_publish(c, "tele/%s/t" % user, True, sub)
        self.check_publish(c, "cmd/go", True, sub)
        self.check_publish(c, "listed/x", False, sub)

    def test_unknown_roles_ignored(self):
        """"Names of roles that do not exist in the file are ignored"."""
        sub = self.reader()
        user = unique("d")
        c = self.client(self.tok(user, roles=["ghost", "telemetry",
                                              "admin", "*"]))
        self.check_publish(c, "tele/%s/t" % user, True, sub)
        self.check_publish(c, "cmd/go", False, sub)

    def test_no_roles_claim_default_roles_only(self):
        """Authenticated but not listed: `default_roles` (dflt)."""
        sub = self.reader()
        c = self.client(self.tok(unique("d")))
        self.check_publish(c, "default/x", True, sub)
        self.check_publish(c, "cmd/x", False, sub)

    def test_token_roles_after_users_roles(self):
        """"added after the roles the ACL file gives the user", and "the
        first rule that matches decides": opuser is listed with [listed]
        (deny publish cmd/secret first), the token adds commander (allow
        cmd/#)."""
        sub = self.reader()
        c = self.client(self.tok("opuser", roles=["commander"]))
        self.check_publish(c, "cmd/secret", False, sub)
        self.check_publish(c, "cmd/open", True, sub)
        self.check_publish(c, "listed/x", True, sub)
        self.check_publish(c, "default/x", False, sub)  # listed: no dflt
        # an unlisted user with the same token role: default_roles first
        d = self.client(self.tok(unique("d"), roles=["commander"]))
        self.check_publish(d, "cmd/secret", True, sub)
        self.check_publish(d, "default/y", True, sub)

    def test_more_than_32_roles_refused_with_acl(self):
        """"More than 32 roles ... refuses the token when an ACL is
        configured"; 32 are kept (the 32nd still counts)."""
        many = ["r%02d" % i for i in range(33)]
        for v in (4, 5):
            with self.subTest(version=v, roles=33):
                self.refused(self.tok(unique("d"), roles=many), version=v)
            with self.subTest(version=v, roles="33 as a string"):
                self.refused(self.tok(unique("d"), roles=" ".join(many)),
                             version=v)
        sub = self.reader()
        user = unique("d")
        c = self.client(self.tok(user, roles=many[:31] + ["telemetry"]))
        self.check_publish(c, "tele/%s/x" % user, True, sub)

    def test_role_longer_than_64_bytes_refused_with_acl(self):
        """"... or a role longer than 64 bytes refuses the token when an
        ACL is configured"; 64 bytes are fine."""
        for v in (4, 5):
            with self.subTest(version=v):
                self.refused(self.tok(unique("d"),
                                      roles=["telemetry", "x" * 65]),
                             version=v)
                c = self.client(self.tok(unique("d"),
                                         roles=["telemetry", "x" * 64]),
                                version=v)
                c.disconnect()

    def test_match_none_connect_username_not_compared(self):
        """"with `none` the CONNECT username is not compared"; the ACL's
        %u is the token's user ("The username is the one authentication
        established"), not the CONNECT's."""
        sub = self.reader()
        user = unique("d")
        for v in (4, 5):
            with self.subTest(version=v):
                c = self.client(self.tok(user, roles=["telemetry"]),
                                version=v, username="mallory")
                self.check_publish(c, "tele/%s/%d" % (user, v), True, sub, v)
                self.check_publish(c, "tele/mallory/%d" % v, False, sub, v)


    def test_acl_reload_keeps_token_roles(self):
        """ACL "Reload": "every connected client is resolved again at once:
        its roles and rules follow the new file" -- and its roles still
        include the token's (they come from the token, not the file)."""
        user = unique("d")
        c = self.client(self.tok(user, roles=["telemetry", "reader"]))
        self.assertEqual(c.subscribe([("tele/%s/#" % user, 1)]), [1])
        before = len(self.broker.read_log())
        self.sighup()
        self.assertTrue(wait_until(
            lambda: "acl_file %s reloaded" % self.settings["acl_file"]
            in self.broker.read_log()[before:]), "no ACL reload logged")
        c.ping()
        topic = "tele/%s/after" % user
        self.assertEqual(c.publish(topic, b"ok", qos=1).rc, 0)
        self.expect_only(c, topic)  # the subscription was kept


class NestedRolesTests(RolesAclCase):
    """jwt_roles_claim realm_access.roles (a dotted path),
    jwt_username_claim preferred_username."""

    more = {"jwt_roles_claim": "realm_access.roles",
            "jwt_username_claim": "preferred_username"}
    username_claim = "preferred_username"

    def roles_kw(self, roles):
        return {"realm_access": {"roles": roles}}

    def tok(self, user, **kw):
        kw.setdefault("preferred_username", user)
        return K.sign(self.ec, "ES256", K.claims("sub-" + user, **kw))

    def test_nested_path_gives_roles(self):
        """"or a dotted path such as `realm_access.roles`"."""
        sub = self.reader()
        for v in (4, 5):
            with self.subTest(version=v):
                user = unique("n")
                c = self.client(self.tok(user, **self.roles_kw(
                    ["telemetry", "commander"])), version=v)
                self.check_publish(c, "tele/%s/t" % user, True, sub, v)
                self.check_publish(c, "cmd/go", True, sub, v)

    def test_top_level_roles_member_not_used(self):
        """Only the configured claim gives roles."""
        sub = self.reader()
        user = unique("n")
        c = self.client(self.tok(user, roles=["telemetry", "commander"]))
        self.check_publish(c, "tele/%s/t" % user, False, sub)
        self.check_publish(c, "default/t", True, sub)

    def test_username_claim(self):
        """"`jwt_username_claim: sub` the client's user": here
        preferred_username; a token without it is refused even with a
        sub."""
        for v in (4, 5):
            with self.subTest(version=v):
                t = K.sign(self.ec, "ES256", K.claims("someone"))
                self.refused(t, version=v, username="someone"
                             if v == 4 else None)
                t = self.tok("pu1")
                c = self.client(t, version=v, username="pu1")
                c.disconnect()
                # jwt_match username compares the claim, not sub
                self.refused(t, version=v, username="sub-pu1")


# ---------------------------------------------------------------------------
# Expiry and re-authentication


ACL_EXPIRY = """\
roles:
  writer:
    - allow: publish
      topic: "#"
  read_a:
    - allow: subscribe
      topic: a/#
  read_b:
    - allow: subscribe
      topic: b/#
  read_will:
    - allow: subscribe
      topic: will/#
default_roles: [writer]
"""


class ExpiryReauthTests(SharedJwtCase):
    """jwt_leeway 0, an ACL (default_roles: writer, publish anywhere; the
    token's roles read_a / read_b / read_will allow subscriptions)."""

    @classmethod
    def make_files(cls, tmp):
        cls.ec = K.gen_ec(ec.SECP256R1())
        key = K.write_file(os.path.join(tmp, "ec.pem"), K.public_pem(cls.ec))
        acl = K.write_file(os.path.join(tmp, "acl.yaml"), ACL_EXPIRY)
        return {"jwt_keys": key, "acl_file": acl, "jwt_leeway": 0}

    def tok(self, sub, **kw):
        return K.sign(self.ec, "ES256", K.claims(sub, **kw))

    def writer(self):
        return self.client(self.tok(unique("w")))

    def reauth(self, c, token, reason=REAUTHENTICATE, method="JWT"):
        props = None if method is None else jwt_props(token, method)
        c.send(build_auth(reason, props))

    def expect_disconnect(self, c, rc):
        """DISCONNECT rc, then the close."""
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, rc)],
                         got)
        return got[0]

    def test_token_expiry_closes_connections_and_publishes_wills(self):
        """"A connection authenticated by a token is closed when the token
        expires (`exp` plus the leeway): MQTT 5 clients get DISCONNECT 0x87
        with the reason string `token expired`; 3.1.1 clients are
        disconnected. The will is published as for any abnormal end."
        exp = now + 3, leeway 0: closed at exp at the earliest, exp + 3 s
        at the latest."""
        sub = self.client(self.tok(unique("s"), roles=["read_will"]))
        wt = unique("will/")
        self.assertEqual(sub.subscribe([(wt + "/#", 1)]), [1])
        exp = int(time.time()) + 3
        c5 = self.client(self.tok(unique("e5"), exp=exp), version=5,
                         will=dict(topic=wt + "/v5", payload=b"gone5",
                                   qos=1))
        c5m = self.client(self.tok(unique("e5m"), exp=exp), version=5,
                          method=True)
        c4 = self.client(self.tok(unique("e4"), exp=exp), version=4,
                         will=dict(topic=wt + "/v4", payload=b"gone4",
                                   qos=1))
        deadline = exp + 3
        for c in (c5, c5m):
            p = c.expect(DISCONNECT, timeout=max(0.1, deadline -
                                                  time.time()))
            t_recv = time.time()
            self.assertGreaterEqual(t_recv, exp - 0.05,
                                    "closed before the token's exp")
            self.assertEqual(p.rc, NOT_AUTHORIZED)
            self.assertEqual(p.props.get(REASON_STRING), "token expired")
            self.assertEqual(c.wait_closed(), [])
        # 3.1.1: no DISCONNECT from a server, just the close
        self.assertEqual(c4.wait_closed(timeout=max(0.1, deadline + 0.5
                                                     - time.time())), [])
        self.assertGreaterEqual(time.time(), exp - 0.05)
        wills = sub.publishes(2)
        self.assertEqual(sorted((p.topic, p.payload) for p in wills),
                         [(wt + "/v4", b"gone4"), (wt + "/v5", b"gone5")])
        sub.assert_nothing()

    def test_reauth_extends_expiry_and_keeps_subscriptions(self):
        """"An MQTT 5 client that connected with method `JWT` can send,
        before that, an AUTH packet with reason 0x19 ..., method `JWT` and
        a fresh token as data: if it verifies for the same user, ternd
        answers AUTH 0x00 (with the method), the new expiry applies ...,
        and the session and its subscriptions carry on" [MQTT-4.12.1]."""
        user = unique("ra")
        exp = int(time.time()) + 3
        c = self.client(self.tok(user, exp=exp, roles=["read_a"]),
                        method=True)
        topic = "a/" + user
        self.assertEqual(c.subscribe([(topic, 1)]), [1])
        # and the other way: a long token replaced by one that ends at exp
        short_user = unique("rs")
        short = self.client(self.tok(short_user, ttl=300), method=True)
        self.reauth(c, self.tok(user, ttl=120, roles=["read_a"]))
        self.reauth(short, self.tok(short_user, exp=exp))
        for x in (c, short):
            p = x.expect(AUTH)
            self.assertEqual(p.rc, 0)
            self.assertEqual(p.props.get(AUTH_METHOD), "JWT")
        # the shortened one is closed at its new exp, within 3 s
        p = short.expect(DISCONNECT, timeout=max(0.1, exp + 3 - time.time()))
        self.assertGreaterEqual(time.time(), exp - 0.05)
        self.assertEqual((p.rc, p.props.get(REASON_STRING)),
                         (NOT_AUTHORIZED, "token expired"))
        # the extended one is still connected 2.5 s past the old exp
        # (expiry is checked about once a second)
        self.assertTrue(c.is_open(wait=max(0.1, exp + 2.5 - time.time())),
                        "closed although re-authenticated")
        w = self.writer()
        w.publish(topic, b"after", qos=1)
        got = c.expect_publish()
        self.assertEqual((got.topic, got.payload), (topic, b"after"))
        c.ping()

    def test_reauth_roles_replace_old_ones_and_prune_subscriptions(self):
        """"the token's roles replace the old ones (subscriptions they no
        longer allow are removed)"."""
        user = unique("rr")
        c = self.client(self.tok(user, roles=["read_a", "read_b"]),
                        method=True)
        ta, tb = "a/" + user, "b/" + user
        self.assertEqual(c.subscribe([(ta, 1), (tb, 1)]), [1, 1])
        self.reauth(c, self.tok(user, roles=["read_a"]))
        p = c.expect(AUTH)
        self.assertEqual((p.rc, p.props.get(AUTH_METHOD)), (0, "JWT"))
        w = self.writer()
        w.publish(tb, b"dropped", qos=1)
        w.publish(ta, b"kept", qos=1)
        got = c.expect_publish()
        self.assertEqual((got.topic, got.payload), (ta, b"kept"))
        c.assert_nothing()
        self.assertEqual(c.subscribe([(tb, 1)]), [NOT_AUTHORIZED])
        # and the roles can come back
        self.reauth(c, self.tok(user, roles=["read_a", "read_b"]))
        self.assertEqual(c.expect(AUTH).rc, 0)
        self.assertEqual(c.subscribe([(tb, 1)]), [1])

    def test_resumed_session_pruned_by_token_roles(self):
        """ACL "Resumed sessions": at CONNECT, subscriptions of the stored
        session that the connecting identity -- here its token's roles --
        may not hold are removed."""
        user, cid = unique("rs"), unique("rs")
        keep = [(tern.SESSION_EXPIRY, 300)]
        c = self.client(self.tok(user, roles=["read_a", "read_b"]), cid=cid,
                        props=keep, clean=False)
        ta, tb = "a/" + user, "b/" + user
        self.assertEqual(c.subscribe([(ta, 1), (tb, 1)]), [1, 1])
        c.disconnect()
        c = self.client(self.tok(user, roles=["read_a"]), cid=cid,
                        props=keep, clean=False)
        self.assertTrue(c.connack.session_present)
        w = self.writer()
        w.publish(tb, b"dropped", qos=1)
        w.publish(ta, b"kept", qos=1)
        got = c.expect_publish()
        self.assertEqual((got.topic, got.payload), (ta, b"kept"))
        c.assert_nothing()
        c.disconnect(rc=0, props=[(tern.SESSION_EXPIRY, 0)])

    def test_reauth_token_for_another_user_disconnect_0x87(self):
        """"A token for another user ... ends the connection (DISCONNECT
        0x87" [MQTT-4.12.1-2]."""
        user = unique("u")
        sub = self.client(self.tok(unique("s"), roles=["read_will"]))
        wt = unique("will/")
        self.assertEqual(sub.subscribe([(wt, 1)]), [1])
        c = self.client(self.tok(user), method=True,
                        will=dict(topic=wt, payload=b"bye", qos=1))
        self.reauth(c, self.tok(unique("other")))
        self.expect_disconnect(c, NOT_AUTHORIZED)
        # an abnormal end: the will is published [MQTT-3.1.2-8]
        p = sub.expect_publish()
        self.assertEqual((p.topic, p.payload), (wt, b"bye"))

    def test_reauth_invalid_token_disconnect_0x87(self):
        """"an invalid token ... ends the connection (DISCONNECT 0x87"."""
        now = int(time.time())
        user = unique("u")
        for name, bad in (
                ("expired", self.tok(user, exp=now - 10, iat=now - 20)),
                ("tampered", K.flip_signature_bit(self.tok(user))),
                ("alg none", K.craft({"alg": "none"}, K.claims(user))),
                ("crit", K.sign(self.ec, "ES256", K.claims(user),
                                headers={"crit": ["exp"]})),
                ("padded", K.padded(self.tok(user))),
                ("33 roles", self.tok(user, roles=["r%d" % i
                                                   for i in range(33)])),
                ("garbage", "not a token"),
                ("empty", "")):
            with self.subTest(token=name):
                c = self.client(self.tok(user), method=True)
                self.reauth(c, bad)
                self.expect_disconnect(c, NOT_AUTHORIZED)
                if bad:
                    self.assert_not_logged(bad)

    def test_reauth_other_method_or_reason_disconnect_0x82(self):
        """"another method ends the connection (... 0x82 protocol error
        for a wrong method or reason)" [MQTT-4.12.1-1]: the AUTH must
        name the CONNECT's method."""
        user = unique("u")
        for name, reason, method in (("SCRAM", REAUTHENTICATE,
                                      "SCRAM-SHA-256"),
                                     ("lower case", REAUTHENTICATE, "jwt"),
                                     ("no method", REAUTHENTICATE, None),
                                     ("continue", CONTINUE_AUTH, "JWT"),
                                     ("success", 0x00, "JWT")):
            with self.subTest(case=name):
                c = self.client(self.tok(user), method=True)
                self.reauth(c, self.tok(user), reason=reason, method=method)
                self.expect_disconnect(c, PROTOCOL_ERROR)

    def test_auth_without_connect_method_disconnect_0x82(self):
        """"An AUTH from a client that did not connect with a method is a
        protocol error" (token as the password)."""
        user = unique("u")
        c = self.client(self.tok(user))
        self.reauth(c, self.tok(user))
        self.expect_disconnect(c, PROTOCOL_ERROR)


# ---------------------------------------------------------------------------
# No JWT key configured


class NoJwtKeyTests(TernTestCase):

    def test_method_jwt_without_jwt_key_0x8c(self):
        """Method `JWT` when no JWT key is configured: CONNACK 0x8C (bad
        authentication method), as for any unknown method."""
        key = K.gen_ec(ec.SECP256R1())
        t = K.sign(key, "ES256", K.claims("dev1"))
        for method in ("JWT", "SCRAM-SHA-256"):
            with self.subTest(method=method):
                c = self.raw()
                c.version = 5
                c.send(build_connect(unique("n"), 5,
                                     props=jwt_props(t, method)))
                got = c.wait_closed()
                self.assertEqual([(p.type, p.rc) for p in got],
                                 [(CONNACK, BAD_AUTH_METHOD)])


# ---------------------------------------------------------------------------
# SIGHUP


class ReloadTests(JwtCase):
    """A broker per test: jwt_keys key.pem and jwks_file jwks.json, both
    rewritten by the tests. "Configure at least one key source (each
    reloaded on `SIGHUP`; an error keeps the old keys)"."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.k1 = K.gen_ec(ec.SECP256R1())
        cls.k2 = K.gen_ec(ec.SECP256R1())
        cls.j1 = K.gen_ed25519()
        cls.j2 = K.gen_ed25519()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tern-jwt-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pem = K.write_file(os.path.join(self.tmp, "key.pem"),
                                K.public_pem(self.k1))
        self.jwks_path = K.write_file(os.path.join(self.tmp, "jwks.json"),
                                      K.jwks((self.j1, "j1", "EdDSA")))
        self.settings = {"jwt_keys": self.pem, "jwks_file": self.jwks_path}
        super().setUp()

    def tokens(self):
        return {
            "k1": K.sign(self.k1, "ES256", K.claims("dev1")),
            "k2": K.sign(self.k2, "ES256", K.claims("dev1")),
            "j1": K.sign(self.j1, "EdDSA", K.claims("dev1"), kid="j1"),
            "j2": K.sign(self.j2, "EdDSA", K.claims("dev1"), kid="j2"),
        }

    def rc_of(self, token):
        c = RawClient(self.broker.host, self.broker.port)
        try:
            return c.connect(unique("rl"), version=5,
                             password=token.encode(), expect_rc=None).rc
        finally:
            c.close()

    def assert_accepts(self, names, refuses):
        t = self.tokens()
        for n in names:
            self.assertEqual(self.rc_of(t[n]), 0, n)
        for n in refuses:
            self.assertEqual(self.rc_of(t[n]), V5_BAD_USER_OR_PASSWORD, n)

    def test_sighup_rotates_pem_and_jwks_keys(self):
        self.assert_accepts(["k1", "j1"], ["k2", "j2"])
        held = self.client(self.tokens()["k1"])
        K.write_file(self.pem, K.public_pem(self.k2))
        K.write_file(self.jwks_path, K.jwks((self.j2, "j2", "EdDSA")))
        self.sighup()
        t = self.tokens()
        self.assertTrue(wait_until(lambda: self.rc_of(t["k2"]) == 0,
                                   interval=0.1),
                        "the new PEM key is not accepted after SIGHUP")
        self.assertTrue(wait_until(lambda: self.rc_of(t["j2"]) == 0,
                                   interval=0.1))
        self.assert_accepts(["k2", "j2"], ["k1", "j1"])
        self.client(t["k1"], version=4, expect_rc=4)
        self.client(t["k2"], version=4).disconnect()
        held.ping()  # a connected client is not affected by the reload

    def test_sighup_with_broken_key_file_keeps_old_keys(self):
        """"an error keeps the old keys" (logged at error, naming the
        file)."""
        for name, path, text in (
                ("garbage PEM", "pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n"
                 "-----END PUBLIC KEY-----\n"),
                ("empty JWKS", "jwks", '{"keys": []}'),
                ("not JSON", "jwks", "{"),
                ("missing file", "pem", None)):
            with self.subTest(case=name):
                target = self.pem if path == "pem" else self.jwks_path
                before = len(self.broker.read_log())
                if text is None:
                    os.unlink(target)
                else:
                    K.write_file(target, text)
                self.sighup()
                m = wait_until(lambda: re.search(
                    r"^.* ERROR .*%s.*$" % re.escape(target),
                    self.broker.read_log()[before:], re.M))
                self.assertTrue(m, "no error naming %s in the log:\n%s" % (
                    target, self.broker.read_log()[before:]))
                self.assert_accepts(["k1", "j1"], ["k2", "j2"])
                # restore
                K.write_file(self.pem, K.public_pem(self.k1))
                K.write_file(self.jwks_path, K.jwks((self.j1, "j1",
                                                     "EdDSA")))

    def test_sighup_rotates_hs256_secret(self):
        """jwt_secret_file is reloaded on SIGHUP too."""
        secret1, secret2 = os.urandom(32), os.urandom(40)
        sf = K.write_file(os.path.join(self.tmp, "hs.key"), secret1)
        self.restart_broker(settings={"jwt_secret_file": sf})
        t1 = K.sign(secret1, "HS256", K.claims("dev1"))
        t2 = K.sign(secret2, "HS256", K.claims("dev1"))
        self.assertEqual(self.rc_of(t1), 0)
        self.assertEqual(self.rc_of(t2), V5_BAD_USER_OR_PASSWORD)
        K.write_file(sf, secret2)
        self.sighup()
        self.assertTrue(wait_until(lambda: self.rc_of(t2) == 0,
                                   interval=0.1))
        self.assertEqual(self.rc_of(t1), V5_BAD_USER_OR_PASSWORD)
        # too short: refused, the old secret stays
        K.write_file(sf, b"short")
        before = len(self.broker.read_log())
        self.sighup()
        self.assertTrue(wait_until(lambda: re.search(
            r" ERROR .*%s" % re.escape(sf), self.broker.read_log()[before:])))
        self.assertEqual(self.rc_of(t2), 0)


# ---------------------------------------------------------------------------
# Start-up errors


class StartupErrorTests(unittest.TestCase):
    """A key source that cannot be read stops ternd at start, naming the
    file."""

    @classmethod
    def setUpClass(cls):
        cls.rsa = K.gen_rsa()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tern-jwt-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_ternd(self, *args):
        try:
            return subprocess.run([tern.TERND, "--data-dir",
                                   os.path.join(self.tmp, "data"),
                                   "--admin-listen", "",
                                   "--listen", "mqtt://127.0.0.1:0"]
                                  + list(args), capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("ternd started with %r" % (args,))

    def assert_fails_naming(self, path, *args):
        r = self.run_ternd(*args)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn(path, out)
        for marker in tern.SANITIZER_MARKERS:
            self.assertNotIn(marker, out)
        return out

    def path(self, name, data=None):
        p = os.path.join(self.tmp, name)
        if data is not None:
            K.write_file(p, data)
        return p

    def test_missing_key_file(self):
        p = self.path("missing.pem")
        self.assert_fails_naming(p, "--jwt-key", p)
        good = self.path("good.pem", K.public_pem(self.rsa))
        # one bad file among several
        self.assert_fails_naming(p, "--jwt-key", "%s,%s" % (good, p))
        self.assert_fails_naming(p, "--jwks-file", p)
        self.assert_fails_naming(p, "--set", "jwt_secret_file=%s" % p)

    def test_garbage_pem(self):
        for name, data in (("garbage.pem", "not a key at all\n"),
                           ("empty.pem", ""),
                           ("trunc.pem", K.public_pem(self.rsa)[:200]),
                           ("badb64.pem", "-----BEGIN PUBLIC KEY-----\n"
                            "!!!!\n-----END PUBLIC KEY-----\n")):
            with self.subTest(file=name):
                p = self.path(name, data)
                self.assert_fails_naming(p, "--jwt-key", p)

    def test_empty_or_unusable_jwks(self):
        for name, data in (("empty.json", '{"keys": []}'),
                           ("nokeys.json", "{}"),
                           ("notjson.json", "keys"),
                           ("enc.json", json.dumps({"keys": [dict(
                               K.jwk(self.rsa, kid="e"), use="enc")]}))):
            with self.subTest(file=name):
                p = self.path(name, data)
                self.assert_fails_naming(p, "--jwks-file", p)

    def test_short_hmac_secret(self):
        """"HMAC secret, >= 32 bytes"."""
        p = self.path("hs.key", b"x" * 31)
        self.assert_fails_naming(p, "--set", "jwt_secret_file=%s" % p)


if __name__ == "__main__":
    unittest.main()
