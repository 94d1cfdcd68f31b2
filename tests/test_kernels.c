/* test_kernels.c — the planner's GPU kernel tiles (src/plan/kernels.c): every chosen tile fits its device and the
 * next larger one would not, across devices × head dims × KV types × compute types × weight types; the formulas
 * against arithmetic done by hand; Q8_0 KV at 34 bytes per 32 elements; the fp32 case that crashed another runtime
 * (shrunk, not refused); and fail-closed behaviour for tiny limits, CPU devices and invalid shapes.
 *
 * Devices: three built here (Apple-like 32 KiB, CUDA 48 KiB default / 99 KiB opt-in, CUDA 227 KiB opt-in) and,
 * once src/plan/profiles.c exists in the tree, every profile of the real table as well.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "plan/device.h"
#include "plan/kernels.h"
#include "snug.h"

/* The real profile table is written alongside this test; link against it only once its source is in the tree. */
#if defined(__has_include)
#if __has_include("plan/profiles.c")
#define HAVE_DEVICE_PROFILES 1
#endif
#endif
#ifndef HAVE_DEVICE_PROFILES
#define HAVE_DEVICE_PROFILES 0
#endif

#define KIB 1024u

static snug_device make_device(const char *name, snug_device_kind kind, uint32_t default_bytes, uint32_t optin_bytes) {
    snug_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    d.kind = kind;
    d.memory_bytes = d.available_bytes = 16ull << 30;
    d.memory_source = "profile";
    d.gpu_working_set_fraction = 1.0;
    d.onchip_default_bytes = default_bytes;
    d.onchip_optin_bytes = optin_bytes;
    return d;
}

/* Apple GPUs: 32 KiB of threadgroup memory, no opt-in. */
static snug_device apple_device(void) {
    return make_device("test-apple", SNUG_DEVICE_METAL, 32 * KIB, 32 * KIB);
}
/* Ampere / Ada consumer cards: 48 KiB by default, 99 KiB opting in. */
static snug_device cuda_device(void) {
    return make_device("test-cuda-99k", SNUG_DEVICE_CUDA, 48 * KIB, 99 * KIB);
}
/* Hopper: 227 KiB opting in. */
static snug_device hopper_device(void) {
    return make_device("test-cuda-227k", SNUG_DEVICE_CUDA, 48 * KIB, 227 * KIB);
}

enum { MAX_TEST_DEVICES = 64, MAX_PLANS = 16 };

/* The built devices, then the real profile table when there is one. */
static int collect_devices(snug_device *out, int cap) {
    int n = 0;
    out[n++] = apple_device();
    out[n++] = cuda_device();
    out[n++] = hopper_device();
#if HAVE_DEVICE_PROFILES
    for (int i = 0; n < cap && snug_device_profile_at(i) != NULL; i++) out[n++] = *snug_device_profile_at(i);
#endif
    return n;
}

static snug_kernel_shape make_shape(int32_t head_dim, int32_t n_head, int32_t n_head_kv, uint32_t kv_type,
                                    uint32_t compute_type) {
    return (snug_kernel_shape){head_dim, n_head, n_head_kv, kv_type, compute_type, NULL, 0};
}

/* The invariant for one planned kernel: a fitting tile is within the limit and every larger candidate is not; a
 * non-fitting kernel reports the smallest tile, whose need exceeds the limit. */
