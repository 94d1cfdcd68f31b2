/* tokenize.c — `snug tokenize MODEL TEXT [--ids|--pieces] [--bos] [--special]`: a model's (or vocabulary-only
 * file's) tokenizer applied to TEXT ("-": stdin). Loads only the vocabulary (snug_vocab), plans the scratch for this
 * text's length, and allocates it once.
 *
 * Output: --ids one line of ids separated by single spaces; --pieces one "id<TAB>piece" line per token (the piece as
 * decoded text, with \n, \t and \\ escaped so every token stays on its line); default: the --ids line, then the
 * --pieces lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* stdin is read in chunks of this size. */
#define STDIN_CHUNK_BYTES 65536u
/* Decoded pieces are at most this long (the longest piece in real vocabularies is well under 1 KiB). */
#define PIECE_BYTES 4096u
/* Tokens a text of n bytes can give: one per byte (byte fallback / byte-level BPE), the dummy-prefix space, BOS. */
#define EXTRA_TOKENS 2u

static char *read_stdin(size_t *bytes) {
    size_t cap = STDIN_CHUNK_BYTES, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + len, 1, cap - len, stdin);
        len += got;
        if (got == 0) break;
        if (len == cap) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
    }
    *bytes = len;
    return buf;
}

static void print_escaped(const char *text, size_t bytes) {
    for (size_t i = 0; i < bytes; i++) {
        if (text[i] == '\n') {
            fputs("\\n", stdout);
        } else if (text[i] == '\t') {
            fputs("\\t", stdout);
        } else if (text[i] == '\\') {
            fputs("\\\\", stdout);
        } else {
            putchar(text[i]);
        }
    }
}

int cli_tokenize(int argc, char **argv) {
    const char *args[2] = {NULL, NULL};
    int n_args = 0;
    bool ids = true, pieces = true, add_bos = false, special = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: snug tokenize MODEL TEXT [--ids|--pieces] [--bos] [--special]\n\n"
                   "Tokenizes TEXT ('-' reads stdin) with the vocabulary of MODEL (a full model or a vocabulary-only\n"
                   "GGUF file). --ids: the ids on one line; --pieces: one 'id<TAB>piece' line per token; default:\n"
                   "both. --bos prepends BOS; --special turns the text of special tokens into those tokens.\n");
            return SNUG_EXIT_OK;
        }
        if (strcmp(argv[i], "--ids") == 0) {
            ids = true;
            pieces = false;
        } else if (strcmp(argv[i], "--pieces") == 0) {
            ids = false;
            pieces = true;
        } else if (strcmp(argv[i], "--bos") == 0) {
            add_bos = true;
        } else if (strcmp(argv[i], "--special") == 0) {
            special = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage_error("tokenize", "unknown option '%s'", argv[i]);
        } else {
            if (n_args == 2) return cli_usage_error("tokenize", "unexpected argument '%s'", argv[i]);
            args[n_args++] = argv[i];
        }
    }
    if (n_args != 2) return cli_usage_error("tokenize", "expected MODEL TEXT");

    size_t text_bytes;
    char *owned_text = NULL;
    const char *text = args[1];
    if (strcmp(text, "-") == 0) {
        owned_text = read_stdin(&text_bytes);
        if (owned_text == NULL) {
            fprintf(stderr, "snug: error: could not read stdin\n");
            return SNUG_EXIT_FAILURE;
        }
        text = owned_text;
    } else {
        text_bytes = strlen(text);
    }

    snug_error err = {0};
    snug_vocab *vocab = NULL;
    snug_status st = snug_vocab_load(args[0], &vocab, &err);
    if (st != SNUG_OK) {
        free(owned_text);
        return cli_report(&err);
    }
    const uint64_t scratch_bytes = snug_vocab_scratch_bytes(vocab, text_bytes);
    const size_t cap = text_bytes + EXTRA_TOKENS;
    void *scratch = scratch_bytes == UINT64_MAX ? NULL : malloc((size_t)scratch_bytes);
    snug_token *tokens = malloc(cap * sizeof *tokens);
    int rc = SNUG_EXIT_OK;
    size_t n = 0;
    if (scratch == NULL || tokens == NULL) {
        fprintf(stderr, "snug: error: could not allocate %llu bytes of tokenizer scratch for %zu bytes of text\n",
                (unsigned long long)scratch_bytes, text_bytes);
        rc = SNUG_EXIT_FAILURE;
    } else {
        st = snug_vocab_tokenize(vocab, text, text_bytes, add_bos, special, scratch, scratch_bytes, tokens, cap, &n,
                                 &err);
        if (st != SNUG_OK) rc = cli_report(&err);
    }
    if (rc == SNUG_EXIT_OK && ids) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", tokens[i]);
        putchar('\n');
    }
    if (rc == SNUG_EXIT_OK && pieces) {
        char piece[PIECE_BYTES];
        for (size_t i = 0; i < n; i++) {
            size_t len = snug_vocab_piece(vocab, i ? tokens[i - 1] : -1, tokens[i], piece, sizeof piece);
            printf("%d\t", tokens[i]);
            print_escaped(piece, len);
            putchar('\n');
        }
    }
    free(tokens);
    free(scratch);
    free(owned_text);
    snug_vocab_free(vocab);
    return rc;
}
