/* make_seeds.c — writes the generated part of the fuzz seed corpora (`make fuzz-seeds`; the output is checked in).
 *
 *   corpus/gguf/       tiny models from snug's writer: full and header-only llama (SentencePiece vocabulary), qwen2,
 *                      qwen3 and phi3 headers, quantized (Q8_0 data, Q4_K header), GGUF v2; a llama model with a
 *                      byte-level BPE vocabulary and a chat template; vocabulary-only files, one per pre-tokenizer;
 *                      every metadata value type, nested arrays and a 64-byte alignment in one file
 *   corpus/tokenizer/  llama.cpp's 46 tokenizer test strings ($SNUG_SHARED/models/ggml-vocab-*.gguf.inp) for each
 *                      of the three vocabularies, and texts with special tokens; byte 0 as fuzz_tokenizer.c reads it
 *   corpus/chat_template/conv-*  conversations (system, user, assistant, …) for each template; the hand-written
 *                      Jinja seeds beside them are not generated
 *
 * Deterministic: the same tree writes the same bytes. Tool code: allocates freely, prints, exits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert/synth.h"
#include "gguf/writer.h"
#include "snug.h"

enum { TOKEN_NORMAL = 1, TOKEN_CONTROL = 3, TOKEN_USER_DEFINED = 4, N_INP_STRINGS = 46 };
#define INP_SEPARATOR "\n__ggml_vocab_test__\n"

static void die(const char *what, const snug_error *err) {
    fprintf(stderr, "make_seeds: %s%s%s\n", what, err ? ": " : "", err ? err->message : "");
    exit(1);
}

static char out_dir[2048];

static const char *seed_path(const char *corpus, const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, corpus);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, corpus, name);
    return path;
}

static void write_bytes(const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) die(path, NULL);
}

/* ---- GGUF models ------------------------------------------------------------------------------------------ */

static snug_synth_params tiny(const char *arch) {
    snug_synth_params p = snug_synth_default_params();
    p.architecture = arch;
    p.n_vocab = 260;
    p.n_embd = 16;
    p.n_layer = 1;
    p.n_head = 2;
    p.n_head_kv = 1;
    p.n_ff = 32;
    p.n_ctx_train = 64;
    p.tied_output = true;
    return p;
}

static void synth(const char *name, const snug_synth_params *p) {
    snug_error err;
    if (snug_synth_write(seed_path("gguf", name), p, &err) != SNUG_OK) die(name, &err);
}

/* GPT-2's bytes_to_unicode: the printable bytes stand for themselves, the others, in order, for U+0100 onwards. */
static unsigned byte_char(unsigned b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    unsigned n = 0;
    for (unsigned c = 0; c < b; c++) n += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174);
    return 256 + n;
}

