"""Tern as an OAuth 2.0 authorization server for devices (docs/SECURITY.md,
"OAuth 2.0 client credentials: Tern issues device tokens"; the tokens are
then used as in "JWT (signed tokens)" and the ACL section), and the
`ternctl oauth-client` commands (docs/ADMIN.md).

Written from the documents, not from node/oauth.c: each test names the
sentence it checks. Where the behaviour differs from the text the test is
marked @unittest.expectedFailure with a comment saying what ternd does.

Issued tokens are verified independently with PyJWT against the published
/.well-known/jwks.json (the key built with jwt.algorithms.*.from_jwk);
signing keys come from the openssl command line. Token requests go through
curl (the document's example), urllib and http.client (exact headers and
bodies); MQTT through mosquitto_pub, paho and RawClient.

Brokers (one shared broker per class; PBKDF2 of a secret costs tens of ms,
more under ASan, so every class keeps to a few dozen hashes):
  EcTests             P-256 key (ES256), oauth_token_ttl 60, ACL file
  RsaTests            RSA 2048 key (RS256), jwt_issuer, jwt_audience,
                      jwt_username_claim preferred_username, jwt_roles_claim
                      groups, ACL file, default ttl (3600)
  DottedRolesTests    P-256 key, jwt_roles_claim realm_access.roles, ACL
  NoStoreTests        P-256 key, durability none
  StartupTests        ternd that must not start (no broker kept)

Run: cd build && TERND=$PWD/ternd /usr/bin/python3 \
         ../tests/integration/test_oauth.py -v
(ternctl is taken next to TERND, or from TERNCTL.)
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

import tern
from tern import PUBACK, Broker, TernTestCase, unique, wait_until

ADMIN = "oauth-admin-token-0123"
TERNCTL = os.environ.get("TERNCTL") or os.path.join(
    os.path.dirname(os.path.abspath(tern.TERND)), "ternctl")
FORM = "application/x-www-form-urlencoded"
HTTP_TIMEOUT = 15  # a token request waits for a PBKDF2 (slow under ASan)
NOT_AUTHORIZED = 0x87
ISSUER = "https://tern.example.com/"
AUDIENCE = "mqtt-devices"

# "an --acl-file with a role granting publish on devices/%u/#"; the reader
# role lets a subscriber see what devices publish.
ACL = """\
roles:
  device:
    - allow: publish
      topic: devices/%u/#
  reader:
    - allow: subscribe
      topic: devices/#
"""


def make_key(tmp, kind):
    """A PEM private key made by the openssl command line: EC P-256 or
    RSA 2048 (PKCS#8)."""
    path = os.path.join(tmp, "%s.pem" % kind)
    opts = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"] \
        if kind == "ec" else \
        ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    subprocess.run(["openssl", "genpkey"] + opts + ["-out", path],
                   check=True, capture_output=True, timeout=60)
    return path


def new_secret():
    return "sec-" + uuid.uuid4().hex + uuid.uuid4().hex[:8]


def basic(cid, secret, encode=True):
    """Authorization: Basic, the id and secret form-urlencoded first when
    encode (RFC 6749 2.3.1)."""
    if encode:
        cid, secret = (urllib.parse.quote_plus(cid),
                       urllib.parse.quote_plus(secret))
    return "Basic " + base64.b64encode(
        ("%s:%s" % (cid, secret)).encode()).decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def unverified(token):
    """(header, claims) of a token, read without verification."""
    h, c, _ = token.split(".")
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(c))


# ---------------------------------------------------------------------------
# Base class


