"""The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2) on
listeners behind a load balancer: `?proxy=v1|v2|any` on a listener URL.

The broker of ProxyTests has the harness's plain mqtt:// listener
(broker.ports[0]) and four proxy listeners: mqtt:// with v1, v2 and any, and
ws:// with any. A RawClient writes the header the balancer would, then MQTT
(or the WebSocket upgrade, with test_ws's WsClient); the admin API shows the
peer ternd took from the header, /metrics counts the connections refused.
TlsProxyTests put the header in front of TLS (mqtts://, wss://: three
layers of protocol on one stream).

The contract checked here is docs/TRANSPORTS.md, section PROXY protocol.

Run: TERND=build-proxy/ternd /usr/bin/python3 test_proxy.py
"""

import http.client
import json
import re
import socket
import ssl
import struct
import subprocess
import time
import unittest
import urllib.parse

import tern
from certs import Pki
from tern import (CONNACK, SUBACK, Broker, ConnectionClosed, RawClient,
                  TernTestCase, build_connect, build_subscribe, id_on_worker,
                  unique, wait_until)
from test_ws import WsClient, new_key, upgrade_request

TOKEN = "t"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PLAIN, V1, V2, ANY, WS = range(5)  # index in broker.ports
PROXY_ARGS = ["--listen", "mqtt://127.0.0.1:0?proxy=v1",
              "--listen", "mqtt://127.0.0.1:0?proxy=v2",
              "--listen", "mqtt://127.0.0.1:0?proxy=any",
              "--listen", "ws://127.0.0.1:0?proxy=any",
              "--admin-token", TOKEN]
FAILURES = "tern_proxy_failures_total"


def v1(src="203.0.113.7", dst="10.0.0.1", sport=54321, dport=1883,
       fam=None):
    """A v1 header line; fam defaults to TCP6 for IPv6 addresses."""
    fam = fam or ("TCP6" if ":" in src else "TCP4")
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport,
                                           dport)).encode()


def v2(src="203.0.113.7", dst="10.0.0.1", sport=54321, dport=1883,
       local=False, tlvs=b"", fam=None):
    """A v2 header: PROXY (or LOCAL) over TCP4/TCP6 from the addresses,
    then the TLVs (type, value) given."""
    af = socket.AF_INET6 if ":" in src else socket.AF_INET
    addrs = socket.inet_pton(af, src) + socket.inet_pton(af, dst) + \
        struct.pack("!HH", sport, dport)
    if fam is None:
        fam = 0x21 if af == socket.AF_INET6 else 0x11
    tail = b"".join(struct.pack("!BH", t, len(v)) + v for t, v in tlvs)
    body = addrs + tail
    return V2_SIG + bytes([0x20 if local else 0x21, fam]) + \
        struct.pack("!H", len(body)) + body


def metrics_text(broker):
    u = urllib.parse.urlparse(broker.admin_url())
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=tern.TIMEOUT)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read().decode()
        if r.status != 200:
            raise AssertionError("GET /metrics: %d %s" % (r.status, body))
        return body
    finally:
        c.close()


def metric(broker, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), metrics_text(broker),
                  re.M)
    if not m:
        raise AssertionError("no %s in /metrics" % name)
    return int(m.group(1))


def peer_of(broker, client_id):
    """The peer the admin API shows for a connected client."""
    u = urllib.parse.urlparse(broker.admin_url())
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=tern.TIMEOUT)
    try:
        c.request("GET", "/api/v1/clients?filter=" +
                  urllib.parse.quote(client_id, safe=""),
                  headers={"Authorization": "Bearer " + TOKEN})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise AssertionError("GET /api/v1/clients: %d %r"
                                 % (r.status, body))
    finally:
        c.close()
    for cl in json.loads(body)["clients"]:
        if cl["client_id"] == client_id:
            return cl.get("peer")
    raise AssertionError("%s not in /api/v1/clients: %s"
                         % (client_id, body[:500]))


