#!/bin/sh
# CI smoke test (.ci/run): every fuzz target for SECONDS (default 10) under
# libFuzzer + ASan + UBSan; exits 1 when any target crashed. Needs clang
# (installed with apt-get when run as root; see ensure-clang.sh).
# Starts from the kept seeds and regressions only (a fresh working corpus),
# so the time stays SECONDS per target however long earlier runs grew theirs.
set -e
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/atsflow-fuzz-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
FUZZ_CORPUS_DIR=$work make --no-print-directory fuzz FUZZ_SECONDS="${1:-10}"
