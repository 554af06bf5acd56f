/* pyshim.c - the Python package's entry points (see pyshim.h): one dn_run
 * per call, with the arguments a NumPy caller has (C-contiguous arrays, the
 * float32 gradients rounded here). Plain C, no Python headers: it builds
 * into the cffi extension and into the library's own tests alike. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dynorm.h"
#include "internal.h"
#include "pyshim.h"

int dnpy_op_id(const char *name) {
    if (!name) return -1;
    for (int op = 0; op < DN_NOPS; ++op)
        if (strcmp(dn_op_name(op), name) == 0) return op;
    return -1;
}

/* The arguments both directions share: C-contiguous arrays (every row
 * stride is cols), the op's scalars, and stat[k] pointing at row k of the
 * nstats x rows buffer `stats` (NULL: none). */
static dn_args dnpy_args(int op, int f64, void *out, const void *x, const void *stats,
                         const void *w, size_t rows, size_t cols, double s0, double s1) {
    dn_args a;
    memset(&a, 0, sizeof a);
    a.rows = rows, a.cols = cols;
    a.out = out, a.ldo = cols;
    a.x = x, a.ldx = cols;
    a.w = w;
    a.s[0] = s0, a.s[1] = s1;
    const size_t elem = f64 ? sizeof(double) : sizeof(float);
    for (int k = 0; stats && k < dn_op_nstats(op) && k < 2; ++k)
        a.stat[k] = (char *)stats + (size_t)k * rows * elem;
    return a;
}

int dnpy_forward(int op, int f64, void *y, void *stats, const void *x, const void *w,
                 const void *b, size_t rows, size_t cols, double s0, double s1) {
    if (op < 0 || op >= DN_NOPS) return DN_ERR_ARG;
    dn_args a = dnpy_args(op, f64, y, x, stats, w, rows, cols, s0, s1);
    a.b = b;
    return dn_run(op, 0, f64, &a);
}

int dnpy_backward(int op, int f64, void *dx, const void *dy, const void *x,
                  const void *stats, const void *w, void *gw, void *gb, void *gs0,
                  void *gs1, size_t rows, size_t cols, double s0, double s1) {
    if (op < 0 || op >= DN_NOPS) return DN_ERR_ARG;
    dn_args a = dnpy_args(op, f64, dx, x, stats, w, rows, cols, s0, s1);
    a.dy = dy, a.lddy = cols;
    if (f64) {
        a.dw = gw, a.db = gb, a.ds[0] = gs0, a.ds[1] = gs1;
        return dn_run(op, 1, 1, &a);
    }
    /* float: the library sums in double; round once into the float targets */
    double ds[2], *sums = NULL;
    if (gw || gb) {
        if (cols > SIZE_MAX / (2 * sizeof(double))) return DN_ERR_SIZE;
        /* no out-of-memory code in dynorm.h: the size was too large to serve */
        if (!(sums = malloc(2 * cols * sizeof(double)))) return DN_ERR_SIZE;
    }
    a.dw = gw ? sums : NULL;
    a.db = gb ? sums + cols : NULL;
    a.ds[0] = gs0 ? &ds[0] : NULL;
    a.ds[1] = gs1 ? &ds[1] : NULL;
    int status = dn_run(op, 1, 0, &a);
    if (status == DN_OK && gw) status = dn_round_f32(gw, a.dw, cols);
    if (status == DN_OK && gb) status = dn_round_f32(gb, a.db, cols);
    if (status == DN_OK && gs0) *(float *)gs0 = (float)ds[0];
    if (status == DN_OK && gs1) *(float *)gs1 = (float)ds[1];
    free(sums);
    return status;
}
