/* test_bench.c — `snug bench` runs end to end on a small synthetic model and reports what the issue asks for:
 * prefill and decode tokens/s (medians), peak RSS, load time and the roofline fraction. (Speeds themselves belong in
 * `make bench`, never in a timed test: only their presence and sanity are checked here.) */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "convert/synth.h"
#include "snug.h"
#include "support/support.h"

Test(bench, json_has_the_documented_keys, .timeout = 120) {
    char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path("bench.gguf"));
    snug_synth_params p = snug_synth_default_params();
    p.weight_type = SNUG_TYPE_Q8_0;
    p.embd_type = SNUG_TYPE_Q8_0;
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK, "%s", err.message);
    const char *argv[] = {test_snug_bin(), "bench", path,        "-p", "16",     "-n", "8",
                          "--reps",        "2",     "--threads", "1",  "--json", NULL};
    setenv("SNUG_STREAM", "t0:4096", 1);
    test_run_result r = test_run(argv);
    unsetenv("SNUG_STREAM");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    json_error_t jerr;
    json_t *j = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(j, "not JSON (%s): %s", jerr.text, r.out);
    const char *keys[] = {"prefill_tokens_per_s", "decode_tokens_per_s", "peak_rss_bytes", "load_s",
                          "roofline_fraction"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(j, keys[i]);
        cr_assert(json_is_number(v), "key %s missing or not a number", keys[i]);
        cr_assert_geq(json_number_value(v), 0.0, "%s is negative", keys[i]);
    }
    cr_assert_gt(json_number_value(json_object_get(j, "decode_tokens_per_s")), 0.0);
    cr_assert_gt(json_number_value(json_object_get(j, "peak_rss_bytes")), 0.0);
    /* The kernels and the streaming policy they ran with; SNUG_STREAM set above is what they report. */
    const char *isa = json_string_value(json_object_get(j, "isa"));
    cr_assert(isa && isa[0], "no isa key");
    cr_assert_str_eq(json_string_value(json_object_get(j, "stream_hint")), "t0");
    cr_assert_eq(json_integer_value(json_object_get(j, "stream_distance_bytes")), 4096);
    cr_assert_str_eq(json_string_value(json_object_get(j, "stream_source")), "SNUG_STREAM=t0:4096");
    /* The bandwidth is read with decode's thread (1) and, where the machine has more, with all of them. */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    json_int_t bw_threads = json_integer_value(json_object_get(j, "bandwidth_threads"));
    cr_assert(bw_threads == 1 || (bw_threads > 1 && bw_threads <= online), "bandwidth_threads %lld",
              (long long)bw_threads);
    json_decref(j);
    test_run_free(&r);
}

Test(bench, refuses_bad_options) {
    const char *argv[] = {test_snug_bin(), "bench", "/nonexistent.gguf", "--reps", "0", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    test_run_free(&r);
}
