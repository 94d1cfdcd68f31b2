/* bench.c — `snug bench`: prefill and decode tokens/s, load time, peak RSS, and how close decode comes to the
 * memory-bandwidth roofline of this machine.
 *
 * The measurement (bench/llama_driver.c repeats it through llama.cpp's C API, so the two can be divided):
 *   load      model load + plan + context creation (weights are mmap'd: their pages arrive during the warm-up)
 *   warm-up   one token decoded and thrown away, so every weight page is mapped before the clock runs
 *   each rep  a cleared KV cache, a prefill of P tokens (one snug_context_decode call; a fixed pattern of valid ids),
 *             then N single-token decode steps with greedy sampling
 *   peak RSS  VmHWM of /proc/self/status after the reps, before the bandwidth measurement touches its buffer
 *   roofline  decode reads (almost) every weight once a token, so memory bandwidth caps it at
 *             bandwidth / bytes read per token. The bandwidth is measured here with the widest loads the CPU has,
 *             with decode's threads and with every hardware thread (the better reading counts): the best of a few
 *             passes summing a buffer far larger than the last-level cache.
 * With --parallel S (S > 1) it measures what a server with S users at once gets: each rep prefills S prompts (the
 * pattern shifted by BENCH_PROMPT_SEQ_SHIFT × s steps for sequence s) in one batch, then runs N steps of one batch
 * holding every sequence's next token; prefill and decode tokens/s are aggregates over the S sequences (S × P and
 * S × N tokens). The batch arrays are the benchmark's own (a caller's memory, as the API intends).
 * Medians over the reps with min and max as the spread. Text by default; --json prints one object (keys listed in
 * docs/performance.md; scripts read them).
 *
 * Uses only the public API (include/snug.h). Allocations here (the bandwidth buffer) are the benchmark's own, outside
 * any plan, made after the model's peak RSS is read.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cli/cli.h"

enum {
    BENCH_MAX_REPS = 1000,
    BENCH_PHYSICAL_BATCH = 512,     /* prompt tokens per forward step unless --batch: llama.cpp's default micro-batch */
    BENCH_PROMPT_FIRST_ID = 3,      /* past unk/bos/eos of a SentencePiece vocabulary */
    BENCH_PROMPT_STRIDE = 7919,     /* a prime: consecutive prompt tokens land far apart in the embedding table */
    BENCH_PROMPT_SEQ_SHIFT = 17,    /* --parallel: sequence s's prompt starts the pattern 17·s steps later */
    BENCH_BANDWIDTH_PASSES = 10,    /* best of: a pass can meet cold TLBs, frequency ramps or a busy neighbour VM */
    BENCH_MAX_PROBE_THREADS = 1024, /* the plan's own thread limit */
};
/* The bandwidth buffer: 1 GiB is 30x a 32 MiB L3, so caches cannot serve the reads; smaller when memory is short. */
static const uint64_t BENCH_BANDWIDTH_BYTES = 1ull << 30;
static const uint64_t BENCH_BANDWIDTH_MIN_BYTES = 64ull << 20;

typedef struct bench_options {
    const char *model_path;
    int64_t n_prompt, n_gen, reps;
    bool json;
    snug_context_params context;
} bench_options;

typedef struct bench_summary {
    double median, min, max;
} bench_summary;

static void bench_usage(FILE *out) {
    fprintf(
        out,
        "usage: snug bench MODEL [options]\n"
        "\n"
        "Measures prefill and decode speed on MODEL (a GGUF file): a prompt of P tokens (a fixed pattern of token\n"
        "ids) in one batch, then N greedy decode steps, repeated; load time; peak resident memory; and decode as a\n"
        "fraction of the memory-bandwidth roofline, from a bandwidth measurement it runs itself.\n"
        "\n"
        "options:\n"
        "  -p N                   prompt tokens (default 512)\n"
        "  -n N                   decode steps (default 128)\n"
        "  --reps R               repetitions; medians and min–max are reported (default 5)\n"
        "  --json                 print one JSON object instead of the table\n"
        "%s"
        "\n"
        "The context is P + N + 1 tokens unless --ctx says otherwise; --batch defaults to min(P, %d).\n"
        "With --parallel S, S sequences run together (as S users of a server): S prompts in one batch, then N steps\n"
        "of one batch with a token of each; tokens/s are their aggregate.\n",
        cli_plan_options_help(), BENCH_PHYSICAL_BATCH);
}

