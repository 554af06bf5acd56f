/* test_threads.c - the library's threads: every op and dtype split over
 * 1, 2, 3 and 8 threads gives each row's outputs the same bits as one
 * thread, and parameter gradients the same bits run after run for a given
 * count and within rounding of one thread's; several application threads
 * calling at once while another changes the count; a forked child's large
 * call; the settings and DYNORM_NUM_THREADS. Run by `make test`, `make
 * sanitize` and, for data races, `make tsan`.
 *
 * The ops are driven through dn_run with one set of arguments for all: every
 * op gets two statistics arrays, a weight, a bias, dw, db and two scalar
 * gradients (an op ignores what it does not use) and the scalars
 * {0.7, 1e-5, 0.5}, inside every op's domain. */
#define _GNU_SOURCE
#include "dynorm.h"
#include "internal.h"
#include "test_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const int counts[] = {1, 2, 3, 8};
#define NCOUNTS 4

/* One op's inputs and outputs in one dtype, both directions. */
typedef struct {
    int op, f64;
    size_t rows, cols, elem;
    char *x, *dy, *w, *b;       /* inputs */
    char *y, *stat[2], *dx;     /* outputs (stats: forward out, backward in) */
    double *dw, *db, ds[2];
} call_t;

static void fill(char *p, size_t n, int f64, double scale, double shift) {
    for (size_t k = 0; k < n; ++k) {
        const double v = shift + scale * rnd_normal();
        if (f64) memcpy(p + 8 * k, &v, 8);
        else { const float f = (float)v; memcpy(p + 4 * k, &f, 4); }
    }
}

/* Arrays for a call; inputs drawn from the random source (one thread only)
 * when `draw`. */
static void call_alloc(call_t *c, int op, int f64, size_t rows, size_t cols, int draw) {
    memset(c, 0, sizeof *c);
    c->op = op, c->f64 = f64, c->rows = rows, c->cols = cols, c->elem = f64 ? 8 : 4;
    const size_t n = rows * cols * c->elem;
    /* outputs zeroed: what an op does not write compares equal */
    c->x = malloc(n), c->dy = malloc(n), c->y = calloc(n, 1), c->dx = calloc(n, 1);
    c->w = malloc(cols * c->elem), c->b = malloc(cols * c->elem);
    c->stat[0] = calloc(rows, c->elem), c->stat[1] = calloc(rows, c->elem);
    c->dw = calloc(cols, sizeof(double)), c->db = calloc(cols, sizeof(double));
    if (!draw) return;
    fill(c->x, rows * cols, f64, 1.5, 0.3);
    fill(c->dy, rows * cols, f64, 1.0, 0.0);
    fill(c->w, cols, f64, 0.3, 1.0);
    fill(c->b, cols, f64, 0.3, 0.0);
}
#define call_init(c, op, f64, rows, cols) call_alloc(c, op, f64, rows, cols, 1)

static void call_free(call_t *c) {
    free(c->x); free(c->dy); free(c->y); free(c->dx); free(c->w); free(c->b);
    free(c->stat[0]); free(c->stat[1]); free(c->dw); free(c->db);
}

static int run(call_t *c, int dir) {
    dn_args a;
    memset(&a, 0, sizeof a);
    a.rows = c->rows, a.cols = c->cols, a.x = c->x, a.ldx = c->cols;
    a.w = c->w, a.b = c->b, a.stat[0] = c->stat[0], a.stat[1] = c->stat[1];
    a.s[0] = 0.7, a.s[1] = 1e-5, a.s[2] = 0.5;
    if (dir) {
        a.out = c->dx, a.ldo = c->cols, a.dy = c->dy, a.lddy = c->cols;
        a.dw = c->dw, a.db = c->db, a.ds[0] = &c->ds[0], a.ds[1] = &c->ds[1];
    } else {
        a.out = c->y, a.ldo = c->cols;
    }
    return dn_run(c->op, dir, c->f64, &a);
}

/* |a - b| <= tol * scale for each of n doubles */
static int close_enough(const double *a, const double *b, size_t n, double scale) {
    for (size_t k = 0; k < n; ++k)
        if (!(fabs(a[k] - b[k]) <= 1e-12 * scale)) return 0;
    return 1;
}

