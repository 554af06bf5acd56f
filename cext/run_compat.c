/* run_compat.c - TEMPORARY (py-table branch only; the lead deletes it at the
 * merge with c-core, whose dispatch provides all of this). dn_run and the
 * thread-count functions of /work/SPEC.md over the typed public functions,
 * so that the Python package builds and its tests run before the new
 * library lands: a large call is split by rows over threads created for
 * that call (no pool, so nothing to re-create after fork), the parameter
 * gradients' per-chunk double sums added in chunk order. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dynorm.h"
#include "run_compat.h"

static const char *const dn_names[DN_NOPS] = {"layer_norm", "rms_norm", "dyt", "dyisru"};
static const int dn_nstats[DN_NOPS] = {2, 1, 0, 0};

const char *dn_op_name(int op) { return op >= 0 && op < DN_NOPS ? dn_names[op] : NULL; }
int dn_op_nstats(int op) { return op >= 0 && op < DN_NOPS ? dn_nstats[op] : 0; }

static int dn_threads, dn_threads_default;
static size_t dn_par_bytes;

static int dn_default_threads(void) {
    const char *env = getenv("DYNORM_NUM_THREADS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\n') ++end;
        if (*end == 0 && end != env && n >= 1 && n <= 1024) return (int)n;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return 1;
}

int dn_get_num_threads(void) {
    int n = __atomic_load_n(&dn_threads, __ATOMIC_RELAXED);
    if (n) return n;
    if (!dn_threads_default) dn_threads_default = dn_default_threads();
    return dn_threads_default;
}

int dn_set_num_threads(int n) {
    if (n < 0 || n > 1024) return DN_ERR_ARG;
    int old = dn_get_num_threads();
    __atomic_store_n(&dn_threads, n, __ATOMIC_RELAXED);
    return old;
}

size_t dn_get_parallel_threshold(void) {
    size_t b = __atomic_load_n(&dn_par_bytes, __ATOMIC_RELAXED);
    return b ? b : (size_t)1 << 20;
}

size_t dn_set_parallel_threshold(size_t bytes) {
    size_t old = dn_get_parallel_threshold();
    __atomic_store_n(&dn_par_bytes, bytes, __ATOMIC_RELAXED);
    return old;
}

#define DN_TYPED(R, S)                                                                        \
    static int dn_run1_##S(int op, int dir, const dn_args *a) {                               \
        const R *x = a->x, *dy = a->dy, *w = a->w, *b = a->b;                                 \
        R *out = a->out, *s0 = a->stat[0], *s1 = a->stat[1];                                   \
        size_t r = a->rows, c = a->cols;                                                       \
        switch (op * 2 + dir) {                                                                \
        case 0: return dn_layer_norm_fwd_##S(out, s0, s1, x, w, b, r, c, a->ldo, a->ldx, a->s[0]); \
        case 1: return dn_layer_norm_bwd_##S(out, a->dw, a->db, dy, x, s0, s1, w, r, c, a->ldo, \
                                             a->lddy, a->ldx);                                 \
        case 2: return dn_rms_norm_fwd_##S(out, s0, x, w, r, c, a->ldo, a->ldx, a->s[0]);      \
        case 3: return dn_rms_norm_bwd_##S(out, a->dw, dy, x, s0, w, r, c, a->ldo, a->lddy,    \
                                           a->ldx);                                            \
        case 4: return dn_dyt_fwd_##S(out, x, w, b, r, c, a->ldo, a->ldx, a->s[0]);            \
        case 5: return dn_dyt_bwd_##S(out, a->ds[0], a->dw, a->db, dy, x, w, r, c, a->ldo,     \
                                      a->lddy, a->ldx, a->s[0]);                               \
        case 6: return dn_dyisru_fwd_##S(out, x, w, b, r, c, a->ldo, a->ldx, a->s[0], a->s[1]); \
        case 7: return dn_dyisru_bwd_##S(out, a->ds[0], a->dw, a->db, dy, x, w, r, c, a->ldo,  \
                                         a->lddy, a->ldx, a->s[0], a->s[1]);                   \
        }                                                                                      \
        return DN_ERR_ARG;                                                                     \
    }
DN_TYPED(float, f32)
DN_TYPED(double, f64)

typedef struct {
    int op, dir, f64, status;
    dn_args a;
} dn_chunk;

static int dn_run1(dn_chunk *k) {
    return k->f64 ? dn_run1_f64(k->op, k->dir, &k->a) : dn_run1_f32(k->op, k->dir, &k->a);
}

static void *dn_chunk_main(void *p) {
    dn_chunk *k = p;
    k->status = dn_run1(k);
    return NULL;
}

static const char *dn_end(const void *p, size_t rows, size_t cols, size_t ld, size_t e) {
    return (const char *)p + ((rows - 1) * ld + cols) * e;
}

static int dn_overlaps(const void *o, const void *i, const dn_args *a, size_t ldi, size_t e) {
    if (!o || !i || (o == i && a->ldo == ldi)) return 0;
    return (const char *)o < dn_end(i, a->rows, a->cols, ldi, e)
        && (const char *)i < dn_end(o, a->rows, a->cols, a->ldo, e);
}

int dn_run(int op, int dir, int f64, const dn_args *a) {
    if (op < 0 || op >= DN_NOPS || (dir != 0 && dir != 1) || !a) return DN_ERR_ARG;
    size_t e = f64 ? sizeof(double) : sizeof(float);
    int n = dn_get_num_threads();
    if (a->rows < 8 || a->cols == 0 || a->rows * a->cols * e < dn_get_parallel_threshold()) n = 1;
    if ((size_t)n > a->rows / 4) n = (int)(a->rows / 4);
    dn_chunk one = {op, dir, f64, 0, *a};
    if (n <= 1) return dn_run1(&one);
    /* each chunk checks its own rows; overlap across chunks is checked here */
    if (dn_overlaps(a->out, a->x, a, a->ldx, e) || (dir && dn_overlaps(a->out, a->dy, a, a->lddy, e)))
        return DN_ERR_ALIAS;
    size_t c = a->cols, step = (a->rows + n - 1) / n;
    step += (4 - step % 4) % 4;
    dn_chunk *k = calloc((size_t)n, sizeof *k);
    double *part = dir ? calloc((size_t)n * (2 * c + 2), sizeof(double)) : NULL;
    pthread_t *tid = calloc((size_t)n, sizeof *tid);
    char *started = calloc((size_t)n, 1);
    int st = DN_OK, m = 0;
    if (!k || !tid || !started || (dir && !part)) { st = DN_ERR_SIZE; goto done; }
    for (size_t r0 = 0; r0 < a->rows; r0 += step, ++m) {
        size_t r1 = r0 + step < a->rows ? r0 + step : a->rows;
        dn_chunk *q = &k[m];
        *q = one;
        q->a.rows = r1 - r0;
        q->a.out = (char *)a->out + r0 * a->ldo * e;
        q->a.x = (const char *)a->x + r0 * a->ldx * e;
        if (a->dy) q->a.dy = (const char *)a->dy + r0 * a->lddy * e;
        for (int s = 0; s < 2; ++s)
            if (a->stat[s]) q->a.stat[s] = (char *)a->stat[s] + r0 * e;
        if (dir) {
            double *p = part + (size_t)m * (2 * c + 2);
            q->a.dw = a->dw ? p : NULL;
            q->a.db = a->db ? p + c : NULL;
            q->a.ds[0] = a->ds[0] ? p + 2 * c : NULL;
            q->a.ds[1] = a->ds[1] ? p + 2 * c + 1 : NULL;
        }
    }
    for (int i = 1; i < m; ++i) started[i] = pthread_create(&tid[i], NULL, dn_chunk_main, &k[i]) == 0;
    for (int i = 0; i < m; ++i) {
        if (i == 0 || !started[i]) dn_chunk_main(&k[i]);
        else pthread_join(tid[i], NULL);
    }
    for (int i = 0; i < m && st == DN_OK; ++i) st = k[i].status;
    if (st == DN_OK && dir) {
        for (int i = 0; i < m; ++i) {
            const double *p = part + (size_t)i * (2 * c + 2);
            for (size_t j = 0; j < c; ++j) {
                if (a->dw) a->dw[j] = i ? a->dw[j] + p[j] : p[j];
                if (a->db) a->db[j] = i ? a->db[j] + p[c + j] : p[c + j];
            }
            for (int s = 0; s < 2; ++s)
                if (a->ds[s]) *a->ds[s] = i ? *a->ds[s] + p[2 * c + s] : p[2 * c + s];
        }
    }
done:
    free(k), free(part), free(tid), free(started);
    return st;
}
