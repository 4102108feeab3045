"""MQTT 5 features: topic aliases, message expiry, flow control, maximum
packet size, property pass-through, problem information."""

import time

import tern
from tern import (DISCONNECT, PUBACK, PUBLISH, PUBREC, SUBACK, TernTestCase,
                  build_ack, build_publish, unique, v5_props)


class TopicAliasTests:

    def test_mqtt5_3_3_2_12_client_to_server_alias(self):
        """[MQTT5-3.3.2-12] the server accepts Topic Aliases 1..its Topic Alias
        Maximum: topic + alias sets the mapping, empty topic + alias uses it,
        a new topic with the same alias replaces it."""
        base = unique("ta")
        sub = self.raw_connected(version=4)
        sub.subscribe([(base + "/#", 1)])
        c = self.raw()
        ack = c.connect(unique(), version=5)
        tam = ack.props.get(tern.TOPIC_ALIAS_MAXIMUM)
        self.assertGreaterEqual(tam, 2)
        c.publish(base + "/one", b"1", qos=1, props=[(tern.TOPIC_ALIAS, 1)])
        c.publish(base + "/max", b"2", qos=1,
                  props=[(tern.TOPIC_ALIAS, tam)])
        c.publish("", b"3", qos=1, props=[(tern.TOPIC_ALIAS, 1)])
        c.publish("", b"4", qos=0, props=[(tern.TOPIC_ALIAS, tam)])
        c.publish(base + "/two", b"5", qos=1, props=[(tern.TOPIC_ALIAS, 1)])
        c.publish("", b"6", qos=2, props=[(tern.TOPIC_ALIAS, 1)])
        got = sub.publishes(6)
        self.assertEqual([(p.topic, p.payload) for p in got],
                         [(base + "/one", b"1"), (base + "/max", b"2"),
                          (base + "/one", b"3"), (base + "/max", b"4"),
                          (base + "/two", b"5"), (base + "/two", b"6")])

    def test_topic_alias_with_paho(self):
        """paho v5 publishes with a TopicAlias property work end to end."""
        topic = unique("pta/")
        sub = self.paho_connected(version=5)
        sub.subscribe(topic, 1)
        pub = self.paho_connected(version=5)
        pub.publish(topic, b"a", qos=1, properties=v5_props(TopicAlias=3))
        pub.publish("", b"b", qos=1, properties=v5_props(TopicAlias=3))
        got = sub.collect(2)
        self.assertEqual([(m.topic, m.payload) for m in got],
                         [(topic, b"a"), (topic, b"b")])
        # the alias is not forwarded to subscribers that did not ask
        self.assertIsNone(got[0].prop("TopicAlias"))

    def test_mqtt5_3_2_2_17_alias_above_maximum(self):
        """[MQTT5-3.2.2-17] [MQTT5-3.3.2-9] a Topic Alias above the server's
        Topic Alias Maximum: DISCONNECT 0x94 (Topic Alias invalid)."""
        c = self.raw()
        tam = c.connect(unique(), version=5).props.get(
            tern.TOPIC_ALIAS_MAXIMUM)
        c.publish("a/b", b"x", props=[(tern.TOPIC_ALIAS, tam + 1)])
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x94)])

    def test_mqtt5_3_3_2_8_alias_zero(self):
        """[MQTT5-3.3.2-8] Topic Alias 0 is not permitted: DISCONNECT 0x94
        (Topic Alias invalid) or 0x82 (Protocol Error)."""
        c = self.raw_connected(version=5)
        c.publish("a/b", b"x", props=[(tern.TOPIC_ALIAS, 0)])
        got = c.wait_closed()
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0].type, DISCONNECT)
        self.assertIn(got[0].rc, (0x94, 0x82))

    def test_unknown_alias_with_empty_topic(self):
        """An empty topic with an alias that has no mapping is a Protocol
        Error: DISCONNECT 0x82."""
        c = self.raw_connected(version=5)
        c.publish("", b"x", props=[(tern.TOPIC_ALIAS, 2)])
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x82)])

    def test_mqtt5_3_3_2_7_aliases_not_carried_over(self):
        """[MQTT5-3.3.2-7] alias mappings do not survive the connection, even
        a resumed session."""
        cid = unique("tac")
        c = self.raw()
        c.connect(cid, version=5, props=[(tern.SESSION_EXPIRY, 60)])
        c.publish("a/b", b"x", qos=1, props=[(tern.TOPIC_ALIAS, 1)])
        c.disconnect()
        c = self.raw()
        c.connect(cid, version=5, clean=False,
                  props=[(tern.SESSION_EXPIRY, 60)])
        c.publish("", b"x", qos=1, props=[(tern.TOPIC_ALIAS, 1)],
                  wait_ack=False)
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x82)])

    def test_mqtt5_3_1_2_27_no_alias_without_client_maximum(self):
        """[MQTT5-3.1.2-27] a client that sent no Topic Alias Maximum never
        gets a Topic Alias."""
        topic = unique("na/")
        c = self.raw_connected(version=5)
        c.subscribe([(topic, 1)])
        pub = self.raw_connected(version=5)
        for i in range(10):
            pub.publish(topic, b"%d" % i, qos=1)
        for p in c.publishes(10):
            self.assertEqual(p.topic, topic)
            self.assertFalse(p.props.has(tern.TOPIC_ALIAS))

    def test_mqtt5_3_3_2_11_server_to_client_alias(self):
        """[MQTT5-3.3.2-11] [MQTT5-3.3.2-8] a client with Topic Alias Maximum
        5: the server may use aliases 1..5; once it has sent topic+alias,
        later PUBLISHes on that topic arrive with the alias and an empty
        topic. Every PUBLISH resolves to the right topic."""
        base = unique("sta")
        c = self.raw()
        c.connect(unique(), version=5,
                  props=[(tern.TOPIC_ALIAS_MAXIMUM, 5)])
        c.subscribe([(base + "/#", 1)])
        pub = self.raw_connected(version=5)
        topics = [base + "/t%d" % (i % 3) for i in range(12)]
        for i, t in enumerate(topics):
            pub.publish(t, b"%d" % i, qos=1)
        got = c.publishes(len(topics))
        aliases = {}
        used_empty = False
        for t, p in zip(topics, got):
            alias = p.props.get(tern.TOPIC_ALIAS)
            if alias is not None:
                self.assertTrue(1 <= alias <= 5, p)
            if p.topic:
                if alias is not None:
                    aliases[alias] = p.topic
                resolved = p.topic
            else:
                self.assertIsNotNone(alias, "empty topic without alias")
                self.assertIn(alias, aliases)
                resolved = aliases[alias]
                used_empty = True
            self.assertEqual(resolved, t)
        self.assertTrue(used_empty, "the server never sent an aliased "
                        "PUBLISH with an empty topic: %r" % got[:4])

    def test_mqtt5_3_3_2_11_alias_maximum_1(self):
        """[MQTT5-3.3.2-11] with Topic Alias Maximum 1 the server never sends
        an alias above 1, whatever the number of topics."""
        base = unique("ta1")
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.TOPIC_ALIAS_MAXIMUM, 1)])
        c.subscribe([(base + "/#", 0)])
        pub = self.raw_connected(version=5)
        topics = [base + "/%d" % (i % 4) for i in range(16)]
        for t in topics:
            pub.publish(t, t.encode(), qos=1)
        current = None
        for t, p in zip(topics, c.publishes(len(topics))):
            alias = p.props.get(tern.TOPIC_ALIAS)
            self.assertIn(alias, (None, 1))
            if p.topic:
                if alias == 1:
                    current = p.topic
                self.assertEqual(p.topic, t)
            else:
                self.assertEqual(alias, 1)
                self.assertEqual(current, t)
            self.assertEqual(p.payload, t.encode())


