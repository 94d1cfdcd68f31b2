/* test_plan.c — the planner on real model shapes, as header-only GGUF files written by snug's own writer.
 *
 * Expected KV sizes come from the issue and from the formula 2 × layers × context × KV heads × head dim × bytes,
 * computed here by hand; "largest context that fits" is checked by re-planning one step larger, not by trusting the
 * planner's own search. Runs through the CLI (`snug plan … --json`), as a user would.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "convert/synth.h"
#include "gguf/gguf.h"
#include "gguf/types.h"
#include "gguf/writer.h"
#include "snug.h"
#include "support/support.h"

typedef struct shape {
    const char *file, *arch;
    int32_t n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab, n_ctx_train;
    bool tied;
    uint32_t weight_type;
    int32_t head_dim; /* 0: n_embd / n_head; otherwise written as attention.key_length */
} shape;

/* Llama-3.2-3B: 28 layers, 24 heads, 8 KV heads, head dim 128, trained 131072, vocab 128256, tied (issue 3). */
static const shape llama32_3b = {"llama-3.2-3b.gguf", "llama", 28, 3072, 24, 8, 8192, 128256, 131072, true,
                                 SNUG_TYPE_F16};
/* Llama-3.1-8B: 32 layers, 32 heads, 8 KV heads, head dim 128, feed-forward 14336, trained 131072. */
static const shape llama31_8b = {"llama-3.1-8b.gguf", "llama", 32, 4096, 32, 8, 14336, 128256, 131072, false,
                                 SNUG_TYPE_Q4_0};
/* Qwen2.5-0.5B: 24 layers, 14 heads, 2 KV heads, head dim 64, feed-forward 4864, vocab 151936, trained 32768. */
static const shape qwen25_05b = {"qwen2.5-0.5b.gguf", "qwen2", 24, 896, 14, 2, 4864, 151936, 32768, true,
                                 SNUG_TYPE_Q8_0};

/* Qwen3-0.6B: 28 layers, 16 heads of 128 (q_dim 2048 over n_embd 1024), 8 KV heads, feed-forward 3072, vocab 151936,
 * trained 40960, tied. KV per token: 2 × 28 × 8 × 128 × 2 bytes = 114,688. */
static const shape qwen3_06b = {"qwen3-0.6b.gguf", "qwen3", 28, 1024, 16, 8, 3072, 151936, 40960, true,
                                SNUG_TYPE_Q8_0,    128};
/* Phi-3-mini-4k: 32 layers, 32 heads of 96 without grouping, feed-forward 8192, vocab 32064, trained 4096. */
static const shape phi3_mini = {"phi-3-mini-4k.gguf", "phi3", 32, 3072, 32, 32, 8192, 32064, 4096, false,
                                SNUG_TYPE_Q4_0};

static const char *write_header_only(const shape *s) {
    static char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path(s->file));
    if (access(path, R_OK) == 0) return path;
    snug_synth_params p = snug_synth_default_params();
    p.architecture = s->arch;
    p.n_layer = s->n_layer;
    p.n_embd = s->n_embd;
    p.n_head = s->n_head;
    p.n_head_kv = s->n_head_kv;
    p.n_ff = s->n_ff;
    p.n_vocab = s->n_vocab;
    p.n_ctx_train = s->n_ctx_train;
    p.tied_output = s->tied;
    p.weight_type = s->weight_type;
    p.embd_type = s->weight_type;
    p.head_dim = s->head_dim;
    p.header_only = true;
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK, "%s", err.message);
    return path;
}

typedef struct plan_result {
    int exit_code;
    json_t *json;
    char *err;
} plan_result;

/* Runs `snug plan FILE ARGS… --json`. */
static plan_result plan(const char *file, const char *const *args) {
    const char *argv[24] = {test_snug_bin(), "plan", file};
    int n = 3;
    for (; args && *args; args++) argv[n++] = *args;
    argv[n++] = "--json";
    argv[n] = NULL;
    test_run_result r = test_run(argv);
    json_error_t jerr;
    json_t *json = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(json, "plan printed no JSON (exit %d): %s\n%s", r.exit_code, jerr.text, r.err);
    plan_result out = {r.exit_code, json, r.err};
    free(r.out);
    return out;
}

