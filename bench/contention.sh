#!/usr/bin/env bash
# contention.sh — decode tokens/s with and without a competing CPU-bound process (issue 11, docs/performance.md
# "Threads under contention").
#
#   bench/contention.sh [MODEL.gguf]
#
# Cases, each a fresh `snug bench MODEL -p P -n N --reps 3 --json` (the decode median of its 3 repetitions):
#   quiet      the default thread count (the physical cores)
#   contended  the default thread count, and --threads 1, each while `sh -c 'while :; do :; done'` runs beside it
# Rounds alternate the cases (and the binaries, when SNUG_OLD names a second one), so that a busy moment of a shared
# machine hits all of them; the table gives per case the median over the rounds with min–max, and the median of the
# per-round ratio default / --threads 1 under contention (goal: ≥ 0.9). The load average before each round is printed.
#
# Settings (environment): SNUG (build/snug), SNUG_OLD (unset: none; e.g. the build of an older commit), ROUNDS (5),
# PROMPT (128), GEN (64). MODEL defaults to bench/out/tinyllama-1.1b-Q4_0.gguf, built like `make bench` builds it
# when missing (bench/make_model.c and the static library in build/). Python 3 (standard library) prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."

SNUG=${SNUG:-build/snug}
SNUG_OLD=${SNUG_OLD:-}
ROUNDS=${ROUNDS:-5}
PROMPT=${PROMPT:-128}
GEN=${GEN:-64}
MODEL=${1:-bench/out/tinyllama-1.1b-Q4_0.gguf}
CC=${CC:-cc}
OUT=bench/out

say() { printf 'contention: %s\n' "$*" >&2; }

[ -x "$SNUG" ] || { say "$SNUG is missing: run make first"; exit 1; }
if [ ! -f "$MODEL" ]; then
    [ "$MODEL" = "$OUT/tinyllama-1.1b-Q4_0.gguf" ] || { say "$MODEL does not exist"; exit 1; }
    mkdir -p "$OUT"
    say "building $MODEL (TinyLlama-1.1B shape, Q4_0, synthetic weights)"
    "$CC" -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -pthread -o "$OUT/make_model" bench/make_model.c build/libsnug.a \
        -lhwloc -ljansson -lpcre2-8 -lm
    "$OUT/make_model" "$MODEL.tmp" Q4_0 tinyllama-1.1b && mv "$MODEL.tmp" "$MODEL"
fi

hog=""
stop_hog() {
    if [ -n "$hog" ]; then
        kill "$hog" 2>/dev/null || true
        wait "$hog" 2>/dev/null || true
        hog=""
    fi
}
trap stop_hog EXIT INT TERM

results=$(mktemp)
trap 'stop_hog; rm -f "$results"' EXIT INT TERM

# One measurement: prints "binary case threads tok/s" into the results.
measure() {
    local label=$1 bin=$2 case=$3 threads=$4 args=() json rate
    [ "$threads" = default ] || args=(--threads "$threads")
    if [ "$case" = contended ]; then
        sh -c 'while :; do :; done' &
        hog=$!
    fi
    json=$("$bin" bench "$MODEL" -p "$PROMPT" -n "$GEN" --reps 3 --json "${args[@]}") || { stop_hog; return 1; }
    stop_hog
    rate=$(sed -n 's/.*"decode_tokens_per_s": *\([0-9.e+-]*\).*/\1/p' <<<"$json")
    echo "$label $case $threads $rate" >>"$results"
    say "$(printf '%-4s %-9s threads %-7s %8s tok/s' "$label" "$case" "$threads" "$rate")"
}

binaries=("new $SNUG")
[ -z "$SNUG_OLD" ] || binaries=("old $SNUG_OLD" "${binaries[@]}")
say "model $MODEL; $("$SNUG" hw | sed -n 's/^cpu *//p'), $(nproc) CPUs; $ROUNDS rounds"
for ((round = 1; round <= ROUNDS; round++)); do
    say "round $round: load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for entry in "${binaries[@]}"; do
        label=${entry%% *} bin=${entry#* }
        measure "$label" "$bin" quiet default
        measure "$label" "$bin" contended default
        measure "$label" "$bin" contended 1
    done
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    label, case, threads, rate = line.split()
    key = (label, case, threads)
    if key not in rows:
        rows[key] = []
        order.append(key)
    rows[key].append(float(rate))
print("| binary | case | threads | decode tok/s median (min–max) | rounds |")
print("|---|---|---|---|---|")
for key in order:
    v = rows[key]
    print(f"| {key[0]} | {key[1]} | {key[2]} | {statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f}) | {len(v)} |")
print()
for label in dict.fromkeys(k[0] for k in order):
    d, one = rows.get((label, "contended", "default")), rows.get((label, "contended", "1"))
    if d and one:
        ratios = [a / b for a, b in zip(d, one)]
        print(f"{label}: contended default / --threads 1, median of per-round ratios {statistics.median(ratios):.2f}"
              f" (min {min(ratios):.2f}, max {max(ratios):.2f}; goal ≥ 0.90)")
EOF
