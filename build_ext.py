"""The cffi builder for dynorm's C core (API mode).

Kept outside the package, as pynacl does: setuptools runs it at build time
(``cffi_modules`` in setup.py) to compile every ``cext/*.c`` unit into the
extension ``dynorm._dynorm_c``. The cdef is the public header itself, less
its preprocessor lines, so the binding cannot drift from ``cext/dynorm.h``.

Every unit builds with the same flags: the AVX2 and AVX-512 units select
their instruction sets with ``#pragma GCC target``, and the library picks
the set at run time from cpuid, so one wheel runs on any x86-64 CPU.
Run ``python build_ext.py`` to build in place for development.
"""

from __future__ import annotations

import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
CEXT = HERE / "cext"
SOURCES = sorted(p.name for p in CEXT.glob("*.c") if p.name != "pyshim.c")


def public_cdef() -> str:
    """cext/dynorm.h as cffi's cdef accepts it: no preprocessor, no extern "C"."""
    text = (CEXT / "dynorm.h").read_text()
    text = re.sub(r"#ifdef __cplusplus.*?#endif", "", text, flags=re.S)
    text = re.sub(r"^#.*?(?<!\\)$", "", text, flags=re.M | re.S)  # preprocessor, with continuations
    return "\n".join(line for line in text.splitlines() if not line.startswith("DN_"))


# The Python layer passes raw buffers (ffi.from_buffer of the NumPy arrays)
# as void pointers and picks the dtype with a flag: one cdata conversion per
# array, no typed-array cast, and one entry per operation. Its arrays are
# C-contiguous, so every row stride is cols and the shim supplies it: each
# argument cffi converts costs 20-40 ns of a call that takes 4 us at (8, 768).
SHIM_CDEF = """
int dnpy_layer_norm_fwd(int f64, void *y, void *mean, void *rstd, void *x, void *w, void *b,
                        size_t rows, size_t cols, double eps);
int dnpy_layer_norm_bwd(int f64, void *dx, void *dw, void *db, void *dy, void *x,
                        void *mean, void *rstd, void *w, size_t rows, size_t cols,
                        void *rw, void *rb);
int dnpy_rms_norm_fwd(int f64, void *y, void *rstd, void *x, void *w, size_t rows,
                      size_t cols, double eps);
int dnpy_rms_norm_bwd(int f64, void *dx, void *dw, void *dy, void *x, void *rstd, void *w,
                      size_t rows, size_t cols, void *rw);
int dnpy_dyt_fwd(int f64, int fast, void *y, void *x, void *w, void *b, size_t rows,
                 size_t cols, double alpha);
int dnpy_dyt_bwd(int f64, void *dx, void *dalpha, void *dw, void *db, void *dy,
                 void *x, void *w, size_t rows, size_t cols, double alpha, void *rw, void *rb);
int dnpy_dyisru_fwd(int f64, void *y, void *x, void *w, void *b, size_t rows, size_t cols,
                    double beta, double eps);
int dnpy_dyisru_bwd(int f64, void *dx, void *dbeta, void *dw, void *db, void *dy,
                    void *x, void *w, size_t rows, size_t cols, double beta, double eps,
                    void *rw, void *rb);
int dnpy_tanh(int f64, int fast, void *y, void *x, size_t n);
"""

