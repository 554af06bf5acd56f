"""Calibration on real activations: which element-wise layer replaces this norm?

:func:`fit` takes activations ``x`` of shape ``(..., C)``, computes the
target normalization of every row (no affine parameters),

    layer_norm  y = (x - mu) / sigma          (population sigma), bound s = sqrt(C - 1)
    rms_norm    y = x / sqrt(mean(x^2))       = sqrt(C) x / ||x||, bound s = sqrt(C)

and fits, by least squares over *all* elements,

    DyT     y ~ s tanh(alpha x)
    DyISRU  y ~ s x / sqrt(beta + x^2)

It reports both parameters and the residuals: mean and max ``|residual|``
over all elements and over the outlier tail, the elements whose ``|x|`` is at
or above the 99th percentile of ``|x|``.

To replace a LayerNorm with weight ``w`` and bias ``b`` by DyT, start from
``alpha`` and use weight ``s * w`` and bias ``b`` (likewise for DyISRU with
``beta``): the fit is of the normalized, pre-affine output.

``eps`` defaults to 0, the exact normalization of the theory; pass the eps of
the network's own layer to calibrate against exactly what it computes (it
matters only for rows of tiny variance). Sums run over chunks of rows in
float64, so memory stays near the size of the input plus a few MiB; a float32
input is never copied whole into float64.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .derivation import layer_norm_bound, rms_norm_bound
from .lsq import CHUNK, IsruModel, ScalarFit, TanhModel, minimize_scalar_lsq

Array = NDArray[np.float64]

__all__ = ["TARGETS", "Calibration", "NormalizedRows", "ResidualStats", "fit"]

TARGETS = ("layer_norm", "rms_norm")
TAIL_PERCENTILE = 99.0


class NormalizedRows:
    """Samples ``(x, y)`` with ``y`` the row-wise normalization of ``x``.

    Stores the input (2-D view, any float dtype) and two float64 numbers per
    row, ``shift`` (the mean for LayerNorm, 0 for RMSNorm) and ``rstd``; each
    chunk is ``y = (x - shift) * rstd`` in float64, recomputed on the fly.
    """

    def __init__(self, x2d: NDArray[np.floating], target: str, eps: float) -> None:
        self.x2d = x2d
        rows, channels = x2d.shape
        self.rows_per_chunk = max(1, CHUNK // channels)
        self.shift = np.zeros(rows)
        self.rstd = np.empty(rows)
        for start, block in self._blocks():
            stop = start + block.shape[0]
            if target == "layer_norm":
                mean = block.mean(axis=1)
                centred = block - mean[:, None]
                variance = np.einsum("ij,ij->i", centred, centred) / channels
                self.shift[start:stop] = mean
            else:
                variance = np.einsum("ij,ij->i", block, block) / channels
            denominator = variance + eps
            if not np.all(denominator > 0.0):
                row = start + int(np.flatnonzero(~(denominator > 0.0))[0])
                what = "constant" if target == "layer_norm" else "all zero"
                raise ValueError(
                    f"row {row} is {what}: {target} is undefined there with eps = 0; pass eps > 0"
                )
            self.rstd[start:stop] = 1.0 / np.sqrt(denominator)

    def _blocks(self) -> Iterator[tuple[int, Array]]:
        for start in range(0, self.x2d.shape[0], self.rows_per_chunk):
            block = self.x2d[start : start + self.rows_per_chunk]
            yield start, np.asarray(block, dtype=np.float64)

    def chunks(self) -> Iterator[tuple[Array, Array]]:
        for start, block in self._blocks():
            stop = start + block.shape[0]
            y = (block - self.shift[start:stop, None]) * self.rstd[start:stop, None]
            yield block.ravel(), y.ravel()


@dataclass(frozen=True)
class ResidualStats:
    """``|f(x) - y|`` over all elements (mean, max) and over the tail ``|x| >= threshold``."""

    mean_abs: float
    max_abs: float
    tail_mean_abs: float
    tail_max_abs: float


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`fit`. ``str(result)`` (or :meth:`report`) reads as a report."""

    target: str
    shape: tuple[int, ...]
    dtype: str
    eps: float
    scale: float
    alpha: float
    beta: float
    dyt: ResidualStats
    dyisru: ResidualStats
    tail_threshold: float
    tail_count: int
    alpha_fit: ScalarFit
    beta_fit: ScalarFit

    @property
    def channels(self) -> int:
        return self.shape[-1]

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape))

    @property
    def better(self) -> str:
        """``"DyISRU"`` or ``"DyT"``: the smaller mean |residual| (ties go to DyT, the cheaper)."""
        return "DyISRU" if self.dyisru.mean_abs < self.dyt.mean_abs else "DyT"

    @property
    def factor(self) -> float:
        """How many times smaller the better layer's mean |residual| is."""
        worse, better = sorted((self.dyt.mean_abs, self.dyisru.mean_abs), reverse=True)
        return worse / better if better > 0 else float("inf")

    @property
    def tail_better(self) -> str:
        """The better layer on the tail (smaller tail mean |residual|)."""
        return "DyISRU" if self.dyisru.tail_mean_abs < self.dyt.tail_mean_abs else "DyT"

    @property
    def tail_factor(self) -> float:
        """How many times smaller the tail winner's tail mean |residual| is."""
        worse, better = sorted((self.dyt.tail_mean_abs, self.dyisru.tail_mean_abs), reverse=True)
        return worse / better if better > 0 else float("inf")

    def report(self) -> str:
        bound = "sqrt(C-1)" if self.target == "layer_norm" else "sqrt(C)"
        shape = " x ".join(str(n) for n in self.shape)
        table = [
            ("", "DyT s*tanh(alpha x)", "DyISRU s*x/sqrt(beta+x^2)"),
            ("parameter", f"alpha = {self.alpha:.6g}", f"beta = {self.beta:.6g}"),
            ("mean |residual|", f"{self.dyt.mean_abs:.4g}", f"{self.dyisru.mean_abs:.4g}"),
            ("max |residual|", f"{self.dyt.max_abs:.4g}", f"{self.dyisru.max_abs:.4g}"),
            ("tail mean |residual|", f"{self.dyt.tail_mean_abs:.4g}",
             f"{self.dyisru.tail_mean_abs:.4g}"),
            ("tail max |residual|", f"{self.dyt.tail_max_abs:.4g}",
             f"{self.dyisru.tail_max_abs:.4g}"),
        ]
        replacement = (
            f"alpha = {self.alpha:.6g}" if self.better == "DyT" else f"beta = {self.beta:.6g}"
        )
        lines = [
            f"Fit of DyT and DyISRU to {self.target} (no affine, eps = {self.eps:g})",
            (
                f"  activations {shape} {self.dtype}: {self.elements:,} elements, "
                f"C = {self.channels}, s = {bound} = {self.scale:.6g}"
            ),
            "",
            *(f"  {label:24}{dyt:>24}{isru:>28}" for label, dyt, isru in table),
            (
                f"  (tail: the {self.tail_count:,} elements with |x| >= "
                f"{self.tail_threshold:.4g}, the {TAIL_PERCENTILE:g}th percentile of |x|)"
            ),
            "",
            self._verdict(),
            (
                f"  To replace {self.target} by {self.better}: {replacement}, "
                f"weight = {self.scale:.6g} * its weight, same bias."
            ),
        ]
        return "\n".join(lines)

    def _verdict(self) -> str:
        tail = f"on the tail {self.tail_better} is better, by {self.tail_factor:.3g}x."
        if self.factor < 1.01:
            return (f"  DyT and DyISRU fit about equally well (mean |residual| within 1%); "
                    f"{tail}")
        return f"  {self.better} fits better: mean |residual| {self.factor:.3g}x smaller; {tail}"

    def __str__(self) -> str:
        return self.report()


