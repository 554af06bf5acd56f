/* simd_avx512.h - the vector abstraction on AVX-512 F/BW/DQ/VL:
 * 16 floats or 8 doubles a vector; partial loads and stores through
 * lane masks, so a row's tail is handled in vector code, never past its end. */
#ifndef DN_SIMD_AVX512_H
#define DN_SIMD_AVX512_H
#include <immintrin.h>
#include "simd_common.h"

#define DN_ISA_NAME "avx512"
#define DN_VECTOR_BYTES 64
#define DN_STREAM_LINE_VECS 1 /* one vector, one 64-byte line */
#define VF32_W 16
#define VF64_W 8

typedef __m512 vf32;
typedef __m512d vf64;
typedef struct { __m512d lo, hi; } vf32d;
typedef __m512d vf64d;

DN_INLINE __mmask16 dn_mask16(size_t n) { return (__mmask16)((1u << n) - 1u); }
DN_INLINE __mmask8 dn_mask8(size_t n) { return (__mmask8)((1u << n) - 1u); }

/* ---- float ---- */
DN_INLINE vf32 vf32_load(const float *p) { return _mm512_loadu_ps(p); }
DN_INLINE vf32 vf32_loadn(const float *p, size_t n) { return _mm512_maskz_loadu_ps(dn_mask16(n), p); }
DN_INLINE void vf32_store(float *p, vf32 v) { _mm512_storeu_ps(p, v); }
DN_INLINE void vf32_storen(float *p, vf32 v, size_t n) { _mm512_mask_storeu_ps(p, dn_mask16(n), v); }
DN_INLINE void vf32_stream(float *p, vf32 v) { _mm512_stream_ps(p, v); }
DN_INLINE vf32 vf32_set1(float s) { return _mm512_set1_ps(s); }
DN_INLINE vf32 vf32_zero(void) { return _mm512_setzero_ps(); }
DN_INLINE vf32 vf32_add(vf32 a, vf32 b) { return _mm512_add_ps(a, b); }
DN_INLINE vf32 vf32_sub(vf32 a, vf32 b) { return _mm512_sub_ps(a, b); }
DN_INLINE vf32 vf32_mul(vf32 a, vf32 b) { return _mm512_mul_ps(a, b); }
DN_INLINE vf32 vf32_div(vf32 a, vf32 b) { return _mm512_div_ps(a, b); }
DN_INLINE vf32 vf32_fma(vf32 a, vf32 b, vf32 c) { return _mm512_fmadd_ps(a, b, c); }
DN_INLINE vf32 vf32_fnma(vf32 a, vf32 b, vf32 c) { return _mm512_fnmadd_ps(a, b, c); }
DN_INLINE vf32 vf32_min(vf32 x, vf32 c) { return _mm512_min_ps(c, x); }
DN_INLINE vf32 vf32_max(vf32 x, vf32 c) { return _mm512_max_ps(c, x); }
DN_INLINE vf32 vf32_neg(vf32 a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u))); }
DN_INLINE vf32 vf32_abs(vf32 a) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff))); }
DN_INLINE vf32 vf32_copysign(vf32 m, vf32 s) {
    /* ternary logic 0xCA = a ? b : c per bit, a = sign mask, b = s, c = m */
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_set1_epi32((int)0x80000000u),
        _mm512_castps_si512(s), _mm512_castps_si512(m), 0xCA));
}
DN_INLINE vf32 vf32_shl_mant(vf32 v) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(v), 23)); }
DN_INLINE vf32 vf32_select_gt(vf32 a, vf32 b, vf32 x, vf32 y) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ), y, x);
}
/* 32-entry table lookups: one two-source permute per table */
#define DN_HAS_TAB32 1
typedef __m512i vf32i;
DN_INLINE vf32i vf32_tab_index(vf32 a, int base) {
    /* max(bits >> 21, base) - base: a saturating subtract of base << 5 from
     * each lane's high 16 bits (its low 16 are untouched), then the shift */
    return _mm512_srli_epi32(_mm512_subs_epu16(_mm512_castps_si512(a),
                                               _mm512_set1_epi32(base << 21)), 21);
}
DN_INLINE vf32 vf32_tab32(const float *tab, vf32i i) {
    return _mm512_permutex2var_ps(_mm512_load_ps(tab), i, _mm512_load_ps(tab + 16));
}
DN_INLINE vf32d vf32d_zero(void) { vf32d r = { _mm512_setzero_pd(), _mm512_setzero_pd() }; return r; }
DN_INLINE __m512d dn_lo_pd(vf32 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
DN_INLINE __m512d dn_hi_pd(vf32 v) { return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))); }
DN_INLINE vf32d vf32d_add(vf32d acc, vf32 v) {
    acc.lo = _mm512_add_pd(acc.lo, dn_lo_pd(v)); acc.hi = _mm512_add_pd(acc.hi, dn_hi_pd(v)); return acc;
}
DN_INLINE double vf32d_sum(vf32d acc) { return _mm512_reduce_add_pd(_mm512_add_pd(acc.lo, acc.hi)); }
DN_INLINE vf32d vf32d_load(const double *p) { vf32d r = { _mm512_loadu_pd(p), _mm512_loadu_pd(p + 8) }; return r; }
DN_INLINE vf32d vf32d_loadn(const double *p, size_t n) {
    vf32d r = { _mm512_maskz_loadu_pd(dn_mask8(n < 8 ? n : 8), p),
                _mm512_maskz_loadu_pd(dn_mask8(n > 8 ? n - 8 : 0), p + 8) }; return r;
}
DN_INLINE void vf32d_store(double *p, vf32d a) { _mm512_storeu_pd(p, a.lo); _mm512_storeu_pd(p + 8, a.hi); }
DN_INLINE void vf32d_storen(double *p, vf32d a, size_t n) {
    _mm512_mask_storeu_pd(p, dn_mask8(n < 8 ? n : 8), a.lo);
    _mm512_mask_storeu_pd(p + 8, dn_mask8(n > 8 ? n - 8 : 0), a.hi);
}
/* each lane rounded to float (the current rounding mode, as a C cast) */
DN_INLINE vf32 vf32d_narrow(vf32d a) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(a.lo)), _mm512_cvtpd_ps(a.hi), 1);
}

