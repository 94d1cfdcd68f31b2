/* common.c — what the fuzz harnesses share: failing loudly, checking error records, and turning an input into a
 * path (snug opens models by path).
 *
 * The input goes into one memfd per process, rewritten for each input and opened as /proc/self/fd/N: a regular file
 * to snug (fstat, mmap), with no disk traffic and nothing left behind.
 */
#include "fuzz/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void snug_fuzz_fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("fuzz: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    abort();
}

void snug_fuzz_check_error(snug_status st, const snug_error *err, const char *call) {
    if (st == SNUG_OK) return;
    if (err->status != st)
        snug_fuzz_fail("%s returned %s but its error record says %s", call, snug_status_name(st),
                       snug_status_name(err->status));
    size_t message = strnlen(err->message, sizeof err->message), hint = strnlen(err->hint, sizeof err->hint);
    if (message == 0) snug_fuzz_fail("%s failed (%s) with an empty message", call, snug_status_name(st));
    if (message == sizeof err->message || hint == sizeof err->hint)
        snug_fuzz_fail("%s failed (%s) with an unterminated message or hint", call, snug_status_name(st));
}

snug_error snug_fuzz_error(void) {
    snug_error err;
    memset(&err, 0, sizeof err);
    return err;
}

const char *snug_fuzz_path_of(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("snug-fuzz-input", MFD_CLOEXEC);
        if (fd < 0) snug_fuzz_fail("memfd_create failed");
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) snug_fuzz_fail("ftruncate of the input memfd failed");
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        if (n <= 0) snug_fuzz_fail("writing %zu bytes to the input memfd failed at %zu", size, done);
        done += (size_t)n;
    }
    return path;
}

const char *snug_fuzz_shared_file(const char *name) {
    static char path[4096];
    const char *shared = getenv("SNUG_SHARED");
    snprintf(path, sizeof path, "%s/models/%s", shared && *shared ? shared : "../shared", name);
    return path;
}

uint64_t snug_fuzz_touch(const void *p, size_t bytes) {
    /* Every byte read, so that ASan checks the whole range a pointer claims. */
    uint64_t sum = 0;
    for (size_t i = 0; i < bytes; i++) sum = sum * 31 + ((const uint8_t *)p)[i];
    return sum;
}
