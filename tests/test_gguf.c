/* test_gguf.c — writer → reader round trips: every metadata value type, nested arrays, v2 and v3, alignments,
 * header-only files; and the typed accessors' refusals.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gguf/writer.h"
#include "snug.h"
#include "support/support.h"

static snug_gguf *write_and_open(snug_gguf_writer *w, const char *name, bool header_only, unsigned flags) {
    char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path(name));
    snug_error err = {0};
    cr_assert_eq(snug_gguf_writer_write(w, path, header_only, &err), SNUG_OK, "%s", err.message);
    snug_gguf_writer_free(w);
    snug_gguf *g;
    cr_assert_eq(snug_gguf_open(path, flags, &g, &err), SNUG_OK, "%s", err.message);
    return g;
}

static int64_t key(const snug_gguf *g, const char *name) {
    int64_t i = snug_gguf_find_key(g, name);
    cr_assert_geq(i, 0, "key %s missing", name);
    return i;
}

static void round_trip_all_value_types(uint32_t version, uint32_t alignment) {
    snug_gguf_writer *w = snug_gguf_writer_create(version, alignment);
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int64_t i64 = -(1ll << 40);
    double f64 = 3.141592653589793;
    uint64_t huge = UINT64_MAX;
    cr_assert(snug_gguf_writer_raw(w, "t.u8", SNUG_GGUF_UINT8, &u8, 1));
    cr_assert(snug_gguf_writer_raw(w, "t.i8", SNUG_GGUF_INT8, &i8, 1));
    cr_assert(snug_gguf_writer_raw(w, "t.u16", SNUG_GGUF_UINT16, &u16, 2));
    cr_assert(snug_gguf_writer_raw(w, "t.i16", SNUG_GGUF_INT16, &i16, 2));
    cr_assert(snug_gguf_writer_u32(w, "t.u32", 4000000000u));
    cr_assert(snug_gguf_writer_i32(w, "t.i32", -2000000000));
    cr_assert(snug_gguf_writer_f32(w, "t.f32", 0.5f));
    cr_assert(snug_gguf_writer_bool(w, "t.bool", true));
    cr_assert(snug_gguf_writer_string(w, "t.string", "héllo"));
    cr_assert(snug_gguf_writer_u64(w, "t.u64", huge));
    cr_assert(snug_gguf_writer_raw(w, "t.i64", SNUG_GGUF_INT64, &i64, 8));
    cr_assert(snug_gguf_writer_raw(w, "t.f64", SNUG_GGUF_FLOAT64, &f64, 8));
    const char *words[] = {"a", "", "ccc"};
    cr_assert(snug_gguf_writer_strings(w, "t.strings", words, 3));
    float floats[] = {1.5f, -2.5f};
    cr_assert(snug_gguf_writer_f32s(w, "t.floats", floats, 2));
    int32_t ints[] = {7, -8, 9};
    cr_assert(snug_gguf_writer_i32s(w, "t.ints", ints, 3));
    /* A nested array: [[1, 2], []] of u8, encoded by hand (elem type ARRAY, count 2, then two arrays). */
    uint8_t nested[4 + 8 + (4 + 8 + 2) + (4 + 8)] = {0};
    uint32_t array_type = SNUG_GGUF_ARRAY, u8_type = SNUG_GGUF_UINT8;
    uint64_t two = 2, zero = 0;
    uint8_t *p = nested;
    memcpy(p, &array_type, 4), p += 4;
    memcpy(p, &two, 8), p += 8;
    memcpy(p, &u8_type, 4), p += 4;
    memcpy(p, &two, 8), p += 8;
    *p++ = 1;
    *p++ = 2;
    memcpy(p, &u8_type, 4), p += 4;
    memcpy(p, &zero, 8), p += 8;
    cr_assert(snug_gguf_writer_raw(w, "t.nested", SNUG_GGUF_ARRAY, nested, sizeof nested));
    float weights[3 * 32];
    for (int i = 0; i < 96; i++) weights[i] = (float)i;
    uint64_t ne[2] = {32, 3}, ne1[1] = {5};
    cr_assert(snug_gguf_writer_tensor(w, "w", SNUG_TYPE_F32, 2, ne, weights, sizeof weights));
    cr_assert(snug_gguf_writer_tensor(w, "v", SNUG_TYPE_F32, 1, ne1, weights, 20));

    char name[64];
    snprintf(name, sizeof name, "all-v%u-a%u.gguf", version, alignment);
    snug_gguf *g = write_and_open(w, name, false, 0);
    cr_assert_eq(snug_gguf_version(g), version);
    cr_assert_eq(snug_gguf_alignment(g), alignment);
    cr_assert_eq(snug_gguf_kv_count(g), 16 + (alignment != 32), "the writer adds general.alignment when not 32");
    int64_t v;
    double d;
    bool b;
    const char *s;
    uint64_t len;
    cr_assert(snug_gguf_kv_get_i64(g, (uint64_t)key(g, "t.u8"), &v) && v == 200);
    cr_assert(snug_gguf_kv_get_i64(g, (uint64_t)key(g, "t.i8"), &v) && v == -100);
    cr_assert(snug_gguf_kv_get_i64(g, (uint64_t)key(g, "t.u16"), &v) && v == 60000);
    cr_assert(snug_gguf_kv_get_i64(g, (uint64_t)key(g, "t.i16"), &v) && v == -30000);
    cr_assert(snug_gguf_kv_get_i64(g, (uint64_t)key(g, "t.u32"), &v) && v == 4000000000ll);
    cr_assert(snug_gguf_kv_get_i64(g, (uint64_t)key(g, "t.i32"), &v) && v == -2000000000);
    cr_assert(snug_gguf_kv_get_f64(g, (uint64_t)key(g, "t.f32"), &d) && d == 0.5);
    cr_assert(snug_gguf_kv_get_bool(g, (uint64_t)key(g, "t.bool"), &b) && b);
    cr_assert(snug_gguf_kv_get_string(g, (uint64_t)key(g, "t.string"), &s, &len) && len == 6 && !memcmp(s, "héllo", 6));
    cr_assert(!snug_gguf_kv_get_i64(g, (uint64_t)key(g, "t.u64"), &v), "u64 above INT64_MAX must not read as int64");
    cr_assert(snug_gguf_kv_get_f64(g, (uint64_t)key(g, "t.u64"), &d) == false || d > 1e19);
    cr_assert(snug_gguf_kv_get_i64(g, (uint64_t)key(g, "t.i64"), &v) && v == i64);
    cr_assert(snug_gguf_kv_get_f64(g, (uint64_t)key(g, "t.f64"), &d) && d == f64);
    cr_assert(!snug_gguf_kv_get_string(g, (uint64_t)key(g, "t.i32"), &s, &len), "type mismatch must be refused");
    cr_assert(!snug_gguf_kv_get_bool(g, (uint64_t)key(g, "t.u8"), &b));
    snug_gguf_value_type et;
    uint64_t count;
    cr_assert(snug_gguf_kv_get_array(g, (uint64_t)key(g, "t.strings"), &et, &count) && et == SNUG_GGUF_STRING && count == 3);
    cr_assert(snug_gguf_kv_array_string(g, (uint64_t)key(g, "t.strings"), 2, &s, &len) && len == 3 && !memcmp(s, "ccc", 3));
    cr_assert(snug_gguf_kv_array_string(g, (uint64_t)key(g, "t.strings"), 1, &s, &len) && len == 0);
    cr_assert(!snug_gguf_kv_array_string(g, (uint64_t)key(g, "t.strings"), 3, &s, &len), "index past the end");
    cr_assert(snug_gguf_kv_array_f64(g, (uint64_t)key(g, "t.floats"), 1, &d) && d == -2.5);
    cr_assert(snug_gguf_kv_array_i64(g, (uint64_t)key(g, "t.ints"), 1, &v) && v == -8);
    cr_assert(snug_gguf_kv_get_array(g, (uint64_t)key(g, "t.nested"), &et, &count) && et == SNUG_GGUF_ARRAY && count == 2);

    cr_assert_eq(snug_gguf_tensor_count(g), 2);
    const snug_tensor_info *t = snug_gguf_find_tensor(g, "w");
    cr_assert_not_null(t);
    cr_assert_eq(t->ne[0], 32);
    cr_assert_eq(t->ne[1], 3);
    cr_assert_eq(t->bytes, sizeof weights);
    cr_assert_eq(memcmp(t->data, weights, sizeof weights), 0);
    cr_assert_eq((snug_gguf_data_offset(g) + t->offset) % alignment, 0);
    const snug_tensor_info *t2 = snug_gguf_find_tensor(g, "v");
    cr_assert_eq(t2->offset % alignment, 0);
    cr_assert_eq(memcmp(t2->data, weights, 20), 0);
    cr_assert_null(snug_gguf_find_tensor(g, "nope"));
    snug_gguf_close(g);
}

