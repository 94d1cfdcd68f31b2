/* test_reference.c — the engine against the independent numpy float64 reference (tests/ref/llama_ref.py) on
 * synthetic models written by snug's own writer, for every weight type.
 *
 * Both sides decode the same stored blocks, so the remaining difference is arithmetic: the engine computes in f32
 * (dot products of up to n_ff terms, softmax, RoPE angles), the reference in f64; both store K and V in f16 (the
 * reference rounds them, modelling snug's f16 KV cache). Bound per logit, for every type:
 *     |snug − ref| <= 2e-3 · max|ref logits of that step| + 1e-4
 * The f32 rounding of a length-n dot product is about sqrt(n) · 6e-8 relative, and f32 vs f64 K/V values can round
 * to neighbouring f16 values (5e-4 relative on one element). The worst difference observed over these models was
 * 1.3e-4 of the logit scale, so the bound leaves a 15× margin (the test logs its worst |diff| / bound). A wrong RoPE
 * pairing, for comparison, misses it by orders of magnitude. Quantized types need no looser bound because the
 * reference dequantizes the same blocks: this checks the engine's arithmetic, not the quantization error (that is
 * test_quant's job).
 * The greedy tokens must agree for all 32 steps.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert/synth.h"
#include "snug.h"
#include "support/support.h"

#define REF_PYTHON "/usr/bin/python3"
#define REF_SCRIPT "tests/ref/llama_ref.py"
#define STEPS 32
#define LOGIT_REL_BOUND 2e-3
#define LOGIT_ABS_BOUND 1e-4

static const snug_token prompt[] = {1, 17, 270, 42, 99, 260, 5}; /* all below the smallest vocabulary (288) */
#define PROMPT_LEN ((int)(sizeof prompt / sizeof prompt[0]))

typedef struct ref_output {
    int32_t n_vocab, steps;
    int32_t *tokens;
    double *logits;
} ref_output;

static void require_python_numpy(void) {
    const char *argv[] = {REF_PYTHON, "-c", "import numpy", NULL};
    test_run_result r = test_run(argv);
    int ok = r.exit_code == 0;
    test_run_free(&r);
    if (ok) return;
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0) cr_assert_fail("CI=true but " REF_PYTHON " with numpy is missing (python3-numpy)");
    cr_skip_test("SKIPPED: " REF_PYTHON " with numpy is missing (apt-get install python3-numpy)");
}

static ref_output run_reference(const char *model_path, const char *out_path) {
    char tokens[256] = "";
    for (int i = 0; i < PROMPT_LEN; i++) {
        size_t len = strlen(tokens);
        snprintf(tokens + len, sizeof tokens - len, i ? ",%d" : "%d", prompt[i]);
    }
    char steps[16];
    snprintf(steps, sizeof steps, "%d", STEPS);
    const char *argv[] = {REF_PYTHON, REF_SCRIPT, model_path, "--tokens", tokens, "--steps", steps, "--out", out_path,
                          NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "reference failed (%d): %s", r.exit_code, r.err);
    test_run_free(&r);
    size_t bytes;
    char *data = test_read_file(out_path, &bytes);
    cr_assert_not_null(data);
    ref_output out;
    memcpy(&out.n_vocab, data, 4);
    memcpy(&out.steps, data + 4, 4);
    cr_assert_eq(out.steps, STEPS);
    size_t want = 8 + 4 * (size_t)STEPS + 8 * (size_t)STEPS * (size_t)out.n_vocab;
    cr_assert_eq(bytes, want, "reference output is %zu bytes, expected %zu", bytes, want);
    out.tokens = malloc(4 * STEPS);
    out.logits = malloc(8 * (size_t)STEPS * (size_t)out.n_vocab);
    memcpy(out.tokens, data + 8, 4 * STEPS);
    memcpy(out.logits, data + 8 + 4 * STEPS, 8 * (size_t)STEPS * (size_t)out.n_vocab);
    free(data);
    return out;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (x[i] > x[best]) best = i;
    }
    return best;
}

