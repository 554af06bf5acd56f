/* test_util.h - what the C tests share: counted checks and a seeded
 * random source (deterministic: every run draws the same numbers). */
#ifndef DN_TEST_UTIL_H
#define DN_TEST_UTIL_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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
#endif
