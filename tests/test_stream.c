/* test_stream.c — the streaming policy (src/cpu/stream.h): the decision table, SNUG_STREAM, and that a prefetch hint
 * changes no result.
 *
 *   (a) The table's rows, as docs/performance.md ("Streaming policy") states them: AMD Zen families (0x17 and later) →
 * nta, 12288 bytes; an AMD family before Zen, Intel, arm64 and unknown vendors → t0, 12288 bytes. Each says where it
 * came from. (b) SNUG_STREAM: none / nta / t0, with or without ":BYTES", overrides the table; a value that does not
 * parse (unknown hint, a distance that is 0, not a multiple of 64, past 1 MiB, empty or with trailing text) is ignored
 * and the source says so. (c) Every weight type's vec_dot and decode_dot give bit-identical results under every hint
 * and two distances, on rows long enough that the prefetches run past the end of the buffer (a prefetch never faults).
 *   (d) `snug hw` prints the policy in force and SNUG_STREAM's override of it, in text and in JSON.
 *   (e) The kernels in use (dispatch.c's per-microarchitecture decode layout): the active ISA's, except Q4_0's decode
 *       layout on an AMD family-0x19 CPU with VNNI kernels, which is the AVX2 one; vec_dot, tiles and the activation
 *       encoder never change.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/quant.h"
#include "cpu/stream.h"
#include "gguf/types.h"
#include "snug.h"
#include "support/support.h"

/* ---- (a) the decision table ---------------------------------------------------------------------------------- */

static void expect_row(const char *vendor, uint32_t family, snug_stream_hint hint, const char *source_part) {
    snug_stream_policy p = snug_stream_policy_choose(vendor, family, NULL);
    cr_assert_eq(p.hint, hint, "%s family 0x%x: hint %s, want %s", vendor, family, snug_stream_hint_name(p.hint),
                 snug_stream_hint_name(hint));
    cr_assert_eq(p.distance_bytes, 12288, "%s family 0x%x: distance %u", vendor, family, p.distance_bytes);
    cr_assert(strstr(p.source, source_part), "%s family 0x%x: source '%s' lacks '%s'", vendor, family, p.source,
              source_part);
}

Test(table, zen5_streams_non_temporal_intel_into_the_caches) {
    expect_row("AuthenticAMD", 0x1A, SNUG_STREAM_NTA, "AMD Zen 5 or later, family 0x1a");
    expect_row("AuthenticAMD", 0x1B, SNUG_STREAM_NTA, "AMD Zen 5 or later, family 0x1b");
    expect_row("GenuineIntel", 0x6, SNUG_STREAM_T0, "Intel, family 0x6");
}

Test(table, zen1_to_4_and_the_unmeasured_leave_it_to_the_hardware) {
    expect_row("AuthenticAMD", 0x17, SNUG_STREAM_NONE, "AMD Zen 1-4, family 0x17"); /* Zen, Zen 2 */
    expect_row("AuthenticAMD", 0x19, SNUG_STREAM_NONE, "AMD Zen 1-4, family 0x19"); /* Zen 3, Zen 4 */
    expect_row("AuthenticAMD", 0x15, SNUG_STREAM_NONE, "not measured");             /* Bulldozer: before Zen */
    expect_row("arm64", 0, SNUG_STREAM_NONE, "arm64");
    expect_row("HygonGenuine", 0x18, SNUG_STREAM_NONE, "not measured");
}

/* ---- (b) SNUG_STREAM ----------------------------------------------------------------------------------------- */

Test(env, a_valid_value_overrides_the_table) {
    snug_stream_policy p = snug_stream_policy_choose("AuthenticAMD", 0x1A, "none");
    cr_assert_eq(p.hint, SNUG_STREAM_NONE);
    cr_assert_eq(p.distance_bytes, 12288);
    cr_assert_str_eq(p.source, "SNUG_STREAM=none");
    p = snug_stream_policy_choose("GenuineIntel", 6, "nta:4096");
    cr_assert_eq(p.hint, SNUG_STREAM_NTA);
    cr_assert_eq(p.distance_bytes, 4096);
    p = snug_stream_policy_choose("AuthenticAMD", 0x1A, "t0:1048576");
    cr_assert_eq(p.hint, SNUG_STREAM_T0);
    cr_assert_eq(p.distance_bytes, 1048576);
    p = snug_stream_policy_choose("AuthenticAMD", 0x1A, "t0:64");
    cr_assert_eq(p.distance_bytes, 64);
}

