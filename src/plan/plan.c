/* plan.c — building the memory plan from a GGUF header (see plan.h and DESIGN.md, "The planner").
 *
 * The same function (build_lines) sizes every buffer for a candidate (context, KV type, parallel sequences), so the
 * context policy can try candidates cheaply and the engine later carves exactly the buffers of the chosen one.
 * Context policy: the default is min(trained, 8192) when it fits, else the largest multiple of 256 that does;
 * SNUG_CTX_MAX is the largest that fits up to the trained context; an explicit context is honoured exactly or the
 * plan does not fit. KV auto is f16, switching to q8_0 when that is what reaches the requested context.
 */
#include "plan/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/units.h"
#include "cpu/attention.h"
#include "engine/batch.h"
#include "engine/kv_pool.h"
#include "engine/sampler.h"
#include "gguf/gguf.h"
#include "gguf/types.h"
#include "model/hparams.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "plan/download_types.h"
#include "plan/hw.h"
#include "plan/memory.h"
#include "plan/process.h"

#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * 1024.0 * 1024.0)
/* Default headroom: max(5% of memory, 512 MiB) (DESIGN.md, "Budget"). */
#define HEADROOM_FRACTION  0.05
#define HEADROOM_MIN_BYTES (512ull << 20)
/* Request limits: beyond any real model; small enough that no size computed from them overflows. */
#define MAX_CTX_REQUEST       (1 << 24)
#define MAX_PARALLEL          256
#define MAX_THREADS           1024
#define MAX_INPUT_BYTES_LIMIT (1ull << 28)

static uint32_t kv_type_id(snug_kv_type kv) {
    switch (kv) {
    case SNUG_KV_Q8_0: return SNUG_TYPE_Q8_0;
    case SNUG_KV_F32: return SNUG_TYPE_F32;
    default: return SNUG_TYPE_F16;
    }
}

static const char *kv_type_label(uint32_t type) {
    return type == SNUG_TYPE_Q8_0 ? "q8_0" : type == SNUG_TYPE_F32 ? "f32" : "f16";
}

static const char *device_label(const snug_device *d) { return snug_device_kind_name(d->kind); }

/* Bytes of one position's keys (or values) for all KV heads of a layer. */
static uint64_t kv_row_bytes(const snug_plan *p, uint32_t kv_type) {
    uint64_t bytes = 0;
    snug_type_row_bytes(kv_type, (uint64_t)p->shape.n_head_kv * (uint64_t)p->shape.head_dim, &bytes);
    return bytes;
}

snug_backend_shape snug_plan_backend_shape(const snug_plan *p, const snug_gguf *gguf) {
    snug_backend_shape s = {
        .device_kind = p->device.kind,
        .gguf = gguf,
        .model = &p->shape,
        .n_ctx = p->n_ctx,
        .n_batch = p->n_batch,
        .n_seq = p->n_parallel,
        .n_threads = p->n_threads,
        .kv_pages = p->kv_pages,
        .page_tokens = SNUG_KV_PAGE_TOKENS,
        .max_outputs = p->max_outputs,
        .kv_type = p->kv_type,
        .max_input_bytes = p->max_input_bytes,
        .device_index = p->device.vulkan_index,
        .device_max_buffer_bytes = snug_device_max_buffer_bytes(&p->device),
    };
    /* The tiles the plan chose for a GPU backend's kernels, in the order its kernels() lists them. */
    if (p->device.kind == SNUG_DEVICE_VULKAN) {
        for (int k = 0; k < p->n_kernels && k < SNUG_MAX_KERNEL_NEEDS; k++) s.kernel_tiles[k] = p->kernels[k].tile;
        s.n_kernel_tiles = p->n_kernels < SNUG_MAX_KERNEL_NEEDS ? p->n_kernels : SNUG_MAX_KERNEL_NEEDS;
    }
    return s;
}

/* The arena's buffers for the plan's candidate: the engine's, then its backend's (a device without a backend of its
 * own — a GPU profile — is sized as the CPU backend would run it: the same activations, KV and scratch). */
static void size_buffers(snug_plan *p, const snug_gguf *gguf) {
    const snug_backend_shape shape = snug_plan_backend_shape(p, gguf);
    const snug_backend_ops *backend = snug_backend_for_device(p->device.kind);
    if (!backend) backend = snug_backend_for_device(SNUG_DEVICE_CPU);
    size_t n = snug_engine_buffers(&shape, p->buffers, SNUG_MAX_BUFFERS);
    p->n_engine_buffers = (int)n;
    n += backend->buffers(&shape, p->buffers + n, SNUG_PLAN_MAX_BUFFERS - n);
    p->n_buffers = (int)n;
}

/* Host-side lines stay on the host even when the compute device is a GPU. */
static bool host_side(const char *line) {
    return strcmp(line, "token_ids") == 0 || strcmp(line, "tokenizer_scratch") == 0 || strcmp(line, "sampler") == 0 ||
           strcmp(line, "tokenizer_tables") == 0 || strcmp(line, "model_index") == 0 ||
           strcmp(line, "runtime_overhead") == 0 || strcmp(line, "runtime_code") == 0 ||
           strcmp(line, "model_header") == 0;
}

static snug_plan_line *add_line(snug_plan *p, const char *name, snug_residency residency, bool in_arena) {
    for (int i = 0; i < p->n_lines; i++) {
        if (strcmp(p->lines[i].name, name) == 0) return &p->lines[i];
    }
    if (p->n_lines == SNUG_PLAN_MAX_LINES) return NULL;
    snug_plan_line *l = &p->lines[p->n_lines++];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    /* On a Vulkan device exactly the backend's own allocations are device memory; on a GPU profile, all but the
     * host-side tables (the profile is sized as the CPU backend would run). */
    bool on_host = p->device.kind == SNUG_DEVICE_VULKAN ? residency != SNUG_RESIDENCY_DEVICE
                                                        : p->device.kind != SNUG_DEVICE_CPU && host_side(name);
    snprintf(l->device, sizeof l->device, "%s", on_host ? "host" : device_label(&p->device));
    l->residency = residency;
    l->in_arena = in_arena;
    l->counted = !on_host; /* a GPU's budget is its own memory; host tables live in host RAM */
    return l;
}

/* Everything the file's header says, independent of the candidate context. */
typedef struct header_facts {
    const snug_gguf *gguf; /* for the tensor table (the "smaller file" alternatives) */
    uint64_t weight_bytes_by_type[SNUG_TYPE_ID_LIMIT];
    uint64_t tokenizer_table_bytes;
    uint64_t model_index_bytes;
    uint64_t header_bytes;    /* the file before its tensor data: metadata, vocabulary, tensor table (mapped) */
    uint64_t data_span_bytes; /* what a copy of the weights reads (snug_gguf_data_span) */
    uint32_t weight_types[SNUG_TYPE_ID_LIMIT];
    int n_weight_types;
    uint32_t compute_type;
} header_facts;

