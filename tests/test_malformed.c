/* test_malformed.c — the malformed-file corpus: corruptions of a valid model, each made here by the test, each refused
 * by the `snug` CLI with exit code 2 and a message of its own, none crashing (also under ASan/UBSan: `make SANITIZE=1`).
 *
 * Every case starts from a valid synthetic llama model (snug_synth_write; the "valid base" tests prove it runs).
 * Byte-level cases patch or cut a copy of it at offsets found by walking its layout with support/gguf_layout.h, a
 * walker written from the GGUF specification, independent of the reader under test. Cases a byte patch cannot express
 * (a missing key, an extra tensor, a shorter array, …) rebuild the file with snug's GGUF writer, copying the base
 * with one change. Each case states the message it expects with the numbers it must carry (offsets, counts, names),
 * and `expected_messages_are_distinct` checks that no two corruptions expect the same message.
 *
 * Sections: the corpus table's plumbing, the cases (header, metadata, tensor infos, padding and data, model level),
 * the table, then the tests.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "convert/synth.h"
#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "support/gguf_layout.h"
#include "support/support.h"

/* ---- plumbing -------------------------------------------------------------------------------------------------- */

/* Absurd values from the issue: counts no file can hold, lengths past any file. */
#define ABSURD_COUNT (1ull << 60)
#define ABSURD_LENGTH (1ull << 62)

/* GGUF array header: u32 element type, u64 count (GGUF specification). */
enum { ARRAY_COUNT_AT = 4, ARRAY_HEADER_BYTES = 12 };

/* Temporary files of one test process (removed by remove_files, also after a failed assertion). */
#define BASE_F32_FILE "base-f32.gguf"
#define BASE_Q8_0_FILE "base-q8_0.gguf"
#define CASE_FILE "case.gguf"

typedef enum base_model { BASE_F32, BASE_Q8_0 } base_model;

/* Which commands a case runs. Model-level corruptions only fail `run`: `info` shows any well-formed GGUF file, and it
 * accepts missing tensor data (a header-only file), so data-section cases are `run` only as well. */
enum { CMD_RUN = 1u << 0, CMD_INFO = 1u << 1, CMD_BOTH = CMD_RUN | CMD_INFO };

/* A corruption being made: a copy of the base file (patched in place, or cut short), its layout, and the message
 * the CLI must answer with. */
typedef struct corruption {
    char base_path[4096];
    char path[4096]; /* where the corrupted file goes */
    uint8_t *bytes;
    size_t len;
    gguf_layout layout; /* of the file as it was before patching (re-walked after a rebuild) */
    char expect[SNUG_ERROR_MESSAGE_BYTES];
} corruption;

typedef struct malformed_case {
    const char *name;
    base_model base;
    unsigned commands;
    snug_status status; /* the class printed as "snug: error (<status>): " */
    void (*make)(corruption *c);
} malformed_case;

static unsigned long long ull(uint64_t v) {
    return v;
}

__attribute__((format(printf, 2, 3))) static void expect(corruption *c, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(c->expect, sizeof c->expect, fmt, args);
    va_end(args);
}

static const gguf_layout_kv *kv(const corruption *c, const char *key) {
    const gguf_layout_kv *e = gguf_layout_find_kv(&c->layout, key);
    cr_assert(e != NULL, "the base model has no metadata key '%s'", key);
    return e;
}

static const gguf_layout_tensor *tensor(const corruption *c, const char *name) {
    const gguf_layout_tensor *t = gguf_layout_find_tensor(&c->layout, name);
    cr_assert(t != NULL, "the base model has no tensor '%s'", name);
    return t;
}

static void put_u32(corruption *c, uint64_t at, uint32_t v) {
    cr_assert(at + 4 <= c->len, "patch at %llu is outside the file", ull(at));
    for (int i = 0; i < 4; i++) c->bytes[at + i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(corruption *c, uint64_t at, uint64_t v) {
    cr_assert(at + 8 <= c->len, "patch at %llu is outside the file", ull(at));
    for (int i = 0; i < 8; i++) c->bytes[at + i] = (uint8_t)(v >> (8 * i));
}

static void put_f32(corruption *c, uint64_t at, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u32(c, at, bits);
}

/* Overwrites bytes with `text` (no NUL): same-length replacements keep the rest of the layout intact. */
static void put_text(corruption *c, uint64_t at, const char *text) {
    cr_assert(at + strlen(text) <= c->len, "patch at %llu is outside the file", ull(at));
    memcpy(c->bytes + at, text, strlen(text));
}

/* Truncates the file to its first `len` bytes. */
static void cut(corruption *c, uint64_t len) {
    cr_assert(len < c->len, "cut at %llu is not inside the %zu-byte file", ull(len), c->len);
    c->len = (size_t)len;
}

/* Bytes of a tensor of the F32 base model. */
static uint64_t f32_bytes(const gguf_layout_tensor *t) {
    uint64_t elems = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) elems *= t->ne[d];
    return elems * sizeof(float);
}

static uint64_t get_u64(const corruption *c, uint64_t at) {
    cr_assert(at + 8 <= c->len, "read at %llu is outside the file", ull(at));
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)c->bytes[at + i] << (8 * i);
    return v;
}

/* File offset of element `i` (its u64 length) of a string array. */
static uint64_t string_element_at(const corruption *c, const gguf_layout_kv *array, uint64_t i) {
    cr_assert(array->type == SNUG_GGUF_ARRAY && array->elem_type == SNUG_GGUF_STRING && i < array->count);
    uint64_t at = array->value_at + ARRAY_HEADER_BYTES;
    for (uint64_t e = 0; e < i; e++) at += 8 + get_u64(c, at);
    return at;
}

static void load_file(corruption *c, const char *path) {
    free(c->bytes);
    gguf_layout_free(&c->layout);
    size_t len = 0;
    c->bytes = (uint8_t *)test_read_file(path, &len);
    cr_assert(c->bytes != NULL, "cannot read %s", path);
    c->len = len;
    cr_assert(gguf_layout_walk(c->bytes, c->len, &c->layout), "cannot walk the layout of %s", path);
}

