/* test_tokenizer.c — the SentencePiece ("llama") tokenizer: llama.cpp's conformance data for two real vocabularies
 * (ids exactly, then decoding back to the input byte for byte), and the contract of tokenizer.h: byte fallback,
 * parse_special, BOS, the scratch and capacity errors, the table size, decoding rules, and the vocabulary validation
 * (on the real gpt2 vocabulary and on small synthetic vocabularies written with the GGUF writer).
 *
 * Every encode here runs in a scratch buffer malloc'd at exactly snug_tokenizer_scratch_bytes(text), so under ASan any
 * write past the planned scratch is caught.
 *
 * Conformance data: ../shared/models/NAME.inp holds 46 strings separated by "\n__ggml_vocab_test__\n" (with a trailing
 * separator), NAME.out one line of space-separated ids per string; produced by llama.cpp without BOS and without
 * parsing special tokens.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/writer.h"
#include "model/tokenizer.h"
#include "support/support.h"
#include "support/vocab.h"

#define LLAMA_SPM_VOCAB "models/ggml-vocab-llama-spm.gguf"
#define PHI3_VOCAB      "models/ggml-vocab-phi-3.gguf"
#define GPT2_VOCAB      "models/ggml-vocab-gpt-2.gguf"
#define STORIES_MODEL   "models/stories260K.gguf"

/* Ids of the llama / phi-3 SentencePiece vocabulary used below (from the .out files and the vocabulary itself). */
enum {
    LLAMA_UNK = 0,
    LLAMA_BOS = 1,
    LLAMA_EOS = 2,
    LLAMA_FIRST_BYTE_TOKEN = 3, /* <0x00> .. <0xFF> are ids 3 .. 258 */
    LLAMA_SPACE = 29871,        /* "▁" */
    LLAMA_HELLO = 15043,        /* "▁Hello" */
    LLAMA_WORLD = 3186,         /* "▁world" */
    LLAMA_SPACE_HELLO = 22172,  /* "▁hello" */
    PHI3_SPACE_HI = 6324,       /* "▁Hi" */
    PHI3_ENDOFTEXT = 32000,
    PHI3_ASSISTANT = 32001,
    PHI3_END = 32007,
    PHI3_USER = 32010,
};

Test(conformance, llama_spm_ids_match_llama_cpp) { check_ids_match(LLAMA_SPM_VOCAB); }
Test(conformance, phi3_ids_match_llama_cpp) { check_ids_match(PHI3_VOCAB); }
Test(conformance, llama_spm_decodes_back_to_input) { check_round_trip(LLAMA_SPM_VOCAB); }
Test(conformance, phi3_decodes_back_to_input) { check_round_trip(PHI3_VOCAB); }

/* The prompt of the stories260K golden run (../shared/models/SOURCES.md): "Zoo" with BOS is [1, 410, 469, 347]. */
Test(conformance, stories260k_prompt_matches_golden_ids) {
    vocab v;
    open_vocab(STORIES_MODEL, &v);
    size_t n;
    int32_t *ids = encode_ok(&v.tok, "Zoo", 3, true, false, &n);
    const int32_t expected[] = {1, 410, 469, 347};
    cr_assert_eq(n, 4, "got %zu ids", n);
    for (size_t i = 0; i < n; i++) cr_expect_eq(ids[i], expected[i], "id %zu: %d, expected %d", i, ids[i], expected[i]);
    free(ids);
    close_vocab(&v);
}

/* ---- the loaded tables ----------------------------------------------------------------------------------------- */

Test(tables, llama_spm_metadata_and_lookup) {
    vocab v;
    open_vocab(LLAMA_SPM_VOCAB, &v);
    const snug_tokenizer *tok = &v.tok;
    cr_expect_eq(tok->kind, SNUG_TOKENIZER_SPM);
    cr_expect_eq(tok->n_vocab, 32000);
    cr_expect_eq(tok->bos, LLAMA_BOS);
    cr_expect_eq(tok->eos, LLAMA_EOS);
    cr_expect_eq(tok->unk, LLAMA_UNK);
    cr_expect(tok->add_bos);
    cr_expect(tok->add_space_prefix, "the key is absent: SentencePiece's default (true) applies");
    cr_expect_eq(tok->kinds[LLAMA_BOS], SNUG_TOKEN_CONTROL);
    cr_expect_eq(tok->kinds[LLAMA_UNK], SNUG_TOKEN_UNKNOWN);
    cr_expect_eq(tok->kinds[LLAMA_FIRST_BYTE_TOKEN], SNUG_TOKEN_BYTE);
    cr_expect_eq(tok->kinds[LLAMA_HELLO], SNUG_TOKEN_NORMAL);
    cr_expect_eq(snug_tokenizer_find(tok, "\xE2\x96\x81Hello", 8), LLAMA_HELLO);
    cr_expect_eq(snug_tokenizer_find(tok, "\xE2\x96\x81", 3), LLAMA_SPACE);
    cr_expect_eq(snug_tokenizer_find(tok, "<s>", 3), LLAMA_BOS);
    cr_expect_eq(snug_tokenizer_find(tok, "<0x0A>", 6), LLAMA_FIRST_BYTE_TOKEN + 0x0A);
    cr_expect_eq(snug_tokenizer_find(tok, "certainly not a piece", 21), -1);
    cr_expect_eq(snug_tokenizer_find(tok, "", 0), -1);
    for (int b = 0; b < 256; b++) {
        cr_expect_eq(tok->byte_tokens[b], LLAMA_FIRST_BYTE_TOKEN + b, "byte 0x%02X → %d", b, tok->byte_tokens[b]);
    }
    cr_expect_eq(tok->scores[LLAMA_SPACE], -1e9f);
    cr_expect(tok->index_slots >= 2u * 32000u && (tok->index_slots & (tok->index_slots - 1)) == 0);
    /* Every piece finds itself: the index holds the whole vocabulary (no duplicates in this file). */
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        int32_t found = snug_tokenizer_find(tok, tok->pieces[id].text, tok->pieces[id].bytes);
        if (found != id) cr_assert_fail("piece %d found as %d", id, found);
    }
    close_vocab(&v);
}

