/* quantize.c — `snug quantize IN OUT TYPE`: progress on stderr (when it is a terminal), a per-tensor error report
 * on stdout.
 *
 * The output appears whole or not at all (the library writes a temporary file and renames it into place). Here the
 * signals are handled: SIGINT, SIGTERM and SIGHUP remove the temporary file (snug_remove_temporary_files, which is
 * async-signal-safe) and then end the process by the same signal, as it would have ended; SIGXFSZ (a file-size
 * limit, ulimit -f) is ignored so that the write fails with EFBIG and the library cleans up and says so. A report
 * line that cannot be written to stdout stops the quantization the same way: exit 1, output untouched.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

typedef struct quantize_view {
    bool progress;
    int tensors;
    double worst_rmse;
    const char *worst_name;
    char worst_name_buf[96];
    bool stdout_failed;
} quantize_view;

static snug_status on_tensor(void *user, const snug_quantize_tensor_report *r, snug_error *err) {
    quantize_view *v = user;
    if (v->progress) {
        int width = 30, filled = (int)((double)width * (double)r->done_elements / (double)r->total_elements);
        fprintf(stderr, "\r[%.*s%*s] %3.0f%% %-40.40s", filled, "##############################", width - filled, "",
                100.0 * (double)r->done_elements / (double)r->total_elements, r->name);
        fflush(stderr);
    }
    if (v->tensors++ == 0) printf("%-40s %-6s %-7s %14s %12s\n", "tensor", "from", "to", "elements", "rel. RMSE");
    bool changed = strcmp(r->from_type, r->to_type) != 0;
    char rmse[32];
    snprintf(rmse, sizeof rmse, changed ? "%.6f" : "(copied)", r->relative_rmse);
    printf("%-40s %-6s %-7s %14llu %12s\n", r->name, r->from_type, r->to_type, (unsigned long long)r->elements, rmse);
    if (changed && r->relative_rmse > v->worst_rmse) {
        v->worst_rmse = r->relative_rmse;
        snprintf(v->worst_name_buf, sizeof v->worst_name_buf, "%s", r->name);
        v->worst_name = v->worst_name_buf;
    }
    if (!cli_stdout_ok()) {
        v->stdout_failed = true;
        err->status = SNUG_E_IO;
        snprintf(err->message, sizeof err->message, "stopped: the report could not be written to stdout");
        return SNUG_E_IO;
    }
    return SNUG_OK;
}

/* SIGINT / SIGTERM / SIGHUP during a quantization: remove the temporary output, then die of the same signal (the
 * default action, so the parent sees it as usual: the shell prints nothing for SIGINT and reports 130). */
static void on_fatal_signal(int signal_number) {
    snug_remove_temporary_files();
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

static void install_signal_handlers(void) {
    struct sigaction action = {0};
    action.sa_handler = on_fatal_signal;
    sigemptyset(&action.sa_mask);
    const int fatal[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++) {
        struct sigaction previous;
        /* A signal the caller ignored (nohup, a background job's SIGINT) stays ignored. */
        if (sigaction(fatal[i], NULL, &previous) == 0 && previous.sa_handler == SIG_IGN) continue;
        sigaction(fatal[i], &action, NULL);
    }
    signal(SIGXFSZ, SIG_IGN); /* past the limit, write(2) fails with EFBIG instead of killing the process */
}

int cli_quantize(int argc, char **argv) {
    const char *paths[3] = {NULL, NULL, NULL};
    int n_paths = 0;
    int64_t threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: snug quantize IN OUT TYPE [--threads N]\n\n"
                   "Quantizes the weight matrices of an F32/F16/BF16 GGUF model. TYPE: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,\n"
                   "Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M (the _M mixes give the output matrix and part of attn_v and\n"
                   "ffn_down Q6_K). Prints each tensor's relative RMS error against the source.\n\n"
                   "OUT is written to a temporary file in its folder and renamed into place only when complete and\n"
                   "synced: an error, Ctrl-C, SIGTERM or a file-size limit leaves OUT as it was. OUT may not be IN\n"
                   "(by any path or link); a NaN or infinity in IN is refused with the tensor and element.\n");
            return SNUG_EXIT_OK;
        }
        if (strcmp(argv[i], "--threads") == 0 || strcmp(argv[i], "-t") == 0) {
            if (i + 1 >= argc || !cli_parse_i64(argv[i + 1], 1, 1024, &threads)) {
                return cli_usage_error("quantize", "--threads must be in 1..1024");
            }
            i++;
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error("quantize", "unknown option '%s'", argv[i]);
        if (n_paths == 3) return cli_usage_error("quantize", "unexpected argument '%s'", argv[i]);
        paths[n_paths++] = argv[i];
    }
    if (n_paths != 3) return cli_usage_error("quantize", "expected IN OUT TYPE");
    /* Whether OUT is IN is decided by the library from device and inode, not from the path strings. */
    quantize_view view = {isatty(STDERR_FILENO) == 1, 0, 0.0, NULL, "", false};
    snug_error err = {0};
    install_signal_handlers();
    double start = cli_now_s();
    snug_status st = snug_quantize_model(paths[0], paths[1], paths[2], (int32_t)threads, on_tensor, &view, &err);
    if (view.progress) fprintf(stderr, "\n");
    if (view.stdout_failed) {
        fprintf(stderr, "snug: quantize stopped; %s was not written\n", paths[1]);
        return cli_stdout_failed();
    }
    if (st != SNUG_OK) return cli_report(&err);
    fprintf(stderr, "snug: wrote %s in %.1f s; largest relative RMSE %.6f (%s)\n", paths[1], cli_now_s() - start,
            view.worst_rmse, view.worst_name ? view.worst_name : "-");
    return SNUG_EXIT_OK;
}