class OAuthCase(TernTestCase):
    """One broker per class with the admin token and an OAuth signing key;
    helpers for the admin API, the token endpoint, JWKS and ternctl.

    Every secret a test sends and every token it receives is remembered;
    tearDown checks that none of them is in the broker's log ("never the
    secret or the token")."""

    key_type = "ec"
    alg = "ES256"
    acl = True
    more = {}
    audience = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="tern-oauth-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.key_path = make_key(cls.tmp, cls.key_type)
        settings = dict(cls.more)
        if cls.acl:
            acl = os.path.join(cls.tmp, "acl.yaml")
            with open(acl, "w") as f:
                f.write(ACL)
            settings["acl_file"] = acl
        cls.shared = Broker(["--admin-token", ADMIN,
                             "--oauth-signing-key", cls.key_path],
                            settings=settings)
        cls.shared.start()
        cls.addClassCleanup(cls.shared.stop)
        cls.admin = cls.shared.admin_url()
        cls.secrets = set()
        cls.tokens = set()

    def setUp(self):
        self.broker = self.shared
        self.assertTrue(self.broker.alive(), "ternd died in an earlier test")

    def tearDown(self):
        # TernTestCase.run prints log_text of a failing test
        self.broker.log_text = log = self.broker.read_log()
        for s in self.secrets:
            self.assertNotIn(s, log, "a client secret is in the log")
        for t in self.tokens:
            for seg in t.split("."):
                self.assertNotIn(seg, log, "a token is in the log")

    # -- HTTP

    def http(self, method, path, headers=None, body=None, token=ADMIN):
        """(status, headers with lower-case names, body bytes)."""
        u = urllib.parse.urlsplit(self.admin)
        c = http.client.HTTPConnection(u.hostname, u.port,
                                       timeout=HTTP_TIMEOUT)
        try:
            h = dict(headers or {})
            if token is not None:
                h["Authorization"] = "Bearer " + token
            if isinstance(body, str):
                body = body.encode()
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, \
                data
        finally:
            c.close()

    def api(self, method, path, body=None, expect=200, token=ADMIN):
        """An /api/v1 call: the parsed JSON answer, status checked."""
        headers = {"Content-Type": "application/json"} \
            if body is not None else None
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        st, h, data = self.http(method, path, headers, body, token)
        self.assertEqual(st, expect, data)
        self.assertTrue(h["content-type"].startswith("application/json"))
        return json.loads(data) if data else None

    @staticmethod
    def cpath(cid=None):
        p = "/api/v1/oauth-clients"
        return p if cid is None else \
            p + "/" + urllib.parse.quote(cid, safe="")

    def put_client(self, cid, secret, roles=("device",), expect=200):
        self.secrets.add(secret)
        return self.api("PUT", self.cpath(cid),
                        {"secret": secret, "roles": list(roles)}, expect)

    def new_client(self, roles=("device",), prefix="dev-"):
        cid, secret = unique(prefix), new_secret()
        self.put_client(cid, secret, roles)
        return cid, secret

    def token_request(self, form=(), auth=None, ctype=FORM, body=None,
                      method="POST", headers=None):
        """POST /oauth/token: (status, headers, parsed JSON or None). form:
        pairs, form-urlencoded (repeats allowed); body: raw instead."""
        h = dict(headers or {})
        if ctype:
            h["Content-Type"] = ctype
        if auth:
            h["Authorization"] = auth
        if body is None:
            body = urllib.parse.urlencode(list(form))
        st, hd, data = self.http(method, "/oauth/token", h, body,
                                 token=None)
        try:
            j = json.loads(data) if data else None
        except ValueError:
            j = None
        if j and "access_token" in j:
            self.tokens.add(j["access_token"])
        return st, hd, j

    def get_token(self, cid, secret, scope=None, via="basic"):
        """A token (the answer's JSON) for the client; status 200 checked."""
        form = [("grant_type", "client_credentials")]
        if scope is not None:
            form.append(("scope", scope))
        if via == "basic":
            st, h, j = self.token_request(form, auth=basic(cid, secret))
        else:
            st, h, j = self.token_request(
                form + [("client_id", cid), ("client_secret", secret)])
        self.assertEqual(st, 200, j)
        return j

    def assert_oauth_error(self, got, status, code, basic_challenge=False):
        """RFC 6749 5.2: the status, JSON `error` and `error_description`;
        with WWW-Authenticate: Basic when basic_challenge."""
        st, h, j = got
        self.assertEqual(st, status, j)
        self.assertTrue(h.get("content-type", "").startswith(
            "application/json"), h)
        self.assertIsInstance(j, dict)
        self.assertEqual(j.get("error"), code, j)
        self.assertIsInstance(j.get("error_description"), str, j)
        self.assertNotIn("access_token", j)
        if basic_challenge:
            self.assertRegex(h.get("www-authenticate", ""), r"^Basic\b", h)

    def curl_token(self, cid, secret, scope=None):
        """The document's example: curl -u ID:SECRET -d
        grant_type=client_credentials URL/oauth/token. Returns (status,
        headers, JSON)."""
        cmd = ["curl", "-s", "-i", "--max-time", str(HTTP_TIMEOUT),
               "-u", "%s:%s" % (cid, secret),
               "-d", "grant_type=client_credentials"]
        if scope is not None:
            cmd += ["-d", "scope=" + urllib.parse.quote_plus(scope)]
        r = subprocess.run(cmd + [self.admin + "/oauth/token"],
                           capture_output=True, timeout=HTTP_TIMEOUT + 5)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.decode().partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        j = json.loads(body)
        if "access_token" in j:
            self.tokens.add(j["access_token"])
        return int(lines[0].split()[1]), headers, j

    # -- JWKS and verification

    def jwks(self):
        """GET /.well-known/jwks.json without any token (urllib)."""
        with urllib.request.urlopen(self.admin + "/.well-known/jwks.json",
                                    timeout=HTTP_TIMEOUT) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers["Content-Type"].startswith(
                "application/json"))
            return json.loads(r.read())

    def verify(self, token):
        """PyJWT verification against the published JWK of the token's kid:
        (header, claims)."""
        header = jwt.get_unverified_header(token)
        keys = [k for k in self.jwks()["keys"]
                if k.get("kid") == header.get("kid")]
        self.assertEqual(len(keys), 1, "kid %r not (once) in the JWKS"
                         % header.get("kid"))
        algo = ECAlgorithm if keys[0]["kty"] == "EC" else RSAAlgorithm
        key = algo.from_jwk(json.dumps(keys[0]))
        claims = jwt.decode(token, key, algorithms=[self.alg],
                            audience=self.audience, leeway=5,
                            options={"require": ["iss", "sub", "iat", "exp",
                                                 "jti"]})
        return header, claims

    # -- ternctl

    def ternctl(self, *args, token=ADMIN, stdin=None):
        """(exit code, stdout, stderr) of ternctl against this broker."""
        env = dict(os.environ)
        env.pop("TERN_ADMIN_URL", None)
        env.pop("TERN_ADMIN_TOKEN", None)
        cmd = [TERNCTL, "--url", self.admin, "--timeout", "15"]
        if token is not None:
            cmd += ["--token", token]
        r = subprocess.run(cmd + list(args),
                           input=(stdin or "").encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30, env=env)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    # -- MQTT

    def raw_with_token(self, cid, token, version=5, client_id=None):
        """A RawClient connected as user cid with the token as password."""
        c = self.raw()
        c.connect(client_id or unique("m"), version=version, username=cid,
                  password=token.encode())
        return c

    def reader(self):
        """A paho v5 client with a token of an OAuth client holding the
        reader role, subscribed to devices/#."""
        rid, rsec = self.new_client(["reader"], prefix="rd-")
        tok = self.get_token(rid, rsec)["access_token"]
        p = self.paho(version=5)
        p.c.username_pw_set(rid, tok)
        p.connect()
        self.assertEqual(p.subscribe("devices/#", 1), [1])
        return p

    def wait_log(self, pattern, timeout=tern.TIMEOUT):
        rx = re.compile(pattern, re.M)
        m = wait_until(lambda: rx.search(self.broker.read_log()), timeout)
        self.assertTrue(m, "%r not in the ternd log:\n%s" % (
            pattern, self.broker.read_log()[-3000:]))
        return m


# ---------------------------------------------------------------------------
# ES256, short tokens, ACL


