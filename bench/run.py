#!/usr/bin/env python3
"""`make bench`: measures atsflow on loopback and prints one table, plus
bench/results.json. See bench/README.md ("Performance") for what each figure
means. Everything runs on 127.0.0.1 with generated configs in build/bench/work;
the daemon is pinned to CPU 0 and the load (and fake upstream) to CPU 1 when
the machine has two CPUs. Every absolute figure is printed next to a
reference measured in the same run (the reference evhttp server, the disk's
fdatasync), so no figure depends on the machine's speed alone.

usage: bench/run.py [--build build/rel] [--out bench/results.json] [--quick]
                    [--only start,intake,e2e,memory,reload] [--binary PATH]
"""

import argparse
import base64
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SB_SECRET = "whsec_" + base64.b64encode(b"atsflow-bench-secret-24b").decode()
GH_SECRET = "gh-bench-webhook-secret"
ADMIN = "bench-admin-token"

TARGETS = {
    "intake_ratio": 0.50,       # of the reference server
    "e2e_events_per_s": 10000,
    "p99_at_1000_ms": 5.0,
    "rss_1000_mb": 40.0,
    "reload_ms": 100.0,
    "reload_stall_ms": 5.0,
    "start_ms": 100.0,
}


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Pins:
    """CPU 0 for the server under test, CPU 1 for load; none on one CPU."""

    def __init__(self):
        cpus = sorted(os.sched_getaffinity(0))
        self.split = len(cpus) >= 2
        self.server = {cpus[0]}
        self.load = {cpus[1]} if self.split else {cpus[0]}
        self.cpus = len(cpus)

    def fn(self, which):
        cpus = self.server if which == "server" else self.load
        return lambda: os.sched_setaffinity(0, cpus)


PINS = Pins()


