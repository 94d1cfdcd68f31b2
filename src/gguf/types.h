/* types.h — the tensor element types of GGUF: names and block geometry.
 *
 * Every GGUF type stores a row as whole blocks of `block_elems` elements, `block_bytes` each (for plain types a block
 * is one element). The reader uses this to bound every tensor's bytes against the file; the kernels use it to walk
 * rows. Geometry is from the ggml block definitions (ggml-common.h) and the GGUF specification.
 */
#ifndef SNUG_GGUF_TYPES_H
#define SNUG_GGUF_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snug.h"

typedef struct snug_type_traits {
    const char *name;
    uint32_t block_elems; /* 0: the id is unknown to snug */
    uint32_t block_bytes;
} snug_type_traits;

/* Traits for a type id; an unknown id gets block_elems == 0 and name NULL. */
snug_type_traits snug_type_traits_of(uint32_t type);

/* The type's name in lower case ("q4_k"), as plan lines and kernel names spell it; "type<id>" for an unknown id. */
void snug_type_name_lower(uint32_t type, char *out, size_t cap);

/* Bytes of one row of `row_elems` elements; false if row_elems is not a whole number of blocks or overflows. */
bool snug_type_row_bytes(uint32_t type, uint64_t row_elems, uint64_t *out_bytes);

#endif
