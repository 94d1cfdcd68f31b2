/* tokenizer.h — text ↔ tokens from the vocabulary in a GGUF file.
 *
 * One interface, one implementation per tokenizer.ggml.model: "llama" (SentencePiece-style: score-driven merges,
 * byte fallback, dummy-prefix space; tokenizer_spm.c) and "gpt2" (byte-level BPE: a PCRE2 pre-tokenizer, then
 * rank-ordered merges; tokenizer_bpe.c). Callers see one interface; encode and scratch_bytes dispatch on `kind`.
 * Both split the text at added and special tokens first (tokenizer_special.c), as llama.cpp does.
 *
 * Memory: the tables (piece index, scores, types, special-token flags and buckets) live in one block whose size
 * snug_tokenizer_table_bytes() states before it is allocated; encoding works only in caller-provided scratch of
 * snug_tokenizer_scratch_bytes(), so the context's plan can own it. Pieces point into the mapped GGUF file, which must
 * outlive the tokenizer.
 */
#ifndef SNUG_MODEL_TOKENIZER_H
#define SNUG_MODEL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snug.h"

typedef enum snug_tokenizer_kind {
    SNUG_TOKENIZER_SPM = 1, /* tokenizer.ggml.model = "llama" */
    SNUG_TOKENIZER_BPE = 2, /* tokenizer.ggml.model = "gpt2" (byte-level BPE) */
} snug_tokenizer_kind;

/* One merge rule of a BPE vocabulary, stored in an open-addressing hash keyed by (left, right); left = -1: empty. */
typedef struct snug_bpe_merge {
    int32_t left, right; /* ids of the two pieces */
    int32_t result;      /* id of their concatenation */
    int32_t rank;        /* index in tokenizer.ggml.merges: lower merges first */
} snug_bpe_merge;

/* Most regexes a pre-tokenizer chains (deepseek-llm: line breaks, letters, punctuation, trailing spaces, CJK,
 * digits). */
#define SNUG_BPE_MAX_PATTERNS 6
/* What table_bytes counts for each compiled pattern: PCRE2 allocates the compiled code, its JIT code (mmap) and the
 * match data itself, so their size is not known before compiling. This is an upper estimate; load measures the real
 * sizes into regex_bytes and fails (SNUG_E_INTERNAL) if they exceed it. */
#define SNUG_BPE_REGEX_BYTES_ESTIMATE ((uint64_t)256 * 1024)

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

/* One slot of the piece index: the id and the 32-bit hash of its text, so a probe that meets another piece is told
 * apart by the hash without reading that piece (most lookups while merging are for texts that are no piece). */
typedef struct snug_tokenizer_slot {
    int32_t id; /* -1: empty */
    uint32_t hash;
} snug_tokenizer_slot;

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
    bool spm_words_apart;     /* SPM: no piece has "▁" after a character other than "▁", so words merge apart */
    int32_t byte_tokens[256]; /* SPM: id of <0xXX> for each byte; BPE: id of the byte's bytes_to_unicode character;
                               * -1 when missing */

    /* Tables, all inside `table_block` (table_bytes long; BPE: table_bytes also counts the regex estimate). */
    void *table_block;
    uint64_t table_bytes;
    snug_tokenizer_piece *pieces; /* (n_vocab) */
    float *scores;                /* (n_vocab) */
    uint8_t *kinds;               /* (n_vocab) snug_token_kind */
    snug_tokenizer_slot *index;   /* (index_slots) open-addressing hash of piece text → id */
    uint32_t index_slots;         /* a power of two */
    /* … an implementation may add fields here; keep them inside table_block */
    int32_t *special_ids; /* (n_special) control, user-defined and unknown tokens in the order parse_special tries
                           * them: longest text first, then lowest id; a token's place here is its "rank" */
    uint32_t n_special;
    /* Added-token matching (tokenizer_special.c), in table_block: */
    uint8_t *special_flags;         /* (n_special) SNUG_SPECIAL_* of each rank */
    uint32_t *special_bucket_start; /* (SNUG_SPECIAL_BUCKETS + 1) where each bucket begins in special_bucket_ranks */
    uint32_t *special_bucket_ranks; /* (n_special) ranks grouped by bucket (first one or two bytes), rank order */
    uint32_t n_plain_special;       /* ranks with SNUG_SPECIAL_PLAIN */
    uint8_t special_starts[256];    /* per first byte: bit 0 some special starts with it, bit 1 some plain one does */

    /* BPE only (kind == SNUG_TOKENIZER_BPE). */
    snug_bpe_merge *merges; /* (merge_slots) hash of the merge rules, in table_block */
    uint32_t merge_slots;   /* a power of two, or 0 */
    bool ignore_merges;     /* llama-bpe: a word that is a piece as a whole is emitted without merging */
    uint32_t n_patterns;    /* pre-tokenizer regexes, applied in turn to the pieces the previous one produced */
    void *patterns[SNUG_BPE_MAX_PATTERNS];   /* pcre2_code_8 *, allocated by PCRE2 at load */
    void *match_data[SNUG_BPE_MAX_PATTERNS]; /* pcre2_match_data_8 *, created at load and reused by every encode:
                                              * concurrent encodes on one BPE tokenizer must be serialized */
    uint64_t regex_bytes;                    /* what PCRE2 allocated for them (measured) */
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

