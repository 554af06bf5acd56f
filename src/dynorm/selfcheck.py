"""Self-check: every layer's forward and backward on the active backend.

For each layer of the op table (with bias; those with learnable scalars also
with ``softplus=True``), on a small
float64 input with an outlier and random parameters:

* forward against :mod:`dynorm.reference` (the specification);
* backward -- ``dx`` and every parameter gradient -- against fourth-order
  central finite differences of the scalar loss ``L = sum(layer(x) * R)``, ``R`` fixed and
  random (so ``dy = R``).

The error of an array is ``max|a - b| / max|b|``; a layer passes when its
worst error is at most :data:`TOLERANCE`. The finite-difference helpers are
public: the test-suite uses them too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import reference as ref
from .layers import LAYERS as _CLASSES
from .layers import Module
from .ops import OPS

F64 = NDArray[np.float64]

TOLERANCE = 1e-6

#: Relative finite-difference step: each array ``a`` is perturbed by
#: ``h = H * step_scale(a)`` (a power of two: ``a +- h`` is exact unless ``|a| > 2^52 h``). With the
#: fourth-order stencil the truncation error is ~ h^4 |f^(5)| / 30 ~ 1e-12, and
#: the rounding error ~ 1e-16 |L| / h ~ 1e-13 |L|. A second-order stencil would
#: need h ~ 1e-5 and leave ~ 1e-11 |L| of noise: too much for the scalar
#: gradients dalpha/dbeta, sums whose terms cancel to well below |L|.
H = 2.0**-10


def _factory(cls: type[Module], **kwargs: bool) -> Callable[[int, DTypeLike], Module]:
    return lambda C, dtype: cls(C, dtype=dtype, **kwargs)


#: The layers, by name: constructor ``(C, dtype) -> layer``, all with bias;
#: ``"<Layer> softplus"`` for every op with learnable scalars.
LAYERS: dict[str, Callable[[int, DTypeLike], Module]] = {
    op.layer: _factory(_CLASSES[op.name]) for op in OPS}
LAYERS.update({f"{op.layer} softplus": _factory(_CLASSES[op.name], softplus=True)
               for op in OPS if op.learnable})


def rel_err(a: NDArray[np.floating], b: NDArray[np.floating]) -> float:
    """``max|a - b| / max|b|`` (NaN anywhere gives NaN: a failure)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(b64))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a64 - b64))) / scale


def randomize(layer: Module, rng: np.random.Generator) -> None:
    """Set random parameters, in place: weight ~ 1 + 0.5 N, bias ~ 0.5 N, a
    learnable scalar uniform over its ``sample`` range in the op table (the
    effective value for softplus; e.g. alpha ~ U(0.3, 1.5), beta ~ U(0.5, 8))."""
    samples = {s.name: s.sample for s in layer.op.learnable}
    for name, p in layer.params.items():
        if name == "weight":
            p[...] = 1.0 + 0.5 * rng.standard_normal(p.shape)
        elif name == "bias":
            p[...] = 0.5 * rng.standard_normal(p.shape)
        else:
            v = rng.uniform(*samples[name.removesuffix("_raw")])
            p[...] = ref.softplus_inverse(v) if name.endswith("_raw") else v


def step_scale(a: NDArray[np.floating]) -> float:
    """The typical magnitude of ``a`` (its median ``|a|``, robust to outliers),
    rounded to a power of two; 1 for an all-zero array."""
    m = float(np.median(np.abs(a)))
    return 2.0 ** round(np.log2(m)) if m > 0.0 else 1.0


def _stencil(f_at: Callable[[float], float], h: float) -> float:
    """Fourth-order central difference of ``t -> f_at(t)`` at 0:
    ``(8 (f(h) - f(-h)) - (f(2h) - f(-2h))) / 12h`` (exact for quartics)."""
    return (8.0 * (f_at(h) - f_at(-h)) - (f_at(2.0 * h) - f_at(-2.0 * h))) / (12.0 * h)


