/* access.c — typed reads of an opened, validated GGUF file (the accessors declared in snug.h).
 *
 * Everything here reads through pointers the reader already bounds-checked; getters return false on a type mismatch
 * or an index out of range and never fail otherwise. Every getter is O(1) except the key search (linear in the
 * number of keys): string array elements go through the string index built once at open (snug_gguf_index_strings),
 * so loading a vocabulary of n pieces and m merges is O(n + m), not O(m²).
 */
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static uint64_t load_le(const uint8_t *p, unsigned bytes) {
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint32_t snug_gguf_version(const snug_gguf *g) { return g->version; }
uint64_t snug_gguf_file_bytes(const snug_gguf *g) { return g->file_bytes; }
uint64_t snug_gguf_data_offset(const snug_gguf *g) { return g->data_offset; }
uint32_t snug_gguf_alignment(const snug_gguf *g) { return g->alignment; }
bool snug_gguf_data_complete(const snug_gguf *g) { return g->data_complete; }
uint64_t snug_gguf_kv_count(const snug_gguf *g) { return g->n_kv; }

const char *snug_gguf_kv_key(const snug_gguf *g, uint64_t index) { return index < g->n_kv ? g->kvs[index].key : NULL; }

snug_gguf_value_type snug_gguf_kv_type(const snug_gguf *g, uint64_t index) {
    return index < g->n_kv ? g->kvs[index].type : SNUG_GGUF_VALUE_TYPE_COUNT;
}

int64_t snug_gguf_find_key(const snug_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (strcmp(g->kvs[i].key, key) == 0) return (int64_t)i;
    }
    return -1;
}

/* Reads one fixed-size scalar of `type` at p as int64 (unsigned 64-bit values above INT64_MAX fail). */
static bool scalar_i64(snug_gguf_value_type type, const uint8_t *p, int64_t *out) {
    uint64_t raw;
    switch (type) {
    case SNUG_GGUF_UINT8: *out = p[0]; return true;
    case SNUG_GGUF_INT8: *out = (int8_t)p[0]; return true;
    case SNUG_GGUF_BOOL: *out = p[0]; return true;
    case SNUG_GGUF_UINT16: *out = (uint16_t)load_le(p, 2); return true;
    case SNUG_GGUF_INT16: *out = (int16_t)load_le(p, 2); return true;
    case SNUG_GGUF_UINT32: *out = (uint32_t)load_le(p, 4); return true;
    case SNUG_GGUF_INT32: *out = (int32_t)load_le(p, 4); return true;
    case SNUG_GGUF_INT64: *out = (int64_t)load_le(p, 8); return true;
    case SNUG_GGUF_UINT64:
        raw = load_le(p, 8);
        if (raw > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)raw;
        return true;
    default: return false;
    }
}

static bool scalar_f64(snug_gguf_value_type type, const uint8_t *p, double *out) {
    if (type == SNUG_GGUF_FLOAT32) {
        uint32_t bits = (uint32_t)load_le(p, 4);
        float f;
        memcpy(&f, &bits, sizeof f);
        *out = f;
        return true;
    }
    if (type == SNUG_GGUF_FLOAT64) {
        uint64_t bits = load_le(p, 8);
        memcpy(out, &bits, sizeof *out);
        return true;
    }
    int64_t i;
    if (type == SNUG_GGUF_BOOL || !scalar_i64(type, p, &i)) return false;
    *out = (double)i;
    return true;
}

bool snug_gguf_kv_get_i64(const snug_gguf *g, uint64_t index, int64_t *out) {
    if (index >= g->n_kv || g->kvs[index].type == SNUG_GGUF_BOOL) return false;
    return scalar_i64(g->kvs[index].type, g->kvs[index].value, out);
}

bool snug_gguf_kv_get_f64(const snug_gguf *g, uint64_t index, double *out) {
    if (index >= g->n_kv) return false;
    return scalar_f64(g->kvs[index].type, g->kvs[index].value, out);
}

bool snug_gguf_kv_get_bool(const snug_gguf *g, uint64_t index, bool *out) {
    if (index >= g->n_kv || g->kvs[index].type != SNUG_GGUF_BOOL) return false;
    *out = g->kvs[index].value[0] != 0;
    return true;
}

bool snug_gguf_kv_get_string(const snug_gguf *g, uint64_t index, const char **str, uint64_t *len) {
    if (index >= g->n_kv || g->kvs[index].type != SNUG_GGUF_STRING) return false;
    *len = load_le(g->kvs[index].value, 8);
    *str = (const char *)g->kvs[index].value + 8;
    return true;
}

bool snug_gguf_kv_get_array(const snug_gguf *g, uint64_t index, snug_gguf_value_type *elem_type, uint64_t *count) {
    if (index >= g->n_kv || g->kvs[index].type != SNUG_GGUF_ARRAY) return false;
    *elem_type = g->kvs[index].elem_type;
    *count = g->kvs[index].count;
    return true;
}

