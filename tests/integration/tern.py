"""Harness for the ternd integration tests.

Run every test file with /usr/bin/python3 (the Debian interpreter that sees
python3-paho-mqtt). The broker binary comes from the TERND environment variable
(default /work/main/build/ternd).

Pieces:
- Broker: starts ternd on a free port in a temp dir, stops it with SIGTERM and
  checks the exit code and the sanitizer output.
- TernTestCase: a unittest.TestCase that runs one Broker per test and closes
  every client the test opened.
- Paho: a paho-mqtt 1.6.1 client (v3.1, v3.1.1, v5) with bounded waits.
- RawClient: a plain socket speaking hand-built MQTT packets, for exact checks
  and malformed input.
- mosquitto_pub / MosquittoSub: the mosquitto command-line clients.

Every wait is bounded; every process and socket is closed by the cleanups.
"""

import http.client
import re
import urllib.parse
import os
import queue
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

TERND = os.environ.get("TERND", "/work/main/build/ternd")
HOST = "127.0.0.1"
# Default bound for every wait on something that should happen.
TIMEOUT = float(os.environ.get("TERN_TEST_TIMEOUT", "5"))
# How long to watch for something that should NOT happen.
QUIET = float(os.environ.get("TERN_TEST_QUIET", "0.4"))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                     "LeakSanitizer")


def wait_until(cond, timeout=TIMEOUT, interval=0.01):
    """Polls cond() until it is true or timeout passes; returns its last
    value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def read_text(path):
    """The file's text, or "" if it does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def topic_matches(filt, topic):
    """Reference MQTT topic filter matching (no $-rule, no $share)."""
    f, t = filt.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t):
            return False
        if level != "+" and level != t[i]:
            return False
    return len(f) == len(t)


def unique(prefix="t"):
    """A short unique string (client ids, topics)."""
    return "%s%s" % (prefix, uuid.uuid4().hex[:12])


def fnv1a(s):
    h = 2166136261
    for b in s.encode():
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def worker_of(client_id, workers):
    """The worker ternd pins a client id to (node_worker_for)."""
    return fnv1a(client_id) % workers if workers > 1 else 0


def id_on_worker(prefix, worker, workers=2):
    """A fresh client id (prefix + counter) that ternd pins to `worker`."""
    for i in range(10000):
        cid = "%s%s%d" % (prefix, uuid.uuid4().hex[:6], i)
        if worker_of(cid, workers) == worker:
            return cid
    raise AssertionError("no client id found for worker %d" % worker)


# ---------------------------------------------------------------------------
# The broker


def metric(broker, name):
    """The value of one sample of the broker's /metrics (name with its
    labels, e.g. 'tern_messages_dropped_total{reason="expired"}'), or
    None if it is not there."""
    u = urllib.parse.urlsplit(broker.admin_url())
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        text = r.read().decode()
    finally:
        conn.close()
    if r.status != 200:
        raise AssertionError("GET /metrics: %d %s" % (r.status, text))
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


