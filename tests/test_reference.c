/* test_reference.c — the engine against the independent numpy float64 reference (tests/ref/llama_ref.py) on
 * synthetic models written by snug's own writer, for every weight type.
 *
 * Both sides decode the same stored blocks, so the remaining difference is arithmetic. Bound per logit:
 *     |snug − ref| <= rel · max|ref logits of that step| + 1e-4
 * Float weight types (F32, F16, BF16): rel = 2e-3. The engine computes in f32 (dot products of up to n_ff terms,
 * softmax, RoPE angles), the reference in f64; both store K and V in f16 (the reference rounds them, modelling
 * snug's f16 KV cache), and f32 vs f64 values can round to neighbouring f16 values. Observed worst: 1.3e-4 of the
 * scale, so a 15× margin; a wrong RoPE pairing misses it by orders of magnitude.
 * Quantized weight types: rel = 2e-2. Their kernels also encode the activations to 8 bits per 32-element block
 * (Q8_0 / Q8_1; Q8_K per 256 for the K-quants), as llama.cpp does, which the reference deliberately does not
 * model: that costs up to 1/254 of a block's largest value per element, averaging out over a dot product.
 * Observed worst: 3e-2 of the scale (Q4_K; 1.7× margin). This checks the engine's arithmetic and block decoding, not
 * the weights' quantization error (that is test_quant's and test_quantize's job). Every step is teacher-forced (the
 * reference's greedy pick is fed to both), and both the worst logit and the RMS deviation over the vocabulary are
 * bounded: RMS <= 1e-3 (float; observed 4e-5) / 4e-2 (quantized; observed 2.1e-2) of the logits' RMS. With float
 * weights the greedy picks must agree at all 32 steps; with quantized weights near-ties may flip by design and the
 * agreement count is logged.
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

#define REF_PYTHON                "/usr/bin/python3"
#define REF_SCRIPT                "tests/ref/llama_ref.py"
#define STEPS                     32
#define LOGIT_REL_BOUND_FLOAT     2e-3
#define LOGIT_REL_BOUND_QUANTIZED 5e-2
#define LOGIT_ABS_BOUND           1e-4
#define LOGIT_RMS_BOUND_FLOAT     1e-3
#define LOGIT_RMS_BOUND_QUANTIZED 4e-2

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
    if (ci && strcmp(ci, "true") == 0)
        cr_assert_fail("CI=true but " REF_PYTHON " with numpy is missing (python3-numpy)");
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
    const char *argv[] = {REF_PYTHON, REF_SCRIPT, model_path, "--tokens", tokens,
                          "--steps",  steps,      "--out",    out_path,   NULL};
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

/* Writes the model, runs both engines, compares every step — on the CPU backend or on the Vulkan one. */
static void check_on_backend(const char *label, snug_synth_params p, snug_backend_choice backend) {
    require_python_numpy();
    if (backend == SNUG_BACKEND_VULKAN) test_require_vulkan();
    char model_path[4096], out_path[4200];
    snprintf(model_path, sizeof model_path, "%s", test_tmp_path(label));
    snprintf(out_path, sizeof out_path, "%s.ref", model_path);
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(model_path, &p, &err), SNUG_OK, "%s", err.message);
    ref_output ref = run_reference(model_path, out_path);

    snug_model *model;
    cr_assert_eq(snug_model_load(model_path, &model, &err), SNUG_OK, "%s", err.message);
    /* batch 4 < prompt: two prefill steps */
    snug_context_params cp = {.n_ctx = 64, .n_threads = 2, .n_batch = 4, .backend = backend};
    snug_context *ctx;
    cr_assert_eq(snug_context_create(model, &cp, &ctx, &err), SNUG_OK, "%s", err.message);
    cr_assert_str_eq(snug_context_backend_name(ctx), backend == SNUG_BACKEND_VULKAN ? "vulkan" : "cpu");
    cr_assert_eq(ref.n_vocab, p.n_vocab);
    cr_assert_eq(snug_context_decode(ctx, prompt, PROMPT_LEN, &err), SNUG_OK, "%s", err.message);
    const bool float_weights =
        p.weight_type == SNUG_TYPE_F32 || p.weight_type == SNUG_TYPE_F16 || p.weight_type == SNUG_TYPE_BF16;
    const double rel = float_weights ? LOGIT_REL_BOUND_FLOAT : LOGIT_REL_BOUND_QUANTIZED;
    const double rms_rel = float_weights ? LOGIT_RMS_BOUND_FLOAT : LOGIT_RMS_BOUND_QUANTIZED;
    double worst_ratio = 0.0, worst_rms = 0.0;
    int agreed = 0; /* steps where snug's greedy pick equals the reference's */
    for (int step = 0; step < STEPS; step++) {
        const float *logits = snug_context_logits(ctx);
        const double *want = ref.logits + (size_t)step * (size_t)ref.n_vocab;
        double scale = 0.0, diff2 = 0.0, sig2 = 0.0;
        for (int i = 0; i < ref.n_vocab; i++) scale = fmax(scale, fabs(want[i]));
        double bound = rel * scale + LOGIT_ABS_BOUND;
        for (int i = 0; i < ref.n_vocab; i++) {
            double diff = fabs((double)logits[i] - want[i]);
            worst_ratio = fmax(worst_ratio, diff / bound);
            diff2 += diff * diff;
            sig2 += want[i] * want[i];
            cr_assert(diff <= bound, "%s step %d token %d: snug %.7f, reference %.7f (|diff| %.2e > bound %.2e)", label,
                      step, i, (double)logits[i], want[i], diff, bound);
        }
        double rms = sqrt(diff2 / sig2);
        worst_rms = fmax(worst_rms, rms);
        cr_assert(rms <= rms_rel, "%s step %d: RMS difference %.2e of the logits' RMS (bound %.0e)", label, step, rms,
                  rms_rel);
        /* Float weights: the picks must be the same at every step. Quantized weights: the bounds above are the
         * check (a lead over the runner-up larger than twice the bound cannot flip within them); closer calls may
         * flip by design, so only the agreement count is reported. */
        bool same = argmax(logits, ref.n_vocab) == ref.tokens[step];
        agreed += same;
        if (float_weights) {
            cr_assert(same, "%s step %d: snug picks %d, the reference %d", label, step, argmax(logits, ref.n_vocab),
                      ref.tokens[step]);
        }
        /* Teacher forcing: feed the reference's pick, so one near-tie does not derail every later step. */
        snug_token next = ref.tokens[step];
        if (step + 1 < STEPS) cr_assert_eq(snug_context_decode(ctx, &next, 1, &err), SNUG_OK, "%s", err.message);
    }
    cr_log_info("%s: worst |diff| / bound = %.3f, worst RMS %.2e, greedy picks agree on %d of %d steps", label,
                worst_ratio, worst_rms, agreed, STEPS);
    snug_context_free(ctx);
    snug_model_free(model);
    free(ref.tokens);
    free(ref.logits);
}