Test(tables, table_bytes_equal_what_load_allocated) {
    const char *files[] = {LLAMA_SPM_VOCAB, PHI3_VOCAB, STORIES_MODEL};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        vocab v;
        open_vocab(files[i], &v);
        uint64_t planned = 0;
        snug_error err = {0};
        cr_assert_eq(snug_tokenizer_table_bytes(v.gguf, &planned, &err), SNUG_OK, "%s", err.message);
        cr_expect_eq(v.tok.table_bytes, planned, "%s: load allocated %llu bytes, table_bytes says %llu", files[i],
                     (unsigned long long)v.tok.table_bytes, (unsigned long long)planned);
        /* Every table lies inside the block. */
        const uint8_t *lo = v.tok.table_block, *hi = lo + v.tok.table_bytes;
        cr_expect((const uint8_t *)(v.tok.special_ids + v.tok.n_special) <= hi);
        cr_expect((const uint8_t *)(v.tok.index + v.tok.index_slots) <= hi);
        cr_expect((const uint8_t *)v.tok.pieces >= lo);
        close_vocab(&v);
    }
}

Test(tables, phi3_specials_are_ordered_longest_first) {
    vocab v;
    open_vocab(PHI3_VOCAB, &v);
    /* 13 control + 1 user-defined + 53 unknown ([PAD…] and <unk>) in this file. */
    cr_expect_eq(v.tok.n_special, 67, "n_special = %u", v.tok.n_special);
    for (uint32_t i = 1; i < v.tok.n_special; i++) {
        uint32_t a = v.tok.pieces[v.tok.special_ids[i - 1]].bytes, b = v.tok.pieces[v.tok.special_ids[i]].bytes;
        cr_expect(a > b || (a == b && v.tok.special_ids[i - 1] < v.tok.special_ids[i]), "order broken at %u", i);
    }
    cr_expect_eq(v.tok.eos, PHI3_ENDOFTEXT);
    close_vocab(&v);
}

/* ---- encoding -------------------------------------------------------------------------------------------------- */

static void expect_ids(const int32_t *got, size_t n, const int32_t *expected, size_t n_expected, const char *what) {
    cr_assert_eq(n, n_expected, "%s: %zu ids, expected %zu", what, n, n_expected);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(got[i], expected[i], "%s: id %zu is %d, expected %d", what, i, got[i], expected[i]);
}

Test(encode, byte_fallback_for_characters_outside_the_vocabulary) {
    vocab v;
    open_vocab(LLAMA_SPM_VOCAB, &v);
    const struct {
        const char *text;
        const uint8_t utf8[4];
    } cases[] = {
        {"\xF0\x9F\xA6\x99", {0xF0, 0x9F, 0xA6, 0x99}}, /* 🦙 U+1F999 */
        {"\xF0\xA0\x80\x80", {0xF0, 0xA0, 0x80, 0x80}}, /* 𠀀 U+20000, a rare CJK extension-B ideograph */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cr_assert_eq(snug_tokenizer_find(&v.tok, cases[c].text, 4), -1, "the character is a piece after all");
        size_t n;
        int32_t *ids = encode_ok(&v.tok, cases[c].text, 4, false, false, &n);
        int32_t expected[5] = {LLAMA_SPACE};
        for (int b = 0; b < 4; b++) expected[1 + b] = v.tok.byte_tokens[cases[c].utf8[b]];
        expect_ids(ids, n, expected, 5, printable(cases[c].text, 4));
        for (int b = 0; b < 4; b++) {
            char piece[8];
            snprintf(piece, sizeof piece, "<0x%02X>", cases[c].utf8[b]);
            cr_expect(v.tok.pieces[ids[1 + b]].bytes == 6 && memcmp(v.tok.pieces[ids[1 + b]].text, piece, 6) == 0);
        }
        size_t bytes;
        char *back = decode_all(&v.tok, ids, n, &bytes);
        cr_expect(bytes == 4 && memcmp(back, cases[c].text, 4) == 0, "decoded \"%s\"", printable(back, bytes));
        free(back);
        free(ids);
    }
    close_vocab(&v);
}

