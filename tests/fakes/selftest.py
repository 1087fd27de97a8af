"""Self-test of the fakes, through real HTTP on 127.0.0.1.

    python3 -m unittest tests/fakes/selftest.py -v      (from the repository root)
"""

import http.client
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from client import Fake, call  # noqa: E402

GH_BASIC = ("gh-test-client", "gh-test-secret")
LEVER_KEY = ("lever-test-key", "")
LEVER_BOT = "05e40000-0000-4000-8000-000000000001"
ASHBY_KEY = ("ashby-test-key", "")
WK_TOKEN = "workable-test-token"
CB_KEY = "cb-test-key"
BACKEND_TAKE_HOME = "backend-take-home-9x1"


class FakeCase(unittest.TestCase):
    """One in-process fake NAME per class, reset before every test."""

    NAME = None

    @classmethod
    def setUpClass(cls):
        cls.fake = Fake.start(cls.NAME, in_process=True)
        cls.url = cls.fake.url

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()


# ------------------------------------------------------------ shared machinery

class MachineryTest(FakeCase):
    NAME = "coderbyte"

    def get(self, path, **kw):
        return call("GET", self.url + path, bearer_token=CB_KEY, **kw)

    def test_every_request_is_recorded_with_its_details(self):
        call("POST", self.url + "/api/v1/assessments/%s/invitations?a=1&b=2&b=3" % BACKEND_TAKE_HOME,
             json_body={"email": "new@example.com", "name": "New Person"}, bearer_token=CB_KEY,
             headers={"Idempotency-Key": "run1:step1", "X-Mixed-Case": "v"})
        self.get("/api/v1/assessments")
        self.fake.state()  # control calls are not recorded
        reqs = self.fake.requests()
        self.assertEqual([r["seq"] for r in reqs], [1, 2])
        first = reqs[0]
        self.assertEqual(first["method"], "POST")
        self.assertEqual(first["path"], "/api/v1/assessments/%s/invitations" % BACKEND_TAKE_HOME)
        self.assertEqual(first["query"], {"a": "1", "b": ["2", "3"]})
        self.assertEqual(first["headers"]["idempotency-key"], "run1:step1")
        self.assertEqual(first["headers"]["x-mixed-case"], "v")
        self.assertEqual(first["json"], {"email": "new@example.com", "name": "New Person"})
        self.assertEqual(json.loads(first["body"]), first["json"])
        self.assertEqual(first["status"], 201)
        self.assertIsNone(first["fault"])
        self.assertIsInstance(first["time"], float)
        self.assertEqual(len(self.fake.requests(method="GET")), 1)
        self.assertEqual(len(self.fake.requests(path_prefix="/api/v1/assessments/")), 1)

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        port = int(self.url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for _ in range(3):
            conn.request("GET", "/api/v1/assessments", headers={"Authorization": "Bearer " + CB_KEY})
            res = conn.getresponse()
            self.assertEqual(res.getheader("Content-Length"), str(len(res.read())))
            self.assertEqual(res.status, 200)
        conn.close()

    def test_faults_fire_the_given_number_of_times_and_are_logged(self):
        self.fake.faults([{"method": "GET", "path_regex": "^/api/v1/assessments$", "status": 503, "times": 2}])
        statuses = [self.get("/api/v1/assessments").status for _ in range(3)]
        self.assertEqual(statuses, [503, 503, 200])
        reqs = self.fake.requests()
        self.assertEqual(reqs[0]["fault"]["status"], 503)
        self.assertEqual(reqs[0]["status"], 503)
        self.assertIsNone(reqs[2]["fault"])

    def test_a_fault_forever_and_its_method_filter(self):
        self.fake.faults([{"method": "POST", "path_regex": "invitations", "status": 500, "times": -1,
                           "body": {"error": "boom"}}])
        for _ in range(3):
            r = call("POST", self.url + "/api/v1/assessments/%s/invitations" % BACKEND_TAKE_HOME,
                     json_body={"email": "x@example.com"}, bearer_token=CB_KEY)
            self.assertEqual((r.status, r.json), (500, {"error": "boom"}))
        self.assertEqual(self.get("/api/v1/assessments/%s/invitations" % BACKEND_TAKE_HOME).status, 200)
        self.assertEqual(self.fake.state()["invitations"][-1]["email"], "katherine@example.com")

    def test_probability_faults_follow_the_seed(self):
        def pattern():
            self.fake.faults([{"path_regex": ".", "status": 502, "times": -1, "probability": 0.5}], seed=7)
            return [self.get("/api/v1/assessments").status for _ in range(12)]
        first = pattern()
        self.assertEqual(first, pattern())
        self.assertIn(502, first)
        self.assertIn(200, first)

    def test_a_pattern_fires_on_its_positions_counting_only_requests_it_was_checked_for(self):
        self.fake.faults([{"path_regex": ".", "status": 502, "times": -1, "pattern": "x.."}])
        self.assertEqual([self.get("/api/v1/assessments").status for _ in range(7)],
                         [502, 200, 200, 502, 200, 200, 502])
        self.fake.faults([{"path_regex": ".", "status": 503, "times": -1, "pattern": "x."},
                          {"path_regex": ".", "status": 502, "times": -1, "pattern": ".x"}])
        self.assertEqual([self.get("/api/v1/assessments").status for _ in range(8)],
                         [503, 200, 503, 502, 503, 200, 503, 502])
        with self.assertRaises(Exception):
            self.fake.faults([{"path_regex": ".", "status": 502, "pattern": "xo"}])

    def test_a_stall_with_status_delays_the_fault_answer(self):
        self.fake.faults([{"path_regex": "assessments$", "status": 504, "stall": 0.3}])
        start = time.time()
        self.assertEqual(self.get("/api/v1/assessments").status, 504)
        self.assertGreaterEqual(time.time() - start, 0.3)

    def test_a_stall_without_status_applies_the_write_then_answers_late(self):
        self.fake.faults([{"method": "POST", "path_regex": "invitations", "stall": 0.5}])
        with self.assertRaises(socket.timeout):
            call("POST", self.url + "/api/v1/assessments/%s/invitations" % BACKEND_TAKE_HOME,
                 json_body={"email": "slow@example.com"}, bearer_token=CB_KEY,
                 headers={"Idempotency-Key": "run9:2"}, timeout=0.2)
        emails = [i["email"] for i in self.fake.state()["invitations"]]
        self.assertIn("slow@example.com", emails)
        retry = call("POST", self.url + "/api/v1/assessments/%s/invitations" % BACKEND_TAKE_HOME,
                     json_body={"email": "slow@example.com"}, bearer_token=CB_KEY,
                     headers={"Idempotency-Key": "run9:2"})
        self.assertEqual(retry.status, 201)
        self.assertEqual(retry.headers.get("idempotent-replayed"), "true")
        self.assertEqual(len(self.fake.state()["invitations"]), 2)

    def test_a_drop_closes_the_connection_without_an_answer(self):
        self.fake.faults([{"path_regex": "assessments$", "drop": True}])
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.get("/api/v1/assessments")
        self.assertIsNone(self.fake.requests()[0]["status"])
        self.assertEqual(self.get("/api/v1/assessments").status, 200)

    def test_a_request_before_retry_after_elapsed_is_a_violation(self):
        self.fake.faults([{"path_regex": ".", "status": 429, "retry_after": 1}])
        r = self.get("/api/v1/assessments")
        self.assertEqual((r.status, r.headers["retry-after"]), (429, "1"))
        self.get("/api/v1/assessments")
        violations = self.fake.violations()
        self.assertEqual(len(violations), 1)
        self.assertEqual(violations[0]["seq"], 2)
        self.assertEqual(violations[0]["retry_after_from_seq"], 1)
        time.sleep(1.05)
        self.get("/api/v1/assessments")
        self.assertEqual(len(self.fake.violations()), 1)

    def test_reset_clears_log_faults_and_data(self):
        self.fake.faults([{"path_regex": ".", "status": 500, "times": -1}])
        call("POST", self.url + "/api/v1/assessments/x/invitations", json_body={}, bearer_token=CB_KEY)
        self.fake.seed({"auth": {"api_key": CB_KEY}, "assessments": []})
        self.fake.reset()
        self.assertEqual(self.fake.requests(), [])
        self.assertEqual(self.fake.control("GET", "faults"), [])
        self.assertEqual(len(self.get("/api/v1/assessments").json["assessments"]), 3)

    def test_seed_replaces_the_data_set(self):
        self.fake.seed({"auth": {"api_key": "other"}, "assessments": [{"id": "a1", "name": "A", "qualifying_score": 1}]})
        self.assertEqual(self.get("/api/v1/assessments").status, 401)
        r = call("GET", self.url + "/api/v1/assessments", bearer_token="other")
        self.assertEqual(r.json, {"assessments": [{"id": "a1", "name": "A", "qualifying_score": 1}]})

    def test_bad_control_input_is_a_400(self):
        for body in ([{"path_regex": "x"}], [{"path_regex": "(", "status": 500}], [{"stauts": 500}]):
            r = call("POST", self.url + "/__fake/faults", json_body=body)
            self.assertEqual(r.status, 400, body)
        self.assertEqual(call("POST", self.url + "/__fake/config", json_body={"nope": 1}).status, 400)


# ---------------------------------------------------------------- greenhouse

class GreenhouseTest(FakeCase):
    NAME = "greenhouse"

    def token(self, sub="4080"):
        r = call("POST", self.url + "/token", form={"grant_type": "client_credentials", "sub": sub}, basic=GH_BASIC)
        self.assertEqual(r.status, 200, r.text)
        return r.json["access_token"]

    def get(self, path, token=None):
        return call("GET", self.url + path, bearer_token=token or self.tok)

    def setUp(self):
        super().setUp()
        self.tok = self.token()

    def pages(self, path):
        """Follow Link rel=next; returns (pages of items, requests made)."""
        pages, url = [], self.url + path
        while url:
            r = call("GET", url, bearer_token=self.tok)
            self.assertEqual(r.status, 200, r.text)
            pages.append(r.json)
            link = r.headers.get("link")
            url = link[1:link.index(">")] if link else None
        return pages

    def test_token_needs_the_client_credentials(self):
        r = call("POST", self.url + "/token", form={"grant_type": "client_credentials", "sub": "4080"},
                 basic=("gh-test-client", "wrong"))
        self.assertEqual((r.status, r.json), (401, {"error": "invalid_client"}))
        ok = call("POST", self.url + "/token", form={"grant_type": "client_credentials", "sub": "4080"}, basic=GH_BASIC)
        self.assertEqual((ok.json["token_type"], ok.json["expires_in"]), ("bearer", 3600))
        self.assertEqual(call("POST", self.url + "/token", form={"grant_type": "client_credentials", "sub": "x"},
                              basic=GH_BASIC).status, 400)

    def test_token_can_carry_expires_at_instead(self):
        self.fake.config(token_expiry="expires_at")
        r = call("POST", self.url + "/token", form={"grant_type": "client_credentials", "sub": "4080"}, basic=GH_BASIC)
        self.assertNotIn("expires_in", r.json)
        self.assertRegex(r.json["expires_at"], r"^\d{4}-\d\d-\d\dT")

    def test_v3_needs_a_live_bearer_token(self):
        self.assertEqual(call("GET", self.url + "/v3/jobs").status, 401)
        self.assertEqual(self.get("/v3/jobs", token="nope").status, 401)
        self.assertEqual(self.get("/v3/jobs").status, 200)
        self.fake.control("POST", "expire_tokens", {})
        self.assertEqual(self.get("/v3/jobs").status, 401)
        self.assertEqual(self.get("/v3/jobs", token=self.token()).status, 200)

    def test_ids_are_integers_above_2_31(self):
        r = self.get("/v3/jobs")
        self.assertIn("4000000101", r.text)
        self.assertTrue(all(isinstance(j["id"], int) and j["id"] > 2 ** 31 for j in r.json))

    def test_pagination_follows_link_with_cursor_only(self):
        pages = self.pages("/v3/candidates?per_page=2")
        self.assertEqual([len(p) for p in pages], [2, 2, 2])
        self.assertEqual(len({c["id"] for p in pages for c in p}), 6)
        open_jobs = self.pages("/v3/jobs?status=open&per_page=1")
        self.assertEqual([[j["name"] for j in p] for p in open_jobs], [["Backend Engineer"], ["Frontend Engineer"]])
        link = self.get("/v3/jobs?per_page=1").headers["link"]
        next_url = link[1:link.index(">")]
        self.assertEqual(call("GET", next_url + "&per_page=1", bearer_token=self.tok).status, 422)
        self.assertEqual(self.get("/v3/jobs?per_page=0").status, 422)
        self.assertEqual(self.get("/v3/jobs?per_page=501").status, 422)

    def test_rate_limit_headers_on_every_answer(self):
        for r in (self.get("/v3/jobs"), self.get("/v3/nothing"), call("GET", self.url + "/v3/jobs")):
            self.assertIn("x-ratelimit-limit", r.headers)
            self.assertIn("x-ratelimit-remaining", r.headers)
            self.assertGreater(int(r.headers["x-ratelimit-reset"]), time.time() - 1)

    def test_rate_limiter_answers_429_with_retry_after_when_on(self):
        self.fake.ratelimit(enabled=True, limit=2, window=3600)  # no window roll-over mid-test
        statuses = [self.get("/v3/jobs") for _ in range(3)]
        self.assertEqual([r.status for r in statuses], [200, 200, 429])
        self.assertEqual(statuses[1].headers["x-ratelimit-remaining"], "0")
        self.assertGreaterEqual(int(statuses[2].headers["retry-after"]), 1)

    def test_stages_and_applications(self):
        stages = self.get("/v3/job_interview_stages?job_ids=4000000101").json
        self.assertEqual([s["name"] for s in stages],
                         ["Application Review", "Technical Screen", "Take-Home Assessment", "Onsite", "Offer"])
        app = self.get("/v3/applications?ids=4000100001").json[0]
        self.assertEqual((app["current_stage_id"], app["current_stage"]["name"]), (4000001012, "Technical Screen"))
        self.fake.config(application_stage="id")
        self.assertNotIn("current_stage", self.get("/v3/applications?ids=4000100001").json[0])

    def test_candidates_by_email_include_duplicates(self):
        found = self.get("/v3/candidates?email=Grace@Example.com").json
        self.assertEqual([c["id"] for c in found], [4000010003, 4000010004])

    def move(self, src, dst):
        return call("POST", self.url + "/v3/applications/4000100001/move",
                    json_body={"from_stage_id": src, "to_stage_id": dst}, bearer_token=self.tok)

    def test_move_answers_204_and_422_on_a_stale_from_stage(self):
        r = self.move(4000001012, 4000001013)
        self.assertEqual((r.status, r.text), (204, ""))
        self.assertEqual(self.move(4000001012, 4000001014).status, 422)
        self.assertEqual(self.move(4000001013, 4000001021).status, 422)  # another job's stage
        state = self.fake.state()
        app = [a for a in state["applications"] if a["id"] == 4000100001][0]
        self.assertEqual(app["current_stage_id"], 4000001013)
        self.assertEqual(state["moves"][0]["user_id"], 4080)

    def test_notes_are_created_and_listed(self):
        body = {"candidate_id": 4000010001, "body": "hello\n[atsflow:r1:s1]", "visibility": "admin_only",
                "note_type": "NOTE", "application_id": 4000100001}
        r = call("POST", self.url + "/v3/notes", json_body=body, bearer_token=self.tok)
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json["user_id"], 4080)
        bad = call("POST", self.url + "/v3/notes", json_body=dict(body, visibility="everyone"), bearer_token=self.tok)
        self.assertEqual(bad.status, 422)
        floaty = call("POST", self.url + "/v3/notes", body='{"candidate_id": 4000010001.0, "body": "x",'
                      ' "visibility": "private"}', bearer_token=self.tok)
        self.assertEqual(floaty.status, 422)
        notes = self.get("/v3/notes?candidate_id=4000010001").json
        self.assertTrue(notes[-1]["body"].endswith("[atsflow:r1:s1]"))

    def test_tags_are_defined_then_applied_once(self):
        r = call("POST", self.url + "/v3/candidate_tags", json_body={"name": "coderbyte-invited"}, bearer_token=self.tok)
        self.assertEqual(r.status, 201)
        again = call("POST", self.url + "/v3/candidate_tags", json_body={"name": "Coderbyte-Invited"},
                     bearer_token=self.tok)
        self.assertEqual(again.status, 422)
        apply = {"candidate_id": 4000010003, "candidate_tag_id": r.json["id"]}
        self.assertEqual(call("POST", self.url + "/v3/applied_candidate_tags", json_body=apply,
                              bearer_token=self.tok).status, 201)
        self.assertEqual(call("POST", self.url + "/v3/applied_candidate_tags", json_body=apply,
                              bearer_token=self.tok).status, 422)
        applied = self.get("/v3/applied_candidate_tags?candidate_ids=4000010003").json
        self.assertEqual([a["candidate_tag_id"] for a in applied], [r.json["id"]])


