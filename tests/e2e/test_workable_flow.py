"""Workable end to end: a webhook signed as Workable signs it
(`X-Workable-Signature`: hex HMAC-SHA256 of the raw body) makes the real
binary invite through the Coderbyte fake and tag + comment through the
Workable fake — and nothing else."""

import json
import time
import unittest

from flowkit import (CODERBYTE_KEY, DaemonCase, fake, brief, deliveries, event_rows, invite_note,
                     journaled, non_get, show, unique, wait_event, wait_for, wait_run,
                     workable_signature)

SECRET = "workable-webhook-secret-e2e"
TOKEN = "workable-test-token"
MEMBER = "13e0eb0e"

SCRIPT = """
automation {
    name = "Invite backend screen",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action = send_assessment_invite { assessment = "Backend Take-Home", add_tag = "coderbyte-invited", post_note = true },
}
"""


def moved(cand_id, name, email, stage, shortcode="BACKEND001", title="Backend Engineer", tags=()):
    return {"id": unique("wk"), "event_type": "candidate_moved", "fired_at": "2026-11-28T10:00:00Z",
            "resource_type": "candidate", "data": {
                "id": cand_id, "name": name, "email": email, "stage": stage,
                "job": {"shortcode": shortcode, "title": title},
                "account": {"subdomain": "acme", "name": "Acme"}, "disqualified": False,
                "tags": list(tags)}}