static void check_against_reference(const char *label, snug_synth_params p) {
    check_on_backend(label, p, SNUG_BACKEND_CPU);
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

/* Shape 3: rows of 256, so that every type applies, K-quants included (GQA 4/2, separate output). */
static snug_synth_params wide_shape(uint32_t type) {
    snug_synth_params p = gqa_shape(type);
    p.n_embd = 256;
    p.n_ff = 512;
    p.seed = 1001 + type;
    return p;
}

#define WIDE_TEST(type_name, type_id)                                                                                  \
    Test(reference, type_name##_wide) { check_against_reference(#type_name "_wide.gguf", wide_shape(type_id)); }

WIDE_TEST(q8_0, SNUG_TYPE_Q8_0)
WIDE_TEST(q4_0, SNUG_TYPE_Q4_0)
WIDE_TEST(q4_1, SNUG_TYPE_Q4_1)
WIDE_TEST(q5_0, SNUG_TYPE_Q5_0)
WIDE_TEST(q5_1, SNUG_TYPE_Q5_1)
WIDE_TEST(q2_k, SNUG_TYPE_Q2_K)
WIDE_TEST(q3_k, SNUG_TYPE_Q3_K)
WIDE_TEST(q4_k, SNUG_TYPE_Q4_K)
WIDE_TEST(q5_k, SNUG_TYPE_Q5_K)
WIDE_TEST(q6_k, SNUG_TYPE_Q6_K)
WIDE_TEST(f16, SNUG_TYPE_F16)

#define REFERENCE_TESTS(type_name, type_id)                                                                            \
    Test(reference, type_name##_gqa) { check_against_reference(#type_name "_gqa.gguf", gqa_shape(type_id)); }          \
    Test(reference, type_name##_tied_mqa_rope_scaled) {                                                                \
        check_against_reference(#type_name "_tied.gguf", tied_mqa_shape(type_id));                                     \
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

/* ---- architectures of the llama family ----------------------------------------------------------------------- *
 * Each writes its real tensors (synth.h): qwen2 Q/K/V biases (random, spread 0.5), qwen3 per-head Q/K norms (around
 * 1, spread 0.4) with a head size other than n_embd / n_head, phi3 fused QKV and gate/up; qwen2/qwen3/phi3 use
 * NeoX-style RoPE. The reference computes them from the GGUF facts (tests/ref/llama_ref.py, ARCHS), so a skipped
 * bias or norm, a wrong row order in a fused tensor or the wrong RoPE pairing fails the bounds above. */

/* qwen2: GQA 4/2, tied output (as the small Qwen2 models are). */
static snug_synth_params qwen2_shape(uint32_t type) {
    snug_synth_params p = gqa_shape(type);
    p.architecture = "qwen2";
    p.tied_output = true;
    p.rope_freq_base = 1000000.0f;
    p.seed = 2001 + type;
    return p;
}

/* qwen3: 4 heads of 32 over an embedding of 64 (q_dim 128 != n_embd, as in Qwen3), GQA 4/2. */
static snug_synth_params qwen3_shape(uint32_t type) {
    snug_synth_params p = gqa_shape(type);
    p.architecture = "qwen3";
    p.head_dim = 32;
    p.seed = 3001 + type;
    return p;
}

/* phi3: 3 heads of 32 without grouping (as Phi-3-mini), fused QKV [96, 288] and gate/up [96, 320]. */
static snug_synth_params phi3_shape(uint32_t type) {
    snug_synth_params p = gqa_shape(type);
    p.architecture = "phi3";
    p.n_embd = 96;
    p.n_head = 3;
    p.n_head_kv = 3;
    p.n_ff = 160;
    p.seed = 4001 + type;
    return p;
}

/* mistral: the llama layout under "mistral." keys. */
static snug_synth_params mistral_shape(uint32_t type) {
    snug_synth_params p = gqa_shape(type);
    p.architecture = "mistral";
    p.seed = 5001 + type;
    return p;
}

#define ARCH_TESTS(arch, type_name, type_id)                                                                           \
    Test(reference, arch##_##type_name) {                                                                              \
        check_against_reference(#arch "_" #type_name ".gguf", arch##_shape(type_id));                                  \
    }

ARCH_TESTS(qwen2, f32, SNUG_TYPE_F32)
ARCH_TESTS(qwen2, q8_0, SNUG_TYPE_Q8_0)
ARCH_TESTS(qwen3, f32, SNUG_TYPE_F32)
ARCH_TESTS(qwen3, q8_0, SNUG_TYPE_Q8_0)
ARCH_TESTS(phi3, f32, SNUG_TYPE_F32)
ARCH_TESTS(phi3, q8_0, SNUG_TYPE_Q8_0)
ARCH_TESTS(mistral, f32, SNUG_TYPE_F32)
ARCH_TESTS(mistral, q8_0, SNUG_TYPE_Q8_0)

/* K-quant rows (256) through the fused phi3 views and the qwen3 norms. */
Test(reference, phi3_q4_k_wide) {
    snug_synth_params p = phi3_shape(SNUG_TYPE_Q4_K);
    p.n_embd = 256;
    p.n_head = 4;
    p.n_head_kv = 4;
    p.n_ff = 512;
    check_against_reference("phi3_q4_k_wide.gguf", p);
}

Test(reference, qwen3_q6_k_wide) {
    snug_synth_params p = qwen3_shape(SNUG_TYPE_Q6_K);
    p.n_embd = 256;
    p.head_dim = 64;
    p.n_ff = 512;
    check_against_reference("qwen3_q6_k_wide.gguf", p);
}

/* The Vulkan backend (issue 14) against the same reference: every weight type it has kernels for, at rows of 256 (the
 * K-quants), with GQA; tied MQA with scaled RoPE; qwen2's biases and qwen3's per-head norms with NeoX pairs. Same
 * bounds as the CPU: its matmuls keep activations in f32 (no 8-bit encoding), so they sit well inside the quantized
 * bound. On lavapipe (CI) each takes about a second. */
#define VULKAN_WIDE(type_name, type_id)                                                                                \
    Test(reference_vulkan, type_name##_wide) {                                                                         \
        check_on_backend("vk_" #type_name "_wide.gguf", wide_shape(type_id), SNUG_BACKEND_VULKAN);                     \
    }
VULKAN_WIDE(f32, SNUG_TYPE_F32)
VULKAN_WIDE(f16, SNUG_TYPE_F16)
VULKAN_WIDE(q8_0, SNUG_TYPE_Q8_0)
VULKAN_WIDE(q4_0, SNUG_TYPE_Q4_0)
VULKAN_WIDE(q4_k, SNUG_TYPE_Q4_K)
VULKAN_WIDE(q6_k, SNUG_TYPE_Q6_K)

Test(reference_vulkan, f16_tied_mqa_rope_scaled) {
    check_on_backend("vk_f16_tied_mqa.gguf", tied_mqa_shape(SNUG_TYPE_F16), SNUG_BACKEND_VULKAN);
}

Test(reference_vulkan, qwen2_q8_0) {
    check_on_backend("vk_qwen2_q8_0.gguf", qwen2_shape(SNUG_TYPE_Q8_0), SNUG_BACKEND_VULKAN);
}

Test(reference_vulkan, qwen3_q6_k_wide) {
    snug_synth_params p = qwen3_shape(SNUG_TYPE_Q6_K);
    p.n_embd = 256;
    p.head_dim = 64;
    p.n_ff = 512;
    check_on_backend("vk_qwen3_q6_k_wide.gguf", p, SNUG_BACKEND_VULKAN);
}

/* The reference checks itself first: its dequantisers against hand-worked blocks, its GGUF parser, and its
 * vectorised forward pass against plain per-element loops for llama, qwen2, qwen3 and phi3 (biases, per-head norms,
 * NeoX pairs and fused rows spelled out one index at a time), plus its refusals (a missing architecture tensor,
 * LongRoPE factors). A broken reference would make every comparison above meaningless. */
Test(reference, reference_self_test) {
    require_python_numpy();
    const char *argv[] = {REF_PYTHON, REF_SCRIPT, "--selftest-format", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "llama_ref.py --selftest-format failed (%d):\n%s\n%s", r.exit_code, r.out, r.err);
    cr_assert_not_null(strstr(r.out, "tiny phi3 kv_f16=True vs loops"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "selftest-format: PASS"), "%s", r.out);
    test_run_free(&r);
}
