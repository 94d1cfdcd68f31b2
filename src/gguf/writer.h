/* writer.h — writing GGUF v3 files: metadata of every value type, tensors with aligned data.
 *
 * Used for synthetic test and benchmark models (and later by `snug quantize`). The writer collects metadata and
 * tensor descriptions in memory, then writes header, metadata, tensor infos, padding and data in one pass.
 * Tensor data is copied in already encoded (see cpu/quant.h for encoding rows).
 * This is tool code, not the token path: it allocates as it goes.
 *
 * Files appear whole or not at all (atomic_file.h): the bytes go to a temporary file in the destination's folder that
 * is renamed over the destination only when complete and fsync'ed; any failure removes it and leaves the destination
 * as it was. snug_remove_temporary_files() (snug.h) removes those in progress from a signal handler.
 */
#ifndef SNUG_GGUF_WRITER_H
#define SNUG_GGUF_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "snug.h"

typedef struct snug_gguf_writer snug_gguf_writer;

snug_gguf_writer *snug_gguf_writer_create(uint32_t version, uint32_t alignment);
void snug_gguf_writer_free(snug_gguf_writer *w);

/* Metadata. Each returns false only when out of memory. Keys are written in the order they are added. */
bool snug_gguf_writer_u32(snug_gguf_writer *w, const char *key, uint32_t value);
bool snug_gguf_writer_i32(snug_gguf_writer *w, const char *key, int32_t value);
bool snug_gguf_writer_u64(snug_gguf_writer *w, const char *key, uint64_t value);
bool snug_gguf_writer_f32(snug_gguf_writer *w, const char *key, float value);
bool snug_gguf_writer_bool(snug_gguf_writer *w, const char *key, bool value);
bool snug_gguf_writer_string(snug_gguf_writer *w, const char *key, const char *value);
bool snug_gguf_writer_strings(snug_gguf_writer *w, const char *key, const char *const *values, uint64_t count);
bool snug_gguf_writer_f32s(snug_gguf_writer *w, const char *key, const float *values, uint64_t count);
bool snug_gguf_writer_i32s(snug_gguf_writer *w, const char *key, const int32_t *values, uint64_t count);
/* Any value, already encoded as GGUF bytes (type tag excluded): for tests that need unusual values. */
bool snug_gguf_writer_raw(snug_gguf_writer *w, const char *key, uint32_t value_type, const void *bytes,
                          uint64_t n_bytes);

/* A tensor; `data` (bytes long, may be NULL for a header-only file) is copied. */
bool snug_gguf_writer_tensor(snug_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne,
                             const void *data, uint64_t bytes);

/* Copies metadata entry `index` of an opened file, value and type unchanged. */
bool snug_gguf_writer_copy_kv(snug_gguf_writer *w, const snug_gguf *from, uint64_t index);

/* Streaming: write the header now (tensors declared with data NULL and their final sizes), then each tensor's data
 * in declaration order, so a converter holds one tensor at a time. Nothing appears at `path` until close succeeds;
 * abort (or a failed close) removes the temporary file. */
typedef struct snug_gguf_stream snug_gguf_stream;
snug_status snug_gguf_stream_open(const snug_gguf_writer *w, const char *path, snug_gguf_stream **out, snug_error *err);
/* The data of the next tensor; `bytes` must equal what was declared for it. */
snug_status snug_gguf_stream_tensor(snug_gguf_stream *s, const void *data, uint64_t bytes, snug_error *err);
/* Finishes the file: checks every tensor was written and no write failed, then syncs it and renames it into place.
 * Frees the stream either way. */
snug_status snug_gguf_stream_close(snug_gguf_stream *s, snug_error *err);
/* Gives up: removes the temporary file (the destination stays as it was) and frees the stream. NULL is allowed. */
void snug_gguf_stream_abort(snug_gguf_stream *s);

/* Writes the file (atomically, as above). With header_only, the tensor data section is left out (a file for planning
 * only). */
snug_status snug_gguf_writer_write(const snug_gguf_writer *w, const char *path, bool header_only, snug_error *err);

#endif
