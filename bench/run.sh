#!/usr/bin/env bash
# run.sh — `make bench`: snug against llama.cpp on the same synthetic model files, in one run, alternating.
#
#   1. builds the benchmark models under bench/out/ with snug's own writer (bench/make_model.c → snug_synth_write)
#      and, for the K-quant mixes, `snug quantize` from the F16 file;
#   2. installs llama.cpp's prebuilt CPU libraries from npm into bench/.cache/ (never into the repository, never a
#      dependency of `make` or `make check`), clones the matching sources from the package's git bundle for llama.h,
#      and builds bench/llama_driver.c against them;
#   3. for each file and each repetition runs `snug bench --reps 1 --json`, then the llama.cpp driver (alternating,
#      so a busy moment of a shared machine hits both); a repetition is a fresh process: load, warm-up, prefill, decode;
#   4. bench/report.py prints the table and writes it into docs/performance.md between its markers.
#
# The tokenizer rows run first: load time and encode throughput of each vocabulary in ../shared/models (gpt-2,
# llama-spm, phi-3) and of two synthetic ones (bench/make_vocab.c: Llama 3-sized with 280,000 merges, and one with
# 1,000 added tokens), on a few MB of varied
# text (bench/tokenizer_text.py), through snug's public API (bench/tokenizer_snug.c) and llama.cpp's C API
# (bench/tokenizer_llama.c), in the same run; report.py checks that both produced the same token ids and writes its
# own table (between the bench-tokenizer markers of docs/performance.md).
#
# The batched rows follow: for BENCH_PARALLEL_TYPES, BENCH_PARALLEL sequences decoded together (what a server with that
# many users gets): `snug bench --parallel S` and the driver's --parallel S (llama.cpp with n_seq_max S, one llama_batch
# a step carrying every sequence's token, its unified KV buffer), alternating as above; aggregate tokens/s.
#
# Settings (environment): BENCH_THREADS (2), BENCH_PROMPT (128), BENCH_GEN (64), BENCH_REPS (3),
# BENCH_PARALLEL (8; 0 or 1: no batched rows), BENCH_PARALLEL_TYPES ("Q4_0 Q4_K_M"),
# BENCH_TYPES ("F16 Q8_0 Q4_0 Q4_K_M"), BENCH_SHAPE (tinyllama-1.1b; "tiny" checks the pipeline in seconds),
# BENCH_LLAMA (1; 0 runs snug alone), BENCH_DOC (docs/performance.md; empty: print only), BENCH_FRESH (1: rewrite
# the model files), BENCH_QUIET_WAIT (10: seconds to wait, before each run, for other processes to leave the CPUs
# alone; 90 in all per make bench), BENCH_MEM_WAIT (60: seconds to wait, before each pair of runs, for the memory
# bandwidth to come back; 0 turns the gate off), BENCH_MEM_BUDGET (360: seconds of such waiting in all), BUILD
# (build), CC (cc), BENCH_PART (all; "tokenizer" runs only the tokenizer rows, in about a minute; "model" only the
# decode/prefill rows), BENCH_TOK_TEXT_BYTES (4000000: bytes of benchmark text), BENCH_TOK_REPS (1: processes per
# vocabulary and engine; each loads the vocabulary 5 times and encodes the text 3 times), SNUG_SHARED (../shared: where
# models/ggml-vocab-*.gguf are looked for), BENCH_ISA (empty; "avx2": the AVX2-only comparison, standing in for a
# laptop without AVX-512: snug runs with SNUG_ISA=avx2 and llama.cpp with only its haswell CPU library, and the table
# goes into a block of its own).
#
# On a shared machine other processes compete for the cores and the memory bus. Before each run the script waits a
# little for a quiet moment, and it records how much CPU everything else used during each run ("others' CPU" in the
# report): a high share there explains a slow repetition. Other machines on the same host compete for the memory bus,
# which no /proc counter shows: its bandwidth moves between regimes that last minutes (here ~45 and ~70 GB/s), and a
# decode that streams more bytes a second than the other engine's loses more in the slow one. Before each pair of
# runs (snug, then llama.cpp) bench/membw measures the bandwidth (0.1 s); while it reads below 85% of the best reading
# of this and earlier make bench runs (bench/out/membw.best), the script waits and measures again, within
# BENCH_MEM_WAIT / BENCH_MEM_BUDGET. Both engines of a pair run in the same window either way; the readings go into
# the report.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
CC=${CC:-cc}
THREADS=${BENCH_THREADS:-2}
PROMPT=${BENCH_PROMPT:-128}
GEN=${BENCH_GEN:-64}
REPS=${BENCH_REPS:-3}
TYPES=${BENCH_TYPES:-"F16 Q8_0 Q4_0 Q4_K_M"}
PARALLEL=${BENCH_PARALLEL:-8}
PARALLEL_TYPES=${BENCH_PARALLEL_TYPES:-"Q4_0 Q4_K_M"}
SHAPE=${BENCH_SHAPE:-tinyllama-1.1b}
USE_LLAMA=${BENCH_LLAMA:-1}
DOC=${BENCH_DOC-docs/performance.md}
FRESH=${BENCH_FRESH:-0}
QUIET_WAIT=${BENCH_QUIET_WAIT:-10}
QUIET_BUDGET=$((QUIET_WAIT * 9)) # seconds of waiting in all: a machine that is never quiet should not double the run
MEM_WAIT=${BENCH_MEM_WAIT:-60}
MEM_BUDGET=${BENCH_MEM_BUDGET:-360}
MEM_FRACTION_PERCENT=85
MEM_BEST=0 # the best bandwidth reading so far, in MB/s; starts from earlier runs' (bench/out/membw.best)
PART=${BENCH_PART:-all}
TOK_TEXT_BYTES=${BENCH_TOK_TEXT_BYTES:-4000000}
TOK_REPS=${BENCH_TOK_REPS:-1}
SHARED=${SNUG_SHARED:-../shared}
case "$PART" in all | model | tokenizer) ;; *) echo "bench: BENCH_PART is '$PART'; all, model or tokenizer" >&2; exit 2 ;; esac
ISA=${BENCH_ISA:-}
LLAMA_VARIANT=()
VARIANT=""
case "$ISA" in
"") ;;
avx2)
    export SNUG_ISA=avx2
    LLAMA_VARIANT=(--cpu-variant haswell)
    VARIANT="AVX2 only"
    [ "$PART" = all ] && PART=model # the tokenizer does not depend on the ISA
    ;;
