#!/usr/bin/env bash
# stream.sh — decode tokens/s of each streaming policy (src/cpu/stream.h) on this CPU: the measurement behind a row of
# the decision table in src/cpu/stream.c ("Streaming policy" in docs/performance.md).
#
#   bench/stream.sh [POLICY…]        default policies: nta t0 none
#
# For each round, each model file of make bench (bench/out/, written by `make bench`; F16 Q8_0 Q4_0 Q4_K_M) and each
# policy, one `snug bench --json` process with SNUG_STREAM=POLICY (prompt 16, 64 generated, 2 threads), alternating
# so that the host's bandwidth moves hit every policy alike; then the median decode tokens/s per type and policy.
# Settings: ROUNDS (3), THREADS (2), SNUG_ISA (the kernels; default the best this CPU has), BUILD (build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
SNUG=${BUILD:-build}/snug
[ $# -gt 0 ] || set -- nta t0 none
[ -x "$SNUG" ] || { echo "stream.sh: $SNUG is missing: run make first" >&2; exit 1; }
files=()
for type in F16 Q8_0 Q4_0 Q4_K_M; do
    f=bench/out/tinyllama-1.1b-$type.gguf
    if [ -f "$f" ]; then files+=("$type=$f"); else echo "stream.sh: skipping $type: $f is missing (run make bench)" >&2; fi
done
[ ${#files[@]} -gt 0 ] || exit 1
"$SNUG" hw | grep -E '^(cpu|kernels) ' >&2
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$ROUNDS"); do
    for entry in "${files[@]}"; do
        for policy in "$@"; do
            tps=$(SNUG_STREAM=$policy "$SNUG" bench "${entry#*=}" --threads "$THREADS" -p 16 -n 64 --reps 1 --json |
                python3 -c 'import json, sys; print(json.load(sys.stdin)["decode_tokens_per_s"])')
            echo "${entry%%=*} $policy $tps" | tee -a "$results" >&2
        done
    done
    echo "stream.sh: round $round/$ROUNDS done" >&2
done
python3 - "$results" "$@" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    t, policy, tps = line.split()
    runs[(t, policy)].append(float(tps))
policies = sys.argv[2:]
print("| type | " + " | ".join(f"{p} decode tok/s (median, min–max)" for p in policies) + " |")
print("|---|" + "---|" * len(policies))
for t in ("F16", "Q8_0", "Q4_0", "Q4_K_M"):
    cells = []
    for p in policies:
        v = runs.get((t, p))
        cells.append(f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})" if v else "–")
    if any(c != "–" for c in cells):
        print(f"| {t} | " + " | ".join(cells) + " |")
PY
