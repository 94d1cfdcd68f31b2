/* pool.h — snug's compute threads: n − 1 workers and the calling thread run the tasks of one job together.
 *
 * Why a pool of its own (issue 11): OpenMP's idle threads spin for a long time between parallel regions (libgomp
 * reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, when the library loads), and its regions end in a barrier that waits
 * for every thread. When another process wants a core, a 2-thread decode spent its time slices spinning and waiting
 * for the descheduled thread: 0.9 tok/s where 1 thread gave 10. Here:
 *   - a waiting thread spins for at most SNUG_POOL_SPIN_NS, then sleeps on a condition variable;
 *   - tasks are claimed one at a time from a shared counter by whichever thread is free, the caller included, so a
 *     job is done when its tasks are: the caller never waits for a worker to wake up, only for a task a worker has
 *     already claimed to finish. A worker without a core simply claims nothing.
 *
 * A job is (function, context, task count). Every task runs exactly once, on some thread; fn receives the task index
 * and the index of the thread running it (0: the caller, 1 … n − 1: the workers), for per-thread scratch. Which
 * thread runs a task must not change its result (callers keep each task's arithmetic to itself).
 *
 * Memory: everything is allocated by snug_pool_create — the pool (a few cache lines, one per worker) and each
 * worker's stack of SNUG_POOL_STACK_BYTES (reserved; only touched pages are resident). snug_pool_run allocates
 * nothing and makes no system call unless a thread has gone to sleep.
 *
 * One job at a time, from one thread at a time (the context's owner); fn must not start a job on the same pool.
 */
#ifndef SNUG_CPU_POOL_H
#define SNUG_CPU_POOL_H

#include <stdint.h>

#include "snug.h"

/* How long a waiting thread spins before it sleeps. Measured on a 2-vCPU AMD EPYC VM (docs/performance.md, "Threads
 * under contention"): a spinning worker joins a job ~0.5 µs after it starts, a sleeping one ~7–10 µs after (the
 * wake-up); within a decode step the caller is back with the next job in under 20 µs (a norm, a residual add; 99 % of
 * the gaps), between two tokens in 50–100 µs (sampling, output). 50 µs keeps the workers awake through a step and
 * lets them sleep between tokens when the caller is slow; a thread that waits longer gives its core back after it. */
#define SNUG_POOL_SPIN_NS 50000

/* Stack reserved for each worker. The kernels keep a few KiB of locals at most (register tiles, one block of
 * scores); 256 KiB leaves a wide margin and is address space, not memory: only touched pages become resident. */
#define SNUG_POOL_STACK_BYTES (256u << 10)

/* Resident bytes each worker adds to the process, for the plan's runtime-overhead line (plan.h,
 * SNUG_RUNTIME_OVERHEAD_PER_THREAD_BYTES must cover it; engine/context.c checks at compile time): the touched pages
 * of its stack mapping, which also holds glibc's thread descriptor and static TLS — 8 KiB in a decode, 12 KiB at most
 * (Rss of the 256 KiB mapping in /proc/PID/smaps, sampled through `snug run` of a TinyLlama-shaped Q4_0 file with
 * f16 and q8_0 caches and of stories260K with f16 and f32 caches, 2 threads) — plus its 64 bytes in the pool;
 * rounded up. Workers never call malloc, so they get no allocator arena of their own. */
#define SNUG_POOL_WORKER_RESIDENT_BYTES (16u << 10)

/* The most tasks one job may have (the task counter shares a 64-bit word with the job's generation). */
#define SNUG_POOL_MAX_TASKS 0xFFFFFFFEu

/* The most threads a pool runs (the plan allows as many). */
#define SNUG_POOL_MAX_THREADS 1024

typedef struct snug_pool snug_pool;

/* One task: index in [0, n_tasks) of the job; thread in [0, snug_pool_threads()). */
typedef void (*snug_pool_task_fn)(void *context, int64_t task, int32_t thread);

/* A pool of n_threads threads: the caller of snug_pool_run and n_threads − 1 workers started here. n_threads 1
 * starts none (every job runs on the caller). SNUG_E_ARGUMENT outside 1 … SNUG_POOL_MAX_THREADS; SNUG_E_OUT_OF_MEMORY
 * when memory or a thread cannot be had (with the system's reason). */
snug_status snug_pool_create(int32_t n_threads, snug_pool **out, snug_error *err);

/* Stops and joins the workers, frees everything. NULL is fine. */
void snug_pool_destroy(snug_pool *pool);

/* Threads of the pool, the caller included; 1 for NULL. */
int32_t snug_pool_threads(const snug_pool *pool);

/* Runs fn(context, task, thread) for every task in [0, n_tasks), on the caller and the workers, and returns when all
 * have finished. A NULL pool, one thread or one task: all on the caller, in order, with thread 0. n_tasks must not
 * exceed SNUG_POOL_MAX_TASKS (more run on the caller alone). */
void snug_pool_run(snug_pool *pool, snug_pool_task_fn fn, void *context, int64_t n_tasks);

#endif