Test(gguf, v3_default_alignment) { round_trip_all_value_types(3, 32); }
Test(gguf, v2_alignment_64) { round_trip_all_value_types(2, 64); }
Test(gguf, v3_alignment_1) { round_trip_all_value_types(3, 1); }

Test(gguf, header_only_needs_the_flag) {
    snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
    uint64_t ne[2] = {1024, 1024};
    cr_assert(snug_gguf_writer_tensor(w, "big", SNUG_TYPE_F16, 2, ne, NULL, 2 * 1024 * 1024));
    char path[4096];
    snprintf(path, sizeof path, "%s", test_tmp_path("header.gguf"));
    snug_error err = {0};
    cr_assert_eq(snug_gguf_writer_write(w, path, true, &err), SNUG_OK);
    snug_gguf_writer_free(w);
    snug_gguf *g;
    cr_assert_eq(snug_gguf_open(path, 0, &g, &err), SNUG_E_FORMAT);
    cr_assert_not_null(strstr(err.message, "beyond the end of the file"), "%s", err.message);
    cr_assert_eq(snug_gguf_open(path, SNUG_GGUF_ALLOW_MISSING_DATA, &g, &err), SNUG_OK, "%s", err.message);
    cr_assert(!snug_gguf_data_complete(g));
    cr_assert_null(snug_gguf_tensor(g, 0)->data);
    cr_assert_eq(snug_gguf_tensor(g, 0)->bytes, 2 * 1024 * 1024);
    snug_gguf_close(g);
}

