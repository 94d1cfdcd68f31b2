/* matmul.c — batched weight × activation products through the kernel tables (see matmul.h). */
#include "cpu/matmul.h"

#include <stdatomic.h>

#include "cpu/quant.h"

void snug_matrix_row(const snug_matrix *w, int64_t row, float *out) {
    snug_dequantize_row(w->type, (const uint8_t *)w->data + (uint64_t)row * w->row_bytes, out, w->n_in);
}

uint64_t snug_matmul_act_bytes(const snug_matrix *w, int64_t n_tokens) {
    return snug_kernels_act_bytes(snug_kernels_in_use(w->type), n_tokens, w->n_in);
}

uint64_t snug_matmul_act_bytes_with(const snug_type_kernels *k, const snug_matrix *w, int64_t n_tokens) {
    return snug_kernels_act_bytes(k, n_tokens, w->n_in);
}

/* Tokens too few for a register tile go one by one, through the kernels' decode layout where they have one
 * (kernels.h, tile_min_tokens): each weight row is read from memory once and meets each token's encoded row while it
 * is in L1, and each token's outputs are exactly what it would get alone. 2 tokens through the 16 × 16 Q4_0 tile
 * ran at 40 tok/s where one token alone ran at 52; through the decode layout at 58 (Zen 4, 2 threads). */
static bool decode_path(const snug_type_kernels *k, int64_t n_tokens) { return snug_kernels_decode(k, n_tokens); }

/* One token's activation row encoded, as a pool task. */
typedef struct encode_job {
    const snug_type_kernels *kernels;
    const float *x;
    uint8_t *encoded;
    int64_t n_in;
    uint64_t row;
} encode_job;

static void encode_token(void *context, int64_t t, int32_t thread) {
    const encode_job *job = context;
    job->kernels->quantize_act(job->x + t * job->n_in, job->encoded + (uint64_t)t * job->row, job->n_in);
}

/* Encodes the n_tokens activation rows for w's kernels (in parallel when there are several); returns the encoded
 * rows (x itself for float kernels) and their stride. */
static const uint8_t *encode_activations(const snug_type_kernels *k, const snug_matrix *w, const float *x,
                                         int64_t n_tokens, void *act_buffer, snug_pool *pool, uint64_t *act_row) {
    const int64_t n_in = w->n_in;
    if (decode_path(k, n_tokens)) {
        const uint64_t row = k->decode.decode_act_bytes(n_in);
        for (int64_t t = 0; t < n_tokens; t++)
            k->decode.decode_act(x + t * n_in, (uint8_t *)act_buffer + t * row, n_in);
        *act_row = row;
        return act_buffer;
    }
    if (k->act_type == SNUG_TYPE_F32) {
        *act_row = (uint64_t)n_in * sizeof(float);
        return (const uint8_t *)x;
    }
    const uint64_t row = snug_act_row_bytes(k->act_type, n_in);
    encode_job job = {k, x, act_buffer, n_in, row};
    snug_pool_run(pool, encode_token, &job, n_tokens);
    *act_row = row;
    return act_buffer;
}

static int64_t row_blocks(const snug_matrix *w) {
    return (w->n_out + SNUG_MATMUL_ROW_BLOCK - 1) / SNUG_MATMUL_ROW_BLOCK;
}