*) echo "bench: BENCH_ISA is '$ISA'; empty or avx2" >&2; exit 2 ;;
esac

# The llama.cpp yardstick: node-llama-cpp ships llama.cpp's C API as prebuilt shared libraries, one package per
# platform, and the matching sources as a git bundle.
LLAMA_NPM_VERSION=3.22.1
CACHE=bench/.cache
OUT=bench/out
RESULTS=$OUT/results
SNUG=$BUILD/snug

say() { printf 'bench: %s\n' "$*" >&2; }
t_start=$(date +%s)

# ---- snug ---------------------------------------------------------------------------------------------------------

if [ -z "${MAKELEVEL:-}" ]; then
    make --no-print-directory -s BUILD="$BUILD" all
fi
[ -x "$SNUG" ] || { say "$SNUG is missing: run make first"; exit 1; }
mkdir -p "$OUT"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

# The writer links the static library and one internal header (src/convert/synth.h): it is tool code.
if [ ! -x "$OUT/make_model" ] || [ bench/make_model.c -nt "$OUT/make_model" ] || [ "$BUILD/libsnug.a" -nt "$OUT/make_model" ]; then
    "$CC" -O2 -std=c11 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Isrc -fopenmp -o "$OUT/make_model" bench/make_model.c \
        "$BUILD/libsnug.a" -lhwloc -ljansson -lm