Test(gguf, real_vocabulary_files_open) {
    const char *files[] = {"models/ggml-vocab-llama-spm.gguf", "models/ggml-vocab-gpt-2.gguf",
                           "models/ggml-vocab-phi-3.gguf", "models/stories260K.gguf"};
    for (size_t i = 0; i < 4; i++) {
        const char *path = test_shared_file(files[i]);
        snug_gguf *g;
        snug_error err = {0};
        cr_assert_eq(snug_gguf_open(path, 0, &g, &err), SNUG_OK, "%s", err.message);
        cr_assert_eq(snug_gguf_version(g), 3);
        snug_gguf_close(g);
    }
    /* SOURCES.md: stories260K has 19 KV pairs, 48 tensors, data at byte 14176. */
    snug_gguf *g;
    cr_assert_eq(snug_gguf_open(test_shared_file("models/stories260K.gguf"), 0, &g, NULL), SNUG_OK);
    cr_assert_eq(snug_gguf_kv_count(g), 19);
    cr_assert_eq(snug_gguf_tensor_count(g), 48);
    cr_assert_eq(snug_gguf_data_offset(g), 14176);
    snug_gguf_close(g);
}

Test(gguf, missing_file_is_an_io_error) {
    snug_gguf *g;
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open("/nonexistent/model.gguf", 0, &g, &err), SNUG_E_IO);
    cr_assert_not_null(strstr(err.message, "/nonexistent/model.gguf"));
    cr_assert_eq(snug_gguf_open("/tmp", 0, &g, &err), SNUG_E_IO);
}
