"""Where DyT and DyISRU come from: RMSNorm, its Jacobian, and two decouplings.

Notation (docs/design.md §1). One row ``x`` of ``C`` channels, no affine
parameters and no ``eps``:

* RMSNorm    ``y_i = sqrt(C) x_i / ||x||``
* LayerNorm  ``y_i = (x_i - mu) / sigma`` with the *population* standard
  deviation ``sigma = sqrt(mean((x - mu)^2))``

Decoupling in derivative space. The Jacobian of RMSNorm is

    dy_i/dx_j = (sqrt(C)/||x||) (delta_ij - x_i x_j / ||x||^2).

Its diagonal is ``(sqrt(C)/||x||) (1 - y_i^2 / C)``. Freezing the prefactor
``a = sqrt(C)/||x||`` as a constant gives the ODE ``dy/dx = a (1 - y^2/C)``,
``y(0) = 0``, whose solution is ``y = sqrt(C) tanh(a x / sqrt(C))``:
Dynamic Tanh with ``alpha = a / sqrt(C) = 1/||x||``.

Decoupling in function space. ``||x||^2 = x_i^2 + beta_i`` with
``beta_i = sum_{j != i} x_j^2``, so ``y_i = sqrt(C) x_i / sqrt(beta_i + x_i^2)``
*exactly*. Treating ``beta_i`` as one learnable constant gives DyISRU.

All functions here act on the last axis and work in float64; they are the
mathematics, not the fast layers (those are ``dynorm.layer_norm`` etc.).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

__all__ = [
    "alpha_from_beta",
    "beta_from_alpha",
    "decoupled_ode_rhs",
    "decoupled_prefactor",
    "dyisru_curve",
    "dyt_alpha_from_prefactor",
    "dyt_curve",
    "integrate_ode",
    "layer_norm",
    "layer_norm_bound",
    "layer_norm_jacobian",
    "leave_one_out_beta",
    "rms_norm",
    "rms_norm_bound",
    "rms_norm_jacobian",
    "rms_norm_jacobian_diagonal",
]


def _rows(x: ArrayLike) -> Array:
    """``x`` as a float64 array with at least one axis (the channel axis)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        raise ValueError("expected at least one axis (the C channels)")
    if a.shape[-1] == 0:
        raise ValueError("expected at least one channel")
    return a


# --------------------------------------------------------------------------
# The two normalizations (no affine, no eps)
# --------------------------------------------------------------------------


def rms_norm(x: ArrayLike) -> Array:
    """RMSNorm without affine and eps: ``y = sqrt(C) x / ||x||`` over the last axis."""
    x = _rows(x)
    c = x.shape[-1]
    return np.sqrt(c) * x / np.linalg.norm(x, axis=-1, keepdims=True)


def layer_norm(x: ArrayLike) -> Array:
    """LayerNorm without affine and eps: ``y = (x - mu) / sigma`` over the last axis.

    ``sigma`` is the population standard deviation (divide by ``C``, not
    ``C - 1``), as in every LayerNorm implementation; the mean is subtracted
    before squaring (two passes).
    """
    x = _rows(x)
    centred = x - x.mean(axis=-1, keepdims=True)
    sigma = np.sqrt(np.mean(centred * centred, axis=-1, keepdims=True))
    return centred / sigma


# --------------------------------------------------------------------------
# Derivative space
# --------------------------------------------------------------------------


def rms_norm_jacobian(x: ArrayLike) -> Array:
    """Full Jacobian of RMSNorm, shape ``(..., C, C)``.

        J_ij = dy_i/dx_j = (sqrt(C)/||x||) (delta_ij - x_i x_j / ||x||^2)

    It is symmetric, and ``J x = 0`` (RMSNorm is invariant to scaling ``x``).
    """
    x = _rows(x)
    c = x.shape[-1]
    norm = np.linalg.norm(x, axis=-1)[..., None, None]
    outer = x[..., :, None] * x[..., None, :]
    return (np.sqrt(c) / norm) * (np.eye(c) - outer / norm**2)


def rms_norm_jacobian_diagonal(x: ArrayLike) -> Array:
    """Diagonal of the RMSNorm Jacobian: ``dy_i/dx_i = (sqrt(C)/||x||)(1 - y_i^2/C)``.

    Keeping only this diagonal is the decoupling in derivative space.
    """
    x = _rows(x)
    c = x.shape[-1]
    y = rms_norm(x)
    return decoupled_prefactor(x) * (1.0 - y * y / c)


