"""The C backend: dynorm's SIMD kernels (``cext/``) through cffi.

Receives validated, C-contiguous 2-D arrays (see :mod:`dynorm._backend`),
makes exactly one C call per operation, and turns a non-zero status into a
Python exception. cffi releases the GIL for the duration of each call.

Parameter gradients come back from C in double (they are sums over all rows,
accumulated in double): for float64 layers they are written straight into
the caller's arrays, for float32 ones into a double scratch rounded once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._dynorm_c import ffi, lib

Array = NDArray[np.floating]

_NULL = ffi.NULL
_buf = ffi.from_buffer


def _p(a: Array | None):  # type: ignore[no-untyped-def]
    """A void* to a NumPy array's data (NULL for None)."""
    return _NULL if a is None else _buf(a)


def _check(status: int) -> None:
    if status != 0:
        message = ffi.string(lib.dn_strerror(status)).decode()
        if status == lib.DN_ERR_ISA:
            raise RuntimeError(f"dynorm C core: {message}")
        raise ValueError(f"dynorm C core: {message} (status {status})")


def _grad_out(g: Array) -> tuple[NDArray[np.float64], bool]:
    """The double array C writes a parameter gradient into, and whether it
    must then be copied into ``g`` (when ``g`` is not float64)."""
    if g.dtype == np.float64:
        return g, False  # type: ignore[return-value]
    return np.empty(g.shape, np.float64), True


class CBackend:
    """Forward and backward of every layer through ``cext/``'s dispatch."""

    # ---- instruction sets
    def isas(self) -> list[str]:
        return [ffi.string(lib.dn_isa_name(i)).decode() for i in range(lib.dn_isa_count())]

    def current_isa(self) -> str:
        return ffi.string(lib.dn_get_isa()).decode()

    def set_isa(self, name: str) -> None:
        if lib.dn_set_isa(name.encode()) != 0:
            raise ValueError(f"ISA {name!r} is not available here; choose from {self.isas()}")

    # ---- LayerNorm
    def layer_norm_fwd(self, x, w, b, eps, y, mean, rstd):  # type: ignore[no-untyped-def]
        rows, cols = x.shape
        _check(lib.dnpy_layer_norm_fwd(x.itemsize == 8, _p(y), _p(mean), _p(rstd), _p(x),
                                       _p(w), _p(b), rows, cols, cols, cols, eps))

    def layer_norm_bwd(self, dy, x, mean, rstd, w, dx, dw, db):  # type: ignore[no-untyped-def]
        rows, cols = x.shape
        dwd, copy_w = _grad_out(dw)
        dbd, copy_b = _grad_out(db)
        _check(lib.dnpy_layer_norm_bwd(x.itemsize == 8, _p(dx), _buf(dwd), _buf(dbd),
                                       _p(dy), _p(x), _p(mean), _p(rstd), _p(w),
                                       rows, cols, cols, cols, cols))
        if copy_w:
            dw[...] = dwd
        if copy_b:
            db[...] = dbd

    # ---- RMSNorm
    def rms_norm_fwd(self, x, w, eps, y, rstd):  # type: ignore[no-untyped-def]
        rows, cols = x.shape
        _check(lib.dnpy_rms_norm_fwd(x.itemsize == 8, _p(y), _p(rstd), _p(x), _p(w),
                                     rows, cols, cols, cols, eps))

    def rms_norm_bwd(self, dy, x, rstd, w, dx, dw):  # type: ignore[no-untyped-def]
        rows, cols = x.shape
        dwd, copy_w = _grad_out(dw)
        _check(lib.dnpy_rms_norm_bwd(x.itemsize == 8, _p(dx), _buf(dwd), _p(dy), _p(x),
                                     _p(rstd), _p(w), rows, cols, cols, cols, cols))
        if copy_w:
            dw[...] = dwd

    # ---- DyT
    def dyt_fwd(self, x, alpha, w, b, y, fast=False):  # type: ignore[no-untyped-def]
        rows, cols = x.shape
        _check(lib.dnpy_dyt_fwd(x.itemsize == 8, fast, _p(y), _p(x), _p(w), _p(b),
                                rows, cols, cols, cols, alpha))

    def dyt_bwd(self, dy, x, alpha, w, dx, dw, db):  # type: ignore[no-untyped-def]
        rows, cols = x.shape
        dwd, copy_w = _grad_out(dw)
        dbd, copy_b = _grad_out(db)
        dalpha = ffi.new("double *")
        _check(lib.dnpy_dyt_bwd(x.itemsize == 8, _p(dx), dalpha, _buf(dwd), _buf(dbd),
                                _p(dy), _p(x), _p(w), rows, cols, cols, cols, cols, alpha))
        if copy_w:
            dw[...] = dwd
        if copy_b:
            db[...] = dbd
        return float(dalpha[0])

    # ---- DyISRU
    def dyisru_fwd(self, x, beta, w, b, eps, y):  # type: ignore[no-untyped-def]
        rows, cols = x.shape
        _check(lib.dnpy_dyisru_fwd(x.itemsize == 8, _p(y), _p(x), _p(w), _p(b),
                                   rows, cols, cols, cols, beta, eps))

    def dyisru_bwd(self, dy, x, beta, w, eps, dx, dw, db):  # type: ignore[no-untyped-def]
        rows, cols = x.shape
        dwd, copy_w = _grad_out(dw)
        dbd, copy_b = _grad_out(db)
        dbeta = ffi.new("double *")
        _check(lib.dnpy_dyisru_bwd(x.itemsize == 8, _p(dx), dbeta, _buf(dwd), _buf(dbd),
                                   _p(dy), _p(x), _p(w), rows, cols, cols, cols, cols, beta, eps))
        if copy_w:
            dw[...] = dwd
        if copy_b:
            db[...] = dbd
        return float(dbeta[0])
