/* test_context.c — the memory contract and the engine's failure modes.
 *
 * Allocated == planned, byte for byte; the plan's items add up to the arena; contexts that cannot take more tokens
 * say so with numbers; a non-finite logit is an error, never a token; results do not depend on the thread count.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convert/synth.h"
#include "snug.h"
#include "support/support.h"

/* The tiny default shape, with heads of 32 so that q8_0 KV (whole 32-element blocks per head) applies. */
static snug_synth_params test_shape(void) {
    snug_synth_params p = snug_synth_default_params();
    p.n_head = 2;
    p.n_head_kv = 1;
    return p;
}

static const char *write_model(const char *name, uint32_t type) {
    static char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path(name));
    snug_synth_params p = test_shape();
    p.weight_type = type;
    p.embd_type = type;
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK, "%s", err.message);
    return path;
}

static snug_model *load(const char *path) {
    snug_model *m;
    snug_error err = {0};
    cr_assert_eq(snug_model_load(path, &m, &err), SNUG_OK, "%s", err.message);
    return m;
}

static snug_plan *plan_for(snug_model *m, const snug_context_params *cp) {
    snug_plan *plan;
    snug_error err = {0};
    cr_assert_eq(snug_plan_create(snug_model_gguf(m), cp, &plan, &err), SNUG_OK, "%s", err.message);
    cr_assert(snug_plan_fits(plan));
    return plan;
}

Test(context, arena_equals_plan_byte_for_byte) {
    snug_model *m = load(write_model("plan.gguf", SNUG_TYPE_Q8_0));
    int32_t contexts[] = {1, 17, 256};
    snug_kv_type kv_types[] = {SNUG_KV_F16, SNUG_KV_Q8_0, SNUG_KV_F32};
    for (size_t i = 0; i < sizeof contexts / sizeof *contexts; i++) {
        snug_context_params cp = {.n_ctx = contexts[i], .n_threads = 2, .kv_type = kv_types[i]};
        snug_plan *plan = plan_for(m, &cp);
        uint64_t arena_items = 0, all = 0;
        const char *arena_names[] = {"kv_cache", "activations", "attention_scratch", "matmul_scratch", "logits",
                                     "token_ids", "tokenizer_scratch", "sampler", "sequences"};
        for (size_t k = 0; k < sizeof arena_names / sizeof *arena_names; k++) {
            uint64_t bytes = snug_plan_item_bytes(plan, arena_names[k]);
            cr_assert_gt(bytes, 0, "item %s missing", arena_names[k]);
            arena_items += bytes;
        }
        for (size_t k = 0; k < snug_plan_item_count(plan); k++) all += snug_plan_item_at(plan, k).bytes;
        cr_assert_eq(arena_items, snug_plan_arena_bytes(plan), "arena items add up to %llu, the arena is %llu",
                     (unsigned long long)arena_items, (unsigned long long)snug_plan_arena_bytes(plan));
        cr_assert_eq(all, snug_plan_total_bytes(plan), "items add up to %llu, total says %llu", (unsigned long long)all,
                     (unsigned long long)snug_plan_total_bytes(plan));
        snug_context *ctx;
        snug_error err = {0};
        cr_assert_eq(snug_context_create_planned(m, plan, &ctx, &err), SNUG_OK, "%s", err.message);
        cr_assert_eq(snug_context_arena_bytes(ctx), snug_plan_arena_bytes(plan));
        cr_assert_eq(snug_context_arena_used_bytes(ctx), snug_plan_arena_bytes(plan), "carved %llu of a planned %llu",
                     (unsigned long long)snug_context_arena_used_bytes(ctx),
                     (unsigned long long)snug_plan_arena_bytes(plan));
        snug_context_free(ctx);
        snug_plan_free(plan);
    }
    snug_model_free(m);
}

/* The KV item follows the formula 2 (K and V) × layers × context × KV heads × head dim × bytes per element,
 * computed here from the synthetic model's shape, not from the engine; q8_0 is 34 bytes per 32 elements. */
