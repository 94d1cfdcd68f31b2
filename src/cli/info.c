/* info.c — `snug info`: a GGUF file's metadata and tensor table, as text or JSON (jansson).
 *
 * Reads only through the public GGUF accessors, so it works on any valid GGUF file: full models, vocabulary-only
 * files, header-only files (tensor data missing is reported, not an error here).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Arrays longer than this show their first elements only (tokenizer vocabularies have 10^5 entries). */
#define INFO_ARRAY_PREVIEW 8

static const char *const value_type_names[SNUG_GGUF_VALUE_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

static const char *value_type_name(snug_gguf_value_type t) {
    return (unsigned)t < SNUG_GGUF_VALUE_TYPE_COUNT ? value_type_names[t] : "?";
}

static bool is_float_type(snug_gguf_value_type t) { return t == SNUG_GGUF_FLOAT32 || t == SNUG_GGUF_FLOAT64; }

/* A JSON string of raw file bytes: as is when they are valid UTF-8, else with each byte outside printable ASCII
 * written as \xNN (GGUF strings should be UTF-8, but a damaged file must still print as valid JSON). */
static json_t *json_text(const char *s, size_t len) {
    json_t *valid = json_stringn(s, len);
    if (valid) return valid;
    char *escaped = malloc(len * 4 + 1);
    if (!escaped) return json_null();
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            escaped[n++] = (char)c;
        else
            n += (size_t)snprintf(escaped + n, 5, "\\x%02x", c);
    }
    json_t *out = json_stringn(escaped, n);
    free(escaped);
    return out ? out : json_null();
}

/* JSON value of metadata entry i (arrays: {"type", "length", "head"}). */
static json_t *kv_json(const snug_gguf *g, uint64_t i) {
    snug_gguf_value_type t = snug_gguf_kv_type(g, i);
    int64_t iv;
    double fv;
    bool bv;
    const char *s;
    uint64_t len;
    if (t == SNUG_GGUF_STRING && snug_gguf_kv_get_string(g, i, &s, &len)) return json_text(s, (size_t)len);
    if (t == SNUG_GGUF_BOOL && snug_gguf_kv_get_bool(g, i, &bv)) return json_boolean(bv);
    if (is_float_type(t) && snug_gguf_kv_get_f64(g, i, &fv)) return json_real(fv);
    if (snug_gguf_kv_get_i64(g, i, &iv)) return json_integer(iv);
    if (snug_gguf_kv_get_f64(g, i, &fv)) return json_real(fv); /* u64 above INT64_MAX */
    snug_gguf_value_type et;
    uint64_t count;
    if (!snug_gguf_kv_get_array(g, i, &et, &count)) return json_null();
    json_t *head = json_array();
    for (uint64_t e = 0; e < count && e < INFO_ARRAY_PREVIEW; e++) {
        if (et == SNUG_GGUF_STRING && snug_gguf_kv_array_string(g, i, e, &s, &len)) {
            json_array_append_new(head, json_text(s, (size_t)len));
        } else if (!is_float_type(et) && snug_gguf_kv_array_i64(g, i, e, &iv)) {
            json_array_append_new(head, json_integer(iv));
        } else if (snug_gguf_kv_array_f64(g, i, e, &fv)) {
            json_array_append_new(head, json_real(fv));
        } else {
            json_array_append_new(head, json_null()); /* nested arrays are summarised by type and length */
        }
    }
    return json_pack("{s:s, s:I, s:o}", "type", value_type_name(et), "length", (json_int_t)count, "head", head);
}

static void print_kv_text(const snug_gguf *g, uint64_t i) {
    json_t *v = kv_json(g, i);
    char *dumped = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII);
    snug_gguf_value_type t = snug_gguf_kv_type(g, i);
    printf("  %-44s %-6s %s\n", snug_gguf_kv_key(g, i), value_type_name(t), dumped ? dumped : "?");
    free(dumped);
    json_decref(v);
}

static void shape_text(const snug_tensor_info *t, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && n > 0 && (size_t)n < cap; d++) {
        n += snprintf(buf + n, cap - (size_t)n, d ? ", %llu" : "%llu", (unsigned long long)t->ne[d]);
    }
    if (n > 0 && (size_t)n < cap) snprintf(buf + n, cap - (size_t)n, "]");
}

