#!/bin/sh
# Sums the "passed failed" files every suite wrote; prints the one closing line.
dir=$1 passed=0 failed=0
for s in unit lua e2e embed; do
    if [ -f "$dir/$s" ]; then
        read p f < "$dir/$s"
    else
        echo "suite $s wrote no results (it crashed or did not run)"; p=0; f=1
    fi
    passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
