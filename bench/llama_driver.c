/* llama_driver.c — the llama.cpp side of `make bench`: the same measurement as `snug bench`, through llama.cpp's C API.
 *
 * llama.cpp is the yardstick, never a dependency: bench/run.sh installs its prebuilt CPU libraries from npm into
 * bench/.cache/, clones the matching sources (for llama.h) from the package's git bundle, and builds this file
 * against them with an rpath. Calling the C API directly keeps node's event loop from competing with the compute
 * threads (on 2 cores it costs llama.cpp up to 3x).
 *
 * The measurement mirrors src/cli/bench.c so the two numbers can be divided: load (model + context), one warm-up
 * token (maps every weight page), then per repetition a cleared KV cache, a prefill of P tokens in one batch and N
 * single-token decode steps with greedy (argmax) sampling. Medians and min–max over the repetitions, peak RSS from
 * VmHWM. The prompt is the same fixed pattern of token ids snug bench uses.
 *
 * --parallel N measures what a server with N concurrent users gets: N sequences share one context (unified KV
 * cache), their N prompts are prefilled in one batch, and every decode step is one batch of N tokens, one per
 * sequence. Prefill and decode tokens/s are then aggregates over the N sequences (N x tokens / seconds), so the ratio
 * to --parallel 1 shows how much batching amortizes the weight reads that bound single-user decode.
 *
 * The CPU backend is a separate library per instruction-set variant (libggml-cpu-zen4.so, -haswell, …); ggml scores
 * each against this CPU and loads the best. The driver loads them from the directory libllama itself came from and
 * reports the file that won, with its feature list.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-backend.h"
#include "llama.h"

enum {
    MAX_REPS = 100,
    PROMPT_FIRST_ID = 3,   /* past unk/bos/eos of a SentencePiece vocabulary */
    PROMPT_STRIDE = 7919,  /* a prime: consecutive prompt tokens land far apart in the embedding table */
    PROMPT_SEQ_SHIFT = 17, /* --parallel: sequence s starts the pattern 17*s steps later, so no two prompts match */
    MAX_PARALLEL = 256,    /* llama.cpp's LLAMA_MAX_SEQ */
};

typedef struct driver_options {
    const char *model_path;
    int threads, n_prompt, n_gen, reps;
    int parallel; /* concurrent sequences; 1 is the single-user measurement of snug bench */
    int json, verbose;
    const char *cpu_variant; /* "haswell": load only libggml-cpu-haswell.so; NULL: every variant, ggml keeps the best */
} driver_options;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A field of /proc/self/status in bytes ("VmHWM", "RssAnon", "RssFile"); 0 if unknown. */
static unsigned long long proc_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            sscanf(line + len + 1, "%llu", &kib);
            break;
        }
    }
    fclose(f);
    return kib * 1024;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct summary {
    double median, min, max;
} summary;

static summary summarize(const double *values, int n) {
    double sorted[MAX_REPS];
    memcpy(sorted, values, (size_t)n * sizeof *values);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_double);
    double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    return (summary){median, sorted[0], sorted[n - 1]};
}

static void quiet_log(enum ggml_log_level level, const char *text, void *user_data) {
    const driver_options *o = user_data;
    if (o->verbose || level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static int usage(FILE *out, int code) {
    fprintf(out, "usage: llama_driver MODEL [--threads N] [-p 512] [-n 128] [--reps 5] [--json] [--verbose]\n"
                 "                    [--cpu-variant NAME] [--parallel 1]\n"
                 "Prefill and decode tokens/s of llama.cpp on MODEL, measured like `snug bench`.\n"
                 "--cpu-variant haswell loads only that CPU backend (libggml-cpu-haswell.so: AVX2, no AVX-512).\n"
                 "--parallel N decodes N sequences at once (N prompts of -p tokens prefilled in one batch, then -n\n"
                 "steps of one N-token batch), like a server with N concurrent users; tokens/s are aggregates.\n");
    return code;
}

static int parse_int(const char *text, int min, int max, int *out) {
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < min || v > max) return 0;
    *out = (int)v;
    return 1;
}

static int parse_options(int argc, char **argv, driver_options *o) {
    *o = (driver_options){.threads = 2, .n_prompt = 512, .n_gen = 128, .reps = 5, .parallel = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout, 0);
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!strcmp(a, "--verbose")) {
            o->verbose = 1;
            continue;
        }
        if (a[0] != '-') {
            if (o->model_path) return usage(stderr, 2);
            o->model_path = a;
            continue;
        }
        if (!v) return usage(stderr, 2);
        i++;
        if (!strcmp(a, "--cpu-variant")) {
            o->cpu_variant = v;
            continue;
        }
        int ok = !strcmp(a, "--threads") || !strcmp(a, "-t") ? parse_int(v, 1, 1024, &o->threads)
                 : !strcmp(a, "-p")                          ? parse_int(v, 1, 1 << 20, &o->n_prompt)
                 : !strcmp(a, "-n")                          ? parse_int(v, 1, 1 << 20, &o->n_gen)
                 : !strcmp(a, "--reps")                      ? parse_int(v, 1, MAX_REPS, &o->reps)
                 : !strcmp(a, "--parallel")                  ? parse_int(v, 1, MAX_PARALLEL, &o->parallel)
                                                             : 0;
        if (!ok) {
            fprintf(stderr, "llama_driver: bad option or value: %s %s\n", a, v);
            return 2;
        }
    }
    if (!o->model_path) return usage(stderr, 2);
    return -1;
}

