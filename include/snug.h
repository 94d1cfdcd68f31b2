/* snug.h — the public C API of snug, a local LLM inference engine that plans every byte before it allocates.
 *
 * Every public symbol is prefixed `snug_`. Handles are opaque. Every fallible call returns a snug_status and fills
 * a caller-provided snug_error with a message that carries the numbers (what failed, needed vs. available, where in
 * the file) and, where one exists, a hint that would fix it. Library code never prints and never exits.
 *
 * Lifecycle:  snug_model_load → snug_context_create (plans, then allocates one arena) → snug_context_tokenize →
 *             snug_context_decode (a batch of tokens) → snug_context_logits → snug_sampler_sample → … → free.
 */
#ifndef SNUG_H
#define SNUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors ------------------------------------------------------------------------------------- */

typedef enum snug_status {
    SNUG_OK = 0,
    SNUG_E_IO,            /* a file could not be opened, mapped or read */
    SNUG_E_FORMAT,        /* a file is malformed (truncated, corrupted, inconsistent) */
    SNUG_E_UNSUPPORTED,   /* well-formed, but a type / architecture / feature snug does not support */
    SNUG_E_DOES_NOT_FIT,  /* the plan exceeds the memory budget */
    SNUG_E_OUT_OF_MEMORY, /* the operating system refused an allocation the plan approved */
    SNUG_E_DEVICE,        /* a compute device failed */
    SNUG_E_ARGUMENT,      /* a caller passed an invalid option or value */
    SNUG_E_CONTEXT_FULL,  /* the tokens do not fit in the remaining context */
    SNUG_E_NUMERIC,       /* the computation produced a non-finite value */
    SNUG_E_INTERNAL,      /* a broken invariant inside snug (a bug) */
} snug_status;

enum {
    SNUG_ERROR_MESSAGE_BYTES = 768,
    SNUG_ERROR_HINT_BYTES = 256,
};

typedef struct snug_error {
    snug_status status;
    char message[SNUG_ERROR_MESSAGE_BYTES]; /* what failed, with the numbers */
    char hint[SNUG_ERROR_HINT_BYTES];       /* what would fix it; empty when there is nothing to suggest */
} snug_error;

/* A short stable name for a status: "ok", "io", "format", "unsupported", "does-not-fit", … */
const char *snug_status_name(snug_status status);

/* ---- hardware ---------------------------------------------------------------------------------------------- */

/* What this machine offers: the CPU, its caches, and the memory this process may use now. */
enum {
    SNUG_HW_CPU_NAME_BYTES = 128,
    SNUG_HW_FEATURES_BYTES = 256,
    SNUG_HW_NOTE_BYTES = 192,
    SNUG_HW_CACHE_LEVELS = 3, /* L1 data, L2, L3 */
};

typedef struct snug_hw_report {
    char cpu_name[SNUG_HW_CPU_NAME_BYTES]; /* "AMD EPYC 9654 96-Core Processor"; "unknown CPU" if nothing says */
    int32_t cores;                         /* physical cores this process may run on */
    int32_t threads;                       /* logical processors (hardware threads) this process may run on */
    char features[SNUG_HW_FEATURES_BYTES]; /* SIMD extensions CPU and OS support, space-separated: "sse2 … avx2" */
    uint64_t cache_bytes[SNUG_HW_CACHE_LEVELS]; /* size of one L1d / L2 / L3 cache; 0 when unknown or absent */
    int32_t cache_count[SNUG_HW_CACHE_LEVELS];  /* how many of each the machine has */
    const char *topology_source;                /* "hwloc", or "sysconf" when hwloc could not load a topology */
    char topology_note[SNUG_HW_NOTE_BYTES];     /* why the sysconf fallback was used; empty with hwloc */
    uint64_t memory_total_bytes;                /* RAM, lowered to the cgroup limit when there is one */
    uint64_t memory_available_bytes;            /* what can be allocated now (the smaller of meminfo and cgroup room) */
    uint64_t memory_cgroup_limit_bytes;         /* the tightest cgroup memory limit; 0 when there is none */
    const char *memory_source; /* what set memory_available_bytes: "meminfo", "cgroup v2", "cgroup v1" */
    int32_t cuda_devices;      /* CUDA devices found; -1 when the CUDA backend is not built */
    const char *kernel_isa;    /* the CPU kernels in force: "avx512vnni", "avx512", "avx2", "neon", "scalar" (SNUG_ISA
                                  may lower it) */
    const char *stream_hint;   /* how the kernels prefetch the weights they stream: "nta", "t0" or "none" */
    uint32_t stream_distance_bytes;         /* how far ahead they ask */
    char stream_source[SNUG_HW_NOTE_BYTES]; /* why: the decision table's row for this CPU, or SNUG_STREAM=… */
    uint64_t huge_page_bytes; /* transparent huge pages a region gets on request (0: none); the weights are copied
                                 into them by default (snug_weights_mode) */
} snug_hw_report;

/* Probes the host. SNUG_E_IO when /proc/meminfo cannot be read; a topology hwloc cannot load is not an error (the
 * report falls back to sysconf and says so in topology_source / topology_note). */
snug_status snug_hw_probe(snug_hw_report *out, snug_error *err);

/* ---- Vulkan devices ---------------------------------------------------------------------------------------------- */

enum { SNUG_VULKAN_MAX_HEAPS = 16, SNUG_VULKAN_MAX_DEVICES = 16 };

typedef struct snug_vulkan_heap {
    uint64_t bytes;
    uint64_t budget_bytes; /* VK_EXT_memory_budget's heapBudget (what this process may use now); 0 without it */
    bool device_local;
    bool host_visible; /* a memory type of the heap is host-visible */
    bool unified;      /* device-local and host-visible: the GPU's memory is the host's (a Mac, an APU, lavapipe) */
} snug_vulkan_heap;

