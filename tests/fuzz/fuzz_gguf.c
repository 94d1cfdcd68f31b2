/* fuzz_gguf.c — harness (a): the input is a GGUF file, driven through everything that reads one.
 *
 * In order: snug_gguf_open with and without SNUG_GGUF_ALLOW_MISSING_DATA, every accessor on every metadata entry,
 * array element and tensor (each byte a string or tensor claims is read, so ASan checks the claim), the chat template
 * lookup, two plans (the default context and the largest) with their text and JSON reports; snug_model_load, and on
 * success a small context (32 tokens, 64 MiB) that tokenizes and decodes a few tokens on the fuzzed weights;
 * snug_vocab_load, and on success a few texts (and the input's first bytes) tokenized and decoded with the fuzzed
 * vocabulary. Invariants beyond "no sanitizer report": every failure fills its error record; every string and tensor
 * the reader hands out lies inside the file (the mapping is not ASan-instrumented); a file that opens strictly also
 * opens with missing data allowed; a model that loads also opens and loads as a vocabulary; lookups by
 * name find what iteration found; token ids stay inside the vocabulary.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/common.h"
#include "gguf/gguf.h"

enum {
    ARRAY_ELEMENTS_READ = 64,      /* array elements read per entry (the first ones, and the last) */
    CONTEXT_TOKENS = 32,           /* the small context's length */
    CONTEXT_MEM_BYTES = 64u << 20, /* its memory limit: keeps each input's arena small */
    DECODE_TOKENS = 4,             /* prompt tokens decoded, at most */
    VOCAB_TEXT_BYTES = 256,        /* longest text tokenized with a fuzzed vocabulary */
    PIECE_BYTES = 64,              /* room for one token's text */
};

static volatile uint64_t sink; /* where touched bytes go */

/* Bytes the reader hands out point into the mapped file, inside it: a claim past the end of the file but within its
 * last page would read zeros unseen by ASan (mapped memory is not instrumented), so it is checked here. */
static void check_in_file(const snug_gguf *g, const void *p, uint64_t bytes, const char *what, const char *name) {
    const uint8_t *at = p;
    if (at < g->map || bytes > g->file_bytes || (uint64_t)(at - g->map) > g->file_bytes - bytes)
        snug_fuzz_fail("%s of %s: %llu bytes at offset %lld, outside the %llu-byte file", what, name,
                       (unsigned long long)bytes, (long long)(at - g->map), (unsigned long long)g->file_bytes);
}

static void walk_metadata(const snug_gguf *g) {
    uint64_t n_kv = snug_gguf_kv_count(g);
    for (uint64_t i = 0; i < n_kv; i++) {
        const char *key = snug_gguf_kv_key(g, i);
        if (key == NULL) snug_fuzz_fail("metadata entry %llu has no key", (unsigned long long)i);
        sink += snug_fuzz_touch(key, strlen(key));
        int64_t found = snug_gguf_find_key(g, key);
        if (found < 0 || (uint64_t)found > i)
            snug_fuzz_fail("find_key(\"%s\") = %lld, but entry %llu has that key", key, (long long)found,
                           (unsigned long long)i);
        snug_gguf_value_type type = snug_gguf_kv_type(g, i);
        int64_t i64;
        double f64;
        bool b;
        const char *str;
        uint64_t len;
        if (snug_gguf_kv_get_i64(g, i, &i64)) sink += (uint64_t)i64;
        if (snug_gguf_kv_get_f64(g, i, &f64)) sink += (uint64_t)(f64 == f64);
        if (snug_gguf_kv_get_bool(g, i, &b)) sink += b;
        if (snug_gguf_kv_get_string(g, i, &str, &len)) {
            if (type != SNUG_GGUF_STRING) snug_fuzz_fail("entry %s of type %d read as a string", key, (int)type);
            check_in_file(g, str, len, "string", key);
            sink += snug_fuzz_touch(str, (size_t)len);
        }
        snug_gguf_value_type elem_type;
        uint64_t count;
        if (!snug_gguf_kv_get_array(g, i, &elem_type, &count)) continue;
        if (type != SNUG_GGUF_ARRAY) snug_fuzz_fail("entry %s of type %d read as an array", key, (int)type);
        for (uint64_t e = 0; e < count; e++) {
            if (e == ARRAY_ELEMENTS_READ && count > ARRAY_ELEMENTS_READ) e = count - 1; /* then the last one */
            if (snug_gguf_kv_array_i64(g, i, e, &i64)) sink += (uint64_t)i64;
            if (snug_gguf_kv_array_f64(g, i, e, &f64)) sink += (uint64_t)(f64 == f64);
            if (snug_gguf_kv_array_string(g, i, e, &str, &len)) {
                check_in_file(g, str, len, "array string", key);
                sink += snug_fuzz_touch(str, (size_t)len);
            }
        }
        /* Past the end: every element accessor must refuse. */
        if (snug_gguf_kv_array_i64(g, i, count, &i64) || snug_gguf_kv_array_f64(g, i, count, &f64) ||
            snug_gguf_kv_array_string(g, i, count, &str, &len))
            snug_fuzz_fail("array %s of %llu elements returned element %llu", key, (unsigned long long)count,
                           (unsigned long long)count);
    }
}