static void check_plan_invariant(const snug_device *d, const snug_kernel_shape *s, const snug_kernel_plan *p) {
    int count = 0;
    const uint32_t *tiles = snug_kernel_tile_candidates(p->id, &count);
    cr_assert(tiles != NULL && count > 0);
    /* The opt-in limit (CUDA), or the default where a device has no opt-in number. */
    const uint64_t limit = d->onchip_optin_bytes != 0 ? d->onchip_optin_bytes : d->onchip_default_bytes;
    cr_assert_eq(p->limit_bytes, limit, "%s on %s", p->name, d->name);
    cr_assert_eq(p->onchip_bytes, snug_kernel_onchip_bytes(p->id, s, p->weight_type, p->tile), "%s on %s", p->name,
                 d->name);
    if (!p->fits) {
        cr_assert_eq(p->tile, tiles[0], "%s on %s: a kernel that does not fit reports its smallest tile", p->name,
                     d->name);
        cr_assert_gt(p->onchip_bytes, limit, "%s on %s: marked not fitting at %llu ≤ %llu", p->name, d->name,
                     (unsigned long long)p->onchip_bytes, (unsigned long long)limit);
        return;
    }
    cr_assert_leq(p->onchip_bytes, limit, "%s on %s: %s needs %llu > %llu", p->name, d->name, p->tile_text,
                  (unsigned long long)p->onchip_bytes, (unsigned long long)limit);
    int at = -1;
    for (int i = 0; i < count; i++)
        if (tiles[i] == p->tile) at = i;
    cr_assert_geq(at, 0, "%s: tile %u is not a candidate", p->name, p->tile);
    for (int i = at + 1; i < count; i++) {
        uint64_t larger = snug_kernel_onchip_bytes(p->id, s, p->weight_type, tiles[i]);
        cr_assert_gt(larger, limit, "%s on %s: tile %u was chosen but %u also fits (%llu ≤ %llu)", p->name, d->name,
                     p->tile, tiles[i], (unsigned long long)larger, (unsigned long long)limit);
    }
    cr_assert_eq(p->needs_optin, p->onchip_bytes > d->onchip_default_bytes, "%s on %s", p->name, d->name);
}

Test(kernels, every_chosen_tile_fits_and_the_next_larger_does_not) {
    static const int32_t head_dims[] = {64, 80, 96, 128, 256};
    static const uint32_t kv_types[] = {SNUG_TYPE_F16, SNUG_TYPE_Q8_0, SNUG_TYPE_F32};
    static const uint32_t compute_types[] = {SNUG_TYPE_F16, SNUG_TYPE_F32};
    static const uint32_t weight_types[] = {SNUG_TYPE_F32,  SNUG_TYPE_F16,  SNUG_TYPE_BF16, SNUG_TYPE_Q8_0,
                                            SNUG_TYPE_Q4_0, SNUG_TYPE_Q4_K, SNUG_TYPE_Q6_K};
    static const int32_t heads[][2] = {{32, 32}, {32, 8}, {64, 8}, {16, 1}}; /* MHA, GQA 4 and 8, MQA 16 */
    const int n_weight = (int)(sizeof weight_types / sizeof *weight_types);
    snug_device devices[MAX_TEST_DEVICES];
    const int n_devices = collect_devices(devices, MAX_TEST_DEVICES);
    long gpu_devices = 0, checked = 0;
    for (int di = 0; di < n_devices; di++) {
        const snug_device *d = &devices[di];
        for (size_t h = 0; h < sizeof head_dims / sizeof *head_dims; h++)
            for (size_t k = 0; k < sizeof kv_types / sizeof *kv_types; k++)
                for (size_t c = 0; c < sizeof compute_types / sizeof *compute_types; c++)
                    for (size_t g = 0; g < sizeof heads / sizeof *heads; g++) {
                        snug_kernel_shape s =
                            make_shape(head_dims[h], heads[g][0], heads[g][1], kv_types[k], compute_types[c]);
                        s.weight_types = weight_types;
                        s.n_weight_types = n_weight;
                        snug_kernel_plan plans[MAX_PLANS];
                        size_t n = snug_kernels_plan(d, &s, plans, MAX_PLANS);
                        if (d->kind == SNUG_DEVICE_CPU) {
                            cr_assert_eq(n, 0, "CPU device %s has no GPU kernels", d->name);
                            continue;
                        }
                        cr_assert_eq(n, 2 + (size_t)n_weight, "%s", d->name);
                        for (size_t i = 0; i < n; i++) {
                            check_plan_invariant(d, &s, &plans[i]);
                            /* Every ordinary model (query group ≤ 8) fits a device with ≥ 32 KiB: the planner
                             * shrinks tiles instead of refusing. */
                            if (snug_kernel_limit_bytes(d) >= 32 * KIB && heads[g][0] / heads[g][1] <= 8)
                                cr_assert(plans[i].fits, "%s on %s, head_dim %d: smallest tile needs %llu",
                                          plans[i].name, d->name, head_dims[h],
                                          (unsigned long long)plans[i].onchip_bytes);
                            checked++;
                        }
                    }
        if (d->kind != SNUG_DEVICE_CPU) gpu_devices++;
    }
    cr_assert_geq(gpu_devices, 3);
    cr_assert_gt(checked, 0);
}

