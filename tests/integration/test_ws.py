"""MQTT over WebSocket (MQTT 5.0 section 6, RFC 6455) on a ws:// listener.

The broker gets two listeners: the harness's mqtt:// one (broker.ports[0])
and a ws:// one (broker.ports[1]); WssTests use a wss:// one instead and
skip themselves while the build refuses wss://. Raw WebSocket checks use a
hand-written client (WsClient below: handshake, masked frames) that speaks
MQTT with the harness's packet builders; independent clients are paho over
websockets, MQTT.js from Node (tests/js/ws_clients.js) and MQTT.js in
Chromium (tests/js/browser.js). The Node and browser tests are skipped only
when node, tests/js/node_modules or /usr/bin/chromium are missing
(scripts/setup installs them).

The contract checked here is docs/TRANSPORTS.md, section WebSocket.

Run: TERND=build-ws/ternd /usr/bin/python3 test_ws.py
"""

import base64
import hashlib
import os
import random
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import unittest
import urllib.request

import paho.mqtt.client as paho

import tern
from certs import Pki
from tern import (CONNACK, SUBACK, ConnectionClosed, RawClient,
                  TernTestCase, build_connect, build_disconnect,
                  build_publish, build_subscribe, unique)

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.normpath(os.path.join(HERE, "..", "js"))
NODE = shutil.which("node")
CHROMIUM = "/usr/bin/chromium"
HAVE_JS = NODE is not None and os.path.isdir(
    os.path.join(JS_DIR, "node_modules", "mqtt"))
HAVE_BROWSER = HAVE_JS and os.path.exists(CHROMIUM) and os.path.isdir(
    os.path.join(JS_DIR, "node_modules", "playwright-core"))
JS_SKIP = ("needs node and tests/js/node_modules (cd tests/js && npm ci)")
BROWSER_SKIP = ("needs node, tests/js/node_modules (cd tests/js && npm ci) "
                "and /usr/bin/chromium (apt-get install chromium)")

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# (any free admin port: several brokers run at once)
WS_ARGS = ["--listen", "ws://127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()) \
        .decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def upgrade_request(path="/mqtt", key=None, protocols="mqtt", origin=None,
                    version="13", upgrade="websocket", connection="Upgrade",
                    host="127.0.0.1", method="GET", http="HTTP/1.1",
                    extra=()):
    """An HTTP upgrade request; a None field leaves its header out."""
    lines = ["%s %s %s" % (method, path, http)]
    for name, value in (("Host", host), ("Upgrade", upgrade),
                        ("Connection", connection),
                        ("Sec-WebSocket-Key", key),
                        ("Sec-WebSocket-Version", version),
                        ("Sec-WebSocket-Protocol", protocols),
                        ("Origin", origin)):
        if value is not None:
            lines.append("%s: %s" % (name, value))
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One client frame (masked unless mask=False). length overrides the
    declared payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + body


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class HttpResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.headers)


