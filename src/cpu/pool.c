/* pool.c — the compute threads (see pool.h): bounded spinning, then sleep; tasks claimed from one shared word.
 *
 * The job's state is one 64-bit word, generation (high 32 bits) and the next unclaimed task (low 32 bits), next to
 * the job's function, context, task count and the count of finished tasks, all in one cache line. A thread claims
 * task k by compare-and-swap of (g, k) → (g, k + 1), so each task of a job is claimed once, and only by a thread that
 * read the job's fields of generation g: the caller rewrites the fields only after closing the word, (g + 1, CLOSED),
 * and a claim on a word that changed fails (the fields were read as in a seqlock, the CAS being the second read).
 * A job is finished when its finished-task count reaches the task count; no barrier waits for the workers, so a
 * worker that has no core when a job starts costs nothing but the tasks it then does not take.
 *
 * Waiting: a worker waits for the word to change, the caller for the count; each spins for SNUG_POOL_SPIN_NS (yielding
 * its core after the first microseconds, in case the thread it waits for is queued behind it) and then sleeps on a
 * condition variable. Wake-ups are never lost: the sleeper announces itself (sleepers, caller_waiting) before its last
 * look at what it waits for, the waker changes that before it looks at the announcement (sequentially consistent both,
 * under the mutex for the sleep itself). Nobody sleeping: no system call.
 */
#include "cpu/pool.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"

#define CACHE_LINE_BYTES 64
#define CLOSED           0xFFFFFFFFu /* the next-task half of a word the caller is rewriting: above any task count */
#define SPIN_CHECK_EVERY 32          /* relax instructions between two looks at the clock (a clock read costs ~20 ns) */

typedef struct pool_worker {
    alignas(CACHE_LINE_BYTES) pthread_t thread;
    snug_pool *pool;
    int32_t index;
} pool_worker;

struct snug_pool {
    /* The job: written by the caller only while the word is closed. */
    alignas(CACHE_LINE_BYTES) _Atomic uint64_t word; /* generation << 32 | next unclaimed task */
    _Atomic uint32_t done;                           /* tasks of this job finished */
    _Atomic uint32_t n_tasks;
    _Atomic(snug_pool_task_fn) fn;
    _Atomic(void *) context;

    /* Sleeping. */
    alignas(CACHE_LINE_BYTES) _Atomic int32_t sleepers; /* workers asleep (or about to be) on wake_workers */
    _Atomic int32_t caller_waiting;                     /* the caller asleep (or about to be) on wake_caller */
    _Atomic bool stop;
    pthread_mutex_t lock;
    pthread_cond_t wake_workers, wake_caller;

    int32_t n_threads, n_started;
    pool_worker workers[]; /* n_threads − 1 */
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spin-wait bookkeeping: true while the budget lasts (the clock is read every SPIN_CHECK_EVERY calls). */
typedef struct spin {
    uint32_t calls;
    uint64_t start_ns;
} spin;

/* After this long a spinning thread also yields at each look at the clock: when the thread it waits for (the caller
 * with the next job, a worker finishing a task) is queued behind it on the same core, the spin would only delay it.
 * On a quiet core sched_yield returns at once (~0.3 µs). The first microseconds spin only: most waits in a decode
 * step end within them. */
#define SPIN_YIELD_AFTER_NS 5000

static bool spin_on(spin *s) {
    cpu_relax();
    if (++s->calls % SPIN_CHECK_EVERY) return true;
    const uint64_t now = now_ns();
    if (!s->start_ns) s->start_ns = now;
    const uint64_t waited_ns = now - s->start_ns;
    if (waited_ns >= SNUG_POOL_SPIN_NS) return false;
    if (waited_ns >= SPIN_YIELD_AFTER_NS) sched_yield();
    return true;
}

/* Claims and runs tasks of the job in word w (as last read) until none is left; returns the last word seen. */
static uint64_t run_tasks(snug_pool *p, uint64_t w, int32_t thread) {
    for (;;) {
        const snug_pool_task_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *const context = atomic_load_explicit(&p->context, memory_order_relaxed);
        const uint32_t n = atomic_load_explicit(&p->n_tasks, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire); /* the fields are read before the claim re-reads the word */
        const uint32_t task = (uint32_t)w;
        if (task >= n) return w; /* all claimed, or closed */
        if (!atomic_compare_exchange_weak_explicit(&p->word, &w, w + 1, memory_order_acquire, memory_order_acquire))
            continue;
        fn(context, task, thread);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_seq_cst) + 1 == n &&
            atomic_load_explicit(&p->caller_waiting, memory_order_seq_cst)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->wake_caller);
            pthread_mutex_unlock(&p->lock);
        }
        w = atomic_load_explicit(&p->word, memory_order_acquire);
    }
}

