/* test_quantize.c — `snug quantize`: every target from an F16 model; the types each tensor gets (the Q4_K_M / Q5_K_M
 * mix rules, restated here from llama.cpp's definition rather than taken from the code), the relative error it
 * reports, and that the output loads and runs.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "convert/synth.h"
#include "snug.h"
#include "support/support.h"

enum { LAYERS = 8 };

static const char *source_model(void) {
    static char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path("source-f16.gguf"));
    if (access(path, R_OK) == 0) return path;
    snug_synth_params p = snug_synth_default_params();
    p.n_vocab = 320;
    p.n_embd = 256; /* multiples of 256: every K-quant applies without fallback */
    p.n_ff = 512;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_layer = LAYERS;
    p.weight_type = SNUG_TYPE_F16;
    p.embd_type = SNUG_TYPE_F16;
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK, "%s", err.message);
    return path;
}

typedef struct collected {
    int tensors;
    double worst_rmse;
    uint64_t last_done, total;
} collected;

static snug_status collect(void *user, const snug_quantize_tensor_report *r, snug_error *err) {
    (void)err;
    collected *c = user;
    c->tensors++;
    if (r->relative_rmse > c->worst_rmse) c->worst_rmse = r->relative_rmse;
    cr_assert_geq(r->done_elements, c->last_done, "progress must not go backwards");
    c->last_done = r->done_elements;
    c->total = r->total_elements;
    return SNUG_OK;
}

static const char *quantize(const char *target, collected *c) {
    static char out[4096];
    snprintf(out, sizeof out, "%s", test_tmp_path(target));
    snug_error err = {0};
    cr_assert_eq(snug_quantize_model(source_model(), out, target, 2, collect, c, &err), SNUG_OK, "%s: %s", target,
                 err.message);
    cr_assert_eq(c->last_done, c->total, "progress ends at 100%%");
    return out;
}

/* Layers whose attn_v / ffn_down get Q6_K in the _M mixes: i < n/8, i >= 7n/8, or (i − n/8) % 3 == 2.
 * For n = 8: layers 0, 3, 6 and 7. */
static bool more_bits_layer(int i) { return i == 0 || i == 3 || i == 6 || i == 7; }

static const char *expected_type(const char *target, const char *name) {
    bool mix = strcmp(target, "Q4_K_M") == 0 || strcmp(target, "Q5_K_M") == 0;
    if (strstr(name, "_norm")) return "F32";
    if (!mix) return target;
    const char *base = strcmp(target, "Q4_K_M") == 0 ? "Q4_K" : "Q5_K";
    if (strcmp(name, "output.weight") == 0) return "Q6_K";
    int layer;
    if (sscanf(name, "blk.%d.", &layer) == 1 && (strstr(name, "attn_v.") || strstr(name, "ffn_down.")) &&
        more_bits_layer(layer)) {
        return "Q6_K";
    }
    return base;
}

/* Relative RMS error a type should stay under on the synthetic (Gaussian-like) weights: about step / sqrt(12) over
 * the spread of a block, with room for the scale encodings. */
static double rmse_bound(const char *target) {
    if (strcmp(target, "Q8_0") == 0) return 0.01;
    if (strcmp(target, "Q6_K") == 0) return 0.03;
    if (strcmp(target, "Q5_0") == 0 || strcmp(target, "Q5_1") == 0 || strcmp(target, "Q5_K") == 0 ||
        strcmp(target, "Q5_K_M") == 0) {
        return 0.06;
    }
    return 0.12; /* 4-bit types */
}

static void check_target(const char *target) {
    collected c = {0};
    const char *out = quantize(target, &c);
    cr_assert_leq(c.worst_rmse, rmse_bound(target), "%s: worst relative RMSE %.4f above %.3f", target, c.worst_rmse,
                  rmse_bound(target));
    cr_assert_gt(c.worst_rmse, 0.0, "%s: no quantization error at all is not plausible", target);
    snug_gguf *g;
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open(out, 0, &g, &err), SNUG_OK, "%s", err.message);
    cr_assert_eq((uint64_t)c.tensors, snug_gguf_tensor_count(g));
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(g, i);
        cr_assert_str_eq(snug_type_name(t->type), expected_type(target, t->name), "%s: tensor %s", target, t->name);
    }
    int64_t ft = snug_gguf_find_key(g, "general.file_type");
    cr_assert_geq(ft, 0, "general.file_type is set");
    snug_gguf_close(g);
    /* It loads and generates. */
    const char *argv[] = {test_snug_bin(), "run", out, "--temp", "0", "-n", "8", "-p", "hello", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "%s: %s", target, r.err);
    test_run_free(&r);
}

Test(quantize, q8_0) { check_target("Q8_0"); }
Test(quantize, q4_0) { check_target("Q4_0"); }
Test(quantize, q4_1) { check_target("Q4_1"); }
Test(quantize, q5_0) { check_target("Q5_0"); }
Test(quantize, q5_1) { check_target("Q5_1"); }
Test(quantize, q4_k) { check_target("Q4_K"); }
Test(quantize, q5_k) { check_target("Q5_K"); }
Test(quantize, q6_k) { check_target("Q6_K"); }
Test(quantize, q4_k_m) { check_target("Q4_K_M"); }
Test(quantize, q5_k_m) { check_target("Q5_K_M"); }

Test(quantize, refuses_bad_input) {
    snug_error err = {0};
    cr_assert_eq(snug_quantize_model(source_model(), test_tmp_path("x.gguf"), "Q3_X", 1, NULL, NULL, &err),
                 SNUG_E_ARGUMENT);
    cr_assert_not_null(strstr(err.message, "Q3_X"));
    collected c = {0};
    const char *q4 = quantize("Q4_0", &c);
    cr_assert_eq(snug_quantize_model(q4, test_tmp_path("y.gguf"), "Q8_0", 1, NULL, NULL, &err), SNUG_E_UNSUPPORTED,
                 "re-quantizing a quantized file is refused");
    cr_assert_not_null(strstr(err.message, "already Q4_0"), "%s", err.message);
    cr_assert_neq(access(test_tmp_path("y.gguf"), F_OK), 0, "no half-written output is left behind");
    const char *argv[] = {test_snug_bin(), "quantize", source_model(), source_model(), "Q8_0", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 2, "IN == OUT must be refused: %s", r.err);
    test_run_free(&r);
}

/* The CLI prints a per-tensor report with the error column. */
Test(quantize, cli_reports_each_tensor) {
    const char *argv[] = {test_snug_bin(), "quantize", source_model(), test_tmp_path("cli.gguf"), "Q8_0", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "rel. RMSE"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "blk.7.ffn_down.weight"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "(copied)"), "norms are copied: %s", r.out);
    cr_assert_not_null(strstr(r.err, "largest relative RMSE"), "%s", r.err);
    test_run_free(&r);
}
