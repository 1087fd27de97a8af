"""Shared machinery of the fake upstreams in tests/fakes/.

Owns the HTTP server (127.0.0.1, HTTP/1.1 keep-alive, silent), the request log,
fault injection, the per-scope rate limiter, the Retry-After watch and the
/__fake/ control API. Each upstream subclasses FakeBase, declares its routes with
@route and keeps its data in self.data (a JSON-able dict loaded from a seed).
Python 3 standard library only.
"""

import base64
import copy
import importlib
import json
import math
import os
import random
import re
import socket
import threading
import time
import traceback
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CONTROL = "/__fake/"
HERE = os.path.dirname(os.path.abspath(__file__))
SEED_DIR = os.path.join(HERE, "seeds")
NAMES = ("greenhouse", "lever", "ashby", "workable", "coderbyte")


# ---------------------------------------------------------------- helpers

def route(method, pattern):
    """Mark a method as the handler of METHOD on PATTERN (a full-path regex;
    named groups land in req.params)."""
    def mark(fn):
        fn.route = (method.upper(), re.compile(pattern + r"\Z"))
        return fn
    return mark


def flatten(lists):
    """parse_qs output → single values where single, lists where repeated."""
    return {k: v[0] if len(v) == 1 else v for k, v in lists.items()}


def parse_json(text):
    """Parsed JSON or None."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def now_iso(at=None):
    """UTC ISO-8601 time with a Z."""
    at = time.time() if at is None else at
    dt = datetime.fromtimestamp(at, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def now_ms():
    """Milliseconds since the epoch."""
    return int(time.time() * 1000)


def encode_cursor(obj):
    """Opaque, URL-safe pagination token."""
    raw = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token):
    """Inverse of encode_cursor; None when the token is not one of ours."""
    try:
        pad = "=" * (-len(token) % 4)
        obj = json.loads(base64.urlsafe_b64decode(token + pad))
    except (ValueError, TypeError):
        return None
    return obj if isinstance(obj, dict) else None


def basic_auth(req):
    """(user, password) from an Authorization: Basic header, else None."""
    scheme, _, value = req.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def bearer(req):
    """The token of an Authorization: Bearer header, else None."""
    scheme, _, value = req.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def same_email(a, b):
    """Emails compare case-insensitively."""
    return isinstance(a, str) and isinstance(b, str) and a.strip().lower() == b.strip().lower()


def load_seed(name):
    """The default seed of fake NAME (seeds/<name>.json)."""
    with open(os.path.join(SEED_DIR, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def create(name, seed=None, options=None):
    """Instantiate fake NAME (a module of this folder exporting FAKE)."""
    if name not in NAMES:
        raise ValueError("unknown fake %r (one of %s)" % (name, ", ".join(NAMES)))
    module = importlib.import_module(name)
    return module.FAKE(seed=seed, options=options)


# ---------------------------------------------------------- request/answer

class Request:
    """One incoming request, parsed once."""

    def __init__(self, method, target, headers, body, host):
        parts = urlsplit(target)
        self.method = method.upper()
        self.path = parts.path
        self.query_string = parts.query
        self.query_lists = parse_qs(parts.query, keep_blank_values=True)
        self.query = flatten(self.query_lists)
        self.headers = headers
        self.raw = body
        self.body = body.decode("utf-8", "replace")
        self.json = parse_json(self.body)
        self.host = host
        self.params = {}

    def arg(self, name, default=None):
        """First value of query parameter NAME."""
        values = self.query_lists.get(name)
        return values[0] if values else default

    def args(self, name):
        """Every value of query parameter NAME, comma-separated ones split."""
        out = []
        for value in self.query_lists.get(name, []):
            out.extend(v for v in value.split(",") if v != "")
        return out

    def form(self):
        """The body as an application/x-www-form-urlencoded form."""
        return flatten(parse_qs(self.body, keep_blank_values=True))

    def base_url(self):
        """http://host:port as the client addressed us."""
        return "http://" + self.host


class Response:
    """An answer: status, headers, body (None, bytes, str or a JSON value)."""

    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.headers = dict(headers or {})
        self.drop = False
        if body is None:
            self.payload = b""
        elif isinstance(body, bytes):
            self.payload = body
        elif isinstance(body, str):
            self.payload = body.encode("utf-8")
            self.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            self.payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.headers.setdefault("Content-Type", "application/json; charset=utf-8")

    def json(self):
        """The body parsed back (for the idempotency store and tests)."""
        return parse_json(self.payload.decode("utf-8", "replace"))


