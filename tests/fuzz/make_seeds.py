#!/usr/bin/env python3
"""Writes the seed corpora tests/fuzz/corpus/<target>/ from tests/fixtures,
scripts/, examples/ and the spec's examples (rerun after a fixture changes;
the output is kept in the tree). Signatures use the secrets and the clock
of tests/fuzz/targets.lua (M.CONFIG, M.NOW)."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(HERE, "corpus")

NOW = 1764324000000
SECRETS = {
    "greenhouse": "fuzz-gh-webhook-secret",
    "lever": "fuzz-lever-signature-token",
    "ashby": "fuzz-ashby-webhook-secret",
    "workable": "fuzz-workable-webhook-secret",
    "coderbyte": "fuzz-coderbyte-api-key",
    "sandbox": "whsec_" + base64.b64encode(b"fuzz-sandbox-webhook-secret!").decode(),
}
ADMIN = "fuzz-admin-token-0123456789"
FUZZ_SOURCES = ["greenhouse", "lever", "ashby", "workable", "coderbyte", "sandbox"]  # targets.lua M.SOURCES


def hexmac(key, msg):
    if isinstance(key, str):
        key = key.encode()
    if isinstance(msg, str):
        msg = msg.encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt(claims, key=SECRETS["coderbyte"], alg="HS256"):
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new(key.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(sig)


def fixture(*path):
    with open(os.path.join(FIX, *path), "rb") as f:
        return f.read()


def fixtures(name, skip=()):
    d = os.path.join(FIX, name)
    out = []
    for f in sorted(os.listdir(d)):
        if f.endswith(".json") and f not in skip:
            out.append((f[:-5], fixture(name, f)))
    return out


def lever_signed(body, ts=NOW):
    b = json.loads(body)
    b["triggeredAt"] = ts
    b["signature"] = hexmac(SECRETS["lever"], b["token"] + str(ts))
    return json.dumps(b).encode()


def signed_headers(source, body):
    s = SECRETS[source]
    if source == "greenhouse":
        return {"Signature": "sha256 " + hexmac(s, body), "Greenhouse-Event-ID": "evt-1"}
    if source == "ashby":
        return {"Ashby-Signature": "sha256=" + hexmac(s, body)}
    if source == "workable":
        return {"X-Workable-Signature": hexmac(s, body)}
    if source == "sandbox":
        key = base64.b64decode(s[6:])
        ts = str(NOW // 1000)
        mac = hmac.new(key, b"msg_1." + ts.encode() + b"." + body, hashlib.sha256).digest()
        return {"webhook-id": "msg_1", "webhook-timestamp": ts,
                "webhook-signature": "v1," + base64.b64encode(mac).decode()}
    if source == "coderbyte":
        return {"Authorization": "Bearer " + jwt({"iss": "acme", "exp": NOW // 1000 + 300, "jti": "j1"})}
    return {}


def request(sel, headers, body, answers=()):
    lines = [sel.encode()]
    for k, v in headers.items():
        lines.append(("%s: %s" % (k, v)).encode())
    out = b"\n".join(lines) + b"\n\n" + body
    for a in answers:
        out += b"\n==api==\n" + a
    return out


class Corpus:
    def __init__(self, target):
        self.dir = os.path.join(OUT, target)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)

    def add(self, name, data):
        if isinstance(data, str):
            data = data.encode()
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)


SANDBOX_EVENT = json.dumps({
    "type": "applicant.moved_to_stage",
    "candidate": {"id": "4412", "name": "Ada Lovelace", "emails": ["ada@example.com"]},
    "application": {"id": "99120"}, "job": {"id": "4012", "name": "Backend Engineer"},
    "stage": {"id": "77", "name": "Technical Screen"},
    "previous_stage": {"id": "76", "name": "Application Review"}}).encode()

CANONICAL = json.dumps({
    "id": "greenhouse:7f3c2a:0", "type": "assessment.completed", "source": "coderbyte",
    "received_at": "2026-11-28T10:00:00.123Z",
    "candidate": {"id": "4412", "name": "Ada Lovelace", "emails": ["ada@example.com"]},
    "assessment": {"id": "backend-take-home-9x1", "name": "Backend Take-Home", "score": 87,
                   "qualified": True, "cheating_detected": False, "cheating": "not_detected",
                   "time_expired": False, "report_url": "https://coderbyte.com/r/1"},
    "interview": {"id": "w246Ri1UP", "report_url": "https://coderbyte.com/r/2"},
    "scorecard": {"event": "thumb_up", "comment": None, "reviewer": "hr@example.com"},
    "raw": {"x": [1, 2.5, "3", None, True, {"y": -1e300}]}}).encode()


def webhook_bodies():
    """(source, name, body) for every webhook fixture."""
    out = []
    for name, body in fixtures("greenhouse"):
        out.append(("greenhouse", name, body))
    for name in ("candidateStageChange", "connectionTest"):
        out.append(("lever", name, lever_signed(fixture("lever", name + ".json"))))
    for name, body in fixtures("ashby"):
        out.append(("ashby", name, body))
    for name in ("candidate_created", "candidate_moved"):
        out.append(("workable", name, fixture("workable", name + ".json")))
    for name in ("assessment_completed", "assessment_completed_not_ready", "candidate_joined",
                 "interview_completed", "scorecard_updated", "scorecard_updated_interview_comment"):
        out.append(("coderbyte", name, fixture("coderbyte", name + ".json")))
    out.append(("sandbox", "moved", SANDBOX_EVENT))
    out.append(("sandbox", "array", b"[" + SANDBOX_EVENT + b"," + SANDBOX_EVENT + b"]"))
    return out


def upstream_answers(source, name):
    if source == "lever" and name == "candidateStageChange":
        return [fixture("lever", "opportunity.json"), fixture("lever", "postings.json"),
                fixture("lever", "stages.json")]
    if source == "coderbyte" and name.startswith("assessment_completed"):
        return [fixture("coderbyte", "report_not_ready.json"), fixture("coderbyte", "report_ready.json")]
    return []


def verify_and_parse():
    v, p = Corpus("verify"), Corpus("parse")
    for source, name, body in webhook_bodies():
        hs = signed_headers(source, body)
        v.add("%s-%s-signed" % (source, name), request(source, hs, body))
        v.add("%s-%s-sign" % (source, name), request(source + " sign", {}, body))
        bad = {k: (val[:-4] + "0000" if len(val) > 8 else val) for k, val in hs.items()}
        v.add("%s-%s-badsig" % (source, name), request(source, bad, body))
        p.add("%s-%s" % (source, name), request(source, {}, body, upstream_answers(source, name)))
    # the JWT's own edge cases
    now = NOW // 1000
    for tag, tok in [("none", jwt({"iss": "acme"}, alg="none")), ("expired", jwt({"iss": "acme", "exp": now - 3600})),
                     ("issuer", jwt({"iss": "evil", "exp": now + 60})), ("nbf", jwt({"iss": "acme", "nbf": now + 3600}))]:
        v.add("coderbyte-jwt-" + tag, request("coderbyte", {"Authorization": "Bearer " + tok},
                                               fixture("coderbyte", "candidate_joined.json")))
    v.add("lever-old", request("lever", {}, lever_signed(fixture("lever", "candidateStageChange.json"), NOW - 2 * 86400000)))
    v.add("sandbox-multi", request("sandbox", dict(signed_headers("sandbox", SANDBOX_EVENT),
                                                   **{"webhook-signature": "v1,AAAA v2,BBBB " + signed_headers("sandbox", SANDBOX_EVENT)["webhook-signature"]}), SANDBOX_EVENT))
    p.add("lever-answers-error", request("lever", {}, lever_signed(fixture("lever", "candidateStageChange.json")),
                                         [b"500 {\"message\": \"boom\"}"]))


def config():
    c = Corpus("config")
    with open(os.path.join(ROOT, "examples", "sandbox.conf.lua"), "rb") as f:
        c.add("sandbox", f.read())
    c.add("full", '''listen      = "127.0.0.1:8080"
database    = "var/atsflow.db"
scripts     = "scripts"
admin_token = env("ATSFLOW_ADMIN_TOKEN", nil)
log_format  = "logfmt"
log_level   = "info"
ats = {
  greenhouse = { client_id = env "GREENHOUSE_CLIENT_ID", client_secret = "s", user_id = "4080",
                 webhook_secret = "w", base_url = "https://harvest.greenhouse.io", auth_url = "https://auth.greenhouse.io" },
  lever    = { api_key = "k", perform_as = "u", signature_token = "t", base_url = "https://api.lever.co", max_age = "24h" },
  ashby    = { api_key = "k", webhook_secret = "w", base_url = "https://api.ashbyhq.com" },
  workable = { subdomain = "acme", token = "t", member_id = "m", webhook_secret = "w", base_url = "https://acme.workable.com" },
  sandbox  = { webhook_secret = "whsec_AAAA" },
}
coderbyte = { api_key = "k", organization_id = "acme", base_url = "https://coderbyte.com",
              likely_counts_as_cheating = false, report_wait = "30m" }
limits = { max_body = "1MB", script_budget = 1000000, script_memory = "64MB", action_attempts = 10,
           dedupe_window = "14d", max_connections = 1024, concurrency = 64, catalog_refresh = "10m",
           drain_timeout = "10s", retry_base = "1s", retry_cap = "5m" }
''')
    c.add("unknown", 'ats = { sandbox = {} }\ndatabse = "x.db"\n')
    c.add("badsize", 'ats = { sandbox = {} }\nlimits = { max_body = "lots", dedupe_window = "2 weeks" }\n')
    c.add("loop", 'ats = { sandbox = {} }\nlocal n = 0 while true do n = n + 1 end\n')
    c.add("file", 'ats = { sandbox = { webhook_secret = file("/run/secrets/x") } }\n')
    c.add("types", 'listen = 8080\nats = { greenhouse = 5 }\n')
    c.add("dup", 'ats = { sandbox = {}, workable = { subdomain = "a" } }\ncoderbyte = { sandbox = true, report_wait = "soon" }\n')


def dsl():
    c = Corpus("dsl")
    d = os.path.join(ROOT, "scripts")
    for f in sorted(os.listdir(d)):
        if f.endswith(".lua"):
            with open(os.path.join(d, f), "rb") as fh:
                c.add(f, fh.read())
    spec_path = os.path.join(os.path.dirname(ROOT), "shared", "spec", "dsl.md")
    spec = ""
    if os.path.exists(spec_path):
        with open(spec_path, encoding="utf-8") as fh:
            spec = fh.read()
    for i, block in enumerate(re.findall(r"```lua\n(.*?)```", spec, re.S)):
        c.add("spec-%d.lua" % i, block)
    c.add("duplicate.lua", '''local a = automation { name = "A", trigger = assessment_completed { assessment = "X" },
  conditions = { qualified, cheating_not_detected, function(e) return e.assessment.score > 80 end }, match = "all",
  action = { post_report_details {}, move_to_stage { job = "J", stage = "S" } } }
duplicate(a, { name = "B", trigger = { assessment = "Y" } })
automation { name = "C", trigger = interview_scorecard_updated { events = { "thumb_up", "comment_added" } },
  action = function(e) ats.add_note(e, "x") end }
on("candidate.hired", function(e) log.info("%s", e.id) end)
''')
    c.add("errors.lua", '''automation { name = "", trigger = interview_finished { x = 1 }, action = post_report_details {} }
automation { name = "Q", trigger = interview_finished {}, conditions = { qualified }, action = send_assessment_invite { assessment = 1 } }
automation { name = "Q", trigger = applicant_moved_to_stage { job = any_job, stage = 5 }, action = move_to_stage { job = {1, a = 2}, stage = "x" } }
local t = {} t.t = t
automation { name = "R", trigger = applicant_moved_to_stage { job = "J", stage = "S" }, action = move_to_stage { job = t, stage = "x" } }
''')


def journal():
    c = Corpus("journal")
    c.add("canonical", CANONICAL)
    c.add("sandbox", SANDBOX_EVENT)
    for source, name, body in webhook_bodies():
        c.add("%s-%s" % (source, name), body)
    c.add("numbers", b'{"type":"x","a":[0,-0,1e308,4.9e-324,123456789012345678,0.1,1e-7,-2.5e15,9007199254740993]}')
    c.add("strings", b'{"type":"x\\u0000y","s":"\\ud83d\\ude00 \\u00e9 \\"q\\" \\\\ \\/","e":""}')
    c.add("binary", b"\x00\xff\xfe{\"a\":1}\x00")


def httpd():
    c = Corpus("httpd")
    def raw(method, path, headers=(), body=b""):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"] + list(headers)
        if body or method == "POST":
            lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    c.add("healthz", raw("GET", "/healthz"))
    c.add("status", raw("GET", "/status"))
    c.add("metrics", raw("GET", "/metrics"))
    c.add("unknown-source", raw("POST", "/webhooks/nope", ["Content-Type: application/json"], b"{}"))
    c.add("get-webhook", raw("GET", "/webhooks/greenhouse"))
    c.add("bad-sig", raw("POST", "/webhooks/greenhouse", ["Signature: sha256 00"], fixture("greenhouse", "candidate_stage_change.json")))
    c.add("admin-no-token", raw("POST", "/admin/reload"))
    c.add("events-no-token", raw("POST", "/events", [], SANDBOX_EVENT))
    c.add("replay", raw("POST", "/admin/replay/1", ["Authorization: Bearer wrong"]))
    c.add("pipelined", raw("GET", "/healthz") + raw("POST", "/webhooks/lever", [], b"{}") + raw("GET", "/status"))
    c.add("chunked", b"POST /webhooks/ashby HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n")
    c.add("http10", b"GET /healthz HTTP/1.0\r\n\r\n")
    c.add("sandbox-ctl", raw("GET", "/sandbox/ctl/show"))
    c.add("sandbox-api", raw("GET", "/sandbox/ats/jobs"))
    c.add("encoded-path", raw("POST", "/webhooks/%67reenhouse%00", [], b"{}"))
    c.add("absolute-uri", raw("GET", "http://127.0.0.1/status?x=%zz&y"))
    for source, name, body in webhook_bodies():
        c.add("sign-%s-%s" % (source, name), b"SIGN " + source.encode() + b"\n" + body)
    c.add("events", b"EVENTS\n" + SANDBOX_EVENT)
    c.add("events-array", b"EVENTS\n[" + CANONICAL + b"," + SANDBOX_EVENT + b"]")


if __name__ == "__main__":
    verify_and_parse()
    config()
    dsl()
    journal()
    httpd()
    for t in sorted(os.listdir(OUT)):
        print("%-8s %d seeds" % (t, len(os.listdir(os.path.join(OUT, t)))))
