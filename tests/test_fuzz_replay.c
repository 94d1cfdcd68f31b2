/* test_fuzz_replay.c — every fuzz seed and every input a fuzzer ever found, through the fuzz harnesses again.
 *
 * The harnesses (tests/fuzz/fuzz_*.c, docs/fuzzing.md) abort on a broken invariant and, under `make check
 * SANITIZE=1`, the sanitizers stop on a memory error: either fails the test, naming the input on stderr. Inputs that
 * once crashed snug live in tests/fuzz/regress/TARGET/, one file each, named after what they found; the seeds in
 * tests/fuzz/corpus/TARGET/ keep the harnesses themselves honest (a seed that trips an invariant is a harness bug or a
 * snug bug, either worth knowing). Runs from the repository root (tests/run-all.sh).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "support/support.h"

typedef void (*harness_fn)(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs every file of `dir` (sorted by name) through the harness; returns how many. A missing folder holds none. */
static size_t replay_dir(const char *dir, harness_fn harness) {
    DIR *d = opendir(dir);
    if (d == NULL) return 0;
    char *names[4096];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < sizeof names / sizeof names[0];) {
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t bytes;
        char *data = test_read_file(path, &bytes);
        cr_assert_not_null(data, "cannot read %s", path);
        fprintf(stderr, "replaying %s (%zu bytes)\n", path, bytes);
        harness((const uint8_t *)data, bytes);
        free(data);
        free(names[i]);
    }
    return n;
}

static void replay(const char *target, harness_fn harness) {
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", target);
    size_t seeds = replay_dir(dir, harness);
    cr_assert_gt(seeds, 0, "no seeds in %s (run from the repository root)", dir);
    snprintf(dir, sizeof dir, "tests/fuzz/regress/%s", target);
    replay_dir(dir, harness);
}

Test(fuzz_replay, gguf_seeds_and_findings, .timeout = 300) { replay("gguf", snug_fuzz_gguf); }

Test(fuzz_replay, chat_template_seeds_and_findings, .timeout = 300) {
    replay("chat_template", snug_fuzz_chat_template);
}

Test(fuzz_replay, request_seeds_and_findings, .timeout = 300) { replay("request", snug_fuzz_request); }

Test(fuzz_replay, tokenizer_seeds_and_findings, .timeout = 600) {
    if (test_shared_file("models/ggml-vocab-gpt-2.gguf") == NULL ||
        test_shared_file("models/ggml-vocab-llama-spm.gguf") == NULL ||
        test_shared_file("models/ggml-vocab-phi-3.gguf") == NULL)
        return;
    replay("tokenizer", snug_fuzz_tokenizer);
}