class TopicAliasW1(TopicAliasTests, TernTestCase):
    workers = 1


class TopicAliasW2(TopicAliasTests, TernTestCase):
    workers = 2


class NoTopicAliasTests(TernTestCase):
    settings = {"max_topic_alias": 0}

    def test_mqtt5_3_2_2_18_no_alias_allowed(self):
        """[MQTT5-3.2.2-18] max_topic_alias=0: CONNACK has no Topic Alias
        Maximum (or 0) and a PUBLISH with an alias gets DISCONNECT 0x94."""
        c = self.raw()
        ack = c.connect(unique(), version=5)
        self.assertIn(ack.props.get(tern.TOPIC_ALIAS_MAXIMUM, 0), (0,))
        c.publish("a/b", b"x", props=[(tern.TOPIC_ALIAS, 1)])
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x94)])


class MessageExpiryTests:

    def offline_session(self, topic, qos=1):
        cid = unique("mx")
        c = self.raw()
        c.connect(cid, version=5, props=[(tern.SESSION_EXPIRY, 60)])
        c.subscribe([(topic, qos)])
        c.disconnect()
        return cid

    def resume(self, cid):
        c = self.raw()
        self.assertTrue(c.connect(cid, version=5, clean=False,
                                  props=[(tern.SESSION_EXPIRY, 60)])
                        .session_present)
        return c

    @tern.slow
    def test_mqtt5_3_3_2_5_expired_not_delivered(self):
        """[MQTT5-3.3.2-5] a queued message whose Message Expiry Interval (1 s)
        passed before the client came back is not delivered; one without
        expiry is."""
        topic = unique("exp/")
        cid = self.offline_session(topic)
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"expires", qos=1,
                    props=[(tern.MESSAGE_EXPIRY, 1)])
        pub.publish(topic, b"stays", qos=1)
        time.sleep(2.2)
        c = self.resume(cid)
        got = [p.payload for p in c.packets(0.5)]
        self.assertEqual(got, [b"stays"])

    @tern.slow
    def test_mqtt5_3_3_2_6_expiry_decremented(self):
        """[MQTT5-3.3.2-6] the forwarded Message Expiry Interval is the
        received one minus the time the message waited (sent 60, waited
        ~2 s -> at most 59)."""
        topic = unique("dec/")
        cid = self.offline_session(topic)
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"waits", qos=1,
                    props=[(tern.MESSAGE_EXPIRY, 60)])
        time.sleep(2.1)
        c = self.resume(cid)
        m = c.expect_publish()
        left = m.props.get(tern.MESSAGE_EXPIRY)
        self.assertIsNotNone(left, "Message Expiry Interval not forwarded")
        self.assertLessEqual(left, 58)
        self.assertGreaterEqual(left, 50)

    def test_expiry_forwarded_live(self):
        """[MQTT5-3.3.2-6] a message forwarded at once keeps its Message
        Expiry Interval (the same or one second less); messages without
        one get none."""
        topic = unique("live/")
        c = self.raw_connected(version=5)
        c.subscribe([(topic, 1)])
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"a", qos=1, props=[(tern.MESSAGE_EXPIRY, 100)])
        pub.publish(topic, b"b", qos=1)
        a, b = c.publishes(2)
        self.assertIn(a.props.get(tern.MESSAGE_EXPIRY), (99, 100))
        self.assertFalse(b.props.has(tern.MESSAGE_EXPIRY))

    @tern.slow
    def test_retained_message_expiry(self):
        """[MQTT5-3.3.2-5] a retained message expires: a subscriber after the
        expiry does not get it; before, it gets a decremented interval."""
        t1, t2 = unique("rexp/"), unique("rexp/")
        pub = self.raw_connected(version=5)
        pub.publish(t1, b"short", qos=1, retain=True,
                    props=[(tern.MESSAGE_EXPIRY, 1)])
        pub.publish(t2, b"long", qos=1, retain=True,
                    props=[(tern.MESSAGE_EXPIRY, 60)])
        time.sleep(2.2)
        s = self.raw_connected(version=5)
        s.subscribe([(t1, 1)])
        s.assert_nothing()
        s.subscribe([(t2, 1)])
        m = s.expect_publish()
        self.assertEqual(m.payload, b"long")
        self.assertLessEqual(m.props.get(tern.MESSAGE_EXPIRY), 58)

    def test_expiry_with_paho(self):
        """paho's MessageExpiryInterval property goes end to end."""
        topic = unique("pexp/")
        s = self.paho_connected(version=5)
        s.subscribe(topic, 1)
        p = self.paho_connected(version=5)
        p.publish(topic, b"x", qos=1,
                  properties=v5_props(MessageExpiryInterval=30))
        self.assertIn(s.get().prop("MessageExpiryInterval"), (29, 30))


    @tern.slow
    def test_mqtt5_3_3_2_5_expired_while_held_by_receive_maximum(self):
        """[MQTT5-3.3.2-5] a message waiting behind a full Receive Maximum
        window expires there: it is skipped, the next one comes."""
        t = unique("eq/")
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.RECEIVE_MAXIMUM, 1)])
        c.subscribe([(t, 1)])
        pub = self.raw_connected(version=5)
        pub.publish(t, b"A", qos=1)
        pub.publish(t, b"B", qos=1, props=[(tern.MESSAGE_EXPIRY, 1)])
        pub.publish(t, b"C", qos=1)
        a = c.expect_publish(ack=False)
        self.assertEqual(a.payload, b"A")
        time.sleep(2.2)
        c.ack(a)
        self.assertEqual(c.expect_publish().payload, b"C")
        c.assert_nothing(0.3)

