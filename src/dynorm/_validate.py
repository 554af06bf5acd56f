"""Input validation, in one place (docs/design.md §6).

The public entry points validate once, then hand C-contiguous 2-D arrays
``(rows, C)`` to the backend. The checks are cheap on purpose -- dtype, shape,
contiguity and the scalars -- because a C call costs well under a microsecond:
no pass over the data (no ``np.isfinite`` on arrays; NaN/Inf in the data
propagate as in the math).

Rules:

* dtype float32 or float64 only (native byte order); anything else is a
  ``TypeError`` -- dynorm never casts user data silently. Parameters, ``dy``
  and ``out`` must have the input's dtype (``TypeError``).
* ``x`` needs at least one axis and ``C = x.shape[-1] >= 1``; weight/bias have
  shape ``(C,)``; ``dy`` has x's shape (``ValueError``). Zero rows are fine.
* Scalars are real numbers in their op's domain (:mod:`dynorm.ops`): finite,
  and ``>= 0`` where the domain says so (``ValueError``).
* ``out``: an ndarray of the result's exact shape and dtype, C-contiguous,
  aligned and writeable. It may be the input itself (forward: ``out=x``;
  backward: ``out=dy``) but must not otherwise overlap an input, nor (for a
  layer) any of its parameters or gradients (``ValueError``).
* Strided, Fortran-ordered or unaligned input is copied to an aligned C-order
  array (same result as such a copy).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

Array = NDArray[np.floating]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# NumPy hands out these very objects for native float32/float64 arrays, so an
# identity test settles the common case; `in FLOAT_DTYPES` is the fallback.
_F32, _F64 = FLOAT_DTYPES
_ACCEPTED = "float32 or float64"


def float_dtype(dtype: DTypeLike, what: str = "dtype") -> np.dtype[Any]:
    """``dtype`` as an accepted np.dtype, else TypeError naming it."""
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        order = "" if dt.isnative else " (non-native byte order)"
        raise TypeError(
            f"{what} is {dt}{order}; dynorm accepts {_ACCEPTED} only "
            f"(no silent casts: convert explicitly, e.g. x.astype(np.float32))"
        )
    return dt


def as_input(x: ArrayLike, name: str = "x") -> Array:
    """``x`` as a C-contiguous float32/float64 ndarray with at least one axis
    and C >= 1 (strided input is copied to C order)."""
    a = x if type(x) is np.ndarray else np.asarray(x)
    dt = a.dtype
    if dt is not _F32 and dt is not _F64 and dt not in FLOAT_DTYPES:
        float_dtype(dt, f"{name}.dtype")
    shape = a.shape
    if not shape:
        raise ValueError(
            f"{name} is 0-d; it needs at least one axis (channels on the last axis)"
        )
    if shape[-1] < 1:
        raise ValueError(
            f"{name} has shape {shape}: C = 0 channels; the last axis needs size >= 1"
        )
    return _c_aligned(a)


def _c_aligned(a: Array) -> Array:
    """``a`` itself if C-contiguous and aligned to its dtype, else an aligned
    C-order copy (the kernels load whole elements from aligned addresses)."""
    flags = a.flags
    if flags.c_contiguous and flags.aligned:
        return a
    return np.array(a, order="C", copy=True)


def as_like(a: ArrayLike, x: Array, name: str) -> Array:
    """``a`` (e.g. ``dy``) as an array of exactly x's shape and dtype."""
    a = as_input(a, name)
    if a.dtype != x.dtype:
        raise TypeError(f"{name} has dtype {a.dtype}, but x has dtype {x.dtype}; they must match")
    if a.shape != x.shape:
        raise ValueError(f"{name} has shape {a.shape}, but x has shape {x.shape}; they must match")
    return a


def as_param(p: ArrayLike | None, name: str, dtype: np.dtype[Any], C: int) -> Array | None:
    """A weight/bias: None, or a C-contiguous array of shape (C,) and ``dtype``
    (the input's)."""
    if p is None:
        return None
    a = p if type(p) is np.ndarray else np.asarray(p)
    if a.dtype is not dtype and a.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {a.dtype}, but x has dtype {dtype}; "
            f"parameters must have the input's dtype"
        )
    if a.ndim != 1 or a.shape[0] != C:
        raise ValueError(
            f"{name} has shape {a.shape}; it must have shape ({C},) "
            f"to match x's last axis (C = {C})"
        )
    return _c_aligned(a)


