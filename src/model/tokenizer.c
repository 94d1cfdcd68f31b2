/* tokenizer.c — the vocabulary of a tokenizer (tokenizer.ggml.model = "llama" for SentencePiece, "gpt2" for byte-level
 * BPE): reading and validating it from GGUF metadata, its tables, lookup of a piece by its text, and token → text.
 * Encoding (text → tokens) lives in tokenizer_spm.c and tokenizer_bpe.c; the BPE-only tables (merges, pre-tokenizer
 * regexes) are filled by tokenizer_bpe.c and the special-token flags and buckets by tokenizer_special.c, inside the
 * block planned here. Loading is linear in the vocabulary: every string array element comes from the GGUF reader's
 * string index in O(1), every table is filled in one pass.
 *
 * Invariant: after snug_tokenizer_load succeeds, every table lives in one malloc'd block of exactly
 * snug_tokenizer_table_bytes() bytes, and the tables are consistent: n_vocab in [1, MAX_VOCAB]; every kind is one of
 * NORMAL..BYTE; every BYTE token's text is "<0xHH>"; scores are not NaN; bos/eos/unk are -1 or valid ids; the index
 * maps each distinct piece text to its lowest id. Encode and decode rely on this and re-check nothing.
 *
 * Keys read (as llama.cpp's converter writes them): tokenizer.ggml.model, .tokens (required), .scores (optional, 0),
 * .token_type (optional, NORMAL), .bos_token_id / .eos_token_id / .unknown_token_id (optional, -1),
 * .add_bos_token (default true; false for gpt2), .add_space_prefix (default true; false for gpt2); for gpt2 also
 * .merges and .pre (see tokenizer_bpe.c).
 *
 * Decoding choices (snug_tokenizer_piece_text):
 *   - CONTROL tokens (BOS, EOS, <|end|>, …) print nothing, as llama.cpp does when not asked to render specials.
 *   - UNKNOWN tokens print their piece text unchanged ("<unk>", phi-3's "[PAD32011]"). llama.cpp prints "▅" (older
 *     versions " ⁇ "); the real text is more useful in a log and is never mistaken for model output.
 *   - BYTE tokens print their single byte; NORMAL, USER_DEFINED and UNUSED tokens print their text with every "▁"
 *     turned back into a space, and at the start of a sequence (prev == -1 or BOS) one leading space — the dummy
 *     prefix the encoder added — is dropped when add_space_prefix is set.
 *
 * Callers: the model loader (once per model, after the GGUF reader validated the file) and the engine / CLI through
 * snug_token_to_piece.
 */
#include "model/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "gguf/gguf.h"

#define KEY_MODEL            "tokenizer.ggml.model"
#define KEY_TOKENS           "tokenizer.ggml.tokens"
#define KEY_SCORES           "tokenizer.ggml.scores"
#define KEY_TOKEN_TYPE       "tokenizer.ggml.token_type"
#define KEY_BOS              "tokenizer.ggml.bos_token_id"
#define KEY_EOS              "tokenizer.ggml.eos_token_id"
#define KEY_UNK              "tokenizer.ggml.unknown_token_id"
#define KEY_ADD_BOS          "tokenizer.ggml.add_bos_token"
#define KEY_ADD_SPACE_PREFIX "tokenizer.ggml.add_space_prefix"

/* The tokenizer.ggml.model value of SentencePiece vocabularies (llama.cpp's LLAMA_VOCAB_TYPE_SPM). */
#define SPM_MODEL_NAME "llama"
/* The tokenizer.ggml.model value of byte-level BPE vocabularies (llama.cpp's LLAMA_VOCAB_TYPE_BPE). */
#define BPE_MODEL_NAME "gpt2"
/* The merge hash keeps at least this many slots per merge (load factor <= 1/2, as the piece index). */
#define MERGE_SLOTS_PER_MERGE 2u

/* The index keeps at least this many slots per token: a load factor of at most 1/2 keeps linear probes short. */
#define INDEX_SLOTS_PER_TOKEN 2u
/* Largest vocabulary: its index (a power of two >= 2 * n_vocab slots) must fit the uint32 index_slots, so 2^30
 * tokens (2^31 slots). Real vocabularies are below 2^18. */