/* An invalid byte is a symbol of its own, so it does not swallow the ASCII after it; bytes come back unchanged. */
Test(encode, invalid_utf8_falls_back_per_byte_and_round_trips) {
    vocab v;
    open_vocab(LLAMA_SPM_VOCAB, &v);
    const char *texts[] = {"a\xFF"
                           "b",
                           "Hello\xE2\x96", "\x80world", "\xC0\xAF", "x\xF0\x9F\xA6"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t bytes_in = strlen(texts[t]), n, bytes;
        int32_t *ids = encode_ok(&v.tok, texts[t], bytes_in, false, false, &n);
        char *back = decode_all(&v.tok, ids, n, &bytes);
        cr_expect(bytes == bytes_in && memcmp(back, texts[t], bytes) == 0, "\"%s\" came back as \"%s\"",
                  printable(texts[t], bytes_in), printable(back, bytes));
        free(back);
        free(ids);
    }
    size_t n;
    int32_t *ids = encode_ok(&v.tok, "\x80world", 6, false, false, &n);
    const int32_t expected[] = {LLAMA_SPACE, LLAMA_FIRST_BYTE_TOKEN + 0x80, 11526 /* "world" */};
    cr_expect_eq(snug_tokenizer_find(&v.tok, "world", 5), 11526);
    expect_ids(ids, n, expected, 3, "\\x80world");
    free(ids);
    close_vocab(&v);
}

Test(encode, add_bos_prepends_bos_and_empty_text_gives_nothing) {
    vocab v;
    open_vocab(LLAMA_SPM_VOCAB, &v);
    size_t n;
    int32_t *ids = encode_ok(&v.tok, "Hello world", 11, true, false, &n);
    const int32_t expected[] = {LLAMA_BOS, LLAMA_HELLO, LLAMA_WORLD};
    expect_ids(ids, n, expected, 3, "Hello world with BOS");
    free(ids);
    ids = encode_ok(&v.tok, "", 0, false, false, &n);
    cr_expect_eq(n, 0);
    free(ids);
    ids = encode_ok(&v.tok, NULL, 0, true, true, &n);
    expect_ids(ids, n, expected, 1, "empty text with BOS");
    free(ids);
    close_vocab(&v);
}

Test(encode, parse_special_turns_control_text_into_tokens) {
    vocab v;
    open_vocab(LLAMA_SPM_VOCAB, &v);
    const char *text = "<s>hello</s>";
    size_t n, bytes;
    int32_t *ids = encode_ok(&v.tok, text, strlen(text), false, true, &n);
    /* As in llama.cpp (and SentencePiece run on each piece of text between special tokens), text that follows a
     * special token gets the dummy-prefix space: "hello" becomes "▁hello", one piece (22172). */
    cr_assert_eq(snug_tokenizer_find(&v.tok, "\xE2\x96\x81hello", 8), LLAMA_SPACE_HELLO);
    expect_ids(ids, n, (const int32_t[]){LLAMA_BOS, LLAMA_SPACE_HELLO, LLAMA_EOS}, 3, "<s>hello</s>");
    free(ids);

    ids = encode_ok(&v.tok, text, strlen(text), false, false, &n);
    for (size_t i = 0; i < n; i++) {
        cr_expect(ids[i] != LLAMA_BOS && ids[i] != LLAMA_EOS, "special token %d at %zu without parse_special", ids[i],
                  i);
    }
    char *back = decode_all(&v.tok, ids, n, &bytes);
    cr_expect_str_eq(back, text, "plain-text specials round-trip");
    free(back);
    free(ids);

    /* Text before the first special token gets the prefix, as any text start does. */
    ids = encode_ok(&v.tok, "Hello</s>", 9, false, true, &n);
    const int32_t expected[] = {LLAMA_HELLO, LLAMA_EOS};
    expect_ids(ids, n, expected, 2, "Hello</s>");
    free(ids);
    close_vocab(&v);
}

Test(encode, parse_special_with_phi3_chat_tokens) {
    vocab v;
    open_vocab(PHI3_VOCAB, &v);
    const char *text = "<|user|>\nHi<|end|>\n<|assistant|>";
    size_t n;
    int32_t *ids = encode_ok(&v.tok, text, strlen(text), true, true, &n);
    /* llama.cpp strips the whitespace after Phi-3's special tokens (RSTRIP, set for models whose general.name holds
     * "phi3"; this file's is "Phi3"), and "Hi" then follows a special token: dummy prefix, "▁Hi" (6324). */
    cr_assert_eq(snug_tokenizer_find(&v.tok, "\xE2\x96\x81Hi", 5), PHI3_SPACE_HI);
    expect_ids(ids, n, (const int32_t[]){LLAMA_BOS, PHI3_USER, PHI3_SPACE_HI, PHI3_END, PHI3_ASSISTANT}, 5,
               "phi-3 chat markers");
    free(ids);
    /* "</s>" is USER_DEFINED in phi-3, but its text is an end-of-generation marker, which llama.cpp makes a control
     * token: split out with parse_special, plain text without. */
    ids = encode_ok(&v.tok, "a</s>", 5, false, true, &n);
    cr_expect(n >= 2 && ids[n - 1] == LLAMA_EOS, "last id %d", n ? ids[n - 1] : -1);
    free(ids);
    ids = encode_ok(&v.tok, "a</s>", 5, false, false, &n);
    for (size_t i = 0; i < n; i++) cr_expect_neq(ids[i], LLAMA_EOS);
    free(ids);
    close_vocab(&v);
}

