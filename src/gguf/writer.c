/* writer.c — GGUF writer (see writer.h). Layout as the reader expects it (reader.c has the format summary). */
#include "gguf/writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "gguf/gguf.h"

typedef struct byte_buffer {
    uint8_t *data;
    uint64_t len, cap;
} byte_buffer;

typedef struct pending_tensor {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[SNUG_MAX_DIMS];
    uint8_t *data;
    uint64_t bytes;
} pending_tensor;

struct snug_gguf_writer {
    uint32_t version, alignment;
    uint64_t n_kv;
    byte_buffer kv;
    pending_tensor *tensors;
    uint64_t n_tensors, tensor_cap;
};

static bool put(byte_buffer *b, const void *p, uint64_t n) {
    if (b->len + n > b->cap) {
        uint64_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown) return false;
        b->data = grown;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

/* Little-endian encodings (the writer runs on little-endian hosts; snug targets x86-64 and arm64). */
static bool put_u32(byte_buffer *b, uint32_t v) { return put(b, &v, 4); }
static bool put_u64(byte_buffer *b, uint64_t v) { return put(b, &v, 8); }
static bool put_str(byte_buffer *b, const char *s) {
    uint64_t len = strlen(s);
    return put_u64(b, len) && put(b, s, len);
}

snug_gguf_writer *snug_gguf_writer_create(uint32_t version, uint32_t alignment) {
    snug_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->version = version;
    w->alignment = alignment ? alignment : SNUG_GGUF_DEFAULT_ALIGNMENT;
    /* Readers assume 32 unless the file says otherwise. */
    if (w->alignment != SNUG_GGUF_DEFAULT_ALIGNMENT && !snug_gguf_writer_u32(w, "general.alignment", w->alignment)) {
        snug_gguf_writer_free(w);
        return NULL;
    }
    return w;
}

void snug_gguf_writer_free(snug_gguf_writer *w) {
    if (!w) return;
    free(w->kv.data);
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->tensors);
    free(w);
}

static bool begin_kv(snug_gguf_writer *w, const char *key, uint32_t type) {
    w->n_kv++;
    return put_str(&w->kv, key) && put_u32(&w->kv, type);
}

bool snug_gguf_writer_raw(snug_gguf_writer *w, const char *key, uint32_t type, const void *bytes, uint64_t n) {
    return begin_kv(w, key, type) && put(&w->kv, bytes, n);
}
bool snug_gguf_writer_u32(snug_gguf_writer *w, const char *key, uint32_t v) {
    return snug_gguf_writer_raw(w, key, SNUG_GGUF_UINT32, &v, 4);
}
bool snug_gguf_writer_i32(snug_gguf_writer *w, const char *key, int32_t v) {
    return snug_gguf_writer_raw(w, key, SNUG_GGUF_INT32, &v, 4);
}
bool snug_gguf_writer_u64(snug_gguf_writer *w, const char *key, uint64_t v) {
    return snug_gguf_writer_raw(w, key, SNUG_GGUF_UINT64, &v, 8);
}
bool snug_gguf_writer_f32(snug_gguf_writer *w, const char *key, float v) {
    return snug_gguf_writer_raw(w, key, SNUG_GGUF_FLOAT32, &v, 4);
}
bool snug_gguf_writer_bool(snug_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return snug_gguf_writer_raw(w, key, SNUG_GGUF_BOOL, &b, 1);
}
bool snug_gguf_writer_string(snug_gguf_writer *w, const char *key, const char *v) {
    return begin_kv(w, key, SNUG_GGUF_STRING) && put_str(&w->kv, v);
}

