/* units.c — human-readable byte counts (see units.h). */
#include "base/units.h"

#include <stdio.h>

char *snug_format_bytes(char *out, size_t cap, uint64_t bytes) {
    if (bytes >= (1ull << 30))
        snprintf(out, cap, "%.2f GiB", (double)bytes / (double)(1ull << 30));
    else if (bytes >= (1ull << 20))
        snprintf(out, cap, "%.1f MiB", (double)bytes / (double)(1ull << 20));
    else if (bytes >= (1ull << 10))
        snprintf(out, cap, "%.1f KiB", (double)bytes / 1024.0);
    else
        snprintf(out, cap, "%llu B", (unsigned long long)bytes);
    return out;
}
