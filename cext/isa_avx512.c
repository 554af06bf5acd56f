/* isa_avx512.c - the AVX-512 path (F, BW, DQ, VL). Like isa_avx2.c, it selects
 * its instruction set with a target pragma, so every unit builds with the
 * same flags; dispatch.c calls it only where cpuid and xgetbv allow. */
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")
#include "simd_avx512.h"
#define DN_TABLE dn_kernels_avx512
#include "isa_unit.inc"
#endif
