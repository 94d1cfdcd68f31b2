/* batch.h — the engine's per-sequence state (context.c; sized by snug_context_buffers).
 *
 * A snug_batch from the caller may hold any number of tokens; the backend takes it in steps of at most n_batch
 * tokens (the plan's activations), each described by a snug_backend_step (backend/backend.h). */
#ifndef SNUG_ENGINE_BATCH_H
#define SNUG_ENGINE_BATCH_H

#include <stdint.h>

#include "engine/kv_pool.h"
#include "snug.h"

typedef struct snug_seq_state {
    snug_kv_seq kv;
    int32_t start_tokens; /* its length when the running batch began: what a failed batch goes back to */
    int32_t next_pos;     /* while a batch is checked: the position its next token must have */
} snug_seq_state;

#endif
