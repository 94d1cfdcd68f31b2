/* common.c — exit codes, error printing and option parsing shared by the subcommands (see cli.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
