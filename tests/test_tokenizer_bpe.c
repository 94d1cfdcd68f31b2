/* test_tokenizer_bpe.c — the byte-level BPE ("gpt2") tokenizer: llama.cpp's conformance data for the GPT-2
 * vocabulary (ids exactly, then decoding back to the input byte for byte), the memory contract of tokenizer.h (table
 * bytes, scratch bound), the pre-tokenizers of tokenizer.ggml.pre (their splits, written by hand from llama.cpp's
 * regexes, and their wiring into encode), refusal of unknown pre-tokenizers, and the `snug tokenize` command.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "model/tokenizer.h"
#include "support/support.h"
#include "support/vocab.h"

#define GPT2_VOCAB      "models/ggml-vocab-gpt-2.gguf"
#define LLAMA_SPM_VOCAB "models/ggml-vocab-llama-spm.gguf"

Test(conformance, gpt2_ids_match_llama_cpp) { check_ids_match(GPT2_VOCAB); }
Test(conformance, gpt2_decodes_back_to_input) { check_round_trip(GPT2_VOCAB); }

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
        cr_expect_eq(encode_exact(&v.tok, text, TEXT_BYTES, false, false, tokens, TEXT_BYTES, &n, &err), SNUG_OK,
                     "variant %d: %s", variant, err.message);
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
    cr_expect_eq(encode_exact(&v.tok, text, strlen(text), false, false, tokens, 2, &n, &err), SNUG_E_CONTEXT_FULL);
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

/* ---- pre-tokenizers ------------------------------------------------------------------------------------------ */

/* A tiny vocabulary for the end-to-end tests: ids 0..8 are the characters of "x=12345 y" (the space as its
 * byte-level character U+0120 'Ġ'), then the results of the merges, in rank order. */
static const char *const TINY_TOKENS[] = {"x",        "=", "1",  "2",   "3",  "4",     "5",
                                          "\xC4\xA0", "y", "12", "123", "45", "12345", "\xC4\xA0y"};
static const char *const TINY_MERGES[] = {"1 2", "12 3", "4 5", "123 45", "\xC4\xA0 y"};
enum { TINY_N_TOKENS = 14, TINY_N_MERGES = 5 };

/* Loads the tiny vocabulary with tokenizer.ggml.pre = pre (NULL: the key left out). */
static void load_tiny(const char *pre, vocab *v) {
    snug_gguf_writer *w = snug_gguf_writer_create(3, 0);
    cr_assert_not_null(w);
    bool ok = snug_gguf_writer_string(w, "tokenizer.ggml.model", "gpt2") &&
              (pre == NULL || snug_gguf_writer_string(w, "tokenizer.ggml.pre", pre)) &&
              snug_gguf_writer_strings(w, "tokenizer.ggml.tokens", TINY_TOKENS, TINY_N_TOKENS) &&
              snug_gguf_writer_strings(w, "tokenizer.ggml.merges", TINY_MERGES, TINY_N_MERGES);
    cr_assert(ok);
    char name[96];
    snprintf(name, sizeof name, "tiny_pre_%s.gguf", pre == NULL ? "missing" : pre);
    const char *path = test_tmp_path(name);
    snug_error err = {0};
    cr_assert_eq(snug_gguf_writer_write(w, path, false, &err), SNUG_OK, "%s", err.message);
    snug_gguf_writer_free(w);
    cr_assert_eq(snug_gguf_open(path, 0, &v->gguf, &err), SNUG_OK, "%s", err.message);
    cr_assert_eq(snug_tokenizer_load(&v->tok, v->gguf, &err), SNUG_OK, "pre-tokenizer %s: %s", pre, err.message);
}

