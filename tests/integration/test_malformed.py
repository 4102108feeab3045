"""Malformed packets and protocol errors from raw sockets. Each must close the
offending connection (v5: DISCONNECT 0x81 Malformed Packet / 0x82 Protocol
Error, or a more specific code, first) and leave the broker serving."""

import random
import struct
import time

import tern
from tern import (CONNACK, CONNECT, DISCONNECT, PINGRESP, PUBACK, PUBCOMP,
                  PUBLISH, PUBREC, PUBREL, SUBSCRIBE, UNSUBSCRIBE,
                  TernTestCase, build_connect, build_publish, build_subscribe,
                  mqtt_bin, mqtt_str, packet, unique, varint)

MALFORMED = (0x81,)
PROTOCOL = (0x82,)
EITHER = (0x81, 0x82)


def raw_publish(topic_bytes, payload=b"x", qos=0, pid=1, version=4,
                props=b"\x00", flags=None):
    """A PUBLISH with raw topic bytes and raw property bytes."""
    body = mqtt_bin(topic_bytes)
    if qos:
        body += struct.pack("!H", pid)
    if version == 5:
        body += props
    if flags is None:
        flags = qos << 1
    return packet(PUBLISH, flags, body + payload)


def raw_props(*items):
    """Property bytes from already-encoded items."""
    body = b"".join(items)
    return varint(len(body)) + body


