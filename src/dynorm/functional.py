"""Functional forward passes (DESIGN.md section 7).

Each normalizes (or squashes) the last axis of ``x``, any leading shape,
float32 or float64; the result has x's shape and dtype. ``weight``/``bias``
are optional arrays of shape ``(C,)`` and x's dtype. ``out=`` (NumPy's
convention) is an array of the result's shape and dtype, C-contiguous, that
is written and returned; it may be ``x`` itself (in place).

Each call validates once (cheap checks only), views the data as ``(rows, C)``
and makes exactly one backend call. For gradients use the layers
(:mod:`dynorm.layers`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _backend
from ._validate import as_affine, as_alpha, as_beta, as_eps, as_input, as_output, rows

Array = NDArray[np.floating]


def layer_norm(
    x: ArrayLike,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
    *,
    out: Array | None = None,
) -> Array:
    """LayerNorm: ``y = (x - <x>) / sqrt(var + eps) * w + b`` over the last axis.

    ``var`` is the population variance of the row (two-pass, in float64).
    """
    x = as_input(x)
    w, b = as_affine(weight, bias, x)
    eps = as_eps(eps)
    y = as_output(out, x, may_be=x)
    # no backward follows a functional call: mean and rstd are not kept
    _backend.active().layer_norm_fwd(rows(x), w, b, eps, rows(y), None)
    return y


def rms_norm(
    x: ArrayLike,
    weight: ArrayLike | None = None,
    eps: float = 1e-6,
    *,
    out: Array | None = None,
) -> Array:
    """RMSNorm: ``y = x / sqrt(<x^2> + eps) * w`` over the last axis."""
    x = as_input(x)
    w, _ = as_affine(weight, None, x)
    eps = as_eps(eps)
    y = as_output(out, x, may_be=x)
    _backend.active().rms_norm_fwd(rows(x), w, eps, rows(y), None)
    return y


def dyt(
    x: ArrayLike,
    alpha: float,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    *,
    out: Array | None = None,
) -> Array:
    """Dynamic Tanh: ``y = w * tanh(alpha * x) + b``, element-wise; ``alpha`` finite."""
    x = as_input(x)
    w, b = as_affine(weight, bias, x)
    alpha = as_alpha(alpha)
    y = as_output(out, x, may_be=x)
    _backend.active().dyt_fwd(rows(x), alpha, w, b, rows(y))
    return y


def dyisru(
    x: ArrayLike,
    beta: float,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
    *,
    out: Array | None = None,
) -> Array:
    """Dynamic Inverse Square Root Unit: ``y = w * x / sqrt(beta + eps + x^2) + b``,
    element-wise; ``beta >= 0`` and ``eps >= 0``, finite."""
    x = as_input(x)
    w, b = as_affine(weight, bias, x)
    beta, eps = as_beta(beta), as_eps(eps)
    y = as_output(out, x, may_be=x)
    _backend.active().dyisru_fwd(rows(x), beta, w, b, eps, rows(y))
    return y