class MessageExpiryW1(MessageExpiryTests, TernTestCase):
    workers = 1
    run_slow = False


class MessageExpiryW2(MessageExpiryTests, TernTestCase):
    workers = 2


class FlowControlTests(TernTestCase):
    settings = {"max_inflight": 2}

    def test_mqtt5_3_3_4_9_server_respects_client_receive_maximum(self):
        """[MQTT5-3.3.4-9] [MQTT5-4.9.0-2] [MQTT5-3.3.4-10] [MQTT5-4.9.0-3] a
        client with Receive Maximum 2 that does not acknowledge gets only 2
        QoS 1/2 PUBLISHes; PINGREQ is still answered; each PUBACK releases
        one more."""
        topic = unique("rm/")
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.RECEIVE_MAXIMUM, 2)])
        c.subscribe([(topic, 2)])
        pub = self.raw_connected(version=5)
        for i in range(6):
            pub.publish(topic, b"%d" % i, qos=1 + i % 2)
        first = c.publishes(2, ack=False)
        self.assertEqual([p.payload for p in first], [b"0", b"1"])
        c.ping()
        c.assert_nothing()
        c.send(build_ack(PUBACK, first[0].pid, version=5))
        nxt = c.expect_publish(ack=False)
        self.assertEqual(nxt.payload, b"2")
        c.assert_nothing(0.3)
        c.ack(first[1])  # PUBREC .. PUBCOMP frees the QoS 2 slot
        rest = c.publishes(3)
        self.assertEqual([p.payload for p in rest], [b"3", b"4", b"5"])

    def test_mqtt5_3_3_4_7_client_exceeds_receive_maximum(self):
        """[MQTT5-3.3.4-7] max_inflight=2 (CONNACK Receive Maximum 2): a third
        unfinished QoS 2 PUBLISH gets DISCONNECT 0x93 (Receive Maximum
        exceeded)."""
        c = self.raw()
        ack = c.connect(unique(), version=5)
        self.assertEqual(ack.props.get(tern.RECEIVE_MAXIMUM), 2)
        for pid in (1, 2, 3):
            c.send(build_publish("rm/x", b"x", qos=2, pid=pid, version=5))
        got = c.wait_closed()
        self.assertEqual([p.type for p in got],
                         [PUBREC, PUBREC, DISCONNECT], got)
        self.assertEqual(got[-1].rc, 0x93)

    def test_receive_maximum_completed_flows_free_slots(self):
        """Completed QoS 2 flows free their slot: many QoS 2 PUBLISHes done
        one after another never hit the limit of 2."""
        c = self.raw_connected(version=5)
        for i in range(10):
            c.publish("rm/ok", b"%d" % i, qos=2)
        c.ping()

    def test_receive_maximum_zero_protocol_error(self):
        """Receive Maximum 0 in CONNECT is a Protocol Error: the connection
        is refused (CONNACK 0x82) or closed."""
        c = self.raw()
        c.send(tern.build_connect(unique(), version=5,
                                  props=[(tern.RECEIVE_MAXIMUM, 0)]))
        got = c.wait_closed()
        self.assertLessEqual(len(got), 1)
        for p in got:
            self.assertEqual((p.type, p.rc), (tern.CONNACK, 0x82))

    def test_mqtt5_4_9_0_2_qos2_counts_until_pubcomp(self):
        """[MQTT5-4.9.0-2] a QoS 2 delivery uses the client's quota until
        PUBCOMP: with Receive Maximum 1, after PUBREC only the PUBREL comes,
        the next PUBLISH only after PUBCOMP."""
        topic = unique("rq2/")
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.RECEIVE_MAXIMUM, 1)])
        c.subscribe([(topic, 2)])
        pub = self.raw_connected(version=5)
        for i in range(3):
            pub.publish(topic, b"%d" % i, qos=2)
        m = c.expect_publish(ack=False)
        c.send(build_ack(PUBREC, m.pid, version=5))
        got = c.packets(0.4)
        self.assertEqual([p.type for p in got], [tern.PUBREL], got)
        c.send(build_ack(tern.PUBCOMP, m.pid, version=5))
        self.assertEqual(c.expect_publish(ack=False).payload, b"1")

    def test_mqtt5_3_3_4_9_retained_respect_receive_maximum(self):
        """[MQTT5-3.3.4-9] retained messages sent on SUBSCRIBE obey the
        client's Receive Maximum too (5 retained, Receive Maximum 1)."""
        base = unique("rr")
        pub = self.raw_connected(version=5)
        for i in range(5):
            pub.publish(base + "/%d" % i, b"r", qos=1, retain=True)
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.RECEIVE_MAXIMUM, 1)])
        c.send(tern.build_subscribe(1, [(base + "/#", 1)], version=5))
        got = c.packets(0.4)
        pubs = [p for p in got if p.type == PUBLISH]
        self.assertEqual(len(pubs), 1, got)
        seen = [pubs[0].topic]
        c.ack(pubs[0])
        for _ in range(4):
            p = c.expect_publish()
            seen.append(p.topic)
        self.assertEqual(sorted(seen), [base + "/%d" % i for i in range(5)])