/* The failure DESIGN.md opens with: an fp32 model (f32 compute, f32 KV, head_dim 128) whose kernels overflow 32 KiB
 * at the naive tiles. Shape as Llama 3 8B: 32 query heads, 8 KV heads (G = 4).
 *   decode  T = 64: 4·128·4 + 2·64·512 + 4·64·4 + 2·4·2·4 = 2,048 + 65,536 + 1,024 + 64 = 68,672 > 32,768
 *           T = 32: 2,048 + 32,768 + 512 + 32 = 35,360 > 32,768
 *           T = 16: 2,048 + 16,384 + 256 + 32 = 18,720 ≤ 32,768  → chosen
 *   prefill T = 32: 32·128·4 + 2·32·512 + 32·32·4 + 32·128·4 + 2·32·4 = 16,384 + 32,768 + 4,096 + 16,384 + 256 = 69,888
 *           T = 16: 8,192 + 16,384 + 1,024 + 8,192 + 128 = 33,920 > 32,768
 *           T =  8: 4,096 + 8,192 + 256 + 4,096 + 64 = 16,704 ≤ 32,768  → chosen */
Test(kernels, fp32_attention_on_apple_gets_a_smaller_tile_instead_of_failing) {
    const snug_device apple = apple_device();
    snug_kernel_shape s = make_shape(128, 32, 8, SNUG_TYPE_F32, SNUG_TYPE_F32);
    snug_kernel_plan plans[MAX_PLANS];
    size_t n = snug_kernels_plan(&apple, &s, plans, MAX_PLANS);
    cr_assert_eq(n, 2);

    const snug_kernel_plan *decode = &plans[0], *prefill = &plans[1];
    cr_assert_str_eq(decode->name, "attention_decode");
    cr_assert_eq(decode->default_tile, 64);
    cr_assert_eq(decode->default_onchip_bytes, 68672);
    cr_assert_gt(decode->default_onchip_bytes, 32768, "the naive tile must overflow for this test to mean anything");
    cr_assert(decode->fits);
    cr_assert_eq(decode->tile, 16);
    cr_assert_eq(decode->onchip_bytes, 18720);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &s, 0, 32), 35360);
    cr_assert_str_eq(decode->tile_text, "T=16 KV positions");
    cr_assert(!decode->needs_optin);

    cr_assert_str_eq(prefill->name, "attention_prefill");
    cr_assert_eq(prefill->default_tile, 32);
    cr_assert_eq(prefill->default_onchip_bytes, 69888);
    cr_assert(prefill->fits);
    cr_assert_eq(prefill->tile, 8);
    cr_assert_eq(prefill->onchip_bytes, 16704);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_PREFILL, &s, 0, 16), 33920);
    cr_assert_str_eq(prefill->tile_text, "Br=Bc=8");

    /* The same shape on a 99 KiB opt-in CUDA card runs the naive decode tile, opting in past 48 KiB. */
    const snug_device cuda = cuda_device();
    n = snug_kernels_plan(&cuda, &s, plans, MAX_PLANS);
    cr_assert_eq(n, 2);
    cr_assert_eq(plans[0].tile, 64);
    cr_assert_eq(plans[0].onchip_bytes, 68672);
    cr_assert(plans[0].needs_optin);
    cr_assert_eq(plans[0].limit_bytes, 99 * KIB);
}

