/* vocab.h — tokenizer test helpers: opening a vocabulary, encoding in exactly-planned scratch, decoding, and
 * llama.cpp's conformance data (NAME.inp: 46 strings separated by CONFORMANCE_SEPARATOR, with a trailing separator;
 * NAME.out: one line of space-separated ids per string, made without BOS and without parsing special tokens).
 */
#ifndef SNUG_TESTS_VOCAB_H
#define SNUG_TESTS_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/tokenizer.h"
#include "snug.h"

#define CONFORMANCE_SEPARATOR "\n__ggml_vocab_test__\n"
enum { CONFORMANCE_STRINGS = 46 }; /* strings in each .inp file (llama.cpp's test-tokenizer-0 set) */
enum { MAX_TEST_TOKENS = 1 << 17, PIECE_BUFFER_BYTES = 64 };

typedef struct vocab {
    snug_gguf *gguf;
    snug_tokenizer tok;
} vocab;

typedef struct conformance_case {
    const char *text; /* into the .inp buffer; not NUL-terminated */
    size_t text_bytes;
    int32_t *ids;
    size_t n_ids;
} conformance_case;

typedef struct conformance {
    char *inp, *out;
    conformance_case cases[CONFORMANCE_STRINGS];
} conformance;

/* Opens a GGUF file and loads its tokenizer; skips the test when the shared file is missing. */
void open_vocab(const char *relative, vocab *v);
void close_vocab(vocab *v);
/* Encodes in a scratch of exactly the planned size (so ASan catches any overrun). */
snug_status encode_exact(const snug_tokenizer *tok, const char *text, size_t bytes, bool add_bos, bool parse_special,
                         int32_t *tokens, size_t cap, size_t *n_tokens, snug_error *err);
/* Encodes text that must succeed; returns a malloc'd id array and its length. */
int32_t *encode_ok(const snug_tokenizer *tok, const char *text, size_t bytes, bool add_bos, bool parse_special,
                   size_t *n_tokens);
/* Concatenates the pieces of a token sequence (prev tracking from -1); malloc'd, NUL-terminated. */
char *decode_all(const snug_tokenizer *tok, const int32_t *tokens, size_t n, size_t *bytes);
/* A short printable rendering for failure messages (static buffer). */
const char *printable(const char *text, size_t bytes);
void load_conformance(const char *vocab_relative, conformance *c);
void free_conformance(conformance *c);
/* All 46 strings encode to exactly llama.cpp's ids; and llama.cpp's ids decode back to the input byte for byte. */
void check_ids_match(const char *vocab_relative);
void check_round_trip(const char *vocab_relative);

#endif