typedef struct snug_vulkan_device {
    char name[256];   /* "llvmpipe (LLVM 15.0.6, 256 bits)", "NVIDIA H100 80GB HBM3" */
    char driver[320]; /* driver name and info: "llvmpipe Mesa 22.3.6 (LLVM 15.0.6)" */
    const char *type; /* "integrated", "discrete", "virtual", "cpu", "other" */
    int32_t api_version_major, api_version_minor;
    snug_vulkan_heap heaps[SNUG_VULKAN_MAX_HEAPS];
    int32_t n_heaps;
    bool has_budget;                          /* VK_EXT_memory_budget is there */
    uint32_t max_compute_shared_memory_bytes; /* maxComputeSharedMemorySize: shared memory a workgroup may use */
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_size[3];
    uint32_t subgroup_size;
    uint32_t max_storage_buffer_range_bytes; /* the most one storage-buffer binding may span */
    uint64_t max_allocation_bytes;           /* maxMemoryAllocationSize: the largest single allocation */
    bool storage_16bit, storage_8bit;        /* 16- / 8-bit values in storage buffers */
    bool float16, int8;                      /* float16 / int8 arithmetic in shaders */
} snug_vulkan_device;

/* The Vulkan devices of this machine (at most cap). No loader, no driver or no device is not an error: *n_devices is
 * 0 and `why` (when given) says which. The loader is opened only for the probe's sake (docs/gpu.md). */
snug_status snug_vulkan_probe(snug_vulkan_device *out, size_t cap, size_t *n_devices, char *why, size_t why_cap,
                              snug_error *err);

/* A machine a plan can target: the detected host, or a profile of a machine snug cannot touch (docs/devices.md lists
 * every profile with the source of each number). */
typedef struct snug_device_info {
    char name[64];                 /* "host", "apple-m2-16g", "nvidia-rtx-4090" */
    char description[96];          /* "Apple M2, 16 GB unified memory" */
    const char *kind;              /* "cpu", "metal", "cuda" */
    uint64_t memory_bytes;         /* RAM (unified memory) or VRAM */
    uint64_t available_bytes;      /* detected for the host; = memory_bytes for a profile */
    const char *memory_source;     /* "meminfo", "cgroup v2", "cgroup v1", "profile" */
    double working_set_fraction;   /* share of memory a GPU may use (Metal's recommendedMaxWorkingSetSize); 1 else */
    uint64_t usable_bytes;         /* available × working-set fraction, before the planner's headroom */
    uint32_t onchip_default_bytes; /* shared / threadgroup memory per workgroup without opting in; 0: no GPU */
    uint32_t onchip_optin_bytes;   /* the most a kernel may opt in to (CUDA); = default where there is no opt-in */
    uint64_t max_allocation_bytes; /* Vulkan's maxMemoryAllocationSize there (0: unknown; docs/devices.md) */
    uint64_t max_binding_bytes;    /* Vulkan's maxStorageBufferRange there (0: unknown) */
} snug_device_info;

/* The profile table, in a stable order ("host" is not in it: see snug_device_lookup). */
size_t snug_device_profile_count(void);
/* False past the end. */
bool snug_device_profile_get(size_t index, snug_device_info *out);
/* A profile by name, or "host" (probed now). SNUG_E_ARGUMENT for an unknown name, with the nearest names in the
 * hint; SNUG_E_IO when "host" memory cannot be read. */
snug_status snug_device_lookup(const char *name, snug_device_info *out, snug_error *err);

/* ---- GGUF files: inspection ----------------------------------------------------------------------------------- */

typedef struct snug_gguf snug_gguf;

/* Flags for snug_gguf_open. */
enum {
    /* Accept a file whose tensor data lies (partly) beyond its end: a header-only file, for planning. */
    SNUG_GGUF_ALLOW_MISSING_DATA = 1u << 0,
};

/* GGUF metadata value types (values as in the GGUF specification). */
typedef enum snug_gguf_value_type {
    SNUG_GGUF_UINT8 = 0,
    SNUG_GGUF_INT8 = 1,
    SNUG_GGUF_UINT16 = 2,
    SNUG_GGUF_INT16 = 3,
    SNUG_GGUF_UINT32 = 4,
    SNUG_GGUF_INT32 = 5,
    SNUG_GGUF_FLOAT32 = 6,
    SNUG_GGUF_BOOL = 7,
    SNUG_GGUF_STRING = 8,
    SNUG_GGUF_ARRAY = 9,
    SNUG_GGUF_UINT64 = 10,
    SNUG_GGUF_INT64 = 11,
    SNUG_GGUF_FLOAT64 = 12,
    SNUG_GGUF_VALUE_TYPE_COUNT
} snug_gguf_value_type;

/* Tensor element types (ids as in ggml / the GGUF specification). */
typedef enum snug_type {
    SNUG_TYPE_F32 = 0,
    SNUG_TYPE_F16 = 1,
    SNUG_TYPE_Q4_0 = 2,
    SNUG_TYPE_Q4_1 = 3,
    SNUG_TYPE_Q5_0 = 6,
    SNUG_TYPE_Q5_1 = 7,
    SNUG_TYPE_Q8_0 = 8,
    SNUG_TYPE_Q8_1 = 9,
    SNUG_TYPE_Q2_K = 10,
    SNUG_TYPE_Q3_K = 11,
    SNUG_TYPE_Q4_K = 12,
    SNUG_TYPE_Q5_K = 13,
    SNUG_TYPE_Q6_K = 14,
    SNUG_TYPE_Q8_K = 15,
    SNUG_TYPE_I8 = 24,
    SNUG_TYPE_I16 = 25,
    SNUG_TYPE_I32 = 26,
    SNUG_TYPE_I64 = 27,
    SNUG_TYPE_F64 = 28,
    SNUG_TYPE_BF16 = 30,
    SNUG_TYPE_ID_LIMIT = 64 /* ids at or above this are rejected as unknown without a table lookup */
} snug_type;

