"""PUBLISH: QoS flows, payloads, topic matching, overlapping subscriptions,
subscription identifiers, no local, SUBSCRIBE/UNSUBSCRIBE."""

import random
import tempfile
import time

import tern
from tern import (DISCONNECT, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL,
                  TernTestCase, build_ack, build_publish, sub_opts, unique)


class PublishTests:
    """Run with workers=1 and workers=2 (subclasses below)."""

    # covers: MQTT-v311-3.3.4-1, MQTT-v311-4.3.1-1
    def test_mqtt5_4_3_qos_0_1_2_end_to_end_paho(self):
        """[MQTT5-3.3.4-1] [MQTT5-4.3.1-1] [MQTT5-4.3.2-2]
        [MQTT5-4.3.3-2] QoS 0, 1 and 2 messages go end to end at their
        QoS (subscriber at QoS 2), paho v3.1.1 and v5."""
        for version in (4, 5):
            topic = unique("e2e/")
            sub = self.paho_connected(version=version)
            self.assertEqual(sub.subscribe(topic, 2), [2])
            pub = self.paho_connected(version=version)
            for qos in (0, 1, 2):
                pub.publish(topic, b"qos%d" % qos, qos=qos)
                m = sub.get()
                self.assertEqual((m.topic, m.payload, m.qos),
                                 (topic, b"qos%d" % qos, qos))
                self.assertFalse(m.retain)
                self.assertFalse(m.dup)

    def test_qos_end_to_end_mosquitto_clients(self):
        """mosquitto_pub -> mosquitto_sub at QoS 0/1/2 for 3.1, 3.1.1 and
        5."""
        for version in (3, 4, 5):
            topic = unique("mosq/")
            sub = self.mosquitto_sub([topic], qos=2, version=version).ready()
            for qos in (0, 1, 2):
                self.mosquitto_pub(topic, "v%d-q%d" % (version, qos), qos=qos,
                                   version=version)
            got = sub.messages(3)
            self.assertEqual([(t, q, r, p) for t, q, r, p in got],
                             [(topic, q, False, b"v%d-q%d" % (version, q))
                              for q in (0, 1, 2)])
            sub.stop()

    def test_payload_integrity_empty_and_100k(self):
        """Empty, binary and 100 KB payloads arrive byte for byte (paho and
        raw client)."""
        topic = unique("payload/")
        sub = self.raw_connected(version=5)
        sub.subscribe([(topic, 2)])
        psub = self.paho_connected(version=4)
        psub.subscribe(topic, 2)
        pub = self.paho_connected(version=5)
        rnd = random.Random(1)
        payloads = [b"", bytes(range(256)),
                    rnd.randbytes(100 * 1024),
                    b"\x00" * 1000]
        for qos in (0, 1, 2):
            for p in payloads:
                pub.publish(topic, p, qos=qos)
                m = sub.expect_publish()
                self.assertEqual((m.topic, m.qos, len(m.payload)),
                                 (topic, qos, len(p)))
                self.assertEqual(m.payload, p)
                pm = psub.get()
                self.assertEqual(pm.payload, p)

    def test_payload_100k_mosquitto_clients(self):
        """A 100 KB binary file sent with mosquitto_pub -f arrives intact at
        mosquitto_sub."""
        topic = unique("big/")
        data = random.Random(2).randbytes(100 * 1024)
        with tempfile.NamedTemporaryFile(prefix="ternpay") as f:
            f.write(data)
            f.flush()
            sub = self.mosquitto_sub([topic], qos=1, version=5).ready()
            self.mosquitto_pub(topic, qos=1, version=5, payload_file=f.name)
            got = sub.messages(1)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0][3], data)

    def test_mqtt5_3_8_4_8_qos_downgrade(self):
        """[MQTT5-3.8.4-8] [MQTT-v311-3.8.4-6] delivered QoS = min(published
        QoS, granted QoS)."""
        for version in (4, 5):
            subs = {}
            topic = unique("down/")
            for q in (0, 1, 2):
                c = self.raw_connected(version=version)
                self.assertEqual(c.subscribe([(topic, q)]), [q])
                subs[q] = c
            pub = self.raw_connected(version=version)
            for pq in (0, 1, 2):
                pub.publish(topic, b"p%d" % pq, qos=pq)
                for sq, c in subs.items():
                    m = c.expect_publish()
                    self.assertEqual((m.payload, m.qos),
                                     (b"p%d" % pq, min(pq, sq)))

    def test_mqtt_v311_3_3_5_1_overlapping_subscriptions_one_copy(self):
        """[MQTT-v311-3.3.5-1] [MQTT5-3.3.4-2] overlapping subscriptions of
        one client: the message is delivered once, at the highest granted
        QoS."""
        for version in (4, 5):
            base = unique("ovl")
            c = self.raw_connected(version=version)
            self.assertEqual(c.subscribe([(base + "/+", 0),
                                          (base + "/#", 2),
                                          (base + "/x", 1)]), [0, 2, 1])
            pub = self.raw_connected(version=version)
            pub.publish(base + "/x", b"once", qos=2)
            m = c.expect_publish()
            self.assertEqual((m.payload, m.qos), (b"once", 2))
            c.assert_nothing()

    def test_mqtt5_3_3_4_4_subscription_identifiers_in_one_copy(self):
        """[MQTT5-3.3.4-3] [MQTT5-3.3.4-4] v5 overlapping subscriptions with
        Subscription Identifiers: the single copy carries all of them."""
        base = unique("sid")
        c = self.raw_connected(version=5)
        c.subscribe([(base + "/+", 1)], props=[(tern.SUBSCRIPTION_ID, 7)])
        c.subscribe([(base + "/#", 0)], props=[(tern.SUBSCRIPTION_ID, 300)])
        c.subscribe([(base + "/x", 1)])  # no identifier
        pub = self.raw_connected(version=5)
        pub.publish(base + "/x", b"ids", qos=1)
        m = c.expect_publish()
        self.assertEqual(m.qos, 1)
        self.assertEqual(sorted(m.props.all(tern.SUBSCRIPTION_ID)), [7, 300])
        c.assert_nothing()
        # a topic matching only the '#' subscription carries only 300
        pub.publish(base + "/y/z", b"one", qos=1)
        m = c.expect_publish()
        self.assertEqual(m.props.all(tern.SUBSCRIPTION_ID), [300])
        self.assertEqual(m.qos, 0)

    def test_mqtt5_3_3_4_6_subscription_identifier_from_client(self):
        """[MQTT5-3.3.4-6] a PUBLISH from a client carrying a Subscription
        Identifier is a Protocol Error: DISCONNECT 0x82."""
        c = self.raw_connected(version=5)
        c.publish("a/b", b"x", props=[(tern.SUBSCRIPTION_ID, 5)])
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x82)])

    def test_mqtt5_4_7_2_1_dollar_topics_not_matched_by_wildcards(self):
        """[MQTT5-4.7.2-1] [MQTT-v311-4.7.2-1] '#' and '+/...' do not match
        topics starting with '$'; '$x/#' does."""
        name = unique("dollar")
        wild = self.raw_connected(version=4)
        wild.subscribe([("#", 0), ("+/" + name, 0), ("+/+", 0)])
        exact = self.raw_connected(version=4)
        exact.subscribe([("$" + name + "/#", 0)])
        pub = self.raw_connected(version=4)
        pub.publish("$" + name + "/" + name, b"dollar", qos=1)
        pub.publish("plain/" + name, b"plain", qos=1)
        m = exact.expect_publish()
        self.assertEqual((m.topic, m.payload),
                         ("$" + name + "/" + name, b"dollar"))
        got = wild.packets(QUIET_LONG)
        self.assertTrue(got, "the '#' subscriber got nothing at all")
        for p in got:
            self.assertEqual(p.type, PUBLISH)
            self.assertFalse(p.topic.startswith("$"), p)
        self.assertEqual({p.payload for p in got}, {b"plain"})

    # covers: MQTT-v311-3.3.2-3, MQTT-v311-4.7.3-4
    def test_mqtt5_4_7_1_wildcard_matching(self):
        """[MQTT5-3.3.2-3] [MQTT5-4.7.3-4] topic filter matching: '+' one
        level (empty levels too), '#' parent and children, exact case-
        sensitive match, no normalisation."""
        b = unique("m")
        filters = [b + "/+", b + "/#", b + "/+/c", "+/+", b + "/A",
                   b + "/a b", b + "/a/", "/" + b, "+/" + b + "/#"]
        topics = [b, b + "/a", b + "/", b + "//", b + "/a/b", b + "/a/c",
                  b + "//c", b + "/A", b + "/a b", b + "/a/", "/" + b,
                  "/" + b + "/x", b.upper()]
        # the reference matcher agrees with hand-checked cases
        self.assertTrue(tern.topic_matches(b + "/#", b))
        self.assertTrue(tern.topic_matches("+/+", "/" + b))
        self.assertFalse(tern.topic_matches(b + "/+", b))
        subs = {}
        for i, f in enumerate(filters):
            c = self.raw_connected(version=4 + i % 2)
            c.subscribe([(f, 0)])
            subs[f] = c
        pub = self.raw_connected(version=5)
        for t in topics:
            pub.publish(t, t.encode(), qos=1)
        time.sleep(QUIET_LONG)
        for f, c in subs.items():
            got = sorted(p.topic for p in c.packets(0.05))
            want = sorted(t for t in topics if tern.topic_matches(f, t))
            self.assertEqual(got, want, "filter %r" % f)
            self.assertTrue(want)

    # covers: MQTT-v311-4.6.0-5, MQTT-v311-4.6.0-6
    def test_mqtt5_4_6_0_5_order_preserved(self):
        """[MQTT5-4.6.0-5] [MQTT5-4.6.0-6] messages of one publisher arrive in
        order (QoS 0, 1, 2 each)."""
        for qos in (0, 1, 2):
            topic = unique("order/")
            sub = self.raw_connected(version=5)
            sub.subscribe([(topic, 2)])
            pub = self.raw_connected(version=4)
            for i in range(50):
                pub.publish(topic, b"%d" % i, qos=qos, wait_ack=False,
                            pid=i + 1)
            got = sub.publishes(50)
            self.assertEqual([int(p.payload) for p in got], list(range(50)))
            self.assertTrue(all(p.qos == qos for p in got))
            # drain the publisher's acks
            pub.packets(0.2)

    # covers: MQTT-v311-2.3.1-5
    def test_mqtt5_2_2_1_4_server_packet_ids(self):
        """[MQTT5-2.2.1-4] [MQTT-v311-2.3.1-4] [MQTT5-2.2.1-2] QoS>0 PUBLISHes
        the server sends have non-zero ids that are not in use; QoS 0 has
        none."""
        topic = unique("pid/")
        sub = self.raw_connected(version=4)
        sub.subscribe([(topic, 2)])
        pub = self.raw_connected(version=4)
        for i in range(20):
            pub.publish(topic, b"x", qos=1 + i % 2, wait_ack=False, pid=i + 1)
        got = sub.publishes(20, ack=False)
        ids = [p.pid for p in got]
        self.assertNotIn(0, ids)
        self.assertEqual(len(set(ids)), 20, ids)
        pub.publish(topic, b"q0", qos=0)
        m = sub.expect_publish()
        self.assertIsNone(m.pid)
        self.assertEqual(len(m.body), 2 + len(topic) + 2)

    def test_mqtt5_2_2_1_5_ack_packet_ids(self):
        """[MQTT5-2.2.1-5] [MQTT-v311-2.3.1-6] PUBACK / PUBREC / PUBCOMP carry
        the id of the client's PUBLISH, for any id value."""
        for version in (4, 5):
            c = self.raw_connected(version=version)
            for pid in (1, 255, 256, 0x7FFF, 0xFFFF):
                ack = c.publish("ids/x", b"1", qos=1, pid=pid)
                self.assertEqual(ack.type, PUBACK)
                self.assertEqual(ack.pid, pid)
                comp = c.publish("ids/x", b"2", qos=2, pid=pid)
                self.assertEqual((comp.type, comp.pid), (PUBCOMP, pid))

    def test_mqtt5_4_3_3_10_qos2_duplicate_not_forwarded(self):
        """[MQTT5-4.3.3-10] [MQTT-v311-4.3.3-2] a QoS 2 PUBLISH re-sent (DUP)
        before PUBREL gets another PUBREC and is forwarded only once; after
        PUBCOMP the same id is a new message [MQTT5-4.3.3-12]."""
        for version in (4, 5):
            topic = unique("exactly/")
            sub = self.raw_connected(version=version)
            sub.subscribe([(topic, 2)])
            pub = self.raw_connected(version=version)
            pub.send(build_publish(topic, b"once", qos=2, pid=9,
                                   version=version))
            self.assertEqual(pub.expect(PUBREC).pid, 9)
            pub.send(build_publish(topic, b"once", qos=2, pid=9, dup=True,
                                   version=version))
            self.assertEqual(pub.expect(PUBREC).pid, 9)
            pub.send(build_ack(PUBREL, 9, version=version))
            self.assertEqual(pub.expect(PUBCOMP).pid, 9)
            self.assertEqual(sub.expect_publish().payload, b"once")
            sub.assert_nothing()
            # the id is free again: a new message
            pub.publish(topic, b"again", qos=2, pid=9)
            self.assertEqual(sub.expect_publish().payload, b"again")

    def test_mqtt5_4_3_2_5_qos1_id_reuse_is_new_message(self):
        """[MQTT5-4.3.2-5] [MQTT-v311-4.3.2-2] after PUBACK, a PUBLISH reusing
        the id is a new message, whatever its DUP flag."""
        topic = unique("reuse/")
        sub = self.raw_connected(version=5)
        sub.subscribe([(topic, 1)])
        pub = self.raw_connected(version=4)
        pub.publish(topic, b"one", qos=1, pid=3)
        pub.publish(topic, b"two", qos=1, pid=3, dup=True)
        self.assertEqual([p.payload for p in sub.publishes(2)],
                         [b"one", b"two"])

    # covers: MQTT-v311-3.3.1-2
    def test_mqtt5_3_3_1_3_dup_not_propagated(self):
        """[MQTT5-3.3.1-3] [MQTT5-3.3.1-2] [MQTT-v311-3.3.1-3] an incoming DUP
        flag is not copied: the first delivery has DUP 0."""
        topic = unique("dup/")
        sub = self.raw_connected(version=4)
        sub.subscribe([(topic, 1)])
        pub = self.raw_connected(version=4)
        pub.publish(topic, b"d1", qos=1, dup=True)
        m = sub.expect_publish()
        self.assertFalse(m.dup)
        pub.publish(topic, b"d0", qos=0)
        self.assertFalse(sub.expect_publish().dup)

    # covers: MQTT-v311-4.7.1-1
    def test_mqtt5_3_3_2_2_wildcard_in_topic_name_closes(self):
        """[MQTT5-3.3.2-2] [MQTT5-4.7.0-1] [MQTT-v311-3.3.2-2] a PUBLISH topic
        with '+' or '#' closes the connection (v5: DISCONNECT 0x90 Topic Name
        invalid, or 0x81/0x82, first); nothing is forwarded."""
        watcher = self.raw_connected(version=4)
        watcher.subscribe([("#", 0)])
        for version in (4, 5):
            for topic in ("a/+", "a/#", "+", "#", "a+b", "x/#/y"):
                with self.subTest(version=version, topic=topic):
                    c = self.raw_connected(version=version)
                    c.publish(topic, b"bad", qos=1, wait_ack=False)
                    got = c.wait_closed()
                    if version == 5:
                        self.assertEqual(len(got), 1, got)
                        self.assertEqual(got[0].type, DISCONNECT)
                        self.assertIn(got[0].rc, (0x90, 0x81, 0x82))
                    else:
                        self.assertEqual(got, [])
        self.assertEqual(watcher.packets(0.2), [])
        self.assert_broker_serves()

    # covers: MQTT-v311-4.7.3-1
    def test_mqtt5_4_7_3_1_empty_topic_name_closes(self):
        """[MQTT5-4.7.3-1] a zero-length topic name (and, for v5, no topic
        alias) closes the connection."""
        for version in (4, 5):
            c = self.raw_connected(version=version)
            c.publish("", b"x", qos=0)
            got = c.wait_closed()
            if version == 5:
                self.assertEqual([(p.type, p.rc) for p in got],
                                 [(DISCONNECT, 0x82)])
            else:
                self.assertEqual(got, [])

    def test_mqtt5_1_5_4_3_bom_kept(self):
        """[MQTT5-1.5.4-3] [MQTT-v311-1.5.3-3] U+FEFF at the start of a topic
        is kept: it matches only a filter that has it too."""
        base = unique("bom")
        with_bom = "\ufeff" + base
        a = self.raw_connected(version=4)
        a.subscribe([(with_bom, 0)])
        b = self.raw_connected(version=4)
        b.subscribe([(base, 0)])
        pub = self.raw_connected(version=4)
        pub.publish(with_bom, b"bom", qos=1)
        m = a.expect_publish()
        self.assertEqual(m.topic, with_bom)
        b.assert_nothing()

    def test_mqtt5_3_8_3_3_no_local(self):
        """[MQTT5-3.8.3-3] No Local: a client's own messages are not sent back
        to it; other clients still get them."""
        topic = unique("nolocal/")
        me = self.paho_connected(version=5)
        me.subscribe(topic, 1, no_local=True)
        other = self.paho_connected(version=5)
        other.subscribe(topic, 1)
        me.publish(topic, b"mine", qos=1)
        self.assertEqual(other.get().payload, b"mine")
        me.assert_no_message()
        # a message from someone else does reach the no-local subscriber
        other.publish(topic, b"theirs", qos=1)
        self.assertEqual(me.get().payload, b"theirs")

    def test_mqtt5_3_8_3_3_no_local_across_workers(self):
        """[MQTT5-3.8.3-3] No Local holds whichever worker the client id is
        pinned to."""
        for w in range(self.workers):
            cid = tern.id_on_worker("nl", w, self.workers)
            topic = unique("nlw/")
            c = self.raw_connected(cid, version=5)
            c.subscribe([(topic, sub_opts(1, no_local=True))])
            c.publish(topic, b"self", qos=1)
            c.assert_nothing()

    def test_mqtt5_3_8_4_3_subscribe_replaces(self):
        """[MQTT5-3.8.4-3] [MQTT-v311-3.8.4-3] re-subscribing to the same
        filter replaces the subscription (new QoS, still one copy)."""
        for version in (4, 5):
            topic = unique("repl/")
            c = self.raw_connected(version=version)
            self.assertEqual(c.subscribe([(topic, 0)]), [0])
            self.assertEqual(c.subscribe([(topic, 2)]), [2])
            pub = self.raw_connected(version=version)
            pub.publish(topic, b"r", qos=2)
            m = c.expect_publish()
            self.assertEqual(m.qos, 2)
            c.assert_nothing()

    # covers: MQTT-v311-3.8.4-1, MQTT-v311-3.8.4-2,
    #   MQTT-v311-3.8.4-4, MQTT-v311-3.8.4-5
    def test_mqtt5_3_8_4_5_multiple_filters_one_suback(self):
        """[MQTT5-3.8.4-1] [MQTT5-3.8.4-2] [MQTT5-3.8.4-5] [MQTT5-3.8.4-6]
        [MQTT5-3.9.3-1] [MQTT-v311-3.9.3-1] one SUBACK with one code per
        filter, in order."""
        for version in (4, 5):
            c = self.raw_connected(version=version)
            base = unique("multi")
            codes = c.subscribe([(base + "/a", 2), (base + "/b", 0),
                                 (base + "/c", 1)], pid=0x1234)
            self.assertEqual(codes, [2, 0, 1])
            pub = self.raw_connected(version=version)
            for t in ("a", "b", "c"):
                pub.publish(base + "/" + t, t.encode(), qos=2)
            got = c.publishes(3)
            self.assertEqual([(p.payload, p.qos) for p in got],
                             [(b"a", 2), (b"b", 0), (b"c", 1)])

    # covers: MQTT-v311-3.10.4-1, MQTT-v311-3.10.4-2,
    #   MQTT-v311-3.10.4-4, MQTT-v311-3.10.4-5, MQTT-v311-3.10.4-6
    def test_mqtt5_3_10_4_unsubscribe(self):
        """[MQTT5-3.10.4-1] [MQTT5-3.10.4-2] [MQTT5-3.10.4-4] [MQTT5-3.10.4-5]
        [MQTT5-3.10.4-6] UNSUBSCRIBE deletes exactly matching filters (not
        overlapping ones), UNSUBACK carries the id and one code per filter
        (0x11 No subscription existed for unknown filters in v5)."""
        for version in (4, 5):
            base = unique("uns")
            c = self.raw_connected(version=version)
            c.subscribe([(base + "/#", 0), (base + "/a", 1)])
            codes = c.unsubscribe([base + "/a", base + "/nope", base + "/+"],
                                  pid=0x4321)
            if version == 5:
                self.assertEqual(codes, [0x00, 0x11, 0x11])
            else:
                self.assertEqual(codes, [])
            pub = self.raw_connected(version=version)
            pub.publish(base + "/a", b"x", qos=1)
            m = c.expect_publish()
            self.assertEqual(m.qos, 0)  # only the '#' subscription is left
            c.unsubscribe([base + "/#"])
            pub.publish(base + "/a", b"y", qos=1)
            c.assert_nothing()

    def test_cross_worker_delivery(self):
        """Publisher and subscribers pinned to different workers all see each
        other's messages at every QoS."""
        topic = unique("xw/")
        subs = []
        for w in range(self.workers):
            for version in (4, 5):
                c = self.raw_connected(tern.id_on_worker("xs", w,
                                                         self.workers),
                                       version=version)
                c.subscribe([(topic, 2)])
                subs.append(c)
        for w in range(self.workers):
            pub = self.raw_connected(tern.id_on_worker("xp", w, self.workers),
                                     version=5)
            for qos in (0, 1, 2):
                pub.publish(topic, b"w%dq%d" % (w, qos), qos=qos)
            for c in subs:
                got = c.publishes(3)
                self.assertEqual([(p.payload, p.qos) for p in got],
                                 [(b"w%dq%d" % (w, q), q) for q in (0, 1, 2)])

    # covers: MQTT-v311-4.5.0-1
    def test_mqtt5_4_5_0_1_many_subscribers(self):
        """[MQTT5-4.5.0-1] a message goes to every matching subscriber
        (20 subscribers, 20 messages each)."""
        topic = unique("fan/")
        subs = [self.raw_connected(version=4 + i % 2) for i in range(20)]
        for s in subs:
            s.subscribe([(topic, 1)])
        pub = self.paho_connected(version=5)
        for i in range(20):
            pub.publish(topic, b"%d" % i, qos=1, wait=False)
        for s in subs:
            got = s.publishes(20)
            self.assertEqual([int(p.payload) for p in got], list(range(20)))

    def test_publish_without_subscribers_acked(self):
        """QoS 1 and 2 messages nobody subscribed to are still acknowledged
        (v5: 0x00 or 0x10 No matching subscribers)."""
        for version in (4, 5):
            c = self.raw_connected(version=version)
            ack = c.publish(unique("nobody/"), b"x", qos=1)
            self.assertIn(ack.rc, (0x00, 0x10))
            comp = c.publish(unique("nobody/"), b"x", qos=2)
            self.assertEqual(comp.type, PUBCOMP)

    def test_mqtt5_3_8_3_3_no_local_with_overlapping_local_subscription(self):
        """[MQTT5-3.8.3-3] [MQTT5-3.3.4-2] own message matching a No Local
        subscription and a normal one: delivered once, through the normal
        subscription (its QoS)."""
        base = unique("on")
        c = self.raw_connected(version=5)
        c.subscribe([(base + "/+", sub_opts(1, no_local=True))])
        c.subscribe([(base + "/#", sub_opts(0))])
        c.publish(base + "/x", b"self", qos=1)
        m = c.expect_publish()
        self.assertEqual((m.payload, m.qos), (b"self", 0))
        c.assert_nothing()

    def test_mqtt5_3_10_4_3_unsubscribe_completes_inflight(self):
        """[MQTT5-3.10.4-3] a QoS 1 delivery in flight when the client
        unsubscribes is completed (PUBACK accepted, connection fine)."""
        topic = unique("ui/")
        c = self.raw_connected(version=5)
        c.subscribe([(topic, 1)])
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"x", qos=1)
        m = c.expect_publish(ack=False)
        c.unsubscribe([topic])
        c.send(build_ack(PUBACK, m.pid, version=5))
        c.ping()
        pub.publish(topic, b"y", qos=1)
        c.assert_nothing()

QUIET_LONG = 0.6


class PublishW1(PublishTests, TernTestCase):
    workers = 1


class PublishW2(PublishTests, TernTestCase):
    workers = 2


if __name__ == "__main__":
    tern.main()
