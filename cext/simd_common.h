/* simd_common.h - things every instruction-set mapping shares.
 *
 * Each simd_<isa>.h maps one vector abstraction onto one instruction set.
 * The abstraction (prefix vf32_ / vf64_, one lane type each) is what the
 * shared approximations (vmath.inc) and kernel bodies (kernels_*.inc) are
 * written in, so every algorithm exists once and is compiled per ISA:
 *
 *   vf32, vf64            vector of VF32_W floats / VF64_W doubles
 *   vf32d, vf64d          double-precision accumulator for VF32_W / VF64_W
 *                         lanes (for f32: the lanes widened to double)
 *   load(p) loadn(p,n)    load at any address, not even element-aligned;
 *                         partial load of n < W lanes, lanes >= n read as 0
 *                         and are never touched in memory
 *   store storen          store at any address; partial store of n < W lanes
 *   stream(p,v)           non-temporal store, p aligned to the vector size
 *   DN_STREAM_LINE_VECS   vectors whose streamed stores fill one 64-byte
 *                         line (1 where stream is a plain store)
 *   set1 zero add sub mul div neg abs
 *   rsqrt(a)              1/sqrt(a) for finite a > 0, to within a few
 *                         float ULP (AVX-512: estimate + one Newton step)
 *   div_sqrt(x,q)         x/sqrt(q) for finite q > 0: correctly rounded
 *                         operations, except AVX-512 float (estimate +
 *                         one Newton step, about 1 ULP more)
 *   fma(a,b,c)  = a*b + c (fused where the ISA has it)
 *   fnma(a,b,c) = c - a*b
 *   min(x,c) max(x,c)     clamp x by a constant c that is never NaN;
 *                         a NaN x comes out as NaN (x86 min/max return
 *                         their second operand when either is NaN, so
 *                         the mappings pass x second)
 *   copysign(m,s)         |m| with the sign bit of s
 *   shl_mant(v)           bits(v) << mantissa width (23 / 52): turns an
 *                         integer held in the low mantissa bits (after a
 *                         magic-constant round) into an exponent field
 *   select_gt(a,b,x,y)    a > b ? x : y per lane (false for NaN)
 *   where DN_HAS_TAB32 is defined (float only; vf32i a vector of indices):
 *   tab_index(a,base)     max(bits(a) >> 21, base) - base per lane: for
 *                         a >= 0, the quarter octave a lies in, counted
 *                         from a base
 *   tab32(tab,i)          tab[i & 31] per lane, tab 64-byte aligned; a
 *                         register permute where the ISA has one wide
 *                         enough (AVX-512), so only where that is cheap
 *   vf32d: zero, add(acc,v) = acc + v widened to double, sum(acc) -> double,
 *          load/store/loadn/storen from/to double arrays (column sums)
 */
#ifndef DN_SIMD_COMMON_H
#define DN_SIMD_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DN_INLINE static inline __attribute__((always_inline))

/* Prefetch never faults, so addresses past the end of an array are fine. */
#define dn_prefetch(p) __builtin_prefetch((const void *)(p), 0, 3)

DN_INLINE uint32_t dn_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
DN_INLINE float dn_f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
DN_INLINE uint64_t dn_f64_bits(double f) { uint64_t u; memcpy(&u, &f, 8); return u; }
DN_INLINE double dn_f64_from_bits(uint64_t u) { double f; memcpy(&f, &u, 8); return f; }

#endif
