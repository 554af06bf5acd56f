/* dynorm.h - layer normalization and its element-wise replacements in C.
 *
 * LayerNorm, RMSNorm, Dynamic Tanh (DyT) and the Dynamic Inverse Square Root
 * Unit (DyISRU), forward and backward, in float and double, over a matrix of
 * `rows` x `cols` (normalization runs along a row; `cols` is the channel
 * count C). C99, no dependency beyond libc, libm and POSIX threads.
 * Vectorized for AVX2+FMA, AVX-512 and NEON, with a portable C path; the
 * best path this CPU runs is chosen on first use, or forced with
 * dn_set_isa() or the environment variable DYNORM_ISA. Large calls are
 * split by rows over a pool of threads inside the library (dn_set_num_threads).
 *
 * Conventions (the same for every function):
 *  - Arguments: outputs, saved statistics, inputs, parameters, sizes (rows,
 *    cols, then one row stride per matrix, in elements, in argument order),
 *    then scalars.
 *  - weight and bias may be NULL, meaning 1 and 0.
 *  - y may be x (in place, same stride); dx may be dy. Any other overlap of
 *    an output with an input or another output is DN_ERR_ALIAS.
 *  - Any alignment: arrays need not be aligned, not even to their element
 *    size (a buffer at an odd byte offset works, only slower).
 *  - Saved statistics (mean, rstd; one value per row) may be NULL in the
 *    forward pass when no backward will follow.
 *  - Parameter gradients are sums over all rows; they are accumulated and
 *    returned in double for both dtypes (dweight and dbias are `double[cols]`,
 *    dalpha and dbeta one double), overwritten, never accumulated across
 *    calls. Any of them may be NULL when not wanted.
 *  - rows == 0 is valid: nothing is read, parameter gradients are zeroed.
 *  - Rows are independent: a row's outputs are the same bits whatever the
 *    thread count; parameter gradients are the same bits for a given thread
 *    count (the threads' partial sums are added in a fixed order).
 *  - Every function returns DN_OK (0) or a negative DN_ERR_* code; none
 *    aborts or keeps state besides the once-chosen instruction set and the
 *    thread pool's settings. All may be called from several threads at once
 *    (they may run without the Python GIL), and in a child process after
 *    fork(). A large call allocates its threads' partial sums (cols doubles
 *    per thread); if that or starting a thread fails, it runs on the calling
 *    thread instead, never failing for it.
 *
 * Status codes of the typed entry points (the ops below): DN_ERR_NULL,
 * DN_ERR_SIZE, DN_ERR_STRIDE, DN_ERR_ARG (the op's scalars), DN_ERR_ALIAS,
 * DN_ERR_ISA. The other functions list theirs.
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
 * Derivations, numerics and error bounds: docs/design.md §2 and §4; the
 * conventions above: docs/design.md §5.
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
    DN_ERR_SIZE = -2,   /* cols == 0, or an array's extent in bytes
                           ((rows - 1) * stride + cols elements, or n
                           elements) overflows size_t or the address space */
    DN_ERR_STRIDE = -3, /* a row stride smaller than cols (with rows > 1) */
    DN_ERR_ARG = -4,    /* an argument out of its domain: a scalar (eps < 0,
                           beta < 0, a NaN or infinite eps, alpha or beta,
                           beta + eps overflowing double); a thread count
                           outside 0..DN_MAX_THREADS */
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
const char *dn_get_isa(void);        /* the set in use ("invalid" when
                                        DYNORM_ISA names one this CPU lacks) */
/* Force a set by name; NULL or "auto" restores the best one. Returns DN_OK,
 * or DN_ERR_ISA (and changes nothing) for a set this CPU or build lacks.
 * DYNORM_ISA, read on first use, takes the same names; one this CPU lacks
 * makes every call return DN_ERR_ISA until dn_set_isa. Meant for tests and
 * benchmarks: calls already running keep the set they began with. */
int dn_set_isa(const char *name);

/* ---- threads ----
 * A call whose x holds at least the parallel threshold's bytes is split by
 * rows over the library's threads, the calling thread among them; smaller
 * calls run on the calling thread alone. The pool starts on the first large
 * call and grows to the largest count used; its threads wait, idle, between
 * calls. A forked child starts its own pool on its first large call.
 * Changing the count while other threads make calls is safe: each call reads
 * it once. */
#define DN_MAX_THREADS 1024
/* n >= 1: use n threads for large calls; 0: the default, which is
 * DYNORM_NUM_THREADS (read on first use) if it is a decimal integer in
 * 1..DN_MAX_THREADS (digits only, spaces around them allowed), and
 * otherwise (unset, or any other value, which is ignored) the number of
 * CPUs this process may run on (its affinity mask). Returns the previous
 * count, or DN_ERR_ARG (changing nothing) for n < 0 or n > DN_MAX_THREADS. */
int dn_set_num_threads(int n);
int dn_get_num_threads(void);
/* Calls whose x has fewer bytes than this run on the calling thread; 0
 * restores the default (1 MiB); returns the previous value. A tuning knob
 * for tests and benchmarks. */
size_t dn_set_parallel_threshold(size_t bytes);
size_t dn_get_parallel_threshold(void);

