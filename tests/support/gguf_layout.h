/* gguf_layout.h — where every field of a GGUF file lies, byte by byte, for tests that corrupt files at exact offsets.
 *
 * An independent walker, written from the GGUF specification rather than from src/gguf/reader.c, so a test that
 * corrupts "the type of tensor 3" does not depend on the code it is testing to find that field. It checks every
 * length against the buffer (it never reads out of bounds) but validates nothing else: it is meant for well-formed
 * files the tests have just written, before they corrupt them.
 *
 * Layout (GGUF v2/v3, little-endian): header {magic, u32 version, u64 n_tensors, u64 n_kv}; n_kv entries {u64 key
 * length, key, u32 value type, value}; n_tensors infos {u64 name length, name, u32 n_dims, u64 ne[n_dims], u32 type,
 * u64 offset}; padding to general.alignment (default 32); tensor data. Arrays are {u32 element type, u64 count, elems}.
 */
#ifndef SNUG_TESTS_GGUF_LAYOUT_H
#define SNUG_TESTS_GGUF_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed header fields (offsets from the start of the file). */
enum {
    GGUF_LAYOUT_MAGIC_AT = 0,
    GGUF_LAYOUT_VERSION_AT = 4,
    GGUF_LAYOUT_N_TENSORS_AT = 8,
    GGUF_LAYOUT_N_KV_AT = 16,
    GGUF_LAYOUT_HEADER_BYTES = 24,
    GGUF_LAYOUT_NAME_MAX = 128, /* longest key or tensor name the walker keeps a copy of */
};

/* One metadata entry. Every *_at is a file offset. */
typedef struct gguf_layout_kv {
    uint64_t index;
    char key[GGUF_LAYOUT_NAME_MAX]; /* NUL-terminated copy (cut at NAME_MAX - 1) */
    uint64_t at;                    /* the entry's first byte: its u64 key length */
    uint64_t key_at, key_len;       /* the key's bytes */
    uint64_t type_at;               /* u32 value type */
    uint32_t type;
    uint64_t value_at; /* the value (for a string: its u64 length; for an array: its u32 element type) */
    uint64_t end;      /* one past the value's last byte */
    /* Arrays only: the u64 count is at value_at + 4, the first element at value_at + 12. */
    uint32_t elem_type;
    uint64_t count;
} gguf_layout_kv;

/* One tensor info. */
typedef struct gguf_layout_tensor {
    uint64_t index;
    char name[GGUF_LAYOUT_NAME_MAX];
    uint64_t at; /* the info's first byte: its u64 name length */
    uint64_t name_at, name_len;
    uint64_t n_dims_at; /* u32 */
    uint32_t n_dims;
    uint64_t dims_at; /* n_dims u64 values */
    uint64_t ne[4];   /* the first min(n_dims, 4) dimensions */
    uint64_t type_at; /* u32 */
    uint32_t type;
    uint64_t offset_at; /* u64, relative to the data section */
    uint64_t offset;
    uint64_t end;
} gguf_layout_tensor;

typedef struct gguf_layout {
    uint64_t file_bytes;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_layout_kv *kvs;         /* (n_kv) */
    gguf_layout_tensor *tensors; /* (n_tensors) */
    uint64_t infos_end;          /* one past the last tensor info: padding starts here */
    uint64_t alignment;          /* general.alignment, or 32 */
    uint64_t data_at;            /* infos_end rounded up to the alignment: the data section */
} gguf_layout;

/* Walks `bytes` bytes of a GGUF file. Returns false (and frees what it built) when a length runs past the end or a
 * value type is unknown. */
bool gguf_layout_walk(const uint8_t *file, size_t bytes, gguf_layout *out);
void gguf_layout_free(gguf_layout *layout);

/* The entry with this key / the tensor with this name, or NULL. */
const gguf_layout_kv *gguf_layout_find_kv(const gguf_layout *layout, const char *key);
const gguf_layout_tensor *gguf_layout_find_tensor(const gguf_layout *layout, const char *name);

#endif
