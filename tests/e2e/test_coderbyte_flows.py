"""Coderbyte flows end to end against Greenhouse: the real binary (`atsflow
serve`) with the Greenhouse and Coderbyte fakes on 127.0.0.1. What the world
tests (tests/lua/coderbyte_flows_test.lua, sandbox ATS) cannot show:

- a Coderbyte completion links back to the Greenhouse application atsflow
  invited (64-bit ids), so the note and the move reach exactly that
  application, though Greenhouse has two candidates with the email (Grace)
  or the candidate has two applications (Ada);
- without an invitation the email search reaches both Greenhouse duplicates;
- a completion for an assessment no automation refers to makes no call to
  Greenhouse at all and no report fetch from Coderbyte.

Writes are every non-GET request but the OAuth token exchange (POST /token)."""

import hashlib
import json
import unittest

from flowkit import (CODERBYTE_KEY, CODERBYTE_ORG, DaemonCase, coderbyte_jwt, fake,
                     greenhouse_signature, run_rows, unique, wait_catalog, wait_event, wait_for)

SECRET = "gh-webhook-secret-e2e-cb"
BACKEND_JOB = 4000000101
TECH_SCREEN = 4000001012
ONSITE = 4000001014

ADA = {"id": 4000010001, "first": "Ada", "last": "Lovelace", "email": "ada@example.com"}
GRACE = {"id": 4000010003, "first": "Grace", "last": "Hopper", "email": "grace@example.com"}
GRACE_DUP = 4000010004
ADA_APP, GRACE_APP, GRACE_DUP_APP = 4000100001, 4000100003, 4000100004

SCRIPTS = {
    "flows.lua": """
automation {
    name    = "Invite backend screen",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action  = send_assessment_invite { assessment = "Backend Take-Home" },
}
automation {
    name    = "Post backend report",
    trigger = assessment_completed { assessment = "Backend Take-Home" },
    action  = post_report_details {},
}
automation {
    name       = "Move qualified to Onsite",
    trigger    = assessment_completed { assessment = "Backend Take-Home" },
    conditions = { qualified, cheating_not_detected },
    match      = "all",
    action     = move_to_stage { job = "Backend Engineer", stage = "Onsite" },
}
"""
}

REPORT = "https://coderbyte.com/report/backend-take-home-9x1/"


def stage_change(cand, app_id, stage_id, stage_name):
    return {"action": "candidate_stage_change", "payload": {"application": {
        "id": app_id, "status": "active",
        "candidate": {"id": cand["id"], "first_name": cand["first"], "last_name": cand["last"],
                      "email_addresses": [{"value": cand["email"], "type": "personal"}]},
        "jobs": [{"id": BACKEND_JOB, "name": "Backend Engineer"}],
        "current_stage": {"id": stage_id, "name": stage_name}}}}


def report_note(email_slug, run, step):
    return "Coderbyte report for assessment Backend Take-Home: %s%s\n[atsflow:%d:%d]" % (
        REPORT, email_slug, run, step)


