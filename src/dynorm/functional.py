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
from ._validate import as_affine, as_alpha, as_beta, as_eps, as_forward, rows

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
    x, y, _ = as_forward(x, out)
    w, b = as_affine(weight, bias, x.dtype, x.shape[-1])
    eps = as_eps(eps)
    be = _backend.active()
    # no backward follows a functional call: mean and rstd are not kept
    be.layer_norm_fwd(rows(x), be.param(w), be.param(b), eps, rows(y), None)
    return y


def rms_norm(
    x: ArrayLike,
    weight: ArrayLike | None = None,
    eps: float = 1e-6,
    *,
    out: Array | None = None,
) -> Array:
    """RMSNorm: ``y = x / sqrt(<x^2> + eps) * w`` over the last axis."""
    x, y, _ = as_forward(x, out)
    w, _ = as_affine(weight, None, x.dtype, x.shape[-1])
    eps = as_eps(eps)
    be = _backend.active()
    be.rms_norm_fwd(rows(x), be.param(w), eps, rows(y), None)
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
    x, y, _ = as_forward(x, out)
    w, b = as_affine(weight, bias, x.dtype, x.shape[-1])
    alpha = as_alpha(alpha)
    be = _backend.active()
    be.dyt_fwd(rows(x), alpha, be.param(w), be.param(b), rows(y))
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
    x, y, _ = as_forward(x, out)
    w, b = as_affine(weight, bias, x.dtype, x.shape[-1])
    beta, eps = as_beta(beta), as_eps(eps)
    be = _backend.active()
    be.dyisru_fwd(rows(x), beta, be.param(w), be.param(b), eps, rows(y))
    return y