class EcTests(OAuthCase):
    """P-256 signing key, oauth_token_ttl 60 (so expiry is checked as
    exp - iat, not waited for), ACL file with roles device and reader."""

    more = {"oauth_token_ttl": 60}
    TTL = 60

    # -- the JWK set

    def test_jwks_publishes_the_public_key(self):
        """"GET /.well-known/jwks.json publishes the signing key's public
        JWK (with its kid, use: sig, alg)" (no admin token needed)."""
        keys = self.jwks()["keys"]
        self.assertEqual(len(keys), 1, keys)
        k = keys[0]
        self.assertEqual((k["kty"], k["crv"], k["use"], k["alg"]),
                         ("EC", "P-256", "sig", "ES256"))
        self.assertIsInstance(k["kid"], str)
        self.assertTrue(k["kid"])
        self.assertNotIn("d", k, "the private key is published")
        # the same answer each time (a stable kid)
        self.assertEqual(self.jwks()["keys"][0]["kid"], k["kid"])

    # -- the clients API

    def test_clients_api_crud(self):
        """PUT / GET / DELETE /api/v1/oauth-clients[/ID]; "never returned"
        (neither the secret nor its hash)."""
        cid, secret = unique("crud-"), new_secret()
        self.put_client(cid, secret, ["device", "reader"])
        st, _, data = self.http("GET", self.cpath())
        self.assertEqual(st, 200)
        self.assertNotIn(secret.encode(), data)
        self.assertNotIn(b"secret", data)
        self.assertNotIn(b"pbkdf2", data)
        listed = {c["client_id"]: c for c in json.loads(data)["clients"]}
        self.assertEqual(listed[cid]["roles"], ["device", "reader"])
        st, _, data = self.http("GET", self.cpath(cid))
        self.assertEqual(st, 200, data)
        self.assertNotIn(b"secret", data)
        self.assertNotIn(b"pbkdf2", data)
        one = json.loads(data)
        self.assertEqual((one["client_id"], one["roles"]),
                         (cid, ["device", "reader"]))
        # the secret works
        self.get_token(cid, secret)
        self.api("DELETE", self.cpath(cid))
        self.api("GET", self.cpath(cid), expect=404)
        self.assertNotIn(cid, [c["client_id"] for c in
                               self.api("GET", self.cpath())["clients"]])
        # and is refused once the client is gone
        self.assert_oauth_error(
            self.token_request([("grant_type", "client_credentials")],
                               auth=basic(cid, secret)),
            401, "invalid_client", basic_challenge=True)

    def test_clients_api_put_replaces(self):
        """A second PUT replaces the secret and the roles."""
        cid, old = self.new_client(["device"])
        new = new_secret()
        self.put_client(cid, new, ["reader"])
        self.assertEqual(self.api("GET", self.cpath(cid))["roles"],
                         ["reader"])
        self.assert_oauth_error(
            self.token_request([("grant_type", "client_credentials")],
                               auth=basic(cid, old)),
            401, "invalid_client", basic_challenge=True)
        self.assertEqual(self.get_token(cid, new)["scope"], "reader")

    def test_clients_api_secret_length(self):
        """"The secret (16 to 512 bytes)": 15 and 513 are 400."""
        for n, expect in ((15, 400), (16, 200), (512, 200), (513, 400)):
            with self.subTest(length=n):
                cid = unique("len-")
                self.put_client(cid, "k" * n, [], expect=expect)
                self.api("GET", self.cpath(cid),
                         expect=200 if expect == 200 else 404)

    def test_clients_api_bad_bodies(self):
        """400 for a body that is not {"secret": ..., "roles": [...]} and
        for bad roles ("at most 32 names" of ACL roles)."""
        cid = unique("bad-")
        good = new_secret()
        for name, body in (
                ("not json", "secret=" + good),
                ("no secret", {"roles": ["device"]}),
                ("secret not a string", {"secret": 12345678901234567890}),
                ("roles not an array", {"secret": good, "roles": "device"}),
                ("role not a string", {"secret": good, "roles": [1]}),
                ("empty role", {"secret": good, "roles": [""]}),
                ("role with a space", {"secret": good,
                                       "roles": ["a b"]}),
                ("33 roles", {"secret": good,
                              "roles": ["r%d" % i for i in range(33)]})):
            with self.subTest(body=name):
                st, h, data = self.http(
                    "PUT", self.cpath(cid),
                    {"Content-Type": "application/json"},
                    body if isinstance(body, str) else json.dumps(body))
                self.assertEqual(st, 400, data)
                self.assertIn("error", json.loads(data))
        self.secrets.add(good)
        self.api("GET", self.cpath(cid), expect=404)
        # 32 roles is the limit, not beyond it
        self.put_client(cid, good, ["r%d" % i for i in range(32)])
        self.assertEqual(len(self.api("GET", self.cpath(cid))["roles"]), 32)

    def test_clients_api_needs_the_admin_token(self):
        """"Manage the clients through the admin API (with the admin
        token)": 401 without it or with a wrong one, and nothing
        changes."""
        cid, secret = self.new_client()
        other = unique("nt-")
        for token in (None, "wrong-token"):
            for method, path, body in (
                    ("GET", self.cpath(), None),
                    ("GET", self.cpath(cid), None),
                    ("PUT", self.cpath(other),
                     json.dumps({"secret": new_secret()})),
                    ("DELETE", self.cpath(cid), None)):
                with self.subTest(token=token, method=method, path=path):
                    st, h, data = self.http(method, path, body=body,
                                            token=token)
                    self.assertEqual(st, 401, data)
                    self.assertRegex(h.get("www-authenticate", ""),
                                     r"^Bearer")
                    self.assertNotIn(b"roles", data)
        self.api("GET", self.cpath(cid))
        self.api("GET", self.cpath(other), expect=404)

    def test_clients_api_unknown_client(self):
        """404 for GET and DELETE of a client that does not exist."""
        cid = unique("none-")
        self.api("GET", self.cpath(cid), expect=404)
        self.api("DELETE", self.cpath(cid), expect=404)

    # -- the token endpoint

    def test_token_with_curl_basic(self):
        """The document's `curl -s -u sensor-17:SECRET -d
        grant_type=client_credentials .../oauth/token`; "Answer (200,
        Cache-Control: no-store, Pragma: no-cache): {access_token,
        token_type: Bearer, expires_in, scope}"."""
        cid, secret = self.new_client(["device"])
        st, h, j = self.curl_token(cid, secret)
        self.assertEqual(st, 200, j)
        self.assertEqual(h.get("cache-control"), "no-store")
        self.assertEqual(h.get("pragma"), "no-cache")
        self.assertTrue(h.get("content-type", "").startswith(
            "application/json"))
        self.assertEqual(set(j), {"access_token", "token_type",
                                  "expires_in", "scope"})
        self.assertEqual(j["token_type"], "Bearer")
        self.assertEqual(j["expires_in"], self.TTL)
        self.assertEqual(j["scope"], "device")
        self.assertRegex(j["access_token"],
                         r"^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\."
                         r"[A-Za-z0-9_-]+$")

    def test_token_with_form_body_urllib(self):
        """"client_id and client_secret in the form body" (urllib, as a
        plain HTTP client would; also with a charset parameter)."""
        cid, secret = self.new_client(["device", "reader"])
        data = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": cid,
            "client_secret": secret}).encode()
        for ctype in (FORM, FORM + "; charset=UTF-8"):
            with self.subTest(content_type=ctype):
                req = urllib.request.Request(
                    self.admin + "/oauth/token", data=data,
                    headers={"Content-Type": ctype})
                with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.headers["Cache-Control"], "no-store")
                    self.assertEqual(r.headers["Pragma"], "no-cache")
                    j = json.loads(r.read())
                self.tokens.add(j["access_token"])
                self.assertEqual(j["token_type"], "Bearer")
                self.assertEqual(j["expires_in"], self.TTL)
                self.assertEqual(j["scope"], "device reader")
                self.assertEqual(self.verify(j["access_token"])[1]["sub"],
                                 cid)

    def test_token_verifies_against_jwks(self):
        """"The token: header alg and kid of the signing key; claims iss
        (jwt_issuer, or tern), sub, iat, exp, jti, scope (space-separated),
        the roles as an array under jwt_roles_claim, and aud = jwt_audience
        when one is configured" (none here)."""
        cid, secret = self.new_client(["device", "reader"])
        before = int(time.time())
        tok = self.get_token(cid, secret)["access_token"]
        after = int(time.time())
        header, claims = self.verify(tok)
        self.assertEqual(header["alg"], "ES256")
        self.assertEqual(header["kid"], self.jwks()["keys"][0]["kid"])
        self.assertEqual(claims["iss"], "tern")
        self.assertEqual(claims["sub"], cid)
        self.assertTrue(before - 1 <= claims["iat"] <= after + 1, claims)
        self.assertEqual(claims["scope"], "device reader")
        self.assertEqual(claims["roles"], ["device", "reader"])
        self.assertNotIn("aud", claims)
        self.assertIsInstance(claims["jti"], str)
        self.assertTrue(claims["jti"])
        # jti is unique per token
        tok2 = self.get_token(cid, secret, via="body")["access_token"]
        self.assertNotEqual(self.verify(tok2)[1]["jti"], claims["jti"])
        # a verification that can fail: a changed claim breaks it
        h, c, s = tok.split(".")
        forged = unverified(tok)[1]
        forged["roles"] = ["admin"]
        forged_tok = ".".join([h, base64.urlsafe_b64encode(json.dumps(
            forged).encode()).rstrip(b"=").decode(), s])
        with self.assertRaises(jwt.InvalidSignatureError):
            self.verify(forged_tok)

    def test_token_lifetime_is_the_ttl(self):
        """oauth_token_ttl 60: expires_in == 60 == exp - iat (the expiry
        itself is checked by the JWT provider; 60 s is not waited for)."""
        cid, secret = self.new_client()
        j = self.get_token(cid, secret)
        claims = self.verify(j["access_token"])[1]
        self.assertEqual(j["expires_in"], self.TTL)
        self.assertEqual(claims["exp"] - claims["iat"], self.TTL)
        self.assertTrue(claims["exp"] > time.time())

    def test_scope_subset(self):
        """"scope: space-separated roles, each one the client has; the
        token then carries only those. Without it, all the client's
        roles"."""
        cid, secret = self.new_client(["device", "reader"])
        for scope, want in (("reader", ["reader"]),
                            ("device", ["device"]),
                            ("reader device", ["device", "reader"]),
                            (None, ["device", "reader"])):
            with self.subTest(scope=scope):
                j = self.get_token(cid, secret, scope=scope)
                claims = self.verify(j["access_token"])[1]
                self.assertEqual(sorted(claims["roles"]), want)
                self.assertEqual(sorted(claims["scope"].split()), want)
                self.assertEqual(sorted(j["scope"].split()), want)

    def test_scope_with_a_role_the_client_lacks(self):
        """invalid_scope (400), by Basic and by body."""
        cid, secret = self.new_client(["device"])
        form = [("grant_type", "client_credentials"),
                ("scope", "device admin")]
        self.assert_oauth_error(
            self.token_request(form, auth=basic(cid, secret)),
            400, "invalid_scope")
        self.assert_oauth_error(
            self.token_request(form + [("client_id", cid),
                                       ("client_secret", secret)]),
            400, "invalid_scope")

    def test_invalid_request(self):
        """invalid_request (400): "not a form body, grant_type missing, a
        parameter repeated or badly encoded, both Basic and body
        credentials, a body client_id that differs from the Basic one"."""
        cid, secret = self.new_client()
        auth = basic(cid, secret)
        gt = ("grant_type", "client_credentials")
        cases = (
            ("JSON body", dict(body=json.dumps({
                "grant_type": "client_credentials"}),
                ctype="application/json", auth=auth)),
            ("no content type", dict(
                body="grant_type=client_credentials", ctype=None,
                auth=auth)),
            ("grant_type missing", dict(form=[("scope", "device")],
                                        auth=auth)),
            ("grant_type repeated", dict(form=[gt, gt], auth=auth)),
            ("scope repeated", dict(form=[gt, ("scope", "device"),
                                          ("scope", "device")],
                                    auth=auth)),
            ("client_id repeated", dict(form=[
                gt, ("client_id", cid), ("client_id", cid),
                ("client_secret", secret)])),
            ("badly encoded", dict(
                body="grant_type=client%ZZcredentials", auth=auth)),
            ("Basic and body secret", dict(
                form=[gt, ("client_secret", secret)], auth=auth)),
            ("Basic and body id and secret", dict(
                form=[gt, ("client_id", cid), ("client_secret", secret)],
                auth=auth)),
            ("body client_id differs from Basic", dict(
                form=[gt, ("client_id", cid + "x")], auth=auth)),
        )
        for name, kw in cases:
            with self.subTest(case=name):
                self.assert_oauth_error(self.token_request(**kw), 400,
                                        "invalid_request")
        # the same client id in the body as in Basic is fine
        st, _, j = self.token_request([gt, ("client_id", cid)], auth=auth)
        self.assertEqual(st, 200, j)

    def test_unsupported_grant_type(self):
        """unsupported_grant_type (400): anything but client_credentials."""
        cid, secret = self.new_client()
        for grant in ("password", "authorization_code", "refresh_token",
                      "Client_Credentials", ""):
            with self.subTest(grant_type=grant):
                self.assert_oauth_error(
                    self.token_request([("grant_type", grant)],
                                       auth=basic(cid, secret)),
                    400, "unsupported_grant_type")

    def test_invalid_client(self):
        """invalid_client (401, with WWW-Authenticate: Basic when Basic was
        used): unknown client, wrong secret, no credentials."""
        cid, secret = self.new_client()
        gt = ("grant_type", "client_credentials")
        wrong = new_secret()
        self.secrets.add(wrong)
        for name, kw, challenge in (
                ("Basic, unknown client", dict(
                    form=[gt], auth=basic(unique("nobody-"), secret)), True),
                ("Basic, wrong secret", dict(
                    form=[gt], auth=basic(cid, wrong)), True),
                ("body, unknown client", dict(form=[
                    gt, ("client_id", unique("nobody-")),
                    ("client_secret", secret)]), False),
                ("body, wrong secret", dict(form=[
                    gt, ("client_id", cid), ("client_secret", wrong)]),
                 False),
                ("body, id without secret", dict(form=[
                    gt, ("client_id", cid)]), False),
                ("no credentials", dict(form=[gt]), False)):
            with self.subTest(case=name):
                self.assert_oauth_error(self.token_request(**kw), 401,
                                        "invalid_client", challenge)

    def test_only_post(self):
        """"Only POST (405 otherwise)"."""
        for method in ("GET", "PUT", "DELETE"):
            with self.subTest(method=method):
                st, h, data = self.http(method, "/oauth/token", token=None)
                self.assertEqual(st, 405, data)
                self.assertIn("POST", h.get("allow", ""))

    def test_secret_with_reserved_characters(self):
        """A secret with characters that need encoding works in the body
        and with Basic encoded as RFC 6749 2.3.1 says."""
        cid, secret = unique("odd-"), "p@ss w0rd+/:%&=;\u00e9-long"
        self.put_client(cid, secret)
        self.get_token(cid, secret, via="body")
        self.get_token(cid, secret, via="basic")

    def test_longest_secret_in_the_body(self):
        """A 512-byte secret ("16 to 512 bytes") works with client_secret
        in the body."""
        cid, secret = unique("long-"), "L" * 500 + uuid.uuid4().hex[:12]
        self.put_client(cid, secret)
        self.get_token(cid, secret, via="body")

    # MISMATCH: SECURITY.md accepts secrets of up to 512 bytes and client
    # authentication with HTTP Basic, but the admin listener keeps at most
    # 512 bytes of the Authorization header (ADMIN_AUTH_MAX): a longer
    # header is dropped, so "Basic base64(id:secret)" works only while
    # id + secret are at most 377 bytes. A 512-byte secret with Basic gets
    # 401 invalid_client "no client authentication" (no WWW-Authenticate).
    def test_longest_secret_with_basic(self):
        cid, secret = unique("longb-"), "B" * 500 + uuid.uuid4().hex[:12]
        self.put_client(cid, secret)
        self.get_token(cid, secret, via="basic")

    # -- end to end: MQTT with the token, and the ACL

    def test_mosquitto_pub_with_the_token(self):
        """`mosquitto_pub -u sensor-17 -P "$TOKEN" -t devices/sensor-17/t`
        (3.1.1 and -V mqttv5); the ACL role device allows
        devices/%u/#."""
        reader = self.reader()
        cid, secret = self.new_client(["device"])
        st, _, j = self.curl_token(cid, secret)
        self.assertEqual(st, 200, j)
        tok = j["access_token"]
        for v in (4, 5):
            with self.subTest(version=v):
                topic = "devices/%s/t" % cid
                self.mosquitto_pub(topic, "21.5 v%d" % v, qos=1, version=v,
                                   args=["-u", cid, "-P", tok])
                m = reader.get()
                self.assertEqual((m.topic, m.payload),
                                 (topic, b"21.5 v%d" % v))

    def test_acl_allows_own_topic_refuses_others(self):
        """Publishing on devices/<client id>/... is allowed; elsewhere MQTT
        5 gets PUBACK 0x87 and nothing is delivered; paho 3.1.1 and v5
        connect with the token."""
        reader = self.reader()
        cid, secret = self.new_client(["device"])
        tok = self.get_token(cid, secret)["access_token"]
        c = self.raw_with_token(cid, tok, version=5)
        mine = "devices/%s/temp" % cid
        ack = c.publish(mine, b"ok", qos=1)
        self.assertEqual((ack.type, ack.rc), (PUBACK, 0))
        self.assertEqual(reader.get().topic, mine)
        for topic in ("devices/%s/temp" % unique("other-"), "other/x",
                      "devices/%sx/t" % cid):
            with self.subTest(topic=topic):
                ack = c.publish(topic, b"no", qos=1)
                self.assertEqual((ack.type, ack.rc),
                                 (PUBACK, NOT_AUTHORIZED))
        reader.assert_no_message()
        for v in (4, 5):
            with self.subTest(paho=v):
                p = self.paho(version=v)
                p.c.username_pw_set(cid, tok)
                p.connect()
                p.publish(mine, b"paho %d" % v, qos=1)
                m = reader.get()
                self.assertEqual((m.topic, m.payload),
                                 (mine, b"paho %d" % v))

    def test_scope_limits_what_the_token_may_do(self):
        """A token asked with scope=reader carries only reader: the client's
        device role does not apply to that connection."""
        cid, secret = self.new_client(["device", "reader"])
        tok = self.get_token(cid, secret, scope="reader")["access_token"]
        c = self.raw_with_token(cid, tok, version=5)
        ack = c.publish("devices/%s/t" % cid, b"x", qos=1)
        self.assertEqual(ack.rc, NOT_AUTHORIZED)
        self.assertEqual(c.subscribe([("devices/#", 1)]), [1])
        full = self.get_token(cid, secret)["access_token"]
        c2 = self.raw_with_token(cid, full, version=5)
        self.assertEqual(c2.publish("devices/%s/t" % cid, b"y",
                                    qos=1).rc, 0)

    # -- ternctl oauth-client

    def test_ternctl_add_list_del(self):
        """`ternctl oauth-client add ID --roles ...` without --secret
        prints a generated secret once; it works at /oauth/token; list
        shows the client; del removes it and its token requests are
        refused."""
        cid = unique("ctl-")
        rc, out, err = self.ternctl("oauth-client", "add", cid, "--roles",
                                    "device,reader")
        self.assertEqual(rc, 0, err)
        m = re.search(r"^secret: (\S+)$", out, re.M)
        self.assertTrue(m, out)
        secret = m.group(1)
        self.secrets.add(secret)
        self.assertRegex(secret, r"^[A-Za-z0-9_-]{43}$")  # 32 bytes
        self.assertEqual(out.count(secret), 1)
        self.assertIn("cannot be shown again", out)
        j = self.get_token(cid, secret)
        self.assertEqual(j["scope"], "device reader")
        st, _, j = self.curl_token(cid, secret)
        self.assertEqual(st, 200, j)
        # list: table and JSON, never the secret
        rc, out, err = self.ternctl("oauth-client", "list")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^CLIENT ID\s+ROLES$")
        self.assertRegex(out, r"(?m)^%s\s+device, reader$" % re.escape(cid))
        self.assertNotIn(secret, out)
        rc, out, err = self.ternctl("-o", "json", "oauth-client", "list")
        self.assertEqual(rc, 0, err)
        got = {c["client_id"]: c["roles"]
               for c in json.loads(out)["clients"]}
        self.assertEqual(got[cid], ["device", "reader"])
        rc, out, err = self.ternctl("oauth-client", "show", cid)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^roles\s+device, reader$")
        # del
        rc, out, err = self.ternctl("oauth-client", "del", cid)
        self.assertEqual(rc, 0, err)
        self.assertIn(cid, out)
        self.assert_oauth_error(
            self.token_request([("grant_type", "client_credentials")],
                               auth=basic(cid, secret)),
            401, "invalid_client", basic_challenge=True)
        rc, out, err = self.ternctl("oauth-client", "list")
        self.assertNotIn(cid, out)
        # not found: exit code 1, like the other commands' 404
        rc, out, err = self.ternctl("oauth-client", "del", cid)
        self.assertEqual(rc, 1, (out, err))
        self.assertIn(cid, err)
        rc, out, err = self.ternctl("oauth-client", "show", cid)
        self.assertEqual(rc, 1, (out, err))

    def test_ternctl_secret_from_stdin_and_json(self):
        """--secret - reads one line of standard input (never printed);
        -o json prints the answer, with "secret" only when ternctl made
        it."""
        cid, secret = unique("ctl-"), new_secret()
        self.secrets.add(secret)
        rc, out, err = self.ternctl("-o", "json", "oauth-client", "add",
                                    cid, "--secret", "-", "--roles",
                                    "device", stdin=secret + "\n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"client_id": cid,
                                           "roles": ["device"]})
        self.assertNotIn(secret, out + err)
        self.assertEqual(self.get_token(cid, secret)["scope"], "device")
        # --secret S on the command line
        s2 = new_secret()
        self.secrets.add(s2)
        rc, out, err = self.ternctl("oauth-client", "add", cid, "--secret",
                                    s2)
        self.assertEqual(rc, 0, err)
        self.assertNotIn(s2, out)
        self.assertEqual(self.get_token(cid, s2)["scope"], "")
        # generated, as JSON
        rc, out, err = self.ternctl("-o", "json", "oauth-client", "add",
                                    cid, "--roles", "reader")
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        self.secrets.add(j["secret"])
        self.assertEqual((j["client_id"], j["roles"]), (cid, ["reader"]))
        self.assertIn("cannot be shown again", err)
        self.assertEqual(self.get_token(cid, j["secret"])["scope"],
                         "reader")
        rc, out, err = self.ternctl("-o", "json", "oauth-client", "del", cid)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["client_id"], cid)

    def test_ternctl_usage_and_errors(self):
        """Usage errors are exit code 2, a refused token 4, a node error
        (400) 1; nothing is written."""
        cid = unique("ctl-")
        for args, stdin in (
                (("oauth-client", "add", cid, "--secret", "short"), None),
                (("oauth-client", "add", cid, "--secret", "-"), "short\n"),
                (("oauth-client", "add", cid, "--secret", "-"), ""),
                (("oauth-client", "add", cid, "--roles", "a,,b"), None),
                (("oauth-client", "add", cid, "--roles", "a,"), None),
                (("oauth-client", "add"), None),
                (("oauth-client", "list", "--roles", "a"), None),
                (("oauth-client", "del", cid, "--secret", "x" * 20), None),
                (("oauth-client", "frobnicate", cid), None)):
            with self.subTest(args=args):
                rc, out, err = self.ternctl(*args, stdin=stdin)
                self.assertEqual(rc, 2, (out, err))
                self.assertTrue(err)
        rc, out, err = self.ternctl("oauth-client", "list", token=None)
        self.assertEqual(rc, 4, (out, err))
        rc, out, err = self.ternctl("oauth-client", "add", cid, "--roles",
                                    "has space")
        self.assertEqual(rc, 1, (out, err))
        rc, out, err = self.ternctl("oauth-client", "add", "bad:id")
        self.assertEqual(rc, 1, (out, err))
        self.assertEqual(re.findall(r"^secret:", out, re.M), [])
        self.api("GET", self.cpath(cid), expect=404)

    # -- audit

    def test_audit_lines(self):
        """"Every token request is logged (audit: OAuth token for client
        "sensor-17" from 10.0.0.7: issued), and every client change (audit:
        OAuth client "sensor-17" written)"; deletes too. tearDown checks
        that no secret or token is in the log."""
        cid, secret = self.new_client(["device"])
        self.wait_log(r'audit: OAuth client "%s" written' % re.escape(cid))
        self.get_token(cid, secret)
        self.wait_log(r'audit: OAuth token for client "%s" from '
                      r'127\.0\.0\.1: issued' % re.escape(cid))
        wrong = new_secret()
        self.secrets.add(wrong)
        self.token_request([("grant_type", "client_credentials")],
                           auth=basic(cid, wrong))
        self.wait_log(r'audit: OAuth token for client "%s" from '
                      r'127\.0\.0\.1: (?!issued)\S+' % re.escape(cid))
        self.token_request([("grant_type", "client_credentials"),
                            ("scope", "nope")], auth=basic(cid, secret))
        self.wait_log(r'audit: OAuth token for client "%s" from '
                      r'127\.0\.0\.1: .*scope' % re.escape(cid))
        self.api("DELETE", self.cpath(cid))
        self.wait_log(r'audit: OAuth client "%s" deleted' % re.escape(cid))

    # MISMATCH: "Every token request is logged". Requests that ternd
    # refuses before the secret check are not: invalid_request,
    # unsupported_grant_type and invalid_client for missing credentials
    # (and 503 without a store) produce no audit line at all; only the
    # requests that reach the secret check (issued, invalid_client for an
    # unknown client or wrong secret, invalid_scope) are logged.
    def test_every_token_request_is_logged(self):
        cid, secret = self.new_client()
        gt = ("grant_type", "client_credentials")
        for name, kw in (
                ("unsupported_grant_type", dict(
                    form=[("grant_type", "password")],
                    auth=basic(cid, secret))),
                ("invalid_request", dict(form=[gt, gt],
                                         auth=basic(cid, secret))),
                ("invalid_client without secret", dict(
                    form=[gt, ("client_id", cid)]))):
            with self.subTest(case=name):
                before = self.broker.read_log().count(
                    'OAuth token for client "%s"' % cid)
                self.token_request(**kw)
                self.assertTrue(wait_until(
                    lambda: self.broker.read_log().count(
                        'OAuth token for client "%s"' % cid) > before,
                    1), "no audit line for %s" % name)


