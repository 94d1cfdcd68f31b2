/* backend.h — the one interface every compute backend implements (calm-style: one folder per backend, one table of
 * functions as its entry point), and what the planner and the engine know of backends.
 *
 * A backend (src/cpu: snug_backend_cpu; src/vulkan next) does four things:
 *   buffers  says which buffers it needs for a model, a context and a batch — each with its bytes and the plan line
 *            it belongs to — so that the planner can count them without knowing the backend's internals;
 *   create   takes those buffers (carved from the plan's one arena, in the order it listed them) and the model;
 *   run      runs one step of a batch: every token's keys and values into its page, attention through each token's
 *            page list, and the logits of the tokens that asked for them into the engine's rows; returns a status;
 *   copy_kv  copies the first rows of a KV page into another page, every layer (copy on write of a shared page).
 * The KV pool's bookkeeping (which page is free, who holds it: engine/kv_pool.h) is the engine's; the pages' memory is
 * the backend's. Layering: base → gguf → model → backend (this interface) → plan → cpu (an implementation) → engine.
 * The planner includes only this header; src/backend/registry.c, the composition root, names the implementations.
 */
#ifndef SNUG_BACKEND_BACKEND_H
#define SNUG_BACKEND_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snug.h"

/* Positions per page of the KV pool (engine/kv_pool.h). 64: a page run is 4 iterations of the CPU's AVX-512 score
 * kernel (16 keys each) and half an attention block (SNUG_ATTENTION_BLOCK_KEYS), so reading through the page table
 * costs a few calls per block; a sequence leaves at most 63 positions of its last page unused; a shared prefix is
 * reused in steps of 64 tokens. */
#define SNUG_KV_PAGE_TOKENS 64

/* One buffer a backend (or the engine) needs: bytes, and the plan line that counts them ("kv_cache", …). Host
 * buffers are carved from the plan's one arena; device buffers (a GPU backend's) are allocated by the backend itself,
 * with exactly these bytes, in `pieces` allocations of bytes / pieces each (a KV cache per layer), or — pieces 0 —
 * split as the backend needs to keep each allocation and binding under the device's limits (weights, by rows). */
typedef struct snug_buffer_need {
    char line[24];
    uint64_t bytes;
    bool device;
    uint32_t pieces;
} snug_buffer_need;

/* A GPU kernel's on-chip (shared) memory at each of its candidate tiles, as the backend's formula gives it: the
 * planner picks the largest tile under the device's limit and hands it back in the shape (kernel_tiles). */
enum { SNUG_KERNEL_MAX_TILES = 8, SNUG_MAX_KERNEL_NEEDS = 16 };
typedef struct snug_kernel_need {
    char name[32];      /* "attention_f16", "matmul_q4_k", "rmsnorm" */
    char tile_unit[24]; /* what a tile counts: "KV positions", "tokens a pass" */
    uint32_t n_tiles;
    uint32_t tiles[SNUG_KERNEL_MAX_TILES];        /* candidates, ascending */
    uint64_t onchip_bytes[SNUG_KERNEL_MAX_TILES]; /* shared memory at each candidate */
    uint32_t default_tile;                        /* what a kernel written without a planner would launch */
    uint64_t default_onchip_bytes;
} snug_kernel_need;

