"""The NumPy reference: dynorm's specification in code (docs/design.md §2).

Every function works on the last axis of ``x`` and accepts any leading shape.
Notation, as in the formulas: ``C = x.shape[-1]``; ``<.>`` is the mean over the
last axis (one value per row); ``S(.)`` is the sum over all leading axes (one
value per channel); ``g = dy * w``. ``weight``/``bias`` may be ``None``,
meaning 1 and 0.

Numerics (docs/design.md §4). This module is the accuracy yardstick of the
float32 kernels, so it computes everything in float64 -- for float32 input too
-- and rounds once, at the end, to ``x.dtype``:

* row statistics in two passes: the mean, then the centred sum of squares
  (never ``E[x^2] - E[x]^2``, which cancels when ``|mean| >> std``);
* parameter gradients (``dw``, ``db``: sums over rows; ``dalpha``, ``dbeta``:
  sums over all elements) accumulated in float64; ``dalpha``/``dbeta`` are
  returned as Python floats;
* LayerNorm backward in the ``xh`` form; DyT's ``sech^2`` from
  ``E = exp(-2|z|)`` rather than ``1 - t^2`` (which cancels near saturation);
* DyISRU clamps ``|x|`` at ``2^100`` before squaring (``x^2`` cannot overflow
  in float64, and ``u = x/sqrt(beta + eps + x^2)`` has already rounded to
  ``sign(x)`` there for every ``beta + eps < 2^146``: the C kernels' float64
  clamp; their float32 one, 2^40, is exact for ``beta + eps < 2^54``); its
  backward uses ``beta + eps``, never ``q - x^2``.

Saved statistics (``mean``, ``rstd``) are returned in ``x.dtype``, shaped
``x.shape[:-1]``: two numbers a row.

NaN and Inf propagate as in the math. A NaN in one row stays in that row of
``y`` and ``dx``; the column sums ``dw``/``db`` and the scalar sums
``dalpha``/``dbeta`` of a batch that contains it become NaN, as they must.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.floating]
F64 = NDArray[np.float64]

#: DyISRU clamps |x| here before squaring: x^2 = 2^200 is finite in float64,
#: and x/sqrt(x^2 + beta + eps) == sign(x) there for every beta + eps < 2^146.
DYISRU_CLAMP = 2.0**100


# --------------------------------------------------------------- helpers


def _f64(a: ArrayLike) -> F64:
    """``a`` as a float64 array (no copy when it already is one)."""
    return np.asarray(a, dtype=np.float64)


def _affine(xh: F64, weight: Array | None, bias: Array | None) -> F64:
    """``xh * w + b`` with ``w = 1``, ``b = 0`` where None."""
    y = xh if weight is None else xh * _f64(weight)
    return y if bias is None else y + _f64(bias)


def _g(dy: F64, weight: Array | None) -> F64:
    """``g = dy * w``: the gradient flowing into the normalized value."""
    return dy if weight is None else dy * _f64(weight)


def _S(a: F64) -> F64:
    """``S(a)``: the sum over all leading axes, shape ``(C,)``, in float64."""
    return a.reshape(-1, a.shape[-1]).sum(axis=0)


def _row_mean(a: F64) -> F64:
    """``<a>``: the mean over the last axis, kept as a column for broadcasting."""
    return a.mean(axis=-1, keepdims=True)


# ------------------------------------------------------------- LayerNorm


def layer_norm_forward(
    x: Array, weight: Array | None, bias: Array | None, eps: float
) -> tuple[Array, Array, Array]:
    """LayerNorm over the last axis.

    ``mu = <x>``, ``var = <(x - mu)^2>`` (population variance, two passes),
    ``r = 1/sqrt(var + eps)``, ``xh = (x - mu) * r``, ``y = xh * w + b``.

    Returns ``(y, mean, rstd)`` with ``mean = mu`` and ``rstd = r`` of shape
    ``x.shape[:-1]``, all in ``x.dtype``.
    """
    x64 = _f64(x)
    mu = _row_mean(x64)
    xc = x64 - mu
    r = 1.0 / np.sqrt(_row_mean(xc * xc) + eps)
    xh = xc * r
    y = _affine(xh, weight, bias)
    return _cast(y, x), _cast(mu[..., 0], x), _cast(r[..., 0], x)


def layer_norm_backward(
    dy: Array, x: Array, mean: Array, rstd: Array, weight: Array | None
) -> tuple[Array, Array, Array]:
    """Gradients of LayerNorm, from the saved ``mean`` and ``rstd``.

    ``xh = (x - mean) * r``, ``g = dy * w``,
    ``dx = r * (g - <g> - xh * <g * xh>)``, ``dw = S(dy * xh)``,
    ``db = S(dy)``.

    Returns ``(dx, dweight, dbias)`` in ``x.dtype``; ``dweight``/``dbias`` have
    shape ``(C,)`` and are computed whether or not the layer has them.
    """
    dy64 = _f64(dy)
    r = _f64(rstd)[..., None]
    xh = (_f64(x) - _f64(mean)[..., None]) * r
    g = _g(dy64, weight)
    dx = r * (g - _row_mean(g) - xh * _row_mean(g * xh))
    return _cast(dx, x), _cast(_S(dy64 * xh), x), _cast(_S(dy64), x)


# --------------------------------------------------------------- RMSNorm


def rms_norm_forward(x: Array, weight: Array | None, eps: float) -> tuple[Array, Array]:
    """RMSNorm over the last axis.

    ``r = 1/sqrt(<x^2> + eps)``, ``xh = x * r``, ``y = xh * w``.

    Returns ``(y, rstd)``; ``rstd = r`` has shape ``x.shape[:-1]``.
    """
    x64 = _f64(x)
    r = 1.0 / np.sqrt(_row_mean(x64 * x64) + eps)
    y = _affine(x64 * r, weight, None)
    return _cast(y, x), _cast(r[..., 0], x)


def rms_norm_backward(
    dy: Array, x: Array, rstd: Array, weight: Array | None
) -> tuple[Array, Array]:
    """Gradients of RMSNorm, from the saved ``rstd``.

    ``xh = x * r``, ``g = dy * w``, ``dx = r * (g - xh * <g * xh>)``,
    ``dw = S(dy * xh)``.

    Returns ``(dx, dweight)`` in ``x.dtype``.
    """
    dy64 = _f64(dy)
    r = _f64(rstd)[..., None]
    xh = _f64(x) * r
    g = _g(dy64, weight)
    dx = r * (g - xh * _row_mean(g * xh))
    return _cast(dx, x), _cast(_S(dy64 * xh), x)


# ------------------------------------------------------------------- DyT


def _sech2(z: ArrayLike) -> F64:
    """``sech^2(z) = 1 - tanh(z)^2``, accurate where ``1 - t*t`` cancels.

    With ``E = exp(-2|z|)`` (never overflows): ``tanh(|z|) = (1 - E)/(1 + E)``
    and ``sech^2(z) = 4E / (1 + E)^2``.
    """
    E = np.exp(-2.0 * np.abs(_f64(z)))
    return 4.0 * E / ((1.0 + E) * (1.0 + E))


def dyt_forward(x: Array, alpha: float, weight: Array | None, bias: Array | None) -> Array:
    """Dynamic Tanh: ``t = tanh(alpha * x)``, ``y = w * t + b``."""
    t = np.tanh(alpha * _f64(x))
    return _cast(_affine(t, weight, bias), x)


def dyt_backward(
    dy: Array, x: Array, alpha: float, weight: Array | None
) -> tuple[Array, float, Array, Array]:
    """Gradients of DyT, recomputed from ``x``.

    ``t = tanh(alpha x)``, ``s = sech^2(alpha x)`` (``= 1 - t^2``), ``g = dy * w``,
    ``dx = g * alpha * s``, ``dalpha = sum(g * x * s)``, ``dw = S(dy * t)``,
    ``db = S(dy)``.

    Returns ``(dx, dalpha, dweight, dbias)``; ``dalpha`` is a float.
    """
    x64, dy64 = _f64(x), _f64(dy)
    z = alpha * x64
    t = np.tanh(z)
    s = _sech2(z)
    g = _g(dy64, weight)
    dx = g * alpha * s
    dalpha = float(np.sum(g * x64 * s))
    return _cast(dx, x), dalpha, _cast(_S(dy64 * t), x), _cast(_S(dy64), x)


# ---------------------------------------------------------------- DyISRU


def _clamp(x: Array) -> F64:
    """``x`` in float64 with ``|x|`` clamped at ``2^100`` (NaN stays NaN)."""
    return np.clip(_f64(x), -DYISRU_CLAMP, DYISRU_CLAMP)


def dyisru_forward(
    x: Array, beta: float, weight: Array | None, bias: Array | None, eps: float
) -> Array:
    """Dynamic Inverse Square Root Unit.

    ``q = beta + eps + x^2``, ``u = x / sqrt(q)``, ``y = w * u + b``
    (``|x|`` clamped at ``2^100`` first, where ``u`` is already ``sign(x)``).
    """
    xc = _clamp(x)
    q = (beta + eps) + xc * xc
    u = xc / np.sqrt(q)
    return _cast(_affine(u, weight, bias), x)


def dyisru_backward(
    dy: Array, x: Array, beta: float, weight: Array | None, eps: float
) -> tuple[Array, float, Array, Array]:
    """Gradients of DyISRU, recomputed from ``x``.

    ``q = beta + eps + x^2``, ``u = x / sqrt(q)``, ``g = dy * w``,
    ``dx = g * (beta + eps) * q^-1.5``, ``dbeta = -0.5 * sum(g * x * q^-1.5)``,
    ``dw = S(dy * u)``, ``db = S(dy)``.

    Past the clamp (``|x| > 2^100``) ``dx`` is the value at the clamp, below
    ``(beta + eps) * 2^-300``: zero for every practical purpose.

    Returns ``(dx, dbeta, dweight, dbias)``; ``dbeta`` is a float.
    """
    xc, dy64 = _clamp(x), _f64(dy)
    q = (beta + eps) + xc * xc
    q_15 = q**-1.5
    u = xc / np.sqrt(q)
    g = _g(dy64, weight)
    dx = g * (beta + eps) * q_15
    dbeta = -0.5 * float(np.sum(g * xc * q_15))
    return _cast(dx, x), dbeta, _cast(_S(dy64 * u), x), _cast(_S(dy64), x)


# --------------------------------------------- softplus reparametrization


def softplus(x: ArrayLike) -> F64:
    """``softplus(x) = log(1 + e^x)``, stably: ``max(x, 0) + log1p(e^-|x|)``.

    Computed in float64; keeps ``alpha``/``beta`` positive during training.
    """
    x64 = _f64(x)
    return np.maximum(x64, 0.0) + np.log1p(np.exp(-np.abs(x64)))


def softplus_inverse(y: ArrayLike) -> F64:
    """The inverse of softplus for ``y > 0``: ``y + log(-expm1(-y))``.

    This form is exact to rounding for tiny ``y`` (``-expm1(-y) ~ y``) and for
    large ``y`` (``log(1 - e^-y) ~ -e^-y``), where ``log(e^y - 1)`` would
    overflow or cancel. ``y <= 0`` has no inverse (``-inf`` at 0, NaN below).
    """
    y64 = _f64(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return y64 + np.log(-np.expm1(-y64))


def sigmoid(x: ArrayLike) -> F64:
    """``sigmoid(x) = 1/(1 + e^-x)`` = ``d softplus(x)/dx``, stably.

    With ``e = exp(-|x|)`` (never overflows): ``1/(1 + e)`` for ``x >= 0``,
    ``e/(1 + e)`` for ``x < 0``.
    """
    x64 = _f64(x)
    e = np.exp(-np.abs(x64))
    return np.where(x64 >= 0.0, 1.0, e) / (1.0 + e)


def _cast(a: F64, like: Array) -> Array:
    """Round a float64 result once, to the input's dtype."""
    return a.astype(like.dtype, copy=False)
