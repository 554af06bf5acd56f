/* sweep.c - exhaustive float32 error sweep of the vectorized math (vmath.inc).
 *
 * Every one of the 2^32 float32 bit patterns goes through each function on
 * each instruction set this CPU runs (through the kernel tables' array entry
 * points, in blocks of 64Ki inputs), and is compared with a float64
 * reference evaluated once per input and shared by all ISAs (and, the
 * functions being odd or even, by +x and -x):
 *   tanh, sech^2   a < 0.35: e = expm1(-2a), t = -e/(2+e), s = 1 - t^2;
 *                  else      E = exp(-2a), t = (1-E)/(1+E), s = 4E/(1+E)^2;
 *                  relative error a few 2^-53 (glibc expm1/exp < 1 ULP).
 *   isru           x / sqrt(c + x^2) in double, c the float the kernel sees
 *                  ((float)c: the kernels take c in their own precision);
 *                  x^2 is exact in double, so the error is ~2^-52.
 * Error in ULP = |got - ref| / ulp(ref), ulp(ref) = the float32 spacing at
 * |ref|: 2^(e - 23) for 2^e <= |ref| < 2^(e+1), e >= -126; below 2^-126
 * (subnormal results, and ref = 0) the subnormal spacing 2^-149. A NaN or
 * infinite result where the reference is finite counts as infinite error.
 * Exact checks, each failure counted in "bad": NaN input gives NaN; a zero
 * reference (tanh(+-0), isru(+-0)) needs a zero of the same sign; +-inf gives
 * exactly the reference (tanh +-1, sech^2 0, isru +-1); |tanh|, |isru| <= 1;
 * 0 <= sech^2 <= 1. The tanh that tanh_sech2 returns (the backward's, a
 * different evaluation from the forward's) is measured as its own line,
 * "tanh(sech2)", against the same reference and bound.
 *
 * Usage: sweep [-t threads (2)] [-s step: every step-th block pair only,
 *        a quick sampled run] [-i isa] [-q] [-r lo hi: only the inputs whose
 *        top 16 bits (sign cleared) are in [lo, hi), hex; both signs]
 * Prints one line per (function, ISA): max ULP, worst input, results over
 * 1 ULP, bad, kernel time; exits 1 if a bound below is exceeded or any exact
 * check fails. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"

/* Documented bounds (vmath.inc); the sweep fails above them. */
#define BOUND_TANH 2.0
#define BOUND_FAST 6.0
#define BOUND_SECH2 3.5
#define BOUND_ISRU 4.0

#define NC 5
static const double isru_c[NC] = { 1e-5, 0.25, 4.0, 301.06, 1e6 };

enum { F_TANH, F_FAST, F_SECH2, F_TANH2, F_ISRU, NF = F_ISRU + NC };
static const char *fname(int f, char *buf) {
    switch (f) {
    case F_TANH: return "tanh";
    case F_FAST: return "tanh_fast";
    case F_SECH2: return "sech2";
    case F_TANH2: return "tanh(sech2)";
    default: sprintf(buf, "isru c=%g", isru_c[f - F_ISRU]); return buf;
    }
}
static double fbound(int f) {
    switch (f) {
    case F_TANH: case F_TANH2: return BOUND_TANH;
    case F_FAST: return BOUND_FAST;
    case F_SECH2: return BOUND_SECH2;
    default: return BOUND_ISRU;
    }
}

#define BLK 65536
#define MAXISA 4

typedef struct {
    double maxerr;
    uint32_t worst;
    float worst_got;
    double worst_ref;
    uint64_t over1, bad, n;
    uint32_t first_bad;
    double secs;
} stat_t;

