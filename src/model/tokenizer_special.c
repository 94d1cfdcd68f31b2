/* tokenizer_special.c — finding added and special tokens in a text before it is tokenized, as llama.cpp does
 * (llama-vocab.cpp: tokenizer_st_partition, and the token attributes its loader sets).
 *
 * The rules, and where they come from:
 *   - Candidates are the tokens of type CONTROL, USER_DEFINED and UNKNOWN (tokenizer.ggml.token_type 3, 4, 2). With
 *     parse_special all of them; without it only USER_DEFINED ones ("added tokens" such as the runs of spaces of
 *     GPT-NeoX-style vocabularies or DeepSeek Coder's extra characters): llama.cpp, like Hugging Face tokenizers,
 *     splits those out of any text.
 *   - Except a USER_DEFINED token whose text llama.cpp's loader recognises as an end-of-generation or fill-in-the-
 *     middle marker ("</s>", "<|im_end|>", "<|endoftext|>", "<｜fim▁begin｜>", …, CONTROL_TEXTS below): it makes such
 *     tokens control tokens, so typed text never produces them. (It also promotes NORMAL tokens with those texts;
 *     snug does not: they stay ordinary pieces.) A fill-in-the-middle text counts only when the file names no token
 *     for that role (tokenizer.ggml.fim_*_token_id), as in llama.cpp, which then takes the first such text.
 *   - Order: longest text first, then lowest id (llama.cpp sorts by length only; equal-length specials that overlap
 *     in a text are the only case where the two could differ). Each token takes every leftmost occurrence that does
 *     not overlap one taken before.
 *   - Whitespace stripping, which GGUF does not record: llama.cpp sets RSTRIP on every special token of a model whose
 *     general.name contains "phi-3" or "phi3" (and on "</s>"), except "<unk>", "<s>" and "<|endoftext|>"; LSTRIP on
 *     "<mask>" when tokenizer.ggml.pre contains jina-v2-de / -es / -code or general.architecture nomic-bert-moe /
 *     jina-bert-v3, and on "[MASK]" when general.name contains "modern-bert". RSTRIP drops the whitespace (C isspace)
 *     after an occurrence, LSTRIP the whitespace before it, up to the neighbouring special token.
 *   Not replicated: llama.cpp's per-model type changes for gpt-oss (<|channel|> and friends become USER_DEFINED),
 *   o200k_harmony (<|end|>) and gemma4 (</s>).
 *
 * Speed: llama.cpp searches the whole text once per special token. Here one pass over the text first finds which
 * candidates occur at all: a 256-entry table says whether any candidate starts with a byte, and buckets keyed by the
 * first one or two bytes list the candidates to compare there, each compared until it is first found. Only the
 * candidates found are then searched for in rank order, as before, so the result is the same and a text with none
 * of them costs one quick pass (vocabularies have hundreds of specials, DeepSeek's and Gemma's thousands).
 *
 * Memory: the flags (a byte a special) and the buckets live in the tokenizer's table block; a bitset of the
 * candidates seen (up to MAX_FILTERED_SPECIALS) lives on the stack during one call; the claims and a bitmap of the
 * bytes taken are the caller's scratch (snug_tokenizer_claim_bytes). Nothing is allocated.
 */
#include <string.h>

#include "base/error.h"
#include "gguf/gguf.h"
#include "model/tokenizer.h"

/* Specials the first pass tracks with its stack bitset (8 KiB); a vocabulary with more skips the filter and searches
 * for every candidate, as llama.cpp does. */
#define MAX_FILTERED_SPECIALS (1u << 16)
#define STARTS_ANY            1u
#define STARTS_PLAIN          2u

/* Texts llama.cpp's loader makes control tokens whatever their type in the file: its end-of-generation list. */
static const char *const CONTROL_TEXTS[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", /* <｜end▁of▁sentence｜> (DeepSeek) */
    "[e~[",
};

