/* internal.h - the op list, one call's arguments, and the kernel tables.
 *
 * Every op is one entry of DN_OPS, which generates the op ids, the kernel
 * table's fields (dn_kernels.fwd / .bwd), each ISA's instantiation
 * (isa_unit.inc), the argument checks (check.c) and the typed public entry
 * points (api.c). A public call fills a dn_args and calls dn_run, which
 * checks it, decides the streaming stores, splits it by rows over the
 * library's threads (threads.c) and calls the kernel of the ISA in use on
 * each chunk. Kernels do no checking. Layout: docs/design.md §3. */
#ifndef DN_INTERNAL_H
#define DN_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "dynorm.h"

/* The row-statistics family, written out in dynorm.h and
 * kernels_rowstat.inc: X(name, NAME, stats, bias), each with the one
 * scalar eps (finite, >= 0). stats: the per-row statistics the forward
 * saves and the backward reads; bias: whether it has one (forward b,
 * backward db). */
#define DN_ROWSTAT_OPS(X)                                                      \
    X(layer_norm, LAYER_NORM, 2, 1)                                            \
    X(rms_norm, RMS_NORM, 1, 0)

/* Every op, in id order: the row-statistics family, then the element-wise
 * ops of dynorm.h (DN_ELEMENTWISE_OPS). The arities differ; generators that
 * take both use `name, NAME, ...`. */
#define DN_OPS(X) DN_ROWSTAT_OPS(X) DN_ELEMENTWISE_OPS(X)

#define DN_OP_ID(name, NAME, ...) DN_OP_##NAME,
enum { DN_OPS(DN_OP_ID) DN_NOPS };
#undef DN_OP_ID

/* One call's arguments, the same struct for every op and direction.
 * Strides are in elements; fields an op does not use are not read. */
typedef struct dn_args {
    size_t rows, cols;
    void *out;        size_t ldo;   /* forward: y; backward: dx */
    const void *x;    size_t ldx;
    const void *dy;   size_t lddy;  /* backward only */
    void *stat[2];    /* per-row statistics, `rows` values each, in the data
                         type: LayerNorm {mean, rstd}, RMSNorm {rstd, -};
                         forward: outputs (NULL: not wanted); backward:
                         inputs (required) */
    const void *w, *b;  /* weight, bias: `cols` values each, or NULL (1, 0) */
    double *dw, *db;    /* backward: column sums over rows (`cols` doubles)
                           or NULL */
    double *ds[2];      /* backward: gradients of the op's learnable scalars
                           (DyT {dalpha}, DyISRU {dbeta}), each NULL or one
                           double */
    double s[3];        /* the op's scalars, in list order: LayerNorm {eps},
                           RMSNorm {eps}, DyT {alpha}, DyISRU {beta, eps} */
    int stream;         /* set by dn_run, not by callers: non-temporal
                           stores for the output */
} dn_args;

/* Validate, split over the library's threads, run on the active ISA.
 * dir: 0 forward, 1 backward; f64: 0 float, 1 double. Returns DN_OK or a
 * DN_ERR_* code exactly as the typed public functions do (they are thin
 * wrappers over it); an unknown op, dir or f64 is DN_ERR_ARG, a NULL `a`
 * DN_ERR_NULL. */
int dn_run(int op, int dir, int f64, const dn_args *a);

/* A call split over threads is split on multiples of this many rows, so
 * that each chunk's row blocks are those of the whole call on one thread
 * (kernels_common.inc): its column sums are then blocked alike. */
#define DN_CHUNK_ROWS 4

/* ---- kernel tables ----
 * A kernel runs one op in one direction on a block of rows, all of a call
 * or one thread's chunk: it overwrites its outputs, including the column
 * sums and scalar gradients it is given (a chunk's are its partial sums). */
typedef void (*dn_kernel)(const dn_args *a);

typedef struct dn_kernels {
    const char *name;
    dn_kernel fwd[2][DN_NOPS], bwd[2][DN_NOPS]; /* [f64][op] */
    /* element-wise vector math, for the public API and the sweeps */
    void (*tanh_f32)(float *y, const float *x, size_t n);
    void (*tanh_fast_f32)(float *y, const float *x, size_t n);
    void (*tanh_sech2_f32)(float *t, float *s, const float *x, size_t n);
    void (*isru_f32)(float *u, const float *x, size_t n, double c);
    void (*tanh_f64)(double *y, const double *x, size_t n);
    void (*tanh_fast_f64)(double *y, const double *x, size_t n);
    void (*tanh_sech2_f64)(double *t, double *s, const double *x, size_t n);
    void (*isru_f64)(double *u, const double *x, size_t n, double c);
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

/* ---- dispatch.c ---- */
/* The table for an ISA by name if this build has it and this CPU runs it,
 * else NULL. For tests and sweeps that drive every path explicitly. */
const dn_kernels *dn_kernels_for(const char *isa);
/* The table in use, or NULL when DYNORM_ISA names one this CPU lacks. */
const dn_kernels *dn_active_kernels(void);
/* Whether a call writes its output of `bytes` bytes at `out` with
 * streaming stores: the one place this is decided, once per call. */
int dn_stream_decision(const void *out, size_t bytes, size_t elem);

/* ---- check.c ---- */
/* Every argument check of dn_run, from the op's descriptor: DN_OK or the
 * status to return. Also sets the fields the op does not use in direction
 * `dir` to NULL, so that nothing downstream reads them. `op`, `dir` and
 * `f64` are valid. */
int dn_check(int op, int dir, int f64, dn_args *a);
/* The learnable scalars' count of each op (DyISRU: 1, beta). */
int dn_op_grads(int op);
/* The per-row statistics each op's forward saves (LayerNorm 2, RMSNorm 1,
 * the element-wise ops 0); 0 for an id out of range. */
int dn_op_nstats(int op);
/* An op's name in the list ("layer_norm", "rms_norm", "dyt", "dyisru"),
 * or NULL for an id out of range. */
const char *dn_op_name(int op);
/* p + bytes does not wrap around the address space (else the array cannot
 * exist) */
static inline int dn_span_ok(const void *p, size_t bytes) {
    return (uintptr_t)p <= UINTPTR_MAX - bytes;
}

/* ---- threads.c ---- */
/* Run fn(ctx, k) for k = 0 .. n-1, on the calling thread and the pool's;
 * returns when all have run. Falls back to the calling thread alone when
 * the pool cannot start. Never called from inside fn. */
void dn_pool_run(int n, void (*fn)(void *ctx, int k), void *ctx);

#endif