/* What a rebuild changes; everything else is copied from the base model (metadata values byte for byte). */
typedef struct rebuild_options {
    const char *drop_key;
    const char *drop_tensor;
    uint32_t alignment;                  /* of the tensor data; 0: GGUF's default */
    void (*extend)(snug_gguf_writer *w); /* appends metadata or tensors after the copied ones */
} rebuild_options;

/* Rewrites the case file with snug's writer, then loads it as the file to patch (with its new layout). */
static void rebuild(corruption *c, rebuild_options o) {
    snug_gguf_writer *w = snug_gguf_writer_create(c->layout.version, o.alignment ? o.alignment : SNUG_GGUF_DEFAULT_ALIGNMENT);
    cr_assert(w != NULL);
    for (uint64_t i = 0; i < c->layout.n_kv; i++) {
        const gguf_layout_kv *e = &c->layout.kvs[i];
        if (o.drop_key && strcmp(e->key, o.drop_key) == 0) continue;
        cr_assert(snug_gguf_writer_raw(w, e->key, e->type, c->bytes + e->value_at, e->end - e->value_at));
    }
    snug_error err = {0};
    snug_gguf *base;
    cr_assert(snug_gguf_open(c->base_path, 0, &base, &err) == SNUG_OK, "%s", err.message);
    for (uint64_t i = 0; i < snug_gguf_tensor_count(base); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(base, i);
        if (o.drop_tensor && strcmp(t->name, o.drop_tensor) == 0) continue;
        cr_assert(snug_gguf_writer_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->bytes));
    }
    snug_gguf_close(base);
    if (o.extend) o.extend(w);
    cr_assert(snug_gguf_writer_write(w, c->path, false, &err) == SNUG_OK, "%s", err.message);
    snug_gguf_writer_free(w);
    load_file(c, c->path);
}

/* ---- cases: the header ----------------------------------------------------------------------------------------- */

static void empty_file(corruption *c) {
    cut(c, 0);
    expect(c, "file is 0 bytes, too small for a GGUF header (%d bytes)", GGUF_LAYOUT_HEADER_BYTES);
}

static void header_truncated(corruption *c) {
    cut(c, GGUF_LAYOUT_N_KV_AT + 4);
    expect(c, "file is %d bytes, too small for a GGUF header", GGUF_LAYOUT_N_KV_AT + 4);
}

static void bad_magic(corruption *c) {
    put_text(c, GGUF_LAYOUT_MAGIC_AT, "GGML");
    expect(c, "not a GGUF file: magic is 'GGML' (bytes 47 47 4d 4c), expected 'GGUF'");
}

static void version_1(corruption *c) {
    put_u32(c, GGUF_LAYOUT_VERSION_AT, 1);
    expect(c, "unsupported GGUF version 1 (snug reads versions 2 and 3)");
}

static void version_99(corruption *c) {
    put_u32(c, GGUF_LAYOUT_VERSION_AT, 99);
    expect(c, "unsupported GGUF version 99 (snug reads versions 2 and 3)");
}

static void tensor_count_absurd(corruption *c) {
    put_u64(c, GGUF_LAYOUT_N_TENSORS_AT, ABSURD_COUNT);
    expect(c, "header claims %llu tensors, but the %llu bytes after the header", ABSURD_COUNT,
           ull(c->len - GGUF_LAYOUT_HEADER_BYTES));
}

static void kv_count_absurd(corruption *c) {
    put_u64(c, GGUF_LAYOUT_N_KV_AT, ABSURD_COUNT);
    expect(c, "header claims %llu metadata entries, but the %llu bytes after the header", ABSURD_COUNT,
           ull(c->len - GGUF_LAYOUT_HEADER_BYTES));
}

/* Cut inside the first key: the header's honest tensor count no longer fits in what is left, and that is caught
 * before any entry is read. */
static void first_key_truncated(corruption *c) {
    const gguf_layout_kv *first = &c->layout.kvs[0];
    cut(c, first->key_at + 4);
    expect(c, "header claims %llu tensors, but the %llu bytes after the header can describe at most 0",
           ull(c->layout.n_tensors), ull(first->key_at + 4 - GGUF_LAYOUT_HEADER_BYTES));
}

/* ---- cases: metadata ------------------------------------------------------------------------------------------- */

/* Truncations inside an entry are made in the entries after the vocabulary: cut earlier, the file is already too
 * short for the header's counts (first_key_truncated). */
#define LATE_KEY "tokenizer.ggml.eos_token_id"

static void key_length_truncated(corruption *c) {
    const gguf_layout_kv *e = kv(c, LATE_KEY);
    cut(c, e->at + 3);
    expect(c, "truncated file: metadata entry %llu key at offset %llu needs 8 bytes, 3 left", ull(e->index), ull(e->at));
}

static void key_truncated(corruption *c) {
    const gguf_layout_kv *e = kv(c, LATE_KEY);
    cut(c, e->key_at + 10);
    expect(c, "metadata entry %llu key at offset %llu: string length %llu runs past the end of the file (10 bytes left)",
           ull(e->index), ull(e->at), ull(e->key_len));
}

static void value_type_truncated(corruption *c) {
    const gguf_layout_kv *e = kv(c, LATE_KEY);
    cut(c, e->type_at + 2);
    expect(c, "truncated file: metadata value type at offset %llu needs 4 bytes, 2 left", ull(e->type_at));
}

static void value_truncated(corruption *c) {
    const gguf_layout_kv *e = kv(c, LATE_KEY);
    cut(c, e->value_at + 1);
    expect(c, "truncated file: value of '%s' at offset %llu needs 4 bytes, 1 left", LATE_KEY, ull(e->value_at));
}

static void array_header_truncated(corruption *c) {
    const gguf_layout_kv *e = kv(c, "tokenizer.ggml.scores");
    cut(c, e->value_at + ARRAY_COUNT_AT + 2);
    expect(c, "truncated file: array length at offset %llu needs 8 bytes, 2 left", ull(e->value_at + ARRAY_COUNT_AT));
}