def measurable_scale(layer: Module) -> float:
    """A scale for test inputs at which the layer's gradient is measurable.

    2 in general. A row normalization fixes one constraint on its row per
    saved statistic (LayerNorm: mean and variance; RMSNorm: mean square), so
    with no more channels than statistics (LayerNorm with C <= 2, RMSNorm
    with C = 1) it outputs ``+-w (+b)`` up to eps: its ``dx`` is O(eps / x^2)
    of its natural scale ``r |g|`` unless ``x`` is at the eps scale, where
    this returns ``2 sqrt(eps)``. Elsewhere that ``dx`` is below what finite
    differences resolve, and in float32 (saved ``rstd`` rounded to float32,
    ``1 - xh^2`` cancelling) it only has absolute accuracy, ~1e-7 ``r |g|``.
    """
    if layer.num_channels <= len(layer.op.stats):
        return 2.0 * float(np.sqrt(layer.eps))  # type: ignore[attr-defined]
    return 2.0


def central_difference(f: Callable[[], float], a: NDArray[np.floating], h: float = H) -> F64:
    """``dL/da``, entry by entry, with step ``h * step_scale(a)``.

    ``a`` is perturbed in place (and restored); ``f`` reads it.
    """
    h = h * step_scale(a)
    grad = np.empty(a.shape)
    for i in np.ndindex(a.shape):
        a_i = a[i]

        def f_at(t: float, i: tuple[int, ...] = i, a_i: Any = a_i) -> float:
            a[i] = a_i + t
            return f()

        grad[i] = _stencil(f_at, h)
        a[i] = a_i
    return grad


def directional_difference(
    f: Callable[[], float], a: NDArray[np.floating], v: NDArray[np.floating], h: float = H
) -> float:
    """``<dL/da, v>``: the derivative of ``L(a + t v)`` at ``t = 0``, all of ``a``
    at once, with step ``h * step_scale(a)``.

    ``a`` is perturbed in place (and restored); ``f`` reads it.
    """
    a0 = a.copy()

    def f_at(t: float) -> float:
        a[...] = a0 + t * v
        return f()

    d = _stencil(f_at, h * step_scale(a0))
    a[...] = a0
    return d


def loss(layer: Module, x: NDArray[np.floating], R: NDArray[np.floating]) -> Callable[[], float]:
    """``L = sum(layer(x) * R)`` as a function of the current ``x`` and params."""
    return lambda: float(np.sum(layer.forward(x) * R))


def analytic_gradients(
    layer: Module, x: NDArray[np.floating], R: NDArray[np.floating]
) -> dict[str, NDArray[np.floating]]:
    """``{"x": dx, **grads}`` of ``L = sum(layer(x) * R)`` from the layer's backward."""
    layer.forward(x)
    dx = layer.backward(R)
    return {"x": dx, **{name: g.copy() for name, g in layer.grads.items()}}


def gradient_errors(
    layer: Module, x: NDArray[np.floating], R: NDArray[np.floating], h: float = H
) -> dict[str, float]:
    """Relative error of ``dx`` and every parameter gradient against central
    differences, entry by entry (``x`` is perturbed in place and restored)."""
    grads = analytic_gradients(layer, x, R)
    f = loss(layer, x, R)
    arrays = {"x": x, **layer.params}
    return {name: rel_err(grads[name], central_difference(f, arrays[name], h)) for name in grads}


def reference_forward(layer: Module, x: NDArray[np.floating]) -> NDArray[np.floating]:
    """The layer's forward, computed by the reference of its op (the table's)."""
    w, b = layer.params["weight"], layer.params.get("bias")
    return layer.op.forward(x, w, b, *layer._scalars())[0]


def check_layer(name: str, seed: int = 0, shape: tuple[int, int] = (3, 37)) -> float:
    """The worst relative error of layer ``name``: forward vs reference, backward vs FD.

    37 channels: full vectors and a tail for every vector width (4 to 16)."""
    rng = np.random.default_rng(seed)
    layer = LAYERS[name](shape[-1], np.float64)
    randomize(layer, rng)
    x = 2.0 * rng.standard_normal(shape)
    x[shape[0] // 2, shape[1] // 2] = 8.0  # an outlier
    R = rng.standard_normal(shape)
    errors = [rel_err(layer.forward(x), reference_forward(layer, x))]
    errors += gradient_errors(layer, x, R).values()
    return max(errors, key=lambda e: np.inf if np.isnan(e) else e)


def run_selfcheck(seed: int = 0) -> list[tuple[str, bool, float]]:
    """``(name, ok, max_rel_err)`` for every layer, on the active backend."""
    results = []
    for name in LAYERS:
        err = check_layer(name, seed)
        results.append((name, bool(err <= TOLERANCE), err))
    return results
