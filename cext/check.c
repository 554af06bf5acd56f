/* check.c - every argument check, once per call, from the op's descriptor.
 *
 * dn_run calls dn_check before anything runs: a failing call touches no
 * output. The checks, in order (the first failing one decides the status):
 *   NULL       out, x (and dy and every saved statistic in the backward)
 *              when rows > 0
 *   sizes      cols > 0; each matrix's row stride >= cols when rows > 1;
 *              each array's extent in bytes fits in size_t and in the
 *              address space (a matrix spans (rows - 1) * ld + cols
 *              elements, a vector its length)
 *   scalars    the op's domain (dynorm.h's list; eps >= 0 and finite for
 *              the row-statistics ops)
 *   aliasing   no output overlaps an input or another output, except y == x
 *              in the forward and dx == dy in the backward with equal
 *              strides (the kernels read each element before writing it)
 * Unused fields of dn_args (dy in a forward, the bias of RMSNorm, ...) are
 * not read. */
#include "internal.h"

#include <math.h>
#include <stdint.h>

/* What the generic checks need to know of an op. */
typedef struct {
    const char *name;      /* the list's name: "layer_norm", "dyt", ... */
    unsigned char stats;   /* per-row statistics (forward out, backward in) */
    unsigned char bias;    /* forward b, backward db */
    unsigned char grads;   /* learnable scalars: ds[0 .. grads) */
    int (*domain)(const double *s);
} dn_op_desc;

/* ---- the descriptors, generated from the op list ---- */

static int dn_eps_domain(const double *s) { return s[0] >= 0 && isfinite(s[0]); }

/* The element-wise ops' domains: a function of the scalars by name, called
 * with s[0], s[1], ... (DN_NARGS counts the names, up to 3). */
#define DN_NARGS(...) DN_NARGS_(__VA_ARGS__, 3, 2, 1, 0)
#define DN_NARGS_(a, b, c, n, ...) n
#define DN_CAT_(a, b) a##b
#define DN_CAT(a, b) DN_CAT_(a, b)
#define DN_APPLY_1(f, s) f(s[0])
#define DN_APPLY_2(f, s) f(s[0], s[1])
#define DN_APPLY_3(f, s) f(s[0], s[1], s[2])
#define DN_APPLY(n, f, s) DN_CAT(DN_APPLY_, n)(f, s)

#define DN_EW_DOMAIN(name, NAME, sdecl, snames, domain, gdecl, gnames)         \
    static int dn_domain_##name sdecl { return DN_UNPAREN domain; }            \
    static int dn_domain_##name##_s(const double *s) {                         \
        return DN_APPLY(DN_NARGS snames, dn_domain_##name, s);                 \
    }
DN_ELEMENTWISE_OPS(DN_EW_DOMAIN)
#undef DN_EW_DOMAIN