/* Hand-computed formula values. */
Test(kernels, formula_spot_checks) {
    /* attention_prefill, head_dim 128, f16 KV, f32 compute, T = 32:
     *   Q tile  32·128·4     = 16,384
     *   K, V    2·32·(128·2) = 16,384
     *   S tile  32·32·4      =  4,096
     *   O acc   32·128·4     = 16,384
     *   max/sum 2·32·4       =    256
     *   total                  53,504 */
    snug_kernel_shape s = make_shape(128, 32, 8, SNUG_TYPE_F16, SNUG_TYPE_F32);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_PREFILL, &s, 0, 32), 53504);

    /* attention_decode, head_dim 128, 32 / 8 heads (G = 4), f16 KV, f16 compute, T = 64 (n_simd = 64 / 32 = 2):
     *   query rows 4·128·2     =  1,024
     *   K, V       2·64·256    = 32,768
     *   scores     4·64·4      =  1,024
     *   reduction  2·4·2·4     =     64
     *   total                    34,880 */
    s = make_shape(128, 32, 8, SNUG_TYPE_F16, SNUG_TYPE_F16);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &s, 0, 64), 34880);
    /* T = 8 (n_simd = max(1, 8 / 32) = 1): 1,024 + 2·8·256 + 4·8·4 + 2·4·1·4 = 1,024 + 4,096 + 128 + 32 = 5,280 */
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &s, 0, 8), 5280);
    /* MHA (G = 1), head_dim 64, f16 KV, f32 compute, T = 128 (n_simd = 4):
     *   64·4 + 2·128·128 + 128·4 + 2·1·4·4 = 256 + 32,768 + 512 + 32 = 33,568 */
    s = make_shape(64, 12, 12, SNUG_TYPE_F16, SNUG_TYPE_F32);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &s, 0, 128), 33568);

    /* matvec_q4_k, f32 compute, R = 8, K = 256: input 256·4 = 1,024; weights 8·(256/256)·144 = 1,152;
     * partial sums 8·4·4 = 128; total 2,304. */
    s = make_shape(128, 32, 8, SNUG_TYPE_F16, SNUG_TYPE_F32);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_MATVEC, &s, SNUG_TYPE_Q4_K, 8), 2304);
    /* matvec_q6_k, f32 compute, R = 4: 1,024 + 4·1·210 + 4·4·4 = 1,024 + 840 + 64 = 1,928 */
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_MATVEC, &s, SNUG_TYPE_Q6_K, 4), 1928);
    /* matvec_f32, f32 compute, R = 32: 1,024 + 32·256·4 + 32·4·4 = 1,024 + 32,768 + 512 = 34,304 (> 32 KiB) */
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_MATVEC, &s, SNUG_TYPE_F32, 32), 34304);
    /* matvec_q4_0, f16 compute, R = 16: 256·2 + 16·(256/32)·18 + 16·4·4 = 512 + 2,304 + 256 = 3,072 */
    s.compute_type = SNUG_TYPE_F16;
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_MATVEC, &s, SNUG_TYPE_Q4_0, 16), 3072);

    /* So on the Apple device matvec_f32 (f32 compute) runs R = 16: 1,024 + 16,384 + 256 = 17,664. */
    const snug_device apple = apple_device();
    const uint32_t weights[] = {SNUG_TYPE_F32};
    s = make_shape(128, 32, 8, SNUG_TYPE_F16, SNUG_TYPE_F32);
    s.weight_types = weights;
    s.n_weight_types = 1;
    snug_kernel_plan plans[MAX_PLANS];
    cr_assert_eq(snug_kernels_plan(&apple, &s, plans, MAX_PLANS), 3);
    cr_assert_str_eq(plans[2].name, "matvec_f32");
    cr_assert_eq(plans[2].tile, 16);
    cr_assert_eq(plans[2].onchip_bytes, 17664);
    cr_assert_str_eq(plans[2].tile_text, "R=16 rows, K=256");
    cr_assert_eq(plans[2].default_tile, 8);
}

/* A Q8_0 K or V row costs 34 bytes per 32 elements (2-byte scale + 32 int8), so swapping the KV type changes each
 * attention kernel by exactly 2·T·head_dim·(bytes per element difference). */
