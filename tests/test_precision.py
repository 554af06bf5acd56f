"""float32 against float64 on the same inputs and parameters.

The float64 run is the yardstick: the inputs and parameters are float32
values, so both runs compute the same function, and the float32 result may
only differ by its own rounding. Inputs are drawn at ``measurable_scale``
(the eps scale for LayerNorm with C <= 2 and RMSNorm with C = 1, whose dx is
otherwise O(eps) of its natural scale and, from float32 saved statistics, has
absolute accuracy only). Required: <= 1e-5 relative
(``max|a - b| / max|b|``) on y and dx, and on every parameter gradient with
the sum of its terms' magnitudes as the yardstick (``max|a - b| / max(|b|,
sum|terms|)``): a parameter gradient is a sum over rows whose terms cancel
(``dw = S(dy * u)`` with dy of either sign), and a float32 kernel computes
each term to float32 accuracy, so its error is bounded relative to
``sum|terms|``, not to the (possibly much smaller) sum itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynorm.selfcheck import LAYERS, analytic_gradients, measurable_scale, randomize, rel_err

TOL = 1e-5


def twin_layers(name: str, C: int, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """The layer in float32 and float64 with the same (float32) parameters."""
    l32, l64 = LAYERS[name](C, np.float32), LAYERS[name](C, np.float64)
    randomize(l32, rng)
    for pname, p in l32.params.items():
        l64.params[pname][...] = p
    return l32, l64


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("shape", [(16, 768), (4, 7), (2, 3, 5), (3, 1)], ids=str)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1), outlier=st.sampled_from([0.0, 25.0, 1e4]))
def test_float32_matches_float64(
    backend: str, name: str, shape: tuple[int, ...], seed: int, outlier: float
) -> None:
    rng = np.random.default_rng(seed)
    l32, l64 = twin_layers(name, shape[-1], rng)
    scale = measurable_scale(l64)
    x = (scale * rng.standard_normal(shape)).astype(np.float32)
    x.flat[rng.integers(x.size)] += np.float32(outlier * scale)
    R = rng.standard_normal(shape).astype(np.float32)

    y32, y64 = l32.forward(x), l64.forward(x.astype(np.float64))
    assert y32.dtype == np.float32
    assert rel_err(y32, y64) <= TOL

    g32 = analytic_gradients(l32, x, R)
    g64 = analytic_gradients(l64, x.astype(np.float64), R.astype(np.float64))
    assert g32["x"].dtype == np.float32
    assert rel_err(g32["x"], g64["x"]) <= TOL, "x"
    scales = term_magnitudes(l64, x.astype(np.float64), R.astype(np.float64))
    for pname in l64.grads:
        assert g32[pname].dtype == np.float32
        err = np.abs(g32[pname].astype(np.float64) - g64[pname]).max()
        assert err <= TOL * max(np.abs(g64[pname]).max(), scales[pname].max()), pname


def term_magnitudes(layer, x: np.ndarray, R: np.ndarray) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """For each parameter gradient, the sum of the magnitudes of its terms.

    weight: S(|dy| |aux|), where aux (xh, t or u) is the forward with unit
    weight and zero bias; bias: S(|dy|); the scalar (alpha, beta or their raw
    forms): its gradient for |dy|, |x| and |w|, whose terms g x s(x) (DyT) or
    g x k(x) (DyISRU; s and k are even in x) then all have one sign.
    """
    saved = {k: v.copy() for k, v in layer.params.items()}
    C = x.shape[-1]
    absR = np.abs(R).reshape(-1, C)
    out: dict[str, np.ndarray] = {}
    try:
        layer.params["weight"][...] = 1.0
        if "bias" in layer.params:
            layer.params["bias"][...] = 0.0
        out["weight"] = (absR * np.abs(layer.forward(x)).reshape(-1, C)).sum(0)
        if "bias" in layer.params:
            out["bias"] = absR.sum(0)
        scalars = [k for k, v in layer.params.items() if v.ndim == 0]
        if scalars:
            for k, v in saved.items():
                layer.params[k][...] = v
            layer.params["weight"][...] = np.abs(saved["weight"])
            layer.forward(np.abs(x))
            layer.backward(np.abs(R))
            for k in scalars:
                out[k] = np.abs(layer.grads[k])
    finally:
        for k, v in saved.items():
            layer.params[k][...] = v
    return out
