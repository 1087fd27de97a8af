"""Never lose, never double: the real binary takes thousands of signed
Greenhouse webhooks from a few client threads while it is SIGKILLed at random
moments and restarted on the same database. Afterwards every acknowledged
delivery is journaled exactly once, every run it caused succeeded, and the fakes
saw no duplicate invitation, note, tag or move.

Sizes come from the environment (ATSFLOW_CHAOS_WEBHOOKS, _KILLS, _CLIENTS,
_MATCHING, _SEED) so the same test can be run longer by hand."""

import collections
import os
import random
import threading
import time
import unittest

import chaos
from harness import Fake

WEBHOOKS = int(os.environ.get("ATSFLOW_CHAOS_WEBHOOKS", "5000"))
KILLS = int(os.environ.get("ATSFLOW_CHAOS_KILLS", "22"))
CLIENTS = int(os.environ.get("ATSFLOW_CHAOS_CLIENTS", "4"))
MATCHING = int(os.environ.get("ATSFLOW_CHAOS_MATCHING", "60"))
SEED = int(os.environ.get("ATSFLOW_CHAOS_SEED", "20261128"))
CANDIDATES = 400
DUPLICATE_RATE = 0.08


def deliveries(rng):
    """[(event_id, payload, matching)] in send order, duplicates included."""
    items = [("m-%05d" % i, chaos.stage_change(i, chaos.STAGE["screen"]), True)
             for i in range(MATCHING)]
    others = [chaos.STAGE["review"], chaos.STAGE["onsite"], chaos.STAGE["offer"],
              chaos.STAGE["takehome"]]
    for n in range(WEBHOOKS - MATCHING):
        i = rng.randrange(CANDIDATES)
        if rng.random() < 0.3:  # same stage name, other job: must not match
            payload = chaos.stage_change(i, rng.choice(chaos.FRONTEND_STAGES), chaos.FRONTEND_JOB)
        else:
            payload = chaos.stage_change(i, rng.choice(others))
        items.append(("o-%05d" % n, payload, False))
    rng.shuffle(items)
    out = list(items)
    for item in rng.sample(items, int(len(items) * DUPLICATE_RATE)):
        out.insert(rng.randrange(len(out) + 1), item)  # the upstream delivers it again
    return out


