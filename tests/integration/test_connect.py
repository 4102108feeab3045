"""CONNECT / CONNACK / session takeover / keep alive / connect timeout."""

import time

import tern
from tern import (CONNACK, DISCONNECT, PINGREQ, RawClient,
                  TernTestCase, build_connect, build_publish, packet, unique)


class ConnectTests(TernTestCase):

    # covers: MQTT-v311-3.2.0-1
    def test_mqtt5_3_1_4_5_v31_v311_v5_accepted_on_one_listener(self):
        """[MQTT5-3.1.4-5] [MQTT-v311-3.1.4-4] 3.1 (MQIsdp/3), 3.1.1 and 5.0
        CONNECTs all get CONNACK 0 on the same listener."""
        for version in (3, 4, 5):
            with self.subTest(version=version):
                c = self.raw()
                ack = c.connect(unique("v%d" % version), version=version)
                self.assertEqual(ack.rc, 0)
                self.assertFalse(ack.session_present)
                # a PINGREQ works: the connection is live
                c.ping()
                c.disconnect()

    def test_paho_all_versions_exchange_messages(self):
        """paho 3.1, 3.1.1 and 5.0 clients talk to each other through one
        listener."""
        topic = unique("mix/")
        subs = {v: self.paho_connected(version=v) for v in (3, 4, 5)}
        for s in subs.values():
            self.assertEqual(s.subscribe(topic, 1), [1])
        for v in (3, 4, 5):
            pub = self.paho_connected(version=v)
            pub.publish(topic, b"from v%d" % v, qos=1)
        for v, s in subs.items():
            got = sorted(m.payload for m in s.collect(3))
            self.assertEqual(got, [b"from v3", b"from v4", b"from v5"],
                             "subscriber v%d" % v)

    def test_mqtt_v311_3_1_2_2_unsupported_protocol_level(self):
        """[MQTT-v311-3.1.2-2] unknown protocol level -> CONNACK 0x01, then
        the connection is closed."""
        for level in (6, 2, 0x84):
            with self.subTest(level=level):
                c = self.raw()
                c.send(build_connect(unique(), version=level,
                                     protocol_name="MQTT"))
                got = c.wait_closed()
                self.assertEqual(len(got), 1, got)
                self.assertEqual(got[0].type, CONNACK)
                self.assertEqual(got[0].rc, 0x01)
                self.assertFalse(got[0].session_present)  # [MQTT5-3.2.2-4]

    def test_mqtt5_3_1_2_1_wrong_protocol_name_closed(self):
        """[MQTT5-3.1.2-1] [MQTT-v311-3.1.2-1] a CONNECT with a protocol name
        other than MQTT (or MQIsdp for 3.1) is not processed as MQTT: the
        connection is closed, with at most a refusing CONNACK."""
        for name, level in (("MQTX", 4), ("MQTT", 3), ("MQIsdp", 4),
                            ("mqtt", 5)):
            with self.subTest(name=name, level=level):
                c = self.raw()
                c.send(build_connect(unique(), version=level,
                                     protocol_name=name))
                got = c.wait_closed()
                for p in got:
                    self.assertEqual(p.type, CONNACK, got)
                    self.assertNotEqual(p.rc, 0, got)
        self.assert_broker_serves()

    def test_mqtt_v311_3_1_3_8_empty_client_id_clean_session_0(self):
        """[MQTT-v311-3.1.3-8] [MQTT-v311-3.2.2-5] 3.1.1 zero-length client
        id with CleanSession 0 -> CONNACK 0x02, then close."""
        c = self.raw()
        c.send(build_connect("", version=4, clean=False))
        got = c.wait_closed()
        self.assertEqual(len(got), 1, got)
        self.assertEqual((got[0].type, got[0].rc), (CONNACK, 0x02))
        self.assertFalse(got[0].session_present)  # [MQTT-v311-3.2.2-4]

    def test_mqtt_v311_3_1_3_6_empty_client_id_clean_session_1(self):
        """[MQTT-v311-3.1.3-6] 3.1.1 zero-length client id with CleanSession
        1 is accepted and works."""
        a = self.raw_connected("", version=4)
        b = self.raw_connected("", version=4)
        topic = unique("anon/")
        a.subscribe([(topic, 1)])
        b.subscribe([(topic, 1)])
        a.publish(topic, b"x", qos=1)
        self.assertEqual(a.expect_publish().payload, b"x")
        self.assertEqual(b.expect_publish().payload, b"x")

    def test_mqtt5_3_1_3_7_assigned_client_identifier(self):
        """[MQTT5-3.1.3-6] [MQTT5-3.1.3-7] [MQTT5-3.2.2-16] v5 zero-length
        client id: CONNACK carries a unique Assigned Client Identifier."""
        ids = set()
        for _ in range(4):
            c = self.raw()
            ack = c.connect("", version=5)
            cid = ack.props.get(tern.ASSIGNED_CLIENT_ID)
            self.assertTrue(cid, ack)
            ids.add(cid)
        self.assertEqual(len(ids), 4, ids)

    def test_mqtt5_3_1_3_7_assigned_id_names_the_session(self):
        """[MQTT5-3.1.3-7] the assigned id is the session's id: reconnecting
        with it and Clean Start 0 resumes the session."""
        c = self.raw()
        ack = c.connect("", version=5, clean=True,
                        props=[(tern.SESSION_EXPIRY, 60)])
        cid = ack.props.get(tern.ASSIGNED_CLIENT_ID)
        self.assertTrue(cid)
        topic = unique("assigned/")
        c.subscribe([(topic, 1)])
        c.disconnect()
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"queued", qos=1)
        c2 = self.raw()
        ack2 = c2.connect(cid, version=5, clean=False,
                          props=[(tern.SESSION_EXPIRY, 60)])
        self.assertTrue(ack2.session_present)
        self.assertEqual(c2.expect_publish().payload, b"queued")

    def test_mqtt5_3_1_3_5_client_id_23_alnum_chars(self):
        """[MQTT5-3.1.3-5] [MQTT-v311-3.1.3-5] client ids of 1..23 chars of
        [0-9a-zA-Z] are accepted."""
        for cid in ("a", "Z9", "abcdefghijklmnopqrstuvw",
                    "0123456789ABCDEFGHIJKLM"):
            for version in (4, 5):
                c = self.raw()
                self.assertEqual(c.connect(cid, version=version).rc, 0)
                c.disconnect()

    def test_mqtt5_connack_capability_properties(self):
        """[MQTT5-3.2.2-9] CONNACK of v5 announces Receive Maximum, Maximum
        Packet Size and Topic Alias Maximum; no Assigned Client Identifier
        when the client sent one."""
        c = self.raw()
        ack = c.connect(unique(), version=5)
        self.assertEqual(ack.rc, 0)
        for pid in (tern.RECEIVE_MAXIMUM, tern.MAXIMUM_PACKET_SIZE,
                    tern.TOPIC_ALIAS_MAXIMUM):
            self.assertTrue(ack.props.has(pid), "property 0x%02x missing in "
                            "%r" % (pid, ack))
        self.assertFalse(ack.props.has(tern.ASSIGNED_CLIENT_ID))
        # defaults: receive maximum 128, 1 MiB, 64 aliases
        self.assertEqual(ack.props.get(tern.RECEIVE_MAXIMUM), 128)
        self.assertEqual(ack.props.get(tern.MAXIMUM_PACKET_SIZE), 1 << 20)
        self.assertEqual(ack.props.get(tern.TOPIC_ALIAS_MAXIMUM), 64)
        # no property appears twice
        ids = [p for p, _ in ack.props if p != tern.USER_PROPERTY]
        self.assertEqual(len(ids), len(set(ids)), ack)

    def test_mqtt5_3_2_2_1_connack_reserved_flags_zero(self):
        """[MQTT5-3.2.2-1] [MQTT5-3.2.0-2] CONNACK flags bits 7-1 are 0 and
        only one CONNACK is sent."""
        for version in (4, 5):
            c = self.raw()
            ack = c.connect(unique(), version=version)
            self.assertEqual(ack.body[0] & 0xFE, 0)
            self.assertEqual(ack.flags, 0)
            c.ping()  # the next packet is a PINGRESP, not another CONNACK

    def test_mqtt5_3_2_2_2_clean_start_session_present_0(self):
        """[MQTT5-3.2.2-2] [MQTT-v311-3.2.2-1] Clean Start 1 -> Session Present
        0 even if a session existed."""
        cid = unique()
        for version in (4, 5):
            props = [(tern.SESSION_EXPIRY, 60)] if version == 5 else None
            c = self.raw()
            c.connect(cid, version=version, clean=False, props=props)
            c.subscribe([("x/y", 1)])
            c.disconnect()
            c = self.raw()
            ack = c.connect(cid, version=version, clean=True, props=props)
            self.assertFalse(ack.session_present)
            c.disconnect()

    # covers: MQTT-v311-3.1.0-1
    def test_mqtt5_3_1_0_1_first_packet_not_connect(self):
        """[MQTT5-3.1.0-1] a first packet other than CONNECT closes the
        connection without any answer."""
        firsts = [packet(PINGREQ, 0, b""),
                  build_publish("a/b", b"x", version=4),
                  tern.build_subscribe(1, [("a/#", 0)]),
                  tern.build_disconnect()]
        for data in firsts:
            with self.subTest(first=data[:1].hex()):
                c = self.raw()
                c.send(data)
                self.assertEqual(c.wait_closed(), [])
        self.assert_broker_serves()

    def test_mqtt_v311_3_1_0_2_second_connect_closes(self):
        """[MQTT-v311-3.1.0-2] a second CONNECT on a 3.1.1 connection closes
        it."""
        c = self.raw_connected(version=4)
        c.send(build_connect(unique(), version=4))
        self.assertEqual(c.wait_closed(), [])

    def test_mqtt5_3_1_0_2_second_connect_protocol_error(self):
        """[MQTT5-3.1.0-2] a second CONNECT on a v5 connection: DISCONNECT 0x82
        (Protocol Error), then close."""
        c = self.raw_connected(version=5)
        c.send(build_connect(unique(), version=5))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x82)])
        # [MQTT5-3.14.2-2] no Session Expiry Interval in a server DISCONNECT
        self.assertFalse(got[0].props.has(tern.SESSION_EXPIRY))

    def test_mqtt5_3_1_4_6_nothing_processed_after_refused_connect(self):
        """[MQTT5-3.1.4-6] [MQTT-v311-3.1.4-5] packets sent after a refused
        CONNECT are not processed (a retained PUBLISH right behind it is not
        stored)."""
        topic = unique("refused/")
        c = self.raw()
        c.send(build_connect("", version=4, clean=False) +
               build_publish(topic, b"must not be retained", retain=True))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(CONNACK, 0x02)])
        s = self.raw_connected(version=4)
        s.subscribe([(topic, 0)])
        s.assert_nothing()

    def test_mqtt5_3_1_3_8_client_id_too_long(self):
        """[MQTT5-3.1.3-8] [MQTT-v311-3.1.3-9] a client id the server refuses
        (longer than max_client_id_len, 256 by default): v5 CONNACK 0x85,
        3.1.1 CONNACK 0x02, then close."""
        cid = "x" * 300
        for version, rc in ((5, 0x85), (4, 0x02)):
            c = self.raw()
            c.send(build_connect(cid, version=version))
            got = c.wait_closed()
            self.assertEqual([(p.type, p.rc) for p in got], [(CONNACK, rc)])
            self.assertFalse(got[0].session_present)  # [MQTT5-3.2.2-6]

    def test_mqtt5_3_1_2_28_no_response_information_unless_requested(self):
        """[MQTT5-3.1.2-28] Request Response Information 0 (default): no
        Response Information in CONNACK."""
        c = self.raw()
        ack = c.connect(unique(), version=5,
                        props=[(tern.REQUEST_RESPONSE_INFO, 0)])
        self.assertFalse(ack.props.has(tern.RESPONSE_INFO))

    def test_mqtt5_4_12_0_6_no_auth_method_no_auth(self):
        """[MQTT5-4.12.0-6] no Authentication Method in CONNECT: none in
        CONNACK."""
        c = self.raw()
        ack = c.connect(unique(), version=5)
        self.assertFalse(ack.props.has(tern.AUTH_METHOD))

    def test_mqtt5_4_12_0_1_unsupported_auth_method(self):
        """[MQTT5-4.12.0-1] an Authentication Method the server does not
        support: CONNACK 0x8C (Bad authentication method) or 0x87, then
        close."""
        c = self.raw()
        c.send(build_connect(unique(), version=5,
                             props=[(tern.AUTH_METHOD, "NO-SUCH-METHOD")]))
        got = c.wait_closed()
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0].type, CONNACK)
        self.assertIn(got[0].rc, (0x8C, 0x87))

    def test_mqtt5_3_1_2_30_auth_packet_without_method(self):
        """[MQTT5-4.12.0-7] AUTH from a client that set no Authentication
        Method: DISCONNECT 0x82 and close."""
        c = self.raw_connected(version=5)
        c.send(packet(tern.AUTH, 0, b"\x18\x00"))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x82)])

    # covers: MQTT-v311-3.12.4-1
    def test_mqtt5_3_12_4_1_pingreq_pingresp(self):
        """[MQTT5-3.12.4-1] every PINGREQ gets a PINGRESP."""
        for version in (3, 4, 5):
            c = self.raw_connected(version=version)
            c.send(packet(PINGREQ, 0, b"") * 3)
            for _ in range(3):
                c.expect(tern.PINGRESP)

    def test_byte_at_a_time(self):
        """[MQTT5-4.2.0-1] packets split into single bytes are reassembled."""
        c = self.raw()
        c.version = 5
        topic = unique("split/")
        data = (build_connect(unique(), version=5) +
                tern.build_subscribe(1, [(topic, 1)], version=5) +
                build_publish(topic, b"bytewise", qos=1, pid=2, version=5))
        for i in range(len(data)):
            c.send(data[i:i + 1])
            if i % 8 == 0:
                time.sleep(0.001)
        self.assertEqual(c.expect(CONNACK).rc, 0)
        got = c.packets(1.0)
        types = sorted(p.type for p in got)
        self.assertEqual(types, [tern.PUBLISH, tern.PUBACK, tern.SUBACK],
                         got)