static void utf8(unsigned cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

/* A byte-level BPE vocabulary: the 256 byte characters, the results of a few merges ("Ġ" is the space), then
 * control and user-defined tokens. */
static const char *const merges[] = {"Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ w", "r e", "Ġ s",
                                     "a t", "o u", "Ġ o",   "e n", "Ġ c", "i s", "Ġ b", "l l", "Ġ h", "Ġ f"};
#define N_MERGES (sizeof merges / sizeof merges[0])
static const char *const specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|user_word|>", "ĠĠĠĠ"};
static const int special_types[] = {TOKEN_CONTROL, TOKEN_CONTROL, TOKEN_CONTROL, TOKEN_USER_DEFINED,
                                    TOKEN_USER_DEFINED};
#define N_SPECIALS     (sizeof specials / sizeof specials[0])
#define BPE_VOCAB_SIZE (256 + N_MERGES + N_SPECIALS)

static void add_bpe_vocab(snug_gguf_writer *w, const char *pre, bool with_scores) {
    char *tokens[BPE_VOCAB_SIZE];
    int32_t types[BPE_VOCAB_SIZE];
    float scores[BPE_VOCAB_SIZE];
    size_t n = 0;
    for (unsigned b = 0; b < 256; b++, n++) {
        tokens[n] = malloc(4);
        utf8(byte_char(b), tokens[n]);
        types[n] = TOKEN_NORMAL;
    }
    for (size_t m = 0; m < N_MERGES; m++, n++) {
        tokens[n] = strdup(merges[m]);
        char *space = strchr(tokens[n], ' ');
        memmove(space, space + 1, strlen(space)); /* "a b" → "ab" */
        types[n] = TOKEN_NORMAL;
    }
    for (size_t s = 0; s < N_SPECIALS; s++, n++) {
        tokens[n] = strdup(specials[s]);
        types[n] = special_types[s];
    }
    for (size_t i = 0; i < n; i++) scores[i] = -(float)i;
    bool ok = snug_gguf_writer_string(w, "tokenizer.ggml.model", "gpt2") &&
              (pre == NULL || snug_gguf_writer_string(w, "tokenizer.ggml.pre", pre)) &&
              snug_gguf_writer_strings(w, "tokenizer.ggml.tokens", (const char *const *)tokens, n) &&
              snug_gguf_writer_i32s(w, "tokenizer.ggml.token_type", types, n) &&
              (!with_scores || snug_gguf_writer_f32s(w, "tokenizer.ggml.scores", scores, n)) &&
              snug_gguf_writer_strings(w, "tokenizer.ggml.merges", merges, N_MERGES) &&
              snug_gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", 256 + N_MERGES) &&
              snug_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", 256 + N_MERGES) &&
              snug_gguf_writer_u32(w, "tokenizer.ggml.eot_token_id", 256 + N_MERGES + 2);
    for (size_t i = 0; i < n; i++) free(tokens[i]);
    if (!ok) die("BPE vocabulary", NULL);
}

static const char chatml_template[] =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* A llama model with the BPE vocabulary: a synthetic model's hyper-parameters and tensors, its tokenizer replaced. */
static void bpe_model(void) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", seed_path("gguf", "tmp-spm.gguf"));
    snug_synth_params p = tiny(NULL);
    p.n_vocab = (int32_t)BPE_VOCAB_SIZE;
    snug_error err;
    if (snug_synth_write(tmp, &p, &err) != SNUG_OK) die("bpe model base", &err);
    snug_gguf *g;
    if (snug_gguf_open(tmp, 0, &g, &err) != SNUG_OK) die("bpe model base", &err);
    snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
    for (uint64_t i = 0; i < snug_gguf_kv_count(g); i++)
        if (strncmp(snug_gguf_kv_key(g, i), "tokenizer.", 10) != 0 && !snug_gguf_writer_copy_kv(w, g, i))
            die("copy kv", NULL);
    add_bpe_vocab(w, "llama-bpe", false);
    if (!snug_gguf_writer_string(w, "tokenizer.chat_template", chatml_template)) die("template", NULL);
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(g, i);
        if (!snug_gguf_writer_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->bytes)) die("tensor", NULL);
    }
    if (snug_gguf_writer_write(w, seed_path("gguf", "llama-bpe-tiny.gguf"), false, &err) != SNUG_OK)
        die("bpe model", &err);
    snug_gguf_writer_free(w);
    snug_gguf_close(g);
    remove(tmp);
}

static void bpe_vocabularies(void) {
    static const char *const pres[] = {NULL,        "default", "gpt-2",        "llama-bpe",      "qwen2",
                                       "starcoder", "falcon",  "deepseek-llm", "deepseek-coder", "gpt-4o"};
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
        add_bpe_vocab(w, pres[i], i % 2 == 0);
        char name[64];
        snprintf(name, sizeof name, "vocab-bpe-%s.gguf", pres[i] ? pres[i] : "no-pre");
        snug_error err;
        if (snug_gguf_writer_write(w, seed_path("gguf", name), false, &err) != SNUG_OK) die(name, &err);
        snug_gguf_writer_free(w);
    }
}

/* A SentencePiece vocabulary alone, with the options llama.cpp's converter writes and a Llama 2 chat template. */
static void spm_vocabulary(void) {
    static const char *const tokens[] = {"<unk>",
                                         "<s>",
                                         "</s>",
                                         "<0x0A>",
                                         "<0x20>",
                                         "<0xC3>",
                                         "<0xA9>",
                                         "\xe2\x96\x81",
                                         "\xe2\x96\x81t",
                                         "he",
                                         "\xe2\x96\x81the",
                                         "[INST]",
                                         "[/INST]",
                                         "<<SYS>>",
                                         "\xe2\x96\x81\xe2\x96\x81",
                                         "a",
                                         "b",
                                         "c",
                                         "<|user|>",
                                         "<|end|>"};
    enum { N = sizeof tokens / sizeof tokens[0] };
    int32_t types[N];
    float scores[N];
    for (int i = 0; i < N; i++) {
        types[i] = i == 0               ? 2
                   : i < 3              ? TOKEN_CONTROL
                   : i < 7              ? 6
                   : i >= 11 && i <= 13 ? TOKEN_USER_DEFINED
                                        : TOKEN_NORMAL;
        scores[i] = -(float)i;
    }
    types[18] = types[19] = TOKEN_CONTROL;
    snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
    bool ok = snug_gguf_writer_string(w, "tokenizer.ggml.model", "llama") &&
              snug_gguf_writer_strings(w, "tokenizer.ggml.tokens", tokens, N) &&
              snug_gguf_writer_f32s(w, "tokenizer.ggml.scores", scores, N) &&
              snug_gguf_writer_i32s(w, "tokenizer.ggml.token_type", types, N) &&
              snug_gguf_writer_u32(w, "tokenizer.ggml.unknown_token_id", 0) &&
              snug_gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", 1) &&
              snug_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", 2) &&
              snug_gguf_writer_bool(w, "tokenizer.ggml.add_bos_token", false) &&
              snug_gguf_writer_bool(w, "tokenizer.ggml.add_space_prefix", false) &&
              snug_gguf_writer_string(w, "tokenizer.chat_template",
                                      "{{ bos_token }}[INST] <<SYS>>\n{{ system }}\n<</SYS>>\n\n{{ user }} [/INST]");
    snug_error err;
    if (!ok || snug_gguf_writer_write(w, seed_path("gguf", "vocab-spm.gguf"), false, &err) != SNUG_OK)
        die("vocab-spm.gguf", ok ? &err : NULL);
    snug_gguf_writer_free(w);
}

