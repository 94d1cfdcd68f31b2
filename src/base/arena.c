/* arena.c — one anonymous mapping per plan, carved in order (see arena.h). */
#include "base/arena.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "base/error.h"

uint64_t snug_arena_reserve(uint64_t bytes) {
    return (bytes + (SNUG_ARENA_ALIGN - 1)) & ~(uint64_t)(SNUG_ARENA_ALIGN - 1);
}

snug_status snug_arena_create(snug_arena *arena, uint64_t capacity_bytes, snug_error *err) {
    arena->base = NULL;
    arena->capacity_bytes = capacity_bytes;
    arena->used_bytes = 0;
    if (capacity_bytes == 0) return SNUG_OK;
    if (capacity_bytes > (uint64_t)SIZE_MAX) {
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "arena of %llu bytes exceeds the address space",
                         (unsigned long long)capacity_bytes);
    }
    /* mmap rather than malloc: page-aligned, zeroed, and returned to the system whole on destroy. MAP_POPULATE
     * faults every page in now, so memory the plan promised is really there before the first token, instead of a
     * page fault failing (or the OOM killer striking) half-way through a reply. */
    void *p =
        mmap(NULL, (size_t)capacity_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "could not allocate the planned arena of %llu bytes: %s",
                         (unsigned long long)capacity_bytes, strerror(errno));
    }
    arena->base = p;
    return SNUG_OK;
}

void snug_arena_destroy(snug_arena *arena) {
    if (arena->base != NULL) munmap(arena->base, (size_t)arena->capacity_bytes);
    arena->base = NULL;
    arena->capacity_bytes = 0;
    arena->used_bytes = 0;
}

void *snug_arena_take(snug_arena *arena, uint64_t bytes) {
    uint64_t rounded = snug_arena_reserve(bytes);
    if (rounded == 0) return NULL;
    if (rounded > arena->capacity_bytes - arena->used_bytes) return NULL;
    void *p = arena->base + arena->used_bytes;
    arena->used_bytes += rounded;
    return p;
}
