/* tokenizer_spm.c — text → tokens for SentencePiece-style vocabularies (tokenizer.ggml.model = "llama"), the same
 * algorithm as llama.cpp's SPM tokenizer (llm_tokenizer_spm_session), whose outputs the conformance tests compare to.
 *
 * Steps for one piece of plain text:
 *   1. Escape: when add_space_prefix is set and the piece starts the text, prepend a space (SentencePiece's "dummy
 *      prefix"); every ' ' becomes "▁" (U+2581, E2 96 81).
 *   2. Split into symbols, one per UTF-8 character; a byte that does not start a complete, well-formed sequence is a
 *      symbol of its own (llama.cpp trusts the lead byte instead, so a stray lead byte would swallow the following
 *      ASCII; the two agree on valid UTF-8).
 *   3. Merge: a binary max-heap holds every adjacent pair whose concatenation is a piece of the vocabulary, keyed by
 *      that piece's score (ties: the leftmost pair). Pop the best, skip it if either side changed since it was
 *      queued, merge it in the doubly-linked symbol list and queue the two new neighbouring pairs. O(n log n).
 *      When no piece of the vocabulary has a "▁" after a character other than "▁" (spm_words_apart, true for
 *      every SentencePiece vocabulary we know: pieces do not cross word starts), each word — from one such "▁" to
 *      the next — merges on its own, with the same result: a small heap that stays in cache instead of one the size
 *      of the text (a 4 MB text went from 1.2 to 6.4 MB/s here).
 *   4. Emit each remaining symbol's id; a symbol that is not a piece (only single characters can be: every merge
 *      produces a piece) falls back to the <0xHH> token of each of its bytes, or to the unknown token.
 *
 * Added and special tokens are split out of the text first (tokenizer_special.c, llama.cpp's tokenizer_st_partition):
 * USER_DEFINED tokens always, CONTROL and UNKNOWN ones with parse_special; the text between them is encoded as
 * above, and as in llama.cpp each piece of text that starts the text or follows a special token gets the dummy-prefix
 * space ("<s>hello" is <s>, "▁hello"). Whitespace a token strips (phi-3's RSTRIP) belongs to no piece.
 *
 * Memory: encoding uses only the caller's scratch, laid out by plan_scratch() for the text's size; it never allocates.
 * snug_tokenizer_scratch_bytes(max) bounds every region for any text of up to `max` bytes:
 *   claims   int32 per text byte (only when the vocabulary has special tokens)
 *   escaped  3 bytes per text byte + the prefix (each ' ' grows to 3 bytes)
 *   symbols  one per text byte + the prefix (every symbol holds at least one text byte, or is the prefix)
 *   heap     3 pairs per symbol: at most S - 1 initial pairs plus 2 per merge, and at most S - 1 merges.
 *
 * Callers: the engine's snug_context_tokenize (scratch from the context's plan) and tests.
 */
#include <string.h>

#include "base/error.h"
#include "model/merge_heap.h"
#include "model/tokenizer.h"

/* Longest text encode accepts: escaped offsets (3 bytes per text byte) must fit uint32 and symbol / heap indices
 * int32 with room to spare. A 256 MiB prompt is far beyond any context. */
#define MAX_TEXT_BYTES ((uint64_t)1 << 28)
/* The caller's scratch may start anywhere; regions are aligned to this inside it (>= alignof of every region). */
#define SCRATCH_ALIGN 16u
/* Worst-case growth of the text when escaped: ' ' (1 byte) becomes "▁" (3 bytes). */
#define ESCAPED_BYTES_PER_TEXT_BYTE 3u
/* Heap entries per symbol: see the header comment (S - 1 seeds + 2 per merge × (S - 1) merges < 3 S). */
#define HEAP_PAIRS_PER_SYMBOL 3u

#define SPACE_MARK       "\xE2\x96\x81" /* "▁" U+2581, SentencePiece's escaped space */
#define SPACE_MARK_BYTES 3u

/* One symbol of the escaped text; merged symbols stay in the array with bytes == 0. */
typedef struct spm_symbol {
    int32_t prev, next; /* neighbours in the live list, -1 at the ends */
    uint32_t offset;    /* into the escaped text */
    uint32_t bytes;
} spm_symbol;

/* A queued merge of two adjacent symbols into a vocabulary piece. */
typedef struct spm_pair {
    float score; /* of the merged piece */
    int32_t left, right;
    uint32_t bytes; /* left + right when queued: a different sum now means one side changed, so the pair is stale */
} spm_pair;