static void plan_free(plan_result *r) {
    json_decref(r->json);
    free(r->err);
}

static json_int_t item_bytes(json_t *plan_json, const char *name) {
    json_t *items = json_object_get(plan_json, "items");
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        if (strcmp(json_string_value(json_object_get(item, "name")), name) == 0) {
            return json_integer_value(json_object_get(item, "bytes"));
        }
    }
    cr_assert_fail("plan has no item '%s'", name);
    return -1;
}

static json_int_t integer(json_t *obj, const char *key) { return json_integer_value(json_object_get(obj, key)); }

static const char *bytes_arg(char *buf, size_t cap, json_int_t bytes) {
    snprintf(buf, cap, "%lld", (long long)bytes);
    return buf;
}

/* Bytes of the KV cache by the formula, per element type (q8_0: 34 bytes per 32 elements). */
static uint64_t kv_formula(const shape *s, uint64_t ctx, const char *kv) {
    uint64_t head_dim = (uint64_t)(s->head_dim ? s->head_dim : s->n_embd / s->n_head);
    uint64_t elements = 2ull * (uint64_t)s->n_layer * ctx * (uint64_t)s->n_head_kv * head_dim;
    if (strcmp(kv, "q8_0") == 0) return elements / 32 * 34;
    return elements * (strcmp(kv, "f32") == 0 ? 4 : 2);
}

Test(plan, llama32_3b_kv_sizes_match_the_issue) {
    const char *file = write_header_only(&llama32_3b);
    const char *at_131072[] = {"--ctx", "131072", "--kv", "f16", "--mem", "64GiB", NULL};
    plan_result r = plan(file, at_131072);
    cr_assert_eq(item_bytes(r.json, "kv_cache"), 15032385536ll);
    cr_assert_eq(item_bytes(r.json, "kv_cache"), (json_int_t)kv_formula(&llama32_3b, 131072, "f16"));
    plan_free(&r);
    const char *at_8192[] = {"--ctx", "8192", "--kv", "f16", NULL};
    r = plan(file, at_8192);
    cr_assert_eq(item_bytes(r.json, "kv_cache"), 939524096ll);
    plan_free(&r);
    const char *q8[] = {"--ctx", "8192", "--kv", "q8_0", NULL};
    r = plan(file, q8);
    cr_assert_eq(item_bytes(r.json, "kv_cache") * 32, 939524096ll * 17, "q8_0 KV must be 17/32 of f16");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "kv_type")), "q8_0");
    plan_free(&r);
}

Test(plan, llama32_3b_on_m2_16g_defaults_to_8192) {
    const char *file = write_header_only(&llama32_3b);
    const char *args[] = {"--device", "apple-m2-16g", NULL};
    plan_result r = plan(file, args);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(json_is_true(json_object_get(r.json, "fits")));
    cr_assert_eq(integer(r.json, "context"), 8192);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "kv_type")), "f16");
    cr_assert_leq(integer(r.json, "total_bytes"), integer(r.json, "budget_bytes"));
    plan_free(&r);
}