fi

# The memory gate's probe (bench/membw.c): a yardstick, built here like the writer.
if [ ! -x "$OUT/membw" ] || [ bench/membw.c -nt "$OUT/membw" ]; then
    "$CC" -O2 -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp -o "$OUT/membw" bench/membw.c
fi

# A run that starts in the slow regime would otherwise take it for the norm: the best reading of earlier make bench
# runs on this checkout (bench/out/, git-ignored) is where the gate starts.
MEM_BEST_FILE=$OUT/membw.best
if [ -r "$MEM_BEST_FILE" ]; then
    read -r MEM_BEST <"$MEM_BEST_FILE" || MEM_BEST=0
    [[ "$MEM_BEST" =~ ^[0-9]+$ ]] || MEM_BEST=0
fi

# ---- llama.cpp ----------------------------------------------------------------------------------------------------

llama_platform() {
    case "$(uname -m)" in
    x86_64) echo linux-x64 ;;
    aarch64 | arm64) echo linux-arm64 ;;
    *) return 1 ;;
    esac
}

# Installs (when missing) and builds the driver; prints its path, or fails with a reason on stderr.
setup_llama() {
    local platform npm_dir bins bundle src driver
    platform=$(llama_platform) || { say "no prebuilt llama.cpp for $(uname -m)"; return 1; }
    npm_dir=$CACHE/npm
    bins=$npm_dir/node_modules/@node-llama-cpp/$platform/bins/$platform
    bundle=$npm_dir/node_modules/node-llama-cpp/llama/gitRelease.bundle
    src=$CACHE/llama.cpp
    driver=$OUT/llama_driver
    if [ ! -f "$bundle" ] || ! compgen -G "$bins/libllama*.so" >/dev/null; then
        if ! command -v npm >/dev/null; then
            say "npm is missing; installing it with apt-get (Debian's npm package)"
            local sudo=""
            [ "$(id -u)" -eq 0 ] || sudo=sudo
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q npm >/dev/null || { say "could not install npm"; return 1; }
        fi
        say "installing llama.cpp from npm (node-llama-cpp@$LLAMA_NPM_VERSION) into $npm_dir"
        mkdir -p "$npm_dir"
        [ -f "$npm_dir/package.json" ] || echo '{"private": true, "description": "llama.cpp yardstick for make bench; not a dependency"}' >"$npm_dir/package.json"
        # --ignore-scripts: the libraries come prebuilt; nothing should download or compile at install time.
        NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --prefix "$npm_dir" --no-save --no-package-lock --no-audit \
            --no-fund --ignore-scripts --omit=optional --loglevel=error \
            "node-llama-cpp@$LLAMA_NPM_VERSION" "@node-llama-cpp/$platform@$LLAMA_NPM_VERSION" >&2 || {
            say "npm install failed"
            return 1
        }
    fi
    if [ ! -f "$src/include/llama.h" ] || [ "$bundle" -nt "$src/include/llama.h" ]; then
        say "cloning the matching llama.cpp sources (for llama.h) from $bundle"
        rm -rf "$src"
        git clone -q "$bundle" "$src" 2>/dev/null || { say "git clone of $bundle failed"; return 1; }
    fi
    local libllama libggml
    libllama=$(basename "$(compgen -G "$bins/libllama*.so" | grep -v common | head -n 1)")
    libggml=$(basename "$(compgen -G "$bins/libggml.*so" | head -n 1)")
    if [ ! -x "$driver" ] || [ bench/llama_driver.c -nt "$driver" ] || [ "$src/include/llama.h" -nt "$driver" ]; then
        "$CC" -O2 -std=c11 -Wall -Wextra -I"$src/include" -I"$src/ggml/include" -o "$driver" bench/llama_driver.c \
            -L"$bins" -l:"$libllama" -l:"$libggml" -l:libggml-base.so -Wl,-rpath,"$(realpath "$bins")" -ldl >&2 || {
            say "building bench/llama_driver.c failed"
            return 1
        }
    fi
    if [ ! -x "$OUT/tokenizer_llama" ] || [ bench/tokenizer_llama.c -nt "$OUT/tokenizer_llama" ] ||
        [ bench/tokenizer_common.h -nt "$OUT/tokenizer_llama" ] || [ "$src/include/llama.h" -nt "$OUT/tokenizer_llama" ]; then
        "$CC" -O2 -std=c11 -Wall -Wextra -I"$src/include" -I"$src/ggml/include" -o "$OUT/tokenizer_llama" \
            bench/tokenizer_llama.c -L"$bins" -l:"$libllama" -l:"$libggml" -l:libggml-base.so \
            -Wl,-rpath,"$(realpath "$bins")" -ldl >&2 || say "building bench/tokenizer_llama.c failed"
    fi
    echo "$driver"
}

