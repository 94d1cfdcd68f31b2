/* common.c — exit codes, error printing and option parsing shared by the subcommands (see cli.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_exit_code(snug_status status) {
    switch (status) {
    case SNUG_OK: return SNUG_EXIT_OK;
    case SNUG_E_IO:
    case SNUG_E_FORMAT:
    case SNUG_E_UNSUPPORTED:
    case SNUG_E_ARGUMENT:
    case SNUG_E_CONTEXT_FULL: return SNUG_EXIT_BAD_INPUT;
    case SNUG_E_DOES_NOT_FIT: return SNUG_EXIT_DOES_NOT_FIT;
    case SNUG_E_DEVICE: return SNUG_EXIT_DEVICE;
    default: return SNUG_EXIT_FAILURE;
    }
}

int cli_report(const snug_error *err) {
    fprintf(stderr, "snug: error (%s): %s\n", snug_status_name(err->status), err->message);
    if (err->hint[0]) fprintf(stderr, "  hint: %s\n", err->hint);
    return cli_exit_code(err->status);
}

int cli_usage_error(const char *command, const char *fmt, ...) {
    fprintf(stderr, "snug %s: ", command);
    va_list args;
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, "\n  (see 'snug %s --help')\n", command);
    return SNUG_EXIT_BAD_INPUT;
}

bool cli_parse_i64(const char *text, int64_t min, int64_t max, int64_t *out) {
    if (!text || !*text) return false;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) return false;
    *out = v;
    return true;
}

bool cli_parse_u64(const char *text, uint64_t *out) {
    if (!text || !*text || *text == '-') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') return false;
    *out = v;
    return true;
}

bool cli_parse_f32(const char *text, float min, float max, float *out) {
    if (!text || !*text) return false;
    char *end;
    errno = 0;
    float v = strtof(text, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max) return false;
    *out = v;
    return true;
}

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void show_prefetch(uint64_t done_bytes, uint64_t total_bytes, void *user) {
    (void)user;
    fprintf(stderr, "\rsnug: reading weights %3.0f%% (%.2f of %.2f GiB)",
            100.0 * (double)done_bytes / (double)total_bytes, (double)done_bytes / (1u << 30),
            (double)total_bytes / (1u << 30));
    if (done_bytes == total_bytes) fprintf(stderr, "\n");
    fflush(stderr);
}

snug_status cli_load_weights(snug_model *model, const snug_plan *plan, snug_error *err) {
    const snug_gguf *g = snug_model_gguf(model);
    const bool show = isatty(STDERR_FILENO) && snug_gguf_file_bytes(g) >= CLI_PROGRESS_MIN_BYTES;
    return snug_model_load_weights(model, plan, show ? show_prefetch : NULL, NULL, err);
}

uint64_t cli_proc_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && sscanf(line + len, ": %llu kB", &kib) == 1) break;
    }
    fclose(f);
    return (uint64_t)kib * 1024;
}
