/* api.c - dn_run and the public entry points over it.
 *
 * dn_run is the one way into the kernels: it checks the call (check.c),
 * decides once whether the output is streamed (dispatch.c), and splits a
 * large call by rows over the library's threads (threads.c): one chunk per
 * thread, on multiples of DN_CHUNK_ROWS rows. Each chunk runs the kernel of
 * the ISA in use on its rows; its parameter-gradient sums go to a partial
 * array of its own (the first chunk's to the caller's), and the partials
 * are added to the caller's in chunk order once all have run, so a call's
 * gradients are the same bits for a given thread count. The typed public
 * functions fill a dn_args and call dn_run; the element-wise ones are
 * generated from dynorm.h's list. */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *dn_strerror(int status) {
    switch (status) {
    case DN_OK: return "ok";
    case DN_ERR_NULL: return "a required pointer is NULL";
    case DN_ERR_SIZE: return "cols is 0, or an array's size overflows size_t";
    case DN_ERR_STRIDE: return "a row stride is smaller than cols";
    case DN_ERR_ARG: return "an argument is out of its domain (eps >= 0, alpha and beta finite, "
                            "beta >= 0, beta + eps finite; a thread count in 0..1024)";
    case DN_ERR_ALIAS: return "an output overlaps an input or another output";
    case DN_ERR_ISA: return "instruction set not available on this CPU or build (dn_set_isa or DYNORM_ISA)";
    default: return "unknown status";
    }
}

/* ---- one call split over threads ---- */

typedef struct {
    const dn_args *a;
    dn_kernel kernel;
    size_t elem;
    size_t blocks;    /* row blocks of DN_CHUNK_ROWS in the call */
    int n;            /* chunks */
    int grads;        /* the op's scalar gradients */
    double *part;     /* chunks 1 .. n-1: their partial sums, `stride` doubles each */
    size_t stride, off_db, off_ds;
} dn_split;

/* Chunk k's first row: blocks * k / n blocks in (without overflow) */
static size_t dn_chunk_row(const dn_split *sp, int k) {
    const size_t n = (size_t)sp->n, b = sp->blocks / n * (size_t)k + sp->blocks % n * (size_t)k / n;
    const size_t r = b * DN_CHUNK_ROWS;
    return r < sp->a->rows ? r : sp->a->rows;
}

/* Chunk k's rows and outputs, then its kernel. */
static void dn_run_chunk(void *ctx, int k) {
    const dn_split *sp = (const dn_split *)ctx;
    const dn_args *a = sp->a;
    const size_t r0 = dn_chunk_row(sp, k), r1 = k + 1 == sp->n ? a->rows : dn_chunk_row(sp, k + 1);
    const size_t e = sp->elem;
    dn_args c = *a;
    c.rows = r1 - r0;
    c.out = (char *)a->out + r0 * a->ldo * e;
    c.x = (const char *)a->x + r0 * a->ldx * e;
    if (a->dy) c.dy = (const char *)a->dy + r0 * a->lddy * e;
    for (int s = 0; s < 2; ++s)
        if (a->stat[s]) c.stat[s] = (char *)a->stat[s] + r0 * e;
    if (k > 0) {
        double *p = sp->part + (size_t)(k - 1) * sp->stride;
        if (a->dw) c.dw = p;
        if (a->db) c.db = p + sp->off_db;
        for (int g = 0; g < sp->grads; ++g)
            if (a->ds[g]) c.ds[g] = p + sp->off_ds + g;
    }
    sp->kernel(&c);
}

/* *p += v, at any alignment */
static void dn_add_f64(double *p, double v) {
    double s;
    memcpy(&s, p, sizeof s);
    s += v;
    memcpy(p, &s, sizeof s);
}

/* Add chunk k's partial sums to the caller's, k = 1 .. n-1 in order. */
static void dn_reduce(const dn_split *sp) {
    const dn_args *a = sp->a;
    const size_t cols = a->cols;
    for (int k = 1; k < sp->n; ++k) {
        const double *p = sp->part + (size_t)(k - 1) * sp->stride;
        if (a->dw) for (size_t j = 0; j < cols; ++j) dn_add_f64(a->dw + j, p[j]);
        if (a->db) for (size_t j = 0; j < cols; ++j) dn_add_f64(a->db + j, p[sp->off_db + j]);
        for (int g = 0; g < sp->grads; ++g)
            if (a->ds[g]) dn_add_f64(a->ds[g], p[sp->off_ds + g]);
    }
}

