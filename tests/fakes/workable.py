"""Fake Workable SPI v3 (spec: adapters.md, Workable section).

Serves /spi/v3/... with Authorization: Bearer <token>; writes take member_id in
the body; lists follow paging.next (a full URL); X-Rate-Limit-* headers on every
answer. Jobs are keyed by shortcode, stages by slug. Relies on fakebase.
"""

import secrets
import time
from urllib.parse import urlencode

from fakebase import FakeBase, Response, bearer, now_iso, route, same_email

PREFIX = "/spi/v3"
COLLECTIONS = ("members", "jobs", "stages", "candidates", "comments", "moves")


class WorkableFake(FakeBase):
    name = "workable"

    def rate_limits(self):
        return {"api": {"scheme": "window", "limit": 10, "window": 10}}

    def load(self, seed):
        super().load(seed)
        for key in COLLECTIONS:
            self.data.setdefault(key, [])
        self.data.setdefault("auth", {"token": "workable-test-token", "subdomain": "acme"})

    def authenticate(self, req):
        if bearer(req) != self.data["auth"]["token"]:
            return self.error(401, "Not authorized")
        return None

    def decorate(self, req, resp, scope):
        limit, remaining, reset = self.limiter.status(scope, time.time())
        resp.headers.update({"X-Rate-Limit-Limit": limit, "X-Rate-Limit-Remaining": remaining,
                             "X-Rate-Limit-Reset": reset})

    def member(self, body):
        """The member_id of a write body, or an error Response."""
        member_id = body.get("member_id")
        if not member_id:
            return self.error(422, "member_id is required")
        if self.find("members", member_id) is None:
            return self.error(422, "member_id is not a member of this account")
        return member_id

    # ---- pagination

    def listing(self, req, key, items):
        """{KEY: page, paging: {next: full URL}}; `limit` 1-100 (default 50), `since_id`
        starts the page at that item (ids are ordered as stored)."""
        limit = req.arg("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            return self.error(422, "limit must be an integer from 1 to 100")
        start, since = 0, req.arg("since_id")
        if since is not None:
            ids = [x["id"] for x in items]
            if since not in ids:
                return self.error(422, "since_id is not a known id")
            start = ids.index(since)
        end = start + int(limit)
        body = {key: items[start:end]}
        if end < len(items):
            query = {k: v for k, v in req.query.items() if k != "since_id"}
            query.update(limit=limit, since_id=items[end]["id"])
            body["paging"] = {"next": "%s%s?%s" % (req.base_url(), req.path, urlencode(query, doseq=True))}
        return Response(200, body)

    # ---- jobs and stages

    def job(self, shortcode):
        return self.find("jobs", shortcode, key="shortcode")

    @route("GET", PREFIX + r"/jobs")
    def jobs(self, req):
        states = req.args("state")
        jobs = [j for j in self.data["jobs"] if not states or j.get("state") in states]
        return self.listing(req, "jobs", jobs)

    def job_stages(self, shortcode):
        rows = [s for s in self.data["stages"] if s["job_shortcode"] == shortcode]
        return [{k: v for k, v in s.items() if k != "job_shortcode"}
                for s in sorted(rows, key=lambda s: s["position"])]

    @route("GET", PREFIX + r"/jobs/(?P<shortcode>[^/]+)/stages")
    def stages(self, req):
        if self.job(req.params["shortcode"]) is None:
            return self.error(404, "Not found")
        return Response(200, {"stages": self.job_stages(req.params["shortcode"])})

    # ---- candidates

    def render(self, cand, detail=False):
        """The list shape; the detail adds tags and phone. `stage` is the stage NAME."""
        job = self.job(cand["job_shortcode"]) or {}
        stages = self.job_stages(cand["job_shortcode"])
        stage = next((s for s in stages if s["slug"] == cand["stage_slug"]), {})
        auth = self.data["auth"]
        out = {"id": cand["id"], "name": cand["name"], "firstname": cand.get("firstname"),
               "lastname": cand.get("lastname"), "headline": cand.get("headline", ""),
               "account": {"subdomain": auth.get("subdomain"), "name": auth.get("account_name")},
               "job": {"shortcode": job.get("shortcode"), "title": job.get("title")},
               "stage": stage.get("name"), "disqualified": cand.get("disqualified", False),
               "disqualification_reason": cand.get("disqualification_reason"),
               "sourced": cand.get("sourced", False),
               "profile_url": "https://%s.workable.com/backend/candidates/%s"
                              % (auth.get("subdomain"), cand["id"]),
               "email": cand.get("email"), "domain": cand.get("domain"),
               "created_at": cand.get("created_at"), "updated_at": cand.get("updated_at")}
        if detail:
            out.update(tags=list(cand.get("tags", [])), phone=cand.get("phone", ""))
        return out

    def candidate(self, req):
        return self.find("candidates", req.params["id"])

    @route("GET", PREFIX + r"/candidates")
    def candidates(self, req):
        email, codes, stage = req.arg("email"), req.args("shortcode"), req.arg("stage")
        items = [c for c in self.data["candidates"]
                 if (email is None or same_email(c.get("email"), email))
                 and (not codes or c["job_shortcode"] in codes)
                 and (stage is None or c["stage_slug"] == stage)]
        return self.listing(req, "candidates", [self.render(c) for c in items])

    @route("GET", PREFIX + r"/candidates/(?P<id>[^/]+)")
    def get_candidate(self, req):
        cand = self.candidate(req)
        return Response(200, {"candidate": self.render(cand, True)}) if cand else self.error(404, "Not found")

    @route("POST", PREFIX + r"/candidates/(?P<id>[^/]+)/move")
    def move(self, req):
        cand, body = self.candidate(req), req.json if isinstance(req.json, dict) else {}
        if cand is None:
            return self.error(404, "Not found")
        member = self.member(body)
        if isinstance(member, Response):
            return member
        slugs = [s["slug"] for s in self.job_stages(cand["job_shortcode"])]
        if body.get("target_stage") not in slugs:
            return self.error(422, "target_stage must be the slug of a stage of the candidate's job")
        self.data["moves"].append({"candidate_id": cand["id"], "from": cand["stage_slug"],
                                   "to": body["target_stage"], "member_id": member, "at": now_iso()})
        cand.update(stage_slug=body["target_stage"], updated_at=now_iso())
        return Response(200, {})

    # ---- comments and tags

    @route("GET", PREFIX + r"/candidates/(?P<id>[^/]+)/comments")
    def comments(self, req):
        """(?) Listing comments is needed for duplicate-note look-ups."""
        if self.candidate(req) is None:
            return self.error(404, "Not found")
        out = []
        for c in self.data["comments"]:
            if c["candidate_id"] == req.params["id"]:
                member = self.find("members", c["member_id"]) or {}
                out.append({"id": c["id"], "body": c["body"], "policy": c.get("policy", []),
                            "member": {"id": member.get("id"), "name": member.get("name")},
                            "created_at": c["created_at"]})
        return Response(200, {"comments": out})

    @route("GET", PREFIX + r"/candidates/(?P<id>[^/]+)/activities")
    def activities(self, req):
        """(?) The candidate's timeline, oldest first, paged like every list:
        each comment as {action: "comment", body, member}, each move as
        {action: "moved", stage_name, body: null}. adapters/workable.lua's
        has_note reads comments back from here."""
        cand = self.candidate(req)
        if cand is None:
            return self.error(404, "Not found")
        rows = []
        for c in self.data["comments"]:
            if c["candidate_id"] == cand["id"]:
                member = self.find("members", c["member_id"]) or {}
                rows.append({"id": c["id"], "action": "comment", "stage_name": None,
                             "created_at": c["created_at"], "body": c["body"],
                             "member": {"id": member.get("id"), "name": member.get("name")}})
        stages = {s["slug"]: s["name"] for s in self.job_stages(cand["job_shortcode"])}
        for i, m in enumerate(self.data["moves"]):
            if m["candidate_id"] == cand["id"]:
                member = self.find("members", m["member_id"]) or {}
                rows.append({"id": "mv%04d" % i, "action": "moved", "stage_name": stages.get(m["to"]),
                             "created_at": m["at"], "body": None,
                             "member": {"id": member.get("id"), "name": member.get("name")}})
        rows.sort(key=lambda r: r["created_at"] or "")
        return self.listing(req, "activities", rows)

    @route("POST", PREFIX + r"/candidates/(?P<id>[^/]+)/comments")
    def add_comment(self, req):
        cand, body = self.candidate(req), req.json if isinstance(req.json, dict) else {}
        if cand is None:
            return self.error(404, "Not found")
        member = self.member(body)
        if isinstance(member, Response):
            return member
        comment = body.get("comment")
        text = comment.get("body") if isinstance(comment, dict) else None
        if not isinstance(text, str) or not text.strip():
            return self.error(422, "comment.body is required")
        row = {"id": secrets.token_hex(4), "candidate_id": cand["id"], "body": text,
               "member_id": member, "policy": comment.get("policy", []), "created_at": now_iso()}
        self.data["comments"].append(row)
        return Response(201, {"id": row["id"]})

    @route("PUT", PREFIX + r"/candidates/(?P<id>[^/]+)/tags")
    def put_tags(self, req):
        cand = self.candidate(req)
        if cand is None:
            return self.error(404, "Not found")
        tags = req.json.get("tags") if isinstance(req.json, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            return self.error(422, "tags must be a list of strings")
        cand.update(tags=list(dict.fromkeys(tags)), updated_at=now_iso())
        return Response(200, {})


FAKE = WorkableFake
