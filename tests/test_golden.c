/* test_golden.c — the real trained stories260K model through the CLI, against its published greedy outputs.
 *
 * The expected texts are read from ../shared/models/SOURCES.md (the code blocks under "A." and "B."), so nothing
 * here was produced by snug. Counting (SOURCES.md, confirmed by the independent numpy reference in tests/ref):
 *   A: from BOS, 200 positions → `-n 200` generated tokens.
 *   B: prompt "Zoo" = [BOS, 410, 469, 347], 60 positions in total → the 4 prompt tokens fill positions 0–3 and
 *      56 generated tokens are fed back at positions 4–59; the 57th generated token comes from the logits of
 *      position 59 and is printed without being fed: `-n 57`.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/support.h"

/* The text of the first ``` code block after the line that starts with `marker`. */
static char *golden_block(const char *sources, const char *marker) {
    const char *at = strstr(sources, marker);
    cr_assert_not_null(at, "SOURCES.md has no section '%s'", marker);
    const char *open = strstr(at, "```\n");
    cr_assert_not_null(open);
    open += 4;
    const char *close = strstr(open, "\n```");
    cr_assert_not_null(close);
    size_t len = (size_t)(close - open);
    char *text = malloc(len + 1);
    memcpy(text, open, len);
    text[len] = '\0';
    return text;
}

static char *read_sources(void) {
    const char *path = test_shared_file("models/SOURCES.md");
    char *sources = test_read_file(path, NULL);
    cr_assert_not_null(sources, "cannot read %s", path);
    return sources;
}

/* Reports the first differing byte, which is far more useful than two 464-byte strings. */
static void assert_same_text(const char *got, const char *want) {
    size_t i = 0;
    while (got[i] && got[i] == want[i]) i++;
    cr_assert(got[i] == want[i], "output differs from the golden text at byte %zu:\n got: …%.40s\nwant: …%.40s", i,
              got + i, want + i);
}

/* Golden `marker` (SOURCES.md) from `snug run` with `args` (after the model), on `backend` ("cpu" or "vulkan"). */
static void check_golden(const char *marker, const char *const *args, size_t n_args, const char *backend) {
    if (strcmp(backend, "vulkan") == 0) test_require_vulkan();
    char *sources = read_sources();
    char *want = golden_block(sources, marker);
    const char *model = test_shared_file("models/stories260K.gguf");
    const char *argv[16] = {test_snug_bin(), "run", model, "--backend", backend};
    size_t n = 5;
    for (size_t i = 0; i < n_args && n < 15; i++) argv[n++] = args[i];
    argv[n] = NULL;
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "snug run failed (%d): %s", r.exit_code, r.err);
    char backend_said[32];
    snprintf(backend_said, sizeof backend_said, "backend %s", backend);
    cr_assert_not_null(strstr(r.err, backend_said), "the plan summary does not say %s: %s", backend_said, r.err);
    assert_same_text(r.out, want);
    test_run_free(&r);
    free(want);
    free(sources);
}

static const char *const golden_a[] = {"--temp", "0", "-n", "200"};
static const char *const golden_b[] = {"-p", "Zoo", "--temp", "0", "-n", "57"};

Test(golden, stories260k_from_bos_200_tokens) {
    char *sources = read_sources();
    char *want = golden_block(sources, "A. No prompt");
    cr_assert_eq(strlen(want), 464, "SOURCES.md says golden A is 464 bytes");
    free(want);
    free(sources);
    check_golden("A. No prompt", golden_a, 4, "cpu");
}

Test(golden, stories260k_prompt_zoo_60_positions) { check_golden("B. Prompt `Zoo`", golden_b, 6, "cpu"); }

/* The same two texts on the Vulkan backend (lavapipe in CI: issue 14's correctness seed). */
Test(golden, vulkan_stories260k_from_bos_200_tokens) { check_golden("A. No prompt", golden_a, 4, "vulkan"); }

Test(golden, vulkan_stories260k_prompt_zoo_60_positions) { check_golden("B. Prompt `Zoo`", golden_b, 6, "vulkan"); }