#define MAX_VOCAB ((int64_t)1 << 30)
/* Every table in the block starts on this boundary (at least the alignment of any table's element type). */
#define TABLE_ALIGN 16u
/* Error messages quote at most this many bytes of a model name read from the file. */
#define QUOTED_NAME_BYTES 64

/* "<0xHH>": SentencePiece's spelling of byte-fallback pieces (uppercase hex in every vocabulary we know). */
#define BYTE_PIECE_BYTES  6u
#define BYTE_PIECE_FORMAT "<0x%02X>"

/* "▁" (U+2581 LOWER ONE EIGHTH BLOCK): SentencePiece's visible stand-in for a space inside pieces. */
#define SPACE_MARK       "\xE2\x96\x81"
#define SPACE_MARK_BYTES 3u

/* FNV-1a, 64-bit (Fowler, Noll, Vo; the offset basis and prime of the published specification). */
#define FNV64_OFFSET_BASIS 14695981039346656037u
#define FNV64_PRIME        1099511628211u

/* ---- the shape of the vocabulary in the file ----------------------------------------------------------------- */

/* What table_bytes and load both need to know, read once by read_shape. Key indices are -1 when absent. */
typedef struct vocab_shape {
    int64_t tokens_key, scores_key, types_key;
    int32_t n_vocab;
    uint32_t n_special; /* tokens of kind CONTROL, USER_DEFINED or UNKNOWN */
    uint32_t index_slots;
    snug_tokenizer_kind kind;
    uint32_t merge_slots; /* BPE: power of two >= 2 * merges; 0 for SPM */
    uint32_t n_patterns;  /* BPE: pre-tokenizer regexes */
} vocab_shape;

/* Byte offsets of each table inside the block. */
typedef struct table_layout {
    uint64_t pieces, scores, kinds, index, special, special_flags, bucket_start, bucket_ranks, merges, block, total;
} table_layout;

static bool is_special_kind(int64_t kind) {
    return kind == SNUG_TOKEN_CONTROL || kind == SNUG_TOKEN_USER_DEFINED || kind == SNUG_TOKEN_UNKNOWN;
}

static bool is_integer_type(snug_gguf_value_type type) {
    switch (type) {
    case SNUG_GGUF_UINT8:
    case SNUG_GGUF_INT8:
    case SNUG_GGUF_UINT16:
    case SNUG_GGUF_INT16:
    case SNUG_GGUF_UINT32:
    case SNUG_GGUF_INT32:
    case SNUG_GGUF_UINT64:
    case SNUG_GGUF_INT64: return true;
    default: return false;
    }
}

/* Checks that `key`, when present, is an array of `want_count` elements accepted by `type_ok`. */
static snug_status check_parallel_array(const snug_gguf *gguf, const char *key, int64_t key_index,
                                        bool (*type_ok)(snug_gguf_value_type), const char *expected, int32_t want_count,
                                        snug_error *err) {
    snug_gguf_value_type elem_type;
    uint64_t count;
    if (!snug_gguf_kv_get_array(gguf, (uint64_t)key_index, &elem_type, &count)) {
        return snug_fail(err, SNUG_E_FORMAT, "%s has type %s, expected an array of %s", key,
                         snug_gguf_value_type_name(snug_gguf_kv_type(gguf, (uint64_t)key_index)), expected);
    }
    if (!type_ok(elem_type)) {
        return snug_fail(err, SNUG_E_FORMAT, "%s is an array of %s, expected %s", key,
                         snug_gguf_value_type_name(elem_type), expected);
    }
    if (count != (uint64_t)want_count) {
        return snug_fail(err, SNUG_E_FORMAT, "%s has %llu elements but " KEY_TOKENS " has %d: they must match", key,
                         (unsigned long long)count, want_count);
    }
    return SNUG_OK;
}

static bool is_float_type(snug_gguf_value_type type) { return type == SNUG_GGUF_FLOAT32 || type == SNUG_GGUF_FLOAT64; }

/* Validates what every later step depends on: the model name, the token list, and the presence, element types and
 * lengths of the parallel arrays; counts the special tokens (the only per-token pass table_bytes needs). */