static void array_body_truncated(corruption *c) {
    const gguf_layout_kv *e = kv(c, "tokenizer.ggml.scores");
    cut(c, e->value_at + ARRAY_HEADER_BYTES + 100);
    expect(c, "metadata 'tokenizer.ggml.scores' at offset %llu: array of %llu f32 elements cannot fit in the 100 bytes left",
           ull(e->value_at), ull(e->count));
}

/* Cut inside one of the last pieces of the vocabulary (a string element of an array). */
static void string_element_truncated(corruption *c) {
    const gguf_layout_kv *e = kv(c, "tokenizer.ggml.tokens");
    uint64_t at = string_element_at(c, e, e->count - 10);
    cut(c, at + 8 + 2);
    expect(c, "tokenizer.ggml.tokens at offset %llu: string length %llu runs past the end of the file (2 bytes left)",
           ull(at), ull(get_u64(c, at)));
}

static void key_length_absurd(corruption *c) {
    const gguf_layout_kv *e = &c->layout.kvs[0];
    put_u64(c, e->at, ABSURD_LENGTH);
    expect(c, "metadata entry 0 key at offset %llu: string length %llu runs past the end of the file", ull(e->at),
           ABSURD_LENGTH);
}

static void string_value_length_absurd(corruption *c) {
    const gguf_layout_kv *e = kv(c, "general.name");
    put_u64(c, e->value_at, ABSURD_LENGTH);
    expect(c, "general.name at offset %llu: string length %llu runs past the end of the file", ull(e->value_at),
           ABSURD_LENGTH);
}

static void value_type_unknown(corruption *c) {
    const gguf_layout_kv *e = kv(c, "general.name");
    put_u32(c, e->type_at, 99);
    expect(c, "metadata 'general.name' at offset %llu: unknown value type 99 (GGUF defines 0..12)", ull(e->type_at));
}

static void array_element_type_unknown(corruption *c) {
    const gguf_layout_kv *e = kv(c, "tokenizer.ggml.token_type");
    put_u32(c, e->value_at, 99);
    expect(c, "metadata 'tokenizer.ggml.token_type' at offset %llu: unknown array element type 99", ull(e->value_at));
}

static void array_count_absurd(corruption *c) {
    const gguf_layout_kv *e = kv(c, "tokenizer.ggml.tokens");
    put_u64(c, e->value_at + ARRAY_COUNT_AT, ABSURD_LENGTH);
    expect(c, "metadata 'tokenizer.ggml.tokens' at offset %llu: array of %llu string elements cannot fit in the %llu bytes left",
           ull(e->value_at), ABSURD_LENGTH, ull(c->len - e->value_at - ARRAY_HEADER_BYTES));
}

static void key_empty(corruption *c) {
    const gguf_layout_kv *e = kv(c, "general.name");
    put_u64(c, e->at, 0);
    expect(c, "metadata entry %llu at offset %llu: empty name", ull(e->index), ull(e->at));
}

static void key_with_nul(corruption *c) {
    const gguf_layout_kv *e = kv(c, "general.name");
    c->bytes[e->key_at + 3] = '\0';
    expect(c, "metadata entry %llu at offset %llu: name contains a NUL byte", ull(e->index), ull(e->at));
}

/* bos_token_id becomes a second eos_token_id (same length, so nothing else moves). */
static void duplicate_key(corruption *c) {
    const gguf_layout_kv *e = kv(c, "tokenizer.ggml.bos_token_id");
    put_text(c, e->key_at + strlen("tokenizer.ggml."), "e");
    expect(c, "metadata key 'tokenizer.ggml.eos_token_id' appears more than once");
}

static void add_bool_2(snug_gguf_writer *w) {
    const uint8_t two = 2;
    cr_assert(snug_gguf_writer_raw(w, "tokenizer.ggml.add_bos_token", SNUG_GGUF_BOOL, &two, 1));
}

static void bool_not_0_or_1(corruption *c) {
    rebuild(c, (rebuild_options){.extend = add_bool_2});
    expect(c, "value of 'tokenizer.ggml.add_bos_token' at offset %llu: bool byte is 2, not 0 or 1",
           ull(kv(c, "tokenizer.ggml.add_bos_token")->value_at));
}

/* Arrays of arrays, one level deeper than the reader follows. */
static void add_nested_arrays(snug_gguf_writer *w) {
    enum { LEVELS = SNUG_GGUF_MAX_ARRAY_DEPTH + 1 };
    uint8_t value[LEVELS * ARRAY_HEADER_BYTES + ARRAY_HEADER_BYTES + 4] = {0};
    uint8_t *p = value;
    for (int level = 0; level <= LEVELS; level++, p += ARRAY_HEADER_BYTES) {
        p[0] = level < LEVELS ? SNUG_GGUF_ARRAY : SNUG_GGUF_UINT32; /* u32 element type, then u64 count = 1 */
        p[ARRAY_COUNT_AT] = 1;
    }
    cr_assert(snug_gguf_writer_raw(w, "snug.test.nested", SNUG_GGUF_ARRAY, value, sizeof value));
}

static void arrays_nested_too_deep(corruption *c) {
    rebuild(c, (rebuild_options){.extend = add_nested_arrays});
    expect(c, "metadata 'snug.test.nested' at offset %llu: arrays nested deeper than %u levels",
           ull(kv(c, "snug.test.nested")->value_at + SNUG_GGUF_MAX_ARRAY_DEPTH * ARRAY_HEADER_BYTES),
           SNUG_GGUF_MAX_ARRAY_DEPTH);
}

static void add_alignment_48(snug_gguf_writer *w) {
    cr_assert(snug_gguf_writer_u32(w, "general.alignment", 48));
}

static void alignment_not_power_of_two(corruption *c) {
    rebuild(c, (rebuild_options){.extend = add_alignment_48});
    expect(c, "general.alignment is 48, not a power of two");
}

static void add_alignment_u64(snug_gguf_writer *w) {
    cr_assert(snug_gguf_writer_u64(w, "general.alignment", 32));
}

static void alignment_wrong_type(corruption *c) {
    rebuild(c, (rebuild_options){.extend = add_alignment_u64});
    expect(c, "general.alignment has type u64, the specification requires u32");
}