Test(env, a_value_that_does_not_parse_is_ignored_and_said) {
    static const char *const bad[] = {"fast",       "t1",        "t0x",     "t0:",  "t0:0", "t0:100",
                                      "t0:1048640", "nta:4096k", "nta:-64", "NONE", " t0",  "t0:99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snug_stream_policy p = snug_stream_policy_choose("AuthenticAMD", 0x1A, bad[i]);
        cr_assert_eq(p.hint, SNUG_STREAM_NTA, "'%s' changed the hint", bad[i]);
        cr_assert_eq(p.distance_bytes, 12288, "'%s' changed the distance", bad[i]);
        cr_assert(strstr(p.source, "ignored"), "'%s': source '%s' does not say it was ignored", bad[i], p.source);
    }
    snug_stream_policy p = snug_stream_policy_choose("AuthenticAMD", 0x1A, "");
    cr_assert_eq(p.hint, SNUG_STREAM_NTA, "an empty SNUG_STREAM is unset");
    cr_assert_null(strstr(p.source, "ignored"));
}

/* ---- (c) no hint changes a result ---------------------------------------------------------------------------- */

/* Long enough that a 1 MiB distance runs past the end of every buffer, short enough to stay fast: 64 K elements. */
#define ROW_ELEMENTS 65536

static void dot_under(snug_stream_hint hint, uint32_t distance, const snug_type_kernels *k, const void *w,
                      const void *act, const void *decode_act, float *vec, float *decode) {
    snug_stream_hint_in_force = hint;
    snug_stream_distance_in_force = distance;
    k->vec_dot(ROW_ELEMENTS, vec, w, act);
    if (k->decode.decode_dot) k->decode.decode_dot(ROW_ELEMENTS, decode, w, decode_act);
}

Test(results, every_hint_gives_the_same_bits) {
    const snug_stream_policy *active = snug_stream_policy_active();
    static const uint32_t types[] = {SNUG_TYPE_F32,  SNUG_TYPE_F16,  SNUG_TYPE_BF16, SNUG_TYPE_Q4_0, SNUG_TYPE_Q4_1,
                                     SNUG_TYPE_Q5_0, SNUG_TYPE_Q5_1, SNUG_TYPE_Q8_0, SNUG_TYPE_Q2_K, SNUG_TYPE_Q3_K,
                                     SNUG_TYPE_Q4_K, SNUG_TYPE_Q5_K, SNUG_TYPE_Q6_K};
    float *x = malloc(ROW_ELEMENTS * sizeof *x), *wf = malloc(ROW_ELEMENTS * sizeof *wf);
    cr_assert(x && wf);
    srand(7);
    for (int i = 0; i < ROW_ELEMENTS; i++) {
        x[i] = (float)rand() / RAND_MAX - 0.5f;
        wf[i] = (float)rand() / RAND_MAX - 0.5f;
    }
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const snug_type_kernels *k = snug_kernels_for(types[t], snug_isa_active());
        cr_assert_not_null(k, "type %u has no kernels", types[t]);
        uint64_t w_bytes = 0;
        cr_assert(snug_type_row_bytes(types[t], ROW_ELEMENTS, &w_bytes));
        void *w = malloc(w_bytes);
        cr_assert(w && snug_quantize_row(types[t], wf, w, ROW_ELEMENTS));
        void *act = NULL, *decode_act = NULL;
        if (k->act_type != SNUG_TYPE_F32) {
            act = malloc(snug_act_row_bytes(k->act_type, ROW_ELEMENTS));
            cr_assert_not_null(act);
            k->quantize_act(x, act, ROW_ELEMENTS);
        }
        if (k->decode.decode_dot) {
            decode_act = malloc(k->decode.decode_act_bytes(ROW_ELEMENTS));
            cr_assert_not_null(decode_act);
            k->decode.decode_act(x, decode_act, ROW_ELEMENTS);
        }
        const void *a = act ? act : x;
        float vec_want = 0, decode_want = 0;
        dot_under(SNUG_STREAM_NONE, 12288, k, w, a, decode_act, &vec_want, &decode_want);
        static const snug_stream_hint hints[] = {SNUG_STREAM_NTA, SNUG_STREAM_T0};
        static const uint32_t distances[] = {64, 12288, SNUG_STREAM_DISTANCE_MAX};
        for (size_t h = 0; h < 2; h++) {
            for (size_t d = 0; d < 3; d++) {
                float vec = -1, decode = -1;
                dot_under(hints[h], distances[d], k, w, a, decode_act, &vec, &decode);
                cr_assert(memcmp(&vec, &vec_want, sizeof vec) == 0, "type %u, %s ahead %u: vec_dot %.9g != %.9g",
                          types[t], snug_stream_hint_name(hints[h]), distances[d], vec, vec_want);
                if (decode_act) {
                    cr_assert(memcmp(&decode, &decode_want, sizeof decode) == 0,
                              "type %u, %s ahead %u: decode_dot %.9g != %.9g", types[t],
                              snug_stream_hint_name(hints[h]), distances[d], decode, decode_want);
                }
            }
        }
        free(w);
        free(act);
        free(decode_act);
    }
    free(x);
    free(wf);
    snug_stream_hint_in_force = active->hint;
    snug_stream_distance_in_force = active->distance_bytes;
}

