"""MQTT over TLS (mqtts://) and mutual TLS.

MQTT 5.0 section 5.4.9 and MQTT 3.1.1 section 5.4.9 (Transport Layer
Security) are informative: the server may use TLS, authenticate itself with
its certificate and authenticate clients with theirs (5.0 section 5.4.1 and
4.12 mention certificates as an authentication means). The rest of what is
checked here is ternd's own contract (docs/TRANSPORTS.md): ALPN "mqtt",
minimum version, certificate reload on SIGHUP, handshake failures logged
with OpenSSL's reason and counted, the connect timeout as handshake timeout.

Every broker here has two listeners: mqtt://127.0.0.1:0 (the harness's, at
broker.ports[0]) and mqtts://127.0.0.1:0 (broker.ports[1]).
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import types
import unittest
import urllib.request

import tern
from certs import Pki
from tern import (CONNACK, RawClient, TernTestCase, build_connect,
                  build_subscribe, read_text, unique, wait_until,
                  worker_of)

PKI = None


def setUpModule():
    global PKI
    PKI = Pki()


def tearDownModule():
    if PKI is not None:
        PKI.cleanup()


FAILED = "TLS handshake failed"


def client_context(cert=None, key=None, ca=None, min_version=None,
                   max_version=None, alpn=None):
    """A client SSLContext that verifies the server against `ca` (default:
    the test CA) and host name 127.0.0.1."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # a close without close_notify must show (SSLEOFError), not pass as EOF
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    ctx.load_verify_locations(ca or PKI.ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class TlsRawClient(RawClient):
    """RawClient over TLS: the handshake runs in the constructor (bounded
    by the socket timeout) and raises ssl.SSLError if it fails. A TLS error
    or reset while reading counts as the connection being closed."""

    def __init__(self, host, port, ctx, timeout=tern.TIMEOUT):
        super().__init__(host, port, timeout=timeout)
        raw = self.sock
        try:
            # ragged EOFs (a close without close_notify) raise SSLEOFError
            self.sock = ctx.wrap_socket(raw, server_hostname=host,
                                        suppress_ragged_eofs=False)
        except BaseException:
            raw.close()
            self.sock = None
            raise
        self.tls_error = None

    def _fill(self, deadline):
        try:
            return super()._fill(deadline)
        except ssl.SSLError as e:
            self.tls_error = e
            self.closed = True
            raise tern.ConnectionClosed() from None

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (ssl.SSLError, OSError) as e:
            self.tls_error = e
            raise tern.ConnectionClosed() from None


class TlsCase(TernTestCase):
    """A broker with mqtt:// and mqtts:// listeners and the test server
    certificate. Subclasses add settings in `tls`."""

    workers = 2
    tls = {}
    base = {}

    def setUp(self):
        self.settings = dict(self.base)
        self.settings.update(tls_cert=PKI.server_cert,
                             tls_key=PKI.server_key, admin_listen="")
        self.settings.update(self.tls)
        self.extra_args = ["--listen", "mqtts://127.0.0.1:0"]
        super().setUp()

    @property
    def tls_port(self):
        return self.broker.ports[1]

    @property
    def tls_broker(self):
        """What the Paho and mosquitto helpers need to reach the TLS
        listener (they read host and port)."""
        return types.SimpleNamespace(host=self.broker.host,
                                     port=self.tls_port)

    def tls_raw(self, ctx=None, **kw):
        c = TlsRawClient(self.broker.host, self.tls_port,
                         ctx or client_context(**kw))
        self.addCleanup(c.close)
        return c

    def tls_connected(self, ctx=None, client_id=None, version=5, **kw):
        c = self.tls_raw(ctx, **kw)
        c.connect(client_id or unique("tls"), version=version)
        return c

    def tls_paho(self, version=5, cert=None, key=None, client_id=None):
        p = tern.Paho(self.tls_broker, client_id or unique("ptls"),
                      version=version)
        p.c.tls_set(ca_certs=PKI.ca, certfile=cert, keyfile=key)
        self.addCleanup(p.close)
        return p

    def refused(self, ctx):
        """Tries a TLS handshake then CONNECT/CONNACK with ctx. Returns the
        error text if the broker refused (handshake error, alert or close
        before CONNACK); fails the test if the client got in."""
        try:
            c = TlsRawClient(self.broker.host, self.tls_port, ctx)
        except (ssl.SSLError, OSError) as e:
            return str(e) or type(e).__name__
        try:
            # TLS 1.3: the server checks the client certificate after the
            # client has finished its side, so a refusal arrives as an
            # alert on the first read
            c.send(build_connect(unique("refused"), version=4))
            try:
                p = c.recv_packet(tern.TIMEOUT)
            except tern.ConnectionClosed:
                return str(c.tls_error or "closed")
            except socket.timeout:
                self.fail("no CONNACK and no close within %.1f s"
                          % tern.TIMEOUT)
            self.fail("refused client got %r" % p)
        finally:
            c.close()

    def failures_logged(self):
        return self.broker.read_log().count(FAILED)

    def wait_log(self, text, count=1, timeout=tern.TIMEOUT):
        ok = wait_until(lambda: self.broker.read_log().count(text) >= count,
                        timeout)
        self.assertTrue(ok, "%r (x%d) not in the log:\n%s" % (
            text, count, self.broker.read_log()[-3000:]))

    def assert_tls_serves(self, **kw):
        """A fresh TLS client (kw: client_context arguments) connects,
        subscribes and gets its own message back."""
        c = self.tls_connected(**kw)
        topic = unique("tls/alive/")
        c.subscribe([(topic, 1)])
        c.publish(topic, b"ping", qos=1)
        self.assertEqual(c.expect_publish().payload, b"ping")
        c.disconnect()


# ---------------------------------------------------------------------------


class TlsServerTests(TlsCase):
    """Server authentication only (tls_client_cert: none)."""

    def test_mqtt_5_4_9_server_presents_its_certificate(self):
        """[MQTT 5.0 5.4.9] the client verifies the server's chain and name
        (127.0.0.1): the configured certificate is served; a client that
        trusts another CA refuses it."""
        c = self.tls_raw()
        subject = dict(x[0] for x in c.sock.getpeercert()["subject"])
        self.assertEqual(subject["commonName"], "ternd-test")
        c.connect(unique("v"), version=5)
        with self.assertRaises(ssl.SSLCertVerificationError):
            TlsRawClient(self.broker.host, self.tls_port,
                         client_context(ca=PKI.other_ca))
        self.assert_tls_serves()

    def test_mosquitto_clients_publish_and_receive_over_mqtts(self):
        """mosquitto_sub and mosquitto_pub with --cafile (server verified)
        exchange QoS 0, 1 and 2 messages over TLS."""
        tls = ["-p", str(self.tls_port), "--cafile", PKI.ca]
        topic = unique("mosq/")
        sub = self.mosquitto_sub(topic, qos=2, args=tls).ready()
        for qos in (0, 1, 2):
            self.mosquitto_pub(topic, "over tls %d" % qos, qos=qos,
                               args=tls)
        got = sorted(m[3] for m in sub.messages(3))
        self.assertEqual(got, [b"over tls 0", b"over tls 1", b"over tls 2"])
        self.assertIn("TLS handshake done", self.broker.read_log())

    def test_paho_v311_and_v5_over_tls(self):
        """paho 3.1.1 and 5.0 clients (tls_set with the CA) subscribe and
        publish to each other over TLS."""
        topic = unique("paho/")
        subs = {v: self.tls_paho(version=v) for v in (4, 5)}
        for s in subs.values():
            s.connect()
            self.assertEqual(s.subscribe(topic, 1), [1])
        for v in (4, 5):
            pub = self.tls_paho(version=v)
            pub.connect()
            pub.publish(topic, b"v%d over tls" % v, qos=1)
            pub.disconnect()
        for v, s in subs.items():
            got = sorted(m.payload for m in s.collect(2))
            self.assertEqual(got, [b"v4 over tls", b"v5 over tls"],
                             "subscriber v%d" % v)

    def test_tls_1_2_and_1_3_both_accepted(self):
        """With tls_min_version 1.2 (the default) both TLS 1.2 and 1.3
        clients get in."""
        for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                              (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            with self.subTest(version=name):
                c = self.tls_raw(min_version=version, max_version=version)
                self.assertEqual(c.sock.version(), name)
                c.connect(unique("ver"), version=4)
                c.ping()
                c.disconnect()

    def test_alpn_mqtt_selected_when_offered(self):
        """A client offering ALPN "mqtt" (alone or among others) gets it;
        a client offering no ALPN is served too."""
        for offer in (["mqtt"], ["x-other", "mqtt"], None):
            with self.subTest(offer=offer):
                c = self.tls_raw(alpn=offer)
                self.assertEqual(c.sock.selected_alpn_protocol(),
                                 "mqtt" if offer else None)
                c.connect(unique("alpn"), version=5)
                c.disconnect()

    def test_alpn_without_mqtt_refused(self):
        """A client that offers ALPN but not "mqtt" fails the handshake
        (no_application_protocol); it is logged and counted, and the broker
        keeps serving."""
        err = self.refused(client_context(alpn=["http/1.1"]))
        self.assertIn("APPLICATION_PROTOCOL", err.upper().replace(" ", "_"))
        self.wait_log('client offered ALPN without "mqtt"')
        self.assertEqual(self.failures_logged(), 1)
        self.assert_tls_serves(alpn=["mqtt"])

    def test_plaintext_mqtt_connect_on_tls_port_closed(self):
        """A plain MQTT CONNECT sent to the TLS listener: no CONNACK, the
        connection is closed, the failure is logged; both listeners keep
        serving."""
        s = socket.create_connection((self.broker.host, self.tls_port),
                                     timeout=tern.TIMEOUT)
        try:
            s.sendall(build_connect(unique("plain"), version=4))
            data = b""
            while True:
                chunk = s.recv(4096)  # bounded by the socket timeout
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        finally:
            s.close()
        self.assertFalse(data.startswith(bytes([CONNACK << 4])), data)
        self.wait_log("plaintext MQTT CONNECT on a TLS listener")
        self.assertEqual(self.failures_logged(), 1)
        self.assert_broker_serves()
        self.assert_tls_serves()

    def test_mixed_listeners_tls_and_plain_exchange(self):
        """One ternd with mqtt:// and mqtts://: a message published over
        TLS reaches a plain TCP subscriber and vice versa."""
        topic = unique("mixed/")
        plain_sub = self.raw_connected(version=5)
        plain_sub.subscribe([(topic + "/from-tls", 1)])
        tls_sub = self.tls_connected(version=4)
        tls_sub.subscribe([(topic + "/from-plain", 1)])
        tls_pub = self.tls_connected(version=5)
        tls_pub.publish(topic + "/from-tls", b"secure", qos=1)
        plain_pub = self.raw_connected(version=4)
        plain_pub.publish(topic + "/from-plain", b"clear", qos=1)
        self.assertEqual(plain_sub.expect_publish().payload, b"secure")
        self.assertEqual(tls_sub.expect_publish().payload, b"clear")

    def test_tls_sessions_handed_to_their_worker(self):
        """With 2 workers a CONNECT is handed to the worker that owns the
        client id, TLS state and all; bytes pipelined right after the
        CONNECT (SUBSCRIBE in the same write, or in the next TLS record)
        are not lost on the way."""
        if self.workers != 2:
            self.skipTest("needs 2 workers")
        for i in range(12):
            worker = i % 2
            cid = tern.id_on_worker("ho", worker, 2)
            topic = unique("ho/")
            c = self.tls_raw()
            c.version = 5
            connect = build_connect(cid, version=5)
            sub = build_subscribe(1, [(topic, 1)], version=5)
            if i % 4 < 2:
                c.send(connect + sub)  # one TLS record
            else:
                c.send(connect)        # two records, likely one read
                c.send(sub)
            self.assertEqual(c.expect(CONNACK).rc, 0)
            self.assertEqual(c.expect_ack(tern.SUBACK, 1).codes, [1])
            c.publish(topic, b"back %d" % i, qos=1)
            self.assertEqual(c.expect_publish().payload, b"back %d" % i)
            c.disconnect()
            self.assertEqual(worker_of(cid, 2), worker)

    def test_server_close_ends_tls_with_close_notify(self):
        """When the broker closes an MQTT 5 connection (here: session
        takeover, DISCONNECT 0x8E) it ends the TLS stream with close_notify
        after the DISCONNECT, not with a bare TCP close."""
        cid = unique("takeover")
        old = self.tls_connected(client_id=cid, version=5)
        self.tls_connected(client_id=cid, version=5)
        got = old.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got],
                         [(tern.DISCONNECT, 0x8E)])
        self.assertIsNone(old.tls_error)

    def test_client_close_notify_without_disconnect_is_abnormal(self):
        """A client that ends TLS (close_notify) without DISCONNECT gets
        close_notify back, and its will is published (abnormal close,
        MQTT 5.0 section 3.1.2.5)."""
        topic = unique("will/")
        watcher = self.raw_connected(version=5)
        watcher.subscribe([(topic, 0)])
        c = self.tls_raw()
        c.connect(unique("willer"), version=5,
                  will=dict(topic=topic, payload=b"gone", qos=0))
        plain = c.sock.unwrap()  # sends close_notify, waits for ours
        plain.close()
        c.sock = None
        self.assertEqual(watcher.expect_publish().payload, b"gone")
        self.wait_log("TLS close_notify, closing")

    def test_large_messages_over_tls(self):
        """Payloads larger than a TLS record (16 KiB) and than the write
        chunk (64 KiB) go through intact both ways."""
        topic = unique("big/")
        sub = self.tls_connected(version=5)
        sub.subscribe([(topic, 1)])
        pub = self.tls_connected(version=4)
        for size in (100, 20000, 300000):
            payload = os.urandom(size)
            pub.publish(topic, payload, qos=1)
            got = sub.expect_publish(timeout=10)
            self.assertEqual(len(got.payload), size)
            self.assertEqual(got.payload, payload)