static snug_status read_shape(const snug_gguf *gguf, vocab_shape *shape, snug_error *err) {
    memset(shape, 0, sizeof *shape);
    int64_t model_key = snug_gguf_find_key(gguf, KEY_MODEL);
    if (model_key < 0) {
        snug_fail(err, SNUG_E_FORMAT, KEY_MODEL " is missing: the file has no tokenizer");
        snug_hint(err, "convert the model with llama.cpp's convert_hf_to_gguf.py, which writes the vocabulary");
        return SNUG_E_FORMAT;
    }
    const char *model;
    uint64_t model_len;
    if (!snug_gguf_kv_get_string(gguf, (uint64_t)model_key, &model, &model_len)) {
        return snug_fail(err, SNUG_E_FORMAT, KEY_MODEL " has type %s, expected string",
                         snug_gguf_value_type_name(snug_gguf_kv_type(gguf, (uint64_t)model_key)));
    }
    if (model_len == strlen(SPM_MODEL_NAME) && memcmp(model, SPM_MODEL_NAME, model_len) == 0) {
        shape->kind = SNUG_TOKENIZER_SPM;
    } else if (model_len == strlen(BPE_MODEL_NAME) && memcmp(model, BPE_MODEL_NAME, model_len) == 0) {
        shape->kind = SNUG_TOKENIZER_BPE;
    } else {
        int shown = model_len > QUOTED_NAME_BYTES ? QUOTED_NAME_BYTES : (int)model_len;
        snug_fail(err, SNUG_E_UNSUPPORTED,
                  "unsupported tokenizer: " KEY_MODEL " is \"%.*s\"%s; snug supports \"" SPM_MODEL_NAME
                  "\" (SentencePiece) and \"" BPE_MODEL_NAME "\" (byte-level BPE)",
                  shown, model, model_len > QUOTED_NAME_BYTES ? "…" : "");
        snug_hint(err, "use a model with a SentencePiece or GPT-2-style BPE vocabulary");
        return SNUG_E_UNSUPPORTED;
    }
    if (shape->kind == SNUG_TOKENIZER_BPE) {
        uint32_t n_merges = 0;
        snug_status st = snug_tokenizer_bpe_shape(gguf, &n_merges, &shape->n_patterns, err);
        if (st != SNUG_OK) return st;
        uint64_t merge_slots = 1;
        while (merge_slots < MERGE_SLOTS_PER_MERGE * (uint64_t)n_merges) merge_slots <<= 1;
        shape->merge_slots = (uint32_t)merge_slots;
    }

    shape->tokens_key = snug_gguf_find_key(gguf, KEY_TOKENS);
    if (shape->tokens_key < 0) return snug_fail(err, SNUG_E_FORMAT, KEY_TOKENS " is missing: the vocabulary is empty");
    snug_gguf_value_type elem_type;
    uint64_t count;
    if (!snug_gguf_kv_get_array(gguf, (uint64_t)shape->tokens_key, &elem_type, &count)) {
        return snug_fail(err, SNUG_E_FORMAT, KEY_TOKENS " has type %s, expected an array of strings",
                         snug_gguf_value_type_name(snug_gguf_kv_type(gguf, (uint64_t)shape->tokens_key)));
    }
    if (elem_type != SNUG_GGUF_STRING) {
        return snug_fail(err, SNUG_E_FORMAT, KEY_TOKENS " is an array of %s, expected strings",
                         snug_gguf_value_type_name(elem_type));
    }
    if (count < 1 || count > (uint64_t)MAX_VOCAB) {
        return snug_fail(err, SNUG_E_FORMAT, KEY_TOKENS " has %llu tokens; a vocabulary has 1 to %lld",
                         (unsigned long long)count, (long long)MAX_VOCAB);
    }
    shape->n_vocab = (int32_t)count;

    shape->scores_key = snug_gguf_find_key(gguf, KEY_SCORES);
    if (shape->scores_key >= 0) {
        snug_status st =
            check_parallel_array(gguf, KEY_SCORES, shape->scores_key, is_float_type, "floats", shape->n_vocab, err);
        if (st != SNUG_OK) return st;
    }
    shape->types_key = snug_gguf_find_key(gguf, KEY_TOKEN_TYPE);
    if (shape->types_key >= 0) {
        snug_status st = check_parallel_array(gguf, KEY_TOKEN_TYPE, shape->types_key, is_integer_type, "integers",
                                              shape->n_vocab, err);
        if (st != SNUG_OK) return st;
        for (int32_t id = 0; id < shape->n_vocab; id++) {
            int64_t kind = 0;
            if (snug_gguf_kv_array_i64(gguf, (uint64_t)shape->types_key, (uint64_t)id, &kind) &&
                is_special_kind(kind)) {
                shape->n_special++;
            }
        }
    }

    uint32_t slots = 1;
    while ((uint64_t)slots < INDEX_SLOTS_PER_TOKEN * (uint64_t)shape->n_vocab) slots <<= 1;
    shape->index_slots = slots;
    return SNUG_OK;
}