# ---------------------------------------------------------------- recorder

class Recorder:
    """Every non-control request, in arrival order."""

    def __init__(self):
        self.items = []

    def add(self, req):
        """Record REQ; returns the (mutable) record."""
        rec = {
            "seq": len(self.items) + 1, "time": time.time(), "method": req.method,
            "path": req.path, "query": req.query, "headers": req.headers,
            "body": req.body, "json": req.json, "fault": None, "status": None,
        }
        self.items.append(rec)
        return rec

    def select(self, path_prefix=None, method=None, since=0):
        """Records filtered by path prefix, method and seq > since."""
        return [copy.deepcopy(r) for r in self.items
                if (not path_prefix or r["path"].startswith(path_prefix))
                and (not method or r["method"] == method.upper())
                and r["seq"] > since]


# ------------------------------------------------------------------ faults

class FaultRule:
    """One fault rule: which requests it hits, how often, and what it does."""

    KEYS = {"method", "path_regex", "status", "times", "retry_after", "body",
            "headers", "stall", "drop", "probability", "pattern"}

    def __init__(self, spec, index):
        unknown = set(spec) - self.KEYS
        if unknown:
            raise ValueError("unknown fault keys: %s" % ", ".join(sorted(unknown)))
        self.spec = dict(spec)
        self.index = index
        self.method = (spec.get("method") or "").upper() or None
        self.regex = re.compile(spec.get("path_regex", ".*"))
        self.status = spec.get("status")
        self.remaining = int(spec.get("times", 1))
        self.stall = float(spec.get("stall", 0))
        self.drop = bool(spec.get("drop", False))
        self.probability = float(spec.get("probability", 1))
        self.pattern = spec.get("pattern")
        if self.pattern is not None and (not isinstance(self.pattern, str) or not self.pattern
                                         or set(self.pattern) - {"x", "."}):
            raise ValueError("pattern: a non-empty string of 'x' (fire) and '.' (pass)")
        self.checked = 0
        self.hits = 0
        if self.status is None and not (self.stall or self.drop):
            raise ValueError("a fault needs status, stall or drop")

    @property
    def replaces_answer(self):
        """With a status the handler does not run; without one it runs first."""
        return self.status is not None

    def applies(self, req, rng):
        """Whether this rule fires for REQ (consumes one use when it does)."""
        if self.remaining == 0 or (self.method and self.method != req.method):
            return False
        if not self.regex.search(req.path):
            return False
        if self.pattern is not None:
            self.checked += 1
            if self.pattern[(self.checked - 1) % len(self.pattern)] != "x":
                return False
        if self.probability < 1 and rng.random() >= self.probability:
            return False
        self.hits += 1
        if self.remaining > 0:
            self.remaining -= 1
        return True

    def describe(self):
        """The rule as given, plus its index, hits and remaining uses."""
        return dict(self.spec, rule=self.index, hits=self.hits, remaining=self.remaining)


class Faults:
    """The active fault rules; the first applicable one wins."""

    def __init__(self):
        self.rules = []
        self.rng = random.Random(0)

    def configure(self, body):
        """Body: a list of rules, or {rules, seed?, append?}."""
        if isinstance(body, list):
            body = {"rules": body}
        if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
            raise ValueError("expected a list of rules or {\"rules\": [...]}")
        if not body.get("append"):
            self.rules = []
        if "seed" in body or not body.get("append"):
            self.rng = random.Random(body.get("seed", 0))
        start = len(self.rules)
        self.rules += [FaultRule(r, start + i) for i, r in enumerate(body["rules"])]

    def match(self, req):
        """The rule that fires for REQ, or None."""
        for rule in self.rules:
            if rule.applies(req, self.rng):
                return rule
        return None

    def describe(self):
        return [r.describe() for r in self.rules]


# ------------------------------------------------------------ rate limits

class FixedWindow:
    """N requests per fixed window aligned on the epoch (Greenhouse, Workable)."""

    def __init__(self, limit, window):
        self.limit, self.window = int(limit), float(window)
        self.start, self.count = 0.0, 0

    def roll(self, now):
        start = math.floor(now / self.window) * self.window
        if start != self.start:
            self.start, self.count = start, 0

    def take(self, now):
        """None when admitted, else seconds until the window resets."""
        self.roll(now)
        if self.count >= self.limit:
            return self.start + self.window - now
        self.count += 1
        return None

    def status(self, now, counting):
        """(limit, remaining, reset epoch seconds)."""
        self.roll(now)
        used = self.count if counting else 0
        return self.limit, max(0, self.limit - used), int(math.ceil(self.start + self.window))