/* Every metadata value type, arrays of each, an array of arrays, a 64-byte alignment (general.alignment) and tensors
 * of several types with their data: the reader's paths that the model seeds do not take. */
static void kitchen_sink(void) {
    snug_gguf_writer *w = snug_gguf_writer_create(3, 64);
    const uint8_t u8 = 200, i8 = 0x80, b = 1;
    const uint16_t u16 = 65000;
    const int16_t i16 = -300;
    const uint64_t u64 = 1ull << 40;
    const int64_t i64 = -(1ll << 40);
    const double f64 = 2.5;
    static const float floats[] = {1.0f, -2.0f, 0.5f};
    static const int32_t ints[] = {-1, 0, 7};
    static const char *const strings[] = {"a", "",
                                          "\xe2\x96\x81"
                                          "b"};
    /* An array of two arrays of three u8: element type ARRAY, count 2, then each {u8, count 3, 3 bytes}. */
    uint8_t nested[4 + 8 + 2 * (4 + 8 + 3)];
    size_t at = 0;
    const uint32_t array_type = SNUG_GGUF_ARRAY, u8_type = SNUG_GGUF_UINT8;
    const uint64_t two = 2, three = 3;
    memcpy(nested + at, &array_type, 4), at += 4;
    memcpy(nested + at, &two, 8), at += 8;
    for (int i = 0; i < 2; i++) {
        memcpy(nested + at, &u8_type, 4), at += 4;
        memcpy(nested + at, &three, 8), at += 8;
        nested[at++] = 1, nested[at++] = 2, nested[at++] = (uint8_t)(3 + i);
    }
    bool ok = snug_gguf_writer_string(w, "general.architecture", "llama") &&
              snug_gguf_writer_raw(w, "test.u8", SNUG_GGUF_UINT8, &u8, 1) &&
              snug_gguf_writer_raw(w, "test.i8", SNUG_GGUF_INT8, &i8, 1) &&
              snug_gguf_writer_raw(w, "test.u16", SNUG_GGUF_UINT16, &u16, 2) &&
              snug_gguf_writer_raw(w, "test.i16", SNUG_GGUF_INT16, &i16, 2) &&
              snug_gguf_writer_raw(w, "test.bool", SNUG_GGUF_BOOL, &b, 1) && snug_gguf_writer_u64(w, "test.u64", u64) &&
              snug_gguf_writer_raw(w, "test.i64", SNUG_GGUF_INT64, &i64, 8) &&
              snug_gguf_writer_raw(w, "test.f64", SNUG_GGUF_FLOAT64, &f64, 8) &&
              snug_gguf_writer_f32s(w, "test.f32s", floats, 3) && snug_gguf_writer_i32s(w, "test.i32s", ints, 3) &&
              snug_gguf_writer_strings(w, "test.strings", strings, 3) &&
              snug_gguf_writer_raw(w, "test.nested", SNUG_GGUF_ARRAY, nested, at);
    static const uint8_t data[256];
    const uint64_t ne_f16[2] = {32, 2}, ne_q4[2] = {32, 1}, ne_bf16[1] = {64};
    ok = ok && snug_gguf_writer_tensor(w, "a.f16", SNUG_TYPE_F16, 2, ne_f16, data, 128) &&
         snug_gguf_writer_tensor(w, "b.q4_0", SNUG_TYPE_Q4_0, 2, ne_q4, data, 18) &&
         snug_gguf_writer_tensor(w, "c.bf16", SNUG_TYPE_BF16, 1, ne_bf16, data, 128);
    snug_error err;
    if (!ok || snug_gguf_writer_write(w, seed_path("gguf", "kitchen-sink.gguf"), false, &err) != SNUG_OK)
        die("kitchen-sink.gguf", ok ? &err : NULL);
    snug_gguf_writer_free(w);
}

