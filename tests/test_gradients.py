"""Every backward against finite differences, in float64.

``L = sum(layer(x) * R)`` for a fixed random ``R`` (so ``dy = R``), with the
fourth-order central differences of :mod:`dynorm.selfcheck` (step ``2^-10``
times the array's typical magnitude). Small shapes: every entry of ``dx`` and
of every parameter gradient, error ``max|a - b| / max|b|``. C = 768:
directional differences (the derivative of ``L(p + t v)``) against
``<grad, v>`` for a random ``v`` check a whole gradient at once, error
``|fd - <grad, v>| / ||grad||`` (``||grad||`` is the spread of ``<grad, v>``
for ``v ~ N(0, I)``). Required: <= 1e-7 relative; measured: a few 1e-9.

What finite differences can resolve: a gradient entry smaller than about
``1e-16 |L| / h`` is noise to them. Two kinds of input would push a whole
gradient below that floor, and are avoided on purpose, not by loosening:

* every entry saturated -- so outliers go to one entry of the array, not one
  per row (with C = 1 that would be every entry);
* LayerNorm with C <= 2 and RMSNorm with C = 1, whose outputs are ``+-w (+b)``
  up to eps: their gradient is O(eps / x^2) unless x is at the eps scale, so
  there x is drawn at that scale (``measurable_scale``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynorm as dn
from dynorm.selfcheck import (
    LAYERS,
    analytic_gradients,
    directional_difference,
    gradient_errors,
    loss,
    measurable_scale,
    randomize,
    run_selfcheck,
)

TOL = 1e-7

#: Every layer of the self-check (with bias), plus the bias-free variants.
FACTORIES: dict[str, Callable[[int, type], dn.Module]] = {
    **LAYERS,
    "LayerNorm nobias": lambda C, dtype: dn.LayerNorm(C, bias=False, dtype=dtype),
    "DyT nobias": lambda C, dtype: dn.DyT(C, bias=False, dtype=dtype),
    "DyISRU nobias": lambda C, dtype: dn.DyISRU(C, bias=False, dtype=dtype),
    "DyISRU softplus nobias": lambda C, dtype: dn.DyISRU(
        C, bias=False, softplus=True, dtype=dtype
    ),
}


def make_input(rng: np.random.Generator, layer: dn.Module, shape: tuple[int, ...],
               outlier: float, offset: float = 0.0) -> np.ndarray:
    """``offset + scale * N(0, 1)``, with ``outlier * scale`` added to one random entry."""
    scale = measurable_scale(layer)
    x = offset + scale * rng.standard_normal(shape)
    x.flat[rng.integers(x.size)] += outlier * scale
    return x


def test_selfcheck_all_ok(backend: str) -> None:
    for name, ok, err in run_selfcheck():
        assert ok, (name, err)


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("shape", [(5, 1), (4, 2), (3, 7), (2, 3, 5)], ids=str)
@settings(max_examples=12)
@given(seed=st.integers(0, 2**32 - 1), outlier=st.sampled_from([0.0, 12.0, -40.0, 1e3]))
def test_backward_matches_finite_differences(
    backend: str, name: str, shape: tuple[int, ...], seed: int, outlier: float
) -> None:
    rng = np.random.default_rng(seed)
    layer = FACTORIES[name](shape[-1], np.float64)
    randomize(layer, rng)
    x = make_input(rng, layer, shape, outlier)
    errors = gradient_errors(layer, x, rng.standard_normal(shape))
    assert max(errors.values()) <= TOL, errors


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("shape", [(3, 768), (2, 2, 768)], ids=str)
@settings(max_examples=6)
@given(seed=st.integers(0, 2**32 - 1), outlier=st.sampled_from([0.0, 30.0, 1e3]))
def test_backward_matches_directional_differences(
    backend: str, name: str, shape: tuple[int, ...], seed: int, outlier: float
) -> None:
    rng = np.random.default_rng(seed)
    layer = FACTORIES[name](shape[-1], np.float64)
    randomize(layer, rng)
    x = make_input(rng, layer, shape, outlier)
    R = rng.standard_normal(shape)
    grads = analytic_gradients(layer, x, R)
    f = loss(layer, x, R)
    for pname, p in {"x": x, **layer.params}.items():
        v = rng.standard_normal(p.shape)
        fd = directional_difference(f, p, v)
        g = grads[pname]
        err = abs(fd - float(np.sum(g * v))) / max(float(np.linalg.norm(g)), 1e-300)
        assert err <= TOL, (pname, err)


@pytest.mark.parametrize("name", ["LayerNorm", "LayerNorm nobias", "RMSNorm"])
def test_backward_with_large_mean(backend: str, name: str) -> None:
    """|mean| >> std: the two-pass statistics and the xh-form backward hold up."""
    rng = np.random.default_rng(7)
    layer = FACTORIES[name](9, np.float64)
    randomize(layer, rng)
    x = make_input(rng, layer, (4, 9), outlier=0.0, offset=50.0)
    errors = gradient_errors(layer, x, rng.standard_normal((4, 9)))
    assert max(errors.values()) <= TOL, errors


def test_softplus_chain_rule(backend: str) -> None:
    """d raw = d scalar * sigmoid(raw), against the plain layer at the same scalar."""
    rng = np.random.default_rng(3)
    x, R = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    for plain, gated, name in [
        (dn.DyT(6, alpha0=0.8, dtype=np.float64),
         dn.DyT(6, alpha0=0.8, softplus=True, dtype=np.float64), "alpha"),
        (dn.DyISRU(6, beta0=2.5, dtype=np.float64),
         dn.DyISRU(6, beta0=2.5, softplus=True, dtype=np.float64), "beta"),
    ]:
        g_plain = analytic_gradients(plain, x, R)[name]
        g_gated = analytic_gradients(gated, x, R)[name + "_raw"]
        raw = gated.params[name + "_raw"]
        np.testing.assert_allclose(g_gated, g_plain * dn.reference.sigmoid(raw), rtol=1e-13)