/* Encodes text as llama.cpp does. add_bos prepends BOS. The text of added (USER_DEFINED) tokens becomes those tokens;
 * parse_special also turns the text of control and unknown tokens ("<s>", "<|im_start|>") into them (off: such text
 * is tokenized as plain text). See tokenizer_special.c for the rules. The dummy-prefix space (add_space_prefix) goes
 * before text that starts the input or follows a special token.
 * Fails with SNUG_E_ARGUMENT if text_bytes exceeds what the scratch was sized for, and SNUG_E_CONTEXT_FULL (with both
 * numbers) if more than `cap` tokens result; then the first `cap` tokens are written and *n_tokens = cap.
 * Never allocates. */
snug_status snug_tokenizer_encode(const snug_tokenizer *tok, const char *text, size_t text_bytes, bool add_bos,
                                  bool parse_special, void *scratch, uint64_t scratch_bytes, int32_t *tokens,
                                  size_t cap, size_t *n_tokens, snug_error *err);

/* Where a text stands in a longer one (snug_tokenizer_encode_parts encodes its parts in turn): whether it starts
 * right after a special token or at the very start (SentencePiece's dummy-prefix space goes there, as in llama.cpp),
 * and whether its leading whitespace belongs to a stripping (RSTRIP) token just before it. Encode updates both for
 * the text that follows. A lone text starts with {true, false}. */
typedef struct snug_encode_state {
    bool after_special;
    bool strip_leading;
} snug_encode_state;

/* snug_tokenizer_encode for a text that continues others (see snug_encode_state). */
snug_status snug_tokenizer_encode_continue(const snug_tokenizer *tok, const char *text, size_t text_bytes, bool add_bos,
                                           bool parse_special, snug_encode_state *state, void *scratch,
                                           uint64_t scratch_bytes, int32_t *tokens, size_t cap, size_t *n_tokens,
                                           snug_error *err);

/* Encodes parts as one text (snug_text_part in snug.h): each part with its own parse_special, add_bos before the
 * first, the dummy-prefix space where the whole text starts and after special tokens, whitespace stripping across
 * part boundaries (snug_encode_state). The scratch must suit the longest part. More than
 * `cap` tokens: SNUG_E_CONTEXT_FULL, the first `cap` written. Never allocates. */
snug_status snug_tokenizer_encode_parts(const snug_tokenizer *tok, const snug_text_part *parts, size_t n_parts,
                                        bool add_bos, void *scratch, uint64_t scratch_bytes, int32_t *tokens,
                                        size_t cap, size_t *n_tokens, snug_error *err);

/* The text of one token as it should be shown after `prev` (-1 at the start of a sequence): control tokens give "",
 * byte tokens their byte, '▁' becomes ' ', and at the start of a sequence (prev == -1 or prev == BOS) the
 * dummy-prefix space is dropped. Unknown tokens give their piece text as is ("<unk>"). Returns the bytes written
 * (truncated to cap; 0 for an id outside the vocabulary). */
size_t snug_tokenizer_piece_text(const snug_tokenizer *tok, int32_t prev, int32_t token, char *out, size_t cap);

/* ---- added and special tokens (tokenizer_special.c), shared by both kinds --------------------------------------- */

/* Flags of a special token (per rank). PLAIN: split out of the text even without parse_special (a USER_DEFINED token
 * whose text is not one llama.cpp treats as a control token); LSTRIP / RSTRIP: whitespace right before / after an
 * occurrence is dropped (llama.cpp's per-model token attributes). */
enum { SNUG_SPECIAL_PLAIN = 1, SNUG_SPECIAL_LSTRIP = 2, SNUG_SPECIAL_RSTRIP = 4 };
/* Buckets of the first-bytes filter: one per byte for one-byte tokens, then 4096 keyed by the first two bytes. */
#define SNUG_SPECIAL_BYTE_BUCKETS 256u
#define SNUG_SPECIAL_PAIR_BUCKETS 4096u
#define SNUG_SPECIAL_BUCKETS      (SNUG_SPECIAL_BYTE_BUCKETS + SNUG_SPECIAL_PAIR_BUCKETS)

/* Sets special_flags, the buckets and special_starts of a tokenizer whose special_ids are sorted (load only). */
snug_status snug_tokenizer_special_fill(snug_tokenizer *tok, const snug_gguf *gguf, snug_error *err);

