/* membw.c — `make bench`'s memory gate: prints this moment's memory read bandwidth in GB/s.
 *
 * usage: membw THREADS [MIB]
 *
 * On a shared host the memory bus is shared with other machines, and its bandwidth moves between regimes that last
 * minutes (here ~45 and ~70 GB/s). bench/run.sh calls this before each snug / llama.cpp pair of runs and waits,
 * within a budget, while the reading is well below the best of the run, so that both engines are measured on the
 * machine rather than on its neighbours' traffic. Each of THREADS threads sums its own contiguous slice of a MIB
 * buffer (default 256, 8× a 32 MiB L3), first touched by that thread; the best of 3 passes is printed.
 * A yardstick like llama_driver.c, not part of snug; snug bench runs its own, larger measurement after decode. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

enum { PASSES = 3 };

typedef uint64_t u64x2 __attribute__((vector_size(16)));

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 0;
    const long mib = argc > 2 ? atol(argv[2]) : 256;
    if (threads < 1 || threads > 1024 || mib < 1 || mib > 65536) {
        fprintf(stderr, "usage: membw THREADS [MIB]\n");
        return 2;
    }
    const uint64_t n = (uint64_t)mib * (1u << 20) / sizeof(u64x2), per_thread = n / (uint64_t)threads / 4 * 4;
    u64x2 *v = mmap(NULL, n * sizeof(u64x2), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED) {
        perror("membw: mmap");
        return 1;
    }
#pragma omp parallel num_threads(threads)
    {
        const uint64_t start = (uint64_t)omp_get_thread_num() * per_thread;
        for (uint64_t i = start; i < start + per_thread; i++) v[i] = (u64x2){i, i ^ 1};
    }
    double best = 0.0;
    volatile uint64_t sink = 0; /* keeps the sums live */
    for (int pass = 0; pass < PASSES; pass++) {
        uint64_t total = 0;
        const double t0 = now_s();
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            const uint64_t start = (uint64_t)omp_get_thread_num() * per_thread;
            u64x2 s0 = {0, 0}, s1 = {0, 0}, s2 = {0, 0}, s3 = {0, 0};
            for (uint64_t i = start; i < start + per_thread; i += 4) {
                s0 += v[i];
                s1 += v[i + 1];
                s2 += v[i + 2];
                s3 += v[i + 3];
            }
            const u64x2 s = s0 + s1 + s2 + s3;
            total += s[0] + s[1];
        }
        const double elapsed = now_s() - t0;
        sink += total;
        const double bandwidth = (double)(per_thread * (uint64_t)threads * sizeof(u64x2)) / elapsed;
        if (bandwidth > best) best = bandwidth;
    }
    (void)sink;
    printf("%.1f\n", best / 1e9);
    return 0;
}
