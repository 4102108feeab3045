"""More MQTT 5.0 / 3.1.1 conformance checks, one (or a few) normative
statements per test (docs/CONFORMANCE.md).

Every test names the statement it checks; the statement texts are those of
the OASIS standards (MQTT 5.0 Appendix B, MQTT 3.1.1 Appendix B / chapter 7).
Clients are RawClient (exact packets) unless an independent client is the
point of the test.

Brokers (each shared by the tests of its class, workers=1):
  ConformanceTests   defaults, an extra ws:// listener and an admin token
                     (the tests look sessions up with GET /api/v1/clients/ID)
  AuthPacketTests    a password file with a SCRAM verifier (AUTH packets)

Run: TERND=build/ternd /usr/bin/python3 test_conformance_more.py -v
"""

import http.client
import os
import struct
import threading
import time
import unittest
import urllib.parse

import tern
from tern import (AUTH, AUTH_DATA, AUTH_METHOD, CONNACK, CONTENT_TYPE,
                  DISCONNECT, MAXIMUM_PACKET_SIZE, MESSAGE_EXPIRY,
                  PAYLOAD_FORMAT, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC,
                  PUBREL, QUIET, REASON_STRING, RECEIVE_MAXIMUM,
                  RESPONSE_TOPIC, SESSION_EXPIRY, SUBACK, TIMEOUT,
                  TOPIC_ALIAS, TOPIC_ALIAS_MAXIMUM, UNSUBACK, USER_PROPERTY,
                  WILL_DELAY, SharedBrokerCase, build_ack, build_auth,
                  build_connect, build_publish, build_subscribe,
                  build_unsubscribe, packet, unique, wait_until)

TOKEN = "conformance-more-token"

# Reason code tables of MQTT 5.0 chapter 3
CONNACK_CODES = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
                 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C,
                 0x9D, 0x9F}                                  # Table 3-1
PUBACK_CODES = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}
PUBREC_CODES = PUBACK_CODES                                 # 3.5.2.1
PUBREL_CODES = {0x00, 0x92}                                 # 3.6.2.1
PUBCOMP_CODES = {0x00, 0x92}                                # 3.7.2.1
UNSUBACK_CODES = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}  # 3.11.3
DISCONNECT_CODES = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B,
                    0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97,
                    0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0,
                    0xA1, 0xA2}                             # 3.14.2.1
V311_SUBACK_CODES = {0x00, 0x01, 0x02, 0x80}

BAD_UTF8 = b"\xc3\x28"        # a lead byte without its continuation


def with_payload(pkt, extra):
    """pkt (one packet) with `extra` bytes appended to its body."""
    i, n, mult = 1, 0, 1
    while True:
        b = pkt[i]
        n += (b & 0x7F) * mult
        mult *= 128
        i += 1
        if not b & 0x80:
            break
    return bytes([pkt[0]]) + tern.varint(n + len(extra)) + pkt[i:] + extra


class ConformanceCase(SharedBrokerCase):
    workers = 1
    extra_args = ("--listen", "ws://127.0.0.1:0", "--admin-token", TOKEN)

    # -- helpers

    def v5(self, cid=None, props=None, **kw):
        return self.raw_connected(cid or unique("c"), version=5, props=props,
                                  **kw)

    def persistent(self, cid, clean=True, version=5, expiry=60, **kw):
        """A client with a session that outlives the connection."""
        c = self.raw()
        if version == 5:
            props = [(SESSION_EXPIRY, expiry)] + list(kw.pop("props", []))
            c.connect(cid, version=5, clean=clean, props=props, **kw)
        else:
            c.connect(cid, version=version, clean=False, **kw)
        return c

    def session_exists(self, cid):
        u = urllib.parse.urlsplit(self.broker.admin_url())
        conn = http.client.HTTPConnection(u.hostname, u.port,
                                          timeout=TIMEOUT)
        try:
            conn.request("GET", "/api/v1/clients/" +
                         urllib.parse.quote(cid, safe=""),
                         headers={"Authorization": "Bearer " + TOKEN})
            r = conn.getresponse()
            r.read()
        finally:
            conn.close()
        if r.status not in (200, 404):
            raise AssertionError("GET clients/%s: %d" % (cid, r.status))
        return r.status == 200

    def assert_small(self, p, limit):
        """p fits the client's Maximum Packet Size and carries neither a
        Reason String nor User Properties."""
        self.assertLessEqual(p.size, limit, p)
        self.assertFalse(p.props.has(REASON_STRING), p)
        self.assertFalse(p.props.has(USER_PROPERTY), p)

    def closed_after(self, c, data):
        """Sends data; the packets the server sent before it closed."""
        c.send_quiet(data)
        return c.wait_closed()


