/* tokenizer_common.h — what both tokenizer drivers of `make bench` share (bench/tokenizer_snug.c and
 * bench/tokenizer_llama.c): the command line, the clock, reading the text, and the JSON line they print, so that the
 * two numbers measure the same thing.
 *
 *   DRIVER VOCAB.gguf TEXT [--loads N] [--reps N] [--ids OUT]
 *
 * load_ms: a fresh load of the vocabulary (open, parse, tables; for llama.cpp a vocab_only model), timed N times in
 * one process (the file is in the page cache after the first); median and min. encode: the whole text in one call,
 * without BOS and without special-token parsing (the way `tokenize` of a plain text file works), after one untimed
 * warm-up; median and best MB/s (10^6 bytes) over the repetitions. --ids writes the token ids (int32,
 * little-endian) so report.py can check that both engines agree. Header-only: each driver includes it once.
 */
#ifndef SNUG_BENCH_TOKENIZER_COMMON_H
#define SNUG_BENCH_TOKENIZER_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_RUNS = 50, DEFAULT_LOADS = 5, DEFAULT_REPS = 3 };

typedef struct tok_options {
    const char *vocab_path, *text_path, *ids_path;
    int loads, reps;
} tok_options;

typedef struct tok_result {
    double load_ms[MAX_RUNS];
    double encode_s[MAX_RUNS];
    size_t n_tokens;
    int32_t n_vocab;
} tok_result;

static double tok_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int tok_parse(int argc, char **argv, tok_options *o) {
    *o = (tok_options){.loads = DEFAULT_LOADS, .reps = DEFAULT_REPS};
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--loads") == 0 && i + 1 < argc) {
            o->loads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            o->reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ids") == 0 && i + 1 < argc) {
            o->ids_path = argv[++i];
        } else if (positional == 0) {
            o->vocab_path = argv[i];
            positional++;
        } else if (positional == 1) {
            o->text_path = argv[i];
            positional++;
        } else {
            positional = 99;
        }
    }
    if (positional != 2 || o->loads < 1 || o->loads > MAX_RUNS || o->reps < 1 || o->reps > MAX_RUNS) {
        fprintf(stderr, "usage: %s VOCAB.gguf TEXT [--loads 1..%d] [--reps 1..%d] [--ids OUT]\n", argv[0], MAX_RUNS,
                MAX_RUNS);
        return 2;
    }
    return 0;
}

static char *tok_read_text(const char *path, size_t *bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
    }
    fclose(f);
    if (text) text[size] = '\0';
    *bytes = text ? (size_t)size : 0;
    return text;
}

static int tok_write_ids(const char *path, const int32_t *ids, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t written = fwrite(ids, sizeof *ids, n, f);
    return fclose(f) == 0 && written == n ? 0 : -1;
}

static int tok_compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double tok_median(const double *values, int n, double *min) {
    double sorted[MAX_RUNS];
    memcpy(sorted, values, (size_t)n * sizeof *values);
    qsort(sorted, (size_t)n, sizeof *sorted, tok_compare_double);
    *min = sorted[0];
    return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

static void tok_print(const char *engine, const char *version, const tok_options *o, const tok_result *r,
                      size_t text_bytes) {
    double load_min, encode_min;
    const double load_median = tok_median(r->load_ms, o->loads, &load_min);
    const double encode_median = tok_median(r->encode_s, o->reps, &encode_min);
    printf("{\"engine\":\"%s\",\"version\":\"%s\",\"n_vocab\":%d,\"loads\":%d,\"load_ms\":%.3f,\"load_ms_min\":%.3f,"
           "\"reps\":%d,\"text_bytes\":%zu,\"tokens\":%zu,\"encode_s\":%.6f,\"encode_mb_s\":%.3f,"
           "\"encode_mb_s_best\":%.3f}\n",
           engine, version, r->n_vocab, o->loads, load_median, load_min, o->reps, text_bytes, r->n_tokens,
           encode_median, (double)text_bytes / 1e6 / encode_median, (double)text_bytes / 1e6 / encode_min);
}

#endif
