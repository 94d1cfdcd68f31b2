/* plan.h — the memory plan: every byte a model will use on a device, decided before anything is allocated.
 *
 * A plan is built from the GGUF header alone (hyper-parameters, tensor table, vocabulary size), so it works on
 * header-only files. It lists line items (weights per type, KV cache, activations, scratch, logits, tokenizer tables,
 * the header index, runtime overhead) with device, residency and bytes; GPU kernels with their on-chip memory and
 * tile; the context and KV type chosen by the context policy and why; and the verdict against the budget, with the
 * overflowing item and ranked alternatives when it does not fit.
 *
 * The engine carves its arena from `buffers`, in order — its own (snug_engine_buffers), then the backend's (the
 * backend's buffers(), backend/backend.h) — and the arena is the sum of those, exactly (context.c checks).
 */
#ifndef SNUG_PLAN_PLAN_H
#define SNUG_PLAN_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "plan/device.h"
#include "plan/kernels.h"
#include "snug.h"

typedef enum snug_residency {
    SNUG_RESIDENCY_MMAP = 0,   /* pages of the model file, mapped read-only */
    SNUG_RESIDENCY_ANON = 1,   /* anonymous memory the process allocates */
    SNUG_RESIDENCY_DEVICE = 2, /* a GPU backend's own allocation on its device (Vulkan) */
} snug_residency;

enum {
    SNUG_PLAN_MAX_LINES = 48,
    SNUG_PLAN_MAX_KERNELS = 24,
    SNUG_PLAN_MAX_ALTERNATIVES = 8,
    SNUG_PLAN_MAX_BUFFERS = 2 * SNUG_MAX_BUFFERS,
};

typedef struct snug_plan_line {
    char name[40];
    char device[16]; /* "cpu", "metal", "cuda" for compute memory; "host" for host-side tables on a GPU device */
    snug_residency residency;
    bool in_arena; /* part of the one arena the engine allocates */
    bool counted;  /* counts against the device budget */
    uint64_t bytes;
} snug_plan_line;

typedef struct snug_plan_alternative {
    char text[200];
    int32_t n_ctx;
    uint32_t kv_type;
    int32_t n_parallel;
    uint64_t total_bytes;
    bool above_trained; /* n_ctx is beyond the model's trained context (the text says so too) */
} snug_plan_alternative;

struct snug_plan {
    /* The model, from the header. */
    char architecture[32];
    bool runnable;         /* snug can run this architecture (planning works for more) */
    snug_model_desc shape; /* n_vocab, n_embd, n_layer, heads, head_dim, n_ff, n_ctx_train */
    uint64_t n_params;     /* elements of all tensors */
    bool data_complete;    /* false: header-only file */

    /* The request and what was resolved from it. */
    snug_context_params request;
    snug_device device;
    int32_t n_ctx, n_batch, n_parallel, n_threads;
    int32_t kv_pages;    /* pages of the KV pool: n_parallel × ceil(n_ctx / SNUG_KV_PAGE_TOKENS) */
    int32_t max_outputs; /* logits rows one batch may ask for: n_parallel */
    uint32_t kv_type;
    uint64_t max_input_bytes;
    uint64_t runtime_code_bytes; /* the runtime_code line: measured resident program pages + what runs later */
    bool runtime_code_measured;  /* false: smaps was unreadable and the line is SNUG_RUNTIME_CODE_ESTIMATE_BYTES */
    char context_reason[320];
    bool context_above_trained; /* n_ctx > the trained context (context_reason says so) */
    char kv_reason[200];
    /* Where the weights live (snug_weights_mode): copied into anonymous memory, or mapped. A copy covers the file
     * range snug_gguf_data_span gives, rounded up to whole pages of weights_page_bytes (the device's huge page, or
     * 4 KiB without huge pages): weights_copy_bytes, the weights_* lines (then "anon") plus weights_padding. */
    bool weights_copied;
    uint64_t weights_page_bytes;
    uint64_t weights_copy_bytes;
    char weights_reason[160];
    /* The backend (snug_backend_ops.name of the device's backend) and why it was chosen; what it cannot run. */
    char backend_reason[240];
    char backend_unsupported[120]; /* non-empty: the backend has no kernel for something the model needs */