/* The same greedy text whatever the thread count and batch size (each output is computed in a fixed order). */
Test(golden, greedy_text_independent_of_threads_and_batch) {
    const char *model = test_shared_file("models/stories260K.gguf");
    const char *one[] = {test_snug_bin(), "run", model,     "-p", "Once upon", "--temp", "0", "-n", "64",
                         "--threads",     "1",   "--batch", "1",  NULL};
    const char *two[] = {test_snug_bin(), "run", model, "-p", "Once upon", "--temp", "0", "-n", "64",
                         "--threads",     "2",   NULL};
    test_run_result a = test_run(one), b = test_run(two);
    cr_assert_eq(a.exit_code, 0, "%s", a.err);
    cr_assert_eq(b.exit_code, 0, "%s", b.err);
    cr_assert_str_eq(a.out, b.out);
    test_run_free(&a);
    test_run_free(&b);
}

/* stdout is the text only; the plan summary and timings go to stderr. */
Test(golden, stdout_carries_only_text) {
    const char *model = test_shared_file("models/stories260K.gguf");
    const char *argv[] = {test_snug_bin(), "run", model, "--temp", "0", "-n", "5", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_null(strstr(r.out, "snug:"), "diagnostics leaked into stdout: %s", r.out);
    cr_assert_not_null(strstr(r.err, "plan: context 2048"), "no plan summary on stderr: %s", r.err);
    cr_assert_not_null(strstr(r.err, "tok/s"), "no speed report on stderr: %s", r.err);
    test_run_free(&r);
}

/* Sampling with a seed is reproducible; another seed gives other text. */
Test(golden, seeded_sampling_is_reproducible) {
    const char *model = test_shared_file("models/stories260K.gguf");
    const char *s1[] = {test_snug_bin(), "run", model, "--temp", "1", "--seed", "42", "-n", "60", NULL};
    const char *s2[] = {test_snug_bin(), "run", model, "--temp", "1", "--seed", "43", "-n", "60", NULL};
    test_run_result a = test_run(s1), b = test_run(s1), c = test_run(s2);
    cr_assert_eq(a.exit_code, 0, "%s", a.err);
    cr_assert_str_eq(a.out, b.out);
    cr_assert_str_neq(a.out, c.out);
    test_run_free(&a);
    test_run_free(&b);
    test_run_free(&c);
}

/* A prompt longer than the context is refused up front (exit 2) with both numbers, and prints nothing. */
Test(golden, prompt_longer_than_context_is_refused) {
    const char *model = test_shared_file("models/stories260K.gguf");
    const char *argv[] = {test_snug_bin(),
                          "run",
                          model,
                          "--ctx",
                          "8",
                          "-p",
                          "Once upon a time there was a little girl who loved the park",
                          NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 2, "exit %d: %s", r.exit_code, r.err);
    cr_assert_not_null(strstr(r.err, "room for only 8"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "--ctx 8"), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    test_run_free(&r);
}

/* Generation stops with a message when the context fills, after exactly n_ctx − prompt + 1 tokens. */
Test(golden, full_context_stops_generation) {
    const char *model = test_shared_file("models/stories260K.gguf");
    const char *argv[] = {test_snug_bin(), "run", model, "--ctx", "16", "--temp", "0", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "context is full (16 tokens)"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "generated 16 tokens"), "%s", r.err);
    test_run_free(&r);
}

/* Absurd options are refused with a clear message and exit 2, before any model work. */
Test(golden, absurd_options_are_refused) {
    const char *model = test_shared_file("models/stories260K.gguf");
    const char *cases[][3] = {
        {"--ctx", "0", "--ctx must be a number"},
        {"--ctx", "99999999999", "--ctx must be a number"},
        {"--top-p", "1.5", "--top-p must be"},
        {"--temp", "-1", "--temp must be"},
        {"--threads", "0", "--threads must be"},
        {"-n", "abc", "-n must be"},
        {"--ctx", "100000000", "--ctx must be a number"},
        {"--kv", "q4", "--kv must be"},
        {"--mem", "lots", "--mem must be a size"},
        {"--device", "apple-m9", "unknown device profile 'apple-m9'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[] = {test_snug_bin(), "run", model, cases[i][0], cases[i][1], NULL};
        test_run_result r = test_run(argv);
        cr_expect_eq(r.exit_code, 2, "%s %s: exit %d", cases[i][0], cases[i][1], r.exit_code);
        cr_expect_not_null(strstr(r.err, cases[i][2]), "%s %s: stderr was: %s", cases[i][0], cases[i][1], r.err);
        test_run_free(&r);
    }
}
