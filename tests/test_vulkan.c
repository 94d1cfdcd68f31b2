/* test_vulkan.c — the Vulkan backend's runtime on a real driver (Mesa's lavapipe here and in CI): buffers, a kernel
 * with its shared memory chosen through a specialization constant, a dispatch, and failures that end in clean
 * errors.
 *
 *   (a) matmul_f32 (src/vulkan/shaders/matmul.glsl) for one token, one token a pass, against a float64 product computed
 *       here, for workgroups of 32, 64 and 256 invocations (128, 256 and 1024 bytes of shared memory) and shapes that
 *       are not multiples of them: |y − ref| ≤ 1e-5 · Σ|w x| per row (f32 sums of a few hundred products).
 *   (b) An allocation above the device's maxMemoryAllocationSize, and one the device refuses, are SNUG_E_OUT_OF_MEMORY
 *       with the numbers; the device still works afterwards (nothing half-made is left).
 * Without a Vulkan device the tests are skipped with the reason — under CI (which installs lavapipe) that fails.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snug.h"
#include "support/support.h"
#include "vulkan/runtime.h"

static uint64_t rng_state = 1;
static float uniform(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Opens the first Vulkan device, or skips (fails under CI) with the reason. */
static void open_device(snug_vk *vk) {
    test_require_vulkan();
    snug_error err = {0};
    cr_assert_eq(snug_vk_open(vk, 0, &err), SNUG_OK, "%s", err.message);
}

/* matmul_f32 for one token: its push constants (n_in, n_rows, row_bytes, n_tokens, y_stride, y_offset). */
static void matvec_push(uint32_t n_in, uint32_t n_out, uint32_t push[6]) {
    const uint32_t values[6] = {n_in, n_out, n_in * 4, 1, n_out, 0};
    memcpy(push, values, sizeof values);
}

/* A matmul_f32 pipeline of `workgroup` invocations and one token a pass. */
static snug_status one_token_matmul(snug_vk *vk, uint32_t workgroup, snug_vk_kernel *kernel, snug_error *err) {
    const uint32_t spec[2] = {workgroup, 1};
    return snug_vk_kernel_create(vk, snug_vk_shader_matmul_f32.words, snug_vk_shader_matmul_f32.bytes, 3, 24, spec, 2,
                                 kernel, err);
}

Test(vulkan, matmul_f32_one_token_matches_float64_for_every_workgroup_size) {
    snug_vk vk;
    open_device(&vk);
    snug_error err = {0};
    const uint32_t shapes[][2] = {{256, 64}, {300, 37}, {1000, 5}, {7, 129}};
    const uint32_t workgroups[] = {32, 64, 256};
    double worst = 0;
    for (size_t w = 0; w < sizeof workgroups / sizeof *workgroups; w++) {
        const uint32_t wg = workgroups[w];
        cr_assert_leq(snug_vk_matmul_shared_bytes(wg, 1), vk.limits.maxComputeSharedMemorySize);
        snug_vk_kernel kernel;
        cr_assert_eq(one_token_matmul(&vk, wg, &kernel, &err), SNUG_OK, "%s", err.message);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            const uint32_t n_in = shapes[s][0], n_out = shapes[s][1];
            snug_vk_buffer wb, xb, yb;
            cr_assert_eq(snug_vk_buffer_create(&vk, (uint64_t)n_in * n_out * 4, &wb, &err), SNUG_OK, "%s", err.message);
            cr_assert_eq(snug_vk_buffer_create(&vk, (uint64_t)n_in * 4, &xb, &err), SNUG_OK, "%s", err.message);
            cr_assert_eq(snug_vk_buffer_create(&vk, (uint64_t)n_out * 4, &yb, &err), SNUG_OK, "%s", err.message);
            float *wv = wb.mapped, *xv = xb.mapped, *yv = yb.mapped;
            for (uint64_t i = 0; i < (uint64_t)n_in * n_out; i++) wv[i] = uniform();
            for (uint32_t i = 0; i < n_in; i++) xv[i] = uniform();
            for (uint32_t r = 0; r < n_out; r++) yv[r] = NAN;
            uint32_t push[6];
            matvec_push(n_in, n_out, push);
            snug_vk_buffer *bufs[3] = {&wb, &xb, &yb};
            cr_assert_eq(snug_vk_run(&vk, &kernel, bufs, push, n_out, &err), SNUG_OK, "%s", err.message);
            for (uint32_t r = 0; r < n_out; r++) {
                double ref = 0, mag = 0;
                for (uint32_t i = 0; i < n_in; i++) {
                    ref += (double)wv[(uint64_t)r * n_in + i] * xv[i];
                    mag += fabs((double)wv[(uint64_t)r * n_in + i] * xv[i]);
                }
                const double e = fabs(yv[r] - ref);
                cr_assert(e <= 1e-5 * mag + 1e-30, "workgroup %u, %ux%u, row %u: %.9g vs %.9g", wg, n_out, n_in, r,
                          (double)yv[r], ref);
                if (mag > 0) worst = fmax(worst, e / mag);
            }
            snug_vk_buffer_destroy(&vk, &wb);
            snug_vk_buffer_destroy(&vk, &xb);
            snug_vk_buffer_destroy(&vk, &yb);
        }
        snug_vk_kernel_destroy(&vk, &kernel);
    }
    cr_log_info("%s: worst |y - float64| = %.3g of sum |w x|", vk.name, worst);
    snug_vk_close(&vk);
}