static const dn_kernels *isas[MAXISA];
static int nisa;
static int nthreads = 2, step = 1;
static uint32_t pair_end = 32768u;  /* -r: sweep pairs [next_pair, pair_end) */
static uint32_t next_pair;          /* atomic work counter */
static stat_t gstat[MAXISA][NF];
static pthread_mutex_t gmu = PTHREAD_MUTEX_INITIALIZER;

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint64_t d2u(double f) { uint64_t u; memcpy(&u, &f, 8); return u; }
static inline double u2d(uint64_t u) { double f; memcpy(&f, &u, 8); return f; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The error of one result in ULP (NaN if got is NaN). */
static inline double ulp_err(float g, double r) {
    uint64_t rb, sb;
    double sc;
    memcpy(&rb, &r, 8);
    rb = (rb >> 52) & 0x7ff;
    rb = rb < 1023 - 126 ? 1023 - 126 : rb;
    sb = (uint64_t)(1023 + 23 + 1023 - rb) << 52;  /* 2^(23 - e) */
    memcpy(&sc, &sb, 8);
    return fabs((double)g - r) * sc;
}

/* Fast path for blocks without NaN, inf or zero inputs: max error, count
 * over 1 ULP, count out of range (|g| <= 1 for odd functions, 0 <= g <= 1
 * for sech^2; a NaN result is out of range). */
static void errs_block_c(const float *got, const double *ref, double sign, int even,
                         double *emax, uint64_t *over, uint64_t *bad)
{
    double m = 0;
    uint64_t c = 0, b = 0;
    for (size_t i = 0; i < BLK; ++i) {
        const float g = got[i];
        const double e = ulp_err(g, even ? ref[i] : sign * ref[i]);
        m = e > m ? e : m;
        c += e > 1.0;
        b += even ? !(g >= 0.0f && g <= 1.0f) : !(fabsf(g) <= 1.0f);
    }
    *emax = m; *over = c; *bad = b;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_ERRS_AVX2 1
__attribute__((target("avx2")))
static void errs_block_avx2(const float *got, const double *ref, double sign, int even,
                            double *emax, uint64_t *over, uint64_t *bad)
{
    const __m256d vs = _mm256_set1_pd(even ? 1.0 : sign);
    const __m256i emask = _mm256_set1_epi64x(0x7ff), emin = _mm256_set1_epi64x(1023 - 126);
    const __m256i ebase = _mm256_set1_epi64x(1023 + 23 + 1023);
    const __m256d absm = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffll));
    const __m256d one = _mm256_set1_pd(1.0), lo = _mm256_set1_pd(even ? 0.0 : -1.0);
    __m256d m = _mm256_setzero_pd();
    __m256i c = _mm256_setzero_si256(), b = _mm256_setzero_si256();
    for (size_t i = 0; i < BLK; i += 4) {
        const __m256d g = _mm256_cvtps_pd(_mm_loadu_ps(got + i));
        const __m256d r = _mm256_mul_pd(_mm256_loadu_pd(ref + i), vs);
        __m256i e = _mm256_and_si256(_mm256_srli_epi64(_mm256_castpd_si256(r), 52), emask);
        e = _mm256_blendv_epi8(e, emin, _mm256_cmpgt_epi64(emin, e));
        const __m256d sc = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_sub_epi64(ebase, e), 52));
        const __m256d err = _mm256_mul_pd(_mm256_and_pd(_mm256_sub_pd(g, r), absm), sc);
        m = _mm256_max_pd(err, m);       /* a NaN err keeps m: NaN g is counted in b */
        c = _mm256_sub_epi64(c, _mm256_castpd_si256(_mm256_cmp_pd(err, one, _CMP_GT_OQ)));
        const __m256d inr = _mm256_and_pd(_mm256_cmp_pd(g, lo, _CMP_GE_OQ), _mm256_cmp_pd(g, one, _CMP_LE_OQ));
        b = _mm256_sub_epi64(b, _mm256_castpd_si256(_mm256_xor_pd(inr, _mm256_castsi256_pd(_mm256_set1_epi64x(-1)))));
    }
    double mm[4];
    uint64_t cc[4], bb[4];
    _mm256_storeu_pd(mm, m);
    _mm256_storeu_si256((__m256i *)cc, c);
    _mm256_storeu_si256((__m256i *)bb, b);
    *emax = mm[0];
    for (int k = 1; k < 4; ++k) *emax = mm[k] > *emax ? mm[k] : *emax;
    *over = cc[0] + cc[1] + cc[2] + cc[3];
    *bad = bb[0] + bb[1] + bb[2] + bb[3];
}
#endif