Test(plan, llama32_3b_trained_context_refused_on_m2_16g_with_alternatives) {
    const char *file = write_header_only(&llama32_3b);
    const char *args[] = {"--device", "apple-m2-16g", "--ctx", "131072", NULL};
    plan_result r = plan(file, args);
    cr_assert_eq(r.exit_code, 3, "exit %d: %s", r.exit_code, r.err);
    cr_assert(json_is_false(json_object_get(r.json, "fits")));
    cr_assert_eq(integer(r.json, "context"), 131072, "an explicit context is honoured exactly or refused");
    json_t *overflow = json_object_get(r.json, "overflow");
    cr_assert_str_eq(json_string_value(json_object_get(overflow, "item")), "kv_cache");
    cr_assert_gt(integer(overflow, "needed_bytes"), integer(overflow, "available_bytes"));
    json_t *alternatives = json_object_get(r.json, "alternatives");
    cr_assert_geq(json_array_size(alternatives), 2, "a smaller context and q8_0 KV at least");
    /* Every alternative must really fit: re-plan it. */
    size_t i;
    json_t *alt;
    json_array_foreach(alternatives, i, alt) {
        cr_assert_leq(integer(alt, "total_bytes"), integer(r.json, "budget_bytes"), "%s",
                      json_string_value(json_object_get(alt, "text")));
    }
    json_t *first = json_array_get(alternatives, 0);
    char ctx[16];
    snprintf(ctx, sizeof ctx, "%lld", (long long)integer(first, "context"));
    const char *again[] = {
        "--device", "apple-m2-16g", "--ctx", ctx, "--kv", json_string_value(json_object_get(first, "kv_type")), NULL};
    plan_result r2 = plan(file, again);
    cr_assert_eq(r2.exit_code, 0, "the first alternative (%s) must fit: %s",
                 json_string_value(json_object_get(first, "text")), r2.err);
    plan_free(&r2);
    cr_assert_not_null(strstr(r.err, "kv_cache"), "the refusal names the item: %s", r.err);
    cr_assert_not_null(strstr(r.err, "hint:"), "and an alternative: %s", r.err);
    plan_free(&r);
}

Test(plan, llama32_3b_ctx_max_is_the_largest_that_fits) {
    const char *file = write_header_only(&llama32_3b);
    const char *args[] = {"--device", "apple-m2-16g", "--ctx", "max", "--kv", "f16", NULL};
    plan_result r = plan(file, args);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    json_int_t ctx = integer(r.json, "context");
    cr_assert_gt(ctx, 8192);
    cr_assert_lt(ctx, 131072);
    cr_assert_eq(ctx % 256, 0);
    plan_free(&r);
    char larger[16];
    snprintf(larger, sizeof larger, "%lld", (long long)(ctx + 256));
    const char *step[] = {"--device", "apple-m2-16g", "--ctx", larger, "--kv", "f16", NULL};
    plan_result r2 = plan(file, step);
    cr_assert_eq(r2.exit_code, 3, "context %s (256 more than max) must not fit", larger);
    plan_free(&r2);
}

Test(plan, kv_auto_chooses_q8_0_to_reach_a_requested_context) {
    const char *file = write_header_only(&llama32_3b);
    /* At 40960 tokens f16 KV needs 4.375 GiB; with ~6 GiB of F16 weights on the M2 16 GB budget only q8_0 fits. */
    const char *args[] = {"--device", "apple-m2-16g", "--ctx", "40960", NULL};
    plan_result r = plan(file, args);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "kv_type")), "q8_0");
    cr_assert_neq(json_string_value(json_object_get(r.json, "kv_reason"))[0], '\0', "the plan says why");
    plan_free(&r);
    const char *f16[] = {"--device", "apple-m2-16g", "--ctx", "40960", "--kv", "f16", NULL};
    r = plan(file, f16);
    cr_assert_eq(r.exit_code, 3, "with f16 forced the same context must not fit");
    plan_free(&r);
}

Test(plan, llama31_8b_and_qwen25_kv_at_trained_context) {
    const char *big[] = {"--ctx", "131072", "--kv", "f16", NULL};
    plan_result r = plan(write_header_only(&llama31_8b), big);
    cr_assert_eq(item_bytes(r.json, "kv_cache"), 16ll << 30, "Llama-3.1-8B: 16 GiB of f16 KV at 131072");
    plan_free(&r);
    const char *qwen[] = {"--ctx", "32768", "--kv", "f16", NULL};
    r = plan(write_header_only(&qwen25_05b), qwen);
    cr_assert_eq(item_bytes(r.json, "kv_cache"), 384ll << 20, "Qwen2.5-0.5B: 384 MiB of f16 KV at 32768");
    cr_assert_eq(item_bytes(r.json, "kv_cache"), (json_int_t)kv_formula(&qwen25_05b, 32768, "f16"));
    json_t *model = json_object_get(r.json, "model");
    cr_assert_str_eq(json_string_value(json_object_get(model, "architecture")), "qwen2");
    cr_assert(json_is_false(json_object_get(model, "data_complete")));
    plan_free(&r);
}