Test(kernels, q8_0_kv_tiles_cost_34_bytes_per_32_elements) {
    static const snug_kernel_id ids[] = {SNUG_KERNEL_ATTENTION_DECODE, SNUG_KERNEL_ATTENTION_PREFILL};
    static const int32_t head_dims[] = {64, 96, 128, 256}; /* multiples of 32: whole blocks, exact ratio */
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        for (size_t h = 0; h < sizeof head_dims / sizeof *head_dims; h++) {
            int count = 0;
            const uint32_t *tiles = snug_kernel_tile_candidates(ids[i], &count);
            for (int t = 0; t < count; t++) {
                const uint64_t tile = tiles[t], hd = (uint64_t)head_dims[h];
                snug_kernel_shape f16 = make_shape(head_dims[h], 32, 8, SNUG_TYPE_F16, SNUG_TYPE_F32);
                snug_kernel_shape q8 = make_shape(head_dims[h], 32, 8, SNUG_TYPE_Q8_0, SNUG_TYPE_F32);
                uint64_t with_f16 = snug_kernel_onchip_bytes(ids[i], &f16, 0, (uint32_t)tile);
                uint64_t with_q8 = snug_kernel_onchip_bytes(ids[i], &q8, 0, (uint32_t)tile);
                /* KV tiles: f16 2·T·hd·2 bytes, q8_0 2·T·(hd/32)·34 bytes. */
                uint64_t kv_f16 = 2 * tile * hd * 2, kv_q8 = 2 * tile * (hd / 32) * 34;
                cr_assert_eq(with_f16 - with_q8, kv_f16 - kv_q8, "kernel %d head_dim %d T %u", (int)ids[i],
                             head_dims[h], (unsigned)tile);
                /* 34/32 bytes an element: the q8_0 KV term times 32 is 2·T·hd·34. */
                cr_assert_eq((with_q8 - (with_f16 - kv_f16)) * 32, 2 * tile * hd * 34);
            }
        }
    /* head_dim 64, T = 64, decode, G = 4, f32 compute: 4·64·4 + 2·64·(2·34) + 4·64·4 + 2·4·2·4
     *   = 1,024 + 8,704 + 1,024 + 64 = 10,816 (f16 KV would be 1,024 + 16,384 + 1,024 + 64 = 18,496) */
    snug_kernel_shape q8 = make_shape(64, 32, 8, SNUG_TYPE_Q8_0, SNUG_TYPE_F32);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &q8, 0, 64), 10816);
    /* head_dim 80 is not a multiple of 32: a head's row is staged as ceil(80/32) = 3 whole blocks = 102 bytes.
     * Decode, G = 4, f16 compute, T = 8: 4·80·2 + 2·8·102 + 4·8·4 + 2·4·1·4 = 640 + 1,632 + 128 + 32 = 2,432 */
    q8 = make_shape(80, 32, 8, SNUG_TYPE_Q8_0, SNUG_TYPE_F16);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &q8, 0, 8), 2432);
}

/* A 1 KiB device: attention cannot fit at any tile and is reported at its smallest tile's need; a matvec whose
 * smallest tile fits still gets the largest that does. */
Test(kernels, an_absurdly_small_limit_fails_closed_with_the_smallest_tiles_need) {
    const snug_device tiny = make_device("test-tiny", SNUG_DEVICE_CUDA, 1 * KIB, 1 * KIB);
    const uint32_t weights[] = {SNUG_TYPE_Q4_K, SNUG_TYPE_F32};
    snug_kernel_shape s = make_shape(128, 32, 8, SNUG_TYPE_F16, SNUG_TYPE_F16);
    s.weight_types = weights;
    s.n_weight_types = 2;
    snug_kernel_plan plans[MAX_PLANS];
    cr_assert_eq(snug_kernels_plan(&tiny, &s, plans, MAX_PLANS), 4);

    /* decode at T = 8: 5,280 (formula_spot_checks) */
    cr_assert(!plans[0].fits);
    cr_assert_eq(plans[0].tile, 8);
    cr_assert_eq(plans[0].onchip_bytes, 5280);
    cr_assert_eq(plans[0].limit_bytes, 1024);
    cr_assert(!plans[0].needs_optin);
    /* prefill at T = 4, f16 compute: 4·128·2 + 2·4·256 + 4·4·4 + 4·128·4 + 2·4·4 = 1,024 + 2,048 + 64 + 2,048 + 32
     * = 5,216 */
    cr_assert(!plans[1].fits);
    cr_assert_eq(plans[1].tile, 4);
    cr_assert_eq(plans[1].onchip_bytes, 5216);
    /* matvec_q4_k, f16 compute: R = 2 needs 512 + 288 + 32 = 832 ≤ 1,024; R = 4 needs 512 + 576 + 64 = 1,152 */
    cr_assert_str_eq(plans[2].name, "matvec_q4_k");
    cr_assert(plans[2].fits);
    cr_assert_eq(plans[2].tile, 2);
    cr_assert_eq(plans[2].onchip_bytes, 832);
    /* matvec_f32, f16 compute: R = 1 needs 512 + 1,024 + 16 = 1,552 > 1,024 */
    cr_assert_str_eq(plans[3].name, "matvec_f32");
    cr_assert(!plans[3].fits);
    cr_assert_eq(plans[3].tile, 1);
    cr_assert_eq(plans[3].onchip_bytes, 1552);
    for (int i = 0; i < 4; i++) check_plan_invariant(&tiny, &s, &plans[i]);
}

