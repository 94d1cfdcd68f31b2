/* writer.c — GGUF writer (see writer.h). Layout as the reader expects it (reader.c has the format summary).
 * Files are written through atomic_file.h: a temporary file renamed into place only when complete and synced. */
#include "gguf/writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "gguf/atomic_file.h"
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

/* Header, metadata and tensor infos, in memory (a few MB at most: a vocabulary's strings). */
static snug_status build_header(const snug_gguf_writer *w, byte_buffer *head, const char *path, snug_error *err) {
    *head = (byte_buffer){0};
    bool ok = put(head, SNUG_GGUF_MAGIC, 4) && put_u32(head, w->version) && put_u64(head, w->n_tensors) &&
              put_u64(head, w->n_kv) && put(head, w->kv.data, w->kv.len);
    uint64_t offset = 0;
    for (uint64_t i = 0; ok && i < w->n_tensors; i++) {
        const pending_tensor *t = &w->tensors[i];
        ok = put_str(head, t->name) && put_u32(head, t->n_dims);
        for (uint32_t d = 0; ok && d < t->n_dims; d++) ok = put_u64(head, t->ne[d]);
        ok = ok && put_u32(head, t->type) && put_u64(head, offset);
        offset = align_up(offset + t->bytes, w->alignment);
    }
    if (!ok) {
        free(head->data);
        *head = (byte_buffer){0};
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "%s: out of memory building the GGUF header", path);
    }
    return SNUG_OK;
}

/* Opens the temporary file and writes the header, then (with pad) the padding up to the data section. */
static snug_status begin_file(const snug_gguf_writer *w, const char *path, bool pad, snug_atomic_file *af,
                              snug_error *err) {
    byte_buffer head;
    snug_status st = build_header(w, &head, path, err);
    if (st != SNUG_OK) return st;
    st = snug_atomic_file_open(af, path, err);
    if (st != SNUG_OK) {
        free(head.data);
        return st;
    }
    st = snug_atomic_file_write(af, head.data, head.len, err);
    if (st == SNUG_OK && pad) st = snug_atomic_file_zeros(af, align_up(head.len, w->alignment) - head.len, err);
    free(head.data);
    if (st != SNUG_OK) snug_atomic_file_abort(af);
    return st;
}

snug_status snug_gguf_writer_write(const snug_gguf_writer *w, const char *path, bool header_only, snug_error *err) {
    snug_atomic_file *af = malloc(sizeof *af);
    if (!af) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "%s: out of memory", path);
    /* A header-only file ends at its tensor table, without the padding to the data section. */
    snug_status st = begin_file(w, path, !header_only, af, err);
    if (st != SNUG_OK) {
        free(af);
        return st;
    }
    /* Each tensor followed by padding to the next aligned offset (none after the last). */
    uint64_t data_written = 0;
    for (uint64_t i = 0; st == SNUG_OK && !header_only && i < w->n_tensors; i++) {
        const pending_tensor *t = &w->tensors[i];
        st = t->data ? snug_atomic_file_write(af, t->data, t->bytes, err) : snug_atomic_file_zeros(af, t->bytes, err);
        data_written += t->bytes;
        uint64_t next = i + 1 < w->n_tensors ? align_up(data_written, w->alignment) : data_written;
        if (st == SNUG_OK) st = snug_atomic_file_zeros(af, next - data_written, err);
        data_written = next;
    }
    if (st == SNUG_OK) {
        st = snug_atomic_file_commit(af, err);
    } else {
        snug_atomic_file_abort(af);
    }
    free(af);
    return st;
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
    snug_atomic_file file;
    uint64_t next_tensor;
    uint64_t data_written; /* bytes since the data section start */
    bool failed;           /* a write failed: closing discards the file */
};

snug_status snug_gguf_stream_open(const snug_gguf_writer *w, const char *path, snug_gguf_stream **out,
                                  snug_error *err) {
    *out = NULL;
    snug_gguf_stream *s = calloc(1, sizeof *s);
    if (!s) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "%s: out of memory", path);
    s->w = w;
    snug_status st = begin_file(w, path, true, &s->file, err);
    if (st != SNUG_OK) {
        free(s);
        return st;
    }
    *out = s;
    return SNUG_OK;
}

snug_status snug_gguf_stream_tensor(snug_gguf_stream *s, const void *data, uint64_t bytes, snug_error *err) {
    const snug_gguf_writer *w = s->w;
    if (s->failed) return snug_fail(err, SNUG_E_INTERNAL, "%s: writing after a failed write", s->file.path);
    if (s->next_tensor >= w->n_tensors || w->tensors[s->next_tensor].bytes != bytes) {
        s->failed = true;
        return snug_fail(err, SNUG_E_INTERNAL, "%s: tensor %llu written with %llu bytes, declared otherwise",
                         s->file.path, (unsigned long long)s->next_tensor, (unsigned long long)bytes);
    }
    uint64_t padded =
        s->next_tensor + 1 < w->n_tensors ? align_up(s->data_written + bytes, w->alignment) : s->data_written + bytes;
    snug_status st = snug_atomic_file_write(&s->file, data, bytes, err);
    if (st == SNUG_OK) st = snug_atomic_file_zeros(&s->file, padded - s->data_written - bytes, err);
    if (st != SNUG_OK) {
        s->failed = true;
        return st;
    }
    s->data_written = padded;
    s->next_tensor++;
    return SNUG_OK;
}

snug_status snug_gguf_stream_close(snug_gguf_stream *s, snug_error *err) {
    snug_status st = SNUG_OK;
    if (s->failed) {
        st = snug_fail(err, SNUG_E_INTERNAL, "%s: closing a stream whose writes failed", s->file.path);
    } else if (s->next_tensor != s->w->n_tensors) {
        st = snug_fail(err, SNUG_E_INTERNAL, "%s: %llu of %llu tensors written", s->file.path,
                       (unsigned long long)s->next_tensor, (unsigned long long)s->w->n_tensors);
    }
    if (st == SNUG_OK) {
        st = snug_atomic_file_commit(&s->file, err);
    } else {
        snug_atomic_file_abort(&s->file);
    }
    free(s);
    return st;
}

void snug_gguf_stream_abort(snug_gguf_stream *s) {
    if (!s) return;
    snug_atomic_file_abort(&s->file);
    free(s);
}