static uint64_t align_up(uint64_t value) { return (value + TABLE_ALIGN - 1) / TABLE_ALIGN * TABLE_ALIGN; }

static table_layout plan_tables(const vocab_shape *shape) {
    const uint64_t n = (uint64_t)shape->n_vocab;
    table_layout t;
    t.pieces = 0;
    t.scores = align_up(t.pieces + n * sizeof(snug_tokenizer_piece));
    t.kinds = align_up(t.scores + n * sizeof(float));
    t.index = align_up(t.kinds + n * sizeof(uint8_t));
    t.special = align_up(t.index + (uint64_t)shape->index_slots * sizeof(snug_tokenizer_slot));
    t.special_flags = align_up(t.special + (uint64_t)shape->n_special * sizeof(int32_t));
    t.bucket_start = align_up(t.special_flags + (uint64_t)shape->n_special * sizeof(uint8_t));
    t.bucket_ranks = align_up(t.bucket_start + (uint64_t)(SNUG_SPECIAL_BUCKETS + 1) * sizeof(uint32_t));
    t.merges = align_up(t.bucket_ranks + (uint64_t)shape->n_special * sizeof(uint32_t));
    t.block = align_up(t.merges + (uint64_t)shape->merge_slots * sizeof(snug_bpe_merge));
    t.total = t.block + shape->n_patterns * SNUG_BPE_REGEX_BYTES_ESTIMATE;
    return t;
}

snug_status snug_tokenizer_table_bytes(const snug_gguf *gguf, uint64_t *out_bytes, snug_error *err) {
    vocab_shape shape;
    snug_status st = read_shape(gguf, &shape, err);
    if (st != SNUG_OK) return st;
    *out_bytes = plan_tables(&shape).total;
    return SNUG_OK;
}

/* ---- the index: piece text → lowest id ----------------------------------------------------------------------- */

static uint32_t fold(uint64_t h) { return (uint32_t)(h ^ (h >> 32)); } /* the masked low bits see every byte */

static uint32_t hash_text(const char *text, size_t bytes) {
    uint64_t h = FNV64_OFFSET_BASIS;
    for (size_t i = 0; i < bytes; i++) {
        h ^= (uint8_t)text[i];
        h *= FNV64_PRIME;
    }
    return fold(h);
}

static bool piece_equals(const snug_tokenizer_piece *piece, const char *text, size_t bytes) {
    return piece->bytes == bytes && (bytes == 0 || memcmp(piece->text, text, bytes) == 0);
}

int32_t snug_tokenizer_find2(const snug_tokenizer *tok, const char *a, size_t a_bytes, const char *b, size_t b_bytes) {
    uint64_t h = FNV64_OFFSET_BASIS; /* the same hash as hash_text over the concatenation */
    for (size_t i = 0; i < a_bytes; i++) h = (h ^ (uint8_t)a[i]) * FNV64_PRIME;
    for (size_t i = 0; i < b_bytes; i++) h = (h ^ (uint8_t)b[i]) * FNV64_PRIME;
    const uint32_t hash = fold(h), mask = tok->index_slots - 1;
    for (uint32_t slot = hash & mask;; slot = (slot + 1) & mask) {
        const snug_tokenizer_slot s = tok->index[slot];
        if (s.id < 0) return -1;
        if (s.hash != hash) continue;
        const snug_tokenizer_piece *p = &tok->pieces[s.id];
        if (p->bytes == a_bytes + b_bytes && (a_bytes == 0 || memcmp(p->text, a, a_bytes) == 0) &&
            (b_bytes == 0 || memcmp(p->text + a_bytes, b, b_bytes) == 0)) {
            return s.id;
        }
    }
}