/* ---- cases: tensor infos --------------------------------------------------------------------------------------- */

#define LAST_TENSOR "output.weight"

static void tensor_name_truncated(corruption *c) {
    const gguf_layout_tensor *t = tensor(c, LAST_TENSOR);
    cut(c, t->name_at + 4);
    expect(c, "tensor %llu name at offset %llu: string length %llu runs past the end of the file (4 bytes left)",
           ull(t->index), ull(t->at), ull(t->name_len));
}

static void tensor_n_dims_truncated(corruption *c) {
    const gguf_layout_tensor *t = tensor(c, LAST_TENSOR);
    cut(c, t->n_dims_at + 1);
    expect(c, "truncated file: tensor dimension count at offset %llu needs 4 bytes, 1 left", ull(t->n_dims_at));
}

static void tensor_dims_truncated(corruption *c) {
    const gguf_layout_tensor *t = tensor(c, LAST_TENSOR);
    cut(c, t->dims_at + 8 + 4);
    expect(c, "truncated file: tensor dimension at offset %llu needs 8 bytes, 4 left", ull(t->dims_at + 8));
}

static void tensor_type_truncated(corruption *c) {
    const gguf_layout_tensor *t = tensor(c, LAST_TENSOR);
    cut(c, t->type_at + 3);
    expect(c, "truncated file: tensor type at offset %llu needs 4 bytes, 3 left", ull(t->type_at));
}

static void tensor_offset_truncated(corruption *c) {
    const gguf_layout_tensor *t = tensor(c, LAST_TENSOR);
    cut(c, t->offset_at + 5);
    expect(c, "truncated file: tensor data offset at offset %llu needs 8 bytes, 5 left", ull(t->offset_at));
}

static void tensor_name_empty(corruption *c) {
    const gguf_layout_tensor *t = &c->layout.tensors[0];
    put_u64(c, t->at, 0);
    expect(c, "tensor 0 at offset %llu: empty name", ull(t->at));
}

static void tensor_name_too_long(corruption *c) {
    const gguf_layout_tensor *t = &c->layout.tensors[0];
    put_u64(c, t->at, SNUG_GGUF_MAX_TENSOR_NAME + 1);
    expect(c, "tensor 0 at offset %llu: name of %u bytes exceeds the limit of %u", ull(t->at),
           SNUG_GGUF_MAX_TENSOR_NAME + 1, SNUG_GGUF_MAX_TENSOR_NAME);
}

static void n_dims_7(corruption *c) {
    put_u32(c, tensor(c, "blk.0.attn_q.weight")->n_dims_at, 7);
    expect(c, "tensor 'blk.0.attn_q.weight': 7 dimensions (GGUF allows 1 to %d)", SNUG_MAX_DIMS);
}

static void n_dims_0(corruption *c) {
    put_u32(c, tensor(c, "blk.0.attn_q.weight")->n_dims_at, 0);
    expect(c, "tensor 'blk.0.attn_q.weight': 0 dimensions (GGUF allows 1 to %d)", SNUG_MAX_DIMS);
}

static void dimension_0(corruption *c) {
    put_u64(c, tensor(c, "blk.0.attn_k.weight")->dims_at + 8, 0);
    expect(c, "tensor 'blk.0.attn_k.weight': dimension 1 is 0");
}

static void element_count_overflows(corruption *c) {
    const gguf_layout_tensor *t = tensor(c, "blk.0.attn_q.weight");
    put_u64(c, t->dims_at, 1ull << 32);
    put_u64(c, t->dims_at + 8, 1ull << 32);
    expect(c, "tensor 'blk.0.attn_q.weight': element count overflows (dimension 1 is %llu)", 1ull << 32);
}

/* 2^62 elements fit an int64; 2^62 F32 values are 2^64 bytes, which do not fit a uint64. */
static void byte_size_overflows(corruption *c) {
    const gguf_layout_tensor *t = tensor(c, "blk.0.attn_q.weight");
    put_u64(c, t->dims_at, 1ull << 20);
    put_u64(c, t->dims_at + 8, 1ull << 42);
    expect(c, "tensor 'blk.0.attn_q.weight': byte size overflows");
}

static void tensor_type_200(corruption *c) {
    put_u32(c, tensor(c, "blk.0.attn_v.weight")->type_at, 200);
    expect(c, "tensor 'blk.0.attn_v.weight': unknown tensor type id 200");
}

/* An id inside ggml's range that names no type (31 was a Q4_0 repacking since removed). */
static void tensor_type_unassigned(corruption *c) {
    put_u32(c, tensor(c, "blk.0.attn_v.weight")->type_at, 31);
    expect(c, "tensor 'blk.0.attn_v.weight': unknown tensor type id 31");
}

static void row_not_whole_blocks(corruption *c) {
    put_u64(c, tensor(c, "blk.0.attn_q.weight")->dims_at, 48);
    expect(c, "tensor 'blk.0.attn_q.weight': row length 48 is not a multiple of the Q8_0 block size 32");
}

static void duplicate_tensor(corruption *c) {
    put_text(c, tensor(c, "blk.0.attn_k.weight")->name_at + strlen("blk.0.attn_"), "q");
    expect(c, "tensor 'blk.0.attn_q.weight' appears more than once");
}

/* ---- cases: tensor offsets, padding and data ------------------------------------------------------------------- */

static void offset_misaligned(corruption *c) {
    const gguf_layout_tensor *t = tensor(c, "blk.0.attn_norm.weight");
    put_u64(c, t->offset_at, t->offset + 4);
    expect(c, "tensor 'blk.0.attn_norm.weight': data offset %llu is not a multiple of the alignment %llu",
           ull(t->offset + 4), ull(c->layout.alignment));
}

static void offset_past_end(corruption *c) {
    const gguf_layout_tensor *t = tensor(c, "output_norm.weight");
    put_u64(c, t->offset_at, 1ull << 40);
    expect(c, "tensor 'output_norm.weight': data [%llu, %llu) past the data section start %llu ends beyond the end of "
              "the file (%zu bytes)",
           1ull << 40, (1ull << 40) + f32_bytes(t), ull(c->layout.data_at), c->len);
}

