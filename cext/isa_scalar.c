/* isa_scalar.c - the portable C path: always built, runs everywhere. */
#include "simd_scalar.h"
#define DN_TABLE dn_kernels_scalar
#include "isa_unit.inc"
