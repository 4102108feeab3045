"""The admin HTTP server (docs/ADMIN.md): /healthz, /readyz, /metrics, the
JSON API under /api/v1 with its bearer token, the HTTP limits, and ternctl
against a live node (tables, -o json, exit codes)."""

import base64
import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse

import tern
from tern import (DISCONNECT, SESSION_EXPIRY, SUBSCRIPTION_ID, Broker,
                  RawClient, TernTestCase, sub_opts, unique, wait_until)

TOKEN = "s3cret-admin-token"
TERNCTL = os.environ.get("TERNCTL") or os.path.join(
    os.path.dirname(os.path.abspath(tern.TERND)), "ternctl")
METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN)$')


def enc(s):
    """A path segment: every reserved character percent-encoded."""
    return urllib.parse.quote(s, safe="")


class AdminCase(TernTestCase):
    """A broker with an admin token; helpers for HTTP and metrics."""

    extra_args = ("--admin-token", TOKEN)

    def setUp(self):
        super().setUp()
        self.admin = self.broker.admin_url()
        u = urllib.parse.urlparse(self.admin)
        self.ahost, self.aport = u.hostname, u.port

    def http(self, method, path, token=TOKEN, headers=None, body=None,
             admin=None):
        """(status, headers dict with lower-case names, body bytes)."""
        if admin is None:
            host, port = self.ahost, self.aport
        else:
            u = urllib.parse.urlparse(admin)
            host, port = u.hostname, u.port
        c = http.client.HTTPConnection(host, port, timeout=tern.TIMEOUT)
        try:
            h = dict(headers or {})
            if token is not None:
                h["Authorization"] = "Bearer " + token
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, \
                data
        finally:
            c.close()

    def api(self, method, path, token=TOKEN, expect=200):
        """JSON of an API call; checks the status and the content type."""
        status, h, data = self.http(method, path, token)
        self.assertEqual(status, expect, data)
        self.assertTrue(h["content-type"].startswith("application/json"))
        return json.loads(data)

    def metrics(self):
        """{'name{labels}': value} from /metrics (format checked)."""
        status, h, data = self.http("GET", "/metrics", token=None)
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"],
                         "text/plain; version=0.0.4; charset=utf-8")
        out, typed = {}, set()
        for line in data.decode().splitlines():
            if line.startswith("# TYPE "):
                name, kind = line.split()[2:4]
                self.assertIn(kind, ("counter", "gauge"))
                typed.add(name)
                continue
            if line.startswith("# HELP ") or not line:
                continue
            m = METRIC_LINE.match(line)
            self.assertIsNotNone(m, "bad metric line %r" % line)
            self.assertIn(m.group(1), typed, "no # TYPE before %r" % line)
            self.assertTrue(m.group(1).startswith("tern_"), line)
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        return out

    def metric(self, key):
        return self.metrics().get(key)

    def ternctl(self, *args, token=TOKEN, url=None, env=None):
        """Runs ternctl; returns (exit code, stdout, stderr)."""
        e = dict(os.environ)
        e.pop("TERN_ADMIN_URL", None)
        e.pop("TERN_ADMIN_TOKEN", None)
        e.update(env or {})
        cmd = [TERNCTL]
        if url is not False:
            cmd += ["--url", url or self.admin]
        if token is not None:
            cmd += ["--token", token]
        r = subprocess.run(cmd + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30, env=e)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def ternctl_json(self, *args):
        rc, out, err = self.ternctl("-o", "json", *args)
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def client_ids(self):
        return [c["client_id"] for c in
                self.api("GET", "/api/v1/clients")["clients"]]