int32_t snug_tokenizer_find(const snug_tokenizer *tok, const char *text, size_t bytes) {
    const uint32_t hash = hash_text(text, bytes), mask = tok->index_slots - 1;
    for (uint32_t slot = hash & mask;; slot = (slot + 1) & mask) {
        const snug_tokenizer_slot s = tok->index[slot];
        if (s.id < 0) return -1; /* the load factor is <= 1/2, so an empty slot always ends the probe */
        if (s.hash == hash && piece_equals(&tok->pieces[s.id], text, bytes)) return s.id;
    }
}

/* Inserts ids in increasing order; a text already present keeps its lower id (as SentencePiece, which refuses
 * duplicates, would have it; llama.cpp's map lets the last one win, but no vocabulary we know has duplicates). */
static void index_insert(snug_tokenizer *tok, int32_t id) {
    const snug_tokenizer_piece *piece = &tok->pieces[id];
    const uint32_t hash = hash_text(piece->text, piece->bytes), mask = tok->index_slots - 1;
    for (uint32_t slot = hash & mask;; slot = (slot + 1) & mask) {
        const snug_tokenizer_slot s = tok->index[slot];
        if (s.id < 0) {
            tok->index[slot] = (snug_tokenizer_slot){id, hash};
            return;
        }
        if (s.hash == hash && piece_equals(&tok->pieces[s.id], piece->text, piece->bytes)) return;
    }
}

/* ---- loading ------------------------------------------------------------------------------------------------- */

typedef struct piece_visit {
    snug_tokenizer_piece *pieces;
    int64_t too_long_id; /* first token whose text exceeds UINT32_MAX bytes, or -1 */
    uint64_t too_long_bytes;
} piece_visit;

static void visit_piece(void *user, uint64_t elem, const char *str, uint64_t len) {
    piece_visit *v = user;
    if (len > UINT32_MAX) {
        if (v->too_long_id < 0) {
            v->too_long_id = (int64_t)elem;
            v->too_long_bytes = len;
        }
        len = 0;
    }
    v->pieces[elem].text = str;
    v->pieces[elem].bytes = (uint32_t)len;
}

static int hex_digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The byte a "<0xHH>" piece stands for, or -1 when the text is not of that form. */
static int byte_piece_value(const snug_tokenizer_piece *piece) {
    const char *t = piece->text;
    if (piece->bytes != BYTE_PIECE_BYTES || memcmp(t, "<0x", 3) != 0 || t[5] != '>') return -1;
    int high = hex_digit_value(t[3]), low = hex_digit_value(t[4]);
    return (high < 0 || low < 0) ? -1 : high * 16 + low;
}

static snug_status read_kinds(snug_tokenizer *tok, const snug_gguf *gguf, const vocab_shape *shape, snug_error *err) {
    if (shape->types_key < 0) {
        memset(tok->kinds, SNUG_TOKEN_NORMAL, (size_t)tok->n_vocab);
        return SNUG_OK;
    }
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        int64_t kind = 0;
        if (!snug_gguf_kv_array_i64(gguf, (uint64_t)shape->types_key, (uint64_t)id, &kind) ||
            kind < SNUG_TOKEN_NORMAL || kind > SNUG_TOKEN_BYTE) {
            return snug_fail(err, SNUG_E_FORMAT, KEY_TOKEN_TYPE "[%d] is %lld; token types are 1 (normal) to 6 (byte)",
                             id, (long long)kind);
        }
        if (kind == SNUG_TOKEN_BYTE && byte_piece_value(&tok->pieces[id]) < 0) {
            const snug_tokenizer_piece *p = &tok->pieces[id];
            int shown = p->bytes > QUOTED_NAME_BYTES ? QUOTED_NAME_BYTES : (int)p->bytes;
            return snug_fail(err, SNUG_E_FORMAT,
                             "token %d is of type byte (6 in " KEY_TOKEN_TYPE ") but its text \"%.*s\" (%u bytes) "
                             "is not of the form <0xHH>",
                             id, shown, p->text, p->bytes);
        }
        tok->kinds[id] = (uint8_t)kind;
    }
    return SNUG_OK;
}

