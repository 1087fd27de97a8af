"""A small client for tests that use the fakes.

    from client import Fake, call
    gh = Fake.start("greenhouse")                # serve.py in a subprocess
    ... point atsflow's base_url at gh.url ...
    moves = gh.requests(path_prefix="/v3/applications", method="POST")
    gh.stop()

Fake.start(..., in_process=True) serves from a thread of this process instead
(faster; used by selftest.py). `call` is a plain HTTP helper that returns every
status as a Reply instead of raising. Python 3 standard library only.
"""

import base64
import http.client
import json
import os
import select
import subprocess
import sys
import tempfile
from urllib.parse import urlencode, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
SERVE = os.path.join(HERE, "serve.py")


class Reply:
    """status, headers (lower-cased names), text, json (or None)."""

    def __init__(self, status, headers, text):
        self.status, self.headers, self.text = status, headers, text
        try:
            self.json = json.loads(text) if text.strip() else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, self.text[:200])


def call(method, url, json_body=None, form=None, body=None, headers=None,
         basic=None, bearer_token=None, timeout=10):
    """One HTTP request on a fresh connection; never raises on HTTP statuses."""
    parts = urlsplit(url)
    hdrs = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body)
        hdrs.setdefault("Content-Type", "application/json")
    elif form is not None:
        body = urlencode(form)
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
    if basic is not None:
        hdrs["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % basic).encode()).decode()
    if bearer_token is not None:
        hdrs["Authorization"] = "Bearer " + bearer_token
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + ("?" + parts.query if parts.query else "")
        conn.request(method, target or "/", body=body, headers=hdrs)
        res = conn.getresponse()
        text = res.read().decode("utf-8", "replace")
        return Reply(res.status, {k.lower(): v for k, v in res.getheaders()}, text)
    finally:
        conn.close()


class Fake:
    """A running fake: its URL and the control API as methods."""

    def __init__(self, name, url, proc=None, running=None):
        self.name, self.url, self.proc, self.running = name, url, proc, running

    @classmethod
    def start(cls, name, seed=None, port=0, options=None, in_process=False, timeout=10):
        """Start fake NAME. SEED: a dict or a JSON file path (reset restores it)."""
        if isinstance(seed, str):
            with open(seed, encoding="utf-8") as f:
                seed = json.load(f)
        if in_process:
            if HERE not in sys.path:
                sys.path.insert(0, HERE)
            import fakebase
            running = fakebase.serve_in_thread(name, seed=seed, port=port, options=options)
            return cls(name, running.url, running=running)
        return cls.spawn(name, seed, port, options, timeout)

    @classmethod
    def spawn(cls, name, seed, port, options, timeout):
        args = [sys.executable, SERVE, name, "--port", str(port), "--exit-on-stdin-eof"]
        seed_file = None
        if seed is not None:
            seed_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
            json.dump(seed, seed_file)
            seed_file.close()
            args += ["--seed", seed_file.name]
        if options:
            args += ["--options", json.dumps(options)]
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            port = cls.read_ready(proc, timeout)
        finally:
            if seed_file:
                os.unlink(seed_file.name)
        return cls(name, "http://127.0.0.1:%d" % port, proc=proc)

    @staticmethod
    def read_ready(proc, timeout):
        """The port from the child's `READY <port>` line."""
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("READY "):
            proc.kill()
            raise RuntimeError("fake did not start (got %r)" % line)
        return int(line.split()[1])

    # ---- control API

    def control(self, method, name, body=None, query=None):
        url = "%s/__fake/%s" % (self.url, name) + ("?" + urlencode(query) if query else "")
        reply = call(method, url, json_body=body)
        if reply.status != 200:
            raise RuntimeError("%s /__fake/%s: %d %s" % (method, name, reply.status, reply.text))
        return reply.json

    def requests(self, path_prefix=None, method=None, since=0):
        """Recorded requests (control calls excluded), optionally filtered."""
        query = {k: v for k, v in (("path_prefix", path_prefix), ("method", method),
                                   ("since", since)) if v}
        return self.control("GET", "requests", query=query or None)

    def state(self):
        return self.control("GET", "state")

    def seed(self, obj):
        return self.control("POST", "seed", obj)

    def faults(self, rules, seed=None, append=False):
        body = {"rules": rules, "append": append}
        if seed is not None:
            body["seed"] = seed
        return self.control("POST", "faults", body)

    def reset(self):
        return self.control("POST", "reset", {})

    def violations(self):
        return self.control("GET", "violations")

    def ratelimit(self, **cfg):
        return self.control("POST", "ratelimit", cfg)

    def config(self, **options):
        return self.control("POST", "config", options)

    def stop(self):
        if self.running is not None:
            self.running.stop()
            self.running = None
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream:
                    stream.close()
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
