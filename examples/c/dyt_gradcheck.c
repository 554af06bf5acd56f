/* dyt_gradcheck.c - dynorm's C library on its own: a DyT layer's forward and
 * backward, checked against central finite differences of a loss.
 *
 *   make -C cext install PREFIX=$HOME/.local
 *   export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig
 *   cc examples/c/dyt_gradcheck.c $(pkg-config --cflags --libs dynorm) -lm \
 *       -Wl,-rpath,$HOME/.local/lib && ./a.out
 *
 * The loss is L = sum(y * r) for a fixed random r, so dL/dy = r is the dy
 * the backward takes. Each gradient the backward returns (dx at a few
 * points, dalpha, dweight and dbias at a few channels) is compared with
 * (L(p + h) - L(p - h)) / 2h, in double precision. Exit status 0 when all
 * agree to 1e-7 relative (the quotient's own error, h^2 truncation and
 * roundoff, is about 1e-9 here). */
#include <dynorm.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { ROWS = 4, COLS = 768 };

static double x[ROWS * COLS], r[ROWS * COLS], y[ROWS * COLS], dx[ROWS * COLS];
static double w[COLS], b[COLS], dw[COLS], db[COLS];
static double alpha = 0.5;

static double uniform(unsigned long long *s) { /* xorshift64*, in [0, 1) */
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ull) >> 11) * 0x1p-53;
}

/* L = sum(y * r), y = DyT(x); exits on a library error */
static double loss(void) {
    int status = dn_dyt_fwd_f64(y, x, w, b, ROWS, COLS, COLS, COLS, alpha);
    if (status != DN_OK) {
        fprintf(stderr, "dn_dyt_fwd_f64: %s\n", dn_strerror(status));
        exit(2);
    }
    double sum = 0;
    for (size_t i = 0; i < ROWS * COLS; ++i) sum += y[i] * r[i];
    return sum;
}

/* the central difference of the loss in *p, and how far `analytic` is from it */
static int check(const char *name, double *p, double analytic) {
    const double h = 1e-5 * fmax(1.0, fabs(*p)), p0 = *p;
    *p = p0 + h; const double up = loss();
    *p = p0 - h; const double down = loss();
    *p = p0;
    const double numeric = (up - down) / (2 * h);
    const double err = fabs(analytic - numeric) / fmax(fabs(numeric), 1e-3);
    printf("  %-14s analytic % .10f  numeric % .10f  rel. err %.1e\n", name, analytic, numeric, err);
    return err <= 1e-7;
}

int main(void) {
    unsigned long long seed = 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < ROWS * COLS; ++i) {
        x[i] = 4 * uniform(&seed) - 2;
        r[i] = uniform(&seed) - 0.5;
    }
    for (size_t j = 0; j < COLS; ++j) {
        w[j] = 0.5 + uniform(&seed);
        b[j] = 0.1 * (uniform(&seed) - 0.5);
    }
    printf("dynorm %s, ISA %s: DyT over %d x %d, float64\n", DN_VERSION, dn_get_isa(), ROWS, COLS);

    double dalpha;
    int status = dn_dyt_bwd_f64(dx, &dalpha, dw, db, r, x, w, ROWS, COLS, COLS, COLS, COLS, alpha);
    if (status != DN_OK) {
        fprintf(stderr, "dn_dyt_bwd_f64: %s\n", dn_strerror(status));
        return 2;
    }
    int ok = check("dalpha", &alpha, dalpha);
    static const size_t at[] = {0, 1, 767, 1000, 3071};
    char name[32];
    for (size_t k = 0; k < sizeof at / sizeof *at; ++k) {
        snprintf(name, sizeof name, "dx[%zu]", at[k]);
        ok &= check(name, &x[at[k]], dx[at[k]]);
    }
    for (size_t k = 0; k < 3; ++k) {
        const size_t j = at[k];
        snprintf(name, sizeof name, "dweight[%zu]", j);
        ok &= check(name, &w[j], dw[j]);
        snprintf(name, sizeof name, "dbias[%zu]", j);
        ok &= check(name, &b[j], db[j]);
    }
    puts(ok ? "all gradients agree" : "MISMATCH");
    return ok ? 0 : 1;
}
