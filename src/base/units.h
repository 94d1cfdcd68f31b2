/* units.h — byte counts for people: "512 B", "12.0 KiB", "896.0 MiB", "14.00 GiB" (binary units throughout). */
#ifndef SNUG_BASE_UNITS_H
#define SNUG_BASE_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Writes the size into out (NUL-terminated) and returns out, so it can be used inside a printf argument list. */
char *snug_format_bytes(char *out, size_t cap, uint64_t bytes);

#endif
