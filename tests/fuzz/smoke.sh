#!/bin/sh
# CI smoke test (.ci/run): every fuzz target for SECONDS (default 10) under
# libFuzzer + ASan + UBSan; exits 1 when any target crashed. Needs clang
# (installed with apt-get when run as root; see ensure-clang.sh).
set -e
cd "$(dirname "$0")/../.."
exec make --no-print-directory fuzz FUZZ_SECONDS="${1:-10}"