Test(encode, too_small_cap_is_context_full_with_both_numbers) {
    vocab v;
    open_vocab(LLAMA_SPM_VOCAB, &v);
    int32_t ids[4] = {-7, -7, -7, -7};
    size_t n = 99;
    snug_error err = {0};
    snug_status st = encode_exact(&v.tok, "Hello world", 11, true, false, ids, 2, &n, &err);
    cr_assert_eq(st, SNUG_E_CONTEXT_FULL, "status %s", snug_status_name(st));
    cr_expect(strstr(err.message, "3") && strstr(err.message, "2"), "message: %s", err.message);
    cr_expect_eq(n, 2, "the first cap ids are written");
    cr_expect_eq(ids[0], LLAMA_BOS);
    cr_expect_eq(ids[1], LLAMA_HELLO);
    cr_expect_eq(ids[2], -7, "nothing written past cap");
    st = encode_exact(&v.tok, "Hello", 5, false, false, ids, 0, &n, &err);
    cr_expect_eq(st, SNUG_E_CONTEXT_FULL);
    close_vocab(&v);
}

Test(encode, text_longer_than_scratch_is_an_argument_error) {
    vocab v;
    open_vocab(LLAMA_SPM_VOCAB, &v);
    const uint64_t scratch_bytes = snug_tokenizer_scratch_bytes(&v.tok, 10);
    void *scratch = malloc(scratch_bytes);
    int32_t ids[64];
    size_t n;
    snug_error err = {0};
    snug_status st =
        snug_tokenizer_encode(&v.tok, "0123456789", 10, false, false, scratch, scratch_bytes, ids, 64, &n, &err);
    cr_expect_eq(st, SNUG_OK, "%s", err.message);
    st = snug_tokenizer_encode(&v.tok, "01234567890", 11, false, false, scratch, scratch_bytes, ids, 64, &n, &err);
    cr_assert_eq(st, SNUG_E_ARGUMENT, "status %s", snug_status_name(st));
    cr_expect(strstr(err.message, "11 bytes") && strstr(err.message, "10 bytes"), "message: %s", err.message);
    st = snug_tokenizer_encode(&v.tok, "0", 1, false, false, scratch, 0, ids, 64, &n, &err);
    cr_expect_eq(st, SNUG_E_ARGUMENT);
    /* Beyond the hard limit (256 MiB) the text is refused before anything is read. */
    const size_t huge = ((size_t)1 << 28) + 1;
    st = snug_tokenizer_encode(&v.tok, "0", huge, false, false, scratch, UINT64_MAX, ids, 64, &n, &err);
    cr_expect_eq(st, SNUG_E_ARGUMENT);
    cr_expect(strstr(err.message, "268435457") != NULL, "message: %s", err.message);
    free(scratch);
    cr_expect_eq(snug_tokenizer_scratch_bytes(&v.tok, UINT64_MAX), UINT64_MAX, "an impossible text cannot be planned");
    close_vocab(&v);
}

/* Scratch starting at an odd address still works: encode aligns inside the slack it planned. */
Test(encode, unaligned_scratch) {
    vocab v;
    open_vocab(LLAMA_SPM_VOCAB, &v);
    const uint64_t scratch_bytes = snug_tokenizer_scratch_bytes(&v.tok, 11);
    uint8_t *block = malloc(scratch_bytes + 1);
    int32_t ids[8];
    size_t n;
    snug_error err = {0};
    snug_status st =
        snug_tokenizer_encode(&v.tok, "Hello world", 11, false, false, block + 1, scratch_bytes, ids, 8, &n, &err);
    cr_assert_eq(st, SNUG_OK, "%s", err.message);
    const int32_t expected[] = {LLAMA_HELLO, LLAMA_WORLD};
    expect_ids(ids, n, expected, 2, "Hello world");
    free(block);
    close_vocab(&v);
}

/* Texts that push each scratch region to its bound (all spaces triple in size; every byte its own symbol; long
 * merge chains; many special tokens), in exactly-planned scratch, and decoding back unchanged. */
Test(encode, worst_case_texts_fit_the_planned_scratch) {
    vocab v;
    open_vocab(PHI3_VOCAB, &v);
    enum { TEXT_BYTES = 20000 };
    char *text = malloc(TEXT_BYTES + 1);
    for (int kind = 0; kind < 6; kind++) {
        for (size_t i = 0; i < TEXT_BYTES; i++) {
            switch (kind) {
            case 0: text[i] = ' '; break;
            case 1: text[i] = (char)0xFF; break;
            case 2: text[i] = "\xF0\x9F\xA6\x99"[i % 4]; break;
            case 3: text[i] = '3'; break;
            case 4: text[i] = "the quick brown fox "[i % 20]; break;
            default: text[i] = "<s></s>x<|end|>"[i % 15]; break;
            }
        }
        const bool parse_special = kind == 5;
        size_t n, bytes;
        int32_t *ids = encode_ok(&v.tok, text, TEXT_BYTES, false, parse_special, &n);
        if (!parse_special) {
            char *back = decode_all(&v.tok, ids, n, &bytes);
            cr_expect(bytes == TEXT_BYTES && memcmp(back, text, bytes) == 0, "kind %d does not round-trip", kind);
            free(back);
        } else {
            size_t in_text = 0, as_tokens = 0; /* "</s>" is USER_DEFINED id 2 in phi-3 */
            for (const char *p = text; (p = memmem(p, (size_t)(text + TEXT_BYTES - p), "</s>", 4)) != NULL; p += 4) {
                in_text++;
            }
            for (size_t i = 0; i < n; i++) as_tokens += ids[i] == LLAMA_EOS;
            cr_expect_eq(as_tokens, in_text, "every </s> becomes a token: %zu of %zu", as_tokens, in_text);
        }
        free(ids);
    }
    free(text);
    close_vocab(&v);
}

