#!/usr/bin/env python3
"""Serve one fake upstream until SIGTERM/SIGINT.

    python3 tests/fakes/serve.py <greenhouse|lever|ashby|workable|coderbyte>
        [--port N] [--seed FILE] [--options JSON] [--exit-on-stdin-eof]

Prints `READY <port>` on stdout (flushed) once it accepts connections.
"""

import argparse
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakebase  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description="Serve one fake upstream on 127.0.0.1.")
    p.add_argument("name", choices=fakebase.NAMES)
    p.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    p.add_argument("--seed", help="JSON file replacing the default seed (also what reset restores)")
    p.add_argument("--options", help="JSON object of fake options (see POST /__fake/config)")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="stop when stdin closes (the parent test process died)")
    return p.parse_args(argv)


def watch_stdin(stop):
    """Set STOP when stdin reaches EOF."""
    fd = sys.stdin.fileno()
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass
    stop.set()


def main(argv=None):
    args = parse_args(argv)
    seed = None
    if args.seed:
        with open(args.seed, encoding="utf-8") as f:
            seed = json.load(f)
    options = json.loads(args.options) if args.options else None
    running = fakebase.serve_in_thread(args.name, seed=seed, port=args.port, options=options)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.exit_on_stdin_eof:
        threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    print("READY %d" % running.port, flush=True)
    while not stop.wait(0.5):
        pass
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