/* The kernels of a GPU backend (its kernels(): on-chip bytes per candidate tile): each gets the largest tile whose
 * shared memory fits the device's limit — or the tile the request forces (attention_tile), fitting or not, so that
 * the refusal of an oversized tile can be shown. A kernel with no candidate tiles is one the backend does not have
 * (a weight type it cannot compute): backend_unsupported names it. */
static void plan_backend_kernels(snug_plan *p, const header_facts *h) {
    const snug_backend_ops *backend = snug_backend_for_device(p->device.kind);
    snug_kernel_need needs[SNUG_MAX_KERNEL_NEEDS];
    const snug_backend_shape shape = snug_plan_backend_shape(p, h->gguf);
    size_t n = backend && backend->kernels ? backend->kernels(&shape, needs, SNUG_MAX_KERNEL_NEEDS) : 0;
    if (n > SNUG_MAX_KERNEL_NEEDS) n = SNUG_MAX_KERNEL_NEEDS;
    p->n_kernels = 0;
    p->backend_unsupported[0] = '\0';
    const uint64_t limit = snug_kernel_limit_bytes(&p->device);
    for (size_t i = 0; i < n && p->n_kernels < SNUG_PLAN_MAX_KERNELS; i++) {
        const snug_kernel_need *need = &needs[i];
        if (need->n_tiles == 0) {
            snprintf(p->backend_unsupported, sizeof p->backend_unsupported, "the %.16s backend has no kernel %.32s",
                     backend->name, need->name);
            continue;
        }
        snug_kernel_plan *k = &p->kernels[p->n_kernels++];
        memset(k, 0, sizeof *k);
        snprintf(k->name, sizeof k->name, "%.31s", need->name);
        k->id = strncmp(need->name, "attention", 9) == 0 ? SNUG_KERNEL_ATTENTION_DECODE : SNUG_KERNEL_MATVEC;
        k->limit_bytes = limit;
        k->tile = need->tiles[0];
        k->onchip_bytes = need->onchip_bytes[0];
        const uint32_t forced = k->id == SNUG_KERNEL_ATTENTION_DECODE ? p->request.attention_tile : 0;
        for (int t = (int)need->n_tiles - 1; t >= 0; t--) {
            const bool chosen = forced ? need->tiles[t] == forced : need->onchip_bytes[t] <= limit;
            if (chosen) {
                k->tile = need->tiles[t];
                k->onchip_bytes = need->onchip_bytes[t];
                k->fits = need->onchip_bytes[t] <= limit;
                break;
            }
        }
        k->default_tile = need->default_tile;
        k->default_onchip_bytes = need->default_onchip_bytes;
        snprintf(k->tile_text, sizeof k->tile_text, "%u %s", k->tile, need->tile_unit);
    }
}

/* Rebuilds lines, totals, kernels and fits for one candidate. */
static void build_lines(snug_plan *p, const header_facts *h, int32_t n_ctx, uint32_t kv_type, int32_t n_parallel) {
    p->n_ctx = n_ctx;
    p->kv_type = kv_type;
    p->n_parallel = n_parallel;
    /* The KV pool: whole pages, enough for every sequence to reach the context (engine/kv_pool.h). */
    p->kv_pages = n_parallel * ((n_ctx + SNUG_KV_PAGE_TOKENS - 1) / SNUG_KV_PAGE_TOKENS);
    p->max_outputs = n_parallel;
    p->n_batch = p->request.n_batch > 0 ? p->request.n_batch : SNUG_DEFAULT_BATCH;
    if (p->n_batch > n_ctx) p->n_batch = n_ctx;
    p->n_lines = 0;
    /* On a Vulkan device the backend lists the weights it copies to the device (buffers below); what stays in the
     * mapped file (the embedding table, read a row a token on the host) is one host line. */
    const bool device_weights = p->device.kind == SNUG_DEVICE_VULKAN;
    for (uint32_t t = 0; t < SNUG_TYPE_ID_LIMIT && !device_weights; t++) {
        if (h->weight_bytes_by_type[t] == 0) continue;
        char name[40], lower[16];
        snug_type_name_lower(t, lower, sizeof lower);
        snprintf(name, sizeof name, "weights_%s", lower);
        add_line(p, name, p->weights_copied ? SNUG_RESIDENCY_ANON : SNUG_RESIDENCY_MMAP, false)->bytes =
            h->weight_bytes_by_type[t];
    }
    if (p->weights_copied) {
        /* The copy's bytes that are no tensor: alignment gaps between tensors and the last page's tail. */
        add_line(p, "weights_padding", SNUG_RESIDENCY_ANON, false)->bytes =
            p->weights_copy_bytes - p->shape.weight_bytes;
    }
    size_buffers(p, h->gguf);
    p->arena_bytes = 0;
    p->overflow_is_binding = false;
    uint64_t on_device_weights = 0;
    for (int b = 0; b < p->n_buffers; b++) {
        const snug_buffer_need *need = &p->buffers[b];
        if (need->device) {
            add_line(p, need->line, SNUG_RESIDENCY_DEVICE, false)->bytes += need->bytes;
            if (strncmp(need->line, "weights_", 8) == 0) on_device_weights += need->bytes;
            /* One allocation, bound whole: neither may pass the device's limits. */
            const uint64_t limit = snug_device_max_buffer_bytes(&p->device);
            const uint64_t piece = need->pieces ? need->bytes / need->pieces : 0;
            if (piece > limit && !p->overflow_is_binding) {
                p->overflow_is_binding = true;
                snprintf(p->binding_item, sizeof p->binding_item, "%s", need->line);
                p->binding_piece_bytes = piece;
                p->binding_limit_bytes = limit;
            }
            continue;
        }
        uint64_t bytes = snug_arena_reserve(need->bytes);
        add_line(p, need->line, SNUG_RESIDENCY_ANON, true)->bytes += bytes;
        p->arena_bytes += bytes;
    }
    if (device_weights)
        add_line(p, "weights_host", SNUG_RESIDENCY_MMAP, false)->bytes = p->shape.weight_bytes - on_device_weights;
    add_line(p, "tokenizer_tables", SNUG_RESIDENCY_ANON, false)->bytes = h->tokenizer_table_bytes;
    add_line(p, "model_index", SNUG_RESIDENCY_ANON, false)->bytes = h->model_index_bytes;
    add_line(p, "model_header", SNUG_RESIDENCY_MMAP, false)->bytes = h->header_bytes;
    add_line(p, "runtime_overhead", SNUG_RESIDENCY_ANON, false)->bytes =
        SNUG_RUNTIME_OVERHEAD_BYTES + (uint64_t)(p->n_threads - 1) * SNUG_RUNTIME_OVERHEAD_PER_THREAD_BYTES;
    add_line(p, "runtime_code", SNUG_RESIDENCY_MMAP, false)->bytes = p->runtime_code_bytes;

    p->total_bytes = p->anon_bytes = p->mmap_bytes = p->device_bytes = 0;
    for (int i = 0; i < p->n_lines; i++) {
        const snug_plan_line *l = &p->lines[i];
        if (l->counted) p->total_bytes += l->bytes;
        if (l->residency == SNUG_RESIDENCY_ANON)
            p->anon_bytes += l->bytes;
        else if (l->residency == SNUG_RESIDENCY_DEVICE)
            p->device_bytes += l->bytes;
        else
            p->mmap_bytes += l->bytes;
    }

    if (p->device.kind == SNUG_DEVICE_VULKAN) {
        plan_backend_kernels(p, h);
    } else {
        snug_kernel_shape ks = {p->shape.head_dim, p->shape.n_head, p->shape.n_head_kv, kv_type,
                                h->compute_type,   h->weight_types, h->n_weight_types};
        p->n_kernels = (int)snug_kernels_plan(&p->device, &ks, p->kernels, SNUG_PLAN_MAX_KERNELS);
        if (p->n_kernels > SNUG_PLAN_MAX_KERNELS) p->n_kernels = SNUG_PLAN_MAX_KERNELS;
    }

    p->fits = p->total_bytes <= p->budget_bytes && !p->overflow_is_binding;
    for (int k = 0; k < p->n_kernels; k++) p->fits = p->fits && p->kernels[k].fits;
    if (kv_type == SNUG_TYPE_Q8_0 && p->shape.head_dim % 32 != 0) p->fits = false;
}

