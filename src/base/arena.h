/* arena.h — the one allocation of a plan.
 *
 * A planner adds up the bytes of every buffer with snug_arena_reserve() (which applies the same alignment rounding
 * that carving will); the arena is then allocated once with exactly that total, and the buffers are carved out in the
 * same order with snug_arena_take(). At the end, used == capacity is the proof that allocation matched the plan.
 * Nothing is ever freed individually; the arena goes away whole.
 */
#ifndef SNUG_BASE_ARENA_H
#define SNUG_BASE_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "snug.h"

/* Every buffer starts on a cache line (and a full AVX-512 vector). */
#define SNUG_ARENA_ALIGN 64u

typedef struct snug_arena {
    uint8_t *base;
    uint64_t capacity_bytes;
    uint64_t used_bytes;
} snug_arena;

/* Bytes one buffer of `bytes` occupies in the arena (rounded up to the alignment). 0 stays 0. */
uint64_t snug_arena_reserve(uint64_t bytes);

/* Allocates the arena (anonymous, zeroed pages). */
snug_status snug_arena_create(snug_arena *arena, uint64_t capacity_bytes, snug_error *err);
void snug_arena_destroy(snug_arena *arena);

/* Carves the next buffer. Returns NULL only if the plan was wrong (more taken than planned): a bug. */
void *snug_arena_take(snug_arena *arena, uint64_t bytes);

#endif
