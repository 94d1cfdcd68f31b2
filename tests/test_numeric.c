/* test_numeric.c — no silent garbage (DESIGN.md, contract item 4): a non-finite intermediate is SNUG_E_NUMERIC
 * naming the layer, the step and the position, never text.
 *
 *   (a) End to end: a model whose token embeddings are all 3e38 (finite) used to print "Oncemymymy…" and exit 0 —
 *       each sub-layer's contribution vanished next to 3e38 in f32, and in f32 the norm's sum of squares is
 *       infinite. Now: exit 1, `numeric`, layer 0's attention norm at position 0, and stdout holds the prompt only.
 *       Likewise an infinite K (layer 1, attention) and an infinite gate (layer 0, SwiGLU).
 *   (b) snug_attention on every path (the reference and each ISA's kernels) and every cache type: an infinite
 *       score, a NaN score (the kernels' exponential used to clamp a NaN to e^−87, a weight like any other), and an
 *       infinite value row each name the first broken (token, head) row; a finite case names none.
 *   (c) The ops' own reports: snug_rmsnorm (a sum of squares beyond f32, a NaN input, a NaN weight), snug_softmax
 *       (an infinite or NaN score, all −∞) and snug_swiglu.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/synth.h"
#include "cpu/attention.h"
#include "cpu/half_row.h"
#include "cpu/kernels.h"
#include "cpu/ops.h"
#include "cpu/pool.h"
#include "cpu/quant.h"
#include "gguf/types.h"
#include "snug.h"
#include "support/support.h"

/* ---- (a) end to end ------------------------------------------------------------------------------------------ */

/* The default synthetic model (F32, 2 layers, embedding 64) with every element of `tensor` set to `value`. */
static const char *model_with(const char *name, const char *tensor, float value) {
    static char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path(name));
    snug_synth_params p = snug_synth_default_params();
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK, "%s", err.message);
    snug_gguf *g;
    cr_assert_eq(snug_gguf_open(path, 0, &g, &err), SNUG_OK, "%s", err.message);
    const snug_tensor_info *t = snug_gguf_find_tensor(g, tensor);
    cr_assert_not_null(t, "%s", tensor);
    cr_assert_eq(t->type, SNUG_TYPE_F32);
    const long at = (long)(snug_gguf_data_offset(g) + t->offset);
    const uint64_t n = t->bytes / sizeof(float);
    snug_gguf_close(g);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, at, SEEK_SET), 0);
    for (uint64_t i = 0; i < n; i++) cr_assert_eq(fwrite(&value, sizeof value, 1, f), 1);
    cr_assert_eq(fclose(f), 0);
    return path;
}

/* `snug run` on path: exit 1 with a numeric error naming `where`, and nothing on stdout but the prompt. */
static void expect_numeric_error_on(const char *path, const char *where, const char *backend) {
    static const char prompt[] = "a b c";
    const char *argv[] = {test_snug_bin(), "run", path,        "-p",    prompt, "-n", "8",
                          "--temp",        "0",   "--backend", backend, NULL};
    test_run_result r = test_run(argv);
    cr_expect_eq(r.exit_code, 1, "exit %d; stdout: %s\nstderr: %s", r.exit_code, r.out, r.err);
    cr_expect_not_null(strstr(r.err, "error (numeric)"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, where), "the error does not name '%s': %s", where, r.err);
    cr_expect_str_eq(r.out, prompt, "stdout holds more than the prompt");
    test_run_free(&r);
}

static void expect_numeric_error(const char *path, const char *where) { expect_numeric_error_on(path, where, "cpu"); }

Test(numeric, embeddings_of_3e38_are_a_numeric_error) {
    expect_numeric_error(model_with("embd_3e38.gguf", "token_embd.weight", 3e38f),
                         "layer 0, attention norm, at position 0: the sum of squares of its input is");
}

Test(numeric, an_infinite_key_is_a_numeric_error_in_attention) {
    expect_numeric_error(model_with("attn_k_3e38.gguf", "blk.1.attn_k.weight", 3e38f),
                         "layer 1, attention, at position 0");
}

Test(numeric, an_infinite_gate_is_a_numeric_error_in_swiglu) {
    expect_numeric_error(model_with("ffn_gate_3e38.gguf", "blk.0.ffn_gate.weight", 3e38f),
                         "layer 0, feed-forward (SwiGLU), at position 0");
}

/* The same three on the Vulkan backend (issue 14). Its norms report a sum of squares beyond f32 with the layer, the
 * norm and the position, as the CPU's do; anything else that is not finite reaches the residual stream, which the
 * host checks after every step, or the logits. */
