#!/bin/sh
# Runs each fuzz target for SECONDS (make fuzz): the working corpus grows in
# $FUZZ_CORPUS_DIR/<target> (default BUILD/corpus), seeded read-only from
# tests/fuzz/corpus/<target> and tests/fuzz/regressions/<target>; crashes
# land in BUILD/crashes/. Prints one line per target and exits 1 when any
# target crashed (the log is BUILD/<target>.log).
# usage: tests/fuzz/run.sh BUILD SECONDS TARGET...
build=$1 secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
rc=0
for t in "$@"; do
    bin=$build/fuzz_$t
    work=${FUZZ_CORPUS_DIR:-$build/corpus}/$t
    mkdir -p "$work" "$build/crashes"
    seeds="$here/corpus/$t"
    [ -d "$here/regressions/$t" ] && [ -n "$(ls "$here/regressions/$t")" ] && seeds="$seeds $here/regressions/$t"
    case $t in
    config | dsl) dict=lua maxlen=8192 ;;
    httpd) dict=http maxlen=16384 ;;
    *) dict=json maxlen=16384 ;;
    esac
    log=$build/$t.log
    # -detect_leaks=0: Lua's collector frees later than the input that
    # allocated, which LeakSanitizer would check (slowly) after every input
    "$bin" -max_total_time="$secs" -detect_leaks=0 -timeout=25 -rss_limit_mb=4096 \
        -max_len=$maxlen -dict="$here/dicts/$dict.dict" -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$t-" "$work" $seeds >"$log" 2>&1
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    corpus=$(ls "$work" | wc -l)
    rate=$(( ${runs:-0} / (${took:-0} > 0 ? ${took:-1} : 1) ))
    if [ "$status" -ne 0 ]; then
        rc=1
        crash=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)
        echo "fuzz $t: FAILED after ${runs:-?} runs: ${crash:-see $log}"
        grep -m1 -E "ERROR: |FUZZ INVARIANT|fuzz (httpd|target)|==[0-9]+==" "$log" | cut -c1-300
    else
        echo "fuzz $t: ${runs:-0} runs in ${took:-?} s (${rate}/s), corpus $corpus inputs, no crash"
    fi
done
exit $rc
