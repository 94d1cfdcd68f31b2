/* support.h — helpers shared by the Criterion tests: locating test data and the CLI, running commands, files.
 *
 * Shared test data lives in ../shared/models (SNUG_SHARED overrides ../shared). When it is absent the test is
 * skipped with a visible message — except under CI (CI=true), where a missing file fails the test.
 */
#ifndef SNUG_TESTS_SUPPORT_H
#define SNUG_TESTS_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "snug.h"

/* Path of a file under the shared folder ("models/stories260K.gguf"), or NULL after skipping the test (or failing
 * it under CI) when the file is missing. Returns a static buffer, valid until the next call. */
const char *test_shared_file(const char *relative);

/* Path of the snug CLI binary (SNUG_BIN, or build/snug). */
const char *test_snug_bin(void);
/* Returns when a Vulkan device is there; else skips the test with the reason (fails it under CI=true, which installs
 * lavapipe). */
void test_require_vulkan(void);

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL on failure. */
char *test_read_file(const char *path, size_t *bytes);
int test_write_file(const char *path, const void *data, size_t bytes);

/* A fresh temporary directory for this test process (created once); returns path of `name` inside it. */
const char *test_tmp_path(const char *name);

/* A "FIELD: N kB" line of this process's /proc/self/status (VmSize, RssFile, …) in bytes; 0 when it is missing. */
uint64_t test_proc_status_bytes(const char *field);

/* Writes a synthetic F32 llama model of ~40 MiB of weights (vocabulary 4096, embedding 512, 4 layers: more than two
 * SNUG_PREFETCH_STEP_BYTES) to test_tmp_path(name) and returns that path (a static buffer, valid until the next
 * call). Fails the test when it cannot be written. */
const char *test_write_model_40mib(const char *name);

/* The logits after `prompt` (tokenized with BOS) in a fresh context of `plan` over `model`; malloc'd, n_vocab floats.
 * Fails the test when any step fails. */
float *test_prompt_logits(snug_model *model, const snug_plan *plan, const char *prompt);

typedef struct test_run_result {
    int exit_code; /* exit status, or 128 + signal number */
    char *out;     /* stdout, NUL-terminated, malloc'd */
    size_t out_len;
    char *err; /* stderr */
    size_t err_len;
} test_run_result;

/* Runs argv (argv[0] is the program path) with stdin from /dev/null, capturing stdout and stderr. */
test_run_result test_run(const char *const argv[]);
/* The same with stdin read from the file at stdin_path (NULL: /dev/null). */
test_run_result test_run_stdin(const char *const argv[], const char *stdin_path);
void test_run_free(test_run_result *r);

#endif
