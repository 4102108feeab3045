"""JWT keys from a URL (docs/SECURITY.md, "JWK set from a URL"): jwks_url,
jwks_refresh, jwks_timeout_ms, jwks_ca_file.

A local HTTP server (http.server in a thread, 127.0.0.1, a free port) and
an HTTPS one (certificates from certs.py) serve a JWK set the test
changes. Tokens come from PyJWT (jwt_keys.py), clients are RawClient
(exact CONNACK codes), paho and mosquitto_pub.

  UrlTests     one broker per test (jwks_refresh set per test)
  HttpsTests   the JWK set over HTTPS: the test CA, and a wrong one
"""

import http.server
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import certs
import jwt_keys as K
import tern
from tern import (CONNACK, Broker, TernTestCase, build_connect, unique,
                  wait_until)

V5_OK = 0
V5_BAD_USER_OR_PASSWORD = 0x86
V5_SERVER_UNAVAILABLE = 0x88
V3_BAD_USER_OR_PASSWORD = 4
V3_SERVER_UNAVAILABLE = 3

# one RSA key and one P-256 key for every test (key generation is slow)
RSA1 = K.gen_rsa()
RSA2 = K.gen_rsa()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class JwksServer:
    """Serves self.body (bytes) with self.status at any path; counts the
    requests. stop() closes the port (connections are refused), start()
    opens it again on the same port."""

    def __init__(self, port=None, tls=None):
        self.port = port or free_port()
        self.tls = tls  # (cert, key) or None
        self.body = b'{"keys": []}'
        self.status = 200
        self.delay = 0.0  # seconds before each answer
        self.requests = 0
        self.lock = threading.Lock()
        self.httpd = None
        self.thread = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d/jwks.json" % (
            "https" if self.tls else "http", self.port)

    def serve(self, *keys, status=200, body=None):
        """keys: (key, kid, alg) tuples; or a raw body."""
        with self.lock:
            self.body = body if body is not None else \
                K.jwks(*keys).encode()
            self.status = status

    def count(self):
        with self.lock:
            return self.requests

    def start(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with outer.lock:
                    outer.requests += 1
                    body, status = outer.body, outer.status
                    delay = outer.delay
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1",
                                                      self.port), Handler)
        self.httpd.daemon_threads = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                                server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(5)
            self.httpd = None


def token(key, kid, sub="dev1", alg="RS256", ttl=300):
    return K.sign(key, alg, K.claims(sub=sub, ttl=ttl), kid=kid)


class JwksCase(TernTestCase):
    """Helpers. Each test starts its broker with start(server, **settings)
    (setUp starts none)."""

    def setUp(self):
        pass  # no broker until the test has its server

    def start(self, server, **settings):
        s = {"jwks_url": server.url, "jwks_refresh": 60,
             "jwks_timeout_ms": 2000, "auth_fail_burst": 0}
        s.update(settings)
        self.broker = Broker(settings=s)
        self.broker.start()
        self.addCleanup(self.broker.stop)
        return self.broker

    def server(self, **kw):
        srv = JwksServer(**kw)
        self.addCleanup(srv.stop)
        return srv

    def connack(self, tok, version=5, sub="dev1"):
        """CONNACK code of a CONNECT with tok as the password."""
        c = self.raw()
        ack = c.connect(unique("j"), version=version, username=sub,
                        password=tok.encode(), expect_rc=None,
                        timeout=10)
        return ack.rc

    def metrics(self):
        url = self.broker.admin_url() + "/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def metric(self, name, default=0):
        return self.metrics().get(name, default)

    def fetches(self, result):
        return self.metric('tern_jwks_fetch_total{result="%s"}' % result)


