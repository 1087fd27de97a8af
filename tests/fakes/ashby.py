"""Fake Ashby API (spec: adapters.md, Ashby section).

Every call is POST /<method> with a JSON body and Basic auth (API key as user).
Answers {success: true, results, ...}; call-level errors are HTTP 200 with
{success: false, errors: [...], errorInfo: {code, message}}. Auth and transport
errors use HTTP statuses (401, 404 unknown method, 405, 429).
Jobs carry `interviewPlanIds` and `defaultInterviewPlanId`; stages come from
interviewStage.list {interviewPlanId}. Relies on fakebase.
"""

import secrets

from fakebase import (FakeBase, Response, basic_auth, decode_cursor, encode_cursor,
                      now_iso, route, same_email)

COLLECTIONS = ("users", "jobs", "interview_plans", "interview_stages", "candidates",
               "applications", "notes", "candidate_tags", "stage_changes")


def new_uuid():
    h = secrets.token_hex(16)
    return "%s-%s-4%s-8%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


class CallError(Exception):
    """A call-level failure: answered as HTTP 200 {success: false}."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class AshbyFake(FakeBase):
    name = "ashby"

    METHODS = {
        "job.list": "job_list", "job.info": "job_info",
        "interviewStage.list": "interview_stage_list",
        "application.info": "application_info", "application.changeStage": "change_stage",
        "candidate.search": "candidate_search", "candidate.info": "candidate_info",
        "candidate.createNote": "create_note", "candidate.listNotes": "list_notes",
        "candidateTag.list": "tag_list", "candidateTag.create": "tag_create",
        "candidate.addTag": "add_tag",
    }

    def rate_limits(self):
        return {"api": {"scheme": "bucket", "rate": 10, "burst": 20}}  # (?) not documented here

    def load(self, seed):
        super().load(seed)
        for key in COLLECTIONS:
            self.data.setdefault(key, [])
        self.data.setdefault("auth", {"api_key": "ashby-test-key"})

    def authenticate(self, req):
        creds = basic_auth(req)
        if creds is None or creds[0] != self.data["auth"]["api_key"]:
            return self.error(401, "invalid API key")
        return None

    def error(self, status, message, **extra):
        body = {"success": False, "errors": [message],
                "errorInfo": {"code": extra.pop("code", "error"), "message": message}}
        return Response(status, dict(body, **extra))

    # ---- the single entry point

    @route("POST", r"/(?P<method>[A-Za-z]+\.[A-Za-z]+)")
    def call(self, req):
        handler = self.METHODS.get(req.params["method"])
        if handler is None:
            return self.error(404, "unknown endpoint " + req.params["method"], code="endpoint_not_found")
        if req.body.strip() and not isinstance(req.json, dict):
            return self.error(400, "body must be a JSON object", code="invalid_input")
        try:
            return Response(200, dict({"success": True}, **getattr(self, handler)(req.json or {})))
        except CallError as e:
            return self.error(200, str(e), code=e.code)

    # ---- helpers

    def need(self, body, key, collection=None):
        """BODY[KEY] as a non-empty string, or the item of COLLECTION with that id."""
        value = body.get(key)
        if not isinstance(value, str) or not value:
            raise CallError("invalid_input", "%s is required" % key)
        if collection is None:
            return value
        item = self.find(collection, value)
        if item is None:
            raise CallError("%s_not_found" % collection.rstrip("s"), "%s %s not found" % (key, value))
        return item

    def page(self, body, items):
        """cursor/limit → results, moreDataAvailable, nextCursor."""
        limit = body.get("limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise CallError("invalid_input", "limit must be an integer from 1 to 100")
        start = 0
        if body.get("cursor") is not None:
            state = decode_cursor(str(body["cursor"]))
            if state is None or not isinstance(state.get("o"), int):
                raise CallError("invalid_cursor", "invalid cursor")
            start = state["o"]
        end = start + limit
        out = {"results": items[start:end], "moreDataAvailable": end < len(items)}
        if out["moreDataAvailable"]:
            out["nextCursor"] = encode_cursor({"o": end})
        return out

    def stage_of(self, stage_id):
        return self.find("interview_stages", stage_id)

    def render_candidate(self, cand):
        tags = [t for t in self.data["candidate_tags"] if t["id"] in cand.get("tagIds", [])]
        apps = [a["id"] for a in self.data["applications"] if a["candidateId"] == cand["id"]]
        out = {k: v for k, v in cand.items() if k != "tagIds"}
        return dict(out, tags=tags, applicationIds=apps)

    def render_application(self, app):
        cand = self.find("candidates", app["candidateId"]) or {}
        job = self.find("jobs", app["jobId"]) or {}
        return {
            "id": app["id"], "status": app["status"], "createdAt": app.get("createdAt"),
            "updatedAt": app.get("updatedAt"),
            "candidate": {"id": cand.get("id"), "name": cand.get("name"),
                          "primaryEmailAddress": cand.get("primaryEmailAddress")},
            "currentInterviewStage": self.stage_of(app["currentInterviewStageId"]),
            "job": {"id": job.get("id"), "title": job.get("title")},
        }

    # ---- jobs and stages

    def job_list(self, body):
        status = body.get("status")
        statuses = [status] if isinstance(status, str) else status
        jobs = [j for j in self.data["jobs"] if not statuses or j.get("status") in statuses]
        return self.page(body, jobs)

    def job_info(self, body):
        return {"results": self.need(body, "id", "jobs")}

    def interview_stage_list(self, body):
        plan = self.need(body, "interviewPlanId", "interview_plans")
        stages = [s for s in self.data["interview_stages"] if s["interviewPlanId"] == plan["id"]]
        return {"results": sorted(stages, key=lambda s: s["orderInInterviewPlan"]),
                "moreDataAvailable": False}

    # ---- applications

    def application_info(self, body):
        return {"results": self.render_application(self.need(body, "applicationId", "applications"))}

    def change_stage(self, body):
        app = self.need(body, "applicationId", "applications")
        stage = self.need(body, "interviewStageId", "interview_stages")
        job = self.find("jobs", app["jobId"]) or {}
        if stage["interviewPlanId"] not in job.get("interviewPlanIds", []):
            raise CallError("invalid_interview_stage", "interview stage is not in the job's interview plan")
        self.data["stage_changes"].append({"applicationId": app["id"], "from": app["currentInterviewStageId"],
                                           "to": stage["id"], "at": now_iso()})
        app.update(currentInterviewStageId=stage["id"], updatedAt=now_iso())
        if stage["type"] == "Archived":
            app["status"] = "Archived"
        return {"results": self.render_application(app)}

    # ---- candidates

    def candidate_search(self, body):
        email, name = body.get("email"), body.get("name")
        if not email and not name:
            raise CallError("invalid_input", "email or name is required")
        found = [c for c in self.data["candidates"]
                 if (not email or any(same_email(e.get("value"), email) for e in c.get("emailAddresses", [])))
                 and (not name or name.lower() in c.get("name", "").lower())]
        return {"results": [self.render_candidate(c) for c in found]}

    def candidate_info(self, body):
        return {"results": self.render_candidate(self.need(body, "id", "candidates"))}

    def create_note(self, body):
        cand = self.need(body, "candidateId", "candidates")
        note = body.get("note")
        text = note.get("value") if isinstance(note, dict) else note
        if not isinstance(text, str) or not text.strip():
            raise CallError("invalid_input", "note is required (a string or {type, value})")
        users = self.data["users"]
        row = {"id": new_uuid(), "candidateId": cand["id"], "content": text, "createdAt": now_iso(),
               "author": users[0] if users else None}
        if isinstance(note, dict):
            row["type"] = note.get("type", "text/plain")
        self.data["notes"].append(row)
        return {"results": {k: v for k, v in row.items() if k != "candidateId"}}

    def list_notes(self, body):
        """(?) Used for duplicate-note look-ups."""
        cand = self.need(body, "candidateId", "candidates")
        notes = [{k: v for k, v in n.items() if k != "candidateId"}
                 for n in self.data["notes"] if n["candidateId"] == cand["id"]]
        return self.page(body, notes)

    # ---- tags

    def tag_list(self, body):
        archived = bool(body.get("includeArchived"))
        tags = [t for t in self.data["candidate_tags"] if archived or not t.get("isArchived")]
        return self.page(body, tags)

    def tag_create(self, body):
        title = self.need(body, "title").strip()
        if any(t["title"].lower() == title.lower() and not t.get("isArchived")
               for t in self.data["candidate_tags"]):
            raise CallError("duplicate_tag", "a tag with this title already exists")  # (?)
        tag = {"id": new_uuid(), "title": title, "isArchived": False}
        self.data["candidate_tags"].append(tag)
        return {"results": tag}

    def add_tag(self, body):
        cand = self.need(body, "candidateId", "candidates")
        tag = self.need(body, "tagId", "candidate_tags")
        ids = cand.setdefault("tagIds", [])
        if tag["id"] not in ids:
            ids.append(tag["id"])
        return {"results": self.render_candidate(cand)}


FAKE = AshbyFake
