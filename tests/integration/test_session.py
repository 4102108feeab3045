"""Persistent sessions, offline queues, session expiry, redelivery."""

import time

import tern
from tern import (DISCONNECT, PUBACK, PUBCOMP, PUBREC, PUBREL, TernTestCase,
                  build_ack, build_publish, unique, wait_until)


class SessionTests:

    def publisher(self, version=4):
        return self.raw_connected(version=version)

    def test_mqtt_v311_3_1_2_5_offline_qos1_queued(self):
        """[MQTT-v311-3.1.2-4] [MQTT-v311-3.1.2-5] [MQTT-v311-3.2.2-2]
        [MQTT-v311-3.2.2-3] 3.1.1 CleanSession 0: subscribe, disconnect,
        QoS 1/2 messages published while offline arrive in order after the
        reconnect, with Session Present 1."""
        cid = unique("p311")
        topic = unique("off/")
        c = self.raw()
        ack = c.connect(cid, version=4, clean=False)
        self.assertFalse(ack.session_present)
        c.subscribe([(topic, 2)])
        c.disconnect()
        pub = self.publisher()
        for i in range(5):
            pub.publish(topic, b"m%d" % i, qos=1 + i % 2)
        c = self.raw()
        ack = c.connect(cid, version=4, clean=False)
        self.assertTrue(ack.session_present)
        got = c.publishes(5)
        self.assertEqual([(p.payload, p.qos) for p in got],
                         [(b"m%d" % i, 1 + i % 2) for i in range(5)])
        # the subscription is still live
        pub.publish(topic, b"live", qos=1)
        self.assertEqual(c.expect_publish().payload, b"live")

    def test_mqtt_v311_3_1_2_4_paho_persistent_session(self):
        """[MQTT-v311-3.1.2-4] the same with paho (clean_session=False)."""
        cid = unique("pp")
        topic = unique("poff/")
        p = self.paho(cid, version=4, clean=False)
        p.connect()
        self.assertFalse(p.session_present)
        p.subscribe(topic, 1)
        p.disconnect()
        pub = self.paho_connected(version=4)
        for i in range(3):
            pub.publish(topic, b"o%d" % i, qos=1)
        p2 = self.paho(cid, version=4, clean=False)
        p2.connect()
        self.assertTrue(p2.session_present)
        self.assertEqual([m.payload for m in p2.collect(3)],
                         [b"o0", b"o1", b"o2"])

    def test_mqtt_v311_3_1_2_6_clean_session_1_discards(self):
        """[MQTT-v311-3.1.2-6] CleanSession 1 discards the stored session:
        Session Present 0, no queued messages, no subscriptions; and the next
        CleanSession 0 connection starts fresh."""
        cid = unique("c311")
        topic = unique("cl/")
        c = self.raw()
        c.connect(cid, version=4, clean=False)
        c.subscribe([(topic, 1)])
        c.disconnect()
        pub = self.publisher()
        pub.publish(topic, b"lost", qos=1)
        c = self.raw()
        self.assertFalse(c.connect(cid, version=4, clean=True).session_present)
        c.assert_nothing()
        pub.publish(topic, b"no sub", qos=1)
        c.assert_nothing()
        c.disconnect()
        c = self.raw()
        self.assertFalse(c.connect(cid, version=4,
                                   clean=False).session_present)

    def test_mqtt5_3_1_2_5_clean_start_0_session_expiry(self):
        """[MQTT5-3.1.2-5] [MQTT5-3.1.2-23] [MQTT5-3.2.2-3] v5 Clean
        Start 0 with Session Expiry Interval 60: the session survives
        the disconnect; queued messages arrive with Session Present 1."""
        cid = unique("p5")
        topic = unique("off5/")
        c = self.raw()
        c.connect(cid, version=5, clean=True,
                  props=[(tern.SESSION_EXPIRY, 60)])
        c.subscribe([(topic, 1)], props=[(tern.SUBSCRIPTION_ID, 42)])
        c.disconnect()
        pub = self.publisher(version=5)
        pub.publish(topic, b"queued", qos=1,
                    props=[(tern.USER_PROPERTY, ("k", "v"))])
        c = self.raw()
        ack = c.connect(cid, version=5, clean=False,
                        props=[(tern.SESSION_EXPIRY, 60)])
        self.assertTrue(ack.session_present)
        m = c.expect_publish()
        self.assertEqual(m.payload, b"queued")
        self.assertEqual(m.props.all(tern.SUBSCRIPTION_ID), [42])
        self.assertEqual(m.props.all(tern.USER_PROPERTY), [("k", "v")])

    def test_mqtt5_3_1_2_6_clean_start_0_new_session(self):
        """[MQTT5-3.1.2-6] Clean Start 0 without an existing session creates
        one: Session Present 0."""
        c = self.raw()
        ack = c.connect(unique(), version=5, clean=False,
                        props=[(tern.SESSION_EXPIRY, 60)])
        self.assertFalse(ack.session_present)

    def test_mqtt5_session_expiry_0_session_gone(self):
        """[MQTT5-3.1.2-23] [MQTT5-4.1.0-2] v5 Session Expiry Interval 0
        (absent): the session ends at disconnect, Session Present 0 on the
        next Clean Start 0 connection."""
        cid = unique("e0")
        topic = unique("e0/")
        c = self.raw()
        c.connect(cid, version=5, clean=False)
        c.subscribe([(topic, 1)])
        c.disconnect()
        pub = self.publisher(version=5)
        pub.publish(topic, b"nobody home", qos=1)
        c = self.raw()
        ack = c.connect(cid, version=5, clean=False)
        self.assertFalse(ack.session_present)
        c.assert_nothing()

    @tern.slow
    def test_mqtt5_4_1_0_2_session_expires(self):
        """[MQTT5-4.1.0-2] Session Expiry Interval 1: the session is discarded
        about 1 s after the disconnect."""
        cid = unique("e1")
        topic = unique("e1/")
        c = self.raw()
        c.connect(cid, version=5, props=[(tern.SESSION_EXPIRY, 1)])
        c.subscribe([(topic, 1)])
        c.disconnect()
        # a Clean Start 0 probe would resume (and renew) the session, so
        # look only once, well after the expiry
        time.sleep(2.5)
        r = self.raw()
        ack = r.connect(cid, version=5, clean=False)
        self.assertFalse(ack.session_present,
                         "session still present 2.5 s after disconnect")

    def test_mqtt5_session_alive_before_expiry(self):
        """[MQTT5-3.1.2-23] a session with Session Expiry Interval 3 is still
        there 0.5 s after the disconnect."""
        cid = unique("e3")
        c = self.raw()
        c.connect(cid, version=5, props=[(tern.SESSION_EXPIRY, 3)])
        c.subscribe([(unique("e3/"), 1)])
        c.disconnect()
        time.sleep(0.5)
        c = self.raw()
        self.assertTrue(c.connect(cid, version=5, clean=False,
                                  props=[(tern.SESSION_EXPIRY, 3)])
                        .session_present)

    def test_mqtt5_disconnect_sets_session_expiry_0(self):
        """DISCONNECT with Session Expiry Interval 0 ends a session that was
        created with 60."""
        cid = unique("dx")
        c = self.raw()
        c.connect(cid, version=5, props=[(tern.SESSION_EXPIRY, 60)])
        c.subscribe([(unique("dx/"), 1)])
        c.disconnect(rc=0, props=[(tern.SESSION_EXPIRY, 0)])
        time.sleep(0.1)
        c = self.raw()
        self.assertFalse(c.connect(cid, version=5, clean=False,
                                   props=[(tern.SESSION_EXPIRY, 60)])
                         .session_present)

    def test_mqtt5_disconnect_session_expiry_after_0_protocol_error(self):
        """A DISCONNECT raising the Session Expiry Interval from 0 is a
        Protocol Error: DISCONNECT 0x82 from the server."""
        c = self.raw_connected(version=5)
        c.send(tern.build_disconnect(0, [(tern.SESSION_EXPIRY, 30)],
                                     version=5))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x82)])

    def test_qos0_backlog_bounded_per_worker(self):
        """--set max_qos0_backlog=256k: a subscriber that stops reading is
        sent QoS 0 messages only until its worker's backlog is full; the
        rest are dropped and counted, the backlog gauge stays under the
        bound, and a QoS 1 subscriber of the same topic (not bounded by
        it) gets every message in order."""
        self.restart_broker({"max_qos0_backlog": "256k"})
        topic = unique("bl/")
        slow = self.raw()  # never reads once subscribed
        slow.connect(unique("slow"), version=4)
        slow.subscribe([(topic, 0)])
        fast = self.paho(version=4)
        fast.connect()
        fast.subscribe(topic, 1)
        pub = self.publisher()
        n, payload = 3000, b"x" * 4000  # 12 MB: more than socket buffers
        for i in range(n):
            pub.publish(topic, b"%05d" % i + payload, qos=1)
        got = [fast.get(timeout=30).payload[:5] for _ in range(n)]
        self.assertEqual(got, [b"%05d" % i for i in range(n)])
        dropped = tern.metric(self.broker, 'tern_messages_dropped_total'
                              '{reason="qos0_backlog"}')
        self.assertGreater(dropped, 0)
        self.assertLessEqual(tern.metric(self.broker,
                                         "tern_qos0_backlog_bytes"),
                             256 * 1024 * self.workers)
        slow.close()
        self.assertTrue(wait_until(lambda: tern.metric(
            self.broker, "tern_qos0_backlog_bytes") == 0),
            "the backlog of a closed subscriber was not given back")
        self.assert_broker_serves()

    def test_queue_bound_max_queued_messages(self):
        """--set max_queued_messages=5: of 8 QoS 1 messages published while
        the client is offline, 5 are kept and delivered, the others
        dropped."""
        self.restart_broker({"max_queued_messages": 5})
        cid = unique("qb")
        topic = unique("qb/")
        c = self.raw()
        c.connect(cid, version=4, clean=False)
        c.subscribe([(topic, 1)])
        c.disconnect()
        pub = self.publisher()
        for i in range(8):
            pub.publish(topic, b"%d" % i, qos=1)
        c = self.raw()
        self.assertTrue(c.connect(cid, version=4, clean=False)
                        .session_present)
        got = c.publishes(5)
        c.assert_nothing()
        self.assertEqual([p.payload for p in got],
                         [b"0", b"1", b"2", b"3", b"4"])

    # covers: MQTT-v311-3.3.1-1
    def test_mqtt5_4_4_0_1_unacked_qos1_resent_with_dup(self):
        """[MQTT5-4.4.0-1] [MQTT5-3.3.1-1] [MQTT-v311-4.4.0-1] a QoS 1 PUBLISH
        the client did not acknowledge is re-sent on reconnect (Clean Start
        0) with the same packet id and DUP 1; after PUBACK it is not sent
        again."""
        for version in (4, 5):
            cid = unique("dup")
            topic = unique("dup/")
            props = [(tern.SESSION_EXPIRY, 60)] if version == 5 else None
            c = self.raw()
            c.connect(cid, version=version, clean=False, props=props)
            c.subscribe([(topic, 1)])
            pub = self.publisher(version)
            pub.publish(topic, b"unacked", qos=1)
            first = c.expect_publish(ack=False)
            self.assertFalse(first.dup)
            c.close()
            c = self.raw()
            ack = c.connect(cid, version=version, clean=False, props=props)
            self.assertTrue(ack.session_present)
            again = c.expect_publish(ack=False)
            self.assertEqual((again.payload, again.pid, again.dup, again.qos),
                             (b"unacked", first.pid, True, 1))
            c.send(build_ack(PUBACK, again.pid, version=version))
            c.ping()
            c.close()
            c = self.raw()
            c.connect(cid, version=version, clean=False, props=props)
            c.assert_nothing()

    # covers: MQTT-v311-4.4.0-1, MQTT-v311-4.3.3-1
    def test_mqtt5_4_4_0_1_unacked_qos2_resend(self):
        """[MQTT5-4.4.0-1] [MQTT5-4.3.3-6] QoS 2 to a subscriber: before PUBREC
        the PUBLISH is re-sent (DUP 1); after PUBREC only the PUBREL is
        re-sent, never the PUBLISH."""
        for version in (4, 5):
            cid = unique("q2")
            topic = unique("q2/")
            props = [(tern.SESSION_EXPIRY, 60)] if version == 5 else None
            c = self.raw()
            c.connect(cid, version=version, clean=False, props=props)
            c.subscribe([(topic, 2)])
            pub = self.publisher(version)
            pub.publish(topic, b"two", qos=2)
            first = c.expect_publish(ack=False)
            c.close()
            c = self.raw()
            c.connect(cid, version=version, clean=False, props=props)
            again = c.expect_publish(ack=False)
            self.assertEqual((again.pid, again.dup, again.qos),
                             (first.pid, True, 2))
            c.send(build_ack(PUBREC, again.pid, version=version))
            rel = c.expect(PUBREL)
            self.assertEqual((rel.pid, rel.flags), (first.pid, 2))
            c.close()
            c = self.raw()
            c.connect(cid, version=version, clean=False, props=props)
            rel = c.expect(PUBREL)
            self.assertEqual(rel.pid, first.pid)
            c.send(build_ack(PUBCOMP, rel.pid, version=version))
            c.ping()
            c.close()
            c = self.raw()
            c.connect(cid, version=version, clean=False, props=props)
            c.assert_nothing()

    # covers: MQTT-v311-4.3.3-2
    def test_mqtt5_4_3_3_inbound_qos2_survives_reconnect(self):
        """[MQTT5-4.4.0-1] [MQTT5-4.3.3-10] an inbound QoS 2 flow interrupted
        after PUBREC is finished on the next connection: the re-sent PUBLISH
        (DUP) gets PUBREC, PUBREL gets PUBCOMP, and subscribers get exactly
        one copy."""
        for version in (4, 5):
            topic = unique("in2/")
            sub = self.raw_connected(version=5)
            sub.subscribe([(topic, 2)])
            cid = unique("in2")
            props = [(tern.SESSION_EXPIRY, 60)] if version == 5 else None
            c = self.raw()
            c.connect(cid, version=version, clean=False, props=props)
            c.send(build_publish(topic, b"once", qos=2, pid=77,
                                 version=version))
            self.assertEqual(c.expect(PUBREC).pid, 77)
            c.close()
            c = self.raw()
            self.assertTrue(c.connect(cid, version=version, clean=False,
                                      props=props).session_present)
            c.send(build_publish(topic, b"once", qos=2, pid=77, dup=True,
                                 version=version))
            self.assertEqual(c.expect(PUBREC).pid, 77)
            c.send(build_ack(PUBREL, 77, version=version))
            self.assertEqual(c.expect(PUBCOMP).pid, 77)
            self.assertEqual(sub.expect_publish().payload, b"once")
            sub.assert_nothing()

    def test_mqtt5_4_1_0_1_session_survives_takeover(self):
        """[MQTT5-4.1.0-1] [MQTT5-3.1.2-5] a takeover with Clean Start 0 keeps
        the subscriptions and in-flight messages."""
        cid = unique("st")
        topic = unique("st/")
        a = self.raw()
        a.connect(cid, version=5, clean=False,
                  props=[(tern.SESSION_EXPIRY, 60)])
        a.subscribe([(topic, 1)])
        pub = self.publisher(5)
        pub.publish(topic, b"inflight", qos=1)
        m = a.expect_publish(ack=False)
        b = self.raw()
        ack = b.connect(cid, version=5, clean=False,
                        props=[(tern.SESSION_EXPIRY, 60)])
        self.assertTrue(ack.session_present)
        a.wait_closed()
        again = b.expect_publish()
        self.assertEqual((again.payload, again.pid, again.dup),
                         (b"inflight", m.pid, True))
        pub.publish(topic, b"next", qos=1)
        self.assertEqual(b.expect_publish().payload, b"next")

    def test_sessions_on_every_worker(self):
        """Persistent sessions of client ids pinned to each worker queue
        messages from publishers on the other workers."""
        topic = unique("sw/")
        cids = [tern.id_on_worker("sw", w, self.workers)
                for w in range(self.workers)]
        for cid in cids:
            c = self.raw()
            c.connect(cid, version=4, clean=False)
            c.subscribe([(topic, 1)])
            c.disconnect()
        for w in range(self.workers):
            p = self.raw_connected(tern.id_on_worker("pw", w, self.workers),
                                   version=5)
            p.publish(topic, b"from %d" % w, qos=1)
        for cid in cids:
            c = self.raw()
            self.assertTrue(c.connect(cid, version=4, clean=False)
                            .session_present)
            got = c.publishes(self.workers)
            self.assertEqual([p.payload for p in got],
                             [b"from %d" % w for w in range(self.workers)])

    def test_mqtt_v311_qos0_not_required_offline(self):
        """QoS 0 subscriptions: nothing breaks when QoS 0 messages are
        published while the session is offline (they may be dropped or
        queued); QoS 1 ones are queued."""
        cid = unique("q0")
        topic = unique("q0/")
        c = self.raw()
        c.connect(cid, version=4, clean=False)
        c.subscribe([(topic, 1)])
        c.disconnect()
        pub = self.publisher()
        pub.publish(topic, b"zero", qos=0)
        pub.publish(topic, b"one", qos=1)
        c = self.raw()
        c.connect(cid, version=4, clean=False)
        got = [p.payload for p in c.packets(0.5)]
        self.assertIn(b"one", got)
        self.assertLessEqual(len(got), 2)

    def test_mqtt5_4_4_0_2_puback_error_not_retransmitted(self):
        """[MQTT5-4.4.0-2] a PUBACK with reason code 0x80 counts as
        acknowledged: the PUBLISH is not re-sent on reconnect."""
        cid = unique("pae")
        topic = unique("pae/")
        props = [(tern.SESSION_EXPIRY, 60)]
        c = self.raw()
        c.connect(cid, version=5, props=props)
        c.subscribe([(topic, 1)])
        pub = self.publisher(5)
        pub.publish(topic, b"refused", qos=1)
        m = c.expect_publish(ack=False)
        c.send(build_ack(PUBACK, m.pid, rc=0x80, version=5))
        c.ping()
        c.close()
        c = self.raw()
        self.assertTrue(c.connect(cid, version=5, clean=False, props=props)
                        .session_present)
        c.assert_nothing()

    def test_mqtt5_4_4_0_2_pubrec_error_not_retransmitted(self):
        """[MQTT5-4.4.0-2] [MQTT5-4.3.3-4] a PUBREC with reason code
        0x80 counts as acknowledged: no PUBREL follows, and the PUBLISH
        is not re-sent on reconnect."""
        cid = unique("pre")
        topic = unique("pre/")
        props = [(tern.SESSION_EXPIRY, 60)]
        c = self.raw()
        c.connect(cid, version=5, props=props)
        c.subscribe([(topic, 2)])
        pub = self.publisher(5)
        pub.publish(topic, b"refused", qos=2)
        m = c.expect_publish(ack=False)
        c.send(build_ack(PUBREC, m.pid, rc=0x80, version=5))
        c.ping()  # no PUBREL before the PINGRESP
        c.close()
        c = self.raw()
        self.assertTrue(c.connect(cid, version=5, clean=False, props=props)
                        .session_present)
        c.assert_nothing()

    def test_mqtt5_3_3_4_9_window_then_reconnect(self):
        """[MQTT5-3.3.4-9] [MQTT5-4.4.0-1] Receive Maximum 2: two messages in
        flight, six queued; after a reconnect (same Receive Maximum) the two
        are re-sent with DUP 1, then the rest follow in order."""
        cid = unique("win")
        topic = unique("win/")
        props = [(tern.SESSION_EXPIRY, 60), (tern.RECEIVE_MAXIMUM, 2)]
        c = self.raw()
        c.connect(cid, version=5, props=props)
        c.subscribe([(topic, 1)])
        pub = self.publisher(5)
        for i in range(8):
            pub.publish(topic, b"%d" % i, qos=1)
        first = c.publishes(2, ack=False)
        self.assertEqual([p.payload for p in first], [b"0", b"1"])
        c.assert_nothing(0.2)
        c.close()
        c = self.raw()
        c.connect(cid, version=5, clean=False, props=props)
        again = c.publishes(2, ack=False)
        self.assertEqual([(p.payload, p.dup, p.pid) for p in again],
                         [(b"0", True, first[0].pid),
                          (b"1", True, first[1].pid)])
        for p in again:
            c.ack(p)
        rest = c.publishes(6)
        self.assertEqual([(p.payload, p.dup) for p in rest],
                         [(b"%d" % i, False) for i in range(2, 8)])

    def test_mqtt5_3_3_4_9_resend_respects_new_receive_maximum(self):
        """[MQTT5-3.3.4-9] [MQTT5-4.9.0-2] re-sent unacknowledged PUBLISHes
        count against the Receive Maximum of the new connection: 4 in flight
        before, Receive Maximum 1 after -> one PUBLISH until it is
        acknowledged."""
        cid = unique("rrm")
        topic = unique("rrm/")
        c = self.raw()
        c.connect(cid, version=5, props=[(tern.SESSION_EXPIRY, 60)])
        c.subscribe([(topic, 1)])
        pub = self.publisher(5)
        for i in range(4):
            pub.publish(topic, b"%d" % i, qos=1)
        c.publishes(4, ack=False)
        c.close()
        c = self.raw()
        c.connect(cid, version=5, clean=False,
                  props=[(tern.SESSION_EXPIRY, 60), (tern.RECEIVE_MAXIMUM, 1)])
        got = c.packets(0.5)
        self.assertEqual(len(got), 1, "Receive Maximum 1 but %d PUBLISHes "
                         "in flight: %r" % (len(got), got))
        c.ack(got[0])
        self.assertEqual(c.expect_publish().payload, b"1")

    def test_mqtt5_session_expiry_capped_in_connack(self):
        """A Session Expiry Interval above max_session_expiry (default
        604800) is replaced, and the CONNACK says which value applies."""
        c = self.raw()
        ack = c.connect(unique(), version=5,
                        props=[(tern.SESSION_EXPIRY, 0xFFFFFFFF)])
        self.assertEqual(ack.props.get(tern.SESSION_EXPIRY), 604800)
        c2 = self.raw()
        ack = c2.connect(unique(), version=5,
                         props=[(tern.SESSION_EXPIRY, 100)])
        self.assertIn(ack.props.get(tern.SESSION_EXPIRY), (None, 100))

    def test_queue_bound_max_queued_bytes(self):
        """--set max_queued_bytes=10k: of 20 offline 1 KB QoS 1 messages
        only the first few (at most 10) are kept, in order."""
        self.restart_broker({"max_queued_bytes": "10k"})
        cid = unique("qy")
        topic = unique("qy/")
        c = self.raw()
        c.connect(cid, version=4, clean=False)
        c.subscribe([(topic, 1)])
        c.disconnect()
        pub = self.publisher()
        for i in range(20):
            pub.publish(topic, b"%02d" % i + b"x" * 1022, qos=1)
        c = self.raw()
        c.connect(cid, version=4, clean=False)
        got = [p.payload[:2] for p in c.packets(0.6) if not c.ack(p)]
        self.assertGreaterEqual(len(got), 3, got)
        self.assertLessEqual(len(got), 10, got)
        self.assertEqual(got, [b"%02d" % i for i in range(len(got))])


class SessionW1(SessionTests, TernTestCase):
    workers = 1
    run_slow = False


class SessionW2(SessionTests, TernTestCase):
    workers = 2


class MaxSessionExpiryTests(TernTestCase):
    settings = {"max_session_expiry": 1}

    def test_max_session_expiry_caps_client_value(self):
        """max_session_expiry=1: a client asking for 3600 is told 1 in the
        CONNACK Session Expiry Interval, and the session expires after about
        1 s."""
        cid = unique("cap")
        c = self.raw()
        ack = c.connect(cid, version=5, props=[(tern.SESSION_EXPIRY, 3600)])
        self.assertEqual(ack.props.get(tern.SESSION_EXPIRY), 1)
        c.subscribe([(unique("cap/"), 1)])
        c.disconnect()
        time.sleep(2.5)
        r = self.raw()
        self.assertFalse(r.connect(cid, version=5, clean=False)
                         .session_present)


if __name__ == "__main__":
    tern.main()
