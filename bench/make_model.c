/* make_model.c — writes a synthetic benchmark model with snug's own GGUF writer (src/convert/synth.h).
 *
 * The benchmark needs real model shapes but no real weights: tokens/s and memory depend on the shape and the weight
 * type only. Every matrix, token_embd and output.weight get the requested type (norms stay F32), the way a "pure"
 * llama.cpp quantization lays them out; the same arguments give the same file, byte for byte.
 * Called by bench/run.sh (`make bench`); links build/libsnug.a and uses an internal header, so it is tool code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/synth.h"

/* Model shapes worth benchmarking. TinyLlama-1.1B is the shape the project's speed goals are stated on. */
typedef struct bench_shape {
    const char *name;
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx_train;
} bench_shape;

static const bench_shape SHAPES[] = {
    {"tinyllama-1.1b", 32000, 2048, 22, 32, 4, 5632, 2048},
    {"tiny", 320, 64, 2, 4, 2, 128, 256}, /* seconds to write and run: for checking the pipeline itself */
    /* docs/gpu.md, issue 14's seeds: heads of 64 with few of them (an fp32 attention tile that overflows 32 KiB),
     * and TinyLlama at a trained context of 131,072 (a KV cache beyond a 2 GiB heap; write it with `header`). */
    {"head64", 320, 128, 2, 2, 2, 256, 256},
    {"tinyllama-128k", 32000, 2048, 22, 32, 4, 5632, 131072},
};
enum { N_SHAPES = sizeof SHAPES / sizeof SHAPES[0] };

static void usage(FILE *out) {
    fprintf(out, "usage: make_model OUT.gguf TYPE [SHAPE [header]]\n"
                 "  TYPE   F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, … (any type snug can encode)\n"
                 "  SHAPE  ");
    for (int i = 0; i < N_SHAPES; i++) fprintf(out, "%s%s", i ? ", " : "", SHAPES[i].name);
    fprintf(out, " (default %s)\n  header writes the header only (for snug plan: no tensor data)\n", SHAPES[0].name);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5 || (argc == 5 && strcmp(argv[4], "header") != 0)) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[1], *type_name = argv[2], *shape_name = argc > 3 ? argv[3] : SHAPES[0].name;
    uint32_t type = SNUG_TYPE_ID_LIMIT;
    for (uint32_t t = 0; t < SNUG_TYPE_ID_LIMIT; t++) {
        const char *name = snug_type_name(t);
        if (name && strcasecmp(name, type_name) == 0) type = t;
    }
    if (type == SNUG_TYPE_ID_LIMIT) {
        fprintf(stderr, "make_model: unknown type '%s'\n", type_name);
        return 2;
    }
    const bench_shape *shape = NULL;
    for (int i = 0; i < N_SHAPES; i++) {
        if (strcmp(SHAPES[i].name, shape_name) == 0) shape = &SHAPES[i];
    }
    if (!shape) {
        fprintf(stderr, "make_model: unknown shape '%s'\n", shape_name);
        usage(stderr);
        return 2;
    }

    snug_synth_params p = snug_synth_default_params();
    p.n_vocab = shape->n_vocab;
    p.n_embd = shape->n_embd;
    p.n_layer = shape->n_layer;
    p.n_head = shape->n_head;
    p.n_head_kv = shape->n_head_kv;
    p.n_ff = shape->n_ff;
    p.n_ctx_train = shape->n_ctx_train;
    p.weight_type = type;
    p.embd_type = type;
    p.rope_freq_base = 10000.0f;
    p.seed = 1;
    p.header_only = argc == 5;
    snug_error err = {0};
    if (snug_synth_write(path, &p, &err) != SNUG_OK) {
        fprintf(stderr, "make_model: %s: %s\n", snug_status_name(err.status), err.message);
        if (err.hint[0]) fprintf(stderr, "make_model: hint: %s\n", err.hint);
        return 1;
    }
    return 0;
}
