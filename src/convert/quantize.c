/* quantize.c — `snug quantize`: an F32/F16/BF16 GGUF model to a quantized one, streamed tensor by tensor.
 *
 * The output keeps every metadata entry (general.file_type and general.quantization_version are set to match) and
 * every tensor in the same order; only the types and data of weight matrices change. The header is written first
 * (all output sizes are known from the types), then each tensor is quantized in parallel over its rows and written,
 * so memory holds one tensor at a time. Per tensor, the relative RMS error against the source is measured by
 * decoding what was written.
 *
 * Mix rules for Q4_K_M / Q5_K_M (llama.cpp's llama_tensor_get_type, as commonly used): Q6_K for output.weight (or
 * token_embd.weight when the output is tied to it), and for attn_v.weight and ffn_down.weight in layer i when
 * i < n/8, i >= 7n/8 or (i − n/8) % 3 == 2; the base type elsewhere. A row length that is not a multiple of 256
 * falls back as llama.cpp does: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0.
 *
 * Safety: the input is mapped read-only and never written. An output that is the input (same device and inode after
 * following links; path strings say nothing) is refused before anything is written. The output goes through the
 * writer's stream, i.e. a temporary file renamed into place only when complete (atomic_file.h), so an error, a
 * caller that stops, or a signal handler calling snug_remove_temporary_files() leaves the output path as it was.
 * A NaN or infinity in a source tensor is refused (quantizing it would hide it behind a finite-looking RMSE).
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "cpu/ops.h"
#include "cpu/pool.h"
#include "cpu/quant.h"
#include "gguf/gguf.h"
#include "gguf/types.h"
#include "gguf/writer.h"

/* GGUF's general.file_type values (llama.cpp's llama_ftype) for the targets. */
static const struct {
    const char *name;
    uint32_t base_type;
    bool mix;
    uint32_t file_type;
} targets[] = {
    {"Q8_0", SNUG_TYPE_Q8_0, false, 7},   {"Q4_0", SNUG_TYPE_Q4_0, false, 2},  {"Q4_1", SNUG_TYPE_Q4_1, false, 3},
    {"Q5_0", SNUG_TYPE_Q5_0, false, 8},   {"Q5_1", SNUG_TYPE_Q5_1, false, 9},  {"Q4_K", SNUG_TYPE_Q4_K, false, 14},
    {"Q5_K", SNUG_TYPE_Q5_K, false, 16},  {"Q6_K", SNUG_TYPE_Q6_K, false, 18}, {"Q4_K_M", SNUG_TYPE_Q4_K, true, 15},
    {"Q5_K_M", SNUG_TYPE_Q5_K, true, 17},
};
#define QUANTIZATION_VERSION 2 /* the K-quant era layout version llama.cpp writes */

