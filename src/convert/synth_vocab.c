/* synth_vocab.c — writing synthetic byte-level BPE vocabularies (see synth_vocab.h).
 *
 * Pieces are built as raw bytes (a hash set keeps them unique) and mapped to GPT-2's byte-level characters only when
 * written, the way a converter writes a tokenizer.json vocabulary into GGUF.
 */
#include "convert/synth_vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "gguf/writer.h"

enum {
    N_BYTES = 256,
    MAX_SPACE_RUN = 16,   /* "  " … 16 spaces: code vocabularies have a piece per indentation width */
    MAX_OTHER_RUN = 4,    /* "\n\n" … 4 newlines, and tabs likewise */
    MAX_PIECE_BYTES = 20, /* random rules stop growing a piece here (real pieces are mostly under 12 bytes) */
    MIN_WORD_BYTES = 4,   /* the whole-word tokens no rule makes: 4 to 12 letters */
    MAX_WORD_BYTES = 12,
    ATOM_PERCENT = 40,       /* a random rule's part is a single character this often, else an earlier piece */
    SPACE_LEFT_PERCENT = 50, /* a random rule's left part starts with a space this often (when one exists) */
    NEW_SPACE_PERCENT = 20,  /* … and is the bare space (making a new " word" piece) this often */
};

/* Characters random rules are made of, with weights: English letter frequencies (per mille, rounded), capitals at a
 * tenth of their letter, then digits, punctuation and the multi-byte characters, rarely. */
static const struct {
    char c;
    unsigned weight;
} LETTERS[] = {
    {'e', 127}, {'t', 91}, {'a', 82}, {'o', 75}, {'i', 70}, {'n', 67}, {'s', 63}, {'h', 61}, {'r', 60},
    {'d', 43},  {'l', 40}, {'c', 28}, {'u', 28}, {'m', 24}, {'w', 24}, {'f', 22}, {'g', 20}, {'y', 20},
    {'p', 19},  {'b', 15}, {'v', 10}, {'k', 8},  {'j', 2},  {'x', 2},  {'q', 1},  {'z', 1},
};
enum { N_LETTERS = sizeof LETTERS / sizeof LETTERS[0] };
static const char PUNCTUATION[] = ".,'\"-():;!?/_=+*<>[]{}#&%$@";
enum { PUNCTUATION_WEIGHT = 3, DIGIT_WEIGHT = 4, MULTIBYTE_WEIGHT = 2 };

/* Multi-byte characters built from their bytes by the first rules: ranges of code points. */
static const struct {
    uint32_t first, count;
} MULTIBYTE_RANGES[] = {
    {0x00C0, 64}, /* À … ÿ */
    {0x03B1, 25}, /* α … ω */
    {0x0430, 32}, /* а … я */
    {0x2013, 2},  /* – — */
    {0x2018, 4},  /* ‘ ’ ‚ ‛ */
    {0x201C, 2},  /* “ ” */
    {0x2026, 1},  /* … */
    {0x4E00, 64}, /* the first CJK unified ideographs */
    {0x1F600, 8}, /* emoji */
};
enum { N_MULTIBYTE_RANGES = sizeof MULTIBYTE_RANGES / sizeof MULTIBYTE_RANGES[0] };

/* FNV-1a 64-bit (the published offset basis and prime), for the piece set. */
#define FNV64_OFFSET_BASIS 14695981039346656037u
#define FNV64_PRIME        1099511628211u

typedef struct piece {
    uint64_t offset; /* into the builder's bytes */
    uint32_t bytes;
} piece;

typedef struct builder {
    char *bytes;
    uint64_t n_bytes, bytes_cap;
    piece *pieces;
    uint32_t n_pieces, pieces_cap;
    uint32_t *set; /* open addressing: piece id + 1, 0 = empty */
    uint32_t set_slots;
    uint32_t *merge_left, *merge_right;
    uint32_t n_merges, merges_cap;
    /* What random rules draw from: single characters (weighted), and earlier random pieces with and without a
     * leading space. */
    uint32_t *atoms, *atom_weights;
    uint32_t n_atoms, atom_weight_total;
    uint32_t *plain, *spaced;
    uint32_t n_plain, n_spaced;
    uint32_t space_id;
    uint64_t rng;
} builder;