/* A worker's wait for a word other than `last` (or for stop); returns the word. */
static uint64_t wait_for_job(snug_pool *p, uint64_t last) {
    spin s = {0, 0};
    uint64_t w;
    while ((w = atomic_load_explicit(&p->word, memory_order_acquire)) == last) {
        if (atomic_load_explicit(&p->stop, memory_order_relaxed)) return w;
        if (spin_on(&s)) continue;
        pthread_mutex_lock(&p->lock);
        atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
        while ((w = atomic_load_explicit(&p->word, memory_order_seq_cst)) == last &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            pthread_cond_wait(&p->wake_workers, &p->lock);
        }
        atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
        pthread_mutex_unlock(&p->lock);
        return w;
    }
    return w;
}

static void *worker_main(void *arg) {
    pool_worker *self = arg;
    snug_pool *p = self->pool;
    uint64_t last = atomic_load_explicit(&p->word, memory_order_acquire);
    for (;;) {
        const uint64_t w = wait_for_job(p, last);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        last = run_tasks(p, w, self->index);
    }
}

int32_t snug_pool_threads(const snug_pool *pool) { return pool ? pool->n_threads : 1; }

void snug_pool_run(snug_pool *p, snug_pool_task_fn fn, void *context, int64_t n_tasks) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1 || (uint64_t)n_tasks > SNUG_POOL_MAX_TASKS) {
        for (int64_t t = 0; t < n_tasks; t++) fn(context, t, 0);
        return;
    }
    /* Close, rewrite, open: a worker still holding the previous word (whose tasks are all claimed) cannot claim
     * against the new fields (file comment). */
    const uint64_t generation = (atomic_load_explicit(&p->word, memory_order_relaxed) >> 32) + 1;
    atomic_store_explicit(&p->word, generation << 32 | CLOSED, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->context, context, memory_order_relaxed);
    atomic_store_explicit(&p->n_tasks, (uint32_t)n_tasks, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->word, generation << 32, memory_order_seq_cst);
    if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake_workers);
        pthread_mutex_unlock(&p->lock);
    }

    run_tasks(p, generation << 32, 0);

    /* Only tasks that workers have claimed can be left; wait for them to finish. */
    const uint32_t n = (uint32_t)n_tasks;
    spin s = {0, 0};
    while (atomic_load_explicit(&p->done, memory_order_acquire) < n) {
        if (spin_on(&s)) continue;
        pthread_mutex_lock(&p->lock);
        atomic_store_explicit(&p->caller_waiting, 1, memory_order_seq_cst);
        while (atomic_load_explicit(&p->done, memory_order_seq_cst) < n) pthread_cond_wait(&p->wake_caller, &p->lock);
        atomic_store_explicit(&p->caller_waiting, 0, memory_order_relaxed);
        pthread_mutex_unlock(&p->lock);
    }
}

void snug_pool_destroy(snug_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store_explicit(&p->stop, true, memory_order_release);
    pthread_cond_broadcast(&p->wake_workers);
    pthread_mutex_unlock(&p->lock);
    for (int32_t i = 0; i < p->n_started; i++) pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->wake_caller);
    pthread_cond_destroy(&p->wake_workers);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* Workers take no asynchronous signal: SIGINT and its kin go to the thread that owns the pool, where a handler can
 * interrupt its reads (chat's Ctrl-C). Faults (SIGSEGV, SIGBUS, ...) still reach the thread that caused them. */
static void block_async_signals(sigset_t *saved) {
    sigset_t all;
    sigfillset(&all);
    const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_BLOCK, &all, saved);
}

snug_status snug_pool_create(int32_t n_threads, snug_pool **out, snug_error *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > SNUG_POOL_MAX_THREADS)
        return snug_fail(err, SNUG_E_ARGUMENT, "thread count %d is outside 1..%d", n_threads, SNUG_POOL_MAX_THREADS);
    const size_t bytes = sizeof(snug_pool) + (size_t)(n_threads - 1) * sizeof(pool_worker);
    snug_pool *p =
        aligned_alloc(CACHE_LINE_BYTES, (bytes + CACHE_LINE_BYTES - 1) / CACHE_LINE_BYTES * CACHE_LINE_BYTES);
    if (!p) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for a pool of %d threads", n_threads);
    memset(p, 0, bytes);
    atomic_init(&p->word, CLOSED); /* generation 0, nothing to claim */
    atomic_init(&p->done, 0);
    atomic_init(&p->n_tasks, 0);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->context, NULL);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_waiting, 0);
    atomic_init(&p->stop, false);
    p->n_threads = n_threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake_workers, NULL);
    pthread_cond_init(&p->wake_caller, NULL);

    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) rc = pthread_attr_setstacksize(&attr, SNUG_POOL_STACK_BYTES);
    sigset_t saved;
    block_async_signals(&saved);
    for (int32_t i = 0; rc == 0 && i < n_threads - 1; i++) {
        pool_worker *w = &p->workers[i];
        w->pool = p;
        w->index = i + 1;
        rc = pthread_create(&w->thread, &attr, worker_main, w);
        if (rc == 0) p->n_started++;
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        const int32_t started = p->n_started;
        snug_pool_destroy(p);
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "could not start worker thread %d of %d: %s", started + 1,
                         n_threads - 1, strerror(rc));
    }
    *out = p;
    return SNUG_OK;
}