/* ---- decoding -------------------------------------------------------------------------------------------------- */

Test(decode, piece_text_rules) {
    vocab v;
    open_vocab(LLAMA_SPM_VOCAB, &v);
    const snug_tokenizer *tok = &v.tok;
    char out[PIECE_BUFFER_BYTES];
    cr_expect_eq(snug_tokenizer_piece_text(tok, -1, LLAMA_BOS, out, sizeof out), 0, "BOS prints nothing");
    cr_expect_eq(snug_tokenizer_piece_text(tok, LLAMA_HELLO, LLAMA_EOS, out, sizeof out), 0, "EOS prints nothing");
    size_t n = snug_tokenizer_piece_text(tok, -1, LLAMA_UNK, out, sizeof out);
    cr_expect(n == 5 && memcmp(out, "<unk>", 5) == 0, "unknown prints its text");
    n = snug_tokenizer_piece_text(tok, LLAMA_HELLO, LLAMA_FIRST_BYTE_TOKEN + '\n', out, sizeof out);
    cr_expect(n == 1 && out[0] == '\n');
    n = snug_tokenizer_piece_text(tok, -1, LLAMA_FIRST_BYTE_TOKEN + ' ', out, sizeof out);
    cr_expect(n == 1 && out[0] == ' ', "a byte token's space is real text, never dropped");
    n = snug_tokenizer_piece_text(tok, -1, LLAMA_HELLO, out, sizeof out);
    cr_expect(n == 5 && memcmp(out, "Hello", 5) == 0, "the dummy prefix is dropped at the start");
    n = snug_tokenizer_piece_text(tok, LLAMA_BOS, LLAMA_HELLO, out, sizeof out);
    cr_expect(n == 5 && memcmp(out, "Hello", 5) == 0, "and after BOS");
    n = snug_tokenizer_piece_text(tok, LLAMA_HELLO, LLAMA_WORLD, out, sizeof out);
    cr_expect(n == 6 && memcmp(out, " world", 6) == 0, "kept inside a sequence");
    n = snug_tokenizer_piece_text(tok, -1, 259 /* "▁▁" */, out, sizeof out);
    cr_expect(n == 1 && out[0] == ' ', "only one leading space is dropped");
    n = snug_tokenizer_piece_text(tok, LLAMA_HELLO, LLAMA_WORLD, out, 3);
    cr_expect(n == 3 && memcmp(out, " wo", 3) == 0, "truncated to cap");
    cr_expect_eq(snug_tokenizer_piece_text(tok, -1, LLAMA_FIRST_BYTE_TOKEN, out, 0), 0);
    cr_expect_eq(snug_tokenizer_piece_text(tok, -1, -1, out, sizeof out), 0, "out of range prints nothing");
    cr_expect_eq(snug_tokenizer_piece_text(tok, -1, 32000, out, sizeof out), 0);
    close_vocab(&v);
}

/* ---- validation and edge cases on synthetic vocabularies ------------------------------------------------------- */

Test(validation, gpt2_vocabulary_is_supported) {
    /* Byte-level BPE: loaded here, tested in test_tokenizer_bpe.c. */
    const char *path = test_shared_file(GPT2_VOCAB);
    snug_gguf *gguf;
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open(path, 0, &gguf, &err), SNUG_OK, "%s", err.message);
    snug_tokenizer tok;
    snug_status st = snug_tokenizer_load(&tok, gguf, &err);
    cr_expect_eq(st, SNUG_OK, "status %s: %s", snug_status_name(st), err.message);
    cr_expect_eq(tok.kind, SNUG_TOKENIZER_BPE);
    uint64_t bytes = 0;
    cr_expect_eq(snug_tokenizer_table_bytes(gguf, &bytes, &err), SNUG_OK);
    cr_expect_eq(bytes, tok.table_bytes);
    snug_tokenizer_free(&tok);
    snug_gguf_close(gguf);
}

/* What goes into a synthetic vocabulary file; NULL / negative counts leave a key out. */
typedef struct synth_vocab {
    const char *model;
    const char *const *tokens;
    int n_tokens;
    const float *scores;
    int n_scores;
    const int32_t *types;
    int n_types;
    int64_t bos, eos, unk; /* -1: absent */
    int space_prefix;      /* -1: absent, else the bool */
} synth_vocab;

static synth_vocab synth_defaults(const char *const *tokens, int n) {
    return (synth_vocab){.model = "llama",
                         .tokens = tokens,
                         .n_tokens = n,
                         .n_scores = -1,
                         .n_types = -1,
                         .bos = -1,
                         .eos = -1,
                         .unk = -1,
                         .space_prefix = 0};
}