#define DN_ROWSTAT_DESC(name, NAME, nstats, has_bias)                          \
    [DN_OP_##NAME] = {#name, nstats, has_bias, 0, dn_eps_domain},
#define DN_EW_DESC(name, NAME, sdecl, snames, domain, gdecl, gnames)           \
    [DN_OP_##NAME] = {#name, 0, 1, DN_NARGS gnames, dn_domain_##name##_s},
static const dn_op_desc dn_ops[DN_NOPS] = {
    DN_ROWSTAT_OPS(DN_ROWSTAT_DESC)
    DN_ELEMENTWISE_OPS(DN_EW_DESC)
};
#undef DN_ROWSTAT_DESC
#undef DN_EW_DESC

int dn_op_grads(int op) { return dn_ops[op].grads; }

int dn_op_nstats(int op) { return op >= 0 && op < DN_NOPS ? dn_ops[op].stats : 0; }

const char *dn_op_name(int op) { return op >= 0 && op < DN_NOPS ? dn_ops[op].name : NULL; }

/* ---- extents ---- */

/* The bytes of a strided matrix, (rows - 1) * ld + cols elements, or
 * SIZE_MAX when that overflows (cols > 0; ld >= cols when rows > 1; no
 * array can span SIZE_MAX bytes). Conservative for aliasing: rows
 * interleaved with another matrix's rows (two column blocks of one array)
 * count as overlap. */
static size_t dn_mat_bytes(size_t rows, size_t cols, size_t ld, size_t elem) {
    if (!rows) return 0;
    const size_t lim = SIZE_MAX / elem;
    if (cols > lim || (rows > 1 && ld > (lim - cols) / (rows - 1))) return SIZE_MAX;
    return ((rows - 1) * ld + cols) * elem;
}

static size_t dn_vec_bytes(size_t n, size_t elem) {
    return n > SIZE_MAX / elem ? SIZE_MAX : n * elem;
}

/* A call's arrays as address ranges [lo, hi), the outputs first; absent
 * ones (NULL, or no bytes) are left out. `bad`: an extent overflowed. */
typedef struct { uintptr_t lo, hi; } dn_span;
typedef struct {
    dn_span s[12];
    int n, bad;
} dn_spans;

/* Add an array; returns its index, or -1 if it is absent. */
static int dn_add(dn_spans *l, const void *p, size_t bytes) {
    if (!p || !bytes) return -1;
    if (bytes == SIZE_MAX || !dn_span_ok(p, bytes)) { l->bad = 1; return -1; }
    l->s[l->n].lo = (uintptr_t)p, l->s[l->n].hi = (uintptr_t)p + bytes;
    return l->n++;
}

/* ---- the check ---- */

int dn_check(int op, int dir, int f64, dn_args *a) {
    const dn_op_desc *d = &dn_ops[op];
    const size_t elem = f64 ? sizeof(double) : sizeof(float);
    const size_t rows = a->rows, cols = a->cols;

    /* the fields this op and direction do not use are not read */
    for (int k = d->stats; k < 2; ++k) a->stat[k] = NULL;
    for (int k = dir ? d->grads : 0; k < 2; ++k) a->ds[k] = NULL;
    if (!d->bias || dir) a->b = NULL;
    if (!d->bias || !dir) a->db = NULL;
    if (!dir) a->dy = NULL, a->lddy = 0, a->dw = NULL;

    /* NULL */
    if (rows) {
        if (!a->out || !a->x || (dir && !a->dy)) return DN_ERR_NULL;
        for (int k = 0; dir && k < d->stats; ++k)
            if (!a->stat[k]) return DN_ERR_NULL;
    }

    /* sizes and strides */
    if (cols == 0) return DN_ERR_SIZE;
    if (rows > 1 && (a->ldo < cols || a->ldx < cols || (dir && a->lddy < cols))) return DN_ERR_STRIDE;
    dn_spans l;
    l.n = l.bad = 0;
    dn_add(&l, a->out, dn_mat_bytes(rows, cols, a->ldo, elem));
    for (int k = 0; !dir && k < d->stats; ++k) dn_add(&l, a->stat[k], dn_vec_bytes(rows, elem));
    dn_add(&l, a->dw, dn_vec_bytes(cols, sizeof(double)));
    dn_add(&l, a->db, dn_vec_bytes(cols, sizeof(double)));
    for (int k = 0; k < 2; ++k) dn_add(&l, a->ds[k], sizeof(double));
    const int nout = l.n;
    const int in_x = dn_add(&l, a->x, dn_mat_bytes(rows, cols, a->ldx, elem));
    const int in_dy = dn_add(&l, a->dy, dn_mat_bytes(rows, cols, a->lddy, elem));
    for (int k = 0; dir && k < d->stats; ++k) dn_add(&l, a->stat[k], dn_vec_bytes(rows, elem));
    dn_add(&l, a->w, dn_vec_bytes(cols, elem));
    dn_add(&l, a->b, dn_vec_bytes(cols, elem));
    if (l.bad) return DN_ERR_SIZE;

    /* scalars */
    if (!d->domain(a->s)) return DN_ERR_ARG;

    /* aliasing: each output against every later array, except the output
     * matrix against the one input it may replace */
    const int inplace = dir ? (a->out == a->dy && a->ldo == a->lddy ? in_dy : -1)
                            : (a->out == a->x && a->ldo == a->ldx ? in_x : -1);
    for (int o = 0; o < nout; ++o)
        for (int k = o + 1; k < l.n; ++k)
            if (!(o == 0 && k == inplace) && l.s[o].lo < l.s[k].hi && l.s[k].lo < l.s[o].hi)
                return DN_ERR_ALIAS;
    return DN_OK;
}
