"""SIGTERM: intake stops at once (503 to new webhooks, /healthz 503) while the
in-flight upstream calls finish and their steps are recorded; the daemon exits
with 0; after a restart the unfinished runs resume, and nothing acknowledged
is lost or done twice."""

import collections
import threading
import time
import unittest

import chaos
from harness import Fake

MATCHING = 12
OTHERS = 400
STALL = 1.5  # s the fake Greenhouse holds each of the first two note answers


class Shutdown(unittest.TestCase):
    def setUp(self):
        self.gh = Fake.start("greenhouse", seed=chaos.greenhouse_seed(OTHERS))
        self.cb = Fake.start("coderbyte")
        self.node = chaos.Node(chaos.greenhouse_config(self.gh, self.cb),
                               {"invite.lua": chaos.SCRIPT})

    def tearDown(self):
        self.node.stop()
        self.gh.stop()
        self.cb.stop()

    def test_idle_daemon_stops_at_once_with_0(self):
        node = self.node.start()
        t = time.time()
        self.assertEqual(node.terminate(10), 0, node.logs())
        self.assertLess(time.time() - t, 3)

    def test_sigterm_drains_in_flight_work_and_loses_nothing(self):
        node = self.node.start()
        chaos.wait_catalog(node, ["greenhouse", "coderbyte"])
        # the notes atsflow posts are written at once but answered late: at the
        # SIGTERM there is an upstream call in flight
        self.gh.faults([{"method": "POST", "path_regex": r"^/v3/notes$", "stall": STALL, "times": 2}])
        items = [("m-%d" % i, chaos.stage_change(i, chaos.STAGE["screen"])) for i in range(MATCHING)]
        items += [("o-%d" % i, chaos.stage_change(i, chaos.STAGE["onsite"])) for i in range(OTHERS)]
        items = items[::2] + items[1::2]  # spread the matching ones
        todo = collections.deque(items)
        lock = threading.Lock()
        acked, refused, draining_texts = set(), [], []
        after_503 = []  # 2xx answers a client got after it had seen a 503
        term_sent = threading.Event()

        def client():
            seen_503 = False
            while True:
                with lock:
                    if not todo:
                        return
                    event_id, payload = todo.popleft()
                body, headers = chaos.signed(payload, event_id)
                status, text = node.webhook(body, headers)
                with lock:
                    if 200 <= status < 300:
                        acked.add(event_id)
                        if seen_503:
                            after_503.append(event_id)
                    else:
                        refused.append((event_id, payload))
                        if status == 503:
                            seen_503 = True
                            draining_texts.append(text)
                if not node.alive():
                    with lock:  # stopped: the rest is retried after the restart
                        refused.extend(todo)
                        todo.clear()
                    return
                if term_sent.is_set():
                    time.sleep(0.01)

        threads = [threading.Thread(target=client) for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.time() + 30
        while not any(r["fault"] for r in self.gh.requests(path_prefix="/v3/notes")):
            self.assertLess(time.time(), deadline, "no note was posted: " + node.logs()[-2000:])
            time.sleep(0.05)
        node.proc.send_signal(15)
        term_at = time.time()
        term_sent.set()
        healthz = 200
        while healthz == 200 and time.time() < term_at + 5:  # until the signal is handled
            healthz = node.healthz()
        # the stalled note keeps the daemon draining: a webhook now must be refused
        # (the clients alone may all have finished before the signal)
        if node.alive():
            body, headers = chaos.signed(chaos.stage_change(MATCHING + OTHERS + 1, chaos.STAGE["screen"]),
                                         "late-after-term")
            status, text = node.webhook(body, headers)
            if status == 503:
                with lock:
                    draining_texts.append(text)
            else:
                self.assertFalse(node.alive(), "a webhook was accepted while draining: %d" % status)
        rc = node.proc.wait(30)
        stopped_in = time.time() - term_at
        node.log.close()
        for t in threads:
            t.join()

        self.assertEqual(rc, 0, node.logs()[-3000:])
        self.assertEqual(healthz, 503, "/healthz while draining")
        self.assertTrue(draining_texts, "no webhook was refused while draining")
        self.assertTrue(all("draining" in t for t in draining_texts), draining_texts)
        self.assertEqual(after_503, [], "webhooks accepted after a 503")
        # everything acknowledged before the stop is journaled
        journaled = dict(node.query("SELECT delivery_key, count(*) FROM deliveries GROUP BY delivery_key"))
        self.assertEqual(acked - set(journaled), set(), "acknowledged but not journaled")
        # the calls in flight at the SIGTERM finished and their steps were recorded
        answered_notes = [r for r in self.gh.requests(path_prefix="/v3/notes", method="POST")
                          if r["status"] == 201]
        recorded = node.query("SELECT count(*) FROM steps WHERE kind = 'add_note' AND status = 'ok'")[0][0]
        self.assertGreaterEqual(recorded, len(answered_notes),
                                "a note the ATS answered was not recorded before the exit")
        acked_before_stop = len(acked)
        left_at_stop = node.query("SELECT count(*) FROM runs WHERE status != 'succeeded'")[0][0]

        # the upstream retries what was refused; the restarted daemon resumes the rest
        node.start()
        for event_id, payload in refused:
            body, headers = chaos.signed(payload, event_id)
            status, text = node.webhook(body, headers)
            self.assertEqual(status, 200, text)
            acked.add(event_id)
        self.assertEqual(chaos.wait_runs_done(node, 90), [], node.logs()[-3000:])
        self.assertEqual(node.terminate(), 0)

        rows = dict(node.query("SELECT delivery_key, count(*) FROM deliveries GROUP BY delivery_key"))
        self.assertEqual(set(rows), {k for k, _ in items})
        self.assertEqual({k: n for k, n in rows.items() if n != 1}, {})
        runs = node.query("SELECT status FROM runs")
        self.assertEqual(len(runs), MATCHING)
        self.assertEqual({s for (s,) in runs}, {"succeeded"})
        self.assertEqual(chaos.duplicates_in_logs(self.gh, self.cb), [])
        self.assertEqual(len(self.gh.state()["moves"]), MATCHING)
        print("\n  shutdown: stopped %.1fs after SIGTERM (rc 0); %d webhooks acknowledged before,"
              " %d answered 503 while draining; %d runs unfinished at the stop, all %d succeeded after"
              " the restart" % (stopped_in, acked_before_stop, len(draining_texts),
                                left_at_stop, len(runs)))


if __name__ == "__main__":
    unittest.main()
