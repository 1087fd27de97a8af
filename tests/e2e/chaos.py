"""Helpers for the durability, fault and shutdown suites: a daemon on a fixed
port that can be SIGKILLed and restarted on the same database, a Greenhouse
seed with many candidates, signed stage-change webhooks, and checks of the
fakes' request logs. Not a test module (no TestCase here)."""

import collections
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

from harness import BINARY, ROOT

SECRET = "gh-webhook-secret-chaos"
BACKEND_JOB = 4000000101
FRONTEND_JOB = 4000000102
STAGE = {"review": 4000001011, "screen": 4000001012, "takehome": 4000001013,
         "onsite": 4000001014, "offer": 4000001015}
FRONTEND_STAGES = [4000001021, 4000001022, 4000001023, 4000001024]
STAGE_NAMES = {4000001011: "Application Review", 4000001012: "Technical Screen",
               4000001013: "Take-Home Assessment", 4000001014: "Onsite", 4000001015: "Offer",
               4000001021: "Application Review", 4000001022: "Phone Screen",
               4000001023: "Technical Screen", 4000001024: "Onsite"}
CAND0, APP0 = 5000010001, 5000100001

SCRIPT = """
automation {
    name = "Invite backend screen",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action = {
        send_assessment_invite { assessment = "Backend Take-Home", add_tag = "coderbyte-invited", post_note = true },
        move_to_stage { job = "Backend Engineer", stage = "Take-Home Assessment" },
    },
}
"""

MARKER = re.compile(r"\[atsflow:(\d+):(\d+)\]\s*$")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def email(i):
    return "cand%05d@example.com" % i


def greenhouse_seed(n):
    """The default seed plus n candidates, each with one active Backend
    application at Technical Screen (ids CAND0 + i, APP0 + i)."""
    with open(os.path.join(ROOT, "tests", "fakes", "seeds", "greenhouse.json")) as f:
        seed = json.load(f)
    for i in range(n):
        seed["candidates"].append({
            "id": CAND0 + i, "first_name": "Cand", "last_name": "N%05d" % i,
            "email_addresses": [{"value": email(i), "type": "personal"}]})
        seed["applications"].append({
            "id": APP0 + i, "candidate_id": CAND0 + i, "job_id": BACKEND_JOB,
            "status": "active", "current_stage_id": STAGE["screen"],
            "applied_at": "2026-11-20T09:00:00Z", "last_activity_at": "2026-11-20T09:00:00Z"})
    return seed


def stage_change(i, stage_id, job_id=BACKEND_JOB):
    job_name = "Backend Engineer" if job_id == BACKEND_JOB else "Frontend Engineer"
    return {"action": "candidate_stage_change", "payload": {"application": {
        "id": APP0 + i, "status": "active",
        "candidate": {"id": CAND0 + i, "first_name": "Cand", "last_name": "N%05d" % i,
                      "email_addresses": [{"value": email(i), "type": "personal"}]},
        "jobs": [{"id": job_id, "name": job_name}],
        "current_stage": {"id": stage_id, "name": STAGE_NAMES[stage_id]}}}}


def signed(payload, event_id, secret=SECRET):
    body = json.dumps(payload).encode()
    sig = "sha256 " + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Signature": sig, "Greenhouse-Event-ID": event_id,
                  "Content-Type": "application/json"}


def post(port, path, body, headers, timeout=10):
    """(status, text); status 0 when the connection failed or was cut."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        res = conn.getresponse()
        return res.status, res.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return 0, ""
    finally:
        conn.close()


class Node:
    """`atsflow serve` on a fixed port and database, restartable."""

    def __init__(self, config_body, scripts, port=None):
        self.dir = tempfile.mkdtemp(prefix="atsflow-chaos-")
        os.makedirs(os.path.join(self.dir, "scripts"))
        for name, text in scripts.items():
            with open(os.path.join(self.dir, "scripts", name), "w") as f:
                f.write(text)
        self.port = port or free_port()
        self.config = os.path.join(self.dir, "atsflow.conf.lua")
        with open(self.config, "w") as f:
            f.write('listen = "127.0.0.1:%d"\ndatabase = "journal.db"\nscripts = "scripts"\n'
                    % self.port)
            f.write('admin_token = "e2e-admin"\nlog_level = "warn"\n')
            f.write(config_body)
        self.db = os.path.join(self.dir, "journal.db")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.starts = 0

    def start(self, timeout=20):
        """Starts and waits until /healthz answers (the port is ours)."""
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BINARY, "-c", self.config, "serve"],
                                     stdout=self.log, stderr=self.log)
        self.starts += 1
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("atsflow exited (%s): %s" % (self.proc.returncode,
                                                                  self.logs()[-3000:]))
            if self.healthy():
                return self
            time.sleep(0.02)
        raise AssertionError("atsflow did not start: " + self.logs()[-3000:])

    def healthz(self):
        """The status of GET /healthz, 0 when nothing answers."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            conn.close()

    def healthy(self):
        return self.healthz() == 200

    def kill(self):
        """SIGKILL, and reap."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()
            self.log.close()

    def terminate(self, timeout=30):
        """SIGTERM; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        finally:
            self.log.close()
        return rc

    def stop(self):
        """Kills what still runs and removes the folder (ATSFLOW_E2E_KEEP=1 keeps it)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()
        if not os.environ.get("ATSFLOW_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def webhook(self, body, headers, timeout=10):
        return post(self.port, "/webhooks/greenhouse", body, headers, timeout)

    def cli(self, *args):
        return subprocess.run([BINARY, "-c", self.config] + list(args),
                              capture_output=True, text=True, timeout=60)

    def unfinished(self):
        """Rows of `atsflow runs` that are pending, running or retrying."""
        rows = []
        for status in ("pending", "running", "retrying"):
            res = self.cli("runs", "--status", status, "--limit", "100000")
            if res.returncode != 0:
                return ["atsflow runs failed: " + res.stderr.strip()]
            rows += [l for l in res.stdout.splitlines()[1:] if l.strip()]
        return rows

    def query(self, sql, *args):
        db = sqlite3.connect(self.db, timeout=30)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()


def greenhouse_config(gh, cb, limits=""):
    return """
