/* vocab.c — tokenizer test helpers shared by test_tokenizer.c and test_tokenizer_bpe.c (see vocab.h). */
#include "support/vocab.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/support.h"

/* Opens a GGUF file and loads its tokenizer; skips the test when the shared file is missing. */
void open_vocab(const char *relative, vocab *v) {
    const char *path = test_shared_file(relative);
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open(path, 0, &v->gguf, &err), SNUG_OK, "open %s: %s", path, err.message);
    snug_status st = snug_tokenizer_load(&v->tok, v->gguf, &err);
    cr_assert_eq(st, SNUG_OK, "load tokenizer of %s: %s (%s)", path, err.message, snug_status_name(st));
}

void close_vocab(vocab *v) {
    snug_tokenizer_free(&v->tok);
    snug_gguf_close(v->gguf);
}

/* Encodes in a scratch of exactly the planned size. Returns the status; the ids go to `tokens` (up to cap). */
snug_status encode_exact(const snug_tokenizer *tok, const char *text, size_t bytes, bool add_bos, bool parse_special,
                         int32_t *tokens, size_t cap, size_t *n_tokens, snug_error *err) {
    uint64_t scratch_bytes = snug_tokenizer_scratch_bytes(tok, bytes);
    void *scratch = malloc(scratch_bytes);
    cr_assert_not_null(scratch);
    snug_status st = snug_tokenizer_encode(tok, text, bytes, add_bos, parse_special, scratch, scratch_bytes, tokens,
                                           cap, n_tokens, err);
    free(scratch);
    return st;
}

/* Encodes text that must succeed; returns a malloc'd id array and its length. */
int32_t *encode_ok(const snug_tokenizer *tok, const char *text, size_t bytes, bool add_bos, bool parse_special,
                   size_t *n_tokens) {
    int32_t *tokens = malloc(MAX_TEST_TOKENS * sizeof *tokens);
    cr_assert_not_null(tokens);
    snug_error err = {0};
    snug_status st = encode_exact(tok, text, bytes, add_bos, parse_special, tokens, MAX_TEST_TOKENS, n_tokens, &err);
    cr_assert_eq(st, SNUG_OK, "encode of %zu bytes failed: %s (%s)", bytes, err.message, snug_status_name(st));
    return tokens;
}

/* Concatenates the pieces of a token sequence (prev tracking from -1), as a streaming printer would. Returns a
 * malloc'd, NUL-terminated buffer. */
char *decode_all(const snug_tokenizer *tok, const int32_t *tokens, size_t n, size_t *bytes) {
    size_t cap = n * PIECE_BUFFER_BYTES + 1, len = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    int32_t prev = -1;
    for (size_t i = 0; i < n; i++) {
        len += snug_tokenizer_piece_text(tok, prev, tokens[i], out + len, cap - 1 - len);
        prev = tokens[i];
    }
    out[len] = '\0';
    *bytes = len;
    return out;
}

/* A short, printable rendering of a test string for failure messages (control bytes as \n, \t, \xHH). */
const char *printable(const char *text, size_t bytes) {
    static char out[256];
    size_t len = 0;
    for (size_t i = 0; i < bytes && len + 8 < sizeof out; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') {
            len += (size_t)snprintf(out + len, sizeof out - len, "\\n");
        } else if (c == '\t') {
            len += (size_t)snprintf(out + len, sizeof out - len, "\\t");
        } else if (c < 0x20 || c == 0x7F) {
            len += (size_t)snprintf(out + len, sizeof out - len, "\\x%02X", c);
        } else {
            out[len++] = (char)c;
        }
    }
    out[len] = '\0';
    return out;
}

/* ---- conformance data ------------------------------------------------------------------------------------------ */

