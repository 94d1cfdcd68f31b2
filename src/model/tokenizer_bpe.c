/* tokenizer_bpe.c — byte-level BPE (tokenizer.ggml.model = "gpt2"), the algorithm of llama.cpp's BPE tokenizer
 * (llm_tokenizer_bpe_session), whose outputs the conformance tests compare to.
 *
 * Steps for one fragment of plain text:
 *   1. Pre-tokenize: the pre-tokenizer's regexes (tokenizer.ggml.pre; PCRE2, UTF + UCP, JIT when available) split the
 *      text into words, each regex splitting the pieces of the one before; text no match covers is a word of its own.
 *      PCRE2_MATCH_INVALID_UTF lets invalid UTF-8 through: it never matches, so it ends up in such a gap.
 *   2. Map each byte of a word to its bytes_to_unicode character (GPT-2: printable bytes stand for themselves, the
 *      other 68 become U+0100 + n in byte order); each character is one symbol, already a piece id (byte_tokens).
 *   3. Merge: a binary min-heap holds every adjacent pair that a merge rule joins, keyed by the rule's rank (ties:
 *      the leftmost pair); pop, skip it if either side changed since, merge, queue the two new neighbour pairs.
 *   4. Emit the ids of the remaining symbols. Every merge result is a piece (rules whose parts or result are not
 *      pieces are dropped at load), so no lookup is needed.
 * Added and special tokens are split out first (tokenizer_special.c): USER_DEFINED ones always, CONTROL and UNKNOWN
 * ones with parse_special, as llama.cpp does.
 *
 * Memory: the merge hash lives in the tokenizer's table block. The compiled regexes and their match data are
 * allocated by PCRE2 at load (its malloc, and mmap for JIT code); table_bytes counts SNUG_BPE_REGEX_BYTES_ESTIMATE
 * for each, and load checks the measured size against it. Encode works in the caller's scratch (plan_scratch) and
 * reuses the match data created at load, so it allocates nothing (the interpreter, without JIT, may grow the match
 * data's backtracking frames once, inside PCRE2).
 *
 * Callers: tokenizer.c (loading, decoding) and tokenizer_spm.c's entry points, which dispatch here on kind.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "gguf/gguf.h"
#include "model/merge_heap.h"
#include "model/tokenizer.h"

#define KEY_MERGES "tokenizer.ggml.merges"
#define KEY_PRE    "tokenizer.ggml.pre"

/* The same hard limit as SentencePiece encoding (tokenizer_spm.c): symbol and heap indices fit int32. */
#define MAX_TEXT_BYTES ((uint64_t)1 << 28)
#define SCRATCH_ALIGN  16u
/* Heap entries per symbol: at most S - 1 seeds plus 2 per merge, at most S - 1 merges. */
#define HEAP_PAIRS_PER_SYMBOL 3u
/* A mapped byte is at most 2 UTF-8 bytes (U+0100..U+0143). */
#define MAPPED_BYTES_PER_BYTE 2u
/* Largest merge count: the hash (2 slots per merge) must fit a uint32 slot count. */
#define MAX_MERGES        ((uint64_t)1 << 30)
#define QUOTED_NAME_BYTES 64

/* ---- pre-tokenizers (regexes as in llama.cpp's llama-vocab.cpp) ---------------------------------------------- */

/* Each pre-tokenizer is llama.cpp's list of regexes for its tokenizer.ggml.pre, applied as its unicode_regex_split
 * does: regex k splits every piece regex k-1 produced, each piece on its own (so ^, $ and lookaheads stop at the
 * piece's ends), into its matches and the gaps between them. llama.cpp runs the regexes through hand-written
 * splitters (the GPT-2 and llama3 strings), std::regex over a "collapsed" text where every non-ASCII character
 * stands for its category (for \p{L}, \p{N}, \p{P}: the same classes PCRE2 gives with UCP), or std::wregex over the
 * code points with every non-ASCII White_Space character replaced by U+000B (regexes with literal non-ASCII
 * ranges). Translated to PCRE2:
 *   - non-ASCII literals are written \x{...} (the source stays ASCII; ranges are code point ranges in both);
 *   - the wregex replacement means a White_Space character never matches an explicit range, so the White_Space
 *     characters inside the DeepSeek ranges (U+3000 in U+3000-U+3002; U+1680, U+2000-U+200A, U+2028, U+2029,
 *     U+202F, U+205F, U+3000 in U+0800-U+4E00) are cut out of them;
 *   - $ is ECMAScript's: the end of the piece only (PCRE2_DOLLAR_ENDONLY, set for every pattern);
 *   - the GPT-4o regex is llama.cpp's adaptation of the tokenizer.json one ([^a-z] / [^A-Z] behind a \p{L}
 *     lookahead, since the collapsed text has no case), with its groups made non-capturing.
 * Known difference: PCRE2's \s also matches U+180E, which Unicode 6.3 took out of White_Space. */