static bool begin_array(snug_gguf_writer *w, const char *key, uint32_t elem_type, uint64_t count) {
    return begin_kv(w, key, SNUG_GGUF_ARRAY) && put_u32(&w->kv, elem_type) && put_u64(&w->kv, count);
}
bool snug_gguf_writer_strings(snug_gguf_writer *w, const char *key, const char *const *values, uint64_t count) {
    if (!begin_array(w, key, SNUG_GGUF_STRING, count)) return false;
    for (uint64_t i = 0; i < count; i++) {
        if (!put_str(&w->kv, values[i])) return false;
    }
    return true;
}
bool snug_gguf_writer_f32s(snug_gguf_writer *w, const char *key, const float *values, uint64_t count) {
    return begin_array(w, key, SNUG_GGUF_FLOAT32, count) && put(&w->kv, values, count * 4);
}
bool snug_gguf_writer_i32s(snug_gguf_writer *w, const char *key, const int32_t *values, uint64_t count) {
    return begin_array(w, key, SNUG_GGUF_INT32, count) && put(&w->kv, values, count * 4);
}

bool snug_gguf_writer_tensor(snug_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne,
                             const void *data, uint64_t bytes) {
    if (w->n_tensors == w->tensor_cap) {
        uint64_t cap = w->tensor_cap ? w->tensor_cap * 2 : 16;
        pending_tensor *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown) return false;
        w->tensors = grown;
        w->tensor_cap = cap;
    }
    pending_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < SNUG_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->bytes = bytes;
    if (data) {
        t->data = malloc(bytes ? bytes : 1);
        if (t->data) memcpy(t->data, data, bytes);
    }
    if (!t->name || (data && !t->data)) {
        free(t->name);
        free(t->data);
        return false;
    }
    w->n_tensors++;
    return true;
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

snug_status snug_gguf_writer_write(const snug_gguf_writer *w, const char *path, bool header_only, snug_error *err) {
    byte_buffer head = {0};
    bool ok = put(&head, SNUG_GGUF_MAGIC, 4) && put_u32(&head, w->version) && put_u64(&head, w->n_tensors) &&
              put_u64(&head, w->n_kv) && put(&head, w->kv.data, w->kv.len);
    uint64_t offset = 0;
    for (uint64_t i = 0; ok && i < w->n_tensors; i++) {
        const pending_tensor *t = &w->tensors[i];
        ok = put_str(&head, t->name) && put_u32(&head, t->n_dims);
        for (uint32_t d = 0; ok && d < t->n_dims; d++) ok = put_u64(&head, t->ne[d]);
        ok = ok && put_u32(&head, t->type) && put_u64(&head, offset);
        offset = align_up(offset + t->bytes, w->alignment);
    }
    if (!ok) {
        free(head.data);
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "%s: out of memory building the GGUF header", path);
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(head.data);
        return snug_fail(err, SNUG_E_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    static const uint8_t zeros[256];
    uint64_t pos = head.len;
    ok = fwrite(head.data, 1, head.len, f) == head.len;
    free(head.data);
    /* Pad to the data section, then each tensor followed by padding to the next aligned offset. */
    uint64_t data_start = align_up(pos, w->alignment);
    for (; ok && !header_only && pos < data_start; pos++) ok = fwrite(zeros, 1, 1, f) == 1;
    for (uint64_t i = 0; ok && !header_only && i < w->n_tensors; i++) {
        const pending_tensor *t = &w->tensors[i];
        if (t->data) {
            ok = fwrite(t->data, 1, t->bytes, f) == t->bytes;
        } else {
            for (uint64_t b = 0; ok && b < t->bytes; b += sizeof zeros) {
                uint64_t chunk = t->bytes - b < sizeof zeros ? t->bytes - b : sizeof zeros;
                ok = fwrite(zeros, 1, chunk, f) == chunk;
            }
        }
        pos += t->bytes;
        uint64_t next = i + 1 < w->n_tensors ? align_up(pos - data_start, w->alignment) + data_start : pos;
        for (; ok && pos < next; pos++) ok = fwrite(zeros, 1, 1, f) == 1;
    }
    if (fclose(f) != 0) ok = false;
    if (!ok) return snug_fail(err, SNUG_E_IO, "%s: write failed: %s", path, strerror(errno));
    return SNUG_OK;
}

bool snug_gguf_writer_copy_kv(snug_gguf_writer *w, const snug_gguf *from, uint64_t index) {
    if (index >= from->n_kv) return false;
    const snug_gguf_kv *kv = &from->kvs[index];
    if (!begin_kv(w, kv->key, kv->type)) return false;
    if (kv->type == SNUG_GGUF_ARRAY) {
        /* The reader keeps arrays as (element type, count, elements); the encoding is those three in a row. */
        if (!put_u32(&w->kv, kv->elem_type) || !put_u64(&w->kv, kv->count)) return false;
    }
    return put(&w->kv, kv->value, kv->value_bytes);
}

struct snug_gguf_stream {
    const snug_gguf_writer *w;
    FILE *f;
    char path[512];
    uint64_t next_tensor;
    uint64_t data_written; /* bytes since the data section start */
};

static bool write_zeros(FILE *f, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        uint64_t chunk = n < sizeof zeros ? n : sizeof zeros;
        if (fwrite(zeros, 1, chunk, f) != chunk) return false;
        n -= chunk;
    }
    return true;
}