/* `info` accepts missing data, so it reaches the overflow check that `run` never gets to. */
static void offset_overflows(corruption *c) {
    const gguf_layout_tensor *t = tensor(c, "output_norm.weight");
    const uint64_t offset = UINT64_MAX - (c->layout.alignment - 1);
    put_u64(c, t->offset_at, offset);
    expect(c, "tensor 'output_norm.weight': data offset %llu + size %llu overflows", ull(offset), ull(f32_bytes(t)));
}

static void data_overlaps(corruption *c) {
    const gguf_layout_tensor *first = &c->layout.tensors[0], *second = &c->layout.tensors[1];
    put_u64(c, second->offset_at, c->layout.alignment);
    expect(c, "tensor '%s' (data [0, %llu)) overlaps tensor '%s' starting at %llu", first->name, ull(f32_bytes(first)),
           second->name, ull(c->layout.alignment));
}

static void padding_truncated(corruption *c) {
    cr_assert(c->layout.data_at - c->layout.infos_end >= 2, "the base model has no padding to cut inside");
    cut(c, c->layout.infos_end + 1);
    /* Cut before any tensor data: to `run` this is a header-only file, and it says so rather than blaming a tensor. */
    expect(c, "a header-only GGUF file: it lists %zu tensors but holds none of their data (the file ends at byte %zu)",
           (size_t)c->layout.n_tensors, c->len);
}

static void data_truncated(corruption *c) {
    const gguf_layout_tensor *last = tensor(c, LAST_TENSOR);
    uint64_t end = c->layout.data_at + last->offset + f32_bytes(last);
    cr_assert(end == c->len, "the last tensor does not end the file");
    cut(c, c->len - 100);
    expect(c, "tensor '%s': data [%llu, %llu) past the data section start %llu ends beyond the end of the file (%zu bytes)",
           LAST_TENSOR, ull(last->offset), ull(end - c->layout.data_at), ull(c->layout.data_at), c->len);
}

/* With an alignment of 1 (the writer records general.alignment = 1) every tensor is packed right after the infos: an
 * odd-sized extra entry leaves the F32 data off its 4-byte boundary (unaligned float loads would be undefined
 * behaviour). */
static void add_odd_entry(snug_gguf_writer *w) {
    const uint8_t pad = 0;
    cr_assert(snug_gguf_writer_raw(w, "snug.test.pad", SNUG_GGUF_UINT8, &pad, 1));
}

static void f32_data_unaligned(corruption *c) {
    rebuild(c, (rebuild_options){.alignment = 1, .extend = add_odd_entry});
    cr_assert(c->layout.alignment == 1, "the writer did not record general.alignment = 1");
    cr_assert(c->layout.data_at % sizeof(float) != 0, "the rebuilt data section is 4-byte aligned after all");
    expect(c, "tensor 'token_embd.weight': F32 data at file offset %llu is not 4-byte aligned",
           ull(c->layout.data_at + tensor(c, "token_embd.weight")->offset));
}

/* ---- cases: the model (architecture, hyper-parameters, tensors, vocabulary) ---------------------------------- */

/* The base model (snug_synth_default_params): vocabulary 320, embedding 64, 2 blocks, 4 heads of 16, 2 KV heads. */

static void architecture_missing(corruption *c) {
    rebuild(c, (rebuild_options){.drop_key = "general.architecture"});
    expect(c, "missing required metadata key 'general.architecture'");
}

static void architecture_unknown(corruption *c) {
    put_text(c, kv(c, "general.architecture")->value_at + 8, "bloom");
    expect(c, "unsupported architecture 'bloom' (snug runs: llama, mistral, qwen2, qwen3, phi3)");
}

static void required_key_missing(corruption *c) {
    rebuild(c, (rebuild_options){.drop_key = "llama.embedding_length"});
    expect(c, "missing required metadata key 'llama.embedding_length'");
}

static void key_wrong_type(corruption *c) {
    put_u32(c, kv(c, "llama.context_length")->type_at, SNUG_GGUF_FLOAT32);
    expect(c, "metadata key 'llama.context_length' has type f32, expected an integer");
}

static void key_zero(corruption *c) {
    put_u32(c, kv(c, "llama.context_length")->value_at, 0);
    expect(c, "metadata key 'llama.context_length' is 0, outside 1..");
}

static void block_count_beyond_tensors(corruption *c) {
    put_u32(c, kv(c, "llama.block_count")->value_at, 1000);
    expect(c, "metadata key 'llama.block_count' is 1000, outside 1..%llu", ull(c->layout.n_tensors));
}

static void head_count_not_dividing(corruption *c) {
    put_u32(c, kv(c, "llama.attention.head_count")->value_at, 5);
    expect(c, "attention.head_count 5 does not divide embedding_length 64");
}

static void head_count_kv_not_dividing(corruption *c) {
    put_u32(c, kv(c, "llama.attention.head_count_kv")->value_at, 3);
    expect(c, "attention.head_count_kv 3 does not divide attention.head_count 4");
}

static void rope_dimensions_odd(corruption *c) {
    put_u32(c, kv(c, "llama.rope.dimension_count")->value_at, 15);
    expect(c, "rope.dimension_count 15 must be even and at most the head size 16");
}

static void rms_epsilon_negative(corruption *c) {
    put_f32(c, kv(c, "llama.attention.layer_norm_rms_epsilon")->value_at, -1.0f);
    expect(c, "metadata key 'llama.attention.layer_norm_rms_epsilon' is -1, expected a positive finite number");
}

static void add_vocab_size_999(snug_gguf_writer *w) {
    cr_assert(snug_gguf_writer_u32(w, "llama.vocab_size", 999));
}

static void vocab_size_mismatch(corruption *c) {
    rebuild(c, (rebuild_options){.extend = add_vocab_size_999});
    expect(c, "llama.vocab_size is 999 but tokenizer.ggml.tokens has %llu entries",
           ull(kv(c, "tokenizer.ggml.tokens")->count));
}

