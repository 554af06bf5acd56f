/* test_vmath64.c - error of the float64 vector math (vmath.inc) on sampled
 * inputs, against long double (x87, 64-bit mantissa) references:
 *   tanh    tanhl;  sech^2   a < 0.35: (1-t)(1+t), else 4E/(1+E)^2 with
 *           E = expl(-2a);  isru   x / sqrtl(c + x*x).
 * An exhaustive sweep is impossible for 2^64 inputs, so the inputs are:
 *   - every binade of the double range (subnormals included), both signs,
 *     NB random mantissas each;
 *   - NU uniform random values in [0, 40) and in [0, 1) (where tanh and
 *     sech^2 are curved, and across the 0.55 switch of the two forms);
 *   - dense runs of consecutive doubles around the places where the
 *     algorithm changes form or the result changes binade (0.55, atanh of
 *     2^-k, the clamps, the isru clamp) and the special values.
 * ULP as in sweep.c, for double: |got - ref| / 2^(e - 52), e = exponent of
 * |ref|, at least -1022. Exact checks: NaN -> NaN, +-inf -> reference, zero
 * reference -> zero of the same sign, |tanh|, |isru| <= 1, 0 <= sech^2 <= 1.
 * Prints one line per (function, ISA); exits 1 over the bounds below. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define BOUND_TANH 2.0
#define BOUND_SECH2 3.5
#define BOUND_ISRU 3.0

#define NB 2000
#define NU 2000000
#define NC 5
static const double isru_c[NC] = { 1e-5, 0.25, 4.0, 301.06, 1e6 };

enum { F_TANH, F_FAST, F_SECH2, F_TANH2, F_ISRU, NF = F_ISRU + NC };

typedef struct { double maxerr, worst, got, ref; uint64_t over1, bad, n; double first_bad; } stat_t;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {             /* xorshift64* */
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}
static double u2d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

static long double ulp_err(double g, long double r) {
    if (g != g) return INFINITY;
    int e;
    frexpl(fabsl(r), &e);                 /* |r| = m 2^e, m in [0.5, 1) */
    e -= 1;
    if (e < -1022) e = -1022;
    return fabsl((long double)g - r) / ldexpl(1.0L, e - 52);
}

static void check(stat_t *st, int odd, int range, const double *x, const double *got,
                  const long double *ref, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        const double g = got[i];
        const long double r = ref[i];
        long double e = 0;
        int bad = 0;
        if (r != r) bad = g == g;
        else {
            e = ulp_err(g, r);
            if (r == 0) bad |= g != 0 || !signbit(g) != !signbit(r);
            if (isinf(x[i])) bad |= (long double)g != r;
            if (range) bad |= odd ? !(fabs(g) <= 1) : !(g >= 0 && g <= 1);
        }
        if (e > 1) ++st->over1;
        if (bad && !st->bad++) st->first_bad = x[i];
        if (e > st->maxerr) { st->maxerr = (double)e; st->worst = x[i]; st->got = g; st->ref = (double)r; }
        ++st->n;
    }
}