Test(kernels, a_cpu_device_has_no_gpu_kernels) {
    snug_device host = make_device("host", SNUG_DEVICE_CPU, 0, 0);
    snug_kernel_shape s = make_shape(128, 32, 8, SNUG_TYPE_F16, SNUG_TYPE_F32);
    snug_kernel_plan plans[MAX_PLANS];
    memset(plans, 0xAB, sizeof plans);
    cr_assert_eq(snug_kernels_plan(&host, &s, plans, MAX_PLANS), 0);
    cr_assert_eq(((unsigned char *)plans)[0], 0xAB, "nothing written for a CPU device");
    /* Even with on-chip numbers filled in, the kind decides. */
    host.onchip_default_bytes = host.onchip_optin_bytes = 64 * KIB;
    cr_assert_eq(snug_kernels_plan(&host, &s, plans, MAX_PLANS), 0);
}

/* One matvec per distinct weight type, in order of first appearance (a Q4_K_M file is mostly Q4_K + Q6_K); the
 * return value is the full count even when `cap` is smaller, and nothing is written past `cap`. */
Test(kernels, one_matvec_per_distinct_weight_type_and_cap_is_respected) {
    const snug_device apple = apple_device();
    const uint32_t weights[] = {SNUG_TYPE_Q4_K, SNUG_TYPE_Q6_K, SNUG_TYPE_Q4_K, SNUG_TYPE_F32, SNUG_TYPE_Q6_K,
                                SNUG_TYPE_BF16};
    snug_kernel_shape s = make_shape(128, 32, 8, SNUG_TYPE_F16, SNUG_TYPE_F16);
    s.weight_types = weights;
    s.n_weight_types = 6;
    snug_kernel_plan plans[MAX_PLANS];
    cr_assert_eq(snug_kernels_plan(&apple, &s, plans, MAX_PLANS), 6);
    static const char *names[] = {"attention_decode", "attention_prefill", "matvec_q4_k", "matvec_q6_k",
                                  "matvec_f32",       "matvec_bf16"};
    for (int i = 0; i < 6; i++) {
        cr_assert_str_eq(plans[i].name, names[i]);
        check_plan_invariant(&apple, &s, &plans[i]);
    }
    cr_assert_eq(plans[3].weight_type, SNUG_TYPE_Q6_K);

    memset(plans, 0xAB, sizeof plans);
    cr_assert_eq(snug_kernels_plan(&apple, &s, plans, 3), 6, "the count, not the number written");
    cr_assert_str_eq(plans[2].name, "matvec_q4_k");
    cr_assert_eq(((unsigned char *)&plans[3])[0], 0xAB, "nothing written past cap");
    cr_assert_eq(snug_kernels_plan(&apple, &s, NULL, 0), 6, "cap 0 sizes the array");
}