static void tensor_wrong_shape(corruption *c) {
    put_u64(c, tensor(c, "blk.0.attn_q.weight")->dims_at + 8, 32);
    expect(c, "tensor 'blk.0.attn_q.weight' has shape [64, 32], expected [64, 64] from the hyper-parameters");
}

static void tensor_missing(corruption *c) {
    rebuild(c, (rebuild_options){.drop_tensor = "blk.1.ffn_down.weight"});
    expect(c, "missing tensor 'blk.1.ffn_down.weight' (the llama architecture needs it)");
}

static void add_third_block_tensor(snug_gguf_writer *w) {
    const uint64_t ne[2] = {64, 64};
    cr_assert(snug_gguf_writer_tensor(w, "blk.2.attn_q.weight", SNUG_TYPE_F32, 2, ne, NULL, 64 * 64 * sizeof(float)));
}

static void tensor_unexpected(corruption *c) {
    rebuild(c, (rebuild_options){.extend = add_third_block_tensor});
    expect(c, "tensor 'blk.2.attn_q.weight' is not part of the llama architecture with 2 blocks (refusing to ignore it)");
}

/* IQ4_NL (id 20) is a valid GGUF type with 32-element blocks, like Q8_0; snug has no kernel for it. */
static void weight_type_unsupported(corruption *c) {
    put_u32(c, tensor(c, "blk.0.attn_q.weight")->type_at, 20);
    expect(c, "tensor 'blk.0.attn_q.weight' has type IQ4_NL, which snug cannot compute yet");
}

static void norm_not_f32(corruption *c) {
    put_u32(c, tensor(c, "blk.0.attn_norm.weight")->type_at, SNUG_TYPE_F16);
    expect(c, "tensor 'blk.0.attn_norm.weight' has type F16; snug expects F32 for norm weights");
}

static void tokenizer_missing(corruption *c) {
    rebuild(c, (rebuild_options){.drop_key = "tokenizer.ggml.model"});
    expect(c, "tokenizer.ggml.model is missing: the file has no tokenizer");
}

static void tokenizer_unsupported(corruption *c) {
    put_text(c, kv(c, "tokenizer.ggml.model")->value_at + 8, "gpt-2");
    expect(c, "unsupported tokenizer: tokenizer.ggml.model is \"gpt-2\"");
}

static void add_short_scores(snug_gguf_writer *w) {
    static const float scores[319];
    cr_assert(snug_gguf_writer_f32s(w, "tokenizer.ggml.scores", scores, 319));
}

static void scores_count_mismatch(corruption *c) {
    rebuild(c, (rebuild_options){.drop_key = "tokenizer.ggml.scores", .extend = add_short_scores});
    expect(c, "tokenizer.ggml.scores has 319 elements but tokenizer.ggml.tokens has %llu: they must match",
           ull(kv(c, "tokenizer.ggml.tokens")->count));
}

static void token_type_invalid(corruption *c) {
    put_u32(c, kv(c, "tokenizer.ggml.token_type")->value_at + ARRAY_HEADER_BYTES + 300 * 4, 9);
    expect(c, "tokenizer.ggml.token_type[300] is 9; token types are 1 (normal) to 6 (byte)");
}

/* Token 3 is the byte token <0x00> in the synthetic vocabulary. */
static void byte_token_malformed(corruption *c) {
    uint64_t at = string_element_at(c, kv(c, "tokenizer.ggml.tokens"), 3);
    cr_assert(memcmp(c->bytes + at + 8, "<0x00>", 6) == 0, "token 3 of the base model is not <0x00>");
    put_text(c, at + 8, "<0xZZ>");
    expect(c, "token 3 is of type byte (6 in tokenizer.ggml.token_type) but its text \"<0xZZ>\" (6 bytes) is not of the "
              "form <0xHH>");
}

static void score_nan(corruption *c) {
    put_f32(c, kv(c, "tokenizer.ggml.scores")->value_at + ARRAY_HEADER_BYTES + 7 * 4, NAN);
    expect(c, "tokenizer.ggml.scores[7] is NaN");
}

static void bos_id_out_of_range(corruption *c) {
    put_u32(c, kv(c, "tokenizer.ggml.bos_token_id")->value_at, 1000);
    expect(c, "tokenizer.ggml.bos_token_id is 1000, outside the vocabulary of %llu tokens",
           ull(kv(c, "tokenizer.ggml.tokens")->count));
}

/* ---- the corpus ------------------------------------------------------------------------------------------------ */

