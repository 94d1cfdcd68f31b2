/* attention.c — causal GQA attention over an f16 / q8_0 / f32 KV cache (see attention.h): the scalar reference, the
 * choice of kernels, and the loop over (head, token) rows that both share. */
#include "cpu/attention.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "cpu/ops.h"
#include "cpu/quant.h"
#include "snug.h"

/* Byte offset of the first element of KV head `kv_head` inside a cache row. */
static uint64_t head_offset_bytes(uint32_t kv_type, int64_t first_element) {
    switch (kv_type) {
    case SNUG_TYPE_Q8_0: return (uint64_t)first_element / SNUG_QK8_0 * SNUG_Q8_0_BLOCK_BYTES;
    case SNUG_TYPE_F32: return (uint64_t)first_element * 4;
    default: return (uint64_t)first_element * 2;
    }
}

void snug_kv_store(uint32_t kv_type, const float *src, uint8_t *dst_row, int64_t n_kv) {
    snug_quantize_row(kv_type, src, dst_row, n_kv);
}

static const snug_attention_kernels reference_kernels = {0};

const snug_attention_kernels *snug_attention_kernels_for(snug_isa isa) {
    if (isa != SNUG_ISA_SCALAR && !snug_kernels_for(SNUG_TYPE_F32, isa)) return NULL; /* not on this CPU / build */
    switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
    case SNUG_ISA_AVX2: return &snug_attention_kernels_avx2;
    case SNUG_ISA_AVX512:
    case SNUG_ISA_AVX512_VNNI: return &snug_attention_kernels_avx512;
#endif
    default: return &reference_kernels;
    }
}

static const snug_attention_kernels *active_kernels;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;
static void choose_active(void) { active_kernels = snug_attention_kernels_for(snug_isa_active()); }

/* Where a token's positions are: the layer's K and V at the head's slice, its pages, and their size. */
typedef struct kv_view {
    const uint8_t *k, *v; /* page 0, at the head's slice */
    const int32_t *pages; /* by position / page_tokens */
    int64_t page_tokens;
    uint64_t page_bytes; /* page_tokens × row_bytes */
    uint64_t row_bytes;
} kv_view;

static inline uint64_t row_offset(const kv_view *kv, int64_t j) {
    return (uint64_t)kv->pages[j / kv->page_tokens] * kv->page_bytes + (uint64_t)(j % kv->page_tokens) * kv->row_bytes;
}

/* The positions of [j, j_end) that share j's page: min(j_end, the end of j's page) − j. */
static inline int64_t run_in_page(const kv_view *kv, int64_t j, int64_t j_end) {
    const int64_t page_end = (j / kv->page_tokens + 1) * kv->page_tokens;
    return (page_end < j_end ? page_end : j_end) - j;
}

/* The reference for one (token, head) row: one vec_dot per key (or a decoded key row and a plain dot product),
 * softmax with libm expf, then one decoded V row at a time. scratch: snug_attention_scratch_floats() floats.
 * False when the row broke down (snug_attention). */
static bool attend_row_reference(float *oh, const float *qh, const kv_view *kv, int64_t n_pos,
                                 const snug_attention_shape *shape, float scale, float *scratch) {
    const int32_t head_dim = shape->head_dim;
    float *scores = scratch, *k_row = scores + shape->n_ctx, *v_row = k_row + head_dim;
    if (shape->key_kernels) {
        for (int64_t j = 0; j < n_pos; j++) {
            shape->key_kernels->vec_dot(head_dim, &scores[j], kv->k + row_offset(kv, j), qh);
            scores[j] *= scale;
        }
    } else {
        for (int64_t j = 0; j < n_pos; j++) {
            snug_dequantize_row(shape->kv_type, kv->k + row_offset(kv, j), k_row, head_dim);
            scores[j] = snug_dot_f32(qh, k_row, head_dim) * scale;
        }
    }
    const bool softmax_ok = snug_softmax(scores, n_pos);
    memset(oh, 0, (size_t)head_dim * sizeof *oh);
    for (int64_t j = 0; j < n_pos; j++) {
        const uint8_t *vj = kv->v + row_offset(kv, j);
        if (shape->f16_row) {
            shape->f16_row((const uint16_t *)(const void *)vj, v_row, head_dim);
        } else {
            snug_dequantize_row(shape->kv_type, vj, v_row, head_dim);
        }
        const float p = scores[j];
#pragma omp simd
        for (int32_t d = 0; d < head_dim; d++) oh[d] += p * v_row[d];
    }
    return softmax_ok && !snug_any_nonfinite(oh, head_dim);
}

/* The kernels' path for n_q rows that share a KV head and n_pos (attention.h, SNUG_ATTENTION_BLOCK_KEYS): q and out
 * rows of head_dim one after another. A block of keys that spans pages is scored and summed one page's run at a
 * time; its softmax statistics are the block's as a whole. Returns −1, or the first of the n_q rows that broke down
 * (snug_attention). */
