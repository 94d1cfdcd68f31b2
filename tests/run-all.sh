#!/usr/bin/env bash
# Runs every Criterion test binary given as an argument, from the repository root, and prints one closing line
# "N passed, N failed, N skipped" over all of them. Exits non-zero if any test failed or crashed.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0 status=0
for bin in "$@"; do
    name=$(basename "$bin")
    log=$(mktemp)
    "$bin" --jobs 2 >"$log" 2>&1
    rc=$?
    # Criterion's synthesis line: "[====] Synthesis: Tested: 5 | Passing: 5 | Failing: 0 | Crashing: 0"
    line=$(grep -a "Synthesis:" "$log" | tail -n 1)
    tested=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$line")
    passing=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
    failing=$(sed -n 's/.*Failing: \([0-9]*\).*/\1/p' <<<"$line")
    crashing=$(sed -n 's/.*Crashing: \([0-9]*\).*/\1/p' <<<"$line")
    nskip=$(grep -ac "SKIPPED" "$log")
    if [ -z "$line" ]; then
        echo "FAIL $name: no test summary (exit $rc)"; cat "$log"; failed=$((failed + 1)); status=1
    else
        passed=$((passed + passing - nskip)); skipped=$((skipped + nskip)); failed=$((failed + failing + crashing))
        if [ "$rc" -ne 0 ] || [ "$failing" -ne 0 ] || [ "$crashing" -ne 0 ]; then
            echo "FAIL $name ($line)"; grep -a -v "^\[----\] *$" "$log" | tail -n 60; status=1
        else
            echo "ok   $name: $tested tests, $nskip skipped"
            grep -a "SKIPPED" "$log" | sed 's/^/     /' | head -n 5
        fi
    fi
    rm -f "$log"
done
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
