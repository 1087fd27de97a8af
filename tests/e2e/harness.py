"""End-to-end harness: starts the real atsflow binary on 127.0.0.1 (port 0)
against fake upstreams, and signs webhooks the way each upstream does."""

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))

from client import Fake, call  # noqa: E402

BINARY = os.path.join(ROOT, "atsflow")


class Daemon:
    """`atsflow serve` with a generated config; .url once it listens."""

    def __init__(self, config_body, scripts):
        self.dir = tempfile.mkdtemp(prefix="atsflow-e2e-")
        os.makedirs(os.path.join(self.dir, "scripts"))
        for name, text in scripts.items():
            with open(os.path.join(self.dir, "scripts", name), "w") as f:
                f.write(text)
        self.config = os.path.join(self.dir, "atsflow.conf.lua")
        with open(self.config, "w") as f:
            f.write('listen = "127.0.0.1:0"\ndatabase = "journal.db"\nscripts = "scripts"\n')
            f.write('admin_token = "e2e-admin"\n')
            f.write(config_body)
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.url = None

    def start(self, timeout=10):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BINARY, "-c", self.config, "serve"],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.findall(r'msg=listening url=(http://[0-9.:]+)', self.logs())
            if m:
                self.url = m[-1]
                return self
            if self.proc.poll() is not None:
                raise AssertionError("atsflow exited: " + self.logs())
            time.sleep(0.02)
        raise AssertionError("atsflow did not start: " + self.logs())

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def post(self, source, body, headers):
        return call("POST", self.url + "/webhooks/" + source, body=body, headers=headers)

    def cli(self, *args):
        return subprocess.run([BINARY, "-c", self.config] + list(args),
                              capture_output=True, text=True, timeout=30)

    def wait_runs(self, event_id, status="succeeded", timeout=10):
        """Waits until the runs of `event_id` reached `status`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = self.cli("runs", "--status", status).stdout
            rows = [l for l in out.splitlines()[1:] if event_id in l]
            if rows:
                return rows
            time.sleep(0.05)
        raise AssertionError("runs did not reach %s: %s\n%s" % (
            status, self.cli("runs").stdout, self.logs()[-3000:]))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc:
            self.log.close()


def greenhouse_signature(secret, body):
    return "sha256 " + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