def layer_norm_jacobian(x: ArrayLike) -> Array:
    """Full Jacobian of LayerNorm (population sigma), shape ``(..., C, C)``.

        J_ij = (1/sigma) (delta_ij - 1/C - y_i y_j / C)

    with ``y`` the LayerNorm output. ``J 1 = 0`` (shift invariance) and
    ``J x = 0`` (scale invariance).
    """
    x = _rows(x)
    c = x.shape[-1]
    y = layer_norm(x)
    sigma = np.std(x, axis=-1)[..., None, None]
    outer = y[..., :, None] * y[..., None, :]
    return (np.eye(c) - 1.0 / c - outer / c) / sigma


def decoupled_prefactor(x: ArrayLike) -> Array:
    """The prefactor ``a = sqrt(C)/||x||`` that derivative-space decoupling freezes.

    Shape ``(..., 1)`` so that it broadcasts against the row.
    """
    x = _rows(x)
    c = x.shape[-1]
    return np.sqrt(c) / np.linalg.norm(x, axis=-1, keepdims=True)


def decoupled_ode_rhs(a: float, channels: int) -> Callable[[float, Array], Array]:
    """Right-hand side of the decoupled ODE, ``dy/dx = a (1 - y^2 / C)``."""

    def rhs(_x: float, y: Array) -> Array:
        return a * (1.0 - y * y / channels)

    return rhs


def dyt_alpha_from_prefactor(a: float, channels: int) -> float:
    """``alpha = a / sqrt(C)``: the ODE's solution is ``sqrt(C) tanh(alpha x)``.

    With ``a = sqrt(C)/||x||`` this is ``alpha = 1/||x||``.
    """
    return a / np.sqrt(channels)


# --------------------------------------------------------------------------
# A small ODE integrator: Dormand-Prince RK5(4) with error control
# --------------------------------------------------------------------------

# Butcher tableau of Dormand & Prince (1980). Nodes c, stage matrix A, the
# 5th-order weights B (the solution is advanced with these) and the
# difference E = B - B* to the embedded 4th-order weights (the error estimate).
_DP_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_DP_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
_DP_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0])
_DP_E = np.array(
    [71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40]
)


def _dormand_prince_step(
    rhs: Callable[[float, Array], Array], x: float, y: Array, h: float
) -> tuple[Array, Array]:
    """One Dormand-Prince step of size ``h``: (5th-order ``y(x+h)``, error estimate)."""
    k: list[Array] = []
    for c_s, a_s in zip(_DP_C, _DP_A):
        y_stage = y + h * sum((a * k_j for a, k_j in zip(a_s, k)), np.zeros_like(y))
        k.append(np.asarray(rhs(x + c_s * h, y_stage), dtype=np.float64))
    y_new = y + h * sum((b * k_j for b, k_j in zip(_DP_B, k)), np.zeros_like(y))
    error = h * sum((e * k_j for e, k_j in zip(_DP_E, k)), np.zeros_like(y))
    return y_new, error


def _integrate_one_way(
    rhs: Callable[[float, Array], Array],
    x0: float,
    y0: Array,
    targets: Array,
    rtol: float,
    atol: float,
    max_steps: int,
) -> list[Array]:
    """Integrate from ``x0`` through ``targets`` (all on one side, ordered outward)."""
    direction = 1.0 if targets[-1] >= x0 else -1.0
    x, y = float(x0), y0.copy()
    h = direction * max(abs(targets[-1] - x0), 1.0) * 1e-3
    out: list[Array] = []
    steps = 0
    for target in targets:
        while direction * (target - x) > 0:
            if steps == max_steps:
                raise RuntimeError(f"ODE integration needed more than {max_steps} steps")
            steps += 1
            if direction * (x + h - target) > 0:  # land exactly on the target
                h = target - x
            y_new, error = _dormand_prince_step(rhs, x, y, h)
            scale = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
            err = float(np.max(np.abs(error) / scale))
            if err <= 1.0:  # accept
                x, y = x + h, y_new
            # Standard controller for a 4th-order error estimate.
            factor = 5.0 if err == 0.0 else min(5.0, max(0.2, 0.9 * err**-0.2))
            h = h * factor
        out.append(y.copy())
    return out


