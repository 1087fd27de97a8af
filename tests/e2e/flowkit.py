"""Shared pieces of the per-ATS end-to-end tests: webhook signers for each
upstream (exactly as the upstream signs), a Coderbyte HS256 JWT, polling
helpers over the real CLI (`atsflow events` / `runs` / `show`), and the
request-log filters that tell writes from reads. Builds on harness.py."""

import atexit
import base64
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import time
import uuid

from harness import Daemon, Fake, call  # noqa: F401 (re-exported)

CODERBYTE_KEY = "cb-test-key"
_FAKES = {}


def fake(name):
    """The fake NAME with its default seed, started once per test process and
    shared by every test file (each test resets it before use)."""
    if name not in _FAKES:
        _FAKES[name] = Fake.start(name)
    return _FAKES[name]


@atexit.register
def _stop_fakes():
    for f in _FAKES.values():
        f.stop()
    _FAKES.clear()

CODERBYTE_ORG = "acme"


# ------------------------------------------------------------ signatures

def hex_hmac(secret, msg):
    if isinstance(msg, str):
        msg = msg.encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def lever_delivery(signature_token, data, event="candidateStageChange",
                   triggered_at=None, token=None):
    """A Lever webhook body: the signature is hex HMAC-SHA256(signature
    token, token .. triggeredAt) inside the JSON body; the rest is unsigned.
    Returns (body bytes, delivery id as atsflow keys it)."""
    token = token or uuid.uuid4().hex
    triggered_at = int(time.time() * 1000) if triggered_at is None else triggered_at
    body = {"triggeredAt": triggered_at, "event": event, "token": token,
            "signature": hex_hmac(signature_token, token + str(triggered_at)), "data": data}
    return json.dumps(body).encode(), token + str(triggered_at)


def ashby_signature(secret, body):
    return "sha256=" + hex_hmac(secret, body)


def workable_signature(secret, body):
    return hex_hmac(secret, body)


def greenhouse_signature(secret, body):
    return "sha256 " + hex_hmac(secret, body)


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def coderbyte_jwt(key=CODERBYTE_KEY, issuer=CODERBYTE_ORG, **claims):
    """An HS256 JWT as Coderbyte sends it (key = the API key, iss = org id)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    payload = dict({"iss": issuer, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}, **claims)
    signing = header + "." + b64url(json.dumps(payload).encode())
    sig = hmac.new(key.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


# ------------------------------------------------------------ polling

def wait_for(fn, timeout=10, interval=0.03, what="condition"):
    """Calls fn until it returns something truthy; that value, or fails."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


def event_rows(d, status=None):
    """`atsflow events` as a list of (status, id) (newest first)."""
    args = ["events", "--limit", "500"] + (["--status", status] if status else [])
    res = d.cli(*args)
    rows = []
    for line in res.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            rows.append((parts[3], parts[4], line))
    return rows


def wait_event(d, event_id, status, timeout=10):
    """Waits for the event with that id (prefix) to reach `status`; its row."""
    def find():
        for st, eid, line in event_rows(d):
            if eid.startswith(event_id) and st == status:
                return line
        return None
    try:
        return wait_for(find, timeout, what="event %s %s" % (event_id, status))
    except AssertionError:
        raise AssertionError("event %s did not reach %s:\n%s\n%s" % (
            event_id, status, d.cli("events").stdout, d.logs()[-3000:]))


def journaled(d, source):
    """Delivery keys of `source` in the journal (read straight from the
    SQLite file: a ping or a rejected delivery must not be there at all,
    not even without events)."""
    db = sqlite3.connect(os.path.join(d.dir, "journal.db"), timeout=5)
    try:
        return [k for (k,) in db.execute(
            "SELECT delivery_key FROM deliveries WHERE source = ?", (source,))]
    finally:
        db.close()


def deliveries(d, source):
    """{delivery key: (status, reason)} of `source`, from the journal file."""
    db = sqlite3.connect(os.path.join(d.dir, "journal.db"), timeout=5)
    try:
        return {k: (st, why) for (k, st, why) in db.execute(
            "SELECT delivery_key, status, reason FROM deliveries WHERE source = ?", (source,))}
    finally:
        db.close()


def run_rows(d, status=None):
    """`atsflow runs` as dicts {id, status, attempts, line} (the automation
    name may hold spaces, so the rest of the line is kept whole)."""
    res = d.cli(*(["runs"] + (["--status", status] if status else [])))
    rows = []
    for line in res.stdout.splitlines()[1:]:
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[0].isdigit():
            rows.append({"id": int(parts[0]), "status": parts[1], "attempts": int(parts[2]),
                         "line": line})
    return rows


def wait_run(d, event_id, status="succeeded", timeout=10):
    """The one run of `event_id` once it reached `status` (dict of run_rows)."""
    def find():
        rows = [r for r in run_rows(d) if event_id in r["line"]]
        done = [r for r in rows if r["status"] == status]
        return done[0] if done else None
    try:
        return wait_for(find, timeout, what="run of %s" % event_id)
    except AssertionError:
        raise AssertionError("run of %s did not reach %s:\n%s\n%s" % (
            event_id, status, d.cli("runs").stdout, d.logs()[-3000:]))


def show(d, ident):
    """`atsflow show ID` as {payload, decisions, lines}."""
    res = d.cli("show", str(ident))
    out = {"lines": res.stdout.splitlines(), "rc": res.returncode}
    for line in out["lines"]:
        for key in ("payload", "decisions"):
            if line.startswith(key + ": "):
                out[key] = json.loads(line[len(key) + 2:])
    return out


def invite_note(assessment, event_payload):
    """The note `send_assessment_invite { post_note = true }` writes."""
    at = event_payload["received_at"][:16].replace("T", " ")
    return "Invited to the Coderbyte assessment %s on %s UTC." % (assessment, at)


def wait_catalog(d, names, timeout=10):
    """Waits until /status says every upstream in `names` has a catalog."""
    def ready():
        r = call("GET", d.url + "/status")
        if r.status != 200 or not r.json:
            return None
        cat = r.json.get("catalog", {})
        return all(isinstance(cat.get(n, {}).get("fetched_at"), str) for n in names) and cat
    return wait_for(ready, timeout, what="catalog of " + ", ".join(names))


# ------------------------------------------------------------ request logs

def non_get(fake, exclude=()):
    """Every recorded request that is not a GET (token fetches excluded by path)."""
    return [r for r in fake.requests() if r["method"] != "GET" and r["path"] not in exclude]


def brief(reqs):
    return [(r["method"], r["path"], r["query"], r["json"]) for r in reqs]


def basic(user, password=""):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class DaemonCase:
    """Mixin: a fresh daemon per test (fresh journal, fresh rate buckets).
    Subclasses define config() and SCRIPTS; fakes live in setUpClass."""

    SCRIPTS = {}

    def start_daemon(self, config_body=None, scripts=None):
        d = Daemon(config_body if config_body is not None else self.config(),
                   scripts if scripts is not None else self.SCRIPTS)
        self.addCleanup(self.stop_daemon, d)
        return d.start()

    @staticmethod
    def stop_daemon(d):
        d.stop()
        shutil.rmtree(d.dir, ignore_errors=True)