/* Parses argv into o; returns -1 to continue, or an exit code. */
static int parse_bench_options(int argc, char **argv, bench_options *o) {
    o->n_prompt = 512;
    o->n_gen = 128;
    o->reps = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            bench_usage(stdout);
            return SNUG_EXIT_OK;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (o->model_path)
                return cli_usage_error("bench", "unexpected argument '%s' (the model is '%s')", a, o->model_path);
            o->model_path = a;
            continue;
        }
        if (!v) return cli_usage_error("bench", "option %s needs a value", a);
        i++;
        if (strcmp(a, "-p") == 0) {
            if (!cli_parse_i64(v, 1, INT32_MAX / 2, &o->n_prompt))
                return cli_usage_error("bench", "-p must be a count of tokens >= 1, got '%s'", v);
        } else if (strcmp(a, "-n") == 0) {
            if (!cli_parse_i64(v, 1, INT32_MAX / 2, &o->n_gen))
                return cli_usage_error("bench", "-n must be a count of tokens >= 1, got '%s'", v);
        } else if (strcmp(a, "--reps") == 0) {
            if (!cli_parse_i64(v, 1, BENCH_MAX_REPS, &o->reps))
                return cli_usage_error("bench", "--reps must be in 1..%d, got '%s'", BENCH_MAX_REPS, v);
        } else {
            int code = cli_parse_plan_option("bench", a, v, &o->context);
            if (code < 0) return cli_usage_error("bench", "unknown option '%s'", a);
            if (code != SNUG_EXIT_OK) return code;
        }
    }
    if (!o->model_path) return cli_usage_error("bench", "no model file given");
    if (o->context.n_ctx == SNUG_CTX_DEFAULT) o->context.n_ctx = (int32_t)(o->n_prompt + o->n_gen + 1);
    if (o->context.n_batch == 0)
        o->context.n_batch = (int32_t)(o->n_prompt < BENCH_PHYSICAL_BATCH ? o->n_prompt : BENCH_PHYSICAL_BATCH);
    return -1;
}

/* ---- measuring helpers ----------------------------------------------------------------------------------------- */

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts values in place. */
static bench_summary summarize(double *values, int64_t n) {
    qsort(values, (size_t)n, sizeof *values, compare_double);
    double median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    return (bench_summary){median, values[0], values[n - 1]};
}

/* The widest loads this CPU has, so that the probe is limited by memory, not by how many loads a core can issue: a
 * 16-byte-load loop reads ~15 % less than a 64-byte one on some cores, and a slow probe flatters the roofline. Each
 * sum keeps four independent chains so that the loads overlap. Two 64-bit lanes are plain SSE2 on x86-64 and NEON on
 * arm64; the 32- and 64-byte ones are compiled for AVX2 / AVX-512 with a target attribute and chosen at run time. */
typedef uint64_t bench_u64x2 __attribute__((vector_size(16)));
#define BENCH_SUM_BODY(vec)                                                                                            \
    const vec *v = (const vec *)p;                                                                                     \
    const uint64_t n = bytes / sizeof(vec);                                                                            \
    vec s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};                                                                        \
    for (uint64_t i = 0; i + 4 <= n; i += 4) {                                                                         \
        s0 += v[i];                                                                                                    \
        s1 += v[i + 1];                                                                                                \
        s2 += v[i + 2];                                                                                                \
        s3 += v[i + 3];                                                                                                \
    }                                                                                                                  \
    vec sum = s0 + s1 + s2 + s3;                                                                                       \
    uint64_t total = 0;                                                                                                \
    for (size_t lane = 0; lane < sizeof(vec) / sizeof(uint64_t); lane++) total += sum[lane];                           \
    return total;

