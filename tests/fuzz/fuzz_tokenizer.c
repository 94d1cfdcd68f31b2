/* fuzz_tokenizer.c — harness (b): both tokenizers on real vocabularies, with arbitrary bytes.
 *
 * Byte 0 picks the vocabulary (mod 3: ggml-vocab-gpt-2 (byte-level BPE), ggml-vocab-llama-spm and ggml-vocab-phi-3
 * (SentencePiece), each loaded once per process) and options: bit 2 adds BOS, bit 3 also tokenizes the text as parts
 * split at 0x01 bytes (special-token parsing alternating between parts). The rest is the text. It is encoded with and
 * without special-token parsing, in malloc'd scratch of exactly snug_vocab_scratch_bytes (ASan sees any overrun),
 * and decoded back piece by piece.
 *
 * Invariants: encoding any text of the planned size succeeds, with ids inside the vocabulary and at most one token
 * per byte (plus BOS and the dummy-prefix space); a token buffer one short gives SNUG_E_CONTEXT_FULL with the
 * tokens that fit, unchanged; one part tokenizes as the whole text does; without special-token parsing the pieces
 * decode back to the text byte for byte — always for byte-level BPE, and for SentencePiece when the text holds no
 * U+2581 (the character SentencePiece itself uses for a space, which decodes to ' ').
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/common.h"

enum {
    N_VOCABS = 3,
    OPT_ADD_BOS = 1 << 2,
    OPT_PARTS = 1 << 3,
    PART_SEPARATOR = 0x01,
    MAX_PARTS = 8,
    EXTRA_TOKENS = 2, /* BOS and the dummy-prefix space: the only tokens that do not consume a byte of text */
    PIECE_BYTES = 256,
};

static const char *const vocab_names[N_VOCABS] = {"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf",
                                                  "ggml-vocab-phi-3.gguf"};
static const bool vocab_is_bpe[N_VOCABS] = {true, false, false};
static snug_vocab *vocabs[N_VOCABS];

static snug_vocab *vocab_at(int v) {
    if (vocabs[v] == NULL) {
        snug_error err = snug_fuzz_error();
        const char *path = snug_fuzz_shared_file(vocab_names[v]);
        if (snug_vocab_load(path, &vocabs[v], &err) != SNUG_OK)
            snug_fuzz_fail("cannot load %s (set SNUG_SHARED): %s", path, err.message);
    }
    return vocabs[v];
}

/* Concatenated pieces, each after its predecessor (-1 before the first), into out (cap bytes); the length. */
static size_t decode(const snug_vocab *vocab, const snug_token *ids, size_t n, char *out, size_t cap) {
    size_t len = 0;
    char piece[PIECE_BYTES];
    for (size_t i = 0; i < n; i++) {
        size_t bytes = snug_vocab_piece(vocab, i ? ids[i - 1] : -1, ids[i], piece, sizeof piece);
        if (bytes > sizeof piece) snug_fuzz_fail("piece of token %d claims %zu bytes", ids[i], bytes);
        /* A truncated piece is a prefix of the whole one. */
        char small[3];
        size_t small_bytes = snug_vocab_piece(vocab, i ? ids[i - 1] : -1, ids[i], small, sizeof small);
        if (small_bytes > sizeof small || memcmp(small, piece, small_bytes) != 0)
            snug_fuzz_fail("the piece of token %d truncated to 3 bytes is not a prefix of it", ids[i]);
        if (len + bytes <= cap) memcpy(out + len, piece, bytes);
        len += bytes;
    }
    return len;
}

static void check_ids(const snug_vocab *vocab, const snug_token *ids, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= snug_vocab_n_tokens(vocab))
            snug_fuzz_fail("%s: token %zu is %d, outside the vocabulary of %d", what, i, ids[i],
                           snug_vocab_n_tokens(vocab));
}

