"""Durability: state kept in the LMDB store under data_dir/store across
restarts and kill -9 (durability: process-crash and power-loss).

Each test owns a data dir that outlives the broker processes of the test:
the broker is stopped (SIGTERM) or killed (SIGKILL) and started again on the
same data dir (with a new port). What must survive ([MQTT-4.1.0-1]: the
session state is kept for as long as the session lasts):
- persistent sessions: subscriptions (with their options and subscription
  identifiers), the will, the session expiry, which keeps counting while the
  broker is down;
- QoS 1/2 messages queued for them, acknowledged to the publisher
  (PUBACK / PUBCOMP are sent only after the store has them);
- QoS 1/2 messages in flight to them, re-sent with DUP 1 and their packet
  id on reconnect [MQTT-4.4.0-1], QoS 2 ones after PUBREC as PUBREL only
  [MQTT-4.3.3-*];
- inbound QoS 2 packet ids, so a re-sent PUBLISH is not delivered again
  [MQTT-4.3.3-*];
- retained messages, their deletion, and their expiry (time spent down
  counts).
durability: none keeps nothing. A store ternd cannot read stops it with a
message naming the path (damage it cannot see must not crash it); a full map
makes the publishes that need it fail with 0x97 and nothing else (a refused
message reaches no subscriber of the worker whose commit failed). The
retained messages of a subscribe are read from the store in chunks: a '#'
over 20,000 of them costs the broker about one chunk of heap.

Knobs (environment): TERN_TEST_DAMAGE_SEED and TERN_TEST_DAMAGE_CASES vary
the damaged-store test (default: a fixed seed, 100 cases).

power-loss (fsync on every commit) cannot be told apart from process-crash
without a power cut; its classes run the kill -9 tests to cover the fsync
path.
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import tern
from tern import (PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL,
                  SESSION_EXPIRY, SUBSCRIPTION_ID, MESSAGE_EXPIRY, WILL_DELAY,
                  Broker, ConnectionClosed, TernTestCase, build_ack,
                  build_publish, id_on_worker, sub_opts)

PERSIST = [(SESSION_EXPIRY, 3600)]


def note(msg):
    """A line of information in the test output (not a failure)."""
    sys.stderr.write("\n    [durability] %s " % msg)
    sys.stderr.flush()


def receive_flows(c, want=None, count=None, timeout=tern.TIMEOUT,
                  settle=tern.QUIET, ack=True, key=lambda p: p.payload):
    """Reads packets from RawClient c and, when ack, completes every flow as
    a subscriber (PUBLISH QoS 1 -> PUBACK, QoS 2 -> PUBREC, PUBREL ->
    PUBCOMP). Stops `settle` seconds after every payload of `want` (a set)
    (compared with key(packet)) or `count` PUBLISHes arrived (to catch
    duplicates), or at `timeout`. With neither, reads until timeout.
    Returns the PUBLISH packets."""
    pubs = []
    left = set(want) if want is not None else None
    deadline = time.monotonic() + timeout
    settle_end = None
    while True:
        now = time.monotonic()
        if settle_end is None and (
                (left is not None and not left) or
                (count is not None and len(pubs) >= count)):
            settle_end = now + settle
        end = min(deadline, settle_end) if settle_end else deadline
        if now >= end:
            return pubs
        try:
            p = c.recv_packet(end - now)
        except socket.timeout:
            return pubs
        except ConnectionClosed:
            raise AssertionError("connection closed while receiving (got "
                                 "%d PUBLISH)" % len(pubs)) from None
        if p.type == PUBLISH:
            p.at = time.monotonic()
            pubs.append(p)
            if left is not None:
                left.discard(key(p))
            if ack and p.qos == 1:
                c.send(build_ack(PUBACK, p.pid, version=c.version))
            elif ack and p.qos == 2:
                c.send(build_ack(PUBREC, p.pid, version=c.version))
        elif p.type == PUBREL:
            if ack:
                c.send(build_ack(PUBCOMP, p.pid, version=c.version))
        else:
            raise AssertionError("unexpected packet %r" % p)


def sync(c, timeout=tern.TIMEOUT):
    """PINGREQ, then reads (and drops) packets up to the PINGRESP."""
    c.send(tern.packet(tern.PINGREQ, 0, b""))
    deadline = time.monotonic() + timeout
    while c.expect_any(max(0.0, deadline - time.monotonic())).type != \
            tern.PINGRESP:
        pass


def free_pid(c, busy):
    for _ in range(70000):
        pid = c.pid()
        if pid not in busy:
            return pid
    raise AssertionError("no free packet id")


def publish_pipelined(c, items, window=32, timeout=60, order=None,
                      retain=False):
    """Publishes items [(topic, payload, qos)] from RawClient c with up to
    `window` flows open (with RETAIN set if retain), completing every QoS 1
    / QoS 2 flow. Returns
    {index: reason code of the PUBACK / PUBREC (error) / PUBCOMP}. With
    order (a dict), order[PUBACK] and order[PUBREC] list the indexes in
    the order their PUBACK / PUBREC came."""
    done = {}
    if order is None:
        order = {}
    order.setdefault(PUBACK, [])
    order.setdefault(PUBREC, [])
    open_ = {}  # pid -> index
    i = 0
    deadline = time.monotonic() + timeout
    while i < len(items) or open_:
        while i < len(items) and len(open_) < window:
            topic, payload, qos = items[i]
            pid = free_pid(c, open_)
            c.send(build_publish(topic, payload, qos, retain=retain,
                                 pid=pid, version=c.version))
            open_[pid] = i
            i += 1
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("%d flows still open after %.0f s"
                                 % (len(open_), timeout))
        try:
            p = c.recv_packet(left)
        except socket.timeout:
            continue
        except ConnectionClosed:
            raise AssertionError("publisher connection closed with %d flows "
                                 "open" % len(open_)) from None
        if p.type in (PUBACK, PUBCOMP) and p.pid in open_:
            if p.type == PUBACK:
                order[PUBACK].append(open_[p.pid])
            done[open_.pop(p.pid)] = p.rc
        elif p.type == PUBREC and p.pid in open_:
            order[PUBREC].append(open_[p.pid])
            if p.rc >= 0x80:
                done[open_.pop(p.pid)] = p.rc
            else:
                c.send(build_ack(PUBREL, p.pid, version=c.version))
        else:
            raise AssertionError("publisher got %r" % p)
    return done


def counts(payloads):
    out = {}
    for p in payloads:
        out[p] = out.get(p, 0) + 1
    return out


def first_occurrences(payloads):
    seen, out = set(), []
    for p in payloads:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


# ---------------------------------------------------------------------------
# Base


class DurableCase(TernTestCase):
    """One data dir per test, reused by every broker of the test."""

    durability = "process-crash"
    workers = 2
    run_slow = True
    # acknowledged messages must not be dropped for queue bounds
    settings = {"max_queued_messages": 100000}

    def broker_settings(self):
        s = dict(self.settings)
        if self.durability is not None:
            s["durability"] = self.durability
        return s

    def setUp(self):
        method = getattr(self, self._testMethodName)
        if getattr(method, "_tern_slow", False) and not self.run_slow:
            self.skipTest("slow; runs in the workers=2 process-crash class")
        self.tmp = tempfile.mkdtemp(prefix="ternd-durable-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data_dir = os.path.join(self.tmp, "data")
        self.old_logs = []
        self.broker = Broker(self.extra_args, workers=self.workers,
                             settings=self.broker_settings(),
                             data_dir=self.data_dir)
        self.broker.start()
        # cleanups run last-in first-out: clients, then the broker, then
        # the data dir
        self.addCleanup(lambda: self.broker.stop())

    def restart(self, how="kill", down=0.0, workers=None, settings=None):
        """Stops the broker (how: "kill" = SIGKILL, "term" = SIGTERM),
        waits `down` seconds, starts it again on the same data dir.
        Clients made before are disconnected; make new ones."""
        if how == "kill":
            self.broker.kill()
        else:
            self.broker.stop()
        self.old_logs.append(self.broker.log_text)
        if down:
            time.sleep(down)
        if workers is not None or settings is not None:
            self.broker = Broker(
                self.extra_args,
                workers=workers if workers is not None else self.workers,
                settings=settings if settings is not None
                else self.broker_settings(),
                data_dir=self.data_dir)
        self.broker.start()
        return self.broker

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before and \
                os.environ.get("TERN_TEST_QUIET_LOG") != "1":
            for i, text in enumerate(getattr(self, "old_logs", [])):
                sys.stderr.write("\n--- ternd log of %s, run %d (last 30 "
                                 "lines) ---\n%s\n" % (
                                     self.id(), i + 1, "\n".join(
                                         text.splitlines()[-30:])))
        return out

    def sub_id(self, prefix, worker):
        return id_on_worker(prefix, worker % self.workers, self.workers)

    def retained(self, filt, wait=0.5):
        """{topic: PUBLISH} of the retained messages a fresh v5 subscriber
        to filt gets."""
        c = self.raw_connected(version=5)
        c.subscribe([(filt, 2)])
        got = receive_flows(c, timeout=wait)
        c.disconnect()
        out = {}
        for p in got:
            self.assertTrue(p.retain, p)
            self.assertNotIn(p.topic, out, "retained twice: %r" % got)
            out[p.topic] = p
        return out


# ---------------------------------------------------------------------------
# kill -9 (process-crash and power-loss)


class KillTests:

    def test_kill9_with_queued_messages_every_acked_message_delivered(self):
        """[MQTT-4.1.0-1] [MQTT-3.1.2-4] [MQTT-4.3.2-*] [MQTT-4.3.3-*]
        kill -9 with queued messages: a 3.1.1 (Clean Session 0) and a v5
        (Session Expiry 3600) subscriber to t/# go offline; 200 QoS 1 and
        200 QoS 2 messages are published and every PUBACK / PUBCOMP comes
        back; ternd is SIGKILLed and restarted on the same data dir; both
        subscribers reconnect with Session Present 1 and get every
        acknowledged message: QoS 2 exactly once, QoS 1 at least once
        (duplicates are counted), in publish order per topic."""
        n = 200
        subs = [(self.sub_id("q311", 0), 4, None),
                (self.sub_id("q5", 1), 5, PERSIST)]
        for cid, version, props in subs:
            c = self.raw()
            ack = c.connect(cid, version=version, clean=(version == 5),
                            props=props)
            self.assertFalse(ack.session_present)
            self.assertEqual(c.subscribe([("t/#", 2)]), [2])
            c.disconnect()
        pub = self.raw_connected(self.sub_id("qpub", 1), version=5)
        items = [("t/q1", b"q1-%05d" % i, 1) for i in range(n)] + \
                [("t/q2", b"q2-%05d" % i, 2) for i in range(n)]
        order = {}
        acks = publish_pipelined(pub, items, order=order)
        self.assertEqual(sorted(acks), list(range(2 * n)))
        self.assertEqual({rc for rc in acks.values()}, {0},
                         "PUBACK/PUBCOMP reason codes")
        # [MQTT-4.6.0-2] [MQTT-4.6.0-3] acks wait for the store, in order
        self.assertEqual(order[PUBACK], list(range(n)))
        self.assertEqual(order[PUBREC], list(range(n, 2 * n)))

        self.restart("kill")

        want1 = {p for _, p, q in items if q == 1}
        want2 = {p for _, p, q in items if q == 2}
        for cid, version, props in subs:
            c = self.raw()
            ack = c.connect(cid, version=version, clean=False, props=props)
            self.assertTrue(ack.session_present,
                            "v%d session lost by kill -9" % version)
            got = receive_flows(c, want=want1 | want2, timeout=30)
            q1 = [p.payload for p in got if p.topic == "t/q1"]
            q2 = [p.payload for p in got if p.topic == "t/q2"]
            self.assertEqual(set(q1), want1,
                             "v%d: QoS 1 messages lost: %d of %d arrived"
                             % (version, len(set(q1) & want1), n))
            self.assertEqual(set(q2), want2,
                             "v%d: QoS 2 messages lost: %d of %d arrived"
                             % (version, len(set(q2) & want2), n))
            dup2 = {k: v for k, v in counts(q2).items() if v > 1}
            self.assertEqual(dup2, {}, "v%d: QoS 2 delivered more than once"
                             % version)
            dup1 = len(q1) - len(set(q1))
            note("v%d subscriber: %d QoS 1 (%d duplicates), %d QoS 2"
                 % (version, len(q1), dup1, len(q2)))
            for p in got:
                self.assertEqual(p.qos, 1 if p.topic == "t/q1" else 2, p)
            # [MQTT-4.6.0-6] ordered topics
            self.assertEqual(first_occurrences(q1), sorted(want1))
            self.assertEqual(q2, sorted(want2))
            c.ping()
            c.disconnect()

    def test_kill9_mid_stream_every_acknowledged_message_delivered(self):
        """[MQTT-4.3.2-*] kill -9 mid-stream: a v5 publisher sends QoS 1
        messages continuously (32 in flight) and ternd is SIGKILLed after
        about 1 s; after the restart the persistent subscribers (3.1.1 and
        v5) get every message whose PUBACK arrived before the kill;
        messages never acknowledged may or may not arrive."""
        subs = [(self.sub_id("m311", 1), 4, None),
                (self.sub_id("m5", 0), 5, PERSIST)]
        for cid, version, props in subs:
            c = self.raw()
            c.connect(cid, version=version, clean=(version == 5),
                      props=props)
            c.subscribe([("m/#", 1)])
            c.disconnect()
        pub = self.raw_connected(self.sub_id("mpub", 0), version=5)
        cap = 10000
        state = {"sent": 0, "acked": [], "refused": [], "error": None,
                 "end": None}

        def publish():
            open_ = {}
            seq = 0
            try:
                while True:
                    while seq < cap and len(open_) < 32:
                        pid = free_pid(pub, open_)
                        pub.send(build_publish("m/s", b"s%06d" % seq, 1,
                                               pid=pid, version=5))
                        open_[pid] = seq
                        seq += 1
                        state["sent"] = seq
                    if not open_:
                        state["end"] = "cap reached"
                        return
                    p = pub.recv_packet(5)
                    if p.type != PUBACK or p.pid not in open_:
                        state["error"] = "publisher got %r" % p
                        return
                    s = open_.pop(p.pid)
                    (state["acked"] if p.rc == 0
                     else state["refused"]).append(s)
            except socket.timeout:
                state["error"] = "no PUBACK for 5 s (broker stalled)"
            except (ConnectionClosed, OSError) as e:
                state["end"] = "connection lost: %r" % e

        t = threading.Thread(target=publish, daemon=True)
        t0 = time.monotonic()
        t.start()
        wait_ok = tern.wait_until(
            lambda: time.monotonic() - t0 >= 1.0 or state["sent"] >= cap // 2
            or not t.is_alive(), timeout=10)
        self.assertTrue(wait_ok)
        self.assertTrue(t.is_alive(), "publisher ended before the kill: %r"
                        % state)
        self.broker.kill()
        self.old_logs.append(self.broker.log_text)
        t.join(10)
        self.assertFalse(t.is_alive(), "publisher thread did not end")
        self.assertIsNone(state["error"])
        acked = set(b"s%06d" % s for s in state["acked"])
        self.assertGreaterEqual(len(acked), 10, state["end"])
        self.assertEqual(state["refused"], [])
        self.assertEqual(state["acked"], sorted(state["acked"]),
                         "[MQTT-4.6.0-2] PUBACKs out of order")
        self.broker.start()

        for cid, version, props in subs:
            c = self.raw()
            ack = c.connect(cid, version=version, clean=False, props=props)
            self.assertTrue(ack.session_present)
            got = [p.payload for p in receive_flows(c, want=acked,
                                                    timeout=60)]
            missing = acked - set(got)
            self.assertEqual(len(missing), 0,
                             "v%d: %d acknowledged messages lost (first: %r)"
                             % (version, len(missing), sorted(missing)[:5]))
            note("v%d: sent %d, acked %d before the kill, received %d "
                 "(%d distinct, %d duplicates, %d never acked)" % (
                     version, state["sent"], len(acked), len(got),
                     len(set(got)), len(got) - len(set(got)),
                     len(set(got) - acked)))
            self.assertEqual(first_occurrences(got),
                             sorted(first_occurrences(got)),
                             "[MQTT-4.6.0-6] order")
            c.disconnect()

    def test_kill9_inflight_qos1_resent_with_dup_same_packet_id(self):
        """[MQTT-4.4.0-1] [MQTT-3.3.1-1] in-flight resend after restart: a
        persistent subscriber (3.1.1 and v5) gets QoS 1 messages and does
        not acknowledge them; ternd is SIGKILLed and restarted; on
        reconnect (Clean Start 0) they come again with DUP 1, the same
        packet ids, in order; once acknowledged they are not sent again."""
        subs = [(self.sub_id("if311", 0), 4, None),
                (self.sub_id("if5", 1), 5, PERSIST)]
        clients = []
        for cid, version, props in subs:
            c = self.raw()
            c.connect(cid, version=version, clean=(version == 5),
                      props=props)
            c.subscribe([("if/#", 1)])
            clients.append(c)
        pub = self.raw_connected(version=5)
        for i in range(3):
            pub.publish("if/x", b"unacked-%d" % i, qos=1)
        first = [c.publishes(3, ack=False) for c in clients]
        for f in first:
            self.assertEqual([p.dup for p in f], [False] * 3)

        self.restart("kill")

        for (cid, version, props), f in zip(subs, first):
            c = self.raw()
            ack = c.connect(cid, version=version, clean=False, props=props)
            self.assertTrue(ack.session_present)
            again = c.publishes(3, ack=False)
            self.assertEqual(
                [(p.payload, p.pid, p.dup, p.qos) for p in again],
                [(p.payload, p.pid, True, 1) for p in f],
                "v%d resend" % version)
            for p in again:
                c.send(build_ack(PUBACK, p.pid, version=version))
            c.ping()
            c.disconnect()
        # acknowledged: gone, also from the store
        self.restart("kill")
        for cid, version, props in subs:
            c = self.raw()
            self.assertTrue(c.connect(cid, version=version, clean=False,
                                      props=props).session_present)
            c.assert_nothing()
            c.disconnect()

    def test_kill9_inflight_qos2_publish_resent_and_pubrel_resent(self):
        """[MQTT-4.4.0-1] [MQTT-4.3.3-*] QoS 2 in flight to a persistent
        subscriber at kill -9: a PUBLISH not yet PUBRECed is re-sent with
        DUP 1 and its packet id; one already PUBRECed is not re-sent, only
        its PUBREL. Completed, neither comes again."""
        for version, props in ((4, None), (5, PERSIST)):
            cid = self.sub_id("i2", version)
            c = self.raw()
            c.connect(cid, version=version, clean=(version == 5),
                      props=props)
            c.subscribe([("i2/#", 2)])
            pub = self.raw_connected(version=5)
            pub.publish("i2/x", b"not received", qos=2)
            pub.publish("i2/x", b"received", qos=2)
            a, b = c.publishes(2, ack=False)
            self.assertEqual((a.payload, b.payload),
                             (b"not received", b"received"))
            c.send(build_ack(PUBREC, b.pid, version=version))
            self.assertEqual(c.expect(PUBREL).pid, b.pid)

            self.restart("kill")

            c = self.raw()
            ack = c.connect(cid, version=version, clean=False, props=props)
            self.assertTrue(ack.session_present)
            got = c.packets(1.0)
            kinds = sorted((p.type, p.pid, getattr(p, "dup", None),
                            getattr(p, "payload", None)) for p in got)
            self.assertEqual(kinds, sorted([
                (PUBLISH, a.pid, True, b"not received"),
                (PUBREL, b.pid, None, None)]), "v%d: %r" % (version, got))
            c.send(build_ack(PUBCOMP, b.pid, version=version))
            c.send(build_ack(PUBREC, a.pid, version=version))
            self.assertEqual(c.expect(PUBREL).pid, a.pid)
            c.send(build_ack(PUBCOMP, a.pid, version=version))
            c.ping()
            c.disconnect()
            self.restart("kill")
            c = self.raw()
            c.connect(cid, version=version, clean=False, props=props)
            c.assert_nothing()
            c.disconnect()

    def test_kill9_inbound_qos2_packet_id_kept_no_duplicate(self):
        """[MQTT-4.3.3-*] [MQTT-4.1.0-1] an inbound QoS 2 flow interrupted
        by kill -9 after PUBREC: the publisher (3.1.1 Clean Session 0, and
        v5 with Session Expiry) reconnects, re-sends the PUBLISH with DUP
        (gets PUBREC, not delivered again) or goes straight to PUBREL (gets
        PUBCOMP); the persistent subscriber gets each message exactly
        once."""
        scid = self.sub_id("in2s", 1)
        s = self.raw()
        s.connect(scid, version=5, props=PERSIST)
        s.subscribe([("in2/#", 2)])
        s.disconnect()
        pubs = [(self.sub_id("in2p4", 0), 4, None, True),
                (self.sub_id("in2p5", 1), 5, PERSIST, True),
                (self.sub_id("in2q5", 0), 5, PERSIST, False)]
        for i, (cid, version, props, _) in enumerate(pubs):
            p = self.raw()
            p.connect(cid, version=version, clean=(version == 5),
                      props=props)
            p.send(build_publish("in2/x", b"once-%d" % i, 2, pid=77,
                                 version=version))
            rec = p.expect(PUBREC)
            self.assertEqual((rec.pid, rec.rc), (77, 0))

        self.restart("kill")

        for i, (cid, version, props, resend) in enumerate(pubs):
            p = self.raw()
            ack = p.connect(cid, version=version, clean=False, props=props)
            self.assertTrue(ack.session_present, cid)
            if resend:
                p.send(build_publish("in2/x", b"once-%d" % i, 2, pid=77,
                                     dup=True, version=version))
                self.assertEqual(p.expect(PUBREC).pid, 77)
            p.send(build_ack(PUBREL, 77, version=version))
            comp = p.expect(PUBCOMP)
            self.assertEqual((comp.pid, comp.rc), (77, 0))
            p.disconnect()
        s = self.raw()
        self.assertTrue(s.connect(scid, version=5, clean=False,
                                  props=PERSIST).session_present)
        want = {b"once-0", b"once-1", b"once-2"}
        got = [p.payload for p in receive_flows(s, want=want, timeout=10)]
        self.assertEqual(sorted(got), sorted(want))  # each exactly once


class ProcessCrashW2(KillTests, DurableCase):
    workers = 2


class ProcessCrashW1(KillTests, DurableCase):
    workers = 1
    run_slow = False


class PowerLossW2(KillTests, DurableCase):
    durability = "power-loss"
    workers = 2
    run_slow = False


# ---------------------------------------------------------------------------
# Restarts: retained, expiry, subscriptions, wills


class RestartTests:

    def check_retained_survive(self, how):
        pub = self.raw_connected(version=5)
        pub.publish("r/a", b"A", qos=1, retain=True)
        pub.publish("r/b", b"B", qos=2, retain=True)
        pub.publish("r/c", b"C", qos=0, retain=True)
        pub.publish("r/sync", b"", qos=1)  # its PUBACK follows r/c's commit
        self.restart(how)
        got = self.retained("r/#")
        self.assertEqual({t: (p.payload, p.qos) for t, p in got.items()},
                         {"r/a": (b"A", 1), "r/b": (b"B", 2),
                          "r/c": (b"C", 0)})
        pub = self.raw_connected(version=5)
        pub.publish("r/b", b"", qos=1, retain=True)  # [MQTT-3.3.1-10]
        pub.publish("r/a", b"A2", qos=1, retain=True)
        self.restart(how)
        got = self.retained("r/#")
        self.assertEqual({t: p.payload for t, p in got.items()},
                         {"r/a": b"A2", "r/c": b"C"})
        # and the deletion stays deleted across one more restart
        self.restart(how)
        self.assertEqual(sorted(self.retained("r/#")), ["r/a", "r/c"])

    def test_retained_messages_survive_sigkill_deletion_too(self):
        """Retained messages survive kill -9 (QoS kept); a deletion (empty
        retained payload) and a replacement survive too."""
        self.check_retained_survive("kill")

    def test_retained_messages_survive_sigterm_deletion_too(self):
        """Retained messages survive a clean restart (SIGTERM); a deletion
        and a replacement survive too."""
        self.check_retained_survive("term")

    def check_retained_expiry(self, how):
        pub = self.raw_connected(version=5)
        pub.publish("rx/keep", b"K", qos=1, retain=True)
        pub.publish("rx/e60", b"E60", qos=1, retain=True,
                    props=[(MESSAGE_EXPIRY, 60)])
        pub.publish("rx/e2", b"E2", qos=1, retain=True,
                    props=[(MESSAGE_EXPIRY, 2)])
        t0 = time.monotonic()
        self.restart(how, down=3.0)
        got = self.retained("rx/#")
        elapsed = time.monotonic() - t0
        self.assertEqual(sorted(got), ["rx/e60", "rx/keep"],
                         "the 2 s message outlived a 3 s restart")
        self.assertFalse(got["rx/keep"].props.has(MESSAGE_EXPIRY))
        left = got["rx/e60"].props.get(MESSAGE_EXPIRY)
        self.assertIsNotNone(left)
        # [MQTT-3.3.2-6] the interval sent is the time left
        self.assertLessEqual(left, 60 - 3, "time down was not counted")
        self.assertGreaterEqual(left, 60 - int(elapsed) - 2)

    @tern.slow
    def test_retained_message_expiry_counts_while_down_sigkill(self):
        """[MQTT-3.3.2-5] [MQTT-3.3.2-6] a retained message with Message
        Expiry Interval 2 published just before a kill -9 and a 3 s pause
        does not come back (time spent down counts); one with 60 comes back
        with its interval decremented by the time passed, one without
        expiry comes back without."""
        self.check_retained_expiry("kill")

    @tern.slow
    def test_retained_message_expiry_counts_while_down_sigterm(self):
        """[MQTT-3.3.2-5] the same across a SIGTERM restart."""
        self.check_retained_expiry("term")

    def check_session_expiry_counts(self, how):
        cid = self.sub_id("se2", 0)
        c = self.raw()
        c.connect(cid, version=5, props=[(SESSION_EXPIRY, 2)])
        c.subscribe([("se/x", 1)])
        c.disconnect()
        pub = self.raw_connected(version=5)
        pub.publish("se/x", b"queued for an expiring session", qos=1)
        time.sleep(0.2)  # the disconnect is committed
        self.restart(how, down=3.0)
        c = self.raw()
        ack = c.connect(cid, version=5, clean=False,
                        props=[(SESSION_EXPIRY, 2)])
        self.assertFalse(ack.session_present,
                         "a 2 s session outlived 3 s down")
        c.assert_nothing()

    @tern.slow
    def test_session_expiry_counts_while_down_sigkill(self):
        """[MQTT-4.1.0-2] [MQTT-3.1.2-23] session expiry keeps counting
        while ternd is down: a v5 session with Session Expiry 2 s, ternd
        SIGKILLed right after the client disconnected and down for 3 s:
        the reconnect (Clean Start 0) right after the restart gets Session
        Present 0 and none of the messages queued for the old session."""
        self.check_session_expiry_counts("kill")

    @tern.slow
    def test_session_expiry_counts_while_down_sigterm(self):
        """[MQTT-4.1.0-2] the same across a clean stop (SIGTERM)."""
        self.check_session_expiry_counts("term")

    @tern.slow
    def test_session_outlives_time_down_subscriptions_still_work(self):
        """[MQTT-4.1.0-1] [MQTT-3.1.2-23] sessions whose expiry has not
        passed survive 3 s down: v5 Session Expiry 3600 and 10 s and a
        3.1.1 Clean Session 0 session get Session Present 1, and their
        subscriptions still work (a new publish reaches them without
        resubscribing)."""
        subs = [(self.sub_id("se3600", 1), 5, PERSIST),
                (self.sub_id("se10", 0), 5, [(SESSION_EXPIRY, 10)]),
                (self.sub_id("se311", 1), 4, None)]
        for cid, version, props in subs:
            c = self.raw()
            c.connect(cid, version=version, clean=(version == 5),
                      props=props)
            c.subscribe([("se/" + cid, 1)])
            c.disconnect()
        time.sleep(0.2)  # the disconnects are committed
        self.restart("kill", down=3.0)
        pub = self.raw_connected(version=5)
        for cid, version, props in subs:
            c = self.raw()
            ack = c.connect(cid, version=version, clean=False, props=props)
            self.assertTrue(ack.session_present, cid)
            pub.publish("se/" + cid, b"still subscribed", qos=1)
            m = c.expect_publish()
            self.assertEqual((m.topic, m.payload, m.qos),
                             ("se/" + cid, b"still subscribed", 1))
            c.disconnect()

    def test_subscriptions_survive_restart_with_options_and_ids(self):
        """[MQTT-4.1.0-1] [MQTT-3.3.4-3] subscriptions survive kill -9: a
        v5 persistent session with filters s/a/+ (subscription id 7, QoS 1),
        s/b/# (id 9, QoS 2), $share/g/x, s/nl (No Local), s/rap (Retain As
        Published), and a 3.1.1 one with s/v4/#: after the restart and a
        reconnect without resubscribing, publishes match as before, each
        once, with the subscription identifier in the v5 PUBLISH."""
        cid5, cid4 = self.sub_id("sv5", 1), self.sub_id("sv4", 0)
        c = self.raw()
        c.connect(cid5, version=5, props=PERSIST)
        self.assertEqual(c.subscribe([("s/a/+", 1)],
                                     props=[(SUBSCRIPTION_ID, 7)]), [1])
        self.assertEqual(c.subscribe([("s/b/#", 2)],
                                     props=[(SUBSCRIPTION_ID, 9)]), [2])
        self.assertEqual(c.subscribe([("$share/g/x", 1)]), [1])
        self.assertEqual(c.subscribe([("s/nl", sub_opts(1, no_local=True)),
                                      ("s/rap", sub_opts(1, rap=True))]),
                         [1, 1])
        c.disconnect()
        c = self.raw()
        c.connect(cid4, version=4, clean=False)
        self.assertEqual(c.subscribe([("s/v4/#", 2)]), [2])
        c.disconnect()

        self.restart("kill")

        c5 = self.raw()
        self.assertTrue(c5.connect(cid5, version=5, clean=False,
                                   props=PERSIST).session_present)
        c4 = self.raw()
        self.assertTrue(c4.connect(cid4, version=4,
                                   clean=False).session_present)
        pub = self.raw_connected(version=5)
        pub.publish("s/a/1", b"a", qos=1)
        pub.publish("s/b/c/d", b"b", qos=2)
        pub.publish("x", b"shared", qos=1)
        pub.publish("s/c", b"nobody", qos=1)
        pub.publish("s/rap", b"rap", qos=1, retain=True)
        pub.publish("s/nl", b"from another client", qos=1)
        pub.publish("s/v4/z", b"v4", qos=2)
        c5.publish("s/nl", b"own", qos=1)
        got = receive_flows(c5, count=5, timeout=tern.TIMEOUT)
        seen = sorted((p.topic, p.payload, p.qos, p.retain,
                       tuple(p.props.all(SUBSCRIPTION_ID))) for p in got)
        self.assertEqual(seen, sorted([
            ("s/a/1", b"a", 1, False, (7,)),
            ("s/b/c/d", b"b", 2, False, (9,)),
            ("x", b"shared", 1, False, ()),
            ("s/rap", b"rap", 1, True, ()),
            ("s/nl", b"from another client", 1, False, ())]))
        got4 = receive_flows(c4, count=1)
        self.assertEqual([(p.topic, p.payload, p.qos) for p in got4],
                         [("s/v4/z", b"v4", 2)])

    @tern.slow
    def test_will_of_session_connected_at_kill_published_after_restart(self):
        """[MQTT-3.1.2-8] [MQTT-3.1.3-9] the will of a persistent session
        whose client was connected when ternd was SIGKILLed is published
        after the restart (the connection was lost without DISCONNECT):
        3.1.1 at once, v5 after its Will Delay Interval (2 s). A will
        dropped by a normal DISCONNECT [MQTT-3.1.2-10] stays dropped."""
        wcid = self.sub_id("watch", 0)
        w = self.raw()
        w.connect(wcid, version=5, props=PERSIST)
        w.subscribe([("will/#", 1)])
        w.disconnect()
        c5 = self.raw()
        c5.connect(self.sub_id("w5", 1), version=5, props=PERSIST,
                   will={"topic": "will/v5", "payload": b"v5 gone",
                         "qos": 1, "props": [(WILL_DELAY, 2)]})
        c4 = self.raw()
        c4.connect(self.sub_id("w4", 0), version=4, clean=False,
                   will={"topic": "will/v4", "payload": b"v4 gone",
                         "qos": 1})
        cn = self.raw()
        cn.connect(self.sub_id("wn", 1), version=5, props=PERSIST,
                   will={"topic": "will/normal", "payload": b"must not",
                         "qos": 1})
        cn.disconnect()
        for c in (c5, c4):
            c.ping()
        time.sleep(0.2)
        self.restart("kill")
        t0 = time.monotonic()
        w = self.raw()
        self.assertTrue(w.connect(wcid, version=5, clean=False,
                                  props=PERSIST).session_present)
        got = receive_flows(w, want={b"v5 gone", b"v4 gone"},
                            timeout=2 + tern.TIMEOUT, settle=0.5)
        self.assertEqual(sorted(p.payload for p in got),
                         [b"v4 gone", b"v5 gone"])
        when = {p.payload: p.at - t0 for p in got}
        note("wills after the restart: %r" % when)
        # the delay runs again from the restart (at least most of it)
        self.assertGreaterEqual(when[b"v5 gone"], 1.0,
                                "will delay not applied after restart")

    def test_restart_with_another_worker_count_keeps_sessions(self):
        """Sessions are rebuilt on the worker that owns them under the new
        worker count: persistent sessions with queued messages, made with
        2 workers, restarted with 1 then 3 workers, get their messages."""
        cids = [self.sub_id("wc%d" % i, i) for i in range(4)]
        for cid in cids:
            c = self.raw()
            c.connect(cid, version=4, clean=False)
            c.subscribe([("wc/" + cid, 1)])
            c.disconnect()
        pub = self.raw_connected(version=5)
        for cid in cids:
            pub.publish("wc/" + cid, b"first " + cid.encode(), qos=1)
        self.restart("kill", workers=1)
        for cid in cids[:2]:
            c = self.raw()
            self.assertTrue(c.connect(cid, version=4,
                                      clean=False).session_present)
            self.assertEqual(c.expect_publish().payload,
                             b"first " + cid.encode())
            c.ping()
            c.disconnect()
        pub = self.raw_connected(version=5)
        for cid in cids:
            pub.publish("wc/" + cid, b"second " + cid.encode(), qos=1)
        self.restart("term", workers=3)
        for i, cid in enumerate(cids):
            c = self.raw()
            self.assertTrue(c.connect(cid, version=4,
                                      clean=False).session_present)
            want = ([b"first " + cid.encode()] if i >= 2 else []) + \
                [b"second " + cid.encode()]
            got = [p.payload for p in receive_flows(c, count=len(want))]
            self.assertEqual(got, want, cid)
            c.disconnect()


class RestartW2(RestartTests, DurableCase):
    workers = 2


class RestartW1(RestartTests, DurableCase):
    workers = 1
    run_slow = False


# ---------------------------------------------------------------------------
# durability: none


class NoDurabilityTests(DurableCase):
    durability = "none"

    def test_durability_none_nothing_survives_restart(self):
        """durability none keeps everything in memory: after
        a restart on the same data dir a 3.1.1 Clean Session 0 and a v5
        Session Expiry 3600 session are gone (Session Present 0), their
        queued messages too, and no retained message comes back."""
        for cid, version, props in (("n311", 4, None), ("n5", 5, PERSIST)):
            c = self.raw()
            c.connect(cid, version=version, clean=(version == 5),
                      props=props)
            c.subscribe([("n/#", 1)])
            c.disconnect()
        pub = self.raw_connected(version=5)
        pub.publish("n/q", b"queued", qos=1)
        pub.publish("n/r", b"retained", qos=1, retain=True)
        for how in ("term", "kill"):
            self.restart(how)
            for cid, version, props in (("n311", 4, None),
                                        ("n5", 5, PERSIST)):
                c = self.raw()
                ack = c.connect(cid, version=version, clean=False,
                                props=props)
                self.assertFalse(ack.session_present, (how, cid))
                c.assert_nothing()
                c.disconnect()
            self.assertEqual(self.retained("n/#"), {}, how)


# ---------------------------------------------------------------------------
# A corrupt store


class CorruptStoreTests(unittest.TestCase):
    """ternd refuses a store it cannot read: exit code non-zero, a message
    naming the path, no crash, no sanitizer report, the file untouched."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ternd-corrupt-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data_dir = os.path.join(self.tmp, "data")
        self.store_dir = os.path.join(self.data_dir, "store")

    def run_ternd(self, timeout=15):
        """Runs ternd on the data dir; it must exit by itself. Returns
        (exit code, output)."""
        args = [tern.TERND, "--listen", "mqtt://127.0.0.1:0",
                "--data-dir", self.data_dir, "--workers", "2",
                "--admin-listen", "127.0.0.1:0",
                "--set", "durability=process-crash"]
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=env)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate(5)
            self.fail("ternd started on a corrupt store:\n%s"
                      % out.decode(errors="replace")[-3000:])
        return p.returncode, out.decode("utf-8", "replace")

    def make_store(self):
        """A real store with a retained message and a session."""
        b = Broker(workers=2, settings={"durability": "process-crash"},
                   data_dir=self.data_dir)
        with b:
            c = tern.RawClient(b.host, b.port)
            try:
                c.connect("cs", version=4, clean=False)
                c.subscribe([("cs/#", 1)])
                c.publish("cs/r", b"x" * 1000, qos=1, retain=True)
                c.disconnect()
            finally:
                c.close()
        path = os.path.join(self.store_dir, "data.mdb")
        self.assertTrue(os.path.getsize(path) > 0)
        return path

    def assert_refused(self, path):
        with open(path, "rb") as f:
            before = f.read()
        rc, out = self.run_ternd()
        self.assertGreater(rc, 0, "exit code %d (negative: killed by a "
                           "signal)\n%s" % (rc, out[-3000:]))
        self.assertIn(self.store_dir, out, "message does not name the path")
        for marker in tern.SANITIZER_MARKERS:
            self.assertNotIn(marker, out)
        with open(path, "rb") as f:
            self.assertTrue(f.read() == before,
                            "ternd changed the file it refused")
        return out

    def test_corrupt_store_header_overwritten_refused_with_path(self):
        """Both LMDB meta pages of a real store overwritten with garbage:
        ternd exits non-zero naming data_dir/store."""
        path = self.make_store()
        with open(path, "r+b") as f:
            f.write(bytes((i * 37 + 11) & 0xFF for i in range(16384)))
        out = self.assert_refused(path)
        note([ln for ln in out.splitlines() if self.store_dir in ln][0])

    def test_garbage_file_as_store_refused_with_path(self):
        """data_dir/store/data.mdb is not an LMDB file (text garbage):
        ternd exits non-zero naming the path and leaves the file alone."""
        os.makedirs(self.store_dir)
        path = os.path.join(self.store_dir, "data.mdb")
        with open(path, "wb") as f:
            f.write(b"this is not an LMDB file\n" * 2000)
        self.assert_refused(path)

    def test_corrupt_store_damaged_pages_refused_or_served_never_crash(self):
        """Seeded damage anywhere in a real store (bytes overwritten in
        B-tree pages, a page zeroed, the file truncated): ternd either
        refuses to start (exit code > 0, message naming data_dir/store) or
        starts, recovers what it can, serves clients and stops cleanly
        (exit 0); never a crash, a hang or a sanitizer report."""
        b = Broker(workers=2, settings={"durability": "process-crash"},
                   data_dir=self.data_dir)
        with b:
            pub = tern.RawClient(b.host, b.port)
            pub.connect("cpub", version=5)
            for i in range(12):
                c = tern.RawClient(b.host, b.port)
                try:
                    c.connect("cs%02d" % i, version=4 + i % 2,
                              clean=(i % 2 == 1),
                              props=PERSIST if i % 2 else None,
                              will={"topic": "will/%d" % i,
                                    "payload": b"w" * 40})
                    c.subscribe([("cs/%d/#" % i, 1 + i % 2)])
                    c.disconnect()
                finally:
                    c.close()
            for i in range(60):
                pub.publish("cs/%d/m" % (i % 12), b"m%03d" % i * 20,
                            qos=1 + i % 2, retain=(i % 3 == 0))
            pub.disconnect()
            pub.close()
        path = os.path.join(self.store_dir, "data.mdb")
        with open(path, "rb") as f:
            pristine = f.read()
        psize = 4096
        pages = len(pristine) // psize
        seed = int(os.environ.get("TERN_TEST_DAMAGE_SEED", "20261125"))
        rnd = random.Random(seed)
        cases = [("truncated to %d bytes" % n, pristine[:n])
                 for n in (100, psize * 2 + 10, len(pristine) // 2)]
        for pg in range(2, min(pages, 12)):
            data = bytearray(pristine)
            data[pg * psize:(pg + 1) * psize] = bytes(psize)
            cases.append(("page %d zeroed" % pg, bytes(data)))
        for i in range(int(os.environ.get("TERN_TEST_DAMAGE_CASES", "100"))):
            data = bytearray(pristine)
            pg = rnd.randrange(pages)
            n = rnd.choice((1, 2, 4, 8))
            at = pg * psize + rnd.randrange(psize - n)
            data[at:at + n] = bytes(rnd.randrange(256) for _ in range(n))
            cases.append(("%d byte(s) at %d (page %d)" % (n, at, pg),
                          bytes(data)))
        outcomes = {"refused": 0, "served": 0, "odd": 0}
        for what, data in cases:
            with self.subTest(what):
                with open(path, "wb") as f:
                    f.write(data)
                outcomes[self.start_damaged(what)] += 1
        note("damaged stores (%d pages, seed %d): %r"
             % (pages, seed, outcomes))

    def start_damaged(self, what):
        """Starts ternd on the damaged store. Returns "refused" (it exited
        properly), "served" or "odd" (it served, but a client saw
        something wrong: printed; a malformed topic from a damaged record
        is the subject of its own test)."""
        b = Broker(workers=2, settings={"durability": "process-crash"},
                   data_dir=self.data_dir, log_level="info")
        try:
            b.start()
        except AssertionError:
            rc = b.proc.returncode
            self.assertIsNotNone(rc, "%s: ternd hung at start" % what)
            self.assertGreater(rc, 0, "%s: ternd crashed (exit %d):\n%s"
                               % (what, rc, b.log_text[-3000:]))
            self.assertIn(self.store_dir, b.log_text, what)
            for marker in tern.SANITIZER_MARKERS:
                self.assertNotIn(marker, b.log_text, what)
            return "refused"
        odd = []
        try:
            for i in range(12):
                c = tern.RawClient(b.host, b.port)
                try:
                    c.connect("cs%02d" % i, version=4 + i % 2, clean=False,
                              props=PERSIST if i % 2 else None)
                    sync(c)
                    c.disconnect()
                except (AssertionError, UnicodeDecodeError,
                        ValueError) as e:
                    odd.append("cs%02d: %s" % (i, str(e)[:100]))
                finally:
                    c.close()
            c = tern.RawClient(b.host, b.port)
            try:
                c.connect("alive", version=5)
                c.subscribe([("alive/#", 1)])
                c.publish("alive/x", b"ping", qos=1)
                self.assertEqual(c.expect_publish().payload, b"ping")
                c.disconnect()
            finally:
                c.close()
        finally:
            b.stop()  # exit code 0, no sanitizer report
        if odd:
            note("%s: served; clients saw: %s" % (what, "; ".join(odd)))
            return "odd"
        return "served"

    def test_damaged_message_topic_not_sent_malformed(self):
        """[MQTT-1.5.4-1] a stored message whose topic was damaged on disk
        (one byte of "poison/t1" turned into 0xFF, invalid UTF-8) is not
        sent as a malformed PUBLISH: the damaged record is skipped (or the
        start refused); the session's other messages arrive. Otherwise the
        message poisons the session: a client must close on it, and gets
        it again on every reconnect."""
        b = Broker(workers=1, settings={"durability": "process-crash"},
                   data_dir=self.data_dir)
        with b:
            c = tern.RawClient(b.host, b.port)
            p = tern.RawClient(b.host, b.port)
            try:
                c.connect("sub", version=4, clean=False)
                c.subscribe([("poison/#", 1)])
                c.disconnect()
                p.connect("pub", version=4)
                for i in range(3):
                    p.publish("poison/t%d" % i, b"payload-%d" % i, qos=1)
                p.disconnect()
            finally:
                c.close()
                p.close()
        path = os.path.join(self.store_dir, "data.mdb")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        at = data.find(b"poison/t1")
        self.assertGreaterEqual(at, 0)
        while at >= 0:  # every copy (LMDB keeps old pages around)
            data[at + 7] = 0xFF
            at = data.find(b"poison/t1", at + 1)
        with open(path, "wb") as f:
            f.write(bytes(data))
        b = Broker(workers=1, settings={"durability": "process-crash"},
                   data_dir=self.data_dir)
        try:
            b.start()
        except AssertionError:
            self.assertIn(self.store_dir, b.log_text)
            return  # refused with a message: fine
        try:
            c = tern.RawClient(b.host, b.port)
            try:
                c.connect("sub", version=4, clean=False)
                try:
                    got = receive_flows(c, count=2, timeout=2)
                except UnicodeDecodeError as e:
                    self.fail("ternd sent a PUBLISH with an invalid UTF-8 "
                              "topic: %s" % e)
                self.assertEqual(sorted(p.payload for p in got),
                                 [b"payload-0", b"payload-2"])
                c.disconnect()
            finally:
                c.close()
        finally:
            b.stop()

    def test_store_path_is_a_file_refused_with_path(self):
        """data_dir/store is a regular file, not a directory: ternd exits
        non-zero naming the path."""
        os.makedirs(self.data_dir)
        with open(self.store_dir, "wb") as f:
            f.write(b"not a directory")
        self.assert_refused(self.store_dir)


# ---------------------------------------------------------------------------
# Retained messages streamed from the store


def proc_status_kb(pid, field):
    """A field of /proc/PID/status in kB (VmRSS, RssAnon, VmHWM...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


class RssSampler:
    """Samples the broker's RssAnon every 20 ms in a thread until stop();
    .peak is the largest value seen (kB). RssAnon, not VmRSS: VmRSS also
    counts the store's pages that LMDB reads map in (RssFile), which the
    kernel may drop at any time; the heap is what a subscribe costs."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = proc_status_kb(pid, "RssAnon")
        self.vm_peak = proc_status_kb(pid, "VmRSS")
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak,
                                proc_status_kb(self.pid, "RssAnon"))
                self.vm_peak = max(self.vm_peak,
                                   proc_status_kb(self.pid, "VmRSS"))
            except (OSError, AssertionError):
                return  # the broker is gone: the test reports it

    def stop(self):
        self._stop.set()
        self._t.join(5)
        return self.peak


class RetainedStreamTests(DurableCase):
    """With durability on, the retained messages live in the store only and
    a subscribe reads the matching ones a chunk at a time (at most 256
    messages or about 1 MiB), reading the next chunk once the previous one
    reached the kernel: a wildcard subscribe over many of them costs about
    one chunk of memory, however many match."""

    settings = dict(DurableCase.settings, max_queued_messages=100)
    count = 20000
    size = 64      # payload bytes; the memory test uses 2048
    split = False  # topics rs/a/N (even N) and rs/b/N (odd N)
    # Bound on the broker's heap growth (RssAnon) while a '#' subscriber
    # receives all of them: a chunk is about 0.5 MB here, and the rest is
    # allocator slack (ASan keeps freed blocks in a quarantine, limited to
    # 8 MB for this class below). Collecting them all at once, as ternd
    # did before, grows it by more than the 40 MB of payload.
    rss_bound_kb = 16 * 1024

    def setUp(self):
        # ASan's quarantine (256 MB by default) would count every freed
        # chunk as resident: limit it so RssAnon shows what is live
        old = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = ((old + ":") if old else
                                      "detect_leaks=1:") + \
            "quarantine_size_mb=8"
        try:
            super().setUp()
        finally:
            if old is None:
                del os.environ["ASAN_OPTIONS"]
            else:
                os.environ["ASAN_OPTIONS"] = old

    def payload(self, i):
        return b"%05d:" % i + b"p" * (self.size - 6)

    def topic(self, i):
        if self.split:
            return "rs/%s/%05d" % ("ab"[i % 2], i)
        return "rs/%05d" % i

    def populate(self, qos=0):
        """count retained messages: QoS 0 ones sent in one go (the PUBACK
        of a QoS 1 publish after them follows their commit), QoS 1 ones
        pipelined."""
        pub = self.raw_connected(self.sub_id("rspub", 0), version=5)
        if qos:
            done = publish_pipelined(
                pub, [(self.topic(i), self.payload(i), qos)
                      for i in range(self.count)], window=100, timeout=120,
                retain=True)
            self.assertEqual(set(done.values()), {0})
            pub.disconnect()
            return
        pub.send(b"".join(build_publish(self.topic(i), self.payload(i), 0,
                                        retain=True, version=5)
                          for i in range(self.count)))
        self.assertEqual(pub.publish("rs-sync", b"s", qos=1,
                                     timeout=120).rc, 0)
        pub.disconnect()

    def receive(self, c, want, timeout=120, stop_after=None):
        """Reads PUBLISHes from c (acking QoS 1) until `want` arrived (or
        stop_after of them); returns [(topic, payload, retain, sub ids)]."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < (stop_after or want):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                p = c.recv_packet(left)
            except socket.timeout:
                break
            if p.type == tern.SUBACK:
                continue
            self.assertEqual(p.type, PUBLISH, p)
            got.append((p.topic, p.payload, p.retain,
                        tuple(p.props.all(SUBSCRIPTION_ID))))
            if p.qos == 1:
                c.send(build_ack(PUBACK, p.pid, version=5))
        return got

    def check_all_once(self, got):
        topics = counts(t for t, _, _, _ in got)
        dup = [t for t, n in topics.items() if n > 1]
        self.assertEqual(dup, [], "retained messages sent twice")
        want = [self.topic(i) for i in range(self.count)]
        missing = sorted(set(want) - set(topics))
        self.assertEqual(missing[:5], [], "%d missing" % len(missing))
        self.assertEqual(len(got), self.count)
        for t, payload, retain, _ in got:
            self.assertTrue(retain, t)
            self.assertEqual(payload, self.payload(int(t[-5:])), t)

    def test_wildcard_subscribe_over_20000_retained_bounded_memory(self):
        """20,000 retained messages of 2 KiB (40 MB): a '#' subscriber gets
        each exactly once, in full, with RETAIN 1, while the broker's heap
        (RssAnon) grows by less than rss_bound_kb; a second '#' subscriber
        afterwards gets them all again."""
        self.size = 2048  # 40 MB of retained payload in all
        self.populate()
        pid = self.broker.proc.pid
        time.sleep(0.2)
        base = proc_status_kb(pid, "RssAnon")
        sampler = RssSampler(pid)
        try:
            c = self.raw_connected(self.sub_id("rssub", 1), version=5)
            t0 = time.monotonic()
            c.subscribe([("#", 0)])
            got = self.receive(c, self.count)
            dt = time.monotonic() - t0
        finally:
            peak = sampler.stop()
        self.check_all_once(got)
        note("'#' over %d retained of %d B: %.1f s; broker RssAnon %d kB "
             "before, peak +%d kB (VmRSS peak %d kB)"
             % (self.count, self.size, dt, base, peak - base,
                sampler.vm_peak))
        c.assert_nothing()
        # ThreadSanitizer's allocator keeps freed memory (and shadows all
        # of it): the bound is for ASan and release builds
        if "TSAN_OPTIONS" not in os.environ:
            self.assertLess(peak - base, self.rss_bound_kb,
                            "heap grew by %d kB during the subscribe"
                            % (peak - base))
        c2 = self.raw_connected(self.sub_id("rssub2", 0), version=5)
        c2.subscribe([("rs/#", 0)])
        self.check_all_once(self.receive(c2, self.count))

    def test_subscriber_gone_mid_stream_broker_healthy(self):
        """A '#' subscriber that reads 1,000 of the 20,000 retained messages
        and resets its connection, and one that subscribes and closes at
        once, leave the broker serving (and leak nothing: ASan checks at
        the stop); a new subscriber then gets every message once."""
        self.populate()
        c = self.raw_connected(self.sub_id("rsgone", 1), version=5)
        c.subscribe([("#", 0)])
        self.assertEqual(len(self.receive(c, self.count, stop_after=1000)),
                         1000)
        c.abort()
        for w in range(self.workers):
            q = self.raw_connected(self.sub_id("rsq%d" % w, w), version=5)
            q.send(tern.build_subscribe(1, [("rs/#", 1)], version=5))
            q.abort()
        time.sleep(0.3)
        self.assertTrue(self.broker.alive())
        self.assert_broker_serves()
        c = self.raw_connected(self.sub_id("rsnew", 0), version=5)
        c.subscribe([("#", 0)])
        self.check_all_once(self.receive(c, self.count))

    def test_unsubscribe_mid_stream_stops_it(self):
        """[MQTT-3.10.4-2] a '#' subscriber that unsubscribes after 500 of
        the 20,000 retained messages (2 KiB each) gets its UNSUBACK and no
        more than was already on its way (far fewer than 20,000; socket
        buffers hold a few MB), and stays connected."""
        self.size = 2048
        self.populate()
        c = self.raw_connected(self.sub_id("rsunsub", 1), version=5)
        c.subscribe([("#", 0)])
        got = self.receive(c, self.count, stop_after=500)
        c.send(tern.build_unsubscribe(99, ["#"], version=5))
        n, unsuback = len(got), False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                p = c.recv_packet(2.0 if unsuback else 30.0)
            except socket.timeout:
                break
            if p.type == tern.UNSUBACK:
                unsuback = True
            else:
                self.assertEqual(p.type, PUBLISH, p)
                n += 1
        self.assertTrue(unsuback)
        note("unsubscribed after 500: %d of %d arrived" % (n, self.count))
        self.assertLess(n, self.count // 2)
        c.ping()

    def test_several_subscriptions_and_a_second_subscribe_each_once(self):
        """One SUBSCRIBE of two disjoint filters, rs/a/# and rs/b/+
        (identifier 1), and while their messages stream a second SUBSCRIBE
        of rs/# (identifier 2), at QoS 1 with a receive maximum of 20:
        every retained message arrives exactly once per subscription, with
        that subscription's identifier, none dropped for the queue bound
        (max_queued_messages is 100 here)."""
        self.split = True
        self.populate(qos=1)
        c = self.raw()
        c.connect(self.sub_id("rsmany", 1), version=5,
                  props=[(tern.RECEIVE_MAXIMUM, 20)])
        c.send(tern.build_subscribe(1, [("rs/a/#", 1), ("rs/b/+", 1)],
                               props=[(SUBSCRIPTION_ID, 1)], version=5))
        first = self.receive(c, self.count, stop_after=3000)
        c.send(tern.build_subscribe(2, [("rs/#", 1)],
                               props=[(SUBSCRIPTION_ID, 2)], version=5))
        rest = self.receive(c, 2 * self.count - len(first))
        got = first + rest
        by_id = {1: [], 2: []}
        for t, payload, retain, ids in got:
            self.assertEqual(len(ids), 1, (t, ids))
            by_id[ids[0]].append((t, payload, retain, ids))
        self.check_all_once(by_id[1])
        self.check_all_once(by_id[2])


# ---------------------------------------------------------------------------
# Map full


class MapFullTests(DurableCase):
    settings = dict(DurableCase.settings, store_map_size="1m")
    big = b"x" * 65536

    def fill(self):
        """A persistent offline v5 subscriber to big/# and a v5 publisher
        of 64 KiB QoS 1 messages until the first 0x97 (at most 300).
        Returns (subscriber id, publisher, acknowledged ids, refused ids)."""
        scid = self.sub_id("full", 1)
        s = self.raw()
        s.connect(scid, version=5, props=PERSIST)
        s.subscribe([("big/#", 1)])
        s.disconnect()
        pub = self.raw_connected(self.sub_id("fullp", 0), version=5)
        acked, refused = [], []
        for i in range(300):
            ack = pub.publish("big/m", b"%05d" % i + self.big, qos=1)
            if ack.rc == 0x97:
                refused.append(b"%05d" % i)
                break
            self.assertEqual(ack.rc, 0, "PUBACK reason 0x%02x" % ack.rc)
            acked.append(b"%05d" % i)
        self.assertEqual(len(refused), 1, "never full after 300 x 64 KiB")
        self.assertGreater(len(acked), 0)
        # still full: the next one is refused too, the connection stays
        self.assertEqual(pub.publish("big/m", b"again" + self.big,
                                     qos=1).rc, 0x97)
        refused.append(b"again")
        return scid, pub, acked, refused

    def drain(self, scid, acked):
        s = self.raw()
        self.assertTrue(s.connect(scid, version=5, clean=False,
                                  props=PERSIST).session_present)
        got = [p.payload[:5] for p in receive_flows(
            s, want=set(acked), timeout=15, key=lambda p: p.payload[:5])]
        s.ping()
        return s, got

    def test_map_full_quota_exceeded_then_recovers_after_drain(self):
        """store_map_size=1m (the least) and a persistent offline
        subscriber: 64 KiB QoS 1 publishes from a v5 client are acknowledged
        until the map is full, then answered with reason 0x97 (quota
        exceeded); a 3.1.1 publisher is disconnected instead (no PUBACK).
        The broker keeps serving (a new client connects, QoS 0 flows). When
        the subscriber drains its queue (it gets every acknowledged
        message, in order) the space comes back and QoS 1 works again."""
        scid, pub, acked, refused = self.fill()
        note("map full after %d messages of 64 KiB" % len(acked))
        # a 3.1.1 publisher cannot be told: it is disconnected
        p4 = self.raw_connected(version=4)
        p4.send(build_publish("big/m", b"v4" + self.big, 1, pid=5,
                              version=4))
        got = p4.wait_closed()
        self.assertEqual([p for p in got if p.type == PUBACK], [])
        # the broker keeps serving
        self.assertTrue(self.broker.alive())
        live = self.raw_connected(version=4)
        live.subscribe([("live/x", 0)])
        q0 = self.raw_connected(version=5)
        q0.publish("live/x", b"qos0 still flows")
        self.assertEqual(live.expect_publish().payload, b"qos0 still flows")
        # the subscriber drains: every acknowledged message, in order
        s, got = self.drain(scid, acked)
        self.assertEqual([p for p in got if p in set(acked)], acked)
        # space is back. LMDB reuses the pages a commit freed only once a
        # later commit went through, so a small message first, then 64 KiB
        # (a run of contiguous pages); a few tries each
        for size, what in ((100, b"small"), (len(self.big), b"large")):
            for i in range(5):
                tag = b"%s%d" % (what[:4], i)
                ack = pub.publish("big/m", tag + b"y" * size, qos=1)
                if ack.rc == 0:
                    break
                self.assertEqual(ack.rc, 0x97)
            self.assertEqual(ack.rc, 0, "%s QoS 1 still refused after the "
                             "queue drained" % what.decode())
            if i:
                note("%s QoS 1 accepted again at try %d after the drain"
                     % (what.decode(), i + 1))
            got = receive_flows(s, want={tag}, key=lambda p: p.payload[:5])
            self.assertIn(tag, [p.payload[:5] for p in got])
        # and what was acknowledged is stored: nothing is lost by a kill
        pub.publish("big/m", b"kept!" + self.big, qos=1)
        s.disconnect()
        self.restart("kill")
        s, got = self.drain(scid, [b"kept!"])
        self.assertIn(b"kept!", got)

    def test_map_full_large_qos1_accepted_right_after_drain(self):
        """Map full, then the subscriber drains its queue, all its PUBACKs
        in one write (one commit frees every page): the next 64 KiB QoS 1
        publish is accepted (no other write in between)."""
        scid, pub, acked, refused = self.fill()
        s = self.raw()
        self.assertTrue(s.connect(scid, version=5, clean=False,
                                  props=PERSIST).session_present)
        got = receive_flows(s, want=set(acked), ack=False, timeout=15,
                            key=lambda p: p.payload[:5])
        s.send(b"".join(build_ack(PUBACK, p.pid, version=5) for p in got))
        s.ping()
        rcs = [pub.publish("big/m", b"after" + self.big, qos=1).rc
               for _ in range(3)]
        self.assertEqual(rcs, [0, 0, 0], "64 KiB QoS 1 refused after the "
                         "drain")

    def test_map_full_message_refused_with_0x97_not_delivered(self):
        """[MQTT-3.4.2-*] a PUBACK reason code of 0x80 or more means the
        PUBLISH was not accepted: a message refused with 0x97 (map full)
        must not reach the subscriber when it drains its queue (the v5
        publisher may publish it again: it would arrive twice)."""
        scid, pub, acked, refused = self.fill()
        s, got = self.drain(scid, acked)
        self.assertEqual(got, acked, "refused messages delivered: %r"
                         % [p for p in got if p in refused])

    def test_map_full_refused_message_reaches_no_online_subscriber(self):
        """The worker whose commit fails holds the deliveries of that
        commit's messages until then: an online clean subscriber and an
        online persistent one on it get every acknowledged message, in
        order, and none refused with 0x97; a retained message refused with
        0x97 is not kept."""
        live = self.raw_connected(self.sub_id("live", 1), version=5)
        live.subscribe([("big/#", 1)])
        pers = self.raw()
        pers.connect(self.sub_id("livep", 1), version=5, props=PERSIST)
        pers.subscribe([("big/#", 1)])
        scid, pub, acked, refused = self.fill()
        rc = pub.publish("big/r", b"ret!!" + self.big, qos=1,
                         retain=True).rc
        self.assertEqual(rc, 0x97)
        refused.append(b"ret!!")
        for c, who in ((live, "clean"), (pers, "persistent")):
            got = [p.payload[:5] for p in receive_flows(
                c, want=set(acked), timeout=15,
                key=lambda p: p.payload[:5])]
            self.assertEqual(got, acked, "%s subscriber: refused %r" % (
                who, [p for p in got if p in refused]))
        s, got = self.drain(scid, acked)
        self.assertEqual(got, acked)
        self.assertEqual(self.retained("big/r"), {})

    def test_map_full_refused_qos2_packet_id_free_again(self):
        """A QoS 2 PUBLISH refused with PUBREC 0x97 ends its flow: once
        there is room, a new PUBLISH with the same packet id is a new
        message, routed and delivered (not taken for a resend of the
        refused one and dropped)."""
        scid, pub, acked, refused = self.fill()
        pid = 4242
        pub.send(build_publish("big/m", b"q2-1!" + self.big, 2, pid=pid,
                               version=5))
        self.assertEqual(pub.expect_ack(PUBREC, pid).rc, 0x97)
        s, got = self.drain(scid, acked)
        self.assertNotIn(b"q2-1!", got)
        for _ in range(5):  # freed pages come back after a commit
            pub.send(build_publish("big/m", b"q2-2!" + b"y" * 100, 2,
                                   pid=pid, version=5))
            rc = pub.expect_ack(PUBREC, pid).rc
            if rc == 0:
                break
            self.assertEqual(rc, 0x97)
        self.assertEqual(rc, 0, "QoS 2 still refused after the drain")
        pub.send(build_ack(PUBREL, pid, version=5))
        pub.expect_ack(PUBCOMP, pid)
        got = receive_flows(s, want={b"q2-2!"}, key=lambda p: p.payload[:5])
        self.assertEqual([p.payload[:5] for p in got], [b"q2-2!"])


if __name__ == "__main__":
    tern.main()
