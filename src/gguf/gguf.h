/* gguf.h — internal view of an opened GGUF file (the public accessors are in snug.h).
 *
 * Invariant: once snug_gguf_open has succeeded, every key, value, string, array element and tensor byte range
 * recorded here lies inside the mapped file (tensor data may be absent only with SNUG_GGUF_ALLOW_MISSING_DATA, and
 * then its `data` is NULL). Later code may read through these pointers without re-checking bounds.
 */
#ifndef SNUG_GGUF_GGUF_H
#define SNUG_GGUF_GGUF_H

#include <stdint.h>

#include "snug.h"

/* The GGUF specification: "GGUF" magic, little-endian, versions 2 and 3 (v1 used 32-bit counts). */
#define SNUG_GGUF_MAGIC             "GGUF"
#define SNUG_GGUF_DEFAULT_ALIGNMENT 32u
#define SNUG_GGUF_MAX_TENSOR_NAME   64u /* the spec's limit on tensor name length, in bytes */
#define SNUG_GGUF_MAX_ARRAY_DEPTH   8u  /* nested arrays deeper than this are refused (no recursion bomb) */

typedef struct snug_gguf_kv {
    const char *key; /* NUL-terminated, in the handle's string pool */
    snug_gguf_value_type type;
    const uint8_t *value;           /* into the map: the value (for arrays: the first element) */
    uint64_t value_bytes;           /* bytes from `value` to the end of the value */
    snug_gguf_value_type elem_type; /* arrays only */
    uint64_t count;                 /* arrays only */
    uint64_t first_string;          /* arrays of strings only: where element 0 is in the handle's string_offsets */
} snug_gguf_kv;

struct snug_gguf {
    const uint8_t *map;
    uint64_t file_bytes;
    int fd; /* the open file, for reads that must not fault (a copy of the weights: snug_model_load_weights); -1 none */
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv;
    snug_gguf_kv *kvs;
    uint64_t n_tensors;
    snug_tensor_info *tensors;
    char *string_pool; /* keys and tensor names, NUL-terminated */
    uint64_t data_offset;
    bool data_complete;
    /* The string index: for every element of every top-level array of strings, its byte offset from its array's
     * `value` (where its u64 length is), so element i of any string array is found in O(1) instead of by walking
     * the i elements before it. One pass over each array at open; SNUG_GGUF_STRING_INDEX_BYTES per element. */
    uint64_t *string_offsets; /* (n_indexed_strings) */
    uint64_t n_indexed_strings;
    uint64_t index_bytes; /* heap bytes this handle holds (kvs + tensors + string pool + string index) */
};

/* The file range a copy of the tensor data covers: from the start of the data section rounded down to
 * SNUG_GGUF_COPY_ALIGN (so every tensor keeps its alignment modulo 4096, as in the mapping) to the end of the last
 * tensor, from the tensor table alone (header-only files too). *start_out is a file offset. */
#define SNUG_GGUF_COPY_ALIGN 4096u
void snug_gguf_data_span(const snug_gguf *gguf, uint64_t *start_out, uint64_t *bytes_out);

/* Bytes the string index takes per element of a string array (a u64 offset). */
#define SNUG_GGUF_STRING_INDEX_BYTES 8u

/* Builds the string index of a parsed handle (every kv already validated) and adds its bytes to index_bytes. The
 * element count comes from the header (the arrays' counts), so a plan can state the bytes before they exist.
 * Returns false only when out of memory. Called once, by the reader. */
bool snug_gguf_index_strings(snug_gguf *gguf);

/* Walks a string array once, calling `visit` for every element in order (faster than indexing one by one). */
typedef void (*snug_gguf_string_visitor)(void *user, uint64_t elem, const char *str, uint64_t len);
bool snug_gguf_kv_array_strings(const snug_gguf *gguf, uint64_t index, snug_gguf_string_visitor visit, void *user);

/* Bytes of one element of a fixed-size value type; 0 for strings and arrays. */
uint64_t snug_gguf_value_type_bytes(snug_gguf_value_type type);
const char *snug_gguf_value_type_name(snug_gguf_value_type type);

#endif
