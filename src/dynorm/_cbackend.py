"""The C backend: dynorm's C library (``cext/``) through cffi.

One cffi call per forward or backward (``dnpy_forward``/``dnpy_backward``
of ``cext/pyshim.c``) on validated, C-contiguous, aligned 2-D arrays (see
:mod:`dynorm._backend`); a non-zero status becomes a Python exception. cffi
releases the GIL for the call. Threads live in the library: it splits a
large call by rows over its own pool (``set_num_threads``, or the
environment variable ``DYNORM_NUM_THREADS``, read by the library), and sums
the parameter gradients in double, rounding them once into a float32
model's arrays.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
from numpy.typing import NDArray

from ._dynorm_c import ffi, lib
from ._backend import NumpyBackend
from .ops import OPS, Op

Array = NDArray[np.floating]

_NULL = ffi.NULL
_buf = ffi.from_buffer
#: The library's bounds on the thread count.
MAX_THREADS = 1024


def set_num_threads(n: int) -> int:
    """Use ``n`` threads for large calls (1: the calling thread only).

    Parameters
    ----------
    n : int
        From 1 to 1024.

    Returns
    -------
    int
        The previous count.

    Raises
    ------
    ValueError
        If ``n`` is not an integer from 1 to 1024.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_THREADS:
        raise ValueError(
            f"the number of threads must be an integer >= 1 and <= {MAX_THREADS}; got {n!r}")
    return int(lib.dn_set_num_threads(n))


def num_threads() -> int:
    """The number of threads the library splits a large call over."""
    return int(lib.dn_get_num_threads())


def _warn_bad_num_threads() -> None:
    """Warn about a ``DYNORM_NUM_THREADS`` the library ignores (it then uses
    its default): import must not fail, but a silent default would hide a typo."""
    env = os.environ.get("DYNORM_NUM_THREADS", "")
    if env and not (re.fullmatch(r"\s*[0-9]+\s*", env) and 1 <= int(env) <= MAX_THREADS):
        warnings.warn(
            f"environment variable DYNORM_NUM_THREADS={env!r} is not an integer from 1 to "
            f"{MAX_THREADS}; using the default ({num_threads()} threads)",
            RuntimeWarning, stacklevel=3,
        )


def _check(status: int) -> None:
    message = ffi.string(lib.dn_strerror(status)).decode()
    if status == lib.DN_ERR_ISA:
        raise RuntimeError(f"dynorm C core: {message}")
    raise ValueError(f"dynorm C core: {message} (status {status})")


def _array(p, like: Array, shape: tuple[int, ...] = (-1,)) -> Array | None:  # type: ignore[no-untyped-def]
    """The array behind a pointer :meth:`CBackend.param` made (None for NULL
    or None), of ``like``'s dtype."""
    if p is None or p == _NULL:
        return None
    return np.frombuffer(ffi.buffer(p), like.dtype).reshape(shape)


class CBackend:
    """Every op of the table through the library's ``dn_run``.

    Arrays that persist across calls (weights, biases, gradient targets)
    arrive as :meth:`param` made them: pointers to their data, which a layer
    makes once rather than on every call (``ffi.from_buffer`` costs about a
    tenth of an (8, 768) forward).
    """

    def __init__(self) -> None:
        # per op: its id in the library, and the unused scalar arguments and
        # gradient targets that fill the shim's two slots of each
        self._c: dict[Op, tuple[int, tuple[float, ...], tuple[object, ...]]] = {}
        for op in OPS:
            cid = lib.dnpy_op_id(op.name.encode())
            if cid >= 0:
                self._c[op] = (cid, (0.0,) * (2 - len(op.scalars)),
                               (_NULL,) * (2 - len(op.learnable)))
        # an op of the table the library does not have (yet) runs on the
        # reference, so that the table and the library can grow one at a time
        self._reference = NumpyBackend()

    def supports(self, op: Op) -> bool:
        """Whether the library computes ``op`` (else the reference does)."""
        return op in self._c

    # ---- instruction sets
    def isas(self) -> list[str]:
        return [ffi.string(lib.dn_isa_name(i)).decode() for i in range(lib.dn_isa_count())]

    def current_isa(self) -> str:
        return ffi.string(lib.dn_get_isa()).decode()

    def set_isa(self, name: str) -> None:
        if lib.dn_set_isa(name.encode()) != 0:
            raise ValueError(f"ISA {name!r} is not available here; choose from {self.isas()}")

    # ---- calls
    #: An array as this backend's calls take it: a pointer to its data, or
    #: NULL for None. The pointer holds the array's buffer exported, which
    #: pins its memory: NumPy refuses to resize an array with exports.
    @staticmethod
    def param(a: Array | None):  # type: ignore[no-untyped-def]
        return _NULL if a is None else _buf(a)

    def forward(self, op, x, w, b, s, y, stats):  # type: ignore[no-untyped-def]
        c = self._c.get(op)
        if c is None:
            return self._reference.forward(op, x, _array(w, x), _array(b, x), s, y,
                                           _array(stats, x, (-1, x.shape[0])))
        rows, cols = x.shape
        status = lib.dnpy_forward(c[0], x.itemsize == 8, _buf(y),
                                  _NULL if stats is None else stats, _buf(x), w, b, rows, cols,
                                  *s, *c[1])
        if status:
            _check(status)

    def backward(self, op, dy, x, stats, w, s, dx, dw, db, ds):  # type: ignore[no-untyped-def]
        c = self._c.get(op)
        if c is None:
            return self._reference.backward(op, dy, x, _array(stats, x, (-1, x.shape[0])),
                                            _array(w, x), s, dx, _array(dw, x),
                                            _array(db, x), tuple(_array(d, x) for d in ds))
        rows, cols = x.shape
        status = lib.dnpy_backward(c[0], x.itemsize == 8, _buf(dx), _buf(dy), _buf(x),
                                   _NULL if stats is None else stats, w, dw, db, *ds, *c[2],
                                   rows, cols, *s, *c[1])
        if status:
            _check(status)