/* Name of a tensor type ("Q4_0", …) or NULL when snug does not know the id. */
const char *snug_type_name(uint32_t type);
/* Whether the compute kernels support this type as a weight type. */
bool snug_type_is_supported(uint32_t type);

enum { SNUG_MAX_DIMS = 4 };

typedef struct snug_tensor_info {
    const char *name; /* NUL-terminated copy owned by the snug_gguf handle */
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[SNUG_MAX_DIMS]; /* elements per dimension, ne[0] = row length; unused dimensions are 1 */
    uint64_t offset;            /* from the start of the tensor data section */
    uint64_t bytes;
    const void *data; /* into the mapped file; NULL when the data is missing (header-only file) */
} snug_tensor_info;

snug_status snug_gguf_open(const char *path, unsigned flags, snug_gguf **out, snug_error *err);
void snug_gguf_close(snug_gguf *gguf);

uint32_t snug_gguf_version(const snug_gguf *gguf);
uint64_t snug_gguf_file_bytes(const snug_gguf *gguf);
uint64_t snug_gguf_data_offset(const snug_gguf *gguf);
uint32_t snug_gguf_alignment(const snug_gguf *gguf);
bool snug_gguf_data_complete(const snug_gguf *gguf); /* false for a header-only file */

uint64_t snug_gguf_kv_count(const snug_gguf *gguf);
const char *snug_gguf_kv_key(const snug_gguf *gguf, uint64_t index);
snug_gguf_value_type snug_gguf_kv_type(const snug_gguf *gguf, uint64_t index);
int64_t snug_gguf_find_key(const snug_gguf *gguf, const char *key); /* index, or -1 */

/* Scalar values: integers of any width widen to int64/uint64 (a negative value read as unsigned fails). */
bool snug_gguf_kv_get_i64(const snug_gguf *gguf, uint64_t index, int64_t *out);
bool snug_gguf_kv_get_f64(const snug_gguf *gguf, uint64_t index, double *out); /* floats and integers */
bool snug_gguf_kv_get_bool(const snug_gguf *gguf, uint64_t index, bool *out);
/* Strings point into the mapped file and are NOT NUL-terminated. */
bool snug_gguf_kv_get_string(const snug_gguf *gguf, uint64_t index, const char **str, uint64_t *len);

/* Arrays: element type and count; elements of fixed-size types are read by index. */
bool snug_gguf_kv_get_array(const snug_gguf *gguf, uint64_t index, snug_gguf_value_type *elem_type, uint64_t *count);
bool snug_gguf_kv_array_i64(const snug_gguf *gguf, uint64_t index, uint64_t elem, int64_t *out);
bool snug_gguf_kv_array_f64(const snug_gguf *gguf, uint64_t index, uint64_t elem, double *out);
bool snug_gguf_kv_array_string(const snug_gguf *gguf, uint64_t index, uint64_t elem, const char **str, uint64_t *len);

uint64_t snug_gguf_tensor_count(const snug_gguf *gguf);
const snug_tensor_info *snug_gguf_tensor(const snug_gguf *gguf, uint64_t index);
const snug_tensor_info *snug_gguf_find_tensor(const snug_gguf *gguf, const char *name);

/* ---- models, contexts, generation -------------------------------------------------------------------------- */

typedef struct snug_model snug_model;
typedef struct snug_context snug_context;

typedef int32_t snug_token;

/* Loads and validates a model: architecture, hyper-parameters, every tensor's presence, type and shape, and the
 * tokenizer. Weights stay in the mapped file. */
snug_status snug_model_load(const char *path, snug_model **out, snug_error *err);
void snug_model_free(snug_model *model);
/* Checks an opened file as snug_model_load would — architecture, hyper-parameters, every tensor's presence, type,
 * shape and alignment, the vocabulary (tokens, types, scores, special ids, merges, pre-tokenizer) — and keeps
 * nothing. Works on a header-only file (only the data's presence is not checked), so `snug plan` refuses what
 * `snug run` would refuse, with the same message, which starts with `name` (the path; NULL: no prefix). */
snug_status snug_model_check(const snug_gguf *gguf, const char *name, snug_error *err);
const snug_gguf *snug_model_gguf(const snug_model *model);

/* Reads the model's tensor data into memory now (the page cache behind the mapping) instead of at the first token,
 * in steps of SNUG_PREFETCH_STEP_BYTES, calling `progress` (when not NULL) after each with the bytes read so far and
 * in all. The plan counts weights as resident; this makes them so before generation starts, and turns a slow disk
 * into a progress line rather than a slow first token. Allocates nothing. */
#define SNUG_PREFETCH_STEP_BYTES (16u << 20)
typedef void (*snug_progress_fn)(uint64_t done_bytes, uint64_t total_bytes, void *user);
void snug_model_prefetch(const snug_model *model, snug_progress_fn progress, void *user);

typedef struct snug_model_desc {
    const char *architecture; /* "llama" */
    int32_t n_vocab;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_ff;
    int32_t n_ctx_train;
    float rope_freq_base;
    float rope_freq_scale; /* 1 / linear scaling factor */
    float rms_eps;
    bool tied_output;
    snug_token bos, eos, unk;
    uint64_t weight_bytes; /* bytes of tensor data in the file */
} snug_model_desc;

void snug_model_describe(const snug_model *model, snug_model_desc *out);