# ---------------------------------------------------------------------------
# RS256, issuer, audience, other claim names


class RsaTests(OAuthCase):
    """RSA 2048 key (RS256); jwt_issuer and jwt_audience set,
    jwt_username_claim preferred_username, jwt_roles_claim groups; the
    default oauth_token_ttl (3600)."""

    key_type = "rsa"
    alg = "RS256"
    audience = AUDIENCE
    more = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE,
            "jwt_username_claim": "preferred_username",
            "jwt_roles_claim": "groups"}

    def test_jwks_rsa(self):
        keys = self.jwks()["keys"]
        self.assertEqual(len(keys), 1, keys)
        k = keys[0]
        self.assertEqual((k["kty"], k["use"], k["alg"]),
                         ("RSA", "sig", "RS256"))
        self.assertTrue(k["kid"])
        self.assertTrue(k["n"] and k["e"])
        for private in ("d", "p", "q", "dp", "dq", "qi"):
            self.assertNotIn(private, k)
        self.assertEqual(len(b64u_decode(k["n"])), 256)  # 2048 bits

    def test_token_rs256_claims(self):
        """iss = jwt_issuer, aud = jwt_audience, sub also under
        jwt_username_claim, the roles under jwt_roles_claim; expires_in
        = the default oauth_token_ttl 3600 = exp - iat."""
        cid, secret = self.new_client(["device", "reader"])
        st, h, j = self.curl_token(cid, secret)
        self.assertEqual(st, 200, j)
        self.assertEqual(j["expires_in"], 3600)
        header, claims = self.verify(j["access_token"])
        self.assertEqual(header["alg"], "RS256")
        self.assertEqual(header["kid"], self.jwks()["keys"][0]["kid"])
        self.assertEqual(claims["iss"], ISSUER)
        self.assertIn(AUDIENCE, claims["aud"] if isinstance(
            claims["aud"], list) else [claims["aud"]])
        self.assertEqual(claims["sub"], cid)
        self.assertEqual(claims["preferred_username"], cid)
        self.assertEqual(claims["groups"], ["device", "reader"])
        self.assertEqual(claims["scope"], "device reader")
        self.assertEqual(claims["exp"] - claims["iat"], 3600)

    def test_mqtt_with_rs256_token(self):
        """The RS256 token connects (mosquitto_pub -V mqttv5, RawClient
        3.1.1) and its groups are the ACL roles."""
        reader = self.reader()
        cid, secret = self.new_client(["device"])
        tok = self.get_token(cid, secret)["access_token"]
        topic = "devices/%s/t" % cid
        self.mosquitto_pub(topic, "rsa", qos=1, version=5,
                           args=["-u", cid, "-P", tok])
        self.assertEqual(reader.get().payload, b"rsa")
        c = self.raw_with_token(cid, tok, version=5)
        self.assertEqual(c.publish("elsewhere/t", b"no", qos=1).rc,
                         NOT_AUTHORIZED)
        c3 = self.raw_with_token(cid, tok, version=4)
        c3.publish(topic, b"v311", qos=1)
        self.assertEqual(reader.get().payload, b"v311")


