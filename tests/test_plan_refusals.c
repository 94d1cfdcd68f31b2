/* test_plan_refusals.c — `snug plan` refuses every file `snug run` refuses for what its header says, with the same
 * message and exit code: a missing tensor, a wrong shape or type, a broken vocabulary (tokens missing or of the
 * wrong type, a bad token type, mismatched scores), an unsupported pre-tokenizer, broken merges. Before, plan said
 * "fits" for all of them.
 *
 * Each broken file is a synthetic model (convert/synth.h) rewritten by snug's GGUF writer with one thing changed;
 * the unchanged rewrite must run, so that the rewriting itself is not what breaks the files.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/synth.h"
#include "gguf/gguf.h"
#include "gguf/types.h"
#include "gguf/writer.h"
#include "snug.h"
#include "support/support.h"

enum { MAX_DROPPED_KEYS = 4 };

/* One change to a file. Keys in drop_keys are left out, then add_keys (if any) adds their replacements; a tensor
 * named in drop_tensor is left out; the tensor named in retensor gets type retensor_type (when not 0) and, when
 * retensor_ne1 is not 0, that many rows (its data: zeros of the new size). */
typedef struct file_edit {
    const char *drop_keys[MAX_DROPPED_KEYS];
    bool (*add_keys)(snug_gguf_writer *w);
    const char *retensor;
    uint32_t retensor_type;
    uint64_t retensor_ne1;
} file_edit;

/* The default synthetic model: embedding 64, 4 heads of 16, 2 KV heads (K/V rows of 32), 2 layers, vocab 320. */
static const char *base_model(bool header_only, const char *omit_tensor, const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path(name));
    snug_synth_params p = snug_synth_default_params();
    p.header_only = header_only;
    p.omit_tensor = omit_tensor;
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK, "%s", err.message);
    return path;
}

static bool dropped(const file_edit *e, const char *key) {
    for (int i = 0; i < MAX_DROPPED_KEYS && e->drop_keys[i]; i++) {
        if (strcmp(e->drop_keys[i], key) == 0) return true;
    }
    return false;
}

/* Writes `name` (in the test folder): the base model with edit applied. Returns its path. */
static const char *edited_model(const char *name, const file_edit *e) {
    const char *base = base_model(false, NULL, "base.gguf");
    snug_gguf *src;
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open(base, 0, &src, &err), SNUG_OK, "%s", err.message);
    snug_gguf_writer *w = snug_gguf_writer_create(3, snug_gguf_alignment(src));
    cr_assert_not_null(w);
    bool ok = true;
    for (uint64_t i = 0; ok && i < snug_gguf_kv_count(src); i++) {
        if (!dropped(e, snug_gguf_kv_key(src, i))) ok = snug_gguf_writer_copy_kv(w, src, i);
    }
    if (ok && e->add_keys) ok = e->add_keys(w);
    void *zeros = NULL;
    for (uint64_t i = 0; ok && i < snug_gguf_tensor_count(src); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(src, i);
        if (!e->retensor || strcmp(t->name, e->retensor) != 0) {
            ok = snug_gguf_writer_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->bytes);
            continue;
        }
        uint64_t ne[SNUG_MAX_DIMS] = {t->ne[0], e->retensor_ne1 ? e->retensor_ne1 : t->ne[1], t->ne[2], t->ne[3]};
        uint32_t type = e->retensor_type ? e->retensor_type : t->type, n_dims = e->retensor_ne1 ? 2 : t->n_dims;
        uint64_t row_bytes;
        cr_assert(snug_type_row_bytes(type, ne[0], &row_bytes));
        uint64_t bytes = row_bytes * ne[1] * ne[2] * ne[3];
        zeros = calloc(1, (size_t)bytes);
        cr_assert_not_null(zeros);
        ok = snug_gguf_writer_tensor(w, t->name, type, n_dims, ne, zeros, bytes);
    }
    cr_assert(ok, "rewriting %s", name);
    const char *path = test_tmp_path(name);
    cr_assert_eq(snug_gguf_writer_write(w, path, false, &err), SNUG_OK, "%s", err.message);
    snug_gguf_writer_free(w);
    free(zeros);
    snug_gguf_close(src);
    return path;
}

/* run and plan refuse `path` alike: the same exit code (2, bad input), the same stderr, which names `needle`;
 * plan prints no plan. */
static void expect_same_refusal(const char *path, const char *needle) {
    const char *run_argv[] = {test_snug_bin(), "run", path, "-p", "x", "-n", "1", NULL};
    const char *plan_argv[] = {test_snug_bin(), "plan", path, NULL};
    test_run_result run = test_run(run_argv), plan = test_run(plan_argv);
    cr_assert_eq(run.exit_code, 2, "run: exit %d: %s", run.exit_code, run.err);
    cr_assert_not_null(strstr(run.err, needle), "run's error does not name '%s': %s", needle, run.err);
    cr_expect_eq(plan.exit_code, run.exit_code, "plan: exit %d (run: %d)\nplan's stdout: %s\nplan's stderr: %s",
                 plan.exit_code, run.exit_code, plan.out, plan.err);
    cr_expect_str_eq(plan.err, run.err, "plan's stderr differs from run's");
    cr_expect_str_eq(plan.out, "", "plan printed a plan for a file run refuses");
    test_run_free(&run);
    test_run_free(&plan);
}

Test(plan_refusals, the_unchanged_rewrite_runs_and_plans) {
    file_edit none = {{NULL}};
    const char *path = edited_model("unchanged.gguf", &none);
    const char *run_argv[] = {test_snug_bin(), "run", path, "-p", "x", "-n", "1", NULL};
    const char *plan_argv[] = {test_snug_bin(), "plan", path, NULL};
    test_run_result run = test_run(run_argv), plan = test_run(plan_argv);
    cr_assert_eq(run.exit_code, 0, "%s", run.err);
    cr_assert_eq(plan.exit_code, 0, "%s", plan.err);
    test_run_free(&run);
    test_run_free(&plan);
}

