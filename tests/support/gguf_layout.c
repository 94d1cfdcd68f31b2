/* gguf_layout.c — the GGUF layout walker for corruption tests (see gguf_layout.h). */
#include "support/gguf_layout.h"

#include <stdlib.h>
#include <string.h>

/* GGUF value type ids (specification) that the walker must tell apart. */
enum { GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_TYPE_COUNT = 13, GGUF_DEFAULT_ALIGNMENT = 32 };

/* Deeper than any reader follows, so tests can walk files built to exceed a reader's limit. */
enum { MAX_ARRAY_DEPTH = 64 };

typedef struct walker {
    const uint8_t *file;
    uint64_t size, pos;
} walker;

static bool take_u32(walker *w, uint32_t *out) {
    if (w->size - w->pos < 4) return false;
    const uint8_t *p = w->file + w->pos;
    *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    w->pos += 4;
    return true;
}

static bool take_u64(walker *w, uint64_t *out) {
    uint32_t lo, hi;
    if (w->size - w->pos < 8 || !take_u32(w, &lo) || !take_u32(w, &hi)) return false;
    *out = (uint64_t)hi << 32 | lo;
    return true;
}

static bool skip(walker *w, uint64_t n) {
    if (n > w->size - w->pos) return false;
    w->pos += n;
    return true;
}

/* A string's length, then its bytes: returns where the bytes start and how many there are. */
static bool take_string(walker *w, uint64_t *at, uint64_t *len) {
    if (!take_u64(w, len)) return false;
    *at = w->pos;
    return skip(w, *len);
}

static void copy_name(char *dst, const uint8_t *src, uint64_t len) {
    size_t n = len < GGUF_LAYOUT_NAME_MAX - 1 ? (size_t)len : GGUF_LAYOUT_NAME_MAX - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Bytes of one fixed-size value; 0 for strings and arrays. */
static uint64_t fixed_bytes(uint32_t type) {
    static const uint8_t sizes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type < GGUF_TYPE_COUNT ? sizes[type] : 0;
}

static bool skip_value(walker *w, uint32_t type, unsigned depth) {
    if (type >= GGUF_TYPE_COUNT) return false;
    if (fixed_bytes(type)) return skip(w, fixed_bytes(type));
    uint64_t at, len;
    if (type == GGUF_STRING) return take_string(w, &at, &len);
    uint32_t elem_type;
    uint64_t count;
    if (depth >= MAX_ARRAY_DEPTH || !take_u32(w, &elem_type) || !take_u64(w, &count)) return false;
    if (fixed_bytes(elem_type)) {
        return count <= (w->size - w->pos) / fixed_bytes(elem_type) && skip(w, count * fixed_bytes(elem_type));
    }
    for (uint64_t i = 0; i < count; i++) {
        if (!skip_value(w, elem_type, depth + 1)) return false;
    }
    return true;
}

bool gguf_layout_walk(const uint8_t *file, size_t bytes, gguf_layout *out) {
    memset(out, 0, sizeof *out);
    walker w = {file, bytes, GGUF_LAYOUT_VERSION_AT};
    out->file_bytes = bytes;
    if (bytes < GGUF_LAYOUT_HEADER_BYTES || !take_u32(&w, &out->version) || !take_u64(&w, &out->n_tensors) ||
        !take_u64(&w, &out->n_kv)) {
        return false;
    }
    /* Each entry takes more than 8 bytes: bounds the allocations by the file size. */
    if (out->n_kv > bytes / 8 || out->n_tensors > bytes / 8) return false;
    out->kvs = calloc(out->n_kv + 1, sizeof *out->kvs);
    out->tensors = calloc(out->n_tensors + 1, sizeof *out->tensors);
    if (!out->kvs || !out->tensors) goto fail;
    out->alignment = GGUF_DEFAULT_ALIGNMENT;

    for (uint64_t i = 0; i < out->n_kv; i++) {
        gguf_layout_kv *kv = &out->kvs[i];
        kv->index = i;
        kv->at = w.pos;
        if (!take_string(&w, &kv->key_at, &kv->key_len)) goto fail;
        copy_name(kv->key, file + kv->key_at, kv->key_len);
        kv->type_at = w.pos;
        if (!take_u32(&w, &kv->type)) goto fail;
        kv->value_at = w.pos;
        if (kv->type == GGUF_ARRAY) {
            walker peek = w;
            if (!take_u32(&peek, &kv->elem_type) || !take_u64(&peek, &kv->count)) goto fail;
        }
        if (!skip_value(&w, kv->type, 0)) goto fail;
        kv->end = w.pos;
        if (strcmp(kv->key, "general.alignment") == 0 && kv->type == 4 /* u32 */) {
            walker value = {file, bytes, kv->value_at};
            uint32_t a;
            if (take_u32(&value, &a) && a != 0) out->alignment = a;
        }
    }

    for (uint64_t i = 0; i < out->n_tensors; i++) {
        gguf_layout_tensor *t = &out->tensors[i];
        t->index = i;
        t->at = w.pos;
        if (!take_string(&w, &t->name_at, &t->name_len)) goto fail;
        copy_name(t->name, file + t->name_at, t->name_len);
        t->n_dims_at = w.pos;
        if (!take_u32(&w, &t->n_dims)) goto fail;
        t->dims_at = w.pos;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t ne;
            if (!take_u64(&w, &ne)) goto fail;
            if (d < 4) t->ne[d] = ne;
        }
        t->type_at = w.pos;
        if (!take_u32(&w, &t->type)) goto fail;
        t->offset_at = w.pos;
        if (!take_u64(&w, &t->offset)) goto fail;
        t->end = w.pos;
    }
    out->infos_end = w.pos;
    out->data_at = (out->infos_end + out->alignment - 1) / out->alignment * out->alignment;
    return true;
fail:
    gguf_layout_free(out);
    return false;
}

void gguf_layout_free(gguf_layout *layout) {
    free(layout->kvs);
    free(layout->tensors);
    layout->kvs = NULL;
    layout->tensors = NULL;
}

const gguf_layout_kv *gguf_layout_find_kv(const gguf_layout *layout, const char *key) {
    for (uint64_t i = 0; i < layout->n_kv; i++) {
        if (strcmp(layout->kvs[i].key, key) == 0) return &layout->kvs[i];
    }
    return NULL;
}

const gguf_layout_tensor *gguf_layout_find_tensor(const gguf_layout *layout, const char *name) {
    for (uint64_t i = 0; i < layout->n_tensors; i++) {
        if (strcmp(layout->tensors[i].name, name) == 0) return &layout->tensors[i];
    }
    return NULL;
}