static snug_status read_scores(snug_tokenizer *tok, const snug_gguf *gguf, const vocab_shape *shape, snug_error *err) {
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        double score = 0.0;
        if (shape->scores_key >= 0 &&
            !snug_gguf_kv_array_f64(gguf, (uint64_t)shape->scores_key, (uint64_t)id, &score)) {
            return snug_fail(err, SNUG_E_INTERNAL, KEY_SCORES "[%d] could not be read after its type was checked", id);
        }
        /* A NaN would make the merge order depend on comparison accidents instead of the vocabulary. */
        if (isnan(score)) return snug_fail(err, SNUG_E_FORMAT, KEY_SCORES "[%d] is NaN", id);
        tok->scores[id] = (float)score;
    }
    return SNUG_OK;
}

/* An optional token id: -1 when absent, else an integer in [0, n_vocab). */
static snug_status read_special_id(const snug_gguf *gguf, const char *key, int32_t n_vocab, int32_t *out,
                                   snug_error *err) {
    *out = -1;
    int64_t key_index = snug_gguf_find_key(gguf, key);
    if (key_index < 0) return SNUG_OK;
    int64_t id;
    if (!snug_gguf_kv_get_i64(gguf, (uint64_t)key_index, &id)) {
        return snug_fail(err, SNUG_E_FORMAT, "%s has type %s, expected an integer token id", key,
                         snug_gguf_value_type_name(snug_gguf_kv_type(gguf, (uint64_t)key_index)));
    }
    if (id < 0 || id >= n_vocab) {
        return snug_fail(err, SNUG_E_FORMAT, "%s is %lld, outside the vocabulary of %d tokens (ids 0 to %d)", key,
                         (long long)id, n_vocab, n_vocab - 1);
    }
    *out = (int32_t)id;
    return SNUG_OK;
}

static snug_status read_flag(const snug_gguf *gguf, const char *key, bool default_value, bool *out, snug_error *err) {
    *out = default_value;
    int64_t key_index = snug_gguf_find_key(gguf, key);
    if (key_index < 0) return SNUG_OK;
    if (!snug_gguf_kv_get_bool(gguf, (uint64_t)key_index, out)) {
        return snug_fail(err, SNUG_E_FORMAT, "%s has type %s, expected bool", key,
                         snug_gguf_value_type_name(snug_gguf_kv_type(gguf, (uint64_t)key_index)));
    }
    return SNUG_OK;
}

/* Whether the piece has a "▁" right after a character other than "▁" (a piece that would cross a word start). */
static bool joins_space_mark_to_word(const snug_tokenizer_piece *piece) {
    const char *t = piece->text;
    for (uint32_t i = 1; i + SPACE_MARK_BYTES <= piece->bytes; i++) {
        if (memcmp(t + i, SPACE_MARK, SPACE_MARK_BYTES) != 0) continue;
        if (i < SPACE_MARK_BYTES || memcmp(t + i - SPACE_MARK_BYTES, SPACE_MARK, SPACE_MARK_BYTES) != 0) return true;
    }
    return false;
}

/* parse_special order: longer text first (so "<|endoftext|>" wins over a shorter token it contains), then lower id. */
static bool special_before(const snug_tokenizer *tok, int32_t a, int32_t b) {
    uint32_t len_a = tok->pieces[a].bytes, len_b = tok->pieces[b].bytes;
    return len_a > len_b || (len_a == len_b && a < b);
}

static void special_sift_down(const snug_tokenizer *tok, int32_t *ids, uint32_t count, uint32_t root) {
    for (;;) {
        uint32_t child = 2 * root + 1;
        if (child >= count) return;
        if (child + 1 < count && special_before(tok, ids[child], ids[child + 1])) child++;
        if (!special_before(tok, ids[root], ids[child])) return;
        int32_t t = ids[root];
        ids[root] = ids[child];
        ids[child] = t;
        root = child;
    }
}

/* Heap sort (O(n log n), no allocation, no comparison context needed from qsort). */
static void sort_specials(const snug_tokenizer *tok, int32_t *ids, uint32_t count) {
    for (uint32_t i = count / 2; i-- > 0;) special_sift_down(tok, ids, count, i);
    for (uint32_t end = count; end > 1; end--) {
        int32_t t = ids[0];
        ids[0] = ids[end - 1];
        ids[end - 1] = t;
        special_sift_down(tok, ids, end - 1, 0);
    }
}