static bool try_candidate(snug_plan *p, const header_facts *h, int32_t n_ctx, uint32_t kv_type, int32_t parallel) {
    build_lines(p, h, n_ctx, kv_type, parallel);
    return p->fits;
}

/* The largest multiple of SNUG_CTX_STEP in [SNUG_CTX_STEP, limit] that fits (0: none). Totals grow with the context,
 * so a binary search over the multiples finds it. Leaves the plan built for an arbitrary candidate. */
static int32_t largest_fitting_ctx(snug_plan *p, const header_facts *h, int32_t limit, uint32_t kv, int32_t par) {
    int32_t lo = 0, hi = limit / SNUG_CTX_STEP; /* in steps; lo fits (0 = sentinel) */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        if (try_candidate(p, h, mid * SNUG_CTX_STEP, kv, par)) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo * SNUG_CTX_STEP;
}

static double gib(uint64_t bytes) { return (double)bytes / GIB; }

/* Names the line that overflowed: a kernel that does not fit on chip, else the weights when they alone leave no
 * room, else the KV cache (the item that grows with the request). */
static void find_overflow(snug_plan *p) {
    if (p->overflow_is_binding) { /* build_lines named the buffer, its bytes and the limit */
        snprintf(p->overflow_item, sizeof p->overflow_item, "%s", p->binding_item);
        p->overflow_needed_bytes = p->binding_piece_bytes;
        p->overflow_available_bytes = p->binding_limit_bytes;
        return;
    }
    for (int k = 0; k < p->n_kernels; k++) {
        if (!p->kernels[k].fits) {
            snprintf(p->overflow_item, sizeof p->overflow_item, "%s", p->kernels[k].name);
            p->overflow_needed_bytes = p->kernels[k].onchip_bytes;
            p->overflow_available_bytes = p->kernels[k].limit_bytes;
            return;
        }
    }
    const snug_plan_line *kv = snug_plan_find_line(p, "kv_cache");
    uint64_t others = p->total_bytes - (kv ? kv->bytes : 0);
    /* The largest counted item besides the KV cache (the weights of one type, in any real case). */
    const snug_plan_line *largest = NULL;
    for (int i = 0; i < p->n_lines; i++) {
        const snug_plan_line *l = &p->lines[i];
        if (l->counted && l != kv && (!largest || l->bytes > largest->bytes)) largest = l;
    }
    if (largest && others > p->budget_bytes) {
        /* Even without a KV cache nothing fits: name that item with its own bytes, against what the rest leaves
         * for it. */
        uint64_t rest = others - largest->bytes;
        snprintf(p->overflow_item, sizeof p->overflow_item, "%s", largest->name);
        p->overflow_needed_bytes = largest->bytes;
        p->overflow_available_bytes = p->budget_bytes > rest ? p->budget_bytes - rest : 0;
    } else {
        snprintf(p->overflow_item, sizeof p->overflow_item, "kv_cache");
        p->overflow_needed_bytes = kv ? kv->bytes : 0;
        p->overflow_available_bytes = p->budget_bytes - others;
    }
}

/* ", above the trained context N" when n_ctx is beyond what the model was trained on (its output degrades there). */
static const char *above_trained_note(const snug_plan *p, int32_t n_ctx, char *buf, size_t cap) {
    buf[0] = '\0';
    if (p->shape.n_ctx_train > 0 && n_ctx > p->shape.n_ctx_train)
        snprintf(buf, cap, ", above the trained context %d", p->shape.n_ctx_train);
    return buf;
}

static void add_alternative(snug_plan *p, int32_t n_ctx, uint32_t kv, int32_t par, const char *fmt_text) {
    if (p->n_alternatives == SNUG_PLAN_MAX_ALTERNATIVES) return;
    snug_plan_alternative *a = &p->alternatives[p->n_alternatives++];
    a->n_ctx = n_ctx;
    a->kv_type = kv;
    a->n_parallel = par;
    a->total_bytes = p->total_bytes;
    a->above_trained = p->shape.n_ctx_train > 0 && n_ctx > p->shape.n_ctx_train;
    char total[32], budget[32], note[64];
    snprintf(a->text, sizeof a->text, "%s (total %s of %s%s)", fmt_text,
             snug_format_bytes(total, sizeof total, p->total_bytes),
             snug_format_bytes(budget, sizeof budget, p->budget_bytes),
             above_trained_note(p, n_ctx, note, sizeof note));
}

/* Ranked alternatives that fit: a smaller context, q8_0 KV, fewer sequences, a smaller weight type (sized from this
 * file's tensors, never the type the file already is). Restores the plan to the refused candidate afterwards. */