class ProbesAndMetrics(AdminCase):

    def test_healthz_readyz(self):
        for path in ("/healthz", "/readyz"):
            status, h, body = self.http("GET", path, token=None)
            self.assertEqual((status, body), (200, b"ok\n"))
            self.assertTrue(h["content-type"].startswith("text/plain"))
            status, h, body = self.http("HEAD", path, token=None)
            self.assertEqual((status, body, h["content-length"]),
                             (200, b"", "3"))
            status, h, body = self.http("POST", path, token=None)
            self.assertEqual(status, 405)
            self.assertIn("GET", h["allow"])

    def test_port_file_admin_line(self):
        """The port file keeps the MQTT URLs and gains an admin line."""
        lines = tern.read_text(os.path.join(self.broker.dir, "port")) \
            .splitlines()
        self.assertEqual(lines[0], self.broker.url)
        self.assertIn("admin " + self.admin, lines)
        self.assertRegex(self.admin, r"^http://127\.0\.0\.1:[0-9]+$")

    def test_metrics_names_and_types(self):
        m = self.metrics()
        listener = 'tern_connections{listener="%s"}' % self.broker.url
        for key in (listener, "tern_connects_total",
                    "tern_disconnects_total",
                    'tern_messages_received_total{qos="0"}',
                    'tern_messages_received_total{qos="2"}',
                    'tern_messages_sent_total{qos="1"}',
                    "tern_bytes_received_total", "tern_bytes_sent_total",
                    'tern_messages_dropped_total{reason="queue_full"}',
                    'tern_messages_dropped_total{reason="expired"}',
                    'tern_messages_dropped_total{reason="too_large"}',
                    "tern_subscriptions", "tern_sessions",
                    "tern_retained_messages", "tern_inflight_messages",
                    "tern_queued_messages", "tern_protocol_errors_total",
                    "tern_auth_successes_total", "tern_auth_failures_total",
                    "tern_acl_denied_total",
                    "tern_tls_handshake_failures_total",
                    "tern_ws_upgrade_failures_total",
                    "tern_process_resident_memory_bytes",
                    "tern_process_open_fds", "tern_uptime_seconds",
                    'tern_build_info{version="0.1.0"}'):
            self.assertIn(key, m)
        self.assertEqual(m[listener], 0)
        self.assertEqual(m['tern_build_info{version="0.1.0"}'], 1)
        self.assertGreater(m["tern_process_resident_memory_bytes"], 1e6)
        self.assertGreater(m["tern_process_open_fds"], 3)

    def test_metrics_follow_traffic(self):
        listener = 'tern_connections{listener="%s"}' % self.broker.url
        before = self.metrics()
        c = self.raw_connected(version=5)
        self.assertTrue(wait_until(lambda: self.metric(listener) == 1))
        topic = unique("m/")
        c.subscribe([(topic, 1)])
        for i in range(3):
            self.mosquitto_pub(topic, "payload-%d" % i, qos=1)
        c.publishes(3)
        self.mosquitto_pub(topic, "zero", qos=0)
        c.expect_publish()
        after = self.metrics()
        q1 = 'tern_messages_received_total{qos="1"}'
        q0 = 'tern_messages_received_total{qos="0"}'
        self.assertEqual(after[q1] - before[q1], 3)
        self.assertEqual(after[q0] - before[q0], 1)
        self.assertEqual(after['tern_messages_sent_total{qos="1"}']
                         - before['tern_messages_sent_total{qos="1"}'], 3)
        self.assertGreater(after["tern_bytes_received_total"],
                           before["tern_bytes_received_total"] + 30)
        self.assertGreater(after["tern_bytes_sent_total"],
                           before["tern_bytes_sent_total"] + 30)
        self.assertGreaterEqual(after["tern_connects_total"]
                                - before["tern_connects_total"], 5)
        self.assertEqual(after["tern_subscriptions"], 1)
        self.assertTrue(wait_until(
            lambda: self.metric("tern_sessions") == 1))
        c.disconnect()
        self.assertTrue(wait_until(lambda: self.metric(listener) == 0))
        self.assertEqual(self.metric("tern_sessions"), 0)

    def test_metrics_retained_gauge(self):
        base = self.metric("tern_retained_messages")
        self.mosquitto_pub(unique("rg/"), "x", retain=True)
        self.assertTrue(wait_until(
            lambda: self.metric("tern_retained_messages") == base + 1))

    def test_no_token_needed_for_probes(self):
        for path in ("/metrics", "/healthz", "/readyz"):
            self.assertEqual(self.http("GET", path, token=None)[0], 200)
            self.assertEqual(self.http("GET", path, token="wrong")[0], 200)


