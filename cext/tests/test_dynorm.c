/* test_dynorm.c - unit tests of the C library, no Python involved.
 * Every kernel on every instruction set this CPU runs, in float and double,
 * against a long double evaluation of its formula; edge sizes around the
 * vector widths, strided rows, in place, streaming stores forced on and
 * off, NaN rows, overflow, and every error code. Run under ASan/UBSan by
 * `make sanitize`: every matrix is allocated to its exact extent. */
#include "dynorm.h"
#include "internal.h" /* the kernel tables, for check_lockstep */

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define R float
#define S(name) name##_f32
#include "test_ops.inc"
#undef R
#undef S
#define R double
#define S(name) name##_f64
#include "test_ops.inc"
#undef R
#undef S

/* dn_round_f32 against the C cast, bit for bit (NaN: any NaN), at sizes
 * around every vector width, over values from every binade of float and
 * beyond its range; then the ties and range ends by value. Each output is
 * allocated to its exact extent (ASan) and a larger one keeps its tail. */
static void check_round(const char *isa) {
    static const size_t sizes[] = {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 1000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; ++k) {
        const size_t n = sizes[k];
        double *src = malloc(n * sizeof *src);
        float *dst = malloc(n * sizeof *dst), *big = malloc((n + 16) * sizeof *big);
        for (size_t i = 0; i < n; ++i) {
            const int e = (int)(rnd_uniform() * 300.0) - 160; /* 2^-160 .. 2^140 */
            src[i] = ldexp(rnd_normal(), e);
            if (i % 13 == 5) src[i] = (double)(float)src[i]; /* exact */
        }
        if (n > 9) { src[3] = NAN; src[4] = -INFINITY; src[5] = -0.0; src[6] = INFINITY; }
        for (size_t i = 0; i < n + 16; ++i) big[i] = 7.0f;
        int ok = dn_round_f32(dst, src, n) == DN_OK && dn_round_f32(big, src, n) == DN_OK;
        for (size_t i = 0; i < n; ++i) ok = ok && same_f32(dst[i], (float)src[i]) && same_f32(big[i], dst[i]);
        for (size_t i = n; i < n + 16; ++i) ok = ok && big[i] == 7.0f;
        CHECK(ok, isa);
        free(src); free(dst); free(big);
    }
    /* ties to even, the subnormal and overflow ends, -0 */
    const double in[] = {1 + 0x1p-24, 1 + 0x3p-24, 0x1p-150, 0x1.8p-149, 0x1p-150 + 0x1p-200,
                         0x1.fffffe8p127, 0x1.ffffffp127, -0x1.ffffffp127, 0x1p-149, -0.0, 1e300, 3.0};
    const float want[] = {1.0f, 1 + 0x1p-22f, 0.0f, 0x1p-148f, 0x1p-149f,
                          FLT_MAX, INFINITY, -INFINITY, 0x1p-149f, -0.0f, INFINITY, 3.0f};
    float out[12];
    int ok = dn_round_f32(out, in, 12) == DN_OK;
    for (int i = 0; i < 12; ++i) ok = ok && same_f32(out[i], want[i]);
    CHECK(ok, isa);
    double d[4] = {1, 2, 3, 4};
    CHECK(dn_round_f32(NULL, d, 4) == DN_ERR_NULL && dn_round_f32(out, NULL, 4) == DN_ERR_NULL, "round null");
    CHECK(dn_round_f32(NULL, NULL, 0) == DN_OK, "round n = 0");
    CHECK(dn_round_f32((float *)(void *)(d + 1), d, 4) == DN_ERR_ALIAS, "round overlap");
}

/* Every op, both dtypes, with every array at an odd byte address (as from
 * np.frombuffer(buf, offset=1)): the same bits as with aligned arrays, and
 * no misaligned access (UBSan, `make sanitize`). Streaming is asked for
 * (threshold 1), which a misaligned output must decline; the call is also
 * split over 2 threads, whose partial sums are added into the misaligned
 * gradients. Driven through dn_run with every field set (an op ignores what
 * it does not use), so a new op is covered too. */