/* Invalid shapes cost UINT64_MAX, so the planner fails closed rather than dispatching an unchecked kernel. */
Test(kernels, invalid_shapes_never_fit) {
    const snug_kernel_shape good = make_shape(128, 32, 8, SNUG_TYPE_F16, SNUG_TYPE_F32);
    cr_assert_lt(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &good, 0, 8), UINT64_MAX);

    snug_kernel_shape s = good;
    s.n_head = 30; /* not a multiple of 8 KV heads */
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &s, 0, 8), UINT64_MAX);
    s = good;
    s.kv_type = SNUG_TYPE_Q4_0; /* not a KV cache type */
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_PREFILL, &s, 0, 8), UINT64_MAX);
    s = good;
    s.compute_type = SNUG_TYPE_BF16; /* not a compute type */
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_MATVEC, &s, SNUG_TYPE_Q4_K, 8), UINT64_MAX);
    s = good;
    s.head_dim = 0;
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &s, 0, 8), UINT64_MAX);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &good, 0, 0), UINT64_MAX);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_MATVEC, &good, 63, 8), UINT64_MAX, "unknown weight type");
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ID_COUNT, &good, 0, 8), UINT64_MAX);
    cr_assert_null(snug_kernel_tile_candidates(SNUG_KERNEL_ID_COUNT, NULL));

    /* Huge dimensions saturate instead of wrapping around into "fits". */
    s = make_shape(INT32_MAX, INT32_MAX, 1, SNUG_TYPE_F32, SNUG_TYPE_F32);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &s, 0, 256), UINT64_MAX);
    /* T·head_dim·4 alone is ~2^65 here: a wrapping product would come out small. */
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_PREFILL, &s, 0, UINT32_MAX), UINT64_MAX);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_DECODE, &s, 0, UINT32_MAX), UINT64_MAX);
    /* T = 2^31, head_dim = 2^30: the K/V tiles (2·2^31·2^32) and S (2^31·2^31·4) are exactly 2^64, which a wrapping
     * product turns into 0, leaving a finite total (2^62 + 2^63 + 2^34). */
    s = make_shape(1 << 30, 1, 1, SNUG_TYPE_F32, SNUG_TYPE_F16);
    cr_assert_eq(snug_kernel_onchip_bytes(SNUG_KERNEL_ATTENTION_PREFILL, &s, 0, 1u << 31), UINT64_MAX);

    /* The plan carries the refusal: an unknown weight type becomes a named kernel that does not fit. */
    const snug_device hopper = hopper_device();
    const uint32_t weights[] = {63};
    s = good;
    s.weight_types = weights;
    s.n_weight_types = 1;
    snug_kernel_plan plans[MAX_PLANS];
    cr_assert_eq(snug_kernels_plan(&hopper, &s, plans, MAX_PLANS), 3);
    cr_assert_str_eq(plans[2].name, "matvec_type63");
    cr_assert(!plans[2].fits);
}

/* Candidates ascend (the planner's scan relies on it), every formula grows with the tile, and the defaults are
 * candidates. */
Test(kernels, candidates_ascend_and_needs_grow_with_the_tile) {
    const snug_kernel_shape s = make_shape(96, 24, 8, SNUG_TYPE_Q8_0, SNUG_TYPE_F16);
    for (int id = 0; id < SNUG_KERNEL_ID_COUNT; id++) {
        int count = 0;
        const uint32_t *tiles = snug_kernel_tile_candidates((snug_kernel_id)id, &count);
        cr_assert(tiles != NULL && count >= 2);
        bool default_is_candidate = false;
        for (int i = 0; i < count; i++) {
            cr_assert_eq(tiles[i] & (tiles[i] - 1), 0, "tile %u is not a power of two", tiles[i]);
            if (tiles[i] == snug_kernel_default_tile((snug_kernel_id)id)) default_is_candidate = true;
            if (i == 0) continue;
            cr_assert_gt(tiles[i], tiles[i - 1]);
            cr_assert_gt(snug_kernel_onchip_bytes((snug_kernel_id)id, &s, SNUG_TYPE_Q6_K, tiles[i]),
                         snug_kernel_onchip_bytes((snug_kernel_id)id, &s, SNUG_TYPE_Q6_K, tiles[i - 1]));
        }
        cr_assert(default_is_candidate);
    }
    cr_assert_eq(snug_kernel_default_tile(SNUG_KERNEL_ATTENTION_DECODE), 64);
    cr_assert_eq(snug_kernel_default_tile(SNUG_KERNEL_ATTENTION_PREFILL), 32);
    cr_assert_eq(snug_kernel_default_tile(SNUG_KERNEL_MATVEC), 8);
}