static int32_t attend_rows(const snug_attention_kernels *kernels, float *out, const float *q, int32_t n_q,
                           const kv_view *kv, int64_t n_pos, const snug_attention_shape *shape, float scale) {
    const int32_t head_dim = shape->head_dim;
    const uint64_t row_bytes = shape->row_bytes;
    float p[SNUG_ATTENTION_BLOCK_KEYS], max[SNUG_ATTENTION_GROUP_MAX_ROWS] = {0},
                                        sum[SNUG_ATTENTION_GROUP_MAX_ROWS] = {0};
    bool finite_max[SNUG_ATTENTION_GROUP_MAX_ROWS];
    for (int32_t r = 0; r < n_q; r++) finite_max[r] = true;
    for (int64_t j0 = 0; j0 < n_pos; j0 += SNUG_ATTENTION_BLOCK_KEYS) {
        const int64_t n_block = n_pos - j0 < SNUG_ATTENTION_BLOCK_KEYS ? n_pos - j0 : SNUG_ATTENTION_BLOCK_KEYS;
        for (int32_t r = 0; r < n_q; r++) {
            const float *qr = q + (int64_t)r * head_dim;
            float block_max = 0.0f;
            for (int64_t j = j0; j < j0 + n_block;) {
                const int64_t run = run_in_page(kv, j, j0 + n_block);
                const float run_max = kernels->scores(p + (j - j0), qr, kv->k + row_offset(kv, j), row_bytes, run,
                                                      head_dim, shape->kv_type, scale);
                /* A NaN run maximum is kept (the first run's, or through the comparison's false branch): it shows in
                 * the sum anyway (exp_sum). */
                block_max = j == j0 || run_max > block_max ? run_max : block_max;
                j += run;
            }
            /* The first block writes the row; later ones rescale what the earlier blocks left. */
            finite_max[r] &= isfinite(block_max) != 0; /* a NaN score shows in the sum instead (exp_sum) */
            const float new_max = j0 == 0 || block_max > max[r] ? block_max : max[r];
            const float rescale = j0 == 0 ? 0.0f : expf(max[r] - new_max);
            const float block_sum = kernels->exp_sum(p, n_block, new_max);
            sum[r] = j0 == 0 ? block_sum : sum[r] * rescale + block_sum;
            max[r] = new_max;
            float out_scale = rescale;
            for (int64_t j = j0; j < j0 + n_block;) {
                const int64_t run = run_in_page(kv, j, j0 + n_block);
                kernels->weighted_sum(out + (int64_t)r * head_dim, p + (j - j0), kv->v + row_offset(kv, j), row_bytes,
                                      run, head_dim, shape->kv_type, out_scale);
                out_scale = 1.0f; /* later runs add to what the first left */
                j += run;
            }
        }
    }
    int32_t first_bad = -1;
    for (int32_t r = 0; r < n_q; r++) {
        const float inv = 1.0f / sum[r];
        float *o = out + (int64_t)r * head_dim;
        for (int32_t d = 0; d < head_dim; d++) o[d] *= inv;
        const bool ok = finite_max[r] && sum[r] > 0.0f && isfinite(sum[r]) && !snug_any_nonfinite(o, head_dim);
        if (!ok && first_bad < 0) first_bad = r;
    }
    return first_bad;
}

/* One call's arguments, shared by its pool tasks. */
typedef struct attention_job {
    const snug_attention_kernels *kernels;
    float *out;
    const float *q;
    const uint8_t *k_pages, *v_pages;
    const snug_attention_token *tokens; /* NULL: one contiguous page, token t at position pos0 + t */
    int64_t n_tokens, pos0, q_dim, per_thread, page_tokens;
    const snug_attention_shape *shape;
    float *scratch;
    float scale;
    int32_t group, rows, slices;
    int64_t first_bad; /* the first (token × n_head + head) row that broke down; INT64_MAX: none */
} attention_job;

/* The single page of a contiguous cache. */
static const int32_t contiguous_pages[1] = {0};

/* Token t's view of KV head kv_head, and how many positions it sees. */
static kv_view token_view(const attention_job *job, int64_t t, int32_t kv_head, int64_t *n_pos) {
    const snug_attention_shape *shape = job->shape;
    const uint64_t slice = head_offset_bytes(shape->kv_type, (int64_t)kv_head * shape->head_dim);
    kv_view kv = {job->k_pages + slice,
                  job->v_pages + slice,
                  job->tokens ? job->tokens[t].pages : contiguous_pages,
                  job->page_tokens,
                  (uint64_t)job->page_tokens * shape->row_bytes,
                  shape->row_bytes};
    *n_pos = job->tokens ? job->tokens[t].n_pos : job->pos0 + t + 1;
    return kv;
}

