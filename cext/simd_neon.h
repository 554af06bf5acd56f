/* simd_neon.h - the vector abstraction on AArch64 Advanced SIMD (NEON):
 * 4 floats or 2 doubles a vector. NEON has no masked memory access, so a
 * partial load or store goes through a small stack buffer: only the n
 * valid elements are copied in and out. Full vectors load and store as
 * bytes, so an array need not be aligned to its element size (the same
 * ld1/st1 of a q register). NEON's fmin/fmax propagate NaN
 * from either operand, which is the clamp semantics the kernels want. */
#ifndef DN_SIMD_NEON_H
#define DN_SIMD_NEON_H
#include <arm_neon.h>
#include "simd_common.h"

#define DN_ISA_NAME "neon"
#define DN_VECTOR_BYTES 16
#define DN_STREAM_LINE_VECS 1 /* stream is a plain store here */
#define VF32_W 4
#define VF64_W 2

typedef float32x4_t vf32;
typedef float64x2_t vf64;
typedef struct { float64x2_t lo, hi; } vf32d;
typedef float64x2_t vf64d;

DN_INLINE float64x2_t dn_ld2(const double *p) { return vreinterpretq_f64_u8(vld1q_u8((const uint8_t *)p)); }
DN_INLINE void dn_st2(double *p, float64x2_t v) { vst1q_u8((uint8_t *)p, vreinterpretq_u8_f64(v)); }

/* ---- float ---- */
DN_INLINE vf32 vf32_load(const float *p) { return vreinterpretq_f32_u8(vld1q_u8((const uint8_t *)p)); }
DN_INLINE vf32 vf32_loadn(const float *p, size_t n) {
    float b[4] = {0.f, 0.f, 0.f, 0.f}; memcpy(b, p, n * sizeof(float)); return vld1q_f32(b);
}
DN_INLINE void vf32_store(float *p, vf32 v) { vst1q_u8((uint8_t *)p, vreinterpretq_u8_f32(v)); }
DN_INLINE void vf32_storen(float *p, vf32 v, size_t n) {
    float b[4]; vst1q_f32(b, v); memcpy(p, b, n * sizeof(float));
}
DN_INLINE void vf32_stream(float *p, vf32 v) { vf32_store(p, v); }
DN_INLINE vf32 vf32_set1(float s) { return vdupq_n_f32(s); }
DN_INLINE vf32 vf32_zero(void) { return vdupq_n_f32(0.f); }
DN_INLINE vf32 vf32_add(vf32 a, vf32 b) { return vaddq_f32(a, b); }
DN_INLINE vf32 vf32_sub(vf32 a, vf32 b) { return vsubq_f32(a, b); }
DN_INLINE vf32 vf32_mul(vf32 a, vf32 b) { return vmulq_f32(a, b); }
DN_INLINE vf32 vf32_div(vf32 a, vf32 b) { return vdivq_f32(a, b); }
DN_INLINE vf32 vf32_fma(vf32 a, vf32 b, vf32 c) { return vfmaq_f32(c, a, b); }
DN_INLINE vf32 vf32_fnma(vf32 a, vf32 b, vf32 c) { return vfmsq_f32(c, a, b); }
DN_INLINE vf32 vf32_min(vf32 x, vf32 c) { return vminq_f32(x, c); }
DN_INLINE vf32 vf32_max(vf32 x, vf32 c) { return vmaxq_f32(x, c); }
DN_INLINE vf32 vf32_neg(vf32 a) { return vnegq_f32(a); }
DN_INLINE vf32 vf32_abs(vf32 a) { return vabsq_f32(a); }
DN_INLINE vf32 vf32_copysign(vf32 m, vf32 s) { return vbslq_f32(vdupq_n_u32(0x80000000u), s, m); }
DN_INLINE vf32 vf32_shl_mant(vf32 v) { return vreinterpretq_f32_u32(vshlq_n_u32(vreinterpretq_u32_f32(v), 23)); }
DN_INLINE vf32 vf32_select_gt(vf32 a, vf32 b, vf32 x, vf32 y) { return vbslq_f32(vcgtq_f32(a, b), x, y); }
DN_INLINE vf32d vf32d_zero(void) { vf32d r = { vdupq_n_f64(0.0), vdupq_n_f64(0.0) }; return r; }
DN_INLINE vf32d vf32d_add(vf32d acc, vf32 v) {
    acc.lo = vaddq_f64(acc.lo, vcvt_f64_f32(vget_low_f32(v)));
    acc.hi = vaddq_f64(acc.hi, vcvt_high_f64_f32(v)); return acc;
}
DN_INLINE double vf32d_sum(vf32d acc) { return vaddvq_f64(vaddq_f64(acc.lo, acc.hi)); }
DN_INLINE vf32d vf32d_load(const double *p) { vf32d r = { dn_ld2(p), dn_ld2(p + 2) }; return r; }
DN_INLINE vf32d vf32d_loadn(const double *p, size_t n) {
    double b[4] = {0.0, 0.0, 0.0, 0.0}; memcpy(b, p, n * sizeof(double));
    vf32d r = { vld1q_f64(b), vld1q_f64(b + 2) }; return r;
}
DN_INLINE void vf32d_store(double *p, vf32d a) { dn_st2(p, a.lo); dn_st2(p + 2, a.hi); }
DN_INLINE void vf32d_storen(double *p, vf32d a, size_t n) {
    double b[4]; vst1q_f64(b, a.lo); vst1q_f64(b + 2, a.hi); memcpy(p, b, n * sizeof(double));
}
/* each lane rounded to float (the current rounding mode, as a C cast) */
DN_INLINE vf32 vf32d_narrow(vf32d a) { return vcvt_high_f32_f64(vcvt_f32_f64(a.lo), a.hi); }

