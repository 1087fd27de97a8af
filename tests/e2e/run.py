#!/usr/bin/env python3
"""Runs the end-to-end suites (tests/e2e/test_*.py, stdlib unittest) and the
fakes' self-test; writes "passed failed" for tests/sum-results.sh."""

import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results")
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    suite.addTests(loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE))
    suite.addTests(loader.loadTestsFromName("selftest"))
    res = unittest.TextTestRunner(verbosity=1, stream=sys.stdout).run(suite)
    failed = len(res.failures) + len(res.errors)
    passed = res.testsRun - failed - len(res.skipped)
    if args.results:
        with open(args.results, "w") as f:
            f.write("%d %d\n" % (passed, failed))
    print("e2e: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