static uint64_t sum_16(const void *p, uint64_t bytes) { BENCH_SUM_BODY(bench_u64x2) }
#if defined(__x86_64__)
typedef uint64_t bench_u64x4 __attribute__((vector_size(32)));
typedef uint64_t bench_u64x8 __attribute__((vector_size(64)));
__attribute__((target("avx2"))) static uint64_t sum_32(const void *p, uint64_t bytes) { BENCH_SUM_BODY(bench_u64x4) }
__attribute__((target("avx512f"))) static uint64_t sum_64(const void *p, uint64_t bytes) { BENCH_SUM_BODY(bench_u64x8) }
#endif

typedef uint64_t (*bench_sum_fn)(const void *p, uint64_t bytes);

/* The sum with this CPU's widest loads, and its width in bytes. */
static bench_sum_fn widest_sum(int *width_bytes) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *width_bytes = 64;
        return sum_64;
    }
    if (__builtin_cpu_supports("avx2")) {
        *width_bytes = 32;
        return sum_32;
    }
#endif
    *width_bytes = 16;
    return sum_16;
}

/* One thread's slice of the bandwidth buffer: [start, end) in bytes, multiples of 4 KiB. */
typedef struct bandwidth_slice {
    uint8_t *buffer;
    uint64_t start, end;
    bool fill; /* write the slice (first touch) instead of summing it */
    bench_sum_fn sum;
    uint64_t total; /* the sum, so that the reads cannot be optimised away */
} bandwidth_slice;

static void *bandwidth_pass(void *arg) {
    bandwidth_slice *s = arg;
    if (s->fill) {
        uint64_t *words = (uint64_t *)(s->buffer + s->start);
        for (uint64_t i = 0; i < (s->end - s->start) / sizeof *words; i++) words[i] = i ^ s->start;
        return NULL;
    }
    s->total = s->sum(s->buffer + s->start, s->end - s->start);
    return NULL;
}

/* Runs one pass on every slice at once: slice 0 on this thread, the others on threads started for the pass (~50 µs
 * to start and join, against ~30 ms a pass). false when a thread cannot be started. */
static bool bandwidth_run(bandwidth_slice *slices, int threads, bool fill) {
    pthread_t ids[BENCH_MAX_PROBE_THREADS];
    int started = 1;
    for (int t = 0; t < threads; t++) slices[t].fill = fill;
    for (; started < threads; started++) {
        if (pthread_create(&ids[started], NULL, bandwidth_pass, &slices[started]) != 0) break;
    }
    bandwidth_pass(&slices[0]);
    for (int t = 1; t < started; t++) pthread_join(ids[t], NULL);
    return started == threads;
}

/* Memory read bandwidth in bytes/s with `threads` threads: the best of BENCH_BANDWIDTH_PASSES passes, each thread
 * summing its own contiguous slice (first touched by the thread of that slice in the first pass) with the widest
 * loads the CPU has. 0 when the buffer or the threads cannot be had. */
static double measure_bandwidth(int threads, uint64_t bytes, uint64_t *used_bytes) {
    *used_bytes = 0;
    if (threads < 1 || threads > BENCH_MAX_PROBE_THREADS) return 0.0;
    bytes &= ~(uint64_t)(4096 * threads - 1);
    void *buffer = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED) return 0.0;
    const uint64_t per_thread = bytes / (uint64_t)threads;
    int width_bytes;
    bench_sum_fn sum = widest_sum(&width_bytes);
    bandwidth_slice *slices = calloc((size_t)threads, sizeof *slices);
    if (!slices) {
        munmap(buffer, bytes);
        return 0.0;
    }
    for (int t = 0; t < threads; t++) {
        slices[t] = (bandwidth_slice){buffer, (uint64_t)t * per_thread, (uint64_t)(t + 1) * per_thread, true, sum, 0};
    }
    volatile uint64_t sink = 0;
    double best_s = 0.0;
    bool ok = bandwidth_run(slices, threads, true);
    for (int pass = 0; ok && pass < BENCH_BANDWIDTH_PASSES; pass++) {
        double t0 = cli_now_s();
        ok = bandwidth_run(slices, threads, false);
        double elapsed = cli_now_s() - t0;
        for (int t = 0; t < threads; t++) sink += slices[t].total;
        if (pass == 0 || elapsed < best_s) best_s = elapsed;
    }
    (void)sink;
    free(slices);
    munmap(buffer, bytes);
    if (!ok) return 0.0;
    *used_bytes = per_thread * (uint64_t)threads;
    return best_s > 0 ? (double)*used_bytes / best_s : 0.0;
}

