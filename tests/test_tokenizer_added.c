/* test_tokenizer_added.c — added (USER_DEFINED) and special tokens split the text before it is tokenized, as in
 * llama.cpp (tokenizer_special.c): one test per rule, on small synthetic vocabularies whose token types say what
 * each token is. Every expected id list is worked out by hand from the rule and the tiny vocabulary (comments show
 * the steps); the SentencePiece ones use no byte tokens, so a character that is no piece becomes <unk> (0).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "model/tokenizer.h"
#include "snug.h"
#include "support/support.h"
#include "support/vocab.h"

#define SP "\xE2\x96\x81" /* "▁", SentencePiece's space */
#define G  "\xC4\xA0"     /* "Ġ", the byte-level character of ' ' */

enum { UNKNOWN = 2, CONTROL = 3, USER = 4 };

/* ---- a SentencePiece vocabulary --------------------------------------------------------------------------------- */

/* Ids: 0 <unk>, 1 <s>, 2 </s>, 3 ▁, 4 a, 5 b, 6 ▁a, 7 ▁b, then the added tokens. "▁a" and "▁b" are the only merges. */
enum { S_UNK, S_BOS, S_EOS, S_SPACE, S_A, S_B, S_SPACE_A, S_SPACE_B, S_TAG, S_IM_END, S_PRE, S_USER_TURN, S_N };
static const char *const SPM_TOKENS[S_N] = {"<unk>", "<s>",  "</s>",  "" SP "",     "a",     "b",
                                            SP "a",  SP "b", "<tag>", "<|im_end|>", "<PRE>", "<|user|>"};
static const float SPM_SCORES[S_N] = {0, 0, 0, 0, 0, 0, -1, -1, 0, 0, 0, 0};

typedef struct vocab_spec {
    const char *model, *pre, *name;
    const char *const *tokens;
    const int32_t *types;
    const float *scores;
    int n_tokens;
    const char *const *merges;
    int n_merges;
    int space_prefix;          /* -1: key absent */
    const char *extra_u32_key; /* written with value 0 when set */
    bool unk_is_0;             /* tokenizer.ggml.unknown_token_id = 0 */
} vocab_spec;

static void load_spec(const char *file, const vocab_spec *s, vocab *v) {
    snug_gguf_writer *w = snug_gguf_writer_create(3, 0);
    cr_assert_not_null(w);
    bool ok = snug_gguf_writer_string(w, "tokenizer.ggml.model", s->model) &&
              (!s->pre || snug_gguf_writer_string(w, "tokenizer.ggml.pre", s->pre)) &&
              (!s->name || snug_gguf_writer_string(w, "general.name", s->name)) &&
              snug_gguf_writer_strings(w, "tokenizer.ggml.tokens", s->tokens, (uint64_t)s->n_tokens) &&
              snug_gguf_writer_i32s(w, "tokenizer.ggml.token_type", s->types, (uint64_t)s->n_tokens) &&
              (!s->scores || snug_gguf_writer_f32s(w, "tokenizer.ggml.scores", s->scores, (uint64_t)s->n_tokens)) &&
              (!s->merges || snug_gguf_writer_strings(w, "tokenizer.ggml.merges", s->merges, (uint64_t)s->n_merges)) &&
              (s->space_prefix < 0 || snug_gguf_writer_bool(w, "tokenizer.ggml.add_space_prefix", s->space_prefix)) &&
              (!s->extra_u32_key || snug_gguf_writer_u32(w, s->extra_u32_key, 0)) &&
              (!s->unk_is_0 || snug_gguf_writer_u32(w, "tokenizer.ggml.unknown_token_id", 0));
    cr_assert(ok);
    const char *path = test_tmp_path(file);
    snug_error err = {0};
    cr_assert_eq(snug_gguf_writer_write(w, path, false, &err), SNUG_OK, "%s", err.message);
    snug_gguf_writer_free(w);
    cr_assert_eq(snug_gguf_open(path, 0, &v->gguf, &err), SNUG_OK, "%s", err.message);
    cr_assert_eq(snug_tokenizer_load(&v->tok, v->gguf, &err), SNUG_OK, "%s: %s", file, err.message);
    uint64_t planned = 0;
    cr_assert_eq(snug_tokenizer_table_bytes(v->gguf, &planned, &err), SNUG_OK);
    cr_expect_eq(planned, v->tok.table_bytes, "the tables are what the plan says");
}

