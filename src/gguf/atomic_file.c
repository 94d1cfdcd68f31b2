/* atomic_file.c — write to a temporary file, rename into place when complete (see atomic_file.h). */
#include "gguf/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

/* Names tried when O_EXCL finds a leftover of the same name (another process with our pid long ago). */
#define TEMP_NAME_ATTEMPTS 100
/* The destination's name is cut to this many bytes in the temporary name, keeping it under NAME_MAX (255) with the
 * ".", ".snug-tmp-", the pid and the counter around it. */
#define TEMP_NAME_BASE_BYTES 200
/* Zeros are written from a block of this size. */
#define ZERO_BLOCK_BYTES 4096

/* ---- the table of temporary files in progress (read by a signal handler) ------------------------------------ */

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "a signal handler may only read lock-free atomics");

enum { SLOT_FREE = 0, SLOT_FILLING = 1, SLOT_LIVE = 2 };

static struct temporary {
    atomic_int state;
    char path[PATH_MAX];
} temporaries[SNUG_ATOMIC_FILE_SLOTS];

static atomic_uint temp_counter;

static int record_temporary(const char *path) {
    for (int i = 0; i < SNUG_ATOMIC_FILE_SLOTS; i++) {
        int expected = SLOT_FREE;
        if (atomic_compare_exchange_strong(&temporaries[i].state, &expected, SLOT_FILLING)) {
            memcpy(temporaries[i].path, path, strlen(path) + 1);
            atomic_store(&temporaries[i].state, SLOT_LIVE); /* the path is complete before a handler can see it */
            return i;
        }
    }
    return -1;
}

static void forget_temporary(snug_atomic_file *af) {
    if (af->slot >= 0) atomic_store(&temporaries[af->slot].state, SLOT_FREE);
    af->slot = -1;
}

/* Async-signal-safe: atomic loads and unlink(2) only. A temporary already renamed into place is gone under its
 * temporary name, so unlinking that name cannot touch a finished output. */
void snug_remove_temporary_files(void) {
    for (int i = 0; i < SNUG_ATOMIC_FILE_SLOTS; i++) {
        if (atomic_load(&temporaries[i].state) == SLOT_LIVE) unlink(temporaries[i].path);
    }
}

/* ---- opening ------------------------------------------------------------------------------------------------- */

static bool copy_path(char *dst, const char *src) {
    size_t len = strlen(src);
    if (len >= PATH_MAX) return false;
    memcpy(dst, src, len + 1);
    return true;
}

/* Fills af->target and af->directory; *mode gets the permission bits to keep (0 for a new file). */
static snug_status resolve_destination(snug_atomic_file *af, mode_t *mode, snug_error *err) {
    struct stat st;
    *mode = 0;
    if (stat(af->path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            snug_fail(err, SNUG_E_ARGUMENT, "%s: is %s; refusing to replace it with a file", af->path,
                      snug_file_kind((uint32_t)st.st_mode));
            snug_hint(err, "name a regular file (new or existing) as the output");
            return SNUG_E_ARGUMENT;
        }
        /* Replacing by rename needs only the folder's permission; a file the user may not write stays unwritten. */
        if (access(af->path, W_OK) != 0) {
            return snug_fail(err, SNUG_E_IO, "%s: cannot replace it: %s", af->path, strerror(errno));
        }
        if (!realpath(af->path, af->target)) {
            return snug_fail(err, SNUG_E_IO, "%s: cannot resolve the path: %s", af->path, strerror(errno));
        }
        *mode = st.st_mode & 07777;
    } else {
        int e = errno;
        struct stat link;
        if (e == ENOENT && lstat(af->path, &link) == 0 && S_ISLNK(link.st_mode)) {
            return snug_fail(err, SNUG_E_IO, "%s: is a symbolic link to a missing file", af->path);
        }
        if (e != ENOENT) return snug_fail(err, SNUG_E_IO, "%s: cannot check the output: %s", af->path, strerror(e));
        memcpy(af->target, af->path, strlen(af->path) + 1);
    }
    const char *slash = strrchr(af->target, '/');
    const char *base = slash ? slash + 1 : af->target;
    if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        return snug_fail(err, SNUG_E_ARGUMENT, "%s: names a folder, not a file", af->path);
    }
    if (!slash) {
        memcpy(af->directory, ".", 2);
    } else if (slash == af->target) {
        memcpy(af->directory, "/", 2);
    } else {
        size_t len = (size_t)(slash - af->target);
        memcpy(af->directory, af->target, len);
        af->directory[len] = '\0';
    }
    return SNUG_OK;
}

