/* memory.c — reading available memory from /proc/meminfo and the cgroup limits (see memory.h). */
#include "plan/memory.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Reads "Key:   N kB" from /proc/meminfo. */
static bool meminfo_kib(const char *key, uint64_t *out) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return false;
    char line[256];
    bool found = false;
    size_t key_len = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, key_len) == 0 && line[key_len] == ':') {
            found = sscanf(line + key_len + 1, "%" SCNu64, out) == 1;
            break;
        }
    }
    fclose(f);
    return found;
}

/* Reads one number from a file; false for "max", missing files and garbage. */
static bool read_number(const char *path, uint64_t *out) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fscanf(f, "%" SCNu64, out) == 1;
    fclose(f);
    return ok;
}

bool snug_memory_probe(snug_memory_info *out) {
    uint64_t total_kib, available_kib;
    if (!meminfo_kib("MemTotal", &total_kib) || !meminfo_kib("MemAvailable", &available_kib)) return false;
    out->total_bytes = total_kib * 1024;
    out->available_bytes = available_kib * 1024;
    out->source = "meminfo";
    uint64_t limit, usage;
    if (read_number("/sys/fs/cgroup/memory.max", &limit) && read_number("/sys/fs/cgroup/memory.current", &usage)) {
        uint64_t room = limit > usage ? limit - usage : 0;
        if (limit < out->total_bytes) out->total_bytes = limit;
        if (room < out->available_bytes) {
            out->available_bytes = room;
            out->source = "cgroup v2";
        }
    } else if (read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes", &limit) &&
               read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes", &usage)) {
        uint64_t room = limit > usage ? limit - usage : 0;
        if (limit < out->total_bytes) out->total_bytes = limit;
        if (room < out->available_bytes) {
            out->available_bytes = room;
            out->source = "cgroup v1";
        }
    }
    return true;
}