/* The SentencePiece vocabulary with these types for the added tokens (the rest: unk, 2 controls, normals). */
static void load_spm(const char *file, int32_t tag, int32_t im_end, int32_t pre, const char *name, int space_prefix,
                     const char *extra_key, vocab *v) {
    const int32_t types[S_N] = {UNKNOWN, CONTROL, CONTROL, 1, 1, 1, 1, 1, tag, im_end, pre, CONTROL};
    vocab_spec s = {.model = "llama",
                    .name = name,
                    .tokens = SPM_TOKENS,
                    .types = types,
                    .scores = SPM_SCORES,
                    .n_tokens = S_N,
                    .space_prefix = space_prefix,
                    .extra_u32_key = extra_key,
                    .unk_is_0 = true};
    load_spec(file, &s, v);
}

static void expect_encoding(const vocab *v, const char *text, bool parse_special, const int32_t *expected,
                            size_t n_expected) {
    size_t n = 0;
    int32_t *ids = encode_ok(&v->tok, text, strlen(text), false, parse_special, &n);
    bool same = n == n_expected && memcmp(ids, expected, n * sizeof *ids) == 0;
    char got[256] = "", want[256] = "";
    for (size_t i = 0, used = 0; i < n && used < sizeof got - 12; i++)
        used += (size_t)snprintf(got + used, sizeof got - used, " %d", ids[i]);
    for (size_t i = 0, used = 0; i < n_expected && used < sizeof want - 12; i++)
        used += (size_t)snprintf(want + used, sizeof want - used, " %d", expected[i]);
    cr_expect(same, "\"%s\" (parse_special %d): got [%s ], expected [%s ]", printable(text, strlen(text)),
              parse_special, got, want);
    free(ids);
}
#define EXPECT(v, text, special, ...)                                                                                  \
    expect_encoding(v, text, special, (const int32_t[]){__VA_ARGS__},                                                  \
                    sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))

/* Rule 1: a USER_DEFINED token is split out of plain text (parse_special off); the text around it is tokenized
 * apart, and each piece of text that follows a special token gets the dummy-prefix space (llama.cpp's
 * is_prev_special). "a<tag>b": "a" starts the text → "▁a"; <tag>; "b" follows it → "▁b". */
Test(added, user_defined_tokens_split_plain_text) {
    vocab v;
    load_spm("user.gguf", USER, USER, USER, NULL, 1, NULL, &v);
    EXPECT(&v, "a<tag>b", false, S_SPACE_A, S_TAG, S_SPACE_B);
    EXPECT(&v, "<tag><tag>a", false, S_TAG, S_TAG, S_SPACE_A);
    close_vocab(&v);

    /* The control: the same text as a NORMAL token is plain text: "▁a<tag>b" → ▁a, then < t a g > b one by one. */
    load_spm("normal.gguf", 1, USER, USER, NULL, 1, NULL, &v);
    EXPECT(&v, "a<tag>b", false, S_SPACE_A, S_UNK, S_UNK, S_A, S_UNK, S_UNK, S_B);
    close_vocab(&v);
}

/* Rule 2: CONTROL and UNKNOWN tokens are split out only with parse_special. */
Test(added, control_and_unknown_tokens_need_parse_special) {
    vocab v;
    load_spm("control.gguf", USER, USER, USER, NULL, 1, NULL, &v);
    /* "▁a</s>b": ▁a, then < / s > one by one, then b. */
    EXPECT(&v, "a</s>b", false, S_SPACE_A, S_UNK, S_UNK, S_UNK, S_UNK, S_B);
    EXPECT(&v, "a</s>b", true, S_SPACE_A, S_EOS, S_SPACE_B);
    /* "<unk>" (UNKNOWN): "▁<unk>" → ▁, < u n k > — no piece among them but ▁. */
    EXPECT(&v, "<unk>", false, S_SPACE, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK);
    EXPECT(&v, "<unk>", true, S_UNK);
    close_vocab(&v);
}

/* Rule 3: a USER_DEFINED token whose text is an end-of-generation marker ("<|im_end|>") counts as a control token,
 * as llama.cpp's loader makes it one: typed text cannot produce it. */