class WorkableFlow(DaemonCase, unittest.TestCase):
    SCRIPTS = {"invite.lua": SCRIPT}

    @classmethod
    def setUpClass(cls):
        cls.wk = fake("workable")
        cls.cb = fake("coderbyte")


    def config(self):
        return """
ats = { workable = { subdomain = "acme", token = "%s", member_id = "%s", webhook_secret = "%s",
                     base_url = "%s" } }
coderbyte = { api_key = "%s", organization_id = "acme", base_url = "%s" }
limits = { catalog_refresh = "1h", retry_base = "50ms" }
""" % (TOKEN, MEMBER, SECRET, self.wk.url, CODERBYTE_KEY, self.cb.url)

    def setUp(self):
        self.wk.reset()
        self.cb.reset()
        self.d = self.start_daemon()

    def send(self, payload, secret=SECRET):
        body = json.dumps(payload).encode()
        return self.d.post("workable", body, {"X-Workable-Signature": workable_signature(secret, body),
                                              "Content-Type": "application/json"})

    @staticmethod
    def event_id(payload):
        return "workable:%s:0" % payload["id"]

    def test_stage_change_invites_tags_and_comments(self):
        # Ada already carries a tag: PUT /tags replaces the list, so it must be kept
        self.wk.control("POST", "update", {"collection": "candidates", "id": "ce4da91",
                                           "set": {"tags": ["referral"]}})
        payload = moved("ce4da91", "Ada Lovelace", "ada@example.com", "Technical Screen")
        r = self.send(payload)
        self.assertEqual(r.status, 200, r.text)
        run = wait_run(self.d, self.event_id(payload))
        ev = show(self.d, self.event_id(payload))["payload"]
        self.assertEqual(ev["candidate"], {"id": "ce4da91", "name": "Ada Lovelace", "emails": ["ada@example.com"]})
        self.assertEqual(ev["job"], {"id": "BACKEND001", "name": "Backend Engineer"})
        self.assertEqual(ev["stage"], {"id": "technical-screen", "name": "Technical Screen"})

        invites = non_get(self.cb)
        self.assertEqual(brief(invites), [("POST", "/api/v1/assessments/backend-take-home-9x1/invitations",
                                           {}, {"email": "ada@example.com", "name": "Ada Lovelace"})])
        self.assertEqual(invites[0]["headers"]["authorization"], "Bearer " + CODERBYTE_KEY)
        self.assertEqual(invites[0]["headers"]["idempotency-key"], "%d:1" % run["id"])

        note = invite_note("Backend Take-Home", ev) + "\n[atsflow:%d:3]" % run["id"]
        writes = non_get(self.wk)
        self.assertEqual(brief(writes), [
            ("PUT", "/spi/v3/candidates/ce4da91/tags", {}, {"tags": ["referral", "coderbyte-invited"]}),
            ("POST", "/spi/v3/candidates/ce4da91/comments", {},
             {"member_id": MEMBER, "comment": {"body": note}}),
        ])
        for w in writes:
            self.assertEqual(w["headers"]["authorization"], "Bearer " + TOKEN)

    def test_comment_sent_but_answer_lost_is_not_posted_twice(self):
        # the comment is written, then the connection drops: the retry looks
        # the marker up in the candidate's activities instead of resending
        self.wk.faults([{"method": "POST", "path_regex": r"/comments$", "drop": True}])
        payload = moved("ce4da91", "Ada Lovelace", "ada@example.com", "Technical Screen")
        self.assertEqual(self.send(payload).status, 200)
        run = wait_run(self.d, self.event_id(payload))
        self.assertEqual(run["attempts"], 2)
        comments = [w for w in non_get(self.wk) if w["path"].endswith("/comments")]
        self.assertEqual(len(comments), 1)
        self.assertTrue(self.wk.requests(path_prefix="/spi/v3/candidates/ce4da91/activities", method="GET"))
        stored = [c for c in self.wk.state()["comments"] if "[atsflow:%d:3]" % run["id"] in c["body"]]
        self.assertEqual(len(stored), 1)
        self.assertEqual(len(non_get(self.cb)), 1)

    def test_stage_nobody_refers_to_is_ignored_without_writes(self):
        payload = moved("ce4da92", "Alan Turing", "alan.turing@example.com", "Applied")
        self.assertEqual(self.send(payload).status, 200)
        row = wait_event(self.d, self.event_id(payload), "ignored")
        self.assertIn("no automation refers to", row)
        self.assertEqual(non_get(self.cb), [])
        self.assertEqual(non_get(self.wk), [])

    def test_duplicate_delivery_is_answered_once(self):
        payload = moved("ce4da91", "Ada Lovelace", "ada@example.com", "Technical Screen")
        self.assertEqual(self.send(payload).status, 200)
        wait_run(self.d, self.event_id(payload))
        r = self.send(payload)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text.strip(), "duplicate")
        time.sleep(0.2)
        self.assertEqual(len(non_get(self.cb)), 1)
        self.assertEqual(len([e for e in event_rows(self.d) if e[1] == self.event_id(payload)]), 1)

    def test_event_type_atsflow_does_not_use_is_200_without_calls(self):
        # Workable documents no ping or connection test: the nearest thing is
        # a subscribed event atsflow has no use for (candidate_created)
        payload = moved("ce4da95", "Katherine Johnson", "katherine@example.com", "Applied",
                        shortcode="FRONTEND02", title="Frontend Engineer")
        payload["event_type"] = "candidate_created"
        r = self.send(payload)
        self.assertEqual(r.status, 200, r.text)
        status = wait_for(lambda: deliveries(self.d, "workable").get(payload["id"], (None,))[0]
                          not in (None, "accepted") and deliveries(self.d, "workable")[payload["id"]],
                          what="delivery processed")
        self.assertEqual(status, ("ignored", "no event atsflow uses"))
        self.assertNotIn(payload["id"], self.d.cli("events").stdout)
        self.assertEqual(non_get(self.cb), [])
        self.assertEqual(non_get(self.wk), [])

    def test_bad_signature_is_401_and_not_journaled(self):
        payload = moved("ce4da91", "Ada Lovelace", "ada@example.com", "Technical Screen")
        self.assertEqual(self.send(payload, secret="wrong").status, 401)
        body = json.dumps(payload).encode()
        self.assertEqual(self.d.post("workable", body, {}).status, 401)
        # a signature over other bytes (re-serialised JSON) does not pass
        other = json.dumps(payload, indent=1).encode()
        self.assertEqual(self.d.post("workable", body, {
            "X-Workable-Signature": workable_signature(SECRET, other)}).status, 401)
        self.assertNotIn(payload["id"], self.d.cli("events").stdout)
        self.assertEqual(journaled(self.d, "workable"), [])
        self.assertEqual(non_get(self.cb), [])
        self.assertEqual(non_get(self.wk), [])


if __name__ == "__main__":
    unittest.main()