/* Fills every table of an allocated tokenizer from the file. */
static snug_status fill_tables(snug_tokenizer *tok, const snug_gguf *gguf, const vocab_shape *shape, snug_error *err) {
    piece_visit visit = {tok->pieces, -1, 0};
    if (!snug_gguf_kv_array_strings(gguf, (uint64_t)shape->tokens_key, visit_piece, &visit)) {
        return snug_fail(err, SNUG_E_INTERNAL, KEY_TOKENS " could not be walked after its type was checked");
    }
    if (visit.too_long_id >= 0) {
        return snug_fail(err, SNUG_E_FORMAT, KEY_TOKENS "[%lld] is %llu bytes long; a piece has at most %u",
                         (long long)visit.too_long_id, (unsigned long long)visit.too_long_bytes, UINT32_MAX);
    }
    snug_status st = read_kinds(tok, gguf, shape, err);
    if (st == SNUG_OK) st = read_scores(tok, gguf, shape, err);
    if (st != SNUG_OK) return st;

    for (uint32_t slot = 0; slot < tok->index_slots; slot++) tok->index[slot] = (snug_tokenizer_slot){-1, 0};
    for (int32_t id = 0; id < tok->n_vocab; id++) index_insert(tok, id);

    tok->spm_words_apart = tok->kind == SNUG_TOKENIZER_SPM;
    for (int32_t id = 0; id < tok->n_vocab && tok->spm_words_apart; id++) {
        tok->spm_words_apart = !joins_space_mark_to_word(&tok->pieces[id]);
    }
    for (int byte = 0; byte < 256 && tok->kind == SNUG_TOKENIZER_SPM; byte++) {
        char text[BYTE_PIECE_BYTES + 1];
        snprintf(text, sizeof text, BYTE_PIECE_FORMAT, byte);
        tok->byte_tokens[byte] = snug_tokenizer_find(tok, text, BYTE_PIECE_BYTES);
    }

    uint32_t n_special = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        if (is_special_kind(tok->kinds[id])) tok->special_ids[n_special++] = id;
    }
    if (n_special != tok->n_special) {
        return snug_fail(err, SNUG_E_INTERNAL, "counted %u special tokens, planned %u", n_special, tok->n_special);
    }
    sort_specials(tok, tok->special_ids, n_special);
    st = snug_tokenizer_special_fill(tok, gguf, err);
    if (st != SNUG_OK) return st;

    st = read_special_id(gguf, KEY_BOS, tok->n_vocab, &tok->bos, err);
    if (st == SNUG_OK) st = read_special_id(gguf, KEY_EOS, tok->n_vocab, &tok->eos, err);
    if (st == SNUG_OK) st = read_special_id(gguf, KEY_UNK, tok->n_vocab, &tok->unk, err);
    /* Both default to true for SentencePiece vocabularies and false for BPE ones, as in llama.cpp. */
    const bool spm = tok->kind == SNUG_TOKENIZER_SPM;
    if (st == SNUG_OK) st = read_flag(gguf, KEY_ADD_BOS, spm, &tok->add_bos, err);
    if (st == SNUG_OK) st = read_flag(gguf, KEY_ADD_SPACE_PREFIX, spm, &tok->add_space_prefix, err);
    if (st == SNUG_OK && !spm) st = snug_tokenizer_bpe_fill(tok, gguf, err);
    return st;
}

/* A table inside the block (plan_tables aligned every offset to TABLE_ALIGN, enough for any element type). */
static void *table_at(uint8_t *block, uint64_t offset) { return block + offset; }

snug_status snug_tokenizer_load(snug_tokenizer *tok, const snug_gguf *gguf, snug_error *err) {
    memset(tok, 0, sizeof *tok);
    tok->bos = tok->eos = tok->unk = -1;
    vocab_shape shape;
    snug_status st = read_shape(gguf, &shape, err);
    if (st != SNUG_OK) return st;
    const table_layout layout = plan_tables(&shape);
    if (layout.block > SIZE_MAX) {
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY,
                         "tokenizer tables need %llu bytes, more than this machine can address",
                         (unsigned long long)layout.total);
    }
    uint8_t *block = malloc((size_t)layout.block);
    if (block == NULL) {
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY,
                         "could not allocate %llu bytes for the tokenizer tables (%d tokens)",
                         (unsigned long long)layout.total, shape.n_vocab);
    }
    tok->kind = shape.kind;
    tok->n_vocab = shape.n_vocab;
    tok->table_block = block;
    tok->table_bytes = layout.total;
    tok->pieces = table_at(block, layout.pieces);
    tok->scores = table_at(block, layout.scores);
    tok->kinds = table_at(block, layout.kinds);
    tok->index = table_at(block, layout.index);
    tok->index_slots = shape.index_slots;
    tok->special_ids = table_at(block, layout.special);
    tok->n_special = shape.n_special;
    tok->special_flags = table_at(block, layout.special_flags);
    tok->special_bucket_start = table_at(block, layout.bucket_start);
    tok->special_bucket_ranks = table_at(block, layout.bucket_ranks);
    tok->merges = shape.merge_slots > 0 ? table_at(block, layout.merges) : NULL;
    tok->merge_slots = shape.merge_slots;

    st = fill_tables(tok, gguf, &shape, err);
    if (st != SNUG_OK) snug_tokenizer_free(tok);
    return st;
}