    /* Budget and totals (plan.c, set_budget). */
    uint64_t memory_bytes;          /* --mem, else the device's available memory × working-set fraction */
    uint64_t headroom_bytes;        /* taken from memory_bytes: --headroom, or the default for detected memory only */
    uint64_t budget_bytes;          /* memory_bytes − headroom, capped at detected_budget_bytes */
    uint64_t mem_limit_bytes;       /* --mem (0: none) */
    uint64_t detected_budget_bytes; /* the device's usable memory − its headroom */
    bool mem_capped;                /* --mem asked for more than detected_budget_bytes, which is the budget */
    uint64_t total_bytes;           /* all counted lines */
    uint64_t anon_bytes;            /* anonymous lines (arena + host tables + overhead) */
    uint64_t mmap_bytes;
    uint64_t device_bytes; /* a GPU backend's own allocations (SNUG_RESIDENCY_DEVICE lines) */
    uint64_t arena_bytes;

    snug_plan_line lines[SNUG_PLAN_MAX_LINES];
    int n_lines;
    snug_kernel_plan kernels[SNUG_PLAN_MAX_KERNELS];
    int n_kernels;
    snug_buffer_need
        buffers[SNUG_PLAN_MAX_BUFFERS]; /* the arena's buffers, before rounding: the engine's, the backend's */
    int n_buffers, n_engine_buffers;

    /* Verdict. */
    bool fits;
    char overflow_item[40];
    bool overflow_is_binding; /* a device buffer is larger than one allocation or binding may be: */
    char binding_item[40];    /* which (set for every candidate; find_overflow copies it) */
    uint64_t binding_piece_bytes, binding_limit_bytes;
    uint64_t overflow_needed_bytes;
    uint64_t overflow_available_bytes;
    snug_plan_alternative alternatives[SNUG_PLAN_MAX_ALTERNATIVES];
    int n_alternatives;
};

/* The shape the engine and the backend size their buffers from, for this plan. */
snug_backend_shape snug_plan_backend_shape(const snug_plan *plan, const snug_gguf *gguf);

/* Runtime overhead the plan names: the process's own anonymous memory outside the arena and the header tables
 * (C library state, the compute pool's thread stacks as touched, stdio buffers). Measured with
 * `snug run --report-memory` on Debian 12 x86-64 (gcc 12) when snug still ran on libgomp: peak RssAnon minus the
 * planned arena and tables was 215,729 bytes for stories260K and 222,073 bytes for a 110M-parameter model at context
 * 4096, with 1 and 2 threads alike; rounded up to 256 KiB, plus a margin per extra thread for its stack (a pool
 * worker touches 8-12 KiB of it: cpu/pool.h). On its own pool the same runs peak 25-33 KB under the anonymous items. */
#define SNUG_RUNTIME_OVERHEAD_BYTES            (256ull << 10)
#define SNUG_RUNTIME_OVERHEAD_PER_THREAD_BYTES (16ull << 10)

/* The program's own resident pages (line `runtime_code`, file-backed): the code and read-only data of snug and its
 * shared libraries, measured from /proc/self/smaps when the plan is made (process.h), plus the code a run first
 * executes after that — the forward pass, the matmul and attention kernels, the sampler, the pool's workers. On
 * Debian 12 x86-64 (gcc 12) that later part was 282–442 KiB over stories260K and the demo model with 1 and
 * 2 threads (smaps at the plan and at the end of `snug run -n 100`), rounded up to 512 KiB. When smaps cannot be
 * read the whole item is the estimate below: 3.4–3.6 MiB measured at the end of the same runs, rounded up. */
#define SNUG_RUNTIME_CODE_AFTER_PLAN_BYTES (512ull << 10)
#define SNUG_RUNTIME_CODE_ESTIMATE_BYTES   (4ull << 20)

/* Builds the plan. Fails only for a request or file that makes no sense (SNUG_E_ARGUMENT / SNUG_E_FORMAT); a plan
 * that does not fit is a successful result with fits == false. */
snug_status snug_plan_build(const snug_gguf *gguf, const snug_context_params *request, snug_plan *out, snug_error *err);

/* Fills err with SNUG_E_DOES_NOT_FIT: the overflowing item, needed vs available, and the best alternative. */
snug_status snug_plan_refusal(const snug_plan *plan, snug_error *err);

const snug_plan_line *snug_plan_find_line(const snug_plan *plan, const char *name);

#endif