/* Writes the vocabulary (plus one extra raw key when extra_key is set) and opens it. */
static snug_gguf *write_vocab(const char *name, const synth_vocab *s, const char *extra_key, uint32_t extra_type,
                              const void *extra_value, uint64_t extra_bytes) {
    snug_gguf_writer *w = snug_gguf_writer_create(3, 0);
    cr_assert_not_null(w);
    bool ok = true;
    if (s->model) ok = ok && snug_gguf_writer_string(w, "tokenizer.ggml.model", s->model);
    if (s->tokens) ok = ok && snug_gguf_writer_strings(w, "tokenizer.ggml.tokens", s->tokens, (uint64_t)s->n_tokens);
    if (s->scores) ok = ok && snug_gguf_writer_f32s(w, "tokenizer.ggml.scores", s->scores, (uint64_t)s->n_scores);
    if (s->types) ok = ok && snug_gguf_writer_i32s(w, "tokenizer.ggml.token_type", s->types, (uint64_t)s->n_types);
    if (s->bos != -1) ok = ok && snug_gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)s->bos);
    if (s->eos != -1) ok = ok && snug_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)s->eos);
    if (s->unk != -1) ok = ok && snug_gguf_writer_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)s->unk);
    if (s->space_prefix >= 0) ok = ok && snug_gguf_writer_bool(w, "tokenizer.ggml.add_space_prefix", s->space_prefix);
    if (extra_key) ok = ok && snug_gguf_writer_raw(w, extra_key, extra_type, extra_value, extra_bytes);
    cr_assert(ok);
    const char *path = test_tmp_path(name);
    snug_error err = {0};
    cr_assert_eq(snug_gguf_writer_write(w, path, false, &err), SNUG_OK, "%s", err.message);
    snug_gguf_writer_free(w);
    snug_gguf *gguf;
    cr_assert_eq(snug_gguf_open(path, 0, &gguf, &err), SNUG_OK, "%s", err.message);
    return gguf;
}

/* Loads a synthetic vocabulary that must fail; checks the status and that the message holds each `needles` entry. */
static void expect_load_error(const char *name, const synth_vocab *s, snug_status want, const char *const *needles,
                              const char *extra_key, uint32_t extra_type, const void *extra_value,
                              uint64_t extra_bytes) {
    snug_gguf *gguf = write_vocab(name, s, extra_key, extra_type, extra_value, extra_bytes);
    snug_tokenizer tok;
    snug_error err = {0};
    snug_status st = snug_tokenizer_load(&tok, gguf, &err);
    cr_expect_eq(st, want, "%s: status %s, expected %s (%s)", name, snug_status_name(st), snug_status_name(want),
                 err.message);
    for (const char *const *n = needles; *n; n++) {
        cr_expect(strstr(err.message, *n) != NULL, "%s: message lacks \"%s\": %s", name, *n, err.message);
    }
    cr_expect_null(tok.table_block);
    snug_gguf_close(gguf);
}

static const char *const TINY_TOKENS[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "ba"};
enum { TINY_N = 7 };