/* Qwen3's head size comes from attention.key_length (128), not n_embd / n_head (64): the KV cache is twice what the
 * naive formula gives. Phi-3 (fused QKV and gate/up tensors) plans like any other model. */
Test(plan, qwen3_and_phi3_kv_from_their_head_size) {
    const char *at_40960[] = {"--ctx", "40960", "--kv", "f16", "--mem", "64GiB", NULL};
    plan_result r = plan(write_header_only(&qwen3_06b), at_40960);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_eq(item_bytes(r.json, "kv_cache"), 40960ll * 114688, "Qwen3-0.6B: 4.375 GiB of f16 KV at 40960");
    cr_assert_eq(item_bytes(r.json, "kv_cache"), (json_int_t)kv_formula(&qwen3_06b, 40960, "f16"));
    json_t *model = json_object_get(r.json, "model");
    cr_assert_str_eq(json_string_value(json_object_get(model, "architecture")), "qwen3");
    cr_assert(json_is_true(json_object_get(model, "runnable")));
    plan_free(&r);
    const char *at_4096[] = {"--ctx", "4096", "--kv", "f16", NULL};
    r = plan(write_header_only(&phi3_mini), at_4096);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_eq(item_bytes(r.json, "kv_cache"), 3ll << 29, "Phi-3-mini: 1.5 GiB of f16 KV at 4096");
    model = json_object_get(r.json, "model");
    cr_assert_str_eq(json_string_value(json_object_get(model, "architecture")), "phi3");
    cr_assert(json_is_true(json_object_get(model, "runnable")));
    plan_free(&r);
}

Test(plan, small_mem_refuses_naming_the_item_and_both_numbers) {
    const char *file = write_header_only(&llama31_8b);
    /* 8B at Q4_0 is ~4.3 GiB of weights: 3 GiB cannot hold them. */
    const char *args[] = {"--mem", "3GiB", "--headroom", "0", NULL};
    plan_result r = plan(file, args);
    cr_assert_eq(r.exit_code, 3);
    json_t *overflow = json_object_get(r.json, "overflow");
    cr_assert_str_eq(json_string_value(json_object_get(overflow, "item")), "weights_q4_0");
    cr_assert_not_null(strstr(r.err, "weights_q4_0 needs"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "GiB but"), "%s", r.err);
    plan_free(&r);
    /* Enough for the weights but not for the KV cache at 32768 → the KV cache is named. */
    const char *kv[] = {"--mem", "6GiB", "--headroom", "0", "--ctx", "32768", "--kv", "f16", NULL};
    r = plan(file, kv);
    cr_assert_eq(r.exit_code, 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "overflow"), "item")), "kv_cache");
    cr_assert_not_null(strstr(r.err, "kv_cache needs 4.00 GiB but"), "%s", r.err);
    plan_free(&r);
}

Test(plan, json_has_the_documented_fields) {
    const char *file = write_header_only(&qwen25_05b);
    const char *args[] = {"--device", "nvidia-rtx-4060", NULL};
    plan_result r = plan(file, args);
    const char *keys[] = {"fits",        "context", "kv_type", "budget_bytes",
                          "total_bytes", "items",   "kernels", "alternatives"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        cr_assert_not_null(json_object_get(r.json, keys[i]), "missing key %s", keys[i]);
    }
    json_t *item = json_array_get(json_object_get(r.json, "items"), 0);
    cr_assert_not_null(json_object_get(item, "residency"));
    cr_assert_not_null(json_object_get(item, "device"));
    json_t *kernels = json_object_get(r.json, "kernels");
    cr_assert_geq(json_array_size(kernels), 3, "decode, prefill and one matvec at least");
    size_t i;
    json_t *k;
    json_array_foreach(kernels, i, k) {
        cr_assert_leq(integer(k, "onchip_bytes"), integer(k, "limit_bytes"), "%s",
                      json_string_value(json_object_get(k, "name")));
        cr_assert_not_null(json_object_get(k, "tile"));
    }
    plan_free(&r);
}

