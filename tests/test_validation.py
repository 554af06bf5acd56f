"""Every bad input raises the documented exception, with a message that names
the problem and the accepted values (DESIGN.md section 6, issue 3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dynorm as dn

C = 7
X = np.random.default_rng(0).standard_normal((3, C))
W = np.ones(C)

#: Every functional forward with its required scalar.
FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "layer_norm": lambda x, **kw: dn.layer_norm(x, **kw),
    "rms_norm": lambda x, **kw: dn.rms_norm(x, **kw),
    "dyt": lambda x, **kw: dn.dyt(x, 0.5, **kw),
    "dyisru": lambda x, **kw: dn.dyisru(x, 4.0, **kw),
}
WITH_BIAS = ["layer_norm", "dyt", "dyisru"]
WITH_EPS = ["layer_norm", "rms_norm", "dyisru"]

LAYER_TYPES: dict[str, Callable[..., dn.Module]] = {
    "LayerNorm": dn.LayerNorm,
    "RMSNorm": dn.RMSNorm,
    "DyT": dn.DyT,
    "DyISRU": dn.DyISRU,
}

BAD_DTYPES = [np.int32, np.int64, np.uint8, np.float16, np.complex64, np.complex128, object, bool]


# ------------------------------------------------------------------ dtype


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_bad_dtype_is_a_type_error(fn: str, dtype: Any) -> None:
    x = np.ones((2, C), dtype=dtype)
    with pytest.raises(TypeError, match=rf"{np.dtype(dtype)}.*float32 or float64"):
        FUNCTIONS[fn](x)


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layer", LAYER_TYPES)
def test_bad_dtype_for_layers(layer: str, dtype: Any) -> None:
    with pytest.raises(TypeError, match="float32 or float64"):
        LAYER_TYPES[layer](C, dtype=dtype)
    with pytest.raises(TypeError, match="float32 or float64"):
        LAYER_TYPES[layer](C, dtype=np.float64).forward(np.ones((2, C), dtype=dtype))


def test_non_native_byte_order_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="non-native byte order"):
        dn.rms_norm(X.astype(">f8" if np.little_endian else "<f8"))


def test_python_lists_of_ints_are_not_cast() -> None:
    with pytest.raises(TypeError, match="int64.*float32 or float64"):
        dn.layer_norm([[1, 2, 3]])


@pytest.mark.parametrize("fn", WITH_BIAS)
@pytest.mark.parametrize("param", ["weight", "bias"])
def test_parameter_dtype_must_match(fn: str, param: str) -> None:
    with pytest.raises(TypeError, match=rf"{param} has dtype float32, but x has dtype float64"):
        FUNCTIONS[fn](X, **{param: W.astype(np.float32)})


def test_layer_fed_another_dtype() -> None:
    with pytest.raises(TypeError, match="dtype float64.*dtype=float64"):
        dn.LayerNorm(C).forward(X)  # a float32 layer


# ------------------------------------------------------------------ shape


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_zero_d_input(fn: str) -> None:
    with pytest.raises(ValueError, match="0-d"):
        FUNCTIONS[fn](np.float64(1.0))
    with pytest.raises(ValueError, match="0-d"):
        FUNCTIONS[fn](np.array(1.0))


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_zero_channels(fn: str) -> None:
    with pytest.raises(ValueError, match=r"C = 0"):
        FUNCTIONS[fn](np.ones((3, 0)))


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("shape", [(C + 1,), (1, C), (C, 1), ()], ids=str)
def test_weight_shape(fn: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=rf"weight has shape .*must have shape \({C},\)"):
        FUNCTIONS[fn](X, weight=np.ones(shape))


@pytest.mark.parametrize("fn", WITH_BIAS)
def test_bias_shape(fn: str) -> None:
    with pytest.raises(ValueError, match=rf"bias has shape \({C - 1},\).*\({C},\)"):
        FUNCTIONS[fn](X, bias=np.zeros(C - 1))


@pytest.mark.parametrize("layer", LAYER_TYPES)
def test_layer_fed_another_C(layer: str) -> None:
    m = LAYER_TYPES[layer](C, dtype=np.float64)
    with pytest.raises(ValueError, match=rf"5 channels.*built for C = {C}"):
        m.forward(np.ones((2, 5)))


@pytest.mark.parametrize("layer", LAYER_TYPES)
@pytest.mark.parametrize("with_out", [False, True])
def test_layer_names_a_wrong_x_before_out(layer: str, with_out: bool) -> None:
    """x of the wrong dtype or C is reported as such, also when out matches
    the layer rather than x (the fast path takes neither)."""
    m = LAYER_TYPES[layer](C, dtype=np.float32)
    out = np.empty((3, C), np.float32) if with_out else None
    with pytest.raises(TypeError, match="got x of dtype float64; the layer's parameters are float32"):
        m.forward(X, out=out)
    out = np.empty((3, C + 1), np.float32) if with_out else None
    with pytest.raises(ValueError, match=rf"{C + 1} channels.*built for C = {C}"):
        m.forward(np.ones((3, C + 1), np.float32), out=out)


@pytest.mark.parametrize("layer", LAYER_TYPES)
@pytest.mark.parametrize("bad", [0, -3])
def test_layer_with_C_below_one(layer: str, bad: int) -> None:
    with pytest.raises(ValueError, match=r"must be >= 1"):
        LAYER_TYPES[layer](bad)


@pytest.mark.parametrize("bad", [7.0, "7", None, True])
def test_layer_with_non_integer_C(bad: Any) -> None:
    with pytest.raises(TypeError, match="must be an integer"):
        dn.RMSNorm(bad)


@pytest.mark.parametrize("layer", LAYER_TYPES)
def test_dy_shape_and_dtype(layer: str) -> None:
    m = LAYER_TYPES[layer](C, dtype=np.float64)
    m.forward(X)
    with pytest.raises(ValueError, match=r"dy has shape \(2, 7\), but x has shape \(3, 7\)"):
        m.backward(np.ones((2, C)))
    with pytest.raises(ValueError, match=r"dy has shape \(21,\)"):
        m.backward(np.ones(3 * C))
    with pytest.raises(TypeError, match="dy has dtype float32, but x has dtype float64"):
        m.backward(np.ones((3, C), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        m.backward(np.ones((3, C), np.int64))


def test_mutated_parameter_of_wrong_shape_is_caught() -> None:
    m = dn.DyT(C, dtype=np.float64)
    m.params["weight"] = np.ones(C + 1)
    with pytest.raises(ValueError, match="weight has shape"):
        m.forward(X)


# ---------------------------------------------------------------- scalars


@pytest.mark.parametrize("fn", WITH_EPS)
@pytest.mark.parametrize("eps", [-1e-5, np.nan, np.inf, -np.inf])
def test_bad_eps(fn: str, eps: float) -> None:
    with pytest.raises(ValueError, match="eps must be finite and >= 0"):
        FUNCTIONS[fn](X, eps=eps)


@pytest.mark.parametrize("layer", ["LayerNorm", "RMSNorm", "DyISRU"])
@pytest.mark.parametrize("eps", [-1.0, np.nan, np.inf])
def test_layer_bad_eps(layer: str, eps: float) -> None:
    with pytest.raises(ValueError, match="eps must be finite and >= 0"):
        LAYER_TYPES[layer](C, eps=eps)


@pytest.mark.parametrize("alpha", [np.nan, np.inf, -np.inf])
def test_bad_alpha(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha must be finite"):
        dn.dyt(X, alpha)
    with pytest.raises(ValueError, match="alpha must be finite"):
        dn.DyT(C, alpha0=alpha)
    m = dn.DyT(C, dtype=np.float64)
    m.params["alpha"][...] = alpha  # e.g. a diverged optimizer step
    with pytest.raises(ValueError, match="alpha must be finite"):
        m.forward(X)


@pytest.mark.parametrize("beta", [-1.0, -1e-300, np.nan, np.inf, -np.inf])
def test_bad_beta(beta: float) -> None:
    with pytest.raises(ValueError, match=r"beta must be finite and >= 0.*softplus=True"):
        dn.dyisru(X, beta)
    with pytest.raises(ValueError, match=r"beta must be finite and >= 0.*softplus=True"):
        dn.DyISRU(C, beta0=beta)
    m = dn.DyISRU(C, dtype=np.float64)
    m.params["beta"][...] = beta
    with pytest.raises(ValueError, match=r"DyISRU\(softplus=True\) keeps beta positive"):
        m.forward(X)


@pytest.mark.parametrize("bad", [np.array([0.5]), np.array([0.5, 1.0]), 1j, "0.5", None])
def test_scalar_that_is_not_a_real_scalar(bad: Any) -> None:
    with pytest.raises(TypeError, match="alpha must be a real scalar"):
        dn.dyt(X, bad)


def test_softplus_needs_a_positive_initial_value() -> None:
    with pytest.raises(ValueError, match=r"alpha0 must be > 0 with softplus=True"):
        dn.DyT(C, alpha0=-0.5, softplus=True)
    with pytest.raises(ValueError, match=r"beta0 must be > 0 with softplus=True"):
        dn.DyISRU(C, beta0=0.0, softplus=True)


# ------------------------------------------------------------ state, out=


@pytest.mark.parametrize("layer", LAYER_TYPES)
def test_backward_before_forward(layer: str) -> None:
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        LAYER_TYPES[layer](C).backward(np.ones((2, C), np.float32))


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_bad_out(fn: str) -> None:
    f = FUNCTIONS[fn]
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        f(X, out=X.tolist())
    with pytest.raises(TypeError, match="out has dtype float32; the result has dtype float64"):
        f(X, out=np.empty(X.shape, np.float32))
    with pytest.raises(ValueError, match=r"out has shape \(7, 3\); the result has shape \(3, 7\)"):
        f(X, out=np.empty((C, 3)))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        f(X, out=np.empty(X.shape, order="F"))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        f(X, out=np.empty((3, 2 * C))[:, ::2])
    read_only = np.empty(X.shape)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        f(X, out=read_only)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_out_partly_overlapping_x(fn: str) -> None:
    buf = np.random.default_rng(1).standard_normal(4 * C)
    x, out = buf[: 3 * C].reshape(3, C), buf[C:].reshape(3, C)
    with pytest.raises(ValueError, match="overlaps the input"):
        FUNCTIONS[fn](x, out=out)


def test_backward_out_must_not_overlap_the_saved_input() -> None:
    m = dn.LayerNorm(C, dtype=np.float64)
    x = X.copy()
    m.forward(x)
    with pytest.raises(ValueError, match="must not overlap x"):
        m.backward(np.ones_like(x), out=x)


def test_unknown_backend_and_isa() -> None:
    with pytest.raises(ValueError, match=r"unknown backend 'cuda'; choose from \[.*'numpy'.*\]"):
        dn.use_backend("cuda")
    with pytest.raises(ValueError, match=r"ISA 'sse9'.*choose from \["):
        dn.use_isa("sse9")
