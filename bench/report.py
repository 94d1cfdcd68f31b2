#!/usr/bin/env python3
"""report.py — the table of `make bench`: reads the JSON of every run in bench/out/results/, prints the table, and
writes it into docs/performance.md between the markers below (the prose around them is hand-written). Each machine has
its own block, keyed by its CPU (name, family, model) and, for the AVX2-only comparison, the variant: a run rewrites
its machine's block and never another's; a machine seen for the first time gets a new block after the others.

Per file and engine: medians over the repetitions (each a fresh process) of prefill and decode tokens/s, with min–max;
the largest peak RSS; the median load time. The roofline fraction of both engines divides decode tokens/s by one
roofline: the best memory bandwidth any snug run of this benchmark measured (noise on a shared machine only ever
lowers a bandwidth reading) over the bytes one decode step reads (snug bench's bytes_per_token).
Called by bench/run.sh; Python's standard library only.
"""
import argparse
import datetime
import glob
import json
import os
import statistics
import sys

# A block is <!-- KIND:begin machine="KEY" (…) --> … <!-- KIND:end machine="KEY" -->, KIND "bench" (decode and
# prefill) or "bench-tokenizer".
BLOCK_NOTE = "(written by make bench; edits inside are overwritten)"
TOK_VOCABS = ("gpt-2", "llama-spm", "phi-3", "synthetic-280k", "synthetic-added")
MIB = 1024.0 * 1024.0


def attach_others_share(run, path):
    """The CPU share other processes took during the run, when bench/run.sh recorded it beside the result."""
    try:
        with open(path + ".others") as f:
            run["others_cpu_share"] = float(f.read())
    except (OSError, ValueError):
        pass


def load_runs(results, type_name, engine):
    runs = []
    for path in sorted(glob.glob(os.path.join(results, f"{type_name}.{engine}.*.json"))):
        try:
            with open(path) as f:
                run = json.load(f)
        except (OSError, ValueError):
            continue
        run["rep"] = path.rsplit(".", 2)[-2]
        attach_others_share(run, path)
        runs.append(run)
    return runs


def runs_by_rep(results, type_name, engine):
    """{repetition: run} of one engine on one file."""
    return {run["rep"]: run for run in load_runs(results, type_name, engine) if "decode_tokens_per_s" in run}


def load_gates(results, type_name):
    """The memory gate's readings before each pair of runs of a file (bench/run.sh, wait_bandwidth)."""
    return load_runs(results, type_name, "gate")


def gate_range(gates):
    values = [g["bandwidth_gb_s"] for g in gates if g.get("bandwidth_gb_s")]
    return f"{min(values):.1f}–{max(values):.1f}" if values else "–"


def progress(results, type_name, rep, suffix=""):
    """One line on a finished repetition, for run.sh to print (suffix "p8": the batched runs of 8 sequences)."""
    parts = []
    tag = f"-{suffix}" if suffix else ""
    try:
        gate = json.load(open(os.path.join(results, f"{type_name}.gate.{rep}.json")))
        parts.append(f"memory {gate['bandwidth_gb_s']:.1f} GB/s (waited {gate['waited_s']} s)")
    except (OSError, ValueError, KeyError):
        pass
    for engine, name in (("snug", "snug"), ("llama", "llama.cpp")):
        path = os.path.join(results, f"{type_name}.{engine}{tag}.{rep}.json")
        if not os.path.exists(path + ".time"):
            continue
        try:
            run = json.load(open(path))
            text = f"{name} prefill {run['prefill_tokens_per_s']:.1f}, decode {run['decode_tokens_per_s']:.2f} tok/s"
        except (OSError, ValueError, KeyError):
            text = f"{name} failed"
        try:
            text += f" (others {float(open(path + '.others').read()) * 100:.0f}% CPU)"
        except (OSError, ValueError):
            pass
        parts.append(text)
    return "; ".join(parts)


