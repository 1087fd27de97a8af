"""Secrets never leak (spec semantics.md, Security; config.md): a full
scenario with recognisable secret values — every ATS and Coderbyte
configured from env() and file(), webhooks from each, invites, tags, notes,
report notes, rejected signatures and JWTs, upstream errors that echo a
credential back — and then every place a secret could end up is searched:
the daemon's log (at debug level), GET /status, GET /metrics, the output of
`atsflow check`, `events`, `runs`, `show` for every event and run, `catalog`,
and the journal's files (database, WAL and shared memory) byte for byte.
Zero hits, for the raw values and for the forms they travel in (Basic
credentials in base64, the sandbox key's bytes, the OAuth tokens issued)."""

import base64
import copy
import glob
import hashlib
import hmac
import json
import os
import time
import unittest
import urllib.request
import uuid

from flowkit import call, show, wait_for, run_rows, event_rows
from harness import Daemon, Fake

SECRETS = {
    "GREENHOUSE_CLIENT_SECRET": "Zk8-SECRET-gh-client-7Qx9",
    "GREENHOUSE_WEBHOOK_SECRET": "Zk8-SECRET-gh-webhook-4Kp2",
    "LEVER_API_KEY": "Zk8-SECRET-lever-key-8Hn3",
    "LEVER_SIGNATURE_TOKEN": "Zk8-SECRET-lever-sig-2Wd7",
    "ASHBY_API_KEY": "Zk8-SECRET-ashby-key-5Rt1",
    "ASHBY_WEBHOOK_SECRET": "Zk8-SECRET-ashby-webhook-9Ls4",
    "WORKABLE_TOKEN": "Zk8-SECRET-workable-token-3Vb8",
    "WORKABLE_WEBHOOK_SECRET": "Zk8-SECRET-workable-webhook-6Yc5",
    "CODERBYTE_API_KEY": "Zk8-SECRET-coderbyte-key-1Mz6",
    "ATSFLOW_ADMIN_TOKEN": "Zk8-SECRET-admin-token-0Pq7",
}
SANDBOX_KEY = b"Zk8-SECRET-sandbox-key-bytes-3Jf"
SANDBOX_SECRET = "whsec_" + base64.b64encode(SANDBOX_KEY).decode()
GH_CLIENT = "gh-client-id-public"
BOT = "05e40000-0000-4000-8000-000000000001"

SCRIPT = """
for _, ats in ipairs({ "greenhouse", "lever", "ashby", "workable" }) do
    automation {
        name = "Invite on " .. ats,
        trigger = applicant_moved_to_stage { ats = ats, job = "Backend Engineer", stage = "Technical Screen" },
        action = send_assessment_invite { assessment = "Backend Take-Home", add_tag = "coderbyte-invited", post_note = true },
    }
end
automation {
    name = "Report",
    trigger = assessment_completed { assessment = "Backend Take-Home" },
    action = post_report_details {},
}
"""


def hexmac(key, msg):
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt(key, claims):
    h = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64url(json.dumps(claims).encode())
    return h + "." + p + "." + b64url(hmac.new(key.encode(), (h + "." + p).encode(), hashlib.sha256).digest())


def seeded(name, auth):
    with open(os.path.join(os.path.dirname(__file__), "..", "fakes", "seeds", name + ".json")) as f:
        seed = json.load(f)
    seed["auth"] = dict(seed["auth"], **auth)
    return Fake.start(name, seed=seed)


def needles():
    """Every form a secret could take on its way out."""
    out = {}
    for k, v in SECRETS.items():
        out[k] = v
    out["sandbox whsec"] = SANDBOX_SECRET
    out["sandbox key bytes"] = SANDBOX_KEY.decode()
    for name, user, pw in (("greenhouse basic", GH_CLIENT, SECRETS["GREENHOUSE_CLIENT_SECRET"]),
                           ("lever basic", SECRETS["LEVER_API_KEY"], ""),
                           ("ashby basic", SECRETS["ASHBY_API_KEY"], "")):
        out[name] = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
    return out