/* ---- (d) snug hw --------------------------------------------------------------------------------------------- */

Test(cli, hw_shows_the_policy_and_the_override) {
    const char *bin = test_snug_bin();
    unsetenv("SNUG_STREAM");
    test_run_result r = test_run((const char *const[]){bin, "hw", NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "kernels    ") && strstr(r.out, "stream: "), "no kernels line in:\n%s", r.out);
    cr_assert(strstr(r.out, "decision table"), "the policy's source is not said:\n%s", r.out);
    test_run_free(&r);

    setenv("SNUG_STREAM", "none", 1);
    r = test_run((const char *const[]){bin, "hw", "--json", NULL});
    unsetenv("SNUG_STREAM");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    json_error_t jerr;
    json_t *root = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(root, "hw --json is not JSON: %s", jerr.text);
    json_t *stream = json_object_get(json_object_get(root, "kernels"), "stream");
    cr_assert_str_eq(json_string_value(json_object_get(stream, "hint")), "none");
    cr_assert_str_eq(json_string_value(json_object_get(stream, "source")), "SNUG_STREAM=none");
    cr_assert_eq(json_integer_value(json_object_get(stream, "distance_bytes")), 12288);
    cr_assert_not_null(json_string_value(json_object_get(json_object_get(root, "kernels"), "isa")));
    json_decref(root);
    test_run_free(&r);
}

/* ---- (e) the decode layout chosen per microarchitecture (dispatch.c) ------------------------------------------ */

Test(in_use, zen4_decodes_q4_0_with_the_avx2_layout_and_nothing_else_changes) {
    char vendor[13];
    uint32_t family;
    snug_cpu_vendor_family(vendor, &family);
    const snug_isa isa = snug_isa_active();
    const bool zen4_vnni = strcmp(vendor, "AuthenticAMD") == 0 && family == 0x19 && isa == SNUG_ISA_AVX512_VNNI;
    for (uint32_t type = 0; type < SNUG_TYPE_ID_LIMIT; type++) {
        const snug_type_kernels *active = snug_kernels_for(type, isa), *used = snug_kernels_in_use(type);
        cr_assert_eq(active == NULL, used == NULL, "type %u", type);
        if (!active) continue;
        cr_assert_eq(used->vec_dot, active->vec_dot, "type %u", type);
        cr_assert_eq(used->dot_tile, active->dot_tile, "type %u", type);
        cr_assert_eq(used->quantize_act, active->quantize_act, "type %u", type);
        cr_assert_eq(used->act_type, active->act_type, "type %u", type);
        const snug_decode_kernels *want = &active->decode;
        if (zen4_vnni && type == SNUG_TYPE_Q4_0) want = &snug_kernels_for(type, SNUG_ISA_AVX2)->decode;
        cr_assert_eq(used->decode.decode_dot, want->decode_dot, "type %u: decode_dot", type);
        cr_assert_eq(used->decode.decode_act, want->decode_act, "type %u: decode_act", type);
        cr_assert_eq(used->decode.decode_act_bytes, want->decode_act_bytes, "type %u", type);
    }
    if (zen4_vnni) {
        cr_assert_neq(snug_kernels_in_use(SNUG_TYPE_Q4_0)->decode.decode_dot,
                      snug_kernels_for(SNUG_TYPE_Q4_0, SNUG_ISA_AVX512_VNNI)->decode.decode_dot,
                      "on Zen 4 the VNNI Q4_0 decode layout is not the one in use");
    } else {
        cr_log_info("not an AMD Zen 4 with VNNI kernels (%s family 0x%x, %s): the in-use table is the active ISA's",
                    vendor, family, snug_isa_name(isa));
    }
}
