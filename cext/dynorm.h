/* dynorm.h - layer normalization and its element-wise replacements in C.
 *
 * LayerNorm, RMSNorm, Dynamic Tanh (DyT) and the Dynamic Inverse Square Root
 * Unit (DyISRU), forward and backward, in float and double, over a matrix of
 * `rows` x `cols` (normalization runs along a row; `cols` is the channel
 * count C). C99, no dependency beyond libc and libm. Vectorized for AVX2+FMA,
 * AVX-512 and NEON, with a portable C path; the best path this CPU runs is
 * chosen on first use, or forced with dn_set_isa() or the environment
 * variable DYNORM_ISA.
 *
 * Conventions (the same for every function):
 *  - Arguments: outputs, saved statistics, inputs, parameters, sizes (rows,
 *    cols, then one row stride per matrix, in elements, in argument order),
 *    then scalars.
 *  - weight and bias may be NULL, meaning 1 and 0.
 *  - y may be x (in place, same stride); dx may be dy. Any other overlap of
 *    an output with an input or another output is DN_ERR_ALIAS.
 *  - Saved statistics (mean, rstd; one value per row) may be NULL in the
 *    forward pass when no backward will follow.
 *  - Parameter gradients are sums over all rows; they are accumulated and
 *    returned in double for both dtypes (dweight and dbias are `double[cols]`,
 *    dalpha and dbeta one double), overwritten, never accumulated across
 *    calls. Any of them may be NULL when not wanted.
 *  - rows == 0 is valid: nothing is read, parameter gradients are zeroed.
 *  - Every function returns DN_OK (0) or a negative DN_ERR_* code; none
 *    aborts, allocates, or keeps state besides the once-chosen dispatch
 *    table: all are reentrant and may run without the Python GIL.
 *
 * The formulas (y: output, g = dy * w, <.> the mean over a row, S(.) the sum
 * over rows, sum(.) over every element):
 *   layer_norm  xh = (x - <x>) r, r = 1/sqrt(<(x - <x>)^2> + eps), y = xh w + b
 *               dx = r (g - <g> - xh <g xh>), dw = S(dy xh), db = S(dy)
 *   rms_norm    xh = x r, r = 1/sqrt(<x^2> + eps), y = xh w
 *               dx = r (g - xh <g xh>), dw = S(dy xh)
 *   dyt         t = tanh(alpha x), y = w t + b
 *               dx = g alpha (1 - t^2), dalpha = sum(g x (1 - t^2)),
 *               dw = S(dy t), db = S(dy)
 *   dyisru      c = beta + eps, q = c + x^2, u = x / sqrt(q), y = w u + b
 *               dx = g c q^-3/2, dbeta = -1/2 sum(g x q^-3/2),
 *               dw = S(dy u), db = S(dy)
 * Error bounds of each kernel against a float64 reference are in README.md.
 */
#ifndef DYNORM_H
#define DYNORM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DN_VERSION "0.1.0"

enum {
    DN_OK = 0,
    DN_ERR_NULL = -1,   /* a required pointer is NULL */
    DN_ERR_SIZE = -2,   /* cols == 0, or rows * stride overflows size_t */
    DN_ERR_STRIDE = -3, /* a row stride smaller than cols (with rows > 1) */
    DN_ERR_ARG = -4,    /* a scalar out of its domain: eps < 0, a NaN or Inf
                           eps, alpha or beta, beta < 0 */
    DN_ERR_ALIAS = -5,  /* outputs overlap inputs or each other beyond the
                           allowed in-place cases */
    DN_ERR_ISA = -6     /* an instruction set this build or CPU cannot run
                           (from dn_set_isa, or DYNORM_ISA naming one) */
};

/* A static English message for a status code. */
const char *dn_strerror(int status);

/* ---- instruction sets ----
 * Names: "scalar", "avx2", "avx512", "neon". */
int dn_isa_count(void);              /* sets this build has and this CPU runs */
const char *dn_isa_name(int index);  /* in ascending order; NULL past the end */
const char *dn_get_isa(void);        /* the set in use */
/* Force a set by name; NULL or "auto" restores the best one. Returns
 * DN_ERR_ISA (and changes nothing) for a set this CPU or build lacks. Meant
 * for tests and benchmarks: calls already running keep the set they began
 * with. */
int dn_set_isa(const char *name);

/* Outputs of at least this many bytes are written with non-temporal
 * (streaming) stores, which skip the read-for-ownership of each line;
 * smaller outputs, which may stay in cache, use ordinary stores. Default:
 * half of one CPU's share of the last-level cache (its size over the CPUs
 * sharing it; at least 1 MiB, 16 MiB where it is unknown): a call may be
 * one of several running at once, one per CPU (a caller splitting rows
 * over threads), and beyond that share an output and its input do not fit
 * in the cache together. Setting 0
 * restores the default; returns the previous value. A tuning knob for
 * benchmarks and tests. */
size_t dn_set_stream_threshold(size_t bytes);
size_t dn_get_stream_threshold(void);

