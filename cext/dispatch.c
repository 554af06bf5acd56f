/* dispatch.c - choose the instruction set once, validate every call once.
 *
 * The only global mutable state of the library lives here: the pointer to
 * the kernel table in use and the streaming threshold, each read and written
 * atomically, so concurrent calls are safe (a dn_set_isa racing with running
 * calls only decides which table the next call picks up). */
#define _GNU_SOURCE /* sysconf(_SC_LEVEL3_CACHE_SIZE) */
#include "dynorm.h"
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define DN_X86 1
#endif

/* ---- CPU features ---- */

#ifdef DN_X86
/* xgetbv without -mxsave: which register states the OS saves on a switch. */
static uint64_t dn_xgetbv(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* AVX2 needs the CPU bits (AVX, FMA, AVX2) and the OS saving XMM and YMM
 * (XCR0 bits 1, 2); AVX-512 also needs opmask and ZMM state (bits 5, 6, 7). */
static void dn_x86_features(int *avx2, int *avx512) {
    unsigned a, b, c, d;
    *avx2 = *avx512 = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return;
    const uint64_t xcr0 = dn_xgetbv();
    if ((xcr0 & 0x6) != 0x6) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    *avx2 = fma && ((b >> 5) & 1);
    const int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    *avx512 = *avx2 && f && dq && bw && vl && (xcr0 & 0xE0) == 0xE0;
}
#endif

/* Every table this build and this CPU can run, ascending. */
typedef struct {
    int count;
    const dn_kernels *tables[4];
} dn_isa_set;

static dn_isa_set dn_detect(void) {
    dn_isa_set s = {0, {0}};
    s.tables[s.count++] = &dn_kernels_scalar;
#ifdef DN_X86
    int avx2, avx512;
    dn_x86_features(&avx2, &avx512);
    if (avx2) s.tables[s.count++] = &dn_kernels_avx2;
    if (avx512) s.tables[s.count++] = &dn_kernels_avx512;
#endif
#if defined(__aarch64__)
    s.tables[s.count++] = &dn_kernels_neon;
#endif
    return s;
}

static const dn_isa_set *dn_isas(void) {
    /* Detection is pure and idempotent: racing first calls compute the same
     * set; the flag publishes it with release/acquire ordering. */
    static dn_isa_set set;
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        dn_isa_set s = dn_detect();
        set = s;
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    return &set;
}

const dn_kernels *dn_kernels_for(const char *isa) {
    const dn_isa_set *s = dn_isas();
    if (!isa) return NULL;
    for (int i = 0; i < s->count; ++i)
        if (strcmp(s->tables[i]->name, isa) == 0) return s->tables[i];
    return NULL;
}

/* The table in use; (dn_kernels *)&dn_env_bad when DYNORM_ISA names a set
 * this CPU cannot run, so that every call reports DN_ERR_ISA. */
static const dn_kernels *dn_active;
static const char dn_env_bad = 0;
#define DN_ENV_BAD ((const dn_kernels *)(const void *)&dn_env_bad)

static const dn_kernels *dn_best(void) {
    const dn_isa_set *s = dn_isas();
    return s->tables[s->count - 1];
}

static const dn_kernels *dn_table(void) {
    const dn_kernels *t = __atomic_load_n(&dn_active, __ATOMIC_ACQUIRE);
    if (t) return t;
    const char *env = getenv("DYNORM_ISA");
    if (env && *env && strcmp(env, "auto") != 0) {
        t = dn_kernels_for(env);
        if (!t) t = DN_ENV_BAD;
    } else {
        t = dn_best();
    }
    const dn_kernels *expected = NULL;
    if (!__atomic_compare_exchange_n(&dn_active, &expected, t, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        t = expected;
    return t;
}

int dn_isa_count(void) { return dn_isas()->count; }

const char *dn_isa_name(int index) {
    const dn_isa_set *s = dn_isas();
    return (index >= 0 && index < s->count) ? s->tables[index]->name : NULL;
}

const char *dn_get_isa(void) {
    const dn_kernels *t = dn_table();
    return t == DN_ENV_BAD ? "invalid" : t->name;
}

int dn_set_isa(const char *name) {
    const dn_kernels *t;
    if (!name || strcmp(name, "auto") == 0) t = dn_best();
    else if (!(t = dn_kernels_for(name))) return DN_ERR_ISA;
    __atomic_store_n(&dn_active, t, __ATOMIC_RELEASE);
    return DN_OK;
}

/* ---- streaming threshold ----
 * Outputs at least this large are written with non-temporal stores: they
 * would not stay in the last-level cache anyway, and an ordinary store
 * first reads its line. Default: half of one CPU's share of the last-level
 * cache, where an output and the input it is computed from (every kernel
 * reads at least one array of the output's size) no longer fit in it
 * together. One CPU's share, because a call may be one of several running
 * at once on the CPUs that share the cache: a caller splitting rows over
 * threads (dynorm's Python layer does) makes one call per chunk, and each
 * call sees only its chunk. Half the whole cache was the default before; on
 * an Intel host whose 2-CPU VMs report a 480 MiB L3 it left each thread's
 * 128 MiB chunk of a 16384 x 4096 float call with ordinary stores: the
 * forwards moved their bytes at 0.86-1.10 of one-thread memcpy on two
 * threads and the backwards at 0.84-1.03, against 1.21-1.37 and 1.10-1.40
 * streamed. (Before that, the whole cache; on a host reporting 300 MiB it
 * left one core's 256 MiB output unstreamed: 0.53-0.61 against 0.71-0.89.) */
static size_t dn_stream_bytes;

#ifdef __linux__
/* The first line of cpu0's cache index k's sysfs file `name` (level, type,
 * size, shared_cpu_list), or "" if it cannot be read. */
static void dn_cache_attr(int k, const char *name, char *buf, size_t n) {
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/%s", k, name);
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (!fgets(buf, (int)n, f)) buf[0] = 0;
    fclose(f);
}

/* CPU 0's last-level cache from sysfs: its size in bytes over the number
 * of CPUs sharing it (shared_cpu_list, "0-7,64-71"), or 0 if unknown. */
static size_t dn_llc_share_sysfs(void) {
    size_t best_level = 0, bytes = 0, cpus = 0;
    for (int k = 0; k < 16; ++k) {
        char line[256];
        dn_cache_attr(k, "level", line, sizeof line);
        const size_t level = strtoul(line, NULL, 10);
        if (level <= best_level) continue;
        dn_cache_attr(k, "type", line, sizeof line);
        if (strncmp(line, "Instruction", 11) == 0) continue;
        dn_cache_attr(k, "size", line, sizeof line);
        char *end;
        size_t size = strtoul(line, &end, 10);
        if (*end == 'K') size <<= 10;
        else if (*end == 'M') size <<= 20;
        dn_cache_attr(k, "shared_cpu_list", line, sizeof line);
        size_t n = 0;
        for (char *p = line; *p >= '0' && *p <= '9';) {
            const size_t lo = strtoul(p, &p, 10);
            size_t hi = lo;
            if (*p == '-') hi = strtoul(p + 1, &p, 10);
            n += hi >= lo ? hi - lo + 1 : 1;
            if (*p == ',') ++p;
        }
        if (size && n) best_level = level, bytes = size, cpus = n;
    }
    return cpus ? bytes / cpus : 0;
}
#endif

static size_t dn_default_stream_bytes(void) {
    size_t share = 0;
#ifdef __linux__
    share = dn_llc_share_sysfs();
#endif
#ifdef _SC_LEVEL3_CACHE_SIZE
    if (!share) {
        const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (l3 > 0) share = (size_t)l3 / (size_t)(cpus > 0 ? cpus : 1);
    }
#endif
    if (!share) return (size_t)16 << 20;
    return share / 2 > ((size_t)1 << 20) ? share / 2 : (size_t)1 << 20;
}

size_t dn_set_stream_threshold(size_t bytes) {
    size_t old = dn_get_stream_threshold();
    __atomic_store_n(&dn_stream_bytes, bytes ? bytes : dn_default_stream_bytes(), __ATOMIC_RELAXED);
    return old;
}

size_t dn_get_stream_threshold(void) {
    size_t b = __atomic_load_n(&dn_stream_bytes, __ATOMIC_RELAXED);
    if (!b) {
        b = dn_default_stream_bytes();
        __atomic_store_n(&dn_stream_bytes, b, __ATOMIC_RELAXED);
    }
    return b;
}

static int dn_stream(const void *out, size_t rows, size_t cols, size_t elem) {
    return (uintptr_t)out % elem == 0 && rows * cols * elem >= dn_get_stream_threshold();
}

/* ---- argument checks ---- */

const char *dn_strerror(int status) {
    switch (status) {
    case DN_OK: return "ok";
    case DN_ERR_NULL: return "a required pointer is NULL";
    case DN_ERR_SIZE: return "cols is 0, or the matrix size overflows size_t";
    case DN_ERR_STRIDE: return "a row stride is smaller than cols";
    case DN_ERR_ARG: return "a scalar is out of its domain (eps >= 0, alpha and beta finite, beta >= 0)";
    case DN_ERR_ALIAS: return "an output overlaps an input or another output";
    case DN_ERR_ISA: return "instruction set not available on this CPU or build (dn_set_isa or DYNORM_ISA)";
    default: return "unknown status";
    }
}

/* A memory range [p, p + bytes); bytes == 0 (or p == NULL) overlaps nothing. */
typedef struct { const char *p; size_t bytes; } dn_span;

static dn_span dn_vec(const void *p, size_t n, size_t elem) {
    dn_span s = {(const char *)p, p ? n * elem : 0};
    return s;
}

/* The extent of a strided matrix. Conservative: rows interleaved with
 * another matrix's rows (two column blocks of one array) count as overlap. */
static dn_span dn_mat(const void *p, size_t rows, size_t cols, size_t ld, size_t elem) {
    dn_span s = {(const char *)p, (p && rows) ? ((rows - 1) * ld + cols) * elem : 0};
    return s;
}

static int dn_overlap(dn_span a, dn_span b) {
    if (!a.bytes || !b.bytes) return 0;
    return a.p < b.p + b.bytes && b.p < a.p + a.bytes;
}

/* Sizes: cols > 0; each stride >= cols when there is more than one row;
 * the largest offset fits in size_t (so every pointer computed is valid). */
static int dn_check_dims(size_t rows, size_t cols, const size_t *ld, int nld, size_t elem) {
    if (cols == 0) return DN_ERR_SIZE;
    for (int k = 0; k < nld; ++k) {
        if (rows > 1 && ld[k] < cols) return DN_ERR_STRIDE;
        if (rows > 1 && (rows - 1) > (SIZE_MAX / elem - cols) / ld[k]) return DN_ERR_SIZE;
    }
    if (cols > SIZE_MAX / elem / 2) return DN_ERR_SIZE;
    return DN_OK;
}

static int dn_finite(double v) { return isfinite(v); }

/* Outputs against everything: each output span must not overlap any other
 * span, except the one input it may replace in place (same pointer and
 * stride, flagged by `inplace_ok`). */
static int dn_check_alias(const dn_span *out, int nout, const dn_span *in, int nin,
                          int inplace_out, int inplace_in, int inplace_ok) {
    for (int o = 0; o < nout; ++o) {
        for (int k = o + 1; k < nout; ++k)
            if (dn_overlap(out[o], out[k])) return DN_ERR_ALIAS;
        for (int k = 0; k < nin; ++k) {
            if (o == inplace_out && k == inplace_in && inplace_ok) continue;
            if (dn_overlap(out[o], in[k])) return DN_ERR_ALIAS;
        }
    }
    return DN_OK;
}

#define DN_TABLE_OR_FAIL(t)                                                     \
    const dn_kernels *t = dn_table();                                          \
    if (t == DN_ENV_BAD) return DN_ERR_ISA

/* ---- public entry points, for float (f32) and double (f64) ---- */

#define DN_ENTRY_POINTS(R, S)                                                   \
int dn_layer_norm_fwd_##S(R *y, R *mean, R *rstd, const R *x, const R *w,      \
                          const R *b, size_t rows, size_t cols, size_t ldy,    \
                          size_t ldx, double eps) {                            \
    DN_TABLE_OR_FAIL(t);                                                        \
    if (rows && (!y || !x)) return DN_ERR_NULL;                                          \
    const size_t ld[2] = {ldy, ldx};                                           \
    int st = dn_check_dims(rows, cols, ld, 2, sizeof(R));                      \
    if (st) return st;                                                         \
    if (!dn_finite(eps) || eps < 0) return DN_ERR_ARG;                         \
    const dn_span out[3] = {dn_mat(y, rows, cols, ldy, sizeof(R)),             \
                            dn_vec(mean, rows, sizeof(R)),                     \
                            dn_vec(rstd, rows, sizeof(R))};                    \
    const dn_span in[3] = {dn_mat(x, rows, cols, ldx, sizeof(R)),              \
                           dn_vec(w, cols, sizeof(R)), dn_vec(b, cols, sizeof(R))}; \
    if ((st = dn_check_alias(out, 3, in, 3, 0, 0, y == x && ldy == ldx))) return st; \
    t->layer_norm_fwd_##S(y, mean, rstd, x, w, b, rows, cols, ldy, ldx, eps,   \
                          dn_stream(y, rows, cols, sizeof(R)));                \
    return DN_OK;                                                              \
}                                                                              \
int dn_layer_norm_bwd_##S(R *dx, double *dw, double *db, const R *dy,          \
                          const R *x, const R *mean, const R *rstd,            \
                          const R *w, size_t rows, size_t cols, size_t lddx,   \
                          size_t lddy, size_t ldx) {                           \
    DN_TABLE_OR_FAIL(t);                                                        \
    if (rows && (!dx || !dy || !x || !mean || !rstd)) return DN_ERR_NULL;                \
    const size_t ld[3] = {lddx, lddy, ldx};                                    \
    int st = dn_check_dims(rows, cols, ld, 3, sizeof(R));                      \
    if (st) return st;                                                         \
    const dn_span out[3] = {dn_mat(dx, rows, cols, lddx, sizeof(R)),           \
                            dn_vec(dw, cols, sizeof(double)),                  \
                            dn_vec(db, cols, sizeof(double))};                 \
    const dn_span in[5] = {dn_mat(dy, rows, cols, lddy, sizeof(R)),            \
                           dn_mat(x, rows, cols, ldx, sizeof(R)),              \
                           dn_vec(mean, rows, sizeof(R)),                      \
                           dn_vec(rstd, rows, sizeof(R)), dn_vec(w, cols, sizeof(R))}; \
    if ((st = dn_check_alias(out, 3, in, 5, 0, 0, dx == dy && lddx == lddy))) return st; \
    t->layer_norm_bwd_##S(dx, dw, db, dy, x, mean, rstd, w, rows, cols, lddx,  \
                          lddy, ldx, dn_stream(dx, rows, cols, sizeof(R)));    \
    return DN_OK;                                                              \
}                                                                              \
int dn_rms_norm_fwd_##S(R *y, R *rstd, const R *x, const R *w, size_t rows,    \
                        size_t cols, size_t ldy, size_t ldx, double eps) {     \
    DN_TABLE_OR_FAIL(t);                                                        \
    if (rows && (!y || !x)) return DN_ERR_NULL;                                          \
    const size_t ld[2] = {ldy, ldx};                                           \
    int st = dn_check_dims(rows, cols, ld, 2, sizeof(R));                      \
    if (st) return st;                                                         \
    if (!dn_finite(eps) || eps < 0) return DN_ERR_ARG;                         \
    const dn_span out[2] = {dn_mat(y, rows, cols, ldy, sizeof(R)),             \
                            dn_vec(rstd, rows, sizeof(R))};                    \
    const dn_span in[2] = {dn_mat(x, rows, cols, ldx, sizeof(R)),              \
                           dn_vec(w, cols, sizeof(R))};                        \
    if ((st = dn_check_alias(out, 2, in, 2, 0, 0, y == x && ldy == ldx))) return st; \
    t->rms_norm_fwd_##S(y, rstd, x, w, rows, cols, ldy, ldx, eps,              \
                        dn_stream(y, rows, cols, sizeof(R)));                  \
    return DN_OK;                                                              \
}                                                                              \
int dn_rms_norm_bwd_##S(R *dx, double *dw, const R *dy, const R *x,            \
                        const R *rstd, const R *w, size_t rows, size_t cols,   \
                        size_t lddx, size_t lddy, size_t ldx) {                \
    DN_TABLE_OR_FAIL(t);                                                        \
    if (rows && (!dx || !dy || !x || !rstd)) return DN_ERR_NULL;                         \
    const size_t ld[3] = {lddx, lddy, ldx};                                    \
    int st = dn_check_dims(rows, cols, ld, 3, sizeof(R));                      \
    if (st) return st;                                                         \
    const dn_span out[2] = {dn_mat(dx, rows, cols, lddx, sizeof(R)),           \
                            dn_vec(dw, cols, sizeof(double))};                 \
    const dn_span in[4] = {dn_mat(dy, rows, cols, lddy, sizeof(R)),            \
                           dn_mat(x, rows, cols, ldx, sizeof(R)),              \
                           dn_vec(rstd, rows, sizeof(R)), dn_vec(w, cols, sizeof(R))}; \
    if ((st = dn_check_alias(out, 2, in, 4, 0, 0, dx == dy && lddx == lddy))) return st; \
    t->rms_norm_bwd_##S(dx, dw, dy, x, rstd, w, rows, cols, lddx, lddy, ldx,   \
                        dn_stream(dx, rows, cols, sizeof(R)));                 \
    return DN_OK;                                                              \
}                                                                              \
static int dn_dyt_fwd_any_##S(R *y, const R *x, const R *w, const R *b,        \
                              size_t rows, size_t cols, size_t ldy,            \
                              size_t ldx, double alpha, int fast) {            \
    DN_TABLE_OR_FAIL(t);                                                        \
    if (rows && (!y || !x)) return DN_ERR_NULL;                                          \
    const size_t ld[2] = {ldy, ldx};                                           \
    int st = dn_check_dims(rows, cols, ld, 2, sizeof(R));                      \
    if (st) return st;                                                         \
    if (!dn_finite(alpha)) return DN_ERR_ARG;                                  \
    const dn_span out[1] = {dn_mat(y, rows, cols, ldy, sizeof(R))};            \
    const dn_span in[3] = {dn_mat(x, rows, cols, ldx, sizeof(R)),              \
                           dn_vec(w, cols, sizeof(R)), dn_vec(b, cols, sizeof(R))}; \
    if ((st = dn_check_alias(out, 1, in, 3, 0, 0, y == x && ldy == ldx))) return st; \
    t->dyt_fwd_##S(y, x, w, b, rows, cols, ldy, ldx, alpha, fast,              \
                   dn_stream(y, rows, cols, sizeof(R)));                       \
    return DN_OK;                                                              \
}                                                                              \
int dn_dyt_fwd_##S(R *y, const R *x, const R *w, const R *b, size_t rows,      \
                   size_t cols, size_t ldy, size_t ldx, double alpha) {        \
    return dn_dyt_fwd_any_##S(y, x, w, b, rows, cols, ldy, ldx, alpha, 0);     \
}                                                                              \
int dn_dyt_fwd_fast_##S(R *y, const R *x, const R *w, const R *b, size_t rows, \
                        size_t cols, size_t ldy, size_t ldx, double alpha) {   \
    return dn_dyt_fwd_any_##S(y, x, w, b, rows, cols, ldy, ldx, alpha, 1);     \
}                                                                              \
int dn_dyt_bwd_##S(R *dx, double *dalpha, double *dw, double *db, const R *dy, \
                   const R *x, const R *w, size_t rows, size_t cols,           \
                   size_t lddx, size_t lddy, size_t ldx, double alpha) {       \
    DN_TABLE_OR_FAIL(t);                                                        \
    if (rows && (!dx || !dy || !x)) return DN_ERR_NULL;                                  \
    const size_t ld[3] = {lddx, lddy, ldx};                                    \
    int st = dn_check_dims(rows, cols, ld, 3, sizeof(R));                      \
    if (st) return st;                                                         \
    if (!dn_finite(alpha)) return DN_ERR_ARG;                                  \
    const dn_span out[4] = {dn_mat(dx, rows, cols, lddx, sizeof(R)),           \
                            dn_vec(dalpha, 1, sizeof(double)),                 \
                            dn_vec(dw, cols, sizeof(double)),                  \
                            dn_vec(db, cols, sizeof(double))};                 \
    const dn_span in[3] = {dn_mat(dy, rows, cols, lddy, sizeof(R)),            \
                           dn_mat(x, rows, cols, ldx, sizeof(R)), dn_vec(w, cols, sizeof(R))}; \
    if ((st = dn_check_alias(out, 4, in, 3, 0, 0, dx == dy && lddx == lddy))) return st; \
    t->dyt_bwd_##S(dx, dalpha, dw, db, dy, x, w, rows, cols, lddx, lddy, ldx,  \
                   alpha, dn_stream(dx, rows, cols, sizeof(R)));               \
    return DN_OK;                                                              \
}                                                                              \
int dn_dyisru_fwd_##S(R *y, const R *x, const R *w, const R *b, size_t rows,   \
                      size_t cols, size_t ldy, size_t ldx, double beta,        \
                      double eps) {                                            \
    DN_TABLE_OR_FAIL(t);                                                        \
    if (rows && (!y || !x)) return DN_ERR_NULL;                                          \
    const size_t ld[2] = {ldy, ldx};                                           \
    int st = dn_check_dims(rows, cols, ld, 2, sizeof(R));                      \
    if (st) return st;                                                         \
    if (!dn_finite(beta) || beta < 0 || !dn_finite(eps) || eps < 0 ||          \
        !dn_finite(beta + eps)) return DN_ERR_ARG;                             \
    const dn_span out[1] = {dn_mat(y, rows, cols, ldy, sizeof(R))};            \
    const dn_span in[3] = {dn_mat(x, rows, cols, ldx, sizeof(R)),              \
                           dn_vec(w, cols, sizeof(R)), dn_vec(b, cols, sizeof(R))}; \
    if ((st = dn_check_alias(out, 1, in, 3, 0, 0, y == x && ldy == ldx))) return st; \
    t->dyisru_fwd_##S(y, x, w, b, rows, cols, ldy, ldx, beta, eps,             \
                      dn_stream(y, rows, cols, sizeof(R)));                    \
    return DN_OK;                                                              \
}                                                                              \
int dn_dyisru_bwd_##S(R *dx, double *dbeta, double *dw, double *db,            \
                      const R *dy, const R *x, const R *w, size_t rows,        \
                      size_t cols, size_t lddx, size_t lddy, size_t ldx,       \
                      double beta, double eps) {                               \
    DN_TABLE_OR_FAIL(t);                                                        \
    if (rows && (!dx || !dy || !x)) return DN_ERR_NULL;                                  \
    const size_t ld[3] = {lddx, lddy, ldx};                                    \
    int st = dn_check_dims(rows, cols, ld, 3, sizeof(R));                      \
    if (st) return st;                                                         \
    if (!dn_finite(beta) || beta < 0 || !dn_finite(eps) || eps < 0 ||          \
        !dn_finite(beta + eps)) return DN_ERR_ARG;                             \
    const dn_span out[4] = {dn_mat(dx, rows, cols, lddx, sizeof(R)),           \
                            dn_vec(dbeta, 1, sizeof(double)),                  \
                            dn_vec(dw, cols, sizeof(double)),                  \
                            dn_vec(db, cols, sizeof(double))};                 \
    const dn_span in[3] = {dn_mat(dy, rows, cols, lddy, sizeof(R)),            \
                           dn_mat(x, rows, cols, ldx, sizeof(R)), dn_vec(w, cols, sizeof(R))}; \
    if ((st = dn_check_alias(out, 4, in, 3, 0, 0, dx == dy && lddx == lddy))) return st; \
    t->dyisru_bwd_##S(dx, dbeta, dw, db, dy, x, w, rows, cols, lddx, lddy,     \
                      ldx, beta, eps, dn_stream(dx, rows, cols, sizeof(R)));   \
    return DN_OK;                                                              \
}                                                                              \
static int dn_tanh_any_##S(R *y, const R *x, size_t n, int fast) {             \
    DN_TABLE_OR_FAIL(t);                                                        \
    if (n && (!y || !x)) return DN_ERR_NULL;                                   \
    if (y != x && dn_overlap(dn_vec(y, n, sizeof(R)), dn_vec(x, n, sizeof(R)))) \
        return DN_ERR_ALIAS;                                                   \
    if (n) (fast ? t->tanh_fast_##S : t->tanh_##S)(y, x, n);                   \
    return DN_OK;                                                              \
}                                                                              \
int dn_tanh_##S(R *y, const R *x, size_t n) { return dn_tanh_any_##S(y, x, n, 0); } \
int dn_tanh_fast_##S(R *y, const R *x, size_t n) { return dn_tanh_any_##S(y, x, n, 1); }

DN_ENTRY_POINTS(float, f32)
DN_ENTRY_POINTS(double, f64)

int dn_round_f32(float *dst, const double *src, size_t n) {
    DN_TABLE_OR_FAIL(t);
    if (!n) return DN_OK;
    if (!dst || !src) return DN_ERR_NULL;
    if (n > (size_t)-1 / sizeof(double)) return DN_ERR_SIZE;
    if (dn_overlap(dn_vec(dst, n, sizeof(float)), dn_vec(src, n, sizeof(double))))
        return DN_ERR_ALIAS;
    t->round_f32(dst, src, n);
    return DN_OK;
}
