/* error.c — the error record: status names and message formatting (see error.h). */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *snug_status_name(snug_status status) {
    switch (status) {
    case SNUG_OK: return "ok";
    case SNUG_E_IO: return "io";
    case SNUG_E_FORMAT: return "format";
    case SNUG_E_UNSUPPORTED: return "unsupported";
    case SNUG_E_DOES_NOT_FIT: return "does-not-fit";
    case SNUG_E_OUT_OF_MEMORY: return "out-of-memory";
    case SNUG_E_DEVICE: return "device";
    case SNUG_E_ARGUMENT: return "argument";
    case SNUG_E_CONTEXT_FULL: return "context-full";
    case SNUG_E_NUMERIC: return "numeric";
    case SNUG_E_INTERNAL: return "internal";
    }
    return "unknown";
}

snug_status snug_fail(snug_error *err, snug_status status, const char *fmt, ...) {
    if (err == NULL) return status;
    err->status = status;
    err->hint[0] = '\0';
    va_list args;
    va_start(args, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, args);
    va_end(args);
    return status;
}

void snug_hint(snug_error *err, const char *fmt, ...) {
    if (err == NULL) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err->hint, sizeof err->hint, fmt, args);
    va_end(args);
}

void snug_error_prefix(snug_error *err, const char *fmt, ...) {
    if (err == NULL) return;
    char prefix[256];
    va_list args;
    va_start(args, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, args);
    va_end(args);
    /* Joined in a buffer big enough for both, then cut to the record's size (a long message loses its tail). */
    char joined[sizeof prefix + sizeof err->message];
    size_t prefix_len = strlen(prefix);
    memcpy(joined, prefix, prefix_len);
    memcpy(joined + prefix_len, err->message, strnlen(err->message, sizeof err->message - 1) + 1);
    joined[sizeof joined - 1] = '\0';
    size_t keep = strnlen(joined, sizeof err->message - 1);
    memcpy(err->message, joined, keep);
    err->message[keep] = '\0';
}

void snug_error_clear(snug_error *err) {
    if (err == NULL) return;
    err->status = SNUG_OK;
    err->message[0] = '\0';
    err->hint[0] = '\0';
}
