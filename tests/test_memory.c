/* test_memory.c — predicted = measured (DESIGN.md, contract item 2) on a synthetic ~110M-parameter model at
 * context 4096: the peak anonymous RSS of `snug run` over a prefill and 256 decode steps stays within 1% of the
 * plan's anonymous total (arena + host tables + the runtime overhead item), measured by the process itself from
 * /proc/self/status after load, after prefill and after every token (`--report-memory`).
 *
 * Skipped under the sanitizers (their shadow memory and quarantine are not the program's own).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/synth.h"
#include "snug.h"
#include "support/support.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_SANITIZER 1
#else
#define UNDER_SANITIZER 0
#endif

#define TOLERANCE_PERCENT 1.0

Test(memory, peak_anonymous_rss_matches_the_plan_110m_ctx_4096, .timeout = 300) {
    if (UNDER_SANITIZER) cr_skip_test("SKIPPED: RSS is not meaningful under AddressSanitizer");
    /* 32000 × 768 tied embedding (24.6M) + 12 layers × (4 × 768² + 3 × 768 × 2048) (85.0M) = 109.6M parameters. */
    snug_synth_params p = snug_synth_default_params();
    p.n_vocab = 32000;
    p.n_embd = 768;
    p.n_layer = 12;
    p.n_head = 12;
    p.n_head_kv = 12;
    p.n_ff = 2048;
    p.n_ctx_train = 4096;
    p.tied_output = true;
    p.weight_type = SNUG_TYPE_Q8_0;
    p.embd_type = SNUG_TYPE_Q8_0;
    char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path("110m.gguf"));
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK, "%s", err.message);

    const char *argv[] = {test_snug_bin(), "run", path, "-p", "a b c d e f g h", "--ctx", "4096", "--temp", "0",
                          "-n", "256", "--threads", "2", "--report-memory", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "generated 256 tokens"), "%s", r.err);
    const char *line = strstr(r.err, "peak anonymous RSS");
    cr_assert_not_null(line, "%s", r.err);
    unsigned long long peak, planned;
    cr_assert_eq(sscanf(line, "peak anonymous RSS %llu bytes, plan %llu bytes anonymous", &peak, &planned), 2);
    double off = 100.0 * ((double)peak - (double)planned) / (double)planned;
    cr_log_info("peak anonymous RSS %llu, plan %llu: %+.3f%%", peak, planned, off);
    cr_assert(off <= TOLERANCE_PERCENT && off >= -TOLERANCE_PERCENT,
              "peak anonymous RSS %llu differs from the plan's %llu by %+.2f%% (bound ±%.0f%%)", peak, planned, off,
              TOLERANCE_PERCENT);
    test_run_free(&r);
    remove(path);
}