static void encode_text(int v, const char *text, size_t bytes, bool add_bos, bool special) {
    const snug_vocab *vocab = vocab_at(v);
    uint64_t scratch_bytes = snug_vocab_scratch_bytes(vocab, bytes);
    void *scratch = malloc(scratch_bytes ? (size_t)scratch_bytes : 1);
    size_t cap = bytes + EXTRA_TOKENS;
    snug_token *ids = malloc(cap * sizeof *ids), *short_ids = malloc(cap * sizeof *ids);
    char *decoded = malloc(bytes + 1);
    if (!scratch || !ids || !short_ids || !decoded) snug_fuzz_fail("out of memory for a %zu-byte text", bytes);

    size_t n = 0;
    snug_error err = snug_fuzz_error();
    snug_status st =
        snug_vocab_tokenize(vocab, text, bytes, add_bos, special, scratch, scratch_bytes, ids, cap, &n, &err);
    snug_fuzz_check_error(st, &err, "snug_vocab_tokenize");
    if (st != SNUG_OK)
        snug_fuzz_fail("%s: a %zu-byte text failed to encode (special %d): %s", vocab_names[v], bytes, special,
                       err.message);
    if (n > cap) snug_fuzz_fail("%zu tokens reported in a buffer of %zu", n, cap);
    check_ids(vocab, ids, n, vocab_names[v]);

    if (n > 0) {
        size_t short_n = 0;
        err = snug_fuzz_error();
        st = snug_vocab_tokenize(vocab, text, bytes, add_bos, special, scratch, scratch_bytes, short_ids, n - 1,
                                 &short_n, &err);
        snug_fuzz_check_error(st, &err, "snug_vocab_tokenize (one token short)");
        if (st != SNUG_E_CONTEXT_FULL || short_n != n - 1 || memcmp(short_ids, ids, short_n * sizeof *ids) != 0)
            snug_fuzz_fail("%s: %zu tokens into a buffer of %zu gave %s and %zu tokens", vocab_names[v], n, n - 1,
                           snug_status_name(st), short_n);
    }

    snug_text_part whole = {text, bytes, special};
    size_t parts_n = 0;
    err = snug_fuzz_error();
    st = snug_vocab_tokenize_parts(vocab, &whole, 1, add_bos, scratch, scratch_bytes, short_ids, cap, &parts_n, &err);
    snug_fuzz_check_error(st, &err, "snug_vocab_tokenize_parts (one part)");
    if (st != SNUG_OK || parts_n != n || memcmp(short_ids, ids, n * sizeof *ids) != 0)
        snug_fuzz_fail("%s: one part gave %s and %zu tokens, the whole text %zu", vocab_names[v], snug_status_name(st),
                       parts_n, n);

    size_t len = decode(vocab, ids, n, decoded, bytes);
    bool spm_space = !vocab_is_bpe[v] && memmem(text, bytes, "\xe2\x96\x81", 3) != NULL;
    if (!special && !spm_space && (len != bytes || memcmp(decoded, text, bytes) != 0))
        snug_fuzz_fail("%s: a %zu-byte text decodes to %zu bytes%s", vocab_names[v], bytes, len,
                       len == bytes ? " that differ" : "");
    free(decoded);
    free(short_ids);
    free(ids);
    free(scratch);
}

static void encode_parts(int v, const char *text, size_t bytes, bool add_bos) {
    const snug_vocab *vocab = vocab_at(v);
    snug_text_part parts[MAX_PARTS];
    size_t n_parts = 0, longest = 0, start = 0;
    for (size_t i = 0; i <= bytes && n_parts < MAX_PARTS; i++) {
        if (i == bytes || (text[i] == PART_SEPARATOR && n_parts + 1 < MAX_PARTS)) {
            parts[n_parts] = (snug_text_part){text + start, i - start, n_parts % 2 == 1};
            if (i - start > longest) longest = i - start;
            n_parts++;
            start = i + 1;
        }
    }
    uint64_t scratch_bytes = snug_vocab_scratch_bytes(vocab, longest);
    void *scratch = malloc(scratch_bytes ? (size_t)scratch_bytes : 1);
    size_t cap = bytes + EXTRA_TOKENS, n = 0;
    snug_token *ids = malloc(cap * sizeof *ids);
    if (!scratch || !ids) snug_fuzz_fail("out of memory for a %zu-byte text", bytes);
    snug_error err = snug_fuzz_error();
    snug_status st =
        snug_vocab_tokenize_parts(vocab, parts, n_parts, add_bos, scratch, scratch_bytes, ids, cap, &n, &err);
    snug_fuzz_check_error(st, &err, "snug_vocab_tokenize_parts");
    if (st != SNUG_OK) snug_fuzz_fail("%s: %zu parts failed to encode: %s", vocab_names[v], n_parts, err.message);
    check_ids(vocab, ids, n, vocab_names[v]);
    free(ids);
    free(scratch);
}

void snug_fuzz_tokenizer(const uint8_t *data, size_t size) {
    if (size == 0) return;
    const int v = data[0] % N_VOCABS;
    const bool add_bos = data[0] & OPT_ADD_BOS;
    const char *text = (const char *)data + 1;
    const size_t bytes = size - 1;
    encode_text(v, text, bytes, add_bos, false);
    encode_text(v, text, bytes, add_bos, true);
    if (data[0] & OPT_PARTS) encode_parts(v, text, bytes, add_bos);
}

#ifdef SNUG_LIBFUZZER
/* The vocabularies load before libFuzzer starts timing inputs (the gpt-2 one takes seconds). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    for (int v = 0; v < N_VOCABS; v++) vocab_at(v);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    snug_fuzz_tokenizer(data, size);
    return 0;
}
#endif
