"""The outlier experiment of docs/design.md §1: how LayerNorm treats an outlier.

One row of ``C`` Gaussian channels, ``x = sort(sigma * randn(C))`` from the
legacy NumPy seed. For ``k = 1..steps`` take a fresh copy, add ``shift * k``
to its largest element, apply LayerNorm (population sigma, no eps) and record
that element's input and output. Mirror the points through the origin. Then
fit, by least squares with the LayerNorm bound ``s = sqrt(C - 1)``,

    DyT     f(x) = s tanh(alpha x)
    DyISRU  f(x) = s x / sqrt(beta + x^2)

The published result (defaults): alpha = 0.0486, beta = 301.06, mean
absolute residual 0.328 (DyT) against 0.0048 (DyISRU), about 68x smaller:
DyISRU follows LayerNorm's outlier curve, DyT saturates too early.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .derivation import layer_norm, layer_norm_bound
from .lsq import IsruModel, TanhModel, fit_scalar

Array = NDArray[np.float64]

__all__ = ["PUBLISHED", "OutlierExperiment", "outlier_experiment", "outlier_rows"]

#: The published numbers, at the digits they were published with.
PUBLISHED: dict[str, float] = {
    "alpha": 0.0486,
    "beta": 301.06,
    "mean_abs_residual_dyt": 0.328,
    "mean_abs_residual_dyisru": 0.0048,
}


def _frozen(a: Array) -> Array:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class OutlierExperiment:
    """Result of :func:`outlier_experiment` (arrays are read-only).

    ``x``, ``y``: the ``2 * steps`` LayerNorm outlier points (input, output),
    mirrored through the origin and sorted by ``x``. ``alpha``, ``beta``: the
    fitted parameters. ``residual_dyt = s tanh(alpha x) - y`` and
    ``residual_dyisru = s x / sqrt(beta + x^2) - y`` at those points.
    ``rows``: the ``steps`` perturbed rows, ``rows_normalized`` their
    LayerNorm (the full picture behind the outlier points).
    """

    seed: int
    channels: int
    sigma: float
    steps: int
    shift: float
    x: Array
    y: Array
    alpha: float
    beta: float
    residual_dyt: Array
    residual_dyisru: Array
    mean_abs_residual_dyt: float
    mean_abs_residual_dyisru: float
    rows: Array
    rows_normalized: Array

    @property
    def scale(self) -> float:
        """The prefactor of both fits, LayerNorm's bound ``sqrt(C - 1)``."""
        return layer_norm_bound(self.channels)

    @property
    def ratio(self) -> float:
        """``mean|residual| DyT / mean|residual| DyISRU``."""
        return self.mean_abs_residual_dyt / self.mean_abs_residual_dyisru

    def dyt(self, x: NDArray[np.floating]) -> Array:
        """The fitted DyT curve ``sqrt(C-1) tanh(alpha x)``."""
        return TanhModel(self.scale).value(np.asarray(x, dtype=np.float64), self.alpha)

    def dyisru(self, x: NDArray[np.floating]) -> Array:
        """The fitted DyISRU curve ``sqrt(C-1) x / sqrt(beta + x^2)``."""
        return IsruModel(self.scale).value(np.asarray(x, dtype=np.float64), self.beta)

    def matches_published(self) -> bool:
        """True when all four numbers round to the published digits."""
        return (
            round(self.alpha, 4) == PUBLISHED["alpha"]
            and round(self.beta, 2) == PUBLISHED["beta"]
            and round(self.mean_abs_residual_dyt, 3) == PUBLISHED["mean_abs_residual_dyt"]
            and round(self.mean_abs_residual_dyisru, 4) == PUBLISHED["mean_abs_residual_dyisru"]
        )


def outlier_rows(
    seed: int = 1, channels: int = 100, sigma: float = 2.0, steps: int = 9, shift: float = 5.0
) -> tuple[Array, NDArray[np.intp]]:
    """The perturbed rows, shape ``(steps, channels)``, and the outlier's index in each.

    The base row is ``np.sort(sigma * randn(channels))`` from
    ``np.random.RandomState(seed)``: the same stream as the legacy
    ``np.random.seed(seed)`` of the published experiment, without touching
    the caller's global random state. Row ``k - 1`` is a fresh copy of the
    base row with ``shift * k`` added to its largest element.
    """
    if channels < 2:
        raise ValueError(f"channels must be at least 2, got {channels}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    base = np.sort(sigma * np.random.RandomState(seed).randn(channels))
    rows = np.empty((steps, channels))
    where = np.empty(steps, dtype=np.intp)
    for k in range(1, steps + 1):
        row = base.copy()
        i = int(np.argmax(row))
        row[i] += shift * k
        rows[k - 1] = row
        where[k - 1] = i
    return rows, where


def outlier_experiment(
    seed: int = 1, channels: int = 100, sigma: float = 2.0, steps: int = 9, shift: float = 5.0
) -> OutlierExperiment:
    """Run the outlier experiment of docs/design.md §1 (see the module docstring).

    The defaults reproduce the published alpha = 0.0486, beta = 301.06 and
    mean absolute residuals 0.328 (DyT) and 0.0048 (DyISRU).
    """
    rows, where = outlier_rows(seed, channels, sigma, steps, shift)
    normalized = layer_norm(rows)
    picked = np.arange(steps)
    x_out, y_out = rows[picked, where], normalized[picked, where]

    # Mirror through the origin: (x, y) -> (-x, -y); sort by x.
    x = np.concatenate([-x_out, x_out])
    y = np.concatenate([-y_out, y_out])
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]

    scale = layer_norm_bound(channels)
    tanh_model, isru_model = TanhModel(scale), IsruModel(scale)
    alpha = fit_scalar(tanh_model, x, y).param
    beta = fit_scalar(isru_model, x, y).param
    residual_dyt = tanh_model.value(x, alpha) - y
    residual_dyisru = isru_model.value(x, beta) - y
    return OutlierExperiment(
        seed=seed,
        channels=channels,
        sigma=float(sigma),
        steps=steps,
        shift=float(shift),
        x=_frozen(x),
        y=_frozen(y),
        alpha=alpha,
        beta=beta,
        residual_dyt=_frozen(residual_dyt),
        residual_dyisru=_frozen(residual_dyisru),
        mean_abs_residual_dyt=float(np.mean(np.abs(residual_dyt))),
        mean_abs_residual_dyisru=float(np.mean(np.abs(residual_dyisru))),
        rows=_frozen(rows),
        rows_normalized=_frozen(normalized),
    )
