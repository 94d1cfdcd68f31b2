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

/* How long a waiting thread spins before it sleeps. Between two jobs of a decode step the caller is away for a few
 * microseconds (a norm, a residual add), between two tokens for the sampler and the output, ~20–100 µs; waking a
 * sleeping worker cost ~XX µs here (docs/performance.md, "Threads under contention"), so spinning for less than that
 * would make every step pay it. Bounded so that a thread that has lost its core to another process gives the core
 * back within this time. */
#define SNUG_POOL_SPIN_NS 50000

/* Stack reserved for each worker. The kernels keep a few KiB of locals at most (register tiles, one block of
 * scores); 256 KiB leaves a wide margin and is address space, not memory: only touched pages become resident. */
#define SNUG_POOL_STACK_BYTES (256u << 10)

/* Resident bytes each worker adds to the process, for the plan's runtime-overhead line: its stack pages as touched
 * by a decode and a prefill (measured: XX KiB, /proc/PID/smaps of the stack mapping during `snug run`, TinyLlama-
 * shaped Q4_0 and stories260K, 2 threads) plus glibc's thread descriptor and static TLS, which sit at the top of the
 * same mapping, and the worker's cache line in the pool; rounded up. */
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
