/* files.c — opening a file to read without ever blocking, and naming what a path is when it is not a regular file.
 *
 * Every input snug reads whole or maps (a model, a vocabulary, a prompt file) goes through snug_open_regular_file:
 * O_NONBLOCK makes open() of a FIFO return at once instead of waiting for a writer (and changes nothing for a regular
 * file, the only kind then accepted); a socket fails open() with ENXIO and is named from stat(). Callers: the GGUF
 * reader, the atomic writer's checks of its destination (snug_file_kind), and the CLI's -f.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "snug.h"

const char *snug_file_kind(uint32_t mode) {
    const mode_t m = (mode_t)mode;
    if (S_ISREG(m)) return "a regular file";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    return "not a regular file";
}

static snug_status refuse_kind(const char *path, mode_t mode, snug_error *err) {
    snug_fail(err, SNUG_E_IO, "%s: is %s, not a regular file", path, snug_file_kind((uint32_t)mode));
    snug_hint(err, "snug reads models, vocabularies and prompt files from regular files; save a stream to a file "
                   "first");
    return SNUG_E_IO;
}

snug_status snug_open_regular_file(const char *path, int *fd_out, uint64_t *bytes, snug_error *err) {
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0) {
        int e = errno;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return refuse_kind(path, st.st_mode, err);
        return snug_fail(err, SNUG_E_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return snug_fail(err, SNUG_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return refuse_kind(path, st.st_mode, err);
    }
    /* Reads of a regular file never block; clearing the flag keeps later reads ordinary all the same. */
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    *fd_out = fd;
    *bytes = (uint64_t)st.st_size;
    return SNUG_OK;
}