/* Row block b of w against every token: y (n_tokens, n_out). One thread, fixed arithmetic per output. */
static void compute_block(const snug_type_kernels *k, const snug_matrix *w, const uint8_t *act, uint64_t act_row,
                          int64_t n_tokens, float *y, int64_t b) {
    const int64_t n_in = w->n_in, n_out = w->n_out;
    const uint8_t *weights = w->data;
    const bool tiled = snug_kernels_tiled(k, n_tokens);
    const int64_t tile_rows = k->tile_rows ? k->tile_rows : SNUG_TILE_MAX;
    const int64_t tile_tokens = k->tile_tokens ? k->tile_tokens : SNUG_TILE_MAX;
    const int64_t r0 = b * SNUG_MATMUL_ROW_BLOCK;
    const int64_t r1 = r0 + SNUG_MATMUL_ROW_BLOCK < n_out ? r0 + SNUG_MATMUL_ROW_BLOCK : n_out;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += SNUG_MATMUL_TOKEN_TILE) {
        const int64_t t1 = t0 + SNUG_MATMUL_TOKEN_TILE < n_tokens ? t0 + SNUG_MATMUL_TOKEN_TILE : n_tokens;
        if (tiled) {
            /* Register tiles of up to tile_rows × tile_tokens; the tokens of a tile stay in L1 while the block's
             * rows pass them (rows inner: measured best for F16, whose activations are 4 bytes an element, and no
             * worse for the quantized types). */
            for (int64_t t = t0; t < t1; t += tile_tokens) {
                int tokens = (int)(t1 - t < tile_tokens ? t1 - t : tile_tokens);
                for (int64_t r = r0; r < r1; r += tile_rows) {
                    int rows = (int)(r1 - r < tile_rows ? r1 - r : tile_rows);
                    k->dot_tile(n_in, &y[t * n_out + r], n_out, weights + (uint64_t)r * w->row_bytes, w->row_bytes,
                                act + (uint64_t)t * act_row, act_row, rows, tokens);
                }
            }
            continue;
        }
        const snug_vec_dot_fn dot = decode_path(k, n_tokens) ? k->decode.decode_dot : k->vec_dot;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = weights + (uint64_t)r * w->row_bytes;
            for (int64_t t = t0; t < t1; t++) dot(n_in, &y[t * n_out + r], row, act + (uint64_t)t * act_row);
        }
    }
}

/* One matmul's (or group's) blocks: block g belongs to matrix m where first_block[m] ≤ g < first_block[m + 1]. */
typedef struct block_job {
    const snug_type_kernels *const *ks;
    const snug_matrix *const *ws;
    float *const *ys;
    const int64_t *first_block;
    const uint8_t *act;
    uint64_t act_row;
    int64_t n_tokens;
} block_job;

static void run_block(const block_job *job, int64_t g) {
    int m = 0;
    while (g >= job->first_block[m + 1]) m++;
    compute_block(job->ks[m], job->ws[m], job->act, job->act_row, job->n_tokens, job->ys[m], g - job->first_block[m]);
}

/* Each thread starts on its own contiguous share of the blocks, as a static split would, and a thread that finishes
 * early takes the back half of what is left of another's share, and so on. A static split left one of two vCPUs waiting
 * ~9 % of every decode step for the other (they do not stream memory equally fast), and interleaving rows
 * (schedule(dynamic)) costs more than that in lost streaming. Under contention it matters more: a thread that shares
 * its core with another process keeps only the block it is computing, the others take the rest of its share. A share is
 * (next, end) in one 64-bit word, claimed a block at a time from the front by its owner and cut in half from the back
 * by others with compare-and-swap, so each block runs exactly once; which thread runs it does not change its
 * arithmetic. The pool hands out the shares as tasks: share s is started by whichever thread claims task s (the caller
 * claims the first; a worker without a core claims none, and its share is then started, or already emptied, by
 * another). */
#define STEAL_MAX_THREADS 64
typedef struct block_share {
    _Alignas(64) _Atomic uint64_t range; /* next block in the low 32 bits, end in the high 32; own cache line */
} block_share;