static int print_json(const char *path, const snug_gguf *g) {
    json_t *root = json_object();
    json_object_set_new(root, "file", json_string(path));
    json_object_set_new(root, "version", json_integer(snug_gguf_version(g)));
    json_object_set_new(root, "file_bytes", json_integer((json_int_t)snug_gguf_file_bytes(g)));
    json_object_set_new(root, "alignment", json_integer(snug_gguf_alignment(g)));
    json_object_set_new(root, "data_offset", json_integer((json_int_t)snug_gguf_data_offset(g)));
    json_object_set_new(root, "data_complete", json_boolean(snug_gguf_data_complete(g)));
    json_t *meta = json_object();
    for (uint64_t i = 0; i < snug_gguf_kv_count(g); i++) {
        const char *key = snug_gguf_kv_key(g, i);
        json_t *key_text = json_text(key, strlen(key));
        json_object_set_new(meta, json_is_string(key_text) ? json_string_value(key_text) : "?", kv_json(g, i));
        json_decref(key_text);
    }
    json_object_set_new(root, "metadata", meta);
    json_t *tensors = json_array();
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(g, i);
        json_t *shape = json_array();
        for (uint32_t d = 0; d < t->n_dims; d++) json_array_append_new(shape, json_integer((json_int_t)t->ne[d]));
        const char *type = snug_type_name(t->type);
        json_array_append_new(tensors, json_pack("{s:s, s:s, s:o, s:I, s:I}", "name", t->name, "type",
                                                 type ? type : "?", "shape", shape, "bytes", (json_int_t)t->bytes,
                                                 "offset", (json_int_t)t->offset));
    }
    json_object_set_new(root, "tensors", tensors);
    /* Rendered whole before printing: a failure must not leave half a document on stdout. */
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(root);
    if (!text) {
        fprintf(stderr, "snug: error: could not render %s as JSON\n", path);
        return SNUG_EXIT_FAILURE;
    }
    printf("%s\n", text);
    free(text);
    return SNUG_EXIT_OK;
}

static void print_text(const char *path, const snug_gguf *g) {
    printf("%s: GGUF v%u, %llu bytes, alignment %u, data at %llu%s\n", path, snug_gguf_version(g),
           (unsigned long long)snug_gguf_file_bytes(g), snug_gguf_alignment(g),
           (unsigned long long)snug_gguf_data_offset(g), snug_gguf_data_complete(g) ? "" : " (tensor data missing)");
    printf("\nmetadata (%llu):\n", (unsigned long long)snug_gguf_kv_count(g));
    for (uint64_t i = 0; i < snug_gguf_kv_count(g); i++) print_kv_text(g, i);
    printf("\ntensors (%llu):\n", (unsigned long long)snug_gguf_tensor_count(g));
    if (snug_gguf_tensor_count(g)) printf("  %-32s %-6s %-22s %14s %14s\n", "name", "type", "shape", "bytes", "offset");
    uint64_t total = 0;
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(g, i);
        char shape[96];
        shape_text(t, shape, sizeof shape);
        const char *type = snug_type_name(t->type);
        printf("  %-32s %-6s %-22s %14llu %14llu\n", t->name, type ? type : "?", shape, (unsigned long long)t->bytes,
               (unsigned long long)t->offset);
        total += t->bytes;
    }
    printf("\ntensor data: %llu bytes (%.1f MiB)\n", (unsigned long long)total, (double)total / (1024.0 * 1024.0));
}

int cli_info(int argc, char **argv) {
    const char *path = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf(
                "usage: snug info MODEL [--json]\n\nPrints the metadata and tensor table of a GGUF file (arrays show "
                "their first %d elements).\n",
                INFO_ARRAY_PREVIEW);
            return SNUG_EXIT_OK;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("info", "unknown option '%s'", argv[i]);
        } else if (path) {
            return cli_usage_error("info", "unexpected argument '%s'", argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path) return cli_usage_error("info", "no model file given");
    snug_error err = {0};
    snug_gguf *g;
    if (snug_gguf_open(path, SNUG_GGUF_ALLOW_MISSING_DATA, &g, &err) != SNUG_OK) return cli_report(&err);
    int code = SNUG_EXIT_OK;
    if (as_json) {
        code = print_json(path, g);
    } else {
        print_text(path, g);
    }
    snug_gguf_close(g);
    return code;
}
