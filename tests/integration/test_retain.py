"""Retained messages."""

import time

import tern
from tern import (DISCONNECT, TernTestCase, build_subscribe, sub_opts,
                  unique)


class RetainTests:

    def test_mqtt5_3_3_1_9_retained_sent_on_subscribe(self):
        """[MQTT5-3.3.1-9] [MQTT-v311-3.3.1-6] [MQTT-v311-3.3.1-8] a new
        subscription gets the retained message with RETAIN 1 (3.1.1 and v5,
        paho and raw)."""
        for version in (4, 5):
            topic = unique("ret/")
            pub = self.raw_connected(version=version)
            pub.publish(topic, b"kept", qos=1, retain=True)
            s = self.raw_connected(version=version)
            s.subscribe([(topic, 1)])
            m = s.expect_publish()
            self.assertEqual((m.topic, m.payload, m.retain, m.qos),
                             (topic, b"kept", True, 1))
            p = self.paho_connected(version=version)
            p.subscribe(topic, 1)
            pm = p.get()
            self.assertEqual((pm.payload, pm.retain), (b"kept", True))

    def test_mqtt5_3_3_1_5_retained_replaced(self):
        """[MQTT5-3.3.1-5] [MQTT-v311-3.3.1-7] a new retained message replaces
        the old one (whatever the QoS)."""
        topic = unique("repl/")
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"first", qos=1, retain=True)
        pub.publish(topic, b"second", qos=0, retain=True)
        pub.publish(topic, b"third", qos=2, retain=True)
        s = self.raw_connected(version=5)
        s.subscribe([(topic, 2)])
        m = s.expect_publish()
        self.assertEqual((m.payload, m.qos, m.retain), (b"third", 2, True))
        s.assert_nothing()

    def test_mqtt_v311_3_3_1_5_retained_qos_kept(self):
        """[MQTT-v311-3.3.1-5] the retained message keeps its QoS: delivered
        at min(stored QoS, granted QoS)."""
        topic = unique("rq/")
        pub = self.raw_connected(version=4)
        pub.publish(topic, b"q1", qos=1, retain=True)
        for sq, want in ((0, 0), (1, 1), (2, 1)):
            s = self.raw_connected(version=4)
            s.subscribe([(topic, sq)])
            m = s.expect_publish()
            self.assertEqual((m.payload, m.qos), (b"q1", want))

    def test_mqtt5_3_3_1_6_empty_payload_deletes(self):
        """[MQTT5-3.3.1-6] [MQTT5-3.3.1-7] [MQTT-v311-3.3.1-10]
        [MQTT-v311-3.3.1-11] a retained PUBLISH with an empty payload is
        forwarded to current subscribers and removes the retained message."""
        for version in (4, 5):
            topic = unique("del/")
            pub = self.raw_connected(version=version)
            pub.publish(topic, b"kept", qos=1, retain=True)
            live = self.raw_connected(version=version)
            live.subscribe([(topic, 1)])
            self.assertEqual(live.expect_publish().payload, b"kept")
            pub.publish(topic, b"", qos=1, retain=True)
            m = live.expect_publish()
            self.assertEqual(m.payload, b"")
            late = self.raw_connected(version=version)
            late.subscribe([(topic, 1)])
            late.assert_nothing()

    def test_empty_payload_delete_with_mosquitto_clients(self):
        """mosquitto_pub -r -n deletes what mosquitto_pub -r stored."""
        topic = unique("mdel/")
        self.mosquitto_pub(topic, "stored", qos=1, retain=True)
        s = self.raw_connected(version=4)
        s.subscribe([(topic, 0)])
        self.assertEqual(s.expect_publish().retain, True)
        self.mosquitto_pub(topic, None, qos=1, retain=True)  # -n
        self.assertEqual(s.expect_publish().payload, b"")
        late = self.mosquitto_sub([topic], qos=1)
        late.ready()
        self.assertEqual(late.messages(1, timeout=tern.QUIET), [])

    def test_mosquitto_sub_sees_retain_flag(self):
        """mosquitto_sub reports RETAIN 1 for a stored message and 0 for a
        live one."""
        topic = unique("mflag/")
        self.mosquitto_pub(topic, "stored", qos=1, retain=True, version=5)
        sub = self.mosquitto_sub([topic], qos=1, version=5).ready()
        got = sub.messages(1)
        self.assertEqual(got, [(topic, 1, True, b"stored")])
        self.mosquitto_pub(topic, "live", qos=1, retain=True, version=5)
        self.assertEqual(sub.messages(1), [(topic, 1, False, b"live")])

    def test_mqtt5_3_3_1_8_non_retained_leaves_retained(self):
        """[MQTT5-3.3.1-8] [MQTT-v311-3.3.1-12] a RETAIN 0 PUBLISH neither
        replaces nor removes the retained message (empty payload too)."""
        topic = unique("keep/")
        pub = self.raw_connected(version=4)
        pub.publish(topic, b"kept", qos=1, retain=True)
        pub.publish(topic, b"not retained", qos=1)
        pub.publish(topic, b"", qos=1)
        s = self.raw_connected(version=4)
        s.subscribe([(topic, 1)])
        m = s.expect_publish()
        self.assertEqual((m.payload, m.retain), (b"kept", True))
        s.assert_nothing()

    def test_mqtt_v311_3_3_1_9_live_forwarding_retain_0(self):
        """[MQTT-v311-3.3.1-9] [MQTT5-3.3.1-12] a retained PUBLISH forwarded
        to an established subscription has RETAIN 0 (3.1.1; v5 with Retain
        As Published 0)."""
        for version in (4, 5):
            topic = unique("live/")
            s = self.raw_connected(version=version)
            s.subscribe([(topic, 1)])
            pub = self.raw_connected(version=version)
            pub.publish(topic, b"r", qos=1, retain=True)
            m = s.expect_publish()
            self.assertEqual((m.payload, m.retain), (b"r", False))

    def test_mqtt5_3_3_1_13_retain_as_published(self):
        """[MQTT5-3.3.1-13] Retain As Published 1: live forwarding keeps the
        publisher's RETAIN flag (both values); RAP 0 clears it
        [MQTT5-3.3.1-12]."""
        topic = unique("rap/")
        rap = self.raw_connected(version=5)
        rap.subscribe([(topic, sub_opts(1, rap=True))])
        norap = self.raw_connected(version=5)
        norap.subscribe([(topic, sub_opts(1))])
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"retained", qos=1, retain=True)
        pub.publish(topic, b"plain", qos=1)
        self.assertEqual([(p.payload, p.retain) for p in rap.publishes(2)],
                         [(b"retained", True), (b"plain", False)])
        self.assertEqual([(p.payload, p.retain) for p in norap.publishes(2)],
                         [(b"retained", False), (b"plain", False)])

    def test_mqtt5_3_3_1_13_retain_as_published_paho(self):
        """[MQTT5-3.3.1-13] the same with paho's subscribe options."""
        topic = unique("rapp/")
        s = self.paho_connected(version=5)
        s.subscribe(topic, 1, retain_as_published=True)
        pub = self.paho_connected(version=5)
        pub.publish(topic, b"r", qos=1, retain=True)
        self.assertTrue(s.get().retain)

    def test_mqtt5_3_3_1_9_retain_handling_0(self):
        """[MQTT5-3.3.1-9] [MQTT5-3.8.4-4] Retain Handling 0: retained
        messages are sent on every SUBSCRIBE, also when the subscription
        already exists."""
        topic = unique("rh0/")
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"r", qos=1, retain=True)
        s = self.raw_connected(version=5)
        for _ in range(2):
            s.subscribe([(topic, sub_opts(1, rh=0))])
            m = s.expect_publish()
            self.assertEqual((m.payload, m.retain), (b"r", True))

    def test_mqtt5_3_3_1_10_retain_handling_1(self):
        """[MQTT5-3.3.1-10] Retain Handling 1: retained messages only if the
        subscription did not exist yet."""
        topic = unique("rh1/")
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"r", qos=1, retain=True)
        s = self.raw_connected(version=5)
        s.subscribe([(topic, sub_opts(1, rh=1))])
        self.assertEqual(s.expect_publish().payload, b"r")
        s.subscribe([(topic, sub_opts(1, rh=1))])
        s.assert_nothing()
        # after UNSUBSCRIBE it is new again
        s.unsubscribe([topic])
        s.subscribe([(topic, sub_opts(1, rh=1))])
        self.assertEqual(s.expect_publish().payload, b"r")

    def test_mqtt5_3_3_1_11_retain_handling_2(self):
        """[MQTT5-3.3.1-11] Retain Handling 2: no retained messages on
        SUBSCRIBE, live messages still flow."""
        topic = unique("rh2/")
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"r", qos=1, retain=True)
        s = self.raw_connected(version=5)
        s.subscribe([(topic, sub_opts(1, rh=2))])
        s.assert_nothing()
        pub.publish(topic, b"live", qos=1)
        self.assertEqual(s.expect_publish().payload, b"live")

    def test_retain_handling_3_malformed(self):
        """Retain Handling 3 is a Protocol Error / Malformed Packet:
        DISCONNECT 0x81 or 0x82, then close."""
        s = self.raw_connected(version=5)
        s.send(build_subscribe(1, [("a/b", 0x30)], version=5))
        got = s.wait_closed()
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0].type, DISCONNECT)
        self.assertIn(got[0].rc, (0x81, 0x82))

    def test_retained_wildcard_subscription(self):
        """A wildcard subscription gets every matching retained message, and
        only those."""
        base = unique("rw")
        pub = self.raw_connected(version=4)
        topics = [base + "/a", base + "/b/c", base + "/b/d", base + "x/a"]
        for t in topics:
            pub.publish(t, t.encode(), qos=1, retain=True)
        s = self.raw_connected(version=4)
        s.subscribe([(base + "/#", 1)])
        got = s.publishes(3)
        self.assertEqual(sorted(p.topic for p in got), sorted(topics[:3]))
        self.assertTrue(all(p.retain for p in got))
        s.assert_nothing()
        s2 = self.raw_connected(version=4)
        s2.subscribe([(base + "/+/d", 1)])
        self.assertEqual(s2.expect_publish().topic, base + "/b/d")
        s2.assert_nothing()

    def test_mqtt_v311_3_1_2_7_retained_outlive_sessions(self):
        """[MQTT-v311-3.1.2-7] retained messages are not part of the session:
        they stay after the publisher's session ends."""
        topic = unique("outlive/")
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"stays", qos=1, retain=True)
        pub.disconnect()
        time.sleep(0.05)
        s = self.raw_connected(version=4)
        s.subscribe([(topic, 1)])
        self.assertEqual(s.expect_publish().payload, b"stays")

    def test_retained_across_workers(self):
        """A message retained through a client pinned to one worker is
        delivered to subscribers pinned to every worker."""
        topic = unique("rx/")
        pub = self.raw_connected(tern.id_on_worker("rp", 0, self.workers),
                                 version=5)
        pub.publish(topic, b"everywhere", qos=1, retain=True)
        for w in range(self.workers):
            s = self.raw_connected(tern.id_on_worker("rs", w, self.workers),
                                   version=5)
            s.subscribe([(topic, 1)])
            m = s.expect_publish()
            self.assertEqual((m.payload, m.retain), (b"everywhere", True))

    def test_retained_v5_properties_kept(self):
        """A retained v5 message keeps its properties (user properties,
        content type) when sent on subscribe."""
        topic = unique("rprops/")
        pub = self.raw_connected(version=5)
        props = [(tern.CONTENT_TYPE, "text/plain"),
                 (tern.USER_PROPERTY, ("k", "v1")),
                 (tern.USER_PROPERTY, ("k", "v2"))]
        pub.publish(topic, b"p", qos=1, retain=True, props=props)
        s = self.raw_connected(version=5)
        s.subscribe([(topic, 1)])
        m = s.expect_publish()
        self.assertEqual(m.props.get(tern.CONTENT_TYPE), "text/plain")
        self.assertEqual(m.props.all(tern.USER_PROPERTY),
                         [("k", "v1"), ("k", "v2")])


class RetainW1(RetainTests, TernTestCase):
    workers = 1


class RetainW2(RetainTests, TernTestCase):
    workers = 2


if __name__ == "__main__":
    tern.main()
