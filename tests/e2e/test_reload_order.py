"""Runs of one candidate keep event order across a reload (spec semantics.md,
"Actions" and "Hot reload"). Version A's run for candidate X is kept busy by a
stalled Greenhouse answer; the scripts are reloaded (SIGHUP) to version B, and
a second event for X and one for candidate Y arrive. From the fake's request
log: B's run for X sends nothing until A's run for X has finished, while B's
run for Y goes ahead during the stall. Each run finishes on the version that
queued it."""

import json
import http.client
import os
import signal
import time
import unittest

import chaos
from harness import Fake

STALL = 4.0  # s: A's first note for X is answered this late


def script(v):
    return """
automation {
    name = "order %s",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action = function(e)
        ats.add_note(e, "%s first")
        ats.add_note(e, "%s second")
    end,
}
""" % (v, v, v)


def status(node):
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=5)
    try:
        conn.request("GET", "/status")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def wait_for(what, pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class ReloadOrder(unittest.TestCase):
    def setUp(self):
        self.gh = Fake.start("greenhouse", seed=chaos.greenhouse_seed(2))
        self.cb = Fake.start("coderbyte")
        self.node = chaos.Node(chaos.greenhouse_config(self.gh, self.cb), {"order.lua": script("A")})

    def tearDown(self):
        self.node.stop()
        self.gh.stop()
        self.cb.stop()

    def send(self, node, i, event_id):
        body, headers = chaos.signed(chaos.stage_change(i, chaos.STAGE["screen"]), event_id)
        status_code, text = node.webhook(body, headers)
        self.assertEqual(status_code, 200, text)

    def notes(self):
        """{(candidate index, text): (arrival time, seq)} of every note posted."""
        out = {}
        for r in self.gh.requests(path_prefix="/v3/notes", method="POST"):
            j = r["json"] or {}
            out[(j.get("candidate_id") - chaos.CAND0, j.get("body", "").split("\n")[0])] = \
                (r["time"], r["seq"])
        return out

    def test_a_candidates_run_in_the_new_version_waits_for_the_old_versions_run(self):
        node = self.node.start()
        chaos.wait_catalog(node, ["greenhouse", "coderbyte"])
        version_a = status(node)["scripts_version"]
        self.gh.faults([{"method": "POST", "path_regex": r"^/v3/notes$", "stall": STALL}])
        self.send(node, 0, "x-1")
        wait_for("A's stalled note for X", lambda: (0, "A first") in self.notes())

        with open(os.path.join(self.node.dir, "scripts", "order.lua"), "w") as f:
            f.write(script("B"))
        node.proc.send_signal(signal.SIGHUP)
        version_b = wait_for("version B", lambda: (lambda v: v != version_a and v)(
            status(node)["scripts_version"]))
        self.send(node, 0, "x-2")
        self.send(node, 1, "y-1")
        self.assertEqual(chaos.wait_runs_done(node, 60), [], node.logs()[-3000:])

        runs = node.query("SELECT e.delivery_id, r.automation, r.script_version, r.status FROM runs r"
                          " JOIN events e ON e.id = r.event_id ORDER BY r.id")
        self.assertEqual([(a, v, s) for _, a, v, s in runs],
                         [("order A", version_a, "succeeded"), ("order B", version_b, "succeeded"),
                          ("order B", version_b, "succeeded")])
        n = self.notes()
        self.assertEqual(sorted(n), [(0, "A first"), (0, "A second"), (0, "B first"),
                                     (0, "B second"), (1, "B first"), (1, "B second")])
        stalled_until = n[(0, "A first")][0] + STALL
        a_done = n[(0, "A second")][0]
        # X's run in B starts only once A's run for X has finished
        self.assertGreaterEqual(a_done, stalled_until - 0.05)
        self.assertGreater(n[(0, "B first")][1], n[(0, "A second")][1])
        self.assertGreater(n[(0, "B first")][0], a_done)
        # Y's run in B went ahead while X's was held
        self.assertLess(n[(1, "B second")][0], stalled_until)
        print("\n  reload order: A's X run held until %.2fs; B's Y run done at %.2fs;"
              " B's X run started at %.2fs (after the stall)"
              % (a_done - n[(0, "A first")][0], n[(1, "B second")][0] - n[(0, "A first")][0],
                 n[(0, "B first")][0] - n[(0, "A first")][0]))


if __name__ == "__main__":
    unittest.main()