static void walk_tensors(const snug_gguf *g) {
    uint64_t n = snug_gguf_tensor_count(g);
    for (uint64_t i = 0; i < n; i++) {
        const snug_tensor_info *t = snug_gguf_tensor(g, i);
        if (t == NULL || t->name == NULL) snug_fuzz_fail("tensor %llu has no info", (unsigned long long)i);
        if (t->n_dims > SNUG_MAX_DIMS) snug_fuzz_fail("tensor %s has %u dimensions", t->name, t->n_dims);
        sink += snug_fuzz_touch(t->name, strlen(t->name));
        const snug_tensor_info *found = snug_gguf_find_tensor(g, t->name);
        if (found == NULL)
            snug_fuzz_fail("find_tensor(\"%s\") found nothing, but tensor %llu has that name", t->name,
                           (unsigned long long)i);
        if (t->data != NULL) check_in_file(g, t->data, t->bytes, "tensor data", t->name);
        if (t->data != NULL && t->bytes > 0) {
            /* The first and last byte of the data: a claim beyond the mapping faults here. */
            sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->bytes - 1];
        }
        sink += (uint64_t)(snug_type_name(t->type) != NULL) + snug_type_is_supported(t->type);
    }
    if (snug_gguf_tensor(g, n) != NULL)
        snug_fuzz_fail("tensor %llu of %llu exists", (unsigned long long)n, (unsigned long long)n);
}

static void plan_file(const snug_gguf *g, int32_t n_ctx) {
    snug_context_params params = {.n_ctx = n_ctx, .n_threads = 1};
    snug_plan *plan;
    snug_error err = snug_fuzz_error();
    snug_status st = snug_plan_create(g, &params, &plan, &err);
    snug_fuzz_check_error(st, &err, "snug_plan_create");
    if (st != SNUG_OK) return;
    char summary[512];
    snug_plan_summary(plan, summary, sizeof summary);
    sink += strlen(summary);
    char *text = snug_plan_render_text(plan), *json = snug_plan_render_json(plan);
    if (text) sink += strlen(text);
    if (json) sink += strlen(json);
    free(text);
    free(json);
    for (size_t i = 0; i < snug_plan_item_count(plan); i++) {
        snug_plan_item item = snug_plan_item_at(plan, i);
        if (item.name == NULL) snug_fuzz_fail("plan item %zu has no name", i);
        sink += item.bytes;
    }
    snug_error refusal = snug_fuzz_error();
    snug_status rs = snug_plan_refusal(plan, &refusal);
    if (snug_plan_fits(plan) != (rs == SNUG_OK))
        snug_fuzz_fail("plan fits = %d but its refusal is %s", snug_plan_fits(plan), snug_status_name(rs));
    snug_fuzz_check_error(rs, &refusal, "snug_plan_refusal");
    snug_plan_free(plan);
}

static void check_ids(const snug_token *ids, size_t n, int32_t n_vocab, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            snug_fuzz_fail("%s: token %zu is %d, outside the vocabulary of %d", what, i, ids[i], n_vocab);
}

static void run_model(snug_model *model) {
    snug_model_desc d;
    snug_model_describe(model, &d);
    snug_token stops[SNUG_CHAT_MAX_STOP_TOKENS];
    for (int t = 0; t < SNUG_CHAT_TEMPLATE_COUNT; t++) {
        size_t n = snug_chat_stop_tokens(model, (snug_chat_template)t, stops, SNUG_CHAT_MAX_STOP_TOKENS);
        check_ids(stops, n, d.n_vocab, "stop tokens");
    }
    char piece[PIECE_BYTES];
    for (snug_token id = -1; id <= d.n_vocab && id < 8; id++) sink += snug_token_to_piece(model, -1, id, piece, 4);
    sink += snug_token_to_piece(model, d.bos, d.n_vocab - 1, piece, sizeof piece);

    snug_context_params params = {
        .n_ctx = CONTEXT_TOKENS,
        .n_batch = DECODE_TOKENS,
        .n_threads = 1,
        .mem_limit_bytes = CONTEXT_MEM_BYTES,
        .headroom_set = true,
        .headroom_bytes = 0,
    };
    snug_context *ctx;
    snug_error err = snug_fuzz_error();
    snug_status st = snug_context_create(model, &params, &ctx, &err);
    snug_fuzz_check_error(st, &err, "snug_context_create");
    if (st != SNUG_OK) return;
    size_t cap, n = 0;
    snug_token *ids = snug_context_token_buffer(ctx, &cap);
    static const char prompt[] = "Once upon a time <s> [INST] \xe2\x96\x81\xff";
    st = snug_context_tokenize(ctx, prompt, sizeof prompt - 1, snug_model_adds_bos(model), true, ids, cap, &n, &err);
    snug_fuzz_check_error(st, &err, "snug_context_tokenize");
    if (st == SNUG_OK || st == SNUG_E_CONTEXT_FULL) {
        check_ids(ids, n, d.n_vocab, "snug_context_tokenize");
        if (n > DECODE_TOKENS) n = DECODE_TOKENS;
        st = snug_context_decode(ctx, ids, n, &err);
        snug_fuzz_check_error(st, &err, "snug_context_decode");
        if (st == SNUG_OK && n > 0) {
            snug_token next;
            st = snug_context_sample(ctx, &next, &err);
            snug_fuzz_check_error(st, &err, "snug_context_sample");
            if (st == SNUG_OK) {
                check_ids(&next, 1, d.n_vocab, "snug_context_sample");
                st = snug_context_decode(ctx, &next, 1, &err);
                snug_fuzz_check_error(st, &err, "snug_context_decode (second)");
            }
        }
    }
    snug_context_free(ctx);
}