static uint64_t next_u64(uint64_t *state) { /* splitmix64 */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t next_below(builder *b, uint32_t n) { return (uint32_t)(next_u64(&b->rng) % n); }

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = FNV64_OFFSET_BASIS;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * FNV64_PRIME;
    return h;
}

/* The id of a piece with these bytes, or -1; *slot gets the slot where it is or would go. */
static int64_t find_piece(const builder *b, const char *p, size_t n, uint32_t *slot) {
    const uint32_t mask = b->set_slots - 1;
    for (uint32_t s = (uint32_t)hash_bytes(p, n) & mask;; s = (s + 1) & mask) {
        if (b->set[s] == 0) {
            *slot = s;
            return -1;
        }
        const piece *q = &b->pieces[b->set[s] - 1];
        if (q->bytes == n && memcmp(b->bytes + q->offset, p, n) == 0) {
            *slot = s;
            return b->set[s] - 1;
        }
    }
}

/* Adds a piece unless it exists; returns its id, or -1 when it existed (*existing gets that id) or memory ran out. */
static int64_t add_piece(builder *b, const char *p, size_t n, bool *oom) {
    uint32_t slot;
    if (find_piece(b, p, n, &slot) >= 0) return -1;
    if (b->n_bytes + n > b->bytes_cap) {
        uint64_t cap = (b->bytes_cap + n) * 2;
        char *grown = realloc(b->bytes, (size_t)cap);
        if (grown == NULL) {
            *oom = true;
            return -1;
        }
        b->bytes = grown;
        b->bytes_cap = cap;
    }
    if (b->n_pieces == b->pieces_cap) {
        uint32_t cap = b->pieces_cap * 2;
        piece *grown = realloc(b->pieces, cap * sizeof *grown);
        if (grown == NULL) {
            *oom = true;
            return -1;
        }
        b->pieces = grown;
        b->pieces_cap = cap;
    }
    memcpy(b->bytes + b->n_bytes, p, n);
    b->pieces[b->n_pieces] = (piece){b->n_bytes, (uint32_t)n};
    b->n_bytes += n;
    b->set[slot] = b->n_pieces + 1;
    return b->n_pieces++;
}

static int64_t piece_id(const builder *b, const char *p, size_t n) {
    uint32_t slot;
    return find_piece(b, p, n, &slot);
}

/* Adds the rule left + right and its result; -1 when the result exists already (no rule is added then). */
static int64_t add_merge(builder *b, uint32_t left, uint32_t right, bool *oom) {
    const piece l = b->pieces[left], r = b->pieces[right];
    char joined[2 * MAX_PIECE_BYTES + 8];
    if (l.bytes + r.bytes > sizeof joined) return -1;
    memcpy(joined, b->bytes + l.offset, l.bytes);
    memcpy(joined + l.bytes, b->bytes + r.offset, r.bytes);
    int64_t id = add_piece(b, joined, l.bytes + r.bytes, oom);
    if (id < 0) return -1;
    b->merge_left[b->n_merges] = left;
    b->merge_right[b->n_merges] = right;
    b->n_merges++;
    return id;
}

static bool add_atom(builder *b, uint32_t id, uint32_t weight) {
    b->atoms[b->n_atoms] = id;
    b->atom_weight_total += weight;
    b->atom_weights[b->n_atoms++] = b->atom_weight_total; /* cumulative */
    return true;
}