int dn_run(int op, int dir, int f64, const dn_args *args) {
    if (!args) return DN_ERR_NULL;
    if (op < 0 || op >= DN_NOPS || (dir != 0 && dir != 1) || (f64 != 0 && f64 != 1)) return DN_ERR_ARG;
    const dn_kernels *t = dn_active_kernels();
    if (!t) return DN_ERR_ISA;
    dn_args a = *args;
    const int st = dn_check(op, dir, f64, &a);
    if (st) return st;

    const size_t elem = f64 ? sizeof(double) : sizeof(float);
    const size_t bytes = a.rows * a.cols * elem; /* fits: checked */
    a.stream = dn_stream_decision(a.out, bytes, elem);

    dn_split sp;
    memset(&sp, 0, sizeof sp);
    sp.a = &a, sp.kernel = dir ? t->bwd[f64][op] : t->fwd[f64][op], sp.elem = elem, sp.n = 1;
    sp.blocks = (a.rows + DN_CHUNK_ROWS - 1) / DN_CHUNK_ROWS;
    const int threads = dn_get_num_threads();
    if (threads > 1 && sp.blocks > 1 && bytes >= dn_get_parallel_threshold()) {
        sp.n = (size_t)threads < sp.blocks ? threads : (int)sp.blocks;
        if (dir) { /* the partial sums of chunks 1 .. n-1 */
            sp.grads = dn_op_grads(op);
            sp.off_db = a.dw ? a.cols : 0;
            sp.off_ds = sp.off_db + (a.db ? a.cols : 0);
            sp.stride = sp.off_ds + (size_t)sp.grads;
            if (sp.stride > SIZE_MAX / sizeof(double) / (size_t)(sp.n - 1)) sp.n = 1;
            else if (sp.stride && !(sp.part = (double *)malloc(sp.stride * (size_t)(sp.n - 1) * sizeof(double))))
                sp.n = 1; /* no memory: on this thread alone */
        }
    }
    if (sp.n == 1) {
        sp.kernel(&a);
        return DN_OK;
    }
    dn_pool_run(sp.n, dn_run_chunk, &sp);
    if (dir) dn_reduce(&sp);
    free(sp.part);
    return DN_OK;
}

/* ---- the typed entry points ---- */

static dn_args dn_args_init(size_t rows, size_t cols, void *out, size_t ldo, const void *x,
                            size_t ldx) {
    dn_args a;
    memset(&a, 0, sizeof a);
    a.rows = rows, a.cols = cols, a.out = out, a.ldo = ldo, a.x = x, a.ldx = ldx;
    return a;
}

/* (A backward's statistics are inputs; dn_args holds both directions'
 * in one non-const field, which the backward kernels only read.) */
#define DN_ROWSTAT_ENTRY_POINTS(R, S, F64)                                     \
int dn_layer_norm_fwd_##S(R *y, R *mean, R *rstd, const R *x, const R *w,      \
                          const R *b, size_t rows, size_t cols, size_t ldy,    \
                          size_t ldx, double eps) {                            \
    dn_args a = dn_args_init(rows, cols, y, ldy, x, ldx);                      \
    a.stat[0] = mean, a.stat[1] = rstd, a.w = w, a.b = b, a.s[0] = eps;        \
    return dn_run(DN_OP_LAYER_NORM, 0, F64, &a);                               \
}                                                                              \
int dn_layer_norm_bwd_##S(R *dx, double *dw, double *db, const R *dy,          \
                          const R *x, const R *mean, const R *rstd,            \
                          const R *w, size_t rows, size_t cols, size_t lddx,   \
                          size_t lddy, size_t ldx) {                           \
    dn_args a = dn_args_init(rows, cols, dx, lddx, x, ldx);                    \
    a.dy = dy, a.lddy = lddy, a.stat[0] = (void *)(uintptr_t)mean;             \
    a.stat[1] = (void *)(uintptr_t)rstd, a.w = w, a.dw = dw, a.db = db;        \
    return dn_run(DN_OP_LAYER_NORM, 1, F64, &a);                               \
}                                                                              \
int dn_rms_norm_fwd_##S(R *y, R *rstd, const R *x, const R *w, size_t rows,    \
                        size_t cols, size_t ldy, size_t ldx, double eps) {     \
    dn_args a = dn_args_init(rows, cols, y, ldy, x, ldx);                      \
    a.stat[0] = rstd, a.w = w, a.s[0] = eps;                                   \
    return dn_run(DN_OP_RMS_NORM, 0, F64, &a);                                 \
}                                                                              \
int dn_rms_norm_bwd_##S(R *dx, double *dw, const R *dy, const R *x,            \
                        const R *rstd, const R *w, size_t rows, size_t cols,   \
                        size_t lddx, size_t lddy, size_t ldx) {                \
    dn_args a = dn_args_init(rows, cols, dx, lddx, x, ldx);                    \
    a.dy = dy, a.lddy = lddy, a.stat[0] = (void *)(uintptr_t)rstd;             \
    a.w = w, a.dw = dw;                                                        \
    return dn_run(DN_OP_RMS_NORM, 1, F64, &a);                                 \
}
DN_ROWSTAT_ENTRY_POINTS(float, f32, 0)
DN_ROWSTAT_ENTRY_POINTS(double, f64, 1)

