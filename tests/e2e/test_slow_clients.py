"""Slow and greedy clients against the real binary (spec semantics.md,
Security: "Body, header and connection limits; slow clients time out
without holding memory").

- 500 connections each send one byte every second or so (a request that
  never completes) while signed webhooks keep arriving: every webhook is
  answered promptly, the daemon's memory stays flat, and every slow
  connection is cut off once limits.read_timeout has passed since it opened
  (a one-byte-at-a-time client never trips an inactivity timeout: the
  deadline is for the whole request).
- a complete header with a body trickled in, and an idle keep-alive
  connection, are cut off the same way;
- beyond limits.max_connections a connection is answered 503 at once and
  closed, and served again once others close;
- a keep-alive connection is closed after 1,000 requests."""

import json
import os
import socket
import threading
import time
import unittest
import urllib.request

from flowkit import fake, greenhouse_signature
from harness import Daemon

SECRET = "slow-clients-gh-secret"
READ_TIMEOUT = 3.0
SLOW = 500


def config(gh, cb, extra=""):
    return """
ats = { greenhouse = { client_id = "gh-test-client", client_secret = "gh-test-secret", user_id = "4080",
                       webhook_secret = "%s", base_url = "%s", auth_url = "%s" } }
coderbyte = { api_key = "cb-test-key", organization_id = "acme", base_url = "%s" }
limits = { read_timeout = "%dms", catalog_refresh = "1h"%s }
""" % (SECRET, gh.url, gh.url, cb.url, int(READ_TIMEOUT * 1000), extra)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def webhook(port, n):
    """One signed Greenhouse delivery on its own connection; (status, seconds)."""
    body = json.dumps({"action": "candidate_stage_change", "payload": {"application": {
        "id": 4000100002, "candidate": {"id": 4000010002}, "jobs": [{"id": 4000000101, "name": "Backend Engineer"}],
        "current_stage": {"id": 4000001011, "name": "Application Review"}, "n": n}}}).encode()
    head = ("POST /webhooks/greenhouse HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\nSignature: %s\r\nGreenhouse-Event-ID: slow-%d-%f\r\n\r\n"
            % (len(body), greenhouse_signature(SECRET, body), n, time.time())).encode()
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(head + body)
        data = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
    finally:
        s.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else None
    return status, time.time() - t0


class SlowClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gh = fake("greenhouse")
        cls.cb = fake("coderbyte")

    def start(self, extra=""):
        d = Daemon(config(self.gh, self.cb, extra), {})
        self.addCleanup(d.stop)
        d.start()
        d.port = int(d.url.rsplit(":", 1)[1])
        return d

    def test_500_trickling_connections_do_not_stall_webhooks(self):
        d = self.start()
        for i in range(20):  # warm up: allocator, Lua, journal
            self.assertEqual(webhook(d.port, -i)[0], 200)
        rss0 = rss_kb(d.proc.pid)

        request = b"POST /webhooks/greenhouse HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 10000
        socks = []
        for i in range(SLOW):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            s.setblocking(False)
            socks.append([s, 0, time.time(), None])  # socket, bytes sent, opened, closed at

        stop = threading.Event()
        latencies, statuses = [], []

        def traffic():
            n = 0
            while not stop.is_set():
                st, took = webhook(d.port, n)
                statuses.append(st)
                latencies.append(took)
                n += 1
                time.sleep(0.02)

        t = threading.Thread(target=traffic)
        t.start()
        peak = rss0
        deadline = time.time() + READ_TIMEOUT + 6
        try:
            while time.time() < deadline and any(x[3] is None for x in socks):
                for x in socks:
                    if x[3] is not None:
                        continue
                    try:
                        c = x[0].recv(100)
                        if not c:
                            x[3] = time.time()
                            continue
                    except BlockingIOError:
                        pass
                    except (ConnectionResetError, OSError):
                        x[3] = time.time()
                        continue
                    try:  # one byte per connection per round
                        x[0].send(request[x[1] % len(request):][:1])
                        x[1] += 1
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError, OSError):
                        x[3] = time.time()
                peak = max(peak, rss_kb(d.proc.pid))
                time.sleep(1.0)
        finally:
            stop.set()
            t.join()
            for x in socks:
                x[0].close()

        cut = [x[3] - x[2] for x in socks if x[3] is not None]
        latencies.sort()
        if os.environ.get("ATSFLOW_E2E_VERBOSE"):
            print("\n%d slow connections cut after %.1f-%.1f s; %d webhooks, median %.3f s, max %.3f s; RSS %d -> peak %d KB"
                  % (len(cut), min(cut or [0]), max(cut or [0]), len(latencies), latencies[len(latencies) // 2],
                     latencies[-1], rss0, peak))
        self.assertEqual(len(cut), SLOW, "slow connections still open after %.1f s" % (READ_TIMEOUT + 6))
        self.assertGreaterEqual(min(cut), READ_TIMEOUT - 0.5, "cut off before read_timeout")
        self.assertLessEqual(max(cut), READ_TIMEOUT + 3, "cut off long after read_timeout")
        self.assertTrue(all(x[1] >= 2 for x in socks), "every slow client did trickle bytes")

        self.assertGreater(len(statuses), 20)
        self.assertEqual(set(statuses), {200})
        self.assertLess(latencies[-1], 1.0, "a webhook waited %.2f s" % latencies[-1])
        self.assertLess(latencies[len(latencies) // 2], 0.2)

        self.assertLess(peak - rss0, 64 * 1024, "RSS grew by %d KB" % (peak - rss0))
        text = urllib.request.urlopen(d.url + "/metrics", timeout=5).read().decode()
        timeouts = [l for l in text.splitlines() if l.startswith("atsflow_http_timeouts_total")]
        self.assertTrue(timeouts and float(timeouts[0].split()[-1]) >= SLOW, timeouts)

    def test_trickled_body_and_idle_keepalive_are_cut_off(self):
        d = self.start()
        body = b'{"action":"ping"}'
        slow = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        slow.sendall(b"POST /webhooks/greenhouse HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                     b"Signature: sha256 " + b"0" * 64 + b"\r\n\r\n")
        idle = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(idle.recv(4096).startswith(b"HTTP/1.1 200"))
        t0 = time.time()
        slow.setblocking(False)
        idle.setblocking(False)
        done = {}
        while time.time() - t0 < READ_TIMEOUT + 5 and len(done) < 2:
            for name, s in (("slow", slow), ("idle", idle)):
                if name in done:
                    continue
                try:
                    if not s.recv(4096):
                        done[name] = time.time() - t0
                except BlockingIOError:
                    pass
                except OSError:
                    done[name] = time.time() - t0
            try:
                if "slow" not in done:
                    slow.send(body[:1])
            except OSError:
                pass
            time.sleep(0.25)
        slow.close()
        idle.close()
        self.assertIn("slow", done, "a trickled body was never cut off")
        self.assertIn("idle", done, "an idle keep-alive connection was never closed")
        for name, took in done.items():
            self.assertLessEqual(took, READ_TIMEOUT + 2, "%s cut off after %.1f s" % (name, took))
        self.assertEqual(webhook(d.port, 1)[0], 200)

    def test_a_keepalive_connection_serves_at_most_1000_requests(self):
        d = self.start()
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        f = s.makefile("rb")
        served, closing = 0, None
        for i in range(1001):
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                break
            status = f.readline()
            if not status:
                break
            headers = {}
            while True:
                line = f.readline().strip()
                if not line:
                    break
                k, _, v = line.partition(b":")
                headers[k.strip().lower()] = v.strip()
            f.read(int(headers.get(b"content-length", b"0")))
            served += 1
            if headers.get(b"connection", b"").lower() == b"close":
                closing = served
                break
        s.close()
        self.assertEqual(closing, 1000, "served %d, Connection: close on %s" % (served, closing))

    def test_connections_beyond_the_cap_get_503(self):
        d = self.start(", max_connections = 20")
        held = [socket.create_connection(("127.0.0.1", d.port), timeout=5) for _ in range(20)]
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        t0 = time.time()
        answer = extra.recv(4096)
        extra.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 503"), answer)
        self.assertIn(b"Retry-After", answer)
        self.assertLess(time.time() - t0, 1)
        for s in held:
            s.close()
        time.sleep(0.3)
        self.assertEqual(webhook(d.port, 2)[0], 200)
        text = urllib.request.urlopen(d.url + "/metrics", timeout=5).read().decode()
        self.assertIn("atsflow_http_connections_refused_total{} 1", text)


if __name__ == "__main__":
    unittest.main()