class WsClient(RawClient):
    """A WebSocket connection to the ws:// listener speaking hand-built MQTT:
    every send() is one binary frame (unless split), and the payload of
    every binary frame from the server joins the MQTT byte stream that
    RawClient's helpers (connect, expect, publish...) read.

    Control frames from the server are kept in self.control as
    (opcode, payload); a close frame also sets self.close_code."""

    def __init__(self, port, timeout=tern.TIMEOUT):
        super().__init__(tern.HOST, port, timeout)
        self.wbuf = b""        # raw bytes not yet decoded into frames
        self.frames = []       # (fin, opcode, payload) not yet consumed
        self.control = []
        self.close_code = None
        self.split = None      # send(): bytes per frame, None = one frame

    # -- HTTP

    def http(self, request, timeout=tern.TIMEOUT):
        """Sends request bytes; returns the parsed response. Bytes after
        the response head stay in wbuf (the first WebSocket bytes)."""
        self.sock.sendall(request)
        return self.read_response(timeout)

    def read_response(self, timeout=tern.TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.wbuf:
            self._recv_raw(deadline)
        head, self.wbuf = self.wbuf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.wbuf) < n:
            self._recv_raw(deadline)
        body, self.wbuf = self.wbuf[:n], self.wbuf[n:]
        return HttpResponse(int(parts[1]), headers, body)

    def upgrade(self, protocols="mqtt", **kw):
        """Handshake; asserts 101 and the Sec-WebSocket-Accept value."""
        key = kw.pop("key", None) or new_key()
        r = self.http(upgrade_request(key=key, protocols=protocols, **kw))
        if r.status != 101:
            raise AssertionError("upgrade refused: %r %r" % (r, r.body))
        if r.headers.get("sec-websocket-accept") != accept_for(key):
            raise AssertionError("bad Sec-WebSocket-Accept in %r" % r)
        return r

    # -- frames

    def _recv_raw(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            raise ConnectionClosed()
        self.wbuf += data

    def _parse_frames(self):
        while len(self.wbuf) >= 2:
            b0, b1 = self.wbuf[0], self.wbuf[1]
            if b1 & 0x80:
                raise AssertionError("server frame is masked")
            n, off = b1 & 0x7F, 2
            if n == 126:
                if len(self.wbuf) < 4:
                    return
                n, off = struct.unpack("!H", self.wbuf[2:4])[0], 4
            elif n == 127:
                if len(self.wbuf) < 10:
                    return
                n, off = struct.unpack("!Q", self.wbuf[2:10])[0], 10
            if len(self.wbuf) < off + n:
                return
            if b0 & 0x70:
                raise AssertionError("server frame has RSV bits")
            payload = self.wbuf[off:off + n]
            self.wbuf = self.wbuf[off + n:]
            self.frames.append((bool(b0 & 0x80), b0 & 0x0F, payload))

    def recv_frame(self, timeout=tern.TIMEOUT):
        """The next frame (fin, opcode, payload) as sent by the server."""
        deadline = time.monotonic() + timeout
        while True:
            self._parse_frames()
            if self.frames:
                return self.frames.pop(0)
            self._recv_raw(deadline)

    def _fill(self, deadline):
        # RawClient's MQTT reader: append binary payloads to self.buf
        while True:
            fin, op, payload = self.recv_frame(
                max(0.0, deadline - time.monotonic()))
            if op in (OP_BINARY, OP_CONT):
                self.buf += payload
                return
            self.control.append((op, payload))
            if op == OP_TEXT:
                raise AssertionError("server sent a text frame")
            if op == OP_CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] \
                    if len(payload) >= 2 else 1005

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def send(self, data):
        """MQTT bytes: one binary frame, or one frame per `split` bytes
        (separate messages, each with FIN)."""
        if not self.split:
            self.send_frame(OP_BINARY, data)
            return
        for i in range(0, len(data), self.split):
            self.send_frame(OP_BINARY, data[i:i + self.split])

    def send_quiet(self, data):
        try:
            self.send(data)
            return True
        except OSError:
            return False

    def wait_close_frame(self, timeout=tern.TIMEOUT):
        """Reads until the server's close frame and then the TCP close;
        returns the close code (1005 when the frame has none). Fails if
        either does not come."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                fin, op, payload = self.recv_frame(
                    max(0.0, deadline - time.monotonic()))
                if op == OP_CLOSE:
                    self.close_code = struct.unpack(
                        "!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    break
        except ConnectionClosed:
            raise AssertionError("TCP closed without a close frame") \
                from None
        except socket.timeout:
            raise AssertionError("no close frame within %.1f s" % timeout) \
                from None
        try:
            while True:
                self._recv_raw(deadline)
        except ConnectionClosed:
            return self.close_code
        except socket.timeout:
            raise AssertionError("close frame %d but TCP still open"
                                 % self.close_code) from None


class WsTestCase(TernTestCase):
    extra_args = WS_ARGS

    @property
    def ws_port(self):
        return self.broker.ports[1]

    @property
    def ws_url(self):
        return "ws://127.0.0.1:%d/mqtt" % self.ws_port

    def ws(self):
        c = WsClient(self.ws_port)
        self.addCleanup(c.close)
        return c

    def ws_connected(self, client_id=None, version=4, protocols="mqtt",
                     **kw):
        c = self.ws()
        c.upgrade(protocols=protocols)
        c.connect(client_id or unique("ws"), version=version, **kw)
        return c

    def refused(self, request, status):
        """Sends request; asserts the HTTP status and that the connection
        is closed after it. Returns the response."""
        c = self.ws()
        r = c.http(request)
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers.get("connection", "").lower(), "close")
        self.assertNotIn("sec-websocket-accept", r.headers)
        with self.assertRaises(ConnectionClosed):
            c._recv_raw(time.monotonic() + tern.TIMEOUT)
        return r


# ---------------------------------------------------------------------------
# The opening handshake


class HandshakeTests(WsTestCase):

    def test_rfc6455_accept_key_and_subprotocol_mqtt(self):
        """[MQTT-6.0.0-3] [RFC6455 4.2.2] the sample key of RFC 6455 gets
        its documented accept value; the offered "mqtt" is echoed."""
        c = self.ws()
        r = c.http(upgrade_request(key="dGhlIHNhbXBsZSBub25jZQ=="))
        self.assertEqual(r.status, 101)
        self.assertEqual(r.headers["sec-websocket-accept"],
                         "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        self.assertEqual(r.headers["upgrade"].lower(), "websocket")
        self.assertEqual(r.headers["connection"].lower(), "upgrade")
        self.assertEqual(r.headers["sec-websocket-protocol"], "mqtt")
        c.connect(unique("ws"))
        c.ping()

    def test_mqtt_6_0_0_3_subprotocols(self):
        """[MQTT-6.0.0-3] [MQTT-6.0.0-4] mqtt and mqttv3.1 are accepted and
        echoed, mqtt whenever it is offered (mqttv3.1 only for clients that
        offer nothing else); no header is accepted too (many clients);
        a header offering neither is refused with 400."""
        for offered, echoed in (("mqtt", "mqtt"), ("mqttv3.1", "mqttv3.1"),
                                ("chat, mqttv3.1", "mqttv3.1"),
                                ("mqttv3.1, mqtt", "mqtt"),
                                ("mqtt,mqttv3.1", "mqtt"),
                                (None, None)):
            with self.subTest(offered=offered):
                c = self.ws()
                r = c.upgrade(protocols=offered)
                self.assertEqual(r.headers.get("sec-websocket-protocol"),
                                 echoed)
                c.connect(unique("sp"), version=3 if echoed == "mqttv3.1"
                          else 4)
                c.disconnect()
        for offered in ("chat", "MQTT", "mqttv5"):
            with self.subTest(offered=offered):
                self.refused(upgrade_request(key=new_key(),
                                             protocols=offered), 400)

    def test_wrong_path_404(self):
        """A request for another path gets 404 and the connection closes;
        the query string is ignored when matching ws_path."""
        for path in ("/", "/mqt", "/mqtt/", "/MQTT", "/other?x=/mqtt"):
            with self.subTest(path=path):
                self.refused(upgrade_request(path=path, key=new_key()), 404)
        c = self.ws()
        c.upgrade(path="/mqtt?token=abc&x=1")
        c.connect(unique("q"))
        self.assertIn("upgrade refused with 404", self.broker.read_log())

    def test_missing_or_invalid_upgrade_headers_400(self):
        """Missing or invalid Upgrade, Connection, Sec-WebSocket-Key,
        Sec-WebSocket-Version or Host, HTTP/1.0, or bytes that are not
        HTTP: 400 and close."""
        k = new_key()
        cases = {
            "no upgrade": dict(upgrade=None),
            "upgrade h2c": dict(upgrade="h2c"),
            "no connection": dict(connection=None),
            "connection keep-alive": dict(connection="keep-alive"),
            "no key": dict(key=None),
            "short key": dict(key="c2hvcnQ="),
            "key not base64": dict(key="!!!!!!!!!!!!!!!!!!!!!!=="),
            "no version": dict(version=None),
            "no host": dict(host=None),
            "http/1.0": dict(http="HTTP/1.0"),
        }
        for name, kw in cases.items():
            with self.subTest(case=name):
                args = dict(key=k)
                args.update(kw)
                self.refused(upgrade_request(**args), 400)
        with self.subTest(case="not http"):
            self.refused(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"
                         b"\r\n\r\n", 400)
        # Connection may hold several tokens, any case
        c = self.ws()
        c.upgrade(connection="keep-alive, UPGRADE", upgrade="WebSocket")
        c.connect(unique("tok"))
        # optional whitespace around values; frames right behind
        c = self.ws()
        key = new_key()
        c.sock.sendall(
            ("GET /mqtt HTTP/1.1\r\nHost:x \r\nUpgrade: websocket \r\n"
             "Connection: Upgrade\t\r\nSec-WebSocket-Key:  %s  \r\n"
             "Sec-WebSocket-Version: 13\t\r\n"
             "Sec-WebSocket-Protocol: mqtt \r\n\r\n" % key).encode() +
            frame(OP_BINARY, build_connect(unique("ows"))))
        r = c.read_response()
        self.assertEqual((r.status, r.headers.get("sec-websocket-accept")),
                         (101, accept_for(key)))
        self.assertEqual(c.expect(CONNACK).rc, 0)
        self.assert_broker_serves()

    def test_version_and_method(self):
        """Sec-WebSocket-Version other than 13: 426 with
        Sec-WebSocket-Version: 13 [RFC6455 4.4]; a method other than GET:
        405."""
        r = self.refused(upgrade_request(key=new_key(), version="8"), 426)
        self.assertEqual(r.headers.get("sec-websocket-version"), "13")
        r = self.refused(upgrade_request(key=new_key(), method="POST"), 405)
        self.assertEqual(r.headers.get("allow"), "GET")

    def test_oversized_request_431(self):
        """A request whose headers exceed 8 KiB is refused with 431."""
        pad = ["X-Pad-%d: %s" % (i, "a" * 100) for i in range(100)]
        self.refused(upgrade_request(key=new_key(), extra=pad), 431)
        # a long value of a header the handshake keeps
        self.refused(upgrade_request(key=new_key(),
                                     protocols="x" * 1000 + ", mqtt"), 431)

    def test_request_byte_by_byte_then_frames_in_same_segment(self):
        """The request may arrive in pieces; WebSocket bytes sent right
        behind the request (same segment) are the first frames."""
        c = self.ws()
        key = new_key()
        req = upgrade_request(key=key)
        for b in req[:-1]:
            c.sock.sendall(bytes([b]))
            time.sleep(0.002)
        c.sock.sendall(req[-1:] + frame(OP_BINARY,
                                        build_connect(unique("bb"))))
        r = c.read_response()
        self.assertEqual(r.status, 101)
        self.assertEqual(r.headers["sec-websocket-accept"], accept_for(key))
        self.assertEqual(c.expect(CONNACK).rc, 0)

    def test_idle_request_closed_by_connect_timeout(self):
        """A connection that never finishes its request is closed by
        connect_timeout_ms like any connection without CONNECT."""
        self.restart_broker(settings={"connect_timeout_ms": 300})
        c = self.ws()
        c.sock.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n")
        with self.assertRaises(ConnectionClosed):
            c._recv_raw(time.monotonic() + 4)

    def test_upgrade_failures_logged(self):
        """Refused upgrades are logged with the status and the reason."""
        self.refused(upgrade_request(path="/nope", key=new_key()), 404)
        self.refused(upgrade_request(key=new_key(), version="7"), 426)
        log = self.broker.read_log()
        self.assertIn('upgrade refused with 404: path is not ws_path: '
                      '"/nope"', log)
        self.assertIn("upgrade refused with 426", log)


    def test_upgrade_failures_counted_in_metrics(self):
        """Each refused upgrade counts in tern_ws_upgrade_failures_total
        (admin /metrics); accepted ones do not."""
        admin = None
        deadline = time.monotonic() + tern.TIMEOUT
        while admin is None and time.monotonic() < deadline:
            for line in tern.read_text(os.path.join(self.broker.dir,
                                                    "port")).splitlines():
                if line.startswith("admin "):
                    admin = line.split(" ", 1)[1].strip()
            time.sleep(0.02)
        if admin is None:
            self.skipTest("no admin listener in the port file")

        def failures():
            with urllib.request.urlopen(admin + "/metrics",
                                        timeout=tern.TIMEOUT) as r:
                text = r.read().decode()
            for line in text.splitlines():
                if line.startswith("tern_ws_upgrade_failures_total"):
                    return int(float(line.split()[-1]))
            self.fail("no tern_ws_upgrade_failures_total in /metrics")

        before = failures()
        self.refused(upgrade_request(path="/x", key=new_key()), 404)
        self.refused(upgrade_request(key=None), 400)
        self.ws().upgrade()
        self.assertTrue(tern.wait_until(lambda: failures() == before + 2),
                        "tern_ws_upgrade_failures_total %d, expected %d"
                        % (failures(), before + 2))


class OriginTests(WsTestCase):
    settings = {"ws_origins": "http://allowed.example, https://b.example"}

    def test_origin_not_allowed_403(self):
        """With ws_origins set, an Origin outside the list gets 403; a
        listed one (any case) is accepted; no Origin (not a browser) is
        accepted."""
        for origin in ("http://evil.example", "http://allowed.example:80",
                       "null", "http://allowed.example.evil"):
            with self.subTest(origin=origin):
                self.refused(upgrade_request(key=new_key(), origin=origin),
                             403)
        for origin in ("http://allowed.example", "HTTPS://B.EXAMPLE", None):
            with self.subTest(origin=origin):
                c = self.ws()
                c.upgrade(origin=origin)
                c.connect(unique("o"))
                c.disconnect()
        self.assertIn('Origin not in ws_origins: "http://evil.example"',
                      self.broker.read_log())


# ---------------------------------------------------------------------------
# Framing


class FramingTests(WsTestCase):

    def test_mqtt_6_0_0_2_packet_split_across_frames(self):
        """[MQTT-6.0.0-2] an MQTT packet may span WebSocket messages: the
        CONNECT in 3-byte messages, a PUBLISH as one fragmented message
        (binary + continuation frames), a byte per message."""
        c = self.ws()
        c.upgrade()
        c.split = 3
        c.connect(unique("split"))
        topic = unique("split/")
        c.split = 1
        self.assertEqual(c.subscribe([(topic, 1)]), [1])
        c.split = None
        pub = build_publish(topic, b"x" * 300, qos=1, pid=9)
        c.send_frame(OP_BINARY, pub[:5], fin=False)
        c.send_frame(OP_CONT, pub[5:100], fin=False)
        c.send_frame(OP_CONT, b"", fin=False)
        c.send_frame(OP_CONT, pub[100:], fin=True)
        c.expect_ack(tern.PUBACK, 9)
        got = c.expect_publish()
        self.assertEqual((got.topic, got.payload), (topic, b"x" * 300))

    def test_mqtt_6_0_0_2_several_packets_in_one_frame(self):
        """[MQTT-6.0.0-2] one frame may hold several packets: CONNECT,
        SUBSCRIBE and PUBLISH in one frame, for client ids on either
        worker (one of them is handed to the other worker with the bytes
        after CONNECT)."""
        for worker in (0, 1):
            with self.subTest(worker=worker):
                cid = tern.id_on_worker("multi", worker)
                topic = unique("multi/")
                c = self.ws()
                c.upgrade()
                c.version = 5
                c.send(build_connect(cid, version=5) +
                       build_subscribe(1, [(topic, 1)], version=5) +
                       build_publish(topic, b"one", qos=1, pid=2,
                                     version=5) +
                       build_publish(topic, b"two", qos=0, version=5))
                self.assertEqual(c.expect(CONNACK).rc, 0)
                self.assertEqual(c.expect_ack(SUBACK, 1).codes, [1])
                c.expect_ack(tern.PUBACK, 2)
                got = [c.expect_publish() for _ in range(2)]
                self.assertEqual(sorted(p.payload for p in got),
                                 [b"one", b"two"])
                c.ping()
                c.disconnect()

    def test_ping_pong(self):
        """A ping is answered by a pong with the same payload, also between
        the frames of a fragmented message; MQTT continues."""
        c = self.ws_connected()
        c.send_frame(OP_PING, b"hello")
        self.assertEqual(c.recv_frame(), (True, OP_PONG, b"hello"))
        topic = unique("pp/")
        c.subscribe([(topic, 0)])
        pub = build_publish(topic, b"frag")
        c.send_frame(OP_BINARY, pub[:4], fin=False)
        c.send_frame(OP_PING, b"")
        self.assertEqual(c.recv_frame(), (True, OP_PONG, b""))
        c.send_frame(OP_CONT, pub[4:])
        self.assertEqual(c.expect_publish().payload, b"frag")
        # a pong from the client is ignored
        c.send_frame(OP_PONG, b"unsolicited")
        c.ping()

    def test_close_handshake(self):
        """A close frame gets a close frame back (same code), then the
        server closes the TCP connection."""
        c = self.ws_connected()
        c.send_frame(OP_CLOSE, close_payload(1000, b"bye"))
        self.assertEqual(c.wait_close_frame(), 1000)
        c = self.ws_connected()
        c.send_frame(OP_CLOSE, b"")
        self.assertEqual(c.wait_close_frame(), 1005)
        self.assert_broker_serves()

    def test_disconnect_then_close_in_one_segment_keeps_will_quiet(self):
        """An MQTT DISCONNECT followed by a close frame in the same TCP
        segment is processed before the close: no will. A close frame
        without DISCONNECT is an abnormal end: the will is published."""
        wtopic = unique("will/")
        sub = self.paho_connected()
        sub.subscribe(wtopic, 0)
        will = dict(topic=wtopic, payload=b"gone")
        c = self.ws_connected(will=will)
        c.sock.sendall(frame(OP_BINARY, build_disconnect()) +
                       frame(OP_CLOSE, close_payload(1000)))
        self.assertEqual(c.wait_close_frame(), 1000)
        sub.assert_no_message()
        c = self.ws_connected(will=will)
        c.send_frame(OP_CLOSE, close_payload(1001))
        self.assertEqual(c.wait_close_frame(), 1001)
        self.assertEqual(sub.get().payload, b"gone")

    def test_mqtt_6_0_0_1_text_frame_closes(self):
        """[MQTT-6.0.0-1] a text frame closes the connection (close 1003),
        before and after CONNECT."""
        c = self.ws()
        c.upgrade()
        c.send_frame(OP_TEXT, b"hello")
        self.assertEqual(c.wait_close_frame(), 1003)
        c = self.ws_connected()
        c.send_frame(OP_TEXT, build_publish("t", b"x"))
        self.assertEqual(c.wait_close_frame(), 1003)
        self.assertIn("text frame", self.broker.read_log())

    def test_protocol_errors_close_1002(self):
        """An unmasked client frame, RSV bits, an unknown opcode, a
        continuation without a message or a reserved close code: close
        1002; a close reason that is not UTF-8: 1007; a bad frame header:
        a close frame without code."""
        cases = {
            "unmasked": frame(OP_BINARY, b"\xc0\x00", mask=False),
            "rsv1": frame(OP_BINARY, b"\xc0\x00", rsv=4),
            "opcode 3": frame(0x3, b"x"),
            "lone continuation": frame(OP_CONT, b"x"),
        }
        # close codes that must not be sent, as in RFC 6455 7.4.1
        cases["close 1005"] = frame(OP_CLOSE, close_payload(1005))
        cases["close 999"] = frame(OP_CLOSE, close_payload(999))
        for name, data in cases.items():
            with self.subTest(case=name):
                c = self.ws_connected()
                c.sock.sendall(data)
                self.assertEqual(c.wait_close_frame(), 1002)
        with self.subTest(case="close reason not UTF-8"):
            c = self.ws_connected()
            c.send_frame(OP_CLOSE, close_payload(1000, b"\xff\xfe"))
            self.assertEqual(c.wait_close_frame(), 1007)
        with self.subTest(case="ping of 126 bytes (bad frame header)"):
            c = self.ws_connected()
            c.send_frame(OP_PING, b"p" * 126)
            self.assertEqual(c.wait_close_frame(), 1005)  # no code
        self.assertIn("WebSocket protocol error", self.broker.read_log())
        self.assert_broker_serves()

    def test_large_messages_both_ways(self):
        """A 200 KiB PUBLISH from a WebSocket client (in 16 KiB frames)
        reaches a native subscriber and comes back to the WebSocket
        subscriber in one frame with a 64-bit length."""
        topic = unique("big/")
        payload = os.urandom(200 * 1024)
        native = self.raw_connected(version=4)
        native.subscribe([(topic, 1)])
        c = self.ws_connected()
        c.subscribe([(topic, 1)])
        c.split = 16384
        c.publish(topic, payload, qos=1)
        self.assertEqual(native.expect_publish().payload, payload)
        c.split = None
        got = c.expect_publish()
        self.assertEqual(got.payload, payload)


    def test_garbage_never_hurts(self):
        """Seeded random bytes as the request, and as frames after a good
        upgrade (masked and not, valid headers with random payloads): each
        connection ends or stays open, the broker keeps serving (and the
        sanitizers stay quiet)."""
        rnd = random.Random(6455)
        for i in range(60):
            c = WsClient(self.ws_port)
            try:
                if i % 3 == 0:
                    c.sock.sendall(bytes(rnd.getrandbits(8) for _ in
                                         range(rnd.randint(1, 3000))))
                else:
                    c.upgrade()
                    data = b""
                    for _ in range(rnd.randint(1, 8)):
                        if rnd.random() < 0.5:
                            data += frame(rnd.choice((0, 1, 2, 8, 9, 10, 3)),
                                          bytes(rnd.getrandbits(8) for _ in
                                                range(rnd.randint(0, 300))),
                                          fin=rnd.random() < 0.8,
                                          mask=rnd.random() < 0.9)
                        else:
                            data += bytes(rnd.getrandbits(8) for _ in
                                          range(rnd.randint(1, 200)))
                    c.sock.sendall(data)
                c.is_open(0.02)
            except (OSError, ConnectionClosed, AssertionError):
                pass
            finally:
                c.close()
        self.assert_broker_serves()
        c = self.ws_connected()
        c.ping()


class MaxFrameTests(WsTestCase):
    settings = {"ws_max_frame": 1024}

    def test_frame_over_ws_max_frame_closes_1009(self):
        """A frame larger than ws_max_frame gets close 1009; one of exactly
        ws_max_frame bytes is fine; a message may exceed it in frames that
        do not."""
        c = self.ws_connected()
        topic = unique("mf/")
        c.subscribe([(topic, 0)])
        pub = build_publish(topic, b"y" * 2000)
        c.send_frame(OP_BINARY, pub[:1024], fin=False)
        c.send_frame(OP_CONT, pub[1024:])
        self.assertEqual(c.expect_publish().payload, b"y" * 2000)
        # the declared length decides: the rest need not be sent
        c.sock.sendall(frame(OP_BINARY, b"z" * 8, length=1025)[:14])
        self.assertEqual(c.wait_close_frame(), 1009)
        self.assertIn("frame larger than ws_max_frame",
                      self.broker.read_log())
        self.assert_broker_serves()


# ---------------------------------------------------------------------------
# Other clients


def paho_ws(port, client_id, version):
    proto = {4: paho.MQTTv311, 5: paho.MQTTv5}[version]
    c = paho.Client(client_id=client_id, protocol=proto,
                    transport="websockets")
    c.ws_set_options(path="/mqtt")
    return c


class CrossTransportTests(WsTestCase):

    def test_ws_and_tcp_share_topics(self):
        """MQTT over WebSocket and over TCP see the same topics: a ws
        subscriber gets mosquitto_pub's message; a mosquitto_sub gets the
        ws client's; paho over websockets (3.1.1 and 5) talks to paho over
        TCP."""
        topic = unique("x/")
        c = self.ws_connected(version=5)
        c.subscribe([(topic + "/tcp", 1)])
        self.mosquitto_pub(topic + "/tcp", "from tcp", qos=1)
        got = c.expect_publish()
        self.assertEqual((got.topic, got.payload),
                         (topic + "/tcp", b"from tcp"))
        sub = self.mosquitto_sub(topic + "/ws", qos=1).ready()
        c.publish(topic + "/ws", b"from ws", qos=1)
        self.assertEqual(sub.messages(1), [(topic + "/ws", 1, False,
                                            b"from ws")])

        tcp = self.paho_connected(version=5)
        tcp.subscribe(topic + "/paho", 2)
        for version in (4, 5):
            with self.subTest(version=version):
                got = []
                ready = threading.Event()
                p = paho_ws(self.ws_port, unique("pw"), version)
                p.on_connect = lambda *a, **k: ready.set()
                p.on_message = lambda cl, ud, m: got.append(m.payload)
                p.connect(tern.HOST, self.ws_port, 30)
                p.loop_start()
                try:
                    self.assertTrue(ready.wait(tern.TIMEOUT),
                                    "paho over websockets: no CONNACK")
                    done = threading.Event()
                    p.on_subscribe = lambda *a, **k: done.set()
                    p.subscribe(topic + "/back", 1)
                    self.assertTrue(done.wait(tern.TIMEOUT), "no SUBACK")
                    info = p.publish(topic + "/paho", b"v%d" % version,
                                     qos=2)
                    info.wait_for_publish(tern.TIMEOUT)
                    self.assertEqual(tcp.get().payload, b"v%d" % version)
                    tcp.publish(topic + "/back", b"back", qos=1)
                    self.assertTrue(tern.wait_until(lambda: got),
                                    "paho over websockets got nothing")
                    self.assertEqual(got, [b"back"])
                finally:
                    p.disconnect()
                    p.loop_stop()


# ---------------------------------------------------------------------------
# wss:// (the same layer above TLS)


PKI = None


def setUpModule():
    global PKI
    PKI = Pki()


def tearDownModule():
    if PKI is not None:
        PKI.cleanup()


class WssClient(WsClient):
    """WsClient over TLS (verifies the test CA and 127.0.0.1)."""

    def __init__(self, port, timeout=tern.TIMEOUT):
        super().__init__(port, timeout)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(PKI.ca)
        raw = self.sock
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=tern.HOST)
        except BaseException:
            raw.close()
            self.sock = None
            raise

    def _recv_raw(self, deadline):
        try:
            super()._recv_raw(deadline)
        except ssl.SSLError:
            self.closed = True
            raise ConnectionClosed() from None


class WssTests(WsTestCase):
    """A wss:// listener (TLS, then WebSocket). Skipped while this build
    refuses wss:// listeners."""

    def setUp(self):
        self.settings = dict(tls_cert=PKI.server_cert, tls_key=PKI.server_key)
        self.extra_args = ["--listen", "wss://127.0.0.1:0",
                           "--admin-listen", "127.0.0.1:0"]
        try:
            super().setUp()
        except AssertionError as e:
            if "wss:// listeners arrive" in str(e):
                self.skipTest("this build refuses wss:// listeners")
            raise

    def wss(self):
        c = WssClient(self.ws_port)
        self.addCleanup(c.close)
        return c

    def test_wss_handshake_framing_and_cross_transport(self):
        """Over TLS: the upgrade (and a refused one), MQTT split across
        frames and several packets in one frame, ping, a 200 KiB message
        to a native subscriber, the close handshake."""
        r = self.wss().http(upgrade_request(path="/no", key=new_key()))
        self.assertEqual(r.status, 404)
        topic = unique("wss/")
        native = self.raw_connected(version=4)
        native.subscribe([(topic, 1)])
        for worker in (0, 1):
            with self.subTest(worker=worker):
                c = self.wss()
                self.assertEqual(c.upgrade().headers[
                    "sec-websocket-protocol"], "mqtt")
                c.split = 5
                c.connect(tern.id_on_worker("wss", worker))
                c.split = None
                c.send(build_subscribe(1, [(topic, 1)]) +
                       build_publish(topic, b"small", qos=1, pid=2))
                c.expect_ack(SUBACK, 1)
                c.expect_ack(tern.PUBACK, 2)
                self.assertEqual(c.expect_publish().payload, b"small")
                self.assertEqual(native.expect_publish().payload, b"small")
                c.send_frame(OP_PING, b"tls")
                self.assertEqual(c.recv_frame(), (True, OP_PONG, b"tls"))
                big = os.urandom(200 * 1024)
                c.split = 16384
                c.publish(topic, big, qos=1)
                self.assertEqual(native.expect_publish().payload, big)
                self.assertEqual(c.expect_publish().payload, big)
                c.send_frame(OP_CLOSE, close_payload(1000))
                self.assertEqual(c.wait_close_frame(), 1000)

    @unittest.skipUnless(HAVE_JS, JS_SKIP)
    def test_mqttjs_node_over_wss(self):
        """MQTT.js (Node) over wss:// with the test CA."""
        url = "wss://127.0.0.1:%d/mqtt" % self.ws_port
        r = subprocess.run([NODE, "ws_clients.js", url], cwd=JS_DIR,
                           env=dict(os.environ, NODE_EXTRA_CA_CERTS=PKI.ca),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=90)
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, out[-4000:])
        self.assertIn("ws_clients: ok", out)


