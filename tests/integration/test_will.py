"""Will messages."""

import time

import tern
from tern import TernTestCase, packet, unique


class WillTests:

    def watcher(self, topic, version=4, qos=1):
        w = self.raw_connected(version=version)
        w.subscribe([(topic, qos)])
        return w

    def test_mqtt5_3_1_2_8_will_on_abnormal_close(self):
        """[MQTT5-3.1.2-8] [MQTT-v311-3.1.2-8] [MQTT5-3.1.2-14]
        [MQTT-v311-3.1.2-16] a TCP reset without DISCONNECT publishes the
        will (non-retained)."""
        for version in (4, 5):
            topic = unique("will/")
            w = self.watcher(topic)
            c = self.raw()
            c.connect(unique(), version=version,
                      will={"topic": topic, "payload": b"gone", "qos": 1})
            c.abort()
            m = w.expect_publish()
            self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                             (topic, b"gone", 1, False))

    def test_will_on_socket_close_without_disconnect(self):
        """[MQTT5-3.1.2-8] a plain close (FIN) without DISCONNECT also
        publishes the will; paho and mosquitto_sub see it."""
        topic = unique("fin/")
        p = self.paho_connected(version=4)
        p.subscribe(topic, 2)
        sub = self.mosquitto_sub([topic], qos=2, version=5).ready()
        c = self.raw()
        c.connect(unique(), version=5,
                  will={"topic": topic, "payload": b"fin", "qos": 2})
        c.close()
        m = p.get()
        self.assertEqual((m.payload, m.qos), (b"fin", 2))
        self.assertEqual(sub.messages(1), [(topic, 2, False, b"fin")])

    def test_will_from_paho_and_mosquitto_client(self):
        """Wills set by paho (will_set) and mosquitto_sub (--will-topic) are
        published when those clients are killed."""
        topic = unique("pw/")
        w = self.watcher(topic, version=5)
        p = self.paho(version=5)
        p.connect(will={"topic": topic, "payload": b"paho died", "qos": 1})
        p.kill()
        self.assertEqual(w.expect_publish().payload, b"paho died")
        s = self.mosquitto_sub([unique("x/")], version=4,
                               args=["--will-topic", topic,
                                     "--will-payload", "mosq died",
                                     "--will-qos", "1"]).ready()
        s.proc.kill()
        s.proc.wait(5)
        self.assertEqual(w.expect_publish().payload, b"mosq died")

    def test_mqtt5_3_1_2_10_no_will_on_disconnect(self):
        """[MQTT5-3.1.2-10] [MQTT5-3.14.4-3] [MQTT-v311-3.14.4-3]
        [MQTT-v311-3.1.2-10] a normal DISCONNECT (v5 reason 0x00) removes the
        will."""
        for version, rc in ((4, None), (5, None), (5, 0x00)):
            topic = unique("nowill/")
            w = self.watcher(topic)
            c = self.raw()
            c.connect(unique(), version=version,
                      will={"topic": topic, "payload": b"x"})
            c.disconnect(rc=rc)
            w.assert_nothing()
        # paho's disconnect too
        topic = unique("nowill/")
        w = self.watcher(topic)
        p = self.paho(version=4)
        p.connect(will={"topic": topic, "payload": b"x"})
        p.disconnect()
        w.assert_nothing()

    def test_mqtt_v311_3_1_2_12_no_will_flag_no_will(self):
        """[MQTT-v311-3.1.2-12] without a will flag nothing is published on
        an abnormal close."""
        w = self.raw_connected(version=4)
        w.subscribe([("#", 0)])
        c = self.raw_connected(version=4)
        c.abort()
        w.assert_nothing()

    def test_mqtt5_3_1_2_15_will_retain(self):
        """[MQTT5-3.1.2-15] [MQTT-v311-3.1.2-17] Will Retain 1: the will is
        published as a retained message."""
        for version in (4, 5):
            topic = unique("wr/")
            c = self.raw()
            c.connect(unique(), version=version,
                      will={"topic": topic, "payload": b"retained will",
                            "qos": 1, "retain": True})
            c.abort()
            # wait until it was published, then subscribe late
            ok = False
            deadline = time.monotonic() + tern.TIMEOUT
            while not ok and time.monotonic() < deadline:
                s = self.raw_connected(version=version)
                s.subscribe([(topic, 1)])
                got = s.packets(0.2)
                s.close()
                if got and not got[0].retain:
                    # subscribed just before the will went out: it came
                    # live (retain cleared, [MQTT-3.3.1-9]); look again
                    continue
                if got:
                    self.assertEqual(len(got), 1, got)
                    self.assertEqual((got[0].payload, got[0].retain),
                                     (b"retained will", True))
                    ok = True
            self.assertTrue(ok, "will not retained")

    @tern.slow
    def test_will_on_keepalive_timeout(self):
        """[MQTT5-3.1.2-8] [MQTT-v311-3.1.2-8] a keep alive timeout publishes
        the will."""
        topic = unique("kaw/")
        w = self.watcher(topic)
        c = self.raw()
        c.connect(unique(), version=4, keepalive=1,
                  will={"topic": topic, "payload": b"timed out"})
        t0 = time.monotonic()
        self.assertEqual(w.expect_publish(timeout=5).payload, b"timed out")
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)

    def test_will_on_protocol_error(self):
        """[MQTT5-3.1.2-8] a connection closed by the server for a protocol
        error publishes the will."""
        for version in (4, 5):
            topic = unique("pew/")
            w = self.watcher(topic)
            c = self.raw()
            c.connect(unique(), version=version,
                      will={"topic": topic, "payload": b"bad client"})
            c.send(packet(tern.PUBLISH, 0x06, b"\x00\x01a"))  # QoS 3
            c.wait_closed()
            self.assertEqual(w.expect_publish().payload, b"bad client")

    def test_mqtt5_disconnect_with_will_message_0x04(self):
        """[MQTT5-3.1.2-8] v5 DISCONNECT with reason 0x04 (Disconnect with
        Will Message) publishes the will."""
        topic = unique("w04/")
        w = self.watcher(topic, version=5)
        c = self.raw()
        c.connect(unique(), version=5,
                  will={"topic": topic, "payload": b"asked for"})
        c.disconnect(rc=0x04)
        self.assertEqual(w.expect_publish().payload, b"asked for")

    @tern.slow
    def test_mqtt5_will_delay(self):
        """[MQTT5-3.1.2-8] Will Delay Interval 2: the will is published after
        the delay, not at the close."""
        topic = unique("wd/")
        w = self.watcher(topic, version=5)
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.SESSION_EXPIRY, 60)],
                  will={"topic": topic, "payload": b"late",
                        "props": [(tern.WILL_DELAY, 2)]})
        c.abort()
        t0 = time.monotonic()
        w.assert_nothing(1.3)
        m = w.expect_publish(timeout=5)
        elapsed = time.monotonic() - t0
        self.assertEqual(m.payload, b"late")
        self.assertGreaterEqual(elapsed, 1.5)
        self.assertLessEqual(elapsed, 5.0)

    @tern.slow
    def test_mqtt5_3_1_3_9_no_will_if_reconnected_within_delay(self):
        """[MQTT5-3.1.3-9] a new connection to the session (Clean Start 0)
        within the Will Delay Interval cancels the will."""
        topic = unique("wdr/")
        w = self.watcher(topic, version=5)
        cid = unique("wdr")
        c = self.raw()
        c.connect(cid, version=5, props=[(tern.SESSION_EXPIRY, 60)],
                  will={"topic": topic, "payload": b"must not appear",
                        "props": [(tern.WILL_DELAY, 1)]})
        c.abort()
        time.sleep(0.2)
        c2 = self.raw()
        ack = c2.connect(cid, version=5, clean=False,
                         props=[(tern.SESSION_EXPIRY, 60)])
        self.assertTrue(ack.session_present)
        w.assert_nothing(1.8)
        c2.disconnect()

    @tern.slow
    def test_mqtt5_3_1_2_8_clean_start_reconnect_ends_session_sends_will(self):
        """[MQTT5-3.1.2-8] [MQTT5-3.1.2-4] a reconnect with Clean Start 1
        within the Will Delay Interval ends the old session, and the will is
        published then (the session ended before the delay)."""
        topic = unique("wdc/")
        w = self.watcher(topic, version=5)
        cid = unique("wdc")
        c = self.raw()
        c.connect(cid, version=5, props=[(tern.SESSION_EXPIRY, 60)],
                  will={"topic": topic, "payload": b"session ended",
                        "props": [(tern.WILL_DELAY, 30)]})
        c.abort()
        time.sleep(0.2)
        c2 = self.raw()
        ack = c2.connect(cid, version=5, clean=True)
        self.assertFalse(ack.session_present)
        self.assertEqual(w.expect_publish(timeout=3).payload,
                         b"session ended")

    @tern.slow
    def test_mqtt5_3_1_2_8_will_at_session_end_before_delay(self):
        """[MQTT5-3.1.2-8] the will goes out when the session ends even if the
        Will Delay Interval is longer (session expiry 1, will delay 30)."""
        topic = unique("wse/")
        w = self.watcher(topic, version=5)
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.SESSION_EXPIRY, 1)],
                  will={"topic": topic, "payload": b"session over",
                        "props": [(tern.WILL_DELAY, 30)]})
        c.abort()
        self.assertEqual(w.expect_publish(timeout=5).payload,
                         b"session over")

    def test_mqtt5_will_on_session_takeover(self):
        """[MQTT5-3.1.4-3] a v5 connection taken over (will delay 0) has its
        will published."""
        topic = unique("wto/")
        w = self.watcher(topic, version=5)
        cid = unique("wto")
        c = self.raw()
        c.connect(cid, version=5, will={"topic": topic,
                                        "payload": b"taken over"})
        self.raw_connected(cid, version=5)
        c.wait_closed()
        self.assertEqual(w.expect_publish().payload, b"taken over")

    def test_mqtt5_3_1_3_10_will_properties_forwarded(self):
        """[MQTT5-3.1.3-10] the will's properties go out with it, user
        properties in order."""
        topic = unique("wp/")
        w = self.watcher(topic, version=5)
        c = self.raw()
        ups = [("a", "1"), ("b", "2"), ("a", "3"), ("z", "")]
        c.connect(unique(), version=5,
                  will={"topic": topic, "payload": b"{}", "qos": 1,
                        "props": [(tern.CONTENT_TYPE, "application/json"),
                                  (tern.PAYLOAD_FORMAT, 1),
                                  (tern.RESPONSE_TOPIC, "resp/x"),
                                  (tern.CORRELATION_DATA, b"\x00\x01")] +
                        [(tern.USER_PROPERTY, u) for u in ups]})
        c.abort()
        m = w.expect_publish()
        self.assertEqual(m.props.get(tern.CONTENT_TYPE), "application/json")
        self.assertEqual(m.props.get(tern.PAYLOAD_FORMAT), 1)
        self.assertEqual(m.props.get(tern.RESPONSE_TOPIC), "resp/x")
        self.assertEqual(m.props.get(tern.CORRELATION_DATA), b"\x00\x01")
        self.assertEqual(m.props.all(tern.USER_PROPERTY), ups)
        self.assertFalse(m.props.has(tern.WILL_DELAY))

    def test_will_across_workers(self):
        """A will from a client pinned to one worker reaches subscribers
        pinned to the others."""
        topic = unique("wx/")
        watchers = [self.raw_connected(tern.id_on_worker("ww", w,
                                                         self.workers),
                                       version=5)
                    for w in range(self.workers)]
        for x in watchers:
            x.subscribe([(topic, 1)])
        for w in range(self.workers):
            c = self.raw()
            c.connect(tern.id_on_worker("wc", w, self.workers), version=4,
                      will={"topic": topic, "payload": b"w%d" % w, "qos": 1})
            c.abort()
            for x in watchers:
                self.assertEqual(x.expect_publish().payload, b"w%d" % w)

    def test_mqtt5_will_delay_beyond_session_expiry_0(self):
        """[MQTT5-3.1.2-8] Will Delay 5 with Session Expiry 0: the session
        ends at the close, so the will goes out at once."""
        topic = unique("wd0/")
        w = self.watcher(topic, version=5)
        c = self.raw()
        c.connect(unique(), version=5,
                  will={"topic": topic, "payload": b"now",
                        "props": [(tern.WILL_DELAY, 5)]})
        c.abort()
        self.assertEqual(w.expect_publish(timeout=2).payload, b"now")

    @tern.slow
    def test_mqtt5_disconnect_0x04_honours_will_delay(self):
        """DISCONNECT 0x04 with Will Delay 1 and a session that outlives it:
        the will comes after about 1 s, not at once."""
        topic = unique("d4/")
        w = self.watcher(topic, version=5)
        c = self.raw()
        c.connect(unique(), version=5, props=[(tern.SESSION_EXPIRY, 10)],
                  will={"topic": topic, "payload": b"w",
                        "props": [(tern.WILL_DELAY, 1)]})
        t0 = time.monotonic()
        c.disconnect(rc=0x04)
        w.assert_nothing(0.6)
        w.expect_publish(timeout=4)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)

    def test_empty_will_payload(self):
        """A will with an empty payload is published (empty); a retained one
        clears the topic's retained message [MQTT5-3.3.1-6]."""
        topic = unique("ew/")
        pub = self.raw_connected(version=4)
        pub.publish(topic, b"old", qos=1, retain=True)
        w = self.watcher(topic)
        self.assertEqual(w.expect_publish().payload, b"old")
        c = self.raw()
        c.connect(unique(), version=4,
                  will={"topic": topic, "payload": b"", "retain": True})
        c.abort()
        self.assertEqual(w.expect_publish().payload, b"")
        s = self.raw_connected(version=4)
        s.subscribe([(topic, 0)])
        s.assert_nothing()


class WillW1(WillTests, TernTestCase):
    workers = 1
    run_slow = False


class WillW2(WillTests, TernTestCase):
    workers = 2


if __name__ == "__main__":
    tern.main()
