/* test_pool.c — the compute threads (src/cpu/pool.h).
 *
 *   (a) Every task of a job runs exactly once, for thread counts 1 … 8 and task counts 0, 1, fewer than the threads,
 *       as many, and many more; the thread index is in [0, threads), and no two tasks that run at the same time have
 *       the same thread index (per-thread scratch depends on it).
 *   (b) Many jobs in a row: a task's plain stores are all visible to the caller when the job returns, job after job,
 *       with jobs that follow each other at once (spinning workers) and after pauses longer than SNUG_POOL_SPIN_NS
 *       (sleeping workers); with tasks that take longer than the spin (the caller sleeps).
 *   (c) A pool of one thread and a NULL pool run every task on the caller, in order, as thread 0.
 *   (d) Create and destroy, with and without jobs in between; bad thread counts are refused with the count.
 *   (e) Workers take no asynchronous signal: a signal sent to the process while jobs run is handled by the thread
 *       that owns the pool (chat's Ctrl-C relies on interrupting that thread's read).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu/pool.h"
#include "snug.h"

#define MAX_TASKS      10000
#define MAX_THREADS    8
#define TEST_TIMEOUT_S 120 /* a pool that loses a task never returns from its job: fail instead of hanging */

static void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

/* ---- (a) exactly once ---------------------------------------------------------------------------------------------
 */

typedef struct count_job {
    _Atomic int32_t runs[MAX_TASKS];
    _Atomic int32_t busy[MAX_THREADS]; /* tasks running now on thread i: 0 or 1 */
    _Atomic int32_t bad_thread, shared_thread;
    int32_t threads;
    long task_ns; /* how long each task takes */
} count_job;

static void count_task(void *context, int64_t task, int32_t thread) {
    count_job *job = context;
    if (thread < 0 || thread >= job->threads) {
        atomic_fetch_add(&job->bad_thread, 1);
        return;
    }
    if (atomic_fetch_add(&job->busy[thread], 1) != 0) atomic_fetch_add(&job->shared_thread, 1);
    atomic_fetch_add(&job->runs[task], 1);
    if (job->task_ns) sleep_ns(job->task_ns);
    atomic_fetch_sub(&job->busy[thread], 1);
}

static void check_exactly_once(snug_pool *pool, int32_t threads, int64_t n_tasks, long task_ns) {
    static count_job job;
    memset(&job, 0, sizeof job);
    job.threads = threads;
    job.task_ns = task_ns;
    snug_pool_run(pool, count_task, &job, n_tasks);
    cr_assert_eq(atomic_load(&job.bad_thread), 0, "%d threads, %lld tasks: a thread index outside 0..%d", threads,
                 (long long)n_tasks, threads - 1);
    cr_assert_eq(atomic_load(&job.shared_thread), 0, "%d threads, %lld tasks: two tasks ran at once as one thread",
                 threads, (long long)n_tasks);
    for (int64_t t = 0; t < MAX_TASKS; t++) {
        const int32_t expected = t < n_tasks ? 1 : 0;
        cr_assert_eq(atomic_load(&job.runs[t]), expected, "%d threads, %lld tasks: task %lld ran %d times", threads,
                     (long long)n_tasks, (long long)t, atomic_load(&job.runs[t]));
    }
}

Test(pool, every_task_runs_exactly_once_for_any_thread_and_task_count, .timeout = TEST_TIMEOUT_S) {
    const int64_t task_counts[] = {0, 1, 2, 3, 5, 7, 8, 9, 64, 1000, MAX_TASKS};
    for (int32_t threads = 1; threads <= MAX_THREADS; threads++) {
        snug_pool *pool;
        cr_assert_eq(snug_pool_create(threads, &pool, NULL), SNUG_OK);
        cr_assert_eq(snug_pool_threads(pool), threads);
        for (size_t i = 0; i < sizeof task_counts / sizeof *task_counts; i++) {
            check_exactly_once(pool, threads, task_counts[i], 0);
        }
        /* Tasks slow enough that every thread takes some, and the caller waits for the last ones. */
        check_exactly_once(pool, threads, 3 * threads, 200000);
        snug_pool_destroy(pool);
    }
}

