/* reader.c — opens a GGUF file by mmap and validates all of it before anyone reads it.
 *
 * Format (GGUF specification, v2/v3, little-endian): header {magic "GGUF", u32 version, u64 n_tensors, u64 n_kv},
 * n_kv metadata entries {string key, u32 value type, value}, n_tensors tensor infos {string name, u32 n_dims,
 * u64 ne[n_dims], u32 type, u64 offset}, padding to `general.alignment` (default 32), then the tensor data.
 * A string is {u64 length, bytes}; an array is {u32 element type, u64 count, elements}.
 *
 * Invariant (see gguf.h): every count, length and offset is checked against the bytes that remain in the file before
 * it is used, so a lying header can neither read out of bounds nor make us allocate more than the file could
 * describe. Each kind of corruption gets its own message naming the entry, the offset and the numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "gguf/gguf.h"
#include "gguf/types.h"

/* Smallest possible encodings, used to bound header counts by the bytes left in the file. */
enum {
    HEADER_BYTES = 4 + 4 + 8 + 8,
    MIN_KV_BYTES = 8 + 1 + 4 + 1,                  /* key length, 1-byte key, type, 1-byte value */
    MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8, /* name length, 1-byte name, n_dims, one dim, type, offset */
    MIN_STRING_BYTES = 8,
    MIN_ARRAY_BYTES = 4 + 8,
};

typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
} cursor;

static uint64_t remaining(const cursor *c) { return c->size - c->pos; }

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_u64(const uint8_t *p) { return (uint64_t)load_u32(p) | (uint64_t)load_u32(p + 4) << 32; }

/* Reads a fixed-size field or fails with "<what> at offset O: needs N bytes, M left". */
static bool read_u32(cursor *c, uint32_t *out, const char *what, snug_error *err) {
    if (remaining(c) < 4) {
        snug_fail(err, SNUG_E_FORMAT, "truncated file: %s at offset %llu needs 4 bytes, %llu left", what,
                  (unsigned long long)c->pos, (unsigned long long)remaining(c));
        return false;
    }
    *out = load_u32(c->base + c->pos);
    c->pos += 4;
    return true;
}

static bool read_u64(cursor *c, uint64_t *out, const char *what, snug_error *err) {
    if (remaining(c) < 8) {
        snug_fail(err, SNUG_E_FORMAT, "truncated file: %s at offset %llu needs 8 bytes, %llu left", what,
                  (unsigned long long)c->pos, (unsigned long long)remaining(c));
        return false;
    }
    *out = load_u64(c->base + c->pos);
    c->pos += 8;
    return true;
}

/* A string: returns a pointer into the map and its length, after checking the length against the file. */
static bool read_string(cursor *c, const char **str, uint64_t *len, const char *what, snug_error *err) {
    uint64_t start = c->pos;
    if (!read_u64(c, len, what, err)) return false;
    if (*len > remaining(c)) {
        snug_fail(err, SNUG_E_FORMAT,
                  "%s at offset %llu: string length %llu runs past the end of the file (%llu bytes left)", what,
                  (unsigned long long)start, (unsigned long long)*len, (unsigned long long)remaining(c));
        return false;
    }
    *str = (const char *)(c->base + c->pos);
    c->pos += *len;
    return true;
}

