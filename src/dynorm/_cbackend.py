"""The C backend: dynorm's SIMD kernels (``cext/``) through cffi.

Receives validated, C-contiguous 2-D arrays (see :mod:`dynorm._backend`) and
turns a non-zero status into a Python exception. cffi releases the GIL for
the duration of each C call.

Threads. Single-threaded, the kernels are compute-bound on this project's
machines (a precise tanh costs more than moving its bytes), so a large call
(at least ``PARALLEL_MIN_BYTES`` of input) is split by rows into one chunk
per thread, each chunk one C call on a persistent pool; small calls make
one C call on the calling thread (a float32 backward's also rounds its
parameter gradients into the layer's arrays). ``set_num_threads`` (or the
environment variable ``DYNORM_NUM_THREADS``) sets the count; the default is
the number of CPUs this process may run on. Rows are independent, so y and
dx are the same bits whatever the count; the parameter gradients are sums
of the chunks' double partial sums, added in chunk order: deterministic for
a given thread count (it changes only their last bits).

Parameter gradients come back from C in double (sums over all rows,
accumulated in double): for a small float64 backward they are written
straight into the caller's arrays, otherwise into a double scratch (this
thread's, kept between calls, for a small call) rounded once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from ._dynorm_c import ffi, lib

Array = NDArray[np.floating]

_NULL = ffi.NULL
_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_buf = ffi.from_buffer

#: Inputs smaller than this run on the calling thread (thread hand-off costs
#: more than it saves below about 1 MiB).
PARALLEL_MIN_BYTES = 1 << 20
#: Chunk boundaries fall on multiples of this many rows (the kernels' row block).
_ROW_BLOCK = 4


def _default_threads() -> int:
    env = os.environ.get("DYNORM_NUM_THREADS", "").strip()
    if env:
        n = int(env)
        if n < 1:
            raise ValueError(f"DYNORM_NUM_THREADS must be >= 1; got {env!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


_num_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None


def set_num_threads(n: int) -> int:
    """Use ``n`` threads for large calls (1: always the calling thread only);
    returns the previous count."""
    global _num_threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be an integer >= 1; got {n!r}")
    previous, _num_threads = _num_threads, n
    if _pool is not None and n != previous:
        _pool.shutdown(wait=True)
        _pool = None
    return previous


def num_threads() -> int:
    """The number of threads large calls are split over."""
    return _num_threads


def _p(a: Array | None):  # type: ignore[no-untyped-def]
    """A void* to a NumPy array's data (NULL for None)."""
    return _NULL if a is None else _buf(a)


def _check(status: int) -> None:
    if status != 0:
        message = ffi.string(lib.dn_strerror(status)).decode()
        if status == lib.DN_ERR_ISA:
            raise RuntimeError(f"dynorm C core: {message}")
        raise ValueError(f"dynorm C core: {message} (status {status})")