static void find_alternatives(snug_plan *p, const header_facts *h) {
    const int32_t want_ctx = p->n_ctx, want_par = p->n_parallel;
    const uint32_t want_kv = p->kv_type;
    char text[160];
    p->n_alternatives = 0;
    int32_t ctx_same_kv = largest_fitting_ctx(p, h, want_ctx, want_kv, want_par);
    if (ctx_same_kv > 0) {
        try_candidate(p, h, ctx_same_kv, want_kv, want_par);
        snprintf(text, sizeof text, "--ctx %d with %s KV", ctx_same_kv, kv_type_label(want_kv));
        add_alternative(p, ctx_same_kv, want_kv, want_par, text);
    }
    if (want_kv != SNUG_TYPE_Q8_0 && p->shape.head_dim % 32 == 0) {
        if (try_candidate(p, h, want_ctx, SNUG_TYPE_Q8_0, want_par)) {
            snprintf(text, sizeof text, "--kv q8_0 at context %d", want_ctx);
            add_alternative(p, want_ctx, SNUG_TYPE_Q8_0, want_par, text);
        } else {
            int32_t c8 = largest_fitting_ctx(p, h, want_ctx, SNUG_TYPE_Q8_0, want_par);
            if (c8 > ctx_same_kv) {
                try_candidate(p, h, c8, SNUG_TYPE_Q8_0, want_par);
                snprintf(text, sizeof text, "--kv q8_0 --ctx %d", c8);
                add_alternative(p, c8, SNUG_TYPE_Q8_0, want_par, text);
            }
        }
    }
    for (int32_t par = want_par - 1; par >= 1; par--) {
        if (try_candidate(p, h, want_ctx, want_kv, par)) {
            snprintf(text, sizeof text, "--parallel %d at context %d", par, want_ctx);
            add_alternative(p, want_ctx, want_kv, par, text);
            break;
        }
    }
    build_lines(p, h, want_ctx, want_kv, want_par);
    bool kernels_fit = true;
    for (int k = 0; k < p->n_kernels; k++) kernels_fit = kernels_fit && p->kernels[k].fits;
    if (!kernels_fit && p->request.attention_tile != 0 && p->n_alternatives < SNUG_PLAN_MAX_ALTERNATIVES) {
        snug_context_params r = p->request;
        snug_plan_alternative *a = &p->alternatives[p->n_alternatives++];
        *a = (snug_plan_alternative){.n_ctx = want_ctx, .kv_type = want_kv, .n_parallel = want_par};
        snprintf(a->text, sizeof a->text, "the planner's own tile (leave out --attention-tile %u)", r.attention_tile);
    }
    if (!kernels_fit) return; /* a smaller file changes no kernel's on-chip memory */
    uint64_t weights = 0;
    for (int i = 0; i < p->n_lines; i++) {
        if (strncmp(p->lines[i].name, "weights_", 8) == 0 && p->lines[i].counted) weights += p->lines[i].bytes;
    }
    for (int t = 0; t < SNUG_DOWNLOAD_TYPE_COUNT; t++) {
        if (snug_download_type_is_file(h->gguf, (snug_download_type)t)) continue;
        uint64_t bytes = snug_download_type_bytes(h->gguf, (snug_download_type)t);
        if (bytes >= weights) continue;
        uint64_t total = p->total_bytes - weights + bytes;
        if (total <= p->budget_bytes && p->n_alternatives < SNUG_PLAN_MAX_ALTERNATIVES) {
            snug_plan_alternative *a = &p->alternatives[p->n_alternatives++];
            char note[64];
            *a = (snug_plan_alternative){.n_ctx = want_ctx,
                                         .kv_type = want_kv,
                                         .n_parallel = want_par,
                                         .total_bytes = total,
                                         .above_trained = p->shape.n_ctx_train > 0 && want_ctx > p->shape.n_ctx_train};
            snprintf(a->text, sizeof a->text,
                     "a %s file of this model (%.2f GiB of weights, this file has %.2f GiB) at context %d (total "
                     "%.2f GiB of %.2f GiB%s)",
                     snug_download_type_name((snug_download_type)t), gib(bytes), gib(weights), want_ctx, gib(total),
                     gib(p->budget_bytes), above_trained_note(p, want_ctx, note, sizeof note));
        }
    }
    build_lines(p, h, want_ctx, want_kv, want_par);
}

/* ---- reading the header ------------------------------------------------------------------------------------------ */

static snug_status read_vocab_size(const snug_gguf *g, const char *arch, int32_t *out, snug_error *err) {
    int64_t idx = snug_gguf_find_key(g, "tokenizer.ggml.tokens");
    snug_gguf_value_type et;
    uint64_t count;
    if (idx >= 0 && snug_gguf_kv_get_array(g, (uint64_t)idx, &et, &count) && count > 0 && count < (1u << 30)) {
        *out = (int32_t)count;
        return SNUG_OK;
    }
    char key[96];
    snprintf(key, sizeof key, "%s.vocab_size", arch);
    int64_t v;
    idx = snug_gguf_find_key(g, key);
    if (idx >= 0 && snug_gguf_kv_get_i64(g, (uint64_t)idx, &v) && v > 0 && v < (1 << 30)) {
        *out = (int32_t)v;
        return SNUG_OK;
    }
    const snug_tensor_info *t = snug_gguf_find_tensor(g, "token_embd.weight");
    if (t && t->n_dims == 2 && t->ne[1] < (1u << 30)) {
        *out = (int32_t)t->ne[1];
        return SNUG_OK;
    }
    return snug_fail(err, SNUG_E_FORMAT,
                     "cannot tell the vocabulary size: no tokenizer.ggml.tokens, %s, or "
                     "token_embd.weight",
                     key);
}

static snug_status read_header(const snug_gguf *g, snug_plan *p, header_facts *h, snug_error *err) {
    snug_status st = snug_architecture_read(g, p->architecture, sizeof p->architecture, err);
    if (st != SNUG_OK) return st;
    p->runnable = snug_architecture_find(p->architecture) != NULL;
    snug_rope_params rope = {0}; /* filled by snug_hparams_read; only the shape is used here */
    if ((st = snug_hparams_read(g, p->architecture, &p->shape, &rope, err)) != SNUG_OK) return st;
    p->shape.architecture = p->architecture;
    if ((st = read_vocab_size(g, p->architecture, &p->shape.n_vocab, err)) != SNUG_OK) return st;
    p->data_complete = snug_gguf_data_complete(g);
    bool all_f32 = true;
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(g, i);
        h->weight_bytes_by_type[t->type] += t->bytes;
        p->shape.weight_bytes += t->bytes;
        p->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        if (t->n_dims < 2) continue;
        if (t->type != SNUG_TYPE_F32) all_f32 = false;
        bool seen = false;
        for (int k = 0; k < h->n_weight_types; k++) seen |= h->weight_types[k] == t->type;
        if (!seen) h->weight_types[h->n_weight_types++] = t->type;
    }
    /* An "fp32 model" stages f32 on chip; anything else runs its GPU kernels in f16. */
    h->compute_type = all_f32 ? SNUG_TYPE_F32 : SNUG_TYPE_F16;
    /* Tables the loader allocates: exact for a vocabulary snug reads; an estimate (per token: a piece view, score,
     * type and two hash slots, ~32 bytes) for one it cannot run yet. */
    snug_error ignored;
    if (snug_tokenizer_table_bytes(g, &h->tokenizer_table_bytes, &ignored) != SNUG_OK) {
        h->tokenizer_table_bytes = (uint64_t)p->shape.n_vocab * 32;
    }
    h->model_index_bytes = g->index_bytes + (uint64_t)p->shape.n_layer * sizeof(snug_layer_weights);
    /* The reader walks all of it and the tokenizer's pieces point into it, so its pages stay resident. */
    h->header_bytes = snug_gguf_data_offset(g);
    uint64_t span_start;
    snug_gguf_data_span(g, &span_start, &h->data_span_bytes);
    return SNUG_OK;
}

