#!/bin/sh
# Runs every C unit test binary in BUILD/unit; writes "passed failed" to OUT.
build=$1 out=$2 passed=0 failed=0
for t in "$build"/unit/test_*; do
    [ -x "$t" ] || continue
    log=$("$t" 2>&1); rc=$?
    p=$(printf '%s\n' "$log" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$log" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or sanitizer report
    [ "$rc" -ne 0 ] && printf '%s\n' "$log" | tail -30
    echo "unit $(basename "$t"): $p passed, $f failed"
    passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed $failed" > "$out"
[ "$failed" -eq 0 ]