class TlsServerOneWorkerTests(TlsServerTests):
    """The same on a single worker (no hand-off)."""
    workers = 1


class TlsMetricsTests(TlsCase):
    tls = {"admin_listen": "127.0.0.1:0"}

    def metric(self, url, name):
        with urllib.request.urlopen(url + "/metrics", timeout=tern.TIMEOUT) \
                as r:
            text = r.read().decode()
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        self.fail("%s not in /metrics:\n%s" % (name, text[-2000:]))

    def test_handshake_failures_counted_in_metrics(self):
        """Each failed handshake moves tern_tls_handshake_failures_total
        (the worker counter tls_handshake_failures); a good handshake does
        not."""
        lines = read_text(os.path.join(self.broker.dir, "port"))
        admin = [l.split()[1] for l in lines.splitlines()
                 if l.startswith("admin ")]
        if not admin:
            self.skipTest("this build has no admin HTTP listener")
        name = "tern_tls_handshake_failures_total"
        before = self.metric(admin[0], name)
        self.refused(client_context(alpn=["http/1.1"]))
        self.refused(client_context(max_version=ssl.TLSVersion.TLSv1_2,
                                    ca=PKI.other_ca))
        self.assert_tls_serves()
        self.wait_log(FAILED, 2)
        self.assertEqual(self.metric(admin[0], name), before + 2)


