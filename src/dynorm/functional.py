"""Functional forward passes, one per op of the table (docs/design.md §7).

Each normalizes (or squashes) the last axis of ``x``, any leading shape,
float32 or float64; the result has x's shape and dtype. ``weight``/``bias``
are optional arrays of shape ``(C,)`` and x's dtype. ``out=`` (NumPy's
convention) is an array of the result's shape and dtype, C-contiguous, that
is written and returned; it may be ``x`` itself (in place).

The functions are made from the op table (:mod:`dynorm.ops`) by
:func:`functional`, with one rule for the arguments: ``x``, the op's
learnable scalars (required), ``weight``, ``bias`` (if the op has one), the
op's other scalars (with their defaults), then ``out`` by keyword. Each call
validates once (cheap checks only), views the data as ``(rows, C)`` and makes
exactly one backend call. For gradients use the layers (:mod:`dynorm.layers`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _backend
from ._validate import as_affine, as_forward, rows
from .ops import OPS, Op

Array = NDArray[np.floating]


def _doc(op: Op) -> str:
    """The function's docstring: what, Parameters, Returns, Raises, an example."""
    lines = [f"{op.summary}: ``{op.formula}``.", "", "Parameters", "----------",
             "x : array_like", "    float32 or float64, channels on the last axis, any "
             "leading shape."]
    for s in op.learnable:
        dom = "finite" if s.domain == "finite" else "finite and >= 0"
        lines += [f"{s.name} : float", f"    {s.doc[0].upper()}{s.doc[1:]}; {dom}."]
    lines += ["weight : array_like of shape (C,), optional", "    x's dtype; None means 1."]
    if op.bias:
        lines += ["bias : array_like of shape (C,), optional", "    x's dtype; None means 0."]
    for s in op.constants:
        lines += [f"{s.name} : float, default {s.default!r}",
                  f"    {s.doc[0].upper()}{s.doc[1:]}; finite and >= 0."]
    lines += ["out : ndarray, optional",
              "    Where to write the result: x's shape and dtype, C-contiguous, aligned and",
              "    writeable; may be x itself (in place), must not otherwise overlap it.",
              "", "Returns", "-------", "ndarray", "    y, of x's shape and dtype (``out`` "
              "when given).", "", "Raises", "------", "TypeError",
              "    x of a dtype other than float32 or float64; weight, bias or out of",
              "    another dtype than x's; a scalar that is not a real number.", "ValueError",
              "    x 0-d or with 0 channels; weight or bias not of shape (C,); a scalar",
              "    outside its domain; out of another shape, not C-contiguous, aligned",
              "    and writeable, or overlapping x without being x.", "", "Examples",
              "--------", ">>> import numpy as np", ">>> import dynorm as dn",
              ">>> x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)",
              f">>> y = dn.{op.name}(x{''.join(f', {s.default!r}' for s in op.learnable)})",
              ">>> y.shape, y.dtype", "((4, 8), dtype('float32'))"]
    return "\n".join(lines)


def functional(op: Op) -> Callable[..., Array]:
    """The functional forward of ``op``, compiled from generated source (as
    :mod:`dataclasses` does): a real signature for ``help()`` and
    ``inspect``, and no per-call loop over the table."""
    args = ["x: ArrayLike", *(f"{s.name}: float" for s in op.learnable),
            "weight: ArrayLike | None = None"]
    if op.bias:
        args.append("bias: ArrayLike | None = None")
    args += [f"{s.name}: float = {s.default!r}" for s in op.constants]
    checks = ", ".join(f"_c{k}({s.name})" for k, s in enumerate(op.scalars))
    source = f"""
def {op.name}({', '.join(args)}, *, out: Array | None = None) -> Array:
    x, y, _ = as_forward(x, out)
    w, b = as_affine(weight, {'bias' if op.bias else 'None'}, x.dtype, x.shape[-1])
    s = ({checks},)
    be = _backend._active
    # no backward follows a functional call: no statistics are kept
    be.forward(OP, rows(x), be.param(w), be.param(b), s, rows(y), None)
    return y
"""
    namespace: dict[str, Any] = {
        "as_forward": as_forward, "as_affine": as_affine, "rows": rows, "_backend": _backend,
        "ArrayLike": ArrayLike, "Array": Array,
        "OP": op, **{f"_c{k}": op.checker(s) for k, s in enumerate(op.scalars)},
    }
    exec(compile(source, f"<dynorm.functional: {op.name}>", "exec"), namespace)
    fn: Callable[..., Array] = namespace[op.name]
    fn.__module__ = __name__
    fn.__doc__ = _doc(op)
    return fn


#: The functional forwards by op name.
FUNCTIONS: dict[str, Callable[..., Array]] = {op.name: functional(op) for op in OPS}
globals().update(FUNCTIONS)

__all__ = ["FUNCTIONS", "functional", *FUNCTIONS]