class TokenBucket:
    """RATE tokens per second, at most BURST stored (Lever and the default)."""

    def __init__(self, rate, burst):
        self.rate, self.burst = float(rate), float(burst)
        self.tokens, self.at = float(burst), None

    def refill(self, now):
        if self.at is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def take(self, now):
        self.refill(now)
        if self.tokens < 1:
            return (1 - self.tokens) / self.rate
        self.tokens -= 1
        return None

    def status(self, now, counting):
        self.refill(now)
        tokens = self.tokens if counting else self.burst
        full_in = (self.burst - tokens) / self.rate
        return int(self.burst), int(tokens), int(math.ceil(now + full_in))


SCHEMES = {"window": (FixedWindow, ("limit", "window")),
           "bucket": (TokenBucket, ("rate", "burst"))}


class Limiter:
    """One limiter per scope (e.g. Greenhouse's API and token endpoint).
    Off by default: then nothing is counted and headers show a fresh window."""

    def __init__(self, defaults):
        self.configs = {scope: dict(cfg, enabled=False) for scope, cfg in defaults.items()}
        self.buckets = {scope: self.build(cfg) for scope, cfg in self.configs.items()}

    @staticmethod
    def build(cfg):
        cls, keys = SCHEMES[cfg["scheme"]]
        return cls(*(cfg[k] for k in keys))

    def configure(self, body):
        """Body: {scope? (default "api"), enabled?, limit/window or rate/burst}."""
        scope = body.get("scope", "api")
        if scope not in self.configs:
            raise ValueError("unknown scope %r (one of %s)" % (scope, ", ".join(self.configs)))
        cfg = self.configs[scope]
        allowed = {"scope", "enabled"} | set(SCHEMES[cfg["scheme"]][1])
        unknown = set(body) - allowed
        if unknown:
            raise ValueError("unknown keys for %s: %s" % (scope, ", ".join(sorted(unknown))))
        cfg.update({k: v for k, v in body.items() if k != "scope"})
        self.buckets[scope] = self.build(cfg)

    def take(self, scope, now):
        """None when admitted (or off), else the seconds to wait."""
        if not self.configs[scope]["enabled"]:
            return None
        return self.buckets[scope].take(now)

    def status(self, scope, now):
        return self.buckets[scope].status(now, self.configs[scope]["enabled"])

    def describe(self):
        return copy.deepcopy(self.configs)


class RetryAfterWatch:
    """Remembers every Retry-After sent per scope and flags requests that come early."""

    def __init__(self, grace=0.05):
        self.grace = grace
        self.until = {}
        self.violations = []

    def sent(self, scope, seconds, seq, now):
        until = now + seconds
        if until > self.until.get(scope, (0, 0))[0]:
            self.until[scope] = (until, seq)

    def check(self, scope, rec):
        until, seq = self.until.get(scope, (0, 0))
        if rec["time"] < until - self.grace:
            self.violations.append({
                "seq": rec["seq"], "method": rec["method"], "path": rec["path"],
                "scope": scope, "retry_after_from_seq": seq,
                "early_by": round(until - rec["time"], 3)})


# --------------------------------------------------------------- the fake