void snug_tokenizer_free(snug_tokenizer *tok) {
    if (tok == NULL) return;
    snug_tokenizer_bpe_release(tok);
    free(tok->table_block);
    memset(tok, 0, sizeof *tok);
    tok->bos = tok->eos = tok->unk = -1;
}

/* ---- encoding text assembled from parts ----------------------------------------------------------------------- */

snug_status snug_tokenizer_encode_parts(const snug_tokenizer *tok, const snug_text_part *parts, size_t n_parts,
                                        bool add_bos, void *scratch, uint64_t scratch_bytes, int32_t *tokens,
                                        size_t cap, size_t *n_tokens, snug_error *err) {
    /* One state runs through the parts, so they tokenize as one text would: the dummy-prefix space at the start and
     * after special tokens only, and a stripping token's stripping goes on into the next part. */
    snug_encode_state state = {true, false};
    size_t total = 0;
    *n_tokens = 0;
    for (size_t i = 0; i < n_parts; i++) {
        size_t got = 0;
        snug_status st = snug_tokenizer_encode_continue(tok, parts[i].text, parts[i].bytes, add_bos && i == 0,
                                                        parts[i].parse_special, &state, scratch, scratch_bytes,
                                                        tokens + total, cap - total, &got, err);
        total += got;
        *n_tokens = total;
        if (st == SNUG_E_CONTEXT_FULL) {
            snug_fail(err, SNUG_E_CONTEXT_FULL, "the text is more than %zu tokens (part %zu of %zu overflowed)", cap,
                      i + 1, n_parts);
            return st;
        }
        if (st != SNUG_OK) return st;
    }
    return SNUG_OK;
}

/* ---- decoding ------------------------------------------------------------------------------------------------ */

static size_t copy_truncated(char *out, size_t cap, const char *text, size_t bytes) {
    size_t n = bytes < cap ? bytes : cap;
    if (n > 0) memcpy(out, text, n);
    return n;
}

size_t snug_tokenizer_piece_text(const snug_tokenizer *tok, int32_t prev, int32_t token, char *out, size_t cap) {
    if (token < 0 || token >= tok->n_vocab) return 0;
    if (tok->kind == SNUG_TOKENIZER_BPE) return snug_tokenizer_bpe_piece_text(tok, token, out, cap);
    const snug_tokenizer_piece *piece = &tok->pieces[token];
    switch ((snug_token_kind)tok->kinds[token]) {
    case SNUG_TOKEN_CONTROL: return 0;
    case SNUG_TOKEN_UNKNOWN: return copy_truncated(out, cap, piece->text, piece->bytes);
    case SNUG_TOKEN_BYTE:
        if (cap == 0) return 0;
        out[0] = (char)byte_piece_value(piece); /* validated as <0xHH> at load */
        return 1;
    default: break;
    }
    const bool drop_leading_space = tok->add_space_prefix && (prev == -1 || prev == tok->bos);
    size_t written = 0;
    for (uint32_t i = 0; i < piece->bytes && written < cap;) {
        char c = piece->text[i];
        size_t used = 1;
        if (piece->bytes - i >= SPACE_MARK_BYTES && memcmp(piece->text + i, SPACE_MARK, SPACE_MARK_BYTES) == 0) {
            c = ' ';
            used = SPACE_MARK_BYTES;
        }
        if (!(i == 0 && c == ' ' && drop_leading_space)) out[written++] = c;
        i += (uint32_t)used;
    }
    return written;
}