Test(context, kv_cache_item_matches_formula) {
    snug_model *m = load(write_model("kv.gguf", SNUG_TYPE_F32));
    snug_synth_params p = test_shape();
    uint64_t head_dim = (uint64_t)(p.n_embd / p.n_head);
    uint64_t elements = 2ull * (uint64_t)p.n_layer * 256ull * (uint64_t)p.n_head_kv * head_dim;
    struct {
        snug_kv_type kv;
        uint64_t bytes;
    } cases[] = {{SNUG_KV_F16, elements * 2}, {SNUG_KV_F32, elements * 4}, {SNUG_KV_Q8_0, elements / 32 * 34}};
    for (size_t i = 0; i < 3; i++) {
        snug_context_params cp = {.n_ctx = 256, .n_threads = 1, .kv_type = cases[i].kv};
        snug_plan *plan = plan_for(m, &cp);
        cr_assert_eq(snug_plan_item_bytes(plan, "kv_cache"), cases[i].bytes, "kv %d: %llu", cases[i].kv,
                     (unsigned long long)snug_plan_item_bytes(plan, "kv_cache"));
        snug_plan_free(plan);
    }
    snug_model_free(m);
}

Test(context, context_full_is_an_error_with_numbers) {
    snug_model *m = load(write_model("full.gguf", SNUG_TYPE_F32));
    snug_context_params cp = {.n_ctx = 8, .n_threads = 1};
    snug_context *ctx;
    snug_error err = {0};
    cr_assert_eq(snug_context_create(m, &cp, &ctx, &err), SNUG_OK);
    snug_token tokens[9] = {1, 3, 4, 5, 6, 7, 8, 9, 10};
    cr_assert_eq(snug_context_decode(ctx, tokens, 6, &err), SNUG_OK);
    cr_assert_eq(snug_context_decode(ctx, tokens, 3, &err), SNUG_E_CONTEXT_FULL);
    cr_assert_not_null(strstr(err.message, "3 tokens do not fit"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "6 of the context's 8"), "%s", err.message);
    cr_assert_eq(snug_context_n_past(ctx), 6, "a refused batch must not change the cache");
    cr_assert_eq(snug_context_decode(ctx, tokens, 2, &err), SNUG_OK);
    snug_context_reset(ctx);
    cr_assert_eq(snug_context_n_past(ctx), 0);
    cr_assert_eq(snug_context_decode(ctx, tokens, 8, &err), SNUG_OK);
    snug_context_free(ctx);
    snug_model_free(m);
}

Test(context, out_of_vocabulary_token_is_refused) {
    snug_model *m = load(write_model("oov.gguf", SNUG_TYPE_F32));
    snug_context *ctx;
    snug_error err = {0};
    snug_context_params cp = {.n_ctx = 16, .n_threads = 1};
    cr_assert_eq(snug_context_create(m, &cp, &ctx, &err), SNUG_OK);
    snug_token bad[2] = {1, 320};
    cr_assert_eq(snug_context_decode(ctx, bad, 2, &err), SNUG_E_ARGUMENT);
    cr_assert_not_null(strstr(err.message, "token 320"), "%s", err.message);
    cr_assert_null(snug_context_logits(ctx));
    snug_context_free(ctx);
    snug_model_free(m);
}

/* A NaN in the weights must surface as SNUG_E_NUMERIC, not as a sampled token. */
Test(context, non_finite_logits_are_a_numeric_error) {
    const char *path = write_model("nan.gguf", SNUG_TYPE_F32);
    snug_gguf *g;
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open(path, 0, &g, &err), SNUG_OK);
    const snug_tensor_info *t = snug_gguf_find_tensor(g, "output_norm.weight");
    cr_assert_not_null(t);
    long at = (long)(snug_gguf_data_offset(g) + t->offset);
    snug_gguf_close(g);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    float nan = NAN;
    fseek(f, at, SEEK_SET);
    fwrite(&nan, sizeof nan, 1, f);
    fclose(f);

    snug_model *m = load(path);
    snug_context *ctx;
    snug_context_params cp = {.n_ctx = 16, .n_threads = 1};
    cr_assert_eq(snug_context_create(m, &cp, &ctx, &err), SNUG_OK);
    snug_token tokens[2] = {1, 40};
    cr_assert_eq(snug_context_decode(ctx, tokens, 2, &err), SNUG_E_NUMERIC);
    cr_assert_not_null(strstr(err.message, "nan"), "%s", err.message);
    snug_token out;
    cr_assert_neq(snug_context_sample(ctx, &out, &err), SNUG_OK, "sampling after a numeric error must fail");
    snug_context_free(ctx);
    snug_model_free(m);
}