/* Bytes of weights one decode step reads: every tensor once, except the token embedding table, of which it reads one
 * row (unless it doubles as the output matrix). The KV cache read is left out: at benchmark contexts it is < 1%. */
static uint64_t bytes_read_per_token(const snug_model *model, const snug_model_desc *desc) {
    const snug_tensor_info *embd = snug_gguf_find_tensor(snug_model_gguf(model), "token_embd.weight");
    if (!embd || desc->tied_output || embd->bytes > desc->weight_bytes || embd->ne[1] == 0) return desc->weight_bytes;
    return desc->weight_bytes - embd->bytes + embd->bytes / embd->ne[1];
}

/* The type holding most of the weight bytes ("Q4_0"), to label the table. */
static const char *main_weight_type(const snug_model *model) {
    const snug_gguf *gguf = snug_model_gguf(model);
    uint64_t bytes_by_type[SNUG_TYPE_ID_LIMIT] = {0};
    for (uint64_t i = 0; i < snug_gguf_tensor_count(gguf); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(gguf, i);
        if (t->type < SNUG_TYPE_ID_LIMIT) bytes_by_type[t->type] += t->bytes;
    }
    uint32_t best = 0;
    for (uint32_t t = 1; t < SNUG_TYPE_ID_LIMIT; t++) {
        if (bytes_by_type[t] > bytes_by_type[best]) best = t;
    }
    const char *name = snug_type_name(best);
    return name ? name : "unknown";
}

/* ---- the benchmark ------------------------------------------------------------------------------------------- */

typedef struct bench_result {
    double load_s;
    bench_summary prefill_tps, decode_tps;
    uint64_t peak_rss_bytes, rss_anon_bytes, rss_file_bytes;
    uint64_t weight_bytes, bytes_per_token, bandwidth_buffer_bytes;
    double bandwidth_bytes_per_s, roofline_tps, roofline_fraction;
    int32_t threads, n_ctx;
    int32_t parallel;          /* sequences decoded together (--parallel); the tokens/s are their aggregate */
    int32_t bandwidth_threads; /* the threads of the best bandwidth reading: decode's, or every hardware thread */
    const char *kv_type, *weight_type;
    bool weights_copied; /* the plan's choice: a copy in (huge) pages, or the mapped file */
    uint64_t weights_page_bytes;
    snug_model_desc desc;
    snug_hw_report hw;
} bench_result;

/* One rep: clear the KV cache, prefill the prompt, decode n_gen tokens greedily. */
static snug_status bench_rep(snug_context *ctx, const snug_token *prompt, const bench_options *o, double *prefill_s,
                             double *decode_s, snug_error *err) {
    snug_context_reset(ctx);
    double t0 = cli_now_s();
    snug_status st = snug_context_decode(ctx, prompt, (size_t)o->n_prompt, err);
    if (st != SNUG_OK) return st;
    double t1 = cli_now_s();
    for (int64_t i = 0; i < o->n_gen; i++) {
        snug_token token;
        st = snug_context_sample(ctx, &token, err);
        if (st == SNUG_OK) st = snug_context_decode(ctx, &token, 1, err);
        if (st != SNUG_OK) return st;
    }
    *prefill_s = t1 - t0;
    *decode_s = cli_now_s() - t1;
    return SNUG_OK;
}

/* The caller's side of a --parallel run: every sequence's prompt, and the batch arrays (S × P entries). */
typedef struct parallel_batches {
    int32_t n_seq;
    snug_token *prompts; /* (n_seq, n_prompt) */
    snug_token *tokens;
    int32_t *positions;
    snug_seq_id *seq_ids;
    bool *logits;
} parallel_batches;

static void free_parallel(parallel_batches *p) {
    free(p->prompts);
    free(p->tokens);
    free(p->positions);
    free(p->seq_ids);
    free(p->logits);
}