void load_conformance(const char *vocab_relative, conformance *c) {
    char relative[256];
    snprintf(relative, sizeof relative, "%s.inp", vocab_relative);
    const char *path = test_shared_file(relative);
    size_t inp_bytes;
    c->inp = test_read_file(path, &inp_bytes);
    cr_assert_not_null(c->inp, "cannot read %s", path);

    /* Split like Python's str.split: leftmost non-overlapping separators; the text after the last one is empty. */
    const size_t sep_bytes = strlen(CONFORMANCE_SEPARATOR);
    const char *p = c->inp, *end = c->inp + inp_bytes;
    int n = 0;
    for (;;) {
        const char *sep = memmem(p, (size_t)(end - p), CONFORMANCE_SEPARATOR, sep_bytes);
        if (sep == NULL) break;
        cr_assert_lt(n, CONFORMANCE_STRINGS, "%s has more than %d strings", path, CONFORMANCE_STRINGS);
        c->cases[n].text = p;
        c->cases[n].text_bytes = (size_t)(sep - p);
        n++;
        p = sep + sep_bytes;
    }
    cr_assert_eq(n, CONFORMANCE_STRINGS, "%s has %d strings, expected %d", path, n, CONFORMANCE_STRINGS);
    cr_assert_eq(p, end, "%s does not end with a separator", path);

    snprintf(relative, sizeof relative, "%s.out", vocab_relative);
    path = test_shared_file(relative);
    size_t out_bytes;
    c->out = test_read_file(path, &out_bytes);
    cr_assert_not_null(c->out, "cannot read %s", path);
    char *line = c->out;
    for (int i = 0; i < CONFORMANCE_STRINGS; i++) {
        char *newline = strchr(line, '\n');
        cr_assert_not_null(newline, "%s has %d lines, expected %d", path, i, CONFORMANCE_STRINGS);
        *newline = '\0';
        conformance_case *cc = &c->cases[i];
        cc->ids = malloc((strlen(line) / 2 + 1) * sizeof *cc->ids); /* each id takes at least 2 characters */
        cr_assert_not_null(cc->ids);
        cc->n_ids = 0;
        for (char *q = line;;) {
            char *after;
            long id = strtol(q, &after, 10);
            if (after == q) break;
            cc->ids[cc->n_ids++] = (int32_t)id;
            q = after;
        }
        line = newline + 1;
    }
    cr_assert_eq(*line, '\0', "%s has more than %d lines", path, CONFORMANCE_STRINGS);
}

void free_conformance(conformance *c) {
    for (int i = 0; i < CONFORMANCE_STRINGS; i++) free(c->cases[i].ids);
    free(c->inp);
    free(c->out);
}

/* Encodes every string (no BOS, no special parsing) and compares the ids with llama.cpp's exactly. */
void check_ids_match(const char *vocab_relative) {
    vocab v;
    open_vocab(vocab_relative, &v);
    conformance c;
    load_conformance(vocab_relative, &c);
    int failures = 0;
    for (int i = 0; i < CONFORMANCE_STRINGS; i++) {
        const conformance_case *cc = &c.cases[i];
        size_t n;
        int32_t *got = encode_ok(&v.tok, cc->text, cc->text_bytes, false, false, &n);
        size_t first_diff = 0;
        while (first_diff < n && first_diff < cc->n_ids && got[first_diff] == cc->ids[first_diff]) first_diff++;
        if (first_diff < n || first_diff < cc->n_ids) {
            failures++;
            cr_expect_fail("%s string %d \"%s\": %zu ids, expected %zu; first difference at position %zu: got %d, "
                           "expected %d",
                           vocab_relative, i, printable(cc->text, cc->text_bytes), n, cc->n_ids, first_diff,
                           first_diff < n ? got[first_diff] : -1, first_diff < cc->n_ids ? cc->ids[first_diff] : -1);
        }
        free(got);
    }
    cr_assert_eq(failures, 0, "%d of %d strings differ from llama.cpp", failures, CONFORMANCE_STRINGS);
    free_conformance(&c);
    close_vocab(&v);
}

/* Decodes llama.cpp's expected ids (and our own encoding, identical by the test above) back to text. Every one of the
 * 46 strings round-trips: the vocabularies have byte fallback for all 256 bytes, no normalization is applied, and the
 * dummy-prefix space is exactly the one leading space the decoder drops at the start of a sequence. A string that
 * starts with spaces keeps them: "  Hello" encodes as "▁▁" "▁Hello" (prefix + its two spaces), which decodes to
 * " " (one space dropped) + " Hello". No string needed special treatment. */
void check_round_trip(const char *vocab_relative) {
    vocab v;
    open_vocab(vocab_relative, &v);
    conformance c;
    load_conformance(vocab_relative, &c);
    int failures = 0;
    for (int i = 0; i < CONFORMANCE_STRINGS; i++) {
        const conformance_case *cc = &c.cases[i];
        size_t bytes;
        char *text = decode_all(&v.tok, cc->ids, cc->n_ids, &bytes);
        if (bytes != cc->text_bytes || memcmp(text, cc->text, bytes) != 0) {
            size_t first_diff = 0;
            while (first_diff < bytes && first_diff < cc->text_bytes && text[first_diff] == cc->text[first_diff]) {
                first_diff++;
            }
            failures++;
            char expected[256];
            snprintf(expected, sizeof expected, "%s", printable(cc->text, cc->text_bytes));
            cr_expect_fail("%s string %d: decoded \"%s\" (%zu bytes), expected \"%s\" (%zu bytes); first difference "
                           "at byte %zu",
                           vocab_relative, i, printable(text, bytes), bytes, expected, cc->text_bytes, first_diff);
        }
        free(text);
    }
    cr_assert_eq(failures, 0, "%d of %d strings do not round-trip", failures, CONFORMANCE_STRINGS);
    free_conformance(&c);
    close_vocab(&v);
}
