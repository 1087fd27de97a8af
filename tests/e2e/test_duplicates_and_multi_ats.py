"""Duplicate ATS candidates for one Coderbyte email (`duplicate_candidates`
= all / first / none), and several ATSs configured at once (greenhouse and
lever): `ats = …` is required, each automation only hears its ATS, and each
/webhooks/{source} only feeds its own adapter."""

import json
import unittest

from flowkit import (CODERBYTE_KEY, DaemonCase, Daemon, fake, basic, brief, coderbyte_jwt,
                     greenhouse_signature, journaled, lever_delivery, non_get, show,
                     unique, wait_event, wait_run)

GH_SECRET = "gh-webhook-secret-e2e"
LEVER_TOKEN = "lever-sig-token-e2e"
LEVER_BOT = "05e40000-0000-4000-8000-000000000001"
ADA_OPP = "0dd50000-0000-4000-8000-000000000001"
ADA_CONTACT = "c0c70000-0000-4000-8000-000000000001"
TECH_LEVER = "5a9e0000-0000-4000-8000-000000000002"
GRACE_REPORT = "https://coderbyte.com/report/backend-take-home-9x1/grace"
ADA_REPORT = "https://coderbyte.com/report/backend-take-home-9x1/ada"

REPORT_SCRIPT = """automation {
    name = "Post take-home report",
    trigger = assessment_completed { assessment = "Backend Take-Home" },
    action = post_report_details {},
}
"""


def completed(email, report_url):
    return {"operation": "assessment_completed", "organization_id": "acme", "email": email,
            "assessment_id": "backend-take-home-9x1", "report_url": report_url,
            "time_expired": False, "report_ready": True}


def gh_block(gh, extra=""):
    return ('greenhouse = { client_id = "gh-test-client", client_secret = "gh-test-secret", '
            'user_id = "4080", webhook_secret = "%s", base_url = "%s", auth_url = "%s"%s }'
            % (GH_SECRET, gh.url, gh.url, extra))


def lever_block(lever):
    return ('lever = { api_key = "lever-test-key", perform_as = "%s", signature_token = "%s", '
            'base_url = "%s" }' % (LEVER_BOT, LEVER_TOKEN, lever.url))


def cb_block(cb):
    return 'coderbyte = { api_key = "%s", organization_id = "acme", base_url = "%s" }' % (
        CODERBYTE_KEY, cb.url)


