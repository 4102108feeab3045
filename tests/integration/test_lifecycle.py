"""ternd process lifecycle: port file, listeners, SIGTERM/SIGINT shutdown."""

import os
import signal
import subprocess
import tempfile
import shutil
import time
import unittest

import tern
from tern import DISCONNECT, Broker, RawClient, unique


class LifecycleTests(unittest.TestCase):

    def test_port_file_and_two_listeners(self):
        """--listen is repeatable; the port file has one URL line per
        bound listener and both listeners serve clients."""
        with Broker(["--listen", "mqtt://127.0.0.1:0"]) as b:
            # Broker passes its own --listen first; the extra one is second
            with open(os.path.join(b.dir, "port")) as f:
                # the admin server appends "admin URL": not a listener
                lines = [l for l in f.read().splitlines()
                         if not l.startswith("admin ")]
            self.assertEqual(len(lines), 2, lines)
            ports = []
            for line in lines:
                self.assertRegex(line, r"^mqtt://127\.0\.0\.1:[0-9]+$")
                ports.append(int(line.rsplit(":", 1)[1]))
            self.assertNotEqual(ports[0], ports[1])
            topic = unique("two/")
            sub = RawClient(b.host, ports[1])
            pub = RawClient(b.host, ports[0])
            try:
                sub.connect(unique(), version=5)
                sub.subscribe([(topic, 1)])
                pub.connect(unique(), version=4)
                pub.publish(topic, b"across listeners", qos=1)
                self.assertEqual(sub.expect_publish().payload,
                                 b"across listeners")
            finally:
                sub.close()
                pub.close()

    def _shutdown_with_clients(self, sig):
        b = Broker(workers=2)
        b.start()
        clients = []
        try:
            v5 = [RawClient(b.host, b.port) for _ in range(3)]
            for c in v5:
                c.connect(unique(), version=5)
            v4 = RawClient(b.host, b.port)
            v4.connect(unique(), version=4)
            clients = v5 + [v4]
            b.proc.send_signal(sig)
            rc = b.proc.wait(10)
            self.assertEqual(rc, 0)
            for c in v5:
                got = c.wait_closed()
                # MQTT 5: DISCONNECT 0x8B (Server shutting down)
                self.assertEqual([(p.type, p.rc) for p in got],
                                 [(DISCONNECT, 0x8B)])
            self.assertEqual(v4.wait_closed(), [])
        finally:
            for c in clients:
                c.close()
            if b.proc is not None and b.proc.poll() is None:
                b.proc.kill()
                b.proc.wait(5)
            log = b.read_log()
            b.proc = None
            b._cleanup_dir()
        for marker in tern.SANITIZER_MARKERS:
            self.assertNotIn(marker, log)

    def test_sigterm_disconnects_clients_and_exits_0(self):
        """SIGTERM: v5 clients get DISCONNECT 0x8B, 3.1.1 clients are
        closed, exit code 0."""
        self._shutdown_with_clients(signal.SIGTERM)

    def test_sigint_disconnects_clients_and_exits_0(self):
        """SIGINT behaves like SIGTERM."""
        self._shutdown_with_clients(signal.SIGINT)

    def test_restart_same_data_dir(self):
        """A second ternd on the same data dir starts and serves (the node
        identity file is reused)."""
        d = tempfile.mkdtemp(prefix="ternd-test-")
        try:
            ids = []
            for _ in range(2):
                pf = os.path.join(d, "port")
                if os.path.exists(pf):
                    os.unlink(pf)
                p = subprocess.Popen(
                    [tern.TERND, "--listen", "mqtt://127.0.0.1:0",
                     "--port-file", pf, "--data-dir", os.path.join(d, "data"),
                     "--log-level", "info", "--workers", "1",
                     "--admin-listen", "127.0.0.1:0"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)
                try:
                    ok = tern.wait_until(
                        lambda: tern.read_text(pf).endswith("\n"), 10)
                    self.assertTrue(ok, "no port file")
                    port = int(tern.read_text(pf).splitlines()[0]
                               .split(":")[-1])
                    c = RawClient("127.0.0.1", port)
                    c.connect(unique(), version=4)
                    c.ping()
                    c.close()
                    with open(os.path.join(d, "data", "node-id")) as f:
                        ids.append(f.read().strip())
                    p.send_signal(signal.SIGTERM)
                    self.assertEqual(p.wait(10), 0)
                finally:
                    if p.poll() is None:
                        p.kill()
                        p.wait(5)
                    err = p.stderr.read().decode(errors="replace")
                    p.stderr.close()
                for marker in tern.SANITIZER_MARKERS:
                    self.assertNotIn(marker, err)
            self.assertEqual(ids[0], ids[1])
            self.assertRegex(ids[0], r"^[0-9a-f]{32}$")
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_sigterm_right_after_start(self):
        """SIGTERM sent as soon as the port file exists still gives a clean
        shutdown with exit code 0 (30 tries)."""
        bad = []
        for i in range(30):
            d = tempfile.mkdtemp(prefix="ternd-test-")
            pf = os.path.join(d, "port")
            p = subprocess.Popen(
                [tern.TERND, "--listen", "mqtt://127.0.0.1:0",
                 "--port-file", pf, "--data-dir", os.path.join(d, "data"),
                 "--log-level", "error", "--workers", "2",
                 "--admin-listen", "127.0.0.1:0"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    if tern.read_text(pf).endswith("\n"):
                        break
                    time.sleep(0.0005)
                p.send_signal(signal.SIGTERM)
                rc = p.wait(10)
                if rc != 0:
                    bad.append(rc)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait(5)
                shutil.rmtree(d, ignore_errors=True)
        self.assertEqual(bad, [], "%d of 30 runs did not exit 0" % len(bad))

    def test_bad_flag_exit_code(self):
        """An unknown --set key is refused at start (non-zero exit, message
        on stderr)."""
        r = subprocess.run([tern.TERND, "--set", "no_such_key=1"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"no_such_key", r.stderr)


if __name__ == "__main__":
    tern.main()
