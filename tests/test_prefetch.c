/* test_prefetch.c — snug_model_prefetch (snug.h): every byte of the tensor data is read in steps of
 * SNUG_PREFETCH_STEP_BYTES, progress is reported after each step and ends at the data's size, and the pages are
 * mapped into the process afterwards (its RssFile grows by the size of the tensor data). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/synth.h"
#include "gguf/gguf.h"
#include "support/support.h"

typedef struct progress_log {
    int calls;
    uint64_t last_done, total;
    bool increasing;
} progress_log;

static void record(uint64_t done, uint64_t total, void *user) {
    progress_log *log = user;
    if (done <= log->last_done) log->increasing = false;
    log->last_done = done;
    log->total = total;
    log->calls++;
}

Test(prefetch, reads_every_step_and_reports_progress) {
    const char *path = test_write_model_40mib("prefetch.gguf");
    snug_model *m = NULL;
    snug_error err = {0};
    cr_assert_eq(snug_model_load(path, &m, &err), SNUG_OK, "%s", err.message);
    const snug_gguf *g = snug_model_gguf(m);
    const uint64_t data_bytes = g->file_bytes - g->data_offset;
    cr_assert_gt(data_bytes, 2ull * SNUG_PREFETCH_STEP_BYTES, "the model should take more than two steps");

    /* The pages get mapped into this process as they are read: its RssFile grows by the tensor data. */
    const uint64_t rss_before = test_proc_status_bytes("RssFile");
    progress_log log = {.increasing = true};
    snug_model_prefetch(m, record, &log);
    const uint64_t rss_after = test_proc_status_bytes("RssFile");
    const uint64_t steps = (data_bytes + SNUG_PREFETCH_STEP_BYTES - 1) / SNUG_PREFETCH_STEP_BYTES;
    cr_assert_eq((uint64_t)log.calls, steps, "%d progress calls for %llu steps", log.calls, (unsigned long long)steps);
    cr_assert(log.increasing);
    cr_assert_eq(log.last_done, data_bytes);
    cr_assert_eq(log.total, data_bytes);
    cr_assert_geq(rss_after - rss_before, data_bytes * 99 / 100, "RssFile grew by %llu bytes for %llu of weights",
                  (unsigned long long)(rss_after - rss_before), (unsigned long long)data_bytes);

    /* Without a callback it runs too (the CLI passes none when stderr is not a terminal). */
    snug_model_prefetch(m, NULL, NULL);
    snug_model_free(m);
}
