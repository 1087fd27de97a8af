"""Fake Coderbyte API, as modeled in coderbyte.md (the real paths are unknown).

Serves /api/v1/... with Authorization: Bearer <api_key>: assessments, invitations
(201, 409 when already invited, Idempotency-Key replay), report data (seedable,
not ready for the first N fetches) and interview reports. Relies on fakebase.
"""

import hashlib
import json
import re

from fakebase import FakeBase, Response, bearer, now_iso, route, same_email

PREFIX = "/api/v1"
COLLECTIONS = ("assessments", "invitations", "reports", "interview_reports")
REPORT_FIELDS = ("final_score", "code_score", "mc_score", "qualified", "plagiarism", "time_taken")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CoderbyteFake(FakeBase):
    name = "coderbyte"

    def load(self, seed):
        super().load(seed)
        for key in COLLECTIONS:
            self.data.setdefault(key, [])
        self.data.setdefault("idempotency_keys", {})
        self.data.setdefault("auth", {"api_key": "cb-test-key", "organization_id": "acme"})

    def authenticate(self, req):
        if bearer(req) != self.data["auth"]["api_key"]:
            return self.error(401, "unauthorized")
        return None

    def error(self, status, message, **extra):
        return Response(status, dict({"error": message}, **extra))

    def assessment(self, req):
        return self.find("assessments", req.params["id"])

    # ---- assessments and invitations

    @route("GET", PREFIX + r"/assessments")
    def assessments(self, req):
        rows = [{k: a.get(k) for k in ("id", "name", "qualifying_score")} for a in self.data["assessments"]]
        return Response(200, {"assessments": rows})

    @route("POST", PREFIX + r"/assessments/(?P<id>[^/]+)/invitations")
    def invite(self, req):
        """Same Idempotency-Key + same request → the stored answer; different request → 422."""
        key = req.headers.get("idempotency-key")
        fingerprint = self.fingerprint(req)
        if key is not None:
            prior = self.data["idempotency_keys"].get(key)
            if prior is not None:
                if prior["fingerprint"] != fingerprint:
                    return self.error(422, "Idempotency-Key reused with a different request")
                return Response(prior["status"], prior["body"], {"Idempotent-Replayed": "true"})
        resp = self.create_invitation(req, key)
        if key is not None and resp.status in (201, 409):
            self.data["idempotency_keys"][key] = {"fingerprint": fingerprint, "status": resp.status,
                                                  "body": resp.json()}
        return resp

    @staticmethod
    def fingerprint(req):
        body = json.dumps(req.json, sort_keys=True) if req.json is not None else req.body
        return hashlib.sha256((req.method + " " + req.path + "\n" + body).encode()).hexdigest()

    def create_invitation(self, req, key):
        assessment = self.assessment(req)
        if assessment is None:
            return self.error(404, "assessment not found")
        body = req.json if isinstance(req.json, dict) else {}
        email, name = body.get("email"), body.get("name")
        if not isinstance(email, str) or not EMAIL.match(email):
            return self.error(422, "email is required and must be an email address")
        if name is not None and not isinstance(name, str):
            return self.error(422, "name must be a string")
        if self.invitations_of(assessment["id"], email):
            return self.error(409, "candidate already invited to this assessment")
        inv_id = self.new_invitation_id()
        inv = {"invitation_id": inv_id, "assessment_id": assessment["id"], "email": email,
               "name": name, "invite_url": "https://coderbyte.com/invite/" + inv_id,
               "status": "invited", "idempotency_key": key, "created_at": now_iso()}
        self.data["invitations"].append(inv)
        return Response(201, {"invite_url": inv["invite_url"], "invitation_id": inv["invitation_id"]})

    def new_invitation_id(self):
        """inv_NNNNNN, one above the highest seeded or created."""
        numbers = [int(i["invitation_id"][4:]) for i in self.data["invitations"]
                   if re.fullmatch(r"inv_\d+", str(i.get("invitation_id")))]
        return "inv_%06d" % (max(numbers + [0]) + 1)

    def invitations_of(self, assessment_id, email=None):
        return [i for i in self.data["invitations"]
                if i["assessment_id"] == assessment_id and (email is None or same_email(i["email"], email))]

    @route("GET", PREFIX + r"/assessments/(?P<id>[^/]+)/invitations")
    def list_invitations(self, req):
        """The look-up after a 409 or an ambiguous failure: ?email= (optional)."""
        if self.assessment(req) is None:
            return self.error(404, "assessment not found")
        rows = [{k: v for k, v in i.items() if k != "idempotency_key"}
                for i in self.invitations_of(req.params["id"], req.arg("email"))]
        return Response(200, {"invitations": rows})

    # ---- reports

    @route("GET", PREFIX + r"/assessments/(?P<id>[^/]+)/reports")
    def report(self, req):
        """Report data; report_ready is false (scores null) for the first
        `not_ready_fetches` fetches of a seeded report."""
        if self.assessment(req) is None:
            return self.error(404, "assessment not found")
        email = req.arg("email")
        if not email:
            return self.error(422, "email is required")
        row = next((r for r in self.data["reports"]
                    if r["assessment_id"] == req.params["id"] and same_email(r["email"], email)), None)
        if row is None:
            return self.error(404, "no report for this candidate")
        row["fetches"] = row.get("fetches", 0) + 1
        ready = row["fetches"] > row.get("not_ready_fetches", 0)
        out = {"report_ready": ready, "email": row["email"], "assessment_id": row["assessment_id"],
               "report_url": row.get("report_url")}
        out.update({k: row.get(k) if ready else None for k in REPORT_FIELDS})
        return Response(200, out)

    @route("GET", PREFIX + r"/interviews/(?P<id>[^/]+)/report")
    def interview_report(self, req):
        row = self.find("interview_reports", req.params["id"], key="interview_id")
        if row is None:
            return self.error(404, "interview not found")
        return Response(200, {"report_url": row.get("report_url"), "scorecard": row.get("scorecard")})


FAKE = CoderbyteFake
