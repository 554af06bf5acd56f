"""One-parameter nonlinear least squares, to machine precision, NumPy only.

Both fits of the theory have the form

    minimise  S(p) = sum_i (f(x_i; p) - y_i)^2    over p > 0

with ``f = s tanh(p x)`` (DyT, ``p = alpha``) or ``f = s x / sqrt(p + x^2)``
(DyISRU, ``p = beta``) and a fixed prefactor ``s``. The positive domain is
handled by optimising over ``t = log p``. With ``r_i = f_i - y_i`` and
``f_t``, ``f_tt`` the first two derivatives of ``f`` with respect to ``t``,

    S'(t)  = 2 sum r_i f_t,i
    S''(t) = 2 sum (f_t,i^2 + r_i f_tt,i)      (full Newton, not Gauss-Newton)

The method (:func:`minimize_scalar_lsq`):

1. *Bracket.* From a starting point ``t0`` walk downhill with doubling steps
   until ``S'`` changes sign: ``S'(lo) < 0 < S'(hi)`` encloses a minimum.
   Reaching the edge of the allowed domain first means the sum of squares
   has no minimum there: :class:`FitError`.
2. *Safeguarded Newton.* Take the Newton step ``-S'/S''``; if ``S'' <= 0``,
   if the step leaves the bracket, or if it does not at least halve compared
   with the step before last, bisect the bracket instead. Every evaluation
   shrinks the bracket by the sign of ``S'``. Stop when the step (a relative
   change of ``p``) is below ``~1e-15``, when ``S'`` is exactly 0, or when the
   bracket is a few ulps wide.

Sums over the data are taken in chunks, so arbitrarily large samples cost
bounded memory (see :class:`Samples`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

__all__ = [
    "ArraySamples",
    "FitError",
    "IsruModel",
    "Samples",
    "ScalarFit",
    "TanhModel",
    "fit_scalar",
    "minimize_scalar_lsq",
]

CHUNK = 1 << 16  # elements per chunk when summing over the data


class FitError(ValueError):
    """The least-squares fit has no answer: no data, non-finite data, no
    minimum in the allowed domain, a flat objective, or no convergence."""


@dataclass(frozen=True)
class ScalarFit:
    """Result of a one-parameter fit.

    ``param`` is the minimiser ``p``; ``ssr`` the sum of squared residuals
    there; ``gradient`` is ``dS/dlog(p)`` at ``param`` (rounding noise at a
    converged minimum); ``iterations`` counts Newton/bisection steps and
    ``evaluations`` passes over the data.
    """

    param: float
    ssr: float
    gradient: float
    iterations: int
    evaluations: int


class Samples(Protocol):
    """Data ``(x_i, y_i)`` offered in float64 chunks, so that sums over large
    samples never need one huge temporary."""

    def chunks(self) -> Iterator[tuple[Array, Array]]: ...


class ArraySamples:
    """Samples given as two arrays of equal size (flattened)."""

    def __init__(self, x: ArrayLike, y: ArrayLike) -> None:
        self.x = np.asarray(x, dtype=np.float64).ravel()
        self.y = np.asarray(y, dtype=np.float64).ravel()
        if self.x.size != self.y.size:
            raise FitError(f"x and y differ in size ({self.x.size} != {self.y.size})")

    def chunks(self) -> Iterator[tuple[Array, Array]]:
        for start in range(0, self.x.size, CHUNK):
            yield self.x[start : start + CHUNK], self.y[start : start + CHUNK]


class _Model(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def scale(self) -> float: ...

    def value(self, x: Array, p: float) -> Array: ...

    def log_derivatives(self, x: Array, p: float) -> tuple[Array, Array, Array]: ...

    def param_from_slope(self, slope: float) -> float: ...


@dataclass(frozen=True)
class TanhModel:
    """``f(x; alpha) = scale * tanh(alpha x)`` (DyT without bias).

    With ``z = alpha x``, ``t = log alpha`` and ``sech^2 z = 1 - tanh^2 z``:

        f_t  = scale * z sech^2 z
        f_tt = scale * z sech^2 z (1 - 2 z tanh z)

    ``tanh`` and ``sech^2`` come from one ``E = exp(-2|z|)``:
    ``tanh|z| = (1 - E)/(1 + E)``, ``sech^2 z = 4E/(1 + E)^2``, which keeps
    ``sech^2`` accurate (not ``1 - tanh^2``, which cancels) in the tails.
    """

    scale: float
    name: str = "alpha"

    def value(self, x: Array, p: float) -> Array:
        return self.scale * np.tanh(p * x)

    def log_derivatives(self, x: Array, p: float) -> tuple[Array, Array, Array]:
        z = p * x
        e = np.exp(-2.0 * np.abs(z))
        tanh = np.copysign((1.0 - e) / (1.0 + e), z)
        sech2 = 4.0 * e / ((1.0 + e) * (1.0 + e))
        f_t = self.scale * z * sech2
        f_tt = f_t * (1.0 - 2.0 * z * tanh)
        return self.scale * tanh, f_t, f_tt

    def param_from_slope(self, slope: float) -> float:
        """alpha with slope ``scale * alpha`` at 0."""
        return slope / self.scale


@dataclass(frozen=True)
class IsruModel:
    """``f(x; beta) = scale * x / sqrt(beta + x^2)`` (DyISRU without bias).

    With ``q = beta + x^2`` and ``t = log beta``:

        f_t  = -scale/2 * x beta q^(-3/2)
        f_tt = f_t * (1 - 3 beta / (2 q))
    """

    scale: float
    name: str = "beta"

    def value(self, x: Array, p: float) -> Array:
        return self.scale * x / np.sqrt(p + x * x)

    def log_derivatives(self, x: Array, p: float) -> tuple[Array, Array, Array]:
        q = p + x * x
        rsqrt_q = 1.0 / np.sqrt(q)
        f = self.scale * x * rsqrt_q
        f_t = -0.5 * f * (p / q)
        f_tt = f_t * (1.0 - 1.5 * p / q)
        return f, f_t, f_tt

    def param_from_slope(self, slope: float) -> float:
        """beta with slope ``scale / sqrt(beta)`` at 0 (``beta = 1/alpha^2``)."""
        return (self.scale / slope) ** 2


@dataclass(frozen=True)
class _Point:
    """``S``, ``S'``, ``S''`` at ``t = log p``."""

    t: float
    ssr: float
    grad: float
    hess: float


