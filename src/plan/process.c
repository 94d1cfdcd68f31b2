/* process.c — this process's resident program and library pages, from /proc/self/smaps (see process.h).
 *
 * smaps lists every mapping as a header line "start-end perms offset dev inode path" followed by "Key: N kB" lines.
 * A loaded object appears as several mappings of one file (r--p, r-xp, r--p, rw-p segments), so pages are summed
 * per file (device and inode) and a file counts when any of its mappings is executable. Rss − Anonymous is what the
 * file itself keeps resident: a private segment's copied-on-write pages are anonymous memory, which the plan's
 * runtime_overhead item already holds. Nothing here allocates: the files live in a fixed table.
 */
#include "plan/process.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Distinct mapped files we keep apart: a process of snug's maps a dozen (the program, ld.so, libc, libm,
 * libhwloc, libudev, libjansson, libpcre2 and the model); files beyond the table are not counted. */
#define MAX_MAPPED_FILES 256
/* smaps lines are short ("Rss:  123 kB"); a header line carries a path of up to PATH_MAX, which we do not need
 * whole: a longer line is read in pieces and only its start is parsed. */
#define SMAPS_LINE_BYTES 512

typedef struct mapped_file {
    unsigned major, minor;
    uint64_t inode;
    uint64_t file_bytes; /* Rss − Anonymous over its mappings */
    bool executable;
} mapped_file;

bool snug_process_code_resident_bytes_from(const char *path, uint64_t *out) {
    *out = 0;
    FILE *f = fopen(path, "r");
    if (!f) return false;
    mapped_file files[MAX_MAPPED_FILES];
    int n_files = 0;
    mapped_file *current = NULL; /* the file of the mapping whose lines are being read; NULL: anonymous */
    uint64_t rss_kib = 0, anon_kib = 0;
    char line[SMAPS_LINE_BYTES];
    bool line_start = true;
    while (fgets(line, sizeof line, f)) {
        bool starts_line = line_start;
        line_start = strchr(line, '\n') != NULL;
        if (!starts_line) continue; /* the rest of a long path */
        unsigned long long start, end, offset, inode;
        char perms[8];
        unsigned major, minor;
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &start, &end, perms, &offset, &major, &minor, &inode) == 7) {
            if (current && rss_kib > anon_kib) current->file_bytes += (rss_kib - anon_kib) * 1024;
            rss_kib = anon_kib = 0;
            current = NULL;
            if (inode == 0) continue; /* anonymous memory, the heap, the stack, [vdso] */
            for (int i = 0; i < n_files && !current; i++) {
                if (files[i].inode == inode && files[i].major == major && files[i].minor == minor) current = &files[i];
            }
            if (!current && n_files < MAX_MAPPED_FILES) {
                current = &files[n_files++];
                *current = (mapped_file){major, minor, (uint64_t)inode, 0, false};
            }
            if (current && strchr(perms, 'x')) current->executable = true;
            continue;
        }
        uint64_t kib;
        if (sscanf(line, "Rss: %" SCNu64 " kB", &kib) == 1) rss_kib = kib;
        if (sscanf(line, "Anonymous: %" SCNu64 " kB", &kib) == 1) anon_kib = kib;
    }
    if (current && rss_kib > anon_kib) current->file_bytes += (rss_kib - anon_kib) * 1024;
    fclose(f);
    for (int i = 0; i < n_files; i++) {
        if (files[i].executable) *out += files[i].file_bytes;
    }
    return true;
}

bool snug_process_code_resident_bytes(uint64_t *out) {
    return snug_process_code_resident_bytes_from("/proc/self/smaps", out);
}