/* Many jobs of many empty tasks: the threads claim at the same moments as often as they can, so that two claims of
 * one task (a lost update of the shared counter) would show. */
Test(pool, concurrent_claims_never_run_a_task_twice, .timeout = TEST_TIMEOUT_S) {
    for (int32_t threads = 2; threads <= 4; threads += 2) {
        snug_pool *pool;
        cr_assert_eq(snug_pool_create(threads, &pool, NULL), SNUG_OK);
        for (int j = 0; j < 100; j++) check_exactly_once(pool, threads, MAX_TASKS, 0);
        snug_pool_destroy(pool);
    }
}

/* ---- (b) many jobs in a row -----------------------------------------------------------------------------------------
 */

typedef struct stamp_job {
    int64_t stamps[MAX_TASKS]; /* plain stores: the pool must publish them to the caller */
    int64_t job;
    long task_ns;
} stamp_job;

static void stamp_task(void *context, int64_t task, int32_t thread) {
    stamp_job *job = context;
    if (job->task_ns) sleep_ns(job->task_ns);
    job->stamps[task] = job->job * MAX_TASKS + task;
}

static void run_jobs(snug_pool *pool, int64_t n_jobs, long pause_ns, long task_ns) {
    static stamp_job job;
    memset(&job, 0, sizeof job);
    job.task_ns = task_ns;
    for (int64_t j = 1; j <= n_jobs; j++) {
        const int64_t n_tasks = 1 + (j * 7919) % 97; /* 1 … 97 tasks, varying from job to job */
        job.job = j;
        snug_pool_run(pool, stamp_task, &job, n_tasks);
        for (int64_t t = 0; t < n_tasks; t++) {
            cr_assert_eq(job.stamps[t], j * MAX_TASKS + t, "job %lld: task %lld left %lld", (long long)j, (long long)t,
                         (long long)job.stamps[t]);
        }
        if (pause_ns) sleep_ns(pause_ns);
    }
}

Test(pool, many_jobs_in_a_row_each_complete_when_run_returns, .timeout = TEST_TIMEOUT_S) {
    for (int32_t threads = 2; threads <= 4; threads++) {
        snug_pool *pool;
        cr_assert_eq(snug_pool_create(threads, &pool, NULL), SNUG_OK);
        run_jobs(pool, 20000, 0, 0);                    /* back to back: workers spinning */
        run_jobs(pool, 100, 4 * SNUG_POOL_SPIN_NS, 0);  /* pauses: workers asleep when each job starts */
        run_jobs(pool, 20, 0, 2 * SNUG_POOL_SPIN_NS);   /* slow tasks: the caller sleeps waiting for them */
        run_jobs(pool, 2000, SNUG_POOL_SPIN_NS / 2, 0); /* pauses near the spin: both paths, races between them */
        snug_pool_destroy(pool);
    }
}

/* ---- (c) one thread ------------------------------------------------------------------------------------------------
 */

typedef struct order_job {
    int64_t order[64];
    int64_t n_seen;
    int32_t bad_thread;
} order_job;

static void order_task(void *context, int64_t task, int32_t thread) {
    order_job *job = context;
    if (thread != 0) job->bad_thread = thread;
    job->order[job->n_seen++] = task;
}