uint64_t snug_gguf_value_type_bytes(snug_gguf_value_type type) {
    switch (type) {
    case SNUG_GGUF_UINT8:
    case SNUG_GGUF_INT8:
    case SNUG_GGUF_BOOL: return 1;
    case SNUG_GGUF_UINT16:
    case SNUG_GGUF_INT16: return 2;
    case SNUG_GGUF_UINT32:
    case SNUG_GGUF_INT32:
    case SNUG_GGUF_FLOAT32: return 4;
    case SNUG_GGUF_UINT64:
    case SNUG_GGUF_INT64:
    case SNUG_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *snug_gguf_value_type_name(snug_gguf_value_type type) {
    static const char *const names[SNUG_GGUF_VALUE_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
    };
    return (unsigned)type < SNUG_GGUF_VALUE_TYPE_COUNT ? names[type] : "unknown";
}

/* Skips over one value of `type`, checking every length; arrays recurse up to SNUG_GGUF_MAX_ARRAY_DEPTH. */
static bool skip_value(cursor *c, uint32_t type, unsigned depth, const char *key, snug_error *err) {
    uint64_t fixed = snug_gguf_value_type_bytes((snug_gguf_value_type)type);
    if (fixed > 0) {
        if (remaining(c) < fixed) {
            snug_fail(err, SNUG_E_FORMAT, "truncated file: value of '%s' at offset %llu needs %llu bytes, %llu left",
                      key, (unsigned long long)c->pos, (unsigned long long)fixed, (unsigned long long)remaining(c));
            return false;
        }
        if (type == SNUG_GGUF_BOOL && c->base[c->pos] > 1) {
            snug_fail(err, SNUG_E_FORMAT, "value of '%s' at offset %llu: bool byte is %u, not 0 or 1", key,
                      (unsigned long long)c->pos, c->base[c->pos]);
            return false;
        }
        c->pos += fixed;
        return true;
    }
    if (type == SNUG_GGUF_STRING) {
        const char *s;
        uint64_t len;
        return read_string(c, &s, &len, key, err);
    }
    if (type != SNUG_GGUF_ARRAY) {
        snug_fail(err, SNUG_E_FORMAT, "metadata '%s' at offset %llu: unknown value type %u (GGUF defines 0..%d)", key,
                  (unsigned long long)(c->pos - 4), type, SNUG_GGUF_VALUE_TYPE_COUNT - 1);
        return false;
    }
    if (depth >= SNUG_GGUF_MAX_ARRAY_DEPTH) {
        snug_fail(err, SNUG_E_FORMAT, "metadata '%s' at offset %llu: arrays nested deeper than %u levels", key,
                  (unsigned long long)c->pos, SNUG_GGUF_MAX_ARRAY_DEPTH);
        return false;
    }
    uint32_t elem_type;
    uint64_t count;
    uint64_t array_at = c->pos;
    if (!read_u32(c, &elem_type, "array element type", err) || !read_u64(c, &count, "array length", err)) return false;
    if (elem_type >= SNUG_GGUF_VALUE_TYPE_COUNT) {
        snug_fail(err, SNUG_E_FORMAT, "metadata '%s' at offset %llu: unknown array element type %u", key,
                  (unsigned long long)array_at, elem_type);
        return false;
    }
    uint64_t elem_fixed = snug_gguf_value_type_bytes((snug_gguf_value_type)elem_type);
    uint64_t min_elem = elem_fixed > 0                  ? elem_fixed
                        : elem_type == SNUG_GGUF_STRING ? MIN_STRING_BYTES
                                                        : MIN_ARRAY_BYTES;
    if (count > remaining(c) / min_elem) {
        snug_fail(err, SNUG_E_FORMAT,
                  "metadata '%s' at offset %llu: array of %llu %s elements cannot fit in the %llu bytes left", key,
                  (unsigned long long)array_at, (unsigned long long)count,
                  snug_gguf_value_type_name((snug_gguf_value_type)elem_type), (unsigned long long)remaining(c));
        return false;
    }
    if (elem_fixed > 0) {
        if (elem_type == SNUG_GGUF_BOOL) {
            for (uint64_t i = 0; i < count; i++) {
                if (c->base[c->pos + i] > 1) {
                    snug_fail(err, SNUG_E_FORMAT, "metadata '%s': bool element %llu is %u, not 0 or 1", key,
                              (unsigned long long)i, c->base[c->pos + i]);
                    return false;
                }
            }
        }
        c->pos += count * elem_fixed;
        return true;
    }
    for (uint64_t i = 0; i < count; i++) {
        if (!skip_value(c, elem_type, depth + 1, key, err)) return false;
    }
    return true;
}

/* Validates a key: non-empty, no NUL inside (it becomes a C string). */
static bool check_name(const char *s, uint64_t len, uint64_t max_len, const char *what, uint64_t index, uint64_t at,
                       snug_error *err) {
    if (len == 0) {
        snug_fail(err, SNUG_E_FORMAT, "%s %llu at offset %llu: empty name", what, (unsigned long long)index,
                  (unsigned long long)at);
        return false;
    }
    if (len > max_len) {
        snug_fail(err, SNUG_E_FORMAT, "%s %llu at offset %llu: name of %llu bytes exceeds the limit of %llu", what,
                  (unsigned long long)index, (unsigned long long)at, (unsigned long long)len,
                  (unsigned long long)max_len);
        return false;
    }
    if (memchr(s, '\0', (size_t)len) != NULL) {
        snug_fail(err, SNUG_E_FORMAT, "%s %llu at offset %llu: name contains a NUL byte", what,
                  (unsigned long long)index, (unsigned long long)at);
        return false;
    }
    return true;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds a duplicate among `n` names (sorting a scratch array of pointers); returns it or NULL. */
static const char *find_duplicate(const char **names, uint64_t n) {
    qsort(names, (size_t)n, sizeof *names, compare_strings);
    for (uint64_t i = 1; i < n; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    }
    return NULL;
}

typedef struct tensor_span {
    uint64_t offset;
    uint64_t bytes;
    const char *name;
} tensor_span;

static int compare_spans(const void *a, const void *b) {
    const tensor_span *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static snug_status parse(snug_gguf *g, unsigned flags, snug_error *err) {
    cursor c = {g->map, g->file_bytes, 0};
    if (g->file_bytes < HEADER_BYTES) {
        return snug_fail(err, SNUG_E_FORMAT, "file is %llu bytes, too small for a GGUF header (%d bytes)",
                         (unsigned long long)g->file_bytes, HEADER_BYTES);
    }
    if (memcmp(g->map, SNUG_GGUF_MAGIC, 4) != 0) {
        char shown[5];
        for (int i = 0; i < 4; i++) shown[i] = (g->map[i] >= 0x20 && g->map[i] < 0x7f) ? (char)g->map[i] : '?';
        shown[4] = '\0';
        return snug_fail(err, SNUG_E_FORMAT,
                         "not a GGUF file: magic is '%s' (bytes %02x %02x %02x %02x), expected 'GGUF'", shown,
                         g->map[0], g->map[1], g->map[2], g->map[3]);
    }
    c.pos = 4;
    uint64_t n_tensors, n_kv;
    read_u32(&c, &g->version, "version", err);
    if (g->version != 2 && g->version != 3) {
        snug_fail(err, SNUG_E_UNSUPPORTED, "unsupported GGUF version %u (snug reads versions 2 and 3)", g->version);
        if (g->version == 1) snug_hint(err, "re-convert the model with a current converter (GGUF v1 is obsolete)");
        return SNUG_E_UNSUPPORTED;
    }
    read_u64(&c, &n_tensors, "tensor count", err);
    read_u64(&c, &n_kv, "metadata count", err);
    if (n_tensors > remaining(&c) / MIN_TENSOR_INFO_BYTES) {
        return snug_fail(err, SNUG_E_FORMAT,
                         "header claims %llu tensors, but the %llu bytes after the header can describe at most %llu",
                         (unsigned long long)n_tensors, (unsigned long long)remaining(&c),
                         (unsigned long long)(remaining(&c) / MIN_TENSOR_INFO_BYTES));
    }
    if (n_kv > remaining(&c) / MIN_KV_BYTES) {
        return snug_fail(
            err, SNUG_E_FORMAT,
            "header claims %llu metadata entries, but the %llu bytes after the header can hold at most %llu",
            (unsigned long long)n_kv, (unsigned long long)remaining(&c),
            (unsigned long long)(remaining(&c) / MIN_KV_BYTES));
    }

    /* Both counts are now bounded by the file size, so these allocations are too. */
    g->n_kv = n_kv;
    g->n_tensors = n_tensors;
    g->kvs = calloc(n_kv ? n_kv : 1, sizeof *g->kvs);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    uint64_t *key_lens = calloc(n_kv ? n_kv : 1, sizeof *key_lens);
    const char **raw_keys = calloc(n_kv ? n_kv : 1, sizeof *raw_keys);
    const char **raw_names = calloc(n_tensors ? n_tensors : 1, sizeof *raw_names);
    uint64_t *name_lens = calloc(n_tensors ? n_tensors : 1, sizeof *name_lens);
    tensor_span *spans = calloc(n_tensors ? n_tensors : 1, sizeof *spans);
    const char **sorted = calloc((n_kv > n_tensors ? n_kv : n_tensors) + 1, sizeof *sorted);
    snug_status st = SNUG_E_FORMAT;
    if (!g->kvs || !g->tensors || !key_lens || !raw_keys || !raw_names || !name_lens || !spans || !sorted) {
        st = snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory indexing %llu metadata entries and %llu tensors",
                       (unsigned long long)n_kv, (unsigned long long)n_tensors);
        goto done;
    }

    for (uint64_t i = 0; i < n_kv; i++) {
        uint64_t at = c.pos;
        char what[64];
        snprintf(what, sizeof what, "metadata entry %llu key", (unsigned long long)i);
        if (!read_string(&c, &raw_keys[i], &key_lens[i], what, err)) goto done;
        if (!check_name(raw_keys[i], key_lens[i], UINT16_MAX, "metadata entry", i, at, err)) goto done;
        uint32_t type;
        if (!read_u32(&c, &type, "metadata value type", err)) goto done;
        /* A printable key for messages; the pool copy comes later. */
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(key_lens[i] < 120 ? key_lens[i] : 120), raw_keys[i]);
        if (type >= SNUG_GGUF_VALUE_TYPE_COUNT) {
            snug_fail(err, SNUG_E_FORMAT, "metadata '%s' at offset %llu: unknown value type %u (GGUF defines 0..%d)",
                      key, (unsigned long long)(c.pos - 4), type, SNUG_GGUF_VALUE_TYPE_COUNT - 1);
            goto done;
        }
        snug_gguf_kv *kv = &g->kvs[i];
        kv->type = (snug_gguf_value_type)type;
        uint64_t value_at = c.pos;
        if (!skip_value(&c, type, 0, key, err)) goto done;
        kv->value = g->map + value_at;
        kv->value_bytes = c.pos - value_at;
        if (type == SNUG_GGUF_ARRAY) {
            kv->elem_type = (snug_gguf_value_type)load_u32(kv->value);
            kv->count = load_u64(kv->value + 4);
            kv->value += 12;
            kv->value_bytes -= 12;
        }
    }

    for (uint64_t i = 0; i < n_tensors; i++) {
        uint64_t at = c.pos;
        char what[64];
        snprintf(what, sizeof what, "tensor %llu name", (unsigned long long)i);
        if (!read_string(&c, &raw_names[i], &name_lens[i], what, err)) goto done;
        if (!check_name(raw_names[i], name_lens[i], SNUG_GGUF_MAX_TENSOR_NAME, "tensor", i, at, err)) goto done;
        char name[SNUG_GGUF_MAX_TENSOR_NAME + 1];
        snprintf(name, sizeof name, "%.*s", (int)name_lens[i], raw_names[i]);
        snug_tensor_info *t = &g->tensors[i];
        if (!read_u32(&c, &t->n_dims, "tensor dimension count", err)) goto done;
        if (t->n_dims == 0 || t->n_dims > SNUG_MAX_DIMS) {
            snug_fail(err, SNUG_E_FORMAT, "tensor '%s': %u dimensions (GGUF allows 1 to %d)", name, t->n_dims,
                      SNUG_MAX_DIMS);
            goto done;
        }
        uint64_t elems = 1;
        for (uint32_t d = 0; d < SNUG_MAX_DIMS; d++) {
            t->ne[d] = 1;
            if (d >= t->n_dims) continue;
            if (!read_u64(&c, &t->ne[d], "tensor dimension", err)) goto done;
            if (t->ne[d] == 0) {
                snug_fail(err, SNUG_E_FORMAT, "tensor '%s': dimension %u is 0", name, d);
                goto done;
            }
            if (t->ne[d] > (uint64_t)INT64_MAX / elems) {
                snug_fail(err, SNUG_E_FORMAT, "tensor '%s': element count overflows (dimension %u is %llu)", name, d,
                          (unsigned long long)t->ne[d]);
                goto done;
            }
            elems *= t->ne[d];
        }
        if (!read_u32(&c, &t->type, "tensor type", err)) goto done;
        snug_type_traits traits = snug_type_traits_of(t->type);
        if (traits.block_elems == 0) {
            st = snug_fail(err, SNUG_E_UNSUPPORTED, "tensor '%s': unknown tensor type id %u", name, t->type);
            goto done;
        }
        uint64_t row_bytes;
        if (t->ne[0] % traits.block_elems != 0) {
            snug_fail(err, SNUG_E_FORMAT, "tensor '%s': row length %llu is not a multiple of the %s block size %u",
                      name, (unsigned long long)t->ne[0], traits.name, traits.block_elems);
            goto done;
        }
        if (!snug_type_row_bytes(t->type, t->ne[0], &row_bytes)) {
            snug_fail(err, SNUG_E_FORMAT, "tensor '%s': a row of %llu %s elements overflows the byte size", name,
                      (unsigned long long)t->ne[0], traits.name);
            goto done;
        }
        uint64_t rows = elems / t->ne[0];
        if (row_bytes != 0 && rows > UINT64_MAX / row_bytes) {
            snug_fail(err, SNUG_E_FORMAT, "tensor '%s': byte size overflows", name);
            goto done;
        }
        t->bytes = row_bytes * rows;
        if (!read_u64(&c, &t->offset, "tensor data offset", err)) goto done;
    }

    /* general.alignment decides where the data section starts and what offsets must be multiples of. */
    g->alignment = SNUG_GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (key_lens[i] == strlen("general.alignment") && memcmp(raw_keys[i], "general.alignment", key_lens[i]) == 0) {
            snug_gguf_kv *kv = &g->kvs[i];
            if (kv->type != SNUG_GGUF_UINT32) {
                snug_fail(err, SNUG_E_FORMAT, "general.alignment has type %s, the specification requires u32",
                          snug_gguf_value_type_name(kv->type));
                goto done;
            }
            uint32_t a = load_u32(kv->value);
            if (a == 0 || (a & (a - 1)) != 0) {
                snug_fail(err, SNUG_E_FORMAT, "general.alignment is %u, not a power of two", a);
                goto done;
            }
            g->alignment = a;
        }
    }
    uint64_t align = g->alignment;
    uint64_t infos_end = c.pos;
    g->data_offset = (infos_end + align - 1) / align * align;
    g->data_complete = true;

    for (uint64_t i = 0; i < n_tensors; i++) {
        snug_tensor_info *t = &g->tensors[i];
        char name[SNUG_GGUF_MAX_TENSOR_NAME + 1];
        snprintf(name, sizeof name, "%.*s", (int)name_lens[i], raw_names[i]);
        if (t->offset % align != 0) {
            snug_fail(err, SNUG_E_FORMAT, "tensor '%s': data offset %llu is not a multiple of the alignment %llu", name,
                      (unsigned long long)t->offset, (unsigned long long)align);
            goto done;
        }
        if (t->offset > UINT64_MAX - t->bytes) {
            snug_fail(err, SNUG_E_FORMAT, "tensor '%s': data offset %llu + size %llu overflows", name,
                      (unsigned long long)t->offset, (unsigned long long)t->bytes);
            goto done;
        }
        uint64_t room = g->file_bytes > g->data_offset ? g->file_bytes - g->data_offset : 0;
        bool inside = t->offset <= room && t->bytes <= room - t->offset;
        if (!inside) {
            if (!(flags & SNUG_GGUF_ALLOW_MISSING_DATA)) {
                snug_fail(err, SNUG_E_FORMAT,
                          "tensor '%s': data [%llu, %llu) past the data section start %llu ends beyond the end of the "
                          "file (%llu bytes)",
                          name, (unsigned long long)t->offset, (unsigned long long)t->offset + t->bytes,
                          (unsigned long long)g->data_offset, (unsigned long long)g->file_bytes);
                goto done;
            }
            g->data_complete = false;
            t->data = NULL;
        } else {
            t->data = g->map + g->data_offset + t->offset;
        }
        spans[i] = (tensor_span){t->offset, t->bytes, raw_names[i]};
    }

    /* The string pool: keys and tensor names as C strings. Its size is bounded by the file size. */
    uint64_t pool_bytes = 0;
    for (uint64_t i = 0; i < n_kv; i++) pool_bytes += key_lens[i] + 1;
    for (uint64_t i = 0; i < n_tensors; i++) pool_bytes += name_lens[i] + 1;
    g->string_pool = malloc(pool_bytes ? pool_bytes : 1);
    if (!g->string_pool) {
        st = snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for %llu bytes of names",
                       (unsigned long long)pool_bytes);
        goto done;
    }
    char *p = g->string_pool;
    for (uint64_t i = 0; i < n_kv; i++) {
        memcpy(p, raw_keys[i], key_lens[i]);
        p[key_lens[i]] = '\0';
        g->kvs[i].key = p;
        sorted[i] = p;
        p += key_lens[i] + 1;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        memcpy(p, raw_names[i], name_lens[i]);
        p[name_lens[i]] = '\0';
        g->tensors[i].name = p;
        spans[i].name = p;
        p += name_lens[i] + 1;
    }
    g->index_bytes = n_kv * sizeof *g->kvs + n_tensors * sizeof *g->tensors + pool_bytes;
    if (!snug_gguf_index_strings(g)) {
        st = snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory indexing the string arrays");
        goto done;
    }

    const char *dup = find_duplicate(sorted, n_kv);
    if (dup) {
        snug_fail(err, SNUG_E_FORMAT, "metadata key '%s' appears more than once", dup);
        goto done;
    }
    for (uint64_t i = 0; i < n_tensors; i++) sorted[i] = g->tensors[i].name;
    dup = find_duplicate(sorted, n_tensors);
    if (dup) {
        snug_fail(err, SNUG_E_FORMAT, "tensor '%s' appears more than once", dup);
        goto done;
    }
    qsort(spans, (size_t)n_tensors, sizeof *spans, compare_spans);
    for (uint64_t i = 1; i < n_tensors; i++) {
        if (spans[i - 1].offset + spans[i - 1].bytes > spans[i].offset) {
            snug_fail(err, SNUG_E_FORMAT, "tensor '%s' (data [%llu, %llu)) overlaps tensor '%s' starting at %llu",
                      spans[i - 1].name, (unsigned long long)spans[i - 1].offset,
                      (unsigned long long)(spans[i - 1].offset + spans[i - 1].bytes), spans[i].name,
                      (unsigned long long)spans[i].offset);
            goto done;
        }
    }
    st = SNUG_OK;
done:
    free(key_lens);
    free(raw_keys);
    free(raw_names);
    free(name_lens);
    free(spans);
    free(sorted);
    return st;
}