/* The element-wise ops, from dynorm.h's list: the scalars go to s[] and the
 * scalar gradients to ds[] in list order. */
#define DN_EW_ENTRY_POINTS(name, NAME, sdecl, snames, domain, gdecl, gnames, R, S, F64) \
int dn_##name##_fwd_##S(R *y, const R *x, const R *w, const R *b, size_t rows, \
                        size_t cols, size_t ldy, size_t ldx, DN_UNPAREN sdecl) { \
    const double s_[] = {DN_UNPAREN snames};                                   \
    dn_args a = dn_args_init(rows, cols, y, ldy, x, ldx);                      \
    a.w = w, a.b = b;                                                          \
    memcpy(a.s, s_, sizeof s_);                                                \
    return dn_run(DN_OP_##NAME, 0, F64, &a);                                   \
}                                                                              \
int dn_##name##_bwd_##S(R *dx, DN_UNPAREN gdecl, double *dw, double *db,       \
                        const R *dy, const R *x, const R *w, size_t rows,      \
                        size_t cols, size_t lddx, size_t lddy, size_t ldx,     \
                        DN_UNPAREN sdecl) {                                    \
    const double s_[] = {DN_UNPAREN snames};                                   \
    double *const g_[] = {DN_UNPAREN gnames};                                  \
    dn_args a = dn_args_init(rows, cols, dx, lddx, x, ldx);                    \
    a.dy = dy, a.lddy = lddy, a.w = w, a.dw = dw, a.db = db;                   \
    memcpy(a.s, s_, sizeof s_);                                                \
    memcpy(a.ds, g_, sizeof g_);                                               \
    return dn_run(DN_OP_##NAME, 1, F64, &a);                                   \
}
#define DN_EW_ENTRY_POINTS_BOTH(...)                                           \
    DN_EW_ENTRY_POINTS(__VA_ARGS__, float, f32, 0)                             \
    DN_EW_ENTRY_POINTS(__VA_ARGS__, double, f64, 1)
DN_ELEMENTWISE_OPS(DN_EW_ENTRY_POINTS_BOTH)

/* ---- element-wise vector math ---- */

/* y and x of n elements: NULL, size, alias checks as dn_check's */
static int dn_check_arrays(void *y, const void *x, size_t n, size_t elem_y, size_t elem_x,
                           int inplace_ok) {
    if (!n) return DN_OK;
    if (!y || !x) return DN_ERR_NULL;
    const size_t elem = elem_y > elem_x ? elem_y : elem_x;
    if (n > SIZE_MAX / elem) return DN_ERR_SIZE;
    if (!dn_span_ok(y, n * elem_y) || !dn_span_ok(x, n * elem_x)) return DN_ERR_SIZE;
    if (inplace_ok && y == x) return DN_OK;
    const uintptr_t py = (uintptr_t)y, px = (uintptr_t)x;
    if (py < px + n * elem_x && px < py + n * elem_y) return DN_ERR_ALIAS;
    return DN_OK;
}

#define DN_TANH_ENTRY_POINTS(R, S)                                             \
int dn_tanh_##S(R *y, const R *x, size_t n) {                                  \
    const dn_kernels *t = dn_active_kernels();                                 \
    if (!t) return DN_ERR_ISA;                                                 \
    const int st = dn_check_arrays(y, x, n, sizeof(R), sizeof(R), 1);          \
    if (st || !n) return st;                                                   \
    t->tanh_##S(y, x, n);                                                      \
    return DN_OK;                                                              \
}                                                                              \
int dn_tanh_fast_##S(R *y, const R *x, size_t n) {                             \
    const dn_kernels *t = dn_active_kernels();                                 \
    if (!t) return DN_ERR_ISA;                                                 \
    const int st = dn_check_arrays(y, x, n, sizeof(R), sizeof(R), 1);          \
    if (st || !n) return st;                                                   \
    t->tanh_fast_##S(y, x, n);                                                 \
    return DN_OK;                                                              \
}
DN_TANH_ENTRY_POINTS(float, f32)
DN_TANH_ENTRY_POINTS(double, f64)

int dn_round_f32(float *dst, const double *src, size_t n) {
    const dn_kernels *t = dn_active_kernels();
    if (!t) return DN_ERR_ISA;
    const int st = dn_check_arrays(dst, src, n, sizeof(float), sizeof(double), 0);
    if (st || !n) return st;
    t->round_f32(dst, src, n);
    return DN_OK;
}