/* KV cache element types. AUTO is f16, switching to q8_0 when that is what reaches the requested context. */
typedef enum snug_kv_type {
    SNUG_KV_AUTO = 0,
    SNUG_KV_F16 = 1,
    SNUG_KV_Q8_0 = 2, /* 34 bytes per 32 values: 17/32 of f16 */
    SNUG_KV_F32 = 3,
} snug_kv_type;

/* Where the weights live while the model runs. MAPPED: in the mapped file (the page cache, shared with other
 * processes, 4 KiB pages). COPIED: read once into anonymous memory the plan counts, backed by 2 MiB transparent huge
 * pages, which the CPU streams faster (fewer TLB misses, hardware prefetchers that do not stop every 4 KiB: see
 * docs/performance.md); it costs a copy at load. AUTO: COPIED on the host when the kernel offers huge pages
 * (transparent_hugepage "always" or "madvise"), MAPPED otherwise and for a device profile. */
typedef enum snug_weights_mode {
    SNUG_WEIGHTS_AUTO = 0,
    SNUG_WEIGHTS_MAPPED = 1,
    SNUG_WEIGHTS_COPIED = 2,
} snug_weights_mode;

/* Which backend computes (`--backend`). AUTO: a Vulkan GPU when one is there (not a CPU driver such as lavapipe) and
 * the plan fits on it with every weight type supported, else the CPU; the plan says which and why. */
typedef enum snug_backend_choice {
    SNUG_BACKEND_AUTO = 0,
    SNUG_BACKEND_CPU = 1,
    SNUG_BACKEND_VULKAN = 2,
} snug_backend_choice;

/* Context lengths: 0 asks for the default policy, SNUG_CTX_MAX for the largest that fits (up to the trained one). */
enum { SNUG_CTX_DEFAULT = 0, SNUG_CTX_MAX = -1 };

/* What a caller asks of a plan and a context. Zero-initialised fields take the defaults. */
typedef struct snug_context_params {
    int32_t n_ctx;               /* SNUG_CTX_DEFAULT: min(trained, 8192) if it fits, else the largest multiple of 256
                                    that does; SNUG_CTX_MAX: the largest that fits; N: exactly N or refused */
    snug_kv_type kv_type;        /* SNUG_KV_AUTO (f16, or q8_0 to reach the context) */
    int32_t n_parallel;          /* sequences sharing the KV cache; 0: 1 */
    int32_t n_batch;             /* tokens per prefill step; 0: default */
    int32_t n_threads;           /* 0: all online processors */
    uint64_t max_input_bytes;    /* longest text that snug_context_tokenize must accept; 0: default */
    const char *device;          /* NULL or "host": this machine as detected; else a device profile name */
    uint64_t mem_limit_bytes;    /* 0: none; else the plan may use this much (--mem), less an explicit headroom, capped
                                  * by the device's usable memory less its headroom */
    bool headroom_set;           /* false: headroom = max(5% of memory, 512 MiB), for detected memory only */
    uint64_t headroom_bytes;     /* kept free of the budget when headroom_set */
    snug_weights_mode weights;   /* SNUG_WEIGHTS_AUTO: see snug_weights_mode */
    snug_backend_choice backend; /* SNUG_BACKEND_AUTO: see snug_backend_choice */
    int32_t vulkan_device;       /* which Vulkan device (snug_vulkan_probe's order) the Vulkan backend uses */
    uint32_t attention_tile;     /* 0: the planner's choice; else this attention tile, fitting or not (debugging and
                                    the tests that show an oversized tile is refused) */
} snug_context_params;

enum {
    SNUG_DEFAULT_CTX = 8192,
    SNUG_DEFAULT_BATCH = 256,
    SNUG_DEFAULT_MAX_INPUT_BYTES = 16384,
    SNUG_CTX_STEP = 256, /* contexts chosen by the policy are multiples of this */
};

/* ---- the memory plan ------------------------------------------------------------------------------------------ */

typedef struct snug_plan snug_plan;

/* Plans a model from its GGUF header alone (works on header-only files). A plan that does not fit is still a
 * successful result: check snug_plan_fits and snug_plan_refusal. */
snug_status snug_plan_create(const snug_gguf *gguf, const snug_context_params *params, snug_plan **out,
                             snug_error *err);
void snug_plan_free(snug_plan *plan);

bool snug_plan_fits(const snug_plan *plan);
/* Whether snug can run the file's architecture (a plan is made for others too; snug_model_check then refuses). */
bool snug_plan_runnable(const snug_plan *plan);
int32_t snug_plan_n_ctx(const snug_plan *plan);
const char *snug_plan_kv_type_name(const snug_plan *plan); /* "f16", "q8_0", "f32" */
uint64_t snug_plan_total_bytes(const snug_plan *plan);
uint64_t snug_plan_budget_bytes(const snug_plan *plan);
uint64_t snug_plan_arena_bytes(const snug_plan *plan); /* what snug_context_create will allocate, exactly */
uint64_t snug_plan_anon_bytes(const snug_plan *plan);  /* arena + host tables + runtime overhead (+ weights copy) */
/* Whether the plan copies the weights into anonymous memory (SNUG_WEIGHTS_COPIED, chosen or asked), and the bytes
 * of that copy (the weights_* lines and weights_padding: the tensor data rounded up to whole 2 MiB pages). */
bool snug_plan_weights_copied(const snug_plan *plan);
uint64_t snug_plan_weights_copy_bytes(const snug_plan *plan);
uint64_t snug_plan_weights_page_bytes(const snug_plan *plan); /* the copy's page size; 0 when mapped */
/* The backend the plan is for ("cpu", "vulkan"), and why (for --backend auto: what it found). */
const char *snug_plan_backend_name(const snug_plan *plan);
const char *snug_plan_backend_reason(const snug_plan *plan);