static const malformed_case cases[] = {
    /* header */
    {"empty file", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, empty_file},
    {"header truncated", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, header_truncated},
    {"bad magic", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, bad_magic},
    {"version 1", BASE_F32, CMD_BOTH, SNUG_E_UNSUPPORTED, version_1},
    {"version 99", BASE_F32, CMD_BOTH, SNUG_E_UNSUPPORTED, version_99},
    {"tensor count 2^60", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, tensor_count_absurd},
    {"metadata count 2^60", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, kv_count_absurd},
    {"truncated inside the first key", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, first_key_truncated},
    /* metadata */
    {"truncated inside a key length", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, key_length_truncated},
    {"truncated inside a key", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, key_truncated},
    {"truncated inside a value type", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, value_type_truncated},
    {"truncated inside a value", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, value_truncated},
    {"truncated inside an array header", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, array_header_truncated},
    {"truncated inside an array body", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, array_body_truncated},
    {"truncated inside a string element", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, string_element_truncated},
    {"key length 2^62", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, key_length_absurd},
    {"string value length 2^62", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, string_value_length_absurd},
    {"value type 99", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, value_type_unknown},
    {"array element type 99", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, array_element_type_unknown},
    {"array count 2^62", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, array_count_absurd},
    {"empty key", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, key_empty},
    {"NUL inside a key", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, key_with_nul},
    {"duplicate key", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, duplicate_key},
    {"bool value 2", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, bool_not_0_or_1},
    {"arrays nested too deep", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, arrays_nested_too_deep},
    {"alignment 48", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, alignment_not_power_of_two},
    {"alignment of type u64", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, alignment_wrong_type},
    /* tensor infos */
    {"truncated inside a tensor name", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, tensor_name_truncated},
    {"truncated inside n_dims", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, tensor_n_dims_truncated},
    {"truncated inside the dimensions", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, tensor_dims_truncated},
    {"truncated inside a tensor type", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, tensor_type_truncated},
    {"truncated inside a tensor offset", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, tensor_offset_truncated},
    {"empty tensor name", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, tensor_name_empty},
    {"tensor name too long", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, tensor_name_too_long},
    {"n_dims 7", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, n_dims_7},
    {"n_dims 0", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, n_dims_0},
    {"dimension of 0", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, dimension_0},
    {"element count overflow", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, element_count_overflows},
    {"byte size overflow", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, byte_size_overflows},
    {"tensor type 200", BASE_F32, CMD_BOTH, SNUG_E_UNSUPPORTED, tensor_type_200},
    {"tensor type 31 (unassigned)", BASE_F32, CMD_BOTH, SNUG_E_UNSUPPORTED, tensor_type_unassigned},
    {"Q8_0 row of 48", BASE_Q8_0, CMD_BOTH, SNUG_E_FORMAT, row_not_whole_blocks},
    {"duplicate tensor", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, duplicate_tensor},
    /* tensor offsets, padding and data */
    {"misaligned tensor offset", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, offset_misaligned},
    {"tensor offset past the end", BASE_F32, CMD_RUN, SNUG_E_FORMAT, offset_past_end},
    {"tensor offset overflows", BASE_F32, CMD_INFO, SNUG_E_FORMAT, offset_overflows},
    {"overlapping tensor data", BASE_F32, CMD_BOTH, SNUG_E_FORMAT, data_overlaps},
    {"truncated inside the padding", BASE_F32, CMD_RUN, SNUG_E_FORMAT, padding_truncated},
    {"truncated inside the data", BASE_F32, CMD_RUN, SNUG_E_FORMAT, data_truncated},
    {"unaligned F32 data", BASE_F32, CMD_RUN, SNUG_E_FORMAT, f32_data_unaligned},
    /* the model */
    {"missing architecture", BASE_F32, CMD_RUN, SNUG_E_FORMAT, architecture_missing},
    {"unknown architecture", BASE_F32, CMD_RUN, SNUG_E_UNSUPPORTED, architecture_unknown},
    {"missing required key", BASE_F32, CMD_RUN, SNUG_E_FORMAT, required_key_missing},
    {"key of the wrong type", BASE_F32, CMD_RUN, SNUG_E_FORMAT, key_wrong_type},
    {"context length 0", BASE_F32, CMD_RUN, SNUG_E_FORMAT, key_zero},
    {"block count beyond the tensors", BASE_F32, CMD_RUN, SNUG_E_FORMAT, block_count_beyond_tensors},
    {"n_head not dividing n_embd", BASE_F32, CMD_RUN, SNUG_E_FORMAT, head_count_not_dividing},
    {"n_head_kv not dividing n_head", BASE_F32, CMD_RUN, SNUG_E_FORMAT, head_count_kv_not_dividing},
    {"odd RoPE dimensions", BASE_F32, CMD_RUN, SNUG_E_FORMAT, rope_dimensions_odd},
    {"negative RMS epsilon", BASE_F32, CMD_RUN, SNUG_E_FORMAT, rms_epsilon_negative},
    {"vocab_size mismatch", BASE_F32, CMD_RUN, SNUG_E_FORMAT, vocab_size_mismatch},
    {"wrong tensor shape", BASE_F32, CMD_RUN, SNUG_E_FORMAT, tensor_wrong_shape},
    {"missing tensor", BASE_F32, CMD_RUN, SNUG_E_FORMAT, tensor_missing},
    {"unexpected tensor", BASE_F32, CMD_RUN, SNUG_E_UNSUPPORTED, tensor_unexpected},
    {"unsupported weight type", BASE_F32, CMD_RUN, SNUG_E_UNSUPPORTED, weight_type_unsupported},
    {"F16 norm weights", BASE_F32, CMD_RUN, SNUG_E_UNSUPPORTED, norm_not_f32},
    {"missing tokenizer", BASE_F32, CMD_RUN, SNUG_E_FORMAT, tokenizer_missing},
    {"unsupported tokenizer", BASE_F32, CMD_RUN, SNUG_E_UNSUPPORTED, tokenizer_unsupported},
    {"scores count mismatch", BASE_F32, CMD_RUN, SNUG_E_FORMAT, scores_count_mismatch},
    {"token type 9", BASE_F32, CMD_RUN, SNUG_E_FORMAT, token_type_invalid},
    {"malformed byte token", BASE_F32, CMD_RUN, SNUG_E_FORMAT, byte_token_malformed},
    {"NaN score", BASE_F32, CMD_RUN, SNUG_E_FORMAT, score_nan},
    {"BOS id out of range", BASE_F32, CMD_RUN, SNUG_E_FORMAT, bos_id_out_of_range},
};

enum { CASE_COUNT = sizeof cases / sizeof cases[0] };
_Static_assert(CASE_COUNT >= 25, "the issue asks for at least 20 distinct corruptions; the brief for 25");

/* ---- running a case -------------------------------------------------------------------------------------------- */

/* Writes the valid base model (once per test process) and returns its path (test_tmp_path's static buffer). */
static const char *base_path(base_model base) {
    snug_synth_params p = snug_synth_default_params();
    const char *name = BASE_F32_FILE;
    if (base == BASE_Q8_0) {
        p.weight_type = SNUG_TYPE_Q8_0;
        name = BASE_Q8_0_FILE;
    }
    const char *path = test_tmp_path(name);
    if (access(path, R_OK) != 0) {
        snug_error err = {0};
        cr_assert(snug_synth_write(path, &p, &err) == SNUG_OK, "cannot write the base model: %s", err.message);
    }
    return path;
}