/* Splits the text at special tokens as llama.cpp's tokenizer_st_partition does: the candidates are every special
 * token with parse_special, else only the PLAIN ones; tried by rank (longest first), each takes its leftmost
 * occurrences not overlapping an earlier one. In claims[0 .. bytes): the first byte of an occurrence gets the token
 * id, its other bytes SNUG_CLAIM_TAIL, whitespace dropped by LSTRIP / RSTRIP SNUG_CLAIM_STRIPPED, the rest
 * SNUG_CLAIM_NONE. Returns false, leaving claims unwritten, when no candidate occurs in the text. */
enum { SNUG_CLAIM_NONE = -1, SNUG_CLAIM_TAIL = -2, SNUG_CLAIM_STRIPPED = -3 };
/* Scratch the split needs for a text of `bytes`: the claims (an int32 a byte, 16-byte aligned) and after them a
 * bitmap of the bytes taken (a bit a byte), so that refusing an occurrence reads 1/32 as much memory. */
static inline uint64_t snug_tokenizer_claim_bytes(uint64_t bytes) {
    return (bytes * sizeof(int32_t) + 15) / 16 * 16 + (bytes + 63) / 64 * sizeof(uint64_t);
}
/* claims must be 16-byte aligned and snug_tokenizer_claim_bytes(bytes) long. */
bool snug_tokenizer_claim_specials(const snug_tokenizer *tok, const char *text, size_t bytes, bool parse_special,
                                   int32_t *claims);
/* How an encoder takes part in snug_tokenizer_encode_split: emit one special token's id, and encode one fragment of
 * plain text (after_special: it follows a special token or starts the input, where SentencePiece puts its dummy
 * prefix). */
typedef struct snug_split_encoder {
    void *encoder;
    void (*emit)(void *encoder, int32_t id);
    snug_status (*fragment)(void *encoder, const char *text, size_t bytes, bool after_special, snug_error *err);
} snug_split_encoder;
/* Encodes a text that may hold special tokens, for both tokenizer kinds: drops the whitespace a stripping token just
 * before it left (state->strip_leading), splits it at special tokens (snug_tokenizer_claim_specials, in `claims`),
 * emits those and hands the text between them to the encoder's fragment; updates state for the text that follows. */
snug_status snug_tokenizer_encode_split(const snug_tokenizer *tok, const char *text, size_t bytes, bool parse_special,
                                        int32_t *claims, snug_encode_state *state, const snug_split_encoder *encoder,
                                        snug_error *err);
/* Whether special token `id` strips the whitespace after it (SNUG_SPECIAL_RSTRIP). */
bool snug_tokenizer_special_rstrips(const snug_tokenizer *tok, int32_t id);
/* C isspace in the "C" locale: what RSTRIP and LSTRIP drop (llama.cpp strips with isspace). */
static inline bool snug_tokenizer_is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Piece id of an exact text, or -1. */
int32_t snug_tokenizer_find(const snug_tokenizer *tok, const char *text, size_t bytes);
/* Piece id of the concatenation of two texts, or -1. */
int32_t snug_tokenizer_find2(const snug_tokenizer *tok, const char *a, size_t a_bytes, const char *b, size_t b_bytes);

/* ---- BPE internals, shared between tokenizer.c (loading) and tokenizer_bpe.c ---------------------------------- */

/* Checks tokenizer.ggml.pre and tokenizer.ggml.merges; returns the merge count and the patterns the pre-tokenizer
 * needs. Unknown pre-tokenizers are SNUG_E_UNSUPPORTED, naming it. */
snug_status snug_tokenizer_bpe_shape(const snug_gguf *gguf, uint32_t *n_merges, uint32_t *n_patterns, snug_error *err);
/* Fills merges (the block already holds merge_slots entries), byte_tokens, and compiles the patterns. */
snug_status snug_tokenizer_bpe_fill(snug_tokenizer *tok, const snug_gguf *gguf, snug_error *err);
/* Frees what PCRE2 allocated (safe on a partially filled tokenizer). */
void snug_tokenizer_bpe_release(snug_tokenizer *tok);
uint64_t snug_tokenizer_bpe_scratch_bytes(const snug_tokenizer *tok, uint64_t max_text_bytes);
snug_status snug_tokenizer_bpe_encode(const snug_tokenizer *tok, const char *text, size_t text_bytes, bool add_bos,
                                      bool parse_special, snug_encode_state *state, void *scratch,
                                      uint64_t scratch_bytes, int32_t *tokens, size_t cap, size_t *n_tokens,
                                      snug_error *err);
size_t snug_tokenizer_bpe_piece_text(const snug_tokenizer *tok, int32_t token, char *out, size_t cap);
/* The pre-tokenizer alone (no special tokens, no merges), for tests: writes the end offset of each word of text, in
 * order, to word_ends (up to cap) and the number of words to *n_words. Allocates nothing. */
snug_status snug_tokenizer_bpe_split(const snug_tokenizer *tok, const char *text, size_t text_bytes, size_t *word_ends,
                                     size_t cap, size_t *n_words, snug_error *err);

#endif