typedef struct snug_plan_item {
    const char *name;      /* "weights_q4_k", "kv_cache", "activations", "logits", "tokenizer_tables", … */
    const char *device;    /* "cpu", "metal", "cuda", "vulkan", "host" */
    const char *residency; /* "mmap" (file pages), "anon", or "device" (a GPU allocation) */
    uint64_t bytes;
} snug_plan_item;

size_t snug_plan_item_count(const snug_plan *plan);
snug_plan_item snug_plan_item_at(const snug_plan *plan, size_t index);
/* Bytes of the named item, 0 if absent. */
uint64_t snug_plan_item_bytes(const snug_plan *plan, const char *name);

/* Fills err with SNUG_E_DOES_NOT_FIT naming the overflowing item, needed vs available, and the best alternative.
 * Returns SNUG_OK (and leaves err alone) when the plan fits. */
snug_status snug_plan_refusal(const snug_plan *plan, snug_error *err);

/* One line: "plan: context 8192, KV f16, total 6.9 GiB of a 9.9 GiB budget, fits". */
void snug_plan_summary(const snug_plan *plan, char *out, size_t cap);
/* The full report as an aligned table, or as the stable JSON documented in docs/plan.md. malloc'd; free() it. */
char *snug_plan_render_text(const snug_plan *plan);
char *snug_plan_render_json(const snug_plan *plan);

/* Brings the weights into memory as `plan` (made from this model's file) says: for a copying plan, reads the tensor
 * data from the file into one anonymous region of exactly snug_plan_weights_copy_bytes, asking for huge pages, and
 * points the model at it (the mapping's data pages are never touched); for a mapped plan, snug_model_prefetch.
 * `progress` as there. Once copied, a model stays copied until freed; a later call with a copying plan of the same
 * size does nothing, one with a mapped plan or another size is refused (it would not be what that plan counts).
 * snug_context_create_planned calls it when the weights are not yet where its plan wants them. A file that shrank
 * or cannot be read is SNUG_E_IO, a region that cannot be had SNUG_E_OUT_OF_MEMORY; the model is unchanged then. */
snug_status snug_model_load_weights(snug_model *model, const snug_plan *plan, snug_progress_fn progress, void *user,
                                    snug_error *err);
/* The bytes of the model's own copy of its weights (0: they are in the mapped file). */
uint64_t snug_model_weights_copy_bytes(const snug_model *model);

/* ---- contexts --------------------------------------------------------------------------------------------------- */

/* Creates a context that allocates exactly `plan` (which must fit and come from this model's file). */
snug_status snug_context_create_planned(snug_model *model, const snug_plan *plan, snug_context **out, snug_error *err);
/* The context's plan (owned by the context). */
const snug_plan *snug_context_get_plan(const snug_context *ctx);

/* Plans against the host (or params->device), refuses with SNUG_E_DOES_NOT_FIT when the plan does not fit, then
 * allocates exactly the plan (one arena). Nothing is allocated after this returns. */
snug_status snug_context_create(snug_model *model, const snug_context_params *params, snug_context **out,
                                snug_error *err);
void snug_context_free(snug_context *ctx);

int32_t snug_context_n_ctx(const snug_context *ctx);
int32_t snug_context_n_past(const snug_context *ctx);            /* tokens already in the KV cache */
uint64_t snug_context_arena_bytes(const snug_context *ctx);      /* what the plan said */
uint64_t snug_context_arena_used_bytes(const snug_context *ctx); /* what was carved out of the arena */
/* The backend that computes ("cpu", "vulkan"), and the bytes it allocated on its device for a plan line ("kv_cache",
 * "weights_q4_k", …; 0 for the CPU, whose buffers are the arena's): the tests hold these to the plan. */
const char *snug_context_backend_name(const snug_context *ctx);
uint64_t snug_context_device_bytes(const snug_context *ctx, const char *line);

/* A planned buffer of n_ctx token ids for the caller's prompt (so a caller needs no allocation of its own). */
snug_token *snug_context_token_buffer(snug_context *ctx, size_t *capacity);

/* Clears the KV cache (n_past = 0) and the sampler's repetition history. */
void snug_context_reset(snug_context *ctx);

/* Text → tokens with the model's tokenizer, using the context's planned scratch, as llama.cpp tokenizes: the text of
 * added tokens (type USER_DEFINED) always becomes those tokens; parse_special also turns control tokens' text
 * ("<|im_start|>") into them. */
snug_status snug_context_tokenize(snug_context *ctx, const char *text, size_t text_bytes, bool add_bos,
                                  bool parse_special, snug_token *tokens, size_t cap, size_t *n_tokens,
                                  snug_error *err);

/* Token → text piece. `prev` is the token before it (or -1): a piece after BOS drops its leading space. Returns the
 * number of bytes written (the piece is not NUL-terminated); the piece is truncated if `cap` is too small. */
size_t snug_token_to_piece(const snug_model *model, snug_token prev, snug_token token, char *out, size_t cap);

/* A vocabulary alone (no weights): works on vocabulary-only GGUF files such as llama.cpp's ggml-vocab-*.gguf. The
 * tables take snug_vocab_table_bytes(); tokenizing needs caller scratch of snug_vocab_scratch_bytes(). */
typedef struct snug_vocab snug_vocab;
snug_status snug_vocab_load(const char *path, snug_vocab **out, snug_error *err);
void snug_vocab_free(snug_vocab *vocab);
int32_t snug_vocab_n_tokens(const snug_vocab *vocab);
uint64_t snug_vocab_table_bytes(const snug_vocab *vocab);
uint64_t snug_vocab_scratch_bytes(const snug_vocab *vocab, uint64_t max_text_bytes);
/* As snug_context_tokenize, in the given scratch (SNUG_E_ARGUMENT if too small); never allocates. */
snug_status snug_vocab_tokenize(const snug_vocab *vocab, const char *text, size_t text_bytes, bool add_bos,
                                bool parse_special, void *scratch, uint64_t scratch_bytes, snug_token *tokens,
                                size_t cap, size_t *n_tokens, snug_error *err);