# --------------------------------------------------------------------- lever

class LeverTest(FakeCase):
    NAME = "lever"
    OPP = "0dd50000-0000-4000-8000-000000000001"

    def req(self, method, path, **kw):
        return call(method, self.url + path, basic=LEVER_KEY, **kw)

    def test_basic_auth_with_key_and_blank_password(self):
        self.assertEqual(call("GET", self.url + "/v1/stages").status, 401)
        self.assertEqual(call("GET", self.url + "/v1/stages", basic=("lever-test-key", "x")).status, 401)
        self.assertEqual(self.req("GET", "/v1/stages").status, 200)

    def test_lists_page_with_offset(self):
        seen, path = [], "/v1/opportunities?limit=3"
        while True:
            body = self.req("GET", path).json
            seen += [o["id"] for o in body["data"]]
            if not body["hasNext"]:
                break
            path = "/v1/opportunities?limit=3&offset=" + body["next"]
        self.assertEqual(len(seen), 7)
        self.assertEqual(len(set(seen)), 7)

    def test_email_lookup_finds_duplicates(self):
        data = self.req("GET", "/v1/opportunities?email=grace@example.com").json["data"]
        self.assertEqual(len(data), 2)
        self.assertNotEqual(data[0]["contact"], data[1]["contact"])

    def test_writes_need_perform_as(self):
        offer = "/v1/opportunities/%s/stage" % self.OPP
        self.assertEqual(self.req("PUT", offer, json_body={"stage": "offer"}).status, 400)
        r = self.req("PUT", offer + "?perform_as=" + LEVER_BOT, json_body={"stage": "offer"})
        self.assertEqual((r.status, r.json["data"]["stage"]), (200, "offer"))
        self.assertEqual(self.req("PUT", offer + "?perform_as=" + LEVER_BOT, json_body={"stage": "nope"}).status, 400)
        got = self.req("GET", "/v1/opportunities/%s?expand=stage" % self.OPP).json["data"]
        self.assertEqual(got["stage"], {"id": "offer", "text": "Offer"})

    def test_notes_and_tags(self):
        base = "/v1/opportunities/%s" % self.OPP
        r = self.req("POST", base + "/notes?perform_as=" + LEVER_BOT, json_body={"value": "hi [atsflow:r:s]"})
        self.assertEqual(r.status, 201)
        notes = self.req("GET", base + "/notes").json["data"]
        self.assertEqual(notes[-1]["id"], r.json["data"]["noteId"])
        for _ in range(2):
            t = self.req("POST", base + "/addTags?perform_as=" + LEVER_BOT, json_body={"tags": ["coderbyte-invited"]})
            self.assertEqual(t.json["data"]["tags"], ["coderbyte-invited"])

    def test_token_bucket_limit_when_on(self):
        self.fake.ratelimit(enabled=True, rate=1, burst=2)
        statuses = [self.req("GET", "/v1/stages") for _ in range(3)]
        self.assertEqual([r.status for r in statuses], [200, 200, 429])
        self.assertEqual(statuses[2].headers["retry-after"], "1")


