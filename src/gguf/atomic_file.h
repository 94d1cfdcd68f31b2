/* atomic_file.h — files that appear whole or not at all. Every file snug writes (`snug quantize`, the GGUF writer
 * and its stream, synthetic models, the demo export) goes through here.
 *
 * The bytes go to a temporary file created (O_EXCL) in the destination's folder, named ".NAME.snug-tmp-PID-N" so it
 * is hidden and on the same filesystem. Only when every byte is written, flushed and fsync'ed is it renamed over the
 * destination, and then the folder is fsync'ed so that the rename itself survives a crash. On any failure (ENOSPC,
 * EFBIG, EIO, a caller that gives up) the temporary file is removed: the destination is either exactly what it was
 * or the complete new file, never a prefix of it.
 *
 * The destination is resolved first: a symbolic link's target is replaced (the link stays a link), and an existing
 * destination that is not a regular file (a directory, a device such as /dev/null, a FIFO) is refused, so nothing is
 * ever renamed over it. A replaced file keeps its permission bits; a new one gets 0666 less the umask.
 *
 * Signals: the path of every temporary file being written is kept in a fixed table (SNUG_ATOMIC_FILE_SLOTS entries,
 * no allocation) that snug_remove_temporary_files() (snug.h) reads with atomic loads and unlink(2) only, so a
 * SIGINT / SIGTERM handler may call it and then re-raise the signal. Signals are blocked in the short window between
 * creating a temporary file and recording it, so no signal can leave an unrecorded one behind.
 *
 * Library code: never prints, never exits; every failure is a snug_status with the path and the byte counts.
 */
#ifndef SNUG_GGUF_ATOMIC_FILE_H
#define SNUG_GGUF_ATOMIC_FILE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "snug.h"

/* Temporary files that can be in progress at once in one process and still be removed by a signal handler (a write
 * beyond this is still atomic; only its signal-time cleanup is lost). */
#define SNUG_ATOMIC_FILE_SLOTS 16

typedef struct snug_atomic_file {
    FILE *f;
    uint64_t bytes;           /* written so far, for messages */
    int slot;                 /* index in the table of temporaries, -1 when the table was full */
    char path[PATH_MAX];      /* the destination as the caller named it (for messages) */
    char target[PATH_MAX];    /* the destination with symbolic links resolved: what is replaced */
    char temp[PATH_MAX];      /* the temporary file */
    char directory[PATH_MAX]; /* the folder of both, fsync'ed after the rename */
} snug_atomic_file;

/* Creates the temporary file for `path`. On failure nothing exists on disk and *af needs no cleanup. */
snug_status snug_atomic_file_open(snug_atomic_file *af, const char *path, snug_error *err);
/* Appends bytes (or zeros). On failure the temporary file is still there: call snug_atomic_file_abort. */
snug_status snug_atomic_file_write(snug_atomic_file *af, const void *data, uint64_t bytes, snug_error *err);
snug_status snug_atomic_file_zeros(snug_atomic_file *af, uint64_t bytes, snug_error *err);
/* Flushes, fsyncs, closes and renames into place, then fsyncs the folder. On failure the temporary file is removed
 * and the destination is as it was. Either way *af is finished. */
snug_status snug_atomic_file_commit(snug_atomic_file *af, snug_error *err);
/* Closes and removes the temporary file; the destination is as it was. */
void snug_atomic_file_abort(snug_atomic_file *af);

#endif
