/* tokenize.c — `snug tokenize MODEL TEXT [--ids|--pieces] [--bos] [--special] [--ctx N]`: a model's (or vocabulary-only
 * file's) tokenizer applied to TEXT ("-": stdin). Loads only the vocabulary (snug_vocab), plans the scratch for this
 * text's length, and allocates it once.
 *
 * Bounded input: the text may be at most what a context could ever hold, n_ctx × the vocabulary's longest token in
 * bytes, with n_ctx given by --ctx, else the file's trained context (<arch>.context_length; llama.cpp's
 * vocabulary-only files carry their model's), else TOKENIZE_VOCAB_ONLY_CTX for a file that names none. stdin is read
 * only up to that bound + 1 byte, so `< /dev/zero` stops with both numbers after reading the bound, and memory stays
 * within the bound plus the scratch for it.
 *
 * Output: --ids one line of ids separated by single spaces; --pieces one "id<TAB>piece" line per token (the piece as
 * decoded text, with \n, \t and \\ escaped so every token stays on its line); default: the --ids line, then the
 * --pieces lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Decoded pieces are at most this long (the longest piece in real vocabularies is well under 1 KiB). */
#define PIECE_BYTES 4096u
/* Tokens a text of n bytes can give: one per byte (byte fallback / byte-level BPE), the dummy-prefix space, BOS. */
#define EXTRA_TOKENS 2u
/* The context assumed for a file that names none (llama.cpp's ggml-vocab-*.gguf do carry their model's
 * <arch>.context_length; a bare vocabulary from another tool may not): 131072 tokens, the trained context of the
 * longest-context families whose vocabularies are shipped alone (Llama 3.1 / 3.2, Qwen2.5, DeepSeek V2 / V3 all train
 * with 128K). A text longer than this many of the vocabulary's longest tokens fits no such model, and the bound keeps
 * `tokenize` from reading (and allocating scratch for) an endless stream. */
#define TOKENIZE_VOCAB_ONLY_CTX 131072