# --------------------------------------------------------------------- ashby

class AshbyTest(FakeCase):
    NAME = "ashby"

    def rpc(self, method, body=None, auth=ASHBY_KEY):
        return call("POST", self.url + "/" + method, json_body=body or {}, basic=auth)

    def test_auth_and_unknown_methods(self):
        self.assertEqual(self.rpc("job.list", auth=("wrong", "")).status, 401)
        self.assertEqual(self.rpc("job.nope").status, 404)
        self.assertEqual(call("GET", self.url + "/job.list", basic=ASHBY_KEY).status, 405)

    def test_job_list_pages_with_cursor(self):
        jobs, body = [], {"limit": 2}
        while True:
            r = self.rpc("job.list", body).json
            jobs += r["results"]
            if not r["moreDataAvailable"]:
                break
            body = {"limit": 2, "cursor": r["nextCursor"]}
        self.assertEqual([j["title"] for j in jobs], ["Backend Engineer", "Frontend Engineer", "Data Analyst"])

    def test_stages_come_from_the_jobs_interview_plan(self):
        job = self.rpc("job.list").json["results"][0]
        stages = self.rpc("interviewStage.list", {"interviewPlanId": job["interviewPlanIds"][0]}).json["results"]
        self.assertEqual([s["title"] for s in stages][:3], ["Application Review", "Technical Screen",
                                                            "Take-Home Assessment"])

    def test_change_stage_and_errors_with_http_200(self):
        app = "a9900000-0000-4000-8000-000000000001"
        onsite = "57a90000-0000-4000-8000-000000000014"
        r = self.rpc("application.changeStage", {"applicationId": app, "interviewStageId": onsite})
        self.assertEqual(r.json["results"]["currentInterviewStage"]["title"], "Onsite")
        other_job = "57a90000-0000-4000-8000-000000000021"
        bad = self.rpc("application.changeStage", {"applicationId": app, "interviewStageId": other_job})
        self.assertEqual((bad.status, bad.json["success"]), (200, False))
        self.assertTrue(bad.json["errors"])

    def test_search_notes_and_tags(self):
        found = self.rpc("candidate.search", {"email": "grace@example.com"}).json["results"]
        self.assertEqual(len(found), 2)
        cand = found[0]["id"]
        self.assertTrue(self.rpc("candidate.createNote", {"candidateId": cand, "note": "x [atsflow:r:s]"}).json["success"])
        notes = self.rpc("candidate.listNotes", {"candidateId": cand}).json["results"]
        self.assertEqual(notes[-1]["content"], "x [atsflow:r:s]")
        tag = self.rpc("candidateTag.create", {"title": "coderbyte-invited"}).json["results"]
        self.assertFalse(self.rpc("candidateTag.create", {"title": "coderbyte-invited"}).json["success"])
        for _ in range(2):
            r = self.rpc("candidate.addTag", {"candidateId": cand, "tagId": tag["id"]}).json
            self.assertEqual([t["title"] for t in r["results"]["tags"]], ["coderbyte-invited"])
        titles = [t["title"] for t in self.rpc("candidateTag.list").json["results"]]
        self.assertEqual(titles, ["Referral", "coderbyte-invited"])