/* As snug_token_to_piece. */
size_t snug_vocab_piece(const snug_vocab *vocab, snug_token prev, snug_token token, char *out, size_t cap);

/* One piece of a text to tokenize, for texts assembled from trusted and untrusted pieces (a chat template's markers
 * and what a user typed): only pieces with parse_special turn the text of special tokens ("<|im_start|>") into those
 * tokens; in the others such text stays plain text, so a user cannot forge a turn. */
typedef struct snug_text_part {
    const char *text;
    size_t bytes;
    bool parse_special;
} snug_text_part;

/* Tokenizes the parts as one text, in order, into tokens[0 .. cap): as if the parts were one string, the dummy-prefix
 * space of SentencePiece vocabularies goes where the text starts and after special tokens (not before each part),
 * and whitespace a special token strips may lie in the next part; add_bos prepends BOS. Each part
 * may be up to the context's max_input_bytes long. Errors as snug_context_tokenize (SNUG_E_CONTEXT_FULL when more
 * than cap tokens result, counting all of them in the message). */
snug_status snug_context_tokenize_parts(snug_context *ctx, const snug_text_part *parts, size_t n_parts, bool add_bos,
                                        snug_token *tokens, size_t cap, size_t *n_tokens, snug_error *err);
/* As snug_context_tokenize_parts, in the given scratch (snug_vocab_scratch_bytes of the longest part). */
snug_status snug_vocab_tokenize_parts(const snug_vocab *vocab, const snug_text_part *parts, size_t n_parts,
                                      bool add_bos, void *scratch, uint64_t scratch_bytes, snug_token *tokens,
                                      size_t cap, size_t *n_tokens, snug_error *err);

/* The id of the token whose text is exactly `text` ("<|im_end|>"), or -1 when the vocabulary has none. */
snug_token snug_model_token_id(const snug_model *model, const char *text, size_t bytes);
snug_token snug_vocab_token_id(const snug_vocab *vocab, const char *text, size_t bytes);
/* Whether the vocabulary asks for BOS at the start of a text (tokenizer.ggml.add_bos_token; SentencePiece
 * vocabularies default to yes, byte-level BPE ones to no). */
bool snug_model_adds_bos(const snug_model *model);

/* Runs the tokens through the model (a batch: the prompt is one call), appending them to the KV cache and to the
 * sampler's repetition history. Afterwards snug_context_logits returns the logits of the last token.
 * SNUG_E_CONTEXT_FULL (with the numbers) when they do not fit; SNUG_E_NUMERIC when a logit is not finite. */
snug_status snug_context_decode(snug_context *ctx, const snug_token *tokens, size_t n_tokens, snug_error *err);
const float *snug_context_logits(const snug_context *ctx); /* n_vocab floats */

/* ---- sampling ------------------------------------------------------------------------------------------------ */

typedef struct snug_sampler_params {
    float temperature;     /* <= 0: greedy (argmax); at most 100 */
    int32_t top_k;         /* 0 (or >= n_vocab): off; negative is an error */
    float top_p;           /* in (0, 1]; 1: off */
    float min_p;           /* in [0, 1]; 0: off */
    float repeat_penalty;  /* > 0; 1: off */
    int32_t repeat_last_n; /* 0 .. SNUG_MAX_REPEAT_WINDOW tokens of history */
    uint64_t seed;
} snug_sampler_params;

/* The repetition window the plan reserves for every context (4 bytes a token). */
enum { SNUG_MAX_REPEAT_WINDOW = 4096 };

snug_sampler_params snug_sampler_default_params(void);

/* The context's sampler (its buffers come from the context's plan). Re-initialises it with new parameters. */
snug_status snug_context_sampler_init(snug_context *ctx, const snug_sampler_params *params, snug_error *err);
/* Samples the next token from the current logits; SNUG_E_NUMERIC if a logit is not finite. */
snug_status snug_context_sample(snug_context *ctx, snug_token *out, snug_error *err);

/* ---- many sequences: batches over a paged KV pool ----------------------------------------------------------- */

/* A context holds snug_context_n_seq_max() sequences (the plan's --parallel), with ids 0 … n_seq_max − 1, over one
 * pool of KV pages planned once (n_seq_max × the context's positions). Each sequence has its own positions, page
 * table and sampler; the single-sequence calls above (snug_context_decode, _logits, _sample, _sampler_init, _reset,
 * _n_past) work on sequence 0. A context is used by one thread at a time. */
typedef int32_t snug_seq_id;

/* Tokens of any sequences, run in one call: the prompts of new sequences and the next token of running ones
 * (continuous batching). Token i goes to sequence seq_ids[i] at positions[i], which must be the position that
 * sequence is at: its length before the call, plus one for each earlier token of the same sequence in the batch.
 * logits[i] asks for token i's logits (NULL: the last token only); at most snug_context_max_outputs() a call. The
 * arrays are the caller's and are only read. */
typedef struct snug_batch {
    size_t n_tokens;
    const snug_token *tokens;
    const int32_t *positions;
    const snug_seq_id *seq_ids;
    const bool *logits;
} snug_batch;

/* Runs the batch: every token's keys and values go into its sequence's pages and its sampler's repetition history;
 * the logits asked for are then read with snug_context_batch_logits. All or nothing: a batch that is refused
 * (SNUG_E_ARGUMENT for a bad id, position or token; SNUG_E_CONTEXT_FULL, with the numbers, when a sequence would pass
 * the context or the pool has too few free pages) or breaks down (SNUG_E_NUMERIC) leaves every sequence as it was. */
