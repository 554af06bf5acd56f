/* isa_avx512.c - the AVX-512 path (-mavx512f -mavx512bw -mavx512dq -mavx512vl). */
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")
#include "simd_avx512.h"
#define DN_TABLE dn_kernels_avx512
#include "isa_unit.inc"
#endif