class FakeBase:
    """A fake upstream. Subclasses set `name`, declare @route handlers and may
    override the hooks below; everything else (recording, faults, limits,
    control API) is shared."""

    name = "base"

    def __init__(self, seed=None, options=None):
        self.lock = threading.RLock()
        self.initial_seed = copy.deepcopy(seed if seed is not None else load_seed(self.name))
        self.initial_options = dict(options or {})
        self.routes = self.collect_routes()
        self.reset_all()

    # ---- hooks for subclasses

    def default_options(self):
        """Behaviour switches settable with POST /__fake/config."""
        return {}

    def rate_limits(self):
        """{scope: {scheme: window|bucket, limit, window | rate, burst}}."""
        return {"api": {"scheme": "bucket", "rate": 10, "burst": 20}}

    def rate_scope(self, req):
        return "api"

    def load(self, seed):
        """Install SEED as the data set."""
        self.data = seed

    def state(self):
        """What GET /__fake/state shows."""
        return self.data

    def authenticate(self, req):
        """None when REQ may proceed, else the error Response."""
        return None

    def decorate(self, req, resp, scope):
        """Add per-upstream headers (rate-limit headers) to every answer."""

    def error(self, status, message, **extra):
        """An error answer in the upstream's shape."""
        return Response(status, dict({"error": message}, **extra))

    # ---- plumbing

    def collect_routes(self):
        routes = []
        for klass in reversed(type(self).__mro__):
            for attr in vars(klass).values():
                if callable(attr) and hasattr(attr, "route"):
                    routes.append((attr.route[0], attr.route[1], attr))
        return routes

    def reset_all(self):
        """Back to the state at start: data, log, faults, limits, options."""
        self.recorder = Recorder()
        self.faults = Faults()
        self.limiter = Limiter(self.rate_limits())
        self.watch = RetryAfterWatch()
        self.options = dict(self.default_options(), **self.initial_options)
        self.load(copy.deepcopy(self.initial_seed))

    def next_id(self, collection, base, key="id"):
        """max(existing ids, BASE - 1) + 1 for integer ids."""
        ids = [x[key] for x in self.data.get(collection, []) if isinstance(x.get(key), int)]
        return max(ids + [base - 1]) + 1

    def find(self, collection, value, key="id"):
        """The first item of COLLECTION whose KEY equals VALUE."""
        for item in self.data.get(collection, []):
            if item.get(key) == value:
                return item
        return None

    def dispatch(self, req):
        """Route REQ to its handler; 404/405 otherwise."""
        allowed = []
        for method, regex, fn in self.routes:
            m = regex.match(req.path)
            if not m:
                continue
            if method != req.method:
                allowed.append(method)
                continue
            req.params = m.groupdict()
            return fn(self, req)
        if allowed:
            return self.error(405, "method not allowed", allowed=sorted(set(allowed)))
        return self.error(404, "no such route: %s %s" % (req.method, req.path))

    def handle(self, req):
        """The whole pipeline for one request."""
        if req.path.startswith(CONTROL):
            with self.lock:
                return self.safe(self.dispatch, req)
        with self.lock:
            rec = self.recorder.add(req)
            scope = self.rate_scope(req)
            self.watch.check(scope, rec)
            rule = self.faults.match(req)
            rec["fault"] = rule.describe() if rule else None
        if rule and rule.replaces_answer:
            time.sleep(rule.stall)
            resp = self.fault_answer(rule)
        else:
            with self.lock:
                resp = self.safe(self.answer, req, rec, scope)
            if rule:
                time.sleep(rule.stall)
        resp.drop = bool(rule and rule.drop)
        with self.lock:
            self.finish(req, resp, rec, scope)
        return resp

    def safe(self, fn, req, *args):
        """Run a handler; a crash becomes a 500 with the traceback."""
        try:
            return fn(req, *args)
        except Exception:  # noqa: BLE001 - reported to the client
            text = traceback.format_exc()
            if args:
                args[0]["error"] = text
            return Response(500, {"error": "fake crashed", "traceback": text})

    def answer(self, req, rec, scope):
        """Rate limit, authentication, then the route handler."""
        wait = self.limiter.take(scope, time.time())
        if wait is not None:
            resp = self.error(429, "rate limit exceeded")
            resp.headers["Retry-After"] = str(max(1, int(math.ceil(wait))))
            return resp
        return self.authenticate(req) or self.dispatch(req)

    def fault_answer(self, rule):
        """The answer of a fault rule that replaces the handler."""
        body = rule.spec.get("body")
        resp = self.error(rule.status, "injected fault") if body is None else Response(rule.status, body)
        resp.headers.update(rule.spec.get("headers") or {})
        if rule.spec.get("retry_after") is not None:
            resp.headers["Retry-After"] = str(int(math.ceil(float(rule.spec["retry_after"]))))
        return resp

    def finish(self, req, resp, rec, scope):
        """Per-upstream headers, Retry-After bookkeeping, the status in the log."""
        if not resp.drop:
            self.decorate(req, resp, scope)
        retry = resp.headers.get("Retry-After")
        if retry is not None and not resp.drop:
            self.watch.sent(scope, float(retry), rec["seq"], time.time())
        rec["status"] = None if resp.drop else resp.status

    # ---- control API (never recorded, no auth, no faults)

    def control_body(self, req):
        if req.json is None and req.body.strip():
            raise ValueError("body is not JSON")
        return req.json

    @route("GET", r"/__fake/health")
    def c_health(self, req):
        return Response(200, {"name": self.name, "ok": True})

    @route("GET", r"/__fake/requests")
    def c_requests(self, req):
        since = int(req.arg("since", "0"))
        return Response(200, self.recorder.select(req.arg("path_prefix"), req.arg("method"), since))

    @route("GET", r"/__fake/state")
    def c_state(self, req):
        return Response(200, self.state())

    @route("POST", r"/__fake/reset")
    def c_reset(self, req):
        self.reset_all()
        return Response(200, {"ok": True})

    @route("POST", r"/__fake/seed")
    def c_seed(self, req):
        body = req.json
        if not isinstance(body, dict):
            return Response(400, {"error": "seed must be a JSON object"})
        self.load(copy.deepcopy(body))
        return Response(200, {"ok": True})

    @route("GET", r"/__fake/faults")
    def c_faults_get(self, req):
        return Response(200, self.faults.describe())

    @route("POST", r"/__fake/faults")
    def c_faults(self, req):
        return self.configure(self.faults.configure, req, self.faults.describe)

    @route("GET", r"/__fake/violations")
    def c_violations(self, req):
        return Response(200, list(self.watch.violations))

    @route("GET", r"/__fake/ratelimit")
    def c_ratelimit_get(self, req):
        return Response(200, self.limiter.describe())

    @route("POST", r"/__fake/ratelimit")
    def c_ratelimit(self, req):
        return self.configure(self.limiter.configure, req, self.limiter.describe)

    @route("GET", r"/__fake/config")
    def c_config_get(self, req):
        return Response(200, self.options)

    @route("POST", r"/__fake/config")
    def c_config(self, req):
        return self.configure(self.set_options, req, lambda: self.options)

    def configure(self, setter, req, describe):
        """Apply a control body with SETTER; 400 with the reason on bad input."""
        try:
            setter(self.control_body(req))
        except (ValueError, TypeError, KeyError, re.error) as e:
            return Response(400, {"error": str(e)})
        return Response(200, describe())

    def set_options(self, body):
        unknown = set(body) - set(self.options)
        if unknown:
            raise ValueError("unknown options: %s (known: %s)"
                             % (", ".join(sorted(unknown)), ", ".join(sorted(self.options))))
        self.options.update(body)

    @route("POST", r"/__fake/update")
    def c_update(self, req):
        """{collection, id, set: {...}} (key: "id" unless given as "key")."""
        body = req.json or {}
        item = self.find(body.get("collection"), body.get("id"), body.get("key", "id"))
        if item is None or not isinstance(body.get("set"), dict):
            return Response(404, {"error": "no such item, or no \"set\" object"})
        item.update(body["set"])
        return Response(200, item)

    @route("POST", r"/__fake/insert")
    def c_insert(self, req):
        """{collection, item}: appends ITEM as is."""
        body = req.json or {}
        if not isinstance(body.get("item"), dict) or not isinstance(body.get("collection"), str):
            return Response(400, {"error": "need {collection, item}"})
        self.data.setdefault(body["collection"], []).append(body["item"])
        return Response(200, body["item"])