static uint32_t draw_atom(builder *b) {
    const uint32_t x = next_below(b, b->atom_weight_total);
    uint32_t low = 0, high = b->n_atoms - 1;
    while (low < high) { /* first cumulative weight above x */
        const uint32_t mid = (low + high) / 2;
        if (b->atom_weights[mid] > x) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    return b->atoms[low];
}

/* An earlier piece, the early (short) ones more often: index n·u² for u uniform in [0, 1). */
static uint32_t draw_skewed(builder *b, const uint32_t *ids, uint32_t n) {
    const double u = (double)(next_u64(&b->rng) >> 11) / (double)(1ull << 53);
    uint32_t i = (uint32_t)(u * u * n);
    return ids[i < n ? i : n - 1];
}

static size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* GPT-2's bytes_to_unicode: '!'..'~', '¡'..'¬', '®'..'ÿ' stand for themselves; the other 68 bytes, in order, become
 * U+0100 + n. */
static uint32_t byte_to_unicode(uint8_t byte) {
    if (byte <= 0x20) return 0x100u + byte;
    if (byte >= 0x7F && byte <= 0xA0) return 0x100u + 33u + (byte - 0x7Fu);
    if (byte == 0xAD) return 0x100u + 67u;
    return byte;
}

/* The piece's bytes as byte-level characters, NUL-terminated (malloc'd), with an optional separator and second
 * piece (for a merge rule "left right"). */
static char *mapped(const builder *b, uint32_t id, const uint32_t *second) {
    const piece p = b->pieces[id];
    const uint32_t more = second ? 1 + b->pieces[*second].bytes : 0;
    char *out = malloc(2 * (size_t)(p.bytes + more) + 1); /* each mapped byte is at most 2 UTF-8 bytes */
    if (out == NULL) return NULL;
    size_t n = 0;
    for (uint32_t i = 0; i < p.bytes; i++) n += utf8_encode(byte_to_unicode((uint8_t)b->bytes[p.offset + i]), out + n);
    if (second) {
        out[n++] = ' ';
        const piece q = b->pieces[*second];
        for (uint32_t i = 0; i < q.bytes; i++)
            n += utf8_encode(byte_to_unicode((uint8_t)b->bytes[q.offset + i]), out + n);
    }
    out[n] = '\0';
    return out;
}

snug_synth_vocab_params snug_synth_vocab_default_params(void) {
    return (snug_synth_vocab_params){.n_merges = 280000, .n_extra = 19744, .n_control = 256, .seed = 3};
}

/* Whitespace runs (15 + 3 + 3), 2-digit (100) and 3-digit (1000) numbers. */
static uint32_t whitespace_and_number_merges(void) {
    return (MAX_SPACE_RUN - 1) + 2 * (MAX_OTHER_RUN - 1) + 100 + 1000;
}

/* The fixed rules: whitespace runs, numbers, multi-byte characters. Returns false when out of memory. */
static bool add_fixed_merges(builder *b, bool *oom) {
    const char runs[] = {' ', '\n', '\t'};
    for (int r = 0; r < 3; r++) {
        const uint32_t one = (uint8_t)runs[r];
        uint32_t last = one;
        const int max = runs[r] == ' ' ? MAX_SPACE_RUN : MAX_OTHER_RUN;
        for (int k = 2; k <= max; k++) {
            const int64_t id = add_merge(b, last, one, oom);
            if (id < 0) return false;
            last = (uint32_t)id;
        }
    }
    for (uint32_t a = 0; a < 10; a++) {
        for (uint32_t c = 0; c < 10; c++) {
            if (add_merge(b, '0' + a, '0' + c, oom) < 0) return false;
        }
    }
    for (uint32_t n = 0; n < 1000; n++) {
        char two[2] = {(char)('0' + n / 100), (char)('0' + n / 10 % 10)};
        const int64_t left = piece_id(b, two, 2);
        if (left < 0 || add_merge(b, (uint32_t)left, '0' + n % 10, oom) < 0) return false;
    }
    for (int r = 0; r < N_MULTIBYTE_RANGES; r++) {
        for (uint32_t cp = MULTIBYTE_RANGES[r].first; cp < MULTIBYTE_RANGES[r].first + MULTIBYTE_RANGES[r].count;
             cp++) {
            char utf8[4];
            const size_t n = utf8_encode(cp, utf8);
            uint32_t prefix = (uint8_t)utf8[0];
            for (size_t k = 1; k < n; k++) {
                const int64_t existing = piece_id(b, utf8, k + 1);
                int64_t id = existing >= 0 ? existing : add_merge(b, prefix, (uint8_t)utf8[k], oom);
                if (id < 0) return false;
                prefix = (uint32_t)id;
            }
            add_atom(b, prefix, MULTIBYTE_WEIGHT);
        }
    }
    return !*oom;
}

/* At most this many fixed rules: the whitespace and number rules, and 3 per multi-byte character (4 bytes). */
static uint32_t fixed_merges_bound(void) {
    uint32_t n = whitespace_and_number_merges();
    for (int r = 0; r < N_MULTIBYTE_RANGES; r++) n += 3 * MULTIBYTE_RANGES[r].count;
    return n;
}

static bool random_merges(builder *b, uint32_t n_merges, bool *oom) {
    while (b->n_merges < n_merges) {
        uint32_t left, right;
        const bool spaced = b->n_spaced > 0 && next_below(b, 100) < SPACE_LEFT_PERCENT;
        if (next_below(b, 100) < NEW_SPACE_PERCENT) {
            left = b->space_id;
        } else if (spaced) {
            left = draw_skewed(b, b->spaced, b->n_spaced);
        } else {
            left = (b->n_plain == 0 || next_below(b, 100) < ATOM_PERCENT) ? draw_atom(b)
                                                                          : draw_skewed(b, b->plain, b->n_plain);
        }
        right = (b->n_plain == 0 || next_below(b, 100) < ATOM_PERCENT) ? draw_atom(b)
                                                                       : draw_skewed(b, b->plain, b->n_plain);
        if (b->pieces[left].bytes + b->pieces[right].bytes > MAX_PIECE_BYTES) continue;
        const int64_t id = add_merge(b, left, right, oom);
        if (*oom) return false;
        if (id < 0) continue;
        if (b->bytes[b->pieces[id].offset] == ' ') {
            b->spaced[b->n_spaced++] = (uint32_t)id;
        } else {
            b->plain[b->n_plain++] = (uint32_t)id;
        }
    }
    return true;
}

static bool extra_words(builder *b, uint32_t n_extra, bool *oom) {
    for (uint32_t added = 0; added < n_extra;) {
        char word[MAX_WORD_BYTES + 1];
        size_t n = 0;
        if (next_below(b, 2)) word[n++] = ' ';
        const size_t letters = MIN_WORD_BYTES + next_below(b, MAX_WORD_BYTES - MIN_WORD_BYTES + 1);
        while (n < letters) {
            uint32_t x = next_below(b, 1000), i = 0;
            while (i + 1 < N_LETTERS && x >= LETTERS[i].weight) x -= LETTERS[i++].weight;
            word[n++] = LETTERS[i].c;
        }
        if (add_piece(b, word, n, oom) >= 0) added++;
        if (*oom) return false;
    }
    return true;
}

static void free_builder(builder *b) {
    free(b->bytes);
    free(b->pieces);
    free(b->set);
    free(b->merge_left);
    free(b->merge_right);
    free(b->atoms);
    free(b->atom_weights);
    free(b->plain);
    free(b->spaced);
}

/* The text of added token `i` (raw text, as converters write added tokens): whitespace runs first, then HTML tags,
 * then DeepSeek-style placeholders "<｜place▁holder▁no▁N｜>". A tag that is also a piece is skipped (*skip). */
static void added_text(const builder *b, uint32_t i, char *out, size_t cap, bool *skip) {
    static const char *const tags[] = {"a",      "b",     "i",      "p",      "ul",    "ol",   "li",      "div",
                                       "span",   "table", "tr",     "td",     "th",    "code", "pre",     "em",
                                       "h1",     "h2",    "h3",     "br",     "img",   "html", "body",    "head",
                                       "title",  "form",  "input",  "button", "label", "nav",  "section", "header",
                                       "footer", "main",  "strong", "small",  "sub",   "sup",  "script",  "style"};
    enum { SPACE_RUNS = 23, TAB_RUNS = 7, INDENT_RUNS = 15, N_TAGS = sizeof tags / sizeof tags[0] };
    *skip = false;
    if (i < SPACE_RUNS) { /* 2 … 24 spaces */
        memset(out, ' ', i + 2);
        out[i + 2] = '\0';
    } else if ((i -= SPACE_RUNS) < TAB_RUNS) { /* 2 … 8 tabs */
        memset(out, '\t', i + 2);
        out[i + 2] = '\0';
    } else if ((i -= TAB_RUNS) < INDENT_RUNS) { /* a newline and 2 … 16 spaces */
        out[0] = '\n';
        memset(out + 1, ' ', i + 2);
        out[i + 3] = '\0';
    } else if ((i -= INDENT_RUNS) < 2 * N_TAGS) {
        snprintf(out, cap, "<%s%s>", i % 2 ? "/" : "", tags[i / 2]);
        uint32_t slot; /* ASCII without spaces is its own byte-level spelling: it must not be a piece already */
        *skip = find_piece(b, out, strlen(out), &slot) >= 0;
    } else {
        snprintf(out, cap, "<\xEF\xBD\x9Cplace\xE2\x96\x81holder\xE2\x96\x81no\xE2\x96\x81%u\xEF\xBD\x9C>",
                 i - 2 * N_TAGS);
    }
}

static snug_status write_file(const builder *b, const snug_synth_vocab_params *p, const char *path, snug_error *err) {
    const uint32_t n_tokens = b->n_pieces + p->n_user + p->n_control;
    const uint32_t first_control = b->n_pieces + p->n_user;
    char **tokens = calloc(n_tokens, sizeof *tokens);
    char **merges = calloc(b->n_merges ? b->n_merges : 1, sizeof *merges);
    int32_t *types = malloc(n_tokens * sizeof *types);
    snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
    bool ok = tokens && merges && types && w;
    for (uint32_t i = 0; ok && i < b->n_pieces; i++) {
        ok = (tokens[i] = mapped(b, i, NULL)) != NULL;
        types[i] = 1; /* NORMAL */
    }
    for (uint32_t i = 0, k = 0; ok && i < p->n_user; k++) {
        char text[96];
        bool skip;
        added_text(b, k, text, sizeof text, &skip);
        if (skip) continue;
        ok = (tokens[b->n_pieces + i] = strdup(text)) != NULL;
        types[b->n_pieces + i] = 4; /* USER_DEFINED */
        i++;
    }
    for (uint32_t i = 0; ok && i < p->n_control; i++) {
        char name[64];
        if (i < 2) {
            snprintf(name, sizeof name, "%s", i == 0 ? "<|begin_of_text|>" : "<|end_of_text|>");
        } else {
            snprintf(name, sizeof name, "<|reserved_special_token_%u|>", i - 2);
        }
        ok = (tokens[first_control + i] = strdup(name)) != NULL;
        types[first_control + i] = 3; /* CONTROL */
    }
    for (uint32_t i = 0; ok && i < b->n_merges; i++)
        ok = (merges[i] = mapped(b, b->merge_left[i], &b->merge_right[i])) != NULL;
    /* llama.cpp loads a vocabulary-only file through its model loader, which wants an architecture and its shape. */
    ok = ok && snug_gguf_writer_string(w, "general.architecture", "llama") &&
         snug_gguf_writer_string(w, "general.name", "synthetic-bpe") &&
         snug_gguf_writer_u32(w, "llama.block_count", 1) && snug_gguf_writer_u32(w, "llama.context_length", 8192) &&
         snug_gguf_writer_u32(w, "llama.embedding_length", 64) &&
         snug_gguf_writer_u32(w, "llama.feed_forward_length", 128) &&
         snug_gguf_writer_u32(w, "llama.attention.head_count", 4) &&
         snug_gguf_writer_u32(w, "llama.attention.head_count_kv", 4) &&
         snug_gguf_writer_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f) &&
         snug_gguf_writer_u32(w, "llama.vocab_size", n_tokens) &&
         snug_gguf_writer_string(w, "tokenizer.ggml.model", "gpt2") &&
         snug_gguf_writer_string(w, "tokenizer.ggml.pre", p->pre ? p->pre : "llama-bpe") &&
         snug_gguf_writer_strings(w, "tokenizer.ggml.tokens", (const char *const *)tokens, n_tokens) &&
         snug_gguf_writer_i32s(w, "tokenizer.ggml.token_type", types, n_tokens) &&
         snug_gguf_writer_strings(w, "tokenizer.ggml.merges", (const char *const *)merges, b->n_merges) &&
         snug_gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", first_control) &&
         snug_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", first_control + 1);
    snug_status st =
        ok ? snug_gguf_writer_write(w, path, false, err)
           : snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory writing a vocabulary of %u tokens", n_tokens);
    for (uint32_t i = 0; tokens && i < n_tokens; i++) free(tokens[i]);
    for (uint32_t i = 0; merges && i < b->n_merges; i++) free(merges[i]);
    free(tokens);
    free(merges);
    free(types);
    snug_gguf_writer_free(w);
    return st;
}