/* A bound on every parameter gradient's sum of |terms|: |dy| |w| |x| summed
 * over rows, times sqrt(cols) + 1 (|xh| <= sqrt(cols) for the norms; the
 * element-wise ops' f and D are at most 1 here). */
static double grad_scale(const call_t *c) {
    double s = 0;
    for (size_t k = 0; k < c->rows * c->cols; ++k) {
        double dy, x;
        if (c->f64) memcpy(&dy, c->dy + 8 * k, 8), memcpy(&x, c->x + 8 * k, 8);
        else { float f, g; memcpy(&f, c->dy + 4 * k, 4), memcpy(&g, c->x + 4 * k, 4); dy = f, x = g; }
        s += fabs(dy) * (1.0 + fabs(x)) * 1.5;
    }
    return s * (sqrt((double)c->cols) + 1.0);
}

/* Every op, both dtypes, 1, 2, 3 and 8 threads against 1, at sizes whose
 * rows are and are not a multiple of the chunk rows. */
static void check_counts(void) {
    static const size_t shapes[][2] = {{37, 67}, {128, 256}, {9, 16}, {4, 1000}};
    dn_set_parallel_threshold(1);
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; ++sh)
        for (int op = 0; op < DN_NOPS; ++op)
            for (int f64 = 0; f64 < 2; ++f64) {
                const size_t rows = shapes[sh][0], cols = shapes[sh][1];
                char what[96];
                call_t c, r;
                call_init(&c, op, f64, rows, cols);
                call_init(&r, op, f64, rows, cols);
                memcpy(r.x, c.x, rows * cols * c.elem), memcpy(r.dy, c.dy, rows * cols * c.elem);
                memcpy(r.w, c.w, cols * c.elem), memcpy(r.b, c.b, cols * c.elem);
                const double scale = grad_scale(&c);
                /* the reference: one thread */
                dn_set_num_threads(1);
                CHECK(run(&r, 0) == DN_OK && run(&r, 1) == DN_OK, "one thread");
                for (int k = 0; k < NCOUNTS; ++k) {
                    snprintf(what, sizeof what, "op %d %s %zux%zu threads=%d", op, f64 ? "f64" : "f32",
                             rows, cols, counts[k]);
                    dn_set_num_threads(counts[k]);
                    CHECK(run(&c, 0) == DN_OK, what);
                    CHECK(memcmp(c.y, r.y, rows * cols * c.elem) == 0, what);
                    CHECK(memcmp(c.stat[0], r.stat[0], rows * c.elem) == 0, what);
                    CHECK(memcmp(c.stat[1], r.stat[1], rows * c.elem) == 0, what);
                    CHECK(run(&c, 1) == DN_OK, what);
                    CHECK(memcmp(c.dx, r.dx, rows * cols * c.elem) == 0, what);
                    CHECK(close_enough(c.dw, r.dw, cols, scale) && close_enough(c.db, r.db, cols, scale), what);
                    CHECK(close_enough(c.ds, r.ds, 2, scale), what);
                    /* the same count again: the same bits */
                    double *dw = malloc(cols * sizeof(double)), *db = malloc(cols * sizeof(double)), ds[2];
                    memcpy(dw, c.dw, cols * sizeof(double)), memcpy(db, c.db, cols * sizeof(double));
                    memcpy(ds, c.ds, sizeof ds);
                    CHECK(run(&c, 1) == DN_OK, what);
                    CHECK(memcmp(dw, c.dw, cols * sizeof(double)) == 0, what);
                    CHECK(memcmp(db, c.db, cols * sizeof(double)) == 0, what);
                    CHECK(memcmp(ds, c.ds, sizeof ds) == 0, what);
                    free(dw), free(db);
                }
                call_free(&c), call_free(&r);
            }
    dn_set_num_threads(0);
    dn_set_parallel_threshold(0);
}

/* ---- concurrent callers ---- */

#define NCALLERS 4
static int stop_flipping;
static call_t refs[NCALLERS];
static double ref_scale[NCALLERS];