static void run_vocab(const snug_vocab *vocab, const uint8_t *data, size_t size) {
    const int32_t n_vocab = snug_vocab_n_tokens(vocab);
    uint64_t scratch_bytes = snug_vocab_scratch_bytes(vocab, VOCAB_TEXT_BYTES);
    void *scratch = malloc(scratch_bytes ? (size_t)scratch_bytes : 1);
    snug_token ids[VOCAB_TEXT_BYTES + 8];
    if (scratch == NULL) snug_fuzz_fail("no memory for %llu bytes of scratch", (unsigned long long)scratch_bytes);
    const char *texts[] = {"Hello world", "<s>[INST] <<SYS>> hi</s> <|im_start|>user\n", " \xe2\x96\x81 x\xff\xc3",
                           (const char *)data};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t bytes = t + 1 < sizeof texts / sizeof texts[0] ? strlen(texts[t]) : size;
        if (bytes > VOCAB_TEXT_BYTES) bytes = VOCAB_TEXT_BYTES;
        for (int special = 0; special < 2; special++) {
            size_t n = 0;
            snug_error err = snug_fuzz_error();
            snug_status st = snug_vocab_tokenize(vocab, texts[t], bytes, true, special, scratch, scratch_bytes, ids,
                                                 sizeof ids / sizeof ids[0], &n, &err);
            snug_fuzz_check_error(st, &err, "snug_vocab_tokenize");
            if (st != SNUG_OK) continue;
            check_ids(ids, n, n_vocab, "snug_vocab_tokenize");
            char piece[PIECE_BYTES];
            for (size_t i = 0; i < n; i++)
                sink += snug_vocab_piece(vocab, i ? ids[i - 1] : -1, ids[i], piece, sizeof piece);
        }
    }
    free(scratch);
}

void snug_fuzz_gguf(const uint8_t *data, size_t size) {
    const char *path = snug_fuzz_path_of(data, size);
    bool opened[2] = {false, false};
    for (int allow_missing = 0; allow_missing < 2; allow_missing++) {
        snug_gguf *g;
        snug_error err = snug_fuzz_error();
        snug_status st = snug_gguf_open(path, allow_missing ? SNUG_GGUF_ALLOW_MISSING_DATA : 0, &g, &err);
        snug_fuzz_check_error(st, &err, "snug_gguf_open");
        if (st != SNUG_OK) continue;
        opened[allow_missing] = true;
        sink += snug_gguf_version(g) + snug_gguf_file_bytes(g) + snug_gguf_data_offset(g) + snug_gguf_alignment(g) +
                snug_gguf_data_complete(g);
        if (snug_gguf_file_bytes(g) != size)
            snug_fuzz_fail("file_bytes %llu for an input of %zu", (unsigned long long)snug_gguf_file_bytes(g), size);
        walk_metadata(g);
        walk_tensors(g);
        snug_chat_template tmpl;
        sink += snug_chat_template_of_gguf(g, &tmpl);
        if (allow_missing) {
            plan_file(g, SNUG_CTX_DEFAULT);
            plan_file(g, SNUG_CTX_MAX);
        }
        snug_gguf_close(g);
    }
    if (opened[0] && !opened[1]) snug_fuzz_fail("the file opens strictly but not with missing data allowed");

    snug_model *model;
    snug_error err = snug_fuzz_error();
    snug_status st = snug_model_load(path, &model, &err);
    snug_fuzz_check_error(st, &err, "snug_model_load");
    bool model_loaded = st == SNUG_OK;
    if (model_loaded) {
        if (!opened[0]) snug_fuzz_fail("the model loads but the file does not open");
        run_model(model);
        snug_model_free(model);
    }

    snug_vocab *vocab;
    err = snug_fuzz_error();
    st = snug_vocab_load(path, &vocab, &err);
    snug_fuzz_check_error(st, &err, "snug_vocab_load");
    if (st != SNUG_OK) {
        if (model_loaded) snug_fuzz_fail("the model loads but its vocabulary does not: %s", err.message);
        return;
    }
    run_vocab(vocab, data, size);
    snug_vocab_free(vocab);
}

#ifdef SNUG_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    snug_fuzz_gguf(data, size);
    return 0;
}
#endif