/* ---- double ---- */
DN_INLINE vf64 vf64_load(const double *p) { return dn_ld2(p); }
DN_INLINE vf64 vf64_loadn(const double *p, size_t n) {
    double b[2] = {0.0, 0.0}; memcpy(b, p, n * sizeof(double)); return vld1q_f64(b);
}
DN_INLINE void vf64_store(double *p, vf64 v) { dn_st2(p, v); }
DN_INLINE void vf64_storen(double *p, vf64 v, size_t n) {
    double b[2]; vst1q_f64(b, v); memcpy(p, b, n * sizeof(double));
}
DN_INLINE void vf64_stream(double *p, vf64 v) { vf64_store(p, v); }
DN_INLINE vf64 vf64_set1(double s) { return vdupq_n_f64(s); }
DN_INLINE vf64 vf64_zero(void) { return vdupq_n_f64(0.0); }
DN_INLINE vf64 vf64_add(vf64 a, vf64 b) { return vaddq_f64(a, b); }
DN_INLINE vf64 vf64_sub(vf64 a, vf64 b) { return vsubq_f64(a, b); }
DN_INLINE vf64 vf64_mul(vf64 a, vf64 b) { return vmulq_f64(a, b); }
DN_INLINE vf64 vf64_div(vf64 a, vf64 b) { return vdivq_f64(a, b); }
DN_INLINE vf64 vf64_fma(vf64 a, vf64 b, vf64 c) { return vfmaq_f64(c, a, b); }
DN_INLINE vf64 vf64_fnma(vf64 a, vf64 b, vf64 c) { return vfmsq_f64(c, a, b); }
DN_INLINE vf64 vf64_min(vf64 x, vf64 c) { return vminq_f64(x, c); }
DN_INLINE vf64 vf64_max(vf64 x, vf64 c) { return vmaxq_f64(x, c); }
DN_INLINE vf64 vf64_neg(vf64 a) { return vnegq_f64(a); }
DN_INLINE vf64 vf64_abs(vf64 a) { return vabsq_f64(a); }
DN_INLINE vf64 vf64_copysign(vf64 m, vf64 s) { return vbslq_f64(vdupq_n_u64(0x8000000000000000ull), s, m); }
DN_INLINE vf64 vf64_shl_mant(vf64 v) { return vreinterpretq_f64_u64(vshlq_n_u64(vreinterpretq_u64_f64(v), 52)); }
DN_INLINE vf64 vf64_select_gt(vf64 a, vf64 b, vf64 x, vf64 y) { return vbslq_f64(vcgtq_f64(a, b), x, y); }
DN_INLINE vf64d vf64d_zero(void) { return vdupq_n_f64(0.0); }
DN_INLINE vf64d vf64d_add(vf64d acc, vf64 v) { return vaddq_f64(acc, v); }
DN_INLINE double vf64d_sum(vf64d acc) { return vaddvq_f64(acc); }
DN_INLINE vf64d vf64d_load(const double *p) { return vf64_load(p); }
DN_INLINE vf64d vf64d_loadn(const double *p, size_t n) { return vf64_loadn(p, n); }
DN_INLINE void vf64d_store(double *p, vf64d a) { vf64_store(p, a); }
DN_INLINE void vf64d_storen(double *p, vf64d a, size_t n) { vf64_storen(p, a, n); }

/* x / sqrt(q): a correctly rounded sqrt and division */
DN_INLINE vf32 vf32_div_sqrt(vf32 x, vf32 q) { return vdivq_f32(x, vsqrtq_f32(q)); }
DN_INLINE vf64 vf64_div_sqrt(vf64 x, vf64 q) { return vdivq_f64(x, vsqrtq_f64(q)); }
/* 1/sqrt(a): sqrt and a division */
DN_INLINE vf32 vf32_rsqrt(vf32 a) { return vdivq_f32(vdupq_n_f32(1.0f), vsqrtq_f32(a)); }
DN_INLINE vf64 vf64_rsqrt(vf64 a) { return vdivq_f64(vdupq_n_f64(1.0), vsqrtq_f64(a)); }

DN_INLINE void dn_stream_fence(void) {}
#endif