class UrlTests(JwksCase):

    def test_token_with_a_key_from_the_url_connects(self):
        """The key set is fetched at start; a token signed with one of its
        keys connects (mosquitto_pub -P, paho, RawClient 3.1.1 and 5)."""
        srv = self.server().start()
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv)
        self.assertTrue(wait_until(lambda: self.fetches("ok") >= 1))
        self.assertEqual(self.metric("tern_jwks_keys"), 1)
        tok = token(RSA1, "k1")
        self.assertEqual(self.connack(tok, 5), V5_OK)
        self.assertEqual(self.connack(tok, 4), V5_OK)
        tern.mosquitto_pub(self.broker, unique("t/"), "x", version=5,
                           args=["-u", "dev1", "-P", tok])
        tern.mosquitto_pub(self.broker, unique("t/"), "x", version=4,
                           args=["-u", "dev1", "-P", tok])
        p = self.paho()
        p.c.username_pw_set("dev1", tok)
        p.connect()
        p.disconnect()

    def test_new_kid_is_fetched_at_once(self):
        """Rotation at the IdP: a token with a new kid makes the node fetch
        the set again while its CONNECT waits, and connects (jwks_refresh
        60 s: only that fetch can explain it). A kid still unknown after
        the fetch is refused (0x86); another unknown kid within 30 s is
        refused without a fetch."""
        srv = self.server().start()
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv)
        # the start-up fetch is over (not just asked for)
        self.assertTrue(wait_until(lambda: self.fetches("ok") >= 1))
        self.assertEqual(self.connack(token(RSA1, "k1")), V5_OK)
        srv.serve((RSA1, "k1", "RS256"), (RSA2, "k2", "RS256"))
        before = srv.count()
        self.assertEqual(self.connack(token(RSA2, "k2")), V5_OK)
        self.assertEqual(srv.count(), before + 1)
        # the first unknown kid was the one above: within 30 s, no fetch
        self.assertEqual(self.connack(token(RSA2, "k9")),
                         V5_BAD_USER_OR_PASSWORD)
        self.assertEqual(self.connack(token(RSA2, "k8"), 4),
                         V3_BAD_USER_OR_PASSWORD)
        self.assertEqual(srv.count(), before + 1)

    def test_burst_of_new_kid_connects_share_one_fetch(self):
        """Ten CONNECTs with a new kid arrive while the IdP takes 1 s to
        answer: one fetch serves them all (per worker one held CONNECT
        runs it in the thread pool, the others follow it), and every one
        connects."""
        srv = self.server().start()
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv)
        self.assertTrue(wait_until(lambda: self.fetches("ok") >= 1))
        self.assertEqual(self.connack(token(RSA1, "k1")), V5_OK)
        srv.serve((RSA1, "k1", "RS256"), (RSA2, "k2", "RS256"))
        srv.delay = 1.0
        before = srv.count()
        clients = []
        for i in range(10):
            c = self.raw()
            c.send(build_connect(unique("b"), 5, username="dev1",
                                 password=token(RSA2, "k2").encode()))
            clients.append(c)
        for c in clients:
            self.assertEqual(c.expect(CONNACK, 10).rc, V5_OK)
        self.assertEqual(srv.count(), before + 1)

    def test_reauth_with_a_new_kid_waits_for_the_fetch(self):
        """[MQTT5-4.12.1] an MQTT 5 client re-authenticating (AUTH 0x19,
        method JWT) with a token of a key the IdP just rotated in: the
        node fetches the set while the AUTH waits, then answers AUTH 0x00;
        the session carries on."""
        srv = self.server().start()
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv)
        self.assertTrue(wait_until(lambda: self.fetches("ok") >= 1))
        c = self.raw()
        c.connect(unique("ra"), version=5, props=[
            (tern.AUTH_METHOD, "JWT"),
            (tern.AUTH_DATA, token(RSA1, "k1").encode())])
        topic = unique("ra/")
        self.assertEqual(c.subscribe([(topic, 1)]), [1])
        srv.serve((RSA1, "k1", "RS256"), (RSA2, "k2", "RS256"))
        before = srv.count()
        c.send(tern.build_auth(0x19, "JWT", token(RSA2, "k2").encode()))
        p = c.expect(tern.AUTH, 10)
        self.assertEqual((p.rc, p.props.get(tern.AUTH_METHOD)), (0, "JWT"))
        self.assertEqual(srv.count(), before + 1)
        c.publish(topic, b"still here", qos=1, pid=9)
        got = c.expect_publish()
        self.assertEqual(got.payload, b"still here")

    def test_unknown_kid_after_refresh_refused(self):
        """A kid the fetched set still lacks is refused with 0x86 (not
        0x88: the IdP answered)."""
        srv = self.server().start()
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv)
        # the start-up fetch is over (not just asked for)
        self.assertTrue(wait_until(lambda: self.fetches("ok") >= 1))
        before = srv.count()
        self.assertEqual(self.connack(token(RSA2, "nope")),
                         V5_BAD_USER_OR_PASSWORD)
        self.assertEqual(srv.count(), before + 1)
        self.assertIn("after a refresh of the JWK set",
                      self.broker.read_log())

    def test_pinning_rules_stay(self):
        """alg none and HS256 keyed with the RSA public key, both naming a
        kid from the URL, are refused."""
        srv = self.server().start()
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv)
        # the start-up fetch is over (not just asked for)
        self.assertTrue(wait_until(lambda: self.fetches("ok") >= 1))
        payload = K.claims(sub="dev1")
        none = K.craft({"alg": "none", "kid": "k1"}, payload, signature=b"")
        none = none[:-1] if none.endswith(".") else none
        hs = K.craft({"alg": "HS256", "typ": "JWT", "kid": "k1"}, payload,
                     K.hs256_signer(K.public_pem(RSA1)))
        for tok in (none + ".", hs):
            with self.subTest(tok=tok[:20]):
                self.assertEqual(self.connack(tok), V5_BAD_USER_OR_PASSWORD)

    def test_removed_key_stops_working_after_a_refresh(self):
        """A key removed from the served set stops working once the node
        fetched the set again (jwks_refresh 1 s)."""
        srv = self.server().start()
        srv.serve((RSA1, "k1", "RS256"), (RSA2, "k2", "RS256"))
        self.start(srv, jwks_refresh=1)
        # the start-up fetch is over (not just asked for)
        self.assertTrue(wait_until(lambda: self.fetches("ok") >= 1))
        tok1 = token(RSA1, "k1")
        self.assertEqual(self.connack(tok1), V5_OK)
        srv.serve((RSA2, "k2", "RS256"))
        self.assertTrue(wait_until(
            lambda: self.connack(tok1) == V5_BAD_USER_OR_PASSWORD,
            timeout=10, interval=0.3))
        self.assertEqual(self.connack(token(RSA2, "k2")), V5_OK)

    def test_periodic_refresh_without_connect(self):
        """With no CONNECT at all, the set is fetched every jwks_refresh
        seconds and a change is picked up (tern_jwks_keys)."""
        srv = self.server().start()
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv, jwks_refresh=1)
        self.assertTrue(wait_until(lambda: self.metric("tern_jwks_keys") == 1))
        srv.serve((RSA1, "k1", "RS256"), (RSA2, "k2", "RS256"))
        self.assertTrue(wait_until(lambda: self.metric("tern_jwks_keys") == 2,
                                   timeout=10))
        self.assertGreaterEqual(srv.count(), 2)
        self.assertEqual(self.connack(token(RSA2, "k2")), V5_OK)

    def test_server_down_at_start(self):
        """The node starts without the IdP; a JWT CONNECT whose kid is
        unknown gets 0x88 (MQTT 5) / 3 (3.1.1), the failure is logged once
        per streak, and the token works once the server is up."""
        srv = self.server()  # not started: its port refuses
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv, jwks_refresh=1)
        tok = token(RSA1, "k1")
        self.assertEqual(self.connack(tok, 5), V5_SERVER_UNAVAILABLE)
        self.assertEqual(self.connack(tok, 4), V3_SERVER_UNAVAILABLE)
        self.assertTrue(wait_until(lambda: self.broker.read_log().count(
            "JWKS: fetch failed again") >= 2, timeout=10))
        self.assertEqual(self.broker.read_log().count(
            "JWKS: fetch failed:"), 1)
        self.assertGreaterEqual(self.fetches("unreachable"), 3)
        srv.start()
        self.assertTrue(wait_until(lambda: self.connack(tok) == V5_OK,
                                   timeout=10, interval=0.3))
        self.assertTrue(self.broker.alive())

    def test_bad_answers_keep_the_old_keys(self):
        """An oversized, a malformed and an HTTP error answer each keep the
        previous keys (and are counted by result)."""
        srv = self.server().start()
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv, jwks_refresh=1)
        self.assertTrue(wait_until(lambda: self.fetches("ok") >= 1))
        tok = token(RSA1, "k1")
        big = b'{"keys": [' + b" " * (2 * 1024 * 1024) + b"]}"
        for body, status, result in ((big, 200, "too_large"),
                                     (b'{"keys": [', 200, "malformed"),
                                     (b'{"keys": []}', 200, "malformed"),
                                     (b"nope", 404, "http_error")):
            with self.subTest(result=result, status=status):
                n = self.fetches(result)
                srv.serve(body=body, status=status)
                self.assertTrue(wait_until(
                    lambda: self.fetches(result) > n, timeout=10))
                self.assertEqual(self.connack(tok), V5_OK)
        self.assertEqual(self.metric("tern_jwks_keys"), 1)

    def test_bad_url_stops_ternd(self):
        """jwks_url must be http:// or https://."""
        tmp = tempfile.mkdtemp(prefix="tern-jwks-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for url in ("ftp://127.0.0.1/x", "file:///etc/passwd", "http://"):
            with self.subTest(url=url):
                r = subprocess.run(
                    [tern.TERND, "--data-dir", os.path.join(tmp, "d"),
                     "--listen", "mqtt://127.0.0.1:0", "--admin-listen",
                     "127.0.0.1:0", "--jwks-url", url],
                    capture_output=True, stdin=subprocess.DEVNULL,
                    timeout=10)
                out = (r.stdout + r.stderr).decode(errors="replace")
                self.assertNotEqual(r.returncode, 0, out)
                self.assertIn("jwks_url", out)


class HttpsTests(JwksCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = certs.Pki()
        cls.addClassCleanup(cls.pki.cleanup)

    def test_https_with_the_test_ca(self):
        srv = self.server(tls=(self.pki.server_cert,
                               self.pki.server_key)).start()
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv, jwks_ca_file=self.pki.ca)
        self.assertTrue(wait_until(lambda: self.fetches("ok") >= 1))
        self.assertEqual(self.connack(token(RSA1, "k1")), V5_OK)

    def test_https_with_a_wrong_ca_refused(self):
        """The server's certificate does not verify against jwks_ca_file:
        no key is ever loaded and JWT CONNECTs get 0x88."""
        srv = self.server(tls=(self.pki.server_cert,
                               self.pki.server_key)).start()
        srv.serve((RSA1, "k1", "RS256"))
        self.start(srv, jwks_ca_file=self.pki.other_ca)
        self.assertTrue(wait_until(lambda: self.fetches("unreachable") >= 1))
        self.assertEqual(self.fetches("ok"), 0)
        self.assertEqual(self.connack(token(RSA1, "k1")),
                         V5_SERVER_UNAVAILABLE)


if __name__ == "__main__":
    unittest.main()