# ---------------------------------------------------------------------------
# A dotted roles claim


class DottedRolesTests(OAuthCase):
    """jwt_roles_claim realm_access.roles (a dotted path, which the JWT
    provider reads as nested objects)."""

    more = {"jwt_roles_claim": "realm_access.roles"}

    # MISMATCH: "the roles as an array under jwt_roles_claim". With a
    # dotted jwt_roles_claim ternd puts no roles claim in the token at all
    # (only the scope string), so claims["realm_access"] is missing.
    def test_roles_under_the_dotted_claim(self):
        cid, secret = self.new_client(["device"])
        claims = self.verify(self.get_token(cid, secret)["access_token"])[1]
        self.assertEqual(claims["scope"], "device")
        self.assertEqual(claims.get("realm_access", {}).get("roles"),
                         ["device"])

    # MISMATCH (the consequence of the above): the token's roles never
    # reach the ACL, so a device token from Tern's own endpoint may not
    # publish on devices/%u/#: PUBACK 0x87 instead of 0.
    def test_dotted_claim_roles_reach_the_acl(self):
        cid, secret = self.new_client(["device"])
        tok = self.get_token(cid, secret)["access_token"]
        c = self.raw_with_token(cid, tok, version=5)
        self.assertEqual(c.publish("devices/%s/t" % cid, b"x", qos=1).rc, 0)


