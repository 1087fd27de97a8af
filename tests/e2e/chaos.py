"""Helpers for the durability, fault and shutdown suites: a daemon on a fixed
port that can be SIGKILLed and restarted on the same database, a Greenhouse
seed with many candidates, signed stage-change webhooks, and checks of the
fakes' request logs. Not a test module (no TestCase here)."""

import hashlib
import hmac
import http.client
import json
import os
import re
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

    def healthy(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

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
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()

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
            out = self.cli("runs", "--status", status, "--limit", "100000").stdout
            rows += [l for l in out.splitlines()[1:] if l.strip()]
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
    marker posted twice, tags applied twice, applications moved twice."""
    problems = []
    created = {}
    for r in cb.requests(path_prefix="/api/v1/assessments/", method="POST"):
        if r["status"] == 201:
            k = (r["path"], (r["json"] or {}).get("email", "").lower())
            created.setdefault(k, set()).add(r["headers"].get("idempotency-key"))
    for k, keys in created.items():
        if len(keys) > 1:  # a replay of the same key creates nothing
            problems.append("invitation %s created under keys %s" % (k, sorted(keys)))
    per = {}
    for inv in cb.state()["invitations"]:
        k = (inv["assessment_id"], inv["email"].lower())
        per[k] = per.get(k, 0) + 1
    problems += ["%d invitations for %s" % (n, k) for k, n in per.items() if n > 1]
    gh_log = gh.requests()
    notes = {}
    for r in gh_log:
        if r["method"] == "POST" and r["path"] == "/v3/notes" and r["status"] in (200, 201):
            m = MARKER.search((r["json"] or {}).get("body", ""))
            k = ((r["json"] or {}).get("candidate_id"), m and m.group(0))
            notes[k] = notes.get(k, 0) + 1
    problems += ["note %s posted %d times" % (k, n) for k, n in notes.items() if n > 1]
    tags = {}
    for r in gh_log:
        if r["method"] == "POST" and r["path"] == "/v3/applied_candidate_tags":
            if r["status"] not in (200, 201):
                problems.append("tag applied again (answer %s): %s" % (r["status"], r["json"]))
            else:
                k = (r["json"]["candidate_id"], r["json"]["candidate_tag_id"])
                tags[k] = tags.get(k, 0) + 1
    problems += ["tag %s applied %d times" % (k, n) for k, n in tags.items() if n > 1]
    moves = {}
    for r in gh_log:
        if r["method"] == "POST" and r["path"].endswith("/move"):
            if r["status"] not in (200, 204, None):
                problems.append("move %s answered %s" % (r["path"], r["status"]))
            elif r["status"] is not None:
                moves[r["path"]] = moves.get(r["path"], 0) + 1
    problems += ["%s moved %d times" % (k, n) for k, n in moves.items() if n > 1]
    created_tags = [r for r in gh_log if r["method"] == "POST" and r["path"] == "/v3/candidate_tags"
                    and r["status"] == 201]
    if len(created_tags) > 1:
        problems.append("tag definition created %d times" % len(created_tags))
    return problems