def backtraces(pid):
    """Every thread's stack of a live process, for a hang report (empty
    if gdb is missing or cannot attach)."""
    try:
        out = subprocess.run(
            ["gdb", "-p", str(pid), "-batch", "-nx",
             "-ex", "thread apply all bt"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = out.decode(errors="replace")
    return "\n--- thread backtraces ---\n" + text[-12000:]


class Broker:
    """ternd on a free loopback port, in its own temp dir.

    with Broker(extra_args=["--set", "max_inflight=2"], workers=2) as b:
        b.port, b.host

    data_dir: a directory the caller owns, passed as --data-dir instead of
    one inside the temp dir; it is never removed, so the same Broker (or a
    new one) can start() again on it after stop() or kill() (a restart:
    new temp dir, new port).
    """

    def __init__(self, extra_args=(), workers=2, settings=None,
                 log_level="debug", data_dir=None):
        self.extra_args = list(extra_args)
        self.workers = workers
        self.settings = dict(settings or {})
        self.log_level = log_level
        self.data_dir = data_dir
        self.proc = None
        self.dir = None
        self.host = HOST
        self.port = None
        self.url = None
        self.urls = []   # every bound listener, in --listen order
        self.ports = []
        self.log_text = ""
        self._log_file = None

    # -- lifecycle

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="ternd-test-")
        port_file = os.path.join(self.dir, "port")
        log_path = os.path.join(self.dir, "ternd.log")
        args = [TERND, "--listen", "mqtt://%s:0" % HOST,
                "--port-file", port_file,
                "--data-dir",
                self.data_dir or os.path.join(self.dir, "data"),
                "--log-level", self.log_level,
                "--workers", str(self.workers),
                # any free admin port (several brokers run at once); the
                # settings and extra_args below may override it
                "--admin-listen", "%s:0" % HOST]
        for k, v in self.settings.items():
            args += ["--set", "%s=%s" % (k, v)]
        args += self.extra_args
        self._log_file = open(log_path, "wb")
        env = dict(os.environ)
        # keep sanitizer reports in the log and make leaks fail the run
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=self._log_file,
                                         stderr=subprocess.STDOUT, env=env)
        except OSError:
            self._cleanup_dir()
            raise
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with open(port_file) as f:
                    text = f.read()
            except FileNotFoundError:
                text = ""
            if text.endswith("\n"):
                self.url = text.splitlines()[0].strip()
                self.port = urllib.parse.urlsplit(self.url).port
                self.urls = [u.strip() for u in text.splitlines()
                             if u.strip() and " " not in u.strip()]
                self.ports = [urllib.parse.urlsplit(u).port
                              for u in self.urls]
                return self
            time.sleep(0.01)
        rc = self.proc.poll()
        self._kill()
        self.log_text = self.read_log()
        self._cleanup_dir()
        raise AssertionError("ternd did not start (exit code %r):\n%s"
                             % (rc, self.log_text[-4000:]))

    def admin_url(self, timeout=TIMEOUT):
        """http://HOST:PORT of the admin listener, from the port file line
        "admin URL" that ternd appends once the admin server is up."""
        path = os.path.join(self.dir, "port")

        def find():
            for line in read_text(path).splitlines():
                if line.startswith("admin "):
                    return line.split(" ", 1)[1].strip()
            return None
        url = wait_until(find, timeout)
        if not url:
            raise AssertionError("no admin line in the port file")
        return url

    def read_log(self):
        if not self.dir:
            return self.log_text
        try:
            with open(os.path.join(self.dir, "ternd.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def _cleanup_dir(self):
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def stop(self):
        """SIGTERM, wait up to 10 s, check exit code 0 and no sanitizer
        report. Raises AssertionError on any problem."""
        if self.proc is None:
            return
        problems = []
        rc = self.proc.poll()
        if rc is not None:
            problems.append("ternd died during the test (exit code %d)" % rc)
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                problems.append("ternd did not stop within 10 s of SIGTERM"
                                + backtraces(self.proc.pid))
                self._kill()
                rc = None
            if rc is not None and rc != 0:
                problems.append("ternd exit code %d after SIGTERM" % rc)
        self.log_text = self.read_log()
        for marker in SANITIZER_MARKERS:
            if marker in self.log_text:
                problems.append("sanitizer report in ternd output: %r"
                                % marker)
        self.proc = None
        self._cleanup_dir()
        if problems:
            raise AssertionError("; ".join(problems) + "\n--- ternd log ---\n"
                                 + self.log_text[-6000:])

    def kill(self):
        """SIGKILL (a crash), wait for the exit, check the log for sanitizer
        reports (a SIGKILLed ASan process writes no leak report, so leaks go
        unchecked) and remove the temp dir; data_dir is kept. Raises
        AssertionError on any problem."""
        if self.proc is None:
            return
        problems = []
        rc = self.proc.poll()
        if rc is not None:
            problems.append("ternd died before the kill (exit code %d)" % rc)
        else:
            self.proc.send_signal(signal.SIGKILL)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                problems.append("ternd did not die within 10 s of SIGKILL")
        self.log_text = self.read_log()
        for marker in SANITIZER_MARKERS:
            if marker in self.log_text:
                problems.append("sanitizer report in ternd output: %r"
                                % marker)
        self.proc = None
        self._cleanup_dir()
        if problems:
            raise AssertionError("; ".join(problems) + "\n--- ternd log ---\n"
                                 + self.log_text[-6000:])

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            try:
                self.stop()
            except AssertionError as e:
                sys.stderr.write("%s\n" % e)
        return False


# ---------------------------------------------------------------------------
# Test case base


def slow(fn):
    """Marks a test that mostly waits (delays, expiry): it runs only in the
    classes that keep run_slow True (the workers=2 variants)."""
    fn._tern_slow = True
    return fn


class TernTestCase(unittest.TestCase):
    """One fresh broker per test. Subclasses set `workers` and `settings`;
    run_slow = False skips the tests marked @slow."""

    workers = 2
    settings = {}
    extra_args = ()
    run_slow = True

    def setUp(self):
        method = getattr(self, self._testMethodName)
        if getattr(method, "_tern_slow", False) and not self.run_slow:
            self.skipTest("slow; runs in the workers=%d variant" % 2)
        self.broker = Broker(self.extra_args, workers=self.workers,
                             settings=self.settings)
        self.broker.start()
        # cleanups run last-in first-out: clients close before the broker
        self.addCleanup(self.broker.stop)

    def restart_broker(self, settings=None, workers=None):
        """Replaces this test's broker by one with other settings."""
        self.broker.stop()
        self.broker = Broker(self.extra_args, workers=workers or self.workers,
                             settings=settings if settings is not None
                             else self.settings)
        self.broker.start()
        self.addCleanup(self.broker.stop)
        return self.broker

    def run(self, result=None):
        # print the broker log of a failing test (not of expected failures)
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        after = len(result.failures) + len(result.errors)
        broker = getattr(self, "broker", None)
        if after > before and broker is not None and broker.log_text and \
                os.environ.get("TERN_TEST_QUIET_LOG") != "1":
            sys.stderr.write("\n--- ternd log of %s (last 60 lines) ---\n%s\n"
                             % (self.id(), "\n".join(
                                 broker.log_text.splitlines()[-60:])))
        return out

    # -- client factories (closed automatically)

    def paho(self, client_id=None, version=5, **kw):
        c = Paho(self.broker, client_id if client_id is not None
                 else unique("p"), version=version, **kw)
        self.addCleanup(c.close)
        return c

    def paho_connected(self, client_id=None, version=5, **kw):
        """A connected paho client (connect kwargs: clean, properties,
        keepalive, will)."""
        ckw = {k: kw.pop(k) for k in ("clean", "properties", "keepalive",
                                      "will") if k in kw}
        c = self.paho(client_id, version, **kw)
        c.connect(**ckw)
        return c

    def raw(self, **kw):
        c = RawClient(self.broker.host, self.broker.port, **kw)
        self.addCleanup(c.close)
        return c

    def raw_connected(self, client_id=None, version=5, **kw):
        c = self.raw()
        c.connect(client_id if client_id is not None else unique("r"),
                  version=version, **kw)
        return c

    def mosquitto_sub(self, topics, **kw):
        s = MosquittoSub(self.broker, topics, **kw)
        self.addCleanup(s.stop)
        return s

    def mosquitto_pub(self, *args, **kw):
        return mosquitto_pub(self.broker, *args, **kw)

    # -- checks

    def metric(self, name):
        """One sample of the broker's /metrics (see metric()), or None."""
        return metric(self.broker, name)

    def wait_log_re(self, pattern, timeout=TIMEOUT):
        """Waits for a line of the ternd log matching pattern; returns the
        match."""
        rx = re.compile(pattern, re.M)
        m = wait_until(lambda: rx.search(self.broker.read_log()), timeout)
        self.assertTrue(m, "%r not in the ternd log:\n%s" % (
            pattern, self.broker.read_log()[-3000:]))
        return m

    def assert_broker_serves(self, version=5):
        """The broker is alive: a fresh client connects, subscribes and gets
        its own publish back."""
        self.assertTrue(self.broker.alive(), "ternd died")
        c = RawClient(self.broker.host, self.broker.port)
        try:
            c.connect(unique("alive"), version=version)
            topic = unique("alive/")
            c.subscribe([(topic, 1)])
            c.publish(topic, b"ping", qos=1, pid=7)
            got = c.expect_publish()
            self.assertEqual((got.topic, got.payload), (topic, b"ping"))
            c.disconnect()
        finally:
            c.close()


# ---------------------------------------------------------------------------
# Paho clients


class SharedBrokerCase(TernTestCase):
    """One broker for every test of the class, for settings that do not
    change between its tests (slow set-ups: password hashes, keys, an
    LDAP server). class_settings(tmp) writes the class's files into a temp
    dir and returns the settings. Tests use their own client ids and
    topics; the broker is stopped, and its exit and sanitizer output
    checked, after the last test of the class."""

    tmp_prefix = "tern-shared-"

    @classmethod
    def class_settings(cls, tmp):
        return dict(cls.settings)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix=cls.tmp_prefix)
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.settings = cls.class_settings(cls.tmp)
        cls.shared = Broker(cls.extra_args, workers=cls.workers,
                            settings=cls.settings)
        cls.shared.start()
        cls.addClassCleanup(cls.shared.stop)

    def setUp(self):
        self.broker = self.shared
        self.assertTrue(self.broker.alive(), "ternd died in an earlier test")

    def tearDown(self):
        # TernTestCase.run prints log_text of a failing test
        self.broker.log_text = self.broker.read_log()


class PahoMessage:
    """A received message, copied out of paho's object."""

    def __init__(self, m):
        self.topic = m.topic
        self.payload = m.payload
        self.qos = m.qos
        self.retain = bool(m.retain)
        self.dup = bool(m.dup)
        self.mid = m.mid
        self.properties = getattr(m, "properties", None)

    def prop(self, name, default=None):
        if self.properties is None:
            return default
        return getattr(self.properties, name, default)

    def __repr__(self):
        return "PahoMessage(%r, %r, qos=%d, retain=%r)" % (
            self.topic, self.payload[:40], self.qos, self.retain)


class Paho:
    """paho-mqtt client with bounded, synchronous-looking calls."""

    PROTOCOLS = {3: mqtt.MQTTv31, 4: mqtt.MQTTv311, 5: mqtt.MQTTv5}

    def __init__(self, broker, client_id, version=5, clean=True):
        self.broker = broker
        self.client_id = client_id
        self.version = version
        self.clean = clean
        if version == 5:
            self.c = mqtt.Client(client_id=client_id,
                                 protocol=mqtt.MQTTv5,
                                 reconnect_on_failure=False)
        else:
            self.c = mqtt.Client(client_id=client_id, clean_session=clean,
                                 protocol=self.PROTOCOLS[version],
                                 reconnect_on_failure=False)
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connack = None
        self.disconnect_rc = None
        self.disconnect_props = None
        self._lock = threading.Lock()
        self._subacks = {}
        self._unsubacks = {}
        self._loop = False
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_disconnect = self._on_disconnect

    # -- callbacks (paho network thread)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.connack = (flags, rc, properties)
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        self.messages.put(PahoMessage(msg))

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self._lock:
            self._subacks[mid] = granted

    def _on_unsubscribe(self, client, userdata, mid, *args):
        with self._lock:
            self._unsubacks[mid] = args

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.disconnect_rc = rc
        self.disconnect_props = properties
        self.disconnected.set()

    # -- calls

    def connect(self, clean=None, properties=None, keepalive=60, will=None,
                timeout=TIMEOUT, expect_success=True):
        """Connects and waits for CONNACK. will = dict(topic, payload, qos,
        retain, properties). Returns (flags, rc, properties)."""
        if will:
            self.c.will_set(will["topic"], will.get("payload"),
                            will.get("qos", 0), will.get("retain", False),
                            will.get("properties"))
        self.connected.clear()
        self.disconnected.clear()
        kw = {}
        if self.version == 5:
            kw["clean_start"] = self.clean if clean is None else clean
            kw["properties"] = properties
        self.c.connect(self.broker.host, self.broker.port, keepalive, **kw)
        if not self._loop:
            self.c.loop_start()
            self._loop = True
        if not self.connected.wait(timeout):
            raise AssertionError("%s: no CONNACK within %.1f s"
                                 % (self.client_id, timeout))
        flags, rc, props = self.connack
        if expect_success and rc != 0:
            raise AssertionError("%s: CONNACK %s" % (self.client_id, rc))
        return self.connack

    @property
    def session_present(self):
        return bool(self.connack[0].get("session present"))

    def subscribe(self, topic, qos=0, no_local=False,
                  retain_as_published=False,
                  retain_handling=0, sub_id=None, timeout=TIMEOUT):
        """Subscribes (topic may be a list of (filter, qos)) and waits for
        SUBACK. Returns the granted QoS / reason codes list."""
        props = None
        if self.version == 5:
            if sub_id is not None:
                props = Properties(PacketTypes.SUBSCRIBE)
                props.SubscriptionIdentifier = sub_id
            if isinstance(topic, list):
                topic = [(t, SubscribeOptions(
                    qos=q, noLocal=no_local,
                    retainAsPublished=retain_as_published,
                    retainHandling=retain_handling)) for t, q in topic]
                rc, mid = self.c.subscribe(topic, properties=props)
            else:
                rc, mid = self.c.subscribe(topic, options=SubscribeOptions(
                    qos=qos, noLocal=no_local,
                    retainAsPublished=retain_as_published,
                    retainHandling=retain_handling), properties=props)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError("subscribe failed locally: %d" % rc)
        if not wait_until(lambda: mid in self._subacks, timeout):
            raise AssertionError("%s: no SUBACK within %.1f s"
                                 % (self.client_id, timeout))
        granted = self._subacks[mid]
        if self.version == 5:
            return [g.value for g in granted]
        return list(granted)

    def unsubscribe(self, topic, timeout=TIMEOUT):
        rc, mid = self.c.unsubscribe(topic)
        if not wait_until(lambda: mid in self._unsubacks, timeout):
            raise AssertionError("%s: no UNSUBACK within %.1f s"
                                 % (self.client_id, timeout))

    def publish(self, topic, payload=b"", qos=0, retain=False,
                properties=None, wait=True, timeout=TIMEOUT):
        """Publishes; for QoS>0 waits for the PUBACK/PUBCOMP."""
        info = self.c.publish(topic, payload, qos, retain,
                              properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError("publish failed locally: %d" % info.rc)
        if wait:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise AssertionError("%s: publish to %s not acknowledged "
                                     "within %.1f s" % (self.client_id,
                                                        topic, timeout))
        return info

    def get(self, timeout=TIMEOUT):
        """The next message; fails after timeout."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("%s: no message within %.1f s"
                                 % (self.client_id, timeout)) from None

    def collect(self, n, timeout=TIMEOUT):
        """Up to n messages, waiting at most timeout for all of them."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return out

    def drain(self, wait=QUIET):
        """Every message arriving within `wait` seconds."""
        out = []
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                return out

    def assert_no_message(self, wait=QUIET):
        got = self.drain(wait)
        if got:
            raise AssertionError("%s: unexpected messages %r"
                                 % (self.client_id, got))

    def disconnect(self, reasoncode=None, properties=None, timeout=TIMEOUT):
        if self.version == 5 and reasoncode is not None:
            from paho.mqtt.reasoncodes import ReasonCodes
            rc = ReasonCodes(PacketTypes.DISCONNECT, identifier=reasoncode)
            self.c.disconnect(reasoncode=rc, properties=properties)
        else:
            self.c.disconnect(properties=properties)
        self.disconnected.wait(timeout)
        self._stop_loop()

    def _stop_loop(self):
        if self._loop:
            self.c.loop_stop()
            self._loop = False

    def close(self):
        """Cleanup: a normal DISCONNECT if still connected, then stops the
        network thread and closes the socket."""
        try:
            if self._loop:
                if self.c.is_connected():
                    try:
                        self.c.disconnect()
                    except Exception:
                        pass
                    self.disconnected.wait(1)
                self.c.loop_stop()
                self._loop = False
        finally:
            sock = self.c.socket()
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass

    def kill(self):
        """Abnormal close: the TCP connection is reset, no DISCONNECT."""
        sock = self.c.socket()
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.disconnected.wait(2)
        self._stop_loop()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def v5_props(packet_type=PacketTypes.PUBLISH, **kw):
    """paho Properties, e.g. v5_props(MessageExpiryInterval=10)."""
    p = Properties(packet_type)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


# ---------------------------------------------------------------------------
# Raw packets

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
PUBREC, PUBREL, PUBCOMP = 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT, AUTH = 12, 13, 14, 15
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK",
                5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE",
                9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
                12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

# property ids
PAYLOAD_FORMAT = 0x01
MESSAGE_EXPIRY = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_ID = 0x0B
SESSION_EXPIRY = 0x11
ASSIGNED_CLIENT_ID = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTH_METHOD = 0x15
AUTH_DATA = 0x16
REQUEST_PROBLEM_INFO = 0x17
WILL_DELAY = 0x18
REQUEST_RESPONSE_INFO = 0x19
RESPONSE_INFO = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUB_AVAILABLE = 0x28
SUB_ID_AVAILABLE = 0x29
SHARED_SUB_AVAILABLE = 0x2A

# property id -> value type
PROP_TYPES = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin",
    0x0B: "varint", 0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str",
    0x16: "bin", 0x17: "byte", 0x18: "u32", 0x19: "byte", 0x1A: "str",
    0x1C: "str", 0x1F: "str", 0x21: "u16", 0x22: "u16", 0x23: "u16",
    0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32", 0x28: "byte",
    0x29: "byte", 0x2A: "byte",
}


def varint(n):
    """MQTT Variable Byte Integer."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


encode_remaining_length = varint


def mqtt_str(s):
    if isinstance(s, str):
        s = s.encode("utf-8")
    return struct.pack("!H", len(s)) + s


def mqtt_bin(b):
    return struct.pack("!H", len(b)) + bytes(b)


def encode_prop(pid, value):
    t = PROP_TYPES[pid]
    out = varint(pid)
    if t == "byte":
        return out + struct.pack("!B", value)
    if t == "u16":
        return out + struct.pack("!H", value)
    if t == "u32":
        return out + struct.pack("!I", value)
    if t == "varint":
        return out + varint(value)
    if t == "str":
        return out + mqtt_str(value)
    if t == "bin":
        return out + mqtt_bin(value)
    if t == "pair":
        return out + mqtt_str(value[0]) + mqtt_str(value[1])
    raise ValueError(pid)


def encode_props(props):
    """props: list of (id, value) (or a dict); returns length-prefixed
    property bytes."""
    if props is None:
        props = []
    if isinstance(props, dict):
        props = list(props.items())
    body = b"".join(encode_prop(p, v) for p, v in props)
    return varint(len(body)) + body


def packet(ptype, flags, body):
    """Fixed header + body."""
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


def build_connect(client_id, version=4, clean=True, keepalive=60,
                  props=None, will=None, username=None, password=None,
                  flags_extra=0, protocol_name=None):
    """CONNECT for version 3 (MQIsdp), 4 (3.1.1) or 5.

    will = dict(topic, payload, qos, retain, props)."""
    if protocol_name is None:
        protocol_name = "MQIsdp" if version == 3 else "MQTT"
    flags = flags_extra
    if clean:
        flags |= 0x02
    if will:
        flags |= 0x04 | (will.get("qos", 0) << 3)
        if will.get("retain"):
            flags |= 0x20
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    vh = mqtt_str(protocol_name) + bytes([version, flags]) + \
        struct.pack("!H", keepalive)
    if version == 5:
        vh += encode_props(props)
    pl = mqtt_str(client_id)
    if will:
        if version == 5:
            pl += encode_props(will.get("props"))
        pl += mqtt_str(will["topic"]) + mqtt_bin(will.get("payload", b""))
    if username is not None:
        pl += mqtt_str(username)
    if password is not None:
        pl += mqtt_bin(password)
    return packet(CONNECT, 0, vh + pl)


def build_publish(topic, payload=b"", qos=0, retain=False, dup=False,
                  pid=None, props=None, version=4):
    flags = (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = mqtt_str(topic)
    if qos:
        body += struct.pack("!H", pid if pid is not None else 1)
    if version == 5:
        body += encode_props(props)
    if isinstance(payload, str):
        payload = payload.encode()
    return packet(PUBLISH, flags, body + payload)


def build_subscribe(pid, topics, props=None, version=4, flags=0x02):
    """topics: list of (filter, options byte) where options is the QoS for
    v3 or the full v5 options byte (qos | nl<<2 | rap<<3 | rh<<4)."""
    body = struct.pack("!H", pid)
    if version == 5:
        body += encode_props(props)
    for f, opts in topics:
        body += mqtt_str(f) + bytes([opts])
    return packet(SUBSCRIBE, flags, body)


def sub_opts(qos=0, no_local=False, rap=False, rh=0):
    return qos | (0x04 if no_local else 0) | (0x08 if rap else 0) | (rh << 4)


def build_unsubscribe(pid, topics, props=None, version=4):
    body = struct.pack("!H", pid)
    if version == 5:
        body += encode_props(props)
    for f in topics:
        body += mqtt_str(f)
    return packet(UNSUBSCRIBE, 0x02, body)


def build_ack(ptype, pid, rc=None, props=None, version=4):
    """PUBACK/PUBREC/PUBREL/PUBCOMP."""
    body = struct.pack("!H", pid)
    if version == 5 and (rc is not None or props):
        body += bytes([rc or 0])
        if props:
            body += encode_props(props)
    return packet(ptype, 0x02 if ptype == PUBREL else 0, body)


def build_disconnect(rc=None, props=None, version=4):
    body = b""
    if version == 5 and (rc is not None or props):
        body = bytes([rc or 0])
        if props:
            body += encode_props(props)
    return packet(DISCONNECT, 0, body)


def build_auth(reason, method=None, data=None, props=None):
    """MQTT 5 AUTH (3.15): reason code, the Authentication Method and Data
    properties (when given) and any further properties."""
    p = list(props or [])
    if method is not None:
        p.append((AUTH_METHOD, method))
    if data is not None:
        p.append((AUTH_DATA, data.encode() if isinstance(data, str)
                  else bytes(data)))
    return packet(AUTH, 0, bytes([reason]) + encode_props(p))


class Reader:
    def __init__(self, data):
        self.d = data
        self.i = 0

    def left(self):
        return len(self.d) - self.i

    def byte(self):
        v = self.d[self.i]
        self.i += 1
        return v

    def u16(self):
        v = struct.unpack_from("!H", self.d, self.i)[0]
        self.i += 2
        return v

    def u32(self):
        v = struct.unpack_from("!I", self.d, self.i)[0]
        self.i += 4
        return v

    def varint(self):
        mult, v = 1, 0
        for _ in range(4):
            b = self.byte()
            v += (b & 0x7F) * mult
            if not b & 0x80:
                return v
            mult *= 128
        raise ValueError("varint longer than 4 bytes")

    def bin(self):
        n = self.u16()
        v = self.d[self.i:self.i + n]
        if len(v) != n:
            raise ValueError("truncated")
        self.i += n
        return bytes(v)

    def str(self):
        return self.bin().decode("utf-8")

    def rest(self):
        v = self.d[self.i:]
        self.i = len(self.d)
        return bytes(v)

    def props(self):
        n = self.varint()
        end = self.i + n
        out = Props()
        while self.i < end:
            pid = self.varint()
            t = PROP_TYPES.get(pid)
            if t == "byte":
                v = self.byte()
            elif t == "u16":
                v = self.u16()
            elif t == "u32":
                v = self.u32()
            elif t == "varint":
                v = self.varint()
            elif t == "str":
                v = self.str()
            elif t == "bin":
                v = self.bin()
            elif t == "pair":
                v = (self.str(), self.str())
            else:
                raise ValueError("unknown property 0x%02x" % pid)
            out.append((pid, v))
        if self.i != end:
            raise ValueError("property length mismatch")
        return out


class Props(list):
    """Decoded properties: list of (id, value), in wire order."""

    def get(self, pid, default=None):
        for p, v in self:
            if p == pid:
                return v
        return default

    def all(self, pid):
        return [v for p, v in self if p == pid]

    def has(self, pid):
        return any(p == pid for p, _ in self)


class Packet:
    """One received packet, decoded by type."""

    def __init__(self, first, body, version):
        self.type = first >> 4
        self.flags = first & 0x0F
        self.body = body
        self.size = None  # bytes on the wire, set by the reader
        self.props = Props()
        r = Reader(body)
        t = self.type
        if t == CONNACK:
            self.session_present = bool(r.byte() & 1)
            self.rc = r.byte()
            if version == 5 and r.left():
                self.props = r.props()
        elif t == PUBLISH:
            self.dup = bool(self.flags & 0x08)
            self.qos = (self.flags >> 1) & 3
            self.retain = bool(self.flags & 1)
            self.topic = r.str()
            self.pid = r.u16() if self.qos else None
            if version == 5:
                self.props = r.props()
            self.payload = r.rest()
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.pid = r.u16()
            self.rc = r.byte() if r.left() else 0
            if version == 5 and r.left():
                self.props = r.props()
        elif t in (SUBACK, UNSUBACK):
            self.pid = r.u16()
            if version == 5:
                self.props = r.props()
            self.codes = list(r.rest())
        elif t in (DISCONNECT, AUTH):
            self.rc = r.byte() if r.left() else 0
            if r.left():
                self.props = r.props()

    @property
    def name(self):
        return PACKET_NAMES.get(self.type, str(self.type))

    def __repr__(self):
        extra = ""
        if self.type == PUBLISH:
            extra = " %r qos=%d pid=%r dup=%d retain=%d props=%r len=%d" % (
                self.topic, self.qos, self.pid, self.dup, self.retain,
                list(self.props), len(self.payload))
        elif hasattr(self, "rc"):
            extra = " rc=0x%02x" % self.rc
            if self.props:
                extra += " props=%r" % list(self.props)
        elif hasattr(self, "codes"):
            extra = " pid=%d codes=%r" % (self.pid, self.codes)
        return "<%s%s>" % (self.name, extra)


class ConnectionClosed(Exception):
    pass


class RawClient:
    """A TCP connection speaking hand-built MQTT."""

    def __init__(self, host, port, timeout=TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pending = []  # packets read while waiting for another one
        self.version = 4
        self.closed = False
        self.next_pid = 1

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def abort(self):
        """Closes with a TCP RST (abnormal close)."""
        if self.sock is not None:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_quiet(self, data):
        """send, ignoring errors from a connection the server closed."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            raise ConnectionClosed()
        self.buf += data

    def recv_packet(self, timeout=TIMEOUT):
        """One packet; raises socket.timeout or ConnectionClosed."""
        if self.pending:
            return self.pending.pop(0)
        return self._recv_wire(timeout)

    def _recv_wire(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            # try to parse a packet from buf
            if len(self.buf) >= 2:
                mult, n, i = 1, 0, 1
                complete = False
                while i < len(self.buf) and i <= 4:
                    b = self.buf[i]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        complete = True
                        break
                if complete and len(self.buf) >= i + n:
                    first, body = self.buf[0], self.buf[i:i + n]
                    self.buf = self.buf[i + n:]
                    p = Packet(first, body, self.version)
                    p.size = i + n
                    return p
            self._fill(deadline)

    def expect(self, ptype, timeout=TIMEOUT):
        """The next packet, which must be of type ptype."""
        try:
            p = self.recv_packet(timeout)
        except socket.timeout:
            raise AssertionError("no %s within %.1f s" % (
                PACKET_NAMES[ptype], timeout)) from None
        except ConnectionClosed:
            raise AssertionError("connection closed while waiting for %s"
                                 % PACKET_NAMES[ptype]) from None
        if p.type != ptype:
            raise AssertionError("expected %s, got %r"
                                 % (PACKET_NAMES[ptype], p))
        return p

    def expect_ack(self, ptype, pid, timeout=TIMEOUT):
        """Waits for the packet of type ptype with packet id pid; packets of
        other kinds that arrive first (e.g. PUBLISH) are kept for later
        recv_packet calls."""
        deadline = time.monotonic() + timeout
        stash = []
        try:
            while True:
                try:
                    p = self._recv_wire(max(0.0, deadline - time.monotonic()))
                except socket.timeout:
                    raise AssertionError("no %s for packet id %d within "
                                         "%.1f s (got %r)" % (
                                             PACKET_NAMES[ptype], pid,
                                             timeout, stash)) from None
                except ConnectionClosed:
                    raise AssertionError("connection closed while waiting "
                                         "for %s (got %r)" % (
                                             PACKET_NAMES[ptype],
                                             stash)) from None
                if p.type == ptype and getattr(p, "pid", None) == pid:
                    return p
                if p.type in (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP,
                              SUBACK, UNSUBACK, DISCONNECT) and \
                        p.type == ptype:
                    raise AssertionError("%s for packet id %r, expected %d"
                                         % (p.name, getattr(p, "pid", None),
                                            pid))
                if p.type == DISCONNECT:
                    raise AssertionError("DISCONNECT while waiting for %s: "
                                         "%r" % (PACKET_NAMES[ptype], p))
                stash.append(p)
        finally:
            self.pending.extend(stash)

    def expect_publish(self, timeout=TIMEOUT, ack=True):
        """The next PUBLISH; acknowledges QoS 1 (PUBACK) and QoS 2
        (PUBREC/PUBREL/PUBCOMP) when ack is true."""
        p = self.expect(PUBLISH, timeout)
        if ack:
            self.ack(p)
        return p

    def ack(self, p, timeout=TIMEOUT):
        if p.qos == 1:
            self.send(build_ack(PUBACK, p.pid, version=self.version))
        elif p.qos == 2:
            self.send(build_ack(PUBREC, p.pid, version=self.version))
            self.expect_ack(PUBREL, p.pid, timeout)
            self.send(build_ack(PUBCOMP, p.pid, version=self.version))

    def publishes(self, n, timeout=TIMEOUT, ack=True):
        """n PUBLISH packets (fails on any other packet or on timeout)."""
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            out.append(self.expect_publish(
                max(0.01, deadline - time.monotonic()), ack=ack))
        return out

    def packets(self, wait=QUIET):
        """Every packet arriving within `wait` seconds (stops at close)."""
        out = []
        deadline = time.monotonic() + wait
        while True:
            try:
                out.append(self.recv_packet(max(0.0, deadline
                                                 - time.monotonic())))
            except (socket.timeout, ConnectionClosed):
                return out

    def assert_nothing(self, wait=QUIET):
        got = self.packets(wait)
        if got:
            raise AssertionError("unexpected packets %r" % got)

    def wait_closed(self, timeout=TIMEOUT):
        """Waits until the server closes the connection; returns the packets
        that came before the close. Fails if still open after timeout."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                out.append(self.recv_packet(max(0.0, deadline
                                                 - time.monotonic())))
            except ConnectionClosed:
                return out
            except socket.timeout:
                raise AssertionError("connection still open after %.1f s "
                                     "(got %r)" % (timeout, out)) from None

    def is_open(self, wait=QUIET):
        """True if the connection stays open for `wait` (packets that arrive
        meanwhile are dropped)."""
        try:
            self.packets(wait)
        except ConnectionClosed:
            return False
        return not self.closed

    # -- client side of the protocol

    def connect(self, client_id, version=4, clean=True, keepalive=60,
                props=None, will=None, username=None, password=None,
                expect_rc=0, timeout=TIMEOUT):
        """Sends CONNECT and reads CONNACK; checks its return code."""
        self.version = version
        self.send(build_connect(client_id, version, clean, keepalive, props,
                                will, username, password))
        ack = self.expect(CONNACK, timeout)
        if expect_rc is not None and ack.rc != expect_rc:
            raise AssertionError("CONNACK rc 0x%02x, expected 0x%02x"
                                 % (ack.rc, expect_rc))
        self.connack = ack
        return ack

    def pid(self):
        p = self.next_pid
        self.next_pid = self.next_pid % 65535 + 1
        return p

    def subscribe(self, topics, props=None, pid=None, timeout=TIMEOUT):
        """topics: list of (filter, options). Returns the SUBACK codes."""
        pid = pid or self.pid()
        self.send(build_subscribe(pid, topics, props, self.version))
        return self.expect_ack(SUBACK, pid, timeout).codes

    def unsubscribe(self, topics, pid=None, timeout=TIMEOUT):
        pid = pid or self.pid()
        self.send(build_unsubscribe(pid, topics, version=self.version))
        return self.expect_ack(UNSUBACK, pid, timeout).codes

    def publish(self, topic, payload=b"", qos=0, retain=False, dup=False,
                pid=None, props=None, wait_ack=True, timeout=TIMEOUT):
        """Publishes; for QoS 1/2 completes the flow when wait_ack (returns
        the PUBACK or PUBCOMP)."""
        if qos and pid is None:
            pid = self.pid()
        self.send(build_publish(topic, payload, qos, retain, dup, pid, props,
                                self.version))
        if not qos or not wait_ack:
            return None
        if qos == 1:
            return self.expect_ack(PUBACK, pid, timeout)
        rec = self.expect_ack(PUBREC, pid, timeout)
        if rec.rc >= 0x80:
            return rec
        self.send(build_ack(PUBREL, pid, version=self.version))
        return self.expect_ack(PUBCOMP, pid, timeout)

    def ping(self, timeout=TIMEOUT):
        """PINGREQ; waits for the PINGRESP (PUBLISHes that come first are
        kept for later)."""
        self.send(packet(PINGREQ, 0, b""))
        deadline = time.monotonic() + timeout
        stash = []
        try:
            while True:
                p = self.expect_any(max(0.0, deadline - time.monotonic()))
                if p.type == PINGRESP:
                    return p
                if p.type != PUBLISH:
                    raise AssertionError("expected PINGRESP, got %r" % p)
                stash.append(p)
        finally:
            self.pending.extend(stash)

    def expect_any(self, timeout=TIMEOUT):
        try:
            return self._recv_wire(timeout)
        except socket.timeout:
            raise AssertionError("no packet within %.1f s" % timeout) \
                from None
        except ConnectionClosed:
            raise AssertionError("connection closed") from None

    def disconnect(self, rc=None, props=None):
        self.send_quiet(build_disconnect(rc, props, self.version))
        self.close()


# ---------------------------------------------------------------------------
# mosquitto command-line clients


def _mosq_common(broker, version):
    v = {3: "mqttv31", 4: "mqttv311", 5: "mqttv5"}[version]
    return ["-h", broker.host, "-p", str(broker.port), "-V", v]


def mosquitto_pub(broker, topic, message=None, qos=0, retain=False,
                  version=4, client_id=None, args=(), payload_file=None,
                  timeout=10):
    """Runs mosquitto_pub once; fails on a non-zero exit code."""
    cmd = ["mosquitto_pub"] + _mosq_common(broker, version) + \
        ["-t", topic, "-q", str(qos)]
    if client_id:
        cmd += ["-i", client_id]
    if retain:
        cmd.append("-r")
    if payload_file is not None:
        cmd += ["-f", payload_file]
    elif message is None:
        cmd.append("-n")
    else:
        cmd += ["-m", message]
    cmd += list(args)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("%s -> exit %d: %s" % (
            " ".join(cmd), r.returncode, r.stderr.decode(errors="replace")))
    return r


class MosquittoSub:
    """mosquitto_sub in the background. Each line of output is
    'topic<TAB>qos<TAB>retain<TAB>payload-hex'.

    ready() publishes on a private sync topic until mosquitto_sub shows it,
    which proves its subscriptions are in place."""

    def __init__(self, broker, topics, qos=0, version=4, client_id=None,
                 args=(), timeout_s=30):
        self.broker = broker
        self.sync_topic = unique("sync/")
        if isinstance(topics, str):
            topics = [topics]
        cmd = ["mosquitto_sub"] + _mosq_common(broker, version) + \
            ["-q", str(qos), "-W", str(timeout_s),
             "-F", "%t\t%q\t%r\t%x"]
        for t in list(topics) + [self.sync_topic]:
            cmd += ["-t", t]
        if client_id:
            cmd += ["-i", client_id]
        cmd += list(args)
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.synced = threading.Event()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            parts = line.split("\t")
            if len(parts) != 4:
                continue
            topic, qos, retain, hexp = parts
            if topic == self.sync_topic:
                self.synced.set()
                continue
            self.lines.put((topic, int(qos), retain == "1",
                            bytes.fromhex(hexp)))

    def ready(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        c = RawClient(self.broker.host, self.broker.port)
        try:
            c.connect(unique("sync"), version=4)
            while not self.synced.is_set():
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError("mosquitto_sub not ready: %s"
                                         % " ".join(self.cmd))
                c.publish(self.sync_topic, b"sync")
                self.synced.wait(0.1)
        finally:
            c.close()
        return self

    def messages(self, n, timeout=TIMEOUT):
        """Up to n (topic, qos, retain, payload) tuples."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                out.append(self.lines.get(timeout=left))
            except queue.Empty:
                break
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._t.join(5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


def main():
    """unittest.main with verbose output; exit code non-zero on failure."""
    unittest.main(verbosity=2)