# ---------------------------------------------------------------------------
# No store


class NoStoreTests(OAuthCase):
    """durability none: "for the OAuth clients, a store (durability
    process-crash or power-loss)"; "503 temporarily_unavailable without a
    store"; the clients API answers 409."""

    acl = False
    more = {"durability": "none"}

    def test_token_endpoint_is_503(self):
        gt = ("grant_type", "client_credentials")
        secret = new_secret()
        self.secrets.add(secret)
        for name, kw in (
                ("Basic", dict(form=[gt], auth=basic("dev-1", secret))),
                ("body", dict(form=[gt, ("client_id", "dev-1"),
                                    ("client_secret", secret)]))):
            with self.subTest(auth=name):
                self.assert_oauth_error(self.token_request(**kw), 503,
                                        "temporarily_unavailable")

    def test_clients_api_is_409(self):
        for method, path, body in (
                ("GET", self.cpath(), None),
                ("GET", self.cpath("dev-1"), None),
                ("PUT", self.cpath("dev-1"),
                 {"secret": new_secret(), "roles": ["device"]}),
                ("DELETE", self.cpath("dev-1"), None)):
            with self.subTest(method=method, path=path):
                j = self.api(method, path, body, expect=409)
                self.assertIn("error", j)

    def test_ternctl_reports_the_node_error(self):
        rc, out, err = self.ternctl("oauth-client", "list")
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("durability", err)
        rc, out, err = self.ternctl("oauth-client", "add", "dev-1")
        self.assertEqual(rc, 1, (out, err))
        self.assertNotIn("secret:", out)

    def test_jwks_still_published(self):
        self.assertEqual(self.jwks()["keys"][0]["alg"], "ES256")


