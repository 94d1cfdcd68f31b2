/* memory.c — reading available memory from /proc/meminfo and the cgroup limits (see memory.h).
 *
 * Every path is built below a root directory so that tests can probe a fake /proc and /sys/fs/cgroup; the real probe
 * uses the root "". Nothing here allocates: paths live in fixed buffers and a path that does not fit is skipped.
 */
#include "plan/memory.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* The longest line of /proc/self/cgroup we read; a cgroup path longer than this is treated as unknown. */
#define CGROUP_LINE_BYTES 4096

/* Where cgroup file systems are mounted (relative to the root): v2 alone ("unified"), v1 per controller. */
static const char CGROUP_V2_MOUNT[] = "/sys/fs/cgroup";
static const char CGROUP_V1_MEMORY_MOUNT[] = "/sys/fs/cgroup/memory";

/* The two generations name their files differently; a level counts only when both files hold numbers. */
typedef struct cgroup_files {
    const char *limit; /* "max" (v2) or a number; v1's "no limit" is a huge number, larger than any RAM */
    const char *usage;
    const char *source; /* what the report says when this generation sets the available memory */
} cgroup_files;

static const cgroup_files CGROUP_V2 = {"memory.max", "memory.current", "cgroup v2"};
static const cgroup_files CGROUP_V1 = {"memory.limit_in_bytes", "memory.usage_in_bytes", "cgroup v1"};

/* Reads "Key:   N kB" from a meminfo file. */
static bool meminfo_kib(const char *path, const char *key, uint64_t *out) {
    FILE *f = fopen(path, "r");
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

/* Does a comma-separated controller list ("cpu,cpuacct") name `controller`? */
static bool lists_controller(const char *list, size_t len, const char *controller) {
    size_t want = strlen(controller);
    for (size_t start = 0; start < len;) {
        size_t end = start;
        while (end < len && list[end] != ',') end++;
        if (end - start == want && strncmp(list + start, controller, want) == 0) return true;
        start = end + 1;
    }
    return false;
}

/* This process's cgroup path in one hierarchy, from /proc/self/cgroup ("hierarchy:controllers:path" a line): the v2
 * hierarchy is the line "0::/path", a v1 hierarchy is the line whose controller list names `controller`. Writes ""
 * (the mount point itself) when the file or the line is missing, and for a path that climbs out of the mount (a
 * cgroup namespace can show "/.."): the mount point is then the closest cgroup we can read. */
static void self_cgroup_path(const char *root, const char *controller, char *out, size_t cap) {
    out[0] = '\0';
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/proc/self/cgroup", root) >= (int)sizeof path) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[CGROUP_LINE_BYTES];
    while (fgets(line, sizeof line, f)) {
        char *first = strchr(line, ':');
        char *second = first ? strchr(first + 1, ':') : NULL;
        if (!second) continue;
        size_t list_len = (size_t)(second - first - 1);
        bool match = controller ? lists_controller(first + 1, list_len, controller)
                                : (list_len == 0 && first - line == 1 && line[0] == '0');
        if (!match) continue;
        char *cgroup = second + 1;
        cgroup[strcspn(cgroup, "\n")] = '\0';
        size_t len = strlen(cgroup);
        while (len > 0 && cgroup[len - 1] == '/') cgroup[--len] = '\0'; /* "/" is the mount point itself */
        if (strstr(cgroup, "/..") == NULL && len < cap) memcpy(out, cgroup, len + 1);
        break;
    }
    fclose(f);
}

/* Visits the process's cgroup directory and each parent up to the mount point, lowering *limit_min and *room_min
 * (room = limit − usage) at every level that has a numeric limit. Returns whether any level had one. */
static bool cgroup_walk(const char *root, const char *mount, const char *cgroup, const cgroup_files *files,
                        uint64_t *limit_min, uint64_t *room_min) {
    char dir[PATH_MAX];
    int mount_len = snprintf(dir, sizeof dir, "%s%s", root, mount);
    if (mount_len < 0 || mount_len >= (int)sizeof dir) return false;
    if (snprintf(dir, sizeof dir, "%s%s%s", root, mount, cgroup) >= (int)sizeof dir) dir[mount_len] = '\0';
    bool found = false;
    for (;;) {
        char limit_path[PATH_MAX + 32], usage_path[PATH_MAX + 32];
        snprintf(limit_path, sizeof limit_path, "%s/%s", dir, files->limit);
        snprintf(usage_path, sizeof usage_path, "%s/%s", dir, files->usage);
        uint64_t limit, usage;
        if (read_number(limit_path, &limit) && read_number(usage_path, &usage)) {
            uint64_t room = limit > usage ? limit - usage : 0;
            if (!found || limit < *limit_min) *limit_min = limit;
            if (!found || room < *room_min) *room_min = room;
            found = true;
        }
        char *slash = strrchr(dir + mount_len, '/');
        if (!slash) break; /* the mount point has been read */
        *slash = '\0';
    }
    return found;
}

bool snug_memory_probe_root(const char *root, snug_memory_info *out) {
    char meminfo[PATH_MAX];
    if (snprintf(meminfo, sizeof meminfo, "%s/proc/meminfo", root) >= (int)sizeof meminfo) return false;
    uint64_t total_kib, available_kib;
    if (!meminfo_kib(meminfo, "MemTotal", &total_kib) || !meminfo_kib(meminfo, "MemAvailable", &available_kib)) {
        return false;
    }
    out->total_bytes = total_kib * 1024;
    out->available_bytes = available_kib * 1024;
    out->source = "meminfo";
    out->cgroup_limit_bytes = 0;

    /* v2 first (the unified hierarchy); v1's memory controller only when v2 sets no limit (hybrid systems). */
    char cgroup[CGROUP_LINE_BYTES];
    uint64_t limit = 0, room = 0;
    const cgroup_files *files = &CGROUP_V2;
    self_cgroup_path(root, NULL, cgroup, sizeof cgroup);
    bool limited = cgroup_walk(root, CGROUP_V2_MOUNT, cgroup, files, &limit, &room);
    if (!limited) {
        files = &CGROUP_V1;
        self_cgroup_path(root, "memory", cgroup, sizeof cgroup);
        limited = cgroup_walk(root, CGROUP_V1_MEMORY_MOUNT, cgroup, files, &limit, &room);
    }
    if (!limited) return true;
    if (limit < out->total_bytes) {
        out->total_bytes = limit;
        out->cgroup_limit_bytes = limit;
    }
    if (room < out->available_bytes) {
        out->available_bytes = room;
        out->source = files->source;
    }
    return true;
}

bool snug_memory_probe(snug_memory_info *out) { return snug_memory_probe_root("", out); }

uint64_t snug_huge_page_probe_root(const char *root) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/sys/kernel/mm/transparent_hugepage/enabled", root) >= (int)sizeof path)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char modes[128]; /* "always [madvise] never": the selected mode is bracketed */
    bool offered = fgets(modes, sizeof modes, f) && (strstr(modes, "[always]") || strstr(modes, "[madvise]"));
    fclose(f);
    if (!offered) return 0;
    uint64_t bytes;
    if (snprintf(path, sizeof path, "%s/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", root) >= (int)sizeof path ||
        !read_number(path, &bytes)) {
        return 0;
    }
    /* A power of two the size of a page table's reach (2 MiB on x86-64; 512 MiB with 64 KiB pages on arm64). */
    return bytes >= 4096 && (bytes & (bytes - 1)) == 0 ? bytes : 0;
}