/* GPT-2's regex as its tokenizer.json has it; llama.cpp's string lacks the final \s+, which its hand-written
 * splitter adds back. The two split alike here: whitespace \s+(?!\S) cannot take is a gap, and a gap is a word. */
#define GPT2_PATTERN      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define GPT2_WORD_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define LLAMA3_PATTERN                                                                                                 \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "            \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_PATTERN                                                                                                  \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "                 \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define ONE_DIGIT_PATTERN     "\\p{N}"
#define DIGITS_PATTERN        "\\p{N}+"
#define THREE_DIGITS_PATTERN  "[0-9][0-9][0-9]"
#define DEFAULT_PUNCT_PATTERN "[\\p{P}\\$\\+<=>\\^~\\|]+"
#define FALCON_PUNCT_PATTERN  "[\\p{P}\\$\\+<=>\\^~\\|`]+"
#define LINE_BREAK_PATTERN    "[\\r\\n]"
/* DeepSeek's CJK run: U+4E00-U+9FA5, U+0800-U+4E00 (less its White_Space), U+AC00-U+D7FF. */
#define DEEPSEEK_CJK_PATTERN                                                                                           \
    "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{167F}\\x{1681}-\\x{1FFF}\\x{200B}-\\x{2027}\\x{202A}-\\x{202E}"                 \
    "\\x{2030}-\\x{205E}\\x{2060}-\\x{2FFF}\\x{3001}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* deepseek-llm's letters: the cased letters (Lu, Ll, Lt) of the scripts it lists, range for range. */
#define DEEPSEEK_LLM_LETTERS_PATTERN                                                                                   \
    "\\s?["                                                                                                            \
    "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"                    \
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"             \
    "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"                    \
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"                  \
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"                  \
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"                             \
    "\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"                            \
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"                  \
    "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}"                    \
    "\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"                             \
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"                             \
    "\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"                   \
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"                  \
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"                                 \
    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"                             \
    "\\x{1E900}-\\x{1E943}]+"
/* ASCII punctuation and symbols, their fullwidth forms, curly quotes, and 、。 (U+3000 cut out, see above). */
#define DEEPSEEK_LLM_PUNCT_PATTERN                                                                                     \
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3001}-\\x{3002}]+"
#define TRAILING_SPACE_PATTERN "\\s+$"
#define GPT4O_PATTERN                                                                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?(?:(?=[\\p{L}])[^a-z])*(?:(?=[\\p{L}])[^A-Z])+"                                             \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"                                                       \
    "|[^\\r\\n\\p{L}\\p{N}]?(?:(?=[\\p{L}])[^a-z])+(?:(?=[\\p{L}])[^A-Z])*"                                            \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"                                                       \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct pre_tokenizer {
    const char *name;                            /* tokenizer.ggml.pre */
    const char *const *aliases;                  /* other names llama.cpp gives the same regexes and encode flags */
    const char *patterns[SNUG_BPE_MAX_PATTERNS]; /* applied in this order; unused slots NULL */
    bool ignore_merges;
} pre_tokenizer;

/* The aliases differ from their family at most in clean_spaces, which only llama.cpp's detokenize-with-cleanup
 * reads (snug's decoding never cleans spaces); names llama.cpp gives other flags too (jina-v1-en, roberta-bpe:
 * add_sep; dbrx: no ignore_merges) are left out. tokenizer.ggml.pre missing means "default", as in llama.cpp. */