class Durability(unittest.TestCase):
    def setUp(self):
        self.rng = random.Random(SEED)
        self.gh = Fake.start("greenhouse", seed=chaos.greenhouse_seed(CANDIDATES))
        self.cb = Fake.start("coderbyte")
        self.node = chaos.Node(chaos.greenhouse_config(self.gh, self.cb),
                               {"invite.lua": chaos.SCRIPT})

    def tearDown(self):
        self.node.stop()
        self.gh.stop()
        self.cb.stop()

    def test_kill_9_loses_nothing_and_doubles_nothing(self):
        started = time.time()
        node = self.node.start()
        todo = collections.deque(deliveries(self.rng))
        sent_total = len(todo)
        lock = threading.Lock()
        acked = collections.Counter()     # event id -> 2xx answers
        answers = collections.Counter()   # answer text -> count
        failures = collections.Counter()  # status -> count (0 = connection cut)
        intake_done = threading.Event()
        restarting = threading.Event()
        broken = []  # errors of the helper threads

        def client():
            while True:
                with lock:
                    if not todo:
                        return
                    event_id, payload, _ = todo.popleft()
                body, headers = chaos.signed(payload, event_id)
                while not broken:  # an upstream retries until it gets a 2xx
                    status, text = node.webhook(body, headers)
                    if 200 <= status < 300:
                        with lock:
                            acked[event_id] += 1
                            answers[text.strip()] += 1
                        break
                    with lock:
                        failures[status] += 1
                    if status not in (0, 503):
                        broken.append("webhook answered %d: %s" % (status, text))
                    time.sleep(0.02 if not restarting.is_set() else 0.05)

        kills = []
        kills_at_intake_end = [KILLS]

        def killer():
            krng = random.Random(SEED + 1)
            try:
                # at least KILLS in all, and a few while runs execute after the intake
                while not broken and not (intake_done.is_set() and len(kills) >= KILLS
                                          and len(kills) - kills_at_intake_end[0] >= 4):
                    time.sleep(krng.uniform(0.15, 1.2))
                    restarting.set()
                    node.kill()
                    kills.append(time.time())
                    node.start()
                    restarting.clear()
            except Exception as e:  # noqa: BLE001 - reported by the test
                broken.append("restart failed: %s" % e)

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        k = threading.Thread(target=killer)
        for t in threads:
            t.start()
        k.start()
        for t in threads:
            t.join()
        intake_s = time.time() - started
        kills_at_intake_end[0] = len(kills)
        intake_done.set()
        k.join()
        self.assertEqual(broken, [])
        self.assertEqual(sum(acked.values()), sent_total)

        # the last incarnation finishes everything
        left = chaos.wait_runs_done(node, 240)
        self.assertEqual(left, [], "runs still unfinished:\n%s\n%s" % (
            "\n".join(left)[:2000], node.logs()[-3000:]))
        done_s = time.time() - started
        self.assertEqual(node.terminate(), 0, node.logs()[-2000:])

        # every acknowledged delivery is in the journal exactly once
        rows = node.query("SELECT delivery_key, count(*) FROM deliveries"
                          " WHERE source = 'greenhouse' GROUP BY delivery_key")
        journaled = dict(rows)
        self.assertEqual(set(journaled), set(acked), "journaled deliveries differ from acknowledged ones")
        doubled = {k: n for k, n in journaled.items() if n != 1}
        self.assertEqual(doubled, {})
        statuses = dict(node.query("SELECT status, count(*) FROM deliveries GROUP BY status"))
        self.assertEqual(set(statuses) - {"processed", "ignored"}, set(), statuses)
        self.assertEqual(node.query("PRAGMA integrity_check"), [("ok",)])

        # every matching delivery made one run, and it succeeded
        runs = node.query("SELECT r.status, e.id FROM runs r JOIN events e ON e.id = r.event_id")
        resumed = node.query("SELECT count(*) FROM runs WHERE attempts > 1")[0][0]
        matching = sorted("greenhouse:m-%05d:0" % i for i in range(MATCHING))
        self.assertEqual(sorted(e for _, e in runs), matching)
        self.assertEqual([s for s, _ in runs if s != "succeeded"], [])

        # the upstreams saw each write once
        self.assertEqual(chaos.duplicates_in_logs(self.gh, self.cb), [])
        gh, cb = self.gh.state(), self.cb.state()
        invited = sorted(i["email"] for i in cb["invitations"] if i["email"].startswith("cand"))
        self.assertEqual(invited, [chaos.email(i) for i in range(MATCHING)])
        moved = sorted(m["application_id"] for m in gh["moves"])
        self.assertEqual(moved, [chaos.APP0 + i for i in range(MATCHING)])
        noted = sorted(n["candidate_id"] for n in gh["notes"] if chaos.MARKER.search(n["body"]))
        self.assertEqual(noted, [chaos.CAND0 + i for i in range(MATCHING)])
        tagged = sorted(t["candidate_id"] for t in gh["applied_candidate_tags"]
                        if t["candidate_id"] >= chaos.CAND0)
        self.assertEqual(tagged, [chaos.CAND0 + i for i in range(MATCHING)])

        print("\n  durability: %d webhooks (%d distinct) in %.1fs = %.0f/s with %d clients;"
              " %d SIGKILLs (%d during intake); answers %s; refused/cut %s; %d runs all"
              " succeeded (%d after more than one attempt); total %.1fs"
              % (sent_total, len(acked), intake_s, sent_total / intake_s, CLIENTS, len(kills),
                 sum(1 for t in kills if t <= started + intake_s), dict(answers),
                 dict(failures), len(runs), resumed, done_s))


if __name__ == "__main__":
    unittest.main()