class TlsTimeoutTests(TlsCase):
    base = {"connect_timeout_ms": 500}

    def test_handshake_timeout_is_the_connect_timeout(self):
        """A TCP connection to the TLS port that sends nothing, or stops in
        the middle of a ClientHello, is closed after connect_timeout_ms
        (checked on the 1 s tick)."""
        for prefix in (b"", b"\x16\x03\x01\x00\xc8\x01"):
            with self.subTest(prefix=prefix):
                s = socket.create_connection(
                    (self.broker.host, self.tls_port), timeout=0.3)
                try:
                    if prefix:
                        s.sendall(prefix)
                    start = time.monotonic()
                    with self.assertRaises(socket.timeout):
                        s.recv(1)  # still open well before the deadline
                    s.settimeout(8)
                    try:
                        data = s.recv(1)
                    except ConnectionResetError:
                        data = b""
                    self.assertEqual(data, b"")
                    # closed, not left open (a loaded machine is slow)
                    self.assertLess(time.monotonic() - start, 8)
                finally:
                    s.close()
        self.wait_log("no CONNECT within 500 ms", 2)
        self.assert_tls_serves()


class TlsMinVersion13Tests(TlsCase):
    tls = {"tls_min_version": "1.3"}

    def test_min_version_1_3_refuses_tls_1_2_client(self):
        """tls_min_version 1.3: a client limited to TLS 1.2 is refused
        (protocol_version alert), logged and counted; TLS 1.3 works."""
        err = self.refused(client_context(
            max_version=ssl.TLSVersion.TLSv1_2))
        self.assertIn("VERSION", err.upper())
        self.wait_log(FAILED)
        c = self.tls_raw()
        self.assertEqual(c.sock.version(), "TLSv1.3")
        c.connect(unique("v13"), version=5)


