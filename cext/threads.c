/* threads.c - the thread count and the pool that runs a large call's chunks.
 *
 * A call is split into one chunk per thread by dn_run (api.c); here the
 * chunks are run. The pool is a set of worker threads, started on the first
 * large call and grown to the largest count a call has asked for, never
 * shrunk: a worker that is not needed waits on a condition variable. A
 * call's chunks form a job on a queue; the calling thread and any idle
 * workers claim chunks with an atomic counter, so the caller runs every
 * chunk no worker took and never waits for a busy pool: several application
 * threads may call at once, each making progress on its own job, and a job
 * finishes even with no worker at all. The caller returns once the workers
 * that joined its job have left it.
 *
 * Fork: the child of a fork has the forking thread only. A pthread_atfork
 * handler takes the pool's lock before the fork (so no thread holds it
 * mid-update), releases it in the parent, and gives the child an empty pool
 * with fresh lock and condition variables; the child's first large call
 * starts workers of its own. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#endif

/* ---- settings ----
 * Read once per call, atomically; 0 means "not yet set". */
static int dn_nthreads, dn_default_n;
static size_t dn_par_bytes;
#define DN_PAR_DEFAULT ((size_t)1 << 20)

/* DYNORM_NUM_THREADS: a decimal integer in 1..DN_MAX_THREADS, spaces
 * around it allowed; anything else is ignored (0). */
static int dn_env_threads(void) {
    const char *p = getenv("DYNORM_NUM_THREADS");
    if (!p) return 0;
    while (*p == ' ' || *p == '\t') ++p;
    long v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; ++p, ++digits) {
        v = v * 10 + (*p - '0');
        if (v > DN_MAX_THREADS) return 0;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n') ++p;
    return digits && !*p && v >= 1 ? (int)v : 0;
}

/* The CPUs this process may run on (its affinity mask), else online CPUs. */
static int dn_cpus(void) {
    long n = 0;
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
#endif
    if (n < 1) n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    return n > DN_MAX_THREADS ? DN_MAX_THREADS : (int)n;
}

/* The default count, computed on first use and kept. */
static int dn_default_threads(void) {
    int n = __atomic_load_n(&dn_default_n, __ATOMIC_RELAXED);
    if (!n) {
        n = dn_env_threads();
        if (!n) n = dn_cpus();
        __atomic_store_n(&dn_default_n, n, __ATOMIC_RELAXED);
    }
    return n;
}

int dn_get_num_threads(void) {
    int n = __atomic_load_n(&dn_nthreads, __ATOMIC_RELAXED);
    return n ? n : dn_default_threads();
}

int dn_set_num_threads(int n) {
    if (n < 0 || n > DN_MAX_THREADS) return DN_ERR_ARG;
    const int old = __atomic_exchange_n(&dn_nthreads, n ? n : dn_default_threads(), __ATOMIC_RELAXED);
    return old ? old : dn_default_threads();
}

size_t dn_get_parallel_threshold(void) {
    const size_t b = __atomic_load_n(&dn_par_bytes, __ATOMIC_RELAXED);
    return b ? b : DN_PAR_DEFAULT;
}

size_t dn_set_parallel_threshold(size_t bytes) {
    const size_t old = __atomic_exchange_n(&dn_par_bytes, bytes, __ATOMIC_RELAXED);
    return old ? old : DN_PAR_DEFAULT;
}

/* ---- the pool ---- */

typedef struct dn_job {
    void (*fn)(void *ctx, int k);
    void *ctx;
    int n;
    int next;             /* the next unclaimed chunk (atomic) */
    int users;            /* workers inside the job (under the lock) */
    struct dn_job *link;  /* the queue (under the lock) */
} dn_job;

static pthread_mutex_t dn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dn_work_cv = PTHREAD_COND_INITIALIZER; /* a job was queued */
static pthread_cond_t dn_idle_cv = PTHREAD_COND_INITIALIZER; /* a worker left a job */
static dn_job *dn_queue;  /* under the lock */
static int dn_workers;    /* started, under the lock */
static pthread_once_t dn_once = PTHREAD_ONCE_INIT;

/* Claim and run chunks until none is left. */
static void dn_work(dn_job *j) {
    for (;;) {
        const int k = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (k >= j->n) return;
        j->fn(j->ctx, k);
    }
}

/* The first queued job with a chunk unclaimed, or NULL (under the lock). */
static dn_job *dn_pending(void) {
    for (dn_job *j = dn_queue; j; j = j->link)
        if (__atomic_load_n(&j->next, __ATOMIC_RELAXED) < j->n) return j;
    return NULL;
}

static void *dn_worker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&dn_lock);
    for (;;) {
        dn_job *j;
        while (!(j = dn_pending())) pthread_cond_wait(&dn_work_cv, &dn_lock);
        ++j->users;
        pthread_mutex_unlock(&dn_lock);
        dn_work(j);
        pthread_mutex_lock(&dn_lock);
        if (--j->users == 0) pthread_cond_broadcast(&dn_idle_cv);
    }
    return NULL;
}

/* Start workers until there are `want` (under the lock). Workers block
 * every signal, which go to the application's threads; a failure to start
 * one leaves the pool smaller (callers run the chunks no worker takes). */
static void dn_grow(int want) {
    if (dn_workers >= want) return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        while (dn_workers < want) {
            pthread_t t;
            if (pthread_create(&t, &attr, dn_worker, NULL) != 0) break;
            ++dn_workers;
        }
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void dn_fork_prepare(void) { pthread_mutex_lock(&dn_lock); }
static void dn_fork_parent(void) { pthread_mutex_unlock(&dn_lock); }
/* The child's workers are gone, and so are the other threads' jobs; the
 * lock and condition variables may hold the parent's waiters' state. */
static void dn_fork_child(void) {
    dn_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    dn_work_cv = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
    dn_idle_cv = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
    dn_queue = NULL;
    dn_workers = 0;
}

static void dn_pool_init(void) {
    pthread_atfork(dn_fork_prepare, dn_fork_parent, dn_fork_child);
}

void dn_pool_run(int n, void (*fn)(void *ctx, int k), void *ctx) {
    dn_job job = {fn, ctx, n, 0, 0, NULL};
    if (n > 1) {
        pthread_once(&dn_once, dn_pool_init);
        pthread_mutex_lock(&dn_lock);
        dn_grow(n - 1);
        if (dn_workers > 0) {
            dn_job **tail = &dn_queue;
            while (*tail) tail = &(*tail)->link;
            *tail = &job;
            for (int k = 0; k < n - 1 && k < dn_workers; ++k) pthread_cond_signal(&dn_work_cv);
        }
        pthread_mutex_unlock(&dn_lock);
        dn_work(&job);
        pthread_mutex_lock(&dn_lock);
        for (dn_job **p = &dn_queue; *p; p = &(*p)->link)
            if (*p == &job) { *p = job.link; break; }
        while (job.users) pthread_cond_wait(&dn_idle_cv, &dn_lock);
        pthread_mutex_unlock(&dn_lock);
    } else {
        dn_work(&job);
    }
}