LLAMA=""
if [ "$USE_LLAMA" = 1 ]; then
    LLAMA=$(setup_llama) || { say "continuing without llama.cpp"; LLAMA=""; }
fi

# ---- model files --------------------------------------------------------------------------------------------------

# A file is rewritten when what wrote it changed (the stamp is a hash of the writer's sources) or BENCH_FRESH=1.
writer_stamp() {
    cat bench/make_model.c src/convert/*.c src/gguf/writer.c 2>/dev/null | sha256sum | cut -c1-16
}
stamp=$(writer_stamp)

make_file() { # TYPE → path on stdout, or fails with a reason on stderr
    local type=$1 file=$OUT/$SHAPE-$1.gguf
    if [ "$FRESH" != 1 ] && [ -f "$file" ] && [ "$(cat "$file.stamp" 2>/dev/null)" = "$stamp $type $SHAPE" ]; then
        echo "$file"
        return 0
    fi
    rm -f "$file" "$file.stamp"
    case "$type" in
    *_K_M | *_K_S)
        if ! "$SNUG" quantize --help >/dev/null 2>&1; then
            say "skipping $type: this snug has no 'quantize' subcommand to make it"
            return 1
        fi
        local source
        source=$(make_file F16) || return 1
        say "quantizing $source to $type with snug quantize"
        "$SNUG" quantize "$source" "$file.tmp" "$type" --threads "$THREADS" >"$file.log" 2>&1 || {
            say "snug quantize failed (see $file.log)"
            return 1
        }
        ;;
    *)
        say "writing $file"
        "$OUT/make_model" "$file.tmp" "$type" "$SHAPE" || return 1
        ;;
    esac
    mv "$file.tmp" "$file"
    echo "$stamp $type $SHAPE" >"$file.stamp"
    echo "$file"
}

# ---- the runs -----------------------------------------------------------------------------------------------------

HZ=$(getconf CLK_TCK)
NCPU=$(getconf _NPROCESSORS_ONLN)
# CPU time of the whole machine, in clock ticks, that was not idle: user nice system irq softirq steal.
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# Waits (at most QUIET_WAIT seconds, and QUIET_BUDGET over the whole run) until other processes use less than 10% of
# the machine for a second.
wait_quiet() {
    local waited=0 b0 b1
    while [ "$waited" -lt "$QUIET_WAIT" ] && [ "$QUIET_BUDGET" -gt 0 ]; do
        b0=$(busy_ticks)
        sleep 1
        b1=$(busy_ticks)
        [ $((b1 - b0)) -lt $((HZ * NCPU / 10)) ] && return 0
        waited=$((waited + 1))
        QUIET_BUDGET=$((QUIET_BUDGET - 1))
    done
}

# Waits (at most MEM_WAIT seconds, and MEM_BUDGET over the whole run) while the memory read bandwidth is below
# MEM_FRACTION_PERCENT of the best reading of this run; writes the last reading (GB/s) and the seconds waited to OUT.
wait_bandwidth() {
    local out=$1 waited=0 reading mbs
    while :; do
        reading=$("$OUT/membw" "$THREADS" 2>/dev/null || echo 0)
        mbs=$(awk -v r="$reading" 'BEGIN { printf "%d", r * 1000 }')
        if [ "$mbs" -gt "$MEM_BEST" ]; then
            MEM_BEST=$mbs
            echo "$MEM_BEST" >"$MEM_BEST_FILE"
        fi
        if [ "$MEM_WAIT" -le 0 ] || [ $((mbs * 100)) -ge $((MEM_BEST * MEM_FRACTION_PERCENT)) ] ||
            [ "$waited" -ge "$MEM_WAIT" ] || [ "$MEM_BUDGET" -le 0 ]; then
            break
        fi
        sleep 3
        waited=$((waited + 3))
        MEM_BUDGET=$((MEM_BUDGET - 3))
    done
    printf '{"bandwidth_gb_s": %s, "waited_s": %d}\n' "$reading" "$waited" >"$out"
}

# measure OUT CMD…: runs CMD with stdout in OUT and stderr in OUT.err; writes into OUT.others the share of the
# machine's CPU that other processes used meanwhile (0 … 1). Fails when CMD fails.
measure() {
    local out=$1 b0 b1 real user sys rc=0
    shift
    wait_quiet
    b0=$(busy_ticks)
    TIMEFORMAT='%R %U %S'
    { time "$@" >"$out" 2>"$out.err" || rc=$?; } 2>"$out.time"
    b1=$(busy_ticks)
    read -r real user sys <"$out.time"
    awk -v busy=$((b1 - b0)) -v hz="$HZ" -v n="$NCPU" -v r="$real" -v u="$user" -v s="$sys" \
        'BEGIN { o = (busy / hz - u - s) / (r * n); if (o < 0) o = 0; if (o > 1) o = 1; printf "%.3f\n", o }' >"$out.others"
    return "$rc"
}

python3 - "$SNUG" "$RESULTS/machine.json" <<'EOF'
import json, platform, subprocess, sys
hw = json.loads(subprocess.run([sys.argv[1], "hw", "--json"], capture_output=True, text=True, check=True).stdout)
info = {"cpu": hw["cpu"]["name"], "cores": hw["cpu"]["cores"], "threads": hw["cpu"]["threads"],
        "memory_total_bytes": hw["memory"]["total_bytes"], "kernel": platform.release(),
        "caches": hw.get("caches", [])}
try:
    lines = open("/proc/cpuinfo").read().splitlines()
    get = lambda k: next((l.split(":", 1)[1].strip() for l in lines if l.startswith(k)), "")
    info["cpu_family"], info["cpu_model"] = get("cpu family"), get("model\t")
    info["hypervisor"] = "hypervisor" in get("flags").split()
except OSError:
    pass
json.dump(info, open(sys.argv[2], "w"))
EOF

# ---- the tokenizer rows -------------------------------------------------------------------------------------------

# The synthetic vocabulary is rewritten when what writes it changed, like the model files.
vocab_stamp() {
    cat bench/make_vocab.c src/convert/synth_vocab.c src/gguf/writer.c 2>/dev/null | sha256sum | cut -c1-16
}

run_tokenizer_part() {
    local tok_results=$RESULTS/tokenizer text=$OUT/tokenizer-text.txt synthetic=$OUT/vocab-synthetic-280k.gguf
    local vocabs=() name file rep out
    mkdir -p "$tok_results"
    for tool in make_vocab tokenizer_snug; do
        if [ ! -x "$OUT/$tool" ] || [ "bench/$tool.c" -nt "$OUT/$tool" ] || [ bench/tokenizer_common.h -nt "$OUT/$tool" ] ||
            [ "$BUILD/libsnug.a" -nt "$OUT/$tool" ]; then
            "$CC" -O2 -std=c11 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Isrc -fopenmp -o "$OUT/$tool" "bench/$tool.c" \
                "$BUILD/libsnug.a" -lhwloc -ljansson -lpcre2-8 -lm || { say "building bench/$tool.c failed"; return 1; }
        fi
    done
    if [ ! -f "$text" ] || [ bench/tokenizer_text.py -nt "$text" ] || [ "$(stat -c %s "$text")" != "$TOK_TEXT_BYTES" ]; then
        python3 bench/tokenizer_text.py "$text" "$TOK_TEXT_BYTES" || { say "writing the benchmark text failed"; return 1; }
    fi
    # synthetic-280k: Llama 3-sized (280,000 merges, 300,256 tokens); synthetic-added: 100,000 merges and 1,000
    # added (USER_DEFINED) tokens (runs of spaces, tabs, indents, HTML tags, DeepSeek-style placeholders) under the
    # GPT-2 pre-tokenizer, as GPT-NeoX-style vocabularies have them.
    local vstamp added=$OUT/vocab-synthetic-added.gguf
    vstamp=$(vocab_stamp)
    for spec in "$synthetic=" "$added=100000 5000 1000 gpt-2"; do
        file=${spec%%=*}
        if [ "$FRESH" = 1 ] || [ ! -f "$file" ] || [ "$(cat "$file.stamp" 2>/dev/null)" != "$vstamp ${spec#*=}" ]; then
            say "writing $file"
            # shellcheck disable=SC2086 # the arguments are words
            "$OUT/make_vocab" "$file.tmp" ${spec#*=} && mv "$file.tmp" "$file" && echo "$vstamp ${spec#*=}" >"$file.stamp" ||
                say "writing $file failed"
        fi
    done
    for name in gpt-2 llama-spm phi-3; do
        file=$SHARED/models/ggml-vocab-$name.gguf
        if [ -f "$file" ]; then vocabs+=("$name=$file"); else say "skipping $name: $file is missing (set SNUG_SHARED)"; fi
    done
    [ -f "$synthetic" ] && vocabs+=("synthetic-280k=$synthetic")
    [ -f "$added" ] && vocabs+=("synthetic-added=$added")
    local llama_tok=""
    [ -n "$LLAMA" ] && [ -x "$OUT/tokenizer_llama" ] && llama_tok=$OUT/tokenizer_llama
    say "tokenizer: ${#vocabs[@]} vocabularies, $(awk -v b="$TOK_TEXT_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB of text${llama_tok:+, snug and llama.cpp alternating}"
    for entry in "${vocabs[@]}"; do
        name=${entry%%=*}
        file=${entry#*=}
        for rep in $(seq 1 "$TOK_REPS"); do
            out=$tok_results/$name.snug.$rep.json
            measure "$out" "$OUT/tokenizer_snug" "$file" "$text" --ids "$out.ids" ||
                { say "snug failed on $name: $(tail -n 2 "$out.err" | tr '\n' ' ')"; rm -f "$out"; }
            if [ -n "$llama_tok" ]; then
                out=$tok_results/$name.llama.$rep.json
                measure "$out" "$llama_tok" "$file" "$text" --ids "$out.ids" ||
                    { say "llama.cpp failed on $name: $(tail -n 2 "$out.err" | tr '\n' ' ')"; rm -f "$out"; }
            fi
        done
        say "tokenizer $name: $(python3 bench/report.py --tokenizer-progress "$tok_results" "$name")"
    done
    local commit
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    python3 bench/report.py --tokenizer "$tok_results" --text-bytes "$TOK_TEXT_BYTES" --commit "$commit" \
        --dirty "$(git status --porcelain --untracked-files=no -- src include 2>/dev/null | wc -l)" ${DOC:+--doc "$DOC"}
}

if [ "$PART" != model ]; then
    run_tokenizer_part || say "the tokenizer rows failed"
fi
[ "$PART" = tokenizer ] && exit 0

# ---- the decode and prefill rows ----------------------------------------------------------------------------------

files=()
for type in $TYPES; do
    if file=$(make_file "$type"); then
        files+=("$type=$file")
    fi
done
[ ${#files[@]} -gt 0 ] || { say "no model files to run"; exit 1; }

say "running ${#files[@]} files × $REPS reps: $THREADS threads, prompt $PROMPT, $GEN generated${LLAMA:+, snug and llama.cpp alternating}"
for entry in "${files[@]}"; do
    type=${entry%%=*}
    file=${entry#*=}
    for rep in $(seq 1 "$REPS"); do
        wait_bandwidth "$RESULTS/$type.gate.$rep.json"
        out=$RESULTS/$type.snug.$rep.json
        if ! measure "$out" "$SNUG" bench "$file" --threads "$THREADS" -p "$PROMPT" -n "$GEN" --reps 1 --json; then
            say "snug failed on $type rep $rep: $(tail -n 2 "$out.err" | tr '\n' ' ')"
            rm -f "$out"
        fi
        if [ -n "$LLAMA" ]; then
            out=$RESULTS/$type.llama.$rep.json
            if ! measure "$out" "$LLAMA" "$file" --threads "$THREADS" -p "$PROMPT" -n "$GEN" --reps 1 --json \
                "${LLAMA_VARIANT[@]}"; then
                say "llama.cpp failed on $type rep $rep: $(tail -n 2 "$out.err" | tr '\n' ' ')"
                rm -f "$out"
            fi
        fi
        say "$type rep $rep/$REPS: $(python3 bench/report.py --progress "$RESULTS" "$type" "$rep")"
    done
    stat -c '%s' "$file" >"$RESULTS/$type.file_bytes"
done

# ---- the batched rows: PARALLEL sequences decoded together ----------------------------------------------------------

parallel_types=""
if [ "$PARALLEL" -gt 1 ]; then
    for entry in "${files[@]}"; do
        type=${entry%%=*}
        file=${entry#*=}
        case " $PARALLEL_TYPES " in *" $type "*) ;; *) continue ;; esac
        parallel_types="$parallel_types $type"
        for rep in $(seq 1 "$REPS"); do
            wait_bandwidth "$RESULTS/$type.gate-p$PARALLEL.$rep.json"
            out=$RESULTS/$type.snug-p$PARALLEL.$rep.json
            if ! measure "$out" "$SNUG" bench "$file" --threads "$THREADS" -p "$PROMPT" -n "$GEN" --reps 1 --json \
                --parallel "$PARALLEL"; then
                say "snug --parallel $PARALLEL failed on $type rep $rep: $(tail -n 2 "$out.err" | tr '\n' ' ')"
                rm -f "$out"
            fi
            if [ -n "$LLAMA" ]; then
                out=$RESULTS/$type.llama-p$PARALLEL.$rep.json
                if ! measure "$out" "$LLAMA" "$file" --threads "$THREADS" -p "$PROMPT" -n "$GEN" --reps 1 --json \
                    --parallel "$PARALLEL" "${LLAMA_VARIANT[@]}"; then
                    say "llama.cpp --parallel $PARALLEL failed on $type rep $rep: $(tail -n 2 "$out.err" | tr '\n' ' ')"
                    rm -f "$out"
                fi
            fi
            say "$type × $PARALLEL sequences rep $rep/$REPS: $(python3 bench/report.py --progress "$RESULTS" "$type" "$rep" "p$PARALLEL")"
        done
    done
fi

wall=$(($(date +%s) - t_start))
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no -- src include 2>/dev/null | wc -l)
python3 bench/report.py --results "$RESULTS" --types "$TYPES" --shape "$SHAPE" --threads "$THREADS" --prompt "$PROMPT" \
    --gen "$GEN" --reps "$REPS" --commit "$commit" --dirty "$dirty" --wall "$wall" --variant "$VARIANT" \
    --parallel "$PARALLEL" --parallel-types "$parallel_types" \
    ${DOC:+--doc "$DOC"}
