"""Hostile input, table-driven: every source (greenhouse, lever, ashby,
workable, coderbyte, sandbox, /events) gets malformed JSON, wrong content
types, empty bodies, invalid UTF-8, NUL bytes, 10,000-deep nesting, huge
numbers and ids, duplicate keys, missing and wrong-typed fields, oversized
strings, wrong methods, unknown sources, bad and replayed signatures and
expired JWTs, sent to the real binary over raw sockets. Each case states:

- the HTTP status (spec surface.md, "Webhook answers");
- whether the delivery is journaled: never when unauthenticated; `failed`
  (reason kept, replayable) when authenticated but not understood; else
  accepted and processed or ignored;
- the log line that explains it — and no log line, answer or journal row
  may hold a secret, and no log line the body.

The kept fuzz inputs are replayed here too (FuzzReplay): the HTTP ones
against the same daemon, the others through `atsflow test
tests/fuzz/replay_test.lua`."""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import unittest
import uuid

from flowkit import fake, wait_for
from harness import BINARY, ROOT, Daemon

sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))
import make_seeds  # noqa: E402  (the fuzz targets' secrets, so fuzz inputs replay here)

S = dict(make_seeds.SECRETS)
ADMIN = make_seeds.ADMIN
CB_ORG = "acme"
FIX = os.path.join(ROOT, "tests", "fixtures")

# Values that must never show up anywhere but the config file.
SECRET_VALUES = [v for v in S.values()] + [ADMIN, "fuzz-gh-client-secret-e2e", "fuzz-lever-api-key-e2e",
                                           "fuzz-ashby-api-key-e2e", "fuzz-workable-token-e2e"]


def fixture(*p):
    with open(os.path.join(FIX, *p), "rb") as f:
        return f.read()


