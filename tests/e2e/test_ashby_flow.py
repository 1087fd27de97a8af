"""Ashby end to end: a webhook signed as Ashby signs it (`Ashby-Signature:
sha256=<hex HMAC-SHA256 of the raw body>`) makes the real binary invite
through the Coderbyte fake and tag + note through the Ashby fake — and
nothing else. Every Ashby call is a POST, so writes are told from reads by
the RPC method."""

import json
import time
import unittest

from flowkit import (CODERBYTE_KEY, DaemonCase, fake, ashby_signature, basic, brief, event_rows,
                     invite_note, journaled, non_get, show, unique, wait_event, wait_run)

SECRET = "ashby-webhook-secret-e2e"
API_KEY = "ashby-test-key"
READS = {"/job.list", "/job.info", "/interviewStage.list", "/application.info",
         "/candidate.search", "/candidate.info", "/candidate.listNotes", "/candidateTag.list"}
ADA = "ca4d0000-0000-4000-8000-000000000001"
ADA_APP = "a9900000-0000-4000-8000-000000000001"
ALAN = "ca4d0000-0000-4000-8000-000000000002"
ALAN_APP = "a9900000-0000-4000-8000-000000000002"
BACKEND = "10b00000-0000-4000-8000-000000000001"
REVIEW = "57a90000-0000-4000-8000-000000000011"
TECH = "57a90000-0000-4000-8000-000000000012"

SCRIPT = """
automation {
    name = "Invite backend screen",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action = send_assessment_invite { assessment = "Backend Take-Home", add_tag = "coderbyte-invited", post_note = true },
}
"""


def stage_change(app_id, cand_id, name, email, stage_id, stage_title):
    return {"webhookActionId": unique("wha"), "action": "candidateStageChange", "data": {
        "application": {
            "id": app_id, "status": "Active",
            "candidate": {"id": cand_id, "name": name,
                          "primaryEmailAddress": {"value": email, "type": "Personal", "isPrimary": True}},
            "currentInterviewStage": {"id": stage_id, "title": stage_title, "type": "Active"},
            "job": {"id": BACKEND, "title": "Backend Engineer"}}}}


def ashby_writes(fake):
    return [r for r in non_get(fake) if r["path"] not in READS]