class ConformanceTests(ConformanceCase):

    # ------------------------------------------------------------------
    # SUBACK / UNSUBACK

    def test_mqtt5_2_2_1_6_suback_unsuback_packet_ids(self):
        """[MQTT5-2.2.1-6] SUBACK and UNSUBACK carry the Packet Identifier
        of the SUBSCRIBE / UNSUBSCRIBE they answer, also when several are
        pipelined and for the extreme ids 1 and 65535."""
        c = self.v5()
        t = unique("pid/")
        pids = [0x1234, 65535, 1, 0x8000]
        c.send(b"".join(build_subscribe(p, [(t + "/%d" % p, 1)], version=5)
                        for p in pids))
        got = [c.expect(SUBACK) for _ in pids]
        self.assertEqual([p.pid for p in got], pids)
        c.send(b"".join(build_unsubscribe(p, [t + "/%d" % p], version=5)
                        for p in reversed(pids)))
        got = [c.expect(UNSUBACK) for _ in pids]
        self.assertEqual([p.pid for p in got], list(reversed(pids)))

    def test_mqtt5_3_11_3_1_unsuback_reason_codes_in_order(self):
        """[MQTT5-3.11.3-1] the UNSUBACK reason codes follow the order of
        the Topic Filters: 0x00 for a filter that had a subscription, 0x11
        for one that had none (also a filter already removed earlier in
        the same UNSUBSCRIBE)."""
        c = self.v5()
        t = unique("uo/")
        self.assertEqual(c.subscribe([(t + "/a", 1), (t + "/c", 0),
                                      (t + "/e", 2)]), [1, 0, 2])
        codes = c.unsubscribe([t + "/b", t + "/a", t + "/d", t + "/c",
                               t + "/a", t + "/e"])
        self.assertEqual(codes, [0x11, 0x00, 0x11, 0x00, 0x11, 0x00])

    def test_mqtt5_3_11_3_2_unsuback_one_defined_code_per_filter(self):
        """[MQTT5-3.11.3-2] one reason code per Topic Filter, each from the
        UNSUBACK table (70 filters: more than the broker's stack buffer)."""
        c = self.v5()
        t = unique("un/")
        filters = [t + "/%d" % i for i in range(70)]
        c.subscribe([(f, 1) for f in filters[::2]])
        codes = c.unsubscribe(filters + ["a/b#", "+/x"])
        self.assertEqual(len(codes), 72)
        self.assertTrue(set(codes) <= UNSUBACK_CODES, codes)
        self.assertEqual(codes[:70], [0x00 if i % 2 == 0 else 0x11
                                      for i in range(70)])

    def test_mqtt_v311_3_9_3_2_suback_return_codes(self):
        """[MQTT-v311-3.9.3-2] a 3.1.1 SUBACK uses only 0x00, 0x01, 0x02
        and 0x80, also for filters the broker refuses."""
        c = self.raw_connected(version=4)
        t = unique("v3s/")
        codes = c.subscribe([(t + "/0", 0), (t + "/1", 1), (t + "/2", 2),
                             ("bad/#/x", 1), ("a+/b", 0), ("$share//x", 1),
                             ("/".join(["l"] * 40), 1)])
        self.assertEqual(codes[:3], [0, 1, 2])
        self.assertTrue(set(codes) <= V311_SUBACK_CODES, codes)
        self.assertEqual(codes[3:5], [0x80, 0x80])

    # ------------------------------------------------------------------
    # CONNECT / CONNACK

    def test_mqtt5_3_2_0_1_connack_before_any_other_packet(self):
        """[MQTT5-3.2.0-1] CONNACK 0x00 is the first packet the server
        sends: before the queued messages of a resumed session, and before
        the answers to packets pipelined right behind the CONNECT."""
        cid = unique("ca")
        t = unique("ca/")
        c = self.persistent(cid)
        c.subscribe([(t, 1)])
        c.disconnect()
        pub = self.v5()
        for i in range(5):
            pub.publish(t, b"%d" % i, qos=1)
        c = self.raw()
        c.version = 5
        c.send(build_connect(cid, 5, clean=False,
                             props=[(SESSION_EXPIRY, 60)]) +
               build_subscribe(9, [(unique("x/"), 0)], version=5) +
               packet(tern.PINGREQ, 0, b""))
        first = c.expect_any()
        self.assertEqual((first.type, first.rc, first.session_present),
                         (CONNACK, 0, True))
        rest = []
        while len(rest) < 7:
            rest.append(c.expect_any())
        self.assertEqual(sorted(p.type for p in rest),
                         sorted([PUBLISH] * 5 + [SUBACK, PINGRESP]))
        # a new session, with CONNECT and SUBSCRIBE in one segment
        c = self.raw()
        c.version = 5
        c.send(build_connect(unique("cb"), 5) +
               build_subscribe(3, [(t, 1)], version=5))
        self.assertEqual(c.expect_any().type, CONNACK)
        self.assertEqual(c.expect(SUBACK).pid, 3)

    def test_mqtt5_3_2_2_7_connack_error_then_close(self):
        """[MQTT5-3.2.2-7] [MQTT5-4.13.2-1] [MQTT5-3.2.2-8] [MQTT5-3.14.0-1]
        each refused CONNECT gets one CONNACK with a reason code of 0x80 or
        above, taken from Table 3-1, then the connection is closed; no
        DISCONNECT is sent (not even for a packet pipelined behind the
        CONNECT)."""
        cases = [
            ("will topic with a wildcard",
             dict(will=dict(topic="w/+", payload=b"x"))),
            ("will with a wildcard in its response topic",
             dict(will=dict(topic="w/x", payload=b"x",
                            props=[(RESPONSE_TOPIC, "r/#")]))),
            ("unsupported authentication method",
             dict(props=[(AUTH_METHOD, "NO-SUCH-METHOD")])),
            ("client id too long", dict(client_id="x" * 300)),
        ]
        for name, kw in cases:
            with self.subTest(name):
                c = self.raw()
                cid = kw.pop("client_id", unique("rf"))
                got = self.closed_after(
                    c, build_connect(cid, 5, **kw) +
                    build_publish("after/connack", b"x", version=5))
                self.assertEqual([p.type for p in got], [CONNACK], got)
                self.assertGreaterEqual(got[0].rc, 0x80)
                self.assertIn(got[0].rc, CONNACK_CODES)
        self.assert_broker_serves(version=5)

    def test_mqtt5_3_14_0_1_no_disconnect_before_connack(self):
        """[MQTT5-3.14.0-1] the server sends no DISCONNECT before a
        successful CONNACK: not for a packet other than CONNECT first, nor
        for a malformed CONNECT."""
        cases = [
            ("PUBLISH before CONNECT",
             build_publish("a/b", b"x", qos=1, pid=1, version=5)),
            ("SUBSCRIBE before CONNECT",
             build_subscribe(1, [("a/b", 1)], version=5)),
            ("CONNECT with the reserved flag set",
             build_connect(unique("m"), 5, flags_extra=0x01)),
            ("CONNECT with a duplicated property",
             build_connect(unique("m"), 5, props=[(SESSION_EXPIRY, 1),
                                                  (SESSION_EXPIRY, 2)])),
            ("CONNECT with Receive Maximum 0",
             build_connect(unique("m"), 5, props=[(RECEIVE_MAXIMUM, 0)])),
            ("CONNECT with a trailing byte",
             with_payload(build_connect(unique("m"), 5), b"\x00")),
        ]
        for name, data in cases:
            with self.subTest(name):
                c = self.raw()
                c.version = 5
                got = self.closed_after(c, data)
                self.assertNotIn(DISCONNECT, [p.type for p in got], got)
                for p in got:
                    self.assertEqual(p.type, CONNACK, got)
                    self.assertGreaterEqual(p.rc, 0x80, got)

    def test_mqtt5_3_2_2_20_connack_user_properties_fit(self):
        """[MQTT5-3.2.2-20] [MQTT5-3.2.2-19] with a Maximum Packet Size of
        8 a refusing CONNACK still arrives and carries no Reason String and
        no User Property; with a large one the Reason String is there (so
        the broker does send one when it fits)."""
        will = dict(topic="w/#", payload=b"x")
        c = self.raw()
        ack = c.connect(unique("mp"), version=5, will=will,
                        props=[(MAXIMUM_PACKET_SIZE, 8)], expect_rc=0x90)
        self.assert_small(ack, 8)
        c.wait_closed()
        c = self.raw()
        ack = c.connect(unique("mp"), version=5, will=will,
                        props=[(MAXIMUM_PACKET_SIZE, 1000)], expect_rc=0x90)
        self.assertTrue(ack.props.has(REASON_STRING), ack)
        self.assertFalse(ack.props.has(USER_PROPERTY), ack)
        c.wait_closed()
        # a successful CONNACK: no User Property either
        c = self.raw()
        ack = c.connect(unique("mp"), version=5,
                        props=[(MAXIMUM_PACKET_SIZE, 20)])
        self.assertFalse(ack.props.has(USER_PROPERTY), ack)

    def test_mqtt5_3_1_2_16_user_name_flag_0_no_user_name(self):
        """[MQTT5-3.1.2-16] [MQTT5-3.1.2-18] a CONNECT whose User Name Flag
        (or Password Flag) is 0 but whose payload still holds a User Name
        (or Password) is malformed: no CONNACK 0x00, the connection is
        closed."""
        # covers: MQTT-v311-3.1.2-18, MQTT-v311-3.1.2-20
        for version in (5, 4):
            cases = [
                ("user name without its flag",
                 with_payload(build_connect(unique("u"), version),
                              tern.mqtt_str("someone"))),
                ("password without its flag",
                 with_payload(build_connect(unique("u"), version,
                                            username="someone"),
                              tern.mqtt_bin(b"secret"))),
            ]
            for name, data in cases:
                with self.subTest(version=version, case=name):
                    c = self.raw()
                    c.version = version
                    got = self.closed_after(c, data)
                    for p in got:
                        self.assertEqual(p.type, CONNACK, got)
                        self.assertNotEqual(p.rc, 0, got)

    def test_mqtt5_3_1_3_12_user_name_must_be_utf8(self):
        """[MQTT5-3.1.3-12] a User Name that is not well-formed UTF-8 makes
        the CONNECT malformed: no CONNACK 0x00, the connection is
        closed."""
        for version in (5, 4):
            with self.subTest(version=version):
                c = self.raw()
                c.version = version
                got = self.closed_after(
                    c, build_connect(unique("u8"), version,
                                     username=b"us" + BAD_UTF8))
                for p in got:
                    self.assertEqual(p.type, CONNACK, got)
                    self.assertNotEqual(p.rc, 0, got)

    def test_mqtt_v311_3_2_2_6_malformed_connect_closed_without_connack(self):
        """[MQTT-v311-3.2.2-6] a 3.1.1 CONNECT that no CONNACK return code
        fits (a malformed one) is answered by closing the connection,
        without a CONNACK."""
        cases = [
            ("reserved connect flag set",
             build_connect(unique("m"), 4, flags_extra=0x01)),
            ("client id not UTF-8",
             build_connect(b"id" + BAD_UTF8, 4)),
            ("will QoS 3", build_connect(
                unique("m"), 4, will=dict(topic="w", payload=b"x", qos=3))),
        ]
        for name, data in cases:
            with self.subTest(name):
                c = self.raw()
                self.assertEqual(self.closed_after(c, data), [])

    def test_mqtt5_3_1_2_26_topic_alias_within_client_maximum(self):
        """[MQTT5-3.1.2-26] the server never sends a Topic Alias above the
        Topic Alias Maximum the client set (2 here), over more topics than
        that."""
        t = unique("ta/")
        c = self.v5(props=[(TOPIC_ALIAS_MAXIMUM, 2)])
        c.subscribe([(t + "/#", 1)])
        pub = self.v5()
        topics = [t + "/%d" % i for i in range(5)]
        for rnd in range(3):
            for x in topics:
                pub.publish(x, b"m", qos=1)
        got = c.publishes(15)
        aliases = [p.props.get(TOPIC_ALIAS) for p in got
                   if p.props.has(TOPIC_ALIAS)]
        self.assertTrue(aliases, "no Topic Alias used at all")
        self.assertTrue(all(1 <= a <= 2 for a in aliases), aliases)

    def test_mqtt5_3_1_2_7_will_stored_with_the_session(self):
        """[MQTT5-3.1.2-7] the Will Message of a CONNECT with Will Flag 1 is
        stored and tied to the Session: published when the connection is
        lost, and, with a Will Delay longer than the Session Expiry, when
        the session ends (long before the delay)."""
        t = unique("will/")
        sub = self.v5()
        sub.subscribe([(t + "/#", 1)])
        c = self.raw()
        c.connect(unique("w"), version=5,
                  will=dict(topic=t + "/a", payload=b"gone", qos=1))
        c.abort()
        p = sub.expect_publish()
        self.assertEqual((p.topic, p.payload), (t + "/a", b"gone"))
        cid = unique("wd")
        c = self.raw()
        c.connect(cid, version=5, props=[(SESSION_EXPIRY, 1)],
                  will=dict(topic=t + "/b", payload=b"ended", qos=1,
                            props=[(WILL_DELAY, 3600)]))
        c.abort()
        p = sub.expect_publish()
        self.assertEqual((p.topic, p.payload), (t + "/b", b"ended"))
        self.assertFalse(self.session_exists(cid))

    def test_mqtt5_3_1_3_2_client_id_identifies_session_state(self):
        """[MQTT5-3.1.3-2] the ClientID selects the session state: two
        clients with sessions get back their own subscriptions and queued
        messages, a third id gets none."""
        # covers: MQTT-v311-3.1.3-2
        for version in (5, 4):
            with self.subTest(version=version):
                t = unique("sid/")
                ids = [unique("x"), unique("y")]
                for i, cid in enumerate(ids):
                    c = self.persistent(cid, version=version)
                    c.subscribe([(t + "/%d" % i, 1)])
                    c.disconnect()
                pub = self.v5()
                pub.publish(t + "/0", b"for x", qos=1)
                pub.publish(t + "/1", b"for y", qos=1)
                for i, cid in enumerate(ids):
                    c = self.persistent(cid, clean=False, version=version)
                    self.assertTrue(c.connack.session_present)
                    got = c.packets()
                    self.assertEqual([(p.topic, p.payload) for p in got],
                                     [(t + "/%d" % i,
                                       [b"for x", b"for y"][i])])
                    for p in got:
                        c.ack(p)
                    c.disconnect()
                c = self.persistent(unique("z"), clean=False,
                                    version=version)
                self.assertFalse(c.connack.session_present)
                c.assert_nothing()

    def test_mqtt5_3_1_4_4_clean_start_processing(self):
        """[MQTT5-3.1.4-4] Clean Start as section 3.1.2.4 says: 0 resumes
        an existing session (Session Present 1, subscriptions kept); 1
        discards it (Session Present 0, subscriptions gone); 0 without a
        session starts a new one (Session Present 0)."""
        cid = unique("cs")
        t = unique("cs/")
        c = self.persistent(cid, clean=False)
        self.assertFalse(c.connack.session_present)
        c.subscribe([(t, 1)])
        c.disconnect()
        c = self.persistent(cid, clean=False)
        self.assertTrue(c.connack.session_present)
        pub = self.v5()
        pub.publish(t, b"1", qos=1)
        self.assertEqual(c.expect_publish().payload, b"1")
        c.disconnect()
        c = self.persistent(cid, clean=True)
        self.assertFalse(c.connack.session_present)
        pub.publish(t, b"2", qos=1)
        c.assert_nothing()

    # ------------------------------------------------------------------
    # Malformed packets, protocol errors, DISCONNECT

    def test_mqtt5_4_13_1_1_protocol_errors_close_the_connection(self):
        """[MQTT5-4.13.1-1] [MQTT5-4.13.2-1] [MQTT5-3.14.2-1] a Malformed
        Packet or Protocol Error with a defined reason code: DISCONNECT
        with that code (a code of the DISCONNECT table), then the
        connection is closed."""
        t = unique("pe/")
        cases = [
            ("PUBLISH QoS 3", packet(PUBLISH, 0x06, b"\x00\x01a\x00"),
             0x81),
            ("second CONNECT", build_connect(unique("d"), 5), 0x82),
            ("Topic Alias 0", build_publish(
                "", b"x", version=5, props=[(TOPIC_ALIAS, 0)]),
             (0x82, 0x94)),
            ("unknown Topic Alias", build_publish(
                "", b"x", version=5, props=[(TOPIC_ALIAS, 3)]), 0x82),
            ("wildcard in a topic name", build_publish(
                t + "/+", b"x", version=5), 0x90),
            ("Subscription Identifier from a client", build_publish(
                t, b"x", version=5, props=[(tern.SUBSCRIPTION_ID, 1)]),
             0x82),
            ("SUBSCRIBE with reserved flags 0", build_subscribe(
                1, [(t, 0)], version=5, flags=0), 0x81),
            ("CONNACK from a client", packet(CONNACK, 0, b"\x00\x00\x00"),
             0x82),
            ("Content Type not UTF-8", build_publish(
                t, b"x", version=5, props=[(CONTENT_TYPE, BAD_UTF8)]),
             0x81),
        ]
        for name, data, rc in cases:
            with self.subTest(name):
                c = self.v5()
                got = self.closed_after(c, data)
                self.assertEqual([p.type for p in got], [DISCONNECT], got)
                self.assertIn(got[0].rc, rc if isinstance(rc, tuple)
                              else (rc,))
                self.assertIn(got[0].rc, DISCONNECT_CODES)
        self.assert_broker_serves(version=5)

    def test_mqtt_v311_4_8_0_1_protocol_violation_closes(self):
        """[MQTT-v311-4.8.0-1] a 3.1.1 server that meets a protocol
        violation closes the connection the packet came on (3.1.1 has no
        server DISCONNECT: nothing is sent)."""
        t = unique("v3pe/")
        cases = [
            ("PUBLISH QoS 3", packet(PUBLISH, 0x06, b"\x00\x01a\x00")),
            ("second CONNECT", build_connect(unique("d"), 4)),
            ("wildcard in a topic name", build_publish(t + "/#", b"x")),
            ("SUBSCRIBE with reserved flags 0",
             build_subscribe(1, [(t, 0)], flags=0)),
            ("SUBSCRIBE without topic filters",
             packet(tern.SUBSCRIBE, 0x02, b"\x00\x01")),
            ("PUBREL with reserved flags 0", packet(PUBREL, 0, b"\x00\x01")),
        ]
        for name, data in cases:
            with self.subTest(name):
                c = self.raw_connected(version=4)
                other = self.raw_connected(version=4)
                self.assertEqual(self.closed_after(c, data), [])
                self.assertTrue(other.is_open(0.05))
                other.ping()

    def test_mqtt5_4_13_2_1_closed_even_when_disconnect_not_sent(self):
        """[MQTT5-4.13.2-1] a DISCONNECT with a reason code of 0x80 or more
        that cannot be sent (the client's Maximum Packet Size is 2, smaller
        than any DISCONNECT with a reason code): the connection is closed
        all the same."""
        c = self.raw()
        c.connect(unique("ns"), version=5, props=[(MAXIMUM_PACKET_SIZE, 2)])
        got = self.closed_after(c, packet(PUBLISH, 0x06, b"\x00\x01a\x00"))
        self.assertEqual(got, [])

    def test_mqtt5_3_14_2_1_disconnect_reason_codes(self):
        """[MQTT5-3.14.2-1] the DISCONNECTs the server sends use codes of
        the DISCONNECT table: session taken over (0x8E), Receive Maximum
        exceeded (0x93), Topic Alias invalid (0x94)."""
        got = []
        cid = unique("to")
        old = self.v5(cid)
        self.v5(cid)
        got += old.wait_closed()
        c = self.v5()
        t = unique("rm/")
        c.send(b"".join(build_publish(t, b"x", qos=2, pid=i + 1, version=5)
                        for i in range(129)))   # max_inflight is 128
        got += [p for p in c.wait_closed() if p.type != PUBREC]
        c = self.v5()
        got += self.closed_after(c, build_publish(
            "", b"x", version=5, props=[(TOPIC_ALIAS, 65535)]))
        self.assertEqual([(p.type, p.rc) for p in got],
                         [(DISCONNECT, 0x8E), (DISCONNECT, 0x93),
                          (DISCONNECT, 0x94)])
        self.assertTrue({p.rc for p in got} <= DISCONNECT_CODES)

    def test_mqtt5_3_14_4_1_nothing_after_disconnect(self):
        """[MQTT5-3.14.4-1] [MQTT5-3.14.4-2] after its DISCONNECT the server
        sends nothing more on the connection, although messages for it keep
        arriving, and closes it: for a protocol error and for a session
        takeover."""
        for why in ("protocol error", "takeover"):
            with self.subTest(why):
                t = unique("na/")
                cid = unique("na")
                c = self.v5(cid)
                c.subscribe([(t, 0)])
                pub = self.v5()
                stop = threading.Event()

                def flood():
                    data = b"".join(build_publish(t, b"p" * 100, version=5)
                                    for _ in range(50))
                    while not stop.is_set():
                        if not pub.send_quiet(data):
                            return
                        time.sleep(0.002)
                th = threading.Thread(target=flood, daemon=True)
                th.start()
                self.addCleanup(th.join, 5)
                self.addCleanup(stop.set)
                try:
                    c.expect(PUBLISH)
                    if why == "takeover":
                        self.v5(cid)
                    else:
                        c.send(packet(PUBLISH, 0x06, b"\x00\x01a\x00"))
                    got = c.wait_closed()
                finally:
                    stop.set()
                kinds = [p.type for p in got]
                self.assertIn(DISCONNECT, kinds)
                self.assertEqual(kinds.index(DISCONNECT), len(kinds) - 1,
                                 "packets after the DISCONNECT")
                self.assertEqual(got[-1].rc,
                                 0x8E if why == "takeover" else 0x81)

    # ------------------------------------------------------------------
    # Reason String / User Property vs the client's Maximum Packet Size

    def test_mqtt5_3_4_2_2_puback_pubrec_fit_maximum_packet_size(self):
        """[MQTT5-3.4.2-2] [MQTT5-3.4.2-3] [MQTT5-3.5.2-2] [MQTT5-3.5.2-3]
        [MQTT5-3.5.2-1] with a Maximum Packet Size of 8 the PUBACK and
        PUBREC for a refused message (0x99 Payload format invalid) still
        arrive, with their reason code and without Reason String or User
        Property (the PUBLISH asked for one with Request Problem
        Information and carried User Properties)."""
        c = self.raw()
        c.connect(unique("pa"), version=5,
                  props=[(MAXIMUM_PACKET_SIZE, 8),
                         (tern.REQUEST_PROBLEM_INFO, 1)])
        t = unique("pa/")
        props = [(PAYLOAD_FORMAT, 1), (USER_PROPERTY, ("k", "v" * 50))]
        ack = c.publish(t, BAD_UTF8, qos=1, props=props)
        self.assertEqual(ack.rc, 0x99)
        self.assert_small(ack, 8)
        rec = c.publish(t, BAD_UTF8, qos=2, props=props)
        self.assertEqual(rec.type, PUBREC)
        self.assertEqual(rec.rc, 0x99)
        self.assertIn(rec.rc, PUBREC_CODES)
        self.assert_small(rec, 8)
        rec = c.publish(t, b"fine", qos=2, wait_ack=False, pid=77,
                        props=[(USER_PROPERTY, ("k", "v" * 50))])
        rec = c.expect_ack(PUBREC, 77)
        self.assertIn(rec.rc, PUBREC_CODES)
        self.assertLess(rec.rc, 0x80)
        self.assert_small(rec, 8)
        c.send(build_ack(PUBREL, 77, version=5))
        self.assert_small(c.expect_ack(PUBCOMP, 77), 8)

    def test_mqtt5_3_6_2_2_pubrel_pubcomp_fit_maximum_packet_size(self):
        """[MQTT5-3.6.2-2] [MQTT5-3.6.2-3] [MQTT5-3.7.2-2] [MQTT5-3.7.2-3]
        [MQTT5-3.6.2-1] [MQTT5-3.7.2-1] with a Maximum Packet Size of 8 the
        PUBREL for an unknown PUBREC and the PUBCOMP for an unknown PUBREL
        (both 0x92 Packet Identifier not found) arrive without Reason
        String or User Property; their codes are from the PUBREL / PUBCOMP
        tables."""
        c = self.raw()
        c.connect(unique("pr"), version=5,
                  props=[(MAXIMUM_PACKET_SIZE, 8),
                         (tern.REQUEST_PROBLEM_INFO, 1)])
        up = [(USER_PROPERTY, ("k", "v" * 50))]
        c.send(build_ack(PUBREC, 4321, rc=0, props=up, version=5))
        rel = c.expect_ack(PUBREL, 4321)
        self.assertEqual(rel.rc, 0x92)
        self.assertIn(rel.rc, PUBREL_CODES)
        self.assert_small(rel, 8)
        c.send(build_ack(PUBREL, 4322, rc=0, props=up, version=5))
        comp = c.expect_ack(PUBCOMP, 4322)
        self.assertEqual(comp.rc, 0x92)
        self.assertIn(comp.rc, PUBCOMP_CODES)
        self.assert_small(comp, 8)

    def test_mqtt5_3_6_2_1_pubrel_pubcomp_codes_in_a_normal_flow(self):
        """[MQTT5-3.6.2-1] [MQTT5-3.7.2-1] [MQTT5-3.5.2-1] in complete QoS 2
        flows in both directions the server's PUBREC, PUBREL and PUBCOMP
        use codes of their tables (0x00 here)."""
        t = unique("q2/")
        sub = self.v5()
        sub.subscribe([(t, 2)])
        pub = self.v5()
        comp = pub.publish(t, b"x", qos=2, pid=5)
        self.assertEqual(comp.rc, 0x00)
        p = sub.expect_publish(ack=False)
        sub.send(build_ack(PUBREC, p.pid, version=5))
        rel = sub.expect_ack(PUBREL, p.pid)
        self.assertEqual(rel.rc, 0x00)
        sub.send(build_ack(PUBCOMP, p.pid, version=5))
        sub.ping()

    def test_mqtt5_3_9_2_2_suback_unsuback_fit_maximum_packet_size(self):
        """[MQTT5-3.9.2-2] [MQTT5-3.11.2-1] [MQTT5-3.11.2-2] with a Maximum
        Packet Size of 8 the SUBACK for a refused filter and the UNSUBACK
        for a filter without a subscription arrive, with their reason codes
        and without Reason String or User Property (the requests carried
        User Properties)."""
        c = self.raw()
        c.connect(unique("sa"), version=5,
                  props=[(MAXIMUM_PACKET_SIZE, 8),
                         (tern.REQUEST_PROBLEM_INFO, 1)])
        up = [(USER_PROPERTY, ("k", "v" * 50))]
        c.send(build_subscribe(11, [("bad/#/x", 1)], props=up, version=5))
        p = c.expect_ack(SUBACK, 11)
        self.assertEqual(p.codes, [0x8F])
        self.assert_small(p, 8)
        c.send(tern.packet(tern.UNSUBSCRIBE, 0x02, struct.pack("!H", 12) +
                           tern.encode_props(up) +
                           tern.mqtt_str(unique("none/"))))
        p = c.expect_ack(UNSUBACK, 12)
        self.assertEqual(p.codes, [0x11])
        self.assert_small(p, 8)
        c.send(build_unsubscribe(13, ["a/#/b"], version=5))
        p = c.expect_ack(UNSUBACK, 13)
        self.assertEqual(len(p.codes), 1)
        self.assertIn(p.codes[0], UNSUBACK_CODES - {0x00})
        self.assert_small(p, 8)

    def test_mqtt5_3_14_2_4_disconnect_user_properties_fit(self):
        """[MQTT5-3.14.2-4] [MQTT5-3.14.2-3] with a Maximum Packet Size of
        8 the server's DISCONNECT carries neither User Property nor Reason
        String; with a large one its Reason String is there."""
        got = {}
        for limit in (8, 1000):
            c = self.raw()
            c.connect(unique("dp"), version=5,
                      props=[(MAXIMUM_PACKET_SIZE, limit),
                             (tern.REQUEST_PROBLEM_INFO, 1)])
            got[limit] = self.closed_after(c, build_connect(unique("d2"), 5))
            self.assertEqual([(p.type, p.rc) for p in got[limit]],
                             [(DISCONNECT, 0x82)])
        self.assert_small(got[8][0], 8)
        got = got[1000]
        self.assertTrue(got[0].props.has(REASON_STRING), got)
        self.assertFalse(got[0].props.has(USER_PROPERTY), got)

    # ------------------------------------------------------------------
    # UTF-8 properties

    def test_mqtt5_3_3_2_13_response_topic_and_content_type_utf8(self):
        """[MQTT5-3.3.2-13] [MQTT5-3.3.2-19] Response Topic and Content Type
        are UTF-8 Encoded Strings: the server forwards well-formed ones
        unchanged (as sender) and treats ill-formed ones as a Malformed
        Packet (as receiver): DISCONNECT 0x81 and close."""
        t = unique("u8/")
        sub = self.v5()
        sub.subscribe([(t, 1)])
        pub = self.v5()
        rt, ct = t + "/r\u00e9ponse/\U0001F600", "text/plain; charset=\u00e9"
        pub.publish(t, b"x", qos=1, props=[(RESPONSE_TOPIC, rt),
                                           (CONTENT_TYPE, ct)])
        p = sub.expect_publish()
        self.assertEqual((p.props.get(RESPONSE_TOPIC),
                          p.props.get(CONTENT_TYPE)), (rt, ct))
        for pid, bad in ((RESPONSE_TOPIC, b"r/" + BAD_UTF8),
                         (CONTENT_TYPE, b"t" + BAD_UTF8),
                         (RESPONSE_TOPIC, b"r/\xed\xa0\x80"),
                         (CONTENT_TYPE, b"a\x00b")):
            with self.subTest(prop=pid, value=bad):
                c = self.v5()
                got = self.closed_after(c, build_publish(
                    t, b"y", qos=1, pid=1, version=5, props=[(pid, bad)]))
                self.assertEqual([(p.type, p.rc) for p in got],
                                 [(DISCONNECT, 0x81)])
        sub.assert_nothing()

    # ------------------------------------------------------------------
    # QoS 1 and QoS 2 flows

    def test_mqtt5_4_3_2_1_qos1_sender_ids_and_unacknowledged(self):
        """[MQTT5-4.3.2-1] [MQTT5-4.3.2-2] [MQTT5-4.3.2-3] as QoS 1 sender
        the server gives each new message an unused non-zero Packet
        Identifier, sends it with QoS 1 and DUP 0, and keeps it
        unacknowledged until its PUBACK: on reconnection only the messages
        without PUBACK are sent again (same id, DUP 1)."""
        # covers: MQTT-v311-4.3.2-1
        for version in (5, 4):
            with self.subTest(version=version):
                cid = unique("q1")
                t = unique("q1/")
                c = self.persistent(cid, version=version)
                c.subscribe([(t, 1)])
                pub = self.v5()
                for i in range(6):
                    pub.publish(t, b"%d" % i, qos=1)
                got = c.publishes(6, ack=False)
                self.assertEqual([p.payload for p in got],
                                 [b"%d" % i for i in range(6)])
                pids = [p.pid for p in got]
                self.assertEqual(len(set(pids)), 6, pids)
                self.assertNotIn(0, pids)
                self.assertTrue(all(p.qos == 1 and not p.dup for p in got))
                for p in got[:3]:
                    c.send(build_ack(PUBACK, p.pid, version=version))
                c.ping()
                c.disconnect()
                c = self.persistent(cid, clean=False, version=version)
                again = c.publishes(3, ack=False)
                self.assertEqual([(p.payload, p.pid, p.dup) for p in again],
                                 [(p.payload, p.pid, True) for p in got[3:]])
                for p in again:
                    c.send(build_ack(PUBACK, p.pid, version=version))
                c.ping()
                c.disconnect()
                c = self.persistent(cid, clean=False, version=version)
                c.assert_nothing()

    def test_mqtt5_4_3_2_4_qos1_receiver_puback_with_incoming_id(self):
        """[MQTT5-4.3.2-4] [MQTT5-4.3.3-8] as QoS 1 / QoS 2 receiver the
        server answers each PUBLISH with a PUBACK / PUBREC carrying that
        PUBLISH's Packet Identifier, for pipelined PUBLISHes and extreme
        ids."""
        c = self.v5()
        t = unique("rcv/")
        ids = [1, 65535, 0x1234, 2]
        c.send(b"".join(build_publish(t, b"x", qos=1, pid=i, version=5)
                        for i in ids))
        self.assertEqual([c.expect(PUBACK).pid for _ in ids], ids)
        c.send(b"".join(build_publish(t, b"x", qos=2, pid=i, version=5)
                        for i in ids))
        self.assertEqual([c.expect(PUBREC).pid for _ in ids], ids)
        c.send(b"".join(build_ack(PUBREL, i, version=5) for i in ids))
        self.assertEqual([(p.pid, p.rc) for p in
                          (c.expect(PUBCOMP) for _ in ids)],
                         [(i, 0) for i in ids])

    def test_mqtt5_4_3_3_1_qos2_sender_ids_and_unacknowledged(self):
        """[MQTT5-4.3.3-1] [MQTT5-4.3.3-3] [MQTT5-4.3.3-5] as QoS 2 sender
        the server gives each new message an unused Packet Identifier; a
        PUBLISH stays unacknowledged until its PUBREC (sent again, DUP 1,
        on reconnection) and a PUBREL until its PUBCOMP (the PUBREL, not
        the PUBLISH, is sent again)."""
        cid = unique("q2")
        t = unique("q2s/")
        c = self.persistent(cid)
        c.subscribe([(t, 2)])
        pub = self.v5()
        for i in range(3):
            pub.publish(t, b"%d" % i, qos=2)
        got = c.publishes(3, ack=False)
        pids = [p.pid for p in got]
        self.assertEqual(len(set(pids)), 3, pids)
        self.assertNotIn(0, pids)
        self.assertTrue(all(p.qos == 2 and not p.dup for p in got))
        c.send(build_ack(PUBREC, pids[0], version=5))
        c.expect_ack(PUBREL, pids[0])
        c.disconnect()
        c = self.persistent(cid, clean=False)
        again = c.packets(QUIET * 2)
        rels = [p.pid for p in again if p.type == PUBREL]
        pubs = [(p.payload, p.pid, p.dup) for p in again
                if p.type == PUBLISH]
        self.assertEqual(rels, [pids[0]])
        self.assertEqual(pubs, [(b"1", pids[1], True), (b"2", pids[2], True)])
        c.send(build_ack(PUBCOMP, pids[0], version=5))
        for _, pid, _ in pubs:
            c.send(build_ack(PUBREC, pid, version=5))
            c.expect_ack(PUBREL, pid)
            c.send(build_ack(PUBCOMP, pid, version=5))
        c.ping()
        c.disconnect()
        c = self.persistent(cid, clean=False)
        c.assert_nothing()

    def test_mqtt5_4_3_3_7_no_expiry_once_sent(self):
        """[MQTT5-4.3.3-7] [MQTT5-4.3.3-13] Message Expiry of 1 s: a QoS 2
        PUBLISH the server has sent is not expired but sent again on
        reconnection after 2 s (sender), and the server as receiver
        finishes a QoS 2 flow (PUBCOMP 0x00) whose message has expired."""
        cid = unique("ex")
        t = unique("ex/")
        c = self.persistent(cid)
        c.subscribe([(t, 2)])
        pub = self.v5()
        pub.send(build_publish(t, b"short", qos=2, pid=9, version=5,
                               props=[(MESSAGE_EXPIRY, 1)]))
        rec = pub.expect_ack(PUBREC, 9)
        self.assertEqual(rec.rc, 0)
        p = c.expect_publish(ack=False)
        self.assertEqual(p.payload, b"short")
        c.disconnect()
        time.sleep(2.2)
        pub.send(build_ack(PUBREL, 9, version=5))
        comp = pub.expect_ack(PUBCOMP, 9)
        self.assertEqual(comp.rc, 0x00)
        c = self.persistent(cid, clean=False)
        again = c.expect_publish(ack=False)
        self.assertEqual((again.payload, again.pid, again.dup),
                         (b"short", p.pid, True))
        c.ack(again)

    def test_mqtt5_4_3_3_9_pubrec_error_frees_the_packet_id(self):
        """[MQTT5-4.3.3-9] after a PUBREC of 0x80 or more (0x99 for an
        invalid UTF-8 payload) a PUBLISH with that Packet Identifier, even
        with DUP 1, is a new message: routed to subscribers and answered
        PUBREC 0x00."""
        t = unique("p99/")
        sub = self.v5()
        sub.subscribe([(t, 2)])
        c = self.v5()
        c.send(build_publish(t, BAD_UTF8, qos=2, pid=42, version=5,
                             props=[(PAYLOAD_FORMAT, 1)]))
        self.assertEqual(c.expect_ack(PUBREC, 42).rc, 0x99)
        c.send(build_publish(t, b"new one", qos=2, pid=42, dup=True,
                             version=5, props=[(PAYLOAD_FORMAT, 1)]))
        self.assertEqual(c.expect_ack(PUBREC, 42).rc, 0x00)
        c.send(build_ack(PUBREL, 42, version=5))
        self.assertEqual(c.expect_ack(PUBCOMP, 42).rc, 0x00)
        p = sub.expect_publish()
        self.assertEqual(p.payload, b"new one")
        sub.assert_nothing()

    def test_mqtt5_4_9_0_1_initial_send_quota(self):
        """[MQTT5-4.9.0-1] the server's initial send quota toward a client
        with Receive Maximum 3 is non-zero and at most 3: of 6 QoS 1/2
        messages it sends 3 before any acknowledgement, one more per
        PUBACK / PUBCOMP."""
        for qos in (1, 2):
            with self.subTest(qos=qos):
                t = unique("sq/")
                c = self.v5(props=[(RECEIVE_MAXIMUM, 3)])
                c.subscribe([(t, qos)])
                pub = self.v5()
                for i in range(6):
                    pub.publish(t, b"%d" % i, qos=qos)
                first = c.publishes(3, ack=False)
                c.assert_nothing()
                if qos == 1:
                    c.send(build_ack(PUBACK, first[0].pid, version=5))
                else:
                    c.send(build_ack(PUBREC, first[0].pid, version=5))
                    c.expect_ack(PUBREL, first[0].pid)
                    c.assert_nothing()
                    c.send(build_ack(PUBCOMP, first[0].pid, version=5))
                nxt = c.expect_publish(ack=False)
                self.assertEqual(nxt.payload, b"3")
                c.assert_nothing()

    def test_mqtt_v311_3_10_4_3_inflight_completed_after_unsubscribe(self):
        """[MQTT-v311-3.10.4-3] after UNSUBSCRIBE the server completes the
        QoS 1 and QoS 2 deliveries it had started: the QoS 2 PUBREC still
        gets its PUBREL, and the unacknowledged QoS 1 message is sent again
        on reconnection."""
        cid = unique("ud")
        t = unique("ud/")
        c = self.persistent(cid, version=4)
        c.subscribe([(t + "/1", 1), (t + "/2", 2)])
        pub = self.v5()
        pub.publish(t + "/1", b"one", qos=1)
        pub.publish(t + "/2", b"two", qos=2)
        got = {p.qos: p for p in c.publishes(2, ack=False)}
        self.assertEqual(c.unsubscribe([t + "/1", t + "/2"]), [])
        c.send(build_ack(PUBREC, got[2].pid))
        c.expect_ack(PUBREL, got[2].pid)
        c.send(build_ack(PUBCOMP, got[2].pid))
        c.ping()
        c.disconnect()
        c = self.persistent(cid, clean=False, version=4)
        again = c.expect_publish()
        self.assertEqual((again.payload, again.pid, again.dup),
                         (b"one", got[1].pid, True))
        c.assert_nothing()

    # ------------------------------------------------------------------
    # Shared subscriptions

    def test_mqtt5_4_8_2_4_shared_qos2_finished_with_same_client(self):
        """[MQTT5-4.8.2-4] a QoS 2 message of a shared subscription whose
        delivery is cut by a disconnect goes to no other member and is
        finished with the same client when it reconnects."""
        t = unique("sh2/")
        ids = [unique("m"), unique("m")]
        ms = []
        for cid in ids:
            m = self.persistent(cid)
            m.subscribe([("$share/g/" + t, 2)])
            ms.append(m)
        pub = self.v5()
        pub.publish(t, b"only once", qos=2)
        holder = None
        deadline = time.monotonic() + TIMEOUT
        while holder is None and time.monotonic() < deadline:
            for i, m in enumerate(ms):
                got = m.packets(0.05)
                if got:
                    self.assertEqual([p.payload for p in got],
                                     [b"only once"])
                    holder = i
                    break
        self.assertIsNotNone(holder, "no member got the message")
        ms[holder].abort()
        other = ms[1 - holder]
        other.assert_nothing()
        back = self.persistent(ids[holder], clean=False)
        p = back.expect_publish()
        self.assertEqual((p.payload, p.dup), (b"only once", True))
        other.assert_nothing()

    def test_mqtt5_4_8_2_5_shared_message_not_resent_to_others(self):
        """[MQTT5-4.8.2-5] the member holding an unfinished QoS 2 message
        of a shared subscription loses its session before reconnecting
        (Session Expiry 1 s): the message goes to no other member."""
        t = unique("sh5/")
        filt = "$share/g/" + t
        cid = unique("gone")
        a = self.persistent(cid, expiry=1)
        a.subscribe([(filt, 2)])
        pub = self.v5()
        pub.publish(t, b"first", qos=2)
        self.assertEqual(a.expect_publish(ack=False).payload, b"first")
        b = self.persistent(unique("stay"))
        b.subscribe([(filt, 2)])
        a.abort()
        self.assertTrue(wait_until(lambda: not self.session_exists(cid)),
                        "session of %s did not end" % cid)
        b.assert_nothing()
        pub.publish(t, b"second", qos=2)
        self.assertEqual(b.expect_publish().payload, b"second")
        b.assert_nothing()

    # ------------------------------------------------------------------
    # Transport

    def ws_upgrade(self, protocols):
        from test_ws import WsClient
        c = WsClient(self.broker.ports[1])
        self.addCleanup(c.close)
        return c, c.upgrade(protocols=protocols)

    def test_mqtt5_6_0_0_4_websocket_subprotocol_mqtt(self):
        """[MQTT5-6.0.0-4] a client offering "mqtt" gets "mqtt" as the
        selected WebSocket subprotocol (alone or after another name), and
        MQTT works on it."""
        # covers: MQTT-v311-6.0.0-4
        for offered in ("mqtt", "chat, mqtt", "mqtt, chat"):
            with self.subTest(offered=offered):
                c, r = self.ws_upgrade(offered)
                self.assertEqual(r.headers.get("sec-websocket-protocol"),
                                 "mqtt")
                c.connect(unique("ws"), version=5)
                c.ping()

    def test_mqtt5_6_0_0_4_mqtt_chosen_over_mqttv31(self):
        """[MQTT5-6.0.0-4] a client offering both "mqttv3.1" (the pre-OASIS
        name) and "mqtt" gets "mqtt" selected, whatever the order."""
        # covers: MQTT-v311-6.0.0-4
        for offered in ("mqtt, mqttv3.1", "mqttv3.1, mqtt"):
            with self.subTest(offered=offered):
                c, r = self.ws_upgrade(offered)
                self.assertEqual(r.headers.get("sec-websocket-protocol"),
                                 "mqtt")

    def test_mqtt_v311_7_1_1_1_ordered_lossless_tcp(self):
        """[MQTT-v311-7.1.1-1] the server speaks MQTT over TCP, an ordered,
        lossless byte stream both ways: 300 messages of growing size
        published in one write arrive complete and in order."""
        t = unique("tcp/")
        sub = self.raw_connected(version=4)
        sub.subscribe([(t, 1)])
        pub = self.raw_connected(version=4)
        payloads = [bytes([i % 251]) * (i * 7) for i in range(300)]
        pub.send(b"".join(build_publish(t, pl, qos=1, pid=i + 1)
                          for i, pl in enumerate(payloads)))
        acks = [pub.expect(PUBACK).pid for _ in payloads]
        self.assertEqual(acks, list(range(1, 301)))
        got = sub.publishes(300)
        self.assertEqual([p.payload for p in got], payloads)

    def test_mqtt_v311_7_0_0_2_standard_clients_need_no_extension(self):
        """[MQTT-v311-7.0.0-2] independent standard clients (mosquitto_pub
        3.1.1, paho 3.1.1 and 5.0) interoperate with the default broker
        without any extension."""
        t = unique("interop/")
        p5 = self.paho_connected(version=5)
        p5.subscribe(t, qos=1)
        p4 = self.paho_connected(version=4)
        p4.subscribe(t, qos=1)
        self.mosquitto_pub(t, "from mosquitto", qos=1)
        p4.publish(t, b"from paho", qos=1)
        for c in (p5, p4):
            got = sorted(m.payload for m in c.collect(2))
            self.assertEqual(got, [b"from mosquitto", b"from paho"])