def hexmac(key, msg):
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt(claims=None, key=None, alg="HS256", header=None):
    now = int(time.time())
    c = {"iss": CB_ORG, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
    c.update(claims or {})
    c = {k: v for k, v in c.items() if v is not None}
    h = b64url(json.dumps(header or {"alg": alg, "typ": "JWT"}).encode())
    p = b64url(json.dumps(c).encode())
    sig = hmac.new((key or S["coderbyte"]).encode(), (h + "." + p).encode(), hashlib.sha256).digest()
    return h + "." + p + "." + b64url(sig)


# ------------------------------------------------------------ signers

def sign_greenhouse(body, secret=None):
    return {"Signature": "sha256 " + hexmac(secret or S["greenhouse"], body),
            "Greenhouse-Event-ID": "gh-" + uuid.uuid4().hex}


def sign_ashby(body, secret=None):
    return {"Ashby-Signature": "sha256=" + hexmac(secret or S["ashby"], body)}


def sign_workable(body, secret=None):
    return {"X-Workable-Signature": hexmac(secret or S["workable"], body)}


def sign_sandbox(body, ts=None, msg_id=None, secret=None):
    key = base64.b64decode((secret or S["sandbox"])[6:])
    ts = str(int(time.time()) if ts is None else ts)
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    mac = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": ts,
            "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def sign_coderbyte(body, **claims):
    return {"Authorization": "Bearer " + jwt(claims)}


def lever_body(data, event="candidateStageChange", ts=None, token=None, key=None, extra=None):
    token = token or uuid.uuid4().hex
    ts = int(time.time() * 1000) if ts is None else ts
    b = {"triggeredAt": ts, "event": event, "token": token,
         "signature": hexmac(key or S["lever"], (token + str(ts)).encode()), "data": data}
    b.update(extra or {})
    return json.dumps(b).encode()


SIGNERS = {"greenhouse": sign_greenhouse, "ashby": sign_ashby, "workable": sign_workable,
           "sandbox": sign_sandbox, "coderbyte": sign_coderbyte, "lever": lambda b: {}}

# ------------------------------------------------------------ payloads


def gh_stage(app_id=4000100002, stage=(4000001011, "Application Review"), **over):
    app = {"id": app_id, "status": "active",
           "candidate": {"id": 4000010002, "first_name": "Alan", "last_name": "Turing",
                         "email_addresses": [{"value": "alan.turing@example.com", "type": "personal"}]},
           "jobs": [{"id": 4000000101, "name": "Backend Engineer"}],
           "current_stage": {"id": stage[0], "name": stage[1]}}
    app.update(over)
    return {"action": "candidate_stage_change", "payload": {"application": app}}


def j(v):
    return json.dumps(v).encode()


ASHBY_STAGE = {"action": "candidateStageChange", "webhookActionId": "wa-1", "data": {"application": {
    "id": "a9900000-0000-4000-8000-000000000002", "status": "Active",
    "candidate": {"id": "ca4d0000-0000-4000-8000-000000000002", "name": "Alan Turing",
                  "primaryEmailAddress": {"value": "alan.turing@example.com"}},
    "currentInterviewStage": {"id": "57a90000-0000-4000-8000-000000000011", "title": "Application Review"},
    "job": {"id": "10b00000-0000-4000-8000-000000000001", "title": "Backend Engineer"}}}}


def workable_moved(stage="Applied", **over):
    data = {"id": "ce4da92", "name": "Alan Turing", "email": "alan.turing@example.com",
            "job": {"shortcode": "BACKEND001", "title": "Backend Engineer"}, "stage": stage}
    data.update(over)
    return {"id": "wk-" + uuid.uuid4().hex, "event_type": "candidate_moved", "fired_at": "2026-11-28T10:00:00Z",
            "resource_type": "candidate", "data": data}


def cb_joined(**over):
    b = {"operation": "candidate_joined", "organization_id": CB_ORG, "email": "nobody-%s@example.com" % uuid.uuid4().hex[:8],
         "assessment_id": "backend-take-home-9x1"}
    b.update(over)
    return b


def sandbox_event(**over):
    ev = {"type": "applicant.moved_to_stage",
          "candidate": {"id": "c-%s" % uuid.uuid4().hex[:6], "name": "Ada", "emails": ["ada@example.com"]},
          "application": {"id": "a-1"}, "job": {"id": "101", "name": "Backend Engineer"},
          "stage": {"id": "1011", "name": "Application Review"}}
    ev.update(over)
    return ev


DEEP = b"[" * 10000 + b"]" * 10000
DEEP_OBJ = b'{"action":"candidate_stage_change","payload":' + b'{"a":' * 10000 + b"1" + b"}" * 10000 + b"}"

# ------------------------------------------------------------ the catalog
# (name, request, expected status, journaled, log pattern)
#   request: dict(source=, body=, sign=True|False|callable|headers-dict, method=, path=,
#                 headers=, ctype=, raw=bytes)
#   journaled: None (nothing) | "failed" | "ok" (accepted, then processed/ignored)

R = "webhook rejected"
NU = "delivery not understood"
REF = "request refused"


def case(name, status, journaled, log, **req):
    return (name, req, status, journaled, log)


def catalog():
    now = int(time.time())
    lever_ok = lever_body({"opportunityId": "0dd50000-0000-4000-8000-000000000002",
                           "candidateId": "0dd50000-0000-4000-8000-000000000002",
                           "fromStageId": "lead-new", "toStageId": "applicant-new"})
    replayed = lever_body({"opportunityId": "0dd50000-0000-4000-8000-000000000002"})
    swapped = json.loads(replayed)
    swapped["data"] = {"opportunityId": "0dd50000-0000-4000-8000-000000000001"}
    gh_replay = j(gh_stage(app_id=4000100005))
    gh_replay_headers = sign_greenhouse(gh_replay)
    cb_body = j(cb_joined())
    cb_headers = sign_coderbyte(cb_body, jti="fixed-jti-1")
    return [
        # ---------------------------------------------------------- greenhouse
        case("gh valid stage change", 200, "ok", None, source="greenhouse", body=j(gh_stage())),
        case("gh content type text/plain", 200, "ok", None, source="greenhouse", body=j(gh_stage(app_id=4000100006)), ctype="text/plain"),
        case("gh no content type", 200, "ok", None, source="greenhouse", body=j(gh_stage(app_id=4000100007)), ctype=None),
        case("gh uppercase hex signature", 200, "ok", None, source="greenhouse", body=j(gh_stage(app_id=4000100003)),
             sign=lambda b: dict(sign_greenhouse(b), Signature="sha256 " + hexmac(S["greenhouse"], b).upper())),
        case("gh missing signature", 401, None, (R, "greenhouse", 'reason="missing Signature header"'), source="greenhouse", body=j(gh_stage()), sign=False),
        case("gh malformed signature", 401, None, (R, "greenhouse", 'reason="malformed Signature header"'), source="greenhouse", body=j(gh_stage()),
             sign={"Signature": "sha1=" + "ab" * 20}),
        case("gh wrong secret", 401, None, (R, "greenhouse", 'reason="signature mismatch"'), source="greenhouse", body=j(gh_stage()),
             sign=lambda b: sign_greenhouse(b, "not-the-secret")),
        case("gh signature of another body", 401, None, (R, "greenhouse", 'reason="signature mismatch"'), source="greenhouse", body=j(gh_stage()),
             sign=lambda b: sign_greenhouse(b + b" ")),
        case("gh signature NUL in header", 401, None, (R, "greenhouse", "status=401"), source="greenhouse", body=j(gh_stage()),
             sign=lambda b: {"Signature": "sha256 " + hexmac(S["greenhouse"], b)[:10] + "\x00" + hexmac(S["greenhouse"], b)[10:]}),
        case("gh malformed JSON", 200, "failed", (NU, "greenhouse", "body is not a JSON object"), source="greenhouse", body=b'{"action": "candidate_stage_change",'),
        case("gh empty body", 200, "failed", (NU, "greenhouse", "body is not a JSON object"), source="greenhouse", body=b""),
        case("gh JSON array", 200, "failed", (NU, "greenhouse", "no action"), source="greenhouse", body=b"[1,2,3]"),
        case("gh JSON string", 200, "failed", (NU, "greenhouse", "not a JSON object"), source="greenhouse", body=b'"candidate_stage_change"'),
        case("gh raw NUL byte in JSON", 200, "failed", (NU, "greenhouse", "not a JSON object"), source="greenhouse", body=b'{"action":"ping\x00"}'),
        case("gh escaped NUL in a string", 200, "ok", None, source="greenhouse", body=b'{"action":"job\\u0000x","payload":{}}'),
        case("gh invalid UTF-8 in a name", 200, "ok", None, source="greenhouse",
             body=j(gh_stage(app_id=4000100004)).replace(b'"Alan"', b'"Al\xff\xfe\xc3n"')),
        case("gh 10,000-deep array", 200, "failed", (NU, "greenhouse", "not a JSON object"), source="greenhouse", body=DEEP),
        case("gh 10,000-deep payload", 200, "failed", (NU, "greenhouse", "not a JSON object"), source="greenhouse", body=DEEP_OBJ),
        case("gh Infinity number", 200, "failed", (NU, "greenhouse", "must not be NaN or Inf"), source="greenhouse",
             body=j(gh_stage(app_id=4000100008)).replace(b'"status": "active"', b'"status": "active", "score": 1e999')),
        case("gh NaN literal", 200, "failed", (NU, "greenhouse", "must not be NaN or Inf"), source="greenhouse",
             body=j(gh_stage(app_id=4000100009)).replace(b'"status": "active"', b'"status": "active", "score": NaN')),
        case("gh huge ids", 200, "ok", None, source="greenhouse",
             body=j(gh_stage()).replace(b"4000100002", b"123456789012345678901234567890123")),
        case("gh duplicate keys", 200, "ok", None, source="greenhouse",
             body=b'{"action":"ping","payload":{},"action":"merge_candidate","payload":{"person":{"id":1}}}'),
        case("gh missing application", 200, "failed", (NU, "greenhouse", "without payload.application"), source="greenhouse",
             body=j({"action": "candidate_stage_change", "payload": {}})),
        case("gh application is a string", 200, "failed", (NU, "greenhouse", "without payload.application"), source="greenhouse",
             body=j({"action": "candidate_stage_change", "payload": {"application": "4000100001"}})),
        case("gh ids of the wrong type", 200, "failed", (NU, "greenhouse", "without application, candidate or stage id"), source="greenhouse",
             body=j(gh_stage(id={"x": 1}))),
        case("gh action is a number", 200, "failed", (NU, "greenhouse", "no action"), source="greenhouse", body=j({"action": 5})),
        case("gh oversized string (60 KB)", 200, "ok", None, source="greenhouse",
             body=j(gh_stage(app_id=4000100010, note="x" * 60000))),
        case("gh body over max_body", 413, None, (REF, "status=413"), source="greenhouse", body=j(gh_stage(note="y" * 70000))),
        case("gh GET", 405, None, (REF, "method=GET", "status=405"), source="greenhouse", method="GET", body=b""),
        case("gh PUT", 405, None, (REF, "method=PUT", "status=405"), source="greenhouse", method="PUT", body=j(gh_stage())),
        case("gh OPTIONS", 405, None, (REF, "method=OPTIONS", "status=405"), source="greenhouse", method="OPTIONS", body=b""),
        case("gh ping", 200, None, None, source="greenhouse", body=j({"action": "ping"})),
        case("gh replayed delivery (1st)", 200, "ok", None, source="greenhouse", body=gh_replay, sign=gh_replay_headers),
        case("gh replayed delivery (2nd)", 200, None, None, source="greenhouse", body=gh_replay, sign=gh_replay_headers, answer="duplicate"),
        # ---------------------------------------------------------- lever
        case("lever valid", 200, "ok", None, source="lever", body=lever_ok),
        case("lever bad signature", 401, None, (R, "lever", 'reason="signature mismatch"'), source="lever",
             body=lever_body({"opportunityId": "x"}, key="not-the-token")),
        case("lever missing token", 401, None, (R, "lever", "missing token, triggeredAt or signature"), source="lever",
             body=lever_body({"opportunityId": "x"}, extra={"token": None})),
        case("lever expired", 401, None, (R, "lever", "older than max_age"), source="lever",
             body=lever_body({"opportunityId": "x"}, ts=int(time.time() * 1000) - 3 * 86400000)),
        case("lever from the future", 401, None, (R, "lever", "in the future"), source="lever",
             body=lever_body({"opportunityId": "x"}, ts=int(time.time() * 1000) + 3 * 86400000)),
        case("lever triggeredAt a float", 401, None, (R, "lever", "missing token, triggeredAt or signature"), source="lever",
             body=lever_body({"opportunityId": "x"}).replace(b'"triggeredAt": ', b'"triggeredAt": 1.5, "x": ')),
        case("lever malformed JSON", 401, None, (R, "lever", "body is not a JSON object"), source="lever", body=b"{token=1"),
        case("lever empty body", 401, None, (R, "lever", "body is not a JSON object"), source="lever", body=b""),
        case("lever 10,000-deep", 401, None, (R, "lever", "body is not a JSON object"), source="lever", body=DEEP),
        case("lever replayed signature (1st)", 200, "ok", None, source="lever", body=replayed),
        case("lever replayed signature, swapped body", 200, None, None, source="lever", body=j(swapped), answer="duplicate"),
        case("lever connection test", 200, None, None, source="lever", body=lever_body({}, event="connectionTest")),
        case("lever opportunityId an object", 200, None, None, source="lever", body=lever_body({"opportunityId": {"id": 1}})),
        # ---------------------------------------------------------- ashby
        case("ashby valid", 200, "ok", None, source="ashby", body=j(dict(ASHBY_STAGE, webhookActionId="wa-valid"))),
        case("ashby missing signature", 401, None, (R, "ashby", "missing Ashby-Signature header"), source="ashby", body=j(ASHBY_STAGE), sign=False),
        case("ashby sha1 signature", 401, None, (R, "ashby", "malformed Ashby-Signature header"), source="ashby", body=j(ASHBY_STAGE),
             sign={"Ashby-Signature": "sha1=" + "00" * 20}),
        case("ashby bad signature", 401, None, (R, "ashby", "signature mismatch"), source="ashby", body=j(ASHBY_STAGE),
             sign=lambda b: sign_ashby(b, "nope")),
        case("ashby ping", 200, None, None, source="ashby", body=j({"action": "ping"})),
        case("ashby no application", 200, "failed", (NU, "ashby", "without data.application"), source="ashby",
             body=j({"action": "candidateStageChange", "webhookActionId": "wa-2", "data": {}})),
        case("ashby data an array", 200, "failed", (NU, "ashby", "without data.application"), source="ashby",
             body=j({"action": "candidateStageChange", "webhookActionId": "wa-3", "data": [1, 2]})),
        case("ashby malformed JSON", 200, "failed", (NU, "ashby", "not a JSON object"), source="ashby", body=b'{"action":'),
        case("ashby NUL bytes", 200, "failed", (NU, "ashby", "not a JSON object"), source="ashby", body=b"\x00\x00\x00\x00"),
        case("ashby other action", 200, "ok", None, source="ashby", body=j({"action": "applicationSubmit", "webhookActionId": "wa-4", "data": {}})),
        # ---------------------------------------------------------- workable
        case("workable valid", 200, "ok", None, source="workable", body=j(workable_moved())),
        case("workable missing signature", 401, None, (R, "workable", "missing X-Workable-Signature header"), source="workable",
             body=j(workable_moved()), sign=False),
        case("workable bad signature", 401, None, (R, "workable", "signature mismatch"), source="workable",
             body=j(workable_moved()), sign={"X-Workable-Signature": "z" * 64}),
        case("workable unknown stage", 200, "failed", (NU, "workable", "is not a stage of the candidate"), source="workable",
             body=j(workable_moved(stage="Nowhere"))),
        case("workable missing candidate id", 200, "failed", (NU, "workable", "without candidate id or stage"), source="workable",
             body=j(workable_moved(id=None))),
        case("workable stage a number", 200, "failed", (NU, "workable", "without candidate id or stage"), source="workable",
             body=j(workable_moved(stage=7))),
        case("workable empty body", 200, "failed", (NU, "workable", "not a JSON object"), source="workable", body=b""),
        case("workable other event", 200, "ok", None, source="workable", body=j({"id": "wk-other", "event_type": "candidate_created", "data": {}})),
        # ---------------------------------------------------------- coderbyte
        case("coderbyte valid", 200, "ok", None, source="coderbyte", body=j(cb_joined())),
        case("coderbyte missing Authorization", 401, None, (R, "coderbyte", "missing Authorization header"), source="coderbyte",
             body=j(cb_joined()), sign=False),
        case("coderbyte Basic auth", 401, None, (R, "coderbyte", "not a Bearer token"), source="coderbyte",
             body=j(cb_joined()), sign={"Authorization": "Basic Zm9vOmJhcg=="}),
        case("coderbyte alg none", 401, None, (R, "coderbyte", "alg must be HS256"), source="coderbyte", body=j(cb_joined()),
             sign=lambda b: {"Authorization": "Bearer " + jwt(alg="none").rsplit(".", 1)[0] + "."}),
        case("coderbyte alg HS512", 401, None, (R, "coderbyte", "alg must be HS256"), source="coderbyte", body=j(cb_joined()),
             sign=lambda b: {"Authorization": "Bearer " + jwt(alg="HS512")}),
        case("coderbyte expired JWT", 401, None, (R, "coderbyte", "token expired"), source="coderbyte", body=j(cb_joined()),
             sign=lambda b: sign_coderbyte(b, exp=now - 3600)),
        case("coderbyte JWT not yet valid", 401, None, (R, "coderbyte", "not yet valid"), source="coderbyte", body=j(cb_joined()),
             sign=lambda b: sign_coderbyte(b, nbf=now + 3600)),
        case("coderbyte exp a string", 401, None, (R, "coderbyte", "exp must be a number"), source="coderbyte", body=j(cb_joined()),
             sign=lambda b: sign_coderbyte(b, exp="tomorrow")),
        case("coderbyte wrong issuer", 401, None, (R, "coderbyte", "wrong issuer"), source="coderbyte", body=j(cb_joined()),
             sign=lambda b: sign_coderbyte(b, iss="evil-org")),
        case("coderbyte other key", 401, None, (R, "coderbyte", "bad signature"), source="coderbyte", body=j(cb_joined()),
             sign=lambda b: {"Authorization": "Bearer " + jwt(key="guessed-key")}),
        case("coderbyte garbage token", 401, None, (R, "coderbyte", "malformed token"), source="coderbyte", body=j(cb_joined()),
             sign={"Authorization": "Bearer not.a.jwt!"}),
        case("coderbyte unknown operation", 200, "failed", (NU, "coderbyte", "unknown operation"), source="coderbyte",
             body=j(cb_joined(operation="candidate_exploded"))),
        case("coderbyte missing email", 200, "failed", (NU, "coderbyte", "missing field email"), source="coderbyte",
             body=j(cb_joined(email=None))),
        case("coderbyte email a number", 200, "failed", (NU, "coderbyte", "missing field email"), source="coderbyte",
             body=j(cb_joined(email=12345))),
        case("coderbyte operation an array", 200, "failed", (NU, "coderbyte", "missing field operation"), source="coderbyte",
             body=j(cb_joined(operation=["candidate_joined"]))),
        case("coderbyte malformed JSON", 200, "failed", (NU, "coderbyte", "not a JSON object"), source="coderbyte", body=b"operation=candidate_joined"),
        case("coderbyte replayed (1st)", 200, "ok", None, source="coderbyte", body=cb_body, sign=cb_headers),
        case("coderbyte replayed (2nd)", 200, None, None, source="coderbyte", body=cb_body, sign=cb_headers, answer="duplicate"),
        # ---------------------------------------------------------- sandbox
        case("sandbox valid", 200, "ok", None, source="sandbox", body=j(sandbox_event())),
        case("sandbox missing headers", 401, None, (R, "sandbox", "missing webhook-id header"), source="sandbox",
             body=j(sandbox_event()), sign=False),
        case("sandbox stale timestamp", 401, None, (R, "sandbox", "timestamp outside tolerance"), source="sandbox",
             body=j(sandbox_event()), sign=lambda b: sign_sandbox(b, ts=now - 3600)),
        case("sandbox timestamp not a number", 401, None, (R, "sandbox", "invalid webhook-timestamp header"), source="sandbox",
             body=j(sandbox_event()), sign=lambda b: dict(sign_sandbox(b), **{"webhook-timestamp": "1e9"})),
        case("sandbox bad signature", 401, None, (R, "sandbox", "no matching signature"), source="sandbox",
             body=j(sandbox_event()), sign=lambda b: dict(sign_sandbox(b), **{"webhook-signature": "v1,AAAA"})),
        case("sandbox event without type", 200, "failed", (NU, "sandbox", "missing field type"), source="sandbox",
             body=j({"candidate": {"id": "1"}})),
        case("sandbox candidate a string", 200, "failed", (NU, "sandbox", "candidate is not an object"), source="sandbox",
             body=j(sandbox_event(candidate="ada"))),
        case("sandbox emails not strings", 200, "failed", (NU, "sandbox", "candidate.emails holds a non-string"), source="sandbox",
             body=j(sandbox_event(candidate={"id": "1", "emails": [1, 2]}))),
        case("sandbox malformed JSON", 200, "failed", (NU, "sandbox", "body is not JSON"), source="sandbox", body=b"[{]"),
        # ---------------------------------------------------------- /events
        case("events no token", 401, None, (REF, "target=/events", "status=401"), path="/events", body=j(sandbox_event()), sign=False),
        case("events wrong token", 401, None, (REF, "target=/events", "status=401"), path="/events", body=j(sandbox_event()),
             sign={"Authorization": "Bearer " + ADMIN[:-1]}),
        case("events GET", 405, None, (REF, "method=GET", "status=405"), path="/events", method="GET", body=b""),
        case("events malformed JSON", 400, None, ("events rejected", "body is not JSON"), path="/events", body=b"{oops"),
        case("events no type", 400, None, ("events rejected", "has no 'type'"), path="/events", body=j({"candidate": {"id": "1"}})),
        case("events member wrong type", 400, None, ("events rejected", "'application' must be an object"), path="/events",
             body=j(sandbox_event(application=5))),
        case("events id a number", 400, None, ("events rejected", "'stage.id' must be a string"), path="/events",
             body=j(sandbox_event(stage={"id": 1.5}))),
        case("events Infinity", 400, None, ("events rejected", "cannot be stored"), path="/events",
             body=j(sandbox_event()).replace(b'"type"', b'"x": 1e999, "type"')),
        case("events 10,000-deep", 400, None, ("events rejected", "body is not JSON"), path="/events", body=DEEP),
        case("events valid array", 202, "ok", None, path="/events", body=j([sandbox_event(), sandbox_event()])),
        # ---------------------------------------------------------- HTTP layer
        case("unknown source", 404, None, (R, "source=nope", "unknown source"), source="nope", body=j({"a": 1}), sign=False),
        case("unknown source with quotes", 404, None, (R, "unknown source"), path='/webhooks/x"y%0a', body=b"{}", sign=False),
        case("path traversal", 404, None, (R, "unknown source"), path="/webhooks/../admin/reload", body=b"{}", sign=False),
        case("empty source", 404, None, (R, "unknown source"), path="/webhooks/", body=b"{}", sign=False),
        case("request target too long", 400, None, (REF, "status=400"), path="/webhooks/greenhouse?" + "a" * 40000, body=b"{}", sign=False),
        case("request target over 8 KB", 414, None, (REF, "status=414"), path="/webhooks/greenhouse?" + "a" * 10000, body=b"{}", sign=False),
        case("too many header fields", 431, None, (REF, "status=431", "too many header fields"), source="greenhouse", body=j(gh_stage()),
             headers=[("X-H%d" % i, "v") for i in range(150)]),
        case("one huge header", 400, None, (REF, "status=400"), source="greenhouse", body=j(gh_stage()), headers=[("X-Big", "b" * 40000)]),
        case("malformed request line", 400, None, (REF, "status=400"), raw=b"POST\r\n\r\n"),
        case("negative Content-Length", 400, None, (REF, "status=400"),
             raw=b"POST /webhooks/greenhouse HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\nConnection: close\r\n\r\n"),
        case("unknown method", 501, None, (REF, "status=501"), raw=b"BREW /webhooks/greenhouse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        case("Expect 100-continue over max_body", 413, None, (REF, "status=413"),
             raw=b"POST /webhooks/greenhouse HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"),
        case("chunked, signed", 200, "ok", None, source="greenhouse", body=j(gh_stage(app_id=4000100011)), chunked=True),
    ]


# ------------------------------------------------------------ HTTP

def send_raw(port, data, timeout=10):
    """Sends bytes, reads until the server closes; returns (status, answer bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not c:
                break
            chunks.append(c)
            got = b"".join(chunks)
            head, sep, rest = got.partition(b"\r\n\r\n")
            m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
            if sep and m and len(rest) >= int(m.group(1)) and not head.startswith(b"HTTP/1.1 100"):
                break
    finally:
        s.close()
    got = b"".join(chunks)
    # skip a 100 Continue
    while got.startswith(b"HTTP/1.1 100"):
        got = got.partition(b"\r\n\r\n")[2]
    m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
    return (int(m.group(1)) if m else None), got


def build(req):
    if "raw" in req:
        return req["raw"]
    body = req.get("body", b"")
    path = req.get("path") or "/webhooks/" + req["source"]
    sign = req.get("sign", True)
    headers = []
    if sign is True:
        headers += list(SIGNERS.get(req.get("source"), lambda b: {})(body).items())
    elif callable(sign):
        headers += list(sign(body).items())
    elif isinstance(sign, dict):
        headers += list(sign.items())
    if path == "/events" and sign is True:
        headers.append(("Authorization", "Bearer " + ADMIN))
    ctype = req.get("ctype", "application/json")
    if ctype:
        headers.append(("Content-Type", ctype))
    headers += req.get("headers", [])
    method = req.get("method", "POST")
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1", "Connection: close"]
    if req.get("chunked"):
        lines.append("Transfer-Encoding: chunked")
        mid = len(body) // 2
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:mid], body[mid:]) if p) + b"0\r\n\r\n"
    else:
        if body or method in ("POST", "PUT"):
            lines.append("Content-Length: %d" % len(body))
        payload = body
    head = "\r\n".join(lines + ["%s: %s" % (k, v) for k, v in headers]) + "\r\n\r\n"
    return head.encode("latin-1") + payload


# ------------------------------------------------------------ the daemon

def config(fakes):
    return """
log_format = "logfmt"
ats = {
  greenhouse = { client_id = "gh-test-client", client_secret = "gh-test-secret", user_id = "4080",
                 webhook_secret = "%(gh)s", base_url = "%(ghu)s", auth_url = "%(ghu)s" },
  lever = { api_key = "lever-test-key", perform_as = "05e40000-0000-4000-8000-000000000001",
            signature_token = "%(lever)s", base_url = "%(leu)s" },
  ashby = { api_key = "ashby-test-key", webhook_secret = "%(ashby)s", base_url = "%(asu)s" },
  workable = { subdomain = "acme", token = "workable-test-token", member_id = "13e0eb0e",
               webhook_secret = "%(workable)s", base_url = "%(wku)s" },
  sandbox = { webhook_secret = "%(sandbox)s" },
}
coderbyte = { api_key = "%(cb)s", organization_id = "acme", base_url = "%(cbu)s" }
limits = { max_body = "64KB", catalog_refresh = "1h" }
""" % dict(gh=S["greenhouse"], lever=S["lever"], ashby=S["ashby"], workable=S["workable"],
           sandbox=S["sandbox"], cb=S["coderbyte"], ghu=fakes["greenhouse"].url, leu=fakes["lever"].url,
           asu=fakes["ashby"].url, wku=fakes["workable"].url, cbu=fakes["coderbyte"].url)


SCRIPT = """
automation {
    name = "Invite screen",
    trigger = applicant_moved_to_stage { ats = "greenhouse", job = "Backend Engineer", stage = "Technical Screen" },
    action = send_assessment_invite { assessment = "Backend Take-Home" },
}
"""


class BadInputDaemon:
    """One daemon for the whole file (the catalog's cases are independent:
    each one looks only at the journal rows and log lines it caused)."""

    d = None

    @classmethod
    def get(cls):
        if cls.d is None:
            fakes = {n: fake(n) for n in ("greenhouse", "lever", "ashby", "workable", "coderbyte")}
            for f in fakes.values():
                f.reset()
            # the admin token of the fuzz targets, so EVENTS inputs replay
            cls.d = Daemon(config(fakes).replace('admin_token = "e2e-admin"', ""), {"invite.lua": SCRIPT})
            with open(cls.d.config) as f:
                text = f.read().replace('admin_token = "e2e-admin"', 'admin_token = "%s"' % ADMIN)
            with open(cls.d.config, "w") as f:
                f.write(text)
            cls.d.start()
            cls.d.port = int(cls.d.url.rsplit(":", 1)[1])
        return cls.d

    @classmethod
    def stop(cls):
        if cls.d:
            cls.d.stop()
            cls.d = None


def tearDownModule():
    BadInputDaemon.stop()


def db_rows(d, after):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.dir, "journal.db"), uri=True, timeout=5)
    try:
        return db.execute("SELECT id, source, status, reason, headers FROM deliveries WHERE id > ? ORDER BY id",
                          (after,)).fetchall()
    finally:
        db.close()


def last_id(d):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.dir, "journal.db"), uri=True, timeout=5)
    try:
        return db.execute("SELECT coalesce(max(id), 0) FROM deliveries").fetchone()[0]
    finally:
        db.close()


class BadInput(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.d = BadInputDaemon.get()

    def test_catalog(self):
        cases = catalog()
        self.assertGreaterEqual(len(cases), 60)
        sources = {c[1].get("source") or c[1].get("path", "") for c in cases}
        for s in ("greenhouse", "lever", "ashby", "workable", "coderbyte", "sandbox", "/events"):
            self.assertIn(s, sources)
        failures = []
        for name, req, status, journaled, log in cases:
            try:
                self.one(name, req, status, journaled, log)
            except AssertionError as e:
                failures.append("%s: %s" % (name, e))
        self.assertEqual(failures, [], "\n".join(failures))
        # afterwards: alive, healthy, and nothing leaked anywhere
        self.assertEqual(send_raw(self.d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0], 200)
        logs = self.d.logs()
        for s in SECRET_VALUES:
            self.assertNotIn(s, logs)
        self.assertNotIn("attempt to", logs)
        self.assertNotIn("stack traceback", logs)

    def one(self, name, req, status, journaled, log):
        d = self.d
        before = last_id(d)
        log_from = len(d.logs())
        data = build(req)
        t0 = time.time()
        got, answer = send_raw(d.port, data)
        took = time.time() - t0
        self.assertEqual(got, status, "status %s, expected %s: %r" % (got, status, answer[:300]))
        self.assertLess(took, 5, "answered after %.1f s" % took)
        if req.get("answer"):
            self.assertIn(req["answer"].encode(), answer)
        text = answer.decode("latin-1")
        for s in SECRET_VALUES:
            self.assertNotIn(s, text, "the answer holds a secret")
        body = req.get("body") or b""
        if len(body) >= 24 and status != 200:
            self.assertNotIn(body[:200], answer, "the answer echoes the body")

        # journal
        if journaled is None:
            time.sleep(0.05)
            rows = db_rows(d, before)
            self.assertEqual(rows, [], "journaled, but must not be")
        else:
            def settled():
                rows = db_rows(d, before)
                return rows if rows and all(r[2] != "accepted" for r in rows) else None
            try:
                rows = wait_for(settled, timeout=10, what="processing")
            except AssertionError:
                self.fail("not settled: %r" % (db_rows(d, before),))
            statuses = {r[2] for r in rows}
            if journaled == "failed":
                self.assertEqual(statuses, {"failed"}, rows)
                self.assertTrue(all(r[3] for r in rows), "a failed delivery keeps its reason")
            else:
                self.assertTrue(statuses <= {"processed", "ignored"}, rows)
            for r in rows:
                for s in SECRET_VALUES:
                    self.assertNotIn(s, r[4] or "", "journaled headers hold a secret")
                    self.assertNotIn(s, r[3] or "", "the reason holds a secret")
                self.assertNotIn("authorization", (r[4] or "").lower())

        # the log line that explains it
        new = wait_for(lambda: d.logs()[log_from:] if not log or all(
            p in d.logs()[log_from:] for p in log) else None, timeout=5, what="log line") if log else d.logs()[log_from:]
        if log:
            lines = [l for l in new.splitlines() if all(p in l for p in log)]
            self.assertTrue(lines, "no log line with %r in:\n%s" % (log, new[-1500:]))
            for l in lines:
                if len(body) >= 16:
                    self.assertNotIn(body[:64].decode("latin-1"), l, "the log line holds the body")
        for s in SECRET_VALUES:
            self.assertNotIn(s, new, "a log line holds a secret")
        if journaled == "failed":
            ids = [str(r[0]) for r in db_rows(d, before)]
            self.assertTrue(any(("delivery=%s " % i) in new or ("delivery=%s\n" % i) in new for i in ids),
                            "no log line names the failed delivery:\n%s" % new[-1500:])

    def test_failed_delivery_is_replayable(self):
        d = self.d
        before = last_id(d)
        body = j({"action": "candidate_stage_change", "payload": {}})
        self.assertEqual(send_raw(d.port, build({"source": "greenhouse", "body": body}))[0], 200)
        rows = wait_for(lambda: [r for r in db_rows(d, before) if r[2] == "failed"], what="failed delivery")
        did = rows[0][0]
        r = send_raw(d.port, ("POST /admin/replay/delivery:%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n" % (did, ADMIN)).encode())
        self.assertEqual(r[0], 200, r[1])
        # re-processed (and failed again: the payload is still not understood)
        wait_for(lambda: [x for x in db_rows(d, did - 1) if x[0] == did and x[2] == "failed"], what="re-processed")
        self.assertIn("delivery:%d" % did, d.cli("events", "--status", "failed").stdout)


class FuzzReplay(unittest.TestCase):
    """Every kept fuzz input replays in `make test`: the HTTP ones against
    the real daemon, the rest through the fuzz targets' own checks."""

    def test_lua_targets(self):
        res = subprocess.run([BINARY, "test", os.path.join(ROOT, "tests", "fuzz", "replay_test.lua")],
                             capture_output=True, text=True, timeout=600, cwd=ROOT)
        self.assertEqual(res.returncode, 0, res.stdout[-4000:] + res.stderr[-2000:])

    def test_http_inputs(self):
        d = BadInputDaemon.get()
        here = os.path.join(ROOT, "tests", "fuzz")
        files = []
        for kind in ("regressions", "corpus"):
            p = os.path.join(here, kind, "httpd")
            if os.path.isdir(p):
                files += [os.path.join(p, f) for f in sorted(os.listdir(p))]
        self.assertTrue(files)
        bad = []
        for f in files:
            with open(f, "rb") as fh:
                data = http_request(fh.read())
            status, answer = send_raw(d.port, data, timeout=5)
            if status is not None and status >= 500 and status not in (501, 503):
                bad.append("%s: %d %r" % (f, status, answer[:200]))
        self.assertEqual(bad, [])
        self.assertEqual(send_raw(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0], 200)
        self.assertNotIn("attempt to", d.logs())


def http_request(data):
    """tests/fuzz/targets.lua's http_request: "SIGN source" / "EVENTS"
    inputs become signed / authorised requests; others are sent as they are."""
    first, nl, body = data.partition(b"\n")
    m = re.match(rb"^([A-Z]+)\s*(\S*)", first)
    if not nl or not m or m.group(1) not in (b"SIGN", b"EVENTS"):
        return data
    headers = {"content-type": "application/json"}
    if m.group(1) == b"SIGN":
        sel = m.group(2).decode("latin-1")
        names = make_seeds.FUZZ_SOURCES
        source = sel if sel in names else names[sum(sel.encode("latin-1")[:64]) % len(names)]
        if source == "lever":
            try:
                b = json.loads(body)
            except ValueError:
                b = None
            if isinstance(b, dict):
                ts = int(time.time() * 1000)
                token = b["token"] if isinstance(b.get("token"), str) else "fuzztoken"
                b.update(token=token, triggeredAt=ts, signature=hexmac(S["lever"], (token + str(ts)).encode()))
                body = json.dumps(b).encode()
        elif source == "coderbyte":
            headers["authorization"] = "Bearer " + jwt({"jti": hashlib.sha256(body).hexdigest()[:12]})
        elif source == "greenhouse":
            headers.update({k.lower(): v for k, v in sign_greenhouse(body).items()})
            headers["greenhouse-event-id"] = hashlib.sha256(body).hexdigest()[:16]
        else:
            headers.update({k.lower(): v for k, v in SIGNERS[source](body).items()})
        path = "/webhooks/" + source
    else:
        headers["authorization"] = "Bearer " + ADMIN
        path = "/events"
    lines = ["POST %s HTTP/1.1" % path, "Host: fuzz", "Connection: close", "Content-Length: %d" % len(body)]
    lines += ["%s: %s" % kv for kv in sorted(headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


if __name__ == "__main__":
    unittest.main()