# ------------------------------------------------------------------ workable

class WorkableTest(FakeCase):
    NAME = "workable"

    def req(self, method, path, **kw):
        return call(method, self.url + "/spi/v3" + path, bearer_token=WK_TOKEN, **kw)

    def test_bearer_token_and_rate_headers(self):
        self.assertEqual(call("GET", self.url + "/spi/v3/jobs").status, 401)
        r = self.req("GET", "/jobs")
        self.assertEqual(r.headers["x-rate-limit-limit"], "10")
        self.assertIn("x-rate-limit-reset", r.headers)

    def test_lists_follow_paging_next(self):
        names, url = [], self.url + "/spi/v3/candidates?limit=3"
        while url:
            body = call("GET", url, bearer_token=WK_TOKEN).json
            names += [c["id"] for c in body["candidates"]]
            url = body.get("paging", {}).get("next")
        self.assertEqual(len(names), 7)
        self.assertEqual(len(set(names)), 7)

    def test_stages_email_lookup_and_move(self):
        slugs = [s["slug"] for s in self.req("GET", "/jobs/BACKEND001/stages").json["stages"]]
        self.assertIn("take-home", slugs)
        found = self.req("GET", "/candidates?email=grace@example.com").json["candidates"]
        self.assertEqual(len(found), 2)
        cid = found[0]["id"]
        self.assertEqual(self.req("POST", "/candidates/%s/move" % cid,
                                  json_body={"member_id": "nobody", "target_stage": "onsite"}).status, 422)
        self.assertEqual(self.req("POST", "/candidates/%s/move" % cid,
                                  json_body={"member_id": "13e0eb0e", "target_stage": "onsite"}).status, 200)
        self.assertEqual(self.req("GET", "/candidates/" + cid).json["candidate"]["stage"], "Onsite")

    def test_comments_and_tags_replace(self):
        r = self.req("POST", "/candidates/ce4da91/comments",
                     json_body={"member_id": "13e0eb0e", "comment": {"body": "hi [atsflow:r:s]"}})
        self.assertEqual(r.status, 201)
        comments = self.req("GET", "/candidates/ce4da91/comments").json["comments"]
        self.assertEqual(comments[-1]["body"], "hi [atsflow:r:s]")
        self.req("PUT", "/candidates/ce4da92/tags", json_body={"tags": ["referral", "coderbyte-invited"]})
        self.req("PUT", "/candidates/ce4da92/tags", json_body={"tags": ["coderbyte-invited"]})
        self.assertEqual(self.req("GET", "/candidates/ce4da92").json["candidate"]["tags"], ["coderbyte-invited"])

    def test_activities_list_comments_and_moves(self):
        self.req("POST", "/candidates/ce4da91/comments",
                 json_body={"member_id": "13e0eb0e", "comment": {"body": "hi [atsflow:r:s]"}})
        self.req("POST", "/candidates/ce4da91/move",
                 json_body={"member_id": "13e0eb0e", "target_stage": "onsite"})
        acts = self.req("GET", "/candidates/ce4da91/activities").json["activities"]
        self.assertEqual([a["action"] for a in acts], ["comment", "comment", "moved"])
        self.assertEqual(acts[1]["body"], "hi [atsflow:r:s]")
        self.assertEqual(acts[2]["stage_name"], "Onsite")
        page = self.req("GET", "/candidates/ce4da91/activities?limit=1").json
        self.assertEqual(len(page["activities"]), 1)
        self.assertIn("since_id=", page["paging"]["next"])
        self.assertEqual(self.req("GET", "/candidates/nobody/activities").status, 404)

    def test_ten_requests_per_window_when_on(self):
        self.fake.ratelimit(enabled=True, limit=3, window=3600)
        statuses = [self.req("GET", "/jobs").status for _ in range(4)]
        self.assertEqual(statuses, [200, 200, 200, 429])