def summarize(runs):
    if not runs:
        return None
    pick = lambda key: [r[key] for r in runs if key in r]
    s = {
        "n": len(runs),
        "prefill": statistics.median(pick("prefill_tokens_per_s")),
        "prefill_min": min(pick("prefill_tokens_per_s")),
        "prefill_max": max(pick("prefill_tokens_per_s")),
        "decode": statistics.median(pick("decode_tokens_per_s")),
        "decode_min": min(pick("decode_tokens_per_s")),
        "decode_max": max(pick("decode_tokens_per_s")),
        "peak_rss": max(pick("peak_rss_bytes")),
        "load_s": statistics.median(pick("load_s")),
        "others": statistics.mean(pick("others_cpu_share")) if pick("others_cpu_share") else None,
        "others_max": max(pick("others_cpu_share")) if pick("others_cpu_share") else None,
        "bandwidth_min": min(pick("bandwidth_bytes_per_s")) if pick("bandwidth_bytes_per_s") else None,
    }
    for key in ("bandwidth_bytes_per_s", "bandwidth_threads", "bytes_per_token", "cpu_backend", "llama_version",
                "ggml_commit", "isa", "stream_hint", "stream_distance_bytes", "stream_source", "weights",
                "weights_page_bytes"):
        values = pick(key)
        if values:
            s[key] = max(values) if key == "bandwidth_bytes_per_s" else values[0]
    return s


def bandwidth_range(s):
    """The memory bandwidth the engine's own repetitions measured (snug bench does; the llama.cpp driver does not)."""
    if s.get("bandwidth_min") is None or s.get("bandwidth_bytes_per_s") is None:
        return "–"
    return f"{s['bandwidth_min'] / 1e9:.1f}–{s['bandwidth_bytes_per_s'] / 1e9:.1f}"


def fmt(value, spec, missing="–"):
    return missing if value is None else format(value, spec)


def ratio(a, b):
    return a / b if a is not None and b else None


def build_rows(args):
    rows = []
    for type_name in args.types.split():
        snug = summarize(load_runs(args.results, type_name, "snug"))
        llama = summarize(load_runs(args.results, type_name, "llama"))
        size_path = os.path.join(args.results, f"{type_name}.file_bytes")
        file_bytes = int(open(size_path).read()) if os.path.exists(size_path) else None
        if snug is None and llama is None and file_bytes is None:
            continue
        rows.append({"type": type_name, "file_bytes": file_bytes, "snug": snug, "llama": llama,
                     "gates": load_gates(args.results, type_name),
                     "snug_runs": runs_by_rep(args.results, type_name, "snug"),
                     "llama_runs": runs_by_rep(args.results, type_name, "llama")})
    return rows