Test(validation, vocabulary_errors_name_the_key_and_numbers) {
    const float scores6[6] = {0};
    const int32_t types_bad[TINY_N] = {2, 3, 3, 1, 7, 1, 1};
    const int32_t types_zero[TINY_N] = {2, 3, 3, 0, 1, 1, 1};
    const int32_t types5[5] = {2, 3, 3, 1, 1};
    float scores_nan[TINY_N] = {0};
    scores_nan[4] = NAN;

    synth_vocab s = synth_defaults(TINY_TOKENS, TINY_N);
    s.model = NULL;
    expect_load_error("no_model.gguf", &s, SNUG_E_FORMAT, (const char *[]){"tokenizer.ggml.model", NULL}, NULL, 0, NULL,
                      0);

    s = synth_defaults(TINY_TOKENS, TINY_N);
    s.model = "bert";
    expect_load_error("bert.gguf", &s, SNUG_E_UNSUPPORTED, (const char *[]){"bert", NULL}, NULL, 0, NULL, 0);

    s = synth_defaults(NULL, 0);
    expect_load_error("no_tokens.gguf", &s, SNUG_E_FORMAT, (const char *[]){"tokenizer.ggml.tokens", NULL}, NULL, 0,
                      NULL, 0);

    s = synth_defaults(TINY_TOKENS, 0);
    expect_load_error("empty.gguf", &s, SNUG_E_FORMAT, (const char *[]){"tokenizer.ggml.tokens", "0", NULL}, NULL, 0,
                      NULL, 0);

    s = synth_defaults(TINY_TOKENS, TINY_N);
    s.scores = scores6;
    s.n_scores = 6;
    expect_load_error("short_scores.gguf", &s, SNUG_E_FORMAT, (const char *[]){"tokenizer.ggml.scores", "6", "7", NULL},
                      NULL, 0, NULL, 0);

    s = synth_defaults(TINY_TOKENS, TINY_N);
    s.types = types5;
    s.n_types = 5;
    expect_load_error("short_types.gguf", &s, SNUG_E_FORMAT,
                      (const char *[]){"tokenizer.ggml.token_type", "5", "7", NULL}, NULL, 0, NULL, 0);

    s = synth_defaults(TINY_TOKENS, TINY_N);
    s.types = types_bad;
    s.n_types = TINY_N;
    expect_load_error("bad_type.gguf", &s, SNUG_E_FORMAT, (const char *[]){"tokenizer.ggml.token_type[4]", "7", NULL},
                      NULL, 0, NULL, 0);

    s.types = types_zero;
    expect_load_error("undefined_type.gguf", &s, SNUG_E_FORMAT,
                      (const char *[]){"tokenizer.ggml.token_type[3]", "0", NULL}, NULL, 0, NULL, 0);

    s = synth_defaults(TINY_TOKENS, TINY_N);
    s.scores = scores_nan;
    s.n_scores = TINY_N;
    expect_load_error("nan_score.gguf", &s, SNUG_E_FORMAT, (const char *[]){"tokenizer.ggml.scores[4]", NULL}, NULL, 0,
                      NULL, 0);

    s = synth_defaults(TINY_TOKENS, TINY_N);
    s.bos = 7;
    expect_load_error("bos_range.gguf", &s, SNUG_E_FORMAT,
                      (const char *[]){"tokenizer.ggml.bos_token_id", "7", "7 tokens", NULL}, NULL, 0, NULL, 0);

    s = synth_defaults(TINY_TOKENS, TINY_N);
    s.unk = 100;
    expect_load_error("unk_range.gguf", &s, SNUG_E_FORMAT,
                      (const char *[]){"tokenizer.ggml.unknown_token_id", "100", NULL}, NULL, 0, NULL, 0);

    /* A BYTE token whose text is not <0xHH>. */
    const int32_t types_byte[TINY_N] = {2, 3, 3, 6, 1, 1, 1};
    s = synth_defaults(TINY_TOKENS, TINY_N);
    s.types = types_byte;
    s.n_types = TINY_N;
    expect_load_error("bad_byte.gguf", &s, SNUG_E_FORMAT, (const char *[]){"token 3", "<0xHH>", NULL}, NULL, 0, NULL,
                      0);

    /* Wrong value types: an id given as a string, a flag as an integer, scores as integers, tokens as integers. */
    s = synth_defaults(TINY_TOKENS, TINY_N);
    const uint8_t str_value[] = {1, 0, 0, 0, 0, 0, 0, 0, '1'};
    expect_load_error("eos_string.gguf", &s, SNUG_E_FORMAT, (const char *[]){"tokenizer.ggml.eos_token_id", NULL},
                      "tokenizer.ggml.eos_token_id", SNUG_GGUF_STRING, str_value, sizeof str_value);
    s.space_prefix = -1;
    const uint32_t one = 1;
    expect_load_error("flag_int.gguf", &s, SNUG_E_FORMAT, (const char *[]){"tokenizer.ggml.add_space_prefix", NULL},
                      "tokenizer.ggml.add_space_prefix", SNUG_GGUF_UINT32, &one, sizeof one);
    /* array header: element type (u32), count (u64), then elements */
    uint8_t int_array[4 + 8 + 4 * TINY_N] = {0};
    const uint32_t int32_type = SNUG_GGUF_INT32;
    const uint64_t count = TINY_N;
    memcpy(int_array, &int32_type, 4);
    memcpy(int_array + 4, &count, 8);
    expect_load_error("int_scores.gguf", &s, SNUG_E_FORMAT, (const char *[]){"tokenizer.ggml.scores", "i32", NULL},
                      "tokenizer.ggml.scores", SNUG_GGUF_ARRAY, int_array, sizeof int_array);
    s = synth_defaults(NULL, 0);
    expect_load_error("int_tokens.gguf", &s, SNUG_E_FORMAT, (const char *[]){"tokenizer.ggml.tokens", "i32", NULL},
                      "tokenizer.ggml.tokens", SNUG_GGUF_ARRAY, int_array, sizeof int_array);
}

/* Loads a synthetic vocabulary that must succeed. */
static snug_gguf *load_synth(const char *name, const synth_vocab *s, snug_tokenizer *tok) {
    snug_gguf *gguf = write_vocab(name, s, NULL, 0, NULL, 0);
    snug_error err = {0};
    cr_assert_eq(snug_tokenizer_load(tok, gguf, &err), SNUG_OK, "%s: %s", name, err.message);
    uint64_t planned = 0;
    cr_assert_eq(snug_tokenizer_table_bytes(gguf, &planned, &err), SNUG_OK);
    cr_expect_eq(planned, tok->table_bytes);
    return gguf;
}

Test(merge, equal_scores_merge_the_leftmost_pair_first) {
    /* "aba": pairs "ab" (left 0) and "ba" (left 1). */
    const float equal[TINY_N] = {0, 0, 0, -1, -1, -2, -2};
    const float ba_better[TINY_N] = {0, 0, 0, -1, -1, -2, -1.5f};
    synth_vocab s = synth_defaults(TINY_TOKENS, TINY_N);
    s.scores = equal;
    s.n_scores = TINY_N;
    snug_tokenizer tok;
    snug_gguf *gguf = load_synth("tie.gguf", &s, &tok);
    cr_expect_not(tok.add_space_prefix);
    size_t n;
    int32_t *ids = encode_ok(&tok, "aba", 3, false, false, &n);
    expect_ids(ids, n, (const int32_t[]){5, 3}, 2, "aba with equal scores");
    free(ids);
    snug_tokenizer_free(&tok);
    snug_gguf_close(gguf);

    s.scores = ba_better;
    gguf = load_synth("ba_better.gguf", &s, &tok);
    ids = encode_ok(&tok, "aba", 3, false, false, &n);
    expect_ids(ids, n, (const int32_t[]){3, 6}, 2, "aba when ba scores higher");
    free(ids);
    snug_tokenizer_free(&tok);
    snug_gguf_close(gguf);
}

