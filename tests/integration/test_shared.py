"""Shared subscriptions ($share/<group>/<filter>)."""

import time

import tern
from tern import DISCONNECT, SUBACK, TernTestCase, sub_opts, unique


class SharedTests:

    def members(self, filt, n, version=5, qos=1, worker_spread=True):
        out = []
        for i in range(n):
            cid = tern.id_on_worker("sh", i % self.workers, self.workers) \
                if worker_spread else unique("sh")
            c = self.raw_connected(cid, version=version)
            self.assertEqual(c.subscribe([(filt, qos)]), [qos])
            out.append(c)
        return out

    def drain_all(self, clients, expected_total, timeout=tern.TIMEOUT):
        """Reads from every client until expected_total PUBLISHes arrived in
        all, then a short quiet period; returns one payload list per
        client."""
        got = [[] for _ in clients]
        deadline = time.monotonic() + timeout
        while sum(map(len, got)) < expected_total and \
                time.monotonic() < deadline:
            for i, c in enumerate(clients):
                for p in c.packets(0.02):
                    self.assertEqual(p.type, tern.PUBLISH)
                    c.ack(p)
                    got[i].append(p.payload)
        time.sleep(0.2)
        for i, c in enumerate(clients):
            for p in c.packets(0.02):
                c.ack(p)
                got[i].append(p.payload)
        return got

    def test_mqtt5_4_8_each_message_to_one_member(self):
        """[MQTT5-4.8.2-3] 3 members of $share/g/t: every message reaches
        exactly one member, and the work is spread over at least 2."""
        topic = unique("sh/")
        ms = self.members("$share/g/" + topic, 3)
        pub = self.raw_connected(version=5)
        n = 30
        for i in range(n):
            pub.publish(topic, b"%d" % i, qos=1)
        got = self.drain_all(ms, n)
        every = [p for g in got for p in g]
        self.assertEqual(sorted(every), sorted(b"%d" % i for i in range(n)),
                         "duplicates or losses: %r" % got)
        self.assertGreaterEqual(sum(1 for g in got if g), 2,
                                "all messages went to one member: %r"
                                % [len(g) for g in got])

    def test_two_groups_each_get_every_message(self):
        """Two share groups on the same filter each get every message once;
        a non-shared subscriber gets every message too."""
        base = unique("sg")
        g1 = self.members("$share/one/" + base + "/+", 2)
        g2 = self.members("$share/two/" + base + "/#", 3)
        plain = self.raw_connected(version=5)
        plain.subscribe([(base + "/+", 1)])
        pub = self.raw_connected(version=4)
        n = 20
        for i in range(n):
            pub.publish(base + "/x", b"%d" % i, qos=1)
        want = sorted(b"%d" % i for i in range(n))
        for g in (g1, g2):
            got = self.drain_all(g, n)
            self.assertEqual(sorted(p for x in got for p in x), want)
        self.assertEqual([p.payload for p in plain.publishes(n)],
                         [b"%d" % i for i in range(n)])

    def test_shared_from_v311_clients(self):
        """3.1.1 clients may use $share filters too (mixed with v5
        members)."""
        topic = unique("sh311/")
        ms = self.members("$share/g/" + topic, 2, version=4)
        ms += self.members("$share/g/" + topic, 1, version=5)
        pub = self.paho_connected(version=4)
        n = 24
        for i in range(n):
            pub.publish(topic, b"%d" % i, qos=1, wait=False)
        got = self.drain_all(ms, n)
        self.assertEqual(sorted(p for g in got for p in g),
                         sorted(b"%d" % i for i in range(n)))

    def test_shared_with_paho_and_mosquitto(self):
        """A paho member and a mosquitto_sub member share the load of
        mosquitto_pub messages without duplicates."""
        topic = unique("shm/")
        p = self.paho_connected(version=5)
        p.subscribe("$share/mix/" + topic, 1)
        m = self.mosquitto_sub(["$share/mix/" + topic], qos=1, version=5)
        m.ready()
        n = 12
        for i in range(n):
            self.mosquitto_pub(topic, str(i), qos=1, version=5)
        deadline = time.monotonic() + tern.TIMEOUT
        a, b = [], []
        while len(a) + len(b) < n and time.monotonic() < deadline:
            a += [x.payload for x in p.drain(0.05)]
            b += [x[3] for x in m.messages(n, timeout=0.05)]
        a += [x.payload for x in p.drain(0.2)]
        b += [x[3] for x in m.messages(n, timeout=0.05)]
        self.assertEqual(sorted(a + b),
                         sorted(str(i).encode() for i in range(n)))

    def test_mqtt5_4_8_2_3_granted_qos_respected(self):
        """[MQTT5-4.8.2-3] the QoS granted to the chosen member's shared
        subscription caps the delivery QoS."""
        topic = unique("shq/")
        m = self.raw_connected(version=5)
        m.subscribe([("$share/q/" + topic, 0)])
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"x", qos=2)
        got = m.expect_publish()
        self.assertEqual(got.qos, 0)

    def test_member_leaves_others_get_everything(self):
        """After one member unsubscribes and another disconnects, the last
        member gets every message."""
        topic = unique("shl/")
        filt = "$share/g/" + topic
        ms = self.members(filt, 3)
        ms[0].unsubscribe([filt])
        ms[1].disconnect()
        time.sleep(0.1)
        pub = self.raw_connected(version=5)
        n = 10
        for i in range(n):
            pub.publish(topic, b"%d" % i, qos=1)
        self.assertEqual([p.payload for p in ms[2].publishes(n)],
                         [b"%d" % i for i in range(n)])
        ms[0].assert_nothing(0.1)

    def test_mqtt5_3_8_3_4_no_local_on_shared_is_protocol_error(self):
        """[MQTT5-3.8.3-4] No Local 1 on a shared subscription is a Protocol
        Error: DISCONNECT 0x82."""
        c = self.raw_connected(version=5)
        c.send(tern.build_subscribe(1, [("$share/g/" + unique("nl/"),
                                         sub_opts(1, no_local=True))],
                                    version=5))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x82)])

    def test_mqtt5_4_8_2_1_invalid_share_names(self):
        """[MQTT5-4.8.2-1] [MQTT5-4.8.2-2] malformed $share filters ("$share/g"
        without a filter, empty ShareName, ShareName with + or #) are
        refused: SUBACK 0x8F (Topic Filter invalid) or a DISCONNECT with
        0x8F/0x81/0x82."""
        bad = ["$share/g", "$share//t", "$share/a+b/t", "$share/#/t",
               "$share/g/", "$share/+/t"]
        for f in bad:
            with self.subTest(filter=f):
                c = self.raw_connected(version=5)
                c.send(tern.build_subscribe(5, [(f, 1)], version=5))
                p = c.expect_any()
                if p.type == SUBACK:
                    self.assertEqual(p.codes, [0x8F])
                    c.ping()
                else:
                    self.assertEqual(p.type, DISCONNECT)
                    self.assertIn(p.rc, (0x8F, 0x81, 0x82))
                    c.wait_closed()
        self.assert_broker_serves()

    def test_no_retained_on_shared_subscribe(self):
        """Retained messages are sent only for new non-shared subscriptions
        (MQTT 5 section 3.3.1.3): a $share subscription gets none."""
        topic = unique("shr/")
        pub = self.raw_connected(version=5)
        pub.publish(topic, b"retained", qos=1, retain=True)
        m = self.raw_connected(version=5)
        m.subscribe([("$share/r/" + topic, 1)])
        m.assert_nothing()
        pub.publish(topic, b"live", qos=1)
        self.assertEqual(m.expect_publish().payload, b"live")

    def test_shared_wildcard_filter(self):
        """$share/g/<filter with wildcards> matches like the plain filter;
        the topic name delivered is the published one."""
        base = unique("shw")
        ms = self.members("$share/g/" + base + "/+/x/#", 2)
        pub = self.raw_connected(version=5)
        topics = [base + "/a/x", base + "/b/x/y/z", base + "/a/y"]
        for t in topics:
            pub.publish(t, t.encode(), qos=1)
        got = self.drain_all(ms, 2)
        self.assertEqual(sorted(p for g in got for p in g),
                         sorted(t.encode() for t in topics[:2]))

    def test_shared_session_persists_offline(self):
        """A member with a persistent session that is offline: the messages
        still reach the group (the online member or the queued session),
        each exactly once."""
        topic = unique("sho/")
        filt = "$share/p/" + topic
        online = self.raw_connected(version=5)
        online.subscribe([(filt, 1)])
        cid = unique("off")
        off = self.raw()
        off.connect(cid, version=5, props=[(tern.SESSION_EXPIRY, 60)])
        off.subscribe([(filt, 1)])
        off.disconnect()
        pub = self.raw_connected(version=5)
        n = 10
        for i in range(n):
            pub.publish(topic, b"%d" % i, qos=1)
        time.sleep(0.2)
        a = [p.payload for p in online.packets(0.3)
             if not online.ack(p)]
        off = self.raw()
        off.connect(cid, version=5, clean=False,
                    props=[(tern.SESSION_EXPIRY, 60)])
        b = [p.payload for p in off.packets(0.5) if not off.ack(p)]
        self.assertEqual(sorted(a + b), sorted(b"%d" % i for i in range(n)))

    def test_mqtt5_4_8_2_6_puback_error_not_redelivered(self):
        """[MQTT5-4.8.2-6] a member answering PUBACK 0x80: the message is
        discarded, not sent to another member."""
        topic = unique("spe/")
        ms = self.members("$share/g/" + topic, 2)
        pub = self.raw_connected(version=5)
        n = 6
        for i in range(n):
            pub.publish(topic, b"%d" % i, qos=1)
        first = []
        deadline = time.monotonic() + tern.TIMEOUT
        while len(first) < n and time.monotonic() < deadline:
            for m in ms:
                for p in m.packets(0.02):
                    m.send(tern.build_ack(tern.PUBACK, p.pid, rc=0x80,
                                          version=5))
                    first.append(p.payload)
        self.assertEqual(sorted(first), sorted(b"%d" % i for i in range(n)))
        for m in ms:
            m.assert_nothing(0.3)

    def test_shared_and_plain_subscription_same_client(self):
        """A client with a shared and a non-shared subscription on the same
        topic gets the non-shared copy of every message plus its share of
        the group's."""
        topic = unique("sp/")
        a = self.raw_connected(version=5)
        a.subscribe([("$share/g/" + topic, 1), (topic, 1)])
        b = self.raw_connected(version=5)
        b.subscribe([("$share/g/" + topic, 1)])
        pub = self.raw_connected(version=5)
        n = 8
        for i in range(n):
            pub.publish(topic, b"%d" % i, qos=1)
        got_a, got_b = self.drain_all([a, b], 2 * n)
        want = [b"%d" % i for i in range(n)]
        # a has every message once from the plain subscription, plus the
        # group's share; the group's copies, over a and b, are each once
        group = sorted(got_a + got_b)
        for w in want:
            group.remove(w)
        self.assertEqual(sorted(group), sorted(want))
        for w in want:
            self.assertIn(w, got_a)

    def test_shared_across_workers_qos2(self):
        """QoS 2 through a group whose members are pinned to different
        workers: each message exactly once, at QoS 2."""
        topic = unique("sq2/")
        ms = self.members("$share/g/" + topic, 4, qos=2)
        pub = self.raw_connected(tern.id_on_worker("pq", 1 % self.workers,
                                                   self.workers), version=5)
        n = 20
        for i in range(n):
            pub.publish(topic, b"%d" % i, qos=2)
        got = self.drain_all(ms, n)
        self.assertEqual(sorted(p for g in got for p in g),
                         sorted(b"%d" % i for i in range(n)))


class SharedW1(SharedTests, TernTestCase):
    workers = 1


class SharedW2(SharedTests, TernTestCase):
    workers = 2


if __name__ == "__main__":
    tern.main()