snug_status snug_context_run_batch(snug_context *ctx, const snug_batch *batch, snug_error *err);
/* The logits (n_vocab floats) of batch token `index` of the last successful run_batch that asked for them; NULL
 * otherwise. */
const float *snug_context_batch_logits(const snug_context *ctx, size_t index);

int32_t snug_context_n_seq_max(const snug_context *ctx);
int32_t snug_context_max_outputs(const snug_context *ctx); /* logits rows one run_batch may ask for */
/* Positions held by the sequence (0 for a free one), or −1 when the id is outside 0 … n_seq_max − 1. */
int32_t snug_seq_length(const snug_context *ctx, snug_seq_id seq);
/* Gives the sequence's pages back and clears its sampler's history (its parameters stay). */
void snug_seq_free(snug_context *ctx, snug_seq_id seq);
/* Keeps the sequence's first n_keep positions and gives back the pages past them, so that a new request sharing that
 * prefix continues from there instead of computing it again (prompt caching). The sampler is not changed
 * (snug_seq_sampler_init clears its history, snug_seq_accept adds to it). SNUG_E_ARGUMENT for a bad id or an n_keep
 * outside 0 … its length. */
snug_status snug_seq_truncate(snug_context *ctx, snug_seq_id seq, int32_t n_keep, snug_error *err);
/* Adds tokens to the sequence's sampler history (repetition penalty) without running them: the positions a truncated
 * sequence kept. */
snug_status snug_seq_accept(snug_context *ctx, snug_seq_id seq, const snug_token *tokens, size_t n_tokens,
                            snug_error *err);
/* dst (which must be empty) continues from src's positions: it shares src's pages, which are not copied (a common
 * prefix such as a system prompt is computed once), and starts with a copy of src's sampler. */
snug_status snug_seq_fork(snug_context *ctx, snug_seq_id src, snug_seq_id dst, snug_error *err);
/* The sequence's sampler (validated as snug_context_sampler_init), and a draw from logits (n_vocab floats, e.g.
 * snug_context_batch_logits) with it. The drawn token enters the history when a batch runs it. */
snug_status snug_seq_sampler_init(snug_context *ctx, snug_seq_id seq, const snug_sampler_params *params,
                                  snug_error *err);
snug_status snug_seq_sample(snug_context *ctx, snug_seq_id seq, const float *logits, snug_token *out, snug_error *err);

/* The KV pool: pages of page_tokens positions (every layer's keys and values), how many there are, how many no
 * sequence holds, and how many more than one sequence holds (forked prefixes). */
typedef struct snug_kv_stats {
    int32_t page_tokens;
    int32_t pages_total;
    int32_t pages_free;
    int32_t pages_shared;
    uint64_t page_bytes; /* memory of one page */
} snug_kv_stats;
void snug_context_kv_stats(const snug_context *ctx, snug_kv_stats *out);
/* Free pages sequence `seq` would take to grow by n_more positions (what admission control reserves); −1 for a bad
 * id. */
int32_t snug_seq_pages_needed(const snug_context *ctx, snug_seq_id seq, int32_t n_more);

/* ---- chat templates ------------------------------------------------------------------------------------------- */

/* The chat formats snug knows (docs/chat.md shows each with an example). There is no Jinja interpreter: a model's
 * tokenizer.chat_template is recognised by marker strings and mapped to one of these hand-written formats. */
typedef enum snug_chat_template {
    SNUG_CHAT_CHATML = 0, /* <|im_start|>role\n…<|im_end|>\n (Qwen, Hermes, SmolLM, …); the fallback */
    SNUG_CHAT_LLAMA2,     /* [INST] <<SYS>>\n…\n<</SYS>>\n\n… [/INST] … </s><s>[INST] … */
    SNUG_CHAT_LLAMA3,     /* <|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|> */
    SNUG_CHAT_MISTRAL,    /* [INST] … [/INST]…</s> (no system role: folded into the first user turn) */
    SNUG_CHAT_PHI3,       /* <|user|>\n…<|end|>\n<|assistant|>\n */
    SNUG_CHAT_ZEPHYR,     /* <|user|>\n…</s>\n<|assistant|>\n */
    SNUG_CHAT_GEMMA,      /* <start_of_turn>user\n…<end_of_turn>\n<start_of_turn>model\n (system folded) */
    SNUG_CHAT_DEEPSEEK,   /* DeepSeek Coder: ### Instruction:\n…\n### Response:\n…\n<|EOT|>\n */
    SNUG_CHAT_DEEPSEEK2,  /* DeepSeek LLM / V2: User: …\n\nAssistant: …<｜end▁of▁sentence｜> */
    SNUG_CHAT_DEEPSEEK3,  /* DeepSeek V3 / R1: <｜User｜>…<｜Assistant｜>…<｜end▁of▁sentence｜> */
    SNUG_CHAT_TEMPLATE_COUNT
} snug_chat_template;

/* Its name for --template: "chatml", "llama2", "llama3", "mistral", "phi3", "zephyr", "gemma", "deepseek",
 * "deepseek2", "deepseek3"; NULL outside the enum. */
const char *snug_chat_template_name(snug_chat_template tmpl);
/* By name; SNUG_E_ARGUMENT listing the known names when there is no such template. */
snug_status snug_chat_template_lookup(const char *name, snug_chat_template *out, snug_error *err);

/* Recognises a Jinja chat template by the markers in its text. False (and *out = SNUG_CHAT_CHATML) when no family
 * matches. */
bool snug_chat_template_detect(const char *jinja, size_t bytes, snug_chat_template *out);

typedef enum snug_chat_template_source {
    SNUG_CHAT_FROM_METADATA = 0, /* tokenizer.chat_template was recognised */
    SNUG_CHAT_NO_METADATA,       /* the file has no tokenizer.chat_template: ChatML */
    SNUG_CHAT_UNRECOGNISED,      /* it has one, but no known family matched: ChatML */
} snug_chat_template_source;