def _residual_stats(
    samples: NormalizedRows, models: list[tuple[TanhModel | IsruModel, float]], threshold: float
) -> tuple[list[ResidualStats], int]:
    n = len(models)
    total, largest = np.zeros(n), np.zeros(n)
    tail_total, tail_largest = np.zeros(n), np.zeros(n)
    count = tail_count = 0
    for x, y in samples.chunks():
        tail = np.abs(x) >= threshold
        count += x.size
        tail_count += int(np.count_nonzero(tail))
        for k, (model, param) in enumerate(models):
            r = np.abs(model.value(x, param) - y)
            total[k] += r.sum()
            largest[k] = max(largest[k], r.max())
            if tail.any():
                tail_total[k] += r[tail].sum()
                tail_largest[k] = max(tail_largest[k], r[tail].max())
    stats = [
        ResidualStats(
            mean_abs=float(total[k] / count),
            max_abs=float(largest[k]),
            tail_mean_abs=float(tail_total[k] / tail_count),
            tail_max_abs=float(tail_largest[k]),
        )
        for k in range(n)
    ]
    return stats, tail_count


def fit(x: ArrayLike, target: str = "layer_norm", *, eps: float = 0.0) -> Calibration:
    """Fit DyT's alpha and DyISRU's beta to the ``target`` normalization of ``x``.

    ``x``: float activations of shape ``(..., C)`` with at least one leading
    axis (rows are tokens, the last axis the ``C`` channels); ``C >= 2``.
    ``target``: ``"layer_norm"`` (prefactor ``sqrt(C-1)``) or ``"rms_norm"``
    (prefactor ``sqrt(C)``). ``eps``: added to the variance (default 0).

    Raises ``TypeError`` for a non-float array, ``ValueError`` for a bad
    shape, non-finite values, an unknown target or a row the target cannot
    normalize, and :class:`~dynorm.theory.FitError` if a fit has no minimum.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if not (np.isfinite(eps) and eps >= 0.0):
        raise ValueError(f"eps must be finite and >= 0, got {eps!r}")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"activations must be a float array, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(
            f"activations must have shape (..., C) with at least 2 axes, got shape {x.shape}"
        )
    if x.size == 0:
        raise ValueError(f"activations are empty (shape {x.shape})")
    channels = x.shape[-1]
    if channels < 2:
        raise ValueError(f"need at least 2 channels, got C = {channels}")
    x2d = x.reshape(-1, channels)
    for start in range(0, x2d.shape[0], max(1, CHUNK // channels)):
        if not np.all(np.isfinite(x2d[start : start + max(1, CHUNK // channels)])):
            raise ValueError("activations contain NaN or Inf")

    samples = NormalizedRows(x2d, target, float(eps))
    scale = layer_norm_bound(channels) if target == "layer_norm" else rms_norm_bound(channels)
    tanh_model, isru_model = TanhModel(scale), IsruModel(scale)
    alpha_fit = minimize_scalar_lsq(tanh_model, samples)
    beta_fit = minimize_scalar_lsq(isru_model, samples)

    magnitudes = np.abs(x2d).ravel()  # one copy in the input dtype, partitioned in place
    threshold = float(np.percentile(magnitudes, TAIL_PERCENTILE, overwrite_input=True))
    del magnitudes
    (dyt_stats, isru_stats), tail_count = _residual_stats(
        samples, [(tanh_model, alpha_fit.param), (isru_model, beta_fit.param)], threshold
    )
    return Calibration(
        target=target,
        shape=tuple(x.shape),
        dtype=str(x.dtype),
        eps=float(eps),
        scale=scale,
        alpha=alpha_fit.param,
        beta=beta_fit.param,
        dyt=dyt_stats,
        dyisru=isru_stats,
        tail_threshold=threshold,
        tail_count=tail_count,
        alpha_fit=alpha_fit,
        beta_fit=beta_fit,
    )
