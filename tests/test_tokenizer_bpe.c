/* test_tokenizer_bpe.c — the byte-level BPE ("gpt2") tokenizer: llama.cpp's conformance data for the GPT-2
 * vocabulary (ids exactly, then decoding back to the input byte for byte), the memory contract of tokenizer.h (table
 * bytes, scratch bound), refusal of unknown pre-tokenizers, and the `snug tokenize` command.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/writer.h"
#include "model/tokenizer.h"
#include "support/support.h"

#define GPT2_VOCAB            "models/ggml-vocab-gpt-2.gguf"
#define LLAMA_SPM_VOCAB       "models/ggml-vocab-llama-spm.gguf"
#define CONFORMANCE_SEPARATOR "\n__ggml_vocab_test__\n"
enum { CONFORMANCE_STRINGS = 46, MAX_TEST_TOKENS = 1 << 17, PIECE_BUFFER_BYTES = 64 };

typedef struct vocab {
    snug_gguf *gguf;
    snug_tokenizer tok;
} vocab;

static void open_vocab(const char *relative, vocab *v) {
    const char *path = test_shared_file(relative);
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open(path, 0, &v->gguf, &err), SNUG_OK, "open %s: %s", path, err.message);
    snug_status st = snug_tokenizer_load(&v->tok, v->gguf, &err);
    cr_assert_eq(st, SNUG_OK, "load tokenizer of %s: %s (%s)", path, err.message, snug_status_name(st));
}

static void close_vocab(vocab *v) {
    snug_tokenizer_free(&v->tok);
    snug_gguf_close(v->gguf);
}

static snug_status encode_exact(const snug_tokenizer *tok, const char *text, size_t bytes, int32_t *tokens, size_t cap,
                                size_t *n_tokens, snug_error *err) {
    uint64_t scratch_bytes = snug_tokenizer_scratch_bytes(tok, bytes);
    void *scratch = malloc(scratch_bytes);
    cr_assert_not_null(scratch);
    snug_status st =
        snug_tokenizer_encode(tok, text, bytes, false, false, scratch, scratch_bytes, tokens, cap, n_tokens, err);
    free(scratch);
    return st;
}

/* ---- conformance data (46 strings separated by CONFORMANCE_SEPARATOR; one line of ids per string) ----------- */

typedef struct conformance {
    char *inp, *out;
    const char *text[CONFORMANCE_STRINGS];
    size_t text_bytes[CONFORMANCE_STRINGS];
    int32_t *ids[CONFORMANCE_STRINGS];
    size_t n_ids[CONFORMANCE_STRINGS];
} conformance;

static void load_conformance(const char *vocab_relative, conformance *c) {
    char relative[256];
    snprintf(relative, sizeof relative, "%s.inp", vocab_relative);
    const char *path = test_shared_file(relative);
    size_t inp_bytes;
    c->inp = test_read_file(path, &inp_bytes);
    cr_assert_not_null(c->inp, "cannot read %s", path);
    const size_t sep_bytes = strlen(CONFORMANCE_SEPARATOR);
    const char *p = c->inp, *end = c->inp + inp_bytes;
    int n = 0;
    for (const char *sep; (sep = memmem(p, (size_t)(end - p), CONFORMANCE_SEPARATOR, sep_bytes)) != NULL;) {
        cr_assert_lt(n, CONFORMANCE_STRINGS);
        c->text[n] = p;
        c->text_bytes[n] = (size_t)(sep - p);
        n++;
        p = sep + sep_bytes;
    }
    cr_assert_eq(n, CONFORMANCE_STRINGS);
    snprintf(relative, sizeof relative, "%s.out", vocab_relative);
    path = test_shared_file(relative);
    size_t out_bytes;
    c->out = test_read_file(path, &out_bytes);
    cr_assert_not_null(c->out, "cannot read %s", path);
    char *line = c->out;
    for (int i = 0; i < CONFORMANCE_STRINGS; i++) {
        char *newline = strchr(line, '\n');
        cr_assert_not_null(newline);
        *newline = '\0';
        c->ids[i] = malloc((strlen(line) / 2 + 1) * sizeof(int32_t));
        cr_assert_not_null(c->ids[i]);
        c->n_ids[i] = 0;
        for (char *q = line;;) {
            char *after;
            long id = strtol(q, &after, 10);
            if (after == q) break;
            c->ids[i][c->n_ids[i]++] = (int32_t)id;
            q = after;
        }
        line = newline + 1;
    }
}

static void free_conformance(conformance *c) {
    for (int i = 0; i < CONFORMANCE_STRINGS; i++) free(c->ids[i]);
    free(c->inp);
    free(c->out);
}