static const pre_tokenizer PRE_TOKENIZERS[] = {
    {"default", NULL, {DEFAULT_PUNCT_PATTERN, GPT2_WORD_PATTERN, DIGITS_PATTERN, THREE_DIGITS_PATTERN}, false},
    {"gpt-2",
     (const char *const[]){"phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "gigachat",
                           "a.x-4.0", "mellum", "modern-bert", "exaone4", "trillion", "granite-docling", NULL},
     {GPT2_PATTERN},
     false},
    {"llama-bpe",
     (const char *const[]){"llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
                           NULL},
     {LLAMA3_PATTERN},
     true},
    {"qwen2",
     (const char *const[]){"deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open",
                           NULL},
     {QWEN2_PATTERN},
     false},
    {"starcoder",
     (const char *const[]){"refact", "smollm", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2", NULL},
     {ONE_DIGIT_PATTERN, GPT2_WORD_PATTERN},
     false},
    {"falcon", NULL, {FALCON_PUNCT_PATTERN, GPT2_WORD_PATTERN, THREE_DIGITS_PATTERN}, false},
    {"deepseek-llm",
     NULL,
     {LINE_BREAK_PATTERN, DEEPSEEK_LLM_LETTERS_PATTERN, DEEPSEEK_LLM_PUNCT_PATTERN, TRAILING_SPACE_PATTERN,
      DEEPSEEK_CJK_PATTERN, DIGITS_PATTERN},
     false},
    {"deepseek-coder",
     NULL,
     {LINE_BREAK_PATTERN, "\\s?\\p{L}+", "\\s?\\p{P}+", DEEPSEEK_CJK_PATTERN, ONE_DIGIT_PATTERN},
     false},
    {"gpt-4o", (const char *const[]){"llama4", "kanana2", "talkie", "minimax-m2", NULL}, {GPT4O_PATTERN}, false},
};
#define N_PRE_TOKENIZERS (sizeof PRE_TOKENIZERS / sizeof PRE_TOKENIZERS[0])

static uint32_t pattern_count(const pre_tokenizer *pre) {
    uint32_t n = 0;
    while (n < SNUG_BPE_MAX_PATTERNS && pre->patterns[n] != NULL) n++;
    return n;
}

static bool name_is(const char *candidate, const char *name, uint64_t len) {
    return strlen(candidate) == len && memcmp(candidate, name, len) == 0;
}

static const pre_tokenizer *pre_tokenizer_named(const char *name, uint64_t len) {
    for (size_t i = 0; i < N_PRE_TOKENIZERS; i++) {
        const pre_tokenizer *pre = &PRE_TOKENIZERS[i];
        if (name_is(pre->name, name, len)) return pre;
        for (const char *const *alias = pre->aliases; alias != NULL && *alias != NULL; alias++) {
            if (name_is(*alias, name, len)) return pre;
        }
    }
    return NULL;
}

static snug_status find_pre_tokenizer(const snug_gguf *gguf, const pre_tokenizer **out, snug_error *err) {
    *out = &PRE_TOKENIZERS[0];
    int64_t key = snug_gguf_find_key(gguf, KEY_PRE);
    if (key < 0) return SNUG_OK; /* missing: llama.cpp's default */
    const char *name;
    uint64_t len;
    if (!snug_gguf_kv_get_string(gguf, (uint64_t)key, &name, &len)) {
        return snug_fail(err, SNUG_E_FORMAT, KEY_PRE " has type %s, expected string",
                         snug_gguf_value_type_name(snug_gguf_kv_type(gguf, (uint64_t)key)));
    }
    *out = pre_tokenizer_named(name, len);
    if (*out != NULL) return SNUG_OK;
    int shown = len > QUOTED_NAME_BYTES ? QUOTED_NAME_BYTES : (int)len;
    snug_fail(err, SNUG_E_UNSUPPORTED, "unsupported pre-tokenizer: " KEY_PRE " is \"%.*s\"%s", shown, name,
              len > QUOTED_NAME_BYTES ? "…" : "");
    char names[SNUG_ERROR_HINT_BYTES];
    size_t used = 0;
    for (size_t i = 0; i < N_PRE_TOKENIZERS && used < sizeof names; i++) {
        const char *separator = i == 0 ? "" : i + 1 == N_PRE_TOKENIZERS ? " and " : ", ";
        int n = snprintf(names + used, sizeof names - used, "%s%s", separator, PRE_TOKENIZERS[i].name);
        if (n > 0) used += (size_t)n;
    }
    snug_hint(err,
              "snug knows the pre-tokenizers %s, and llama.cpp's other names for them (phi-2, mpt, smollm, "
              "refact, llama3, llama4, …)",
              names);
    return SNUG_E_UNSUPPORTED;
}

snug_status snug_tokenizer_bpe_shape(const snug_gguf *gguf, uint32_t *n_merges, uint32_t *n_patterns, snug_error *err) {
    const pre_tokenizer *pre;
    snug_status st = find_pre_tokenizer(gguf, &pre, err);
    if (st != SNUG_OK) return st;
    *n_patterns = pattern_count(pre);
    int64_t key = snug_gguf_find_key(gguf, KEY_MERGES);
    if (key < 0) return snug_fail(err, SNUG_E_FORMAT, KEY_MERGES " is missing: a BPE vocabulary needs its merges");
    snug_gguf_value_type elem_type;
    uint64_t count;
    if (!snug_gguf_kv_get_array(gguf, (uint64_t)key, &elem_type, &count) || elem_type != SNUG_GGUF_STRING) {
        return snug_fail(err, SNUG_E_FORMAT, KEY_MERGES " is not an array of strings");
    }
    if (count > MAX_MERGES) {
        return snug_fail(err, SNUG_E_FORMAT, KEY_MERGES " has %llu merges; at most %llu", (unsigned long long)count,
                         (unsigned long long)MAX_MERGES);
    }
    *n_merges = (uint32_t)count;
    return SNUG_OK;
}

/* ---- bytes_to_unicode ------------------------------------------------------------------------------------------ */

/* Bytes GPT-2 keeps as themselves: '!'..'~', '¡'..'¬', '®'..'ÿ'. The others, in byte order, become U+0100 + n:
 * 0x00..0x20 (n = 0..32), 0x7F..0xA0 (n = 33..66), 0xAD (n = 67). */
#define UNMAPPED_LOW_END  0x20u /* last of 0x00..0x20 */
#define UNMAPPED_MID_LOW  0x7Fu
#define UNMAPPED_MID_HIGH 0xA0u
#define UNMAPPED_SOFT_HY  0xADu
#define MAPPED_BASE       0x100u
#define N_UNMAPPED        68u

static uint32_t byte_to_unicode(uint8_t b) {
    if (b <= UNMAPPED_LOW_END) return MAPPED_BASE + b;
    if (b >= UNMAPPED_MID_LOW && b <= UNMAPPED_MID_HIGH) return MAPPED_BASE + 33u + (b - UNMAPPED_MID_LOW);
    if (b == UNMAPPED_SOFT_HY) return MAPPED_BASE + 67u;
    return b;
}

/* The byte a character stands for, or -1 when it is not one of the 256. */
static int unicode_to_byte(uint32_t cp) {
    if (cp < MAPPED_BASE) return byte_to_unicode((uint8_t)cp) == cp ? (int)cp : -1;
    uint32_t n = cp - MAPPED_BASE;
    if (n >= N_UNMAPPED) return -1;
    if (n <= UNMAPPED_LOW_END) return (int)n;
    if (n < 67u) return (int)(UNMAPPED_MID_LOW + (n - 33u));
    return UNMAPPED_SOFT_HY;
}

/* UTF-8 of a code point below U+0800 (all bytes_to_unicode produces). */
static size_t utf8_encode_small(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* ---- loading -------------------------------------------------------------------------------------------------- */

static uint32_t merge_hash(int32_t left, int32_t right) {
    uint64_t h = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) * 0x9E3779B97F4A7C15u; /* Fibonacci hashing */
    return (uint32_t)(h >> 32);
}

static const snug_bpe_merge *merge_find(const snug_tokenizer *tok, int32_t left, int32_t right) {
    if (tok->merge_slots == 0) return NULL;
    const uint32_t mask = tok->merge_slots - 1;
    for (uint32_t slot = merge_hash(left, right) & mask;; slot = (slot + 1) & mask) {
        const snug_bpe_merge *m = &tok->merges[slot];
        if (m->left < 0) return NULL;
        if (m->left == left && m->right == right) return m;
    }
}

/* Inserts in rank order; a pair already present keeps its lower rank. */
static void merge_insert(snug_tokenizer *tok, snug_bpe_merge merge) {
    const uint32_t mask = tok->merge_slots - 1;
    for (uint32_t slot = merge_hash(merge.left, merge.right) & mask;; slot = (slot + 1) & mask) {
        snug_bpe_merge *m = &tok->merges[slot];
        if (m->left < 0) {
            *m = merge;
            return;
        }
        if (m->left == merge.left && m->right == merge.right) return;
    }
}

static snug_status fill_merges(snug_tokenizer *tok, const snug_gguf *gguf, snug_error *err) {
    for (uint32_t slot = 0; slot < tok->merge_slots; slot++) tok->merges[slot] = (snug_bpe_merge){-1, -1, -1, -1};
    int64_t key = snug_gguf_find_key(gguf, KEY_MERGES);
    snug_gguf_value_type elem_type;
    uint64_t count = 0;
    if (key < 0 || !snug_gguf_kv_get_array(gguf, (uint64_t)key, &elem_type, &count)) {
        return snug_fail(err, SNUG_E_INTERNAL, KEY_MERGES " vanished after it was checked");
    }
    for (uint64_t rank = 0; rank < count; rank++) {
        const char *text;
        uint64_t len;
        if (!snug_gguf_kv_array_string(gguf, (uint64_t)key, rank, &text, &len)) {
            return snug_fail(err, SNUG_E_FORMAT, KEY_MERGES "[%llu] could not be read", (unsigned long long)rank);
        }
        /* "left right": the separator is the first space after the first byte (as llama.cpp: find(' ', 1)). */
        const char *space = len > 1 ? memchr(text + 1, ' ', (size_t)len - 1) : NULL;
        if (space == NULL) {
            return snug_fail(err, SNUG_E_FORMAT, KEY_MERGES "[%llu] has no space between its two parts",
                             (unsigned long long)rank);
        }
        const size_t left_bytes = (size_t)(space - text), right_bytes = (size_t)len - left_bytes - 1;
        const int32_t left = snug_tokenizer_find(tok, text, left_bytes);
        const int32_t right = snug_tokenizer_find(tok, space + 1, right_bytes);
        const int32_t result = snug_tokenizer_find2(tok, text, left_bytes, space + 1, right_bytes);
        /* A rule whose parts or result are not pieces can never apply to symbols that are all pieces. */
        if (left < 0 || right < 0 || result < 0) continue;
        merge_insert(tok, (snug_bpe_merge){left, right, result, (int32_t)rank});
    }
    return SNUG_OK;
}

static snug_status compile_patterns(snug_tokenizer *tok, const pre_tokenizer *pre, snug_error *err) {
    tok->n_patterns = pattern_count(pre);
    tok->ignore_merges = pre->ignore_merges;
    tok->regex_bytes = 0;
    for (uint32_t i = 0; i < tok->n_patterns; i++) {
        int code_error;
        PCRE2_SIZE error_offset;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)pre->patterns[i], PCRE2_ZERO_TERMINATED,
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                                         &code_error, &error_offset, NULL);
        if (code == NULL) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(code_error, message, sizeof message);
            return snug_fail(err, SNUG_E_INTERNAL, "pre-tokenizer %s: regex %u does not compile at offset %zu: %s",
                             pre->name, i, (size_t)error_offset, (const char *)message);
        }
        tok->patterns[i] = code;
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* no JIT on this platform: the interpreter serves */
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
        if (md == NULL) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "could not allocate regex match data");
        tok->match_data[i] = md;
        size_t code_bytes = 0, jit_bytes = 0;
        pcre2_pattern_info(code, PCRE2_INFO_SIZE, &code_bytes);
        if (pcre2_pattern_info(code, PCRE2_INFO_JITSIZE, &jit_bytes) != 0) jit_bytes = 0;
        const uint64_t bytes = code_bytes + jit_bytes + pcre2_get_match_data_size(md);
        if (bytes > SNUG_BPE_REGEX_BYTES_ESTIMATE) {
            return snug_fail(err, SNUG_E_INTERNAL,
                             "pre-tokenizer %s: regex %u takes %llu bytes, more than the %llu planned", pre->name, i,
                             (unsigned long long)bytes, (unsigned long long)SNUG_BPE_REGEX_BYTES_ESTIMATE);
        }
        tok->regex_bytes += bytes;
    }
    return SNUG_OK;
}