/* Creates the temporary file with every signal blocked in this thread, and records it before they are let in. */
static int create_temporary(snug_atomic_file *af) {
    const char *slash = strrchr(af->target, '/');
    const char *base = slash ? slash + 1 : af->target;
    const char *separator = strcmp(af->directory, "/") == 0 ? "" : "/";
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int fd = -1, e = 0;
    for (int attempt = 0; attempt < TEMP_NAME_ATTEMPTS; attempt++) {
        unsigned n = atomic_fetch_add(&temp_counter, 1);
        int len = snprintf(af->temp, sizeof af->temp, "%s%s.%.*s.snug-tmp-%ld-%u", af->directory, separator,
                           TEMP_NAME_BASE_BYTES, base, (long)getpid(), n);
        if (len < 0 || (size_t)len >= sizeof af->temp) {
            e = ENAMETOOLONG;
            break;
        }
        fd = open(af->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
        e = errno;
        if (fd >= 0 || e != EEXIST) break;
    }
    if (fd >= 0) af->slot = record_temporary(af->temp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return fd;
}

snug_status snug_atomic_file_open(snug_atomic_file *af, const char *path, snug_error *err) {
    memset(af, 0, offsetof(snug_atomic_file, path));
    af->slot = -1;
    af->temp[0] = af->target[0] = af->directory[0] = '\0';
    if (!path || !*path) return snug_fail(err, SNUG_E_ARGUMENT, "no output path given");
    if (!copy_path(af->path, path)) {
        return snug_fail(err, SNUG_E_ARGUMENT, "output path of %zu bytes is longer than the limit of %d", strlen(path),
                         PATH_MAX - 1);
    }
    mode_t mode;
    snug_status st = resolve_destination(af, &mode, err);
    if (st != SNUG_OK) return st;
    int fd = create_temporary(af);
    if (fd < 0) {
        int e = errno;
        af->temp[0] = '\0';
        return snug_fail(err, SNUG_E_IO, "%s: cannot create a temporary file in %s: %s", af->path, af->directory,
                         strerror(e));
    }
    if (mode != 0) (void)fchmod(fd, mode); /* a replaced file keeps its permissions; failing that is harmless */
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        snug_atomic_file_abort(af);
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "%s: out of memory opening the temporary file", af->path);
    }
    return SNUG_OK;
}

/* ---- writing ------------------------------------------------------------------------------------------------- */

static snug_status write_failed(const snug_atomic_file *af, int e, const char *step, snug_error *err) {
    snug_fail(err, SNUG_E_IO, "%s: %s failed after %llu bytes: %s; the output was not written (%s is as it was)",
              af->path, step, (unsigned long long)af->bytes, e ? strerror(e) : "write error", af->path);
    if (e == ENOSPC || e == EDQUOT) snug_hint(err, "free space on the disk holding %s, or write elsewhere", af->path);
    if (e == EFBIG) snug_hint(err, "the file size limit (ulimit -f) is too small for this file");
    return SNUG_E_IO;
}

snug_status snug_atomic_file_write(snug_atomic_file *af, const void *data, uint64_t bytes, snug_error *err) {
    if (bytes == 0) return SNUG_OK;
    errno = 0;
    size_t put = fwrite(data, 1, (size_t)bytes, af->f);
    if (put != bytes) {
        af->bytes += put;
        return write_failed(af, errno, "writing", err);
    }
    af->bytes += bytes;
    return SNUG_OK;
}

snug_status snug_atomic_file_zeros(snug_atomic_file *af, uint64_t bytes, snug_error *err) {
    static const uint8_t zeros[ZERO_BLOCK_BYTES];
    while (bytes > 0) {
        uint64_t chunk = bytes < sizeof zeros ? bytes : sizeof zeros;
        snug_status st = snug_atomic_file_write(af, zeros, chunk, err);
        if (st != SNUG_OK) return st;
        bytes -= chunk;
    }
    return SNUG_OK;
}

/* ---- finishing ----------------------------------------------------------------------------------------------- */

snug_status snug_atomic_file_commit(snug_atomic_file *af, snug_error *err) {
    const char *failed_step = NULL;
    int e = 0;
    errno = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) {
        e = errno;
        failed_step = "writing";
    } else if (fsync(fileno(af->f)) != 0) {
        e = errno;
        failed_step = "syncing";
    }
    int closed = fclose(af->f);
    af->f = NULL;
    if (!failed_step && closed != 0) {
        e = errno;
        failed_step = "closing";
    }
    if (!failed_step && rename(af->temp, af->target) != 0) {
        e = errno;
        failed_step = "renaming into place";
    }
    if (failed_step) {
        snug_status st = write_failed(af, e, failed_step, err);
        snug_atomic_file_abort(af);
        return st;
    }
    forget_temporary(af); /* after the rename: a handler unlinking the old name now finds nothing */
    af->temp[0] = '\0';
    /* The rename is a change to the folder: sync it too, or a crash could lose the new name (fsync(2)). Filesystems
     * that cannot sync a folder say EINVAL; a read-only one could not have taken the rename. */
    int dir = open(af->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 || (fsync(dir) != 0 && errno != EINVAL)) {
        e = errno;
        if (dir >= 0) close(dir);
        return snug_fail(err, SNUG_E_IO, "%s: written, but its folder %s could not be synced: %s", af->path,
                         af->directory, strerror(e));
    }
    close(dir);
    return SNUG_OK;
}

void snug_atomic_file_abort(snug_atomic_file *af) {
    if (af->f) fclose(af->f);
    af->f = NULL;
    if (af->temp[0]) unlink(af->temp);
    forget_temporary(af); /* after the unlink, so that a signal in between still removes it */
    af->temp[0] = '\0';
}