class MutualTlsTests(TlsCase):
    """tls_client_cert: required with tls_ca and a CRL."""

    def setUp(self):
        self.tls = dict(tls_client_cert="required", tls_ca=PKI.ca,
                        tls_crl=PKI.crl, tls_username_from="cn")
        super().setUp()

    def good(self):
        return client_context(cert=PKI.client_cert, key=PKI.client_key)

    def test_mqtt_5_4_9_client_with_valid_certificate_connects(self):
        """[MQTT 5.0 5.4.1, 5.4.9] a client certificate signed by tls_ca
        authenticates the client at the TLS layer; with
        tls_username_from=cn the subject CN is taken as its username
        (logged at debug)."""
        c = self.tls_connected(self.good(), version=5)
        c.ping()
        self.wait_log("username from the certificate's cn: device-1")
        self.assertEqual(self.failures_logged(), 0)

    def test_paho_and_mosquitto_with_client_certificates(self):
        """paho (tls_set certfile/keyfile) and mosquitto_pub (--cert/--key)
        get in with the device certificate."""
        topic = unique("mtls/")
        sub = self.tls_paho(version=5, cert=PKI.client_cert,
                            key=PKI.client_key)
        sub.connect()
        sub.subscribe(topic, 1)
        self.mosquitto_pub(topic, "from mosquitto", qos=1, args=[
            "-p", str(self.tls_port), "--cafile", PKI.ca,
            "--cert", PKI.client_cert, "--key", PKI.client_key])
        self.assertEqual(sub.get().payload, b"from mosquitto")

    def check_refused(self, ctx, reason):
        before = self.failures_logged()
        self.refused(ctx)
        self.wait_log(FAILED, before + 1)
        log = self.broker.read_log()
        self.assertIn(reason, log)
        # the broker keeps serving: a good client gets in right after
        self.assert_tls_serves(cert=PKI.client_cert, key=PKI.client_key)
        self.assertEqual(self.failures_logged(), before + 1)

    def test_client_without_certificate_refused(self):
        self.check_refused(client_context(),
                           "peer did not return a certificate")

    def test_expired_certificate_refused(self):
        self.check_refused(
            client_context(cert=PKI.expired_cert, key=PKI.expired_key),
            "client certificate rejected: certificate has expired "
            "(depth 0, subject CN=device-expired)")

    def test_certificate_from_another_ca_refused(self):
        self.check_refused(
            client_context(cert=PKI.other_cert, key=PKI.other_key),
            "client certificate rejected: unable to get local issuer "
            "certificate")

    def test_revoked_certificate_refused(self):
        self.check_refused(
            client_context(cert=PKI.revoked_cert, key=PKI.revoked_key),
            "client certificate rejected: certificate revoked")

    def test_every_refusal_counted_over_tls_1_2_and_1_3(self):
        """The four refusals over TLS 1.2 and over TLS 1.3: eight logged
        failures; the broker serves throughout."""
        bad = [(None, None), (PKI.expired_cert, PKI.expired_key),
               (PKI.other_cert, PKI.other_key),
               (PKI.revoked_cert, PKI.revoked_key)]
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            for cert, key in bad:
                self.refused(client_context(cert=cert, key=key,
                                            min_version=v, max_version=v))
        self.wait_log(FAILED, 8)
        self.assert_tls_serves(cert=PKI.client_cert, key=PKI.client_key)
        self.assertEqual(self.failures_logged(), 8)


