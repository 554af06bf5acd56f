/* test_pyshim.c - the Python extension's shim (pyshim.c) on its own: for
 * every op of the list and both data types, dnpy_forward and dnpy_backward
 * give the very bits of a dn_run call with the same arguments (a float
 * model's double gradients rounded once, as dn_round_f32 rounds them), its
 * op ids are the list's, and a bad op id is an error that touches nothing.
 * Built by `make test` and `make sanitize` with the library. */
#include "dynorm.h"
#include "internal.h"
#include "pyshim.h"
#include "test_util.h"

#include <stdlib.h>

/* Fill n values of type f64 ? double : float from N(shift, 1). */
static void *fill(size_t n, int f64, double shift) {
    void *p = malloc(n * (f64 ? sizeof(double) : sizeof(float)));
    for (size_t k = 0; k < n; ++k) {
        const double v = shift + rnd_normal();
        if (f64) ((double *)p)[k] = v;
        else ((float *)p)[k] = (float)v;
    }
    return p;
}

static void check_op(int op, int f64) {
    const size_t rows = 5, cols = 37, elem = f64 ? sizeof(double) : sizeof(float);
    const size_t n = rows * cols;
    const int nstats = dn_op_nstats(op), ngrads = dn_op_grads(op);
    const double s0 = op == DN_OP_DYISRU ? 2.5 : op == DN_OP_DYT ? 0.7 : 1e-5, s1 = 1e-5;
    char what[64];
    snprintf(what, sizeof what, "%s %s", dn_op_name(op), f64 ? "f64" : "f32");
    void *x = fill(n, f64, 0.3), *dy = fill(n, f64, 0.0), *w = fill(cols, f64, 1.0);
    void *b = fill(cols, f64, 0.0);
    void *y1 = malloc(n * elem), *y2 = malloc(n * elem), *dx1 = malloc(n * elem), *dx2 = malloc(n * elem);
    void *st1 = calloc(2 * rows, elem), *st2 = calloc(2 * rows, elem);

    /* forward: the shim against dn_run */
    CHECK(dnpy_forward(op, f64, y1, nstats ? st1 : NULL, x, w, b, rows, cols, s0, s1) == DN_OK, what);
    dn_args a;
    memset(&a, 0, sizeof a);
    a.rows = rows, a.cols = cols, a.out = y2, a.ldo = cols, a.x = x, a.ldx = cols;
    a.w = w, a.b = b, a.s[0] = s0, a.s[1] = s1;
    for (int k = 0; k < nstats; ++k) a.stat[k] = (char *)st2 + (size_t)k * rows * elem;
    CHECK(dn_run(op, 0, f64, &a) == DN_OK, what);
    CHECK(memcmp(y1, y2, n * elem) == 0 && memcmp(st1, st2, 2 * rows * elem) == 0, what);

    /* backward: gradients in the data type, rounded once from the double sums */
    double gw[37], gb[37], gs[2] = {0, 0};
    float fw[37], fb[37], fs[2] = {0, 0};
    void *pw = f64 ? (void *)gw : (void *)fw, *pb = f64 ? (void *)gb : (void *)fb;
    void *ps0 = ngrads > 0 ? (f64 ? (void *)&gs[0] : (void *)&fs[0]) : NULL;
    void *ps1 = ngrads > 1 ? (f64 ? (void *)&gs[1] : (void *)&fs[1]) : NULL;
    CHECK(dnpy_backward(op, f64, dx1, dy, x, nstats ? st1 : NULL, w, pw, pb, ps0, ps1, rows,
                        cols, s0, s1) == DN_OK, what);
    double dw[37], db[37], ds[2] = {0, 0};
    memset(&a, 0, sizeof a);
    a.rows = rows, a.cols = cols, a.out = dx2, a.ldo = cols, a.x = x, a.ldx = cols;
    a.dy = dy, a.lddy = cols, a.w = w, a.s[0] = s0, a.s[1] = s1;
    for (int k = 0; k < nstats; ++k) a.stat[k] = (char *)st1 + (size_t)k * rows * elem;
    a.dw = dw, a.db = db, a.ds[0] = &ds[0], a.ds[1] = &ds[1];
    CHECK(dn_run(op, 1, f64, &a) == DN_OK, what);
    CHECK(memcmp(dx1, dx2, n * elem) == 0, what);
    const int has_bias = op != DN_OP_RMS_NORM;
    int same = 1;
    for (size_t j = 0; j < cols; ++j) {
        if (f64) same &= gw[j] == dw[j] && (!has_bias || gb[j] == db[j]);
        else same &= fw[j] == (float)dw[j] && (!has_bias || fb[j] == (float)db[j]);
    }
    for (int k = 0; k < ngrads; ++k) same &= f64 ? gs[k] == ds[k] : fs[k] == (float)ds[k];
    CHECK(same, what);

    free(x); free(dy); free(w); free(b); free(y1); free(y2); free(dx1); free(dx2);
    free(st1); free(st2);
}

int main(void) {
    for (int op = 0; op < DN_NOPS; ++op) {
        CHECK(dnpy_op_id(dn_op_name(op)) == op, dn_op_name(op));
        check_op(op, 0);
        check_op(op, 1);
    }
    CHECK(dnpy_op_id("no_such_op") == -1 && dnpy_op_id(NULL) == -1, "unknown op name");
    float y[4] = {7, 7, 7, 7}, x[4] = {1, 2, 3, 4};
    CHECK(dnpy_forward(DN_NOPS, 0, y, NULL, x, NULL, NULL, 1, 4, 1e-5, 0) == DN_ERR_ARG
          && dnpy_forward(-1, 0, y, NULL, x, NULL, NULL, 1, 4, 1e-5, 0) == DN_ERR_ARG
          && y[0] == 7 && y[3] == 7, "bad op id");
    printf("pyshim: %d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