Test(pool, one_thread_and_null_run_every_task_on_the_caller_in_order, .timeout = TEST_TIMEOUT_S) {
    snug_pool *one;
    cr_assert_eq(snug_pool_create(1, &one, NULL), SNUG_OK);
    cr_assert_eq(snug_pool_threads(one), 1);
    cr_assert_eq(snug_pool_threads(NULL), 1);
    snug_pool *pools[] = {one, NULL};
    for (int p = 0; p < 2; p++) {
        for (int64_t n = 0; n <= 64; n += 21) {
            order_job job = {{0}, 0, 0};
            snug_pool_run(pools[p], order_task, &job, n);
            cr_assert_eq(job.n_seen, n, "%s pool: %lld of %lld tasks ran", p ? "NULL" : "1-thread",
                         (long long)job.n_seen, (long long)n);
            cr_assert_eq(job.bad_thread, 0);
            for (int64_t t = 0; t < n; t++) cr_assert_eq(job.order[t], t);
        }
    }
    snug_pool_destroy(one);
}

/* ---- (d) create and destroy ----------------------------------------------------------------------------------------
 */

Test(pool, create_and_destroy_with_and_without_jobs, .timeout = TEST_TIMEOUT_S) {
    for (int i = 0; i < 200; i++) {
        const int32_t threads = 1 + i % 6;
        snug_pool *pool;
        cr_assert_eq(snug_pool_create(threads, &pool, NULL), SNUG_OK);
        if (i % 2) check_exactly_once(pool, threads, 1 + i % 13, 0);
        if (i % 3 == 0) sleep_ns(2 * SNUG_POOL_SPIN_NS); /* destroy while the workers sleep */
        snug_pool_destroy(pool);
    }
    snug_pool_destroy(NULL);
}

Test(pool, bad_thread_counts_are_refused_with_the_count, .timeout = TEST_TIMEOUT_S) {
    const int32_t bad[] = {0, -1, SNUG_POOL_MAX_THREADS + 1};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snug_pool *pool = (snug_pool *)&pool;
        snug_error err = {0};
        cr_assert_eq(snug_pool_create(bad[i], &pool, &err), SNUG_E_ARGUMENT);
        cr_assert_null(pool);
        char count[16];
        snprintf(count, sizeof count, "%d", bad[i]);
        cr_assert(strstr(err.message, count), "message without the count %s: %s", count, err.message);
    }
}

/* ---- (e) signals ---------------------------------------------------------------------------------------------------
 */

static pthread_t owner;
static _Atomic int32_t handled, handled_elsewhere;

static void on_signal(int sig) {
    (void)sig;
    atomic_fetch_add(&handled, 1);
    if (!pthread_equal(pthread_self(), owner)) atomic_fetch_add(&handled_elsewhere, 1);
}

/* The owner blocks the signal for a moment after the pool exists: a worker that did not block it would take it at
 * once (the kernel hands a process-directed signal to any thread that does not block it); with every worker
 * blocking it, it stays pending until the owner unblocks it and handles it. */
Test(pool, asynchronous_signals_go_to_the_pool_owner, .timeout = TEST_TIMEOUT_S) {
    struct sigaction action = {0};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    cr_assert_eq(sigaction(SIGUSR1, &action, NULL), 0);
    owner = pthread_self();
    snug_pool *pool;
    cr_assert_eq(snug_pool_create(4, &pool, NULL), SNUG_OK);
    sigset_t usr1, old, pending;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);
        kill(getpid(), SIGUSR1);
        for (int j = 0; j < 10; j++) check_exactly_once(pool, 4, 64, 0); /* workers awake */
        sleep_ns(4 * SNUG_POOL_SPIN_NS);                                 /* and asleep */
        cr_assert_eq(sigpending(&pending), 0);
        cr_assert(sigismember(&pending, SIGUSR1), "round %d: a worker took the signal", i);
        cr_assert_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0); /* delivered here, before this returns */
        cr_assert_eq(atomic_load(&handled), i + 1);
    }
    snug_pool_destroy(pool);
    cr_assert_eq(atomic_load(&handled_elsewhere), 0, "%d of %d signals were handled by a worker",
                 atomic_load(&handled_elsewhere), atomic_load(&handled));
}