/* `snug run` refuses a header-only file with a clear error, and refuses a plan that does not fit with exit 3. */
Test(plan, run_refuses_header_only_and_oversized_plans) {
    const char *file = write_header_only(&qwen25_05b);
    const char *argv[] = {test_snug_bin(), "run", file, "-n", "1", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    test_run_free(&r);
    const char *model = test_shared_file("models/stories260K.gguf");
    /* A budget 2 MiB short of the plan at context 8192 on one thread (the KV cache is 5 MiB of it, so a shorter
     * context fits). Taken from `snug plan`: the program's own resident code, a few MiB, is measured by each process,
     * and `run` measures up to ~1 MiB more than `plan` (more under AddressSanitizer), so the shortfall must be larger
     * than that difference and smaller than what a shorter context saves. */
    const char *planned[] = {"--ctx", "8192", "--threads", "1", NULL};
    plan_result p = plan(model, planned);
    cr_assert_eq(p.exit_code, 0, "%s", p.err);
    char mem[32];
    bytes_arg(mem, sizeof mem, integer(p.json, "total_bytes") - (2 << 20));
    plan_free(&p);
    const char *tight[] = {test_snug_bin(), "run", model,   "--mem", mem,  "--headroom", "0",
                           "--threads",     "1",   "--ctx", "8192",  "-n", "1",          NULL};
    r = test_run(tight);
    cr_assert_eq(r.exit_code, 3, "exit %d: %s", r.exit_code, r.err);
    cr_assert_not_null(strstr(r.err, "does not fit"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "hint: --ctx"), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    test_run_free(&r);
}

/* ---- alternatives, the overflow line, --mem and contexts beyond the trained one ---------------------------------- */

static json_int_t weights_bytes(json_t *plan_json) {
    json_t *items = json_object_get(plan_json, "items");
    json_int_t sum = 0;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        if (strncmp(json_string_value(json_object_get(item, "name")), "weights_", 8) == 0)
            sum += json_integer_value(json_object_get(item, "bytes"));
    }
    return sum;
}

/* The alternative whose text contains `needle`, or NULL. */
static json_t *alternative_with(json_t *plan_json, const char *needle) {
    size_t i;
    json_t *alt;
    json_array_foreach(json_object_get(plan_json, "alternatives"), i, alt) {
        if (strstr(json_string_value(json_object_get(alt, "text")), needle)) return alt;
    }
    return NULL;
}

/* A Q4_K_M-style header-only file of Llama-3.1-8B's shape: Q4_K matrices, with Q6_K for every attn_v and ffn_down,
 * token_embd and output (a real Q4_K_M file puts Q6_K in some of those layers only; either way it is a Q4_K_M file,
 * at about 5.1 bits per weight here). */
static const char *write_q4_k_m_8b(void) {
    static char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path("llama-3.1-8b-q4_k_m.gguf"));
    if (access(path, R_OK) == 0) return path;
    shape s = llama31_8b;
    s.file = "llama-3.1-8b-q4_k.gguf";
    s.weight_type = SNUG_TYPE_Q4_K;
    const char *q4_k = write_header_only(&s); /* token_embd and output are Q4_K too: retyped below */
    snug_gguf *src;
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open(q4_k, SNUG_GGUF_ALLOW_MISSING_DATA, &src, &err), SNUG_OK, "%s", err.message);
    snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
    bool ok = w != NULL;
    for (uint64_t i = 0; ok && i < snug_gguf_kv_count(src); i++) ok = snug_gguf_writer_copy_kv(w, src, i);
    for (uint64_t i = 0; ok && i < snug_gguf_tensor_count(src); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(src, i);
        bool q6 = strstr(t->name, "attn_v.weight") || strstr(t->name, "ffn_down.weight") ||
                  strcmp(t->name, "token_embd.weight") == 0 || strcmp(t->name, "output.weight") == 0;
        uint32_t type = t->type == SNUG_TYPE_Q4_K && q6 ? SNUG_TYPE_Q6_K : t->type;
        uint64_t row_bytes;
        ok = snug_type_row_bytes(type, t->ne[0], &row_bytes) &&
             snug_gguf_writer_tensor(w, t->name, type, t->n_dims, t->ne, NULL, row_bytes * t->ne[1]);
    }
    cr_assert(ok);
    cr_assert_eq(snug_gguf_writer_write(w, path, true, &err), SNUG_OK, "%s", err.message);
    snug_gguf_writer_free(w);
    snug_gguf_close(src);
    return path;
}