static void gguf_seeds(void) {
    kitchen_sink();
    snug_synth_params p = tiny(NULL);
    synth("llama-tiny.gguf", &p);
    p.header_only = true;
    synth("llama-tiny-header.gguf", &p);
    p.gguf_version = 2;
    p.rope_freq_base = 500000.0f;
    p.rope_scale_linear = 4.0f;
    synth("llama-tiny-v2-header.gguf", &p);
    const char *archs[] = {"qwen2", "qwen3", "phi3", "mistral"};
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        p = tiny(archs[a]);
        p.header_only = true;
        p.tied_output = a % 2 == 0;
        if (strcmp(archs[a], "qwen3") == 0) p.head_dim = 16;
        char name[64];
        snprintf(name, sizeof name, "%s-tiny-header.gguf", archs[a]);
        synth(name, &p);
    }
    p = tiny(NULL);
    p.n_embd = 32;
    p.n_ff = 64;
    p.weight_type = SNUG_TYPE_Q8_0;
    p.embd_type = SNUG_TYPE_F16;
    synth("llama-q8_0-tiny.gguf", &p);
    p.n_embd = 256;
    p.n_ff = 256;
    p.n_head = 4;
    p.weight_type = SNUG_TYPE_Q4_K;
    p.embd_type = SNUG_TYPE_Q6_K;
    p.header_only = true;
    synth("llama-q4_k-header.gguf", &p);
    bpe_model();
    bpe_vocabularies();
    spm_vocabulary();
}

/* ---- tokenizer texts -------------------------------------------------------------------------------------- */

static void tokenizer_seeds(void) {
    static const char *const vocab_files[] = {"ggml-vocab-gpt-2.gguf.inp", "ggml-vocab-llama-spm.gguf.inp",
                                              "ggml-vocab-phi-3.gguf.inp"};
    const char *shared = getenv("SNUG_SHARED");
    for (int v = 0; v < 3; v++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/models/%s", shared && *shared ? shared : "../shared", vocab_files[v]);
        FILE *f = fopen(path, "rb");
        if (!f) die(path, NULL);
        static char inp[1 << 16];
        size_t bytes = fread(inp, 1, sizeof inp - 1, f);
        fclose(f);
        inp[bytes] = 0;
        char *at = inp;
        for (int i = 0; i < N_INP_STRINGS; i++) {
            char *end = strstr(at, INP_SEPARATOR);
            if (!end) die("fewer strings than expected in an .inp file", NULL);
            /* Byte 0: the vocabulary, with the BOS and parts options cycling over the strings. */
            char seed[4096];
            size_t len = (size_t)(end - at);
            if (len + 1 > sizeof seed) die("long .inp string", NULL);
            seed[0] = (char)(v + 4 * (i % 4));
            memcpy(seed + 1, at, len);
            char name[64];
            snprintf(name, sizeof name, "inp-%d-%02d", v, i);
            write_bytes(seed_path("tokenizer", name), seed, len + 1);
            at = end + strlen(INP_SEPARATOR);
        }
    }
    static const char *const special_texts[] = {
        "<s>[INST] hi [/INST] ok</s><s>[INST] again [/INST]",
        "<|endoftext|>Hello<|endoftext|> world \x01<|endoftext|>\x01 plain",
        "<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|system|>x<|placeholder1|>",
        " \xe2\x96\x81 leading  spaces\t\ttabs\r\n\xff\xfe invalid \xc3 utf-8 \xf0\x9f\x98\x80",
    };
    for (int v = 0; v < 3; v++) {
        for (size_t t = 0; t < sizeof special_texts / sizeof special_texts[0]; t++) {
            char seed[512];
            size_t len = strlen(special_texts[t]);
            seed[0] = (char)(v + 4 * (int)(t % 4));
            memcpy(seed + 1, special_texts[t], len);
            char name[64];
            snprintf(name, sizeof name, "special-%d-%zu", v, t);
            write_bytes(seed_path("tokenizer", name), seed, len + 1);
        }
    }
}

/* ---- chat conversations ----------------------------------------------------------------------------------- */

static void chat_seeds(void) {
    static const char conversation[] = "You are terse.\0Hi!\0Hello. How can I help?\0Tell me a <|im_end|> story.\0"
                                       "Once upon a time.\0Thanks [INST]";
    for (int t = 0; t <= SNUG_CHAT_TEMPLATE_COUNT; t++) {
        char seed[sizeof conversation + 1];
        seed[0] = (char)t;
        memcpy(seed + 1, conversation, sizeof conversation - 1);
        char name[64];
        snprintf(name, sizeof name, "conv-%02d", t);
        write_bytes(seed_path("chat_template", name), seed, sizeof conversation);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    snprintf(out_dir, sizeof out_dir, "%s", argv[1]);
    mkdir(out_dir, 0777);
    gguf_seeds();
    tokenizer_seeds();
    chat_seeds();
    return 0;
}