/* Threads: 1 and 2 give identical logits, bit for bit (each output is computed by one thread in a fixed order).
 * Batches: the prompt in one batch (register-tiled prefill kernels) and token by token (decode kernels) agree within
 * float rounding — 1e-4 of the largest logit: the tile and vec_dot kernels add the same block products in another
 * order (observed differences are ~1e-6 of the scale). */
static void logits_for(snug_model *m, int32_t threads, int32_t batch, const snug_token *tokens, int n, float *out) {
    snug_context_params cp = {.n_ctx = 32, .n_threads = threads, .n_batch = batch};
    snug_context *ctx;
    snug_error err = {0};
    cr_assert_eq(snug_context_create(m, &cp, &ctx, &err), SNUG_OK);
    cr_assert_eq(snug_context_decode(ctx, tokens, (size_t)n, &err), SNUG_OK, "%s", err.message);
    memcpy(out, snug_context_logits(ctx), 320 * sizeof(float));
    snug_context_free(ctx);
}

Test(context, results_identical_across_threads_and_batches) {
    uint32_t types[] = {SNUG_TYPE_Q4_0, SNUG_TYPE_Q8_0, SNUG_TYPE_F16};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        char name[32];
        snprintf(name, sizeof name, "threads-%u.gguf", types[ti]);
        snug_model *m = load(write_model(name, types[ti]));
        snug_token tokens[12] = {1, 300, 260, 270, 280, 290, 3, 4, 5, 6, 7, 8};
        float one_thread[320], two_threads[320], token_by_token[320], odd_batches[320];
        logits_for(m, 1, 16, tokens, 12, one_thread);
        logits_for(m, 2, 16, tokens, 12, two_threads);
        cr_assert(memcmp(one_thread, two_threads, sizeof one_thread) == 0, "type %u: 1 and 2 threads differ",
                  types[ti]);
        logits_for(m, 2, 1, tokens, 12, token_by_token);
        logits_for(m, 2, 5, tokens, 12, odd_batches);
        float scale = 0;
        for (int i = 0; i < 320; i++) scale = fmaxf(scale, fabsf(one_thread[i]));
        for (int i = 0; i < 320; i++) {
            cr_assert(fabsf(token_by_token[i] - one_thread[i]) <= 1e-4f * scale, "type %u logit %d: batch 1 %g vs %g",
                      types[ti], i, (double)token_by_token[i], (double)one_thread[i]);
            cr_assert(fabsf(odd_batches[i] - one_thread[i]) <= 1e-4f * scale, "type %u logit %d: batch 5 %g vs %g",
                      types[ti], i, (double)odd_batches[i], (double)one_thread[i]);
        }
        snug_model_free(m);
    }
}

Test(context, absurd_parameters_are_refused) {
    snug_model *m = load(write_model("absurd.gguf", SNUG_TYPE_F32));
    snug_context *ctx;
    snug_error err = {0};
    snug_context_params too_long = {.n_ctx = 1 << 30};
    snug_context_params huge_ctx = {.n_ctx = 1 << 24, .mem_limit_bytes = 256ull << 20, .headroom_set = true};
    cr_assert_eq(snug_context_create(m, &huge_ctx, &ctx, &err), SNUG_E_DOES_NOT_FIT, "16M tokens of KV in 256 MiB");
    cr_assert_not_null(strstr(err.message, "kv_cache"), "%s", err.message);
    cr_assert_eq(snug_context_create(m, &too_long, &ctx, &err), SNUG_E_ARGUMENT);
    snug_context_params threads = {.n_threads = 100000};
    cr_assert_eq(snug_context_create(m, &threads, &ctx, &err), SNUG_E_ARGUMENT);
    snug_context_params negative = {.n_batch = -3};
    cr_assert_eq(snug_context_create(m, &negative, &ctx, &err), SNUG_E_ARGUMENT);
    snug_model_free(m);
}