class Secrets(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        # the daemon and the CLI read them with env(), as in production
        cls.saved_env = dict(os.environ)
        os.environ.update(SECRETS)
        cls.gh = seeded("greenhouse", {"client_id": GH_CLIENT, "client_secret": SECRETS["GREENHOUSE_CLIENT_SECRET"]})
        cls.lever = seeded("lever", {"api_key": SECRETS["LEVER_API_KEY"]})
        cls.ashby = seeded("ashby", {"api_key": SECRETS["ASHBY_API_KEY"]})
        cls.workable = seeded("workable", {"token": SECRETS["WORKABLE_TOKEN"]})
        cls.cb = seeded("coderbyte", {"api_key": SECRETS["CODERBYTE_API_KEY"]})

    @classmethod
    def tearDownClass(cls):
        for f in (cls.gh, cls.lever, cls.ashby, cls.workable, cls.cb):
            f.stop()
        os.environ.clear()
        os.environ.update(cls.saved_env)

    def daemon(self):
        cfg = """
log_level = "debug"
admin_token = env("ATSFLOW_ADMIN_TOKEN")
ats = {
  greenhouse = { client_id = "%(ghc)s", client_secret = env "GREENHOUSE_CLIENT_SECRET", user_id = "4080",
                 webhook_secret = file("%(ghfile)s"), base_url = "%(gh)s", auth_url = "%(gh)s" },
  lever = { api_key = env "LEVER_API_KEY", perform_as = "%(bot)s", signature_token = env "LEVER_SIGNATURE_TOKEN", base_url = "%(lever)s" },
  ashby = { api_key = env "ASHBY_API_KEY", webhook_secret = env "ASHBY_WEBHOOK_SECRET", base_url = "%(ashby)s" },
  workable = { subdomain = "acme", token = env "WORKABLE_TOKEN", member_id = "13e0eb0e",
               webhook_secret = env "WORKABLE_WEBHOOK_SECRET", base_url = "%(workable)s" },
  sandbox = { webhook_secret = "%(sandbox)s" },
}
coderbyte = { api_key = env "CODERBYTE_API_KEY", organization_id = "acme", base_url = "%(cb)s", report_wait = "1s" }
limits = { action_attempts = 2, retry_base = "100ms", retry_cap = "200ms", catalog_refresh = "1h" }
""" % dict(ghfile="%(ghfile)s", ghc=GH_CLIENT, gh=self.gh.url, bot=BOT, lever=self.lever.url, ashby=self.ashby.url,
           workable=self.workable.url, cb=self.cb.url, sandbox=SANDBOX_SECRET)
        d = Daemon(cfg.replace("%(ghfile)s", "GHFILE"), {"automations.lua": SCRIPT})
        # the admin token line the harness writes is replaced by env()
        with open(d.config) as f:
            text = f.read().replace('admin_token = "e2e-admin"\n', "").replace(
                "GHFILE", os.path.join(d.dir, "gh-webhook.secret"))
        with open(d.config, "w") as f:
            f.write(text)
        with open(os.path.join(d.dir, "gh-webhook.secret"), "w") as f:
            f.write(SECRETS["GREENHOUSE_WEBHOOK_SECRET"] + "\n")
        d.start()
        self.addCleanup(d.stop)
        return d

    def cli(self, d, *args):
        r = d.cli(*args)
        return r.stdout + r.stderr

    # ------------------------------------------------------------ deliveries

    def post(self, d, source, body, headers):
        r = call("POST", d.url + "/webhooks/" + source, body=body, headers=dict(headers, **{"Content-Type": "application/json"}))
        return r.status

    def send_greenhouse(self, d, app_id, cand_id, first, email, secret=None):
        body = json.dumps({"action": "candidate_stage_change", "payload": {"application": {
            "id": app_id, "status": "active",
            "candidate": {"id": cand_id, "first_name": first, "last_name": "X",
                          "email_addresses": [{"value": email, "type": "personal"}]},
            "jobs": [{"id": 4000000101, "name": "Backend Engineer"}],
            "current_stage": {"id": 4000001012, "name": "Technical Screen"}}}}).encode()
        return self.post(d, "greenhouse", body, {
            "Signature": "sha256 " + hexmac(secret or SECRETS["GREENHOUSE_WEBHOOK_SECRET"], body),
            "Greenhouse-Event-ID": "sec-" + uuid.uuid4().hex})

    def send_lever(self, d):
        token, ts = uuid.uuid4().hex, int(time.time() * 1000)
        body = json.dumps({"triggeredAt": ts, "event": "candidateStageChange", "token": token,
                           "signature": hexmac(SECRETS["LEVER_SIGNATURE_TOKEN"], (token + str(ts)).encode()),
                           "data": {"opportunityId": "0dd50000-0000-4000-8000-000000000001",
                                    "fromStageId": "5a9e0000-0000-4000-8000-000000000001",
                                    "toStageId": "5a9e0000-0000-4000-8000-000000000002"}}).encode()
        return self.post(d, "lever", body, {})

    def send_ashby(self, d):
        body = json.dumps({"action": "candidateStageChange", "webhookActionId": uuid.uuid4().hex, "data": {"application": {
            "id": "a9900000-0000-4000-8000-000000000001", "status": "Active",
            "candidate": {"id": "ca4d0000-0000-4000-8000-000000000001", "name": "Ada Lovelace",
                          "primaryEmailAddress": {"value": "ada@example.com"}},
            "currentInterviewStage": {"id": "57a90000-0000-4000-8000-000000000012", "title": "Technical Screen"},
            "job": {"id": "10b00000-0000-4000-8000-000000000001", "title": "Backend Engineer"}}}}).encode()
        return self.post(d, "ashby", body, {"Ashby-Signature": "sha256=" + hexmac(SECRETS["ASHBY_WEBHOOK_SECRET"], body)})

    def send_workable(self, d):
        body = json.dumps({"id": uuid.uuid4().hex, "event_type": "candidate_moved", "fired_at": "2026-11-28T10:00:00Z",
                           "resource_type": "candidate", "data": {
                               "id": "ce4da91", "name": "Ada Lovelace", "email": "ada@example.com",
                               "job": {"shortcode": "BACKEND001", "title": "Backend Engineer"},
                               "stage": "Technical Screen"}}).encode()
        return self.post(d, "workable", body, {"X-Workable-Signature": hexmac(SECRETS["WORKABLE_WEBHOOK_SECRET"], body)})

    def send_coderbyte(self, d, payload, key=None):
        now = int(time.time())
        tok = jwt(key or SECRETS["CODERBYTE_API_KEY"], {"iss": "acme", "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex})
        return self.post(d, "coderbyte", json.dumps(payload).encode(), {"Authorization": "Bearer " + tok})

    def send_sandbox(self, d):
        body = json.dumps({"type": "applicant.moved_to_stage", "candidate": {"id": "s1", "emails": ["s@example.com"]},
                           "application": {"id": "sa1"}, "job": {"id": "j"}, "stage": {"id": "st"}}).encode()
        ts, mid = str(int(time.time())), "msg_" + uuid.uuid4().hex
        mac = hmac.new(SANDBOX_KEY, mid.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).digest()
        return self.post(d, "sandbox", body, {"webhook-id": mid, "webhook-timestamp": ts,
                                              "webhook-signature": "v1," + base64.b64encode(mac).decode()})

    def settled(self, d, at_least):
        def done():
            rows = run_rows(d)
            busy = [r for r in rows if r["status"] in ("pending", "running", "retrying")]
            return rows if len(rows) >= at_least and not busy else None
        try:
            return wait_for(done, timeout=30, what="runs to settle")
        except AssertionError:
            raise AssertionError("runs did not settle:\n%s\n%s\n%s" % (
                self.cli(d, "runs"), self.cli(d, "events"), d.logs()[-3000:]))

    # ------------------------------------------------------------ the test

    def test_no_secret_anywhere(self):
        for f in (self.gh, self.lever, self.ashby, self.workable, self.cb):
            f.reset()
        d = self.daemon()
        # the happy paths: each ATS invites, tags and notes; a completed
        # assessment posts its report
        self.assertEqual(self.send_greenhouse(d, 4000100001, 4000010001, "Ada", "ada@example.com"), 200)
        self.assertEqual(self.send_lever(d), 200)
        self.assertEqual(self.send_ashby(d), 200)
        self.assertEqual(self.send_workable(d), 200)
        self.assertEqual(self.send_sandbox(d), 200)
        runs = self.settled(d, 4)
        self.assertTrue(any(r["status"] == "succeeded" for r in runs), runs)
        self.assertEqual(self.send_coderbyte(d, {"operation": "assessment_completed", "organization_id": "acme",
                                            "email": "ada@example.com", "assessment_id": "backend-take-home-9x1",
                                            "report_url": "https://coderbyte.com/report/ada", "time_expired": False,
                                            "report_ready": True}), 200)
        self.settled(d, 5)

        # rejected: wrong webhook secret, JWT signed with another key
        self.assertEqual(self.send_greenhouse(d, 4000100001, 4000010001, "Ada", "ada@example.com", secret="guess"), 401)
        self.assertEqual(self.send_coderbyte(d, {"operation": "candidate_joined", "email": "a@b.c",
                                            "assessment_id": "x"}, key="guess"), 401)
        self.assertEqual(call("POST", d.url + "/admin/reload", headers={"Authorization": "Bearer guess"}).status, 401)

        # upstreams that echo a credential back in their errors
        self.cb.faults([{"method": "POST", "path_regex": r"/invitations$", "status": 401, "times": -1,
                         "body": {"error": "invalid api key %s" % SECRETS["CODERBYTE_API_KEY"]}}])
        self.gh.faults([{"method": "POST", "path_regex": r"^/v3/notes$", "status": 422, "times": -1,
                         "body": {"message": "client %s:%s rejected" % (GH_CLIENT, SECRETS["GREENHOUSE_CLIENT_SECRET"])}}])
        self.assertEqual(self.send_greenhouse(d, 4000100002, 4000010002, "Alan", "alan.turing@example.com"), 200)
        runs = self.settled(d, 6)
        self.assertTrue(any(r["status"] == "dead" for r in runs), runs)
        self.cb.faults([])
        self.gh.faults([{"method": "POST", "path_regex": r"^/v3/notes$", "status": 422, "times": -1,
                         "body": {"message": "client %s:%s rejected" % (GH_CLIENT, SECRETS["GREENHOUSE_CLIENT_SECRET"])}}])
        self.assertEqual(self.send_greenhouse(d, 4000100003, 4000010003, "Grace", "grace@example.com"), 200)
        self.settled(d, 7)
        self.gh.faults([])
        self.assertEqual(call("POST", d.url + "/admin/reload",
                              headers={"Authorization": "Bearer " + SECRETS["ATSFLOW_ADMIN_TOKEN"]}).status, 200)

        # everything there is to read
        places = {}
        places["log"] = d.logs()
        places["/status"] = call("GET", d.url + "/status").text
        places["/metrics"] = call("GET", d.url + "/metrics").text
        places["/healthz"] = call("GET", d.url + "/healthz").text
        for args in (["check"], ["events", "--limit", "1000"], ["runs"], ["runs", "--status", "dead"],
                     ["catalog"], ["events", "--status", "failed"]):
            places["atsflow " + " ".join(args)] = self.cli(d, *args)
        for st, eid, line in event_rows(d):
            places["atsflow show " + eid] = self.cli(d, "show", eid)
        for r in run_rows(d):
            places["atsflow show %d" % r["id"]] = self.cli(d, "show", str(r["id"]))
        self.assertGreater(len([k for k in places if k.startswith("atsflow show")]), 8)
        # the scenario did happen (so the search means something)
        shown = "".join(v for k, v in places.items() if k.startswith("atsflow"))
        self.assertIn("invalid api key ***", shown)  # the echoed key was there, masked
        self.assertIn("rejected", shown)
        d.stop()
        for path in glob.glob(os.path.join(d.dir, "journal.db*")):
            with open(path, "rb") as f:
                places[os.path.basename(path)] = f.read().decode("latin-1")

        tokens = [t.get("access_token") or t.get("token") for t in (self.gh.state().get("tokens") or [])
                  if isinstance(t, dict)]
        needle = needles()
        for i, t in enumerate(x for x in tokens if x):
            needle["greenhouse OAuth token %d" % i] = t
        hits = []
        for where, text in places.items():
            for what, value in needle.items():
                if value and value in text:
                    hits.append("%s found in %s" % (what, where))
        self.assertEqual(hits, [])


if __name__ == "__main__":
    unittest.main()