Test(added, end_of_turn_texts_are_control_tokens_whatever_their_type) {
    vocab v;
    load_spm("im_end.gguf", USER, USER, USER, NULL, 1, NULL, &v);
    /* "▁a<|im_end|>b": ▁a, then the 10 characters of <|im_end|> (none a piece), then b. */
    EXPECT(&v, "a<|im_end|>b", false, S_SPACE_A, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK,
           S_B);
    EXPECT(&v, "a<|im_end|>b", true, S_SPACE_A, S_IM_END, S_SPACE_B);
    close_vocab(&v);
}

/* Rule 4: a fill-in-the-middle marker ("<PRE>") counts as a control token only when the file names no token for
 * its role (tokenizer.ggml.fim_pre_token_id); when it does, a USER_DEFINED "<PRE>" is an added token like any. */
Test(added, fim_texts_are_control_tokens_only_when_the_file_names_none) {
    vocab v;
    load_spm("fim_unnamed.gguf", USER, USER, USER, NULL, 1, NULL, &v);
    EXPECT(&v, "a<PRE>b", false, S_SPACE_A, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK, S_B);
    close_vocab(&v);
    load_spm("fim_named.gguf", USER, USER, USER, NULL, 1, "tokenizer.ggml.fim_pre_token_id", &v);
    EXPECT(&v, "a<PRE>b", false, S_SPACE_A, S_PRE, S_SPACE_B);
    close_vocab(&v);
}

/* Rule 5: without add_space_prefix nothing gets a dummy prefix, after a special token either. */
Test(added, no_dummy_prefix_without_add_space_prefix) {
    vocab v;
    load_spm("no_prefix.gguf", USER, USER, USER, NULL, 0, NULL, &v);
    EXPECT(&v, "a<tag>b", false, S_A, S_TAG, S_B);
    /* " a" has its own space: "▁a". */
    EXPECT(&v, "<tag> a", false, S_TAG, S_SPACE_A);
    close_vocab(&v);
}

/* Rule 6: llama.cpp strips the whitespace after the special tokens of models named phi-3 / phi3 (RSTRIP), except
 * after <unk>, <s> and <|endoftext|>; the text after the stripped whitespace still follows a special token. */
Test(added, phi3_models_strip_whitespace_after_special_tokens) {
    vocab v;
    load_spm("phi3.gguf", USER, USER, USER, "Phi-3 mini", 1, NULL, &v);
    /* "a<tag>  b": "▁a", <tag>, "  " stripped, "b" → "▁b". */
    EXPECT(&v, "a<tag>  b", false, S_SPACE_A, S_TAG, S_SPACE_B);
    EXPECT(&v, "<|user|>\n\tb", true, S_USER_TURN, S_SPACE_B);
    /* <s> keeps the whitespace after it: "  b" → "▁▁▁b" → ▁, ▁, ▁b. */
    EXPECT(&v, "<s>  b", true, S_BOS, S_SPACE, S_SPACE, S_SPACE_B);
    close_vocab(&v);

    /* The control: another model name strips nothing. */
    load_spm("not_phi3.gguf", USER, USER, USER, "llama", 1, NULL, &v);
    EXPECT(&v, "a<tag>  b", false, S_SPACE_A, S_TAG, S_SPACE, S_SPACE, S_SPACE_B);
    close_vocab(&v);
}

/* Rule 7: parts (chat templates: markers parsed, user text not) tokenize as the whole text would: the dummy prefix
 * after a special token that ended the part before, and a stripping token's stripping goes on into the next part. */
Test(added, parts_continue_the_text_across_their_boundaries) {
    vocab v;
    load_spm("parts.gguf", USER, USER, USER, "phi3", 1, NULL, &v);
    const snug_text_part parts[] = {{"<|user|>\n", 9, true}, {"  ", 2, false}, {" b<|user|>", 10, false}};
    /* As one text: <|user|>, then "\n   " stripped, "b" → "▁b", and the typed "<|user|>" stays text. */
    const int32_t expected[] = {S_USER_TURN, S_SPACE_B, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK, S_UNK};
    const uint64_t scratch_bytes = snug_tokenizer_scratch_bytes(&v.tok, 16);
    void *scratch = malloc(scratch_bytes);
    int32_t ids[32];
    size_t n = 0;
    snug_error err = {0};
    cr_assert_eq(snug_tokenizer_encode_parts(&v.tok, parts, 3, false, scratch, scratch_bytes, ids, 32, &n, &err),
                 SNUG_OK, "%s", err.message);
    cr_expect(n == sizeof expected / sizeof expected[0] && memcmp(ids, expected, sizeof expected) == 0,
              "%zu ids, first %d %d", n, ids[0], n > 1 ? ids[1] : -1);
    free(scratch);
    close_vocab(&v);
}