def integrate_ode(
    rhs: Callable[[float, Array], Array],
    x0: float,
    y0: ArrayLike,
    x_eval: ArrayLike,
    *,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    max_steps: int = 100_000,
) -> Array:
    """Solve ``dy/dx = rhs(x, y)``, ``y(x0) = y0`` at the points ``x_eval``.

    Adaptive Dormand-Prince RK5(4): each step takes the 5th-order solution
    and accepts it when the embedded error estimate satisfies
    ``|err| <= atol + rtol * |y|``; the step size then changes by
    ``0.9 * err^(-1/5)`` (clamped to [0.2, 5]). Points on both sides of
    ``x0`` are allowed: the solver integrates outward from ``x0`` in each
    direction, stepping exactly onto every requested point.

    Returns an array of shape ``x_eval.shape + y0.shape``.
    """
    xs = np.asarray(x_eval, dtype=np.float64)
    y0 = np.asarray(y0, dtype=np.float64)
    flat = xs.ravel()
    result = np.empty((flat.size,) + y0.shape)
    for side in (flat >= x0, flat < x0):
        index = np.flatnonzero(side)
        if index.size == 0:
            continue
        order = index[np.argsort(np.abs(flat[index] - x0), kind="stable")]
        values = _integrate_one_way(rhs, x0, y0, flat[order], rtol, atol, max_steps)
        result[order] = np.array(values)
    return result.reshape(xs.shape + y0.shape)


# --------------------------------------------------------------------------
# The element-wise curves, function-space decoupling, bounds, initial values
# --------------------------------------------------------------------------


def dyt_curve(x: ArrayLike, alpha: float, scale: float = 1.0) -> Array:
    """``scale * tanh(alpha x)``: DyT with weight ``scale`` and no bias."""
    return scale * np.tanh(alpha * np.asarray(x, dtype=np.float64))


def dyisru_curve(x: ArrayLike, beta: ArrayLike, scale: float = 1.0) -> Array:
    """``scale * x / sqrt(beta + x^2)``: DyISRU with weight ``scale`` and no bias.

    ``beta`` may be an array broadcasting against ``x`` (e.g. the exact
    per-channel ``beta_i`` of :func:`leave_one_out_beta`).
    """
    x = np.asarray(x, dtype=np.float64)
    return scale * x / np.sqrt(beta + x * x)


def leave_one_out_beta(x: ArrayLike) -> Array:
    """``beta_i = sum_{j != i} x_j^2`` over the last axis.

    Computed as a prefix sum plus a suffix sum of ``x_j^2`` (no subtraction
    ``||x||^2 - x_i^2``, which cancels when ``x_i`` dominates the row). With
    these ``beta_i``, ``sqrt(C) x_i / sqrt(beta_i + x_i^2)`` *is* RMSNorm.
    """
    x = _rows(x)
    squares = x * x
    zeros = np.zeros(x.shape[:-1] + (1,))
    # before_i = sum_{j < i} x_j^2 ;  after_i = sum_{j > i} x_j^2
    before = np.concatenate([zeros, np.cumsum(squares, axis=-1)[..., :-1]], axis=-1)
    suffix = np.flip(np.cumsum(np.flip(squares, axis=-1), axis=-1), axis=-1)
    after = np.concatenate([suffix[..., 1:], zeros], axis=-1)
    return before + after


def rms_norm_bound(channels: int) -> float:
    """``sqrt(C)``: bound of RMSNorm, and of DyT/DyISRU with weight ``sqrt(C)``.

    Reached by RMSNorm for a one-hot row ``x = t e_i``.
    """
    return float(np.sqrt(channels))


def layer_norm_bound(channels: int) -> float:
    """``sqrt(C - 1)``: bound of LayerNorm (population sigma).

    ``|y_i| <= sqrt(C - 1)`` with equality when all other channels are equal:
    one outlier in an otherwise flat row.
    """
    return float(np.sqrt(channels - 1))


def beta_from_alpha(alpha: float) -> float:
    """``beta0 = 1 / alpha0^2``: DyISRU's beta with the same slope at 0 as DyT's alpha.

    The slopes at 0 are ``scale * alpha`` (DyT) and ``scale / sqrt(beta)`` (DyISRU).
    """
    return 1.0 / (alpha * alpha)


def alpha_from_beta(beta: float) -> float:
    """``alpha0 = 1 / sqrt(beta0)``, the inverse of :func:`beta_from_alpha`."""
    return 1.0 / np.sqrt(beta)