# ------------------------------------------------------------ HTTP server

class Handler(BaseHTTPRequestHandler):
    """Turns HTTP/1.1 into Request → fake.handle → Response, quietly."""

    protocol_version = "HTTP/1.1"
    server_version = "atsflow-fake/1"

    def log_message(self, *args):
        pass

    def do_any(self):
        body = self.read_body()
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        host = headers.get("host") or "127.0.0.1:%d" % self.server.server_address[1]
        resp = self.server.fake.handle(Request(self.command, self.path, headers, body, host))
        if resp.drop:
            self.close_connection = True
            self.shutdown_socket()
            return
        self.write(resp)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_any

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def read_chunked(self):
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def write(self, resp):
        try:
            self.send_response(resp.status)
            for name, value in resp.headers.items():
                self.send_header(name, str(value))
            if resp.status != 204 and resp.status >= 200:
                self.send_header("Content-Length", str(len(resp.payload)))
            self.end_headers()
            if self.command != "HEAD" and resp.status != 204:
                self.wfile.write(resp.payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def shutdown_socket(self):
        """Close without answering: the client sees an empty reply."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake, port=0, host="127.0.0.1"):
        super().__init__((host, port), Handler)
        self.fake = fake

    def handle_error(self, request, client_address):
        pass  # client hang-ups during stalls are expected; stay quiet


class Running:
    """A fake served from a background thread of this process."""

    def __init__(self, fake, port=0):
        self.fake = fake
        self.server = Server(fake, port)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def serve_in_thread(name, seed=None, port=0, options=None):
    """Start fake NAME on 127.0.0.1 in a daemon thread; returns a Running."""
    return Running(create(name, seed, options), port)