/* Pre-tokenizes text and compares the words with `expected`, the words joined by '|' (no test text holds a '|'). */
static void expect_split(const vocab *v, const char *pre, const char *text, const char *expected) {
    enum { MAX_WORDS = 64 };
    size_t ends[MAX_WORDS], n = 0;
    snug_error err = {0};
    cr_assert_eq(snug_tokenizer_bpe_split(&v->tok, text, strlen(text), ends, MAX_WORDS, &n, &err), SNUG_OK, "%s",
                 err.message);
    cr_assert_leq(n, MAX_WORDS);
    char got[512];
    size_t len = 0, start = 0;
    for (size_t i = 0; i < n; i++) {
        len +=
            (size_t)snprintf(got + len, sizeof got - len, "%s%.*s", i ? "|" : "", (int)(ends[i] - start), text + start);
        start = ends[i];
    }
    cr_expect_eq(start, strlen(text), "%s: the words of \"%s\" do not cover it", pre, printable(text, strlen(text)));
    char shown[256];
    snprintf(shown, sizeof shown, "%s", printable(got, len));
    cr_expect_str_eq(got, expected, "%s splits \"%s\" as \"%s\", expected \"%s\"", pre, printable(text, strlen(text)),
                     shown, expected);
}

/* The splits below follow llama.cpp's regex lists for each name, applied in turn (each to the pieces of the one
 * before, matches and gaps alike). Shared probes: "x=12345 y" (punctuation glued to a word, digit grouping) and
 * "don't" (contractions). */

Test(pre_tokenizer, gpt2_and_its_aliases_keep_digit_runs_and_contractions) {
    const char *names[] = {"gpt-2", "phi-2", "mpt", "jina-es"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        vocab v;
        load_tiny(names[i], &v);
        expect_split(&v, names[i], "x=12345 y", "x|=|12345| y");
        expect_split(&v, names[i], "don't", "don|'t");
        expect_split(&v, names[i], " (ok)", " (|ok|)");
        expect_split(&v, names[i], "a  b", "a| | b");
        close_vocab(&v);
    }
}

/* default (and a missing key): punctuation runs, then GPT-2, then digit runs, then three ASCII digits at a time. */
Test(pre_tokenizer, default_splits_punctuation_and_three_digits) {
    const char *names[] = {"default", NULL};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        vocab v;
        load_tiny(names[i], &v);
        const char *name = names[i] == NULL ? "(no key)" : names[i];
        expect_split(&v, name, "x=12345 y", "x|=|123|45| y");
        expect_split(&v, name, "don't", "don|'|t");
        expect_split(&v, name, " (ok)", " |(|ok|)");
        expect_split(&v, name, " `x", " `|x"); /* the backtick is not in default's punctuation class */
        close_vocab(&v);
    }
}

/* falcon: like default plus the backtick, and without the separate \p{N}+ pass. */
Test(pre_tokenizer, falcon_splits_punctuation_and_three_digits) {
    vocab v;
    load_tiny("falcon", &v);
    expect_split(&v, "falcon", "x=12345 y", "x|=|123|45| y");
    expect_split(&v, "falcon", "Hello, world!! (ok)", "Hello|,| world|!!| |(|ok|)");
    expect_split(&v, "falcon", "don't", "don|'|t");
    expect_split(&v, "falcon", " `x", " |`|x");
    expect_split(&v, "falcon", " 1234567", " |123|456|7");
    expect_split(&v, "falcon", "caf\xC3\xA9 na\xC3\xAFve", "caf\xC3\xA9| na\xC3\xAFve");
    close_vocab(&v);
}

/* starcoder and its aliases: every digit alone, then GPT-2. */
Test(pre_tokenizer, starcoder_family_splits_single_digits) {
    const char *names[] = {"starcoder", "refact", "smollm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        vocab v;
        load_tiny(names[i], &v);
        expect_split(&v, names[i], "x=12345 y", "x|=|1|2|3|4|5| y");
        expect_split(&v, names[i], " 2024", " |2|0|2|4");
        expect_split(&v, names[i], "I'll go  now", "I|'ll| go| | now");
        expect_split(&v, names[i], "don't", "don|'t");
        close_vocab(&v);
    }
}