def as_affine(weight: ArrayLike | None, bias: ArrayLike | None, dtype: np.dtype[Any],
              C: int) -> tuple[Array | None, Array | None]:
    """``(as_param(weight, "weight", ...), as_param(bias, "bias", ...))``.

    The usual case -- each None or a C-contiguous, aligned ndarray of shape
    (C,) and ``dtype`` -- is settled in one test: at (8, 768) a forward's Python side
    costs as much as its C side, so the common path reads each attribute once.
    """
    if ((weight is None or (type(weight) is np.ndarray and weight.dtype is dtype
                            and weight.ndim == 1 and len(weight) == C
                            and weight.flags.c_contiguous and weight.flags.aligned))
            and (bias is None or (type(bias) is np.ndarray and bias.dtype is dtype
                                  and bias.ndim == 1 and len(bias) == C
                                  and bias.flags.c_contiguous and bias.flags.aligned))):
        return weight, bias  # type: ignore[return-value]
    return as_param(weight, "weight", dtype, C), as_param(bias, "bias", dtype, C)


def _scalar(v: Any, name: str) -> float:
    """A real scalar as a Python float (fast path for float)."""
    if type(v) is float:
        return v
    if isinstance(v, numbers.Real) or (
        isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "fiu"
    ):
        return float(v)
    raise TypeError(f"{name} must be a real scalar; got {type(v).__name__} {v!r}")


def scalar_checker(name: str, domain: str, hint: str = "") -> Callable[[Any], float]:
    """A function that returns a scalar argument ``name`` as a float, checked
    against its domain (see :class:`dynorm.ops.Scalar`): TypeError if it is
    not a real scalar, ValueError outside the domain (``hint`` is appended to
    that message)."""
    inf = math.inf  # a local of the closures: no global look-up per call
    if domain == "finite":
        def check(v: Any) -> float:
            f = v if type(v) is float else _scalar(v, name)
            if not -inf < f < inf:
                raise ValueError(f"{name} must be finite; got {f!r}{hint}")
            return f
    elif domain == "nonnegative":
        def check(v: Any) -> float:
            f = v if type(v) is float else _scalar(v, name)
            if not 0.0 <= f < inf:
                raise ValueError(f"{name} must be finite and >= 0; got {f!r}{hint}")
            return f
    else:
        raise ValueError(f"unknown domain {domain!r} of scalar {name!r}")
    check.__name__ = f"check_{name}"
    return check


def as_output(
    out: Any, like: Array, *, may_be: Array | None = None, inputs: Iterable[Array] = ()
) -> Array:
    """The array to write a result of ``like``'s shape and dtype into.

    ``out=None`` allocates one (C order). Otherwise ``out`` must be an ndarray
    of exactly that shape and dtype, C-contiguous and writeable. It may be the
    array ``may_be`` itself (in place) but must not overlap it otherwise, nor
    overlap any of ``inputs``.
    """
    if out is None:
        return np.empty(like.shape, like.dtype)
    return _checked_output(out, like, may_be, inputs)[0]


def as_output_inplace(out: Any, like: Array) -> tuple[Array, bool]:
    """``as_output(out, like, may_be=like)``, and whether the result is
    ``like``'s very memory (a forward in place), found by the same test."""
    if out is None:
        return np.empty(like.shape, like.dtype), False
    return _checked_output(out, like, like, ())


def as_forward(x: ArrayLike, out: Any,
               check_input: Callable[[ArrayLike], Array] = as_input) -> tuple[Array, Array, bool]:
    """A forward's arrays: ``x = check_input(x)``, then ``y, in_place =
    as_output_inplace(out, x)``; returns ``(x, y, in_place)``.

    The usual call -- x a C-contiguous, aligned float32/float64 ndarray with
    C >= 1, out None or an ndarray like x that owns its memory as x does its own (two
    allocations: no overlap) -- is settled with each attribute read once (at
    (8, 768) the checks cost as much as the kernel), and skips
    ``check_input``: a caller with stricter rules for x (a layer's dtype and
    C) checks those on the x returned. Anything else takes the general checks,
    x's first, which name what is wrong.
    """
    if type(x) is np.ndarray:
        dt, shape, flags = x.dtype, x.shape, x.flags
        if ((dt is _F32 or dt is _F64) and shape and shape[-1] and flags.c_contiguous
                and flags.aligned):
            if out is None:
                return x, np.empty(shape, dt), False
            if (type(out) is np.ndarray and out is not x and out.dtype is dt
                    and out.shape == shape):
                out_flags = out.flags
                if out_flags.carray and out_flags.owndata and flags.owndata:
                    return x, out, False
    x = check_input(x)
    y, inplace = as_output_inplace(out, x)
    return x, y, inplace