/* Writes the model, runs both engines, compares every step. */
static void check_against_reference(const char *label, snug_synth_params p) {
    require_python_numpy();
    char model_path[4096], out_path[4200];
    snprintf(model_path, sizeof model_path, "%s", test_tmp_path(label));
    snprintf(out_path, sizeof out_path, "%s.ref", model_path);
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(model_path, &p, &err), SNUG_OK, "%s", err.message);
    ref_output ref = run_reference(model_path, out_path);

    snug_model *model;
    cr_assert_eq(snug_model_load(model_path, &model, &err), SNUG_OK, "%s", err.message);
    snug_context_params cp = {.n_ctx = 64, .n_threads = 2, .n_batch = 4}; /* batch 4 < prompt: two prefill steps */
    snug_context *ctx;
    cr_assert_eq(snug_context_create(model, &cp, &ctx, &err), SNUG_OK, "%s", err.message);
    cr_assert_eq(ref.n_vocab, p.n_vocab);
    cr_assert_eq(snug_context_decode(ctx, prompt, PROMPT_LEN, &err), SNUG_OK, "%s", err.message);
    double worst_ratio = 0.0;
    for (int step = 0; step < STEPS; step++) {
        const float *logits = snug_context_logits(ctx);
        const double *want = ref.logits + (size_t)step * (size_t)ref.n_vocab;
        double scale = 0.0;
        for (int i = 0; i < ref.n_vocab; i++) scale = fmax(scale, fabs(want[i]));
        double bound = LOGIT_REL_BOUND * scale + LOGIT_ABS_BOUND;
        for (int i = 0; i < ref.n_vocab; i++) {
            double diff = fabs((double)logits[i] - want[i]);
            worst_ratio = fmax(worst_ratio, diff / bound);
            cr_assert(diff <= bound, "%s step %d token %d: snug %.7f, reference %.7f (|diff| %.2e > bound %.2e)", label,
                      step, i, (double)logits[i], want[i], diff, bound);
        }
        snug_token next = argmax(logits, ref.n_vocab);
        cr_assert_eq(next, ref.tokens[step], "%s step %d: snug picks %d, the reference %d", label, step, next,
                     ref.tokens[step]);
        if (step + 1 < STEPS) cr_assert_eq(snug_context_decode(ctx, &next, 1, &err), SNUG_OK, "%s", err.message);
    }
    cr_log_info("%s: worst |diff| / bound = %.3f over %d steps", label, worst_ratio, STEPS);
    snug_context_free(ctx);
    snug_model_free(model);
    free(ref.tokens);
    free(ref.logits);
}

/* Shape 1: grouped-query attention (4 heads, 2 KV heads), separate output matrix. */
static snug_synth_params gqa_shape(uint32_t type) {
    snug_synth_params p = snug_synth_default_params();
    p.n_vocab = 320;
    p.n_embd = 64;
    p.n_layer = 2;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_ff = 96;
    p.weight_type = type;
    p.embd_type = type;
    p.seed = 11 + type;
    return p;
}

/* Shape 2: multi-query (3 heads of 32, one KV head), tied output, 3 layers, RoPE base 5000 with linear scaling 2. */
static snug_synth_params tied_mqa_shape(uint32_t type) {
    snug_synth_params p = snug_synth_default_params();
    p.n_vocab = 288;
    p.n_embd = 96;
    p.n_layer = 3;
    p.n_head = 3;
    p.n_head_kv = 1;
    p.n_ff = 160;
    p.tied_output = true;
    p.rope_freq_base = 5000.0f;
    p.rope_scale_linear = 2.0f;
    p.weight_type = type;
    p.embd_type = type;
    p.seed = 101 + type;
    return p;
}

#define REFERENCE_TESTS(type_name, type_id)                                                                           \
    Test(reference, type_name##_gqa) { check_against_reference(#type_name "_gqa.gguf", gqa_shape(type_id)); }         \
    Test(reference, type_name##_tied_mqa_rope_scaled) {                                                               \
        check_against_reference(#type_name "_tied.gguf", tied_mqa_shape(type_id));                                   \
    }

REFERENCE_TESTS(f32, SNUG_TYPE_F32)
REFERENCE_TESTS(f16, SNUG_TYPE_F16)
REFERENCE_TESTS(bf16, SNUG_TYPE_BF16)
REFERENCE_TESTS(q8_0, SNUG_TYPE_Q8_0)
REFERENCE_TESTS(q4_0, SNUG_TYPE_Q4_0)

/* Mixed: Q4_0 matrices with an F16 embedding / output (the common layout of downloaded files). */
Test(reference, q4_0_with_f16_embeddings) {
    snug_synth_params p = gqa_shape(SNUG_TYPE_Q4_0);
    p.embd_type = SNUG_TYPE_F16;
    check_against_reference("mixed.gguf", p);
}