/* Plans for an 80 GB A100 (a profile: the same numbers on every machine; its host-side items are not counted). */
#define ROOMY_DEVICE "nvidia-a100-80g"

/* A plan that misses its budget by `short_bytes`: first planned with room to spare, then with --mem set to its
 * total minus short_bytes (and no headroom). */
static plan_result plan_short_by(const char *file, json_int_t short_bytes, const char *ctx) {
    const char *roomy[] = {"--device", ROOMY_DEVICE, "--ctx", ctx, "--kv", "f16", NULL};
    plan_result r = plan(file, roomy);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char mem[32];
    bytes_arg(mem, sizeof mem, integer(r.json, "total_bytes") - short_bytes);
    plan_free(&r);
    const char *tight[] = {"--device", ROOMY_DEVICE, "--mem", mem,   "--headroom", "0",
                           "--ctx",    ctx,          "--kv",  "f16", NULL};
    r = plan(file, tight);
    cr_assert_eq(r.exit_code, 3, "%s", r.err);
    return r;
}

/* A Q4_K_M file is not offered "a Q4_K_M file of this model", a Q8_0 file not "a Q8_0 file" — even where a
 * bits-per-weight guess (4.85 for Q4_K_M; 8.5 for Q8_0, norms included) comes out smaller than the file. */
Test(plan, alternatives_never_name_the_files_own_type) {
    plan_result r = plan_short_by(write_q4_k_m_8b(), 64ll << 20, "4096");
    cr_expect_null(alternative_with(r.json, "Q4_K_M"), "a Q4_K_M file was offered a Q4_K_M file: %s",
                   json_string_value(json_object_get(alternative_with(r.json, "Q4_K_M"), "text")));
    plan_free(&r);
    /* 8B at Q8_0: its 266k norm weights are F32, so 8.5 bits per weight guesses ~0.8 MB less than the file. */
    r = plan_short_by(write_header_only(&(shape){"llama-3.1-8b-q8_0.gguf", "llama", 32, 4096, 32, 8, 14336, 128256,
                                                 131072, false, SNUG_TYPE_Q8_0}),
                      300 << 10, "4096");
    cr_expect_null(alternative_with(r.json, "Q8_0 file"), "a Q8_0 file was offered a Q8_0 file: %s",
                   json_string_value(json_object_get(alternative_with(r.json, "Q8_0 file"), "text")));
    cr_expect_not_null(alternative_with(r.json, "Q4_0 file"), "a smaller type is still offered");
    plan_free(&r);
}

/* TinyLlama-1.1B's shape at F16: 22 layers, embedding 2048, 32 heads of 64, 4 KV heads, feed-forward 5632, vocab
 * 32000, untied. Every row length is a multiple of 256, so each type's blocks tile the matrices exactly. */
static const shape tinyllama_f16 = {"tinyllama-f16.gguf", "llama", 22, 2048, 32, 4, 5632, 32000, 2048, false,
                                    SNUG_TYPE_F16};

