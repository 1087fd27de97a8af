#!/usr/bin/env python3
"""Instructions per webhook (intake, no automation matching) and per event
(end to end, one add_tag each) of an atsflow binary, counted by valgrind's
callgrind: unlike times, the counts do not move with the machine's load, so
two builds compare even on a busy machine (bench/README.md).

usage: bench/instructions.py [--binary ./atsflow] [--build build/rel] [intake] [e2e]
Needs valgrind (Debian package) and `make bench` built the helpers. Counts
every thread of the daemon (the WAL checkpointer included); slow: about a
minute per scenario."""
import argparse
import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as R  # noqa: E402  (the bench's own helpers)


class Ctx:
    pass


def under_callgrind(d, out):
    d.argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + d.argv
    d.proc = R.Proc(d.argv, os.path.join(d.dir, "daemon.log"), "server", cwd=d.dir)
    R.wait_healthy(d.url, d.proc, timeout=120)


def wait_metric(d, prefix, contains, n, timeout=600):
    deadline = time.time() + timeout
    while R.metric_sum(R.metrics(d.url), prefix, contains) < n:
        if time.time() > deadline:
            raise RuntimeError("%s stayed below %d; see %s" % (prefix, n, d.proc.logpath))
        time.sleep(0.2)


def measured(out, zero_then_load, pid):
    """Zeroes the counters, runs the load, dumps; returns instructions."""
    subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, check=True)
    zero_then_load()
    subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True, check=True)
    time.sleep(1)
    dumps = sorted((f for f in glob.glob(out + ".*")), key=os.path.getmtime)
    with open(dumps[-1]) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in " + dumps[-1])


def intake(ctx, n=1000):
    d = R.Daemon(ctx, "cg-intake", "sandbox", 10)
    out = os.path.join(d.dir, "callgrind.out")
    under_callgrind(d, out)
    try:
        R.loadgen(ctx, "-m", "closed", "-c", 8, "-n", 200, *R.sandbox_load(ctx, d.port, "w"))
        wait_metric(d, "atsflow_events_total", "", 200)

        def load():
            R.loadgen(ctx, "-m", "closed", "-c", 8, "-n", n, *R.sandbox_load(ctx, d.port, "m"),
                      timeout=600)
            wait_metric(d, "atsflow_events_total", "", 200 + n)
        return measured(out, load, d.pid) / n
    finally:
        d.stop()


def e2e(ctx, n=500):
    up, up_url = R.start_fakeups(ctx, "cg-fakeups.log")
    d = R.Daemon(ctx, "cg-e2e", "greenhouse", 10, matching_job="Bench Job", upstream=up_url)
    out = os.path.join(d.dir, "callgrind.out")
    try:
        under_callgrind(d, out)
        R.loadgen(ctx, "-m", "closed", "-c", 1, "-n", 20, "-j", "Bench Job",
                  *R.greenhouse_load(ctx, d.port, "w"))
        wait_metric(d, "atsflow_runs_total", 'status="succeeded"', 20)

        def load():
            R.loadgen(ctx, "-m", "closed", "-c", 8, "-n", n, "-j", "Bench Job",
                      *R.greenhouse_load(ctx, d.port, "e2e"), timeout=600)
            wait_metric(d, "atsflow_runs_total", 'status="succeeded"', 20 + n)
        return measured(out, load, d.pid) / n
    finally:
        d.stop()
        up.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(R.ROOT, "atsflow"))
    ap.add_argument("--build", default=os.path.join(R.ROOT, "build", "rel"))
    ap.add_argument("scenarios", nargs="*", default=["intake", "e2e"])
    a = ap.parse_args()
    ctx = Ctx()
    ctx.binary = os.path.abspath(a.binary)
    bb = os.path.join(os.path.abspath(a.build), "bench")
    ctx.loadgen, ctx.refserver, ctx.fakeups = (os.path.join(bb, x)
                                               for x in ("loadgen", "refserver", "fakeups"))
    ctx.work = os.path.join(bb, "work-instructions")
    os.makedirs(ctx.work, exist_ok=True)
    for name in a.scenarios:
        per = {"intake": intake, "e2e": e2e}[name](ctx)
        print("%s: %.0f instructions per %s" % (name, per, "webhook" if name == "intake" else "event"))


if __name__ == "__main__":
    main()