/* ---- a byte-level BPE vocabulary -------------------------------------------------------------------------------- */

/* Ids: 0 a, 1 b, 2 Ġ, 3 Ġa, 4 Ġb, 5 "    " (four spaces, an added token as GPT-NeoX has them), 6 [MASK]. */
enum { B_A, B_B, B_G, B_GA, B_GB, B_SPACES, B_MASK, B_N };
static const char *const BPE_TOKENS[B_N] = {"a", "b", G, G "a", G "b", "    ", "[MASK]"};
static const char *const BPE_MERGES[] = {G " a", G " b"};

static void load_bpe(const char *file, int32_t spaces_type, const char *name, vocab *v) {
    const int32_t types[B_N] = {1, 1, 1, 1, 1, spaces_type, CONTROL};
    vocab_spec s = {.model = "gpt2",
                    .pre = "gpt-2",
                    .name = name,
                    .tokens = BPE_TOKENS,
                    .types = types,
                    .n_tokens = B_N,
                    .merges = BPE_MERGES,
                    .n_merges = 2,
                    .space_prefix = -1};
    load_spec(file, &s, v);
}

/* Rule 1 on BPE: the added run of four spaces is split out before the pre-tokenizer. */
Test(added, bpe_user_defined_tokens_split_plain_text) {
    vocab v;
    load_bpe("bpe_user.gguf", USER, NULL, &v);
    EXPECT(&v, "a    b", false, B_A, B_SPACES, B_B);
    /* Eight spaces: two of them. */
    EXPECT(&v, "a        b", false, B_A, B_SPACES, B_SPACES, B_B);
    close_vocab(&v);

    /* The control: as a NORMAL token, GPT-2's regex splits "a", "   " (\s+(?!\S)) and " b": Ġ Ġ Ġ, then Ġb. */
    load_bpe("bpe_normal.gguf", 1, NULL, &v);
    EXPECT(&v, "a    b", false, B_A, B_G, B_G, B_G, B_GB);
    close_vocab(&v);
}

/* Rule 8: llama.cpp strips the whitespace before "[MASK]" of models named modern-bert (LSTRIP). */
Test(added, modern_bert_strips_whitespace_before_mask) {
    vocab v;
    load_bpe("modern_bert.gguf", 1, "ModernBERT-base (modern-bert)", &v);
    /* "a  [MASK] b": "  " before [MASK] stripped; " b" → Ġb. */
    EXPECT(&v, "a  [MASK] b", true, B_A, B_MASK, B_GB);
    close_vocab(&v);
    load_bpe("other_bert.gguf", 1, "bert", &v);
    /* Nothing stripped: "a", "  " → Ġ Ġ, [MASK], Ġb. */
    EXPECT(&v, "a  [MASK] b", true, B_A, B_G, B_G, B_MASK, B_GB);
    close_vocab(&v);
}

/* ---- the first-bytes filter changes no result ------------------------------------------------------------------- */

/* A reference split written from the rule alone, the way llama.cpp's tokenizer_st_partition walks its fragments:
 * candidates by (length desc, id asc); each takes, within each untouched stretch of text, its leftmost occurrence,
 * then looks again to the right of it. RSTRIP / LSTRIP drop whitespace inside the stretch. */