class SessionTakeover:
    """Takeover tests, run with workers=1 and workers=2."""

    def test_mqtt5_3_1_4_3_session_takeover(self):
        """[MQTT5-3.1.4-3] a second v5 connection with the same client id:
        the first gets DISCONNECT 0x8E (Session taken over) and is closed;
        the second works."""
        cid = unique("take")
        old = self.raw_connected(cid, version=5)
        for i in range(4):
            new = self.raw()
            ack = new.connect(cid, version=5)
            self.assertEqual(ack.rc, 0)
            got = old.wait_closed()
            self.assertEqual([(p.type, p.rc) for p in got],
                             [(DISCONNECT, 0x8E)], "round %d" % i)
            new.ping()
            old = new

    def test_mqtt_v311_3_1_4_2_session_takeover(self):
        """[MQTT-v311-3.1.4-2] a second 3.1.1 connection with the same client
        id closes the first one; the second works."""
        cid = unique("take")
        old = self.raw_connected(cid, version=4)
        for i in range(4):
            new = self.raw()
            self.assertEqual(new.connect(cid, version=4).rc, 0)
            self.assertEqual(old.wait_closed(), [], "round %d" % i)
            new.ping()
            old = new

    def test_takeover_on_each_worker(self):
        """[MQTT5-3.1.4-3] takeover of client ids pinned to every worker,
        mixing v3.1.1 and v5 connections; subscriptions of the session keep
        working (Clean Start 0)."""
        for w in range(self.workers):
            cid = tern.id_on_worker("tk", w, self.workers)
            topic = unique("tk/")
            a = self.raw_connected(cid, version=4, clean=False)
            a.subscribe([(topic, 1)])
            b = self.raw()
            ack = b.connect(cid, version=5, clean=False,
                            props=[(tern.SESSION_EXPIRY, 60)])
            self.assertTrue(ack.session_present, "worker %d" % w)
            a.wait_closed()
            pub = self.raw_connected(version=5)
            pub.publish(topic, b"after takeover", qos=1)
            self.assertEqual(b.expect_publish().payload, b"after takeover")

    def test_concurrent_connects_same_id(self):
        """Six connections with one client id racing, five rounds: the
        broker survives and exactly one connection stays open."""
        import threading
        cid = unique("race")
        clients, lock = [], threading.Lock()

        def conn():
            try:
                r = RawClient(self.broker.host, self.broker.port)
            except OSError:
                return
            with lock:
                clients.append(r)
            try:
                r.connect(cid, version=5)
            except (AssertionError, OSError):
                pass
        try:
            for _ in range(5):
                ths = [threading.Thread(target=conn) for _ in range(6)]
                for t in ths:
                    t.start()
                for t in ths:
                    t.join(10)
            time.sleep(0.3)
            alive = [c for c in clients if c.is_open(0.05)]
            self.assertEqual(len(alive), 1)
            alive[0].ping()
        finally:
            for c in clients:
                c.close()
        self.assert_broker_serves()