Test(conformance, gpt2_ids_match_llama_cpp) {
    vocab v;
    open_vocab(GPT2_VOCAB, &v);
    conformance c;
    load_conformance(GPT2_VOCAB, &c);
    int32_t *got = malloc(MAX_TEST_TOKENS * sizeof *got);
    cr_assert_not_null(got);
    int failures = 0;
    for (int i = 0; i < CONFORMANCE_STRINGS; i++) {
        size_t n = 0;
        snug_error err = {0};
        snug_status st = encode_exact(&v.tok, c.text[i], c.text_bytes[i], got, MAX_TEST_TOKENS, &n, &err);
        cr_assert_eq(st, SNUG_OK, "string %d: %s", i, err.message);
        size_t first_diff = 0;
        while (first_diff < n && first_diff < c.n_ids[i] && got[first_diff] == c.ids[i][first_diff]) first_diff++;
        if (first_diff < n || first_diff < c.n_ids[i]) {
            failures++;
            cr_expect_fail("string %d: %zu ids, expected %zu; first difference at %zu: got %d, expected %d", i, n,
                           c.n_ids[i], first_diff, first_diff < n ? got[first_diff] : -1,
                           first_diff < c.n_ids[i] ? c.ids[i][first_diff] : -1);
        }
    }
    cr_assert_eq(failures, 0, "%d of %d strings differ from llama.cpp", failures, CONFORMANCE_STRINGS);
    free(got);
    free_conformance(&c);
    close_vocab(&v);
}

Test(conformance, gpt2_decodes_back_to_input) {
    vocab v;
    open_vocab(GPT2_VOCAB, &v);
    conformance c;
    load_conformance(GPT2_VOCAB, &c);
    for (int i = 0; i < CONFORMANCE_STRINGS; i++) {
        size_t cap = c.n_ids[i] * PIECE_BUFFER_BYTES + 1, len = 0;
        char *out = malloc(cap);
        cr_assert_not_null(out);
        int32_t prev = -1;
        for (size_t k = 0; k < c.n_ids[i]; k++) {
            len += snug_tokenizer_piece_text(&v.tok, prev, c.ids[i][k], out + len, cap - len);
            prev = c.ids[i][k];
        }
        cr_expect(len == c.text_bytes[i] && memcmp(out, c.text[i], len) == 0, "string %d does not round-trip", i);
        free(out);
    }
    free_conformance(&c);
    close_vocab(&v);
}

/* ---- the memory contract ------------------------------------------------------------------------------------- */

Test(memory, table_bytes_are_the_block_plus_the_regex_estimate) {
    vocab v;
    open_vocab(GPT2_VOCAB, &v);
    uint64_t planned = 0;
    snug_error err = {0};
    cr_assert_eq(snug_tokenizer_table_bytes(v.gguf, &planned, &err), SNUG_OK, "%s", err.message);
    cr_expect_eq(v.tok.table_bytes, planned);
    cr_expect_eq(v.tok.kind, SNUG_TOKENIZER_BPE);
    cr_expect_eq(v.tok.n_patterns, 1);
    cr_expect(v.tok.regex_bytes > 0 && v.tok.regex_bytes <= v.tok.n_patterns * SNUG_BPE_REGEX_BYTES_ESTIMATE,
              "measured %llu regex bytes", (unsigned long long)v.tok.regex_bytes);
    cr_expect(planned > v.tok.n_patterns * SNUG_BPE_REGEX_BYTES_ESTIMATE);
    cr_expect_not(v.tok.add_bos, "gpt2 adds no BOS by default");
    close_vocab(&v);
}

/* Worst cases for the scratch: every byte its own symbol and word (no merges), and one long word of spaces. */
Test(memory, scratch_bound_holds_for_worst_case_text) {
    vocab v;
    open_vocab(GPT2_VOCAB, &v);
    enum { TEXT_BYTES = 4096 };
    char *text = malloc(TEXT_BYTES);
    cr_assert_not_null(text);
    int32_t *tokens = malloc(TEXT_BYTES * sizeof *tokens);
    cr_assert_not_null(tokens);
    for (int variant = 0; variant < 3; variant++) {
        for (int i = 0; i < TEXT_BYTES; i++) {
            text[i] = variant == 0 ? (char)(0x80 + i % 64) : variant == 1 ? ' ' : "ab"[i % 2];
        }
        size_t n = 0;
        snug_error err = {0};
        cr_expect_eq(encode_exact(&v.tok, text, TEXT_BYTES, tokens, TEXT_BYTES, &n, &err), SNUG_OK, "variant %d: %s",
                     variant, err.message);
    }
    cr_expect_geq(snug_tokenizer_scratch_bytes(NULL, TEXT_BYTES), snug_tokenizer_scratch_bytes(&v.tok, TEXT_BYTES),
                  "the any-vocabulary bound covers BPE");
    free(text);
    free(tokens);
    close_vocab(&v);
}

Test(memory, cap_too_small_is_context_full) {
    vocab v;
    open_vocab(GPT2_VOCAB, &v);
    const char *text = "Hello world, this is a test";
    int32_t tokens[2];
    size_t n = 0;
    snug_error err = {0};
    cr_expect_eq(encode_exact(&v.tok, text, strlen(text), tokens, 2, &n, &err), SNUG_E_CONTEXT_FULL);
    cr_expect_eq(n, 2);
    cr_expect_eq(tokens[0], 15496, "\"Hello\" first");
    close_vocab(&v);
}