/* Fill-in-the-middle markers, by role: a control token only when the file names no token for the role. */
typedef struct fim_role {
    const char *keys[2]; /* tokenizer.ggml.fim_*_token_id and its deprecated name, NULL if none */
    const char *texts[9];
} fim_role;

static const fim_role FIM_ROLES[] = {
    {{"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"},
     {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
      "<\xEF\xBD\x9C"
      "fim\xE2\x96\x81"
      "begin\xEF\xBD\x9C>",
      "<PRE>", "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL}},
    {{"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"},
     {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
      "<\xEF\xBD\x9C"
      "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
      "<SUF>", "\xE2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL}},
    {{"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"},
     {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
      "<\xEF\xBD\x9C"
      "fim\xE2\x96\x81"
      "end\xEF\xBD\x9C>",
      "<MID>", "\xE2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL}},
    {{"tokenizer.ggml.fim_pad_token_id", NULL}, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL}},
    {{"tokenizer.ggml.fim_rep_token_id", NULL},
     {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL}},
    {{"tokenizer.ggml.fim_sep_token_id", NULL}, {"<|file_sep|>", NULL}},
};

static bool text_is(const snug_tokenizer_piece *piece, const char *text) {
    const size_t n = strlen(text);
    return piece->bytes == n && memcmp(piece->text, text, n) == 0;
}

enum { N_FIM_ROLES = sizeof FIM_ROLES / sizeof FIM_ROLES[0] };

/* named[r]: the file names a token for fill-in-the-middle role r (then its texts are no control texts). */
static void fim_roles_named(const snug_gguf *gguf, bool named[N_FIM_ROLES]) {
    for (size_t r = 0; r < N_FIM_ROLES; r++) {
        named[r] = false;
        for (int k = 0; k < 2 && FIM_ROLES[r].keys[k]; k++) {
            named[r] = named[r] || snug_gguf_find_key(gguf, FIM_ROLES[r].keys[k]) >= 0;
        }
    }
}

static bool is_control_text(const snug_tokenizer_piece *piece, const bool fim_named[N_FIM_ROLES]) {
    for (size_t i = 0; i < sizeof CONTROL_TEXTS / sizeof CONTROL_TEXTS[0]; i++) {
        if (text_is(piece, CONTROL_TEXTS[i])) return true;
    }
    for (size_t r = 0; r < N_FIM_ROLES; r++) {
        if (fim_named[r]) continue;
        for (int t = 0; FIM_ROLES[r].texts[t]; t++) {
            if (text_is(piece, FIM_ROLES[r].texts[t])) return true;
        }
    }
    return false;
}

/* Whether the string value of `key` contains `needle`, compared in lowercase when `fold` (llama.cpp lowercases
 * general.name before looking for model names in it). */
static bool key_contains(const snug_gguf *gguf, const char *key, const char *needle, bool fold) {
    const int64_t k = snug_gguf_find_key(gguf, key);
    const char *value;
    uint64_t len;
    if (k < 0 || !snug_gguf_kv_get_string(gguf, (uint64_t)k, &value, &len)) return false;
    const size_t n = strlen(needle);
    for (uint64_t i = 0; i + n <= len; i++) {
        size_t j = 0;
        while (j < n) {
            char c = value[i + j];
            if (fold && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (c != needle[j]) break;
            j++;
        }
        if (j == n) return true;
    }
    return false;
}

/* Sets or clears `flag` on the special token with this exact text, if there is one. */
static void set_flag_by_text(snug_tokenizer *tok, const char *text, uint8_t flag, bool on) {
    for (uint32_t r = 0; r < tok->n_special; r++) {
        if (!text_is(&tok->pieces[tok->special_ids[r]], text)) continue;
        tok->special_flags[r] = (uint8_t)(on ? tok->special_flags[r] | flag : tok->special_flags[r] & ~flag);
    }
}

/* llama.cpp's per-model whitespace stripping (see the header comment); its first matching rule applies. */
static void strip_rules(snug_tokenizer *tok, const snug_gguf *gguf) {
    static const char *const jina_pre[] = {"jina-v2-de", "jina-v2-es", "jina-v2-code"};
    static const char *const mask_arch[] = {"nomic-bert-moe", "jina-bert-v3"};
    bool mask_lstrip = false;
    for (int i = 0; i < 3; i++)
        mask_lstrip = mask_lstrip || key_contains(gguf, "tokenizer.ggml.pre", jina_pre[i], false);
    for (int i = 0; i < 2; i++) {
        mask_lstrip = mask_lstrip || key_contains(gguf, "general.architecture", mask_arch[i], false);
    }
    if (mask_lstrip) {
        set_flag_by_text(tok, "<mask>", SNUG_SPECIAL_LSTRIP, true);
    } else if (key_contains(gguf, "general.name", "phi-3", true) || key_contains(gguf, "general.name", "phi3", true)) {
        for (uint32_t r = 0; r < tok->n_special; r++) tok->special_flags[r] |= SNUG_SPECIAL_RSTRIP;
        static const char *const kept[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (int i = 0; i < 3; i++) set_flag_by_text(tok, kept[i], SNUG_SPECIAL_RSTRIP, false);
    } else if (key_contains(gguf, "general.name", "modern-bert", true)) {
        set_flag_by_text(tok, "[MASK]", SNUG_SPECIAL_LSTRIP, true);
    }
}

/* The bucket of a special whose text starts with these bytes (second < 0: a one-byte text). */
static uint32_t bucket_of(uint8_t first, int second) {
    if (second < 0) return first;
    return SNUG_SPECIAL_BYTE_BUCKETS + (((uint32_t)first << 4 ^ (uint32_t)second) & (SNUG_SPECIAL_PAIR_BUCKETS - 1));
}

snug_status snug_tokenizer_special_fill(snug_tokenizer *tok, const snug_gguf *gguf, snug_error *err) {
    (void)err; /* nothing here can fail today; the status keeps the loader's shape */
    memset(tok->special_starts, 0, sizeof tok->special_starts);
    tok->n_plain_special = 0;
    bool fim_named[N_FIM_ROLES];
    fim_roles_named(gguf, fim_named);
    for (uint32_t r = 0; r < tok->n_special; r++) {
        const int32_t id = tok->special_ids[r];
        const bool plain = tok->kinds[id] == SNUG_TOKEN_USER_DEFINED && !is_control_text(&tok->pieces[id], fim_named);
        tok->special_flags[r] = plain ? SNUG_SPECIAL_PLAIN : 0;
    }
    strip_rules(tok, gguf);

    /* Counting sort of the ranks into buckets: counts, then starts, then placement in rank order. */
    uint32_t *start = tok->special_bucket_start;
    memset(start, 0, (SNUG_SPECIAL_BUCKETS + 1) * sizeof *start);
    for (uint32_t r = 0; r < tok->n_special; r++) {
        const snug_tokenizer_piece *p = &tok->pieces[tok->special_ids[r]];
        if (p->bytes == 0) continue; /* an empty text never matches */
        const uint8_t first = (uint8_t)p->text[0];
        start[bucket_of(first, p->bytes > 1 ? (uint8_t)p->text[1] : -1) + 1]++;
        tok->special_starts[first] |= STARTS_ANY;
        if (tok->special_flags[r] & SNUG_SPECIAL_PLAIN) {
            tok->special_starts[first] |= STARTS_PLAIN;
            tok->n_plain_special++;
        }
    }
    for (uint32_t b = 0; b < SNUG_SPECIAL_BUCKETS; b++) start[b + 1] += start[b];
    /* Place each rank at its bucket's cursor (start[b] moves to the bucket's end), then shift the starts back. */
    for (uint32_t r = 0; r < tok->n_special; r++) {
        const snug_tokenizer_piece *p = &tok->pieces[tok->special_ids[r]];
        if (p->bytes == 0) continue;
        tok->special_bucket_ranks[start[bucket_of((uint8_t)p->text[0], p->bytes > 1 ? (uint8_t)p->text[1] : -1)]++] = r;
    }
    for (uint32_t b = SNUG_SPECIAL_BUCKETS; b > 0; b--) start[b] = start[b - 1];
    start[0] = 0;
    return SNUG_OK;
}

static bool is_space(char c) { return snug_tokenizer_is_space(c); }

bool snug_tokenizer_special_rstrips(const snug_tokenizer *tok, int32_t id) {
    for (uint32_t r = 0; r < tok->n_special; r++) {
        if (tok->special_ids[r] == id) return (tok->special_flags[r] & SNUG_SPECIAL_RSTRIP) != 0;
    }
    return false;
}

/* Claims one occurrence of rank r at `at` and strips around it as its flags say; marks every byte it takes. */
static void claim(const snug_tokenizer *tok, uint32_t r, const char *text, size_t bytes, size_t at, int32_t *claims,
                  uint64_t *taken) {
    const int32_t id = tok->special_ids[r];
    const size_t len = tok->pieces[id].bytes;
    claims[at] = id;
    for (size_t k = 1; k < len; k++) claims[at + k] = SNUG_CLAIM_TAIL;
    size_t first = at, end = at + len;
    if (tok->special_flags[r] & SNUG_SPECIAL_RSTRIP) {
        for (; end < bytes && claims[end] == SNUG_CLAIM_NONE && is_space(text[end]); end++) {
            claims[end] = SNUG_CLAIM_STRIPPED;
        }
    }
    if (tok->special_flags[r] & SNUG_SPECIAL_LSTRIP) {
        for (; first > 0 && claims[first - 1] == SNUG_CLAIM_NONE && is_space(text[first - 1]); first--) {
            claims[first - 1] = SNUG_CLAIM_STRIPPED;
        }
    }
    for (size_t i = first; i < end; i++) taken[i / 64] |= (uint64_t)1 << (i % 64);
}

/* The first pass: marks in `seen` the candidates that occur somewhere in the text; returns how many. */
static uint32_t find_candidates(const snug_tokenizer *tok, const char *text, size_t bytes, bool parse_special,
                                uint64_t *seen) {
    const uint8_t want = parse_special ? STARTS_ANY : STARTS_PLAIN;
    const uint32_t n_candidates = parse_special ? tok->n_special : tok->n_plain_special;
    uint32_t n_seen = 0;
    for (size_t i = 0; i < bytes; i++) {
        const uint8_t first = (uint8_t)text[i];
        if (!(tok->special_starts[first] & want)) continue;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && i + 1 >= bytes) break;
            const uint32_t b = bucket_of(first, pass == 0 ? -1 : (uint8_t)text[i + 1]);
            for (uint32_t k = tok->special_bucket_start[b]; k < tok->special_bucket_start[b + 1]; k++) {
                const uint32_t r = tok->special_bucket_ranks[k];
                if (seen[r / 64] >> (r % 64) & 1) continue;
                if (!parse_special && !(tok->special_flags[r] & SNUG_SPECIAL_PLAIN)) continue;
                const snug_tokenizer_piece *p = &tok->pieces[tok->special_ids[r]];
                if (p->bytes > bytes - i || memcmp(text + i, p->text, p->bytes) != 0) continue;
                seen[r / 64] |= (uint64_t)1 << (r % 64);
                if (++n_seen == n_candidates) return n_seen;
            }
        }
    }
    return n_seen;
}

/* A later, shorter token may only take bytes no earlier token took (or stripped); since earlier tokens are at least
 * as long, a span overlapping one of theirs must contain its first or last byte, so checking those two is enough
 * (stripped whitespace borders the token that stripped it, so the same holds for it). */
static bool is_taken(const uint64_t *taken, size_t i) { return taken[i / 64] >> (i % 64) & 1; }

bool snug_tokenizer_claim_specials(const snug_tokenizer *tok, const char *text, size_t bytes, bool parse_special,
                                   int32_t *claims) {
    if ((parse_special ? tok->n_special : tok->n_plain_special) == 0 || bytes == 0) return false;
    uint64_t seen[MAX_FILTERED_SPECIALS / 64];
    const bool filtered = tok->n_special <= MAX_FILTERED_SPECIALS;
    if (filtered) {
        memset(seen, 0, ((size_t)tok->n_special + 63) / 64 * sizeof *seen);
        if (find_candidates(tok, text, bytes, parse_special, seen) == 0) return false;
    }
    uint64_t *taken = (uint64_t *)((uint8_t *)claims + (bytes * sizeof(int32_t) + 15) / 16 * 16);
    for (size_t i = 0; i < bytes; i++) claims[i] = SNUG_CLAIM_NONE;
    memset(taken, 0, (bytes + 63) / 64 * sizeof *taken);
    bool any = false;
    for (uint32_t r = 0; r < tok->n_special; r++) {
        if (filtered ? !(seen[r / 64] >> (r % 64) & 1)
                     : (!parse_special && !(tok->special_flags[r] & SNUG_SPECIAL_PLAIN))) {
            continue;
        }
        const snug_tokenizer_piece *piece = &tok->pieces[tok->special_ids[r]];
        const size_t len = piece->bytes;
        if (len == 0 || len > bytes) continue;
        for (size_t from = 0; from + len <= bytes;) {
            const char *hit = memmem(text + from, bytes - from, piece->text, len);
            if (hit == NULL) break;
            const size_t at = (size_t)(hit - text);
            if (!is_taken(taken, at) && !is_taken(taken, at + len - 1)) {
                claim(tok, r, text, bytes, at, claims, taken);
                any = true;
                from = at + len;
                continue;
            }
            /* Refused: it starts or ends on a taken byte c. By the argument above, every occurrence starting after
             * `at` up to c holds c without holding the first or last byte of c's span, which cannot be, and none may
             * start on a taken byte: the next candidate starts at the first free byte after c. (A search from at + 1,
             * as llama.cpp's walk amounts to, finds the same; in runs of spaces taken by longer runs it would stop at
             * every byte.) */
            from = is_taken(taken, at) ? at : at + len - 1;
            while (from < bytes && is_taken(taken, from)) from++;
        }
    }
    return any;
}

snug_status snug_tokenizer_encode_split(const snug_tokenizer *tok, const char *text, size_t bytes, bool parse_special,
                                        int32_t *claims, snug_encode_state *state, const snug_split_encoder *encoder,
                                        snug_error *err) {
    if (state->strip_leading) {
        while (bytes > 0 && snug_tokenizer_is_space(*text)) {
            text++;
            bytes--;
        }
        if (bytes == 0) return SNUG_OK; /* all of it stripped: the next text continues the stripping */
        state->strip_leading = false;
    }
    if (bytes == 0) return SNUG_OK;
    if (tok->n_special == 0 || !snug_tokenizer_claim_specials(tok, text, bytes, parse_special, claims)) {
        const bool after_special = state->after_special;
        state->after_special = false;
        return encoder->fragment(encoder->encoder, text, bytes, after_special, err);
    }
    int32_t last_token = -1;
    for (size_t i = 0; i < bytes;) {
        const int32_t claim = claims[i];
        if (claim >= 0) {
            encoder->emit(encoder->encoder, claim);
            i += tok->pieces[claim].bytes;
            state->after_special = true;
            last_token = claim;
            continue;
        }
        if (claim != SNUG_CLAIM_NONE) { /* stripped whitespace */
            i++;
            continue;
        }
        size_t end = i;
        while (end < bytes && claims[end] == SNUG_CLAIM_NONE) end++;
        snug_status st = encoder->fragment(encoder->encoder, text + i, end - i, state->after_special, err);
        if (st != SNUG_OK) return st;
        state->after_special = false;
        i = end;
    }
    /* Ending on a token that strips after itself: its stripping goes on into the next text. */
    state->strip_leading = state->after_special && last_token >= 0 && snug_tokenizer_special_rstrips(tok, last_token);
    return SNUG_OK;
}