class ProxyCase(TernTestCase):
    extra_args = PROXY_ARGS

    def client(self, listener):
        c = RawClient(tern.HOST, self.broker.ports[listener])
        self.addCleanup(c.close)
        return c

    def proxied(self, listener, header, client_id=None, version=4):
        """Header and CONNECT in one segment; returns the connected
        client (CONNACK checked)."""
        c = self.client(listener)
        c.version = version
        cid = client_id or unique("px")
        c.send(header + build_connect(cid, version))
        c.expect(CONNACK)
        c.client_id = cid
        return c

    def assert_refused(self, listener, data):
        """data on the listener: closed with no answer at all."""
        c = self.client(listener)
        c.send_quiet(data)
        self.assertEqual(c.wait_closed(), [], data[:40])

    def ws(self):
        c = WsClient(self.broker.ports[WS])
        self.addCleanup(c.close)
        return c


class ProxyTests(ProxyCase):

    def test_v1_tcp4_tcp6_peer_from_header(self):
        """v1: the header and CONNECT in one segment, or the CONNECT
        later; CONNACK; the admin API shows the header's source address
        (IPv6 in brackets), on both workers (CONNECT hand-off)."""
        for worker in (0, 1):
            with self.subTest(worker=worker):
                c = self.proxied(V1, v1(), id_on_worker("v1a", worker))
                self.assertEqual(peer_of(self.broker, c.client_id),
                                 "203.0.113.7:54321")
                c = self.proxied(V1, v1("2001:db8::7", "2001:db8::1", 443,
                                        8883),
                                 id_on_worker("v1b", worker), version=5)
                self.assertEqual(peer_of(self.broker, c.client_id),
                                 "[2001:db8::7]:443")
                cid = id_on_worker("v1c", worker)
                c = self.client(V1)
                c.send(v1("198.51.100.9", sport=1))
                time.sleep(0.05)
                c.connect(cid)
                self.assertEqual(peer_of(self.broker, cid),
                                 "198.51.100.9:1")

    def test_v2_tcp4_tcp6_tlvs_peer_from_header(self):
        """v2: TCP over IPv4 and IPv6, with and without TLVs (skipped);
        on both workers."""
        tlvs = [(0x04, b"pad"), (0x05, b"unique-id-1"), (0x01, b"mqtt")]
        for worker in (0, 1):
            with self.subTest(worker=worker):
                c = self.proxied(V2, v2(), id_on_worker("v2a", worker))
                self.assertEqual(peer_of(self.broker, c.client_id),
                                 "203.0.113.7:54321")
                c = self.proxied(V2, v2("2001:db8::7", "2001:db8::1", 443,
                                        8883, tlvs=tlvs),
                                 id_on_worker("v2b", worker), version=5)
                self.assertEqual(peer_of(self.broker, c.client_id),
                                 "[2001:db8::7]:443")
                c = self.proxied(V2, v2("192.0.2.44", sport=65535,
                                        tlvs=tlvs),
                                 id_on_worker("v2c", worker))
                self.assertEqual(peer_of(self.broker, c.client_id),
                                 "192.0.2.44:65535")

    def test_any_takes_both_versions(self):
        """?proxy=any tells v1 from v2 by the first byte."""
        a = self.proxied(ANY, v1("192.0.2.1", sport=1111))
        b = self.proxied(ANY, v2("192.0.2.2", sport=2222))
        self.assertEqual(peer_of(self.broker, a.client_id), "192.0.2.1:1111")
        self.assertEqual(peer_of(self.broker, b.client_id), "192.0.2.2:2222")

    def test_header_split_byte_by_byte(self):
        """A header that arrives one byte per segment is put together
        (then CONNECT in a segment of its own)."""
        for header, want in ((v1("192.0.2.7", sport=7),
                              "192.0.2.7:7"),
                             (v2("2001:db8::70", "2001:db8::1", 70, 1,
                                 tlvs=[(0x04, b"x" * 300)]),
                              "[2001:db8::70]:70")):
            with self.subTest(header=header[:12]):
                c = self.client(ANY)
                for i in range(len(header)):
                    c.send(header[i:i + 1])
                    if i % 16 == 0:
                        time.sleep(0.002)
                time.sleep(0.05)
                cid = unique("split")
                c.connect(cid)
                self.assertEqual(peer_of(self.broker, cid), want)

    def test_local_and_unknown_keep_socket_address(self):
        """v2 LOCAL (a balancer's health check) and v1 UNKNOWN: the
        connection is served with the socket's own peer address."""
        for listener, header in ((V2, v2(local=True)),
                                 (V2, V2_SIG + b"\x20\x00\x00\x00"),
                                 (V2, v2(fam=0x12)),   # UDP: fallback
                                 (V1, b"PROXY UNKNOWN\r\n"),
                                 (V1, b"PROXY UNKNOWN ::1 ::1 1 2\r\n")):
            with self.subTest(header=header):
                c = self.proxied(listener, header)
                self.assertRegex(peer_of(self.broker, c.client_id),
                                 r"^127\.0\.0\.1:[0-9]+$")

    def test_traffic_after_the_header(self):
        """Everything after the header is plain MQTT both ways: packets
        sent with the header, a 300 KiB message to a proxied subscriber,
        a proxied publisher to a plain subscriber."""
        topic = unique("px/")
        plain = self.client(PLAIN)
        plain.connect(unique("plain"))
        plain.subscribe([(topic + "/up", 1)])

        sub = self.client(V2)
        cid = unique("sub")
        sub.send(v2() + build_connect(cid, 4) +
                 build_subscribe(1, [(topic + "/down", 1)]))
        sub.expect(CONNACK)
        sub.expect(SUBACK)

        big = bytes(range(256)) * 1200
        plain.publish(topic + "/down", big, qos=1)
        p = sub.expect_publish()
        self.assertEqual((p.topic, p.payload), (topic + "/down", big))

        pub = self.proxied(V1, v1())
        pub.publish(topic + "/up", b"hello", qos=1)
        p = plain.expect_publish()
        self.assertEqual((p.topic, p.payload), (topic + "/up", b"hello"))

    def test_missing_or_bad_header_closed_and_counted(self):
        """No header (a plain CONNECT), the other version, garbage, an
        oversized v2 length: closed without an answer, each counted in
        tern_proxy_failures_total and logged at INFO with the socket's
        peer."""
        before = metric(self.broker, FAILURES)
        cases = [(V1, build_connect(unique("np"), 4)),
                 (V2, build_connect(unique("np"), 5)),
                 (ANY, build_connect(unique("np"), 4)),
                 (V1, v2()),
                 (V2, v1()),
                 (V1, b"PROXY TCP4 203.0.113.7 10.0.0.1 54321\r\n"),
                 (V1, b"PROXY TCP4 203.0.113.7 10.0.0.1 54321 1883\n"),
                 (V1, b"PROXY UNKNOWN " + b"x" * 120),
                 (V2, V2_SIG + b"\x21\x11\x08\x01" + b"\0" * 100),
                 (V2, V2_SIG + b"\x23\x11\x00\x0c" + b"\0" * 12)]
        for listener, data in cases:
            with self.subTest(data=data[:20]):
                self.assert_refused(listener, data)
        self.assertTrue(wait_until(
            lambda: metric(self.broker, FAILURES) == before + len(cases)),
            metric(self.broker, FAILURES))
        log = self.broker.read_log()
        self.assertRegex(log, r"127\.0\.0\.1:[0-9]+: proxy: malformed "
                              r"packet, closing")

    def test_mosquitto_on_plain_and_proxy_listeners(self):
        """mosquitto_pub on the plain listener works as before and reaches
        a proxied subscriber; on a proxy listener (no header) it is
        refused and counted."""
        topic = unique("mosq/")
        sub = self.proxied(V1, v1())
        sub.subscribe([(topic, 0)])
        self.mosquitto_pub(topic, "from-mosquitto")
        p = sub.expect_publish()
        self.assertEqual(p.payload, b"from-mosquitto")

        before = metric(self.broker, FAILURES)
        r = subprocess.run(
            ["mosquitto_pub", "-h", tern.HOST, "-p",
             str(self.broker.ports[V2]), "-t", topic, "-m", "x", "-V",
             "mqttv311"], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        self.assertNotEqual(r.returncode, 0, r)
        self.assertTrue(wait_until(
            lambda: metric(self.broker, FAILURES) == before + 1))
        sub.assert_nothing()

    def test_ws_after_the_header(self):
        """ws:// with ?proxy=any: the header, then the HTTP upgrade (in a
        segment of its own, or in the header's), then MQTT in frames; the
        peer is the header's. No header: refused and counted, no HTTP
        answer."""
        c = self.ws()
        c.sock.sendall(v1("192.0.2.80", sport=8080))
        c.upgrade()
        c.connect("ws-v1")
        self.assertEqual(peer_of(self.broker, "ws-v1"), "192.0.2.80:8080")

        c = self.ws()
        key = new_key()
        c.sock.sendall(v2("2001:db8::80", "2001:db8::1", 80, 8080) +
                       upgrade_request(key=key))
        self.assertEqual(c.read_response().status, 101)
        c.connect("ws-v2", version=5)
        self.assertEqual(peer_of(self.broker, "ws-v2"), "[2001:db8::80]:80")

        before = metric(self.broker, FAILURES)
        c = self.ws()
        c.sock.sendall(upgrade_request(key=new_key()))
        with self.assertRaises(ConnectionClosed):
            c.read_response()
        self.assertTrue(wait_until(
            lambda: metric(self.broker, FAILURES) == before + 1))


class ProxyTimeoutTests(ProxyCase):
    settings = {"connect_timeout_ms": 300}

    def test_incomplete_header_closed_by_connect_timeout(self):
        """A header that never ends is closed by connect_timeout_ms; that
        is not counted as a bad header."""
        before = metric(self.broker, FAILURES)
        c = self.client(V1)
        c.send(b"PROXY TCP4 192.0.2.1 ")
        t0 = time.monotonic()
        self.assertEqual(c.wait_closed(timeout=5), [])
        self.assertLess(time.monotonic() - t0, 6)  # not left open
        self.assertEqual(metric(self.broker, FAILURES), before)


PKI = None


def setUpModule():
    global PKI
    PKI = Pki()


def tearDownModule():
    if PKI is not None:
        PKI.cleanup()


class TlsProxyTests(ProxyCase):
    """The header in front of TLS: mqtts:// with v2, wss:// with v1 (the
    PROXY layer, TLS and WebSocket on one connection)."""

    def setUp(self):
        self.settings = dict(tls_cert=PKI.server_cert,
                             tls_key=PKI.server_key)
        self.extra_args = ["--listen", "mqtts://127.0.0.1:0?proxy=v2",
                           "--listen", "wss://127.0.0.1:0?proxy=v1",
                           "--admin-token", TOKEN]
        super().setUp()

    def tls(self, sock):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(PKI.ca)
        return ctx.wrap_socket(sock, server_hostname=tern.HOST)

    def test_mqtts_after_the_header(self):
        for worker in (0, 1):
            with self.subTest(worker=worker):
                c = self.client(1)
                c.sock.sendall(v2("192.0.2.88", sport=8883))
                c.sock = self.tls(c.sock)
                cid = id_on_worker("tls", worker)
                c.connect(cid)
                self.assertEqual(peer_of(self.broker, cid),
                                 "192.0.2.88:8883")
                c.publish("t/" + cid, b"x" * 100000, qos=1)

    def test_mqtts_without_header_refused(self):
        before = metric(self.broker, FAILURES)
        c = self.client(1)
        with self.assertRaises((ssl.SSLError, OSError)):
            self.tls(c.sock)
        self.assertTrue(wait_until(
            lambda: metric(self.broker, FAILURES) == before + 1))

    def test_wss_after_the_header(self):
        for worker in (0, 1):
            with self.subTest(worker=worker):
                c = WsClient(self.broker.ports[2])
                self.addCleanup(c.close)
                c.sock.sendall(v1("2001:db8::443", "2001:db8::1", 443, 1))
                c.sock = self.tls(c.sock)
                c.upgrade()
                cid = id_on_worker("wss", worker)
                c.connect(cid, version=5)
                self.assertEqual(peer_of(self.broker, cid),
                                 "[2001:db8::443]:443")


class ConfigTests(unittest.TestCase):

    def test_bad_query_refused_at_start(self):
        """An unknown parameter or value stops ternd with a message naming
        the listener."""
        for url, why in (("mqtt://127.0.0.1:0?proxy=v3",
                          "proxy=v3: expected v1, v2 or any"),
                         ("mqtt://127.0.0.1:0?prxy=v1",
                          'unknown parameter "prxy=v1"'),
                         ("mqtt://127.0.0.1:0?proxy=v1&proxy=v2",
                          "proxy is given twice")):
            with self.subTest(url=url):
                with self.assertRaises(AssertionError) as e:
                    Broker(["--listen", url]).start()
                self.assertIn('listener "%s": %s' % (url, why),
                              str(e.exception))


if __name__ == "__main__":
    tern.main()
