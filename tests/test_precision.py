"""float32 against float64 on the same inputs and parameters.

The float64 run is the yardstick: the inputs and parameters are float32
values, so both runs compute the same function, and the float32 result may
only differ by its own rounding. Inputs are drawn at ``measurable_scale``
(the eps scale for LayerNorm with C <= 2 and RMSNorm with C = 1, whose dx is
otherwise O(eps) of its natural scale and, from float32 saved statistics, has
absolute accuracy only). Required: <= 1e-5 relative
(``max|a - b| / max|b|``) on y, dx and every parameter gradient.
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
    for pname in g64:
        assert g32[pname].dtype == np.float32
        assert rel_err(g32[pname], g64[pname]) <= TOL, pname
