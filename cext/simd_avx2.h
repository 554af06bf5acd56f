/* simd_avx2.h - the vector abstraction on AVX2 + FMA: 8 floats or
 * 4 doubles a vector; partial loads and stores through vmaskmov, which
 * neither reads nor writes (nor faults on) the masked-off lanes. */
#ifndef DN_SIMD_AVX2_H
#define DN_SIMD_AVX2_H
#include <immintrin.h>
#include "simd_common.h"

#define DN_ISA_NAME "avx2"
#define DN_VECTOR_BYTES 32
/* a non-temporal store fills half a 64-byte line (see kernels_common.inc) */
#define DN_STREAM_LINE_VECS 2
/* DyT's tanh on two vectors in lockstep (simd_pair.h) */
#define DN_TANH_PAIR 1
#define VF32_W 8
#define VF64_W 4

typedef __m256 vf32;
typedef __m256d vf64;
typedef struct { __m256d lo, hi; } vf32d;
typedef __m256d vf64d;

DN_INLINE __m256i dn_mask32(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
DN_INLINE __m256i dn_mask64(size_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)n), _mm256_setr_epi64x(0, 1, 2, 3));
}
DN_INLINE __m256i dn_sign32(void) { return _mm256_set1_epi32((int)0x80000000u); }
DN_INLINE __m256i dn_sign64(void) { return _mm256_set1_epi64x((long long)0x8000000000000000ull); }