Test(numeric, vulkan_embeddings_of_3e38_are_a_numeric_error) {
    test_require_vulkan();
    expect_numeric_error_on(model_with("vk_embd_3e38.gguf", "token_embd.weight", 3e38f),
                            "layer 0, attention norm, at position 0: the sum of squares of its input is", "vulkan");
}

Test(numeric, vulkan_an_infinite_key_is_a_numeric_error) {
    test_require_vulkan();
    expect_numeric_error_on(model_with("vk_attn_k_3e38.gguf", "blk.1.attn_k.weight", 3e38f), "at position 0", "vulkan");
}

Test(numeric, vulkan_an_infinite_gate_is_a_numeric_error) {
    test_require_vulkan();
    expect_numeric_error_on(model_with("vk_ffn_gate_3e38.gguf", "blk.0.ffn_gate.weight", 3e38f), "at position 0",
                            "vulkan");
}

/* ---- (b) attention rows -------------------------------------------------------------------------------------- */

enum { N_HEAD = 8, N_HEAD_KV = 2, HEAD_DIM = 64, N_TOKENS = 3, N_CTX = 300, POS0 = 200 };
#define KV_DIM (N_HEAD_KV * HEAD_DIM)
#define Q_DIM  (N_HEAD * HEAD_DIM)

typedef struct attention_inputs {
    uint32_t kv_type;
    uint64_t row_bytes;
    uint8_t *k_cache, *v_cache; /* (N_CTX, row_bytes) */
    float q[N_TOKENS * Q_DIM];
} attention_inputs;

static uint64_t rng_state = 42;
static float uniform_pm1(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2 - 1);
}

static void make_inputs(attention_inputs *in, uint32_t kv_type) {
    in->kv_type = kv_type;
    cr_assert(snug_type_row_bytes(kv_type, KV_DIM, &in->row_bytes));
    in->k_cache = malloc(N_CTX * in->row_bytes);
    in->v_cache = malloc(N_CTX * in->row_bytes);
    float row[KV_DIM];
    for (int64_t pos = 0; pos < N_CTX; pos++) {
        for (int i = 0; i < KV_DIM; i++) row[i] = uniform_pm1();
        snug_kv_store(kv_type, row, in->k_cache + pos * in->row_bytes, KV_DIM);
        for (int i = 0; i < KV_DIM; i++) row[i] = uniform_pm1();
        snug_kv_store(kv_type, row, in->v_cache + pos * in->row_bytes, KV_DIM);
    }
    for (int i = 0; i < N_TOKENS * Q_DIM; i++) in->q[i] = 4.0f * uniform_pm1();
}

/* Overwrites position pos's K or V row with `value` in KV head kv_head's slice. */
static void poison_row(attention_inputs *in, uint8_t *cache, int64_t pos, int32_t kv_head, float value) {
    float row[KV_DIM];
    cr_assert(snug_dequantize_row(in->kv_type, cache + pos * in->row_bytes, row, KV_DIM));
    for (int i = 0; i < HEAD_DIM; i++) row[kv_head * HEAD_DIM + i] = value;
    snug_kv_store(in->kv_type, row, cache + pos * in->row_bytes, KV_DIM);
}

static int64_t attend(const attention_inputs *in, const snug_attention_kernels *kernels) {
    const snug_type_kernels *kk = snug_kernels_for(in->kv_type, SNUG_ISA_SCALAR);
    snug_attention_shape shape = {N_HEAD,
                                  N_HEAD_KV,
                                  HEAD_DIM,
                                  N_CTX,
                                  in->kv_type,
                                  in->row_bytes,
                                  kk && kk->act_type == SNUG_TYPE_F32 ? kk : NULL,
                                  in->kv_type == SNUG_TYPE_F16 ? snug_f16_row_scalar : NULL,
                                  kernels};
    float *out = malloc(N_TOKENS * Q_DIM * sizeof(float));
    float *scratch = malloc(2 * (size_t)snug_attention_scratch_floats(N_CTX, HEAD_DIM) * sizeof(float));
    snug_pool *pool;
    cr_assert_eq(snug_pool_create(2, &pool, NULL), SNUG_OK, "a pool of 2 threads");
    int64_t bad = snug_attention(out, in->q, in->k_cache, in->v_cache, N_TOKENS, POS0, &shape, scratch, pool);
    snug_pool_destroy(pool);
    free(scratch);
    free(out);
    return bad;
}

typedef void (*poison_fn)(attention_inputs *in);

