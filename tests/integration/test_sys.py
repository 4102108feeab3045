"""$SYS topics (--set sys_interval=1)."""

import time

import tern
from tern import PUBLISH, TernTestCase, unique

SYS_TOPICS = [
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total",
    "$SYS/broker/clients/maximum",
    "$SYS/broker/connections/total",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/messages/dropped",
    "$SYS/broker/messages/expired",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
]


class SysTests:
    settings = {"sys_interval": 1}

    def collect_sys(self, c, topics, timeout=4.0):
        """Latest payload per $SYS topic until all of `topics` were seen."""
        seen = {}
        deadline = time.monotonic() + timeout
        while not set(topics) <= set(seen) and time.monotonic() < deadline:
            try:
                p = c.expect_publish(max(0.01, deadline - time.monotonic()))
            except AssertionError:
                break
            seen[p.topic] = p.payload
        return seen

    @tern.slow
    def test_sys_topics_published(self):
        """With sys_interval=1 the $SYS topics arrive, with sane values."""
        c = self.raw_connected(version=5)
        c.subscribe([("$SYS/#", 0)])
        seen = self.collect_sys(c, SYS_TOPICS)
        missing = [t for t in SYS_TOPICS if t not in seen]
        self.assertEqual(missing, [])
        self.assertRegex(seen["$SYS/broker/version"].decode(),
                         r"^ternd [0-9]+\.[0-9]+")
        self.assertRegex(seen["$SYS/broker/uptime"].decode(),
                         r"^[0-9]+ seconds$")
        for t in SYS_TOPICS[2:]:
            self.assertRegex(seen[t].decode(), r"^[0-9]+$", t)
        self.assertGreaterEqual(int(seen["$SYS/broker/clients/connected"]),
                                1)
        self.assertEqual(int(seen["$SYS/broker/clients/maximum"]), 100000)

    def test_sys_counters_follow_activity(self):
        """clients/connected counts connections on every worker and
        messages/received grows with published messages."""
        c = self.raw_connected(version=4)
        c.subscribe([("$SYS/broker/clients/connected", 0),
                     ("$SYS/broker/messages/received", 0)])
        others = [self.raw_connected(tern.id_on_worker("sc", i % self.workers,
                                                       self.workers),
                                     version=4) for i in range(4)]
        for o in others:
            for i in range(5):
                o.publish(unique("cnt/"), b"x", qos=1)

        def ok():
            seen = self.collect_sys(c, ["$SYS/broker/clients/connected",
                                        "$SYS/broker/messages/received"],
                                    timeout=1.5)
            return (int(seen.get("$SYS/broker/clients/connected", 0)) == 5
                    and int(seen.get("$SYS/broker/messages/received", 0))
                    >= 20)
        self.assertTrue(tern.wait_until(ok, 6, 0), "counters did not reach "
                        "5 clients / 20 messages")
        for o in others:
            o.disconnect()

        def back_to_one():
            seen = self.collect_sys(c, ["$SYS/broker/clients/connected"],
                                    timeout=1.5)
            return seen.get("$SYS/broker/clients/connected") == b"1"
        self.assertTrue(tern.wait_until(back_to_one, 6, 0))

    @tern.slow
    def test_mqtt5_4_7_2_1_hash_does_not_match_sys(self):
        """[MQTT5-4.7.2-1] '#' and '+/broker/#' subscribers get no $SYS
        messages (while an explicit $SYS/# subscriber does)."""
        wild = self.raw_connected(version=5)
        wild.subscribe([("#", 0), ("+/broker/#", 0), ("+/+/version", 0)])
        sysc = self.raw_connected(version=5)
        sysc.subscribe([("$SYS/broker/version", 0)])
        sysc.expect_publish(timeout=3)
        # a second round of $SYS publications has happened by now
        sysc.expect_publish(timeout=3)
        got = [p for p in wild.packets(0.05)]
        self.assertEqual([p.topic for p in got if p.type == PUBLISH], [])

    @tern.slow
    def test_sys_retained_for_late_subscribers(self):
        """$SYS values are retained: a late subscriber gets the version at
        once with RETAIN 1."""
        c = self.raw_connected(version=4)
        c.subscribe([("$SYS/broker/version", 0)])
        c.expect_publish(timeout=3)
        late = self.raw_connected(version=4)
        late.subscribe([("$SYS/broker/version", 0)])
        m = late.expect_publish(timeout=5)
        self.assertTrue(m.retain)

    @tern.slow
    def test_sys_with_mosquitto_sub(self):
        """mosquitto_sub -t '$SYS/broker/uptime' sees the uptime."""
        s = self.mosquitto_sub(["$SYS/broker/uptime"], version=4)
        got = s.messages(1, timeout=4)
        self.assertEqual(len(got), 1)
        self.assertRegex(got[0][3].decode(), r"^[0-9]+ seconds$")


class SysW1(SysTests, TernTestCase):
    workers = 1
    run_slow = False


class SysW2(SysTests, TernTestCase):
    workers = 2


class SysOffTests(TernTestCase):
    settings = {"sys_interval": 0}

    def test_sys_interval_0_no_sys_topics(self):
        """sys_interval=0 turns $SYS off: nothing arrives on $SYS/#."""
        c = self.raw_connected(version=5)
        c.subscribe([("$SYS/#", 0)])
        c.assert_nothing(1.5)


if __name__ == "__main__":
    tern.main()
