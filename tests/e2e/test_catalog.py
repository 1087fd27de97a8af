"""The catalog: `atsflow catalog refresh` fetches jobs + stages (and
Coderbyte's assessments) into the journal, `atsflow catalog` prints them,
`atsflow check` then validates names against them; a Greenhouse job webhook
refreshes at once, and the daemon refreshes on `limits.catalog_refresh`."""

import json
import os
import unittest

from flowkit import (CODERBYTE_KEY, Daemon, DaemonCase, fake, greenhouse_signature, journaled,
                     non_get, unique, wait_catalog, wait_event, wait_for)

GH_SECRET = "gh-webhook-secret-e2e"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "greenhouse")

GH_CATALOG = [
    "  job Backend Engineer [4000000101]: Application Review [4000001011], Technical Screen "
    "[4000001012], Take-Home Assessment [4000001013], Onsite [4000001014], Offer [4000001015]",
    "  job Frontend Engineer [4000000102]: Application Review [4000001021], Phone Screen "
    "[4000001022], Technical Screen [4000001023], Onsite [4000001024], Offer [4000001025]",
]
CB_CATALOG = [
    "  assessment Backend Take-Home [backend-take-home-9x1]",
    "  assessment Frontend Quiz [frontend-quiz-7k2]",
    "  assessment SQL Basics [sql-basics-3p8]",
]


def invite(stage, job="Backend Engineer", assessment="Backend Take-Home", name="Invite"):
    return """automation {
    name = %s,
    trigger = applicant_moved_to_stage { job = %s, stage = %s },
    action = send_assessment_invite { assessment = %s },
}
""" % (json.dumps(name), json.dumps(job), json.dumps(stage), json.dumps(assessment))


class CatalogCase(DaemonCase):
    @classmethod
    def setUpClass(cls):
        cls.gh = fake("greenhouse")
        cls.cb = fake("coderbyte")

    def setUp(self):
        self.gh.reset()
        self.cb.reset()

    def config(self, refresh="1h"):
        return """
ats = { greenhouse = { client_id = "gh-test-client", client_secret = "gh-test-secret", user_id = "4080",
                       webhook_secret = "%s", base_url = "%s", auth_url = "%s" } }
coderbyte = { api_key = "%s", organization_id = "acme", base_url = "%s" }
limits = { catalog_refresh = "%s" }
""" % (GH_SECRET, self.gh.url, self.gh.url, CODERBYTE_KEY, self.cb.url, refresh)

    def offline(self, scripts):
        """A config and scripts on disk, no daemon: for the CLI commands."""
        d = Daemon(self.config(), scripts)
        self.addCleanup(self.stop_daemon, d)
        return d

    def catalog_lines(self, out):
        return [l for l in out.splitlines() if l.startswith("  ")]


