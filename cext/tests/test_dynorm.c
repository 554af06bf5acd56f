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
        printf("isa %-7s checked\n", isa);
    }
    dn_set_isa(NULL);
    dn_set_stream_threshold(0);
    printf("worst relative errors against long double:\n");
    for (int k = 0; k < nworst; ++k) printf("  %-26s %.3g\n", worst_name[k], worst[k]);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