Test(context, header_only_file_cannot_run) {
    char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path("header-only.gguf"));
    snug_synth_params p = snug_synth_default_params();
    p.header_only = true;
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK);
    snug_gguf *g;
    cr_assert_eq(snug_gguf_open(path, SNUG_GGUF_ALLOW_MISSING_DATA, &g, &err), SNUG_OK, "%s", err.message);
    cr_assert(!snug_gguf_data_complete(g));
    snug_gguf_close(g);
    snug_model *m;
    cr_assert_eq(snug_model_load(path, &m, &err), SNUG_E_FORMAT);
    cr_assert_not_null(strstr(err.message, "a header-only GGUF file"), "%s", err.message);
    cr_assert_not_null(strstr(err.hint, "snug plan"), "%s", err.hint);
}

/* Runs the same 40 tokens (teacher-forced) through contexts with each KV type; returns the logits of every step. */
static void logits_with_kv(snug_model *m, snug_kv_type kv, const snug_token *tokens, int n, float *out) {
    snug_context_params cp = {.n_ctx = 64, .n_threads = 2, .kv_type = kv};
    snug_context *ctx;
    snug_error err = {0};
    cr_assert_eq(snug_context_create(m, &cp, &ctx, &err), SNUG_OK, "%s", err.message);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(snug_context_decode(ctx, &tokens[i], 1, &err), SNUG_OK, "%s", err.message);
        memcpy(out + (size_t)i * 320, snug_context_logits(ctx), 320 * sizeof(float));
    }
    snug_context_free(ctx);
}

/* q8_0 KV against f16 KV. Bound: every logit within 3% of that step's largest |logit| (q8_0 keeps 8 bits per value
 * with one f16 scale per 32, a relative error of about 1/254 of the block maximum per element; the attention
 * average and the residual stream dilute it further — observed worst 0.86%, so the bound has a 3.5× margin). f32 KV must
 * be at least as close to f16 as q8_0 is, and q8_0 must actually differ (the quantized path really ran). */
Test(context, q8_0_kv_agrees_with_f16_within_bound) {
    snug_model *m = load(write_model("kvq.gguf", SNUG_TYPE_F32));
    enum { N = 40 };
    snug_token tokens[N];
    for (int i = 0; i < N; i++) tokens[i] = i == 0 ? 1 : 3 + (i * 37) % 317;
    static float f16[N * 320], q8[N * 320], f32[N * 320];
    logits_with_kv(m, SNUG_KV_F16, tokens, N, f16);
    logits_with_kv(m, SNUG_KV_Q8_0, tokens, N, q8);
    logits_with_kv(m, SNUG_KV_F32, tokens, N, f32);
    double worst_q8 = 0, worst_f32 = 0;
    for (int s = 0; s < N; s++) {
        double scale = 0;
        for (int i = 0; i < 320; i++) scale = fmax(scale, fabs(f16[s * 320 + i]));
        for (int i = 0; i < 320; i++) {
            worst_q8 = fmax(worst_q8, fabs(q8[s * 320 + i] - f16[s * 320 + i]) / scale);
            worst_f32 = fmax(worst_f32, fabs(f32[s * 320 + i] - f16[s * 320 + i]) / scale);
        }
    }
    cr_log_info("q8_0 vs f16: worst %.4f of the logit scale; f32 vs f16: %.5f", worst_q8, worst_f32);
    cr_assert(worst_q8 <= 0.03, "q8_0 KV is %.4f of the logit scale away from f16 (bound 0.03)", worst_q8);
    cr_assert(worst_q8 > 0, "q8_0 logits are identical to f16: the quantized cache did not run");
    cr_assert(worst_f32 <= worst_q8, "f32 KV (%.5f) should be closer to f16 than q8_0 (%.5f)", worst_f32, worst_q8);
    snug_model_free(m);
}