# Each body picks the float or double entry point; F(p) and D(p) cast a
# pointer (the gradients are double for both), and every row stride is c.
SHIM_SOURCE = """
#include "dynorm.h"
#define F(p) ((float *)(p))
#define D(p) ((double *)(p))
/* A backward's status, after its double dw and db sums are rounded once
 * into C-contiguous float32 arrays rw and rb (NULL: not wanted), in the
 * same C call. */
static int rounded(int status, void *rw, void *dw, void *rb, void *db, size_t c) {
    if (status == DN_OK && rw) status = dn_round_f32(F(rw), D(dw), c);
    if (status == DN_OK && rb) status = dn_round_f32(F(rb), D(db), c);
    return status;
}
int dnpy_layer_norm_fwd(int f64, void *y, void *mean, void *rstd, void *x, void *w, void *b,
                        size_t rows, size_t c, double eps) {
    return f64 ? dn_layer_norm_fwd_f64(D(y), D(mean), D(rstd), D(x), D(w), D(b), rows, c, c, c, eps)
               : dn_layer_norm_fwd_f32(F(y), F(mean), F(rstd), F(x), F(w), F(b), rows, c, c, c, eps);
}
int dnpy_layer_norm_bwd(int f64, void *dx, void *dw, void *db, void *dy, void *x,
                        void *mean, void *rstd, void *w, size_t rows, size_t c,
                        void *rw, void *rb) {
    return rounded(f64 ? dn_layer_norm_bwd_f64(D(dx), D(dw), D(db), D(dy), D(x), D(mean), D(rstd), D(w), rows, c, c, c, c)
                       : dn_layer_norm_bwd_f32(F(dx), D(dw), D(db), F(dy), F(x), F(mean), F(rstd), F(w), rows, c, c, c, c),
                   rw, dw, rb, db, c);
}
int dnpy_rms_norm_fwd(int f64, void *y, void *rstd, void *x, void *w, size_t rows,
                      size_t c, double eps) {
    return f64 ? dn_rms_norm_fwd_f64(D(y), D(rstd), D(x), D(w), rows, c, c, c, eps)
               : dn_rms_norm_fwd_f32(F(y), F(rstd), F(x), F(w), rows, c, c, c, eps);
}
int dnpy_rms_norm_bwd(int f64, void *dx, void *dw, void *dy, void *x, void *rstd, void *w,
                      size_t rows, size_t c, void *rw) {
    return rounded(f64 ? dn_rms_norm_bwd_f64(D(dx), D(dw), D(dy), D(x), D(rstd), D(w), rows, c, c, c, c)
                       : dn_rms_norm_bwd_f32(F(dx), D(dw), F(dy), F(x), F(rstd), F(w), rows, c, c, c, c),
                   rw, dw, NULL, NULL, c);
}
int dnpy_dyt_fwd(int f64, int fast, void *y, void *x, void *w, void *b, size_t rows,
                 size_t c, double alpha) {
    (void)fast;
    return f64 ? dn_dyt_fwd_f64(D(y), D(x), D(w), D(b), rows, c, c, c, alpha)
               : dn_dyt_fwd_f32(F(y), F(x), F(w), F(b), rows, c, c, c, alpha);
}
int dnpy_dyt_bwd(int f64, void *dx, void *dalpha, void *dw, void *db, void *dy,
                 void *x, void *w, size_t rows, size_t c, double alpha, void *rw, void *rb) {
    return rounded(f64 ? dn_dyt_bwd_f64(D(dx), D(dalpha), D(dw), D(db), D(dy), D(x), D(w), rows, c, c, c, c, alpha)
                       : dn_dyt_bwd_f32(F(dx), D(dalpha), D(dw), D(db), F(dy), F(x), F(w), rows, c, c, c, c, alpha),
                   rw, dw, rb, db, c);
}
int dnpy_dyisru_fwd(int f64, void *y, void *x, void *w, void *b, size_t rows, size_t c,
                    double beta, double eps) {
    return f64 ? dn_dyisru_fwd_f64(D(y), D(x), D(w), D(b), rows, c, c, c, beta, eps)
               : dn_dyisru_fwd_f32(F(y), F(x), F(w), F(b), rows, c, c, c, beta, eps);
}
int dnpy_dyisru_bwd(int f64, void *dx, void *dbeta, void *dw, void *db, void *dy,
                    void *x, void *w, size_t rows, size_t c, double beta, double eps,
                    void *rw, void *rb) {
    return rounded(f64 ? dn_dyisru_bwd_f64(D(dx), D(dbeta), D(dw), D(db), D(dy), D(x), D(w), rows, c, c, c, c, beta, eps)
                       : dn_dyisru_bwd_f32(F(dx), D(dbeta), D(dw), D(db), F(dy), F(x), F(w), rows, c, c, c, c, beta, eps),
                   rw, dw, rb, db, c);
}
int dnpy_tanh(int f64, int fast, void *y, void *x, size_t n) {
    if (fast) return f64 ? dn_tanh_fast_f64(D(y), D(x), n) : dn_tanh_fast_f32(F(y), F(x), n);
    return f64 ? dn_tanh_f64(D(y), D(x), n) : dn_tanh_f32(F(y), F(x), n);
}
"""

ffibuilder = FFI()
ffibuilder.cdef(public_cdef() + SHIM_CDEF)
ffibuilder.set_source(
    "dynorm._dynorm_c",
    SHIM_SOURCE,
    sources=[str((CEXT / s).relative_to(HERE)) for s in SOURCES],
    include_dirs=[str(CEXT.relative_to(HERE))],
    extra_compile_args=["-O2", "-std=c99", "-ffp-contract=off", "-Wno-unused-function"],
    libraries=["m"],
)

if __name__ == "__main__":
    import os

    os.chdir(HERE)
    ffibuilder.compile(tmpdir=str(HERE / "build" / "cffi"), verbose=True)
