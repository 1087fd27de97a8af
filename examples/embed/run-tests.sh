#!/bin/sh
# Runs every test binary in DIR (each ends with "N passed, N failed");
# writes the summed "passed failed" to OUT, as tests/run-unit.sh does.
dir=$1 out=$2 passed=0 failed=0
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    log=$("$t" 2>&1); rc=$?
    last=$(printf '%s\n' "$log" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' | tail -1)
    p=${last% *} f=${last#* }
    [ -n "$last" ] || { p=0 f=0; }
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or sanitizer report
    if [ "$f" -ne 0 ]; then printf '%s\n' "$log" | tail -40; fi
    echo "embed $(basename "$t"): $p passed, $f failed"
    passed=$((passed + p)); failed=$((failed + f))
done
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "embed: no test binary in $dir"; failed=1
fi
echo "$passed $failed" > "$out"
[ "$failed" -eq 0 ]
