/* test_weights_copy.c — weights copied into huge pages (snug_weights_mode, snug_model_load_weights in snug.h).
 *
 * What is checked against things the copy code did not produce: the kernel's own sysfs format (fake trees), the
 * file's size and layout (the copy covers the tensor data, which a GGUF file ends with), the logits of the same
 * model run from its mapping (bit for bit), /proc/self/status (the copy is resident and the mapping is not), a file
 * truncated under the loader, and an address-space limit that refuses the copy's mapping.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "convert/synth.h"
#include "gguf/gguf.h"
#include "plan/memory.h"
#include "support/support.h"

static const char DEMO_MODEL[] = "models/snug-demo-stories.gguf";
static const char PROMPT[] = "Once upon a time";

static snug_plan *make_plan_threads(const snug_model *m, snug_weights_mode weights, const char *device, int threads) {
    const snug_context_params params = {.n_ctx = 256, .n_threads = threads, .weights = weights, .device = device};
    snug_plan *plan;
    snug_error err;
    cr_assert_eq(snug_plan_create(snug_model_gguf(m), &params, &plan, &err), SNUG_OK, "%s", err.message);
    return plan;
}

static snug_plan *make_plan(const snug_model *m, snug_weights_mode weights, const char *device) {
    return make_plan_threads(m, weights, device, 1);
}

static snug_model *load(const char *path) {
    snug_model *m;
    snug_error err;
    cr_assert_eq(snug_model_load(path, &m, &err), SNUG_OK, "%s", err.message);
    return m;
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0, "cannot write %s", path);
}

/* ---- the kernel's offer ------------------------------------------------------------------------------------------ */

Test(weights_copy, huge_page_probe_reads_the_selected_mode_and_the_size) {
    struct {
        const char *enabled, *size;
        uint64_t want;
    } cases[] = {
        {"always [madvise] never\n", "2097152\n", 2097152},
        {"[always] madvise never\n", "2097152\n", 2097152},
        {"always madvise [never]\n", "2097152\n", 0},
        {"[always] madvise never\n", "536870912\n", 536870912}, /* arm64 with 64 KiB pages */
        {"[always] madvise never\n", "3000000\n", 0},           /* not a power of two: not a page size */
        {"[always] madvise never\n", "garbage\n", 0},
        {"garbage\n", "2097152\n", 0},
        {"[always] madvise never\n", NULL, 0}, /* no size file */
        {NULL, "2097152\n", 0},                /* no mode file: a kernel without THP */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char root[512], dir[600];
        snprintf(root, sizeof root, "%s", test_tmp_path("thp"));
        snprintf(root + strlen(root), sizeof root - strlen(root), "%zu", i);
        snprintf(dir, sizeof dir, "%s/sys/kernel/mm/transparent_hugepage", root);
        char mk[700];
        snprintf(mk, sizeof mk, "mkdir -p '%s'", dir);
        cr_assert_eq(system(mk), 0);
        if (cases[i].enabled) write_text(dir, "enabled", cases[i].enabled);
        if (cases[i].size) write_text(dir, "hpage_pmd_size", cases[i].size);
        cr_assert_eq(snug_huge_page_probe_root(root), cases[i].want, "case %zu: %s / %s", i,
                     cases[i].enabled ? cases[i].enabled : "(none)", cases[i].size ? cases[i].size : "(none)");
    }
}

/* ---- the plan ------------------------------------------------------------------------------------------------------
 */