snug_status snug_gguf_stream_open(const snug_gguf_writer *w, const char *path, snug_gguf_stream **out,
                                  snug_error *err) {
    *out = NULL;
    snug_status st = snug_gguf_writer_write(w, path, true, err); /* header and tensor table */
    if (st != SNUG_OK) return st;
    snug_gguf_stream *s = calloc(1, sizeof *s);
    if (!s) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory");
    s->w = w;
    snprintf(s->path, sizeof s->path, "%s", path);
    s->f = fopen(path, "r+b");
    if (!s->f || fseek(s->f, 0, SEEK_END) != 0) {
        if (s->f) fclose(s->f);
        free(s);
        return snug_fail(err, SNUG_E_IO, "%s: cannot reopen for writing: %s", path, strerror(errno));
    }
    long header = ftell(s->f);
    uint64_t data_start = align_up((uint64_t)header, w->alignment);
    if (header < 0 || !write_zeros(s->f, data_start - (uint64_t)header)) {
        fclose(s->f);
        free(s);
        return snug_fail(err, SNUG_E_IO, "%s: write failed: %s", path, strerror(errno));
    }
    *out = s;
    return SNUG_OK;
}

snug_status snug_gguf_stream_tensor(snug_gguf_stream *s, const void *data, uint64_t bytes, snug_error *err) {
    const snug_gguf_writer *w = s->w;
    if (s->next_tensor >= w->n_tensors || w->tensors[s->next_tensor].bytes != bytes) {
        return snug_fail(err, SNUG_E_INTERNAL, "%s: tensor %llu written with %llu bytes, declared otherwise", s->path,
                         (unsigned long long)s->next_tensor, (unsigned long long)bytes);
    }
    uint64_t padded =
        s->next_tensor + 1 < w->n_tensors ? align_up(s->data_written + bytes, w->alignment) : s->data_written + bytes;
    if (fwrite(data, 1, bytes, s->f) != bytes || !write_zeros(s->f, padded - s->data_written - bytes)) {
        return snug_fail(err, SNUG_E_IO, "%s: write failed: %s", s->path, strerror(errno));
    }
    s->data_written = padded;
    s->next_tensor++;
    return SNUG_OK;
}

snug_status snug_gguf_stream_close(snug_gguf_stream *s, snug_error *err) {
    snug_status st = SNUG_OK;
    if (s->next_tensor != s->w->n_tensors) {
        st = snug_fail(err, SNUG_E_INTERNAL, "%s: %llu of %llu tensors written", s->path,
                       (unsigned long long)s->next_tensor, (unsigned long long)s->w->n_tensors);
    }
    if (fclose(s->f) != 0 && st == SNUG_OK)
        st = snug_fail(err, SNUG_E_IO, "%s: close failed: %s", s->path, strerror(errno));
    free(s);
    return st;
}
