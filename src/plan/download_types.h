/* download_types.h — what a model's weights would take as another commonly downloaded file type (Q8_0, Q4_K_M,
 * Q4_0), from the tensor shapes of the file at hand; for the planner's "a smaller file of this model" alternatives.
 *
 * The sizes follow how llama.cpp's quantize lays out these types (learnt from its documentation and behaviour, see
 * download_types.c), re-encoding each tensor at its block size, so they are the real bytes of such a file up to the
 * few tensors quantize may treat specially.
 */
#ifndef SNUG_PLAN_DOWNLOAD_TYPES_H
#define SNUG_PLAN_DOWNLOAD_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "snug.h"

typedef enum snug_download_type {
    SNUG_DOWNLOAD_Q8_0,
    SNUG_DOWNLOAD_Q4_K_M,
    SNUG_DOWNLOAD_Q4_0,
    SNUG_DOWNLOAD_TYPE_COUNT
} snug_download_type;

/* "Q8_0", "Q4_K_M", "Q4_0". */
const char *snug_download_type_name(snug_download_type type);

/* Bytes of all the file's tensors in a file of that type: matrices re-encoded, vectors (norms, biases) kept. */
uint64_t snug_download_type_bytes(const snug_gguf *gguf, snug_download_type type);

/* Whether the file already is of that type: general.file_type says so, or every matrix has a type such a file uses
 * and at least one has its main type (a Q4_K_M file is Q4_K with some Q6_K). */
bool snug_download_type_is_file(const snug_gguf *gguf, snug_download_type type);

#endif