/* Bytes of TinyLlama's weights when every matrix takes `bytes_per_256` bytes per 256 weights, except the output
 * matrix (output_per_256) and, in the layers listed in more_bits, attn_v and ffn_down (more_bits_per_256); the
 * norms stay F32. */
static uint64_t tinyllama_bytes(uint64_t bytes_per_256, uint64_t output_per_256, uint64_t more_bits_per_256,
                                const bool more_bits[22]) {
    const uint64_t E = 2048, F = 5632, V = 32000, kv = 4 * 64;
    uint64_t total = (2 * E * 22 + E) * 4; /* attn_norm, ffn_norm per layer; output_norm */
    total += E * V / 256 * bytes_per_256;  /* token_embd */
    total += E * V / 256 * output_per_256; /* output */
    for (int l = 0; l < 22; l++) {
        uint64_t special = more_bits[l] ? more_bits_per_256 : bytes_per_256;
        total += (E * E * 2 + E * kv + E * F * 2) / 256 * bytes_per_256; /* q, o, k, gate, up */
        total += (E * kv + F * E) / 256 * special;                       /* v, down */
    }
    return total;
}

/* Each smaller file type is sized from the file's own tensors: Q8_0 34 and Q4_0 18 bytes per 32 weights, Q4_K 144
 * and Q6_K 210 per 256; the output matrix Q6_K in Q4_0 and Q4_K_M files, and Q4_K_M's attn_v and ffn_down Q6_K in
 * the first and last eighth of the layers and every third one between (for 22 layers: 0, 1, 4, 7, 10, 13, 16, 19,
 * 20, 21) — the layout llama.cpp's quantize writes. Norms are not quantized. */
Test(plan, weight_alternatives_use_the_files_real_bytes) {
    /* Room for a Q8_0 file (about half of F16) but not for this one. */
    plan_result r = plan_short_by(write_header_only(&tinyllama_f16), 400ll << 20, "2048");
    json_int_t total = integer(r.json, "total_bytes"), weights = weights_bytes(r.json);
    bool none[22] = {false}, more[22] = {false};
    const int more_layers[] = {0, 1, 4, 7, 10, 13, 16, 19, 20, 21};
    for (size_t i = 0; i < sizeof more_layers / sizeof *more_layers; i++) more[more_layers[i]] = true;
    const struct {
        const char *name;
        uint64_t bytes;
    } expected[] = {
        {"Q8_0 file", tinyllama_bytes(34 * 8, 34 * 8, 34 * 8, none)},
        {"Q4_K_M file", tinyllama_bytes(144, 210, 210, more)},
        {"Q4_0 file", tinyllama_bytes(18 * 8, 210, 18 * 8, none)},
    };
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
        json_t *alt = alternative_with(r.json, expected[i].name);
        cr_assert_not_null(alt, "no '%s' alternative", expected[i].name);
        json_int_t bytes = integer(alt, "total_bytes") - (total - weights);
        cr_expect_eq(bytes, (json_int_t)expected[i].bytes, "%s: %lld bytes of weights, expected %llu", expected[i].name,
                     (long long)bytes, (unsigned long long)expected[i].bytes);
    }
    plan_free(&r);
}

/* When the weights alone do not fit, the overflow names one item and gives that item's bytes, not all weights'. */
Test(plan, overflow_names_one_item_with_its_own_bytes) {
    const char *args[] = {"--device", ROOMY_DEVICE, "--mem", "3GiB", "--headroom", "0", NULL};
    plan_result r = plan(write_q4_k_m_8b(), args);
    cr_assert_eq(r.exit_code, 3, "%s", r.err);
    json_t *overflow = json_object_get(r.json, "overflow");
    const char *item = json_string_value(json_object_get(overflow, "item"));
    cr_assert_str_eq(item, "weights_q4_k", "the largest item");
    cr_expect_eq(integer(overflow, "needed_bytes"), item_bytes(r.json, "weights_q4_k"),
                 "needed %lld bytes; weights_q4_k is %lld (all weights: %lld)",
                 (long long)integer(overflow, "needed_bytes"), (long long)item_bytes(r.json, "weights_q4_k"),
                 (long long)weights_bytes(r.json));
    cr_expect_gt(integer(overflow, "needed_bytes"), integer(overflow, "available_bytes"));
    plan_free(&r);
}