class SessionTakeoverW1(SessionTakeover, TernTestCase):
    workers = 1


class SessionTakeoverW2(SessionTakeover, TernTestCase):
    workers = 2


class KeepAliveTests(TernTestCase):

    def test_mqtt5_3_1_2_22_keepalive_timeout(self):
        """[MQTT5-3.1.2-22] [MQTT-v311-3.1.2-24] a client with Keep Alive 1
        that sends nothing is disconnected after about 1.5 s."""
        for version in (4, 5):
            with self.subTest(version=version):
                c = self.raw()
                c.connect(unique(), version=version, keepalive=1)
                t0 = time.monotonic()
                got = c.wait_closed(5)
                elapsed = time.monotonic() - t0
                self.assertGreaterEqual(elapsed, 1.0)
                self.assertLessEqual(elapsed, 4.0)
                # v5 may say why (0x8D Keep Alive timeout), nothing else
                for p in got:
                    self.assertEqual((p.type, p.rc), (DISCONNECT, 0x8D), got)

    def test_mqtt5_3_1_2_22_pings_keep_connection_open(self):
        """[MQTT5-3.1.2-22] a client that sends PINGREQ within its keep alive
        stays connected past 1.5 x keep alive."""
        c = self.raw_connected(version=5, keepalive=1)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.6:
            c.ping()
            time.sleep(0.4)
        c.ping()

    def test_keepalive_zero_no_timeout(self):
        """Keep Alive 0 turns the keep alive mechanism off."""
        c = self.raw_connected(version=4, keepalive=0)
        self.assertTrue(c.is_open(2.0))
        c.ping()

    def test_mqtt5_3_1_2_22_any_packet_counts_as_activity(self):
        """[MQTT5-3.1.2-22] a client that sends only PUBLISHes (no PINGREQ)
        within its keep alive stays connected."""
        c = self.raw_connected(version=4, keepalive=1)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.6:
            c.publish("ka/x", b"x", qos=1)
            time.sleep(0.3)
        c.ping()


