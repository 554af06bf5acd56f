/* internal.h - the table of kernels each instruction-set unit fills.
 *
 * Kernels here do no argument checking: dispatch.c validates every public
 * call once, then calls through the table of the ISA in use. Parameter
 * gradients (dweight, dbias, dalpha, dbeta) are sums over all rows, so the
 * kernels accumulate and return them in double for both dtypes; a NULL
 * pointer means "not wanted". `stream` asks for non-temporal stores of the
 * large output (chosen by dispatch.c from the output's size). */
#ifndef DN_INTERNAL_H
#define DN_INTERNAL_H
#include <stddef.h>

#define DN_KERNEL_FIELDS(R, S)                                                  \
    void (*layer_norm_fwd_##S)(R *y, R *mean, R *rstd, const R *x,              \
        const R *w, const R *b, size_t rows, size_t cols, size_t ldy,           \
        size_t ldx, double eps, int stream);                                    \
    void (*layer_norm_bwd_##S)(R *dx, double *dw, double *db, const R *dy,      \
        const R *x, const R *mean, const R *rstd, const R *w, size_t rows,      \
        size_t cols, size_t lddx, size_t lddy, size_t ldx, int stream);         \
    void (*rms_norm_fwd_##S)(R *y, R *rstd, const R *x, const R *w,             \
        size_t rows, size_t cols, size_t ldy, size_t ldx, double eps,           \
        int stream);                                                            \
    void (*rms_norm_bwd_##S)(R *dx, double *dw, const R *dy, const R *x,        \
        const R *rstd, const R *w, size_t rows, size_t cols, size_t lddx,       \
        size_t lddy, size_t ldx, int stream);                                   \
    void (*dyt_fwd_##S)(R *y, const R *x, const R *w, const R *b, size_t rows,  \
        size_t cols, size_t ldy, size_t ldx, double alpha, int fast,            \
        int stream);                                                            \
    void (*dyt_bwd_##S)(R *dx, double *dalpha, double *dw, double *db,          \
        const R *dy, const R *x, const R *w, size_t rows, size_t cols,          \
        size_t lddx, size_t lddy, size_t ldx, double alpha, int stream);        \
    void (*dyisru_fwd_##S)(R *y, const R *x, const R *w, const R *b,            \
        size_t rows, size_t cols, size_t ldy, size_t ldx, double beta,          \
        double eps, int stream);                                                \
    void (*dyisru_bwd_##S)(R *dx, double *dbeta, double *dw, double *db,        \
        const R *dy, const R *x, const R *w, size_t rows, size_t cols,          \
        size_t lddx, size_t lddy, size_t ldx, double beta, double eps,          \
        int stream);                                                            \
    /* element-wise vector math, exposed for the public API and the sweeps */  \
    void (*tanh_##S)(R *y, const R *x, size_t n);                               \
    void (*tanh_fast_##S)(R *y, const R *x, size_t n);                          \
    void (*tanh_sech2_##S)(R *t, R *s, const R *x, size_t n);                   \
    void (*isru_##S)(R *u, const R *x, size_t n, double c);

typedef struct dn_kernels {
    const char *name;
    DN_KERNEL_FIELDS(float, f32)
    DN_KERNEL_FIELDS(double, f64)
    void (*round_f32)(float *dst, const double *src, size_t n);
} dn_kernels;

/* One table per unit; a unit the compiler could not target is absent. */
extern const dn_kernels dn_kernels_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const dn_kernels dn_kernels_avx2;
extern const dn_kernels dn_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const dn_kernels dn_kernels_neon;
#endif

/* The table for an ISA by name if this build has it and this CPU runs it,
 * else NULL. For tests and sweeps that drive every path explicitly. */
const dn_kernels *dn_kernels_for(const char *isa);

#endif