static void *caller(void *arg) {
    const int id = (int)(intptr_t)arg;
    const call_t *r = &refs[id];
    call_t c;
    call_alloc(&c, r->op, r->f64, r->rows, r->cols, 0);
    memcpy(c.x, r->x, r->rows * r->cols * r->elem), memcpy(c.dy, r->dy, r->rows * r->cols * r->elem);
    memcpy(c.w, r->w, r->cols * r->elem), memcpy(c.b, r->b, r->cols * r->elem);
    int ok = 1;
    for (int it = 0; it < 20; ++it) {
        ok &= run(&c, 0) == DN_OK && run(&c, 1) == DN_OK;
        ok &= memcmp(c.y, r->y, r->rows * r->cols * r->elem) == 0;
        ok &= memcmp(c.dx, r->dx, r->rows * r->cols * r->elem) == 0;
        ok &= close_enough(c.dw, r->dw, r->cols, ref_scale[id]) && close_enough(c.ds, r->ds, 2, ref_scale[id]);
    }
    call_free(&c);
    return (void *)(intptr_t)ok;
}

static void *flipper(void *arg) {
    (void)arg;
    for (int k = 0; !__atomic_load_n(&stop_flipping, __ATOMIC_RELAXED); ++k) {
        dn_set_num_threads(counts[k % NCOUNTS]);
        dn_set_parallel_threshold(k % 3 == 2 ? 0 : 1);
    }
    return NULL;
}

static void check_concurrent(void) {
    dn_set_num_threads(1);
    dn_set_parallel_threshold(1);
    for (int id = 0; id < NCALLERS; ++id) {
        call_init(&refs[id], id % DN_NOPS, id / DN_NOPS % 2, 64 + 4 * (size_t)id, 200);
        ref_scale[id] = grad_scale(&refs[id]);
        CHECK(run(&refs[id], 0) == DN_OK && run(&refs[id], 1) == DN_OK, "reference");
    }
    pthread_t th[NCALLERS], fl;
    stop_flipping = 0;
    CHECK(pthread_create(&fl, NULL, flipper, NULL) == 0, "flipper");
    for (int id = 0; id < NCALLERS; ++id)
        CHECK(pthread_create(&th[id], NULL, caller, (void *)(intptr_t)id) == 0, "caller");
    for (int id = 0; id < NCALLERS; ++id) {
        void *ok = NULL;
        pthread_join(th[id], &ok);
        CHECK(ok != NULL, "concurrent caller's results");
    }
    __atomic_store_n(&stop_flipping, 1, __ATOMIC_RELAXED);
    pthread_join(fl, NULL);
    for (int id = 0; id < NCALLERS; ++id) call_free(&refs[id]);
    dn_set_num_threads(0);
    dn_set_parallel_threshold(0);
}

/* ---- fork ---- */

static volatile sig_atomic_t child_pid;
static void on_alarm(int sig) {
    (void)sig;
    if (child_pid > 0) kill(child_pid, SIGKILL);
}

/* A background thread keeps calling while the main thread forks, so the
 * fork may come while the pool is busy. */
static void *background(void *arg) {
    call_t *c = (call_t *)arg;
    while (!__atomic_load_n(&stop_flipping, __ATOMIC_RELAXED)) run(c, 1);
    return NULL;
}