def http(method, url, body=None, headers=None, timeout=5):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def background_cpu(seconds=0.5):
    """CPUs busy with other work while the bench itself is idle (0 .. ncpu),
    from /proc/stat over `seconds`."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    t0, i0 = snap()
    time.sleep(seconds)
    t1, i1 = snap()
    total = t1 - t0
    return round(PINS.cpus * (1 - (i1 - i0) / total), 2) if total else 0.0


def rss_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics(url):
    _, text = http("GET", url + "/metrics")
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def metric_sum(m, prefix, contains=""):
    return sum(v for k, v in m.items() if k.startswith(prefix) and contains in k)


# ------------------------------------------------------------------ processes

class Proc:
    def __init__(self, argv, logpath, pin="server", cwd=None, env=None):
        self.log = open(logpath, "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=self.log, cwd=cwd,
                                  preexec_fn=PINS.fn(pin), env=env)
        self.logpath = logpath

    @property
    def pid(self):
        return self.p.pid

    def stop(self, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def wait_healthy(url, proc, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.p.poll() is not None:
            raise RuntimeError("exited at start; see " + proc.logpath)
        try:
            if http("GET", url + "/healthz", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("not healthy after %ds; see %s" % (timeout, proc.logpath))


def automations(n, matching_job=None):
    """n automations on distinct jobs, each tagging the candidate; the
    first one is on `matching_job` when given."""
    lines = []
    for i in range(n):
        job = matching_job if (i == 0 and matching_job) else "Bench Job %d" % i
        lines.append(
            'automation { name = "Bench %d", trigger = applicant_moved_to_stage '
            '{ job = "%s", stage = "Technical Screen" },\n'
            '  action = function(e) ats.add_tag(e, "x") end }\n' % (i, job))
    return "".join(lines)


class Daemon:
    """`atsflow serve` with a generated config in a fresh folder."""

    def __init__(self, ctx, name, source, n_autos, matching_job=None, upstream=None):
        self.dir = os.path.join(ctx.work, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "scripts"))
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        with open(os.path.join(self.dir, "scripts", "bench.lua"), "w") as f:
            f.write(automations(n_autos, matching_job))
        if source == "sandbox":
            ats = 'ats = { sandbox = { webhook_secret = "%s" } }\n' % SB_SECRET
        else:
            ats = ('ats = { greenhouse = { client_id = "bench", client_secret = "bench-secret",'
                   ' user_id = "4080", webhook_secret = "%s", base_url = "%s", auth_url = "%s" } }\n'
                   % (GH_SECRET, upstream, upstream))
        self.config = os.path.join(self.dir, "atsflow.conf.lua")
        with open(self.config, "w") as f:
            f.write('listen = "127.0.0.1:%d"\ndatabase = "journal.db"\nscripts = "scripts"\n'
                    'admin_token = "%s"\nlog_level = "warn"\n' % (self.port, ADMIN))
            f.write(ats)
            f.write('limits = { drain_timeout = "2s" }\n')
        self.argv = [ctx.binary, "-c", self.config, "serve"]
        self.proc = None

    def start(self):
        self.proc = Proc(self.argv, os.path.join(self.dir, "daemon.log"), "server", cwd=self.dir)
        wait_healthy(self.url, self.proc)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc:
            self.proc.stop()

    def db(self):
        return sqlite3.connect("file:%s?mode=ro" % os.path.join(self.dir, "journal.db"), uri=True)


def loadgen(ctx, *args, timeout=200):
    argv = [ctx.loadgen] + [str(a) for a in args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       preexec_fn=PINS.fn("load"))
    if r.returncode != 0:
        raise RuntimeError("loadgen failed: %s\n%s" % (" ".join(argv), r.stderr))
    return json.loads(r.stdout)


def sandbox_load(ctx, port, prefix, *extra):
    return ["-p", port, "-P", "/webhooks/sandbox", "-k", "sandbox", "-s", SB_SECRET,
            "-i", prefix] + list(extra)


def greenhouse_load(ctx, port, prefix, *extra):
    return ["-p", port, "-P", "/webhooks/greenhouse", "-k", "greenhouse", "-s", GH_SECRET,
            "-i", prefix] + list(extra)


# ------------------------------------------------------------------ references

def fsync_reference(ctx, n=300):
    """fdatasync latency of the bench folder's disk (appending 4 KiB pages,
    as a WAL commit does)."""
    path = os.path.join(ctx.work, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    ts = []
    try:
        for i in range(n):
            os.pwrite(fd, b"\0" * 8192, (i % 64) * 8192)
            t = time.perf_counter()
            os.fdatasync(fd)
            ts.append((time.perf_counter() - t) * 1e3)
    finally:
        os.close(fd)
        os.unlink(path)
    ts.sort()
    return {"p50_ms": round(ts[len(ts) // 2], 3), "p99_ms": round(ts[int(len(ts) * 0.99)], 3)}


class RefServer:
    def __init__(self, ctx):
        self.port = free_port()
        self.proc = Proc([ctx.refserver, str(self.port)],
                         os.path.join(ctx.work, "refserver.log"), "server")
        wait_healthy("http://127.0.0.1:%d" % self.port, self.proc)

    def stop(self):
        self.proc.stop()


# ------------------------------------------------------------------ scenarios

def scen_start(ctx):
    """exec → first 200 on /healthz (median of several): with a new journal
    (schema created) and with an existing one (a restart), for 10 and 1,000
    automations; the reference server measured the same way. Greenhouse
    against the fake upstream, whose catalog is unavailable, so a restart
    does not validate names against a fetched catalog."""
    out = {}
    up, up_url = start_fakeups(ctx, "fakeups-start.log")
    try:
        for n in (10, 1000):
            d = Daemon(ctx, "start-%d" % n, "greenhouse", n, upstream=up_url)
            for kind in ("new", "restart"):
                times = []
                for i in range(ctx.start_trials):
                    if kind == "new":
                        for f in ("journal.db", "journal.db-wal", "journal.db-shm"):
                            if os.path.exists(os.path.join(d.dir, f)):
                                os.unlink(os.path.join(d.dir, f))
                    r = loadgen(ctx, "-m", "start", "-p", d.port, "-L",
                                os.path.join(d.dir, "daemon.log"), "--", *d.argv)
                    if r["ms"] < 0:
                        raise RuntimeError("no 200 on /healthz; see " + d.dir + "/daemon.log")
                    times.append(r["ms"])
                out["atsflow_%d_%s_ms" % (n, kind)] = round(statistics.median(times), 1)
                out["atsflow_%d_%s_all_ms" % (n, kind)] = times
    finally:
        up.stop()
    times = []
    for i in range(ctx.start_trials):
        port = free_port()
        r = loadgen(ctx, "-m", "start", "-p", port, "--", ctx.refserver, str(port))
        times.append(r["ms"])
    out["reference_ms"] = round(statistics.median(times), 1)
    return out


def start_fakeups(ctx, logname):
    port = free_port()
    up = Proc([ctx.fakeups, str(port)], os.path.join(ctx.work, logname), "load")
    url = "http://127.0.0.1:%d" % port
    wait_healthy(url, up)
    return up, url


def scen_intake(ctx):
    """Saturation (closed loop) of signed webhooks, then a fixed 1,000/s, on
    atsflow and on the reference server."""
    conns, dur, warm = ctx.conns, ctx.duration, ctx.warmup
    res = {}
    ref = RefServer(ctx)
    try:
        res["reference_saturation"] = loadgen(ctx, "-m", "closed", "-c", conns, "-d", dur, "-w", warm,
                                              *sandbox_load(ctx, ref.port, "ref-sat"))
        res["reference_rate_1000"] = loadgen(ctx, "-m", "rate", "-r", 1000, "-c", conns, "-d",
                                             ctx.rate_duration, "-w", 1,
                                             *sandbox_load(ctx, ref.port, "ref-rate"))
        res["reference_rss_kb"] = rss_kb(ref.proc.pid)["VmHWM"]
    finally:
        ref.stop()

    d = Daemon(ctx, "intake", "sandbox", 10).start()
    try:
        m0, c0 = metrics(d.url), cpu_s(d.pid)
        sat = loadgen(ctx, "-m", "closed", "-c", conns, "-d", dur, "-w", warm,
                      *sandbox_load(ctx, d.port, "sat"))
        m1, c1 = metrics(d.url), cpu_s(d.pid)
        sat["server_cpu_share"] = round((c1 - c0) / (dur + warm), 2)
        commits = m1.get("atsflow_journal_commits{}", 0) - m0.get("atsflow_journal_commits{}", 0)
        writes = m1.get("atsflow_journal_writes{}", 0) - m0.get("atsflow_journal_writes{}", 0)
        accepted = metric_sum(m1, "atsflow_webhooks_total", 'outcome="accepted"') - \
            metric_sum(m0, "atsflow_webhooks_total", 'outcome="accepted"')
        sat["journal_commits"] = int(commits)
        sat["journal_writes"] = int(writes)
        sat["accepted"] = int(accepted)
        sat["deliveries_per_commit"] = round(accepted / commits, 2) if commits else None
        res["atsflow_saturation"] = sat
        time.sleep(0.5)
        res["atsflow_rate_1000"] = loadgen(ctx, "-m", "rate", "-r", 1000, "-c", conns, "-d",
                                           ctx.rate_duration, "-w", 1,
                                           *sandbox_load(ctx, d.port, "rate"))
    finally:
        d.stop()
    with d.db() as db:
        res["journal"] = {
            "synchronous": db.execute("PRAGMA synchronous").fetchone()[0],
            "journal_mode": db.execute("PRAGMA journal_mode").fetchone()[0],
            "deliveries": db.execute("SELECT count(*) FROM deliveries").fetchone()[0],
            "deliveries_by_status": dict(db.execute(
                "SELECT status, count(*) FROM deliveries GROUP BY 1").fetchall()),
        }
    return res


def scen_e2e(ctx):
    """N signed Greenhouse webhooks, each matching one automation whose
    action tags the candidate on a fake upstream (3 calls: list tags, list
    applied tags, apply); from the first webhook to the last run settled."""
    up, up_url = start_fakeups(ctx, "fakeups-e2e.log")
    d = Daemon(ctx, "e2e", "greenhouse", 10, matching_job="Bench Job", upstream=up_url).start()
    n = ctx.e2e_events
    res = {"events": n}
    try:
        # warm the token and the connection pool with one event
        loadgen(ctx, "-m", "closed", "-c", 1, "-n", 1, "-j", "Bench Job",
                *greenhouse_load(ctx, d.port, "e2e-warm"))
        base = 1
        deadline = time.time() + 20
        while metric_sum(metrics(d.url), "atsflow_runs_total", 'status="succeeded"') < base:
            if time.time() > deadline:
                raise RuntimeError("the warm-up run did not succeed; see " + d.proc.logpath)
            time.sleep(0.05)
        c0 = cpu_s(d.pid)
        t0 = time.perf_counter()
        holder = {}

        def post():
            holder["r"] = loadgen(ctx, "-m", "closed", "-c", ctx.conns, "-n", n, "-j", "Bench Job",
                                  *greenhouse_load(ctx, d.port, "e2e"))
        th = threading.Thread(target=post)
        th.start()
        done, deadline = 0, t0 + ctx.e2e_timeout
        while time.perf_counter() < deadline:
            m = metrics(d.url)
            done = metric_sum(m, "atsflow_runs_total", 'status="succeeded"') - base
            if done >= n:
                break
            time.sleep(0.05)
        t1 = time.perf_counter()
        th.join()
        res["intake"] = holder.get("r")
        res["completed"] = int(done)
        res["seconds"] = round(t1 - t0, 3)
        res["events_per_s"] = round(done / (t1 - t0), 1)
        res["timed_out"] = done < n
        res["server_cpu_share"] = round((cpu_s(d.pid) - c0) / (t1 - t0), 2)
        _, stats = http("GET", up_url + "/__stats")
        res["upstream"] = json.loads(stats)
        m = metrics(d.url)
        res["dead_or_retrying"] = int(metric_sum(m, "atsflow_runs_total", 'status="dead"') +
                                      metric_sum(m, "atsflow_runs_total", 'status="retrying"'))
    finally:
        d.stop()
        up.stop()
    with d.db() as db:
        res["journal"] = {
            "runs_succeeded": db.execute(
                "SELECT count(*) FROM runs WHERE status = 'succeeded'").fetchone()[0],
            "steps_ok": db.execute("SELECT count(*) FROM steps WHERE status = 'ok'").fetchone()[0],
        }
    return res


def scen_memory(ctx):
    """Peak RSS (VmHWM) after 100,000 events with 10 and with 1,000
    automations loaded. The events are of a type no automation refers to,
    so both runs do the same work per event (see README for why)."""
    out = {}
    for n in (10, 1000):
        d = Daemon(ctx, "memory-%d" % n, "sandbox", n).start()
        try:
            idle = rss_kb(d.pid)["VmRSS"]
            r = loadgen(ctx, "-m", "closed", "-c", ctx.conns, "-n", ctx.memory_events,
                        "-d", ctx.memory_timeout, "-e", "application.created",
                        *sandbox_load(ctx, d.port, "mem"), timeout=ctx.memory_timeout + 30)
            # let processing finish, then read the high-water mark
            deadline = time.time() + 30
            while time.time() < deadline:
                m = metrics(d.url)
                if metric_sum(m, "atsflow_events_total") >= r["completed"]:
                    break
                time.sleep(0.1)
            mem = rss_kb(d.pid)
            out["automations_%d" % n] = {
                "events": r["completed"], "seconds": r["seconds"], "rps": r["rps"],
                "rss_idle_kb": idle, "rss_after_kb": mem["VmRSS"], "peak_rss_kb": mem["VmHWM"],
                "non2xx": r["non2xx"],
            }
        finally:
            d.stop()
    # The same with events that every automation's trigger has to judge
    # (applicant.moved_to_stage on a job none refers to): a short run, to
    # show the cost of judging 1,000 automations and journaling the
    # decisions.
    d = Daemon(ctx, "memory-1000-stage", "sandbox", 1000).start()
    try:
        r = loadgen(ctx, "-m", "closed", "-c", ctx.conns, "-d", 4, "-w", 1,
                    *sandbox_load(ctx, d.port, "mem-stage"))
        time.sleep(1)
        mem = rss_kb(d.pid)
        out["automations_1000_stage_events"] = {"rps": r["rps"], "events": r["completed"],
                                                "peak_rss_kb": mem["VmHWM"]}
    finally:
        d.stop()
    with d.db() as db:
        row = db.execute("SELECT avg(length(decisions)), avg(length(body)) FROM events").fetchone()
        out["automations_1000_stage_events"]["decisions_bytes_per_event"] = int(row[0] or 0)
        out["automations_1000_stage_events"]["event_bytes"] = int(row[1] or 0)
    return out


def scen_reload(ctx):
    """POST /admin/reload of 1,000 automations, 5 times, while a client
    pings /healthz every 1 ms on its own connection; the longest gap between
    two ping answers is the longest event-loop stall seen by a client."""
    up, up_url = start_fakeups(ctx, "fakeups-reload.log")
    d = Daemon(ctx, "reload", "greenhouse", 1000, upstream=up_url).start()
    try:
        time.sleep(0.3)
        r = loadgen(ctx, "-m", "stall", "-p", d.port, "-T", ADMIN, "-R", ctx.reloads, "-I", 1000)
        r["rss_kb"] = rss_kb(d.pid)
    finally:
        d.stop()
        up.stop()
    ms = [x["ms"] for x in r["reloads"]]
    r["reload_median_ms"] = round(statistics.median(ms), 1) if ms else None
    r["reload_max_ms"] = round(max(ms), 1) if ms else None
    r["all_ok"] = all(x["status"] == 200 for x in r["reloads"]) and len(ms) == ctx.reloads
    return r


# ------------------------------------------------------------------ report

def fmt_int(x):
    return "{:,}".format(int(round(x)))


def table(R):
    rows = []
    ref_sat = R["intake"]["reference_saturation"]
    at_sat = R["intake"]["atsflow_saturation"]
    ref_rate = R["intake"]["reference_rate_1000"]["latency"]
    at_rate = R["intake"]["atsflow_rate_1000"]["latency"]
    ratio = at_sat["rps"] / ref_sat["rps"] if ref_sat["rps"] else 0
    fs = R["reference"]["fsync"]
    T = TARGETS

    def row(name, value, ref, target, met):
        rows.append((name, value, ref, target, "yes" if met else "NO" if met is not None else "-"))

    row("intake: signed webhooks/s (saturation)", fmt_int(at_sat["rps"]) + "/s",
        "ref server %s/s" % fmt_int(ref_sat["rps"]), "", None)
    row("intake: ratio to the reference", "%.1f%%" % (100 * ratio),
        "", "≥ %d%%" % (100 * T["intake_ratio"]), ratio >= T["intake_ratio"])
    row("intake: deliveries per group commit", "%.1f" % (at_sat["deliveries_per_commit"] or 0),
        "fdatasync p50 %.2f ms" % fs["p50_ms"], "", None)
    e = R["e2e"]
    row("end to end: events/s (webhook → run settled)", fmt_int(e["events_per_s"]) + "/s",
        "ref server %s/s" % fmt_int(ref_sat["rps"]), "≥ %s/s" % fmt_int(T["e2e_events_per_s"]),
        e["events_per_s"] >= T["e2e_events_per_s"] and not e["timed_out"])
    row("latency at 1,000/s: p50 / p99 / p99.9", "%.2f / %.2f / %.2f ms" % (
        at_rate["p50_us"] / 1e3, at_rate["p99_us"] / 1e3, at_rate["p999_us"] / 1e3),
        "ref %.2f / %.2f / %.2f ms" % (ref_rate["p50_us"] / 1e3, ref_rate["p99_us"] / 1e3,
                                       ref_rate["p999_us"] / 1e3),
        "p99 < %g ms" % T["p99_at_1000_ms"], at_rate["p99_us"] / 1e3 < T["p99_at_1000_ms"])
    sl, rl = at_sat["latency"], ref_sat["latency"]
    row("latency at saturation: p50 / p99 / p99.9", "%.1f / %.1f / %.1f ms" % (
        sl["p50_us"] / 1e3, sl["p99_us"] / 1e3, sl["p999_us"] / 1e3),
        "ref %.1f / %.1f / %.1f ms" % (rl["p50_us"] / 1e3, rl["p99_us"] / 1e3, rl["p999_us"] / 1e3),
        "(%d connections)" % at_sat["conns"], None)
    mem = R["memory"]
    m10, m1k = mem["automations_10"], mem["automations_1000"]
    ref_rss = R["intake"]["reference_rss_kb"] / 1024
    row("peak RSS, 10 automations, after %s events" % fmt_int(m10["events"]),
        "%.1f MB" % (m10["peak_rss_kb"] / 1024), "ref server %.1f MB" % ref_rss, "", None)
    row("peak RSS, 1,000 automations, after %s events" % fmt_int(m1k["events"]),
        "%.1f MB" % (m1k["peak_rss_kb"] / 1024), "ref server %.1f MB" % ref_rss,
        "< %g MB" % T["rss_1000_mb"],
        m1k["peak_rss_kb"] / 1024 < T["rss_1000_mb"] and m1k["events"] >= ctx_memory_events)
    st = mem["automations_1000_stage_events"]
    row("intake, 1,000 automations judging each event", fmt_int(st["rps"]) + "/s",
        "%s B of decisions/event" % fmt_int(st["decisions_bytes_per_event"]), "", None)
    rl = R["reload"]
    row("reload of 1,000 automations (median / max)", "%.1f / %.1f ms" % (
        rl["reload_median_ms"], rl["reload_max_ms"]),
        "ref server %s req/s" % fmt_int(ref_sat["rps"]), "< %g ms" % T["reload_ms"],
        rl["all_ok"] and rl["reload_max_ms"] < T["reload_ms"])
    row("longest loop stall during reloads", "%.1f ms" % rl["max_gap_ms"],
        "%.1f ms without reload" % rl["max_gap_before_reloads_ms"],
        "≤ %g ms" % T["reload_stall_ms"], rl["max_gap_ms"] <= T["reload_stall_ms"])
    s = R["start"]
    row("start → first 200 on /healthz, new journal", "%.1f ms" % s["atsflow_10_new_ms"],
        "ref server %.1f ms" % s["reference_ms"], "< %g ms" % T["start_ms"],
        s["atsflow_10_new_ms"] < T["start_ms"])
    row("start, existing journal (restart)", "%.1f ms" % s["atsflow_10_restart_ms"],
        "ref server %.1f ms" % s["reference_ms"], "< %g ms" % T["start_ms"],
        s["atsflow_10_restart_ms"] < T["start_ms"])
    row("start with 1,000 automations: new / restart", "%.1f / %.1f ms" % (
        s["atsflow_1000_new_ms"], s["atsflow_1000_restart_ms"]), "", "", None)
    w = [max(len(r[i]) for r in rows + [("figure", "value", "in-run reference", "target", "met")])
         for i in range(5)]
    lines = []
    hdr = ("figure", "value", "in-run reference", "target", "met")
    for r in [hdr] + rows:
        lines.append("  ".join(r[i].ljust(w[i]) for i in range(5)).rstrip())
        if r is hdr:
            lines.append("  ".join("-" * w[i] for i in range(5)))
    return "\n".join(lines), rows


ctx_memory_events = 100000


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpus": PINS.cpus, "cpu_model": model, "kernel": platform.release(),
            "pinned": PINS.split, "python": platform.python_version()}


class Ctx:
    pass


def main():
    global ctx_memory_events
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "rel"))
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    ap.add_argument("--only", default="", help="comma-separated scenarios")
    ap.add_argument("--binary", default=os.path.join(ROOT, "atsflow"),
                    help="the atsflow binary to measure (default ./atsflow)")
    a = ap.parse_args()
    ctx = Ctx()
    ctx.binary = os.path.abspath(a.binary)
    a.build = os.path.abspath(a.build)
    bb = os.path.join(a.build, "bench")
    ctx.loadgen, ctx.refserver, ctx.fakeups = (os.path.join(bb, x)
                                               for x in ("loadgen", "refserver", "fakeups"))
    ctx.work = os.path.join(a.build, "bench", "work")
    shutil.rmtree(ctx.work, ignore_errors=True)
    os.makedirs(ctx.work)
    q = a.quick
    ctx.conns = 64
    ctx.duration, ctx.warmup = (3, 1) if q else (8, 2)
    ctx.rate_duration = 3 if q else 10
    ctx.start_trials = 3 if q else 5
    ctx.e2e_events = 1000 if q else 5000
    ctx.e2e_timeout = 60 if q else 90
    ctx.memory_events = ctx_memory_events = 10000 if q else 100000
    ctx.memory_timeout = 60  # seconds at most per memory run (the events sent are printed)
    ctx.reloads = 5
    for p in (ctx.binary, ctx.loadgen, ctx.refserver, ctx.fakeups):
        if not os.access(p, os.X_OK):
            sys.exit("bench: %s is missing (run `make bench`)" % p)

    t_start = time.time()
    R = {"machine": machine(), "started_at": datetime.datetime.now(datetime.timezone.utc)
         .isoformat(timespec="seconds"), "quick": q, "targets": TARGETS}
    R["reference"] = {"fsync": fsync_reference(ctx)}
    only = set(x for x in a.only.split(",") if x)
    for name, fn in (("start", scen_start), ("intake", scen_intake), ("e2e", scen_e2e),
                     ("memory", scen_memory), ("reload", scen_reload)):
        if only and name not in only:
            continue
        bg = background_cpu()
        log("%s ... (other work busy: %.2f CPUs)" % (name, bg))
        t = time.time()
        R[name] = fn(ctx)
        R[name]["background_cpus_before"] = bg
        log("%s done in %.1fs" % (name, time.time() - t))
    R["seconds"] = round(time.time() - t_start, 1)
    if not only:
        text, rows = table(R)
        R["table"] = [dict(zip(("figure", "value", "reference", "target", "met"), r)) for r in rows]
        print()
        mc = R["machine"]
        print("atsflow bench: %d CPUs (%s), Linux %s, loopback; %s; %.0f s" % (
            mc["cpus"], mc["cpu_model"] or "?", mc["kernel"],
            "server on CPU 0, load on CPU 1" if mc["pinned"] else "unpinned", R["seconds"]))
        print(text)
        busy = max(R[n]["background_cpus_before"] for n in ("start", "intake", "e2e", "memory", "reload"))
        if busy > 0.2:
            print("\nwarning: other work kept up to %.1f CPUs busy during the run; absolute figures "
                  "are unreliable (ratios to the in-run reference less so)" % busy)
    with open(a.out, "w") as f:
        json.dump(R, f, indent=2)
        f.write("\n")
    print("\nwritten: %s" % os.path.relpath(a.out, os.getcwd()))


if __name__ == "__main__":
    main()
