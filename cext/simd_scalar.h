/* simd_scalar.h - the vector abstraction with one lane: portable C99.
 * Loads and stores go through memcpy, so an array need not be aligned to
 * its element size (it compiles to a plain move).
 * No fused multiply-add: the baseline x86-64 target has none and libm's
 * fmaf would be emulated in software. Units that include this file are
 * compiled with -ffp-contract=off, so a*b+c rounds twice, everywhere alike. */
#ifndef DN_SIMD_SCALAR_H
#define DN_SIMD_SCALAR_H
#include <math.h>
#include "simd_common.h"

#define DN_ISA_NAME "scalar"
#define DN_VECTOR_BYTES 4
#define DN_STREAM_LINE_VECS 1 /* stream is a plain store here */

#define DN_SCALAR_OPS(T, P, BITS_T, TOBITS, FROMBITS, MANT)                   \
typedef T P;                                                                   \
typedef double P##d;                                                           \
DN_INLINE P P##_load(const T *p) { T v; memcpy(&v, p, sizeof v); return v; }  \
DN_INLINE P P##_loadn(const T *p, size_t n) { return n ? P##_load(p) : (T)0; } \
DN_INLINE void P##_store(T *p, P v) { memcpy(p, &v, sizeof v); }               \
DN_INLINE void P##_storen(T *p, P v, size_t n) { if (n) P##_store(p, v); }     \
DN_INLINE void P##_stream(T *p, P v) { P##_store(p, v); }                      \
DN_INLINE P P##_set1(T s) { return s; }                                        \
DN_INLINE P P##_zero(void) { return (T)0; }                                    \
DN_INLINE P P##_add(P a, P b) { return a + b; }                                \
DN_INLINE P P##_sub(P a, P b) { return a - b; }                                \
DN_INLINE P P##_mul(P a, P b) { return a * b; }                                \
DN_INLINE P P##_div(P a, P b) { return a / b; }                                \
DN_INLINE P P##_sqrt(P a) { return (T)sqrt(a); }                               \
DN_INLINE P P##_neg(P a) { return -a; }                                        \
DN_INLINE P P##_abs(P a) { return FROMBITS(TOBITS(a) & ~((BITS_T)1 << (sizeof(T) * 8 - 1))); } \
DN_INLINE P P##_fma(P a, P b, P c) { return a * b + c; }                       \
DN_INLINE P P##_fnma(P a, P b, P c) { return c - a * b; }                      \
DN_INLINE P P##_min(P x, P c) { return x > c ? c : x; }                        \
DN_INLINE P P##_max(P x, P c) { return x < c ? c : x; }                        \
DN_INLINE P P##_copysign(P m, P s) {                                           \
    const BITS_T sb = (BITS_T)1 << (sizeof(T) * 8 - 1);                        \
    return FROMBITS((TOBITS(m) & ~sb) | (TOBITS(s) & sb)); }                   \
DN_INLINE P P##_shl_mant(P v) { return FROMBITS(TOBITS(v) << MANT); }          \
DN_INLINE P P##_select_gt(P a, P b, P x, P y) { return a > b ? x : y; }        \
DN_INLINE P##d P##d_zero(void) { return 0.0; }                                 \
DN_INLINE P##d P##d_add(P##d acc, P v) { return acc + (double)v; }             \
DN_INLINE double P##d_sum(P##d acc) { return acc; }                            \
DN_INLINE P##d P##d_load(const double *p) { double v; memcpy(&v, p, sizeof v); return v; } \
DN_INLINE P##d P##d_loadn(const double *p, size_t n) { return n ? P##d_load(p) : 0.0; } \
DN_INLINE void P##d_store(double *p, P##d a) { memcpy(p, &a, sizeof a); }      \
DN_INLINE void P##d_storen(double *p, P##d a, size_t n) { if (n) P##d_store(p, a); } \
DN_INLINE P P##d_narrow(P##d a) { return (T)a; } /* rounded, as a C cast */

#define VF32_W 1
#define VF64_W 1
DN_SCALAR_OPS(float, vf32, uint32_t, dn_f32_bits, dn_f32_from_bits, 23)
DN_SCALAR_OPS(double, vf64, uint64_t, dn_f64_bits, dn_f64_from_bits, 52)

/* 32-entry table lookups (see simd_common.h) */
#define DN_HAS_TAB32 1
typedef uint32_t vf32i;
DN_INLINE vf32i vf32_tab_index(vf32 a, int base) {
    const uint32_t h = dn_f32_bits(a) >> 21;
    return h > (uint32_t)base ? h - (uint32_t)base : 0;
}
DN_INLINE vf32 vf32_tab32(const float *tab, vf32i i) { return tab[i & 31]; }

/* x / sqrt(q), correctly rounded operations */
DN_INLINE vf32 vf32_div_sqrt(vf32 x, vf32 q) { return x / vf32_sqrt(q); }
DN_INLINE vf64 vf64_div_sqrt(vf64 x, vf64 q) { return x / vf64_sqrt(q); }

/* 1/sqrt(a), correctly rounded operations (see simd_common.h) */
DN_INLINE vf32 vf32_rsqrt(vf32 a) { return 1.0f / vf32_sqrt(a); }
DN_INLINE vf64 vf64_rsqrt(vf64 a) { return 1.0 / vf64_sqrt(a); }

DN_INLINE void dn_stream_fence(void) {}
#endif