Test(plan_refusals, missing_tensor) {
    expect_same_refusal(base_model(false, "blk.1.ffn_down.weight", "missing_tensor.gguf"),
                        "missing tensor 'blk.1.ffn_down.weight'");
}

/* A header-only file is planned, never run; its missing tensor is refused all the same. */
Test(plan_refusals, missing_tensor_in_a_header_only_file) {
    const char *path = base_model(true, "blk.0.attn_q.weight", "missing_tensor_header_only.gguf");
    const char *plan_argv[] = {test_snug_bin(), "plan", path, NULL};
    test_run_result plan = test_run(plan_argv);
    cr_expect_eq(plan.exit_code, 2, "exit %d: %s%s", plan.exit_code, plan.out, plan.err);
    cr_expect_not_null(strstr(plan.err, "missing tensor 'blk.0.attn_q.weight'"), "%s", plan.err);
    test_run_free(&plan);
}

Test(plan_refusals, wrong_shape) {
    file_edit e = {.retensor = "blk.0.attn_k.weight", .retensor_ne1 = 64}; /* K rows are 2 heads × 16 = 32 */
    expect_same_refusal(edited_model("wrong_shape.gguf", &e), "tensor 'blk.0.attn_k.weight' has shape [64, 64]");
}

Test(plan_refusals, wrong_type_of_a_norm) {
    file_edit e = {.retensor = "blk.1.ffn_norm.weight", .retensor_type = SNUG_TYPE_F16};
    expect_same_refusal(edited_model("norm_f16.gguf", &e), "tensor 'blk.1.ffn_norm.weight' has type F16");
}

Test(plan_refusals, missing_token_array) {
    file_edit e = {{"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"}};
    expect_same_refusal(edited_model("no_tokens.gguf", &e), "tokenizer.ggml.tokens is missing");
}

static bool tokens_as_integers(snug_gguf_writer *w) {
    int32_t ids[320];
    for (int i = 0; i < 320; i++) ids[i] = i;
    return snug_gguf_writer_i32s(w, "tokenizer.ggml.tokens", ids, 320);
}

Test(plan_refusals, token_array_of_integers) {
    file_edit e = {{"tokenizer.ggml.tokens"}, tokens_as_integers};
    expect_same_refusal(edited_model("int_tokens.gguf", &e), "tokenizer.ggml.tokens is an array of");
}

/* The synthetic vocabulary's types (unknown, 2 control, 256 bytes, normal), with token 300 of type 9. */
static bool bad_token_type(snug_gguf_writer *w) {
    int32_t types[320];
    for (int i = 0; i < 320; i++) types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
    types[300] = 9;
    return snug_gguf_writer_i32s(w, "tokenizer.ggml.token_type", types, 320);
}

Test(plan_refusals, bad_token_type) {
    file_edit e = {{"tokenizer.ggml.token_type"}, bad_token_type};
    expect_same_refusal(edited_model("bad_token_type.gguf", &e), "tokenizer.ggml.token_type[300] is 9");
}

static bool short_scores(snug_gguf_writer *w) {
    float scores[319] = {0};
    return snug_gguf_writer_f32s(w, "tokenizer.ggml.scores", scores, 319);
}

Test(plan_refusals, scores_of_the_wrong_length) {
    file_edit e = {{"tokenizer.ggml.scores"}, short_scores};
    expect_same_refusal(edited_model("short_scores.gguf", &e), "tokenizer.ggml.scores has 319 elements");
}

static bool bpe_with_unknown_pre(snug_gguf_writer *w) {
    const char *merges[] = {"a b"};
    return snug_gguf_writer_string(w, "tokenizer.ggml.model", "gpt2") &&
           snug_gguf_writer_string(w, "tokenizer.ggml.pre", "no-such-pre") &&
           snug_gguf_writer_strings(w, "tokenizer.ggml.merges", merges, 1);
}

Test(plan_refusals, unsupported_pre_tokenizer) {
    file_edit e = {{"tokenizer.ggml.model"}, bpe_with_unknown_pre};
    expect_same_refusal(edited_model("unknown_pre.gguf", &e), "unsupported pre-tokenizer: tokenizer.ggml.pre is");
}

static bool bpe_with_broken_merge(snug_gguf_writer *w) {
    const char *merges[] = {"ab"};
    return snug_gguf_writer_string(w, "tokenizer.ggml.model", "gpt2") &&
           snug_gguf_writer_string(w, "tokenizer.ggml.pre", "gpt-2") &&
           snug_gguf_writer_strings(w, "tokenizer.ggml.merges", merges, 1);
}

Test(plan_refusals, broken_merges) {
    file_edit e = {{"tokenizer.ggml.model"}, bpe_with_broken_merge};
    expect_same_refusal(edited_model("broken_merges.gguf", &e), "tokenizer.ggml.merges[0]");
}

/* An architecture snug cannot run is still planned (docs/plan.md): the check applies to runnable ones only. */
Test(plan_refusals, an_unrunnable_architecture_is_still_planned) {
    const char *path = test_tmp_path("gptj.gguf");
    snug_synth_params p = snug_synth_default_params();
    p.architecture = "gptj";
    p.header_only = true;
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK, "%s", err.message);
    const char *plan_argv[] = {test_snug_bin(), "plan", path, NULL};
    test_run_result plan = test_run(plan_argv);
    cr_expect_eq(plan.exit_code, 0, "%s", plan.err);
    cr_expect_not_null(strstr(plan.out, "cannot run it yet"), "%s", plan.out);
    test_run_free(&plan);
}