/* Task (KV head, token, slice of the group's query heads), numbered in that order. */
static void attend_unit(void *context, int64_t unit, int32_t thread) {
    attention_job *job = context;
    const snug_attention_shape *shape = job->shape;
    const int32_t head_dim = shape->head_dim, group = job->group, rows = job->rows;
    const int32_t slice = (int32_t)(unit % job->slices);
    const int64_t t = unit / job->slices % job->n_tokens;
    const int32_t kv_head = (int32_t)(unit / job->slices / job->n_tokens);
    const int64_t q_dim = job->q_dim;
    const int32_t h = kv_head * group + slice * rows;
    const int32_t n_q = group - slice * rows < rows ? group - slice * rows : rows;
    int64_t n_pos;
    const kv_view kv = token_view(job, t, kv_head, &n_pos);
    const int32_t bad = attend_rows(job->kernels, job->out + t * q_dim + (int64_t)h * head_dim,
                                    job->q + t * q_dim + (int64_t)h * head_dim, n_q, &kv, n_pos, shape, job->scale);
    if (bad >= 0) snug_note_first(&job->first_bad, t * shape->n_head + h + bad);
}

/* Task (head, token) of the reference path, numbered in that order, with the running thread's scratch. */
static void attend_head_reference(void *context, int64_t unit, int32_t thread) {
    attention_job *job = context;
    const snug_attention_shape *shape = job->shape;
    const int32_t head_dim = shape->head_dim, h = (int32_t)(unit / job->n_tokens);
    const int64_t t = unit % job->n_tokens, q_dim = job->q_dim;
    float *thread_scratch = job->scratch + (int64_t)thread * job->per_thread;
    int64_t n_pos;
    const kv_view kv = token_view(job, t, h / job->group, &n_pos);
    if (!attend_row_reference(job->out + t * q_dim + (int64_t)h * head_dim, job->q + t * q_dim + (int64_t)h * head_dim,
                              &kv, n_pos, shape, job->scale, thread_scratch))
        snug_note_first(&job->first_bad, t * shape->n_head + h);
}

static int64_t attend(float *out, const float *q, const uint8_t *k_pages, const uint8_t *v_pages,
                      const snug_attention_token *tokens, int64_t n_tokens, int64_t pos0, int64_t page_tokens,
                      const snug_attention_shape *shape, float *scratch, snug_pool *pool) {
    const snug_attention_kernels *kernels = shape->kernels;
    if (!kernels) {
        pthread_once(&active_once, choose_active);
        kernels = active_kernels;
    }
    const int32_t n_threads = snug_pool_threads(pool);
    attention_job job = {kernels,
                         out,
                         q,
                         k_pages,
                         v_pages,
                         tokens,
                         n_tokens,
                         pos0,
                         (int64_t)shape->n_head * shape->head_dim,
                         snug_attention_scratch_floats(shape->n_ctx, shape->head_dim),
                         page_tokens,
                         shape,
                         scratch,
                         1.0f / sqrtf((float)shape->head_dim),
                         shape->n_head / shape->n_head_kv,
                         1,
                         1,
                         INT64_MAX};
    if (kernels->scores) {
        /* Units of (KV head, token, slice of the group's query heads). Whole groups share the most reads; they are
         * split when there would be too few units for the threads (decode on many cores). A row's result does not
         * depend on the split: its arithmetic involves no other row. */
        const int32_t group = job.group;
        int32_t rows = group < SNUG_ATTENTION_GROUP_MAX_ROWS ? group : SNUG_ATTENTION_GROUP_MAX_ROWS;
        while (rows > 1 &&
               (int64_t)shape->n_head_kv * n_tokens * ((group + rows - 1) / rows) < 2 * (int64_t)n_threads) {
            rows = (rows + 1) / 2;
        }
        job.rows = rows;
        job.slices = (group + rows - 1) / rows;
        snug_pool_run(pool, attend_unit, &job, (int64_t)shape->n_head_kv * n_tokens * job.slices);
    } else {
        /* Heads outer: a causal batch's token t reads t + 1 positions, so splitting by tokens would leave the thread
         * with the later tokens most of the work; every head has the same. */
        snug_pool_run(pool, attend_head_reference, &job, (int64_t)shape->n_head * n_tokens);
    }
    return job.first_bad == INT64_MAX ? -1 : job.first_bad;
}

int64_t snug_attention_paged(float *out, const float *q, const uint8_t *k_pages, const uint8_t *v_pages,
                             const snug_attention_token *tokens, int64_t n_tokens, const snug_attention_shape *shape,
                             float *scratch, snug_pool *pool) {
    return attend(out, q, k_pages, v_pages, tokens, n_tokens, 0, shape->page_tokens, shape, scratch, pool);
}

int64_t snug_attention(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache, int64_t n_tokens,
                       int64_t pos0, const snug_attention_shape *shape, float *scratch, snug_pool *pool) {
    return attend(out, q, k_cache, v_cache, NULL, n_tokens, pos0, shape->n_ctx, shape, scratch, pool);
}