#ifdef HAVE_ERRS_AVX2
static int use_avx2;
#endif

static void errs_block(const float *got, const double *ref, double sign, int even,
                       double *emax, uint64_t *over, uint64_t *bad)
{
#ifdef HAVE_ERRS_AVX2
    if (use_avx2) { errs_block_avx2(got, ref, sign, even, emax, over, bad); return; }
#endif
    errs_block_c(got, ref, sign, even, emax, over, bad);
}

/* compare got[] with sign*ref[] for inputs x[]; `special` blocks hold NaN,
 * inf or zero inputs and take the slow path with the exact checks. */
static void compare(stat_t *st, int f, const float *x, const float *got,
                    const double *ref, double sign, int special)
{
    const int even = f == F_SECH2;
    if (!special) {
        double m;
        uint64_t over, bad;
        errs_block(got, ref, sign, even, &m, &over, &bad);
        st->over1 += over;
        st->n += BLK;
        if (bad) {
            for (size_t i = 0; i < BLK; ++i) {
                const float g = got[i];
                if (even ? !(g >= 0.0f && g <= 1.0f) : !(fabsf(g) <= 1.0f)) {
                    if (!st->bad) st->first_bad = f2u(x[i]);
                    break;
                }
            }
            st->bad += bad;
        }
        if (m > st->maxerr) {
            for (size_t i = 0; i < BLK; ++i) {
                const double r = even ? ref[i] : sign * ref[i];
                if (ulp_err(got[i], r) == m) {
                    st->maxerr = m;
                    st->worst = f2u(x[i]);
                    st->worst_got = got[i];
                    st->worst_ref = r;
                    break;
                }
            }
        }
        return;
    }
    for (size_t i = 0; i < BLK; ++i) {
        const float g = got[i];
        const double r = even ? ref[i] : sign * ref[i];
        const float xi = x[i];
        double e = 0;
        int isbad;
        if (r != r) {
            isbad = g == g;
        } else {
            e = ulp_err(g, r);
            if (e != e) e = INFINITY;
            isbad = even ? !(g >= 0.0f && g <= 1.0f) : !(fabsf(g) <= 1.0f);
            if (r == 0) isbad |= g != 0 || !signbit(g) != !signbit(r);
            if (isinf(xi)) isbad |= (double)g != r;
        }
        if (e > 1) ++st->over1;
        if (isbad) {
            if (!st->bad) st->first_bad = f2u(xi);
            ++st->bad;
        }
        if (e > st->maxerr) {
            st->maxerr = e;
            st->worst = f2u(xi);
            st->worst_got = g;
            st->worst_ref = r;
        }
    }
    st->n += BLK;
}