Test(weights_copy, a_copying_plan_counts_every_byte_of_the_copy_as_anonymous) {
    snug_model *m = load(DEMO_MODEL);
    const snug_gguf *g = snug_model_gguf(m);
    snug_plan *copied = make_plan(m, SNUG_WEIGHTS_COPIED, NULL);
    snug_plan *mapped = make_plan(m, SNUG_WEIGHTS_MAPPED, NULL);
    cr_assert(snug_plan_weights_copied(copied));
    cr_assert_not(snug_plan_weights_copied(mapped));
    cr_assert_eq(snug_plan_weights_copy_bytes(mapped), 0);

    const uint64_t copy = snug_plan_weights_copy_bytes(copied);
    const uint64_t page = snug_huge_page_probe_root("") ? snug_huge_page_probe_root("") : 4096;
    /* A GGUF file ends with its tensor data: the copy holds all of it and is whole pages, less than one too many. */
    const uint64_t data = snug_gguf_file_bytes(g) - snug_gguf_data_offset(g);
    cr_assert_eq(copy % page, 0, "copy of %llu bytes in pages of %llu", (unsigned long long)copy,
                 (unsigned long long)page);
    cr_assert_geq(copy, data);
    cr_assert_lt(copy, data + 4096 + page);

    uint64_t weights_copied = 0, weights_mapped = 0;
    for (size_t i = 0; i < snug_plan_item_count(copied); i++) {
        snug_plan_item it = snug_plan_item_at(copied, i);
        if (strncmp(it.name, "weights_", 8) != 0) continue;
        cr_assert_str_eq(it.residency, "anon", "%s", it.name);
        weights_copied += it.bytes;
    }
    for (size_t i = 0; i < snug_plan_item_count(mapped); i++) {
        snug_plan_item it = snug_plan_item_at(mapped, i);
        if (strncmp(it.name, "weights_", 8) != 0) continue;
        cr_assert_str_eq(it.residency, "mmap", "%s", it.name);
        weights_mapped += it.bytes;
    }
    cr_assert_eq(snug_plan_item_bytes(mapped, "weights_padding"), 0, "a mapped plan has no padding line");
    cr_assert_eq(weights_copied, copy, "the weights lines (%llu) are the copy (%llu)",
                 (unsigned long long)weights_copied, (unsigned long long)copy);
    cr_assert_eq(weights_copied - weights_mapped, snug_plan_item_bytes(copied, "weights_padding"));
    cr_assert_eq(snug_plan_total_bytes(copied) - snug_plan_total_bytes(mapped),
                 snug_plan_item_bytes(copied, "weights_padding"));
    cr_assert_eq(snug_plan_anon_bytes(copied) - snug_plan_anon_bytes(mapped), copy);
    snug_plan_free(copied);
    snug_plan_free(mapped);
    snug_model_free(m);
}

Test(weights_copy, auto_copies_on_a_host_with_huge_pages_and_maps_on_a_device_profile) {
    snug_model *m = load(DEMO_MODEL);
    snug_plan *host = make_plan(m, SNUG_WEIGHTS_AUTO, NULL);
    cr_assert_eq(snug_plan_weights_copied(host), snug_huge_page_probe_root("") > 0,
                 "auto copies exactly when the kernel offers transparent huge pages");
    snug_plan_free(host);
    snug_plan *profile = make_plan(m, SNUG_WEIGHTS_AUTO, "nvidia-rtx-4090");
    cr_assert_not(snug_plan_weights_copied(profile));
    snug_plan_free(profile);

    const snug_context_params copy_on_gpu = {.n_ctx = 256, .weights = SNUG_WEIGHTS_COPIED, .device = "nvidia-rtx-4090"};
    const snug_context_params unknown = {.n_ctx = 256, .weights = (snug_weights_mode)7};
    snug_plan *plan = NULL;
    snug_error err;
    cr_assert_eq(snug_plan_create(snug_model_gguf(m), &copy_on_gpu, &plan, &err), SNUG_E_ARGUMENT);
    cr_assert(strstr(err.message, "--weights copy") != NULL, "%s", err.message);
    cr_assert_eq(snug_plan_create(snug_model_gguf(m), &unknown, &plan, &err), SNUG_E_ARGUMENT);
    cr_assert_null(plan);
    snug_model_free(m);
}

/* ---- the copy ------------------------------------------------------------------------------------------------------
 */

