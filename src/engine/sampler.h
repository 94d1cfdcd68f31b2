/* sampler.h — choosing the next token from logits: greedy, temperature, top-k, top-p, min-p, repetition penalty,
 * with a seeded random generator (same seed and logits, same tokens).
 *
 * The sampler owns no memory: its buffers are carved from the context's arena, sized by snug_sampler_bytes() at
 * planning time. Sampling never allocates.
 *
 * Order of the chain (the order llama.cpp's default chain uses, so users get what they expect):
 *   repetition penalty → (temperature <= 0: argmax) → top-k → min-p → softmax(logits / T) → top-p → draw.
 */
#ifndef SNUG_ENGINE_SAMPLER_H
#define SNUG_ENGINE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "snug.h"

typedef struct snug_candidate {
    int32_t token;
    float logit; /* after penalties (temperature is applied inside the softmax); becomes a probability */
} snug_candidate;

typedef struct snug_sampler {
    snug_sampler_params params;
    int32_t n_vocab;
    snug_candidate *candidates; /* (n_vocab) scratch for one sampling step */
    int32_t *recent;            /* (repeat_last_n) ring buffer of accepted tokens */
    int32_t recent_cap;         /* capacity of `recent` as planned */
    int32_t recent_count;
    int32_t recent_head;
    uint64_t rng_state;
} snug_sampler;

/* Bytes the sampler needs from the arena for this vocabulary and repeat window (each buffer rounded as the arena
 * rounds it). */
uint64_t snug_sampler_bytes(int32_t n_vocab, int32_t repeat_last_n);

/* Binds the sampler to its memory (from the arena: candidates first, then the ring). */
void snug_sampler_bind(snug_sampler *s, int32_t n_vocab, snug_candidate *candidates, int32_t *recent,
                       int32_t recent_cap);

/* Validates the parameters (SNUG_E_ARGUMENT with the offending value), then resets history and seeds the RNG.
 * repeat_last_n must not exceed the planned ring capacity. */
snug_status snug_sampler_init(snug_sampler *s, const snug_sampler_params *params, snug_error *err);

/* Samples one token. Returns SNUG_E_NUMERIC if any logit is NaN or infinite (never a garbage token). */
snug_status snug_sampler_sample(snug_sampler *s, const float *logits, int32_t *out_token, snug_error *err);

/* Records a token in the repetition history (prompt tokens and generated ones alike). */
void snug_sampler_accept(snug_sampler *s, int32_t token);

#endif