# ----------------------------------------------------------------- coderbyte

class CoderbyteTest(FakeCase):
    NAME = "coderbyte"
    INVITES = "/api/v1/assessments/%s/invitations" % BACKEND_TAKE_HOME

    def invite(self, email, key=None, name="Ada Lovelace"):
        headers = {"Idempotency-Key": key} if key else {}
        return call("POST", self.url + self.INVITES, json_body={"email": email, "name": name},
                    bearer_token=CB_KEY, headers=headers)

    def test_bearer_api_key_required(self):
        self.assertEqual(call("GET", self.url + "/api/v1/assessments").status, 401)
        r = call("GET", self.url + "/api/v1/assessments", bearer_token=CB_KEY)
        self.assertEqual(r.json["assessments"][0],
                         {"id": BACKEND_TAKE_HOME, "name": "Backend Take-Home", "qualifying_score": 70})

    def test_invite_then_409_then_lookup(self):
        r = self.invite("ada@example.com")
        self.assertEqual(r.status, 201)
        self.assertEqual(set(r.json), {"invite_url", "invitation_id"})
        self.assertEqual(self.invite("ADA@example.com").status, 409)
        found = call("GET", self.url + self.INVITES + "?email=ada@example.com", bearer_token=CB_KEY).json
        self.assertEqual(found["invitations"][0]["invitation_id"], r.json["invitation_id"])

    def test_idempotency_key_replays_without_a_second_invitation(self):
        first = self.invite("ada@example.com", key="run7:3")
        second = self.invite("ada@example.com", key="run7:3")
        self.assertEqual((second.status, second.json), (first.status, first.json))
        invs = [i for i in self.fake.state()["invitations"] if i["email"] == "ada@example.com"]
        self.assertEqual(len(invs), 1)
        self.assertEqual(invs[0]["idempotency_key"], "run7:3")
        self.assertEqual(self.invite("alan.turing@example.com", key="run7:3").status, 422)

    def test_report_is_not_ready_for_the_first_fetches(self):
        url = self.url + "/api/v1/assessments/%s/reports?email=alan.turing@example.com" % BACKEND_TAKE_HOME
        ready = [call("GET", url, bearer_token=CB_KEY).json["report_ready"] for _ in range(3)]
        self.assertEqual(ready, [False, False, True])
        report = call("GET", url, bearer_token=CB_KEY).json
        self.assertEqual((report["qualified"], report["plagiarism"]), (False, "Likely"))
        missing = url.replace("alan.turing", "nobody")
        self.assertEqual(call("GET", missing, bearer_token=CB_KEY).status, 404)

    def test_interview_report(self):
        r = call("GET", self.url + "/api/v1/interviews/w246Ri1UP/report", bearer_token=CB_KEY)
        self.assertEqual(r.json["scorecard"]["recommendation"], "thumb_up")


# ------------------------------------------------------------------ serve.py

class ServeProcessTest(unittest.TestCase):
    def test_serve_prints_ready_and_reset_restores_the_given_seed(self):
        seed = {"auth": {"api_key": "k"}, "assessments": [{"id": "only", "name": "Only", "qualifying_score": 1}]}
        with Fake.start("coderbyte", seed=seed) as fake:
            self.assertIsNotNone(fake.proc)
            fake.seed({"auth": {"api_key": "k"}, "assessments": []})
            fake.reset()
            r = call("GET", fake.url + "/api/v1/assessments", bearer_token="k")
            self.assertEqual([a["id"] for a in r.json["assessments"]], ["only"])
            self.assertEqual(len(fake.requests()), 1)
            proc = fake.proc
        self.assertEqual(proc.returncode, 0)


if __name__ == "__main__":
    unittest.main()
