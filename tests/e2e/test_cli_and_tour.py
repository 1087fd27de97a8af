"""The author tools (check, dry-run) and the README's tour, as a new user
runs them: the real binary, the built-in sandbox, the example scripts."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BINARY, ROOT, call

SCRIPTS = os.path.join(ROOT, "scripts")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Project:
    """A config like examples/sandbox.conf.lua on a free port and a temp database."""

    def __init__(self, scripts_dir=SCRIPTS):
        self.dir = tempfile.mkdtemp(prefix="atsflow-tour-")
        self.port = free_port()
        self.config = os.path.join(self.dir, "atsflow.conf.lua")
        with open(self.config, "w") as f:
            f.write('listen = "127.0.0.1:%d"\ndatabase = "journal.db"\nscripts = %s\n'
                    'admin_token = "tour-token"\nats = { sandbox = {} }\n'
                    % (self.port, json.dumps(scripts_dir)))
        self.proc = None

    def run(self, *args):
        return subprocess.run([BINARY, "-c", self.config] + list(args),
                              capture_output=True, text=True, timeout=60)

    def serve(self):
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen([BINARY, "-c", self.config, "serve"],
                                     stdout=self.log, stderr=self.log)
        for _ in range(500):
            try:
                if call("GET", "http://127.0.0.1:%d/healthz" % self.port).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.01)
        raise AssertionError("the daemon did not start")

    def close(self):
        if self.proc:
            self.proc.terminate()
            self.assertable_exit = self.proc.wait(10)
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Check(unittest.TestCase):
    def test_check_lists_the_examples_grouped_by_trigger(self):
        p = Project()
        try:
            r = p.run("check")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("applicant_moved_to_stage\n  Invite backend screen", r.stdout)
            self.assertIn("assessment_completed", r.stdout)
            self.assertIn("send_assessment_invite", r.stdout)
            self.assertIn("automation(s) OK", r.stdout)
        finally:
            p.close()

    def test_check_prints_every_error_with_file_and_line_and_exits_1(self):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "a.lua"), "w") as f:
            f.write("automation {\n name = 'x', trigger = interview_finished {},\n"
                    " action = send_assessment_invite { assessment = 'A' } }\n")
        with open(os.path.join(d, "b.lua"), "w") as f:
            f.write("\nautomaton {}\n")
        p = Project(d)
        try:
            r = p.run("check")
            self.assertEqual(r.returncode, 1)
            self.assertIn(os.path.join(d, "a.lua") + ":1: send_assessment_invite is not valid after interview_finished", r.stderr)
            self.assertIn(os.path.join(d, "b.lua") + ":2: unknown global 'automaton'", r.stderr)
        finally:
            p.close()
            shutil.rmtree(d)

    def test_unknown_command_and_flag_exit_2_with_usage(self):
        self.assertEqual(subprocess.run([BINARY, "frobnicate"], capture_output=True).returncode, 2)
        r = subprocess.run([BINARY, "--frob"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: atsflow", r.stderr)

    def test_version_names_the_libraries(self):
        r = subprocess.run([BINARY, "--version"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        for lib in ("Lua 5.4", "libevent", "libcurl", "SQLite"):
            self.assertIn(lib, r.stdout)

    def test_a_bad_config_is_one_clear_line(self):
        d = tempfile.mkdtemp()
        cfg = os.path.join(d, "c.lua")
        with open(cfg, "w") as f:
            f.write('ats = { sandbox = {} }\nlisten_addr = "x"\n')
        r = subprocess.run([BINARY, "-c", cfg, "check"], capture_output=True, text=True)
        shutil.rmtree(d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown setting 'listen_addr'", r.stderr)
        self.assertIn("did you mean 'listen'", r.stderr)


class DryRun(unittest.TestCase):
    def test_dry_run_shows_the_decision_and_the_requests_and_sends_nothing(self):
        p = Project()
        try:
            ev = os.path.join(p.dir, "ev.json")
            with open(ev, "w") as f:
                json.dump({"type": "applicant.moved_to_stage", "source": "sandbox",
                           "candidate": {"id": "201", "name": "Ada", "emails": ["ada@example.com"]},
                           "application": {"id": "301"}, "job": {"id": "101", "name": "Backend Engineer"},
                           "stage": {"id": "1012", "name": "Technical Screen"}}, f)
            r = p.run("dry-run", ev)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Invite backend screen", r.stdout)
            self.assertIn("MATCH", r.stdout)
            self.assertIn("Invite frontend screen", r.stdout)
            self.assertIn("no: other job", r.stdout)
            self.assertIn("/sandbox/coderbyte/api/v1/assessments", r.stdout)
            r2 = p.run("events")
            self.assertNotIn("applicant.moved_to_stage", r2.stdout)  # nothing journaled
        finally:
            p.close()


class Tour(unittest.TestCase):
    """The README's five-minute tour, command by command."""

    def test_the_tour_shows_invites_tags_notes_moves(self):
        p = Project()
        try:
            p.serve()
            self.assertEqual(p.run("sandbox", "seed").returncode, 0)
            r = p.run("sandbox", "move", "ada@example.com", "Backend Engineer", "Technical Screen")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.wait(p, "runs", "succeeded")
            show = p.run("sandbox", "show", "ada@example.com").stdout
            self.assertIn("coderbyte-invited", show)
            self.assertIn("Invited to the Coderbyte assessment Backend Take-Home", show)
            r = p.run("sandbox", "complete", "ada@example.com", "Backend Take-Home", "--score", "91")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.wait(p, "runs", "Move qualified backend candidates to Onsite")
            self.wait(p, "runs", "Post backend take-home report")
            for _ in range(200):
                show = p.run("sandbox", "show", "ada@example.com").stdout
                if "Onsite" in show and "Coderbyte report for assessment Backend Take-Home" in show:
                    break
                time.sleep(0.05)
            self.assertIn("Backend Engineer: Onsite", show)
            self.assertIn("Coderbyte report for assessment Backend Take-Home", show)
            events = p.run("events").stdout
            self.assertIn("assessment.completed", events)
            runs = p.run("runs").stdout
            self.assertNotIn("dead", runs)
            shown = p.run("show", "1")
            self.assertEqual(shown.returncode, 0)
            self.assertIn("step 1 invite [ok]", shown.stdout)
            status = json.loads(call("GET", "http://127.0.0.1:%d/status" % p.port).text)
            self.assertIsNone(status["last_reload_error"])
            self.assertEqual(len(status["automations"]), 8)
            metrics = call("GET", "http://127.0.0.1:%d/metrics" % p.port).text
            self.assertIn('atsflow_runs{status="succeeded"}', metrics)
            self.assertIn("atsflow_webhooks_total", metrics)
        finally:
            p.close()
        self.assertEqual(p.assertable_exit, 0)

    def wait(self, p, cmd, text):
        for _ in range(400):
            out = p.run(cmd).stdout
            if text in out:
                return out
            time.sleep(0.025)
        raise AssertionError("%r never showed %r:\n%s" % (cmd, text, out))