/* The trained context named by the file (<general.architecture>.context_length), or 0 when it names none. */
static int32_t trained_context(const char *path) {
    snug_gguf *g = NULL;
    if (snug_gguf_open(path, SNUG_GGUF_ALLOW_MISSING_DATA, &g, NULL) != SNUG_OK) return 0;
    int32_t n_ctx = 0;
    const char *arch;
    uint64_t arch_len;
    int64_t index = snug_gguf_find_key(g, "general.architecture"), value;
    if (index >= 0 && snug_gguf_kv_get_string(g, (uint64_t)index, &arch, &arch_len) && arch_len < 64) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.context_length", (int)arch_len, arch);
        index = snug_gguf_find_key(g, key);
        if (index >= 0 && snug_gguf_kv_get_i64(g, (uint64_t)index, &value) && value > 0 && value <= INT32_MAX)
            n_ctx = (int32_t)value;
    }
    snug_gguf_close(g);
    return n_ctx;
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
    int64_t ctx_option = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: snug tokenize MODEL TEXT [--ids|--pieces] [--bos] [--special] [--ctx N]\n\n"
                   "Tokenizes TEXT ('-' reads stdin) with the vocabulary of MODEL (a full model or a vocabulary-only\n"
                   "GGUF file). --ids: the ids on one line; --pieces: one 'id<TAB>piece' line per token; default:\n"
                   "both. --bos prepends BOS; --special turns the text of special tokens into those tokens.\n\n"
                   "The text may be at most a context × the vocabulary's longest token, in bytes: the context is\n"
                   "--ctx N, else the file's trained context, else (for a file that names none) %d\n"
                   "tokens. stdin is read no further than that; a longer text is refused with exit code 2.\n",
                   TOKENIZE_VOCAB_ONLY_CTX);
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
        } else if (strcmp(argv[i], "--ctx") == 0) {
            if (i + 1 >= argc || !cli_parse_i64(argv[i + 1], 1, INT32_MAX, &ctx_option))
                return cli_usage_error("tokenize", "--ctx must be a count of tokens >= 1");
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage_error("tokenize", "unknown option '%s'", argv[i]);
        } else {
            if (n_args == 2) return cli_usage_error("tokenize", "unexpected argument '%s'", argv[i]);
            args[n_args++] = argv[i];
        }
    }
    if (n_args != 2) return cli_usage_error("tokenize", "expected MODEL TEXT");

    snug_error err = {0};
    snug_vocab *vocab = NULL;
    snug_status st = snug_vocab_load(args[0], &vocab, &err);
    if (st != SNUG_OK) return cli_report(&err);

    int32_t n_ctx = ctx_option > 0 ? (int32_t)ctx_option : trained_context(args[0]);
    char limit_what[160];
    cli_input_limit limit = {n_ctx > 0 ? n_ctx : TOKENIZE_VOCAB_ONLY_CTX, cli_vocab_token_bytes_max(vocab), limit_what,
                             "--ctx N sets the context the text must fit"};
    if (ctx_option > 0) {
        snprintf(limit_what, sizeof limit_what, "a context of %d tokens (--ctx)", n_ctx);
    } else if (n_ctx > 0) {
        snprintf(limit_what, sizeof limit_what, "the model's trained context of %d tokens", n_ctx);
    } else {
        snprintf(limit_what, sizeof limit_what, "a context of %d tokens (assumed: the file names no context length)",
                 limit.n_ctx);
    }
    cli_text text = {0};
    if (strcmp(args[1], "-") == 0) {
        st = cli_read_stdin(&limit, false, &text, &err);
    } else if (strlen(args[1]) > cli_input_limit_bytes(&limit)) {
        st = cli_input_too_long("the text", strlen(args[1]), false, &limit, &err);
    } else {
        text.bytes = strdup(args[1]);
        text.len = strlen(args[1]); /* a failed strdup is reported with the allocations below */
    }
    if (st != SNUG_OK) {
        snug_vocab_free(vocab);
        return cli_report(&err);
    }

    const uint64_t scratch_bytes = snug_vocab_scratch_bytes(vocab, text.len);
    const size_t cap = text.len + EXTRA_TOKENS;
    void *scratch = scratch_bytes == UINT64_MAX ? NULL : malloc((size_t)scratch_bytes);
    snug_token *tokens = malloc(cap * sizeof *tokens);
    int rc = SNUG_EXIT_OK;
    size_t n = 0;
    if (scratch == NULL || tokens == NULL || text.bytes == NULL) {
        fprintf(stderr, "snug: error: could not allocate %llu bytes of tokenizer scratch for %zu bytes of text\n",
                (unsigned long long)scratch_bytes, text.len);
        rc = SNUG_EXIT_FAILURE;
    } else {
        st = snug_vocab_tokenize(vocab, text.bytes, text.len, add_bos, special, scratch, scratch_bytes, tokens, cap, &n,
                                 &err);
        if (st != SNUG_OK) rc = cli_report(&err);
    }
    if (rc == SNUG_EXIT_OK && ids) {
        for (size_t i = 0; i < n && !ferror(stdout); i++) printf(i ? " %d" : "%d", tokens[i]);
        putchar('\n');
    }
    if (rc == SNUG_EXIT_OK && pieces) {
        char piece[PIECE_BYTES];
        for (size_t i = 0; i < n && !ferror(stdout); i++) { /* a failed write ends the listing (cli_finish says) */
            size_t len = snug_vocab_piece(vocab, i ? tokens[i - 1] : -1, tokens[i], piece, sizeof piece);
            printf("%d\t", tokens[i]);
            print_escaped(piece, len);
            putchar('\n');
        }
    }
    free(tokens);
    free(scratch);
    cli_text_free(&text);
    snug_vocab_free(vocab);
    return rc;
}