# ---------------------------------------------------------------------------
# Signing-key rotation


class RotationTests(OAuthCase):
    """"Key rotation: write the new key over oauth_signing_key and send
    SIGHUP. New tokens are signed with the new key (its own kid); the
    previous public key stays in /.well-known/jwks.json, and tokens signed
    with it keep connecting, until the last of them expired." P-256 key,
    oauth_token_ttl 60, jwt_leeway 0 (so the old key goes 60 s after the
    rotation)."""

    more = {"oauth_token_ttl": 60, "jwt_leeway": 0, "auth_fail_burst": 0}
    acl = False

    def sighup(self):
        self.broker.proc.send_signal(signal.SIGHUP)

    def kids(self):
        return [k.get("kid") for k in self.jwks()["keys"]]

    def test_rotation(self):
        cid, secret = self.new_client()
        a = self.get_token(cid, secret)["access_token"]
        kid_a = unverified(a)[0]["kid"]
        self.assertEqual(self.kids(), [kid_a])
        self.raw_with_token(cid, a).disconnect()

        # a new key file (written aside, renamed over the old one) + HUP
        new = make_key(tempfile.mkdtemp(dir=self.tmp), "ec")
        os.replace(new, self.key_path)
        self.sighup()
        self.assertTrue(wait_until(lambda: len(self.kids()) == 2),
                        self.kids())
        self.assertIn(kid_a, self.kids())
        b = self.get_token(cid, secret)["access_token"]
        kid_b = unverified(b)[0]["kid"]
        self.assertNotEqual(kid_a, kid_b)
        self.assertEqual(sorted(self.kids()), sorted([kid_a, kid_b]))
        # both verify against the published set, both connect
        self.verify(a)
        self.verify(b)
        self.raw_with_token(cid, a).disconnect()
        self.raw_with_token(cid, b, version=4).disconnect()

        # a broken key file keeps the current key, and says why
        before = len(self.broker.read_log())
        with open(self.key_path, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                    "-----END PRIVATE KEY-----\n")
        self.sighup()
        self.assertTrue(wait_until(lambda: re.search(
            r" ERROR .*oauth_signing_key.*%s" % re.escape(self.key_path),
            self.broker.read_log()[before:])), self.broker.read_log()[before:])
        c = self.get_token(cid, secret)["access_token"]
        self.assertEqual(unverified(c)[0]["kid"], kid_b)
        self.assertEqual(sorted(self.kids()), sorted([kid_a, kid_b]))

        # A expires 60 s after it was issued: then its key goes
        self.assertTrue(wait_until(lambda: self.kids() == [kid_b],
                                   timeout=80, interval=0.5), self.kids())
        r = self.raw()
        ack = r.connect(unique("m"), version=5, username=cid,
                        password=a.encode(), expect_rc=None)
        self.assertEqual(ack.rc, 0x86)
        # (c may have expired by now too: a fresh token of the new key)
        d = self.get_token(cid, secret)["access_token"]
        self.assertEqual(unverified(d)[0]["kid"], kid_b)
        self.raw_with_token(cid, d).disconnect()
        self.wait_log(r"OAuth: key %s retired" % kid_a)