Test(weights_copy, copied_weights_give_the_mapped_logits_bit_for_bit) {
    snug_model *from_map = load(DEMO_MODEL), *from_copy = load(DEMO_MODEL);
    snug_plan *mapped = make_plan(from_map, SNUG_WEIGHTS_MAPPED, NULL);
    snug_plan *copied = make_plan(from_copy, SNUG_WEIGHTS_COPIED, NULL);
    float *a = test_prompt_logits(from_map, mapped, PROMPT);
    float *b = test_prompt_logits(from_copy, copied, PROMPT); /* the context copies: nobody called load_weights */
    cr_assert_eq(snug_model_weights_copy_bytes(from_map), 0);
    cr_assert_eq(snug_model_weights_copy_bytes(from_copy), snug_plan_weights_copy_bytes(copied));
    snug_model_desc d;
    snug_model_describe(from_map, &d);
    cr_assert_eq(memcmp(a, b, (size_t)d.n_vocab * sizeof *a), 0, "logits differ between the mapping and the copy");

    /* A second context over the copied model reuses the copy (same plan size): nothing new is allocated for it. */
    float *c = test_prompt_logits(from_copy, copied, PROMPT);
    cr_assert_eq(memcmp(a, c, (size_t)d.n_vocab * sizeof *a), 0);
    free(a);
    free(b);
    free(c);
    snug_plan_free(mapped);
    snug_plan_free(copied);
    snug_model_free(from_map);
    snug_model_free(from_copy);
}

typedef struct progress_log {
    int calls;
    uint64_t last_done, total;
} progress_log;

static void record(uint64_t done, uint64_t total, void *user) {
    progress_log *log = user;
    cr_assert_gt(done, log->last_done, "progress went from %llu to %llu", (unsigned long long)log->last_done,
                 (unsigned long long)done);
    log->last_done = done;
    log->total = total;
    log->calls++;
}

Test(weights_copy, the_copy_is_resident_and_the_mapped_data_is_not) {
    snug_model *m = load(test_write_model_40mib("resident.gguf"));
    const snug_gguf *g = snug_model_gguf(m);
    const uint64_t data = snug_gguf_file_bytes(g) - snug_gguf_data_offset(g);
    snug_plan *plan = make_plan(m, SNUG_WEIGHTS_COPIED, NULL);
    const uint64_t copy = snug_plan_weights_copy_bytes(plan);

    const uint64_t anon_before = test_proc_status_bytes("RssAnon"), file_before = test_proc_status_bytes("RssFile");
    progress_log log = {0};
    snug_error err;
    cr_assert_eq(snug_model_load_weights(m, plan, record, &log, &err), SNUG_OK, "%s", err.message);
    const uint64_t anon_after = test_proc_status_bytes("RssAnon"), file_after = test_proc_status_bytes("RssFile");
    cr_assert_geq(log.calls, 2, "%llu bytes in steps of %u", (unsigned long long)data, SNUG_PREFETCH_STEP_BYTES);
    cr_assert_eq(log.total, log.last_done);
    cr_assert_geq(log.last_done, data);
    cr_assert_lt(log.last_done, data + 4096);

    cr_assert_geq(anon_after - anon_before, data * 99 / 100, "RssAnon grew by %llu for %llu bytes of weights",
                  (unsigned long long)(anon_after - anon_before), (unsigned long long)data);
    cr_assert_leq(anon_after - anon_before, copy + (1u << 20), "RssAnon grew by %llu for a planned copy of %llu",
                  (unsigned long long)(anon_after - anon_before), (unsigned long long)copy);
    cr_assert_lt(file_after - file_before, 1u << 20, "RssFile grew by %llu: the mapping was read",
                 (unsigned long long)(file_after - file_before));

    /* Again with the same plan: nothing more. */
    cr_assert_eq(snug_model_load_weights(m, plan, NULL, NULL, &err), SNUG_OK, "%s", err.message);
    cr_assert_lt(test_proc_status_bytes("RssAnon") - anon_after, 1u << 20);
    snug_plan_free(plan);
    snug_model_free(m);
}

