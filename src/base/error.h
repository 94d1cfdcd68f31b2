/* error.h — filling a snug_error record.
 *
 * Every fallible function below the CLI returns a snug_status and, on failure, writes the reason into the caller's
 * snug_error with snug_fail(). The message carries the numbers; the hint, when given, says what would fix it.
 * A NULL error record is allowed: the status still travels up.
 */
#ifndef SNUG_BASE_ERROR_H
#define SNUG_BASE_ERROR_H

#include "snug.h"

#if defined(__GNUC__)
#define SNUG_PRINTF(fmt_index, args_index) __attribute__((format(printf, fmt_index, args_index)))
#else
#define SNUG_PRINTF(fmt_index, args_index)
#endif

/* Sets err->status and err->message (printf-style); clears the hint. Returns `status` so callers can write
 * `return snug_fail(err, SNUG_E_FORMAT, "...", ...);`. */
snug_status snug_fail(snug_error *err, snug_status status, const char *fmt, ...) SNUG_PRINTF(3, 4);

/* Sets the hint of an error already filled by snug_fail. */
void snug_hint(snug_error *err, const char *fmt, ...) SNUG_PRINTF(2, 3);

/* Prefixes the message with context ("model.gguf: "), keeping the rest. */
void snug_error_prefix(snug_error *err, const char *fmt, ...) SNUG_PRINTF(2, 3);

void snug_error_clear(snug_error *err);

#endif
