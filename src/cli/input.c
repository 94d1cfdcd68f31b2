/* input.c — bounded input for the commands that read text: every text is bounded before it is read whole.
 *
 * The bound is what a context could ever hold: n_ctx tokens × the vocabulary's longest token, in bytes (no text
 * longer than that can be tokenized into n_ctx tokens, since every token covers at most that many bytes of it). A
 * text from stdin or a file is read in blocks, never more than the bound + 1 byte (the byte that proves the excess),
 * so /dev/zero or an endless pipe costs at most the bound in memory and stops with both numbers.
 *
 * Files given with -f must be regular files: a FIFO, a socket, a terminal or another device could block or never
 * end; those are read through stdin with -p -, where blocking is what the user asked for and the bound still holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

/* stdin and files are read in blocks of this size; the buffer starts at one block and doubles up to the bound. */
#define READ_BLOCK_BYTES 65536u
/* Decoded pieces are read into a buffer of this size; real vocabularies' longest pieces are well under 1 KiB. */
#define PIECE_BUFFER_BYTES 4096u

uint64_t cli_model_token_bytes_max(const snug_model *model, int32_t n_vocab) {
    char piece[PIECE_BUFFER_BYTES];
    uint64_t longest = 1;
    for (snug_token t = 0; t < n_vocab; t++) {
        /* prev = t: any token but -1 or BOS, so a SentencePiece piece keeps its leading space (one input byte). */
        size_t len = snug_token_to_piece(model, t, t, piece, sizeof piece);
        if (len > longest) longest = len;
    }
    return longest;
}

uint64_t cli_vocab_token_bytes_max(const snug_vocab *vocab) {
    char piece[PIECE_BUFFER_BYTES];
    uint64_t longest = 1;
    const int32_t n_vocab = snug_vocab_n_tokens(vocab);
    for (snug_token t = 0; t < n_vocab; t++) {
        size_t len = snug_vocab_piece(vocab, t, t, piece, sizeof piece);
        if (len > longest) longest = len;
    }
    return longest;
}

uint64_t cli_input_limit_bytes(const cli_input_limit *limit) { return (uint64_t)limit->n_ctx * limit->token_bytes; }

snug_status cli_input_too_long(const char *what, uint64_t bytes, bool more, const cli_input_limit *limit,
                               snug_error *err) {
    err->status = SNUG_E_CONTEXT_FULL;
    snprintf(err->message, sizeof err->message,
             "%s is %s%llu bytes, longer than %s could ever hold (%d tokens × %llu bytes, the vocabulary's longest "
             "token, = %llu bytes)",
             what, more ? "more than " : "", (unsigned long long)bytes, limit->what, limit->n_ctx,
             (unsigned long long)limit->token_bytes, (unsigned long long)cli_input_limit_bytes(limit));
    snprintf(err->hint, sizeof err->hint, "%s", limit->hint ? limit->hint : "");
    return SNUG_E_CONTEXT_FULL;
}

/* Reads fd to its end into a malloc'd buffer, at most limit + 1 bytes. */
static snug_status read_bounded(int fd, const char *what, const cli_input_limit *limit, cli_text *out,
                                snug_error *err) {
    const uint64_t max_bytes = cli_input_limit_bytes(limit);
    size_t cap = READ_BLOCK_BYTES, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            err->status = SNUG_E_OUT_OF_MEMORY;
            snprintf(err->message, sizeof err->message, "out of memory reading %s (%zu bytes so far)", what, len);
            err->hint[0] = '\0';
            return SNUG_E_OUT_OF_MEMORY;
        }
        if (len > max_bytes) {
            free(buf);
            return cli_input_too_long(what, max_bytes, true, limit, err);
        }
        if (len == cap) {
            size_t grown_cap = cap * 2;
            if (grown_cap > max_bytes + 1) grown_cap = (size_t)(max_bytes + 1);
            char *grown = realloc(buf, grown_cap + 1);
            if (!grown) free(buf);
            buf = grown;
            cap = grown_cap;
            continue;
        }
        /* Never ask for more than the bound + 1 byte. */
        uint64_t wanted = max_bytes + 1 - len;
        size_t ask = cap - len < wanted ? cap - len : (size_t)wanted;
        ssize_t got = read(fd, buf + len, ask);
        if (got < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            err->status = SNUG_E_IO;
            snprintf(err->message, sizeof err->message, "reading %s failed after %zu bytes: %s", what, len,
                     strerror(e));
            err->hint[0] = '\0';
            return SNUG_E_IO;
        }
        if (got == 0) break;
        len += (size_t)got;
    }
    buf[len] = '\0';
    out->bytes = buf;
    out->len = len;
    return SNUG_OK;
}

static void drop_final_newline(cli_text *text) {
    if (text->len > 0 && text->bytes[text->len - 1] == '\n') text->bytes[--text->len] = '\0';
}

snug_status cli_read_stdin(const cli_input_limit *limit, bool drop_newline, cli_text *out, snug_error *err) {
    snug_status st = read_bounded(STDIN_FILENO, "stdin", limit, out, err);
    if (st == SNUG_OK && drop_newline) drop_final_newline(out);
    return st;
}

snug_status cli_read_text_file(const char *path, const cli_input_limit *limit, bool drop_newline, cli_text *out,
                               snug_error *err) {
    err->hint[0] = '\0';
    int fd;
    uint64_t file_bytes;
    snug_status opened = snug_open_regular_file(path, &fd, &file_bytes, err);
    struct stat st;
    if (opened != SNUG_OK && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) { /* a pipe can still come on stdin */
        snprintf(err->hint, sizeof err->hint,
                 "-f reads regular files only; to read a pipe or a terminal, give it on "
                 "stdin with -p -");
    }
    if (opened != SNUG_OK) return opened;
    if (file_bytes > cli_input_limit_bytes(limit)) {
        close(fd);
        char what[512];
        snprintf(what, sizeof what, "%s", path);
        return cli_input_too_long(what, file_bytes, false, limit, err);
    }
    snug_status status = read_bounded(fd, path, limit, out, err);
    close(fd);
    if (status == SNUG_OK && drop_newline) drop_final_newline(out);
    return status;
}

void cli_text_free(cli_text *text) {
    free(text->bytes);
    text->bytes = NULL;
    text->len = 0;
}