def render(args, rows, machine):
    bandwidths = [r["snug"]["bandwidth_bytes_per_s"] for r in rows if r["snug"] and r["snug"].get("bandwidth_bytes_per_s")]
    bandwidth = max(bandwidths) if bandwidths else None
    llama_info = next((r["llama"] for r in rows if r["llama"]), None)
    get = lambda s, key: s.get(key) if s else None

    def roofline(side, row):
        s = row[side]
        bpt = get(row["snug"], "bytes_per_token")
        if not s or not bandwidth or not bpt:
            return None
        return s["decode"] / (bandwidth / bpt)

    head = ("| model | file MiB | prefill snug | prefill llama.cpp | ratio | decode snug | decode llama.cpp | ratio "
            "| peak RSS snug MiB | peak RSS llama.cpp MiB | roofline snug | roofline llama.cpp |")
    lines = [head, "|" + "---|" * 12]
    for row in rows:
        s, l = row["snug"], row["llama"]
        rs, rl = roofline("snug", row), roofline("llama", row)
        lines.append("| " + " | ".join([
            f"{args.shape} {row['type']}",
            fmt(row["file_bytes"] / MIB if row["file_bytes"] else None, ".0f"),
            fmt(get(s, "prefill"), ".1f"), fmt(get(l, "prefill"), ".1f"),
            fmt(ratio(get(s, "prefill"), get(l, "prefill")), ".2f"),
            fmt(get(s, "decode"), ".2f"), fmt(get(l, "decode"), ".2f"),
            fmt(ratio(get(s, "decode"), get(l, "decode")), ".2f"),
            fmt(get(s, "peak_rss") / MIB if s else None, ".0f"), fmt(get(l, "peak_rss") / MIB if l else None, ".0f"),
            fmt(rs * 100 if rs is not None else None, ".0f") + ("%" if rs is not None else ""),
            fmt(rl * 100 if rl is not None else None, ".0f") + ("%" if rl is not None else ""),
        ]) + " |")

    spread = ["| model | engine | runs | prefill tok/s (min–max) | decode tok/s (min–max) | load s | others' CPU (mean, max) "
              "| memory gate GB/s (min–max) | bandwidth after decode GB/s (min–max) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for side, name in (("snug", "snug"), ("llama", "llama.cpp")):
            s = row[side]
            if not s:
                continue
            spread.append(f"| {args.shape} {row['type']} | {name} | {s['n']} | {s['prefill']:.1f} ({s['prefill_min']:.1f}–"
                          f"{s['prefill_max']:.1f}) | {s['decode']:.2f} ({s['decode_min']:.2f}–{s['decode_max']:.2f}) "
                          f"| {s['load_s']:.2f} | {fmt(s['others'] * 100 if s['others'] is not None else None, '.0f')}%, "
                          f"{fmt(s['others_max'] * 100 if s['others_max'] is not None else None, '.0f')}% "
                          f"| {gate_range(row['gates'])} | {bandwidth_range(s)} |")

    # Decode by bandwidth regime: a pair (snug run, then llama.cpp run) counts as "full" when the bandwidth snug
    # measured right after its decode is at least 85% of the run's best, else as "reduced".
    regime = ["| model | pairs at full bandwidth | decode snug | decode llama.cpp | ratio | pairs at reduced bandwidth "
              "| decode snug | decode llama.cpp | ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        pairs = {"full": [], "reduced": []}
        for rep, snug_run in row["snug_runs"].items():
            llama_run = row["llama_runs"].get(rep)
            bw = snug_run.get("bandwidth_bytes_per_s")
            if not llama_run or not bw or not bandwidth:
                continue
            key = "full" if bw >= 0.85 * bandwidth else "reduced"
            pairs[key].append((snug_run["decode_tokens_per_s"], llama_run["decode_tokens_per_s"]))
        cells = []
        for key in ("full", "reduced"):
            if pairs[key]:
                sd = statistics.median(p[0] for p in pairs[key])
                ld = statistics.median(p[1] for p in pairs[key])
                cells += [str(len(pairs[key])), f"{sd:.2f}", f"{ld:.2f}", f"{sd / ld:.2f}"]
            else:
                cells += ["0", "–", "–", "–"]
        regime.append(f"| {args.shape} {row['type']} | " + " | ".join(cells) + " |")

    # Decode against the bandwidth of its own minutes: the bus of a shared host moves between regimes that last
    # minutes, so the run's best reading is a roofline for the fast regime only. Per pair, each engine's decode bytes
    # a second over the bandwidth snug bench read right after that pair's snug decode (the llama.cpp run follows within
    # seconds); medians over the pairs.
    own = ["| model | pairs | snug: decode GB/s / bandwidth GB/s | roofline snug | "
           "llama.cpp: decode GB/s | roofline llama.cpp |", "|---|---|---|---|---|---|"]
    for row in rows:
        bpt = get(row["snug"], "bytes_per_token")
        fr_s, fr_l, gb_s, gb_l, gb_bw = [], [], [], [], []
        for rep, snug_run in row["snug_runs"].items():
            bw = snug_run.get("bandwidth_bytes_per_s")
            if not bw or not bpt:
                continue
            fr_s.append(snug_run["decode_tokens_per_s"] * bpt / bw)
            gb_s.append(snug_run["decode_tokens_per_s"] * bpt / 1e9)
            gb_bw.append(bw / 1e9)
            llama_run = row["llama_runs"].get(rep)
            if llama_run:
                fr_l.append(llama_run["decode_tokens_per_s"] * bpt / bw)
                gb_l.append(llama_run["decode_tokens_per_s"] * bpt / 1e9)
        if not fr_s:
            continue
        med = statistics.median
        own.append(f"| {args.shape} {row['type']} | {len(fr_s)} | {med(gb_s):.1f} / {med(gb_bw):.1f} | "
                   f"{med(fr_s) * 100:.0f}% | {fmt(med(gb_l) if gb_l else None, '.1f')} | "
                   f"{fmt(med(fr_l) * 100 if fr_l else None, '.0f')}{'%' if fr_l else ''} |")

    # Batched decode: S sequences in one batch a step (bench --parallel S), aggregate tokens/s, against llama.cpp at
    # S sequences and against snug's own single-sequence decode of the same file in this run.
    batched = []
    for type_name in args.parallel_types.split() if args.parallel > 1 else []:
        tag = f"p{args.parallel}"
        sb = summarize(load_runs(args.results, type_name, f"snug-{tag}"))
        lb = summarize(load_runs(args.results, type_name, f"llama-{tag}"))
        single = next((r["snug"] for r in rows if r["type"] == type_name), None)
        if not sb and not lb:
            continue
        batched.append("| " + " | ".join([
            f"{args.shape} {type_name}", str(args.parallel),
            fmt(get(sb, "prefill"), ".1f"), fmt(get(lb, "prefill"), ".1f"), fmt(ratio(get(sb, "prefill"), get(lb, "prefill")), ".2f"),
            fmt(get(sb, "decode"), ".1f") + (f" ({sb['decode_min']:.1f}–{sb['decode_max']:.1f})" if sb else ""),
            fmt(get(lb, "decode"), ".1f") + (f" ({lb['decode_min']:.1f}–{lb['decode_max']:.1f})" if lb else ""),
            fmt(ratio(get(sb, "decode"), get(lb, "decode")), ".2f"),
            fmt(get(single, "decode"), ".2f"), fmt(ratio(get(sb, "decode"), get(single, "decode")), ".2f"),
            fmt(get(sb, "peak_rss") / MIB if sb else None, ".0f"), fmt(get(lb, "peak_rss") / MIB if lb else None, ".0f"),
        ]) + " |")
    batched_text = []
    if batched:
        batched_text = [
            "",
            f"Batched decode, {args.parallel} sequences at once (what a server with {args.parallel} users gets): each "
            f"repetition prefills {args.parallel} prompts of {args.prompt} tokens in one batch, then runs {args.gen} "
            "steps of one batch holding every sequence's next token (snug bench --parallel; llama.cpp with n_seq_max "
            f"{args.parallel}, one llama_batch a step, its unified KV buffer). Tokens/s are aggregates over the "
            "sequences; \"× single\" divides by snug's own single-sequence decode of the same file above:",
            "",
            "| model | sequences | prefill snug | prefill llama.cpp | ratio | decode snug (min–max) | decode llama.cpp "
            "(min–max) | ratio | snug single-sequence decode | snug × single | peak RSS snug MiB | peak RSS llama.cpp MiB |",
            "|" + "---|" * 12,
            *batched,
        ]

    today = datetime.date.today().isoformat()
    cpu = machine.get("cpu", "unknown CPU")
    family = f", family {machine['cpu_family']} model {machine['cpu_model']}" if machine.get("cpu_family") else ""
    vm = ", virtual machine (KVM)" if machine.get("hypervisor") else ""
    mem = f"{machine['memory_total_bytes'] / (1 << 30):.1f} GiB RAM" if machine.get("memory_total_bytes") else ""
    l3 = next((c for c in machine.get("caches", []) if c.get("level") == "L3"), None)
    l3_text = f", L3 {l3['bytes'] / MIB:.0f} MiB" if l3 and l3.get("bytes") else ""
    dirty = int(args.dirty or 0)
    state = f"commit {args.commit}" + (f" with uncommitted changes to {dirty} file{'s' if dirty > 1 else ''} under src/ "
                                       "and include/" if dirty else "")
    snug_info = next((r["snug"] for r in rows if r["snug"]), None) or {}
    bw_threads = max((r["snug"].get("bandwidth_threads") or 0 for r in rows if r["snug"]), default=0) or args.threads
    kernels_text = "unknown (a snug without isa / stream keys in bench --json)"
    if snug_info.get("isa"):
        kernels_text = (f"{snug_info['isa']}"
                        + (" (SNUG_ISA=" + os.environ["SNUG_ISA"] + ")" if os.environ.get("SNUG_ISA") else "")
                        + f"; weights streamed with {snug_info.get('stream_hint', '?')} prefetches "
                        f"{snug_info.get('stream_distance_bytes', '?')} bytes ahead ({snug_info.get('stream_source', '?')})"
                        + ("; weights copied into " + f"{int(snug_info.get('weights_page_bytes') or 0) >> 10} KiB pages"
                           if snug_info.get("weights") == "copied" else
                           "; weights mapped from the file" if snug_info.get("weights") == "mapped" else ""))
    llama_text = "not run"
    if llama_info:
        llama_text = (f"llama.cpp {llama_info.get('llama_version', '?')} (ggml commit {llama_info.get('ggml_commit', '?')}), "
                      f"prebuilt from npm node-llama-cpp 3.22.1, CPU backend {llama_info.get('cpu_backend', '?')}, "
                      "called through its C API (bench/llama_driver.c)")
    out = [
        f"Measured {today} at snug {state}.",
        "",
        f"- Machine: {cpu}{family}; {machine.get('cores', '?')} cores, {machine.get('threads', '?')} threads{vm}; "
        f"{mem}{l3_text}; Linux {machine.get('kernel', '?')}.",
        f"- Memory read bandwidth (best snug bench measurement in this run, widest loads, {bw_threads} threads): "
        + (f"{bandwidth / 1e9:.1f} GB/s." if bandwidth else "not measured."),
        f"- snug kernels: {kernels_text}.",
        "- Memory gate: before each pair of runs bench/membw reads the bandwidth; below 85% of the best reading of this "
        "and earlier runs (bench/out/membw.best) make bench waits and reads again (at most 60 s a pair, 360 s in all; "
        "BENCH_MEM_WAIT=0 turns it off). "
        f"Waited {sum(g.get('waited_s', 0) for r in rows for g in r['gates'])} s in all.",
        f"- llama.cpp: {llama_text}.",
        f"- Settings: {args.threads} threads, prompt {args.prompt} tokens, {args.gen} generated, {args.reps} repetitions "
        "per file (each a fresh process; snug and llama.cpp alternating), medians. Ratios are snug / llama.cpp.",
        f"- Wall time of `make bench`: {int(args.wall) // 60} min {int(args.wall) % 60} s.",
        "",
        *lines,
        "",
        "Spread over the repetitions, and the share of the machine's CPU that other processes used while each ran "
        "(measured from /proc/stat; anything above a few percent slows the run it overlaps). Memory: the gate's "
        "readings before each snug / llama.cpp pair, and the bandwidth each snug repetition measured right after its "
        "decode (this host's bandwidth moves between about 45 and 74 GB/s over minutes, with other machines' traffic; "
        "a decode that streams more bytes a second than llama.cpp's loses more in the slow regime):",
        "",
        *spread,
        "",
        "Decode by bandwidth regime: pairs whose snug run measured at least 85% of the run's best bandwidth right after "
        "its decode, and the others (medians within each group):",
        "",
        *regime,
        "",
        "Decode against the bandwidth of its own minutes: per pair, the bytes a second each engine's decode read (snug "
        "bench's bytes per token × tokens/s) over the bandwidth snug bench measured right after that pair's snug decode "
        "(the llama.cpp run follows within seconds); medians over the pairs. The roofline columns of the first table "
        "divide by the run's best reading instead, which only the fast regime reaches:",
        "",
        *own,
        *batched_text,
    ]
    return "\n".join(out) + "\n"


def machine_key(machine, variant=""):
    """The key of a machine's blocks: "AMD EPYC, family 25 model 17", plus the variant ("AVX2 only") if any."""
    key = machine.get("cpu", "unknown CPU")
    if machine.get("cpu_family"):
        key += f", family {machine['cpu_family']} model {machine.get('cpu_model', '?')}"
    return key + (f", {variant}" if variant else "")


def write_machine_block(path, kind, key, block, section_heading):
    """Writes KIND's block for machine KEY into PATH: in place of that machine's block, else after the last block of
    KIND under a heading of its own, else (the first of KIND) at the end under SECTION_HEADING."""
    begin = f'<!-- {kind}:begin machine="{key}" {BLOCK_NOTE} -->'
    end = f'<!-- {kind}:end machine="{key}" -->'
    text = open(path).read() if os.path.exists(path) else "# Performance\n"
    new_block = f"{begin}\n{block}{end}"
    if begin in text and end in text:
        start = text.index(begin)
        stop = text.index(end) + len(end)
        text = text[:start] + new_block + text[stop:]
    else:
        last_end = text.rfind(f"<!-- {kind}:end machine=")
        if last_end >= 0:
            stop = text.index("-->", last_end) + 3
            text = text[:stop] + f"\n\n### {key}\n\n" + new_block + text[stop:]
        else:
            text = text.rstrip("\n") + f"\n\n{section_heading}\n\n### {key}\n\n" + new_block + "\n"
    with open(path, "w") as f:
        f.write(text)


# ---- the tokenizer rows (bench/tokenizer_snug.c, bench/tokenizer_llama.c) ------------------------------------------

def tokenizer_runs(results, name, engine):
    runs = []
    for path in sorted(glob.glob(os.path.join(results, f"{name}.{engine}.*.json"))):
        try:
            with open(path) as f:
                run = json.loads(f.read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            continue
        run["ids_path"] = path + ".ids"
        attach_others_share(run, path)
        runs.append(run)
    return runs


def tokenizer_side(runs):
    """Medians over the processes of one engine on one vocabulary (each process already reports medians)."""
    if not runs:
        return None
    return {
        "n_vocab": runs[0]["n_vocab"],
        "version": runs[0].get("version", ""),
        "load_ms": statistics.median(r["load_ms"] for r in runs),
        "load_ms_min": min(r["load_ms_min"] for r in runs),
        "encode_mb_s": statistics.median(r["encode_mb_s"] for r in runs),
        "encode_mb_s_best": max(r["encode_mb_s_best"] for r in runs),
        "tokens": runs[0]["tokens"],
        "ids_path": runs[0]["ids_path"],
        "others": max((r["others_cpu_share"] for r in runs if "others_cpu_share" in r), default=None),
    }


def same_ids(snug, llama):
    """'yes (N tokens)', or where the two id sequences first differ."""
    try:
        a = open(snug["ids_path"], "rb").read()
        b = open(llama["ids_path"], "rb").read()
    except OSError:
        return "–"
    if a == b:
        return f"yes ({len(a) // 4:,} tokens)"
    n = min(len(a), len(b)) // 4
    first = next((i for i in range(n) if a[4 * i:4 * i + 4] != b[4 * i:4 * i + 4]), n)
    return f"**no**: {len(a) // 4:,} vs {len(b) // 4:,} tokens, first difference at token {first:,}"


def tokenizer_rows(results):
    rows = []
    names = list(TOK_VOCABS) + sorted({os.path.basename(p).split(".")[0] for p in glob.glob(os.path.join(results, "*.json"))}
                                      - set(TOK_VOCABS))
    for name in names:
        snug = tokenizer_side(tokenizer_runs(results, name, "snug"))
        llama = tokenizer_side(tokenizer_runs(results, name, "llama"))
        if snug or llama:
            rows.append({"name": name, "snug": snug, "llama": llama})
    return rows


def tokenizer_progress(results, name):
    rows = [r for r in tokenizer_rows(results) if r["name"] == name]
    if not rows:
        return "no results"
    s, l = rows[0]["snug"], rows[0]["llama"]
    parts = []
    for side, label in ((s, "snug"), (l, "llama.cpp")):
        if side:
            parts.append(f"{label} load {side['load_ms']:.1f} ms, encode {side['encode_mb_s']:.2f} MB/s")
    if s and l:
        parts.append("same ids" if same_ids(s, l).startswith("yes") else "ids DIFFER")
    return "; ".join(parts)


def render_tokenizer(args, rows, machine):
    get = lambda side, key: side.get(key) if side else None
    llama = next((r["llama"] for r in rows if r["llama"]), None)
    cpu = machine.get("cpu", "unknown CPU")
    out = [
        f"Measured {datetime.date.today().isoformat()} at snug commit {args.commit}"
        + (f" (with {args.dirty} uncommitted changes under src/ and include/)" if args.dirty not in ("", "0") else "")
        + f", on {cpu}, one thread.",
        "",
        f"- Text: {args.text_bytes / 1e6:.1f} MB from bench/tokenizer_text.py (English prose, C and Python code, numbers "
        "and dates, runs of spaces, tabs and blank lines, accented Latin, Greek, Cyrillic, CJK, Arabic, Hebrew, "
        "Devanagari, emoji), encoded in one call without BOS and without special-token parsing, after a warm-up; "
        "the median of 3 encodes, in MB/s (10^6 bytes).",
        "- Load: a fresh load of the vocabulary (snug_vocab_load; llama.cpp: llama_model_load_from_file with "
        "vocab_only), 5 times in one process, median in ms (the file is in the page cache).",
        "- llama.cpp: " + (f"llama.cpp {llama['version']}, prebuilt from npm node-llama-cpp, called through its C API "
                           "(bench/tokenizer_llama.c)." if llama else "not run."),
        "- Ratios: load is llama.cpp's time over snug's; encode is snug's MB/s over llama.cpp's (above 1: snug is "
        "faster). \"same ids\": both engines produced exactly the same token ids for the whole text. \"Others' "
        "CPU\": the share of the machine other processes used while each engine ran (snug / llama.cpp; /proc/stat): "
        "a busy machine slows both, so read the ratios first.",
        "",
        "| vocabulary | tokens | load ms snug | load ms llama.cpp | ratio | encode MB/s snug | encode MB/s llama.cpp "
        "| ratio | same ids | others' CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    share = lambda side: fmt(side["others"] * 100 if side and side.get("others") is not None else None, ".0f")
    for row in rows:
        s, l = row["snug"], row["llama"]
        n_vocab = get(s, "n_vocab") or get(l, "n_vocab")
        out.append("| " + " | ".join([
            row["name"], fmt(n_vocab, ","),
            fmt(get(s, "load_ms"), ".1f"), fmt(get(l, "load_ms"), ".1f"),
            fmt(ratio(get(l, "load_ms"), get(s, "load_ms")), ".1f"),
            fmt(get(s, "encode_mb_s"), ".2f"), fmt(get(l, "encode_mb_s"), ".2f"),
            fmt(ratio(get(s, "encode_mb_s"), get(l, "encode_mb_s")), ".2f"),
            same_ids(s, l) if s and l else "–",
            f"{share(s)}% / {share(l)}%",
        ]) + " |")
    return "\n".join(out) + "\n"


def tokenizer_main(argv):
    p = argparse.ArgumentParser(description="the tokenizer table of make bench")
    p.add_argument("--tokenizer", required=True, metavar="RESULTS")
    p.add_argument("--text-bytes", type=int, default=0)
    p.add_argument("--commit", default="unknown")
    p.add_argument("--dirty", default="0")
    p.add_argument("--doc")
    args = p.parse_args(argv)
    try:
        machine = json.load(open(os.path.join(args.tokenizer, "..", "machine.json")))
    except (OSError, ValueError):
        machine = {}
    rows = tokenizer_rows(args.tokenizer)
    if not rows:
        print("bench: no tokenizer results", file=sys.stderr)
        return 1
    block = render_tokenizer(args, rows, machine)
    print()
    print(block)
    if args.doc:
        write_machine_block(args.doc, "bench-tokenizer", machine_key(machine), block,
                            "## Tokenizer: load time and encode throughput")
        print(f"bench: tokenizer table written to {args.doc}", file=sys.stderr)
    return 0


def main():
    if len(sys.argv) in (5, 6) and sys.argv[1] == "--progress":
        print(progress(*sys.argv[2:]))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--tokenizer-progress":
        print(tokenizer_progress(sys.argv[2], sys.argv[3]))
        return 0
    if "--tokenizer" in sys.argv[1:]:
        return tokenizer_main(sys.argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", required=True)
    p.add_argument("--types", required=True)
    p.add_argument("--shape", default="tinyllama-1.1b")
    p.add_argument("--threads", default="2")
    p.add_argument("--prompt", default="128")
    p.add_argument("--gen", default="64")
    p.add_argument("--reps", default="3")
    p.add_argument("--commit", default="unknown")
    p.add_argument("--dirty", default="0")
    p.add_argument("--wall", type=float, default=0)
    p.add_argument("--variant", default="", help='"AVX2 only" for BENCH_ISA=avx2 (snug SNUG_ISA=avx2, llama.cpp haswell)')
    p.add_argument("--parallel", type=int, default=0)
    p.add_argument("--parallel-types", default="")
    p.add_argument("--doc")
    args = p.parse_args()
    try:
        machine = json.load(open(os.path.join(args.results, "machine.json")))
    except (OSError, ValueError):
        machine = {}
    rows = build_rows(args)
    if not rows:
        print("bench: no results", file=sys.stderr)
        return 1
    block = render(args, rows, machine)
    print()
    print(block)
    if args.doc:
        write_machine_block(args.doc, "bench", machine_key(machine, args.variant), block, "## Latest results")
        print(f"bench: table written to {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