/* ---- double ---- */
DN_INLINE vf64 vf64_load(const double *p) { return _mm512_loadu_pd(p); }
DN_INLINE vf64 vf64_loadn(const double *p, size_t n) { return _mm512_maskz_loadu_pd(dn_mask8(n), p); }
DN_INLINE void vf64_store(double *p, vf64 v) { _mm512_storeu_pd(p, v); }
DN_INLINE void vf64_storen(double *p, vf64 v, size_t n) { _mm512_mask_storeu_pd(p, dn_mask8(n), v); }
DN_INLINE void vf64_stream(double *p, vf64 v) { _mm512_stream_pd(p, v); }
DN_INLINE vf64 vf64_set1(double s) { return _mm512_set1_pd(s); }
DN_INLINE vf64 vf64_zero(void) { return _mm512_setzero_pd(); }
DN_INLINE vf64 vf64_add(vf64 a, vf64 b) { return _mm512_add_pd(a, b); }
DN_INLINE vf64 vf64_sub(vf64 a, vf64 b) { return _mm512_sub_pd(a, b); }
DN_INLINE vf64 vf64_mul(vf64 a, vf64 b) { return _mm512_mul_pd(a, b); }
DN_INLINE vf64 vf64_div(vf64 a, vf64 b) { return _mm512_div_pd(a, b); }
DN_INLINE vf64 vf64_fma(vf64 a, vf64 b, vf64 c) { return _mm512_fmadd_pd(a, b, c); }
DN_INLINE vf64 vf64_fnma(vf64 a, vf64 b, vf64 c) { return _mm512_fnmadd_pd(a, b, c); }
DN_INLINE vf64 vf64_min(vf64 x, vf64 c) { return _mm512_min_pd(c, x); }
DN_INLINE vf64 vf64_max(vf64 x, vf64 c) { return _mm512_max_pd(c, x); }
DN_INLINE vf64 vf64_neg(vf64 a) { return _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a), _mm512_set1_epi64((long long)0x8000000000000000ull))); }
DN_INLINE vf64 vf64_abs(vf64 a) { return _mm512_castsi512_pd(_mm512_and_si512(_mm512_castpd_si512(a), _mm512_set1_epi64(0x7fffffffffffffffll))); }
DN_INLINE vf64 vf64_copysign(vf64 m, vf64 s) {
    return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(_mm512_set1_epi64((long long)0x8000000000000000ull),
        _mm512_castpd_si512(s), _mm512_castpd_si512(m), 0xCA));
}
DN_INLINE vf64 vf64_shl_mant(vf64 v) { return _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_castpd_si512(v), 52)); }
DN_INLINE vf64 vf64_select_gt(vf64 a, vf64 b, vf64 x, vf64 y) {
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_GT_OQ), y, x);
}
DN_INLINE vf64d vf64d_zero(void) { return _mm512_setzero_pd(); }
DN_INLINE vf64d vf64d_add(vf64d acc, vf64 v) { return _mm512_add_pd(acc, v); }
DN_INLINE double vf64d_sum(vf64d acc) { return _mm512_reduce_add_pd(acc); }
DN_INLINE vf64d vf64d_load(const double *p) { return _mm512_loadu_pd(p); }
DN_INLINE vf64d vf64d_loadn(const double *p, size_t n) { return vf64_loadn(p, n); }
DN_INLINE void vf64d_store(double *p, vf64d a) { _mm512_storeu_pd(p, a); }
DN_INLINE void vf64d_storen(double *p, vf64d a, size_t n) { vf64_storen(p, a, n); }

