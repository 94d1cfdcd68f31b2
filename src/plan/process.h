/* process.h — what this process itself keeps resident besides the plan's buffers: the program's and its shared
 * libraries' file-backed pages (code, read-only data), read from /proc/self/smaps.
 *
 * The planner adds them to the plan (line `runtime_code`) so that the plan's total is the process's peak RSS, not
 * its RSS minus a few MiB of libc, PCRE2 and snug's own kernels (DESIGN.md, contract item 2).
 */
#ifndef SNUG_PLAN_PROCESS_H
#define SNUG_PLAN_PROCESS_H

#include <stdbool.h>
#include <stdint.h>

/* Resident file-backed bytes (Rss − Anonymous, summed over every mapping) of the loaded objects of this process:
 * the files with at least one executable mapping (the program, ld.so, the shared libraries), all their segments.
 * Data files (a mapped model) have no executable mapping and are not counted. False when smaps cannot be read. */
bool snug_process_code_resident_bytes(uint64_t *out);

/* The same over an smaps file at `path` (tests give a fixed one). */
bool snug_process_code_resident_bytes_from(const char *path, uint64_t *out);

#endif