/* --mem SIZE is what the plan may use: the default headroom is not taken from it, and the report says --mem. */
Test(plan, mem_is_what_the_plan_may_use) {
    const char *file = write_header_only(&qwen25_05b);
    const char *args[] = {"--device", ROOMY_DEVICE, "--mem", "600M", NULL};
    plan_result r = plan(file, args);
    cr_expect_eq(integer(r.json, "budget_bytes"), 600ll << 20);
    cr_expect_eq(integer(r.json, "headroom_bytes"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(r.json, "budget_source")), "--mem");
    plan_free(&r);
    /* An explicit --headroom is still kept free of it. */
    const char *with_headroom[] = {"--device", ROOMY_DEVICE, "--mem", "600M", "--headroom", "100M", NULL};
    r = plan(file, with_headroom);
    cr_expect_eq(integer(r.json, "budget_bytes"), 500ll << 20);
    plan_free(&r);
    /* More than the device offers: its own budget (80 GB less 4 GB of headroom), and the report says so. */
    const char *too_much[] = {"--device", ROOMY_DEVICE, "--mem", "1TiB", NULL};
    r = plan(file, too_much);
    cr_expect_lt(integer(r.json, "budget_bytes"), 80ll << 30);
    cr_expect_str_eq(json_string_value(json_object_get(r.json, "budget_source")), "detected (--mem capped)");
    plan_free(&r);
    /* On this machine, the text report names --mem, not the detected memory's source. */
    const char *argv[] = {test_snug_bin(), "plan", file, "--mem", "600M", NULL};
    test_run_result t = test_run(argv);
    const char *budget = strstr(t.out, "budget ");
    cr_assert_not_null(budget, "%s", t.out);
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(budget, "\n"), budget);
    cr_expect_not_null(strstr(line, "--mem"), "%s", line);
    cr_expect_null(strstr(line, "meminfo"), "%s", line);
    cr_expect_not_null(strstr(line, "600.0 MiB"), "%s", line);
    test_run_free(&t);
}

/* A context beyond the trained one is flagged: the chosen context, and a --ctx alternative. The synthetic model was
 * trained at 256 tokens. */
Test(plan, context_above_the_trained_one_is_flagged) {
    const char *file = test_tmp_path("trained-256.gguf");
    snug_synth_params p = snug_synth_default_params();
    p.header_only = true;
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(file, &p, &err), SNUG_OK, "%s", err.message);
    const char *at_1024[] = {"--ctx", "1024", NULL};
    plan_result r = plan(file, at_1024);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(json_is_true(json_object_get(r.json, "context_above_trained")));
    cr_expect_not_null(
        strstr(json_string_value(json_object_get(r.json, "context_reason")), "above the trained context 256"), "%s",
        json_string_value(json_object_get(r.json, "context_reason")));
    plan_free(&r);
    const char *at_256[] = {"--ctx", "256", NULL};
    r = plan(file, at_256);
    cr_expect(json_is_false(json_object_get(r.json, "context_above_trained")));
    plan_free(&r);
    /* 65536 tokens of f16 KV are 16 MiB here (2 × 2 layers × 32 × 2 bytes a token); 4 MiB less fits ~49152. */
    r = plan_short_by(file, 4ll << 20, "65536");
    json_t *alt = alternative_with(r.json, "--ctx");
    cr_assert_not_null(alt, "no --ctx alternative");
    cr_expect_gt(integer(alt, "context"), 256);
    cr_expect(json_is_true(json_object_get(alt, "above_trained")));
    cr_expect_not_null(strstr(json_string_value(json_object_get(alt, "text")), "above the trained context 256"), "%s",
                       json_string_value(json_object_get(alt, "text")));
    plan_free(&r);
}