static snug_status resolve_device(const snug_context_params *req, snug_device *out, snug_error *err) {
    const bool host = req->device == NULL || strcmp(req->device, "host") == 0;
    if (req->backend == SNUG_BACKEND_VULKAN) {
        char why[200];
        if (!host) {
            return snug_fail(err, SNUG_E_ARGUMENT,
                             "--backend vulkan runs on this machine's Vulkan device, not on the profile '%s'",
                             req->device);
        }
        if (!snug_backend_for_device(SNUG_DEVICE_VULKAN)) {
            snug_fail(err, SNUG_E_DEVICE, "this snug was built without the Vulkan backend");
            snug_hint(err, "install libvulkan-dev and glslc (make deps) and build again, or use --backend cpu");
            return SNUG_E_DEVICE;
        }
        if (!snug_device_vulkan(req->vulkan_device, out, why, sizeof why)) {
            snug_fail(err, SNUG_E_DEVICE, "--backend vulkan: %s", why);
            snug_hint(err, "'snug hw' lists the Vulkan devices; a driver on the CPU comes with mesa-vulkan-drivers");
            return SNUG_E_DEVICE;
        }
        return SNUG_OK;
    }
    if (host) {
        if (snug_device_host(out)) return SNUG_OK;
        return snug_fail(err, SNUG_E_DEVICE, "cannot read this machine's memory (/proc/meminfo)");
    }
    const snug_device *profile = snug_device_profile_find(req->device);
    if (!profile) {
        snug_fail(err, SNUG_E_ARGUMENT, "unknown device profile '%s'", req->device);
        snug_hint(err, "'snug hw --profiles' lists them");
        return SNUG_E_ARGUMENT;
    }
    *out = *profile;
    return SNUG_OK;
}

static snug_status check_request(const snug_context_params *r, snug_error *err) {
    if (r->n_ctx < SNUG_CTX_MAX || r->n_ctx > MAX_CTX_REQUEST) {
        return snug_fail(err, SNUG_E_ARGUMENT, "context length %d is outside 1..%d", r->n_ctx, MAX_CTX_REQUEST);
    }
    if (r->n_batch < 0) return snug_fail(err, SNUG_E_ARGUMENT, "batch size %d is negative", r->n_batch);
    if (r->n_parallel < 0 || r->n_parallel > MAX_PARALLEL) {
        return snug_fail(err, SNUG_E_ARGUMENT, "parallel sequences %d is outside 1..%d", r->n_parallel, MAX_PARALLEL);
    }
    if (r->n_threads < 0 || r->n_threads > MAX_THREADS) {
        return snug_fail(err, SNUG_E_ARGUMENT, "thread count %d is outside 1..%d", r->n_threads, MAX_THREADS);
    }
    if (r->max_input_bytes > MAX_INPUT_BYTES_LIMIT) {
        return snug_fail(err, SNUG_E_ARGUMENT, "maximum input of %llu bytes exceeds the limit of %llu",
                         (unsigned long long)r->max_input_bytes, (unsigned long long)MAX_INPUT_BYTES_LIMIT);
    }
    if ((unsigned)r->kv_type > SNUG_KV_F32) return snug_fail(err, SNUG_E_ARGUMENT, "unknown KV type %d", r->kv_type);
    if ((unsigned)r->backend > SNUG_BACKEND_VULKAN)
        return snug_fail(err, SNUG_E_ARGUMENT, "unknown backend %d", r->backend);
    if (r->vulkan_device < 0 || r->vulkan_device >= SNUG_VULKAN_MAX_DEVICES)
        return snug_fail(err, SNUG_E_ARGUMENT, "Vulkan device %d is outside 0..%d", r->vulkan_device,
                         SNUG_VULKAN_MAX_DEVICES - 1);
    if (r->attention_tile != 0 &&
        (r->attention_tile < 8 || r->attention_tile > 256 || (r->attention_tile & (r->attention_tile - 1)) != 0)) {
        return snug_fail(err, SNUG_E_ARGUMENT, "attention tile %u is not a power of two in 8..256", r->attention_tile);
    }
    if ((unsigned)r->weights > SNUG_WEIGHTS_COPIED) {
        return snug_fail(err, SNUG_E_ARGUMENT, "unknown weights mode %d", r->weights);
    }
    return SNUG_OK;
}

/* The budget (docs/plan.md, "Budget"). Detected memory keeps a headroom free (--headroom, or max(5% of the device's
 * memory, 512 MiB)) for the rest of the system. --mem SIZE is what the plan may use: no default headroom is taken
 * from it (an explicit --headroom still is), and it is capped by what the device offers after its headroom. */
static void set_budget(snug_plan *p) {
    const snug_context_params *r = &p->request;
    const uint64_t detected = snug_device_usable_bytes(&p->device);
    uint64_t headroom = r->headroom_set ? r->headroom_bytes : 0;
    if (!r->headroom_set) {
        uint64_t fraction = (uint64_t)((double)p->device.memory_bytes * HEADROOM_FRACTION);
        headroom = fraction > HEADROOM_MIN_BYTES ? fraction : HEADROOM_MIN_BYTES;
    }
    const uint64_t detected_budget = detected > headroom ? detected - headroom : 0;
    p->detected_budget_bytes = detected_budget;
    p->mem_limit_bytes = r->mem_limit_bytes;
    p->mem_capped = false;
    if (r->mem_limit_bytes == 0) {
        p->memory_bytes = detected;
        p->headroom_bytes = headroom;
        p->budget_bytes = detected_budget;
        return;
    }
    p->memory_bytes = r->mem_limit_bytes;
    p->headroom_bytes = r->headroom_set ? r->headroom_bytes : 0;
    p->budget_bytes = p->memory_bytes > p->headroom_bytes ? p->memory_bytes - p->headroom_bytes : 0;
    if (p->budget_bytes > detected_budget) {
        p->budget_bytes = detected_budget;
        p->mem_capped = true;
    }
}

/* Where the weights live (snug_weights_mode in snug.h), and why. Done before the context is chosen: a copy's
 * padding counts against the budget like any line. */