/* deepseek-coder: line breaks, a space + letters, a space + punctuation, CJK runs, single digits; what none of
 * them takes (symbols, spaces between them) stays together. */
Test(pre_tokenizer, deepseek_coder) {
    vocab v;
    load_tiny("deepseek-coder", &v);
    expect_split(&v, "deepseek-coder", "x=12345 y", "x|=|1|2|3|4|5| y");
    expect_split(&v, "deepseek-coder", "x = 12 + 3", "x| = |1|2| + |3");
    expect_split(&v, "deepseek-coder", "Hello, world!\n\n", "Hello|,| world|!|\n|\n");
    expect_split(&v, "deepseek-coder", "don't", "don|'|t");
    /* 我想在apple工作: one run of letters, then the CJK regex cuts the ideographs out of it. */
    expect_split(&v, "deepseek-coder",
                 "\xE6\x88\x91\xE6\x83\xB3\xE5\x9C\xA8"
                 "apple\xE5\xB7\xA5\xE4\xBD\x9C",
                 "\xE6\x88\x91\xE6\x83\xB3\xE5\x9C\xA8|apple|\xE5\xB7\xA5\xE4\xBD\x9C");
    /* " 中文": the letters regex takes the space along, the CJK regex leaves it behind. */
    expect_split(&v, "deepseek-coder", " \xE4\xB8\xAD\xE6\x96\x87", " |\xE4\xB8\xAD\xE6\x96\x87");
    /* 中 EM SPACE 文: U+2003 lies inside the CJK range U+0800-U+4E00, but llama.cpp hides whitespace from it. */
    expect_split(&v, "deepseek-coder", "\xE4\xB8\xAD\xE2\x80\x83\xE6\x96\x87",
                 "\xE4\xB8\xAD|\xE2\x80\x83|\xE6\x96\x87");
    expect_split(&v, "deepseek-coder", "caf\xC3\xA9 \xF0\x9F\x98\x80!", "caf\xC3\xA9| \xF0\x9F\x98\x80|!");
    close_vocab(&v);
}

/* deepseek-llm: line breaks, a space + cased letters of listed scripts, a space + ASCII / fullwidth punctuation and
 * symbols, trailing whitespace, CJK runs, digit runs. */
Test(pre_tokenizer, deepseek_llm) {
    vocab v;
    load_tiny("deepseek-llm", &v);
    expect_split(&v, "deepseek-llm", "x=12345 y", "x|=|12345| y");
    expect_split(&v, "deepseek-llm", "x = 12 + 3", "x| =| |12| +| |3");
    expect_split(&v, "deepseek-llm", "Hello, world!\n", "Hello|,| world|!|\n");
    expect_split(&v, "deepseek-llm", "a  b  ", "a| | b|  ");
    /* "Ünïcödé 中文": the letter regex takes "Ünïcödé" whole, but the punctuation regex, applied to that piece too,
     * matches its ASCII letters (the range :-~ holds a-z) and so cuts the accented letters apart; " 中文" is a gap
     * of the letter regex, which the CJK regex splits. */
    expect_split(&v, "deepseek-llm",
                 "\xC3\x9Cn\xC3\xAF"
                 "c\xC3\xB6"
                 "d\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87",
                 "\xC3\x9C|n|\xC3\xAF|c|\xC3\xB6|d|\xC3\xA9| |\xE4\xB8\xAD\xE6\x96\x87");
    expect_split(&v, "deepseek-llm", "\xC3\xA9t\xC3\xA9 \xC3\xA9l\xC3\xA8ve",
                 "\xC3\xA9|t|\xC3\xA9| \xC3\xA9|l|\xC3\xA8|ve");
    expect_split(&v, "deepseek-llm", "hi \xF0\x9F\x98\x80!", "hi| \xF0\x9F\x98\x80|!");
    /* 、 then IDEOGRAPHIC SPACE: U+3000 is in the range U+3000-U+3002 as written, but hidden from it as whitespace;
     * the trailing-whitespace regex takes it. */
    expect_split(&v, "deepseek-llm", "\xE3\x80\x81\xE3\x80\x80", "\xE3\x80\x81|\xE3\x80\x80");
    /* "!　!": the second "!" takes the ideographic space as its \s?, the first cannot take it into its run. */
    expect_split(&v, "deepseek-llm", "!\xE3\x80\x80!", "!|\xE3\x80\x80!");
    expect_split(&v, "deepseek-llm", "\xE4\xB8\xAD\xE2\x80\x83\xE6\x96\x87", "\xE4\xB8\xAD|\xE2\x80\x83|\xE6\x96\x87");
    close_vocab(&v);
}