class CatalogCli(CatalogCase, unittest.TestCase):
    def test_refresh_fetches_jobs_stages_and_assessments_then_prints_them(self):
        d = self.offline({"invite.lua": invite("Technical Screen")})
        empty = d.cli("catalog")
        self.assertEqual(empty.returncode, 0, empty.stderr)
        self.assertEqual(self.catalog_lines(empty.stdout), [])
        self.assertEqual(self.gh.requests(), [])

        res = d.cli("catalog", "refresh")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertRegex(res.stdout, r"(?m)^greenhouse \(fetched \d{4}-\d\d-\d\dT")
        self.assertRegex(res.stdout, r"(?m)^coderbyte \(fetched \d{4}-\d\d-\d\dT")
        lines = self.catalog_lines(res.stdout)
        self.assertEqual(sorted(lines), sorted(GH_CATALOG + CB_CATALOG))

        jobs = self.gh.requests(path_prefix="/v3/jobs", method="GET")
        self.assertEqual([r["query"] for r in jobs], [{"status": "open", "per_page": "500"}])
        stages = self.gh.requests(path_prefix="/v3/job_interview_stages", method="GET")
        self.assertEqual(sorted(r["query"]["job_ids"] for r in stages), ["4000000101", "4000000102"])
        self.assertEqual(len(self.cb.requests(path_prefix="/api/v1/assessments", method="GET")), 1)
        self.assertEqual(non_get(self.gh, exclude=("/token",)), [])
        self.assertEqual(non_get(self.cb), [])

        # `catalog` alone prints what the journal holds, without fetching
        seen = len(self.gh.requests())
        again = d.cli("catalog")
        self.assertEqual(again.returncode, 0)
        self.assertEqual(sorted(self.catalog_lines(again.stdout)), sorted(GH_CATALOG + CB_CATALOG))
        self.assertEqual(len(self.gh.requests()), seen)

    def test_refresh_failure_exits_1_without_leaking_secrets(self):
        d = self.offline({})
        self.gh.faults([{"method": "GET", "path_regex": r"^/v3/jobs$", "status": 403, "times": -1,
                         "body": {"message": "no access for gh-test-secret"}}])
        res = d.cli("catalog", "refresh")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("greenhouse", res.stderr)
        self.assertIn("403", res.stderr)
        self.assertNotIn("gh-test-secret", res.stderr + res.stdout)
        # Coderbyte's part was still fetched
        self.assertEqual([l for l in self.catalog_lines(res.stdout) if "assessment" in l], CB_CATALOG)

    def test_check_warns_before_the_catalog_is_known_and_rejects_unknown_names_after(self):
        d = self.offline({"invite.lua": invite("Technical Scren")})
        before = d.cli("check")
        self.assertEqual(before.returncode, 0, before.stderr)
        self.assertIn("catalog of greenhouse never fetched", before.stderr)

        self.assertEqual(d.cli("catalog", "refresh").returncode, 0)
        res = d.cli("check")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertRegex(res.stderr, r"(?m)^\S*invite\.lua:1: unknown stage 'Technical Scren' "
                                     r"\(did you mean 'Technical Screen'\?\) in job 'Backend Engineer'$")

    def test_check_rejects_unknown_job_and_assessment_with_suggestions(self):
        d = self.offline({"a.lua": invite("Technical Screen", job="Backend Enginer"),
                          "b.lua": invite("Technical Screen", assessment="Backend Takehome", name="Invite 2")})
        self.assertEqual(d.cli("catalog", "refresh").returncode, 0)
        res = d.cli("check")
        self.assertEqual(res.returncode, 1)
        self.assertRegex(res.stderr, r"(?m)^\S*a\.lua:1: unknown job 'Backend Enginer' "
                                     r"\(did you mean 'Backend Engineer'\?\)")
        self.assertRegex(res.stderr, r"(?m)^\S*b\.lua:1: unknown assessment 'Backend Takehome' "
                                     r"\(did you mean 'Backend Take-Home'\?\)")

    def test_check_lists_the_ids_of_an_ambiguous_name(self):
        self.gh.control("POST", "insert", {"collection": "job_interview_stages", "item": {
            "id": 4000001019, "job_id": 4000000101, "name": "Technical Screen", "sort_order": 9,
            "active": True}})
        d = self.offline({"invite.lua": invite("Technical Screen")})
        self.assertEqual(d.cli("catalog", "refresh").returncode, 0)
        res = d.cli("check")
        self.assertEqual(res.returncode, 1)
        self.assertRegex(res.stderr, r"(?m)^\S*invite\.lua:1: stage 'Technical Screen' is ambiguous: "
                                     r"it matches ids 4000001012, 4000001019")
        # naming it by id is unambiguous
        with open(os.path.join(d.dir, "scripts", "invite.lua"), "w") as f:
            f.write(invite("4000001019"))
        ok = d.cli("check")
        self.assertEqual(ok.returncode, 0, ok.stderr)

    def test_check_accepts_names_the_catalog_knows(self):
        d = self.offline({"invite.lua": invite("Technical Screen")})
        self.assertEqual(d.cli("catalog", "refresh").returncode, 0)
        res = d.cli("check")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertNotIn("never fetched", res.stderr)
        self.assertIn("1 automation(s) OK", res.stdout)


class CatalogDaemon(CatalogCase, unittest.TestCase):
    def add_job(self, job_id, name):
        self.gh.control("POST", "insert", {"collection": "jobs", "item": {
            "id": job_id, "name": name, "status": "open"}})
        self.gh.control("POST", "insert", {"collection": "job_interview_stages", "item": {
            "id": job_id * 10 + 1, "job_id": job_id, "name": "Systems Design", "sort_order": 0,
            "active": True}})

    def test_job_created_webhook_refreshes_the_catalog_at_once(self):
        d = self.start_daemon(self.config("1h"), {"invite.lua": invite("Technical Screen")})
        wait_catalog(d, ["greenhouse", "coderbyte"])
        # the start-up refresh is over: wait until its last stages read came back
        wait_for(lambda: len(self.gh.requests(path_prefix="/v3/job_interview_stages")) >= 2)
        seen = self.gh.requests()[-1]["seq"]
        self.add_job(4000000104, "Platform Engineer")

        with open(os.path.join(FIXTURES, "job_created.json"), "rb") as f:
            body = f.read()
        event_id = unique("job-created")
        r = d.post("greenhouse", body, {"Signature": greenhouse_signature(GH_SECRET, body),
                                        "Greenhouse-Event-ID": event_id})
        self.assertEqual(r.status, 200, r.text)
        wait_for(lambda: self.gh.requests(path_prefix="/v3/jobs", method="GET", since=seen),
                 what="a jobs GET after the webhook")
        row = wait_event(d, "greenhouse:%s:0" % event_id, "ignored")
        self.assertIn("catalog refresh scheduled", row)
        out = wait_for(lambda: "Platform Engineer" in d.cli("catalog").stdout and d.cli("catalog").stdout,
                       what="the new job in `atsflow catalog`")
        self.assertIn("  job Platform Engineer [4000000104]: Systems Design [40000001041]", out)
        self.assertEqual(non_get(self.gh, exclude=("/token",)), [])
        self.assertEqual(journaled(d, "greenhouse"), [event_id])

    def test_the_daemon_refreshes_on_its_schedule(self):
        d = self.start_daemon(self.config("1s"), {"invite.lua": invite("Technical Screen")})
        wait_catalog(d, ["greenhouse"])
        self.add_job(4000000105, "Site Reliability Engineer")
        wait_for(lambda: len(self.gh.requests(path_prefix="/v3/jobs", method="GET")) >= 2, timeout=5,
                 what="a second scheduled jobs GET")
        wait_for(lambda: "Site Reliability Engineer" in d.cli("catalog").stdout, timeout=5,
                 what="the new job in the catalog")
        self.assertEqual(non_get(self.gh, exclude=("/token",)), [])


if __name__ == "__main__":
    unittest.main()