class PacketSizeTests(TernTestCase):
    settings = {"max_packet_size": 1024}

    def test_mqtt5_3_1_2_24_client_maximum_packet_size(self):
        """[MQTT5-3.1.2-24] [MQTT5-3.1.2-25] the server never sends a packet
        larger than the client's Maximum Packet Size (200): a too large
        message is dropped for that client, later small ones still come."""
        topic = unique("mps/")
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.MAXIMUM_PACKET_SIZE,
                                               200)])
        c.subscribe([(topic, 1)])
        other = self.raw_connected(version=5)
        other.subscribe([(topic, 1)])
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"x" * 500, qos=1)
        pub.publish(topic, b"small", qos=1)
        pub.publish(topic, b"y" * (200 - 2 - len(topic) - 2 - 1 - 2 - 10),
                    qos=1)
        got = c.packets(0.8)
        for p in got:
            self.assertLessEqual(p.size, 200, p)
            c.ack(p)
        self.assertEqual([p.payload[:5] for p in got],
                         [b"small", b"yyyyy"])
        self.assertEqual(len(other.publishes(3)), 3)

    def test_mqtt5_3_2_2_15_packet_above_server_maximum(self):
        """[MQTT5-3.2.2-15] max_packet_size=1024: CONNACK says so; a larger
        PUBLISH gets DISCONNECT 0x95 (Packet too large) and the connection
        is closed; 3.1.1 clients are just closed."""
        c = self.raw()
        ack = c.connect(unique(), version=5)
        self.assertEqual(ack.props.get(tern.MAXIMUM_PACKET_SIZE), 1024)
        c.send_quiet(build_publish("big/x", b"z" * 2000, qos=1, pid=1,
                                   version=5))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x95)])
        c4 = self.raw_connected(version=4)
        c4.send_quiet(build_publish("big/x", b"z" * 2000, qos=1, pid=1))
        self.assertEqual(c4.wait_closed(), [])
        # exactly at the limit is fine
        c5 = self.raw_connected(version=5)
        body = 1024 - 1 - 2 - (2 + 5 + 2 + 1)
        pkt = build_publish("big/x", b"k" * body, qos=1, pid=3, version=5)
        self.assertEqual(len(pkt), 1024)
        c5.send(pkt)
        self.assertEqual(c5.expect(PUBACK).pid, 3)
        self.assert_broker_serves()

    def test_huge_declared_length_rejected_early(self):
        """A packet that declares a remaining length far above
        max_packet_size is refused without waiting for its bytes."""
        c = self.raw_connected(version=5)
        c.send(bytes([0x30]) + tern.varint(100 * 1024 * 1024) + b"\x00\x01a")
        got = c.wait_closed(3)
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x95)])

    def test_mqtt5_3_1_2_24_retained_too_large_not_sent(self):
        """[MQTT5-3.1.2-24] [MQTT5-3.1.2-25] a retained message larger than
        the client's Maximum Packet Size is not sent on SUBSCRIBE."""
        t = unique("rbig/")
        pub = self.raw_connected(version=5)
        pub.publish(t, b"x" * 500, qos=1, retain=True)
        pub.publish(t + "/s", b"small", qos=1, retain=True)
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.MAXIMUM_PACKET_SIZE,
                                               100)])
        c.subscribe([(t, 1), (t + "/s", 1)])
        got = c.packets(0.4)
        self.assertEqual([(p.topic, p.payload) for p in got],
                         [(t + "/s", b"small")])

    def test_mqtt5_3_14_2_3_reason_string_respects_maximum_packet_size(self):
        """[MQTT5-3.14.2-3] [MQTT5-3.9.2-1] [MQTT5-3.2.2-19] with
        Maximum Packet Size 12, SUBACK and DISCONNECT leave out their
        Reason String rather than exceed it."""
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.MAXIMUM_PACKET_SIZE, 12)])
        c.send(tern.build_subscribe(1, [("bad/#/x", 1)], version=5))
        p = c.expect(SUBACK)
        self.assertEqual(p.codes, [0x8F])
        self.assertLessEqual(p.size, 12)
        c.send(tern.packet(PUBLISH, 0x06, b"\x00\x01a\x00"))  # QoS 3
        got = c.wait_closed()
        self.assertEqual([(x.type, x.rc) for x in got], [(DISCONNECT, 0x81)])
        self.assertLessEqual(got[0].size, 12)

    def test_topic_levels_limit(self):
        """max_topic_levels (32 by default): a longer topic name gets
        DISCONNECT 0x90 (Topic Name invalid), a longer filter SUBACK 0x8F."""
        long_topic = "/".join(["l"] * 40)
        c = self.raw_connected(version=5)
        self.assertEqual(c.subscribe([(long_topic, 0),
                                      ("/".join(["l"] * 32), 0)]),
                         [0x8F, 0])
        c.publish(long_topic, b"x", qos=1, wait_ack=False)
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x90)])


    def test_mqtt5_3_1_2_25_dropped_packet_sets_no_alias(self):
        """[MQTT5-3.1.2-25] [MQTT5-3.3.2-11] a message dropped for the
        client's Maximum Packet Size does not set up a Topic Alias: the next
        message on that topic still carries the topic name."""
        t = unique("ab/")
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.TOPIC_ALIAS_MAXIMUM, 5),
                                              (tern.MAXIMUM_PACKET_SIZE, 100)])
        c.subscribe([(t, 1)])
        pub = self.raw_connected(version=5)
        pub.publish(t, b"x" * 300, qos=1)
        pub.publish(t, b"small1", qos=1)
        pub.publish(t, b"small2", qos=1)
        got = c.publishes(2)
        self.assertEqual([p.payload for p in got], [b"small1", b"small2"])
        self.assertEqual(got[0].topic, t)
        alias = got[0].props.get(tern.TOPIC_ALIAS)
        if not got[1].topic:
            self.assertIsNotNone(alias)
            self.assertEqual(got[1].props.get(tern.TOPIC_ALIAS), alias)
        c.assert_nothing(0.2)