static void check_fork(void) {
    /* large calls at the default threshold (1 MiB), on more than one thread */
    dn_set_num_threads(3);
    call_t c, bg;
    call_init(&c, DN_OP_DYT, 0, 1024, 512); /* 2 MiB of x */
    call_init(&bg, DN_OP_LAYER_NORM, 0, 1024, 512);
    CHECK(run(&c, 0) == DN_OK && run(&c, 1) == DN_OK && run(&bg, 0) == DN_OK, "parent before fork");
    char *y0 = malloc(1024 * 512 * 4);
    memcpy(y0, c.y, 1024 * 512 * 4);
    stop_flipping = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, background, &bg) == 0, "background");
    for (int round = 0; round < 3; ++round) {
        fflush(NULL);
        const pid_t pid = fork();
        if (pid == 0) {
            /* the child: a large call on the default count, then one on 2 */
            memset(c.y, 0, 1024 * 512 * 4);
            int ok = run(&c, 0) == DN_OK && memcmp(c.y, y0, 1024 * 512 * 4) == 0;
            dn_set_num_threads(2);
            ok = ok && run(&c, 1) == DN_OK && run(&c, 0) == DN_OK && memcmp(c.y, y0, 1024 * 512 * 4) == 0;
            _exit(ok ? 0 : 3);
        }
        CHECK(pid > 0, "fork");
        if (pid < 0) break;
        child_pid = pid;
        signal(SIGALRM, on_alarm);
        alarm(60);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0) {}
        alarm(0);
        child_pid = 0;
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, WIFSIGNALED(status) ? "forked child hung or crashed" : "forked child's results");
        /* the parent's pool still works */
        CHECK(run(&c, 0) == DN_OK && memcmp(c.y, y0, 1024 * 512 * 4) == 0, "parent after fork");
    }
    __atomic_store_n(&stop_flipping, 1, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    free(y0);
    call_free(&c), call_free(&bg);
    dn_set_num_threads(0);
}

/* ---- settings ---- */

/* dn_get_num_threads() of a fresh process with DYNORM_NUM_THREADS = env
 * (NULL: unset), or -1 */
static int threads_with_env(const char *env) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        if (env) setenv("DYNORM_NUM_THREADS", env, 1);
        else unsetenv("DYNORM_NUM_THREADS");
        execl("/proc/self/exe", "test_threads", "--print-threads", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[32] = {0};
    const ssize_t n = read(fd[0], buf, sizeof buf - 1);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    return n > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? atoi(buf) : -1;
}

static void check_settings(void) {
    const int dflt = dn_get_num_threads();
    CHECK(dflt >= 1 && dflt <= DN_MAX_THREADS, "default count");
    CHECK(dn_set_num_threads(-1) == DN_ERR_ARG && dn_set_num_threads(DN_MAX_THREADS + 1) == DN_ERR_ARG, "bad counts");
    CHECK(dn_get_num_threads() == dflt, "bad counts change nothing");
    CHECK(dn_set_num_threads(5) == dflt && dn_get_num_threads() == 5, "set 5");
    CHECK(dn_set_num_threads(DN_MAX_THREADS) == 5, "set max");
    CHECK(dn_set_num_threads(0) == DN_MAX_THREADS && dn_get_num_threads() == dflt, "0: the default");
    CHECK(dn_get_parallel_threshold() == (size_t)1 << 20, "parallel threshold default");
    CHECK(dn_set_parallel_threshold(123) == (size_t)1 << 20 && dn_get_parallel_threshold() == 123, "set threshold");
    CHECK(dn_set_parallel_threshold(0) == 123 && dn_get_parallel_threshold() == (size_t)1 << 20, "0: the default");
    /* DYNORM_NUM_THREADS, read on first use; a bad value is ignored */
    const int cpus = threads_with_env(NULL);
    CHECK(cpus >= 1, "unset");
    CHECK(threads_with_env("3") == 3 && threads_with_env(" 7 ") == 7, "DYNORM_NUM_THREADS=3");
    CHECK(threads_with_env("1024") == 1024 && threads_with_env("1") == 1, "DYNORM_NUM_THREADS range");
    static const char *bad[] = {"abc", "0", "-2", "1025", "4x", "", "99999999999999999999", "2.5"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k)
        CHECK(threads_with_env(bad[k]) == cpus, bad[k]);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--print-threads") == 0) {
        printf("%d\n", dn_get_num_threads());
        return 0;
    }
    /* --no-fork: for qemu-user (make neon), whose 7.2 aborts in the forked
     * child of a process with threads */
    const int fork_ok = !(argc > 1 && strcmp(argv[1], "--no-fork") == 0);
    if (fork_ok) check_settings();
    check_counts();
    check_concurrent();
    if (fork_ok) check_fork();
    printf("threads (default %d) checked\n%d passed, %d failed\n", dn_get_num_threads(), checks - failures, failures);
    return failures ? 1 : 0;
}