/* The template of a GGUF file's tokenizer.chat_template, ChatML when it has none or none is recognised. */
snug_chat_template_source snug_chat_template_of_gguf(const snug_gguf *gguf, snug_chat_template *out);

/* The text of the template's end-of-turn token ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>",
 * "<|EOT|>"), or NULL when its turns end with the model's EOS token. */
const char *snug_chat_template_end_of_turn(snug_chat_template tmpl);

/* What one user turn adds to a conversation whose earlier turns are in the KV cache: the end of the previous reply
 * (for turn_index > 0: the model's stop token is never decoded, so its text comes here), the system message on the
 * first turn (in its own role, or folded into the first user message for templates without one), the user's text
 * and the assistant's header (the generation prompt). Template markers have parse_special set; the system and user
 * text do not. The conversation's first BOS is not part of the text: tokenize turn 0 with
 * add_bos = snug_model_adds_bos(). The parts point into `system`, `user` and static strings; nothing is copied. */
enum { SNUG_CHAT_TURN_MAX_PARTS = 8 };
typedef struct snug_chat_turn {
    snug_text_part parts[SNUG_CHAT_TURN_MAX_PARTS];
    size_t n_parts;
} snug_chat_turn;

void snug_chat_template_turn(snug_chat_template tmpl, size_t turn_index, const char *system, size_t system_bytes,
                             const char *user, size_t user_bytes, snug_chat_turn *out);

/* A whole conversation as one string: system (NULL or "" for none), then messages alternating user, assistant, user,
 * …. One that ends with a user message ends with the generation prompt; one that ends with an assistant message
 * with that reply's end of turn. Writes at most cap bytes, NUL-terminated when cap > 0, and returns the length of
 * the whole rendering (as snprintf does). */
size_t snug_chat_template_render(snug_chat_template tmpl, const char *system, const char *const *messages,
                                 size_t n_messages, char *out, size_t cap);

/* The tokens that end a reply under this template: the model's EOS and BOS, tokenizer.ggml.eot_token_id when the
 * file has one, and the template's end-of-turn token when the vocabulary has its text as one token. Distinct ids,
 * at most cap; returns how many. */
enum { SNUG_CHAT_MAX_STOP_TOKENS = 4 };
size_t snug_chat_stop_tokens(const snug_model *model, snug_chat_template tmpl, snug_token *out, size_t cap);

/* ---- quantization ---------------------------------------------------------------------------------------------- */

/* What happened to one tensor, reported as each is written. */
typedef struct snug_quantize_tensor_report {
    const char *name;
    const char *from_type; /* "F16" */
    const char *to_type;   /* "Q4_K", or the same as from_type when copied */
    uint64_t elements;
    double relative_rmse;                   /* sqrt(Σ(x − x̂)² / Σx²) over the tensor; 0 when copied */
    uint64_t done_elements, total_elements; /* progress over the whole file */
} snug_quantize_tensor_report;

/* Called after each tensor is written. Return SNUG_OK to go on; any other status (with err filled in) stops the
 * quantization, which then returns that status and error, and leaves the output path as it was. */
typedef snug_status (*snug_quantize_callback)(void *user, const snug_quantize_tensor_report *report, snug_error *err);

/* Quantizes the weight matrices of an F32 / F16 / BF16 GGUF model to `target`: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
 * Q5_K, Q6_K, or the mixes Q4_K_M and Q5_K_M (Q4_K / Q5_K with Q6_K for the output matrix and for attn_v and
 * ffn_down in the first and last eighth of the layers and every third between, as llama.cpp defines them).
 * Vectors (norms) are copied. Threads: 0 = all processors. The output loads in llama.cpp too.
 *
 * The input is opened read-only and never written. An output that is the input (the same device and inode, after
 * following links: a symlink, a hard link, "dir/./in.gguf") is refused with SNUG_E_ARGUMENT, as is a NaN or an
 * infinity in any source tensor (named, with the index of its first such element). The output is written to a
 * temporary file next to it and renamed into place only when complete and synced: on any error the output path is
 * left exactly as it was. */
snug_status snug_quantize_model(const char *in_path, const char *out_path, const char *target, int32_t n_threads,
                                snug_quantize_callback callback, void *user, snug_error *err);

/* ---- files snug reads ------------------------------------------------------------------------------------------- */

/* Opens a regular file read-only without ever blocking: a FIFO, a socket, a device or a directory is refused at once
 * (SNUG_E_IO, "PATH: is a FIFO (named pipe), not a regular file", with a hint). On success *fd is the open descriptor
 * (the caller closes it) and *bytes the file's size. Every model, vocabulary and prompt file snug reads is opened this
 * way. */
snug_status snug_open_regular_file(const char *path, int *fd, uint64_t *bytes, snug_error *err);
/* What a file of this st_mode is, for messages: "a regular file", "a directory", "a FIFO (named pipe)", "a socket",
 * "a character device", "a block device". */
const char *snug_file_kind(uint32_t mode);

/* ---- files snug writes ------------------------------------------------------------------------------------------ */

/* Every file snug writes (snug_quantize_model, the GGUF writer) goes to a temporary file in the destination's folder,
 * renamed over the destination only when complete and fsync'ed. This removes the temporary files of every such write
 * in progress in this process, leaving the destinations as they were. It is async-signal-safe (atomic loads and
 * unlink only): call it from a SIGINT / SIGTERM handler, then end the process (re-raise the signal); a write in
 * progress cannot finish after it. */
void snug_remove_temporary_files(void);

#ifdef __cplusplus
}
#endif

#endif /* SNUG_H */