snug_status snug_tokenizer_bpe_fill(snug_tokenizer *tok, const snug_gguf *gguf, snug_error *err) {
    for (int byte = 0; byte < 256; byte++) {
        char text[2];
        size_t n = utf8_encode_small(byte_to_unicode((uint8_t)byte), text);
        tok->byte_tokens[byte] = snug_tokenizer_find(tok, text, n);
    }
    snug_status st = fill_merges(tok, gguf, err);
    if (st != SNUG_OK) return st;
    const pre_tokenizer *pre;
    st = find_pre_tokenizer(gguf, &pre, err);
    if (st != SNUG_OK) return st;
    return compile_patterns(tok, pre, err);
}

void snug_tokenizer_bpe_release(snug_tokenizer *tok) {
    for (uint32_t i = 0; i < SNUG_BPE_MAX_PATTERNS; i++) {
        pcre2_match_data_free(tok->match_data[i]);
        pcre2_code_free(tok->patterns[i]);
        tok->match_data[i] = NULL;
        tok->patterns[i] = NULL;
    }
    tok->n_patterns = 0;
}

/* ---- scratch -------------------------------------------------------------------------------------------------- */

typedef struct bpe_symbol {
    int32_t id; /* -1 once merged into its left neighbour */
    int32_t prev, next;
} bpe_symbol;