/* With several threads the copy is read in shares (one per thread, at least SNUG_PREFETCH_STEP_BYTES each): every
 * tensor's bytes must still be the file's, compared here with a plain read of the file. */
Test(weights_copy, a_copy_read_by_several_threads_holds_every_tensor_as_the_file_does) {
    const char *path = test_write_model_40mib("shares.gguf");
    size_t file_bytes;
    uint8_t *file = (uint8_t *)test_read_file(path, &file_bytes);
    cr_assert_not_null(file);
    for (int threads = 2; threads <= 5; threads += 3) {
        snug_model *m = load(path);
        const snug_gguf *g = snug_model_gguf(m);
        snug_plan *plan = make_plan_threads(m, SNUG_WEIGHTS_COPIED, NULL, threads);
        progress_log log = {0};
        snug_error err;
        cr_assert_eq(snug_model_load_weights(m, plan, record, &log, &err), SNUG_OK, "%s", err.message);
        cr_assert_eq(log.last_done, log.total, "%d threads: progress ended at %llu of %llu", threads,
                     (unsigned long long)log.last_done, (unsigned long long)log.total);
        for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) {
            const snug_tensor_info *t = snug_gguf_tensor(g, i);
            const uint64_t at = snug_gguf_data_offset(g) + t->offset;
            cr_assert(t->data < (const void *)g->map || t->data >= (const void *)(g->map + g->file_bytes),
                      "tensor %s still points into the mapping", t->name);
            cr_assert_eq(memcmp(t->data, file + at, (size_t)t->bytes), 0, "%d threads: tensor %s differs from the file",
                         threads, t->name);
        }
        snug_plan_free(plan);
        snug_model_free(m);
    }
    free(file);
}

Test(weights_copy, a_file_that_shrank_is_an_io_error_and_leaves_the_model_mapped) {
    const char *path = test_write_model_40mib("shrinks.gguf");
    snug_model *m = load(path);
    const snug_gguf *g = snug_model_gguf(m);
    /* Two readers (one on a helper thread): whichever meets the end, the error names where the file ends now. */
    snug_plan *plan = make_plan_threads(m, SNUG_WEIGHTS_COPIED, NULL, 2);
    const uint64_t cut = snug_gguf_data_offset(g) + (snug_gguf_file_bytes(g) - snug_gguf_data_offset(g)) / 2;
    cr_assert_eq(truncate(path, (off_t)cut), 0, "truncate: %s", strerror(errno));
    const uint64_t space = test_proc_status_bytes("VmSize");
    snug_error err;
    cr_assert_eq(snug_model_load_weights(m, plan, NULL, NULL, &err), SNUG_E_IO, "%s", err.message);
    cr_assert(strstr(err.message, "shrank") != NULL, "%s", err.message);
    char at[32];
    snprintf(at, sizeof at, "%llu", (unsigned long long)cut);
    cr_assert(strstr(err.message, at) != NULL, "the message names where the file ends (%s): %s", at, err.message);
    cr_assert_eq(snug_model_weights_copy_bytes(m), 0);
    cr_assert_lt(test_proc_status_bytes("VmSize"), space + (1u << 20), "the failed copy's region was kept");
    snug_plan_free(plan);
    snug_model_free(m); /* the mapping past the new end is never touched: no SIGBUS */
}