def _dot(a: Array, b: Array) -> float:
    """``sum(a * b)`` of two 1-D float64 arrays.

    ``einsum`` rather than ``np.dot``: the BLAS dot wakes a thread pool on
    every call, which made the chunked sums ~20x slower on a 2-core machine.
    """
    return float(np.einsum("i,i->", a, b))


def _evaluate(model: _Model, samples: Samples, t: float) -> _Point:
    p = math.exp(t)
    ssr = grad = hess = 0.0
    for x, y in samples.chunks():
        f, f_t, f_tt = model.log_derivatives(x, p)
        r = f - y
        ssr += _dot(r, r)
        grad += 2.0 * _dot(r, f_t)
        hess += 2.0 * (_dot(f_t, f_t) + _dot(r, f_tt))
    if not (math.isfinite(ssr) and math.isfinite(grad) and math.isfinite(hess)):
        raise FitError(f"non-finite sum of squares at {model.name} = {p:.17g}")
    return _Point(t, ssr, grad, hess)


def _check_data(samples: Samples) -> tuple[int, float, float]:
    """Count the samples, check they are finite; return (n, sum x*y, sum x*x)."""
    n = 0
    sum_xy = sum_xx = 0.0
    for x, y in samples.chunks():
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise FitError("the data contain NaN or Inf")
        n += x.size
        sum_xy += _dot(x, y)
        sum_xx += _dot(x, x)
    if n == 0:
        raise FitError("no data to fit")
    return n, sum_xy, sum_xx


def _initial_guess(model: _Model, n: int, sum_xy: float, sum_xx: float) -> float:
    """Match the slope at 0 to the least-squares line through the origin,
    ``y ~ slope * x``; if that slope is not positive, use ``1/rms(x)``."""
    if sum_xx == 0.0:
        raise FitError(f"all x are zero: {model.name} is not identifiable")
    slope = sum_xy / sum_xx
    if not slope > 0.0:
        slope = 1.0 / math.sqrt(sum_xx / n)
    return model.param_from_slope(slope)