/* ---- float ---- */
DN_INLINE vf32 vf32_load(const float *p) { return _mm256_loadu_ps(p); }
DN_INLINE vf32 vf32_loadn(const float *p, size_t n) { return _mm256_maskload_ps(p, dn_mask32(n)); }
DN_INLINE void vf32_store(float *p, vf32 v) { _mm256_storeu_ps(p, v); }
DN_INLINE void vf32_storen(float *p, vf32 v, size_t n) { _mm256_maskstore_ps(p, dn_mask32(n), v); }
DN_INLINE void vf32_stream(float *p, vf32 v) { _mm256_stream_ps(p, v); }
DN_INLINE vf32 vf32_set1(float s) { return _mm256_set1_ps(s); }
DN_INLINE vf32 vf32_zero(void) { return _mm256_setzero_ps(); }
DN_INLINE vf32 vf32_add(vf32 a, vf32 b) { return _mm256_add_ps(a, b); }
DN_INLINE vf32 vf32_sub(vf32 a, vf32 b) { return _mm256_sub_ps(a, b); }
DN_INLINE vf32 vf32_mul(vf32 a, vf32 b) { return _mm256_mul_ps(a, b); }
DN_INLINE vf32 vf32_div(vf32 a, vf32 b) { return _mm256_div_ps(a, b); }
DN_INLINE vf32 vf32_fma(vf32 a, vf32 b, vf32 c) { return _mm256_fmadd_ps(a, b, c); }
DN_INLINE vf32 vf32_fnma(vf32 a, vf32 b, vf32 c) { return _mm256_fnmadd_ps(a, b, c); }
DN_INLINE vf32 vf32_min(vf32 x, vf32 c) { return _mm256_min_ps(c, x); }
DN_INLINE vf32 vf32_max(vf32 x, vf32 c) { return _mm256_max_ps(c, x); }
DN_INLINE vf32 vf32_neg(vf32 a) { return _mm256_xor_ps(a, _mm256_castsi256_ps(dn_sign32())); }
DN_INLINE vf32 vf32_abs(vf32 a) { return _mm256_andnot_ps(_mm256_castsi256_ps(dn_sign32()), a); }
DN_INLINE vf32 vf32_copysign(vf32 m, vf32 s) {
    const vf32 sb = _mm256_castsi256_ps(dn_sign32());
    return _mm256_or_ps(_mm256_andnot_ps(sb, m), _mm256_and_ps(sb, s));
}
DN_INLINE vf32 vf32_shl_mant(vf32 v) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(v), 23)); }
DN_INLINE vf32 vf32_select_gt(vf32 a, vf32 b, vf32 x, vf32 y) {
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_GT_OQ));
}
DN_INLINE vf32d vf32d_zero(void) { vf32d r = { _mm256_setzero_pd(), _mm256_setzero_pd() }; return r; }
DN_INLINE __m256d dn_lo_pd(vf32 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
DN_INLINE __m256d dn_hi_pd(vf32 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }
DN_INLINE vf32d vf32d_add(vf32d acc, vf32 v) {
    acc.lo = _mm256_add_pd(acc.lo, dn_lo_pd(v)); acc.hi = _mm256_add_pd(acc.hi, dn_hi_pd(v)); return acc;
}
DN_INLINE double dn_hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
DN_INLINE double vf32d_sum(vf32d acc) { return dn_hsum_pd(_mm256_add_pd(acc.lo, acc.hi)); }
DN_INLINE vf32d vf32d_load(const double *p) { vf32d r = { _mm256_loadu_pd(p), _mm256_loadu_pd(p + 4) }; return r; }
DN_INLINE vf32d vf32d_loadn(const double *p, size_t n) {
    vf32d r = { _mm256_maskload_pd(p, dn_mask64(n < 4 ? n : 4)),
                _mm256_maskload_pd(p + 4, dn_mask64(n > 4 ? n - 4 : 0)) }; return r;
}
DN_INLINE void vf32d_store(double *p, vf32d a) { _mm256_storeu_pd(p, a.lo); _mm256_storeu_pd(p + 4, a.hi); }
DN_INLINE void vf32d_storen(double *p, vf32d a, size_t n) {
    _mm256_maskstore_pd(p, dn_mask64(n < 4 ? n : 4), a.lo);
    _mm256_maskstore_pd(p + 4, dn_mask64(n > 4 ? n - 4 : 0), a.hi);
}
/* each lane rounded to float (the current rounding mode, as a C cast) */
DN_INLINE vf32 vf32d_narrow(vf32d a) { return _mm256_set_m128(_mm256_cvtpd_ps(a.hi), _mm256_cvtpd_ps(a.lo)); }

/* ---- double ---- */
DN_INLINE vf64 vf64_load(const double *p) { return _mm256_loadu_pd(p); }
DN_INLINE vf64 vf64_loadn(const double *p, size_t n) { return _mm256_maskload_pd(p, dn_mask64(n)); }
DN_INLINE void vf64_store(double *p, vf64 v) { _mm256_storeu_pd(p, v); }
DN_INLINE void vf64_storen(double *p, vf64 v, size_t n) { _mm256_maskstore_pd(p, dn_mask64(n), v); }
DN_INLINE void vf64_stream(double *p, vf64 v) { _mm256_stream_pd(p, v); }
DN_INLINE vf64 vf64_set1(double s) { return _mm256_set1_pd(s); }
DN_INLINE vf64 vf64_zero(void) { return _mm256_setzero_pd(); }
DN_INLINE vf64 vf64_add(vf64 a, vf64 b) { return _mm256_add_pd(a, b); }
DN_INLINE vf64 vf64_sub(vf64 a, vf64 b) { return _mm256_sub_pd(a, b); }
DN_INLINE vf64 vf64_mul(vf64 a, vf64 b) { return _mm256_mul_pd(a, b); }
DN_INLINE vf64 vf64_div(vf64 a, vf64 b) { return _mm256_div_pd(a, b); }
DN_INLINE vf64 vf64_fma(vf64 a, vf64 b, vf64 c) { return _mm256_fmadd_pd(a, b, c); }
DN_INLINE vf64 vf64_fnma(vf64 a, vf64 b, vf64 c) { return _mm256_fnmadd_pd(a, b, c); }
DN_INLINE vf64 vf64_min(vf64 x, vf64 c) { return _mm256_min_pd(c, x); }
DN_INLINE vf64 vf64_max(vf64 x, vf64 c) { return _mm256_max_pd(c, x); }
DN_INLINE vf64 vf64_neg(vf64 a) { return _mm256_xor_pd(a, _mm256_castsi256_pd(dn_sign64())); }
DN_INLINE vf64 vf64_abs(vf64 a) { return _mm256_andnot_pd(_mm256_castsi256_pd(dn_sign64()), a); }
DN_INLINE vf64 vf64_copysign(vf64 m, vf64 s) {
    const vf64 sb = _mm256_castsi256_pd(dn_sign64());
    return _mm256_or_pd(_mm256_andnot_pd(sb, m), _mm256_and_pd(sb, s));
}
DN_INLINE vf64 vf64_shl_mant(vf64 v) { return _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(v), 52)); }
DN_INLINE vf64 vf64_select_gt(vf64 a, vf64 b, vf64 x, vf64 y) {
    return _mm256_blendv_pd(y, x, _mm256_cmp_pd(a, b, _CMP_GT_OQ));
}
DN_INLINE vf64d vf64d_zero(void) { return _mm256_setzero_pd(); }
DN_INLINE vf64d vf64d_add(vf64d acc, vf64 v) { return _mm256_add_pd(acc, v); }
DN_INLINE double vf64d_sum(vf64d acc) { return dn_hsum_pd(acc); }
DN_INLINE vf64d vf64d_load(const double *p) { return _mm256_loadu_pd(p); }
DN_INLINE vf64d vf64d_loadn(const double *p, size_t n) { return vf64_loadn(p, n); }
DN_INLINE void vf64d_store(double *p, vf64d a) { _mm256_storeu_pd(p, a); }
DN_INLINE void vf64d_storen(double *p, vf64d a, size_t n) { vf64_storen(p, a, n); }

/* x / sqrt(q): a correctly rounded sqrt and division (rsqrtps's 12 bits
 * would need two Newton steps, no cheaper than the divider) */
DN_INLINE vf32 vf32_div_sqrt(vf32 x, vf32 q) { return _mm256_div_ps(x, _mm256_sqrt_ps(q)); }
DN_INLINE vf64 vf64_div_sqrt(vf64 x, vf64 q) { return _mm256_div_pd(x, _mm256_sqrt_pd(q)); }
/* 1/sqrt(a): sqrt and a division, for the same reason */
DN_INLINE vf32 vf32_rsqrt(vf32 a) { return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_sqrt_ps(a)); }
DN_INLINE vf64 vf64_rsqrt(vf64 a) { return _mm256_div_pd(_mm256_set1_pd(1.0), _mm256_sqrt_pd(a)); }

DN_INLINE void dn_stream_fence(void) { _mm_sfence(); }
#endif