static bool use_more_bits(int layer, int n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The block size a row must be a multiple of, and the fallback when it is not. */
static uint32_t fit_row(uint32_t type, uint64_t row_elems) {
    uint32_t block = snug_type_traits_of(type).block_elems;
    if (row_elems % block == 0) return type;
    switch (type) {
    case SNUG_TYPE_Q4_K: return fit_row(SNUG_TYPE_Q5_0, row_elems);
    case SNUG_TYPE_Q5_K: return fit_row(SNUG_TYPE_Q5_1, row_elems);
    case SNUG_TYPE_Q6_K: return fit_row(SNUG_TYPE_Q8_0, row_elems);
    default: return SNUG_TYPE_F16;
    }
}

static uint32_t output_type(const snug_tensor_info *t, uint32_t base, bool mix, int n_layer, bool has_output) {
    if (t->n_dims < 2 || !ends_with(t->name, ".weight")) return t->type; /* norms and other vectors: copied */
    uint32_t type = base;
    int layer = -1;
    if (mix) {
        sscanf(t->name, "blk.%d.", &layer);
        bool is_output =
            strcmp(t->name, "output.weight") == 0 || (!has_output && strcmp(t->name, "token_embd.weight") == 0);
        bool sensitive = layer >= 0 && (ends_with(t->name, "attn_v.weight") || ends_with(t->name, "ffn_down.weight"));
        if (is_output || (sensitive && use_more_bits(layer, n_layer))) type = SNUG_TYPE_Q6_K;
    }
    return fit_row(type, t->ne[0]);
}

typedef struct error_sums {
    double error2, signal2;
} error_sums;

static bool is_float_type(uint32_t type) {
    return type == SNUG_TYPE_F32 || type == SNUG_TYPE_F16 || type == SNUG_TYPE_BF16;
}

static snug_status non_finite(const snug_tensor_info *t, uint64_t index, float value, snug_error *err) {
    const uint64_t n = t->ne[0];
    snug_fail(err, SNUG_E_FORMAT, "tensor '%s' (%s): element %llu (row %llu, column %llu) is %s; refusing to quantize",
              t->name, snug_type_name(t->type), (unsigned long long)index, (unsigned long long)(index / n),
              (unsigned long long)(index % n),
              isnan(value) ? "NaN"
              : value > 0  ? "+Inf"
                           : "-Inf");
    snug_hint(err, "the source model is damaged: a non-finite weight would make every output it touches NaN");
    return SNUG_E_FORMAT;
}

/* Row r of a float source tensor, decoded to f32. */
static void source_row(const snug_tensor_info *t, int64_t r, float *x) {
    uint64_t src_row_bytes = 0;
    snug_type_row_bytes(t->type, t->ne[0], &src_row_bytes);
    snug_dequantize_row(t->type, (const uint8_t *)t->data + (uint64_t)r * src_row_bytes, x, (int64_t)t->ne[0]);
}

/* The value at flat index `index` of a float source tensor (for the message about it). */
static float source_value(const snug_tensor_info *t, uint64_t index) {
    float *x = malloc((size_t)t->ne[0] * sizeof *x);
    if (!x) return NAN;
    source_row(t, (int64_t)(index / t->ne[0]), x);
    float v = x[index % t->ne[0]];
    free(x);
    return v;
}

/* Checks a tensor that is copied unchanged: F32 / F16 / BF16 ones must be finite too. */
static snug_status check_copied(const snug_tensor_info *t, snug_error *err) {
    if (!is_float_type(t->type)) return SNUG_OK;
    const int64_t n = (int64_t)t->ne[0], rows = (int64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "tensor '%s': out of memory", t->name);
    for (int64_t r = 0; r < rows; r++) {
        source_row(t, r, x);
        for (int64_t i = 0; i < n; i++) {
            if (!isfinite(x[i])) {
                float v = x[i];
                free(x);
                return non_finite(t, (uint64_t)(r * n + i), v, err);
            }
        }
    }
    free(x);
    return SNUG_OK;
}

/* Rows a pool task quantizes: enough to amortise claiming it, few enough to balance the threads' last tasks. */
#define ROWS_PER_TASK 16

/* One tensor's rows, shared by the pool's tasks; each thread has its own row buffers and sums. */
typedef struct quantize_job {
    const snug_tensor_info *t;
    uint32_t to;
    uint8_t *dst;
    uint64_t dst_row_bytes;
    int64_t n, rows;
    float *buffers;   /* (threads, 2 · n): a source row and its round trip */
    error_sums *sums; /* (threads) */
    _Atomic bool failed;
    int64_t first_bad; /* the lowest flat index of a non-finite source value; INT64_MAX: none */
} quantize_job;

static void quantize_task(void *context, int64_t task, int32_t thread) {
    quantize_job *job = context;
    const int64_t n = job->n, r0 = task * ROWS_PER_TASK;
    const int64_t r1 = r0 + ROWS_PER_TASK < job->rows ? r0 + ROWS_PER_TASK : job->rows;
    float *x = job->buffers + (int64_t)thread * 2 * n, *y = x + n;
    error_sums *sums = &job->sums[thread];
    for (int64_t r = r0; r < r1 && !atomic_load_explicit(&job->failed, memory_order_relaxed); r++) {
        uint8_t *out = job->dst + (uint64_t)r * job->dst_row_bytes;
        source_row(job->t, r, x);
        int64_t bad = -1;
        for (int64_t i = 0; i < n && bad < 0; i++) {
            if (!isfinite(x[i])) bad = i;
        }
        if (bad >= 0) {
            snug_note_first(&job->first_bad, r * n + bad);
            continue;
        }
        if (!snug_quantize_row(job->to, x, out, n) || !snug_dequantize_row(job->to, out, y, n)) {
            atomic_store_explicit(&job->failed, true, memory_order_relaxed);
            return;
        }
        for (int64_t i = 0; i < n; i++) {
            double d = (double)x[i] - (double)y[i];
            sums->error2 += d * d;
            sums->signal2 += (double)x[i] * (double)x[i];
        }
    }
}

/* Quantizes rows [0, rows) of src (type from) into dst (type to) on the pool's threads, accumulating the squared
 * error. Every source value must be finite: the lowest index of one that is not is reported. */
static snug_status quantize_rows(const snug_tensor_info *t, uint32_t to, uint8_t *dst, uint64_t dst_row_bytes,
                                 snug_pool *pool, error_sums *sums, snug_error *err) {
    const int64_t n = (int64_t)t->ne[0];
    const int32_t threads = snug_pool_threads(pool);
    quantize_job job = {t,    to,   dst,   dst_row_bytes, n, (int64_t)(t->ne[1] * t->ne[2] * t->ne[3]),
                        NULL, NULL, false, INT64_MAX};
    atomic_init(&job.failed, false);
    job.buffers = malloc((size_t)threads * 2 * (size_t)n * sizeof *job.buffers);
    job.sums = calloc((size_t)threads, sizeof *job.sums);
    if (job.buffers && job.sums)
        snug_pool_run(pool, quantize_task, &job, (job.rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK);
    const bool failed = !job.buffers || !job.sums || atomic_load(&job.failed);
    sums->error2 = sums->signal2 = 0;
    for (int32_t i = 0; !failed && i < threads; i++) {
        sums->error2 += job.sums[i].error2;
        sums->signal2 += job.sums[i].signal2;
    }
    free(job.buffers);
    free(job.sums);
    if (!failed && job.first_bad != INT64_MAX)
        return non_finite(t, (uint64_t)job.first_bad, source_value(t, (uint64_t)job.first_bad), err);
    if (failed) {
        return snug_fail(err, SNUG_E_UNSUPPORTED, "tensor '%s': cannot quantize %s to %s (or out of memory)", t->name,
                         snug_type_name(t->type), snug_type_name(to));
    }
    return SNUG_OK;
}

/* Refuses an output that is the input: the same device and inode once links are followed (a symlink, a hard link,
 * "q/./in.gguf"). An output that does not exist yet cannot be the input. */
static snug_status check_output_is_not_input(const char *in_path, const char *out_path, snug_error *err) {
    struct stat in, out;
    if (stat(in_path, &in) != 0) return snug_fail(err, SNUG_E_IO, "%s: cannot stat: %s", in_path, strerror(errno));
    if (stat(out_path, &out) != 0) return SNUG_OK;
    if (in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
        snug_fail(err, SNUG_E_ARGUMENT,
                  "%s and %s are the same file (device %llu, inode %llu); refusing to replace the "
                  "input with its own quantization",
                  out_path, in_path, (unsigned long long)in.st_dev, (unsigned long long)in.st_ino);
        snug_hint(err, "name a different output file");
        return SNUG_E_ARGUMENT;
    }
    return SNUG_OK;
}

/* CPUs this process may run on: the default thread count. */
static int32_t available_cpus(void) {
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > SNUG_POOL_MAX_THREADS ? SNUG_POOL_MAX_THREADS : (int32_t)n;
}

snug_status snug_quantize_model(const char *in_path, const char *out_path, const char *target, int32_t n_threads,
                                snug_quantize_callback callback, void *user, snug_error *err) {
    int chosen = -1;
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        if (target && strcmp(target, targets[i].name) == 0) chosen = (int)i;
    }
    if (chosen < 0) {
        snug_fail(err, SNUG_E_ARGUMENT, "unknown quantization type '%s'", target ? target : "");
        snug_hint(err, "one of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M");
        return SNUG_E_ARGUMENT;
    }
    if (n_threads <= 0) n_threads = available_cpus();
    snug_pool *pool;
    snug_status st = snug_pool_create(n_threads, &pool, err);
    if (st != SNUG_OK) return st;
    snug_gguf *in;
    if ((st = snug_gguf_open(in_path, 0, &in, err)) != SNUG_OK) {
        snug_pool_destroy(pool);
        return st;
    }
    if ((st = check_output_is_not_input(in_path, out_path, err)) != SNUG_OK) {
        snug_gguf_close(in);
        snug_pool_destroy(pool);
        return st;
    }

    /* Layers and whether the output matrix is separate, for the mix rules. */
    int n_layer = 0;
    bool has_output = snug_gguf_find_tensor(in, "output.weight") != NULL;
    uint64_t total_elements = 0;
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const snug_tensor_info *t = &in->tensors[i];
        int layer;
        if (sscanf(t->name, "blk.%d.", &layer) == 1 && layer + 1 > n_layer) n_layer = layer + 1;
        total_elements += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        bool weight = t->n_dims >= 2 && ends_with(t->name, ".weight");
        if (weight && t->type != SNUG_TYPE_F32 && t->type != SNUG_TYPE_F16 && t->type != SNUG_TYPE_BF16) {
            snug_fail(err, SNUG_E_UNSUPPORTED, "%s: tensor '%s' is already %s; quantize from an F32, F16 or BF16 file",
                      in_path, t->name, snug_type_name(t->type));
            snug_gguf_close(in); /* after the message: t points into it */
            snug_pool_destroy(pool);
            return SNUG_E_UNSUPPORTED;
        }
    }

    snug_gguf_writer *w = snug_gguf_writer_create(3, in->alignment);
    uint32_t *types = calloc(in->n_tensors + 1, sizeof *types);
    bool ok = w && types;
    for (uint64_t i = 0; ok && i < in->n_kv; i++) {
        const char *key = in->kvs[i].key;
        if (strcmp(key, "general.file_type") == 0 || strcmp(key, "general.quantization_version") == 0 ||
            strcmp(key, "general.alignment") == 0) {
            continue;
        }
        ok = snug_gguf_writer_copy_kv(w, in, i);
    }
    ok = ok && snug_gguf_writer_u32(w, "general.file_type", targets[chosen].file_type) &&
         snug_gguf_writer_u32(w, "general.quantization_version", QUANTIZATION_VERSION);
    uint64_t largest = 0;
    for (uint64_t i = 0; ok && i < in->n_tensors; i++) {
        const snug_tensor_info *t = &in->tensors[i];
        types[i] = output_type(t, targets[chosen].base_type, targets[chosen].mix, n_layer, has_output);
        uint64_t row_bytes = 0;
        snug_type_row_bytes(types[i], t->ne[0], &row_bytes);
        uint64_t bytes = row_bytes * t->ne[1] * t->ne[2] * t->ne[3];
        if (bytes > largest) largest = bytes;
        ok = snug_gguf_writer_tensor(w, t->name, types[i], t->n_dims, t->ne, NULL, bytes);
    }
    uint8_t *buffer = ok ? malloc(largest ? largest : 1) : NULL;
    if (!ok || !buffer) {
        st = snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory preparing %s", out_path);
        goto done;
    }
    snug_gguf_stream *stream;
    if ((st = snug_gguf_stream_open(w, out_path, &stream, err)) != SNUG_OK) goto done;
    uint64_t done_elements = 0;
    for (uint64_t i = 0; i < in->n_tensors && st == SNUG_OK; i++) {
        const snug_tensor_info *t = &in->tensors[i];
        uint64_t elements = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        error_sums sums = {0, 0};
        const void *data = t->data;
        uint64_t bytes = t->bytes;
        if (types[i] != t->type) {
            uint64_t row_bytes = 0;
            snug_type_row_bytes(types[i], t->ne[0], &row_bytes);
            bytes = row_bytes * t->ne[1] * t->ne[2] * t->ne[3];
            st = quantize_rows(t, types[i], buffer, row_bytes, pool, &sums, err);
            data = buffer;
        } else {
            st = check_copied(t, err);
        }
        if (st == SNUG_OK) st = snug_gguf_stream_tensor(stream, data, bytes, err);
        done_elements += elements;
        if (st == SNUG_OK && callback) {
            snug_quantize_tensor_report report = {t->name,
                                                  snug_type_name(t->type),
                                                  snug_type_name(types[i]),
                                                  elements,
                                                  sums.signal2 > 0 ? sqrt(sums.error2 / sums.signal2) : 0.0,
                                                  done_elements,
                                                  total_elements};
            st = callback(user, &report, err);
        }
    }
    /* Only a complete file is renamed into place; otherwise the temporary file goes and the output is untouched. */
    if (st == SNUG_OK) {
        st = snug_gguf_stream_close(stream, err);
    } else {
        snug_gguf_stream_abort(stream);
    }
done:
    free(buffer);
    free(types);
    snug_gguf_writer_free(w);
    snug_gguf_close(in);
    snug_pool_destroy(pool);
    return st;
}