Test(vulkan, refused_allocations_are_out_of_memory_with_the_numbers) {
    snug_vk vk;
    open_device(&vk);
    snug_error err = {0};
    snug_vk_buffer b;
    /* Above maxMemoryAllocationSize: refused before Vulkan is asked. */
    cr_assert_eq(snug_vk_buffer_create(&vk, vk.max_allocation_bytes + 1, &b, &err), SNUG_E_OUT_OF_MEMORY);
    cr_assert_not_null(strstr(err.message, "largest allocation"), "%s", err.message);
    cr_assert_null(b.buffer);
    /* Within the limit but more than the device has (lavapipe: a 2 GiB heap; 2 GiB is its allocation limit too, so
     * ask for the whole limit twice over two buffers): the second vkAllocateMemory may fail; either way the result
     * is OK or out-of-memory, and the device still runs a kernel afterwards. */
    snug_vk_buffer big[2] = {{0}};
    snug_status st[2];
    for (int i = 0; i < 2; i++) {
        st[i] = snug_vk_buffer_create(&vk, vk.max_allocation_bytes, &big[i], &err);
        cr_assert(st[i] == SNUG_OK || st[i] == SNUG_E_OUT_OF_MEMORY, "status %d: %s", st[i], err.message);
        if (st[i] != SNUG_OK) {
            cr_assert_null(big[i].buffer, "a failed allocation left a buffer");
            cr_assert_null(big[i].memory, "a failed allocation left memory");
            cr_assert_not_null(strstr(err.message, "bytes"), "%s", err.message);
        }
    }
    for (int i = 0; i < 2; i++) snug_vk_buffer_destroy(&vk, &big[i]);
    snug_vk_kernel kernel;
    cr_assert_eq(one_token_matmul(&vk, 64, &kernel, &err), SNUG_OK, "%s", err.message);
    snug_vk_buffer wb, xb, yb;
    cr_assert_eq(snug_vk_buffer_create(&vk, 16 * 4, &wb, &err), SNUG_OK);
    cr_assert_eq(snug_vk_buffer_create(&vk, 4 * 4, &xb, &err), SNUG_OK);
    cr_assert_eq(snug_vk_buffer_create(&vk, 4 * 4, &yb, &err), SNUG_OK);
    float *wv = wb.mapped, *xv = xb.mapped, *yv = yb.mapped;
    for (int i = 0; i < 16; i++) wv[i] = (float)(i % 4 == i / 4); /* identity */
    for (int i = 0; i < 4; i++) xv[i] = (float)(i + 1);
    uint32_t push[6];
    matvec_push(4, 4, push);
    snug_vk_buffer *bufs[3] = {&wb, &xb, &yb};
    cr_assert_eq(snug_vk_run(&vk, &kernel, bufs, push, 4, &err), SNUG_OK, "%s", err.message);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(yv[i], (float)(i + 1), 0.0f);
    snug_vk_buffer_destroy(&vk, &wb);
    snug_vk_buffer_destroy(&vk, &xb);
    snug_vk_buffer_destroy(&vk, &yb);
    snug_vk_kernel_destroy(&vk, &kernel);
    snug_vk_close(&vk);
}