/* Makes case `i`: its corrupted file at c->path and its expected message. */
static void make_case(size_t i, corruption *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->base_path, sizeof c->base_path, "%s", base_path(cases[i].base));
    snprintf(c->path, sizeof c->path, "%s", test_tmp_path(CASE_FILE));
    load_file(c, c->base_path);
    cases[i].make(c);
    cr_assert(c->expect[0] != '\0', "case '%s' states no expected message", cases[i].name);
    cr_assert(test_write_file(c->path, c->bytes, c->len) == 0, "cannot write %s", c->path);
}

static void free_case(corruption *c) {
    free(c->bytes);
    gguf_layout_free(&c->layout);
}

static void remove_files(void) {
    unlink(test_tmp_path(BASE_F32_FILE));
    unlink(test_tmp_path(BASE_Q8_0_FILE));
    unlink(test_tmp_path(CASE_FILE));
    rmdir(test_tmp_path(""));
}

/* What every run must avoid whatever the input: a signal, a sanitizer report, text on stdout. */
static void assert_clean_failure(const char *name, const char *command, const test_run_result *r) {
    cr_assert(r->exit_code < 128, "%s: `snug %s` died of signal %d\nstderr: %s", name, command, r->exit_code - 128,
              r->err);
    cr_assert(strstr(r->err, "AddressSanitizer") == NULL && strstr(r->err, "LeakSanitizer") == NULL &&
                  strstr(r->err, "runtime error") == NULL,
              "%s: `snug %s` tripped a sanitizer:\n%s", name, command, r->err);
    cr_assert(r->out_len == 0, "%s: `snug %s` wrote to stdout: %s", name, command, r->out);
}

static test_run_result run_command(unsigned command, const char *path) {
    const char *bin = test_snug_bin();
    if (command == CMD_RUN) {
        const char *argv[] = {bin, "run", path, "-n", "1", "--temp", "0", NULL};
        return test_run(argv);
    }
    const char *argv[] = {bin, "info", path, NULL};
    return test_run(argv);
}

/* ---- tests ----------------------------------------------------------------------------------------------------- */

ParameterizedTestParameters(malformed, corpus) {
    static size_t indices[CASE_COUNT];
    for (size_t i = 0; i < CASE_COUNT; i++) indices[i] = i;
    return cr_make_param_array(size_t, indices, CASE_COUNT);
}

/* Each corruption: exit code 2, the error class and the expected message (naming the file) on stderr, nothing on
 * stdout, no signal, no sanitizer report — for `snug run` and, where the file is not even valid GGUF, `snug info`. */
ParameterizedTest(size_t *index, malformed, corpus, .fini = remove_files) {
    const malformed_case *mc = &cases[*index];
    corruption c;
    make_case(*index, &c);
    char error_class[sizeof c.path + 64];
    snprintf(error_class, sizeof error_class, "snug: error (%s): %s: ", snug_status_name(mc->status), c.path);
    for (unsigned command = CMD_RUN; command <= CMD_INFO; command <<= 1) {
        if (!(mc->commands & command)) continue;
        const char *command_name = command == CMD_RUN ? "run" : "info";
        test_run_result r = run_command(command, c.path);
        assert_clean_failure(mc->name, command_name, &r);
        cr_expect(r.exit_code == SNUG_EXIT_BAD_INPUT, "%s: `snug %s` exited with %d, expected %d\nstderr: %s",
                  mc->name, command_name, r.exit_code, SNUG_EXIT_BAD_INPUT, r.err);
        cr_expect(strstr(r.err, error_class) != NULL, "%s: `snug %s` stderr lacks \"%s\":\n%s", mc->name, command_name,
                  error_class, r.err);
        cr_expect(strstr(r.err, c.expect) != NULL, "%s: `snug %s` stderr lacks\n  \"%s\"\ngot:\n  %s", mc->name,
                  command_name, c.expect, r.err);
        test_run_free(&r);
    }
    free_case(&c);
}

/* Each corruption has a message of its own: no two cases expect the same text. */
Test(malformed, expected_messages_are_distinct, .fini = remove_files) {
    static char expected[CASE_COUNT][SNUG_ERROR_MESSAGE_BYTES];
    for (size_t i = 0; i < CASE_COUNT; i++) {
        corruption c;
        make_case(i, &c);
        memcpy(expected[i], c.expect, sizeof c.expect);
        free_case(&c);
        for (size_t j = 0; j < i; j++) {
            cr_expect(strcmp(expected[i], expected[j]) != 0, "cases '%s' and '%s' expect the same message \"%s\"",
                      cases[j].name, cases[i].name, expected[i]);
        }
    }
}

/* The corpus starts from good files: each base model runs and shows. */
Test(malformed, valid_bases_run_and_show, .fini = remove_files) {
    const base_model bases[] = {BASE_F32, BASE_Q8_0};
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        char path[4096];
        snprintf(path, sizeof path, "%s", base_path(bases[b]));
        for (unsigned command = CMD_RUN; command <= CMD_INFO; command <<= 1) {
            test_run_result r = run_command(command, path);
            cr_expect(r.exit_code == SNUG_EXIT_OK, "`snug %s %s` exited with %d\nstderr: %s",
                      command == CMD_RUN ? "run" : "info", path, r.exit_code, r.err);
            cr_expect(strstr(r.err, "AddressSanitizer") == NULL && strstr(r.err, "runtime error") == NULL, "%s", r.err);
            test_run_free(&r);
        }
    }
}

/* `info` is the one command that accepts a file cut inside its tensor data: it reports the data as missing. */
Test(malformed, info_accepts_missing_data, .fini = remove_files) {
    corruption c = {0};
    snprintf(c.base_path, sizeof c.base_path, "%s", base_path(BASE_F32));
    snprintf(c.path, sizeof c.path, "%s", test_tmp_path(CASE_FILE));
    load_file(&c, c.base_path);
    cut(&c, c.len - 100);
    cr_assert(test_write_file(c.path, c.bytes, c.len) == 0);
    test_run_result r = run_command(CMD_INFO, c.path);
    cr_expect(r.exit_code == SNUG_EXIT_OK, "`snug info` exited with %d\nstderr: %s", r.exit_code, r.err);
    cr_expect(strstr(r.out, "(tensor data missing)") != NULL, "stdout: %s", r.out);
    test_run_free(&r);
    free_case(&c);
}
