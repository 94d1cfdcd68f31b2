/* test_archs.c — loading the architectures of the llama family: what each file must hold, and the errors for what
 * snug refuses. (Their logits are checked against the numpy reference in test_reference.c.)
 *
 * The files are synthetic (convert/synth.h) with llama.cpp's tensor names; a broken file is made by leaving a tensor
 * out or adding one, so each expected message names a tensor this test chose, not one read back from snug.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "convert/synth.h"
#include "snug.h"
#include "support/support.h"

static const char *const supported[] = {"llama", "mistral", "qwen2", "qwen3", "phi3"};
#define N_SUPPORTED (sizeof supported / sizeof *supported)

/* A small model of `arch` (GQA 4/2 over 64; qwen3 with heads of 32, so q_dim 128 != n_embd). */
static snug_synth_params small(const char *arch) {
    snug_synth_params p = snug_synth_default_params();
    p.architecture = arch;
    if (strcmp(arch, "qwen3") == 0) p.head_dim = 32;
    return p;
}

static const char *write_model(const char *file, const snug_synth_params *p) {
    static char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path(file));
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, p, &err), SNUG_OK, "%s", err.message);
    return path;
}

/* Loading fails with `status` and a message containing `want`; returns the message for further checks. */
static snug_error expect_load_error(const char *path, snug_status status, const char *want) {
    snug_model *model = NULL;
    snug_error err = {0};
    snug_status st = snug_model_load(path, &model, &err);
    cr_assert_eq(st, status, "status %s (%s), expected %s", snug_status_name(st), err.message,
                 snug_status_name(status));
    cr_assert_null(model);
    cr_assert_not_null(strstr(err.message, want), "message '%s' lacks '%s'", err.message, want);
    return err;
}

Test(archs, every_supported_architecture_loads_and_plans_exactly) {
    for (size_t i = 0; i < N_SUPPORTED; i++) {
        for (int tied = 0; tied < 2; tied++) {
            snug_synth_params p = small(supported[i]);
            p.tied_output = tied;
            char file[64];
            snprintf(file, sizeof file, "%s_%d.gguf", supported[i], tied);
            const char *path = write_model(file, &p);
            snug_model *model;
            snug_error err = {0};
            cr_assert_eq(snug_model_load(path, &model, &err), SNUG_OK, "%s: %s", supported[i], err.message);
            snug_model_desc d;
            snug_model_describe(model, &d);
            cr_assert_str_eq(d.architecture, supported[i]);
            cr_assert_eq(d.tied_output, tied, "%s: tied output %d", supported[i], tied);
            cr_assert_eq(d.head_dim, strcmp(supported[i], "qwen3") == 0 ? 32 : 16);
            snug_context_params cp = {.n_ctx = 64, .n_threads = 1, .n_batch = 4};
            snug_context *ctx;
            cr_assert_eq(snug_context_create(model, &cp, &ctx, &err), SNUG_OK, "%s: %s", supported[i], err.message);
            /* The fused phi3 tensors are row views: no scratch beyond the plan. */
            cr_assert_eq(snug_context_arena_used_bytes(ctx), snug_context_arena_bytes(ctx), "%s", supported[i]);
            const snug_token tokens[] = {1, 100, 200, 300};
            cr_assert_eq(snug_context_decode(ctx, tokens, 4, &err), SNUG_OK, "%s: %s", supported[i], err.message);
            snug_context_free(ctx);
            snug_model_free(model);
        }
    }
}

Test(archs, unknown_architecture_lists_the_supported_ones) {
    snug_synth_params p = small("gpt9000");
    const char *path = write_model("gpt9000.gguf", &p);
    snug_error err = expect_load_error(path, SNUG_E_UNSUPPORTED, "unsupported architecture 'gpt9000' (snug runs: ");
    for (size_t i = 0; i < N_SUPPORTED; i++) {
        cr_assert_not_null(strstr(err.message, supported[i]), "'%s' does not list %s", err.message, supported[i]);
    }
}

Test(archs, phi3_long_rope_factors_are_refused_by_name) {
    snug_synth_params p = small("phi3");
    p.long_rope_factors = true;
    const char *path = write_model("phi3_longrope.gguf", &p);
    snug_error err = expect_load_error(path, SNUG_E_UNSUPPORTED, "tensor 'rope_factors_long.weight'");
    cr_assert_not_null(strstr(err.message, "LongRoPE"), "%s", err.message);
    cr_assert_neq(err.hint[0], '\0', "a hint says which files run");
    /* The reference refuses it too (never silently ignored on either side). */
    const char *argv[] = {"/usr/bin/python3", "tests/ref/llama_ref.py", path, "--tokens", "1", NULL};
    test_run_result r = test_run(argv);
    if (r.exit_code != 127) {
        cr_assert_eq(r.exit_code, 2, "%s", r.err);
        cr_assert_not_null(strstr(r.err, "rope_factors_long"), "%s", r.err);
    }
    test_run_free(&r);
}

Test(archs, qwen2_missing_k_bias_is_named) {
    snug_synth_params p = small("qwen2");
    p.omit_tensor = "blk.1.attn_k.bias";
    const char *path = write_model("qwen2_no_k_bias.gguf", &p);
    expect_load_error(path, SNUG_E_FORMAT, "missing tensor 'blk.1.attn_k.bias' (the qwen2 architecture needs it)");
}

Test(archs, qwen3_missing_k_norm_is_named) {
    snug_synth_params p = small("qwen3");
    p.omit_tensor = "blk.0.attn_k_norm.weight";
    const char *path = write_model("qwen3_no_k_norm.gguf", &p);
    expect_load_error(path, SNUG_E_FORMAT, "missing tensor 'blk.0.attn_k_norm.weight' (the qwen3 architecture");
}

Test(archs, phi3_missing_fused_qkv_is_named) {
    snug_synth_params p = small("phi3");
    p.omit_tensor = "blk.0.attn_qkv.weight";
    expect_load_error(write_model("phi3_no_qkv.gguf", &p), SNUG_E_FORMAT,
                      "missing tensor 'blk.0.attn_qkv.weight' (the phi3 architecture needs it)");
}

/* `snug info` shows the architecture, and `snug plan` calls it runnable (or not). */
Test(archs, info_and_plan_show_the_architecture) {
    snug_synth_params p = small("qwen3");
    const char *path = write_model("qwen3_info.gguf", &p);
    const char *info[] = {test_snug_bin(), "info", path, NULL};
    test_run_result r = test_run(info);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    const char *line = strstr(r.out, "general.architecture");
    cr_assert_not_null(line, "%s", r.out);
    const char *end = strchr(line, '\n');
    cr_assert_not_null(strstr(line, "\"qwen3\""), "%.*s", (int)(end ? end - line : 80), line);
    cr_assert(end == NULL || strstr(line, "\"qwen3\"") < end, "%.*s", (int)(end - line), line);
    test_run_free(&r);
    const char *plan[] = {test_snug_bin(), "plan", path, "--json", NULL};
    r = test_run(plan);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "\"runnable\": true"), "%s", r.out);
    test_run_free(&r);
    snug_synth_params unknown = small("gpt9000");
    const char *plan_unknown[] = {test_snug_bin(), "plan", write_model("gpt9000_plan.gguf", &unknown), "--json", NULL};
    r = test_run(plan_unknown);
    cr_assert_eq(r.exit_code, 0, "an unknown architecture is still planned: %s", r.err);
    cr_assert_not_null(strstr(r.out, "\"runnable\": false"), "%s", r.out);
    test_run_free(&r);
}
