/* isa_avx2.c - the AVX2 + FMA path. */
#if defined(__x86_64__) || defined(_M_X64)
/* Function-level target: the unit builds with the same flags as the rest
 * (as cffi compiles it); dispatch.c calls it only where cpuid says so. */
#pragma GCC target("avx2,fma")
#include "simd_avx2.h"
#define DN_TABLE dn_kernels_avx2
#include "isa_unit.inc"
#endif