class OptionalClientCertTests(TlsCase):
    """tls_client_cert: optional (verified if presented)."""

    def setUp(self):
        self.tls = dict(tls_client_cert="optional", tls_ca=PKI.ca,
                        tls_username_from="san")
        super().setUp()

    def test_connects_with_or_without_certificate(self):
        self.tls_connected(client_context(), version=4).ping()
        self.tls_connected(client_context(cert=PKI.client_cert,
                                          key=PKI.client_key),
                           version=5).ping()
        self.wait_log("username from the certificate's san: "
                      "device-1.example")
        self.assertEqual(self.failures_logged(), 0)

    def test_presented_certificate_is_still_verified(self):
        """A certificate that is presented must be valid: an expired one is
        refused even though none is required."""
        self.refused(client_context(cert=PKI.expired_cert,
                                    key=PKI.expired_key))
        self.wait_log("certificate has expired")
        self.assert_tls_serves()


class TlsReloadTests(TlsCase):
    """SIGHUP reloads the certificate and key files."""

    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="tern-tls-reload-")
        self.addCleanup(shutil.rmtree, self.files, True)
        self.cert = os.path.join(self.files, "server.pem")
        self.key = os.path.join(self.files, "server.key")
        shutil.copy(PKI.server_cert, self.cert)
        shutil.copy(PKI.server_key, self.key)
        self.tls = dict(tls_cert=self.cert, tls_key=self.key)
        super().setUp()

    def served_cn(self):
        c = self.tls_raw()
        try:
            subject = dict(x[0] for x in c.sock.getpeercert()["subject"])
            return subject["commonName"]
        finally:
            c.close()

    def replace(self, cert, key):
        # write then rename, as a deployment tool would
        for src, dst in ((cert, self.cert), (key, self.key)):
            shutil.copy(src, dst + ".new")
            os.replace(dst + ".new", dst)

    def sighup(self):
        self.broker.proc.send_signal(signal.SIGHUP)

    def test_sighup_serves_new_certificate_old_connection_keeps_working(self):
        self.assertEqual(self.served_cn(), "ternd-test")
        old = self.tls_connected(version=5)
        topic = unique("reload/")
        old.subscribe([(topic, 1)])
        cert2, key2 = PKI.server_pair("ternd-reloaded")
        self.replace(cert2, key2)
        self.sighup()
        self.wait_log("TLS reloaded: certificate %s (subject "
                      "CN=ternd-reloaded" % self.cert)
        self.assertEqual(self.served_cn(), "ternd-reloaded")
        # the connection opened before the reload still works both ways
        new = self.tls_connected(version=4)
        new.publish(topic, b"after reload", qos=1)
        self.assertEqual(old.expect_publish().payload, b"after reload")
        old.publish(topic, b"old still sends", qos=1)
        self.assertEqual(old.expect_publish().payload, b"old still sends")

    def test_sighup_with_broken_key_keeps_old_context(self):
        with open(self.key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n"
                    "-----END PRIVATE KEY-----\n")
        self.sighup()
        self.wait_log("TLS reload failed")
        log = self.broker.read_log()
        self.assertIn("tls_key %s:" % self.key, log)
        self.assertEqual(self.served_cn(), "ternd-test")
        self.assert_tls_serves()
        # a certificate that does not match the key: refused the same way
        cert2, _ = PKI.server_pair("ternd-mismatch")
        shutil.copy(PKI.server_key, self.key)
        shutil.copy(cert2, self.cert)
        self.sighup()
        self.wait_log("TLS reload failed", 2)
        self.assertIn("does not match tls_cert", self.broker.read_log())
        self.assertEqual(self.served_cn(), "ternd-test")