typedef struct { char *p; size_t n; } blob;
static char *at_odd(blob *b, const void *src, size_t n, size_t off) {
    b->n = n;
    b->p = (char *)malloc(n + off);
    if (src) memcpy(b->p + off, src, n); else memset(b->p + off, 0, n);
    return b->p + off;
}
static void check_misaligned(const char *isa) {
    const size_t rows = 9, cols = 37, ld = 41;
    const size_t offs[] = {1, 3};
    dn_set_stream_threshold(1);
    dn_set_parallel_threshold(1);
    for (int f64 = 0; f64 < 2; ++f64)
        for (int op = 0; op < DN_NOPS; ++op)
            for (int thr = 1; thr <= 2; thr++)
                for (size_t o = 0; o < 2; ++o) {
                    const size_t e = f64 ? 8 : 4, nm = ((rows - 1) * ld + cols) * e;
                    char what[64];
                    snprintf(what, sizeof what, "%s op %d %s threads %d offset %zu", isa, op, f64 ? "f64" : "f32", thr, offs[o]);
                    dn_set_num_threads(thr);
                    /* aligned inputs and reference outputs */
                    char *x = malloc(nm), *dy = malloc(nm), *w = malloc(cols * e), *b = malloc(cols * e);
                    for (size_t k = 0; k < nm / e; ++k) {
                        const double v = 0.3 + 1.5 * rnd_normal(), d = rnd_normal();
                        if (f64) memcpy(x + 8 * k, &v, 8), memcpy(dy + 8 * k, &d, 8);
                        else { const float fv = (float)v, fd = (float)d; memcpy(x + 4 * k, &fv, 4), memcpy(dy + 4 * k, &fd, 4); }
                    }
                    for (size_t k = 0; k < cols; ++k) {
                        const double v = 1 + 0.3 * rnd_normal(), u = 0.3 * rnd_normal();
                        if (f64) memcpy(w + 8 * k, &v, 8), memcpy(b + 8 * k, &u, 8);
                        else { const float fv = (float)v, fu = (float)u; memcpy(w + 4 * k, &fv, 4), memcpy(b + 4 * k, &fu, 4); }
                    }
                    char *y = calloc(nm, 1), *dx = calloc(nm, 1), *s0 = calloc(rows, e), *s1 = calloc(rows, e);
                    double *dw = calloc(cols, 8), *db = calloc(cols, 8), ds[2] = {0, 0};
                    dn_args a;
                    memset(&a, 0, sizeof a);
                    a.rows = rows, a.cols = cols, a.ldo = ld, a.ldx = ld, a.lddy = ld;
                    a.s[0] = 0.7, a.s[1] = 1e-5, a.s[2] = 0.5;
                    a.out = y, a.x = x, a.w = w, a.b = b, a.stat[0] = s0, a.stat[1] = s1;
                    CHECK(dn_run(op, 0, f64, &a) == DN_OK, what);
                    a.out = dx, a.dy = dy, a.dw = dw, a.db = db, a.ds[0] = &ds[0], a.ds[1] = &ds[1];
                    CHECK(dn_run(op, 1, f64, &a) == DN_OK, what);
                    /* the same at odd addresses */
                    blob bl[12];
                    memset(&a, 0, sizeof a);
                    a.rows = rows, a.cols = cols, a.ldo = ld, a.ldx = ld, a.lddy = ld;
                    a.s[0] = 0.7, a.s[1] = 1e-5, a.s[2] = 0.5;
                    a.out = at_odd(&bl[0], NULL, nm, offs[o]);
                    a.x = at_odd(&bl[1], x, nm, offs[o]);
                    a.w = at_odd(&bl[2], w, cols * e, offs[o]);
                    a.b = at_odd(&bl[3], b, cols * e, offs[o]);
                    a.stat[0] = at_odd(&bl[4], NULL, rows * e, offs[o]);
                    a.stat[1] = at_odd(&bl[5], NULL, rows * e, offs[o]);
                    CHECK(dn_run(op, 0, f64, &a) == DN_OK, what);
                    CHECK(memcmp(a.out, y, nm) == 0, what);
                    CHECK(memcmp(a.stat[0], s0, rows * e) == 0 && memcmp(a.stat[1], s1, rows * e) == 0, what);
                    a.out = at_odd(&bl[6], NULL, nm, offs[o]);
                    a.dy = at_odd(&bl[7], dy, nm, offs[o]);
                    a.dw = (double *)(void *)at_odd(&bl[8], NULL, cols * 8, offs[o]);
                    a.db = (double *)(void *)at_odd(&bl[9], NULL, cols * 8, offs[o]);
                    a.ds[0] = (double *)(void *)at_odd(&bl[10], NULL, 8, offs[o]);
                    a.ds[1] = (double *)(void *)at_odd(&bl[11], NULL, 8, offs[o]);
                    CHECK(dn_run(op, 1, f64, &a) == DN_OK, what);
                    CHECK(memcmp(a.out, dx, nm) == 0, what);
                    CHECK(memcmp(a.dw, dw, cols * 8) == 0 && memcmp(a.db, db, cols * 8) == 0, what);
                    CHECK(memcmp(a.ds[0], &ds[0], 8) == 0 && memcmp(a.ds[1], &ds[1], 8) == 0, what);
                    for (int k = 0; k < 12; ++k) free(bl[k].p);
                    free(x); free(dy); free(w); free(b); free(y); free(dx); free(s0); free(s1); free(dw); free(db);
                }
    dn_set_num_threads(0);
    dn_set_parallel_threshold(0);
    dn_set_stream_threshold(0);
}