/* gpt-4o (and llama4): llama.cpp's case-split approximation, where "upper" means a letter other than a-z and
 * "lower" a letter other than A-Z (so a non-ASCII letter is both); contractions stay on their word; 1-3 digits. */
Test(pre_tokenizer, gpt4o_and_llama4) {
    const char *names[] = {"gpt-4o", "llama4"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        vocab v;
        load_tiny(names[i], &v);
        expect_split(&v, names[i], "x=12345 y", "x|=|123|45| y");
        expect_split(&v, names[i], "helloWorld don't I'LL", "hello|World| don't| I'LL");
        expect_split(&v, names[i],
                     "\xC3\x89"
                     "COLE",
                     "\xC3\x89|COLE"); /* ÉCOLE: É is also "lower" */
        expect_split(&v, names[i],
                     "hello\xC3\x89"
                     "cole",
                     "hello\xC3\x89"
                     "cole");
        expect_split(&v, names[i], "a  b\n\n c", "a| | b|\n\n| c");
        expect_split(&v, names[i], "\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80| ok");
        close_vocab(&v);
    }
}

/* End to end: the same text through encode under each name gives the words above, merged by the tiny vocabulary
 * (ids: x 0, = 1, digits 2-6, Ġ 7, y 8, 12 9, 123 10, 45 11, 12345 12, Ġy 13). */
Test(pre_tokenizer, names_are_wired_into_encode) {
    static const struct {
        const char *pre;
        int32_t ids[8];
        size_t n;
    } cases[] = {
        {"gpt-2", {0, 1, 12, 13}, 4},
        {"phi-2", {0, 1, 12, 13}, 4},
        {"mpt", {0, 1, 12, 13}, 4},
        {NULL, {0, 1, 10, 11, 13}, 5},
        {"default", {0, 1, 10, 11, 13}, 5},
        {"falcon", {0, 1, 10, 11, 13}, 5},
        {"starcoder", {0, 1, 2, 3, 4, 5, 6, 13}, 8},
        {"refact", {0, 1, 2, 3, 4, 5, 6, 13}, 8},
        {"deepseek-coder", {0, 1, 2, 3, 4, 5, 6, 13}, 8},
        {"deepseek-llm", {0, 1, 12, 13}, 4},
        {"gpt-4o", {0, 1, 10, 11, 13}, 5},
        {"llama-bpe", {0, 1, 10, 11, 13}, 5},
        {"qwen2", {0, 1, 2, 3, 4, 5, 6, 13}, 8},
    };
    const char *text = "x=12345 y";
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        vocab v;
        load_tiny(cases[c].pre, &v);
        size_t n = 0;
        int32_t *ids = encode_ok(&v.tok, text, strlen(text), false, false, &n);
        const char *name = cases[c].pre == NULL ? "(no key)" : cases[c].pre;
        cr_expect_eq(n, cases[c].n, "%s: %zu ids, expected %zu", name, n, cases[c].n);
        for (size_t i = 0; i < n && i < cases[c].n; i++) {
            cr_expect_eq(ids[i], cases[c].ids[i], "%s: id %zu is %d, expected %d", name, i, ids[i], cases[c].ids[i]);
        }
        free(ids);
        close_vocab(&v);
    }
}

/* The GPT-2 vocabulary rewritten under another name: an exact alias of gpt-2 gives llama.cpp's 46 conformance
 * results unchanged; a different family (starcoder splits digits) must not, or the rewrite proved nothing. */