/* The fixed prompt of sequence s: BOS, then the stride pattern shifted by BENCH_PROMPT_SEQ_SHIFT × s steps. */
static void fill_prompt(snug_token *prompt, int64_t n, int32_t seq, const snug_model_desc *d) {
    prompt[0] = d->bos >= 0 ? d->bos : BENCH_PROMPT_FIRST_ID;
    for (int64_t i = 1; i < n; i++) {
        const int64_t step = i + (int64_t)BENCH_PROMPT_SEQ_SHIFT * seq;
        prompt[i] =
            BENCH_PROMPT_FIRST_ID + (snug_token)((step * BENCH_PROMPT_STRIDE) % (d->n_vocab - BENCH_PROMPT_FIRST_ID));
    }
}

/* One --parallel rep: every sequence freed, all prompts in one batch, then n_gen batches of one token a sequence,
 * each chosen greedily by its own sampler. */
static snug_status bench_rep_parallel(snug_context *ctx, const parallel_batches *p, const bench_options *o,
                                      double *prefill_s, double *decode_s, snug_error *err) {
    snug_context_reset(ctx);
    size_t n = 0;
    for (int32_t s = 0; s < p->n_seq; s++) {
        for (int64_t i = 0; i < o->n_prompt; i++, n++) {
            p->tokens[n] = p->prompts[s * o->n_prompt + i];
            p->positions[n] = (int32_t)i;
            p->seq_ids[n] = s;
            p->logits[n] = i + 1 == o->n_prompt;
        }
    }
    double t0 = cli_now_s();
    snug_batch batch = {n, p->tokens, p->positions, p->seq_ids, p->logits};
    snug_status st = snug_context_run_batch(ctx, &batch, err);
    if (st != SNUG_OK) return st;
    double t1 = cli_now_s();
    size_t last[256];
    for (int32_t s = 0; s < p->n_seq; s++) last[s] = (size_t)(s + 1) * (size_t)o->n_prompt - 1;
    for (int64_t step = 0; step < o->n_gen; step++) {
        for (int32_t s = 0; s < p->n_seq; s++) {
            st = snug_seq_sample(ctx, s, snug_context_batch_logits(ctx, last[s]), &p->tokens[s], err);
            if (st != SNUG_OK) return st;
            p->positions[s] = (int32_t)(o->n_prompt + step);
            p->seq_ids[s] = s;
            p->logits[s] = true;
            last[s] = (size_t)s;
        }
        batch.n_tokens = (size_t)p->n_seq;
        if ((st = snug_context_run_batch(ctx, &batch, err)) != SNUG_OK) return st;
    }
    *prefill_s = t1 - t0;
    *decode_s = cli_now_s() - t1;
    return SNUG_OK;
}

static void print_text(const bench_options *o, const bench_result *r) {
    const double mib = 1024.0 * 1024.0;
    printf("snug bench: %s\n", o->model_path);
    printf("  model      %s, %d layers, embedding %d, %d/%d heads, ff %d, vocab %d; %s, %.1f MiB of weights\n",
           r->desc.architecture, r->desc.n_layer, r->desc.n_embd, r->desc.n_head, r->desc.n_head_kv, r->desc.n_ff,
           r->desc.n_vocab, r->weight_type, (double)r->weight_bytes / mib);
    printf("  machine    %s, %d threads used; context %d, KV %s\n", r->hw.cpu_name, r->threads, r->n_ctx, r->kv_type);
    if (r->parallel > 1)
        printf("  parallel   %d sequences in every batch: tokens/s are their aggregate\n", r->parallel);
    if (r->weights_copied)
        printf("  weights    copied into pages of %llu KiB\n", (unsigned long long)(r->weights_page_bytes >> 10));
    else
        printf("  weights    mapped from the file\n");
    printf("  kernels    %s; stream: %s prefetch, %u bytes ahead (%s)\n", r->hw.kernel_isa, r->hw.stream_hint,
           r->hw.stream_distance_bytes, r->hw.stream_source);
    printf("\n  %-10s %12s %12s %12s\n", "", "median", "min", "max");
    printf("  %-10s %12.2f %12.2f %12.2f  tok/s  (%lld tokens, %lld reps)\n", "prefill", r->prefill_tps.median,
           r->prefill_tps.min, r->prefill_tps.max, (long long)o->n_prompt * r->parallel, (long long)o->reps);
    printf("  %-10s %12.2f %12.2f %12.2f  tok/s  (%lld tokens, %lld reps)\n", "decode", r->decode_tps.median,
           r->decode_tps.min, r->decode_tps.max, (long long)o->n_gen * r->parallel, (long long)o->reps);
    printf("\n  load       %.3f s\n", r->load_s);
    printf("  peak RSS   %.1f MiB (after the reps: %.1f MiB anonymous, %.1f MiB file pages)\n",
           (double)r->peak_rss_bytes / mib, (double)r->rss_anon_bytes / mib, (double)r->rss_file_bytes / mib);
    if (r->bandwidth_bytes_per_s > 0) {
        printf("  bandwidth  %.1f GB/s (read of %.0f MiB, %d threads, best of %d)\n", r->bandwidth_bytes_per_s / 1e9,
               (double)r->bandwidth_buffer_bytes / mib, r->bandwidth_threads, BENCH_BANDWIDTH_PASSES);
        printf("  roofline   %.1f tok/s decode (%.1f MiB read a token); reached %.1f%%\n", r->roofline_tps,
               (double)r->bytes_per_token / mib, 100.0 * r->roofline_fraction);
    } else {
        printf("  bandwidth  not measured (no memory for a %.0f MiB buffer)\n",
               (double)BENCH_BANDWIDTH_MIN_BYTES / mib);
    }
}