class PropertyTests:

    def test_mqtt5_3_3_2_17_user_properties_in_order(self):
        """[MQTT5-3.3.2-17] [MQTT5-3.3.2-18] user properties go through
        unchanged and in order, repeated keys and empty values included."""
        topic = unique("up/")
        c = self.raw_connected(version=5)
        c.subscribe([(topic, 1)])
        ups = [("z", "1"), ("a", "2"), ("z", "3"), ("", ""), ("k", "v" * 300),
               ("unicode", "\u00e9\u4e2d\U0001f600")]
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"x", qos=1,
                    props=[(tern.USER_PROPERTY, u) for u in ups])
        m = c.expect_publish()
        self.assertEqual(m.props.all(tern.USER_PROPERTY), ups)

    def test_user_properties_paho(self):
        """[MQTT5-3.3.2-18] paho UserProperty list arrives in order."""
        topic = unique("pup/")
        s = self.paho_connected(version=5)
        s.subscribe(topic, 1)
        p = self.paho_connected(version=5)
        props = v5_props()
        props.UserProperty = ("b", "1")
        props.UserProperty = ("a", "2")
        props.UserProperty = ("b", "3")
        p.publish(topic, b"x", qos=1, properties=props)
        self.assertEqual(s.get().prop("UserProperty"),
                         [("b", "1"), ("a", "2"), ("b", "3")])

    def test_mqtt5_3_3_2_4_request_response_properties(self):
        """[MQTT5-3.3.2-4] [MQTT5-3.3.2-15] [MQTT5-3.3.2-16] [MQTT5-3.3.2-20]
        Payload Format Indicator, Content Type, Response Topic and
        Correlation Data are forwarded unchanged, to v5 subscribers at every
        QoS."""
        topic = unique("rr/")
        subs = [self.raw_connected(version=5) for _ in range(3)]
        for q, s in enumerate(subs):
            s.subscribe([(topic, q)])
        pub = self.raw_connected(version=5)
        props = [(tern.PAYLOAD_FORMAT, 1),
                 (tern.CONTENT_TYPE, "application/json; charset=utf-8"),
                 (tern.RESPONSE_TOPIC, "reply/" + topic),
                 (tern.CORRELATION_DATA, bytes(range(32)))]
        pub.publish(topic, b'{"a": 1}', qos=2, props=props)
        for s in subs:
            m = s.expect_publish()
            for pid, v in props:
                self.assertEqual(m.props.get(pid), v, "property 0x%02x" % pid)
            self.assertEqual(m.payload, b'{"a": 1}')
        # and to a 3.1.1 subscriber the message arrives without them
        s4 = self.raw_connected(version=4)
        s4.subscribe([(topic, 1)])
        pub.publish(topic, b"plain", qos=1, props=props)
        self.assertEqual(s4.expect_publish().payload, b"plain")

    def test_request_response_paho(self):
        """A paho request/response round trip using Response Topic and
        Correlation Data."""
        req_topic = unique("req/")
        responder = self.paho_connected(version=5)
        responder.subscribe(req_topic, 1)
        requester = self.paho_connected(version=5)
        resp_topic = unique("resp/")
        requester.subscribe(resp_topic, 1)
        requester.publish(req_topic, b"question", qos=1,
                          properties=v5_props(ResponseTopic=resp_topic,
                                              CorrelationData=b"id-1"))
        q = responder.get()
        self.assertEqual(q.prop("ResponseTopic"), resp_topic)
        responder.publish(q.prop("ResponseTopic"), b"answer", qos=1,
                          properties=v5_props(
                              CorrelationData=q.prop("CorrelationData")))
        a = requester.get()
        self.assertEqual((a.payload, a.prop("CorrelationData")),
                         (b"answer", b"id-1"))

    def test_mqtt5_3_3_2_14_response_topic_wildcard(self):
        """[MQTT5-3.3.2-14] a Response Topic with wildcards is a Protocol
        Error: DISCONNECT 0x82 (or 0x81/0x90); it is never forwarded."""
        topic = unique("rtw/")
        s = self.raw_connected(version=5)
        s.subscribe([(topic, 0)])
        c = self.raw_connected(version=5)
        c.publish(topic, b"x", props=[(tern.RESPONSE_TOPIC, "reply/#")])
        for p in s.packets(0.3):
            self.assertNotIn("#", p.props.get(tern.RESPONSE_TOPIC, ""),
                             "forwarded with a wildcard Response Topic")
        got = c.wait_closed(2)
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0].type, DISCONNECT)
        self.assertIn(got[0].rc, (0x82, 0x81, 0x90))

    def test_mqtt5_3_1_2_29_no_reason_string_when_not_requested(self):
        """[MQTT5-3.1.2-29] Request Problem Information 0: SUBACK and
        UNSUBACK carry no Reason String or User Property, even for refused
        filters."""
        c = self.raw()
        c.connect(unique(), version=5,
                  props=[(tern.REQUEST_PROBLEM_INFO, 0)])
        c.send(tern.build_subscribe(1, [("ok/x", 1), ("bad/#/x", 1),
                                        ("$share/g", 0)], version=5))
        p = c.expect(SUBACK)
        self.assertEqual(p.codes[0], 1)
        self.assertTrue(all(code >= 0x80 for code in p.codes[1:]), p)
        self.assertFalse(p.props.has(tern.REASON_STRING), p)
        self.assertFalse(p.props.has(tern.USER_PROPERTY), p)
        c.send(tern.build_unsubscribe(2, ["nope/x"], version=5))
        u = c.expect(tern.UNSUBACK)
        self.assertFalse(u.props.has(tern.REASON_STRING), u)

    def test_mqtt5_3_8_4_7_invalid_filter_suback_code(self):
        """[MQTT5-3.8.4-7] [MQTT5-3.9.3-2] an invalid filter in a SUBSCRIBE
        with valid ones: SUBACK 0x8F for it, the others granted (or the
        connection is closed as malformed)."""
        c = self.raw_connected(version=5)
        c.send(tern.build_subscribe(1, [("ok/x", 2), ("a/#/b", 1),
                                        ("a+/b", 0), ("ok/y", 0)], version=5))
        p = c.expect_any()
        if p.type == SUBACK:
            self.assertEqual(p.codes, [2, 0x8F, 0x8F, 0])
        else:
            self.assertEqual(p.type, DISCONNECT)
            self.assertIn(p.rc, (0x81, 0x82, 0x8F))

    def test_mqtt5_3_1_2_29_reason_string_when_requested(self):
        """Problem information on (default): a refused subscription may carry
        a Reason String; it is valid UTF-8."""
        c = self.raw_connected(version=5)
        c.send(tern.build_subscribe(1, [("bad/#/x", 1)], version=5))
        p = c.expect(SUBACK)
        self.assertEqual(p.codes, [0x8F])
        rs = p.props.get(tern.REASON_STRING)
        if rs is not None:
            self.assertIsInstance(rs, str)

    def test_mqtt5_3_3_4_5_subscription_id_max_and_separate_copies(self):
        """[MQTT5-3.3.4-5] the largest Subscription Identifier (268435455)
        round-trips; a shared and a non-shared subscription of one client
        give separate copies, each with its own identifier."""
        t = unique("sid/")
        c = self.raw_connected(version=5)
        c.subscribe([("$share/g/" + t, 1)],
                    props=[(tern.SUBSCRIPTION_ID, 268435455)])
        c.subscribe([(t, 1)], props=[(tern.SUBSCRIPTION_ID, 6)])
        pub = self.raw_connected(version=5)
        pub.publish(t, b"x", qos=1)
        got = c.publishes(2)
        self.assertEqual(sorted(p.props.all(tern.SUBSCRIPTION_ID)
                                for p in got), [[6], [268435455]])
        c.assert_nothing(0.2)

    def test_subscription_id_replaced_and_removed(self):
        """[MQTT5-3.8.4-3] re-subscribing replaces the Subscription
        Identifier; re-subscribing without one removes it."""
        t = unique("sidr/")
        c = self.raw_connected(version=5)
        c.subscribe([(t, 1)], props=[(tern.SUBSCRIPTION_ID, 1)])
        c.subscribe([(t, 1)], props=[(tern.SUBSCRIPTION_ID, 2)])
        pub = self.raw_connected(version=5)
        pub.publish(t, b"a", qos=1)
        self.assertEqual(c.expect_publish().props.all(tern.SUBSCRIPTION_ID),
                         [2])
        c.subscribe([(t, 1)])
        pub.publish(t, b"b", qos=1)
        self.assertEqual(c.expect_publish().props.all(tern.SUBSCRIPTION_ID),
                         [])

    def test_retained_on_subscribe_carries_subscription_id(self):
        """[MQTT5-3.3.4-3] a retained message sent because of a SUBSCRIBE
        carries that subscription's identifier."""
        t = unique("rsid/")
        pub = self.raw_connected(version=5)
        pub.publish(t, b"r", qos=1, retain=True)
        c = self.raw_connected(version=5)
        c.subscribe([(t, 1)], props=[(tern.SUBSCRIPTION_ID, 11)])
        m = c.expect_publish()
        self.assertEqual((m.retain, m.props.all(tern.SUBSCRIPTION_ID)),
                         (True, [11]))

    def test_retained_set_through_topic_alias(self):
        """A retained PUBLISH sent with an empty topic and a Topic Alias is
        stored under the full topic name."""
        t = unique("ra/")
        c = self.raw_connected(version=5)
        c.publish(t, b"first", qos=1, props=[(tern.TOPIC_ALIAS, 1)])
        c.publish("", b"second", qos=1, retain=True,
                  props=[(tern.TOPIC_ALIAS, 1)])
        s = self.raw_connected(version=5)
        s.subscribe([(t, 1)])
        m = s.expect_publish()
        self.assertEqual((m.topic, m.payload, m.retain), (t, b"second", True))
        self.assertFalse(m.props.has(tern.TOPIC_ALIAS))

    def test_payload_format_invalid_utf8(self):
        """Payload Format Indicator 1 with a payload that is not UTF-8: the
        server may refuse it (PUBACK 0x99 Payload format invalid, not
        forwarded) or pass it through unchanged."""
        t = unique("pfi/")
        s = self.raw_connected(version=5)
        s.subscribe([(t, 1)])
        c = self.raw_connected(version=5)
        ack = c.publish(t, b"\xff\xfe", qos=1,
                        props=[(tern.PAYLOAD_FORMAT, 1)])
        self.assertIn(ack.rc, (0x00, 0x99))
        got = s.packets(0.3)
        if ack.rc == 0x99:
            self.assertEqual(got, [])
        else:
            self.assertEqual([p.payload for p in got], [b"\xff\xfe"])
        c.publish(t, "h\u00e9".encode(), qos=1,
                  props=[(tern.PAYLOAD_FORMAT, 1)])
        self.assertEqual(s.expect_publish().payload, "h\u00e9".encode())


class PropertyW1(PropertyTests, TernTestCase):
    workers = 1


class PropertyW2(PropertyTests, TernTestCase):
    workers = 2


if __name__ == "__main__":
    tern.main()
