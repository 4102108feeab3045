"""tern-bench smoke test: every scenario for about 2 s against ternd.

Checks that tern-bench runs, that its final key=value line parses and that
QoS 1/2 runs lose and duplicate nothing; it makes no claim about speed.
Rates are fixed and small so that the check is about correctness, not about
how a broker copes with overload. tern-bench is the binary next to $TERND.
"""

import os
import socket
import subprocess
import time
import unittest

import tern
from tern import Broker

BENCH = os.environ.get("TERN_BENCH", os.path.join(
    os.path.dirname(os.path.abspath(tern.TERND)), "tern-bench"))

# keys every final line has
KEYS = ("scenario", "mqtt_version", "qos", "clients", "sent", "received",
        "expected", "lost", "dup", "msgs_per_s", "pub_msgs_per_s", "p50_us",
        "p90_us", "p99_us", "max_us", "connects_per_s", "drain_end",
        "broker_cpu_pct", "broker_rss_kb")


def parse_final(stdout):
    """The last line of stdout as a dict; fails if it is not key=value."""
    lines = stdout.strip().splitlines()
    if not lines:
        raise AssertionError("tern-bench printed nothing on stdout")
    out = {}
    for kv in lines[-1].split():
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise AssertionError("not key=value: %r in %r" % (kv, lines[-1]))
        out[k] = v
    return out


class BenchTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(BENCH, os.X_OK):
            raise AssertionError("tern-bench not built: %s" % BENCH)

    def setUp(self):
        self.broker = Broker(log_level="info", settings={"sys_interval": 0})
        self.broker.start()
        self.addCleanup(self.broker.stop)

    def bench(self, *args, expect_rc=0, timeout=60):
        cmd = [BENCH, "-p", str(self.broker.port), "-d", "1", "-w", "0.3",
               "--drain", "10", "--pid", str(self.broker.proc.pid),
               "--id-prefix", tern.unique("tb")] + [str(a) for a in args]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        out, err = r.stdout.decode(), r.stderr.decode()
        if r.returncode != expect_rc:
            raise AssertionError("%s -> exit %d (expected %d)\nstdout: %s\n"
                                 "stderr: %s" % (" ".join(cmd), r.returncode,
                                                 expect_rc, out, err[-3000:]))
        for marker in tern.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)
        return parse_final(out), err

    def check(self, res, scenario, qos):
        for k in KEYS:
            self.assertIn(k, res)
        self.assertEqual(res["scenario"], scenario)
        self.assertEqual(int(res["qos"]), qos)
        for k in ("sent", "received", "expected", "lost", "dup"):
            self.assertGreaterEqual(int(res[k]), 0, k)
        for k in ("msgs_per_s", "p50_us", "p90_us", "p99_us", "max_us",
                  "broker_cpu_pct"):
            float(res[k])  # a number, not "na": the broker pid was given
        self.assertGreater(int(res["broker_rss_kb"]), 0)
        self.assertLessEqual(float(res["p50_us"]), float(res["p99_us"]))
        self.assertLessEqual(float(res["p99_us"]), float(res["max_us"]))
        if scenario != "connections":
            self.assertGreater(int(res["received"]), 0)
        if qos > 0:
            self.assertEqual(int(res["lost"]), 0, res)
            self.assertEqual(int(res["dup"]), 0, res)
            self.assertEqual(res["drain_end"], "complete")

    def test_fanin_qos0(self):
        res, _ = self.bench("fanin", "-c", 3, "-q", 0, "-r", 600)
        self.check(res, "fanin", 0)
        self.assertEqual(int(res["publishers"]), 3)

    def test_fanin_qos1_v5(self):
        res, _ = self.bench("fanin", "-c", 3, "-q", 1, "-r", 600, "-V", 5,
                            "-m", 100)
        self.check(res, "fanin", 1)
        self.assertEqual(int(res["mqtt_version"]), 5)
        self.assertEqual(int(res["expected"]), int(res["sent"]))

    def test_fanout_qos2(self):
        res, _ = self.bench("fanout", "-c", 4, "-q", 2, "-r", 100)
        self.check(res, "fanout", 2)
        # every message reaches the 4 subscribers
        self.assertEqual(int(res["expected"]), 4 * int(res["sent"]))

    def test_pairs_qos1_two_threads(self):
        res, _ = self.bench("pairs", "-c", 4, "-q", 1, "-r", 400, "-t", 2,
                            "-i", 4)
        self.check(res, "pairs", 1)

    def test_pairs_qos2_unlimited_small_window(self):
        """Unlimited, but with 2 messages in flight per publisher: the
        broker sets the pace, nothing queues up."""
        res, _ = self.bench("pairs", "-c", 2, "-q", 2, "-i", 2, "-d", 0.5)
        self.check(res, "pairs", 2)

    def test_connections(self):
        res, _ = self.bench("connections", "-c", 50, "-k", 5)
        self.check(res, "connections", 0)
        self.assertEqual(int(res["clients"]), 50)
        int(res["broker_rss_base_kb"])
        float(res["bytes_per_conn"])

    def test_retained_qos1(self):
        res, _ = self.bench("retained", "-c", 50, "-q", 1,
                            "--subscribers", 2)
        self.check(res, "retained", 1)
        self.assertGreater(int(res["rounds"]), 0)
        self.assertEqual(int(res["sent"]), 50)

    def test_broker_going_away_is_an_error(self):
        """ternd stops mid-run: tern-bench says so and exits 1, no crash."""
        cmd = [BENCH, "-p", str(self.broker.port), "-d", "30", "-w", "0",
               "-q", "1", "-r", "200", "--id-prefix", tern.unique("tb"),
               "pairs", "-c", 2]
        p = subprocess.Popen([str(a) for a in cmd], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(1.0)
            self.broker.stop()
            out, err = p.communicate(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(out, b"")
        self.assertRegex(err.decode(), "tern-bench: tb.*(closed|DISCONNECT|"
                         "reset)")
        for marker in tern.SANITIZER_MARKERS:
            self.assertNotIn(marker, err.decode())


class BenchUsageTest(unittest.TestCase):
    """Bad input: a clear message and exit 2 (1 when nothing listens)."""

    def run_bench(self, *args):
        r = subprocess.run([BENCH] + [str(a) for a in args],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def test_help(self):
        rc, out, _ = self.run_bench("--help")
        self.assertEqual(rc, 0)
        for name in ("fanin", "fanout", "pairs", "connections", "retained"):
            self.assertIn(name, out)

    def test_bad_arguments(self):
        for args in (["nosuch"], [], ["-q", "3", "fanin"],
                     ["-m", "8", "fanin"], ["-V", "3", "fanin"],
                     ["--bogus", "fanin"], ["-d", "x", "fanin"],
                     ["fanin", "extra"]):
            rc, out, err = self.run_bench(*args)
            self.assertEqual(rc, 2, (args, err))
            self.assertEqual(out, "")
            self.assertTrue(err.startswith("tern-bench: "), (args, err))

    def test_nothing_listening(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        # the port is free again: connect is refused
        rc, out, err = self.run_bench("-p", port, "-d", 1, "fanin", "-c", 2)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertIn("refused", err)


if __name__ == "__main__":
    tern.main()
