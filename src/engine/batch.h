/* batch.h — the engine's per-sequence state and its view of one step of a batch (context.c; sized by the planner).
 *
 * A snug_batch from the caller may hold any number of tokens; the forward pass takes it in steps of at most n_batch
 * tokens (the plan's activations), each token described by a snug_batch_slot. */
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

typedef struct snug_batch_slot {
    snug_token token;
    int32_t pos;     /* its position in its sequence */
    snug_seq_id seq; /* its sequence */
    int32_t out_row; /* its row of logits, or −1 */
} snug_batch_slot;

#endif