/* Opening never blocks (snug_open_regular_file): a FIFO, a socket, a device or a directory is refused by name. */
snug_status snug_gguf_open(const char *path, unsigned flags, snug_gguf **out, snug_error *err) {
    *out = NULL;
    int fd;
    uint64_t file_bytes;
    snug_status opened = snug_open_regular_file(path, &fd, &file_bytes, err);
    if (opened != SNUG_OK) return opened;
    snug_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        close(fd);
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    g->file_bytes = file_bytes;
    g->fd = fd;
    if (g->file_bytes > 0) {
        void *map = mmap(NULL, (size_t)g->file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(g);
            return snug_fail(err, SNUG_E_IO, "%s: cannot map %llu bytes: %s", path, (unsigned long long)file_bytes,
                             strerror(e));
        }
        g->map = map;
    }
    snug_status st = parse(g, flags, err);
    if (st != SNUG_OK) {
        snug_error_prefix(err, "%s: ", path);
        snug_gguf_close(g);
        return st;
    }
    *out = g;
    return SNUG_OK;
}

void snug_gguf_close(snug_gguf *g) {
    if (!g) return;
    if (g->map) munmap((void *)g->map, (size_t)g->file_bytes);
    if (g->fd >= 0) close(g->fd);
    free(g->kvs);
    free(g->tensors);
    free(g->string_pool);
    free(g->string_offsets);
    free(g);
}