class KeepAliveMaxTests(TernTestCase):
    settings = {"keepalive_max": 1}

    def test_mqtt5_3_2_2_21_server_keep_alive(self):
        """[MQTT5-3.2.2-22] keepalive_max=1 cuts a v5 client's keep alive of
        60 to 1: CONNACK carries Server Keep Alive 1 and the server enforces
        it."""
        c = self.raw()
        ack = c.connect(unique(), version=5, keepalive=60)
        self.assertEqual(ack.props.get(tern.SERVER_KEEP_ALIVE), 1)
        t0 = time.monotonic()
        c.wait_closed(5)
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)


class ConnectTimeoutTests(TernTestCase):
    settings = {"connect_timeout_ms": 500}

    def test_connect_timeout_silent_socket(self):
        """connect_timeout_ms=500: a socket that never sends CONNECT is
        closed."""
        c = self.raw()
        t0 = time.monotonic()
        self.assertEqual(c.wait_closed(5), [])
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)

    def test_connect_timeout_partial_connect(self):
        """A socket that sends only part of a CONNECT is closed too."""
        c = self.raw()
        c.send(build_connect(unique(), version=4)[:5])
        self.assertEqual(c.wait_closed(5), [])
        self.assert_broker_serves()

    def test_connected_client_not_cut_by_connect_timeout(self):
        """The connect timeout stops applying once CONNECT arrived."""
        c = self.raw_connected(version=4, keepalive=0)
        self.assertTrue(c.is_open(1.2))
        c.ping()