/* Loads every backend library next to libllama (the npm package keeps them together); ggml keeps the best-scoring
 * CPU variant. With a variant named, loads only libggml-cpu-VARIANT.so from there (the AVX2-only comparison of
 * make bench: "haswell"). Returns the directory searched, NULL when libllama or the variant cannot be loaded. */
static const char *load_backends(char *dir, size_t cap, const char *variant) {
    Dl_info info;
    if (!dladdr((void *)llama_backend_init, &info) || !info.dli_fname) return NULL;
    snprintf(dir, cap, "%s", info.dli_fname);
    char *d = dirname(dir);
    memmove(dir, d, strlen(d) + 1);
    if (!variant) {
        ggml_backend_load_all_from_path(dir);
        return dir;
    }
    char path[4352];
    snprintf(path, sizeof path, "%s/libggml-cpu-%s.so", dir, variant);
    return ggml_backend_load(path) ? dir : NULL;
}

/* The CPU backend's library file and its feature list ("AVX512=1 AVX512_VNNI=1 …"). */
static void describe_cpu_backend(char *file, size_t file_cap, char *features, size_t features_cap) {
    snprintf(file, file_cap, "none");
    features[0] = '\0';
    ggml_backend_reg_t reg = ggml_backend_reg_by_name("CPU");
    if (!reg) return;
    void *get_features = ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features");
    Dl_info info;
    if (get_features && dladdr(get_features, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        snprintf(file, file_cap, "%s", slash ? slash + 1 : info.dli_fname);
    }
    if (!get_features) return;
    size_t used = 0;
    for (struct ggml_backend_feature *f = ((ggml_backend_get_features_t)get_features)(reg); f && f->name; f++) {
        int n = snprintf(features + used, features_cap - used, "%s%s=%s", used ? " " : "", f->name, f->value);
        if (n < 0 || (size_t)n >= features_cap - used) break;
        used += (size_t)n;
    }
}

static llama_token argmax(const float *logits, int n_vocab) {
    llama_token best = 0;
    for (int i = 1; i < n_vocab; i++) {
        if (logits[i] > logits[best]) best = i;
    }
    return best;
}

/* The fixed prompt of sequence `seq`: BOS, then the stride pattern shifted by PROMPT_SEQ_SHIFT*seq steps. Sequence 0
 * is exactly the prompt snug bench uses. */
static void fill_prompt(llama_token *prompt, int n, int seq, const struct llama_vocab *vocab, int n_vocab) {
    prompt[0] = llama_vocab_bos(vocab) >= 0 ? llama_vocab_bos(vocab) : PROMPT_FIRST_ID;
    for (int i = 1; i < n; i++) {
        long long step = (long long)i + (long long)PROMPT_SEQ_SHIFT * seq;
        prompt[i] = PROMPT_FIRST_ID + (llama_token)((step * PROMPT_STRIDE) % (n_vocab - PROMPT_FIRST_ID));
    }
}

/* Puts one token of sequence `seq` at `pos` into slot i of a batch from llama_batch_init. */
static void batch_set(struct llama_batch *b, int i, llama_token token, int pos, int seq, int want_logits) {
    b->token[i] = token;
    b->pos[i] = pos;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = seq;
    b->logits[i] = (int8_t)want_logits;
}

/* One --parallel repetition on a cleared KV cache: `prefill` (all N prompts, built once by the caller) in one
 * llama_decode call, then n_gen steps of one N-token batch with each sequence's greedy next token. Fills the
 * aggregate tokens/s; returns 0, or 1 after saying what failed. */
static int parallel_rep(struct llama_context *ctx, const driver_options *o, struct llama_batch *prefill,
                        struct llama_batch *step, int n_vocab, double *prefill_tps, double *decode_tps) {
    const int n = o->parallel, p = o->n_prompt;
    llama_memory_clear(llama_get_memory(ctx), true);
    double t0 = now_s();
    if (llama_decode(ctx, *prefill) != 0) {
        fprintf(stderr, "llama_driver: parallel prefill failed\n");
        return 1;
    }
    llama_synchronize(ctx);
    double t1 = now_s();
    for (int g = 0; g < o->n_gen; g++) {
        /* Step 0 reads each sequence's last prompt token (the only outputs the prefill asked for, at batch index
         * s*p + p-1); later steps read the previous step's batch, where sequence s sits at index s. */
        for (int s = 0; s < n; s++) {
            int idx = g == 0 ? s * p + p - 1 : s;
            batch_set(step, s, argmax(llama_get_logits_ith(ctx, idx), n_vocab), p + g, s, 1);
        }
        step->n_tokens = n;
        if (llama_decode(ctx, *step) != 0) {
            fprintf(stderr, "llama_driver: parallel decode step %d failed\n", g);
            return 1;
        }
    }
    llama_synchronize(ctx);
    double t2 = now_s();
    *prefill_tps = (double)n * p / (t1 - t0);
    *decode_tps = (double)n * o->n_gen / (t2 - t1);
    return 0;
}

static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        if ((unsigned char)*s >= 0x20) putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    driver_options o;
    int code = parse_options(argc, argv, &o);
    if (code >= 0) return code;

    llama_log_set(quiet_log, &o);
    char backend_dir[4096];
    if (!load_backends(backend_dir, sizeof backend_dir, o.cpu_variant)) {
        fprintf(stderr, "llama_driver: cannot load the ggml CPU backend%s%s next to libllama\n",
                o.cpu_variant ? " variant " : "s", o.cpu_variant ? o.cpu_variant : "");
        return 1;
    }
    llama_backend_init();
    char cpu_file[256], cpu_features[1024];
    describe_cpu_backend(cpu_file, sizeof cpu_file, cpu_features, sizeof cpu_features);
    if (!strcmp(cpu_file, "none")) {
        fprintf(stderr, "llama_driver: no CPU backend loaded from %s\n", backend_dir);
        return 1;
    }

    double t_load = now_s();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(o.model_path, mp);
    if (!model) {
        fprintf(stderr, "llama_driver: llama.cpp could not load %s\n", o.model_path);
        return 2;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(o.n_prompt + o.n_gen + 1);
    cp.n_batch = (uint32_t)o.n_prompt; /* the prompt is one llama_decode call, as in snug bench */
    cp.n_threads = o.threads;
    cp.n_threads_batch = o.threads;
    cp.no_perf = true;
    if (o.parallel > 1) {
        /* Room for every sequence's prompt and generated tokens, all N prompts in one llama_decode call (llama.cpp
         * still splits it into n_ubatch pieces), and one KV buffer the sequences share, as llama-server does. */
        cp.n_seq_max = (uint32_t)o.parallel;
        cp.n_ctx = (uint32_t)o.parallel * (uint32_t)(o.n_prompt + o.n_gen + 1);
        cp.n_batch = (uint32_t)o.parallel * (uint32_t)o.n_prompt;
        cp.kv_unified = true;
    }
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llama_driver: llama.cpp could not create a context\n");
        llama_model_free(model);
        return 1;
    }
    double load_s = now_s() - t_load;

    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    llama_token *prompt = malloc((size_t)o.n_prompt * sizeof *prompt);
    if (!prompt) return 1;
    fill_prompt(prompt, o.n_prompt, 0, vocab, n_vocab);
    llama_memory_t memory = llama_get_memory(ctx);

    /* --parallel: the prefill batch is the same every repetition, so it is built once, outside the timing. */
    struct llama_batch prefill = {0}, step = {0};
    if (o.parallel > 1) {
        prefill = llama_batch_init(o.parallel * o.n_prompt, 0, 1);
        step = llama_batch_init(o.parallel, 0, 1);
        for (int s = 0; s < o.parallel; s++) {
            fill_prompt(prompt, o.n_prompt, s, vocab, n_vocab);
            for (int i = 0; i < o.n_prompt; i++) {
                batch_set(&prefill, s * o.n_prompt + i, prompt[i], i, s, i == o.n_prompt - 1);
            }
        }
        prefill.n_tokens = o.parallel * o.n_prompt;
        fill_prompt(prompt, o.n_prompt, 0, vocab, n_vocab); /* the warm-up below uses sequence 0's prompt */
    }

    /* Warm-up: one token touches every weight page (and lets the CPU backend repack weights it wants repacked). */
    if (llama_decode(ctx, llama_batch_get_one(prompt, 1)) != 0) {
        fprintf(stderr, "llama_driver: warm-up decode failed\n");
        return 1;
    }

    double prefill_tps[MAX_REPS] = {0}, decode_tps[MAX_REPS] = {0};
    llama_token last = 0;
    for (int r = 0; r < o.reps; r++) {
        if (o.parallel > 1) {
            if (parallel_rep(ctx, &o, &prefill, &step, n_vocab, &prefill_tps[r], &decode_tps[r]) != 0) return 1;
            if (!o.json) {
                fprintf(stderr, "llama_driver: rep %d: prefill %.2f tok/s, decode %.2f tok/s (aggregate of %d)\n",
                        r + 1, prefill_tps[r], decode_tps[r], o.parallel);
            }
            continue;
        }
        llama_memory_clear(memory, true);
        double t0 = now_s();
        if (llama_decode(ctx, llama_batch_get_one(prompt, o.n_prompt)) != 0) {
            fprintf(stderr, "llama_driver: prefill failed\n");
            return 1;
        }
        llama_synchronize(ctx);
        double t1 = now_s();
        for (int i = 0; i < o.n_gen; i++) {
            last = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
            if (llama_decode(ctx, llama_batch_get_one(&last, 1)) != 0) {
                fprintf(stderr, "llama_driver: decode step %d failed\n", i);
                return 1;
            }
        }
        llama_synchronize(ctx);
        double t2 = now_s();
        prefill_tps[r] = o.n_prompt / (t1 - t0);
        decode_tps[r] = o.n_gen / (t2 - t1);
        if (!o.json) {
            fprintf(stderr, "llama_driver: rep %d: prefill %.2f tok/s, decode %.2f tok/s\n", r + 1, prefill_tps[r],
                    decode_tps[r]);
        }
    }
    unsigned long long peak_rss = proc_status_bytes("VmHWM"), rss_anon = proc_status_bytes("RssAnon"),
                       rss_file = proc_status_bytes("RssFile");
    summary pre = summarize(prefill_tps, o.reps), dec = summarize(decode_tps, o.reps);
    char model_desc[128];
    llama_model_desc(model, model_desc, sizeof model_desc);
    unsigned long long weight_bytes = llama_model_size(model);

    if (o.json) {
        printf("{\"engine\":\"llama.cpp\",\"llama_version\":");
        print_json_string(llama_version());
        printf(",\"ggml_commit\":");
        print_json_string(ggml_commit());
        printf(",\"cpu_backend\":");
        print_json_string(cpu_file);
        printf(",\"cpu_features\":");
        print_json_string(cpu_features);
        printf(",\"model\":");
        print_json_string(o.model_path);
        printf(",\"model_desc\":");
        print_json_string(model_desc);
        printf(",\"weight_bytes\":%llu,\"threads\":%d,\"n_prompt\":%d,\"n_gen\":%d,\"reps\":%d,\"parallel\":%d,"
               "\"prefill_tokens_per_s\":%.4f,\"prefill_tokens_per_s_min\":%.4f,\"prefill_tokens_per_s_max\":%.4f,"
               "\"decode_tokens_per_s\":%.4f,\"decode_tokens_per_s_min\":%.4f,\"decode_tokens_per_s_max\":%.4f,"
               "\"load_s\":%.4f,\"peak_rss_bytes\":%llu,\"rss_anon_bytes\":%llu,\"rss_file_bytes\":%llu}\n",
               weight_bytes, o.threads, o.n_prompt, o.n_gen, o.reps, o.parallel, pre.median, pre.min, pre.max,
               dec.median, dec.min, dec.max, load_s, peak_rss, rss_anon, rss_file);
    } else {
        printf("llama.cpp %s (ggml commit %s), CPU backend %s, %d threads\n", llama_version(), ggml_commit(), cpu_file,
               o.threads);
        printf("model    %s (%s, %.1f MiB of weights)\n", o.model_path, model_desc, weight_bytes / 1048576.0);
        printf("load     %.3f s\n", load_s);
        if (o.parallel > 1) {
            printf("parallel %d sequences (unified KV cache); prefill and decode tok/s and tokens are aggregate over "
                   "all %d\n",
                   o.parallel, o.parallel);
        }
        printf("prefill  %.2f tok/s (min %.2f, max %.2f; %d tokens, %d reps)\n", pre.median, pre.min, pre.max,
               o.parallel * o.n_prompt, o.reps);
        printf("decode   %.2f tok/s (min %.2f, max %.2f; %d tokens, %d reps)\n", dec.median, dec.min, dec.max,
               o.parallel * o.n_gen, o.reps);
        printf("peak RSS %.1f MiB (now: %.1f MiB anonymous, %.1f MiB file)\n", peak_rss / 1048576.0,
               rss_anon / 1048576.0, rss_file / 1048576.0);
    }
    free(prompt);
    if (o.parallel > 1) {
        llama_batch_free(prefill);
        llama_batch_free(step);
    }
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