# ---------------------------------------------------------------------------
# AUTH


class AuthPacketTests(SharedBrokerCase):
    """SCRAM-SHA-256 re-authentication: the server's AUTH packets."""

    workers = 1

    @classmethod
    def class_settings(cls, tmp):
        from test_scram import ternctl_passwd
        path = os.path.join(tmp, "passwd")
        ternctl_passwd(path, "user", "pencil", "--scram")
        return {"password_file": path}

    def exchange(self, max_size=None):
        """CONNECT + SCRAM, then a re-authentication; returns the AUTH
        packets the server sent."""
        from test_scram import METHOD, ScramClient, scram_props
        sc = ScramClient("user", "pencil")
        props = [] if max_size is None else [(MAXIMUM_PACKET_SIZE, max_size)]
        c = self.raw()
        c.version = 5
        c.send(build_connect(unique("au"), 5,
                             props=scram_props(sc.first()) + props))
        auths = [c.expect(AUTH)]
        c.send(build_auth(0x18, METHOD,
                          sc.final(auths[0].props.get(AUTH_DATA))))
        self.assertEqual(c.expect(CONNACK).rc, 0)
        sc = ScramClient("user", "pencil")
        c.send(build_auth(0x19, METHOD, sc.first(),
                          props=[(USER_PROPERTY, ("k", "v"))]))
        auths.append(c.expect(AUTH))
        c.send(build_auth(0x18, METHOD,
                          sc.final(auths[-1].props.get(AUTH_DATA))))
        auths.append(c.expect(AUTH))
        self.assertEqual([a.rc for a in auths], [0x18, 0x18, 0x00])
        c.ping()
        return auths

    def test_mqtt5_3_15_2_2_auth_fits_maximum_packet_size(self):
        """[MQTT5-3.15.2-2] [MQTT5-3.15.2-3] with the client's Maximum
        Packet Size set to exactly the size of the server's largest AUTH
        in the same exchange, every AUTH still arrives and none carries a
        Reason String or User Property."""
        sizes = [a.size for a in self.exchange()]
        limit = max(sizes)
        for a in self.exchange(limit):
            self.assertLessEqual(a.size, limit, a)
            self.assertFalse(a.props.has(REASON_STRING), a)
            self.assertFalse(a.props.has(USER_PROPERTY), a)


if __name__ == "__main__":
    tern.main()