def _chunks(rows: int, nbytes: int) -> list[tuple[int, int]]:
    """Row ranges, one per thread, for an input of ``nbytes``."""
    n = _num_threads if nbytes >= PARALLEL_MIN_BYTES else 1
    n = min(n, max(1, rows // _ROW_BLOCK))
    if n == 1:
        return [(0, rows)]
    step = -(-rows // n)
    step += -step % _ROW_BLOCK
    return [(r0, min(r0 + step, rows)) for r0 in range(0, rows, step)]


def _run(chunks: list[tuple[int, int]], call: Callable[[int, int, int], int]) -> None:
    """``call(k, r0, r1)`` for every chunk k; in parallel when more than one."""
    global _pool
    if len(chunks) == 1:
        _check(call(0, *chunks[0]))
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_num_threads, thread_name_prefix="dynorm")
    futures = [_pool.submit(call, k, r0, r1) for k, (r0, r1) in enumerate(chunks[1:], 1)]
    statuses = [call(0, *chunks[0])] + [f.result() for f in futures]
    for status in statuses:
        _check(status)


class _Grads:
    """Double partial sums of the parameter gradients, one row per chunk,
    reduced in chunk order into the caller's arrays."""

    def __init__(self, nchunks: int, cols: int, dw: Array | None, db: Array | None) -> None:
        self.dw, self.db = dw, db
        self.pw = np.empty((nchunks, cols)) if dw is not None else None
        self.pb = np.empty((nchunks, cols)) if db is not None else None
        self.scalar = ffi.new("double[]", nchunks)

    def ptrs(self, k: int):  # type: ignore[no-untyped-def]
        return (_NULL if self.pw is None else _buf(self.pw[k]),
                _NULL if self.pb is None else _buf(self.pb[k]),
                self.scalar + k)

    def finish(self) -> float:
        for part, out in ((self.pw, self.dw), (self.pb, self.db)):
            if part is not None:
                total = part[0].copy()
                for row in part[1:]:
                    total += row
                out[...] = total  # type: ignore[index]
        total_s = 0.0
        for k in range(len(self.scalar)):
            total_s += self.scalar[k]
        return total_s


def _rows(a: Array | None, r0: int, r1: int) -> Array | None:
    return None if a is None else a[r0:r1]


def _backward(x: Array, dw: Array | None, db: Array | None,
              call: Callable[..., int]) -> float:
    """``call(r0, r1, dw_part, db_part, scalar_part)``, the C backward of rows
    ``r0:r1`` writing double partial sums, once per chunk of a large input;
    reduces the partials into ``dw``, ``db`` and returns the scalar
    gradient's (see :class:`_Grads`)."""
    rows, cols = x.shape
    chunks = _chunks(rows, x.nbytes)
    g = _Grads(len(chunks), cols, dw, db)
    _run(chunks, lambda k, r0, r1: call(r0, r1, *g.ptrs(k)))
    return g.finish()


_local = threading.local()


def _scratch(n: int):  # type: ignore[no-untyped-def]
    """This thread's scratch of at least ``n`` doubles, as (array, pointer);
    kept between calls (a small backward is one C call, and allocating its
    double gradients afresh cost more than the call)."""
    s = getattr(_local, "scratch", None)
    if s is None or s[0].shape[0] < n:
        a = np.empty(max(n, 2 * 4096 + 1))  # widths up to 4096 share the first one
        s = _local.scratch = (a, _buf(a))
    return s


class _OneCall:
    """Where one C backward writes its double gradients (``w``, ``b``, ``s``):
    a float64 layer's own arrays, or this thread's scratch. Float32 arrays
    (``rw``, ``rb``: a float32 layer's own) take them rounded in the same C
    call; :meth:`finish` assigns any other array put in ``grads`` and
    returns the scalar gradient."""

    __slots__ = ("scratch", "cols", "w", "b", "s", "rw", "rb", "assign_w", "assign_b")

    def __init__(self, cols: int, dw: Array | None, db: Array | None) -> None:
        self.cols = cols
        self.scratch = _scratch(2 * cols + 1)
        p = self.scratch[1]  # a char pointer: offsets in bytes
        self.w, self.rw, self.assign_w = _target(dw, p)
        self.b, self.rb, self.assign_b = _target(db, p + 8 * cols)
        self.s = p + 16 * cols

    def finish(self) -> float:
        sums, cols = self.scratch[0], self.cols
        if self.assign_w is not None:
            self.assign_w[...] = sums[:cols]
        if self.assign_b is not None:
            self.assign_b[...] = sums[cols:2 * cols]
        return float(sums[2 * cols])


def _target(g: Array | None, part):  # type: ignore[no-untyped-def]
    """(where C writes gradient g's double sums, where C rounds them into g,
    what NumPy assigns them to): g itself when it can take them
    (C-contiguous, writeable float64); else ``part`` of the scratch, rounded
    by the C call into a C-contiguous, writeable float32 g (as the layers own
    theirs), or assigned by NumPy into anything else put in ``grads``."""
    if g is None:
        return _NULL, _NULL, None
    if g.dtype is _F64 and g.flags.carray:
        return _buf(g), _NULL, None
    if g.dtype is _F32 and g.flags.carray:
        return part, _buf(g), None
    return part, _NULL, g


class CBackend:
    """Forward and backward of every layer through ``cext/``'s dispatch.

    Weights and biases arrive as :meth:`param` made them: pointers to their
    data (NULL for None), so that a layer converts its parameters once
    rather than on every call (``ffi.from_buffer`` costs about 0.25 us, as
    much as a row of the kernel's work at C = 768).
    """

    # ---- instruction sets
    def isas(self) -> list[str]:
        return [ffi.string(lib.dn_isa_name(i)).decode() for i in range(lib.dn_isa_count())]

    def current_isa(self) -> str:
        return ffi.string(lib.dn_get_isa()).decode()

    def set_isa(self, name: str) -> None:
        if lib.dn_set_isa(name.encode()) != 0:
            raise ValueError(f"ISA {name!r} is not available here; choose from {self.isas()}")

    # ---- parameters
    #: A weight or bias as this backend's calls take it: a pointer to its
    #: data, or NULL for None. The pointer holds the array's buffer exported,
    #: which pins its memory: NumPy refuses to resize an array with exports,
    #: and its data attribute cannot be assigned.
    param = staticmethod(_p)

    # ---- LayerNorm
    def layer_norm_fwd(self, x, w, b, eps, y, stats):  # type: ignore[no-untyped-def]
        if x.nbytes >= PARALLEL_MIN_BYTES and _num_threads > 1:
            return _split_layer_norm_fwd(x, w, b, eps, y, stats)
        rows, cols = x.shape
        if stats is None:
            pm = pr = _NULL
        else:
            pm = _buf(stats)
            pr = pm + rows * x.itemsize  # row 1, rstd
        status = lib.dnpy_layer_norm_fwd(x.itemsize == 8, _buf(y), pm, pr, _buf(x), w, b, rows,
                                         cols, eps)
        if status:
            _check(status)

    def layer_norm_bwd(self, dy, x, stats, w, dx, dw, db):  # type: ignore[no-untyped-def]
        if x.nbytes >= PARALLEL_MIN_BYTES and _num_threads > 1:
            return _split_layer_norm_bwd(dy, x, stats, w, dx, dw, db)
        rows, cols = x.shape
        g = _OneCall(cols, dw, db)
        pm = _buf(stats)
        status = lib.dnpy_layer_norm_bwd(x.itemsize == 8, _buf(dx), g.w, g.b, _buf(dy), _buf(x),
                                         pm, pm + rows * x.itemsize, w, rows, cols, g.rw, g.rb)
        if status:
            _check(status)
        g.finish()

    # ---- RMSNorm
    def rms_norm_fwd(self, x, w, eps, y, rstd):  # type: ignore[no-untyped-def]
        if x.nbytes >= PARALLEL_MIN_BYTES and _num_threads > 1:
            return _split_rms_norm_fwd(x, w, eps, y, rstd)
        rows, cols = x.shape
        pr = _NULL if rstd is None else _buf(rstd)
        status = lib.dnpy_rms_norm_fwd(x.itemsize == 8, _buf(y), pr, _buf(x), w, rows, cols, eps)
        if status:
            _check(status)

    def rms_norm_bwd(self, dy, x, rstd, w, dx, dw):  # type: ignore[no-untyped-def]
        if x.nbytes >= PARALLEL_MIN_BYTES and _num_threads > 1:
            return _split_rms_norm_bwd(dy, x, rstd, w, dx, dw)
        rows, cols = x.shape
        g = _OneCall(cols, dw, None)
        status = lib.dnpy_rms_norm_bwd(x.itemsize == 8, _buf(dx), g.w, _buf(dy), _buf(x),
                                       _buf(rstd), w, rows, cols, g.rw)
        if status:
            _check(status)
        g.finish()

    # ---- DyT
    def dyt_fwd(self, x, alpha, w, b, y, fast=False):  # type: ignore[no-untyped-def]
        if x.nbytes >= PARALLEL_MIN_BYTES and _num_threads > 1:
            return _split_dyt_fwd(x, alpha, w, b, y, fast)
        rows, cols = x.shape
        status = lib.dnpy_dyt_fwd(x.itemsize == 8, fast, _buf(y), _buf(x), w, b, rows, cols,
                                  alpha)
        if status:
            _check(status)

    def dyt_bwd(self, dy, x, alpha, w, dx, dw, db):  # type: ignore[no-untyped-def]
        if x.nbytes >= PARALLEL_MIN_BYTES and _num_threads > 1:
            return _split_dyt_bwd(dy, x, alpha, w, dx, dw, db)
        rows, cols = x.shape
        g = _OneCall(cols, dw, db)
        status = lib.dnpy_dyt_bwd(x.itemsize == 8, _buf(dx), g.s, g.w, g.b, _buf(dy), _buf(x), w,
                                  rows, cols, alpha, g.rw, g.rb)
        if status:
            _check(status)
        return g.finish()

    # ---- DyISRU
    def dyisru_fwd(self, x, beta, w, b, eps, y):  # type: ignore[no-untyped-def]
        if x.nbytes >= PARALLEL_MIN_BYTES and _num_threads > 1:
            return _split_dyisru_fwd(x, beta, w, b, eps, y)
        rows, cols = x.shape
        status = lib.dnpy_dyisru_fwd(x.itemsize == 8, _buf(y), _buf(x), w, b, rows, cols, beta,
                                     eps)
        if status:
            _check(status)

    def dyisru_bwd(self, dy, x, beta, w, eps, dx, dw, db):  # type: ignore[no-untyped-def]
        if x.nbytes >= PARALLEL_MIN_BYTES and _num_threads > 1:
            return _split_dyisru_bwd(dy, x, beta, w, eps, dx, dw, db)
        rows, cols = x.shape
        g = _OneCall(cols, dw, db)
        status = lib.dnpy_dyisru_bwd(x.itemsize == 8, _buf(dx), g.s, g.w, g.b, _buf(dy), _buf(x),
                                     w, rows, cols, beta, eps, g.rw, g.rb)
        if status:
            _check(status)
        return g.finish()


# ---- the split calls: one C call per chunk of rows, one chunk per thread.
# Kept out of CBackend's methods, whose one-call path then has no closure:
# a variable a nested function captures lives in a cell, made on every call
# whichever path runs (about 2 thousand instructions, 0.2 us, a call).

def _split_layer_norm_fwd(x, w, b, eps, y, stats):  # type: ignore[no-untyped-def]
    rows, cols = x.shape
    f64 = x.itemsize == 8
    mean, rstd = (None, None) if stats is None else stats
    _run(_chunks(rows, x.nbytes), lambda k, r0, r1: lib.dnpy_layer_norm_fwd(
        f64, _buf(y[r0:r1]), _p(_rows(mean, r0, r1)), _p(_rows(rstd, r0, r1)),
        _buf(x[r0:r1]), w, b, r1 - r0, cols, eps))


def _split_layer_norm_bwd(dy, x, stats, w, dx, dw, db):  # type: ignore[no-untyped-def]
    cols = x.shape[1]
    f64 = x.itemsize == 8
    mean, rstd = stats
    _backward(x, dw, db, lambda r0, r1, gw, gb, gs: lib.dnpy_layer_norm_bwd(
        f64, _buf(dx[r0:r1]), gw, gb, _buf(dy[r0:r1]), _buf(x[r0:r1]),
        _buf(mean[r0:r1]), _buf(rstd[r0:r1]), w, r1 - r0, cols, _NULL, _NULL))


def _split_rms_norm_fwd(x, w, eps, y, rstd):  # type: ignore[no-untyped-def]
    rows, cols = x.shape
    f64 = x.itemsize == 8
    _run(_chunks(rows, x.nbytes), lambda k, r0, r1: lib.dnpy_rms_norm_fwd(
        f64, _buf(y[r0:r1]), _p(_rows(rstd, r0, r1)), _buf(x[r0:r1]), w, r1 - r0, cols, eps))


def _split_rms_norm_bwd(dy, x, rstd, w, dx, dw):  # type: ignore[no-untyped-def]
    cols = x.shape[1]
    f64 = x.itemsize == 8
    _backward(x, dw, None, lambda r0, r1, gw, gb, gs: lib.dnpy_rms_norm_bwd(
        f64, _buf(dx[r0:r1]), gw, _buf(dy[r0:r1]), _buf(x[r0:r1]), _buf(rstd[r0:r1]),
        w, r1 - r0, cols, _NULL))


def _split_dyt_fwd(x, alpha, w, b, y, fast):  # type: ignore[no-untyped-def]
    rows, cols = x.shape
    f64 = x.itemsize == 8
    _run(_chunks(rows, x.nbytes), lambda k, r0, r1: lib.dnpy_dyt_fwd(
        f64, fast, _buf(y[r0:r1]), _buf(x[r0:r1]), w, b, r1 - r0, cols, alpha))


def _split_dyt_bwd(dy, x, alpha, w, dx, dw, db):  # type: ignore[no-untyped-def]
    cols = x.shape[1]
    f64 = x.itemsize == 8
    return _backward(x, dw, db, lambda r0, r1, gw, gb, gs: lib.dnpy_dyt_bwd(
        f64, _buf(dx[r0:r1]), gs, gw, gb, _buf(dy[r0:r1]), _buf(x[r0:r1]), w,
        r1 - r0, cols, alpha, _NULL, _NULL))


def _split_dyisru_fwd(x, beta, w, b, eps, y):  # type: ignore[no-untyped-def]
    rows, cols = x.shape
    f64 = x.itemsize == 8
    _run(_chunks(rows, x.nbytes), lambda k, r0, r1: lib.dnpy_dyisru_fwd(
        f64, _buf(y[r0:r1]), _buf(x[r0:r1]), w, b, r1 - r0, cols, beta, eps))


def _split_dyisru_bwd(dy, x, beta, w, eps, dx, dw, db):  # type: ignore[no-untyped-def]
    cols = x.shape[1]
    f64 = x.itemsize == 8
    return _backward(x, dw, db, lambda r0, r1, gw, gb, gs: lib.dnpy_dyisru_bwd(
        f64, _buf(dx[r0:r1]), gs, gw, gb, _buf(dy[r0:r1]), _buf(x[r0:r1]), w,
        r1 - r0, cols, beta, eps, _NULL, _NULL))