static void *worker(void *arg)
{
    (void)arg;
    stat_t (*st)[NF] = calloc(MAXISA, sizeof *st);
    float *x = malloc(BLK * sizeof *x);
    float (*out)[BLK] = malloc(NF * sizeof *out);
    double *rt = malloc(BLK * sizeof *rt), *rs = malloc(BLK * sizeof *rs);
    double *ad = malloc(BLK * sizeof *ad);
    double (*ru)[BLK] = malloc(NC * sizeof *ru);
    float cf[NC];
    for (int j = 0; j < NC; ++j) cf[j] = (float)isru_c[j];
    if (!st || !x || !out || !rt || !rs || !ru || !ad) { fprintf(stderr, "out of memory\n"); exit(2); }

    for (;;) {
        uint32_t pair = __atomic_fetch_add(&next_pair, (uint32_t)step, __ATOMIC_RELAXED);
        if (pair >= pair_end) break;
        const uint32_t base = pair << 16;
        const int special = pair == 0 || pair >= 0x7f80u;
        /* reference for the positive inputs */
        for (uint32_t i = 0; i < BLK; ++i) {
            const double a = (double)u2f(base + i);
            ad[i] = a;
            if (a != a) {
                rt[i] = rs[i] = NAN;
            } else if (a < 0.35) {
                const double em = expm1(-2.0 * a);
                rt[i] = -em / (2.0 + em);
                rs[i] = (1.0 - rt[i]) * (1.0 + rt[i]);
            } else if (a < 400.0) {
                const double E = exp(-2.0 * a);
                rt[i] = (1.0 - E) / (1.0 + E);
                rs[i] = 4.0 * E / ((1.0 + E) * (1.0 + E));
            } else {                /* E < 2^-1150: tanh = 1, sech^2 = 0 */
                rt[i] = 1.0;
                rs[i] = 0.0;
            }
        }
        for (int j = 0; j < NC; ++j) {
            const double c = (double)cf[j];
            double *u = ru[j];
            for (uint32_t i = 0; i < BLK; ++i) {   /* vectorizable */
                const double a = ad[i];
                const double v = a / sqrt(c + a * a);
                u[i] = a > 1e300 ? 1.0 : v;            /* +inf; NaN stays NaN */
            }
        }
        for (int sgn = 0; sgn < 2; ++sgn) {
            const uint32_t b = base | (sgn ? 0x80000000u : 0u);
            const double sign = sgn ? -1.0 : 1.0;
            for (uint32_t i = 0; i < BLK; ++i) x[i] = u2f(b + i);
            for (int k = 0; k < nisa; ++k) {
                const dn_kernels *K = isas[k];
                double t0 = now();
                K->tanh_f32(out[F_TANH], x, BLK);
                double t1 = now();
                K->tanh_fast_f32(out[F_FAST], x, BLK);
                double t2 = now();
                K->tanh_sech2_f32(out[F_TANH2], out[F_SECH2], x, BLK);
                double t3 = now();
                st[k][F_TANH].secs += t1 - t0;
                st[k][F_FAST].secs += t2 - t1;
                st[k][F_SECH2].secs += t3 - t2;
                st[k][F_TANH2].secs += t3 - t2;
                for (int j = 0; j < NC; ++j) {
                    double u0 = now();
                    K->isru_f32(out[F_ISRU + j], x, BLK, isru_c[j]);
                    st[k][F_ISRU + j].secs += now() - u0;
                }
                compare(&st[k][F_TANH], F_TANH, x, out[F_TANH], rt, sign, special);
                compare(&st[k][F_FAST], F_FAST, x, out[F_FAST], rt, sign, special);
                compare(&st[k][F_SECH2], F_SECH2, x, out[F_SECH2], rs, sign, special);
                compare(&st[k][F_TANH2], F_TANH2, x, out[F_TANH2], rt, sign, special);
                for (int j = 0; j < NC; ++j)
                    compare(&st[k][F_ISRU + j], F_ISRU + j, x, out[F_ISRU + j], ru[j], sign, special);
            }
        }
    }

    pthread_mutex_lock(&gmu);
    for (int k = 0; k < nisa; ++k)
        for (int f = 0; f < NF; ++f) {
            stat_t *g = &gstat[k][f], *s = &st[k][f];
            if (s->maxerr > g->maxerr || (s->maxerr == g->maxerr && s->worst < g->worst && g->n)) {
                g->maxerr = s->maxerr; g->worst = s->worst;
                g->worst_got = s->worst_got; g->worst_ref = s->worst_ref;
            }
            if (s->bad && (!g->bad || s->first_bad < g->first_bad)) g->first_bad = s->first_bad;
            g->over1 += s->over1; g->bad += s->bad; g->n += s->n; g->secs += s->secs;
        }
    pthread_mutex_unlock(&gmu);
    free(st); free(x); free(out); free(rt); free(rs); free(ru); free(ad);
    return NULL;
}