class Auth(AdminCase):

    def test_token_required(self):
        status, h, body = self.http("GET", "/api/v1/status", token=None)
        self.assertEqual(status, 401)
        self.assertIn("Bearer", h["www-authenticate"])
        self.assertIn("error", json.loads(body))
        status, _, body = self.http("GET", "/api/v1/status", token="nope")
        self.assertEqual(status, 401)
        self.assertIn("refused", json.loads(body)["error"])
        status, _, _ = self.http("GET", "/api/v1/status",
                                 token=TOKEN + "x")
        self.assertEqual(status, 401)
        status, _, _ = self.http("GET", "/api/v1/status", token=None,
                                 headers={"Authorization": TOKEN})
        self.assertEqual(status, 401)
        status, _, _ = self.http("GET", "/api/v1/status", token=None,
                                 headers={"Authorization": "bearer "
                                          + TOKEN})
        self.assertEqual(status, 200)
        self.assertEqual(self.http("GET", "/api/v1/status")[0], 200)

    def test_every_api_path_checks_the_token(self):
        for method, path in (("GET", "/api/v1/clients"),
                             ("GET", "/api/v1/clients/x"),
                             ("DELETE", "/api/v1/clients/x"),
                             ("GET", "/api/v1/subscriptions"),
                             ("GET", "/api/v1/retained"),
                             ("GET", "/api/v1/retained/a"),
                             ("DELETE", "/api/v1/retained/a"),
                             ("GET", "/api/v1/listeners"),
                             ("GET", "/api/v1/nothing")):
            self.assertEqual(self.http(method, path, token=None)[0], 401,
                             path)

    def test_no_token_configured(self):
        with Broker(workers=1) as b:
            admin = b.admin_url()
            status, _, body = self.http("GET", "/api/v1/status",
                                        token=None, admin=admin)
            self.assertEqual(status, 403)
            self.assertIn("no admin_token", json.loads(body)["error"])
            status, _, _ = self.http("GET", "/api/v1/status",
                                     token="anything", admin=admin)
            self.assertEqual(status, 403)
            self.assertEqual(self.http("GET", "/metrics", token=None,
                                       admin=admin)[0], 200)

    def test_open_api_on_loopback(self):
        with Broker(workers=1,
                    settings={"admin_require_token": "false"}) as b:
            admin = b.admin_url()
            status, _, body = self.http("GET", "/api/v1/status",
                                        token=None, admin=admin)
            self.assertEqual(status, 200, body)

    def test_open_api_refused_off_loopback(self):
        """admin_require_token=false on a non-loopback admin listener:
        ternd refuses to start and says why."""
        d = os.path.join(self.broker.dir, "other")
        os.mkdir(d)
        r = subprocess.run(
            [tern.TERND, "--listen", "mqtt://127.0.0.1:0",
             "--data-dir", os.path.join(d, "data"), "--workers", "1",
             "--admin-listen", "0.0.0.0:0",
             "--set", "admin_require_token=false"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=30)
        out = r.stdout.decode(errors="replace")
        self.assertEqual(r.returncode, 1, out)
        self.assertIn("not a loopback address", out)
        for marker in tern.SANITIZER_MARKERS:
            self.assertNotIn(marker, out)


class Api(AdminCase):

    def test_status(self):
        s = self.api("GET", "/api/v1/status")
        with open(os.path.join(self.broker.dir, "data", "node-id")) as f:
            self.assertEqual(s["node_id"], f.read().strip())
        self.assertEqual(s["version"], "0.1.0")
        self.assertEqual(s["workers"], 2)
        self.assertEqual(s["listeners"][0]["url"], self.broker.url)
        self.assertEqual(s["admin_url"], self.admin)
        self.assertTrue(s["ready"])
        for k in ("uptime_seconds", "connections", "sessions",
                  "subscriptions", "retained_messages"):
            self.assertIsInstance(s[k], int)
        c = self.raw_connected(version=4)
        c.subscribe([(unique("s/"), 0)])
        s = self.api("GET", "/api/v1/status")
        self.assertEqual((s["connections"], s["sessions"],
                          s["subscriptions"]), (1, 1, 1))

    def test_listeners(self):
        j = self.api("GET", "/api/v1/listeners")
        self.assertEqual([l["url"] for l in j["listeners"]],
                         [self.broker.url])
        self.assertEqual(j["listeners"][0]["scheme"], "mqtt")
        self.assertEqual(j["admin"], self.admin)

    def test_clients_list_show(self):
        ids = [tern.id_on_worker("cl", w) for w in (0, 1, 1)]
        v5 = self.raw_connected(ids[0], version=5,
                                props=[(SESSION_EXPIRY, 120)])
        v5.subscribe([(unique("a/") + "/#", sub_opts(1, no_local=True,
                                                     rap=True, rh=2))],
                     props=[(SUBSCRIPTION_ID, 7)])
        v4 = self.raw_connected(ids[1], version=4, keepalive=33)
        v4.subscribe([("$share/grp/b/+", 1)])
        self.raw_connected(ids[2], version=4)
        got = self.api("GET", "/api/v1/clients")
        self.assertEqual(got["total"], 3)
        self.assertEqual([c["client_id"] for c in got["clients"]],
                         sorted(ids))
        by_id = {c["client_id"]: c for c in got["clients"]}
        c = by_id[ids[0]]
        self.assertEqual((c["connected"], c["protocol_version"],
                          c["session_expiry"], c["subscriptions"],
                          c["listener"], c["worker"]),
                         (True, 5, 120, 1, self.broker.url, 0))
        self.assertRegex(c["peer"], r"^127\.0\.0\.1:[0-9]+$")
        for k in ("inflight", "queued", "dropped", "keepalive"):
            self.assertIn(k, c)
        self.assertEqual(by_id[ids[1]]["keepalive"], 33)
        self.assertEqual(by_id[ids[1]]["protocol_version"], 4)

        # filter and paging
        got = self.api("GET", "/api/v1/clients?filter=" + ids[1][2:])
        self.assertEqual([c["client_id"] for c in got["clients"]],
                         [ids[1]])
        got = self.api("GET", "/api/v1/clients?limit=1&offset=1")
        self.assertEqual(got["total"], 3)
        self.assertEqual([c["client_id"] for c in got["clients"]],
                         [sorted(ids)[1]])
        self.api("GET", "/api/v1/clients?limit=x", expect=400)

        # details with the subscription options
        d = self.api("GET", "/api/v1/clients/" + enc(ids[0]))
        sub = d["subscription_list"][0]
        self.assertEqual((sub["qos"], sub["no_local"],
                          sub["retain_as_published"],
                          sub["retain_handling"], sub["subscription_id"],
                          sub["share_group"]),
                         (1, True, True, 2, 7, None))
        d = self.api("GET", "/api/v1/clients/" + enc(ids[1]))
        self.assertEqual((d["subscription_list"][0]["filter"],
                          d["subscription_list"][0]["share_group"]),
                         ("b/+", "grp"))
        e = self.api("GET", "/api/v1/clients/nobody-" + unique(),
                     expect=404)
        self.assertIn("error", e)
        self.api("GET", "/api/v1/clients/bad%zz", expect=400)

    def test_client_id_with_reserved_characters(self):
        cid = "odd id/with?chars&=%"
        self.raw_connected(cid, version=4)
        d = self.api("GET", "/api/v1/clients/" + enc(cid))
        self.assertEqual(d["client_id"], cid)

    def test_kick_v5_gets_disconnect_0x98(self):
        cid = unique("kick")
        c = self.raw_connected(cid, version=5, props=[(SESSION_EXPIRY, 60)])
        c.subscribe([(unique("k/"), 1)])
        j = self.api("DELETE", "/api/v1/clients/" + enc(cid))
        self.assertEqual((j["client_id"], j["was_connected"],
                          j["session_discarded"], j["session_kept"]),
                         (cid, True, False, True))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got],
                         [(DISCONNECT, 0x98)])
        # the session stays (expiry 60) and is offline
        d = self.api("GET", "/api/v1/clients/" + enc(cid))
        self.assertFalse(d["connected"])
        self.assertEqual(d["subscriptions"], 1)
        # now drop it
        j = self.api("DELETE",
                     "/api/v1/clients/%s?session=discard" % enc(cid))
        self.assertEqual((j["was_connected"], j["session_discarded"]),
                         (False, True))
        self.api("GET", "/api/v1/clients/" + enc(cid), expect=404)
        self.api("DELETE", "/api/v1/clients/" + enc(cid), expect=404)
        self.assertTrue(wait_until(
            lambda: self.metric("tern_sessions") == 0))
        self.assert_broker_serves()

    def test_kick_discard_connected_v311(self):
        cid = unique("k311")
        c = self.raw_connected(cid, version=4, clean=False)
        c.subscribe([(unique("k/"), 1)])
        j = self.api("DELETE",
                     "/api/v1/clients/%s?session=discard" % enc(cid))
        self.assertEqual((j["was_connected"], j["session_discarded"]),
                         (True, True))
        self.assertEqual(c.wait_closed(), [])  # no DISCONNECT in 3.1.1
        self.assertNotIn(cid, self.client_ids())
        self.assertEqual(self.metric("tern_subscriptions"), 0)
        # reconnecting gets a fresh session
        c2 = self.raw_connected(cid, version=4, clean=False)
        self.assertFalse(c2.connack.session_present)

    def test_kick_with_will(self):
        """A kick is not a normal disconnect: the will goes out."""
        wt = unique("will/")
        sub = self.raw_connected(version=4)
        sub.subscribe([(wt, 0)])
        cid = unique("w")
        self.raw_connected(cid, version=4, will={"topic": wt, "payload": b"gone"})
        self.api("DELETE", "/api/v1/clients/" + enc(cid))
        self.assertEqual(sub.expect_publish().payload, b"gone")

    def test_subscriptions(self):
        a, b = unique("sa"), unique("sb")
        ca = self.raw_connected(a, version=5)
        ca.subscribe([("x/1", sub_opts(0)), ("x/2/#", sub_opts(2))])
        cb = self.raw_connected(b, version=4)
        cb.subscribe([("$share/g/y", 1)])
        got = self.api("GET", "/api/v1/subscriptions")
        self.assertEqual(got["total"], 3)
        rows = [(s["client_id"], s["filter"], s["qos"], s["share_group"])
                for s in got["subscriptions"]]
        self.assertEqual(rows, [(a, "x/1", 0, None), (a, "x/2/#", 2, None),
                                (b, "y", 1, "g")])
        got = self.api("GET", "/api/v1/subscriptions?client=" + b)
        self.assertEqual([s["client_id"] for s in got["subscriptions"]],
                         [b])
        got = self.api("GET", "/api/v1/subscriptions?limit=1&offset=2")
        self.assertEqual([s["filter"] for s in got["subscriptions"]],
                         ["y"])

    def test_retained(self):
        base = unique("ret")
        t1, t2, t3 = base + "/a", base + "/b c", base + "/bin"
        self.mosquitto_pub(t1, "hello", retain=True, qos=1)
        self.mosquitto_pub(t2, "grüße", retain=True)
        with open(os.path.join(self.broker.dir, "bin"), "wb") as f:
            f.write(b"\x00\xff\xfe\x01")
        self.mosquitto_pub(t3, retain=True,
                           payload_file=os.path.join(self.broker.dir,
                                                     "bin"))
        want = [(t1, 1, 5), (t2, 0, 7), (t3, 0, 4)]

        def listed():
            got = self.api("GET",
                           "/api/v1/retained?filter=" + enc(base + "/#"))
            return [(m["topic"], m["qos"], m["payload_bytes"])
                    for m in got["retained"]]
        # QoS 0 has no ack: mosquitto_pub may be gone before the broker
        # stored its message
        wait_until(lambda: listed() == want)
        self.assertEqual(listed(), want)
        # the default filter is '#': no $SYS topics
        topics = [m["topic"] for m in
                  self.api("GET", "/api/v1/retained")["retained"]]
        self.assertIn(t1, topics)
        self.assertFalse([t for t in topics if t.startswith("$")])
        got = self.api("GET", "/api/v1/retained?filter=" + enc(base + "/+"))
        self.assertEqual(got["total"], 3)
        self.api("GET", "/api/v1/retained?filter=a/%23/b", expect=400)

        m = self.api("GET", "/api/v1/retained/" + enc(t2))
        self.assertEqual((m["topic"], m["payload_utf8"]), (t2, "grüße"))
        self.assertEqual(base64.b64decode(m["payload_base64"]),
                         "grüße".encode())
        m = self.api("GET", "/api/v1/retained/" + enc(t3))
        self.assertNotIn("payload_utf8", m)
        self.assertEqual(base64.b64decode(m["payload_base64"]),
                         b"\x00\xff\xfe\x01")
        # unencoded slashes work too
        m = self.api("GET", "/api/v1/retained/" + t1)
        self.assertEqual(m["payload_utf8"], "hello")
        self.api("GET", "/api/v1/retained/" + enc(base + "/+"), expect=400)
        self.api("GET", "/api/v1/retained/" + enc(base + "/none"),
                 expect=404)

        j = self.api("DELETE", "/api/v1/retained/" + enc(t1))
        self.assertTrue(j["deleted"])
        self.api("GET", "/api/v1/retained/" + enc(t1), expect=404)
        self.api("DELETE", "/api/v1/retained/" + enc(t1), expect=404)
        # a new subscriber gets the others, not the deleted one
        c = self.raw_connected(version=4)
        c.subscribe([(base + "/#", 0)])
        got = sorted(p.topic for p in c.publishes(2))
        self.assertEqual(got, [t2, t3])
        c.assert_nothing()