static snug_status choose_weights(snug_plan *p, const header_facts *h, snug_error *err) {
    const snug_weights_mode asked = p->request.weights;
    const uint64_t huge = p->device.kind == SNUG_DEVICE_CPU ? p->device.huge_page_bytes : 0;
    char huge_text[32] = "";
    if (huge) snug_format_bytes(huge_text, sizeof huge_text, huge);
    if (asked == SNUG_WEIGHTS_MAPPED) {
        snprintf(p->weights_reason, sizeof p->weights_reason, "mapped: asked (--weights mmap)");
        return SNUG_OK;
    }
    if (p->device.kind == SNUG_DEVICE_VULKAN) {
        if (asked == SNUG_WEIGHTS_COPIED) {
            return snug_fail(err, SNUG_E_ARGUMENT,
                             "--weights copy is for the CPU backend; the Vulkan backend copies the weights to its "
                             "device");
        }
        snprintf(p->weights_reason, sizeof p->weights_reason,
                 "mapped, then copied to the Vulkan device (weights_* lines there; the embedding stays mapped)");
        return SNUG_OK;
    }
    if (p->device.kind != SNUG_DEVICE_CPU) {
        if (asked == SNUG_WEIGHTS_COPIED) {
            return snug_fail(err, SNUG_E_ARGUMENT, "--weights copy is for the host's CPU, not the %s device '%s'",
                             snug_device_kind_name(p->device.kind), p->device.name);
        }
        snprintf(p->weights_reason, sizeof p->weights_reason, "mapped: auto (a %s device profile)",
                 snug_device_kind_name(p->device.kind));
        return SNUG_OK;
    }
    if (asked == SNUG_WEIGHTS_AUTO && huge == 0) {
        snprintf(p->weights_reason, sizeof p->weights_reason,
                 "mapped: auto (the kernel offers no transparent huge pages, so a copy would stream no faster)");
        return SNUG_OK;
    }
    p->weights_copied = true;
    p->weights_page_bytes = huge ? huge : SNUG_GGUF_COPY_ALIGN;
    p->weights_copy_bytes =
        (h->data_span_bytes + p->weights_page_bytes - 1) / p->weights_page_bytes * p->weights_page_bytes;
    if (huge) {
        snprintf(p->weights_reason, sizeof p->weights_reason, "copied into %s huge pages: %s", huge_text,
                 asked == SNUG_WEIGHTS_AUTO ? "auto (the kernel offers them; they stream faster than the mapping)"
                                            : "asked (--weights copy)");
    } else {
        snprintf(p->weights_reason, sizeof p->weights_reason,
                 "copied into 4 KiB pages: asked (--weights copy; the kernel offers no huge pages)");
    }
    return SNUG_OK;
}

/* Applies the context policy (file comment) and records why. */
static void choose_context(snug_plan *p, const header_facts *h) {
    const snug_context_params *r = &p->request;
    const int32_t trained = p->shape.n_ctx_train, par = r->n_parallel > 0 ? r->n_parallel : 1;
    const bool kv_auto = r->kv_type == SNUG_KV_AUTO;
    const uint32_t kv = kv_type_id(r->kv_type);
    const bool q8_possible = kv_auto && p->shape.head_dim % 32 == 0;
    const uint64_t f16_row = kv_row_bytes(p, SNUG_TYPE_F16);
    p->kv_reason[0] = '\0';
    if (r->n_ctx > 0 || r->n_ctx == SNUG_CTX_MAX || trained <= SNUG_DEFAULT_CTX) {
        int32_t target = r->n_ctx > 0 ? r->n_ctx : r->n_ctx == SNUG_CTX_MAX ? trained : trained;
        const char *why = r->n_ctx > 0               ? "requested"
                          : r->n_ctx == SNUG_CTX_MAX ? "--ctx max: the trained context fits"
                                                     : "default: the trained context";
        if (try_candidate(p, h, target, kv, par)) {
            snprintf(p->context_reason, sizeof p->context_reason, "%s", why);
            return;
        }
        if (q8_possible && try_candidate(p, h, target, SNUG_TYPE_Q8_0, par)) {
            snprintf(p->context_reason, sizeof p->context_reason, "%s", why);
            snprintf(
                p->kv_reason, sizeof p->kv_reason,
                "--kv auto chose q8_0: f16 KV at context %d needs %.2f GiB and does not fit; q8_0 is 17/32 of that",
                target, gib(2ull * (uint64_t)p->shape.n_layer * (uint64_t)target * (uint64_t)par * f16_row));
            return;
        }
        if (r->n_ctx > 0) { /* explicit: honoured exactly or refused */
            build_lines(p, h, target, kv, par);
            snprintf(p->context_reason, sizeof p->context_reason, "requested; it does not fit");
            return;
        }
        /* Default or max: shrink to the largest multiple of 256 that fits. */
        int32_t c = largest_fitting_ctx(p, h, target, kv, par);
        int32_t c8 = q8_possible ? largest_fitting_ctx(p, h, target, SNUG_TYPE_Q8_0, par) : 0;
        bool use_q8 = c8 > c && r->n_ctx == SNUG_CTX_MAX;
        int32_t chosen = use_q8 ? c8 : c;
        if (chosen == 0) {
            build_lines(p, h, target < SNUG_CTX_STEP ? target : SNUG_CTX_STEP, kv, par);
            snprintf(p->context_reason, sizeof p->context_reason, "not even %d tokens fit", p->n_ctx);
            return;
        }
        build_lines(p, h, chosen, use_q8 ? SNUG_TYPE_Q8_0 : kv, par);
        snprintf(p->context_reason, sizeof p->context_reason,
                 "%s: %d does not fit; %d is the largest multiple of %d that does",
                 r->n_ctx == SNUG_CTX_MAX ? "--ctx max" : "default", target, chosen, SNUG_CTX_STEP);
        if (use_q8) {
            snprintf(p->kv_reason, sizeof p->kv_reason, "--kv auto chose q8_0: it reaches context %d, f16 only %d", c8,
                     c);
        }
        return;
    }
    /* Default with a trained context above 8192: 8192 if it fits, else shrink (f16 kept: a shorter f16 context is
     * what users of other runtimes get by default; --kv auto reaches for q8_0 only for a requested context). */
    int32_t target = SNUG_DEFAULT_CTX;
    if (try_candidate(p, h, target, kv, par)) {
        snprintf(p->context_reason, sizeof p->context_reason, "default: min(trained context %d, %d)", trained,
                 SNUG_DEFAULT_CTX);
        return;
    }
    int32_t c = largest_fitting_ctx(p, h, target, kv, par);
    if (c == 0) {
        build_lines(p, h, SNUG_CTX_STEP, kv, par);
        snprintf(p->context_reason, sizeof p->context_reason, "default: not even %d tokens fit", SNUG_CTX_STEP);
        return;
    }
    build_lines(p, h, c, kv, par);
    snprintf(p->context_reason, sizeof p->context_reason,
             "default: %d does not fit; %d is the largest multiple of %d that does", target, c, SNUG_CTX_STEP);
}

