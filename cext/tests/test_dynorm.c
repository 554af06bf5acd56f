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

static int failures, checks;
#define CHECK(cond, what)                                                      \
    do {                                                                       \
        ++checks;                                                              \
        if (!(cond)) {                                                         \
            ++failures;                                                        \
            if (failures < 30) fprintf(stderr, "FAIL %s:%d: %s [%s]\n", __FILE__, __LINE__, #cond, what); \
        }                                                                      \
    } while (0)
static double worst[64];
static const char *worst_name[64];
static int nworst;
static void note_err(const char *name, double e) {
    for (int k = 0; k < nworst; ++k)
        if (strcmp(worst_name[k], name) == 0) { if (e > worst[k]) worst[k] = e; return; }
    worst_name[nworst] = name; worst[nworst++] = e;
}
#define CHECK_ERR(err, tol, name, what)                                        \
    do {                                                                       \
        double e_ = (err);                                                     \
        note_err(sizeof(R) == 4 ? name " f32" : name " f64", e_);              \
        CHECK(e_ <= (tol), what);                                              \
        if (!(e_ <= (tol)) && failures < 30) fprintf(stderr, "  %s: %.3g > %.3g\n", name, e_, (double)(tol)); \
    } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double rnd_uniform(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}
static double rnd_normal(void) {
    double u = rnd_uniform(), v = rnd_uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

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