/* Pointer to a fixed-size element of an array entry, or NULL. */
static const uint8_t *fixed_element(const snug_gguf *g, uint64_t index, uint64_t elem) {
    if (index >= g->n_kv) return NULL;
    const snug_gguf_kv *kv = &g->kvs[index];
    if (kv->type != SNUG_GGUF_ARRAY || elem >= kv->count) return NULL;
    uint64_t size = snug_gguf_value_type_bytes(kv->elem_type);
    return size ? kv->value + elem * size : NULL;
}

bool snug_gguf_kv_array_i64(const snug_gguf *g, uint64_t index, uint64_t elem, int64_t *out) {
    const uint8_t *p = fixed_element(g, index, elem);
    return p && g->kvs[index].elem_type != SNUG_GGUF_BOOL && scalar_i64(g->kvs[index].elem_type, p, out);
}

bool snug_gguf_kv_array_f64(const snug_gguf *g, uint64_t index, uint64_t elem, double *out) {
    const uint8_t *p = fixed_element(g, index, elem);
    return p && scalar_f64(g->kvs[index].elem_type, p, out);
}

bool snug_gguf_kv_array_strings(const snug_gguf *g, uint64_t index, snug_gguf_string_visitor visit, void *user) {
    if (index >= g->n_kv) return false;
    const snug_gguf_kv *kv = &g->kvs[index];
    if (kv->type != SNUG_GGUF_ARRAY || kv->elem_type != SNUG_GGUF_STRING) return false;
    const uint8_t *p = kv->value;
    for (uint64_t i = 0; i < kv->count; i++) {
        uint64_t len = load_le(p, 8);
        visit(user, i, (const char *)p + 8, len);
        p += 8 + len;
    }
    return true;
}

bool snug_gguf_kv_array_string(const snug_gguf *g, uint64_t index, uint64_t elem, const char **str, uint64_t *len) {
    if (index >= g->n_kv) return false;
    const snug_gguf_kv *kv = &g->kvs[index];
    if (kv->type != SNUG_GGUF_ARRAY || kv->elem_type != SNUG_GGUF_STRING || elem >= kv->count) return false;
    const uint8_t *p = kv->value + g->string_offsets[kv->first_string + elem];
    *len = load_le(p, 8);
    *str = (const char *)p + 8;
    return true;
}

_Static_assert(sizeof(uint64_t) == SNUG_GGUF_STRING_INDEX_BYTES, "the string index holds u64 offsets");

bool snug_gguf_index_strings(snug_gguf *g) {
    uint64_t total = 0;
    for (uint64_t k = 0; k < g->n_kv; k++) {
        const snug_gguf_kv *kv = &g->kvs[k];
        if (kv->type == SNUG_GGUF_ARRAY && kv->elem_type == SNUG_GGUF_STRING) total += kv->count;
    }
    /* Each element takes at least 8 bytes of the file (its length), so `total` is bounded by the file size. */
    g->string_offsets = malloc((size_t)(total ? total : 1) * sizeof *g->string_offsets);
    if (g->string_offsets == NULL) return false;
    uint64_t next = 0;
    for (uint64_t k = 0; k < g->n_kv; k++) {
        snug_gguf_kv *kv = &g->kvs[k];
        if (kv->type != SNUG_GGUF_ARRAY || kv->elem_type != SNUG_GGUF_STRING) continue;
        kv->first_string = next;
        uint64_t offset = 0;
        for (uint64_t i = 0; i < kv->count; i++) {
            g->string_offsets[next++] = offset;
            offset += 8 + load_le(kv->value + offset, 8); /* the reader checked every length against the file */
        }
    }
    g->n_indexed_strings = total;
    g->index_bytes += total * SNUG_GGUF_STRING_INDEX_BYTES;
    return true;
}

uint64_t snug_gguf_tensor_count(const snug_gguf *g) { return g->n_tensors; }

const snug_tensor_info *snug_gguf_tensor(const snug_gguf *g, uint64_t index) {
    return index < g->n_tensors ? &g->tensors[index] : NULL;
}

const snug_tensor_info *snug_gguf_find_tensor(const snug_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    }
    return NULL;
}

void snug_gguf_data_span(const snug_gguf *g, uint64_t *start_out, uint64_t *bytes_out) {
    const uint64_t start = g->data_offset / SNUG_GGUF_COPY_ALIGN * SNUG_GGUF_COPY_ALIGN;
    uint64_t end = g->data_offset;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const uint64_t tensor_end = g->data_offset + g->tensors[i].offset + g->tensors[i].bytes;
        if (tensor_end > end) end = tensor_end;
    }
    *start_out = start;
    *bytes_out = end - start;
}