class Base(DaemonCase):
    @classmethod
    def setUpClass(cls):
        cls.gh = fake("greenhouse")
        cls.lever = fake("lever")
        cls.cb = fake("coderbyte")


    def setUp(self):
        for f in (self.gh, self.lever, self.cb):
            f.reset()

    def gh_writes(self):
        return non_get(self.gh, exclude=("/token",))

    def gh_auth_ok(self, req):
        tokens = [t["access_token"] for t in self.gh.state()["tokens"] if t["sub"] == 4080]
        self.assertIn(req["headers"]["authorization"], ["Bearer " + t for t in tokens])

    def send_coderbyte(self, d, payload):
        body = json.dumps(payload).encode()
        r = d.post("coderbyte", body, {"Authorization": "Bearer " + coderbyte_jwt(),
                                       "Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.text)
        key = [k for k in journaled(d, "coderbyte")]
        return "coderbyte:%s:0" % key[-1]

    def send_gh(self, d, payload, event_id):
        body = json.dumps(payload).encode()
        return d.post("greenhouse", body, {"Signature": greenhouse_signature(GH_SECRET, body),
                                           "Greenhouse-Event-ID": event_id,
                                           "Content-Type": "application/json"})


class DuplicateCandidates(Base, unittest.TestCase):
    """grace@example.com is two Greenhouse candidates (4000010003 on Backend,
    4000010004 on Frontend); atsflow recorded no invitation for her."""

    def start(self, policy=None):
        extra = ', duplicate_candidates = "%s"' % policy if policy else ""
        cfg = "ats = { %s }\n%s\nlimits = { catalog_refresh = \"1h\" }\n" % (
            gh_block(self.gh, extra), cb_block(self.cb))
        return self.start_daemon(cfg, {"report.lua": REPORT_SCRIPT})

    def note(self, run, step, cand, app):
        text = "Coderbyte report for assessment Backend Take-Home: %s\n[atsflow:%d:%d]" % (
            GRACE_REPORT, run, step)
        return ("POST", "/v3/notes", {}, {"candidate_id": cand, "body": text, "visibility": "admin_only",
                                          "note_type": "NOTE", "application_id": app})

    def test_default_posts_the_note_to_every_candidate_with_the_email(self):
        d = self.start()
        ev = self.send_coderbyte(d, completed("grace@example.com", GRACE_REPORT))
        run = wait_run(d, ev)["id"]
        writes = self.gh_writes()
        self.assertEqual(brief(writes), [self.note(run, 2, 4000010003, 4000100003),
                                         self.note(run, 3, 4000010004, 4000100004)])
        for w in writes:
            self.gh_auth_ok(w)
        self.assertEqual(non_get(self.cb), [])
        self.assertEqual(self.gh.requests(path_prefix="/v3/candidates")[0]["query"]["email"],
                         "grace@example.com")

    def test_first_posts_one_note(self):
        d = self.start("first")
        ev = self.send_coderbyte(d, completed("grace@example.com", GRACE_REPORT))
        run = wait_run(d, ev)["id"]
        self.assertEqual(brief(self.gh_writes()), [self.note(run, 2, 4000010003, 4000100003)])

    def test_all_is_the_default(self):
        d = self.start("all")
        ev = self.send_coderbyte(d, completed("grace@example.com", GRACE_REPORT))
        run = wait_run(d, ev)["id"]
        self.assertEqual(len(self.gh_writes()), 2, run)

    def test_none_kills_the_run_with_a_clear_error_and_posts_nothing(self):
        d = self.start("none")
        ev = self.send_coderbyte(d, completed("grace@example.com", GRACE_REPORT))
        run = wait_run(d, ev, status="dead")
        self.assertEqual(run["attempts"], 1)
        self.assertIn('greenhouse: 2 candidates share the email grace@example.com and '
                      'duplicate_candidates = "none"', run["line"])
        self.assertEqual(self.gh_writes(), [])
        shown = "\n".join(show(d, run["id"])["lines"])
        self.assertIn("last error: greenhouse: 2 candidates share the email", shown)

    def test_none_still_notes_a_single_candidate(self):
        d = self.start("none")
        ev = self.send_coderbyte(d, completed("ada@example.com", ADA_REPORT))
        run = wait_run(d, ev)["id"]
        text = "Coderbyte report for assessment Backend Take-Home: %s\n[atsflow:%d:2]" % (ADA_REPORT, run)
        self.assertEqual(brief(self.gh_writes()), [
            ("POST", "/v3/notes", {}, {"candidate_id": 4000010001, "body": text, "visibility": "admin_only",
                                       "note_type": "NOTE", "application_id": 4000100001})])


INVITE_LEVER = """automation {
    name = "Invite backend screen",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen"%s },
    action = send_assessment_invite { assessment = "Backend Take-Home" },
}
"""


def gh_stage_change():
    return {"action": "candidate_stage_change", "payload": {"application": {
        "id": 4000100001, "status": "active",
        "candidate": {"id": 4000010001, "first_name": "Ada", "last_name": "Lovelace",
                      "email_addresses": [{"value": "ada@example.com", "type": "personal"}]},
        "jobs": [{"id": 4000000101, "name": "Backend Engineer"}],
        "current_stage": {"id": 4000001012, "name": "Technical Screen"}}}}


def lever_stage_change():
    return lever_delivery(LEVER_TOKEN, {"opportunityId": ADA_OPP, "contactId": ADA_CONTACT,
                                        "fromStageId": "5a9e0000-0000-4000-8000-000000000001",
                                        "toStageId": TECH_LEVER})


class MultipleAts(Base, unittest.TestCase):
    def config(self):
        return "ats = {\n  %s,\n  %s,\n}\n%s\nlimits = { catalog_refresh = \"1h\" }\n" % (
            gh_block(self.gh), lever_block(self.lever), cb_block(self.cb))

    def test_trigger_without_ats_is_a_load_error_naming_file_and_line(self):
        d = Daemon(self.config(), {"invite.lua": INVITE_LEVER % ""})
        self.addCleanup(self.stop_daemon, d)
        res = d.cli("check")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertRegex(res.stderr, r"(^|\n)[^\n]*invite\.lua:1: [^\n]*more than one ATS is configured"
                                     r"[^\n]*ats = ")
        # and `serve` refuses to start with it
        with self.assertRaisesRegex(AssertionError, "atsflow exited"):
            d.start(timeout=5)

    def test_trigger_naming_an_unconfigured_ats_is_a_load_error(self):
        d = Daemon(self.config(), {"invite.lua": INVITE_LEVER % ', ats = "levr"'})
        self.addCleanup(self.stop_daemon, d)
        res = d.cli("check")
        self.assertEqual(res.returncode, 1)
        self.assertRegex(res.stderr, r"invite\.lua:1: ats 'levr' is not configured \(did you mean 'lever'\?\)")

    def test_automation_for_lever_does_not_fire_on_greenhouse(self):
        d = self.start_daemon(scripts={"invite.lua": INVITE_LEVER % ', ats = "lever"',
                                       "report.lua": REPORT_SCRIPT})
        self.assertEqual(d.cli("check").returncode, 0)
        # same job and stage names, but from Greenhouse
        gh_id = unique("gh")
        self.assertEqual(self.send_gh(d, gh_stage_change(), gh_id).status, 200)
        row = wait_event(d, "greenhouse:%s:0" % gh_id, "ignored")
        self.assertIn("no automation refers to", row)
        decisions = show(d, "greenhouse:%s:0" % gh_id)["decisions"]
        self.assertEqual([a["reason"] for a in decisions["automations"]
                          if a["automation"] == "Invite backend screen"], ["other ATS"])
        self.assertEqual(non_get(self.cb), [])
        self.assertEqual(self.gh_writes(), [])
        self.assertEqual(non_get(self.lever), [])

        # from Lever it fires, and writes go to Lever only
        body, key = lever_stage_change()
        self.assertEqual(d.post("lever", body, {}).status, 200)
        run = wait_run(d, "lever:%s:0" % key)
        self.assertEqual(brief(non_get(self.cb)), [
            ("POST", "/api/v1/assessments/backend-take-home-9x1/invitations", {},
             {"email": "ada@example.com", "name": "Ada Lovelace"})])
        self.assertEqual(non_get(self.cb)[0]["headers"]["idempotency-key"], "%d:1" % run["id"])
        self.assertEqual(self.gh_writes(), [])

        # Coderbyte's completion links back to the Lever opportunity it invited
        ev = self.send_coderbyte(d, completed("ada@example.com", ADA_REPORT))
        report_run = wait_run(d, ev)["id"]
        text = "Coderbyte report for assessment Backend Take-Home: %s\n[atsflow:%d:1]" % (
            ADA_REPORT, report_run)
        writes = non_get(self.lever)
        self.assertEqual(brief(writes), [("POST", "/v1/opportunities/%s/notes" % ADA_OPP,
                                          {"perform_as": LEVER_BOT}, {"value": text})])
        self.assertEqual(writes[0]["headers"]["authorization"], basic("lever-test-key"))
        self.assertEqual(self.gh_writes(), [])

    def test_each_webhook_path_feeds_only_its_adapter(self):
        d = self.start_daemon(scripts={"invite.lua": INVITE_LEVER % ', ats = "lever"'})
        gh_body = json.dumps(gh_stage_change()).encode()
        gh_sig = greenhouse_signature(GH_SECRET, gh_body)
        lever_body, key = lever_stage_change()
        # a Greenhouse delivery posted to Lever's path, and the other way round
        self.assertEqual(d.post("lever", gh_body, {"Signature": gh_sig,
                                                   "Greenhouse-Event-ID": "x-1"}).status, 401)
        self.assertEqual(d.post("greenhouse", lever_body, {}).status, 401)
        # an ATS that is not configured
        self.assertEqual(d.post("ashby", gh_body, {"Signature": gh_sig}).status, 404)
        self.assertEqual(journaled(d, "lever") + journaled(d, "greenhouse"), [])
        # the right paths
        self.assertEqual(d.post("greenhouse", gh_body, {"Signature": gh_sig,
                                                        "Greenhouse-Event-ID": "x-1"}).status, 200)
        self.assertEqual(d.post("lever", lever_body, {}).status, 200)
        wait_event(d, "greenhouse:x-1:0", "ignored")
        wait_run(d, "lever:%s:0" % key)
        self.assertEqual(journaled(d, "greenhouse"), ["x-1"])
        self.assertEqual(journaled(d, "lever"), [key])
        self.assertEqual(show(d, "lever:%s:0" % key)["payload"]["source"], "lever")
        self.assertEqual(len(non_get(self.cb)), 1)
        self.assertEqual(self.gh_writes(), [])

    def test_report_for_an_uninvited_email_needs_to_know_the_ats(self):
        d = self.start_daemon(scripts={"report.lua": REPORT_SCRIPT})
        ev = self.send_coderbyte(d, completed("grace@example.com", GRACE_REPORT))
        run = wait_run(d, ev, status="dead")
        self.assertIn("cannot tell which ATS", run["line"])
        self.assertEqual(self.gh_writes(), [])
        self.assertEqual(non_get(self.lever), [])


if __name__ == "__main__":
    unittest.main()
