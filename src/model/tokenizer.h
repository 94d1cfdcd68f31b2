/* tokenizer.h — text ↔ tokens from the vocabulary in a GGUF file.
 *
 * One interface, one implementation per tokenizer.ggml.model: "llama" (SentencePiece-style: score-driven merges,
 * byte fallback, dummy-prefix space) now; "gpt2" (byte-level BPE with a pre-tokenizer) slots in beside it later by
 * adding a kind and its functions, without changing callers.
 *
 * Memory: the tables (piece index, scores, types) live in one block whose size snug_tokenizer_table_bytes() states
 * before it is allocated; encoding works only in caller-provided scratch of snug_tokenizer_scratch_bytes(), so the
 * context's plan can own it. Pieces point into the mapped GGUF file, which must outlive the tokenizer.
 */
#ifndef SNUG_MODEL_TOKENIZER_H
#define SNUG_MODEL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snug.h"

typedef enum snug_tokenizer_kind {
    SNUG_TOKENIZER_SPM = 1, /* tokenizer.ggml.model = "llama" */
} snug_tokenizer_kind;

/* Token types of tokenizer.ggml.token_type (as in the GGUF / llama.cpp convention). */
typedef enum snug_token_kind {
    SNUG_TOKEN_UNDEFINED = 0,
    SNUG_TOKEN_NORMAL = 1,
    SNUG_TOKEN_UNKNOWN = 2,
    SNUG_TOKEN_CONTROL = 3,
    SNUG_TOKEN_USER_DEFINED = 4,
    SNUG_TOKEN_UNUSED = 5,
    SNUG_TOKEN_BYTE = 6,
} snug_token_kind;

typedef struct snug_tokenizer_piece {
    const char *text; /* into the mapped file; not NUL-terminated */
    uint32_t bytes;
} snug_tokenizer_piece;

typedef struct snug_tokenizer {
    snug_tokenizer_kind kind;
    int32_t n_vocab;
    int32_t bos, eos, unk;    /* -1 when the vocabulary has none */
    bool add_bos;             /* tokenizer.ggml.add_bos_token (default true for SentencePiece) */
    bool add_space_prefix;    /* tokenizer.ggml.add_space_prefix (default true for SentencePiece) */
    int32_t byte_tokens[256]; /* id of <0xXX> for each byte, -1 when missing */

    /* Tables, all inside `table_block` (table_bytes long). */
    void *table_block;
    uint64_t table_bytes;
    snug_tokenizer_piece *pieces; /* (n_vocab) */
    float *scores;                /* (n_vocab) */
    uint8_t *kinds;               /* (n_vocab) snug_token_kind */
    int32_t *index;               /* (index_slots) open-addressing hash of piece text → id, -1 = empty */
    uint32_t index_slots;         /* a power of two */
    /* … an implementation may add fields here; keep them inside table_block */
    int32_t *special_ids; /* (n_special) control, user-defined and unknown tokens in the order parse_special tries
                           * them: longest text first, then lowest id */
    uint32_t n_special;
} snug_tokenizer;

/* Bytes of the tables for this file's vocabulary (validates nothing beyond what it needs to count). */
snug_status snug_tokenizer_table_bytes(const snug_gguf *gguf, uint64_t *out_bytes, snug_error *err);

/* Reads and validates the vocabulary (tokens, scores, token types, bos/eos/unk ids in range, lengths consistent),
 * allocating exactly snug_tokenizer_table_bytes(). Errors name the key and the numbers. */
snug_status snug_tokenizer_load(snug_tokenizer *tok, const snug_gguf *gguf, snug_error *err);
void snug_tokenizer_free(snug_tokenizer *tok);

/* Scratch bytes encode() needs for any text of up to max_text_bytes bytes (any alignment of the scratch will do).
 * UINT64_MAX for a text beyond encode's hard limit (256 MiB), so such a plan can never fit. */
uint64_t snug_tokenizer_scratch_bytes(const snug_tokenizer *tok, uint64_t max_text_bytes);

/* Encodes text. add_bos prepends BOS; parse_special turns the text of control / user-defined / unknown tokens found
 * in the text ("<s>", "<|im_start|>") into those tokens (off: such text is tokenized as plain text). The dummy-prefix
 * space (add_space_prefix) goes only before text that starts the input, not after a special token.
 * Fails with SNUG_E_ARGUMENT if text_bytes exceeds what the scratch was sized for, and SNUG_E_CONTEXT_FULL (with both
 * numbers) if more than `cap` tokens result; then the first `cap` tokens are written and *n_tokens = cap.
 * Never allocates. */
snug_status snug_tokenizer_encode(const snug_tokenizer *tok, const char *text, size_t text_bytes, bool add_bos,
                                  bool parse_special, void *scratch, uint64_t scratch_bytes, int32_t *tokens,
                                  size_t cap, size_t *n_tokens, snug_error *err);

/* The text of one token as it should be shown after `prev` (-1 at the start of a sequence): control tokens give "",
 * byte tokens their byte, '▁' becomes ' ', and at the start of a sequence (prev == -1 or prev == BOS) the
 * dummy-prefix space is dropped. Unknown tokens give their piece text as is ("<unk>"). Returns the bytes written
 * (truncated to cap; 0 for an id outside the vocabulary). */
size_t snug_tokenizer_piece_text(const snug_tokenizer *tok, int32_t prev, int32_t token, char *out, size_t cap);

/* Piece id of an exact text, or -1. */
int32_t snug_tokenizer_find(const snug_tokenizer *tok, const char *text, size_t bytes);

#endif