static bool claim_front(block_share *share, int64_t *block) {
    uint64_t r = atomic_load_explicit(&share->range, memory_order_relaxed);
    while ((uint32_t)r < (uint32_t)(r >> 32)) {
        if (atomic_compare_exchange_weak_explicit(&share->range, &r, r + 1, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *block = (uint32_t)r;
            return true;
        }
    }
    return false;
}

/* Takes the back half of what is left of a share (its last block when one is left): [*begin, *end). */
static bool steal_back_half(block_share *share, uint64_t *begin, uint64_t *end) {
    uint64_t r = atomic_load_explicit(&share->range, memory_order_relaxed);
    for (;;) {
        const uint32_t next = (uint32_t)r, last = (uint32_t)(r >> 32);
        if (next >= last) return false;
        const uint32_t middle = next + (last - next) / 2;
        if (atomic_compare_exchange_weak_explicit(&share->range, &r, (uint64_t)next | (uint64_t)middle << 32,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *begin = middle;
            *end = last;
            return true;
        }
    }
}

typedef struct steal_job {
    const block_job *blocks;
    block_share *shares;
    int32_t n_shares;
} steal_job;

/* Runs share `self` from its front; when it is empty, moves the back half of another share into it and goes on, so
 * that every thread streams its rows forward (blocks taken one at a time from the back read the matrix backwards,
 * past the prefetchers: a stealing thread then ran ~12 % slower). Only the thread running task `self` writes share
 * `self` while it is empty; everyone else only shortens it, by compare-and-swap. */
static void run_share(void *context, int64_t self, int32_t thread) {
    const steal_job *job = context;
    block_share *own = &job->shares[self];
    int64_t g;
    for (;;) {
        while (claim_front(own, &g)) run_block(job->blocks, g);
        bool stole = false;
        for (int32_t k = 1; k < job->n_shares && !stole; k++) {
            uint64_t begin, end;
            if (steal_back_half(&job->shares[(self + k) % job->n_shares], &begin, &end)) {
                atomic_store_explicit(&own->range, begin | end << 32, memory_order_relaxed);
                stole = true;
            }
        }
        if (!stole) return;
    }
}

static void run_one_block(void *context, int64_t g, int32_t thread) { run_block(context, g); }

static void run_blocks(const block_job *job, int64_t n_blocks, snug_pool *pool) {
    const int32_t n_threads = snug_pool_threads(pool);
    if (n_threads <= 1 || n_threads > STEAL_MAX_THREADS || n_blocks >= UINT32_MAX) {
        snug_pool_run(pool, run_one_block, (void *)job, n_blocks);
        return;
    }
    block_share shares[STEAL_MAX_THREADS];
    for (int32_t t = 0; t < n_threads; t++) {
        uint64_t begin = (uint64_t)(n_blocks * t / n_threads), end = (uint64_t)(n_blocks * (t + 1) / n_threads);
        atomic_init(&shares[t].range, begin | end << 32);
    }
    steal_job steal = {job, shares, n_threads};
    snug_pool_run(pool, run_share, &steal, n_threads);
}

void snug_matmul_with(const snug_type_kernels *k, const snug_matrix *w, const float *x, int64_t n_tokens, float *y,
                      void *act_buffer, snug_pool *pool) {
    uint64_t act_row;
    const uint8_t *act = encode_activations(k, w, x, n_tokens, act_buffer, pool, &act_row);
    const int64_t first_block[2] = {0, row_blocks(w)};
    const block_job job = {&k, &w, &y, first_block, act, act_row, n_tokens};
    run_blocks(&job, first_block[1], pool);
}

void snug_matmul(const snug_matrix *w, const float *x, int64_t n_tokens, float *y, void *act_buffer, snug_pool *pool) {
    snug_matmul_with(snug_kernels_in_use(w->type), w, x, n_tokens, y, act_buffer, pool);
}

void snug_matmul_group(const snug_matrix *const *ws, float *const *ys, int count, const float *x, int64_t n_tokens,
                       void *act_buffer, snug_pool *pool) {
    /* One encoding serves all only when every matrix takes the same input length through the same encoder. */
    bool shared = count <= SNUG_MATMUL_GROUP_MAX;
    const snug_type_kernels *ks[SNUG_MATMUL_GROUP_MAX] = {NULL};
    for (int m = 0; m < count && m < SNUG_MATMUL_GROUP_MAX; m++) ks[m] = snug_kernels_in_use(ws[m]->type);
    for (int m = 1; m < count && shared; m++) {
        const snug_type_kernels *k = ks[m], *k0 = ks[0];
        shared = ws[m]->n_in == ws[0]->n_in &&
                 (decode_path(k, n_tokens) ? k->decode.decode_act == k0->decode.decode_act
                                           : k->act_type == k0->act_type && k->quantize_act == k0->quantize_act &&
                                                 !decode_path(k0, n_tokens));
    }
    if (!shared) {
        for (int m = 0; m < count; m++) snug_matmul(ws[m], x, n_tokens, ys[m], act_buffer, pool);
        return;
    }
    uint64_t act_row;
    const uint8_t *act = encode_activations(ks[0], ws[0], x, n_tokens, act_buffer, pool, &act_row);
    int64_t first_block[SNUG_MATMUL_GROUP_MAX + 1] = {0};
    for (int m = 0; m < count; m++) first_block[m + 1] = first_block[m] + row_blocks(ws[m]);
    const block_job job = {ks, ws, ys, first_block, act, act_row, n_tokens};
    run_blocks(&job, first_block[count], pool);
}