snug_status snug_synth_vocab_write(const char *path, const snug_synth_vocab_params *p, snug_error *err) {
    if (p->n_control < 2) return snug_fail(err, SNUG_E_ARGUMENT, "a synthetic vocabulary needs 2 control tokens");
    const uint32_t merges_cap = p->n_merges + fixed_merges_bound();
    const uint64_t n_pieces = (uint64_t)N_BYTES + merges_cap + p->n_extra;
    if (n_pieces + p->n_user + p->n_control > (1u << 30)) {
        return snug_fail(err, SNUG_E_ARGUMENT, "%llu tokens is more than a vocabulary may have",
                         (unsigned long long)(n_pieces + p->n_user + p->n_control));
    }
    builder b = {.rng = p->seed, .pieces_cap = 1024, .bytes_cap = 4096};
    b.set_slots = 1;
    while (b.set_slots < 2 * n_pieces) b.set_slots <<= 1;
    b.bytes = malloc(b.bytes_cap);
    b.pieces = malloc(b.pieces_cap * sizeof *b.pieces);
    b.set = calloc(b.set_slots, sizeof *b.set);
    b.merge_left = malloc(merges_cap * sizeof *b.merge_left);
    b.merge_right = malloc(merges_cap * sizeof *b.merge_right);
    b.atoms = malloc(1024 * sizeof *b.atoms);
    b.atom_weights = malloc(1024 * sizeof *b.atom_weights);
    b.plain = malloc(merges_cap * sizeof *b.plain);
    b.spaced = malloc(merges_cap * sizeof *b.spaced);
    bool oom = !b.bytes || !b.pieces || !b.set || !b.merge_left || !b.merge_right || !b.atoms || !b.atom_weights ||
               !b.plain || !b.spaced;
    for (int byte = 0; byte < N_BYTES && !oom; byte++) {
        const char c = (char)byte;
        add_piece(&b, &c, 1, &oom);
    }
    b.space_id = ' ';
    for (int i = 0; i < N_LETTERS && !oom; i++) {
        add_atom(&b, (uint8_t)LETTERS[i].c, LETTERS[i].weight);
        add_atom(&b, (uint8_t)(LETTERS[i].c - 'a' + 'A'), (LETTERS[i].weight + 9) / 10);
    }
    for (const char *c = PUNCTUATION; *c && !oom; c++) add_atom(&b, (uint8_t)*c, PUNCTUATION_WEIGHT);
    for (char d = '0'; d <= '9' && !oom; d++) add_atom(&b, (uint8_t)d, DIGIT_WEIGHT);
    snug_status st = SNUG_OK;
    if (oom || !add_fixed_merges(&b, &oom) || !random_merges(&b, p->n_merges, &oom) ||
        !extra_words(&b, p->n_extra, &oom)) {
        st = oom ? snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory building a vocabulary of %llu pieces",
                             (unsigned long long)n_pieces)
                 : snug_fail(err, SNUG_E_INTERNAL, "the fixed merge rules collided (%u built)", b.n_merges);
    }
    if (st == SNUG_OK && b.n_merges != p->n_merges) {
        st =
            snug_fail(err, SNUG_E_ARGUMENT, "a synthetic vocabulary has at least %u merges (the fixed rules); %u asked",
                      b.n_merges, p->n_merges);
    }
    if (st == SNUG_OK) st = write_file(&b, p, path, err);
    free_builder(&b);
    return st;
}