class AshbyFlow(DaemonCase, unittest.TestCase):
    SCRIPTS = {"invite.lua": SCRIPT}

    @classmethod
    def setUpClass(cls):
        cls.ashby = fake("ashby")
        cls.cb = fake("coderbyte")


    def config(self):
        return """
ats = { ashby = { api_key = "%s", webhook_secret = "%s", base_url = "%s" } }
coderbyte = { api_key = "%s", organization_id = "acme", base_url = "%s" }
limits = { catalog_refresh = "1h" }
""" % (API_KEY, SECRET, self.ashby.url, CODERBYTE_KEY, self.cb.url)

    def setUp(self):
        self.ashby.reset()
        self.cb.reset()
        self.d = self.start_daemon()

    def send(self, payload, secret=SECRET):
        body = json.dumps(payload).encode()
        return self.d.post("ashby", body, {"Ashby-Signature": ashby_signature(secret, body),
                                           "Content-Type": "application/json"})

    @staticmethod
    def event_id(payload):
        return "ashby:%s:%s:0" % (payload["webhookActionId"], payload["action"])

    def test_stage_change_invites_tags_and_notes(self):
        payload = stage_change(ADA_APP, ADA, "Ada Lovelace", "ada@example.com", TECH, "Technical Screen")
        r = self.send(payload)
        self.assertEqual(r.status, 200, r.text)
        run = wait_run(self.d, self.event_id(payload))
        ev = show(self.d, self.event_id(payload))["payload"]
        self.assertEqual(ev["candidate"], {"id": ADA, "name": "Ada Lovelace", "emails": ["ada@example.com"]})
        self.assertEqual(ev["job"], {"id": BACKEND, "name": "Backend Engineer"})
        self.assertEqual(ev["stage"], {"id": TECH, "name": "Technical Screen"})

        invites = non_get(self.cb)
        self.assertEqual(brief(invites), [("POST", "/api/v1/assessments/backend-take-home-9x1/invitations",
                                           {}, {"email": "ada@example.com", "name": "Ada Lovelace"})])
        self.assertEqual(invites[0]["headers"]["authorization"], "Bearer " + CODERBYTE_KEY)
        self.assertEqual(invites[0]["headers"]["idempotency-key"], "%d:1" % run["id"])

        tag = [t for t in self.ashby.state()["candidate_tags"] if t["title"] == "coderbyte-invited"]
        self.assertEqual(len(tag), 1)
        note = invite_note("Backend Take-Home", ev) + "\n[atsflow:%d:3]" % run["id"]
        writes = ashby_writes(self.ashby)
        self.assertEqual(brief(writes), [
            ("POST", "/candidateTag.create", {}, {"title": "coderbyte-invited"}),
            ("POST", "/candidate.addTag", {}, {"candidateId": ADA, "tagId": tag[0]["id"]}),
            ("POST", "/candidate.createNote", {}, {"candidateId": ADA, "note": note}),
        ])
        for w in writes:
            self.assertEqual(w["headers"]["authorization"], basic(API_KEY))
        ada = [c for c in self.ashby.state()["candidates"] if c["id"] == ADA][0]
        self.assertEqual(ada["tagIds"], [tag[0]["id"]])

    def test_stage_nobody_refers_to_is_ignored_without_writes(self):
        payload = stage_change(ALAN_APP, ALAN, "Alan Turing", "alan.turing@example.com", REVIEW,
                               "Application Review")
        self.assertEqual(self.send(payload).status, 200)
        row = wait_event(self.d, self.event_id(payload), "ignored")
        self.assertIn("no automation refers to", row)
        self.assertEqual(non_get(self.cb), [])
        self.assertEqual(ashby_writes(self.ashby), [])

    def test_duplicate_delivery_is_answered_once(self):
        payload = stage_change(ADA_APP, ADA, "Ada Lovelace", "ada@example.com", TECH, "Technical Screen")
        self.assertEqual(self.send(payload).status, 200)
        wait_run(self.d, self.event_id(payload))
        r = self.send(payload)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text.strip(), "duplicate")
        time.sleep(0.2)
        self.assertEqual(len(non_get(self.cb)), 1)
        self.assertEqual(len([e for e in event_rows(self.d) if e[1] == self.event_id(payload)]), 1)

    def test_bad_signature_is_401_and_not_journaled(self):
        payload = stage_change(ADA_APP, ADA, "Ada Lovelace", "ada@example.com", TECH, "Technical Screen")
        self.assertEqual(self.send(payload, secret="wrong-secret").status, 401)
        body = json.dumps(payload).encode()
        # unsigned (Ashby only signs when a secret is set; atsflow requires one)
        self.assertEqual(self.d.post("ashby", body, {"Content-Type": "application/json"}).status, 401)
        # the Greenhouse header form is not Ashby's
        self.assertEqual(self.d.post("ashby", body, {
            "Ashby-Signature": "sha256 " + ashby_signature(SECRET, body)[7:]}).status, 401)
        self.assertNotIn(payload["webhookActionId"], self.d.cli("events").stdout)
        self.assertEqual(journaled(self.d, "ashby"), [])
        self.assertEqual(non_get(self.cb), [])
        self.assertEqual(ashby_writes(self.ashby), [])

    def test_ping_is_200_and_not_journaled(self):
        r = self.send({"action": "ping", "webhookActionId": unique("ping")})
        self.assertEqual(r.status, 200, r.text)
        r = self.send({"action": "ping"})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(journaled(self.d, "ashby"), [])
        self.assertEqual(self.d.cli("events").stdout.splitlines()[1:], [])


if __name__ == "__main__":
    unittest.main()