static int cpu_runs(const char *name)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!strcmp(name, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    (void)name;
    return 1;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    int lo_set = 0;
    int quiet = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) nthreads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) step = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-i") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "-q")) quiet = 1;
        else if (!strcmp(argv[i], "-r") && i + 2 < argc) {   /* -r lo hi: bits lo<<16 .. hi<<16 */
            next_pair = (uint32_t)strtoul(argv[i + 1], NULL, 16) & 0x7fffu;
            pair_end = (uint32_t)strtoul(argv[i + 2], NULL, 16);
            if (pair_end > 32768u) pair_end = 32768u;
            lo_set = next_pair != 0;
            i += 2;
        }
        else {
            fprintf(stderr, "usage: %s [-t threads] [-s step] [-i isa] [-q] [-r lo hi]\n", argv[0]);
            return 2;
        }
    }
    if (nthreads < 1) nthreads = 1;
    if (step < 1) step = 1;

    static const char *names[] = { "scalar", "avx2", "avx512", "neon" };
    for (int i = 0; i < 4; ++i) {
        if (only && strcmp(only, names[i])) continue;
        if (!cpu_runs(names[i])) continue;
        const dn_kernels *t = dn_kernels_for(names[i]);
        if (t) isas[nisa++] = t;
    }
#ifdef HAVE_ERRS_AVX2
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2");
#endif
    if (!nisa) { fprintf(stderr, "no instruction set to sweep\n"); return 2; }

    const double t0 = now();
    pthread_t th[64];
    if (nthreads > 64) nthreads = 64;
    for (int i = 0; i < nthreads; ++i) pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < nthreads; ++i) pthread_join(th[i], NULL);
    const double wall = now() - t0;

    int fail = 0;
    char buf[64];
    printf("%-14s %-7s %9s  %-10s %-16s %12s %6s %8s %7s\n", "function", "isa", "max_ulp",
           "worst_bits", "worst_x", ">1ulp", "bad", "time_s", "ns/x");
    for (int f = 0; f < NF; ++f)
        for (int k = 0; k < nisa; ++k) {
            const stat_t *s = &gstat[k][f];
            const int over = s->maxerr > fbound(f) || s->bad;
            fail |= over;
            printf("%-14s %-7s %9.4f  0x%08x %-16.9g %12llu %6llu %8.2f %7.2f%s\n",
                   fname(f, buf), isas[k]->name, s->maxerr, (unsigned)s->worst,
                   (double)u2f(s->worst), (unsigned long long)s->over1,
                   (unsigned long long)s->bad, s->secs,
                   s->n ? 1e9 * s->secs / (double)s->n : 0.0,
                   over ? "  FAIL" : "");
            if (!quiet)
                printf("%-14s %-7s   got %.9g ref %.17g%s\n", "", "", (double)s->worst_got,
                       s->worst_ref, "");
            if (s->bad)
                printf("%-14s %-7s   first bad input 0x%08x\n", "", "", (unsigned)s->first_bad);
        }
    printf("bounds: tanh %.1f, tanh_fast %.1f, sech2 %.1f, isru %.1f ULP; %s inputs per line%s; "
           "%d threads; wall %.1f s\n", BOUND_TANH, BOUND_FAST, BOUND_SECH2, BOUND_ISRU,
           step == 1 && pair_end == 32768u && !lo_set ? "all 2^32" : "SAMPLED", step == 1 && pair_end == 32768u && !lo_set ? "" : " (-s/-r)", nthreads, wall);
    printf("%s\n", fail ? "SWEEP FAILED" : "sweep passed");
    return fail;
}
