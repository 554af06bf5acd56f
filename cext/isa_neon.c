/* isa_neon.c - the AArch64 Advanced SIMD path (NEON is baseline on AArch64). */
#if defined(__aarch64__)
#include "simd_neon.h"
#define DN_TABLE dn_kernels_neon
#include "isa_unit.inc"
#endif