Test(merge, duplicate_text_lower_id_wins_and_missing_byte_uses_unk) {
    static const char *const tokens[] = {"<unk>", "x", "y", "x", "<0x7A>"};
    const int32_t types[] = {2, 1, 1, 1, 6};
    synth_vocab s = synth_defaults(tokens, 5);
    s.types = types;
    s.n_types = 5;
    s.unk = 0;
    snug_tokenizer tok;
    snug_gguf *gguf = load_synth("dup.gguf", &s, &tok);
    cr_expect_eq(snug_tokenizer_find(&tok, "x", 1), 1);
    cr_expect_eq(tok.byte_tokens['z'], 4);
    cr_expect_eq(tok.byte_tokens['w'], -1);
    size_t n;
    /* "w" has neither a piece nor a byte token: unk; "z" has a byte token. */
    int32_t *ids = encode_ok(&tok, "xwz", 3, false, false, &n);
    expect_ids(ids, n, (const int32_t[]){1, 0, 4}, 3, "xwz");
    free(ids);
    snug_tokenizer_free(&tok);
    snug_gguf_close(gguf);

    /* Without an unknown token such a byte cannot be encoded at all. */
    s.unk = -1;
    gguf = load_synth("no_unk.gguf", &s, &tok);
    int32_t out[8];
    snug_error err = {0};
    snug_status st = encode_exact(&tok, "xw", 2, false, false, out, 8, &n, &err);
    cr_expect_eq(st, SNUG_E_ARGUMENT, "status %s", snug_status_name(st));
    cr_expect(strstr(err.message, "0x77") != NULL, "message: %s", err.message);
    snug_tokenizer_free(&tok);
    snug_gguf_close(gguf);
}

/* Special tokens are tried longest first: "bcd" takes "abcd"[1..3] before "ab" could take [0..1], as in llama.cpp. */
Test(merge, longer_special_tokens_are_split_out_first) {
    static const char *const tokens[] = {"<unk>", "a", "b", "c", "d", "ab", "bcd", "\xE2\x96\x81"};
    const int32_t types[] = {2, 1, 1, 1, 1, 3, 4, 1};
    synth_vocab s = synth_defaults(tokens, 8);
    s.types = types;
    s.n_types = 8;
    s.space_prefix = 1;
    snug_tokenizer tok;
    snug_gguf *gguf = load_synth("specials.gguf", &s, &tok);
    cr_expect(tok.add_space_prefix);
    cr_expect_eq(tok.n_special, 3);
    cr_expect_eq(tok.special_ids[0], 0, "\"<unk>\" is the longest");
    cr_expect_eq(tok.special_ids[1], 6);
    size_t n;
    int32_t *ids = encode_ok(&tok, "abcdab", 6, false, true, &n);
    expect_ids(ids, n, (const int32_t[]){7, 1, 6, 5}, 4, "abcdab with specials");
    free(ids);
    snug_tokenizer_free(&tok);
    snug_gguf_close(gguf);
}

/* Words merge apart only when no piece crosses a word start: "a▁b" joins 'a' to the "▁" after it, so "a b" must merge
 * over the whole text: "▁b" (-1) first, then "a" + "▁b" = "a▁b" (-0.5) — one token. Merging "a" and "▁b" apart would
 * give two. Without such pieces the flag is on and the two words stay two tokens. */
Test(merge, words_merge_apart_only_when_no_piece_crosses_a_word_start) {
    static const char *const crossing[] = {"<unk>",
                                           "a",
                                           "b",
                                           "\xE2\x96\x81",
                                           "\xE2\x96\x81"
                                           "b",
                                           "a\xE2\x96\x81"
                                           "b"};
    const float crossing_scores[] = {0, 0, 0, 0, -1, -0.5f};
    synth_vocab s = synth_defaults(crossing, 6);
    s.scores = crossing_scores;
    s.n_scores = 6;
    snug_tokenizer tok;
    snug_gguf *gguf = load_synth("crossing.gguf", &s, &tok);
    cr_expect_not(tok.spm_words_apart);
    size_t n;
    int32_t *ids = encode_ok(&tok, "a b", 3, false, false, &n);
    expect_ids(ids, n, (const int32_t[]){5}, 1, "a b with a piece across the word start");
    free(ids);
    snug_tokenizer_free(&tok);
    snug_gguf_close(gguf);

    s.n_tokens = s.n_scores = 5; /* the same without "a▁b" */
    gguf = load_synth("apart.gguf", &s, &tok);
    cr_expect(tok.spm_words_apart);
    ids = encode_ok(&tok, "a b", 3, false, false, &n);
    expect_ids(ids, n, (const int32_t[]){1, 4}, 2, "a b without it");
    free(ids);
    snug_tokenizer_free(&tok);
    snug_gguf_close(gguf);
}

Test(merge, real_sentencepiece_vocabularies_merge_words_apart) {
    const char *files[] = {LLAMA_SPM_VOCAB, PHI3_VOCAB};
    for (int i = 0; i < 2; i++) {
        vocab v;
        open_vocab(files[i], &v);
        cr_expect(v.tok.spm_words_apart, "%s: a piece joins \"▁\" to the character before it", files[i]);
        close_vocab(&v);
    }
}
