"""Fake Lever API (spec: adapters.md, Lever section; all of it (3p)).

Serves /v1/... with Basic auth (API key as user, blank password); writes need
?perform_as=<user id>; lists are {data, hasNext, next} paged with offset.
Relies on fakebase for recording, faults, limits and the control API.
"""

import secrets

from fakebase import (FakeBase, Response, basic_auth, decode_cursor, encode_cursor,
                      now_ms, route, same_email)

CODES = {400: "BadRequestError", 401: "UnauthorizedError", 403: "ForbiddenError",
         404: "ResourceNotFound", 405: "MethodNotAllowed", 429: "TooManyRequests"}
COLLECTIONS = ("users", "postings", "stages", "opportunities", "notes")


def new_uuid():
    h = secrets.token_hex(16)
    return "%s-%s-4%s-8%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


class LeverFake(FakeBase):
    name = "lever"

    def rate_limits(self):
        return {"api": {"scheme": "bucket", "rate": 10, "burst": 20}}

    def load(self, seed):
        super().load(seed)
        for key in COLLECTIONS:
            self.data.setdefault(key, [])
        self.data.setdefault("auth", {"api_key": "lever-test-key"})

    def authenticate(self, req):
        if basic_auth(req) != (self.data["auth"]["api_key"], ""):
            resp = self.error(401, "Invalid API key (Basic auth: the key as user, blank password)")
            resp.headers["WWW-Authenticate"] = 'Basic realm="Lever"'
            return resp
        return None

    def error(self, status, message, **extra):
        return Response(status, dict({"code": CODES.get(status, "Error"), "message": message}, **extra))

    def actor(self, req):
        """The perform_as user, or an error Response (writes only)."""
        user = req.arg("perform_as")
        if not user:
            return self.error(400, "perform_as is required")
        if self.find("users", user) is None:
            return self.error(400, "perform_as is not a user of this account")
        return user

    def listing(self, req, items):
        """{data, hasNext, next?}: `limit` 1-100 (default 100), `offset` = a previous `next`."""
        limit = req.arg("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            return self.error(400, "limit must be an integer from 1 to 100")
        start = 0
        if req.arg("offset") is not None:
            state = decode_cursor(req.arg("offset"))
            if state is None or not isinstance(state.get("o"), int):
                return self.error(400, "invalid offset")
            start = state["o"]
        end = start + int(limit)
        body = {"data": items[start:end], "hasNext": end < len(items)}
        if body["hasNext"]:
            body["next"] = encode_cursor({"o": end})
        return Response(200, body)

    # ---- catalog

    @route("GET", r"/v1/postings")
    def postings(self, req):
        states = req.args("state")
        items = [p for p in self.data["postings"] if not states or p.get("state") in states]
        return self.listing(req, items)

    @route("GET", r"/v1/stages")
    def stages(self, req):
        return self.listing(req, self.data["stages"])

    # ---- opportunities

    def opportunity(self, req):
        return self.find("opportunities", req.params["id"])

    def render(self, opp, req):
        """An opportunity; `expand=stage` / `expand=applications` inline those."""
        out = {k: v for k, v in opp.items() if k != "applications"}
        expand = set(req.args("expand"))
        out["applications"] = opp.get("applications", []) if "applications" in expand else \
            [a["id"] for a in opp.get("applications", [])]
        if "stage" in expand:
            stage = self.find("stages", opp.get("stage"))
            out["stage"] = {"id": stage["id"], "text": stage["text"]} if stage else None
        return out

    def matches(self, opp, req):
        """Filters of GET /opportunities: email, posting_id, stage_id, tag, archived."""
        emails, postings = req.args("email"), req.args("posting_id")
        stages, tags, archived = req.args("stage_id"), req.args("tag"), req.arg("archived")
        return ((not emails or any(same_email(e, x) for e in opp.get("emails", []) for x in emails))
                and (not postings or any(a.get("posting") in postings for a in opp.get("applications", [])))
                and (not stages or opp.get("stage") in stages)
                and (not tags or any(t in tags for t in opp.get("tags", [])))
                and (archived is None or (opp.get("archived") is not None) == (archived == "true")))

    @route("GET", r"/v1/opportunities")
    def opportunities(self, req):
        items = [self.render(o, req) for o in self.data["opportunities"] if self.matches(o, req)]
        return self.listing(req, items)

    @route("GET", r"/v1/opportunities/(?P<id>[^/]+)")
    def get_opportunity(self, req):
        opp = self.opportunity(req)
        if opp is None:
            return self.error(404, "opportunity not found")
        return Response(200, {"data": self.render(opp, req)})

    @route("PUT", r"/v1/opportunities/(?P<id>[^/]+)/stage")
    def move(self, req):
        opp, user = self.opportunity(req), self.actor(req)
        if opp is None:
            return self.error(404, "opportunity not found")
        if isinstance(user, Response):
            return user
        stage_id = req.json.get("stage") if isinstance(req.json, dict) else None
        ids = [s["id"] for s in self.data["stages"]]
        if stage_id not in ids:
            return self.error(400, "stage must be the id of an existing stage")
        opp.setdefault("stageChanges", []).append(
            {"toStageId": stage_id, "toStageIndex": ids.index(stage_id),
             "updatedAt": now_ms(), "userId": user})
        opp.update(stage=stage_id, lastAdvancedAt=now_ms(), updatedAt=now_ms())
        return Response(200, {"data": self.render(opp, req)})

    # ---- notes and tags

    @route("GET", r"/v1/opportunities/(?P<id>[^/]+)/notes")
    def notes(self, req):
        """(?) Listing notes is needed for duplicate-note look-ups."""
        if self.opportunity(req) is None:
            return self.error(404, "opportunity not found")
        items = [{k: v for k, v in n.items() if k != "opportunity_id"}
                 for n in self.data["notes"] if n["opportunity_id"] == req.params["id"]]
        return self.listing(req, items)

    @route("POST", r"/v1/opportunities/(?P<id>[^/]+)/notes")
    def add_note(self, req):
        opp, user = self.opportunity(req), self.actor(req)
        if opp is None:
            return self.error(404, "opportunity not found")
        if isinstance(user, Response):
            return user
        value = req.json.get("value") if isinstance(req.json, dict) else None
        if not isinstance(value, str) or not value.strip():
            return self.error(400, "value is required")
        note = {"id": new_uuid(), "opportunity_id": opp["id"], "text": value,
                "fields": [{"type": "note", "text": "Note", "value": value}],
                "user": user, "secret": False, "createdAt": now_ms(), "completedAt": now_ms()}
        self.data["notes"].append(note)
        return Response(201, {"data": {"noteId": note["id"]}})

    @route("POST", r"/v1/opportunities/(?P<id>[^/]+)/addTags")
    def add_tags(self, req):
        opp, user = self.opportunity(req), self.actor(req)
        if opp is None:
            return self.error(404, "opportunity not found")
        if isinstance(user, Response):
            return user
        tags = req.json.get("tags") if isinstance(req.json, dict) else None
        if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t for t in tags):
            return self.error(400, "tags must be a non-empty list of strings")
        current = opp.setdefault("tags", [])
        current.extend(t for t in dict.fromkeys(tags) if t not in current)
        opp["updatedAt"] = now_ms()
        return Response(200, {"data": self.render(opp, req)})


FAKE = LeverFake