/* dn_run's own checks; its typed wrappers are checked per op above. */
static void check_run_args(void) {
    dn_args a;
    memset(&a, 0, sizeof a);
    a.cols = 4, a.s[0] = 1;
    CHECK(dn_run(DN_OP_DYT, 0, 0, NULL) == DN_ERR_NULL, "dn_run NULL args");
    CHECK(dn_run(-1, 0, 0, &a) == DN_ERR_ARG && dn_run(DN_NOPS, 0, 0, &a) == DN_ERR_ARG, "dn_run op");
    CHECK(dn_run(DN_OP_DYT, 2, 0, &a) == DN_ERR_ARG && dn_run(DN_OP_DYT, 0, -1, &a) == DN_ERR_ARG, "dn_run dir, f64");
    CHECK(dn_run(DN_OP_DYT, 0, 0, &a) == DN_OK, "dn_run rows 0");
    a.rows = 1;
    CHECK(dn_run(DN_OP_DYT, 0, 0, &a) == DN_ERR_NULL, "dn_run no x");
    CHECK(strcmp(dn_op_name(DN_OP_LAYER_NORM), "layer_norm") == 0 && strcmp(dn_op_name(DN_OP_DYISRU), "dyisru") == 0 &&
          dn_op_name(DN_NOPS) == NULL && dn_op_name(-1) == NULL, "dn_op_name");
}

int main(void) {
    static const size_t cols_list[] = {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 100, 257, 768};
    const int nisa = dn_isa_count();
    CHECK(dn_set_isa("no-such-isa") == DN_ERR_ISA, "unknown isa");
    for (int k = 0; k < nisa; ++k) {
        const char *isa = dn_isa_name(k);
        CHECK(dn_set_isa(isa) == DN_OK && strcmp(dn_get_isa(), isa) == 0, isa);
        for (size_t c = 0; c < sizeof cols_list / sizeof *cols_list; ++c)
            for (int v = 0; v < 8; ++v) {
                const size_t rows = 1 + (size_t)(v % 3) * 2, pad = (v & 1) ? 3 : 0;
                check_case_f32(isa, rows, cols_list[c], pad, v & 2, v & 4, v == 5, v >= 4);
                check_case_f64(isa, rows, cols_list[c], pad, v & 2, v & 4, v == 5, v >= 4);
            }
        check_special_f32(isa);
        check_special_f64(isa);
        check_stream_heads_f32(isa);
        check_stream_heads_f64(isa);
        check_lockstep_f32(isa);
        check_lockstep_f64(isa);
        check_round(isa);
        check_errors_f32();
        check_errors_f64();
        check_alias_f32();
        check_alias_f64();
        check_misaligned(isa);
        printf("isa %-7s checked\n", isa);
    }
    check_run_args();
    dn_set_isa(NULL);
    dn_set_stream_threshold(0);
    printf("worst relative errors against long double:\n");
    for (int k = 0; k < nworst; ++k) printf("  %-26s %.3g\n", worst_name[k], worst[k]);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