/* 1/sqrt(a). float: the 14-bit estimate (relative error < 2^-14) and one
 * Newton step y (3/2 - a/2 y^2), which squares the error: < 2^-26.4 plus
 * the step's own roundings, about 2^-23 in all; one sqrt and one division
 * cost more on the AMD hosts, where both use the divider. For a > 0 and
 * finite (the estimate of +inf is 0, and inf * 0 would be NaN).
 * double: sqrt and a division, correctly rounded. */
DN_INLINE vf32 vf32_rsqrt(vf32 a) {
    const __m512 y = _mm512_rsqrt14_ps(a);
    const __m512 h = _mm512_mul_ps(a, _mm512_set1_ps(0.5f));
    return _mm512_mul_ps(y, _mm512_fnmadd_ps(_mm512_mul_ps(h, y), y, _mm512_set1_ps(1.5f)));
}
/* x / sqrt(q), q > 0 finite. float: the estimate and one Newton step folded
 * into the product, u = xy + (xy/2)(1 - q y^2), y = rsqrt14(q): the
 * estimate's roundings add about 1 ULP to the exact form's (see visru in
 * vmath.inc); the sign of x is put back so that x = -0 gives -0 (the fused
 * add of a +0 product would give +0). double: sqrt and a division. */
DN_INLINE vf32 vf32_div_sqrt(vf32 x, vf32 q) {
    const __m512 y = _mm512_rsqrt14_ps(q);
    const __m512 xy = _mm512_mul_ps(x, y);
    const __m512 e = _mm512_fnmadd_ps(_mm512_mul_ps(q, y), y, _mm512_set1_ps(1.0f));
    return vf32_copysign(_mm512_fmadd_ps(_mm512_mul_ps(xy, _mm512_set1_ps(0.5f)), e, xy), x);
}
DN_INLINE vf64 vf64_div_sqrt(vf64 x, vf64 q) { return _mm512_div_pd(x, _mm512_sqrt_pd(q)); }
DN_INLINE vf64 vf64_rsqrt(vf64 a) { return _mm512_div_pd(_mm512_set1_pd(1.0), _mm512_sqrt_pd(a)); }

DN_INLINE void dn_stream_fence(void) { _mm_sfence(); }
#endif