class CoderbyteFlows(DaemonCase, unittest.TestCase):
    SCRIPTS = SCRIPTS

    @classmethod
    def setUpClass(cls):
        cls.gh = fake("greenhouse")
        cls.cb = fake("coderbyte")

    def setUp(self):
        self.gh.reset()
        self.cb.reset()
        self.d = self.start_daemon()
        wait_catalog(self.d, ["greenhouse", "coderbyte"])
        self.gh_since = self.last_seq(self.gh)
        self.cb_since = self.last_seq(self.cb)

    def config(self):
        return """
ats = { greenhouse = { client_id = "gh-test-client", client_secret = "gh-test-secret", user_id = "4080",
                       webhook_secret = "%s", base_url = "%s", auth_url = "%s" } }
coderbyte = { api_key = "%s", organization_id = "%s", base_url = "%s" }
""" % (SECRET, self.gh.url, self.gh.url, CODERBYTE_KEY, CODERBYTE_ORG, self.cb.url)

    # ---- helpers

    @staticmethod
    def last_seq(f):
        reqs = f.requests()
        return reqs[-1]["seq"] if reqs else 0

    def after(self, f, since):
        return [r for r in f.requests() if r["seq"] > since]

    def writes(self, f):
        since = self.gh_since if f is self.gh else self.cb_since
        return [(r["method"], r["path"], r["json"]) for r in self.after(f, since)
                if r["method"] != "GET" and r["path"] != "/token"]

    def move(self, cand, app_id):
        event_id = unique("evt")
        body = json.dumps(stage_change(cand, app_id, TECH_SCREEN, "Technical Screen")).encode()
        r = self.d.post("greenhouse", body, {"Signature": greenhouse_signature(SECRET, body),
                                             "Greenhouse-Event-ID": event_id,
                                             "Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.text)
        self.wait_runs("greenhouse:" + event_id, 1)

    def complete(self, email, assessment_id, runs):
        """Posts a signed assessment_completed; waits for `runs` succeeded
        runs of its event (0: waits until the event is journaled ignored)."""
        body = json.dumps({"operation": "assessment_completed", "organization_id": CODERBYTE_ORG,
                           "email": email, "assessment_id": assessment_id, "time_expired": False,
                           "report_ready": True}).encode()
        r = self.d.post("coderbyte", body, {"Authorization": "Bearer " + coderbyte_jwt(),
                                            "Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.text)
        prefix = "coderbyte:" + hashlib.sha256(body).hexdigest()
        if runs == 0:
            return wait_event(self.d, prefix, "ignored")
        self.wait_runs(prefix, runs)
        return prefix

    def wait_runs(self, prefix, n):
        def done():
            rows = [r for r in run_rows(self.d) if prefix in r["line"]]
            return len(rows) == n and all(r["status"] in ("succeeded", "dead") for r in rows) and rows
        rows = wait_for(done, what="%d runs of %s" % (n, prefix))
        self.assertEqual([r["status"] for r in rows], ["succeeded"] * n, [r["line"] for r in rows])

    # ---- tests

    def test_completion_links_to_the_invited_application_not_the_duplicate(self):
        self.move(GRACE, GRACE_APP)
        self.assertEqual(self.writes(self.cb), [
            ("POST", "/api/v1/assessments/backend-take-home-9x1/invitations",
             {"email": "grace@example.com", "name": "Grace Hopper"})])
        gh_before = self.last_seq(self.gh)
        # Grace's seeded report: qualified, plagiarism Detected -> no move
        self.complete("grace@example.com", "backend-take-home-9x1", 1)
        self.assertEqual(self.writes(self.gh), [
            ("POST", "/v3/notes", {"candidate_id": GRACE["id"], "application_id": GRACE_APP,
                                   "body": report_note("grace", 2, 1),
                                   "visibility": "admin_only", "note_type": "NOTE"})])
        searches = [r for r in self.after(self.gh, gh_before) if r["path"] == "/v3/candidates"]
        self.assertEqual(searches, [], "linked: no email search")

    def test_linked_completion_moves_and_notes_the_invited_application(self):
        self.move(ADA, ADA_APP)
        # Ada's seeded report: qualified, Not detected -> the move runs too
        self.complete("ada@example.com", "backend-take-home-9x1", 2)
        writes = self.writes(self.gh)
        self.assertEqual(sorted(writes, key=lambda w: w[1]), [
            ("POST", "/v3/applications/%d/move" % ADA_APP,
             {"from_stage_id": TECH_SCREEN, "to_stage_id": ONSITE}),
            ("POST", "/v3/notes", {"candidate_id": ADA["id"], "application_id": ADA_APP,
                                   "body": report_note("ada", 2, 1),
                                   "visibility": "admin_only", "note_type": "NOTE"}),
        ])

    def test_without_an_invitation_the_email_search_reaches_both_duplicates(self):
        self.complete("grace@example.com", "backend-take-home-9x1", 1)
        searches = [(r["method"], r["path"], r["query"].get("email"))
                    for r in self.after(self.gh, self.gh_since) if r["path"] == "/v3/candidates"]
        self.assertEqual(searches, [("GET", "/v3/candidates", "grace@example.com")])
        self.assertEqual(self.writes(self.gh), [
            ("POST", "/v3/notes", {"candidate_id": GRACE["id"], "application_id": GRACE_APP,
                                   "body": report_note("grace", 1, 2),
                                   "visibility": "admin_only", "note_type": "NOTE"}),
            ("POST", "/v3/notes", {"candidate_id": GRACE_DUP, "application_id": GRACE_DUP_APP,
                                   "body": report_note("grace", 1, 3),
                                   "visibility": "admin_only", "note_type": "NOTE"}),
        ])
        self.assertEqual(self.writes(self.cb), [])

    def test_an_assessment_no_automation_refers_to_calls_nothing(self):
        self.complete("ada@example.com", "sql-basics-3p8", 0)
        self.assertEqual(self.after(self.gh, self.gh_since), [], "no Greenhouse call at all")
        # only catalog reads (the assessments list) are allowed: no report fetch
        cb = [(r["method"], r["path"]) for r in self.after(self.cb, self.cb_since)]
        self.assertTrue(all(c == ("GET", "/api/v1/assessments") for c in cb), cb)


if __name__ == "__main__":
    unittest.main()