class MalformedTests(TernTestCase):

    # -- helpers

    def expect_close(self, data, version=5, rcs=EITHER, connect=True,
                     strict=True):
        """Connects (unless connect is False), sends data and checks the
        connection is closed; for v5 after CONNACK exactly one DISCONNECT
        with a reason code in rcs comes first (strict) or at most that."""
        c = self.raw()
        if connect:
            c.connect(unique("bad"), version=version)
        if not c.send_quiet(data):
            return []
        got = c.wait_closed()
        if connect and version == 5:
            if strict:
                self.assertEqual(len(got), 1, got)
            self.assertLessEqual(len(got), 1, got)
            for p in got:
                self.assertEqual(p.type, DISCONNECT, got)
                self.assertIn(p.rc, rcs, "reason 0x%02x not in %s" % (
                    p.rc, ["0x%02x" % r for r in rcs]))
                # [MQTT5-3.14.2-2] no Session Expiry Interval from the server
                self.assertFalse(p.props.has(tern.SESSION_EXPIRY))
        else:
            self.assertEqual(got, [], "expected a silent close")
        return got

    def expect_connect_refused(self, data, rcs):
        """A bad CONNECT: closed, with at most one CONNACK whose code is in
        rcs (never a success)."""
        c = self.raw()
        c.send_quiet(data)
        got = c.wait_closed()
        self.assertLessEqual(len(got), 1, got)
        for p in got:
            self.assertEqual(p.type, CONNACK, got)
            self.assertIn(p.rc, rcs, got)
            self.assertFalse(p.session_present)
        return got

    # -- fixed header

    def test_mqtt5_1_5_5_remaining_length_5_bytes(self):
        """A remaining length encoded in 5 bytes is malformed: close (before
        and after CONNECT)."""
        five = b"\xff\xff\xff\xff\x7f"
        self.expect_close(b"\x10" + five, connect=False)
        for version in (4, 5):
            with self.subTest(version=version):
                self.expect_close(b"\x30" + five + b"\x00", version=version,
                                  rcs=MALFORMED + (0x95,))
        self.assert_broker_serves()

    # covers: MQTT-v311-3.8.1-1, MQTT-v311-3.10.1-1,
    #   MQTT-v311-3.6.1-1, MQTT-v311-3.14.1-1
    def test_mqtt5_2_1_3_1_reserved_fixed_header_flags(self):
        """[MQTT5-2.1.3-1] [MQTT-v311-2.2.2-1] [MQTT-v311-2.2.2-2]
        [MQTT5-3.8.1-1] [MQTT5-3.10.1-1] [MQTT5-3.6.1-1] [MQTT5-3.14.1-1]
        [MQTT5-3.15.1-1] wrong fixed-header flags close the connection (v5:
        DISCONNECT 0x81)."""
        sub = build_subscribe(1, [("a/b", 0)])[2:]
        sub5 = build_subscribe(1, [("a/b", 0)], version=5)[2:]
        uns = tern.build_unsubscribe(1, ["a/b"])[2:]
        uns5 = tern.build_unsubscribe(1, ["a/b"], version=5)[2:]

        def body(p):
            return p[2:]
        cases = {
            "SUBSCRIBE 0x80": (0x80, sub, sub5),
            "SUBSCRIBE 0x83": (0x83, sub, sub5),
            "SUBSCRIBE 0x8A": (0x8A, sub, sub5),
            "UNSUBSCRIBE 0xA0": (0xA0, uns, uns5),
            "UNSUBSCRIBE 0xA3": (0xA3, uns, uns5),
            "PUBREL 0x60": (0x60, b"\x00\x01", b"\x00\x01"),
            "PUBREL 0x63": (0x63, b"\x00\x01", b"\x00\x01"),
            "PUBACK 0x42": (0x42, b"\x00\x01", b"\x00\x01"),
            "PUBREC 0x51": (0x51, b"\x00\x01", b"\x00\x01"),
            "PUBCOMP 0x78": (0x78, b"\x00\x01", b"\x00\x01"),
            "PINGREQ 0xC1": (0xC1, b"", b""),
            "DISCONNECT 0xE2": (0xE2, b"", b""),
        }
        for name, (first, b4, b5) in cases.items():
            for version, b in ((4, b4), (5, b5)):
                with self.subTest(case=name, version=version):
                    data = bytes([first]) + varint(len(b)) + b
                    self.expect_close(data, version=version, rcs=MALFORMED)
        # AUTH with flags (v5) and AUTH at all (3.1.1: reserved type)
        self.expect_close(b"\xf1\x00", version=5, rcs=MALFORMED)
        self.expect_close(b"\xf0\x00", version=4)
        self.assert_broker_serves()

    def test_mqtt5_2_1_reserved_packet_types(self):
        """Packet type 0 and server-to-client packet types from a client
        close the connection (v5: 0x81 or 0x82)."""
        for first, b in ((0x00, b""), (0x20, b"\x00\x00"),
                         (0x90, b"\x00\x01\x00"), (0xB0, b"\x00\x01"),
                         (0xD0, b"")):
            for version in (4, 5):
                with self.subTest(first=hex(first), version=version):
                    self.expect_close(bytes([first]) + varint(len(b)) + b,
                                      version=version)
        self.expect_close(b"\x00\x00", connect=False)
        self.assert_broker_serves()

    # -- CONNECT

    def test_mqtt5_3_1_2_3_connect_reserved_flag(self):
        """[MQTT5-3.1.2-3] [MQTT-v311-3.1.2-3] [MQTT-v311-3.1.4-1] the
        reserved CONNECT flag set: closed without a successful CONNACK
        (3.1.1: no CONNACK at all)."""
        self.assertEqual(self.expect_connect_refused(
            build_connect(unique(), version=4, flags_extra=0x01), ()), [])
        self.expect_connect_refused(
            build_connect(unique(), version=5, flags_extra=0x01), MALFORMED)
        self.assert_broker_serves()

    def test_connect_fixed_header_flags(self):
        """[MQTT5-2.1.3-1] CONNECT with non-zero fixed-header flags: closed."""
        for version in (4, 5):
            data = bytearray(build_connect(unique(), version=version))
            data[0] |= 0x02
            self.expect_connect_refused(bytes(data), MALFORMED)
        self.assert_broker_serves()

    # covers: MQTT-v311-3.1.2-11
    def test_mqtt5_3_1_2_11_will_flags_without_will(self):
        """[MQTT5-3.1.2-11] [MQTT5-3.1.2-13] [MQTT-v311-3.1.2-13]
        [MQTT-v311-3.1.2-15] Will QoS or Will Retain set while the Will Flag
        is 0: malformed, closed."""
        for version in (4, 5):
            for extra in (0x08, 0x10, 0x18, 0x20):
                with self.subTest(version=version, flags=hex(extra)):
                    self.expect_connect_refused(
                        build_connect(unique(), version=version,
                                      flags_extra=extra),
                        MALFORMED if version == 5 else ())
        self.assert_broker_serves()

    def test_mqtt5_3_1_2_12_will_qos_3(self):
        """[MQTT5-3.1.2-12] [MQTT-v311-3.1.2-14] Will QoS 3: malformed,
        closed."""
        for version in (4, 5):
            self.expect_connect_refused(
                build_connect(unique(), version=version,
                              will={"topic": "w", "payload": b"x", "qos": 3}),
                MALFORMED if version == 5 else ())
        self.assert_broker_serves()

    def test_mqtt_v311_3_1_2_22_password_without_username(self):
        """[MQTT-v311-3.1.2-22] 3.1.1: Password Flag without User Name Flag
        closes the connection (allowed in v5)."""
        self.expect_connect_refused(
            build_connect(unique(), version=4, password=b"secret"), ())
        c = self.raw()
        self.assertEqual(c.connect(unique(), version=5,
                                   password=b"secret").rc, 0)
        self.assert_broker_serves()

    def test_mqtt5_3_1_2_flags_promise_missing_fields(self):
        """[MQTT5-3.1.2-9] [MQTT5-3.1.2-17] [MQTT5-3.1.2-19]
        [MQTT-v311-3.1.2-9] [MQTT-v311-3.1.2-19] [MQTT-v311-3.1.2-21] a
        CONNECT whose flags announce a will, user name or password that is
        not in the payload: malformed, closed."""
        for version in (4, 5):
            vh = mqtt_str("MQTT") + bytes([version])
            props = b"\x00" if version == 5 else b""
            for flags in (0x06, 0x82, 0xC2, 0x42 if version == 5 else 0xC2):
                with self.subTest(version=version, flags=hex(flags)):
                    data = packet(CONNECT, 0, vh + bytes([flags]) +
                                  b"\x00\x3c" + props + mqtt_str(unique()))
                    self.expect_connect_refused(data, MALFORMED)
        self.assert_broker_serves()

    def test_mqtt5_1_5_4_1_client_id_invalid_utf8(self):
        """[MQTT5-1.5.4-1] [MQTT-v311-1.5.3-1] a client id that is not valid
        UTF-8 (or has U+0000): refused (no CONNACK 0) and closed."""
        for version in (4, 5):
            for cid in (b"ab\xffcd", b"\xed\xa0\x80", b"a\x00b", b"\xc0\xaf"):
                with self.subTest(version=version, cid=cid):
                    vh = mqtt_str("MQTT") + bytes([version, 0x02]) + \
                        b"\x00\x3c" + (b"\x00" if version == 5 else b"")
                    self.expect_connect_refused(
                        packet(CONNECT, 0, vh + mqtt_bin(cid)),
                        (0x81, 0x85) if version == 5 else (0x02,))
        self.assert_broker_serves()

    def test_connect_truncated(self):
        """[MQTT5-3.1.4-1] a CONNECT cut short inside its fields (remaining
        length consistent): closed without a successful CONNACK."""
        full = build_connect("abc", version=5,
                             will={"topic": "w/t", "payload": b"wp"},
                             username="u", password=b"p")
        body = full[2:]
        for cut in (3, 8, 11, 15, len(body) - 1):
            with self.subTest(cut=cut):
                b = body[:cut]
                self.expect_connect_refused(
                    bytes([0x10]) + varint(len(b)) + b, MALFORMED + (0x01,))
        self.assert_broker_serves()

    def test_connect_v5_property_errors(self):
        """v5 CONNECT property errors (Receive Maximum 0, Maximum Packet Size
        0, Request Problem Information 2, duplicate Session Expiry
        Interval, unknown property): CONNACK 0x81/0x82 or silent close."""
        cases = {
            "receive max 0": raw_props(b"\x21\x00\x00"),
            "max packet size 0": raw_props(b"\x27\x00\x00\x00\x00"),
            "problem info 2": raw_props(b"\x17\x02"),
            "response info 2": raw_props(b"\x19\x02"),
            "duplicate session expiry": raw_props(
                b"\x11\x00\x00\x00\x0a", b"\x11\x00\x00\x00\x0b"),
            "unknown property 0x7f": raw_props(b"\x7f\x00"),
            "publish-only property": raw_props(b"\x02\x00\x00\x00\x0a"),
            "property length too long": b"\x09\x11\x00\x00\x00\x0a",
        }
        for name, props in cases.items():
            with self.subTest(case=name):
                vh = mqtt_str("MQTT") + b"\x05\x02\x00\x3c" + props
                self.expect_connect_refused(
                    packet(CONNECT, 0, vh + mqtt_str(unique())), EITHER)
        self.assert_broker_serves()

    # -- PUBLISH

    def test_mqtt5_3_3_1_4_qos_3_publish(self):
        """[MQTT5-3.3.1-4] [MQTT-v311-3.3.1-4] a PUBLISH with both QoS bits
        set: closed (v5: DISCONNECT 0x81)."""
        for version in (4, 5):
            with self.subTest(version=version):
                self.expect_close(raw_publish(b"a/b", qos=3, version=version),
                                  version=version, rcs=MALFORMED)
        self.assert_broker_serves()

    def test_mqtt5_1_5_4_1_invalid_utf8_topic(self):
        """[MQTT5-1.5.4-1] [MQTT-v311-1.5.3-1] ill-formed UTF-8 (bad bytes,
        overlong, surrogate, truncated sequence) in a topic name: closed
        (v5: DISCONNECT 0x81)."""
        bad = [b"a/\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80",
               b"a\xe2\x82", b"\xf8\x88\x80\x80\x80"]
        watcher = self.raw_connected(version=4)
        watcher.subscribe([("#", 0)])
        for version in (4, 5):
            for topic in bad:
                with self.subTest(version=version, topic=topic):
                    self.expect_close(raw_publish(topic, version=version),
                                      version=version, rcs=MALFORMED)
        self.assertEqual(watcher.packets(0.2), [])
        self.assert_broker_serves()

    # covers: MQTT-v311-4.7.3-2
    def test_mqtt5_1_5_4_2_topic_with_nul(self):
        """[MQTT5-1.5.4-2] [MQTT5-4.7.3-2] [MQTT-v311-1.5.3-2] U+0000 in a
        topic name or filter: closed (v5: DISCONNECT 0x81)."""
        for version in (4, 5):
            with self.subTest(version=version, what="topic"):
                self.expect_close(raw_publish(b"a/\x00b", version=version),
                                  version=version, rcs=MALFORMED)
            with self.subTest(version=version, what="filter"):
                self.expect_close(build_subscribe(1, [("a/\x00/#", 0)],
                                                  version=version),
                                  version=version, rcs=MALFORMED)
        self.assert_broker_serves()

    # covers: MQTT-v311-3.8.3-1, MQTT-v311-3.10.3-1
    def test_invalid_utf8_in_filter(self):
        """[MQTT5-3.8.3-1] [MQTT5-3.10.3-1] ill-formed UTF-8 in a SUBSCRIBE or
        UNSUBSCRIBE filter: closed (v5: 0x81)."""
        for version in (4, 5):
            props = b"\x00" if version == 5 else b""
            sub = packet(SUBSCRIBE, 2, b"\x00\x01" + props +
                         mqtt_bin(b"a/\xff/#") + b"\x00")
            uns = packet(UNSUBSCRIBE, 2, b"\x00\x01" + props +
                         mqtt_bin(b"\xed\xa0\x80"))
            for name, data in (("subscribe", sub), ("unsubscribe", uns)):
                with self.subTest(version=version, packet=name):
                    self.expect_close(data, version=version, rcs=MALFORMED)
        self.assert_broker_serves()

    def test_mqtt5_2_2_1_3_packet_id_zero(self):
        """[MQTT5-2.2.1-3] [MQTT-v311-2.3.1-1] packet id 0 on a QoS 1/2
        PUBLISH, SUBSCRIBE or UNSUBSCRIBE: closed (v5: 0x81 or 0x82)."""
        for version in (4, 5):
            props = b"\x00" if version == 5 else b""
            cases = {
                "publish qos1": raw_publish(b"a/b", qos=1, pid=0,
                                            version=version),
                "publish qos2": raw_publish(b"a/b", qos=2, pid=0,
                                            version=version),
                "subscribe": packet(SUBSCRIBE, 2, b"\x00\x00" + props +
                                    mqtt_str("a/b") + b"\x00"),
                "unsubscribe": packet(UNSUBSCRIBE, 2, b"\x00\x00" + props +
                                      mqtt_str("a/b")),
            }
            for name, data in cases.items():
                with self.subTest(version=version, case=name):
                    self.expect_close(data, version=version)
        self.assert_broker_serves()

    def test_publish_truncated_fields(self):
        """A PUBLISH whose topic length runs past the packet, or that is too
        short for its packet id: closed (v5: 0x81)."""
        for version in (4, 5):
            cases = {
                "topic past end": packet(PUBLISH, 0, b"\x00\x10a/b"),
                "no packet id": packet(PUBLISH, 2, mqtt_str("a/b") + b"\x00"),
                "no topic length": packet(PUBLISH, 0, b"\x00"),
                "empty": packet(PUBLISH, 0, b""),
            }
            if version == 5:
                cases["props past end"] = packet(
                    PUBLISH, 0, mqtt_str("a/b") + b"\x20\x01\x01")
            for name, data in cases.items():
                with self.subTest(version=version, case=name):
                    self.expect_close(data, version=version, rcs=MALFORMED)
        self.assert_broker_serves()

    # -- properties

    def test_mqtt5_duplicate_property(self):
        """A property that may appear once, given twice: Protocol Error,
        DISCONNECT 0x82 (0x81 accepted)."""
        cases = {
            "publish expiry x2": raw_publish(
                b"a/b", version=5,
                props=raw_props(b"\x02\x00\x00\x00\x0a",
                                b"\x02\x00\x00\x00\x0b")),
            "publish content type x2": raw_publish(
                b"a/b", version=5,
                props=raw_props(b"\x03" + mqtt_str("a"),
                                b"\x03" + mqtt_str("b"))),
            "publish payload format x2": raw_publish(
                b"a/b", version=5, props=raw_props(b"\x01\x00", b"\x01\x01")),
            "publish topic alias x2": raw_publish(
                b"a/b", version=5,
                props=raw_props(b"\x23\x00\x01", b"\x23\x00\x02")),
            "subscribe sub id x2": packet(
                SUBSCRIBE, 2, b"\x00\x01" + raw_props(b"\x0b\x01", b"\x0b\x02")
                + mqtt_str("a/b") + b"\x00"),
        }
        for name, data in cases.items():
            with self.subTest(case=name):
                self.expect_close(data, version=5)
        self.assert_broker_serves()

    def test_mqtt5_unknown_or_misplaced_property(self):
        """An unknown property id, or a property not allowed in the packet
        (Session Expiry Interval in PUBLISH, Topic Alias in SUBSCRIBE):
        malformed / protocol error, closed."""
        cases = {
            "unknown 0x7f": raw_publish(b"a/b", version=5,
                                        props=raw_props(b"\x7f\x01")),
            "unknown 0x00": raw_publish(b"a/b", version=5,
                                        props=raw_props(b"\x00\x01")),
            "session expiry in publish": raw_publish(
                b"a/b", version=5, props=raw_props(b"\x11\x00\x00\x00\x01")),
            "topic alias in subscribe": packet(
                SUBSCRIBE, 2, b"\x00\x01" + raw_props(b"\x23\x00\x01") +
                mqtt_str("a/b") + b"\x00"),
            "payload format 2": raw_publish(b"a/b", version=5,
                                            props=raw_props(b"\x01\x02")),
            "sub id 0": packet(SUBSCRIBE, 2, b"\x00\x01" +
                               raw_props(b"\x0b\x00") + mqtt_str("a/b") +
                               b"\x00"),
            "sub id 5-byte varint": packet(
                SUBSCRIBE, 2, b"\x00\x01" +
                raw_props(b"\x0b\xff\xff\xff\xff\x7f") + mqtt_str("a/b") +
                b"\x00"),
            "user property truncated": raw_publish(
                b"a/b", version=5, props=raw_props(b"\x26\x00\x01k\x00\x05v")),
            "content type invalid utf8": raw_publish(
                b"a/b", version=5, props=raw_props(b"\x03\x00\x01\xff")),
        }
        for name, data in cases.items():
            with self.subTest(case=name):
                self.expect_close(data, version=5)
        self.assert_broker_serves()

    # -- SUBSCRIBE / UNSUBSCRIBE payloads

    def test_mqtt5_3_8_3_2_subscribe_without_filters(self):
        """[MQTT5-3.8.3-2] [MQTT5-3.10.3-2] [MQTT-v311-3.8.3-3]
        [MQTT-v311-3.10.3-2] SUBSCRIBE / UNSUBSCRIBE with no filter: closed
        (v5: 0x81 or 0x82)."""
        for version in (4, 5):
            props = b"\x00" if version == 5 else b""
            for name, data in (("subscribe",
                                packet(SUBSCRIBE, 2, b"\x00\x01" + props)),
                               ("unsubscribe",
                                packet(UNSUBSCRIBE, 2, b"\x00\x01" + props))):
                with self.subTest(version=version, packet=name):
                    self.expect_close(data, version=version)
        self.assert_broker_serves()

    def test_mqtt5_3_8_3_5_subscription_options_reserved_bits(self):
        """[MQTT5-3.8.3-5] [MQTT-v311-3.8.3-4] reserved bits in the
        subscription options, or requested QoS 3: closed (v5: 0x81)."""
        for version, opts in ((5, 0x40), (5, 0x80), (5, 0x03),
                              (4, 0x03), (4, 0x04), (4, 0x80)):
            with self.subTest(version=version, opts=hex(opts)):
                self.expect_close(build_subscribe(1, [("a/b", opts)],
                                                  version=version),
                                  version=version, rcs=MALFORMED + (0x82,))
        self.assert_broker_serves()

    def test_subscribe_missing_options_byte(self):
        """A SUBSCRIBE filter without its options byte: closed."""
        for version in (4, 5):
            props = b"\x00" if version == 5 else b""
            self.expect_close(packet(SUBSCRIBE, 2, b"\x00\x01" + props +
                                     mqtt_str("a/b")),
                              version=version, rcs=MALFORMED)
        self.assert_broker_serves()

    # -- tolerated oddities

    def test_unknown_packet_ids_tolerated(self):
        """PUBACK / PUBCOMP for unknown ids are ignored; PUBREC for an unknown
        id is ignored or answered with PUBREL (v5: 0x00 or 0x92); PUBREL for
        an unknown id is answered with PUBCOMP (v5: 0x00 or 0x92 Packet
        Identifier not found) [MQTT5-4.3.3-11]; the connection stays up."""
        for version in (4, 5):
            c = self.raw_connected(version=version)
            c.send(tern.build_ack(PUBACK, 1234, version=version))
            c.send(tern.build_ack(PUBCOMP, 1236, version=version))
            c.ping()
            c.send(tern.build_ack(PUBREC, 1235, version=version))
            c.send(tern.build_ack(PUBREL, 1237, version=version))
            got = c.packets(0.3)
            for p in got:
                self.assertIn((p.type, p.pid), ((PUBREL, 1235),
                                                (PUBCOMP, 1237)), got)
                if version == 5:
                    self.assertIn(p.rc, (0x00, 0x92))
            self.assertIn(PUBCOMP, [p.type for p in got])
            c.ping()

    def test_non_minimal_remaining_length(self):
        """A remaining length in more bytes than needed (MQTT5-1.5.5-1 binds
        the sender): the broker either accepts or closes, and survives."""
        c = self.raw_connected(version=4)
        c.send_quiet(b"\xc0\x80\x00")
        try:
            got = c.packets(0.3)
        except Exception:
            got = []
        for p in got:
            self.assertEqual(p.type, PINGRESP)
        self.assert_broker_serves()

    def test_partial_packet_then_close(self):
        """Connections that close in the middle of a packet (any cut point
        of a v5 CONNECT + SUBSCRIBE + PUBLISH stream) leave the broker
        serving."""
        stream = (build_connect("cut", version=5,
                                will={"topic": "w", "payload": b"x"}) +
                  build_subscribe(1, [("a/#", 1)], version=5) +
                  build_publish("a/b", b"payload", qos=1, pid=2, version=5))
        for cut in range(1, len(stream), 7):
            c = self.raw()
            c.send_quiet(stream[:cut])
            c.abort()
        self.assert_broker_serves()

    def test_garbage_and_mutations(self):
        """200 connections sending random bytes or randomly mutated valid
        packet streams: the broker stays up and serves (pairs with the
        sanitizer build)."""
        rnd = random.Random(1234)
        base = [
            build_connect("m", version=5, props=[(tern.SESSION_EXPIRY, 5)],
                          will={"topic": "w/x", "payload": b"w",
                                "props": [(tern.WILL_DELAY, 1)]}) +
            build_subscribe(1, [("a/#", 2), ("$share/g/b", 1)],
                            props=[(tern.SUBSCRIPTION_ID, 9)], version=5) +
            build_publish("a/b", b"p", qos=2, pid=3, version=5,
                          props=[(tern.USER_PROPERTY, ("k", "v")),
                                 (tern.TOPIC_ALIAS, 1)]),
            build_connect("n", version=4, clean=False) +
            build_subscribe(1, [("a/+", 1)]) +
            build_publish("a/b", b"p", qos=1, pid=3, retain=True) +
            tern.build_unsubscribe(4, ["a/+"]),
        ]
        for i in range(200):
            if i % 10 == 0:
                data = bytes(rnd.getrandbits(8)
                             for _ in range(rnd.randint(1, 64)))
            else:
                data = bytearray(rnd.choice(base))
                for _ in range(rnd.randint(1, 4)):
                    pos = rnd.randrange(len(data))
                    data[pos] = rnd.getrandbits(8)
                data = bytes(data)
            c = self.raw()
            c.send_quiet(data)
            try:
                c.packets(0.005)
            except Exception:
                pass
            if i % 2:
                c.abort()
            else:
                c.close()
        time.sleep(0.2)
        self.assert_broker_serves(version=5)
        self.assert_broker_serves(version=4)


class GarbageW1(TernTestCase):
    workers = 1

    test_garbage_and_mutations = MalformedTests.test_garbage_and_mutations
    test_partial_packet_then_close = \
        MalformedTests.test_partial_packet_then_close


if __name__ == "__main__":
    tern.main()