/* ---- LayerNorm ---- */
int dn_layer_norm_fwd_f32(float *y, float *mean, float *rstd, const float *x,
                          const float *weight, const float *bias, size_t rows,
                          size_t cols, size_t ldy, size_t ldx, double eps);
int dn_layer_norm_fwd_f64(double *y, double *mean, double *rstd, const double *x,
                          const double *weight, const double *bias, size_t rows,
                          size_t cols, size_t ldy, size_t ldx, double eps);
int dn_layer_norm_bwd_f32(float *dx, double *dweight, double *dbias,
                          const float *dy, const float *x, const float *mean,
                          const float *rstd, const float *weight, size_t rows,
                          size_t cols, size_t lddx, size_t lddy, size_t ldx);
int dn_layer_norm_bwd_f64(double *dx, double *dweight, double *dbias,
                          const double *dy, const double *x, const double *mean,
                          const double *rstd, const double *weight, size_t rows,
                          size_t cols, size_t lddx, size_t lddy, size_t ldx);

/* ---- RMSNorm ---- */
int dn_rms_norm_fwd_f32(float *y, float *rstd, const float *x,
                        const float *weight, size_t rows, size_t cols,
                        size_t ldy, size_t ldx, double eps);
int dn_rms_norm_fwd_f64(double *y, double *rstd, const double *x,
                        const double *weight, size_t rows, size_t cols,
                        size_t ldy, size_t ldx, double eps);
int dn_rms_norm_bwd_f32(float *dx, double *dweight, const float *dy,
                        const float *x, const float *rstd, const float *weight,
                        size_t rows, size_t cols, size_t lddx, size_t lddy,
                        size_t ldx);
int dn_rms_norm_bwd_f64(double *dx, double *dweight, const double *dy,
                        const double *x, const double *rstd,
                        const double *weight, size_t rows, size_t cols,
                        size_t lddx, size_t lddy, size_t ldx);

/* ---- DyT ----
 * The forward uses the precise tanh; dn_dyt_fwd_fast_* uses the faster
 * approximation (its bound is in README.md). */
int dn_dyt_fwd_f32(float *y, const float *x, const float *weight,
                   const float *bias, size_t rows, size_t cols, size_t ldy,
                   size_t ldx, double alpha);
int dn_dyt_fwd_f64(double *y, const double *x, const double *weight,
                   const double *bias, size_t rows, size_t cols, size_t ldy,
                   size_t ldx, double alpha);
int dn_dyt_fwd_fast_f32(float *y, const float *x, const float *weight,
                        const float *bias, size_t rows, size_t cols,
                        size_t ldy, size_t ldx, double alpha);
int dn_dyt_fwd_fast_f64(double *y, const double *x, const double *weight,
                        const double *bias, size_t rows, size_t cols,
                        size_t ldy, size_t ldx, double alpha);
int dn_dyt_bwd_f32(float *dx, double *dalpha, double *dweight, double *dbias,
                   const float *dy, const float *x, const float *weight,
                   size_t rows, size_t cols, size_t lddx, size_t lddy,
                   size_t ldx, double alpha);
int dn_dyt_bwd_f64(double *dx, double *dalpha, double *dweight, double *dbias,
                   const double *dy, const double *x, const double *weight,
                   size_t rows, size_t cols, size_t lddx, size_t lddy,
                   size_t ldx, double alpha);

/* ---- DyISRU ---- */
int dn_dyisru_fwd_f32(float *y, const float *x, const float *weight,
                      const float *bias, size_t rows, size_t cols, size_t ldy,
                      size_t ldx, double beta, double eps);
int dn_dyisru_fwd_f64(double *y, const double *x, const double *weight,
                      const double *bias, size_t rows, size_t cols, size_t ldy,
                      size_t ldx, double beta, double eps);
int dn_dyisru_bwd_f32(float *dx, double *dbeta, double *dweight, double *dbias,
                      const float *dy, const float *x, const float *weight,
                      size_t rows, size_t cols, size_t lddx, size_t lddy,
                      size_t ldx, double beta, double eps);
int dn_dyisru_bwd_f64(double *dx, double *dbeta, double *dweight, double *dbias,
                      const double *dy, const double *x, const double *weight,
                      size_t rows, size_t cols, size_t lddx, size_t lddy,
                      size_t ldx, double beta, double eps);

/* ---- element-wise vector math (n elements, y may be x) ----
 * tanh: the precise one used by DyT; tanh_fast: the faster approximation. */
int dn_tanh_f32(float *y, const float *x, size_t n);
int dn_tanh_f64(double *y, const double *x, size_t n);
int dn_tanh_fast_f32(float *y, const float *x, size_t n);
int dn_tanh_fast_f64(double *y, const double *x, size_t n);

/* dst[i] = src[i] rounded to float, i < n, as a C cast rounds it (to
 * nearest in the default mode; beyond float's range +-Inf, NaN stays NaN),
 * vectorized: a float model's parameter gradients from the double sums a
 * backward returns. dst must not overlap src (DN_ERR_ALIAS). */
int dn_round_f32(float *dst, const double *src, size_t n);

#ifdef __cplusplus
}
#endif
#endif