Test(memory, scratch_too_small_is_refused) {
    vocab v;
    open_vocab(GPT2_VOCAB, &v);
    char scratch[16];
    int32_t tokens[8];
    size_t n = 0;
    snug_error err = {0};
    cr_expect_eq(snug_tokenizer_encode(&v.tok, "Hello", 5, false, false, scratch, sizeof scratch, tokens, 8, &n, &err),
                 SNUG_E_ARGUMENT);
    close_vocab(&v);
}

Test(special, parse_special_splits_endoftext) {
    vocab v;
    open_vocab(GPT2_VOCAB, &v);
    const char *text = "Hi<|endoftext|>Hi";
    uint64_t scratch_bytes = snug_tokenizer_scratch_bytes(&v.tok, strlen(text));
    void *scratch = malloc(scratch_bytes);
    int32_t tokens[16];
    size_t n = 0;
    snug_error err = {0};
    cr_assert_eq(
        snug_tokenizer_encode(&v.tok, text, strlen(text), true, true, scratch, scratch_bytes, tokens, 16, &n, &err),
        SNUG_OK, "%s", err.message);
    cr_expect_eq(n, 4);
    cr_expect_eq(tokens[0], 50256, "BOS");
    cr_expect_eq(tokens[2], 50256, "<|endoftext|> split out");
    free(scratch);
    close_vocab(&v);
}

/* ---- validation ---------------------------------------------------------------------------------------------- */

Test(validation, unknown_pre_tokenizer_is_refused_by_name) {
    const char *tokens[] = {"a", "b", "ab"};
    const char *merges[] = {"a b"};
    snug_gguf_writer *w = snug_gguf_writer_create(3, 0);
    cr_assert_not_null(w);
    bool ok = snug_gguf_writer_string(w, "tokenizer.ggml.model", "gpt2") &&
              snug_gguf_writer_string(w, "tokenizer.ggml.pre", "no-such-pre") &&
              snug_gguf_writer_strings(w, "tokenizer.ggml.tokens", tokens, 3) &&
              snug_gguf_writer_strings(w, "tokenizer.ggml.merges", merges, 1);
    cr_assert(ok);
    const char *path = test_tmp_path("unknown_pre.gguf");
    snug_error err = {0};
    cr_assert_eq(snug_gguf_writer_write(w, path, false, &err), SNUG_OK, "%s", err.message);
    snug_gguf_writer_free(w);
    snug_gguf *gguf;
    cr_assert_eq(snug_gguf_open(path, 0, &gguf, &err), SNUG_OK, "%s", err.message);
    snug_tokenizer tok;
    cr_expect_eq(snug_tokenizer_load(&tok, gguf, &err), SNUG_E_UNSUPPORTED);
    cr_expect(strstr(err.message, "no-such-pre") != NULL, "message: %s", err.message);
    cr_expect_null(tok.table_block);
    uint64_t bytes;
    cr_expect_eq(snug_tokenizer_table_bytes(gguf, &bytes, &err), SNUG_E_UNSUPPORTED);
    snug_gguf_close(gguf);
}

/* ---- snug tokenize ------------------------------------------------------------------------------------------- */

/* Runs `snug tokenize VOCAB TEXT --ids` on string `index` of the vocabulary's conformance set. */
static void check_cli_ids(const char *vocab_relative, int index) {
    conformance c;
    load_conformance(vocab_relative, &c);
    char text[256];
    cr_assert_lt(c.text_bytes[index], sizeof text);
    memcpy(text, c.text[index], c.text_bytes[index]);
    text[c.text_bytes[index]] = '\0';
    char path[512];
    snprintf(path, sizeof path, "%s", test_shared_file(vocab_relative));
    const char *argv[] = {test_snug_bin(), "tokenize", path, text, "--ids", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    char expected[4096];
    size_t len = 0;
    for (size_t i = 0; i < c.n_ids[index]; i++) {
        len += (size_t)snprintf(expected + len, sizeof expected - len, "%s%d", i ? " " : "", c.ids[index][i]);
    }
    snprintf(expected + len, sizeof expected - len, "\n");
    cr_expect_str_eq(r.out, expected);
    test_run_free(&r);
    free_conformance(&c);
}

/* String 32 of both sets is "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～" (no BOS unless --bos). */
Test(cli, tokenize_ids_gpt2) { check_cli_ids(GPT2_VOCAB, 32); }
Test(cli, tokenize_ids_llama_spm) { check_cli_ids(LLAMA_SPM_VOCAB, 32); }

Test(cli, tokenize_pieces) {
    char path[512];
    snprintf(path, sizeof path, "%s", test_shared_file(GPT2_VOCAB));
    const char *argv[] = {test_snug_bin(), "tokenize", path, "Hello world", "--pieces", "--bos", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    cr_expect_str_eq(r.out, "50256\t\n15496\tHello\n995\t world\n");
    test_run_free(&r);
}