typedef struct bpe_pair {
    int32_t rank;
    int32_t left, right;       /* symbol indices */
    int32_t left_id, right_id; /* their ids when queued: different now means the pair is stale */
    int32_t result;
} bpe_pair;

typedef struct scratch_layout {
    uint64_t claims, mapped, symbols, heap;
    uint64_t heap_cap;
    uint64_t total;
} scratch_layout;

static uint64_t align_up(uint64_t value) { return (value + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN; }

static scratch_layout plan_scratch(const snug_tokenizer *tok, uint64_t text_bytes) {
    scratch_layout s;
    const uint64_t claim_bytes = (tok == NULL || tok->n_special > 0) ? snug_tokenizer_claim_bytes(text_bytes) : 0;
    const uint64_t symbols = text_bytes + 1;
    s.heap_cap = HEAP_PAIRS_PER_SYMBOL * symbols;
    s.claims = 0;
    s.mapped = align_up(claim_bytes);
    s.symbols = align_up(s.mapped + MAPPED_BYTES_PER_BYTE * text_bytes);
    s.heap = align_up(s.symbols + symbols * sizeof(bpe_symbol));
    s.total = align_up(s.heap + s.heap_cap * sizeof(bpe_pair)) + (SCRATCH_ALIGN - 1);
    return s;
}

uint64_t snug_tokenizer_bpe_scratch_bytes(const snug_tokenizer *tok, uint64_t max_text_bytes) {
    if (max_text_bytes > MAX_TEXT_BYTES) return UINT64_MAX;
    return plan_scratch(tok, max_text_bytes).total;
}

/* ---- encoding ------------------------------------------------------------------------------------------------- */

typedef struct bpe_encoder {
    const snug_tokenizer *tok;
    int32_t *claims;
    char *mapped;
    bpe_symbol *symbols;
    bpe_pair *heap;
    uint32_t heap_count, heap_cap;
    int32_t *tokens;
    size_t cap, count;
    /* Split only (snug_tokenizer_bpe_split): words are not encoded; their end offsets in `text` go to word_ends
     * (cap of them), counted in count. */
    const char *text;
    size_t *word_ends;
} bpe_encoder;

static void emit(bpe_encoder *e, int32_t id) {
    if (e->count < e->cap) e->tokens[e->count] = id;
    e->count++;
}

/* Min-heap: lower rank first, then the leftmost pair (llama.cpp's llm_bigram_bpe). */
static bool pair_above(const bpe_pair *a, const bpe_pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

SNUG_MERGE_HEAP(bpe_pair, pair_above)

static bool queue_pair(bpe_encoder *e, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    const int32_t left_id = e->symbols[left].id, right_id = e->symbols[right].id;
    const snug_bpe_merge *m = merge_find(e->tok, left_id, right_id);
    if (m == NULL) return true;
    if (e->heap_count >= e->heap_cap) return false;
    merge_heap_push(e->heap, &e->heap_count, (bpe_pair){m->rank, left, right, left_id, right_id, m->result});
    return true;
}

static snug_status encode_word(bpe_encoder *e, const char *word, size_t bytes, snug_error *err) {
    if (e->tok->ignore_merges) {
        size_t mapped = 0;
        for (size_t i = 0; i < bytes; i++)
            mapped += utf8_encode_small(byte_to_unicode((uint8_t)word[i]), e->mapped + mapped);
        const int32_t id = snug_tokenizer_find(e->tok, e->mapped, mapped);
        if (id >= 0) {
            emit(e, id);
            return SNUG_OK;
        }
    }
    for (size_t i = 0; i < bytes; i++) {
        const uint8_t byte = (uint8_t)word[i];
        const int32_t id = e->tok->byte_tokens[byte];
        if (id < 0) {
            return snug_fail(err, SNUG_E_ARGUMENT,
                             "the text contains byte 0x%02X, which this vocabulary cannot encode: it has no piece "
                             "for its byte-level character U+%04X",
                             byte, byte_to_unicode(byte));
        }
        e->symbols[i] = (bpe_symbol){id, (int32_t)i - 1, (int32_t)i + 1};
    }
    const int32_t n = (int32_t)bytes;
    e->symbols[n - 1].next = -1;
    e->heap_count = 0;
    bool heap_ok = true;
    for (int32_t i = 1; i < n; i++) heap_ok = heap_ok && queue_pair(e, i - 1, i);
    while (heap_ok && e->heap_count > 0) {
        const bpe_pair pair = merge_heap_pop(e->heap, &e->heap_count);
        bpe_symbol *left = &e->symbols[pair.left], *right = &e->symbols[pair.right];
        if (left->id != pair.left_id || left->next != pair.right || right->id != pair.right_id) continue;
        left->id = pair.result;
        left->next = right->next;
        right->id = -1;
        if (right->next >= 0) e->symbols[right->next].prev = pair.left;
        heap_ok = queue_pair(e, left->prev, pair.left) && queue_pair(e, pair.left, left->next);
    }
    if (!heap_ok) {
        return snug_fail(err, SNUG_E_INTERNAL, "tokenizer merge queue overflowed its %u planned entries (%d symbols)",
                         e->heap_cap, n);
    }
    for (int32_t i = 0; i != -1; i = e->symbols[i].next) emit(e, e->symbols[i].id);
    return SNUG_OK;
}

/* Splits text with regex `level` (matches and the gaps between them are pieces) and hands each piece to the next
 * level; past the last regex, a piece is a word. */
static snug_status pre_tokenize(bpe_encoder *e, uint32_t level, const char *text, size_t bytes, snug_error *err) {
    if (bytes == 0) return SNUG_OK;
    if (level == e->tok->n_patterns) {
        if (e->word_ends == NULL) return encode_word(e, text, bytes, err);
        if (e->count < e->cap) e->word_ends[e->count] = (size_t)(text - e->text) + bytes;
        e->count++;
        return SNUG_OK;
    }
    pcre2_code *code = e->tok->patterns[level];
    pcre2_match_data *md = e->tok->match_data[level];
    size_t pos = 0;
    while (pos < bytes) {
        int rc = pcre2_match(code, (PCRE2_SPTR)text, bytes, pos, 0, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(rc, message, sizeof message);
            return snug_fail(err, SNUG_E_INTERNAL, "pre-tokenizer regex %u failed at byte %zu: %s", level, pos,
                             (const char *)message);
        }
        const PCRE2_SIZE *ovector = pcre2_get_ovector_pointer(md);
        const size_t start = ovector[0], end = ovector[1];
        if (end <= start) break; /* no pattern matches empty text; never loop on one that would */
        snug_status st = pre_tokenize(e, level + 1, text + pos, start - pos, err);
        if (st == SNUG_OK) st = pre_tokenize(e, level + 1, text + start, end - start, err);
        if (st != SNUG_OK) return st;
        pos = end;
    }
    return pre_tokenize(e, level + 1, text + pos, bytes - pos, err);
}

/* The BPE side of snug_tokenizer_encode_split: special tokens are emitted, the text between them pre-tokenized. */
static void split_emit(void *encoder, int32_t id) { emit(encoder, id); }

static snug_status split_fragment(void *encoder, const char *text, size_t bytes, bool after_special, snug_error *err) {
    (void)after_special; /* byte-level BPE has no dummy prefix */
    return pre_tokenize(encoder, 0, text, bytes, err);
}

static snug_status encode_text(bpe_encoder *e, const char *text, size_t bytes, bool parse_special,
                               snug_encode_state *state, snug_error *err) {
    const snug_split_encoder split = {e, split_emit, split_fragment};
    return snug_tokenizer_encode_split(e->tok, text, bytes, parse_special, e->claims, state, &split, err);
}

snug_status snug_tokenizer_bpe_encode(const snug_tokenizer *tok, const char *text, size_t text_bytes, bool add_bos,
                                      bool parse_special, snug_encode_state *state, void *scratch,
                                      uint64_t scratch_bytes, int32_t *tokens, size_t cap, size_t *n_tokens,
                                      snug_error *err) {
    *n_tokens = 0;
    if ((uint64_t)text_bytes > MAX_TEXT_BYTES) {
        return snug_fail(err, SNUG_E_ARGUMENT, "text of %zu bytes is longer than the tokenizer's limit of %llu bytes",
                         text_bytes, (unsigned long long)MAX_TEXT_BYTES);
    }
    const scratch_layout layout = plan_scratch(tok, text_bytes);
    if (layout.total > scratch_bytes) {
        snug_fail(err, SNUG_E_ARGUMENT,
                  "text of %zu bytes needs %llu bytes of tokenizer scratch, but %llu bytes were given", text_bytes,
                  (unsigned long long)layout.total, (unsigned long long)scratch_bytes);
        snug_hint(err, "raise max_input_bytes of the context to at least %zu", text_bytes);
        return SNUG_E_ARGUMENT;
    }
    uint8_t *base = (uint8_t *)scratch;
    base += (SCRATCH_ALIGN - (uintptr_t)base % SCRATCH_ALIGN) % SCRATCH_ALIGN;
    bpe_encoder e = {
        .tok = tok,
        .claims = (int32_t *)(base + layout.claims),
        .mapped = (char *)(base + layout.mapped),
        .symbols = (bpe_symbol *)(base + layout.symbols),
        .heap = (bpe_pair *)(base + layout.heap),
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

snug_status snug_tokenizer_bpe_split(const snug_tokenizer *tok, const char *text, size_t text_bytes, size_t *word_ends,
                                     size_t cap, size_t *n_words, snug_error *err) {
    bpe_encoder e = {.tok = tok, .cap = cap, .text = text, .word_ends = word_ends};
    snug_status st = pre_tokenize(&e, 0, text, text_bytes, err);
    *n_words = e.count;
    return st;
}

/* ---- decoding ------------------------------------------------------------------------------------------------- */

/* Code point and length of the UTF-8 character at p; length 1 and code point -1 for a malformed byte. */
static size_t utf8_decode(const uint8_t *p, size_t available, int64_t *cp) {
    size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || n > available) {
        *cp = -1;
        return 1;
    }
    uint32_t value = n == 1 ? p[0] : n == 2 ? (p[0] & 0x1Fu) : n == 3 ? (p[0] & 0x0Fu) : (p[0] & 0x07u);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *cp = -1;
            return 1;
        }
        value = value << 6 | (p[i] & 0x3Fu);
    }
    *cp = value;
    return n;
}

size_t snug_tokenizer_bpe_piece_text(const snug_tokenizer *tok, int32_t token, char *out, size_t cap) {
    const snug_tokenizer_piece *piece = &tok->pieces[token];
    const snug_token_kind kind = (snug_token_kind)tok->kinds[token];
    if (kind == SNUG_TOKEN_CONTROL) return 0;
    if (kind == SNUG_TOKEN_UNKNOWN || kind == SNUG_TOKEN_USER_DEFINED || kind == SNUG_TOKEN_BYTE) {
        size_t n = piece->bytes < cap ? piece->bytes : cap;
        if (n > 0) memcpy(out, piece->text, n);
        return n;
    }
    size_t written = 0;
    for (uint32_t i = 0; i < piece->bytes && written < cap;) {
        int64_t cp;
        const size_t n = utf8_decode((const uint8_t *)piece->text + i, piece->bytes - i, &cp);
        const int byte = cp >= 0 ? unicode_to_byte((uint32_t)cp) : -1;
        if (byte >= 0) {
            out[written++] = (char)byte;
        } else { /* not a byte-level character: shown as is */
            for (size_t k = 0; k < n && written < cap; k++) out[written++] = piece->text[i + k];
        }
        i += (uint32_t)n;
    }
    return written;
}