class Http(AdminCase):

    def test_not_found_and_methods(self):
        status, h, body = self.http("GET", "/nothing", token=None)
        self.assertEqual(status, 404)
        self.assertIn("error", json.loads(body))
        self.api("GET", "/api/v1/nothing", expect=404)
        status, h, _ = self.http("POST", "/api/v1/clients")
        self.assertEqual(status, 405)
        self.assertEqual(h["allow"], "GET, HEAD")
        status, h, _ = self.http("PUT", "/api/v1/clients/x")
        self.assertEqual((status, h["allow"]), (405, "GET, HEAD, DELETE"))

    def test_keep_alive(self):
        c = http.client.HTTPConnection(self.ahost, self.aport,
                                       timeout=tern.TIMEOUT)
        try:
            for path in ("/healthz", "/metrics", "/api/v1/status",
                         "/readyz"):
                c.request("GET", path,
                          headers={"Authorization": "Bearer " + TOKEN})
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 200, path)
            self.assertEqual(self.metric("tern_admin_connections"), 2)
        finally:
            c.close()

    def raw_http(self, data, read_all=True):
        s = socket.create_connection((self.ahost, self.aport),
                                     timeout=tern.TIMEOUT)
        try:
            s.sendall(data)
            out = b""
            while True:
                try:
                    d = s.recv(65536)
                except ConnectionResetError:
                    break
                if not d:
                    break
                out += d
                if not read_all:
                    break
            return out
        finally:
            s.close()

    def test_pipelined_requests(self):
        out = self.raw_http(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
        self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 3)

    def test_malformed_and_too_large(self):
        out = self.raw_http(b"NOT HTTP AT ALL\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)
        out = self.raw_http(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                            + b"a" * 66000 + b"\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out)
        out = self.raw_http(b"POST /api/v1/clients HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Length: 70000\r\n\r\n"
                            + b"b" * 70000)
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out)
        self.assertEqual(self.http("GET", "/healthz", token=None)[0], 200)

    def test_connection_limit(self):
        socks = []
        try:
            for _ in range(64):
                socks.append(socket.create_connection(
                    (self.ahost, self.aport), timeout=tern.TIMEOUT))
            extra = socket.create_connection((self.ahost, self.aport),
                                             timeout=tern.TIMEOUT)
            socks.append(extra)
            try:
                self.assertEqual(extra.recv(100), b"")  # closed at once
            except ConnectionResetError:
                pass
        finally:
            for s in socks:
                s.close()

        def healthy():
            # The node may not have seen all 65 closes yet: until it has,
            # a new connection is refused (reset), which is the point.
            try:
                return self.http("GET", "/healthz", token=None)[0] == 200
            except OSError:
                return False
        self.assertTrue(wait_until(healthy))

    def test_stop_with_requests_in_flight(self):
        """SIGTERM while API requests that need the workers keep coming:
        clean exit, no sanitizer report (checked by Broker.stop)."""
        for _ in range(20):
            self.raw_connected(version=4)
        stop = threading.Event()
        errors = []

        def hammer():
            while not stop.is_set():
                try:
                    s = socket.create_connection((self.ahost, self.aport),
                                                 timeout=2)
                    s.sendall(b"GET /api/v1/clients HTTP/1.1\r\nHost: x\r\n"
                              b"Authorization: Bearer " + TOKEN.encode()
                              + b"\r\n\r\n")
                    s.close()
                except OSError as e:
                    errors.append(e)
                    return

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        # a half-sent request and an idle keep-alive connection, too
        half = socket.create_connection((self.ahost, self.aport))
        half.sendall(b"GET /api/v1/clie")
        time.sleep(0.3)
        try:
            # SIGTERM; checks exit code 0 and the log for sanitizer reports
            self.broker.stop()
        finally:
            stop.set()
            for t in threads:
                t.join(5)
            half.close()


class Ternctl(AdminCase):

    def test_version_help_usage(self):
        rc, out, _ = self.ternctl("--version", url=False, token=None)
        self.assertEqual((rc, out.strip()), (0, "ternctl 0.1.0"))
        rc, out, _ = self.ternctl("--help", url=False, token=None)
        self.assertEqual(rc, 0)
        self.assertIn("clients kick", out)
        self.assertEqual(self.ternctl(url=False, token=None)[0], 2)
        rc, _, err = self.ternctl("frobnicate")
        self.assertEqual(rc, 2)
        self.assertIn("unknown command", err)
        self.assertEqual(self.ternctl("clients", "show")[0], 2)
        self.assertEqual(self.ternctl("-o", "yaml", "status")[0], 2)
        self.assertEqual(self.ternctl("status", "--filter", "x")[0], 2)
        self.assertEqual(self.ternctl("--url", "ftp://x", "status")[0], 2)

    def test_status_and_listeners(self):
        rc, out, err = self.ternctl("status")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^version +0\.1\.0$")
        self.assertIn(self.broker.url, out)
        j = self.ternctl_json("status")
        self.assertEqual(j["workers"], 2)
        self.assertIn(j["node_id"], out)
        rc, out, err = self.ternctl("listeners")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.splitlines()[0], r"^URL +SCHEME +CONNECTIONS$")
        self.assertRegex(out, re.escape(self.broker.url) + r" +mqtt +0")
        self.assertEqual(self.ternctl_json("listeners")["listeners"][0]
                         ["url"], self.broker.url)

    def test_env_defaults(self):
        rc, out, err = self.ternctl("status", url=False, token=None,
                                    env={"TERN_ADMIN_URL": self.admin,
                                         "TERN_ADMIN_TOKEN": TOKEN})
        self.assertEqual(rc, 0, err)

    def test_clients(self):
        a = unique("tc")
        ca = self.raw_connected(a, version=5, props=[(SESSION_EXPIRY, 30)])
        ca.subscribe([("t/#", 1)])
        b = unique("other")
        self.raw_connected(b, version=4)
        rc, out, err = self.ternctl("clients", "list")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^CLIENT ID +CONNECTED +PEER +PROTOCOL")
        row = [l for l in lines if l.startswith(a)][0].split()
        self.assertEqual(row[1:2] + row[3:4], ["yes", "5.0"])
        rc, out, err = self.ternctl("clients", "list", "--filter", "tc")
        self.assertIn(a, out)
        self.assertNotIn(b, out)
        j = self.ternctl_json("clients", "list")
        self.assertEqual(sorted(c["client_id"] for c in j["clients"]),
                         sorted([a, b]))
        rc, out, err = self.ternctl("clients", "show", a)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^client id +%s$" % a)
        self.assertRegex(out, r"(?m)^t/# +1 ")
        self.assertEqual(self.ternctl_json("clients", "show", a)
                         ["subscription_list"][0]["filter"], "t/#")
        rc, out, err = self.ternctl("clients", "show", "nobody")
        self.assertEqual(rc, 1)
        self.assertIn("no client", err)

        rc, out, err = self.ternctl("clients", "kick", a)
        self.assertEqual(rc, 0, err)
        self.assertIn("kicked", out)
        self.assertEqual([(p.type, p.rc) for p in ca.wait_closed()],
                         [(DISCONNECT, 0x98)])
        self.assertIn(a, self.client_ids())
        rc, out, err = self.ternctl("clients", "kick", a,
                                    "--discard-session")
        self.assertEqual(rc, 0, err)
        self.assertIn("discarded", out)
        self.assertNotIn(a, self.client_ids())
        self.assertEqual(self.ternctl("clients", "kick", a)[0], 1)
        j = self.ternctl_json("clients", "kick", b)
        self.assertTrue(j["was_connected"])

    def test_subscriptions(self):
        a = unique("ts")
        self.raw_connected(a, version=4).subscribe([("$share/g/q/+", 1),
                                                   ("p", 0)])
        rc, out, err = self.ternctl("subscriptions", "list")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.splitlines()[0], r"^CLIENT ID +FILTER +QOS")
        self.assertRegex(out, r"(?m)^%s +q/\+ +1 +g " % a)
        j = self.ternctl_json("subscriptions", "list", "--filter", a)
        self.assertEqual(j["total"], 2)

    def test_retained(self):
        base = unique("tr")
        self.mosquitto_pub(base + "/x y", "payload one", retain=True)
        self.mosquitto_pub(base + "/z", "two", retain=True, qos=1)
        # the QoS 0 one has no ack: it may be stored a moment later
        wait_until(lambda: self.ternctl_json(
            "retained", "list", "--filter", base + "/#")["total"] == 2)
        rc, out, err = self.ternctl("retained", "list", "--filter",
                                    base + "/#")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.splitlines()[0], r"^TOPIC +QOS +BYTES")
        self.assertRegex(out, r"(?m)^%s/x y +0 +11 " % base)
        self.assertRegex(out, r"(?m)^%s/z +1 +3 " % base)
        j = self.ternctl_json("retained", "list", "--filter", base + "/#")
        self.assertEqual(j["total"], 2)
        rc, out, err = self.ternctl("retained", "get", base + "/x y")
        self.assertEqual(rc, 0, err)
        self.assertIn("payload one", out)
        j = self.ternctl_json("retained", "get", base + "/z")
        self.assertEqual(j["payload_utf8"], "two")
        rc, out, err = self.ternctl("retained", "delete", base + "/z")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.ternctl("retained", "get", base + "/z")[0], 1)
        rc, _, err = self.ternctl("retained", "delete", base + "/z")
        self.assertEqual(rc, 1)
        self.assertIn("no retained message", err)
        c = self.raw_connected(version=4)
        c.subscribe([(base + "/z", 0)])
        c.assert_nothing()

    def test_exit_codes(self):
        # 3: nothing listens there
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        url = "http://127.0.0.1:%d" % port
        rc, _, err = self.ternctl("status", url=url)
        self.assertEqual(rc, 3)
        self.assertIn("cannot reach the node at %s" % url, err)
        # 3: connects but never answers (timeout)
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        try:
            rc, _, err = self.ternctl(
                "--timeout", "0.5", "status",
                url="http://127.0.0.1:%d" % srv.getsockname()[1])
            self.assertEqual(rc, 3)
            self.assertIn("cannot reach the node", err)
        finally:
            srv.close()
        # 4: wrong or missing token
        rc, _, err = self.ternctl("status", token="wrong")
        self.assertEqual(rc, 4)
        self.assertIn("the admin token was refused", err)
        self.assertEqual(self.ternctl("clients", "list", token=None)[0], 4)
        # 1: the node says no
        self.assertEqual(self.ternctl("clients", "show", "nobody")[0], 1)
        self.assertEqual(self.ternctl("retained", "get", "a/+")[0], 1)


if __name__ == "__main__":
    tern.main()