class MaxConnectionsTests(TernTestCase):
    settings = {"max_connections": 2}

    def test_max_connections(self):
        """max_connections=2: a third connection is closed without a
        successful CONNACK; once one closes, a new client gets in."""
        a = self.raw_connected(version=5)
        self.raw_connected(version=4)
        c = self.raw()
        c.send_quiet(build_connect(unique(), version=5))
        got = c.wait_closed()
        for p in got:
            self.assertEqual(p.type, CONNACK)
            self.assertIn(p.rc, (0x97, 0x89, 0x9F))
        a.disconnect()
        ok = tern.wait_until(self._can_connect, tern.TIMEOUT, 0.1)
        self.assertTrue(ok, "no room after a client left")

    def _can_connect(self):
        c = self.raw()
        try:
            c.send(build_connect(unique(), version=5))
            return c.recv_packet(1).rc == 0
        except Exception:
            return False
        finally:
            c.close()

class CapabilityTests(TernTestCase):
    settings = {"max_inflight": 17, "max_packet_size": 4096,
                "max_topic_alias": 9, "max_qos": 1,
                "retain_available": "false",
                "wildcard_sub_available": "false",
                "shared_sub_available": "false",
                "sub_id_available": "false"}

    def test_mqtt5_3_2_2_9_connack_reflects_settings(self):
        """[MQTT5-3.2.2-9] CONNACK properties follow the configuration:
        Receive Maximum, Maximum Packet Size, Topic Alias Maximum, Maximum
        QoS 1, Retain Available 0, Wildcard/Shared/Subscription Identifier
        Available 0."""
        c = self.raw()
        ack = c.connect(unique(), version=5)
        p = ack.props
        self.assertEqual(p.get(tern.RECEIVE_MAXIMUM), 17)
        self.assertEqual(p.get(tern.MAXIMUM_PACKET_SIZE), 4096)
        self.assertEqual(p.get(tern.TOPIC_ALIAS_MAXIMUM), 9)
        self.assertEqual(p.get(tern.MAXIMUM_QOS), 1)
        self.assertEqual(p.get(tern.RETAIN_AVAILABLE), 0)
        self.assertEqual(p.get(tern.WILDCARD_SUB_AVAILABLE), 0)
        self.assertEqual(p.get(tern.SHARED_SUB_AVAILABLE), 0)
        self.assertEqual(p.get(tern.SUB_ID_AVAILABLE), 0)

    def test_mqtt5_3_2_2_10_subscribe_qos2_granted_max_qos(self):
        """[MQTT5-3.2.2-10] with Maximum QoS 1 a SUBSCRIBE for QoS 2 is
        accepted and granted QoS 1."""
        for version in (4, 5):
            c = self.raw_connected(version=version)
            self.assertEqual(c.subscribe([(unique("q/"), 2)]), [1])

    def test_mqtt5_3_2_2_11_publish_above_max_qos(self):
        """[MQTT5-3.2.2-11] a v5 PUBLISH with QoS 2 above Maximum QoS 1:
        DISCONNECT 0x9B (QoS not supported)."""
        c = self.raw_connected(version=5)
        c.publish("a/b", b"x", qos=2, wait_ack=False)
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x9B)])

    def test_mqtt5_3_2_2_12_will_qos_above_max(self):
        """[MQTT5-3.2.2-12] Will QoS 2 above Maximum QoS 1: CONNACK 0x9B and
        close."""
        c = self.raw()
        c.send(build_connect(unique(), version=5,
                             will={"topic": "w", "payload": b"x", "qos": 2}))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(CONNACK, 0x9B)])

    def test_mqtt5_3_2_2_13_will_retain_without_retain_support(self):
        """[MQTT5-3.2.2-13] Will Retain 1 while Retain Available is 0: CONNACK
        0x9A and close."""
        c = self.raw()
        c.send(build_connect(unique(), version=5,
                             will={"topic": "w", "payload": b"x",
                                   "retain": True}))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(CONNACK, 0x9A)])

    def test_mqtt5_3_2_2_14_publish_retain_without_retain_support(self):
        """[MQTT5-3.2.2-14] a v5 PUBLISH with RETAIN 1 while Retain Available
        is 0: DISCONNECT 0x9A."""
        c = self.raw_connected(version=5)
        c.publish("a/b", b"x", retain=True)
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x9A)])

    def test_wildcard_subscription_not_supported(self):
        """Wildcard Subscription Available 0: a wildcard filter gets SUBACK
        0xA2 in v5, 0x80 in 3.1.1 [MQTT-v311-3.8.3-2]; a plain filter is
        still accepted."""
        c5 = self.raw_connected(version=5)
        self.assertEqual(c5.subscribe([("a/+", 0), ("a/#", 0), ("a/b", 0)]),
                         [0xA2, 0xA2, 0])
        c4 = self.raw_connected(version=4)
        self.assertEqual(c4.subscribe([("a/+", 0), ("a/b", 0)]), [0x80, 0])

    def test_shared_subscription_not_supported(self):
        """Shared Subscription Available 0: $share filters get SUBACK 0x9E."""
        c5 = self.raw_connected(version=5)
        self.assertEqual(c5.subscribe([("$share/g/a", 0)]), [0x9E])

    def test_subscription_identifier_not_supported(self):
        """Subscription Identifier Available 0: a SUBSCRIBE with one is
        refused with 0xA1 (Subscription Identifiers not supported), either
        in the SUBACK or in a DISCONNECT."""
        c5 = self.raw_connected(version=5)
        c5.send(tern.build_subscribe(1, [("a/b", 0)],
                                     props=[(tern.SUBSCRIPTION_ID, 3)],
                                     version=5))
        p = c5.expect_any()
        if p.type == tern.SUBACK:
            self.assertEqual(p.codes, [0xA1])
        else:
            self.assertEqual((p.type, p.rc), (DISCONNECT, 0xA1))
            c5.wait_closed()


if __name__ == "__main__":
    tern.main()