static void reference_claims(const vocab *v, const char *text, size_t bytes, bool parse_special, int32_t *claims) {
    for (size_t i = 0; i < bytes; i++) claims[i] = SNUG_CLAIM_NONE;
    const snug_tokenizer *tok = &v->tok;
    bool used[64] = {false};
    for (;;) { /* the next candidate in (length desc, id asc) order */
        int32_t best = -1;
        for (int32_t id = 0; id < tok->n_vocab; id++) {
            const int kind = tok->kinds[id];
            const bool special = kind == CONTROL || kind == USER || kind == UNKNOWN;
            if (!special || used[id]) continue;
            if (best < 0 || tok->pieces[id].bytes > tok->pieces[best].bytes) best = id;
        }
        if (best < 0) return;
        used[best] = true;
        uint32_t rank = 0;
        while (tok->special_ids[rank] != best) rank++;
        const uint8_t flags = tok->special_flags[rank];
        if (!parse_special && !(flags & SNUG_SPECIAL_PLAIN)) continue;
        const size_t len = tok->pieces[best].bytes;
        for (size_t start = 0; start < bytes;) { /* each untouched stretch [start, end) */
            if (claims[start] != SNUG_CLAIM_NONE) {
                start++;
                continue;
            }
            size_t end = start;
            while (end < bytes && claims[end] == SNUG_CLAIM_NONE) end++;
            size_t from = start;
            while (from + len <= end) {
                const char *hit = memmem(text + from, end - from, tok->pieces[best].text, len);
                if (!hit) break;
                const size_t at = (size_t)(hit - text);
                claims[at] = best;
                for (size_t k = 1; k < len; k++) claims[at + k] = SNUG_CLAIM_TAIL;
                if (flags & SNUG_SPECIAL_LSTRIP)
                    for (size_t j = at; j > from && snug_tokenizer_is_space(text[j - 1]); j--)
                        claims[j - 1] = SNUG_CLAIM_STRIPPED;
                from = at + len;
                if (flags & SNUG_SPECIAL_RSTRIP)
                    while (from < end && snug_tokenizer_is_space(text[from])) claims[from++] = SNUG_CLAIM_STRIPPED;
            }
            start = end;
        }
    }
}

Test(added, the_first_bytes_filter_finds_what_a_search_per_token_finds) {
    /* Specials that overlap, share first bytes and contain each other; phi3 in the name turns on RSTRIP. */
    static const char *const tokens[] = {"<unk>", "a",  "b",  "c",   " ", "ab", "abc",
                                         "bca",   "c ", "  ", "<x>", "x", "<x", "ca"};
    const int32_t types[] = {UNKNOWN, 1, 1, 1, 1, USER, CONTROL, USER, USER, USER, CONTROL, USER, USER, CONTROL};
    enum { N = sizeof tokens / sizeof tokens[0] };
    const char *names[] = {"plain", "phi3"};
    static const char *const alphabet[] = {"a", "b", "c", " ", "<", ">", "x", "ab", "<x>", "bca"};
    uint64_t rng = 42;
    for (int named = 0; named < 2; named++) {
        vocab v;
        vocab_spec s = {.model = "llama",
                        .name = names[named],
                        .tokens = tokens,
                        .types = types,
                        .n_tokens = N,
                        .space_prefix = 1,
                        .unk_is_0 = true};
        char file[32];
        snprintf(file, sizeof file, "filter_%d.gguf", named);
        load_spec(file, &s, &v);
        for (int trial = 0; trial < 2000; trial++) {
            char text[64];
            size_t bytes = 0;
            rng = rng * 6364136223846793005u + 1442695040888963407u;
            const int pieces = 1 + (int)(rng >> 59);
            for (int k = 0; k < pieces; k++) {
                rng = rng * 6364136223846793005u + 1442695040888963407u;
                const char *p = alphabet[(rng >> 33) % 10];
                memcpy(text + bytes, p, strlen(p));
                bytes += strlen(p);
            }
            for (int special = 0; special < 2; special++) {
                /* The claims and, after them, the bitmap of taken bytes: exactly the size the split asks for. */
                int32_t *got = aligned_alloc(16, (snug_tokenizer_claim_bytes(bytes) + 15) / 16 * 16), want[64];
                cr_assert_not_null(got);
                if (!snug_tokenizer_claim_specials(&v.tok, text, bytes, special, got)) {
                    for (size_t i = 0; i < bytes; i++) got[i] = SNUG_CLAIM_NONE;
                }
                reference_claims(&v, text, bytes, special, want);
                cr_assert(memcmp(got, want, bytes * sizeof *got) == 0, "\"%s\" (%s, parse_special %d) differs",
                          printable(text, bytes), names[named], special);
                free(got);
            }
        }
        close_vocab(&v);
    }
}
