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
from dynorm.layers import LAYERS as CLASSES
from dynorm.ops import OPS
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

def _nobias(cls: type[dn.Module], softplus: bool) -> Callable[[int, type], dn.Module]:
    kwargs = {"softplus": True} if softplus else {}
    return lambda C, dtype: cls(C, bias=False, dtype=dtype, **kwargs)


#: Every layer of the self-check (with bias), plus the bias-free variants of
#: every op with a bias (with softplus too where it has learnable scalars).
FACTORIES: dict[str, Callable[[int, type], dn.Module]] = {
    **LAYERS,
    **{f"{op.layer} nobias": _nobias(CLASSES[op.name], False) for op in OPS if op.bias},
    **{f"{op.layer} softplus nobias": _nobias(CLASSES[op.name], True)
       for op in OPS if op.bias and op.learnable},
}
#: The row normalizations (ops with saved statistics) and their variants.
NORMS = [name for name, f in FACTORIES.items() if f(2, np.float64).op.stats
         and "softplus" not in name]


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


@pytest.mark.parametrize("name", NORMS)
def test_backward_with_large_mean(backend: str, name: str) -> None:
    """|mean| >> std: the two-pass statistics and the xh-form backward hold up."""
    rng = np.random.default_rng(7)
    layer = FACTORIES[name](9, np.float64)
    randomize(layer, rng)
    x = make_input(rng, layer, (4, 9), outlier=0.0, offset=50.0)
    errors = gradient_errors(layer, x, rng.standard_normal((4, 9)))
    assert max(errors.values()) <= TOL, errors


@pytest.mark.parametrize("op", [op for op in OPS if op.learnable], ids=lambda op: op.name)
def test_softplus_chain_rule(backend: str, op) -> None:  # type: ignore[no-untyped-def]
    """d raw = d scalar * sigmoid(raw), against the plain layer at the same scalar."""
    rng = np.random.default_rng(3)
    x, R = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    initial = {s.name + "0": s.sample[0] + 0.4 * (s.sample[1] - s.sample[0])
               for s in op.learnable}
    plain = CLASSES[op.name](6, dtype=np.float64, **initial)
    gated = CLASSES[op.name](6, softplus=True, dtype=np.float64, **initial)
    g_plain = analytic_gradients(plain, x, R)
    g_gated = analytic_gradients(gated, x, R)
    for s in op.learnable:
        raw = gated.params[s.name + "_raw"]
        np.testing.assert_allclose(g_gated[s.name + "_raw"],
                                   g_plain[s.name] * dn.reference.sigmoid(raw), rtol=1e-13)