/* Token 1, head 5 (KV head 1): an infinite q element makes its scores ±inf. */
static void infinite_score(attention_inputs *in) { in->q[1 * Q_DIM + 5 * HEAD_DIM + 7] = INFINITY; }
/* Token 2, head 3 (KV head 0): a NaN q element makes every score of that row NaN. */
static void nan_score(attention_inputs *in) { in->q[2 * Q_DIM + 3 * HEAD_DIM] = NAN; }
/* The value row of position POS0 + 1, KV head 1: seen from token 1 on, by heads 4 … 7. */
static void infinite_value(attention_inputs *in) { poison_row(in, in->v_cache, POS0 + 1, 1, INFINITY); }
/* The key row of position 17, KV head 0: every token, heads 0 … 3 — the first row is (token 0, head 0). */
static void nan_key(attention_inputs *in) { poison_row(in, in->k_cache, 17, 0, NAN); }

Test(numeric, attention_names_the_first_broken_row_on_every_path) {
    const struct {
        const char *what;
        poison_fn poison;
        int64_t row; /* token × N_HEAD + head */
    } cases[] = {
        {"finite", NULL, -1},
        {"an infinite score", infinite_score, 1 * N_HEAD + 5},
        {"a NaN score", nan_score, 2 * N_HEAD + 3},
        {"an infinite value", infinite_value, 1 * N_HEAD + 4},
        {"a NaN key", nan_key, 0},
    };
    const uint32_t kv_types[] = {SNUG_TYPE_F32, SNUG_TYPE_F16, SNUG_TYPE_Q8_0};
    int paths = 0;
    for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
        const snug_attention_kernels *kernels = snug_attention_kernels_for((snug_isa)isa);
        if (!kernels) continue;
        paths++;
        for (size_t k = 0; k < sizeof kv_types / sizeof *kv_types; k++) {
            for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
                /* q8_0 cannot hold an infinity or a NaN (its scale would be one): those rows are f32 / f16 only. */
                if (kv_types[k] == SNUG_TYPE_Q8_0 && (cases[c].poison == infinite_value || cases[c].poison == nan_key))
                    continue;
                attention_inputs in;
                make_inputs(&in, kv_types[k]);
                if (cases[c].poison) cases[c].poison(&in);
                int64_t bad = attend(&in, kernels);
                cr_expect_eq(bad, cases[c].row, "ISA %d, %s cache, %s: row %lld, expected %lld", isa,
                             snug_type_name(kv_types[k]), cases[c].what, (long long)bad, (long long)cases[c].row);
                free(in.k_cache);
                free(in.v_cache);
            }
        }
    }
    cr_assert_geq(paths, 1);
}

/* ---- (c) the ops ----------------------------------------------------------------------------------------------- */

Test(numeric, rmsnorm_reports_a_sum_of_squares_beyond_f32) {
    float x[64], w[64], out[64];
    for (int i = 0; i < 64; i++) {
        x[i] = 1.0f + (float)i / 64;
        w[i] = 1.0f;
    }
    cr_expect(snug_rmsnorm(out, x, w, 64, 1e-5f), "ordinary input");
    for (int i = 0; i < 64; i++) x[i] = 3e18f; /* 64 × 9e36 = 5.8e38 > FLT_MAX, though every x² is finite */
    cr_expect_not(snug_rmsnorm(out, x, w, 64, 1e-5f), "sum of squares 5.8e38");
    for (int i = 0; i < 64; i++) x[i] = 1e18f; /* 6.4e37: within f32 */
    cr_expect(snug_rmsnorm(out, x, w, 64, 1e-5f), "sum of squares 6.4e37");
    x[5] = NAN;
    cr_expect_not(snug_rmsnorm(out, x, w, 64, 1e-5f), "a NaN input");
    x[5] = 1.0f;
    w[9] = NAN;
    cr_expect_not(snug_rmsnorm(out, x, w, 64, 1e-5f), "a NaN weight");
}

Test(numeric, softmax_and_swiglu_report_non_finite_results) {
    float s[5] = {1, 2, 3, 4, 5};
    cr_expect(snug_softmax(s, 5));
    float inf_score[5] = {1, INFINITY, 3, 4, 5};
    cr_expect_not(snug_softmax(inf_score, 5));
    float nan_score[5] = {1, 2, NAN, 4, 5};
    cr_expect_not(snug_softmax(nan_score, 5));
    float all_minus_inf[3] = {-INFINITY, -INFINITY, -INFINITY};
    cr_expect_not(snug_softmax(all_minus_inf, 3));
    float gate[4] = {1, -2, 3, 0.5f}, up[4] = {1, 1, 1, 1};
    cr_expect(snug_swiglu(gate, up, 4));
    float big_gate[4] = {1, 3e38f, 3, 0.5f}, big_up[4] = {1, 2, 1, 1};
    cr_expect_not(snug_swiglu(big_gate, big_up, 4), "3e38 × 2 overflows");
}
