"""The identities that carry the science (docs/design.md §1)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import dynorm as dn

rows_of = st.integers(1, 4)
channels = st.integers(2, 24)
finite = st.floats(-100.0, 100.0, allow_nan=False, width=64)


def random_rows(seed: int, shape: tuple[int, int]) -> np.ndarray:
    return 3.0 * np.random.default_rng(seed).standard_normal(shape)


@settings(max_examples=40)
@given(x=arrays(np.float64, st.tuples(rows_of, channels), elements=finite))
def test_dyisru_with_beta_of_the_other_channels_is_rmsnorm(backend: str, x: np.ndarray) -> None:
    """With beta_i = sum_{j != i} x_j^2, sqrt(C) x_i / sqrt(beta_i + x_i^2) is
    RMSNorm without eps and affine: exactly, up to rounding."""
    sq = x * x
    if np.any(sq.sum(axis=-1) < 1e-300):
        return  # an all-zero row: 0/0 in both
    C = x.shape[-1]
    sqrtC = np.array([np.sqrt(C)])
    y = np.empty_like(x)
    for r, i in np.ndindex(x.shape):
        beta_i = np.delete(sq[r], i).sum()  # sum over the other channels, no cancellation
        y[r, i] = dn.dyisru(x[r, i : i + 1], beta_i, weight=sqrtC, eps=0.0)[0]
    np.testing.assert_allclose(y, dn.rms_norm(x, eps=0.0), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("C", [1, 2, 7, 768])
def test_rmsnorm_jacobian(backend: str, C: int) -> None:
    """dy_i/dx_j = sqrt(C)/||x|| (delta_ij - x_i x_j / ||x||^2); its diagonal is
    sqrt(C)/||x|| (1 - y_i^2 / C): the starting point of DyT's derivation."""
    x = random_rows(C, (1, C))[0]
    layer = dn.RMSNorm(C, eps=0.0, dtype=np.float64)
    X = np.tile(x, (C, 1))  # row j of the Jacobian from dy = e_j
    y = layer.forward(X)[0]
    J = layer.backward(np.eye(C))  # J[j, i] = dy_j / dx_i (symmetric)
    norm = np.linalg.norm(x)
    a = np.sqrt(C) / norm
    tol = {"rtol": 1e-12, "atol": 1e-14 * a}
    np.testing.assert_allclose(J, a * (np.eye(C) - np.outer(x, x) / norm**2), **tol)
    np.testing.assert_allclose(np.diag(J), a * (1.0 - y**2 / C), **tol)


def outlier_rows(C: int, seed: int) -> np.ndarray:
    """Random rows, the last with one huge outlier: where the bounds are approached."""
    x = random_rows(seed, (5, C))
    x[-1, C // 2] = 1e6
    return x


@pytest.mark.parametrize("C", [2, 3, 7, 100, 768])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bounds_and_their_tightness(backend: str, C: int, dtype: type) -> None:
    """|y| <= sqrt(C) for RMSNorm, DyT and DyISRU in the paper's form
    (w = sqrt(C), no eps); |y| <= sqrt(C - 1) for LayerNorm. An outlier comes
    within rounding of the bound."""
    x = outlier_rows(C, seed=C).astype(dtype)
    sqrtC = np.full(C, np.sqrt(C), dtype)
    cases = {
        "RMSNorm": (dn.rms_norm(x, eps=0.0), np.sqrt(C)),
        "DyT": (dn.dyt(x, 0.5, weight=sqrtC), np.sqrt(C)),
        "DyISRU": (dn.dyisru(x, 4.0, weight=sqrtC, eps=0.0), np.sqrt(C)),
        "LayerNorm": (dn.layer_norm(x, eps=0.0), np.sqrt(C - 1)),
    }
    rounding = 4 * np.finfo(dtype).eps
    for name, (y, bound) in cases.items():
        peak = np.max(np.abs(y.astype(np.float64)))
        assert peak <= bound * (1 + rounding), name
        assert peak >= bound * (1 - 1e-5), name  # tight: the outlier reaches it


def test_layernorm_bound_is_attained() -> None:
    """One value against C - 1 equal ones reaches sqrt(C - 1) exactly."""
    for C in [2, 5, 100]:
        x = np.zeros(C)
        x[0] = 1.0
        np.testing.assert_allclose(dn.layer_norm(x, eps=0.0)[0], np.sqrt(C - 1), rtol=1e-15)


def test_slopes_at_zero_match_with_beta_one_over_alpha_squared() -> None:
    """sqrt(C) alpha = sqrt(C)/sqrt(beta) at 0 when beta = 1/alpha^2 (defaults 0.5 and 4)."""
    h = 1e-7
    x = np.array([-h, h])
    slope_dyt = np.diff(dn.dyt(x, 0.5))[0] / (2 * h)
    slope_dyisru = np.diff(dn.dyisru(x, 1 / 0.5**2, eps=0.0))[0] / (2 * h)
    assert dn.DyISRU(4).beta == 1 / dn.DyT(4).alpha ** 2
    np.testing.assert_allclose(slope_dyt, slope_dyisru, rtol=1e-9)
