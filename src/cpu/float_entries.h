/* float_entries.h — the kernel-table entries of a float ISA file (float_avx2.c, float_avx512.c), included by each
 * after it has defined, with its own instruction set, `dot(kind, n, w, y)` (one row · one f32 activation row) and
 * `tile_run(kind, …, n_rows, T)` (a register tile of up to TILE rows × T tokens, T a constant). What is here only
 * binds those two to F32, F16 and BF16 and turns the token count into a constant, so it is the same for every ISA.
 */
#ifndef SNUG_CPU_FLOAT_ENTRIES_H
#define SNUG_CPU_FLOAT_ENTRIES_H

INLINE void tile_dispatch(weight_kind kind, int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride,
                          const void *a, uint64_t a_stride, int n_rows, int n_tokens) {
    switch (n_tokens) {
    case 1: tile_run(kind, n, y, y_stride, w, w_stride, a, a_stride, n_rows, 1); break;
    case 2: tile_run(kind, n, y, y_stride, w, w_stride, a, a_stride, n_rows, 2); break;
    case 3: tile_run(kind, n, y, y_stride, w, w_stride, a, a_stride, n_rows, 3); break;
    default: tile_run(kind, n, y, y_stride, w, w_stride, a, a_stride, n_rows, 4); break;
    }
}

static void dot_tile_f32(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                         uint64_t a_stride, int n_rows, int n_tokens) {
    tile_dispatch(WEIGHT_F32, n, y, y_stride, w, w_stride, a, a_stride, n_rows, n_tokens);
}

static void dot_tile_f16(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                         uint64_t a_stride, int n_rows, int n_tokens) {
    tile_dispatch(WEIGHT_F16, n, y, y_stride, w, w_stride, a, a_stride, n_rows, n_tokens);
}

static void dot_tile_bf16(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                          uint64_t a_stride, int n_rows, int n_tokens) {
    tile_dispatch(WEIGHT_BF16, n, y, y_stride, w, w_stride, a, a_stride, n_rows, n_tokens);
}

static void copy_act(const float *x, void *dst, int64_t n) { memcpy(dst, x, (size_t)n * sizeof(float)); }

static void vec_dot_f32(int64_t n, float *s, const void *w, const void *a) { *s = dot(WEIGHT_F32, n, w, a); }

static void vec_dot_f16(int64_t n, float *s, const void *w, const void *a) { *s = dot(WEIGHT_F16, n, w, a); }

static void vec_dot_bf16(int64_t n, float *s, const void *w, const void *a) { *s = dot(WEIGHT_BF16, n, w, a); }

/* The three float types: activations stay f32 (copied as they are). */
static void register_float_entries(snug_kernel_table t) {
    t[SNUG_TYPE_F32] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_f32, dot_tile_f32};
    t[SNUG_TYPE_F16] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_f16, dot_tile_f16};
    t[SNUG_TYPE_BF16] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_bf16, dot_tile_bf16};
}

#endif