class TlsConfigTests(unittest.TestCase):
    """Bad TLS configuration: ternd exits non-zero naming the problem."""

    def run_ternd(self, *args):
        d = tempfile.mkdtemp(prefix="ternd-tls-cfg-")
        self.addCleanup(shutil.rmtree, d, True)
        cmd = [tern.TERND, "--listen", "mqtt://127.0.0.1:0",
               "--listen", "mqtts://127.0.0.1:0",
               "--data-dir", os.path.join(d, "data"),
               "--set", "admin_listen=", "--workers", "1"] + list(args)
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=20)
        out = r.stdout.decode(errors="replace")
        for marker in tern.SANITIZER_MARKERS:
            self.assertNotIn(marker, out)
        self.assertNotEqual(r.returncode, 0, out)
        return out

    def test_missing_certificate_file_named(self):
        out = self.run_ternd("--tls-cert", "/nonexistent/server.pem",
                             "--tls-key", PKI.server_key)
        self.assertIn("tls_cert /nonexistent/server.pem", out)
        self.assertIn("No such file or directory", out)

    def test_bad_pem_and_wrong_key_named(self):
        d = tempfile.mkdtemp(prefix="ternd-tls-pem-")
        self.addCleanup(shutil.rmtree, d, True)
        junk = os.path.join(d, "junk.pem")
        with open(junk, "w") as f:
            f.write("hello, not PEM\n")
        out = self.run_ternd("--tls-cert", junk, "--tls-key",
                             PKI.server_key)
        self.assertIn("tls_cert %s" % junk, out)
        out = self.run_ternd("--tls-cert", PKI.server_cert, "--tls-key",
                             PKI.client_key)
        self.assertIn("tls_key %s does not match tls_cert %s"
                      % (PKI.client_key, PKI.server_cert), out)
        out = self.run_ternd("--tls-cert", PKI.server_cert, "--tls-key",
                             PKI.server_key, "--tls-ca", junk,
                             "--set", "tls_client_cert=required")
        self.assertIn("tls_ca %s" % junk, out)
        out = self.run_ternd("--tls-cert", PKI.server_cert, "--tls-key",
                             PKI.server_key, "--tls-ca", PKI.ca,
                             "--set", "tls_client_cert=required",
                             "--set", "tls_crl=%s" % junk)
        self.assertIn("tls_crl %s: no valid PEM CRL" % junk, out)
        out = self.run_ternd("--tls-cert", PKI.server_cert, "--tls-key",
                             PKI.server_key, "--set",
                             "tls_ciphers=NO-SUCH-CIPHER")
        self.assertIn('tls_ciphers "NO-SUCH-CIPHER"', out)

    def test_tls_listener_without_certificate_refused(self):
        out = self.run_ternd()
        self.assertIn("listener mqtts://127.0.0.1:0 needs TLS: set tls_cert "
                      "and tls_key", out)

    def test_required_client_certificates_need_tls_ca(self):
        out = self.run_ternd("--tls-cert", PKI.server_cert, "--tls-key",
                             PKI.server_key, "--set",
                             "tls_client_cert=required")
        self.assertIn("tls_client_cert: required needs tls_ca", out)


if __name__ == "__main__":
    tern.main()