int main(void)
{
    /* inputs */
    size_t cap = 8u << 20, n = 0;
    double *x = malloc(cap * sizeof *x);
    if (!x) return 2;
#define PUSH(v) do { if (n < cap) x[n++] = (v); } while (0)
    for (int e = 0; e < 2047; ++e)               /* every binade incl. subnormals */
        for (int k = 0; k < NB; ++k) {
            const uint64_t m = next() & 0xfffffffffffffull;
            PUSH(u2d(((uint64_t)e << 52) | m));
            PUSH(-u2d(((uint64_t)e << 52) | m));
        }
    for (int k = 0; k < NU; ++k) {
        const double u = (double)(next() >> 11) * 0x1p-53;
        PUSH(40.0 * u);
        PUSH(-u);
    }
    {
        double marks[64];
        int nm = 0;
        marks[nm++] = 0.55; marks[nm++] = 0.35; marks[nm++] = 375.0; marks[nm++] = 0x1p100;
        marks[nm++] = 20.0; marks[nm++] = 10.0;
        marks[nm++] = 19.06; marks[nm++] = 372.5; marks[nm++] = 1.0; marks[nm++] = 0x1p-26;
        for (int k = 1; k <= 40; ++k) marks[nm++] = atanh(ldexp(1.0, -k));   /* t = 2^-k */
        for (int m = 0; m < nm; ++m) {
            double v = marks[m];
            for (int k = 0; k < 2000; ++k) v = nextafter(v, 0);
            for (int k = 0; k < 4000; ++k) { PUSH(v); PUSH(-v); v = nextafter(v, INFINITY); }
        }
        const double sp[] = { 0.0, -0.0, INFINITY, -INFINITY, NAN, -NAN, 0x1p-1074, -0x1p-1074,
                              0x1p-1022, 1.7976931348623157e308, -1.7976931348623157e308 };
        for (size_t k = 0; k < sizeof sp / sizeof sp[0]; ++k) PUSH(sp[k]);
    }

    /* references */
    long double *rt = malloc(n * sizeof *rt), *rs = malloc(n * sizeof *rs);
    long double *ru = malloc(NC * n * sizeof *ru);
    double *y = malloc(n * sizeof *y), *y2 = malloc(n * sizeof *y2);
    if (!rt || !rs || !ru || !y || !y2) return 2;
    for (size_t i = 0; i < n; ++i) {
        const long double v = x[i], a = fabsl(v);
        if (v != v) { rt[i] = rs[i] = NAN; }
        else {
            rt[i] = tanhl(v);
            if (a < 0.35L) rs[i] = (1.0L - rt[i]) * (1.0L + rt[i]);
            else { const long double E = expl(-2.0L * a); rs[i] = 4.0L * E / ((1.0L + E) * (1.0L + E)); }
        }
        for (int j = 0; j < NC; ++j)
            ru[j * n + i] = isinf(x[i]) ? copysignl(1.0L, v) : v / sqrtl((long double)isru_c[j] + v * v);
    }

    static const char *names[] = { "scalar", "avx2", "avx512", "neon" };
    int fail = 0;
    printf("%zu inputs a function\n", n);
    printf("%-14s %-7s %8s  %-24s %10s %5s\n", "function", "isa", "max_ulp", "worst_x", ">1ulp", "bad");
    for (int k = 0; k < 4; ++k) {
        const dn_kernels *K = dn_kernels_for(names[k]);
        if (!K) continue;
        stat_t st[NF];
        memset(st, 0, sizeof st);
        K->tanh_f64(y, x, n);
        check(&st[F_TANH], 1, 1, x, y, rt, n);
        K->tanh_fast_f64(y, x, n);
        check(&st[F_FAST], 1, 1, x, y, rt, n);
        K->tanh_sech2_f64(y2, y, x, n);
        check(&st[F_SECH2], 0, 1, x, y, rs, n);
        check(&st[F_TANH2], 1, 1, x, y2, rt, n);
        for (int j = 0; j < NC; ++j) {
            K->isru_f64(y, x, n, isru_c[j]);
            check(&st[F_ISRU + j], 1, 1, x, y, ru + j * n, n);
        }
        for (int f = 0; f < NF; ++f) {
            char nm[32];
            const double bound = f == F_SECH2 ? BOUND_SECH2 : f >= F_ISRU ? BOUND_ISRU : BOUND_TANH;
            if (f == F_TANH) strcpy(nm, "tanh");
            else if (f == F_FAST) strcpy(nm, "tanh_fast");
            else if (f == F_SECH2) strcpy(nm, "sech2");
            else if (f == F_TANH2) strcpy(nm, "tanh(sech2)");
            else sprintf(nm, "isru c=%g", isru_c[f - F_ISRU]);
            const int over = st[f].maxerr > bound || st[f].bad;
            fail |= over;
            printf("%-14s %-7s %8.4f  %-24.17g %10llu %5llu%s\n", nm, K->name, st[f].maxerr,
                   st[f].worst, (unsigned long long)st[f].over1, (unsigned long long)st[f].bad,
                   over ? "  FAIL" : "");
            if (st[f].bad) printf("%-22s first bad input %.17g\n", "", st[f].first_bad);
        }
    }
    printf("bounds: tanh %.1f, sech2 %.1f, isru %.1f ULP (float64, sampled)\n%s\n",
           BOUND_TANH, BOUND_SECH2, BOUND_ISRU, fail ? "VMATH64 FAILED" : "vmath64 passed");
    free(x); free(rt); free(rs); free(ru); free(y); free(y2);
    return fail;
}
