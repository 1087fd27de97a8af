"""A signed Greenhouse stage-change webhook makes the real binary invite
through the Coderbyte fake and tag + note through the Greenhouse fake."""

import json
import unittest

from harness import Daemon, Fake, greenhouse_signature
from flowkit import brief, invite_note, journaled, show, unique, wait_run

SECRET = "gh-webhook-secret-e2e"
SCRIPT = """
automation {
    name = "Invite backend screen",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action = send_assessment_invite { assessment = "Backend Take-Home", add_tag = "coderbyte-invited", post_note = true },
}
"""


def stage_change(app_id, stage_id, stage_name, job_id=4000000101, job_name="Backend Engineer"):
    return {"action": "candidate_stage_change", "payload": {"application": {
        "id": app_id, "status": "active",
        "candidate": {"id": 4000010001, "first_name": "Ada", "last_name": "Lovelace",
                      "email_addresses": [{"value": "ada@example.com", "type": "personal"}]},
        "jobs": [{"id": job_id, "name": job_name}],
        "current_stage": {"id": stage_id, "name": stage_name}}}}


class GreenhouseFlow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gh = Fake.start("greenhouse")
        cls.cb = Fake.start("coderbyte")
        cfg = """
ats = { greenhouse = { client_id = "gh-test-client", client_secret = "gh-test-secret", user_id = "4080",
                       webhook_secret = "%s", base_url = "%s", auth_url = "%s" } }
coderbyte = { api_key = "cb-test-key", organization_id = "acme", base_url = "%s" }
""" % (SECRET, cls.gh.url, cls.gh.url, cls.cb.url)
        cls.d = Daemon(cfg, {"invite.lua": SCRIPT}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.gh.stop()
        cls.cb.stop()

    def setUp(self):
        self.gh.reset()
        self.cb.reset()

    def send(self, payload, event_id):
        body = json.dumps(payload).encode()
        return self.d.post("greenhouse", body, {
            "Signature": greenhouse_signature(SECRET, body), "Greenhouse-Event-ID": event_id,
            "Content-Type": "application/json"})

    def writes(self, fake):
        return [r for r in fake.requests() if r["method"] != "GET" and r["path"] != "/token"]

    def test_stage_change_invites_tags_and_notes(self):
        r = self.send(stage_change(4000100001, 4000001012, "Technical Screen"), "evt-1")
        self.assertEqual(r.status, 200, r.text)
        self.d.wait_runs("greenhouse:evt-1:")
        invites = self.writes(self.cb)
        self.assertEqual(len(invites), 1, invites)
        self.assertEqual(invites[0]["path"], "/api/v1/assessments/backend-take-home-9x1/invitations")
        self.assertEqual(invites[0]["json"], {"email": "ada@example.com", "name": "Ada Lovelace"})
        self.assertTrue(invites[0]["headers"].get("idempotency-key"))
        gh = self.writes(self.gh)
        paths = [(w["method"], w["path"]) for w in gh]
        self.assertIn(("POST", "/v3/applied_candidate_tags"), paths)
        notes = [w for w in gh if w["path"] == "/v3/notes"]
        self.assertEqual(len(notes), 1)
        self.assertEqual(notes[0]["json"]["candidate_id"], 4000010001)
        self.assertIn("Backend Take-Home", notes[0]["json"]["body"])

    def test_same_delivery_twice_is_a_duplicate_and_sends_nothing_more(self):
        payload = stage_change(4000100001, 4000001012, "Technical Screen")
        self.assertEqual(self.send(payload, "evt-dup").status, 200)
        self.d.wait_runs("greenhouse:evt-dup:")
        before = len(self.writes(self.cb))
        r = self.send(payload, "evt-dup")
        self.assertEqual(r.status, 200)
        self.assertIn("duplicate", r.text)
        self.assertEqual(len(self.writes(self.cb)), before)

    def test_other_stage_is_ignored_with_no_upstream_call(self):
        r = self.send(stage_change(4000100002, 4000001011, "Application Review"), "evt-other")
        self.assertEqual(r.status, 200)
        out = ""
        for _ in range(100):
            out = self.d.cli("events", "--status", "ignored").stdout
            if "greenhouse:evt-other" in out:
                break
        self.assertIn("greenhouse:evt-other", out)
        self.assertEqual(self.writes(self.cb), [])
        self.assertEqual(self.writes(self.gh), [])

    def test_bad_signature_is_401_and_not_journaled(self):
        body = json.dumps(stage_change(4000100001, 4000001012, "Technical Screen")).encode()
        r = self.d.post("greenhouse", body, {"Signature": "sha256 " + "0" * 64,
                                             "Greenhouse-Event-ID": "evt-bad"})
        self.assertEqual(r.status, 401)
        self.assertNotIn("evt-bad", self.d.cli("events").stdout)

    def test_writes_are_exactly_invite_tag_and_note(self):
        event_id = unique("evt-exact")
        self.assertEqual(self.send(stage_change(4000100001, 4000001012, "Technical Screen"),
                                   event_id).status, 200)
        ev_id = "greenhouse:%s:0" % event_id
        run = wait_run(self.d, ev_id)["id"]
        invites = self.writes(self.cb)
        self.assertEqual(brief(invites), [("POST", "/api/v1/assessments/backend-take-home-9x1/invitations",
                                           {}, {"email": "ada@example.com", "name": "Ada Lovelace"})])
        self.assertEqual(invites[0]["headers"]["authorization"], "Bearer cb-test-key")
        self.assertEqual(invites[0]["headers"]["idempotency-key"], "%d:1" % run)
        tag_id = [t["id"] for t in self.gh.state()["candidate_tags"] if t["name"] == "coderbyte-invited"]
        self.assertEqual(len(tag_id), 1)
        note = invite_note("Backend Take-Home", show(self.d, ev_id)["payload"]) + "\n[atsflow:%d:3]" % run
        writes = self.writes(self.gh)
        self.assertEqual(brief(writes), [
            ("POST", "/v3/candidate_tags", {}, {"name": "coderbyte-invited"}),
            ("POST", "/v3/applied_candidate_tags", {},
             {"candidate_id": 4000010001, "candidate_tag_id": tag_id[0]}),
            ("POST", "/v3/notes", {}, {"candidate_id": 4000010001, "body": note, "visibility": "admin_only",
                                       "note_type": "NOTE", "application_id": 4000100001}),
        ])
        live = ["Bearer " + t["access_token"] for t in self.gh.state()["tokens"] if t["live"]]
        for w in writes:
            self.assertIn(w["headers"]["authorization"], live)

    def test_ping_is_200_and_not_journaled(self):
        event_id = unique("evt-ping")
        r = self.send({"action": "ping", "payload": {"web_hook_id": 1}}, event_id)
        self.assertEqual(r.status, 200, r.text)
        self.assertNotIn(event_id, journaled(self.d, "greenhouse"))
        self.assertNotIn(event_id, self.d.cli("events").stdout)
