#!/usr/bin/env bash
# run.sh BUILD TARGET… — runs each libFuzzer target (BUILD/fuzz/fuzz_TARGET, made by `make fuzz-build`) for
# FUZZ_SECONDS (default 60), one after another, and prints one line per target: executions, coverage (cov: edges,
# ft: features), corpus size, and whether it found anything.
#
# The checked-in seeds (tests/fuzz/corpus/TARGET) are read, never written: what a run learns goes to
# BUILD/fuzz-corpus/TARGET, kept between runs. A crash, leak, timeout or sanitizer report leaves its input in
# BUILD/fuzz-artifacts/ and makes the script exit 1; copy the input to tests/fuzz/regress/TARGET/ (make check replays
# it, tests/test_fuzz_replay.c) and fix the bug.
# FUZZ_JOBS (default 1) runs that many fuzzing processes per target; FUZZ_NICE (default 19) their niceness.
set -u
cd "$(dirname "$0")/../.."
build=$1
shift
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
# Each input runs in well under a second; 30 s means a hang (the gpt-2 vocabulary loads once, before the clock).
per_input_timeout=30
# The bytes a GGUF input may grow to: the largest seed is ~35 KB.
max_len_gguf=65536
export SNUG_SHARED=${SNUG_SHARED:-../shared}
status=0
for target in "$@"; do
    bin=$build/fuzz/fuzz_$target
    work=$build/fuzz-corpus/$target
    artifacts=$build/fuzz-artifacts/$target/
    log=$build/fuzz-logs/$target.log
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    started=$build/fuzz-logs/$target.started
    touch "$started"
    max_len=()
    [ "$target" = gguf ] && max_len=(-max_len=$max_len_gguf)
    dict=()
    [ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
    nice -n "${FUZZ_NICE:-19}" "$bin" -max_total_time="$seconds" -timeout=$per_input_timeout -print_final_stats=1 \
        -artifact_prefix="$artifacts" "${dict[@]}" "${max_len[@]}" \
        $([ "$jobs" -gt 1 ] && echo "-fork=$jobs") "$work" "tests/fuzz/corpus/$target" >"$log" 2>&1
    rc=$?
    # libFuzzer's last progress line: "#123 DONE cov: 456 ft: 789 corp: 12/3456b …"; its final stats give the runs.
    last=$(grep -a -E '^#[0-9]+' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
    found=$(find "$artifacts" -type f -newer "$started" -printf '%f ' | head -c 400)
    if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
        echo "FAIL fuzz_$target: exit $rc, ${execs:-?} runs in ${seconds}s, cov ${cov:-?} ft ${ft:-?}; found: ${found:-(see log)}"
        grep -a -E "ERROR|SUMMARY|fuzz: |runtime error" "$log" | head -n 10 | sed 's/^/     /'
        echo "     log: $log"
        status=1
    else
        echo "ok   fuzz_$target: ${execs:-?} runs in ${seconds}s, cov ${cov:-?} ft ${ft:-?}, corpus ${corp:-?}"
    fi
done
exit $status