static int print_json(const bench_options *o, const bench_result *r) {
    json_t *root = json_object();
    json_object_set_new(root, "engine", json_string("snug"));
    json_object_set_new(root, "model", json_string(o->model_path));
    json_object_set_new(root, "weight_type", json_string(r->weight_type));
    json_object_set_new(root, "cpu", json_string(r->hw.cpu_name));
    json_object_set_new(root, "isa", json_string(r->hw.kernel_isa));
    json_object_set_new(root, "stream_hint", json_string(r->hw.stream_hint));
    json_object_set_new(root, "stream_distance_bytes", json_integer(r->hw.stream_distance_bytes));
    json_object_set_new(root, "stream_source", json_string(r->hw.stream_source));
    json_object_set_new(root, "threads", json_integer(r->threads));
    json_object_set_new(root, "parallel", json_integer(r->parallel));
    json_object_set_new(root, "n_prompt", json_integer(o->n_prompt));
    json_object_set_new(root, "n_gen", json_integer(o->n_gen));
    json_object_set_new(root, "reps", json_integer(o->reps));
    json_object_set_new(root, "n_ctx", json_integer(r->n_ctx));
    json_object_set_new(root, "kv_type", json_string(r->kv_type));
    json_object_set_new(root, "weights", json_string(r->weights_copied ? "copied" : "mapped"));
    json_object_set_new(root, "weights_page_bytes", json_integer((json_int_t)r->weights_page_bytes));
    json_object_set_new(root, "prefill_tokens_per_s", json_real(r->prefill_tps.median));
    json_object_set_new(root, "prefill_tokens_per_s_min", json_real(r->prefill_tps.min));
    json_object_set_new(root, "prefill_tokens_per_s_max", json_real(r->prefill_tps.max));
    json_object_set_new(root, "decode_tokens_per_s", json_real(r->decode_tps.median));
    json_object_set_new(root, "decode_tokens_per_s_min", json_real(r->decode_tps.min));
    json_object_set_new(root, "decode_tokens_per_s_max", json_real(r->decode_tps.max));
    json_object_set_new(root, "load_s", json_real(r->load_s));
    json_object_set_new(root, "peak_rss_bytes", json_integer((json_int_t)r->peak_rss_bytes));
    json_object_set_new(root, "rss_anon_bytes", json_integer((json_int_t)r->rss_anon_bytes));
    json_object_set_new(root, "rss_file_bytes", json_integer((json_int_t)r->rss_file_bytes));
    json_object_set_new(root, "weight_bytes", json_integer((json_int_t)r->weight_bytes));
    json_object_set_new(root, "bytes_per_token", json_integer((json_int_t)r->bytes_per_token));
    json_object_set_new(root, "bandwidth_bytes_per_s", json_real(r->bandwidth_bytes_per_s));
    json_object_set_new(root, "bandwidth_threads", json_integer(r->bandwidth_threads));
    json_object_set_new(root, "bandwidth_buffer_bytes", json_integer((json_int_t)r->bandwidth_buffer_bytes));
    json_object_set_new(root, "roofline_tokens_per_s", json_real(r->roofline_tps));
    json_object_set_new(root, "roofline_fraction", json_real(r->roofline_fraction));
    int failed = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6));
    printf("\n");
    json_decref(root);
    return failed ? SNUG_EXIT_FAILURE : SNUG_EXIT_OK;
}