ats = { greenhouse = { client_id = "gh-test-client", client_secret = "gh-test-secret", user_id = "4080",
                       webhook_secret = "%s", base_url = "%s", auth_url = "%s" } }
coderbyte = { api_key = "cb-test-key", organization_id = "acme", base_url = "%s" }
%s
""" % (SECRET, gh.url, gh.url, cb.url, limits)


def duplicates_in_logs(gh, cb):
    """Every duplicate write the fakes saw, as a list of strings (empty = none):
    invitations created twice (per email + assessment), notes with the same
    marker posted twice, tags applied twice, applications moved twice, the tag
    definition created twice. Both the request logs (answers the handler gave,
    not injected faults) and the resulting state are checked: a write whose
    answer was dropped still happened."""
    problems = []

    def handled(r):  # the handler ran and answered (no fault replaced it, not dropped)
        return r["status"] is not None and not (r["fault"] and r["fault"].get("status"))

    created = {}
    for r in cb.requests(path_prefix="/api/v1/assessments/", method="POST"):
        if handled(r) and r["status"] == 201:
            k = (r["path"], (r["json"] or {}).get("email", "").lower())
            created.setdefault(k, set()).add(r["headers"].get("idempotency-key"))
    for k, keys in created.items():
        if len(keys) > 1:  # a replay of the same key creates nothing
            problems.append("invitation %s created under keys %s" % (k, sorted(keys)))
    per = collections.Counter((i["assessment_id"], i["email"].lower())
                              for i in cb.state()["invitations"])
    problems += ["%d invitations for %s" % (n, k) for k, n in per.items() if n > 1]

    gh_log, state = gh.requests(), gh.state()
    notes = collections.Counter()
    for r in gh_log:
        if r["method"] == "POST" and r["path"] == "/v3/notes" and handled(r):
            m = MARKER.search((r["json"] or {}).get("body", ""))
            notes[((r["json"] or {}).get("candidate_id"), m and m.group(0))] += 1
    problems += ["note %s posted %d times" % (k, n) for k, n in notes.items() if n > 1]
    marks = collections.Counter((n["candidate_id"], MARKER.search(n["body"]).group(0))
                                for n in state["notes"] if MARKER.search(n["body"]))
    problems += ["%d notes %s" % (n, k) for k, n in marks.items() if n > 1]

    for r in gh_log:
        # (a 422 on creating the tag definition is a concurrent run's race, resolved by re-reading)
        if r["method"] == "POST" and r["path"] == "/v3/applied_candidate_tags" \
                and handled(r) and r["status"] == 422:
            problems.append("%s sent again: %s" % (r["path"], r["json"]))
        if r["method"] == "POST" and r["path"].endswith("/move") and handled(r) and r["status"] == 422:
            problems.append("blind move %s: %s" % (r["path"], r["json"]))
    applied = collections.Counter((t["candidate_id"], t["candidate_tag_id"])
                                  for t in state["applied_candidate_tags"])
    problems += ["tag %s applied %d times" % (k, n) for k, n in applied.items() if n > 1]
    names = collections.Counter(t["name"].lower() for t in state["candidate_tags"])
    problems += ["tag %r defined %d times" % (k, n) for k, n in names.items() if n > 1]
    moves = collections.Counter((m["application_id"], m["to_stage_id"]) for m in state["moves"])
    problems += ["application %s moved to %s %d times" % (k + (n,)) for k, n in moves.items() if n > 1]
    return problems


def bucket_excess(times, rate, burst, slack=0.2):
    """The worst overrun of a token bucket (RATE/s, BURST) by request arrival
    TIMES: max over i <= j of (j - i + 1) - (burst + rate * (t_j - t_i + slack)).
    <= 0 when the requests fit the bucket; SLACK absorbs the jitter between
    sending and arrival."""
    times = sorted(times)
    worst = float("-inf")
    for i in range(len(times)):
        for j in range(i, len(times)):
            worst = max(worst, (j - i + 1) - (burst + rate * (times[j] - times[i] + slack)))
    return worst


def wait_catalog(node, names, timeout=20):
    """Waits until /status shows a fetched catalog for every upstream in NAMES."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=5)
        try:
            conn.request("GET", "/status")
            cat = json.loads(conn.getresponse().read()).get("catalog", {})
            if all(isinstance(cat.get(n, {}).get("fetched_at"), str) for n in names):
                return
        except (OSError, ValueError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    raise AssertionError("catalog not fetched: " + node.logs()[-2000:])


def wait_runs_done(node, timeout):
    """Waits until no delivery is unprocessed and `atsflow runs` lists nothing
    pending, running or retrying; returns what is left (empty when done)."""
    deadline = time.time() + timeout
    left = None
    while time.time() < deadline:
        left = node.unfinished()
        pending = node.query("SELECT count(*) FROM deliveries WHERE status = 'accepted'")[0][0]
        running = node.query("SELECT count(*) FROM runs"
                             " WHERE status IN ('pending', 'running', 'retrying')")[0][0]
        if not left and pending == 0 and running == 0:
            return []
        left = left or ["%d deliveries, %d runs not finished yet" % (pending, running)]
        time.sleep(0.5)
    return left