typedef struct scratch_layout {
    uint64_t claims, escaped, symbols, heap; /* offsets from the aligned start */
    uint64_t symbol_cap, heap_cap;           /* entries */
    uint64_t total;                          /* bytes, including the slack for aligning the start */
} scratch_layout;

static uint64_t align_up(uint64_t value) { return (value + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN; }

/* Requires text_bytes <= MAX_TEXT_BYTES (no overflow below that). */
static scratch_layout plan_scratch(const snug_tokenizer *tok, uint64_t text_bytes) {
    scratch_layout s;
    /* No tokenizer (a plan made from a header alone): assume the worst case, special tokens present. */
    const uint64_t claim_bytes = (tok == NULL || tok->n_special > 0) ? snug_tokenizer_claim_bytes(text_bytes) : 0;
    s.symbol_cap = text_bytes + 1; /* + the dummy-prefix symbol */
    s.heap_cap = HEAP_PAIRS_PER_SYMBOL * s.symbol_cap;
    s.claims = 0;
    s.escaped = align_up(s.claims + claim_bytes);
    s.symbols = align_up(s.escaped + ESCAPED_BYTES_PER_TEXT_BYTE * (text_bytes + 1));
    s.heap = align_up(s.symbols + s.symbol_cap * sizeof(spm_symbol));
    s.total = align_up(s.heap + s.heap_cap * sizeof(spm_pair)) + (SCRATCH_ALIGN - 1);
    return s;
}

uint64_t snug_tokenizer_scratch_bytes(const snug_tokenizer *tok, uint64_t max_text_bytes) {
    if (max_text_bytes > MAX_TEXT_BYTES) return UINT64_MAX; /* refused by encode anyway; a plan must not fit it */
    if (tok != NULL && tok->kind == SNUG_TOKENIZER_BPE) return snug_tokenizer_bpe_scratch_bytes(tok, max_text_bytes);
    const uint64_t spm = plan_scratch(tok, max_text_bytes).total;
    if (tok != NULL) return spm;
    /* Any vocabulary: a bound for both kinds. */
    const uint64_t bpe = snug_tokenizer_bpe_scratch_bytes(NULL, max_text_bytes);
    return spm > bpe ? spm : bpe;
}

/* The longest text a scratch of this size serves (for error messages). */
static uint64_t text_bytes_for_scratch(const snug_tokenizer *tok, uint64_t scratch_bytes) {
    uint64_t low = 0, high = MAX_TEXT_BYTES; /* scratch_bytes() grows with the text: binary search */
    if (snug_tokenizer_scratch_bytes(tok, 0) > scratch_bytes) return 0;
    while (low < high) {
        uint64_t mid = low + (high - low + 1) / 2;
        if (snug_tokenizer_scratch_bytes(tok, mid) <= scratch_bytes) {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    return low;
}

/* ---- the state of one encode call ----------------------------------------------------------------------------- */

typedef struct spm_encoder {
    const snug_tokenizer *tok;
    int32_t *claims;
    char *escaped;
    spm_symbol *symbols;
    spm_pair *heap;
    uint32_t heap_count, heap_cap;
    int32_t *tokens; /* output: the first `cap` ids; `count` keeps counting past it to report what was needed */
    size_t cap, count;
} spm_encoder;

static void emit(spm_encoder *e, int32_t id) {
    if (e->count < e->cap) e->tokens[e->count] = id;
    e->count++;
}

/* ---- the pair heap (max-heap: higher score first, then the leftmost pair, as llama.cpp's llm_bigram_spm) -------- */

static bool pair_above(const spm_pair *a, const spm_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

SNUG_MERGE_HEAP(spm_pair, pair_above)

/* Queues left+right when their concatenation is a piece. Returns false only if the heap bound was wrong (a bug). */
static bool queue_pair(spm_encoder *e, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    const spm_symbol *l = &e->symbols[left], *r = &e->symbols[right];
    const uint32_t bytes = l->bytes + r->bytes;
    const int32_t id = snug_tokenizer_find(e->tok, e->escaped + l->offset, bytes);
    if (id < 0) return true;
    if (e->heap_count >= e->heap_cap) return false;
    merge_heap_push(e->heap, &e->heap_count, (spm_pair){e->tok->scores[id], left, right, bytes});
    return true;
}

/* ---- one fragment of plain text --------------------------------------------------------------------------------- */

/* Bytes of the UTF-8 character at p (1 for a byte that does not begin a complete, well-formed sequence). */
static uint32_t utf8_symbol_bytes(const uint8_t *p, size_t available) {
    uint32_t n;
    if (p[0] < 0x80) return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        n = 2;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        n = 3;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
    } else {
        return 1; /* a continuation byte, or a lead byte no valid sequence uses (C0, C1, F5..FF) */
    }
    if (available < n) return 1;
    for (uint32_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 1;
    }
    return n;
}

static snug_status emit_symbol(spm_encoder *e, const spm_symbol *sym, snug_error *err) {
    const char *text = e->escaped + sym->offset;
    int32_t id = snug_tokenizer_find(e->tok, text, sym->bytes);
    if (id >= 0) {
        emit(e, id);
        return SNUG_OK;
    }
    for (uint32_t i = 0; i < sym->bytes; i++) {
        const uint8_t byte = (uint8_t)text[i];
        id = e->tok->byte_tokens[byte] >= 0 ? e->tok->byte_tokens[byte] : e->tok->unk;
        if (id < 0) {
            return snug_fail(err, SNUG_E_ARGUMENT,
                             "the text contains byte 0x%02X, which this vocabulary cannot encode: it has no "
                             "<0x%02X> piece and no unknown token",
                             byte, byte);
        }
        emit(e, id);
    }
    return SNUG_OK;
}

/* Merges the symbols of escaped[begin, end) (best score first, ties to the leftmost pair) and emits their ids. */
static snug_status merge_span(spm_encoder *e, size_t begin, size_t end, snug_error *err) {
    int32_t n_symbols = 0;
    for (size_t offset = begin; offset < end; n_symbols++) {
        const uint32_t len = utf8_symbol_bytes((const uint8_t *)e->escaped + offset, end - offset);
        e->symbols[n_symbols] = (spm_symbol){n_symbols - 1, n_symbols + 1, (uint32_t)offset, len};
        offset += len;
    }
    e->symbols[n_symbols - 1].next = -1;

    e->heap_count = 0;
    bool heap_ok = true;
    for (int32_t i = 1; i < n_symbols; i++) heap_ok = heap_ok && queue_pair(e, i - 1, i);
    while (heap_ok && e->heap_count > 0) {
        const spm_pair pair = merge_heap_pop(e->heap, &e->heap_count);
        spm_symbol *left = &e->symbols[pair.left], *right = &e->symbols[pair.right];
        if (left->bytes == 0 || right->bytes == 0 || left->bytes + right->bytes != pair.bytes) continue;
        left->bytes += right->bytes;
        right->bytes = 0;
        left->next = right->next;
        if (right->next >= 0) e->symbols[right->next].prev = pair.left;
        heap_ok = queue_pair(e, left->prev, pair.left) && queue_pair(e, pair.left, left->next);
    }
    if (!heap_ok) {
        return snug_fail(err, SNUG_E_INTERNAL, "tokenizer merge queue overflowed its %u planned entries (%d symbols)",
                         e->heap_cap, n_symbols);
    }

    for (int32_t i = 0; i != -1; i = e->symbols[i].next) {
        snug_status st = emit_symbol(e, &e->symbols[i], err);
        if (st != SNUG_OK) return st;
    }
    return SNUG_OK;
}

static bool space_mark_at(const char *p) { return memcmp(p, SPACE_MARK, SPACE_MARK_BYTES) == 0; }

static snug_status encode_fragment(spm_encoder *e, const char *text, size_t bytes, bool space_prefix, snug_error *err) {
    size_t escaped_bytes = 0;
    if (space_prefix) {
        memcpy(e->escaped, SPACE_MARK, SPACE_MARK_BYTES);
        escaped_bytes = SPACE_MARK_BYTES;
    }
    for (size_t i = 0; i < bytes; i++) {
        if (text[i] == ' ') {
            memcpy(e->escaped + escaped_bytes, SPACE_MARK, SPACE_MARK_BYTES);
            escaped_bytes += SPACE_MARK_BYTES;
        } else {
            e->escaped[escaped_bytes++] = text[i];
        }
    }
    if (escaped_bytes == 0) return SNUG_OK;
    if (!e->tok->spm_words_apart) return merge_span(e, 0, escaped_bytes, err);
    /* No piece joins a "▁" to a character before it other than "▁" (checked at load), so no merge ever crosses
     * such a place: the words between them merge on their own, in a heap of their own size, with the same result
     * as one merge over the whole text (the merges of different words never compete for a symbol). The E2 of a
     * "▁" is never a continuation byte, so every such place is also a symbol boundary. */
    size_t begin = 0;
    for (size_t p = 1; p + SPACE_MARK_BYTES <= escaped_bytes; p++) {
        if (e->escaped[p] != SPACE_MARK[0] || !space_mark_at(e->escaped + p) ||
            (p >= SPACE_MARK_BYTES && space_mark_at(e->escaped + p - SPACE_MARK_BYTES))) {
            continue;
        }
        snug_status st = merge_span(e, begin, p, err);
        if (st != SNUG_OK) return st;
        begin = p;
        p += SPACE_MARK_BYTES - 1;
    }
    return merge_span(e, begin, escaped_bytes, err);
}

/* ---- special tokens ------------------------------------------------------------------------------------------- */

/* The SentencePiece side of snug_tokenizer_encode_split. As in llama.cpp, a piece of text gets the dummy-prefix space
 * when it starts the text or follows a special token. */
static void split_emit(void *encoder, int32_t id) { emit(encoder, id); }

static snug_status split_fragment(void *encoder, const char *text, size_t bytes, bool after_special, snug_error *err) {
    spm_encoder *e = encoder;
    return encode_fragment(e, text, bytes, e->tok->add_space_prefix && after_special, err);
}

static snug_status encode_text(spm_encoder *e, const char *text, size_t bytes, bool parse_special,
                               snug_encode_state *state, snug_error *err) {
    const snug_split_encoder split = {e, split_emit, split_fragment};
    return snug_tokenizer_encode_split(e->tok, text, bytes, parse_special, e->claims, state, &split, err);
}

/* ---- entry point ---------------------------------------------------------------------------------------------- */

snug_status snug_tokenizer_encode(const snug_tokenizer *tok, const char *text, size_t text_bytes, bool add_bos,
                                  bool parse_special, void *scratch, uint64_t scratch_bytes, int32_t *tokens,
                                  size_t cap, size_t *n_tokens, snug_error *err) {
    snug_encode_state state = {true, false};
    return snug_tokenizer_encode_continue(tok, text, text_bytes, add_bos, parse_special, &state, scratch, scratch_bytes,
                                          tokens, cap, n_tokens, err);
}

snug_status snug_tokenizer_encode_continue(const snug_tokenizer *tok, const char *text, size_t text_bytes, bool add_bos,
                                           bool parse_special, snug_encode_state *state, void *scratch,
                                           uint64_t scratch_bytes, int32_t *tokens, size_t cap, size_t *n_tokens,
                                           snug_error *err) {
    if (tok->kind == SNUG_TOKENIZER_BPE) {
        return snug_tokenizer_bpe_encode(tok, text, text_bytes, add_bos, parse_special, state, scratch, scratch_bytes,
                                         tokens, cap, n_tokens, err);
    }
    *n_tokens = 0;
    if ((uint64_t)text_bytes > MAX_TEXT_BYTES) {
        return snug_fail(err, SNUG_E_ARGUMENT, "text of %zu bytes is longer than the tokenizer's limit of %llu bytes",
                         text_bytes, (unsigned long long)MAX_TEXT_BYTES);
    }
    const scratch_layout layout = plan_scratch(tok, text_bytes);
    if (layout.total > scratch_bytes) {
        snug_fail(err, SNUG_E_ARGUMENT,
                  "text of %zu bytes is longer than the %llu bytes the tokenizer scratch was sized for (%llu bytes "
                  "given, %llu needed)",
                  text_bytes, (unsigned long long)text_bytes_for_scratch(tok, scratch_bytes),
                  (unsigned long long)scratch_bytes, (unsigned long long)layout.total);
        snug_hint(err, "raise max_input_bytes of the context to at least %zu", text_bytes);
        return SNUG_E_ARGUMENT;
    }
    uint8_t *base = (uint8_t *)scratch;
    base += (SCRATCH_ALIGN - (uintptr_t)base % SCRATCH_ALIGN) % SCRATCH_ALIGN;
    spm_encoder e = {
        .tok = tok,
        .claims = (int32_t *)(base + layout.claims),
        .escaped = (char *)(base + layout.escaped),
        .symbols = (spm_symbol *)(base + layout.symbols),
        .heap = (spm_pair *)(base + layout.heap),
        .heap_cap = (uint32_t)layout.heap_cap,
        .tokens = tokens,
        .cap = cap,
    };

    if (add_bos && tok->bos >= 0) emit(&e, tok->bos);
    snug_status st = encode_text(&e, text, text_bytes, parse_special, state, err);
    if (st != SNUG_OK) return st;
    if (e.count > cap) {
        *n_tokens = cap;
        snug_fail(err, SNUG_E_CONTEXT_FULL, "the text is %zu tokens, but there is room for only %zu", e.count, cap);
        return SNUG_E_CONTEXT_FULL;
    }
    *n_tokens = e.count;
    return SNUG_OK;
}
