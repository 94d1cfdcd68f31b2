/* test_memory.c — predicted = measured (DESIGN.md, contract item 2).
 *
 * On a synthetic ~110M-parameter model at context 4096: the peak anonymous RSS of `snug run` over a prefill and
 * 256 decode steps stays within 1% of the plan's anonymous total (arena + host tables + the runtime overhead item),
 * measured by the process itself from /proc/self/status after load, after prefill and after every token
 * (`--report-memory`).
 *
 * On the small models (the demo model and stories260K), where a few MiB of program code are a large share: the
 * process's maximum RSS — everything resident: mapped weights, the program's and libraries' pages, anonymous
 * memory — as the kernel reports it to the parent (wait4's ru_maxrss, what /usr/bin/time prints) is within 1% or
 * 1 MiB, whichever is larger, of the plan's total.
 *
 * Skipped under the sanitizers (their shadow memory and quarantine are not the program's own).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convert/synth.h"
#include "plan/process.h"
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

    const char *argv[] = {test_snug_bin(),
                          "run",
                          path,
                          "-p",
                          "a b c d e f g h",
                          "--ctx",
                          "4096",
                          "--temp",
                          "0",
                          "-n",
                          "256",
                          "--threads",
                          "2",
                          "--report-memory",
                          NULL};
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

/* Runs argv with stdout to /dev/null and stderr to err_path; returns the exit code and the child's maximum RSS in
 * bytes (ru_maxrss is in KiB on Linux). */
static int run_measured(const char *const argv[], const char *err_path, uint64_t *max_rss_bytes) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork failed");
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDWR);
        int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (null_fd < 0 || err_fd < 0) _exit(127);
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    cr_assert_eq(wait4(pid, &status, 0, &usage), pid, "wait4 failed");
    *max_rss_bytes = (uint64_t)usage.ru_maxrss * 1024;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define SMALL_MODEL_TOLERANCE_BYTES (1ull << 20)

/* `snug run MODEL` with 100 greedy tokens on `threads` threads: max RSS against the plan's total. */
static void check_max_rss(const char *model, const char *threads) {
    const char *argv[] = {
        test_snug_bin(),   "run", model, "-p", "Once upon a time", "--temp", "0", "-n", "100", "--threads", threads,
        "--report-memory", NULL};
    char name[64], err_path[4096];
    snprintf(name, sizeof name, "max_rss_%s_%s.err", strstr(model, "260K") ? "stories260k" : "demo", threads);
    snprintf(err_path, sizeof err_path, "%s", test_tmp_path(name));
    uint64_t max_rss = 0;
    int code = run_measured(argv, err_path, &max_rss);
    char *err = test_read_file(err_path, NULL);
    cr_assert_not_null(err);
    cr_assert_eq(code, 0, "%s", err);
    const char *line = strstr(err, "plan total ");
    cr_assert_not_null(line, "no plan total in the memory report: %s", err);
    unsigned long long total;
    cr_assert_eq(sscanf(line, "plan total %llu bytes", &total), 1, "%s", line);
    double one_percent = 0.01 * (double)total;
    double bound =
        one_percent > (double)SMALL_MODEL_TOLERANCE_BYTES ? one_percent : (double)SMALL_MODEL_TOLERANCE_BYTES;
    double off = (double)max_rss - (double)total;
    cr_log_info("%s, %s threads: max RSS %llu, plan total %llu: %+.0f bytes (%+.2f%%)", model, threads,
                (unsigned long long)max_rss, total, off, 100.0 * off / (double)total);
    cr_assert(off <= bound && off >= -bound,
              "%s with %s threads: max RSS %llu bytes differs from the plan's total %llu by %+.0f bytes (bound ±%.0f)",
              model, threads, (unsigned long long)max_rss, total, off, bound);
    free(err);
}

Test(memory, max_rss_matches_the_plan_total_demo_model, .timeout = 120) {
    if (UNDER_SANITIZER) cr_skip_test("SKIPPED: RSS is not meaningful under AddressSanitizer");
    check_max_rss("models/snug-demo-stories.gguf", "1");
    check_max_rss("models/snug-demo-stories.gguf", "2");
}

Test(memory, max_rss_matches_the_plan_total_stories260k, .timeout = 120) {
    if (UNDER_SANITIZER) cr_skip_test("SKIPPED: RSS is not meaningful under AddressSanitizer");
    const char *model = test_shared_file("models/stories260K.gguf");
    if (!model) return;
    char path[4096];
    snprintf(path, sizeof path, "%s", model);
    check_max_rss(path, "1");
    check_max_rss(path, "2");
}

/* The smaps reader counts the resident file pages of every file that has an executable mapping — all its segments,
 * less copied-on-write (anonymous) pages — and nothing of a mapped data file, the heap or anonymous memory. */
Test(memory, runtime_code_counts_loaded_objects_from_smaps) {
    static const char smaps[] =
        "55d0c8a5e000-55d0c8a6a000 r--p 00000000 08:01 1001 /usr/bin/prog\n"
        "Size:                 48 kB\nRss:                  40 kB\nAnonymous:             0 kB\n"
        "55d0c8a6a000-55d0c8b00000 r-xp 0000c000 08:01 1001 /usr/bin/prog\n"
        "Size:                600 kB\nRss:                 300 kB\nAnonymous:             0 kB\n"
        "55d0c8b00000-55d0c8b02000 rw-p 000a2000 08:01 1001 /usr/bin/prog\n"
        "Size:                  8 kB\nRss:                   8 kB\nAnonymous:             8 kB\n"
        "55d0c9000000-55d0c9100000 rw-p 00000000 00:00 0 [heap]\n"
        "Size:               1024 kB\nRss:                 512 kB\nAnonymous:           512 kB\n"
        "7f0000000000-7f0000800000 r--s 00000000 08:01 2002 /models/model.gguf\n"
        "Size:               8192 kB\nRss:                8192 kB\nAnonymous:             0 kB\n"
        "7f1000000000-7f1000020000 r--p 00000000 08:02 1001 /usr/lib/libc.so.6\n"
        "Size:                128 kB\nRss:                 100 kB\nAnonymous:             0 kB\n"
        "7f1000020000-7f1000100000 r-xp 00020000 08:02 1001 /usr/lib/libc.so.6\n"
        "Size:                896 kB\nRss:                 700 kB\nAnonymous:             0 kB\n"
        "7fff00000000-7fff00001000 r-xp 00000000 00:00 0 [vdso]\n"
        "Size:                  4 kB\nRss:                   4 kB\nAnonymous:             0 kB\n";
    const char *path = test_tmp_path("smaps");
    cr_assert_eq(test_write_file(path, smaps, sizeof smaps - 1), 0);
    uint64_t bytes = 0;
    cr_assert(snug_process_code_resident_bytes_from(path, &bytes));
    /* prog 40 + 300 + (8 − 8) KiB; libc (same inode, another device) 100 + 700 KiB. */
    cr_assert_eq(bytes, (40ull + 300 + 100 + 700) * 1024, "got %llu", (unsigned long long)bytes);
    cr_assert_not(snug_process_code_resident_bytes_from(test_tmp_path("no-such-smaps"), &bytes));
}