/* Says so in context_reason when the chosen context is beyond the trained one. */
static void flag_above_trained(snug_plan *p) {
    p->context_above_trained = p->shape.n_ctx_train > 0 && p->n_ctx > p->shape.n_ctx_train;
    if (!p->context_above_trained) return;
    size_t len = strlen(p->context_reason);
    snprintf(p->context_reason + len, sizeof p->context_reason - len,
             " (above the trained context %d: the model has not seen positions this far)", p->shape.n_ctx_train);
}

static snug_status build_plan(const snug_gguf *gguf, const snug_context_params *request, snug_plan *p,
                              snug_error *err) {
    memset(p, 0, sizeof *p);
    snug_context_params r = request ? *request : (snug_context_params){0};
    snug_status st = check_request(&r, err);
    if (st != SNUG_OK) return st;
    p->request = r;
    if ((st = resolve_device(&r, &p->device, err)) != SNUG_OK) return st;
    header_facts h;
    memset(&h, 0, sizeof h);
    h.gguf = gguf;
    if ((st = read_header(gguf, p, &h, err)) != SNUG_OK) return st;
    p->n_threads = r.n_threads ? r.n_threads : snug_physical_cores();
    p->max_input_bytes = r.max_input_bytes ? r.max_input_bytes : SNUG_DEFAULT_MAX_INPUT_BYTES;
    if (r.kv_type == SNUG_KV_Q8_0 && p->shape.head_dim % 32 != 0) {
        return snug_fail(err, SNUG_E_ARGUMENT, "q8_0 KV needs a head size that is a multiple of 32; this model's is %d",
                         p->shape.head_dim);
    }
    /* The runtime_code line is the process's resident code, measured. Planning itself touches code the first time it
     * runs, so the planner runs until the measurement it started from holds after it (twice at most in practice: a
     * second plan in the same process measures the same, which tests hold it to). */
    p->runtime_code_bytes = 0;
    for (int pass = 0; pass < 3; pass++) {
        uint64_t code_bytes = 0;
        const bool measured = snug_process_code_resident_bytes(&code_bytes);
        const uint64_t bytes =
            measured ? code_bytes + SNUG_RUNTIME_CODE_AFTER_PLAN_BYTES : SNUG_RUNTIME_CODE_ESTIMATE_BYTES;
        if (pass > 0 && bytes == p->runtime_code_bytes) break;
        p->runtime_code_measured = measured;
        p->runtime_code_bytes = bytes;
        p->context_reason[0] = p->kv_reason[0] = p->overflow_item[0] = '\0';
        p->n_alternatives = 0;
        p->overflow_needed_bytes = p->overflow_available_bytes = 0;
        set_budget(p);
        if ((st = choose_weights(p, &h, err)) != SNUG_OK) return st;
        choose_context(p, &h);
        flag_above_trained(p);
        if (!p->fits) {
            find_overflow(p);
            find_alternatives(p, &h);
        }
    }
    return SNUG_OK;
}

/* Whether this machine has a GPU's device node: every Linux Vulkan driver of a GPU opens one (Mesa's render nodes,
 * NVIDIA's /dev/nvidia*). Without one, --backend auto does not probe Vulkan at all: the probe would load every driver,
 * a CPU one (lavapipe, LLVM) included — tens of MiB of code resident for nothing. */
static bool gpu_device_node(void) {
    if (snug_device_test_assume_gpu) return true;
    if (access("/dev/nvidia0", F_OK) == 0) return true;
    for (int i = 128; i < 128 + 16; i++) {
        char path[32];
        snprintf(path, sizeof path, "/dev/dri/renderD%d", i);
        if (access(path, F_OK) == 0) return true;
    }
    return false;
}

/* A Vulkan plan that does not fit names the CPU among its alternatives when the CPU plan of the same request fits. */
static void add_cpu_alternative(const snug_gguf *gguf, const snug_context_params *r, snug_plan *p) {
    if (p->n_alternatives >= SNUG_PLAN_MAX_ALTERNATIVES) return;
    snug_plan *cpu = malloc(sizeof *cpu);
    snug_context_params cr = *r;
    cr.backend = SNUG_BACKEND_CPU;
    snug_error ignored;
    if (cpu && build_plan(gguf, &cr, cpu, &ignored) == SNUG_OK && cpu->fits) {
        snug_plan_alternative *a = &p->alternatives[p->n_alternatives++];
        char total[32], budget[32];
        *a = (snug_plan_alternative){.n_ctx = cpu->n_ctx,
                                     .kv_type = cpu->kv_type,
                                     .n_parallel = cpu->n_parallel,
                                     .total_bytes = cpu->total_bytes};
        snprintf(a->text, sizeof a->text, "--backend cpu: context %d, %s KV in this machine's memory (total %s of %s)",
                 cpu->n_ctx, kv_type_label(cpu->kv_type), snug_format_bytes(total, sizeof total, cpu->total_bytes),
                 snug_format_bytes(budget, sizeof budget, cpu->budget_bytes));
    }
    free(cpu);
}

snug_status snug_plan_build(const snug_gguf *gguf, const snug_context_params *request, snug_plan *p, snug_error *err) {
    const snug_context_params r = request ? *request : (snug_context_params){0};
    const bool host = r.device == NULL || strcmp(r.device, "host") == 0;
    if (r.backend == SNUG_BACKEND_VULKAN) {
        snug_status st = build_plan(gguf, &r, p, err);
        if (st != SNUG_OK) return st;
        snprintf(p->backend_reason, sizeof p->backend_reason, "asked (--backend vulkan): %s", p->device.description);
        if (!p->fits) add_cpu_alternative(gguf, &r, p);
        return SNUG_OK;
    }
    if (r.backend == SNUG_BACKEND_CPU || !host) {
        snug_status st = build_plan(gguf, &r, p, err);
        if (st == SNUG_OK)
            snprintf(p->backend_reason, sizeof p->backend_reason, "%s",
                     !host ? "a device profile" : "asked (--backend cpu)");
        return st;
    }
    /* auto: a Vulkan GPU when the whole plan fits on it and it has every kernel the model needs. */
    char why[200] = "";
    snug_device vulkan;
    if (!snug_backend_for_device(SNUG_DEVICE_VULKAN)) {
        snprintf(why, sizeof why, "built without the Vulkan backend");
    } else if (!gpu_device_node()) {
        snprintf(why, sizeof why,
                 "no GPU: no /dev/dri/renderD* or /dev/nvidia0 (--backend vulkan tries Vulkan anyway)");
    } else if (!snug_device_vulkan(r.vulkan_device, &vulkan, why, sizeof why)) {
        /* why says it */
    } else if (vulkan.cpu_driver) {
        snprintf(why, sizeof why, "Vulkan device %d, %s, computes on the CPU (--backend vulkan uses it anyway)",
                 r.vulkan_device, vulkan.description);
    } else {
        snug_context_params vr = r;
        vr.backend = SNUG_BACKEND_VULKAN;
        snug_error ignored;
        if (build_plan(gguf, &vr, p, &ignored) == SNUG_OK && p->fits && p->runnable && !p->backend_unsupported[0]) {
            snprintf(p->backend_reason, sizeof p->backend_reason, "auto: the plan fits %s", vulkan.description);
            return SNUG_OK;
        }
        snprintf(why, sizeof why, "%.80s: %.110s", vulkan.description,
                 p->backend_unsupported[0] ? p->backend_unsupported : "the plan does not fit it");
    }
    snug_context_params cr = r;
    cr.backend = SNUG_BACKEND_CPU;
    snug_status st = build_plan(gguf, &cr, p, err);
    if (st == SNUG_OK) snprintf(p->backend_reason, sizeof p->backend_reason, "auto: the CPU (%s)", why);
    return st;
}