/* ---- streaming stores ----
 * Calls whose output has at least this many bytes (the whole call's, however
 * it is split over threads) write it with non-temporal (streaming) stores,
 * which skip the read-for-ownership of each line; smaller outputs, which may
 * stay in cache, use ordinary stores, as do outputs not aligned to their
 * element size. Default: half of one CPU's share of the last-level cache
 * (its size over the CPUs sharing it; at least 1 MiB, 16 MiB where it is
 * unknown). Setting 0 restores the default; returns the previous value. A
 * tuning knob for benchmarks and tests. */
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

/* ---- the element-wise ops: y = w f(x; scalars) + b ----
 * One entry each:
 *   X(name, NAME, (scalar parameters), (scalar names), (domain),
 *     (scalar-gradient parameters), (scalar-gradient names))
 * The domain is what the scalars must satisfy (else DN_ERR_ARG); the
 * scalar gradients are those of the learnable scalars, in order. The
 * library's op list (internal.h) takes these entries, so an op listed here
 * has its entry points, checks and kernels. The list expands to these
 * prototypes (R is float for _f32, double for _f64; each scalar gradient
 * is one double, or NULL when not wanted):
 *
 *   int dn_dyt_fwd_f32(R *y, const R *x, const R *weight, const R *bias,
 *                      size_t rows, size_t cols, size_t ldy, size_t ldx,
 *                      double alpha);
 *   int dn_dyt_bwd_f32(R *dx, double *dalpha, double *dweight, double *dbias,
 *                      const R *dy, const R *x, const R *weight, size_t rows,
 *                      size_t cols, size_t lddx, size_t lddy, size_t ldx,
 *                      double alpha);
 *   int dn_dyisru_fwd_f32(R *y, const R *x, const R *weight, const R *bias,
 *                         size_t rows, size_t cols, size_t ldy, size_t ldx,
 *                         double beta, double eps);
 *   int dn_dyisru_bwd_f32(R *dx, double *dbeta, double *dweight,
 *                         double *dbias, const R *dy, const R *x,
 *                         const R *weight, size_t rows, size_t cols,
 *                         size_t lddx, size_t lddy, size_t ldx, double beta,
 *                         double eps);
 *   and the same four with _f64.
 * DyT's tanh is the precise one (dn_tanh_*); DyISRU's beta + eps must be
 * finite. */
#define DN_ELEMENTWISE_OPS(X)                                                  \
    X(dyt, DYT, (double alpha), (alpha), (isfinite(alpha)),                    \
      (double *dalpha), (dalpha))                                              \
    X(dyisru, DYISRU, (double beta, double eps), (beta, eps),                  \
      (beta >= 0 && eps >= 0 && isfinite(beta + eps)),                         \
      (double *dbeta), (dbeta))

#define DN_UNPAREN(...) __VA_ARGS__
#define DN_ELEMENTWISE_PROTOTYPES(name, NAME, sdecl, snames, domain, gdecl, gnames, R, S) \
    int dn_##name##_fwd_##S(R *y, const R *x, const R *weight, const R *bias,  \
                            size_t rows, size_t cols, size_t ldy, size_t ldx,  \
                            DN_UNPAREN sdecl);                                 \
    int dn_##name##_bwd_##S(R *dx, DN_UNPAREN gdecl, double *dweight,          \
                            double *dbias, const R *dy, const R *x,            \
                            const R *weight, size_t rows, size_t cols,         \
                            size_t lddx, size_t lddy, size_t ldx,              \
                            DN_UNPAREN sdecl);
#define DN_ELEMENTWISE_PROTOTYPES_BOTH(...)                                    \
    DN_ELEMENTWISE_PROTOTYPES(__VA_ARGS__, float, f32)                         \
    DN_ELEMENTWISE_PROTOTYPES(__VA_ARGS__, double, f64)
DN_ELEMENTWISE_OPS(DN_ELEMENTWISE_PROTOTYPES_BOTH)

/* ---- element-wise vector math (n elements, y may be x) ----
 * tanh: the precise one used by DyT; tanh_fast: a faster approximation
 * (float: a rational, at most 6 ULP; double: the precise one). Error bounds:
 * docs/design.md §4. Return DN_OK, DN_ERR_NULL, DN_ERR_SIZE (n elements
 * overflow size_t), DN_ERR_ALIAS (y overlaps x other than y == x) or
 * DN_ERR_ISA. */
int dn_tanh_f32(float *y, const float *x, size_t n);
int dn_tanh_f64(double *y, const double *x, size_t n);
int dn_tanh_fast_f32(float *y, const float *x, size_t n);
int dn_tanh_fast_f64(double *y, const double *x, size_t n);

/* dst[i] = src[i] rounded to float, i < n, as a C cast rounds it (to
 * nearest in the default mode; beyond float's range +-Inf, NaN stays NaN),
 * vectorized: a float model's parameter gradients from the double sums a
 * backward returns. dst must not overlap src (DN_ERR_ALIAS). Returns DN_OK,
 * DN_ERR_NULL, DN_ERR_SIZE (n doubles overflow size_t), DN_ERR_ALIAS or
 * DN_ERR_ISA. */
int dn_round_f32(float *dst, const double *src, size_t n);

#ifdef __cplusplus
}
#endif
#endif