static int conformance_failures_as(const char *pre) {
    vocab src;
    open_vocab(GPT2_VOCAB, &src);
    snug_gguf_writer *w = snug_gguf_writer_create(3, 0);
    cr_assert_not_null(w);
    bool ok = snug_gguf_writer_string(w, "tokenizer.ggml.pre", pre);
    for (uint64_t i = 0; ok && i < src.gguf->n_kv; i++) {
        if (strcmp(src.gguf->kvs[i].key, "tokenizer.ggml.pre") != 0) ok = snug_gguf_writer_copy_kv(w, src.gguf, i);
    }
    cr_assert(ok);
    char name[96];
    snprintf(name, sizeof name, "gpt2_as_%s.gguf", pre);
    const char *path = test_tmp_path(name);
    snug_error err = {0};
    cr_assert_eq(snug_gguf_writer_write(w, path, false, &err), SNUG_OK, "%s", err.message);
    snug_gguf_writer_free(w);
    close_vocab(&src);

    vocab v;
    cr_assert_eq(snug_gguf_open(path, 0, &v.gguf, &err), SNUG_OK, "%s", err.message);
    cr_assert_eq(snug_tokenizer_load(&v.tok, v.gguf, &err), SNUG_OK, "%s", err.message);
    conformance c;
    load_conformance(GPT2_VOCAB, &c);
    int failures = 0;
    for (int i = 0; i < CONFORMANCE_STRINGS; i++) {
        size_t n;
        int32_t *got = encode_ok(&v.tok, c.cases[i].text, c.cases[i].text_bytes, false, false, &n);
        if (n != c.cases[i].n_ids || memcmp(got, c.cases[i].ids, n * sizeof *got) != 0) failures++;
        free(got);
    }
    free_conformance(&c);
    close_vocab(&v);
    return failures;
}

Test(pre_tokenizer, gpt2_aliases_pass_the_gpt2_conformance_set) {
    const char *aliases[] = {"phi-2", "mpt", "olmo"};
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        cr_expect_eq(conformance_failures_as(aliases[i]), 0, "%s differs from gpt-2", aliases[i]);
    }
    cr_expect_gt(conformance_failures_as("starcoder"), 0, "starcoder should split the digits gpt-2 keeps together");
}

Test(pre_tokenizer, deepseek_llm_needs_all_its_patterns) {
    vocab v;
    load_tiny("deepseek-llm", &v);
    cr_expect_eq(v.tok.n_patterns, 6);
    uint64_t planned = 0;
    snug_error err = {0};
    cr_assert_eq(snug_tokenizer_table_bytes(v.gguf, &planned, &err), SNUG_OK, "%s", err.message);
    cr_expect_eq(v.tok.table_bytes, planned);
    cr_expect_leq(v.tok.regex_bytes, 6 * SNUG_BPE_REGEX_BYTES_ESTIMATE);
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
    const char *families[] = {"default", "gpt-2",        "llama-bpe",      "qwen2", "starcoder",
                              "falcon",  "deepseek-llm", "deepseek-coder", "gpt-4o"};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        cr_expect(strstr(err.hint, families[i]) != NULL, "hint lacks %s: %s", families[i], err.hint);
    }
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
    cr_assert_lt(c.cases[index].text_bytes, sizeof text);
    memcpy(text, c.cases[index].text, c.cases[index].text_bytes);
    text[c.cases[index].text_bytes] = '\0';
    char path[512];
    snprintf(path, sizeof path, "%s", test_shared_file(vocab_relative));
    const char *argv[] = {test_snug_bin(), "tokenize", path, text, "--ids", NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    char expected[4096];
    size_t len = 0;
    for (size_t i = 0; i < c.cases[index].n_ids; i++) {
        len += (size_t)snprintf(expected + len, sizeof expected - len, "%s%d", i ? " " : "", c.cases[index].ids[i]);
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