const snug_plan_line *snug_plan_find_line(const snug_plan *p, const char *name) {
    for (int i = 0; i < p->n_lines; i++) {
        if (strcmp(p->lines[i].name, name) == 0) return &p->lines[i];
    }
    return NULL;
}

snug_status snug_plan_refusal(const snug_plan *p, snug_error *err) {
    if (p->fits) return SNUG_OK;
    char need[32], have[32], total[32], budget[32];
    snug_format_bytes(need, sizeof need, p->overflow_needed_bytes);
    snug_format_bytes(have, sizeof have, p->overflow_available_bytes);
    snug_format_bytes(total, sizeof total, p->total_bytes);
    snug_format_bytes(budget, sizeof budget, p->budget_bytes);
    if (p->overflow_is_binding) {
        snug_fail(err, SNUG_E_DOES_NOT_FIT,
                  "does not fit: one %s buffer needs %s but %s allows %s in one allocation and one binding "
                  "(maxMemoryAllocationSize, maxStorageBufferRange; context %d, %s KV)",
                  p->overflow_item, need, p->device.name, have, p->n_ctx, kv_type_label(p->kv_type));
    } else if (p->overflow_item[0] && strncmp(p->overflow_item, "attention", 9) != 0 &&
               strncmp(p->overflow_item, "matvec_", 7) != 0 && strncmp(p->overflow_item, "matmul_", 7) != 0 &&
               strcmp(p->overflow_item, "rmsnorm") != 0) {
        snug_fail(err, SNUG_E_DOES_NOT_FIT,
                  "does not fit: %s needs %s but %s is left for it (context %d, %s KV; total %s, budget %s on %s)",
                  p->overflow_item, need, have, p->n_ctx, kv_type_label(p->kv_type), total, budget, p->device.name);
    } else {
        snug_fail(err, SNUG_E_DOES_NOT_FIT,
                  "does not fit: kernel %s needs %llu bytes of on-chip memory, the device allows %llu (%s)",
                  p->overflow_item, (unsigned long long)p->overflow_needed_bytes,
                  (unsigned long long)p->overflow_available_bytes, p->device.name);
    }
    if (p->n_alternatives > 0) {
        snug_hint(err, "%s fits%s", p->alternatives[0].text,
                  p->n_alternatives > 1 ? "; 'snug plan' lists more alternatives" : "");
    } else {
        snug_hint(err, "nothing smaller fits this budget; free memory or use a machine with more");
    }
    return SNUG_E_DOES_NOT_FIT;
}

/* ---- public accessors -------------------------------------------------------------------------------------------- */

snug_status snug_plan_create(const snug_gguf *gguf, const snug_context_params *params, snug_plan **out,
                             snug_error *err) {
    *out = NULL;
    snug_plan *p = malloc(sizeof *p);
    if (!p) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for a plan");
    snug_status st = snug_plan_build(gguf, params, p, err);
    if (st != SNUG_OK) {
        free(p);
        return st;
    }
    *out = p;
    return SNUG_OK;
}

void snug_plan_free(snug_plan *p) { free(p); }
bool snug_plan_fits(const snug_plan *p) { return p->fits; }
bool snug_plan_runnable(const snug_plan *p) { return p->runnable; }
int32_t snug_plan_n_ctx(const snug_plan *p) { return p->n_ctx; }
const char *snug_plan_kv_type_name(const snug_plan *p) { return kv_type_label(p->kv_type); }
uint64_t snug_plan_total_bytes(const snug_plan *p) { return p->total_bytes; }
uint64_t snug_plan_budget_bytes(const snug_plan *p) { return p->budget_bytes; }
uint64_t snug_plan_arena_bytes(const snug_plan *p) { return p->arena_bytes; }
uint64_t snug_plan_anon_bytes(const snug_plan *p) { return p->anon_bytes; }
bool snug_plan_weights_copied(const snug_plan *p) { return p->weights_copied; }
const char *snug_plan_backend_name(const snug_plan *p) {
    return p->device.kind == SNUG_DEVICE_VULKAN ? "vulkan" : "cpu";
}
const char *snug_plan_backend_reason(const snug_plan *p) { return p->backend_reason; }
uint64_t snug_plan_weights_copy_bytes(const snug_plan *p) { return p->weights_copy_bytes; }
uint64_t snug_plan_weights_page_bytes(const snug_plan *p) { return p->weights_page_bytes; }
size_t snug_plan_item_count(const snug_plan *p) { return (size_t)p->n_lines; }

snug_plan_item snug_plan_item_at(const snug_plan *p, size_t i) {
    if (i >= (size_t)p->n_lines) return (snug_plan_item){NULL, NULL, NULL, 0};
    const snug_plan_line *l = &p->lines[i];
    const char *residency = l->residency == SNUG_RESIDENCY_MMAP     ? "mmap"
                            : l->residency == SNUG_RESIDENCY_DEVICE ? "device"
                                                                    : "anon";
    return (snug_plan_item){l->name, l->device, residency, l->bytes};
}

uint64_t snug_plan_item_bytes(const snug_plan *p, const char *name) {
    const snug_plan_line *l = snug_plan_find_line(p, name);
    return l ? l->bytes : 0;
}

void snug_plan_summary(const snug_plan *p, char *out, size_t cap) {
    snprintf(out, cap,
             "plan: context %d, KV %s, total %.1f MiB (arena %.1f MiB, weights %.1f MiB %s) of a %.1f MiB "
             "budget on %s, backend %s: %s",
             p->n_ctx, kv_type_label(p->kv_type), (double)p->total_bytes / MIB, (double)p->arena_bytes / MIB,
             (double)p->shape.weight_bytes / MIB, p->weights_copied ? "copied" : "mapped",
             (double)p->budget_bytes / MIB, p->device.name, snug_plan_backend_name(p),
             p->fits ? "fits" : "DOES NOT FIT");
}