/* Everything the buffers depend on: the model (its header: shapes, tensor types), the context and the batch. */
typedef struct snug_backend_shape {
    int device_kind;       /* snug_device.kind: the backend's device; planning other devices uses the CPU's list */
    const snug_gguf *gguf; /* the tensor table (weight types and row lengths) */
    const snug_model_desc *model;
    int32_t n_ctx;       /* positions a sequence may hold */
    int32_t n_batch;     /* tokens a step may hold */
    int32_t n_seq;       /* sequences */
    int32_t n_threads;   /* compute threads (the CPU backend's) */
    int32_t kv_pages;    /* pages of the KV pool */
    int32_t page_tokens; /* positions a page holds */
    int32_t max_outputs; /* logits rows a batch may ask for */
    uint32_t kv_type;    /* SNUG_TYPE_F16, _Q8_0, _F32 */
    uint64_t max_input_bytes;
    int32_t device_index;                         /* which device of its kind (Vulkan: snug_vulkan_probe's order) */
    uint64_t device_max_buffer_bytes;             /* a GPU's largest buffer: min(one allocation, one binding) */
    uint32_t kernel_tiles[SNUG_MAX_KERNEL_NEEDS]; /* the tile the plan chose for each of kernels()'s kernels */
    int32_t n_kernel_tiles;
} snug_backend_shape;

/* What one token of a step sees: positions 0 … n_pos − 1 of its sequence, in the pages listed (page ids by
 * position / page_tokens). */
typedef struct snug_token_view {
    const int32_t *pages;
    int64_t n_pos;
} snug_token_view;

/* One step of a batch, as the engine hands it to the backend. */
typedef struct snug_backend_step {
    int64_t n_tokens;             /* ≤ the shape's n_batch */
    const snug_token *tokens;     /* (n_tokens) */
    const int32_t *positions;     /* (n_tokens) each token's position in its sequence */
    const int32_t *sequences;     /* (n_tokens) for messages only: which sequence a token belongs to */
    const snug_token_view *views; /* (n_tokens) where each token's keys and values go and what it attends to */
    const int32_t *out_rows;      /* (n_tokens) the logits row of each token, or −1; rows of a step are consecutive */
    float *logits;                /* (max_outputs, n_vocab) the engine's rows */
    bool several_sequences;       /* name the sequence in messages */
} snug_backend_step;

typedef struct snug_backend snug_backend; /* one backend's state: opaque to the engine */
struct snug_model;

typedef struct snug_backend_ops {
    const char *name; /* "cpu" */
    /* The buffers for a shape, in the order create takes them; returns how many (at most cap are written). */
    size_t (*buffers)(const snug_backend_shape *shape, snug_buffer_need *out, size_t cap);
    /* A backend over `buffers` (as many as buffers() listed, each of its bytes) for this model. SNUG_E_UNSUPPORTED
     * names a weight type it cannot compute. */
    snug_status (*create)(const snug_backend_shape *shape, const struct snug_model *model, void *const *buffers,
                          snug_backend **out, snug_error *err);
    void (*destroy)(snug_backend *backend);
    /* Runs one step. SNUG_E_NUMERIC (naming layer, step, position) when a result is not finite; then the logits rows
     * are not valid. */
    snug_status (*run)(snug_backend *backend, const snug_backend_step *step, snug_error *err);
    /* Copies positions 0 … rows − 1 of page `from` into page `to`, keys and values of every layer. */
    void (*copy_kv)(snug_backend *backend, int32_t from, int32_t to, int32_t rows);
    /* A GPU backend's kernels and their on-chip memory per tile, for a shape (NULL for the CPU). */
    size_t (*kernels)(const snug_backend_shape *shape, snug_kernel_need *out, size_t cap);
    /* Device bytes the backend allocated, per plan line name (NULL for the CPU): for the tests that hold a backend to
     * its plan. Returns 0 for a line it has nothing of. */
    uint64_t (*device_bytes)(const snug_backend *backend, const char *line);
} snug_backend_ops;

/* The backend for a device kind (snug_device.kind), NULL when none is built for it. */
const snug_backend_ops *snug_backend_for_device(int device_kind);
/* The engine's own host buffers for a shape (sequences, samplers, logits rows, tokenizer scratch, …), in the order the
 * engine carves them: they are planned with the backend's. */
size_t snug_engine_buffers(const snug_backend_shape *shape, snug_buffer_need *out, size_t cap);

/* Most buffers one backend or the engine lists. */
#define SNUG_MAX_BUFFERS 32

#endif
