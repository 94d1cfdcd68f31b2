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
#include "support/vocab.h"

#define GPT2_VOCAB            "models/ggml-vocab-gpt-2.gguf"
#define LLAMA_SPM_VOCAB       "models/ggml-vocab-llama-spm.gguf"

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
        cr_expect_eq(encode_exact(&v.tok, text, TEXT_BYTES, false, false, tokens, TEXT_BYTES, &n, &err), SNUG_OK, "variant %d: %s",
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
