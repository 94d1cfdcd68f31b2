#!/usr/bin/env bash
# Runs every Criterion test binary given as an argument, from the repository root, and prints one closing line
# "N passed, N failed, N skipped" over all of them. Exits non-zero if any test failed or crashed.
set -u
cd "$(dirname "$0")/.."
# Tests run two at a time (--jobs 2) on machines with few cores. snug's compute threads (src/cpu/pool.c) spin for at
# most SNUG_POOL_SPIN_NS before they sleep, and a job never waits for a thread that has no core, so the suite needs no
# wait-policy setting (it used OMP_WAIT_POLICY=PASSIVE while snug ran on OpenMP).
passed=0 failed=0 skipped=0 status=0
for bin in "$@"; do
    name=$(basename "$bin")
    log=$(mktemp)
    "$bin" --jobs 2 --verbose >"$log" 2>&1
    rc=$?
    # Criterion's synthesis line: "[====] Synthesis: Tested: 5 | Passing: 5 | Failing: 0 | Crashing: 0"
    line=$(grep -a "Synthesis:" "$log" | tail -n 1)
    tested=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$line")
    passing=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
    failing=$(sed -n 's/.*Failing: \([0-9]*\).*/\1/p' <<<"$line")
    crashing=$(sed -n 's/.*Crashing: \([0-9]*\).*/\1/p' <<<"$line")
    nskip=$(grep -ac "^\[SKIP\]" "$log")  # skipped tests are not in "Tested"
    if [ -z "$line" ]; then
        echo "FAIL $name: no test summary (exit $rc)"; cat "$log"; failed=$((failed + 1)); status=1
    else
        passed=$((passed + passing)); skipped=$((skipped + nskip)); failed=$((failed + failing + crashing))
        if [ "$rc" -ne 0 ] || [ "$failing" -ne 0 ] || [ "$crashing" -ne 0 ]; then
            echo "FAIL $name ($line)"; grep -a -v -E "^\[(RUN |PASS)\]|^\[----\] *$" "$log" | tail -n 60; status=1
        else
            echo "ok   $name: $tested tests, $nskip skipped"
            grep -a "^\[SKIP\]" "$log" | sed 's/^/     /' | head -n 5
        fi
    fi
    rm -f "$log"
done
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