def as_backward(dy: ArrayLike, out: Any, x: Array,
                shape: tuple[int, ...]) -> tuple[Array, Array]:
    """A backward's arrays: ``dy = as_like(dy, x.reshape(shape))``, then
    ``dx = as_output(out, dy, may_be=dy, inputs=(x,))``; returns ``(dy, dx)``.
    ``x`` is the forward's input as saved (2-D), ``shape`` its shape as given.

    The usual call -- dy a C-contiguous, aligned ndarray of that shape and dtype, out
    None, dy itself or an ndarray like dy, where out, dy and x each own their
    memory (separate allocations: no overlap) -- is settled with each
    attribute read once, as in :func:`as_forward`. Anything else takes the
    general checks.
    """
    if type(dy) is np.ndarray:
        dt, flags = x.dtype, dy.flags
        if dy.dtype is dt and dy.shape == shape and flags.c_contiguous and flags.aligned:
            if out is None:
                return dy, np.empty(shape, dt)
            if (type(out) is np.ndarray and out is not x and out.dtype is dt
                    and out.shape == shape):
                out_flags = out.flags
                if (out_flags.carray and out_flags.owndata and flags.owndata
                        and x.flags.owndata):
                    return dy, out
    dy = as_like(dy, x.reshape(shape), "dy")
    return dy, as_output(out, dy, may_be=dy, inputs=(x,))


def _checked_output(
    out: Any, like: Array, may_be: Array | None, inputs: Iterable[Array]
) -> tuple[Array, bool]:
    if may_be is not None and out is may_be and not inputs and out.flags.carray:  # in place
        return out, True
    if type(out) is not np.ndarray:
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    if out.dtype is not like.dtype and out.dtype != like.dtype:
        raise TypeError(f"out has dtype {out.dtype}; the result has dtype {like.dtype}")
    if out.shape != like.shape:
        raise ValueError(f"out has shape {out.shape}; the result has shape {like.shape}")
    flags = out.flags
    if not flags.carray:  # C-contiguous, aligned and writeable, in one test
        if not flags.c_contiguous:
            raise ValueError("out must be C-contiguous (e.g. from np.empty_like(x, order='C'))")
        if not flags.writeable:
            raise ValueError("out is read-only")
        raise ValueError("out must be aligned to its dtype (e.g. from np.empty_like(x))")
    if (not inputs and may_be is not None and flags.owndata and may_be.flags.owndata):
        # two arrays that each own their memory are two allocations: no
        # overlap (np.may_share_memory costs twice as much)
        return out, False
    inplace = may_be is not None and np.may_share_memory(out, may_be)
    if inplace and not _same_memory(out, may_be):  # type: ignore[arg-type]
        raise ValueError("out overlaps the input without being the very same array in memory")
    for a in inputs:
        if np.may_share_memory(out, a):
            raise ValueError("out must not overlap x (the input saved for backward)")
    return out, inplace


def check_not_aliasing(out: Array, groups: dict[str, dict[str, Any]], owner: str) -> None:
    """ValueError if ``out`` overlaps any array of ``groups`` (kind -> name ->
    array, e.g. a layer's parameters and gradients): a result written there
    would overwrite them while the call reads or writes them.

    When ``out`` owns its memory (one allocation of its own), only ``out``
    itself and views of it can overlap it, and NumPy points every view's
    ``base`` at the array that owns the memory: two identity tests an array
    settle it (``np.may_share_memory`` costs about a microsecond an array,
    as much as the kernel at (8, 768)). Otherwise each array gets the exact
    test.
    """
    owns = out.base is None and out.flags.owndata
    for kind, arrays in groups.items():
        for name, a in arrays.items():
            if type(a) is not np.ndarray:
                continue
            if owns and a is not out and a.base is not out:
                continue
            if np.may_share_memory(out, a):
                raise ValueError(f"out overlaps {owner}'s {kind} {name!r}; "
                                 f"pass an array of its own")


def _same_memory(a: Array, b: Array) -> bool:
    """Whether ``a`` and ``b`` view exactly the same elements in the same order."""
    return (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        and a.shape == b.shape
        and a.strides == b.strides
    )


def rows(a: Array) -> Array:
    """A C-contiguous array (as :func:`as_input` and :func:`as_output` return)
    viewed as 2-D ``(rows, C)``."""
    return a if a.ndim == 2 else a.reshape(-1, a.shape[-1])


def check_channels(C: Any) -> int:
    """A layer's channel count: an integer >= 1."""
    if isinstance(C, bool) or not isinstance(C, numbers.Integral):
        raise TypeError(f"C (the number of channels) must be an integer; got {C!r}")
    if C < 1:
        raise ValueError(f"C (the number of channels) must be >= 1; got {C}")
    return int(C)