# ---------------------------------------------------------------------------
# Configuration errors


class StartupTests(unittest.TestCase):
    """"oauth_signing_key: PEM private key", "oauth_token_ttl: seconds
    (60..86400)": anything else stops ternd at start."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tern-oauth-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.key = make_key(cls.tmp, "ec")

    def run_ternd(self, *args):
        try:
            return subprocess.run(
                [tern.TERND, "--data-dir", os.path.join(self.tmp, "data"),
                 "--admin-listen", "127.0.0.1:0",
                 "--listen", "mqtt://127.0.0.1:0"] + list(args),
                capture_output=True, stdin=subprocess.DEVNULL, timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("ternd started with %r" % (args,))

    def assert_refused(self, *args, naming=None):
        r = self.run_ternd(*args)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertNotEqual(r.returncode, 0, out)
        if naming:
            self.assertIn(naming, out)
        for marker in tern.SANITIZER_MARKERS:
            self.assertNotIn(marker, out)

    def test_ttl_out_of_range(self):
        for ttl in ("59", "86401", "0"):
            with self.subTest(ttl=ttl):
                self.assert_refused("--oauth-signing-key", self.key,
                                    "--set", "oauth_token_ttl=" + ttl,
                                    naming="oauth_token_ttl")

    def test_public_key_cannot_sign(self):
        pub = os.path.join(self.tmp, "pub.pem")
        subprocess.run(["openssl", "pkey", "-in", self.key, "-pubout",
                        "-out", pub], check=True, capture_output=True,
                       timeout=30)
        self.assert_refused("--oauth-signing-key", pub, naming=pub)

    def test_missing_key_file(self):
        p = os.path.join(self.tmp, "missing.pem")
        self.assert_refused("--oauth-signing-key", p, naming=p)


if __name__ == "__main__":
    unittest.main()