int cli_bench(int argc, char **argv) {
    bench_options o = {0};
    int code = parse_bench_options(argc, argv, &o);
    if (code >= 0) return code;

    snug_error err = {0};
    bench_result r = {0};
    if (snug_hw_probe(&r.hw, &err) != SNUG_OK) return cli_report(&err);
    /* The plan's default is the physical cores; the bandwidth must be read with the threads decode runs on. */
    r.threads = o.context.n_threads ? o.context.n_threads : (r.hw.cores > 0 ? r.hw.cores : 1);
    o.context.n_threads = r.threads;

    snug_model *model = NULL;
    snug_context *ctx = NULL;
    parallel_batches parallel = {0};
    double *samples = malloc(2 * (size_t)o.reps * sizeof *samples);
    if (!samples) {
        fprintf(stderr, "snug: error: out of memory\n");
        return SNUG_EXIT_FAILURE;
    }
    double t_load = cli_now_s();
    if (snug_model_load(o.model_path, &model, &err) != SNUG_OK) goto fail;
    if (snug_context_create(model, &o.context, &ctx, &err) != SNUG_OK) goto fail;
    r.load_s = cli_now_s() - t_load;
    snug_model_describe(model, &r.desc);
    r.n_ctx = snug_context_n_ctx(ctx);
    r.kv_type = snug_plan_kv_type_name(snug_context_get_plan(ctx));
    r.weights_copied = snug_plan_weights_copied(snug_context_get_plan(ctx));
    r.weights_page_bytes = r.weights_copied ? snug_plan_weights_page_bytes(snug_context_get_plan(ctx)) : 0;
    r.weight_type = main_weight_type(model);
    r.weight_bytes = r.desc.weight_bytes;
    r.bytes_per_token = bytes_read_per_token(model, &r.desc);
    if (o.n_prompt + o.n_gen > r.n_ctx) {
        err.status = SNUG_E_ARGUMENT;
        snprintf(err.message, sizeof err.message, "-p %lld and -n %lld need a context of %lld tokens; it holds %d",
                 (long long)o.n_prompt, (long long)o.n_gen, (long long)(o.n_prompt + o.n_gen), r.n_ctx);
        snprintf(err.hint, sizeof err.hint, "leave out --ctx, or give --ctx %lld", (long long)(o.n_prompt + o.n_gen));
        goto fail;
    }

    snug_sampler_params greedy = snug_sampler_default_params();
    greedy.temperature = 0.0f;
    greedy.repeat_penalty = 1.0f;
    if (snug_context_sampler_init(ctx, &greedy, &err) != SNUG_OK) goto fail;
    size_t cap;
    snug_token *prompt = snug_context_token_buffer(ctx, &cap);
    prompt[0] = r.desc.bos >= 0 ? r.desc.bos : BENCH_PROMPT_FIRST_ID;
    for (int64_t i = 1; i < o.n_prompt; i++) {
        prompt[i] =
            BENCH_PROMPT_FIRST_ID + (snug_token)((i * BENCH_PROMPT_STRIDE) % (r.desc.n_vocab - BENCH_PROMPT_FIRST_ID));
    }

    r.parallel = snug_context_n_seq_max(ctx);
    if (r.parallel > 1) {
        const size_t n = (size_t)r.parallel * (size_t)o.n_prompt;
        parallel.n_seq = r.parallel;
        parallel.prompts = malloc(n * sizeof *parallel.prompts);
        parallel.tokens = malloc(n * sizeof *parallel.tokens);
        parallel.positions = malloc(n * sizeof *parallel.positions);
        parallel.seq_ids = malloc(n * sizeof *parallel.seq_ids);
        parallel.logits = malloc(n * sizeof *parallel.logits);
        if (!parallel.prompts || !parallel.tokens || !parallel.positions || !parallel.seq_ids || !parallel.logits) {
            err.status = SNUG_E_OUT_OF_MEMORY;
            snprintf(err.message, sizeof err.message, "out of memory for the batches of %d sequences", r.parallel);
            goto fail;
        }
        for (int32_t s = 0; s < r.parallel; s++) {
            fill_prompt(parallel.prompts + (size_t)s * (size_t)o.n_prompt, o.n_prompt, s, &r.desc);
            if (snug_seq_sampler_init(ctx, s, &greedy, &err) != SNUG_OK) goto fail;
        }
    }

    /* Warm-up: one token maps every weight page, so no rep pays for page faults. */
    if (snug_context_decode(ctx, prompt, 1, &err) != SNUG_OK) goto fail;
    double *prefill_tps = samples, *decode_tps = samples + o.reps;
    for (int64_t rep = 0; rep < o.reps; rep++) {
        double prefill_s, decode_s;
        if (r.parallel > 1) {
            if (bench_rep_parallel(ctx, &parallel, &o, &prefill_s, &decode_s, &err) != SNUG_OK) goto fail;
        } else if (bench_rep(ctx, prompt, &o, &prefill_s, &decode_s, &err) != SNUG_OK) {
            goto fail;
        }
        prefill_tps[rep] = (double)r.parallel * (double)o.n_prompt / prefill_s;
        decode_tps[rep] = (double)r.parallel * (double)o.n_gen / decode_s;
        if (!o.json) {
            fprintf(stderr, "snug: rep %lld/%lld: prefill %.2f tok/s, decode %.2f tok/s\n", (long long)rep + 1,
                    (long long)o.reps, prefill_tps[rep], decode_tps[rep]);
        }
    }
    r.prefill_tps = summarize(prefill_tps, o.reps);
    r.decode_tps = summarize(decode_tps, o.reps);
    r.peak_rss_bytes = cli_proc_status_bytes("VmHWM");
    r.rss_anon_bytes = cli_proc_status_bytes("RssAnon");
    r.rss_file_bytes = cli_proc_status_bytes("RssFile");

    /* After the peak RSS is read: the buffer is the benchmark's, not the model's. */
    uint64_t buffer_bytes = r.hw.memory_available_bytes / 4 < BENCH_BANDWIDTH_BYTES ? r.hw.memory_available_bytes / 4
                                                                                    : BENCH_BANDWIDTH_BYTES;
    if (buffer_bytes >= BENCH_BANDWIDTH_MIN_BYTES) {
        /* With decode's threads, and with every hardware thread when there are more: the roofline is what the
         * machine can stream, not what the threads chosen for decode happen to reach. */
        r.bandwidth_threads = r.threads;
        r.bandwidth_bytes_per_s = measure_bandwidth(r.threads, buffer_bytes, &r.bandwidth_buffer_bytes);
        if (r.hw.threads > r.threads) {
            uint64_t all_buffer_bytes = 0;
            double all = measure_bandwidth(r.hw.threads, buffer_bytes, &all_buffer_bytes);
            if (all > r.bandwidth_bytes_per_s) {
                r.bandwidth_bytes_per_s = all;
                r.bandwidth_buffer_bytes = all_buffer_bytes;
                r.bandwidth_threads = r.hw.threads;
            }
        }
    }
    if (r.bandwidth_bytes_per_s > 0 && r.bytes_per_token > 0) {
        r.roofline_tps = r.bandwidth_bytes_per_s / (double)r.bytes_per_token;
        /* A step of S sequences reads the weights once: its rate (tokens/s ÷ S) is what the roofline caps. */
        r.roofline_fraction = r.decode_tps.median / r.parallel / r.roofline_tps;
    }

    code = o.json ? print_json(&o, &r) : (print_text(&o, &r), SNUG_EXIT_OK);
    free_parallel(&parallel);
    free(samples);
    snug_context_free(ctx);
    snug_model_free(model);
    return code;
fail:
    code = cli_report(&err);
    free_parallel(&parallel);
    free(samples);
    snug_context_free(ctx);
    snug_model_free(model);
    return code;
}