def minimize_scalar_lsq(
    model: _Model,
    samples: Samples,
    p0: float | None = None,
    *,
    bounds: tuple[float, float] = (1e-150, 1e150),
    step_tol: float = 1e-15,
    max_iter: int = 200,
) -> ScalarFit:
    """Minimise ``S(p) = sum (model(x; p) - y)^2`` over ``p`` in ``bounds``.

    See the module docstring for the method. ``p0`` is the starting point
    (default: the slope-matching guess); ``step_tol`` the relative step in
    ``p`` at which to stop. Raises :class:`FitError` for empty or non-finite
    data, an objective without a minimum inside ``bounds`` (it keeps
    decreasing towards an edge, or is flat), or no convergence in
    ``max_iter`` steps.
    """
    n, sum_xy, sum_xx = _check_data(samples)
    if p0 is None:
        p0 = _initial_guess(model, n, sum_xy, sum_xx)
    lo_bound, hi_bound = bounds
    if not (0.0 < lo_bound < hi_bound < math.inf):
        raise FitError(f"invalid bounds {bounds}: need 0 < low < high < inf")
    if not (math.isfinite(p0) and lo_bound <= p0 <= hi_bound):
        raise FitError(f"starting {model.name} = {p0!r} is not inside {bounds}")
    t_min, t_max = math.log(lo_bound), math.log(hi_bound)
    evaluations = 0

    def evaluate(t: float) -> _Point:
        nonlocal evaluations
        evaluations += 1
        return _evaluate(model, samples, t)

    def done(point: _Point, iterations: int) -> ScalarFit:
        return ScalarFit(math.exp(point.t), point.ssr, point.grad, iterations, evaluations)

    def stationary(point: _Point) -> bool:
        """An exact zero of S': a minimum if S'' > 0, otherwise a plateau or maximum."""
        if point.grad != 0.0:
            return False
        if point.hess > 0.0:
            return True
        raise FitError(
            f"the sum of squares is flat at {model.name} = {math.exp(point.t):.6g}: "
            f"{model.name} is not identifiable from these data"
        )

    # 1. Bracket a sign change of S' by walking downhill with doubling steps.
    a = evaluate(math.log(p0))
    if stationary(a):
        return done(a, 0)
    direction = -1.0 if a.grad > 0 else 1.0
    step = 1.0
    while True:
        edge = t_max if direction > 0 else t_min
        where = "grows" if direction > 0 else "shrinks to 0"
        if a.t == edge:
            raise FitError(
                f"no minimum of the sum of squares for {model.name} in "
                f"[{lo_bound:g}, {hi_bound:g}]: it keeps decreasing as {model.name} {where}"
            )
        b = evaluate(min(t_max, a.t + step) if direction > 0 else max(t_min, a.t - step))
        if b.grad == 0.0 and b.hess <= 0.0:
            raise FitError(
                f"no minimum of the sum of squares: it keeps decreasing as {model.name} "
                f"{where}, until it is flat (the model saturates) at "
                f"{model.name} = {math.exp(b.t):.6g}"
            )
        if stationary(b):
            return done(b, 0)
        if (b.grad > 0) != (a.grad > 0):
            break
        a, step = b, 2.0 * step
    lo, hi = (a, b) if a.grad < 0 else (b, a)

    # 2. Newton inside the bracket, bisection when Newton misbehaves.
    current = lo if lo.ssr <= hi.ssr else hi
    step_before_last = step_last = hi.t - lo.t
    for iteration in range(1, max_iter + 1):
        newton_ok = current.hess > 0.0
        if newton_ok:
            t_new = current.t - current.grad / current.hess
            if t_new == current.t:  # the Newton step is below one ulp of t
                return done(current, iteration)
            newton_ok = (
                lo.t < t_new < hi.t and abs(t_new - current.t) <= 0.5 * abs(step_before_last)
            )
        if not newton_ok:
            t_new = 0.5 * (lo.t + hi.t)
            if t_new in (lo.t, hi.t):  # the bracket is one ulp wide
                return done(current, iteration)
        step_before_last, step_last = step_last, t_new - current.t
        point = evaluate(t_new)
        if stationary(point):
            return done(point, iteration)
        if point.grad < 0:
            lo = point
        else:
            hi = point
        current = point
        tol = step_tol + 2.0 * math.ulp(abs(point.t))
        if abs(step_last) <= tol or hi.t - lo.t <= tol:
            return done(current, iteration)
    raise FitError(f"{model.name} did not converge in {max_iter} iterations")


def fit_scalar(
    model: _Model,
    x: ArrayLike,
    y: ArrayLike,
    p0: float | None = None,
    *,
    bounds: tuple[float, float] = (1e-150, 1e150),
    step_tol: float = 1e-15,
    max_iter: int = 200,
) -> ScalarFit:
    """:func:`minimize_scalar_lsq` on two arrays ``x`` and ``y`` of equal size."""
    return minimize_scalar_lsq(
        model, ArraySamples(x, y), p0, bounds=bounds, step_tol=step_tol, max_iter=max_iter
    )
