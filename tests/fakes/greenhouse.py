"""Fake Greenhouse Harvest v3 (spec: greenhouse-v3.md).

Serves the OAuth2 token endpoint and the /v3 subset atsflow uses, on one port:
point both `auth_url` and `base_url` at it. Ids are JSON integers above 2^31.
Relies on fakebase for recording, faults, limits and the control API.
"""

import secrets
import time

from fakebase import (FakeBase, Response, basic_auth, bearer, decode_cursor,
                      encode_cursor, now_iso, route, same_email)

VISIBILITIES = ("admin_only", "private", "public")
COLLECTIONS = ("users", "jobs", "job_interview_stages", "candidates", "applications",
               "notes", "candidate_tags", "applied_candidate_tags", "moves")
ID_BASE = {"notes": 4000200001, "candidate_tags": 4000300001, "applied_candidate_tags": 4000400001}


def as_id(value):
    """A JSON integer or a string of digits → int; anything else (floats too) → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class GreenhouseFake(FakeBase):
    name = "greenhouse"

    def __init__(self, seed=None, options=None):
        self.tokens = {}  # survives /__fake/reset: it is the client's auth, not data
        super().__init__(seed, options)

    # ---- hooks

    def default_options(self):
        return {
            "token_expiry": "expires_in",   # or "expires_at" (ISO time) or "none"
            "token_ttl": 3600,              # seconds a new token lives
            "application_stage": "both",    # "id" (current_stage_id), "object" (current_stage) or "both"
        }

    def rate_limits(self):
        # 5/s: the adapter's default, so the bucket that follows it keeps pace
        return {"api": {"scheme": "window", "limit": 150, "window": 30},
                "token": {"scheme": "window", "limit": 20, "window": 60}}

    def rate_scope(self, req):
        return "token" if req.path == "/token" else "api"

    def load(self, seed):
        super().load(seed)
        for key in COLLECTIONS:
            self.data.setdefault(key, [])
        self.data.setdefault("auth", {"client_id": "gh-test-client", "client_secret": "gh-test-secret"})

    def state(self):
        tokens = [{"access_token": t, "sub": v["sub"], "expires_at": now_iso(v["expires_at"]),
                   "live": v["expires_at"] > time.time()} for t, v in self.tokens.items()]
        return dict(self.data, tokens=tokens)

    def authenticate(self, req):
        if not req.path.startswith("/v3/"):
            return None
        token = self.tokens.get(bearer(req) or "")
        if token is None or token["expires_at"] <= time.time():
            resp = self.error(401, "invalid or expired access token")
            resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return resp
        return None

    def decorate(self, req, resp, scope):
        limit, remaining, reset = self.limiter.status(scope, time.time())
        resp.headers.update({"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": remaining,
                             "X-RateLimit-Reset": reset})

    def error(self, status, message, **extra):
        return Response(status, dict({"message": message}, **extra))

    def invalid(self, field, message):
        """422 in the Harvest validation shape."""
        return self.error(422, "Validation error", errors=[{"field": field, "message": message}])

    def actor(self, req):
        """The user id the bearer token acts as (its `sub`)."""
        return self.tokens[bearer(req)]["sub"]

    # ---- auth

    @route("POST", r"/token")
    def token(self, req):
        creds = basic_auth(req)
        auth = self.data["auth"]
        if creds != (auth["client_id"], auth["client_secret"]):
            return Response(401, {"error": "invalid_client"})
        form = req.form()
        if form.get("grant_type") != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type"})
        sub = form.get("sub", "")
        if not isinstance(sub, str) or not sub.isdigit() or not self.find("users", int(sub)):
            return Response(400, {"error": "invalid_request",
                                  "error_description": "sub must be a known user id"})
        return Response(200, self.issue(int(sub)))

    def issue(self, sub):
        """Create a token for user SUB; the answer carries the configured expiry field."""
        ttl = float(self.options["token_ttl"])
        token = "ghv3_" + secrets.token_hex(16)
        self.tokens[token] = {"sub": sub, "expires_at": time.time() + ttl}
        body = {"access_token": token, "token_type": "bearer"}
        style = self.options["token_expiry"]
        if style == "expires_in":
            body["expires_in"] = int(ttl)
        elif style == "expires_at":
            body["expires_at"] = now_iso(time.time() + ttl)
        return body

    @route("POST", r"/__fake/expire_tokens")
    def c_expire_tokens(self, req):
        """Every issued token stops working now (the next /v3 call gets 401)."""
        for token in self.tokens.values():
            token["expires_at"] = 0
        return Response(200, {"expired": len(self.tokens)})

    # ---- pagination

    def listing(self, req, select):
        """A bare JSON array page; filters and per_page only on the first request,
        `cursor` alone on the follow-ups (else 422); Link rel="next" while more."""
        if "cursor" in req.query_lists:
            if set(req.query_lists) != {"cursor"}:
                return self.invalid("cursor", "cursor must be the only query parameter")
            state = decode_cursor(req.arg("cursor"))
            if state is None or not {"q", "per_page", "offset"} <= set(state):
                return self.invalid("cursor", "invalid cursor")
            query, per_page, offset = state["q"], state["per_page"], state["offset"]
        else:
            query = {k: v for k, v in req.query_lists.items() if k != "per_page"}
            per_page, offset = req.arg("per_page", "100"), 0
            if not per_page.isdigit() or not 1 <= int(per_page) <= 500:
                return self.invalid("per_page", "must be an integer from 1 to 500")
            per_page = int(per_page)
        items = select(FilterQuery(query))
        if isinstance(items, Response):
            return items
        page, headers = items[offset:offset + per_page], {}
        if offset + per_page < len(items):
            cursor = encode_cursor({"q": query, "per_page": per_page, "offset": offset + per_page})
            headers["Link"] = '<%s%s?cursor=%s>; rel="next"' % (req.base_url(), req.path, cursor)
        return Response(200, page, headers)

    def ids_filter(self, query, name):
        """The integer ids of filter NAME, None when absent, a 422 when malformed."""
        values = query.all(name)
        if not values:
            return None
        ids = [as_id(v) for v in values]
        return self.invalid(name, "must be comma-separated integer ids") if None in ids else set(ids)

    def filtered(self, items, query, filters):
        """Apply {filter name: item key} id filters; a Response on bad input."""
        for name, key in filters.items():
            ids = self.ids_filter(query, name)
            if isinstance(ids, Response):
                return ids
            if ids is not None:
                items = [x for x in items if x.get(key) in ids]
        return items

    # ---- catalog

    @route("GET", r"/v3/jobs")
    def jobs(self, req):
        def select(q):
            items = self.filtered(self.data["jobs"], q, {"ids": "id"})
            status = q.first("status")
            return items if isinstance(items, Response) or not status else \
                [j for j in items if j.get("status") == status]
        return self.listing(req, select)

    @route("GET", r"/v3/job_interview_stages")
    def stages(self, req):
        def select(q):
            items = self.filtered(self.data["job_interview_stages"], q, {"ids": "id", "job_ids": "job_id"})
            return items if isinstance(items, Response) else \
                sorted(items, key=lambda s: (s["job_id"], s.get("sort_order", 0)))
        return self.listing(req, select)

    # ---- applications and candidates

    def stage(self, stage_id):
        return self.find("job_interview_stages", stage_id)

    def render_application(self, app):
        """current_stage_id and/or current_stage {id, name}, per option (?)."""
        out = {k: v for k, v in app.items() if k != "current_stage_id"}
        style, stage = self.options["application_stage"], self.stage(app["current_stage_id"])
        if style in ("id", "both"):
            out["current_stage_id"] = app["current_stage_id"]
        if style in ("object", "both"):
            out["current_stage"] = {"id": stage["id"], "name": stage["name"]} if stage else None
        return out

    def render_candidate(self, cand):
        ids = [a["id"] for a in self.data["applications"] if a["candidate_id"] == cand["id"]]
        return dict(cand, application_ids=ids)

    @route("GET", r"/v3/applications")
    def applications(self, req):
        def select(q):
            items = self.filtered(self.data["applications"], q,
                                  {"ids": "id", "candidate_ids": "candidate_id", "job_ids": "job_id"})
            status = q.first("status")
            if isinstance(items, Response):
                return items
            return [self.render_application(a) for a in items if not status or a["status"] == status]
        return self.listing(req, select)

    @route("GET", r"/v3/candidates")
    def candidates(self, req):
        def select(q):
            items = self.filtered(self.data["candidates"], q, {"ids": "id"})
            email = q.first("email")
            if isinstance(items, Response):
                return items
            if email is not None:
                items = [c for c in items
                         if any(same_email(e.get("value"), email) for e in c.get("email_addresses", []))]
            return [self.render_candidate(c) for c in items]
        return self.listing(req, select)

    @route("POST", r"/v3/applications/(?P<id>\d+)/move")
    def move(self, req):
        app = self.find("applications", int(req.params["id"]))
        if app is None:
            return self.error(404, "Resource not found")
        body = req.json if isinstance(req.json, dict) else {}
        src, dst = as_id(body.get("from_stage_id")), as_id(body.get("to_stage_id"))
        if src is None or dst is None:
            return self.invalid("from_stage_id" if src is None else "to_stage_id", "must be an integer id")
        if src != app["current_stage_id"]:
            return self.invalid("from_stage_id", "is not the application's current stage")
        target = self.stage(dst)
        if target is None or target["job_id"] != app["job_id"]:
            return self.invalid("to_stage_id", "is not a stage of the application's job")
        if app["status"] != "active":
            return self.invalid("application_id", "application is not active")
        self.data["moves"].append({"application_id": app["id"], "from_stage_id": src, "to_stage_id": dst,
                                   "user_id": self.actor(req), "at": now_iso()})
        app.update(current_stage_id=dst, last_activity_at=now_iso())
        return Response(204)

    # ---- notes

    @route("POST", r"/v3/notes")
    def create_note(self, req):
        body = req.json if isinstance(req.json, dict) else {}
        cand = self.find("candidates", as_id(body.get("candidate_id")))
        if cand is None:
            return self.invalid("candidate_id", "must be the id of an existing candidate")
        if not isinstance(body.get("body"), str) or not body["body"].strip():
            return self.invalid("body", "can't be blank")
        if body.get("visibility") not in VISIBILITIES:
            return self.invalid("visibility", "must be one of " + ", ".join(VISIBILITIES))
        app_id = body.get("application_id")
        if app_id is not None:
            app = self.find("applications", as_id(app_id))
            if app is None or app["candidate_id"] != cand["id"]:
                return self.invalid("application_id", "is not an application of the candidate")
            app_id = app["id"]
        note = {"id": self.next_id("notes", ID_BASE["notes"]), "candidate_id": cand["id"],
                "application_id": app_id, "body": body["body"], "visibility": body["visibility"],
                "note_type": body.get("note_type", "NOTE"), "user_id": self.actor(req),
                "created_at": now_iso()}
        self.data["notes"].append(note)
        return Response(201, note)

    @route("GET", r"/v3/notes")
    def notes(self, req):
        """(?) Listing notes by candidate is unconfirmed in v3; accepts candidate_id or candidate_ids."""
        def select(q):
            return self.filtered(self.data["notes"], q, {"candidate_id": "candidate_id",
                                                         "candidate_ids": "candidate_id",
                                                         "application_id": "application_id"})
        return self.listing(req, select)

    # ---- tags

    @route("GET", r"/v3/candidate_tags")
    def candidate_tags(self, req):
        return self.listing(req, lambda q: self.filtered(self.data["candidate_tags"], q, {"ids": "id"}))

    @route("POST", r"/v3/candidate_tags")
    def create_candidate_tag(self, req):
        name = (req.json or {}).get("name") if isinstance(req.json, dict) else None
        if not isinstance(name, str) or not name.strip():
            return self.invalid("name", "can't be blank")
        if any(t["name"].lower() == name.strip().lower() for t in self.data["candidate_tags"]):
            return self.invalid("name", "has already been taken")  # (?) duplicate names
        tag = {"id": self.next_id("candidate_tags", ID_BASE["candidate_tags"]), "name": name.strip()}
        self.data["candidate_tags"].append(tag)
        return Response(201, tag)

    @route("GET", r"/v3/applied_candidate_tags")
    def applied_tags(self, req):
        return self.listing(req, lambda q: self.filtered(self.data["applied_candidate_tags"], q,
                                                         {"candidate_ids": "candidate_id", "ids": "id"}))

    @route("POST", r"/v3/applied_candidate_tags")
    def apply_tag(self, req):
        body = req.json if isinstance(req.json, dict) else {}
        cand = self.find("candidates", as_id(body.get("candidate_id")))
        tag = self.find("candidate_tags", as_id(body.get("candidate_tag_id")))
        if cand is None or tag is None:
            return self.invalid("candidate_id" if cand is None else "candidate_tag_id", "not found")
        applied = self.data["applied_candidate_tags"]
        if any(a["candidate_id"] == cand["id"] and a["candidate_tag_id"] == tag["id"] for a in applied):
            return self.invalid("candidate_tag_id", "is already applied to the candidate")  # (?)
        row = {"id": self.next_id("applied_candidate_tags", ID_BASE["applied_candidate_tags"]),
               "candidate_id": cand["id"], "candidate_tag_id": tag["id"], "created_at": now_iso()}
        applied.append(row)
        return Response(201, row)


class FilterQuery:
    """Read access to a query saved as {name: [values]} (first request or cursor)."""

    def __init__(self, lists):
        self.lists = lists

    def first(self, name):
        values = self.lists.get(name)
        return values[0] if values else None

    def all(self, name):
        out = []
        for value in self.lists.get(name, []):
            out.extend(v for v in value.split(",") if v != "")
        return out


FAKE = GreenhouseFake
