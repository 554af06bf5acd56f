/* simd_pair.h - two vectors in lockstep, for the units that define
 * DN_TANH_PAIR before including this header.
 *
 * A tanh is one long dependency chain (range reduction, a polynomial, a
 * division, a select: some 75 cycles from input to result on AVX2, for
 * 30 to 40 instructions). Where the out-of-order window holds only a few
 * such chains at once, it waits on them; a pair type interleaves two
 * independent chains instruction by instruction, so the same window
 * holds twice the independent work. vmath.inc and the element-wise ops'
 * element functions are compiled once more with VT a pair (pair.inc), and
 * the element-wise skeletons take two vectors a step for an op that asks
 * for it (DyT); every lane computes exactly the same operations as with
 * single vectors, so the results are the same values (a NaN's sign bit
 * aside; tests/test_ops.inc, check_lockstep). Two, not four: a pair of
 * pairs gains nothing once the data comes from memory (docs/performance.md
 * has the measurements). Only AVX2 defines DN_TANH_PAIR, where it was
 * measured: AVX-512's float tanh is a table lookup, NEON runs here only
 * under qemu, and the scalar unit is the fallback.
 *
 * vf32x2 / vf64x2 carry the ops that vmath.inc's exponential forms and the
 * element-wise ops use (no table lookup: a unit with DN_HAS_TAB32 has its
 * own fast tanh). */
#ifndef DN_SIMD_PAIR_H
#define DN_SIMD_PAIR_H

#define DN_PAIR_OP1(P, op) \
    DN_INLINE P##x2 P##x2_##op(P##x2 x) { P##x2 r = {P##_##op(x.a), P##_##op(x.b)}; return r; }
#define DN_PAIR_OP2(P, op)                                                     \
    DN_INLINE P##x2 P##x2_##op(P##x2 x, P##x2 y) {                             \
        P##x2 r = {P##_##op(x.a, y.a), P##_##op(x.b, y.b)}; return r; }
#define DN_PAIR_OP3(P, op)                                                     \
    DN_INLINE P##x2 P##x2_##op(P##x2 x, P##x2 y, P##x2 z) {                    \
        P##x2 r = {P##_##op(x.a, y.a, z.a), P##_##op(x.b, y.b, z.b)}; return r; }

/* P: the vector type (vf32, vf64), T: its lane type, W: lanes per vector */
#define DN_PAIR(P, T, W)                                                       \
    typedef struct { P a, b; } P##x2;                                          \
    DN_INLINE P##x2 P##x2_set1(T s) { P v = P##_set1(s); P##x2 r = {v, v}; return r; } \
    DN_INLINE P##x2 P##x2_load(const T *p) { P##x2 r = {P##_load(p), P##_load(p + W)}; return r; } \
    DN_INLINE P##x2 P##x2_select_gt(P##x2 a, P##x2 b, P##x2 x, P##x2 y) {    \
        P##x2 r = {P##_select_gt(a.a, b.a, x.a, y.a), P##_select_gt(a.b, b.b, x.b, y.b)}; \
        return r; }                                                            \
    DN_PAIR_OP1(P, abs) DN_PAIR_OP1(P, neg) DN_PAIR_OP1(P, shl_mant) DN_PAIR_OP1(P, rsqrt)           \
    DN_PAIR_OP2(P, add) DN_PAIR_OP2(P, sub) DN_PAIR_OP2(P, mul)                \
    DN_PAIR_OP2(P, div) DN_PAIR_OP2(P, div_sqrt) DN_PAIR_OP2(P, min)           \
    DN_PAIR_OP2(P, max) DN_PAIR_OP2(P, copysign)                               \
    DN_PAIR_OP3(P, fma) DN_PAIR_OP3(P, fnma)

DN_PAIR(vf32, float, VF32_W)
DN_PAIR(vf64, double, VF64_W)

#undef DN_PAIR
#undef DN_PAIR_OP1
#undef DN_PAIR_OP2
#undef DN_PAIR_OP3
#endif