class JsClientTests(WsTestCase):

    def run_js(self, args, timeout):
        r = subprocess.run([NODE] + args, cwd=JS_DIR,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        out = r.stdout.decode("utf-8", "replace")
        if r.returncode != 0:
            self.fail("%s exited %d:\n%s" % (" ".join(args), r.returncode,
                                              out[-4000:]))
        return out

    @unittest.skipUnless(HAVE_JS, JS_SKIP)
    def test_mqttjs_node_v311_v5_qos012_large(self):
        """MQTT.js (Node, ws package) over ws://: MQTT 3.1, 3.1.1 and 5,
        QoS 0/1/2 both ways, a 200 KiB message."""
        out = self.run_js(["ws_clients.js", self.ws_url], 90)
        self.assertIn("ws_clients: ok", out)

    @unittest.skipUnless(HAVE_BROWSER, BROWSER_SKIP)
    def test_browser_page_and_native_clients(self):
        """MQTT.js in Chromium over ws://: a message from mosquitto_pub
        over TCP reaches the page, one from the page reaches
        mosquitto_sub over TCP."""
        out = self.run_js(["browser.js", "--ws", self.ws_url,
                           "--mqtt-port", str(self.broker.ports[0])], 120)
        self.assertIn("browser: ok", out)


if __name__ == "__main__":
    tern.main()