Test(weights_copy, plans_that_do_not_describe_the_copy_are_refused) {
    snug_model *m = load(DEMO_MODEL);
    snug_plan *copied = make_plan(m, SNUG_WEIGHTS_COPIED, NULL);
    snug_plan *mapped = make_plan(m, SNUG_WEIGHTS_MAPPED, NULL);
    snug_error err;
    cr_assert_eq(snug_model_load_weights(m, copied, NULL, NULL, &err), SNUG_OK, "%s", err.message);
    snug_context *ctx = NULL;
    cr_assert_eq(snug_context_create_planned(m, mapped, &ctx, &err), SNUG_E_ARGUMENT, "a mapped plan over a copy");
    cr_assert(strstr(err.message, "copied") != NULL, "%s", err.message);
    cr_assert_null(ctx);

    /* A copying plan of another file does not fit this model's data. */
    snug_model *other = load(test_write_model_40mib("other.gguf"));
    snug_plan *foreign = make_plan(other, SNUG_WEIGHTS_COPIED, NULL);
    snug_model *fresh = load(DEMO_MODEL);
    cr_assert_eq(snug_model_load_weights(fresh, foreign, NULL, NULL, &err), SNUG_E_ARGUMENT);
    cr_assert(strstr(err.message, "another file") != NULL, "%s", err.message);
    cr_assert_eq(snug_model_weights_copy_bytes(fresh), 0);
    cr_assert_eq(snug_model_load_weights(m, foreign, NULL, NULL, &err), SNUG_E_ARGUMENT, "a copy of another size");
    snug_plan_free(copied);
    snug_plan_free(mapped);
    snug_plan_free(foreign);
    snug_model_free(m);
    snug_model_free(other);
    snug_model_free(fresh);
}

/* The region is snug's own mmap, limited relative to VmSize (which counts ASan's reservations too). */
Test(weights_copy, a_copy_that_cannot_be_mapped_is_out_of_memory_and_the_model_still_runs) {
    snug_model *m = load(test_write_model_40mib("no_room.gguf"));
    snug_plan *copied = make_plan(m, SNUG_WEIGHTS_COPIED, NULL);
    snug_plan *mapped = make_plan(m, SNUG_WEIGHTS_MAPPED, NULL);
    const uint64_t copy = snug_plan_weights_copy_bytes(copied);
    struct rlimit saved, limited;
    cr_assert_eq(getrlimit(RLIMIT_AS, &saved), 0);
    limited = saved;
    limited.rlim_cur = (rlim_t)(test_proc_status_bytes("VmSize") + copy / 2);
    cr_assert_eq(setrlimit(RLIMIT_AS, &limited), 0, "setrlimit: %s", strerror(errno));
    snug_error err;
    snug_status st = snug_model_load_weights(m, copied, NULL, NULL, &err);
    setrlimit(RLIMIT_AS, &saved);
    cr_assert_eq(st, SNUG_E_OUT_OF_MEMORY, "status %s: %s", snug_status_name(st), err.message);
    cr_assert(strstr(err.hint, "--weights mmap") != NULL, "hint: %s", err.hint);
    cr_assert_eq(snug_model_weights_copy_bytes(m), 0);
    float *logits = test_prompt_logits(m, mapped, PROMPT); /* still bound to its mapping */
    free(logits);
    snug_plan_free(copied);
    snug_plan_free(mapped);
    snug_model_free(m);
}

/* ---- the CLI -------------------------------------------------------------------------------------------------------
 */

Test(weights_copy, snug_plan_says_where_the_weights_live) {
    const char *copy_argv[] = {test_snug_bin(), "plan", DEMO_MODEL, "--weights", "copy", NULL};
    test_run_result r = test_run(copy_argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "weights  copied into") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "weights_padding") != NULL, "%s", r.out);
    test_run_free(&r);

    const char *map_argv[] = {test_snug_bin(), "plan", DEMO_MODEL, "--weights", "mmap", "--json", NULL};
    r = test_run(map_argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"weights\": \"mapped\"") != NULL, "%s", r.out);
    test_run_free(&r);

    const char *bad_argv[] = {test_snug_bin(), "run", DEMO_MODEL, "--weights", "huge", "-n", "1", NULL};
    r = test_run(bad_argv);
    cr_assert_eq(r.exit_code, 2, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "--weights must be auto, mmap or copy, got 'huge'") != NULL, "%s", r.err);
    test_run_free(&r);

    const char *run_argv[] = {test_snug_bin(), "run", DEMO_MODEL, "--weights", "copy", "-n", "4",
                              "--temp",        "0",   "-p",       PROMPT,      NULL};
    r = test_run(run_argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "weights") != NULL && strstr(r.err, "copied") != NULL, "%s", r.err);
    test_run_free(&r);
}
